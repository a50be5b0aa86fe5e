"""Graph deltas merged in bulk give exactly the CSR rebuilt from scratch."""

from __future__ import annotations

import numpy as np
import pytest

from sim.core.graph import Graph, GraphDelta
from sim.errors import BadParameterError
from sim.store.create import synthetic_world


def edge_dict(g: Graph) -> dict[tuple[int, int], float]:
    src = g.sources()
    return {(int(u), int(v)): float(t) for u, v, t in zip(src, g.out_indices, g.trust)}


def random_delta(
    g: Graph, rng: np.random.Generator, removes: int, follows: int, expected: dict[tuple[int, int], float]
) -> GraphDelta:
    """A buffer of unfollows (existing edges and missing ones) and follows (repeats, self-loops, existing
    edges, edges unfollowed in the same buffer), with ``expected`` updated to the edges after it."""
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
    return delta


def rebuilt(n: int, expected: dict[tuple[int, int], float]) -> Graph:
    keys = sorted(expected)
    return Graph.from_edges(
        n,
        np.array([k[0] for k in keys], dtype=np.int64),
        np.array([k[1] for k in keys], dtype=np.int64),
        np.array([expected[k] for k in keys], dtype=np.float32),
    )


def assert_same(merged: Graph, reference: Graph) -> None:
    for name in ("out_indptr", "out_indices", "trust", "in_indptr", "in_indices", "in_edge"):
        assert np.array_equal(getattr(merged, name), getattr(reference, name)), name


@pytest.mark.parametrize(
    "seed, removes, follows, parallel",
    [(0, 300, 500, False), (1, 300, 500, False), (2, 300, 500, True), (3, 1500, 2500, False)],
)
def test_merge_equals_a_rebuild(seed, removes, follows, parallel, monkeypatch):
    """Small buffers are spliced into the CSR (the two directions at once on a worker thread when
    ``parallel``), large ones (the last case) rebuild it: both give the CSR built from scratch."""
    import sim.core.graph

    if parallel:
        monkeypatch.setattr(sim.core.graph, "PARALLEL_SPLICE", 1)
    world = synthetic_world("delta", 800, avg_degree=6, seed=seed)
    g = world.graph
    rng = np.random.default_rng(seed)
    expected = edge_dict(g)
    delta = random_delta(g, rng, removes, follows, expected)
    merged = delta.merge_into(g)
    assert delta.pending == 0
    assert merged.check() == []
    assert edge_dict(merged) == expected
    assert_same(merged, rebuilt(g.n, expected))


@pytest.mark.parametrize("read_between", [True, False])
def test_merges_in_a_row_compute_the_in_edge_map_when_read(read_between):
    """After a splice the in->out edge map is computed on first read: from the previous map when that
    one was read (``read_between``), else from the out arrays alone. Either way, after three merges in
    a row it is the map of the graph built from scratch, and reading the rest of the graph (or a
    read-only view of it) does not compute it."""
    from sim.model.views import readonly_graph

    world = synthetic_world("delta", 900, avg_degree=8, seed=7)
    g = world.graph
    rng = np.random.default_rng(7)
    expected = edge_dict(g)
    for _ in range(3):
        g = random_delta(g, rng, 200, 300, expected).merge_into(g)
        assert not g.in_edge_ready
        view = readonly_graph(g)
        assert view.in_indices.size == g.num_edges and g.nbytes() > 0
        assert not g.in_edge_ready and not view.in_edge_ready
        if read_between:
            assert g.check() == []
            assert g.in_edge_ready
    assert np.array_equal(view.in_edge, rebuilt(g.n, expected).in_edge)
    assert not view.in_edge.flags.writeable
    assert_same(g, rebuilt(g.n, expected))


def test_row_search_against_a_scan():
    """The batched binary search finds every (row, column) query's place in its sorted row, in any
    query order, on empty rows, a hub row and columns before, inside and after each row."""
    from sim.core.graph import _row_search

    rng = np.random.default_rng(3)
    n = 300
    src = np.concatenate([rng.integers(0, n, 3000), np.zeros(280, dtype=np.int64)])  # agent 0 is a hub
    dst = np.concatenate([rng.integers(0, n, 3000), np.arange(1, 281)])
    g = Graph.from_edges(n, src, dst)
    rows = rng.integers(0, n, 5000)
    rows[:400] = 0
    cols = rng.integers(-1, n + 1, 5000)
    where, found = _row_search(g.out_indptr, g.out_indices, n, rows, cols)
    for r, c, w, f in zip(rows.tolist(), cols.tolist(), where.tolist(), found.tolist()):
        row = g.out_indices[g.out_indptr[r] : g.out_indptr[r + 1]]
        assert w == g.out_indptr[r] + int(np.searchsorted(row, c))
        assert f == bool(c in row)
    ids = g.edge_ids(rows, cols)
    assert np.array_equal(ids >= 0, found) and np.array_equal(ids[found], where[found])


def test_bad_delta_input():
    d = GraphDelta(10)
    with pytest.raises(BadParameterError):
        d.follow(np.array([1, 2]), np.array([3]))
    with pytest.raises(BadParameterError):
        d.unfollow(np.array([10]), np.array([1]))
