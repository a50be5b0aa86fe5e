"""Draw docs/figures/seeds-reach.png: the reach of K seeds chosen by each seed method against K, on the MUSAE
Facebook page-page network (22,470 agents, 170,823 mutual likes) under independent cascade.

Run from the repository root (about five minutes of CPU; CELF and RIS at K = 50 take most of it)::

    .venv/bin/python examples/seeds_reach_vs_k.py [OUT.png] [--data ../shared/data] [--p 0.015] [--csv FILE]

Every method chooses its K seeds with ``agora seeds WORLD --k K --method METHOD --param p=P --runs R --json``,
which also reports the mean reach of R fresh runs from them and its 95% interval (session seeds 0 .. R-1,
never the runs or samples that chose the seeds); that mean and interval are what is drawn. CELF is greedy,
so its first K seeds are its choice for K: it runs once, for the largest K it is given (``--celf-k``), among the
``--celf-candidates`` agents of most followers with ``--celf-mc-runs`` runs per estimate, and each prefix is
graded by the same R fresh runs through the Python API (``WorldFile.ensemble``, what ``agora run --runs`` runs).
The world is imported with seed 1 and every choice and run is seeded, so the figure is the same on every
machine.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from matplotlib.figure import Figure

import sim

ROOT = Path(__file__).resolve().parents[1]
AGORA = [sys.executable, "-m", "sim"]

#: Methods drawn, in legend order, with their colours.
METHODS = {
    "ris": "#1b9e77",
    "celf": "#7570b3",
    "degree-discount": "#d95f02",
    "pagerank": "#e7298a",
    "degree": "#66a61e",
    "random": "#666666",
}


def choose(world: str, method: str, k: int, p: float, runs: int, extra: list[str]) -> dict:
    """``agora seeds ... --json``: the chosen seeds, the seconds the choice took and the fresh-run spread."""
    cmd = [*AGORA, "seeds", world, "--k", str(k), "--method", method, "--param", f"p={p}", "--runs", str(runs)]
    out = subprocess.run([*cmd, *extra, "--json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", default=str(ROOT / "docs" / "figures" / "seeds-reach.png"))
    parser.add_argument("--data", default=os.environ.get("AGORA_DATA", str(ROOT.parent / "shared" / "data")))
    parser.add_argument("--p", type=float, default=0.015, help="IC's probability per edge (default 0.015)")
    parser.add_argument("--ks", default="1,2,5,10,20,50", help="the K drawn (default 1,2,5,10,20,50)")
    parser.add_argument("--runs", type=int, default=200, help="fresh runs per point (default 200)")
    parser.add_argument("--celf-k", type=int, default=10, help="CELF is drawn up to this K (default 10)")
    parser.add_argument("--celf-candidates", type=int, default=50)
    parser.add_argument("--celf-mc-runs", type=int, default=50)
    parser.add_argument("--csv", help="also write every point as CSV (method,k,mean,low,high,seconds)")
    args = parser.parse_args()
    ks = sorted({int(x) for x in args.ks.split(",")})
    edges = Path(args.data) / "musae_facebook_edges.csv"
    if not edges.is_file():
        sys.exit(f"{edges} not found: give --data FOLDER (or set AGORA_DATA) holding musae_facebook_edges.csv")

    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        world = os.path.join(tmp, "musae.db")
        wf = sim.import_edges(world, str(edges), seed=1)
        for method in METHODS:
            if method == "celf":
                continue
            for k in ks:
                r = choose(world, method, k, args.p, args.runs, [])
                rows.append(
                    {
                        "method": method,
                        "k": k,
                        "mean": r["spread_mean"],
                        "low": r["spread_ci95"][0],
                        "high": r["spread_ci95"][1],
                        "seconds": r["seconds"],
                    }
                )
                print(f"{method:16} k={k:3}: {r['spread_mean']:8.1f}  choice {r['seconds']:7.2f} s", flush=True)
        celf_ks = [k for k in ks if k <= args.celf_k]
        if celf_ks:
            started = time.perf_counter()
            params = ["--method-param", f"candidates={args.celf_candidates}", "--mc-runs", str(args.celf_mc_runs)]
            r = choose(world, "celf", max(celf_ks), args.p, 1, params)
            print(f"celf             k={max(celf_ks):3}: chosen in {r['seconds']:.1f} s", flush=True)
            for k in celf_ks:
                seeds = "ids:" + ",".join(map(str, r["seeds"][:k]))
                res = wf.ensemble(model="ic", params={"p": args.p}, seeds=seeds, runs=args.runs, text="seeds")
                rows.append(
                    {
                        "method": "celf",
                        "k": k,
                        "mean": res.mean_reached,
                        "low": res.ci95[0],
                        "high": res.ci95[1],
                        "seconds": r["seconds"] if k == max(celf_ks) else None,
                    }
                )
                print(f"celf             k={k:3}: {res.mean_reached:8.1f}", flush=True)
            print(f"celf took {time.perf_counter() - started:.1f} s in all", flush=True)

    if args.csv:
        with open(args.csv, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=["method", "k", "mean", "low", "high", "seconds"])
            writer.writeheader()
            writer.writerows(rows)

    ris = {r["k"]: r["mean"] for r in rows if r["method"] == "ris"}
    fig = Figure(figsize=(12, 4.8), layout="constrained")
    left, right = fig.subplots(1, 2)
    for method, colour in METHODS.items():
        mine = sorted((r for r in rows if r["method"] == method), key=lambda r: r["k"])
        if not mine:
            continue
        x = [r["k"] for r in mine]
        mean = [r["mean"] for r in mine]
        err = [[r["mean"] - r["low"] for r in mine], [r["high"] - r["mean"] for r in mine]]
        left.errorbar(x, mean, yerr=err, label=method, color=colour, marker="o", ms=4, capsize=3)
        if method not in ("ris", "random"):
            share = [r["mean"] / ris[r["k"]] for r in mine]
            share_err = [[e / ris[r["k"]] for e, r in zip(side, mine, strict=True)] for side in err]
            right.errorbar(x, share, yerr=share_err, label=method, color=colour, marker="o", ms=4, capsize=3)
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_xticks(ks, [str(k) for k in ks])
        ax.set_xlabel("seeds K")
        ax.grid(alpha=0.3)
    left.set_ylabel("agents reached (mean of fresh runs, 95% CI)")
    left.set_title(f"MUSAE Facebook, IC p = {args.p:g}, {args.runs} fresh runs per point")
    left.legend()
    right.axhline(1.0, color=METHODS["ris"], lw=1.2, label="ris")
    right.set_ylabel("reach / ris's reach")
    right.set_title("relative to ris (random is far below: left)")
    right.legend()
    fig.savefig(args.out, dpi=100)
    print(f"figure written to {args.out}")


if __name__ == "__main__":  # ensembles may start worker processes that import this script again
    main()
