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
from rich.text import Text
from textual.widgets import DataTable, Input, Log, Static

from sim.create import synthetic_world
from sim.store import open_world, save_world
from tui.app import SPEEDS, AgoraApp
from tui.screens import HelpScreen, LoadScreen, QuitScreen, SaveScreen

MARKUP = "[bold red]X[/bold red] [link=http://x]y[/link] [/"
SIZE = (150, 48)


@pytest.fixture
def world_file(tmp_path):
    path = str(tmp_path / "tui.db")
    asyncio.run(save_world(synthetic_world("tui", 2000, avg_degree=8, seed=5), path))
    return path


async def start(app, pilot):
    await asyncio.wait_for(app.ready.wait(), 30)
    await pilot.pause()


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
        # the footer shows the keys
        assert "Tick" in screen_text(app) and "Inject" in screen_text(app)


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
        deadline = time.monotonic() + 10
        while app.world.tick < 20 and time.monotonic() < deadline:
            await pilot.pause(0.05)
        assert app.world.tick >= 20 and app.sim_running
        assert "RUNNING" in app.header_text().plain
        await pilot.press("space")
        await pilot.pause(0.3)
        stopped = app.world.tick
        await pilot.pause(0.3)
        assert app.world.tick == stopped and not app.sim_running


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
        assert MARKUP in screen_text(app)
        await pilot.press("n")
        await app.workers.wait_for_complete()
        table.focus()
        await pilot.press("x")
        await pilot.pause()
        assert app.sim.sessions[0].status == "cancelled"
        await pilot.press("1")
        await pilot.pause(0.2)
        log = app._views["dashboard"].query_one("#log", Log)
        assert any(MARKUP in line for line in log.lines)


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


async def test_communities_view_lists_planted_communities_and_filters(world_file):
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("2")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause(0.3)
        table = app._views["communities"].query_one("#comm-table", DataTable)
        assert table.row_count == app.world.num_communities
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
        await pilot.pause(0.3)
        await app.workers.wait_for_complete()
        await pilot.pause(0.3)
        rec = app.world.config["analysis"]["communities"]
        assert rec["count"] >= 2 and rec["modularity"] > 0.3
        assert not (app.world.columns["community"] == planted).all(), "labels are recomputed (0 is the largest)"
        table = app._views["communities"].query_one("#comm-table", DataTable)
        assert table.row_count == min(rec["count"], 200)
    con = sqlite3.connect(world_file)
    assert con.execute("SELECT COUNT(*) FROM communities").fetchone()[0] == rec["count"]


async def test_save_and_load_snapshots(world_file, tmp_path):
    saves = tmp_path / "saves"
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("N")
        await app.workers.wait_for_complete()
        await pilot.press("s")
        assert isinstance(app.screen, SaveScreen)
        app.screen.query_one("#snapshot-name", Input).value = "at-ten"
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        assert (saves / "at-ten.snap").exists()
        await pilot.press("n")
        await app.workers.wait_for_complete()
        assert app.world.tick == 11
        (saves / "broken.snap").write_bytes(b"AGORASNP\x01 this is not a snapshot")
        os.utime(saves / "broken.snap", (time.time() + 5, time.time() + 5))
        await pilot.press("l")
        assert isinstance(app.screen, LoadScreen)
        await pilot.pause()
        await pilot.press("enter")  # the newest first: the broken one
        await app.workers.wait_for_complete()
        assert app.world.tick == 11, "a bad snapshot leaves the world as it was"
        await pilot.press("l")
        await pilot.pause()
        await pilot.press("down", "enter")
        await app.workers.wait_for_complete()
        assert app.world.tick == 10
        await pilot.press("n")
        await app.workers.wait_for_complete()
    reopened = await open_world(world_file)
    assert reopened.tick >= 10
    con = sqlite3.connect(world_file)
    actions = [r[0] for r in con.execute("SELECT action FROM audit ORDER BY id")]
    assert "save" in actions and "load" in actions


async def test_help_and_command_palette(world_file):
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert "space" in str(app.screen.query_one("#help-text", Static).render())
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for title in ("Run/Pause", "Tick", "10 ticks", "Inject", "Save", "Load", "Communities", "Help", "Quit", "Reload plugins"):
            assert title in titles


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
            "class Fixed(PropagationModel):\n    name = 'fixed'\n    def step(self, ctx):\n        return StepResult.nothing()\n")
        await pilot.press("r")
        await pilot.pause(0.2)
        names = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        assert "fixed" in names and "bad" not in names


async def test_quit_offers_to_save(world_file):
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("n")
        await app.workers.wait_for_complete()
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, QuitScreen)
        await pilot.click("#save")
        await pilot.pause(0.5)
    assert (await open_world(world_file)).tick == 1


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

        def wait_for(pattern: str, timeout: float = 30) -> str:
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
        wait_for(r"Save before quitting")
        subprocess.run(["tmux", "send-keys", "-t", session, "Enter"], check=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if subprocess.run(["tmux", "has-session", "-t", session], capture_output=True).returncode != 0:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("agora did not exit after quitting")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    assert asyncio.run(open_world(world_file)).tick == 1
