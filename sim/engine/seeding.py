"""Seed selection for influence maximisation (``agora seeds``): choose ``k`` agents whose message reaches the
most agents, then estimate that spread with fresh Monte-Carlo runs of Agora's own ensembles.

Methods (agent indices throughout; the CLI turns them into original ids):

- ``degree``: the ``k`` agents with the most followers (out-degree: edge u->v means v follows u), ties by
  lower index.
- ``degree-discount``: Chen, Wang and Yang (2009), "Efficient influence maximization in social networks"
  (KDD), for independent cascade with probability ``p``: ``dd_v = d_v - 2 t_v - (d_v - t_v) t_v p`` where
  ``d_v`` is v's out-degree and ``t_v`` the number of chosen seeds v follows; k steps, each an argmax and an
  update of the chosen seed's followers.
- ``pagerank``: PageRank on the attention graph (follower -> followed, the reverse of the way messages
  flow), so rank gathers at agents many agents listen to, directly or not.
- ``random``: k distinct agents drawn from the given seed.
- ``celf``: lazy greedy (Leskovec et al. 2007) on Monte-Carlo spread estimates, each an Agora ensemble of
  ``mc_runs`` runs of the model (any model); slow: at least ``agents * mc_runs`` runs.
- ``ris``: IMM (Tang, Shi and Xiao 2015, "Influence maximization in near-linear time: a martingale
  approach", SIGMOD) by reverse-reachable sets, for ``ic`` and ``lt``: with probability at least
  ``1 - n^-ell`` its seeds reach at least ``(1 - 1/e - epsilon)`` times the optimum's expected spread.
  RR sets are sampled in vectorised batches (a BFS over the in-edge CSR, many samples at once); the seeds
  are chosen by greedy maximum coverage with counts updated through the sample -> agents CSR.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.core.graph import Graph, csr_positions
from sim.errors import BadParameterError

METHODS = ("degree", "degree-discount", "pagerank", "random", "celf", "ris")

#: The models RIS samples exactly (its RR sets follow their rules: see :func:`rr_sets`).
RIS_MODELS = ("ic", "lt")

#: CELF evaluates every agent at least once, each an ensemble: refused above this many agents.
CELF_MAX_AGENTS = 5000

#: Session seeds of CELF's ensembles start this far above ``seed``, so the runs that choose the seeds are
#: never the runs that estimate their spread (those use ``seed .. seed + runs - 1``).
CHOICE_SEED_OFFSET = 1_000_000_000

#: The most (sample, agent) cells of the visited bitmap of an LT batch.
_BITMAP_CELLS = 1 << 26

#: About how many (sample, agent) entries one batch of RR sets holds (the batch size adapts to it).
_BATCH_ENTRIES = 2_000_000

#: Spread estimator: (agent indices, runs, first session seed) -> expected number of agents reached.
Spread = Callable[[np.ndarray, int, int], float]


def check_k(k: int, n: int) -> None:
    """Raise BadParameterError unless ``1 <= k <= n``."""
    if k < 1:
        raise BadParameterError(f"--k must be at least 1, got {k}")
    if k > n:
        raise BadParameterError(f"--k {k} is more than the world's {n:,} agents: give at most {n}")


def by_degree(graph: Graph, k: int) -> np.ndarray:
    """The ``k`` agents with the most followers, most first, ties by lower index."""
    return np.argsort(-graph.out_degree(), kind="stable")[:k].astype(np.int64)


def degree_discount(graph: Graph, k: int, p: float) -> np.ndarray:
    """Chen, Wang and Yang's degree discount for IC with probability ``p``, in order of choice."""
    d = graph.out_degree().astype(np.float64)
    t = np.zeros(graph.n, dtype=np.float64)
    dd = d.copy()
    chosen = np.empty(k, dtype=np.int64)
    for i in range(k):  # k steps, each vectorised over the chosen seed's followers
        v = int(np.argmax(dd))
        chosen[i] = v
        dd[v] = -np.inf
        followers = graph.out_indices[graph.out_indptr[v] : graph.out_indptr[v + 1]]
        if followers.size:
            np.add.at(t, followers, 1.0)
            open_ = followers[np.isfinite(dd[followers])]
            dd[open_] = d[open_] - 2 * t[open_] - (d[open_] - t[open_]) * t[open_] * p
    return chosen


