"""Observation files for ``agora fit``: what was seen of a spread, read and checked.

Five layouts, told apart by the header (containers ``.csv``, ``.csv.gz`` and ``.parquet``, by the file name):

**Series, wide**: ``tick,COL1,COL2,...`` (``tick,S,I,R``, ``tick,new``), one row per tick, ticks increasing.

**Series, long**: ``run,tick,measure,value``, the ``--series`` file of ``agora run`` holding ONE run, pivoted
into one column per measure (every measure the file holds: states, ``reached``, ``new``, ``depth``,
``breadth``, variables' moments).

**Cascades with trees**: ``run,agent,source,tick,generation``, the ``--cascades`` file of ``agora run``; one
cascade per ``run``. Each cascade's size, depth (generations - 1), structural virality and number of roots
are those the engine reports for the run (its forest rebuilt by :func:`sim.core.cascade.forest_of_rows`).

**Cascade sizes**: ``size`` (or ``run,size``), one cascade per row.

**Adoption times**: ``id,tick``, the agents' ORIGINAL ids and the tick each adopted at (0: a seed); agents
not listed never adopted. Needs the world, to turn the ids into agents.

**Time as recorded** (any other header, a DataFrame, or ``time``/``tick``/``observe`` given;
:func:`read_recorded`): a table with a time column of whole numbers, ISO dates or timestamps, read by
:func:`sim.store.timeline.read_incidence` into counts per tick of ``tick`` (default: the world's minutes per
tick; a tick shorter than the file's rows is refused, as the fit compares tick by tick), its count columns
renamed to the measures ``observe`` maps them to; a line list (one row per case) counted into ``cases``; or,
with ``id`` and ``parent`` columns, timestamped cascades, one per root, measured as the engine measures a run's
forest.

Sweep files (grid-key columns before ``run``) are refused: keep one combination's rows and drop those
columns. Every problem is one sentence naming the file (and the line, for a bad row) and what to do:
:class:`~sim.errors.BadFileError` for an unreadable or malformed file, :class:`~sim.errors.BadParameterError`
for content the world contradicts (an unknown id) or an unusable path. Nothing is evaluated: cells are read
with the ``csv`` module and converted with ``int``/``float`` once they are known to be ASCII without ``_`` (those
read every script's digits, and ``1_000``).

**Bounded before it is read** (:mod:`sim.core.boundedio`): a regular file (a pipe, a device or a folder is one
sentence at once), at most 256 MiB of text with lines of at most 64 KiB, a gzip expansion of at most 100 times,
at most :data:`MAX_ROWS` rows; for Parquet, the rows, the columns' types and sizes from the footer before a
column is read. **Possible values only**: no tick past :data:`MAX_TICK` (a fit simulates at most
``--steps``' 1,000,000 ticks), counts of agents (states, ``reached``, ``new``, ``depth``, ``breadth``, cascade
sizes) from 0 to the world's agents, no agent its own source. **No file content in a message**: a line is named
by its number, a column by its name only where Agora knows the name (the layouts' columns, the series measures,
the fitted model's states), else by its place.
"""

from __future__ import annotations

import csv
import functools
import itertools
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.core.boundedio import GZIP_ERRORS, MAX_ROWS, Bounds, bounded_stream, bounded_text, check_regular
from sim.core.cascade import Forest, forest_of_rows
from sim.core.numbers import ascii_digits, ascii_int
from sim.core.world import World
from sim.errors import BadFileError, BadParameterError
from sim.model.imports import INCLUDED, local_of, split_imported
from sim.store.cascadeio import CASCADE_COLUMNS, read_cascades
from sim.store.observation import Observed as Observed
from sim.store.observation import ObservedCascades as ObservedCascades
from sim.store.observation import ObservedSeries as ObservedSeries
from sim.store.observation import ObservedTimes as ObservedTimes
from sim.store.seriesio import COLUMNS as SERIES_COLUMNS
from sim.store.seriesio import (
    READ_ERRORS,
    file_container,
    need_pyarrow,
    parquet_schema,
    read_parquet,
    read_series,
    unreadable,
)
from sim.store.timeline import CASES, TIME_NAMES, format_duration, read_incidence, read_timed_rows

if TYPE_CHECKING:
    import pandas as pd

#: The latest tick an observation may hold: a fit simulates ticks 0 .. MAX_TICK at most (``--steps`` is at most
#: 1,000,000), and a file's last tick sets its horizon, so a later one would ask for a run without bound.
MAX_TICK = 999_999
#: The measures every run's series has beside its model's states (``sim.runs.fit.summaries.SERIES_MEASURES``):
#: counts of agents, as the states are.
COUNT_MEASURES = ("reached", "new", "depth", "breadth")
#: Column names an error may show: those of the layouts (any other name is shown by its place in the header).
_LAYOUT_NAMES = frozenset(("tick", "run", "measure", "value", "size", "id", *CASCADE_COLUMNS, *COUNT_MEASURES))
#: What errors tell the user to give.
_GIVE = "a file (.csv, .csv.gz or .parquet)"
#: Rows converted at a time when reading a CSV body (bounds the memory of the Python cells).
_CHUNK_ROWS = 1 << 18
#: The layouts, as the message for an unknown header lists them.
_LAYOUTS = (
    "tick,MEASURE,... (a series), run,tick,measure,value (the series file of agora run), "
    "run,agent,source,tick,generation (its cascades file), size or run,size (cascade sizes) "
    "or id,tick (adoption times)"
)


