"""Import real edge lists: SNAP style (whitespace-separated ``u v``, ``#`` comments) and CSV with a
header (``source,target[,weight]``), either optionally gzip-compressed.

Parsing is numpy's C ``loadtxt``; only when it rejects a file does a diagnostic pass walk the lines to
name the first malformed one. Lines give both directions unless ``directed``; self-loops are dropped
and duplicates merged, and both are counted. Original ids are kept and remapped to ``0..n-1``.

Any file ends in an :class:`EdgeList` or in one :class:`BadFileError` (with the line number when a line
is malformed) or :class:`ResourceError`: the file's size, the size it decompresses to and its number of
lines are checked against the memory available before it is parsed — while it is decompressed, a chunk at
a time, so a gzip bomb stops early — and a gzip file may expand at most :data:`MAX_RATIO` times
(``AGORA_IMPORT_MAX_RATIO`` raises it): real edge lists expand 2 to 4 times, a 200 KB file that expands to
200 MB of ``1 2`` lines (50 million edges, gigabytes to import) is refused after its first megabytes
(``tests/test_fuzz.py`` fuzzes this; ``tests/test_files_import.py`` tries a bomb).
"""

from __future__ import annotations

import gzip
import io
import os
import re
import warnings
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import psutil  # noqa: F401 - memory_available reads it (tests replace its virtual_memory through this name)

from sim.core.arrays import unique_sorted, unique_sorted_first
from sim.core.boundedio import MAX_RATIO, ratio_limit
from sim.core.diskio import reading_file
from sim.core.memory import ensure_memory, gib, memory_available
from sim.core.numbers import float_of
from sim.errors import BadFileError, BadParameterError, ResourceError

Progress = Callable[[str, float], None] | None


@dataclass(slots=True)
class EdgeList:
    """An imported edge list, remapped to internal indices and sorted by (src, dst), duplicates merged."""

    ids: np.ndarray  # original ids, ascending (index -> original id)
    src: np.ndarray  # int32
    dst: np.ndarray  # int32
    weight: np.ndarray | None  # float32 or None
    stats: dict = field(default_factory=dict)


