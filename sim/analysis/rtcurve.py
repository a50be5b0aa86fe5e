"""``sim.rt``: R over sliding windows of an epidemic curve (Cori et al. 2013, as EpiEstim computes it; the
mathematics is :mod:`sim.analysis.rt`), from a file, a DataFrame or an array of counts; ``agora rt`` calls it.
It lives beside the mathematics rather than in :mod:`sim.lab` so that ``agora rt`` loads no engine.

What it reads:

- **a curve** (``.csv``, ``.csv.gz``, ``.parquet`` or a pandas DataFrame) through
  :func:`sim.store.observed.read_recorded` (as ``agora fit`` reads an observation): a time column (whole days, ISO
  dates or timestamps; ``time`` names it) and count columns, or a line list (one row per case). Its cases are
  ``cases`` (a column), or the only count column; a curve with columns ``local`` and ``imported`` is read as
  EpiEstim reads one: imported cases infect (they count in the infectivity) but did not arise here (they are not in
  R's numerator); ``imported`` names another column of imported cases;
- **a run's series** (the ``run,tick,measure,value`` file of ``agora run --series``, or such a DataFrame): the
  measure ``cases`` (default ``new``, the entries per tick) of one run (``run``; default the only one);
- **counts**: a sequence or a numpy array of cases per tick, tick 0 first.

The serial interval is in days for a curve of days or of ticks of several days (weekly counts: it is spread
over the ticks by :func:`sim.analysis.rt.aggregate_days`, and the window is a week's, one tick), in ticks for a
run's series and for ticks shorter than a day: a file of ``day,probability`` rows, ``gamma:MEAN,SD``, a
:class:`sim.analysis.rt.SerialInterval`, or the probabilities themselves (tick 0 first).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeAlias, cast

import numpy as np

from sim.analysis.rt import (
    PRIOR_MEAN,
    PRIOR_SD,
    RtEstimate,
    SerialInterval,
    checked_probabilities,
    estimate_rt,
    parse_gamma,
    read_serial_interval,
    week_window,
)
from sim.core.boundedio import GZIP_ERRORS, bounded_text
from sim.errors import BadFileError, BadParameterError
from sim.model.imports import split_imported
from sim.store.observation import ObservedSeries
from sim.store.observed import read_recorded, recorded_header
from sim.store.seriesio import COLUMNS as SERIES_COLUMNS
from sim.store.seriesio import parquet_schema, read_series
from sim.store.timeline import CASES, DAY

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["RtEstimate", "SerialInterval", "rt", "serial_interval_of"]

#: What ``sim.rt`` reads: a file's path, a DataFrame, or counts per tick.
CurveLike: TypeAlias = "str | os.PathLike[str] | pd.DataFrame | np.ndarray | Sequence[float]"
#: A serial interval: a file's path, ``gamma:MEAN,SD``, a value, or probabilities per tick.
SerialIntervalLike: TypeAlias = "str | os.PathLike[str] | SerialInterval | np.ndarray | Sequence[float]"
#: The measure of a run's series read by default: the entries per tick.
SERIES_MEASURE = "new"


def serial_interval_of(spec: SerialIntervalLike) -> SerialInterval:
    """A serial interval from ``gamma:MEAN,SD``, a ``day,probability`` file's path, or probabilities per tick.

    Raises:
        BadParameterError: a gamma with mean <= 1 or sd <= 0; probabilities that are negative, not 0 at tick 0,
            or do not sum to 1 within 0.01. BadFileError: a file that cannot be read or is not day,probability.
    """
    if isinstance(spec, SerialInterval):
        return spec
    if isinstance(spec, (str, os.PathLike)):
        text = os.fspath(spec)
        if text.startswith("gamma:"):
            return parse_gamma(text)
        return read_serial_interval(text)
    try:
        values = np.asarray(spec, dtype=np.float64)
    except (TypeError, ValueError):
        raise BadParameterError(
            f"serial_interval is a {type(spec).__name__}: give gamma:MEAN,SD, a day,probability file or the "
            "probabilities per tick",
            fields="serial_interval",
        ) from None
    return SerialInterval(source="probabilities", probabilities=checked_probabilities(values, "(given)"))


def rt(
    source: CurveLike,
    serial_interval: SerialIntervalLike,
    *,
    window: int | None = None,
    prior_mean: float = PRIOR_MEAN,
    prior_sd: float = PRIOR_SD,
    cases: str | None = None,
    imported: str | None = None,
    run: int | None = None,
    time: str | None = None,
    tick: str | None = None,
) -> RtEstimate:
    """R's posterior over every window of ``window`` ticks of a curve (Cori et al. 2013, EpiEstim's defaults).

    Args:
        source: a curve or series file's path, a pandas DataFrame, or counts per tick (see the module).
        serial_interval: ``gamma:MEAN,SD``, a ``day,probability`` file, a SerialInterval or probabilities.
        window: ticks per window (default: a week's, 7 on a daily curve and on a run's series, 1 on a weekly
            curve); windows end at ticks ``window .. T-1``.
        prior_mean, prior_sd: R's Gamma prior (default 5 and 5, EpiEstim's).
        cases: the count column of a curve, or the measure of a series (default ``new``).
        imported: the column of imported cases (default ``imported`` beside ``local``, else none); ``COLUMN:included``
            where the cases column counts them too (they are taken out of it).
        run: the run of a series file that holds several.
        time, tick: the curve's time column and a tick's length (:func:`sim.store.timeline.read_incidence`).

    Returns:
        The estimate: ``.mean``, ``.sd``, ``.quantiles``, ``.days``; ``.to_dict()`` is ``agora rt --json``'s
        object and ``.plot(path)`` draws it.

    Raises:
        BadParameterError, BadFileError: one sentence naming the input and what to give instead (see
        :func:`sim.analysis.rt.estimate_rt` and :func:`serial_interval_of`).
    """
    si = serial_interval_of(serial_interval)
    curve = _curve(source, cases=cases, imported=imported, run=run, time=time, tick=tick)
    days = tick_days(curve.tick_seconds)
    if window is None:
        window = week_window(days)
    est = estimate_rt(
        curve.local,
        si,
        imported=curve.imported,
        window=window,
        prior_mean=prior_mean,
        prior_sd=prior_sd,
        labels=curve.labels,
        tick_days=days,
    )
    return dataclasses.replace(
        est,
        source=curve.source,
        cases_name=curve.cases_name,
        imported_name=curve.imported_name,
        tick_seconds=curve.tick_seconds,
        reading=curve.reading,
    )


def tick_days(tick_seconds: float | None) -> int:
    """The days a curve's tick counts when it is a whole number of days above one (the serial interval, given in
    days, is then spread over such ticks); 1 otherwise: a daily curve, a run's series and ticks shorter than a day
    read the serial interval in their own ticks."""
    if tick_seconds is None or tick_seconds <= DAY or tick_seconds % DAY:
        return 1
    return int(tick_seconds // DAY)


@dataclasses.dataclass(frozen=True)
class _Curve:
    local: np.ndarray
    imported: np.ndarray | None
    labels: list[str]
    source: str
    cases_name: str
    imported_name: str | None
    tick_seconds: float | None
    reading: str = ""


def _curve(
    source: CurveLike, *, cases: str | None, imported: str | None, run: int | None, time: str | None, tick: str | None
) -> _Curve:
    """The cases per tick of ``source``, whichever kind it is."""
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if _is_series_file(path):
            _series_only(imported, time, tick)
            table = read_series(path)
            if len(table.combinations()) > 1:
                raise BadParameterError(
                    f"series file {path} holds {len(table.combinations())} combinations of a sweep: give the series "
                    "of one run (one combination's rows)"
                )
            return _series_curve(table.run, table.tick, table.measure, table.value, cases, run, path)
        _curve_only(run, path)
        return _incidence_curve(path, path, cases, imported, time, tick)
    if type(source).__name__ == "DataFrame":
        frame = cast(Any, source)
        if [str(c) for c in frame.columns][-4:] == list(SERIES_COLUMNS):
            _series_only(imported, time, tick)
            return _series_curve(
                np.asarray(frame["run"]),
                np.asarray(frame["tick"]),
                np.asarray(frame["measure"]).astype(str),
                np.asarray(frame["value"], dtype=np.float64),
                cases,
                run,
                "",
            )
        _curve_only(run, "")
        return _incidence_curve(frame, "", cases, imported, time, tick)
    if isinstance(source, (bytes, dict)) or not hasattr(source, "__len__"):
        raise BadParameterError(
            f"source is a {type(source).__name__}: give a curve's file, a pandas DataFrame or counts per tick",
            fields="source",
        )
    for name, given in (("cases", cases), ("imported", imported), ("run", run), ("time", time), ("tick", tick)):
        if given is not None:
            raise BadParameterError(
                f"{name} goes with a file or a DataFrame: counts per tick have no columns", fields=name
            )
    try:
        counts = np.asarray(source, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise BadParameterError("source holds something other than numbers: give counts of cases per tick") from None
    return _Curve(counts, None, [str(t) for t in range(counts.size)], "", "cases", None, None)


def _curve_only(run: int | None, name: str) -> None:
    if run is not None:
        where = f"curve {name}" if name else "the curve"
        raise BadParameterError(f"run picks a run of a series file: {where} is a curve, with no runs", fields="run")


def _series_only(imported: str | None, time: str | None, tick: str | None) -> None:
    for name, given in (("imported", imported), ("time", time), ("tick", tick)):
        if given is not None:
            raise BadParameterError(
                f"{name} reads a curve's columns: a run's series has ticks and measures (choose one with cases)",
                fields=name,
            )


def _is_series_file(path: str) -> bool:
    """Whether ``path``'s header ends with run,tick,measure,value (a series file); its first line only."""
    lower = path.lower()
    if lower.endswith(".parquet"):
        try:
            names = parquet_schema(path, "curve file", "a curve or a series file")[1]
        except (BadFileError, BadParameterError):
            return False  # the curve's reader says what is wrong with it
        return names[-4:] == list(SERIES_COLUMNS)
    if not lower.endswith((".csv", ".csv.gz")):
        return False
    try:
        with bounded_text(path, "curve file", "a curve or a series file", gz=lower.endswith(".gz")) as fh:
            first = fh.readline(64 * 1024)
    except (BadFileError, UnicodeDecodeError, *GZIP_ERRORS):
        return False  # the curve's reader says what is wrong with it
    header = next(csv.reader(io.StringIO(first)), [])
    return [h.strip() for h in header[-4:]] == list(SERIES_COLUMNS)


