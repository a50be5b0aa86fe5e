"""Issue 73: a world that stands for a population (``--people N``): simulated counts scaled by N / agents before
the reporting fraction, so that ``report`` means the same whatever the world's size."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import agora, one_sentence

from sim.runs.fit.reporting import observation_for, scaled


def test_scaled_counts_keep_their_mean_and_whole_numbers():
    rng = np.random.default_rng(73)
    counts = np.array([0, 1, 3, 10, 200])
    draws = np.array([scaled(counts, 2.5, rng) for _ in range(4000)])
    assert draws.dtype == np.int64
    assert set(np.unique(draws[:, 1]).tolist()) == {2, 3}  # 2.5 people: 2 or 3
    np.testing.assert_allclose(draws.mean(axis=0), counts * 2.5, rtol=0.01, atol=0.02)
    assert (scaled(counts, 4.0, rng) == counts * 4).all()  # a whole scale is exact


def test_a_scale_alone_is_an_observation_model_and_says_so():
    obs = observation_for("sir", {}, ["beta"], {}, None, ["new"], 10, scale=25.0)
    assert obs is not None and obs.scale == 25.0 and obs.to_dict()["scale"] == 25.0
    assert observation_for("sir", {}, ["beta"], {}, None, ["new"], 10) is None


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("people")
    assert agora(path, "new", "w.db", "--agents", "300", "--seed", "3").returncode == 0
    (path / "c.csv").write_text("day,cases\n" + "".join(f"{d},{c}\n" for d, c in enumerate([5, 40, 400, 900, 300, 60])))
    return path


FIT = ("--observe", "cases=new", "--model", "sir", "--param", "beta=0.01..1", "--param", "gamma=0.05..1")


def test_counts_above_the_agents_are_read_when_the_world_stands_for_more(folder):
    """900 cases in a day are more than the 300 agents (refused), not more than the 3,000 people they stand for."""
    out = agora(folder, "fit", "w.db", "--observed", "c.csv", *FIT, "--budget", "100", "--workers", "1")
    assert out.returncode == 2 and "more than the world's 300 agents" in one_sentence(out)
    out = agora(
        folder, "fit", "w.db", "--observed", "c.csv", *FIT, "--param", "report=0.05..1", "--people", "3000",
        "--budget", "100", "--workers", "1", "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr


def test_a_population_smaller_than_the_world_is_refused(folder):
    out = agora(folder, "fit", "w.db", "--observed", "c.csv", *FIT, "--people", "200", "--budget", "100")
    assert out.returncode == 2
    assert "--people 200 is fewer than the world's 300 agents" in one_sentence(out)
