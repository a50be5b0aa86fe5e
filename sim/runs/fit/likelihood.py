"""The exact likelihood of adoption times under ``ic`` and ``si``, and the posterior of their one parameter.

Both models spread in synchronous rounds along the follower graph: an edge ``u -> v`` of the world's out-CSR
(``graph.out_indptr``/``out_indices``; v follows u) carries attempts from u to v; seeds adopt at tick 0;
an agent that adopts in round t transmits from round t + 1; an attempt succeeds with probability ``p``
(ic) or ``beta`` (si), independently of every other. Given when each agent adopted (``t_v``; never: infinite)
and the last tick seen, ``T`` (the horizon: what happened after it is not observed), every attempt that
was made is known, and so is whether it could have succeeded:

- **ic** (one attempt per edge, in the round after the sender adopted, to a target that has not adopted):
  edge ``u -> v`` with ``t_u + 1 <= T`` makes its attempt in round ``t_u + 1`` when ``t_v >= t_u + 1``. If
  ``t_v == t_u + 1`` it is one of the ``k_v`` attempts v faced in the round it adopted; if v adopted later
  or never, it failed. (If ``t_v <= t_u`` there was no attempt.)
- **si** (every infectious agent tries every susceptible follower every round, for good): edge ``u -> v``
  fails in every round ``s = t_u + 1 .. min(t_v, T + 1) - 1`` and, when ``t_u < t_v <= T``, is one of the
  ``k_v`` attempts of round ``t_v``.

An agent v that adopted at ``1 <= t_v <= T`` after ``k_v`` attempts in that round contributes
``1 - (1 - p)^k_v`` (at least one succeeded); each failed attempt contributes ``1 - p``:

    log L(p) = sum over adopters v of log(1 - (1 - p)^k_v) + F log(1 - p)

(``F``: the failed attempts). ``k_v`` and ``F`` are the sufficient statistics (:class:`Exposure`), counted
once over the adopters' out-edges with numpy. ``log L`` is concave in ``p``, so its maximum and the
likelihood-ratio interval are found by bisection. Times after the horizon count as not seen (never, by T).

**Assumed**: no feeds (no content recommender runs: every adoption came along an edge), ``trust_weighted``
off (every edge the same ``p``), every agent active, and the graph as it is now for the whole spread (no
living network). :func:`likelihood_for` refuses a model or parameters for which the formula is not exact.

**The horizon.** By default ``T`` is the last tick in the file: nothing is claimed after it. A file that holds
a whole cascade, one that ended by itself (ic ends after a round without adoption; si when no infectious
agent has a susceptible follower), knows more: nobody adopted in the round after its last tick; pass
``horizon = last tick + 1`` to count that round's failed attempts (ic: the attempts of the last adopters).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.core.world import World
from sim.errors import BadParameterError
from sim.store.observed import ObservedTimes

#: The models with an exact likelihood from adoption times, and the parameter it is a function of.
LIKELIHOOD_MODELS: dict[str, str] = {"ic": "p", "si": "beta"}

#: Why some models have none (the phrase :func:`why_no_likelihood` returns).
_WHY_NOT = {
    "lt": "lt's thresholds are drawn once per agent, so its adoptions are not independent attempts with a rate",
    "sir": "sir's recovery times are not observed",
    "sis": "sis's recovery times are not observed",
    "sirs": "sirs's recovery and waning times are not observed",
    "seir": "seir's latent and recovery times are not observed",
    "seis": "seis's latent and recovery times are not observed",
}

#: chi-square with one degree of freedom, its 90 % quantile (1.6448536269514722 ** 2): the profile interval
#: holds the values whose log-likelihood is within half of it of the maximum.
CHI2_1_90 = 2.705543454095404


def why_no_likelihood(model: str) -> str | None:
    """None when ``model`` has an exact likelihood here (:data:`LIKELIHOOD_MODELS`); else one phrase saying
    why not, for the docs and the CLI (``"sir's recovery times are not observed"``)."""
    if model in LIKELIHOOD_MODELS:
        return None
    return _WHY_NOT.get(model, f"{model} has no exact likelihood from adoption times here (only ic and si do)")


def likelihood_for(model: str, params: Mapping[str, object] | None = None) -> str:
    """The parameter whose likelihood adoption times give under ``model`` with the other ``params`` fixed.

    Raises:
        BadParameterError: a model without one (saying why), or ``trust_weighted`` on (each edge would
            have its own probability).
    """
    why = why_no_likelihood(model)
    if why is not None:
        raise BadParameterError(f"model {model!r} has no exact likelihood: {why}; fit it by simulation instead")
    trust = (params or {}).get("trust_weighted", False)
    if trust not in (False, 0, None) and str(trust).strip().lower() not in ("false", "0", "no", "off", ""):
        raise BadParameterError(
            f"the exact likelihood of {model} assumes every edge has the same {LIKELIHOOD_MODELS[model]}: "
            "drop trust_weighted, or fit it by simulation instead"
        )
    return LIKELIHOOD_MODELS[model]


# --- sufficient statistics --------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Exposure:
    """The sufficient statistics of adoption times under a model.

    Attributes:
        successes: int64, per agent that adopted at ``1..horizon`` (file order), the attempts it faced in the
            round it adopted (>= 1): it contributes ``log(1 - (1 - p)^k)``.
        failures: the attempts that failed, in total (each contributes ``log(1 - p)``).
        horizon: the last tick observed, ``T``: no attempt of a later round counts.
    """

    successes: np.ndarray
    failures: int
    horizon: int


def _out_edges(world: World, senders: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The out-edges of ``senders``: each edge's sender and target (int64), senders in the given order."""
    indptr = world.graph.out_indptr
    starts = indptr[senders].astype(np.int64)
    counts = indptr[senders + 1].astype(np.int64) - starts
    total = int(counts.sum())
    src = np.repeat(senders, counts)
    offsets = np.repeat(starts - (np.cumsum(counts) - counts), counts) + np.arange(total, dtype=np.int64)
    return src, world.graph.out_indices[offsets].astype(np.int64)


