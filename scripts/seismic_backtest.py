"""SEISMIC beside Agora's forecast and no growth on the same cascades simulated by Agora (docs/backtesting.md,
"Cascades").

The cascades are those of scripts/seismic_check.py: ``ic`` (edge probability P) on a generated world of AGENTS
agents (community graph, 10 follow links each on average, seed 1), RUNS runs from each of the ORIGINALS most
followed agents, reshare times drawn from SEISMIC's kernel along each run's tree. They are written as a cascade
file (``cascade,id,parent,time,followers``) and backtested as a user would, ``world.backtest`` (= ``agora
backtest WORLD --observed cascades.csv --method seismic,agora,persistence --cut 1h,6h,1d``), twice: SEISMIC with
the graph's n_star and with the package's 100. Agora's forecast fits ``p`` (a log-uniform prior over 0.001-0.02,
not the truth) from BUDGET simulations in all.

Run from the repository's root::

    python scripts/seismic_backtest.py [AGENTS] [ORIGINALS] [RUNS] [P] [BUDGET] [FIGURE]

(defaults 200,000, 20, 50, 0.008 and 10,000; FIGURE: where to draw the first backtest's figure, as ``--plot``).
Prints one JSON object: the world, the cascades, and each backtest's scores per method and cut.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from seismic_cascades import edge_target_degree, simulate  # noqa: E402

import sim  # noqa: E402
from sim.runs.backtest.cascades import write_cascades  # noqa: E402


def main() -> None:
    agents, originals, runs = (int(a) for a in (sys.argv[1:4] + ["200000", "20", "50"][len(sys.argv[1:4]) :]))
    p = float(sys.argv[4]) if len(sys.argv) > 4 else 0.008
    budget = int(sys.argv[5]) if len(sys.argv) > 5 else 10_000
    out: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as folder:
        t0 = time.perf_counter()
        path = os.path.join(folder, "w.db")
        sim.new_world(path, agents=agents, graph="community", avg_degree=10, seed=1)
        world = sim.open_world(path)
        n_star = edge_target_degree(world)
        top = world.agents.ids[np.argsort(-np.diff(world.graph.indptr), kind="stable")[:originals]]
        cascades = []
        for i, agent in enumerate(top.tolist()):
            cascades += simulate(world, p, runs, seed=1000 * i, seeds=f"ids:{agent}")
        finals = np.array([c.final for c in cascades])
        out["world"] = {"agents": agents, "edges": int(world.edges), "n_star": round(n_star, 2), "p": p}
        out["cascades"] = {"count": len(cascades), "mean": float(finals.mean()), "max": int(finals.max())}
        out["simulated_seconds"] = round(time.perf_counter() - t0, 1)
        csv = os.path.join(folder, "cascades.csv")
        write_cascades(cascades, csv)
        for label, star in (("graph", n_star), ("default", None)):
            t1 = time.perf_counter()
            methods = "seismic,agora,persistence" if star is not None else "seismic,persistence"
            res = world.backtest(
                observed=csv,
                method=methods,
                cut="1h,6h,1d",
                params=["p=0.001..0.02:log"],
                budget=budget,
                **({"n_star": star} if star is not None else {}),
            )
            if star is not None and len(sys.argv) > 6:
                res.plot(sys.argv[6], force=True)
            data = res.to_dict()
            out[f"n_star_{label}"] = {
                "n_star": data["n_star"],
                "cascades_scored": {c["cut"]: c["cascades"] for c in data["cuts"]},
                "scores": data["scores"],
                "seconds": round(time.perf_counter() - t1, 1),
            }
            sys.stderr.write(f"n_star {label}: {time.perf_counter() - t1:.0f} s\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
