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

Sweep files (grid-key columns before ``run``) are refused: keep one combination's rows and drop those
columns. Every problem is one sentence naming the file (and the line, for a bad row) and what to do:
:class:`~sim.errors.BadFileError` for an unreadable or malformed file, :class:`~sim.errors.BadParameterError`
for content the world contradicts (an unknown id) or an unusable path. Nothing is evaluated: cells are read
with the ``csv`` module and converted with ``int``/``float``; no file of more than :data:`MAX_ROWS` rows is
read.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from sim.core.cascade import forest_of_rows
from sim.core.world import World
from sim.errors import BadFileError, BadParameterError
from sim.store.cascadeio import CASCADE_COLUMNS, read_cascades
from sim.store.seriesio import COLUMNS as SERIES_COLUMNS
from sim.store.seriesio import READ_ERRORS, _pyarrow, _unreadable, read_series

#: The most rows an observation file may have (a bound on memory and time: a bigger file is refused).
MAX_ROWS = 50_000_000
#: Rows converted at a time when reading a CSV body (bounds the memory of the Python cells).
_CHUNK_ROWS = 1 << 18
#: The layouts, as the message for an unknown header lists them.
_LAYOUTS = (
    "tick,MEASURE,... (a series), run,tick,measure,value (agora run --series), "
    "run,agent,source,tick,generation (agora run --cascades), size or run,size (cascade sizes) "
    "or id,tick (adoption times)"
)


# --- the values -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ObservedSeries:
    """Measures seen at some ticks.

    Attributes:
        path: the file.
        ticks: int64, strictly increasing, >= 0.
        columns: measure name -> float64 values at ``ticks``, in the file's order.
    """

    path: str
    ticks: np.ndarray
    columns: dict[str, np.ndarray]
    kind: ClassVar[str] = "series"


@dataclass(frozen=True)
class ObservedCascades:
    """Cascades seen: their sizes, and their shapes when the trees were given.

    Attributes:
        path: the file.
        sizes: int64, agents per cascade (>= 1), cascades in run order.
        depth: int64 per cascade, its largest generation (generations - 1), or None (sizes only).
        virality: float64 structural virality per cascade (of the forest, as the engine's
            ``cascade.structural_virality``), or None.
        roots: int64 per cascade, its generation-0 agents, or None.
        times: each cascade's adoption times (its agents and their ticks), when the trees were read with a
            world; None otherwise. The exact likelihood of ``ic`` and ``si`` multiplies theirs.
    """

    path: str
    sizes: np.ndarray
    depth: np.ndarray | None
    virality: np.ndarray | None
    roots: np.ndarray | None
    times: tuple[ObservedTimes, ...] | None = None
    kind: ClassVar[str] = "cascades"


@dataclass(frozen=True)
class ObservedTimes:
    """When agents adopted.

    Attributes:
        path: the file.
        agents: int64 internal agent indices (``world.indices_of`` of the file's ids), in file order, distinct.
        ticks: int64 adoption tick of each (0: seeded at the start); at least one 0.
    """

    path: str
    agents: np.ndarray
    ticks: np.ndarray
    kind: ClassVar[str] = "times"

    def tick_of(self, n: int) -> np.ndarray:
        """Each of ``n`` agents' adoption tick (int64), -1 for an agent that never adopted."""
        out = np.full(int(n), -1, dtype=np.int64)
        out[self.agents] = self.ticks
        return out


Observed = ObservedSeries | ObservedCascades | ObservedTimes


# --- where a file's rows are --------------------------------------------------------------------------