def exposure(model: str, world: World, times: ObservedTimes, horizon: int | None = None) -> Exposure:
    """Count the attempts adoption ``times`` imply under ``model`` (``ic`` or ``si``) on ``world``'s graph.

    Args:
        model: ``ic`` or ``si``.
        world: the world the times come from (its out-CSR; the agents' original ids name an impossible one).
        times: the adoption times (internal agent indices).
        horizon: the last tick observed (default: the last tick in ``times``); adoptions after it count as
            not seen.

    Raises:
        BadParameterError: a model without a likelihood, a negative horizon, or times the model cannot
            produce: an agent that adopted at tick t >= 1 with no followee adopted at t - 1 (ic) or before
            t (si); the first such agent (file order) is named by its original id.
    """
    likelihood_for(model)
    n = int(world.graph.n)
    last = int(times.ticks.max()) if times.ticks.size else 0
    T = last if horizon is None else int(horizon)
    if T < 0:
        raise BadParameterError(f"horizon {T} is negative: give the last tick observed (0 or more)")
    t = times.tick_of(n)
    t[t > T] = -1  # not seen by the horizon
    if model == "ic":
        senders = np.flatnonzero((t >= 0) & (t < T))  # their one round of attempts, t + 1, is seen
        src, dst = _out_edges(world, senders)
        tu, tv = t[src], t[dst]
        won = tv == tu + 1
        failures = int(np.count_nonzero((tv < 0) | (tv > tu + 1)))
    else:
        senders = np.flatnonzero(t >= 0)
        src, dst = _out_edges(world, senders)
        tu, tv = t[src], t[dst]
        until = np.where(tv < 0, T + 1, tv)  # the attempts of rounds tu + 1 .. until - 1 failed
        failures = int(np.clip(until - 1 - tu, 0, None).sum())
        won = (tv >= 0) & (tv > tu)
    k = np.bincount(dst[won], minlength=n)
    mine = np.flatnonzero((times.ticks >= 1) & (times.ticks <= T))
    agents = times.agents[mine]
    successes = k[agents].astype(np.int64)
    if successes.size and int(successes.min()) == 0:
        i = int(np.argmax(successes == 0))
        agent = int(agents[i])
        when = f"at tick {int(times.ticks[mine[i]]) - 1}, the round before it" if model == "ic" else "before it"
        raise BadParameterError(
            f"adoption times {times.path}: agent {int(world.columns['ids'][agent])} adopted at tick "
            f"{int(times.ticks[mine[i]])} but no agent it follows had adopted {when}, which {model} cannot "
            "produce: check the times and the world, or fit by simulation"
        )
    return Exposure(successes, failures, T)


