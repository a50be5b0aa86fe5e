"""``agora bench backtest``: a backtest's cuts fitted in parallel beside the same fits one after another, measured
side by side in the same run (issue 61).

1. **The curve**: a generated world of ``--agents`` agents (``agora new --agents N``, mean degree 10) and the new
   cases per tick of one ``sir`` run on it (beta 0.025, gamma 0.1, 5 random seeds, :data:`STEPS` ticks), written
   as ``tick,new``.
2. **The backtest**: ``--cuts`` cuts spread evenly, a horizon of :data:`HORIZON` ticks, ``--budget`` simulations a
   fit (beta and gamma fitted), Agora's forecast beside persistence; the cuts **in parallel** (one forked worker
   per cut up to W, each fit on one process) and **one after another** (each fit on all W workers, as W
   ``agora fit`` commands would run), alternating which goes first over ``--repeats`` pairs. Their seconds
   (medians), the ratio, and whether the two gave the same numbers (they must: every draw is keyed by the seed and
   the cut's tick).

Before the timed parts an untimed ensemble loads the compiled kernel, so that neither side pays for it. Beside the
seconds, each side's CPU seconds (this process and its ended workers): on a shared machine they say what the work
costs whatever else runs. The target: the parallel backtest in at most :data:`TARGET_SECONDS` (2 minutes, on 2
cores).
"""

from __future__ import annotations

import asyncio
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import sim
from sim.bench.measure import Progress, load_average
from sim.model.registry import plugin_registry
from sim.runs.backtest import run_backtest
from sim.runs.transport import default_workers
from sim.store.worldfile import open_world

#: The curve's model, truth, seeds and ticks; the fit's priors; the horizon.
MODEL = "sir"
TRUTH = {"beta": 0.025, "gamma": 0.1}
PRIORS = {"beta": (0.005, 0.1), "gamma": (0.05, 0.5)}
SEEDS = "random:5"
STEPS = 60
HORIZON = 7
#: The target: the parallel backtest of 5 cuts of at least 10,000 simulations in at most this many seconds.
TARGET_SECONDS = 120.0


def _cpu() -> float:
    """CPU seconds of this process and of its workers that have ended (a shared machine's load does not count)."""
    me, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + workers.ru_utime + workers.ru_stime


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two reports agree but for their clocks and how they ran."""

    def strip(d: dict[str, Any]) -> dict[str, Any]:
        d = json.loads(json.dumps(d))
        for key in ("seconds", "parallel", "workers"):
            d.pop(key, None)
        for cut in d["cuts"]:
            cut.pop("seconds", None)
            if cut.get("fit"):
                cut["fit"].pop("seconds", None)
        return d

    return strip(a) == strip(b)


def bench_backtest(
    budget: int = 13_000,
    *,
    cuts: int = 5,
    agents: int = 1000,
    workers: int | None = None,
    repeats: int = 1,
    seed: int = 1,
    progress: Progress = None,
) -> dict[str, Any]:
    """The benchmark (see the module docstring); its JSON report."""

    workers = workers or default_workers(cuts)
    with tempfile.TemporaryDirectory(prefix="agora-bench-backtest-") as folder:
        path = str(Path(folder) / "w.db")
        world = sim.new_world(path, agents=agents, seed=seed)
        run = world.ensemble(model=MODEL, params=TRUTH, seeds=SEEDS, runs=1, steps=STEPS, seed=11, workers=1)
        new = [int(v) for v in run.runs[0]["series"]["new"]]
        curve = str(Path(folder) / "curve.csv")
        Path(curve).write_text("tick,new\n" + "".join(f"{t},{v}\n" for t, v in enumerate(new)), encoding="utf-8")
        world.ensemble(model=MODEL, params=TRUTH, seeds=SEEDS, runs=20, steps=STEPS, seed=0)  # loads the kernel
        request = sim.Backtest.parse(
            {
                "observed": curve,
                "model": MODEL,
                "params": PRIORS,
                "seeds": SEEDS,
                "budget": budget,
                "cuts": cuts,
                "horizon": HORIZON,
                "seed": seed,
                "workers": workers,
            }  # fmt: skip
        )
        registry = plugin_registry(path, ())

        async def once(parallel: bool) -> tuple[float, float, Any]:
            w = await open_world(path)
            cpu, t = _cpu(), time.perf_counter()
            result = await run_backtest(w, registry, request, parallel=parallel)
            return time.perf_counter() - t, _cpu() - cpu, result

        times: dict[str, list[float]] = {"parallel": [], "sequential": []}
        cpu: dict[str, list[float]] = {"parallel": [], "sequential": []}
        results: dict[str, Any] = {}
        for r in range(repeats):
            order = ("parallel", "sequential") if r % 2 == 0 else ("sequential", "parallel")
            for name in order:
                if progress:
                    progress(
                        f"{name} backtest, repeat {r + 1} of {repeats}", (2 * r + len(times[name])) / (2 * repeats)
                    )
                seconds, used, results[name] = asyncio.run(once(name == "parallel"))
                times[name].append(seconds)
                cpu[name].append(used)
    par, seq = statistics.median(times["parallel"]), statistics.median(times["sequential"])
    data = results["parallel"].to_dict()
    table = results["parallel"].table()
    return {
        "benchmark": "backtest",
        "agents": agents,
        "curve": {"model": MODEL, "truth": TRUTH, "seeds": SEEDS, "ticks": len(new), "cases": int(sum(new))},
        "cuts": [c["cut"] for c in data["cuts"]],
        "budget": budget,
        "horizon": HORIZON,
        "workers": workers,
        "cpus": default_workers(1 << 20),
        "simulations": [c["fit"]["simulations"] for c in data["cuts"]],
        "parallel_seconds": round(par, 2),
        "sequential_seconds": round(seq, 2),
        "speedup": round(seq / par, 3) if par > 0 else None,
        "all_parallel_seconds": [round(x, 2) for x in times["parallel"]],
        "all_sequential_seconds": [round(x, 2) for x in times["sequential"]],
        "parallel_cpu_seconds": round(statistics.median(cpu["parallel"]), 2),
        "sequential_cpu_seconds": round(statistics.median(cpu["sequential"]), 2),
        "same_numbers": _same(data, results["sequential"].to_dict()),
        "relative_wis": {m: row["all"] for m, row in table.items()},
        "target_seconds": TARGET_SECONDS,
        "target_met": par <= TARGET_SECONDS,
        "load_average": load_average(),
    }


def backtest_lines(result: dict[str, Any]) -> list[str]:
    """The benchmark as text lines."""
    return [
        f"curve                 {result['curve']['ticks']} ticks, {result['curve']['cases']} cases ({MODEL} on "
        f"{result['agents']:,} agents)",
        f"cuts                  {', '.join(result['cuts'])}; {result['budget']:,} simulations a fit, "
        f"{result['horizon']} ticks ahead",
        f"parallel              {result['parallel_seconds']:.1f} s (cuts on {result['workers']} worker(s) at once)",
        f"one after another     {result['sequential_seconds']:.1f} s (each fit on {result['workers']} worker(s))",
        f"speedup               {result['speedup']}",
        f"cpu seconds           {result['parallel_cpu_seconds']:.1f} parallel, {result['sequential_cpu_seconds']:.1f} "
        "one after another (this process and its workers)",
        f"same numbers          {result['same_numbers']}",
        f"target {result['target_seconds']:.0f} s met: {result['target_met']} (load {result['load_average']})",
    ]
