"""Cascades simulated by Agora in SEISMIC's form, for tests/test_seismic.py and scripts/seismic_check.py: runs of
``ic`` on a :class:`sim.WorldFile` made cascades by :func:`sim.runs.backtest.cascades.split` (reshare times drawn
from SEISMIC's kernel along each run's adoption tree, a post's follower count its author's out-degree). The
backtest simulates the same way on an open world (:func:`sim.runs.backtest.cascades.simulate`).

Under IC each follower of a post reshares it with probability ``p`` (if it has not already), so SEISMIC's
infectiousness is ``p`` and a new resharer's mean follower count ``n_star`` is the mean out-degree of an edge's
target (:func:`edge_target_degree`), the graph's own, not Twitter's 100.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.analysis.seismic import KERNEL, Kernel
from sim.runs.backtest.cascades import Cascade, split

__all__ = ["Cascade", "edge_target_degree", "simulate"]


def edge_target_degree(world: Any) -> float:
    """The mean out-degree of an edge's target: the followers a new resharer brings under IC (SEISMIC's n_star)."""
    graph = world.graph
    out = np.diff(graph.indptr)
    return float(out[graph.indices].mean())


def simulate(
    world: Any,
    p: float,
    runs: int,
    seed: int = 0,
    *,
    seeds: str = "random:1",
    kernel: Kernel = KERNEL,
    workers: int | None = None,
) -> list[Cascade]:
    """``runs`` IC cascades on ``world`` (a ``sim.WorldFile``) with edge probability ``p`` from ``seeds`` (an
    ensemble's selection: ``random:1`` draws one original poster per run, ``ids:A`` repeats one), run ``r`` with
    session seed ``seed + r``; their reshare times are drawn from ``kernel`` with a generator seeded by ``seed``."""
    res = world.ensemble(model="ic", params={"p": p}, seeds=seeds, runs=runs, seed=seed, trees=True, workers=workers)
    if res.failed:
        raise RuntimeError(f"{res.failed} of {runs} IC runs failed: {res.first_failure}")
    out_degree = np.diff(world.graph.indptr)
    return split(res.cascades.columns(), world.agents.ids, out_degree, runs, np.random.default_rng(seed), kernel)
