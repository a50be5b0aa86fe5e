"""Counts over time as a file records them: a time column of whole numbers, ISO dates or timestamps, a tick of
a stated length, and count columns, or a line list (one row per case) counted per tick (issue 60).

**The time column** (``time``; by default the one column named ``date``, ``time``, ``day``, ``tick`` or ``t``,
case-insensitive; ``date`` is taken when there are several and one is ``date``, as in ``day,date,cases``; any
other pair is refused: name the column). One format per column, told apart by the cells:

- whole numbers (``0``, ``17``, ``-3``): in days when the column is named ``day`` (or ``days``) or the tick is
  given in whole days (``1d``, ``2w``), else in ticks;
- ISO dates ``YYYY-MM-DD``: days;
- timestamps, an ISO date with a time (``2009-04-27T13:05:00``, a space for the ``T``, ``Z`` for UTC; an offset
  such as ``+02:00`` is refused: give one zone), to the second.

**Ticks.** ``tick`` is a duration (:func:`parse_duration`: ``1d``, ``6h``, ``10min``, ``30s``, ``2w``; None:
``default_tick_seconds``). Tick 0 is the first time the file holds (its earliest: a date, a day, a whole number;
for timestamps, the tick that holds the earliest one, counting ticks from that day's midnight, UTC). Every tick
from 0 to the last gets a value, 0 where the file has no row. A tick longer than the file's unit (a week of daily
data) sums the rows it holds; a shorter one must split the unit evenly (``6h`` of days; ``7h`` is refused), and
each row's count sits at the first tick of its day (:attr:`Incidence.resolution` says how many ticks a row
spans). Labels name each tick as the file does: the whole number (of a day: its first day), the ISO date (ticks
of whole days) or the ISO timestamp of its start.

**Counts** (``columns``; by default every column of numbers but the time columns and ``id``, and a column
named ``cases`` whatever it holds) are whole numbers
of at least 0, one row per time, times in increasing order: a count is a number of cases (a fraction, a
negative, an empty cell is refused), and a repeated time is refused rather than summed (a file that lists one
time twice is more often a mistake than a split count: add them yourself).

**A line list** is one row per case: counted per tick into one column ``cases``. A file is read as one when
``columns`` is empty (``()``), or, by default, when it has no count columns or its time column repeats a value
or goes back in time (a series never does). Its rows may come in any order; a column named ``id`` (any case)
may not repeat.

:func:`read_timed_rows` gives each row's tick and the text of named columns instead (timestamped cascades
``id,parent,time``: :mod:`sim.store.observed`).

**Bounded** as every table a user names (:mod:`sim.core.boundedio`): a regular file, at most 256 MiB of text
(after gzip, which may expand at most 100 times), lines of at most 64 KiB, 10 million rows; a Parquet file's
rows, types and sizes checked from its footer. At most :data:`MAX_TICKS` ticks. Each column is converted in
bulk (numpy), never cell by cell, except to find the line of a bad cell once one is known to be there.

**Messages** are one sentence naming the file and the line (``line 7``; a Parquet ``row 6``; a DataFrame's
``row 5``, from 0) and never a cell's content; a column is named where the name came from the caller or is one of
Agora's (``date``, ``cases``, ...), else by its place (``column 3``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.core.boundedio import GZIP_ERRORS, MAX_ROWS, Bounds, opened, read_bounded_buffer
from sim.core.numbers import ascii_float
from sim.errors import BadFileError, BadParameterError
from sim.store.csvcolumns import read_columns
from sim.store.timeticks import (
    DAY,
    DAY_NAMES,
    GIVE,
    MAX_CELL,
    MAX_TICKS,
    TIME_NAMES,
    WEEK,
    WEEK_NAMES,
    Table,
    Times,
    as_bytes,
    first_true,
    format_duration,
    label_texts,
    parse_duration,
    parse_times,
    read_time,
    split_time,
    tick_seconds_of,
    tick_unit,
    ticks_of,
    time_column,
    week_labels,
)

if TYPE_CHECKING:
    import pandas as pd

#: The largest count of cases a row may hold: more than any population, and sums of a million of them stay exact
#: to a case in a float (whose whole numbers are exact up to 2^53, about 9e15).
MAX_COUNT = 1e15
#: Names of the line list's count column.
CASES = "cases"
#: Names an error may show (others are shown by their place: a header is the file's content).
_AGORA_NAMES = frozenset(
    (*TIME_NAMES, *DAY_NAMES, *WEEK_NAMES, CASES, "id", "count", "counts", "new", "local", "imported")
)


@dataclass(frozen=True)
class Incidence:
    """Counts per tick, as a file recorded them.

    Attributes:
        ticks: int64, every tick from 0 to the last (``arange``).
        counts: column name -> float64 count at each tick (0 where the file has no row); a line list's is
            ``cases``.
        labels: each tick's name as the file names time: the whole number (``"17"``), the ISO date
            (``"1861-10-30"``) or timestamp (``"2009-04-27T06:00:00"``) of its start.
        tick_seconds: a tick's length.
        origin: the ISO date (or timestamp) of tick 0 when the time column holds dates or timestamps, else None.
        line_list: the file was one row per case.
        resolution: ticks one row spans: 1, or more when the file's unit is longer than the tick (daily data
            on 6-hour ticks: 4, each day's count at its first tick).
        time: the time column's name.
        rows: int64, the file's rows in each tick (a line list's cases; a series' rows, 0 where it has none).
        unit_seconds: what one step of the time column counts, in seconds (a day of dates, a week of ISO weeks
            or of a ``week`` column, a second of timestamps); None for whole numbers of ticks.
        span_seconds: what one row counts, in seconds: a series' rows' common step (weekly totals dated 7 days
            apart: a week), or the unit the time gives (``date:1d``); a line list's case, the time's unit. None
            for whole numbers of ticks.
        reading: how the time was read, one line for the user (the unit, the rows' span, the ticks and what a
            tick holds): printed by every command that reads a file in its own time.
    """

    ticks: np.ndarray
    counts: dict[str, np.ndarray]
    labels: list[str]
    tick_seconds: int
    origin: str | None
    line_list: bool
    resolution: int = 1
    time: str = ""
    rows: np.ndarray | None = None
    unit_seconds: int | None = None
    span_seconds: int | None = None
    reading: str = ""


# --- tables: reading a file's or a DataFrame's columns ----------------------------------------------------


def _csv_table(path: str, known: frozenset[str]) -> Table:
    """A CSV (or CSV.gz) file read within bounds, its bytes kept once and its columns cut out on demand
    (:mod:`sim.store.csvcolumns`: memory about the file's size, not 25 times it)."""
    name = f"observation file {path}"
    gz = path.lower().endswith(".gz")
    try:
        data = read_bounded_buffer(path, "observation file", GIVE, gz=gz, bounds=Bounds(rows=MAX_ROWS))
    except GZIP_ERRORS:  # a damaged gzip stream (or, rarely, a disk's read error)
        what = "is not a complete gzip file" if gz else "cannot be read"
        raise BadFileError(f"{name} {what}: give {GIVE}") from None
    table = read_columns(data, name, GIVE)
    del data

    def get(col: str) -> np.ndarray:
        return np.char.decode(table.column(out.place(col)), "utf-8")

    out = Table(name, table.header, get, "line", 2, known, table)
    return out


def _arrow_column(pa: Any, column: Any) -> np.ndarray:
    """A pyarrow column as numpy: text as ``str`` (a null is empty), dates and timestamps as ``datetime64``
    (UTC; a null NaT), whole numbers as int64 (float64 with NaN where nulls are), other numbers as float64."""
    typ = column.type
    if pa.types.is_dictionary(typ):
        column, typ = column.cast(typ.value_type), typ.value_type
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        return np.asarray(column.fill_null("").to_numpy(zero_copy_only=False), dtype=str)
    if pa.types.is_date(typ):
        return np.asarray(column.cast(pa.date32()).to_numpy(zero_copy_only=False), dtype="datetime64[D]")
    if pa.types.is_timestamp(typ):
        return np.asarray(column.cast(pa.timestamp("us", tz=typ.tz)).to_numpy(zero_copy_only=False)).astype(
            "datetime64[us]"
        )
    if pa.types.is_integer(typ) and not column.null_count:
        return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.int64)
    if pa.types.is_integer(typ) or pa.types.is_floating(typ):
        return np.asarray(column.cast(pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False), dtype=float)
    return np.full(len(column), "", dtype=str)  # booleans and others: neither a time nor a count


