"""Agora's forecast filtered through the data (issue 75): trajectories of the fit's posterior weighed by the
likelihood of every observation up to the cut, then continued past it with the observation's noise.

ABC accepts a particle by the distance of its statistics to the data's, so its trajectory follows the data only
loosely, and one that died out may be accepted beside epidemics (the ``alive`` rejection, :mod:`.forecasts`, was a
patch on that). The filter instead:

1. draws ``particles`` parameter vectors from the fit's posterior (systematic resampling of its final population
   by weight) and runs each with a **fresh run seed**: trajectories ``z`` of the model given the posterior's
   parameters, the proposal of a bootstrap particle filter (Gordon, Salmond & Smith 1993);
2. weighs each by the **observation's likelihood** of the data of the last ``window`` ticks up to the cut (7 by
   default; 0: every tick), ``p(y | z) = prod_t f(y_t | z)``, through the fit's observation channel of the
   forecast column (its reporting fraction ``rho``, the particle's where fitted, its delay ``p(d)`` and the
   people an agent stands for, ``scale``): with ``mu_t = rho * scale * sum_d p(d) z_(t-d)`` the expected reports,

   - ``negbin`` (the default): ``y_t ~ NegBin(mean mu_t, size k)``, the dispersion ``k`` fitted at the cut by
     maximising the filter's estimate of the marginal likelihood ``sum_j w_j prod_t f(y_t | z_j; k)`` over a grid
     of ``k`` (:data:`SIZES`, and the Poisson limit ``k = inf``): empirical Bayes for the noise the model does
     not explain;
   - ``binomial``: ``y_t ~ Binomial(scale * z_t, rho)``, the observation model of the fit itself, exact where
     there is no delay (refused with one);

3. reports the **effective sample size** after each tick, ``ESS_t = (sum w)^2 / sum w^2`` of the weights given the
   observations up to ``t``, and where the last is below :data:`MIN_ESS` says so in one line and forecasts from
   the fit's particles unfiltered (no forecast from one particle);
4. forecasts each horizon's count by resampling trajectories by weight and drawing the reports past the cut from
   the same observation law (``NegBin(mu_t, k)``, ``Binomial``): a trajectory's expected reports after the cut
   include the cases before it that its delay carries over.

Weighing whole trajectories without resampling between ticks is sequential importance sampling, and its weights
degenerate over a long history, which ``ESS_t`` shows: on a 1,000-agent world's own sir curve (tests/test_backtest's,
2,000 trajectories of the posterior) the ESS at cuts 13, 26 and 39 was 3.8, 2.9 and 1.0 weighing every tick; 24, 31
and 38 weighing the last 7; 179, 273 and 264 the last 3. Hence the window: a fixed-lag weighing that says where
the epidemic stands now, with the fit's posterior carrying the rest of the curve. A filter that resamples at each
tick needs a run to branch from a mid-run state with fresh draws; Agora's runs are keyed by their seed from the
start, so that is not built yet (docs/backtesting.md says so).

**Exact**: each trajectory's likelihood is the observation law's probability, computed in logs
(:func:`log_likelihood`), and the estimate ``mean_j prod_t f(y_t | z_j)`` over trajectories of one parameter
vector is unbiased for ``p(y | theta)``: ``tests/test_filtering.py`` checks both against the sum over every
trajectory of a three-agent world.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sim.errors import BadParameterError
from sim.model.series import is_tick_count
from sim.runs.fit.simulate import failed_run

if TYPE_CHECKING:
    from sim.engine.requests.backtest import Backtest
    from sim.runs.fit.fitting import FitResult, Plan
    from sim.runs.fit.simulate import Simulator

#: The filter's observation laws (``filter``; ``none``: the fit's particles continued, with ``alive``).
LAWS = ("negbin", "binomial", "none")
#: The dispersions ``k`` the negative binomial's is chosen from (and the Poisson limit): 0.1 to 1,000.
SIZES = tuple(float(x) for x in np.logspace(-1, 3, 33))
#: Below this effective sample size at the cut the filter has collapsed: the forecast is the fit's, unfiltered.
MIN_ESS = 10.0
#: The default number of trajectories a filter weighs.
PARTICLES = 1000
#: The default window: the observations of the last this many ticks up to the cut weigh the trajectories (0: every
#: observation). Weighing a whole history without resampling between ticks collapses (see the module docstring).
WINDOW = 7


@dataclass
class Filtered:
    """What the filter did at a cut: its law, the dispersion chosen, the ESS after each tick up to the cut, the
    trajectories weighed (and failed), the log of its marginal likelihood estimate, and whether it collapsed."""

    law: str
    size: float | None
    ess: np.ndarray
    particles: int
    failed: int
    log_marginal: float
    collapsed: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "law": self.law,
            "size": None if self.size is None or not np.isfinite(self.size) else round(self.size, 6),
            "ess": [round(float(x), 3) for x in self.ess.tolist()],
            "ess_at_cut": round(float(self.ess[-1]), 3) if self.ess.size else None,
            "particles": self.particles,
            "failed": self.failed,
            "log_marginal": None if not np.isfinite(self.log_marginal) else round(self.log_marginal, 6),
            "collapsed": self.collapsed,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Filtered:
        """The value :meth:`to_dict` wrote (its ESS per tick, rounded)."""
        size = data.get("size")
        return cls(
            str(data["law"]),
            float("inf") if size is None and data["law"] == "negbin" else (None if size is None else float(str(size))),
            np.asarray(data["ess"], dtype=np.float64),
            int(str(data["particles"])),
            int(str(data["failed"])),
            float("-inf") if data["log_marginal"] is None else float(str(data["log_marginal"])),
            bool(data["collapsed"]),
        )

    def line(self, label: str) -> str:
        """The one line a collapse is said in."""
        return (
            f"cut {label}: the filter collapsed (ESS {float(self.ess[-1]) if self.ess.size else 0.0:.1f} of "
            f"{self.particles:,} trajectories at the cut, below {MIN_ESS:g}): Agora's forecast there is the fit's "
            "particles continued unfiltered"
        )


def expected_reports(true: np.ndarray, rho: np.ndarray, pmf: np.ndarray | None, scale: float) -> np.ndarray:
    """``mu[j, t] = rho[j] * scale * sum_d pmf[d] * true[j, t - d]``: the expected reports of trajectories ``true``
    ``(P, T)``."""
    z = np.asarray(true, dtype=np.float64) * scale
    if pmf is not None and pmf.size > 1:
        t = z.shape[1]
        z = np.stack([np.convolve(row, pmf)[:t] for row in z]) if z.shape[0] else z
    return np.asarray(rho, dtype=np.float64)[:, None] * z


def log_likelihood(
    y: np.ndarray,
    mu: np.ndarray,
    size: float | None,
    law: str,
    true: np.ndarray | None = None,
    rho: np.ndarray | None = None,
) -> np.ndarray:
    """``log f(y_t | z_j)`` ``(P, T)`` of counts ``y`` ``(T,)`` (NaN: no observation, contributing 0) under
    ``law``: ``negbin`` with mean ``mu`` ``(P, T)`` and size ``size`` (None or inf: Poisson), ``binomial`` of
    ``true`` ``(P, T)`` (already scaled: whole numbers) with ``rho`` ``(P,)``. An observation the law cannot give
    (a case where ``mu`` is 0; more reports than cases) has ``-inf`` (scipy's log-pmfs)."""
    from scipy import stats  # noqa: PLC0415 - scipy.stats loads with a filtered forecast only

    obs = np.asarray(y, dtype=np.float64)[None, :]
    seen = np.isfinite(obs)
    yv = np.where(seen, obs, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        if law == "binomial":
            assert true is not None and rho is not None
            out = stats.binom.logpmf(yv, np.asarray(true, dtype=np.float64), np.asarray(rho, dtype=np.float64)[:, None])
        elif size is None or not np.isfinite(size):
            out = stats.poisson.logpmf(yv, np.asarray(mu, dtype=np.float64))
        else:
            m = np.asarray(mu, dtype=np.float64)
            out = stats.nbinom.logpmf(yv, float(size), float(size) / (float(size) + m))
    return np.where(seen, out, 0.0)


def _logsumexp(a: np.ndarray) -> float:
    top = float(np.max(a)) if a.size else -np.inf
    if not np.isfinite(top):
        return -np.inf
    return top + float(np.log(np.exp(a - top).sum()))


def ess_by_tick(log_prior: np.ndarray, ll: np.ndarray) -> np.ndarray:
    """The effective sample size ``(sum w)^2 / sum w^2`` after each tick's observation: the weights
    ``exp(log_prior + sum_(s<=t) ll[:, s])`` for every ``t`` (``(T,)``; 0 where every weight is 0)."""
    cum = log_prior[:, None] + np.cumsum(ll, axis=1)
    top = np.max(cum, axis=0)
    safe = np.where(np.isfinite(top), top, 0.0)
    w = np.exp(cum - safe)
    s1, s2 = w.sum(axis=0), (w * w).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(s2 > 0, s1 * s1 / s2, 0.0)


def choose_size(log_prior: np.ndarray, y: np.ndarray, mu: np.ndarray) -> tuple[float, np.ndarray, float]:
    """The negative binomial's size of the largest marginal likelihood estimate over :data:`SIZES` and the Poisson
    limit (the first of equals), its per-tick log-likelihoods and its log marginal likelihood."""
    best: tuple[float, np.ndarray, float] | None = None
    for size in (*SIZES, float("inf")):
        ll = log_likelihood(y, mu, size, "negbin")
        total = _logsumexp(log_prior + ll.sum(axis=1))
        if best is None or total > best[2]:
            best = (size, ll, total)
    assert best is not None
    return best


def draw_reports(
    mu: np.ndarray,
    size: float | None,
    law: str,
    rng: np.random.Generator,
    true: np.ndarray | None = None,
    rho: np.ndarray | None = None,
) -> np.ndarray:
    """Reports drawn from the observation law: ``NegBin(mu, size)`` (Poisson for an infinite size) or
    ``Binomial(true, rho)`` (float64 counts, the shape of ``mu``)."""
    if law == "binomial":
        assert true is not None and rho is not None
        return rng.binomial(np.asarray(true, dtype=np.int64), np.asarray(rho)[:, None]).astype(np.float64)
    m = np.maximum(np.asarray(mu, dtype=np.float64), 0.0)
    if size is None or not np.isfinite(size):
        return rng.poisson(m).astype(np.float64)
    return rng.negative_binomial(size, size / (size + m)).astype(np.float64)  # numpy's p: the success chance


def posterior_rows(fit: FitResult, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` indices of the fit's final population, by systematic resampling of its weights (each particle
    ``round(count * w)`` times, give or take one)."""
    w = np.asarray(fit.weights, dtype=np.float64)
    edges = np.cumsum(w / w.sum())
    points = (rng.random() + np.arange(count)) / count
    return np.minimum(np.searchsorted(edges, points, side="right"), w.size - 1)


def trajectories(
    sim: Simulator, rows: np.ndarray, seeds: np.ndarray, column: str, span: int
) -> tuple[np.ndarray, np.ndarray]:
    """The true counts of ``column`` ``(P, span)`` of each parameter row run with its seed (before the observation
    model: :meth:`~sim.runs.fit.simulate.Simulator.true_runs`; a run that ended counts 0 after, a state keeps its
    last value), and which runs did not fail."""
    true = np.zeros((rows.shape[0], span))
    ok = np.ones(rows.shape[0], dtype=bool)
    pad = not is_tick_count(column)
    for j in range(rows.shape[0]):
        runs = sim.true_runs(rows[j], int(seeds[j]))
        if failed_run(runs) or not runs or column not in (runs[0].get("series") or {}):
            ok[j] = False
            continue
        values = np.asarray(runs[0]["series"][column], dtype=np.float64)[:span]
        true[j, : values.size] = values
        if pad and values.size and values.size < span:
            true[j, values.size :] = values[-1]
    return true, ok


def seen_through(sim: Simulator, column: str, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, float]:
    """Each row's reporting fraction of ``column``, its channel's delay (None: none) and the people an agent stands
    for: the fit's observation model of the column."""
    obs = sim.observation
    if obs is None:
        return np.ones(rows.shape[0]), None, 1.0
    channel = obs.channel_of(column)
    rho = np.array([channel.reporting(r) for r in rows], dtype=np.float64).reshape(rows.shape[0])
    return rho, None if channel.delay is None else channel.delay.pmf, float(obs.scale)


@dataclass
class Weighed:
    """Trajectories weighed by the data: per-tick log-likelihoods ``ll`` ``(P, T)``, the expected reports ``mu``
    ``(P, span)``, the scaled true counts, the size chosen (negbin), the log marginal likelihood estimate and the
    ESS after each tick."""

    ll: np.ndarray
    mu: np.ndarray
    true: np.ndarray
    size: float | None
    log_marginal: float
    ess: np.ndarray


def weigh(
    true: np.ndarray,
    y: np.ndarray,
    rho: np.ndarray,
    pmf: np.ndarray | None,
    scale: float,
    law: str,
    size: float | None = None,
) -> Weighed:
    """Trajectories ``true`` ``(P, span)`` (in agents) weighed by the observations ``y`` ``(T,)`` at their first
    ``T`` ticks under ``law``, each with prior weight ``1/P``; ``size`` (negbin): None chooses it
    (:func:`choose_size`), a number fixes it (inf: Poisson)."""
    t = y.size
    mu = expected_reports(true, rho, pmf, scale)
    scaled_true = np.round(np.asarray(true, dtype=np.float64) * scale)
    log_prior = np.full(true.shape[0], -np.log(max(1, true.shape[0])))
    if law == "binomial":
        ll = log_likelihood(y, mu[:, :t], None, "binomial", scaled_true[:, :t], rho)
        marginal = _logsumexp(log_prior + ll.sum(axis=1))
    elif size is None:
        size, ll, marginal = choose_size(log_prior, y, mu[:, :t])
    else:
        ll = log_likelihood(y, mu[:, :t], size, "negbin")
        marginal = _logsumexp(log_prior + ll.sum(axis=1))
    ess = ess_by_tick(log_prior, ll) if true.shape[0] else np.zeros(t)
    return Weighed(ll, mu, scaled_true, None if law == "binomial" else size, marginal, ess)


def filtered_draws(
    plan: Plan,
    fit: FitResult,
    cut: int,
    horizon: int,
    column: str,
    history: np.ndarray,
    rng: np.random.Generator,
    request: Backtest,
) -> tuple[np.ndarray, int, Filtered]:
    """Agora's forecast at ``cut`` filtered through ``history`` (the column's counts at ticks ``0 .. cut``, NaN
    where none was observed): ``(draws, horizon)`` counts of ticks ``cut + 1 .. cut + horizon``, the trajectories
    that failed, and what the filter did (see the module docstring), with the ``request``'s ``draws``, ``filter``
    (the law), ``filter_particles`` and ``filter_window``. A collapsed filter's draws are empty: the caller
    forecasts unfiltered."""
    law, particles, window, draws = request.filter, request.filter_particles, request.filter_window, request.draws
    assert fit.accepted is not None
    sim = plan.simulator_for(cut + 1 + horizon)
    span = cut + 1 + horizon
    picks = posterior_rows(fit, particles, rng)
    seeds = rng.integers(0, 2**31 - 1, size=particles)
    true, ok = trajectories(sim, fit.accepted[picks], seeds, column, span)
    failed = int((~ok).sum())
    rows, true = fit.accepted[picks[ok]], true[ok]
    rho, pmf, scale = seen_through(sim, column, rows)
    y = np.array(history, dtype=np.float64)[: cut + 1]
    if window:
        y[: max(0, cut + 1 - window)] = np.nan  # weighed by the last ``window`` observations only
    got = weigh(true, y, rho, pmf, scale, law)
    ess = got.ess
    report = Filtered(
        law, got.size, ess, particles, failed, got.log_marginal, bool(ess[-1] < MIN_ESS) if ess.size else True
    )
    if report.collapsed:
        return np.empty((0, horizon)), failed, report
    logw = got.ll.sum(axis=1)
    w = np.exp(logw - np.max(logw))
    chosen = rng.choice(true.shape[0], size=draws, p=w / w.sum())
    ahead = slice(cut + 1, span)
    drawn = draw_reports(
        got.mu[chosen, ahead], got.size, law, rng, got.true[chosen, ahead], rho[chosen] if law == "binomial" else None
    )
    return drawn, failed, report


def check_law(law: str, delays: Sequence[object]) -> None:
    """Refuse the binomial law where the column is seen with a delay (its likelihood is exact only without one)."""
    if law == "binomial" and any(d is not None for d in delays):
        raise BadParameterError(
            "filter binomial is exact only without a reporting delay, and the column is seen with one: give negbin",
            fields="filter",
        )
