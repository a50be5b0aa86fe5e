"""Imported cases (``sim.model.imports``; issue 73): agents infected from outside at given ticks or at a rate.

1. **The kernel is the engine.** A compiled ``sir`` or ``seir`` run with importations draws what the engine's
   session draws, in the same order: every field of its report equals the engine's run of the same seed (the
   series, ``imported`` among them, the forest's measures, ``graph_reached``), with counts, a rate within the
   counts and a rate after them, seeds or none, to the end or cut short.
2. **What an importation is.** The counts come in at their ticks (as many as asked while agents are free),
   enter the seed state with no source, and a fit's runs count them out of the local cases.
3. **The draws.** The Poisson count by inversion follows Poisson's law; the choice falls back to the listed
   free agents when random ones are taken.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.engine.requests import split_params
from sim.errors import BadParameterError
from sim.model.imports import Imports, choose, local_counts, poisson_inverse
from sim.model.registry import Registry
from sim.runs.fit.simulate import Simulator
from sim.store.create import synthetic_world


@pytest.fixture(scope="module")
def world():
    return synthetic_world("imports", 300, avg_degree=5, seed=11)


@pytest.fixture(scope="module")
def registry():
    return Registry([])


def _simulator(world, registry, model, kernel, *, seeds="random:2", steps=25, params=None, rate=None):
    texts = params or (["beta=0.05..0.3", "gamma=0.1..0.4"] + (["sigma=0.2..0.6"] if model == "seir" else []))
    if rate is not None:
        texts = [*texts, f"import={rate}"]
    priors, fixed = split_params(texts)
    return Simulator(
        world,
        registry,
        model=model,
        priors=priors,
        fixed=fixed,
        seeds=seeds,
        steps=steps,
        max_ticks=60,
        replicates=3,
        kernel=kernel,
    )


COUNTS = np.array([1, 0, 0, 2, 0, 0, 0, 1, 0, 0, 3, 0, 0, 0, 0, 0, 1], dtype=np.int64)


@pytest.mark.parametrize("model", ["sir", "seir"])
@pytest.mark.parametrize(
    ("seeds", "steps", "rate", "after"),
    [
        ("random:2", 25, None, 0.0),  # counts only, cut short
        ("none", 25, None, 0.0),  # imports alone start the epidemic
        ("random:1", None, None, 0.0),  # to the end: not done while an importation is to come
        ("random:1", 30, "0.4", 0.0),  # a rate within the counts
        ("none", 30, "0.2", 0.5),  # and a rate after them
        ("random:1", 20, "40", 0.0),  # more than the world holds: the listed free agents, then nobody left
        ("random:1", None, "0.05", 0.0),  # a rate: never done, to max-ticks even when nobody is infectious
    ],
)
def test_a_kernel_run_with_imports_is_the_engines_run(world, registry, model, seeds, steps, rate, after):
    runs = {}
    for kernel in ("engine", "batched"):
        sim = _simulator(world, registry, model, kernel, seeds=seeds, steps=steps, rate=rate)
        sim.importing(COUNTS, after=after)
        assert sim.batched == (kernel == "batched")
        row = np.array([0.25, 0.2] + ([0.5] if model == "seir" else []))
        runs[kernel] = [r for seed in range(4) for r in sim.runs(row, seed)]
    checked = 0
    for mine, theirs in zip(runs["batched"], runs["engine"], strict=True):
        for key in set(mine) | set(theirs):
            if key != "seconds":
                assert mine.get(key) == theirs.get(key), (key, mine.get(key), theirs.get(key))
        checked += sum(mine["series"]["imported"])
    assert checked > 0  # importations happened: the comparison covers them
    got = runs["engine"][0]
    imported = got["series"]["imported"]
    if rate is None:
        # The counts came in at their ticks, all of them (the world has free agents left).
        n = min(len(imported), COUNTS.size)
        assert imported[:n] == COUNTS[:n].tolist()
    if seeds == "none":
        assert got["seeds"] == 0 and got["reached"] >= sum(imported)
    if rate is not None and steps is None:  # an importation may always come: never done
        assert {r["status"] for r in runs["engine"]} == {"max-ticks"}


def test_imported_agents_are_roots_of_the_forest_and_counted_apart(world, registry):
    sim = _simulator(world, registry, "sir", "engine", seeds="random:1", steps=20)
    sim.importing(COUNTS)
    run = sim.runs(np.array([0.0, 0.2]), 3)[0]  # beta 0: nobody is infected along an edge
    series = run["series"]
    total = int(sum(series["imported"]))
    assert total == int(COUNTS[:20].sum())
    assert run["reached"] == 1 + total and run["graph_reached"] == 0
    assert run["cascade"]["trees"] == 1 + total  # each imported agent a root
    # The fit's runs count them out of the local cases: new is 0 after the seeding, reached keeps them.
    assert series["new"] == [1] + [0] * (len(series["new"]) - 1)
    assert series["reached"][-1] == 1 + total


def test_local_counts_take_the_imported_out_of_the_seed_states_entries_only():
    series = {"new": [3, 2, 1], "onsets": [3, 2, 1], "new.I": [3, 2, 1], "new.E": [0, 4, 4], "imported": [1, 1, 0]}
    got = local_counts(series, list(series), "I", onset=True)
    assert got["new"] == got["onsets"] == got["new.I"] == [2, 1, 1] and got["new.E"] == [0, 4, 4]
    assert local_counts(series, list(series), "I", onset=False)["onsets"] == [3, 2, 1]


def test_the_poisson_count_by_inversion_follows_poissons_law():
    rng = np.random.default_rng(5)
    lam = 2.5
    draws = np.array([poisson_inverse(u, lam, math.exp(-lam)) for u in rng.random(20_000)])
    for k in range(6):
        want = math.exp(-lam) * lam**k / math.factorial(k)
        assert abs(np.mean(draws == k) - want) < 4 * math.sqrt(want * (1 - want) / draws.size)


def test_choose_falls_back_to_the_listed_free_agents():
    free = np.zeros(1000, dtype=bool)
    free[[7, 500]] = True
    # The first: 64 taken agents (agent 0), then the second of the two listed (500); the second: agent 7 at once;
    # the third: 64 taken agents, and nobody listed (no number drawn to pick among none).
    drawn = [0.0] * 64 + [0.75] + [0.0075] + [0.3] * 64
    numbers = iter(drawn)
    got = choose(free, 3, lambda: next(numbers))
    assert got.tolist() == [500, 7] and not free.any()
    assert next(numbers, None) is None  # every number drawn, none more


def test_bad_imports_are_one_sentence(world, registry):
    with pytest.raises(BadParameterError, match="whole numbers from 0"):
        Imports(np.array([1, -1]))
    with pytest.raises(BadParameterError, match="from 0 to 500"):
        Imports(np.zeros(2, dtype=np.int64), rate=600.0)
    with pytest.raises(BadParameterError, match="import=.* from 0 to 500"):
        _simulator(world, registry, "sir", "engine", rate="-1")
