"""Contact layers from a table of people (issue 59): exact edge sets on tiny tables, checked against pairs
listed by hand; groups counted before they are linked; the k-d tree's pairs equal every pair within R."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from sim.errors import BadParameterError
from sim.store import contacts
from sim.store.contacts import group_edge_count, group_edges, near_edges


def pairs(src, dst) -> set[tuple[int, int]]:
    return set(zip(np.asarray(src).tolist(), np.asarray(dst).tolist()))


def test_people_sharing_a_value_are_linked_both_ways():
    # households: 0,1,2 share 7; 3 and 5 share 9; 4 is alone; 6 has no household (-1)
    codes = np.array([7, 7, 7, 9, 8, 9, -1])
    src, dst = group_edges(codes, np.ones(7, dtype=bool))
    want = {(a, b) for a, b in itertools.permutations([0, 1, 2], 2)} | {(3, 5), (5, 3)}
    assert pairs(src, dst) == want and src.size == len(want)
    assert group_edge_count(codes, codes >= 0) == 8


def test_skipped_values_and_missing_numbers_link_nobody():
    cls = np.array([0, 1, 0, 2, 2, 1])  # 2 is "preschool", skipped
    src, dst = group_edges(cls, cls != 2)
    assert pairs(src, dst) == {(0, 2), (2, 0), (1, 5), (5, 1)}
    house = np.array([1.0, np.nan, 1.0, np.nan])
    assert pairs(*group_edges(house, np.ones(4, dtype=bool))) == {(0, 2), (2, 0)}


def test_a_group_too_big_is_refused_before_any_work_or_thinned(monkeypatch):
    monkeypatch.setattr(contacts, "MAX_LAYER_EDGES", 10)
    codes = np.zeros(5, dtype=np.int64)  # one group of 5: 20 edges
    with pytest.raises(BadParameterError, match=r"takes 20 edges, more than 10: .*\(:max=K\)"):
        group_edges(codes, np.ones(5, dtype=bool))
    src, dst = group_edges(codes, np.ones(5, dtype=bool), most=1, rng=np.random.default_rng(3))
    got = pairs(src, dst)
    assert got and all(a != b for a, b in got) and all((b, a) in got for a, b in got)
    assert len(got) <= 2 * 5


def test_near_pairs_are_every_pair_within_the_distance():
    rng = np.random.default_rng(1)
    x, y = rng.random(60) * 10, rng.random(60) * 10
    x[7] = np.nan
    src, dst = near_edges(x, y, 1.5)
    want = {
        (i, j)
        for i, j in itertools.permutations(range(60), 2)
        if i != 7 and j != 7 and np.hypot(x[i] - x[j], y[i] - y[j]) <= 1.5
    }
    assert pairs(src, dst) == want and src.size == len(want)
    with pytest.raises(BadParameterError, match="positive number"):
        near_edges(x, y, 0)
