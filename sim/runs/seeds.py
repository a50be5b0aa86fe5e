"""Seeds chosen with their spread estimated by Agora's own ensembles (``agora seeds``, ``sim.choose_seeds``):
a method that simulates (CELF) asks for the mean reach of candidate sets, each an ensemble of the model from
those seeds, with session seeds ``seed .. seed + runs - 1``; the report's estimate is one more ensemble of
the chosen set."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TypeVar

import numpy as np

from sim.core.world import World
from sim.engine.requests import Ensemble, SeedChoice
from sim.engine.seeding import ChosenSeeds, check_k, choose_seeds
from sim.model.registry import Registry
from sim.runs.reports import EnsembleReport
from sim.runs.runner import run_cascades

T = TypeVar("T")
#: How a caller runs a coroutine to its end (``asyncio.run``; Python's API: its private loop, also in Jupyter).
Runner = Callable[[Coroutine[object, object, T]], T]


def spread_report(
    world: World, registry: Registry, request: SeedChoice, agents: np.ndarray, *, runs: int, seed: int, run: Runner
) -> EnsembleReport:
    """An ensemble of ``request``'s model and parameters from ``agents`` (indices): ``runs`` runs until done,
    session seeds ``seed`` onwards, in this process."""
    ids = world.columns["ids"]
    ensemble = Ensemble.parse(
        {
            "text": "seeds",
            "seeds": "ids:" + ",".join(str(int(i)) for i in ids[agents]),
            "model": request.model,
            "params": dict(request.params),
            "runs": runs,
            "seed": seed,
            "until_done": True,
            "workers": 1,
        },
        registry,
    )
    return run(run_cascades(world, ensemble, registry=registry))


def choose_by_spread(world: World, registry: Registry, request: SeedChoice, run: Runner) -> ChosenSeeds:
    """The seeds ``request`` asks for, a simulating method's spreads estimated by ensembles of the model
    (:func:`spread_report`; ``run`` runs each to its end).

    Raises:
        BadParameterError: a k out of range for the world, or as :func:`sim.engine.seeding.choose_seeds`.
    """
    check_k(request.k, world.n)

    def mean_spread(agents: np.ndarray, runs: int, seed: int) -> float:
        report = spread_report(world, registry, request, agents, runs=runs, seed=seed, run=run)
        mean = report["mean_reached"]
        return float("nan") if mean is None else float(mean)

    return choose_seeds(world, registry, request, mean_spread)
