"""Series files: the per-tick counts of a propagation session's runs, written and read back.

The format is tidy long data, one row per (run, tick, measure)::

    p,run,tick,measure,value
    0.1,0,0,S,990
    0.1,0,0,I,10

The columns are the sweep's grid keys (none for ``agora run``), then ``run`` (the run index within its
combination), ``tick`` (0 = right after seeding), ``measure`` (a state name, ``reached``, ``new``, ``depth``,
``breadth``, an entry count ``new.STATE``, ``onsets``, ``removals`` (:mod:`sim.model.series`), or a variable's
moment ``NAME.mean``/``NAME.std``/``NAME.min``/``NAME.max``) and ``value`` (``nan`` where a session stored by an
older Agora has no entries). Rows come in record
order, then tick, then measure order. Integers are written without a decimal point, floats with ``repr``
(they read back exactly), NaN as ``nan``.

Three containers, chosen by the file name: ``.csv``, ``.csv.gz`` (gzip) and ``.parquet`` (pyarrow, the
optional extra ``agora-sim[parquet]``; key columns keep their type, ``run`` and ``tick`` are int64,
``measure`` a string, ``value`` float64).

Text cells (string key values such as a model name, measure names, key names) are data: the CSV writer
quotes them, and a cell that would start a spreadsheet formula (``=``, ``+``, ``-``, ``@``, ...) gets a
leading ``'`` (:func:`sim.core.safe.csv_cell`). The reader undoes nothing: a guarded name reads back with its
``'``. Parquet is not opened by spreadsheets and stores text exactly.

Files are written atomically (a temporary file beside the target, then a rename).
"""

from __future__ import annotations

import csv
import functools
import gzip
import io
import os
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.core.boundedio import (
    MAX_BYTES,
    MAX_ROWS,
    Bounds,
    bounded_text,
    check_regular,
    opened,
    read_bounded,
    read_bounded_buffer,
)
from sim.core.diskio import replacing
from sim.core.numbers import ascii_float, ascii_int
from sim.core.safe import csv_cell
from sim.errors import BadFileError, BadParameterError
from sim.store.csvcolumns import TOKEN, CsvColumns, RaggedRowError, read_columns, unescaped

#: The columns every series file ends with; key columns (one per sweep grid key) come first.
COLUMNS = ("run", "tick", "measure", "value")
#: The file names understood, by how they end.
EXTENSIONS = (".csv", ".csv.gz", ".parquet")
#: What a malformed file's message tells the user to do.
_EXPECTED = "expected the columns run,tick,measure,value as written by agora run (its series)"
#: The longest text cell a table file may hold (a measure name, a sweep key's value): such cells are names of a
#: few characters, and a column of text costs its longest cell times its rows in memory.
MAX_NAME = 200
#: The most bytes (uncompressed, as its metadata says) the columns of a Parquet table file may hold, and the
#: most its text columns may (their distinct names, stored once each in a real file).
MAX_PARQUET = 4 * MAX_BYTES
MAX_PARQUET_TEXT = MAX_BYTES // 4
_INT_TEXT = re.compile(r"[+-]?[0-9]+\Z")  # ASCII digits only (issue 71): \d matches every script's
_NUMBER_TEXT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\Z")


def file_container(path: str, what: str = "series file") -> str:
    """``csv``, ``csv.gz`` or ``parquet`` from the name of the ``what`` at ``path`` (case-insensitive).

    Raises:
        BadParameterError: another extension.
    """
    lower = path.lower()
    for ext in (".csv.gz", ".csv", ".parquet"):
        if lower.endswith(ext):
            return ext[1:]
    raise BadParameterError(f"{what} {path!r} has an unknown extension: name it .csv, .csv.gz or .parquet")


def need_pyarrow(doing: str) -> Any:
    try:
        import pyarrow  # noqa: PLC0415 - heavy optional dependency (the parquet extra), only for .parquet
        import pyarrow.parquet  # noqa: F401, PLC0415 - the submodule has to be importable too
    except ImportError:
        raise BadParameterError(f"{doing} Parquet needs the optional extra: pip install 'agora-sim[parquet]'") from None
    return pyarrow


def check_series_path(path: str) -> str:
    """Check, before any work, that a series file can be written at ``path``: a known extension, and
    pyarrow installed for ``.parquet``. Returns the container (``csv``, ``csv.gz`` or ``parquet``).

    Raises:
        BadParameterError: an unknown extension, or Parquet without the optional extra.
    """
    kind = file_container(path)
    if kind == "parquet":
        need_pyarrow("writing")
    return kind


# --- the in-memory table ------------------------------------------------------------------------------


@dataclass(eq=False)
class KeyedRows:
    """A table read from a series or cascades file: its rows as columns, the sweep's grid keys first (each
    table adds its own columns after them).

    Attributes:
        key_names: the key columns (sweep grid keys) in file order; empty for ``agora run``.
        keys: one array per key column, aligned with the rows (numbers where the whole column is numeric,
            else str).
    """

    key_names: list[str]
    keys: dict[str, np.ndarray]

    def key_columns(self) -> dict[str, np.ndarray]:
        """The key columns by name, in file order."""
        return {k: self.keys[k] for k in self.key_names}

    def columns(self) -> dict[str, np.ndarray]:  # pragma: no cover - each table says its own
        """Every column by name, in file order: the key columns, then the table's own."""
        raise NotImplementedError

    def __len__(self) -> int:
        """The number of rows (the length of every column; a table has at least one of its own)."""
        return int(list(self.columns().values())[-1].size)


