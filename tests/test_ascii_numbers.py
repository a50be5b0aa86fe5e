"""Numbers are read from text in ASCII digits only (issue 71).

Python's ``int`` and ``float`` read the digits of every script (``int("٣") == 3``) and numpy reads them in a text
column; ``"١".isdigit()`` is true. So ``--steps ٣``, ``--param p=٠.٥``, ``--seeds random:٣`` or a follower count
``٣`` in a cascade file were numbers. Every door here refuses Arabic-Indic (``٣``), Devanagari (``३``) and
full-width (``３``) digits in the sentence it already says of a text that is no number (``x``), exit 2 on the
command line; the ASCII spelling still works.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.cli.main import main
from sim.errors import AgoraError, BadParameterError

#: Three, in Arabic-Indic, Devanagari and full-width digits.
DIGITS = ("٣", "३", "３")
#: Zero of the same scripts (for a decimal point's left side).
ZEROS = {"٣": "٠", "३": "०", "３": "０"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    path = tmp_path_factory.mktemp("ascii") / "w.db"
    assert main(["new", str(path), "--agents", "200", "--seed", "1"]) == 0
    return str(path)


def agora(capsys, *argv: str) -> tuple[int, str]:
    """``agora ARGV`` in process: its exit code and the last line of its stderr."""
    capsys.readouterr()
    try:
        rc = main(list(argv))
    except SystemExit as exc:
        rc = int(exc.code or 0)
    err = capsys.readouterr().err.strip().splitlines()
    return rc, err[-1] if err else ""


def refused_as_word(capsys, template: str, digit: str) -> None:
    """``agora`` with ``template``'s ``{}`` filled with ``digit`` exits 2 and says what it says of ``x``."""
    rc_word, said_word = agora(capsys, *template.format("x").split())
    rc, said = agora(capsys, *template.format(digit).split())
    assert rc_word == 2 and said_word, (template, said_word)
    assert rc == 2, (template, digit, said)
    assert said.replace(digit, "x") == said_word, (template, said)


@pytest.mark.parametrize("digit", DIGITS)
@pytest.mark.parametrize(
    "template",
    [
        "new {w} --agents {}",  # a whole-number flag (sim.cli.args.positive_int)
        "new {w} --agents 100 --avg-degree {}",  # a number flag (non_negative_float)
        "run {w} --steps {}",
        "run {w} --steps 1 --checkpoint-seconds {}",
        "seeds {w} --method degree --k {}",
        "bench propagation --yardstick-sizes 10,{}",  # a list of sizes
        "run {w} --steps 1 --inject hi --param p=0.{}",  # a model parameter (Param.coerce)
        "run {w} --steps 1 --inject hi --model sir --param beta=0.{}",
        "run {w} --steps 1 --social feed_size=1{}",  # a whole-number setting
        "run {w} --steps 1 --social join_rate=0.0{}",  # a living-network setting
        "run {w} --steps 1 --inject hi --seeds random:{}",  # seed selections
        "run {w} --steps 1 --inject hi --seeds ids:1,{}",
        "run {w} --steps 1 --inject hi --seeds community:{}:1",
        "run {w} --steps 1 --inject hi --seeds degree:{}",
        "run {w} --steps 1 --inject hi --topic {}",  # a topic by number
        "sweep {w} --steps 1 --runs 1 --grid p=0.1,0.{}",  # a grid's value
        "sweep {w} --steps 1 --runs 1 --grid seeds=random:{}",
        "sweep {w} --steps 1 --runs 1 --design lhs:{} --param p=0..1",  # a design's N
        "sweep {w} --steps 1 --runs 1 --design lhs:4 --param p=0..0.{}",  # a range's bound
        "sweep {w} --steps 1 --runs 1 --design lhs:4 --param p=0..1 --measure series:I@{}",
    ],
)
def test_cli_doors_refuse_other_scripts_digits(capsys, world, tmp_path, template, digit):
    out = str(tmp_path / "n.db")
    refused_as_word(capsys, template.replace("{w}", world if not template.startswith("new") else out), digit)


def test_cli_doors_take_ascii_digits(capsys, world, tmp_path):
    assert agora(capsys, "new", str(tmp_path / "a.db"), "--agents", "1_50", "--avg-degree", "4.5")[0] == 0
    run = ("run", world, "--steps", "1", "--inject", "hi")
    assert agora(capsys, *run, "--seeds", "ids:1,3", "--param", "p=0.3")[0] == 0
    assert agora(capsys, *run, "--topic", "3", "--seeds", "random:3")[0] == 0
    assert agora(capsys, "run", world, "--steps", "1", "--social", "join_rate=0.03")[0] == 0


