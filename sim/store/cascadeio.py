"""Cascade files: the adoption forests of runs as tidy rows, the distribution of their sizes, a forest as
GraphML for Gephi, and the forest of a session persisted in a world file, rebuilt from its ``events``.

**Trees** (``--cascades FILE``): one row per agent of a run's forest, generation by generation::

    p,run,agent,source,tick,generation
    0.1,0,1004,,0,0
    0.1,0,1031,1004,1,1

The columns are the sweep's grid keys (none for ``agora run``), then ``run`` (the run index within its
combination; for ``agora cascades``, the session id), ``agent`` (its original id), ``source`` (the original
id of the agent it adopted from; empty for a root: a seed, or an adoption nobody is credited with),
``tick`` (ticks since the session started: 0 is the seeding) and ``generation`` (0 for roots). A run's
rows number its cascade's ``size``; its roots number ``trees``.

**Size distribution** (``--ccdf FILE``): the complementary CDF of the cascade sizes over the completed
runs of each ensemble or sweep combination, one row per distinct size::

    p,size,ccdf
    0.1,12,1.0
    0.1,40,0.5

``ccdf`` is P(S >= size): the share of those runs whose forest has at least ``size`` agents.

Both come in three containers, chosen by the file name as series files are (``sim.store.seriesio``):
``.csv``, ``.csv.gz`` (gzip) and ``.parquet`` (pyarrow; a root's ``source`` is null there). Text key cells
are formula-guarded as in series files; files are written atomically (a temporary file, then a rename).

**GraphML** (``agora cascades WORLD -o FILE.graphml``): one node per agent of the forest, its ``id`` the
agent's original id (also its ``label``), with ``tick``, ``generation`` and ``root``; one edge per
adoption, from the source to the agent, with ``via`` (``graph`` or ``feed``). Every text (the message,
model and topic names) is escaped, and characters XML cannot carry are replaced by U+FFFD.
"""

from __future__ import annotations

import csv
import functools
import operator
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.core.cascade import Forest, ccdf, replay
from sim.core.diskio import replacing
from sim.core.numbers import float_of, int_of, json_ints
from sim.core.safe import xml_safe
from sim.errors import BadFileError, BadParameterError
from sim.store.eventrows import reading_events
from sim.store.seriesio import (
    MAX_NAME,
    READ_ERRORS,
    KeyedRows,
    _check_key_names,
    _check_readable,
    _csv_cells,
    _csv_rows,
    _distinct,
    _key_cell,
    _key_column,
    _long_name,
    _name_too_long,
    _open_text,
    _parquet_keys,
    _repeated_keys,
    _SlowPath,
    _value_texts,
    _write_csv,
    file_container,
    need_pyarrow,
    read_parquet,
    unreadable,
)
from sim.store.worldfile import read_meta

#: The columns every cascades file ends with; key columns (one per sweep grid key) come first.
CASCADE_COLUMNS = ("run", "agent", "source", "tick", "generation")
#: The columns every size-distribution file ends with.
CCDF_COLUMNS = ("size", "ccdf")
#: The containers of both, by how the file name ends.
EXTENSIONS = (".csv", ".csv.gz", ".parquet")
#: The tree arrays a record's ``tree`` holds (``sim.runs.runner.tree_arrays``).
TREE_ARRAYS = ("agent", "source", "root", "tick", "generation")


@dataclass(frozen=True)
class _Kind:
    """One kind of file: its name in messages, its own columns and what writes it."""

    what: str
    columns: tuple[str, ...]
    writer: str


CASCADES = _Kind("cascades file", CASCADE_COLUMNS, "agora run (its cascades)")
CCDF = _Kind("ccdf file", CCDF_COLUMNS, "agora run (its size distribution)")


def _container_of(path: str, kind: _Kind) -> str:
    return file_container(path, kind.what)


def _check_path(path: str, kind: _Kind) -> str:
    container = _container_of(path, kind)
    if container == "parquet":
        need_pyarrow("writing")
    return container


def check_cascades_path(path: str) -> str:
    """Check, before any work, that a cascades file can be written at ``path``: a known extension, and
    pyarrow installed for ``.parquet``. Returns the container (``csv``, ``csv.gz`` or ``parquet``).

    Raises:
        BadParameterError: an unknown extension, or Parquet without the optional extra.
    """
    return _check_path(path, CASCADES)


def check_ccdf_path(path: str) -> str:
    """:func:`check_cascades_path` for a size-distribution file (``--ccdf``)."""
    return _check_path(path, CCDF)