@dataclass(eq=False)
class SeriesTable(KeyedRows):
    """A series file's rows as columns, after the key columns (``key_names``, ``keys``: see :class:`KeyedRows`).

    Attributes:
        run, tick: int64 arrays.
        measure: an array of str.
        value: a float64 array.
        source: the file it came from ('' when built in memory).
    """

    run: np.ndarray
    tick: np.ndarray
    measure: np.ndarray
    value: np.ndarray
    source: str = ""
    _cache: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    def columns(self) -> dict[str, np.ndarray]:
        """Key columns first, then run, tick, measure, value."""
        return {**self.key_columns(), "run": self.run, "tick": self.tick, "measure": self.measure, "value": self.value}

    def measures(self) -> list[str]:
        """The measure names in first-seen order."""
        if "measures" not in self._cache:
            names, first = np.unique(self.measure, return_index=True)
            self._cache["measures"] = [str(names[i]) for i in np.argsort(first, kind="stable")]
        return list(self._cache["measures"])

    def _combination_codes(self) -> tuple[list[tuple[Any, ...]], np.ndarray]:
        """Every key combination in first-seen order, and each row's index into that list."""
        if "combinations" not in self._cache:
            n = len(self)
            codes = np.zeros(n, dtype=np.int64)
            for name in self.key_names:  # mixed-radix code over the per-column first-seen value codes
                _, first, inverse = np.unique(self.keys[name], return_index=True, return_inverse=True)
                rank = np.empty(first.size, dtype=np.int64)
                rank[np.argsort(first, kind="stable")] = np.arange(first.size)
                codes = codes * max(1, first.size) + rank[inverse.reshape(-1)]
                codes = np.unique(codes, return_inverse=True)[1].reshape(-1)  # dense again: no overflow
            uniq, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
            order = np.argsort(first, kind="stable")
            rank = np.empty(uniq.size, dtype=np.int64)
            rank[order] = np.arange(uniq.size)
            combos = [tuple(self.keys[k][first[i]].item() for k in self.key_names) for i in order]
            self._cache["combinations"] = (combos, rank[inverse.reshape(-1)])
        return self._cache["combinations"]

    def combinations(self) -> list[tuple[Any, ...]]:
        """The key combinations (tuples of values in key order) in first-seen order; ``[()]`` without keys."""
        combos, _ = self._combination_codes()
        return list(combos)

    def combination_mask(self, combination: tuple[Any, ...]) -> np.ndarray:
        """The rows of one key combination (a boolean array)."""
        combos, codes = self._combination_codes()
        try:
            index = combos.index(tuple(combination))
        except ValueError:
            which = _combo_text(self.key_names, combination)
            raise BadParameterError(f"series file {self.source or '(in memory)'} has no combination {which}") from None
        return codes == index

    def groups(self) -> Iterator[tuple[tuple[Any, ...], np.ndarray]]:
        """Each key combination (values in key order, first-seen order) with its row mask."""
        combos, codes = self._combination_codes()
        for i, combo in enumerate(combos):
            yield combo, codes == i

    def runs(self) -> int:
        """How many runs the table holds: distinct (combination, run) pairs."""
        if len(self) == 0:
            return 0
        _, codes = self._combination_codes()
        runs, run_codes = np.unique(self.run, return_inverse=True)
        return int(np.unique(codes * runs.size + run_codes.reshape(-1)).size)