@pytest.mark.parametrize("digit", DIGITS)
def test_parameters_and_ranges_refuse_other_scripts_digits(digit):
    from sim.engine.requests import ParamRange
    from sim.engine.requests.design import Design
    from sim.plugin import Param

    zero = ZEROS[digit]
    for param, text in ((Param(int, 1, 0, 10), digit), (Param(float, 0.1, 0, 1), f"{zero}.{digit}")):
        with pytest.raises(BadParameterError, match="is invalid: expected"):
            param.coerce("n", text)
    assert Param(int, 1, 0, 10).coerce("n", " 3 ") == 3 and Param(float, 0.1, 0, 1).coerce("n", "0.3") == 0.3
    with pytest.raises(BadParameterError, match="which is not a number"):
        ParamRange.parse("p", f"0..{digit}")
    assert ParamRange.parse("p", "0..3").hi == 3.0
    with pytest.raises(BadParameterError, match="must be a whole number from 2"):
        Design.parse(f"lhs:{digit}", [ParamRange("p", 0, 1)])
    with pytest.raises(BadParameterError, match="is not series:MEASURE@TICK"):
        Design.check_measure(f"series:I@{digit}")


@pytest.mark.parametrize("digit", DIGITS)
def test_seed_selections_and_files_refuse_other_scripts_digits(tmp_path, digit):
    from sim.model.seeds import SeedSpec, read_seed_file

    for text in (f"random:{digit}", f"top:{digit}", f"ids:1,{digit}", f"community:{digit}:2", f"degree:{digit}"):
        with pytest.raises(BadParameterError, match="is not valid: use random:K"):
            SeedSpec.parse(text)
    assert SeedSpec.parse("ids:1,3").ids == (1, 3)
    seeds = tmp_path / "seeds.txt"
    seeds.write_text(f"1\n{digit}\n", encoding="utf-8")
    with pytest.raises(BadParameterError, match="line 2 is not an agent id"):
        read_seed_file(str(seeds))
    seeds.write_text("1\n3\n", encoding="utf-8")
    assert read_seed_file(str(seeds)).tolist() == [1, 3]


@pytest.mark.parametrize("digit", DIGITS)
def test_topics_and_column_files_refuse_other_scripts_digits(capsys, world, tmp_path, digit):
    from sim.core.topics import topic_index

    with pytest.raises(BadParameterError, match="unknown topic"):
        topic_index(digit)
    assert topic_index("3") == 3
    # A column file: a value or an id in other digits is named by its line, and a first line of them is a row
    # refused by name, never skipped as a header.
    for rows, line, what in (
        (f"0,0.5\n1,{ZEROS[digit]}.{digit}\n", 2, "second field is not a number"),
        (f"0,0.5\n{digit},0.3\n", 2, "first field is not an agent id"),
        (f"{digit},{digit}\n0,0.5\n", 1, "first field is not an agent id"),
    ):
        column = tmp_path / "col.csv"
        column.write_text(rows, encoding="utf-8")
        rc, said = agora(capsys, "set", world, "susceptibility", str(column))
        assert rc == 2 and f"line {line}: its {what}" in said, said


@pytest.mark.parametrize("digit", DIGITS)
def test_backtest_cuts_and_cascades_refuse_other_scripts_digits(tmp_path, digit):
    from sim.runs.backtest.cascade_run import _age
    from sim.runs.backtest.cascades import read_cascades
    from sim.runs.backtest.timeline import Timeline

    line = Timeline("tick", np.arange(10), [str(i) for i in range(10)], "obs.csv", 9)
    with pytest.raises(BadParameterError, match="is not a time of obs.csv's time column"):
        line.value(digit)
    assert line.value("3") == 3
    days = Timeline("date", np.arange(10), [], "obs.csv", 9)
    with pytest.raises(BadParameterError, match="is not a time of obs.csv's time column"):
        days.value(f"1970-01-0{digit}")
    with pytest.raises(BadParameterError, match="is not an age"):
        _age(digit)
    assert _age("3") == 3
    cascades = tmp_path / "c.csv"
    cascades.write_text(f"id,parent,time,followers\n1,,0,5\n2,1,10,1{digit}\n", encoding="utf-8")
    with pytest.raises(AgoraError, match="line 3: its follower count is not a whole number"):
        read_cascades(str(cascades))
    cascades.write_text("id,parent,time,followers\n1,,0,5\n2,1,10,13\n", encoding="utf-8")
    assert read_cascades(str(cascades)).cascades[0].followers.tolist() == [5.0, 13.0]


def test_inject_form_priority_of_other_scripts_digits_is_text():
    from tui.views._inject_form import priority_of

    assert priority_of("") == 0 and priority_of(" 3 ") == 3 and priority_of("-2") == -2
    for digit in DIGITS:
        assert priority_of(digit) == digit  # handed on as typed, for Inject.parse to refuse


def test_numbers_helpers():
    from sim.core.numbers import float_of, int_of

    assert int_of(" 12 ") == 12 and int_of("1_000", underscores=True) == 1000 and float_of("1e-3") == 0.001
    for bad in (*DIGITS, "1_000", "", "0x10", "1.5"):
        with pytest.raises(ValueError):
            int_of(bad)
    for bad in (*DIGITS, "1_0.5", "", "x"):
        with pytest.raises(ValueError):
            float_of(bad)
    assert float_of("inf") == float("inf")
    with pytest.raises(ValueError):
        float_of("nan", special=False)


