"""The proper scores of sim.analysis.scores, exact on cases computed by hand here, against the closed forms they
estimate, and against scoringrules 0.10 (a test dependency: its import compiles its numba functions, seconds).

Hand cases: WIS of a five-level quantile set from the paper's interval form (Bracher et al. 2021, eq. 3), the
CRPS of a two-point and a one-point ensemble, the log score's smoothed mass at a count, coverage of a 0..100
ensemble; the WIS of a normal's quantiles tends to its closed-form CRPS as the levels grow dense. The path scores
(energy, variogram) by hand and against every pair written out, blocked or not; the PIT uniform for forecasts drawn
from the truth's own distribution (where a PIT that forgets the randomisation is not), U-shaped for too narrow ones.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special

from sim.analysis import scores
from sim.analysis.scores import (
    CENTRAL_LEVELS,
    HUB_LEVELS,
    MIN_BANDWIDTH,
    SCORES,
    coverage,
    coverage_levels,
    crps_sample,
    energy_score,
    log_score_sample,
    pairwise_relative_wis,
    pit_histogram,
    pit_values,
    relative_wis,
    sample_quantiles,
    score_samples,
    variogram_score,
    wis,
)
from sim.errors import BadParameterError


def phi(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def interval_form_wis(quantiles, levels, y) -> float:
    """Bracher et al. (2021) eq. 3 written out: the median's absolute error and K interval scores, weighted."""
    levels = list(levels)
    k = (len(levels) - 1) // 2
    median = quantiles[k]
    total = 0.5 * abs(y - median)
    for i in range(k):
        alpha = 2 * levels[i]
        lo, hi = quantiles[i], quantiles[-1 - i]
        score = (hi - lo) + (2 / alpha) * (lo - y) * (y < lo) + (2 / alpha) * (y - hi) * (y > hi)
        total += alpha / 2 * score
    return total / (k + 0.5)


def normal_crps(mu: float, sigma: float, y: float) -> float:
    """Gneiting & Raftery (2007): the CRPS of N(mu, sigma^2) at y."""
    z = (y - mu) / sigma
    pdf = math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    return sigma * (z * (2 * phi(z) - 1) + 2 * pdf - 1 / math.sqrt(math.pi))


def test_hub_levels_are_the_hubs_23():
    assert HUB_LEVELS == (
        0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5,
        0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.975, 0.99,
    )  # fmt: skip


def test_wis_of_a_known_quantile_set_by_hand():
    """Levels 0.1, 0.25, 0.5, 0.75, 0.9 (K = 2: the 80 % and 50 % intervals), quantiles 2, 4, 5, 7, 10.
    y = 11: median 0.5*6 = 3; 50 %: 0.25*(3 + 4*4) = 4.75; 80 %: 0.1*(8 + 10*1) = 1.8; (3 + 4.75 + 1.8)/2.5.
    y = 3: 0.5*2 + 0.25*(3 + 4*1) + 0.1*8 = 3.55, /2.5.  y = 5: 0 + 0.25*3 + 0.1*8 = 1.55, /2.5."""
    levels = (0.1, 0.25, 0.5, 0.75, 0.9)
    q = np.array([2.0, 4.0, 5.0, 7.0, 10.0])
    assert wis(q, levels, 11.0) == pytest.approx(9.55 / 2.5, abs=1e-12)
    assert wis(q, levels, 3.0) == pytest.approx(3.55 / 2.5, abs=1e-12)
    assert wis(q, levels, 5.0) == pytest.approx(1.55 / 2.5, abs=1e-12)
    # vectorised over leading axes: each row as the interval form gives it
    rng = np.random.default_rng(5)
    qs = np.sort(rng.normal(50, 20, size=(4, 6, len(HUB_LEVELS))), axis=-1)
    ys = rng.normal(50, 30, size=(4, 6))
    got = wis(qs, HUB_LEVELS, ys)
    assert got.shape == (4, 6)
    want = [[interval_form_wis(qs[i, j], HUB_LEVELS, ys[i, j]) for j in range(6)] for i in range(4)]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_wis_with_dense_levels_tends_to_the_normals_crps():
    """WIS over 2K + 1 evenly spaced levels i/(2K + 2) is (K + 1)/(K + 1/2) times a Riemann sum of the CRPS's
    quantile-loss integral (Bracher et al. 2021, section 2.2): it tends to the closed-form CRPS of the normal."""
    mu, sigma = 3.0, 2.0
    errors = []
    for y in (4.1, -1.5):
        exact = normal_crps(mu, sigma, y)
        for k in (10, 100, 2000):
            levels = np.arange(1, 2 * k + 2) / (2 * k + 2)
            q = mu + sigma * special.ndtri(levels)
            errors.append(abs(float(wis(q, levels, y)) - exact) / exact)
    assert errors[0] > errors[1] > errors[2] and errors[3] > errors[4] > errors[5]
    assert errors[2] < 2e-3 and errors[5] < 2e-3


