"""Files are data: a world file whose schema holds anything Agora did not make — a trigger, a view, an
index, a table, or one of Agora's own objects with other SQL — is refused when it is opened (one
sentence, exit code 2, the file byte for byte as it was, the trigger never fired), and ``agora check``
names each such object as a problem. Agora's own schema, of this version and of the earlier ones it
opens, is recognised exactly (by name and SQL).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
from inprocess import run_cli

from sim.errors import BadFileError
from sim.store.check import check_world
from sim.store.worldfile import open_world


def foreign_schema(con):
    from sim.store.schema import foreign_schema as found

    return found(con)


ROOT = Path(__file__).resolve().parents[1]
TRIGGER = "CREATE TRIGGER wipe AFTER INSERT ON events BEGIN DELETE FROM audit; END"


def agora(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return run_cli(args, cwd=cwd or ROOT, env=os.environ, timeout=300)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sql(path: Path, script: str) -> None:
    con = sqlite3.connect(path)
    con.executescript(script)
    con.commit()
    con.close()


def audit_rows(path: Path) -> int:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return con.execute("SELECT COUNT(*) FROM audit").fetchone()[0]
    finally:
        con.close()


@pytest.fixture(scope="module")
def ran(tmp_path_factory) -> Path:
    """A world that ran: sessions, events, an audit log, LLM posts and agent memory (offline), an analysis."""
    d = tmp_path_factory.mktemp("schema")
    w = d / "w.db"
    assert agora("new", str(w), "--agents", "800", "--seed", "5").returncode == 0
    r = agora("run", str(w), "--inject", "news", "--model", "llm", "--steps", "4", "--llm", "memory=all")
    assert r.returncode == 0, r.stderr
    assert agora("analyze", str(w)).returncode == 0
    return w


def copy(src: Path, dst: Path) -> Path:
    dst.write_bytes(src.read_bytes())
    return dst


def test_a_trigger_is_refused_on_open_the_file_untouched_and_check_names_it(tmp_path, ran):
    world = copy(ran, tmp_path / "shared.db")
    sql(world, TRIGGER)
    before, audits = digest(world), audit_rows(world)
    for args in (
        ("run", str(world), "--inject", "hello", "--steps", "3"),
        ("llm", str(world), "--set", "calls_per_tick=3"),
        ("info", str(world)),
        ("save", str(world), str(tmp_path / "s.snap")),
    ):
        r = agora(*args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
        assert "trigger 'wipe' on table 'events'" in r.stderr and str(world) in r.stderr and "agora check" in r.stderr
    assert digest(world) == before and audit_rows(world) == audits
    assert not (tmp_path / "s.snap").exists()
    r = agora("check", str(world))
    assert r.returncode == 1
    assert "problem: schema: trigger 'wipe' on table 'events' was not made by Agora" in r.stdout
    assert digest(world) == before


@pytest.mark.parametrize(
    "script, named",
    [
        ("CREATE VIEW v AS SELECT 1 AS x", "view 'v'"),
        ("CREATE INDEX mine ON events (agent)", "index 'mine' on table 'events'"),
        ("CREATE TABLE extra (x)", "table 'extra'"),
        ("CREATE TRIGGER t2 BEFORE UPDATE ON meta BEGIN SELECT 1; END", "trigger 't2' on table 'meta'"),
        (
            "DROP VIEW follows; CREATE VIEW follows AS SELECT 1 AS follower, 2 AS followed, 0.5 AS trust",
            "view 'follows' with other SQL than Agora's",
        ),
        (
            "DROP INDEX events_session; CREATE INDEX events_session ON events (session_id, tick) WHERE agent > 0",
            "index 'events_session' on table 'events' with other SQL than Agora's",
        ),
    ],
)
async def test_every_object_agora_did_not_make_is_refused_and_listed(tmp_path, ran, script, named):
    world = copy(ran, tmp_path / "w.db")
    sql(world, script)
    before = digest(world)
    with pytest.raises(BadFileError, match="Agora did not make") as info:
        await open_world(str(world))
    assert named in str(info.value)
    from sim.store.writer import WorldWriter

    with pytest.raises(BadFileError, match="Agora did not make"):
        await WorldWriter(str(world)).start()  # a writer refuses it too, before it writes anything
    result = check_world(str(world))
    assert not result["ok"] and any(named in p for p in result["problems"]), result["problems"]
    assert digest(world) == before


async def test_agoras_own_schema_is_recognised_in_every_world_it_makes(tmp_path, ran):
    from sim.store.snapshot import save_snapshot

    con = sqlite3.connect(f"file:{ran}?mode=ro", uri=True)
    names = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
    assert foreign_schema(con) == []
    con.close()
    assert {"memory", "memory_agents", "posts", "communities", "agents", "relationships", "follows"} <= names
    assert check_world(str(ran))["ok"], check_world(str(ran))["problems"]
    w = await open_world(str(ran))
    save_snapshot(w, str(tmp_path / "w.snap"))
    assert agora("load", str(tmp_path / "w.snap"), str(tmp_path / "back.db")).returncode == 0
    assert check_world(str(tmp_path / "back.db"))["ok"]
    # SQLite's own statistics tables (ANALYZE, from the sqlite3 shell) are data, not code.
    world = copy(ran, tmp_path / "analyzed.db")
    sql(world, "ANALYZE")
    assert (await open_world(str(world))).n == w.n and check_world(str(world))["ok"]


async def test_files_of_earlier_versions_open_and_are_upgraded(tmp_path, ran):
    """A world written before ``events.via``, ``sessions.traceback`` and ``llm_cache.delay`` (those tables
    rebuilt without them, as an earlier Agora made them) opens, is upgraded by its first writer, and
    checks clean."""
    from sim.store.writer import WorldWriter

    world = copy(ran, tmp_path / "old.db")
    con = sqlite3.connect(world)
    for table, column in (("events", "via"), ("sessions", "traceback"), ("llm_cache", "delay")):
        (text,) = con.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()
        cols = [r[1] for r in con.execute(f"PRAGMA table_info({table})") if r[1] != column]
        old = text.replace(f",\n    {column} INTEGER NOT NULL DEFAULT 0", "").replace(",\n    traceback TEXT", "")
        old = old.replace(f"CREATE TABLE {table}", f"CREATE TABLE {table}_old", 1)
        con.executescript(
            f"{old}; INSERT INTO {table}_old SELECT {', '.join(cols)} FROM {table}; DROP TABLE {table}; "
            f"ALTER TABLE {table}_old RENAME TO {table};"
        )
    con.execute("CREATE INDEX events_session ON events (session_id, tick)")
    con.commit()
    assert all(
        column not in [r[1] for r in con.execute(f"PRAGMA table_info({t})")]
        for t, column in (("events", "via"), ("sessions", "traceback"), ("llm_cache", "delay"))
    )
    con.close()
    w = await open_world(str(world))
    writer = await WorldWriter(str(world)).start()
    await writer.checkpoint(w, [])
    await writer.close()
    con = sqlite3.connect(world)
    assert "via" in [r[1] for r in con.execute("PRAGMA table_info(events)")]
    assert foreign_schema(con) == []
    con.close()
    assert check_world(str(world))["ok"], check_world(str(world))["problems"]


async def test_every_connection_to_a_world_file_distrusts_its_schema(tmp_path, ran):
    """``trusted_schema`` is off: a view or trigger of the file may not call a function with side effects."""
    w = await open_world(str(ran))
    w.persona(0)  # opens the persona reader's connection
    assert w._persona_loader._con.execute("PRAGMA trusted_schema").fetchone() == (0,)
    from sim.store.writer import WorldWriter

    writer = await WorldWriter(str(copy(ran, tmp_path / "w.db"))).start()
    try:
        assert (await writer.call(lambda db: db.execute_fetchall("PRAGMA trusted_schema")))[0][0] == 0
    finally:
        await writer.close()
    # Agora's own views still answer with it off (json_each in relationships).
    con = sqlite3.connect(f"file:{ran}?mode=ro", uri=True)
    con.execute("PRAGMA trusted_schema = OFF")
    assert con.execute("SELECT COUNT(*) FROM follows").fetchone()[0] == w.num_edges
    assert con.execute("SELECT name FROM agents WHERE id = 0").fetchone()[0] == w.persona(0).name
    con.close()


def test_normalized_sql_keeps_literals_and_unquotes_plain_names():
    from sim.store.schema import normalized_sql

    assert normalized_sql('CREATE TABLE "relationships" (\n  src INTEGER ,dst INTEGER)') == normalized_sql(
        "CREATE TABLE relationships(src INTEGER, dst INTEGER)"
    )
    assert normalized_sql("SELECT 'a  b'") != normalized_sql("SELECT 'a b'")
    assert json.dumps(normalized_sql(None)) == "null"
