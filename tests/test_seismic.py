"""SEISMIC (Zhao et al. 2015, as the R package seismic 1.1 computes it): the kernel's integrals and the window's
exposure against closed forms worked out by hand and against numerical quadrature; infectiousness and the final
size on 3- and 4-post cascades worked out step by step in the comments; the supercritical case; bad input; and
SEISMIC on cascades simulated by Agora's ``ic`` with reshare times drawn from the kernel (tests/seismic_cascades.py).

The R package's documentation has an example on its ``tweet`` data set, but prints no numbers (it plots them), so
there is no published output to compare with; the cases here are computed by hand from the package's formulas.

Two kernels: the package's (``C``, ``S0``, ``THETA``), where the hand cases stay in its flat part (``s <= 300``,
``phi = c``); and a round one, ``c = 1/300``, ``s0 = 100``, ``theta = 1/2`` (a density too: ``c s0 (1 + 1/theta)
= 1``), whose power-law part ``phi(s) = (10/3) s^(-3/2)`` integrates to whole fractions on squares.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, special

from sim.analysis import seismic
from sim.analysis.seismic import S0, THETA, C, Kernel, estimate, infectiousness, predict
from sim.errors import BadParameterError

ROUND = Kernel(c=1 / 300, s0=100.0, theta=0.5)
#: qchisq(0.05, 4) and qchisq(0.95, 4): the chi-square with 4 degrees of freedom has the distribution function
#: 1 - exp(-x/2) (1 + x/2), checked in test_chi_square_quantiles.
Q05_4 = 0.7107230213973241
Q95_4 = 9.487729036781154


def test_the_constants_are_the_packages():
    assert (C, S0, THETA, seismic.N_STAR) == (6.265725e-4, 300.0, 0.2314843, 100.0)
    assert (seismic.MIN_WINDOW, seismic.MAX_WINDOW, seismic.MIN_COUNT) == (300.0, 7200.0, 5)
    # phi is a density: c s0 + c s0 / theta = 1 (to the constants' 7 digits).
    assert pytest.approx(1.0, abs=1e-6) == C * S0 * (1 + 1 / THETA)
    assert seismic.kernel_integral(0.0, np.inf)[0] == pytest.approx(C * S0 * (1 + 1 / THETA), rel=1e-14)


def test_kernel_integral_by_hand():
    """int_a^b phi and int_a^b s phi: flat part c (b - a) and c (b^2 - a^2) / 2; power part
    c s0^(1+theta) (a^-theta - b^-theta) / theta and c s0^(1+theta) (b^(1-theta) - a^(1-theta)) / (1 - theta)."""
    i0, i1 = seismic.kernel_integral([0.0, 100.0], [300.0, 200.0])
    assert i0 == pytest.approx([C * 300, C * 100], rel=1e-14)  # 0.18797175, 0.06265725
    assert i1 == pytest.approx([C * 45_000, C * 15_000], rel=1e-14)  # (300^2)/2, (200^2 - 100^2)/2
    # 300..600, all power law: c s0^(1+theta) 300^-theta (1 - 2^-theta) / theta = (c s0 / theta)(1 - 2^-theta).
    i0, i1 = seismic.kernel_integral(300.0, 600.0)
    assert i0 == pytest.approx(C * S0 / THETA * (1 - 2**-THETA), rel=1e-13)
    assert i1 == pytest.approx(C * S0**2 * (2 ** (1 - THETA) - 1) / (1 - THETA), rel=1e-13)
    # The round kernel, 100..400: (10/3)(100^-1/2 - 400^-1/2) * 2 = (10/3)(1/20) * 2 = 1/3;
    # (10/3)(400^1/2 - 100^1/2) * 2 = (10/3)(10) * 2 = 200/3.
    i0, i1 = seismic.kernel_integral(100.0, 400.0, ROUND)
    assert (i0, i1) == (pytest.approx(1 / 3, rel=1e-14), pytest.approx(200 / 3, rel=1e-14))
    # Straddling s0 (0..400) is the flat part (100/300 = 1/3, (1/300) 100^2 / 2 = 50/3) plus the power part.
    i0, i1 = seismic.kernel_integral(0.0, 400.0, ROUND)
    assert (i0, i1) == (pytest.approx(2 / 3, rel=1e-14), pytest.approx(250 / 3, rel=1e-14))


def test_density_and_ccdf_by_hand():
    assert seismic.kernel_density([-1.0, 0.0, 300.0]) == pytest.approx([0.0, C, C], rel=1e-15)
    assert seismic.kernel_density(600.0) == pytest.approx(C * 2 ** -(1 + THETA), rel=1e-14)
    # The round kernel's ccdf: 1 - s/300 up to 100, then (10/3) / (1/2) s^(-1/2) = (20/3) / sqrt(s).
    got = seismic.kernel_ccdf([-5.0, 0.0, 50.0, 100.0, 400.0, 2500.0], ROUND)
    assert got == pytest.approx([1.0, 1.0, 5 / 6, 2 / 3, 1 / 3, 2 / 15], rel=1e-14)
    # The package's kernel: 1 - c s at s0, and c s0 / theta just after it: the same number (a density).
    assert seismic.kernel_ccdf(300.0) == pytest.approx(1 - 300 * C, rel=1e-15)
    assert seismic.kernel_ccdf(300.0 * 1.000001) == pytest.approx(C * S0 / THETA * 1.000001**-THETA, rel=1e-13)


def test_window_integral_by_hand():
    """int phi(s) (1 - (age - s) / w) ds over s = max(0, age - w) .. age, with the round kernel."""
    # age 50, w 100: (1/300) int_0^50 (1/2 + s/100) ds = (1/300)(25 + 12.5) = 1/8.
    # age 400, w 300: s from 100 to 400, all power law: ((300 - 400) * 1/3 + 200/3) / 300 = (100/3) / 300 = 1/9.
    # age 400, w 400: s from 0: ((400 - 400) * 2/3 + 250/3) / 400 = 5/24.
    # age 2500, w 900: s from 1600 to 2500: int phi = (10/3)(1/40 - 1/50) 2 = 1/30, int s phi = (10/3)(50 - 40) 2
    # = 200/3, so ((900 - 2500)/30 + 200/3) / 900 = (40/3) / 900 = 2/135.
    got = seismic.window_integral(np.array([50.0, 400.0, 400.0, 2500.0]), np.array([100.0, 300.0, 400.0, 900.0]), ROUND)
    assert got == pytest.approx([1 / 8, 1 / 9, 5 / 24, 2 / 135], rel=1e-13)
    # A post at or after the cut adds nothing.
    assert seismic.window_integral(np.array([0.0, -3.0]), 500.0).tolist() == [0.0, 0.0]


def test_window_integral_against_quadrature():
    """The closed form against scipy's quad of the definition, on ages and windows across s0, up to a week."""
    rng = np.random.default_rng(7)
    ages = np.concatenate([[1.0, 299.0, 300.0, 301.0, 7500.0, 604_800.0], rng.uniform(0, 20_000, 20)])
    windows = np.concatenate([[300.0, 300.0, 7200.0, 300.0, 7200.0, 7200.0], rng.uniform(300, 7200, 20)])
    got = seismic.window_integral(ages, windows)
    for age, w, value in zip(ages, windows, got, strict=True):
        lo = max(0.0, age - w)
        kinks = [S0] if lo < S0 < age else None
        ref, _ = integrate.quad(
            lambda s, age=age, w=w: float(seismic.kernel_density(s)) * (1 - (age - s) / w),
            lo,
            age,
            points=kinks,
            epsabs=0,
            epsrel=1e-12,
            limit=200,
        )
        assert value == pytest.approx(ref, rel=1e-9), (age, w)