def by_pagerank(graph: Graph, k: int) -> np.ndarray:
    """The ``k`` agents of highest PageRank on the attention graph, ties by lower index."""
    from sim.analysis.structure import pagerank_csr  # noqa: PLC0415 - only this method needs it

    pr = pagerank_csr(graph)
    return np.lexsort((np.arange(graph.n), -pr))[:k].astype(np.int64)


def by_random(graph: Graph, k: int, seed: int) -> np.ndarray:
    """``k`` distinct agents drawn uniformly from ``seed``."""
    return np.random.default_rng(seed).choice(graph.n, size=k, replace=False).astype(np.int64)


# -- CELF ------------------------------------------------------------------------------------------------


def celf(n: int, k: int, spread: Spread, mc_runs: int, seed: int) -> np.ndarray:
    """Lazy greedy on ``spread`` estimates: ``n`` first estimates, then one per stale candidate on top.

    Every estimate uses the same session seeds (common random numbers), so two candidates are compared
    on the same ``mc_runs`` draws of the model; those seeds start at ``seed + CHOICE_SEED_OFFSET``.
    """
    base = seed + CHOICE_SEED_OFFSET
    gains = np.array([spread(np.array([v]), mc_runs, base) for v in range(n)], dtype=np.float64)
    fresh = np.zeros(n, dtype=np.int64)  # the round each gain was computed in
    chosen: list[int] = []
    total = 0.0
    gains_open = gains.copy()
    while len(chosen) < k:
        v = int(np.argmax(gains_open))  # ties by lower index
        if fresh[v] == len(chosen):
            chosen.append(v)
            gains_open[v] = -np.inf
            total += gains[v]
            continue
        value = spread(np.array([*chosen, v]), mc_runs, base)
        gains[v] = gains_open[v] = value - total
        fresh[v] = len(chosen)
    return np.array(chosen, dtype=np.int64)


# -- RIS (IMM) -------------------------------------------------------------------------------------------


@dataclass
class RRSets:
    """Reverse-reachable sets as a CSR: sample i holds ``nodes[indptr[i]:indptr[i+1]]``."""

    n: int
    parts: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # (sizes, nodes) per batch
    count: int = 0

    def csr(self) -> tuple[np.ndarray, np.ndarray]:
        sizes = np.concatenate([s for s, _ in self.parts]) if self.parts else np.empty(0, np.int64)
        nodes = np.concatenate([x for _, x in self.parts]) if self.parts else np.empty(0, np.int64)
        indptr = np.zeros(sizes.size + 1, dtype=np.int64)
        np.cumsum(sizes, out=indptr[1:])
        return indptr, nodes


