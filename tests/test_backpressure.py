"""Backpressure on the world file's writer: the queue is bounded, the loop waits rather than memory
growing, rows are coalesced, and the TUI says while it waits.

The writer is held up deterministically: a ``call`` queued on its connection awaits an event the test
sets, so nothing is written until the test lets it (no sleeps, no timing)."""

from __future__ import annotations

import asyncio
import sqlite3

import numpy as np

from sim.engine.simulation import Simulation
from sim.store.create import synthetic_world
from sim.store.worldfile import open_world, save_world
from sim.store.writer import WorldWriter

EVENT = np.dtype([("tick", "<i8"), ("agent", "<i8"), ("source", "<i8"), ("kind", "<i8")])
EXPOSURE = np.dtype([("tick", "<i8"), ("agent", "<i8"), ("source", "<i8")])


def records(n: int, tick: int, start: int = 0) -> np.ndarray:
    r = np.zeros(n, dtype=EVENT)
    r["tick"] = tick
    r["agent"] = np.arange(start, start + n)
    r["source"] = -1
    return r


async def until(cond, limit: int = 200_000) -> None:
    """Yield to the loop until ``cond()`` holds (the writer runs on this loop and its own thread)."""
    for _ in range(limit):
        if cond():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("condition never held")


def hold(writer: WorldWriter) -> tuple[asyncio.Event, asyncio.Future]:
    """Block the writer's queue behind a call that waits for the returned event."""
    gate = asyncio.Event()

    async def blocked(db):
        await gate.wait()

    return gate, asyncio.ensure_future(writer.call(blocked))


