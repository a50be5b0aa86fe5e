"""A table of people (``agora new WORLD --people FILE --id COLUMN``; issue 59): one agent per row, none dropped,
every other column an attribute of the agents.

A column whose filled cells are all numbers is a numeric attribute (float64; an empty cell is NaN); any other
column is a category: int32 codes (-1 for an empty cell) and its labels, in first-seen order. Column names
become attribute names: a character outside ``[A-Za-z0-9_]`` becomes ``_`` (Hagelloch's ``x.loc`` is ``x_loc``),
and the table says which were renamed.

CSV, CSV.gz and Parquet. A CSV file is read within the bounds of :mod:`sim.core.boundedio`; a table without
quoted cells is split in a few bulk operations, one with them by the :mod:`csv` reader. A Parquet file's footer
is checked before it is read (:func:`sim.store.seriesio.read_parquet`).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.core.attributes import INFECTIVITY, MAX_ATTRIBUTES, MAX_HEADER, MAX_LABEL_BYTES, Labels
from sim.core.boundedio import Bounds, read_bounded
from sim.core.world import AGENT_COLUMNS, SETTABLE_COLUMNS, World
from sim.errors import BadFileError, BadParameterError

#: What to give instead of a bad file.
GIVE = "a table of people: a CSV, CSV.gz or Parquet file with a header row, one row per person"
#: A cell written as a number (the same rule as the series files').
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\Z|[+-]?(nan|inf)\Z", re.IGNORECASE)
_WHOLE = re.compile(r"[+-]?\d{1,18}\Z")
_NOT_NAME = re.compile(r"[^A-Za-z0-9_]")
#: Built-in columns a people table may give (its measured values replace the drawn ones).
MEASURED = tuple(SETTABLE_COLUMNS)


@dataclass(frozen=True)
class Category:
    """A text attribute: each person's code (int32; -1 for an empty cell) and the labels the codes index."""

    codes: np.ndarray
    labels: tuple[str, ...]


@dataclass(frozen=True)
class PeopleTable:
    """A table of people read and checked: their ids (int64, in the file's row order) and attributes by name.

    Attributes:
        ids: one id per row, all distinct. numbers: numeric attributes (float64, NaN for an empty cell).
        categories: text attributes. headers: each attribute's column name in the file. renamed: the column
        names that were not plain names, with the attribute name each became.
    """

    path: str
    id_column: str
    ids: np.ndarray
    numbers: dict[str, np.ndarray] = field(default_factory=dict)
    categories: dict[str, Category] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    renamed: dict[str, str] = field(default_factory=dict)

    #: How a sentence names row ``i`` (from 0): a file's line (the header is line 1), or a DataFrame's row.
    row_word: str = "line"
    first_row: int = 2

    @property
    def rows(self) -> int:
        return int(self.ids.shape[0])

    def where(self, row: int) -> str:
        """Row ``row`` (from 0) as a sentence names it: ``line 7`` of a file, ``row 5`` of a DataFrame."""
        return f"{self.row_word} {row + self.first_row}"


def read_people(path: str, id_column: str = "id", *, bounds: Bounds | None = None) -> PeopleTable:
    """The people of the CSV (or CSV.gz) table at ``path``, one per row, ``id_column`` their ids.

    Raises:
        BadFileError: the file is missing, unreadable, too big (``bounds``), empty, has no ``id_column``, a row
            of another width, an id that is empty, not a whole number or repeated (the rows named), or two
            columns that become the same attribute name.
        BadParameterError: ``id_column`` is not given.
    """
    if not id_column:
        raise BadParameterError("id names no column: give the column of the people's ids", fields="id")
    if path.lower().endswith(".parquet"):
        return _read_parquet(path, id_column)
    gz = path.lower().endswith(".gz")
    data = read_bounded(path, "people table", GIVE, gz=gz, bounds=bounds or Bounds())
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadFileError(f"people table {path} is not UTF-8 text (byte {exc.start}): give {GIVE}") from None
    header, columns = _columns(path, text)
    if id_column not in header:
        shown = ", ".join(header[:12]) + (", ..." if len(header) > 12 else "")
        raise BadFileError(f"people table {path} has no column {id_column!r}: its columns are {shown}")
    ids = _ids(path, id_column, columns[header.index(id_column)])
    names = _names(path, [h for h in header if h != id_column])
    table = PeopleTable(path=path, id_column=id_column, ids=ids)
    for head, cells in zip(header, columns):
        if head == id_column:
            continue
        name = _keep_name(table, names, head)
        number = _numbers(cells)
        if number is not None:
            table.numbers[name] = number
        else:
            table.categories[name] = _category(cells)
    return table


