"""The dashboard's charts and the Compare view under Textual's Pilot: what each chart plots (the session's
series, a variable's histogram, every session's reach), its axes, the finished session that stays until
``x``, the PNG/SVG export (``e``) and names shown literally.

Charts are drawn off the event loop: the tests wait until a chart has drawn the data they check
(:func:`drawn`), never for a fixed time.
"""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from conftest import notified, until

from sim.analysis.chartspec import spec_data
from sim.store.create import synthetic_world
from sim.store.worldfile import save_world
from tui.app import AgoraApp
from tui.charts import Chart, ChartSpec, Line, compact, downsample, nice_ticks, tick_labels

pytestmark = pytest.mark.usefixtures("keep_notifications")

SIZE = (150, 48)
PNG = b"\x89PNG\r\n\x1a\n"
HOSTILE = ("[bold]x[/]", "[b]high[/b] \x1b[31m")


@pytest.fixture
def world_file(tmp_path):
    path = str(tmp_path / "charts.db")
    asyncio.run(save_world(synthetic_world("charts", 2000, avg_degree=8, seed=5), path))
    return path


async def start(app, pilot):
    await asyncio.wait_for(app.ready.wait(), 60)
    await pilot.pause()


def chart(app, name: str) -> Chart:
    view = "compare" if name == "compare-chart" else "dashboard"
    return app._views[view].query_one(f"#{name}", Chart)


def drawn(app, name: str, session=None) -> bool:
    """Whether the chart shows the latest data (of ``session`` at its current round, when given)."""
    c = chart(app, name)
    if not c.settled or c.spec is None:
        return False
    if session is None:
        return True
    return c.key[1:4] == (session.id, session.round, session.status)


async def step(app, ticks: int) -> None:
    for _ in range(ticks):
        await app.sim.step()


def hostile_plugin(tmp_path) -> str:
    """A copy of the opinion template (a continuous variable) whose states are named like markup."""
    from sim.authoring import new_plugin

    folder = tmp_path / "plugs"
    model_path, _ = new_plugin("hostile_chart", str(folder), "opinion")
    src = open(model_path).read()
    assert 'states = ("0", "1")' in src
    src = src.replace('states = ("0", "1")', f"states = {HOSTILE!r}")
    open(model_path, "w").write(src)
    return str(folder)


async def test_session_chart_plots_one_line_per_state_from_the_series(world_file):
    """The injected session's chart: one line per state, labelled with the state names, whose points are
    the session's per-tick counts; axes labelled; the title names the session, its model and status."""
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        session = app.sim.inject("three states", seeds="top:10", model="seis", seed=2)
        await step(app, 6)
        assert session.status == "running" and session.series.length == 6
        assert await until(pilot, lambda: drawn(app, "session-chart", session))
        c = chart(app, "session-chart")
        spec = c.spec
        assert [line.label for line in spec.lines] == ["S", "E", "I"]
        counts = session.series.counts
        for i, line in enumerate(spec.lines):
            assert line.x.tolist() == list(range(6))
            assert line.y.tolist() == counts[:, i].tolist()
        assert (spec.xlabel, spec.ylabel) == ("tick", "agents")  # the world's tick, as the charts below
        text = c.text
        assert "session 1 · seis · running" in text
        assert "tick" in text and "since start" not in text and "agents" in text
        assert "▞▞ S" in text and "▞▞ E" in text and "▞▞ I" in text  # the legend
        # the world's charts: labelled axes, a legend
        for name, ylabel in (("new-chart", "agents"), ("social-chart", "edges"), ("mem-chart", "MB")):
            assert await until(pilot, lambda name=name: drawn(app, name))
            other = chart(app, name)
            assert other.spec.ylabel == ylabel and other.spec.xlabel in ("tick", "seconds")
        adoptions = chart(app, "new-chart")
        latest = (id(app.sim), len(app.sim.metrics), app.sim.metrics[-1]["tick"])
        assert await until(pilot, lambda: drawn(app, "new-chart") and adoptions.key == latest)
        assert adoptions.spec.lines[0].y.tolist() == [m["new_adoptions"] for m in app.sim.metrics]
        assert "via graph" in adoptions.text and "via feed" in adoptions.text