def check_cascade_output(path: str) -> str:
    """The format ``agora cascades -o FILE`` writes, by the name: ``graphml``, or a cascades file's
    container (``csv``, ``csv.gz``, ``parquet``).

    Raises:
        BadParameterError: an unknown extension, or Parquet without the optional extra.
    """
    if path.lower().endswith(".graphml"):
        return "graphml"
    try:
        return check_cascades_path(path)
    except BadParameterError as exc:
        if "unknown extension" not in str(exc):
            raise
        raise BadParameterError(
            f"cascade output {path!r} has an unknown extension: name it .csv, .csv.gz, .parquet or .graphml"
        ) from None


# --- tables read back -------------------------------------------------------------------------------


@dataclass(eq=False)
class CascadeTable(KeyedRows):
    """A cascades file's rows as columns, after the key columns (``key_names``, ``keys``: see
    :class:`sim.store.seriesio.KeyedRows`).

    Attributes:
        run, agent, tick, generation: int64 arrays.
        source: int64, the source's original id; -1 where ``root`` (check ``root``, not the value).
        root: bool, True for a root (no source).
        path: the file it came from ('' when built in memory).
    """

    run: np.ndarray
    agent: np.ndarray
    source: np.ndarray
    root: np.ndarray
    tick: np.ndarray
    generation: np.ndarray
    path: str = ""

    def columns(self) -> dict[str, np.ndarray]:
        """Key columns first, then run, agent, source (-1 for a root), root, tick, generation."""
        return {
            **self.key_columns(),
            "run": self.run,
            "agent": self.agent,
            "source": self.source,
            "root": self.root,
            "tick": self.tick,
            "generation": self.generation,
        }


@dataclass(eq=False)
class CcdfTable(KeyedRows):
    """A size-distribution file's rows as columns: the key columns (:class:`sim.store.seriesio.KeyedRows`),
    ``size`` (int64) and ``ccdf`` (float64, P(S >= size))."""

    size: np.ndarray
    ccdf: np.ndarray
    path: str = ""

    def columns(self) -> dict[str, np.ndarray]:
        """Key columns first, then size and ccdf."""
        return {**self.key_columns(), "size": self.size, "ccdf": self.ccdf}


# --- records ------------------------------------------------------------------------------------------


def _record_keys(index: int, record: Any, key_names: list[str], what: str) -> list[Any]:
    if not isinstance(record, Mapping):
        raise BadParameterError(f"{what} record {index} is not a dict")
    keys = record.get("keys") or {}
    missing = [k for k in key_names if k not in keys]
    if missing:
        raise BadParameterError(f"{what} record {index} has no value for the key {missing[0]!r}")
    return [keys[k] for k in key_names]


def _tree_record(index: int, record: Any, key_names: list[str]) -> tuple[list[Any], int, dict[str, np.ndarray]] | None:
    """Validate one tree record: its key values, run and tree arrays (None for a run without a tree)."""
    kv = _record_keys(index, record, key_names, "cascade")
    try:
        run = int(record["run"])
        tree = record["tree"]
    except KeyError as exc:
        raise BadParameterError(f"cascade record {index} has no {exc.args[0]!r}") from None
    except (TypeError, ValueError):
        raise BadParameterError(f"cascade record {index}: run {record.get('run')!r} is not a whole number") from None
    if tree is None:
        return None
    if not isinstance(tree, Mapping) or any(k not in tree for k in TREE_ARRAYS):
        raise BadParameterError(f"cascade record {index}: 'tree' must hold the arrays {', '.join(TREE_ARRAYS)}")
    cols = {k: np.asarray(tree[k]) for k in TREE_ARRAYS}
    size = cols["agent"].size
    for k, arr in cols.items():
        if arr.ndim != 1 or arr.size != size:
            raise BadParameterError(f"cascade record {index}: tree array {k!r} does not have one value per agent")
        want = "b" if k == "root" else "iu"
        if size and arr.dtype.kind not in want:
            noun = "booleans" if k == "root" else "whole numbers"
            raise BadParameterError(f"cascade record {index}: tree array {k!r} must hold {noun}")
    out = {k: (v.astype(bool) if k == "root" else v.astype(np.int64)) for k, v in cols.items()}
    return kv, run, out


def _sizes_record(index: int, record: Any, key_names: list[str]) -> tuple[list[Any], np.ndarray]:
    kv = _record_keys(index, record, key_names, "ccdf")
    sizes = np.asarray(record.get("sizes", []))
    if sizes.ndim != 1 or (sizes.size and sizes.dtype.kind not in "iu"):
        raise BadParameterError(f"ccdf record {index}: 'sizes' must be a list of whole numbers")
    return kv, sizes.astype(np.int64)


# --- writing ------------------------------------------------------------------------------------------


