"""Agora's forecast filtered through the data (issue 75): trajectories of the fit's posterior filtered through every
observation up to the cut by a bootstrap particle filter, then continued past it with the observation's noise.

ABC accepts a particle by the distance of its statistics to the data's, so its trajectory follows the data only
loosely, and one that died out may be accepted beside epidemics (the ``alive`` rejection, :mod:`.forecasts`, was a
patch on that). The filter instead:

1. draws ``particles`` parameter vectors from the fit's posterior (systematic resampling of its final population
   by weight) and runs each with a **fresh run seed**: trajectories ``z`` of the model given the posterior's
   parameters;
2. filters them through the observations tick by tick (:func:`particle_filter`, the bootstrap filter of Gordon,
   Salmond & Smith 1993): each tick's count weighs each particle by the **observation's likelihood**
   ``f(y_t | z)``, through the fit's observation channel of the forecast column (its reporting fraction ``rho``,
   the particle's where fitted, its delay ``p(d)`` and the people an agent stands for, ``scale``): with
   ``mu_t = rho * scale * sum_d p(d) z_(t-d)`` the expected reports,

   - ``negbin`` (the default): ``y_t ~ NegBin(mean mu_t, size k)``; the dispersion ``k`` is chosen at the cut by
     the largest estimate of the marginal likelihood of the last ``window`` ticks' counts (7 by default) over a
     grid of ``k`` (:data:`SIZES`, and the Poisson limit ``k = inf``; :func:`choose_size`): empirical Bayes for the
     noise the model does not explain;
   - ``binomial``: ``y_t ~ Binomial(scale * z_t, rho)``, the observation model of the fit itself, exact where
     there is no delay (refused with one);

   and where the effective sample size ``ESS_t = 1 / sum w^2`` falls below half the particles, **resamples**
   (systematically): a resampled particle keeps its parent's run up to the tick and **branches**, drawing afresh
   from the next round (:data:`sim.runs.epidemic_kernels.Reseeds`, its generator replaced at the branch's
   round): it goes on from its parent's run paused at the tick (:data:`sim.runs.epidemic_kernels.Paused`), and
   every particle runs a block of ticks at a time from its pause, so the filter's cost grows with the ticks to the
   cut, not with their square (on a 3,000-agent world cut at tick 120, 1,000 particles resampling 38 times: 18 s,
   against 73 s rerunning each particle from its start at every resampling, the same draws);
3. reports the ESS after each tick (before any resampling at it), how many times it resampled and the log of its
   estimate of the marginal likelihood ``p(y | posterior)``; an ESS at the cut below :data:`MIN_ESS` (or a tick
   no particle can give) is a collapse, said in one line, and the cut's forecast is then the fit's particles
   continued unfiltered (no forecast from one particle);
4. forecasts each horizon's count by resampling particles by weight and drawing the reports past the cut from the
   same observation law: a trajectory's expected reports after the cut include the cases before it that its
   delay carries over, and the band holds the observation's noise.

A run branches in the compiled ``sir`` and ``seir`` kernels. Other models' runs (the engine's, a plugin's) are
keyed by their seed from the start and cannot branch: for them the filter weighs whole trajectories without
resampling (sequential importance sampling) by the last ``window`` ticks only, a fixed-lag weighing, since over a
whole history its weights degenerate: on tests/test_backtest.py's own sir curve (1,000 agents, 2,000 posterior
trajectories) the ESS at cuts 13, 26, 39 was 3.8, 2.9, 1.0 weighing every tick, 24, 31, 38 the last 7, 179,
273, 264 the last 3; the particle filter's, at cuts 13, 26, 39, 52 with 1,000 particles, 634, 366, 816, 472.
The report says which ran (``method``).

**Exact**: a trajectory's likelihood is the observation law's probability (scipy's log-pmfs,
:func:`log_likelihood`); ``tests/test_filtering.py`` sums it over every trajectory of a three-agent sir world (the
chain written out, checked against 20,000 kernel runs) and finds both the importance estimate and the resampling
filter's estimate of ``p(y | theta)`` within Monte Carlo error of that sum, and the filter's 90 % intervals
holding 92 of 100 hidden epidemics' truths.
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
#: A run with no branch (:data:`sim.runs.epidemic_kernels.NO_RESEEDS`, made here: that module loads Numba, which
#: a request's checks must not).
NO_RESEEDS = np.zeros((0, 5), dtype=np.uint64)
#: The default number of trajectories a filter weighs.
PARTICLES = 500
#: The columns of a run's forest measures (:func:`sim.runs.kernel_report.summary`'s), not of its counts alone: a
#: filter through one of them reads each block's whole report.
FOREST_COLUMNS = ("depth", "breadth")
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
    #: How many times the particle filter resampled (None: no particle filter, the fixed-lag weighing of models
    #: whose runs cannot branch).
    resampled: int | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "method": "particle filter" if self.resampled is not None else "fixed-lag weighing",
            "resampled": self.resampled,
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
            None if data.get("resampled") is None else int(str(data["resampled"])),
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
    return posterior_rows_of(np.asarray(fit.weights, dtype=np.float64), count, rng)


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


def _fresh(rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` fresh PCG64 generators' states ``(count, 4)`` (uint64: state high, low, increment high, low), each
    seeded from ``rng``."""
    out = np.empty((count, 4), dtype=np.uint64)
    for j, s in enumerate(rng.integers(0, 2**63 - 1, size=count).tolist()):
        st = np.random.PCG64(s).state["state"]
        words = [st["state"] >> 64, st["state"] & (2**64 - 1), st["inc"] >> 64, st["inc"] & (2**64 - 1)]
        out[j] = np.array(words, dtype=np.uint64)
    return out


