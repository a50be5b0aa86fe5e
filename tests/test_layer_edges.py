"""Contact layers from edge lists on a world of people (issue 59: ``agora new W --people P --edges FILE --layer
NAME``, repeatable; ``sim.new_world(..., edges=[(FILE, NAME)])``): the ends found among the people's ids, lines
kept as given, a pair in several layers one edge with their bits, the weighted files' weights its trust (the first
listed winning, conflicts counted); an id not in the table, or flags that do not pair up, refused in one sentence
with exit 2 and no world file; ``agora info`` gives each layer's mean degree."""

from __future__ import annotations

import asyncio
import gzip
import json
import sqlite3

import numpy as np
import pytest
from conftest import agora

import sim
from sim.cli.output import describe
from sim.errors import BadFileError, BadParameterError
from sim.store.contacts import EdgeLayer, GroupLayer, people_world
from sim.store.people import read_people
from sim.store.worldfile import open_world
from sim.store.worldread import world_info

PEOPLE = "id,house\n10,a\n20,a\n30,b\n40,b\n50,c\n"
#: friends: 10->20 (also a household pair), 20->30, a self-loop and a repeat of 10->20 with another weight
FRIENDS = "source,target,weight\n10,20,0.5\n20,30,0.25\n30,30,1\n10,20,0.9\n"
#: online: 10->20 again (weight 0.7: a conflict with friends) and 40->50
ONLINE = "source,target,weight\n10,20,0.7\n40,50,0.1\n"


@pytest.fixture
def files(tmp_path):
    (tmp_path / "p.csv").write_text(PEOPLE)
    (tmp_path / "f.csv").write_text(FRIENDS)
    (tmp_path / "o.csv.gz").write_bytes(gzip.compress(ONLINE.encode()))
    return tmp_path


def edges_of(world) -> dict[tuple[int, int], tuple[int, float]]:
    """Every edge as (source id, target id) -> (layer bits, trust)."""
    g = world.graph
    src = np.repeat(np.arange(g.n), np.diff(g.out_indptr))
    ids = world.ids
    return {
        (int(ids[s]), int(ids[d])): (int(b), round(float(t), 6))
        for s, d, b, t in zip(src, g.out_indices, g.layer, g.trust)
    }


def opened(path):
    return asyncio.run(open_world(str(path)))


def test_a_pair_in_a_group_and_two_edge_lists_is_one_edge_with_three_bits(files):
    table = read_people(str(files / "p.csv"), "id")
    layers = [GroupLayer("house", "home"), EdgeLayer(str(files / "f.csv"), "friends")]
    world = people_world("w", table, [*layers, EdgeLayer(str(files / "o.csv.gz"), "online")])
    assert world.layers == ("home", "friends", "online")
    home, friends, online = 1, 2, 4
    assert edges_of(world) == {
        (10, 20): (home | friends | online, 0.5),  # friends' first weight (its repeat 0.9 merged away) over 1, 0.7
        (20, 10): (home, 1.0),  # lines are kept as given: 10,20 links 10->20 only
        (30, 40): (home, 1.0),
        (40, 30): (home, 1.0),
        (20, 30): (friends, 0.25),
        (40, 50): (online, 0.1),
    }
    source = world.config["source"]
    assert source["weight_conflicts"] == 1  # 10->20: 0.5 in friends, 0.7 in online
    assert source["edge_lists"] == [
        {"layer": "friends", "file": "f.csv", "lines": 4, "self_loops_dropped": 1, "duplicates_merged": 1,
         "weighted": True},
        {"layer": "online", "file": "o.csv.gz", "lines": 2, "self_loops_dropped": 0, "duplicates_merged": 0,
         "weighted": True},
    ]  # fmt: skip


def test_the_first_weighted_list_wins_and_an_unweighted_one_gives_no_weight(files):
    (files / "plain.txt").write_text("# SNAP lines, no weight\n20 10\n10 20\n")
    table = read_people(str(files / "p.csv"), "id")
    layers = [EdgeLayer(str(files / "plain.txt"), "seen"), EdgeLayer(str(files / "o.csv.gz"), "online")]
    world = people_world("w", table, [*layers, EdgeLayer(str(files / "f.csv"), "friends")])
    edges = edges_of(world)
    assert edges[(10, 20)] == (1 | 2 | 4, 0.7)  # online is listed before friends: its 0.7 wins; seen's 1 never
    assert edges[(20, 10)] == (1, 1.0)
    assert world.config["source"]["weight_conflicts"] == 1
    assert world.config["source"]["edge_lists"][0]["weighted"] is False


def test_same_weights_in_two_lists_are_no_conflict(files):
    (files / "same.csv").write_text("source,target,weight\n20,30,0.25\n")
    table = read_people(str(files / "p.csv"), "id")
    world = people_world("w", table, [EdgeLayer(str(files / "f.csv"), "a"), EdgeLayer(str(files / "same.csv"), "b")])
    assert world.config["source"]["weight_conflicts"] == 0 and edges_of(world)[(20, 30)] == (3, 0.25)


def test_an_id_not_in_the_table_is_refused_naming_the_line(files):
    (files / "bad.csv").write_text("source,target\n10,20\n# a comment\n\n20,987654\n")
    table = read_people(str(files / "p.csv"), "id")
    with pytest.raises(BadFileError) as err:
        people_world("w", table, [EdgeLayer(str(files / "bad.csv"), "x")])
    said = str(err.value)
    assert "line 5: its second id is not the id of a person in the people table" in said
    assert "987654" not in said  # the cell is not echoed
    out = agora(files, "new", "w.db", "--people", "p.csv", "--edges", "bad.csv", "--layer", "x")
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "line 5" in out.stderr, out.stderr
    assert "987654" not in out.stderr and not (files / "w.db").exists()


