"""pyabc beside ``agora fit``: the same two-parameter SIR fit on ego-Facebook, the same simulator (Agora's
batched kernel, each simulation the engine's run of its seed), pyabc's ABC-SMC (Klinger, Rickert and Hasenauer
2018) driving it, and the fit of ``agora fit`` on the same observation and budget.

pyabc is not one of Agora's dependencies (it brings some 35 packages: dask, distributed, redis, SQLAlchemy,
IPython's kernel), so this script lives outside the ``sim`` package; run it from the repository's root in an
environment that has both (a virtual environment of its own keeps pyabc's packages out of Agora's)::

    python -m venv .venv-pyabc && . .venv-pyabc/bin/activate
    pip install pyabc && pip install -e .
    python scripts/pyabc_race.py EDGES [BUDGET]

``EDGES`` is an edge list (ego-Facebook: ``$AGORA_DATA/facebook_combined.txt``); ``BUDGET`` the simulations
each sampler may run (20,000 when not given).

It prints one JSON object: per sampler (pyabc's single-core sampler, pyabc's two-process
``MulticoreEvalParallelSampler`` run twice with the same seed, and ``agora fit`` on one and on two workers),
its simulations, seconds, simulations a second, generations and each parameter's median and 90 % interval;
and whether two runs with the same seed gave the same posterior. The numbers are quoted in docs/fitting.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from typing import Any

import numpy as np

TRUTH = {"beta": 0.03, "gamma": 0.2}
PRIORS = {"beta": (0.005, 0.1), "gamma": (0.05, 0.5)}
STEPS = 40


def _observe(w: Any, folder: str) -> tuple[str, np.ndarray]:
    run = w.ensemble(model="sir", params=TRUTH, seeds="random:10", runs=1, seed=1_000_004, steps=STEPS)
    cols = run.series.columns()
    curve = np.array(
        [[cols["value"][(cols["tick"] == t) & (cols["measure"] == m)][0] for m in ("I", "R")] for t in range(STEPS)]
    )
    path = os.path.join(folder, "curve.csv")
    with open(path, "w") as f:
        f.write("tick,I,R\n")
        f.writelines(f"{t},{int(i)},{int(r)}\n" for t, (i, r) in enumerate(curve))
    return path, curve


def _quantiles(x: np.ndarray, w: np.ndarray) -> dict[str, Any]:
    order = np.argsort(x)
    cdf = np.cumsum(w[order]) / np.sum(w)
    q = np.interp([0.05, 0.5, 0.95], cdf, x[order])
    return {"median": round(float(q[1]), 5), "ci90": [round(float(q[0]), 5), round(float(q[2]), 5)]}


def _pyabc(world_path: str, curve: np.ndarray, budget: int, sampler: Any, seed: int) -> dict[str, Any]:
    import pyabc  # noqa: PLC0415 - the yardstick's own environment

    from sim.model.registry import plugin_registry  # noqa: PLC0415
    from sim.runs.fit.priors import split_params  # noqa: PLC0415
    from sim.runs.fit.simulate import Simulator  # noqa: PLC0415
    from sim.store.worldfile import open_world  # noqa: PLC0415

    world, registry = asyncio.run(open_world(world_path)), plugin_registry(world_path)
    priors, fixed = split_params([f"{k}={lo}..{hi}" for k, (lo, hi) in PRIORS.items()])
    simulator = Simulator(
        world, registry, model="sir", priors=priors, fixed=fixed, seeds="random:10", steps=STEPS, max_ticks=STEPS
    )
    simulator.warm()

    def model(p: dict[str, float]) -> dict[str, np.ndarray]:
        run_seed = int(np.random.randint(0, 2**40))  # pyabc seeds numpy's global generator in each worker
        run = simulator.runs(np.array([p["beta"], p["gamma"]]), run_seed)[0]
        out = {}
        for c in ("I", "R"):
            v = np.asarray(run["series"][c], dtype=float)
            out[c] = np.concatenate([v, np.full(max(0, STEPS - v.size), v[-1])])[:STEPS]
        return out

    prior = pyabc.Distribution(**{k: pyabc.RV("uniform", lo, hi - lo) for k, (lo, hi) in PRIORS.items()})
    np.random.seed(seed)
    abc = pyabc.ABCSMC(model, prior, pyabc.AdaptivePNormDistance(p=2), population_size=500, sampler=sampler)
    db = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "pyabc.db")
    abc.new(db, {"I": curve[:, 0], "R": curve[:, 1]})
    t0 = time.perf_counter()
    history = abc.run(max_total_nr_simulations=budget)
    seconds = time.perf_counter() - t0
    frame, weights = history.get_distribution()
    sims = int(history.total_nr_simulations)
    return {
        "simulations": sims,
        "seconds": round(seconds, 2),
        "simulations_per_second": round(sims / seconds, 1),
        "generations": int(history.max_t) + 1,
        "params": {k: _quantiles(frame[k].to_numpy(), np.asarray(weights)) for k in PRIORS},
        "_samples": frame[list(PRIORS)].to_numpy().round(12).tolist(),
    }


def _agora(w: Any, curve_path: str, budget: int, workers: int) -> dict[str, Any]:
    fit = w.fit(
        observed=curve_path,
        model="sir",
        params={k: tuple(v) for k, v in PRIORS.items()},
        seeds="random:10",
        budget=budget,
        population=500,
        seed=1,
        workers=workers,
        predictive=0,
    )
    return {
        "simulations": fit.simulations,
        "seconds": round(fit.seconds, 2),
        "simulations_per_second": round(fit.simulations / fit.seconds, 1),
        "generations": len(fit.generations),
        "params": {
            k: {"median": round(p.median, 5), "ci90": [round(x, 5) for x in p.ci90]} for k, p in fit.params.items()
        },
        "_samples": fit.samples.round(12).tolist(),
    }


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2):
        sys.stderr.write("usage: python pyabc_race.py EDGES [BUDGET]\n")
        return 2
    import pyabc  # noqa: PLC0415

    import sim  # noqa: PLC0415

    budget = int(argv[1]) if len(argv) > 1 else 20_000
    folder = tempfile.mkdtemp()
    path = os.path.join(folder, "fb.db")
    w = sim.import_edges(path, argv[0])
    curve_path, curve = _observe(w, folder)
    out: dict[str, Any] = {"budget": budget, "truth": TRUTH, "load_before": list(os.getloadavg())}
    out["pyabc_single_core"] = _pyabc(path, curve, budget, pyabc.sampler.SingleCoreSampler(), 1)
    two = [_pyabc(path, curve, budget, pyabc.sampler.MulticoreEvalParallelSampler(n_procs=2), 1) for _ in range(2)]
    out["pyabc_two_processes"] = two[0]
    out["pyabc_two_processes_same_seed_same_posterior"] = two[0]["_samples"] == two[1]["_samples"]
    mine = [_agora(w, curve_path, budget, k) for k in (1, 2)]
    out["agora_one_worker"], out["agora_two_workers"] = mine
    out["agora_one_and_two_workers_same_posterior"] = mine[0]["_samples"] == mine[1]["_samples"]
    out["load_after"] = list(os.getloadavg())
    for v in out.values():
        if isinstance(v, dict):
            v.pop("_samples", None)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
