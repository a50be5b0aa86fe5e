"""A snapshot's history is bounded and checked (issue 45).

- Its event and exposure columns may declare no more rows than its sessions can hold (a session has at
  most one adoption event per agent it adopted, its ``reached``, and one first exposure per agent it
  showed the message to, its ``feed_exposed``): a few KB of zstd declaring millions of in-range events is
  refused from the declared sizes, before anything is decompressed or written.
- Loading runs the per-session checks ``agora check WORLD`` runs (``sim.store.sessioncheck``): a history
  forged with every checksum recomputed (a duplicate event, an event for an agent that never adopted, a
  cycle of sources, a wrong ``reached``) is refused in one sentence, and ``agora check X.snap`` reports it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import agora, one_sentence
from test_files_llm import forge_snapshot
from test_snapshot_events import forge

from sim.errors import BadFileError
from sim.store import snapshot, snapshotread
from sim.store.check import check_world
from sim.store.snapshot import load_snapshot

ROOT = Path(__file__).resolve().parents[1]
AGENTS = 500
#: Rows the forged columns declare: far beyond what a world of AGENTS agents and two sessions can hold.
FORGED_ROWS = 2_000_000


def ok(*args: str) -> dict:
    r = agora(ROOT, *args, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def snap(tmp_path_factory) -> Path:
    """A snapshot of a world with two sessions' events, one spread through feeds too (exposures)."""
    d = tmp_path_factory.mktemp("bounds")
    w = d / "w.db"
    ok("new", str(w), "--agents", str(AGENTS), "--seed", "3")
    ok("run", str(w), "--inject", "first", "--steps", "4", "--param", "p=0.2")
    ok("run", str(w), "--inject", "second", "--steps", "3", "--param", "p=0.1", "--recommender", "hot")
    ok("save", str(w), str(d / "w.snap"))
    return d / "w.snap"


def no_leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if ".tmp-" in p.name or p.name.startswith("w.db")]


@pytest.fixture
def decompressed(monkeypatch) -> list[str]:
    """The names of the arrays decompressed from now on, in this process."""
    names: list[str] = []
    real = snapshotread._decompress_into

    def spy(dctx, comp, out, path, name):
        names.append(name)
        return real(dctx, comp, out, path, name)

    monkeypatch.setattr(snapshotread, "_decompress_into", spy)
    return names


# -- the bound, before decompressing ---------------------------------------------------------------------
def _many_events(bad_agent: bool):
    def edit(a):
        session = int(a["events.session"][0])
        tick = int(a["events.tick"][0])
        rows = FORGED_ROWS
        a["events.session"] = np.full(rows, session, dtype="<i8")
        a["events.tick"] = np.full(rows, tick, dtype="<i8")
        a["events.agent"] = (np.arange(rows) % AGENTS).astype("<i4")  # every one in range...
        a["events.source"] = np.full(rows, -1, dtype="<i4")
        a["events.kind"] = np.ones(rows, dtype="|i1")
        a["events.via"] = np.zeros(rows, dtype="|i1")
        if bad_agent:  # ...but one
            a["events.agent"][-1] = AGENTS

    return edit


def _many_exposures(a):
    row = {k: a[f"exposures.{k}"][:1] for k in ("session", "tick", "agent", "source", "recommender")}
    for k, v in row.items():
        a[f"exposures.{k}"] = np.repeat(v, FORGED_ROWS)


@pytest.mark.parametrize(
    ("edit", "column"),
    [(_many_events(False), "events."), (_many_events(True), "events."), (_many_exposures, "exposures.")],
    ids=["in-range-events", "one-bad-agent", "exposures"],
)
def test_history_columns_beyond_what_the_sessions_hold_are_refused_before_decompressing(
    snap, tmp_path, decompressed, edit, column
):
    forged, target = tmp_path / "forged.snap", tmp_path / "w.db"
    forge(snap, forged, edit)
    assert forged.stat().st_size < snap.stat().st_size + 200_000  # a small file declaring millions of rows
    r = agora(ROOT, "load", str(forged), str(target), timeout=120)
    line = one_sentence(r)
    assert str(forged) in line and "declares 2,000,000" in line and column in line, line
    assert "current world was left as it was" in line
    assert no_leftovers(tmp_path) == [], "a refused load leaves nothing behind"
    # In this process: refused from the manifest, before any array of the history was decompressed.
    with pytest.raises(BadFileError, match="declares 2,000,000"):
        load_snapshot(str(forged))
    assert not [n for n in decompressed if n.startswith(column)], decompressed
    result = check_world(str(forged))
    assert not result["ok"] and any("declares 2,000,000" in p for p in result["problems"]), result["problems"]


