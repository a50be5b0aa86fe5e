"""docs/figures/rt.png: R over 7-day windows (28 for MERS) for the seven curves of ../shared/data (docs/rt.md), as
small multiples.

    python docs/figures/rt.py ../shared/data docs/figures/rt.png

Each curve gets two panels: its cases per day (imported ones stacked in orange for MERS), and R's posterior mean
with its 95 % interval at each window's last day, R = 1 dashed, from the same ``sim.rt`` call ``agora rt`` makes
(default prior: mean 5, sd 5). The serial intervals: the five files published with the curves, gamma 2.6, 1.5 for
the New York school (flu, Ferguson et al. 2005, as EpiEstim's vignette) and gamma 6.8, 4.1 for MERS (EpiEstim's
``mers_2014_15$si``, Cauchemez et al. 2016). MERS, one or two cases a day, is drawn over 28-day windows. R's axis
stops at 10 (Measles and Smallpox start higher).
"""

from __future__ import annotations

import os
import sys

#: Each curve and its serial interval (a file of ../shared/data or a gamma), in the order drawn.
CURVES = (
    ("Flu1918", "serial-interval-Flu1918.csv"),
    ("Flu2009", "serial-interval-Flu2009.csv"),
    ("Measles1861", "serial-interval-Measles1861.csv"),
    ("SARS2003", "serial-interval-SARS2003.csv"),
    ("Smallpox1972", "serial-interval-Smallpox1972.csv"),
    ("flu_2009_NYC_school", "gamma:2.6,1.5"),
    ("mers_2014_15", "gamma:6.8,4.1"),
)
#: Windows longer than EpiEstim's 7 days where a curve is sparse: MERS has a case or two a day (EpiEstim's own
#: example estimates it over 8-week windows).
WINDOWS = {"mers_2014_15": 28}
R_TOP = 10.0


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: rt.py DATA_FOLDER OUT.png\n")
        return 2
    data, out = argv
    import matplotlib  # noqa: PLC0415 - a script: imports where they are needed

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    import sim  # noqa: PLC0415
    from sim.analysis.rtplot import draw_curve, draw_r, label_ticks  # noqa: PLC0415

    fig, axes = plt.subplots(4, 4, figsize=(15, 9.5), height_ratios=(1, 1.3, 1, 1.3), layout="constrained")
    for i, (name, si) in enumerate(CURVES):
        row, col = 2 * (i // 4), i % 4
        top, bottom = axes[row, col], axes[row + 1, col]
        spec = si if si.startswith("gamma:") else os.path.join(data, si)
        window = WINDOWS.get(name, 7)
        est = sim.rt(os.path.join(data, f"incidence-{name}.csv"), spec, window=window)
        draw_curve(top, est)
        draw_r(bottom, est)
        bottom.sharex(top)
        label_ticks(bottom, est, bins=3 if "-" in est.labels[0] else 4)
        top.tick_params(labelbottom=False)
        bottom.set_ylim(0, min(R_TOP, max(2.0, float(est.quantiles["q975"].max()) * 1.05)))
        label = si if si.startswith("gamma:") else "its serial interval"
        days = "" if window == 7 else f", {window}-day windows"
        top.set_title(f"{name} ({label}{days})", fontsize="medium")
        bottom.tick_params(axis="x", labelsize="small")
    for row in (2, 3):
        axes[row, 3].axis("off")
    axes[3, 3].text(
        0.0,
        0.9,
        "R over 7-day windows (Cori et al. 2013, EpiEstim's defaults):\n"
        "posterior mean (line) and 95% interval (band)\n"
        "at each window's last day; R = 1 dashed.\n"
        "Bars: cases per day (MERS: imported in orange;\n"
        "its R over 28-day windows, as its cases are sparse).\n"
        f"R's axis is cut at {R_TOP:g}.",
        va="top",
        fontsize="medium",
    )
    fig.savefig(out, dpi=110, metadata={"Software": None})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