def _parquet_table(path: str, known: frozenset[str]) -> Table:
    """A Parquet file's columns, each read on demand once the footer's rows, types and sizes are checked."""
    from sim.store.seriesio import parquet_schema, read_parquet  # noqa: PLC0415 - pyarrow only for .parquet

    name = f"observation file {path}"
    pa, header, types, rows = parquet_schema(path, "observation file", GIVE)
    if rows > MAX_ROWS:
        raise BadFileError(
            f"{name} has more than {MAX_ROWS:,} rows: Agora reads at most that many, so keep a part of it"
        )
    typed = dict(zip(header, types))

    def get(col: str) -> np.ndarray:
        typ = typed[col]
        if pa.types.is_date(typ) or pa.types.is_timestamp(typ):  # fixed width: 8 bytes a row at most
            import pyarrow.parquet as pq  # noqa: PLC0415 - pyarrow only for .parquet

            with opened(path, "observation file", GIVE) as fh:
                try:
                    table = pq.ParquetFile(fh).read(columns=[col], use_threads=False)
                except (pa.ArrowException, OSError, ValueError):
                    raise BadFileError(f"{name} is not a readable Parquet file: give {GIVE}") from None
            return _arrow_column(pa, table.column(col))
        plain = pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_string(typ)
        if not (plain or pa.types.is_dictionary(typ) or pa.types.is_large_string(typ)):
            return np.full(rows, "", dtype=str)
        _, table = read_parquet(path, "observation file", "", [col], give=GIVE, named=tuple(known))
        return _arrow_column(pa, table.column(col))

    return Table(name, header, get, "row", 1, known)