def test_chi_square_quantiles():
    for x, q in ((Q05_4, 0.05), (Q95_4, 0.95)):
        assert 1 - math.exp(-x / 2) * (1 + x / 2) == pytest.approx(q, abs=1e-14)


def test_three_posts_in_the_flat_part_by_hand():
    """The package's kernel; posts at 0, 60 and 120 s with 1000, 200 and 50 followers; the cut at 200 s.

    Window: 200/2 = 100, clipped to min_window 300; [-100, 200) holds 3 posts (the original counted) < min_count 5,
    and there are fewer than 6 posts before the cut, so the window reaches back to the original: w = 200 - 0 = 200.
    Weighted reshares: (1 - 140/200) + (1 - 80/200) = 0.3 + 0.6 = 0.9, k = 2.
    Exposure: every age (200, 140, 80) is below s0 and within w, so each post adds
    c int_0^d (1 - (d - s)/200) ds = c (d - d^2/400): c 100, c 91 and c 64;
    1000 * 100 + 200 * 91 + 50 * 64 = 121,400 c, so p = 0.9 / (121,400 c) = 0.011832.
    Prediction: all 3 posts are at or before 200, so 2 reshares so far; sum n_i (1 - c (200 - t_i))
    = 1250 - c (200,000 + 28,000 + 4,000) = 1250 - 232,000 c; with n_star 50:
    2 + p (1250 - 232,000 c) / (1 - 50 p) = 34.0; with n_star 100, 100 p = 1.18 >= 1: infinite.
    """
    times, followers = [0.0, 60.0, 120.0], [1000, 200, 50]
    p = 0.9 / (121_400 * C)
    got = infectiousness(times, followers, 200.0)
    assert got == pytest.approx((p, p * Q95_4 / 4, p * Q05_4 / 4), rel=1e-12)
    assert p == pytest.approx(0.0118318, rel=1e-5)
    size = 2 + p * (1250 - 232_000 * C) / (1 - 50 * p)
    assert predict(times, followers, 200.0, n_star=50) == pytest.approx(size, rel=1e-12)
    assert size == pytest.approx(34.0, abs=0.05)
    est = estimate(times, followers, 200.0, n_star=50)
    assert (est.observed, est.window) == (2, 200.0)
    assert est.numerator == pytest.approx(p * (1250 - 232_000 * C), rel=1e-12)
    # Supercritical: p * n_star >= 1 gives infinity (the package: Inf when p > 1/n_star).
    assert predict(times, followers, 200.0) == math.inf
    assert predict(times, followers, 200.0, n_star=1 / p * 1.0001) == math.inf
    assert math.isfinite(predict(times, followers, 200.0, n_star=1 / p * 0.9999))


