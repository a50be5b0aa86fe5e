"""The proper scores a backtest reports per horizon, from a forecast's draws and what was then observed.

- **WIS**, the weighted interval score of Bracher, Ray, Gneiting & Reich (2021, PLoS Comput Biol 17:e1008618,
  eq. 3): for the median ``m`` and K central intervals ``[l_k, u_k]`` at levels ``1 - alpha_k``,
  ``WIS = (w0 |y - m| + sum_k w_k IS_alpha_k) / (K + 1/2)`` with ``w0 = 1/2``, ``w_k = alpha_k / 2`` and the
  interval score ``IS_alpha = (u - l) + (2/alpha)(l - y) 1{y < l} + (2/alpha)(y - u) 1{y > u}``. It equals the
  sum of the pinball losses ``rho_tau(q, y) = (1{y < q} - tau)(q - y)`` over the 2K + 1 quantile levels, divided
  by ``K + 1/2`` (the paper's section 2.2), which is how :func:`wis` computes it. The levels are the US COVID-19
  Forecast Hub's 23 (:data:`HUB_LEVELS`, K = 11), taken from the draws by ``numpy.quantile``'s default method
  (``linear``: R's type 7, what the Hub's baseline code calls).
- **CRPS**, of the draws' empirical distribution (the *plain* estimator, not the *fair* one): by the sorted-sample
  closed form ``(2/M^2) sum_i (x_(i) - y)(M 1{y < x_(i)} - i + 1/2)``, equal to the energy form
  ``E|X - y| - E|X - X'|/2`` with both expectations over the M draws (``1/M^2`` pairs, the pairs of a draw with
  itself included). It is scoringrules' ``crps_ensemble(estimator="qd")`` (= ``"nrg"``) and R scoringRules'
  ``crps_sample`` (``"edf"``). The plain estimator scores the forecast actually issued (the ensemble), the one WIS
  scores through its quantiles, so WIS with many levels tends to it; the fair one (``1/(M(M-1))`` pairs) would
  estimate the CRPS of the process the draws came from, and is lower by ``E|X - X'| / (2(M - 1))``: methods
  compared with each other should use the same number of draws (at M = 1,000 the difference is below a tenth of
  a percent of the spread term).
- **Log score** (negatively oriented, ``-log p(y)``: lower is better, as for WIS and CRPS). A count needs a
  probability mass function and an ensemble's own (the share of draws equal to ``y``) is 0 at any count no draw
  hit, so the draws are smoothed: each draw ``x`` is a normal of standard deviation ``h`` rounded to the nearest
  count, mass below 0 going to 0, ``p(y) = (1/M) sum_m [Phi((y + 1/2 - x_m)/h) - Phi((y - 1/2 - x_m)/h)]`` (the
  lower term 0 at ``y = 0``). This is a proper mass function on 0, 1, 2, ...; as ``h -> 0`` it is the ensemble's
  own, and when the counts are large (``h`` many counts wide) it is scoringrules' ``logs_ensemble`` (a Gaussian
  kernel density) integrated over the count's unit bin. ``h`` is that function's Silverman rule,
  ``1.06 min(sd, IQR/1.34) M^(-1/5)``, floored at :data:`MIN_BANDWIDTH` (half a count, so each draw keeps at
  least 68 % of its mass on its own count and a forecast whose draws all agree is never scored as a point mass,
  whose log score is infinite at any other count).
- **Coverage** of the central 50 % and 90 % intervals (the draws' quantiles at 0.25/0.75 and 0.05/0.95, ends
  included), and the **absolute error** of the median and of ``log1p`` counts (``|log1p(median) - log1p(y)|``,
  the log scale of Bosse et al. 2023, PLoS Comput Biol 19:e1011393).
- **Relative WIS**: a method's mean WIS over the baseline's (:func:`relative_wis`), and the Hub's pairwise form
  (Cramer et al. 2022, PNAS 119:e2113561119): the geometric mean over all methods of each pairwise ratio of mean
  WIS, taken over the forecasts both methods made, scaled by the baseline's (:func:`pairwise_relative_wis`). Where
  every method scored the same forecasts the two are equal.

- **Energy score** of whole forecast paths (Gneiting & Raftery 2007, JASA 102:359, section 4.3, with beta = 1;
  the ensemble form of Gneiting, Stanberry, Grimit, Held & Johnson 2008, TEST 17:211): for M paths ``X_i`` over H
  horizons and the observed path ``y``, ``ES = (1/M) sum_i ||X_i - y|| - (1/(2 M^2)) sum_{i,j} ||X_i - X_j||``
  (Euclidean norms over the horizons; all ``M^2`` ordered pairs, a path with itself included). It is the CRPS's
  plain estimator above carried to vectors (at H = 1 they are equal) and scoringrules' ``es_ensemble`` (alias
  ``energy_score``) with its default ``estimator="nrg"``, not its ``"fair"`` one (``1/(M(M-1))``).
- **Variogram score** of order p (Scheuerer & Hamill 2015, Mon. Wea. Rev. 143:1321):
  ``VS_p = sum_{i,j} w_ij (|y_i - y_j|^p - (1/M) sum_m |X_mi - X_mj|^p)^2`` over every ordered pair of horizons,
  p = 0.5 and ``w_ij = 1`` by default: scoringrules' ``vs_ensemble`` (alias ``variogram_score``) with its defaults.
  The energy score is dominated by the paths' levels; the variogram score sees whether their shape (how each
  horizon moves against the others) is right.
- **Coverage at every central level** (:func:`coverage_levels`): the 11 central intervals of the Hub's levels
  (:data:`CENTRAL_LEVELS`), each as :func:`coverage` takes it.
- **PIT** for counts (Czado, Gneiting & Held 2009, Biometrics 65:1254, section 2.1): with ``P`` the draws'
  empirical CDF, the randomised PIT ``u = P(y-1) + V (P(y) - P(y-1))``, ``V ~ U(0, 1)`` (:func:`pit_values`),
  and the non-randomised PIT histogram (:func:`pit_histogram`), the mean over forecasts of the PIT's conditional
  CDF ``F(u | y) = clip((u - P(y-1)) / (P(y) - P(y-1)), 0, 1)`` differenced over equal bins: the histogram the
  randomised PIT gives in expectation, without its noise. Uniform when the forecasts are calibrated; U-shaped when
  they are too narrow, a hump when too wide, sloped when biased.

Why not scoringrules at run time: its import compiles about a hundred numba functions, every time (5-6 s a
process on this project's machines, no cache), and the two estimators needed here are a few lines of numpy each.
The tests check these functions against scoringrules 0.10 (a test dependency), to rounding.

Draws are along axis 0: ``samples`` is ``(M, ...)`` and ``y`` has the shape that follows (scalars broadcast). The
path scores take paths as scoringrules does, ``(..., M, H)`` (one row a path) with ``y`` ``(..., H)``: ``(M, H)`` is
the ``samples`` of :func:`score_samples`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from scipy import special

from sim.errors import BadParameterError

#: The US COVID-19 Forecast Hub's 23 quantile levels (Cramer et al. 2022): the median and 11 central intervals.
HUB_LEVELS: tuple[float, ...] = (
    0.01,
    0.025,
    *(round(0.05 * k, 2) for k in range(1, 20)),
    0.975,
    0.99,
)
#: The central intervals' levels of :data:`HUB_LEVELS`, ``1 - 2 tau`` for each level ``tau`` below the median,
#: increasing: 0.1, 0.2, ..., 0.9, 0.95, 0.98.
CENTRAL_LEVELS: tuple[float, ...] = tuple(sorted(round(1 - 2 * tau, 10) for tau in HUB_LEVELS if tau < 0.5))
#: The smallest bandwidth of the log score's smoothing, in counts.
MIN_BANDWIDTH = 0.5
#: The names :func:`score_samples` returns, in order.
SCORES = ("wis", "crps", "log_score", "cover50", "cover90", "ae_median", "ae_log")

ArrayLike = np.ndarray | Sequence[float] | float


def _levels(levels: np.ndarray | Sequence[float]) -> np.ndarray:
    lv = np.asarray(levels, dtype=np.float64).reshape(-1)
    if lv.size == 0 or lv.size % 2 == 0 or not np.all((lv > 0) & (lv < 1)) or np.any(np.diff(lv) <= 0):
        raise BadParameterError(
            "quantile levels must be an odd number of increasing levels between 0 and 1: the median and the "
            "ends of central intervals"
        )
    if not np.allclose(lv + lv[::-1], 1.0, rtol=0, atol=1e-9):
        raise BadParameterError(
            "quantile levels must pair around the median (tau with 1 - tau, 0.5 in the middle): WIS scores central "
            "intervals"
        )
    return lv


def _finite(a: np.ndarray, what: str) -> np.ndarray:
    if not np.all(np.isfinite(a)):
        raise BadParameterError(f"{what} holds a value that is not a finite number: give numbers")
    return a


def _samples_and_y(samples: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    x = _finite(np.asarray(samples, dtype=np.float64), "the draws")
    obs = _finite(np.asarray(y, dtype=np.float64), "the observations")
    if x.ndim == 0 or x.shape[0] == 0:
        raise BadParameterError("the draws are empty: give at least one draw along the first axis")
    if x.shape[1:] != obs.shape:
        try:
            obs = np.broadcast_to(obs, x.shape[1:])
        except ValueError:
            raise BadParameterError(
                f"the draws' shape {x.shape} does not match the observations' {obs.shape}: give draws of shape "
                "(M, *observations' shape)"
            ) from None
    return x, obs


def pinball(quantiles: ArrayLike, levels: ArrayLike, y: ArrayLike) -> np.ndarray:
    """The pinball (quantile) loss ``(1{y < q} - tau)(q - y)`` of each quantile ``q`` at level ``tau``; quantiles
    are ``(..., L)``, levels ``(L,)``, ``y`` ``(...)``."""
    q = np.asarray(quantiles, dtype=np.float64)
    obs = np.asarray(y, dtype=np.float64)[..., None]
    tau = np.asarray(levels, dtype=np.float64)
    return ((obs < q) - tau) * (q - obs)


def wis(quantiles: ArrayLike, levels: ArrayLike, y: ArrayLike) -> np.ndarray:
    """The weighted interval score (Bracher et al. 2021) of quantile forecasts.

    Args:
        quantiles: ``(..., L)``: each forecast's quantiles at ``levels``.
        levels: ``(L,)``: an odd number of increasing levels in (0, 1) that pair around 0.5 (``tau`` with
            ``1 - tau``), e.g. :data:`HUB_LEVELS`.
        y: ``(...)``: what was observed.

    Returns:
        ``(...)``: the WIS, ``sum_l rho_tau_l(q_l, y) / (K + 1/2)`` with K = (L - 1) / 2 intervals.

    Raises:
        BadParameterError: levels that are not such a set, quantiles whose last axis is not L long, values that
            are not finite.
    """
    lv = _levels(np.asarray(levels))
    q = _finite(np.asarray(quantiles, dtype=np.float64), "the quantiles")
    obs = _finite(np.asarray(y, dtype=np.float64), "the observations")
    if q.ndim == 0 or q.shape[-1] != lv.size:
        raise BadParameterError(
            f"the quantiles' last axis holds {q.shape[-1] if q.ndim else 0} values for {lv.size} levels: give one "
            "quantile per level"
        )
    k = (lv.size - 1) / 2
    return np.asarray(pinball(q, lv, obs).sum(axis=-1) / (k + 0.5))


def sample_quantiles(samples: ArrayLike, levels: ArrayLike = HUB_LEVELS) -> np.ndarray:
    """The draws' quantiles, ``(..., L)`` for draws ``(M, ...)``: ``numpy.quantile``'s ``linear`` method (R's
    type 7)."""
    x = np.asarray(samples, dtype=np.float64)
    return np.moveaxis(np.quantile(x, np.asarray(levels, dtype=np.float64), axis=0), 0, -1)


def crps_sample(samples: ArrayLike, y: ArrayLike) -> np.ndarray:
    """The CRPS of the draws' empirical distribution (the plain estimator; see the module's docstring), by the
    sorted-sample closed form: ``(2/M^2) sum_i (x_(i) - y)(M 1{y < x_(i)} - i + 1/2)``.

    Args:
        samples: ``(M, ...)`` draws.
        y: ``(...)`` observations (or one that broadcasts).

    Raises:
        BadParameterError: no draws, shapes that do not match, values that are not finite.
    """
    x, obs = _samples_and_y(samples, y)
    m = x.shape[0]
    xs = np.sort(x, axis=0)
    rank = np.arange(1, m + 1, dtype=np.float64).reshape((m,) + (1,) * (x.ndim - 1))
    terms = (xs - obs) * (m * (obs < xs) - rank + 0.5)
    return np.asarray(2.0 * terms.sum(axis=0) / (m * m))


def silverman(samples: ArrayLike) -> np.ndarray:
    """Silverman's rule of thumb per forecast, ``1.06 min(sd, IQR/1.34) M^(-1/5)`` (scoringrules' default for
    ``logs_ensemble``; ``sd`` with ``ddof=0``, the IQR by numpy's ``linear`` quantiles)."""
    x = np.asarray(samples, dtype=np.float64)
    q25, q75 = np.quantile(x, [0.25, 0.75], axis=0)
    return np.asarray(1.06 * np.minimum(x.std(axis=0), (q75 - q25) / 1.34) * x.shape[0] ** (-0.2))