# --- where a file's rows are --------------------------------------------------------------------------


@dataclass(frozen=True)
class _File:
    """An observation file: its path and container (``csv``, ``csv.gz`` or ``parquet``); ``known``: the
    column and measure names its errors may show."""

    path: str
    container: str
    known: frozenset[str] = _LAYOUT_NAMES
    counts: frozenset[str] = frozenset(COUNT_MEASURES)

    def bad(self, what: str) -> BadFileError:
        return BadFileError(f"observation file {self.path} {what}")

    def open_text(self) -> Any:
        """The file's text, read within bounds (:mod:`sim.core.boundedio`)."""
        return bounded_text(
            self.path, "observation file", _GIVE, gz=self.container == "csv.gz", bounds=Bounds(rows=MAX_ROWS)
        )

    def label(self, name: str, column: int) -> str:
        """``name`` where Agora knows it, else the column's place (1-based): never a header's unknown text."""
        return name if name in self.known else f"column {column}"

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """The CSV rows after the header, each with the line it starts on; blank lines are skipped."""
        with self.open_text() as fh:
            reader = csv.reader(fh)
            next(reader, None)
            start = reader.line_num
            for row in reader:
                line = start + 1
                start = reader.line_num
                if row:
                    yield line, row

    def where(self, row: int) -> str:
        """``line L`` of a CSV's ``row``-th data row (0-based, blank lines skipped), ``row R`` of Parquet's."""
        if self.container == "parquet":
            return f"row {row + 1}"
        for i, (line, _) in enumerate(self.rows()):
            if i == row:
                return f"line {line}"
        return f"row {row + 1}"  # pragma: no cover - the row was read from this file

    def at(self, row: int, what: str) -> BadFileError:
        return self.bad(f"{self.where(row)}: {what}")


def _opened(path: str, states: tuple[str, ...]) -> _File:
    """The file at ``path``, checked to be a regular file, opened without blocking (and pyarrow there for
    Parquet); ``states``: the fitted model's states (counts of agents, and names errors may show)."""
    container = file_container(path, "observation file")
    if container == "parquet":
        need_pyarrow("reading")
    check_regular(path, "observation file", _GIVE)
    return _File(path, container, _LAYOUT_NAMES | set(states), frozenset((*COUNT_MEASURES, *states)))


def _too_many(f: _File) -> BadFileError:
    return f.bad(f"has more than {MAX_ROWS:,} rows: Agora reads at most that many, so keep a part of it")


def _header_and_size(f: _File) -> list[str]:
    """The header's cells (stripped), after checking the whole file within bounds (:mod:`sim.core.boundedio`)
    in one streaming pass that keeps nothing, so a file past a bound costs a chunk of memory; for Parquet, from
    its footer (rows, columns) alone."""
    if f.container == "parquet":
        _, names, _, rows = parquet_schema(f.path, "observation file", _GIVE)
        if rows > MAX_ROWS:
            raise _too_many(f)
        return [n.strip() for n in names]
    gz = f.container == "csv.gz"
    try:
        with bounded_stream(f.path, "observation file", _GIVE, gz=gz, bounds=Bounds(rows=MAX_ROWS)) as raw:
            while raw.read(1 << 20):
                pass
        with f.open_text() as fh:
            for row in csv.reader(fh):
                if row:
                    return [c.strip() for c in row]
    except GZIP_ERRORS:  # a damaged gzip stream (or, rarely, a disk's read error)
        raise f.bad(f"{'is not a complete gzip file' if gz else 'cannot be read'}: give {_GIVE}") from None
    raise f.bad(f"is empty: give a header ({_LAYOUTS}) and rows")


# --- reading numbers ------------------------------------------------------------------------------------

#: What a column holds: whole numbers (int64) or numbers (float64).
_NOUN = {"int": "a whole number", "float": "a number"}


def _convert(cells: tuple[str, ...] | list[str], kind: str) -> np.ndarray:
    """Cells as int64 or float64, in bulk; ValueError for a cell that is not a number written in ASCII (Python's
    ``int`` and ``float`` read every script's digits and ``1_000``: those are refused first, for all the cells at
    once, as the rare cell where ``int`` or ``float`` reads what :mod:`sim.core.numbers` would not)."""
    joined = "".join(cells)
    if not joined.isascii() or "_" in joined:
        raise ValueError
    if kind == "int":
        return np.fromiter(map(int, cells), dtype=np.int64, count=len(cells))
    return np.fromiter(map(float, cells), dtype=np.float64, count=len(cells))


def _checked_row(f: _File, line: int, row: list[str], names: list[str], kinds: list[str]) -> None:
    """Raise for the first cell of ``row`` that is not what its column holds (the cell is not quoted)."""
    if len(row) != len(names):
        raise f.bad(f"line {line}: {len(row)} fields where the header has {len(names)}")
    for j, (cell, name, kind) in enumerate(zip(row, names, kinds)):
        try:
            _convert([cell], kind)
        except (ValueError, OverflowError):
            noun = _NOUN[kind] + (" (a 64-bit integer)" if kind == "int" and ascii_int(cell) is not None else "")
            noun += "" if ascii_digits(cell) else " in ASCII digits"
            raise f.bad(f"line {line}: {f.label(name, j + 1)} is not {noun}") from None


