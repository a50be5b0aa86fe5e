"""The journal of acknowledged changes (issue 45): made again after a crash, with their ids; rows from a file
are data; ids are never used twice.

A crash right after an injection, a cancellation and an intervention were committed (their journal rows
with their audit rows) but before any checkpoint held them is a writer closed without a checkpoint: the
file holds the last checkpoint and the journal. The next simulation started on it makes the changes again.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from sim.core.audit import read_audit
from sim.engine.simulation import Simulation
from sim.store.check import check_world
from sim.store.create import synthetic_world
from sim.store.worldfile import open_world, read_meta, save_world
from sim.store.writer import WorldWriter


async def _world(tmp_path: Path) -> str:
    path = str(tmp_path / "j.db")
    await save_world(synthetic_world("journal", 300, avg_degree=6, seed=4), path)
    return path


_writers: list[WorldWriter] = []


@pytest.fixture(autouse=True)
async def _close_writers():
    """Writers a failing test left open are closed (their connection's thread would keep the process alive)."""
    yield
    while _writers:
        await _writers.pop().close()


async def _open(path: str) -> tuple[Simulation, WorldWriter]:
    writer = await WorldWriter(path).start()
    _writers.append(writer)
    return Simulation(await open_world(path), writer=writer), writer


async def test_changes_after_the_checkpoint_are_made_again_with_their_ids(tmp_path: Path) -> None:
    path = await _world(tmp_path)
    sim, writer = await _open(path)
    kept = sim.inject("kept by the checkpoint", seeds="random:3")
    await sim.step()
    await sim.checkpoint()
    a = sim.inject("after the checkpoint", seeds="degree:4", params={"p": 0.3})
    b = sim.inject("cancelled after the checkpoint", seeds="ids:1,2")
    sim.cancel(b.id)
    entry = sim.intervene("3:block:degree:5")
    chosen = a.seed_agents.copy()
    await writer.wait_durable(sim.last_change)
    await writer.close()  # as a crash after the journal's commit: no checkpoint holds these changes

    report = check_world(path)
    assert report["ok"], report["problems"]
    assert report["checks"]["journal"] == {"inject": 2, "cancel": 1, "intervene": 1}
    assert any("acknowledged after the last checkpoint" in n for n in report["notes"])
    assert [m["id"] for m in read_meta(path)["messages"]] == [kept.message_id]

    sim2, writer2 = await _open(path)
    by_id = {s.id: s for s in sim2.sessions}
    assert set(by_id) == {kept.id, a.id, b.id}
    assert by_id[a.id].message_id == a.message_id and by_id[a.id].message["text"] == "after the checkpoint"
    assert by_id[a.id].params["p"] == 0.3 and list(by_id[a.id].seed_agents) == list(chosen)
    assert by_id[b.id].status == "cancelled"
    (pending,) = [e for e in sim2.world.config["interventions"] if not e.get("applied")]
    assert (pending["spec"], pending["at"]) == (entry["spec"], entry["at"])
    assert [m["inject"] for m in sim2.replayed["made"] if "inject" in m] == [a.id, b.id]
    assert sim2.replayed["failed"] == []
    new = sim2.inject("a new one", seeds="random:2")
    assert (new.id, new.message_id) == (b.id + 1, b.message_id + 1)
    await sim2.checkpoint()
    await writer2.close()
    con = sqlite3.connect(path)
    assert con.execute("SELECT COUNT(*) FROM journal").fetchone()[0] == 0, "the checkpoint holds them now"
    con.close()
    report = check_world(path)
    assert report["ok"], report["problems"]
    assert {int(m["id"]) for m in read_meta(path)["messages"]} == {1, 2, 3, 4}
    actions = [r["action"] for r in read_audit(path)]
    assert actions.count("inject") == 4 and actions.count("recover") == 2, actions
    recovered = [r["details"] for r in read_audit(path) if r["action"] == "recover"]
    assert recovered[0]["journal"] == 4 and len(recovered[1]["made_again"]) == 4


async def test_a_hostile_journal_is_data_each_row_checked_and_named(tmp_path: Path) -> None:
    path = await _world(tmp_path)
    sim, writer = await _open(path)
    await writer.close()
    con = sqlite3.connect(path)
    rows = [
        (0, "inject", json.dumps({"message": 5, "session": 5, "text": "fine", "seeds": "random:2", "model": "ic"})),
        (0, "inject", json.dumps({"message": True, "session": 6, "text": "a bool id", "seeds": "random:2"})),
        (0, "inject", json.dumps({"message": 7, "session": 7, "text": "x", "seeds": "file:/etc/passwd"})),
        (0, "inject", json.dumps({"message": 8, "session": 8, "text": "x", "seeds": "ids:1", "model": "nosuch"})),
        (0, "inject", json.dumps({"message": 9, "session": 9, "seed_agents": [10**9], "seeds": "degree:1"})),
        (0, "inject", "[1, 2]"),
        (0, "inject", "{not json"),
        (0, "explode", "{}"),
        (0, "cancel", json.dumps({"session": 12345})),
        (0, "intervene", json.dumps({"spec": "block:nosuch:3", "at": 1})),
        ("zero", "inject", "{}"),
    ]
    con.executemany("INSERT INTO journal (tick, kind, body) VALUES (?, ?, ?)", rows)
    con.commit()
    con.close()
    sim2, writer2 = await _open(path)
    assert [s.id for s in sim2.sessions] == [5]
    assert len(sim2.replayed["failed"]) == len(rows) - 1
    assert all(f["error"] for f in sim2.replayed["failed"])
    await sim2.checkpoint()
    await writer2.close()
    assert check_world(path)["ok"]
    (last,) = [r["details"] for r in read_audit(path) if r["action"] == "recover"][-1:]
    assert len(last["could_not"]) == len(rows) - 1


async def test_an_audited_id_is_never_used_again(tmp_path: Path) -> None:
    """An injection audited but rolled back (a counter-message of a lost tick) keeps its id."""
    path = await _world(tmp_path)
    con = sqlite3.connect(path)
    con.execute(
        "INSERT INTO audit (ts, action, details) VALUES (0, 'inject', ?)", (json.dumps({"message": 7, "session": 9}),)
    )
    con.execute(
        "INSERT INTO audit (ts, action, details) VALUES (0, 'inject', ?)", (json.dumps({"session": 2**62}),)
    )  # a forged id past any world's: not taken as used
    con.commit()
    con.close()
    sim, writer = await _open(path)
    s = sim.inject("next", seeds="random:1")
    assert (s.message_id, s.id) == (8, 10)
    await writer.close()


async def test_an_injection_no_journal_holds_is_named_as_rolled_back(tmp_path: Path) -> None:
    """A command's own injection (agora run --inject: acknowledged by the checkpoint right after it) killed
    before that checkpoint is rolled back, and the recovery names it; its id is not used again."""
    path = await _world(tmp_path)
    sim, writer = await _open(path)
    await sim.checkpoint()
    s = sim.inject("a command's own", seeds="random:2", journal=False)
    await writer.close()  # as a kill before the checkpoint that would have held it
    sim2, writer2 = await _open(path)
    assert sim2.sessions == [] and writer2.recovered["rolled_back"] == [s.id]
    assert sim2.inject("the next", seeds="random:2").id == s.id + 1
    await writer2.close()
    (rec,) = [r["details"] for r in read_audit(path) if r["action"] == "recover"]
    assert rec["rolled_back_sessions"] == [s.id]
