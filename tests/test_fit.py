"""``agora fit`` (issue 48): ABC-SMC against an exact posterior, the same posterior whatever the workers, the
CLI's report and files, recovery of SIR's parameters on ego-Facebook, the exact likelihood against the sizes
alone, failed simulations counted (exit 3), and bad input in one sentence (exit 2)."""

from __future__ import annotations

import asyncio
import csv
import json
import os

import numpy as np
import pytest
from conftest import agora, copy_world, digest, one_sentence
from scipy import stats

import sim
from sim.engine.requests import Prior, Priors
from sim.runs.fit.abc import Settings, abc_smc, weighted_quantile

SIR = ("beta=0.02..0.2", "gamma=0.05..0.5")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A 2,000-agent world and an SIR curve (I and R over 25 ticks) drawn on it with beta 0.08, gamma 0.2."""
    folder = tmp_path_factory.mktemp("fit")
    path = str(folder / "small.db")
    w = sim.new_world(path, agents=2000, avg_degree=8, seed=4848)
    run = w.ensemble(model="sir", params={"beta": 0.08, "gamma": 0.2}, seeds="random:5", runs=1, seed=90210, steps=25)
    table = run.series.columns()
    curve = str(folder / "curve.csv")
    with open(curve, "w") as f:
        f.write("tick,I,R\n")
        ticks, measures, values = table["tick"], table["measure"], table["value"]
        for t in range(25):
            i = values[(ticks == t) & (measures == "I")][0]
            r = values[(ticks == t) & (measures == "R")][0]
            f.write(f"{t},{int(i)},{int(r)}\n")
    return folder, path, curve


# -- the sampler against exact posteriors ---------------------------------------------------------------------


def test_abc_smc_reaches_the_exact_posterior_of_a_binomial():
    """k = 12 successes of 50 with p uniform: the posterior is Beta(13, 39). The statistic is discrete, so the
    tolerance reaches 0 and ABC's posterior is the exact one; its quantiles match Beta's within Monte Carlo
    error (500 particles)."""

    async def binomial(x: np.ndarray, seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = np.array([[np.random.default_rng(int(s)).binomial(50, p)] for p, s in zip(x[:, 0], seeds)], float)
        return out, np.zeros(x.shape[0], dtype=bool)

    r = asyncio.run(
        abc_smc(binomial, np.array([12.0]), Priors((Prior("p", 0, 1),)), Settings(population=500, budget=30000))
    )
    assert r.stopped.startswith("the tolerance reached 0"), r.stopped
    assert np.all(r.stats[:, 0] == 12)
    q = weighted_quantile(r.x[:, 0], r.weights, np.array([0.05, 0.5, 0.95]))
    exact = stats.beta(13, 39).ppf([0.05, 0.5, 0.95])
    assert np.all(np.abs(q - exact) < 0.02), (q, exact)


def test_abc_smc_normal_mean_matches_the_analytic_posterior():
    """The mean of 10 draws from N(m, 1), observed 0.7, m uniform on [-5, 5]: the posterior is N(0.7, 1/10)
    (the prior's bounds are 14 sd away). ABC's median and 90 % interval come within 0.1 of it."""

    async def normal(x: np.ndarray, seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = np.array([[np.random.default_rng(int(s)).normal(m, 1, 10).mean()] for m, s in zip(x[:, 0], seeds)])
        return out, np.zeros(x.shape[0], dtype=bool)

    r = asyncio.run(
        abc_smc(normal, np.array([0.7]), Priors((Prior("m", -5, 5),)), Settings(population=1000, budget=40000))
    )
    q = weighted_quantile(r.x[:, 0], r.weights, np.array([0.05, 0.5, 0.95]))
    exact = stats.norm(0.7, 1 / np.sqrt(10)).ppf([0.05, 0.5, 0.95])
    assert np.all(np.abs(q - exact) < 0.1), (q, exact)


# -- the fit ---------------------------------------------------------------------------------------------------


def test_same_seed_same_posterior_whatever_the_workers(small):
    folder, path, curve = small
    w = sim.open_world(path)
    fits = [
        w.fit(
            observed=curve,
            model="sir",
            params=SIR,
            seeds="random:5",
            budget=1500,
            population=150,
            seed=s,
            workers=k,
            predictive=0,
        )
        for s, k in ((4, 1), (4, 2), (5, 2))
    ]
    one, two, other = fits
    assert one.simulations == two.simulations and np.array_equal(one.samples, two.samples)
    assert np.array_equal(one.weights, two.weights)
    assert not np.array_equal(one.samples, other.samples)  # the seed matters
    assert one.to_dict()["params"] == two.to_dict()["params"]


def test_cli_fit_reports_and_writes_its_files(small):
    folder, path, curve = small
    before = digest(path)
    out = agora(
        folder, "fit", path, "--model", "sir", "--observed", curve, "--param", SIR[0], "--param", SIR[1],
        "--seeds", "random:5", "--budget", "1500", "--population", "150", "--seed", "2", "--workers", "2",
        "-o", "post.csv", "--plot", "check.png", "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    for key in ("model", "method", "observed", "params", "simulations", "failed", "ess", "seconds"):
        assert key in data
    assert data["model"] == "sir" and data["method"] == "abc" and data["failed"] == 0
    assert data["observed"]["kind"] == "series" and data["observed"]["columns"] == ["I", "R"]
    assert 150 * 2 <= data["simulations"] <= 1500
    for name, (lo, hi) in (("beta", (0.02, 0.2)), ("gamma", (0.05, 0.5))):
        p = data["params"][name]
        assert p["prior"] == [lo, hi, "uniform"]
        assert lo <= p["ci90"][0] <= p["median"] <= p["ci90"][1] <= hi
    assert 1 <= data["ess"] <= 150
    with open(folder / "post.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 150 and set(rows[0]) == {"beta", "gamma", "weight"}
    assert abs(sum(float(r["weight"]) for r in rows) - 1) < 1e-9
    assert os.path.getsize(folder / "check.png") > 10_000
    assert data["predictive"]["simulations"] == 100 and 0 <= data["predictive"]["inside90"] <= 1
    assert digest(path) == before  # the world file is never modified
    text = agora(folder, "fit", path, "--model", "sir", "--observed", curve, "--param", SIR[0], "--param", SIR[1],
                 "--seeds", "random:5", "--budget", "600", "--population", "100")  # fmt: skip
    assert text.returncode == 0 and "90% interval" in text.stdout and "beta" in text.stdout, text.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--param", "beta=0.2..0.1", "--param", SIR[1]], "low end must be below its high end"),
        (["--param", "q=0..1"], "model 'sir' has no parameter 'q' to fit: its parameters are"),
        (["--param", "beta=0..2"], "keep the range within it"),
        (["--param", SIR[0], "--budget", "0"], "--budget must be from 1 to"),
        (["--param", "beta=0..0.5:log"], "a log-uniform range must start above 0"),
    ],
)
def test_bad_fit_options_are_one_sentence(small, args, expected):
    folder, path, curve = small
    before = digest(path)
    line = one_sentence(agora(folder, "fit", path, "--model", "sir", "--observed", curve, *args))
    assert expected in line, line
    assert digest(path) == before


def test_bad_observation_files_are_one_sentence(small):
    folder, path, _ = small
    unknown = folder / "unknown.csv"
    unknown.write_text("id,tick\n0,0\n987654321,1\n")
    line = one_sentence(agora(folder, "fit", path, "--observed", str(unknown), "--param", "p=0.01..0.5"))
    assert "987654321" in line, line
    backwards = folder / "backwards.csv"
    backwards.write_text("tick,I\n0,5\n2,9\n1,7\n")
    line = one_sentence(agora(folder, "fit", path, "--model", "sir", "--observed", str(backwards), "--param", SIR[0]))
    assert "tick 1 comes after tick 2" in line, line
    line = one_sentence(agora(folder, "fit", path, "--model", "sir", "--observed", str(folder / "nothere.csv"),
                              "--param", SIR[0]))  # fmt: skip
    assert "nothere.csv" in line, line
    wrong = folder / "wrong.csv"
    wrong.write_text("tick,Q\n0,1\n1,2\n")
    line = one_sentence(agora(folder, "fit", path, "--model", "sir", "--observed", str(wrong), "--param", SIR[0]))
    assert "a column that model 'sir' does not report" in line and "S, I, R" in line, line  # Q: file text


FAILING = '''
import numpy as np
from sim.plugin import Param, PropagationModel, StepResult


class Brittle(PropagationModel):
    """Adopts round(100 x) agents in its first round; raises when x > 0.5."""

    name = "brittle"
    params = {"x": Param(float, 0.2, 0.0, 1.0)}

    def step(self, ctx):
        if self.p["x"] > 0.5:
            raise RuntimeError("x above one half")
        if ctx.round > 1:
            return StepResult.nothing()
        return StepResult(np.flatnonzero(ctx.state == 0)[: round(100 * self.p["x"])].astype(np.int32), 1)

    def is_done(self, ctx):
        return ctx.round >= 1
'''


def test_failed_simulations_are_counted_never_in_the_posterior_and_exit_3(small, tmp_path):
    folder, path, _ = small
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "brittle.py").write_text(FAILING)
    observed = tmp_path / "sizes.csv"
    observed.write_text("size\n31\n")
    out = agora(
        tmp_path, "fit", path, "--model", "brittle", "--plugins", str(plugins), "--observed", str(observed),
        "--param", "x=0..1", "--seeds", "none", "--budget", "400", "--population", "50", "--workers", "1",
        "-o", "post.csv", "--json",
    )  # fmt: skip
    assert out.returncode == 3, out.stderr
    data = json.loads(out.stdout)
    assert data["failed"] > 0 and data["simulations"] >= data["failed"] + 50
    assert "simulations failed" in out.stderr
    assert any("failed" in w for w in data["warnings"])
    with open(tmp_path / "post.csv") as f:
        xs = [float(r["x"]) for r in csv.DictReader(f)]
    assert len(xs) == 50 and max(xs) <= 0.5  # no failed particle is in the posterior
    assert 0.25 < data["params"]["x"]["median"] < 0.37  # size 31 = round(100 x) + 0 seeds


# -- ego-Facebook ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def facebook(tmp_path_factory, ego_facebook_file):
    folder = tmp_path_factory.mktemp("fb")
    path = str(folder / "fb.db")
    copy_world(ego_facebook_file, path)
    return folder, path


def test_sir_recovered_on_ego_facebook(facebook):
    """An SIR epidemic curve simulated on ego-Facebook with beta 0.03, gamma 0.2 (I and R over 40 ticks):
    both truths lie inside their 90 % intervals, with a budget of 10,000 (gamma's exact posterior given this
    curve is 0.1980 .. 0.2086; at 6,000 the fit's interval, 0.2002 .. 0.2157, was still shifted up by what the
    tolerance left)."""
    folder, path = facebook
    w = sim.open_world(path)
    run = w.ensemble(model="sir", params={"beta": 0.03, "gamma": 0.2}, seeds="random:10", runs=1, seed=424242,
                     steps=40)  # fmt: skip
    table = run.series.columns()
    curve = folder / "fb-curve.csv"
    with open(curve, "w") as f:
        f.write("tick,I,R\n")
        for t in range(40):
            at = table["tick"] == t
            f.write(f"{t},{int(table['value'][at & (table['measure'] == 'I')][0])},"
                    f"{int(table['value'][at & (table['measure'] == 'R')][0])}\n")  # fmt: skip
    fit = w.fit(observed=str(curve), model="sir", params={"beta": (0.005, 0.1), "gamma": (0.05, 0.5)},
                seeds="random:10", budget=10000, population=300, seed=1, predictive=0)  # fmt: skip
    for name, truth in (("beta", 0.03), ("gamma", 0.2)):
        lo, hi = fit.params[name].ci90
        assert lo <= truth <= hi, (name, fit.params[name])
        assert hi - lo < 0.5 * (fit.params[name].prior.hi - fit.params[name].prior.lo)  # the data narrowed it


def test_ic_times_and_sizes_agree_and_times_are_narrower(facebook):
    """Ten ic cascades (p 0.02, 5 random seeds each), written by ``agora run --cascades``: the exact likelihood
    of their adoption times (the trees' ticks) and ABC on their sizes alone agree on p (the exact median inside
    the sizes' 90 % interval, the truth inside both), and the times' interval is the narrower."""
    folder, path = facebook
    trees, sizes = folder / "ten.csv", folder / "ten-sizes.csv"
    out = agora(folder, "run", path, "--inject", "x", "--model", "ic", "--param", "p=0.02", "--seeds", "random:5",
                "--runs", "10", "--seed", "777", "--until-done", "--cascades", str(trees))  # fmt: skip
    assert out.returncode == 0, out.stderr
    with open(trees) as f:
        runs = [int(r["run"]) for r in csv.DictReader(f)]
    sizes.write_text("size\n" + "".join(f"{runs.count(r)}\n" for r in sorted(set(runs))))
    w = sim.open_world(path)
    prior = {"p": (0.002, 0.2, "log")}
    exact = w.fit(observed=str(trees), model="ic", params=prior, seed=1)
    abc = w.fit(observed=str(sizes), model="ic", params=prior, seeds="random:5", budget=1500, population=150,
                seed=1, predictive=0)  # fmt: skip
    assert exact.method == "exact" and abc.method == "abc"
    assert exact.observed["cascades"] == abc.observed["cascades"] == 10 and abc.observed["replicates"] == 10
    e, a = exact.params["p"], abc.params["p"]
    assert a.ci90[0] <= e.median <= a.ci90[1], (e, a)
    assert e.ci90[0] <= 0.02 <= e.ci90[1] and a.ci90[0] <= 0.02 <= a.ci90[1], (e, a)
    assert e.ci90[1] - e.ci90[0] < a.ci90[1] - a.ci90[0]
    assert e.profile90 is not None and e.profile90[0] <= e.mle <= e.profile90[1]
    forced = w.fit(observed=str(trees), model="ic", params=prior, method="abc", seeds="random:5", budget=300,
                   population=50, predictive=0)  # fmt: skip
    assert forced.method == "abc"  # --method abc fits the trees by simulation instead


def test_columns_picks_the_series_columns(small):
    folder, path, curve = small
    w = sim.open_world(path)
    fit = w.fit(observed=curve, model="sir", params=SIR, columns="I", seeds="random:5", budget=400, population=50,
                predictive=0)  # fmt: skip
    assert fit.observed["columns"] == ["I"] and fit.observed["statistics"] == 25
    with pytest.raises(sim.BadParameterError, match="the observed series has no column 'Q': its columns are I, R"):
        w.fit(observed=curve, model="sir", params=SIR, columns="I,Q", budget=400, population=50)


@pytest.mark.slow
def test_ray_gives_the_same_posterior(small, ray_cluster):
    """``ray="auto"`` on the session's local cluster (2 CPUs): the simulations go to Ray workers, which load the
    world from the object store, and the posterior is the one of a local fit with the same seed."""
    folder, path, curve = small
    w = sim.open_world(path)
    asked = dict(observed=curve, model="sir", params=SIR, seeds="random:5", budget=800, population=100, seed=6)
    local = w.fit(**asked, workers=1, predictive=0)
    on_ray = w.fit(**asked, ray="auto", predictive=0)
    assert ray_cluster.is_initialized()  # attached to the running cluster: not the fit's to shut down
    assert on_ray.simulations == local.simulations
    assert np.array_equal(on_ray.samples, local.samples) and np.array_equal(on_ray.weights, local.weights)
    assert on_ray.workers == 2
