"""A CSV table's columns cut out of its bytes by numpy, in memory bounded by the file's size (issue 71).

Reading a table as Python strings costs about 25 times its size (a 240 MiB line list took 6 GB): every cell
is an object of 50 bytes or more. Here the file's bytes are kept once, and a column is cut out of them when it
is asked for, a few MiB at a time, as fixed-width bytes (numpy ``S``), never as Python objects.

- **The layout**: the first line is the header; every other line that is not empty is a row of as many cells
  as the header has (a row of another width is refused, its line named). Lines end in ``\\n`` or ``\\r\\n``.
  Cells are stripped of ASCII blanks.
- **Quotes** as spreadsheets, R and pandas write them (``"1st class"``, a whole cell quoted) are removed in
  bulk; a quoted cell holding a comma, a line break or a doubled quote sends the file through Python's ``csv``
  module, row by row (slower, the same memory): such a cell's comma and line breaks are kept escaped, so the
  cell stays one cell and never equals a cell without them.
- **Text**: UTF-8 (checked a MiB at a time), no NUL byte.
- **Cells as tokens**: a cell of at most :data:`TOKEN` bytes is kept as it is; a longer one as
  ``TOKEN + 1`` bytes (a NUL and a hash of the whole cell): it is never a number or a time (those are
  shorter), and two cells are equal as tokens exactly when they are equal (up to a 160-bit hash).

Memory: the file's bytes (``S``), at most twice that while quotes are removed, plus what the caller keeps of
the columns it asks for (a token column is at most ``TOKEN + 1`` bytes a row, a date's 10), plus a few MiB
of temporaries a chunk.

Errors are one sentence naming the file and the line, never a cell's content (the file may be anything).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from sim.errors import BadFileError

#: Bytes of the body cut at a time (at a line's end): one step's temporaries are a small multiple of it.
CHUNK = 2 << 20
#: The longest cell kept as it is; a longer one becomes a token of ``TOKEN + 1`` bytes.
TOKEN = 40
#: Bytes unquoted at a time (a quote's temporaries are about 40 bytes, and a quoted table has one in 4 bytes).
_QUOTED_CHUNK = 256 << 10
#: Rows gathered into fixed width at a time (bounds the temporaries of one gather).
_GATHER_ROWS = 1 << 16
#: ASCII blanks (what ``bytes.strip`` removes), indexed by byte.
_BLANK = np.zeros(256, dtype=bool)
_BLANK[[9, 10, 11, 12, 13, 32]] = True
_COMMA, _NL, _CR, _QUOTE = 44, 10, 13, 34


class RaggedRowError(BadFileError):
    """A row whose width is not the header's: ``line``, its ``cells`` and the header's ``width``."""

    def __init__(self, name: str, line: int, fields: int, width: int) -> None:
        super().__init__(
            f"{name} line {line}: {fields} fields where the header has {width}: give one cell per column in every row"
        )
        self.line, self.cells, self.width = line, fields, width


@dataclass
class CsvColumns:
    """A CSV table held as bytes: its header, its rows' count, and its columns on demand.

    Attributes:
        name: how sentences name it (``observation file PATH``).
        header: the header's cells, stripped.
        rows: the rows (lines that are not empty, after the header).
    """

    name: str
    header: list[str]
    rows: int
    _data: bytes | bytearray
    _spans: list[tuple[int, int, int]]  # each chunk's first byte, end, first row
    _blank_rows: np.ndarray  # (fast layout) the row before which each empty line lies, in order
    _lines: np.ndarray | None  # (the csv module's layout) each row's first line

    def line(self, row: int) -> int:
        """The line of the file on which data row ``row`` (from 0) starts."""
        if self._lines is not None:
            return int(self._lines[row])
        return row + 2 + int(np.searchsorted(self._blank_rows, row, side="right"))

    def chunks(self, columns: Sequence[int], token: int = TOKEN) -> Iterator[tuple[int, list[np.ndarray]]]:
        """The cells of ``columns`` (places in the header), a chunk of rows at a time: each chunk's first row and
        one token array (``S``) per column; a cell longer than ``token`` bytes is hashed (see the module)."""
        width = len(self.header)
        buf = np.frombuffer(self._data, dtype=np.uint8)
        for start, end, first in self._spans:
            c = buf[start:end]
            begin, stop = _line_bounds(c)
            keep = stop > begin
            begin, stop = begin[keep], stop[keep]
            commas = np.flatnonzero(c == _COMMA).reshape(begin.size, width - 1) if width > 1 else None
            out = []
            for j in columns:
                s = begin if j == 0 else commas[:, j - 1] + 1  # type: ignore[index]
                e = stop if j == width - 1 else commas[:, j]  # type: ignore[index]
                out.append(_tokens(self._data, start, c, s.copy(), e.copy(), token))
            yield first, out

    def cells_at(self, j: int, rows: Sequence[int]) -> list[bytes]:
        """The exact bytes (stripped) of column ``j`` in ``rows`` (ascending): the text behind a hashed token."""
        width = len(self.header)
        buf = np.frombuffer(self._data, dtype=np.uint8)
        out: list[bytes] = []
        wanted = np.asarray(rows, dtype=np.int64)
        for k, (start, end, first) in enumerate(self._spans):
            last = self._spans[k + 1][2] if k + 1 < len(self._spans) else self.rows
            here = wanted[(wanted >= first) & (wanted < last)] - first
            if not here.size:
                continue
            c = buf[start:end]
            begin, stop = _line_bounds(c)
            keep = stop > begin
            begin, stop = begin[keep], stop[keep]
            commas = np.flatnonzero(c == _COMMA).reshape(begin.size, width - 1) if width > 1 else None
            s = begin[here] if j == 0 else commas[here, j - 1] + 1  # type: ignore[index]
            e = stop[here] if j == width - 1 else commas[here, j]  # type: ignore[index]
            out.extend(bytes(self._data[start + a : start + b]).strip() for a, b in zip(s.tolist(), e.tolist()))
        return out

    def column(self, j: int) -> np.ndarray:
        """Column ``j`` (its place in the header) as tokens (``S``), every row."""
        parts = [cells[0] for _, cells in self.chunks([j])]
        return np.concatenate(parts) if parts else np.empty(0, dtype="S1")


def read_columns(data: bytes | bytearray, name: str, give: str) -> CsvColumns:
    """The table in ``data`` (a file's bytes, a byte-order mark removed), checked and cut into chunks of rows.

    Raises:
        BadFileError: a NUL byte, text that is not UTF-8, an empty file, a row whose width is not the header's
            (its line named).
    """
    _check_text(data, name, give)
    lone_cr = data.count(b"\r") != data.count(b"\r\n")
    if b'"' in data or lone_cr:
        simple = None if lone_cr else _unquoted(data)
        if simple is None:
            header, body, lines = _reparsed(data, name)
            return _cut(name, header, body, 0, lines)
        data = simple
    head_end = data.find(b"\n")
    head_end = len(data) if head_end < 0 else head_end
    header_line = bytes(data[:head_end]).rstrip(b"\r").decode("utf-8")
    header = [unescaped(h.strip()) for h in header_line.split(",")]
    return _cut(name, header, data, head_end + 1, None)


def _check_text(data: bytes | bytearray, name: str, give: str) -> None:
    nul = data.find(b"\0")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise BadFileError(f"{name} line {line} holds a NUL byte, which no text has: give {give}")
    if not data.isascii():
        decoder = codecs.getincrementaldecoder("utf-8")()
        view = memoryview(data)
        for at in range(0, len(data), CHUNK):
            try:
                decoder.decode(view[at : at + CHUNK], final=at + CHUNK >= len(data))
            except UnicodeDecodeError as exc:
                raise BadFileError(f"{name} is not UTF-8 text (byte {at + exc.start}): give {give}") from None
    if not data or data.isspace():
        raise BadFileError(f"{name} is empty: give {give}")


def _line_bounds(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each line of ``c`` (whole lines; the last may lack its ``\\n``): its first byte and the end of its text (a
    ``\\r`` before the ``\\n`` left out)."""
    ends = np.flatnonzero(c == _NL)
    if c.size and c[-1] != _NL:
        ends = np.append(ends, c.size)
    begin = np.empty_like(ends)
    if ends.size:
        begin[0] = 0
        begin[1:] = ends[:-1] + 1
    cr = (ends > begin) & (c[np.maximum(ends - 1, 0)] == _CR)
    return begin, ends - cr


def _cut(name: str, header: list[str], data: bytes | bytearray, body: int, lines: np.ndarray | None) -> CsvColumns:
    """The table of ``data`` from byte ``body`` on, its rows checked for width a chunk at a time."""
    width = len(header)
    buf = np.frombuffer(data, dtype=np.uint8)
    spans: list[tuple[int, int, int]] = []
    blank: list[np.ndarray] = []
    rows = seen = 0  # rows, and lines of the body, before this chunk
    at = body
    while at < len(data):
        end = data.find(b"\n", min(at + CHUNK, len(data)) - 1)
        end = len(data) if end < 0 else end + 1
        c = buf[at:end]
        begin, stop = _line_bounds(c)
        empty = stop == begin
        per_line = np.bincount(
            np.searchsorted(begin, np.flatnonzero(c == _COMMA), side="right") - 1, minlength=begin.size
        )
        ragged = ~empty & (per_line != width - 1)
        if ragged.any():
            k = int(np.argmax(ragged))
            row = rows + int((~empty[:k]).sum())
            line = int(lines[row]) if lines is not None else seen + k + 2
            raise RaggedRowError(name, line, int(per_line[k]) + 1, width)
        if empty.any():
            blank.append(rows + np.cumsum(~empty)[empty] - 0)
        spans.append((at, end, rows))
        rows += int((~empty).sum())
        seen += begin.size
        at = end
    blank_rows = np.concatenate(blank) if blank else np.empty(0, dtype=np.int64)
    return CsvColumns(name, header, rows, data, spans, blank_rows, lines)


def _tokens(
    data: bytes | bytearray, base: int, c: np.ndarray, s: np.ndarray, e: np.ndarray, token: int = TOKEN
) -> np.ndarray:
    """The cells ``c[s:e]`` stripped of ASCII blanks, as tokens (see the module docstring): a cell longer than
    ``token`` bytes is ``token + 1`` bytes, a NUL and a hash of the cell, padded."""
    filled = e > s
    if filled.any():
        at_s, at_e = np.where(filled, s, 0), np.where(filled, e - 1, 0)
        need = np.flatnonzero(filled & (_BLANK[c[at_s]] | _BLANK[c[at_e]]))
        if need.size:
            solid = np.flatnonzero(~_BLANK[c])
            a = np.searchsorted(solid, s[need])
            first = solid[np.minimum(a, max(solid.size - 1, 0))] if solid.size else e[need]
            ok = (a < solid.size) & (first < e[need])
            b = np.searchsorted(solid, e[need]) - 1
            last = solid[np.maximum(b, 0)] if solid.size else e[need]
            s[need] = np.where(ok, first, e[need])
            e[need] = np.where(ok, last + 1, e[need])
    size = e - s
    n = size.size
    longest = int(size.max()) if n else 0
    width = max(1, min(longest, token + 1))
    out = np.zeros((n, width), dtype=np.uint8)
    padded = np.concatenate((c, np.zeros(width, dtype=np.uint8)))
    windows = sliding_window_view(padded, width)
    place = np.arange(width)
    for lo in range(0, n, _GATHER_ROWS):
        hi = min(n, lo + _GATHER_ROWS)
        block = windows[s[lo:hi]]
        block[place >= size[lo:hi, None]] = 0
        out[lo:hi] = block
    for i in np.flatnonzero(size > token).tolist():
        cell = bytes(data[base + int(s[i]) : base + int(e[i])])
        digest = b"\0" + hashlib.blake2b(cell, digest_size=20).hexdigest().encode()
        out[i] = np.frombuffer(digest.ljust(width, b"#")[:width], dtype=np.uint8)
    return out.view(f"S{width}").reshape(n)


def _unquoted(data: bytes | bytearray) -> bytearray | None:
    """``data`` without its quotes, as the ``csv`` module reads them, where every quoted cell is quoted whole and
    on one line (what spreadsheets, R and pandas write): an opening quote starts a cell, a closing one ends it, a
    doubled quote inside is one quote, and a comma inside is escaped (a NUL and ``c``; no cell of the file has a
    NUL). None for anything else (a quote inside a cell that is not quoted, a line break inside quotes): the
    ``csv`` module reads those."""
    buf = np.frombuffer(data, dtype=np.uint8)
    out = bytearray(len(data))
    put = at = 0
    while at < len(data):
        end = data.find(b"\n", min(at + _QUOTED_CHUNK, len(data)) - 1)
        end = len(data) if end < 0 else end + 1
        c = buf[at:end]
        q = np.flatnonzero(c == _QUOTE)
        if not q.size:
            out[put : put + c.size] = data[at:end]
            put += c.size
            at = end
            continue
        ends = np.flatnonzero(c == _NL)
        line = np.searchsorted(ends, q)  # each quote's line in the chunk
        per_line = np.bincount(line)
        if (per_line % 2).any():
            return None  # a quote left open at a line's end: a line break inside quotes, or a stray quote
        first_of_line = np.concatenate(([0], np.cumsum(per_line)[:-1]))
        odd = ((np.arange(q.size) - first_of_line[line]) % 2).astype(bool)  # closes (or doubles) a quote
        prev = np.where(q > 0, c[np.maximum(q - 1, 0)], _NL)
        nxt = np.where(q + 1 < c.size, c[np.minimum(q + 1, c.size - 1)], _NL)
        closing = odd & ((nxt == _COMMA) | (nxt == _NL) | (nxt == _CR))
        doubled = odd & (nxt == _QUOTE)  # the first of a doubled quote: dropped, the second kept
        opening = ~odd & ((prev == _COMMA) | (prev == _NL))
        second = ~odd & (prev == _QUOTE) & np.concatenate(([False], doubled[:-1]))
        if not (closing | doubled | opening | second).all():
            return None
        whole = opening[:-1] & (prev[:-1] == _NL) & closing[1:] & (q[1:] == q[:-1] + 1) & (nxt[1:] != _COMMA)
        if whole.any():
            return None  # a line that is one empty quoted cell: a row, which unquoted would be a blank line
        commas = np.flatnonzero(c == _COMMA)
        escaped = commas[np.searchsorted(q, commas) % 2 == 1]  # an odd number of quotes before it on its line
        dropped = q[closing | doubled | opening]
        if not escaped.size:
            keep = np.ones(c.size, dtype=bool)
            keep[dropped] = False
            kept = c[keep]
        else:
            lens = np.ones(c.size, dtype=np.uint8)
            lens[dropped] = 0
            lens[escaped] = 2
            kept = np.repeat(c, lens)
            where = escaped - np.searchsorted(dropped, escaped) + np.arange(escaped.size)
            kept[where] = 0
            kept[where + 1] = ord("c")
        out[put : put + kept.size] = kept.tobytes()
        put += kept.size
        at = end
    del out[put:]
    return out


def _reparsed(data: bytes | bytearray, name: str) -> tuple[list[str], bytearray, np.ndarray]:
    """The header, the rows rewritten one a line without quotes, and each row's first line, by the ``csv``
    module: a cell's commas and line breaks are escaped (a NUL and a letter: no cell of the file has a NUL)."""
    text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline="")
    reader = csv.reader(text)
    header = [h.strip() for h in next(reader, [])]
    width = len(header)
    out = bytearray()
    lines = array("q")
    start = reader.line_num + 1
    for row in _rows(reader, name):
        line, start = start, reader.line_num + 1
        if not row:
            continue
        if len(row) != width:
            raise RaggedRowError(name, line, len(row), width)
        joined = ",".join(row)
        if joined.count(",") != width - 1 or "\n" in joined or "\r" in joined:
            joined = ",".join(c.replace(",", "\0c").replace("\n", "\0n").replace("\r", "\0r") for c in row)
        out += joined.encode("utf-8") or b" "  # a row of one empty cell is no blank line: a blank, stripped
        out += b"\n"
        lines.append(line)
    return header, out, np.frombuffer(lines, dtype=np.int64) if lines else np.empty(0, dtype=np.int64)


def _rows(reader: Iterator[list[str]], name: str) -> Iterator[list[str]]:
    try:
        yield from reader
    except csv.Error:
        line = getattr(reader, "line_num", 0)
        raise BadFileError(
            f"{name} line {line}: a quoted cell is not closed or is longer than a cell can be: close every quote"
        ) from None


def unescaped(text: str) -> str:
    """A cell's text as the file holds it, from a token (the ``csv`` module's commas and line breaks restored)."""
    if "\0" not in text:
        return text
    return text.replace("\0c", ",").replace("\0n", "\n").replace("\0r", "\r")


__all__ = ["CHUNK", "TOKEN", "CsvColumns", "RaggedRowError", "read_columns", "unescaped"]
