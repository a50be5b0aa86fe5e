"""Ensembles beside their yardsticks: what one cascade of an ``agora run --runs`` ensemble costs, against
CyNetDiff and a plain numpy frontier kernel on the same graph (the ``yardsticks`` part of ``agora bench
propagation``).

For each size (default 100,000 and 1,000,000 agents, about ten follows each; ``synthetic_world`` with the
benchmark's seed), in a fresh process holding only that world:

- **Agora**: ``run_cascades`` as ``agora run --runs R --until-done --kernel batched`` runs it (offline,
  nobody watching; ``auto`` would tick fewer than 100 runs of ``ic`` or ``sir`` through the engine), with one
  worker and with one worker per CPU; the figure is the ensemble's wall-clock time over its runs, its
  set-up included (the plugin registry is loaded once before, as ``agora run`` loads it at start-up).
  Models ``ic`` (``p``), ``lt`` (uniform weights) and ``sir`` (``beta``, ``gamma``), ``feed_weight`` 0 so
  that the rule is the graph's alone, as in the yardsticks; 10 random seeds a run.
- **CyNetDiff** (``pip install 'agora-sim[bench]'``; Cython, one core): its ``IndependentCascadeModel``
  and ``LinearThresholdModel`` on the same out-CSR, from as many 10-agent random seed sets; the figure
  is the mean of ``set_seeds`` + ``advance_until_completion`` (its model's construction, 0.2 s at 100,000
  agents and 3 s at 1M, is left out; the median is reported beside). CyNetDiff has no SIR.
- **numpy kernel**: the plain frontier loops (:func:`numpy_ic_kernel`, :func:`numpy_lt_kernel`,
  :func:`numpy_sir_kernel`): no sessions, no validation, no bookkeeping; the mean cascade.

Every figure is a mean over cascades (an ensemble's cost is the sum of its cascades'), so that Agora's
ensemble time over its runs and the yardsticks' times compare the same thing. ``lt`` runs
:data:`LT_RUNS` cascades a figure, not ``runs``: from 10 seeds at mean degree 10 its cascades are
critical (about one adopter an adopter): most stop within a few rounds and a few reach thousands (at
100,000 agents: mean 104, median 41, standard deviation 217, largest 2,997 of 4,000 runs), so that the
mean reach of 20 cascades ranges over four times from one sample to the next (49 to 201, 5th to 95th
percentile), and the time with it; a thousand cascades' mean has a standard error near 7 % (each figure's
``reached_mean`` is beside it).

With ``--small-runs R``, the whole-process race of ``agora bench ensembles`` on SNAP's ego-Facebook
(:func:`sim.bench.smallworld.whole_process_race`: ``agora run --runs R`` from start to exit beside a
CyNetDiff script doing the same whole job).
"""

from __future__ import annotations

import array
import asyncio
import gc
import json
import sys
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from sim.bench.measure import fresh_process_json
from sim.bench.smallworld import whole_process_race
from sim.engine.requests import Ensemble
from sim.model.registry import Registry
from sim.runs.runner import run_cascades
from sim.runs.transport import default_workers, fork_available

#: The models of the comparison, with their parameters (feed off: the graph's rule alone).
MODELS: dict[str, dict[str, Any]] = {
    "ic": {"p": 0.15, "feed_weight": 0.0},
    "lt": {"feed_weight": 0.0},
    "sir": {"beta": 0.15, "gamma": 0.5, "feed_weight": 0.0},
}

#: Cascades a figure of ``lt`` (see the module docstring): its cascades are cheap and heavy-tailed.
LT_RUNS = 1000

#: The targets of issue 47 (per cascade, like against like): one core at least 1.5 times CyNetDiff's speed
#: (ic, lt), sir's one core at least 1.5 times the numpy kernel's, all cores at least twice the numpy
#: kernel's at the largest size. (The ego-Facebook races are ``agora bench ensembles``', sim.bench.smallworld.)
TARGETS = {
    "one_core_speedup_over_cynetdiff": 1.5,
    "sir_one_core_speedup_over_numpy": 1.5,
    "all_cores_speedup_over_numpy_at_largest": 2.0,
}


def numpy_ic_kernel(
    indptr: np.ndarray, indices: np.ndarray, n: int, seeds: np.ndarray, p: float, rng: np.random.Generator
) -> int:
    """Independent cascade as a plain numpy frontier loop (``agora bench propagation``'s kernel): every newly
    adopted agent tries each follower once with probability ``p``. Returns the agents reached."""
    return numpy_ic_cascade(indptr, indices, n, seeds, p, rng)[0]


