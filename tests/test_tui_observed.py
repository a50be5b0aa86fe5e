"""An observed series on the Dashboard's session chart (the o key, issue 61), under Textual's Pilot: o asks for a
file (the formats of ``agora fit``, with its time, tick and observe in one line), a worker reads it off the event
loop, and the chart draws its points (``observed MEASURE``) against the session's live measure, the file's tick 0
at the session's start tick; a second o replaces it, an empty line takes it off; a bad file is one sentence in a
notification and the chart keeps what it had; text from the file or the line is shown literally.

The tests wait for conditions (a worker's read counted, a chart drawn from the latest data), never for a time.
"""

from __future__ import annotations

import asyncio
import csv
import threading

import numpy as np
import pytest
from conftest import data_file, notified, until
from textual.widgets import Input

from sim.errors import BadParameterError
from sim.live.observed import ObservedRequest, observed_request
from sim.store.create import synthetic_world
from sim.store.worldfile import save_world
from tui.app import AgoraApp
from tui.charts import Chart
from tui.observed import ObservedScreen

pytestmark = pytest.mark.usefixtures("keep_notifications")

SIZE = (150, 48)


@pytest.fixture
def world_file(tmp_path):
    """A world of daily ticks (an epidemic's, as a world made from a table of people): a row of daily data a tick."""
    path = str(tmp_path / "obs.db")
    world = synthetic_world("obs", 2000, avg_degree=8, seed=5)
    world.config["minutes_per_tick"] = 1440
    asyncio.run(save_world(world, path))
    return path


async def start(app, pilot) -> None:
    await asyncio.wait_for(app.ready.wait(), 60)
    await pilot.pause()


async def sir_session(app, pilot, before: int = 3, after: int = 4):
    """``before`` ticks of an empty world, then an SIR session injected (selected) and ``after`` ticks of it:
    its start tick is not the world's 0."""
    for _ in range(before):
        await app.sim.step()
    session = app.sim.inject("flu", seeds="top:5", model="sir", params={"beta": 0.05, "gamma": 0.2}, seed=3)
    app.selected_session_id = session.id
    for _ in range(after):
        await app.sim.step()
    await pilot.pause()
    return session


async def load(app, pilot, line: str) -> None:
    """Press o, type ``line``, press enter; wait until the worker has read it (or the line was refused)."""
    reads, said = app.observing.reads, len(notified(app))
    await pilot.press("o")
    assert await until(pilot, lambda: isinstance(app.screen, ObservedScreen))
    app.screen.query_one("#observed-path", Input).value = line
    await pilot.press("enter")
    assert await until(pilot, lambda: app.observing.reads > reads or len(notified(app)) > said)
    assert await until(pilot, lambda: not app.observing.reading)


def session_chart(app) -> Chart:
    return app._views["dashboard"].query_one("#session-chart", Chart)


def lines_by_label(chart: Chart) -> dict:
    return {ln.label: ln for ln in chart.spec.lines}


async def drawn(app, pilot, label: str | None) -> dict:
    """Wait until the session chart is built from the latest data with (``label``) or without (None) an observed
    line; its lines by label."""
    chart = session_chart(app)

    def ready() -> bool:
        app.refresh_ui()
        if not (chart.settled and chart.spec is not None):
            return False
        labels = {ln.label for ln in chart.spec.lines}
        return label in labels if label else not any(x.startswith("observed") for x in labels)

    assert await until(pilot, ready), [ln.label for ln in chart.spec.lines] if chart.spec else None
    return lines_by_label(chart)


def toast_text(app, words: str) -> str:
    """The text of the toast on screen that shows ``words`` (its lines inside the border, joined; empty while
    there is none), as drawn."""
    from textual.widgets._toast import Toast

    strips = app.screen._compositor.render_strips()
    for toast in app.screen.query(Toast):
        r = toast.region
        text = "".join(strip.text[r.x + 2 : r.right - 1].rstrip() for strip in strips[r.y : r.bottom])
        if words in text:
            return text
    return ""


def write_csv(path, header, rows) -> str:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


