"""What a new user tripped on in the command line (issue 45), on real ``agora`` processes and world files:
an intervention given without its tick, as the TUI, ``live.intervene()`` and the CLI's own error message
give it, and a refused ``agora run`` that left ``WORLD-wal`` / ``WORLD-shm`` beside the world."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import agora, digest, one_sentence

#: A star: hub 1 with leaves 0, 2..6 (undirected: both directions). With p = 1 a message seeded at leaf 0
#: reaches all 7 agents, and only 1 (the seed) when the hub is blocked before the first round.
STAR = [(0, 1), (1, 2), (1, 3), (1, 4), (1, 5), (1, 6)]


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    """The star's world file, alone in a folder of its own (``agora new`` may leave SQLite's files beside it)."""
    folder = tmp_path_factory.mktemp("made")
    (folder / "star.txt").write_text("".join(f"{u} {v}\n" for u, v in STAR))
    out = agora(folder, "new", "star.db", "--edges", "star.txt", "--seed", "1", "--json")
    assert out.returncode == 0, out.stderr
    clean = tmp_path_factory.mktemp("star")
    shutil.copy(folder / "star.db", clean / "star.db")
    return clean / "star.db"


@pytest.fixture
def world(made, tmp_path) -> Path:
    """A fresh copy of the star world, the only file in its folder."""
    folder = tmp_path / "w"
    folder.mkdir()
    shutil.copy(made, folder / "star.db")
    return folder / "star.db"


def run_json(world: Path, *args: str) -> dict:
    out = agora(world.parent, "run", world.name, "--inject", "x", "--seeds", "ids:0", "--param", "p=1", *args, "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


# -- an intervention without its tick ----------------------------------------------------------------------


def test_an_ensembles_intervention_without_a_tick_applies_at_the_injection(world):
    base = run_json(world, "--runs", "2", "--until-done")
    assert base["mean_reached"] == 7
    for given in ("block:degree:1", "block:ids:1"):  # the first is the example the error message gives
        r = run_json(world, "--runs", "2", "--until-done", "--intervene", given)
        assert r["mean_reached"] == 1, given
        (done,) = r["runs"][0]["interventions"]
        assert done["tick"] == 0 and done["spec"] == given and done["blocked"] == 1
    ticked = run_json(world, "--runs", "2", "--until-done", "--intervene", "0:block:ids:1")["runs"]
    assert [(x["series"], x["interventions"]) for x in ticked] == [(x["series"], x["interventions"]) for x in r["runs"]]


def test_a_persisted_runs_intervention_without_a_tick_applies_at_the_injection(world):
    r = run_json(world, "--until-done", "--intervene", "block:degree:1")
    assert r["persisted"] and r["runs"][0]["reached"] == 1
    info = json.loads(agora(world.parent, "info", world.name, "--json").stdout)
    listed = json.dumps(info)
    assert "block:degree:1" in listed


def test_a_sweeps_grid_and_intervene_take_one_without_a_tick(world):
    out = agora(
        world.parent, "sweep", world.name, "--inject", "x", "--seeds", "ids:0", "--param", "p=1", "--runs", "2",
        "--grid", "intervene=none,block:degree:1", "--until-done", "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert [a["mean_reached"] for a in res["results"]] == [7, 1]
    out = agora(
        world.parent, "sweep", world.name, "--inject", "x", "--seeds", "ids:0", "--runs", "2",
        "--grid", "p=1", "--intervene", "block:ids:1", "--until-done", "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert [a["mean_reached"] for a in json.loads(out.stdout)["results"]] == [1]


def test_the_python_api_takes_one_without_a_tick(world):
    import sim

    w = sim.open_world(str(world))
    res = w.ensemble(model="ic", params={"p": 1.0}, seeds="ids:0", runs=2, intervene=["block:degree:1"])
    assert [r["reached"] for r in res.to_dict()["runs"]] == [1, 1]
    swept = w.sweep({"intervene": ["none", "block:ids:1"]}, params={"p": 1.0}, seeds="ids:0", runs=2, workers=1)
    assert [a["mean_reached"] for a in swept.to_dict()["results"]] == [7, 1]


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("block", "intervention 'block' names no agents: use block:SEEDS (block:degree:100)"),
        ("block:nosuch:1", "unknown seed method 'nosuch'"),
        ("remove-edges:2", "remove-edges fraction '2' is not valid"),
        ("x:block:degree:1", "does not start with a tick"),
        ("-1:block:degree:1", "tick -1 is out of range"),
    ],
)
def test_a_mistake_is_one_sentence_that_quotes_what_was_given(world, given, says):
    out = agora(
        world.parent,
        "run",
        world.name,
        "--inject",
        "x",
        "--seeds",
        "ids:0",
        "--until-done",
        "--runs",
        "2",
        f"--intervene={given}",
    )
    assert says in one_sentence(out)


# -- a refused command leaves nothing beside the world -------------------------------------------------------


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def refused(world: Path, *args: str) -> str:
    """Run a command that is refused; check it left the world's folder and file exactly as they were."""
    before, was = listing(world.parent), digest(world)
    assert before == [world.name]
    out = agora(world.parent, *args)
    line = one_sentence(out)
    assert listing(world.parent) == before, line
    assert digest(world) == was
    return line


@pytest.mark.parametrize("runs", [["--runs", "2"], []], ids=["ensemble", "persisted"])
def test_a_run_refused_after_reading_the_world_leaves_nothing_beside_it(world, runs):
    """An LLM setting that cannot take effect is found after the world's settings were read: the read-only
    connection used to leave empty WORLD-wal and WORLD-shm files."""
    line = refused(world, "run", world.name, "--inject", "x", "--steps", "2", *runs, "--llm", "model=other")
    assert "--llm model=other has no effect" in line


def test_reading_a_world_leaves_nothing_beside_it(world):
    before = listing(world.parent)
    out = agora(world.parent, "info", world.name, "--json")
    assert out.returncode == 0 and json.loads(out.stdout)["agents"] == 7
    assert listing(world.parent) == before


@pytest.mark.parametrize(
    "args",
    [
        ["--runs", "2", "--param", "p=7"],
        ["--recommender-param", "nosuch=1"],
    ],
    ids=["ensemble-param", "persisted-recommender-param"],
)
def test_a_run_refused_after_opening_the_world_leaves_nothing_beside_it(world, args):
    refused(world, "run", world.name, "--inject", "x", "--steps", "2", *args)