def numpy_ic_cascade(
    indptr: np.ndarray, indices: np.ndarray, n: int, seeds: np.ndarray, p: float, rng: np.random.Generator
) -> tuple[int, int]:
    """:func:`numpy_ic_kernel`'s cascade (no sessions, no events, no validation, no bookkeeping): the agents
    reached and the edge attempts."""
    adopted = np.zeros(n, dtype=bool)
    adopted[seeds] = True
    frontier = np.asarray(seeds, dtype=np.int64)
    attempts = 0
    while frontier.size:
        dst = _followers(indptr, indices, frontier)
        dst = dst[~adopted[dst]]
        attempts += dst.size
        new = np.unique(dst[rng.random(dst.size) < p])
        adopted[new] = True
        frontier = new.astype(np.int64)
    return int(adopted.sum()), attempts


def _followers(indptr: np.ndarray, indices: np.ndarray, frontier: np.ndarray) -> np.ndarray:
    """The targets of the frontier's out-edges, frontier agent after agent."""
    starts = indptr[frontier]
    counts = indptr[frontier + 1] - starts
    total = int(counts.sum())
    if total == 0:
        return indices[:0]
    return indices[np.arange(total, dtype=np.int64) + np.repeat(starts - (np.cumsum(counts) - counts), counts)]


def numpy_lt_kernel(
    indptr: np.ndarray, indices: np.ndarray, in_degree: np.ndarray, n: int, seeds: np.ndarray, rng: np.random.Generator
) -> int:
    """Linear threshold as a plain numpy frontier loop: each agent's threshold is uniform in (0, 1], each
    followee weighs 1 / (its followees); an agent adopts once its adopted followees' weight reaches its
    threshold. Returns the agents reached."""
    threshold = 1.0 - rng.random(n)
    weight = np.zeros(n)
    adopted = np.zeros(n, dtype=bool)
    adopted[seeds] = True
    frontier = np.asarray(seeds, dtype=np.int64)
    inv = 1.0 / np.maximum(in_degree, 1)
    while frontier.size:
        dst = _followers(indptr, indices, frontier)
        dst = dst[~adopted[dst]]
        np.add.at(weight, dst, inv[dst])
        touched = np.unique(dst)
        new = touched[weight[touched] >= threshold[touched]]
        adopted[new] = True
        frontier = new.astype(np.int64)
    return int(adopted.sum())


def numpy_sir_kernel(
    indptr: np.ndarray,
    indices: np.ndarray,
    n: int,
    seeds: np.ndarray,
    beta: float,
    gamma: float,
    rng: np.random.Generator,
) -> int:
    """SIR as a plain numpy loop: each tick every infected agent infects each susceptible follower with
    probability ``beta``, then recovers with probability ``gamma``. Returns the agents ever infected."""
    state = np.zeros(n, dtype=np.int8)  # 0 S, 1 I, 2 R
    state[seeds] = 1
    infected = np.asarray(seeds, dtype=np.int64)
    while infected.size:
        dst = _followers(indptr, indices, infected)
        dst = dst[state[dst] == 0]
        new = np.unique(dst[rng.random(dst.size) < beta]).astype(np.int64)
        recovered = rng.random(infected.size) < gamma
        state[infected[recovered]] = 2
        state[new] = 1
        infected = np.concatenate((infected[~recovered], new))
    return int(np.count_nonzero(state))


def _cynetdiff(
    indptr: np.ndarray, indices: np.ndarray, model: str, params: dict[str, Any], seed_sets: list[np.ndarray]
) -> dict[str, Any]:
    """CyNetDiff's cascades from ``seed_sets`` on an out-CSR (one core): the mean time of one (and the median)."""
    if model not in ("ic", "lt"):
        return {"available": False, "reason": f"CyNetDiff has no {model} model"}
    try:
        from cynetdiff.models import (  # noqa: PLC0415 - optional (the bench extra)
            IndependentCascadeModel,
            LinearThresholdModel,
        )
    except ImportError:
        return {"available": False, "reason": "CyNetDiff is not installed: pip install 'agora-sim[bench]'"}
    t0 = time.perf_counter()
    starts = array.array("I", indptr[:-1].astype(np.uint32).tobytes())
    edges = array.array("I", indices.astype(np.uint32).tobytes())
    m: Any = (
        IndependentCascadeModel(starts, edges, activation_prob=float(params["p"]), rng=1)
        if model == "ic"
        else LinearThresholdModel(starts, edges, rng=1)
    )
    setup = time.perf_counter() - t0
    seconds, reached = [], []
    for seeds in seed_sets:
        t = time.perf_counter()
        m.set_seeds(seeds.tolist())
        m.advance_until_completion()
        seconds.append(time.perf_counter() - t)
        reached.append(m.get_num_activated_nodes())
    return {
        "available": True,
        "ms_per_cascade": round(1000 * float(np.mean(seconds)), 3),
        "median_ms": round(1000 * float(np.median(seconds)), 3),
        "reached_mean": float(np.mean(reached)),
        "setup_seconds": round(setup, 3),
        "cascades": len(seed_sets),
    }


