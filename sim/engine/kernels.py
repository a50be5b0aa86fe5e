"""Compiled cascade kernels for batched ensembles (:mod:`sim.engine.batched`), with Numba.

One call runs one cascade of the built-in ``ic`` or ``lt`` to its end (or ``rounds_cap`` rounds) from its
seeds and its random key, and leaves in the output buffers everything its report needs: the adopters in
adoption order (round, then agent), each one's round and its parent's position, the subtree sizes and roots
of the adoption forest, and the run's attempts and exposures, counted as the engine counts them.

``ic`` (and ``sir``) draw from the run's session generator exactly what the engine's model draws (one
number per open edge, round by round, senders ascending), so a run is the engine's run of the same seed.
The generator (numpy's PCG64) is stepped here, from its state (``pcg``: the 128-bit state and increment as
four uint64 words, high first), by :func:`_uniform`, bit for bit numpy's ``Generator.random()`` without
its indirect call; the state is written back at the end. ``lt``'s agent ``v``
has threshold ``float32(unit(word v))``, word ``v`` of the run's SplitMix64 key (see
:mod:`sim.engine.batched`), drawn when ``v`` is first examined instead of N numbers at the start.

The kernels are compiled on first use and cached next to this file (Numba's ``cache=True``); the buffers
are the caller's, reused from run to run and put back as they were (only the entries a run touched), so a
run costs what it touches, not the world's size.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


@njit(cache=True, inline="always")
def _word(key: np.uint64, index: np.int64) -> np.uint64:  # pragma: no cover - compiled
    z = key + np.uint64(index + 1) * _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


# PCG64 (O'Neill 2014; numpy's default bit generator): a 128-bit LCG stepped with this multiplier, output
# XSL-RR. ``_uniform`` is numpy's ``next_double`` of it, bit for bit (tests/test_batched.py compares them).
_PCG_MH = np.uint64(2549297995355413924)
_PCG_ML = np.uint64(4865540595714422341)
_M32 = np.uint64(0xFFFFFFFF)
_S32, _S58, _S11, _S64, _R63 = np.uint64(32), np.uint64(58), np.uint64(11), np.uint64(64), np.uint64(63)


@njit(cache=True)
def _uniform(sh: np.uint64, sl: np.uint64, ih: np.uint64, il: np.uint64) -> tuple:  # pragma: no cover - compiled
    """One step of PCG64 from state ``(sh, sl)`` with increment ``(ih, il)`` (high and low 64 bits): the new
    state and numpy's uniform double in [0, 1) from it (``Generator.random()``), without the generator's
    indirect call."""
    a_lo, a_hi, b_lo, b_hi = sl & _M32, sl >> _S32, _PCG_ML & _M32, _PCG_ML >> _S32
    p0, p1, p2, p3 = a_lo * b_lo, a_lo * b_hi, a_hi * b_lo, a_hi * b_hi
    mid = (p0 >> _S32) + (p1 & _M32) + (p2 & _M32)
    hi = p3 + (p1 >> _S32) + (p2 >> _S32) + (mid >> _S32) + sl * _PCG_MH + sh * _PCG_ML
    lo = sl * _PCG_ML
    nl = lo + il
    nh = hi + ih + (np.uint64(1) if nl < lo else np.uint64(0))
    x, r = nh ^ nl, nh >> _S58
    out = (x >> r) | (x << ((_S64 - r) & _R63))
    return nh, nl, np.float64(out >> _S11) * (1.0 / 9007199254740992.0)


@njit(cache=True)
def _sort_round(agents: np.ndarray, parents: np.ndarray, lo: int, hi: int) -> None:  # pragma: no cover - compiled
    """A round's adopters ``agents[lo:hi]`` by agent, their parents' positions along (a short round by
    insertion, in place; a long one by argsort)."""
    if hi - lo <= 32:
        for j in range(lo + 1, hi):
            a, b = agents[j], parents[j]
            i = j - 1
            while i >= lo and agents[i] > a:
                agents[i + 1] = agents[i]
                parents[i + 1] = parents[i]
                i -= 1
            agents[i + 1] = a
            parents[i + 1] = b
        return
    # Agents are distinct and below 2**31, positions too: sort (agent, parent) packed in one int64.
    keys = np.empty(hi - lo, dtype=np.int64)
    for j in range(lo, hi):
        keys[j - lo] = (np.int64(agents[j]) << 32) | np.int64(parents[j])
    keys.sort()
    for j in range(lo, hi):
        agents[j] = keys[j - lo] >> 32
        parents[j] = keys[j - lo] & 0xFFFFFFFF


@njit(cache=True)
def _chunk(  # pragma: no cover - compiled
    indptr: np.ndarray,
    dst: np.ndarray,
    frontier: np.ndarray,
    i: int,
    stop: int,
    position: np.ndarray,
    by_index: bool,
    mark: np.ndarray,
    targets: np.ndarray,
    senders: np.ndarray,
    states: np.ndarray,
) -> tuple[int, int]:
    """The out-edges of ``frontier[i:]`` up to ``stop``, whole senders while they fit in ``targets`` (at least
    one): each edge's target, its sender's position (``position[v]``, or its index in ``frontier`` when
    ``by_index``: a cascade's frontier is a slice of its adopters) and the target's state, loaded in one loop
    so the processor overlaps the loads. Returns ``(edges, next i)``."""
    cap = targets.size
    k = 0
    while i < stop:
        v = frontier[i]
        a, b = indptr[v], indptr[v + 1]
        if k > 0 and k + (b - a) > cap:
            break
        for e in range(a, b):
            targets[k] = dst[e]
            senders[k] = i if by_index else position[v]
            k += 1
        i += 1
    for j in range(k):
        states[j] = mark[targets[j]]
    return k, i


@njit(cache=True)
def _forest(parents: np.ndarray, subtree: np.ndarray, tree: np.ndarray, size: int) -> None:  # pragma: no cover
    """Subtree sizes from the last adopter back (parents come first) and each adopter's root, forward."""
    for j in range(size):
        subtree[j] = 1.0
    for j in range(size - 1, -1, -1):
        if parents[j] >= 0:
            subtree[parents[j]] += subtree[j]
    for j in range(size):
        tree[j] = j if parents[j] < 0 else tree[parents[j]]


@njit(cache=True)
def cascade(
    lt: bool,
    indptr: np.ndarray,
    dst: np.ndarray,
    in_degree: np.ndarray,
    seeds: np.ndarray,
    pcg: np.ndarray,
    p: float,
    key: np.uint64,
    rounds_cap: int,
    direct: bool,
    mark: np.ndarray,
    position: np.ndarray,
    adopted_in: np.ndarray,
    touched: np.ndarray,
    targets: np.ndarray,
    senders: np.ndarray,
    states: np.ndarray,
    agents: np.ndarray,
    rounds: np.ndarray,
    parents: np.ndarray,
    subtree: np.ndarray,
    tree: np.ndarray,
    counts: np.ndarray,
) -> np.ndarray:  # pragma: no cover - compiled; tests/test_batched.py compares it with the engine
    """Run one ``ic`` or ``lt`` cascade; leaves ``[size, attempts, exposed]`` in ``counts`` and returns it.
    ``pcg``: the run's generator state (``ic`` draws from it; ``lt`` draws its thresholds from ``key``).

    ``mark`` (uint8: 0 unseen, 1 reached by an attempt, 2 adopted before this round, 3 adopted in it; one
    byte an agent, so that the table a round reads at random stays in cache) and ``adopted_in`` (int32, 0)
    are per-agent scratch, left as they were found (``position`` is not used: a sender's position is its
    index in the frontier, a slice of the adopters); ``touched`` is scratch of at least ``n`` entries;
    ``targets`` (int32), ``senders`` (int64) and ``states`` (uint8) hold a chunk of a round's edges: at
    least the largest out-degree (unused when ``direct``: in a world small enough for its per-agent tables
    to stay in cache, each sender's edges are read straight from the graph).

    On return ``agents[:size]`` are the adopters by round then agent, ``rounds`` their round, ``parents``
    their parent's position (-1: a seed), ``subtree`` their subtree size and ``tree`` their root's
    position."""
    sh, sl, ih, il = pcg[0], pcg[1], pcg[2], pcg[3]  # the run's PCG64 state and increment
    size = 0
    for s in seeds:
        mark[s] = 2
        agents[size] = s
        rounds[size] = 0
        parents[size] = -1
        size += 1
    n_touched = 0
    exposed = size  # the seeds (distinct)
    attempts = 0
    start, stop = 0, size  # the frontier: agents[start:stop]
    d = 0
    while d < rounds_cap and stop > start:
        d += 1
        first_new = size
        i = start
        while i < stop:
            if direct:
                # A small world (its per-agent tables in cache): one sender's edges straight from the graph.
                v = agents[i]
                i += 1
                edges, lo, hi, sender = dst, indptr[v], indptr[v + 1], i - 1  # a sender's position: its index
            else:
                # A chunk of the frontier's out-edges: their targets and senders, then every target's state
                # loaded at once (independent loads the processor overlaps), then the edges in order.
                k, i = _chunk(indptr, dst, agents, i, stop, position, True, mark, targets, senders, states)
                edges, lo, hi = targets, 0, k
            for j in range(lo, hi):
                w = edges[j]
                if direct:
                    st = mark[w]
                else:
                    st = states[j]
                    if st < 2:
                        st = mark[w]  # it may have been reached, or have adopted, earlier in this chunk
                    sender = senders[j]
                if st == 2:
                    continue  # adopted before this round: not open
                if st == 0:  # first reached: exposed now
                    st = 1
                    mark[w] = 1
                    touched[n_touched] = w
                    n_touched += 1
                    exposed += 1
                attempts += 1
                if not lt:
                    # The engine's ic draws one number per open edge, in this order, from the session's
                    # generator (ctx.random_edges), and an edge whose target adopted earlier in this round
                    # (from a lower sender) is open too.
                    sh, sl, u = _uniform(sh, sl, ih, il)
                    if u < p and st == 1:
                        mark[w] = 3
                        agents[size] = w
                        parents[size] = sender
                        size += 1
                else:
                    adopted_in[w] += 1
                    if st == 1:
                        mark[w] = 3  # a candidate of this round (decided below); its first sender
                        agents[size] = w
                        parents[size] = sender
                        size += 1
        if lt:
            # Candidates whose adopted followees now reach their threshold adopt; the others wait.
            kept = first_new
            for j in range(first_new, size):
                w = agents[j]
                z = _word(key, w)
                theta = np.float32(np.float64((z >> np.uint64(11)) + np.uint64(1)) * 2.0**-53)
                if adopted_in[w] / in_degree[w] >= np.float64(theta):
                    agents[kept] = w
                    parents[kept] = parents[j]
                    kept += 1
                else:
                    mark[w] = 1
            size = kept
        # This round's adopters by agent (their senders' positions come along).
        _sort_round(agents, parents, first_new, size)
        for j in range(first_new, size):
            rounds[j] = d
            mark[agents[j]] = 2
        start, stop = first_new, size
    _forest(parents, subtree, tree, size)
    # Put the scratch back (every adopter but the seeds was seen; the seeds are put back too).
    for j in range(size):
        mark[agents[j]] = 0
    for j in range(n_touched):
        w = touched[j]
        mark[w] = 0
        adopted_in[w] = 0
    pcg[0], pcg[1] = sh, sl  # where the generator is now
    counts[0] = size
    counts[1] = attempts
    counts[2] = exposed
    return counts


@njit(cache=True)
def epidemic(
    indptr: np.ndarray,
    dst: np.ndarray,
    seeds: np.ndarray,
    pcg: np.ndarray,
    beta: float,
    gamma: float,
    rounds_cap: int,
    mark: np.ndarray,
    position: np.ndarray,
    touched: np.ndarray,
    targets: np.ndarray,
    senders: np.ndarray,
    states: np.ndarray,
    agents: np.ndarray,
    rounds: np.ndarray,
    gens: np.ndarray,
    parents: np.ndarray,
    subtree: np.ndarray,
    tree: np.ndarray,
    infectious: np.ndarray,
    spare: np.ndarray,
    counts: np.ndarray,
) -> np.ndarray:  # pragma: no cover - compiled; tests/test_batched.py compares it with the engine
    """Run one ``sir`` epidemic exactly as the engine's ``sir`` runs it (the same draws in the same order: each
    round, one number per open edge of the agents infectious at its start, senders ascending, then one per
    such agent for its recovery, agents ascending). Returns ``(new, recoveries)`` per round (round 0: the
    seeds); ``counts`` holds ``[size, attempts, exposed, sent, rounds, finished]``.

    Scratch as :func:`cascade`'s, plus ``infectious`` and ``spare`` (int32, at least ``n``) for the infectious
    agents; ``gens`` gets each adopter's generation (its parent's plus one)."""
    sh, sl, ih, il = pcg[0], pcg[1], pcg[2], pcg[3]  # the run's PCG64 state and increment
    size = 0
    for s in seeds:
        mark[s] = 2
        position[s] = size
        agents[size] = s
        rounds[size] = 0
        gens[size] = 0
        parents[size] = -1
        infectious[size] = s
        size += 1
    n_inf = size
    n_touched = 0
    exposed = size
    attempts = 0
    sent = 0
    new = np.zeros(rounds_cap + 1, dtype=np.int64)
    recoveries = np.zeros(rounds_cap + 1, dtype=np.int64)
    new[0] = size
    d = 0
    while d < rounds_cap and n_inf > 0:
        d += 1
        sent += n_inf
        first_new = size
        i = 0
        while i < n_inf:
            k, i = _chunk(indptr, dst, infectious, i, n_inf, position, False, mark, targets, senders, states)
            for j in range(k):
                st = states[j]
                if st == 2:
                    continue  # infected before this round: not susceptible at its start
                w = targets[j]
                if st < 2:
                    st = mark[w]
                if st == 0:
                    st = 1
                    mark[w] = 1
                    touched[n_touched] = w
                    n_touched += 1
                    exposed += 1
                attempts += 1
                sh, sl, u = _uniform(sh, sl, ih, il)
                if u < beta and st == 1:
                    mark[w] = 3
                    agents[size] = w
                    parents[size] = senders[j]
                    size += 1
        # Recovery of the agents infectious at the start of the round, ascending.
        kept = 0
        for i in range(n_inf):
            v = infectious[i]
            sh, sl, u = _uniform(sh, sl, ih, il)
            if u < gamma:
                recoveries[d] += 1
            else:
                spare[kept] = v
                kept += 1
        _sort_round(agents, parents, first_new, size)
        for j in range(first_new, size):
            rounds[j] = d
            gens[j] = gens[parents[j]] + 1
            position[agents[j]] = j
            mark[agents[j]] = 2
        new[d] = size - first_new
        # The next round's infectious: those that stayed and the newly infected, merged ascending.
        a, b, m = 0, first_new, 0
        while a < kept or b < size:
            if b >= size or (a < kept and spare[a] < agents[b]):
                infectious[m] = spare[a]
                a += 1
            else:
                infectious[m] = agents[b]
                b += 1
            m += 1
        n_inf = m
    _forest(parents, subtree, tree, size)
    for j in range(size):
        mark[agents[j]] = 0
    for j in range(n_touched):
        mark[touched[j]] = 0
    pcg[0], pcg[1] = sh, sl  # where the generator is now
    counts[0] = size
    counts[1] = attempts
    counts[2] = exposed
    counts[3] = sent
    counts[4] = d
    counts[5] = 1 if n_inf == 0 else 0
    return np.stack((new[: d + 1], recoveries[: d + 1]))


@njit(cache=True)
def tally(  # pragma: no cover - compiled; tests/test_batched.py compares its report with the engine's
    rounds: np.ndarray,
    gens: np.ndarray,
    parents: np.ndarray,
    subtree: np.ndarray,
    tree: np.ndarray,
    agents: np.ndarray,
    size: int,
    nr: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A run's report from a kernel's buffers (``size`` adopters in adoption order, ``nr`` rounds run), what
    :func:`sim.core.cascade._measures` and the engine's series make of the same forest, in one pass.

    Returns ``series`` (rows: adopters, the forest's depth and its largest generation after each round 0 ..
    ``nr``), ``trees`` (a row a root: its size, its tree's Wiener index, exact in int64, and its agent),
    ``virality`` (each tree's ``2 W / (n (n - 1))``, NaN for one node: the float operations of
    ``sim.core.cascade._virality``) and ``scalars`` (the forest's depth and largest generation, the largest
    tree's row (most agents, then lowest root agent), its depth and largest generation)."""
    series = np.zeros((3, nr + 1), dtype=np.int64)
    width = 1
    for j in range(size):
        if gens[j] + 1 > width:
            width = gens[j] + 1
    per_gen = np.zeros(width, dtype=np.int64)
    deepest, widest, j = 0, 0, 0
    for r in range(nr + 1):
        while j < size and rounds[j] == r:
            g = gens[j]
            per_gen[g] += 1
            if per_gen[g] > widest:
                widest = per_gen[g]
            if g > deepest:
                deepest = g
            series[0, r] += 1
            j += 1
        series[1, r] = deepest
        series[2, r] = widest
    for i in range(j, size):  # none while rounds are within nr; kept so that the forest's counts are whole
        per_gen[gens[i]] += 1
    k = 0
    for i in range(size):
        if parents[i] < 0:
            k += 1
    trees = np.zeros((k, 3), dtype=np.int64)
    virality = np.zeros(k, dtype=np.float64)
    wiener = np.zeros(size, dtype=np.int64)  # by root position
    for i in range(size):
        s = np.int64(subtree[i])
        wiener[tree[i]] += s * (np.int64(subtree[tree[i]]) - s)
    t, pick = 0, 0
    for i in range(size):
        if parents[i] < 0:
            s = np.int64(subtree[i])
            trees[t, 0] = s
            trees[t, 1] = wiener[i]
            trees[t, 2] = agents[i]
            n = np.float64(s)
            virality[t] = 2.0 * np.float64(wiener[i]) / (n * (n - 1.0)) if s >= 2 else np.nan
            if s > trees[pick, 0] or (s == trees[pick, 0] and agents[i] < trees[pick, 2]):
                pick = t
            t += 1
    scalars = np.zeros(5, dtype=np.int64)
    for g in range(width):
        if per_gen[g] > 0:
            scalars[0] = g
        if per_gen[g] > scalars[1]:
            scalars[1] = per_gen[g]
    scalars[2] = pick
    if k > 0:
        root = -1
        t = 0
        for i in range(size):
            if parents[i] < 0:
                if t == pick:
                    root = i
                    break
                t += 1
        mine = np.zeros(width, dtype=np.int64)
        for i in range(size):
            if tree[i] == root:
                mine[gens[i]] += 1
        for g in range(width):
            if mine[g] > 0:
                scalars[3] = g
            if mine[g] > scalars[4]:
                scalars[4] = mine[g]
    return series, trees, virality, scalars
