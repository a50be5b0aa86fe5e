"""Batched ensembles (``sim.runs.batched``, ``agora run --runs R --kernel batched``).

1. **ic is the engine's run.** A batched ``ic`` run draws what the engine's ``ic`` draws, in the same order:
   every field of its report equals the engine's run of the same seed (series, forest measures, attempts,
   exposed, ticks, status), and the generator is left where the engine leaves it.
2. **lt: an oracle fed the same random words.** The engine's ``lt`` given the batched run's thresholds must
   report every field the batched run reports; the thresholds are uniform; the reach follows the
   Kempe-Kleinberg-Tardos live-edge law.
3. **Law.** ``ic``'s reach on the diamond follows the exact enumeration of ``test_models.py``.
4. **Reproducible.** A run's result does not depend on the other runs or the number of workers.
5. **Who runs batched.** ``auto`` falls back to the engine (and says why) where the batched path does not
   apply; ``--kernel batched`` refuses such an ensemble in one sentence, exit 2.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math

import numpy as np
import pytest
from conftest import agora

from plugins.ic import IndependentCascade
from plugins.lt import LinearThreshold
from sim.core.world import build_world
from sim.engine.simulation import Simulation
from sim.errors import BadParameterError
from sim.model.registry import Registry
from sim.model.seeds import SeedSpec
from sim.runs import batched
from sim.runs.runner import run_cascades
from sim.runs.transport import fork_available
from sim.store.create import synthetic_world


class GivenLT(LinearThreshold):
    """The engine's lt with its thresholds given (the batched run's, from its random words)."""

    name = "lt-given"
    thresholds_given = np.zeros(0, dtype=np.float32)

    def start(self, ctx):  # type: ignore[no-untyped-def]
        ctx.store["threshold"] = GivenLT.thresholds_given.copy()


class OtherIC(IndependentCascade):
    """A user's model that happens to be ic: it runs on the engine."""

    name = "ic-copy"


def _run(world, registry, **kw):
    base = {"registry": registry, "text": "m", "seeds": "random:5", "model": "ic", "seed": 7}
    return asyncio.run(run_cascades(world, **{**base, **kw}))


@pytest.fixture(scope="module")
def world():
    return synthetic_world("batched", 400, avg_degree=6, seed=3)


@pytest.fixture(scope="module")
def registry():
    reg = Registry([])
    reg.register(OtherIC)
    reg.register(GivenLT)
    return reg


@pytest.fixture(params=["direct", "chunks"])
def reads(request, monkeypatch):
    """Both ways a cascade reads its edges: straight from the graph (a small world's), and by chunks of at
    most one sender's edges (a large world's way, forced here: many chunks a round)."""
    if request.param == "chunks":
        monkeypatch.setattr(batched, "DIRECT_AGENTS", 0)
        monkeypatch.setattr(batched, "CHUNK_EDGES", 1)
    return request.param


@pytest.mark.parametrize(
    ("p", "how", "seeds"),
    [
        (0.2, {"until_done": True}, "random:5"),
        (0.45, {"until_done": True}, "top:3"),
        (0.45, {"steps": 4}, "random:5"),  # cut short: transmitters of the last rounds never sent
        (0.6, {"until_done": True, "max_ticks": 3}, "random:5"),  # max-ticks
        (1.0, {"until_done": True}, "random:2"),
        (0.0, {"steps": 3}, "random:5"),
    ],
)
def test_an_ic_run_is_the_engines_run_of_the_same_seed(world, registry, reads, p, how, seeds):
    kw = {"runs": 8, "params": {"p": p}, "seeds": seeds, **how}
    got = _run(world, registry, kernel="batched", **kw)
    want = _run(world, registry, kernel="engine", **kw)
    assert got["kernel"] == "batched" and got["kernel_reason"] is None and want["kernel"] == "engine"
    for r, (mine, theirs) in enumerate(zip(got["runs"], want["runs"], strict=True)):
        for key in set(mine) | set(theirs):
            if key != "seconds":
                assert mine.get(key) == theirs.get(key), (r, key, mine.get(key), theirs.get(key))
    assert {k: v for k, v in got.items() if k not in ("runs", "kernel", "kernel_reason")} == {
        k: v for k, v in want.items() if k not in ("runs", "kernel", "kernel_reason")
    }
    if p not in (0.0, 1.0):
        assert len({r["reached"] for r in got["runs"]}) > 1  # the runs differ: the comparison tests something