def test_wis_refuses_levels_that_are_not_central_intervals():
    for levels in ((0.1, 0.5, 0.8), (0.25, 0.75), (0.5, 0.4, 0.6), (0.0, 0.5, 1.0)):
        with pytest.raises(BadParameterError, match="levels"):
            wis(np.zeros(len(levels)), levels, 1.0)
    with pytest.raises(BadParameterError, match="one quantile per level"):
        wis(np.zeros(4), (0.25, 0.5, 0.75), 1.0)
    with pytest.raises(BadParameterError, match="finite"):
        wis([1.0, np.nan, 2.0], (0.25, 0.5, 0.75), 1.0)


def test_crps_of_small_ensembles_by_hand():
    """Two draws a < b: E|X - y| - E|X - X'|/2 = (|a - y| + |b - y|)/2 - |b - a|/4 (the pairs (a,b), (b,a) of
    four); one draw (or all equal): |x - y|."""
    assert crps_sample([0.0, 4.0], 1.0) == pytest.approx(1.0, abs=1e-15)
    assert crps_sample([0.0, 4.0], 6.0) == pytest.approx((6 + 2) / 2 - 1, abs=1e-15)
    assert crps_sample([3.0], 7.5) == pytest.approx(4.5, abs=1e-15)
    assert crps_sample(np.full(9, 2.0), -1.0) == pytest.approx(3.0, abs=1e-15)
    # the energy form with every pair, written out, on a random ensemble per column
    rng = np.random.default_rng(2)
    x = rng.poisson(20, size=(37, 5)).astype(float)
    y = rng.poisson(20, size=5).astype(float)
    energy = np.abs(x - y).mean(axis=0) - 0.5 * np.abs(x[:, None, :] - x[None, :, :]).mean(axis=(0, 1))
    np.testing.assert_allclose(crps_sample(x, y), energy, rtol=1e-12)


def test_log_score_by_hand():
    """Draws 0 and 2, h = 1/2. At y = 1: p = (1/2)[Phi(3) - Phi(1)] + (1/2)[Phi(-1) - Phi(-3)] = Phi(3) - Phi(1).
    At y = 0 (its bin open below): p = (1/2)[Phi(1) + Phi(-3)]. As h -> 0 the mass is the ensemble's own."""
    assert log_score_sample([0.0, 2.0], 1, bandwidth=0.5) == pytest.approx(-math.log(phi(3) - phi(1)), rel=1e-12)
    assert log_score_sample([0.0, 2.0], 0, bandwidth=0.5) == pytest.approx(
        -math.log(0.5 * (phi(1) + phi(-3))), rel=1e-12
    )
    assert log_score_sample([3.0, 3.0, 5.0, 7.0], 3, bandwidth=1e-6) == pytest.approx(math.log(2), abs=1e-12)
    # all draws agree: Silverman's bandwidth is 0, floored at half a count
    assert MIN_BANDWIDTH == 0.5
    assert log_score_sample(np.full(50, 5.0), 5) == pytest.approx(-math.log(phi(1) - phi(-1)), rel=1e-12)
    assert log_score_sample(np.full(50, 5.0), 6) == pytest.approx(-math.log(phi(3) - phi(1)), rel=1e-12)
    # far in a tail the mass is tiny but its log is finite (no cancellation to 0)
    far = log_score_sample(np.full(10, 5.0), 60)
    assert np.isfinite(far) and far > 1000


