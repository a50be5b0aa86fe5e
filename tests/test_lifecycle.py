"""Lifecycle states: allowed transitions apply to many agents at once; a forbidden one changes nothing."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import agora

from sim.core.world import Status
from sim.engine.simulation import Simulation
from sim.errors import BadParameterError
from sim.social.lifecycle import ALLOWED, InvalidTransition, parse_status, transition
from sim.store.create import synthetic_world


@pytest.fixture
def world():
    return synthetic_world("life", 500, avg_degree=6, seed=2)


def test_allowed_transitions_apply_and_count(world):
    assert transition(world, np.array([1, 2, 3]), "idle") == 3
    assert (world.columns["status"][[1, 2, 3]] == Status.IDLE).all()
    assert transition(world, np.array([1, 2]), Status.ACTIVE) == 2
    assert transition(world, np.array([1, 3]), "active") == 1, "already-active agents do not count"
    assert "agent.status" in world.dirty_arrays


def test_forbidden_transition_changes_nothing(world):
    transition(world, np.array([5]), "deactivated")
    before = world.columns["status"].copy()
    with pytest.raises(InvalidTransition, match="agent 5 cannot go from deactivated to active"):
        transition(world, np.array([4, 5, 6]), "active")
    assert np.array_equal(world.columns["status"], before)
    world.columns["status"][7] = Status.CREATED
    with pytest.raises(InvalidTransition, match="created to idle"):
        transition(world, np.array([7]), "idle")


def test_every_pair_follows_the_table(world):
    for old in Status:
        for new in Status:
            world.columns["status"][10] = old
            if new in ALLOWED[old] or new == old:
                transition(world, np.array([10]), new)
                assert world.columns["status"][10] == new
            else:
                with pytest.raises(InvalidTransition):
                    transition(world, np.array([10]), new)
                assert world.columns["status"][10] == old


def test_bad_names_and_indices(world):
    with pytest.raises(BadParameterError, match="unknown lifecycle status"):
        parse_status("sleepy")
    with pytest.raises(BadParameterError):
        transition(world, np.array([world.n]), "idle")


async def test_inactive_agents_are_not_online_or_seeds(world):
    transition(world, np.arange(0, 250), "suspended")
    online = world.advance(1)
    assert not online[:250].any()
    sim = Simulation(world)
    s = sim.inject("x", seeds="random:100", params={"p": 0.0})
    await sim.step()
    seeds = np.flatnonzero(s.adopted_at >= 0)
    assert seeds.size == 100 and (seeds >= 250).all()


def test_minutes_per_tick_sets_the_simulated_clock(tmp_path):
    import asyncio

    from sim.store.worldfile import open_world

    out = agora(tmp_path, "new", "w.db", "--agents", "300", "--minutes-per-tick", "60")
    assert out.returncode == 0, out.stderr
    world = asyncio.run(open_world(str(tmp_path / "w.db")))
    assert world.config["minutes_per_tick"] == 60
    start = world.config.get("start_hour", 8)
    assert [world.hour_of(t) for t in range(3)] == [start % 24, (start + 1) % 24, (start + 2) % 24]