def _combo_text(key_names: Sequence[str], combination: Sequence[Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in zip(key_names, combination)) or "(no keys)"


# --- records to columns -------------------------------------------------------------------------------


def _record_columns(
    index: int, record: dict[str, Any], key_names: Sequence[str]
) -> tuple[list[Any], int, np.ndarray, list[str], list[np.ndarray]]:
    """Validate one series record: its key values, run, ticks, measure names and value arrays."""
    try:
        keys = record.get("keys") or {}
        run = record["run"]
        series = record["series"]
        ticks = series["tick"]
    except (KeyError, TypeError, AttributeError):
        raise BadParameterError(
            f"series record {index} is not a dict with 'keys', 'run' and 'series' (holding 'tick')"
        ) from None
    missing = [k for k in key_names if k not in keys]
    if missing:
        raise BadParameterError(f"series record {index} has no value for the key {missing[0]!r}")
    try:
        run = int(run)
    except (TypeError, ValueError):
        raise BadParameterError(f"series record {index}: run {run!r} is not a whole number") from None
    ticks = np.asarray(ticks)
    if ticks.ndim != 1 or (ticks.size and ticks.dtype.kind not in "iu"):
        raise BadParameterError(f"series record {index}: 'tick' must be a list of whole numbers")
    names, values = [], []
    for name, column in series.items():
        if name == "tick":
            continue
        arr = np.asarray(column)
        if arr.dtype.kind == "b":
            arr = arr.astype(np.int64)
        elif arr.dtype.kind not in "iuf":
            try:
                arr = np.asarray([np.nan if v is None else v for v in column], dtype=np.float64)
            except (TypeError, ValueError):
                raise BadParameterError(
                    f"series record {index}: measure {name!r} holds values that are not numbers"
                ) from None
        if arr.shape != ticks.shape:
            raise BadParameterError(
                f"series record {index}: measure {name!r} has {arr.size} values for {ticks.size} ticks"
            )
        names.append(str(name))
        values.append(arr)
    return [keys[k] for k in key_names], int(run), ticks.astype(np.int64), names, values


def _check_key_names(key_names: Sequence[str], columns: Sequence[str] = COLUMNS) -> list[str]:
    """The key column names as text, none of them one of the file's own ``columns`` nor named twice.

    Raises:
        BadParameterError: naming the clash.
    """
    names = [str(k) for k in key_names]
    clash = [k for k in names if k in columns]
    if clash:
        raise BadParameterError(f"a key column cannot be named {clash[0]!r}: that name is one of {','.join(columns)}")
    if len(set(names)) != len(names):
        raise BadParameterError(f"key columns {', '.join(names)} name one column twice")
    return names


def _repeated_keys(key_count: int, per_record: list[list[Any]], counts: list[int]) -> list[np.ndarray]:
    """Each key column over the rows: record ``i``'s value (``per_record[i][j]`` for key ``j``) repeated for its
    ``counts[i]`` rows, typed as :func:`_typed_keys` types them."""
    columns = []
    for j in range(key_count):
        values = np.empty(len(per_record), dtype=object)
        values[:] = [kv[j] for kv in per_record]
        columns.append(np.repeat(_typed_keys(values), counts))
    return columns


def table_from_records(
    records: Iterable[dict[str, Any]], key_names: Sequence[str] = (), source: str = ""
) -> SeriesTable:
    """The :class:`SeriesTable` of series records, as :func:`read_series` would give after a Parquet write.

    Text is kept exactly (no formula guard: nothing is written).
    """
    key_names = _check_key_names(key_names)
    record_keys: list[list[Any]] = []
    counts, runs, ticks, measures, values = [], [], [], [], []
    for i, record in enumerate(records):
        kv, run, tk, names, vals = _record_columns(i, record, key_names)
        rows = tk.size * len(names)
        if not rows:
            continue
        record_keys.append(kv)
        counts.append(rows)
        runs.append(run)
        ticks.append(np.repeat(tk, len(names)))
        measures.append(np.tile(np.asarray(names, dtype=str), tk.size))
        values.append(np.stack(vals, axis=1).astype(np.float64).reshape(-1))
    keys = dict(zip(key_names, _repeated_keys(len(key_names), record_keys, counts)))
    return SeriesTable(
        key_names=key_names,
        keys=keys,
        run=np.repeat(np.asarray(runs, dtype=np.int64), counts),
        tick=np.concatenate(ticks) if ticks else np.empty(0, dtype=np.int64),
        measure=np.concatenate(measures) if measures else np.empty(0, dtype=str),
        value=np.concatenate(values) if values else np.empty(0, dtype=np.float64),
        source=source,
    )


def _typed_keys(values: np.ndarray) -> np.ndarray:
    """An object array of key values as int64, float64 or str, by what every value is."""
    items = values.tolist()
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in items):
        return np.asarray(items, dtype=np.int64)
    if all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in items):
        return np.asarray(items, dtype=np.float64)
    return np.asarray([_key_text(v) for v in items], dtype=str)


def _key_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return ""
    return str(v)


# --- writing ------------------------------------------------------------------------------------------


