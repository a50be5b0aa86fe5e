"""``agora bench fit``: the speed of a fit beside ``agora run --runs R`` of the same model measured in the same run
(issue 48), for a two-parameter ``sir`` on ego-Facebook or (``--model seir``, issue 60) a four-parameter layered
``seir`` on the Hagelloch outbreak's 188 children.

- ``sir``: SNAP's ego-Facebook (4,039 agents, 88,234 friendships; ``facebook_combined.txt`` from ``--data``,
  ``$AGORA_DATA`` or ../shared/data), imported as ``agora new --edges`` imports it (``sim.import_edges``);
  ``beta`` and ``gamma`` fitted from 10 random seeds.
- ``seir``: ``hagelloch.csv`` (from the same folder) made a world as docs/populations.md makes it
  (``sim.new_world(people=..., id="PN", groups=["HN:household", "CL:class"], skip=["preschool"])``: 188 agents,
  layers ``household`` and ``class``); ``beta@household``, ``beta@class``, ``sigma`` and ``gamma`` fitted (the
  plain ``beta``, the layers not named, fixed at 0) from the first case, child 184 (``ids:184``).

Then, in this process, through the world's Python API, which ``agora run`` and ``agora fit`` share:

1. **The observation**: one run with the truth, :data:`Case.steps` ticks, on a seed of its own (``--seed`` +
   :data:`OBSERVED_SEED_OFFSET`), written as the usual epidemic curve ``tick,I,R``.
2. **The yardstick**: ``world.ensemble(runs=R)`` of the same model, truth, seed selection and ticks (a fit's
   simulation runs to the last observed tick), on W workers, as ``agora run WORLD --model M --runs R`` runs it
   (``--kernel auto``). It is timed before the fit and after it, and the rate is both ensembles' runs over both
   ensembles' seconds, so that a change of the machine's load during the fit weighs on both sides: R runs each
   time (``--runs``; ``sir``'s default 1,000), or by default for ``seir`` as many runs in all as the fit made
   simulations, half of the budget before and the rest after.
3. **The fit**: ``world.fit`` of the case's priors with ``--budget`` simulations on W workers, no posterior
   predictive check (``agora fit ... --predictive 0``): its simulations, seconds (the fit's own, reading the
   observation included), simulations a second, generations, effective sample size, and each parameter's median
   and 90 % interval with whether the truth lies inside.
4. **Where a simulation's time goes** (:func:`_per_simulation`): after the fit, in this process on one core, the
   fit's own simulator and summary statistics (as ``agora fit`` builds them) on :data:`SAMPLE` particles of the
   posterior: a simulation's seconds (its parameters' edge chances, the kernel run, its report), the kernel run
   alone (the run's ``seconds``), and the summaries the fit computes of the run (per simulation, stated
   separately); means over the 95 % quickest simulations (a run's ``seconds`` are rounded to 0.1 ms, and the
   parts of a mean add up), and the simulation's median. Beside them the fit's own seconds in its generations
   (simulations on the workers, proposals, weights) a simulation, and its seconds outside them (reading the
   observation, checking the model, fitting the distance between generations, the regression adjustment at the
   end).

Before the timed parts, an untimed batched ensemble loads the compiled kernel (as a user's second command finds
Numba's cache), so that neither side pays for it. The targets (:data:`TARGETS`, :func:`verdict`): ``sir`` at least
20,000 simulations in at most 120 s, ``seir`` at least 20,000 in at most 60 s; the ratio of the fit's simulations
a second to the yardstick's runs a second is the fit's overhead over plain runs (1: none; below 1: slower).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import sim
from sim.bench.measure import Progress, load_average
from sim.bench.smallworld import edge_list
from sim.runs.transport import default_workers

#: The sir case's model, its true parameters (the observation's), the priors of the fit and the seed selection.
MODEL = "sir"
TRUTH = {"beta": 0.03, "gamma": 0.2}
PRIORS = {"beta": (0.005, 0.1), "gamma": (0.05, 0.5)}
SEEDS = "random:10"
#: Ticks of the sir observation, and so of every simulation of the fit and every run of the yardstick.
STEPS = 40
#: The observation's session seed is ``--seed`` plus this: never one of the yardstick's (``--seed`` + r).
OBSERVED_SEED_OFFSET = 1_000_003
#: Issue 48's target: at least this many simulations in at most this many seconds.
TARGET = {"simulations": 20_000, "seconds": 120.0}
DATASET = "facebook_combined.txt"
#: Particles of the posterior whose simulations and summaries are timed one by one (:func:`_per_simulation`).
SAMPLE = 1000


@dataclass(frozen=True)
class Case:
    """One benchmark fit: the ``model``, the data file (``dataset``, in the data folder) and what it is, the truth,
    the fixed parameters, the priors (``(lo, hi)`` or ``(lo, hi, "log")``), the seed selection, the ticks and the
    target."""

    model: str
    dataset: str
    label: str
    truth: dict[str, float]
    priors: dict[str, tuple[Any, ...]]
    seeds: str
    steps: int
    target: dict[str, float]
    fixed: dict[str, float] = field(default_factory=dict)


#: The bench's fits by ``--model``. seir's truth is docs/populations.md's hand-set layered SEIR (a tick a day: a
#: mean latent period of 10 days, about 8 infectious days); 90 days cover the outbreak's recorded 86.
CASES = {
    "sir": Case("sir", DATASET, "SNAP ego-Facebook", TRUTH, PRIORS, SEEDS, STEPS, TARGET),
    "seir": Case(
        "seir",
        "hagelloch.csv",
        "Hagelloch 1861 (188 children; layers household and class)",
        {"beta@household": 0.3, "beta@class": 0.015, "sigma": 0.1, "gamma": 0.13},
        {
            "beta@household": (0.02, 1.0),
            "beta@class": (0.001, 0.1, "log"),
            "sigma": (0.02, 0.5),
            "gamma": (0.02, 0.5),
        },
        "ids:184",
        90,
        {"simulations": 20_000, "seconds": 60.0},
        {"beta": 0.0},
    ),
}
#: The targets by model: at least this many simulations in at most this many seconds.
TARGETS = {name: case.target for name, case in CASES.items()}


def _say(progress: Progress, what: str, fraction: float) -> None:
    if progress:
        progress(what, fraction)


def _params(case: Case) -> dict[str, Any]:
    return {**case.truth, **case.fixed}


def _observe(world: Any, case: Case, folder: str, seed: int) -> tuple[str, dict[str, Any]]:
    """One run with the truth, written as ``tick,I,R`` in ``folder``: the file and what it holds."""
    run = world.ensemble(
        model=case.model, params=_params(case), seeds=case.seeds, runs=1, steps=case.steps, seed=seed, workers=1
    )
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


def _yardstick(world: Any, case: Case, runs: int, steps: int, seed: int, workers: int) -> tuple[float, str | None]:
    """``agora run --runs RUNS`` of the case's model and truth: its wall-clock seconds and kernel."""
    t = time.perf_counter()
    out = world.ensemble(
        model=case.model, params=_params(case), seeds=case.seeds, runs=runs, steps=steps, seed=seed, workers=workers
    )
    seconds = time.perf_counter() - t
    if out.failed:  # a time over failed runs is no result
        raise RuntimeError(f"{out.failed} of {runs} {case.model} runs failed in the benchmark: {out.first_failure}")
    return seconds, out.kernel