@pytest.mark.parametrize("digit", DIGITS)
def test_files_and_values_read_back_refuse_other_scripts_digits(tmp_path, digit, small_world):
    from sim.analysis.seismic import estimate
    from sim.core.numbers import json_ints
    from sim.llm.client import _retry_after
    from sim.store.cascadeio import read_cascades
    from sim.store.worldfile import stale_temps

    # A run's cascades file (agora run's cascades): a cell in other digits is named by its line, fast path or not.
    cascades = tmp_path / "c.csv"
    cascades.write_text(f"run,agent,source,tick,generation\n0,1,,0,0\n0,{digit},1,1,1\n", encoding="utf-8")
    with pytest.raises(AgoraError, match="line 3: agent is not a whole number"):
        read_cascades(str(cascades))
    cascades.write_text("run,agent,source,tick,generation\n0,1,,0,0\n0,3,1,1,1\n", encoding="utf-8")
    assert read_cascades(str(cascades)).agent.tolist() == [1, 3]
    # An agent named by its original id as text.
    with pytest.raises(BadParameterError, match="is not an integer"):
        small_world.index_of(digit)
    assert small_world.index_of(str(small_world.columns["ids"][3])) == 3
    # A save's temporary file is known by the pid Agora writes, in ASCII digits.
    world = tmp_path / "w.db"
    (tmp_path / f"w.db.tmp-{digit * 6}").write_bytes(b"")
    assert stale_temps(str(world)) == []
    # A server's Retry-After, SEISMIC's cut and times, an array's shape in a world file.
    assert _retry_after({"retry-after": digit}) is None and _retry_after({"retry-after": "3"}) == 3.0
    with pytest.raises(BadParameterError, match="cut must be a number of seconds"):
        estimate([0, 60], [5, 3], digit)
    with pytest.raises(BadParameterError, match="must be numbers"):
        estimate(["0", f"6{ZEROS[digit]}"], [5, 3], 100)
    for text in (f'["{digit}"]', '["3"]', "[3.0]", "[true]", "3"):
        with pytest.raises(ValueError):
            json_ints(text)
    assert json_ints("[3, 4]") == (3, 4)


@pytest.mark.parametrize("digit", DIGITS)
def test_plugin_budget_refuses_other_scripts_digits(monkeypatch, digit):
    from sim.model.guard import BUDGET_ENV, plugin_budget

    with pytest.raises(BadParameterError, match="is invalid: expected seconds"):
        plugin_budget(digit)
    monkeypatch.setenv(BUDGET_ENV, digit)
    with pytest.raises(BadParameterError, match=f"{BUDGET_ENV} = .* is invalid: expected seconds"):
        plugin_budget(None)
    monkeypatch.setenv(BUDGET_ENV, "3")
    assert plugin_budget(None) == 3.0 and plugin_budget("0.5") == 0.5


@pytest.mark.parametrize("digit", DIGITS)
def test_the_last_doors_below_the_command_line_refuse_other_scripts_digits(monkeypatch, digit):
    """The doors the first sweep left in other rooms: a request's whole number given as text from Python, a
    sweep series' key column, the gzip ratio variable, an intervention's tick."""
    from sim.engine.requests.common import bounded  # noqa: PLC0415
    from sim.model.intervene import action_of  # noqa: PLC0415
    from sim.store.importer import RATIO_ENV, max_ratio_setting  # noqa: PLC0415
    from sim.store.seriesio import _key_column  # noqa: PLC0415

    with pytest.raises(BadParameterError, match="budget must be a whole number"):
        bounded(digit, "budget", 1, 10)
    assert bounded("1_0", "budget", 1, 10) == 10 and bounded(" 7 ", "budget", 1, 10) == 7
    column = _key_column([digit, "1"], np.array([0, 1]))
    assert column.dtype.kind in "UO" and list(column) == [digit, "1"], column
    assert _key_column(["3", "1"], np.array([0, 1])).tolist() == [3, 1]
    monkeypatch.setenv(RATIO_ENV, f"1{digit}")
    with pytest.raises(BadParameterError, match=RATIO_ENV):
        max_ratio_setting()
    monkeypatch.setenv(RATIO_ENV, "13")
    assert max_ratio_setting() == 13.0
    assert action_of(f"{digit}:block:degree:5") == f"{digit}" and action_of("3:block:degree:5") == "block"


@pytest.mark.parametrize("digit", DIGITS)
async def test_an_agent_search_of_other_scripts_digits_is_a_name(world, digit):
    """The terminal UI's agent search (``find_agents``): ``3`` is agent 3's index, ``٣`` a name no agent has."""
    from sim.live.controller import WorldController  # noqa: PLC0415

    host = await WorldController.open(world, writer=False)
    try:
        ids = host.world.columns["ids"]
        assert host.read.find_agents(str(int(ids[3]))).tolist() == [3]
        with pytest.raises(AgoraError):
            host.read.find_agents(digit)
    finally:
        await host.close()