def test_log_score_is_a_mass_function_over_counts():
    draws = np.array([0.0, 2.0, 7.3, 7.0, 11.0, 3.0])
    total = sum(math.exp(-float(log_score_sample(draws, k))) for k in range(200))
    assert total == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(BadParameterError, match="whole numbers"):
        log_score_sample(draws, 2.5)
    with pytest.raises(BadParameterError, match="whole numbers"):
        log_score_sample(draws, -1)
    with pytest.raises(BadParameterError, match="bandwidth"):
        log_score_sample(draws, 2, bandwidth=0.0)


def test_coverage_of_a_constructed_ensemble():
    """Draws 0, 1, ..., 100: the linear quantiles at 0.25/0.75 are 25/75, at 0.05/0.95 are 5/95; ends count."""
    x = np.arange(101.0)
    ys = np.array([25.0, 24.9, 75.0, 75.1, 5.0, 4.5, 95.0, 96.0])
    x2 = np.repeat(x[:, None], ys.size, axis=1)
    np.testing.assert_array_equal(coverage(x2, ys, 0.5), [1, 0, 1, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(coverage(x2, ys, 0.9), [1, 1, 1, 1, 1, 0, 1, 0])
    for level in (0.0, 1.0, 1.5):
        with pytest.raises(BadParameterError, match="level"):
            coverage(x, 3.0, level)


def test_score_samples_per_horizon():
    rng = np.random.default_rng(11)
    x = rng.poisson([5.0, 50.0, 500.0], size=(2001, 3)).astype(float)
    y = np.array([7.0, 50.0, 380.0])
    s = score_samples(x, y)
    assert tuple(s) == SCORES
    assert all(v.shape == (3,) and v.dtype == np.float64 for v in s.values())
    q = np.quantile(x, HUB_LEVELS, axis=0).T
    np.testing.assert_allclose(s["wis"], [interval_form_wis(q[h], HUB_LEVELS, y[h]) for h in range(3)], rtol=1e-12)
    np.testing.assert_allclose(s["crps"], crps_sample(x, y))
    np.testing.assert_allclose(s["log_score"], log_score_sample(x, y))
    median = np.median(x, axis=0)
    np.testing.assert_allclose(s["ae_median"], np.abs(median - y))
    np.testing.assert_allclose(s["ae_log"], np.abs(np.log1p(median) - np.log1p(y)))
    # 380 is far below Poisson(500)'s 90 % interval (about 463-537); 50 is inside both of Poisson(50)'s
    assert s["cover90"][2] == 0 and s["cover50"][1] == 1 and s["cover90"][1] == 1
    np.testing.assert_allclose(sample_quantiles(x), q)
    for bad_x, bad_y in ((x[:, 0], y), (x, y[:2]), (-x, y), (x, -y), (np.full((3, 3), np.nan), y)):
        with pytest.raises(BadParameterError):
            score_samples(bad_x, bad_y)


def test_relative_wis_ratio_of_means_and_the_hubs_pairwise_form():
    model = np.array([[1.0, 2.0], [3.0, 6.0]])  # (cuts, horizons)
    base = np.array([[2.0, 2.0], [2.0, 2.0]])
    assert relative_wis(model, base) == pytest.approx(3.0 / 2.0)
    np.testing.assert_allclose(relative_wis(model, base, axis=0), [1.0, 2.0])
    with pytest.raises(BadParameterError, match="same forecasts"):
        relative_wis(model, base[0])
    # every method scored every forecast: the pairwise form is the ratio of means
    pw = pairwise_relative_wis({"agora": model, "base": base}, "base", axis=0)
    np.testing.assert_allclose(pw["agora"], [1.0, 2.0])
    np.testing.assert_allclose(pw["base"], [1.0, 1.0])
    # a method that missed forecasts (NaN): each ratio over the pair's common forecasts, by hand.
    # theta_ab = 2/1, theta_ac = 2/4 (c's first two), theta_ba = 1/2, theta_bc = 1/3.25, theta_ca = 2, theta_cb = 3.25
    b = np.array([1.0, 1.0, 1.0, 1.0])
    a = np.array([2.0, 2.0, np.nan, np.nan])
    c = np.array([4.0, 4.0, 4.0, 1.0])
    theta_a = (2 * 0.5 * 1) ** (1 / 3)
    theta_b = (0.5 * (1 / 3.25) * 1) ** (1 / 3)
    theta_c = (2 * 3.25 * 1) ** (1 / 3)
    pw = pairwise_relative_wis({"b": b, "a": a, "c": c}, "b")
    assert pw["a"] == pytest.approx(theta_a / theta_b, rel=1e-12)
    assert pw["c"] == pytest.approx(theta_c / theta_b, rel=1e-12)
    assert pw["b"] == pytest.approx(1.0, rel=1e-12)
    with pytest.raises(BadParameterError, match="not among"):
        pairwise_relative_wis({"a": a}, "b")


@pytest.mark.slow  # scoringrules' import compiles its numba functions (5-10 s on 2 busy cores)
def test_against_scoringrules():
    sr = pytest.importorskip("scoringrules")
    rng = np.random.default_rng(7)
    x = rng.negative_binomial(5, 0.1, size=(400, 12)).astype(float)
    y = rng.negative_binomial(5, 0.1, size=12).astype(float)
    ours = crps_sample(x, y)
    # the plain estimator: its energy form and its quantile decomposition, not the fair one
    np.testing.assert_allclose(ours, sr.crps_ensemble(y, x, m_axis=0, estimator="nrg"), rtol=1e-12)
    np.testing.assert_allclose(ours, sr.crps_ensemble(y, x, m_axis=0, estimator="qd"), rtol=1e-12)
    fair = sr.crps_ensemble(y, x, m_axis=0, estimator="fair")
    m = x.shape[0]
    pairs = np.abs(x[:, None, :] - x[None, :, :]).sum(axis=(0, 1))
    np.testing.assert_allclose(ours - fair, 0.5 * pairs / (m * m * (m - 1)), rtol=1e-9)
    # WIS at the Hub's levels: the median, the lower ends (alpha/2) and the upper ends, as scoringrules takes them.
    # Its default backend (numba) is compared: 0.10's numpy backend adds w0 * median where it means w0 * |y - m|.
    q = sample_quantiles(x)
    alpha = 2 * np.array(HUB_LEVELS[:11])
    theirs = sr.weighted_interval_score(y, q[:, 11], q[:, :11], q[:, 12:][:, ::-1], alpha)
    np.testing.assert_allclose(wis(q, HUB_LEVELS, y), theirs, rtol=1e-12)
    # large counts: the smoothed mass at y is the Gaussian kernel density (same Silverman bandwidth) over y's bin
    big = np.rint(rng.normal(1000, 50, size=(1000, 6)))
    obs = np.array([1000.0, 950.0, 1100.0, 1150.0, 990.0, 1010.0])
    np.testing.assert_allclose(log_score_sample(big, obs), sr.logs_ensemble(obs, big, m_axis=0), atol=1e-3)


def all_pairs_energy(x, y) -> float:
    """The energy score with every pair written out: ``(M, M, H)`` differences at once (small M only)."""
    m = x.shape[0]
    pairs = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=-1)).sum()
    return float(np.sqrt(((x - y) ** 2).sum(axis=-1)).mean() - pairs / (2 * m * m))


