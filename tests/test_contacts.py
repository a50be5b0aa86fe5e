"""Contact layers from a table of people (issue 59): exact edge sets on tiny tables, checked against pairs
listed by hand; groups counted before they are linked; the k-d tree's pairs equal every pair within R."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np
import pytest

from sim.errors import BadParameterError
from sim.store import contacts
from sim.store.contacts import group_edge_count, group_edges, near_edges

DATA = Path(os.environ.get("AGORA_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


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
    with pytest.raises(BadParameterError, match="near distance must be a positive number"):
        near_edges(x, y, 0)


# -- a world from a table of people ----------------------------------------------------------------------------
def test_two_households_sharing_a_class_member(tmp_path):
    from sim.store.contacts import GroupLayer, people_world
    from sim.store.people import read_people

    path = tmp_path / "people.csv"
    # ids out of order in the file: agents follow their ids
    path.write_text("id,house,class\n20,A,x\n10,A,\n30,B,x\n40,B,\n50,C,\n")
    world = people_world(
        "tiny", read_people(str(path), "id"), [GroupLayer("house", "household"), GroupLayer("class")], seed=0
    )
    assert world.columns["ids"].tolist() == [10, 20, 30, 40, 50] and world.layers == ("household", "class")
    g = world.graph
    ids = world.columns["ids"]
    got = {(int(ids[u]), int(ids[v])): int(b) for u, v, b in zip(g.sources(), g.out_indices, g.layer)}
    assert got == {(10, 20): 1, (20, 10): 1, (30, 40): 1, (40, 30): 1, (20, 30): 2, (30, 20): 2}
    assert g.trust.tolist() == [1.0] * 6 and world.n == 5  # 50 lives alone: kept, isolated


@pytest.mark.skipif(not (DATA / "hagelloch.csv").is_file(), reason="the datasets are not at $AGORA_DATA")
def test_hagelloch_households_and_classes():
    from sim.store.contacts import GroupLayer, people_world
    from sim.store.people import read_people

    table = read_people(str(DATA / "hagelloch.csv"), "PN")
    world = people_world(
        "hagelloch", table, [GroupLayer("HN", "household"), GroupLayer("CL", "class", skip=("preschool",))]
    )
    g = world.graph
    assert world.n == 188 and g.check() == []
    # the classes linked whole: 30 children in the 1st, 68 in the 2nd
    assert int(np.count_nonzero(g.layer & 2)) == 30 * 29 + 68 * 67
    houses = table.numbers["HN"]
    sizes = np.unique(houses, return_counts=True)[1]
    assert int(np.count_nonzero(g.layer & 1)) == int(np.sum(sizes * (sizes - 1)))
    # the four children alone in their house and too young for school are kept, with no contact
    alone = np.flatnonzero((g.out_degree() + g.in_degree()) == 0)
    cl = table.categories["CL"]
    row = {int(i): r for r, i in enumerate(table.ids)}
    for agent in alone:
        r = row[int(world.columns["ids"][agent])]
        assert cl.labels[cl.codes[r]] == "preschool" and int(np.count_nonzero(houses == houses[r])) == 1
    assert alone.size == 4