def _read_parquet(path: str, id_column: str) -> PeopleTable:
    """:func:`read_people` of a Parquet table (checked by :func:`sim.store.seriesio.read_parquet` before it is
    read): integer and float columns are numbers (a null is NaN), text columns categories (a null is -1)."""
    from sim.store.seriesio import read_parquet  # noqa: PLC0415 - pyarrow only for .parquet

    pa, table = read_parquet(path, "people table", "", None, give=GIVE, named=(id_column,))
    header = [str(n) for n in table.column_names]
    if id_column not in header:
        shown = ", ".join(header[:12]) + (", ..." if len(header) > 12 else "")
        raise BadFileError(f"people table {path} has no column {id_column!r}: its columns are {shown}")
    ids_col = table.column(id_column)
    if not pa.types.is_integer(ids_col.type) or ids_col.null_count:
        raise BadFileError(f"people table {path}: its {id_column} must be whole numbers, each row one: give {GIVE}")
    ids = _distinct_ids(path, id_column, ids_col.to_numpy().astype(np.int64))
    names = _names(path, [h for h in header if h != id_column])
    out = PeopleTable(path=path, id_column=id_column, ids=ids)
    for head in header:
        if head == id_column:
            continue
        name, column = names[head], table.column(head)
        out.headers[name] = head
        if name != head:
            out.renamed[head] = name
        typ = column.type
        if pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_boolean(typ):
            values = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
            out.numbers[name] = np.asarray(values, dtype=np.float64)
        else:
            encoded = column.combine_chunks()
            if not pa.types.is_dictionary(encoded.type):
                encoded = encoded.dictionary_encode()
            words = [str(x).strip() for x in encoded.dictionary.to_pylist()]
            codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
            # As in a CSV file: an empty (or blank) cell is missing, and labels are distinct stripped texts.
            labels = [w for w in dict.fromkeys(words) if w]
            at = {w: i for i, w in enumerate(labels)}
            index = np.array([at.get(w, -1) for w in words] + [-1], dtype=np.int32)
            out.categories[name] = Category(codes=index[codes], labels=tuple(labels))
    return out


def _columns(path: str, text: str) -> tuple[list[str], list[list[str]]]:
    """The header and the cells of each column (as text), every row checked to have the header's width."""
    text = text.replace("\r\n", "\n").rstrip("\n")
    if not text.strip():
        raise BadFileError(f"people table {path} is empty: give {GIVE}")
    head, _, body = text.partition("\n")
    if '"' not in text and "\r" not in text and "\n\n" not in body:
        header = [h.strip() for h in head.split(",")]
        width = len(header)
        cells = body.replace("\n", ",").split(",") if body else []
        if len(cells) % width == 0:
            rows = len(cells) // width
            if not rows or body.count("\n") + 1 == rows:
                return header, [cells[j::width] for j in range(width)]
    rows_read = list(csv.reader(io.StringIO(text)))
    header = [h.strip() for h in rows_read[0]]
    width = len(header)
    for i, row in enumerate(rows_read[1:], start=2):
        if len(row) != width:
            raise BadFileError(
                f"people table {path} line {i} has {len(row)} cells, its header {width}: give one cell per column "
                "in every row"
            )
    body_rows = rows_read[1:]
    return header, [list(col) for col in zip(*body_rows)] if body_rows else [[] for _ in header]


def _ids(path: str, column: str, cells: list[str]) -> np.ndarray:
    """The ids, each a whole number, all distinct (the rows of the first bad one named: line 2 is row 1)."""
    stripped = [c.strip() for c in cells]
    bad = next((i for i, c in enumerate(stripped) if not _WHOLE.match(c)), None)
    if bad is not None:
        cell = stripped[bad][:40]
        what = "is empty" if not cell else f"is {cell!r}, not a whole number"
        raise BadFileError(f"people table {path} line {bad + 2}: its {column} {what}: give every person an id")
    ids = np.array(stripped, dtype=np.int64) if stripped else np.empty(0, dtype=np.int64)
    return _distinct_ids(path, column, ids)


