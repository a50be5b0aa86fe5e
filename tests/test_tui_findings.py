"""What a new user tripped on in the terminal UI (issue 57), under Textual's Pilot on the real app: the
Intervene field's example read as a value (enter answered "the action is empty") and the keys stayed in it;
the world's clock ran on with nothing left to spread; ctrl+q and the palette's Quit quit with unsaved
changes and no question; scrollbars drew stray ``▂▂``/``▇▇`` glyphs at the right edge of panels; the Agents
view did not say whether the agent took a message.

The tests wait for conditions (a tick, a worker, a screen), never for a fixed time.
"""

from __future__ import annotations

import asyncio
import inspect
import time

import numpy as np
import pytest
from conftest import notified, until
from rich.text import Text
from textual.scrollbar import ScrollBar
from textual.widgets import DataTable, Input, Static

from agora_testing.tui import charts_settled
from sim.model.intervene import entries
from sim.store.create import synthetic_world
from sim.store.worldfile import open_world, save_world
from tui.app import AgoraApp
from tui.interventions import InterveneScreen
from tui.pace import SPEEDS
from tui.screens import QuitScreen

pytestmark = pytest.mark.usefixtures("keep_notifications")

SIZE = (150, 48)


@pytest.fixture
def world_file(tmp_path):
    path = str(tmp_path / "findings.db")
    asyncio.run(save_world(synthetic_world("findings", 2000, avg_degree=8, seed=5), path))
    return path


async def start(app, pilot) -> None:
    await asyncio.wait_for(app.ready.wait(), 60)
    await pilot.pause()


async def step(app, pilot) -> None:
    """One tick by the n key, waited for."""
    tick = app.world.tick
    await pilot.press("n")
    assert await until(pilot, lambda: app.world.tick == tick + 1)
    await app.workers.wait_for_complete()


def rendered(widget: Static) -> str:
    content = widget.render()
    return content.plain if isinstance(content, Text) else str(content)


# -- 1. the Intervene field ------------------------------------------------------------------------------


async def test_the_intervene_field_holds_an_action_and_the_keys_come_back(world_file):
    """v opens the field holding ``block:degree:100``, selected: enter schedules exactly that (it answered
    "the action is empty": the text was a grey placeholder), and an emptied field shows a hint that reads as
    one. Closed by enter or escape, the screen gives the keys back to what had them: nothing (n steps at
    once), or the sessions table."""
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        app.sim.inject("a rumour", seeds="random:10", seed=1)
        await pilot.press("4")
        assert app.focused is None
        await pilot.press("v")
        assert await until(pilot, lambda: isinstance(app.screen, InterveneScreen))
        field = app.screen.query_one("#intervene-action", Input)
        assert app.focused is field and field.value == "block:degree:100"
        assert field.selected_text == "block:degree:100", "typing replaces the action shown"
        assert field.placeholder.startswith("type an action, e.g.")
        await pilot.press("enter")
        assert await until(pilot, lambda: not isinstance(app.screen, InterveneScreen)), notified(app)
        listed = entries(app.world)
        assert [e["spec"] for e in listed] == ["block:degree:100"] and listed[0]["at"] == app.world.tick
        assert f"intervention scheduled for tick {app.world.tick} (the next tick): block:degree:100" in notified(app)
        # The keys are the app's again: nothing has the focus (a hidden view's log had it), n steps.
        assert app.focused is None
        await step(app, pilot)
        assert listed[0]["applied"]

        # From the sessions table: enter, then escape, give the focus back to it.
        table = app._views["messages"].query_one("#sessions", DataTable)
        table.focus()
        await pilot.pause()
        await pilot.press("v")
        assert await until(pilot, lambda: isinstance(app.screen, InterveneScreen))
        await pilot.press(*"remove-edges:0.01")
        assert app.focused.value == "remove-edges:0.01"
        await pilot.press("enter")
        assert await until(pilot, lambda: not isinstance(app.screen, InterveneScreen))
        assert app.focused is table
        await pilot.press("v")
        assert await until(pilot, lambda: isinstance(app.screen, InterveneScreen))
        await pilot.press("escape")
        assert await until(pilot, lambda: not isinstance(app.screen, InterveneScreen))
        assert app.focused is table
        # An emptied field is refused in one sentence, and the screen stays for a correction.
        await pilot.press("v")
        assert await until(pilot, lambda: isinstance(app.screen, InterveneScreen))
        app.screen.query_one("#intervene-action", Input).value = ""
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, InterveneScreen) and app.screen.error.startswith("the action is empty")
        assert len(entries(app.world)) == 2


# -- 2. the clock with nothing left to spread ----------------------------------------------------------------


def unfinished(app) -> int:
    return sum(s.status in ("queued", "running") for s in app.world.sessions)


