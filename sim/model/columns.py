"""Per-agent columns set from data (``agora set``, ``PUT /api/v1/columns/{name}``): survey opinions,
measured susceptibilities, anything a model starts from.

What may be set (:func:`settable_columns`):

- the built-in measurements of :data:`sim.core.world.SETTABLE_COLUMNS` (``susceptibility``,
  ``reputation``, ``influence``, ``activity_rate``: float32, in [0, 1]);
- the column a model's variable starts from (:func:`variable_column`): the world column its declaration
  names (``Variable.world_column``: ``opinion`` for the continuous-opinion models), else a column of the
  variable's own name. Such a *data column* is float64, kept in the world file as the array
  ``agent.NAME``, and read when a session starts: the variable starts from it (clipped to the variable's
  range, which :func:`column_values` has already checked) instead of its ``init`` draw. Its values must
  lie in the variable's declared range; where several models start from one column, the widest of their
  ranges.

- a world's own attributes (``World.attributes``; :mod:`sim.core.attributes`): a number, float64; a category,
  whose file gives labels (one of the attribute's labels, or an empty cell for missing), not numbers;
- ``infectivity``, how infectious each agent is: a number of at least 0, finite.

Setting ``susceptibility`` or ``infectivity``, or any attribute, records it in ``World.attributes`` with source
``set`` (a model then knows the column was measured, not drawn); clearing an attribute removes it there.

Every agent of the world is given exactly one value: an id the world does not have, an id given twice, an
agent left out, a value that is not a number or is outside the range is refused whole, before anything
changes (one sentence naming the first offender and how many there are). Ids are original ids.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.core.attributes import INFECTIVITY, label_names
from sim.core.numbers import ascii_float, ascii_int
from sim.core.safe import shown
from sim.core.world import AGENT_COLUMNS, DATA_COLUMN_NAME, SETTABLE_COLUMNS, World
from sim.errors import BadParameterError
from sim.plugin import PropagationModel, Variable

#: Bytes a column file may hold per agent of the world (plus :data:`FILE_SLACK`): a row ``id,value`` takes
#: some 30; the bound keeps what reading it holds in memory proportional to the world.
FILE_BYTES_PER_AGENT = 128
FILE_SLACK = 1024 * 1024
_ROW = [("id", "<i8"), ("value", "<f8")]
#: Lines of nothing but spaces and tabs (they are ignored like empty lines).
_BLANK = re.compile(rb"(?m)^[ \t]+(?=\r?$)")
_TEXT = re.compile(rb"[^\s]")


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """A column that may be set: its name, the range of its values, and where it lives.

    ``models`` names the models whose variable starts from it (empty for a built-in column); ``category``: a
    category attribute, set from labels (its range is unused)."""

    name: str
    min: float
    max: float
    builtin: bool
    models: tuple[str, ...] = ()
    category: bool = False

    @property
    def dtype(self) -> np.dtype:
        """The column's dtype in the world: a built-in column's own (float32), int32 codes for a category,
        float64 for a data column."""
        if self.category:
            return np.dtype(np.int32)
        return np.dtype(AGENT_COLUMNS[self.name][0]) if self.builtin else np.dtype(np.float64)

    def describe(self) -> str:
        """``name [min, max]`` and what it is, for a listing."""
        if self.category:
            return f"{self.name} (a category: its labels)"
        what = "built-in" if self.builtin else "the variable of " + ", ".join(self.models) if self.models else "data"
        return f"{self.name} [{self.min:g}, {self.max:g}] ({what})"


def variable_column(name: str, var: Variable) -> str | None:
    """The world column a model's variable ``name`` starts from: the one its declaration names
    (``world_column``), else a data column of the variable's own name; None when the name cannot be one
    (a built-in column's name, or not a plain name)."""
    if var.world_column:
        return var.world_column
    return name if DATA_COLUMN_NAME.fullmatch(name) and name not in AGENT_COLUMNS else None


def settable_columns(registry: Any, world: World | None = None) -> dict[str, ColumnSpec]:
    """Every column that may be set, by name: the built-in ones; with ``world``, ``infectivity`` and the world's
    attributes (``World.attributes``); then the data columns the registry's loaded models start their variables
    from (sorted by name; a model's range is kept for an attribute it starts from). Models that failed to load,
    and entry points not imported yet, are left out."""
    out = {name: ColumnSpec(name, lo, hi, True) for name, (lo, hi) in SETTABLE_COLUMNS.items()}
    if world is not None:
        out[INFECTIVITY] = ColumnSpec(INFECTIVITY, 0.0, float("inf"), False)
        for name, spec in world.attributes.items():
            if name not in out:
                category = spec.get("kind") == "category"
                out[name] = ColumnSpec(name, -float("inf"), float("inf"), False, category=category)
    found: dict[str, list[tuple[float, float, str]]] = {}
    for info in registry.list("model"):
        variables = getattr(info.cls, "variables", None) if info.cls is not None else None
        if not isinstance(variables, dict):
            continue
        for name, var in variables.items():
            if not isinstance(var, Variable) or var.problems(name):
                continue
            column = variable_column(name, var)
            # A variable that starts from a built-in column clips it to its own range; the column keeps its own.
            if column is None or column in AGENT_COLUMNS or not DATA_COLUMN_NAME.fullmatch(column):
                continue
            found.setdefault(column, []).append((float(var.min), float(var.max), info.name))
    for column in sorted(found):
        if column in out and (out[column].category or column == INFECTIVITY):
            continue  # a category is set from labels; infectivity keeps its own range
        entries = found[column]
        out[column] = ColumnSpec(
            column,
            min(e[0] for e in entries),
            max(e[1] for e in entries),
            False,
            tuple(sorted({e[2] for e in entries})),
        )
    return out


def column_spec(registry: Any, name: Any, world: World | None = None) -> ColumnSpec:
    """The settable column ``name`` (of ``world`` too: its attributes and ``infectivity``).

    Raises:
        BadParameterError: not a column that may be set (the sentence names those that may).
    """
    columns = settable_columns(registry, world)
    spec = columns.get(name) if isinstance(name, str) else None
    if spec is None:
        given = str(name)[:60]
        why = (
            "Agora derives it"
            if given in AGENT_COLUMNS
            else "it is no attribute of the world and no loaded model starts a variable from it"
        )
        raise BadParameterError(
            f"column {given!r} cannot be set ({why}): the columns that may be set are {', '.join(columns)}"
        )
    return spec


def file_limit(n: int) -> int:
    """The most bytes a column file for a world of ``n`` agents may hold."""
    return FILE_SLACK + FILE_BYTES_PER_AGENT * int(n)


def read_column_file(path: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, values)`` of a CSV file of ``id,value`` rows (int64 original ids, float64 values, in file
    order): a header line is optional (a first line whose fields are not an id and a number), blank lines
    are ignored, fields may be quoted. At most :func:`file_limit` bytes are read for a world of ``n`` agents.

    Raises:
        BadParameterError: the file cannot be read, is not a regular file, is too large, is not UTF-8, or a
            line is not ``id,value`` (naming the line).
    """
    hint = "give a CSV file of id,value rows (original agent ids; a header line is optional)"
    rows = _id_rows(path, n, hint, _ROW, labels=False)
    return rows["id"].copy(), rows["value"].copy()


def _id_rows(path: str, n: int, hint: str, dtype: Any, *, labels: bool) -> np.ndarray:
    """The ``id,value`` rows of ``path`` as a structured array of ``dtype`` (see :func:`read_column_file`).

    Raises:
        BadParameterError: as :func:`read_column_file` (``labels``: the rows hold labels, not numbers).
    """
    raw, start = _column_file_bytes(path, n, hint)
    what = "id,label" if labels else "id,value"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data": said below
            rows = np.loadtxt(
                io.BytesIO(raw[start:]),
                delimiter=",",
                dtype=dtype,
                quotechar='"',
                comments=None,
                encoding="utf-8",
                ndmin=1,
            )
    except UnicodeDecodeError:
        raise BadParameterError(f"{path!r} is not UTF-8 text: {hint}") from None
    except ValueError:
        # numpy's message quotes the cell it could not read: a file's content is never echoed (it may be any
        # file the user can read, a secret included), so only the line and what is wrong with it are said.
        why = _first_bad_line(path, raw, start, hint, labels=labels) or f"{path!r} is not valid {what} rows: {hint}"
        raise BadParameterError(why) from None
    if rows.size == 0:
        raise BadParameterError(f"{path!r} lists no agents: {hint}")
    return rows


def read_label_file(path: str, n: int, longest: int) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, labels)`` of a CSV file of ``id,label`` rows for a category attribute (int64 original ids, the
    labels as a numpy str array, spaces around them dropped; an empty cell is missing), read as
    :func:`read_column_file` reads numbers. ``longest``: the longest label of the attribute in characters (a
    longer cell is cut past it, so it still names no label).

    Raises:
        BadParameterError: as :func:`read_column_file`.
    """
    hint = "give a CSV file of id,label rows (original agent ids; a header line is optional)"
    rows = _id_rows(path, n, hint, [("id", "<i8"), ("value", f"U{max(longest, 0) + 1}")], labels=True)
    return rows["id"].copy(), np.char.strip(rows["value"])


def line_of_row(path: str, row: int) -> int:
    """The line of ``path`` that holds data row ``row`` (0 is the first after any header; blank lines are
    skipped), for a sentence about it: a pass over the lines, on an error path only."""
    with open(path, "rb") as fh:
        raw = fh.read().removeprefix(b"\xef\xbb\xbf")
    start = _body_start(raw)
    number = raw[:start].count(b"\n") + 1
    seen = -1
    for offset, line in enumerate(raw[start:].split(b"\n")):
        if line.strip():
            seen += 1
            if seen == row:
                return number + offset
    return number + row


def _column_file_bytes(path: str, n: int, hint: str) -> tuple[bytes, int]:
    """The bytes of a column file (blank lines emptied) and where its rows start (after a header line)."""
    limit = file_limit(n)
    try:
        # Opened without blocking and checked to be a regular file before reading: a FIFO or a device would
        # otherwise hold the reader for ever.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with open(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise BadParameterError(f"{path!r} is not a regular file: {hint}")
            raw = fh.read(limit + 1)
    except OSError as exc:
        raise BadParameterError(f"{path!r} cannot be read ({exc.strerror or exc}): {hint}") from None
    if len(raw) > limit:
        raise BadParameterError(
            f"{path!r} is larger than {limit:,} bytes ({FILE_BYTES_PER_AGENT} an agent of this world's {n:,}): "
            "list each agent once, as id,value"
        )
    raw = raw.removeprefix(b"\xef\xbb\xbf")  # a byte-order mark some spreadsheets write
    if _BLANK.search(raw):
        raw = _BLANK.sub(b"", raw)
    return raw, _body_start(raw)


def _fields(line: str) -> list[str]:
    """The fields of a line as numpy reads them: spaces around a bare field are dropped; a quoted field
    starts with its quote (``"0.5"``, not `` "0.5"``)."""
    out = []
    for raw in line.split(","):
        text = raw.rstrip(" \t\r")
        out.append(text[1:-1] if len(text) > 1 and text[0] == text[-1] == '"' else text.strip())
    return out


def _is_id(text: str) -> bool:
    value = ascii_int(text)
    return value is not None and -(2**63) <= value < 2**63


def _is_number(text: str) -> bool:
    return ascii_float(text, special=True) is not None


def _foreign_digits(text: str) -> bool:
    """Whether ``text`` holds a digit of another script than ASCII (``٣``, ``３``)."""
    return any(ch.isdigit() for ch in text if not ch.isascii())


def _body_start(raw: bytes) -> int:
    """Where the rows begin: after the first non-blank line when it is a header (its first field is not an
    id and its second not a number), else at 0 (numpy skips the blank lines before it)."""
    first = _TEXT.search(raw)
    if first is None:
        return len(raw)
    at = raw.rfind(b"\n", 0, first.start()) + 1
    end = raw.find(b"\n", at)
    end = len(raw) if end < 0 else end + 1
    fields = _fields(raw[at:end].decode("utf-8", errors="replace").strip())
    # A field of other scripts' digits (``٣``) is no number, but no header's word either: its line is a row,
    # refused by name below, never skipped as a header.
    header = not _is_id(fields[0]) and not _foreign_digits(fields[0])
    header = header and not (len(fields) > 1 and (_is_number(fields[1]) or _foreign_digits(fields[1])))
    return end if header else 0


def _first_bad_line(path: str, raw: bytes, start: int, hint: str, *, labels: bool = False) -> str | None:
    """The sentence for the first line that is not ``id,value`` (only on the error path: one pass over the
    lines in Python), or None when every line looks right here (numpy saw something else)."""
    number = raw[:start].count(b"\n") + 1
    for offset, line in enumerate(raw[start:].decode("utf-8", errors="replace").split("\n")):
        if not line.strip():
            continue
        where = f"{path!r} line {number + offset}"
        fields = _fields(line)
        if len(fields) != 2:
            return f"{where} has {len(fields)} fields, expected 2: {hint}"
        if not _is_id(fields[0]):
            return f"{where}: its first field is not an agent id (a whole number): {hint}"
        if not labels and not _is_number(fields[1]):
            return f"{where}: its second field is not a number: {hint}"
    return None


def column_values(world: World, spec: ColumnSpec, ids: np.ndarray, values: np.ndarray, source: str) -> np.ndarray:
    """The new column of ``spec`` in the world's agent order from ``ids`` (original ids) and their
    ``values``, every one checked; ``source`` names where they came from in the sentences (a file, "the
    body").

    Raises:
        BadParameterError: no rows, ids and values of other lengths, an id the world does not have, an id
            given twice, agents left out, or a value that is not a finite number or lies outside the range.
    """
    ids = np.asarray(ids)
    values = np.asarray(values)
    idx = _agent_positions(world, ids, values, source)
    ids = ids.astype(np.int64, copy=False)
    values = values.astype(np.float64, copy=False)
    bad = ~((values >= spec.min) & (values <= spec.max) & np.isfinite(values))  # NaN is bad too
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        count = int(np.count_nonzero(bad))
        value = float(values[i])
        what = "is not a finite number" if not np.isfinite(value) else f"lies outside [{spec.min:g}, {spec.max:g}]"
        raise BadParameterError(
            f"{source} gives agent {int(ids[i])} the {spec.name} {value!r}, which {what} ({count:,} of the "
            f"{ids.size:,} values are out of range or not numbers): give {_numbers_from(spec)}"
        )
    column = np.empty(world.n, dtype=spec.dtype)
    column[idx] = values
    return column


def _numbers_from(spec: ColumnSpec) -> str:
    if np.isfinite(spec.min) and np.isfinite(spec.max):
        return f"numbers from {spec.min:g} to {spec.max:g}"
    return f"finite numbers of at least {spec.min:g}" if np.isfinite(spec.min) else "finite numbers"


def category_values(
    world: World, spec: ColumnSpec, ids: np.ndarray, texts: np.ndarray, source: str, *, path: str | None = None
) -> np.ndarray:
    """The new codes of category attribute ``spec`` in the world's agent order from ``ids`` and their labels
    ``texts`` (an empty text: missing, code -1), every one checked as :func:`column_values` checks numbers;
    ``path``: the file they were read from, whose line a sentence then names.

    Raises:
        BadParameterError: as :func:`column_values`, or a text that is not one of the attribute's labels (its
            line named, the text itself not repeated: it may be anything the file held).
    """
    ids = np.asarray(ids)
    idx = _agent_positions(world, ids, np.asarray(texts), source)
    labels = world.labels[spec.name]
    codes = labels.codes_of(texts)
    bad = codes == -2
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        where = f"{source} line {line_of_row(path, row)}" if path is not None else f"{source} row {row + 1}"
        known = labels.tolist()
        listed = ", ".join(shown(x, 40) for x in known[:8]) + (", ..." if len(known) > 8 else "")
        raise BadParameterError(
            f"{where}: its label is not one of the {len(known):,} labels of {spec.name} ({listed}; "
            f"{int(np.count_nonzero(bad)):,} of the {bad.size:,} rows name none of them): give one of them, or an "
            "empty cell for a missing value"
        )
    column = np.empty(world.n, dtype=np.int32)
    column[idx] = codes
    return column


def _agent_positions(world: World, ids: np.ndarray, values: np.ndarray, source: str) -> np.ndarray:
    """The positions of ``ids`` (original ids) in the world's agent order, once each and every agent given.

    Raises:
        BadParameterError: no rows, ids and values of other lengths, an unknown id, an id twice, an agent left
            out.
    """
    if ids.ndim != 1 or values.shape != ids.shape:
        raise BadParameterError(
            f"{source} gives {ids.size:,} ids and {values.size:,} values: give one value for every id"
        )
    if ids.size == 0:
        raise BadParameterError(f"{source} lists no agents: give one value for each of the world's {world.n:,}")
    ids = ids.astype(np.int64, copy=False)
    known_ids = world.columns["ids"]
    n = world.n
    idx = np.searchsorted(known_ids, ids)
    known = (idx < n) & (known_ids[np.minimum(idx, max(n - 1, 0))] == ids) if n else np.zeros(ids.size, bool)
    if not known.all():
        unknown = ids[~known]
        raise BadParameterError(
            f"{source} names agent id {int(unknown[0])}, which this world does not have "
            f"({np.unique(unknown).size:,} unknown ids in all): list original agent ids (see 'agora agent' or "
            "'agora export')"
        )
    given = np.bincount(idx, minlength=n)
    if (given > 1).any():
        twice = given[idx] > 1
        raise BadParameterError(
            f"{source} gives agent {int(ids[np.flatnonzero(twice)[0]])} more than one value "
            f"({np.count_nonzero(given > 1):,} agents are listed twice or more): list each agent once"
        )
    if ids.size != n:
        missing = np.flatnonzero(given == 0)
        raise BadParameterError(
            f"{source} leaves out {missing.size:,} of the world's {n:,} agents, agent {int(known_ids[missing[0]])} "
            "the first: give every agent a value"
        )
    return idx


#: Columns whose setting is recorded as an attribute (source ``set``) even when the world did not have it as one:
#: a model reads them only when measured (``"susceptibility" in world.attributes``).
RECORDED = ("susceptibility", INFECTIVITY)


def apply_column(world: World, name: str, column: np.ndarray) -> None:
    """Put ``column`` in the world as ``name`` (in place when the world's column can take it, so views of
    it see the change) and mark it to be written at the next checkpoint. An attribute, ``susceptibility`` and
    ``infectivity`` are recorded in ``world.attributes`` with source ``set``."""
    if name in world.attributes or name in RECORDED:
        kind = "category" if column.dtype.kind == "i" else "number"
        world.attributes[name] = {"kind": kind, "source": "set", "header": name}
    current = world.columns.get(name)
    if (
        current is not None
        and current.flags.writeable
        and current.dtype == column.dtype
        and current.shape == column.shape
    ):
        current[...] = column
    else:
        world.columns[name] = column
    world.dirty_arrays.add(f"agent.{name}")


def clear_column(world: World, name: Any) -> None:
    """Remove the data column ``name`` from the world (a model's variable starts from its ``init`` again).

    Raises:
        BadParameterError: a built-in column, or one the world does not hold.
    """
    given = str(name)[:60]
    if given in AGENT_COLUMNS:
        raise BadParameterError(f"column {given!r} is built in and cannot be cleared: set it instead")
    if not isinstance(name, str) or name not in world.columns:
        held = [k for k in world.columns if k not in AGENT_COLUMNS]
        raise BadParameterError(
            f"this world holds no data column {given!r}: "
            + (f"it holds {', '.join(held)}" if held else "it holds none (agora set makes one)")
        )
    del world.columns[name]
    world.dirty_arrays.add(f"agent.{name}")
    world.attributes.pop(name, None)
    if world.labels.pop(name, None) is not None:
        world.dirty_arrays.update(label_names(name))


def column_summary(spec: ColumnSpec, column: np.ndarray) -> dict[str, Any]:
    """What an audit row and an answer say about a column that was set: its name, kind, agents, mean,
    min and max, and the SHA-256 of its values in agent order (as stored, little-endian)."""
    values = column.astype(column.dtype.newbyteorder("<"), copy=False)
    if spec.category:
        return {
            "column": spec.name,
            "kind": "category",
            "models": [],
            "agents": int(column.size),
            "missing": int(np.count_nonzero(column < 0)),
            "mean": None,
            "min": None,
            "max": None,
            "sha256": hashlib.sha256(np.ascontiguousarray(values).data).hexdigest(),
        }
    return {
        "column": spec.name,
        "kind": "built-in" if spec.builtin else "data",
        "models": list(spec.models),
        "agents": int(column.size),
        "mean": float(column.mean(dtype=np.float64)) if column.size else None,
        "min": float(column.min()) if column.size else None,
        "max": float(column.max()) if column.size else None,
        "sha256": hashlib.sha256(np.ascontiguousarray(values).data).hexdigest(),
    }


def initial_variables(
    cls: type[PropagationModel], world: World, rng: np.random.Generator, seeds: np.ndarray
) -> dict[str, np.ndarray]:
    """The starting columns of a model's continuous variables (see :class:`~sim.plugin.Variable`), in
    declaration order: from the world's column when the variable names one the world has, or the world
    holds a data column of the variable's name (``agora set``; :func:`sim.model.columns.variable_column`),
    clipped to the range; else uniform from the session's generator or constant; seeds get ``seed_value``."""
    out: dict[str, np.ndarray] = {}
    n = world.n
    for name, var in cls.variables.items():
        dtype = np.dtype(var.dtype)
        source = variable_column(name, var)
        # A category attribute's codes are no values to start from (``world.labels`` names the categories).
        column = world.columns.get(source) if source and source not in world.labels else None
        if column is not None and column.shape == (n,) and column.dtype.kind in "fiu":
            values = np.clip(column.astype(dtype), var.min, var.max)
        elif var.init == "constant":
            values = np.full(n, var.value, dtype=dtype)
        else:
            values = (var.min + (var.max - var.min) * rng.random(n)).astype(dtype)
            np.clip(values, var.min, var.max, out=values)  # float32 rounding may step past max
        if var.seed_value is not None and seeds.size:
            values[seeds] = var.seed_value
        out[name] = values
    return out