def _distinct_ids(path: str, column: str, ids: np.ndarray, *, word: str = "lines", first: int = 2) -> np.ndarray:
    """``ids`` when no two are the same (else the lines of the first two that are: line 2 is row 1; or the
    ``word`` of rows counted from ``first``)."""
    order = np.argsort(ids, kind="stable")
    same = np.flatnonzero(ids[order][1:] == ids[order][:-1])
    if same.size:
        a, b = sorted((int(order[same[0]]), int(order[same[0] + 1])))
        raise BadFileError(
            f"people table {path} {word} {a + first} and {b + first} have the same {column} {int(ids[a])}: give "
            "each person one row"
        )
    return ids


def _keep_name(table: PeopleTable, names: dict[str, str], head: str) -> str:
    """The attribute name of column ``head``, its header (and renaming) noted in ``table``."""
    name = names[head]
    table.headers[name] = head
    if name != head:
        table.renamed[head] = name
    return name


def _names(path: str, headers: list[str]) -> dict[str, str]:
    """Each column's attribute name: a plain name (``x.loc`` is ``x_loc``), none twice, none a built-in column
    Agora derives (the measured ones, such as ``susceptibility``, may be given)."""
    out: dict[str, str] = {}
    taken: dict[str, str] = {}
    for head in headers:
        name = _NOT_NAME.sub("_", head)[:64] or "_"
        if name in AGENT_COLUMNS and name not in MEASURED:
            raise BadFileError(
                f"people table {path} has a column {head!r}, a name Agora keeps for its own column: rename it"
            )
        if name in taken:
            raise BadFileError(
                f"people table {path} has columns {taken[name]!r} and {head!r}, which both become attribute "
                f"{name!r}: rename one"
            )
        taken[name] = head
        out[head] = name
    return out


def _numbers(cells: list[str]) -> np.ndarray | None:
    """The column as float64 (NaN for an empty cell) when every filled cell is a number, else None."""
    words = list(dict.fromkeys(c.strip() for c in cells))
    filled = [w for w in words if w]
    if not filled or not all(_NUMBER.match(w) for w in filled):
        return None
    value = {w: float(w) if w else np.nan for w in words}
    return np.fromiter((value[c.strip()] for c in cells), dtype=np.float64, count=len(cells))


def _category(cells: list[str]) -> Category:
    """The column as codes into its labels (first-seen order; -1 for an empty cell)."""
    stripped = [c.strip() for c in cells]
    labels = [w for w in dict.fromkeys(stripped) if w]
    index = {w: i for i, w in enumerate(labels)}
    index[""] = -1
    codes = np.fromiter(map(index.__getitem__, stripped), dtype=np.int32, count=len(stripped))
    return Category(codes=codes, labels=tuple(labels))


def people_from_frame(frame: Any, id_column: str = "id") -> PeopleTable:
    """The people of a pandas DataFrame, one per row, checked as :func:`read_people` checks a file: ``id_column``
    whole numbers, all distinct; integer, float and boolean columns numbers (a missing value NaN); any other
    column (text, objects, pandas categories) a category of its values' texts, stripped (missing or empty:
    -1); column names made plain. Rows are named by position (``row 0`` is the first).

    Raises:
        BadFileError: no ``id_column``, an id missing, not whole or repeated, or two columns that become one name.
        BadParameterError: ``frame`` is not a DataFrame, or ``id_column`` is not given.
    """
    import pandas as pd  # noqa: PLC0415 - only a DataFrame brings it, so pandas is there

    where = "(a DataFrame)"
    if not isinstance(frame, pd.DataFrame):
        raise BadParameterError(
            f"people is a {type(frame).__name__}: give a pandas DataFrame or the path of a table", fields="people"
        )
    if not id_column:
        raise BadParameterError("id names no column: give the column of the people's ids", fields="id")
    header = [str(c) for c in frame.columns]
    if len(set(header)) != len(header):
        raise BadFileError(f"people table {where} names a column twice: give each column its own name")
    if id_column not in header:
        shown = ", ".join(header[:12]) + (", ..." if len(header) > 12 else "")
        raise BadFileError(f"people table {where} has no column {id_column!r}: its columns are {shown}")
    columns = dict(zip(header, (frame.iloc[:, i] for i in range(len(header)))))
    raw = columns[id_column]
    numeric = pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype)
    values = raw.to_numpy(dtype=np.float64, na_value=np.nan) if numeric else None
    if values is None or not np.all(np.isfinite(values) & (values == np.round(values)) & (np.abs(values) < 2**62)):
        raise BadFileError(f"people table {where}: its {id_column} must be whole numbers, each row one: give {GIVE}")
    ids = raw.to_numpy(dtype=np.int64) if pd.api.types.is_integer_dtype(raw.dtype) else values.astype(np.int64)
    ids = _distinct_ids(where, id_column, ids, word="rows", first=0)
    names = _names(where, [h for h in header if h != id_column])
    table = PeopleTable(path=where, id_column=id_column, ids=ids, row_word="row", first_row=0)
    for head, column in columns.items():
        if head == id_column:
            continue
        name = _keep_name(table, names, head)
        if pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype):
            table.numbers[name] = column.to_numpy(dtype=np.float64, na_value=np.nan)
            continue
        text = column.astype("string").str.strip()
        text = text.mask(text == "")
        codes, uniques = pd.factorize(text, use_na_sentinel=True)  # first-seen order, as a file's
        table.categories[name] = Category(codes=codes.astype(np.int32), labels=tuple(str(u) for u in uniques))
    return table


