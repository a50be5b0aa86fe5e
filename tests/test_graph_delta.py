"""Graph deltas merged in bulk give exactly the CSR rebuilt from scratch."""

from __future__ import annotations

import numpy as np
import pytest

from sim.create import synthetic_world
from sim.errors import BadParameterError
from sim.graph import Graph, GraphDelta


def edge_dict(g: Graph) -> dict[tuple[int, int], float]:
    src = g.sources()
    return {(int(u), int(v)): float(t) for u, v, t in zip(src, g.out_indices, g.trust)}


@pytest.mark.parametrize("seed, removes, follows", [(0, 300, 500), (1, 300, 500), (2, 300, 500), (3, 1500, 2500)])
def test_merge_equals_a_rebuild(seed, removes, follows):
    """Small buffers are spliced into the CSR, large ones (the last case) rebuild it: both give the
    CSR built from scratch."""
    world = synthetic_world("delta", 800, avg_degree=6, seed=seed)
    g = world.graph
    rng = np.random.default_rng(seed)
    expected = edge_dict(g)
    delta = GraphDelta(g.n)
    # unfollow a sample of existing edges and some that do not exist
    src = g.sources()
    pick = rng.choice(g.num_edges, removes, replace=False)
    ra, rb = src[pick], g.out_indices[pick]
    ra = np.concatenate([ra, rng.integers(0, g.n, 50)])
    rb = np.concatenate([rb, rng.integers(0, g.n, 50)])
    delta.unfollow(ra, rb)
    for u, v in zip(ra.tolist(), rb.tolist()):
        expected.pop((u, v), None)
    # follow new edges (with repeats, self-loops and already existing ones)
    fa = rng.integers(0, g.n, follows)
    fb = rng.integers(0, g.n, follows)
    fa[:5] = fb[:5]  # self-follows are dropped
    fa[5:25], fb[5:25] = ra[:20], rb[:20]  # unfollowed and followed again: back with the new trust
    ft = rng.random(follows).astype(np.float32)
    delta.follow(fa, fb, ft)
    for u, v, t in zip(fa.tolist(), fb.tolist(), ft.tolist()):
        if u != v and (u, v) not in expected:
            expected[(u, v)] = float(np.float32(t))
    assert delta.pending == removes + 50 + follows
    merged = delta.merge_into(g)
    assert delta.pending == 0
    assert merged.check() == []
    assert edge_dict(merged) == expected
    keys = sorted(expected)
    rebuilt = Graph.from_edges(g.n, np.array([k[0] for k in keys]), np.array([k[1] for k in keys]),
                               np.array([expected[k] for k in keys], dtype=np.float32))
    for name in ("out_indptr", "out_indices", "trust", "in_indptr", "in_indices", "in_edge"):
        assert np.array_equal(getattr(merged, name), getattr(rebuilt, name)), name


def test_bad_delta_input():
    d = GraphDelta(10)
    with pytest.raises(BadParameterError):
        d.follow(np.array([1, 2]), np.array([3]))
    with pytest.raises(BadParameterError):
        d.unfollow(np.array([10]), np.array([1]))