def _frame_table(frame: Any, known: frozenset[str]) -> Table:
    """A pandas DataFrame's columns (rows named by position, from 0)."""
    import pandas as pd  # noqa: PLC0415 - only a DataFrame brings it, so pandas is there

    header = [str(c) for c in frame.columns]
    name = "observation table (a DataFrame)"
    if len(set(header)) != len(header):
        raise BadFileError(f"{name} names a column twice: give each column its own name")

    def get(col: str) -> np.ndarray:
        s = frame.iloc[:, header.index(col)]
        dtype = s.dtype
        if isinstance(dtype, pd.DatetimeTZDtype):
            s = s.dt.tz_convert("UTC").dt.tz_localize(None)
            dtype = s.dtype
        if pd.api.types.is_datetime64_any_dtype(dtype):
            return s.to_numpy(dtype="datetime64[us]")
        if pd.api.types.is_bool_dtype(dtype):
            return np.full(len(s), "", dtype=str)
        if pd.api.types.is_integer_dtype(dtype) and not s.isna().any():
            return s.to_numpy(dtype=np.int64)
        if pd.api.types.is_numeric_dtype(dtype):
            return s.to_numpy(dtype=np.float64, na_value=np.nan)
        return np.asarray(s.astype("string").fillna("").to_numpy(), dtype=str)

    return Table(name, header, get, "row", 0, known)


# --- counts ---------------------------------------------------------------------------------------------


def _numbers(a: np.ndarray) -> np.ndarray | None:
    """Text cells (bytes, stripped, none empty) as float64 when every one is a decimal number in ASCII (as
    :data:`sim.core.numbers.FLOAT` or ``nan``/``inf``, which the checks after name), else None."""
    if a.size and (int(np.char.str_len(a).max()) > MAX_CELL or (np.char.find(a, b"_") >= 0).any()):
        return None  # Python's float, which numpy calls, reads 1_000 as 1000
    try:
        return a.astype(np.float64)
    except ValueError:
        return None


