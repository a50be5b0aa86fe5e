"""The exact likelihood of adoption times (``sim.runs.fit.likelihood``) for ``ic`` and ``si``.

1. **It is the model's law.** On a graph of five agents, ``exp(loglik)`` of every adoption-time pattern equals
   the probability a slow reference written here gives (ic: Kempe-Kleinberg-Tardos live edges, each pattern
   the breadth-first distances of a live-edge draw; si: the rounds one by one, each susceptible agent infected
   with ``1 - (1 - beta)^m`` from its ``m`` infected followees), the patterns' probabilities sum to 1, whole
   or cut at a horizon, and the frequencies of the patterns in the engine's own runs (``--cascades`` trees)
   lie within 5 binomial standard deviations of ``exp(loglik)``.
2. **It recovers a truth.** On ego-Facebook, the 90 % profile-likelihood interval of ``p`` from the adoption
   times of one simulated ic cascade (p = 0.03, 20 random seeds) holds 0.03 in at least 7 of 10 cascades.
3. **Its edges.** Impossible times name the agent; models and parameters without an exact likelihood are
   refused in one sentence; the grid posterior integrates to 1 and its draws follow its CDF.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections import Counter

import numpy as np
import pytest
import scipy.stats
from conftest import asked_for_slow, data_file

from sim.core.world import build_world
from sim.errors import BadParameterError
from sim.model.registry import Registry
from sim.runs.fit.likelihood import (
    CHI2_1_90,
    LIKELIHOOD_MODELS,
    exact_fit,
    exposure,
    likelihood_for,
    loglik,
    why_no_likelihood,
)
from sim.runs.runner import run_cascades
from sim.store.create import imported_world
from sim.store.observed import ObservedTimes

# Five agents: a cycle back to the seed, agents followed by two, an agent (1 <-> 2) in a two-way pair.
EDGES = [(0, 1), (0, 2), (1, 2), (2, 1), (1, 3), (2, 3), (3, 4), (2, 4), (4, 0)]
N = 5
NEVER = -1


@pytest.fixture(scope="module")
def tiny():
    ids = np.array([10, 20, 30, 40, 50])  # original ids, to see them named
    return build_world("tiny", 0, N, np.array([a for a, _ in EDGES]), np.array([b for _, b in EDGES]), ids=ids)


def times_of(pattern) -> ObservedTimes:
    t = np.asarray(pattern, dtype=np.int64)
    return ObservedTimes("pattern", np.flatnonzero(t >= 0), t[t >= 0])


def prob(model: str, world, pattern, value: float, horizon: int | None) -> float:
    """exp(loglik) of a pattern, 0 where the model cannot produce it."""
    try:
        ex = exposure(model, world, times_of(pattern), horizon)
    except BadParameterError:
        return 0.0
    return float(np.exp(loglik(ex, np.array([value]))[0]))


# -- slow references -----------------------------------------------------------------------------------------


def ic_law(p: float, horizon: int) -> dict[tuple[int, ...], float]:
    """Every pattern of ic from seed 0 with its probability: each edge live with probability p, an agent's
    tick its breadth-first distance from the seed along live edges (never, past the horizon)."""
    law: dict[tuple[int, ...], float] = Counter()
    for live in itertools.product([False, True], repeat=len(EDGES)):
        tick = [NEVER] * N
        tick[0] = 0
        frontier, d = [0], 0
        while frontier:
            d += 1
            nxt = []
            for u in frontier:
                for (a, b), on in zip(EDGES, live):
                    if on and a == u and tick[b] == NEVER and b not in nxt:
                        nxt.append(b)
            for b in nxt:
                tick[b] = d
            frontier = nxt
        pattern = tuple(t if t <= horizon else NEVER for t in tick)
        law[pattern] += p ** sum(live) * (1 - p) ** (len(EDGES) - sum(live))
    return dict(law)


def si_prob(beta: float, pattern, horizon: int) -> float:
    """The probability of an si pattern round by round (seed 0; NEVER: not infected by the horizon)."""
    total = 1.0
    for r in range(1, horizon + 1):
        for v in range(N):
            if 0 <= pattern[v] < r:
                continue  # infected already
            m = sum(1 for a, b in EDGES if b == v and 0 <= pattern[a] <= r - 1)
            miss = (1 - beta) ** m
            total *= (1 - miss) if pattern[v] == r else miss
    return total


def test_ic_loglik_is_the_live_edge_law(tiny):
    for p in (0.3, 0.75):
        for horizon in (2, 50):
            law = ic_law(p, horizon)
            assert math.isclose(sum(law.values()), 1.0, rel_tol=1e-12)
            assert len(law) >= 8 if horizon == 2 else len(law) >= 25
            for pattern, q in law.items():
                assert prob("ic", tiny, pattern, p, horizon) == pytest.approx(q, rel=1e-10), pattern
            # Every other pattern (ticks 1..horizon or never) is impossible: the law sums to 1 over all of them.
            choices = list(range(1, min(horizon, 5) + 1)) + [NEVER]
            total = sum(prob("ic", tiny, (0, *rest), p, horizon) for rest in itertools.product(choices, repeat=N - 1))
            assert total == pytest.approx(1.0, rel=1e-10)


def test_si_loglik_is_the_round_by_round_law_and_sums_to_one(tiny):
    for beta, horizon in ((0.3, 3), (0.6, 2), (0.3, 4)):
        total = 0.0
        possible = 0
        for rest in itertools.product([*range(1, horizon + 1), NEVER], repeat=N - 1):
            pattern = (0, *rest)
            q = si_prob(beta, pattern, horizon)
            got = prob("si", tiny, pattern, beta, horizon)
            assert got == pytest.approx(q, rel=1e-10, abs=1e-300), pattern
            total += got
            possible += q > 0
        assert total == pytest.approx(1.0, rel=1e-10)
        assert possible >= 20


# -- the engine's runs ---------------------------------------------------------------------------------------


def engine_patterns(world, model: str, params: dict, runs: int, **kw) -> Counter:
    """How often each adoption-time pattern came out of ``runs`` runs of the engine, from their trees."""
    got = asyncio.run(
        run_cascades(
            world, registry=Registry([]), text="m", seeds="ids:10", model=model, params=params, seed=2024,
            runs=runs, trees=True, workers=1, **kw,
        )
    )  # fmt: skip
    assert got["completed"] == runs
    counts: Counter = Counter()
    for run in got["runs"]:
        tick = np.full(N, NEVER, dtype=np.int64)
        tick[world.indices_of(run["tree"]["agent"])] = run["tree"]["tick"]
        counts[tuple(tick.tolist())] += 1
    return counts


def within_five_sigma(counts: Counter, law: dict[tuple[int, ...], float], runs: int) -> tuple[float, float]:
    """Every pattern's count within 5 binomial standard deviations of ``runs * q``, no pattern outside the
    law, and Pearson's chi-square over the patterns below its 1 - 1e-6 quantile; returns the largest deviation
    in standard deviations and the chi-square."""
    assert set(counts) <= set(law), set(counts) - set(law)
    worst = chi2 = 0.0
    for pattern, q in law.items():
        sd = math.sqrt(runs * q * (1 - q))
        z = abs(counts.get(pattern, 0) - runs * q) / sd
        assert z <= 5.0, (pattern, counts.get(pattern, 0), runs * q)
        worst = max(worst, z)
        chi2 += (counts.get(pattern, 0) - runs * q) ** 2 / (runs * q)
    assert chi2 < scipy.stats.chi2.isf(1e-6, len(law) - 1), chi2
    return worst, chi2


def ic_exact_law(world, p: float) -> dict[tuple[int, ...], float]:
    choices = [1, 2, 3, 4, NEVER]
    law = {}
    for rest in itertools.product(choices, repeat=N - 1):
        q = prob("ic", world, (0, *rest), p, 50)
        if q > 0:
            law[(0, *rest)] = q
    return law


def si_exact_law(world, beta: float, horizon: int) -> dict[tuple[int, ...], float]:
    law = {}
    for rest in itertools.product([*range(1, horizon + 1), NEVER], repeat=N - 1):
        q = prob("si", world, (0, *rest), beta, horizon)
        if q > 0:
            law[(0, *rest)] = q
    return law


@pytest.mark.parametrize("runs", [2_000, pytest.param(40_000, marks=pytest.mark.slow)])
def test_ic_runs_of_the_engine_follow_exp_loglik(tiny, runs, request):
    if runs > 2_000 and not asked_for_slow(request.config):
        pytest.skip("40,000 engine runs take minutes: run them with pytest -m slow")
    law = ic_exact_law(tiny, 0.3)
    assert sum(law.values()) == pytest.approx(1.0)
    counts = engine_patterns(tiny, "ic", {"p": 0.3}, runs, until_done=True)
    within_five_sigma(counts, law, runs)
    assert len(counts) >= 20  # the runs cover the law


@pytest.mark.parametrize("runs", [1_200, pytest.param(20_000, marks=pytest.mark.slow)])
def test_si_runs_of_the_engine_follow_exp_loglik_at_a_horizon(tiny, runs, request):
    if runs > 1_200 and not asked_for_slow(request.config):
        pytest.skip("20,000 engine runs take minutes: run them with pytest -m slow")
    # --steps 4: the seeding and 3 rounds, so the horizon is tick 3.
    law = si_exact_law(tiny, 0.3, 3)
    assert sum(law.values()) == pytest.approx(1.0)
    counts = engine_patterns(tiny, "si", {"beta": 0.3}, runs, steps=4)
    assert max(max(p) for p in counts) == 3
    within_five_sigma(counts, law, runs)
    assert len(counts) >= 40


# -- ego-Facebook --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def facebook():
    return imported_world("fb", str(data_file("facebook_combined.txt")))


def test_ic_truth_lies_in_the_profile_interval_on_ego_facebook(facebook):
    truth, cascades = 0.03, 10
    got = asyncio.run(
        run_cascades(
            facebook, registry=Registry([]), text="m", seeds="random:20", model="ic", params={"p": truth},
            seed=100, runs=cascades, until_done=True, trees=True, workers=1,
        )
    )  # fmt: skip
    inside = 0
    for run in got["runs"]:
        tree = run["tree"]
        times = ObservedTimes("fb", facebook.indices_of(tree["agent"]), tree["tick"])
        assert tree["agent"].size > 200  # a cascade that spread
        # The whole cascade (it ended by itself): the round after its last tick is observed too.
        fit = exact_fit("ic", facebook, times, 0.0, 1.0, log_uniform=False, horizon=int(tree["tick"].max()) + 1)
        lo, hi = fit.profile90
        inside += lo <= truth <= hi
        assert lo < fit.mle < hi and hi - lo < 0.01
        assert fit.ci90[0] < fit.median < fit.ci90[1]
        assert abs(fit.median - fit.mle) < 0.1 * (hi - lo)  # a flat prior and many data: they nearly agree
        ll = loglik(fit.exposure, np.array([fit.mle, lo, hi]))  # the interval's ends are where it says
        assert ll[1] == pytest.approx(ll[0] - CHI2_1_90 / 2, abs=1e-6)
        assert ll[2] == pytest.approx(ll[0] - CHI2_1_90 / 2, abs=1e-6)
    assert inside >= 7, inside


# -- edges ---------------------------------------------------------------------------------------------------


def test_impossible_times_name_the_agent(tiny):
    # 30 (index 2) adopts at tick 2, but its followees 10 and 20 adopted at 0 and 3: not the round before.
    times = ObservedTimes("t.csv", np.array([0, 2, 1]), np.array([0, 2, 3]))
    with pytest.raises(BadParameterError) as exc:
        exposure("ic", tiny, times)
    assert str(exc.value) == (
        "adoption times t.csv: agent 30 adopted at tick 2 but no agent it follows had adopted at tick 1, the round "
        "before it, which ic cannot produce: check the times and the world, or fit by simulation"
    )
    # si allows an earlier followee, ic does not: 20 at 2 with 10 at 0.
    later = ObservedTimes("t.csv", np.array([0, 1]), np.array([0, 2]))
    assert exposure("si", tiny, later).successes.tolist() == [1]
    with pytest.raises(BadParameterError, match="agent 20 adopted at tick 2 but no agent it follows"):
        exposure("ic", tiny, later)
    # Not even si: 40 (index 3) follows only 20 and 30, who never adopted.
    lone = ObservedTimes("t.csv", np.array([0, 3]), np.array([0, 1]))
    with pytest.raises(
        BadParameterError, match="agent 40 adopted at tick 1 but no agent it follows had adopted before"
    ):
        exposure("si", tiny, lone)
    # Past the horizon the same times are not seen, and possible.
    assert exposure("si", tiny, lone, horizon=0).successes.size == 0


def test_the_statistics_of_one_pattern_by_hand(tiny):
    # ic, seed 10 at 0, 20 and 30 at 1, 40 at 2, 50 never; the whole cascade (horizon 3).
    ex = exposure("ic", tiny, times_of([0, 1, 1, 2, NEVER]), horizon=3)
    # 20 and 30 faced one attempt each (from 10); 40 two (from 20 and 30); failed: 30->50, 40->50.
    assert sorted(ex.successes.tolist()) == [1, 1, 2] and ex.failures == 2 and ex.horizon == 3
    p = 0.4
    want = p * p * (1 - (1 - p) ** 2) * (1 - p) ** 2
    assert float(np.exp(loglik(ex, np.array([p]))[0])) == pytest.approx(want, rel=1e-12)
    # si with horizon 3: 50 never infected though 30 (from round 2) and 40 (from round 3) tried: 2 + 1 failures.
    si = exposure("si", tiny, times_of([0, 1, 1, 2, NEVER]), horizon=3)
    assert sorted(si.successes.tolist()) == [1, 1, 2] and si.failures == 3
    # The default horizon is the last tick: the round after it is not counted.
    assert exposure("ic", tiny, times_of([0, 1, 1, 2, NEVER])).horizon == 2


def test_loglik_at_the_ends(tiny):
    ex = exposure("ic", tiny, times_of([0, 1, 1, 2, NEVER]), horizon=3)
    ll = loglik(ex, np.array([0.0, 1.0, -0.1, 1.5, 0.5]))
    assert ll.tolist()[:4] == [-np.inf, -np.inf, -np.inf, -np.inf] and np.isfinite(ll[4])
    seeds_only = exposure("ic", tiny, times_of([0, NEVER, NEVER, NEVER, NEVER]), horizon=1)
    assert seeds_only.successes.size == 0 and seeds_only.failures == 2
    assert loglik(seeds_only, np.array([0.0]))[0] == 0.0  # p = 0 explains a cascade that did not spread
    everyone = exposure("si", tiny, times_of([0, 1, 1, 2, 2]))
    assert everyone.failures == 0 and loglik(everyone, np.array([1.0]))[0] == 0.0


def test_models_and_parameters_without_an_exact_likelihood_are_refused():
    assert LIKELIHOOD_MODELS == {"ic": "p", "si": "beta"}
    assert why_no_likelihood("ic") is None and why_no_likelihood("si") is None
    assert why_no_likelihood("sir") == "sir's recovery times are not observed"
    assert "only ic and si" in why_no_likelihood("voter")
    assert likelihood_for("ic", {"p": 0.1}) == "p" and likelihood_for("si", {}) == "beta"
    with pytest.raises(BadParameterError) as exc:
        likelihood_for("sir", {"beta": 0.1})
    assert str(exc.value) == (
        "model 'sir' has no exact likelihood: sir's recovery times are not observed; fit it by simulation instead"
    )
    with pytest.raises(BadParameterError, match="assumes every edge has the same p: drop trust_weighted"):
        likelihood_for("ic", {"trust_weighted": True})
    with pytest.raises(BadParameterError, match="drop trust_weighted"):
        likelihood_for("ic", {"trust_weighted": "true"})
    assert likelihood_for("ic", {"trust_weighted": False}) == "p"


def test_the_grid_posterior(tiny):
    times = times_of([0, 1, 1, 2, NEVER])
    for log_uniform, lo in ((False, 0.0), (True, 1e-3)):
        fit = exact_fit("ic", tiny, times, lo, 1.0, log_uniform, horizon=3, points=2001)
        assert fit.param == "p" and fit.grid[0] == lo and fit.grid[-1] == 1.0 and fit.grid.size == 2001
        area = float(np.sum(0.5 * (fit.posterior[1:] + fit.posterior[:-1]) * np.diff(fit.grid)))
        assert area == pytest.approx(1.0, rel=1e-12)
        # Against a dense brute-force integral of prior x likelihood.
        x = np.linspace(max(lo, 1e-9), 1.0, 400_001)
        w = np.exp(loglik(fit.exposure, x)) * (1 / x if log_uniform else 1.0)
        cdf = np.concatenate([[0.0], np.cumsum(0.5 * (w[1:] + w[:-1]) * np.diff(x))])
        cdf /= cdf[-1]
        for q, got in ((0.5, fit.median), (0.05, fit.ci90[0]), (0.95, fit.ci90[1])):
            assert got == pytest.approx(float(np.interp(q, cdf, x)), abs=2e-3), (log_uniform, q)
        mean = np.sum(0.5 * (x[1:] * w[1:] + x[:-1] * w[:-1]) * np.diff(x)) / np.sum(
            0.5 * (w[1:] + w[:-1]) * np.diff(x)
        )
        assert fit.mean == pytest.approx(float(mean), abs=1e-3)
        # The MLE: the root of the score, p^2 (1 - (1 - p)^2) (1 - p)^2 at its largest, and the interval's ends.
        grid = np.linspace(0.0, 1.0, 1_000_001)
        assert fit.mle == pytest.approx(grid[np.argmax(loglik(fit.exposure, grid))], abs=2e-6)
        ends = loglik(fit.exposure, np.array(fit.profile90))
        top = loglik(fit.exposure, np.array([fit.mle]))[0]
        assert ends == pytest.approx([top - CHI2_1_90 / 2] * 2, abs=1e-9)
        # Draws follow the CDF: their quantiles are the fit's.
        draws = fit.draws(40_000, np.random.default_rng(3))
        assert draws.min() >= lo and draws.max() <= 1.0
        assert np.quantile(draws, [0.05, 0.5, 0.95]) == pytest.approx(
            [*fit.ci90[:1], fit.median, fit.ci90[1]], abs=0.01
        )
    assert fit.to_dict()["prior"] == {"lo": 1e-3, "hi": 1.0, "scale": "log-uniform"}


def test_a_narrow_posterior_gets_a_finer_grid(facebook):
    times = ObservedTimes("fb", np.arange(20), np.zeros(20, dtype=np.int64))
    # Twenty seeds and nobody else by tick 1: hundreds of failed attempts, p near 0.
    fit = exact_fit("ic", facebook, times, 0.0, 1.0, False, horizon=1, points=1001)
    assert fit.grid[-1] < 0.1 and fit.mle == 0.0 and fit.profile90[0] == 0.0
    failures = fit.exposure.failures
    assert failures > 200
    # The posterior is (F + 1)(1 - p)^F: its median is 1 - 2^(-1/(F+1)).
    assert fit.median == pytest.approx(1 - 2 ** (-1 / (failures + 1)), rel=1e-3)


def test_bad_ranges_and_nothing_to_learn(tiny):
    times = times_of([0, 1, 1, 2, NEVER])
    with pytest.raises(BadParameterError, match="the range of p must lie within 0..1 with LO < HI, not 0.5..0.2"):
        exact_fit("ic", tiny, times, 0.5, 0.2, False)
    with pytest.raises(BadParameterError, match="a log-uniform range of beta needs LO above 0"):
        exact_fit("si", tiny, times, 0.0, 1.0, True)
    with pytest.raises(BadParameterError, match="horizon -1 is negative"):
        exact_fit("si", tiny, times, 0.0, 1.0, False, horizon=-1)
    with pytest.raises(BadParameterError, match="show no attempt by the horizon \\(tick 0\\), so they say nothing"):
        exact_fit("ic", tiny, times, 0.0, 1.0, False, horizon=0)
