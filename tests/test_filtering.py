"""Issue 75: Agora's forecast filtered through the data (:mod:`sim.runs.backtest.filtering`): the likelihood it
weighs trajectories by is exact against the sum over every trajectory of a three-agent world, its estimate of the
marginal likelihood is that sum, its ESS falls as the data accumulate, and a collapse is said in one line."""

from __future__ import annotations

import asyncio
import itertools
import json

import numpy as np
import pytest
from conftest import agora, one_sentence
from scipy import stats

import sim
from sim.engine.requests import Fit
from sim.model.registry import plugin_registry
from sim.runs.backtest.filtering import Filtered, ess_by_tick, log_likelihood, trajectories, weigh
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
            "--workers", "1", "--filter-particles", "200")  # fmt: skip
    out = agora(tmp_path, *base, "--json")
    assert out.returncode == 0, out.stderr
    cut = json.loads(out.stdout)["cuts"][0]
    f = cut["filtered"]
    assert f["law"] == "negbin" and f["particles"] == 200 and len(f["ess"]) == 9 and f["ess"][-1] <= f["ess"][0]
    assert (f["size"] is None or f["size"] > 0) and isinstance(f["collapsed"], bool)
    said = one_sentence(agora(tmp_path, *base, "--filter", "binomial", "--delay", "gamma:2,1"))
    assert "--filter binomial is exact only without a reporting delay, and the column is seen with one" in said