async def test_o_draws_a_real_curve_against_new_from_the_sessions_start_tick(world_file):
    """Measles in Hagelloch, 1861 (day,cases; 48 days), with cases=new: the chart holds the observed points at the
    session's start tick plus each day (a day a tick), the cases as the file has them, beside the session's live
    ``new``; the legend says ``observed new`` and the title names the file; the file was read in a worker thread."""
    curve = data_file("incidence-Measles1861.csv")
    with open(curve, newline="") as fh:
        rows = list(csv.DictReader(fh))
    days = np.array([int(r["day"]) for r in rows])
    cases = np.array([float(r["cases"]) for r in rows])
    import tui.observed as observed_module

    threads: list[int] = []
    real = observed_module.read_overlay

    def spied(*args):
        threads.append(threading.get_ident())
        return real(*args)

    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        session = await sir_session(app, pilot)
        assert session.started_tick == 3
        observed_module.read_overlay = spied
        try:
            await load(app, pilot, f"{curve} cases=new")
        finally:
            observed_module.read_overlay = real
        assert threads and threads[0] != threading.get_ident()  # off the event loop
        assert app._switcher.current == "dashboard"
        lines = await drawn(app, pilot, "observed new")
        seen = lines["observed new"]
        assert seen.points and seen.marker == "x"
        assert seen.x.tolist() == (session.started_tick + days - days[0]).tolist()
        assert seen.y.tolist() == cases.tolist()
        live = lines["new"]  # the session's own new adoptions per tick, on the world's ticks
        assert live.x[0] == session.started_tick and live.x[-1] == app.world.tick - 1
        assert live.y.tolist() == list(session.new_per_tick)
        assert set(lines) == {"new", "observed new"}  # the states the file does not observe are left out
        chart = session_chart(app)
        assert "observed new" in chart.text and "incidence-Measles1861.csv" in chart.text
        said = notified(app)[-1]
        assert "observed new (48 ticks of 1d" in said and str(curve) in said and "column cases as new" in said


async def test_a_second_o_replaces_the_series_and_an_empty_line_takes_it_off(world_file, tmp_path):
    """A small tick,I file: observed I at start + its ticks, beside the live I; a tick,R file then replaces it
    (observed R only); an empty line takes it off and the session's states are drawn again. The series follows the
    chart: at ticks run since, it stays aligned on the start tick."""
    first = write_csv(tmp_path / "infected.csv", ["tick", "I"], [[0, 5], [2, 9], [5, 14]])
    second = write_csv(tmp_path / "removed.csv", ["tick", "R"], [[1, 0], [3, 2]])
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        session = await sir_session(app, pilot, before=2, after=3)
        await load(app, pilot, first)
        lines = await drawn(app, pilot, "observed I")
        assert lines["observed I"].x.tolist() == [2, 4, 7] and lines["observed I"].y.tolist() == [5, 9, 14]
        assert lines["I"].x[0] == session.started_tick == 2
        assert lines["I"].y.tolist() == session.series.counts[:, 1].tolist()
        await app.sim.step()  # a tick later: the live line grows, the observed points stay where they were
        lines = await drawn(app, pilot, "observed I")
        assert lines["I"].x[-1] == app.world.tick - 1 and lines["observed I"].x.tolist() == [2, 4, 7]

        await load(app, pilot, second)
        lines = await drawn(app, pilot, "observed R")
        assert set(lines) == {"R", "observed R"} and lines["observed R"].x.tolist() == [3, 5]

        await pilot.press("o")
        assert await until(pilot, lambda: isinstance(app.screen, ObservedScreen))
        assert app.screen.query_one("#observed-path", Input).value == second  # the last line offered again
        app.screen.query_one("#observed-path", Input).value = "  "
        await pilot.press("enter")
        assert await until(pilot, lambda: app.observing.view_for(app.live.key) is None)
        lines = await drawn(app, pilot, None)
        assert set(lines) == {"S", "I", "R"}
        assert "observed series taken off the chart" in notified(app)


