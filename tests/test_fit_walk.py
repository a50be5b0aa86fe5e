"""A random walk of log-transmission with a fitted volatility (issue 75; :mod:`sim.runs.fit.walk`): ``walk`` among a
fit's parameters moves ``beta`` by ``exp(W_d)``, ``W_d`` a Gaussian random walk of standard deviation ``walk`` a
round, a path of each particle's own drawn apart from its run.

1. **The path's law**: the steps of log-transmission are normal with mean 0 and standard deviation ``walk`` (200
   paths), and a given change point multiplies the path.
2. **The same runs on both kernels**: a particle with a walk is, field for field, the same run on the engine and on
   the compiled kernel (a layered world); ``walk = 0`` is the run without it.
3. **Bad input** (out of range, a model with no per-edge parameter) is one sentence.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import kstest
from test_kernel_layers import village

from sim.engine.requests import split_params
from sim.errors import BadParameterError
from sim.model.registry import Registry
from sim.runs.fit.simulate import Simulator
from sim.runs.fit.walk import path, walked

REGISTRY = Registry([])


def test_the_steps_of_log_transmission_are_normal_with_the_walks_deviation():
    steps = np.concatenate([np.diff(np.log(np.concatenate([[1.0], path(0.2, seed, 60)]))) for seed in range(200)])
    assert abs(steps.std() - 0.2) < 0.01 and abs(steps.mean()) < 0.01
    assert kstest(steps / 0.2, "norm").pvalue > 1e-3
    assert np.array_equal(path(0.2, 7, 30), path(0.2, 7, 30)) and not np.array_equal(path(0.2, 7, 30), path(0.2, 8, 30))


def test_a_given_change_point_multiplies_the_path():
    params = walked({"beta": 0.1, "gamma": 0.2, "beta~10": 0.5}, "beta", 0.1, 3, 20)
    p = path(0.1, 3, 20)
    got = np.array([params[f"beta~{d}"] for d in range(1, 21)])
    assert np.allclose(got[:9], p[:9], rtol=0, atol=0) and np.allclose(got[9:], p[9:] * 0.5, rtol=0, atol=0)
    assert walked({"beta": 0.1}, "beta", 0.0, 3, 20) == {"beta": 0.1}


@pytest.fixture(scope="module")
def world():
    return village(people=300)


def _sim(world, texts, kernel):
    priors, fixed = split_params(texts)
    return Simulator(
        world, REGISTRY, model="seir", priors=priors, fixed=fixed, seeds="random:3", steps=40, max_ticks=200,
        kernel=kernel,
    )  # fmt: skip


LAYERED = ["beta=0.1", "beta@household=0.3", "beta@class=0.03", "sigma=0.4", "gamma=0.2", "gamma_stages=2"]


def test_a_walk_is_the_same_run_on_the_engine_and_the_kernel(world):
    runs = {}
    for kernel in ("engine", "batched"):
        sim = _sim(world, [*LAYERED, "walk=0..0.5", "beta@class~12=0"], kernel)
        assert sim.batched == (kernel == "batched")
        runs[kernel] = [r for seed in range(4) for r in sim.runs(np.array([0.3]), seed)]
    for mine, theirs in zip(runs["batched"], runs["engine"], strict=True):
        assert {k: v for k, v in mine.items() if k != "seconds"} == {k: v for k, v in theirs.items() if k != "seconds"}
    still = [r for seed in range(4) for r in _sim(world, [*LAYERED, "walk=0"], "batched").runs(np.zeros(0), seed)]
    plain = [r for seed in range(4) for r in _sim(world, LAYERED, "batched").runs(np.zeros(0), seed)]
    assert [r["series"] for r in still] == [r["series"] for r in plain]
    assert [r["series"] for r in runs["batched"]] != [r["series"] for r in plain]


@pytest.mark.parametrize(
    ("model", "texts", "said"),
    [
        ("seir", ["walk=0..3"], "walk is the standard deviation of log-transmission's step a round, from 0 to 2"),
        ("seir", ["walk=-1"], "from 0 to 2"),
        ("lt", ["walk=0..0.2"], "walk moves a model's one parameter that acts along edges, and lt has none"),
    ],
)
def test_a_bad_walk_is_one_sentence(world, model, texts, said):
    priors, fixed = split_params(texts)
    with pytest.raises(BadParameterError, match=said) as err:
        Simulator(world, REGISTRY, model=model, priors=priors, fixed=fixed, seeds="random:3", steps=10, max_ticks=50)
    assert "\n" not in str(err.value)
