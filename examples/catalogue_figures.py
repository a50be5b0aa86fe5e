"""Draw docs/figures/models-epidemics-catalogue.png: one panel per model of the epidemic and cascade
catalogue (seir-ct, seis-ct, sair, sird, sveir, forest-fire, utldr, ice, icp, icep).

Run from the repository root (about two minutes on two cores)::

    .venv/bin/python examples/catalogue_figures.py [OUT.png] [--data ../shared/data]

The epidemics run five times each on a generated 20,000-agent community world (seed 7); the community
cascades run twenty times each on SNAP's ego-Facebook network (4,039 agents, 88,234 friendships), whose
communities ``agora analyze --communities`` finds first (Leiden, seed 0). Every number comes from the
seeds given here, so the figure is the same on every machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

import sim
from sim.analysis.plot import run_matrix

ROOT = Path(__file__).resolve().parents[1]

#: (model, parameters, seeds, states drawn, title).
EPIDEMICS = [
    (
        "seir-ct",
        {"beta": 0.06, "sigma": 0.3, "gamma": 0.2, "dt": 1.0},
        ("S", "E", "I", "R"),
        "beta 0.06, sigma 0.3, gamma 0.2 (rates)",
    ),
    ("seis-ct", {"beta": 0.06, "sigma": 0.3, "gamma": 0.2, "dt": 1.0}, ("S", "E", "I"), "the same rates, no immunity"),
    ("sair", {"beta": 0.06, "beta_a": 0.04, "p": 0.4}, ("S", "A", "I", "R"), "beta 0.06, beta_a 0.04, p 0.4"),
    ("sird", {"beta": 0.06, "gamma": 0.15, "mu": 0.05}, ("S", "I", "R", "D"), "beta 0.06, gamma 0.15, mu 0.05"),
    ("sveir", {"beta": 0.06, "theta": 0.02, "leak": 0.2}, ("S", "V", "E", "I", "R"), "beta 0.06, theta 0.02, leak 0.2"),
    ("forest-fire", {"p": 0.03, "f": 1e-4}, ("tree", "burning", "empty"), "p 0.03, f 0.0001"),
    (
        "utldr",
        {
            "beta": 0.08,
            "phi_i": 0.1,
            "kappa_i": 0.3,
            "iota": 0.3,
            "icu_b": 200,
            "omega": 0.01,
            "omega_f": 0.2,
            "lockdown": 15,
            "lockdown_end": 45,
            "lambda": 0.8,
            "mu": 0.02,
            "epsilon_l": 4,
        },
        ("S", "E", "I", "R", "HM", "ICU", "HS", "LS", "D"),
        "testing, 200 ICU beds, lockdown ticks 15-45",
    ),
]
CASCADES = [
    ("ice", [{}], "parameter free"),
    ("icp", [{"p": 0.05, "permeability": 1.0}, {"p": 0.05, "permeability": 0.1}], "p 0.05, permeability 1 and 0.1"),
    ("icep", [{"p": 0.05, "permeability": 1.0}, {"p": 0.05, "permeability": 0.1}], "p 0.05, permeability 1 and 0.1"),
]


def mean_series(res: sim.EnsembleResult, measure: str) -> tuple[np.ndarray, np.ndarray]:
    """Ticks and the mean of ``measure`` over the runs, each run's last value carried forward (as ``agora plot``
    draws an ensemble: ``sim.analysis.plot.run_matrix``)."""
    runs = run_matrix(res.series.table, (), measure)
    return np.arange(runs.shape[1]), runs.mean(axis=0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default=str(ROOT / "docs" / "figures" / "models-epidemics-catalogue.png"))
    ap.add_argument("--data", default=os.environ.get("AGORA_DATA", str(ROOT.parent / "shared" / "data")))
    args = ap.parse_args()
    fig = Figure(figsize=(20, 8.5), layout="constrained")
    axes = fig.subplots(2, 5).ravel()
    with tempfile.TemporaryDirectory() as tmp:
        world = sim.new_world(f"{tmp}/community.db", agents=20_000, avg_degree=10, seed=7)
        for ax, (model, params, states, title) in zip(axes, EPIDEMICS):
            res = world.ensemble(
                model=model, params=params, seeds="random:20", runs=5, seed=0, max_ticks=150, workers=1
            )
            for state in states:
                ticks, mean = mean_series(res, state)
                ax.plot(ticks, mean, label=state)
            ax.set_title(f"{model}: {title}", fontsize=9)
            ax.legend(fontsize=7, ncol=2)
            print(model, "mean reached", round(res.mean_reached), file=sys.stderr)
        facebook = f"{tmp}/facebook.db"
        sim.import_edges(facebook, str(Path(args.data) / "facebook_combined.txt"), seed=0)
        agora = [sys.executable, "-m", "sim"]
        subprocess.run([*agora, "analyze", facebook, "--communities", "--seed", "0"], check=True, capture_output=True)
        fb = sim.open_world(facebook)
        for ax, (model, settings, title) in zip(axes[len(EPIDEMICS) :], CASCADES):
            for params in settings:
                res = fb.ensemble(model=model, params=params, seeds="random:5", runs=20, seed=0, workers=1)
                ticks, mean = mean_series(res, "reached")
                label = ", ".join(f"{k} {v:g}" for k, v in params.items()) or "reached"
                ax.plot(ticks, mean, label=label)
                print(model, params, "mean reached", round(res.mean_reached), file=sys.stderr)
            ax.set_title(f"{model} on ego-Facebook: {title}", fontsize=9)
            ax.set_ylabel("reached (mean of 20 runs)", fontsize=8)
            ax.legend(fontsize=7)
    for ax in axes:
        ax.set_xlabel("tick", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle("NDlib's remaining epidemic and cascade models in Agora (mean agents per state over the runs)")
    fig.savefig(args.out, dpi=90)
    print("wrote", args.out, file=sys.stderr)


if __name__ == "__main__":
    main()
