"""docs/figures/hagelloch.png: the layered SEIR of docs/populations.md beside the recorded Hagelloch outbreak.

    agora new h.db --people ../shared/data/hagelloch.csv --id PN --group HN:household --group CL:class \\
        --skip preschool --near x.loc,y.loc:50:neighbours
    agora run h.db --inject measles --seeds ids:184 --model seir --param beta@household=0.3 \\
        --param beta@class=0.015 --param beta@neighbours=0.01 --param beta=0 --param sigma=0.1 \\
        --param gamma=0.13 --runs 200 --until-done --seed 1 --series village.csv
    (the same without the --near layer and beta@neighbours, into --series households.csv)
    python docs/figures/hagelloch.py village.csv households.csv ../shared/data/incidence-Measles1861.csv \\
        docs/figures/hagelloch.png

Onsets per day: a SEIR agent's onset is its entry into I (the seed, infectious from tick 0, is the day-0
case), counted from each run's series as the day's rise of I + R. The median over the runs and their 90 %
band for each world, and the recorded onsets of EpiEstim's ``Measles1861`` curve as bars.
"""

from __future__ import annotations

import csv
import sys

import numpy as np


def onsets(path: str) -> np.ndarray:
    """Runs x days: entries into I per day, from a long-format series (run,tick,measure,value)."""
    ir: dict[tuple[int, int], float] = {}
    with open(path) as fh:
        for row in csv.DictReader(fh):
            if row["measure"] in ("I", "R"):
                key = (int(row["run"]), int(row["tick"]))
                ir[key] = ir.get(key, 0.0) + float(row["value"])
    runs = 1 + max(r for r, _ in ir)
    days = 1 + max(t for _, t in ir)
    total = np.zeros((runs, days))
    for (r, t), v in ir.items():
        total[r, t] = v
    for r in range(runs):  # a run that ended early keeps its last value
        last = max(t for rr, t in ir if rr == r)
        total[r, last + 1 :] = total[r, last]
    out = np.diff(total, axis=1, prepend=0.0)
    return out


def main(argv: list[str]) -> int:
    import matplotlib  # noqa: PLC0415 - a script: imports where they are needed

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    if len(argv) != 4:
        sys.stderr.write("usage: hagelloch.py VILLAGE.csv HOUSEHOLDS.csv INCIDENCE.csv OUT.png\n")
        return 2
    village, households, incidence, out = argv
    with open(incidence) as fh:
        rec = list(csv.DictReader(fh))
    day = np.array([int(r["day"]) for r in rec])
    cases = np.array([int(r["cases"]) for r in rec])
    fig, ax = plt.subplots(figsize=(9, 4.8))
    ax.bar(day, cases, color="0.75", label=f"recorded onsets (Measles1861, {cases.sum()} cases)")
    for path, colour, label in (
        (village, "tab:red", "household + class + neighbours (50 m)"),
        (households, "tab:blue", "household + class only"),
    ):
        o = onsets(path)
        t = np.arange(o.shape[1])
        lo, med, hi = np.percentile(o, [5, 50, 95], axis=0)
        mean_total = o.sum(axis=1).mean()
        ax.fill_between(t, lo, hi, color=colour, alpha=0.15, lw=0)
        ax.plot(t, med, color=colour, lw=1.6, label=f"SEIR {label}: median, 90 % band (mean {mean_total:.1f} cases)")
    ax.set_xlim(0, 90)
    ax.set_xlabel("day (tick) since the first case")
    ax.set_ylabel("onsets per day")
    ax.set_title("Hagelloch 1861 measles: layered SEIR, 200 runs each, beside the record")
    ax.legend(fontsize=8, loc="upper right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
