"""Simulation-based calibration of ``agora fit`` (Talts, Betancourt, Simpson, Vehtari and Gelman 2018,
"Validating Bayesian inference algorithms with simulation-based calibration", arXiv:1804.06788).

Draw a truth from the prior, simulate the data from it, fit: if the fit is calibrated, the rank of the truth
among draws from its posterior is uniform, and the 90 % intervals cover the truth in 90 % of data sets.
Shared by ``tests/test_fit_sbc.py`` (20 data sets in ``make test``, 100 with ``-m slow``) and docs/fitting.md's
figures.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

#: Posterior draws the truth is ranked among (ranks 0 .. DRAWS).
DRAWS = 99
#: Run seeds of the synthetic data: far from every fit's (sim.runs.fit.abc.run_seeds).
DATA_SEED = 1 << 61


@dataclass
class Calibration:
    """Ranks and 90 % interval hits per parameter, over the data sets."""

    names: list[str]
    ranks: dict[str, list[int]] = field(default_factory=dict)
    covered: dict[str, list[bool]] = field(default_factory=dict)
    simulations: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def add(self, name: str, rank: int, hit: bool) -> None:
        self.ranks.setdefault(name, []).append(rank)
        self.covered.setdefault(name, []).append(hit)

    def coverage(self, name: str) -> float:
        return float(np.mean(self.covered[name]))

    def uniformity(self, name: str, bins: int) -> float:
        """The chi-squared test's p-value of the ranks' histogram in ``bins`` equal bins against uniform."""
        counts = np.bincount(np.asarray(self.ranks[name]) * bins // (DRAWS + 1), minlength=bins)
        return float(stats.chisquare(counts).pvalue)

    def summary(self, bins: int) -> dict[str, object]:
        return {
            name: {
                "datasets": len(self.ranks[name]),
                "coverage90": self.coverage(name),
                "rank_chi2_p": self.uniformity(name, bins),
                "ranks": self.ranks[name],
            }
            for name in self.names
        }


def _rank(truth: float, samples: np.ndarray, weights: np.ndarray, rng: np.random.Generator) -> int:
    draws = samples[rng.choice(samples.size, size=DRAWS, p=weights)]
    below = int(np.sum(draws < truth))
    ties = int(np.sum(draws == truth))
    return below + int(rng.integers(0, ties + 1))


def sir_world(folder: str) -> str:
    """The 2,000-agent world of the SIR calibration."""
    import sim

    path = os.path.join(folder, "sbc-sir.db")
    if not os.path.exists(path):
        sim.new_world(path, agents=2000, avg_degree=8, seed=4848)
    return path


def small_world(folder: str) -> str:
    """The 400-agent world (average degree 8) of the SEIR calibration and the width check."""
    import sim

    path = os.path.join(folder, "sbc-400.db")
    if not os.path.exists(path):
        sim.new_world(path, agents=400, avg_degree=8, seed=4848)
    return path


#: SEIR's calibration: beta, sigma and gamma (uniform priors) from the I and R curves (E unobserved).
SEIR = ("beta=0.02..0.2", "sigma=0.1..0.9", "gamma=0.05..0.5")


def sbc_seir(path: str, datasets: int, *, budget: int, population: int, first: int = 0) -> Calibration:
    """SEIR's beta, sigma and gamma from the I and R curves of 30 ticks (5 random seeds), ``datasets`` times."""
    return sbc_series(path, "seir", SEIR, datasets, budget=budget, population=population, first=first)


def seir_batched(path: str) -> bool:
    """Whether SEIR runs in a compiled kernel on ``path`` (on the engine a fit's simulations take ~200 times as
    long)."""
    from sim.engine.requests import split_params
    from sim.lab.agents import load_world
    from sim.model.registry import plugin_registry
    from sim.runs.fit.simulate import Simulator

    priors, fixed = split_params(SEIR)
    world, registry = load_world(path), plugin_registry(path)
    return Simulator(
        world, registry, model="seir", priors=priors, fixed=fixed, seeds="random:5", steps=30, max_ticks=30
    ).batched


def _write_series(series: dict, ticks: int, path: str, columns: tuple[str, ...] = ("I", "R")) -> str:
    """A run's ``columns`` for ``ticks`` ticks as the observed file ``tick,COLUMNS`` (a run that ended early
    keeps its last values); its path."""
    with open(path, "w") as f:
        f.write(",".join(("tick", *columns)) + "\n")
        for t in range(ticks):
            at = min(t, len(series[columns[0]]) - 1)
            f.write(",".join([str(t), *(str(series[c][at]) for c in columns)]) + "\n")
    return path


