"""RIS: influence maximisation by reverse-reachable sets (``agora seeds --method ris``, ``--seeds ris:K``).

IMM: Tang, Shi and Xiao (2015), "Influence maximization in near-linear time: a martingale approach"
(SIGMOD), for ``ic`` and ``lt``. With probability at least ``1 - n^-ell`` its seeds reach at least
``(1 - 1/e - epsilon)`` times the optimum's expected spread. An RR set is the set of agents that would have
reached a uniformly drawn root in one random live-edge graph of the model: for ``ic`` every in-edge is live
with probability ``p`` (times trust when ``trust_weighted``), for ``lt`` every agent keeps at most one in-edge,
chosen with probability its weight. The share of RR sets a seed set covers, times n, is an unbiased estimate
of its spread, so greedy maximum coverage of enough sets chooses well.

RR sets are sampled in vectorised batches (a BFS over the in-edge CSR, many samples at once). For ``ic`` with a
small ``p`` the live in-edges of a frontier are drawn as a Bernoulli process over its concatenated in-edges
(geometric gaps between live edges), which costs a draw per live edge instead of one per edge; the law is the
same. Most RR sets of a subcritical cascade hold their root alone: those are kept only as a count per agent
(a singleton set is covered exactly when its agent is chosen), the others as a CSR of int32 agents. The seeds
are chosen by greedy maximum coverage, counts updated through that CSR.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.plugin import BadParameterError, GraphView, Param, SeedContext, SeedMethod, csr_positions, unique_sorted

#: The models RIS samples exactly (its RR sets follow their rules).
RIS_MODELS = ("ic", "lt")

#: About how many (sample, agent) entries of RR sets of two or more agents one batch holds (the batch adapts).
_BATCH_ENTRIES = 4_000_000

#: The most roots of a batch.
_MAX_BATCH = 1 << 20

#: Above this probability of a live edge, IC draws one uniform number per in-edge instead of geometric gaps.
_DENSE_P = 0.25


@dataclass
class RRSets:
    """Reverse-reachable sets. ``covers[v]`` is how many sets hold agent v (all sets, singletons included);
    the sets of two or more agents are kept as a CSR (sizes int32, agents int32), one part per batch until
    :meth:`csr` joins them. A set of one agent is only counted: it is covered exactly when that agent is."""

    n: int
    count: int = 0
    covers: np.ndarray = field(init=False)
    parts: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.covers = np.zeros(self.n, dtype=np.int64)

    def add(self, count: int, singles: np.ndarray, sizes: np.ndarray, nodes: np.ndarray) -> None:
        """Add ``count`` sets: the agents of singleton sets, and the others as sizes and agents (sizes of 1 are
        moved to the singletons)."""
        self.count += count
        one = sizes == 1
        if one.any():
            starts = np.cumsum(sizes) - sizes
            singles = np.concatenate((singles, nodes[starts[one]]))
            nodes = nodes[np.repeat(~one, sizes)]
            sizes = sizes[~one]
        self.covers += np.bincount(singles, minlength=self.n)
        if sizes.size:
            self.covers += np.bincount(nodes, minlength=self.n)
            self.parts.append((sizes.astype(np.int32), nodes.astype(np.int32, copy=False)))

    @property
    def entries(self) -> int:
        """Agents held in sets of two or more."""
        return sum(x.size for _, x in self.parts)

    def csr(self) -> tuple[np.ndarray, np.ndarray]:
        """The sets of two or more agents: ``indptr`` (int64) and agents (int32); set i holds
        ``nodes[indptr[i]:indptr[i + 1]]``. Joins the parts into one (freeing them)."""
        if len(self.parts) > 1:
            sizes = np.concatenate([s for s, _ in self.parts])
            nodes = np.concatenate([x for _, x in self.parts])
            self.parts = [(sizes, nodes)]
        sizes, nodes = self.parts[0] if self.parts else (np.empty(0, np.int32), np.empty(0, np.int32))
        indptr = np.zeros(sizes.size + 1, dtype=np.int64)
        np.cumsum(sizes, out=indptr[1:])
        return indptr, nodes


class RRSampler:
    """Draws RR sets of ``ic`` (each in-edge live with probability ``p``, times trust when weighted) or
    ``lt`` (each agent keeps at most one in-edge, chosen with probability its weight) in batches."""

    def __init__(self, graph: GraphView, model: str, params: dict[str, Any], rng: np.random.Generator) -> None:
        self.model = model
        self.rng = rng
        self.n = graph.n
        self.indptr = np.asarray(graph.in_indptr, dtype=np.int64)
        self.indices = graph.in_indices
        self.deg = np.diff(self.indptr).astype(np.int32)  # in-degrees
        self.trust_in: np.ndarray | None = None
        if model == "ic":
            self.p = float(params["p"])
            if params.get("trust_weighted"):
                self.trust_in = np.asarray(graph.trust)[graph.in_edge]
                self.trust_max = float(self.trust_in.max()) if self.trust_in.size else 0.0
                # Thinning: candidates live with p * max trust, each kept with its trust / max trust.
                self.p_live = self.p * self.trust_max
            else:
                self.p_live = self.p
        elif model == "lt":
            self.cum: np.ndarray | None = None
            if params.get("weights") == "trust":
                w = np.asarray(graph.trust)[graph.in_edge].astype(np.float64)
                self.cum = np.concatenate(([0.0], np.cumsum(w)))
                self.total = self.cum[self.indptr[1:]] - self.cum[self.indptr[:-1]]
        else:  # pragma: no cover - checked before
            raise AssertionError(model)
        self.step = self._live_in_edges if model == "ic" else self._kept_in_edge
        self.batch = 1024  # samples per batch, adapted to hold about _BATCH_ENTRIES entries

    def draw(self, count: int, into: RRSets) -> None:
        """Add ``count`` RR sets to ``into``."""
        while count > 0:
            b = min(count, self.batch)
            singles, sizes, nodes = self._batch(b)
            into.add(b, singles, sizes, nodes)
            count -= b
            # Batches as large as _BATCH_ENTRIES entries of non-singleton sets allow.
            mean = max(1.0 / _MAX_BATCH, nodes.size / b)
            self.batch = int(min(_MAX_BATCH, max(16, _BATCH_ENTRIES / mean)))

    def _bernoulli(self, total: int, p: float) -> np.ndarray:
        """Sorted positions of the successes among ``total`` independent trials of probability ``p``: gaps
        between successes are geometric, so this draws one number per success (and a few past the end)."""
        if total <= 0 or p <= 0.0:
            return np.empty(0, dtype=np.int64)
        found: list[np.ndarray] = []
        last = -1
        while True:
            mean = (total - 1 - last) * p
            at = last + np.cumsum(self.rng.geometric(p, size=int(mean + 6 * math.sqrt(mean) + 16)))
            if at[-1] >= total:
                found.append(at[: np.searchsorted(at, total)])
                break
            found.append(at)
            last = int(at[-1])
        return found[0] if len(found) == 1 else np.concatenate(found)

    def _live_in_edges(self, node: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The live in-edges of each frontier agent in one draw of IC: (index into ``node``, in-edge
        position), grouped by frontier agent. Each in-edge of each entry is an independent trial."""
        if self.p_live >= _DENSE_P:
            pos, counts = csr_positions(self.indptr, node)
            owner = np.repeat(np.arange(node.size), counts)
            prob = self.p if self.trust_in is None else self.p * self.trust_in[pos].astype(np.float64)
            live = self.rng.random(pos.size) < prob
            return owner[live], pos[live]
        ends = np.cumsum(self.deg[node], dtype=np.int64)
        hits = self._bernoulli(int(ends[-1]) if ends.size else 0, self.p_live)
        owner = np.searchsorted(ends, hits, side="right")
        at = node[owner]
        pos = hits + self.indptr[at] - ends[owner] + self.deg[at]
        if self.trust_in is not None:
            keep = self.rng.random(pos.size) * self.trust_max < self.trust_in[pos]
            owner, pos = owner[keep], pos[keep]
        return owner, pos

    def _kept_in_edge(self, node: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The in-edge each frontier agent keeps in one draw of LT, where it keeps one: (index into ``node``,
        in-edge position). Edge ``u -> v`` is kept with probability its weight: 1 / in-degree, or trust over
        the total in-trust (an agent with no in-trust keeps none)."""
        start = self.indptr[node]
        r = self.rng.random(node.size)
        if self.cum is None:
            deg = self.deg[node]
            keeps = np.flatnonzero(deg > 0)
            deg = deg[keeps]
            return keeps, start[keeps] + np.minimum((r[keeps] * deg).astype(np.int64), deg - 1)
        total = self.total[node]
        keeps = np.flatnonzero(total > 0)
        start = start[keeps]
        pick = np.searchsorted(self.cum, self.cum[start] + r[keeps] * total[keeps], side="right") - 1
        return keeps, np.clip(pick, start, self.indptr[node[keeps] + 1] - 1)

    def _batch(self, b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``b`` RR sets, a BFS over the in-edges from ``b`` roots at once: the roots of singleton sets, then
        the others' sizes and agents (by set)."""
        n = self.n
        roots = self.rng.integers(0, n, size=b)
        owner, pos = self.step(roots)
        has = np.zeros(b, dtype=bool)
        has[owner] = True
        singles = roots[~has]
        # The rest: samples renumbered 0..m-1, keys sample * n + agent, visited kept sorted.
        roots = roots[has]
        m = roots.size
        sample = (np.cumsum(has) - 1)[owner]
        node = self.indices[pos].astype(np.int64)
        visited = np.arange(m, dtype=np.int64) * n + roots
        finished: list[np.ndarray] = []
        alive = m
        while sample.size:
            key = unique_sorted(sample * n + node)
            at = np.minimum(np.searchsorted(visited, key), visited.size - 1)
            key = key[visited[at] != key]
            if not key.size:
                break
            # Two sorted runs: the stable sort merges them in linear time.
            visited = np.sort(np.concatenate((visited, key)), kind="stable")
            sample = key // n
            node = key - sample * n
            now = 1 + int(np.count_nonzero(sample[1:] != sample[:-1]))
            if 4 * now <= alive:
                # Most samples have ended: set their agents aside so that later levels merge short arrays.
                going = np.zeros(m, dtype=bool)
                going[sample] = True
                keep = going[visited // n]
                finished.append(visited[~keep])
                visited = visited[keep]
                alive = now
            owner, pos = self.step(node)
            sample = sample[owner]
            node = self.indices[pos].astype(np.int64)
        finished.append(visited)
        keys = np.sort(np.concatenate(finished), kind="stable") if len(finished) > 1 else visited
        of = keys // n
        return singles, np.bincount(of, minlength=m), (keys - of * n).astype(np.int32)


class _SetsOfAgents:
    """The sets of two or more agents that hold each candidate agent: the agents held by the most sets, whose
    entries are gathered in one pass and sorted by agent (all entries are, only when all agents are asked for)."""

    def __init__(self, indptr: np.ndarray, nodes: np.ndarray, covers: np.ndarray, size: int, least: int) -> None:
        n = covers.size
        floor = int(np.partition(covers, n - size)[n - size]) if size < n else 0
        self.size = size
        self.member = covers >= max(1, min(floor, least))
        at = np.flatnonzero(self.member[nodes])
        agent = nodes[at]
        order = np.argsort(agent, kind="stable")
        self.ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(agent, minlength=n), out=self.ptr[1:])
        # Positions ascending make the search walk indptr in order (many times faster than in agent order).
        self.sets = (np.searchsorted(indptr, at, side="right") - 1)[order]


def max_coverage(rr: RRSets, k: int) -> tuple[np.ndarray, float]:
    """Greedy maximum coverage of the RR sets: ``k`` agents in order and the share of sets they cover.

    Each step takes the agent in the most uncovered sets (the lowest index among ties) and takes those sets'
    agents off the counts. The sets of an agent come from an index of the ``4k`` agents held by the most sets
    (an agent chosen outside it, once the counts have fallen, widens it fourfold)."""
    n = rr.n
    indptr, nodes = rr.csr()
    counts = rr.covers.copy()  # uncovered sets holding each agent
    covered = np.zeros(indptr.size - 1, dtype=bool)
    index: _SetsOfAgents | None = None
    chosen = np.empty(k, dtype=np.int64)
    gained = 0
    for i in range(k):  # k steps, each vectorised over the sets the chosen agent newly covers
        v = int(np.argmax(counts))
        chosen[i] = v
        gain = int(counts[v])
        gained += gain
        counts[v] = -1
        if gain == 0 or not nodes.size:
            continue
        if index is None or not index.member[v]:
            size = min(n, 4 * k if index is None else 4 * index.size)
            index = _SetsOfAgents(indptr, nodes, rr.covers, size, gain)
        hit = index.sets[index.ptr[v] : index.ptr[v + 1]]
        hit = hit[~covered[hit]]
        covered[hit] = True
        if hit.size:
            pos, _ = csr_positions(indptr, hit)
            if pos.size * 16 < n:  # a few entries: in place, no n-sized temporary
                np.subtract.at(counts, nodes[pos], 1)
            else:
                counts -= np.bincount(nodes[pos], minlength=n)
    return chosen, gained / max(1, rr.count)


def _log_binom(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


@dataclass
class RISResult:
    seeds: np.ndarray
    samples: int
    estimate: float


def imm(
    graph: GraphView, k: int, model: str, params: dict[str, Any], epsilon: float, ell: float, seed: int
) -> RISResult:
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
    greedy = (-1, np.empty(0, dtype=np.int64), 0.0)  # (sets, seeds, share) of the last coverage
    for i in range(1, max(2, math.ceil(math.log2(n)))):
        x = n / 2**i
        theta_i = math.ceil(lam2 / x)
        sampler.draw(max(0, theta_i - rr.count), rr)
        greedy = (rr.count, *max_coverage(rr, k))
        if n * greedy[2] >= (1 + eps2) * x:
            lower = n * greedy[2] / (1 + eps2)
            break
    alpha = math.sqrt(ell * ln + math.log(2))
    beta = math.sqrt((1 - 1 / math.e) * (lbin + ell * ln + math.log(2)))
    lam_star = 2 * n * ((1 - 1 / math.e) * alpha + beta) ** 2 / epsilon**2
    theta = math.ceil(lam_star / lower)
    sampler.draw(max(0, theta - rr.count), rr)
    if greedy[0] != rr.count:  # the last phase may already hold theta sets: its greedy choice is this one
        greedy = (rr.count, *max_coverage(rr, k))
    return RISResult(greedy[1], rr.count, n * greedy[2])


class RIS(SeedMethod):
    name = "ris"
    version = "1.1"
    expensive = True
    description = "IMM (Tang, Shi and Xiao 2015) by reverse-reachable sets, for ic and lt: within 1-1/e-epsilon."
    models = RIS_MODELS
    params = {
        "epsilon": Param(float, 0.1, 1e-3, 0.999, "approximation slack: seeds reach >= (1 - 1/e - epsilon) OPT"),
        "ell": Param(float, 1.0, 1e-3, 100.0, "confidence: the guarantee holds with probability >= 1 - n^-ell"),
    }

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.last: RISResult | None = None

    def choose(self, ctx: SeedContext) -> np.ndarray:
        eligible = ctx.eligible
        if not bool(eligible.all()):
            raise BadParameterError(
                "ris samples every agent as a root: it needs a world whose agents are all eligible "
                "(none suspended, deactivated or not yet joined); use another method"
            )
        seed = int(ctx.rng.integers(0, 2**62))
        self.last = imm(ctx.graph, ctx.k, ctx.model, dict(ctx.model_params), self.p["epsilon"], self.p["ell"], seed)
        return self.last.seeds

    def report(self) -> dict[str, Any]:
        if self.last is None:
            return {}
        return {"samples": self.last.samples, "ris_estimate": self.last.estimate}