def test_three_posts_with_the_power_law_by_hand():
    """The round kernel; posts at 0, 1600 and 2100 s with 270, 54 and 108 followers; the cut at 2500 s;
    min_window = max_window = 900, min_count 2.

    Window 900: [1600, 2500) holds 2 posts, not fewer than 2: no stretching. Weighted reshares: the one at 1600 lies
    on the triangle's zero (1 - 900/900 = 0) but is in the window (k = 2); the one at 2100: 1 - 400/900 = 5/9.
    Exposure per follower (test_window_integral_by_hand's sums): the original, age 2500: 2/135; the post at 1600,
    age 900, s from 0: flat 1/3 and 50/3, power 100..900 (10/3)(1/10 - 1/30) 2 = 4/9 and (10/3)(30 - 10) 2 = 400/3,
    so (0 * 7/9 + 150) / 900 = 1/6; the post at 2100, age 400, s from 0: ((900 - 400) 2/3 + 250/3) / 900 = 25/54.
    270 * 2/135 + 54 * 1/6 + 108 * 25/54 = 4 + 9 + 50 = 63, so p = (5/9) / 63 = 5/567.
    Prediction: ccdf (20/3)/sqrt(age): 2/15, 2/9, 1/3; 270 * 2/15 + 54 * 2/9 + 108/3 = 36 + 12 + 36 = 84;
    numerator 84 * 5/567 = 20/27; with n_star 50: 2 + (20/27) / (1 - 250/567) = 2 + 420/317.
    """
    times, followers, opts = [0.0, 1600.0, 2100.0], [270, 54, 108], {"min_window": 900.0, "max_window": 900.0}
    p = 5 / 567
    got = infectiousness(times, followers, 2500.0, min_count=2, kernel=ROUND, **opts)
    assert got == pytest.approx((p, p * Q95_4 / 4, p * Q05_4 / 4), rel=1e-12)
    est = estimate(times, followers, 2500.0, n_star=50, min_count=2, kernel=ROUND, **opts)
    assert est.size == pytest.approx(2 + 420 / 317, rel=1e-12)
    assert est.numerator == pytest.approx(20 / 27, rel=1e-12)
    low = p * Q05_4 / 4
    assert est.size_low == pytest.approx(2 + 84 * low / (1 - 50 * low), rel=1e-12)
    # p_up = p * 9.4877 / 4 = 0.02092, and 50 p_up = 1.046 >= 1: the upper prediction is infinite.
    assert p * Q95_4 / 4 * 50 > 1 and est.size_high == math.inf
    # A post at the cut is in the prediction's count (the package's <=), not in the infectiousness (its <).
    later = estimate([*times, 2500.0], [*followers, 0], 2500.0, n_star=50, min_count=2, kernel=ROUND, **opts)
    assert (later.p, later.observed, later.size) == (pytest.approx(p, rel=1e-12), 3, pytest.approx(est.size + 1))


