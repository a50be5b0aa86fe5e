"""The field's baseline forecasts of an incidence curve: draws of the counts in the ticks after its end.

Each returns an int64 array of shape ``(draws, horizon)``: row d is one trajectory, column h the count ``h + 1``
ticks after the last tick of ``series``. Both are vectorised over draws; they loop over the horizon's ticks only.

**persistence** is the US COVID-19 Forecast Hub's baseline, ``COVIDhub-baseline`` (Cramer et al. 2022, PNAS
119:e2113561119, "Evaluation of individual and ensemble probabilistic forecasts of COVID-19 mortality in the
United States"), as the Hub's code computes it (reichlab's ``covidModels``, ``fit_quantile_baseline`` and
``predict.quantile_baseline``):

1. the past first differences of the series (all of them), symmetrised: the differences and their negatives;
2. M = ``draws`` values of that distribution at the evenly spaced levels ``0, 1/(M-1), ..., 1`` (R's
   ``quantile(..., type = 7)``: numpy's ``linear``);
3. at each horizon those M values in a fresh random order (``sample(..., replace = FALSE)``) are added to the
   running trajectories, which start at the last observed count;
4. each horizon's draws are shifted so their median is the last observed count (the forecast's median is flat),
   then clipped at 0 (counts are not negative).

The Hub ran it on weekly counts ("the last week's level"); here it runs on the series' own ticks, so on a daily
curve the level is the last day's count and the changes are day-to-day changes: give it weekly sums for the
Hub's weekly baseline. The draws are rounded to whole counts (numpy's ``rint``, halves to even, so a median that
is the last count stays it).

**renewal** projects the renewal equation from R estimated at the end of the series, as the R package
``projections`` does (``project(..., R_fix_within = TRUE, model = "poisson")``; Jombart, Nouvellet et al.;
Nouvellet et al. 2018, Epidemics 22:29, "A simple approach to measure transmissibility and forecast incidence"):

1. R's Gamma posterior over the last ``window`` ticks (Cori et al. 2013, Am J Epidemiol 178:1505; EpiEstim's
   prior and windows, :func:`sim.analysis.rt.estimate_rt`): the window that ends at the series' last tick;
2. one R per trajectory drawn from that posterior, fixed over the horizon (``R_fix_within = TRUE``: the spread
   of R is uncertainty about it, not its variation from day to day);
3. tick by tick, ``I_t ~ Poisson(R sum_{s>=1} w_s I_{t-s})`` where ``I`` is the observed series followed by the
   trajectory's own simulated counts, and ``w`` the serial interval from tick 1 on, rescaled to sum to 1 (as
   ``projections`` rescales its ``si``).

The serial interval is given as :func:`sim.analysis.rtcurve.serial_interval_of` reads one (``gamma:MEAN,SD``
discretised as EpiEstim does, a ``day,probability`` file, or probabilities per tick).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sim.analysis.rt import WINDOW, checked_counts, estimate_rt
from sim.analysis.rtcurve import SerialIntervalLike, serial_interval_of
from sim.errors import BadParameterError

#: Above this many expected cases in one tick a projection stops (Poisson draws past it overflow int64 in numpy).
MAX_RATE = 1e15

Series = np.ndarray | Sequence[float]


def _whole(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise BadParameterError(f"{name} must be a whole number, 1 or more, got {value!r}", fields=name)
    return int(value)


def _generator(rng: np.random.Generator | int) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng >= 0:
        return np.random.default_rng(int(rng))
    raise BadParameterError(f"rng must be a numpy Generator or a seed 0 or more, got {rng!r}", fields="rng")


def _series(series: Series, ticks: int) -> np.ndarray:
    counts = checked_counts(series, "the series")
    if counts.size < ticks:
        raise BadParameterError(
            f"the series has {counts.size} tick(s) and this baseline needs at least {ticks}: give a longer series"
        )
    return counts


def persistence(series: Series, horizon: int, draws: int, rng: np.random.Generator | int, level: int = 1) -> np.ndarray:
    """The Forecast Hub's baseline (see the module's docstring): flat median at the last count, spread from the
    series' past changes. With ``level`` > 1 the median is the mean of the last ``level`` ticks instead of the
    last count, and the spread still comes from the counts' own changes from tick to tick: ``level=7`` on a daily
    curve is the issue's "last week's level" at a daily resolution (one day's noise no longer sets the median,
    and a day's count keeps its day-to-day spread).

    Args:
        series: counts per tick up to the cut (at least 2 ticks: one change), 0 or more.
        horizon: ticks to forecast, 1 or more.
        draws: trajectories, 1 or more.
        rng: a numpy Generator, or a seed.
        level: ticks averaged for the level (1: the last count, as the Hub's weekly series).

    Returns:
        ``(draws, horizon)`` int64 counts, 0 or more.

    Raises:
        BadParameterError: a count that is negative or not a number, a series of fewer than ``level + 1`` ticks,
            a horizon, number of draws or level that is not a whole number 1 or more, an rng that is neither a
            Generator nor a seed.
    """
    level = _whole(level, "level")
    counts = _series(series, level + 1)
    horizon = _whole(horizon, "horizon")
    draws = _whole(draws, "draws")
    gen = _generator(rng)
    changes = np.diff(counts)
    symmetric = np.concatenate((changes, -changes))
    grid = np.quantile(symmetric, np.linspace(0.0, 1.0, draws))
    steps = gen.permuted(np.tile(grid, (horizon, 1)), axis=1)  # each horizon: the grid in a fresh order
    last = float(counts[-level:].mean())
    raw = last + np.cumsum(steps, axis=0)
    shifted = raw - (np.median(raw, axis=1, keepdims=True) - last)
    return np.ascontiguousarray(np.rint(np.maximum(shifted, 0.0)).astype(np.int64).T)


def renewal_weights(serial_interval: SerialIntervalLike, ticks: int) -> np.ndarray:
    """The serial interval's probabilities for lags ``0..ticks-1`` as the projection uses them: lag 0 set to 0 and
    lags 1 on rescaled to sum to 1 (``projections``' ``si / sum(si)``); a gamma discretised over ``ticks`` ticks.

    Raises:
        BadParameterError: as :func:`sim.analysis.rtcurve.serial_interval_of`, or a serial interval with no
            probability in lags 1 to ``ticks - 1``.
    """
    w = np.zeros(ticks)
    given = np.asarray(serial_interval_of(serial_interval).over(ticks), dtype=np.float64)[:ticks]
    w[: given.size] = given
    w[0] = 0.0
    total = float(w.sum())
    if total <= 0:
        raise BadParameterError(
            f"the serial interval has no probability within {ticks - 1} ticks: give one that does, or a longer series"
        )
    return w / total


def project(
    series: Series,
    weights: np.ndarray,
    r: np.ndarray,
    horizon: int,
    rng: np.random.Generator,
    imported: np.ndarray | None = None,
    after: float = 0.0,
) -> np.ndarray:
    """The renewal equation's Poisson projection (``projections``' ``project`` with R fixed within a trajectory):
    ``I_t ~ Poisson(r_d sum_{s>=1} w_s I_{t-s})`` for each trajectory d, observed counts then its own draws.

    Args:
        series: the observed counts per tick (checked by the caller).
        weights: ``w_s`` for lags ``0..len(series)+horizon-1`` at least (``w_0`` ignored).
        r: ``(draws,)``: each trajectory's reproduction number, 0 or more.
        horizon: ticks to project.
        rng: the generator of the Poisson draws.
        imported: the imported cases per tick of ``series`` (None: none): they infect beside the local ones, and
            are not projected (the projection counts local cases).
        after: the imported cases expected a tick past the series: each trajectory draws Poisson(``after``) a tick,
            infecting beside its local cases (after its local draw of the tick).

    Returns:
        ``(draws, horizon)`` int64 counts.

    Raises:
        BadParameterError: a projection whose expected count passes :data:`MAX_RATE` in a tick.
    """
    counts = np.asarray(series, dtype=np.float64)
    ticks = counts.size
    r = np.asarray(r, dtype=np.float64)
    nonzero = np.flatnonzero(weights[1 : ticks + horizon])
    span = int(nonzero[-1]) + 1 if nonzero.size else 1  # lags beyond the serial interval's support add nothing
    history = np.zeros((r.size, ticks + horizon))
    history[:, :ticks] = counts if imported is None else counts + np.asarray(imported, dtype=np.float64)
    out = np.empty((r.size, horizon), dtype=np.int64)
    for h in range(horizon):  # the horizon's ticks: each feeds the next
        t = ticks + h
        first = max(t - span, 0)
        infectivity = history[:, first:t] @ weights[t - first : 0 : -1]
        rate = r * infectivity
        if rate.size and float(rate.max()) > MAX_RATE:
            raise BadParameterError(
                f"the renewal projection passes {MAX_RATE:.0e} expected cases a tick at horizon {h + 1}: give a "
                "shorter horizon"
            )
        out[:, h] = rng.poisson(rate)
        history[:, t] = out[:, h] if after <= 0 else out[:, h] + rng.poisson(after, size=r.size)
    return out


def renewal(
    series: Series,
    serial_interval: SerialIntervalLike,
    horizon: int,
    draws: int,
    rng: np.random.Generator | int,
    window: int = WINDOW,
    imported: Series | None = None,
    after: float = 0.0,
) -> np.ndarray:
    """The renewal projection from R at the end of the series (see the module's docstring).

    Args:
        series: counts per tick up to the cut, 0 or more (the local cases where ``imported`` is given, else all).
        imported: the imported cases per tick of ``series`` (None: none): R is estimated as EpiEstim does with
            them (local cases over the infectivity of local and imported ones), and they infect in the projection.
        after: the imported cases expected a tick past the series (each trajectory draws them: see :func:`project`).
        serial_interval: ``gamma:MEAN,SD``, a ``day,probability`` file, a SerialInterval or probabilities per tick.
        horizon: ticks to forecast, 1 or more.
        draws: trajectories, 1 or more.
        rng: a numpy Generator, or a seed.
        window: ticks of R's last window (EpiEstim's default 7); the series needs at least ``window + 1``.

    Returns:
        ``(draws, horizon)`` int64 counts, 0 or more.

    Raises:
        BadParameterError: a count that is negative or not a number, a series too short for the window (or whose
            last window ends before the serial interval's mean, where EpiEstim gives no estimate), a bad serial
            interval, horizon, number of draws, window or rng, a projection past :data:`MAX_RATE`.
    """
    counts = _series(series, 2)
    horizon = _whole(horizon, "horizon")
    draws = _whole(draws, "draws")
    gen = _generator(rng)
    si = serial_interval_of(serial_interval)
    came = None if imported is None else _series(imported, counts.size)
    if came is not None and came.size != counts.size:
        raise BadParameterError(f"imported cases of {came.size} ticks beside {counts.size} ticks of cases")
    if not (np.isfinite(after) and after >= 0):
        raise BadParameterError(f"the imported cases expected a tick must be 0 or more, not {after!r}")
    estimate = estimate_rt(counts, si, window=window, imported=came)
    if estimate.end.size == 0 or int(estimate.end[-1]) != counts.size - 1:
        raise BadParameterError(
            f"the series' last window ends on tick {counts.size - 1}, before the serial interval's mean "
            f"({estimate.si_mean:.2f} ticks), where R has no estimate: give a longer series"
        )
    r = gen.gamma(float(estimate.shape[-1]), float(estimate.scale[-1]), size=draws)
    return project(counts, renewal_weights(si, counts.size + horizon), r, horizon, gen, came, float(after))