def _fit(world, registry, request):  # noqa: ANN001, ANN202 - run_fit's types, imported late
    from sim.runs.fit.fitting import run_fit

    return asyncio.run(run_fit(world, registry, request))


#: SIR's calibration: beta and gamma (uniform priors) from the I and R curves.
SIR = ("beta=0.02..0.2", "gamma=0.05..0.5")


def sbc_sir(path: str, datasets: int, **options: Any) -> Calibration:
    """SIR's beta and gamma from the I and R curves (of ``ticks`` ticks, 30 by default), ``datasets`` times;
    ``options`` (``budget`` and ``population`` required) as :func:`sbc_series`'s."""
    return sbc_series(path, "sir", SIR, datasets, **options)


def sbc_series(
    path: str,
    model: str,
    texts: tuple[str, ...],
    datasets: int,
    *,
    budget: int,
    population: int,
    workers: int = 2,
    ticks: int = 30,
    distance: str = "regression",
    columns: tuple[str, ...] = ("I", "R"),
    seeds: str = "random:5",
    first: int = 0,
) -> Calibration:
    """``model``'s fitted parameters (``texts``: uniform priors, fixed values) from its ``columns`` over ``ticks``
    ticks, data sets ``first`` .. ``first + datasets - 1`` (each its truth drawn from the prior)."""
    from sim.engine.requests import split_params
    from sim.lab.agents import load_world
    from sim.model.registry import plugin_registry
    from sim.runs.fit.fitting import Fit
    from sim.runs.fit.simulate import Simulator

    world, registry = load_world(path), plugin_registry(path)
    priors, fixed = split_params(texts)
    maker = Simulator(
        world, registry, model=model, priors=priors, fixed=fixed, seeds=seeds, steps=ticks, max_ticks=ticks
    )
    rng = np.random.default_rng(20181 if model == "sir" else [20181, len(model), first])
    out = Calibration(priors.names)
    folder = os.path.dirname(path)
    for i in range(first, first + datasets):
        truth = np.array([p.sample(rng, 1)[0] for p in priors.items])
        run = maker.runs(truth, DATA_SEED // 4 + i)[0]  # the run seeds of one particle: run_seed * replicates
        observed = _write_series(run["series"], ticks, os.path.join(folder, f"sbc-{model}-{i}.csv"), columns)
        request = Fit(
            observed=observed,
            model=model,
            params=texts,
            seeds=seeds,
            budget=budget,
            population=population,
            seed=i,
            workers=workers,
            predictive=0,
            distance=distance,
        )
        result = _fit(world, registry, request)
        out.simulations.append(result.simulations)
        out.seconds.append(result.seconds)
        for j, name in enumerate(priors.names):
            lo, hi = result.params[name].ci90
            out.add(name, _rank(truth[j], result.samples[:, j], result.weights, rng), lo <= truth[j] <= hi)
    return out


def layered_world(folder: str, people: int = 3000, seed: int = 59) -> str:
    """A layered world of ``people`` people (issue 59's calibration): households of about 4 (each person draws
    one of ``people / 4``), and school classes of about 25 for the third of them of school age."""
    from sim.store.contacts import GroupLayer, people_world
    from sim.store.people import PeopleTable
    from sim.store.worldfile import save_world

    path = os.path.join(folder, "sbc-layers.db")
    if not os.path.exists(path):
        rng = np.random.default_rng(seed)
        school = rng.random(people) < 1 / 3
        numbers = {
            "household": rng.integers(0, people // 4, people).astype(np.float64),
            "class": np.where(school, rng.integers(0, max(1, int(school.sum()) // 25), people), np.nan),
        }
        table = PeopleTable(path="generated.csv", id_column="id", ids=np.arange(1, people + 1), numbers=numbers)
        world = people_world("sbc-layers", table, [GroupLayer("household"), GroupLayer("class")], seed=seed)
        asyncio.run(save_world(world, path))
    return path


def sbc_layers(path: str, datasets: int, *, budget: int, population: int, workers: int = 2, ticks: int = 40):
    """SIR's beta per layer (household and class, log-uniform priors; gamma 0.2 fixed) from the I and R curves
    of ``ticks`` ticks of an outbreak from 10 random seeds, ``datasets`` times."""
    from sim.engine.requests import split_params
    from sim.lab.agents import load_world
    from sim.model.registry import plugin_registry
    from sim.runs.fit.fitting import Fit
    from sim.runs.fit.simulate import Simulator

    texts = ("beta@household=0.02..0.5:log", "beta@class=0.002..0.05:log", "beta=0", "gamma=0.2")
    world, registry = load_world(path), plugin_registry(path)
    priors, fixed = split_params(texts)
    maker = Simulator(
        world, registry, model="sir", priors=priors, fixed=fixed, seeds="random:10", steps=ticks, max_ticks=ticks
    )
    rng = np.random.default_rng(5959)
    out = Calibration(priors.names)
    folder = os.path.dirname(path)
    for i in range(datasets):
        truth = np.array([p.sample(rng, 1)[0] for p in priors.items])
        run = maker.runs(truth, DATA_SEED // 8 + i)[0]
        observed = _write_series(run["series"], ticks, os.path.join(folder, f"sbc-layers-{i}.csv"))
        request = Fit(
            observed=observed,
            model="sir",
            params=texts,
            seeds="random:10",
            budget=budget,
            population=population,
            seed=i,
            workers=workers,
            predictive=0,
        )
        result = _fit(world, registry, request)
        out.simulations.append(result.simulations)
        out.seconds.append(result.seconds)
        for j, name in enumerate(priors.names):
            lo, hi = result.params[name].ci90
            out.add(name, _rank(truth[j], result.samples[:, j], result.weights, rng), lo <= truth[j] <= hi)
    return out


def sbc_ic_times(path: str, datasets: int, *, seeds: str = "random:10") -> Calibration:
    """ic's p (log-uniform on 0.002 .. 0.1) from the adoption times of one cascade, run until it ended, by the
    exact likelihood, ``datasets`` times."""
    import sim
    from sim.lab.agents import load_world
    from sim.model.registry import plugin_registry
    from sim.runs.fit.fitting import Fit

    w = sim.open_world(path)
    world, registry = load_world(path), plugin_registry(path)
    rng = np.random.default_rng(4242)
    lo, hi = 0.002, 0.1
    out = Calibration(["p"])
    folder = os.path.dirname(path)
    for i in range(datasets):
        p = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
        res = w.ensemble(model="ic", params={"p": p}, seeds=seeds, runs=1, seed=DATA_SEED + i, trees=True, workers=1)
        tree = res.cascades.columns()
        observed = os.path.join(folder, f"sbc-ic-{i}.csv")
        with open(observed, "w") as f:
            f.write("id,tick\n")
            f.writelines(f"{a},{t}\n" for a, t in zip(tree["agent"].tolist(), tree["tick"].tolist()))
        # Watched until it ended: the round after the last adoption, which adopted nobody, is observed too.
        steps = int(tree["tick"].max()) + 2
        request = Fit(observed=observed, model="ic", params=(f"p={lo}..{hi}:log",), steps=steps, seed=i)
        result = _fit(world, registry, request)
        assert result.method == "exact"
        out.seconds.append(result.seconds)
        a, b = result.params["p"].ci90
        out.add("p", _rank(p, result.samples[:, 0], result.weights, rng), a <= p <= b)
    return out


if __name__ == "__main__":  # python tests/fit_sbc.py DATASETS BUDGET POPULATION [DISTANCE | seir [FIRST]]
    import json
    import sys
    import tempfile

    n, budget, population = (int(a) for a in sys.argv[1:4])
    what = sys.argv[4] if len(sys.argv) > 4 else "regression"
    with tempfile.TemporaryDirectory() as d:
        if what == "seir":
            first = int(sys.argv[5]) if len(sys.argv) > 5 else 0
            cal = sbc_seir(small_world(d), n, budget=budget, population=population, first=first)
        else:
            cal = sbc_sir(sir_world(d), n, budget=budget, population=population, distance=what)
    s = cal.summary(10 if n >= 50 else 4)
    print(json.dumps({k: {**v, "ranks": sorted(v["ranks"])} for k, v in s.items()}))
    print("simulations", np.mean(cal.simulations), "seconds", np.mean(cal.seconds), "total", np.sum(cal.seconds))
