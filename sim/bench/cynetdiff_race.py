"""The yardstick of ``agora bench ensembles``' whole-process race: CyNetDiff doing the whole job that
``agora run WORLD --inject ... --model ic --param p=P --seeds random:10 --runs R --until-done`` does.

Run it as a script, not a module, so that it imports nothing of Agora (its start-up is CyNetDiff's and
numpy's alone)::

    python sim/bench/cynetdiff_race.py EDGES RUNS P

It starts Python, reads the edge list (SNAP's format: a pair of agent ids a line; each friendship both
ways, as ``agora new --edges`` imports an undirected list), builds the out-CSR CyNetDiff takes, runs RUNS
independent cascades of probability P from 10 random seeds each, and prints the mean number of agents
reached. CyNetDiff is in the ``bench`` extra (``pip install 'agora-sim[bench]'``).
"""

from __future__ import annotations

import array
import sys

import numpy as np


def out_csr(edges: str) -> tuple[int, np.ndarray, np.ndarray]:
    """An undirected edge list (a pair of ids a line) as an out-CSR with each edge both ways, as ``agora new
    --edges`` imports it: the agents (the largest id + 1), ``indptr`` and the targets, sorted by source then
    target."""
    pairs = np.loadtxt(edges, dtype=np.int64, ndmin=2)
    src = np.concatenate((pairs[:, 0], pairs[:, 1]))
    dst = np.concatenate((pairs[:, 1], pairs[:, 0]))
    n = int(max(src.max(), dst.max())) + 1
    order = np.lexsort((dst, src))
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    return n, indptr, dst[order]


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        sys.stderr.write("usage: python cynetdiff_race.py EDGES RUNS P\n")
        return 2
    edges, runs, p = argv[0], int(argv[1]), float(argv[2])
    from cynetdiff.models import IndependentCascadeModel  # noqa: PLC0415 - the bench extra

    n, indptr, targets = out_csr(edges)
    model = IndependentCascadeModel(
        array.array("I", indptr[:-1].astype(np.uint32).tobytes()),
        array.array("I", targets.astype(np.uint32).tobytes()),
        activation_prob=p,
        rng=1,
    )
    rng = np.random.default_rng(1)
    total = 0
    for _ in range(runs):
        model.set_seeds(rng.choice(n, size=10, replace=False).tolist())
        model.advance_until_completion()
        total += model.get_num_activated_nodes()
    print(total / runs)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