def _kernel(world: Any, model: str, params: dict[str, Any], seed_sets: list[np.ndarray], seed: int) -> dict[str, Any]:
    g = world.graph
    seconds, reached = [], []
    in_degree = np.diff(g.in_indptr)
    for i, seeds in enumerate(seed_sets):
        rng = np.random.default_rng(seed + i)
        t = time.perf_counter()
        if model == "ic":
            got = numpy_ic_kernel(g.out_indptr, g.out_indices, world.n, seeds, params["p"], rng)
        elif model == "lt":
            got = numpy_lt_kernel(g.out_indptr, g.out_indices, in_degree, world.n, seeds, rng)
        else:
            got = numpy_sir_kernel(g.out_indptr, g.out_indices, world.n, seeds, params["beta"], params["gamma"], rng)
        seconds.append(time.perf_counter() - t)
        reached.append(got)
    return {
        "ms_per_cascade": round(1000 * float(np.mean(seconds)), 3),
        "median_ms": round(1000 * float(np.median(seconds)), 3),
        "reached_mean": float(np.mean(reached)),
    }


def run_ensemble(
    world: Any,
    registry: Registry,
    model: str,
    params: dict[str, Any],
    runs: int,
    seed: int,
    workers: int,
    kernel: str = "auto",
) -> tuple[Mapping[str, Any], float]:
    """``runs`` cascades of ``model`` as ``agora run --inject bench --seeds random:10 --runs RUNS --until-done``
    runs them (offline, nobody watching; ``run_cascades``), over ``workers`` processes by ``kernel``: the
    ensemble's report and its wall-clock seconds, its set-up included (a collection follows, untimed)."""
    t = time.perf_counter()
    request = Ensemble.parse(
        {
            "text": "bench",
            "seeds": "random:10",
            "model": model,
            "params": params,
            "runs": runs,
            "until_done": True,
            "seed": seed,
            "workers": workers,
            "kernel": kernel,
        },
        registry,
    )
    out = asyncio.run(run_cascades(world, request, registry=registry))
    seconds = time.perf_counter() - t
    gc.collect()
    return out, seconds


def _agora(
    world: Any, registry: Registry, model: str, params: dict[str, Any], runs: int, seed: int, workers: int
) -> dict[str, Any]:
    # batched: auto would tick 20 runs of ic or sir through the engine (batched.AUTO_RUNS)
    out, seconds = run_ensemble(world, registry, model, params, runs, seed, workers, kernel="batched")
    if out["failed"]:  # a time over failed runs is no result
        first = out["first_failure"] or {}
        raise RuntimeError(f"{out['failed']} of {runs} {model} runs failed in the benchmark: {first.get('error')}")
    return {
        "ms_per_cascade": round(1000 * seconds / runs, 3),
        "reached_mean": out["mean_reached"],
        "completed": out["completed"],
        "workers": workers,
        "kernel": out.get("kernel"),
    }