async def test_a_finished_session_stays_until_x_dismisses_it(world_file):
    """A session that completes stays on the chart, even while another runs; x takes it off and the chart
    shows the running one; x again leaves an empty chart with a hint."""
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        first = app.sim.inject("fast", seeds="top:20", params={"p": 0.4}, seed=1)
        await step(app, 1)
        assert await until(pilot, lambda: drawn(app, "session-chart", first))  # on the chart while it runs
        for _ in range(200):
            await step(app, 1)
            if first.done:
                break
        assert first.status == "completed"
        second = app.sim.inject("slow", seeds="random:3", model="seis", seed=4)
        await step(app, 2)
        assert second.status == "running"
        assert await until(pilot, lambda: drawn(app, "session-chart", first))
        assert "session 1 · ic · completed" in chart(app, "session-chart").text
        await pilot.pause(0.5)  # the running session ticks on: the chart keeps the finished one
        await step(app, 1)
        await pilot.pause(0.3)
        assert drawn(app, "session-chart", first) or chart(app, "session-chart").key[1] == first.id
        await pilot.press("x")
        assert await until(pilot, lambda: drawn(app, "session-chart", second))
        assert "session 2 · seis · running" in chart(app, "session-chart").text
        await pilot.press("x")
        assert await until(pilot, lambda: drawn(app, "session-chart") and chart(app, "session-chart").key[1] is None)
        c = chart(app, "session-chart")
        assert c.spec.lines == () and "press i to inject a message" in c.text
        assert any("taken off the chart" in m for m in notified(app))
        # A session chosen again (the Messages view, or injecting) comes back.
        app.selected_session_id = first.id
        assert await until(pilot, lambda: drawn(app, "session-chart", first))


async def test_histogram_of_a_continuous_variable(world_file):
    """A Deffuant session (a continuous opinion per agent): beside its states, a histogram of the opinion
    with labelled axes, whose bars are the counts of the variable's values in 20 equal bins."""
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        session = app.sim.inject("opinions", seeds="random:50", model="deffuant", seed=3)
        await step(app, 4)
        assert "opinion" in session.variables
        assert await until(pilot, lambda: drawn(app, "histogram-chart", session))
        h = chart(app, "histogram-chart")
        assert h.display
        values = session.variables["opinion"]
        expected, edges = np.histogram(values, bins=20, range=(float(values.min()), float(values.max())))
        (bars,) = h.spec.lines
        assert bars.y.tolist() == expected.tolist() and int(bars.y.sum()) == app.world.n
        assert np.allclose(h.spec.edges, edges)
        assert h.spec.bars and h.spec.xlabel == "opinion" and h.spec.ylabel == "agents"
        assert f"opinion at round {session.round}" in h.text and "agents" in h.text
        # a model without variables has no histogram
        app.selected_session_id = app.sim.inject("plain", seeds="top:5", seed=1).id
        await step(app, 1)
        assert await until(pilot, lambda: not h.display)


