"""Batched ensembles: many runs of the built-in independent cascade advanced together (issue 35).

``agora run --runs R`` of ``ic`` on a world where nothing but the cascade moves (no living network, no
feeds, no interventions, every agent active, no other session running, offline) needs none of the
engine's per-run machinery: a run is a breadth-first search of its **live-edge graph** (Kempe, Kleinberg
and Tardos 2003), in which every out-edge is live with probability ``p``, independently. This module
runs many such searches at once, as columns:

1. **Random words.** Run ``r`` draws its seeds from its session generator exactly as the engine does
   (``world_rng(world.seed, 100, seed + r, session)``; the same seed sets), then one 64-bit key ``K``.
   Its random words are SplitMix64's (Steele, Lea and Flood 2014) indexed by a counter: word ``i`` is
   ``mix64(K + (i + 1) * 0x9E3779B97F4A7C15)``. A run's words depend on its key alone, so its result is
   the same in any batch, on any number of workers.
2. **Live edges by geometric skips.** The gaps between live edge ids are geometric: word ``i`` gives
   ``u_i = (word >> 11 + 1) / 2**53`` in (0, 1] and the gap ``floor(log(u_i) / log(1 - p))`` (P(gap >= k) =
   (1 - p)**k exactly), so a run costs about ``p * E`` words, not ``E`` draws.
3. **One search for the whole batch.** Agent ``v`` of the batch's run ``b`` is node ``b * N + v``; the
   batch's live edges form one CSR over those nodes and one breadth-first search advances every run a
   round at a time. An agent's adoption round is its distance from the seeds; its source is the
   lowest-numbered agent of the previous round with a live edge to it (the engine's rule).
4. **The engine's counters, 64 runs a word.** ``attempts`` (edges from a transmitting agent to one that
   had not adopted) and ``exposed`` (agents an attempt reached, and the adopters) need every out-edge of
   every adopter, live or not. They are counted 64 runs at a time: per agent, one bit per run in uint64
   words (bit planes of the adoption round), compared along each edge with word operations, and
   summed per run by byte histograms.

Every field of a run's report is what the engine reports for the same live edges: ``tests/test_batched.py``
feeds the engine's ``ic`` these live edges and compares the two field by field, and checks the mean reach
against the exact enumeration of ``tests/test_models.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.core.cascade import _empty_measures, _measures
from sim.core.world import World, world_rng
from sim.model.intervene import blocked_mask
from sim.model.lifecycle import all_active

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)

#: The living network's counters of a run's report (``follows`` ...): nothing of it moves in a batched run.
TOTALS = ("follows", "unfollows", "joins", "leaves", "feed_items", "reports")

#: Bytes a batch may hold in its tables and live edges (runs are batched to fit).
BATCH_BYTES = 192 * 2**20


def mix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64's output function, element-wise on uint64 (wrapping arithmetic)."""
    z = z ^ (z >> _S30)
    z *= _M1
    z ^= z >> _S27
    z *= _M2
    z ^= z >> _S31
    return z


def words(keys: np.ndarray, start: int, count: int) -> np.ndarray:
    """Words ``start .. start + count - 1`` of each key's stream: shape ``(len(keys), count)``, uint64."""
    i = np.arange(start + 1, start + count + 1, dtype=np.uint64) * GOLDEN
    z = np.asarray(keys, dtype=np.uint64)[:, None] + i[None, :]
    return mix64(z)


def unit(w: np.ndarray) -> np.ndarray:
    """Uniform numbers in (0, 1] from words: the top 53 bits, plus one, over 2**53."""
    u = ((w >> _S11) + np.uint64(1)).astype(np.float64)
    u *= 2.0**-53
    return u


