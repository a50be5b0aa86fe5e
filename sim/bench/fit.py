"""``agora bench fit``: the speed of a two-parameter SIR fit on ego-Facebook, beside ``agora run --runs R`` of
the same model measured in the same run (issue 48).

SNAP's ego-Facebook (4,039 agents, 88,234 friendships; ``facebook_combined.txt`` from ``--data``,
``$AGORA_DATA`` or ../shared/data) is imported into a world in a temporary folder, as ``agora new --edges``
imports it (``sim.import_edges``). Then, in this process, through the world's Python API, which ``agora run``
and ``agora fit`` share:

1. **The observation**: one ``sir`` run with the truth (``beta`` 0.03, ``gamma`` 0.2) from 10 random seeds,
   :data:`STEPS` ticks, on a seed of its own (``--seed`` + :data:`OBSERVED_SEED_OFFSET`), written as the usual
   epidemic curve ``tick,I,R``.
2. **The yardstick**: ``world.ensemble(runs=R)`` of the same model, parameters, seed selection and ticks
   (a fit's simulation runs to the last observed tick), on W workers, as ``agora run WORLD --model sir
   --runs R --steps 40`` runs it (``--kernel auto``); runs a second. It is timed before the fit and after it,
   and the rate is both ensembles' runs over both ensembles' seconds, so that a change of the machine's load
   during the fit weighs on both sides.
3. **The fit**: ``world.fit`` of ``beta`` in 0.005..0.1 and ``gamma`` in 0.05..0.5 (uniform priors) with
   ``--budget`` simulations on W workers, no posterior predictive check (``agora fit ... --predictive 0``):
   its simulations, seconds (the fit's own, reading the observation included), simulations a second,
   generations, effective sample size, and each parameter's median and 90 % interval with whether the truth
   lies inside.

Before the timed parts, an untimed batched ensemble loads the compiled kernel (as a user's second command finds
Numba's cache), so that neither side pays for it. The target: a fit of at least 20,000 simulations in at most
120 s (:data:`TARGET`, :func:`verdict`); the ratio of the fit's simulations a
second to the yardstick's runs a second is the fit's overhead over plain runs (1: none; below 1: slower).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import sim
from sim.bench.measure import Progress
from sim.bench.smallworld import edge_list
from sim.runs.transport import default_workers

#: The model, its true parameters (the observation's), the priors of the fit and the seed selection.
MODEL = "sir"
TRUTH = {"beta": 0.03, "gamma": 0.2}
PRIORS = {"beta": (0.005, 0.1), "gamma": (0.05, 0.5)}
SEEDS = "random:10"
#: Ticks of the observation, and so of every simulation of the fit and every run of the yardstick.
STEPS = 40
#: The observation's session seed is ``--seed`` plus this: never one of the yardstick's (``--seed`` + r).
OBSERVED_SEED_OFFSET = 1_000_003
#: Issue 48's target: at least this many simulations in at most this many seconds.
TARGET = {"simulations": 20_000, "seconds": 120.0}
DATASET = "facebook_combined.txt"


def _load() -> list[float] | None:
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def _say(progress: Progress, what: str, fraction: float) -> None:
    if progress:
        progress(what, fraction)


def _observe(world: Any, folder: str, seed: int) -> tuple[str, dict[str, Any]]:
    """One run with the truth, written as ``tick,I,R`` in ``folder``: the file and what it holds."""
    run = world.ensemble(model=MODEL, params=TRUTH, seeds=SEEDS, runs=1, steps=STEPS, seed=seed, workers=1)
    series = run.runs[0]["series"]
    path = str(Path(folder) / "observed.csv")
    with open(path, "w", encoding="utf-8") as f:
        f.write("tick,I,R\n")
        for row in zip(series["tick"], series["I"], series["R"]):
            f.write(",".join(str(int(v)) for v in row) + "\n")
    ticks = len(series["tick"])
    return path, {
        "columns": ["I", "R"],
        "ticks": ticks,
        "last_tick": int(series["tick"][-1]) if ticks else None,
        "seed": seed,
        "reached": int(series["reached"][-1]) if ticks else 0,
        "peak_infected": int(max(series["I"], default=0)),
    }


def _yardstick(world: Any, runs: int, steps: int, seed: int, workers: int) -> tuple[float, str | None]:
    """``agora run --runs RUNS`` of the fit's model and truth: its wall-clock seconds and kernel."""
    t = time.perf_counter()
    out = world.ensemble(model=MODEL, params=TRUTH, seeds=SEEDS, runs=runs, steps=steps, seed=seed, workers=workers)
    seconds = time.perf_counter() - t
    if out.failed:  # a time over failed runs is no result
        raise RuntimeError(f"{out.failed} of {runs} {MODEL} runs failed in the benchmark: {out.first_failure}")
    return seconds, out.kernel