def _text_cell(text: str) -> str:
    """One CSV text cell, formula-guarded and quoted as Python's csv module quotes it."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow([csv_cell(text)])
    return buf.getvalue()


def _key_cell(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return _text_cell("true" if value else "false")
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return _text_cell(_key_text(value))


def _value_texts(values: np.ndarray) -> list[str]:
    """Integers without a decimal point, floats by ``repr`` (exact round trip; NaN is ``nan``)."""
    if values.dtype.kind in "iu":
        return list(map(str, values.tolist()))
    return list(map(repr, values.astype(np.float64).tolist()))


def _csv_lines(records: Iterable[dict[str, Any]], key_names: list[str]) -> Iterator[tuple[str, int]]:
    """The CSV text of each record (its lines, each ending in a newline) and its row count."""
    cells: dict[str, str] = {}
    for i, record in enumerate(records):
        kv, run, ticks, names, vals = _record_columns(i, record, key_names)
        if not names or not ticks.size:
            continue
        prefix = "".join(_key_cell(v) + "," for v in kv) + f"{run},"
        heads = [prefix + t + "," for t in map(str, ticks.tolist())]
        columns = []
        for name, arr in zip(names, vals):
            if name not in cells:
                cells[name] = _text_cell(name) + ","
            m = cells[name]
            columns.append([m + v for v in _value_texts(arr)])
        # Row order: tick, then measure.
        text = "\n".join([h + c for h, row in zip(heads, zip(*columns)) for c in row])
        yield text + "\n", ticks.size * len(names)


def _parquet_table(records: Iterable[dict[str, Any]], key_names: list[str]) -> tuple[Any, int]:
    pa = need_pyarrow("writing")
    table = table_from_records(records, key_names)
    arrays, names = [], []
    for k in key_names:
        col = table.keys[k]
        arrays.append(pa.array(col.tolist(), type=pa.string()) if col.dtype.kind == "U" else pa.array(col))
        names.append(k)
    arrays += [
        pa.array(table.run, type=pa.int64()),
        pa.array(table.tick, type=pa.int64()),
        pa.array(table.measure.tolist(), type=pa.string()),
        pa.array(table.value, type=pa.float64()),
    ]
    names += list(COLUMNS)
    return pa.table(arrays, names=names), len(table)


def write_series(path: str, records: Iterable[dict[str, Any]], key_names: Sequence[str] = ()) -> int:
    """Write series records to ``path`` (``.csv``, ``.csv.gz`` or ``.parquet``), atomically.

    Args:
        path: the target; its extension picks the container.
        records: series records ``{"keys": {...}, "run": r, "series": {"tick": [...], MEASURE: [...]}}``.
        key_names: the key columns, written first, in this order (each record's ``keys`` must hold them).

    Returns:
        The number of rows written.

    Raises:
        BadParameterError: an unknown extension, Parquet without pyarrow, a malformed record.
        BadFileError: the target cannot be written.
    """
    kind = file_container(path)
    if kind == "parquet":
        need_pyarrow("writing")  # before any work
    key_names = _check_key_names(key_names)
    if os.path.isdir(path):
        raise BadFileError(f"cannot write series file {path!r}: it is a folder (give a file name)")
    rows = 0
    with replacing(path, "series file") as tmp:
        if kind == "parquet":
            import pyarrow.parquet as pq  # noqa: PLC0415 - optional, only for .parquet

            table, rows = _parquet_table(records, key_names)
            pq.write_table(table, tmp)
        else:
            rows = _write_csv(tmp, kind == "csv.gz", key_names, COLUMNS, _csv_lines(records, key_names))
    return rows


def _write_csv(
    tmp: str, gzipped: bool, key_names: list[str], columns: Sequence[str], lines: Iterable[tuple[str, int]]
) -> int:
    """A table file's CSV at ``tmp`` (gzip-compressed when ``gzipped``): the header (the key columns, then the
    file's own ``columns``), then ``lines`` (blocks of CSV text and their row counts); returns the rows."""
    rows = 0
    with open(tmp, "wb") as raw:
        out: Any = gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=1, mtime=0) if gzipped else raw
        try:
            header = ",".join([_text_cell(k) for k in key_names] + list(columns)) + "\n"
            out.write(header.encode("utf-8"))
            for text, n in lines:
                # "replace": a lone surrogate in a name (not text UTF-8 can carry) cannot end the write.
                out.write(text.encode("utf-8", errors="replace"))
                rows += n
        finally:
            if out is not raw:
                out.close()
    return rows


def save_series(path: str, records: Iterable[dict[str, Any]], key_names: Sequence[str] = ()) -> dict[str, Any]:
    """:func:`write_series`, then what ``agora run`` and ``agora sweep`` report of the file:
    ``{"path": its absolute path, "rows": rows written}`` (``series_file`` in their JSON)."""
    rows = write_series(path, records, key_names)
    return {"path": os.path.abspath(path), "rows": rows}


# --- reading ------------------------------------------------------------------------------------------


def _bad(path: str, where: str, what: str) -> BadFileError:
    return BadFileError(f"series file {path} {where}: {what} ({_EXPECTED})")


def _check_header(path: str, header: list[str]) -> list[str]:
    if len(header) < 4 or [h.strip() for h in header[-4:]] != list(COLUMNS):
        raise _bad(path, "line 1", "the header does not end with run,tick,measure,value")
    keys = [h.strip() for h in header[:-4]]
    if len(set(keys)) != len(keys) or any(not k for k in keys):
        raise _bad(path, "line 1", "the key columns of the header must have distinct, non-empty names")
    return keys


def _open_text(
    path: str, kind: str, what: str = "series file", writer: str = "agora run (its series)", *, rows: int = MAX_ROWS
) -> Any:
    """The text of the table file at ``path`` (``kind``: its container) for the ``csv`` module, read within
    bounds (:mod:`sim.core.boundedio`: a regular file, its bytes, lines and gzip expansion; at most ``rows``
    rows); errors name the ``what`` and ``writer``, the command that writes such files."""
    return bounded_text(path, what, f"a file written by {writer}", gz=kind == "csv.gz", bounds=Bounds(rows=rows))


#: What reading a table file may raise that says the file is damaged (see :func:`unreadable`).
READ_ERRORS = (OSError, EOFError, UnicodeDecodeError, csv.Error, zlib.error)


def _check_readable(path: str, container: str, what: str, writer: str) -> None:
    """Before reading the ``what`` at ``path``: pyarrow there for a ``parquet`` container, and a file there.

    Raises:
        BadParameterError: Parquet without the optional extra.
        BadFileError: a folder, a pipe, a device or nothing at ``path`` (naming ``writer``, the command that
            writes such files), checked without blocking (:func:`sim.core.boundedio.check_regular`).
    """
    if container == "parquet":
        need_pyarrow("reading")
    check_regular(path, what, f"the file written by {writer}")


