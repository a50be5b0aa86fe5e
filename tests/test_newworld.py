"""A new world is one request (issue 74): ``sim.NewWorld``, made by ``agora new`` from its flags and by
``sim.new_world`` from its keywords, so its rules are written once and both doors say the same sentence (the
command line with its flags, Python with the fields), and both make the same world."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import agora, data_file

import sim
from sim.core.world import Status
from sim.engine.requests import NewWorld
from sim.errors import BadParameterError
from sim.lab.agents import load_world

PEOPLE = "id,house,class\n1,a,x\n2,a,y\n3,b,x\n4,b,y\n"


@pytest.fixture
def people(tmp_path: Path) -> Path:
    path = tmp_path / "p.csv"
    path.write_text(PEOPLE)
    return path


def test_the_request_fills_a_synthetic_worlds_defaults_and_names_its_source() -> None:
    request = NewWorld.parse({"agents": 50})
    assert request.source == "agents"
    assert request.shape == {"graph": "community", "avg_degree": 10.0, "communities": None, "mixing": 0.2}
    assert NewWorld.parse({"edges": "e.txt"}).source == "edges"
    assert NewWorld.parse({"people": "p.csv", "groups": ["house"]}).source == "people"


@pytest.mark.parametrize(
    "fields, python, flags",
    [
        (
            {"people": "p.csv", "graph": "ba"},
            "graph shapes a synthetic world and people builds one from a table: drop graph, or give agents N "
            "instead of people",
            "--graph shapes a synthetic world and --people builds one from a table: drop --graph, or give --agents N "
            "instead of --people",
        ),
        (
            {"agents": 10, "groups": ["house"]},
            "groups describes a table of people: give people FILE, or drop groups",
            "--group describes a table of people: give --people FILE, or drop --group",
        ),
        (
            {"agents": 10, "graph": "er", "mixing": 0.3},
            "mixing applies to the community and sbm graphs, and er plants no communities: drop mixing, or choose "
            "graph community or sbm",
            "--mixing applies to the community and sbm graphs, and er plants no communities: drop --mixing, or "
            "choose --graph community or sbm",
        ),
        (
            {"agents": 10, "people": None, "edges": "e.txt"},
            "edges is not allowed with agents: import an edge list (edges FILE) or make a synthetic world (agents "
            "N), not both",
            "--edges is not allowed with --agents: import an edge list (--edges FILE) or make a synthetic world "
            "(--agents N), not both",
        ),
    ],
)
def test_one_rule_one_sentence_at_both_doors(fields: dict, python: str, flags: str) -> None:
    with pytest.raises(BadParameterError) as plain:
        NewWorld.parse(fields)
    assert str(plain.value) == python
    spelled = {"groups": "--group"}
    with pytest.raises(BadParameterError) as cli:
        NewWorld.parse(fields, spell=lambda f: spelled.get(f, "--" + f.replace("_", "-")))
    assert str(cli.value) == flags


def test_the_command_line_and_python_refuse_alike(tmp_path: Path, people: Path) -> None:
    out = agora(tmp_path, "new", "w.db", "--people", str(people), "--group", "house", "--mixing", "0.3")
    assert out.returncode == 2
    assert "--mixing shapes a synthetic world and --people builds one from a table: drop --mixing" in out.stderr
    with pytest.raises(BadParameterError, match=r"^mixing shapes a synthetic world and people builds one from a"):
        sim.new_world(tmp_path / "v.db", people=str(people), groups=["house"], mixing=0.3)
    assert not (tmp_path / "w.db").exists() and not (tmp_path / "v.db").exists()


def test_python_and_the_command_line_make_the_same_worlds(tmp_path: Path, people: Path) -> None:
    # A synthetic world with a reserve of agents not joined yet (a keyword Python gains from the request).
    assert agora(tmp_path, "new", "a.db", "--agents", "300", "--seed", "4", "--reserve", "0.1").returncode == 0
    sim.new_world(tmp_path / "b.db", agents=300, seed=4, reserve=0.1)
    # An edge list imported as it is, directed (Python's new_world takes it alone now, as agora new --edges).
    edges = data_file("email-Eu-core.txt")
    assert agora(tmp_path, "new", "c.db", "--edges", edges, "--directed").returncode == 0
    sim.new_world(tmp_path / "d.db", edges=edges, directed=True)
    # A table of people with a group layer.
    assert agora(tmp_path, "new", "e.db", "--people", str(people), "--group", "house").returncode == 0
    sim.new_world(tmp_path / "f.db", people=str(people), groups=["house"])
    for one, other in (("a", "b"), ("c", "d"), ("e", "f")):
        a, b = load_world(str(tmp_path / f"{one}.db")), load_world(str(tmp_path / f"{other}.db"))
        assert a.n == b.n and np.array_equal(a.graph.out_indices, b.graph.out_indices), (one, other)
        assert np.array_equal(a.columns["status"], b.columns["status"]), (one, other)
        assert a.config["minutes_per_tick"] == b.config["minutes_per_tick"]
    reserve = load_world(str(tmp_path / "a.db")).columns["status"] == Status.CREATED
    assert int(reserve.sum()) == 30  # a tenth of the agents, created but not joined, the same ones at both doors