def _csv_block(prefix: str, columns: list[list[str]]) -> str:
    """Rows of cells (one list of texts per column) as CSV lines, each starting with ``prefix``: joined in C
    (``str.join`` over ``zip``), not one Python statement per row."""
    lines = map(",".join, zip(*columns))
    return prefix + ("\n" + prefix).join(lines) + "\n"


def _prefix(kv: list[Any], run: int | None) -> str:
    return "".join(_key_cell(v) + "," for v in kv) + ("" if run is None else f"{run},")


def _tree_lines(records: Iterable[Any], key_names: list[str]) -> Iterator[tuple[str, int]]:
    for i, record in enumerate(records):
        checked = _tree_record(i, record, key_names)
        if checked is None or not checked[2]["agent"].size:
            continue
        kv, run, tree = checked
        source = np.asarray(_value_texts(tree["source"]), dtype=object)
        source[tree["root"]] = ""  # a root has no source
        cols = [
            _value_texts(tree["agent"]),
            source.tolist(),
            _value_texts(tree["tick"]),
            _value_texts(tree["generation"]),
        ]
        yield _csv_block(_prefix(kv, run), cols), int(tree["agent"].size)


def _ccdf_lines(records: Iterable[Any], key_names: list[str]) -> Iterator[tuple[str, int]]:
    for i, record in enumerate(records):
        kv, sizes = _sizes_record(i, record, key_names)
        size, p = ccdf(sizes)
        if size.size:
            yield _csv_block(_prefix(kv, None), [_value_texts(size), _value_texts(p)]), int(size.size)


def _arrow_keys(pa: Any, key_names: list[str], per_record: list[list[Any]], counts: list[int]) -> list[Any]:
    return [
        pa.array(col.tolist(), type=pa.string()) if col.dtype.kind == "U" else pa.array(col)
        for col in _repeated_keys(len(key_names), per_record, counts)
    ]


def _gather_trees(
    records: Iterable[Any], key_names: list[str]
) -> tuple[list[list[Any]], list[int], dict[str, np.ndarray]]:
    """The checked tree records that have agents: each one's key values and row count, and every column
    (``run`` and the tree's) concatenated over them."""
    per_record: list[list[Any]] = []
    counts: list[int] = []
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("run", *TREE_ARRAYS)}
    for i, record in enumerate(records):
        checked = _tree_record(i, record, key_names)
        if checked is None or not checked[2]["agent"].size:
            continue
        kv, run, tree = checked
        per_record.append(kv)
        counts.append(int(tree["agent"].size))
        parts["run"].append(np.full(tree["agent"].size, run, dtype=np.int64))
        for k in TREE_ARRAYS:
            parts[k].append(tree[k])
    cat = {
        k: (np.concatenate(v) if v else np.empty(0, dtype=bool if k == "root" else np.int64)) for k, v in parts.items()
    }
    return per_record, counts, cat


def _tree_arrow(records: Iterable[Any], key_names: list[str]) -> tuple[Any, int]:
    pa = need_pyarrow("writing")
    per_record, counts, cat = _gather_trees(records, key_names)
    arrays = _arrow_keys(pa, key_names, per_record, counts)
    arrays += [
        pa.array(cat["run"], type=pa.int64()),
        pa.array(cat["agent"], type=pa.int64()),
        pa.array(cat["source"], type=pa.int64(), mask=cat["root"].astype(bool)),
        pa.array(cat["tick"], type=pa.int64()),
        pa.array(cat["generation"], type=pa.int64()),
    ]
    return pa.table(arrays, names=[*key_names, *CASCADE_COLUMNS]), int(sum(counts))


def _gather_ccdf(
    records: Iterable[Any], key_names: list[str]
) -> tuple[list[list[Any]], list[int], np.ndarray, np.ndarray]:
    """The checked size records whose distribution has points: each one's key values and row count, and
    the sizes and CCDF values concatenated over them."""
    per_record: list[list[Any]] = []
    counts: list[int] = []
    sizes, ps = [], []
    for i, record in enumerate(records):
        kv, raw = _sizes_record(i, record, key_names)
        size, p = ccdf(raw)
        if size.size:
            per_record.append(kv)
            counts.append(int(size.size))
            sizes.append(size)
            ps.append(p)
    size_col = np.concatenate(sizes) if sizes else np.empty(0, dtype=np.int64)
    return per_record, counts, size_col, np.concatenate(ps) if ps else np.empty(0)


def _ccdf_arrow(records: Iterable[Any], key_names: list[str]) -> tuple[Any, int]:
    pa = need_pyarrow("writing")
    per_record, counts, sizes, ps = _gather_ccdf(records, key_names)
    arrays = _arrow_keys(pa, key_names, per_record, counts)
    arrays += [pa.array(sizes, type=pa.int64()), pa.array(ps, type=pa.float64())]
    return pa.table(arrays, names=[*key_names, *CCDF_COLUMNS]), int(sum(counts))