def unreadable(exc: BaseException) -> str:
    """What a table file that raised ``exc`` (one of :data:`READ_ERRORS`) while being read is, in words."""
    if isinstance(exc, UnicodeDecodeError):
        return "is not UTF-8 text"
    if isinstance(exc, csv.Error):
        return "is not valid CSV"
    if isinstance(exc, (gzip.BadGzipFile, EOFError, zlib.error)):
        return "is not a complete gzip file"
    return f"cannot be read ({getattr(exc, 'strerror', None) or exc})"


def read_series(path: str) -> SeriesTable:
    """Read a series file (``.csv``, ``.csv.gz`` or ``.parquet``, by its name).

    Key columns become numbers when every value of the column is a number (int64 when all are whole),
    else strings. Text is returned as stored: a formula-guarded name keeps its leading ``'``.

    Raises:
        BadParameterError: an unknown extension, or Parquet without pyarrow.
        BadFileError: a missing, empty or malformed file (the message names the line and what to do).
    """
    kind = file_container(path)
    _check_readable(path, kind, "series file", "agora run (its series)")
    try:
        if kind == "parquet":
            return _read_parquet(path)
        return _read_csv_columns(path, kind)
    except READ_ERRORS as exc:
        raise BadFileError(f"series file {path} {unreadable(exc)}: give a series file that Agora wrote") from None


class _SlowPath(Exception):
    """The vectorised reader met a row it cannot parse: read again row by row to say where."""


def _read_bytes(path: str, kind: str, what: str, writer: str) -> bytes:
    """The bytes of a table file (decompressed; a spreadsheet's byte-order mark removed), read within bounds."""
    return read_bounded(path, what, f"a file written by {writer}", gz=kind == "csv.gz")


def _long_name(words: list[str]) -> bool:
    """Whether a text column's distinct cells hold one longer than :data:`MAX_NAME` characters."""
    return bool(words) and max(map(len, words)) > MAX_NAME


def _name_too_long(what: str) -> str:
    return (
        f"{what} is longer than {MAX_NAME} characters: measure names and key values are short names in the files "
        "Agora writes"
    )


def _distinct(cells: list[str]) -> tuple[list[str], np.ndarray]:
    """The distinct cells in first-seen order and each cell's index among them (bulk, not cell by cell)."""
    distinct = {v: i for i, v in enumerate(dict.fromkeys(cells))}
    if len(distinct) <= 1:
        return list(distinct), np.zeros(len(cells), dtype=np.int64)
    return list(distinct), np.fromiter(map(distinct.__getitem__, cells), dtype=np.int64, count=len(cells))


def _text_column(words: list[str], codes: np.ndarray) -> np.ndarray:
    return np.asarray(words, dtype=str)[codes] if words else np.empty(0, dtype=str)


def _csv_cells(
    path: str,
    container: str,
    what: str,
    writer: str,
    header: Callable[[list[str]], list[str]],
    own: int,
) -> tuple[list[str], list[str], int]:
    """The start of a fast read of a table file's CSV: its key names (``header`` checks the header's cells),
    every cell of its body in row order, and its rows (``own``: the file's own columns, after the keys).

    Raises:
        BadFileError: an empty file (naming ``writer``, the command that writes such files).
        _SlowPath: a quoted cell, a blank line or a line of another width: for the row-by-row reader.
    """
    data = _read_bytes(path, container, what, writer)
    if not data.strip():
        raise BadFileError(f"{what} {path} is empty: give a file written by {writer}")
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
    if b'"' in data or b"\r" in data:
        raise _SlowPath
    head, _, body = data.partition(b"\n")
    key_names = header(head.decode("utf-8").split(","))
    width = len(key_names) + own
    body = body.rstrip(b"\n")
    if not body:
        return key_names, [], 0
    if b"\n\n" in body:
        raise _SlowPath
    # Every line must have width - 1 commas (UTF-8 never hides a comma or newline byte inside a character).
    buf = np.frombuffer(body, dtype=np.uint8)
    ends = np.append(np.flatnonzero(buf == 10), buf.size)
    per_line = np.diff(np.searchsorted(np.flatnonzero(buf == 44), ends), prepend=0)
    if np.any(per_line != width - 1):
        raise _SlowPath
    return key_names, body.decode("utf-8").replace("\n", ",").split(","), int(ends.size)