def log_score_sample(samples: ArrayLike, y: ArrayLike, bandwidth: ArrayLike | None = None) -> np.ndarray:
    """The log score ``-log p(y)`` of counts under the draws smoothed to a probability mass function (each draw a
    normal of standard deviation ``h`` rounded to the nearest count, mass below 0 at 0; see the module's
    docstring).

    Args:
        samples: ``(M, ...)`` draws (counts; need not be whole).
        y: ``(...)`` observed counts: whole numbers, 0 or more.
        bandwidth: ``h`` per forecast (or one for all), above 0; None: Silverman's rule floored at
            :data:`MIN_BANDWIDTH`.

    Raises:
        BadParameterError: an observation that is not a whole number 0 or more, a bandwidth not above 0, shapes
            that do not match, values that are not finite.
    """
    x, obs = _samples_and_y(samples, y)
    if np.any(obs < 0) or np.any(obs != np.floor(obs)):
        raise BadParameterError("the log score scores counts: give observations that are whole numbers, 0 or more")
    if bandwidth is None:
        h = np.maximum(silverman(x), MIN_BANDWIDTH)
    else:
        h = np.asarray(bandwidth, dtype=np.float64)
        if not np.all(np.isfinite(h)) or np.any(h <= 0):
            raise BadParameterError("the log score's bandwidth must be a number above 0")
    hi = (obs + 0.5 - x) / h
    lo = np.where(obs > 0, (obs - 0.5 - x) / h, -np.inf)
    # log(Phi(hi) - Phi(lo)) without cancellation: in the upper tail as Phi(-lo) - Phi(-hi).
    upper = lo > 0
    a = np.where(upper, -hi, lo)
    b = np.where(upper, -lo, hi)
    log_b = special.log_ndtr(b)
    with np.errstate(divide="ignore"):
        log_mass = log_b + np.log1p(-np.exp(special.log_ndtr(a) - log_b))
    log_p = special.logsumexp(log_mass, axis=0) - np.log(x.shape[0])
    return np.asarray(-log_p)


