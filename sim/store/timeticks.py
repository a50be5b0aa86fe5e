"""A time column read and ticked (:mod:`sim.store.timeline`'s rules, in its docstring): whole numbers, ISO dates,
ISO weeks or timestamps parsed in bulk; what one row counts, the tick (given, or the rows' own span) and the
reading told in one line; each row's tick and each tick's label. Durations (``1d``, ``1w``) are read and written
here too. The tables themselves (a CSV's, a Parquet file's, a DataFrame's) are :mod:`sim.store.timeline`'s."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.errors import BadFileError, BadParameterError
from sim.store.csvcolumns import CsvColumns

#: The most ticks a timeline may span (a run simulates at most 1,000,000 ticks).
MAX_TICKS = 1_000_000
#: Seconds in a day.
DAY = 86_400
#: Column names taken for time, in order of preference (``date`` first: ``day,date,cases``'s ``day`` is its index).
TIME_NAMES = ("date", "time", "day", "week", "epiweek", "tick", "t")
#: Seconds in a week.
WEEK = 7 * 86_400
#: Whole numbers in a column of these names (any case) count days, or weeks, unless the time says otherwise.
DAY_NAMES = ("day", "days")
WEEK_NAMES = ("week", "weeks", "epiweek", "epiweeks")
#: What to give instead of a bad file.
GIVE = "a table with a header row: a time column and counts, or one row per case (.csv, .csv.gz or .parquet)"
#: The longest cell a time or count column may hold: a timestamp with microseconds and a zone is 32 characters.
MAX_CELL = 40
_UNITS = {"w": 7 * DAY, "d": DAY, "h": 3600, "min": 60, "s": 1}
_DURATION = re.compile(r"[ \t]*([0-9]{1,9})[ \t]*(w|d|h|min|s)[ \t]*\Z")  # ASCII digits only (issue 71)


def parse_duration(text: str) -> int:
    """The seconds of a duration such as ``1d``, ``6h``, ``10min``, ``30s`` or ``2w`` (a whole number above 0 and
    a unit: ``w`` weeks, ``d`` days, ``h`` hours, ``min`` minutes, ``s`` seconds).

    Raises:
        BadParameterError: anything else (naming ``--tick``).
    """
    m = _DURATION.match(text) if isinstance(text, str) else None
    if m is None or int(m.group(1)) < 1:
        shown = str(text)[:30]
        raise BadParameterError(
            f"tick {shown!r} is not a duration: give a whole number above 0 and a unit, such as 1d, 6h, 10min, "
            "30s or 2w",
            fields="tick",
        )
    return int(m.group(1)) * _UNITS[m.group(2)]


def format_duration(seconds: int) -> str:
    """``seconds`` in the largest unit that holds it whole (``86400`` -> ``1d``; ``600`` -> ``10min``)."""
    for unit in ("w", "d", "h", "min"):
        if seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


def tick_unit(tick_seconds: float | None) -> str:
    """A tick's name in output: ``day``, ``week``, or ``tick`` (another length, or unknown)."""
    return {DAY: "day", WEEK: "week"}.get(int(tick_seconds or 0), "tick")


def tick_seconds_of(tick: str | None, default_tick_seconds: int) -> int:
    tick_s = parse_duration(tick) if tick is not None else int(default_tick_seconds)
    if tick_s < 1:
        raise BadParameterError(f"tick must last at least a second, not {tick_s} seconds", fields="tick")
    return tick_s


# --- tables: a file's or a DataFrame's columns, and how a sentence names their rows -------------------------


