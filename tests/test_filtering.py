"""Issue 75: Agora's forecast filtered through the data (:mod:`sim.runs.backtest.filtering`): the likelihood it
weighs trajectories by is exact against the sum over every trajectory of a three-agent world, its estimate of the
marginal likelihood is that sum, its ESS falls as the data accumulate, and a collapse is said in one line."""

from __future__ import annotations

import asyncio
import itertools
import json
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import agora, one_sentence
from scipy import stats

import sim
from sim.engine.requests import Fit
from sim.model.registry import plugin_registry
from sim.runs.backtest.filtering import (
    Filtered,
    Run,
    _fresh,
    ess_by_tick,
    filtered_draws,
    log_likelihood,
    particle_filter,
    trajectories,
    weigh,
)
from sim.runs.epidemic_kernels import NO_RESEEDS
from sim.runs.fit.fitting import Plan
from sim.store.observed import read_observed
from sim.store.worldread import open_world

BETA, GAMMA, TICKS = 0.6, 0.3, 5


def _chain(edges: list[tuple[int, int]], n: int, seed: int, ticks: int) -> dict[tuple[int, ...], float]:
    """Every trajectory of new infections per tick of SIR on ``n`` agents (``plugins/epidemic.py``'s rounds: each
    agent infectious at a round's start tries each susceptible follower with BETA, then recovers with GAMMA; tick 0
    the seed), with its probability: the exact law the filter's estimate must equal."""
    out: dict[tuple[int, ...], float] = {}

    def walk(state: tuple[int, ...], t: int, counts: tuple[int, ...], p: float) -> None:
        if t > ticks:
            out[counts] = out.get(counts, 0.0) + p
            return
        infectious = [a for a in range(n) if state[a] == 1]
        tries = {v: sum(1 for u, w in edges if w == v and u in infectious) for v in range(n) if state[v] == 0}
        chance = {v: 1 - (1 - BETA) ** k for v, k in tries.items() if k}
        for hit in itertools.product((0, 1), repeat=len(chance)):
            for rec in itertools.product((0, 1), repeat=len(infectious)):
                q = p
                nxt = list(state)
                for (v, c), h in zip(chance.items(), hit):
                    q *= c if h else 1 - c
                    nxt[v] = 1 if h else 0
                for a, r in zip(infectious, rec):
                    q *= GAMMA if r else 1 - GAMMA
                    nxt[a] = 2 if r else 1
                if q > 0:
                    walk(tuple(nxt), t + 1, (*counts, sum(hit)), q)

    start = tuple(1 if a == seed else 0 for a in range(n))
    walk(start, 1, (1,), 1.0)
    return out


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    """A path of three agents (0 - 1 - 2, both ways), the middle one the seed, and a plan of sir on it."""
    folder = tmp_path_factory.mktemp("three")
    (folder / "edges.csv").write_text("source,target\n0,1\n1,2\n")
    sim.import_edges(str(folder / "w.db"), str(folder / "edges.csv"))
    (folder / "y.csv").write_text("tick,new\n" + "".join(f"{t},0\n" for t in range(TICKS + 1)))

    async def go():
        world = await open_world(str(folder / "w.db"))
        registry = plugin_registry(str(folder / "w.db"), ())
        request = Fit.parse({"observed": str(folder / "y.csv"), "model": "sir",
                             "params": {"beta": (0.01, 0.99), "gamma": (0.01, 0.99)}, "seeds": "ids:1",
                             "budget": 100, "workers": 1})  # fmt: skip
        obs = read_observed(request.observed, world, ("S", "I", "R"))
        return world, Plan(world, registry, request, obs)

    world, plan = asyncio.run(go())
    return world, plan


def test_the_simulated_trajectories_follow_the_exact_chain(three):
    """The kernel's runs of the three-agent world against the chain's law: every trajectory's frequency over
    20,000 runs within 4.5 standard errors of its probability (the chain is what the filter's sum is over)."""
    world, plan = three
    exact = _chain([(0, 1), (1, 0), (1, 2), (2, 1)], 3, 1, TICKS)
    assert sum(exact.values()) == pytest.approx(1.0)
    runs = 20_000
    sim_ = plan.simulator_for(TICKS + 1)
    true, ok = trajectories(sim_, np.tile([BETA, GAMMA], (runs, 1)), np.arange(runs), "new", TICKS + 1)
    assert ok.all()
    seen: dict[tuple[int, ...], int] = {}
    for row in true.astype(int).tolist():
        seen[tuple(row)] = seen.get(tuple(row), 0) + 1
    assert set(seen) <= set(exact)
    for z, p in exact.items():
        se = np.sqrt(p * (1 - p) / runs)
        assert abs(seen.get(z, 0) / runs - p) <= 4.5 * se + 1e-12, (z, p, seen.get(z, 0) / runs)