@dataclass(frozen=True, eq=False)
class _Compact:
    """An exposure as its distinct attempt counts ``k`` (float64), how many adopters faced each, and the
    failures: what every evaluation of ``log L`` reads."""

    k: np.ndarray
    count: np.ndarray
    failures: int

    @classmethod
    def of(cls, ex: Exposure) -> _Compact:
        ks, counts = np.unique(ex.successes, return_counts=True)
        return cls(ks.astype(np.float64), counts.astype(np.float64), int(ex.failures))

    def loglik(self, values: np.ndarray) -> np.ndarray:
        v = np.asarray(values, dtype=np.float64)
        inside = (v >= 0.0) & (v <= 1.0)
        q = np.where(inside, v, 0.5)
        out = np.zeros(q.shape, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_miss = np.log1p(-q)  # log(1 - p): -inf at p = 1
            for k, c in zip(self.k.tolist(), self.count.tolist()):  # a few distinct k: one pass each
                out += c * np.log(-np.expm1(k * log_miss))  # log(1 - (1 - p)^k): -inf at p = 0
            if self.failures:
                out += self.failures * log_miss
        out[~inside] = -np.inf
        return out

    def slope(self, p: float) -> float:
        """d log L / dp at ``p`` (+inf at 0 with a success, -inf at 1 with a failure)."""
        if p >= 1.0:
            return -math.inf if self.failures else float(self.count[self.k == 1.0].sum())
        log_miss = math.log1p(-p)
        total = 0.0
        if self.k.size:
            # over: a p below 1e-308 (a prior's bound) makes 1 / hit overflow to the slope's limit, +inf.
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                hit = -np.expm1(self.k * log_miss)  # 1 - (1 - p)^k
                if np.any(hit == 0.0):
                    return math.inf
                total += float(np.sum(self.count * self.k * np.exp((self.k - 1.0) * log_miss) / hit))
        return total - self.failures / (1.0 - p)


def loglik(ex: Exposure, values: np.ndarray) -> np.ndarray:
    """``log L`` at each value of the parameter (``p`` or ``beta``), vectorised: float64 of the shape of
    ``values``; ``-inf`` where the data are impossible (``0`` with a success, ``1`` with a failure) or the
    value lies outside ``[0, 1]``."""
    return _Compact.of(ex).loglik(values)


def _bisect(inside: Any, a: float, b: float, rounds: int = 200) -> float:
    """The boundary in ``[a, b]`` between where ``inside(x)`` holds (at ``a``) and where it does not (``b``)."""
    for _ in range(rounds):
        mid = 0.5 * (a + b)
        if mid in (a, b):
            break
        if inside(mid):
            a = mid
        else:
            b = mid
    return 0.5 * (a + b)


def mle(ex: Exposure, lo: float = 0.0, hi: float = 1.0) -> float:
    """The value in ``[lo, hi]`` where ``log L`` is largest (it is concave: one maximum)."""
    return _mle(_Compact.of(ex), lo, hi)


def _mle(c: _Compact, lo: float, hi: float) -> float:
    if c.slope(lo) <= 0.0:
        return lo
    if c.slope(hi) >= 0.0:
        return hi
    return _bisect(lambda x: c.slope(x) > 0.0, lo, hi)


def profile_interval(ex: Exposure, lo: float, hi: float, level_chi2: float = CHI2_1_90) -> tuple[float, float]:
    """The likelihood-ratio interval in ``[lo, hi]``: where ``log L >= max - level_chi2 / 2``."""
    return _profile(_Compact.of(ex), lo, hi, level_chi2)


def _profile(c: _Compact, lo: float, hi: float, level_chi2: float = CHI2_1_90) -> tuple[float, float]:
    best = _mle(c, lo, hi)
    floor = float(c.loglik(np.array([best]))[0]) - level_chi2 / 2.0

    def above(x: float) -> bool:
        return bool(c.loglik(np.array([x]))[0] >= floor)

    left = lo if above(lo) else _bisect(lambda x: not above(x), lo, best)
    right = hi if above(hi) else _bisect(above, best, hi)
    return left, right


# --- the posterior on a grid --------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ExactFit:
    """The posterior of ``p`` (ic) or ``beta`` (si) from adoption times, on a grid.

    Attributes:
        model, param: the model and its parameter.
        grid: the values, ascending (log-spaced for a log-uniform prior); it spans the part of ``[lo, hi]``
            where the posterior is not negligible (below ``e^-46`` of its peak: nothing else).
        posterior: the density there (prior x likelihood), integrating to 1 (trapezoids).
        median, ci90: the posterior median and its 90 % equal-tailed credible interval.
        mle: the value in ``[lo, hi]`` of largest likelihood (exact, by bisection).
        profile90: the 90 % likelihood-ratio interval in ``[lo, hi]``: ``log L >= max - chi2_1(0.90)/2``.
        cdf: the posterior's CDF at each grid point (0 to 1).
        exposure: the sufficient statistics the fit came from.
        lo, hi, log_uniform: the prior.
    """

    model: str
    param: str
    grid: np.ndarray
    posterior: np.ndarray
    median: float
    ci90: tuple[float, float]
    mle: float
    profile90: tuple[float, float]
    cdf: np.ndarray | None = None
    exposure: Exposure | None = None
    lo: float = 0.0
    hi: float = 1.0
    log_uniform: bool = False

    def _cdf(self) -> np.ndarray:
        return self.cdf if self.cdf is not None else _cdf(self.grid, self.posterior)

    @property
    def mean(self) -> float:
        """The posterior mean (trapezoids over the grid, which may be log-spaced: not a plain average of the
        grid weighted by the density)."""
        f = self.grid * self.posterior
        return float(np.sum(0.5 * (f[1:] + f[:-1]) * np.diff(self.grid)))

    def quantile(self, q: np.ndarray | float) -> np.ndarray:
        """The posterior quantiles at probabilities ``q`` (linear in the CDF within a cell)."""
        return _inverse_cdf(self.grid, self._cdf(), np.asarray(q, dtype=np.float64))

    def draws(self, count: int, rng: np.random.Generator) -> np.ndarray:
        """``count`` samples of the posterior: inverse CDF of uniform numbers from ``rng``, continuous within
        a grid cell."""
        return self.quantile(rng.random(int(count)))

    def to_dict(self) -> dict[str, object]:
        """The fit as JSON: the estimates, the prior and the data's statistics (not the grid)."""
        ex = self.exposure
        return {
            "method": "exact",
            "model": self.model,
            "param": self.param,
            "prior": {"lo": self.lo, "hi": self.hi, "scale": "log-uniform" if self.log_uniform else "uniform"},
            "median": self.median,
            "mean": self.mean,
            "ci90": list(self.ci90),
            "mle": self.mle,
            "profile90": list(self.profile90),
            "grid_points": int(self.grid.size),
            "data": None
            if ex is None
            else {"adoptions": int(ex.successes.size), "failed_attempts": ex.failures, "horizon": ex.horizon},
        }


def _grid(lo: float, hi: float, log_uniform: bool, points: int) -> np.ndarray:
    g = np.geomspace(lo, hi, points) if log_uniform else np.linspace(lo, hi, points)
    g[0], g[-1] = lo, hi
    return g


def _log_posterior(c: _Compact, grid: np.ndarray, log_uniform: bool) -> np.ndarray:
    """log likelihood + log prior density (up to a constant): the log-uniform density is ``1 / x``."""
    out = c.loglik(grid)
    if log_uniform:
        out = out - np.log(grid)
    return out


def _cdf(grid: np.ndarray, density: np.ndarray) -> np.ndarray:
    cells = 0.5 * (density[1:] + density[:-1]) * np.diff(grid)
    cdf = np.concatenate([[0.0], np.cumsum(cells)])
    return cdf / cdf[-1]


def _inverse_cdf(grid: np.ndarray, cdf: np.ndarray, q: np.ndarray) -> np.ndarray:
    q = np.clip(q, 0.0, 1.0)
    i = np.clip(np.searchsorted(cdf, q, side="right") - 1, 0, grid.size - 2)
    width = cdf[i + 1] - cdf[i]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(width > 0, (q - cdf[i]) / width, 0.0)
    return grid[i] + np.clip(frac, 0.0, 1.0) * (grid[i + 1] - grid[i])


def merged_exposure(
    model: str, world: World, times: Sequence[ObservedTimes], horizons: Sequence[int | None]
) -> Exposure:
    """The exposure of several independent cascades (each with its own horizon): their likelihoods multiply,
    so their successes are listed together and their failures summed."""
    parts = [exposure(model, world, t, h) for t, h in zip(times, horizons, strict=True)]
    return Exposure(
        np.concatenate([e.successes for e in parts]) if parts else np.zeros(0, dtype=np.int64),
        int(sum(e.failures for e in parts)),
        max((e.horizon for e in parts), default=0),
    )


def exact_fit(
    model: str,
    world: World,
    times: ObservedTimes | Sequence[ObservedTimes],
    lo: float,
    hi: float,
    log_uniform: bool,
    horizon: int | None | Sequence[int | None] = None,
    points: int = 4001,
) -> ExactFit:
    """The posterior of ``model``'s parameter from adoption ``times``, under a uniform or log-uniform prior on
    ``[lo, hi]``, on a grid of ``points`` values (log-spaced for log-uniform), computed with log-sum-exp.

    The grid first spans ``[lo, hi]``; where the posterior is concentrated on a few of its cells (many
    data), it is laid again, with as many points, over the part of ``[lo, hi]`` holding all but ``e^-46`` of
    the peak, so that the median and the credible interval stay exact to a small fraction of its width.

    Raises:
        BadParameterError: a model without a likelihood; bounds not within ``[0, 1]`` with ``lo < hi`` (and
            ``lo > 0`` for log-uniform); fewer than 3 points; times the model cannot produce; times that show
            no attempt at all (nothing to learn from).
    """
    param = likelihood_for(model)
    lo, hi = float(lo), float(hi)
    if not (math.isfinite(lo) and math.isfinite(hi) and 0.0 <= lo < hi <= 1.0):
        raise BadParameterError(f"the range of {param} must lie within 0..1 with LO < HI, not {lo:g}..{hi:g}")
    if log_uniform and lo <= 0.0:
        raise BadParameterError(f"a log-uniform range of {param} needs LO above 0, not {lo:g}")
    if int(points) < 3:
        raise BadParameterError(f"the grid of {param} needs at least 3 points, not {points}")
    points = int(points)
    if isinstance(times, ObservedTimes):
        ex = exposure(model, world, times, horizon if not isinstance(horizon, Sequence) else horizon[0])
        path = times.path
    else:
        horizons = list(horizon) if isinstance(horizon, Sequence) else [horizon] * len(times)
        ex = merged_exposure(model, world, times, horizons)
        path = times[0].path if times else "(none)"
    if not ex.successes.size and not ex.failures:
        raise BadParameterError(
            f"adoption times {path} show no attempt by the horizon (tick {ex.horizon}), so they say nothing "
            f"about {param}: give a later horizon or more of the spread"
        )
    c = _Compact.of(ex)
    grid = _grid(lo, hi, log_uniform, points)
    logpost = _log_posterior(c, grid, log_uniform)
    top = float(np.max(logpost))
    keep = np.flatnonzero(logpost >= top - 46.0)
    a, b = max(int(keep[0]) - 1, 0), min(int(keep[-1]) + 1, points - 1)
    if b - a < points // 4:  # the mass sits in a few cells: lay the grid again over them
        grid = _grid(float(grid[a]), float(grid[b]), log_uniform, points)
        logpost = _log_posterior(c, grid, log_uniform)
        top = float(np.max(logpost))
    weight = np.exp(logpost - top)  # log-sum-exp: the peak is 1
    area = float(np.sum(0.5 * (weight[1:] + weight[:-1]) * np.diff(grid)))
    density = weight / area
    cdf = _cdf(grid, density)
    med, q05, q95 = (float(x) for x in _inverse_cdf(grid, cdf, np.array([0.5, 0.05, 0.95])))
    return ExactFit(
        model=model,
        param=param,
        grid=grid,
        posterior=density,
        median=med,
        ci90=(q05, q95),
        mle=_mle(c, lo, hi),
        profile90=_profile(c, lo, hi),
        cdf=cdf,
        exposure=ex,
        lo=lo,
        hi=hi,
        log_uniform=bool(log_uniform),
    )


__all__ = [
    "CHI2_1_90",
    "LIKELIHOOD_MODELS",
    "ExactFit",
    "Exposure",
    "exact_fit",
    "exposure",
    "likelihood_for",
    "loglik",
    "mle",
    "profile_interval",
    "why_no_likelihood",
]
