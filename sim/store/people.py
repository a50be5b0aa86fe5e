"""A table of people (``agora new WORLD --people FILE --id COLUMN``; issue 59): one agent per row, none dropped,
every other column an attribute of the agents.

A column whose filled cells are all numbers is a numeric attribute (float64; an empty cell is NaN); any other
column is a category: int32 codes (-1 for an empty cell) and its labels, in first-seen order. Column names
become attribute names: a character outside ``[A-Za-z0-9_]`` becomes ``_`` (Hagelloch's ``x.loc`` is ``x_loc``),
and the table says which were renamed.

CSV, CSV.gz and Parquet. A CSV file is read within the bounds of :mod:`sim.core.boundedio`; a table without
quoted cells is split in a few bulk operations, one with them by the :mod:`csv` reader, and in both every row's
width is checked against the header's before any cell is read: a row with a cell too many or too few is
refused, naming its line, never shifted into the next. Numbers and ids are ASCII digits; an id is read for its
exact value, within int64. A Parquet file's footer is checked before it is read
(:func:`sim.store.seriesio.read_parquet`); its date, time and timestamp columns are categories of their ISO
text, as the same table written as CSV reads.

An error about a file's shape (empty, only a header, no id column, a row's width, an id) names the file, a line
(or a Parquet row), counts and the id column the caller gave, never a cell or a header the file holds: a file
that is no table (a link to a key file or ``/proc/self/environ``) prints none of its bytes. Only once a table
is read whole (its ids and every row's width checked) does an error name a column by its attribute name (a
plain name, as ``agora info`` shows it) and a number it holds.
"""

from __future__ import annotations

import csv
import io
import operator
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.core.attributes import INFECTIVITY, MAX_ATTRIBUTES, MAX_HEADER, MAX_LABEL_BYTES, Labels
from sim.core.boundedio import Bounds, read_bounded
from sim.core.memory import ensure_memory
from sim.core.world import AGENT_COLUMNS, SETTABLE_COLUMNS, World
from sim.errors import BadFileError, BadParameterError

#: What to give instead of a bad file.
GIVE = "a table of people: a CSV, CSV.gz or Parquet file with a header row, one row per person"
#: A cell written as a number in ASCII digits (the same rule as the series files').
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\Z|[+-]?(nan|inf)\Z", re.IGNORECASE)
#: An id in ASCII digits: short enough to fit int64 whatever its digits, or any length (its value then checked).
_SHORT_WHOLE = re.compile(r"[+-]?[0-9]{1,18}\Z")
_WHOLE = re.compile(r"[+-]?[0-9]+\Z")
#: The ids a world holds: int64.
ID_MIN, ID_MAX = -(2**63), 2**63 - 1
ID_RANGE = f"from {ID_MIN:,} to {ID_MAX:,}"
_NOT_NAME = re.compile(r"[^A-Za-z0-9_]")
#: Memory a CSV cell costs while the table is read (its string, its place in a column's list, its parsed value).
BYTES_PER_CELL = 110
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
        names that were not plain names, with the attribute name each became. lines: each row's line in the
        file, when a quoted cell spans lines (else row ``i`` is line ``i + first_row``).
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
    lines: np.ndarray | None = None
    #: Whether an error shows a column's own name (a DataFrame's, in the caller's own process).
    shows_names: bool = False

    @property
    def rows(self) -> int:
        return int(self.ids.shape[0])

    def where(self, row: int) -> str:
        """Row ``row`` (from 0) as a sentence names it: ``line 7`` of a file, ``row 5`` of a DataFrame."""
        if self.lines is not None:
            return f"{self.row_word} {int(self.lines[row])}"
        return f"{self.row_word} {row + self.first_row}"

    def column(self, name: str) -> str:
        """Attribute ``name``'s column as an error names it: its attribute name (a plain name, ``x_loc``), or a
        DataFrame's column name. Only a table read whole names a column so (its ids, its rows' widths checked):
        an error about a file's shape names no byte of it."""
        return f"column {self.headers.get(name, name)[:60]!r}" if self.shows_names else name