@pytest.mark.parametrize(
    ("params", "how", "seeds"),
    [
        ({"beta": 0.15, "gamma": 0.3}, {"until_done": True}, "random:5"),
        ({"beta": 0.4, "gamma": 0.1}, {"until_done": True}, "top:4"),
        ({"beta": 0.3, "gamma": 0.2}, {"steps": 5}, "random:5"),
        ({"beta": 0.5, "gamma": 0.05}, {"until_done": True, "max_ticks": 6}, "random:3"),
        ({"beta": 1.0, "gamma": 1.0}, {"until_done": True}, "random:2"),
        ({"beta": 0.0, "gamma": 0.5}, {"until_done": True}, "random:5"),
    ],
)
def test_a_sir_run_is_the_engines_run_of_the_same_seed(world, registry, reads, params, how, seeds):
    kw = {"runs": 8, "model": "sir", "params": params, "seeds": seeds, **how}
    got = _run(world, registry, kernel="batched", **kw)
    want = _run(world, registry, kernel="engine", **kw)
    assert got["kernel"] == "batched" and want["kernel"] == "engine"
    for r, (mine, theirs) in enumerate(zip(got["runs"], want["runs"], strict=True)):
        for key in set(mine) | set(theirs):
            if key != "seconds":
                assert mine.get(key) == theirs.get(key), (r, key, mine.get(key), theirs.get(key))
    if params["beta"] not in (0.0, 1.0):
        assert len({r["reached"] for r in got["runs"]}) > 1
    if params["beta"] not in (0.0, 1.0) and how == {"until_done": True}:
        # Generations are not rounds in an epidemic: the forest's depth is below the last round somewhere.
        assert any(r["cascade"]["depth"] < r["rounds"] - 1 for r in got["runs"])


def test_ic_runs_where_the_engine_has_live_edges_to_adopted_agents(world, registry, reads):
    # A dense world and a high p: many rounds where several senders reach one target, and edges to agents
    # adopted this round still draw (the engine's open edges).
    dense = synthetic_world("dense", 300, avg_degree=20, seed=5)
    kw = {"runs": 5, "params": {"p": 0.3}, "until_done": True, "seeds": "random:20"}
    got, want = _run(dense, registry, kernel="batched", **kw), _run(dense, registry, kernel="engine", **kw)
    assert [r["series"] for r in got["runs"]] == [r["series"] for r in want["runs"]]
    assert [r["cascade"] for r in got["runs"]] == [r["cascade"] for r in want["runs"]]


@pytest.mark.parametrize(
    ("how", "seeds"),
    [({"until_done": True}, "random:20"), ({"until_done": True}, "top:10"), ({"steps": 3}, "random:30")],
)
def test_lt_fields_are_the_engines_for_the_same_thresholds(world, registry, reads, how, seeds):
    runs = 6
    got = _run(world, registry, runs=runs, model="lt", seeds=seeds, kernel="batched", **how)
    assert got["kernel"] == "batched"
    grown = 0
    for r, mine in enumerate(got["runs"]):
        picked, key = batched.run_key(world, 1, 7 + r, SeedSpec.parse(seeds), None)
        GivenLT.thresholds_given = batched.lt_thresholds(np.full(world.n, key), np.arange(world.n))
        oracle = _run(world, registry, runs=1, seed=7 + r, model="lt-given", seeds=seeds, **how)
        want = oracle["runs"][0]
        want["seed"] = 7 + r
        for key_ in set(want) | set(mine):
            if key_ != "seconds":
                assert mine.get(key_) == want.get(key_), (r, key_, mine.get(key_), want.get(key_))
        grown += mine["reached"] > picked.size
    assert grown, "no cascade grew past its seeds: the comparison tested nothing"