class RRSampler:
    """Draws RR sets of ``ic`` (each in-edge live with probability ``p``, times trust when weighted) or
    ``lt`` (each agent keeps at most one in-edge, chosen with probability its weight) in batches."""

    def __init__(self, graph: Graph, model: str, params: dict[str, Any], rng: np.random.Generator) -> None:
        self.g = graph
        self.model = model
        self.rng = rng
        self.n = graph.n
        if model == "ic":
            p = float(params["p"])
            trust = graph.trust[graph.in_edge].astype(np.float64) if params.get("trust_weighted") else None
            self.edge_p = p * trust if trust is not None else None
            self.p = p
        elif model == "lt":
            self.indeg = graph.in_degree()
            self.cum: np.ndarray | None = None
            if params.get("weights") == "trust":
                w = graph.trust[graph.in_edge].astype(np.float64)
                self.cum = np.concatenate(([0.0], np.cumsum(w)))
                self.total = self.cum[graph.in_indptr[1:]] - self.cum[graph.in_indptr[:-1]]
        else:  # pragma: no cover - checked before
            raise AssertionError(model)
        # LT's RR sets are walks, one agent per level: many levels, so membership is a bitmap over
        # (sample, agent) of a batch (reset where touched), which caps the batch. IC's frontiers are wide:
        # a sorted array of visited keys merged each level lets a batch hold many samples.
        self.cap = max(1, _BITMAP_CELLS // max(1, self.n)) if model == "lt" else 1 << 20
        self.bitmap = np.zeros(self.cap * self.n, dtype=bool) if model == "lt" else None
        self.batch = min(1024, self.cap)  # samples per batch, adapted to hold about _BATCH_ENTRIES entries

    def draw(self, count: int, into: RRSets) -> None:
        """Add ``count`` RR sets to ``into``."""
        while count > 0:
            b = min(count, self.batch)
            sizes, nodes = self._batch(b)
            into.parts.append((sizes, nodes))
            into.count += b
            count -= b
            mean = max(1.0, nodes.size / b)
            self.batch = int(min(self.cap, max(16, _BATCH_ENTRIES / mean)))

    def _batch(self, b: int) -> tuple[np.ndarray, np.ndarray]:
        n, g = self.n, self.g
        roots = self.rng.integers(0, n, size=b)
        sample = np.arange(b, dtype=np.int64)
        node = roots.astype(np.int64)
        visited = sample * n + node  # sorted: one key per sample, samples ascending
        bitmap, levels = self.bitmap, [visited]
        if bitmap is not None:
            bitmap[visited] = True
        while node.size:
            if self.model == "ic":
                pos, counts = csr_positions(g.in_indptr, node)
                src_sample = np.repeat(sample, counts)
                prob = self.p if self.edge_p is None else self.edge_p[pos]
                live = self.rng.random(pos.size) < prob
                sample, node = src_sample[live], g.in_indices[pos[live]].astype(np.int64)
            else:
                deg = self.indeg[node]
                start = g.in_indptr[node]
                r = self.rng.random(node.size)
                if self.cum is None:
                    has = deg > 0
                    pick = start[has] + np.minimum((r[has] * deg[has]).astype(np.int64), deg[has] - 1)
                else:
                    tot = self.total[node]
                    has = tot > 0
                    target = self.cum[start[has]] + r[has] * tot[has]
                    pick = np.searchsorted(self.cum, target, side="right") - 1
                    pick = np.clip(pick, start[has], g.in_indptr[node[has] + 1] - 1)
                sample, node = sample[has], g.in_indices[pick].astype(np.int64)
            key = np.unique(sample * n + node)
            if bitmap is not None:
                key = key[~bitmap[key]]
                bitmap[key] = True
                levels.append(key)
            elif key.size:
                at = np.minimum(np.searchsorted(visited, key), visited.size - 1)
                key = key[visited[at] != key]
                # Two sorted runs: the stable sort merges them in linear time.
                visited = np.sort(np.concatenate((visited, key)), kind="stable")
            sample, node = key // n, key % n
        if bitmap is not None:
            visited = np.concatenate(levels)
            bitmap[visited] = False
            visited.sort()
        return np.bincount(visited // n, minlength=b).astype(np.int64), (visited % n).astype(np.int32)


def max_coverage(rr: RRSets, k: int) -> tuple[np.ndarray, float]:
    """Greedy maximum coverage of the RR sets: ``k`` agents in order and the share of sets they cover."""
    n = rr.n
    indptr, nodes = rr.csr()
    counts = np.bincount(nodes, minlength=n).astype(np.int64)
    order = np.argsort(nodes, kind="stable")
    node_ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=node_ptr[1:])
    owner = np.repeat(np.arange(indptr.size - 1, dtype=np.int64), np.diff(indptr))
    node_samples = owner[order]
    covered = np.zeros(indptr.size - 1, dtype=bool)
    chosen = np.empty(k, dtype=np.int64)
    for i in range(k):  # k steps, each vectorised over the sets the chosen agent newly covers
        v = int(np.argmax(counts))
        chosen[i] = v
        hit = node_samples[node_ptr[v] : node_ptr[v + 1]]
        hit = hit[~covered[hit]]
        covered[hit] = True
        if hit.size:
            pos, _ = csr_positions(indptr, hit)
            counts -= np.bincount(nodes[pos], minlength=n)
        counts[v] = -1
    share = float(covered.sum()) / max(1, covered.size)
    return chosen, share


def _log_binom(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


@dataclass
class RISResult:
    seeds: np.ndarray
    samples: int
    estimate: float


def imm(graph: Graph, k: int, model: str, params: dict[str, Any], epsilon: float, ell: float, seed: int) -> RISResult:
    """IMM's sampling phase (a lower bound on the optimum by doubling) then its node selection.

    Raises:
        BadParameterError: a model RIS does not sample, or epsilon / ell out of range.
    """
    if model not in RIS_MODELS:
        raise BadParameterError(
            f"ris samples reverse-reachable sets for ic and lt only, not {model!r}: use --method celf for other models"
        )
    if not 0 < epsilon < 1:
        raise BadParameterError(f"--epsilon must be between 0 and 1 (exclusive), got {epsilon}")
    if ell <= 0:
        raise BadParameterError(f"--ell must be more than 0, got {ell}")
    n = graph.n
    rng = np.random.default_rng([seed, 0x1D5])
    sampler = RRSampler(graph, model, params, rng)
    rr = RRSets(n)
    if n == 1:
        sampler.draw(1, rr)
        return RISResult(np.zeros(1, dtype=np.int64), rr.count, 1.0)
    ln = math.log(n)
    ell = ell * (1 + math.log(2) / ln)  # so that both phases together fail with probability at most n^-ell
    lbin = _log_binom(n, k)
    eps2 = math.sqrt(2) * epsilon
    lam2 = (2 + 2 / 3 * eps2) * (lbin + ell * ln + math.log(max(math.log2(n), 1.0))) * n / eps2**2
    lower = 1.0
    for i in range(1, max(2, math.ceil(math.log2(n)))):
        x = n / 2**i
        theta_i = math.ceil(lam2 / x)
        sampler.draw(max(0, theta_i - rr.count), rr)
        _, share = max_coverage(rr, k)
        if n * share >= (1 + eps2) * x:
            lower = n * share / (1 + eps2)
            break
    alpha = math.sqrt(ell * ln + math.log(2))
    beta = math.sqrt((1 - 1 / math.e) * (lbin + ell * ln + math.log(2)))
    lam_star = 2 * n * ((1 - 1 / math.e) * alpha + beta) ** 2 / epsilon**2
    theta = math.ceil(lam_star / lower)
    sampler.draw(max(0, theta - rr.count), rr)
    chosen, share = max_coverage(rr, k)
    return RISResult(chosen, rr.count, n * share)


# -- the whole choice ------------------------------------------------------------------------------------


@dataclass
class SeedChoice:
    """What ``agora seeds`` reports (indices; ``seconds`` is the time the choice took)."""

    method: str
    seeds: np.ndarray
    seconds: float
    samples: int | None = None
    ris_estimate: float | None = None


def choose_seeds(
    graph: Graph,
    k: int,
    method: str,
    *,
    model: str,
    params: dict[str, Any],
    seed: int = 0,
    epsilon: float = 0.1,
    ell: float = 1.0,
    mc_runs: int = 50,
    spread: Spread | None = None,
) -> SeedChoice:
    """Choose ``k`` seeds by ``method``; ``params`` are the model's validated parameters; ``spread`` is
    needed by ``celf`` only.

    Raises:
        BadParameterError: a bad k, method, model for the method, or option.
    """
    n = graph.n
    check_k(k, n)
    if method not in METHODS:
        raise BadParameterError(f"unknown method {method!r}: use one of {', '.join(METHODS)}")
    if method == "degree-discount" and model != "ic":
        raise BadParameterError(
            f"degree-discount is derived for ic and its p, not {model!r}: use --model ic, or another method"
        )
    started = time.perf_counter()
    samples = estimate = None
    if method == "degree":
        chosen = by_degree(graph, k)
    elif method == "degree-discount":
        chosen = degree_discount(graph, k, float(params["p"]))
    elif method == "pagerank":
        chosen = by_pagerank(graph, k)
    elif method == "random":
        chosen = by_random(graph, k, seed)
    elif method == "celf":
        if n > CELF_MAX_AGENTS:
            raise BadParameterError(
                f"celf runs an ensemble for every one of the world's {n:,} agents and is kept to worlds of at "
                f"most {CELF_MAX_AGENTS:,}: use --method ris (ic, lt) or a heuristic"
            )
        assert spread is not None
        chosen = celf(n, k, spread, mc_runs, seed)
    else:
        res = imm(graph, k, model, params, epsilon, ell, seed)
        chosen, samples, estimate = res.seeds, res.samples, res.estimate
    return SeedChoice(method, chosen, time.perf_counter() - started, samples, estimate)