def _cut(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@dataclass(frozen=True)
class _File:
    """An observation file: its path and container (``csv``, ``csv.gz`` or ``parquet``)."""

    path: str
    container: str

    def bad(self, what: str) -> BadFileError:
        return BadFileError(f"observation file {self.path} {what}")

    def open_text(self) -> Any:
        if self.container == "csv.gz":
            return io.TextIOWrapper(gzip.open(self.path, "rb"), encoding="utf-8-sig", newline="")
        return open(self.path, encoding="utf-8-sig", newline="")

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


def _container(path: str) -> str:
    lower = path.lower()
    for ext in (".csv.gz", ".csv", ".parquet"):
        if lower.endswith(ext):
            return ext[1:]
    raise BadParameterError(f"observation file {path!r} has an unknown extension: name it .csv, .csv.gz or .parquet")


def _opened(path: str) -> _File:
    """The file at ``path``, checked to exist (and pyarrow there for Parquet)."""
    container = _container(path)
    if container == "parquet":
        _pyarrow("reading")
    if os.path.isdir(path):
        raise BadFileError(f"observation file {path} is a folder: give a file")
    if not os.path.exists(path):
        raise BadFileError(f"observation file {path} does not exist: check the path")
    return _File(path, container)


def _too_many(f: _File) -> BadFileError:
    return f.bad(f"has more than {MAX_ROWS:,} rows: Agora reads at most that many, so keep a part of it")


def _header_and_size(f: _File) -> list[str]:
    """The header's cells (stripped), after checking the file has at most :data:`MAX_ROWS` rows (counted
    without reading past the bound, so a compressed file that expands without end is refused early)."""
    if f.container == "parquet":
        pa = _pyarrow("reading")
        try:
            meta = pa.parquet.ParquetFile(f.path)
            names = [str(n) for n in meta.schema_arrow.names]
            rows = int(meta.metadata.num_rows)
        except (pa.ArrowException, OSError) as exc:
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise f.bad(f"is not a readable Parquet file ({_cut(first, 120)})") from None
        if rows > MAX_ROWS:
            raise _too_many(f)
        return [n.strip() for n in names]
    opener: Any = gzip.open if f.container == "csv.gz" else open
    lines = 0
    with opener(f.path, "rb") as raw:
        while block := raw.read(1 << 23):
            lines += block.count(b"\n")
            if lines > MAX_ROWS + 1:
                raise _too_many(f)
    with f.open_text() as fh:
        for row in csv.reader(fh):
            if row:
                return [c.strip() for c in row]
    raise f.bad(f"is empty: give a header ({_LAYOUTS}) and rows")


# --- reading numbers ------------------------------------------------------------------------------------

#: What a column holds: whole numbers (int64) or numbers (float64).
_NOUN = {"int": "a whole number", "float": "a number"}


def _convert(cells: tuple[str, ...] | list[str], kind: str) -> np.ndarray:
    if kind == "int":
        return np.fromiter(map(int, cells), dtype=np.int64, count=len(cells))
    return np.fromiter(map(float, cells), dtype=np.float64, count=len(cells))


def _checked_row(f: _File, line: int, row: list[str], names: list[str], kinds: list[str]) -> None:
    """Raise for the first cell of ``row`` that is not what its column holds."""
    if len(row) != len(names):
        raise f.bad(f"line {line}: {len(row)} fields where the header has {len(names)}")
    for cell, name, kind in zip(row, names, kinds):
        try:
            _convert([cell], kind)
        except (ValueError, OverflowError):
            noun = _NOUN[kind] + (
                " (a 64-bit integer)" if kind == "int" and cell.strip().lstrip("+-").isdigit() else ""
            )
            raise f.bad(f"line {line}: {name} {_cut(cell)!r} is not {noun}") from None


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
        raise f.bad(f"{_unreadable(exc)}: give a CSV file") from None
    dtypes = {"int": np.int64, "float": np.float64}
    return [np.concatenate(p) if p else np.empty(0, dtype=dtypes[k]) for p, k in zip(parts, kinds)]


def _parquet_numbers(f: _File, names: list[str], kinds: list[str]) -> list[np.ndarray]:
    """The named columns of a Parquet file as arrays (whole numbers where ``int``; no missing value)."""
    pa = _pyarrow("reading")
    try:
        table = pa.parquet.read_table(f.path, columns=names)
    except (pa.ArrowException, OSError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise f.bad(f"is not a readable Parquet file ({_cut(first, 120)})") from None
    out = []
    for name, kind in zip(names, kinds):
        col = table.column(name)
        if col.null_count:
            row = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
            raise f.at(row, f"{name} is missing")
        integer = pa.types.is_integer(col.type)
        if not (integer or (kind == "float" and pa.types.is_floating(col.type))):
            noun = "numbers" if kind == "float" else "whole numbers"
            raise f.bad(f"column {name} holds {col.type} where {noun} are expected")
        values = col.to_numpy(zero_copy_only=False)
        if kind == "int" and values.dtype.kind == "u" and values.size and int(values.max()) >= 2**63:
            row = int(np.argmax(values >= 2**63))
            raise f.at(row, f"{name} {int(values[row])} is not a whole number (a 64-bit integer)")
        out.append(np.asarray(values, dtype=np.int64 if kind == "int" else np.float64))
    return out


def _numbers(f: _File, names: list[str], kinds: list[str]) -> list[np.ndarray]:
    if f.container == "parquet":
        return _parquet_numbers(f, names, kinds)
    return _csv_numbers(f, names, kinds)


def _check_finite(f: _File, values: np.ndarray, name: str) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.argmax(bad))
        raise f.at(row, f"{name} is {float(values[row])!r}: every value must be a finite number")


def _check_ticks(f: _File, ticks: np.ndarray, strictly: bool) -> None:
    """Ticks >= 0, in order (increasing when ``strictly``, else never decreasing)."""
    if not ticks.size:
        raise f.bad("has a header but no rows: give at least one row")
    if int(ticks.min()) < 0:
        row = int(np.argmax(ticks < 0))
        raise f.at(row, f"tick {int(ticks[row])} is negative: ticks count from 0 (the seeding)")
    step = np.diff(ticks)
    wrong = step <= 0 if strictly else step < 0
    if wrong.any():
        row = int(np.argmax(wrong)) + 1
        if step[row - 1] == 0:
            raise f.at(row, f"tick {int(ticks[row])} is repeated: give one row per tick")
        raise f.at(row, f"tick {int(ticks[row])} comes after tick {int(ticks[row - 1])}: ticks must increase")


# --- the layouts ----------------------------------------------------------------------------------------


def _wide_series(f: _File, header: list[str]) -> ObservedSeries:
    names = header[1:]
    if any(not n for n in names) or len(set(header)) != len(header):
        raise f.bad("line 1: the measure columns after tick must have distinct, non-empty names")
    cols = _numbers(f, header, ["int"] + ["float"] * len(names))
    ticks = cols[0]
    _check_ticks(f, ticks, strictly=True)
    for name, values in zip(names, cols[1:]):
        _check_finite(f, values, name)
    return ObservedSeries(f.path, ticks, dict(zip(names, cols[1:])))


def _long_series(f: _File) -> ObservedSeries:
    table = read_series(f.path)
    if not len(table):
        raise f.bad("has a header but no rows: give the --series file of a run")
    runs = np.unique(table.run)
    if runs.size > 1:
        listed = ", ".join(map(str, runs[:5].tolist())) + (", ..." if runs.size > 5 else "")
        raise f.bad(f"holds {runs.size} runs (run {listed}): keep the rows of one run")
    ticks = table.tick
    _check_ticks(f, ticks, strictly=False)
    _check_finite(f, table.value, "value")
    names = table.measures()
    code = {m: i for i, m in enumerate(names)}
    measure = np.fromiter(map(code.__getitem__, table.measure.tolist()), dtype=np.int64, count=len(table))
    distinct, at = np.unique(ticks, return_inverse=True)
    key = at.reshape(-1) * len(names) + measure
    seen, first = np.unique(key, return_index=True)
    if seen.size < key.size:
        repeated = np.ones(key.size, dtype=bool)
        repeated[first] = False
        row = int(np.argmax(repeated))
        raise f.at(row, f"measure {str(table.measure[row])!r} at tick {int(ticks[row])} is repeated: keep one value")
    if seen.size < distinct.size * len(names):
        have = np.zeros(distinct.size * len(names), dtype=bool)
        have[seen] = True
        gap = int(np.argmax(~have))
        raise f.bad(
            f"has no value of measure {names[gap % len(names)]!r} at tick {int(distinct[gap // len(names)])}: "
            "every tick needs every measure"
        )
    flat = np.empty(distinct.size * len(names), dtype=np.float64)
    flat[key] = table.value
    grid = flat.reshape(distinct.size, len(names))
    return ObservedSeries(f.path, distinct.astype(np.int64), {m: grid[:, j].copy() for j, m in enumerate(names)})


def _cascade_trees(f: _File, world: World | None) -> ObservedCascades:
    table = read_cascades(f.path)
    rows = len(table)
    if not rows:
        raise f.bad("has a header but no rows: give the --cascades file of a run")
    for name, values in (("tick", table.tick), ("generation", table.generation)):
        if values.size and int(values.min()) < 0:
            row = int(np.argmax(values < 0))
            raise f.at(row, f"{name} {int(values[row])} is negative")
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


def _cascade_sizes(f: _File, header: list[str]) -> ObservedCascades:
    cols = _numbers(f, header, ["int"] * len(header))
    sizes = cols[-1]
    if not sizes.size:
        raise f.bad("has a header but no rows: give one cascade size per row")
    if int(sizes.min()) < 1:
        row = int(np.argmax(sizes < 1))
        raise f.at(row, f"size {int(sizes[row])} is below 1: a cascade holds at least its seed")
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
    if int(ticks.min()) < 0:
        row = int(np.argmax(ticks < 0))
        raise f.at(row, f"tick {int(ticks[row])} is negative: ticks count from 0 (the seeding)")
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


def read_observed(path: str, world: World | None = None) -> Observed:
    """Read and check an observation file (see the module docstring for the layouts).

    Args:
        path: a ``.csv``, ``.csv.gz`` or ``.parquet`` file.
        world: the world the observations come from; needed for adoption times (ids become agents), and
            checks a cascades file's agent ids when given.

    Returns:
        An :class:`ObservedSeries`, :class:`ObservedCascades` or :class:`ObservedTimes`, by the header.

    Raises:
        BadFileError: a missing, unreadable, empty or malformed file, one of more than :data:`MAX_ROWS`
            rows, an unknown header, a bad cell (its line named), ticks out of order or repeated, a
            negative tick, a size below 1, NaN or infinite values, an id listed twice, adoption times
            without a seed (tick 0), a sweep's file or several runs where one is read.
        BadParameterError: an unknown extension, Parquet without pyarrow, adoption times without a world, an
            id the world does not have.
    """
    f = _opened(os.fspath(path))
    try:
        header = _header_and_size(f)
    except READ_ERRORS as exc:
        raise f.bad(f"{_unreadable(exc)}: give a CSV file") from None
    lower = [h.lower() for h in header]
    for own, writer in ((SERIES_COLUMNS, "--series"), (CASCADE_COLUMNS, "--cascades")):
        if tuple(header[-len(own) :]) == own:
            if len(header) > len(own):
                keys = ",".join(header[: -len(own)])
                raise f.bad(
                    f"has the grid-key columns {_cut(keys)} of an agora sweep {writer} file: "
                    f"keep the rows of one combination and drop those columns"
                )
            return _long_series(f) if own == SERIES_COLUMNS else _cascade_trees(f, world)
    if lower in (["size"], ["run", "size"]):
        return _cascade_sizes(f, lower)
    if lower == ["id", "tick"]:
        return _adoption_times(f, lower, world)
    if lower[-2:] == ["size", "ccdf"]:
        raise f.bad("is a --ccdf size distribution: give the --cascades file, or one cascade size per row (size)")
    if lower[0] == "tick" and len(header) >= 2:
        return _wide_series(f, ["tick", *header[1:]])
    raise f.bad(f"line 1: the header {_cut(','.join(header), 80)!r} is not one Agora reads: give {_LAYOUTS}")


__all__ = [
    "MAX_ROWS",
    "Observed",
    "ObservedCascades",
    "ObservedSeries",
    "ObservedTimes",
    "read_observed",
]