def _csv_numbers(f: _File, names: list[str], kinds: list[str]) -> list[np.ndarray]:
    """The body of a CSV as one array per column, converted in chunks (any bad cell is named by its line)."""
    parts: list[list[np.ndarray]] = [[] for _ in names]
    try:
        with f.open_text() as fh:
            reader = csv.reader(fh)
            next(reader, None)
            while raw := list(itertools.islice(reader, _CHUNK_ROWS)):
                block = [r for r in raw if r]
                if not block:
                    continue
                try:
                    if any(len(r) != len(names) for r in block):
                        raise ValueError
                    cols = list(zip(*block))
                    for j, kind in enumerate(kinds):
                        parts[j].append(_convert(cols[j], kind))
                except (ValueError, OverflowError):
                    for line, row in f.rows():  # again, row by row, to name the line
                        _checked_row(f, line, row, names, kinds)
                    raise  # pragma: no cover - the row-by-row pass found what failed
    except READ_ERRORS as exc:
        raise f.bad(f"{unreadable(exc)}: give a CSV file") from None
    dtypes = {"int": np.int64, "float": np.float64}
    return [np.concatenate(p) if p else np.empty(0, dtype=dtypes[k]) for p, k in zip(parts, kinds)]


def _parquet_numbers(f: _File, names: list[str], kinds: list[str]) -> list[np.ndarray]:
    """The named columns of a Parquet file as arrays (whole numbers where ``int``; no missing value); their
    types are checked from the footer before any is read."""
    pa, have, types, _ = parquet_schema(f.path, "observation file", _GIVE)
    for j, (name, kind) in enumerate(zip(names, kinds)):
        typ = types[have.index(name)]
        if not (pa.types.is_integer(typ) or (kind == "float" and pa.types.is_floating(typ))):
            noun = "numbers" if kind == "float" else "whole numbers"
            raise f.bad(f"column {name if name in f.known else j + 1} holds {typ} where {noun} are expected")
    _, table = read_parquet(f.path, "observation file", "", names, rows=MAX_ROWS, give=_GIVE, named=tuple(f.known))
    out = []
    for j, (name, kind) in enumerate(zip(names, kinds)):
        col = table.column(name)
        if col.null_count:
            row = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
            raise f.at(row, f"{f.label(name, j + 1)} is missing")
        values = col.to_numpy(zero_copy_only=False)
        if kind == "int" and values.dtype.kind == "u" and values.size and int(values.max()) >= 2**63:
            row = int(np.argmax(values >= 2**63))
            raise f.at(row, f"{f.label(name, j + 1)} {int(values[row])} is not a whole number (a 64-bit integer)")
        out.append(np.asarray(values, dtype=np.int64 if kind == "int" else np.float64))
    return out


def _numbers(f: _File, names: list[str], kinds: list[str]) -> list[np.ndarray]:
    if f.container == "parquet":
        return _parquet_numbers(f, names, kinds)
    return _csv_numbers(f, names, kinds)


def _check_finite(f: _File, values: np.ndarray, label: str) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.argmax(bad))
        raise f.at(row, f"{label} is {float(values[row])!r}: every value must be a finite number")


def _agents(world: World | None) -> int | None:
    return None if world is None else int(world.n)


def _check_count(
    f: _File, values: np.ndarray, label: Callable[[int], str], agents: int | None, rows: np.ndarray | None = None
) -> None:
    """Counts of agents (a state's, ``reached``, ``new``, a cascade's size): from 0 to the world's ``agents``
    (when known). ``label(i)`` names value ``i``'s column; ``rows``: each value's row in the file (ascending),
    where they are not all of its rows."""
    if not values.size:
        return
    low = values < 0
    high = values > agents if agents is not None else np.zeros(values.size, dtype=bool)
    wrong = np.flatnonzero(low | high)
    if not wrong.size:
        return
    i = int(wrong[0])
    row = i if rows is None else int(rows[i])
    value = float(values[i])
    shown = f"{int(value):,}" if value.is_integer() and abs(value) < 1e15 else f"{value:g}"
    if low[i]:
        raise f.at(row, f"{label(i)} is {shown}, below 0: a count of agents is never negative")
    raise f.at(
        row, f"{label(i)} is {shown}, more than the world's {agents:,} agents: give the observations of this world"
    )


def _check_last_tick(f: _File, ticks: np.ndarray, rows: np.ndarray | None = None) -> None:
    """No tick past :data:`MAX_TICK` (a fit's horizon is the file's last tick)."""
    late = np.flatnonzero(ticks > MAX_TICK)
    if late.size:
        i = int(late[0]) if rows is None else int(late[np.argmin(rows[late])])
        raise f.at(
            i if rows is None else int(rows[i]),
            f"tick {int(ticks[i])} is past tick {MAX_TICK:,}, the last a fit simulates (its runs take at most "
            f"{MAX_TICK + 1:,} ticks): keep the rows up to it",
        )


def _check_tick_range(f: _File, ticks: np.ndarray) -> None:
    """Ticks (at least one) from 0 to :data:`MAX_TICK`: the first row out of range is refused."""
    if int(ticks.min()) < 0:
        row = int(np.argmax(ticks < 0))
        raise f.at(row, f"tick {int(ticks[row])} is negative: ticks count from 0 (the seeding)")
    _check_last_tick(f, ticks)


