"""``agora forecast`` end to end (issue 49): the JSON scripts rely on, the figure, the world file untouched,
bad input in one sentence (exit 2), and ``world.forecast`` from Python giving the same numbers."""

from __future__ import annotations

import json
import os

import pytest
from conftest import agora, digest, one_sentence

import sim


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    """A 3,000-agent world file whose ic session is three ticks into its cascade."""
    folder = tmp_path_factory.mktemp("forecast")
    path = str(folder / "w.db")
    sim.new_world(path, agents=3000, avg_degree=8, seed=7)
    out = agora(folder, "run", path, "--inject", "x", "--model", "ic", "--param", "p=0.1", "--seeds", "random:10",
                "--steps", "3")  # fmt: skip
    assert out.returncode == 0, out.stderr
    return folder, path


def test_the_json_and_the_figure(running):
    folder, path = running
    before = digest(path)
    out = agora(folder, "forecast", path, "--runs", "20", "--until-done", "--arm", "none=none",
                "--arm", "block=block:degree:50", "--seed", "5", "--plot", "f.png", "--json")  # fmt: skip
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert {"branched_at", "runs", "arms", "paired"} <= set(data)
    assert data["runs"] == 20 and data["branched_at"] == 3 and list(data["arms"]) == ["none", "block"]
    for arm in data["arms"].values():
        r = arm["reached"]
        assert {"median", "mean", "ci90"} <= set(r) and r["ci90"][0] <= r["median"] <= r["ci90"][1]
        assert set(arm["series"]) >= {"tick", "reached", "new"} and arm["cascade"] is not None
    assert data["arms"]["none"]["kernel"] == "batched" and data["arms"]["block"]["kernel"] == "engine"
    assert data["paired"]["block"]["reach_diff_mean"] < 0  # blocking the hubs saves agents
    assert os.path.getsize(folder / "f.png") > 10_000
    assert digest(path) == before
    py = sim.open_world(path).forecast(
        runs=20, until_done=True, arms={"none": [], "block": ["block:degree:50"]}, seed=5
    )
    assert py.to_dict()["arms"]["block"]["reached"] == data["arms"]["block"]["reached"]
    assert len(py.to_pandas()) == 40


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--runs", "5", "--ticks", "0"], "--ticks must be from 1 to"),
        (["--runs", "5", "--until-done", "--session", "42"], "the world has no session 42"),
        (["--runs", "5", "--until-done", "--arm", "oops"], "is not NAME=ACTION"),
        (["--runs", "5", "--until-done", "--arm", "x=block:degree"], "arm action 'block:degree': "),
        (["--runs", "1000000", "--until-done"], "--runs must be from 1 to 100,000"),
        (["--runs", "5", "--until-done", "--posterior", "missing.csv"], "missing.csv"),
    ],
)
def test_bad_input_is_one_sentence(running, args, expected):
    folder, path = running
    before = digest(path)
    line = one_sentence(agora(folder, "forecast", path, *args))
    assert expected in line, line
    assert digest(path) == before
