"""Rows for SQLite as fixed-width text, built by numpy: how a million rows reach a world file fast.

Binding Python values row by row (``executemany``) costs more than SQLite's own insert, and holds the
interpreter lock while it does. Instead, a batch of rows is written as one block of ASCII text in which
every value is a decimal number right-aligned with spaces in a field of known width, so the value of row
``i``, field ``j`` starts at a byte known in advance. The block is bound once, as a blob, and a single
``INSERT ... SELECT`` cuts it with ``substr`` (on a blob: by byte, in constant time) and ``CAST`` (which
skips leading spaces). The statement runs entirely in SQLite's C code, without the interpreter lock, so
the next block is built by numpy on the other core meanwhile. Fixed-width numbers padded with spaces are
also valid JSON, which the ``adjacency`` rows use (``sim.store.worldfile``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: "0000" .. "9999" as 4 ASCII bytes each (read as uint32 in memory order); then the same with the leading
#: zeros as spaces ("   7"; 0 is "    ": a chunk above the number's first digit); then as that but 0 is
#: "   0" (the last chunk of the number 0).
_DIGITS = [b"%04d" % i for i in range(10000)]
_QUAD = np.frombuffer(b"".join(_DIGITS), dtype=np.uint32)
_QUAD_LEAD = np.frombuffer(b"".join([b"    "] + [b"%4d" % i for i in range(1, 10000)]), dtype=np.uint32)
_QUAD_UNITS = np.frombuffer(b"".join(b"%4d" % i for i in range(10000)), dtype=np.uint32)
#: Per chunk (0: the units), the table indexed by ``digits + 10000 * (nothing above this chunk)``.
_TABLES = [np.concatenate([_QUAD, _QUAD_UNITS if c == 0 else _QUAD_LEAD]) for c in range(2)]
_POW10 = 10 ** np.arange(1, 19, dtype=np.int64)

#: Floats are kept in the row mirrors rounded to this many decimals (a mirror, not the arrays).
FLOAT_DECIMALS = 7
FLOAT_SCALE = 10.0**FLOAT_DECIMALS


def decimal_width(values: np.ndarray) -> int:
    """Characters the widest value of ``values`` (integers) takes in decimal, its sign included."""
    if values.size == 0:
        return 1
    lo, hi = int(values.min()), int(values.max())
    return max(len(str(lo)), len(str(hi)))


_INT64_MIN = np.iinfo(np.int64).min
_BLOCK = 1 << 15  # rows at a time: the temporaries of a block stay in the CPU's cache


def write_decimal(out: np.ndarray, values: np.ndarray) -> None:
    """Write ``values`` (integers) into ``out`` (a ``(k, width)`` uint8 array or view), right-aligned,
    leading spaces, a ``-`` before negative numbers. ``width`` must hold the widest value.

    Four digits at a time: each 4-digit chunk is looked up in a table of "0000".."9999", or of the same
    with leading zeros as spaces when nothing of the number lies above that chunk."""
    k, width = out.shape
    chunks = -(-width // 4)
    v = np.asarray(values, dtype=np.int64)
    buf = np.empty((min(k, _BLOCK), chunks), dtype=np.uint32)
    for lo in range(0, k, _BLOCK):
        hi = min(k, lo + _BLOCK)
        part = v[lo:hi]
        b = buf[: hi - lo]
        rest = np.abs(part)  # int64: numpy divides it many times faster than uint64
        for c in range(chunks):  # c = 0: the units
            rest, quad = np.divmod(rest, 10000)
            quad += (rest == 0) * 10000
            b[:, chunks - 1 - c] = _TABLES[min(c, 1)][quad]
        text = b.view(np.uint8)
        neg = part < 0
        if neg.any():
            rows = np.flatnonzero(neg)
            mag = np.abs(part[rows])
            digits = np.searchsorted(_POW10, mag, side="right") + 1
            text[rows, 4 * chunks - digits - 1] = 45  # "-"
            lowest = rows[part[rows] == _INT64_MIN]  # its magnitude is not an int64: written whole
            if lowest.size:
                text[lowest] = np.frombuffer(str(_INT64_MIN).rjust(4 * chunks).encode(), dtype=np.uint8)
        out[lo:hi] = text[:, 4 * chunks - width :]


def as_blob(a: np.ndarray) -> memoryview | bytes:
    """A C-contiguous array's bytes for binding as a blob, without copying them (``b""`` when empty)."""
    return a.data.cast("B") if a.size else b""


def scaled_floats(values: np.ndarray) -> np.ndarray | None:
    """``values`` as integers of 10**-7 (rounded), or None when one is not finite or too large for it."""
    v = np.asarray(values, dtype=np.float64)
    if v.size and not (np.isfinite(v).all() and np.abs(v).max() < 9e11):
        return None
    return np.rint(v * FLOAT_SCALE).astype(np.int64)


#: Digits a packed cell holds at most (its value stays below 2**63).
_PACK_DIGITS = 18
#: Rows per step of the row numbers' recursion (each step joined with this many offsets).
_STEP = 64
_OFFSETS = ", ".join(f"({j})" for j in range(_STEP))