def live_edges(keys: np.ndarray, num_edges: int, p: float) -> tuple[np.ndarray, np.ndarray]:
    """The live edges of each key's run, every edge live with probability ``p``: ``(run, edge)`` int64
    arrays sorted by run, then edge id. Run ``b``'s edges come from the geometric gaps of its words
    0, 1, 2, ... (see the module docstring); a run whose words ran out before the last edge draws more."""
    keys = np.asarray(keys, dtype=np.uint64)
    b = keys.size
    if b == 0 or num_edges == 0 or p <= 0.0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    if p >= 1.0:
        runs = np.repeat(np.arange(b, dtype=np.int64), num_edges)
        return runs, np.tile(np.arange(num_edges, dtype=np.int64), b)
    mean = num_edges * p
    step = int(mean + 6.0 * np.sqrt(mean) + 16)
    scale = 1.0 / np.log1p(-p)
    out_runs, out_edges = [], []
    pending = np.arange(b, dtype=np.int64)
    last = np.full(b, -1, dtype=np.int64)  # the last live edge so far (-1: none)
    start = 0
    while pending.size:
        gaps = np.log(unit(words(keys[pending], start, step)))
        gaps *= scale
        np.floor(gaps, out=gaps)
        np.minimum(gaps, num_edges, out=gaps)
        steps = gaps.astype(np.int64)
        steps += 1
        pos = np.cumsum(steps, axis=1)
        pos += last[pending][:, None]
        ok = pos < num_edges
        out_runs.append(np.repeat(pending, ok.sum(axis=1)))
        out_edges.append(pos[ok])
        short = pos[:, -1] < num_edges  # still below the last edge: more words
        last[pending[short]] = pos[short, -1]
        pending = pending[short]
        start += step
    runs = np.concatenate(out_runs)
    edges = np.concatenate(out_edges)
    if len(out_runs) > 1:
        order = np.lexsort((edges, runs))
        runs, edges = runs[order], edges[order]
    return runs, edges


_BIT_OF_BYTE = ((np.arange(256)[:, None] >> np.arange(8)[None, :]) & 1).astype(np.int64)


def lane_counts(w: np.ndarray) -> np.ndarray:
    """For uint64 words (one bit per run), how many words have each bit set: 64 counts, bit 0 first."""
    if w.size == 0:
        return np.zeros(64, dtype=np.int64)
    b = np.ascontiguousarray(w, dtype=np.uint64).view(np.uint8).reshape(-1, 8)
    hist = np.stack([np.bincount(b[:, j], minlength=256) for j in range(8)])  # (byte, value)
    return (hist @ _BIT_OF_BYTE).ravel()  # byte j, bit k -> lane 8 j + k (little-endian words)


def _pack(bits: np.ndarray) -> np.ndarray:
    """Rows of up to 64 booleans (shape ``(lanes, n)``) as one uint64 word per column, lane 0 the lowest bit."""
    lanes, n = bits.shape
    full = np.zeros((64, n), dtype=bool)
    full[:lanes] = bits
    return np.packbits(full, axis=0, bitorder="little").T.copy().view(np.uint64).ravel()


@dataclass
class BatchRuns:
    """What the search leaves of each run of a batch, for the reports."""

    n: int
    rounds_cap: int  # rounds a run may take (ticks - 1)
    adopters: np.ndarray  # batch node keys (b * n + agent) of every adopter, by run, round, then agent
    depth: np.ndarray  # each adopter's adoption round (0: a seed)
    parent: np.ndarray  # each adopter's source agent (-1: a seed)
    subtree: np.ndarray  # each adopter's subtree size in its run's forest (float64)
    tree: np.ndarray  # the position of each adopter's root within its run (run order)
    run_bounds: np.ndarray  # adopters of run b: adopters[run_bounds[b]:run_bounds[b + 1]]
    new: np.ndarray  # (runs, rounds_cap + 1): adoptions per round
    attempts: np.ndarray  # per run
    exposed: np.ndarray  # per run