async def test_export_writes_png_and_svg_of_the_chart(world_file, tmp_path):
    """e writes the dashboard's chart as PNG and SVG (agora plot's figures) into saves/exports, named
    after the world, the session and the tick; the SVG has a line per state, named literally."""
    app = AgoraApp(world_file, plugin_dirs=[hostile_plugin(tmp_path)])
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        session = app.sim.inject("hostile", seeds="random:40", model="hostile_chart", seed=2)
        await step(app, 3)
        assert await until(pilot, lambda: drawn(app, "session-chart", session))
        await pilot.press("e")
        assert await until(pilot, lambda: any("chart exported" in m for m in notified(app)))
        folder = tmp_path / "saves" / "exports"
        png, svg = folder / "charts-session1-tick3.png", folder / "charts-session1-tick3.svg"
        assert png.read_bytes().startswith(PNG)
        text = svg.read_text()
        assert text.lstrip().startswith("<?xml") and "<svg" in text
        assert "[bold]x[/]" in text and "[b]high[/b]" in text  # the legend: one entry per state
        message = next(m for m in notified(app) if "chart exported" in m)
        head = "chart exported (PNG, SVG and its numbers as JSON):"
        assert message.splitlines() == [head, str(png), str(svg), str(png.with_suffix(".json"))]
        # The export is the chart on screen: the same lines, at the same (world) ticks, with the same counts.
        shown_spec = app.screen.query_one("#session-chart", Chart).spec
        assert json.loads(png.with_suffix(".json").read_text())["lines"] == spec_data(shown_spec)["lines"]
        # The same tick exported again: the next free name, and the first export left as it was.
        first = (png.read_bytes(), svg.read_bytes(), png.stat().st_mtime_ns, svg.stat().st_mtime_ns)
        await pilot.press("e")
        assert await until(pilot, lambda: sum("chart exported" in m for m in notified(app)) == 2)
        again = [m for m in notified(app) if "chart exported" in m][-1]
        png2, svg2 = folder / "charts-session1-tick3-2.png", folder / "charts-session1-tick3-2.svg"
        assert again.splitlines() == [head, str(png2), str(svg2), str(png2.with_suffix(".json"))]
        assert png2.read_bytes().startswith(PNG) and "<svg" in svg2.read_text()
        assert (png.read_bytes(), svg.read_bytes(), png.stat().st_mtime_ns, svg.stat().st_mtime_ns) == first


def test_an_export_takes_the_next_free_name_and_never_another_exports(tmp_path, monkeypatch):
    """claim_names: BASE, then BASE-2, BASE-3...; a name whose PNG or SVG alone exists is taken too; a failed
    drawing leaves no file behind."""
    from sim.live import frontend

    monkeypatch.setenv("AGORA_SAVES", str(tmp_path))
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "w.svg").write_text("an earlier export")  # only its SVG: the name is still taken
    assert frontend.claim_names(str(folder), "w", ("png", "svg")) == [str(folder / "w-2.png"), str(folder / "w-2.svg")]
    assert frontend.claim_names(str(folder), "w", ("png", "svg"))[0] == str(folder / "w-3.png")
    assert (folder / "w.svg").read_text() == "an earlier export" and not (folder / "w.png").exists()

    def broken(*_args):
        raise RuntimeError("drawing failed")

    monkeypatch.setattr(frontend, "plot_spec", broken)
    spec = ChartSpec("t", "tick", "agents", (Line("a", np.arange(3), np.arange(3)),))
    with pytest.raises(RuntimeError):
        frontend.export_spec(spec, "x")
    assert sorted(p.name for p in folder.iterdir()) == ["w-2.png", "w-2.svg", "w-3.png", "w-3.svg", "w.svg"]


def toast_lines(app, words: str) -> list[str] | None:
    """The text lines of the toast on screen that shows ``words`` (None while there is none): its cells
    inside the left border and the padding, as drawn."""
    from textual.widgets._toast import Toast

    strips = app.screen._compositor.render_strips()
    for toast in app.screen.query(Toast):
        r = toast.region
        lines = [strip.text[r.x + 2 : r.right - 1].rstrip() for strip in strips[r.y : r.bottom]]
        if words in "".join(lines):
            return lines
    return None


async def test_export_notification_shows_the_whole_paths(world_file, tmp_path):
    """The export's notification (the toast on screen) shows both files' whole paths, each on a line of
    its own: on a screen wide enough each path is one line of the toast, not cut mid-path at the toast's
    60 columns; on 80 columns a longer path wraps, and all of it is there."""
    app = AgoraApp(world_file)
    app.NOTIFICATION_TIMEOUT = 3600  # the toast stays while the test reads it, however slow the machine
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await start(app, pilot)
        session = app.sim.inject("x", seeds="top:5", seed=1)
        await step(app, 3)
        assert await until(pilot, lambda: drawn(app, "session-chart", session))
        await pilot.press("e")
        folder = tmp_path / "saves" / "exports"
        png, svg = str(folder / "charts-session1-tick3.png"), str(folder / "charts-session1-tick3.svg")
        assert len(png) > 60, "a path longer than Textual's toasts are wide"
        assert await until(pilot, lambda: toast_lines(app, "chart exported") is not None)
        assert await until(pilot, lambda: png in toast_lines(app, "chart exported")), toast_lines(app, "chart exported")
        assert svg in toast_lines(app, "chart exported")
        await pilot.resize_terminal(80, 40)
        assert await until(pilot, lambda: app.screen.size.width == 80)

        def wrapped_whole() -> bool:
            lines = toast_lines(app, "chart exported")
            return lines is not None and png in "".join(lines) and svg in "".join(lines)

        assert await until(pilot, wrapped_whole), toast_lines(app, "chart exported")


