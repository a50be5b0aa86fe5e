"""The README's reading of a two-model cascade sweep (step 12): how many runs take off, and the range of the
size and structural virality of those that do.

    python docs/quotes/takeoff.py TREES [THRESHOLD]

TREES is a file written by ``agora sweep --grid model=A,B --cascades TREES``; a run takes off when its forest
reaches THRESHOLD agents (default 1,000: the sizes of one random seed are bimodal, a few agents or thousands).
"""

from __future__ import annotations

import sys

from sim.analysis.plot import cascade_groups


def main(path: str, threshold: int = 1000) -> str:
    groups = []
    for label, _, _, sizes, virality in cascade_groups(None, path):
        model = label.removeprefix("model=").upper()
        big = sizes >= threshold
        groups.append((model, int(big.sum()), sizes.size, sizes[big], virality[big]))
    (a, a_up, a_runs, a_sizes, a_vir), (b, b_up, _, b_sizes, b_vir) = groups
    return (
        f"{a} takes off in {a_up} runs of {a_runs}, {b} in {b_up}. {a}'s large cascades reach "
        f"{a_sizes.min():,} to {a_sizes.max():,} agents, with structural virality {a_vir.min():.1f} to "
        f"{a_vir.max():.1f}; {b}'s reach {b_sizes.min():,} to {b_sizes.max():,} agents with virality "
        f"{b_vir.min():.1f} to {b_vir.max():.1f}."
    )


if __name__ == "__main__":
    print(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1000))
