"""The terminal UI under Textual's Pilot: every view and action, the markup case, save/load, quitting,
and one smoke test of the real program in a pseudo-terminal (tmux)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time

import pytest
from conftest import notified, until
from rich.text import Text
from textual.widgets import DataTable, Input, Label, Log, Static

from sim.store.create import synthetic_world
from sim.store.worldfile import open_world, save_world
from tui.app import SPEEDS, AgoraApp
from tui.screens import HELP, HelpScreen, LoadScreen, QuitScreen, SaveScreen

# Notifications expire after a few seconds: every test keeps them all (see conftest.notified).
pytestmark = pytest.mark.usefixtures("keep_notifications")

MARKUP = "[bold red]X[/bold red] [link=http://x]y[/link] [/"
SIZE = (150, 48)


@pytest.fixture
def world_file(tmp_path):
    path = str(tmp_path / "tui.db")
    asyncio.run(save_world(synthetic_world("tui", 2000, avg_degree=8, seed=5), path))
    return path


async def start(app, pilot):
    await asyncio.wait_for(app.ready.wait(), 60)
    await pilot.pause()


async def until_exited(app, seconds: float = 60.0) -> None:
    """Wait for the app to exit on its own (quitting: its worker checkpoints the world, then exits)."""
    deadline = time.monotonic() + seconds
    while app.return_code is None and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert app.return_code == 0, "the app did not exit after its checkpoint"


def screen_text(app) -> str:
    """What is on screen, as plain text (from Textual's own SVG export)."""
    svg = app.export_screenshot()
    text = re.sub(r"<[^>]+>", "", svg)
    import html

    return html.unescape(text).replace("\xa0", " ")


async def inject(app, pilot, text: str, **fields):
    await pilot.press("i")
    view = app._views["messages"]
    view.query_one("#msg-text", Input).value = text
    for key, value in fields.items():
        view.query_one(f"#{key}", Input).value = value
    await pilot.pause()
    await pilot.click("#inject")
    await pilot.pause()


async def test_opens_on_a_world_and_switches_views(world_file):
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        assert app._switcher.current == "dashboard"
        header = app.header_text().plain
        assert "tui" in header and "tick 0" in header and "2,000 agents" in header and "PAUSED" in header
        for key, view in zip("12345", ("dashboard", "communities", "agents", "messages", "plugins")):
            await pilot.press(key)
            assert app._switcher.current == view
            if view == "agents":
                await pilot.press("escape")  # its search box has the keys (digits are an id's): escape gives them back
        # the footer shows the keys
        # The footer is redrawn after the bindings change: wait for the frame rather than a fixed time.
        assert await until(pilot, lambda: "step 1/10" in (text := screen_text(app)) and "Inject" in text)


async def test_step_run_pause_and_speed(world_file):
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("n")
        await app.workers.wait_for_complete()
        assert app.world.tick == 1
        await pilot.press("N")
        await app.workers.wait_for_complete()
        assert app.world.tick == 11
        speed = app.speed_index
        await pilot.press("plus")
        assert app.speed_index == speed + 1
        await pilot.press("minus")
        await pilot.press("minus")
        assert app.speed_index == speed - 1
        app.speed_index = SPEEDS.index(0)  # as fast as possible
        await pilot.press("space")
        assert await until(pilot, lambda: app.world.tick >= 20), app.world.tick
        assert app.sim_running
        assert "RUNNING" in app.header_text().plain
        # The header shows the measured rate and, apart, the pace asked for.
        assert await until(
            pilot,
            lambda: (m := re.search(r"([\d.]+) t/s \(pace max\)", app.header_text().plain)) and float(m.group(1)) > 0,
        ), app.header_text().plain
        await pilot.press("space")
        async with app.sim.lock:  # a tick under way when the pause came ends first; no other starts
            stopped = app.world.tick
        await pilot.pause(0.3)
        assert app.world.tick == stopped and not app.sim_running


async def test_inject_form_fields_are_labelled(world_file):
    """Every field of the inject form (message, topics, seed selection, seed count, priority, model, feeds,
    and each parameter of the model) has a label right before it, on screen; the seed count's label says
    what it holds for the seed selection chosen."""
    from textual.widgets import Select

    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("i")
        await pilot.pause()
        view = app._views["messages"]
        form = view.query_one("#inject-form")
        fields = [w for w in form.query("Input, Select") if isinstance(w, (Input, Select))]
        ids = {w.id for w in fields}
        assert {
            "msg-text",
            "msg-topics",
            "seed-kind",
            "seed-arg",
            "msg-priority",
            "model",
            "msg-recommender",
            "param-p",
        } <= ids, ids
        labels = {}
        for w in fields:
            kids = list(w.parent.children)
            before = kids[kids.index(w) - 1] if kids.index(w) else None
            assert isinstance(before, Label), f"{w.id} has no label right before it"
            labels[w.id] = str(before.render()).strip()
            assert labels[w.id], f"{w.id} has an empty label"
        assert labels["seed-arg"] == "count" and labels["msg-recommender"] == "feeds" and labels["model"] == "model"
        drawn = "\n".join(strip.text for strip in app.screen._compositor.render_strips())
        for label in ("message", "topics", "seeds", "count", "priority", "model", "feeds"):
            assert re.search(rf"[│▎]\s+{label} ▊", drawn), label
        view.query_one("#seed-kind", Select).value = "community"
        assert await until(pilot, lambda: str(view.query_one("#seed-arg-label", Label).render()) == "community:count")


async def test_inject_shows_markup_literally_and_cancel(world_file):
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await inject(app, pilot, MARKUP, **{"seed-arg": "5"})
        assert app._switcher.current == "messages"
        assert isinstance(app.focused, DataTable), "after injecting, focus leaves the form so keys act again"
        assert len(app.sim.sessions) == 1 and app.sim.sessions[0].message["text"] == MARKUP
        table = app._views["messages"].query_one("#sessions", DataTable)
        cell = table.get_cell("1", "text")
        assert isinstance(cell, Text) and cell.plain == MARKUP
        assert await until(pilot, lambda: MARKUP in screen_text(app))
        await pilot.press("n")
        await app.workers.wait_for_complete()
        table.focus()
        await pilot.press("x")
        await pilot.pause()
        assert app.sim.sessions[0].status == "cancelled"
        await pilot.press("1")
        log = app._views["dashboard"].query_one("#log", Log)
        assert await until(pilot, lambda: any(MARKUP in line for line in log.lines))


async def test_escape_leaves_a_text_field(world_file):
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("i")
        assert isinstance(app.focused, Input)
        await pilot.press("n")  # typed into the field, not a tick
        assert app.world.tick == 0
        await pilot.press("escape")
        assert not isinstance(app.focused, Input)
        await pilot.press("n")
        await app.workers.wait_for_complete()
        assert app.world.tick == 1


async def test_bad_parameter_is_shown_inline_and_nothing_is_injected(world_file):
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("4")
        view = app._views["messages"]
        view.query_one("#param-p", Input).value = "7"
        await pilot.pause()
        assert "p=7" in str(view.query_one("#param-error-p", Static).render())
        await inject(app, pilot, "hello")
        assert app.sim.sessions == []
        assert "p=7" in str(view.query_one("#form-error", Static).render())
        view.query_one("#param-p", Input).value = "0.2"
        view.query_one("#seed-arg", Input).value = "abc"
        await inject(app, pilot, "hello")
        assert app.sim.sessions == []
        assert "seed selection" in str(view.query_one("#form-error", Static).render())


async def test_agents_view_finds_by_id_and_name(world_file):
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("3")
        view = app._views["agents"]
        q = view.query_one("#agent-query", Input)
        q.focus()
        q.value = "42"
        await pilot.press("enter")
        await pilot.pause()
        name = app.world.persona(42).name
        profile = str(view.query_one("#agent-profile", Static).render())
        assert name in profile and "id 42" in profile
        assert view.query_one("#followers", DataTable).row_count == min(50, int(app.world.graph.out_degree()[42]))
        q.value = name
        await pilot.press("enter")
        await pilot.pause()
        assert view.agent_index is not None and app.world.persona(view.agent_index).name == name
        q.value = "Nobody Atall"
        await pilot.press("enter")
        await pilot.pause()
        assert view.agent_index is not None  # unchanged, and a notification instead of a crash


async def test_slash_focuses_the_search_box_and_digits_go_into_it(world_file):
    """``/`` puts the focus in the view's search (Agents) or filter (Communities) box; typed digits then
    go into the box instead of switching views; escape leaves it and digits switch views again."""
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("3", "slash", "4", "2", "enter")
        await pilot.pause()
        view = app._views["agents"]
        assert app._switcher.current == "agents" and view.query_one("#agent-query", Input).value == "42"
        assert await until(pilot, lambda: view.agent_index == app.world.index_of(42))
        await pilot.press("escape", "2", "slash", "1")
        await pilot.pause()
        assert app._switcher.current == "communities"
        assert app._views["communities"].query_one("#comm-filter", Input).value == "1"
        await pilot.press("escape", "1")
        assert app._switcher.current == "dashboard"
        await pilot.press("slash")
        assert await until(pilot, lambda: any("no search box" in m for m in notifications(app)))


async def test_communities_view_lists_planted_communities_and_filters(world_file):
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("2")
        await pilot.pause()
        await app.workers.wait_for_complete()
        table = app._views["communities"].query_one("#comm-table", DataTable)
        # The rows come from a worker, and reach the table at the next refresh of the view.
        assert await until(pilot, lambda: table.row_count == app.world.num_communities), table.row_count
        sizes = [int(str(table.get_row_at(i)[1]).replace(",", "")) for i in range(table.row_count)]
        assert sizes == sorted(sizes, reverse=True)
        flt = app._views["communities"].query_one("#comm-filter", Input)
        flt.value = "3"
        await pilot.pause()
        assert table.row_count == 1


async def test_recompute_communities(world_file):
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        planted = app.world.columns["community"].copy()
        await pilot.press("2")
        await pilot.press("c")
        await app.workers.wait_for_complete()
        rec = app.world.config["analysis"]["communities"]
        assert rec["count"] >= 2 and rec["modularity"] > 0.3
        assert rec["ids"] == "kept"
        table = app._views["communities"].query_one("#comm-table", DataTable)
        # The new table is built by a worker the view's next refresh starts, and shown at the one after.
        assert await until(pilot, lambda: table.row_count == min(rec["count"], 200)), table.row_count
        assert planted.max() >= 0
    con = sqlite3.connect(world_file)
    assert con.execute("SELECT COUNT(*) FROM communities").fetchone()[0] == rec["count"]


async def save_at_ten(app, pilot, saves) -> None:
    """Ten ticks, then ``s`` saves the snapshot ``at-ten.snap`` through the dialog."""
    await pilot.press("N")
    await app.workers.wait_for_complete()
    await pilot.press("s")
    assert isinstance(app.screen, SaveScreen)
    app.screen.query_one("#snapshot-name", Input).value = "at-ten"
    await pilot.press("enter")
    # The dialog's answer starts the save worker through a chain of messages: wait for its result.
    assert await until(pilot, lambda: (saves / "at-ten.snap").exists() and not app.busy)
    await app.workers.wait_for_complete()


async def test_save_and_load_snapshots(world_file, tmp_path):
    saves = tmp_path / "saves"
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await save_at_ten(app, pilot, saves)
        await pilot.press("n")
        await app.workers.wait_for_complete()
        assert app.world.tick == 11
        (saves / "broken.snap").write_bytes(b"AGORASNP\x01 this is not a snapshot")
        os.utime(saves / "broken.snap", (time.time() + 5, time.time() + 5))
        await pilot.press("l")
        assert isinstance(app.screen, LoadScreen)
        await pilot.pause()
        await pilot.press("enter")  # the newest first: the broken one
        assert await until(pilot, lambda: any("broken.snap" in m for m in notifications(app)) and not app.busy)
        await app.workers.wait_for_complete()
        assert app.world.tick == 11, "a bad snapshot leaves the world as it was"
        await pilot.press("l")
        await pilot.pause()
        await pilot.press("down", "enter")
        assert await until(pilot, lambda: app.world.tick == 10 and not app.busy), app.world.tick
        await app.workers.wait_for_complete()
        await pilot.press("n")
        await app.workers.wait_for_complete()
    reopened = await open_world(world_file)
    assert reopened.tick >= 10
    con = sqlite3.connect(world_file)
    actions = [r[0] for r in con.execute("SELECT action FROM audit ORDER BY id")]
    assert "save" in actions and "load" in actions


async def test_load_while_running_keeps_run_pause_and_step_working(world_file, tmp_path):
    """Loading a snapshot while the simulation runs stops the old loop, binds the new world, and leaves
    run/pause/step working: the run goes on from the snapshot's tick, space pauses it (the header says
    so), n steps one tick, space runs again."""
    saves = tmp_path / "saves"
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await save_at_ten(app, pilot, saves)
        app.speed_index = SPEEDS.index(0)  # as fast as possible
        await pilot.press("space")
        assert await until(pilot, lambda: app.world.tick >= 14), app.world.tick
        old = app.world
        await pilot.press("l")
        assert await until(pilot, lambda: isinstance(app.screen, LoadScreen))
        await pilot.pause()
        await pilot.press("enter")
        assert await until(pilot, lambda: app.world is not old and not app.busy)
        assert await until(pilot, lambda: app.world.tick >= 14), (
            f"the run stalled at tick {app.world.tick} after the load"
        )
        assert app.sim_running and "RUNNING" in app.header_text().plain
        await pilot.press("space")
        async with app.sim.lock:  # a tick under way when the pause came ends first; no other starts
            stopped = app.world.tick
        await pilot.pause(0.3)
        assert app.world.tick == stopped and not app.sim_running and "PAUSED" in app.header_text().plain
        await pilot.press("n")  # (the paused loop is a live worker: wait for the tick, not for all workers)
        assert await until(pilot, lambda: app.world.tick == stopped + 1), app.world.tick
        await pilot.press("space")
        assert await until(pilot, lambda: app.world.tick >= stopped + 5), app.world.tick
        await pilot.press("space")


@pytest.mark.parametrize("width,height", [(80, 24), (100, 30)])
async def test_help_reads_well_from_80_columns(world_file, width, height):
    """Every key's description is on screen whole (wrapped at words in its own column, the box within the
    terminal), reachable by scrolling when the terminal is short."""
    from textual.containers import VerticalScroll

    from tui.screens import HELP_KEYS, HELP_NOTES

    app = AgoraApp(world_file)
    async with app.run_test(size=(width, height)) as pilot:
        await start(app, pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.pause()
        box = app.screen.query_one("#help-box")
        assert box.region.x >= 0 and box.region.right <= width and box.region.bottom <= height
        scroller = app.screen.query_one(VerticalScroll)
        seen = ""
        for _ in range(20):
            seen += screen_text(app)
            if scroller.scroll_y >= scroller.max_scroll_y:
                break
            scroller.scroll_to(y=scroller.scroll_y + max(1, scroller.size.height - 1), animate=False)
            await pilot.pause()
        for key, what in HELP_KEYS:
            for word in what.split():
                assert word in seen, (key, word)
        for note in HELP_NOTES:
            assert all(word in seen for word in note.split()), note
        # Laid out at the help text's own width, a description's continuation lines start in the
        # description column, not under the keys, and no line is wider than the box.
        from rich.console import Console

        from tui.screens import help_table

        inner = app.screen.query_one("#help-text", Static).content_size.width
        assert 40 <= inner <= width
        console = Console(width=inner, record=True, file=open(os.devnull, "w"))
        console.print(help_table())
        lines = console.export_text().splitlines()
        assert max(len(line) for line in lines) <= inner
        first = next(i for i, line in enumerate(lines) if "ask the agent shown" in line)
        column = lines[first].index("ask the agent shown")
        assert lines[first + 1][:column].strip() == "" and lines[first + 1][column] != " ", lines[first : first + 2]


async def test_help_and_command_palette(world_file):
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert "run / pause the simulation" in screen_text(app)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for title in (
            "Run/Pause",
            "Tick (step one)",
            "10 ticks (step ten)",
            "Inject a message",
            "Save a snapshot (.snap)",
            "Load a snapshot (.snap)",
            "Detect communities",
            "Help",
            "Quit",
            "Reload plugins",
            "View: dashboard",
            "View: communities",
            "View: agents",
            "View: messages",
            "View: plugins",
            "Use for feeds",
            "Use for friends",
            "Feed recommender: interest",
            "Feed recommender: none",
            "Friend recommender: adamic-adar",
        ):
            assert title in titles
        assert "feed recommender" in HELP and "friend recommender" in HELP
        # What users type finds the action: the palette's own matcher over the titles.
        from textual.fuzzy import Matcher

        for query, meant in (
            ("snap", "Save a snapshot (.snap)"),
            ("snap", "Load a snapshot (.snap)"),
            ("agents", "View: agents"),
            ("step", "Tick (step one)"),
        ):
            assert Matcher(query).match(meant) > 0 and meant in titles, (query, meant)
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        commands["Feed recommender: hot"].callback()
        commands["Friend recommender: random"].callback()
        await app.workers.wait_for_complete()
        assert app.sim.social.settings["recommender"] == "hot"
        assert app.sim.social.settings["friend_recommender"] == "random"
        commands["Use for feeds"].callback()  # the Plugins view's highlighted row: a friend recommender
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app._switcher.current == "plugins" and app.sim.social.settings["recommender"] == "hot"


async def test_plugins_view_shows_failures_and_reloads(world_file, tmp_path):
    folder = tmp_path / "plugs"
    folder.mkdir()
    (folder / "bad.py").write_text("raise RuntimeError('plugin [b]exploded[/b]')\n")
    app = AgoraApp(world_file, plugin_dirs=[str(folder)])
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("5")
        await pilot.pause()
        table = app._views["plugins"].query_one("#plugins", DataTable)
        names = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        assert "bad" in names and "ic" in names
        table.focus()
        table.move_cursor(row=names.index("bad"))
        await pilot.pause()
        detail = str(app._views["plugins"].query_one("#plugin-text", Static).render())
        assert "plugin [b]exploded[/b]" in detail and "Traceback" in detail
        (folder / "bad.py").write_text(
            "from sim.plugin import PropagationModel, StepResult\n"
            "class Fixed(PropagationModel):\n    name = 'fixed'\n    def step(self, ctx):\n        return "
            "StepResult.nothing()\n"
        )
        await pilot.press("r")

        def names():
            return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]

        assert await until(pilot, lambda: "fixed" in names()), names()
        assert "bad" not in names()


async def test_quit_offers_to_save(world_file):
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("n")
        await app.workers.wait_for_complete()
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, QuitScreen)
        # The dialog says which file it writes (the world file, not a snapshot) and what is kept otherwise.
        words = " ".join(screen_text(app).split())
        assert "Save into tui.db and quit" in words and "keeps its last checkpoint (tick 0)" in words, words[-600:]
        await pilot.click("#save")
        await until_exited(app)
    assert (await open_world(world_file)).tick == 1