def seconds_for_target(simulations: int, seconds: float) -> float | None:
    """The seconds :data:`TARGET`'s simulations take at the rate of ``simulations`` in ``seconds``."""
    return TARGET["simulations"] * seconds / simulations if simulations > 0 else None


def verdict(simulations: int, seconds: float) -> str:
    """``met`` when the fit made at least :data:`TARGET`'s simulations within its seconds, else ``not met``.
    A fit stops short of its budget when the next generation would not fit in what is left
    (:mod:`sim.runs.fit.abc`), so the bench's default budget (:data:`BUDGET`) leaves room for one more."""
    return "met" if simulations >= TARGET["simulations"] and seconds <= TARGET["seconds"] else "not met"


#: The bench's default budget: above the target's 20,000, so that the fit, which stops before a generation
#: its budget cannot cover (about 3,300 simulations at the end), makes at least 20,000.
BUDGET = 24_000


def bench_fit(
    budget: int = BUDGET,
    *,
    workers: int | None = None,
    runs: int = 1000,
    seed: int = 1,
    data: str | None = None,
    progress: Progress = None,
) -> dict[str, Any]:
    """The fit and its yardstick (see the module docstring): both rates, their ratio, the target and its
    verdict, the machine's load average before and after and its CPUs. ``workers`` None: one per CPU this
    process may use; ``data``: the folder holding ``facebook_combined.txt`` (None: ``$AGORA_DATA`` or
    ../shared/data). Without the dataset the report says so (``available`` false) and nothing runs."""
    edges = Path(data) / DATASET if data else edge_list()
    count = workers or default_workers(max(budget, runs))
    out: dict[str, Any] = {
        "benchmark": "fit",
        "dataset": "SNAP ego-Facebook",
        "model": MODEL,
        "truth": TRUTH,
        "priors": {k: list(v) for k, v in PRIORS.items()},
        "seeds": SEEDS,
        "seed": seed,
        "workers": count,
        "cpu_count": os.cpu_count(),
        "load_average": {"before": _load()},
    }
    if not edges.is_file():
        out.update(available=False, reason=f"{edges} is missing: set $AGORA_DATA (or give --data) to its folder")
        return out
    _say(progress, "importing ego-Facebook", 0.0)
    with tempfile.TemporaryDirectory(prefix="agora-bench-fit-") as tmp:
        world = sim.import_edges(str(Path(tmp) / "facebook.db"), str(edges))  # as agora new --edges
        out["agents"], out["edges"] = world.agents, world.edges
        _say(progress, "the observation: one run with the truth", 0.02)
        observed, out["observed"] = _observe(world, tmp, seed + OBSERVED_SEED_OFFSET)
        steps = (out["observed"]["last_tick"] or 0) + 1  # a fit's simulation runs to the last observed tick
        # Untimed: the compiled kernel loaded here, as a user's second command finds Numba's cache.
        world.ensemble(model=MODEL, params=TRUTH, seeds=SEEDS, runs=20, steps=steps, workers=1, kernel="batched")
        _say(progress, f"the yardstick: agora run --runs {runs}", 0.05)
        before, kernel = _yardstick(world, runs, steps, seed, count)

        def fitting(what: str, fraction: float) -> None:
            _say(progress, f"the fit: {what}", 0.1 + 0.8 * fraction)

        fit = world.fit(
            observed=observed,
            model=MODEL,
            params=PRIORS,
            seeds=SEEDS,
            budget=budget,
            seed=seed,
            workers=count,
            predictive=0,
            progress=fitting if progress else None,
        )
        _say(progress, f"the yardstick again: agora run --runs {runs}", 0.9)
        after, _ = _yardstick(world, runs, steps, seed, count)
    out["load_average"]["after"] = _load()
    runs_per_second = 2 * runs / (before + after)
    sims_per_second = fit.simulations / fit.seconds if fit.seconds > 0 else 0.0
    out["steps"] = steps
    out["yardstick"] = {
        "what": f"agora run WORLD --model sir --param beta={TRUTH['beta']} --param gamma={TRUTH['gamma']} "
        f"--seeds {SEEDS} --steps {steps} --runs {runs} --workers {count} (world.ensemble), before and after the fit",
        "runs": runs,
        "seconds": [round(before, 3), round(after, 3)],
        "runs_per_second": round(runs_per_second, 1),
        "kernel": kernel,
    }
    out["fit"] = _fit_report(fit, budget, sims_per_second)
    out["ratio"] = round(sims_per_second / runs_per_second, 3)
    out["seconds_for_target_at_this_rate"] = (
        round(TARGET["simulations"] / sims_per_second, 1) if sims_per_second else None
    )
    out["target"] = {
        **TARGET,
        "text": f"a two-parameter fit of at least {TARGET['simulations']:,} simulations in at most "
        f"{TARGET['seconds']:g} s on {count} workers",
    }
    out["verdict"] = verdict(fit.simulations, fit.seconds)
    out["available"] = True
    _say(progress, "done", 1.0)
    return out


