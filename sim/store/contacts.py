"""Contact layers from a table of people (issue 59): who is linked to whom, as edge arrays, with no loop over
people or groups.

- :func:`group_edges`: people sharing a value of a column (a household, a class) are linked both ways. A
  group of k people costs k(k-1) directed edges, counted first (:func:`group_edge_count`), so that a group too
  big to link whole is refused before any work, or linked to ``most`` random members each.
- :func:`near_edges`: people within distance R of each other (a k-d tree's pairs, not all pairs).
"""

from __future__ import annotations

import numpy as np

from sim.core.graph import csr_positions
from sim.errors import BadParameterError

#: The most directed edges one layer may need before it is refused (or thinned with ``most``).
MAX_LAYER_EDGES = 200_000_000


def _groups(codes: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The people in ``keep``, ordered by their code, and the offsets of each group among them (CSR-like)."""
    who = np.flatnonzero(keep)
    order = who[np.argsort(codes[who], kind="stable")]
    sorted_codes = codes[order]
    if not order.size:
        return order, np.zeros(1, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    return order, np.append(starts, order.size).astype(np.int64)


def group_edge_count(codes: np.ndarray, keep: np.ndarray) -> int:
    """The directed edges linking every group whole: the sum of k(k-1) over the groups of the people kept."""
    _, offsets = _groups(codes, keep)
    sizes = np.diff(offsets).astype(np.int64)
    return int(np.sum(sizes * (sizes - 1)))


def group_edges(
    codes: np.ndarray, keep: np.ndarray, *, most: int | None = None, rng: np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The edges ``(src, dst)`` (agent indices, both directions) linking the people kept (``keep``) who share a
    code. ``most``: each person is linked to at most that many random members of their group (and they to
    them), for groups too big to link whole; None links every group whole.

    Raises:
        BadParameterError: linking whole would take more than :data:`MAX_LAYER_EDGES` edges (give ``most``).
    """
    codes = np.asarray(codes)
    keep = np.asarray(keep, dtype=bool) & (codes >= 0 if codes.dtype.kind in "iu" else ~np.isnan(codes))
    order, offsets = _groups(codes, keep)
    sizes = np.diff(offsets)
    if most is None:
        need = int(np.sum(sizes.astype(np.int64) * (sizes - 1)))
        if need > MAX_LAYER_EDGES:
            raise BadParameterError(
                f"linking every group whole takes {need:,} edges, more than {MAX_LAYER_EDGES:,}: link each "
                "person to at most K members of their group (:max=K)"
            )
        group_of = np.repeat(np.arange(sizes.size), sizes)  # each kept person's group, in ``order``
        partners, counts = csr_positions(offsets, group_of)
        src = np.repeat(order, counts)
        dst = order[partners]
        other = src != dst
        return src[other], dst[other]
    if most < 1:
        raise BadParameterError(f"max must be at least 1, not {most}")
    rng = rng if rng is not None else np.random.default_rng(0)
    # Each person picks ``most`` members of their group at random (with replacement, then merged): one draw
    # per pick, no loop over groups; the links go both ways.
    group_of = np.repeat(np.arange(sizes.size), sizes)
    picks = np.repeat(np.arange(order.size), most)
    g = group_of[picks]
    chosen = offsets[g] + (rng.random(picks.size) * sizes[g]).astype(np.int64)
    src, dst = order[picks], order[chosen]
    other = src != dst
    src, dst = src[other], dst[other]
    return np.concatenate([src, dst]), np.concatenate([dst, src])


def near_edges(x: np.ndarray, y: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """The edges ``(src, dst)`` (both directions) between people within ``radius`` of each other (Euclidean),
    found by a k-d tree; people with a missing coordinate (NaN) are in no pair.

    Raises:
        BadParameterError: a radius that is not a positive finite number.
    """
    from scipy.spatial import cKDTree  # noqa: PLC0415 - only worlds made with --near need it

    if not np.isfinite(radius) or radius <= 0:
        raise BadParameterError(f"the distance of --near must be a positive number, not {radius}")
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    where = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    if where.size < 2:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    pairs = cKDTree(np.column_stack([x[where], y[where]])).query_pairs(radius, output_type="ndarray")
    a, b = where[pairs[:, 0]], where[pairs[:, 1]]
    return np.concatenate([a, b]), np.concatenate([b, a])


__all__ = ["MAX_LAYER_EDGES", "group_edge_count", "group_edges", "near_edges"]