def coverage(samples: ArrayLike, y: ArrayLike, level: float) -> np.ndarray:
    """1.0 where ``y`` lies in the draws' central interval of ``level`` (their quantiles at ``(1 - level)/2`` and
    ``(1 + level)/2``, ``linear`` method, ends included), else 0.0.

    Raises:
        BadParameterError: a level not strictly between 0 and 1, shapes that do not match, values that are not
            finite.
    """
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise BadParameterError(f"an interval's level must be a number between 0 and 1, got {level!r}")
    x, obs = _samples_and_y(samples, y)
    lo, hi = np.quantile(x, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return np.asarray(((lo <= obs) & (obs <= hi)).astype(np.float64))


def coverage_levels(
    samples: ArrayLike, y: ArrayLike, levels: np.ndarray | Sequence[float] = CENTRAL_LEVELS
) -> np.ndarray:
    """Coverage at several central levels at once: 1.0 where ``y`` lies in the draws' central interval of each
    level, else 0.0, each interval as :func:`coverage` takes it (its ends the draws' ``linear`` quantiles at
    ``(1 - level)/2`` and ``(1 + level)/2``, computed as there, ends included), so at 0.5 and 0.9 the two agree.

    Args:
        samples: ``(M, ...)`` draws.
        y: ``(...)`` observations (or one that broadcasts).
        levels: ``(L,)`` central levels, each strictly between 0 and 1; by default :data:`CENTRAL_LEVELS`.

    Returns:
        ``(..., L)`` float64: 1.0 or 0.0 per forecast and level, in the order of ``levels``.

    Raises:
        BadParameterError: no levels or a level not strictly between 0 and 1, no draws, shapes that do not
            match, values that are not finite.
    """
    lv = np.asarray(levels, dtype=np.float64)
    if lv.ndim != 1 or lv.size == 0 or not np.all((lv > 0) & (lv < 1)):
        raise BadParameterError(
            f"coverage levels must be a list of numbers strictly between 0 and 1, got {levels!r}: e.g. (0.5, 0.9)"
        )
    x, obs = _samples_and_y(samples, y)
    ends = np.quantile(x, np.concatenate([(1 - lv) / 2, (1 + lv) / 2]), axis=0)
    lo, hi = ends[: lv.size], ends[lv.size :]
    inside = (lo <= obs) & (obs <= hi)
    return np.asarray(np.moveaxis(inside, 0, -1).astype(np.float64))


def score_samples(samples: ArrayLike, y: ArrayLike) -> dict[str, np.ndarray]:
    """Every score of a forecast of counts per horizon.

    Args:
        samples: ``(M, H)``: M draws of the counts at each of H horizons (ticks after the cut).
        y: ``(H,)``: the counts then observed.

    Returns:
        ``{"wis", "crps", "log_score", "cover50", "cover90", "ae_median", "ae_log"}``, each an ``(H,)`` float64
        array: WIS at :data:`HUB_LEVELS`, the plain CRPS, the log score, 1.0/0.0 for the central 50 % and 90 %
        intervals, ``|median - y|`` and ``|log1p(median) - log1p(y)|`` (the median the draws' 0.5 quantile).

    Raises:
        BadParameterError: draws that are not ``(M, H)`` with M >= 1, observations that are not ``(H,)``, a
            count below 0 or not finite, an observation that is not whole.
    """
    x = np.asarray(samples, dtype=np.float64)
    obs = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0 or obs.shape != (x.shape[1],):
        raise BadParameterError(
            f"score_samples takes draws of shape (M, H) and observations of shape (H,), got {x.shape} and {obs.shape}"
        )
    _finite(x, "the draws")
    _finite(obs, "the observations")
    if np.any(x < 0) or np.any(obs < 0):
        raise BadParameterError("the draws and observations are counts: give numbers 0 or more")
    q = sample_quantiles(x, HUB_LEVELS)
    median = q[:, HUB_LEVELS.index(0.5)]
    return {
        "wis": wis(q, HUB_LEVELS, obs),
        "crps": crps_sample(x, obs),
        "log_score": log_score_sample(x, obs),
        "cover50": coverage(x, obs, 0.5),
        "cover90": coverage(x, obs, 0.9),
        "ae_median": np.abs(median - obs),
        "ae_log": np.abs(np.log1p(median) - np.log1p(obs)),
    }


def relative_wis(wis_model: ArrayLike, wis_baseline: ArrayLike, axis: int | None = None) -> np.ndarray:
    """A method's mean WIS over the baseline's, over the same forecasts (``axis``: the axis to average over, e.g.
    the cuts of a ``(cuts, H)`` array for one ratio per horizon; None: all). Below 1: better than the baseline.
    A baseline whose mean WIS is 0 gives ``inf`` (or ``nan`` where the method's is 0 too).

    Raises:
        BadParameterError: arrays of different shapes, values that are not finite.
    """
    a = _finite(np.asarray(wis_model, dtype=np.float64), "the method's WIS")
    b = _finite(np.asarray(wis_baseline, dtype=np.float64), "the baseline's WIS")
    if a.shape != b.shape:
        raise BadParameterError(
            f"the method's WIS has shape {a.shape} and the baseline's {b.shape}: score the same forecasts"
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(a.mean(axis=axis) / b.mean(axis=axis))


def pairwise_relative_wis(
    scores: Mapping[str, ArrayLike], baseline: str, axis: int | None = None
) -> dict[str, np.ndarray]:
    """The Forecast Hub's relative WIS (Cramer et al. 2022): for methods i and j, ``theta_ij`` is i's mean WIS over
    j's on the forecasts both made (entries finite in both); ``theta_i`` the geometric mean of ``theta_ij`` over
    every method j (i included); each method's relative WIS is ``theta_i / theta_baseline``.

    Args:
        scores: method name -> WIS array, all of one shape; NaN marks a forecast the method did not make.
        baseline: the name of the baseline method among them.
        axis: the axis to average over (None: all).

    Raises:
        BadParameterError: no such baseline, arrays of different shapes.
    """
    if baseline not in scores:
        raise BadParameterError(f"baseline {baseline!r} is not among the methods scored: give one of {list(scores)}")
    arrays = {name: np.asarray(v, dtype=np.float64) for name, v in scores.items()}
    shapes = {a.shape for a in arrays.values()}
    if len(shapes) != 1:
        raise BadParameterError(f"the methods' WIS arrays have shapes {sorted(shapes)}: score the same forecasts")
    names = list(arrays)
    log_theta = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for i in names:  # a handful of methods: one pass per pair
            total = 0.0
            for j in names:
                both = np.isfinite(arrays[i]) & np.isfinite(arrays[j])
                mean_i = np.where(both, arrays[i], 0.0).sum(axis=axis) / both.sum(axis=axis)
                mean_j = np.where(both, arrays[j], 0.0).sum(axis=axis) / both.sum(axis=axis)
                total = total + np.log(mean_i / mean_j)
            log_theta[i] = total / len(names)
        return {name: np.asarray(np.exp(log_theta[name] - log_theta[baseline])) for name in names}


#: How many float64 values one block of pairwise differences may hold (16 MB): the path scores take pairs of
#: paths (or of horizons) in blocks of rows this size, so 2,000 paths of 30 horizons never build the 960 MB array
#: of every pair's difference at once.
PAIR_BLOCK = 1 << 21


def _paths_and_y(paths: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Paths as ``(B, M, H)`` and observed paths as ``(B, H)``, the batch's leading axes flattened."""
    x = _finite(np.asarray(paths, dtype=np.float64), "the paths")
    obs = _finite(np.asarray(y, dtype=np.float64), "the observed path")
    if x.ndim < 2 or x.shape[-2] == 0 or x.shape[-1] == 0:
        raise BadParameterError(
            f"the paths have shape {x.shape}: give (M, H) or (..., M, H), M >= 1 paths over H >= 1 horizons"
        )
    want = x.shape[:-2] + x.shape[-1:]
    if obs.shape != want:
        try:
            obs = np.broadcast_to(obs, want)
        except ValueError:
            raise BadParameterError(
                f"the paths' shape {x.shape} does not match the observed path's {obs.shape}: give paths of shape "
                "(..., M, H) and an observed path of shape (..., H)"
            ) from None
    m, h = x.shape[-2:]
    return x.reshape(-1, m, h), obs.reshape(-1, h)


def _pair_distance_sum(x: np.ndarray) -> float:
    """``sum_{i,j} ||x_i - x_j||`` over every ordered pair of the rows of ``x`` (``(M, H)``), in blocks of rows
    against the rows from the block on (each pair once, doubled), each block within :data:`PAIR_BLOCK`."""
    m, h = x.shape
    rows = max(1, PAIR_BLOCK // (m * h))
    total = 0.0
    for a in range(0, m, rows):
        b = min(a + rows, m)
        d = x[a:b, None, :] - x[None, a:, :]
        dist = np.sqrt(np.einsum("ijk,ijk->ij", d, d))
        # the block's own square holds both orders of its pairs (and zeros); the rest each pair once
        total += float(dist[:, : b - a].sum()) + 2.0 * float(dist[:, b - a :].sum())
    return total


def energy_score(paths: ArrayLike, y: ArrayLike) -> np.ndarray:
    """The energy score of sample paths (Gneiting & Raftery 2007, section 4.3; see the module's docstring):
    ``ES = (1/M) sum_i ||X_i - y|| - (1/(2 M^2)) sum_{i,j} ||X_i - X_j||``, Euclidean norms over the horizons,
    all ``M^2`` ordered pairs (the plain estimator: scoringrules' ``es_ensemble``, ``estimator="nrg"``, its
    default). Lower is better; in the units of the counts. At H = 1 it is :func:`crps_sample`.

    Args:
        paths: ``(M, H)``: M sample paths (one a row) over H horizons; or ``(..., M, H)``, a batch of forecasts.
        y: ``(H,)``: the observed path; ``(..., H)`` for a batch (or one that broadcasts to it).

    Returns:
        ``()`` for one forecast, ``(...)`` for a batch: float64.

    Raises:
        BadParameterError: paths that are not ``(..., M, H)`` with M, H >= 1, an observed path of another
            shape, values that are not finite.
    """
    x, obs = _paths_and_y(paths, y)
    batch, m, _ = x.shape
    d = x - obs[:, None, :]
    error = np.sqrt(np.einsum("bmh,bmh->bm", d, d)).mean(axis=1)
    spread = np.array([_pair_distance_sum(x[k]) for k in range(batch)]) / (m * m)
    return np.asarray((error - 0.5 * spread).reshape(np.shape(paths)[:-2]))


def variogram_score(paths: ArrayLike, y: ArrayLike, p: float = 0.5, weights: ArrayLike | None = None) -> np.ndarray:
    """The variogram score of order ``p`` of sample paths (Scheuerer & Hamill 2015; see the module's docstring):
    ``VS_p = sum_{i,j} w_ij (|y_i - y_j|^p - (1/M) sum_m |X_mi - X_mj|^p)^2`` over every ordered pair of
    horizons ``(i, j)``, as scoringrules' ``vs_ensemble`` (``p=0.5`` and unit weights its defaults too). Lower is
    better; in counts to the power ``2p``.

    Args:
        paths: ``(M, H)``: M sample paths (one a row) over H horizons; or ``(..., M, H)``, a batch of forecasts.
        y: ``(H,)``: the observed path; ``(..., H)`` for a batch (or one that broadcasts to it).
        p: the order, above 0.
        weights: ``(H, H)`` weights ``w_ij``, 0 or more (or ``(..., H, H)``, one set per forecast); None: all 1.

    Returns:
        ``()`` for one forecast, ``(...)`` for a batch: float64.

    Raises:
        BadParameterError: an order not above 0, weights that are not ``(H, H)`` numbers 0 or more, paths that
            are not ``(..., M, H)`` with M, H >= 1, an observed path of another shape, values that are not finite.
    """
    if not (isinstance(p, (int, float)) and math.isfinite(p) and p > 0):
        raise BadParameterError(f"the variogram score's order p must be a number above 0, got {p!r}: e.g. 0.5")
    x, obs = _paths_and_y(paths, y)
    batch, m, h = x.shape
    shape = np.shape(paths)[:-2]
    if weights is None:
        w = np.ones((1, h, h))
    else:
        w = _finite(np.asarray(weights, dtype=np.float64), "the variogram score's weights")
        try:
            w = np.broadcast_to(w, shape + (h, h)).reshape(-1, h, h)
        except ValueError:
            raise BadParameterError(
                f"the variogram score's weights have shape {w.shape} for {h} horizons: give an ({h}, {h}) matrix"
            ) from None
        if np.any(w < 0):
            raise BadParameterError("the variogram score's weights must be 0 or more")
    rows = max(1, PAIR_BLOCK // (h * h))
    forecast = np.empty((batch, h, h))
    for k in range(batch):
        acc = np.zeros((h, h))
        for a in range(0, m, rows):
            block = x[k, a : a + rows]
            acc += (np.abs(block[:, :, None] - block[:, None, :]) ** p).sum(axis=0)
        forecast[k] = acc / m
    observed = np.abs(obs[:, :, None] - obs[:, None, :]) ** p
    return np.asarray((w * (observed - forecast) ** 2).sum(axis=(-2, -1)).reshape(shape))


def _pit_bounds(samples: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """``P(X < y)`` and ``P(X <= y)`` under the draws' empirical distribution, per forecast."""
    x, obs = _samples_and_y(samples, y)
    m = x.shape[0]
    # counts over M, not means of booleans: P(y) lands exactly on a bin's edge j/J whenever the two are equal
    return np.count_nonzero(x < obs, axis=0) / m, np.count_nonzero(x <= obs, axis=0) / m


def pit_values(samples: ArrayLike, y: ArrayLike, rng: np.random.Generator) -> np.ndarray:
    """The randomised probability integral transform of count forecasts (Czado, Gneiting & Held 2009, section
    2.1): ``u = P(y - 1) + V (P(y) - P(y - 1))`` with ``V ~ U(0, 1)``, ``P`` the draws' empirical CDF. It is
    computed as ``P(X < y) + V P(X = y)``, the same for whole-number draws and still a uniform PIT for draws that
    are not. Calibrated forecasts give uniform values.

    Args:
        samples: ``(M, ...)`` draws (axis 0, as for every score here: ``(N, M)`` forecasts in rows are
            ``samples.T``).
        y: ``(...)`` observations (or one that broadcasts).
        rng: the generator ``V`` is drawn from, one per forecast.

    Returns:
        ``(...)`` float64 in [0, 1].

    Raises:
        BadParameterError: ``rng`` not a numpy Generator, no draws, shapes that do not match, values that are not
            finite.
    """
    if not isinstance(rng, np.random.Generator):
        raise BadParameterError(f"pit_values draws from a numpy Generator, got {type(rng).__name__}: pass one")
    below, at_most = _pit_bounds(samples, y)
    return np.asarray(below + rng.uniform(size=below.shape) * (at_most - below))


def pit_histogram(samples: ArrayLike, y: ArrayLike, bins: int = 10) -> np.ndarray:
    """The non-randomised PIT histogram of count forecasts (Czado, Gneiting & Held 2009, section 2.1): each
    forecast's PIT given ``y`` is uniform on ``[P(y - 1), P(y)]`` (a point mass where the two are equal), its
    CDF ``F(u | y) = clip((u - P(y - 1)) / (P(y) - P(y - 1)), 0, 1)``; the histogram is the mean of those CDFs
    over all forecasts, ``Fbar``, differenced over ``bins`` equal bins of [0, 1]: ``Fbar(j/J) - Fbar((j-1)/J)``.
    That is what the histogram of :func:`pit_values` tends to over many draws of ``V``, without the noise.
    ``P(y - 1)`` is taken as ``P(X < y)`` (see :func:`pit_values`); a point mass on an edge counts in the bin
    that edge closes (bins ``(e_{j-1}, e_j]``, the first ``[0, e_1]``).

    Args:
        samples: ``(M, ...)`` draws (axis 0: ``(N, M)`` forecasts in rows are ``samples.T``).
        y: ``(...)`` observations (or one that broadcasts): every forecast is pooled into one histogram.
        bins: the number of equal bins J, 1 or more.

    Returns:
        ``(bins,)`` float64: the share of the forecasts' PIT mass in each bin, summing to 1 (not to the number
        of forecasts); calibrated forecasts give about ``1/bins`` in each.

    Raises:
        BadParameterError: ``bins`` not a whole number 1 or more, no draws, shapes that do not match, values
            that are not finite.
    """
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise BadParameterError(f"a PIT histogram needs a whole number of bins, 1 or more, got {bins!r}")
    below, at_most = _pit_bounds(samples, y)
    lo = below.reshape(-1, 1)
    hi = at_most.reshape(-1, 1)
    edges = np.arange(1, bins + 1) / bins  # Fbar(0) is 0: the CDF just below 0, so a point mass at 0 counts
    width = hi - lo
    with np.errstate(divide="ignore", invalid="ignore"):
        ramp = np.clip((edges - lo) / width, 0.0, 1.0)
    cdf = np.where(width > 0, ramp, (edges >= hi).astype(np.float64))
    return np.asarray(np.diff(cdf.mean(axis=0), prepend=0.0))