def test_a_bad_weight_is_refused_as_the_importer_refuses_it(files):
    (files / "heavy.csv").write_text("source,target,weight\n10,20,0.5\n20,30,1.5\n")
    out = agora(files, "new", "w.db", "--people", "p.csv", "--edges", "heavy.csv", "--layer", "x")
    assert out.returncode == 2 and "line 3" in out.stderr and "outside 0..1" in out.stderr, out.stderr
    assert not (files / "w.db").exists()


@pytest.mark.parametrize(
    "extra, says",
    [
        (["--people", "p.csv", "--edges", "f.csv"], "--edges 'f.csv' has no --layer"),
        (
            ["--people", "p.csv", "--edges", "f.csv", "--layer", "a", "--edges", "o.csv.gz"],
            "--edges 'o.csv.gz' has no --layer",
        ),
        (["--people", "p.csv", "--layer", "a"], "--layer a names no edge list"),
        (
            ["--people", "p.csv", "--edges", "f.csv", "--layer", "a", "--edges", "o.csv.gz", "--layer", "a"],
            "layer a is named twice",
        ),
        (["--people", "p.csv", "--group", "house:a", "--edges", "f.csv", "--layer", "a"], "layer a is named twice"),
        (["--people", "p.csv", "--edges", "f.csv", "--layer", "2a"], "'2a' is not a plain name"),
        (["--edges", "f.csv", "--layer", "a"], "--layer describes a table of people: give --people FILE"),
        (["--agents", "10", "--layer", "a"], "--layer describes a table of people"),
        (["--edges", "f.csv", "--edges", "o.csv.gz"], "--edges is given 2 times, and a world imports one edge list"),
        (["--people", "p.csv", "--edges", "f.csv", "--layer", "a", "--directed"], "--directed is for an --edges file"),
        (["--agents", "10", "--edges", "f.csv"], "--edges is not allowed with --agents"),
        ([], "give --agents N (a synthetic world), --edges FILE (an edge list) or --people FILE"),
    ],
)
def test_flags_that_do_not_pair_up_are_one_sentence_and_leave_no_world(files, extra, says):
    out = agora(files, "new", "w.db", *extra)
    assert out.returncode == 2 and says in out.stderr and out.stderr.count("\n") == 1, out.stderr
    assert not (files / "w.db").exists()


def test_edges_alone_still_imports_a_world(files):
    out = agora(files, "new", "w.db", "--edges", "f.csv", "--json")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["source"]["kind"] == "import" and info["agents"] == 3 and info["layers"] == []


def test_python_and_the_command_line_build_the_same_world(files):
    out = agora(
        files, "new", "cli.db", "--people", "p.csv", "--group", "house:home",
        "--edges", "f.csv", "--layer", "friends", "--edges", "o.csv.gz", "--layer", "online",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "weights      1 pair weighted differently by two edge lists (the first layer listed" in out.stdout
    assert "edge list    friends: f.csv (4 lines, 1 self-loops dropped, 1 duplicate edges merged" in out.stdout
    edges = [(files / "f.csv", "friends"), (str(files / "o.csv.gz"), "online")]
    sim.new_world(str(files / "py.db"), people=str(files / "p.csv"), groups=["house:home"], edges=edges)
    cli, py = opened(files / "cli.db"), opened(files / "py.db")
    assert cli.layers == py.layers == ("home", "friends", "online")
    assert np.array_equal(cli.ids, py.ids) and cli.graph.num_edges == py.graph.num_edges == 6
    for name in ("out_indptr", "out_indices", "trust", "layer"):
        assert np.array_equal(getattr(cli.graph, name), getattr(py.graph, name)), name
    assert edges_of(py)[(10, 20)] == (7, 0.5)


def test_new_world_refuses_edges_it_cannot_read(files):
    people = str(files / "p.csv")
    with pytest.raises(BadParameterError, match="list of \\(file, layer\\) pairs"):
        sim.new_world(str(files / "a.db"), people=people, edges="f.csv")
    with pytest.raises(BadParameterError, match="layer is a name"):
        sim.new_world(str(files / "a.db"), people=people, edges=[("f.csv", 3)])
    with pytest.raises(BadParameterError, match="edges describes a table of people"):
        sim.new_world(str(files / "a.db"), agents=10, edges=[("f.csv", "x")])
    assert not (files / "a.db").exists()


def test_info_gives_each_layers_mean_degree_and_old_files_show_none(files):
    edges = [(str(files / "f.csv"), "f")]
    sim.new_world(str(files / "w.db"), people=str(files / "p.csv"), groups=["house:home"], edges=edges)
    info = world_info(str(files / "w.db"))
    assert info["layers"] == [
        {"name": "home", "edges": 4, "mean_degree": 0.8},
        {"name": "f", "edges": 2, "mean_degree": 0.4},
    ]
    assert "layers       home (4 edges, mean degree 0.8), f (2 edges, mean degree 0.4)" in describe(info)
    shown = json.loads(agora(files, "info", "w.db", "--json").stdout)
    assert shown["layers"][0]["mean_degree"] == 0.8
    with sqlite3.connect(files / "w.db") as con:  # as a world written before the degrees were kept
        con.execute("DELETE FROM meta WHERE key = 'layer_degree'")
    con.close()
    old = world_info(str(files / "w.db"))
    assert old["layers"] == [{"name": "home", "edges": 4}, {"name": "f", "edges": 2}]
    assert "layers       home (4 edges), f (2 edges)" in describe(old)
