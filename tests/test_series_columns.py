"""A series says what its columns are (issue 46): the model's states (summing to the number of agents at every
tick), measures (counts that are not states) and variables (moments of continuous variables), in a run's JSON
(``series_columns``), a live session's record, and a Python result's :meth:`Series.declared`; the batched
kernel declares what the engine does."""

from __future__ import annotations

import asyncio
import json

import pytest
from conftest import agora
from test_series import Halving

import sim
from sim.engine.simulation import Simulation
from sim.model.registry import Registry
from sim.model.series import MEASURE, STATE, VARIABLE, SeriesColumns, series_dict


@pytest.fixture(scope="module")
def world_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("columns")
    out = agora(folder, "new", "w.db", "--agents", "1500", "--seed", "3")
    assert out.returncode == 0, out.stderr
    return folder / "w.db"


def test_a_runs_json_declares_its_states_measures_and_variables(world_file):
    out = agora(
        world_file.parent,
        "run",
        str(world_file),
        "--until-done",
        "--inject",
        "x",
        "--model",
        "sir",
        "--param",
        "beta=0.1",
        "--runs",
        "2",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    for run in data["runs"]:
        declared = run["series_columns"]
        assert declared == {
            "states": ["S", "I", "R"],
            "measures": ["reached", "new", "depth", "breadth", "new.S", "new.I", "new.R", "onsets", "removals"],
            "variables": [],
        }
        series = run["series"]
        assert set(series) == {"tick", *declared["states"], *declared["measures"], *declared["variables"]}
        for t in range(len(series["tick"])):  # the states sum to the agents at every tick; no other set does
            assert sum(series[s][t] for s in declared["states"]) == data["agents"]


def test_a_variable_is_declared_as_such(small_world):
    registry = Registry(entry_points=False, env=False)
    registry.register(Halving)
    sim_ = Simulation(small_world, registry=registry, plugin_budget=0)
    s = sim_.inject("m", model="halving", seeds="random:5", seed=1)
    asyncio.run(sim_.run(until_done=True, max_ticks=20))
    declared = SeriesColumns.of(series_dict(s), s.state_names)
    assert declared.variables == ("x.mean", "x.std", "x.min", "x.max")
    assert declared.states == tuple(s.state_names) and "reached" in declared.measures
    assert [declared.kind(c) for c in (s.state_names[0], "new", "x.std", "tick")] == [STATE, MEASURE, VARIABLE, None]
    assert SeriesColumns.from_dict(declared.to_dict()) == declared


def test_the_batched_kernel_declares_what_the_engine_does(world_file):
    w = sim.open_world(str(world_file))
    batched = w.ensemble(model="ic", params={"p": 0.05}, runs=3, kernel="batched", workers=1)
    engine = w.ensemble(model="ic", params={"p": 0.05}, runs=3, kernel="engine", workers=1)
    assert [r["series_columns"] for r in batched.runs] == [r["series_columns"] for r in engine.runs]
    assert batched.series.declared() == engine.series.declared()
    assert batched.series.declared().states == ("susceptible", "adopted")


def test_a_sweep_over_two_models_declares_both_models_states(world_file):
    w = sim.open_world(str(world_file))
    sw = w.sweep({"model": ["ic", "sir"]}, params={"ic.p": 0.05, "sir.beta": 0.05}, runs=2, workers=1)
    declared = sw.series.declared()
    assert declared.states == ("susceptible", "adopted", "S", "I", "R")
    assert declared.measures[:2] == ("reached", "new") and declared.variables == ()


def test_a_live_sessions_record_declares_its_columns(world_file, tmp_path):
    path = tmp_path / "live.db"
    path.write_bytes(world_file.read_bytes())
    with sim.open_world(str(path)).simulation() as live:
        made = live.inject("x", model="sir", params={"beta": 0.1}, seeds="random:5")
        live.step(3)
        record = live.session(made["id"], series=True)
    assert record["series_columns"]["states"] == ["S", "I", "R"]
    assert set(record["series"]) - {"tick"} == {c for cs in record["series_columns"].values() for c in cs}
