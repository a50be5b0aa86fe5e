"""Each option declared once (issue 74): a request's fields are declared as options (sim.engine.fields), and its
checks, the command line's flags, the field-to-flag table, the OpenAPI description and a request value's fields
are all read from that one declaration.

The last test adds an option the way a maintainer would, in the test alone: one ``Option`` and the request
value's attribute (two edits), and every door takes it.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import ClassVar

import pytest

from sim.api import openapi
from sim.cli.args import request_fields
from sim.cli.fields import flag
from sim.cli.parser import build_parser
from sim.cli.parsers.options import request_flags
from sim.engine import fields
from sim.engine.options import Option, Options
from sim.engine.requests import Arm, Fit, Forecast
from sim.errors import BadParameterError
from sim.live import forecasts as live_forecasts


def _subparser(name: str) -> argparse.ArgumentParser:
    parser = build_parser(())
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[name]


def test_the_forecast_request_reads_its_declaration() -> None:
    assert Forecast.OPTIONS is fields.FORECAST
    assert fields.FORECAST.names == Forecast.FIELDS
    # Every stored option is an attribute of the value, and every attribute an option.
    attributes = {f.name for f in dataclasses.fields(Forecast)}
    assert attributes == {o.name for o in Forecast.OPTIONS if o.stored}


def test_the_command_lines_flags_are_the_declared_ones() -> None:
    p = _subparser("forecast")
    flags = {s: a for a in p._actions for s in a.option_strings}
    for option in Forecast.OPTIONS:
        assert option.cli_flag in flags, option.name
        action = flags[option.cli_flag]
        if option.flag is None:  # served by a flag declared elsewhere (the forecast from data's)
            assert option.shared
            continue
        assert action.help.startswith(Forecast.OPTIONS.help(option.name))
        assert action.metavar == option.metavar
    # --ticks and --until-done exclude each other, as their group says.
    with pytest.raises(SystemExit):
        p.parse_args(["w.db", "--ticks", "3", "--until-done"])
    # The help spells a field named in backquotes as its flag; the description as the field.
    assert Forecast.OPTIONS.help("max_ticks") == "with --until-done, stop after N"
    assert Forecast.OPTIONS["max_ticks"].schema()["description"] == "with until_done, stop after N"


def test_the_flags_values_are_the_requests_fields() -> None:
    p = _subparser("forecast")
    args = p.parse_args(["w.db", "--runs", "7", "--ticks", "4", "--arm", "a=none", "--arm", "b=block:degree:3"])
    got = request_fields(args, Forecast.OPTIONS)
    arms = ["a=none", "b=block:degree:3"]
    assert got == {"runs": 7, "ticks": 4, "until_done": False, "max_ticks": 10_000, "arms": arms}
    request = Forecast.parse(got)
    assert (request.runs, request.ticks, [a.name for a in request.arms]) == (7, 4, ["a", "b"])
    assert flag("arms") == "--arm" and flag("arm") == "--arm" and flag("max_ticks") == "--max-ticks"


@pytest.mark.parametrize(
    "request_value",
    [
        Forecast(runs=5, ticks=3),
        Forecast(session=2, runs=9, ticks=None, max_ticks=40, arms=(Arm("none"), Arm("b")), seed=11, kernel="engine"),
        Forecast(workers=3, posterior="p.csv", ticks=1),
    ],
)
def test_a_values_fields_parse_back_to_it(request_value: Forecast) -> None:
    assert Forecast.parse(Forecast.OPTIONS.fields_of(request_value)) == request_value


def test_the_openapi_description_is_the_served_options() -> None:
    schema = openapi.forecast_schema(None)
    assert set(schema["properties"]) == set(Forecast.OPTIONS.served)
    assert "posterior" not in schema["properties"] and "workers" not in schema["properties"]
    assert schema["properties"]["runs"]["maximum"] == live_forecasts.Forecasts.MAX_RUNS
    ticks = Forecast.OPTIONS["ticks"]
    assert schema["properties"]["ticks"] == {
        "type": "integer",
        "minimum": ticks.lo,
        "maximum": ticks.hi,
        "nullable": True,
        "description": ticks.help,
    }
    job = live_forecasts.request_dict(Forecast(runs=5, ticks=3))
    assert list(job) == list(Forecast.OPTIONS.served)


def test_a_declared_fields_checks_are_one_sentence_naming_it() -> None:
    with pytest.raises(BadParameterError, match=r"^runs must be from 1 to 100,000, not 0$") as got:
        Forecast.parse({"runs": 0, "ticks": 1})
    assert got.value.fields == ("runs",)
    with pytest.raises(BadParameterError, match=r"^kernel must be auto, batched or engine, not the string 'gpu'$"):
        Forecast.parse({"kernel": "gpu", "ticks": 1})
    with pytest.raises(BadParameterError, match=r"^until_done must be true or false, not the number 1$"):
        Forecast.parse({"until_done": 1})
    with pytest.raises(BadParameterError, match=r"^unknown field 'tick': the fields are session, runs, ticks"):
        Forecast.parse({"tick": 1})
    with pytest.raises(BadParameterError, match=r"^runs must be from 1 to 10, not 11$"):
        Forecast.parse({"runs": 11, "ticks": 1}, max_runs=10)


def test_an_option_is_declared_whole() -> None:
    with pytest.raises(ValueError, match="kind"):
        Option("x", "float", "a number")
    with pytest.raises(ValueError, match="shared"):
        Option("x", "int", "a number", flag=None)
    with pytest.raises(ValueError, match="twice"):
        Options((Option("x", "int", "a"), Option("x", "int", "b")))


# -- a new option, in the test alone -----------------------------------------------------------------------------
#: The edits a new plain option takes (docs/architecture.md, "Adding an option"): its declaration and the request
#: value's attribute. Everything below them is read from the declaration.
PATIENCE = Option("patience", "int", "ticks to wait before the first arm acts", 0, 0, 50, metavar="T")


@dataclasses.dataclass(frozen=True)
class PatientForecast(Forecast):
    patience: int = 0  # edit 2: the attribute (edit 1: PATIENCE above, added to the declaration)

    OPTIONS: ClassVar[Options] = Forecast.OPTIONS + (PATIENCE,)
    FIELDS: ClassVar[tuple[str, ...]] = OPTIONS.names


def test_a_new_option_reaches_every_door_from_its_declaration(monkeypatch: pytest.MonkeyPatch) -> None:
    # The request's checks.
    assert PatientForecast.parse({"ticks": 2, "patience": 4}).patience == 4
    with pytest.raises(BadParameterError, match=r"^patience must be from 0 to 50, not 51$"):
        PatientForecast.parse({"ticks": 2, "patience": 51})
    # The command line's flag, its help, and its value as the field.
    p = argparse.ArgumentParser()
    request_flags(p, PatientForecast.OPTIONS)
    assert "--patience T ticks to wait before the first arm acts" in " ".join(p.format_help().split())
    args = p.parse_args(["--ticks", "2", "--patience", "7"])
    assert PatientForecast.parse(request_fields(args, PatientForecast.OPTIONS)).patience == 7
    # The OpenAPI description and what a live world's job says of its request.
    monkeypatch.setattr(openapi, "Forecast", PatientForecast)
    monkeypatch.setattr(live_forecasts, "Forecast", PatientForecast)
    assert openapi.forecast_schema(None)["properties"]["patience"] == {
        "type": "integer",
        "minimum": 0,
        "maximum": 50,
        "default": 0,
        "description": "ticks to wait before the first arm acts",
    }
    value = PatientForecast(ticks=2, patience=6)
    assert live_forecasts.request_dict(value)["patience"] == 6
    # A value's fields parse back to it (a live world parses a Python value's fields once).
    assert PatientForecast.parse(live_forecasts._fields(value)) == value


# -- the fit's whole numbers -------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class PatientFit(Fit):
    patience: int = 0  # edit 2: the attribute (edit 1: its Option, added to the declaration below)

    OPTIONS: ClassVar[Options] = Fit.OPTIONS + (PATIENCE,)
    FIELDS: ClassVar[tuple[str, ...]] = OPTIONS.names


def test_a_fits_whole_numbers_are_read_and_flagged_from_their_declaration() -> None:
    assert fields.FIT_OPTIONS.names == Fit.FIELDS
    plain = [o for o in Fit.OPTIONS if o.kind == "int"]
    assert {o.name for o in plain} >= {"budget", "population", "seed", "replicates", "steps", "people"}
    # Read as a plan file gives them (digits) and refused in the sentence the fit always said.
    assert Fit.parse({"observed": "c.csv", "budget": "1_000"}).budget == 1000
    with pytest.raises(BadParameterError, match=r"^budget must be from 1 to 10,000,000, not 0$"):
        Fit.parse({"observed": "c.csv", "budget": 0})
    # agora fit's flags of them are the declared ones (help, metavar, the default where shown).
    p = _subparser("fit")
    flags = {s: a for a in p._actions for s in a.option_strings}
    for option in plain:
        if option.flag is None:
            continue
        action = flags[option.cli_flag]
        assert action.help.startswith(Fit.OPTIONS.help(option.name)) and action.metavar == option.metavar
    assert flags["--budget"].help == "simulations in all, at most (default 20,000; at most 10,000,000)"
    # A new whole number of the fit: its declaration and its attribute, and the fit reads it.
    assert PatientFit.parse({"observed": "c.csv", "patience": 3}).patience == 3
    with pytest.raises(BadParameterError, match=r"^patience must be from 0 to 50, not 99$"):
        PatientFit.parse({"observed": "c.csv", "patience": 99})
    q = argparse.ArgumentParser()
    request_flags(q, PatientFit.OPTIONS, ("patience",))
    assert request_fields(q.parse_args(["--patience", "4"]), PatientFit.OPTIONS) == {"patience": 4}