def seconds_for_target(simulations: int, seconds: float, target: dict[str, float] = TARGET) -> float | None:
    """The seconds ``target``'s simulations take at the rate of ``simulations`` in ``seconds``."""
    return target["simulations"] * seconds / simulations if simulations > 0 else None


def verdict(simulations: int, seconds: float, target: dict[str, float] = TARGET) -> str:
    """``met`` when the fit made at least ``target``'s simulations (default: :data:`TARGET`, sir's) within its
    seconds, else ``not met``. A fit stops short of its budget when the next generation would not fit in what is
    left (:mod:`sim.runs.fit.abc`), so the bench's default budget (:data:`BUDGET`) leaves room for one more."""
    return "met" if simulations >= target["simulations"] and seconds <= target["seconds"] else "not met"


#: The bench's default budget: above the target's 20,000, so that the fit, which stops before a generation
#: its budget cannot cover (about 3,300 simulations at the end), makes at least 20,000.
BUDGET = 24_000


def _world(case: Case, source: Path, folder: str) -> tuple[Any, dict[str, Any]]:
    """The case's world in ``folder``, made from ``source`` as a user makes it, and what it is."""
    if case.model == "sir":
        world = sim.import_edges(str(Path(folder) / "facebook.db"), str(source))  # as agora new --edges
        return world, {"agents": int(world.agents), "edges": world.edges}
    world = sim.new_world(  # as docs/populations.md: agora new --people --id PN --group HN:household ...
        str(Path(folder) / "hagelloch.db"),
        people=str(source),
        id="PN",
        groups=["HN:household", "CL:class"],
        skip=["preschool"],
    )
    layers = {str(lay["name"]): int(lay["edges"]) for lay in world.info()["layers"]}
    return world, {"agents": int(world.agents), "edges": world.edges, "layers": layers}


