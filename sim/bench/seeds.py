"""``agora bench seeds``: what choosing K seeds by ``ris`` (IMM) costs on a large world, beside plain baselines.

On a synthetic world (1M agents / 10M edges by default, the generator ``agora bench cascade`` uses) the seeds
are chosen for ``ic`` with probability ``p`` the way ``agora seeds`` chooses them (``choose_seeds`` through
the registry), ``repeats`` times each by ``ris`` and by the ``degree`` heuristic in a seeded shuffled order,
so both share the machine's noise; then ``runs`` plain IC runs from the ris seeds and as many from the degree
seeds (every tick in this thread, as ``agora run --runs`` runs it; the same session seeds for both), which time
one run and compare the two choices' reach. The figures held to the issue's targets (at most 60 s and 1.5 GiB
for k = 50, p = 0.01 on 1M / 10M) are the median ris choice, wall clock around ``choose_seeds``, and the peak of
the memory one more ris choice allocates, traced by ``tracemalloc`` (numpy reports its arrays to it) over the
world already built. The process's peak RSS while it builds the world and chooses, the world included, is
reported beside it.
"""

from __future__ import annotations

import gc
import random
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.bench.measure import BenchWorld, PeakRSS, Progress, mb
from sim.core.world import World
from sim.engine.requests import SeedChoice
from sim.engine.seeding import ChosenSeeds, choose_seeds
from sim.engine.simulation import Simulation
from sim.llm.service import LLMService
from sim.model.registry import Registry

#: The issue's targets for the ris choice: seconds and MiB.
TARGETS = {"seconds": 60.0, "mb": 1536.0}


def _ic_run(world: World, seeds: np.ndarray, p: float, seed: int) -> tuple[float, int]:
    """One IC run from ``seeds`` (indices) as ``agora run --runs`` runs it: seconds and agents reached."""
    fork = world.fork()
    sim = Simulation(fork, llm=LLMService.offline(fork))
    ids = ",".join(str(int(i)) for i in world.columns["ids"][seeds])
    s = sim.inject("bench", model="ic", params={"p": p}, seeds="ids:" + ids, seed=seed)
    s.record_events = False  # as in agora run --runs: nothing reads a fork's adoption records
    t0 = time.perf_counter()
    ticks = 0
    while not sim.idle and ticks < 10_000:
        sim.step_now()
        ticks += 1
    return time.perf_counter() - t0, int(s.reached)


def _timed_choices(
    choose: Callable[..., Any],
    method_params: dict[str, Any],
    repeats: int,
    seed: int,
    progress: Progress,
) -> tuple[dict[str, list[float]], dict[str, np.ndarray], list[dict[str, Any]]]:
    """``repeats`` choices by ``ris`` and by ``degree`` (``choose(method, method_params=...)``) in a seeded
    shuffled order: their seconds by method, the seeds each chose (the same every time, or an error) and
    ris's reports."""
    times: dict[str, list[float]] = {"ris": [], "degree": []}
    chosen: dict[str, np.ndarray] = {}
    reports: list[dict[str, Any]] = []
    order = ["ris", "degree"] * repeats
    random.Random(seed).shuffle(order)
    steps = len(order) + 2
    for i, method in enumerate(order):
        if progress:
            progress(f"{method} {len(times[method]) + 1}/{repeats}", i / steps)
        gc.collect()
        t0 = time.perf_counter()
        choice = choose(method, method_params=method_params if method == "ris" else None)
        times[method].append(time.perf_counter() - t0)
        if method in chosen and not np.array_equal(chosen[method], choice.seeds):
            raise RuntimeError(f"{method} chose other seeds on the same world and seed")
        chosen[method] = choice.seeds
        if method == "ris":
            reports.append(choice.report)
    return times, chosen, reports


