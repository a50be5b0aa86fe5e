"""Paired experiments: sweeps over models and recommenders on common random numbers, qualified
parameters, the A/A check, bounded intervals, and the series of a sweep."""

from __future__ import annotations

import asyncio
import csv
import json
import math

import numpy as np
import pytest
from conftest import agora, digest

from sim.core.stats import mean_ci95, mean_ci95_columns, t95
from sim.engine.simulation import Simulation
from sim.model.registry import Registry


def sweep(world, *args: str) -> dict:
    out = agora(world.parent, "sweep", str(world), *args, "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def world_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("paired")
    out = agora(folder, "new", "w.db", "--agents", "3000", "--seed", "11")
    assert out.returncode == 0, out.stderr
    return folder / "w.db"


def test_identical_arms_differ_by_exactly_zero(world_file):
    data = sweep(world_file, "--grid", "p=0.1,0.1", "--runs", "6", "--workers", "2")
    a, b = data["results"]
    assert "paired" not in a
    assert a["reached"] == b["reached"] and a["peak_tick"] == b["peak_tick"]
    cascade = b["paired"].pop("cascade")
    assert b["paired"] == {
        "against": 0,
        "pairs": 6,
        "reach_diff_mean": 0.0,
        "reach_diff_ci95": [0.0, 0.0],
        "peak_diff_mean": 0.0,
        "peak_diff_ci95": [0.0, 0.0],
    }
    assert cascade["pairs"] == 6
    for m in ("size", "trees", "depth", "max_breadth", "structural_virality", "by_feed"):
        assert cascade[m] == {"mean": 0.0, "ci95": [0.0, 0.0]}, m
    assert data["grid"] == {"p": [0.1, 0.1]}


def test_two_models_with_qualified_parameters_are_paired_run_by_run(world_file):
    data = sweep(
        world_file,
        "--grid",
        "model=ic,sir",
        "--param",
        "ic.p=0.1",
        "--param",
        "sir.beta=0.08",
        "--runs",
        "5",
        "--workers",
        "1",
    )
    ic, sir = data["results"]
    assert (ic["model"], sir["model"]) == ("ic", "sir")
    assert ic["params"]["p"] == 0.1 and sir["params"]["beta"] == 0.08 and "p" not in sir["params"]
    assert ic["grid"] == {"model": "ic"} and data["models"] == ["ic", "sir"]
    assert data["fixed"] == {"ic.p": 0.1, "sir.beta": 0.08}
    diffs = [b - a for a, b in zip(ic["reached"], sir["reached"])]
    mean = sum(diffs) / 5
    half = t95(4) * math.sqrt(sum((d - mean) ** 2 for d in diffs) / 4 / 5)
    p = sir["paired"]
    assert p["pairs"] == 5 and p["reach_diff_mean"] == pytest.approx(mean)
    assert p["reach_diff_ci95"] == pytest.approx([max(-3000, mean - half), min(3000, mean + half)])
    peaks = [b - a for a, b in zip(ic["peak_tick"], sir["peak_tick"])]
    assert p["peak_diff_mean"] == pytest.approx(sum(peaks) / 5)


def test_every_arm_of_run_r_starts_from_the_same_seed_agents(small_world):
    """What the pairing rests on: session seed S+r chooses the same random seed agents whatever the model."""
    registry = Registry(entry_points=False, env=False)
    chosen = []
    for model in ("ic", "sir", "lt", "viral"):
        world = small_world.fork()
        sim = Simulation(world, registry=registry, plugin_budget=0)
        s = sim.inject("m", model=model, seeds="random:25", seed=7)
        asyncio.run(sim.step())
        chosen.append(
            np.flatnonzero(s.adopted_at == s.started_tick).tolist()
            if model != "lt"
            else np.flatnonzero(s.state == 1).tolist()
        )
    assert len(chosen[0]) == 25 and all(c == chosen[0] for c in chosen)


def test_sweep_results_equal_agora_run_per_arm(world_file):
    data = sweep(
        world_file,
        "--grid",
        "recommender=chronological,hot",
        "--param",
        "p=0.05",
        "--runs",
        "3",
        "--steps",
        "12",
        "--workers",
        "2",
    )
    chrono, hot = data["results"]
    assert chrono["social"] == {"recommender": "chronological"} and hot["grid"] == {"recommender": "hot"}
    out = agora(
        world_file.parent,
        "run",
        str(world_file),
        "--steps",
        "12",
        "--inject",
        "sweep",
        "--param",
        "p=0.05",
        "--runs",
        "3",
        "--recommender",
        "hot",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    assert [r["reached"] for r in json.loads(out.stdout)["runs"]] == hot["reached"]
    assert hot["paired"]["pairs"] == 3
    assert hot["paired"]["reach_diff_mean"] == pytest.approx(np.mean(np.subtract(hot["reached"], chrono["reached"])))


def test_friend_recommender_can_be_swept(world_file):
    data = sweep(
        world_file,
        "--grid",
        "friend-recommender=none,common-neighbours",
        "--runs",
        "2",
        "--steps",
        "6",
        "--workers",
        "1",
    )
    assert [r["grid"]["friend_recommender"] for r in data["results"]] == ["none", "common-neighbours"]


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--grid", "model=ic,sir", "--param", "p=0.1"], "sir has no parameter 'p'"),
        (["--grid", "model=ic,sir", "--param", "lt.p=0.1"], "names model 'lt', which the sweep does not run"),
        (["--grid", "model=ic,sir", "--grid", "ic.p=0.1,0.2"], "while model is swept"),
        (["--grid", "model=ic,sir", "--grid", "p=0.1,0.2"], "sir has no parameter 'p'"),
        (["--grid", "model=ic,sir", "--model", "ic"], "model is both swept"),
        (["--grid", "model=ic,nosuch"], "nosuch"),
        (["--grid", "recommender=chronological,hot", "--recommender", "hot"], "recommender is both swept"),
        (["--grid", "recommender=chronological,nosuch"], "nosuch"),
        (["--grid", "p=0.1", "--param", "ic.p=0.2"], "both swept"),
        (["--grid", "p=0.1", "--steps", "3", "--max-ticks", "9"], "--max-ticks"),
        (["--grid", "p=0.1", "--series", "out.txt"], ".csv"),
    ],
)
def test_sweep_refuses_what_it_would_drop(world_file, args, needle):
    before = digest(world_file)
    out = agora(world_file.parent, "sweep", str(world_file), "--runs", "2", *args)
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.count("\n") == 1 and needle in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert digest(world_file) == before