def _check_ticks(f: _File, ticks: np.ndarray, strictly: bool) -> None:
    """Ticks from 0 to :data:`MAX_TICK`, in order (increasing when ``strictly``, else never decreasing)."""
    if not ticks.size:
        raise f.bad("has a header but no rows: give at least one row")
    _check_tick_range(f, ticks)
    step = np.diff(ticks)
    wrong = step <= 0 if strictly else step < 0
    if wrong.any():
        row = int(np.argmax(wrong)) + 1
        if step[row - 1] == 0:
            raise f.at(row, f"tick {int(ticks[row])} is repeated: give one row per tick")
        raise f.at(row, f"tick {int(ticks[row])} comes after tick {int(ticks[row - 1])}: ticks must increase")


# --- the layouts ----------------------------------------------------------------------------------------


def _same(label: str, _: int) -> str:
    return label


def _wide_series(f: _File, header: list[str], agents: int | None) -> ObservedSeries:
    names = header[1:]
    if any(not n for n in names) or len(set(header)) != len(header):
        raise f.bad("line 1: the measure columns after tick must have distinct, non-empty names")
    cols = _numbers(f, header, ["int"] + ["float"] * len(names))
    ticks = cols[0]
    _check_ticks(f, ticks, strictly=True)
    for j, (name, values) in enumerate(zip(names, cols[1:])):
        label = f.label(name, j + 2)
        _check_finite(f, values, label)
        if name in f.counts:
            _check_count(f, values, functools.partial(_same, label), agents)
    return ObservedSeries(f.path, ticks, dict(zip(names, cols[1:])))


def _long_series(f: _File, agents: int | None) -> ObservedSeries:
    table = read_series(f.path)
    if not len(table):
        raise f.bad("has a header but no rows: give the series file of a run (agora run's series option)")
    runs = np.unique(table.run)
    if runs.size > 1:
        listed = ", ".join(map(str, runs[:5].tolist())) + (", ..." if runs.size > 5 else "")
        raise f.bad(f"holds {runs.size} runs (run {listed}): keep the rows of one run")
    ticks = table.tick
    _check_ticks(f, ticks, strictly=False)
    _check_finite(f, table.value, "value")
    names = table.measures()
    counted = [m for m in names if m in f.counts]
    if counted:
        rows = np.flatnonzero(np.isin(table.measure, counted))
        _check_count(f, table.value[rows], lambda i: str(table.measure[rows[i]]), agents, rows)
    code = {m: i for i, m in enumerate(names)}
    measure = np.fromiter(map(code.__getitem__, table.measure.tolist()), dtype=np.int64, count=len(table))
    distinct, at = np.unique(ticks, return_inverse=True)
    key = at.reshape(-1) * len(names) + measure
    seen, first = np.unique(key, return_index=True)
    if seen.size < key.size:
        repeated = np.ones(key.size, dtype=bool)
        repeated[first] = False
        row = int(np.argmax(repeated))
        shown = _measure(f, str(table.measure[row]))
        raise f.at(row, f"{shown} at tick {int(ticks[row])} is repeated: keep one value")
    if seen.size < distinct.size * len(names):
        have = np.zeros(distinct.size * len(names), dtype=bool)
        have[seen] = True
        gap = int(np.argmax(~have))
        raise f.bad(
            f"has no value of {_measure(f, names[gap % len(names)])} at tick {int(distinct[gap // len(names)])}: "
            "every tick needs every measure"
        )
    flat = np.empty(distinct.size * len(names), dtype=np.float64)
    flat[key] = table.value
    grid = flat.reshape(distinct.size, len(names))
    return ObservedSeries(f.path, distinct.astype(np.int64), {m: grid[:, j].copy() for j, m in enumerate(names)})


def _measure(f: _File, name: str) -> str:
    """``measure NAME`` where Agora knows the name, else the measure's place among the file's (never its text)."""
    return f"measure {name}" if name in f.known else "a measure"


def _cascade_trees(f: _File, world: World | None) -> ObservedCascades:
    table = read_cascades(f.path)
    rows = len(table)
    if not rows:
        raise f.bad("has a header but no rows: give the cascades file of a run (agora run's cascades option)")
    for name, values in (("tick", table.tick), ("generation", table.generation)):
        if values.size and int(values.min()) < 0:
            row = int(np.argmax(values < 0))
            raise f.at(row, f"{name} {int(values[row])} is negative")
    _check_last_tick(f, table.tick)
    itself = np.flatnonzero(~table.root & (table.source == table.agent))
    if itself.size:
        row = int(itself[0])
        raise f.at(
            row,
            f"agent {int(table.agent[row])} is its own source: no agent adopts from itself (a root's source is empty)",
        )
    order = np.lexsort((table.agent, table.run))
    run_sorted, agent_sorted = table.run[order], table.agent[order]
    twice = (np.diff(run_sorted) == 0) & (np.diff(agent_sorted) == 0)
    if twice.any():
        row = int(order[int(np.argmax(twice)) + 1])
        raise f.at(row, f"agent {int(table.agent[row])} is listed twice in run {int(table.run[row])}")
    index = _known_ids(f, world, table.agent) if world is not None else None
    runs, start = np.unique(run_sorted, return_index=True)
    bounds = np.append(start, run_sorted.size)
    sizes = np.diff(bounds).astype(np.int64)
    depth = np.empty(runs.size, dtype=np.int64)
    virality = np.empty(runs.size, dtype=np.float64)
    roots = np.empty(runs.size, dtype=np.int64)
    times: list[ObservedTimes] = []
    for i in range(runs.size):
        part = order[bounds[i] : bounds[i + 1]]
        forest, _ = forest_of_rows(table.agent[part], table.source[part], table.root[part], table.tick[part])
        report = forest.measures()
        depth[i], virality[i], roots[i] = report["depth"], report["structural_virality"], report["trees"]
        if index is not None:
            times.append(ObservedTimes(f.path, index[part], table.tick[part].astype(np.int64)))
    return ObservedCascades(f.path, sizes, depth, virality, roots, tuple(times) if index is not None else None)


