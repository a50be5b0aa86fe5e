"""What an injection takes from outside is checked before anything changes: every integer against the
range of the column it lands in, seed counts against the world, and a seed file read once — a stored
session keeps the agent ids, never the file to read again.

Real world files and snapshots; the engine's own ``Simulation.inject`` (every front end calls it).
"""

from __future__ import annotations

import asyncio
import contextlib
import io

import numpy as np
import pytest

from sim.cli.main import main
from sim.engine.simulation import Simulation
from sim.errors import BadParameterError
from sim.store.create import synthetic_world


@pytest.fixture
def world():
    return synthetic_world("bounds", 600, avg_degree=6, seed=5)


@pytest.mark.parametrize(
    "kw, needle",
    [
        (dict(priority=1180591620717411303424), "priority 1180591620717411303424 is invalid"),
        (dict(priority=-(2**31) - 1), "priority -2147483649 is invalid"),
        (dict(priority=True), "priority True is invalid"),
        (dict(seed=-1), "session seed -1 is invalid"),
        (dict(seed=2**63), "session seed 9223372036854775808 is invalid"),
        (dict(author=10**25), "author 10000000000000000000000000 is invalid"),
        (dict(seeds="ids:99999999999999999999999"), "seed id 99999999999999999999999 is out of range"),
        (dict(seeds="random:99999999999999999999999"), "is not valid"),
        (dict(seeds="random:601"), "random:601 asks for 601 seeds but only 600 agents are eligible"),
        (dict(seeds="top:100000"), "asks for 100,000 seeds"),
        (dict(seeds="community:99:5"), "community 99"),
        (dict(model="nope"), "unknown model 'nope'"),
    ],
)
def test_an_injection_out_of_range_changes_nothing(world, kw, needle):
    sim = Simulation(world)
    with pytest.raises(BadParameterError) as err:
        sim.inject("x", **kw)
    assert needle in str(err.value)
    assert "\n" not in str(err.value)
    assert world.messages == [] and world.sessions == []


def test_the_edges_of_each_range_are_accepted(world):
    sim = Simulation(world)
    for kw in (dict(priority=2**31 - 1), dict(priority=-(2**31)), dict(seed=2**63 - 1), dict(seeds="random:600")):
        assert sim.inject("x", **kw).status == "queued"


def test_the_cli_refuses_a_priority_out_of_range(tmp_path):
    from sim.store.worldfile import save_world

    path = tmp_path / "w.db"
    asyncio.run(save_world(synthetic_world("w", 300, seed=1), str(path)))
    before = path.read_bytes()
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["run", str(path), "--steps", "2", "--inject", "x", "--priority", "1180591620717411303424"])
    assert code == 2 and "priority" in err.getvalue() and len(err.getvalue().splitlines()) == 1
    assert path.read_bytes() == before


def _ids_file(path, world, agents) -> None:
    path.write_text("".join(f"{int(world.columns['ids'][i])}\n" for i in agents))


def test_a_seed_file_is_read_once_when_injected(world, tmp_path, monkeypatch):
    """The file is read at injection; when the session starts it is not read again (here: the file has
    changed by then, and reading it would fail)."""
    import sim.model.seeds as seeds_module

    seeds_file = tmp_path / "seeds.txt"
    _ids_file(seeds_file, world, [3, 7, 11])
    sim = Simulation(world)
    s = sim.inject("x", seeds=f"file:{seeds_file}")
    assert s.seed_agents.tolist() == [3, 7, 11]
    _ids_file(seeds_file, world, [100, 200])

    def no_reading(path):
        raise AssertionError(f"the seed file {path} was read again")

    monkeypatch.setattr(seeds_module, "read_seed_file", no_reading)
    asyncio.run(sim.step())
    assert s.status == "running"
    assert np.flatnonzero(s.adopted_at == s.started_tick).tolist() == [3, 7, 11]


@pytest.mark.parametrize("store", ["world file", "snapshot"])
def test_a_stored_queued_session_keeps_its_seed_ids_not_its_file(world, tmp_path, monkeypatch, store):
    """Saved before it starts, a file-seeded session comes back with the ids it was given: restarting
    from the world file or a snapshot never opens the seed file (here: gone, replaced by a FIFO that
    would block whoever read it)."""
    import os

    import sim.model.seeds as seeds_module
    from sim.store.snapshot import load_snapshot, save_snapshot
    from sim.store.worldfile import open_world, save_world

    seeds_file = tmp_path / "seeds.txt"
    _ids_file(seeds_file, world, [5, 9])
    sim = Simulation(world)
    sim.inject("x", seeds=f"file:{seeds_file}")
    if store == "world file":
        path = tmp_path / "w.db"
        asyncio.run(save_world(world, str(path)))
        back = asyncio.run(open_world(str(path)))
    else:
        path = tmp_path / "w.snap"
        save_snapshot(world, str(path))
        back = load_snapshot(str(path))
    seeds_file.unlink()
    os.mkfifo(seeds_file)

    def no_reading(path):
        raise AssertionError(f"the seed file {path} was read again")

    monkeypatch.setattr(seeds_module, "read_seed_file", no_reading)
    (s,) = back.sessions
    assert s.status == "queued" and s.seed_agents.tolist() == [5, 9]
    asyncio.run(Simulation(back).step())
    assert s.status == "running"
    assert np.flatnonzero(s.adopted_at == s.started_tick).tolist() == [5, 9]


def test_a_stored_file_session_without_ids_fails_instead_of_reading(world, tmp_path):
    """A session stored by an earlier version (a file name and no ids) fails with one sentence when it
    would start: the engine never opens a file a stored record names."""
    from sim.model.session import PropagationSession

    s = PropagationSession(
        id=1,
        message_id=1,
        model_name="ic",
        params={"p": 0.1},
        seeds=f"file:{tmp_path / 'x.txt'}",
        message={"id": 1, "text": "x", "topics": 0, "author": None, "created_tick": 0},
    )
    world.messages.append(s.message)
    world.sessions.append(s)
    asyncio.run(Simulation(world).step())
    assert s.status == "failed" and "kept no seed ids" in s.error and "inject it again" in s.error


def test_a_fifo_named_as_a_seed_file_is_refused_not_waited_on(world, tmp_path):
    import os

    fifo = tmp_path / "seeds.fifo"
    os.mkfifo(fifo)
    with pytest.raises(BadParameterError, match="is not a regular file"):
        Simulation(world).inject("x", seeds=f"file:{fifo}")
    assert world.sessions == []