@dataclass
class Table:
    """A table's header, a way to get a column (text cells as UTF-8 bytes, ``S``, or typed values), and how to
    name its rows. ``get`` gives a whole column; ``chunks`` gives columns a chunk of rows at a time (a CSV's cut
    out of its bytes as it goes, :mod:`sim.store.csvcolumns`; another table's whole, as one chunk)."""

    name: str  # "observation file PATH" / "observation table (a DataFrame)"
    header: list[str]
    get: Callable[[str], np.ndarray]
    row_word: str  # "line", "row"
    first_row: int  # what the first data row is called (2 for a CSV line, 1 for a Parquet row, 0 for a DataFrame)
    known: frozenset[str]
    csv: CsvColumns | None = None  # a CSV's columns: rows named by their lines

    def where(self, row: int) -> str:
        if self.csv is not None:
            return f"line {self.csv.line(row)}"
        return f"{self.row_word} {row + self.first_row}"

    def chunks(self, cols: Sequence[str]) -> Iterator[tuple[int, list[np.ndarray]]]:
        """The columns ``cols``, a chunk of rows at a time: each chunk's first row and its arrays."""
        if self.csv is not None:
            yield from self.csv.chunks([self.place(c) for c in cols])
        else:
            yield 0, [self.get(c) for c in cols]

    def place(self, col: str) -> int:
        """Where column ``col`` is in the header; a column that is read must be named once."""
        at = self.header.index(col)
        if col in self.header[at + 1 :]:
            raise self.bad(f"has two columns named {self.label(col)}: give each column its own name")
        return at

    def pair(self, a: int, b: int) -> str:
        """Rows ``a`` and ``b`` (from 0) as a sentence names them: ``lines 4 and 9``."""
        word, x = self.where(a).split(" ")
        return f"{word}s {x} and {self.where(b).split(' ')[1]}"

    def bad(self, text: str) -> BadFileError:
        return BadFileError(f"{self.name} {text}")

    def at(self, row: int, text: str) -> BadFileError:
        return self.bad(f"{self.where(row)}: {text}")

    def label(self, name: str) -> str:
        return name if name in self.known else f"column {self.header.index(name) + 1}"


# --- the time column ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Times:
    """A time column parsed: ``kind`` whole / date / stamp; ``values`` int64 (whole numbers, days since 1970,
    seconds since 1970)."""

    kind: str
    values: np.ndarray


_KIND_WORDS = {"whole": "a whole number", "date": "an ISO date", "stamp": "a timestamp", "week": "an ISO week"}
_NOT_TIME = (
    "give whole numbers, ISO dates (YYYY-MM-DD), ISO weeks (YYYY-Www) or timestamps (YYYY-MM-DDTHH:MM:SS), one "
    "format for the column"
)


def first_true(mask: np.ndarray) -> int:
    return int(np.argmax(mask))


#: The years a date may have: ISO 8601's years 0001 to 9999 (no year 0: 1 BC comes before 1 AD; numpy would
#: read ``0000-01-01``). A timestamp's date too.
YEARS = (1, 9999)


def as_bytes(raw: np.ndarray) -> np.ndarray:
    """Text cells as UTF-8 bytes (``S``), stripped of ASCII blanks; other arrays as they are. Numbers and times are
    read from bytes, so only ASCII digits are digits (``np.char.isdigit`` and numpy's parsers on ``str`` take
    every script's)."""
    if raw.dtype.kind == "U":
        return np.char.strip(np.char.encode(raw, "utf-8"))
    if raw.dtype.kind == "S":
        return np.char.strip(raw)
    return raw


def _text_times(t: Table, label: str, first: int, a: np.ndarray) -> tuple[str, np.ndarray, np.ndarray]:
    """Whole numbers, dates or timestamps from a chunk of text cells (bytes, stripped; the chunk's first row is
    ``first``), classified and parsed in bulk: the kind of the first cell, each cell's kind (0 whole, 1 date,
    2 timestamp) and its value (int64: the number, days or seconds since 1970)."""
    n = a.size
    length = np.char.str_len(a)
    if (length == 0).any():
        raise t.at(first + first_true(length == 0), f"the time column {label} is empty: give every row its time")
    if (length > MAX_CELL).any():
        raise t.at(first + first_true(length > MAX_CELL), f"the time column {label} is not a time: {_NOT_TIME}")
    chars = np.frombuffer(a.astype("S11").tobytes(), dtype=np.uint8).reshape(n, 11)
    digit = (chars >= 48) & (chars <= 57)
    dated = digit[:, [0, 1, 2, 3, 5, 6, 8, 9]].all(axis=1) & (chars[:, 4] == 45) & (chars[:, 7] == 45)
    is_date = dated & (length == 10)
    is_stamp = dated & (length > 10) & ((chars[:, 10] == 84) | (chars[:, 10] == 32))
    # An ISO week, YYYY-Www (2005-W07: the week of Monday 14 February 2005).
    is_week = digit[:, [0, 1, 2, 3, 6, 7]].all(axis=1) & (chars[:, 4] == 45) & (chars[:, 5] == 87) & (length == 8)
    bare = np.char.lstrip(a, b"+-")
    is_whole = np.char.isdigit(bare) & (length - np.char.str_len(bare) <= 1) & (length <= 18)
    other = ~(is_whole | is_date | is_stamp | is_week)
    if other.any():
        raise t.at(first + first_true(other), f"the time column {label} is not a time: {_NOT_TIME}")
    code = np.where(is_whole, 0, np.where(is_date, 1, np.where(is_stamp, 2, 3))).astype(np.int8)
    values = np.zeros(n, dtype=np.int64)
    year0 = (dated | is_week) & (chars[:, :4] == 48).all(axis=1)
    if year0.any():
        raise t.at(
            first + first_true(year0),
            f"the time column {label} holds a date of year 0, which does not exist: give dates of the years "
            f"{YEARS[0]} to {YEARS[1]}",
        )
    for kind, mask in ((0, is_whole), (1, is_date), (2, is_stamp), (3, is_week)):
        if mask.all() or mask.any():
            cells = a if mask.all() else a[mask]
            values[mask] = _parsed(t, label, first, np.flatnonzero(mask), cells, kind)
    return _KINDS[int(code[0])], code, values


