"""Seeded synthetic follower graphs, generated with array operations only.

Every generator is undirected: it draws about ``n * avg_degree / 2`` distinct pairs and the world
stores both directions, so ``avg_degree`` is the mean number of neighbours and the graph has about
``n * avg_degree`` directed edges. Self-loops and repeated pairs are removed.

``community`` (the default) plants communities the way real social graphs look: heavy-tailed
community sizes (a power law), heavy-tailed degrees (expected degrees from a power law with exponent
2.5, Chung–Lu style) and a mixing parameter ``mu``, the expected share of each agent's links that leave
its community (as in the LFR benchmark). ``sbm`` is the planted-partition block model: equal blocks,
equal expected degrees, the same ``mu``. ``er`` is Erdős–Rényi G(n, m). ``ba`` is Barabási–Albert
preferential attachment with ``avg_degree / 2`` links per new agent, drawn in parallel by the
pointer-jumping method (each link copies the endpoint of an earlier link, resolved in log steps).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sim.core.arrays import unique_sorted
from sim.errors import BadParameterError

GRAPH_KINDS = ("community", "ba", "er", "sbm")
Progress = Callable[[str, float], None] | None


@dataclass(slots=True)
class GeneratedGraph:
    """Distinct undirected pairs ``(a, b)`` with ``a < b`` (in no particular order), and planted communities if any."""

    n: int
    a: np.ndarray  # int32
    b: np.ndarray  # int32
    community: np.ndarray | None  # int32 per agent


def default_communities(n: int) -> int:
    """A sensible number of planted communities for ``n`` agents (about sqrt(n)/2)."""
    return int(max(1, min(n // 10 if n >= 20 else 1, round(np.sqrt(n) / 2))))


def generate(
    kind: str,
    n: int,
    avg_degree: float,
    rng: np.random.Generator,
    *,
    communities: int | None = None,
    mixing: float = 0.2,
    progress: Progress = None,
) -> GeneratedGraph:
    """Generate a graph of the given kind. See the module docstring for the models.

    Raises:
        BadParameterError: a parameter is out of range.
    """
    if kind not in GRAPH_KINDS:
        raise BadParameterError(f"unknown graph kind {kind!r}: use one of {', '.join(GRAPH_KINDS)}")
    if n < 1:
        raise BadParameterError(f"agents must be at least 1, got {n}", fields="agents")
    if not (0 <= avg_degree <= n - 1) and n > 1:
        raise BadParameterError(
            f"avg_degree must be between 0 and the agents less one ({n - 1}), got {avg_degree}", fields="avg_degree"
        )
    if not 0.0 <= mixing <= 1.0:
        raise BadParameterError(f"mixing must be between 0 and 1, got {mixing}", fields="mixing")
    if communities is not None and not 1 <= communities <= n:
        raise BadParameterError(
            f"communities must be between 1 and the number of agents ({n}), got {communities}", fields="communities"
        )
    m = int(round(n * avg_degree / 2))
    if n == 1 or m == 0:
        empty = np.empty(0, dtype=np.int32)
        comm = np.zeros(n, dtype=np.int32) if kind in ("community", "sbm") else None
        return GeneratedGraph(n, empty, empty.copy(), comm)
    if kind == "ba":
        a, b = _barabasi_albert(n, max(0.5, avg_degree / 2), rng, progress)
        return GeneratedGraph(n, a, b, None)
    if kind == "er":
        sizes = np.array([n])
        weights = np.ones(n, dtype=np.float64)
        a, b = _planted(n, sizes, weights, 1.0, m, rng, progress)
        return GeneratedGraph(n, a, b, None)
    c = communities or default_communities(n)
    if kind == "sbm":
        sizes = np.full(c, n // c, dtype=np.int64)
        sizes[: n - sizes.sum()] += 1
        weights = np.ones(n, dtype=np.float64)
    else:
        sizes = _community_sizes(n, c, rng)
        weights = _power_law_weights(n, avg_degree, rng)
    a, b = _planted(n, sizes, weights, mixing, m, rng, progress)
    community = np.repeat(np.arange(c, dtype=np.int32), sizes)
    # Labels are shuffled so community members are not contiguous ids.
    perm = rng.permutation(n).astype(np.int32)
    a, b = perm[a], perm[b]
    community_out = np.empty(n, dtype=np.int32)
    community_out[perm] = community
    # Still distinct pairs, no longer sorted: world_from_generated sorts both directions once.
    return GeneratedGraph(n, np.minimum(a, b), np.maximum(a, b), community_out)


def _community_sizes(n: int, c: int, rng: np.random.Generator) -> np.ndarray:
    """Heavy-tailed sizes (power law, exponent about 2) summing to ``n``, each at least 1."""
    if c == 1:
        return np.array([n], dtype=np.int64)
    raw = rng.pareto(1.0, size=c) + 1.0
    raw = np.minimum(raw, raw.min() * 200.0)  # the largest at most ~200x the smallest
    min_size = max(1, min(10, n // (4 * c)))
    spare = n - min_size * c
    sizes = min_size + np.floor(raw / raw.sum() * spare).astype(np.int64)
    short = n - int(sizes.sum())
    order = np.argsort(-raw)
    sizes[order[:short]] += 1  # the remainder goes to the largest ones
    return sizes


def _power_law_weights(n: int, avg_degree: float, rng: np.random.Generator) -> np.ndarray:
    """Expected degrees from a power law with exponent 2.5, capped, with mean ``avg_degree``."""
    w = rng.pareto(1.5, size=n) + 1.0  # P(w) ~ w^-2.5
    w = np.minimum(w, max(2.0, np.sqrt(n)))
    return w * (avg_degree / w.mean())


def _planted(
    n: int,
    sizes: np.ndarray,
    weights: np.ndarray,
    mixing: float,
    m: int,
    rng: np.random.Generator,
    progress: Progress,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``m`` distinct pairs: the first end proportional to weight; the second, with probability
    ``1 - mixing`` from the first end's community (contiguous id blocks of ``sizes``), otherwise from
    outside it, also proportional to weight. Pairs lost to self-loops and repeats are topped up until
    ``m`` are reached or the graph is saturated."""
    cw = np.cumsum(weights)
    total = cw[-1]
    block_end = np.cumsum(sizes)
    block_start = block_end - sizes
    cw_start = np.where(block_start > 0, cw[np.maximum(block_start - 1, 0)], 0.0)
    cw_block = cw[block_end - 1] - cw_start
    community_of = np.repeat(np.arange(len(sizes), dtype=np.int32), sizes)
    single = len(sizes) == 1

    line = WeightLine(cw)

    def pick(targets: np.ndarray) -> np.ndarray:
        v = line.search(targets).astype(np.int32)
        return np.minimum(v, n - 1, out=v)

    def draw(k: int) -> tuple[np.ndarray, np.ndarray]:
        u = pick(rng.random(k) * total)
        c = community_of[u]
        inside = rng.random(k) >= mixing
        if single:
            inside[:] = True
        # Outside: a point in the weight line with the own block cut out, mapped back around it.
        outside_total = total - cw_block[c]
        x = rng.random(k) * outside_total
        x = np.where(x >= cw_start[c], x + cw_block[c], x)
        target = np.where(inside, cw_start[c] + rng.random(k) * cw_block[c], x)
        return u, pick(target)

    max_pairs = n * (n - 1) // 2
    if m > max_pairs // 2 and n <= 20_000:
        return _dense_pairs(n, sizes, mixing, m, rng)
    step = 4_000_000
    chunks_a, chunks_b = [], []
    done = 0
    while done < m:
        k = min(step, m - done)
        u, v = draw(k)
        chunks_a.append(np.minimum(u, v))
        chunks_b.append(np.maximum(u, v))
        done += k
        if progress:
            progress("generating edges", 0.8 * done / m)
    a, b = _unique_pairs(n, np.concatenate(chunks_a), np.concatenate(chunks_b))
    del chunks_a, chunks_b
    for _ in range(20):  # top-ups for pairs lost to self-loops and repeats
        missing = m - a.shape[0]
        if missing <= 0:
            break
        have = a.shape[0]
        u, v = draw(int(missing * 1.2) + 16)
        a, b = _unique_pairs(n, np.concatenate([a, np.minimum(u, v)]), np.concatenate([b, np.maximum(u, v)]))
        if a.shape[0] - have < max(1, missing // 100):
            break  # saturated: the requested density is not reachable under these constraints
    if a.shape[0] > m:
        keep = np.sort(rng.choice(a.shape[0], size=m, replace=False))
        a, b = a[keep], b[keep]
    if progress:
        progress("generating edges", 1.0)
    return a, b


class WeightLine:
    """``np.searchsorted(cw, x, side="right")`` for many unsorted ``x`` at once, through a bucket index.

    A binary search over tens of millions of cumulative weights misses the cache at almost every one of
    its ~24 steps; with ``len(cw)`` equal-width buckets each ``x`` starts at the first weight of the
    bucket before its own and walks forward a few entries (a bucket holds about ``mean / min`` weights),
    so a draw costs one or two cache misses. The answer is exactly ``searchsorted``'s (tested).
    """

    def __init__(self, cw: np.ndarray) -> None:
        self.cw = np.append(np.asarray(cw, dtype=np.float64), np.inf)  # the sentinel stops every walk
        g = max(1, cw.shape[0])
        total = float(cw[-1]) if cw.shape[0] else 0.0
        self.buckets = g
        self.scale = g / total if total > 0 else 0.0
        edges = np.arange(g + 1, dtype=np.float64) / self.scale if self.scale else np.zeros(g + 1)
        self.start = np.searchsorted(cw, edges, side="right")  # sorted keys: one pass

    def search(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        b = (x * self.scale).astype(np.int64)
        b -= 1  # one bucket back: rounding in x * scale can never put the start past the answer
        np.clip(b, 0, self.buckets, out=b)
        v = self.start[b]
        cw = self.cw
        walking = np.flatnonzero(cw[v] <= x)
        while walking.size:
            v[walking] += 1
            walking = walking[cw[v[walking]] <= x[walking]]
        return v


def _dense_pairs(
    n: int, sizes: np.ndarray, mixing: float, m: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Dense small graphs: choose ``m`` of all pairs, inside pairs weighted by ``1 - mixing``."""
    a, b = np.triu_indices(n, k=1)
    community_of = np.repeat(np.arange(len(sizes)), sizes)
    same = community_of[a] == community_of[b]
    if len(sizes) == 1:
        p = np.ones(a.shape[0])
    else:
        p = np.where(same, (1 - mixing) / max(same.sum(), 1), mixing / max((~same).sum(), 1)) + 1e-12
    chosen = rng.choice(a.shape[0], size=m, replace=False, p=p / p.sum())
    chosen.sort()
    return a[chosen].astype(np.int32), b[chosen].astype(np.int32)


def _unique_pairs(n: int, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct pairs with ``lo < hi`` (self-loops dropped), sorted."""
    keep = lo != hi
    key = unique_sorted(lo[keep].astype(np.int64) * n + hi[keep])
    return (key // n).astype(np.int32), (key % n).astype(np.int32)


def _barabasi_albert(
    n: int, links: float, rng: np.random.Generator, progress: Progress
) -> tuple[np.ndarray, np.ndarray]:
    """Preferential attachment, drawn in parallel.

    Agents ``0..m0`` start as a clique; every later agent adds ``floor(links)`` or ``ceil(links)`` links
    (so the mean is ``links`` and the mean degree ``2 * links``). Link ``e`` owns two endpoint slots,
    ``2e`` (the new agent) and ``2e + 1`` (its target). A target copies a uniformly chosen slot of an
    earlier agent's links, which picks an agent with probability proportional to its degree; copying an
    earlier target slot is a pointer into the past, resolved for all links at once by following pointers.
    """
    m0 = max(1, min(int(np.ceil(links)), n - 1))
    seed_a, seed_b = np.triu_indices(m0 + 1, k=1)
    newcomers = np.arange(m0 + 1, n, dtype=np.int64)
    lo = int(np.floor(links))
    counts = lo + (rng.random(newcomers.shape[0]) < links - lo).astype(np.int64)
    counts = np.minimum(counts, newcomers)  # an agent cannot link to more agents than exist
    e0 = seed_a.shape[0]
    total_links = e0 + int(counts.sum())
    slot = np.empty(2 * total_links, dtype=np.int64)
    slot[0 : 2 * e0 : 2] = seed_a
    slot[1 : 2 * e0 : 2] = seed_b
    owners = np.repeat(newcomers, counts)
    slot[2 * e0 :: 2] = owners
    # Choose among slots of links made by earlier agents: those before the first link of this agent.
    first_link = e0 + np.repeat(np.cumsum(counts) - counts, counts)
    choice = (rng.random(owners.shape[0]) * (2 * first_link)).astype(np.int64)
    resolved = choice % 2 == 0
    pointer = np.where(resolved, -1, (choice - 1) // 2)  # link whose target we copy
    targets = np.empty(total_links, dtype=np.int64)
    targets[:e0] = seed_b
    targets[e0:] = np.where(resolved, slot[choice - choice % 2], -1)
    pending = np.flatnonzero(~resolved) + e0
    ptr = pointer[~resolved]
    rounds = 0
    while pending.size:
        t = targets[ptr]
        done = t >= 0
        targets[pending[done]] = t[done]
        pending, ptr = pending[~done], ptr[~done]
        if pending.size:
            # Step to what our pointer points at (chains are short: each hop ends with probability 1/2).
            ptr = pointer[ptr - e0]
        rounds += 1
        if progress:
            progress("generating edges", min(0.9, 0.1 * rounds))
    a = np.concatenate([seed_a, owners])
    b = np.concatenate([seed_b, targets[e0:]])
    a, b = _unique_pairs(n, np.minimum(a, b), np.maximum(a, b))
    if progress:
        progress("generating edges", 1.0)
    return a, b
