"""Small array helpers shared by the core."""

from __future__ import annotations

import numpy as np


def unique_sorted(keys: np.ndarray) -> np.ndarray:
    """Sorted distinct values of ``keys`` (sort + neighbour compare; faster than ``np.unique``'s hash
    path on tens of millions of int64 keys). Sorts a copy."""
    keys = np.sort(keys)
    if keys.size < 2:
        return keys
    keep = np.empty(keys.shape[0], dtype=bool)
    keep[0] = True
    np.not_equal(keys[1:], keys[:-1], out=keep[1:])
    return keys[keep]


def unique_sorted_first(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values of ``keys`` and the index of each value's first occurrence."""
    order = np.argsort(keys, kind="stable")
    sk = keys[order]
    if sk.size < 2:
        return sk, order
    keep = np.empty(sk.shape[0], dtype=bool)
    keep[0] = True
    np.not_equal(sk[1:], sk[:-1], out=keep[1:])
    return sk[keep], order[keep]


def one_of(values: np.ndarray | int, codes: tuple[int, ...] | np.ndarray) -> np.ndarray | np.bool_:
    """Whether each of ``values`` is one of a few small integer ``codes`` (state or status codes): an
    equality per code, or-ed. ``np.isin`` sorts or builds a table first, which costs hundreds of
    microseconds per call on the arrays of one round; this costs a few."""
    values = np.asarray(values)
    codes = tuple(int(c) for c in np.asarray(codes).ravel())
    if not codes:
        return np.zeros(values.shape, dtype=bool)
    out = values == codes[0]
    for c in codes[1:]:
        out |= values == c
    return out


def equal_runs(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each run of equal neighbours in ``keys`` starts, and its length. ``keys`` is not empty and has
    its equal values side by side (sorted, or grouped)."""
    start = np.empty(keys.size, dtype=bool)
    start[0] = True
    np.not_equal(keys[1:], keys[:-1], out=start[1:])
    starts = np.flatnonzero(start)
    return starts, np.diff(np.append(starts, keys.size))


def dense_width(counts: np.ndarray, size: int) -> int | None:
    """The width of a matrix holding one run of ``counts`` (:func:`equal_runs`, ``size`` elements in all) per
    row, padded; None when the runs are too ragged for one (it would hold over 4 cells per element). Sorting
    such short rows on their own is far cheaper than one global sort."""
    width = int(counts.max())
    return None if counts.size * width > 4 * size + 1024 else width
