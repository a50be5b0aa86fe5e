"""docs/figures/fit-sbc.png: the ranks of simulation-based calibration (docs/fitting.md, "Calibration").

    python tests/fit_sbc.py 100 10000 300 > sbc-sir.txt      # SIR's 100 fits: about 10 minutes on 2 cores
    python docs/figures/fit_sbc.py sbc-sir.txt docs/figures/fit-sbc.png

The SIR ranks come from the first file (the JSON line ``tests/fit_sbc.py`` prints); ic's 100 exact fits on
ego-Facebook run here (about 10 s). Each panel is a histogram of the truth's rank among 99 posterior draws in
10 bins, with the band a uniform histogram stays inside 99 % of the time, bin by bin.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy import stats

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))


def main(argv: list[str]) -> int:  # noqa: PLC0415 - a script: imports where they are needed
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    from fit_sbc import DRAWS, sbc_ic_times  # noqa: PLC0415

    import sim  # noqa: PLC0415

    sir = json.loads(Path(argv[0]).read_text().splitlines()[0])
    data = os.environ.get("AGORA_DATA") or str(ROOT.parent / "shared" / "data")
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "fb.db")
        sim.import_edges(path, os.path.join(data, "facebook_combined.txt"))
        ic = sbc_ic_times(path, 100)
    panels = [
        ("SIR beta (ABC-SMC, 2,000 agents)", sir["beta"]["ranks"], sir["beta"]["coverage90"]),
        ("SIR gamma (ABC-SMC, 2,000 agents)", sir["gamma"]["ranks"], sir["gamma"]["coverage90"]),
        ("ic p (exact likelihood, ego-Facebook)", ic.ranks["p"], ic.coverage("p")),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    for ax, (title, ranks, coverage) in zip(axes, panels, strict=True):
        n = len(ranks)
        counts = np.bincount(np.asarray(ranks) * 10 // (DRAWS + 1), minlength=10)
        lo, hi = stats.binom.ppf([0.005, 0.995], n, 0.1)
        ax.axhspan(lo, hi, color="0.85", label="99% band of a uniform histogram")
        ax.bar(np.arange(10) * 10 + 5, counts, width=9, color="tab:blue")
        p = stats.chisquare(counts).pvalue
        ax.set_title(f"{title}\n{n} data sets: 90% intervals cover {coverage:.0%}, chi2 p = {p:.2f}", fontsize=9)
        ax.set_xlabel("rank of the truth among 99 posterior draws")
        ax.set_ylabel("data sets")
        ax.set_xlim(0, 100)
    axes[0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(argv[1], dpi=110)
    print(
        json.dumps(
            {
                t: {"coverage90": c, "ranks_in_10_bins": np.bincount(np.asarray(r) * 10 // 100, minlength=10).tolist()}
                for t, r, c in panels
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
