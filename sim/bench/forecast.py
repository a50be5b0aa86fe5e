"""``agora bench forecast``: continuations of a running cascade beside runs from seeds of the same world (issue 49).

A synthetic world of N agents (``agora new``'s community graph) gets an ``ic`` cascade from 10 random seeds,
stepped on the engine until 5 % of the agents have adopted. Then, in this process, alternating, ``repeats``
times each:

- **the forecast**: R continuations of that present until the cascade ends, in the compiled kernels from the
  state (:func:`sim.runs.batched.continue_batched`, through :func:`sim.runs.forecast.run_forecast`), on W
  workers;
- **the yardstick**: R runs from seeds of the same world (the same graph, no session running), until done, in
  the same kernels (``agora run --runs R --kernel batched``), on W workers.

Medians of each and their ratio; the target is the forecast within 1.2 times the runs from seeds and within
10 s.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from typing import Any

from sim.bench.measure import Progress, load_average
from sim.engine.requests import Ensemble
from sim.engine.simulation import Simulation
from sim.model.registry import Registry
from sim.runs.forecast import Forecast, run_forecast
from sim.runs.runner import run_cascades
from sim.runs.transport import default_workers
from sim.store.create import synthetic_world

#: Issue 49's target: the forecast at most this many times the runs from seeds, and at most this many seconds.
TARGET = {"ratio": 1.2, "seconds": 10.0}
#: The share of agents adopted when the present is branched.
BRANCH_AT = 0.05


def bench_forecast(
    agents: int = 100_000,
    *,
    runs: int = 200,
    p: float = 0.05,
    repeats: int = 3,
    workers: int | None = None,
    seed: int = 1,
    progress: Progress = None,
) -> dict[str, Any]:
    """The forecast and its yardstick (see the module docstring): medians, ratio, target and verdict."""
    count = workers or default_workers(runs)
    registry = Registry([])
    world = synthetic_world("bench-forecast", agents, avg_degree=10, seed=seed)
    plain = synthetic_world("bench-forecast", agents, avg_degree=10, seed=seed)
    if progress:
        progress("the cascade to 5 %", 0.0)
    sim = Simulation(world, registry=registry)
    s = sim.inject("rumour", seeds="random:10", model="ic", params={"p": p}, seed=seed)
    while s.status in ("queued", "running") and s.reached < BRANCH_AT * agents:
        sim.step_now()
    if s.status != "running":
        return {"benchmark": "forecast", "available": False, "reason": f"the cascade ended at {s.reached} agents"}
    request = Forecast.parse({"runs": runs, "until_done": True, "seed": 1_000, "workers": count})
    ensemble = Ensemble.parse(
        {
            "text": "rumour",
            "model": "ic",
            "params": {"p": p},
            "seeds": "random:10",
            "runs": runs,
            "until_done": True,
            "kernel": "batched",
            "workers": count,
            "llm": {"offline": True},
            "llm_wait": 0,
        },  # fmt: skip
        registry,
    )
    asyncio.run(run_forecast(world, registry, Forecast.parse({"runs": 2, "ticks": 1, "workers": 1})))  # compile
    forecast_s: list[float] = []
    seeds_s: list[float] = []
    load_before = load_average()
    result = None
    for i in range(repeats):
        if progress:
            progress(f"repeat {i + 1}/{repeats}: the forecast", i / repeats)
        t0 = time.perf_counter()
        result = asyncio.run(run_forecast(world, registry, request))
        forecast_s.append(time.perf_counter() - t0)
        if progress:
            progress(f"repeat {i + 1}/{repeats}: runs from seeds", (i + 0.5) / repeats)
        t0 = time.perf_counter()
        asyncio.run(run_cascades(plain, ensemble, registry=registry))
        seeds_s.append(time.perf_counter() - t0)
    assert result is not None
    f_med, s_med = statistics.median(forecast_s), statistics.median(seeds_s)
    ratio = f_med / s_med if s_med > 0 else None
    arm = result.arms["none"]
    met = ratio is not None and ratio <= TARGET["ratio"] and f_med <= TARGET["seconds"]
    return {
        "benchmark": "forecast",
        "available": True,
        "agents": agents,
        "edges": int(world.num_edges),
        "p": p,
        "runs": runs,
        "workers": count,
        "cpu_count": os.cpu_count(),
        "repeats": repeats,
        "branched_at": {"tick": int(world.tick), "round": int(s.round), "reached": int(s.reached)},
        "forecast": {
            "seconds": [round(x, 3) for x in forecast_s],
            "median_seconds": round(f_med, 3),
            "kernel": arm.kernel,
            "reached": arm.reached,
        },
        "from_seeds": {
            "seconds": [round(x, 3) for x in seeds_s],
            "median_seconds": round(s_med, 3),
            "kernel": "batched",
        },
        "ratio": None if ratio is None else round(ratio, 3),
        "target": {**TARGET, "text": "the forecast at most 1.2x the runs from seeds, and at most 10 s"},
        "verdict": "met" if met else "not met",
        "load_average": {"before": load_before, "after": load_average()},
    }


def forecast_lines(r: dict[str, Any]) -> list[str]:
    """The bench as a few lines of text."""
    if not r.get("available"):
        return [f"forecast bench not run: {r.get('reason')}"]
    f, s = r["forecast"], r["from_seeds"]
    return [
        f"{r['agents']:,} agents, ic p={r['p']}: branched at tick {r['branched_at']['tick']} with "
        f"{r['branched_at']['reached']:,} adopted; {r['runs']} runs on {r['workers']} workers, {r['repeats']} repeats",
        f"forecast (continuations from the state, {f['kernel']}): median {f['median_seconds']:.2f} s",
        f"from seeds (batched): median {s['median_seconds']:.2f} s; ratio {r['ratio']}",
        f"target: {r['target']['text']}: {r['verdict']} "
        f"(load {r['load_average']['before']} -> {r['load_average']['after']})",
    ]