def _first_repeat(values: np.ndarray) -> int | None:
    """The first row whose value an earlier row has already, or None."""
    _, first = np.unique(values, return_index=True)
    if first.size == values.size:
        return None
    again = np.ones(values.size, dtype=bool)
    again[first] = False
    return int(np.argmax(again))


def _cascade_sizes(f: _File, header: list[str], agents: int | None) -> ObservedCascades:
    cols = _numbers(f, header, ["int"] * len(header))
    sizes = cols[-1]
    if not sizes.size:
        raise f.bad("has a header but no rows: give one cascade size per row")
    if int(sizes.min()) < 1:
        row = int(np.argmax(sizes < 1))
        raise f.at(row, f"size {int(sizes[row])} is below 1: a cascade holds at least its seed")
    _check_count(f, sizes, functools.partial(_same, "size"), agents)
    if len(cols) == 2:
        run = cols[0]
        if int(run.min()) < 0:
            row = int(np.argmax(run < 0))
            raise f.at(row, f"run {int(run[row])} is negative")
        again = _first_repeat(run)
        if again is not None:
            raise f.at(again, f"run {int(run[again])} is listed twice: give one size per run")
        sizes = sizes[np.argsort(run, kind="stable")]
    return ObservedCascades(f.path, sizes, None, None, None)


def _known_ids(f: _File, world: World, ids: np.ndarray) -> np.ndarray:
    """The internal indices of original ``ids``; the first unknown one (in file order) is named."""
    known = np.asarray(world.columns["ids"])
    if not known.size:
        raise BadParameterError(f"observation file {f.path} names agents, but the world has none")
    at = np.minimum(np.searchsorted(known, ids), known.size - 1)
    bad = known[at] != ids
    if bad.any():
        row = int(np.argmax(bad))
        raise BadParameterError(
            f"observation file {f.path} {f.where(row)}: no agent has id {int(ids[row])} in this world "
            f"(its ids run from {int(known[0])} to {int(known[-1])}): give the world the observations come from"
        )
    return at.astype(np.int64)


def _adoption_times(f: _File, header: list[str], world: World | None) -> ObservedTimes:
    if world is None:
        raise BadParameterError(
            f"observation file {f.path} holds adoption times by agent id (id,tick): give the world they happened in"
        )
    ids, ticks = _numbers(f, header, ["int", "int"])
    if not ids.size:
        raise f.bad("has a header but no rows: give one row per adopted agent, the seeds with tick 0")
    _check_tick_range(f, ticks)
    twice = _first_repeat(ids)
    if twice is not None:
        earlier = int(np.argmax(ids == ids[twice]))
        raise f.bad(
            f"lists agent id {int(ids[twice])} twice ({f.where(earlier)} and {f.where(twice)}): "
            "give each agent's first adoption once"
        )
    if not np.any(ticks == 0):
        raise f.bad("has no row with tick 0: list the seeds (the agents that adopted at the start) with tick 0")
    return ObservedTimes(f.path, _known_ids(f, world, ids), ticks)