@pytest.mark.subprocess
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_smoke_real_program_in_a_terminal(world_file, tmp_path):
    """Start the real `agora tui` in a pseudo-terminal, step once, quit saving, check the world file."""
    session = f"agora-smoke-{os.getpid()}"
    env = f"AGORA_SAVES={tmp_path}"
    cmd = f"cd {tmp_path} && {env} {sys.executable} -m sim tui {world_file}"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "150", "-y", "45", cmd], check=True)
    try:

        def screen() -> str:
            return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout

        def wait_for(pattern: str, timeout: float = 60) -> str:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                out = screen()
                if re.search(pattern, out):
                    return out
                time.sleep(0.2)
            raise AssertionError(f"{pattern!r} never appeared; the screen was:\n{screen()}")

        wait_for(r"tick 0 ")
        subprocess.run(["tmux", "send-keys", "-t", session, "n"], check=True)
        wait_for(r"tick 1 ")
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
        wait_for(r"Save into tui\.db and quit")  # the dialog names the file it writes
        subprocess.run(["tmux", "send-keys", "-t", session, "Enter"], check=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if subprocess.run(["tmux", "has-session", "-t", session], capture_output=True).returncode != 0:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("agora did not exit after quitting")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    assert asyncio.run(open_world(world_file)).tick == 1


@pytest.mark.subprocess
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_load_while_running_in_a_real_terminal(world_file, tmp_path):
    """The load-while-running bug, in the real program: run, save, load while running; the run goes on
    from the snapshot's tick, space pauses, n steps one tick."""
    session = f"agora-load-{os.getpid()}"
    cmd = f"cd {tmp_path} && AGORA_SAVES={tmp_path / 'saves'} {sys.executable} -m sim tui {world_file}"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "150", "-y", "45", cmd], check=True)

    def screen() -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout

    def keys(*names: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", session, *names], check=True)

    def wait_for(condition, what: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = screen()
            if condition(out):
                return out
            time.sleep(0.1)
        raise AssertionError(f"{what} never showed; the screen was:\n{screen()}")

    def tick(out: str) -> int:
        found = re.search(r"tick ([\d,]+) ", out)
        return int(found.group(1).replace(",", "")) if found else -1

    try:
        wait_for(lambda o: tick(o) == 0, "tick 0")
        keys("N")
        wait_for(lambda o: tick(o) == 10, "tick 10")
        keys("s")
        wait_for(lambda o: "Save a snapshot as" in o, "the save dialog")
        keys("C-u")  # one key at a time, each seen on screen: a burst can reach the dialog as one paste
        wait_for(lambda o: "tui-tick10" not in o, "the name field cleared")
        keys("at-ten")
        wait_for(lambda o: "at-ten" in o, "the typed name")
        keys("Enter")
        # The toast may wrap (and, in a real terminal after the dialog closed, clip) a long path: the file is
        # read from the disk instead.
        wait_for(lambda o: "snapshot saved at tick 10" in o, "the save's notification")
        assert (tmp_path / "saves" / "at-ten.snap").is_file()
        keys("space")
        wait_for(lambda o: "RUNNING" in o and tick(o) >= 13, "a run past tick 13")
        keys("l")
        wait_for(lambda o: "Load a snapshot from" in o, "the load picker")
        keys("Enter")
        wait_for(lambda o: "snapshot loaded (tick 10)" in o, "the load's notification")
        wait_for(lambda o: "RUNNING" in o and tick(o) >= 14, "the run going on after the load")
        keys("space")
        paused = wait_for(lambda o: "PAUSED" in o, "the pause")
        stopped = tick(paused)
        keys("n")
        wait_for(lambda o: tick(o) == stopped + 1, f"tick {stopped + 1} after n")
        keys("space")
        wait_for(lambda o: "RUNNING" in o and tick(o) >= stopped + 4, "the run going on again")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


# -- the living network ---------------------------------------------------------------------------


def notifications(app) -> list[str]:
    return notified(app)


async def highlight_plugin(app, pilot, key: str) -> DataTable:
    """Show the Plugins view with the registry entry ``key`` highlighted."""
    await pilot.press("5")
    await pilot.pause()
    table = app._views["plugins"].query_one("#plugins", DataTable)
    keys = [k.value for k in table.rows]
    table.move_cursor(row=keys.index(key))
    await pilot.pause()
    return table


async def test_plugins_view_chooses_the_worlds_recommenders(world_file):
    """f and w on the Plugins view set the world's feed and friend recommenders (again: off), the choice
    is kept in world.config["social"] and saved with the world; anything else highlighted is a warning."""
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        table = await highlight_plugin(app, pilot, "interest")
        assert app.focused is table, "the Plugins view's keys work as soon as it is shown"
        footer = screen_text(app)
        assert "Use for feeds" in footer and "Use for friends" in footer
        await pilot.press("f")
        await pilot.pause()
        assert app.sim.social.settings["recommender"] == "interest"
        assert app.world.config["social"]["recommender"] == "interest" and app.sim.dirty
        assert "feed recommender: interest (was none)" in notifications(app)
        await highlight_plugin(app, pilot, "friend-recommender:common-neighbours")
        await pilot.press("w")
        await pilot.pause()
        assert app.sim.social.settings["friend_recommender"] == "common-neighbours"
        assert app.world.config["social"]["friend_recommender"] == "common-neighbours"
        choice = str(app._views["plugins"].query_one("#social-choice", Static).render())
        assert "feed recommender: interest" in choice and "friend recommender: common-neighbours" in choice
        status = table.get_cell("interest", "status")
        assert isinstance(status, Text) and "in use" in status.plain
        # the wrong kind highlighted: nothing changes
        for key, press in (("ic", "f"), ("friend-recommender:random", "f"), ("random", "w")):
            await highlight_plugin(app, pilot, key)
            await pilot.press(press)
            await pilot.pause()
        assert app.sim.social.settings["recommender"] == "interest"
        assert app.sim.social.settings["friend_recommender"] == "common-neighbours"
        assert any("press w" in m for m in notifications(app))
        # choosing the one in use again turns it off
        await highlight_plugin(app, pilot, "friend-recommender:common-neighbours")
        await pilot.press("w")
        await pilot.pause()
        assert app.sim.social.settings["friend_recommender"] == "none"
        assert "friend recommender: off (was common-neighbours)" in notifications(app)
        await highlight_plugin(app, pilot, "friend-recommender:adamic-adar")
        await pilot.press("w")
        await pilot.pause()
        # an unknown name (e.g. from the palette) is an error notification, and nothing changes
        assert await app.set_recommender("feed", "no-such") is False
        await pilot.pause()
        assert app.sim.social.settings["recommender"] == "interest"
        assert any("no-such" in m for m in notifications(app))
        # leaving the view leaves its keys behind
        await pilot.press("1")
        await pilot.pause()
        assert "Use for feeds" not in screen_text(app)
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, QuitScreen)
        # The dialog says which file it writes (the world file, not a snapshot) and what is kept otherwise.
        words = " ".join(screen_text(app).split())
        assert "Save into tui.db and quit" in words and "keeps its last checkpoint (tick 0)" in words, words[-600:]
        await pilot.click("#save")
        await until_exited(app)
    social = (await open_world(world_file)).config["social"]
    assert social["recommender"] == "interest" and social["friend_recommender"] == "adamic-adar"
    con = sqlite3.connect(world_file)
    assert con.execute("SELECT COUNT(*) FROM audit WHERE action = 'social'").fetchone()[0] == 4


async def test_inject_with_a_per_message_recommender(world_file):
    """The inject form's feed choice sets the session's recommender (default: the world's)."""
    from textual.widgets import Select

    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("4")
        select = app._views["messages"].query_one("#msg-recommender", Select)
        assert select.value == "__world__"
        options = [str(prompt) for prompt, _value in select._options]
        assert "feeds: none" in options and "feeds: social-proof" in options and "feeds: random" in options
        select.value = "hot"
        await inject(app, pilot, "with the hot feed")
        select.value = "none"
        await inject(app, pilot, "kept out of feeds")
        select.value = "__world__"
        await inject(app, pilot, "the world's choice")
        assert [s.recommender for s in app.sim.sessions] == ["hot", "none", None]
        table = app._views["messages"].query_one("#sessions", DataTable)
        assert [table.get_cell(str(i), "feed").plain for i in (1, 2, 3)] == ["hot", "none", "world"]
        assert table.get_cell("1", "via_feed").plain == "0"


async def test_dashboard_shows_feed_reach_and_follows(world_file):
    """With a feed and a friend recommender on, a few ticks later the dashboard shows the reach through
    feeds next to the reach through the graph, follows per tick and the recommenders."""
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        assert await app.set_recommender("feed", "interest")
        assert await app.set_recommender("friend", "common-neighbours")
        app.sim.inject("feeds and friends", topics=["ai", "science"], seeds="top:10", params={"p": 0.05}, seed=1)
        await pilot.press("N")
        await app.workers.wait_for_complete()
        await pilot.press("1")
        metrics = app._views["dashboard"].query_one("#metrics", Static)
        assert await until(pilot, lambda: re.search(r"reach: graph ([\d,]+) · feed ([\d,]+)", str(metrics.render())))
        shown = str(metrics.render())
        found = re.search(r"reach: graph ([\d,]+) · feed ([\d,]+)", shown)
        assert found, shown
        graph, feed = (int(x.replace(",", "")) for x in found.groups())
        last = app.sim.metrics[-1]
        assert (graph, feed) == (last["graph_reached"], last["feed_reached"]) and feed > 0 and graph > 0
        follows = re.search(r"follows \(tick\) ([\d,]+)", shown)
        assert follows and int(follows.group(1).replace(",", "")) == last["follows"]
        assert sum(m["follows"] for m in app.sim.metrics) > 0
        assert "recommenders: feed interest · friends common-neighbours" in shown
        # The charts are drawn off the event loop: wait for them (adoptions via the graph and via feeds,
        # follows and unfollows, each a line of a chart with axes).
        assert await until(
            pilot,
            lambda: (
                "via feed" in (text := screen_text(app))
                and "new adoptions per tick" in text
                and "follows & unfollows per tick" in text
            ),
        )
        assert f"edges {last['edges']:,}" in " ".join(shown.split())


async def test_a_failing_recommender_is_a_notification(world_file, tmp_path):
    """A recommender that raises is switched off; the app names it and its error, both literally (its
    name is markup-like on purpose)."""
    folder = tmp_path / "recs"
    folder.mkdir()
    (folder / "broken_feed.py").write_text(
        "from sim.plugin import ContentRecommender\n"
        "class Broken(ContentRecommender):\n    name = 'broken[b]'\n"
        "    def score(self, ctx):\n        raise RuntimeError('feed [b]exploded[/b]')\n"
    )
    app = AgoraApp(world_file, plugin_dirs=[str(folder)])
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        table = await highlight_plugin(app, pilot, "broken[b]")
        await pilot.press("f")
        await pilot.pause()
        assert app.sim.social.settings["recommender"] == "broken[b]"
        assert await until(pilot, lambda: "feed recommender: broken[b]" in screen_text(app))
        select = app._views["messages"].query_one("#msg-recommender")
        assert "feeds: broken[b]" in [str(prompt) for prompt, _value in select._options]
        await inject(app, pilot, "hello", **{"seed-arg": "5"})
        for _ in range(2):  # the session starts in the first tick; its feeds come in the second
            await pilot.press("n")
            await app.workers.wait_for_complete()
        await pilot.pause()
        failed = [m for m in notifications(app) if "failed" in m]
        assert any("content recommender broken[b]" in m and "feed [b]exploded[/b]" in m for m in failed), failed
        await pilot.press("5")
        await pilot.pause()
        assert "failed at run time" in table.get_cell("broken[b]", "status").plain
        detail = str(app._views["plugins"].query_one("#plugin-text", Static).render())
        assert "feed [b]exploded[/b]" in detail and "Traceback" in detail
        assert "(failed, switched off)" in str(app._views["plugins"].query_one("#social-choice", Static).render())
        await pilot.press("1")
        log = app._views["dashboard"].query_one("#log", Log)
        assert await until(pilot, lambda: "recommenders: feed broken[b] (failed: off)" in screen_text(app))
        assert any("broken[b] FAILED" in line and "feed [b]exploded[/b]" in line for line in log.lines)


async def test_messages_view_shows_the_states_and_a_variable_of_the_highlighted_session(world_file, tmp_path):
    """A model with a continuous variable (the opinion template, its state names made hostile): the
    session panel shows each state's count, the variable's histogram and its mean per community, and the
    names literally."""
    from textual.widgets import Select

    from sim.authoring import new_plugin

    folder = tmp_path / "plugs"
    model_path, _ = new_plugin("views_opinion", str(folder), "opinion")
    src = open(model_path).read().replace('states = ("0", "1")', 'states = ("[b]low[/b]", "high")')
    open(model_path, "w").write(src)
    app = AgoraApp(world_file, plugin_dirs=[str(folder)])
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("4")
        app._views["messages"].query_one("#model", Select).value = "views_opinion"
        await inject(app, pilot, "an opinion", **{"seed-arg": "50"})
        for _ in range(4):  # the first tick seeds the session (round 0), then three rounds
            await pilot.press("n")
            await app.workers.wait_for_complete()
        session = app.sim.sessions[0]
        assert session.round == 3 and "opinion" in session.variables
        widget = app._views["messages"].query_one("#session-detail")
        assert await until(pilot, lambda: "round 3" in str(widget.border_title))
        text = screen_text(app)
        counts = session.state_counts
        assert "[b]low[/b]" in text and "high" in text
        assert f"{int(counts[0]):,}" in text and f"{int(counts[1]):,}" in text
        x = session.variables["opinion"]
        assert f"mean {x.mean():.4g}" in text and "mean per community" in text
        import numpy as np

        hist, _ = np.histogram(x, bins=10, range=(float(x.min()), float(x.max())))
        assert f"{int(hist[0]):,}" in text


async def test_footer_shows_the_keys_of_the_view_and_a_click_presses_one(world_file):
    """The key bar is one line of text redrawn only when the keys shown change (Textual's footer
    remounted some twenty widgets on every view switch); a click on a key presses it."""
    from tui.widgets import KeyBar

    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        bar = app.query_one(KeyBar)
        assert "space Run/Pause" in bar.render().plain and "123456 views" in bar.render().plain
        assert bar.render().plain.rstrip().endswith("? Help  q Quit  ^p palette")
        assert "a Ask" not in bar.render().plain
        await pilot.press("3", "escape")  # the view opens in its search box: escape gives the keys back
        assert await until(pilot, lambda: "a Ask" in bar.render().plain)  # the Agents view's own key
        shown = bar._shown
        updates = []
        original = bar.refresh
        bar.refresh = lambda *a, **k: (updates.append(a), original(*a, **k))[1]
        app.screen.refresh_bindings()
        await pilot.pause()
        assert bar._shown == shown and updates == []  # nothing changed: nothing redrawn
        assert not bar.children
        await pilot.press("1")
        assert await until(pilot, lambda: "a Ask" not in bar.render().plain)
        bar.refresh = original
        start_x = next(a for a, _b, key in bar._spans if key == "question_mark")
        await pilot.click(KeyBar, offset=(start_x, 0))
        assert await until(pilot, lambda: isinstance(app.screen, HelpScreen))


async def test_refresh_with_nothing_new_updates_no_widget(world_file):
    """Ten refreshes a second must not redraw what did not change (each update made Textual lay the
    screen out again: at a million agents that is what kept keys waiting): paused, a refresh updates
    neither the header nor the dashboard's text; a tick updates the header, with no layout pass."""
    from tui.views import show

    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        app.refresh_ui()
        widgets = [app._status, app._views["dashboard"].query_one("#metrics", Static)]
        calls: list[tuple[str, bool]] = []

        def recording(original, wid):
            def update(*a, layout=True, **k):
                calls.append((wid, layout))
                return original(*a, layout=layout, **k)

            return update

        for w in widgets:
            w.update = recording(w.update, w.id)
        for _ in range(5):
            app.refresh_ui()
        assert calls == []
        await pilot.press("n")
        assert await until(pilot, lambda: app.world.tick == 1)
        app.refresh_ui()
        assert ("status", False) in calls  # the tick changed: the header is redrawn, its shape is not
        assert show(app._status, app.header_text()) is False  # the same text again: nothing to do


async def test_footer_keeps_help_and_quit_at_80_columns(world_file):
    from tui.widgets import KeyBar

    app = AgoraApp(world_file)
    async with app.run_test(size=(80, 24)) as pilot:
        await start(app, pilot)
        line = app.query_one(KeyBar).render().plain
        assert line.rstrip().endswith("? Help  q Quit  ^p palette") and "…" in line
        assert len(line) <= 80


async def test_the_heap_is_frozen_while_the_app_runs_and_thawed_after(world_file):
    """Full garbage collections scanning the world and every widget were the worst keypress times: the
    app freezes what is alive once a world is attached, makes full passes rarer, and undoes both."""
    import gc

    from tui.app import FULL_GC_THRESHOLD

    before = gc.get_threshold()
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        assert gc.get_freeze_count() > 1000
        assert gc.get_threshold()[2] == FULL_GC_THRESHOLD
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == before


# -- issue 29: every readout from its one source of truth ---------------------------------------------


def dashboard_text(app) -> str:
    return " ".join(str(app._views["dashboard"].query_one("#metrics", Static).render()).split())


def dashboard_figure(app, label: str) -> str:
    """The dashboard's figure after ``label`` (as shown, e.g. ``"1,234"`` or ``"-"``)."""
    found = re.search(re.escape(label) + r" (-|[\d,.]+(?: t/s(?: \(was [\d.]+\))?)?)", dashboard_text(app))
    assert found, (label, dashboard_text(app))
    return found.group(1)


def header_rate(app) -> str:
    """The tick rate the header shows (``"9.8 t/s"``, ``"0.0 t/s (was 9.8)"``)."""
    found = re.search(r"(\d[\d.]* t/s(?: \(was [\d.]+\))?) \(pace", str(app._status.render()))
    assert found, str(app._status.render())
    return found.group(1)


def rates_shown(app) -> tuple[str, str]:
    """The tick rate in the header and on the dashboard, as last drawn."""
    return header_rate(app), dashboard_figure(app, "tick rate")


async def test_tick_rate_is_the_worlds_and_the_same_in_header_and_dashboard(world_file):
    """The tick rate is ticks over the last two seconds of tick completion times: it follows a change of
    pace at once (a count over the last 50 ticks lagged, 4.3, 5.4, 6.1 while 10 ticks/s ran), and the
    header and the dashboard show one figure, read once per refresh (the header said "PAUSED 0.0 t/s"
    while the dashboard said 76.9). Paused, both say 0.0 and the rate the run had.

    First on the real clock (the two agree, running and paused); then on a clock that is the world's
    own ticks: 30 ticks at 2 a second, then 10 a second, so the rate must read exactly 10.0."""
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        app.speed_index = SPEEDS.index(0)
        await pilot.press("space")
        assert await until(pilot, lambda: app.world.tick >= 15 and header_rate(app) != "0.0 t/s")
        for _ in range(5):  # each refresh: the same figure in both places
            app.refresh_ui()
            header, body = rates_shown(app)
            assert header == body and float(header.split()[0]) > 0, (header, body)
            await pilot.pause(0.05)
        await pilot.press("space")
        assert await until(pilot, lambda: not app.ticking)
        app.refresh_ui()
        header, body = rates_shown(app)
        assert header == body and re.fullmatch(r"0\.0 t/s \(was [\d.]+\)", header), (header, body)
        assert float(header.split("was ")[1].rstrip(")")) > 0

        # A clock that is the world's tick count: the rate the world ran at is known exactly.
        base = app.world.tick

        def clock() -> float:
            t = app.world.tick - base
            return 0.5 * min(t, 30) + 0.1 * max(0, t - 30)

        app.tick_rate.clock = clock
        app.tick_rate.reset()
        await pilot.press("space")
        assert await until(pilot, lambda: app.world.tick >= base + 60)
        # Over the last two (world) seconds 10 ticks a second ran; the 30 slow ticks before do not count.
        assert await until(pilot, lambda: rates_shown(app) == ("10.0 t/s", "10.0 t/s")), rates_shown(app)
        await pilot.press("space")
        assert await until(pilot, lambda: not app.ticking)
        app.refresh_ui()
        assert rates_shown(app) == ("0.0 t/s (was 10.0)", "0.0 t/s (was 10.0)")


async def test_session_counts_are_the_worlds_sessions_by_status(world_file):
    """Running, queued, completed and failed sessions on the dashboard are the world's sessions by status
    now: a session injected since the last tick is queued at once (the dashboard said 0), and one
    waiting behind the cap on running sessions is queued too."""
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        app.sim.max_running = 1

        def by_status(status: str) -> int:
            return sum(1 for s in app.world.sessions if s.status == status)

        def agrees() -> bool:
            return all(
                dashboard_figure(app, f"{status} sessions") == f"{by_status(status):,}"
                for status in ("running", "queued", "completed")
            )

        await inject(app, pilot, "first", **{"seed-arg": "5"})
        await inject(app, pilot, "second", **{"seed-arg": "5"})
        await pilot.press("1")
        assert by_status("queued") == 2
        assert await until(pilot, agrees), dashboard_text(app)
        assert dashboard_figure(app, "queued sessions") == "2"
        await pilot.press("n")
        assert await until(pilot, lambda: app.world.tick == 1 and not app.ticking)
        assert by_status("running") == 1 and by_status("queued") == 1, "the cap holds the second back"
        assert await until(pilot, agrees), dashboard_text(app)
        app.sim.inject("third", seeds="random:5", seed=3)
        assert await until(pilot, lambda: dashboard_figure(app, "queued sessions") == "2"), dashboard_text(app)
        assert agrees()


async def test_after_a_load_the_dashboard_reads_the_loaded_world(world_file, tmp_path):
    """A snapshot at tick 10 with a session that reached agents, loaded: the dashboard's total reached,
    reach through the graph and session counts are the loaded world's sessions' (it said "total
    reached 0"), the figures of one tick read "-" (no tick of it ran here, not 0), and the per-tick
    charts say since which tick they are empty (they said "no tick yet" for a world at tick 41)."""
    from tui.charts import Chart

    saves = tmp_path / "saves"
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        app.sim.inject("spreads", seeds="top:10", params={"p": 0.2}, seed=1)
        await save_at_ten(app, pilot, saves)
        reached = sum(s.reached for s in app.world.sessions)
        assert reached > 10
        await pilot.press("N")
        await app.workers.wait_for_complete()
        await pilot.press("l")
        assert await until(pilot, lambda: isinstance(app.screen, LoadScreen))
        await pilot.pause()
        await pilot.press("enter")
        assert await until(pilot, lambda: app.world.tick == 10 and not app.busy), app.world.tick
        await pilot.press("1")
        sessions = app.world.sessions
        assert sum(s.reached for s in sessions) == reached
        assert await until(pilot, lambda: dashboard_figure(app, "total reached") == f"{reached:,}"), dashboard_text(app)
        graph = sum(s.graph_reached for s in sessions)
        assert f"reach: graph {graph:,} · feed 0" in dashboard_text(app)
        for status in ("running", "queued", "completed"):
            assert dashboard_figure(app, f"{status} sessions") == f"{sum(s.status == status for s in sessions):,}"
        for label in ("new adoptions (tick)", "follows (tick)", "edge attempts/s"):
            assert dashboard_figure(app, label) == "-", label
        chart = app._views["dashboard"].query_one("#new-chart", Chart)
        assert await until(
            pilot,
            lambda: (
                chart.settled
                and chart.spec is not None
                and chart.spec.hint == "no tick run since the world was opened or loaded at tick 10"
            ),
        ), chart.spec
        await pilot.press("n")
        assert await until(pilot, lambda: app.world.tick == 11 and not app.ticking)
        last = app.sim.metrics[-1]
        assert await until(pilot, lambda: dashboard_figure(app, "new adoptions (tick)") == f"{last['new_adoptions']:,}")
        assert dashboard_figure(app, "total reached") == f"{sum(s.reached for s in app.world.sessions):,}"


def test_match_labels_keeps_ids_where_most_members_agree():
    """A detected community takes the id of the community most of its members were in; a split keeps the
    id for the larger part; a community with no majority gets a new id above every previous one; an id
    whose community is gone is not reused; -1 stays -1."""
    import numpy as np

    from sim.analysis.structure import match_labels

    previous = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 5, 5, -1, -1])
    # detected 0 = old 1 exactly; detected 1 = most of old 0, detected 2 the rest of it (a split: 1 wins
    # id 0, 2 is new); detected 3 = half old 2 and half old 5 (no majority: new); detected 4 = two agents
    # of old 2 and one of no community (a majority: id 2). Old 5 is gone: id 5 is not reused.
    detected = np.array([1, 1, 1, 2, 0, 0, 0, 0, 3, 3, 4, 4, 3, 3, 4, -1])
    labels, kept = match_labels(previous, detected)
    assert labels.dtype == np.int32
    assert labels.tolist() == [0, 0, 0, 6, 1, 1, 1, 1, 7, 7, 2, 2, 7, 7, 2, -1]
    assert kept == 3
    # Matching a labelling against itself changes nothing; against nothing, new ids from 0 in label order.
    same, kept_all = match_labels(labels, labels)
    assert same.tolist() == labels.tolist() and kept_all == 5
    fresh, none_kept = match_labels(np.full(4, -1), np.array([1, 0, 1, -1]))
    assert fresh.tolist() == [1, 0, 1, -1] and none_kept == 0


