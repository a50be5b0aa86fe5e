"""Batched runs from a state (``sim.runs.batched.continue_batched``, issue 47 target 7).

A world is run on the engine to the middle of a cascade and saved (a snapshot, or a world file); reopened, its
session is continued (a) by the engine, tick by tick, and (b) by the compiled kernel from the saved state. Every
field of every run's report is the same:

1. **ic, lt and sir, several seeds**: run ``r`` of the kernel with seed ``S`` equals the engine's session
   reseeded with ``S + r`` (:meth:`PropagationSession.reseed`) and stepped until done, or cut short, or stopped
   at ``max_ticks``; graphs read straight and by chunks.
2. **The saved generator**: without a seed the kernel goes on with the session's own generator, and equals the
   run that was never saved (so the state it read is the whole state).
3. **The state counts**: the saved state is truly mid-cascade (a frontier, agents reached but not adopted,
   adopters past the seeds), and a kernel that dropped any part of it would differ (checked by dropping parts).
4. **Who continues batched**: sessions the kernel cannot continue get one sentence.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from sim.core.world import World
from sim.engine.simulation import Simulation
from sim.errors import BadParameterError
from sim.model.registry import Registry
from sim.model.session import PropagationSession, continued_rng
from sim.runs import batched
from sim.runs.reports import TOTALS, RunEntry, no_totals
from sim.runs.runner import run_entry
from sim.store.create import synthetic_world
from sim.store.snapshot import load_snapshot, save_snapshot
from sim.store.worldfile import open_world, save_world

#: (model, params, seeds, ticks run before the save): each leaves a cascade well under way.
CASES = {
    "ic": ({"p": 0.2}, "random:4", 3),
    "lt": ({}, "random:25", 2),
    "sir": ({"beta": 0.25, "gamma": 0.3}, "random:4", 3),
}
SEEDS = (0, 1, 2)  # the injected sessions' seeds: three cascades a model


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry([])


@pytest.fixture(params=["direct", "chunks"])
def reads(request, monkeypatch):
    """Both ways a run reads its edges (see tests/test_batched.py)."""
    if request.param == "chunks":
        monkeypatch.setattr(batched, "DIRECT_AGENTS", 0)
        monkeypatch.setattr(batched, "CHUNK_EDGES", 1)
    return request.param


def _session(world: World) -> PropagationSession:
    (s,) = world.sessions
    return s


def _mid_cascade(registry: Registry, model: str, seed: int, tmp_path, n: int = 600) -> tuple[str, World]:
    """A world whose one session of ``model`` ran to mid-cascade, saved as a snapshot: its path, and the world
    (still live: it may be run on)."""
    params, seeds, ticks = CASES[model]
    world = synthetic_world("state", n, avg_degree=7, seed=5)
    sim = Simulation(world, registry=registry)
    sim.inject("m", seeds=seeds, model=model, params=params, seed=seed)
    for _ in range(ticks + 1):  # the first tick seeds
        sim.step_now()
    path = str(tmp_path / f"{model}-{seed}.snap")
    save_snapshot(world, path)
    return path, world


def _assert_mid_cascade(s: PropagationSession) -> None:
    """The state has every part a continuation reads: a frontier, exposed agents that have not adopted,
    adopters past the seeds, rounds and attempts."""
    assert s.status == "running" and s.round >= 2
    assert s.frontier.size > 0
    assert s.reached > s.seeds_count
    assert np.count_nonzero(s.exposed & (s.adopted_at < 0)) > 0
    assert s.attempts > 0


def _engine(
    world: World, registry: Registry, seed: int | None, limit: int, until_done: bool, max_ticks: int
) -> RunEntry:
    """The engine's continuation of the world's session (reseeded with ``seed``, or as saved), as ``agora run``
    reports a run: ticked as :class:`sim.runs.runner._Watched` ticks it."""
    sim = Simulation(world, registry=registry)
    s = _session(world)
    if seed is not None:
        s.reseed(world.seed, seed)
    t0, done, totals = time.perf_counter(), 0, no_totals()
    while done < limit and not (until_done and sim.idle):
        m = sim.step_now()
        for k in TOTALS:
            totals[k] += int(m.get(k, 0))
        done += 1
    out = run_entry(sim, s.id, done, time.perf_counter() - t0, totals, until_done=until_done, ensemble=True)
    out["seed"] = s.seed
    if until_done and not sim.idle:
        out["stopped"] = f"max ticks ({max_ticks}) reached before every session finished"
    return out


def proposal_kernel(world: World, registry: Registry, seed: int | None, runs: int, **how) -> list[RunEntry]:
    s = _session(world)
    assert batched.why_not_continue(world, Simulation(world, registry=registry), s) is None
    return batched.continue_batched(world, s, seed=seed, runs=list(range(runs)), **how)


def _assert_same(mine: RunEntry, theirs: RunEntry, where: object) -> None:
    for key in set(mine) | set(theirs):
        if key != "seconds":
            assert mine.get(key) == theirs.get(key), (where, key, mine.get(key), theirs.get(key))


def _how(limit: int, until_done: bool, max_ticks: int = 10_000) -> dict[str, object]:
    return {"limit": limit, "until_done": until_done, "max_ticks": max_ticks}


@pytest.mark.parametrize("model", list(CASES))
@pytest.mark.parametrize(
    "how",
    [_how(10_000, True), _how(2, False), _how(3, True, 3)],
    ids=["until-done", "two-ticks", "max-ticks"],
)
def test_a_run_from_a_saved_state_is_the_engines_continuation(registry, reads, tmp_path, model, how):
    runs, base = 4, 40
    grew = 0
    for seed in SEEDS:
        path, _ = _mid_cascade(registry, model, seed, tmp_path)
        saved = load_snapshot(path)
        _assert_mid_cascade(_session(saved))
        before = {k: v.copy() for k, v in _session(saved).arrays().items()}
        got = proposal_kernel(saved, registry, base, runs, **how)
        s = _session(saved)
        assert all(np.array_equal(v, s.arrays()[k]) for k, v in before.items())  # the world is not changed
        assert s.seed == seed and s.status == "running"
        for r in range(runs):
            want = _engine(load_snapshot(path), registry, base + r, **how)
            _assert_same(got[r], want, (model, seed, r))
        grew += sum(run["reached"] > s.reached for run in got)
        if model != "lt" and how["until_done"] and how["limit"] > 3:
            # ic and sir draw their continuations: different seeds, different futures (lt draws nothing after
            # its start: its thresholds are part of the state, and so is its future).
            assert len({tuple(run["new_per_tick"]) for run in got}) > 1, (model, seed)
    assert grew, "no continuation grew past the saved state: the comparison tested little"


@pytest.mark.parametrize("model", list(CASES))
def test_the_saved_generator_continues_the_run_that_was_never_saved(registry, reads, tmp_path, model):
    for seed in SEEDS:
        path, live = _mid_cascade(registry, model, seed, tmp_path)
        (got,) = proposal_kernel(load_snapshot(path), registry, None, 1, **_how(10_000, True))
        want = _engine(live, registry, None, 10_000, True, 10_000)  # the original world, run on
        _assert_same(got, want, (model, seed))
        assert got["status"] == "completed" and got["ticks"] > 0


async def _through_world_file(world: World, path: str) -> World:
    await save_world(world, path)
    return await open_world(path)


@pytest.mark.parametrize("model", list(CASES))
def test_a_state_reopened_from_a_world_file(registry, tmp_path, model):
    path, _ = _mid_cascade(registry, model, 7, tmp_path)
    db = str(tmp_path / f"{model}.db")
    reopened = asyncio.run(_through_world_file(load_snapshot(path), db))
    _assert_mid_cascade(_session(reopened))
    got = proposal_kernel(reopened, registry, 11, 3, **_how(10_000, True))
    for r in range(3):
        _assert_same(got[r], _engine(load_snapshot(path), registry, 11 + r, 10_000, True, 10_000), (model, r))


def _without(state: batched.Present, part: str) -> batched.Present:
    """``state`` with one part dropped (emptied or zeroed), as a kernel that ignored it would see it."""
    value = getattr(state, part)
    if part == "reached":
        return state._replace(reached=value[:0], followed=state.followed[:0])
    if part == "scalars":  # the counters so far: exposed, attempts, transmitting summed
        return state._replace(scalars=np.array([value[0], value[1], 0, 0, 0], dtype=np.int64))
    if part == "parents":  # every adopter a root
        return state._replace(parents=np.full_like(value, -1))
    return state._replace(**{part: np.zeros_like(value)})


@pytest.mark.parametrize("model", list(CASES))
def test_every_part_of_the_state_counts(registry, tmp_path, monkeypatch, model):
    # A kernel fed the state without one of its parts reports something else than the engine: each part is read.
    path, _ = _mid_cascade(registry, model, 1, tmp_path)
    want = [_engine(load_snapshot(path), registry, 3 + r, 10_000, True, 10_000) for r in range(4)]
    real = batched.present
    parts = ["reached", "scalars", "parents"] + {"ic": [], "lt": ["followed"], "sir": ["cured"]}[model]
    for part in parts:
        monkeypatch.setattr(batched, "present", lambda w, s, part=part: _without(real(w, s), part))
        got = proposal_kernel(load_snapshot(path), registry, 3, 4, **_how(10_000, True))
        fields = ("exposed", "attempts", "cascade", "series", "new_per_tick", "reproduction_number", "reached")
        assert any(g[k] != w[k] for g, w in zip(got, want) for k in fields), (model, part)
    monkeypatch.setattr(batched, "present", real)
    for g, w in zip(proposal_kernel(load_snapshot(path), registry, 3, 4, **_how(10_000, True)), want):
        _assert_same(g, w, model)


def test_the_continued_generator_is_seeded_alike_in_compiled_code_and_numpy(registry, tmp_path):
    path, _ = _mid_cascade(registry, "ic", 0, tmp_path)
    world = load_snapshot(path)
    s = _session(world)
    compiled = batched._continuer(world, s, 5, range(5, 9))
    assert compiled.__name__ == "compiled"
    drawn = batched._continuer(world, s, -1, range(-1, 9))
    for run_seed in range(5, 9):
        want = batched.pcg_state(continued_rng(world.seed, s.id, run_seed, s.round))
        assert np.array_equal(compiled(run_seed), want) and np.array_equal(drawn(run_seed), want)
    twin = s.copy()
    twin.reseed(world.seed, 6)
    assert twin.seed == 6 and twin.round == s.round
    assert twin.rng_state == continued_rng(world.seed, s.id, 6, s.round).bit_generator.state
    assert np.array_equal(batched.pcg_state(twin.rng), compiled(6))


def test_who_continues_batched(registry, tmp_path):
    path, _ = _mid_cascade(registry, "ic", 0, tmp_path)
    world = load_snapshot(path)
    sim = Simulation(world, registry=registry)
    s = _session(world)
    assert batched.why_not_continue(world, sim, s) is None
    with pytest.raises(BadParameterError, match="cannot continue in the batched kernel: a continuation runs at least"):
        batched.continue_batched(world, s, seed=0, runs=[0], **_how(0, True))
    sim.social.configure(recommender="random")
    assert batched.why_not_continue(world, sim, s) == "the living network runs on the engine"
    world = load_snapshot(path)
    sim = Simulation(world, registry=registry)
    s = _session(world)
    s.frontier = s.frontier[1:]  # not what ic leaves
    with pytest.raises(BadParameterError, match="its frontier is not its adopters of its last round"):
        batched.continue_batched(world, s, seed=0, runs=[0], **_how(5, True))
    while not sim.idle:
        sim.step_now()
    assert batched.why_not_continue(world, sim, s) == f"session {s.id} is completed: only a running session continues"
    trust = synthetic_world("trust", 300, avg_degree=6, seed=5)
    tsim = Simulation(trust, registry=registry)
    tsim.inject("m", seeds="random:4", model="ic", params={"p": 0.3, "trust_weighted": True}, seed=0)
    tsim.step_now()
    assert batched.why_not_continue(trust, tsim, _session(trust)) == "trust-weighted ic runs on the engine"
    seir = synthetic_world("seir", 300, avg_degree=6, seed=5)
    ssim = Simulation(seir, registry=registry)
    ssim.inject("m", seeds="random:4", model="seir", seed=0)
    ssim.step_now()
    assert batched.why_not_continue(seir, ssim, _session(seir)) == "a seir session continues on the engine"


@pytest.mark.parametrize("model", list(CASES))
def test_runs_from_seeds_after_runs_from_a_state_are_unchanged(registry, tmp_path, model):
    # Continuations put their buffers back as they found them (the state's adopters and exposed agents too):
    # the next ensemble on a world of that size, which takes the same buffers, is still the engine's runs.
    from sim.runs.runner import run_cascades

    path, _ = _mid_cascade(registry, model, 2, tmp_path)
    proposal_kernel(load_snapshot(path), registry, 0, 3, **_how(10_000, True))
    world = synthetic_world("after", 600, avg_degree=7, seed=9)
    params, seeds, _ = CASES[model]
    kw = {"registry": registry, "text": "m", "seeds": seeds, "model": model, "params": params, "runs": 4}
    got = asyncio.run(run_cascades(world, kernel="batched", until_done=True, seed=3, **kw))
    assert got["kernel"] == "batched"
    if model != "lt":  # lt's batched runs draw their thresholds their own way (tests/test_batched.py)
        want = asyncio.run(run_cascades(world, kernel="engine", until_done=True, seed=3, **kw))
        for r, (mine, theirs) in enumerate(zip(got["runs"], want["runs"], strict=True)):
            _assert_same(mine, theirs, (model, r))
    else:
        batched._spare.clear()
        fresh = asyncio.run(run_cascades(world, kernel="batched", until_done=True, seed=3, **kw))
        assert [r["cascade"] for r in got["runs"]] == [r["cascade"] for r in fresh["runs"]]
