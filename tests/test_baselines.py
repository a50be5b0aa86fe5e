"""The baselines of sim.analysis.baselines: persistence exactly as the Forecast Hub's code computes it (its first
horizon is the last count plus the symmetrised changes' evenly spaced quantiles), the renewal projection's mean
against the renewal recursion (R fixed; and R from its Gamma posterior, through the moments of R), reproducible
draws, one-sentence refusals, and both run on a real curve and scored against what followed.

Monte Carlo tolerances: the mean of M independent trajectories is off by at most 5 of its standard errors
(sd / sqrt(M), the sd estimated from the draws); under the normal approximation that fails once in 1.7 million per
horizon, and the seeds are fixed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import data_file

from sim.analysis.baselines import persistence, project, renewal, renewal_weights
from sim.analysis.rt import estimate_rt
from sim.analysis.rtcurve import serial_interval_of
from sim.analysis.scores import SCORES, score_samples
from sim.errors import BadParameterError
from sim.store.timeline import read_incidence

SERIES = np.array([40, 42, 39, 44, 41, 45, 50, 47, 52, 48], dtype=float)
SI = [0.0, 0.2, 0.5, 0.2, 0.1]  # w_1..w_4, mean 2.2 ticks
LATE = [0.0, 0.0, 0.0, 0.0, 0.0, 1.0]  # every case infects 5 ticks on: a 4-tick series has no window past its mean


def within_mc(draws: np.ndarray, expected: np.ndarray) -> None:
    m = draws.shape[0]
    se = draws.std(axis=0, ddof=1) / math.sqrt(m)
    assert np.all(np.abs(draws.mean(axis=0) - expected) <= 5 * se + 1e-12), (draws.mean(axis=0), expected, se)


def test_persistence_median_is_the_last_count_and_its_spread_the_past_changes():
    for m in (1001, 1000):
        p = persistence(SERIES, 6, m, np.random.default_rng(3))
        assert p.shape == (m, 6) and p.dtype == np.int64
        np.testing.assert_array_equal(np.median(p, axis=0), np.full(6, 48.0))
    # the first horizon: the last count plus the symmetrised changes' quantiles at 0, 1/(M-1), ..., 1, rounded
    m = 1001
    changes = np.diff(SERIES)
    grid = np.quantile(np.concatenate((changes, -changes)), np.linspace(0, 1, m))
    p = persistence(SERIES, 6, m, 3)
    np.testing.assert_array_equal(np.sort(p[:, 0]), np.rint(48 + np.sort(grid)))
    # horizon h adds h independent orderings of the grid: the spread grows as sqrt(h) (no clipping this far from 0)
    big = persistence(SERIES * 100, 9, 4001, 5)
    step = np.quantile(np.concatenate((changes, -changes)) * 100, np.linspace(0, 1, 4001)).std()
    np.testing.assert_allclose(big.std(axis=0), step * np.sqrt(np.arange(1, 10)), rtol=0.06)
    # counts are never negative: a curve near 0 with large swings is clipped at 0
    low = persistence([0, 9, 0, 8, 1, 0, 2], 5, 500, 1)
    assert low.min() == 0 and np.all(np.median(low, axis=0) >= 2)


def test_persistence_at_last_weeks_level_keeps_the_daily_changes():
    """level=7: the median is the mean of the last 7 counts (rounded), the spread the same grid of the counts' own
    changes as level=1 (shifted, not shrunk)."""
    series = np.array([10, 30, 12, 28, 14, 26, 16, 24, 18, 22], dtype=float)
    week = float(series[-7:].mean())  # 21.142857...
    p = persistence(series, 4, 1001, 3, level=7)
    np.testing.assert_array_equal(np.median(p, axis=0), np.full(4, np.rint(week)))
    changes = np.diff(series)
    grid = np.quantile(np.concatenate((changes, -changes)), np.linspace(0, 1, 1001))
    shift = np.median(week + grid) - week  # the first horizon's draws are re-centred on the level
    np.testing.assert_array_equal(np.sort(p[:, 0]), np.rint(np.maximum(week + np.sort(grid) - shift, 0)))
    with pytest.raises(BadParameterError, match="at least 8"):
        persistence(series[:7], 4, 10, 3, level=7)


def test_renewal_with_r_fixed_follows_the_renewal_recursion():
    """I_t ~ Poisson(R sum_s w_s I_{t-s}) has E[I_t] = R sum_s w_s E[I_{t-s}]: the recursion itself."""
    w = renewal_weights(SI, SERIES.size + 8)
    for r_value in (0.8, 1.4):
        expected = list(SERIES)
        for _ in range(8):
            t = len(expected)
            expected.append(r_value * sum(w[s] * expected[t - s] for s in range(1, len(SI))))
        draws = project(SERIES, w, np.full(20000, r_value), 8, np.random.default_rng(17))
        assert draws.dtype == np.int64
        within_mc(draws, np.array(expected[SERIES.size :]))
    assert not project(SERIES, w, np.zeros(50), 8, np.random.default_rng(1)).any()


def test_renewal_mean_is_the_recursion_averaged_over_rs_posterior():
    """With R ~ Gamma(a, b) fixed within a trajectory, E[I_{T+h}] is the recursion's polynomial in R (degree h)
    averaged with the Gamma's moments E[R^k] = b^k Gamma(a + k)/Gamma(a); a and b are the last window's posterior."""
    horizon = 7
    w = renewal_weights(SI, SERIES.size + horizon)
    est = estimate_rt(SERIES, serial_interval_of(SI), window=7)
    a, b = float(est.shape[-1]), float(est.scale[-1])
    polys = [np.array([x]) for x in SERIES]  # coefficients of R^0, R^1, ...
    for _ in range(horizon):
        t = len(polys)
        acc = np.zeros(len(polys[-1]) + 1)
        for s in range(1, len(SI)):
            acc[1 : 1 + polys[t - s].size] += w[s] * polys[t - s]
        polys.append(acc)
    moments = np.array([b**k * math.exp(math.lgamma(a + k) - math.lgamma(a)) for k in range(horizon + 1)])
    expected = np.array([np.dot(p, moments[: p.size]) for p in polys[SERIES.size :]])
    draws = renewal(SERIES, SI, horizon, 20000, np.random.default_rng(23), window=7)
    assert draws.shape == (20000, horizon) and draws.dtype == np.int64
    within_mc(draws, expected)
    assert expected[-1] > expected[0]  # R's posterior is above 1 on this rising curve: the mean grows


def test_draws_are_reproducible_by_seed():
    for method in (
        lambda rng: persistence(SERIES, 5, 300, rng),
        lambda rng: renewal(SERIES, "gamma:2.6,1.5", 5, 300, rng),
    ):
        np.testing.assert_array_equal(method(42), method(42))
        np.testing.assert_array_equal(method(np.random.default_rng(42)), method(np.random.default_rng(42)))
        assert not np.array_equal(method(42), method(43))


def test_bad_input_is_one_sentence():
    cases = [
        (lambda: persistence([3.0, -1.0, 2.0], 3, 10, 1), "negative"),
        (lambda: renewal([3.0, 1.0, -2.0, 5.0], SI, 3, 10, 1, window=2), "negative"),
        (lambda: persistence([5.0], 3, 10, 1), "at least 2"),
        (lambda: renewal(SERIES[:5], SI, 3, 10, 1, window=7), "window of 7 ticks is longer"),
        (lambda: renewal([1.0, 2.0, 3.0, 4.0], LATE, 3, 10, 1, window=1), "before the serial interval's mean"),
        (lambda: persistence(SERIES, 0, 10, 1), "horizon"),
        (lambda: renewal(SERIES, SI, 3, 0, 1), "draws"),
        (lambda: persistence(SERIES, 3, 10, "seed"), "rng"),
        (lambda: renewal(SERIES, [0.5, 0.5], 3, 10, 1), "day 0"),
    ]
    for call, words in cases:
        with pytest.raises(BadParameterError) as info:
            call()
        message = str(info.value)
        assert words in message and "\n" not in message and message.count(". ") == 0, message


def test_both_baselines_on_flu1918_scored_against_what_followed():
    """Baltimore 1918 (daily onsets) cut at day 29, forecast 14 days with its own serial interval."""
    cases = read_incidence(data_file("incidence-Flu1918.csv")).counts["cases"]
    si_file = str(data_file("serial-interval-Flu1918.csv"))
    cut, horizon, m = 30, 14, 4000
    past, truth = cases[:cut], cases[cut : cut + horizon]
    p = persistence(past, horizon, m, 1)
    r = renewal(past, si_file, horizon, m, 1)
    for draws in (p, r):
        assert draws.shape == (m, horizon) and draws.dtype == np.int64 and draws.min() >= 0
    np.testing.assert_array_equal(np.median(p, axis=0), np.full(horizon, past[-1]))
    # the first day's mean is E[R] times the infectivity at the cut: shape * scale * sum_s w_s I_{T-s}
    est = estimate_rt(past, serial_interval_of(si_file))
    w = renewal_weights(si_file, cut + horizon)
    infectivity = float(np.dot(w[1 : cut + 1], past[::-1]))
    within_mc(r[:, :1], np.array([est.shape[-1] * est.scale[-1] * infectivity]))
    scores = {name: score_samples(d, truth) for name, d in (("persistence", p), ("renewal", r))}
    for s in scores.values():
        assert tuple(s) == SCORES and all(np.isfinite(v).all() and v.shape == (horizon,) for v in s.values())
    # day 30 jumps from 80 to 405 onsets: neither baseline's 90 % interval holds it
    assert scores["persistence"]["cover90"][0] == 0 and scores["renewal"]["cover90"][0] == 0