#: Bad input: a file's header and rows (None: no file), the line typed ({path}: the file) and what the sentence says.
BAD = [
    (None, None, "{tmp}/nowhere.csv", "does not exist"),
    (["tick", "X"], [[0, 1]], "{path}", "its count column 1 is no measure of the session on the chart"),
    (["size"], [[3], [5]], "{path}", "holds cascades (their sizes), not a series over time"),
    (["tick", "I"], [[0, 1], [0, 2]], "{path}", "line 3: tick 0 is repeated"),
    (["day", "cases"], [[0, 1]], "{path} tick=soon", "'soon' is not a duration"),
    (["day", "cases"], [[0, 1]], "{path} cases", "after the path is not NAME=VALUE"),
    (["day", "cases"], [[0, 1]], "{path} cases=new.X", "column cases (as new.X) is no measure"),
]


async def test_a_bad_file_is_one_sentence_and_the_chart_keeps_what_it_had(world_file, tmp_path):
    """A missing file, a column that is no measure, cascade sizes, a malformed series, a bad tick or word, a
    mapping to a measure the session lacks: each an error notification of one sentence, and the observed series
    already on the chart stays as it was."""
    good = write_csv(tmp_path / "good.csv", ["tick", "I"], [[0, 5], [1, 7]])
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await sir_session(app, pilot)
        await load(app, pilot, good)
        before = await drawn(app, pilot, "observed I")
        kept = app.observing.view_for(app.live.key)
        for i, (header, rows, line, said) in enumerate(BAD):
            path = write_csv(tmp_path / f"bad{i}.csv", header, rows) if header else ""
            await load(app, pilot, line.format(tmp=tmp_path, path=path))
            message = notified(app)[-1]
            assert said in message, message
            assert "\n" not in message.strip()
            assert app.observing.view_for(app.live.key) is kept
        after = await drawn(app, pilot, "observed I")
        assert after["observed I"].x.tolist() == before["observed I"].x.tolist()
        assert after["observed I"].y.tolist() == before["observed I"].y.tolist() == [5, 7]


async def test_markup_in_a_column_or_file_name_is_shown_literally(world_file, tmp_path):
    """A column named ``[b]I[/b]`` in a file named ``[bold]seen[reverse].csv``: refused without a mapping (the column
    named by its place, never by the file's text); mapped with ``"[b]I[/b]=I"``, drawn, and the notification
    shows the file's and the column's names as typed, not as markup."""
    path = write_csv(tmp_path / "[bold]seen[reverse].csv", ["tick", "[b]I[/b]"], [[0, 4], [1, 6]])
    app = AgoraApp(world_file)
    app.NOTIFICATION_TIMEOUT = 3600  # the toast stays while the test reads it, however slow the machine
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await start(app, pilot)
        await sir_session(app, pilot)
        await load(app, pilot, path)
        refused = notified(app)[-1]
        assert "its count column 1 is no measure" in refused and "[b]I[/b]" not in refused
        assert app.observing.view_for(app.live.key) is None
        await load(app, pilot, f'"{path}" "[b]I[/b]=I"')
        lines = await drawn(app, pilot, "observed I")
        assert lines["observed I"].y.tolist() == [4.0, 6.0]
        said = notified(app)[-1]
        assert "column [b]I[/b] as I" in said and path in said
        # The toasts, literally (a markup parse would have eaten the brackets).
        assert await until(pilot, lambda: toast_text(app, "start tick")), toast_text(app, "column")
        assert "[b]I[/b]" in toast_text(app, "start tick")
        assert "[bold]seen[reverse].csv" in toast_text(app, "start tick")
        assert "[bold]seen[reverse].csv" in toast_text(app, "no measure")
        assert "[bold]seen[reverse].csv" in session_chart(app).text  # the chart's title