async def test_wait_for_room_holds_until_the_writer_drains_to_half(tmp_path, small_world):
    path = str(tmp_path / "w.db")
    await save_world(small_world, path)
    writer = await WorldWriter(path, max_queue_rows=1_000).start()
    try:
        assert await writer.wait_for_room() == 0.0  # empty queue: no wait, no count
        assert writer.backpressure_waits == 0
        gate, blocked = hold(writer)
        for i in range(6):
            writer.submit_events(1, records(400, i + 1, 400 * i))
        assert writer.queue_rows == 2_400 and not writer.room_left
        waiter = asyncio.ensure_future(writer.wait_for_room())
        await until(lambda: writer.backpressure)
        assert not waiter.done()  # held while nothing can be written
        gate.set()
        await blocked
        waited = await waiter
        assert waited >= 0.0 and not writer.backpressure
        assert writer.queue_rows <= 500  # half the bound (here: everything, in one coalesced batch)
        assert writer.backpressure_waits == 1 and writer.backpressure_seconds >= waited
        assert writer.peak_queue_rows == 2_400
        await writer.flush()
    finally:
        await writer.close()
    con = sqlite3.connect(path)
    rows = con.execute("SELECT tick, agent FROM events WHERE session_id = 1 ORDER BY agent").fetchall()
    con.close()
    assert [a for _, a in rows] == list(range(2_400))
    assert [t for t, _ in rows] == [1 + a // 400 for a in range(2_400)]


async def test_rows_of_many_sessions_and_recommenders_are_coalesced_exactly(tmp_path, small_world):
    path = str(tmp_path / "w.db")
    await save_world(small_world, path)
    writer = await WorldWriter(path).start()
    try:
        gate, blocked = hold(writer)
        for sid in (1, 2, 3):
            writer.submit_events(sid, records(5 * sid, tick=sid, start=100 * sid))
            ex = np.zeros(sid, dtype=EXPOSURE)
            ex["tick"], ex["agent"], ex["source"] = sid, np.arange(sid), 7
            writer.submit_exposures(sid, ex, "feed-a" if sid % 2 else "feed-b")
        gate.set()
        await blocked
        await writer.flush()
    finally:
        await writer.close()
    con = sqlite3.connect(path)
    ev = con.execute("SELECT session_id, COUNT(*), MIN(agent), MAX(tick) FROM events GROUP BY session_id").fetchall()
    ex = con.execute("SELECT session_id, recommender, COUNT(*) FROM exposures GROUP BY session_id").fetchall()
    con.close()
    assert ev == [(1, 5, 100, 1), (2, 10, 200, 2), (3, 15, 300, 3)]
    assert ex == [(1, "feed-a", 1), (2, "feed-b", 2), (3, "feed-a", 3)]


async def test_a_running_simulation_waits_for_the_writer_instead_of_queueing(tmp_path):
    """The loop stops ticking while the writer is held; the queue stays within its bound plus one tick's
    rows; once the writer goes on, the run finishes and every adoption is in the file."""
    world = synthetic_world("bp", 20_000, avg_degree=10, seed=3)
    path = str(tmp_path / "bp.db")
    await save_world(world, path)
    opened = await open_world(path)
    bound = 2_000
    writer = await WorldWriter(path, max_queue_rows=bound).start()
    sim = Simulation(opened, writer=writer)
    sim.inject("spread", params={"p": 0.4}, seeds="random:50", seed=1)
    most_per_tick = 0

    def watch(event):
        nonlocal most_per_tick
        m = getattr(event, "metrics", None)
        if m is not None:
            most_per_tick = max(most_per_tick, int(m.get("new_adoptions", 0)))

    sim.bus.subscribe(watch)
    try:
        gate, blocked = hold(writer)
        run = asyncio.ensure_future(sim.run(until_done=True, max_ticks=200))
        await until(lambda: writer.backpressure)
        tick = opened.tick
        assert writer.queue_rows > bound
        for _ in range(20):  # the loop gets every chance to go on: it must not
            await asyncio.sleep(0)
        assert opened.tick == tick and not run.done()
        gate.set()
        await blocked
        await run
        await sim.checkpoint()
        await writer.flush()
        assert writer.backpressure_waits >= 1
        assert writer.peak_queue_rows <= bound + most_per_tick
        assert any(m.get("db_wait_seconds", 0) > 0 for m in sim.metrics)
        reached = sum(s.reached for s in opened.sessions)
    finally:
        await writer.close()
    con = sqlite3.connect(path)
    assert con.execute("SELECT COUNT(*) FROM events").fetchone()[0] == reached > bound
    con.close()


async def test_a_writer_that_cannot_write_never_holds_the_simulation(tmp_path, small_world, monkeypatch):
    """A full disk keeps the rows queued (the checkpoint reports it); backpressure must not wait for ever."""
    path = str(tmp_path / "w.db")
    await save_world(small_world, path)
    writer = await WorldWriter(path, max_queue_rows=10).start()

    async def full(db, events):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(WorldWriter, "_write_rows", staticmethod(full))
    try:
        writer.submit_events(1, records(50, 1))
        await until(lambda: writer.error is not None)
        assert writer.queue_rows == 50
        assert await writer.wait_for_room() >= 0.0  # returns: nothing to wait for
        assert not writer.backpressure
    finally:
        monkeypatch.undo()
        await writer.close()


async def test_the_tui_shows_when_the_simulation_waits_for_the_disk(tmp_path):
    from tui.app import SPEEDS, AgoraApp

    path = str(tmp_path / "tui.db")
    await save_world(synthetic_world("tui", 5_000, avg_degree=10, seed=5), path)
    app = AgoraApp(path)
    async with app.run_test(size=(150, 48)) as pilot:
        await asyncio.wait_for(app.ready.wait(), 60)
        writer = app.writer
        writer.max_queue_rows = 50
        gate, blocked = hold(writer)
        app.sim.inject("spread", params={"p": 0.5}, seeds="random:100", seed=2)
        app.speed_index = SPEEDS.index(0)
        await pilot.press("space")
        await until(lambda: writer.backpressure)
        app.refresh_ui()
        header = app._status.render()
        assert "WAITING FOR DISK" in str(header)
        metrics = app._views["dashboard"].query_one("#metrics").render()
        assert "write backpressure" in str(metrics) and "WAITING" in str(metrics)
        gate.set()
        await blocked
        # Once every session has finished no rows are queued any more, so the wait cannot come back.
        await until(lambda: app.sim.idle and not writer.backpressure)
        await pilot.press("space")
        app.refresh_ui()
        assert "WAITING FOR DISK" not in str(app._status.render())