def test_lt_thresholds_are_uniform():
    t = batched.lt_thresholds(np.full(50_000, 12345, dtype=np.uint64), np.arange(50_000))
    assert t.dtype == np.float32 and t.min() > 0 and t.max() <= 1
    hist = np.bincount((t * 10).astype(int).clip(0, 9), minlength=10)
    assert np.all(np.abs(hist - 5_000) < 5 * math.sqrt(5_000 * 0.9))


def test_the_report_averages_the_batched_runs(world, registry):
    got = _run(world, registry, runs=30, params={"p": 0.3}, until_done=True, kernel="batched")
    assert got["kernel"] == "batched"
    reached = [r["reached"] for r in got["runs"]]
    assert got["mean_reached"] == pytest.approx(np.mean(reached))
    assert got["completed"] == 30 and got["failed"] == 0
    assert len({tuple(r["new_per_tick"]) for r in got["runs"]}) > 1  # the runs differ


# The diamond of test_models.py: 0 -> 1, 0 -> 2, 1 -> 2, 1 -> 3, 2 -> 3.
DIAMOND = [(0, 1), (0, 2), (1, 2), (1, 3), (2, 3)]


def _reach_law(p: float) -> dict[int, float]:
    law: dict[int, float] = {}
    for live in itertools.product([0, 1], repeat=len(DIAMOND)):
        seen, stack = {0}, [0]
        while stack:
            u = stack.pop()
            for (a, b), on in zip(DIAMOND, live):
                if on and a == u and b not in seen:
                    seen.add(b)
                    stack.append(b)
        prob = p ** sum(live) * (1 - p) ** (len(DIAMOND) - sum(live))
        law[len(seen)] = law.get(len(seen), 0.0) + prob
    return law


def test_reach_on_the_diamond_follows_the_exact_law():
    p, runs = 0.3, 6_000
    world = build_world("diamond", 0, 4, np.array([a for a, _ in DIAMOND]), np.array([b for _, b in DIAMOND]))
    got = _run(world, Registry([]), runs=runs, params={"p": p}, seeds="ids:0", until_done=True, kernel="batched")
    _assert_law(np.array([r["reached"] for r in got["runs"]]), _reach_law(p))


def _assert_law(reach: np.ndarray, law: dict[int, float]) -> None:
    """The runs' reach against an exact law: the mean within 4.5 standard errors, and Pearson's chi-square
    over the sizes below 35 (at most 5 degrees of freedom here: far past p = 1e-5); no size outside the law."""
    exact = sum(k * q for k, q in law.items())
    se = reach.std(ddof=1) / math.sqrt(reach.size)
    assert abs(reach.mean() - exact) < 4.5 * se, (reach.mean(), exact)
    chi2 = sum((np.count_nonzero(reach == k) - reach.size * q) ** 2 / (reach.size * q) for k, q in law.items())
    assert chi2 < 35, chi2
    assert set(reach.tolist()) <= set(law)


# lt: 0 is the seed; 4 follows nobody, so an agent that picks 4 in the live-edge view is not reached.
LT_EDGES = [(0, 1), (0, 2), (1, 2), (4, 2), (1, 3), (2, 3), (4, 3), (3, 5), (4, 5)]


def _lt_reach_law(k: int, edges: list[tuple[int, int]], seed: int) -> dict[int, float]:
    """Kempe-Kleinberg-Tardos: with uniform thresholds, lt's final set has the law of the live-edge model where
    each agent keeps exactly one of its in-edges, each with probability 1/in-degree (none if it has none)."""
    ins = {v: [a for a, b in edges if b == v] for v in range(k)}
    agents = [v for v in range(k) if v != seed]
    law: dict[int, float] = {}
    for pick in itertools.product(*[ins[v] or [None] for v in agents]):
        prob = math.prod(1 / len(ins[v]) for v in agents if ins[v])
        parent = dict(zip(agents, pick))
        reached = 1
        for v in agents:
            u, seen = v, set()
            while u is not None and u != seed and u not in seen:
                seen.add(u)
                u = parent[u]
            reached += u == seed
        law[reached] = law.get(reached, 0.0) + prob
    return law


