"""A live forecast is checked once (issue 58): from the terminal UI's form and from Python beside a live world,
the request's fields are parsed once (``Forecast.parse``, within the live world's bounds) and each arm's
action once (``Intervention.parse``), on the way TUI -> controller -> ``Forecasts.start``; the form itself only
assembles the mapping (a field that is no number is handed on, and the parser names it), and the bounds check
weighs the parsed value without parsing it again. Counted by wrapping the two parsers; the counts are taken as
``Forecasts.start`` returns (the request checked against the world's present, the job started).

The runs then apply each arm's action to their fork of the world: the engine reads the world's record of a
scheduled intervention (its text) when its tick comes, which is the engine applying it, not the request being
checked again; the checks within the live bounds (``limits=SERVED``) stay at one per action for the whole job.
"""

from __future__ import annotations

import asyncio
import collections
import shutil

import pytest
from conftest import until
from textual.widgets import Input

import sim
from sim.engine.requests import Forecast
from sim.model.intervene import Intervention
from sim.model.seeds import SERVED
from sim.store.create import synthetic_world
from sim.store.worldfile import save_world
from tui.app import AgoraApp
from tui.forecast import ForecastScreen, read_form

SIZE = (150, 48)
ARMS = ["block=block:degree:20", "counter=counter:ic:degree:5:not so", "both=block:degree:10"]
#: The arm actions of :data:`ARMS` (each parsed once).
ACTIONS = 3


@pytest.fixture(scope="module")
def world_file(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("once") / "once.db")
    asyncio.run(save_world(synthetic_world("once", 2000, avg_degree=8, seed=5), path))
    return path


@pytest.fixture
def counted(monkeypatch):
    """Every call of ``Forecast.parse`` and ``Intervention.parse`` counted (``Intervention/SERVED``: those
    within the live world's bounds), whatever thread makes it; the forecast's runs stay in this process."""
    calls: collections.Counter[str] = collections.Counter()
    for cls in (Forecast, Intervention):
        real = cls.__dict__["parse"].__func__

        def parse(c, *args, _real=real, _name=cls.__name__, **kwargs):
            calls[_name] += 1
            if kwargs.get("limits") is SERVED:
                calls[f"{_name}/SERVED"] += 1
            return _real(c, *args, **kwargs)

        monkeypatch.setattr(cls, "parse", classmethod(parse))
    monkeypatch.setattr("sim.live.forecasts.foreground_workers", lambda: 1)  # no forked worker: all counted
    return calls


def counted_at_start(forecasts, calls) -> dict[str, collections.Counter[str]]:
    """Wrap ``forecasts.start`` so that the counts are kept as it returns (``at["start"]``)."""
    at: dict[str, collections.Counter[str]] = {}
    real = forecasts.start

    async def start(request, **kwargs):
        job = await real(request, **kwargs)
        at["start"] = collections.Counter(calls)
        return job

    forecasts.start = start
    return at


def test_the_form_only_assembles_the_mapping():
    """The form checks nothing: numbers are read as numbers, any other text is handed on for the parser to
    refuse (naming the field); an empty field is left out; ``none`` comes first; ``done`` is until_done."""
    assert read_form("many", "soon", ["b=block:degree:5", " "], "1,000") == {
        "arms": ["none=none", "b=block:degree:5"],
        "runs": "many",
        "seed": 1000,
        "ticks": "soon",
    }
    assert read_form("", "done", [], "") == {"arms": ["none=none"], "until_done": True}
    assert read_form("20", "", ["none=block:degree:1"], "0") == {"arms": ["none=block:degree:1"], "runs": 20, "seed": 0}


@pytest.mark.usefixtures("keep_notifications")
async def test_a_forecast_from_the_ui_is_checked_once(world_file, counted, tmp_path):
    """f, three arms with one action each: one ``Forecast.parse`` and three ``Intervention.parse`` by the time
    the controller's forecasts have started it; the job finishes with no check repeated within the bounds."""
    path = str(tmp_path / "ui.db")
    shutil.copy(world_file, path)
    app = AgoraApp(path)
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(app.ready.wait(), 60)
        session = app.sim.inject("rumour", seeds="top:5", model="ic", params={"p": 0.05}, seed=3)
        for _ in range(2):
            await app.sim.step()
        assert session.status == "running"
        app.selected_session_id = session.id
        at = counted_at_start(app.controller.forecasts, counted)
        counted.clear()
        await pilot.press("f")
        assert await until(pilot, lambda: isinstance(app.screen, ForecastScreen))
        screen = app.screen
        screen.query_one("#forecast-runs", Input).value = "4"
        screen.query_one("#forecast-horizon", Input).value = "3"
        for i, arm in enumerate(ARMS):
            screen.query_one(f"#forecast-arm-{i}", Input).value = arm
        await pilot.press("enter")
        assert await until(pilot, lambda: app.forecasting.finished == 1)
        job = app.forecasting.job
        assert job is not None and job.state == "done", job and job.error
        assert [a.name for a in job.request.arms] == ["none", "block", "counter", "both"]
        assert at["start"]["Forecast"] == 1, at["start"]
        assert at["start"]["Intervention"] == ACTIONS, at["start"]
        assert counted["Forecast"] == 1 and counted["Intervention/SERVED"] == ACTIONS, counted


def test_a_forecast_from_python_beside_a_live_world_is_checked_once(world_file, counted, tmp_path):
    """``live.forecast(**fields)``: the same, through the same controller."""
    path = str(tmp_path / "py.db")
    shutil.copy(world_file, path)
    with sim.open_world(path).simulation() as live:
        live.inject("rumour", model="ic", params={"p": 0.05}, seeds="top:5")
        live.step(2)
        at = counted_at_start(live.host.forecasts, counted)
        counted.clear()
        arms = {name: [action] for name, _, action in (a.partition("=") for a in ARMS)}
        result = live.forecast(runs=4, ticks=3, arms=arms)
        assert list(result.arms) == ["block", "counter", "both"]
        assert at["start"]["Forecast"] == 1, at["start"]
        assert at["start"]["Intervention"] == ACTIONS, at["start"]
        assert counted["Forecast"] == 1 and counted["Intervention/SERVED"] == ACTIONS, counted