def test_energy_score_by_hand_and_every_pair(monkeypatch):
    """Paths (0, 0) and (3, 4), y = (0, 0): E||X - y|| = (0 + 5)/2, the pairs (both orders of 5) 10/(2*4): 1.25.
    One path: ||x - y||. One horizon: the CRPS. Any block size gives the unblocked sum."""
    assert energy_score([[0.0, 0.0], [3.0, 4.0]], [0.0, 0.0]) == pytest.approx(1.25, abs=1e-15)
    assert energy_score([[1.0, 2.0, 2.0]], [0.0, 0.0, 0.0]) == pytest.approx(3.0, abs=1e-15)
    rng = np.random.default_rng(3)
    x = rng.poisson(30, size=(37, 6)).astype(float)
    y = rng.poisson(30, size=6).astype(float)
    want = all_pairs_energy(x, y)
    assert energy_score(x, y) == pytest.approx(want, rel=1e-12)
    for block in (1, 6, 7, 100):  # one row at a time; one path's worth; a ragged last block; two rows
        monkeypatch.setattr(scores, "PAIR_BLOCK", block)
        assert energy_score(x, y) == pytest.approx(want, rel=1e-12)
    np.testing.assert_allclose(energy_score(x[:, :1], y[:1]), crps_sample(x[:, 0], y[0]), rtol=1e-12)


