"""SEISMIC's predictions against the final sizes of cascades simulated by Agora (the numbers of docs/seismic.md).

The cascades: Agora's independent cascade (``ic``, edge probability P) on a generated world (``sim.new_world``:
planted heavy-tailed communities, AGENTS agents, 10 follow links each on average), RUNS runs from each of the
ORIGINALS most followed agents (a post that gets reshared comes from an account with an audience); each run's
reshare times drawn along its diffusion tree from SEISMIC's kernel, follower counts the out-degrees
(tests/seismic_cascades.py). At each cut (1 h, 6 h, 1 day), the cascades with at least 5 reshares by then (SEISMIC
predicts for cascades with some history) are predicted by SEISMIC with two ``n_star``: the graph's (the mean
out-degree of an edge's target, the followers a new resharer brings) and the package's default 100.

Run from the repository's root::

    python scripts/seismic_check.py [AGENTS] [ORIGINALS] [RUNS] [P]

(defaults 1,000,000, 50, 40 and 0.005: on that world, whose n_star is 92, P * n_star = 0.46, subcritical). It
prints one JSON object: the world, the cascades' sizes, and per cut and ``n_star``: the cascades predicted, the
share predicted infinite (``p * n_star >= 1``), the median absolute percentage error of the prediction (an infinite
one counts as infinite) and of the reshares seen so far (no growth), the median of prediction / truth, the mean
prediction (finite ones) beside the mean truth of the same cascades, the coverage of SEISMIC's interval (the
predictions at ``p_low`` and ``p_up``), and the median infectiousness.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from typing import Any

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from seismic_cascades import Cascade, edge_target_degree, simulate  # noqa: E402

import sim  # noqa: E402
from sim.analysis import seismic  # noqa: E402

CUTS = {"1h": 3600.0, "6h": 21_600.0, "1d": 86_400.0}
MIN_RESHARES = 5


def num(x: float, digits: int = 3) -> float | str:
    """A number for the JSON: rounded, or "inf" (JSON has no infinity)."""
    return round(float(x), digits) if np.isfinite(x) else "inf"


def scored(cascades: list[Cascade], cut: float, n_star: float) -> dict[str, Any]:
    seen = [c for c in cascades if c.upto(cut)[0].size - 1 >= MIN_RESHARES]
    est = [seismic.estimate(*c.upto(cut), cut, n_star) for c in seen]
    size = np.array([e.size for e in est])
    truth = np.array([c.final for c in seen], dtype=np.float64)
    observed = np.array([e.observed for e in est], dtype=np.float64)
    finite = np.isfinite(size)
    ape = np.where(finite, np.abs(size - truth) / truth, np.inf)
    inside = (np.array([e.size_low for e in est]) <= truth) & (truth <= np.array([e.size_high for e in est]))
    return {
        "cascades": len(seen),
        "infinite": round(float(np.mean(~finite)), 3),
        "median_ape": num(np.median(ape)),
        "median_ape_no_growth": round(float(np.median((truth - observed) / truth)), 3),
        "median_ratio": num(np.median(np.where(finite, size / truth, np.inf))),
        "mean_prediction_finite": num(size[finite].mean(), 2) if finite.any() else None,
        "mean_truth_same": num(truth[finite].mean(), 2) if finite.any() else None,
        "interval_coverage": round(float(np.mean(inside)), 3),
        "median_p": float(f"{np.median([e.p for e in est]):.4g}"),
    }


def main(agents: int, originals: int, runs: int, p: float) -> dict[str, Any]:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        world = sim.new_world(os.path.join(folder, "world.db"), agents=agents, avg_degree=10, seed=1)
        made = time.perf_counter() - started
        out = np.diff(world.graph.indptr)
        chosen = world.agents.ids[np.argsort(out, kind="stable")[::-1][:originals]]
        cascades: list[Cascade] = []
        for i, agent in enumerate(chosen.tolist()):
            cascades += simulate(world, p, runs, seed=10_000 * i, seeds=f"ids:{agent}", workers=1)
        simulated = time.perf_counter() - started - made
        n_graph = edge_target_degree(world)
        finals = np.array([c.final for c in cascades])
        report = {
            "world": {"agents": agents, "edges": int(world.graph.edges), "max_out_degree": int(out.max())},
            "p": p,
            "originals": originals,
            "runs_each": runs,
            "original_followers_median": float(np.median([c.followers[0] for c in cascades])),
            "n_star_graph": round(n_graph, 2),
            "p_times_n_star": round(p * n_graph, 3),
            "final_reshares": {
                "mean": round(float(finals.mean()), 2),
                "median": float(np.median(finals)),
                "max": int(finals.max()),
            },
            "seconds": {"world": round(made, 1), "simulations": round(simulated, 1)},
            "cuts": {
                name: {"graph": scored(cascades, cut, n_graph), "default_100": scored(cascades, cut, seismic.N_STAR)}
                for name, cut in CUTS.items()
            },
        }
        report["seconds"]["total"] = round(time.perf_counter() - started, 1)
        return report


if __name__ == "__main__":
    args = sys.argv[1:]
    print(
        json.dumps(
            main(
                int(args[0]) if args else 1_000_000,
                int(args[1]) if len(args) > 1 else 50,
                int(args[2]) if len(args) > 2 else 40,
                float(args[3]) if len(args) > 3 else 0.005,
            ),
            indent=1,
        )
    )