_KINDS = ("whole", "date", "stamp", "week")


def week_one(years: np.ndarray) -> np.ndarray:
    """The Monday of ISO week 1 of each year (the week that holds 4 January), in days since 1970-01-01 (a
    Thursday: a day ``d`` is a Monday when ``(d + 3) % 7 == 0``)."""
    jan4 = (np.asarray(years, dtype=np.int64) - 1970).astype("datetime64[Y]").astype("datetime64[D]").astype(np.int64)
    jan4 += 3
    return jan4 - (jan4 + 3) % 7


def iso_weeks(years: np.ndarray, weeks: np.ndarray) -> np.ndarray:
    """The Monday of ISO week ``weeks`` of ``years`` in days since 1970, or -2**62 where the year has no such week
    (a year has 52 ISO weeks, or 53 when its week 1 starts 371 days before the next year's)."""
    years = np.asarray(years, dtype=np.int64)
    weeks = np.asarray(weeks, dtype=np.int64)
    start = week_one(years)
    count = (week_one(years + 1) - start) // 7
    ok = (weeks >= 1) & (weeks <= count)
    return np.where(ok, start + 7 * (weeks - 1), -(2**62))


def week_labels(mondays: np.ndarray) -> list[str]:
    """Days since 1970 (Mondays) as ISO weeks, ``2005-W07``: the year is the one that holds the week's Thursday."""
    mondays = np.asarray(mondays, dtype=np.int64)
    years = (mondays + 3).astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
    weeks = (mondays - week_one(years)) // 7 + 1
    return [f"{y:04d}-W{w:02d}" for y, w in zip(years.tolist(), weeks.tolist())]