def _write(path: str, kind: _Kind, records: Iterable[Any], key_names: Sequence[str]) -> int:
    container = _container_of(path, kind)
    if container == "parquet":
        need_pyarrow("writing")  # before any work
    names = _check_key_names(key_names, kind.columns)
    if os.path.isdir(path):
        raise BadFileError(f"cannot write {kind.what} {path!r}: it is a folder (give a file name)")
    rows = 0
    with replacing(path, kind.what) as tmp:
        if container == "parquet":
            import pyarrow.parquet as pq  # noqa: PLC0415 - optional, only for .parquet

            table, rows = (_tree_arrow if kind is CASCADES else _ccdf_arrow)(records, names)
            pq.write_table(table, tmp)
            return rows
        lines = (_tree_lines if kind is CASCADES else _ccdf_lines)(records, names)
        rows = _write_csv(tmp, container == "csv.gz", names, kind.columns, lines)
    return rows


def write_cascades(path: str, records: Iterable[Any], key_names: Sequence[str] = ()) -> int:
    """Write the forests of runs to ``path`` (``.csv``, ``.csv.gz`` or ``.parquet``), atomically.

    Args:
        path: the target; its extension picks the container.
        records: ``{"keys": {...}, "run": r, "tree": {agent, source, root, tick, generation}}`` (arrays, as
            ``sim.runs.runner.tree_arrays`` makes them; a ``tree`` of None writes no row).
        key_names: the key columns, written first, in this order (each record's ``keys`` must hold them).

    Returns:
        The number of rows written (agents over all the forests).

    Raises:
        BadParameterError: an unknown extension, Parquet without pyarrow, a malformed record.
        BadFileError: the target cannot be written.
    """
    return _write(path, CASCADES, records, key_names)


def write_ccdf(path: str, records: Iterable[Any], key_names: Sequence[str] = ()) -> int:
    """Write the complementary CDF of cascade sizes to ``path``, one block of rows per record
    ``{"keys": {...}, "sizes": [the size of each completed run's forest]}``; returns the rows written.

    Raises:
        BadParameterError: an unknown extension, Parquet without pyarrow, a malformed record.
        BadFileError: the target cannot be written.
    """
    return _write(path, CCDF, records, key_names)


def save_cascades(path: str, records: Iterable[Any], key_names: Sequence[str] = ()) -> dict[str, Any]:
    """:func:`write_cascades`, then ``{"path": its absolute path, "rows": rows}`` (``cascades_file`` in JSON)."""
    return {"path": os.path.abspath(path), "rows": write_cascades(path, records, key_names)}


def save_ccdf(path: str, records: Iterable[Any], key_names: Sequence[str] = ()) -> dict[str, Any]:
    """:func:`write_ccdf`, then ``{"path": its absolute path, "rows": rows}`` (``ccdf_file`` in JSON)."""
    return {"path": os.path.abspath(path), "rows": write_ccdf(path, records, key_names)}


# --- GraphML --------------------------------------------------------------------------------------------

