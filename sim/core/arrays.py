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
