"""Forecasts (issue 49, ``sim.runs.forecast``): run r of arm A is the world saved, A applied, the session
reseeded ``S + r`` and stepped on, field for field, for ic, sir and an opinion model with a recommender on;
the compiled kernels' continuations are the engine's; identical arms differ by exactly 0; the world is never
changed; bad requests are one sentence."""

from __future__ import annotations

import asyncio
import time

import pytest

from sim.core.world import World
from sim.engine.simulation import Simulation
from sim.errors import BadParameterError
from sim.model.registry import Registry
from sim.runs.forecast import Forecast, run_forecast
from sim.runs.reports import TOTALS, RunEntry, no_totals
from sim.runs.runner import run_entry
from sim.store.create import synthetic_world
from sim.store.snapshot import load_snapshot, save_snapshot

#: (model, params, seeds, ticks before the branch, recommender)
CASES = {
    "ic": ({"p": 0.15}, "random:4", 3, None),
    "sir": ({"beta": 0.2, "gamma": 0.3}, "random:4", 3, None),
    "deffuant": ({}, "random:40", 3, "random"),
}


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry([])


def _mid_cascade(registry: Registry, model: str, tmp_path) -> tuple[World, str]:
    params, seeds, ticks, recommender = CASES[model]
    world = synthetic_world("forecast", 800, avg_degree=7, seed=3)
    sim = Simulation(world, registry=registry)
    if recommender:
        sim.social.configure(recommender=recommender)
    sim.inject("m", seeds=seeds, model=model, params=params, seed=5)
    for _ in range(ticks + 1):
        sim.step_now()
    path = str(tmp_path / f"{model}.snap")
    save_snapshot(world, path)
    return world, path


def _saved_and_continued(
    path: str, registry: Registry, actions: list[str], seed: int, until_done: bool, limit: int
) -> RunEntry:
    """The reference: the saved world reopened, the arm's actions applied, the session reseeded and stepped."""
    world = load_snapshot(path)
    (s,) = [x for x in world.sessions if x.status == "running"]
    s.reseed(world.seed, seed)
    sim = Simulation(world, registry=registry, plugins_in_thread=True)
    for a in actions:
        sim.intervene(a, model=s.model_name, journal=False, audit=False)
    t0, done, totals = time.perf_counter(), 0, no_totals()
    while done < limit and not (until_done and s.status != "running"):
        m = sim.step_now()
        for k in TOTALS:
            totals[k] += int(m.get(k, 0))
        done += 1
    out = run_entry(sim, s.id, done, time.perf_counter() - t0, totals, until_done=until_done, ensemble=True)
    out["seed"] = seed
    return out


def _same(mine: RunEntry, theirs: RunEntry, where: object) -> None:
    for key in set(mine) | set(theirs):
        if key != "seconds":
            assert mine.get(key) == theirs.get(key), (where, key, mine.get(key), theirs.get(key))


@pytest.mark.parametrize("model", list(CASES))
def test_each_run_is_the_saved_world_continued(registry, tmp_path, model):
    world, path = _mid_cascade(registry, model, tmp_path)
    tick, before = world.tick, [s.to_record() for s in world.sessions]
    arms = ["none=none", "block=block:degree:20", "again=none"]
    request = Forecast.parse({"runs": 4, "ticks": 6, "arms": arms, "seed": 40, "kernel": "engine"})
    result = asyncio.run(run_forecast(world, registry, request))
    assert world.tick == tick and [s.to_record() for s in world.sessions] == before  # never changed
    for arm, actions in (("none", []), ("block", ["block:degree:20"])):
        for r, run in enumerate(result.arms[arm].runs):
            _same(run, _saved_and_continued(path, registry, actions, 40 + r, False, 6), (model, arm, r))
    paired = result.arms["again"].paired
    assert paired is not None and paired["reach_diff_mean"] == 0 and paired["reach_diff_ci95"] == [0, 0]
    assert result.arms["block"].paired is not None


@pytest.mark.parametrize("model", ["ic", "sir"])
def test_the_kernels_continue_as_the_engine_does(registry, tmp_path, model):
    world, _ = _mid_cascade(registry, model, tmp_path)
    asked = {"runs": 6, "until_done": True, "seed": 9}
    engine = asyncio.run(run_forecast(world, registry, Forecast.parse({**asked, "kernel": "engine"})))
    kernel = asyncio.run(run_forecast(world, registry, Forecast.parse({**asked, "kernel": "auto"})))
    assert kernel.arms["none"].kernel == "batched" and engine.arms["none"].kernel == "engine"
    for r, (a, b) in enumerate(zip(engine.arms["none"].runs, kernel.arms["none"].runs, strict=True)):
        _same(b, a, (model, r))
    assert kernel.to_dict()["arms"]["none"]["reached"] == engine.to_dict()["arms"]["none"]["reached"]


def test_the_same_forecast_whatever_the_workers(registry, tmp_path):
    world, _ = _mid_cascade(registry, "ic", tmp_path)
    asked = {"runs": 6, "ticks": 5, "seed": 3, "arms": ["block=block:degree:10"]}
    one, two = (asyncio.run(run_forecast(world, registry, Forecast.parse({**asked, "workers": w}))) for w in (1, 2))
    assert one.arms["block"].kernel == "engine"
    for a, b in zip(one.arms["block"].runs, two.arms["block"].runs, strict=True):
        _same(a, b, "workers")


def test_a_parameter_arm(registry, tmp_path):
    world, path = _mid_cascade(registry, "ic", tmp_path)
    request = Forecast.parse({"runs": 3, "until_done": True, "seed": 2, "arms": ["slow=set:p=0.01"]})
    result = asyncio.run(run_forecast(world, registry, request))
    engine = asyncio.run(
        run_forecast(
            world,
            registry,
            Forecast.parse({"runs": 3, "until_done": True, "seed": 2, "arms": ["slow=set:p=0.01"], "kernel": "engine"}),
        )
    )
    assert result.arms["slow"].kernel == "batched"
    for a, b in zip(result.arms["slow"].runs, engine.arms["slow"].runs, strict=True):
        _same(a, b, "slow")


@pytest.mark.parametrize(
    ("asked", "expected"),
    [
        ({"runs": 2, "ticks": 0}, "^ticks must be from 1 to"),
        ({"runs": 2}, "give the horizon"),
        ({"runs": 0, "until_done": True}, "^runs must be from 1 to"),
        ({"runs": 10**9, "until_done": True}, "^runs must be from 1 to"),
        ({"runs": 2, "until_done": True, "session": 99}, "the world has no session 99"),
        ({"runs": 2, "until_done": True, "arms": ["x"]}, "is not NAME=ACTION"),
        ({"runs": 2, "until_done": True, "arms": ["x=explode:3"]}, "is not none, set:NAME=VALUE or an intervention"),
        ({"runs": 2, "until_done": True, "arms": ["x=set:q=1"]}, "ic has no parameter 'q'"),
        ({"runs": 2, "until_done": True, "arms": ["x=set:p=7"]}, "p"),
    ],
)
def test_bad_requests_are_one_sentence(registry, tmp_path, asked, expected):
    world, _ = _mid_cascade(registry, "ic", tmp_path)
    tick = world.tick
    with pytest.raises(BadParameterError, match=expected.replace("(", r"\(")):
        asyncio.run(run_forecast(world, registry, Forecast.parse(asked)))
    assert world.tick == tick