@dataclass
class Run:
    """The particle filter's particles: each one's parameter row, run seed and branches
    (:data:`sim.runs.epidemic_kernels.Reseeds`), their true counts of the column over the span (-1: a failed
    run) and their reporting fractions; and each one's run paused at tick ``at``
    (:data:`sim.runs.epidemic_kernels.Paused`; ``at`` -1: none, each run from its start)."""

    rows: np.ndarray
    seeds: np.ndarray
    branches: list[np.ndarray]
    true: np.ndarray
    rho: np.ndarray
    paused: list[tuple[np.ndarray, ...]] | None = None
    at: int = -1


def _advance(sim: Simulator, run: Run, which: Sequence[int], column: str, stop: int) -> list[tuple[np.ndarray, ...]]:
    """Particles ``which`` of ``run`` gone on from where they are paused (``run.at``) up to tick ``stop``: their
    true counts up to it written into ``run.true`` (a failed run's row -1; a run that ended: its counts 0 after,
    a state's last value kept); returns each one's run paused at ``stop``. A run goes on draw for draw as a
    single run to ``stop`` makes it (:func:`sim.runs.epidemic_kernels.epidemic_paused`), so the filter's cost
    grows with the ticks, not with their square."""
    from sim.runs.epidemic_kernels import NOT_PAUSED  # noqa: PLC0415 - Numba loads with a filtered forecast only

    pad = not is_tick_count(column)
    only = None if column in FOREST_COLUMNS else column
    out: list[tuple[np.ndarray, ...]] = []
    for j in which:
        start = NOT_PAUSED if run.paused is None else run.paused[j]
        runs = sim.true_runs(run.rows[j], int(run.seeds[j]), run.branches[j], paused=start, until=stop, only=only)
        out.append(sim.paused if sim.paused is not None else start)
        if failed_run(runs) or not runs or column not in (runs[0].get("series") or {}):
            run.true[j] = -1.0
            continue
        values = np.asarray(runs[0]["series"][column], dtype=np.float64)[: stop + 1]
        run.true[j, : values.size] = values
        run.true[j, values.size : stop + 1] = values[-1] if pad and values.size else 0.0
    return out


#: The ticks a particle filter first runs its particles ahead between resamplings (then twice the last gap
#: between two, from 2 to :data:`MAX_BLOCK`): ticks run past a resampling are run again from the parents' pause.
BLOCK, MAX_BLOCK = 8, 64


def _resample(
    sim: Simulator,
    run: Run,
    column: str,
    tick: int,
    w: np.ndarray,
    ahead: tuple[int, list[tuple[np.ndarray, ...]]] | None,
    rng: np.random.Generator,
) -> Run:
    """The particles resampled by weights ``w`` at ``tick``: each child is its parent's run paused at ``tick``
    (``ahead``: the runs paused at a tick, where that is ``tick``; else the parents go on to it from
    ``run.at``), drawing afresh from the next round (a branch, :data:`sim.runs.epidemic_kernels.Reseeds`)."""
    p = run.rows.shape[0]
    parents = posterior_rows_of(w, p, rng)
    if ahead is not None and ahead[0] == tick:
        pauses = {k: ahead[1][k] for k in set(parents.tolist())}
    else:
        unique = sorted(set(parents.tolist()))
        pauses = dict(zip(unique, _advance(sim, run, unique, column, tick), strict=True))
    fresh = _fresh(rng, p)
    branches = [
        np.vstack([run.branches[k], np.concatenate([[np.uint64(tick + 1)], fresh[j]])[None, :]])
        for j, k in enumerate(parents.tolist())
    ]
    paused = [pauses[k] for k in parents.tolist()]
    return Run(run.rows[parents], run.seeds[parents], branches, run.true[parents], run.rho[parents], paused, tick)


