"""The time-varying reproduction number R from an epidemic curve: Cori et al. (2013, Am J Epidemiol 178:1505),
as EpiEstim's ``estimate_R(method = "non_parametric_si" | "parametric_si")`` computes it.

Cases on tick t arise from the infectivity of earlier cases, ``Lambda_t = sum_{k>=1} w_k I_{t-k}`` (``w`` the
serial interval's distribution over ticks, ``w_0 = 0``; ``I`` the local and imported cases together), at rate
``R Lambda_t``. Over a window of ticks ``s..e`` with R constant and a Gamma prior (shape ``a0``, scale ``b0``), R's
posterior is a Gamma with shape ``a0 + sum_{t=s}^{e} local_t`` (local cases only: imported ones did not arise
here) and scale ``1 / (1/b0 + sum_{t=s}^{e} Lambda_t)``. Every number below follows EpiEstim 3.0.0 (its
``R/estimate_R.R``, ``R/make_config.R``, ``R/utilities.R``, ``R/discr_si.R``, ``R/overall_infectivity.R``):

- the prior: mean 5, standard deviation 5 (``mean_prior = 5, std_prior = 5``): shape ``(m/s)^2``, scale ``s^2/m``;
- the windows: ``t_start = 2:(T - window + 1)``, ``t_end = t_start + window - 1`` counted from 1, that is ticks
  ``1..T-window`` to ``window..T-1`` counted from 0: the first tick never lies in a window (its cases have no
  infectivity before them), so a window is at most ``T - 1`` ticks long;
- a window whose end, counted from 1, is not past the serial interval's mean is left out (EpiEstim returns NA
  and drops it): ``t_end > mean_si``;
- ``gamma:MEAN,SD`` is EpiEstim's ``discr_si``: a gamma of shape ``((MEAN-1)/SD)^2`` and scale ``SD^2/(MEAN-1)``
  shifted by one day and discretised over ticks ``0..T-1``, clipped at 0 and not renormalised;
- a serial interval given as numbers must be 0 at tick 0, non-negative, and sum to 1 within 0.01
  (``check_si_distr``).

The sums over windows are taken without a loop over windows: the numerator from a cumulative sum of the local
cases, and the sum of the infectivity over a window as one convolution of the serial interval with the window sums
of the cases (the same sum, reordered: ``sum_{t=s}^{e} Lambda_t = sum_k w_k sum_{t=s}^{e} I_{t-k}``). Whole counts
keep those sums exact; quantiles are scipy's (``special.gammaincinv``, what ``stats.gamma.ppf`` calls).
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import special

from sim.core.boundedio import GZIP_ERRORS, Bounds, read_bounded
from sim.core.numbers import ascii_float
from sim.errors import BadFileError, BadParameterError
from sim.store.timeline import MAX_COUNT
from sim.store.timeticks import tick_unit

#: EpiEstim's prior on R (``make_config``'s ``mean_prior`` and ``std_prior``).
PRIOR_MEAN = 5.0
PRIOR_SD = 5.0
#: The shape and scale R's Gamma prior may have: beyond them its posterior's numbers leave a float's range.
PRIOR_RANGE = (1e-150, 1e150)
#: The window EpiEstim slides by default (weekly windows).
WINDOW = 7
#: How far from 1 a serial interval's probabilities may sum (EpiEstim's ``check_si_distr``).
SUM_TOLERANCE = 0.01
#: The posterior quantiles reported per window, EpiEstim's; 0.5 is the median.
QUANTILES = (0.025, 0.05, 0.25, 0.5, 0.75, 0.95, 0.975)
#: Their names in :meth:`RtEstimate.to_dict`.
QUANTILE_NAMES = ("q025", "q05", "q25", "median", "q75", "q95", "q975")
#: EpiEstim warns when the first window holds fewer cases than a posterior coefficient of variation of 0.3 needs.
CV_POSTERIOR = 0.3
#: Above this many multiply-adds the infectivity's convolution is done by FFT (below it, exactly as written).
_DIRECT_LIMIT = 20_000_000
#: The longest mean or standard deviation of a gamma serial interval, in ticks: a curve has at most a million
#: ticks (:data:`sim.store.timeline.MAX_TICKS`).
MAX_SI = 1_000_000.0
#: A gamma serial interval whose standard deviation is below this fraction of its mean (less the day's shift) is
#: read as the point mass at its mean (see :func:`discretised_gamma`).
POINT_CV = 1e-7
#: What a serial interval file may hold: a distribution over days has a few dozen rows.
_SI_BOUNDS = Bounds(text=16 * 2**20, rows=1_000_001)


def discretised_gamma(k: np.ndarray | Sequence[int], mean: float, sd: float) -> np.ndarray:
    """EpiEstim's ``discr_si(k, mu, sigma)``: the probability of a serial interval of ``k`` days under a gamma of
    mean ``mean - 1`` and standard deviation ``sd``, shifted by one day, discretised by linear interpolation of the
    distribution function (Cori et al. 2013, web appendix 11); 0 at ``k = 0``.

    A gamma narrower than :data:`POINT_CV` of its mean (a shape above ``1 / POINT_CV**2``) is its limit, the
    point mass at ``mean`` (after the shift), discretised the same way: ``max(0, 1 - |k - mean|)``, the mass split
    between the two days beside it. Its shape would overflow a float (``gamma:1.0000001,1e-300``), and scipy's
    values already equal the limit's from a shape of about 1e12.

    Raises:
        BadParameterError: a mean or sd out of range (:func:`check_gamma`), or a negative ``k``.
    """
    check_gamma(mean, sd)
    k = np.asarray(k, dtype=np.float64)
    if np.any(k < 0):
        raise BadParameterError("a serial interval's days are whole numbers from 0")
    cv = sd / (mean - 1.0)  # finite: mean - 1 is at least a float's step above 0, and sd at most MAX_SI
    if cv < POINT_CV:
        return np.maximum(1.0 - np.abs(k - mean), 0.0)
    a = 1.0 / (cv * cv)
    b = sd * cv

    def cdf(x: np.ndarray, shape: float) -> np.ndarray:  # scipy.stats.gamma.cdf(x, shape, scale=b), lighter
        return np.where(x > 0, special.gammainc(shape, np.maximum(x, 0.0) / b), 0.0)

    res = k * cdf(k, a) + (k - 2) * cdf(k - 2, a) - 2 * (k - 1) * cdf(k - 1, a)
    res = res + a * b * (2 * cdf(k - 1, a + 1) - cdf(k - 2, a + 1) - cdf(k, a + 1))
    res = np.maximum(res, 0.0)
    if not np.all(np.isfinite(res)):  # pragma: no cover - every mean and sd check_gamma allows gives numbers
        raise BadParameterError(
            f"the serial interval gamma:{mean:g},{sd:g} cannot be discretised: give its probabilities in a "
            "day,probability file"
        )
    return res


def check_gamma(mean: float, sd: float) -> None:
    """Refuse a gamma serial interval EpiEstim refuses (``mean <= 1``: the shift is one day; ``sd <= 0``), and one
    longer than any curve (a mean or sd above :data:`MAX_SI` ticks)."""
    if not (isinstance(mean, (int, float)) and math.isfinite(mean) and 1 < mean <= MAX_SI):
        raise BadParameterError(
            f"the serial interval's mean must be a number above 1 (the gamma is shifted by one day) and at most "
            f"{MAX_SI:,.0f} (a curve's ticks), got {mean!r}",
            fields="serial_interval",
        )
    if not (isinstance(sd, (int, float)) and math.isfinite(sd) and 0 < sd <= MAX_SI):
        raise BadParameterError(
            f"the serial interval's standard deviation must be a number above 0 and at most {MAX_SI:,.0f}, got {sd!r}",
            fields="serial_interval",
        )


@dataclass(frozen=True, eq=False)
class SerialInterval:
    """A serial interval: given as probabilities per tick (a file's ``day,probability``), or as a gamma
    (``gamma:MEAN,SD``) discretised over the curve's ticks when R is estimated.

    Attributes:
        source: what it came from: ``gamma:MEAN,SD`` or the file's name.
        probabilities: ``w_k`` for k = 0, 1, ...; None for a gamma until :meth:`over` gives its ticks.
        gamma: (mean, sd) of a gamma serial interval, else None.
    """

    source: str
    probabilities: np.ndarray | None = None
    gamma: tuple[float, float] | None = None

    def over(self, ticks: int, days: int = 1) -> np.ndarray:
        """The probabilities used for a curve of ``ticks`` ticks: a file's as given, a gamma's discretised over
        ticks ``0..ticks-1`` (EpiEstim's ``discr_si(seq(0, T - 1), mean_si, std_si)``). ``days``: a tick's days
        when the curve counts several days a tick (weekly counts: 7); the daily probabilities (a gamma's over days
        ``0 .. ticks * days - 1``) are then spread over ticks by :func:`aggregate_days`."""
        if days == 1:
            if self.probabilities is not None:
                return self.probabilities
            assert self.gamma is not None
            return discretised_gamma(np.arange(ticks), *self.gamma)
        daily = self.probabilities
        if daily is None:
            assert self.gamma is not None
            daily = discretised_gamma(np.arange(ticks * days), *self.gamma)
        return aggregate_days(daily, days)

    def daily_moments(self) -> tuple[float, float]:
        """The mean and standard deviation of the serial interval in days, as given (a gamma's own; a file's
        probabilities')."""
        if self.gamma is not None:
            return self.gamma
        assert self.probabilities is not None
        k = np.arange(self.probabilities.size)
        mean = float(np.dot(self.probabilities, k))
        return mean, math.sqrt(max(0.0, float(np.dot(self.probabilities, k * k)) - mean * mean))


def aggregate_days(daily: np.ndarray, days: int) -> np.ndarray:
    """A serial interval over days as one over ticks of ``days`` days (weekly counts: 7).

    A case's infector falls on any day of its tick alike (each tick's cases spread evenly over its days, the
    assumption that aggregating a renewal process to ticks makes exact): an interval of ``d`` days then joins
    ticks ``k`` apart with probability ``max(0, 1 - |d - days * k| / days)``, so

        ``w_k = sum_d p_d * max(0, 1 - |d - days * k| / days)``,

    each day's probability split between ticks ``d // days`` and ``d // days + 1`` in proportion to how far
    ``d`` lies from each. The probabilities keep their sum and their mean divided by ``days`` (the tent
    functions sum to 1 and reproduce a line), and ``w_0`` is above 0: a case infected within its infector's week
    counts in that week's infectivity (``Lambda_t`` includes ``w_0 I_t``). With ``days = 1`` it is ``daily``."""
    p = np.asarray(daily, dtype=np.float64).reshape(-1)
    d = np.arange(p.size)
    low = d // days
    part = (d - low * days) / days  # how far day d lies past tick low's start, in ticks
    size = int(low[-1]) + 2 if p.size else 1
    w = np.bincount(low, weights=p * (1.0 - part), minlength=size)
    w += np.bincount(low + 1, weights=p * part, minlength=size)
    return w


def gamma_serial_interval(mean: float, sd: float) -> SerialInterval:
    """A gamma serial interval of ``mean`` and ``sd`` (EpiEstim's ``parametric_si``).

    Raises:
        BadParameterError: ``mean <= 1`` or ``sd <= 0``.
    """
    check_gamma(mean, sd)
    return SerialInterval(source=f"gamma:{mean:.10g},{sd:.10g}", gamma=(float(mean), float(sd)))


def parse_gamma(text: str) -> SerialInterval:
    """``gamma:MEAN,SD`` as a serial interval.

    Raises:
        BadParameterError: not two numbers after ``gamma:``, or a gamma EpiEstim refuses.
    """
    body = text.partition(":")[2]
    parts = body.split(",")
    numbers = [ascii_float(p) for p in parts] if len(parts) == 2 else []
    if len(numbers) != 2 or None in numbers:
        raise BadParameterError(
            f"serial interval {text[:60]!r} is not gamma:MEAN,SD: give two numbers in ASCII digits, e.g. gamma:2.6,1.5",
            fields="serial_interval",
        )
    mean, sd = numbers
    assert mean is not None and sd is not None
    return gamma_serial_interval(mean, sd)


def serial_interval_table(days: np.ndarray, probabilities: np.ndarray, source: str) -> SerialInterval:
    """A serial interval from rows of (day, probability): days are whole numbers from 0, each at most once (a day
    not given has probability 0).

    Raises:
        BadParameterError: a day that is not a whole number from 0 or is given twice, a probability that is
            negative or not a number, a probability above 0 at day 0, or a sum further than 0.01 from 1.
    """
    days = np.asarray(days, dtype=np.float64).reshape(-1)
    probabilities = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    if days.size != probabilities.size or days.size == 0:
        raise BadParameterError(f"serial interval {source} has no rows of day,probability: give at least one")
    if not np.all(np.isfinite(days)) or np.any(days < 0) or np.any(days != np.floor(days)):
        raise BadParameterError(f"serial interval {source} has a day that is not a whole number from 0")
    if days.max() > 1_000_000:
        raise BadParameterError(f"serial interval {source} has a day above 1,000,000: give days as whole ticks")
    index = days.astype(np.int64)
    if np.unique(index).size != index.size:
        raise BadParameterError(f"serial interval {source} gives a day twice: give each day once")
    w = np.zeros(int(index.max()) + 1)
    w[index] = probabilities
    return SerialInterval(source=source, probabilities=checked_probabilities(w, source))


def checked_probabilities(w: np.ndarray | Sequence[float], source: str = "(given)") -> np.ndarray:
    """``w`` as a read-only float64 array, after EpiEstim's checks on a serial interval (``check_si_distr``).

    Raises:
        BadParameterError: a probability that is negative or not a number, one above 0 at tick 0, or a sum
            further than 0.01 from 1.
    """
    w = np.array(w, dtype=np.float64).reshape(-1)
    if w.size == 0:
        raise BadParameterError(f"serial interval {source} is empty: give probabilities for days 0, 1, ...")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise BadParameterError(f"serial interval {source} has a probability that is negative or not a number")
    if w[0] != 0:
        raise BadParameterError(
            f"serial interval {source} gives day 0 a probability of {w[0]:g}: a case cannot infect another on the "
            "day it arises, so give day 0 probability 0 (as EpiEstim requires)"
        )
    total = float(w.sum())
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise BadParameterError(
            f"serial interval {source} sums to {total:.6g}, not 1: its probabilities must sum to 1 (within "
            f"{SUM_TOLERANCE})"
        )
    w.setflags(write=False)
    return w


def checked_counts(values: np.ndarray | Sequence[float], what: str) -> np.ndarray:
    """``values`` as a float64 array of counts per tick.

    Raises:
        BadParameterError: a count that is negative or not a number (the sentence names the first one's tick).
    """
    counts = np.array(values, dtype=np.float64).reshape(-1)
    bad = ~np.isfinite(counts) | (counts < 0) | (counts > MAX_COUNT)
    if bad.any():
        tick = int(np.flatnonzero(bad)[0])
        raise BadParameterError(
            f"{what} has a count at tick {tick} that is negative, above {MAX_COUNT:.0e} or not a number "
            f"({counts[tick]!r}): give counts of cases, 0 or more"
        )
    return counts


@dataclass(frozen=True, eq=False)
class RtEstimate:
    """R's posterior over each sliding window of a curve.

    Per-window arrays (one entry per window, first to last): ``start``, ``end`` (ticks, from 0), ``cases`` (local
    cases in the window), ``infectivity`` (the sum of Lambda over the window), ``shape`` and ``scale`` (the
    Gamma posterior), ``mean``, ``sd`` and ``quantiles`` (by :data:`QUANTILE_NAMES`, ``median`` included).

    Attributes:
        labels: each tick's name as the curve's file numbers it (a window is named by its last tick's).
        local, imported: the cases per tick.
        serial_interval: what was asked; ``si`` the probabilities used (a gamma's discretised over the curve).
        window, prior_mean, prior_sd: as given.
        dropped: the windows left out at the start because they end before the serial interval's mean.
        source: where the curve came from (a file's path, or ''); ``cases_name``/``imported_name``: its columns.
        tick_seconds: how long a tick is (``None`` when unknown).
        tick_days: the days a tick counts when the serial interval (in days) was spread over ticks of several
            days (:func:`aggregate_days`), else 1.
        reading: how the curve's file was read (its time column, rows and ticks), or ''.
    """

    labels: list[str]
    local: np.ndarray
    imported: np.ndarray
    serial_interval: SerialInterval
    si: np.ndarray
    window: int
    prior_mean: float
    prior_sd: float
    start: np.ndarray
    end: np.ndarray
    cases: np.ndarray
    infectivity: np.ndarray
    shape: np.ndarray
    scale: np.ndarray
    dropped: int
    source: str = ""
    cases_name: str = "cases"
    imported_name: str | None = None
    tick_seconds: float | None = None
    tick_days: int = 1
    reading: str = ""
    _summary: dict[str, np.ndarray] = field(default_factory=dict, init=False, repr=False)

    @property
    def mean(self) -> np.ndarray:
        """The posterior mean of R per window (shape times scale)."""
        return self.shape * self.scale

    @property
    def sd(self) -> np.ndarray:
        """The posterior standard deviation of R per window (square root of the shape, times the scale)."""
        return np.sqrt(self.shape) * self.scale

    @property
    def quantiles(self) -> dict[str, np.ndarray]:
        """R's posterior quantiles per window, by name (``q025`` ... ``median`` ... ``q975``)."""
        if not self._summary:
            for name, q in zip(QUANTILE_NAMES, QUANTILES):  # scipy.stats.gamma.ppf(q, shape, scale=scale)
                self._summary[name] = np.asarray(special.gammaincinv(self.shape, q), dtype=np.float64) * self.scale
        return dict(self._summary)

    @property
    def days(self) -> list[str]:
        """Each window's name: its last tick's label."""
        return [self.labels[int(e)] for e in self.end]

    @property
    def si_mean(self) -> float:
        """The mean of the serial interval used, in ticks (EpiEstim's ``SI.Moments``)."""
        return float(np.dot(self.si, np.arange(self.si.size)))

    @property
    def si_sd(self) -> float:
        """Its standard deviation, in ticks."""
        k = np.arange(self.si.size)
        return float(math.sqrt(max(0.0, float(np.dot(self.si, k * k)) - self.si_mean**2)))

    def below_one_from(self) -> str | None:
        """The first window (by its last day) whose 95 % upper bound is below 1, or None."""
        hit = np.flatnonzero(self.quantiles["q975"] < 1.0)
        return self.days[int(hit[0])] if hit.size else None

    def notes(self) -> list[str]:
        """What a reader should know about these estimates (EpiEstim's warning on the first window)."""
        out = []
        need = math.ceil(1.0 / CV_POSTERIOR**2 - (self.prior_mean / self.prior_sd) ** 2)
        if self.end.size and float((self.local + self.imported)[self.start[0] : self.end[0] + 1].sum()) < need:
            out.append(
                f"the first window holds fewer than {need} cases, too few for a posterior coefficient of "
                f"variation of {CV_POSTERIOR} (EpiEstim warns so too): its estimate leans on the prior"
            )
        if self.tick_days > 1:
            mean, sd = self.serial_interval.daily_moments()
            out.append(
                f"the serial interval (mean {mean:.2f} days, sd {sd:.2f}) is spread over ticks of {self.tick_days} "
                f"days, each tick's cases taken as spread evenly over its days: mean {self.si_mean:.2f} ticks, "
                f"{self.si[0]:.0%} of it within the same tick"
            )
        if self.dropped:
            unit = tick_unit(self.tick_seconds) + "s"
            out.append(
                f"{self.dropped} earlier window(s) end before the serial interval's mean ({self.si_mean:.2f} {unit}) "
                "and are left out, as EpiEstim does"
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        """The estimate as JSON: the curve, the serial interval, the prior and one row per window."""
        q = self.quantiles
        windows = []
        days = self.days
        mean, sd = self.mean, self.sd  # once: each is an array over every window (per row, a 330,000-tick series
        # made 330,000 of them, 160 s)
        for i in range(self.end.size):  # one row per window of output: the JSON is as long as the curve
            row: dict[str, Any] = {
                "day": days[i],
                "from": self.labels[int(self.start[i])],
                "tick_start": int(self.start[i]),
                "tick_end": int(self.end[i]),
                "cases": float(self.cases[i]),
                "infectivity": float(self.infectivity[i]),
                "shape": float(self.shape[i]),
                "scale": float(self.scale[i]),
                "mean": float(mean[i]),
                "sd": float(sd[i]),
            }
            row.update({name: float(q[name][i]) for name in QUANTILE_NAMES})
            row["ci95"] = [row["q025"], row["q975"]]
            windows.append(row)
        a0 = (self.prior_mean / self.prior_sd) ** 2
        days_mean, days_sd = self.serial_interval.daily_moments() if self.tick_days > 1 else (None, None)
        return {
            "source": self.source,
            "reading": self.reading,
            "unit": tick_unit(self.tick_seconds),
            "tick_days": self.tick_days,
            "ticks": len(self.labels),
            "first": self.labels[0] if self.labels else None,
            "last": self.labels[-1] if self.labels else None,
            "tick_seconds": self.tick_seconds,
            "cases_column": self.cases_name,
            "imported_column": self.imported_name,
            "local_cases": float(self.local.sum()),
            "imported_cases": float(self.imported.sum()),
            "serial_interval": {
                "source": self.serial_interval.source,
                "gamma": None if self.serial_interval.gamma is None else list(self.serial_interval.gamma),
                "mean": self.si_mean,
                "sd": self.si_sd,
                "mean_days": days_mean,
                "sd_days": days_sd,
                "probabilities": [float(x) for x in self.si],
            },
            "prior": {
                "mean": self.prior_mean,
                "sd": self.prior_sd,
                "shape": a0,
                "scale": self.prior_sd**2 / self.prior_mean,
            },
            "window": self.window,
            "dropped": self.dropped,
            "below_one_from": self.below_one_from(),
            "notes": self.notes(),
            "windows": windows,
        }

    def plot(self, output: str, title: str | None = None) -> str:
        """Draw the curve (local and imported cases per tick) above R's posterior mean and 95 % band, each at its
        window's last tick, with R = 1 marked; ``.png``, ``.svg`` or ``.pdf``. Returns ``output``."""
        from sim.analysis.rtplot import plot_estimate  # noqa: PLC0415  (matplotlib only when drawing)

        plot_estimate(self, output, title)
        return output


def estimate_rt(
    local: np.ndarray | Sequence[float],
    serial_interval: SerialInterval,
    *,
    imported: np.ndarray | Sequence[float] | None = None,
    window: int = WINDOW,
    prior_mean: float = PRIOR_MEAN,
    prior_sd: float = PRIOR_SD,
    labels: Sequence[str] | None = None,
    tick_days: int = 1,
) -> RtEstimate:
    """R's Gamma posterior over every window of ``window`` ticks of a curve (Cori et al. 2013; EpiEstim's defaults).

    Args:
        local: cases per tick that arose locally (tick 0 first); a curve without imports gives all its cases here.
        serial_interval: probabilities per tick, or a gamma discretised over the curve.
        imported: cases per tick that came from elsewhere: they infect but were not infected here (default none).
        window: ticks per window (EpiEstim's default 7).
        prior_mean, prior_sd: R's Gamma prior (default 5 and 5, EpiEstim's).
        labels: each tick's name as its file numbers it (default ``0, 1, ...``).
        tick_days: the days one tick counts, when the serial interval is given in days and the curve counts
            several days a tick (weekly counts: 7; :func:`aggregate_days`); 1: the serial interval is in ticks.

    Returns:
        The estimate; fields other than those given are set by :meth:`RtEstimate.to_dict`'s caller.

    Raises:
        BadParameterError: a negative count, imported cases of another length, a window below 1 or longer than the
            curve allows (``T - 1`` ticks), a prior that is not positive, labels of another length.
    """
    local = checked_counts(local, "the curve")
    ticks = local.size
    imported = np.zeros(ticks) if imported is None else checked_counts(imported, "the imported cases")
    if imported.size != ticks:
        raise BadParameterError(
            f"the imported cases cover {imported.size} ticks and the curve {ticks}: give both alike"
        )
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise BadParameterError(f"window must be a whole number of ticks, 1 or more, got {window!r}", fields="window")
    window = int(window)
    if window > ticks - 1:
        raise BadParameterError(
            f"window of {window} ticks is longer than the curve allows: a curve of {ticks} ticks has windows of at "
            f"most {max(ticks - 1, 0)} (its first tick starts no window), so give a shorter window or a longer curve",
            fields="window",
        )
    for name, v in (("prior_mean", prior_mean), ("prior_sd", prior_sd)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise BadParameterError(f"{name} (R's Gamma prior) must be a number above 0, got {v!r}", fields=name)
    ratio = prior_mean / prior_sd  # products, not powers: a float's ** raises OverflowError past 1e308
    a0, b0 = ratio * ratio, prior_sd * (prior_sd / prior_mean)
    if not (PRIOR_RANGE[0] <= a0 <= PRIOR_RANGE[1] and PRIOR_RANGE[0] <= b0 <= PRIOR_RANGE[1]):
        raise BadParameterError(
            f"R's Gamma prior of mean {prior_mean:g} and sd {prior_sd:g} has a shape (mean/sd)^2 or a scale "
            f"(sd^2/mean) outside {PRIOR_RANGE[0]:g} to {PRIOR_RANGE[1]:g}, more than a float can hold in its "
            "posterior: give a mean and sd nearer each other",
            fields="prior_sd",
        )
    names = [str(t) for t in range(ticks)] if labels is None else [str(x) for x in labels]
    if len(names) != ticks:
        raise BadParameterError(f"{len(names)} labels for a curve of {ticks} ticks: give one per tick")
    w = serial_interval.over(ticks, tick_days)
    si_mean = float(np.dot(w, np.arange(w.size)))
    start, end, cases, infectivity = window_sums(local, imported, w, window)
    keep = end + 1 > si_mean  # EpiEstim: t_end (counted from 1) > mean_si
    return RtEstimate(
        labels=names,
        local=local,
        imported=imported,
        serial_interval=serial_interval,
        si=w,
        window=window,
        prior_mean=float(prior_mean),
        prior_sd=float(prior_sd),
        start=start[keep],
        end=end[keep],
        cases=cases[keep],
        infectivity=infectivity[keep],
        shape=a0 + cases[keep],
        scale=1.0 / (1.0 / b0 + infectivity[keep]),
        dropped=int((~keep).sum()),
        tick_days=tick_days,
    )


def week_window(days: int) -> int:
    """EpiEstim's window of a week (:data:`WINDOW` days) in ticks of ``days`` days: 7 of a daily curve, 1 of a
    weekly one (at least one tick; ticks of 2 days: 3)."""
    return max(1, WINDOW // max(1, int(days)))


def window_sums(
    local: np.ndarray, imported: np.ndarray, w: np.ndarray, window: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every window's first and last tick, its local cases and its summed infectivity, without a loop over windows.

    Window j covers ticks ``1 + j .. window + j`` (EpiEstim's ``t_start = 2:(T - window + 1)`` counted from 1).
    The infectivity's window sums are the serial interval convolved with the window sums of all cases:
    ``sum_{t=s}^{e} Lambda_t = sum_{k>=1} w_k J_{e-k}`` with ``J_j = sum_{t=j-window+1}^{j} I_t`` (``I = 0`` before
    tick 0), so whole counts are summed exactly and only the convolution rounds.
    """
    ticks = local.size
    end = np.arange(window, ticks, dtype=np.int64)
    start = end - window + 1
    local_cum = np.concatenate(([0.0], np.cumsum(local)))
    cases = local_cum[end + 1] - local_cum[start]
    total_cum = np.concatenate(([0.0], np.cumsum(local + imported)))
    j = np.arange(ticks)
    in_window = total_cum[j + 1] - total_cum[np.maximum(j - window + 1, 0)]
    kernel = np.asarray(w[:ticks], dtype=np.float64)
    nonzero = np.flatnonzero(kernel)
    kernel = kernel[: int(nonzero[-1]) + 1] if nonzero.size else kernel[:1]
    if ticks * kernel.size <= _DIRECT_LIMIT:
        lam = np.convolve(in_window, kernel)[:ticks]
    else:  # a long run's series: by FFT, clipped at 0 (rounding may leave -1e-13 where no case came before)
        size = 1 << int(ticks + kernel.size - 2).bit_length()
        lam = np.fft.irfft(np.fft.rfft(in_window, size) * np.fft.rfft(kernel, size), size)[:ticks]
        lam = np.maximum(lam, 0.0)
    return start, end, cases, lam[end]


def read_serial_interval(path: str) -> SerialInterval:
    """A serial interval file: CSV (``.csv`` or ``.csv.gz``) of ``day,probability`` rows, a header line optional,
    blank lines ignored; read within bounds (:mod:`sim.core.boundedio`: a regular file of at most 16 MiB of text).

    Raises:
        BadFileError: no such file, not a regular file, not UTF-8 CSV, past a bound, or a line that is not two
            numbers (naming the line, never its content).
        BadParameterError: as :func:`serial_interval_table`.
    """
    give = "a CSV file of day,probability rows (a header line is optional)"
    what = "serial interval file"
    try:
        raw = read_bounded(path, what, give, gz=path.lower().endswith(".gz"), bounds=_SI_BOUNDS)
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadFileError(f"{what} {path} is not UTF-8 text: give {give}") from None
    except GZIP_ERRORS:
        raise BadFileError(f"{what} {path} is not a complete gzip file: give {give}") from None
    numbered = [(i + 1, line) for i, line in enumerate(text.splitlines()) if line.strip()]
    if numbered and not _number(next(csv.reader([numbered[0][1]]), [""])[0]):
        numbered = numbered[1:]  # a header line
    if not numbered:
        raise BadFileError(f"{what} {path} has no rows: give {give}")
    table = np.empty((len(numbered), 2), dtype=np.float64)
    for i, ((line, _), row) in enumerate(zip(numbered, csv.reader(line for _, line in numbered))):
        pair = [ascii_float(c, special=True) for c in row] if len(row) == 2 else [None]
        if None in pair:
            raise BadFileError(
                f"{what} {path} line {line} is not two numbers day,probability (in ASCII digits): give {give}"
            )
        table[i] = pair
    return serial_interval_table(table[:, 0], table[:, 1], os.path.basename(path) or path)


def _number(cell: str) -> bool:
    return ascii_float(cell, special=True) is not None
