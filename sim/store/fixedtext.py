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


class FixedRows:
    """A block of rows laid out for :meth:`select` (see the module docstring).

    Args:
        fields: ``(name, values, is_float)`` per field, all of the same length; integer values, or floats
            already scaled by :func:`scaled_floats` (``is_float``: SQL divides them back).
        count: the number of rows when there is no field (every column computed in SQL).
    """

    def __init__(self, fields: Sequence[tuple[str, np.ndarray, bool]], count: int | None = None) -> None:
        self.count = len(fields[0][1]) if fields else int(count or 0)
        self.names = [f[0] for f in fields]
        self.floats = [f[2] for f in fields]
        self.widths = [decimal_width(np.asarray(f[1])) for f in fields]
        self.row_width = sum(self.widths)
        block = np.empty((self.count, self.row_width), dtype=np.uint8)
        at = 0
        for (_, values, _), w in zip(fields, self.widths):
            write_decimal(block[:, at : at + w], values)
            at += w
        #: The block, bound as a blob (sqlite3 takes any buffer; no copy is made here).
        self.blob = as_blob(block)

    def select(self, blob: int = 1, count: int = 2) -> str:
        """``WITH ... SELECT`` of the block's rows, one column per field, with the blob bound as parameter
        ``?blob`` and the row count as ``?count``; the row number is ``r.i`` (0-based)."""
        cols, at = [], 1
        for name, w, is_float in zip(self.names, self.widths, self.floats):
            cell = f"CAST(substr(?{blob}, r.i * {self.row_width} + {at}, {w}) AS INTEGER)"
            cols.append(f"{cell} / {FLOAT_SCALE!r} AS {name}" if is_float else f"{cell} AS {name}")
            at += w
        return (
            f"WITH RECURSIVE r(i) AS (SELECT 0 WHERE ?{count} > 0 UNION ALL SELECT i + 1 FROM r WHERE i + 1 < "
            f"?{count}) "
            f"SELECT {', '.join(['r.i AS i', *cols])} FROM r"
        )
