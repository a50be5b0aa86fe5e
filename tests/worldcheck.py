"""Assertions shared by the tests."""

from __future__ import annotations

import numpy as np


def assert_same_world(a, b):
    """Two worlds hold equal arrays, clock, seed, generator state and configuration."""
    assert a.n == b.n and a.num_edges == b.num_edges
    for k in a.columns:
        assert np.array_equal(a.columns[k], b.columns[k]), k
    for k in ("out_indptr", "out_indices", "trust", "in_indptr", "in_indices", "in_edge"):
        assert np.array_equal(getattr(a.graph, k), getattr(b.graph, k)), k
    assert a.tick == b.tick and a.seed == b.seed and a.rng_state == b.rng_state
    assert a.config == b.config