def _series_curve(
    runs: np.ndarray,
    ticks: np.ndarray,
    measures: np.ndarray,
    values: np.ndarray,
    cases: str | None,
    run: int | None,
    source: str,
) -> _Curve:
    """One run's measure per tick from a series' columns."""
    where = f"series file {source}" if source else "the series"
    measure = SERIES_MEASURE if cases is None else cases
    present = list(dict.fromkeys(measures.tolist()))
    if measure not in present:
        raise BadParameterError(
            f"cases names no measure of {where}: {measure!r} is not among {', '.join(present[:20])}", fields="cases"
        )
    distinct = np.unique(runs)
    if run is None:
        if distinct.size != 1:
            raise BadParameterError(
                f"{where} holds {distinct.size} runs: choose one with run (0 to {distinct.size - 1})", fields="run"
            )
        run = int(distinct[0])
    elif run not in set(distinct.tolist()):
        raise BadParameterError(
            f"run {run} is not in {where}: its runs are {distinct.min()}..{distinct.max()}", fields="run"
        )
    rows = (runs == run) & (measures == measure)
    at = np.asarray(ticks[rows], dtype=np.int64)
    if at.size == 0 or at.min() < 0 or np.unique(at).size != at.size:
        raise BadFileError(
            f"{where} has ticks of run {run} that are not 0, 1, 2, ... once each: give agora run's series"
        )
    counts = np.zeros(int(at.max()) + 1)
    counts[at] = values[rows]
    return _Curve(counts, None, [str(t) for t in range(counts.size)], source, measure, None, None)