async def test_without_a_session_o_says_what_to_do_first_and_a_queued_one_aligns_where_it_starts(world_file, tmp_path):
    """No session on the chart: nothing to align the series on; one sentence says to inject one first. A session
    injected but not started yet: the series' tick 0 is drawn at the tick it starts with (the world's next), and
    stays there once it has started."""
    path = write_csv(tmp_path / "i.csv", ["tick", "I"], [[0, 1], [2, 3]])
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await load(app, pilot, path)
        assert "no session is on the chart" in notified(app)[-1]
        assert app.observing.view_for(app.live.key) is None and app.observing.reads == 0
        for _ in range(2):
            await app.sim.step()
        session = app.sim.inject("flu", seeds="top:5", model="sir", params={"beta": 0.05, "gamma": 0.2}, seed=3)
        app.selected_session_id = session.id
        assert session.started_tick is None
        await load(app, pilot, path)
        assert app.observing.view_for(app.live.key) is not None, notified(app)
        lines = await drawn(app, pilot, "observed I")
        assert lines["observed I"].x.tolist() == [2, 4] and app.world.tick == 2
        await app.sim.step()
        assert session.started_tick == 2
        lines = await drawn(app, pilot, "I")
        assert lines["observed I"].x.tolist() == [2, 4] and lines["I"].x.tolist() == [2]


def test_the_line_is_a_path_and_fit_s_options():
    """The one-line syntax: a path (quoted or alone with spaces), time=, tick=, COLUMN=MEASURE pairs; an empty
    line takes the series off; mistakes are one sentence naming the word."""
    assert observed_request("   ") is None
    assert observed_request("a.csv") == ObservedRequest("a.csv")
    assert observed_request('"my data.csv" time=ERU tick=1d cases=onsets') == ObservedRequest(
        "my data.csv", "ERU", "1d", (("cases", "onsets"),)
    )
    assert observed_request("m.csv local=new.I imported=new") == ObservedRequest(
        "m.csv", observe=(("local", "new.I"), ("imported", "new"))
    )
    for line, said in (
        ('"a.csv', "unclosed quote"),
        ("a.csv tick=1d tick=2d", "tick= is given twice"),
        ("a.csv tick=daily", "'daily' is not a duration"),
        ("a.csv cases=new cases=onsets", "column 'cases' is mapped twice"),
        ("a.csv cases=no/measure", "names no measure"),
    ):
        with pytest.raises(BadParameterError, match=said):
            observed_request(line)


async def test_e_exports_the_chart_as_shown_with_the_observed_points_on_world_ticks(world_file, tmp_path, monkeypatch):
    """The first user's snag: e exported the session's own series on session ticks and left the observed points
    out. Now the export's numbers (BASE.json beside the PNG and SVG) are the chart on screen: the observed points at
    the session's start tick plus each day, the live ``new`` at the same world ticks, the title naming the file."""
    import json

    from sim.analysis.chartspec import spec_data

    monkeypatch.setenv("AGORA_SAVES", str(tmp_path / "saves"))
    curve = data_file("incidence-Measles1861.csv")
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        session = await sir_session(app, pilot)
        await load(app, pilot, f"{curve} cases=new")
        lines = await drawn(app, pilot, "observed new")
        await pilot.press("e")
        assert await until(pilot, lambda: any("chart exported" in m for m in notified(app)))
        base = tmp_path / "saves" / "exports" / f"obs-session{session.id}-tick{app.world.tick}"
        assert base.with_suffix(".png").read_bytes().startswith(b"\x89PNG")
        assert "<svg" in base.with_suffix(".svg").read_text()
        data = json.loads(base.with_suffix(".json").read_text())
        exported = {ln["label"]: ln for ln in data["lines"]}
        assert set(exported) == {"new", "observed new"}
        for label in exported:  # the screen draws every point of these short series: the same numbers
            assert exported[label]["x"] == lines[label].x.tolist() and exported[label]["y"] == lines[label].y.tolist()
        assert exported["observed new"]["points"] and exported["observed new"]["x"][0] == session.started_tick == 3
        assert data == spec_data(session_chart(app).spec) and "incidence-Measles1861.csv" in data["title"]