def test_lt_reach_follows_the_live_edge_law():
    runs = 6_000
    src, dst = np.array([a for a, _ in LT_EDGES]), np.array([b for _, b in LT_EDGES])
    world = build_world("lt", 0, 6, src, dst)
    got = _run(world, Registry([]), runs=runs, model="lt", seeds="ids:0", until_done=True, kernel="batched")
    law = _lt_reach_law(6, LT_EDGES, 0)
    assert len(law) >= 3  # a law with some spread
    _assert_law(np.array([r["reached"] for r in got["runs"]]), law)


def test_a_run_is_the_same_whatever_the_other_runs_and_the_workers(world, registry):
    kw = {"runs": 12, "params": {"p": 0.35}, "until_done": True, "kernel": "batched"}
    whole = _run(world, registry, workers=1, **kw)["runs"]
    later = _run(world, registry, workers=1, **{**kw, "runs": 4, "seed": 7 + 8})["runs"]
    assert [r["cascade"] for r in later] == [r["cascade"] for r in whole[8:]]
    assert [r["new_per_tick"] for r in later] == [r["new_per_tick"] for r in whole[8:]]
    if fork_available():
        spread = _run(world, registry, workers=3, **kw)["runs"]
        assert [(r["reached"], r["attempts"], r["exposed"], r["cascade"]) for r in spread] == [
            (r["reached"], r["attempts"], r["exposed"], r["cascade"]) for r in whole
        ]


def test_auto_falls_back_to_the_engine_and_says_why(world, registry):
    trust = _run(world, registry, runs=2, params={"p": 0.2, "trust_weighted": True}, until_done=True)
    assert trust["kernel"] == "engine" and "trust" in trust["kernel_reason"]
    other = _run(world, registry, runs=2, params={"p": 0.2}, model="ic-copy", until_done=True)
    assert other["kernel"] == "engine" and "built-in ic, lt, sir and seir" in other["kernel_reason"]
    lt_trust = _run(world, registry, runs=2, model="lt", params={"weights": "trust"}, until_done=True)
    assert lt_trust["kernel"] == "engine" and "trust" in lt_trust["kernel_reason"]
    trees = _run(world, registry, runs=2, params={"p": 0.2}, until_done=True, trees=True)
    assert trees["kernel"] == "engine" and trees["runs"][0]["tree"] is not None
    forced = _run(world, registry, runs=2, params={"p": 0.2}, until_done=True, kernel="engine")
    assert forced["kernel"] == "engine" and forced["kernel_reason"] == "--kernel engine"
    with pytest.raises(BadParameterError, match="kernel batched cannot run this ensemble: interventions"):
        _run(world, registry, runs=2, until_done=True, kernel="batched", intervene=["2:remove-edges:0.1"])
    with pytest.raises(BadParameterError, match="kernel 'fast' is unknown"):
        _run(world, registry, runs=2, until_done=True, kernel="fast")


def test_auto_batches_ic_and_sir_from_a_hundred_runs_and_lt_always(world, registry):
    # Below batched.AUTO_RUNS runs, ic and sir (the same on both kernels) tick through the engine: loading
    # the compiled kernel would cost more than it saves. lt runs batched at any size, so that its runs never
    # depend on the ensemble's size.
    for model, params in (("ic", {"p": 0.2}), ("sir", {"beta": 0.2, "gamma": 0.4})):
        few = _run(world, registry, runs=3, model=model, params=params, until_done=True)
        assert few["kernel"] == "engine" and "a small ensemble (3 runs of " + model in few["kernel_reason"]
        many = _run(world, registry, runs=batched.AUTO_RUNS, model=model, params=params, until_done=True)
        assert many["kernel"] == "batched" and many["kernel_reason"] is None
        # The first runs of both are the same runs: the choice is invisible in the results.
        assert [r["reached"] for r in many["runs"][:3]] == [r["reached"] for r in few["runs"]]
        assert [r["cascade"] for r in many["runs"][:3]] == [r["cascade"] for r in few["runs"]]
    few_lt = _run(world, registry, runs=3, model="lt", until_done=True)
    assert few_lt["kernel"] == "batched"