def read_observed(
    path: str | os.PathLike[str] | pd.DataFrame,
    world: World | None = None,
    states: tuple[str, ...] = (),
    *,
    time: str | None = None,
    tick: str | None = None,
    observe: Sequence[tuple[str, str]] = (),
    people: int | None = None,
    imported: str | None = None,
) -> Observed:
    """Read and check an observation file (see the module docstring for the layouts and bounds).

    Args:
        path: a ``.csv``, ``.csv.gz`` or ``.parquet`` file.
        imported: the column of imported cases (a fit's ``imported``: ``COLUMN``, or ``COLUMN:included`` where the
            observed cases count them too), read into :attr:`ObservedSeries.imported`; a table recorded in its own
            time only.
        people: the population the world's agents stand for (a fit's ``people``): counts are bounded by it
            instead of the world's agents.
        world: the world the observations come from; needed for adoption times (ids become agents), and
            checks a cascades file's agent ids and every count of agents (no more than it has) when given.
        states: the state names of the model to fit: their columns are counts of agents (as ``reached``,
            ``new``, ``depth`` and ``breadth`` are), and errors may name them.

        time, tick, observe: the time column, a tick's length and ``(column, measure)`` pairs of a file recorded
            in its own time (see "Time as recorded" in the module docstring): given, or a DataFrame, or a header
            that is none of the layouts above, the file is read by :mod:`sim.store.timeline`.

    Returns:
        An :class:`ObservedSeries`, :class:`ObservedCascades` or :class:`ObservedTimes`, by the header.

    Raises:
        BadFileError: a missing, unreadable, empty or malformed file, not a regular file (a pipe, a device,
            a folder), one past a bound (bytes, a line's length, :data:`MAX_ROWS` rows, gzip expansion; a
            Parquet file's rows, types or sizes), an unknown header, a bad cell (its line named), ticks out of
            order, repeated or past :data:`MAX_TICK`, a negative tick, a count of agents below 0 or above the
            world's agents, a size below 1, NaN or infinite values, an id listed twice, an agent its own
            source, adoption times without a seed (tick 0), a sweep's file or several runs where one is read.
        BadParameterError: an unknown extension, Parquet without pyarrow, adoption times without a world, an
            id the world does not have.
    """
    recorded = time is not None or tick is not None or bool(observe) or imported is not None
    if not isinstance(path, (str, os.PathLike)):
        return read_recorded(
            path, world, tuple(states), time=time, tick=tick, observe=observe, people=people, imported=imported
        )
    f = _opened(os.fspath(path), tuple(states))
    try:
        header = _header_and_size(f)
    except READ_ERRORS as exc:
        raise f.bad(f"{unreadable(exc)}: give a CSV file") from None
    agents = _agents(world)
    lower = [h.lower() for h in header]
    if recorded or not _is_layout(header, lower):
        if not recorded and not set(lower) & set(TIME_NAMES):
            raise BadFileError(
                f"observation file {f.path} line 1: the header is not one Agora reads: give {_LAYOUTS}; or give "
                "time, the column of time of a table recorded in its own time",
                fields="time",
            )
        return _recorded(
            f.path,
            header,
            world,
            tuple(states),
            time=time,
            tick=tick,
            observe=observe,
            people=people,
            imported=imported,
        )
    for own, writer in ((SERIES_COLUMNS, "series"), (CASCADE_COLUMNS, "cascades")):
        if tuple(header[-len(own) :]) == own:
            if len(header) > len(own):
                keys = len(header) - len(own)
                raise f.bad(
                    f"has {keys} grid-key column{'s' if keys > 1 else ''} before run, as the {writer} file of agora "
                    "sweep has: keep the rows of one combination and drop those columns"
                )
            return _long_series(f, agents) if own == SERIES_COLUMNS else _cascade_trees(f, world)
    if lower in (["size"], ["run", "size"]):
        return _cascade_sizes(f, lower, agents)
    if lower == ["id", "tick"]:
        return _adoption_times(f, lower, world)
    if lower[-2:] == ["size", "ccdf"]:
        raise f.bad(
            "is a size distribution (agora run's ccdf file): give its cascades file, or one cascade size per row (size)"
        )
    return _wide_series(f, ["tick", *header[1:]], agents)


# --- time as recorded ----------------------------------------------------------------------------------

#: Measures that are levels (a count of agents at a tick), not counts of events in a tick: summing two rows of
#: one tick, or reading a missing row as 0, would be wrong for them.
LEVELS = ("reached", "depth", "breadth")


def _source_name(source: Any) -> str:
    """How a fit names its observation: the path, or ``(a DataFrame)``."""
    return os.fspath(source) if isinstance(source, (str, os.PathLike)) else "(a DataFrame)"


def _world_tick(world: World | None) -> int:
    """The world's tick in seconds (its minutes per tick; 10 minutes when there is no world)."""
    minutes = 10 if world is None else int(world.config.get("minutes_per_tick", 10))
    return max(1, minutes) * 60


def read_recorded(
    source: str | os.PathLike[str] | pd.DataFrame,
    world: World | None = None,
    states: tuple[str, ...] = (),
    *,
    time: str | None = None,
    tick: str | None = None,
    observe: Sequence[tuple[str, str]] = (),
    people: int | None = None,
    imported: str | None = None,
    default_tick_seconds: int | None = None,
) -> ObservedSeries | ObservedCascades:
    """A table recorded in its own time (a file or a DataFrame): counts over time or a line list, read by
    :func:`sim.store.timeline.read_incidence`, as a series of the measures ``observe`` maps its columns to
    (``cases=onsets``; without it, the columns keep their names); or, with ``id`` and ``parent`` columns,
    timestamped cascades (:func:`_timed_cascades`). ``tick``: how long one tick of the fit lasts (None:
    ``default_tick_seconds``, whose default is the world's minutes per tick).

    Raises:
        BadParameterError: a tick shorter than the file's rows (daily data on a world of 10-minute ticks: give
            tick 1d), a measure observed twice, and what :func:`read_incidence` raises.
        BadFileError: what :func:`read_incidence` raises; a level (a state, ``reached``) summed over rows of
            one tick; a count of agents above the world's.
    """
    return _recorded(
        source,
        recorded_header(source, states),
        world,
        states,
        time=time,
        tick=tick,
        observe=observe,
        people=people,
        imported=imported,
        default_tick_seconds=default_tick_seconds,
    )


def recorded_header(source: str | os.PathLike[str] | pd.DataFrame, states: tuple[str, ...] = ()) -> list[str]:
    """The column names of a table :func:`read_recorded` reads (a file's header, checked against the bounds).

    Raises:
        BadFileError: a missing, unreadable or too large file; a malformed header.
    """
    if isinstance(source, (str, os.PathLike)):
        return _header_and_size(_opened(os.fspath(source), states))
    return [str(c) for c in source.columns]