def test_energy_and_variogram_scores_of_a_batch_are_the_loop():
    rng = np.random.default_rng(4)
    x = rng.negative_binomial(4, 0.1, size=(2, 3, 25, 5)).astype(float)
    y = rng.negative_binomial(4, 0.1, size=(2, 3, 5)).astype(float)
    w = rng.uniform(0, 1, size=(5, 5))
    es, vs = energy_score(x, y), variogram_score(x, y, p=1.0, weights=w)
    assert es.shape == vs.shape == (2, 3)
    for i in range(2):
        for j in range(3):
            assert es[i, j] == pytest.approx(float(energy_score(x[i, j], y[i, j])), rel=1e-13)
            assert vs[i, j] == pytest.approx(float(variogram_score(x[i, j], y[i, j], 1.0, w)), rel=1e-13)
    assert energy_score(x[0, 0], y[0, 0]).shape == ()
    # one observed path for every forecast broadcasts
    np.testing.assert_allclose(energy_score(x[0], y[0, 0]), [energy_score(x[0, j], y[0, 0]) for j in range(3)])


def test_variogram_score_by_hand(monkeypatch):
    """Paths (0, 1) and (0, 4), y = (0, 9). p = 1/2: the paths' mean |x_0 - x_1|^p is (1 + 2)/2, y's is 3; the
    pairs (0, 1) and (1, 0): 2 (3 - 1.5)^2 = 4.5 (the diagonal is 0). p = 1: 2 (9 - 2.5)^2. Weight on (0, 1) only:
    half. One horizon: 0."""
    x = np.array([[0.0, 1.0], [0.0, 4.0]])
    y = np.array([0.0, 9.0])
    assert variogram_score(x, y) == pytest.approx(4.5, abs=1e-14)
    assert variogram_score(x, y, p=1.0) == pytest.approx(2 * 6.5**2, abs=1e-12)
    assert variogram_score(x, y, weights=[[0.0, 1.0], [0.0, 0.0]]) == pytest.approx(2.25, abs=1e-14)
    assert variogram_score(x[:, :1], y[:1]) == 0.0
    rng = np.random.default_rng(6)
    xs = rng.poisson(20, size=(40, 7)).astype(float)
    ys = rng.poisson(20, size=7).astype(float)
    mean = (np.abs(xs[:, :, None] - xs[:, None, :]) ** 0.5).mean(axis=0)
    want = float(((np.abs(ys[:, None] - ys[None, :]) ** 0.5 - mean) ** 2).sum())
    assert variogram_score(xs, ys) == pytest.approx(want, rel=1e-12)
    monkeypatch.setattr(scores, "PAIR_BLOCK", 100)  # two paths a block (49 values each)
    assert variogram_score(xs, ys) == pytest.approx(want, rel=1e-12)


def test_path_scores_refuse_bad_input():
    x = np.ones((10, 4))
    for f in (energy_score, variogram_score):
        with pytest.raises(BadParameterError, match=r"does not match the observed path"):
            f(x, np.ones(3))
        with pytest.raises(BadParameterError, match=r"\(M, H\)"):
            f(np.ones(4), np.ones(4))
        with pytest.raises(BadParameterError, match=r"\(M, H\)"):
            f(np.ones((0, 4)), np.ones(4))
        with pytest.raises(BadParameterError, match="paths holds a value that is not a finite number"):
            f(np.where(np.eye(10, 4) > 0, np.nan, x), np.ones(4))
        with pytest.raises(BadParameterError, match="observed path holds"):
            f(x, [1.0, 2.0, np.inf, 3.0])
    for p in (0, -1.0, float("nan"), "1"):
        with pytest.raises(BadParameterError, match="order p"):
            variogram_score(x, np.ones(4), p=p)  # type: ignore[arg-type]
    with pytest.raises(BadParameterError, match=r"\(4, 4\) matrix"):
        variogram_score(x, np.ones(4), weights=np.ones((3, 3)))
    with pytest.raises(BadParameterError, match="0 or more"):
        variogram_score(x, np.ones(4), weights=-np.ones((4, 4)))


