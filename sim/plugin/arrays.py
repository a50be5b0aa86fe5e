"""Array helpers plugins share: joining agent lists, summing repeated pairs. Vectorised, no Python loop
over agents."""

from __future__ import annotations

import functools

import numpy as np

from sim.core.arrays import dense_width, equal_runs

# Re-exported as they are (the `as` says so): plugins get them from ``sim.plugin`` with the helpers below.
from sim.core.arrays import unique_sorted as unique_sorted
from sim.core.graph import csr_positions as csr_positions


def union_agents(*lists: np.ndarray) -> np.ndarray:
    """The agents of all ``lists``, ascending and once each, as int32: what ``np.union1d`` gives, by a
    sort and a neighbour compare. Use it in models instead of ``np.union1d``/``np.unique(x)``: numpy's
    hash-based unique (numpy 2.3+) is many times slower on large arrays — half a second for 900,000
    agents, where this takes a few milliseconds."""
    if not lists:
        return np.empty(0, dtype=np.int32)
    return unique_sorted(np.concatenate([np.asarray(a, dtype=np.int32) for a in lists]))


def aggregate_pairs(
    agents: np.ndarray, candidates: np.ndarray, weights: np.ndarray | float = 1.0, n: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sum ``weights`` over repeated ``(agent, candidate)`` pairs: distinct pairs sorted by agent then
    candidate, with their totals."""
    a = np.asarray(agents, dtype=np.int64)
    c = np.asarray(candidates, dtype=np.int64)
    if a.size == 0:
        e = np.empty(0, dtype=np.int32)
        return e, e, np.empty(0)
    span = int(n if n is not None else max(int(c.max()), int(a.max())) + 1)
    w = np.broadcast_to(np.asarray(weights, dtype=np.float64), a.shape)
    if a.size > 1 and bool(np.all(a[1:] >= a[:-1])):
        dense = _aggregate_rows(a, c, w)
        if dense is not None:
            return dense
    key = a * span + c
    order = np.argsort(key)  # the fast (unstable) sort: equal keys are summed anyway
    key, w = key[order], w[order]
    start = np.empty(key.size, dtype=bool)
    start[0] = True
    np.not_equal(key[1:], key[:-1], out=start[1:])
    idx = np.flatnonzero(start)
    total = np.add.reduceat(w, idx)
    uk = key[idx]
    return (uk // span).astype(np.int32), (uk % span).astype(np.int32), total


def _aggregate_rows(a: np.ndarray, c: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """:func:`aggregate_pairs` for pairs already grouped by agent: each agent's short row of candidates
    is sorted on its own (a dense matrix), far cheaper than one global sort. None when too ragged."""
    starts, counts = equal_runs(a)
    width = dense_width(counts, a.size)
    if width is None:
        return None
    row = np.repeat(np.arange(starts.size), counts)
    col = np.arange(a.size) - np.repeat(starts, counts)
    big = np.iinfo(np.int64).max
    cand = np.full((starts.size, width), big, dtype=np.int64)
    cand[row, col] = c
    wt = np.zeros((starts.size, width))
    wt[row, col] = w
    order = np.argsort(cand, axis=1)
    cand_flat = np.take_along_axis(cand, order, axis=1).ravel()
    wt_flat = np.take_along_axis(wt, order, axis=1).ravel()
    owner = np.repeat(a[starts], width)
    valid = cand_flat != big
    cand, wt, owner = cand_flat[valid], wt_flat[valid], owner[valid]
    new = np.empty(cand.size, dtype=bool)
    new[0] = True
    np.logical_or(cand[1:] != cand[:-1], owner[1:] != owner[:-1], out=new[1:])
    idx = np.flatnonzero(new)
    return owner[idx].astype(np.int32), cand[idx].astype(np.int32), np.add.reduceat(wt, idx)


def first_hits(targets: np.ndarray, hit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The agents hit by a round's successful attempts, once each: ``hit`` are positions into ``targets`` (the
    gathered edges' targets, senders ascending); returns ``(agents, positions)``, the distinct targets
    ascending and, for each, the position of its first successful attempt (so the lowest sender). One sort
    of packed ``(target, position)`` keys, no hashing."""
    span = targets.size + 1
    key = np.take(targets, hit).astype(np.int64) * span + hit
    key.sort()
    agents = key // span
    first = np.ones(key.size, dtype=bool)
    first[1:] = agents[1:] != agents[:-1]
    return agents[first], key[first] % span


def disjoint_batches(
    agents: np.ndarray,
    writes: np.ndarray | bool = True,
    *,
    update: np.ndarray | None = None,
    updates: int | None = None,
    overwrite: bool = False,
) -> np.ndarray:
    """Cut a sequence of updates, meant to apply one after another, into consecutive batches that can
    each be applied at once with exactly the same result.

    ``agents`` says which agents each update touches: a 2-D integer array whose row ``t`` lists the
    agents of update ``t`` (``-1`` pads a shorter row), or a 1-D array of entries with ``update`` (aligned)
    naming the update of each. An update reads every agent it lists, and also writes it where ``writes``
    (one bool, or a bool array shaped like ``agents``). ``updates`` is the length of the sequence (by
    default the rows, or the largest update named plus one).

    Within a batch no update reads or writes an agent that an earlier update of the batch writes, so
    every update of a batch sees exactly what the batches before it left: applying the whole batch at
    once, each update computed from the state at the batch's start, is the sequential process. (Updates
    on disjoint pairs or groups commute.) With ``m`` agents per update a batch holds about
    ``sqrt(N) / m`` updates at N agents, so a sweep of N updates is about ``m sqrt(N)`` batches.

    With ``overwrite=True`` a write does not read (the new value does not depend on the old one):
    several updates of a batch may then write one agent, and the caller applies them in order, the last
    one standing; only a read of an agent written earlier in the batch cuts it. An agent an update both
    reads and writes is then listed twice, once as a read and once as a write.

    Each batch is as long as it can be (greedy). Returns the bounds ``b`` (int64): ``b[0] = 0 < b[1] <
    ... < b[-1] = updates``; batch ``t`` is the updates ``b[t] .. b[t + 1] - 1``. Work: one sort of the
    entries and a few passes over them, then one scalar step per batch (no Python loop per update).

    Raises:
        ValueError: ``agents`` is 1-D without ``update``, or the shapes disagree.
    """
    a = np.asarray(agents)
    if a.ndim == 2:
        k = a.shape[0] if updates is None else int(updates)
        rows = np.arange(a.shape[0], dtype=np.int64)[:, None]
        u = np.broadcast_to(rows, a.shape)
    elif update is not None:
        u = np.asarray(update)
        if u.shape != a.shape:
            raise ValueError(f"disjoint_batches: {a.size} agents but {u.size} updates name them")
        k = int(updates) if updates is not None else (int(u.max()) + 1 if u.size else 0)
    else:
        raise ValueError("disjoint_batches: give a 2-D array of agents (a row per update), or update= beside 1-D")
    if k <= 0:
        return np.zeros(1, dtype=np.int64)
    w = np.broadcast_to(np.asarray(writes, dtype=bool), a.shape)
    if a.size and int(a.min()) < 0:
        listed = a >= 0
        a, u, w = a[listed], u[listed], w[listed]
    if a.size == 0:
        return np.array([0, k], dtype=np.int64)
    # One sort of packed keys (agent, update, write): each agent's entries in update order, a read before
    # a write of the same update. Entries that repeat exactly are dropped.
    shift = k.bit_length() + 1
    if (int(a.max()) + 1).bit_length() + shift > 62:
        raise ValueError(f"disjoint_batches: {k:,} updates over agents up to {int(a.max()):,} do not fit its keys")
    key = np.left_shift(a, shift, dtype=np.int64)
    key |= np.left_shift(u, 1, dtype=np.int64)
    every = bool(w.all())
    if every:
        key |= 1
    elif w.any():
        key |= w
    key = key.ravel()
    key.sort()
    repeated = key[1:] == key[:-1]
    if repeated.any():
        key = key[np.concatenate(([True], ~repeated))]
    low = (1 << shift) - 1
    agent_part = key & ~low
    # For every entry, the last earlier update that writes its agent: a running maximum of the write
    # entries' keys (a read counts as its agent's bare key), read at the entry before it; ``(diff - 1)
    # >> 1`` decodes that update, and is negative when there is none (another agent, or no write yet).
    acc = np.maximum.accumulate(key if every else np.where(key & 1, key, agent_part))
    last = np.empty_like(key)
    last[0] = -2
    np.subtract(acc[:-1], agent_part[1:], out=last[1:])
    last -= 1
    last >>= 1
    conflict = last >= 0
    if overwrite:
        conflict &= (key & 1) == 0
    # cut[s]: the first update that conflicts with an update at or after s, i.e. the smallest update of an
    # entry whose last write is at s or later (a scatter of minima, then a reversed running minimum).
    cut = np.full(k + 1, k, dtype=np.int64)
    np.minimum.at(cut, last[conflict], (key[conflict] & low) >> 1)
    cut = np.minimum.accumulate(cut[::-1])[::-1]
    bounds = [0]
    s = 0
    while s < k:
        s = int(cut[s])
        bounds.append(s)
    return np.array(bounds, dtype=np.int64)


def first_conflict(
    reads: tuple[np.ndarray, np.ndarray],
    writes: tuple[np.ndarray, np.ndarray],
    updates: int,
    scratch: np.ndarray,
    *,
    overwrite: bool = False,
) -> int:
    """The length of the first batch of :func:`disjoint_batches` for the updates ``0 .. updates - 1``, by
    a scatter instead of a sort: for models that draw a window of updates, apply its first batch and draw
    again from the opinions it left (what an update touches depends on them).

    ``reads`` and ``writes`` are ``(update, agent)`` pairs of aligned arrays: the agents each update
    reads, and those it writes (which it also reads, unless ``overwrite``: see :func:`disjoint_batches`).
    ``scratch`` is an int64 array over the agents holding its maximum value everywhere (make it once per
    tick: ``np.full(n, np.iinfo(np.int64).max)``); it is left so on return. Work: a few passes over the
    entries, whatever their number.
    """
    w_update, w_agent = writes
    r_update, r_agent = reads
    cut = int(updates)
    if w_agent.size == 0:
        return cut
    np.minimum.at(scratch, w_agent, w_update)  # each written agent's first writer
    late = scratch[r_agent] < r_update
    if late.any():
        cut = min(cut, int(r_update[late].min()))
    if not overwrite:
        late = scratch[w_agent] < w_update
        if late.any():
            cut = min(cut, int(w_update[late].min()))
    scratch[w_agent] = np.iinfo(np.int64).max
    return cut


def update_levels(
    updates: int,
    writes: tuple[np.ndarray, np.ndarray],
    reads: tuple[np.ndarray, np.ndarray] | None = None,
    scratch: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """The level of each of the updates ``0 .. updates - 1``, meant to apply one after another: apply every
    update of level 0 at once (each computed from the state before it), then every update of level 1, and
    so on, and the result is exactly the sequential process's.

    ``writes`` and ``reads`` are ``(update, agent)`` pairs of aligned arrays, as for :func:`first_conflict`:
    the agents each update writes (it may read them too) and those it only reads. An update's level is one
    more than the highest level of the earlier updates it conflicts with: one that writes an agent it reads
    or writes, or reads an agent it writes (updates that only read one agent commute). So an update comes
    after every earlier one it conflicts with, and the updates of one level touch no agent another of the
    level writes. Where what an update writes depends on the state (a pick among its neighbours), list
    every agent it may write: the levels stay exact, only more of them.

    Computed by peeling: a round finds the updates that no earlier update still waiting conflicts with (a
    scatter of each agent's first waiting writer and first waiting toucher), gives them the round's level
    and drops their entries. With ``m`` entries per update among N agents a window of ``W`` updates takes
    about ``1 + e m^2 W / N`` rounds, each a few passes over the entries still waiting. ``scratch`` is two
    int64 arrays over the agents holding their maximum value everywhere, left so on return (made here when
    not given). Returns an int64 array of levels; ``levels.max() + 1`` rounds.
    """
    big = np.iinfo(np.int64).max
    w_update = np.asarray(writes[0], dtype=np.int64)
    w_agent = np.asarray(writes[1], dtype=np.int64)
    r_update, r_agent = (np.empty(0, dtype=np.int64),) * 2 if reads is None else (reads[0], reads[1])
    level = np.zeros(int(updates), dtype=np.int64)
    if w_agent.size == 0 or updates <= 0:
        return level
    if scratch is None:
        n = int(max(int(w_agent.max()), int(r_agent.max()) if r_agent.size else 0)) + 1
        first_write, first_touch = np.full(n, big, dtype=np.int64), np.full(n, big, dtype=np.int64)
    else:
        first_write, first_touch = scratch
    if r_agent.size:
        # A read conflicts only with a write of its agent: keep the reads of agents some update writes.
        written = np.zeros(first_write.size, dtype=bool)  # a byte per agent: the lookups stay in cache
        written[w_agent] = True
        keep = np.flatnonzero(written[r_agent])
        r_update = np.asarray(r_update[keep], dtype=np.int64)
        r_agent = np.asarray(r_agent[keep], dtype=np.int64)
    waiting = np.ones(int(updates), dtype=bool)
    blocked = np.zeros(int(updates), dtype=bool)
    r = 0
    while w_agent.size:
        np.minimum.at(first_write, w_agent, w_update)
        np.minimum.at(first_touch, w_agent, w_update)
        if r_agent.size:
            np.minimum.at(first_touch, r_agent, r_update)
            late = first_write[r_agent] < r_update
            blocked[r_update[late]] = True
        late = first_touch[w_agent] < w_update
        blocked[w_update[late]] = True
        first_write[w_agent] = big
        first_touch[w_agent] = big
        if r_agent.size:
            first_touch[r_agent] = big
        ready = waiting & ~blocked
        level[ready] = r
        waiting &= blocked
        blocked[:] = False
        r += 1
        keep = waiting[w_update]
        w_update, w_agent = w_update[keep], w_agent[keep]
        if r_agent.size:
            keep = waiting[r_update]
            r_update, r_agent = r_update[keep], r_agent[keep]
    level[waiting] = r  # updates left that only read: no writer waits before them
    return level


#: Edge layer masks are uint8: a value table has one entry per possible mask.
MASKS = 256


def layer_table(base: float, values: list[float] | tuple[float, ...], combine: str) -> np.ndarray:
    """The value of a per-edge parameter for each layer mask an edge may carry (float64, indexed by the
    uint8 ``graph.layer``): ``values[i]`` for an edge in layer ``i`` alone (exactly), and for an edge in
    several layers ``1 - prod(1 - values[i])`` (``combine="probability"``: one independent chance per
    layer, as separate edges would give) or ``sum(values[i])`` (``"rate"``); ``base`` for an edge in no layer.
    """
    v = np.asarray(values, dtype=np.float64).reshape(1, len(values))
    return layer_tables(np.array([base], dtype=np.float64), v, combine)[0]


@functools.lru_cache(maxsize=16)
def _mask_bits(width: int) -> np.ndarray:
    """Which of ``width`` layers each mask holds: bool ``(masks, width)``, read-only."""
    bits = ((np.arange(MASKS)[:, None] >> np.arange(width)) & 1).astype(bool)
    bits.setflags(write=False)
    return bits


def layer_tables(base: np.ndarray, values: np.ndarray, combine: str, masks: np.ndarray | None = None) -> np.ndarray:
    """:func:`layer_table` of several value sets at once (a parameter's change points, one set a segment):
    ``base`` (one value a set) and ``values`` (a row a set, a column a layer) give a table a set, ``(sets,
    masks)``; each row the same numbers :func:`layer_table` gives of its set, to the bit (it is the same code).
    ``masks``: only these layer masks' columns (ascending; None: all 256), each the number the full table has."""
    v = np.asarray(values, dtype=np.float64)
    width = v.shape[1]
    chosen = np.arange(MASKS) if masks is None else np.asarray(masks, dtype=np.int64)
    bits = _mask_bits(width)[chosen]
    if combine == "probability":
        table = 1.0 - np.prod(np.where(bits, 1.0 - v[:, None, :], 1.0), axis=2)
    else:
        table = np.sum(np.where(bits, v[:, None, :], 0.0), axis=2)
    for i in range(width):  # one layer: the value itself, not 1 - (1 - v)
        table[:, chosen == (1 << i)] = v[:, i : i + 1]
    table[:, chosen == 0] = base[:, None]
    return table


def scale_edges(
    value: np.ndarray | float,
    *,
    weight: np.ndarray | None = None,
    infectivity: np.ndarray | None = None,
    susceptibility: np.ndarray | None = None,
) -> np.ndarray | float:
    """A transmission probability per edge: ``value`` (per edge or one for all) times the edge's weight,
    the sender's infectivity and the receiver's susceptibility (each when given, aligned with the edges),
    multiplied in that order, capped at 1. The weight multiplies in numpy's rules (one float times the
    float32 weights stays float32, as trust-weighted ``ic`` always did); the attributes in float64, a
    missing (NaN) value counting as 1."""
    if weight is None and infectivity is None and susceptibility is None:
        return value
    out = value if weight is None else value * weight
    for factor in (infectivity, susceptibility):
        if factor is not None:
            f = np.asarray(factor, dtype=np.float64)
            out = out * np.where(np.isnan(f), 1.0, f)
    return np.minimum(out, 1.0)
