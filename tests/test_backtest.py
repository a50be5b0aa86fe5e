"""Backtests (issue 61): the runner's parts and its numbers, on a small generated world whose curve Agora simulated
itself (``backtest_world``). The command line's findings are in tests/test_backtest_cli.py."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import json

import numpy as np
import pytest
from conftest import agora, data_file

import sim
from sim.engine.requests import Backtest, Fit
from sim.errors import BadParameterError
from sim.model.registry import plugin_registry
from sim.runs.backtest import run_backtest
from sim.runs.backtest.figure import shown
from sim.runs.backtest.forecasts import agora_draws
from sim.runs.backtest.timeline import Timeline
from sim.runs.fit.abc import Settings, abc_smc
from sim.runs.fit.fitting import Plan, run_fit
from sim.store.observed import ObservedSeries, read_observed
from sim.store.worldfile import open_world

PRIORS = {"beta": (0.005, 0.1), "gamma": (0.05, 0.5)}


@pytest.fixture(scope="module")
def backtest_world(tmp_path_factory):
    """A world of 1,000 agents and the new cases per tick of one sir run on it (beta 0.025, gamma 0.1, 5 random
    seeds): 60 ticks, a peak of 46 around tick 13, 701 cases."""
    folder = tmp_path_factory.mktemp("backtest")
    done = agora(folder, "new", "w.db", "--agents", "1000", "--seed", "3")
    assert done.returncode == 0, done.stderr
    done = agora(
        folder, "run", "w.db", "--inject", "x", "--model", "sir", "--param", "beta=0.025", "--param", "gamma=0.1",
        "--seeds", "random:5", "--steps", "60", "--runs", "1", "--seed", "11", "--series", "s.csv",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with open(folder / "s.csv", newline="") as f:
        new = [int(float(r["value"])) for r in csv.DictReader(f) if r["measure"] == "new"]
    (folder / "curve.csv").write_text("tick,new\n" + "".join(f"{t},{v}\n" for t, v in enumerate(new)))
    return folder


def _request(folder, **more) -> Backtest:
    fields = {"observed": str(folder / "curve.csv"), "model": "sir", "params": PRIORS, "seeds": "random:5"}
    return Backtest.parse(fields | more)


def _run(folder, request: Backtest, **kw):
    async def go():
        world = await open_world(str(folder / "w.db"))
        return await run_backtest(world, plugin_registry(str(folder / "w.db"), ()), request, **kw)

    return asyncio.run(go())


def _same(result) -> dict:
    """The report without its clocks and how it ran."""
    data = json.loads(json.dumps(result.to_dict()))
    for key in ("seconds", "parallel", "workers"):
        data.pop(key)
    for cut in data["cuts"]:
        cut.pop("seconds")
        if cut["fit"]:
            cut["fit"].pop("seconds")
    return data


# --- the parts ------------------------------------------------------------------------------------------------


def test_the_sampler_keeps_each_accepted_particles_run_seed():
    """A made-up simulator whose statistic is a function of the parameter and the run seed: re-simulating each
    particle of the final population with its recorded seed gives back exactly the statistics it was accepted for."""

    def stat(x: np.ndarray, seeds: np.ndarray) -> np.ndarray:
        noise = np.array([np.random.default_rng(int(s)).normal() for s in seeds])
        return (x[:, 0] + 0.1 * noise)[:, None]

    async def evaluate(x, seeds):
        return stat(x, seeds), np.zeros(x.shape[0], dtype=bool)

    priors = Fit.parse({"observed": "x.csv", "params": {"p": (0.0, 1.0)}}).priors
    result = asyncio.run(abc_smc(evaluate, np.array([0.4]), priors, Settings(population=50, budget=600, seed=3)))
    assert len(result.generations) > 1 and result.run_seeds is not None
    assert np.array_equal(
        stat(result.x if result.raw_x is None else result.raw_x, result.run_seeds)[:, 0], result.stats[:, 0]
    )
    assert np.unique(result.run_seeds).size == result.run_seeds.size


@pytest.mark.slow
def test_a_continued_particle_repeats_its_run_up_to_the_cut(backtest_world):
    """The continuation simulator (the fit's, 10 ticks longer) gives each accepted particle the same counts per
    tick up to the cut as the fit's own simulator, and goes on after it."""
    folder = backtest_world

    async def go():
        world = await open_world(str(folder / "w.db"))
        registry = plugin_registry(str(folder / "w.db"), ())
        request = Fit.parse({"observed": str(folder / "curve.csv"), "model": "sir", "params": PRIORS,
                             "seeds": "random:5", "budget": 300, "workers": 1})  # fmt: skip
        full = read_observed(request.observed, world, ("S", "I", "R"))
        assert isinstance(full, ObservedSeries)
        cut = ObservedSeries(full.path, full.ticks[:21], {"new": full.columns["new"][:21]})
        fit = await run_fit(world, registry, request, observed=cut)
        plan = Plan(world, registry, request, cut)
        return fit, plan.simulator, plan.simulator_for(31)

    fit, short, longer = asyncio.run(go())
    assert short.request.steps == 21 and longer.request.steps == 31
    went_on = 0
    for i in range(0, fit.accepted.shape[0], 7):
        a = short.runs(fit.accepted[i], int(fit.run_seeds[i]))[0]["series"]["new"]
        b = longer.runs(fit.accepted[i], int(fit.run_seeds[i]))[0]["series"]["new"]
        assert list(b[: len(a)]) == list(a) and len(b) >= len(a)  # a spread that died out stops as it did
        went_on += len(b) > len(a) == 21
    assert went_on >= 3


@pytest.mark.slow
def test_the_forecast_leaves_out_trajectories_extinct_where_the_data_still_count_cases(backtest_world):
    """One seed: many accepted simulations died out before the cut at tick 20, where the data count 230 cases in
    the last week. Conditioned (``recent``), every draw is the continuation of a particle whose trajectory has
    cases in ticks 14-20, resampled by weight, and the share of weight kept is theirs; unconditioned, the draws
    include the extinct ones' zeros."""
    folder = backtest_world

    async def go():
        world = await open_world(str(folder / "w.db"))
        registry = plugin_registry(str(folder / "w.db"), ())
        request = Fit.parse({"observed": str(folder / "curve.csv"), "model": "sir", "params": PRIORS,
                             "seeds": "random:1", "budget": 1500, "workers": 1, "seed": 2})  # fmt: skip
        full = read_observed(request.observed, world, ("S", "I", "R"))
        cut = ObservedSeries(full.path, full.ticks[:21], {"new": full.columns["new"][:21]})
        fit = await run_fit(world, registry, request, observed=cut)
        return fit, Plan(world, registry, request, cut), float(full.columns["new"][14:21].sum())

    fit, plan, recent = asyncio.run(go())
    assert recent > 0
    sim_ = plan.simulator_for(28)
    live = np.flatnonzero(fit.weights > 0)
    shown, rows = {}, {}
    for i in live.tolist():
        series = np.zeros(28)
        got = sim_.runs(fit.accepted[i], int(fit.run_seeds[i]))[0]["series"]["new"]
        series[: len(got)] = got[:28]
        shown[i], rows[i] = series[14:21].sum(), tuple(series[21:28])
    alive = [i for i in live.tolist() if shown[i] > 0]
    expected = float(fit.weights[alive].sum() / fit.weights[live].sum())
    assert 0 < expected < 0.95  # some, not all, of the weight is on extinct trajectories
    draws, failed, share = agora_draws(plan, fit, 20, 7, "new", 500, np.random.default_rng(1), recent)
    assert failed == 0 and share == pytest.approx(expected) and draws.shape == (500, 7)
    assert {tuple(r) for r in draws.tolist()} <= {rows[i] for i in alive}
    plain, _, none = agora_draws(plan, fit, 20, 7, "new", 500, np.random.default_rng(1), None)
    assert none is None and (plain.sum(axis=1) == 0).mean() > (draws.sum(axis=1) == 0).mean()


def test_cuts_are_times_of_the_files_time_column():
    """Days of a day column, ISO dates of a date column: a cut's tick is the last tick whose time is at most the
    cut's; cuts N fall evenly on the span before the last horizon."""
    days = read_observed(data_file("incidence-Measles1861.csv"), None, (), time="day", tick="1d",
                         observe=(("cases", "new"),))  # fmt: skip
    line = Timeline.of(days)
    assert line.kind == "whole" and line.last == 47 and line.tick_of("20") == 20
    assert line.spread(5, 7) == [8, 16, 24, 32, 40]
    dates = read_observed(data_file("incidence-Flu2009.csv"), None, (), time="date", tick="1d",
                          observe=(("cases", "new"),))  # fmt: skip
    line = Timeline.of(dates)
    assert line.kind == "date" and line.labels[0] == "2009-04-27" and line.labels[-1] == "2009-05-28"
    assert line.tick_of("2009-05-05") == 8 and line.labels[8] == "2009-05-05"
    with pytest.raises(BadParameterError, match="is not a time of"):
        line.tick_of("17")
    with pytest.raises(BadParameterError, match=r"lies before the first observation \(2009-04-27\)"):
        line.tick_of("2009-04-01")
    weeks = Timeline.of(read_observed(data_file("incidence-Flu2009.csv"), None, (), time="date", tick="7d",
                                      observe=(("cases", "new"),)))  # fmt: skip
    assert weeks.step == 7 and weeks.tick_of("2009-05-10") == 1  # the week of 2009-05-04 to 05-10, over by then
    with pytest.raises(
        BadParameterError, match=r"falls inside the tick from 2009-05-04 .* \(2009-05-03 or 2009-05-10\)"
    ):
        weeks.tick_of("2009-05-05")  # that week's count holds cases of 05-06 to 05-10, after the cut
    stamps = ObservedSeries("s.csv", np.arange(4), {"new": np.ones(4)}, {"tick": "1d", "origin": "2020-01-01T00:00:00",
                            "first": "2020-01-01T00:00:00", "last": "2020-01-04T00:00:00"})  # fmt: skip
    line = Timeline.of(stamps)
    assert line.tick_of("2020-01-02") == 1  # a day's cut: known at its end
    with pytest.raises(BadParameterError, match="falls inside the tick from 2020-01-02T00:00:00"):
        line.tick_of("2020-01-02T13:00:00")
    assert shown(5) == [0, 1, 2, 3, 4] and len(shown(1000)) == 12 and shown(1000)[::11] == [0, 999]


def test_the_request_refuses_what_a_backtest_cannot_do():
    base = {"observed": "c.csv", "model": "sir", "params": PRIORS}
    for more, words in (
        ({"steps": 10}, "sets its fits' steps itself"),
        ({"cut": "10", "cuts": 3}, "not both"),
        ({"method": "renewal"}, "needs the data's serial interval"),
        ({"method": "agora,an oracle"}, "none of the backtest's forecasts"),  # a name is checked when run
        ({"model": "sir,seir"}, "forecasts with one model"),
        ({"cut": "10,10"}, "names one time twice"),
        ({"horizon": 0}, "horizon must be from 1"),
    ):
        with pytest.raises(BadParameterError, match=words):
            Backtest.parse(base | more)
    request = Backtest.parse(base | {"serial_interval": "gamma:3,1.5"})
    assert request.methods == ("agora", "persistence", "renewal") and request.fit.method == "abc"


def test_a_plan_is_read_hashed_and_alone(backtest_world, tmp_path):
    """The plan's settings become the request's, its relative paths are the plan's folder's, its sha256 is the
    file's; a setting beside it that would change the forecast is refused."""
    plan = tmp_path / "p.toml"
    plan.write_text(
        f'model = "sir"\nobserved = "{backtest_world / "curve.csv"}"\nparam = ["beta=0.005..0.1", "gamma=0.05..0.5"]\n'
        'seeds = "random:5"\nbudget = 400\ncuts = 2\nhorizon = 5\nserial-interval = "si.csv"\n'
        '[world]\nagents = 1000\nwhy = "the world the curve was simulated on"\n'
    )
    request = Backtest.parse({"plan": str(plan), "workers": 2})
    assert request.plan.sha256 == hashlib.sha256(plan.read_bytes()).hexdigest()
    assert request.fit.budget == 400 and request.cuts == 2 and request.workers == 2
    assert request.serial_interval == str(tmp_path / "si.csv") and request.plan.world["agents"] == 1000
    with pytest.raises(BadParameterError, match="budget is set beside plan file") as err:
        Backtest.parse({"plan": str(plan), "budget": 500})
    assert err.value.fields == ("budget",)


# --- the numbers ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_agoras_forecast_beats_persistence_on_its_own_world(backtest_world):
    """4 cuts, 7 ticks ahead, 2,000 simulations a fit, seed 0, Agora's forecast filtered through the data (1,000
    particles): its WIS over persistence's is below 0.7 in all (0.44-0.46 for seeds 0-4; unfiltered, ``filter``
    none, 0.55-0.79, and at 1,000 simulations 0.73-1.09), and its 90 % intervals hold at least 80 % of the truths
    (100 % for seeds 0-4)."""
    result = _run(
        backtest_world,
        _request(backtest_world, budget=2000, cuts=4, horizon=7, seed=0, workers=2, filter_particles=1000),
    )
    table = result.table()
    assert [c.label for c in result.cuts] == ["13", "26", "39", "52"]
    assert all(c.filtered is not None and not c.filtered["collapsed"] for c in result.cuts)
    assert table["agora"]["all"]["relative_wis"] < 0.7
    assert table["agora"]["all"]["cover90"] >= 0.8
    assert table["persistence"]["relative_wis"] == [1.0] * 7


@pytest.mark.slow
def test_cuts_in_parallel_give_the_numbers_of_cuts_one_after_another(backtest_world):
    request = _request(backtest_world, budget=400, cuts=3, horizon=5, workers=2, filter_particles=200)
    apart = _run(backtest_world, request, parallel=True)
    along = _run(backtest_world, request, parallel=False)
    assert apart.parallel and not along.parallel
    assert _same(apart) == _same(along)
    assert [c.fit["simulations"] for c in apart.cuts] == [c.fit["simulations"] for c in along.cuts]


def test_the_baselines_alone_need_no_fit(backtest_world):
    """persistence and renewal without agora: no fit, and a forecast per cut of each, the same for the same seed."""
    request = _request(backtest_world, method="persistence,renewal", serial_interval="gamma:8,5", cut="20,30",
                       horizon=5, workers=1)  # fmt: skip
    one, two = _run(backtest_world, request), _run(backtest_world, request)
    assert [c.fit for c in one.cuts] == [None, None] and one.methods == ["persistence", "renewal", "ensemble"]
    assert _same(one) == _same(two)
    truth = one.cuts[0].truth
    assert truth.tolist() == [36.0, 30.0, 18.0, 16.0, 14.0]  # ticks 21-25 of the curve


def test_world_backtest_and_its_figure(backtest_world, tmp_path):
    """The Python door: keywords, a result whose table, JSON and figure agree with the command's."""
    w = sim.open_world(str(backtest_world / "w.db"))
    result = w.backtest(observed=str(backtest_world / "curve.csv"), model="sir", params=PRIORS, seeds="random:5",
                        budget=200, cut=["20", "35"], horizon=4, workers=1)  # fmt: skip
    data = result.to_dict()
    assert set(data["scores"]) == {"agora", "persistence", "ensemble"} and data["plan"] is None
    assert set(data["scores"]["agora"]) >= {"relative_wis", "wis", "crps", "log_score", "cover50", "cover90",
                                             "ae_median", "ae_log", "horizon", "cuts_scored", "all"}  # fmt: skip
    fig = result.plot(str(tmp_path / "bt.png"))
    assert (tmp_path / "bt.png").stat().st_size > 10_000 and len(fig.axes) == 4  # the cuts, the relative WIS, the PIT