def test_the_bound_lets_a_real_history_through(snap, tmp_path):
    """Every session's events reach exactly its ``reached`` (the history starts at tick 0)."""
    target = tmp_path / "w.db"
    loaded = ok("load", str(snap), str(target))
    assert loaded["events"] > 50 and loaded["exposures"] > 0
    result = check_world(str(target))
    assert result["ok"], result["problems"]


# -- the same per-session checks as agora check WORLD ----------------------------------------------------
def _first_session(a) -> int:
    return int(a["events.session"][0])


def _rows_of(a, session: int) -> np.ndarray:
    return np.flatnonzero(a["events.session"] == session)


def _duplicate_event(a):
    """The last event of a session replaced by a copy of its first: as many rows, one agent twice."""
    rows = _rows_of(a, _first_session(a))
    for k in ("session", "tick", "agent", "source", "kind", "via"):
        a[f"events.{k}"][rows[-1]] = a[f"events.{k}"][rows[0]]


def _never_adopted(a):
    """An event moved to an agent that never adopted in that session."""
    sid = _first_session(a)
    never = np.flatnonzero(a[f"session.{sid}.adopted_at"] < 0)
    a["events.agent"][_rows_of(a, sid)[-1]] = never[0]


def _cycle_of_sources(a):
    """Three events whose sources make a cycle: x from z, y from x, z from y."""
    rows = _rows_of(a, _first_session(a))[-3:]
    x, y, z = a["events.agent"][rows]
    a["events.source"][rows] = [z, x, y]


def _rewrite(edit):
    def apply(src: Path, dst: Path) -> None:
        forge(src, dst, edit)

    return apply


def _wrong_reached(src: Path, dst: Path) -> None:
    def lie(meta):
        meta["sessions"][0]["reached"] += 1  # more (fewer would be refused by the bound on the events)

    forge_snapshot(src, dst, lie)


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (_rewrite(_duplicate_event), "names other agents, ticks or sources than its arrays"),
        (_rewrite(_never_adopted), "names other agents, ticks or sources than its arrays"),
        (_rewrite(_cycle_of_sources), "names other agents, ticks or sources than its arrays"),
        (_wrong_reached, "adopted but its arrays hold"),
    ],
    ids=["duplicate-event", "agent-never-adopted", "cycle-of-sources", "wrong-reached"],
)
def test_a_forged_history_is_refused_by_the_checks_agora_check_runs(snap, tmp_path, make, says):
    forged, target = tmp_path / "forged.snap", tmp_path / "w.db"
    make(snap, forged)
    r = agora(ROOT, "load", str(forged), str(target))
    line = one_sentence(r)
    assert str(forged) in line and "is inconsistent (session" in line and says in line, line
    assert no_leftovers(tmp_path) == []
    with pytest.raises(BadFileError, match="inconsistent"):
        load_snapshot(str(forged))
    r = agora(ROOT, "check", str(forged))
    assert r.returncode == 1 and "problem: session" in r.stdout and says in r.stdout, r.stdout


def test_the_snapshot_check_says_what_the_world_check_says(snap, tmp_path):
    """One function judges both: the sentence for a forged snapshot is the world check's, naming the
    snapshot's columns instead of the world file's tables."""
    from sim.store.eventrows import History
    from sim.store.sessioncheck import history_problems

    world = load_snapshot(str(snap))
    with snapshot.SnapshotReader(str(snap)) as reader:
        history = reader.history()
    assert isinstance(history, History) and history.since == 0
    assert history_problems(world, 0, history.events, history.exposures, rows=("E", "X")) == []
    events = {k: v.copy() for k, v in history.events.items()}
    sid = int(events["session"][0])
    rows = np.flatnonzero(events["session"] == sid)[-3:]
    events["source"][rows] = events["agent"][rows][[2, 0, 1]]  # a cycle of sources
    said = history_problems(world, 0, events, history.exposures, rows=("the events table", "X"))
    assert said == [f"session {sid}: the events table names other agents, ticks or sources than its arrays"]
