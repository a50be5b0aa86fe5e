"""The audit log: every user action that changes a world is appended once, with its time and details —
from the command line, from the terminal UI and through the Python API — and ``agora audit`` shows it.

The actions: inject, cancel (recorded by the simulation itself), run, save, load, analysis, social,
llm settings, plugin_reload, interview.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections import Counter

import pytest
from textual.widgets import DataTable, Input

from sim.cli.main import main
from sim.core.audit import append_audit, public_settings, read_audit
from sim.store.create import synthetic_world
from sim.store.worldfile import open_world, save_world

HOSTILE = "\x1b[31mRED\x1b[0m [b]x[/b] Robert'); DROP TABLE audit;-- \u202eevil"
SIZE = (150, 48)


def audit_rows(path: str) -> list[tuple[float, str, dict]]:
    con = sqlite3.connect(path)
    try:
        return [
            (ts, action, json.loads(details))
            for ts, action, details in con.execute("SELECT ts, action, details FROM audit ORDER BY id")
        ]
    finally:
        con.close()


def actions(path: str) -> list[str]:
    return [a for _, a, _ in audit_rows(path)]


def one(path: str, action: str) -> dict:
    rows = [d for _, a, d in audit_rows(path) if a == action]
    assert len(rows) == 1, (action, rows)
    return rows[0]


@pytest.fixture
def world_file(tmp_path):
    path = str(tmp_path / "w.db")
    asyncio.run(save_world(synthetic_world("audit", 1500, avg_degree=6, seed=4), path))
    return path


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


# -- the command line ----------------------------------------------------------------------------------


def test_every_cli_action_is_audited_once_with_its_details(world_file, tmp_path, capsys):
    t0 = time.time()
    assert actions(world_file) == []
    code, _, err = cli(
        capsys,
        "run",
        world_file,
        "--steps",
        "3",
        "--inject",
        HOSTILE,
        "--topic",
        "ai",
        "--seeds",
        "random:5",
        "--model",
        "ic",
        "--param",
        "p=0.05",
        "--social",
        "join_rate=0.001",
    )
    assert code == 0, err
    assert actions(world_file) == ["inject", "run"]
    inject = one(world_file, "inject")
    assert inject["text"] == HOSTILE and inject["topics"] == ["ai"] and inject["model"] == "ic"
    assert inject["params"]["p"] == 0.05 and inject["seeds"] == "random:5" and inject["message"] == 1
    run = one(world_file, "run")
    assert run["ticks"] == 3 and run["tick"] == 3 and run["steps"] == 3 and run["session"] == 1
    assert run["social"] == {"join_rate": "0.001"}  # as given

    # A repeated run (--runs) leaves the world, and so its log, alone.
    assert cli(capsys, "run", world_file, "--steps", "2", "--inject", "x", "--runs", "2")[0] == 0
    assert actions(world_file) == ["inject", "run"]

    assert cli(capsys, "social", world_file, "--recommender", "hot")[0] == 0
    assert one(world_file, "social") == {"recommender": "hot"}
    assert cli(capsys, "social", world_file)[0] == 0  # showing changes nothing
    assert cli(capsys, "llm", world_file, "--set", "calls_per_tick=7")[0] == 0
    assert one(world_file, "llm settings") == {"calls_per_tick": "7"}
    # Where requests go is the user's (environment and flags), never the world file's: refused, not audited.
    assert cli(capsys, "llm", world_file, "--set", "base_urls=http://user:pw@127.0.0.1:9/v1?token=t")[0] == 2
    assert cli(capsys, "interview", world_file, "3", HOSTILE)[0] == 0
    assert one(world_file, "interview") == {"agent": 3, "question": HOSTILE, "source": "offline"}

    snap = str(tmp_path / "w.snap")
    assert cli(capsys, "save", world_file, snap)[0] == 0
    saved = one(world_file, "save")
    assert saved["snapshot"] == snap and saved["tick"] == 3 and saved["size_bytes"] > 0
    before = audit_rows(world_file)
    # Loading over the world keeps its log and adds the load.
    assert cli(capsys, "load", snap, world_file, "--force")[0] == 0
    after = audit_rows(world_file)
    assert after[: len(before)] == before and [a for _, a, _ in after[len(before) :]] == ["load"]
    assert one(world_file, "load") == {"snapshot": snap, "tick": 3}
    # A fresh world from a snapshot starts its log with the load.
    fresh = str(tmp_path / "fresh.db")
    assert cli(capsys, "load", snap, fresh)[0] == 0
    assert actions(fresh) == ["load"]

    rows = audit_rows(world_file)
    assert Counter(a for _, a, _ in rows) == Counter(
        {"inject": 1, "run": 1, "social": 1, "llm settings": 1, "interview": 1, "save": 1, "load": 1}
    )
    stamps = [ts for ts, _, _ in rows]
    assert stamps == sorted(stamps) and t0 - 1 <= stamps[0] and stamps[-1] <= time.time() + 1

    # agora audit: JSON, the latest N, one action, and a text form safe for a terminal.
    code, out, _ = cli(capsys, "audit", world_file, "--json")
    data = json.loads(out)
    assert [e["action"] for e in data["entries"]] == [a for _, a, _ in rows]
    assert data["entries"][0]["details"]["text"] == HOSTILE and data["entries"][0]["time"].endswith("+00:00")
    code, out, _ = cli(capsys, "audit", world_file, "--json", "--limit", "2")
    assert [e["action"] for e in json.loads(out)["entries"]] == ["save", "load"]
    code, out, _ = cli(capsys, "audit", world_file, "--json", "--action", "inject")
    assert [e["details"]["message"] for e in json.loads(out)["entries"]] == [1]
    code, out, _ = cli(capsys, "audit", world_file)
    assert code == 0 and len(out.splitlines()) == len(rows) and "\x1b" not in out and "\u202e" not in out
    assert "inject" in out and "\\u001b[31mRED" in out  # JSON's own escape, literal
    code, _, err = cli(capsys, "audit", str(tmp_path / "missing.db"))
    assert code == 2 and err.count("\n") == 1 and "no world file" in err


# -- the Python API --------------------------------------------------------------------------------------


async def test_inject_and_cancel_are_audited_by_the_simulation_once(world_file):
    from sim.engine.simulation import Simulation
    from sim.errors import BadParameterError
    from sim.store.writer import WorldWriter

    w = await open_world(world_file)
    writer = await WorldWriter(world_file).start()
    sim = Simulation(w, writer=writer)
    a = sim.inject(HOSTILE, seeds="random:4", params={"p": 0.1})
    b = sim.inject("second", seeds="random:4", priority=3, recommender="none")
    await sim.step()
    sim.cancel(a.id)
    sim.cancel(a.id)  # already cancelled: nothing changes, nothing recorded
    with pytest.raises(BadParameterError):
        sim.inject("", seeds="random:4")  # refused: nothing recorded
    await writer.close()
    rows = audit_rows(world_file)
    assert [a for _, a, _ in rows] == ["inject", "inject", "cancel"]
    assert rows[0][2]["text"] == HOSTILE and rows[0][2]["params"]["p"] == 0.1
    assert rows[1][2]["priority"] == 3 and rows[1][2]["recommender"] == "none" and rows[1][2]["session"] == b.id
    assert rows[2][2] == {"session": a.id, "message": a.message_id, "tick": 1, "reached": a.reached}
    # Without a writer (a world in memory, sweeps, --runs) nothing is recorded and nothing fails.
    mem = Simulation(synthetic_world("m", 300, avg_degree=4, seed=1))
    s = mem.inject("x", seeds="random:2")
    mem.cancel(s.id)


def test_the_audit_helpers():
    assert public_settings({"base_urls": "http://a:b@h:1/v1,https://h2/v1?key=k", "model": "m"}) == {
        "base_urls": ["http://h:1/v1", "https://h2/v1"],
        "model": "m",
    }


def test_append_and_read_audit(world_file):
    append_audit(world_file, "custom", {"text": HOSTILE, "n": 1})
    rows = read_audit(world_file)
    assert rows[-1]["action"] == "custom" and rows[-1]["details"] == {"text": HOSTILE, "n": 1}
    raw = sqlite3.connect(world_file).execute("SELECT details FROM audit").fetchone()[0]
    assert raw.isascii() and "\x1b" not in raw  # the stored JSON is plain ASCII


# -- the terminal UI ---------------------------------------------------------------------------------------


async def test_every_tui_action_is_audited_once(world_file, tmp_path):
    from tui.app import AgoraApp
    from tui.screens import AskScreen, LoadScreen, SaveScreen

    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(app.ready.wait(), 30)
        await pilot.pause()
        # inject through the form, then cancel it (x in the Messages view)
        await pilot.press("i")
        view = app._views["messages"]
        view.query_one("#msg-text", Input).value = HOSTILE
        view.query_one("#seed-arg", Input).value = "4"
        await pilot.pause()
        await pilot.click("#inject")
        await pilot.pause()
        await pilot.press("n")
        await app.workers.wait_for_complete()
        view.query_one("#sessions", DataTable).focus()
        await pilot.press("x")
        await pilot.pause()
        assert app.sim.sessions[0].status == "cancelled"
        # the world's feed recommender (f in the Plugins view) and a plugin reload (r)
        await pilot.press("5")
        await pilot.pause()
        table = app._views["plugins"].query_one("#plugins", DataTable)
        table.move_cursor(row=[k.value for k in table.rows].index("hot"))
        await pilot.pause()
        await pilot.press("f")
        await pilot.pause()
        assert app.sim.social.settings["recommender"] == "hot"
        await pilot.press("r")
        await pilot.pause()
        # communities (c)
        await pilot.press("c")
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)
        await app.workers.wait_for_complete()
        # an interview (a in the Agents view)
        await pilot.press("3", "escape")  # the Agents view opens in its search box: escape leaves it
        app._views["agents"].show(3)
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, AskScreen)
        app.screen.query_one("#ask-question", Input).value = HOSTILE
        await pilot.press("enter")
        deadline = time.monotonic() + 60
        while app.screen.answer is None and time.monotonic() < deadline:
            await pilot.pause(0.05)
        assert app.screen.answer is not None, "the interview was not answered"
        await pilot.press("escape")
        # save a snapshot (s), then load it (l)
        await pilot.press("s")
        assert isinstance(app.screen, SaveScreen)
        app.screen.query_one("#snapshot-name", Input).value = "audited"
        await pilot.press("enter")
        # The dialog's answer starts the save worker through a chain of messages: wait for its result.
        deadline = time.monotonic() + 60
        while (app.busy or not (tmp_path / "saves" / "audited.snap").exists()) and time.monotonic() < deadline:
            await pilot.pause(0.05)
        await app.workers.wait_for_complete()
        await pilot.press("l")
        await pilot.pause()
        assert isinstance(app.screen, LoadScreen)
        before = app.world
        await pilot.press("enter")
        deadline = time.monotonic() + 60  # the load worker, started through the dialog's answer
        while (app.busy or app.world is before) and time.monotonic() < deadline:
            await pilot.pause(0.05)
        await app.workers.wait_for_complete()
        await pilot.pause()
        # speed and views change no world: not audited
        await pilot.press("plus", "minus", "1")
    rows = audit_rows(world_file)
    counts = Counter(a for _, a, _ in rows)
    assert counts == Counter(
        {"inject": 1, "cancel": 1, "social": 1, "plugin_reload": 1, "analysis": 1, "interview": 1, "save": 1, "load": 1}
    ), rows
    assert [a for _, a, _ in rows][:2] == ["inject", "cancel"]
    details = {a: d for _, a, d in rows}
    assert details["inject"]["text"] == HOSTILE and details["inject"]["seeds"] == "random:4"
    assert details["cancel"]["session"] == 1
    assert details["social"] == {"recommender": "hot", "was": "none"}
    assert details["plugin_reload"] == {"failures": []}
    assert details["analysis"]["communities"] >= 2
    assert details["interview"]["question"] == HOSTILE and details["interview"]["agent"] == 3
    assert (
        details["save"]["snapshot"].endswith("audited.snap")
        and details["load"]["snapshot"] == details["save"]["snapshot"]
    )