async def test_a_forecast_beside_an_observed_series_is_drawn_in_the_measure_it_observes(world_file):
    """The first user's snag: with o on, the forecast's bands of cumulative reach (thousands) and the observed new
    cases (tens) shared one axis, and the data lay flat at 0. Now the bands beside an observed ``new`` are the
    forecast's band of ``new`` (like with like), the title says so, and without an overlay the bands are reach."""
    from tui.forecast import ForecastScreen

    curve = data_file("incidence-Measles1861.csv")
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        session = await sir_session(app, pilot)
        await load(app, pilot, f"{curve} cases=new")
        await drawn(app, pilot, "observed new")
        await pilot.press("f")
        assert await until(pilot, lambda: isinstance(app.screen, ForecastScreen))
        app.screen.query_one("#forecast-runs", Input).value = "8"
        app.screen.query_one("#forecast-horizon", Input).value = "10"
        await pilot.press("enter")
        assert await until(pilot, lambda: not isinstance(app.screen, ForecastScreen))
        assert await until(pilot, lambda: app.forecasting.started == 1 and not app.forecasting.running)
        view = app.forecasting.latest_for(app.live.key, session.id)
        assert view is not None, notified(app)
        (arm,) = view.arms
        new_band, reach_band = arm.band("new"), arm.band("reached")
        assert new_band is not None and not np.array_equal(new_band[1], reach_band[1], equal_nan=True)
        chart = session_chart(app)

        def banded() -> bool:
            app.refresh_ui()
            return chart.settled and chart.spec is not None and bool(chart.spec.bands)

        assert await until(pilot, banded)
        (band,) = chart.spec.bands
        assert np.array_equal(band.median, new_band[1], equal_nan=True)  # new adoptions a tick, not reach
        assert np.nanmax(band.high) <= np.nanmax(reach_band[2])
        assert "forecast of new" in chart.spec.title


async def forecast(app, pilot, runs: int, horizon: int):
    """Press f, ask for ``runs`` runs ``horizon`` ticks ahead, wait for it to finish; the forecast's job."""
    from tui.forecast import ForecastScreen

    await pilot.press("f")
    assert await until(pilot, lambda: isinstance(app.screen, ForecastScreen))
    app.screen.query_one("#forecast-runs", Input).value = str(runs)
    app.screen.query_one("#forecast-horizon", Input).value = str(horizon)
    await pilot.press("enter")
    assert await until(pilot, lambda: not isinstance(app.screen, ForecastScreen))
    assert await until(pilot, lambda: app.forecasting.started == 1 and not app.forecasting.running)
    return app.forecasting.job


