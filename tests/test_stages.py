"""Erlang stages of the latent and infectious periods (issue 75): ``gamma_stages=k`` (``sir``, ``sis``, ``seir``) and
``sigma_stages=k`` (``seir``) make a period k stages, each ending with ``min(1, k * rate)`` a round, so that its mean
stays ``1 / rate`` and its spread shrinks with k (a geometric period for k = 1, the models as they were).

1. **Exact law.** With ``beta = 0`` every seed's infectious period is ``k`` plus a negative binomial number of
   rounds (``k`` successes of chance ``p = min(1, k * gamma)``): the recoveries per round of 4,000 seeds follow
   that law (chi-squared), on the engine and the compiled kernel, and its mean is ``1 / gamma``.
2. **Seed for seed.** A kernel run with stages is the engine's run of the same seed, every field of its report
   (``sir``, ``seir`` with both stages, with layers and change points, with imported cases), both ways the kernel
   reads its edges.
3. **Bad input**: 0 or 65 stages, stages of a period the model does not have: one sentence.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from scipy.stats import chisquare, nbinom
from test_kernel_layers import _same_runs, reads, village  # noqa: F401 - reads: a fixture

from sim.engine.requests.priors import Priors
from sim.errors import BadParameterError
from sim.model.registry import Registry
from sim.runs.fit.simulate import Simulator
from sim.runs.runner import run_cascades
from sim.store.create import synthetic_world

REGISTRY = Registry([])


@pytest.fixture(scope="module")
def worlds():
    return {"one": synthetic_world("plain", 4000, avg_degree=6, seed=3), "layered": village()}


def _run(world, **kw):
    base = {"registry": REGISTRY, "text": "m", "seeds": "random:3", "seed": 11, "until_done": True, "runs": 6}
    return asyncio.run(run_cascades(world, **{**base, **kw}))


@pytest.mark.parametrize("kernel", ["batched", "engine"])
@pytest.mark.parametrize(("k", "gamma"), [(3, 0.2), (5, 0.25), (2, 0.8)])  # the last: p = min(1, 1.6) = 1
def test_an_infectious_period_of_k_stages_follows_its_negative_binomial_law(worlds, kernel, k, gamma):
    params = {"beta": 0.0, "gamma": gamma, "gamma_stages": k}
    run = _run(worlds["one"], kernel=kernel, model="sir", params=params, seeds="random:4000", runs=1)["runs"][0]
    removed = np.diff(np.asarray(run["series"]["R"]))  # recoveries in rounds 1, 2, ...: a seed's period
    assert removed.sum() == 4000
    p = min(1.0, k * gamma)
    t = np.arange(1, removed.size + 1)
    if p == 1.0:  # every stage ends at once: exactly k rounds
        assert removed[k - 1] == 4000
        return
    expected = 4000 * nbinom.pmf(t - k, k, p)
    last = int(np.flatnonzero(expected >= 5)[-1])  # rounds from k to here, then the tail pooled
    obs = np.append(removed[k - 1 : last], removed[last:].sum())
    exp = np.append(expected[k - 1 : last], 4000 - expected[k - 1 : last].sum())
    assert exp.min() >= 5 and chisquare(obs, exp).pvalue > 1e-3
    assert abs((removed * t).sum() / 4000 - 1 / gamma) < 4 * np.sqrt(k * (1 - p) / p**2 / 4000)
    assert removed[: k - 1].sum() == 0  # no period shorter than k rounds


LAYERED = {"beta": 0.1, "beta@household": 0.3, "beta@class": 0.05, "gamma": 0.2}


@pytest.mark.parametrize(
    ("where", "model", "params"),
    [
        ("one", "sir", {"beta": 0.08, "gamma": 0.2, "gamma_stages": 3}),
        ("one", "seir", {"beta": 0.1, "sigma": 0.3, "gamma": 0.15, "sigma_stages": 2, "gamma_stages": 4}),
        ("layered", "seir", {**LAYERED, "sigma": 0.4, "sigma_stages": 3, "gamma_stages": 2, "beta@class~6": 0.0}),
        ("layered", "sir", {**LAYERED, "gamma_stages": 5, "beta~4": 0.5}),
    ],
)
@pytest.mark.usefixtures("reads")
def test_a_run_with_stages_is_the_engines_run_of_the_same_seed(worlds, where, model, params):
    kw = {"model": model, "params": params}
    got = _run(worlds[where], kernel="batched", **kw)
    _same_runs(got, _run(worlds[where], kernel="engine", **kw))
    assert len({r["reached"] for r in got["runs"]}) > 1
    plain = {k: v for k, v in params.items() if "stages" not in k}
    assert [r["series"] for r in _run(worlds[where], kernel="batched", model=model, params=plain)["runs"]] != [
        r["series"] for r in got["runs"]
    ]  # the stages changed the runs: the comparison tests them


def test_stages_with_imported_cases_are_the_engines_runs(worlds):
    counts = np.array([1, 0, 0, 2, 0, 0, 0, 1, 0, 0, 3], dtype=np.int64)
    fixed = {"beta": "0.05", "sigma_stages": "2", "gamma_stages": "3"}
    runs = {}
    for kernel in ("engine", "batched"):
        sim = Simulator(
            worlds["one"], REGISTRY, model="seir", priors=Priors(()), fixed=fixed, seeds="random:2", steps=20,
            max_ticks=60, replicates=3, kernel=kernel,
        )  # fmt: skip
        sim.importing(counts, after=0.5)
        assert sim.batched == (kernel == "batched")
        runs[kernel] = [r for seed in range(3) for r in sim.runs(np.zeros(0), seed)]
    for mine, theirs in zip(runs["batched"], runs["engine"], strict=True):
        assert {k: v for k, v in mine.items() if k != "seconds"} == {k: v for k, v in theirs.items() if k != "seconds"}
    assert sum(sum(r["series"]["imported"]) for r in runs["engine"]) > 0


@pytest.mark.parametrize(("params", "said"), [({"gamma_stages": 0}, "gamma_stages"), ({"gamma_stages": 65}, "64")])
def test_bad_stages_are_one_sentence(params, said):
    with pytest.raises(BadParameterError, match=said) as err:
        REGISTRY.model("sir").validate(params)
    assert "\n" not in str(err.value)
    with pytest.raises(BadParameterError, match="has no parameter 'sigma_stages'"):
        REGISTRY.model("sir").validate({"sigma_stages": 2})