def test_a_qualified_parameter_of_the_only_model_is_accepted(world_file):
    data = sweep(
        world_file,
        "--param",
        "ic.p=0.2",
        "--grid",
        "ic.trust_weighted=false,true",
        "--runs",
        "2",
        "--steps",
        "3",
        "--workers",
        "1",
    )
    assert [r["params"]["p"] for r in data["results"]] == [0.2, 0.2]
    assert [r["params"]["trust_weighted"] for r in data["results"]] == [False, True]


def test_sweep_series_file_has_a_column_per_grid_key(world_file, tmp_path):
    target = tmp_path / "ab.csv"
    data = sweep(
        world_file,
        "--grid",
        "model=ic,sir",
        "--grid",
        "feed_weight=1,2",
        "--runs",
        "2",
        "--steps",
        "4",
        "--workers",
        "2",
        "--series",
        str(target),
    )
    with open(target, newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["model", "feed_weight", "run", "tick", "measure", "value"]
    combos = {(r[0], r[1]) for r in rows[1:]}
    assert combos == {("ic", "1.0"), ("ic", "2.0"), ("sir", "1.0"), ("sir", "2.0")} or combos == {
        ("ic", "1"),
        ("ic", "2"),
        ("sir", "1"),
        ("sir", "2"),
    }
    sir_measures = {r[4] for r in rows[1:] if r[0] == "sir"}
    assert sir_measures == {
        "S",
        "I",
        "R",
        "reached",
        "new",
        "depth",
        "breadth",
        "new.S",
        "new.I",
        "new.R",
        "onsets",
        "removals",
    }
    assert data["series_file"]["rows"] == len(rows) - 1
    assert all("series" not in run for c in data["results"] for run in c["per_run"])


def test_bounded_intervals():
    mean, (lo, hi) = mean_ci95([0, 0, 0, 1000], 0, 1000)
    assert mean == 250 and lo == 0 and 0 < hi <= 1000
    mean, (lo, hi) = mean_ci95([1000, 1000, 1000, 0], 0, 1000)
    assert hi == 1000 and 0 <= lo < 750
    m, low, high = mean_ci95_columns(np.array([[0.0, 5.0], [0.0, 5.0], [9.0, 5.0]]), 0, 9)
    assert m.tolist() == [3.0, 5.0] and low[0] == 0.0 and high[0] == 9.0 and low[1] == high[1] == 5.0


def test_sweep_intervals_stay_inside_the_possible(world_file):
    data = sweep(world_file, "--grid", "p=0.02,0.3", "--runs", "3", "--workers", "1")
    for c in data["results"]:
        lo, hi = c["ci95"]
        assert 0 <= lo <= c["mean_reached"] <= hi <= data["agents"]
        flo, fhi = c["fraction_ci95"]
        assert 0 <= flo <= fhi <= 1
        assert c["peak_ci95"][0] >= 0