async def test_community_ids_stay_what_they_were_after_detection(world_file):
    """The ids shown before c (the world's planted communities) stay after c: each detected community has
    the id of the planted community most of its members are in (checked against a plain count per
    community); pressing c again changes no id; the view says what the ids are."""
    import numpy as np

    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("2")
        planted = app.world.columns["community"].copy()
        await pilot.press("c")
        await app.workers.wait_for_complete()
        detected = app.world.columns["community"].copy()
        rec = app.world.config["analysis"]["communities"]
        first_new = int(planted.max()) + 1
        for cid in np.unique(detected[detected >= 0]):
            members = planted[detected == cid]
            values, counts = np.unique(members[members >= 0], return_counts=True)
            if cid < first_new:
                assert 2 * counts[values == cid].sum() > members.size, f"community {cid} is not mostly planted {cid}"
            elif values.size and 2 * counts.max() > members.size:  # new, though most members share a planted id:
                majority = values[np.argmax(counts)]  # only when another community won that id
                assert (detected == majority).any(), f"community {cid} is new, but no community kept id {majority}"
        same = np.mean(detected[planted >= 0] == planted[planted >= 0])
        assert same > 0.8, f"only {same:.0%} of the agents kept their community id"
        assert rec["kept"] >= 2
        await pilot.press("c")
        await app.workers.wait_for_complete()
        assert (app.world.columns["community"] == detected).all(), "a second detection renumbered communities"
        log = app._views["dashboard"].query_one("#log", Log)
        assert any(f"{rec['kept']:,} kept their ids" in line for line in log.lines)
        again = app.world.config["analysis"]["communities"]
        assert again["kept"] == again["count"], "the same partition again: every community keeps its id"
        words = "none is new"
        caption = app._views["communities"].query_one("#comm-caption", Static)
        assert await until(
            pilot, lambda: "each keeps the id" in (text := " ".join(str(caption.render()).split())) and words in text
        ), str(caption.render())