def test_coverage_levels_are_coverage_at_each_level():
    assert CENTRAL_LEVELS == (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98)
    rng = np.random.default_rng(8)
    x = rng.poisson(10, size=(101, 300)).astype(float)  # whole numbers: many truths sit on an interval's end
    y = rng.poisson(10, size=300).astype(float)
    got = coverage_levels(x, y)
    assert got.shape == (300, len(CENTRAL_LEVELS)) and got.dtype == np.float64
    np.testing.assert_array_equal(got[:, CENTRAL_LEVELS.index(0.5)], coverage(x, y, 0.5))
    np.testing.assert_array_equal(got[:, CENTRAL_LEVELS.index(0.9)], coverage(x, y, 0.9))
    both = np.stack([coverage(x, y, 0.9), coverage(x, y, 0.5)], axis=-1)
    np.testing.assert_array_equal(coverage_levels(x, y, [0.9, 0.5]), both)
    assert np.all(np.diff(got, axis=1) >= 0)  # nested intervals: covered at a level, covered at every wider one
    # the constructed ensemble of test_coverage_of_a_constructed_ensemble: 25 is the 50 % interval's end
    np.testing.assert_array_equal(coverage_levels(np.arange(101.0), 25.0, (0.4, 0.5, 0.98)), [0.0, 1.0, 1.0])
    for levels in ((), (0.5, 1.0), (0.0,), [[0.5]]):
        with pytest.raises(BadParameterError, match="coverage levels"):
            coverage_levels(x, y, levels)
    with pytest.raises(BadParameterError, match="does not match"):
        coverage_levels(x, y[:5])


def test_pit_by_hand():
    """Draws 0, 1, 1, 2 and y = 1: P(0) = 1/4, P(1) = 3/4, the PIT uniform on [1/4, 3/4]: over four bins half in
    each middle one. y = 5: a point mass at 1 (the last bin); y = 0 with every draw above: at 0 (the first); y = 0
    with draws 0, 0, 1, 1: uniform on [0, 1/2]. Pooled: the mean of the four, summing to 1."""
    draws = np.array([[0.0, 0.0, 1.0, 0.0], [1.0, 1.0, 1.0, 0.0], [1.0, 3.0, 1.0, 1.0], [2.0, 3.0, 4.0, 1.0]])
    ys = np.array([1.0, 5.0, 0.0, 0.0])
    per_forecast = [[0, 0.5, 0.5, 0], [0, 0, 0, 1], [1, 0, 0, 0], [0.5, 0.5, 0, 0]]
    for k in range(4):
        np.testing.assert_allclose(pit_histogram(draws[:, k], ys[k], bins=4), per_forecast[k], atol=1e-15)
    hist = pit_histogram(draws, ys, bins=4)
    np.testing.assert_allclose(hist, np.mean(per_forecast, axis=0), atol=1e-15)
    assert hist.sum() == pytest.approx(1.0, abs=1e-15)
    # the randomised PIT: within [P(y - 1), P(y)], V times the way along it
    u = pit_values(draws, ys, np.random.default_rng(1))
    v = np.random.default_rng(1).uniform(size=4)
    np.testing.assert_allclose(u, [0.25 + 0.5 * v[0], 1.0, 0.0, 0.5 * v[3]], atol=1e-15)
    # over many draws of V its histogram is the non-randomised one
    many = pit_values(np.repeat(draws[:, None, :], 20_000, axis=1), ys, np.random.default_rng(2))
    counts = np.histogram(many, bins=4, range=(0, 1))[0] / many.size
    np.testing.assert_allclose(counts, hist, atol=0.01)
    with pytest.raises(BadParameterError, match="bins"):
        pit_histogram(draws, ys, bins=0)
    with pytest.raises(BadParameterError, match="bins"):
        pit_histogram(draws, ys, bins=2.5)  # type: ignore[arg-type]
    with pytest.raises(BadParameterError, match="Generator"):
        pit_values(draws, ys, 3)  # type: ignore[arg-type]
    with pytest.raises(BadParameterError, match="does not match"):
        pit_histogram(draws, ys[:3])


