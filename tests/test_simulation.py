"""The asyncio simulation core: injection, scheduling, isolation of failing plugins, events,
persistence through the writer, and exact continuation."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import textwrap

import numpy as np
import pytest
from conftest import data_file
from inprocess import run_cli

from sim.core.events import (
    MessageInjected,
    PropagationCompleted,
    PropagationFailed,
    PropagationRound,
    PropagationStarted,
    TickCompleted,
)
from sim.engine.simulation import Simulation
from sim.errors import BadParameterError
from sim.model.registry import Registry
from sim.store.create import synthetic_world
from sim.store.snapshot import load_snapshot, save_snapshot
from sim.store.worldfile import open_world, save_world
from sim.store.writer import WorldWriter

BROKEN = textwrap.dedent("""
    import numpy as np
    from sim.plugin import Param, PropagationModel, StepResult

    class Raises(PropagationModel):
        name = "raises"
        def step(self, ctx):
            raise RuntimeError("boom in step")

    class WrongDtype(PropagationModel):
        name = "wrong_dtype"
        def step(self, ctx):
            return StepResult(np.array([0.5, 1.5]), 1)

    class WrongShape(PropagationModel):
        name = "wrong_shape"
        def step(self, ctx):
            return StepResult(np.array([[1, 2]]), 1)

    class OutOfRange(PropagationModel):
        name = "out_of_range"
        def step(self, ctx):
            return StepResult(np.array([ctx.n + 3]), 1)

    class BadState(PropagationModel):
        name = "bad_state"
        def step(self, ctx):
            return StepResult(np.array([0]), 7)

    class Mutates(PropagationModel):
        name = "mutates"
        def step(self, ctx):
            ctx.columns["reputation"][:] = 0  # read-only: must raise, not change the world
            return StepResult.nothing()