async def test_export_error_is_one_sentence(world_file, tmp_path, monkeypatch):
    """A saves folder that cannot hold an exports folder: a notification says so; the app goes on."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("AGORA_SAVES", str(blocker))
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("e")
        assert await until(pilot, lambda: any("nothing to export" in m for m in notified(app)))
        app.sim.inject("x", seeds="top:5", seed=1)
        await step(app, 2)
        await pilot.press("e")
        assert await until(pilot, lambda: any("could not write the chart into" in m for m in notified(app)))
        message = next(m for m in notified(app) if "could not write the chart" in m)
        assert "\n" not in message and "Traceback" not in message


async def test_compare_view_draws_each_sessions_reach_and_exports_it(world_file, tmp_path):
    """6 shows one line per session, its reach per tick since it started (the cumulative sum of its
    adoption curve), labelled "session N (model)"; e exports every session's reach in one figure."""
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        a = app.sim.inject("first", seeds="top:10", params={"p": 0.05}, seed=1)
        await step(app, 2)
        b = app.sim.inject("second", seeds="random:30", model="si", seed=2)
        await step(app, 4)
        await pilot.press("6")
        assert app._switcher.current == "compare"
        c = chart(app, "compare-chart")
        key = (id(app.sim), ((a.id, len(a.new_per_tick), a.status), (b.id, len(b.new_per_tick), b.status)))
        assert await until(pilot, lambda: c.settled and c.key == key)
        assert [line.label for line in c.spec.lines] == ["session 1 (ic)", "session 2 (si)"]
        for line, s in zip(c.spec.lines, (a, b)):
            assert line.y.tolist() == np.cumsum(s.new_per_tick).tolist()
            assert line.x.tolist() == list(range(len(s.new_per_tick)))
            assert line.y[-1] == s.reached
        assert (c.spec.xlabel, c.spec.ylabel) == ("tick since start", "agents reached")
        assert "session 1 (ic)" in c.text and "session 2 (si)" in c.text and "reach of the sessions" in c.text
        listing = str(app._views["compare"].query_one("#compare-sessions").render())
        assert f"reached {a.reached:,}" in listing and "second" in listing
        await pilot.press("e")
        assert await until(pilot, lambda: any("chart exported" in m for m in notified(app)))
        folder = tmp_path / "saves" / "exports"
        assert (folder / "charts-compare-tick6.png").read_bytes().startswith(PNG)
        svg = (folder / "charts-compare-tick6.svg").read_text()
        assert "session 1 (ic)" in svg and "session 2 (si)" in svg


async def test_hostile_names_are_shown_literally(world_file, tmp_path):
    """State names written like markup (and one with an escape sequence) are drawn as written, the
    escape made visible, on screen and in the chart's legend."""
    app = AgoraApp(world_file, plugin_dirs=[hostile_plugin(tmp_path)])
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        session = app.sim.inject("hostile", seeds="random:40", model="hostile_chart", seed=2)
        await step(app, 2)
        assert await until(pilot, lambda: drawn(app, "session-chart", session))
        text = chart(app, "session-chart").text
        assert "[bold]x[/]" in text and "[b]high[/b] \\x1b[31m" in text and "\x1b" not in text
        from test_tui import screen_text

        assert await until(pilot, lambda: "[bold]x[/]" in screen_text(app))