def _is_number(cell: bytes) -> bool:
    text = cell.decode("utf-8", "replace")
    return len(text) <= MAX_CELL and ascii_float(text, special=True) is not None


def _numeric(t: Table, cols: list[str]) -> list[str]:
    """Those of ``cols`` that hold numbers (every filled cell; at least one), found in one pass over the rows."""
    alive = {c: False for c in cols}  # column -> a number seen so far; a column that holds anything else leaves
    for _, arrays in t.chunks(cols) if cols else ():
        for c, raw in zip(cols, arrays):
            if c not in alive:
                continue
            if raw.dtype.kind in "iuf":
                alive[c] = True
                continue
            a = as_bytes(raw) if raw.dtype.kind in "US" else None
            filled = a[np.char.str_len(a) > 0] if a is not None else None
            if filled is None or (filled.size and _numbers(filled) is None):
                del alive[c]
            elif filled.size:
                alive[c] = True
        if not alive:
            break
    return [c for c in cols if alive.get(c)]


def _counts(t: Table, col: str) -> np.ndarray:
    """Count column ``col``: whole numbers of at least 0, none missing (the first bad row named); text a chunk of
    rows at a time."""
    label = t.label(col)
    parts = [_count_chunk(t, label, first, raw) for first, (raw,) in t.chunks([col])]
    values = np.concatenate(parts) if len(parts) > 1 else parts[0]
    checks = (
        (~np.isfinite(values), "is infinite"),
        (values < 0, "is negative: a count of cases is never below 0"),
        (values != np.round(values), "is not a whole number: a count of cases is whole"),
        (values > MAX_COUNT, f"is above {MAX_COUNT:.0e}: no outbreak counts so many cases"),
    )
    for bad, what in checks:
        if bad.any():
            raise t.at(first_true(bad), f"the count {label} {what}")
    return values


def _count_chunk(t: Table, label: str, first: int, raw: np.ndarray) -> np.ndarray:
    values: Any
    if raw.dtype.kind in "iu":
        values = raw.astype(np.float64)
    elif raw.dtype.kind == "f":
        values = raw
    elif raw.dtype.kind in "US":
        a = as_bytes(raw)
        empty = np.char.str_len(a) == 0
        if empty.any():
            raise t.at(first + first_true(empty), f"the count {label} is empty: give 0, or leave the row out")
        values = _numbers(a)
        if values is None:
            row = next(i for i in range(a.size) if not _is_number(a[i]))
            raise t.at(first + row, f"the count {label} is not a number: give whole numbers of cases")
        nan = np.isnan(values)
        if nan.any():  # the word nan, not a missing value
            raise t.at(first + first_true(nan), f"the count {label} is not a number: give whole numbers of cases")
    else:
        raise t.bad(f"column {label} holds no numbers: give whole numbers of cases")
    if np.isnan(values).any():
        raise t.at(first + first_true(np.isnan(values)), f"the count {label} is empty: give 0, or leave the row out")
    return values


def _count_columns(t: Table, time_col: str, columns: Sequence[str] | None) -> list[str]:
    """The count columns: ``columns`` checked, or every numeric column but the time columns and ``id``."""
    if columns is not None:
        names = [str(c) for c in columns]
        for c in names:
            if c not in t.header:
                raise BadParameterError(f"{t.name} has no column {c[:60]!r} to count: name one of its columns")
            if c == time_col:
                raise BadParameterError(f"{t.name}'s column {c[:60]!r} is its time column: it cannot be a count too")
        if len(set(names)) != len(names):
            raise BadParameterError(f"{t.name}: a count column is named twice: name each once")
        return names
    skip = {*TIME_NAMES, "days", "id"}
    # A name the header gives two columns is no count (which would it be?): only a column named once is looked at.
    candidates = [h for h in t.header if h != time_col and h.lower() not in skip and t.header.count(h) == 1]
    numeric = set(_numeric(t, [h for h in candidates if h.lower() != CASES]))
    return [h for h in candidates if h.lower() == CASES or h in numeric]