def _fit_report(fit: Any, budget: int, sims_per_second: float) -> dict[str, Any]:
    """The fit's part of the report: its simulations and speed, and each parameter against the truth."""
    params = {}
    for name, p in fit.params.items():
        lo, hi = p.ci90
        params[name] = {
            "truth": TRUTH[name],
            "median": round(p.median, 5),
            "ci90": [round(lo, 5), round(hi, 5)],
            "truth_inside": lo <= TRUTH[name] <= hi,
        }
    return {
        "budget": budget,
        "simulations": fit.simulations,
        "failed": fit.failed,
        "seconds": round(fit.seconds, 3),
        "simulations_per_second": round(sims_per_second, 1),
        "generations": len(fit.generations),
        "population": int(fit.samples.shape[0]),
        "ess": round(fit.ess, 1),
        "kernel": fit.kernel,
        "stopped": fit.stopped,
        "params": params,
        "all_truths_inside": all(p["truth_inside"] for p in params.values()),
        "warnings": list(fit.warnings),
    }


def fit_lines(r: dict[str, Any]) -> list[str]:
    """The benchmark as text: both rates, the ratio, the posterior against the truth, the verdict."""
    if not r.get("available"):
        return [f"skipped: {r.get('reason')}"]
    y, f, load = r["yardstick"], r["fit"], r["load_average"]
    params = "; ".join(
        f"{k} {p['median']:.4g} (90% {p['ci90'][0]:.4g}..{p['ci90'][1]:.4g}, truth {p['truth']:g} "
        f"{'inside' if p['truth_inside'] else 'OUTSIDE'})"
        for k, p in f["params"].items()
    )
    return [
        f"ego-Facebook ({r['agents']:,} agents), sir from {r['seeds']}, {r['steps']} ticks, {r['workers']} workers "
        f"of {r['cpu_count']} CPUs; load average {load['before']} before, {load['after']} after",
        f"agora run --runs {y['runs']:,}  {y['runs_per_second']:,.1f} runs/s ({y['seconds'][0]:.2f} s before the "
        f"fit, {y['seconds'][1]:.2f} s after; kernel {y['kernel']})",
        f"agora fit            {f['simulations_per_second']:,.1f} simulations/s ({f['simulations']:,} in "
        f"{f['seconds']:.1f} s, {f['generations']} generations, ESS {f['ess']:.0f}; kernel {f['kernel']})",
        f"ratio                {r['ratio']:.2f} (the fit's rate over the plain runs')",
        f"posterior            {params}",
        f"target               {r['target']['text']}: {r['verdict']}"
        + (
            f" (at this rate {r['target']['simulations']:,} take {r['seconds_for_target_at_this_rate']:.0f} s)"
            if f["simulations"] < r["target"]["simulations"] and r["seconds_for_target_at_this_rate"]
            else ""
        ),
    ]
