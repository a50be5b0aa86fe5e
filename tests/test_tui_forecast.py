"""Forecasts in the terminal UI (issue 49), under Textual's Pilot: f asks for runs, a horizon, the arms and a
seed and starts the forecast through the live world's controller in a worker (the header says how far it
is); once done, the Dashboard's session chart draws each arm's band (5 to 95 %) and median of reach ahead of
the present, in its own colour and labelled with its name, and the Messages view says each arm's final
reach; a bad field is one sentence and nothing starts; the keys work while a forecast runs.

The tests wait for conditions (a worker's result, a chart drawn from the latest data), never for a fixed time.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

import pytest
from conftest import notified, until
from textual.widgets import Input

from sim.store.create import synthetic_world
from sim.store.worldfile import save_world
from tui.app import AgoraApp
from tui.charts import Chart
from tui.forecast import ForecastScreen

pytestmark = pytest.mark.usefixtures("keep_notifications")

SIZE = (150, 48)


@pytest.fixture(params=[2000])
def world_file(tmp_path, request):
    path = str(tmp_path / "fc.db")
    asyncio.run(save_world(synthetic_world("fc", request.param, avg_degree=8, seed=5), path))
    return path


@dataclass
class Job:
    """A job as ``controller.forecasts`` gives it (``sim.live.forecasts.ForecastJob``)."""

    id: str
    request: object
    branched_at: int
    state: str = "running"
    progress: float = 0.0
    result: object = None
    error: str | None = None


class HeldForecasts:
    """``controller.forecasts``' interface over ``run_forecast`` on a fork of the world taken on the loop, run
    in a thread; held at ``gate`` (when given) until the test lets it go, so that it is surely running. A
    request is parsed by the controller's own forecasts (``Forecasts.parse``), as theirs."""

    def __init__(self, controller, gate: threading.Event | None = None) -> None:
        self.controller, self.gate = controller, gate
        self.real = controller.forecasts
        self._jobs: dict[str, Job] = {}
        self._tasks: dict[str, asyncio.Task] = {}

    async def start(self, request, *, actor=None):
        from sim.runs.forecast import _session

        request = self.real.admit(request)
        world = self.controller.world
        _session(world, request.session)  # refused now, as the controller does
        fork = world.fork()
        job = Job(str(len(self._jobs) + 1), request, int(world.tick))
        self._jobs[job.id] = job
        self._tasks[job.id] = asyncio.create_task(self._run(job, fork))
        return job

    async def _run(self, job: Job, fork) -> None:
        from sim.runs.forecast import run_forecast

        def progress(_what: str, fraction: float) -> None:
            job.progress = fraction

        def work():
            if self.gate is not None:
                job.progress = 0.4
                self.gate.wait(120)
            return asyncio.run(run_forecast(fork, self.controller.registry, job.request, progress=progress, workers=1))

        try:
            job.result = await asyncio.to_thread(work)
            job.state, job.progress = "done", 1.0
        except Exception as exc:  # noqa: BLE001 - said by the job, as the controller's
            job.state, job.error = "failed", str(exc)

    def get(self, job_id):
        return self._jobs[job_id]

    def jobs(self):
        return list(self._jobs.values())

    async def wait(self, job_id):
        await self._tasks[job_id]
        return self._jobs[job_id]


@pytest.fixture
def forecasts_of():
    """The app's controller's forecasts (nothing installed: the live world calls ``sim.runs.forecast`` itself),
    or, ``held``, :class:`HeldForecasts` in their place."""

    def attach(app, gate: threading.Event | None = None, *, held: bool = False):
        if held:
            app.controller.forecasts = HeldForecasts(app.controller, gate)
        return app.controller.forecasts

    return attach


async def start(app, pilot) -> None:
    await asyncio.wait_for(app.ready.wait(), 60)
    await pilot.pause()


async def running_session(app, pilot):
    """A message injected and stepped a few ticks (a running session, selected)."""
    session = app.sim.inject("rumour", seeds="top:5", model="ic", params={"p": 0.05}, seed=3)
    for _ in range(3):
        await app.sim.step()
    app.selected_session_id = session.id
    assert session.status == "running", session.status
    await pilot.pause()
    return session


async def forecast_form(app, pilot, arms: list[str], runs: str = "20", horizon: str = "15") -> ForecastScreen:
    """Press f, fill the form (arm fields in order) and press enter; returns the screen."""
    await pilot.press("f")
    assert await until(pilot, lambda: isinstance(app.screen, ForecastScreen))
    screen = app.screen
    screen.query_one("#forecast-runs", Input).value = runs
    screen.query_one("#forecast-horizon", Input).value = horizon
    for i, arm in enumerate(arms):
        screen.query_one(f"#forecast-arm-{i}", Input).value = arm
    assert isinstance(app.focused, Input) and app.focused.id == "forecast-arm-0"
    await pilot.press("enter")
    await pilot.pause()
    return screen


def session_chart(app) -> Chart:
    return app._views["dashboard"].query_one("#session-chart", Chart)


