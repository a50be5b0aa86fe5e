"""Analyses by a category and per contact layer (issue 59): ``agora analyze --by COLUMN`` tabulates the groups of a
category attribute as communities are tabulated, ``--layer NAME`` analyses the edges of one layer only, both
report only (the world file and its stored communities untouched), ``sim.groups`` and ``layer=`` the same from
Python. Every figure of the tiny world is counted by hand in :func:`tiny_world`'s docstring."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import digest

import sim
from sim.analysis.groups import group_table, layer_graph, layer_world
from sim.cli.analysis import main
from sim.errors import BadParameterError
from sim.store.contacts import GroupLayer, people_world
from sim.store.create import synthetic_world
from sim.store.people import Category, PeopleTable
from sim.store.worldfile import save_world

DATA = Path(os.environ.get("AGORA_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
HAGELLOCH = DATA / "hagelloch.csv"
needs_data = pytest.mark.skipif(not HAGELLOCH.is_file(), reason="the datasets are not at $AGORA_DATA")

#: The label of class b: markup, which must come out as it is.
B = "[red]b[/red]"


def tiny_world():
    """Six people (ids 1-6). Households {1,2,3} and {4,5,6}; classes a = {1,3,4}, b = {2,5}, and c (no one);
    6 has no class.

    Layer household, pairs: 12 13 23 45 46 56 (12 directed edges); layer class: 13 14 34 25 (8); 13 is in both,
    one edge with two bits: 9 pairs, 18 directed edges.
    Grouped by cls on every edge: a has 3 members and 13 14 34 inside (6 edges, density 6 / (3 * 2) = 1); b has 2
    and 25 (2 edges, density 1); c is empty; 6 is missing. Between groups: 1->2, 3->2, 4->5 from a into b, and
    the 3 reverse ones; 46 and 56 touch the missing agent and are no flow (6 + 2 + 6 + 4 = 18).
    On household only: a holds 13 (2 edges, density 1/3), b nothing, and the same 3 + 3 flows.
    On class only: a 6, b 2, no flow.
    """
    table = PeopleTable(
        path="t.csv",
        id_column="id",
        ids=np.arange(1, 7),
        numbers={"house": np.array([1.0, 1, 1, 2, 2, 2])},
        categories={"cls": Category(np.array([0, 1, 0, 0, 1, -1], dtype=np.int32), ("a", B, "c"))},
        headers={"house": "house", "cls": "cls"},
    )
    return people_world("t", table, [GroupLayer("house", "household"), GroupLayer("cls", "class")])


@pytest.fixture
def tiny_file(tmp_path) -> str:
    path = str(tmp_path / "t.db")
    asyncio.run(save_world(tiny_world(), path))
    return path


def by_label(rows):
    return {r["label"]: r for r in rows}


# -- the arrays ----------------------------------------------------------------------------------------------------
def test_a_layer_keeps_the_edges_with_its_bit_and_a_consistent_graph():
    world = tiny_world()
    assert world.layers == ("household", "class") and world.num_edges == 18
    for names, edges in ((["household"], 12), (["class"], 8), (["household", "class"], 18)):
        sub = layer_world(world, names)
        assert sub.num_edges == edges and sub.graph.check() == [], names
        assert sub.columns is world.columns and sub.n == 6
    g = layer_world(world, ["class"]).graph
    pairs = {(int(s), int(d)) for s, d in zip(g.sources(), g.out_indices)}
    # Agents are in id order: index i is person i + 1. Class pairs 13 14 34 25, both directions.
    assert pairs == {(0, 2), (2, 0), (0, 3), (3, 0), (2, 3), (3, 2), (1, 4), (4, 1)}
    assert np.array_equal(np.sort(g.in_indices), np.sort(g.out_indices))  # the in-CSR mirrors the out-CSR
    assert layer_graph(world.graph, 0b11) is world.graph  # every edge kept: the graph itself


def test_groups_by_a_category_as_counted_by_hand():
    world = tiny_world()
    groups = group_table(world, "cls")
    rows = by_label(groups.rows())
    assert [r["label"] for r in groups.rows()] == ["a", B, "c"]  # largest first, the empty group last
    assert (rows["a"]["size"], rows["a"]["internal_edges"], rows["a"]["density"]) == (3, 6, 1.0)
    assert (rows[B]["size"], rows[B]["internal_edges"], rows[B]["density"]) == (2, 2, 1.0)
    assert (rows["c"]["size"], rows["c"]["internal_edges"], rows["c"]["top_influencers"]) == (0, 0, [])
    assert groups.missing == 1 and groups.count == 3
    flows = {(f["src_label"], f["dst_label"]): f["edges"] for f in groups.top_flows()}
    assert flows == {("a", B): 3, (B, "a"): 3}
    assert sorted(rows["a"]["top_influencers"]) == [1, 3, 4] and sorted(rows[B]["top_influencers"]) == [2, 5]


def test_groups_on_one_layer_as_counted_by_hand():
    world = tiny_world()
    house = by_label(group_table(layer_world(world, ["household"]), "cls").rows())
    assert (house["a"]["internal_edges"], house[B]["internal_edges"]) == (2, 0)
    assert house["a"]["density"] == pytest.approx(1 / 3)
    assert {
        (f["src"], f["dst"]): f["edges"] for f in group_table(layer_world(world, ["household"]), "cls").top_flows()
    } == {
        (0, 1): 3,
        (1, 0): 3,
    }
    cls = group_table(layer_world(world, ["class"]), "cls")
    assert [r["internal_edges"] for r in cls.rows()] == [6, 2, 0] and cls.top_flows() == []


@pytest.mark.parametrize(
    "by, says",
    [
        ("nope", "this world has no category attribute 'nope': its categories are cls"),
        (
            "house",
            "'house' is a number attribute: give its bands, such as house:0,5,15,65, or group by the labels of a "
            "category: choose one of cls",
        ),
    ],
)
def test_a_column_that_is_no_category_is_refused(by, says):
    with pytest.raises(BadParameterError) as err:
        group_table(tiny_world(), by)
    assert str(err.value) == says


def test_a_layer_the_world_lacks_is_refused():
    with pytest.raises(BadParameterError, match="no contact layer 'school': its layers are household, class$"):
        layer_world(tiny_world(), ["school"])
    with pytest.raises(BadParameterError, match="^this world has no contact layers"):
        layer_world(synthetic_world("p", 50, avg_degree=4, seed=1), ["household"])


# -- the command line ----------------------------------------------------------------------------------------------
def run_json(capsys, *args: str) -> dict:
    assert main(["analyze", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_analyze_by_and_layer_report_only_and_leave_the_stored_communities(tiny_file, capsys):
    assert main(["analyze", tiny_file]) == 0  # stores communities and PageRank
    capsys.readouterr()
    before = digest(tiny_file)
    stored = sim.open_world(tiny_file).agents["community"].copy()
    out = run_json(capsys, tiny_file, "--by", "cls")
    groups = out["groups"]
    assert out["stored"] is False and "communities" not in out and groups["by"] == "cls"
    assert [(r["label"], r["size"], r["internal_edges"]) for r in groups["table"]] == [
        ("a", 3, 6),
        (B, 2, 2),
        ("c", 0, 0),
    ]
    assert groups["missing"] == 1
    assert {(f["src_label"], f["dst_label"], f["edges"]) for f in groups["top_flows"]} == {("a", B, 3), (B, "a", 3)}
    out = run_json(capsys, tiny_file, "--by", "cls", "--layer", "household")
    assert out["edges"] == 12 and out["world_edges"] == 18 and out["layers"] == ["household"]
    assert [r["internal_edges"] for r in out["groups"]["table"]] == [2, 0, 0]
    out = run_json(capsys, tiny_file, "--layer", "class", "--structure")
    assert out["edges"] == 8 and out["stored"] is False
    # Class a {1,3,4} and b {2,5} are the class layer's two components; 6 has no class contact.
    assert out["structure"]["components"]["weak"]["count"] == 3
    assert out["communities"]["count"] == 2 and out["communities"]["isolated"] == 1
    assert sorted(r["size"] for r in out["communities"]["table"]) == [2, 3]
    assert main(["analyze", tiny_file, "--by", "cls", "--layer", "class"]) == 0
    text = capsys.readouterr().out
    assert "8 edges in layer class (of 18)" in text and f"  {B}" in text  # the label as it is
    assert "world file not modified (--by, --layer: report only)" in text
    assert digest(tiny_file) == before
    assert np.array_equal(sim.open_world(tiny_file).agents["community"], stored)


@pytest.mark.parametrize(
    "args, says",
    [
        (["--by", "nope"], "this world has no category attribute 'nope': its categories are cls"),
        (["--by", "house"], "'house' is a number attribute"),
        (["--layer", "school"], "this world has no contact layer 'school': its layers are household, class"),
        (["--by", "cls", "--communities"], "--communities applies to community detection, and --by groups"),
        (["--by", "cls", "--resolution", "2"], "drop --resolution, or drop --by"),
    ],
)
def test_bad_by_or_layer_is_one_sentence(tiny_file, capsys, args, says):
    before = digest(tiny_file)
    assert main(["analyze", tiny_file, *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("agora: error: ") and says in err[0], err
    assert digest(tiny_file) == before


def test_a_world_without_layers_says_so(tmp_path, capsys):
    path = str(tmp_path / "p.db")
    asyncio.run(save_world(synthetic_world("p", 60, avg_degree=4, seed=2), path))
    assert main(["analyze", path, "--layer", "household"]) == 2
    assert "this world has no contact layers" in capsys.readouterr().err


# -- Python --------------------------------------------------------------------------------------------------------
def test_python_groups_and_layer_keywords(tiny_file):
    w = sim.open_world(tiny_file)
    g = sim.groups(w, "cls")
    assert g.labels == ("a", B, "c") and g.size.tolist() == [3, 2, 0] and g.internal_edges.tolist() == [6, 2, 0]
    assert g.missing == 1 and g.codes.tolist() == [0, 1, 0, 0, 1, -1] and len(g) == 3
    assert g.to_dict(1)["table"][0]["label"] == "a"
    assert sim.groups(w, "cls", layer="household").internal_edges.tolist() == [2, 0, 0]
    assert sim.groups(w, "cls", layer=["household", "class"]).internal_edges.tolist() == [6, 2, 0]
    assert sim.communities(w, layer="class").count == 2
    assert sim.structure(w, layer="class").weak_components == 3
    pr = sim.pagerank(w, layer="class")
    assert pr.sum() == pytest.approx(1.0) and not np.allclose(pr, sim.pagerank(w))
    with pytest.raises(BadParameterError, match="no contact layer 'school'"):
        sim.groups(w, "cls", layer="school")
    with pytest.raises(BadParameterError, match="'house' is a number attribute"):
        sim.groups(w, "house")


# -- Hagelloch -----------------------------------------------------------------------------------------------------
@needs_data
def test_hagelloch_by_class(tmp_path, capsys):
    from conftest import agora

    args = ["new", "h.db", "--people", str(HAGELLOCH), "--id", "PN", "--group", "HN:household"]
    made = agora(tmp_path, *args, "--group", "CL:class", "--skip", "preschool")
    assert made.returncode == 0, made.stderr
    path = str(tmp_path / "h.db")
    out = run_json(capsys, path, "--by", "CL")
    sizes = {r["label"]: r["size"] for r in out["groups"]["table"]}
    assert sizes == {"preschool": 90, "1st class": 30, "2nd class": 68} and out["groups"]["missing"] == 0
    out = run_json(capsys, path, "--by", "CL", "--layer", "class")
    inside = {r["label"]: r["internal_edges"] for r in out["groups"]["table"]}
    # Each class is one clique of its layer; the preschool children are in none.
    assert inside == {"preschool": 0, "1st class": 30 * 29, "2nd class": 68 * 67}
    assert out["groups"]["top_flows"] == [] and out["edges"] == 30 * 29 + 68 * 67
