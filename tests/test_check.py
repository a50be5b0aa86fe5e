"""``agora check``: a clean world passes; real damage — flipped bytes, a truncated file, deleted or edited
rows, tampered counters, a zeroed array — is found and reported one line per problem with exit code 1.

Each damage is done with plain SQL or by writing bytes into a copy of a world that ran a living-network
simulation (two sessions, feeds, follows and unfollows), so every check has real rows to compare."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from inprocess import run_cli

from sim.engine.simulation import Simulation
from sim.store.check import check_world
from sim.store.create import synthetic_world
from sim.store.worldfile import open_world, save_world
from sim.store.writer import WorldWriter

ROOT = Path(__file__).resolve().parents[1]


def agora(cwd, *args):
    env = {**os.environ, "AGORA_SAVES": str(cwd)}
    env.pop("AGORA_PROGRESS", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return run_cli(args, cwd=cwd, env=env, timeout=120)


@pytest.fixture(scope="module")
def ran_world(tmp_path_factory):
    """A world file after 12 ticks of two sessions on a living network, checkpointed and closed."""
    path = str(tmp_path_factory.mktemp("check") / "ran.db")
    asyncio.run(save_world(synthetic_world("check", 3000, avg_degree=8, seed=11), path))

    async def go():
        world = await open_world(path)
        writer = await WorldWriter(path).start()
        sim = Simulation(world, writer=writer)
        sim.social.configure(recommender="random", friend_recommender="random", join_rate=0.01, leave_rate=0.002)
        sim.inject("one", model="sir", params={"beta": 0.05, "gamma": 0.2}, seeds="random:5")
        sim.inject("two", model="ic", params={"p": 0.04}, seeds="random:5", seed=3)
        for _ in range(12):
            await sim.step()
        await sim.checkpoint()
        await writer.close()
        world._persona_loader.close()

    asyncio.run(go())
    con = sqlite3.connect(path)
    counts = con.execute("SELECT (SELECT COUNT(*) FROM events), (SELECT COUNT(*) FROM exposures)").fetchone()
    con.close()
    assert counts[0] > 100 and counts[1] > 100  # the checks below compare real rows
    return path


@pytest.fixture
def damaged(ran_world, tmp_path):
    """A copy of the ran world, and a function applying SQL to it."""
    path = str(tmp_path / "copy.db")
    shutil.copyfile(ran_world, path)

    def sql(*statements):
        con = sqlite3.connect(path)
        for st in statements:
            con.execute(st)
        con.commit()
        con.close()

    return path, sql


def _meta(path, key):
    con = sqlite3.connect(path)
    (value,) = con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    con.close()
    return json.loads(value)


def _set_meta(path, key, value):
    con = sqlite3.connect(path)
    con.execute("UPDATE meta SET value = ? WHERE key = ?", (json.dumps(value), key))
    con.commit()
    con.close()


def test_a_clean_world_passes(ran_world, tmp_path):
    result = check_world(ran_world)
    assert result["ok"] and result["problems"] == [], result["problems"]
    c = result["checks"]
    assert c["integrity"] == "ok" and c["agents"] == 3000 and c["sessions"] == 2 and c["tick"] == 12
    assert c["events"] > 100 and c["exposures"] > 100 and c["events_after_checkpoint"] == 0
    assert check_world(ran_world, quick=True)["ok"]
    out = agora(tmp_path, "check", ran_world)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("ok: ") and out.stderr == ""
    out = agora(tmp_path, "check", ran_world, "--json", "--quick")
    data = json.loads(out.stdout)
    assert out.returncode == 0 and data["ok"] is True and data["problems"] == []
    assert data["checks"]["integrity_check"] == "quick_check"


def test_a_fresh_world_and_a_world_loaded_from_a_snapshot_pass(ran_world, tmp_path):
    fresh = str(tmp_path / "fresh.db")
    asyncio.run(save_world(synthetic_world("fresh", 500, avg_degree=4, seed=1), fresh))
    assert check_world(fresh)["ok"]
    # A snapshot carries the event and exposure rows: the loaded world's history is the original's.
    original = check_world(ran_world)["checks"]
    assert agora(tmp_path, "save", ran_world, "s.snap").returncode == 0
    assert agora(tmp_path, "load", "s.snap", "loaded.db").returncode == 0
    result = check_world(str(tmp_path / "loaded.db"))
    assert result["ok"], result["problems"]
    c = result["checks"]
    assert (c["events_since"], c["events"], c["exposures"]) == (0, original["events"], original["exposures"])
    # A slim one carries none: the loaded world's history starts at the snapshot's tick.
    assert agora(tmp_path, "save", ran_world, "slim.snap", "--slim").returncode == 0
    assert agora(tmp_path, "load", "slim.snap", "slim.db").returncode == 0
    result = check_world(str(tmp_path / "slim.db"))
    assert result["ok"], result["problems"]
    assert result["checks"]["events_since"] == 12 and result["checks"]["events"] == 0


def test_missing_file_is_a_usage_error_and_a_foreign_file_a_problem(tmp_path):
    out = agora(tmp_path, "check", "nope.db")
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "does not exist" in out.stderr
    (tmp_path / "text.db").write_text("hello, I am not a world\n")
    out = agora(tmp_path, "check", "text.db")
    assert out.returncode == 1 and "problem: the file is not an SQLite database" in out.stdout


def _problems(path, **kw):
    result = check_world(path, **kw)
    assert not result["ok"]
    return result["problems"]


def test_flipped_header_bytes(damaged):
    path, _ = damaged
    with open(path, "r+b") as fh:
        fh.seek(3)
        fh.write(b"\xff\x00")
    assert any("not an SQLite database" in p for p in _problems(path))


def test_flipped_bytes_in_a_btree_page_fail_the_integrity_check(damaged, tmp_path):
    path, _ = damaged
    con = sqlite3.connect(path)
    page_size = con.execute("PRAGMA page_size").fetchone()[0]
    pages = [r[0] for r in con.execute("SELECT pageno FROM dbstat WHERE name = 'events_session' AND pagetype = 'leaf'")]
    con.close()
    assert pages
    with open(path, "r+b") as fh:  # scramble the cell area of one index leaf page
        fh.seek((pages[len(pages) // 2] - 1) * page_size + 200)
        fh.write(os.urandom(2000))
    problems = _problems(path)
    assert any(p.startswith("SQLite integrity_check") or "malformed" in p or "cannot" in p for p in problems), problems
    out = agora(tmp_path, "check", path)
    assert out.returncode == 1 and out.stdout.startswith("problem: ")


def test_a_truncated_file(damaged):
    path, _ = damaged
    size = os.path.getsize(path)
    with open(path, "r+b") as fh:
        fh.truncate(size // 2)
    assert _problems(path)


def test_a_deleted_event_row(damaged):
    path, sql = damaged
    sql("DELETE FROM events WHERE rowid = (SELECT MAX(rowid) FROM events WHERE session_id = 1 AND tick < 12)")
    problems = _problems(path)
    assert len(problems) == 1 and problems[0].startswith("session 1: the events table holds"), problems


def test_an_edited_event(damaged):
    path, sql = damaged
    sql(
        "UPDATE events SET tick = tick + 1 WHERE rowid = (SELECT MIN(rowid) FROM events WHERE session_id = 2 AND tick "
        "< 10)"
    )
    problems = _problems(path)
    assert problems == ["session 2: the events table names other agents, ticks or sources than its arrays"], problems


def test_events_of_an_unknown_session(damaged):
    path, sql = damaged
    sql("UPDATE events SET session_id = 1 WHERE rowid = (SELECT MIN(rowid) FROM events WHERE session_id = 2)")
    problems = _problems(path)
    assert any(p.startswith("session 1:") for p in problems) and any(p.startswith("session 2:") for p in problems)


def test_a_tampered_sessions_table(damaged):
    path, sql = damaged
    sql("UPDATE sessions SET adopted = adopted + 5 WHERE id = 1")
    problems = _problems(path)
    assert len(problems) == 1 and problems[0].startswith("session 1: the sessions table says"), problems


def test_a_tampered_counter_in_the_metadata(damaged):
    path, _ = damaged
    sessions = _meta(path, "sessions")
    sessions[0]["reached"] += 3
    _set_meta(path, "sessions", sessions)
    problems = _problems(path)
    assert any("counts" in p and "adopted but its arrays hold" in p for p in problems), problems


def test_a_tick_counter_behind_the_sessions(damaged):
    path, _ = damaged
    _set_meta(path, "tick", 5)
    problems = _problems(path)
    assert any("after the world's tick 5" in p for p in problems), problems


def test_a_deleted_relationship_and_an_edited_agent_row(damaged):
    path, sql = damaged
    # One edge taken out of an agent's row of the graph mirror (the relationships view reads them).
    sql(
        "UPDATE adjacency SET edges = json_remove(edges, '$[0]') "
        "WHERE src = (SELECT src FROM adjacency WHERE json_array_length(edges) > 1 LIMIT 1)",
        "UPDATE agent_rows SET status = status + 1 WHERE id = 7",
    )
    problems = _problems(path)
    assert any(p.startswith("relationships holds") for p in problems), problems
    assert any(p == "agent_rows: the status column does not match the agent arrays" for p in problems), problems
    quick = _problems(path, quick=True)  # counts still compared
    assert any(p.startswith("relationships holds") for p in quick)


def test_a_moved_edge_row(damaged):
    path, sql = damaged
    # An edge's follower moved to the next agent (its packed value is dst * 32768 + trust).
    sql(
        "UPDATE adjacency SET edges = json_replace(edges, '$[0]', json_extract(edges, '$[0]') + 32768) "
        "WHERE src = (SELECT a.src FROM adjacency a WHERE NOT EXISTS (SELECT 1 FROM relationships q WHERE q.src = "
        "a.src "
        "AND q.dst = (json_extract(a.edges, '$[0]') >> 15) + 1) LIMIT 1)"
    )
    assert _problems(path) == ["relationships: the rows name other edges than the graph arrays"]


def test_a_deleted_message_and_a_zeroed_array(damaged):
    path, sql = damaged
    sql("DELETE FROM messages WHERE id = 2")
    assert any(p.startswith("the messages table holds 1 messages") for p in _problems(path))
    sql("UPDATE arrays SET data = zeroblob(length(data)) WHERE name = 'graph.out_indptr'")
    problems = _problems(path)
    assert len(problems) == 1 and "out_indptr" in problems[0], problems


def test_the_cli_prints_one_line_per_problem(damaged, tmp_path):
    path, sql = damaged
    sql(
        "UPDATE sessions SET adopted = adopted + 5 WHERE id = 1",
        "UPDATE sessions SET status = 'completed' WHERE id = 2",
        "DELETE FROM messages WHERE id = 1",
    )
    out = agora(tmp_path, "check", path)
    assert out.returncode == 1 and out.stderr == ""
    lines = out.stdout.strip().splitlines()
    assert [ln.split(":")[0] for ln in lines[:-1]] == ["problem"] * 3, lines
    assert lines[-1].endswith("3 problem(s) found")
    data = json.loads(agora(tmp_path, "check", path, "--json").stdout)
    assert data["ok"] is False and len(data["problems"]) == 3


def test_rows_after_the_checkpoint_are_a_note_and_the_next_writer_discards_them(damaged):
    path, sql = damaged
    # What a run killed after its last checkpoint leaves: rows of later ticks, for a known session and a new one.
    sql(
        "INSERT INTO events (session_id, tick, agent, source, kind, via) VALUES (1, 12, 5, -1, 1, 0), (1, 13, 6, 5, 1, "
        "0), "
        "(3, 12, 7, -1, 1, 0)",
        "INSERT INTO exposures (session_id, tick, agent, source, recommender) VALUES (2, 14, 9, 1, 'random')",
    )
    result = check_world(path)
    assert result["ok"], result["problems"]
    assert result["checks"]["events_after_checkpoint"] == 3 and result["checks"]["exposures_after_checkpoint"] == 1
    assert any("after the last checkpoint (tick 12)" in n for n in result["notes"])

    async def reopen():
        writer = await WorldWriter(path).start()
        await writer.close()
        return writer.recovered

    recovered = asyncio.run(reopen())
    assert {k: recovered[k] for k in ("tick", "events", "exposures", "sessions", "messages", "journal")} == {
        "tick": 12,
        "events": 3,
        "exposures": 1,
        "sessions": 0,
        "messages": 0,
        "journal": [],
    }
    assert recovered["last_tick"] == 14
    result = check_world(path)
    assert result["ok"] and result["notes"] == [] and result["checks"]["events_after_checkpoint"] == 0
    con = sqlite3.connect(path)
    assert con.execute("SELECT action FROM audit ORDER BY id DESC LIMIT 1").fetchone() == ("recover",)
    con.close()