def test_downsample_and_ticks():
    """Long series are cut to the points that fit, keeping the ends (curves) or each bucket's peak
    (per-tick figures); axis ticks are round and cover the data."""
    x = np.arange(1000)
    y = np.zeros(1000)
    y[501] = 7
    xs, (ys,) = downsample(x, [y], 50, how="max")
    assert xs.size == 50 and ys.max() == 7 and xs[-1] == 999
    xs, (ys,) = downsample(x, [x * 2], 50)
    assert xs[0] == 0 and xs[-1] == 999 and ys[-1] == 1998 and xs.size <= 50
    xs, (ys,) = downsample(x[:10], [x[:10]], 50)
    assert xs.tolist() == list(range(10))
    assert nice_ticks(0, 1995, 4) == [0, 500, 1000, 1500, 2000]
    assert nice_ticks(0, 1, 2, integer=True) == [0, 1]
    assert [compact(v) for v in (950, 12_000, 1_250_000, 0.25, 2.0)] == ["950", "12k", "1.2M", "0.25", "2"]
    # The memory chart's axis over a fraction of a MB read 87.1 on every tick: each label is told apart now.
    ticks = nice_ticks(87.11, 87.19, 4)
    assert [compact(t) for t in ticks].count("87.1") > 1
    assert tick_labels(ticks) == [f"{t:g}" for t in ticks] == ["87.1", "87.125", "87.15", "87.175", "87.2"]
    assert tick_labels([12_000, 12_050, 12_100]) == ["12k", "12.05k", "12.1k"]
    assert tick_labels([0, 500, 1000]) == ["0", "500", "1000"]


async def test_keys_are_in_the_help_and_the_palette(world_file):
    """6, e and x are in the help; the palette finds the Compare view and the chart actions by name, and
    its export works from any view (the dashboard's chart)."""
    from textual.fuzzy import Matcher

    from tui.screens import HELP

    assert "Compare" in HELP and "export the chart" in HELP and "off the chart" in HELP
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        for title in ("View: compare sessions", "Export chart (PNG and SVG)", "Dismiss chart"):
            assert title in commands
        assert Matcher("compare").match("View: compare sessions") > 0
        assert Matcher("export").match("Export chart (PNG and SVG)") > 0
        app.sim.inject("palette", seeds="top:5", seed=1)
        await step(app, 2)
        await pilot.press("4")
        commands["Export chart (PNG and SVG)"].callback()
        assert await until(
            pilot, lambda: any("chart exported" in m and "session1-tick2.png" in m for m in notified(app))
        )


def test_a_spec_is_drawn_with_its_bands_and_marks_and_its_numbers_kept(tmp_path):
    """plot_spec draws the lines, a band (shaded, median dashed, on a second y axis) and the marks as one figure;
    spec_data keeps every number, a missing one as null, the axis of each, and the labels literally."""
    from sim.analysis.chartspec import Band, Mark, plot_spec

    x = np.arange(5)
    band = Band(
        "[b]arm[/b]",
        np.arange(4, 8),
        np.array([1, 2, 3, 4]),
        np.array([2, 3, 4, 5]),
        np.array([3, 4, 5, 9]),
        "cyan+",
        right=True,
    )
    spec = ChartSpec(
        "$x$ title",
        "tick",
        "agents",
        (Line("I", x, np.array([0, 1, np.nan, 3, 4])),),
        bands=(band,),
        marks=(Mark(2, "close schools"),),
        ylabel2="reached: $agents$",
    )
    data = spec_data(spec)
    assert data["lines"] == [
        {"label": "I", "x": [0, 1, 2, 3, 4], "y": [0, 1, None, 3, 4], "points": False, "right": False}
    ]
    assert data["bands"] == [
        {
            "label": "[b]arm[/b]",
            "x": [4, 5, 6, 7],
            "low": [1, 2, 3, 4],
            "median": [2, 3, 4, 5],
            "high": [3, 4, 5, 9],
            "right": True,
            "span": "5-95%",
        }
    ]
    assert data["ylabel2"] == "reached: $agents$"
    assert data["marks"] == [{"x": 2, "label": "close schools"}]
    plot_spec(spec, str(tmp_path / "c.svg"), "svg")
    svg = (tmp_path / "c.svg").read_text()
    assert "[b]arm[/b] median" in svg and "close schools" in svg and "$x$ title" in svg
    assert "reached: $agents$" in svg  # the second axis's label, literally