def keep_attributes(world: World, table: PeopleTable, order: np.ndarray) -> None:
    """Make every column of ``table`` but the ids an attribute of ``world`` (``world.attributes``, source
    ``people``; ``sim.core.attributes``), in the table's column order: ``order`` lists the table's rows in the
    world's agent order. A measured built-in column (``susceptibility``, ...) replaces the drawn one; its values
    must lie in its range, none missing; ``infectivity`` must be numbers of at least 0, none missing; no number
    may be infinite.

    Raises:
        BadFileError: one of those rules broken (the column and the first line that breaks it named), or more
            than :data:`sim.core.attributes.MAX_ATTRIBUTES` columns.
    """
    if len(table.headers) > MAX_ATTRIBUTES:
        raise BadFileError(
            f"people table {table.path} has {len(table.headers):,} columns besides the ids, more than the "
            f"{MAX_ATTRIBUTES:,} attributes a world holds: keep the columns you need"
        )
    for name, header in table.headers.items():
        spec = {"source": "people", "header": header[:MAX_HEADER]}
        if name in table.categories:
            if name in SETTABLE_COLUMNS or name == INFECTIVITY:
                raise BadFileError(
                    f"people table {table.path}: its column {header[:60]!r} holds text, and {name} is a number: "
                    "give numbers in every row"
                )
            cat = table.categories[name]
            try:
                labels = Labels.of(cat.labels)
            except UnicodeEncodeError:
                raise BadFileError(
                    f"people table {table.path}: its column {header[:60]!r} holds text that is not valid Unicode "
                    "(a lone surrogate): give text UTF-8 can carry"
                ) from None
            if len(labels) and int(np.diff(labels.offsets).max()) > MAX_LABEL_BYTES:
                raise BadFileError(
                    f"people table {table.path}: its column {header[:60]!r} holds a text longer than "
                    f"{MAX_LABEL_BYTES:,} bytes: give shorter values"
                )
            world.columns[name] = cat.codes[order].astype(np.int32)
            world.labels[name] = labels
            world.attributes[name] = {"kind": "category", **spec}
            continue
        values = table.numbers[name]
        lo, hi = SETTABLE_COLUMNS.get(name, (0.0, np.inf) if name == INFECTIVITY else (-np.inf, np.inf))
        measured = name in SETTABLE_COLUMNS or name == INFECTIVITY
        bad = ~((values >= lo) & (values <= hi)) if measured else np.isinf(values)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            value = float(values[row])
            if measured:
                what = "is empty" if np.isnan(value) else f"is {value:g}"
                span = f"from {lo:g} to {hi:g}" if np.isfinite(hi) else f"of at least {lo:g}, finite"
                need = f"give every person a {name} {span}"
            else:
                what, need = f"is {value:g}", "give finite numbers, or leave the cell empty where it is unknown"
            raise BadFileError(f"people table {table.path} {table.where(row)}: its {header[:60]} {what}: {need}")
        if name in SETTABLE_COLUMNS:
            world.columns[name] = values[order].astype(np.float32)
        else:
            world.columns[name] = values[order].astype(np.float64)
        world.attributes[name] = {"kind": "number", **spec}


__all__ = ["GIVE", "MEASURED", "Category", "PeopleTable", "keep_attributes", "people_from_frame", "read_people"]