def _parsed(t: Table, label: str, first: int, rows: np.ndarray, cells: np.ndarray, kind: int) -> np.ndarray:
    """Cells of one kind (``rows``: their places in the chunk) as int64 values."""
    if kind == 0:
        return cells.astype(np.int64)
    if kind == 3:
        digits = np.frombuffer(cells.astype("S8").tobytes(), dtype=np.uint8).reshape(-1, 8).astype(np.int64) - 48
        years = digits[:, 0] * 1000 + digits[:, 1] * 100 + digits[:, 2] * 10 + digits[:, 3]
        mondays = iso_weeks(years, digits[:, 6] * 10 + digits[:, 7])
        missing = mondays == -(2**62)
        if missing.any():
            raise t.at(
                first + int(rows[first_true(missing)]),
                f"the time column {label} holds an ISO week that does not exist (a year's weeks run from W01 to "
                "W52, or W53 in a long year): give real weeks",
            )
        return mondays
    if kind == 1:
        try:
            return cells.astype("datetime64[D]").astype(np.int64)
        except ValueError:
            row = next(i for i in range(cells.size) if not _parses(cells[i], "D"))
            raise t.at(
                first + int(rows[row]), f"the time column {label} holds a date that does not exist: give real dates"
            ) from None
    s = np.char.replace(cells, b" ", b"T")
    s = np.where(np.char.endswith(s, b"Z"), np.char.rstrip(s, b"Z"), s)
    zoned = (np.char.find(s, b"+", 10) >= 0) | (np.char.find(s, b"-", 10) >= 0)
    if zoned.any():
        raise t.at(
            first + int(rows[first_true(zoned)]),
            f"the time column {label} has a time zone offset: give times in one zone, without an offset (Z for UTC)",
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            micro = s.astype("datetime64[us]")
    except ValueError:
        row = next(i for i in range(s.size) if not _parses(s[i], "us"))
        raise t.at(first + int(rows[row]), f"the time column {label} is not a time: {_NOT_TIME}") from None
    return micro.astype(np.int64) // 1_000_000


def _parses(cell: Any, unit: str) -> bool:
    try:
        np.array([cell]).astype(f"datetime64[{unit}]")
    except ValueError:
        return False
    return True


def _typed_times(t: Table, label: str, raw: np.ndarray) -> Times:
    """A time column stored as dates, timestamps or numbers (Parquet, a DataFrame)."""
    if raw.dtype.kind == "M":
        nat = np.isnat(raw)
        if nat.any():
            raise t.at(first_true(nat), f"the time column {label} is empty: give every row its time")
        days = raw.astype("datetime64[D]")
        lo, hi = np.datetime64(f"{YEARS[0]:04d}-01-01"), np.datetime64(f"{YEARS[1]:04d}-12-31")
        out = (days < lo) | (days > hi)
        if out.any():
            raise t.at(
                first_true(out),
                f"the time column {label} holds a date outside the years {YEARS[0]} to {YEARS[1]}: give real dates",
            )
        seconds = raw.astype("datetime64[us]").astype(np.int64) // 1_000_000
        if not (seconds % DAY).any():
            return Times("date", seconds // DAY)
        return Times("stamp", seconds)
    if raw.dtype.kind in "iu":
        return Times("whole", raw.astype(np.int64))
    bad = ~(np.isfinite(raw) & (raw == np.round(raw)) & (np.abs(raw) < 2**53))
    if bad.any():
        raise t.at(first_true(bad), f"the time column {label} is not a time: {_NOT_TIME}")
    return Times("whole", raw.astype(np.int64))


def parse_times(t: Table, col: str) -> Times:
    """The time column ``col`` of ``t``, whatever its storage; text a chunk of rows at a time (one format for the
    whole column: the first row's)."""
    label = t.label(col)
    parts: list[np.ndarray] = []
    kind = ""
    rows = t.csv.rows if t.csv is not None else 0
    out = np.empty(rows, dtype=np.int64)  # a CSV's values, filled a chunk at a time (no copy to join them)
    for first, (raw,) in t.chunks([col]):
        if raw.dtype.kind in "Miuf":
            if raw.size == 0:
                break
            return _typed_times(t, label, raw)
        if raw.size == 0:
            continue
        head, code, values = _text_times(t, label, first, as_bytes(raw))
        kind = kind or head
        other = code != _KINDS.index(kind)
        if other.any():
            row = first_true(other)
            raise t.bad(
                f"mixes time formats in {label}: {t.where(0)} holds {_KIND_WORDS[kind]} and {t.where(first + row)} "
                f"{_KIND_WORDS[_KINDS[int(code[row])]]}: give one format for the whole column"
            )
        if t.csv is not None:
            out[first : first + values.size] = values
        else:
            parts.append(values)
    if not kind:
        raise t.bad(f"has a header but no rows: give {GIVE}")
    return Times(kind, out if t.csv is not None else np.concatenate(parts))


def split_time(time: str | None) -> tuple[str | None, int | None]:
    """``time`` as a column and the seconds a row of it counts: ``week:1w`` -> ``("week", 604800)``; a name
    without a duration after its last colon is a column's name whole (``("week", None)``)."""
    if time is None:
        return None, None
    col, sep, unit = time.rpartition(":")
    if sep and col and _DURATION.match(unit):
        return col, parse_duration(unit)
    return time, None


def time_column(t: Table, time: str | None) -> str:
    """The time column: ``time`` when given, else the one named as :data:`TIME_NAMES` (``date`` preferred)."""
    if time is not None:
        if time not in t.header:
            raise BadParameterError(
                f"time names no column of {t.name} ({time[:60]!r}): name its time column, and after a colon what "
                "one row counts if you wish (week:1w, date:1d)",
                fields="time",
            )
        return time
    lower = {h.lower(): h for h in t.header}
    found = [lower[n] for n in TIME_NAMES if n in lower]
    if not found:
        raise BadParameterError(
            f"give time, the name of the time column: {t.name} has no column called "
            f"{', '.join(TIME_NAMES[:-1])} or {TIME_NAMES[-1]}",
            fields="time",
        )
    if len(found) > 1 and found[0].lower() != "date":
        raise BadParameterError(
            f"give time, the name of the time column: {t.name} has columns {found[0]} and {found[1]}", fields="time"
        )
    return found[0]


# --- ticks ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """How a time column is read: what one step of it counts (``unit``, seconds; None: ticks), what one row
    counts (``span``), a tick's length, and the reading told in words."""

    unit: int | None
    span: int | None
    tick: int
    text: str


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def _span_words(seconds: int) -> str:
    """A span in words: ``a day``, ``a week``, ``7 days`` (when it is not a whole number of weeks), ``6 hours``."""
    if seconds == DAY:
        return "a day"
    if seconds == WEEK:
        return "a week"
    for unit, word in ((WEEK, "week"), (DAY, "day"), (3600, "hour"), (60, "minute")):
        if seconds % unit == 0:
            return _plural(seconds // unit, word)
    return _plural(seconds, "second")


def _unit_of(kind: str, label: str, low: str, given_span: int | None, given: int | None) -> tuple[int | None, str]:
    """What one step of a time column counts (seconds; None: ticks) and how the reading says so."""
    if kind == "date":
        return DAY, "ISO dates"
    if kind == "week":
        return WEEK, "ISO weeks (YYYY-Www, Monday to Sunday)"
    if given_span is not None:
        return given_span, f"whole numbers of {format_duration(given_span)}"
    if low in DAY_NAMES:
        return DAY, f"whole numbers of days (the column is named {label}; say {label}:1w if they count weeks)"
    if low in WEEK_NAMES:
        return WEEK, f"whole numbers of weeks (the column is named {label}; say {label}:1d if they count days)"
    if given is not None and given % DAY == 0:
        return DAY, f"whole numbers of days (the tick lasts whole days; say {label}:1w if they count weeks)"
    return None, "whole numbers of ticks"


def read_time(
    t: Table,
    times: Times,
    col: str,
    given_span: int | None,
    tick: str | None,
    default_tick_seconds: int,
    series: bool,
) -> Reading:
    """The unit of the time column, what a row counts, the tick (given, else the rows' own spacing) and the
    reading in words; refuses a tick and rows that do not fit (neither a whole number of rows a tick nor a
    whole number of ticks a row), and a span the time cannot have."""
    label, kind = t.label(col), times.kind
    given = tick_seconds_of(tick, default_tick_seconds) if tick is not None else None
    as_said = f" ({label}:{format_duration(given_span)})" if given_span is not None else ""
    if kind == "stamp":
        if given_span is not None:
            raise BadParameterError(
                f"time {label}:{format_duration(given_span)} gives what a row counts, and {t.name}'s times are "
                f"timestamps, each counted in the tick that holds it: drop :{format_duration(given_span)}",
                fields="time",
            )
        tick_s = given if given is not None else int(default_tick_seconds)
        text = f"time column {label}: timestamps, each row counted in the tick that holds it; ticks of "
        return Reading(1, None, tick_s, text + format_duration(tick_s))
    unit, how = _unit_of(kind, label, col.lower(), given_span, given)
    v = times.values
    step = DAY if kind in ("date", "week") else unit  # seconds between two values one apart (weeks: Mondays' days)
    span: int | None
    if unit is None or step is None:
        span = None
    elif given_span is not None:
        if given_span % unit:
            raise BadParameterError(
                f"time {label}:{format_duration(given_span)} says a row counts {format_duration(given_span)}, and "
                f"{t.name} holds {_KIND_WORDS[kind]}s, which count {_span_words(unit)} each: give a whole number "
                f"of {_span_words(unit).split(' ')[-1]}s",
                fields="time",
            )
        span = given_span
        if series and v.size >= 2:
            steps = np.diff(v) * step
            odd = steps % span != 0
            if odd.any():
                row = first_true(odd) + 1
                raise t.at(
                    row,
                    f"its time lies {_span_words(int(steps[row - 1]))} after {t.where(row - 1)}'s, and time "
                    f"{label}:{format_duration(span)} says each row counts {_span_words(span)}: give rows a whole "
                    f"number of {format_duration(span)} apart, or the span they count",
                )
    elif series and v.size >= 2:
        span = int(np.gcd.reduce(np.diff(v))) * step
    else:
        span = unit
    tick_s = given if given is not None else (int(default_tick_seconds) if span is None else span)
    if tick_s < 1:  # pragma: no cover - parse_duration and tick_seconds_of refuse it first
        raise BadParameterError("tick must last at least a second", fields="tick")
    if span is None:
        text = f"time column {label}: {how}; ticks of {format_duration(tick_s)}"
        return Reading(None, None, tick_s, text)
    rows = f"{_plural(int(v.size), 'row')}" if series else "one row per case"
    apart = f", {_span_words(span)} apart: each counts {_span_words(span)}{as_said}" if series and v.size >= 2 else ""
    if series and v.size >= 2 and given_span is None and unit is not None and span != unit:
        apart += f" (say {label}:{format_duration(unit)} if each counts {_span_words(unit)}, with gaps between)"
    if tick_s % span == 0:
        per = tick_s // span
        holds = ""
        if per > 1:
            holds = f", each the sum of {per} rows" if series else f", each counting the cases of {_span_words(tick_s)}"
    elif span % tick_s == 0:
        holds = f", shorter than a row: each row's count sits at the first of its {span // tick_s} ticks"
    elif span == DAY:
        raise BadParameterError(
            f"tick {format_duration(tick_s)} splits no day evenly, and {t.name} counts whole days: give a tick "
            "that divides a day (1d, 12h, 6h, 1h, ...) or lasts whole days (2d, 1w)",
            fields="tick",
        )
    else:
        raise BadParameterError(
            f"tick {format_duration(tick_s)} and the rows of {t.name}, each counting {_span_words(span)}, do not "
            f"divide each other: give a tick of {format_duration(span)} or a whole number of them, or one that "
            f"splits {format_duration(span)} evenly",
            fields="tick",
        )
    text = f"time column {label}: {how}; {rows}{apart}; ticks of {format_duration(tick_s)}{holds}"
    return Reading(unit, span, tick_s, text)


def ticks_of(t: Table, times: Times, reading: Reading) -> tuple[np.ndarray, int, int, np.ndarray, str | None]:
    """Each row's tick, the ticks in all, the resolution, each tick's label source, and the origin.

    Label sources: whole numbers (int64), days since 1970 (``datetime64[D]``), seconds (``datetime64[s]``), or
    ISO weeks (``Mondays``: int64 days, labelled ``YYYY-Www``)."""
    v = times.values
    tick_s = reading.tick
    span = reading.span if reading.span is not None else tick_s
    res = span // tick_s if span > tick_s and span % tick_s == 0 else 1
    if times.kind == "stamp":
        first = int(v.min())
        midnight = first - first % DAY
        zero = midnight + (first - midnight) // tick_s * tick_s
        at = v - zero
        at //= tick_s
        unit, start = 1, zero
    else:
        unit = DAY if times.kind in ("date", "week") else (reading.unit if reading.unit is not None else tick_s)
        start = int(v.min())
        at = v - start
        at *= unit
        at //= tick_s
    n = int(at.max()) + res
    if n > MAX_TICKS:
        raise BadParameterError(
            f"tick {format_duration(tick_s)} makes {n:,} ticks of {t.name}, more than the {MAX_TICKS:,} a run "
            "simulates: give a longer tick, or keep a part of the file",
            fields="tick",
        )
    k = np.arange(n, dtype=np.int64)
    origin: str | None = None
    labels: Any
    if times.kind == "whole":
        labels = start + (k * tick_s) // unit
    elif times.kind == "week" and tick_s % WEEK == 0:
        labels = ("week", start + k * (tick_s // DAY))
        origin = week_labels(labels[1][:1])[0]
        return at.astype(np.int64), n, res, labels, origin
    elif times.kind in ("date", "week") and tick_s % DAY == 0:
        labels = (start + k * (tick_s // DAY)).astype("datetime64[D]")
    else:
        day_start = start * DAY if times.kind in ("date", "week") else start
        seconds = day_start + k * tick_s
        labels = (seconds // DAY).astype("datetime64[D]") if tick_s % DAY == 0 else seconds.astype("datetime64[s]")
    if times.kind != "whole":
        origin = str(np.datetime_as_string(labels[:1])[0])
    return at.astype(np.int64), n, res, labels, origin


def label_texts(labels: Any) -> list[str]:
    if isinstance(labels, tuple):  # ISO weeks
        return week_labels(labels[1])
    if labels.dtype.kind == "M":
        return [str(x) for x in np.datetime_as_string(labels).tolist()]
    return [str(x) for x in labels.astype(str).tolist()]