def _ordinal(n: int) -> str:
    return f"{n:,}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def _no_people(path: str) -> BadFileError:
    return BadFileError(f"people table {path} has a header and no rows: give {GIVE}")


def _no_id_column(path: str, id_column: str, count: int) -> BadFileError:
    # The file's header is not quoted: a file that is no table (a key, /proc/self/environ) would print its bytes.
    return BadFileError(
        f"people table {path} has no column {id_column[:60]!r} among its {count:,} column"
        f"{'s' if count != 1 else ''}: give the column of the people's ids as its first line names it"
    )


def _id_twice(path: str, id_column: str) -> BadFileError:
    return BadFileError(f"people table {path} has two columns named {id_column[:60]!r}: give the ids once")


def read_people(path: str, id_column: str = "id", *, bounds: Bounds | None = None) -> PeopleTable:
    """The people of the CSV (or CSV.gz, or Parquet) table at ``path``, one per row, ``id_column`` their ids.

    Raises:
        BadFileError: the file is missing, unreadable, too big (``bounds``), empty or only a header, has no
            ``id_column`` (or two), a row of another width than the header, an id that is empty, not a whole
            number in ASCII digits, outside int64 or repeated (the lines named), or two columns that become the
            same attribute name.
        BadParameterError: ``id_column`` is not given.
    """
    if not id_column:
        raise BadParameterError("id names no column: give the column of the people's ids", fields="id")
    if path.lower().endswith(".parquet"):
        return _read_parquet(path, id_column)
    gz = path.lower().endswith(".gz")
    data = read_bounded(path, "people table", GIVE, gz=gz, bounds=bounds or Bounds())
    try:
        text = data.decode("utf-8-sig")  # a spreadsheet's byte-order mark is not part of the first column's name
    except UnicodeDecodeError as exc:
        raise BadFileError(f"people table {path} is not UTF-8 text (byte {exc.start}): give {GIVE}") from None
    del data
    header, columns, lines = _columns(path, text)
    del text
    if id_column not in header:
        raise _no_id_column(path, id_column, len(header))
    if header.count(id_column) > 1:
        raise _id_twice(path, id_column)
    if not columns[0]:
        raise _no_people(path)
    ids = _ids(path, id_column, columns[header.index(id_column)], lines)
    names = _names(path, [h for h in header if h != id_column], [j + 1 for j, h in enumerate(header) if h != id_column])
    table = PeopleTable(path=path, id_column=id_column, ids=ids, lines=lines)
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
    read): integer, float and boolean columns are numbers (a null is NaN); text columns categories (a null or a
    blank is -1), and date, time and timestamp columns categories of their ISO text, as in the same table
    written as CSV. Rows are named from 0, as pandas and pyarrow count them."""
    from sim.store.seriesio import read_parquet  # noqa: PLC0415 - pyarrow only for .parquet

    pa, table = read_parquet(path, "people table", "", None, give=GIVE, named=(id_column,), dates=True)
    header = [str(n) for n in table.column_names]
    if id_column not in header:
        raise _no_id_column(path, id_column, len(header))
    if not table.num_rows:
        raise _no_people(path)
    ids = _parquet_ids(pa, path, id_column, table.column(id_column))
    ids = _distinct_ids(path, id_column, ids, word="rows", first=0)
    names = _names(path, [h for h in header if h != id_column], [j + 1 for j, h in enumerate(header) if h != id_column])
    out = PeopleTable(path=path, id_column=id_column, ids=ids, row_word="row", first_row=0)
    for head in header:
        if head == id_column:
            continue
        name, column = _keep_name(out, names, head), table.column(head)
        typ = column.type
        if pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_boolean(typ):
            values = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
            out.numbers[name] = np.asarray(values, dtype=np.float64)
            continue
        if pa.types.is_date(typ) or pa.types.is_timestamp(typ) or pa.types.is_time(typ):
            column = _iso_text(pa, column)
        out.categories[name] = _parquet_category(pa, column)
    return out


def _parquet_ids(pa: Any, path: str, id_column: str, column: Any) -> np.ndarray:
    """A Parquet table's ids, each read for its exact value (int64; a uint64 above its range refused).

    Raises:
        BadFileError: not an integer column, a null (its row named), or an id above int64 (its row named).
    """
    if not pa.types.is_integer(column.type):
        what = "text" if pa.types.is_string(column.type) or pa.types.is_large_string(column.type) else column.type
        raise BadFileError(
            f"people table {path}: its column {id_column[:60]!r} holds {what}, not whole numbers: give each "
            "person a whole-number id"
        )
    if column.null_count:
        row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
        raise BadFileError(f"people table {path} row {row}: its {id_column[:60]} is empty: give every person an id")
    values = column.to_numpy()
    if values.dtype == np.uint64:
        over = np.flatnonzero(values > np.uint64(ID_MAX))
        if over.size:
            raise BadFileError(
                f"people table {path} row {int(over[0])}: its {id_column[:60]} is above the largest id a world "
                f"holds: give ids {ID_RANGE}"
            )
    return values.astype(np.int64)


def _iso_text(pa: Any, column: Any) -> Any:
    """A date, time or timestamp column as its ISO text, as a CSV file of it holds it: a timestamp or time in the
    coarsest unit that keeps every value (``2020-01-01 10:00:00``, not the ``.000`` a Parquet file's milliseconds
    would add)."""
    typ = column.type
    if pa.types.is_date64(typ):
        column = column.cast(pa.date32())
    elif pa.types.is_timestamp(typ) or pa.types.is_time(typ):
        units = ("s", "ms", "us", "ns")
        for unit in units[: units.index(typ.unit) + 1]:
            if pa.types.is_timestamp(typ):
                coarse = pa.timestamp(unit, typ.tz)
            else:
                coarse = pa.time32(unit) if unit in ("s", "ms") else pa.time64(unit)
            try:
                column = column.cast(coarse)  # safe: refused when a value would lose its fraction
                break
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue
    return column.cast(pa.string())


def _parquet_category(pa: Any, column: Any) -> Category:
    """A Parquet text column as a category, as a CSV file's reads: stripped texts, an empty (or blank) cell
    missing, labels in the order the rows first show them (not the dictionary's, which may hold unused
    values or another order)."""
    encoded = column.combine_chunks()
    if pa.types.is_null(encoded.type):
        return Category(codes=np.full(len(encoded), -1, dtype=np.int32), labels=())
    if not pa.types.is_dictionary(encoded.type):
        encoded = encoded.dictionary_encode()
    words = [str(x).strip() if x is not None else "" for x in encoded.dictionary.to_pylist()]
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    distinct = [w for w in dict.fromkeys(words) if w]
    at = {w: i for i, w in enumerate(distinct)}
    index = np.array([at.get(w, -1) for w in words] + [-1], dtype=np.int64)
    merged = index[codes]  # codes into ``distinct``: -1 for a missing cell
    # Relabel in the order of first appearance among the rows (a CSV file's order).
    seen = merged >= 0
    used, first = np.unique(merged[seen], return_index=True)
    order = used[np.argsort(first, kind="stable")]
    relabel = np.full(len(distinct) + 1, -1, dtype=np.int32)
    relabel[order] = np.arange(order.size, dtype=np.int32)
    return Category(codes=relabel[merged], labels=tuple(distinct[i] for i in order.tolist()))


def _columns(path: str, text: str) -> tuple[list[str], list[list[str]], np.ndarray | None]:
    """The header, the cells of each column (as text) and each row's line (None when row ``i`` is line
    ``i + 2``), every row checked to have the header's width before any cell is taken.

    Raises:
        BadFileError: an empty file, or a row of another width (its line named).
    """
    text = text.replace("\r\n", "\n").rstrip("\n")
    if not text.strip():
        raise BadFileError(f"people table {path} is empty: give {GIVE}")
    # A cell read as a Python string costs about 100 bytes (measured: 505 MB for 5 million cells of a 31 MB
    # table): counted from the separators before any is split, so a table of tiny cells cannot exhaust memory.
    count = text.count(",") + text.count("\n") + 1
    ensure_memory(
        count * BYTES_PER_CELL + 2 * len(text),
        f"reading people table {path} ({count:,} cells)",
        "give a smaller table, or keep only the columns you need",
    )
    head, _, body = text.partition("\n")
    if '"' not in text and "\r" not in text:
        header = [h.strip() for h in head.split(",")]
        width = len(header)
        if not body:
            return header, [[] for _ in header], None
        rows = body.split("\n")
        # Every row's width, counted in bulk: a row with a cell too many and one with a cell too few would
        # otherwise add up to whole rows and shift every cell between them.
        commas = np.fromiter(map(operator.methodcaller("count", ","), rows), dtype=np.int64, count=len(rows))
        bad = np.flatnonzero(commas != width - 1)
        if bad.size:
            i = int(bad[0])
            raise _ragged(path, i + 2, int(commas[i]) + 1 if rows[i] else 0, width)
        del rows, commas
        cells = body.replace("\n", ",").split(",")
        return header, [cells[j::width] for j in range(width)], None
    reader = csv.reader(io.StringIO(text))
    header = [h.strip() for h in next(reader)]
    width = len(header)
    body_rows: list[list[str]] = []
    starts: list[int] = []
    line = reader.line_num + 1
    for row in reader:
        if len(row) != width:
            raise _ragged(path, line, len(row), width)
        body_rows.append(row)
        starts.append(line)
        line = reader.line_num + 1
    lines = np.array(starts, dtype=np.int64)
    plain = not body_rows or int(lines[-1]) == len(body_rows) + 1  # no quoted cell spans lines
    columns = [list(col) for col in zip(*body_rows)] if body_rows else [[] for _ in header]
    return header, columns, None if plain else lines


def _ragged(path: str, line: int, cells: int, width: int) -> BadFileError:
    return BadFileError(
        f"people table {path} line {line:,} has {cells:,} cell{'s' if cells != 1 else ''}, its header {width:,}: "
        "give one cell per column in every row (a cell holding a comma is quoted)"
    )


def _ids(path: str, column: str, cells: list[str], lines: np.ndarray | None = None) -> np.ndarray:
    """The ids, each a whole number in ASCII digits read for its exact value within int64, all distinct (the
    line of the first bad one named: line 2 is row 1, unless ``lines`` says otherwise).

    Raises:
        BadFileError: an id empty, not a whole number, outside int64 or repeated.
    """
    stripped = [c.strip() for c in cells]

    def line(row: int) -> int:
        return int(lines[row]) if lines is not None else row + 2

    # Up to 18 digits fit int64 whatever they are; a longer one (or a bad one) is judged by its exact value.
    for row in (i for i, c in enumerate(stripped) if not _SHORT_WHOLE.match(c)):
        cell = stripped[row]
        if not cell:
            what, need = "is empty", "give every person an id"
        elif not _WHOLE.match(cell):
            what, need = "is not a whole number", "give every person an id in ASCII digits, such as 17"
        elif not ID_MIN <= int(cell) <= ID_MAX:
            what, need = "is outside the ids a world holds", f"give ids {ID_RANGE}"
        else:
            continue
        raise BadFileError(f"people table {path} line {line(row):,}: its {column[:60]} {what}: {need}")
    ids = np.array(stripped, dtype=np.int64) if stripped else np.empty(0, dtype=np.int64)
    return _distinct_ids(path, column, ids, lines=lines)


def _distinct_ids(
    path: str, column: str, ids: np.ndarray, *, word: str = "lines", first: int = 2, lines: np.ndarray | None = None
) -> np.ndarray:
    """``ids`` when no two are the same (else the lines of the first two that are: line 2 is row 1, or
    ``lines`` gives each row's; or the ``word`` of rows counted from ``first``)."""
    order = np.argsort(ids, kind="stable")
    same = np.flatnonzero(ids[order][1:] == ids[order][:-1])
    if same.size:
        a, b = sorted((int(order[same[0]]), int(order[same[0] + 1])))
        la, lb = (int(lines[a]), int(lines[b])) if lines is not None else (a + first, b + first)
        raise BadFileError(
            f"people table {path} {word} {la:,} and {lb:,} have the same {column[:60]} {int(ids[a])}: give each "
            "person one row"
        )
    return ids


def _keep_name(table: PeopleTable, names: dict[str, str], head: str) -> str:
    """The attribute name of column ``head``, its header (and renaming) noted in ``table``."""
    name = names[head]
    table.headers[name] = head
    if name != head:
        table.renamed[head] = name
    return name


def _names(path: str, headers: list[str], places: list[int] | None = None, *, show: bool = False) -> dict[str, str]:
    """Each column's attribute name: a plain name (``x.loc`` is ``x_loc``), none twice, none a built-in column
    Agora derives (the measured ones, such as ``susceptibility``, may be given). ``places``: each header's column
    in the file, by which an error names it (``show``: its name may be shown, a DataFrame's)."""
    out: dict[str, str] = {}
    taken: dict[str, int] = {}
    places = places or list(range(1, len(headers) + 1))
    for place, head in zip(places, headers):
        name = _NOT_NAME.sub("_", head)[:64] or "_"
        if name in AGENT_COLUMNS and name not in MEASURED:
            raise BadFileError(
                f"people table {path}: its {_ordinal(place)} column is named {name}, a name Agora keeps for its own "
                "column: rename it"
            )
        if name in taken:
            what = (
                f"columns {headers[places.index(taken[name])]!r} and {head!r}, which both become attribute {name!r}"
                if show
                else f"{_ordinal(taken[name])} and {_ordinal(place)} columns both become attribute {name}"
            )
            raise BadFileError(f"people table {path}: its {what}: rename one")
        taken[name] = place
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
    whole numbers read for their exact value (an integer column as it is, within int64; a float column whole
    and at most 2^53, where floats stop being exact), all distinct; integer, float and boolean columns numbers
    (a missing value NaN); any other column (text, objects, pandas categories) a category of its values' texts,
    stripped (missing or empty: -1); column names made plain. Rows are named by position (``row 0`` is the
    first).

    Raises:
        BadFileError: no rows, no ``id_column``, an id missing, not whole, outside int64 or repeated, or two
            columns that become one name.
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
        shown = ", ".join(h[:60] for h in header[:12]) + (", ..." if len(header) > 12 else "")
        raise BadFileError(f"people table {where} has no column {id_column!r}: its columns are {shown}")
    if not len(frame):
        raise BadFileError(f"people table {where} has no rows: give one row per person")
    columns = dict(zip(header, (frame.iloc[:, i] for i in range(len(header)))))
    ids = _frame_ids(pd, where, id_column, columns[id_column])
    ids = _distinct_ids(where, id_column, ids, word="rows", first=0)
    names = _names(where, [h for h in header if h != id_column], show=True)
    table = PeopleTable(path=where, id_column=id_column, ids=ids, row_word="row", first_row=0, shows_names=True)
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


def _frame_ids(pd: Any, where: str, id_column: str, raw: Any) -> np.ndarray:
    """A DataFrame's ids read for their exact value: an integer column within int64, a float column of whole
    numbers of at most 2^53 (beyond, a float is not the id it was written as).

    Raises:
        BadFileError: not numbers, a missing or non-whole id, or one out of range (its row named).
    """
    kind = raw.dtype
    need = f"its {id_column} must be whole numbers, each row one: give {GIVE}"
    if not pd.api.types.is_numeric_dtype(kind) or pd.api.types.is_bool_dtype(kind):
        raise BadFileError(f"people table {where}: {need}")
    if pd.api.types.is_integer_dtype(kind) and not raw.isna().any():
        values = raw.to_numpy()
        if values.dtype == np.uint64:
            over = np.flatnonzero(values > np.uint64(ID_MAX))
            if over.size:
                raise BadFileError(
                    f"people table {where} row {int(over[0])}: its {id_column} is above the largest id a world "
                    f"holds: give ids {ID_RANGE}"
                )
        return values.astype(np.int64)
    values = raw.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.flatnonzero(~(np.isfinite(values) & (values == np.round(values)) & (np.abs(values) <= 2**53)))
    if bad.size:
        row = int(bad[0])
        value = float(values[row])
        what = "is missing" if np.isnan(value) else ("is not whole" if value != np.round(value) else "is beyond 2^53")
        raise BadFileError(
            f"people table {where} row {row}: its {id_column} {what}: ids must be whole numbers (an integer column, "
            "or floats of at most 2^53, where a float stops being exact)"
        )
    return values.astype(np.int64)


def check_attributes(table: PeopleTable) -> None:
    """Refuse, before any work, a table whose columns :func:`keep_attributes` would refuse.

    Raises:
        BadFileError: see :func:`keep_attributes`.
    """
    if len(table.headers) > MAX_ATTRIBUTES:
        raise BadFileError(
            f"people table {table.path} has {len(table.headers):,} columns besides the ids, more than the "
            f"{MAX_ATTRIBUTES:,} attributes a world holds: keep the columns you need"
        )
    for name in table.headers:
        if name in table.categories:
            _category_labels(table, name)
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
            raise BadFileError(f"people table {table.path} {table.where(row)}: its {table.column(name)} {what}: {need}")


def _category_labels(table: PeopleTable, name: str) -> Labels:
    """The labels of category ``name``, checked (not a measured number, valid Unicode, none too long)."""
    if name in SETTABLE_COLUMNS or name == INFECTIVITY:
        raise BadFileError(
            f"people table {table.path}: its {table.column(name)} holds text, and {name} is a number: give numbers "
            "in every row"
        )
    try:
        labels = Labels.of(table.categories[name].labels)
    except UnicodeEncodeError:
        raise BadFileError(
            f"people table {table.path}: its {table.column(name)} holds text that is not valid Unicode (a lone "
            "surrogate): give text UTF-8 can carry"
        ) from None
    if len(labels) and int(np.diff(labels.offsets).max()) > MAX_LABEL_BYTES:
        raise BadFileError(
            f"people table {table.path}: its {table.column(name)} holds a text longer than {MAX_LABEL_BYTES:,} "
            "bytes: give shorter values"
        )
    return labels


def keep_attributes(world: World, table: PeopleTable, order: np.ndarray) -> None:
    """Make every column of ``table`` but the ids an attribute of ``world`` (``world.attributes``, source
    ``people``; ``sim.core.attributes``), in the table's column order: ``order`` lists the table's rows in the
    world's agent order. A measured built-in column (``susceptibility``, ...) replaces the drawn one; its values
    must lie in its range, none missing; ``infectivity`` must be numbers of at least 0, none missing; no number
    may be infinite (:func:`check_attributes`, which a builder calls before any work).

    Raises:
        BadFileError: one of those rules broken (the column and the first line that breaks it named), or more
            than :data:`sim.core.attributes.MAX_ATTRIBUTES` columns.
    """
    check_attributes(table)
    for name, header in table.headers.items():
        spec = {"source": "people", "header": header[:MAX_HEADER]}
        if name in table.categories:
            world.columns[name] = table.categories[name].codes[order].astype(np.int32)
            world.labels[name] = _category_labels(table, name)
            world.attributes[name] = {"kind": "category", **spec}
            continue
        values = table.numbers[name]
        if name in SETTABLE_COLUMNS:
            world.columns[name] = values[order].astype(np.float32)
        else:
            world.columns[name] = values[order].astype(np.float64)
        world.attributes[name] = {"kind": "number", **spec}


__all__ = [
    "GIVE",
    "ID_MAX",
    "ID_MIN",
    "MEASURED",
    "Category",
    "PeopleTable",
    "check_attributes",
    "keep_attributes",
    "people_from_frame",
    "read_people",
]