_GRAPHML_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<graphml xmlns="http://graphml.graphdrawing.org/xmlns" \
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" \
xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">
"""
_NODE_KEYS = (
    '  <key id="label" for="node" attr.name="label" attr.type="string"/>\n'
    '  <key id="tick" for="node" attr.name="tick" attr.type="long"/>\n'
    '  <key id="generation" for="node" attr.name="generation" attr.type="long"/>\n'
    '  <key id="root" for="node" attr.name="root" attr.type="boolean"/>\n'
    '  <key id="via" for="edge" attr.name="via" attr.type="string"/>\n'
)


def _xml_text(value: Any) -> str:
    from xml.sax.saxutils import escape  # noqa: PLC0415 - it imports urllib.request (60 ms of every start)

    return escape(xml_safe(str(value)))


def write_graphml(path: str, tree: Mapping[str, np.ndarray], graph: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Write one forest as GraphML (see the module docstring), atomically.

    Args:
        tree: the arrays ``agent``, ``source``, ``root``, ``tick``, ``generation`` (original ids, forest
            order) and optionally ``via`` (True where the adoption came through a feed).
        graph: attributes of the whole graph (the session, model, message...), written as text or numbers.

    Returns:
        ``{"path", "format": "graphml", "nodes", "edges"}``.

    Raises:
        BadFileError: the target cannot be written.
    """
    agent = np.asarray(tree["agent"], dtype=np.int64)
    root = np.asarray(tree["root"], dtype=bool)
    source = np.asarray(tree["source"], dtype=np.int64)
    via = np.asarray(tree.get("via", np.zeros(agent.size, dtype=bool)), dtype=bool)
    ids = _value_texts(agent)
    from xml.sax.saxutils import quoteattr  # noqa: PLC0415 - it imports urllib.request (60 ms of every start)

    head = [_GRAPHML_HEAD]
    data = []
    for i, (name, value) in enumerate((graph or {}).items()):
        typ = "long" if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else "string"
        head.append(f'  <key id="g{i}" for="graph" attr.name={quoteattr(xml_safe(str(name)))} attr.type="{typ}"/>\n')
        data.append(f'    <data key="g{i}">{_xml_text(value)}</data>\n')
    head.append(_NODE_KEYS)
    head.append('  <graph id="cascade" edgedefault="directed">\n')
    if os.path.isdir(path):
        raise BadFileError(f"cannot write GraphML file {path!r}: it is a folder (give a file name)")
    edges = np.flatnonzero(~root)
    with replacing(path, "GraphML file") as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as out:
        out.write("".join(head) + "".join(data))
        if ids:
            nodes = [
                ids,
                ids,
                _value_texts(np.asarray(tree["tick"], dtype=np.int64)),
                _value_texts(np.asarray(tree["generation"], dtype=np.int64)),
                np.where(root, "true", "false").tolist(),
            ]
            pieces = (
                '    <node id="',
                '"><data key="label">',
                '</data><data key="tick">',
                '</data><data key="generation">',
                '</data><data key="root">',
                "</data></node>\n",
            )
            out.write("".join(map("".join, zip(*_interleave(pieces, nodes)))))
        if edges.size:
            links = [
                _value_texts(source[edges]),
                _value_texts(agent[edges]),
                np.where(via[edges], "feed", "graph").tolist(),
            ]
            between = ('    <edge source="', '" target="', '"><data key="via">', "</data></edge>\n")
            out.write("".join(map("".join, zip(*_interleave(between, links)))))
        out.write("  </graph>\n</graphml>\n")
    return {"path": os.path.abspath(path), "format": "graphml", "nodes": len(ids), "edges": int(edges.size)}


def _interleave(pieces: Sequence[str], columns: list[list[str]]) -> list[Iterable[str]]:
    """Constant texts between columns of cells, as iterables to ``zip`` (a constant repeats)."""
    rows = len(columns[0])
    out: list[Iterable[str]] = []
    for i, col in enumerate(columns):
        out.append([pieces[i]] * rows)
        out.append(col)
    out.append([pieces[-1]] * rows)
    return out


# --- reading ------------------------------------------------------------------------------------------


#: How each column of a kind is read: a whole number, one that may be empty (a root's source), a number.
_TYPES = {
    "run": "int",
    "agent": "int",
    "source": "int?",
    "tick": "int",
    "generation": "int",
    "size": "int",
    "ccdf": "float",
}


def _bad(path: str, kind: _Kind, where: str, what: str) -> BadFileError:
    return BadFileError(
        f"{kind.what} {path} {where}: {what} "
        f"(expected the columns {','.join(kind.columns)} as written by {kind.writer})"
    )


def _header(path: str, kind: _Kind, header: list[str]) -> list[str]:
    width = len(kind.columns)
    if len(header) < width or [h.strip() for h in header[-width:]] != list(kind.columns):
        raise _bad(path, kind, "line 1", f"the header does not end with {','.join(kind.columns)}")
    keys = [h.strip() for h in header[:-width]]
    if len(set(keys)) != len(keys) or any(not k for k in keys):
        raise _bad(path, kind, "line 1", "the key columns of the header must have distinct, non-empty names")
    return keys


def _read(path: str, kind: _Kind) -> tuple[list[str], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Key names, key columns and the kind's own columns (``source`` of a cascades file: -1 where empty,
    and ``root``) of the file at ``path``."""
    container = _container_of(path, kind)
    _check_readable(path, container, kind.what, kind.writer)
    try:
        if container == "parquet":
            return _read_parquet(path, kind)
        try:
            return _read_fast(path, kind, container)
        except _SlowPath:
            return _read_checked(path, kind, container)
    except READ_ERRORS as exc:
        raise BadFileError(f"{kind.what} {path} {unreadable(exc)}: give a file written by {kind.writer}") from None


def _convert(name: str, cells: list[str]) -> tuple[np.ndarray, np.ndarray | None]:
    """One column's cells as numbers (in bulk); for a column that may be empty, also where it is."""
    typ = _TYPES[name]
    joined = "".join(cells)
    if not joined.isascii() or "_" in joined:  # int and float read every script's digits, and 1_0 as 10
        raise ValueError("a number not in ASCII digits")
    if typ == "float":
        return np.fromiter(map(float, cells), dtype=np.float64, count=len(cells)), None
    if typ == "int":
        return np.fromiter(map(int, cells), dtype=np.int64, count=len(cells)), None
    # An empty cell (a root) reads as -1; a column of empty cells only (nothing spread) included.
    empty = np.fromiter(map(operator.not_, cells), dtype=bool, count=len(cells))
    return np.fromiter((int(c) if c else -1 for c in cells), dtype=np.int64, count=len(cells)), empty