def test_the_window_reaches_back_to_the_min_count_plus_first_post():
    """Posts at 0, 100, 200, 5000; the cut at 6000; min_count 2. The window 6000/2 = 3000 holds one post (5000) < 2;
    the 3rd latest post before the cut (min_count + 1) is at 100, so w = 5900, slope 1/5900. Reshares in
    [100, 6000): 100 (weight 0, counted in k), 200 (100/5900) and 5000 (4900/5900): weighted 5000/5900, k = 3."""
    times, followers = [0.0, 100.0, 200.0, 5000.0], [40, 7, 3, 11]
    est = estimate(times, followers, 6000.0, min_count=2)
    assert est.window == 5900.0
    exposure = np.dot(followers, seismic.window_integral(6000.0 - np.array(times), 5900.0))
    assert est.p == pytest.approx((5000 / 5900) / exposure, rel=1e-12)
    # k = 3: qchisq(0.95, 6) / 6 = gammaincinv(3, 0.95) / 3.
    assert est.p_up / est.p == pytest.approx(special.gammaincinv(3, 0.95) / 3, rel=1e-12)
    assert est.p_up / est.p == pytest.approx(12.591587243743977 / 6, rel=1e-12)


def test_no_reshare_yet_means_no_growth():
    """No weighted reshare in the window: p = 0 and the prediction is the reshares so far (the package's
    ``next``: infectiousness 0, so the second term is 0)."""
    assert infectiousness([0.0], [500], 100.0) == (0.0, 0.0, 0.0)
    assert predict([0.0], [500], 100.0) == 0.0
    assert predict([0.0, 0.0, 50.0], [500, 3, 4], 0.0) == 1.0  # a cut at 0: the reshare at 0 is counted
    # Reshares seen by no follower at all: the package divides by an exposure of 0, infinity.
    assert predict([0.0, 10.0], [0, 0], 100.0) == math.inf


@pytest.mark.parametrize(
    ("times", "followers", "at", "words"),
    [
        ([0.0, 20.0, 10.0], [1, 1, 1], 30.0, "sorted"),
        ([0.0, -5.0, 10.0], [1, 1, 1], 30.0, "seconds since the original post"),
        ([3.0, 5.0], [1, 1], 30.0, "the original post's 0 first"),
        ([], [], 30.0, "one list"),
        ([0.0, 5.0], [1, -2], 30.0, "missing or negative"),
        ([0.0, 5.0], [1, float("nan")], 30.0, "missing or negative"),
        ([0.0, 5.0], [1], 30.0, "one follower count per post"),
        ([0.0, 5.0], ["a", 1], 30.0, "must be numbers"),
        ([0.0, 5.0], [1, 1], -1.0, "before the original post"),
        ([0.0, 5.0], [1, 1], float("nan"), "before the original post"),
    ],
)
def test_bad_input_is_one_sentence(times, followers, at, words):
    for call in (infectiousness, predict):
        with pytest.raises(BadParameterError, match=words) as caught:
            call(times, followers, at)
        assert str(caught.value).count(". ") == 0 and str(caught.value).startswith("SEISMIC")


def test_bad_options():
    with pytest.raises(BadParameterError, match="n_star"):
        predict([0.0, 5.0], [1, 1], 10.0, n_star=0)
    with pytest.raises(BadParameterError, match="min_window <= max_window"):
        infectiousness([0.0, 5.0], [1, 1], 10.0, min_window=600, max_window=300)
    with pytest.raises(BadParameterError, match="min_count"):
        infectiousness([0.0, 5.0], [1, 1], 10.0, min_count=-1)
    with pytest.raises(BadParameterError, match="theta"):
        infectiousness([0.0, 5.0], [1, 1], 10.0, kernel=Kernel(theta=1.5))


def test_delays_follow_the_kernel():
    """200,000 reaction times against the kernel's ccdf at 1 min, 5 min, 1 h, 1 day and a week (each within 4.5
    binomial standard deviations)."""
    draws = seismic.draw_delays(np.random.default_rng(3), 200_000)
    assert draws.min() >= 0
    for s in (60.0, 300.0, 3600.0, 86_400.0, 604_800.0):
        q = float(seismic.kernel_ccdf(s)) / (C * S0 * (1 + 1 / THETA))  # the normalised kernel's
        assert abs(np.mean(draws > s) - q) < 4.5 * math.sqrt(q * (1 - q) / draws.size), s


def test_tree_times_add_delays_down_the_tree():
    parents, generation = [-1, 0, 0, 1, 3, -1], [0, 1, 1, 2, 3, 0]
    times = seismic.tree_times(parents, generation, np.random.default_rng(5))
    d = seismic.draw_delays(np.random.default_rng(5), 6)
    assert times == pytest.approx([0.0, d[1], d[2], d[1] + d[3], d[1] + d[3] + d[4], 0.0], rel=1e-15)
