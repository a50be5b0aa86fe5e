"""The v2 backtests of docs/backtesting.md (issue 75): tables and a figure from each v2 plan's ``--json`` output.

    python docs/figures/backtests_v2.py DIR     # DIR holds NAME.json, one per plan of docs/backtests/v2/NAME.toml
    python docs/figures/backtests_v2.py DIR3 DIR2   # the v3 plans' outputs, beside v2's (the ensemble's and
                                                    # Agora's relative WIS there); draws backtests-v3.png

Prints, for the eight daily curves and then the three weekly aggregates, each method's WIS relative to persistence
over all cuts and horizons with its 50 % and 90 % coverage, the ensemble's and Agora's energy score relative to
persistence's, and beside them Agora's v1 figure (the v1 rerun of docs/backtesting.md, conditioned on the last
week); then issue 75's target, said plainly: the ensemble at or below 0.8 on at least 7 of the 8 curves, their
median at or below 0.75, and the 90 % intervals of the ensemble covering 80-95 % of the truths pooled over the
curves. Draws docs/figures/backtests-v2.png: each data set's relative WIS by horizon (ensemble, Agora, renewal) and
the PIT histograms pooled over the daily curves.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

DAILY = {
    "flu1918": "Flu 1918, Baltimore",
    "sars2003": "SARS 2003, Hong Kong",
    "measles1861": "Measles 1861 (curve)",
    "smallpox1972": "Smallpox 1972, Kosovo",
    "flu2009": "Flu 2009, Pennsylvania school",
    "nyc2009": "Flu 2009, NYC school",
    "mers2014": "MERS 2014-15 (imported simulated)",
    "hagelloch": "Hagelloch onsets (village)",
}
WEEKLY = {
    "flu1918-weekly": "Flu 1918, weeks",
    "sars2003-weekly": "SARS 2003, weeks",
    "mers2014-weekly": "MERS 2014-15, weeks",
}
#: Agora's relative WIS in v1 (docs/backtesting.md: the rerun conditioned on the last week; MERS: its imported plan).
V1 = {
    "flu1918": 0.69,
    "sars2003": 0.95,
    "measles1861": 1.12,
    "smallpox1972": 0.71,
    "flu2009": 0.98,
    "nyc2009": 1.32,
    "mers2014": 1.26,
    "hagelloch": 0.95,
}
METHODS = ("ensemble", "agora", "renewal", "persistence")
COLOURS = {"ensemble": "black", "agora": "tab:blue", "renewal": "tab:orange"}


def _cell(m: dict | None) -> str:
    if m is None:
        return "-"
    a = m["all"]
    return f"{a['relative_wis']:.2f} ({a['cover50']:.0%}, {a['cover90']:.0%})"


def _rel_energy(m: dict | None) -> str:
    value = None if m is None else m.get("relative_energy_score")
    return "-" if value is None else f"{value:.2f}"


def _earlier(beside: Path | None, name: str) -> str:
    path = None if beside is None else beside / f"{name}.json"
    if path is None or not path.exists():
        return "-"
    s = json.loads(path.read_text())["scores"]
    return f"{s['ensemble']['all']['relative_wis']:.2f} / {s['agora']['all']['relative_wis']:.2f}"


def table(folder: Path, names: dict[str, str], beside: Path | None = None) -> tuple[list[str], dict[str, dict]]:
    head = "| data set | plan sha256 | ensemble | agora | renewal | persistence | energy: ensemble / agora | agora v1 "
    head += "| s |" if beside is None else "| before: ensemble / agora | s |"
    rows = [head, "|" + "---|" * (9 if beside is None else 10)]
    found = {}
    for name, title in names.items():
        path = folder / f"{name}.json"
        if not path.exists():
            rows.append(f"| {title} | not run |" + " |" * (7 if beside is None else 8))
            continue
        d = json.loads(path.read_text())
        found[name] = d
        s = d["scores"]
        cells = [title, d["plan"]["sha256"][:12]] + [_cell(s.get(m)) for m in METHODS]
        cells.append(f"{_rel_energy(s.get('ensemble'))} / {_rel_energy(s.get('agora'))}")
        cells.append(f"{V1[name]:.2f}" if name in V1 else "-")
        if beside is not None:
            cells.append(_earlier(beside, name))
        cells.append(f"{d['seconds']:.0f}")
        rows.append("| " + " | ".join(cells) + " |")
    return rows, found


def target(found: dict[str, dict]) -> list[str]:
    rel = {n: d["scores"]["ensemble"]["all"]["relative_wis"] for n, d in found.items()}
    below = [n for n, r in rel.items() if r <= 0.8]
    inside = total = 0.0
    for d in found.values():
        e = d["scores"]["ensemble"]
        n = sum(e["cuts_scored"])
        inside += e["all"]["cover90"] * n
        total += n
    pooled = inside / total if total else float("nan")
    med = statistics.median(rel.values()) if rel else float("nan")
    return [
        f"ensemble at or below 0.8 on {len(below)} of {len(rel)} curves (target 7 of 8): "
        + ("met" if len(below) >= 7 else "not met"),
        f"median relative WIS of the ensemble {med:.2f} (target 0.75 or below): "
        + ("met" if med <= 0.75 else "not met"),
        f"the ensemble's 90 % intervals hold {pooled:.1%} of the truths pooled over the curves (target 80-95 %): "
        + ("met" if 0.8 <= pooled <= 0.95 else "not met"),
    ]


def figure(found: dict[str, dict], out: Path) -> None:
    names = {**DAILY, **WEEKLY}
    fig, axes = plt.subplots(3, 4, figsize=(17, 11))
    for ax, (name, title) in zip(axes.flat, names.items(), strict=False):
        d = found.get(name)
        ax.set_title(title if d else f"{title}: not run", fontsize=10)
        if d is None:
            continue
        for method, colour in COLOURS.items():
            m = d["scores"].get(method)
            if m:
                ax.plot(m["horizon"], m["relative_wis"], "o-", color=colour, label=method, ms=3)
        ax.axhline(1.0, color="grey", lw=0.8, ls=":")
        ax.set_xlabel("horizon (ticks)")
        ax.set_ylabel("WIS / persistence's")
        ax.set_ylim(0, max(2.5, ax.get_ylim()[1] if ax.get_ylim()[1] < 4 else 4))
    axes.flat[0].legend(fontsize=8)
    ax = axes.flat[-1]
    for method, colour in COLOURS.items():
        pits = [d["scores"][method]["pit"] for n, d in found.items() if n in DAILY and method in d["scores"]]
        if pits:
            mean = [sum(p[i] for p in pits) / len(pits) for i in range(len(pits[0]))]
            ax.step([i / len(mean) for i in range(len(mean) + 1)], [mean[0], *mean], color=colour, label=method)
    ax.axhline(0.1, color="grey", lw=0.8, ls=":")
    ax.set_title("PIT, daily curves (mean of the curves' histograms)", fontsize=10)
    ax.set_xlabel("PIT")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=90)


def main(folder: Path, beside: Path | None = None) -> None:
    rows, daily = table(folder, DAILY, beside)
    print("\n".join(rows))
    print()
    rows, weekly = table(folder, WEEKLY, beside)
    print("\n".join(rows))
    print()
    if daily:
        print("\n".join(target(daily)))
    name = "backtests-v2.png" if beside is None else "backtests-v3.png"
    figure({**daily, **weekly}, Path(__file__).resolve().parent / name)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else None)