@pytest.mark.parametrize(("law", "size"), [("binomial", None), ("negbin", 2.0), ("negbin", float("inf"))])
def test_the_filters_likelihood_is_exact_against_enumeration(three, law, size):
    """p(y | theta) = sum over every trajectory z of P(z) p(y | z): the filter's per-trajectory likelihood summed
    with the chain's probabilities equals scipy's pmfs summed the same way (exact, to 1e-12), and its estimate
    from 20,000 simulated trajectories lies within 4 standard errors of it."""
    world, plan = three
    exact = _chain([(0, 1), (1, 0), (1, 2), (2, 1)], 3, 1, TICKS)
    rho = 0.7
    y = np.array([1.0, 1.0, 0.0, 1.0, np.nan, 0.0])  # tick 4 unobserved
    zs = np.array(list(exact), dtype=float)
    probs = np.array(list(exact.values()))
    ll = log_likelihood(y, rho * zs, size, law, zs, np.full(zs.shape[0], rho))
    seen = np.isfinite(y)
    if law == "binomial":
        direct = stats.binom.pmf(y[seen][None, :], zs[:, seen], rho).prod(axis=1)
    elif np.isfinite(size):
        direct = stats.nbinom.pmf(y[seen][None, :], size, size / (size + rho * zs[:, seen])).prod(axis=1)
    else:
        direct = stats.poisson.pmf(y[seen][None, :], rho * zs[:, seen]).prod(axis=1)
    truth = float((probs * direct).sum())
    assert float((probs * np.exp(ll.sum(axis=1))).sum()) == pytest.approx(truth, rel=1e-12)
    runs = 20_000
    true, _ = trajectories(plan.simulator_for(TICKS + 1), np.tile([BETA, GAMMA], (runs, 1)), np.arange(runs) + 7,
                           "new", TICKS + 1)  # fmt: skip
    got = weigh(true, y, np.full(runs, rho), None, 1.0, law, size)
    each = np.exp(got.ll.sum(axis=1))
    se = each.std() / np.sqrt(runs)
    assert truth > 0 and abs(np.exp(got.log_marginal) - truth) <= 4 * se
    assert got.ess.shape == (TICKS + 1,) and got.ess[0] == pytest.approx(runs) and got.ess[-1] < runs


def test_the_ess_after_each_tick_and_the_collapse_line():
    logp = np.log(np.full(4, 0.25))
    ll = np.array([[0.0, 0.0], [0.0, -np.inf], [0.0, -np.inf], [0.0, -np.inf]])
    assert ess_by_tick(logp, ll).tolist() == [4.0, 1.0]
    f = Filtered("negbin", 3.0, np.array([4.0, 1.0]), 4, 0, -1.0, True)
    line = f.line("2005-W10")
    assert line.startswith("cut 2005-W10: the filter collapsed (ESS 1.0 of 4 trajectories at the cut, below 10)")
    assert Filtered.from_dict(f.to_dict()).to_dict() == f.to_dict()


def test_the_filter_is_reported_and_refused_in_one_sentence(tmp_path):
    """A backtest's cut reports its filter (law, size, ESS per tick); the binomial law with a delay is refused."""
    assert agora(tmp_path, "new", "w.db", "--agents", "300", "--seed", "3").returncode == 0
    counts = [0, 1, 2, 3, 5, 8, 12, 15, 18, 17, 15, 12, 9, 7, 5, 3, 2, 1, 1, 0]
    (tmp_path / "c.csv").write_text("tick,new\n" + "".join(f"{t},{c}\n" for t, c in enumerate(counts)))
    base = ("backtest", "w.db", "--observed", "c.csv", "--model", "sir", "--param", "beta=0.01..0.3",
            "--param", "gamma=0.05..0.5", "--seeds", "random:2", "--budget", "300", "--cut", "8,12", "--horizon", "3",
            "--workers", "1", "--filter", "negbin", "--filter-particles", "200")  # fmt: skip
    out = agora(tmp_path, *base, "--json")
    assert out.returncode == 0, out.stderr
    cut = json.loads(out.stdout)["cuts"][0]
    f = cut["filtered"]
    assert f["law"] == "negbin" and f["particles"] == 200 and len(f["ess"]) == 9 and f["ess"][-1] <= f["ess"][0]
    assert (f["size"] is None or f["size"] > 0) and isinstance(f["collapsed"], bool)
    said = one_sentence(agora(tmp_path, *base, "--filter", "binomial", "--delay", "gamma:2,1"))
    assert "--filter binomial is exact only without a reporting delay, and the column is seen with one" in said


def test_a_branch_repeats_its_run_up_to_the_round_before_and_draws_afresh_after(three):
    """A run with a branch at round 3 is its seed's run at rounds 0-2 and another after (over 200 seeds, some
    differ there); a branch after the run's last round changes nothing."""
    _, plan = three
    sim_ = plan.simulator_for(TICKS + 1)
    assert sim_.branches
    row = np.array([BETA, GAMMA])
    fresh = _fresh(np.random.default_rng(0), 200)
    differ = 0
    for s in range(200):
        plain = sim_.true_runs(row, s)[0]["series"]["new"]
        branch = np.concatenate([[np.uint64(3)], fresh[s]])[None, :]
        split = sim_.true_runs(row, s, branch)[0]["series"]["new"]
        late = sim_.true_runs(row, s, np.concatenate([[np.uint64(99)], fresh[s]])[None, :])[0]["series"]["new"]
        assert list(split[:3]) == list(plain[:3]) and list(late) == list(plain)
        differ += list(split) != list(plain)
    assert differ > 20