#: Memory an import needs per byte of text at its peak (the bytes, the decoded text and its copies, the
#: parser's buffer, the parsed columns): a file or a decompressed stream larger than the memory available
#: divided by this is refused before it is read, so a gzip bomb cannot exhaust the machine.
BYTES_PER_TEXT_BYTE = 8
#: Memory per parsed line while the ends are remapped and the world is built (measured about 100 bytes).
BYTES_PER_LINE = 120
#: How many times a gzip edge list may expand (``MAX_RATIO``: real ones 2 to 4, ``1 2`` lines repeated over
#: 1000) is the bound every table file Agora reads has (:mod:`sim.core.boundedio`, with the little text never
#: refused for its ratio): a file that expands more is refused while it is decompressed, before it costs
#: memory. This environment variable raises (or lowers) it for an edge list you trust.
RATIO_ENV = "AGORA_IMPORT_MAX_RATIO"
_CHUNK = 1 << 20
_INT = re.compile(r"[+-]?[0-9]+", re.ASCII)
_FLOAT = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)", re.ASCII | re.IGNORECASE
)
_COMMENT = re.compile(r"[#%]")
_NON_ASCII_SPACE = re.compile(r"[^\S\x00-\x7f]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_BLANK_LEAD = re.compile(r"^[^\S\n]+(?=[#%]|$)", re.MULTILINE)


def _text_budget() -> int:
    return memory_available().bytes // BYTES_PER_TEXT_BYTE


def _available() -> str:
    """The memory available, in words, with what bounds it (``AGORA_MEMORY``, a cgroup) when something does."""
    available = memory_available()
    return f"{gib(available.bytes)} of memory available" + (f" ({available.bound})" if available.bound else "")


def _too_large(path: str, what: str) -> ResourceError:
    return ResourceError(
        f"edge list {path!r} {what}, too large to import with the {_available()}: split it or import it on a "
        "machine with more memory"
    )


def max_ratio_setting(value: float | None = None) -> float:
    """The expansion a gzip edge list is allowed: ``value``, else ``AGORA_IMPORT_MAX_RATIO``, else :data:`MAX_RATIO`.

    Raises:
        BadParameterError: the value (or the variable) is not a number of at least 1.
    """
    if value is None:
        text = os.environ.get(RATIO_ENV, "").strip()
        if not text:
            return float(MAX_RATIO)
        try:
            value = float_of(text)
        except ValueError:
            value = float("nan")
        where = f"{RATIO_ENV}={text[:30]!r}"
    else:
        where = f"the import's ratio limit {value!r}"
    if not value >= 1 or value == float("inf"):
        raise BadParameterError(
            f"{where} is not a number of 1 or more: give how many times a gzip edge list may "
            f"expand, e.g. {RATIO_ENV}=1000"
        )
    return float(value)


def _import_cost(text_bytes: int, lines: int) -> int:
    """Memory an import of ``text_bytes`` bytes in ``lines`` lines needs at its peak."""
    return max(text_bytes * BYTES_PER_TEXT_BYTE, lines * BYTES_PER_LINE)


def _refuse_cost(path: str, text_bytes: int, lines: int, available: int, *, so_far: bool = False) -> None:
    """Refuse, before parsing, an edge list whose text and lines would not fit in the memory available
    (``so_far``: what was decompressed until now, the file holds more).

    Raises:
        ResourceError: with the size, the lines and the memory available.
    """
    if _import_cost(text_bytes, lines) > available * 0.9:
        more = "at least " if so_far else ""
        raise ResourceError(
            f"edge list {path!r} holds {more}{text_bytes / 2**20:,.0f} MiB of text in {more}{lines:,} lines, too large "
            f"to import with the {_available()}: split it or import it on a machine with more memory"
        )


def _gunzip(path: str, raw: bytes, max_ratio: float) -> bytes:
    """Decompress a gzip stream in chunks, refusing as soon as it shows binary content, more expansion than
    ``max_ratio`` allows (a gzip bomb), or more text and lines than the memory allows."""
    available = memory_available().bytes
    limit = ratio_limit(len(raw), max_ratio)
    out = io.BytesIO()
    lines = 0
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as gz:
            while True:
                chunk = gz.read(_CHUNK)
                if not chunk:
                    break
                if out.tell() < 4096 and b"\x00" in chunk[: 4096 - out.tell()]:
                    raise BadFileError(f"edge list {path!r} is a compressed binary file, not a text edge list")
                size = out.tell() + len(chunk)
                if size > limit:  # a bound on the memory an import may take, whatever the machine has
                    raise ResourceError(
                        f"edge list {path!r} expands more than {max_ratio:g} times when decompressed "
                        f"({len(raw) / 2**10:,.0f} KiB "
                        f"of gzip to over {limit / 2**20:,.0f} MiB), far beyond any real edge list (a gzip bomb?), so "
                        "it was not "
                        "imported, to bound the memory an import takes: if you trust it, decompress it yourself and "
                        "import "
                        f"the plain file, or raise the limit with {RATIO_ENV}=N"
                    )
                lines += chunk.count(b"\n")
                _refuse_cost(path, size, lines, available, so_far=True)
                out.write(chunk)
    except (OSError, EOFError, zlib.error):
        raise BadFileError(
            f"edge list {path!r} is a damaged gzip file: re-download or decompress it yourself"
        ) from None
    return out.getvalue()


def _read_text(path: str, max_ratio: float = MAX_RATIO) -> str:
    with reading_file(path, "edge list", missing="check the path", not_a="file", give="a file") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > _text_budget():
            raise _too_large(path, f"is {size / 2**20:.0f} MiB")
        raw = fh.read()
    if raw[:2] == b"\x1f\x8b":
        raw = _gunzip(path, raw, max_ratio)
    else:  # counted before parsing: numpy's parser would reach its peak before any later check
        _refuse_cost(path, len(raw), raw.count(b"\n") + (not raw.endswith(b"\n")), memory_available().bytes)
    if b"\x00" in raw[:4096]:
        raise BadFileError(f"edge list {path!r} is a binary file, not a text edge list")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise BadFileError(f"edge list {path!r}, line {line}: the bytes are not UTF-8 text: save it as UTF-8") from None


def _is_number(tok: str) -> bool:
    return _FLOAT.fullmatch(tok) is not None


def _data_part(line: str) -> str:
    """A line without its comment (``#`` or ``%`` to the end, as the parser reads it), stripped."""
    return _COMMENT.split(line, 1)[0].strip()


def _first_data_line(text: str) -> tuple[int, str] | None:
    """The number and content of the first line holding data (not blank, not only a comment)."""
    start, no = 0, 1
    while start <= len(text):
        stop = text.find("\n", start)
        if stop < 0:
            stop = len(text)
        s = _data_part(text[start:stop])
        if s:
            return no, s
        start, no = stop + 1, no + 1
    return None


@dataclass(slots=True)
class EdgeRows:
    """An edge list's rows as its file gives them, before any id is mapped: the ends ``u`` and ``v`` (int64, the
    file's ids) and the ``weight`` column (float32 in 0..1, or None), one entry per data line."""

    path: str
    u: np.ndarray
    v: np.ndarray
    weight: np.ndarray | None
    delimiter: str | None
    header: bool
    skip: int
    text: str  # kept only to name the line of a row in an error (:meth:`line_of`)

    @property
    def lines(self) -> int:
        return int(self.u.shape[0])

    def line_of(self, row: int) -> int:
        """The line number (from 1) of data row ``row`` (0-based), counting as the parser does."""
        return _line_of_row(self.text, self.skip, row)


def read_edge_rows(path: str, *, progress: Progress = None, max_ratio: float | None = None) -> EdgeRows:
    """Read an edge list's rows (the checks of :func:`read_edge_list` up to its cleaning, with its memory for the
    cleaning reserved): what :func:`read_edge_list` remaps to ``0..n-1``, and a world of people maps onto its ids.

    Raises:
        BadFileError, BadParameterError, ResourceError: as :func:`read_edge_list`.
    """
    ratio = max_ratio_setting(max_ratio)
    if progress:
        progress("reading edge list", 0.0)
    text = _read_text(path, ratio)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    layout = _layout(path, text)
    if progress:
        progress("parsing edge list", 0.2)
    rows = _rows(path, text, layout)
    _check_widths(path, text, layout)
    u_raw, v_raw = rows["u"], rows["v"]
    weight = _weights(path, text, layout.skip, rows["w"]) if layout.weighted else None
    del rows
    lines = int(u_raw.shape[0])
    # Cleaning (sorting and remapping the ends) and then building the world take about this much per line.
    ensure_memory(
        lines * BYTES_PER_LINE,
        f"importing edge list {path!r} ({lines:,} lines)",
        "split it or import it on a machine with more memory",
    )
    return EdgeRows(path, u_raw, v_raw, weight, layout.delimiter, layout.header, layout.skip, text)


def read_edge_list(
    path: str, *, directed: bool = False, progress: Progress = None, max_ratio: float | None = None
) -> EdgeList:
    """Read and clean an edge list file.

    ``max_ratio``: how many times a gzip file may expand (None: ``AGORA_IMPORT_MAX_RATIO`` or :data:`MAX_RATIO`).

    Raises:
        BadFileError: the file is missing, unreadable, empty or has a malformed line (its number is named).
        BadParameterError: ``max_ratio`` (or the variable) is not a number of 1 or more.
        ResourceError: a gzip file expands more than ``max_ratio`` times, or the machine cannot hold it.
    """
    rows = read_edge_rows(path, progress=progress, max_ratio=max_ratio)
    if progress:
        progress("cleaning edge list", 0.5)
    ids, (src, dst, w), self_loops, duplicates = _cleaned(rows.u, rows.v, rows.weight, directed)
    if progress:
        progress("cleaning edge list", 1.0)
    stats = {
        "file": os.path.abspath(path),
        "format": "csv" if rows.delimiter == "," else "snap",
        "header": rows.header,
        "directed": directed,
        "lines": rows.lines,
        "self_loops_dropped": self_loops,
        # For undirected input a reciprocal pair (u v and v u) yields the same two directed edges twice.
        "duplicates_merged": duplicates,
        "weighted": w is not None,
    }
    return EdgeList(ids=ids.astype(np.int64), src=src, dst=dst, weight=w, stats=stats)


class _Layout(NamedTuple):
    """How an edge list's lines read: the ``delimiter`` (None: whitespace), whether a ``header`` names the
    columns, whether the third column is a weight (``weighted``), and the lines to ``skip`` before the data."""

    delimiter: str | None
    header: bool
    weighted: bool
    skip: int
    width: int = 2  # the fields of the header (or of the first line holding data)
    first: int = 1  # that line's number


def _layout(path: str, text: str) -> _Layout:
    """The layout of an edge list, judged from its first line holding data.

    Raises:
        BadFileError: no line holds data, or the first one has fewer than two fields.
    """
    first = _first_data_line(text)
    if first is None:
        raise BadFileError(f"edge list {path!r} has no edges: expected lines like 'u v' or a CSV 'source,target'")
    first_no, first_line = first
    delimiter = "," if "," in first_line else None
    tokens = [t.strip() for t in (first_line.split(",") if delimiter else first_line.split())]
    ncols = len(tokens)
    if ncols < 2:
        raise BadFileError(f"edge list {path!r}, line {first_no}: expected two ids per line, found one field")
    # A header names the columns: its first two fields are not numbers (``1 2 label`` is an edge).
    header = not (_is_number(tokens[0]) and _is_number(tokens[1]))
    # Any header is accepted; the first two columns are the ends. A third column is a weight only
    # under a header (CSV ``source,target,weight``): in SNAP files it is often a timestamp.
    return _Layout(delimiter, header, header and ncols >= 3, first_no if header else first_no - 1, ncols, first_no)


def _rows(path: str, text: str, layout: _Layout) -> np.ndarray:
    """The rows of an edge list (``u``, ``v`` and, when weighted, ``w``), by numpy's C parser.

    Raises:
        BadFileError: a malformed line (:func:`_diagnose` names it), or no rows.
    """
    delimiter, skip = layout.delimiter, layout.skip
    usecols = (0, 1, 2) if layout.weighted else (0, 1)
    # numpy's parser reads every id and weight as ASCII, and crashes on some characters beyond it (numpy
    # 2.x segfaults on e.g. U+E449E): it is given the text with other whitespace as spaces and any other
    # non-ASCII character as '?', which no number contains, so such a field fails as it should.
    parse = text if text.isascii() else _NON_ASCII.sub("?", _NON_ASCII_SPACE.sub(" ", text))
    fields = np.dtype([("u", "<i8"), ("v", "<i8")] + ([("w", "<f8")] if layout.weighted else []))
    rows = _parse(parse, fields, delimiter, skip, usecols)
    if rows is None and delimiter:
        # With a delimiter numpy takes a line of only spaces (or of spaces before a comment) for a row of
        # empty fields: such lines are blank, as in SNAP files; parse again without them (only then, as
        # clearing them costs half a parse).
        cleared = _BLANK_LEAD.sub("", parse)
        if cleared != parse:
            rows = _parse(cleared, fields, delimiter, skip, usecols)
        del cleared
    del parse
    if rows is None:
        _diagnose(path, text, delimiter, skip, 3 if layout.weighted else 2)
        raise BadFileError(f"edge list {path!r} could not be parsed: expected lines of two integer ids")
    if rows.shape[0] == 0:
        raise BadFileError(f"edge list {path!r} has no edges: expected lines like 'u v' or a CSV 'source,target'")
    return rows


def _weights(path: str, text: str, skip: int, raw_w: np.ndarray) -> np.ndarray:
    """The weight column as the edges' trust (float32).

    Raises:
        BadFileError: naming the line of the first weight not a finite number in 0..1.
    """
    ok = np.isfinite(raw_w) & (raw_w >= 0) & (raw_w <= 1)
    if not np.all(ok):
        bad = int(np.flatnonzero(~ok)[0])
        value = float(raw_w[bad])
        why = "is not a finite number" if not np.isfinite(value) else "is outside 0..1"
        raise BadFileError(
            f"edge list {path!r}, line {_line_of_row(text, skip, bad)}: weight {value:g} {why} "
            "(the weight column is the trust of the edge, between 0 and 1)"
        )
    return raw_w.astype(np.float32)


def _cleaned(
    u_raw: np.ndarray, v_raw: np.ndarray, weight: np.ndarray | None, directed: bool
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray | None], int, int]:
    """The ids (sorted) and the edges ``(src, dst, weight)`` between their indices, sorted by (src, dst):
    self-loops dropped, both directions of each line when undirected, duplicates merged (the first weight
    kept). Returns ``(ids, edges, self-loops dropped, duplicates merged)``."""
    lines = int(u_raw.shape[0])
    ends = np.concatenate([u_raw, v_raw])
    ids = unique_sorted(ends)
    inverse = np.searchsorted(ids, ends)
    del ends
    edges, self_loops, duplicates = merged_edges(inverse[:lines], inverse[lines:], weight, int(ids.shape[0]), directed)
    return ids, edges, self_loops, duplicates


def merged_edges(
    u: np.ndarray, v: np.ndarray, weight: np.ndarray | None, n: int, directed: bool
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray | None], int, int]:
    """The edges ``(src, dst, weight)`` of lines ``u v`` between indices ``0..n-1``, sorted by (src, dst):
    self-loops dropped, both directions of each line unless ``directed``, duplicates merged (the first weight
    kept). Returns ``(edges, self-loops dropped, duplicates merged)``."""
    u = u.astype(np.int32)
    v = v.astype(np.int32)
    loops = u == v
    self_loops = int(loops.sum())
    if self_loops:
        u, v = u[~loops], v[~loops]
        weight = None if weight is None else weight[~loops]
    if directed:
        src, dst, w = u, v, weight
    else:
        src, dst = np.concatenate([u, v]), np.concatenate([v, u])
        w = None if weight is None else np.concatenate([weight, weight])
    key = src.astype(np.int64) * n + dst
    if w is None:
        key = unique_sorted(key)
    else:
        key, first_at = unique_sorted_first(key)
        w = w[first_at]
    given = int(src.shape[0])
    src = (key // n).astype(np.int32)
    dst = (key % n).astype(np.int32)
    return (src, dst, w), self_loops, given - int(key.shape[0])


def _parse(
    text: str, fields: np.dtype, delimiter: str | None, skip: int, usecols: tuple[int, ...]
) -> np.ndarray | None:
    """numpy's C parser over ``text``; None when it rejects a line."""
    try:
        with warnings.catch_warnings():
            # An empty body is reported by the caller as one clear sentence, not as numpy's warning.
            warnings.simplefilter("ignore", UserWarning)
            return np.loadtxt(
                io.StringIO(text),
                dtype=fields,
                delimiter=delimiter,
                comments=("#", "%"),
                skiprows=skip,
                usecols=usecols,
                ndmin=1,
            )
    except (ValueError, OverflowError):
        return None


def _fields(count: int) -> str:
    return f"{count:,} field{'s' if count != 1 else ''}"


def _check_widths(path: str, text: str, layout: _Layout) -> None:
    """Refuse a CSV edge list (``,`` between fields) whose line holds another number of fields than its header
    (or its first line): counted in bulk over the text's bytes, line by line only where a comment (``#``, ``%``)
    may hold a comma. Whitespace-separated (SNAP) lines may carry more fields than the ends (a timestamp): the
    parser reads the first two of each line, never shifting one line into the next.

    Raises:
        BadFileError: naming the first such line and both counts.
    """
    if layout.delimiter != ",":
        return
    if "#" in text or "%" in text:
        for no, data in _data_lines(text, layout.first):
            count = data.count(",") + 1
            if count != layout.width:
                raise _ragged(path, no, count, layout)
        return
    raw = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    ends = np.flatnonzero(raw == 10)  # line k (from 0) ends at ends[k] (the last one may not)
    commas = np.flatnonzero(raw == 44)
    del raw
    counts = np.bincount(np.searchsorted(ends, commas), minlength=ends.size + 1)
    del commas, ends
    # A line without a comma is blank: the parser refused any other with fewer fields than it reads.
    counts[: layout.first] = layout.width - 1
    bad = np.flatnonzero((counts != layout.width - 1) & (counts > 0))
    if bad.size:
        raise _ragged(path, int(bad[0]) + 1, int(counts[bad[0]]) + 1, layout)


def _ragged(path: str, line: int, count: int, layout: _Layout) -> BadFileError:
    first = "its header" if layout.header else f"its first line ({layout.first:,})"
    return BadFileError(
        f"edge list {path!r}, line {line:,}: has {_fields(count)}, {first} {_fields(layout.width)}: give every "
        "line the same fields"
    )


def _data_lines(text: str, skip: int) -> Iterator[tuple[int, str]]:
    """(line number, data part) of every line after the first ``skip`` that holds data."""
    for no, line in enumerate(text.split("\n"), 1):
        if no <= skip:
            continue
        s = _data_part(line)
        if s:
            yield no, s


def _line_of_row(text: str, skip: int, row: int) -> int:
    """The line number of parsed row ``row`` (0-based), counting as the parser does."""
    for k, (no, _) in enumerate(_data_lines(text, skip)):
        if k == row:
            return no
    return skip + row + 1  # pragma: no cover - the parser and this walk agree on what a row is


def _diagnose(path: str, text: str, delimiter: str | None, skip: int, needed: int) -> None:
    """Walk the lines (only after the fast parser failed) and raise for the first malformed one, judging
    each field as the parser does (ASCII digits only; ``#`` and ``%`` start a comment anywhere)."""
    for no, s in _data_lines(text, skip):
        parts = [p.strip() for p in (s.split(",") if delimiter else s.split())]
        # The line itself is not quoted: an edge list that is a link to a secret would print its bytes.
        if len(parts) < 2:
            raise BadFileError(f"edge list {path!r}, line {no}: expected two ids, found one field")
        if len(parts) < needed:
            raise BadFileError(f"edge list {path!r}, line {no}: expected {needed} fields, found {len(parts)}")
        for end, p in zip(("first", "second"), parts[:2]):
            if not _INT.fullmatch(p):
                raise BadFileError(f"edge list {path!r}, line {no}: its {end} id is not a whole number in ASCII digits")
            if len(p.lstrip("+-").lstrip("0")) > 19 or not -(2**63) <= int(p) < 2**63:
                raise BadFileError(
                    f"edge list {path!r}, line {no}: its {end} id is too large (ids must fit in 64 bits)"
                )
        if needed >= 3 and not _is_number(parts[2]):
            raise BadFileError(f"edge list {path!r}, line {no}: its weight is not a number")