def measure_size(
    agents: int, avg_degree: float, runs: int, seed: int, repeats: int = 3, lt_runs: int = LT_RUNS
) -> dict[str, Any]:
    """Every model at one size (see the module docstring): medians of ``repeats`` ensembles of ``runs`` (of
    ``lt``: ``lt_runs``, at least ``runs``)."""
    from sim.store.create import synthetic_world  # noqa: PLC0415 - the subprocess's world

    world = synthetic_world("bench", agents, avg_degree=avg_degree, seed=seed)
    registry = Registry([])
    registry.model("ic")  # loaded as agora run loads it, before any ensemble
    rng = np.random.default_rng(seed)
    count = {model: max(runs, lt_runs) if model == "lt" else runs for model in MODELS}
    all_sets = [rng.choice(world.n, size=min(10, world.n), replace=False) for _ in range(max(count.values()))]
    out: dict[str, Any] = {"agents": world.n, "edges": world.num_edges, "runs": runs, "repeats": repeats}
    for model, params in MODELS.items():
        runs_here, seed_sets = count[model], all_sets[: count[model]]
        all_workers = default_workers(runs_here) if fork_available() else 1
        one, every = [], []
        for rep in range(repeats):
            one.append(_agora(world, registry, model, params, runs_here, seed + 1000 * rep, 1))
            if all_workers > 1:
                every.append(_agora(world, registry, model, params, runs_here, seed + 1000 * rep, all_workers))
        row: dict[str, Any] = {
            "params": params,
            "runs": runs_here,
            "agora_one_core_ms": float(np.median([x["ms_per_cascade"] for x in one])),
            "agora_all_cores_ms": float(np.median([x["ms_per_cascade"] for x in every or one])),
            "workers": all_workers,
            "agora_reached_mean": one[0]["reached_mean"],
            "kernel": one[0]["kernel"],
        }
        kern = _kernel(world, model, params, seed_sets, seed)
        row["numpy_kernel_ms"], row["numpy_reached_mean"] = kern["ms_per_cascade"], kern["reached_mean"]
        cy = _cynetdiff(world.graph.out_indptr, world.graph.out_indices, model, params, seed_sets)
        row["cynetdiff"] = cy
        if cy.get("available"):
            row["one_core_over_cynetdiff"] = round(row["agora_one_core_ms"] / cy["ms_per_cascade"], 3)
            row["one_core_speedup_over_cynetdiff"] = round(
                cy["ms_per_cascade"] / max(row["agora_one_core_ms"], 1e-9), 3
            )
        row["all_cores_over_numpy"] = round(kern["ms_per_cascade"] / max(row["agora_all_cores_ms"], 1e-9), 3)
        row["one_core_over_numpy"] = round(kern["ms_per_cascade"] / max(row["agora_one_core_ms"], 1e-9), 3)
        out[model] = row
    return out


def bench_ensembles(
    sizes: tuple[int, ...] = (100_000, 1_000_000),
    *,
    avg_degree: float = 10.0,
    runs: int = 20,
    seed: int = 1,
    small_runs: int = 1000,
) -> dict[str, Any]:
    """Each size in a fresh process (only that world in memory, as ``agora run`` meets it), then the
    small world. The verdicts compare figures measured in this run: Agora's median ensemble (each one's
    time over its runs) against the yardsticks' mean cascade."""
    out: dict[str, Any] = {"sizes": {}, "targets": TARGETS}
    for n in sizes:
        out["sizes"][str(n)] = fresh_process_json(
            ["sim.bench.ensembles", str(n), str(avg_degree), str(runs), str(seed)], f"at {n:,} agents"
        )
    out["small_world"] = whole_process_race(small_runs) if small_runs else {"available": False, "reason": "skipped"}
    verdict: dict[str, Any] = {}
    for key, size in out["sizes"].items():
        for model in ("ic", "lt"):
            speedup = size[model].get("one_core_speedup_over_cynetdiff")
            verdict[f"{model}_one_core_1.5x_cynetdiff_at_{key}"] = (
                None if speedup is None else speedup >= TARGETS["one_core_speedup_over_cynetdiff"]
            )
        verdict[f"sir_one_core_1.5x_numpy_at_{key}"] = (
            size["sir"]["one_core_over_numpy"] >= TARGETS["sir_one_core_speedup_over_numpy"]
        )
    big = out["sizes"].get(str(max(sizes))) if sizes else None
    if big is not None:
        for model in ("ic", "lt", "sir"):
            verdict[f"{model}_all_cores_2x_numpy_at_largest"] = (
                big[model]["all_cores_over_numpy"] >= TARGETS["all_cores_speedup_over_numpy_at_largest"]
            )
    if out["small_world"].get("available"):
        verdict["whole_process_within_cynetdiff_script"] = out["small_world"]["met"]
    out["verdict"] = verdict
    return out


if __name__ == "__main__":  # python -m sim.bench.ensembles AGENTS AVG_DEGREE RUNS SEED
    _, _n, _k, _runs, _seed = sys.argv
    print(json.dumps(measure_size(int(_n), float(_k), int(_runs), int(_seed))))