def _incidence_curve(
    source: str | pd.DataFrame, name: str, cases: str | None, imported: str | None, time: str | None, tick: str | None
) -> _Curve:
    """The cases (and imported cases) per tick of a curve read as an observation is
    (:func:`sim.store.observed.read_recorded`, ticks of a day unless the rows or ``tick`` say otherwise): the
    count column ``cases`` (None: the curve's one count column), the imported cases' column ``imported`` (None:
    ``imported`` beside ``local``, as EpiEstim reads such a curve); ``imported`` may end in ``:included`` (the
    cases column counts the imported ones too: they are taken out of it)."""
    column, _ = split_imported(imported)
    where = f"curve {name}" if name else "the curve"
    if cases is not None and cases == column:
        raise BadParameterError(
            "imported names the column of the cases: give the imported cases' own", fields="imported"
        )
    header = recorded_header(source)
    if column is None and cases in (None, "local") and {"local", "imported"} <= set(header):
        cases, column = "local", "imported"  # read as EpiEstim reads such a curve
    observe = [(cases, cases)] if cases is not None else []
    if column is not None and column not in header:
        raise BadParameterError(
            f"imported names no count column of {where}: its columns are {', '.join(header)[:200]}",
            fields="imported",
        )
    if not observe and {"id", "parent"} <= {h.lower() for h in header}:
        observe = [(CASES, CASES)]  # a line list with its infectors: its cases are counted, not its trees
    given = imported if imported is not None else column  # as given (with :included), or the column found
    observed = read_recorded(source, time=time, tick=tick, observe=observe, imported=given, default_tick_seconds=DAY)
    assert isinstance(observed, ObservedSeries)  # observe is never empty beside id and parent
    if cases is None:
        if len(observed.columns) != 1:
            has = f"the count columns {', '.join(observed.columns)}" if observed.columns else "no count column"
            raise BadParameterError(f"cases must name the column of cases: {where} has {has}", fields="cases")
        cases = next(iter(observed.columns))
    return _Curve(
        observed.dense(cases),
        None if observed.imported is None else observed.imported.astype(np.float64),
        list(observed.labels),
        name,
        cases,
        column,
        None if observed.tick_seconds is None else float(observed.tick_seconds),
        "" if observed.recorded is None else str(observed.recorded["reading"]),
    )