class FixedRows:
    """A block of rows laid out for :meth:`select` (see the module docstring).

    Fields of small non-negative values share a cell: their decimals side by side in one number of at most
    18 digits, which SQL cuts once and takes apart with ``/`` and ``%`` (arithmetic costs SQLite far less
    than a ``substr`` and a ``CAST`` per field). A field with a negative value or more digits (an interest
    mask, say) has a cell of its own, signed. The statement's text depends on the fields' widths only, not
    on their values: sqlite3 keeps a copy of the blob last bound to each statement it caches, so a text
    new with every block would keep every block's blob.

    Args:
        fields: ``(name, values, is_float)`` per field, all of the same length; integer values, or floats
            already scaled by :func:`scaled_floats` (``is_float``: SQL divides them back).
        count: the number of rows when there is no field (every column computed in SQL).
    """

    def __init__(self, fields: Sequence[tuple[str, np.ndarray, bool]], count: int | None = None) -> None:
        self.count = len(fields[0][1]) if fields else int(count or 0)
        self.names = [f[0] for f in fields]
        self.floats = [f[2] for f in fields]
        # Per field: its cell, its power of ten in the cell and its digits there (0: a cell of its own).
        packed: list[tuple[int, np.ndarray, int]] = []  # (digits, values, field index)
        self._cells: list[tuple[np.ndarray, int]] = []  # the values and digits of each cell
        self._fields: list[tuple[int, int, int]] = []
        for j, (_, values, _) in enumerate(fields):
            v = np.asarray(values, dtype=np.int64)
            lo, hi = (int(v.min()), int(v.max())) if v.size else (0, 0)
            digits = len(str(hi))
            if lo >= 0 and digits < _PACK_DIGITS:
                packed.append((digits, v, j))
                self._fields.append((-1, 0, digits))
            else:
                self._fields.append((len(self._cells), 0, 0))
                self._cells.append((v, decimal_width(v)))
        # Widest first, each into the first cell with room (first-fit decreasing).
        groups: list[list[tuple[int, np.ndarray, int]]] = []
        for item in sorted(packed, key=lambda x: -x[0]):
            for g in groups:
                if sum(d for d, _, _ in g) + item[0] <= _PACK_DIGITS:
                    g.append(item)
                    break
            else:
                groups.append([item])
        for g in groups:
            cell, total, shift = len(self._cells), np.zeros(self.count, dtype=np.int64), 0
            for digits, values, j in g:
                total += values * 10**shift if shift else values
                self._fields[j] = (cell, shift, digits)
                shift += digits
            self._cells.append((total, shift))
        self.widths = [w for _, w in self._cells]
        self.row_width = sum(self.widths)
        block = np.empty((self.count, self.row_width), dtype=np.uint8)
        at = 0
        for values, w in self._cells:
            write_decimal(block[:, at : at + w], values)
            at += w
        #: The block, bound as a blob (sqlite3 takes any buffer; no copy is made here).
        self.blob = as_blob(block)

    def select(self, blob: int = 1, count: int = 2) -> str:
        """``WITH ... SELECT`` of the block's rows, one column per field, with the blob bound as parameter
        ``?blob`` and the row count as ``?count``; the row number is ``i`` (0-based), in ascending order.

        The row numbers come from a recursion in steps of 64 joined with the 64 offsets (a recursion a row
        at a time costs SQLite half a second a million rows). The cells are cut in a subquery that SQLite
        must not flatten into the outer one (which would cut a cell again for each field it holds): its
        ``LIMIT`` beside the outer ``WHERE`` keeps it apart (SQLite flattens no ``LIMIT`` subquery into a
        query with a ``WHERE``)."""
        cells, at = [], 1
        for c, w in enumerate(self.widths):
            cells.append(f"CAST(substr(?{blob}, (b.i + k.j) * {self.row_width} + {at}, {w}) AS INTEGER) AS c{c}")
            at += w
        cols = []
        for name, is_float, (cell, shift, digits) in zip(self.names, self.floats, self._fields):
            value = f"c{cell}"
            if shift:
                value = f"{value} / {10**shift}"
            if digits and shift + digits < self.widths[cell]:
                value = f"{value} % {10**digits}"
            cols.append(f"{value} / {FLOAT_SCALE!r} AS {name}" if is_float else f"{value} AS {name}")
        return (
            f"WITH RECURSIVE b(i) AS (SELECT 0 WHERE ?{count} > 0 UNION ALL SELECT i + {_STEP} FROM b WHERE "
            f"i + {_STEP} < ?{count}), k(j) AS (VALUES {_OFFSETS}) "
            f"SELECT {', '.join(['i', *cols])} FROM (SELECT {', '.join(['b.i + k.j AS i', *cells])} "
            f"FROM b CROSS JOIN k WHERE b.i + k.j < ?{count} LIMIT -1) WHERE 1"
        )