""")


@pytest.fixture
def world():
    return synthetic_world("sim", 5000, avg_degree=8, seed=3)


@pytest.fixture
def broken_registry(tmp_path):
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "broken.py").write_text(BROKEN)
    (folder / "noimport.py").write_text("raise ImportError('cannot import this plugin')\n")
    return Registry([str(folder)])


def test_inject_rejects_bad_input_and_changes_nothing(world):
    sim = Simulation(world)
    cases = [
        dict(model="nope"),
        dict(params={"p": 2}),
        dict(params={"q": 1}),
        dict(seeds="random:0"),
        dict(seeds="bogus"),
        dict(seeds="ids:1,999999"),
        dict(author=10**9),
        dict(topics=["not-a-topic"]),
    ]
    for kw in cases:
        with pytest.raises(BadParameterError):
            sim.inject("x", **kw)
    assert world.messages == [] and world.sessions == []
    with pytest.raises(BadParameterError, match=r"p=2.*\[0, 1\]"):
        sim.inject("x", params={"p": 2})


async def test_scheduler_runs_by_priority_under_a_cap(world):
    sim = Simulation(world, max_running=2)
    low = sim.inject("low", priority=0, params={"p": 0.05})
    high = sim.inject("high", priority=5, params={"p": 0.05})
    mid = sim.inject("mid", priority=3, params={"p": 0.05})
    other = sim.inject("other", priority=0, params={"p": 0.05})
    await sim.step()
    assert high.status == "running" and mid.status == "running"
    assert low.status == "queued" and other.status == "queued"
    sim.cancel(high.id)
    await sim.step()
    assert high.status == "cancelled"
    assert low.status == "running", "the oldest of equal priority starts first"
    assert other.status == "queued"
    await sim.run(until_done=True, max_ticks=500)
    assert sim.idle and all(s.status in ("completed", "cancelled") for s in world.sessions)


async def test_a_failing_plugin_fails_only_its_own_session(world, broken_registry):
    sim = Simulation(world, registry=broken_registry)
    seen = []
    sim.bus.subscribe(seen.append)
    good = sim.inject("good", model="ic", params={"p": 0.1}, seeds="random:5")
    bad = {
        name: sim.inject(name, model=name, seeds="random:5")
        for name in ("raises", "wrong_dtype", "wrong_shape", "out_of_range", "bad_state", "mutates", "noimport")
    }
    before = world.columns["reputation"].copy()
    await sim.run(until_done=True, max_ticks=300)
    assert good.status == "completed" and good.reached > 5
    for name, s in bad.items():
        assert s.status == "failed", name
        assert s.error and s.traceback, name
    assert "boom in step" in bad["raises"].traceback
    assert "cannot import this plugin" in bad["noimport"].traceback
    assert "integer" in bad["wrong_dtype"].error
    assert "outside" in bad["out_of_range"].error
    assert np.array_equal(world.columns["reputation"], before), "a model cannot write the world's columns"
    failed_ids = {e.session_id for e in seen if isinstance(e, PropagationFailed)}
    assert failed_ids == {s.id for s in bad.values()}


async def test_events_are_published_in_order(world):
    sim = Simulation(world)
    seen = []
    sim.bus.subscribe(
        seen.append, MessageInjected, PropagationStarted, PropagationRound, PropagationCompleted, TickCompleted
    )
    s = sim.inject("hello", params={"p": 0.2}, seeds="random:3")
    await sim.run(until_done=True, max_ticks=200)
    kinds = [type(e).__name__ for e in seen]
    assert kinds[0] == "MessageInjected"
    assert kinds.index("PropagationStarted") < kinds.index("PropagationRound") < kinds.index("PropagationCompleted")
    rounds = [e for e in seen if isinstance(e, PropagationRound)]
    assert rounds[-1].reached == s.reached == sum(s.new_per_tick)
    ticks = [e for e in seen if isinstance(e, TickCompleted)]
    assert [t.tick for t in ticks] == list(range(len(ticks)))
    assert all("attempts_per_second" in t.metrics for t in ticks)


async def test_pause_and_resume(world):
    sim = Simulation(world)
    sim.inject("x", params={"p": 0.01})
    sim.pause()
    task = asyncio.create_task(sim.run(ticks=5))
    await asyncio.sleep(0.05)
    assert world.tick == 0, "a paused simulation does not tick"
    sim.resume()
    assert await asyncio.wait_for(task, 60) == 5
    assert world.tick == 5


async def test_many_sessions_at_once_are_independent(world):
    """Two sessions running together give the same results as each alone (own state and generator)."""
    together = Simulation(world.fork())
    a = together.inject("a", params={"p": 0.15}, seeds="random:4", seed=1)
    b = together.inject("b", model="ic", params={"p": 0.3}, seeds="top:2", seed=2)
    await together.run(until_done=True, max_ticks=300)
    for s in (a, b):
        alone = Simulation(world.fork())
        for _ in range(s.id - 1):  # generators are keyed by session id: give it the same id, alone
            alone.cancel(alone.inject("placeholder").id)
        t = alone.inject(s.message["text"], params=s.params, seeds=s.seeds, seed=s.seed)
        assert t.id == s.id
        await alone.run(until_done=True, max_ticks=300)
        assert np.array_equal(alone.session(t.id).adopted_at, s.adopted_at)


async def test_snapshot_mid_run_continues_exactly(tmp_path, world):
    sim = Simulation(world)
    sim.inject("spread", params={"p": 0.08}, seeds="random:5", seed=4)
    sim.inject("other", params={"p": 0.2}, seeds="top:1", seed=5)
    await sim.run(ticks=3)
    path = str(tmp_path / "mid.snap")
    save_snapshot(world, path)
    await sim.run(until_done=True, max_ticks=300)
    resumed_world = load_snapshot(path)
    assert resumed_world.tick == 3
    resumed = Simulation(resumed_world)
    await resumed.run(until_done=True, max_ticks=300)
    assert resumed_world.tick == world.tick
    for s, r in zip(world.sessions, resumed_world.sessions):
        assert (s.status, s.reached, s.new_per_tick) == (r.status, r.reached, r.new_per_tick)
        assert np.array_equal(s.adopted_at, r.adopted_at) and np.array_equal(s.adopted_from, r.adopted_from)


async def test_writer_persists_events_and_a_reopened_world_continues(tmp_path, world):
    path = str(tmp_path / "w.db")
    await save_world(world, path)
    reference = Simulation(world.fork())
    reference.inject("msg", params={"p": 0.1}, seeds="random:5", seed=9)
    await reference.run(until_done=True, max_ticks=300)

    opened = await open_world(path)
    writer = await WorldWriter(path).start()
    sim = Simulation(opened, writer=writer)
    sim.inject("msg", params={"p": 0.1}, seeds="random:5", seed=9)
    await sim.run(ticks=2)
    await sim.checkpoint()
    await writer.close()

    reopened = await open_world(path)
    assert reopened.tick == 2 and reopened.sessions[0].status == "running"
    writer = await WorldWriter(path).start()
    sim2 = Simulation(reopened, writer=writer)
    await sim2.run(until_done=True, max_ticks=300)
    await sim2.checkpoint()
    await writer.close()
    final = reopened.sessions[0]
    ref = reference.world.sessions[0]
    assert final.reached == ref.reached and np.array_equal(final.adopted_at, ref.adopted_at)
    con = sqlite3.connect(path)
    assert con.execute("SELECT COUNT(*) FROM events WHERE session_id = 1").fetchone()[0] == ref.reached
    assert con.execute("SELECT status, adopted FROM sessions WHERE id = 1").fetchone() == ("completed", ref.reached)
    # every adoption but the seeds' names who it came from, and that agent had adopted earlier
    rows = con.execute(
        "SELECT e.tick, s.tick FROM events e JOIN events s ON s.agent = e.source AND s.session_id = e.session_id "
        "WHERE e.session_id = 1"
    ).fetchall()
    assert len(rows) == ref.reached - ref.seeds_count
    assert all(t > st for t, st in rows)


def _agora(cwd, *args):
    return run_cli(args, cwd=cwd, env={**os.environ, "AGORA_SAVES": str(cwd)}, timeout=300)


def test_cli_run_end_to_end_on_a_real_network(tmp_path):
    edges = data_file("email-Eu-core.txt")
    assert _agora(tmp_path, "new", "e.db", "--edges", str(edges)).returncode == 0
    out = _agora(
        tmp_path,
        "run",
        "e.db",
        "--until-done",
        "--inject",
        "news",
        "--seeds",
        "top:5",
        "--param",
        "p=0.05",
        "--runs",
        "4",
        "--kernel",
        "engine",
        "--seed",
        "7",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["model"] == "ic" and data["params"]["p"] == 0.05
    assert len(data["runs"]) == 4
    reached = [r["reached"] for r in data["runs"]]
    assert all(5 <= r <= 1005 for r in reached)
    assert data["mean_reached"] == pytest.approx(np.mean(reached))
    lo, hi = data["ci95"]
    assert lo <= data["mean_reached"] <= hi
    info = json.loads(_agora(tmp_path, "info", "e.db", "--json").stdout)
    assert info["tick"] == 0 and info["sessions"] == 0, "--runs leaves the world file untouched"
    # the same seeds give the same numbers
    again = json.loads(
        _agora(
            tmp_path,
            "run",
            "e.db",
            "--until-done",
            "--inject",
            "news",
            "--seeds",
            "top:5",
            "--param",
            "p=0.05",
            "--runs",
            "4",
            "--kernel",
            "engine",
            "--seed",
            "7",
            "--json",
        ).stdout
    )
    assert [r["reached"] for r in again["runs"]] == reached
    # without --runs the run is persisted
    single = json.loads(
        _agora(
            tmp_path,
            "run",
            "e.db",
            "--until-done",
            "--inject",
            "news",
            "--seeds",
            "top:5",
            "--param",
            "p=0.05",
            "--seed",
            "7",
            "--json",
        ).stdout
    )
    assert single["runs"][0]["reached"] == reached[0]
    info = json.loads(_agora(tmp_path, "info", "e.db", "--json").stdout)
    assert info["tick"] == single["runs"][0]["ticks"] and info["sessions"] == 1


@pytest.mark.parametrize(
    "args, match",
    [
        (["--steps", "3", "--model", "nope", "--inject", "x"], "unknown model"),
        (["--steps", "3", "--param", "p=7", "--inject", "x"], "p=7"),
        (["--steps", "3", "--param", "oops", "--inject", "x"], "KEY=VALUE"),
        (["--steps", "3", "--seeds", "top:x", "--inject", "x"], "seed selection"),
        (["--steps", "3", "--runs", "2"], "--inject"),
        (["--inject", "x"], "--steps"),
        (["--steps", "3", "--plugins", "no-such-dir", "--inject", "x"], "plugin folder"),
    ],
)
def test_cli_run_errors(tmp_path, args, match):
    assert _agora(tmp_path, "new", "w.db", "--agents", "500").returncode == 0
    out = _agora(tmp_path, "run", "w.db", *args)
    assert out.returncode == 2
    assert match in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
