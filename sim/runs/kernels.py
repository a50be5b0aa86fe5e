"""Compiled cascade kernels for batched ensembles (:mod:`sim.runs.batched`), with Numba.

One call runs one cascade of the built-in ``ic`` (:func:`cascade`) or ``lt`` (:func:`threshold`) to its end (or
``rounds_cap`` rounds) from its seeds and its random key, and leaves in the output buffers everything its report
needs: the adopters in adoption order (round, then agent), each one's round and its parent's position, the
subtree sizes and roots of the adoption forest, and the run's attempts and exposures, counted as the engine
counts them. :func:`tally` makes the run's series and
cascade measures from them.

A run starts in :func:`start`: its generator, ``world_rng(world_seed, 100, run_seed, session)``, seeded as
numpy's ``SeedSequence`` and ``PCG64`` seed it, and its seeds drawn as ``Generator.choice`` draws them
(Floyd's algorithm or a tail shuffle, on Lemire's bounded 32-bit draws), bit for bit, without numpy's
per-call costs (50 microseconds a run, more than an ``lt`` cascade costs).

``ic`` draws from the run's session generator exactly what the engine's model draws (one number per open edge,
round by round, senders ascending), so a run is the engine's run of the same seed (``sir`` and ``seir`` too, in
:mod:`sim.runs.epidemic_kernels`, from the pieces here).
The generator (numpy's PCG64) is stepped here, from its state (``pcg``: the 128-bit state and increment as
four uint64 words, high first), by :func:`kernel_step`, bit for bit numpy's ``Generator.random()`` without
its indirect call; the state is written back at the end. ``lt``'s agent ``v`` has threshold
``float32(unit(word v))``, word ``v`` of the run's SplitMix64 key (see :mod:`sim.runs.batched`), drawn
when ``v`` is first a candidate instead of N numbers at the start; its state, its adopted followees and its
in-degree share one 64-bit word an agent (:func:`lt_table`), so that an exposure costs one load.

A run may start from a running session's state instead of seeds (:func:`cascade_from`, :func:`threshold_from`,
and ``sir``'s ``epidemic_from``): the same rounds (:func:`_ic_rounds`, :func:`_lt_rounds`) go on from where the
state is (:data:`AT_SIZE`), ``lt`` with the session's thresholds.

The kernels are compiled on first use and cached next to this file (Numba's ``cache=True``); the buffers
are the caller's, reused from run to run and put back as they were (only the entries a run touched), so a
run costs what it touches, not the world's size.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, cast

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

#: A graph's out-CSR as the kernels read it: ``indptr`` (int64, N+1) and the edges' targets ``dst`` (int32).
Csr = tuple[np.ndarray, np.ndarray]
#: A run's scratch, left as found: the per-agent table (``mark`` or ``lt``'s ``table``), ``touched`` (at least
#: ``n`` entries: the agents a run reached), and a chunk of a round's edges: ``targets`` (int32), ``senders``
#: (int64) and the targets' ``states`` (the table's dtype), at least the largest out-degree.
Scratch = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
#: A run's adoption forest (output): ``agents`` by round then agent, their ``rounds``, their ``parents``'
#: positions (-1: a seed), their ``subtree`` sizes and their ``tree``'s root position.
Forest = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]

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
# XSL-RR; numpy's ``next_double`` is ``(output >> 11) * 2**-53`` (tests/test_batched.py compares the draws).
_PCG_MH = np.uint64(2549297995355413924)
_PCG_ML = np.uint64(4865540595714422341)
_PCG_MULT = (int(_PCG_MH) << 64) | int(_PCG_ML)  # the multiplier as one 128-bit integer (for kernel_step)
_M32 = np.uint64(0xFFFFFFFF)
_S32, S11, _R63 = np.uint64(32), np.uint64(11), np.uint64(63)


@intrinsic
def _pcg_step(
    typingctx: object, sh: object, sl: object, ih: object, il: object
) -> tuple:  # pragma: no cover - compiled
    """One step of PCG64's 128-bit LCG from state ``(sh, sl)`` with increment ``(ih, il)`` (high and low 64
    bits): the new state, and its XSL-RR output (numpy's ``next_uint64``). Written in LLVM's 128-bit
    integers, so that the multiplication is the processor's (three multiplies, not seven of 32-bit halves:
    a draw 3.1 -> 1.9-2.2 ns on this machine); usable in compiled code only."""
    u64 = types.uint64
    sig = types.UniTuple(u64, 3)(u64, u64, u64, u64)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        i64, i128 = ir.IntType(64), ir.IntType(128)
        c64 = ir.Constant(i128, 64)

        def wide(hi: Any, lo: Any) -> Any:
            return builder.or_(builder.shl(builder.zext(hi, i128), c64), builder.zext(lo, i128))

        state = builder.add(builder.mul(wide(args[0], args[1]), ir.Constant(i128, _PCG_MULT)), wide(args[2], args[3]))
        nh, nl = builder.trunc(builder.lshr(state, c64), i64), builder.trunc(state, i64)
        x, r = builder.xor(nh, nl), builder.lshr(nh, ir.Constant(i64, 58))
        back = builder.and_(builder.sub(ir.Constant(i64, 64), r), ir.Constant(i64, 63))
        out = builder.or_(builder.lshr(x, r), builder.shl(x, back))
        return context.make_tuple(builder, signature.return_type, [nh, nl, out])

    return sig, codegen


#: :func:`_pcg_step` as compiled code calls it: ``(sh, sl, ih, il) -> (nh, nl, output)``.
kernel_step = cast(
    Callable[[np.uint64, np.uint64, np.uint64, np.uint64], tuple[np.uint64, np.uint64, np.uint64]], _pcg_step
)


@njit(cache=True, inline="always")
def kernel_below(p: float) -> np.uint64:  # pragma: no cover - compiled
    """The integer ``t`` with ``u < p`` exactly when ``(x >> 11) < t``, for numpy's uniform double ``u`` of
    the 64-bit output ``x`` of :func:`kernel_step` (``u = (x >> 11) * 2**-53``): ``ceil(p * 2**53)``, in [0, 2**53]
    (scaling by a power of two is exact, and an integer is below a real exactly when it is below its
    ceiling). A draw then costs a shift and an integer comparison, not a conversion and a multiplication."""
    if not p > 0.0:
        return np.uint64(0)
    if p >= 1.0:
        return np.uint64(9007199254740992)
    return np.uint64(math.ceil(p * 9007199254740992.0))


# numpy's SeedSequence (O'Neill's seed_seq, numpy/random/bit_generator.pyx): a pool of four 32-bit words.
_INIT_A, _MULT_A = np.uint64(0x43B0D7E5), np.uint64(0x931E8875)
_INIT_B, _MULT_B = np.uint64(0x8B51F9DD), np.uint64(0x58F38DED)
_MIX_L, _MIX_R, _S16 = np.uint64(0xCA01F9DD), np.uint64(0x4973F715), np.uint64(16)


@njit(cache=True)
def _hashmix(value: np.uint64, h: np.uint64) -> tuple:  # pragma: no cover - compiled
    value = (value ^ h) & _M32
    h = (h * _MULT_A) & _M32
    value = (value * h) & _M32
    return value ^ (value >> _S16), h


@njit(cache=True)
def _mix(x: np.uint64, y: np.uint64) -> np.uint64:  # pragma: no cover - compiled
    r = (_MIX_L * x - _MIX_R * y) & _M32
    return r ^ (r >> _S16)


@njit(cache=True)
def _seeded(entropy: np.ndarray, m: int, g: np.ndarray) -> None:  # pragma: no cover - compiled
    """``g`` (uint64[6]: PCG64's state and increment, high first, then numpy's buffered 32-bit half: whether
    one is held, and it) set as ``PCG64(SeedSequence(entropy))`` sets them, from the entropy's ``m`` 32-bit
    words (``_coerce_to_uint32_array`` of the entropy: each integer's words, low first)."""
    pool = np.zeros(4, dtype=np.uint64)
    h = _INIT_A
    for i in range(4):
        pool[i], h = _hashmix(entropy[i] if i < m else np.uint64(0), h)
    for src in range(4):
        for dst in range(4):
            if src != dst:
                v, h = _hashmix(pool[src], h)
                pool[dst] = _mix(pool[dst], v)
    for src in range(4, m):
        for dst in range(4):
            v, h = _hashmix(entropy[src], h)
            pool[dst] = _mix(pool[dst], v)
    # generate_state(4, uint64): eight words from the pool, paired low word first.
    words = np.zeros(8, dtype=np.uint64)
    h = _INIT_B
    for i in range(8):
        d = (pool[i % 4] ^ h) & _M32
        h = (h * _MULT_B) & _M32
        d = (d * h) & _M32
        words[i] = d ^ (d >> _S16)
    s_hi, s_lo = words[0] | (words[1] << _S32), words[2] | (words[3] << _S32)
    q_hi, q_lo = words[4] | (words[5] << _S32), words[6] | (words[7] << _S32)
    # pcg_setseq_128_srandom_r: increment (initseq << 1) | 1; state 0, a step, plus initstate, a step.
    ih, il = (q_hi << np.uint64(1)) | (q_lo >> _R63), (q_lo << np.uint64(1)) | np.uint64(1)
    sh, sl, _ = kernel_step(np.uint64(0), np.uint64(0), ih, il)
    lo = sl + s_lo
    sh, sl = sh + s_hi + (np.uint64(1) if lo < sl else np.uint64(0)), lo
    sh, sl, _ = kernel_step(sh, sl, ih, il)
    g[0], g[1], g[2], g[3], g[4], g[5] = sh, sl, ih, il, 0, 0


@njit(cache=True)
def _next64(g: np.ndarray) -> np.uint64:  # pragma: no cover - compiled
    g[0], g[1], out = kernel_step(g[0], g[1], g[2], g[3])
    return out


@njit(cache=True)
def _next32(g: np.ndarray) -> np.uint64:  # pragma: no cover - compiled
    """numpy's ``next_uint32`` of PCG64: the held high half of the last 64-bit output, else a new output's low
    half (its high half held)."""
    if g[4]:
        g[4] = 0
        return g[5]
    x = _next64(g)
    g[4], g[5] = 1, x >> _S32
    return x & _M32


@njit(cache=True)
def _bounded(g: np.ndarray, rng: np.uint64) -> np.uint64:  # pragma: no cover - compiled
    """numpy's ``random_bounded_uint64(bitgen, 0, rng, 0, 0)`` for ``rng`` below 2**32: a uniform integer in
    [0, rng] by Lemire's method on 32-bit draws."""
    if rng == 0:
        return np.uint64(0)
    if rng == _M32:
        return _next32(g)
    excl = rng + np.uint64(1)
    m = _next32(g) * excl
    left = m & _M32
    if left < excl:
        threshold = (_M32 - rng) % excl
        while left < threshold:
            m = _next32(g) * excl
            left = m & _M32
    return m >> _S32


@njit(cache=True)
def _choice(g: np.ndarray, pop: int, k: int, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """``Generator.choice(pop, k, replace=False)`` into ``out[:k]``, bit for bit numpy's (2.x): a tail shuffle
    of ``arange(pop)`` when ``pop > 10000`` and ``k > pop // 50``, else Floyd's algorithm with numpy's hash
    set, then its shuffle."""
    if pop > 10000 and k > pop // 50:
        idx = np.arange(pop, dtype=np.int64)
        for i in range(pop - 1, max(pop - k, 1) - 1, -1):
            at = _bounded(g, np.uint64(i))
            idx[at], idx[i] = idx[i], idx[at]
        out[:k] = idx[pop - k :]
        return
    mask = np.uint64(1.2 * k)
    for sh in (1, 2, 4, 8, 16, 32):
        mask |= mask >> np.uint64(sh)
    empty = np.uint64(0xFFFFFFFFFFFFFFFF)
    table = np.full(int(mask) + 1, empty, dtype=np.uint64)
    for j in range(pop - k, pop):
        val = _bounded(g, np.uint64(j))
        loc = val & mask
        while table[loc] != empty and table[loc] != val:
            loc = (loc + np.uint64(1)) & mask
        if table[loc] == empty:
            table[loc] = val
            out[j - pop + k] = val
        else:
            loc = np.uint64(j) & mask
            while table[loc] != empty:
                loc = (loc + np.uint64(1)) & mask
            table[loc] = j
            out[j - pop + k] = j
    for i in range(k - 1, 0, -1):
        at = _bounded(g, np.uint64(i))
        out[at], out[i] = out[i], out[at]


@njit(cache=True)
def start(  # pragma: no cover - compiled; tests/test_batched.py compares it with numpy
    head: np.ndarray, run_seed: int, tail: np.ndarray, pop: int, k: int, picked: np.ndarray, pcg: np.ndarray
) -> np.uint64:
    """A run's start as the engine makes it, without numpy's per-call costs: its generator
    ``world_rng(world_seed, 100, run_seed, session)`` (``head``: the 32-bit words of the world's seed and 100,
    ``tail``: the session's), then ``k`` seeds of ``pop`` agents drawn as ``Generator.choice(pop, k,
    replace=False)`` draws them, sorted into ``picked[:k]`` (``k`` 0: none drawn). Leaves the generator's
    state in ``pcg`` (four words, as :func:`cascade` reads it) and returns its next 64-bit word (``lt``'s key;
    the state stays before it)."""
    entropy = np.zeros(head.size + 2 + tail.size, dtype=np.uint64)
    m = 0
    for w in head:
        entropy[m] = w
        m += 1
    v = np.uint64(run_seed)
    entropy[m] = v & _M32  # 0 is one word
    m += 1
    v >>= _S32
    while v > 0:
        entropy[m] = v & _M32
        m += 1
        v >>= _S32
    for w in tail:
        entropy[m] = w
        m += 1
    g = np.zeros(6, dtype=np.uint64)
    _seeded(entropy, m, g)
    if k > 0:
        _choice(g, pop, k, picked)
        picked[:k].sort()
    pcg[0], pcg[1], pcg[2], pcg[3] = g[0], g[1], g[2], g[3]
    return _next64(g)


@njit(cache=True)
def sort_round(agents: np.ndarray, parents: np.ndarray, lo: int, hi: int) -> None:  # pragma: no cover - compiled
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
    # Agents are distinct and below 2**31, positions too: sort (agent, parent + 1) packed in one int64 (a root's
    # parent, -1, packed as 0).
    keys = np.empty(hi - lo, dtype=np.int64)
    for j in range(lo, hi):
        keys[j - lo] = (np.int64(agents[j]) << 32) | (np.int64(parents[j]) + 1)
    keys.sort()
    for j in range(lo, hi):
        agents[j] = keys[j - lo] >> 32
        parents[j] = (keys[j - lo] & 0xFFFFFFFF) - 1


@njit(cache=True)
def kernel_chunk(  # pragma: no cover - compiled
    csr: Csr,
    frontier: np.ndarray,
    i: int,
    stop: int,
    position: np.ndarray | None,
    mark: np.ndarray,
    targets: np.ndarray,
    senders: np.ndarray,
    states: np.ndarray,
    eids: np.ndarray | None = None,
) -> tuple[int, int]:
    """The out-edges of ``frontier[i:]`` up to ``stop``, whole senders while they fit in ``targets`` (at least
    one): each edge's target, its sender's position (``position[v]``, or its index in ``frontier`` when
    ``position`` is None: a cascade's frontier is a slice of its adopters), its edge id (into ``eids``, when
    given: an epidemic's per-edge chances) and the target's state, loaded in one loop so the processor overlaps
    the loads. Returns ``(edges, next i)``."""
    indptr, dst = csr
    cap = targets.size
    k = 0
    while i < stop:
        v = frontier[i]
        a, b = indptr[v], indptr[v + 1]
        if k > 0 and k + (b - a) > cap:
            break
        for e in range(a, b):
            targets[k] = dst[e]
            senders[k] = i if position is None else position[v]
            if eids is not None:
                eids[k] = e
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
def seeded_forest(  # pragma: no cover - compiled
    seeds: np.ndarray, agents: np.ndarray, rounds: np.ndarray, parents: np.ndarray
) -> int:
    """The seeds as the forest's roots (round 0, no parent), in order; returns their count."""
    size = 0
    for s in seeds:
        agents[size] = s
        rounds[size] = 0
        parents[size] = -1
        size += 1
    return size


@njit(cache=True)
def kernel_close(  # pragma: no cover - compiled
    forest: Forest, size: int, mark: np.ndarray, touched: np.ndarray, n_touched: int, counts: np.ndarray
) -> None:
    """A run's end: its forest's subtree sizes and roots (:func:`_forest`), ``mark`` put back (every adopter,
    the seeds too, and every agent reached) and ``size`` in ``counts[0]``."""
    agents, _, parents, subtree, tree = forest
    _forest(parents, subtree, tree, size)
    for j in range(size):
        mark[agents[j]] = 0
    for j in range(n_touched):
        mark[touched[j]] = 0
    counts[0] = size


#: Where a run is (int64, 9 entries; the kernels' ``counts``): ``[size, attempts, exposed, sent, round,
#: finished, start, touched, latent]``: the adopters so far (``forest``'s first entries), the attempts and
#: exposed agents so far, the transmitting agents summed over the rounds (epidemics), the last round run,
#: whether it ended, where the frontier starts among the adopters (a cascade's: ``agents[start:size]``; an
#: epidemic's: its infectious agents), the agents in ``touched`` and ``seir``'s exposed agents. A run from seeds
#: starts it at its seeds; a run from a state (:func:`resume`) where the state is.
AT_SIZE, AT_ATTEMPTS, AT_EXPOSED, AT_SENT, AT_ROUND, AT_FINISHED, AT_START, AT_TOUCHED, AT_LATENT = range(9)


@njit(cache=True)
def cascade(
    csr: Csr,
    seeds: np.ndarray,
    pcg: np.ndarray,
    p: float,
    rounds_cap: int,
    direct: bool,
    scratch: Scratch,
    forest: Forest,
    counts: np.ndarray,
) -> np.ndarray:  # pragma: no cover - compiled; tests/test_batched.py compares it with the engine
    """Run one ``ic`` cascade; leaves ``[size, attempts, exposed]`` in ``counts`` (where the run ended: see
    :data:`AT_SIZE`) and returns it. ``pcg``: the run's generator state, written back at the end.

    ``scratch`` (:data:`Scratch`): ``mark`` (uint8: 0 unseen, 1 reached by an attempt, 2 adopted before this
    round, 3 adopted in it; one byte an agent, so that the table a round reads at random stays in cache), and
    the chunk (``states`` uint8; unused when ``direct``: in a world small enough for its per-agent tables to
    stay in cache, each sender's edges are read straight from the graph). A sender's position is its index in
    the frontier, a slice of the adopters. On return ``forest`` (:data:`Forest`) holds the ``size``
    adopters."""
    mark = scratch[0]
    agents, rounds, parents, _, _ = forest
    size = seeded_forest(seeds, agents, rounds, parents)
    for s in seeds:
        mark[s] = 2
    at_seeds_of(counts, size)
    _ic_rounds(csr, pcg, p, rounds_cap, direct, scratch, forest, counts)
    kernel_close(forest, counts[AT_SIZE], mark, scratch[1], counts[AT_TOUCHED], counts)
    return counts


@njit(cache=True)
def at_seeds_of(counts: np.ndarray, size: int) -> None:  # pragma: no cover - compiled
    """``counts`` (:data:`AT_SIZE`) at a run's start from ``size`` seeds: they are its adopters, its exposed
    agents and its frontier, round 0."""
    counts[:] = 0
    counts[AT_SIZE] = size
    counts[AT_EXPOSED] = size  # the seeds (distinct)


@njit(cache=True)
def _ic_rounds(  # pragma: no cover - compiled
    csr: Csr,
    pcg: np.ndarray,
    p: float,
    rounds_cap: int,
    direct: bool,
    scratch: Scratch,
    forest: Forest,
    at: np.ndarray,
) -> None:
    """``ic``'s rounds (see :func:`cascade`) from where ``at`` says the run is (:data:`AT_SIZE`: its
    adopters, its frontier ``agents[start:size]``, its round, counters and touched agents) until it ends or
    round ``rounds_cap``; ``at`` and ``pcg`` are written back."""
    indptr, dst = csr
    mark, touched, targets, senders, states = scratch
    agents, rounds, parents, _, _ = forest
    sh, sl, ih, il = pcg[0], pcg[1], pcg[2], pcg[3]  # the run's PCG64 state and increment
    below = kernel_below(p)  # u < p, in integers
    size, attempts, exposed = at[AT_SIZE], at[AT_ATTEMPTS], at[AT_EXPOSED]
    n_touched, d = at[AT_TOUCHED], at[AT_ROUND]
    start, stop = at[AT_START], size  # the frontier: agents[start:stop]
    while d < rounds_cap and stop > start:
        d += 1
        first_new = size
        i = start
        while i < stop:
            if direct:
                # A small world (its per-agent tables in cache): one sender's edges straight from the graph.
                # (Not a helper: one returning the arrays costs 10 % of an ego-Facebook run.)
                v = agents[i]
                i += 1
                edges, lo, hi, sender = dst, indptr[v], indptr[v + 1], i - 1  # a sender's position: its index
            else:
                # A chunk of the frontier's out-edges: their targets and senders, then every target's state
                # loaded at once (independent loads the processor overlaps), then the edges in order.
                k, i = kernel_chunk(csr, agents, i, stop, None, mark, targets, senders, states)
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
                # The engine's ic draws one number per open edge, in this order, from the session's generator
                # (ctx.random_edges), and an edge whose target adopted earlier in this round (from a lower
                # sender) is open too.
                sh, sl, x = kernel_step(sh, sl, ih, il)
                if (x >> S11) < below and st == 1:  # numpy's uniform double below p (kernel_below)
                    mark[w] = 3
                    agents[size] = w
                    parents[size] = sender
                    size += 1
        # This round's adopters by agent (their senders' positions come along).
        sort_round(agents, parents, first_new, size)
        for j in range(first_new, size):
            rounds[j] = d
            mark[agents[j]] = 2
        start, stop = first_new, size
    pcg[0], pcg[1] = sh, sl  # where the generator is now
    at[AT_SIZE], at[AT_ATTEMPTS], at[AT_EXPOSED] = size, attempts, exposed
    at[AT_TOUCHED], at[AT_ROUND], at[AT_START] = n_touched, d, start


# lt's per-agent table (uint64): the agent's in-degree above bit 33, the followees that adopted this run in
# bits 2-32, and its state in bits 0-1 (as ``mark``'s): one load an exposure instead of three tables'.
_STATE, _ONE, _IN = np.uint64(3), np.uint64(4), np.uint64(33)
_KEEP = ~np.uint64((1 << 33) - 1)  # the in-degree: what the table holds between runs
_COUNT = np.uint64((1 << 31) - 1)


def lt_table(in_degree: np.ndarray) -> np.ndarray:
    """lt's per-agent table between runs (see :func:`threshold`): each agent's in-degree above bit 33."""
    return in_degree.astype(np.uint64) << _IN


@njit(cache=True)
def threshold(
    csr: Csr,
    seeds: np.ndarray,
    key: np.uint64,
    rounds_cap: int,
    direct: bool,
    scratch: Scratch,
    forest: Forest,
    counts: np.ndarray,
) -> np.ndarray:  # pragma: no cover - compiled; tests/test_batched.py compares it with the engine
    """Run one ``lt`` cascade (uniform weights) as :func:`cascade` runs ``ic``: the same outputs and scratch,
    with ``table`` (:func:`lt_table`, uint64, left as found) for ``mark``; ``states`` (uint64) is a chunk's
    table entries. Agent ``v``'s threshold is ``float32(unit(word v))`` of the run's SplitMix64 ``key``, made
    when ``v`` is first a candidate; a candidate adopts when its adopted followees over its followees reach
    it, at the end of the round."""
    table = scratch[0]
    agents, rounds, parents, _, _ = forest
    size = seeded_forest(seeds, agents, rounds, parents)
    for s in seeds:
        table[s] = (table[s] & _KEEP) | np.uint64(2)
    at_seeds_of(counts, size)
    _lt_rounds(csr, key, _NO_THRESHOLDS, rounds_cap, direct, scratch, forest, counts)
    _lt_close(table, scratch[1], forest, counts)
    return counts


#: No thresholds given: :func:`_lt_rounds` makes each from the run's key.
_NO_THRESHOLDS = np.zeros(0, dtype=np.float32)


@njit(cache=True)
def _lt_close(table: np.ndarray, touched: np.ndarray, forest: Forest, at: np.ndarray) -> None:  # pragma: no cover
    """An ``lt`` run's end: its forest's subtree sizes and roots, and ``table`` put back (every adopter and
    every agent reached keep only their in-degree)."""
    agents, _, parents, subtree, tree = forest
    size = at[AT_SIZE]
    _forest(parents, subtree, tree, size)
    for j in range(size):
        w = agents[j]
        table[w] &= _KEEP
    for j in range(at[AT_TOUCHED]):
        w = touched[j]
        table[w] &= _KEEP


@njit(cache=True)
def _lt_rounds(  # pragma: no cover - compiled
    csr: Csr,
    key: np.uint64,
    given: np.ndarray,
    rounds_cap: int,
    direct: bool,
    scratch: Scratch,
    forest: Forest,
    at: np.ndarray,
) -> None:
    """``lt``'s rounds (see :func:`threshold`) from where ``at`` says the run is (:data:`AT_SIZE`), as
    :func:`_ic_rounds` runs ``ic``'s. Agent ``v``'s threshold is ``given[v]`` (float32) when thresholds are
    given (a session's, drawn at its start), else made from ``key``."""
    indptr, dst = csr
    table, touched, targets, senders, states = scratch
    agents, rounds, parents, _, _ = forest
    size, attempts, exposed = at[AT_SIZE], at[AT_ATTEMPTS], at[AT_EXPOSED]
    n_touched, d = at[AT_TOUCHED], at[AT_ROUND]
    start, stop = at[AT_START], size
    drawn = given.size == 0
    while d < rounds_cap and stop > start:
        d += 1
        first_new = size
        i = start
        while i < stop:
            if direct:  # the graph's edges read as cascade reads them
                v = agents[i]
                i += 1
                edges, lo, hi, sender = dst, indptr[v], indptr[v + 1], i - 1
            else:
                k, i = kernel_chunk(csr, agents, i, stop, None, table, targets, senders, states)
                edges, lo, hi = targets, 0, k
            for j in range(lo, hi):
                w = edges[j]
                if not direct:
                    sender = senders[j]
                    if states[j] & _STATE == 2:
                        continue  # adopted before this round (its entry loaded with the chunk)
                x = table[w]  # in cache now when loaded with the chunk; it may have moved in this chunk
                st = x & _STATE
                if st == 2:
                    continue
                if st == 0:  # first reached: exposed now
                    st = np.uint64(1)
                    touched[n_touched] = w
                    n_touched += 1
                    exposed += 1
                attempts += 1
                x = (x & ~_STATE) + _ONE  # one more adopted followee
                if st == 1:  # a candidate of this round (decided below); its first sender
                    st = np.uint64(3)
                    agents[size] = w
                    parents[size] = sender
                    size += 1
                table[w] = x | st
        # Candidates whose adopted followees now reach their threshold adopt; the others wait.
        kept = first_new
        for j in range(first_new, size):
            w = agents[j]
            x = table[w]
            if drawn:
                z = _word(key, w)
                theta = np.float32(np.float64((z >> np.uint64(11)) + np.uint64(1)) * 2.0**-53)
            else:
                theta = given[w]
            if np.float64((x >> np.uint64(2)) & _COUNT) / np.float64(x >> _IN) >= np.float64(theta):
                agents[kept] = w
                parents[kept] = parents[j]
                kept += 1
            else:
                table[w] = (x & ~_STATE) | np.uint64(1)
        size = kept
        sort_round(agents, parents, first_new, size)
        for j in range(first_new, size):
            rounds[j] = d
            w = agents[j]
            table[w] = (table[w] & ~_STATE) | np.uint64(2)
        start, stop = first_new, size
    at[AT_SIZE], at[AT_ATTEMPTS], at[AT_EXPOSED] = size, attempts, exposed
    at[AT_TOUCHED], at[AT_ROUND], at[AT_START] = n_touched, d, start


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


# -- runs from a state -------------------------------------------------------------------------------------------

#: A running session's present as a run resumes it (:class:`sim.runs.batched.Present`): its adopters by round
#: then agent (``agents`` int32, their ``rounds`` int32, their ``parents``' positions int64, -1 for a root), the
#: agents ``reached`` (exposed) that have not adopted (int32) and their ``followed`` (int64: ``lt``'s adopted
#: followees that transmitted already), the agents transmitting next (``frontier`` int32, ascending), the
#: recoveries of each round so far (``cured`` int64, ``sir``'s) and ``scalars`` (int64: the frontier's start among
#: the adopters, the round, the exposed agents, the attempts and the transmitting agents summed over the rounds).
State = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@njit(cache=True)
def kernel_resume(state: State, forest: Forest, touched: np.ndarray, at: np.ndarray) -> None:  # pragma: no cover
    """A run's forest, ``touched`` and ``at`` (:data:`AT_SIZE`) set to ``state`` (:data:`State`)."""
    agents, rounds, parents, reached, _, _, _, scalars = state
    size = agents.size
    forest[0][:size] = agents
    forest[1][:size] = rounds
    forest[2][:size] = parents
    touched[: reached.size] = reached
    at[:] = 0
    at[AT_SIZE], at[AT_START], at[AT_ROUND] = size, scalars[0], scalars[1]
    at[AT_EXPOSED], at[AT_ATTEMPTS], at[AT_SENT] = scalars[2], scalars[3], scalars[4]
    at[AT_TOUCHED] = reached.size


@njit(cache=True)
def cascade_from(
    csr: Csr,
    state: State,
    pcg: np.ndarray,
    p: float,
    rounds_cap: int,
    direct: bool,
    scratch: Scratch,
    forest: Forest,
    counts: np.ndarray,
) -> np.ndarray:  # pragma: no cover - compiled; tests/test_batched_state.py compares it with the engine
    """Go on with an ``ic`` cascade from ``state`` (:data:`State`) as :func:`cascade` goes on from its seeds:
    the adopters so far are in ``mark`` as adopted, the agents reached as reached, and the rounds draw from
    ``pcg`` (the continued session's generator); the same outputs, for the whole cascade."""
    mark, touched = scratch[0], scratch[1]
    kernel_resume(state, forest, touched, counts)
    agents = forest[0]
    for j in range(counts[AT_SIZE]):
        mark[agents[j]] = 2
    for j in range(counts[AT_TOUCHED]):
        mark[touched[j]] = 1
    _ic_rounds(csr, pcg, p, rounds_cap, direct, scratch, forest, counts)
    kernel_close(forest, counts[AT_SIZE], mark, touched, counts[AT_TOUCHED], counts)
    return counts


@njit(cache=True)
def threshold_from(
    csr: Csr,
    state: State,
    given: np.ndarray,
    rounds_cap: int,
    direct: bool,
    scratch: Scratch,
    forest: Forest,
    counts: np.ndarray,
) -> np.ndarray:  # pragma: no cover - compiled; tests/test_batched_state.py compares it with the engine
    """Go on with an ``lt`` cascade from ``state`` (:data:`State`) as :func:`threshold` goes on from its seeds,
    with the session's thresholds ``given`` (float32, one an agent): each agent reached keeps its adopted
    followees that transmitted already (``followed``) in its table entry."""
    table, touched = scratch[0], scratch[1]
    kernel_resume(state, forest, touched, counts)
    agents, followed = forest[0], state[4]
    for j in range(counts[AT_SIZE]):
        w = agents[j]
        table[w] = (table[w] & _KEEP) | np.uint64(2)
    for j in range(counts[AT_TOUCHED]):
        w = touched[j]
        table[w] = (table[w] & _KEEP) | (np.uint64(followed[j]) << np.uint64(2)) | np.uint64(1)
    _lt_rounds(csr, np.uint64(0), given, rounds_cap, direct, scratch, forest, counts)
    _lt_close(table, touched, forest, counts)
    return counts