def test_a_world_with_its_own_running_session_runs_on_the_engine(world, registry):
    w = world.fork(shared=False)
    Simulation(w, registry=registry).inject("other", seeds="random:3", model="ic", seed=1)
    got = _run(w, registry, runs=2, params={"p": 0.2}, until_done=True)
    assert got["kernel"] == "engine" and "sessions of its own" in got["kernel_reason"]


def test_cli_kernel(tmp_path):
    assert agora(tmp_path, "new", "w.db", "--agents", "300", "--seed", "2").returncode == 0
    res = agora(
        tmp_path, "run", "w.db", "--inject", "m", "--runs", "5", "--until-done", "--kernel", "batched", "--json"
    )
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["kernel"] == "batched" and len(out["runs"]) == 5
    text = agora(tmp_path, "run", "w.db", "--inject", "m", "--runs", "3", "--until-done", "--kernel", "batched").stdout
    assert "runs computed by the batched kernel" in text
    text = agora(tmp_path, "run", "w.db", "--inject", "m", "--runs", "3", "--until-done").stdout
    assert "runs ticked through the engine: a small ensemble (3 runs of ic" in text
    text = agora(tmp_path, "run", "w.db", "--inject", "m", "--model", "sis", "--runs", "3", "--steps", "5").stdout
    assert "runs ticked through the engine: only the built-in ic, lt, sir and seir run batched" in text
    res = agora(tmp_path, "run", "w.db", "--inject", "m", "--until-done", "--kernel", "batched")
    assert res.returncode == 2 and "--kernel chooses how an ensemble runs: add --runs R" in res.stderr
    many = ("run", "w.db", "--inject", "m", "--runs", "2", "--until-done", "--kernel", "batched")
    res = agora(tmp_path, *many, "--cascades", "c.csv")
    assert res.returncode == 2 and "--kernel batched cannot run this ensemble" in res.stderr


def test_the_kernels_step_pcg64_as_numpy_does():
    # The kernels draw ic's and sir's numbers by stepping the run's PCG64 state themselves: the same doubles
    # as numpy's Generator.random(), bit for bit, whatever the generator drew before (a buffered 32-bit half
    # of an integers() draw included), and the state written back is numpy's after those draws.
    from numba import njit

    from sim.runs.kernels import kernel_step

    @njit
    def draws(pcg, k):  # type: ignore[no-untyped-def]
        out = np.empty(k)
        sh, sl = pcg[0], pcg[1]
        for i in range(k):
            sh, sl, x = kernel_step(sh, sl, pcg[2], pcg[3])
            out[i] = np.float64(x >> np.uint64(11)) * (1.0 / 9007199254740992.0)  # numpy's next_double
        pcg[0], pcg[1] = sh, sl
        return out

    for seed in range(12):
        rng = np.random.default_rng([seed, 100, 7])
        rng.integers(0, 10, size=seed % 4)  # small integers come from 32-bit halves
        pcg = batched.pcg_state(rng)
        got = draws(pcg, 2_000)
        assert np.array_equal(got, rng.random(2_000)), seed
        assert np.array_equal(pcg, batched.pcg_state(rng))