def _recorded(
    source: str | os.PathLike[str] | pd.DataFrame,
    header: list[str],
    world: World | None,
    states: tuple[str, ...],
    *,
    time: str | None,
    tick: str | None,
    observe: Sequence[tuple[str, str]],
    people: int | None = None,
    imported: str | None = None,
    default_tick_seconds: int | None = None,
) -> ObservedSeries | ObservedCascades:
    """:func:`read_recorded` of a source whose header is read (and whose bounds are checked) already."""
    name = _source_name(source)
    default = _world_tick(world) if default_tick_seconds is None else default_tick_seconds
    lower = {h.lower(): h for h in header}
    column, included = split_imported(imported)
    if "id" in lower and "parent" in lower and not observe:
        if column is not None:
            raise BadParameterError(
                "imported names a column of imported cases, and this observation is timestamped cascades: give a "
                "curve of counts (a time column, the cases and the imported cases)",
                fields="imported",
            )
        return _timed_cascades(source, name, (lower["id"], lower["parent"]), time, tick, default)
    measures = [m for _, m in observe]
    twice = next((m for i, m in enumerate(measures) if m in measures[:i]), None)
    if twice is not None:
        raise BadParameterError(
            f"observe maps two columns to measure {twice}: map one column to each", fields="observe"
        )
    counted: Sequence[str] | None = [c for c, _ in observe] or None
    if counted == [CASES] and CASES not in header:  # a line list's count of cases
        counted = ()
    if column is not None:
        counted = _with_imported(column, observe, header, name, counted)
    inc = read_incidence(source, time=time, tick=tick, columns=counted, default_tick_seconds=default)
    came = None
    if column is not None:
        came = _imported_counts(inc, column, name, included)
    where = f"observation file {name}" if name != "(a DataFrame)" else "observation table (a DataFrame)"
    rename_first = dict(observe)
    all_levels = all(rename_first.get(c, c) in states or rename_first.get(c, c) in LEVELS for c in inc.counts)
    if inc.resolution > 1 and not (all_levels and not inc.line_list):
        # A count of events (new cases) per row would be compared with one tick's; a level (agents in I at a
        # time) is compared at its row's tick, whatever the rows' spacing.
        unit = format_duration(inc.resolution * inc.tick_seconds)
        whose = "as given" if tick is not None else "the world's minutes per tick"
        raise BadParameterError(
            f"give tick {unit} or longer: each row of {where} counts {'a day' if unit == '1d' else unit}, and the "
            f"fit's ticks last {format_duration(inc.tick_seconds)} ({whose}), so each would be compared with a whole "
            f"row's count (with {unit}, the fitted rates are per {'day' if unit == '1d' else unit})",
            fields="tick",
        )
    rename = dict(observe)
    columns = {rename.get(c, c): v for c, v in inc.counts.items()}
    rows = inc.rows if inc.rows is not None else np.ones(inc.ticks.size, dtype=np.int64)
    keep = np.ones(inc.ticks.size, dtype=bool) if inc.line_list else rows > 0
    levels = [m for m in columns if m in states or m in LEVELS]
    if levels and int(rows.max()) > 1:
        at = int(np.argmax(rows > 1))
        raise BadFileError(
            f"{where} has {int(rows[at])} rows in tick {inc.labels[at]}, and {levels[0]} is a count of agents at a "
            f"tick, not of events: give a tick of one row each"
        )
    agents = people if people is not None else _agents(world)
    for m in [m for m in columns if m in states or m in COUNT_MEASURES] if agents is not None else ():
        over = np.flatnonzero(columns[m] > agents)
        if over.size:
            at = int(over[0])
            raise BadFileError(
                f"{where} has {int(columns[m][at]):,} for {m} in tick {inc.labels[at]}, more than "
                + (
                    f"the {agents:,} people the world stands for: give a larger people"
                    if people is not None
                    else f"the world's {agents:,} agents: give the observations of this world, or the population it "
                    "stands for (people)"
                )
            )
    recorded: dict[str, Any] = {
        "time": inc.time,
        "tick": format_duration(inc.tick_seconds),
        "first": inc.labels[0],
        "last": inc.labels[-1],
        "origin": inc.origin,
        "line_list": inc.line_list,
        "observe": {c: rename.get(c, c) for c in inc.counts},
        "reading": inc.reading,
        "span": None if inc.span_seconds is None else format_duration(inc.span_seconds),
    }
    if came is not None:
        recorded["imported"] = {"column": column, "included": included, "total": int(came.sum())}
    kept = {m: v[keep] for m, v in columns.items()}
    return ObservedSeries(name, inc.ticks[keep], kept, recorded, came, tuple(inc.labels), int(inc.tick_seconds))


