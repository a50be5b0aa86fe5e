"""The observation model of a fit: what surveillance sees of a simulated series, before it is compared with data.

Surveillance counts cases incompletely and late. A fit can say so with a **reporting fraction** ``report``
(``--param report=0.4`` fixes it, ``--param report=0.2..1`` fits it like any parameter: it is not a model
parameter, so the fit's priors carry it and the :class:`~sim.runs.fit.simulate.Simulator` splits it off the
model's) and a **reporting delay** (``--delay FILE`` of ``day,probability`` rows, or ``--delay gamma:MEAN,SD``).

Applied to each simulated run, per observed column, before the summaries see it:

1. **Thinning**: ``reported[t] ~ Binomial(true[t], report)``, independently per tick.
2. **Delay**: each reported case of tick ``t`` is seen at ``t + d``, ``d`` drawn from the delay distribution
   ``p(d)``: the cases of a tick split as ``Multinomial(reported[t], p)`` (one draw per tick, all ticks at once).
3. **Truncation**: a case seen at or after the horizon (the runs' last tick + 1) is never seen.

So ``E[observed[t]] = report * sum_d p(d) * true[t - d]``; given the true series, the observed counts of a tick
are a sum of independent binomials (a Poisson-binomial), each case seen at ``t`` with probability
``report * p(t - s)`` from tick ``s``: variance ``sum_s true[s] * q_s (1 - q_s)``, ``q_s = report * p(t - s)``.

It applies to per-tick counts only (``new``, ``new.STATE``, ``onsets``, ``removals``): a count of events can be
thinned and delayed, a state (a prevalence such as ``I``), ``reached`` (a running total) or a variable's moment
cannot, and a fit that observes one with a reporting fraction or delay is refused. Each observed column is
thinned and delayed on its own draws.

The draws come from the run's session seed (:data:`STREAM` apart from the model's), so the same fit seed gives
the same posterior whatever the workers, as without an observation model.

**A gamma delay, discretised**: the delay in whole days is the continuous gamma delay (shape ``(MEAN/SD)^2``,
scale ``SD^2/MEAN``, ``F`` its CDF) rounded to the nearest day: ``p(0) = F(1/2)``, ``p(d) = F(d + 1/2) -
F(d - 1/2)`` for ``d = 1 .. D``, ``D`` the first day with ``F(D + 1/2) >= 1 - 1e-6``; the rest of the tail (below
1e-6) is added to day ``D``, so the probabilities sum to 1 (their mean is close to MEAN: 2.002 for
``gamma:2,1``, 3.000 for ``gamma:3,1.5``; further off for a delay mostly under a day, 0.425 for ``gamma:0.5,0.5``).
A day is one tick of the observed series.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from sim.core.boundedio import Bounds, bounded_text
from sim.core.numbers import ascii_float, ascii_int
from sim.engine.requests.fit import gamma_parts
from sim.errors import BadFileError, BadParameterError
from sim.model.series import is_tick_count
from sim.runs.reports import RunEntry

#: The fraction of the default channel, the one every observed count column without a channel of its own is seen
#: through (with ``--delay``), among a fit's parameters (``--param report=...``); a channel's fraction has the
#: name its ``--channel`` gives.
REPORT = "report"
#: The longest delay, in days (ticks).
MAX_DELAY = 1000
#: How far from 1 a delay file's probabilities may sum (rounding of printed values).
SUM_TOLERANCE = 1e-6
#: The gamma tail left to the last day of a discretised gamma delay.
GAMMA_TAIL = 1e-6
#: A gamma delay whose standard deviation is below this fraction of its mean is a delay of exactly its mean.
POINT_CV = 1e-7
#: The stream of a run's observation draws (apart from the model's own): ``default_rng([STREAM, run seed])``.
STREAM = 0x0B5E
_GIVE = "a CSV file of day,probability rows (day 0, 1, ...: the delay in ticks; probabilities that sum to 1)"


@dataclass(frozen=True)
class Delay:
    """A reporting delay: ``probabilities[d]`` is the probability that a case is seen ``d`` days (ticks) after it
    happened; they sum to 1 (a tuple: the value is hashable, as a Ray worker's key). ``source``: how it was given
    (``gamma:MEAN,SD`` or the file)."""

    probabilities: tuple[float, ...]
    source: str

    @property
    def pmf(self) -> np.ndarray:
        """The probabilities as an array."""
        return np.asarray(self.probabilities, dtype=np.float64)

    @property
    def mean(self) -> float:
        return float(np.arange(self.pmf.size) @ self.pmf)

    def to_dict(self) -> dict[str, object]:
        return {"source": self.source, "days": int(self.pmf.size), "mean": round(self.mean, 6)}


def gamma_delay(mean: float, sd: float) -> Delay:
    """The gamma delay of ``mean`` and ``sd`` days, discretised as the module says.

    Raises:
        BadParameterError: a delay whose tail reaches past :data:`MAX_DELAY` days.
    """
    from scipy.special import gammainc  # noqa: PLC0415 - scipy loads only for a fit

    # F(d + 1/2) for d = -1 .. MAX_DELAY (F(-1/2) = 0): day d holds the delays that round to it.
    edges = np.concatenate([[0.0], np.arange(MAX_DELAY + 1, dtype=np.float64) + 0.5])
    cv = sd / mean
    if cv < POINT_CV:  # the limit, a delay of exactly mean days (its shape would overflow a float)
        cdf = (edges >= mean).astype(np.float64)
    else:
        with np.errstate(all="ignore"):
            shape, scale = 1.0 / (cv * cv), sd * cv
            cdf = gammainc(shape, edges / scale)
        if not (shape > 0 and math.isfinite(scale) and np.all(np.isfinite(cdf))):
            raise BadParameterError(
                f"delay gamma:{mean:g},{sd:g} has a standard deviation too large beside its mean to be discretised: "
                "give a day,probability file",
                fields="delay",
            )
    ends = np.flatnonzero(cdf[1:] >= 1.0 - GAMMA_TAIL)
    if not ends.size:
        raise BadParameterError(
            f"delay gamma:{mean:g},{sd:g} reaches past {MAX_DELAY} days: give a shorter delay", fields="delay"
        )
    last = int(ends[0])
    pmf = np.diff(cdf[: last + 2])
    pmf[-1] += 1.0 - cdf[last + 1]
    return Delay(tuple((pmf / pmf.sum()).tolist()), f"gamma:{mean:g},{sd:g}")


def read_delay(path: str) -> Delay:
    """A delay file: a header ``day,probability``, then one row per day (whole days from 0 to :data:`MAX_DELAY`,
    each once, in any order; a day not listed has probability 0), probabilities from 0 to 1 summing to 1.

    Raises:
        BadFileError: an unreadable file, another header, a bad row (named by its line), or probabilities that do
            not sum to 1 (within :data:`SUM_TOLERANCE`).
    """
    gz = path.lower().endswith(".gz")
    days: dict[int, float] = {}
    bad = BadFileError
    try:
        with bounded_text(path, "delay file", _GIVE, gz=gz, bounds=Bounds(rows=MAX_DELAY + 2)) as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None or [h.strip().lower() for h in header] != ["day", "probability"]:
                raise bad(f"delay file {path} line 1: the header must be day,probability")
            start = reader.line_num
            for row in reader:
                line, start = start + 1, reader.line_num
                if not row:
                    continue
                days.update([_delay_row(path, line, row, days)])
    except UnicodeDecodeError:
        raise bad(f"delay file {path} is not UTF-8 text: give {_GIVE}") from None
    if not days:
        raise bad(f"delay file {path} has a header but no rows: give {_GIVE}")
    pmf = np.zeros(max(days) + 1, dtype=np.float64)
    pmf[list(days)] = list(days.values())
    total = float(math.fsum(days.values()))
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise bad(
            f"delay file {path}: its probabilities sum to {total:.6g}, not 1: give a distribution (probabilities "
            "that sum to 1)"
        )
    return Delay(tuple((pmf / pmf.sum()).tolist()), f"file {path}")


def _delay_row(path: str, line: int, row: list[str], seen: Mapping[int, float]) -> tuple[int, float]:
    """One checked ``day,probability`` row."""
    where = f"delay file {path} line {line}"
    if len(row) != 2:
        raise BadFileError(f"{where}: give two cells, day,probability")
    day = ascii_int(row[0])
    if day is None:
        raise BadFileError(f"{where}: the day is not a whole number (in ASCII digits)")
    if not 0 <= day <= MAX_DELAY:
        raise BadFileError(f"{where}: day {day} is outside 0 .. {MAX_DELAY}")
    if day in seen:
        raise BadFileError(f"{where}: day {day} is listed twice: give each day once")
    p = ascii_float(row[1], special=True)
    if p is None:
        raise BadFileError(f"{where}: the probability is not a number (in ASCII digits)")
    if not 0.0 <= p <= 1.0:  # NaN fails too
        raise BadFileError(f"{where}: the probability must be from 0 to 1")
    return day, p


def parse_delay(text: str) -> Delay:
    """``gamma:MEAN,SD`` or a ``day,probability`` file's path.

    Raises:
        BadParameterError / BadFileError: see :func:`gamma_delay` and :func:`read_delay`.
    """
    if text.startswith("gamma:"):
        return gamma_delay(*gamma_parts(text))
    return read_delay(text)


# -- the draws --------------------------------------------------------------------------------------------------


def thin(counts: np.ndarray, report: float, rng: np.random.Generator) -> np.ndarray:
    """``Binomial(counts[t], report)`` for every tick at once (int64)."""
    n = np.asarray(counts, dtype=np.int64)
    if report >= 1.0:
        return n.copy()
    return rng.binomial(n, report).astype(np.int64)


def scaled(counts: np.ndarray, scale: float, rng: np.random.Generator) -> np.ndarray:
    """Each agent's count as ``scale`` people's (a world that stands for a larger population): ``scale * counts``
    rounded down or up at random so that its mean is exact (int64). Each agent's people fall ill together: the
    variance of the true count is ``scale`` times what so many independent people would give (docs/fitting.md)."""
    x = np.asarray(counts, dtype=np.float64) * scale
    low = np.floor(x)
    return (low + (rng.random(x.size) < (x - low))).astype(np.int64)


def delayed(counts: np.ndarray, pmf: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The cases of each tick spread over the ticks they are seen at, ``Multinomial(counts[t], pmf)`` a tick (all
    ticks in one call), those seen at or after ``len(counts)`` dropped (int64, ``len(counts)``)."""
    n = np.asarray(counts, dtype=np.int64)
    if pmf.size == 1 or not n.size:
        return n.copy()
    split = rng.multinomial(n, pmf)  # (ticks, days)
    seen_at = np.arange(n.size)[:, None] + np.arange(pmf.size)[None, :]
    inside = seen_at < n.size
    return np.bincount(seen_at[inside], weights=split[inside], minlength=n.size).astype(np.int64)


def expected(counts: np.ndarray, report: float, pmf: np.ndarray) -> np.ndarray:
    """``E[observed]``: ``report`` times the convolution of ``counts`` with ``pmf``, truncated at the horizon."""
    n = np.asarray(counts, dtype=np.float64)
    return report * np.convolve(n, pmf)[: n.size]


# -- applied to a fit's runs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Channel:
    """Observed columns seen through one reporting fraction (``fraction``, a parameter of that name: fixed at
    ``fixed``, or the particle's at column ``fitted`` of its row; neither: every case is seen) and one delay
    (issue 74). ``column``: the column it sees; ``""`` for the default channel, which sees every observed count
    column that no channel of its own names, through :data:`REPORT` and ``--delay``."""

    column: str
    fraction: str
    fixed: float | None
    fitted: int | None
    delay: Delay | None

    def reporting(self, row: np.ndarray) -> float:
        return float(row[self.fitted]) if self.fitted is not None else float(self.fixed or 1.0)

    def to_dict(self) -> dict[str, object]:
        return {
            "column": self.column,
            "fraction": self.fraction,
            "value": "fitted" if self.fitted is not None else self.fixed,
            "delay": None if self.delay is None else self.delay.to_dict(),
        }


@dataclass(frozen=True)
class Observation:
    """The observation model of one fit: its ``default`` channel (the columns no channel of their own names) and
    its ``channels``, over the observed ``columns`` and the ``horizon`` (ticks 0 .. horizon - 1); ``scale``: the
    people each agent stands for."""

    default: Channel
    columns: tuple[str, ...]
    horizon: int
    scale: float = 1.0
    channels: tuple[Channel, ...] = ()

    @property
    def report(self) -> float | None:
        """The default channel's fraction where fixed (None: fitted, or every case seen)."""
        return self.default.fixed

    @property
    def fitted(self) -> int | None:
        """The column of a particle's row holding the default channel's fraction, where it is fitted."""
        return self.default.fitted

    @property
    def delay(self) -> Delay | None:
        """The default channel's delay."""
        return self.default.delay

    def to_dict(self) -> dict[str, object]:
        """What a fit's report says of it (``observed.observation``)."""
        out: dict[str, object] = {
            "report": "fitted" if self.fitted is not None else (1.0 if self.report is None else self.report),
            "delay": None if self.delay is None else self.delay.to_dict(),
            "columns": list(self.columns),
            "scale": self.scale,
        }
        if self.channels:
            out["channels"] = [c.to_dict() for c in self.channels]
        return out

    def fixed_fractions(self) -> dict[str, float]:
        """The default channel's fraction where it is fixed, by its name (a fit shows it among its fixed values)."""
        return {} if self.default.fixed is None else {self.default.fraction: self.default.fixed}

    def channel_of(self, column: str) -> Channel:
        """The channel that sees ``column``: its own, or the default one."""
        return next((c for c in self.channels if c.column == column), self.default)

    def seen(self, column: str, row: np.ndarray) -> tuple[float, Delay | None]:
        """The reporting fraction and delay the particle ``row`` sees ``column`` through."""
        channel = self.channel_of(column)
        return channel.reporting(row), channel.delay

    def reporting(self, row: np.ndarray) -> float:
        """The particle ``row``'s reporting fraction of the default channel."""
        return self.default.reporting(row)

    def apply(self, runs: list[RunEntry], row: np.ndarray, seeds: Sequence[int]) -> list[RunEntry]:
        """``runs`` of the particle ``row`` with each observed column of their series replaced by what surveillance
        sees of it (a run's draws from its session seed ``seeds[j]``); failed runs as they are."""
        out: list[RunEntry] = []
        seen = {c: self.seen(c, row) for c in self.columns}
        pmfs = {c: None if d is None else d.pmf for c, (_, d) in seen.items()}
        for run, seed in zip(runs, seeds, strict=True):
            series = run.get("series")
            if run.get("status") == "failed" or not series:
                out.append(run)
                continue
            rng = np.random.default_rng([STREAM, int(seed)])
            shown = dict(series)
            for c in self.columns:
                true = np.zeros(self.horizon, dtype=np.int64)
                values = np.asarray(series[c][: self.horizon], dtype=np.int64)
                true[: values.size] = values
                if self.scale != 1.0:
                    true = scaled(true, self.scale, rng)
                got = thin(true, seen[c][0], rng)
                pmf = pmfs[c]
                shown[c] = (got if pmf is None else delayed(got, pmf, rng)).tolist()
            out.append({**run, "series": shown})
        return out


def observation_for(
    model: str,
    schema: Mapping[str, object],
    names: Sequence[str],
    fixed: Mapping[str, str],
    delay: Delay | None,
    columns: Sequence[str],
    horizon: int,
    scale: float = 1.0,
    channels: Sequence[tuple[str, str, Delay | None]] = (),
) -> Observation | None:
    """The observation model a fit asks for (None: none, the series compared as simulated): ``report`` among the
    fitted ``names`` or the ``fixed`` values, and the ``delay``; ``columns``: the observed series' columns;
    ``channels``: ``(column, fraction, delay)`` of the columns seen through a fraction and delay of their own.

    Raises:
        BadParameterError: a model with its own parameter ``report``; a fixed ``report`` that is not above 0 and at
            most 1; an observed column that is not a per-tick count.
    """
    rules = tuple(_channel(model, schema, names, fixed, columns, *c) for c in channels)
    asked = REPORT in names or REPORT in fixed
    if asked and REPORT in schema:
        raise BadParameterError(
            f"model {model!r} has its own parameter report, so params report cannot also be the observation "
            "model's reporting fraction: rename the model's parameter to fit both, or fit without a reporting "
            "fraction",
            fields="params",
        )
    default = Channel("", REPORT, *_resolved(REPORT, names, fixed), delay)
    if not asked and delay is None and not rules:
        return None if scale == 1.0 else Observation(default, tuple(columns), int(horizon), scale)
    others = [c for c in columns if not is_tick_count(c) and not _own(c, rules) and (asked or delay is not None)]
    if others:
        raise BadParameterError(
            f"the observation model (report, delay) thins and delays counts per tick (new, new.STATE, onsets, "
            f"removals), and the observed column {others[0]!r} is not one (a state, a running total or a "
            "variable): observe a count per tick, or fit without report and delay",
            fields=("params", "delay"),
        )
    return Observation(default, tuple(columns), int(horizon), scale, rules)


def asks_default(schema: Mapping[str, object], names: Sequence[str], fixed: Mapping[str, object]) -> bool:
    """Whether a fit's parameters give the default channel's fraction (:data:`REPORT`, fitted or fixed) where the
    model has no parameter of that name."""
    return REPORT not in schema and (REPORT in names or REPORT in fixed)


def fractions_of(channel_fractions: Sequence[str], schema: Mapping[str, object]) -> tuple[str, ...]:
    """The observation model's fractions among a fit's parameters: the default channel's (where the model has no
    parameter of its name) and each channel's."""
    return (*((REPORT,) if REPORT not in schema else ()), *channel_fractions)


def fraction_range_error(name: str, described: str) -> BadParameterError:
    """A fitted fraction's range past 0 .. 1, in one sentence (``described``: the prior as written)."""
    what = (
        "the reporting fraction report lies from 0 to 1"
        if name == REPORT
        else f"{name} is an observation channel's reporting fraction, from 0 to 1"
    )
    return BadParameterError(f"params {described}: {what}; keep the range within it", fields="params")


def _resolved(fraction: str, names: Sequence[str], fixed: Mapping[str, str]) -> tuple[float | None, int | None]:
    """A channel's fraction as a :class:`Channel` holds it: ``(fixed value, None)`` where it is fixed (checked),
    ``(None, column of a particle's row)`` where it is fitted, ``(None, None)`` where it is neither (every case
    seen: the default channel without ``report``)."""
    if fraction in names:
        return None, list(names).index(fraction)
    if fraction in fixed:
        return _fraction(fraction, fixed[fraction]), None
    return None, None


def _own(column: str, rules: Sequence[Channel]) -> bool:
    return any(r.column == column for r in rules)


def _fraction(name: str, text: str) -> float:
    """A fixed reporting fraction, checked: above 0 and at most 1."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 < value <= 1.0:  # NaN fails too
        raise BadParameterError(
            f"params {name}={str(text)[:30]} must be a fraction above 0 and at most 1 (the share of cases reported)",
            fields="params",
        )
    return value


def _channel(
    model: str,
    schema: Mapping[str, object],
    names: Sequence[str],
    fixed: Mapping[str, str],
    columns: Sequence[str],
    column: str,
    fraction: str,
    delay: Delay | None,
) -> Channel:
    """One observation channel, checked: an observed count per tick, seen through a fraction given among the params
    (fixed or fitted) that is no parameter of the model."""
    if column not in columns:
        raise BadParameterError(
            f"channel {column}: the observed series has no column {column!r}: its columns are {', '.join(columns)}",
            fields="channel",
        )
    if not is_tick_count(column):
        raise BadParameterError(
            f"channel {column}: a reporting fraction and delay thin and delay counts per tick (new, new.STATE, "
            f"onsets, removals), and {column} is not one",
            fields="channel",
        )
    if fraction in schema:
        raise BadParameterError(
            f"channel {column}'s fraction {fraction} is a parameter of model {model!r}: name the fraction otherwise",
            fields="channel",
        )
    if fraction in names or fraction in fixed:
        return Channel(column, fraction, *_resolved(fraction, names, fixed), delay)
    raise BadParameterError(
        f"channel {column}'s fraction {fraction} is neither fitted nor fixed: give params {fraction}=LO..HI to fit "
        f"it or {fraction}=VALUE",
        fields=("channel", "params"),
    )