@pytest.mark.parametrize("world_file", [2000, 100_000], indirect=True)
async def test_f_forecasts_two_arms_and_the_chart_draws_their_bands_ahead_of_now(world_file, forecasts_of):
    """f with arms none and block on a running world (2,000 agents, and the issue's 100,000): the forecast
    completes, and the Dashboard's session chart carries, per arm, its band's two edges and its median line, in
    one colour per arm, labelled with the arm's name, on the world's ticks from the tick it branched at; the
    Messages view says each arm's final reach and the paired difference."""
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        forecasts_of(app)
        session = await running_session(app, pilot)
        now = app.world.tick
        await forecast_form(app, pilot, ["block=block:degree:50"])
        assert await until(pilot, lambda: not isinstance(app.screen, ForecastScreen))
        assert app.forecasting.started == 1
        assert await until(pilot, lambda: not app.forecasting.running)
        view = app.forecasting.latest_for(app.live.key, session.id)
        assert view is not None, notified(app)
        assert [a.name for a in view.arms] == ["none", "block"] and view.branched_at == now
        assert any(f"forecast of session {session.id} done" in n for n in notified(app))

        await pilot.press("1")
        chart = session_chart(app)
        assert await until(pilot, lambda: chart.settled and chart.spec is not None and chart.spec.bands)
        bands = chart.spec.bands
        assert [b.label for b in bands] == ["none", "block"]
        assert len({b.color for b in bands}) == 2
        for band in bands:
            lines = band.lines()
            assert [ln.label for ln in lines] == [f"{band.label} 5-95%", "", f"{band.label} median"]
            assert {ln.color for ln in lines} == {band.color}
            assert band.x[0] == now and band.x[-1] > now  # ahead of the present, on the world's ticks
            assert (band.low <= band.median).all() and (band.median <= band.high).all()
        # Blocking the 50 best-connected agents reaches no more than doing nothing, run by run.
        none, block = view.arms
        assert block.reached_median <= none.reached_median
        assert "none 5-95%" in chart.text and "block median" in chart.text  # the legend

        await pilot.press("4")
        text = app._views["messages"].query_one("#session-forecast").render().plain
        assert await until(
            pilot, lambda: "final reach" in app._views["messages"].query_one("#session-forecast").render().plain
        ), text
        text = app._views["messages"].query_one("#session-forecast").render().plain
        assert "none: final reach" in text and "block: final reach" in text and "vs none:" in text


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"runs": "many"}, "runs must be a whole number"),
        ({"runs": "0"}, "runs must be from 1 to 10,000"),  # the form's field, not a flag
        ({"horizon": "soon"}, "ticks must be a whole number"),  # the horizon's field: ticks, or done
        ({"arms": ["block=explode:3"]}, "'explode:3'"),
    ],
)
async def test_bad_input_is_one_sentence_and_nothing_starts(world_file, forecasts_of, fields, said):
    """A field that is not a number, a value out of range or a bad arm: an error notification in one
    sentence, the form stays (the sentence under its fields), and no forecast starts."""
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        forecasts = forecasts_of(app)
        await running_session(app, pilot)
        await forecast_form(
            app, pilot, fields.get("arms", []), runs=fields.get("runs", "20"), horizon=fields.get("horizon", "15")
        )
        assert await until(pilot, lambda: app.screen.error is not None)
        assert isinstance(app.screen, ForecastScreen)
        assert app.screen.error is not None and said in app.screen.error
        assert any(said in n for n in notified(app)), notified(app)
        assert "\n" not in app.screen.error and not app.screen.error.rstrip().endswith(".")
        assert app.forecasting.started == 0 and forecasts.jobs() == []


async def test_the_keys_work_while_a_forecast_runs(world_file, forecasts_of):
    """While a forecast runs (held), the header says how far it is, the view keys switch views, n steps the
    world, and a second f is refused in one sentence; let go, it finishes."""
    gate = threading.Event()
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        forecasts = forecasts_of(app, gate, held=True)
        await running_session(app, pilot)
        try:
            await forecast_form(app, pilot, ["block=block:degree:50"], runs="10", horizon="5")
            assert await until(pilot, lambda: forecasts.jobs() and app.forecasting.job is not None)
            assert await until(pilot, lambda: "FORECAST 40%" in app.query_one("#status").render().plain.upper())
            for key, view in (("2", "communities"), ("4", "messages"), ("1", "dashboard")):
                await pilot.press(key)
                assert app._switcher.current == view
            tick = app.world.tick
            await pilot.press("n")
            assert await until(pilot, lambda: app.world.tick == tick + 1)
            screen = await forecast_form(app, pilot, [])
            assert await until(pilot, lambda: screen.error is not None)
            assert isinstance(app.screen, ForecastScreen) and "a forecast is running" in (screen.error or "")
            await pilot.press("escape")
            assert app.forecasting.running and len(forecasts.jobs()) == 1
        finally:
            gate.set()
        assert await until(pilot, lambda: not app.forecasting.running)
        assert forecasts.jobs()[0].state == "done"