def test_the_particle_filters_marginal_likelihood_is_the_enumerated_one(three):
    """The bootstrap filter, resampling and branching, on the three-agent world: its estimate of p(y | theta)
    over 20,000 particles within 5 % of the sum over every trajectory (its relative standard error here is about
    1 %), and it resampled on the way."""
    _, plan = three
    exact = _chain([(0, 1), (1, 0), (1, 2), (2, 1)], 3, 1, TICKS)
    y = np.array([1.0, 1.0, 0.0, 1.0, np.nan, 0.0])
    rho, size = 0.7, 2.0
    zs = np.array(list(exact), dtype=float)
    truth = float(
        (np.array(list(exact.values())) * np.exp(log_likelihood(y, rho * zs, size, "negbin").sum(axis=1))).sum()
    )
    p = 20_000
    sim_ = plan.simulator_for(TICKS + 1)
    rows = np.tile([BETA, GAMMA], (p, 1))
    true, _ = trajectories(sim_, rows, np.arange(p) + 11, "new", TICKS + 1)
    start = Run(rows, np.arange(p) + 11, [NO_RESEEDS] * p, true, np.full(p, rho))
    end, logw, ess, marginal, resampled = particle_filter(
        sim_, start, "new", y, (None, 1.0, "negbin", size), np.random.default_rng(5)
    )
    assert resampled >= 1 and ess.shape == (TICKS + 1,)
    assert np.exp(marginal) == pytest.approx(truth, rel=0.05)
    assert np.exp(logw).sum() == pytest.approx(1.0)


@pytest.fixture(scope="module")
def calibration(tmp_path_factory):
    """A 300-agent world, sir with beta 0.05 and gamma 0.2 from 3 random seeds, reports a binomial half of the
    cases: the plan of a fit that knows all of it (its posterior a point, so that the filter alone is checked)."""
    folder = tmp_path_factory.mktemp("calibration")
    assert agora(folder, "new", "w.db", "--agents", "300", "--seed", "5").returncode == 0
    (folder / "y.csv").write_text("tick,new\n" + "".join(f"{t},0\n" for t in range(40)))

    async def go():
        world = await open_world(str(folder / "w.db"))
        registry = plugin_registry(str(folder / "w.db"), ())
        request = Fit.parse({"observed": str(folder / "y.csv"), "model": "sir",
                             "params": {"beta": (0.01, 0.2), "gamma": (0.05, 0.5), "report": 0.5},
                             "seeds": "random:3", "budget": 100, "workers": 1})  # fmt: skip
        obs = read_observed(request.observed, world, ("S", "I", "R"))
        return Plan(world, registry, request, obs)

    return asyncio.run(go())


def _coverage(plan, forecasts: int, cut: int = 12, horizon: int = 4) -> tuple[int, int]:
    """``forecasts`` hidden epidemics (their reports up to ``cut`` seen, the cases after it the truths), each
    forecast by the filter from the true parameters: how many truths ``horizon`` ticks ahead lie in the 90 %
    interval, of how many forecasts."""
    theta = np.array([[0.05, 0.2]])
    fit = SimpleNamespace(accepted=theta, weights=np.array([1.0]))
    request = SimpleNamespace(filter="binomial", filter_particles=400, filter_window=7, draws=1000)
    sim_ = plan.simulator_for(cut + 1 + horizon)
    rng = np.random.default_rng(17)
    inside = done = 0
    seed = 10_000
    while done < forecasts:
        seed += 1
        z = np.zeros(cut + 1 + horizon)
        got = sim_.true_runs(theta[0], seed)[0]["series"]["new"][: z.size]
        z[: len(got)] = got
        y = rng.binomial(z.astype(np.int64), 0.5).astype(float)
        if y[cut - 6 : cut + 1].sum() == 0:  # chosen by what the data up to the cut show: none in the last week
            continue
        draws, failed, filtered = filtered_draws(plan, fit, cut, horizon, "new", y[: cut + 1], rng, request)
        assert failed == 0 and not filtered.collapsed and filtered.resampled is not None
        lo, hi = np.quantile(draws[:, horizon - 1], [0.05, 0.95])
        inside += lo <= y[cut + horizon] <= hi
        done += 1
    return inside, done


@pytest.mark.slow
def test_the_filtered_forecast_is_calibrated_on_simulated_epidemics(calibration):
    """100 hidden epidemics forecast 4 ticks past their cut: the 90 % intervals hold 85 to 95 of the truths."""
    inside, done = _coverage(calibration, 100)
    assert 85 <= inside <= 95, inside


def test_the_filtered_forecast_holds_most_truths(calibration):
    """The slow test's fast twin: 12 hidden epidemics, 9 or more truths in the 90 % intervals."""
    inside, done = _coverage(calibration, 12)
    assert inside >= 9, inside
