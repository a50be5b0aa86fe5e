"""The observation model of a fit (issue 60): binomial thinning and the reporting delay against their laws, the
gamma delay's discretisation, a fit recovering a reporting fraction, the same posterior for the same seed, and
bad input (a delay that is not a distribution, a report the model or the observation cannot take) in one
sentence, exit 2."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import agora, one_sentence
from scipy import stats

import sim
from sim.runs.fit.reporting import delayed, expected, gamma_delay, parse_delay, read_delay, thin

#: Standard errors a Monte Carlo mean may stray from its expectation (a failure by chance: about 6e-7 per check).
Z = 5.0


def test_binomial_thinning_has_the_binomials_mean_and_variance():
    """20,000 draws of each count: the sample mean within Z standard errors of n*report, the variance within 5 %
    of n*report*(1 - report) (its relative standard error is sqrt(2/20000) = 1 %)."""
    rng = np.random.default_rng(60)
    draws = 20_000
    for n, report in ((10, 0.5), (100, 0.3), (1000, 0.9)):
        got = thin(np.full(draws, n), report, rng)
        assert got.dtype == np.int64 and got.min() >= 0 and got.max() <= n
        var = n * report * (1 - report)
        assert abs(got.mean() - n * report) < Z * np.sqrt(var / draws), (n, report, got.mean())
        assert abs(got.var() / var - 1) < 0.05, (n, report, got.var())
    assert np.array_equal(thin(np.array([0, 3, 7]), 1.0, rng), [0, 3, 7])


def test_the_delays_expectation_is_the_deterministic_convolution():
    """A series thinned and delayed 4,000 times (fixed seed): at every tick the mean of what is seen lies within Z
    standard errors (the sample's, floored at 0.01) of report * (counts convolved with p), truncated at the
    horizon; the cases lost past the horizon are those the convolution leaves out."""
    counts = np.array([5, 40, 80, 0, 30, 120, 60, 10, 0, 0, 3, 0], dtype=np.int64)
    delay = gamma_delay(2.0, 1.0)
    rng = np.random.default_rng(6060)
    reps = 4000
    seen = np.array([delayed(thin(counts, 0.6, rng), delay.pmf, rng) for _ in range(reps)])
    want = expected(counts, 0.6, delay.pmf)
    se = np.maximum(seen.std(axis=0) / np.sqrt(reps), 0.01)
    assert np.all(np.abs(seen.mean(axis=0) - want) < Z * se), (seen.mean(axis=0), want)
    lost = 0.6 * counts.sum() - want.sum()
    assert lost > 1 and abs((0.6 * counts.sum() - seen.sum(axis=1).mean()) - lost) < Z * seen.sum(axis=1).std() / 60


def test_delaying_keeps_every_case_inside_the_horizon():
    """Multinomial per tick: with room after the last case (zeros appended), every case is seen once."""
    rng = np.random.default_rng(1)
    counts = np.concatenate([rng.integers(0, 50, 20), np.zeros(40, dtype=np.int64)])
    for text in ("gamma:3,1.5", "gamma:7,4"):
        pmf = parse_delay(text).pmf
        assert delayed(counts, pmf, rng).sum() == counts.sum()
    assert np.array_equal(delayed(counts, np.array([1.0]), rng), counts)


def test_a_gamma_delay_is_the_gamma_rounded_to_the_nearest_day():
    for mean, sd in ((2.0, 1.0), (3.0, 1.5), (7.0, 4.0)):
        d = gamma_delay(mean, sd)
        law = stats.gamma(a=(mean / sd) ** 2, scale=sd * sd / mean)
        edges = np.concatenate([[0.0], np.arange(d.pmf.size - 1) + 0.5])
        want = np.diff(np.concatenate([law.cdf(edges), [1.0]]))
        assert np.allclose(d.pmf, want, atol=1e-12) and d.pmf.sum() == pytest.approx(1.0, abs=1e-12)
        assert law.sf(d.pmf.size - 1.5) >= 1e-6 > law.sf(d.pmf.size - 0.5)
        assert abs(d.mean - mean) < 0.01


def test_a_delay_file_is_read(tmp_path):
    f = tmp_path / "delay.csv"
    f.write_text("day,probability\n2,0.25\n0,0.5\n1,0.25\n")
    d = read_delay(str(f))
    assert d.pmf.tolist() == [0.5, 0.25, 0.25] and d.mean == 0.75


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("day,probability\n0,0.5\n1,0.3\n", "its probabilities sum to 0.8, not 1: give a distribution"),
        ("day,p\n0,1\n", "line 1: the header must be day,probability"),
        ("day,probability\n0,0.5\n0,0.5\n", "line 3: day 0 is listed twice"),
        ("day,probability\n0,half\n", "line 2: the probability is not a number"),
        ("day,probability\n-1,1\n", "line 2: day -1 is outside 0 .. 1000"),
        ("day,probability\n0,1.5\n", "line 2: the probability must be from 0 to 1"),
        ("day,probability\n", "has a header but no rows"),
    ],
)
def test_a_bad_delay_file_is_one_sentence(tmp_path, text, says):
    f = tmp_path / "delay.csv"
    f.write_text(text)
    with pytest.raises(sim.BadFileError) as err:
        read_delay(str(f))
    assert str(err.value).startswith(f"delay file {f}") and says in str(err.value), err.value
    assert "\n" not in str(err.value) and "half" not in str(err.value)  # one sentence, no cell of the file


def test_a_delay_that_is_no_distribution_is_exit_2(tmp_path):
    f = tmp_path / "delay.csv"
    f.write_text("day,probability\n0,0.5\n1,0.3\n")
    obs = tmp_path / "obs.csv"
    obs.write_text("tick,onsets\n0,1\n1,2\n")
    sim.new_world(str(tmp_path / "w.db"), agents=100, seed=1)
    out = agora(
        tmp_path, "fit", "w.db", "--model", "sir", "--observed", str(obs), "--param", "beta=0.01..0.3",
        "--delay", str(f),
    )  # fmt: skip
    line = one_sentence(out)
    assert f"delay file {f}: its probabilities sum to 0.8, not 1: give a distribution" in line, line


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"delay": "gamma:3"}, "delay 'gamma:3' must be gamma:MEAN,SD"),
        ({"delay": "gamma:0,1"}, "delay mean '0' in 'gamma:0,1' must be a number above 0"),
        ({"delay": "gamma:1e9,1"}, "delay gamma:1e+09,1 reaches past 1000 days"),
        ({"params": {"beta": (0.01, 0.3), "report": 0}}, "params report=0 must be a fraction above 0 and at most 1"),
        ({"params": {"beta": (0.01, 0.3), "report": (0.2, 1.5)}}, "the reporting fraction report lies from 0 to 1"),
    ],
)
def test_a_bad_report_or_delay_is_one_sentence(tmp_path, fields, says):
    obs = tmp_path / "obs.csv"
    obs.write_text("tick,onsets\n0,1\n1,2\n")
    w = sim.new_world(str(tmp_path / "w.db"), agents=100, seed=1)
    with pytest.raises(sim.BadParameterError) as err:
        w.fit(**{"observed": str(obs), "model": "sir", "params": {"beta": (0.01, 0.3)}, "budget": 100, **fields})
    assert says in str(err.value), err.value


def test_report_is_refused_with_a_state_column_a_cascades_file_or_a_model_of_its_own(tmp_path):
    """A state (a prevalence) cannot be thinned; cascades are not a series; a model with its own parameter report
    cannot share the name with the reporting fraction."""
    w = sim.new_world(str(tmp_path / "w.db"), agents=100, seed=1)
    obs = tmp_path / "obs.csv"
    obs.write_text("tick,I,onsets\n0,1,1\n1,2,1\n")
    with pytest.raises(sim.BadParameterError, match="the observed column 'I' is not one"):
        w.fit(observed=str(obs), model="sir", params={"beta": (0.01, 0.3), "report": 0.5}, budget=100)
    sizes = tmp_path / "sizes.csv"
    sizes.write_text("size\n3\n5\n")
    with pytest.raises(sim.BadParameterError, match="and the observation is cascades"):
        w.fit(observed=str(sizes), model="ic", params={"p": (0.01, 0.3)}, delay="gamma:2,1", budget=100)
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "reported.py").write_text(
        "from sim.plugin import Param\nfrom plugins.ic import IndependentCascade\n\n"
        "class Reported(IndependentCascade):\n    name = 'reported'\n"
        "    params = {**IndependentCascade.params, 'report': Param(float, 0.5, 0.0, 1.0, 'a share')}\n"
    )
    obs.write_text("tick,onsets\n0,1\n1,2\n")
    out = agora(
        tmp_path, "fit", "w.db", "--plugins", str(folder), "--model", "reported", "--observed", str(obs),
        "--param", "p=0.01..0.3", "--param", "report=0.2..1",
    )  # fmt: skip
    line = one_sentence(out)
    assert "model 'reported' has its own parameter report, so --param report cannot also be the observation" in line


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    """A 1,000-agent world and the onsets of one SIR run (beta 0.1, gamma 0.2, 30 ticks) as surveillance saw them:
    half reported, each report delayed by a gamma of mean 2 and sd 1 days (seeded draws)."""
    folder = tmp_path_factory.mktemp("reporting")
    w = sim.new_world(str(folder / "w.db"), agents=1000, avg_degree=8, seed=4848)
    run = w.ensemble(model="sir", params={"beta": 0.1, "gamma": 0.2}, seeds="random:5", runs=1, seed=90210, steps=30)
    onsets = np.asarray(run.runs[0]["series"]["onsets"], dtype=np.int64)
    rng = np.random.default_rng(5)
    seen = delayed(thin(onsets, 0.5, rng), gamma_delay(2.0, 1.0).pmf, rng)
    obs = folder / "onsets.csv"
    obs.write_text("tick,onsets\n" + "".join(f"{t},{v}\n" for t, v in enumerate(seen.tolist())))
    assert onsets.sum() > 300  # an epidemic, so the fraction reported shows
    return w, folder, obs


@pytest.mark.slow
def test_a_fit_recovers_the_reporting_fraction(reported):
    """beta and report fitted together (gamma and the delay known): report's truth, 0.5, lies inside its 90 %
    interval, and so does beta's, 0.1."""
    w, _, obs = reported
    fit = w.fit(
        observed=str(obs),
        model="sir",
        params={"beta": (0.02, 0.3), "gamma": 0.2, "report": (0.1, 1.0)},
        delay="gamma:2,1",
        budget=3000,
        seed=3,
        workers=1,
    )
    lo, hi = fit.params["report"].ci90
    assert lo < 0.5 < hi, fit.params["report"]
    assert fit.params["beta"].ci90[0] < 0.1 < fit.params["beta"].ci90[1], fit.params["beta"]
    assert fit.observed["observation"] == {
        "report": "fitted",
        "delay": {"source": "gamma:2,1", "days": 12, "mean": 2.002489},
        "columns": ["onsets"],
        "scale": 1.0,  # people per agent (issue 73: --people); 1 without it
    }


@pytest.mark.slow
def test_the_same_seed_gives_the_same_posterior_with_an_observation_model(reported):
    """Draws come from each run's seed: one worker or two, the same samples; the fixed report shows as fixed."""
    w, folder, obs = reported
    out = [
        agora(
            folder,
            "fit",
            "w.db",
            "--model",
            "sir",
            "--observed",
            str(obs),
            "--param",
            "beta=0.02..0.3",
            "--param",
            "gamma=0.2",
            "--param",
            "report=0.5",
            "--delay",
            "gamma:2,1",
            "--budget",
            "300",
            "--seed",
            "9",
            "--workers",
            str(workers),
            "--json",
        )  # fmt: skip
        for workers in (1, 2)
    ]
    assert all(o.returncode == 0 for o in out), [o.stderr for o in out]
    one, two = (json.loads(o.stdout) for o in out)
    assert one["params"] == two["params"] and one["fixed"]["report"] == 0.5
    assert one["observed"]["observation"]["report"] == 0.5 and "report" not in one["params"]


def test_a_posterior_with_a_fitted_report_feeds_a_forecast(tmp_path):
    """A forecast runs the model, whose counts no reporting thins: a posterior file's report column is read and
    left out (any other column the model lacks is still refused)."""
    from sim.core.world import build_world
    from sim.engine.simulation import Simulation
    from sim.model.registry import Registry
    from sim.runs.fit.output import read_posterior

    registry = Registry(entry_points=False, env=False)
    w = build_world("p", 0, 3, np.array([0, 1], np.int32), np.array([1, 2], np.int32), trust=np.ones(2, np.float32))
    session = Simulation(w, registry=registry, plugin_budget=0).inject("m", model="sir", seeds="ids:0")
    path = tmp_path / "post.csv"
    path.write_text("beta,report,weight\n0.1,0.4,1\n0.2,0.6,3\n")
    names, values, weights = read_posterior(str(path), registry, session)
    assert names == ["beta"] and values.tolist() == [[0.1], [0.2]] and weights.tolist() == [0.25, 0.75]
    path.write_text("beta,shown,weight\n0.1,0.4,1\n")
    with pytest.raises(sim.BadParameterError, match="its 2nd column is not a parameter of sir"):
        read_posterior(str(path), registry, session)


def test_a_delay_in_days_needs_day_long_ticks(tmp_path):
    """A delay is in days and applies per tick: daily counts summed into weekly ticks are refused with a delay,
    in one sentence naming tick and delay; the same table in 1-day ticks and the same delay fit."""
    w = sim.new_world(str(tmp_path / "w.db"), agents=100, seed=1)
    table = tmp_path / "daily.csv"
    table.write_text("".join(["date,cases\n"] + [f"2020-01-{d:02d},{d % 3}\n" for d in range(1, 29)]), encoding="utf-8")
    ask = dict(observed=str(table), model="sir", params={"beta": (0.01, 0.5)}, observe={"cases": "onsets"})
    with pytest.raises(
        sim.BadParameterError, match=r"^the delay is given in days, and the fit's ticks last 1w: give tick 1d"
    ):
        w.fit(**ask, tick="7d", delay="gamma:2,1", budget=40, workers=1)
    fit = w.fit(**ask, tick="1d", delay="gamma:2,1", budget=40, population=20, workers=1, predictive=0)
    assert fit.simulations > 0