async def test_a_failed_sessions_whole_traceback_is_in_the_messages_view(world_file, tmp_path):
    """A model that raises deep in its own code: the Messages view's session panel shows the error and the
    whole traceback (every line, scrollable to its last), literally (its markup-like text is not markup)."""
    from textual.containers import VerticalScroll

    folder = tmp_path / "plugs"
    folder.mkdir()
    # Thirty distinct frames (Python folds a frame repeated more than three times into one line).
    frames = "".join(f"def f{i}():\n    return f{i - 1}()\n" for i in range(1, 31))
    (folder / "boom.py").write_text(
        "from sim.plugin import PropagationModel, StepResult\n"
        "def f0():\n    raise RuntimeError('model [b]exploded[/b] [link=x]here[/link]')\n"
        + frames
        + "class Boom(PropagationModel):\n    name = 'boom'\n"
        "    def step(self, ctx):\n        return f30()\n"
    )
    app = AgoraApp(world_file, plugin_dirs=[str(folder)])
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        session = app.sim.inject("doomed", seeds="random:5", model="boom", seed=1)
        for _ in range(2):  # the session starts in the first tick and steps (and fails) in the second
            await pilot.press("n")
            await app.workers.wait_for_complete()
        assert session.status == "failed" and session.traceback and "[b]exploded[/b]" in session.traceback
        assert any(f"session {session.id} failed" in m and "Messages view" in m for m in notifications(app))
        await pilot.press("4")
        view = app._views["messages"]
        text = view.query_one("#session-text", Static)
        assert await until(pilot, lambda: "Traceback" in str(text.render()))
        shown_text = str(text.render())
        assert "model [b]exploded[/b] [link=x]here[/link]" in shown_text
        tb_lines = session.traceback.rstrip("\n").splitlines()
        assert len(tb_lines) > 60
        assert "\n".join(tb_lines) in shown_text, "the traceback is shown whole"
        box = view.query_one("#session-detail", VerticalScroll)
        assert box.max_scroll_y > 0, "a long traceback scrolls"
        box.scroll_end(animate=False)
        assert await until(pilot, lambda: "RuntimeError: model [b]exploded[/b]" in screen_text(app))