def _read_csv_columns(path: str, kind: str) -> SeriesTable:
    """A series CSV cut into columns by numpy (:mod:`sim.store.csvcolumns`), a chunk of rows at a time: memory
    about the file's size and 32 bytes a row (not 25 times the file, as Python strings cost); quoted cells, blank
    lines and CRLF read as the ``csv`` module reads them; a bad cell named by its line, never quoted."""
    what, writer = "series file", "agora run (its series)"
    data = read_bounded_buffer(path, what, f"a file written by {writer}", gz=kind == "csv.gz")
    if not data or data.isspace():
        raise BadFileError(f"{what} {path} is empty: give a file written by {writer}")
    try:
        table = read_columns(data, f"{what} {path}", f"a file written by {writer}")
    except RaggedRowError as exc:
        raise _bad(path, f"line {exc.line}", f"{exc.cells} fields where the header has {exc.width}") from None
    del data
    key_names = _check_header(path, table.header)
    width, n = len(table.header), table.rows
    run, tick, value = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64), np.empty(n, dtype=np.float64)
    texts = [*range(width - 4), width - 2]  # the key columns and the measure: names, coded by first sight
    codes = [np.empty(n, dtype=np.int64) for _ in texts]
    seen: list[dict[bytes, int]] = [{} for _ in texts]
    firsts: list[list[int]] = [[] for _ in texts]
    for first, cols in table.chunks(range(width)):
        m = cols[0].size
        for out, j, name, noun in (
            (run, width - 4, "run", "a whole number"),
            (tick, width - 3, "tick", "a whole number"),
            (value, width - 1, "value", "a number"),
        ):
            got = _ascii_cells(cols[j], np.int64 if out.dtype.kind == "i" else np.float64)
            if isinstance(got, int):
                raise _bad(path, f"line {table.line(first + got)}", f"{name} is not {noun}")
            out[first : first + m] = got
        for t, j in enumerate(texts):
            distinct, at, inverse = np.unique(cols[j], return_index=True, return_inverse=True)
            local = np.empty(distinct.size, dtype=np.int64)
            for u, (cell, row) in enumerate(zip(distinct.tolist(), at.tolist())):
                code = seen[t].get(cell)
                if code is None:
                    code = seen[t][cell] = len(seen[t])
                    firsts[t].append(first + row)
                local[u] = code
            codes[t][first : first + m] = local[inverse.reshape(-1)]
    words = [_words(table, j, seen[t], firsts[t], path) for t, j in enumerate(texts)]
    keys = {k: _key_column(words[t], codes[t]) for t, k in enumerate(key_names)}
    return SeriesTable(
        key_names=key_names,
        keys=keys,
        run=run,
        tick=tick,
        measure=_text_column(words[-1], codes[-1]),
        value=value,
        source=path,
    )


def _ascii_cells(cells: np.ndarray, dtype: Any) -> np.ndarray | int:
    """Cells (bytes) as ``dtype`` (int64 or float64) when every one is a number in ASCII (a whole one for int64;
    ``nan`` and ``inf`` for float64, as Agora writes them), else the place of the first that is not."""
    if not (np.char.find(cells, b"_") >= 0).any() and (np.char.str_len(cells) <= 40).all():
        try:
            return cells.astype(dtype)
        except (ValueError, OverflowError):
            pass
    check = ascii_int if dtype is np.int64 else functools.partial(ascii_float, special=True)
    for i, cell in enumerate(cells.tolist()):
        text = cell.decode("utf-8", "replace")
        number = check(text) if len(text) <= 40 else None
        if number is None or (dtype is np.int64 and not -(2**63) <= number < 2**63):
            return i
    return 0  # pragma: no cover - numpy refused a cell that both readers take


def _words(table: CsvColumns, j: int, seen: dict[bytes, int], firsts: list[int], path: str) -> list[str]:
    """The distinct texts of column ``j`` in code order (a hashed long cell read again from the file); a text
    longer than :data:`MAX_NAME` characters is refused on the line it first appears."""
    cells = list(seen)
    long = sorted((firsts[i], i) for i, c in enumerate(cells) if len(c) > TOKEN)
    for (_, i), text in zip(long, table.cells_at(j, [row for row, _ in long])):
        cells[i] = text
    words = [unescaped(c.decode("utf-8")) for c in cells]
    for i, w in enumerate(words):
        if len(w) > MAX_NAME:
            width = len(table.header)
            raise _bad(
                path,
                f"line {table.line(firsts[i])}",
                _name_too_long("measure" if j == width - 2 else f"column {j + 1}"),
            )
    return words


def _csv_rows(reader: Any, width: int, bad: Callable[[str, str], BadFileError]) -> Iterator[tuple[int, list[str]]]:
    """The rows of a CSV reader past its header, each with the line it starts on; blank lines are skipped.

    Raises:
        BadFileError: from ``bad(where, what)``, for a row of another width than the header's.
    """
    start = reader.line_num
    for row in reader:
        line = start + 1
        start = reader.line_num
        if not row:
            continue
        if len(row) != width:
            raise bad(f"line {line}", f"{len(row)} fields where the header has {width}")
        yield line, row


def _assemble(path: str, key_names: list[str], parts: list[list[np.ndarray]]) -> SeriesTable:
    def cat(p: list[np.ndarray], dtype: Any) -> np.ndarray:
        return np.concatenate(p) if p else np.empty(0, dtype=dtype)

    keys = {k: _key_column(*_distinct(cat(parts[j], str).tolist())) for j, k in enumerate(key_names)}
    return SeriesTable(
        key_names=key_names,
        keys=keys,
        run=cat(parts[-4], np.int64),
        tick=cat(parts[-3], np.int64),
        measure=cat(parts[-2], str),
        value=cat(parts[-1], np.float64),
        source=path,
    )


