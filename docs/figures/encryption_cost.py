"""docs/figures/encryption-cost.png: what encryption at rest costs per operation (docs/security.md).

    agora bench commands --agents 1000000 --repeats 3 --no-analysis --encrypted --json > bench.json
    python docs/figures/encryption_cost.py bench.json docs/figures/encryption-cost.png

One bar per operation: the encrypted world's median seconds over the clear world's (the yardstick measured
in the same run, alternating with it), each repetition's own ratio as a dot (the encrypted run over the
clear run of the same repetition), the 1.3x target as a dashed line, and the two medians written under
the operation's name.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

LABELS = {
    "new": "agora new",
    "save": "agora save\n(sealed)",
    "load": "agora load\n(of it)",
    "run": "agora run\n--steps 2",
    "tick": "one IC tick\n(live world)",
    "checkpoint": "checkpoint\n(after it)",
}


def _seconds(s: float) -> str:
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.2f} s"


def main(argv: list[str]) -> int:
    import matplotlib  # noqa: PLC0415 - a script: imports where they are needed

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    if len(argv) != 2:
        sys.stderr.write("usage: encryption_cost.py BENCH.json OUT.png\n")
        return 2
    report = json.loads(Path(argv[0]).read_text())
    enc = report["encryption"]
    ops = [op for op in LABELS if op in enc]
    fig, ax = plt.subplots(figsize=(8.0, 4.2), dpi=150)
    for x, op in enumerate(ops):
        row = enc[op]
        ax.bar(x, row["ratio"], width=0.6, color="#4c78a8" if row["within_target"] else "#e45756")
        each = [e / c for c, e in zip(row["clear_seconds"], row["encrypted_seconds"], strict=True)]
        ax.plot([x] * len(each), each, "o", color="black", markersize=3)
        ax.text(x, 0.08, f"{row['ratio']:.2f}x", ha="center", fontsize=10, color="white", weight="bold")
    target = enc[ops[0]]["target_ratio"]
    ax.axhline(target, color="grey", linestyle="--", linewidth=1)
    ax.text(-0.45, target + 0.01, f"target {target}x", ha="left", va="bottom", fontsize=8, color="grey")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(
        range(len(ops)),
        [
            f"{LABELS[op]}\n{_seconds(enc[op]['clear_seconds_median'])} → "
            f"{_seconds(enc[op]['encrypted_seconds_median'])}"
            for op in ops
        ],
        fontsize=8,
    )
    ax.set_ylim(0, max(1.6, max(enc[op]["ratio"] for op in ops) + 0.15))
    ax.set_ylabel("encrypted / clear (median seconds)")
    ax.set_title(
        f"Encryption at rest: {report['agents']:,} agents, {report['repeats']} runs each, "
        f"{report['cpu_count']} cores (clear median → encrypted median)",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
