"""Contact layers on the graph (issue 59, step 1): each edge's layers as a bitmask aligned with the edges. A
pair listed in two layers is one edge in both; follows and unfollows, spliced or rebuilt, keep every other
edge's layers; forks, read-only views and live copies carry them. A graph without layers is unchanged."""

from __future__ import annotations

import numpy as np
import pytest
from test_graph_delta import edge_dict, random_delta

from sim.core.graph import FOLLOW_LAYER, Graph
from sim.model.views import readonly_graph
from sim.store.create import synthetic_world


def layered(g: Graph, seed: int) -> tuple[Graph, dict[tuple[int, int], int]]:
    """``g`` with random layer bits (1 to 7) per edge, and each edge's bits by pair."""
    bits = np.random.default_rng(seed).integers(1, 8, g.num_edges).astype(np.uint8)
    src = g.sources()
    return g.replace(layer=bits), {(int(u), int(v)): int(b) for u, v, b in zip(src, g.out_indices, bits)}


def layers_by_pair(g: Graph) -> dict[tuple[int, int], int]:
    assert g.layer is not None
    return {(int(u), int(v)): int(b) for u, v, b in zip(g.sources(), g.out_indices, g.layer)}


def test_a_pair_listed_in_two_layers_is_one_edge_in_both():
    src = np.array([0, 0, 1, 2, 0, 1])
    dst = np.array([1, 1, 2, 0, 2, 2])
    layer = np.array([1, 2, 4, 1, 2, 1], dtype=np.uint8)  # 0->1 in layers 0 and 1, 1->2 in layers 2 and 0
    trust = np.array([0.5, 0.9, 0.25, 1.0, 0.75, 0.1], dtype=np.float32)
    g = Graph.from_edges(3, src, dst, trust, layer=layer)
    assert g.check() == [] and g.num_edges == 4 and g.layers == 3
    assert layers_by_pair(g) == {(0, 1): 3, (0, 2): 2, (1, 2): 5, (2, 0): 1}
    assert edge_dict(g) == {(0, 1): 0.5, (0, 2): 0.75, (1, 2): 0.25, (2, 0): 1.0}  # the first trust kept
    plain = Graph.from_edges(3, src, dst, trust)
    assert plain.layer is None and plain.layers == 1 and edge_dict(plain) == edge_dict(g)
    assert g.nbytes() == plain.nbytes() + g.num_edges


@pytest.mark.parametrize("seed, removes, follows", [(0, 300, 500), (1, 300, 500), (3, 1500, 2500)])
def test_follows_and_unfollows_keep_every_other_edges_layers(seed, removes, follows):
    """A small buffer is spliced, the last case rebuilds: either way an edge that stays keeps its bits, a
    followed existing edge keeps them, and a new edge is in FOLLOW_LAYER: the graph built from scratch."""
    g, bits = layered(synthetic_world("layers", 800, avg_degree=6, seed=seed).graph, seed)
    expected = edge_dict(g)
    delta = random_delta(g, np.random.default_rng(seed), removes, follows, expected)
    merged = delta.merge_into(g)
    assert merged.check() == [] and edge_dict(merged) == expected
    want = {pair: bits.get(pair, FOLLOW_LAYER) for pair in expected}
    removed = {(int(k) // g.n, int(k) % g.n) for k in delta.last_removed}
    for pair in removed & set(expected):  # unfollowed and followed again in one merge: a new edge
        want[pair] = FOLLOW_LAYER
    assert layers_by_pair(merged) == want
    keys = sorted(want)
    scratch = Graph.from_edges(
        g.n,
        np.array([k[0] for k in keys]),
        np.array([k[1] for k in keys]),
        np.array([expected[k] for k in keys], dtype=np.float32),
        layer=np.array([want[k] for k in keys], dtype=np.uint8),
    )
    assert np.array_equal(merged.layer, scratch.layer) and np.array_equal(merged.out_indices, scratch.out_indices)


def test_forks_views_and_copies_carry_the_layers():
    world = synthetic_world("layers", 300, avg_degree=4, seed=5)
    world.graph, _ = layered(world.graph, 5)
    for twin in (world.fork(), world.fork(shared=True)):
        assert twin.graph.layer is world.graph.layer  # shared: no run writes it
    view = readonly_graph(world.graph)
    assert np.array_equal(view.layer, world.graph.layer) and not view.layer.flags.writeable
    bad = world.graph.replace(layer=np.zeros(world.graph.num_edges, dtype=np.uint8))
    assert bad.check() == ["an edge belongs to no layer (its layer bits are 0)"]
    short = world.graph.replace(layer=np.ones(3, dtype=np.uint8))
    assert short.check() == ["layer is not one uint8 bitmask per edge"]
    with pytest.raises(TypeError, match="takes trust and layer"):
        world.graph.replace(in_indices=world.graph.in_indices)
