"""Cascades simulated by Agora in SEISMIC's form, for tests/test_seismic.py, scripts/seismic_check.py and the
backtest's comparison of Agora's forecast with SEISMIC's on the same cascades.

Each cascade is one run of Agora's independent cascade (``ic``, one seed drawn at random per run) on a world's
follower graph, its adoption forest kept (``trees=True``). The forest says who reshared from whom; the times are
drawn afterwards along it (:func:`sim.analysis.seismic.tree_times`): the seed posts at 0 and each adoption comes
a delay drawn from SEISMIC's kernel after its parent's. A post's follower count is its author's out-degree. Under
IC each follower of a post reshares it with probability ``p`` (if it has not already), so SEISMIC's
infectiousness is ``p`` and a new resharer's mean follower count ``n_star`` is the mean out-degree of an edge's
target (:func:`edge_target_degree`), the graph's own, not Twitter's 100.

The final size is the number of reshares (the run's adopters less its seed), the quantity SEISMIC predicts.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from sim.analysis.seismic import KERNEL, Kernel, tree_times


class Cascade(NamedTuple):
    """One simulated cascade: post times (seconds, ascending, the seed's 0 first), each post's author's follower
    count, and the final number of reshares (``times.size - 1``: every post of the run, however late)."""

    times: np.ndarray
    followers: np.ndarray
    final: int

    def upto(self, cut: float) -> tuple[np.ndarray, np.ndarray]:
        """The posts seen by ``cut``: what a forecaster at ``cut`` knows."""
        known = int(np.searchsorted(self.times, cut, side="right"))
        return self.times[:known], self.followers[:known]


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
    session seed ``seed + r``; their reshare times are drawn from ``kernel`` with a generator seeded by ``seed``.
    One numpy pass over all runs' adopters; a loop over runs only to split them."""
    res = world.ensemble(model="ic", params={"p": p}, seeds=seeds, runs=runs, seed=seed, trees=True, workers=workers)
    if res.failed:
        raise RuntimeError(f"{res.failed} of {runs} IC runs failed: {res.first_failure}")
    return _split(res.cascades.columns(), world, runs, np.random.default_rng(seed), kernel)


def _split(
    cols: dict[str, np.ndarray], world: Any, runs: int, rng: np.random.Generator, kernel: Kernel
) -> list[Cascade]:
    run, agent, source, generation = cols["run"], cols["agent"], cols["source"], cols["generation"]
    ids = world.agents.ids
    span = int(ids.max()) + 2
    # Each row's parent as a row: the row whose (run, agent) is the row's (run, source).
    key = run * span + agent
    order = np.argsort(key, kind="stable")
    has_parent = source >= 0
    parent = np.full(run.size, -1, dtype=np.int64)
    parent[has_parent] = order[np.searchsorted(key[order], run[has_parent] * span + source[has_parent])]
    if np.any(np.take(agent, parent[has_parent]) != source[has_parent]):
        raise RuntimeError("an adoption's source is not an adopter of the same run")
    times = tree_times(parent, generation, rng, kernel)
    out_degree = np.diff(world.graph.indptr)
    followers = out_degree[np.searchsorted(ids, agent)].astype(np.float64)
    by = np.lexsort((times, run))
    run, times, followers = run[by], times[by], followers[by]
    bounds = np.searchsorted(run, np.arange(runs + 1))
    return [
        Cascade(
            times[bounds[r] : bounds[r + 1]], followers[bounds[r] : bounds[r + 1]], int(bounds[r + 1] - bounds[r] - 1)
        )
        for r in range(runs)
    ]