def _with_imported(
    column: str, observe: Sequence[tuple[str, str]], header: list[str], name: str, counted: Sequence[str] | None
) -> Sequence[str] | None:
    """The columns to read (``counted``; None: every count column) with the imported cases' ``column``, checked: a
    column of the table, and none that ``observe`` compares with the simulation."""
    if column in [c for c, _ in observe]:
        raise BadParameterError(
            f"imported names column {column[:60]!r}, which observe maps to a measure: the imported cases are not "
            "compared with the simulation; name the cases' own column in observe",
            fields="imported",
        )
    if column not in header:
        where = "observation file " + name if name != "(a DataFrame)" else "the table"
        raise BadParameterError(
            f"imported names no column of {where}: its columns are {', '.join(header)[:200]}", fields="imported"
        )
    return None if counted is None else [*counted, column]


def _imported_counts(inc: Any, column: str, name: str, included: bool) -> np.ndarray:
    """The imported cases of ``inc`` (read by :func:`read_incidence`) at every tick from 0 to the last (int64),
    taken out of ``inc``'s counts, and, where ``included``, out of the one observed column of cases.

    Raises:
        BadFileError: an imported count that is no whole number, or (``included``) above the cases of its tick.
        BadParameterError: ``included`` beside several observed columns.
    """
    where = f"observation file {name}" if name != "(a DataFrame)" else "observation table (a DataFrame)"
    values = inc.counts.pop(column)
    whole = np.floor(values)
    bad = np.flatnonzero((whole != values) | (values < 0))
    if bad.size:
        at = int(bad[0])
        raise BadFileError(
            f"{where} has {values[at]:g} imported cases (column {column}) in tick {inc.labels[at]}: imported cases are "
            "whole numbers from 0 up"
        )
    if included:
        if len(inc.counts) != 1:
            raise BadParameterError(
                f"imported {column}{INCLUDED} takes the imported cases out of the column of cases, and "
                f"{len(inc.counts)} columns are observed: observe the cases' column alone",
                fields="imported",
            )
        cases_name = next(iter(inc.counts))
        cases = inc.counts[cases_name]
        inc.counts[cases_name] = local_of(cases, values, inc.labels, where, (cases_name, column))
    dense = np.zeros(int(inc.ticks.max()) + 1 if inc.ticks.size else 0, dtype=np.int64)
    np.add.at(dense, inc.ticks, whole.astype(np.int64))
    return dense


def _timed_cascades(
    source: Any, name: str, id_parent: tuple[str, str], time: str | None, tick: str | None, default: int
) -> ObservedCascades:
    """Timestamped cascades (``id,parent,time``; an empty parent: a root): one cascade per root, its size, depth
    and structural virality as the engine reports a run's (:class:`sim.core.cascade.Forest`), every row's tick
    from the earliest time. A parent must have a row of its own, and a time no later than its child's."""
    rows = read_timed_rows(source, columns=id_parent, time=time, tick=tick, default_tick_seconds=default)
    ids, parents = rows.cells[id_parent[0]], rows.cells[id_parent[1]]
    k = ids.size
    if not k:
        raise rows.table.bad("has a header but no rows: give one row per adoption (id, parent, time)")
    if (np.char.str_len(ids) == 0).any():
        raise rows.bad(int(np.argmax(np.char.str_len(ids) == 0)), f"{rows.label(id_parent[0])} is empty")
    parent = rows.parents(  # each row's parent row
        ids,
        parents,
        twice=f"the same {rows.label(id_parent[0])}: give each once",
        orphan=f"its {rows.label(id_parent[1])} has no row: give every parent a row of its own",
        own="is its own parent: a root's parent is empty",
    )
    generation = _generations(parent)
    if generation is None:
        raise rows.table.bad("has a cycle of parents: every cascade starts at a row without a parent")
    forest = Forest.build(generation, np.maximum(parent, 0))
    sizes = forest.tree_sizes().astype(np.int64)
    depth = np.zeros(forest.trees, dtype=np.int64)
    np.maximum.at(depth, forest.tree, forest.generation)
    sub, tree = forest.subtree.astype(np.float64), forest.tree
    wiener = np.bincount(tree, weights=sub * (sub[tree] - sub), minlength=forest.trees)
    n = sizes.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        virality = np.where(sizes >= 2, 2.0 * wiener / (n * (n - 1.0)), 0.0)
    return ObservedCascades(name, sizes, depth, virality, np.ones(forest.trees, dtype=np.int64))


def _generations(parent: np.ndarray) -> np.ndarray | None:
    """Each row's generation (0 for a root) by pointer jumping (about log2 of the depth rounds of numpy); None
    where the parents form a cycle."""
    up = parent.copy()
    dist = (parent >= 0).astype(np.int64)
    for _ in range(int(parent.size).bit_length() + 1):
        live = np.flatnonzero(up >= 0)
        if not live.size:
            return dist
        nxt = up[live]
        dist[live] += dist[nxt]
        up[live] = up[nxt]
    return None


def _is_layout(header: list[str], lower: list[str]) -> bool:
    """Whether the header is one of Agora's own layouts (else the file is read in its own time)."""
    if any(tuple(header[-len(own) :]) == own for own in (SERIES_COLUMNS, CASCADE_COLUMNS)):
        return True
    if lower in (["size"], ["run", "size"], ["id", "tick"]) or lower[-2:] == ["size", "ccdf"]:
        return True
    return lower[0] == "tick" and len(header) >= 2


__all__ = [
    "COUNT_MEASURES",
    "MAX_ROWS",
    "MAX_TICK",
    "Observed",
    "ObservedCascades",
    "ObservedSeries",
    "ObservedTimes",
    "read_observed",
]