def test_a_runs_start_is_numpys_draws_bit_for_bit():
    # kernels.start seeds the run's generator (SeedSequence, then PCG64) and draws its seeds (choice without
    # replacement: Floyd's algorithm and its shuffle, or a tail shuffle of a large share) in compiled code: the
    # seeds, the generator's state after them and its next word are numpy's, for world seeds and run seeds of
    # one, two or three 32-bit words.
    from sim.core.world import world_rng
    from sim.runs.kernels import start

    cases = [  # (world seed, session, agents, seeds): Floyd's path, then the tail shuffle's (k > pop // 50)
        (1, 1, 100_000, 10),
        (0, 0, 4_039, 10),
        (2**40 + 5, 3, 1_000_000, 10),
        (9, 1, 50, 50),
        (11, 5, 10, 1),
        (3, 2, 3, 0),
        (7, 2**33, 20_000, 1_000),
        (5, 6, 200_000, 5_000),
    ]
    checked = 0
    for world_seed, session, pop, k in cases:
        head = np.array(batched._words(world_seed) + batched._words(100), dtype=np.uint64)
        tail = np.array(batched._words(session), dtype=np.uint64)
        for run_seed in [*range(40), 2**32 - 1, 2**32, 2**40 + 3, 2**63 - 1]:
            rng = world_rng(world_seed, 100, run_seed, session)
            want = np.sort(rng.choice(pop, size=k, replace=False)) if k else np.empty(0, dtype=np.int64)
            want_pcg, want_key = batched.pcg_state(rng), batched._key(rng)
            picked, pcg = np.zeros(max(k, 1), dtype=np.int64), np.zeros(4, dtype=np.uint64)
            key = start(head, run_seed, tail, pop, k, picked, pcg)
            assert np.array_equal(picked[:k], want), (world_seed, session, pop, k, run_seed)
            assert np.array_equal(pcg, want_pcg) and key == want_key, (world_seed, session, pop, k, run_seed)
            checked += 1
    assert checked == len(cases) * 44


def test_the_starter_draws_in_compiled_code_only_what_it_can_and_numpy_the_rest(world):
    # random:K of all agents and seeds that draw nothing start in compiled code; run seeds out of its range
    # (and other selections) go through numpy; both give the same seeds, state and key.
    from sim.core.world import world_rng

    spec = SeedSpec.parse("random:7")
    compiled = batched._starter(world, spec, None, 2, range(5, 9))
    assert compiled.__name__ == "compiled"
    drawn = batched._starter(world, spec, None, 2, range(-1, 9))
    assert drawn.__name__ == "drawn"
    for s in range(5, 9):
        a, b = compiled(s), drawn(s)
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]
    fixed = np.array([3, 8, 11], dtype=np.int64)
    given = batched._starter(world, spec, fixed, 2, range(5, 9))
    assert given.__name__ == "compiled" and np.array_equal(given(6)[0], fixed)
    assert np.array_equal(given(6)[1], batched.pcg_state(world_rng(world.seed, 100, 6, 2)))


def test_an_ensemble_on_another_graph_of_the_same_size_reads_that_graph(registry):
    # The kernels' graph arrays (and lt's table of in-degrees) are kept for the next ensemble on the same
    # graph: one on another graph of as many agents reads its own, for ic (the engine's runs) and lt.
    a = synthetic_world("a", 500, avg_degree=6, seed=11)
    b = synthetic_world("b", 500, avg_degree=9, seed=12)
    kw = {"runs": 4, "until_done": True}
    for model, params in (("lt", {}), ("ic", {"p": 0.3})):
        batched._arrays.clear()
        batched._spare.clear()
        _run(a, registry, model=model, params=params, kernel="batched", **kw)
        again = _run(b, registry, model=model, params=params, kernel="batched", **kw)  # after a's
        batched._arrays.clear()
        batched._spare.clear()
        fresh = _run(b, registry, model=model, params=params, kernel="batched", **kw)  # nothing kept
        assert [r["series"] for r in again["runs"]] == [r["series"] for r in fresh["runs"]], model
        assert [r["cascade"] for r in again["runs"]] == [r["cascade"] for r in fresh["runs"]], model
        assert any(r["reached"] > 5 for r in fresh["runs"]), model
    engine = _run(b, registry, model="ic", params={"p": 0.3}, kernel="engine", **kw)
    assert [r["series"] for r in again["runs"]] == [r["series"] for r in engine["runs"]]