def _key_column(words: list[str], codes: np.ndarray) -> np.ndarray:
    """A key column from its distinct texts: numbers when every value is written as a number (int64 when
    all are whole), else the strings."""
    if words and all(_NUMBER_TEXT.match(w) for w in words):
        if all(_INT_TEXT.match(w) for w in words) and all(abs(int(w)) < 2**63 for w in words):
            return np.asarray([int(w) for w in words], dtype=np.int64)[codes]
        return np.asarray([float(w) for w in words], dtype=np.float64)[codes]
    return _text_column(words, codes)


def read_parquet(
    path: str,
    what: str,
    writer: str,
    columns: Sequence[str] | None = None,
    *,
    rows: int = MAX_ROWS,
    give: str | None = None,
    named: Sequence[str] = (),
    dates: bool = False,
) -> tuple[Any, Any]:
    """pyarrow and the table of the Parquet ``what`` at ``path`` (only ``columns``, when named), read once its
    metadata is checked: a regular file of at most :data:`~sim.core.boundedio.MAX_BYTES`, at most ``rows``
    rows, columns of numbers or text (no nested or binary ones), at most :data:`MAX_PARQUET` bytes of column
    data (:data:`MAX_PARQUET_TEXT` for text). Text columns are read first, alone and dictionary-encoded, so a
    name repeated on every row is held once, and no cell may be longer than :data:`MAX_NAME` characters:
    refusing such a file costs its indices, not its text spread over the rows. ``named``: the column names an
    error may show (others are named by their place: a header is the file's text). ``dates``: date, time and
    timestamp columns are read too (a people table reads them as their ISO text). A name given to two columns
    is refused (a table of them would keep one).

    Raises:
        BadFileError: not a readable Parquet file, or one past a bound (naming ``writer``, the command that
            writes such files, or saying ``give``). pyarrow's own messages are not quoted: they may hold the
            file's bytes.
    """
    pa = need_pyarrow("reading")
    import pyarrow.parquet as pq  # noqa: PLC0415 - optional, only for .parquet

    give = give or f"a file written by {writer}"

    def bad(text: str) -> BadFileError:
        return BadFileError(f"{what} {path} {text}: give {give}")

    with opened(path, what, give) as fh:
        schema, count, sizes = _parquet_meta(pa, pq, fh, bad)
        names = [str(n) for n in schema.names]
        if len(set(names)) != len(names):
            raise bad("gives two columns the same name")
        wanted = names if columns is None else [n for n in columns if n in names]
        sizes = {n: sizes.get(n, 0) for n in wanted}
        if count > rows:
            raise BadFileError(
                f"{what} {path} has more than {rows:,} rows: Agora reads at most that many, so keep a part of it"
            )
        text = []
        for j, name in enumerate(names):
            if name not in sizes:
                continue
            typ = schema.field(name).type
            value_type = typ.value_type if pa.types.is_dictionary(typ) else typ
            is_text = pa.types.is_string(value_type) or pa.types.is_large_string(value_type)
            if not (
                is_text
                or pa.types.is_integer(typ)
                or pa.types.is_floating(typ)
                or pa.types.is_boolean(typ)
                or pa.types.is_null(typ)
                or (dates and (pa.types.is_date(typ) or pa.types.is_timestamp(typ) or pa.types.is_time(typ)))
            ):
                raise bad(f"has a column (the {ordinal(j + 1)}) of {typ}, which no table Agora writes holds")
            if is_text:
                text.append(name)
                if sizes[name] > MAX_PARQUET_TEXT:
                    raise bad(
                        f"has a text column (the {ordinal(j + 1)}) of {sizes[name] / 2**20:,.0f} MiB, more than "
                        f"the {MAX_PARQUET_TEXT / 2**20:,.0f} MiB Agora reads"
                    )
        if sum(sizes.values()) > MAX_PARQUET:
            raise bad(
                f"holds {sum(sizes.values()) / 2**20:,.0f} MiB of column data, more than the "
                f"{MAX_PARQUET / 2**20:,.0f} MiB Agora reads"
            )
        try:
            fh.seek(0)
            reader = pq.ParquetFile(fh, read_dictionary=text)
            first = reader.read(columns=text, use_threads=False) if text else None
            for name in text:
                assert first is not None
                if _longest(pa, first.column(name)) > MAX_NAME:
                    shown = f"column {name}" if name in named else f"its {ordinal(names.index(name) + 1)} column"
                    raise BadFileError(f"{what} {path} {shown}: {_name_too_long('a text cell')}")
            rest = reader.read(columns=[n for n in wanted if n not in text], use_threads=False)
        except (pa.ArrowException, OSError, ValueError):
            raise bad("is not a readable Parquet file") from None
        held = {n: rest.column(n) for n in rest.column_names}
        if first is not None:
            held.update({n: first.column(n) for n in text})
    return pa, pa.table({n: held[n] for n in wanted})


def _longest(pa: Any, column: Any) -> int:
    """The most characters of a cell of a (dictionary-encoded) text column, read from its distinct values."""
    import pyarrow.compute as pc  # noqa: PLC0415 - optional, only for .parquet

    longest = 0
    for chunk in column.chunks:
        values = chunk.dictionary if pa.types.is_dictionary(chunk.type) else chunk
        if len(values):
            longest = max(longest, int(pc.max(pc.utf8_length(values)).as_py() or 0))
    return longest