def word_at(keys: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Word ``index[j]`` of key ``keys[j]``'s stream, element-wise (uint64)."""
    z = np.asarray(keys, dtype=np.uint64) + (np.asarray(index, dtype=np.uint64) + np.uint64(1)) * GOLDEN
    return mix64(z)


def lt_thresholds(keys: np.ndarray, agents: np.ndarray) -> np.ndarray:
    """The ``lt`` threshold of each listed agent in the run of each key: word ``agent`` of the key's stream as a
    uniform number in (0, 1], kept as float32 (as the engine keeps its thresholds)."""
    return unit(word_at(keys, agents)).astype(np.float32)


class _LiveEdges:
    """The ``ic`` round on a batch: the batch's live edges as one CSR over its nodes; every open target of a
    live edge adopts."""

    def __init__(self, graph: Any, keys: np.ndarray, p: float, edge_sources: np.ndarray) -> None:
        n, b_runs = int(graph.n), int(keys.size)
        dst = graph.out_indices
        lr, le = live_edges(keys, int(dst.size), p)
        base = lr * n
        node_src = base + edge_sources[le]
        self.node_dst = base + dst[le]
        del base
        nodes = b_runs * n
        self.ptr = np.zeros(nodes + 1, dtype=np.int64)
        np.cumsum(np.bincount(node_src, minlength=nodes), out=self.ptr[1:])

    def gather(self, frontier: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        starts = self.ptr[frontier]
        counts = self.ptr[frontier + 1] - starts
        total = int(counts.sum())
        offsets = np.cumsum(counts) - counts
        pos = np.arange(total, dtype=np.int64) + np.repeat(starts - offsets, counts)
        return self.node_dst[pos], counts

    def adopt(self, candidates: np.ndarray) -> np.ndarray | None:
        return None  # every candidate adopts


class _Thresholds:
    """The ``lt`` round (uniform weights) on a batch: every out-edge of the frontier adds one adopted followee
    to its target; an open target adopts when its adopted followees over its followees reach its threshold."""

    def __init__(self, graph: Any, keys: np.ndarray) -> None:
        self.n = int(graph.n)
        self.keys = keys
        self.indptr, self.dst = graph.out_indptr, graph.out_indices
        self.in_degree = np.diff(graph.in_indptr).astype(np.float64)
        self.adopted_in = np.zeros(keys.size * self.n, dtype=np.int32)

    def gather(self, frontier: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        agents = frontier % self.n
        starts = self.indptr[agents]
        counts = self.indptr[agents + 1] - starts
        total = int(counts.sum())
        offsets = np.cumsum(counts) - counts
        pos = np.arange(total, dtype=np.int64) + np.repeat(starts - offsets, counts)
        targets = np.repeat(frontier - agents, counts) + self.dst[pos]
        np.add.at(self.adopted_in, targets, 1)  # the frontier adopted before this round: it counts now
        return targets, counts

    def adopt(self, candidates: np.ndarray) -> np.ndarray | None:
        agents = candidates % self.n
        share = self.adopted_in[candidates] / self.in_degree[agents]
        return share >= lt_thresholds(self.keys[candidates // self.n], agents)


def search(
    graph: Any,
    seeds: list[np.ndarray],
    keys: np.ndarray,
    rule: _LiveEdges | _Thresholds,
    rounds_cap: int,
) -> BatchRuns:
    """Run the batch under ``rule``: run ``b`` starts from ``seeds[b]`` (distinct agents), with random words
    from ``keys[b]``, and takes at most ``rounds_cap`` rounds."""
    n = int(graph.n)
    b_runs = len(seeds)
    nodes = b_runs * n
    depth_of = np.full(nodes, -1, dtype=np.int32)
    parent_of = np.full(nodes, -1, dtype=np.int32)
    frontier = np.sort(
        np.concatenate([b * n + np.asarray(s, dtype=np.int64) for b, s in enumerate(seeds)])
        if b_runs
        else np.empty(0, dtype=np.int64)
    )
    depth_of[frontier] = 0
    new = np.zeros((b_runs, rounds_cap + 1), dtype=np.int64)
    new[:, 0] = [len(s) for s in seeds]
    layers = [frontier]
    for d in range(1, rounds_cap + 1):
        if frontier.size == 0:
            break
        targets, counts = rule.gather(frontier)
        open_ = np.flatnonzero(depth_of[targets] < 0)
        if open_.size == 0:
            break
        # Each open target once, with its first edge: positions ascend with the sender (frontier sorted).
        span = targets.size + 1
        packed = targets[open_] * span + open_
        packed.sort()
        agents = packed // span
        first = np.ones(agents.size, dtype=bool)
        first[1:] = agents[1:] != agents[:-1]
        winners = agents[first]
        senders = np.repeat(frontier, counts)[packed[first] % span]
        adopt = rule.adopt(winners)
        if adopt is not None:
            winners, senders = winners[adopt], senders[adopt]
            if winners.size == 0:
                break
        depth_of[winners] = d
        parent_of[winners] = (senders % n).astype(np.int32)
        new[:, d] = np.bincount(winners // n, minlength=b_runs)
        layers.append(winners)
        frontier = winners
    # Every adopter by round, then node (run, agent); a stable sort by run (a radix sort on small keys) gives
    # run, round, agent.
    by_round = np.concatenate(layers)
    run_of = by_round // n
    order = np.argsort(run_of.astype(np.uint16 if b_runs <= 2**16 else np.int64), kind="stable")
    adopters = by_round[order]
    depth = depth_of[adopters]
    parent = parent_of[adopters]
    run_bounds = np.searchsorted(run_of[order], np.arange(b_runs + 1))
    subtree, tree = _forests(by_round, layers, parent_of, order, run_bounds, n)
    attempts, exposed = _counters(graph, depth_of, adopters, depth, run_bounds, b_runs, rounds_cap)
    return BatchRuns(n, rounds_cap, adopters, depth, parent, subtree, tree, run_bounds, new, attempts, exposed)


def _forests(
    by_round: np.ndarray,
    layers: list[np.ndarray],
    parent_of: np.ndarray,
    order: np.ndarray,
    run_bounds: np.ndarray,
    n: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Subtree sizes and roots of every run's forest at once, a round at a time (children before parents,
    then roots down the rounds), in round order; returned in run order, roots as positions within the run."""
    total = by_round.size
    where = np.empty(parent_of.size, dtype=np.int64)
    where[by_round] = np.arange(total)
    src = parent_of[by_round]
    root = src < 0
    ppos = np.where(root, 0, where[(by_round // n) * n + np.maximum(src, 0)])
    del where
    bounds = np.cumsum([0] + [x.size for x in layers])
    subtree = np.ones(total, dtype=np.float64)
    for d in range(len(layers) - 1, 0, -1):
        a, z = bounds[d], bounds[d + 1]
        np.add.at(subtree, ppos[a:z], subtree[a:z])
    tree = np.arange(total)
    for d in range(1, len(layers)):
        a, z = bounds[d], bounds[d + 1]
        tree[a:z] = tree[ppos[a:z]]
    inverse = np.empty(total, dtype=np.int64)
    inverse[order] = np.arange(total)
    run_start = np.repeat(run_bounds[:-1], np.diff(run_bounds))
    return subtree[order], inverse[tree[order]] - run_start


def _counters(
    graph: Any,
    depth_of: np.ndarray,
    adopters: np.ndarray,
    depth: np.ndarray,
    run_bounds: np.ndarray,
    b_runs: int,
    rounds_cap: int,
) -> tuple[np.ndarray, np.ndarray]:
    """``attempts`` and ``exposed`` of every run, 64 runs at a time (see the module docstring).

    An adopter of round ``d <= rounds_cap - 1`` transmitted (in round ``d + 1``): its attempts are its
    out-edges to agents not adopted by round ``d``, that is its out-degree less its out-edges to agents
    adopted in rounds ``<= d``. Exposed: the adopters and every out-neighbour of a transmitter."""
    n = int(graph.n)
    indptr, dst = graph.out_indptr, graph.out_indices
    out_degree = np.diff(indptr)
    agent = adopters % n
    sent = depth <= rounds_cap - 1
    run_of = np.repeat(np.arange(b_runs), np.diff(run_bounds))
    attempts = np.bincount(run_of[sent], weights=out_degree[agent[sent]], minlength=b_runs).astype(np.int64)
    exposed = np.zeros(b_runs, dtype=np.int64)
    never = np.iinfo(np.int32).max
    for lo in range(0, b_runs, 64):
        hi = min(lo + 64, b_runs)
        rounds = depth_of[lo * n : hi * n].reshape(hi - lo, n)
        code = np.where(rounds < 0, never, rounds)
        transmit = _pack((rounds >= 0) & (rounds <= rounds_cap - 1))
        adopted = _pack(rounds >= 0)
        top = int(rounds.max(initial=0))
        planes = [_pack(((code >> j) & 1).astype(bool) | (rounds < 0)) for j in range(max(1, top.bit_length()))]
        # Out-edges of agents that transmitted in some run of the block.
        senders = np.flatnonzero(transmit)
        starts = indptr[senders]
        counts = indptr[senders + 1] - starts
        total = int(counts.sum())
        if total:
            offsets = np.cumsum(counts) - counts
            pos = np.arange(total, dtype=np.int64) + np.repeat(starts - offsets, counts)
            s_idx = np.repeat(senders, counts)
            d_idx = dst[pos]
            # Runs where the target had adopted by the sender's round: code(target) <= code(sender), bit-sliced
            # from the top plane (an agent that never adopted has every plane set, above every round).
            less = np.zeros(total, dtype=np.uint64)
            equal = np.full(total, ~np.uint64(0), dtype=np.uint64)
            for plane in reversed(planes):
                a, s = plane[d_idx], plane[s_idx]
                less |= equal & ~a & s
                equal &= ~(a ^ s)
            earlier = (less | equal) & transmit[s_idx] & adopted[d_idx]
            attempts[lo:hi] -= lane_counts(earlier)[: hi - lo]
            reached = adopted.copy()
            np.bitwise_or.at(reached, d_idx, transmit[s_idx])
        else:
            reached = adopted
        exposed[lo:hi] = lane_counts(reached)[: hi - lo]
    return attempts, exposed


def run_measures(runs: BatchRuns, b: int) -> dict[str, Any]:
    """Run ``b``'s ``cascade`` report (:func:`sim.core.cascade._measures`, as the engine's tracker computes it)."""
    lo, hi = int(runs.run_bounds[b]), int(runs.run_bounds[b + 1])
    size = hi - lo
    if size == 0:
        return _empty_measures()
    gens = runs.depth[lo:hi]
    roots = np.flatnonzero(runs.parent[lo:hi] < 0)
    agents = runs.adopters[lo + roots] - b * runs.n
    return _measures(
        gens,
        runs.subtree[lo:hi],
        runs.tree[lo:hi],
        roots,
        agents.astype(np.int64),
        np.bincount(gens).astype(np.int64),
        0,
        size - roots.size,
        size,
    )


def summaries(
    runs: BatchRuns,
    *,
    session: int,
    seed0: int,
    first_run: int,
    limit: int,
    until_done: bool,
    max_ticks: int,
    seconds: float,
) -> list[dict[str, Any]]:
    """Each run's report, field for field what ``sim.engine.runner._run_summary`` reports for ``ic``."""
    out = []
    n_total = runs.n
    b_runs = runs.new.shape[0]
    for b in range(b_runs):
        curve = runs.new[b]
        nz = np.flatnonzero(curve[1:])
        last = int(nz[-1]) + 1 if nz.size else 0  # the last round with adoptions
        finished = last + 1 <= runs.rounds_cap
        rounds = last + 1 if finished else runs.rounds_cap
        new = curve[: rounds + 1]
        reached_curve = np.cumsum(new)
        seeds = int(new[0])
        reached = int(reached_curve[-1])
        sent = int(reached_curve[min(rounds - 1, reached_curve.size - 1)]) if rounds else 0
        depth_series = np.maximum.accumulate(np.where(new > 0, np.arange(new.size), 0))
        ticks = (rounds + 1 if finished else limit) if until_done else limit
        status = "completed" if (finished or not until_done) else "max-ticks"
        summary: dict[str, Any] = {
            "ticks": int(ticks),
            "seconds": round(seconds / max(1, b_runs), 4),
            **dict.fromkeys(TOTALS, 0),
            "session": session,
            "status": status,
            "session_status": "completed" if finished else "running",
            "ended": finished,
            "reached": reached,
            "exposed": int(runs.exposed[b]),
            "graph_reached": max(0, reached - seeds),
            "feed_reached": 0,
            "feed_exposed": 0,
            "seeds": seeds,
            "attempts": int(runs.attempts[b]),
            "rounds": int(rounds),
            "peak_tick": int(np.argmax(new)),
            "reproduction_number": round((reached - seeds) / max(1, sent), 4),
            "edges_removed": 0,
            "edges_added": 0,
            "new_per_tick": new.tolist(),
            "series": {
                "tick": list(range(new.size)),
                "susceptible": (n_total - reached_curve).tolist(),
                "adopted": reached_curve.tolist(),
                "reached": reached_curve.tolist(),
                "new": new.tolist(),
                "depth": depth_series.tolist(),
                "breadth": np.maximum.accumulate(new).tolist(),
            },
            "error": None,
            "where": None,
            "traceback": None,
            "cascade": run_measures(runs, b),
            "seed": seed0 + first_run + b,
        }
        if until_done and not finished:
            summary["stopped"] = f"max ticks ({max_ticks}) reached before every session finished"
        out.append(summary)
    return out


def why_not(world: World, sim: Any, session: Any, model_cls: type, trees: bool, interventions: list[str]) -> str | None:
    """Why an ensemble cannot run batched (None: it can): the batched path is the built-in ``ic`` on a world
    where nothing else moves. ``sim`` and ``session`` are the ensemble's probe, just injected."""
    from plugins.ic import IndependentCascade  # noqa: PLC0415 - the built-in models load with the registry
    from plugins.lt import LinearThreshold  # noqa: PLC0415 - the built-in models load with the registry

    if model_cls not in (IndependentCascade, LinearThreshold):
        return "only the built-in ic and lt run batched"
    if model_cls is IndependentCascade and session.params.get("trust_weighted"):
        return "trust-weighted ic runs on the engine"
    if model_cls is LinearThreshold and session.params.get("weights") != "uniform":
        return "lt with trust weights runs on the engine"
    if trees:
        return "--cascades keeps every run's tree: the engine writes them"
    if interventions:
        return "interventions run on the engine"
    if sim.social.living:
        return "the living network runs on the engine"
    if sim.social.settings.get("recommender") not in (None, "none"):
        return "feeds run on the engine"
    if not all_active(world.columns["status"]):
        return "agents that are not all active run on the engine"
    if blocked_mask(world) is not None:
        return "blocked agents run on the engine"
    if any(s.status in ("queued", "running") for s in world.sessions if s is not session):
        return "the world has sessions of its own running"
    return None


def run_key(world: World, session: int, seed: int, spec: Any, fixed: np.ndarray | None) -> tuple[np.ndarray, np.uint64]:
    """The seeds and random key of the run of session seed ``seed``: the seeds are drawn from the session's
    generator as the engine draws them (``spec.select``; ``fixed``: a seed file's or a seed method's agents),
    then the key is the generator's next 64-bit word."""
    rng = world_rng(world.seed, 100, seed, session)
    picked = fixed if fixed is not None else spec.select(world, rng)
    return np.asarray(picked, dtype=np.int64), rng.integers(0, 2**64 - 1, dtype=np.uint64, endpoint=True)


def run_batched(
    world: World,
    *,
    probe: Any,
    seed: int,
    runs: list[int],
    limit: int,
    until_done: bool,
    max_ticks: int,
    report: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """Runs ``runs`` (indices: session seed ``seed + r``) of the probe session's ``ic``, batched to fit
    :data:`BATCH_BYTES`; reports in run order. ``report(done)`` after each batch."""
    from sim.model.seeds import SeedSpec  # noqa: PLC0415 - kept off the import path of plain runs

    graph = world.graph
    n, e_total = int(world.n), int(world.num_edges)
    model = probe.model_name
    p = float(probe.params.get("p", 0.0))
    spec = probe.seed_spec if probe.seed_spec is not None else SeedSpec.parse(probe.seeds)
    fixed = probe.seed_agents
    live = int(e_total * p + 6 * np.sqrt(e_total * p) + 16) if model == "ic" else 0
    per_run = 16 * n + 48 * live + 1
    size = int(max(1, min(4096, BATCH_BYTES // per_run)))
    rounds_cap = max(0, limit - 1)
    sources = np.repeat(np.arange(n, dtype=np.int64), np.diff(graph.out_indptr))
    out: list[dict[str, Any]] = []
    for lo in range(0, len(runs), size):
        chunk = runs[lo : lo + size]
        t0 = time.perf_counter()
        seeds, keys = [], np.empty(len(chunk), dtype=np.uint64)
        for i, r in enumerate(chunk):
            picked, keys[i] = run_key(world, probe.id, seed + r, spec, fixed)
            seeds.append(picked)
        rule = _LiveEdges(graph, keys, p, sources) if model == "ic" else _Thresholds(graph, keys)
        found = search(graph, seeds, keys, rule, rounds_cap)
        out.extend(
            summaries(
                found,
                session=probe.id,
                seed0=seed,
                first_run=chunk[0],
                limit=limit,
                until_done=until_done,
                max_ticks=max_ticks,
                seconds=time.perf_counter() - t0,
            )
        )
        if report is not None:
            report(len(out))
    return out