def test_pit_of_the_true_distribution_is_uniform_and_of_a_narrow_one_u_shaped():
    """2,000 Poisson truths of small means (1 to 8, where the counts' steps are coarse) each forecast by 1,000
    draws of its own Poisson: every bin of ten holds 0.1 +- 0.03, randomised or not. The plain P(y) (the PIT of a
    continuous forecast, no randomisation) fails that bound, so the bound can see a wrong formula. Forecasts of a
    third of the truth's spread pile the PIT at both ends; three times the spread, in the middle."""
    rng = np.random.default_rng(9)
    lam = rng.uniform(1, 8, size=2000)
    y = rng.poisson(lam).astype(float)
    draws = rng.poisson(lam, size=(1000, 2000)).astype(float)
    flat = pit_histogram(draws, y)
    assert flat.shape == (10,) and flat.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(np.abs(flat - 0.1) < 0.03), flat
    randomised = np.histogram(pit_values(draws, y, rng), bins=10, range=(0, 1))[0] / y.size
    assert np.all(np.abs(randomised - 0.1) < 0.03), randomised
    naive = np.histogram((draws <= y).mean(axis=0), bins=10, range=(0, 1))[0] / y.size
    assert np.any(np.abs(naive - 0.1) > 0.03), naive
    truth = rng.poisson(50, size=2000).astype(float)
    narrow = np.rint(rng.normal(50, math.sqrt(50) / 3, size=(500, 2000)))
    u_shape = pit_histogram(narrow, truth)
    assert u_shape[0] > 0.2 and u_shape[-1] > 0.2 and np.all(u_shape[3:7] < 0.06), u_shape
    wide = np.rint(rng.normal(50, 3 * math.sqrt(50), size=(500, 2000)))
    hump = pit_histogram(wide, truth)
    assert hump[0] < 0.03 and hump[-1] < 0.03 and np.all(hump[3:7] > 0.12), hump


@pytest.mark.slow  # scoringrules' import compiles its numba functions (5-10 s on 2 busy cores)
def test_path_scores_against_scoringrules():
    """Its energy score (``es_ensemble``, default ``estimator="nrg"``: ``1/M^2`` pairs) and variogram score
    (``vs_ensemble``: default p = 0.5, unit weights) on paths of several shapes, one path and one horizon among them."""
    sr = pytest.importorskip("scoringrules")
    rng = np.random.default_rng(10)
    for m, h in ((1, 5), (2, 1), (60, 1), (300, 12), (1000, 30)):
        x = rng.negative_binomial(5, 0.1, size=(m, h)).astype(float)
        y = rng.negative_binomial(5, 0.1, size=h).astype(float)
        assert energy_score(x, y) == pytest.approx(float(sr.es_ensemble(y, x)), rel=1e-10, abs=1e-12)
        assert variogram_score(x, y) == pytest.approx(float(sr.vs_ensemble(y, x)), rel=1e-10, abs=1e-12)
    x = rng.poisson(40, size=(4, 80, 9)).astype(float)
    y = rng.poisson(40, size=(4, 9)).astype(float)
    w = rng.uniform(0, 2, size=(9, 9))
    np.testing.assert_allclose(energy_score(x, y), sr.es_ensemble(y, x), rtol=1e-10)
    for p in (0.5, 1.0, 2.0):
        theirs = sr.vs_ensemble(y, x, np.broadcast_to(w, (4, 9, 9)), p=p)
        np.testing.assert_allclose(variogram_score(x, y, p=p, weights=w), theirs, rtol=1e-10)