def _parquet_meta(pa: Any, pq: Any, fh: Any, bad: Callable[[str], BadFileError]) -> tuple[Any, int, dict[str, int]]:
    """A Parquet file's schema, rows and each column's uncompressed bytes, from its footer alone."""
    try:
        meta = pq.ParquetFile(fh)
        schema = meta.schema_arrow
        count = int(meta.metadata.num_rows)
        sizes: dict[str, int] = {}
        for g in range(meta.metadata.num_row_groups):
            group = meta.metadata.row_group(g)
            for c in range(group.num_columns):
                chunk = group.column(c)
                top = str(chunk.path_in_schema).split(".")[0]
                sizes[top] = sizes.get(top, 0) + int(chunk.total_uncompressed_size)
    except (pa.ArrowException, OSError, ValueError):
        raise bad("is not a readable Parquet file") from None
    return schema, count, sizes


def parquet_schema(path: str, what: str, give: str) -> tuple[Any, list[str], list[Any], int]:
    """pyarrow, the column names, their types and the rows of the Parquet ``what`` at ``path``, from its
    footer alone (nothing else is read).

    Raises:
        BadFileError: see :func:`sim.core.boundedio.opened`; not a readable Parquet file.
    """
    pa = need_pyarrow("reading")
    import pyarrow.parquet as pq  # noqa: PLC0415 - optional, only for .parquet

    def bad(text: str) -> BadFileError:
        return BadFileError(f"{what} {path} {text}: give {give}")

    with opened(path, what, give) as fh:
        schema, count, _ = _parquet_meta(pa, pq, fh, bad)
    return pa, [str(n) for n in schema.names], [schema.field(i).type for i in range(len(schema.names))], count


def ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def _parquet_keys(pa: Any, table: Any, key_names: list[str], source: str = "") -> dict[str, np.ndarray]:
    """The key columns of a Parquet table: int64 where whole numbers without a gap, float64 where numbers,
    else text (``source``: the file, named with the column when a text cell is too long)."""
    keys = {}
    for j, k in enumerate(key_names):
        col = table.column(k)
        if pa.types.is_integer(col.type) and not col.null_count:
            keys[k] = col.to_numpy().astype(np.int64)
        elif pa.types.is_floating(col.type) or pa.types.is_integer(col.type):
            keys[k] = np.asarray(col.to_pylist(), dtype=np.float64)
        else:
            keys[k] = _arrow_text(pa, col, f"{source} column {j + 1}")
    return keys


def _read_parquet(path: str) -> SeriesTable:
    pa, table = read_parquet(path, "series file", "agora run (its series)", named=COLUMNS)
    names = [str(n) for n in table.column_names]
    key_names = _check_header(path, names)
    cols = {}
    for name in COLUMNS:
        col = table.column(name)
        if col.null_count:
            row = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
            raise _bad(path, f"row {row + 1}", f"{name} is missing")
        cols[name] = col
    out: dict[str, np.ndarray] = {}
    for name, kinds, dtype, noun in (
        ("run", "iu", np.int64, "whole numbers"),
        ("tick", "iu", np.int64, "whole numbers"),
        ("value", "iuf", np.float64, "numbers"),
    ):
        try:
            arr = cols[name].to_numpy()
        except (pa.ArrowException, ValueError):
            arr = np.asarray(cols[name].to_pylist(), dtype=object)
        if arr.dtype.kind not in kinds:
            if name != "value" and arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
                arr = arr.astype(np.int64)
            else:
                raise _bad(path, "column " + name, f"holds {cols[name].type} where {noun} are expected")
        out[name] = arr.astype(dtype)
    measure = cols["measure"]
    if not (
        pa.types.is_string(measure.type)
        or pa.types.is_large_string(measure.type)
        or pa.types.is_dictionary(measure.type)
    ):
        raise _bad(path, "column measure", f"holds {measure.type} where text is expected")
    keys = _parquet_keys(pa, table, key_names, f"series file {path}")
    return SeriesTable(
        key_names=key_names,
        keys=keys,
        run=out["run"],
        tick=out["tick"],
        measure=_arrow_text(pa, measure, f"series file {path} column measure"),
        value=out["value"],
        source=path,
    )


def _arrow_text(pa: Any, column: Any, where: str = "a text column") -> np.ndarray:
    """A text column of many repeated values as a str array, through its distinct values; one longer than
    :data:`MAX_NAME` is refused (``where``: the file and column, for the message) before the array is made."""
    array = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    if not pa.types.is_dictionary(array.type):
        array = array.dictionary_encode()
    words = [_key_text(v) for v in array.dictionary.to_pylist()]
    if _long_name(words):
        raise BadFileError(f"{where}: {_name_too_long('a text cell')}")
    codes = array.indices.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    if array.null_count:  # a missing key value reads as ''
        words.append("")
        codes[array.is_null().to_numpy(zero_copy_only=False)] = len(words) - 1
    return _text_column(words, codes) if words else np.full(len(array), "")


__all__ = ["COLUMNS", "EXTENSIONS", "SeriesTable", "read_series", "table_from_records", "write_series"]