def _check_order(t: Table, v: np.ndarray) -> None:
    """A series' times: one row per time, in increasing order."""
    step = np.diff(v)
    if (step <= 0).any():
        row = first_true(step <= 0) + 1
        if step[row - 1] == 0:
            raise t.bad(
                f"{t.pair(row - 1, row)} have the same time: give one row per time (add the counts "
                "yourself), or count a line list"
            )
        raise t.at(row, f"its time comes before {t.where(row - 1)}'s: give the rows of a series in time order")


#: Random odd multipliers of a cell's bytes, drawn afresh by each process: the hash that finds candidate
#: repeats of an id (each candidate is then compared byte for byte).
_ID_KEYS = np.random.default_rng().integers(0, 2**63, size=64, dtype=np.uint64) * np.uint64(2) + np.uint64(1)


def _id_keys(a: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each cell of ``a`` (bytes): equal cells, equal keys (unequal ones rarely)."""
    n, w = a.size, a.dtype.itemsize
    m = np.frombuffer(np.ascontiguousarray(a).tobytes(), dtype=np.uint8).reshape(n, w)
    key = np.full(n, w, dtype=np.uint64)
    for k in range(w):
        key += m[:, k].astype(np.uint64) * _ID_KEYS[k % _ID_KEYS.size] + np.uint64(k)
    return key


def _check_ids(t: Table) -> None:
    """A line list's ``id`` column (any case), where it has one, names each case once: its cells hashed a chunk at
    a time, and rows with equal keys compared as text; the first row that repeats an earlier one is named."""
    ids = [h for h in t.header if h.lower() == "id"]
    if not ids:
        return

    def cells() -> Iterator[tuple[int, np.ndarray]]:
        for first, (raw,) in t.chunks(ids[:1]):
            yield first, as_bytes(raw if raw.dtype.kind in "US" else raw.astype(str))

    keys = np.concatenate([_id_keys(a) for _, a in cells()])
    ordered = np.sort(keys)
    twice = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
    del ordered
    if not twice.size:
        return
    suspects = twice[np.minimum(np.searchsorted(twice, keys), twice.size - 1)] == keys
    del keys
    seen: dict[bytes, int] = {}
    for first, a in cells():
        for row in np.flatnonzero(suspects[first : first + a.size]).tolist():
            cell = bytes(a[row])
            if cell in seen:
                raise t.bad(
                    f"{t.pair(seen[cell], first + row)} have the same {t.label(ids[0])}: give each case one row"
                )
            seen[cell] = first + row


# --- the door -------------------------------------------------------------------------------------------


def read_incidence(
    source: str | os.PathLike[str] | pd.DataFrame,
    *,
    time: str | None = None,
    tick: str | None = None,
    columns: Sequence[str] | None = None,
    default_tick_seconds: int = DAY,
) -> Incidence:
    """Counts per tick from a table (see the module docstring for the rules).

    Args:
        source: a ``.csv``, ``.csv.gz`` or ``.parquet`` file, or a pandas DataFrame.
        time: the time column (None: the one named ``date``, ``time``, ``day``, ``tick`` or ``t``).
        tick: a tick's length (:func:`parse_duration`; None: ``default_tick_seconds``).
        columns: the count columns (None: every numeric one but the time columns and ``id``; empty: the file is
            a line list).
        default_tick_seconds: the tick when ``tick`` is None.

    Raises:
        BadFileError: a missing, unreadable, empty or malformed file, one past a bound; a time column that is not
            a time, mixes formats or is empty in a row; a count that is empty, not a number, negative or not
            whole; a series whose times repeat or go back; a line list with an id twice.
        BadParameterError: a bad ``tick``; no such column; no time column found, or two; a tick that splits no
            day evenly when the data are daily; more than :data:`MAX_TICKS` ticks; an unknown extension.
    """
    tick_seconds_of(tick, default_tick_seconds)  # a bad tick is told before the file is read
    named, span = split_time(time)
    t = _open(source, _AGORA_NAMES | {n for n in (time, named, *(columns or ())) if n})
    if time is not None and time in t.header:  # a column whose name holds a colon
        named, span = time, None
    col = time_column(t, named)
    times = parse_times(t, col)
    v = times.values
    if columns is None and bool((v[1:] <= v[:-1]).any()):  # times that repeat or go back: a line list
        counted, line_list = [], True
    else:
        counted = _count_columns(t, col, columns)
        line_list = not counted
    if not line_list:
        _check_order(t, v)
    reading = read_time(t, times, col, span, tick, default_tick_seconds, series=not line_list)
    at, n, res, labels, origin = ticks_of(t, times, reading)
    counts: dict[str, np.ndarray]
    rows = np.bincount(at, minlength=n)
    if line_list:
        del at, times, v  # a line list's rows are counted: what is left to check is its ids
        _check_ids(t)
        counts = {CASES: rows.astype(np.float64)}
    else:
        counts = {c: np.bincount(at, weights=_counts(t, c), minlength=n) for c in counted}
    return Incidence(
        ticks=np.arange(n, dtype=np.int64),
        counts=counts,
        labels=label_texts(labels),
        tick_seconds=reading.tick,
        origin=origin,
        line_list=line_list,
        resolution=res,
        time=col,
        rows=rows,
        unit_seconds=reading.unit,
        span_seconds=reading.span,
        reading=reading.text,
    )


def _open(source: Any, known: frozenset[str]) -> Table:
    """The table of a ``.csv``, ``.csv.gz`` or ``.parquet`` path, or of a DataFrame."""
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        lower = path.lower()
        if lower.endswith(".parquet"):
            return _parquet_table(path, known)
        if lower.endswith((".csv", ".csv.gz")):
            return _csv_table(path, known)
        raise BadParameterError(
            f"observation file {path!r} has an unknown extension: name it .csv, .csv.gz or .parquet",
            fields="observed",
        )
    if type(source).__name__ == "DataFrame":
        return _frame_table(source, known)
    raise BadParameterError(
        f"observed is a {type(source).__name__}: give a pandas DataFrame or the path of a file", fields="observed"
    )


@dataclass(frozen=True)
class TimedRows:
    """Rows with times (:func:`read_timed_rows`): each row's tick, the text of the named columns, and how a
    sentence names a row.

    Attributes:
        name: the source as a sentence names it (``observation file PATH``). ticks: int64 per row, from 0 (the
            earliest time). cells: column name -> each row's text, stripped (a missing cell is empty; a whole
            number stored as a number reads as its digits). tick_seconds, origin: as :class:`Incidence`'s.
    """

    name: str
    ticks: np.ndarray
    cells: dict[str, np.ndarray]
    tick_seconds: int
    origin: str | None
    table: Table

    def where(self, row: int) -> str:
        """Row ``row`` (from 0) as a sentence names it: ``line 7`` of a file, ``row 5`` of a DataFrame."""
        return self.table.where(row)

    def pair(self, a: int, b: int) -> str:
        """Rows ``a`` and ``b``: ``lines 4 and 9``."""
        return self.table.pair(a, b)

    def bad(self, row: int, text: str) -> BadFileError:
        """One sentence about row ``row``."""
        return self.table.at(row, text)

    def label(self, column: str) -> str:
        return self.table.label(column)

    def parents(self, keys: np.ndarray, parent_keys: np.ndarray, *, twice: str, orphan: str, own: str) -> np.ndarray:
        """Each row's parent row (-1 for a root, whose parent key is empty), the rows keyed by ``keys`` (text) and
        naming their parents' keys in ``parent_keys``; a parent's time is no later than its child's.

        Raises:
            BadFileError: two rows with one key (``twice`` completes "lines 4 and 9 have ..."), a parent key no row
                has (``orphan``), a row its own parent (``own``), a row whose time comes before its parent's.
        """
        k = keys.size
        distinct, first = np.unique(keys, return_index=True)
        if distinct.size < k:
            again = np.ones(k, dtype=bool)
            again[first] = False
            second = int(np.argmax(again))
            earlier = int(first[np.searchsorted(distinct, keys[second])])
            raise self.table.bad(f"{self.pair(earlier, second)} have {twice}")
        root = np.char.str_len(parent_keys) == 0
        pos = np.minimum(np.searchsorted(distinct, parent_keys), distinct.size - 1)
        missing = ~root & (distinct[pos] != parent_keys)
        if missing.any():
            raise self.bad(int(np.argmax(missing)), orphan)
        parent = np.where(root, -1, first[pos]).astype(np.int64)
        itself = parent == np.arange(k)
        if itself.any():
            raise self.bad(int(np.argmax(itself)), own)
        early = ~root & (self.ticks < self.ticks[np.maximum(parent, 0)])
        if early.any():
            row = int(np.argmax(early))
            raise self.bad(row, f"its time comes before its parent's ({self.where(int(parent[row]))})")
        return parent


def _text(raw: np.ndarray) -> np.ndarray:
    """A column as stripped text: whole floats as digits, NaN as empty (a DataFrame's missing parent)."""
    if raw.dtype.kind == "f":
        whole = np.isfinite(raw) & (raw == np.round(raw))
        out = np.where(whole, np.where(whole, raw, 0).astype(np.int64).astype(str), raw.astype(str))
        return np.where(np.isnan(raw), "", out)
    if raw.dtype.kind in "iu":
        return raw.astype(str)
    return np.char.strip(raw.astype(str))


def _timed_table(
    source: str | os.PathLike[str] | pd.DataFrame, columns: Sequence[str], time: str | None
) -> tuple[Table, str, Times]:
    """The table of timed rows, its time column's name and its times parsed (``columns`` checked present)."""
    named, _ = split_time(time)
    t = _open(source, _AGORA_NAMES | {"parent"} | {n for n in (time, named, *columns) if n})
    if time is not None and time in t.header:
        named = time
    for c in columns:
        if c not in t.header:
            raise t.bad(f"has no column {c[:60]!r}: give {', '.join(columns)} and a time column")
    col = time_column(t, named)
    return t, col, parse_times(t, col)


def read_timed_rows(
    source: str | os.PathLike[str] | pd.DataFrame,
    *,
    columns: Sequence[str],
    time: str | None = None,
    tick: str | None = None,
    default_tick_seconds: int = DAY,
) -> TimedRows:
    """Each row's tick and the text of ``columns`` (timestamped cascades ``id,parent,time``), the time column read
    and ticked as :func:`read_incidence` does (a row spanning several ticks sits at its first).

    Raises:
        BadFileError, BadParameterError: as :func:`read_incidence`'s for the file and its time; a column of
            ``columns`` missing.
    """
    tick_seconds_of(tick, default_tick_seconds)
    t, col, times = _timed_table(source, columns, time)
    reading = read_time(t, times, col, split_time(time)[1], tick, default_tick_seconds, series=False)
    at, _, _, _, origin = ticks_of(t, times, reading)
    return TimedRows(t.name, at, {c: _text(t.get(c)) for c in columns}, reading.tick, origin, t)


def read_timed_seconds(
    source: str | os.PathLike[str] | pd.DataFrame, *, columns: Sequence[str], time: str | None = None
) -> TimedRows:
    """As :func:`read_timed_rows`, each row's time in whole seconds since the earliest instead of a tick (whole
    numbers are seconds, dates midnights), for any span: no timeline of ticks is made (cascades of reshares whose
    last comes months after the first)."""
    t, _, times = _timed_table(source, columns, time)
    v = times.values * (DAY if times.kind in ("date", "week") else 1)
    return TimedRows(t.name, v - int(v.min()), {c: _text(t.get(c)) for c in columns}, 1, None, t)


__all__ = [
    "CASES",
    "DAY",
    "MAX_TICKS",
    "TIME_NAMES",
    "WEEK",
    "Incidence",
    "TimedRows",
    "format_duration",
    "parse_duration",
    "read_incidence",
    "read_timed_rows",
    "read_timed_seconds",
    "split_time",
    "tick_unit",
    "week_labels",
]