def _own_columns(kind: _Kind, raw: dict[str, tuple[np.ndarray, np.ndarray | None]]) -> dict[str, np.ndarray]:
    out = {}
    for name in kind.columns:
        values, empty = raw[name]
        out[name] = values
        if empty is not None:
            out["root"] = empty
    return out


def _read_fast(
    path: str, kind: _Kind, container: str
) -> tuple[list[str], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The common case in a few bulk operations (no quoted cell, no blank line, every line as wide as the
    header); anything else, and every error (to name its line), goes to the row-by-row reader."""
    own = len(kind.columns)
    header = functools.partial(_header, path, kind)
    key_names, cells, rows = _csv_cells(path, container, kind.what, kind.writer, header, own)
    width = len(key_names) + own
    if not rows:
        raw = {name: _convert(name, []) for name in kind.columns}
        return key_names, {k: np.empty(0, dtype=str) for k in key_names}, _own_columns(kind, raw)
    try:
        raw = {name: _convert(name, cells[width - own + j :: width]) for j, name in enumerate(kind.columns)}
    except (ValueError, OverflowError):
        raise _SlowPath from None
    key_cells = [_distinct(cells[j::width]) for j in range(len(key_names))]
    if any(_long_name(words) for words, _ in key_cells):
        raise _SlowPath  # to name the line
    keys = {k: _key_column(*cells_of) for k, cells_of in zip(key_names, key_cells)}
    return key_names, keys, _own_columns(kind, raw)


def _read_checked(
    path: str, kind: _Kind, container: str
) -> tuple[list[str], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Row by row, naming the first bad line (only used when the fast reader failed)."""
    with _open_text(path, container, kind.what, kind.writer) as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            raise BadFileError(f"{kind.what} {path} is empty: give a file written by {kind.writer}")
        key_names = _header(path, kind, header)
        width = len(header)
        own = len(kind.columns)
        cols: list[list[str]] = [[] for _ in range(width)]
        for line, row in _csv_rows(reader, width, functools.partial(_bad, path, kind)):
            for j, name in enumerate(kind.columns):
                cell = row[width - own + j]
                typ = _TYPES[name]
                if typ == "int?" and cell == "":
                    continue
                try:
                    float_of(cell) if typ == "float" else int_of(cell)
                except (ValueError, OverflowError):
                    noun = "a number" if typ == "float" else "a whole number"
                    if typ == "int?":
                        noun += " or empty"
                    raise _bad(path, kind, f"line {line}", f"{name} is not {noun}") from None
            for j in range(width - own):
                if len(row[j]) > MAX_NAME:
                    raise _bad(path, kind, f"line {line}", _name_too_long(f"column {j + 1}"))
            for j in range(width):
                cols[j].append(row[j])
    raw = {name: _convert(name, cols[width - own + j]) for j, name in enumerate(kind.columns)}
    keys = {k: _key_column(*_distinct(cols[j])) for j, k in enumerate(key_names)}
    return key_names, keys, _own_columns(kind, raw)


def _read_parquet(path: str, kind: _Kind) -> tuple[list[str], dict[str, np.ndarray], dict[str, np.ndarray]]:
    pa, table = read_parquet(path, kind.what, kind.writer, named=kind.columns)
    key_names = _header(path, kind, [str(n) for n in table.column_names])
    out: dict[str, np.ndarray] = {}
    for name in kind.columns:
        col = table.column(name)
        typ = _TYPES[name]
        nulls = col.is_null().to_numpy(zero_copy_only=False) if col.null_count else None
        if nulls is not None and typ != "int?":
            raise _bad(path, kind, f"row {int(np.flatnonzero(nulls)[0]) + 1}", f"{name} is missing")
        integer = pa.types.is_integer(col.type)
        if not (integer or (typ == "float" and pa.types.is_floating(col.type))):
            noun = "numbers" if typ == "float" else "whole numbers"
            raise _bad(path, kind, "column " + name, f"holds {col.type} where {noun} are expected")
        if typ == "int?":
            values = np.asarray(col.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
            out[name] = values
            out["root"] = nulls if nulls is not None else np.zeros(values.size, dtype=bool)
        else:
            out[name] = np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64 if typ == "float" else np.int64)
    return key_names, _parquet_keys(pa, table, key_names, f"{kind.what} {path}"), out


def read_cascades(path: str) -> CascadeTable:
    """Read a cascades file (``.csv``, ``.csv.gz`` or ``.parquet``, by its name).

    Key columns become numbers when every value of the column is a number, else strings; a root's
    ``source`` reads as -1 with ``root`` True.

    Raises:
        BadParameterError: an unknown extension, or Parquet without pyarrow.
        BadFileError: a missing, empty or malformed file (the message names the line and what to do).
    """
    key_names, keys, cols = _read(path, CASCADES)
    return CascadeTable(key_names, keys, path=path, **cols)  # cols: run, agent, source, root, tick, generation


def read_ccdf(path: str) -> CcdfTable:
    """Read a size-distribution file written by ``--ccdf`` (``.csv``, ``.csv.gz`` or ``.parquet``).

    Raises:
        BadParameterError: an unknown extension, or Parquet without pyarrow.
        BadFileError: a missing, empty or malformed file.
    """
    key_names, keys, cols = _read(path, CCDF)
    return CcdfTable(key_names=key_names, keys=keys, size=cols["size"], ccdf=cols["ccdf"], path=path)


def table_from_records(records: Iterable[Any], key_names: Sequence[str] = ()) -> CascadeTable:
    """The :class:`CascadeTable` of tree records, as :func:`read_cascades` gives it after a Parquet write."""
    names = _check_key_names(key_names, CASCADES.columns)
    per_record, counts, cat = _gather_trees(records, names)
    keys = dict(zip(names, _repeated_keys(len(names), per_record, counts)))
    return CascadeTable(
        key_names=names,
        keys=keys,
        run=cat["run"],
        agent=cat["agent"],
        source=np.where(cat["root"], -1, cat["source"]).astype(np.int64),
        root=cat["root"].astype(bool),
        tick=cat["tick"],
        generation=cat["generation"],
    )


def ccdf_table(records: Iterable[Any], key_names: Sequence[str] = ()) -> CcdfTable:
    """The :class:`CcdfTable` of size records ``{"keys": {...}, "sizes": [...]}``, as :func:`read_ccdf` gives
    it after a Parquet write."""
    names = _check_key_names(key_names, CCDF.columns)
    per_record, counts, sizes, ps = _gather_ccdf(records, names)
    keys = dict(zip(names, _repeated_keys(len(names), per_record, counts)))
    return CcdfTable(key_names=names, keys=keys, size=sizes, ccdf=ps)


# --- a persisted session's forest -----------------------------------------------------------------------


@dataclass(frozen=True)
class SessionForest:
    """The forest of one session of a world file, rebuilt from its ``events`` (see :func:`session_forest`).

    Attributes:
        session: the session's stored record (id, model, status, started_tick, message, ...).
        sessions: the ids of every session of the world, ascending.
        forest: the forest (agent indices), or None where there is none (``note`` says why).
        ids: the world's original ids (index -> id).
        via_feed: per agent index, whether its adoption came through a feed (None with no forest).
        note: why there is no forest (a model that names no sources, a session not started), or None.
    """

    session: dict[str, Any]
    sessions: list[int]
    forest: Forest | None
    ids: np.ndarray | None
    via_feed: np.ndarray | None
    note: str | None


def _session_ids(records: list[Any]) -> list[int]:
    out = []
    for rec in records:
        try:
            out.append(int(rec["id"]))
        except (KeyError, TypeError, ValueError):
            continue
    return sorted(out)


def _ids_listed(ids: list[int]) -> str:
    if len(ids) <= 8:
        return ", ".join(map(str, ids))
    return ", ".join(map(str, ids[:4])) + ", ..., " + ", ".join(map(str, ids[-2:]))


def _read_world_ids(con: sqlite3.Connection, path: str) -> np.ndarray:
    """The world's ``agent.ids`` array (original ids), from its chunks."""
    rows = con.execute("SELECT dtype, shape, data FROM arrays WHERE name = 'agent.ids' ORDER BY chunk").fetchall()
    if not rows:
        raise BadFileError(f"world {path!r} has no agent ids: it is damaged (check it with 'agora check')")
    try:
        dtype = np.dtype(rows[0][0])
        shape = json_ints(rows[0][1])
    except (TypeError, ValueError):
        raise BadFileError(f"world {path!r}: its agent ids have a damaged description") from None
    data = b"".join(bytes(r[2]) for r in rows)
    if dtype.kind not in "iu" or len(shape) != 1 or shape[0] * dtype.itemsize != len(data):
        raise BadFileError(f"world {path!r}: its agent ids do not match their stored size; the file is damaged")
    return np.frombuffer(data, dtype=dtype).astype(np.int64)


def _read_events(con: sqlite3.Connection, session: int, since: int, tick: int) -> np.ndarray:
    """The (tick, agent, source, via) rows of one session's adoptions from ``since`` up to the checkpoint's
    ``tick``, in the order written, as an int64 array of four columns (fetched a batch at a time)."""
    cur = con.execute(
        "SELECT tick, agent, COALESCE(source, -1), via FROM events "
        "WHERE session_id = ? AND tick >= ? AND tick < ? ORDER BY tick, rowid",
        (session, since, tick),
    )
    blocks = []
    while True:
        batch = cur.fetchmany(200_000)
        if not batch:
            break
        blocks.append(np.array(batch, dtype=np.int64).reshape(-1, 4))
    return np.concatenate(blocks) if blocks else np.empty((0, 4), dtype=np.int64)


def session_forest(path: str, session: int | None = None) -> SessionForest:
    """The adoption forest of session ``session`` (None: the latest, the highest id) of world file ``path``,
    rebuilt with :func:`sim.core.cascade.replay` from the session's rows of the ``events`` table that the
    file's checkpoint holds (``via`` tells feed adoptions exactly).

    Raises:
        BadParameterError: the world has no such session (or none at all).
        BadFileError: not a world file, a damaged one, events that do not fit the world, or events that
            begin after the session started (a world loaded from a snapshot saved without them).
    """
    meta = read_meta(path)
    records = [r for r in (meta.get("sessions") or []) if isinstance(r, dict)]
    ids = _session_ids(records)
    if not ids:
        raise BadParameterError(
            f"world {path!r} has no propagation session: inject a message and run it to its end first"
        )
    wanted = ids[-1] if session is None else int(session)
    if wanted not in ids:
        raise BadParameterError(f"world {path!r} has no session {wanted}: its sessions are {_ids_listed(ids)}")
    record = next(r for r in records if _session_ids([r]) == [wanted])
    if not record.get("gives_sources", True):
        note = (
            f"model {record.get('model')} names no sources (who adopted from whom), so session {wanted} has no "
            "cascade tree"
        )
        return SessionForest(record, ids, None, None, None, note)
    started = record.get("started_tick")
    if not isinstance(started, int) or isinstance(started, bool):
        return SessionForest(record, ids, None, None, None, f"session {wanted} has not started: it has no cascade yet")
    tick = meta.get("tick")
    since = meta.get("events_since", 0)
    if not isinstance(tick, int) or not isinstance(since, int):
        raise BadFileError(f"world {path!r} has a damaged meta table (tick, events_since)")
    if started < since:
        raise BadFileError(
            f"session {wanted} of world {path!r} started at tick {started}, before the events the file holds "
            f"(from tick {since}: it was loaded from a snapshot saved without them), so its cascade cannot be rebuilt"
        )
    with reading_events(path) as con:
        agent_ids = _read_world_ids(con, path)
        rows = _read_events(con, wanted, since, tick)
    n = int(agent_ids.size)
    t, a, s, v = rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3]
    if rows.size and (a.min() < 0 or a.max() >= n or s.min() < -1 or s.max() >= n or v.min() < 0 or v.max() > 1):
        raise BadFileError(
            f"world {path!r} holds events of session {wanted} that do not fit its {n:,} agents: "
            "check it with 'agora check'"
        )
    via = v.astype(bool)
    tracker = replay(n, t, a, s, via=via)
    # The first adoption of each agent, in the order replay took them (tick, then as written).
    _, first = np.unique(a, return_index=True)
    a, s, t, via = a[first], s[first], t[first], via[first]
    parents = np.full(n, -1, dtype=np.int64)
    parents[a] = s
    adopted_at = np.full(n, -1, dtype=np.int64)
    adopted_at[a] = t
    via_feed = np.zeros(n, dtype=bool)
    via_feed[a] = via
    return SessionForest(record, ids, tracker.forest(parents, adopted_at), agent_ids, via_feed, None)


__all__ = [
    "CASCADE_COLUMNS",
    "CCDF_COLUMNS",
    "CascadeTable",
    "CcdfTable",
    "SessionForest",
    "check_cascade_output",
    "check_cascades_path",
    "ccdf_table",
    "check_ccdf_path",
    "read_cascades",
    "read_ccdf",
    "save_cascades",
    "save_ccdf",
    "session_forest",
    "table_from_records",
    "write_cascades",
    "write_ccdf",
    "write_graphml",
]