@dataclass(frozen=True)
class SeedsBench(BenchWorld):
    """What :func:`bench_seeds` measures on: the world, ``k`` seeds for ic's probability ``p`` by ris with IMM's
    ``epsilon``, each method's choices (``repeats``) and the ic runs from each choice (``runs``)."""

    p: float = 0.01
    k: int = 50
    epsilon: float = 0.1
    repeats: int = 3
    runs: int = 30


def bench_seeds(bench: SeedsBench | int = 1_000_000, progress: Progress = None, **fields: Any) -> dict[str, Any]:
    """Run the comparison (see the module docstring) on ``bench`` (or a world of that many agents, the other
    fields of :class:`SeedsBench` as keywords) and return its JSON report."""
    bench = SeedsBench.of(bench, **fields)
    p, k, repeats, runs = bench.p, bench.k, bench.repeats, bench.runs
    r = bench.report("seeds", model="ic", p=p, k=k, epsilon=bench.epsilon, ell=1.0, repeats=repeats, runs=runs)
    registry = Registry()
    params = registry.model("ic").validate({"p": p})
    method_params = {"epsilon": bench.epsilon}
    with PeakRSS() as peak:
        world = bench.generate(r, progress)

        def choose(method: str, method_params: dict[str, Any] | None = None) -> ChosenSeeds:
            fields = {"method": method, "k": k, "params": params, "method_params": method_params, "seed": bench.seed}
            return choose_seeds(world, registry, SeedChoice.parse(fields, registry))

        times, chosen, reports = _timed_choices(choose, method_params, repeats, bench.seed, progress)
        steps = 2 * repeats + 2
        if progress:
            progress("ris under tracemalloc", 2 * repeats / steps)
        gc.collect()
        tracemalloc.start()
        try:
            choose("ris", method_params=method_params)
            ris_peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    # The runs come after the peak: each forks the world, which a collection frees (outside the timing).
    if progress:
        progress(f"{2 * runs} ic runs", (2 * repeats + 1) / steps)
    run_s: list[float] = []
    reached: dict[str, list[int]] = {"ris": [], "degree": []}
    for i in range(runs):
        for method in ("ris", "degree"):
            seconds, reach = _ic_run(world, chosen[method], p, seed=i)
            run_s.append(seconds)
            reached[method].append(reach)
            gc.collect()
    ris_s = float(np.median(times["ris"]))
    degree_s = float(np.median(times["degree"]))
    run_med = float(np.median(run_s))
    report = reports[-1]
    r.update(
        {
            "ris_seconds": round(ris_s, 3),
            "ris_seconds_all": [round(x, 3) for x in times["ris"]],
            "ris_samples": int(report["samples"]),
            "ris_estimate": round(float(report["ris_estimate"]), 1),
            "ris_peak_mb": mb(ris_peak),
            "memory_measure": "tracemalloc peak of one ris choice (numpy arrays included), the world already built",
            "baseline": "degree",
            "baseline_seconds": round(degree_s, 4),
            "baseline_seconds_all": [round(x, 4) for x in times["degree"]],
            "ratio": round(ris_s / degree_s, 1) if degree_s > 0 else None,
            "ic_run_seconds": round(run_med, 4),
            "ratio_to_ic_run": round(ris_s / run_med, 1) if run_med > 0 else None,
            "reached_mean": {m: round(float(np.mean(v)), 1) for m, v in reached.items()},
            "reached_sem": {
                m: round(float(np.std(v, ddof=1) / np.sqrt(len(v))), 1) if len(v) > 1 else None
                for m, v in reached.items()
            },
            "seeds": {m: [int(x) for x in world.columns["ids"][s]] for m, s in chosen.items()},
        }
    )
    r["peak_rss_mb"] = mb(peak.peak)
    r["peak_rss_measure"] = "this process's peak RSS while it builds the world and chooses (not the ic runs after)"
    r["targets"] = dict(TARGETS)
    r["met"] = {"seconds": ris_s <= TARGETS["seconds"], "mb": r["ris_peak_mb"] <= TARGETS["mb"]}
    r["within_targets"] = all(r["met"].values())
    return r
