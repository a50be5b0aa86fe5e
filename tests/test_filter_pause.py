"""Issue 75: the particle filter goes on with its particles from where each was paused
(:func:`sim.runs.epidemic_kernels.epidemic_paused`), not from the start at every resampling: a run paused and
resumed at any ticks is the run made in one call, field for field (with a branch, Erlang stages, a fitted start,
imported cases, a change point and a walk), and the filter's particles at the end are the runs their seeds and
branches make from the start."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from conftest import agora

from sim.engine.requests import Fit
from sim.model.registry import plugin_registry
from sim.runs.backtest.filtering import Run, _fresh, particle_filter, trajectories
from sim.runs.epidemic_kernels import NO_RESEEDS, NOT_PAUSED
from sim.runs.fit.fitting import Plan
from sim.store.observed import read_observed
from sim.store.worldread import open_world


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A 300-agent world and a 40-tick series to fit (its counts do not matter here)."""
    folder = tmp_path_factory.mktemp("pause")
    assert agora(folder, "new", "w.db", "--agents", "300", "--seed", "5").returncode == 0
    (folder / "y.csv").write_text("tick,new\n" + "".join(f"{t},0\n" for t in range(40)))
    return folder


def _plan(folder, model: str, params: dict[str, object]) -> Plan:
    async def go():
        w = await open_world(str(folder / "w.db"))
        registry = plugin_registry(str(folder / "w.db"), ())
        request = Fit.parse({"observed": str(folder / "y.csv"), "model": model, "params": params,
                             "seeds": "random:3", "budget": 100, "workers": 1})  # fmt: skip
        states = ("S", "I", "R") if model == "sir" else ("S", "E", "I", "R")
        return Plan(w, registry, request, read_observed(request.observed, w, states))

    return asyncio.run(go())


CASES = {
    "sir, imports, a change point and a walk": (
        "sir",
        {"beta": (0.01, 0.2), "gamma": (0.05, 0.5), "import": (0.1, 0.5), "walk": (0.1, 0.3), "beta~6": (0.2, 0.5)},
        [0.105, 0.275, 0.3, 0.2, 0.35],
    ),
    "seir, Erlang stages and a fitted start": (
        "seir",
        {
            "beta": (0.01, 0.2),
            "gamma": (0.05, 0.5),
            "sigma": (0.1, 0.9),
            "gamma_stages": "3",
            "sigma_stages": "2",
            "start": (0, 6),
        },  # fmt: skip
        [0.105, 0.275, 0.5, 3.0],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_run_paused_and_resumed_is_the_run_made_at_once(world, case):
    """60 runs, each with a branch at round 5, made in one call and in six (paused at ticks 2, 4, 5, 9, 17, then
    to the end): the same report, every field but its seconds; a run paused past its end goes on as ended; any
    column of counts alone (``only``, a filter's blocks) is the report's (all but the forest's depth and breadth)."""
    model, params, row = CASES[case]
    sim_ = _plan(world, model, params).simulator_for(30)
    assert sim_.branches
    fresh = _fresh(np.random.default_rng(0), 60)
    grew = 0
    for s in range(60):
        branch = np.concatenate([[np.uint64(5)], fresh[s]])[None, :]
        whole = sim_.true_runs(np.array(row), s, branch)[0]
        paused = NOT_PAUSED
        for stop in (2, 4, 5, 9, 17, None):
            pieces = sim_.true_runs(np.array(row), s, branch, paused=paused, until=stop)[0]
            assert sim_.paused is not None
            if stop is not None:
                grew += len(pieces["series"]["new"]) == stop + 1
            paused = sim_.paused
        whole.pop("seconds")
        pieces.pop("seconds")
        assert pieces == whole, s
        for column in whole["series"]:
            sim_.true_runs(np.array(row), s, branch, paused=NOT_PAUSED, until=9, only=column)
            alone = sim_.true_runs(np.array(row), s, branch, paused=sim_.paused, only=column)[0]
            assert "cascade" not in alone and alone["rounds"] == whole["rounds"]
            if column not in ("depth", "breadth"):
                assert alone["series"][column] == whole["series"][column], (s, column)
    assert grew > 60  # most runs went on past the early pauses (the test is not of runs that ended at once)


def test_the_filters_particles_are_the_runs_their_seeds_and_branches_make(world):
    """After the filter (resampling many times on a 30-tick series), each particle's counts over the span are the
    run its parameters, seed and branches make from the start in one call."""
    plan = _plan(world, "sir", {"beta": (0.01, 0.2), "gamma": (0.05, 0.5)})
    span, p = 34, 200
    sim_ = plan.simulator_for(span)
    rows = np.tile([0.03, 0.1], (p, 1))
    seeds = np.arange(p) + 7
    true, ok = trajectories(sim_, rows, seeds, "new", span)
    assert ok.all()
    y = np.maximum(true[0, :30], 0.0)  # one of them as the data, without noise: the others fall behind it
    start = Run(rows, seeds, [NO_RESEEDS] * p, true, np.ones(p))
    end, logw, ess, _, resampled = particle_filter(
        sim_, start, "new", y, (None, 1.0, "negbin", 5.0), np.random.default_rng(3)
    )
    assert resampled >= 3 and np.isfinite(logw).any()
    assert sum(b.shape[0] for b in end.branches) >= 3 * p
    for j in range(p):
        again = sim_.true_runs(end.rows[j], int(end.seeds[j]), end.branches[j])[0]["series"]["new"]
        want = np.zeros(span)
        want[: min(span, len(again))] = again[:span]
        assert end.true[j].tolist() == want.tolist(), j