def bench_fit(
    budget: int = BUDGET,
    *,
    model: str = "sir",
    workers: int | None = None,
    runs: int | None = None,
    seed: int = 1,
    data: str | None = None,
    progress: Progress = None,
) -> dict[str, Any]:
    """The fit and its yardstick (see the module docstring): both rates, their ratio, the target and its
    verdict, where a simulation's time goes, the machine's load average before and after and its CPUs. ``model``:
    ``sir`` or ``seir`` (:data:`CASES`); ``workers`` None: one per CPU this process may use; ``runs``: the
    yardstick's runs (None: sir 1,000 before and after, seir half the budget before and the rest of the fit's
    simulations after); ``data``: the folder holding the dataset (None: ``$AGORA_DATA`` or ../shared/data).
    Without the dataset the report says so (``available`` false) and nothing runs."""
    case = CASES[model]
    source = Path(data) / case.dataset if data else edge_list().parent / case.dataset
    before_runs = runs if runs is not None else (1000 if model == "sir" else max(1, budget // 2))
    count = workers or default_workers(max(budget, before_runs))
    out: dict[str, Any] = {
        "benchmark": "fit",
        "dataset": case.label,
        "model": case.model,
        "truth": case.truth,
        "fixed": case.fixed,
        "priors": {k: list(v) for k, v in case.priors.items()},
        "seeds": case.seeds,
        "seed": seed,
        "workers": count,
        "cpu_count": os.cpu_count(),
        "load_average": {"before": load_average()},
    }
    if not source.is_file():
        out.update(available=False, reason=f"{source} is missing: set $AGORA_DATA (or give --data) to its folder")
        return out
    _say(progress, f"making the world from {case.dataset}", 0.0)
    with tempfile.TemporaryDirectory(prefix="agora-bench-fit-") as tmp:
        world, shape = _world(case, source, tmp)
        out.update(shape)
        _say(progress, "the observation: one run with the truth", 0.02)
        observed, out["observed"] = _observe(world, case, tmp, seed + OBSERVED_SEED_OFFSET)
        steps = (out["observed"]["last_tick"] or 0) + 1  # a fit's simulation runs to the last observed tick
        # Untimed: the compiled kernel loaded here, as a user's second command finds Numba's cache.
        world.ensemble(
            model=case.model, params=_params(case), seeds=case.seeds, runs=20, steps=steps, workers=1, kernel="batched"
        )
        _say(progress, f"the yardstick: agora run --runs {before_runs}", 0.05)
        before, kernel = _yardstick(world, case, before_runs, steps, seed, count)

        def fitting(what: str, fraction: float) -> None:
            _say(progress, f"the fit: {what}", 0.1 + 0.7 * fraction)

        fit = world.fit(
            observed=observed,
            model=case.model,
            params={**case.priors, **case.fixed},
            seeds=case.seeds,
            budget=budget,
            seed=seed,
            workers=count,
            predictive=0,
            progress=fitting if progress else None,
        )
        after_runs = before_runs if runs is not None or model == "sir" else max(1, fit.simulations - before_runs)
        _say(progress, f"the yardstick again: agora run --runs {after_runs}", 0.8)
        after, _ = _yardstick(world, case, after_runs, steps, seed + before_runs, count)
        _say(progress, f"where a simulation's time goes: {SAMPLE} simulations on one core", 0.9)
        out["per_simulation"] = _per_simulation(world.path, case, observed, fit, count)
    out["load_average"]["after"] = load_average()
    runs_per_second = (before_runs + after_runs) / (before + after)
    sims_per_second = fit.simulations / fit.seconds if fit.seconds > 0 else 0.0
    out["steps"] = steps
    out["yardstick"] = _yardstick_report(case, steps, count, (before_runs, after_runs), (before, after), kernel)
    out["yardstick"]["runs_per_second"] = round(runs_per_second, 1)
    out["fit"] = _fit_report(fit, case, budget, sims_per_second)
    out["ratio"] = round(sims_per_second / runs_per_second, 3)
    out["seconds_for_target_at_this_rate"] = (
        round(case.target["simulations"] / sims_per_second, 1) if sims_per_second else None
    )
    out["target"] = {
        **case.target,
        "text": f"a {len(case.priors)}-parameter {case.model} fit of at least {case.target['simulations']:,.0f} "
        f"simulations in at most {case.target['seconds']:g} s on {count} workers",
    }
    out["verdict"] = verdict(fit.simulations, fit.seconds, case.target)
    out["available"] = True
    _say(progress, "done", 1.0)
    return out


def _yardstick_report(
    case: Case, steps: int, workers: int, runs: tuple[int, int], seconds: tuple[float, float], kernel: str | None
) -> dict[str, Any]:
    flags = " ".join(f"--param {k}={v:g}" for k, v in _params(case).items())
    return {
        "what": f"agora run WORLD --model {case.model} {flags} --seeds {case.seeds} --steps {steps} --runs R "
        f"--workers {workers} (world.ensemble), before and after the fit",
        "runs": runs[0] + runs[1],
        "runs_before_after": list(runs),
        "seconds": [round(seconds[0], 3), round(seconds[1], 3)],
        "kernel": kernel,
    }


def _per_simulation(path: str, case: Case, observed: str, fit: Any, workers: int) -> dict[str, Any]:
    """Where a simulation's time goes (module docstring, 4.): the fit's simulator and summary statistics, made as
    ``agora fit`` makes them, timed one particle at a time on :data:`SAMPLE` particles of the posterior (clipped
    to the priors' boxes); means in microseconds, beside the fit's own microseconds a simulation."""
    from sim.engine.requests import Fit  # noqa: PLC0415 - the fit's modules load only for this benchmark
    from sim.model.registry import plugin_registry  # noqa: PLC0415
    from sim.runs.fit.fitting import Plan  # noqa: PLC0415
    from sim.store.worldfile import open_world  # noqa: PLC0415

    registry = plugin_registry(path, ())
    world = asyncio.run(open_world(path))
    request = Fit.parse(
        {"observed": observed, "model": case.model, "params": {**case.priors, **case.fixed}, "seeds": case.seeds}
    )
    plan = Plan(world, registry, request)
    simulator, summary = plan.simulator, plan.summary
    assert simulator is not None and summary is not None  # an abc fit's plan
    lo = np.array([float(case.priors[n][0]) for n in simulator.names])
    hi = np.array([float(case.priors[n][1]) for n in simulator.names])
    rows = np.clip(fit.samples[np.arange(SAMPLE) % fit.samples.shape[0]], lo, hi)
    simulator.warm()
    whole, kernel, stats = [], [], []
    for i, row in enumerate(rows):
        t = time.perf_counter()
        made = simulator.runs(row, 10_000_000 + i)
        whole.append(time.perf_counter() - t)
        kernel.append(sum(float(r["seconds"]) for r in made))
        t = time.perf_counter()
        summary(made)
        stats.append(time.perf_counter() - t)
    # Means, not medians: a run's own seconds are rounded to 0.1 ms, and the parts of a mean add up; over the
    # 95 % quickest simulations, so that a few the machine's other work held up do not weigh on every part.
    kept = np.asarray(whole) <= np.quantile(whole, 0.95)
    sim_us, kernel_us, stats_us = (float(1e6 * np.asarray(x)[kept].mean()) for x in (whole, kernel, stats))
    in_generations = sum(g.seconds for g in fit.generations)
    per_sim = 1e6 * in_generations / fit.simulations if fit.simulations else 0.0
    return {
        "sample": SAMPLE,
        "statistic": "mean of the 95 % quickest",
        "kernel": "batched" if simulator.batched else "engine",
        "simulation_us_median": round(1e6 * statistics.median(whole), 1),
        "simulation_us": round(sim_us, 1),
        "kernel_run_us": round(kernel_us, 1),
        "chances_and_report_us": round(sim_us - kernel_us, 1),
        "summaries_us": round(stats_us, 1),
        "summaries": f"{len(summary.names)} statistics ({summary.kind}: the observed columns at each tick)",
        "fit_generations_seconds": round(in_generations, 3),
        "fit_outside_generations_seconds": round(fit.seconds - in_generations, 3),
        "fit_us_per_simulation": round(per_sim, 1),
        "fit_us_per_simulation_per_worker": round(per_sim * workers, 1),
    }


def _fit_report(fit: Any, case: Case, budget: int, sims_per_second: float) -> dict[str, Any]:
    """The fit's part of the report: its simulations and speed, and each parameter against the truth."""
    params = {}
    for name, p in fit.params.items():
        lo, hi = p.ci90
        params[name] = {
            "truth": case.truth[name],
            "median": round(p.median, 5),
            "ci90": [round(lo, 5), round(hi, 5)],
            "truth_inside": lo <= case.truth[name] <= hi,
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
    """The benchmark as text: both rates, the ratio, where a simulation's time goes, the posterior against the
    truth, the verdict."""
    if not r.get("available"):
        return [f"skipped: {r.get('reason')}"]
    y, f, load, per = r["yardstick"], r["fit"], r["load_average"], r["per_simulation"]
    params = "; ".join(
        f"{k} {p['median']:.4g} (90% {p['ci90'][0]:.4g}..{p['ci90'][1]:.4g}, truth {p['truth']:g} "
        f"{'inside' if p['truth_inside'] else 'OUTSIDE'})"
        for k, p in f["params"].items()
    )
    return [
        f"{r['dataset']} ({r['agents']:,} agents), {r['model']} from {r['seeds']}, {r['steps']} ticks, "
        f"{r['workers']} workers of {r['cpu_count']} CPUs; load average {load['before']} before, {load['after']} after",
        f"agora run --runs R  {y['runs_per_second']:,.1f} runs/s ({y['runs_before_after'][0]:,} runs in "
        f"{y['seconds'][0]:.2f} s before the fit, {y['runs_before_after'][1]:,} in {y['seconds'][1]:.2f} s after; "
        f"kernel {y['kernel']})",
        f"agora fit            {f['simulations_per_second']:,.1f} simulations/s ({f['simulations']:,} in "
        f"{f['seconds']:.1f} s, {f['generations']} generations, ESS {f['ess']:.0f}; kernel {f['kernel']})",
        f"ratio                {r['ratio']:.2f} (the fit's rate over the plain runs')",
        f"a simulation         {per['simulation_us']:,.0f} us on one core (kernel run {per['kernel_run_us']:,.0f}, "
        f"chances and report {per['chances_and_report_us']:,.0f}), the fit's summaries of it "
        f"{per['summaries_us']:,.0f} us (means of {per['sample']}); in the fit's generations "
        f"{per['fit_us_per_simulation']:,.0f} us a simulation ({per['fit_us_per_simulation_per_worker']:,.0f} us of "
        f"each worker's), {per['fit_outside_generations_seconds']:.1f} s outside them",
        f"posterior            {params}",
        f"target               {r['target']['text']}: {r['verdict']}"
        + (
            f" (at this rate {r['target']['simulations']:,} take {r['seconds_for_target_at_this_rate']:.0f} s)"
            if f["simulations"] < r["target"]["simulations"] and r["seconds_for_target_at_this_rate"]
            else ""
        ),
    ]
