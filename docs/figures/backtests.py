"""The real-data backtests of docs/backtesting.md: a table and a figure from each plan's ``--json`` output.

    python docs/figures/backtests.py DIR            # DIR holds NAME.json, one per plan of docs/backtests/NAME.toml
    python docs/figures/backtests.py DIR adaptive   # DIR holds ad-NAME.json, of docs/backtests/adaptive/NAME.toml
    python docs/figures/backtests.py DIR alive      # NAME.json run with Agora's forecast conditioned (the default
                                                    # since the first runs): draws backtests-alive.png

Prints the markdown table (each method's WIS relative to persistence over all cuts and horizons, its 50 % and 90 %
coverage, and Agora's relative WIS at the first and last horizon) and draws docs/figures/backtests.png: each data
set's relative WIS by horizon, Agora's and the renewal projection's.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

NAMES = {
    "flu1918": "Flu 1918, Baltimore",
    "sars2003": "SARS 2003, Hong Kong",
    "measles1861": "Measles 1861 (curve)",
    "smallpox1972": "Smallpox 1972, Kosovo",
    "flu2009": "Flu 2009, Pennsylvania school",
    "nyc2009": "Flu 2009, NYC school",
    "mers2014": "MERS 2014-15 (local)",
    "hagelloch": "Hagelloch onsets (village)",
}
ROOT = Path(__file__).resolve().parents[2]


def main(folder: Path, twin: str = "") -> None:
    rows = []
    fig, axes = plt.subplots(2, 4, figsize=(16, 7), sharey=True)
    for ax, (name, title) in zip(axes.flat, NAMES.items(), strict=True):
        path = folder / (f"ad-{name}.json" if twin == "adaptive" else f"{name}.json")
        if not path.exists():
            ax.set_title(f"{title}: not run")
            continue
        d = json.loads(path.read_text())
        s = d["scores"]
        line = [title, str(len(d["cuts"])), str(d["horizon"]), d["plan"]["sha256"][:12] if d.get("plan") else "-"]
        for method in ("agora", "renewal", "persistence"):
            m = s.get(method)
            line.append(
                "-"
                if m is None
                else f"{m['all']['relative_wis']:.2f} ({m['all']['cover50']:.0%}, {m['all']['cover90']:.0%})"
            )
        a = s["agora"]["relative_wis"]
        line.append(f"{a[0]:.2f} / {a[-1]:.2f}")
        if twin == "alive":
            line.append(", ".join("-" if c.get("alive") is None else f"{c['alive']:.0%}" for c in d["cuts"]))
        rows.append("| " + " | ".join(line) + " |")
        for method, style in (("agora", "o-"), ("renewal", "s--")):
            if method in s:
                ax.plot(s[method]["horizon"], s[method]["relative_wis"], style, label=method)
        ax.axhline(1.0, color="grey", lw=1, label="persistence")
        ax.set_yscale("log")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("horizon (days)")
    axes[0, 0].set_ylabel("WIS relative to persistence")
    axes[1, 0].set_ylabel("WIS relative to persistence")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(
        f"Backtests on real outbreaks{' (' + twin + ' distance)' if twin == 'adaptive' else ''}"
        f"{' (Agora conditioned on the last week)' if twin == 'alive' else ''}: below 1, better than persistence "
        "(mean over the cuts)"
    )
    fig.tight_layout()
    out = ROOT / "docs" / "figures" / (f"backtests-{twin}.png" if twin else "backtests.png")
    fig.savefig(out, dpi=90)
    print(
        "| data set | cuts | horizon | plan sha256 | agora: rel. WIS (cover 50 %, 90 %) | renewal | persistence "
        "| agora's rel. WIS at the first / last horizon |"
        + (" weight on live trajectories, per cut |" if twin == "alive" else "")
    )
    print("|---|---|---|---|---|---|---|---|" + ("---|" if twin == "alive" else ""))
    print("\n".join(rows))
    print(f"figure: {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "")
