"""Draw docs/figures/opinion-catalogue.png: one panel per model of the opinion catalogue (nls, voter-zealots,
altafini, friedkin-johnsen, algorithmic-bias-media, arwhk).

Run from the repository root (a few minutes on two cores)::

    .venv/bin/python examples/opinion_catalogue.py [OUT.png]

Every run is on one generated 5,000-agent community world (seed 7, average degree 10), but Altafini's,
which runs on a denser 1,000-agent one (seed 7, average degree 20: nobody follows nobody, so the lowest
and highest opinions are those of agents that listen, and the averaging mixes within a hundred rounds).
Several runs per setting (session seeds 0, 1, ...); each line is the mean over the runs, a run that ended
keeping its last value. Every number comes from the seeds given here, so the figure is the same on every
machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

import sim
from sim.analysis.plot import run_matrix

ROOT = Path(__file__).resolve().parents[1]
AGENTS = 5000

#: Per panel: (model, title, measures drawn, [(label, params, seeds, runs, steps or None for until done)]).
PANELS: list[tuple[str, str, tuple[str, ...], list[tuple[str, dict[str, Any], str, int, int | None]]]] = [
    (
        "nls",
        "share holding 1, from 45 % (sources within radius hops)",
        ("1",),
        [
            ("radius 1", {}, "random:2250", 5, None),
            ("radius 2, alpha 2", {"radius": 2}, "random:2250", 5, None),
            ("radius 1, threshold 3", {"threshold": 3.0}, "random:2250", 5, None),
        ],
    ),
    (
        "voter-zealots",
        "share holding 1: 100 zealots of 1 (the seeds)",
        ("1",),
        [
            ("no zealot of 0", {}, "random:100", 3, 150),
            ("zealots_0 0.02 (about 98)", {"zealots_0": 0.02}, "random:100", 3, 150),
            ("zealots_0 0.04 (about 196)", {"zealots_0": 0.04}, "random:100", 3, 150),
        ],
    ),
    (
        "altafini",
        "lowest (dashed) and highest opinion, 1,000 agents",
        ("opinion.min", "opinion.max"),
        [
            ("factions (balanced)", {"tolerance": 1e-7}, "community:0:100", 3, None),
            ("communities (unbalanced)", {"signs": "communities", "tolerance": 1e-7}, "community:0:100", 3, None),
        ],
    ),
    (
        "friedkin-johnsen",
        "spread of the opinions by stubbornness",
        ("opinion.std",),
        [
            ("stubbornness 0.05", {"stubbornness": 0.05}, "none", 3, None),
            ("stubbornness 0.2", {"stubbornness": 0.2}, "none", 3, None),
            ("stubbornness 0.6", {"stubbornness": 0.6}, "none", 3, None),
        ],
    ),
    (
        "algorithmic-bias-media",
        "mean opinion: one medium at 0.9 (epsilon 0.4)",
        ("opinion.mean",),
        [
            ("p 0 (no media)", {"p": 0.0, "epsilon": 0.4, "media": "0.9"}, "none", 3, 60),
            ("p 0.05", {"p": 0.05, "epsilon": 0.4, "media": "0.9"}, "none", 3, 60),
            ("p 0.2", {"p": 0.2, "epsilon": 0.4, "media": "0.9"}, "none", 3, 60),
        ],
    ),
    (
        "arwhk",
        "spread of the opinions by variant (epsilon 0.2)",
        ("opinion.std",),
        [
            ("attraction-repulsion", {}, "none", 3, 40),
            ("attraction", {"variant": "attraction"}, "none", 3, 40),
            ("base", {"variant": "base"}, "none", 3, 40),
        ],
    ),
]


def mean_series(res: Any, measure: str) -> tuple[np.ndarray, np.ndarray]:
    """Ticks and the mean of ``measure`` over the runs, each run's last value carried forward (as ``agora plot``
    draws an ensemble: ``sim.analysis.plot.run_matrix``)."""
    runs = run_matrix(res.series.table, (), measure)
    return np.arange(runs.shape[1]), runs.mean(axis=0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default=str(ROOT / "docs" / "figures" / "opinion-catalogue.png"))
    args = ap.parse_args()
    fig = Figure(figsize=(16, 8.5), layout="constrained")
    axes = fig.subplots(2, 3).ravel()
    with tempfile.TemporaryDirectory() as tmp:
        community = sim.new_world(f"{tmp}/community.db", agents=AGENTS, avg_degree=10, seed=7)
        dense = sim.new_world(f"{tmp}/dense.db", agents=1000, avg_degree=20, seed=7)
        for ax, (model, title, measures, settings) in zip(axes, PANELS, strict=True):
            world = dense if model == "altafini" else community
            for n, (label, params, seeds, runs, steps) in enumerate(settings):
                length = {"steps": steps} if steps else {"max_ticks": 300}
                res = world.ensemble(model=model, params=params, seeds=seeds, runs=runs, seed=0, workers=1, **length)
                for measure in measures:
                    ticks, mean = mean_series(res, measure)
                    if measure in ("0", "1"):
                        mean = mean / world.agents
                    style = "--" if measure == "opinion.min" else "-"
                    ax.plot(ticks, mean, style, color=f"C{n}", label=label if style == "-" else None)
                print(model, label, "ticks", int(ticks[-1]), "last", round(float(mean[-1]), 4), file=sys.stderr)
            ax.set_title(f"{model}: {title}", fontsize=9)
            ax.set_xlabel("tick", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.legend(fontsize=7)
    fig.suptitle(f"NDlib's remaining opinion models in Agora ({AGENTS:,}-agent community world, mean over the runs)")
    fig.savefig(args.out, dpi=90)
    print("wrote", args.out, file=sys.stderr)


if __name__ == "__main__":
    main()