async def test_weekly_counts_are_drawn_a_week_apart_beside_the_sessions_weekly_sums(world_file, tmp_path):
    """The first user's second snag: weekly cases were drawn one row a tick with no remark. Weekly totals (the
    Measles 1861 days summed by week, dated a week apart) on a world of daily ticks are now a point every 7 ticks
    from the session's start, beside the session's own new adoptions summed over the same 7 ticks (whole weeks
    only), the axes saying so; a forecast's band is of each run's weekly sums (ahead of the branch, whole weeks)."""
    with open(data_file("incidence-Measles1861.csv"), newline="") as fh:
        daily = np.array([int(r["cases"]) for r in csv.DictReader(fh)])
    weeks = daily[: daily.size // 7 * 7].reshape(-1, 7).sum(axis=1)
    path = write_csv(
        tmp_path / "weekly.csv",
        ["date", "cases"],
        [[str(np.datetime64("1861-10-30") + 7 * i), int(c)] for i, c in enumerate(weeks)],
    )
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        session = await sir_session(app, pilot, before=3, after=17)
        await load(app, pilot, f"{path} cases=new")
        lines = await drawn(app, pilot, "observed new")
        start_tick = session.started_tick
        seen, live = lines["observed new"], lines["new per 1w"]
        assert seen.x.tolist() == (start_tick + 7 * np.arange(weeks.size)).tolist()
        assert seen.y.tolist() == weeks.tolist()
        per_tick = np.asarray(session.new_per_tick, dtype=float)
        whole = per_tick.size // 7
        assert whole >= 2 and live.x.tolist() == (start_tick + 7 * np.arange(whole)).tolist()
        assert live.y.tolist() == per_tick[: 7 * whole].reshape(whole, 7).sum(axis=1).tolist()
        spec = session_chart(app).spec
        assert "a point per 1w" in spec.xlabel and "(1d)" in spec.xlabel and spec.ylabel == "agents per 1w"
        assert "each a world tick" not in notified(app)[-1] and "each 7 world ticks of 1d" in notified(app)[-1]

        job = await forecast(app, pilot, runs=6, horizon=16)
        chart = session_chart(app)

        def banded() -> bool:
            app.refresh_ui()
            return chart.settled and chart.spec is not None and bool(chart.spec.bands)

        assert await until(pilot, banded), notified(app)
        (band,) = chart.spec.bands
        (arm,) = job.result.arms.values()
        branch, first_round = job.result.branched_at, job.result.round
        sums = []  # each run's weekly sums, from its own series (a tick past its end counts 0)
        for run in arm.runs:
            ticks = np.asarray(run["series"]["tick"]) - first_round + branch
            values = dict(zip(ticks.tolist(), run["series"]["new"]))
            sums.append([sum(values.get(int(t), 0) for t in range(w, w + 7)) for w in band.x.tolist()])
        weeks_ahead = [w for w in start_tick + 7 * np.arange(10) if w >= branch and w + 7 <= branch + 17]
        assert band.x.tolist() == weeks_ahead and len(weeks_ahead) >= 1
        assert np.allclose(band.median, np.median(np.asarray(sums, dtype=float), axis=0))


async def test_two_measures_of_other_scales_get_a_second_axis(world_file, tmp_path):
    """New cases (tens) and agents reached (thousands) observed in one file: reached goes on a second y axis (the
    data of new no longer flat at 0 beside it), labelled with its measure, and the export keeps which is where."""
    path = write_csv(tmp_path / "two.csv", ["tick", "new", "reached"], [[t, 3 + t, 900 + 300 * t] for t in range(4)])
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await sir_session(app, pilot)
        await load(app, pilot, path)
        lines = await drawn(app, pilot, "observed reached")
        assert not lines["observed new"].right and not lines["new"].right
        assert lines["observed reached"].right and lines["reached"].right
        spec = session_chart(app).spec
        assert spec.ylabel == "new: agents" and spec.ylabel2 == "reached: agents"
        assert "reached: agents" in session_chart(app).text  # plotext's right axis label, on screen


def test_a_row_spans_the_world_ticks_its_time_covers_or_is_refused(tmp_path):
    """Daily data on a world of 10-minute ticks: a row every 144 ticks (the world's clock), or a tick a day with
    tick=1d (as agora fit --tick 1d reads it); a tick that does not divide a day is one sentence naming tick=."""
    from sim.live.observed import read_overlay

    world = synthetic_world("ten", 50, avg_degree=4, seed=1)  # 10-minute ticks, the default
    curve = data_file("incidence-Measles1861.csv")
    plain = read_overlay(observed_request(f"{curve} cases=new"), world, ("S", "I", "R"), None)
    assert (plain.period, plain.tick, plain.world_tick) == (144, "1d", "10min")
    assert plain.at(3)[:3].tolist() == [3, 147, 291]
    daily = read_overlay(observed_request(f"{curve} cases=new tick=1d"), world, ("S", "I", "R"), None)
    assert (daily.period, daily.world_tick) == (1, "1d") and daily.at(3)[:3].tolist() == [3, 4, 5]
    with pytest.raises(BadParameterError, match=r"each row counts 1d, not a whole number of the world's ticks of 7min"):
        read_overlay(observed_request(f"{curve} cases=new tick=7min"), world, ("S", "I", "R"), None)
    ticks = write_csv(tmp_path / "ticks.csv", ["tick", "I"], [[0, 1], [1, 2]])  # in the world's ticks
    own = read_overlay(observed_request(ticks), world, ("S", "I", "R"), None)
    assert (own.period, own.world_tick) == (1, None)