async def test_a_failing_friend_recommender_is_named_switched_off_and_its_traceback_shown(world_file, tmp_path):
    """A friend recommender that raises: the notification names it, says it was switched off and where its
    traceback is; the Plugins view shows the traceback; the world runs on without it."""
    folder = tmp_path / "friends"
    folder.mkdir()
    (folder / "broken_friends.py").write_text(
        "from sim.plugin import FriendRecommender\n"
        "class Broken(FriendRecommender):\n    name = 'pals[i]'\n"
        "    def suggest(self, ctx):\n        raise ValueError('friends [i]gone[/i]')\n"
    )
    app = AgoraApp(world_file, plugin_dirs=[str(folder)])
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        assert await app.set_recommender("friend", "pals[i]")
        await pilot.press("n")
        assert await until(pilot, lambda: any("failed and was switched off" in m for m in notifications(app)))
        message = next(m for m in notifications(app) if "failed and was switched off" in m)
        assert "friend recommender pals[i]" in message and "friends [i]gone[/i]" in message
        assert "Plugins view" in message
        assert "friend:pals[i]" in app.sim.social.errors
        await highlight_plugin(app, pilot, "friend-recommender:pals[i]")
        detail = str(app._views["plugins"].query_one("#plugin-text", Static).render())
        assert "switched off" in detail and "Traceback" in detail and "friends [i]gone[/i]" in detail
        await pilot.press("n")
        assert await until(pilot, lambda: app.world.tick == 2 and not app.ticking)


async def test_save_and_load_notifications_quote_the_whole_path(world_file, tmp_path):
    """Saving and loading name the snapshot's whole path, on a line of its own, never cut."""
    saves = tmp_path / "saves"
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await save_at_ten(app, pilot, saves)
        path = str(saves / "at-ten.snap")
        assert await until(pilot, lambda: any(path in m.splitlines() for m in notifications(app)))
        await pilot.press("l")
        assert await until(pilot, lambda: isinstance(app.screen, LoadScreen))
        await pilot.pause()
        await pilot.press("enter")
        assert await until(
            pilot, lambda: any(m.startswith("snapshot loaded") and path in m.splitlines() for m in notifications(app))
        )