def particle_filter(
    sim: Simulator,
    run: Run,
    column: str,
    y: np.ndarray,
    observe: tuple[np.ndarray | None, float, str, float | None],
    rng: np.random.Generator,
) -> tuple[Run, np.ndarray, np.ndarray, float, int]:
    """The bootstrap particle filter (Gordon, Salmond & Smith 1993) of the particles ``run`` (their true counts
    over the whole span, from their starts) through the counts ``y`` (ticks ``0 .. T-1``; NaN: none), resampling
    when the ESS falls below half the particles: a resampled particle keeps its parent's run up to the tick and
    draws afresh from the next round (a branch), going on from its parent's paused run a block of ticks at a time
    (:data:`BLOCK`). ``observe``: ``(pmf, scale, law, size)``, the observation law (:func:`log_likelihood`; each
    particle's fraction is ``run.rho``). Returns the particles at the end with their true counts over the whole
    span, their log weights, the ESS after each tick (before any resampling at it), the log marginal likelihood
    estimate and how many times it resampled."""
    pmf, scale, law, size = observe
    p, t_end = run.rows.shape[0], y.size
    span = run.true.shape[1]
    logw = np.full(p, -np.log(p))
    ess = np.zeros(t_end)
    marginal, resampled, block, last = 0.0, 0, BLOCK, -1
    t, known = 0, span  # ticks 0 .. known-1 of every particle's counts are its run's
    while t < t_end:
        ahead = None
        if t >= known:  # every particle a block of ticks on from its pause
            stop = min(t_end - 1, t + block - 1)
            ahead = (stop, _advance(sim, run, range(p), column, stop))
            known = stop + 1
        true = np.maximum(run.true[:, :known], 0.0)
        mu = expected_reports(true, run.rho, pmf, scale)
        seen = min(known, t_end)
        ll = log_likelihood(y[:seen], mu[:, :seen], size, law, np.round(true * scale)[:, :seen], run.rho)
        ll[run.true[:, 0] < 0] = -np.inf
        while t < seen:
            step = logw + ll[:, t]
            inc = _logsumexp(step)
            if not np.isfinite(inc):  # no particle can give this tick's count: the filter collapsed here
                ess[t:] = 0.0
                return run, np.full(p, -np.inf), ess, -np.inf, resampled
            marginal += inc
            logw = step - inc
            w = np.exp(logw)
            ess[t] = 1.0 / float(np.sum(w * w))
            t += 1
            if ess[t - 1] < p / 2 and t < t_end:
                run = _resample(sim, run, column, t - 1, w, ahead, rng)
                logw = np.full(p, -np.log(p))
                resampled += 1
                block = int(np.clip(2 * (t - 1 - last), 2, MAX_BLOCK))
                last, known = t - 1, t
                break
        else:
            if ahead is not None:
                run.paused, run.at = ahead[1], ahead[0]
    if known < span:  # the particles at the end, on to the span's last tick
        _advance(sim, run, range(p), column, span - 1)
    return run, logw, ess, marginal, resampled


def posterior_rows_of(w: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` indices by systematic resampling of weights ``w``."""
    edges = np.cumsum(w / w.sum())
    points = (rng.random() + np.arange(count)) / count
    return np.minimum(np.searchsorted(edges, points, side="right"), w.size - 1)


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
    full = np.array(history, dtype=np.float64)[: cut + 1]
    y = full.copy()
    if window:
        y[: max(0, cut + 1 - window)] = np.nan  # weighed by the last ``window`` observations only
    got = weigh(true, y, rho, pmf, scale, law)
    if sim.branches and true.shape[0]:
        start = Run(rows, seeds[ok], [NO_RESEEDS] * true.shape[0], true, rho)
        run, logw, ess, marginal, resampled = particle_filter(
            sim, start, column, full, (pmf, scale, law, got.size), rng
        )
        report = Filtered(law, got.size, ess, particles, failed, marginal, bool(ess[-1] < MIN_ESS), resampled)
        true, rho = np.maximum(run.true, 0.0), run.rho
        mu, scaled = expected_reports(true, rho, pmf, scale), np.round(true * scale)
    else:
        ess, logw = got.ess, got.ll.sum(axis=1)
        report = Filtered(law, got.size, ess, particles, failed, got.log_marginal, bool(ess[-1] < MIN_ESS), None)
        mu, scaled = got.mu, got.true
    if report.collapsed or not np.isfinite(logw).any():
        report.collapsed = True
        return np.empty((0, horizon)), failed, report
    w = np.exp(logw - np.max(logw))
    chosen = rng.choice(true.shape[0], size=draws, p=w / w.sum())
    ahead = slice(cut + 1, span)
    drawn = draw_reports(
        mu[chosen, ahead], got.size, law, rng, scaled[chosen, ahead], rho[chosen] if law == "binomial" else None
    )
    return drawn, failed, report


def check_law(law: str, delays: Sequence[object]) -> None:
    """Refuse the binomial law where the column is seen with a delay (its likelihood is exact only without one)."""
    if law == "binomial" and any(d is not None for d in delays):
        raise BadParameterError(
            "filter binomial is exact only without a reporting delay, and the column is seen with one: give negbin",
            fields="filter",
        )