async def test_a_run_pauses_when_nothing_is_left_to_change(world_file):
    """space runs a world with a message spreading; when the message stops (and nothing else in the world
    changes with time: no intervention waiting, no living network), the run pauses at that tick and says
    so (the clock ran on, tick 30 to 45, with nothing left). Run again on that still world, it runs (the
    user asked; a notification says only the clock moves) until paused."""
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        app.speed_index = SPEEDS.index(0)  # as fast as possible
        app.sim.inject("a short rumour", seeds="random:5", seed=3, params={"p": 0.02})
        await pilot.press("space")
        # Paused by itself once the message stopped, or (before the fix) still running well past its end.
        assert await until(
            pilot,
            lambda: (
                unfinished(app) == 0 and (not app.sim_running or app.world.tick > app.world.sessions[0].ended_tick + 20)
            ),
        )
        await app.workers.wait_for_complete()
        session = app.world.sessions[0]
        assert session.status == "completed"
        assert not app.sim_running and app.controller.state == "paused", "the run went on with nothing to change"
        assert app.world.tick == session.ended_tick + 1
        said = f"the run paused at tick {app.world.tick:,}: no message is spreading any more"
        assert any(m.startswith(said) for m in notified(app)), notified(app)
        assert "PAUSED" in app.header_text().plain
        # Run again, by hand: only the clock moves, and the run goes on (it is the user's to stop).
        tick = app.world.tick
        await pilot.press("space")
        assert await until(pilot, lambda: app.world.tick >= tick + 5)
        assert app.sim_running
        assert any(m.startswith("running a world where nothing spreads") for m in notified(app))
        await pilot.press("space")
        assert await until(pilot, lambda: not app.sim_running)


async def test_a_run_goes_on_while_something_still_changes(world_file):
    """A run does not pause while something changes with time with no message spreading: an intervention
    waits for its tick (the run pauses once it applied), or the network lives (follows, unfollows, churn:
    the run goes on)."""
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        app.speed_index = SPEEDS.index(0)  # as fast as possible
        app.sim.inject("a short rumour", seeds="random:5", seed=3, params={"p": 0.02})
        app.controller.interventions.now("40:remove-edges:0.01")
        await pilot.press("space")
        assert await until(pilot, lambda: not app.sim_running, seconds=120)
        await app.workers.wait_for_complete()
        listed = entries(app.world)
        assert app.world.sessions[0].ended_tick < 40 and listed[0]["applied"] and listed[0]["tick"] == 40
        assert app.world.tick == 41

        # A living network: the run goes on with no message spreading.
        app.sim.social.configure(friend_recommender="random")
        app.sim.inject("another", seeds="random:5", seed=4, params={"p": 0.02})
        await pilot.press("space")
        assert await until(pilot, lambda: unfinished(app) == 0)
        ended = app.world.sessions[1].ended_tick
        assert await until(pilot, lambda: app.world.tick >= ended + 10 or not app.sim_running)
        assert app.sim_running, "a living network's run pauses only when asked"
        await pilot.press("space")
        assert await until(pilot, lambda: not app.sim_running)


# -- 3. quitting -------------------------------------------------------------------------------------------


def asking(app) -> bool:
    """Whether the quit dialog is shown, its buttons drawn."""
    return isinstance(app.screen, QuitScreen) and bool(app.screen.query("#save"))


async def test_every_way_to_quit_offers_to_save(world_file):
    """After an injection and a step, q asks whether to save; so do ctrl+q (Textual's own quit, which ctrl+c
    points to) and the command palette's one Quit (Textual's "Quit the application as soon as possible"
    quit at once, unsaved changes and all). Saving writes the tick into the world file; then, with nothing
    unsaved, q quits at once and says on the terminal that the file holds everything."""
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("i")
        await pilot.press(*"Breaking news", "enter")
        assert await until(pilot, lambda: len(app.world.sessions) == 1)
        await step(app, pilot)
        assert app.controller.sim.dirty
        for keys in (("q",), ("ctrl+q",), ("q", "q")):
            await pilot.press(*keys)
            assert await until(pilot, lambda: asking(app)), keys
            assert app.return_code is None
            assert len(app.screen_stack) == 2, "one question at a time"
            await pilot.press("escape")  # stay
            assert await until(pilot, lambda: not isinstance(app.screen, QuitScreen))
        quits = [c for c in app.get_system_commands(app.screen) if "quit" in c.title.lower()]
        assert [c.title for c in quits] == ["Quit"] and "offers to save" in quits[0].help
        called = quits[0].callback()  # as the palette runs it
        if inspect.isawaitable(called):
            await called
        assert await until(pilot, lambda: asking(app))
        assert app.return_code is None
        await pilot.click("#save")
        deadline = time.monotonic() + 60
        while app.return_code is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    assert app.return_code == 0
    assert (await open_world(world_file)).tick == 1
    # Nothing unsaved (the file holds tick 1): q quits at once and says so on the terminal.
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("q")
        deadline = time.monotonic() + 60
        while app.return_code is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        said = [str(r) for r in app._exit_renderables]
    assert app.return_code == 0
    assert said == ["agora: nothing to save: findings.db holds the world as it was at tick 1"]


