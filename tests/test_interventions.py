"""Interventions during a run (``--intervene TICK:ACTION``) and seeds named by a method (``--seeds
METHOD:K``), on the real CLI and real world files: exact reaches on tiny graphs with p = 1, where every
attempt succeeds and the reach follows from the graph alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import agora, one_sentence

#: A star: hub 1 with leaves 0, 2..6 (undirected: both directions).
STAR = [(0, 1), (1, 2), (1, 3), (1, 4), (1, 5), (1, 6)]
#: A directed chain 0 -> 1 -> 2 -> 3 -> 4: the only path from 0.
CHAIN = [(0, 1), (1, 2), (2, 3), (3, 4)]


def make(folder: Path, name: str, edges: list[tuple[int, int]], *, directed: bool) -> Path:
    (folder / f"{name}.txt").write_text("".join(f"{u} {v}\n" for u, v in edges))
    args = ["new", f"{name}.db", "--edges", f"{name}.txt", "--seed", "1", "--json"]
    out = agora(folder, *args, *(["--directed"] if directed else []))
    assert out.returncode == 0, out.stderr
    return folder / f"{name}.db"


@pytest.fixture(scope="module")
def worlds(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("interventions")
    make(folder, "star", STAR, directed=False)
    make(folder, "chain", CHAIN, directed=True)
    return folder


def run_json(folder: Path, world: str, *args: str) -> dict:
    """``agora run`` as an ensemble (``--runs``, 1 unless given): the world file is never changed, so every
    test starts from the same world (a persisted run's blocks would stay in it)."""
    runs = [] if "--runs" in args else ["--runs", "1"]
    out = agora(folder, "run", world, "--inject", "x", "--until-done", "--json", *runs, *args)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_without_intervention_p1_reaches_everyone(worlds):
    r = run_json(worlds, "star.db", "--seeds", "ids:0", "--param", "p=1", "--runs", "2")
    assert r["mean_reached"] == 7 and "interventions" not in r["runs"][0]


def test_blocking_the_hub_at_tick_0_cuts_the_reach_to_the_seed(worlds):
    r = run_json(worlds, "star.db", "--seeds", "ids:0", "--param", "p=1", "--runs", "3", "--intervene", "0:block:ids:1")
    assert r["mean_reached"] == 1 and all(x["reached"] == 1 for x in r["runs"])
    done = r["runs"][0]["interventions"]
    assert done == [{"action": "block", "spec": "block:ids:1", "blocked": 1, "tick": 0, "agents": 1}]
    assert r["runs"][0]["immune"] == 1


def test_blocking_by_degree_finds_the_hub(worlds):
    r = run_json(worlds, "star.db", "--seeds", "ids:0", "--param", "p=1", "--intervene", "0:block:degree:1")
    assert r["runs"][0]["reached"] == 1


def test_a_block_later_stops_the_chain_where_it_is(worlds):
    # 0 at the seeding (tick 0), 1 in round 1, 2 in round 2; agent 3 blocked at the start of tick 2 (before
    # round 2 runs) -> 2 is reached, 3 and 4 never.
    r = run_json(worlds, "chain.db", "--seeds", "ids:0", "--param", "p=1", "--intervene", "2:block:ids:3")
    assert r["runs"][0]["reached"] == 3
    r = run_json(worlds, "chain.db", "--seeds", "ids:0", "--param", "p=1", "--intervene", "9:block:ids:3")
    assert r["runs"][0]["reached"] == 5 and "interventions" not in r["runs"][0]  # the run ended before tick 9


def test_a_counter_message_on_the_only_path_stops_the_original(worlds):
    r = run_json(
        worlds, "chain.db", "--seeds", "ids:0", "--param", "p=1", "--runs", "2", "--intervene", "0:counter:ic:ids:1:no"
    )
    for run in r["runs"]:
        assert run["reached"] == 1  # the original never gets past agent 1
        (counter,) = run["interventions"]
        assert counter["action"] == "counter" and counter["reached"] == 4 and counter["rivals"] == [run["session"]]


def test_a_counter_message_too_late_changes_nothing_behind_it(worlds):
    # At tick 2 the original holds 0, 1, 2 (round 2 runs after the counter starts at 3): it keeps those,
    # the counter takes 3 and 4.
    r = run_json(worlds, "chain.db", "--seeds", "ids:0", "--param", "p=1", "--intervene", "2:counter:ic:ids:3")
    run = r["runs"][0]
    assert run["reached"] == 3 and run["interventions"][0]["reached"] == 2
    # The series show both: the original's reach and the counter's, on the original's ticks.
    series = run["series"]
    assert series["reached"] == [1, 2, 3, 3] and series["counter.reached"] == [0, 0, 1, 2]


def test_removing_every_edge_stops_the_cascade(worlds):
    r = run_json(worlds, "star.db", "--seeds", "ids:0", "--param", "p=1", "--intervene", "0:remove-edges:1")
    run = r["runs"][0]
    assert run["reached"] == 1 and run["interventions"][0]["edges"] == 12


def test_a_blocked_sir_agent_moves_to_removed_and_the_epidemic_ends(worlds):
    # gamma = 0: nobody recovers on their own; blocking the infected moves them to R and the epidemic ends.
    r = run_json(
        worlds, "chain.db", "--model", "sir", "--seeds", "ids:0", "--param", "beta=1", "--param", "gamma=0",
        "--intervene", "2:block:ids:0,1", "--series", "sir.csv",
    )  # fmt: skip
    run = r["runs"][0]
    assert run["status"] == "completed" and run["reached"] == 2 and run["immune"] == 0
    rows = [line.split(",") for line in (worlds / "sir.csv").read_text().splitlines()[1:]]  # run,tick,measure,value
    end = max(int(r[1]) for r in rows)
    last = {r[2]: float(r[3]) for r in rows if int(r[1]) == end}
    assert (last["S"], last["I"], last["R"]) == (3, 0, 2)


def test_seeds_named_by_a_method(worlds):
    r = run_json(worlds, "star.db", "--seeds", "degree:1", "--param", "p=0", "--runs", "2")
    assert r["seeds"] == "degree:1" and r["mean_reached"] == 1
    r = run_json(worlds, "star.db", "--seeds", "degree:1", "--param", "p=1")
    assert r["runs"][0]["reached"] == 7


def test_a_sweep_compares_interventions_and_seed_methods_paired(worlds):
    out = agora(
        worlds, "sweep", "star.db", "--inject", "x", "--seeds", "ids:0", "--param", "p=1", "--runs", "3",
        "--grid", "intervene=none,0:block:degree:1,0:block:ids:4", "--until-done", "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert [a["mean_reached"] for a in res["results"]] == [7, 1, 6]
    assert res["results"][1]["paired"]["reach_diff_mean"] == -6 and res["grid"]["intervene"][0] == "none"
    out = agora(
        worlds, "sweep", "star.db", "--inject", "x", "--param", "p=0", "--runs", "2",
        "--grid", "seeds=degree:1,random:1", "--until-done", "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert [a["grid"]["seeds"] for a in res["results"]] == ["degree:1", "random:1"] and res["seeds"] == "by combination"


def test_an_intervention_survives_a_snapshot_and_continues_the_same(worlds):
    # One world runs straight through; another stops after one tick, is saved and loaded, and goes on.
    args = ["--inject", "x", "--seeds", "ids:0", "--param", "p=0.7", "--seed", "5", "--intervene", "3:block:degree:1"]
    for name in ("a.db", "b.db"):
        agora(worlds, "new", name, "--agents", "300", "--seed", "4", "--json")
    straight = agora(worlds, "run", "a.db", *args, "--until-done", "--json")
    assert straight.returncode == 0, straight.stderr
    first = agora(worlds, "run", "b.db", *args, "--steps", "1", "--json")
    assert first.returncode == 0, first.stderr
    assert agora(worlds, "save", "b.db", "b.snap").returncode == 0
    assert agora(worlds, "load", "b.snap", "c.db").returncode == 0
    rest = agora(worlds, "run", "c.db", "--until-done", "--json")
    assert rest.returncode == 0, rest.stderr
    info = [json.loads(agora(worlds, "info", name, "--json").stdout) for name in ("a.db", "c.db")]
    assert info[0]["interventions"] == info[1]["interventions"]
    (done,) = info[0]["interventions"]
    assert done["applied"] and done["agents"] == 1 and done["spec"] == "block:degree:1"
    import asyncio

    import numpy as np

    from sim.store.worldfile import open_world

    a, c = (asyncio.run(open_world(str(worlds / name))) for name in ("a.db", "c.db"))
    (sa,), (sc,) = a.sessions, c.sessions
    assert sa.status == sc.status == "completed" and sa.reached == sc.reached > 1
    assert np.array_equal(sa.adopted_at, sc.adopted_at) and np.array_equal(sa.adopted_from, sc.adopted_from)


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("0:explode", "has no known action 'explode'"),
        ("x:block:degree:1", "does not start with a tick"),
        ("-1:block:degree:1", "tick -1 is out of range"),
        ("0:block:nosuch:1", "unknown seed method 'nosuch'"),
        ("0:block:degree:99", "asks for 99 seeds"),
        ("0:remove-edges:1.5", "remove-edges fraction '1.5' is not valid"),
        ("0:remove-edges:0.5:between", "this world has none yet"),
        ("0:counter:nosuch:ids:1", "nosuch"),
    ],
)
def test_bad_interventions_are_one_sentence(worlds, given, says):
    out = agora(worlds, "run", "star.db", "--inject", "x", "--seeds", "ids:0", "--until-done", f"--intervene={given}")
    line = one_sentence(out)
    assert says in line


@pytest.mark.parametrize(
    "listed",
    [
        "block",
        [{"at": "3", "action": "block", "spec": "block:degree:1", "applied": False}],
        [{"at": 3, "action": "explode", "spec": "block:degree:1", "applied": False}],
        [{"at": 3, "action": "block", "spec": "block:nope", "applied": False}],
        [{"at": 3, "action": "block", "spec": "block:degree:1", "applied": True, "agents": ["1"]}],
        [{"at": -1, "action": "block", "spec": "block:degree:1", "applied": False}],
    ],
)
def test_a_snapshot_with_damaged_interventions_is_refused_in_one_sentence(tmp_path, listed):
    from sim.errors import BadFileError
    from sim.store.create import synthetic_world
    from sim.store.snapshot import load_snapshot, save_snapshot

    world = synthetic_world("w", 50, avg_degree=4, seed=1)
    world.config["interventions"] = listed
    save_snapshot(world, str(tmp_path / "w.snap"))
    with pytest.raises(BadFileError, match="config.interventions is invalid"):
        load_snapshot(str(tmp_path / "w.snap"))


def test_the_python_api_takes_seed_methods_and_interventions(worlds, tmp_path):
    import shutil

    import sim

    w = sim.open_world(str(worlds / "star.db"))
    res = w.ensemble(model="ic", params={"p": 1.0}, seeds="ids:0", runs=2, intervene=["0:block:degree:1"])
    assert [r["reached"] for r in res.to_dict()["runs"]] == [1, 1]
    swept = w.sweep({"intervene": ["none", "0:block:ids:4"]}, params={"p": 1.0}, seeds="ids:0", runs=2)
    assert [a["mean_reached"] for a in swept.to_dict()["results"]] == [7, 6]
    shutil.copy(worlds / "star.db", tmp_path / "live.db")
    with sim.open_world(str(tmp_path / "live.db")).simulation() as live:
        live.inject("x", params={"p": 1.0}, seeds="ids:0")
        entry = live.intervene("1:block:ids:2,3")
        assert entry["applied"] is False and entry["spec"] == "block:ids:2,3"
        live.step(5)
        (done,) = live.interventions()
        assert done["applied"] and done["agents"] == 2 and done["blocked"] == 2
        assert live.session(1)["reached"] == 5  # 0, the hub, and the three leaves not blocked
    with pytest.raises(sim.BadParameterError, match="no known action"):
        sim.open_world(str(tmp_path / "live.db")).ensemble(seeds="ids:0", runs=1, intervene=["0:explode"])


def test_a_sweep_reports_each_arms_counter_message_and_immune_agents(worlds):
    out = agora(
        worlds, "sweep", "chain.db", "--inject", "x", "--seeds", "ids:0", "--param", "p=1", "--runs", "2",
        "--grid", "intervene=none,0:counter:ic:ids:1,1:block:ids:2", "--until-done", "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    none, counter, block = json.loads(out.stdout)["results"]
    assert "counter_mean_reached" not in none and none["mean_reached"] == 5
    assert (counter["mean_reached"], counter["counter_mean_reached"], counter["mean_immune"]) == (1, 4, 0)
    assert (block["mean_reached"], block["counter_mean_reached"], block["mean_immune"]) == (2, None, 1)
    assert block["per_run"][0]["interventions"][0]["blocked"] == 1
