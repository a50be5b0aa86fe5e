"""Replay (the p key, issue 77), under Textual's Pilot on the real Hagelloch village: an SIR session is run tick by
tick in the UI and what the run showed at each tick (its live counters: agents per state, reached) is kept; the UI
is closed and opened again on the world file, and the replay of the session, rebuilt from what the file stores,
shows at every tick of the run the same counts, moved there by the keys and by a click on the bar; the chart is
exported as shown; a session that cannot be replayed, or a word that is no session, is one line with the form kept.

The tests wait for conditions (a screen shown, a chart drawn from the latest data), never for a time.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import agora, notified, until
from textual.widgets import Input, Static

from sim.analysis.chartspec import spec_data
from sim.live.replay import Replay
from tui.app import AgoraApp
from tui.replay import ReplayForm, ReplayScreen, TickSlider
from tui.screens import QuitScreen

pytestmark = pytest.mark.usefixtures("keep_notifications")


async def run_to_the_end(app) -> tuple[int, dict[int, tuple[tuple[int, ...], int]]]:
    """An SIR session on the village run to its end, a tick at a time: what it showed after each tick (its live
    counters of agents per state and of agents reached), by the world tick of the round."""
    session = app.sim.inject("measles", seeds="random:3", model="sir", params={"beta": 0.08, "gamma": 0.12}, seed=3)
    shown: dict[int, tuple[tuple[int, ...], int]] = {}
    for _ in range(600):
        await app.controller.step(1)  # as n steps it
        if session.started_tick is None:
            continue
        tick = int(session.started_tick) + int(session.series_from) + int(session.series.length) - 1
        shown[tick] = (tuple(int(c) for c in session.state_counts), int(session.reached))
        if session.done:
            break
    assert session.status == "completed" and len(shown) > 20, (session.status, len(shown))
    return int(session.id), shown


async def replay_screen(app, pilot, word: str) -> ReplayScreen:
    await pilot.press("p")
    assert await until(pilot, lambda: isinstance(app.screen, ReplayForm))
    app.screen.query_one("#replay-session", Input).value = word
    await pilot.press("enter")
    assert await until(pilot, lambda: isinstance(app.screen, ReplayScreen)), notified(app)[-3:]
    return app.screen


def on_screen(screen: ReplayScreen) -> str:
    return str(screen.query_one("#replay-figures", Static).render())


async def test_a_replayed_tick_shows_the_counts_the_run_showed_at_it(village):
    app = AgoraApp(village)
    async with app.run_test(size=(150, 48)) as pilot:
        await asyncio.wait_for(app.ready.wait(), 60)
        await pilot.press("p")  # no session yet: nothing offered; left empty, it offers one once there is one
        assert await until(pilot, lambda: isinstance(app.screen, ReplayForm))
        assert app.screen.query_one("#replay-session", Input).value == ""
        await pilot.press("escape")
        sid, shown = await run_to_the_end(app)
        said = len(notified(app))
        await pilot.press("p")  # the session that just ended is offered
        assert await until(pilot, lambda: isinstance(app.screen, ReplayForm))
        assert app.screen.query_one("#replay-session", Input).value == str(sid)
        app.screen.query_one("#replay-session", Input).value = "x1"  # no number: one line, the form kept
        await pilot.press("enter")
        assert await until(pilot, lambda: len(notified(app)) > said)
        assert "type a session's number" in notified(app)[-1] and isinstance(app.screen, ReplayForm)
        assert app.screen.query_one("#replay-session", Input).value == "x1"
        app.screen.query_one("#replay-session", Input).value = "99"
        await pilot.press("enter")
        assert await until(pilot, lambda: len(notified(app)) > said + 1)
        assert "there is no session 99" in notified(app)[-1] and isinstance(app.screen, ReplayForm)
        await pilot.press("escape")
        running = app.sim.inject("rumour", seeds="random:2", model="sir", params={"beta": 0.05, "gamma": 0.01})
        await app.sim.step()
        await replay_screen_refused(app, pilot, str(running.id), f"session {running.id} is still running")
        await pilot.press("q")  # quit, saving into the world file, as a person would
        assert await until(pilot, lambda: isinstance(app.screen, QuitScreen))
        await pilot.click("#save")
        deadline = time.monotonic() + 60
        while app.return_code is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert app.return_code == 0, "the app did not exit after saving"
    # Opened again on the file: the replay is rebuilt from what it stores.
    app = AgoraApp(village)
    async with app.run_test(size=(150, 48)) as pilot:
        await asyncio.wait_for(app.ready.wait(), 60)
        screen = await replay_screen(app, pilot, str(sid))
        first, last = min(shown), max(shown)
        assert (screen.replay.first, screen.replay.last, screen.frame.tick) == (first, last, last)
        await pilot.press("home")
        assert await until(pilot, lambda: screen.frame.tick == first)
        for tick in range(first, last + 1):
            counts, reached = shown[tick]
            assert (screen.frame.counts, screen.frame.reached) == (counts, reached), tick
            states = " · ".join(f"{n} {c:,}" for n, c in zip(screen.frame.states, counts))
            assert f"at tick {tick}: {states}" in on_screen(screen) and f"reached {reached:,} by" in on_screen(screen)
            await pilot.press("right_square_bracket")
            assert await until(pilot, lambda tick=tick: screen.frame.tick == min(last, tick + 1))
        await pilot.press("left_curly_bracket")
        assert await until(pilot, lambda: screen.frame.tick == last - 10)
        slider = screen.query_one("#replay-slider", TickSlider)
        await pilot.click("#replay-slider", offset=(slider.size.width // 2, 0))
        middle = slider.tick_at(slider.size.width // 2)
        assert await until(pilot, lambda: screen.frame.tick == middle) and first < middle < last
        assert (screen.frame.counts, screen.frame.reached) == shown[middle]
        assert await until(pilot, lambda: screen.chart.settled and screen.chart.key == ("replay", sid, middle))
        marks = [m.x for m in screen.chart.spec.marks]
        assert marks == [float(middle)]
        await pilot.press("e")
        assert await until(pilot, lambda: bool(screen.exported))
        png, svg, data = screen.exported[-1]
        assert Path(png).read_bytes().startswith(b"\x89PNG") and "<svg" in Path(svg).read_text()
        assert json.loads(Path(data).read_text()) == spec_data(screen.chart.spec)
        await pilot.press("escape")
        assert await until(pilot, lambda: not isinstance(app.screen, ReplayScreen))


async def replay_screen_refused(app, pilot, word: str, sentence: str) -> None:
    said = len(notified(app))
    await pilot.press("p")
    assert await until(pilot, lambda: isinstance(app.screen, ReplayForm))
    app.screen.query_one("#replay-session", Input).value = word
    await pilot.press("enter")
    assert await until(pilot, lambda: len(notified(app)) > said)
    assert sentence in notified(app)[-1] and isinstance(app.screen, ReplayForm)
    assert app.screen.query_one("#replay-session", Input).value == word
    await pilot.press("escape")


def test_an_agent_at_a_tick_and_the_forest_as_it_stood(tmp_path):
    """The replay's per-agent and forest figures against the session's own arrays, by hand: reached by a tick is
    ``adopted_at <= tick``; each generation's count is the agents of that depth in the forest up to then."""
    import sim

    path = str(tmp_path / "w.db")
    sim.new_world(path, agents=3000, avg_degree=8, seed=7, force=True)
    w = sim.open_world(path)
    with w.simulation() as live:
        info = live.inject("x", model="sir", params={"beta": 0.1, "gamma": 0.3}, seeds="random:4")
        for _ in range(200):
            live.step()
            if live.session(info["id"], cascade=False)["status"] != "running":
                break
        s = live.host.sim.session(info["id"])
        r = Replay(live.host.world, s)
        ids = live.host.world.columns["ids"]
        depth, root = np.full(s.adopted_at.size, -1), np.full(s.adopted_at.size, -1)
        for t in np.unique(s.adopted_at[s.adopted_at >= 0]):  # by hand: a tick's adopters after their sources
            for a in np.flatnonzero(s.adopted_at == t):
                src = s.adopted_from[a]
                depth[a] = 0 if src < 0 else depth[src] + 1
                root[a] = a if src < 0 else root[src]

        def most(values: np.ndarray) -> list[int]:
            counts = np.bincount(values[values >= 0]) if (values >= 0).any() else np.zeros(0, dtype=int)
            return sorted((int(c) for c in counts if c), reverse=True)[:8]

        for tick in range(r.first, r.last + 1):
            frame = r.at(tick)
            by = s.adopted_at[(s.adopted_at >= 0) & (s.adopted_at <= tick)]
            assert frame.reached == by.size and frame.new == int((s.adopted_at == tick).sum())
            mine = (s.adopted_at >= 0) & (s.adopted_at <= tick)
            assert list(frame.generations) == list(np.bincount(depth[mine])) if mine.any() else frame.generations == ()
            assert [c for _, c in frame.trees] == most(root[mine])
            assert [c for _, c in frame.spreaders] == most(s.adopted_from[mine])
        agent = int(np.flatnonzero(s.adopted_at > r.first)[0])
        at = int(s.adopted_at[agent])
        before, after = r.agent(int(ids[agent]), at - 1), r.agent(int(ids[agent]), at)
        assert not before.reached and after.reached and after.reached_at == at
        assert "not reached yet" in before.line() and f"reached at tick {at}" in after.line()


def test_agora_bench_tui_replay_times_a_first_load_and_jumps_beside_a_small_world(tmp_path):
    """``agora bench tui --replay --agents N --json``: each world's first load, jumps and ] presses (to the screen
    repainted), the figures alone and the memory, beside the 1,000-agent baseline of the same run."""
    done = agora(tmp_path, "bench", "tui", "--replay", "--agents", "2000", "--json")
    assert done.returncode == 0, done.stderr
    r = json.loads(done.stdout)
    for key in ("baseline_1000", "2000"):
        part = r[key]
        assert part["agents"] == int(key.split("_")[-1]) and part["ticks"] == part["rounds"] + 1 > 2
        assert 0 < part["reached"] <= part["agents"] and part["first_load_s"] > 0
        for measure in ("jump_ms", "key_ms", "frame_only_ms"):
            assert 0 < part[measure]["p50"] <= part[measure]["p95"] <= part[measure]["max"], (key, measure)
    assert r["jumps"] == 20 and r["target_jump_ms_at_1m"] == 200
    text = agora(tmp_path, "bench", "tui", "--replay", "--agents", "0")
    assert text.returncode == 2