# -- 4. scrollbars ------------------------------------------------------------------------------------------


def scrollbar_cells(app) -> list[str]:
    """The text drawn in every scrollbar on screen, one string per scrollbar."""
    lines = ["".join(seg.text for seg in strip) for strip in app.screen._compositor.render_strips()]
    out = []
    for widget, (region, clip) in app.screen._compositor.visible_widgets.items():
        if not isinstance(widget, ScrollBar) or not widget.display:
            continue
        region = region.intersection(clip)
        out.append("".join(lines[y][region.x : region.right] for y in range(region.y, region.bottom)))
    return out


@pytest.mark.slow
async def test_scrollbars_draw_no_stray_glyphs(world_file):
    """Every scrollbar on every view, at the sizes a terminal often has, is one column of whole cells: no
    eighth-block glyph (``▂▂``, ``▇▇``: the ends of Textual's smooth thumb, two columns wide, which on a
    dark track read as stray glyphs at a panel's right edge)."""
    app = AgoraApp(world_file)
    async with app.run_test(size=(80, 24)) as pilot:
        await start(app, pilot)
        app.sim.inject("a rumour", seeds="random:10", seed=1)
        await pilot.press("N")
        assert await until(pilot, lambda: app.world.tick >= 10)
        await app.workers.wait_for_complete()
        seen = 0
        for size in ((80, 24), (100, 30), (120, 35)):
            await pilot.resize_terminal(*size)
            for view in "123456":
                await pilot.press(view)
                if view == "1":
                    await charts_settled(app, pilot)
                await pilot.pause()
                for cells in scrollbar_cells(app):
                    seen += 1
                    assert set(cells) <= {" "}, (size, view, cells)
                for widget in app.screen.query("*"):
                    if widget.display and widget.show_vertical_scrollbar and widget.region.area:
                        assert widget.scrollbar_size_vertical == 1, (size, view, widget)
        assert seen >= 3, "the sizes chosen show scrollbars (the dashboard scrolls below 36 lines)"


# -- 5. the Agents view -------------------------------------------------------------------------------------


async def test_the_agents_view_says_what_each_message_became(world_file):
    """For the agent shown, the Agents view lists every session's message with what became of it: adopted
    (at which tick, from whom, or as a seed), exposed and not adopted, not reached, or not started (queued);
    a blocked agent says so. (It listed adoptions only: an agent that was exposed and ignored the message read
    the same as one it never reached.)"""
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        ids = app.world.columns["ids"]
        app.sim.inject("first news", seeds=f"ids:{int(ids[0])}", seed=2, params={"p": 0.3})
        for _ in range(3):
            await step(app, pilot)
        app.sim.inject("still queued", seeds="random:3", seed=5)
        s = app.world.sessions[0]
        adopted = np.flatnonzero((s.adopted_at >= 0) & (s.adopted_from >= 0))
        exposed = np.flatnonzero(s.exposed & (s.adopted_at < 0))
        unreached = np.flatnonzero(~s.exposed)
        assert adopted.size and exposed.size and unreached.size

        async def shown(index: int) -> str:
            await pilot.press("3")
            box = app._views["agents"].query_one("#agent-query", Input)
            box.value = ""
            await pilot.press(*str(int(ids[index])), "enter")
            view = app._views["agents"]
            assert await until(pilot, lambda: view.snapshot is not None and view.snapshot.index == index)
            await pilot.pause()
            return " ".join(rendered(view.query_one("#agent-events", Static)).split())

        text = await shown(0)
        assert "session 1 (running) message 1 first news (ic): adopted at tick 0 as a seed" in text, text
        assert "session 2 (queued) message 2 still queued (ic): not started" in text
        assert text.index("session 2") < text.index("session 1"), "newest first"
        a = int(adopted[0])
        text = await shown(a)
        source = int(ids[s.adopted_from[a]])
        assert f"adopted at tick {int(s.adopted_at[a])} from {source}" in text, text
        text = await shown(int(exposed[0]))
        assert "first news (ic): exposed, not adopted" in text, text
        text = await shown(int(unreached[0]))
        assert "first news (ic): not reached" in text, text
        # The same as data, for any front end.
        profile = app.live.agents.profile(int(exposed[0]))
        assert [(x.session_id, x.outcome) for x in profile.sessions] == [(2, "not started"), (1, "exposed")]
        assert profile.sessions[1].state == "susceptible" and not profile.blocked
        # A blocked agent says so.
        app.controller.interventions.now(f"block:ids:{int(ids[int(unreached[0])])}")
        await pilot.press("escape")  # the keys leave the search box
        await step(app, pilot)
        text = await shown(int(unreached[0]))
        assert "messages: blocked by an intervention" in text, text
