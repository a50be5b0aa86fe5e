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

#: "0000" .. "9999" as 4 ASCII bytes each (read as uint32 in memory order).
_QUAD = np.frombuffer(b"".join(b"%04d" % i for i in range(10000)), dtype=np.uint32)
_POW10 = 10 ** np.arange(1, 19, dtype=np.uint64)

#: Floats are kept in the row mirrors rounded to this many decimals (a mirror, not the arrays).
FLOAT_DECIMALS = 7
FLOAT_SCALE = 10.0**FLOAT_DECIMALS


def decimal_width(values: np.ndarray) -> int:
    """Characters the widest value of ``values`` (integers) takes in decimal, its sign included."""
    if values.size == 0:
        return 1
    lo, hi = int(values.min()), int(values.max())
    return max(len(str(lo)), len(str(hi)))


def write_decimal(out: np.ndarray, values: np.ndarray) -> None:
    """Write ``values`` (integers) into ``out`` (a ``(k, width)`` uint8 array or view), right-aligned,
    leading spaces, a ``-`` before negative numbers. ``width`` must hold the widest value."""
    k, width = out.shape
    v = np.asarray(values, dtype=np.int64)
    neg = v < 0
    mag = np.abs(v).astype(np.uint64)  # -2**63 is not a row id or a count: never seen here
    chunks = -(-width // 4)
    buf = np.empty((k, 4 * chunks), dtype=np.uint8)
    rest = mag
    for j in range(chunks - 1, -1, -1):
        rest, quad = np.divmod(rest, np.uint64(10000))
        buf[:, 4 * j : 4 * j + 4] = _QUAD[quad].view(np.uint8).reshape(k, 4)
    digits = np.searchsorted(_POW10, mag, side="right") + 1
    # Leading zeros become spaces: "0" is 48, " " is 32.
    buf -= (np.arange(4 * chunks) < (4 * chunks - digits)[:, None]).view(np.uint8) << 4
    if neg.any():
        rows = np.flatnonzero(neg)
        buf[rows, 4 * chunks - digits[rows] - 1] = 45  # "-"
    out[:] = buf[:, 4 * chunks - width :]


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
    """

    def __init__(self, fields: Sequence[tuple[str, np.ndarray, bool]]) -> None:
        self.count = len(fields[0][1]) if fields else 0
        self.names = [f[0] for f in fields]
        self.floats = [f[2] for f in fields]
        self.widths = [decimal_width(np.asarray(f[1])) for f in fields]
        self.row_width = sum(self.widths)
        block = np.empty((self.count, self.row_width), dtype=np.uint8)
        at = 0
        for (_, values, _), w in zip(fields, self.widths):
            write_decimal(block[:, at : at + w], values)
            at += w
        self.blob = block.tobytes()

    def select(self, blob: int = 1, count: int = 2) -> str:
        """``WITH ... SELECT`` of the block's rows, one column per field, with the blob bound as parameter
        ``?blob`` and the row count as ``?count``; the row number is ``r.i`` (0-based)."""
        cols, at = [], 1
        for name, w, is_float in zip(self.names, self.widths, self.floats):
            cell = f"CAST(substr(?{blob}, r.i * {self.row_width} + {at}, {w}) AS INTEGER)"
            cols.append(f"{cell} / {FLOAT_SCALE!r} AS {name}" if is_float else f"{cell} AS {name}")
            at += w
        return (f"WITH RECURSIVE r(i) AS (SELECT 0 WHERE ?{count} > 0 UNION ALL SELECT i + 1 FROM r WHERE i + 1 < ?{count}) "
                f"SELECT r.i AS i, {', '.join(cols)} FROM r")
