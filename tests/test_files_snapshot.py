"""Files are data: ``agora check`` recognises a snapshot and checks it (as loading it would, and every
session's counters), and a snapshot or world whose messages or sessions share an id is refused (a
snapshot: one sentence, exit code 2, no world written) or reported by ``agora check``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
from conftest import copy_world
from inprocess import run_cli
from test_files_llm import forge_snapshot

from sim.store.check import check_world
from sim.store.snapshot import load_snapshot

ROOT = Path(__file__).resolve().parents[1]


def agora(*args: str) -> subprocess.CompletedProcess:
    return run_cli(args, cwd=ROOT, env=os.environ, timeout=300)


@pytest.fixture(scope="module")
def ran(tmp_path_factory) -> tuple[Path, Path]:
    """A world with two messages and their sessions, and its snapshot."""
    d = tmp_path_factory.mktemp("snapfiles")
    w = d / "w.db"
    assert agora("new", str(w), "--agents", "700", "--seed", "2").returncode == 0
    for text in ("first news", "second news"):
        r = agora("run", str(w), "--inject", text, "--steps", "3")
        assert r.returncode == 0, r.stderr
    assert agora("save", str(w), str(d / "w.snap")).returncode == 0
    return w, d / "w.snap"


def test_check_recognises_a_snapshot_and_checks_it(ran, tmp_path):
    _, snap = ran
    before = hashlib.sha256(snap.read_bytes()).hexdigest()
    r = agora("check", str(snap))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith(f"ok: {snap} is a consistent snapshot at tick 6") and "2 sessions" in r.stdout
    assert f"agora load {snap}" in r.stdout and "SQLite" not in r.stdout
    out = json.loads(agora("check", str(snap), "--json").stdout)
    assert out["ok"] and out["kind"] == "snapshot" and out["checks"]["sessions"] == 2 and out["checks"]["agents"] == 700
    assert hashlib.sha256(snap.read_bytes()).hexdigest() == before
    # A damaged one: a flipped byte in an array is a problem (exit 1), named as loading would name it.
    data = bytearray(snap.read_bytes())
    data[40] ^= 0xFF
    bad = tmp_path / "bad.snap"
    bad.write_bytes(bytes(data))
    r = agora("check", str(bad))
    assert r.returncode == 1 and "problem: snapshot" in r.stdout and "checksum" in r.stdout
    assert r.stdout.rstrip().endswith("1 problem(s) found") and "current world" not in r.stdout


def test_check_finds_session_counters_that_disagree_with_a_snapshots_arrays(ran, tmp_path):
    _, snap = ran

    def lie(meta):
        meta["sessions"][0]["reached"] += 5

    forged = tmp_path / "lie.snap"
    forge_snapshot(snap, forged, lie)
    result = check_world(str(forged))
    assert result["kind"] == "snapshot" and not result["ok"]
    assert any("counts" in p and "adopted" in p for p in result["problems"]), result["problems"]


@pytest.mark.parametrize("what", ["messages", "sessions"])
def test_a_snapshot_with_a_repeated_id_is_refused(ran, tmp_path, what):
    _, snap = ran

    def repeat(meta):
        twin = copy.deepcopy(meta[what][0])
        meta[what].append(twin)

    forged = tmp_path / "twice.snap"
    forge_snapshot(snap, forged, repeat)
    target = tmp_path / "w.db"
    r = agora("load", str(forged), str(target))
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert str(forged) in r.stderr and "have id" in r.stderr and what[:-1] in r.stderr
    assert not target.exists()
    with pytest.raises(Exception, match="have id"):
        load_snapshot(str(forged))
    r = agora("check", str(forged))
    assert r.returncode == 1 and "have id" in r.stdout


def test_check_reports_a_world_whose_messages_share_an_id(ran, tmp_path):
    world, _ = ran
    w = tmp_path / "w.db"
    copy_world(world, w)
    con = sqlite3.connect(w)
    messages = json.loads(con.execute("SELECT value FROM meta WHERE key = 'messages'").fetchone()[0])
    # The first message twice: the messages table keeps one row per id, so it agrees with the metadata,
    # and the world holds two messages under one id.
    messages.append(dict(messages[0]))
    con.execute("UPDATE meta SET value = ? WHERE key = 'messages'", (json.dumps(messages),))
    con.commit()
    con.close()
    r = agora("check", str(w))
    assert r.returncode == 1 and f"message id {messages[0]['id']} twice" in r.stdout, r.stdout
    r = agora("run", str(w), "--steps", "1")
    assert r.returncode == 2 and "twice" in r.stderr and r.stderr.count("\n") == 1
