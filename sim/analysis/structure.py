"""Network analysis on igraph's C core: influence, communities, structure and paths.

Everything here is a plain synchronous function over a :class:`~sim.core.world.World`'s arrays, meant to be
run off the event loop (``asyncio.to_thread``). Long functions take ``progress(phase, fraction)`` and a
``cancel`` :class:`threading.Event`, checked between phases; a set event raises
:class:`AnalysisCancelled`. igraph calls themselves cannot be interrupted, so a cancel takes effect
when the running phase ends.

The igraph view
    :func:`~sim.analysis.view.build_view` (:mod:`sim.analysis.view`) builds igraph graphs straight from the
    CSR arrays: one undirected graph, and the directed attention graph when the follower graph is not
    symmetric. Paths and their lengths are in :mod:`sim.analysis.paths`.

PageRank
    :func:`pagerank_csr` iterates straight on the world's CSR arrays (a sparse matrix-vector product per
    iteration, row blocks in threads), so ``analyze`` needs no igraph view for PageRank alone: at
    10,000,000 agents and 100,000,000 edges it takes a fraction of the time and memory of the view plus
    igraph's PRPACK (:func:`pagerank_scores`, kept as the cross-check; they agree to about 1e-13).

Communities
    Leiden (modularity objective, with a resolution), Louvain (``community_multilevel``) or label
    propagation, on the undirected view. Labels are renumbered so community 0 is the largest (or, with
    ``store_analysis(..., keep_ids=True)``, as the terminal UI stores them, matched to the world's
    communities before so that ids stay stable: :func:`match_labels`). An
    isolated agent (no link in either direction; a self-loop is not a link) belongs to no community:
    its community is -1 and it is counted apart (:attr:`Communities.isolated`), not as a community
    of one. Worlds stored before this rule keep their isolated agents' singleton communities until
    analysed again; every reader accepts both.
    All three draw random numbers; they are drawn from ``random.Random(seed)`` installed as
    igraph's generator for the call (igraph's own C generator cannot be seeded), so a seed gives the
    same partition every time.

Stored results
    :func:`store_analysis` writes ``community`` (int32, -1 for isolated agents) and ``influence`` (float32, PageRank
    divided by its maximum) into the world's columns, marks them dirty and keeps a record in
    ``world.config["analysis"]`` (persisted with the world's configuration): what was computed, the maximum PageRank
    (so raw PageRank is ``influence * record["pagerank"]["max"]``, see :func:`raw_pagerank`) and a fingerprint of
    the graph (edge count, an order-free hash of all edges, a bottom-k MinHash sketch) from which
    :func:`analysis_stale` estimates how many follows and unfollows happened since.
"""

from __future__ import annotations

import math
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

import numpy as np

from sim.analysis.paths import NoPathError as NoPathError  # re-exported: sim.lab and agora analyze reach it here
from sim.analysis.paths import path_estimates
from sim.analysis.paths import shortest_path as shortest_path  # re-exported, as NoPathError
from sim.analysis.view import AnalysisCancelled as AnalysisCancelled  # re-exported: raised by analyze
from sim.analysis.view import GraphView, build_view, check_cancel, is_symmetric, report_progress
from sim.analysis.view import igraph_from_arrays as igraph_from_arrays  # re-exported: sim.lab.agents reaches it here
from sim.errors import BadParameterError
from sim.store.analysis_tables import CommunityTable, NoCommunitiesError, community_table  # noqa: F401 (used here and re-exported)

if TYPE_CHECKING:  # pragma: no cover
    from sim.core.graph import Graph
    from sim.core.world import World

Progress = Callable[[str, float], None] | None

METHODS = ("leiden", "louvain", "label-propagation")
#: Share of edge changes (follows + unfollows, relative to the edges analysed) above which the stored
#: analysis is offered again.
STALE_FRACTION = 0.05
SKETCH_SIZE = 512
RECORD_VERSION = 1


# -- influence ---------------------------------------------------------------------------------------


def pagerank_scores(view: GraphView, *, damping: float = 0.85) -> np.ndarray:
    """PageRank of every agent (float64, sums to 1) on the attention graph (PRPACK).

    Dangling agents (who follow nobody) spread their rank uniformly over all agents, as networkx's
    ``pagerank`` does with its defaults; self-loops (which imports drop) would count as links.
    """
    if not 0 < damping < 1:
        raise BadParameterError(f"PageRank damping must be between 0 and 1 (exclusive), got {damping}")
    if view.n == 0:
        return np.empty(0, dtype=np.float64)
    return np.asarray(view.attention.pagerank(damping=damping, directed=True), dtype=np.float64)


def pagerank_csr(
    graph: Graph,
    *,
    damping: float = 0.85,
    tol: float = 1e-10,
    max_iter: int = 1000,
    progress: Progress = None,
    cancel: threading.Event | None = None,
) -> np.ndarray:
    """PageRank of every agent (float64, sums to 1) by power iteration straight on the world's CSR arrays.

    The same PageRank as :func:`pagerank_scores` (attention graph follower -> followed, dangling agents
    spreading their rank uniformly), without building an igraph view: a walker at ``u`` moves to one of
    the agents ``u`` follows, so ``x'[v] = d * sum(x[u] / follows(u) for u in followers(v)) + teleport``,
    one sparse matrix-vector product over the out-CSR (row ``v`` lists ``v``'s followers) per iteration.
    Iterates until the L1 change is below ``tol`` (about 55 iterations). At 10,000,000 agents and
    100,000,000 edges this takes a fraction of the time and memory of the igraph view plus PRPACK
    (``agora bench world``); the results agree to about 1e-13.

    Raises:
        BadParameterError: ``damping`` is not strictly between 0 and 1.
        AnalysisCancelled: ``cancel`` was set (checked every iteration).
    """
    import scipy.sparse as sp  # noqa: PLC0415 - heavy (~0.5 s to import), needed only here

    if not 0 < damping < 1:
        raise BadParameterError(f"PageRank damping must be between 0 and 1 (exclusive), got {damping}")
    n, e = graph.n, graph.num_edges
    if n == 0:
        return np.empty(0, dtype=np.float64)
    idx = np.int32 if max(n, e) < 2**31 - 1 else np.int64
    indices = graph.out_indices.astype(idx, copy=False)  # int32 indices are used as they are, not copied
    ones = np.ones(e, dtype=np.float64)  # float64 like the vector: scipy would otherwise cast it every product
    # Row blocks of about equal edge counts, multiplied in threads (scipy releases the GIL): views of the
    # arrays, only the small offset arrays are new.
    parts = max(1, min(os.cpu_count() or 1, 4, e // 1_000_000))
    cuts = np.unique(np.r_[0, np.searchsorted(graph.out_indptr, np.arange(1, parts) * e // parts), n])
    blocks = []
    for r0, r1 in zip(cuts[:-1].tolist(), cuts[1:].tolist()):
        e0, e1 = int(graph.out_indptr[r0]), int(graph.out_indptr[r1])
        ptr = (graph.out_indptr[r0 : r1 + 1] - e0).astype(idx)
        blocks.append((r0, r1, sp.csr_matrix((ones[e0:e1], indices[e0:e1], ptr), shape=(r1 - r0, n), copy=False)))
    follows = np.diff(graph.in_indptr).astype(np.float64)
    dangling = follows == 0
    share = np.divide(1.0, follows, out=np.zeros(n), where=~dangling)
    del follows
    x = np.full(n, 1.0 / n)
    nxt = np.empty(n)
    pool = ThreadPoolExecutor(len(blocks)) if len(blocks) > 1 else None

    def product(block: tuple[int, int, Any], y: np.ndarray) -> None:
        r0, r1, m = block
        nxt[r0:r1] = m @ y

    try:
        for it in range(1, max_iter + 1):
            check_cancel(cancel)
            y = x * share
            if pool is None:
                product(blocks[0], y)
            else:
                list(pool.map(product, blocks, [y] * len(blocks)))
            nxt *= damping
            nxt += (damping * float(x[dangling].sum()) + (1.0 - damping)) / n
            change = float(np.abs(nxt - x).sum())
            x, nxt = nxt, x
            report_progress(progress, "pagerank", min(0.95, it / 60))
            if change < tol:
                break
    finally:
        if pool is not None:
            pool.shutdown()
    x /= x.sum()
    return x


def coreness(view: GraphView) -> np.ndarray:
    """k-core number of every agent on the undirected view (int32)."""
    return np.asarray(view.undirected.coreness(), dtype=np.int32)


def degrees(world: World) -> tuple[np.ndarray, np.ndarray]:
    """``(in_degree, out_degree)`` of every agent in the world's edge direction: ``in_degree`` counts
    the agents it follows (edges into it), ``out_degree`` its followers (edges out of it)."""
    return world.graph.in_degree(), world.graph.out_degree()


def influence_ranking(
    world: World, pr: np.ndarray, *, top: int = 10, core: np.ndarray | None = None
) -> list[dict[str, Any]]:
    """The ``top`` agents by PageRank (ties by lower index) with their degrees, as plain dicts."""
    k = min(int(top), world.n)
    if k <= 0:
        return []
    idx = np.argpartition(-pr, k - 1)[:k] if k < pr.size else np.arange(pr.size)
    idx = idx[np.lexsort((idx, -pr[idx]))]
    indeg, outdeg = degrees(world)
    comm = world.columns["community"]
    rows = []
    for rank, i in enumerate(idx.tolist(), 1):
        row = {
            "rank": rank,
            "id": int(world.columns["ids"][i]),
            "name": world.persona(i).name,
            "pagerank": float(pr[i]),
            "followers": int(outdeg[i]),
            "follows": int(indeg[i]),
            "community": int(comm[i]),
        }
        if core is not None:
            row["coreness"] = int(core[i])
        rows.append(row)
    return rows


# -- communities -------------------------------------------------------------------------------------

_RNG_LOCK = threading.Lock()


@contextmanager
def seeded_igraph_rng(seed: int) -> Iterator[None]:
    """Install ``random.Random(seed)`` as igraph's random generator for the block (igraph's generator
    is process-global, so calls are serialised), then restore python-igraph's default (``random``)."""
    import igraph as ig  # noqa: PLC0415 - heavy (~0.5 s to import), needed only for analysis

    with _RNG_LOCK:
        ig.set_random_number_generator(random.Random(int(seed)))
        try:
            yield
        finally:
            ig.set_random_number_generator(random)


def relabel_by_size(membership: np.ndarray) -> np.ndarray:
    """Renumber community labels so that 0 is the largest community (ties: lower old label first).

    Negative labels (agents in no community) become -1; labels no agent carries are dropped, so the
    communities are numbered 0 to ``count - 1`` without gaps.
    """
    m = np.asarray(membership, dtype=np.int64)
    if m.size == 0:
        return m.astype(np.int32)
    member = m >= 0
    if not member.any():
        return np.full(m.shape, -1, dtype=np.int32)
    sizes = np.bincount(m[member])
    # Empty labels sort last (stable), so the labels in use take the ranks 0..count-1.
    order = np.argsort(-sizes, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    out = np.full(m.shape, -1, dtype=np.int32)
    out[member] = rank[m[member]]
    return out


def match_labels(previous: np.ndarray, detected: np.ndarray) -> tuple[np.ndarray, int]:
    """Renumber detected communities so that ids stay what they were: a detected community takes the id
    of the previous community that most of its members were in, when more than half of them were (of
    two detected communities with the same such majority, the one with more of its members wins; ties:
    the lower detected label); every other detected community gets a new id above every previous one,
    in the order of its detected label (largest first after :func:`relabel_by_size`). An id whose
    community is gone is not given to another. Negative labels (no community) stay -1.

    Vectorised: one ``unique`` over (detected, previous) pairs of the agents in a community in both.

    Args:
        previous: the community of each agent before (planted, or an earlier detection; -1: none).
        detected: the detected community of each agent (-1: none), the same length.

    Returns:
        The renumbered labels (int32) and how many detected communities kept a previous id.

    Raises:
        ValueError: the two labelings have different lengths.
    """
    prev = np.asarray(previous, dtype=np.int64)
    det = np.asarray(detected, dtype=np.int64)
    if prev.shape != det.shape:
        raise ValueError("previous and detected labelings must have the same length")
    out = np.full(det.shape, -1, dtype=np.int32)
    member = det >= 0
    if not member.any():
        return out, 0
    k_det = int(det.max()) + 1
    det_size = np.bincount(det[member], minlength=k_det)
    mapping = np.full(k_det, -1, dtype=np.int64)
    both = member & (prev >= 0)
    if both.any():
        k_prev = int(prev.max()) + 1
        keys, overlap = np.unique(det[both] * k_prev + prev[both], return_counts=True)
        d, p = keys // k_prev, keys % k_prev
        majority = 2 * overlap > det_size[d]  # at most one previous community per detected one
        d, p, overlap = d[majority], p[majority], overlap[majority]
        # One detected community per previous id: the largest overlap, then the lower detected label.
        order = np.lexsort((d, -overlap, p))
        d, p = d[order], p[order]
        first = np.ones(p.size, dtype=bool)
        first[1:] = p[1:] != p[:-1]
        mapping[d[first]] = p[first]
    kept = int(np.count_nonzero(mapping >= 0))
    used = det_size > 0
    fresh = used & (mapping < 0)
    start = int(prev.max(initial=-1)) + 1
    mapping[fresh] = start + np.arange(int(np.count_nonzero(fresh)))
    out[member] = mapping[det[member]]
    return out, kept


@dataclass(eq=False)
class Communities:
    """A partition of the linked agents: ``membership`` int32, community 0 the largest, -1 for an
    isolated agent (no link in either direction), which belongs to no community."""

    membership: np.ndarray
    method: str
    resolution: float
    seed: int
    modularity: float
    seconds: float

    @property
    def sizes(self) -> np.ndarray:
        """Members of each community (isolated agents not counted), largest first."""
        m = self.membership
        return np.bincount(m[m >= 0]) if m.size else np.zeros(0, dtype=np.int64)

    @property
    def count(self) -> int:
        """Number of communities; isolated agents are not communities (see :attr:`isolated`)."""
        return int(self.sizes.size)

    @property
    def isolated(self) -> int:
        """Number of isolated agents: no link in either direction, community -1."""
        return int(np.count_nonzero(self.membership < 0))

    def summary(self, top: int = 10) -> dict[str, Any]:
        sizes = self.sizes
        return {
            "count": self.count,
            "count_size_2_plus": int(np.count_nonzero(sizes >= 2)),
            "isolated": self.isolated,
            "modularity": round(float(self.modularity), 6),
            "method": self.method,
            "resolution": self.resolution,
            "seed": self.seed,
            "largest": sizes[:top].tolist(),
            "seconds": round(self.seconds, 3),
        }


def isolated_text(isolated: int) -> str:
    """``"7,512 isolated agents with no links"`` (``"1 isolated agent ..."``)."""
    return f"{isolated:,} isolated {'agent' if isolated == 1 else 'agents'} with no links"


def communities_line(count: int, modularity: float, isolated: int | None) -> str:
    """``"12 communities (modularity 0.610) · 7,512 isolated agents with no links"``: how the TUI
    reports a partition (``isolated`` None, a record stored before isolated agents were counted
    apart: left out)."""
    text = f"{count:,} {'community' if count == 1 else 'communities'} (modularity {modularity:.3f})"
    if isolated is not None:
        text += " · " + isolated_text(isolated)
    return text


def modularity(view: GraphView, membership: np.ndarray, *, resolution: float = 1.0) -> float:
    """Newman modularity of a partition on the undirected view (``resolution`` 1 is the classic Q).

    Agents labelled -1 (isolated) are given singleton labels for igraph; an agent without links adds
    nothing to Q whatever its label, so Q is the same as for the partition with them as singletons.
    """
    if view.undirected.ecount() == 0:
        return 0.0
    m = np.asarray(membership, dtype=np.int64)
    none = m < 0
    if none.any():
        m = m.copy()
        m[none] = int(m.max(initial=-1)) + 1 + np.arange(int(np.count_nonzero(none)))
    return float(view.undirected.modularity(m.tolist(), resolution=resolution))


def linked_agents(view: GraphView) -> np.ndarray:
    """Whether each agent has a link in either direction (bool): undirected degree above 0 on the view,
    which leaves self-loops out, so an agent whose only edge is to itself is isolated."""
    if view.n == 0:
        return np.zeros(0, dtype=bool)
    return np.asarray(view.undirected.degree(), dtype=np.int64) > 0


def detect_communities(
    view: GraphView,
    *,
    method: str = "leiden",
    resolution: float = 1.0,
    seed: int = 0,
    iterations: int = 2,
    progress: Progress = None,
    cancel: threading.Event | None = None,
) -> Communities:
    """Communities of the undirected view.

    ``leiden`` optimises modularity with the given resolution (higher: more, smaller communities) for
    ``iterations`` rounds (negative: until stable); ``louvain`` is igraph's multilevel algorithm with
    the same resolution; ``label-propagation`` ignores the resolution. An agent without links (an
    isolated agent: undirected degree 0, self-loops not counted) belongs to no community and gets -1;
    communities are numbered among linked agents only. ``modularity`` is the classic Q (resolution 1)
    of the result, where isolated agents add nothing.
    """
    if method not in METHODS:
        raise BadParameterError(f"unknown community method {method!r}: use one of {', '.join(METHODS)}")
    if not (math.isfinite(resolution) and resolution > 0):
        raise BadParameterError(f"resolution must be a finite number above 0, got {resolution}")
    check_cancel(cancel)
    report_progress(progress, f"communities ({method})", 0.0)
    t0 = time.perf_counter()
    g = view.undirected
    if view.n == 0:
        membership = np.empty(0, dtype=np.int32)
    else:
        with seeded_igraph_rng(seed):
            if method == "leiden":
                cl = g.community_leiden(objective_function="modularity", resolution=resolution, n_iterations=iterations)
            elif method == "louvain":
                cl = g.community_multilevel(resolution=resolution)
            else:
                cl = g.community_label_propagation()
        labels = np.asarray(cl.membership, dtype=np.int64)
        labels[~linked_agents(view)] = -1  # each would otherwise be a community of one
        membership = relabel_by_size(labels)
    seconds = time.perf_counter() - t0
    report_progress(progress, f"communities ({method})", 1.0)
    q = modularity(view, membership) if membership.size else 0.0
    return Communities(
        membership=membership,
        method=method,
        resolution=float(resolution),
        seed=int(seed),
        modularity=q,
        seconds=seconds,
    )


def nmi(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised mutual information of two labelings, ``2 I(A;B) / (H(A) + H(B))`` (numpy only).

    Returns 1.0 when both labelings are a single block.
    """
    a = np.unique(np.asarray(a), return_inverse=True)[1].ravel().astype(np.int64)
    b = np.unique(np.asarray(b), return_inverse=True)[1].ravel().astype(np.int64)
    if a.shape != b.shape:
        raise ValueError("labelings must have the same length")
    n = a.size
    if n == 0:
        return 1.0
    joint_keys, joint_counts = np.unique(a * (int(b.max()) + 1) + b, return_counts=True)
    pa = np.bincount(a) / n
    pb = np.bincount(b) / n
    pab = joint_counts / n
    ia = joint_keys // (int(b.max()) + 1)
    ib = joint_keys % (int(b.max()) + 1)
    mi = float(np.sum(pab * np.log(pab / (pa[ia] * pb[ib]))))
    ha = float(-np.sum(pa * np.log(pa)))
    hb = float(-np.sum(pb * np.log(pb)))
    if ha + hb == 0:
        return 1.0
    return max(0.0, 2.0 * mi / (ha + hb))


# -- structure ---------------------------------------------------------------------------------------


def clustering(view: GraphView) -> dict[str, float]:
    """Global clustering (transitivity) and the average local clustering coefficient on the undirected
    view; agents with fewer than two neighbours count as 0 in the average (networkx's convention)."""
    g = view.undirected
    if g.ecount() == 0:
        return {"global": 0.0, "average_local": 0.0}
    glob = g.transitivity_undirected()
    return {
        "global": float(glob) if glob == glob else 0.0,
        "average_local": float(g.transitivity_avglocal_undirected(mode="zero")),
    }


def _component_summary(sizes: list[int], n: int) -> dict[str, Any]:
    s = np.asarray(sizes, dtype=np.int64)
    largest = int(s.max()) if s.size else 0
    return {
        "count": int(s.size),
        "largest": largest,
        "largest_share": round(largest / n, 6) if n else 0.0,
        "isolated": int(np.count_nonzero(s == 1)),
    }


def components(view: GraphView) -> dict[str, Any]:
    """Weakly and strongly connected components: count, largest size and share, single agents."""
    weak = view.undirected.connected_components(mode="weak").sizes() if view.n else []
    if view.directed is None:
        strong = weak
    else:
        strong = view.directed.connected_components(mode="strong").sizes()
    return {"weak": _component_summary(weak, view.n), "strong": _component_summary(strong, view.n)}


def _log2_histogram(d: np.ndarray) -> list[list[int]]:
    """``[[lo, hi, count], ...]`` with bins 0, 1, 2-3, 4-7, ... (empty bins left out)."""
    d = np.asarray(d, dtype=np.int64)
    bins = np.zeros(d.shape, dtype=np.int64)
    pos = d > 0
    bins[pos] = np.floor(np.log2(d[pos])).astype(np.int64) + 1
    counts = np.bincount(bins) if d.size else np.zeros(0, dtype=np.int64)
    out = []
    for b, c in enumerate(counts.tolist()):
        if c:
            lo, hi = (0, 0) if b == 0 else (1 << (b - 1), (1 << b) - 1)
            out.append([lo, hi, c])
    return out


def degree_distribution(world: World) -> dict[str, Any]:
    """Followers (out-degree) and follows (in-degree): mean, median, 99th percentile, maximum, agents
    with none, and a log2-binned histogram."""
    indeg, outdeg = degrees(world)
    out: dict[str, Any] = {}
    for key, d in (("followers", outdeg), ("follows", indeg)):
        if d.size == 0:
            out[key] = {"mean": 0.0, "median": 0.0, "p99": 0.0, "max": 0, "zero": 0, "histogram": []}
            continue
        out[key] = {
            "mean": round(float(d.mean()), 4),
            "median": float(np.median(d)),
            "p99": float(np.percentile(d, 99)),
            "max": int(d.max()),
            "zero": int(np.count_nonzero(d == 0)),
            "histogram": _log2_histogram(d),
        }
    return out


# -- fingerprint and staleness -----------------------------------------------------------------------

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, in place on a uint64 array (wrapping arithmetic)."""
    x ^= x >> np.uint64(30)
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


def fingerprint(world: World, *, k: int = SKETCH_SIZE, progress: Progress = None) -> dict[str, Any]:
    """A fingerprint of the follower graph: agents, edges, an order-free 64-bit hash of all edges (by
    original ids) and the ``k`` smallest 63-bit edge hashes (a bottom-k MinHash sketch)."""
    g = world.graph
    ids = world.columns["ids"].view(np.uint64)
    total = np.uint64(0)
    cands: list[np.ndarray] = []
    chunk = 1 << 20
    indptr = g.out_indptr
    with np.errstate(over="ignore"):
        for s in range(0, g.num_edges, chunk):
            e = min(g.num_edges, s + chunk)
            lo = int(np.searchsorted(indptr, s, side="right")) - 1
            hi = int(np.searchsorted(indptr, e, side="left"))
            counts = np.diff(np.clip(indptr[lo : hi + 1], s, e))
            src = np.repeat(np.arange(lo, hi, dtype=np.int64), counts)
            h = _mix64(ids[src])
            h += ids[g.out_indices[s:e]]
            h = _mix64(h)
            total += np.add.reduce(h, dtype=np.uint64)
            h >>= np.uint64(1)
            cands.append(np.partition(h, k - 1)[:k] if h.size > k else h)
            if progress is not None:
                progress("fingerprint", e / g.num_edges)
    sketch = np.concatenate(cands) if cands else np.empty(0, dtype=np.uint64)
    sketch = np.unique(sketch)[:k]
    return {
        "agents": int(world.n),
        "edges": int(g.num_edges),
        "edge_hash": f"{int(total):016x}",
        "sketch": [int(x) for x in sketch.tolist()],
    }


def changed_fraction(old: dict[str, Any], new: dict[str, Any]) -> float:
    """Estimated edge changes (follows plus unfollows) between two fingerprints, relative to the old
    edge count: ``|A xor B| / |A|``, from the MinHash estimate of the Jaccard similarity ``J`` and
    ``|A u B| = (|A| + |B|) / (1 + J)``."""
    if (
        old.get("edge_hash") == new.get("edge_hash")
        and old.get("edges") == new.get("edges")
        and old.get("agents") == new.get("agents")
    ):
        return 0.0
    ea, eb = int(old.get("edges", 0)), int(new.get("edges", 0))
    if ea == 0:
        return 0.0 if eb == 0 else math.inf
    a, b = set(old.get("sketch") or []), set(new.get("sketch") or [])
    k = min(len(a), len(b))
    if k == 0:
        return math.inf
    union = sorted(a | b)[:k]
    j = sum(1 for x in union if x in a and x in b) / len(union)
    return (ea + eb) * (1 - j) / ((1 + j) * ea)


def analysis_record(world: World) -> dict[str, Any] | None:
    """The record of the last stored analysis (``world.config["analysis"]``), or None."""
    rec = world.config.get("analysis")
    return rec if isinstance(rec, dict) else None


def analysis_stale(world: World, *, threshold: float = STALE_FRACTION, current: dict[str, Any] | None = None) -> bool:
    """Whether analysis should be offered again: none stored yet, the stored one lacks communities or
    PageRank, the agent count changed, or more than ``threshold`` edge changes (follows plus
    unfollows, relative to the edges then) happened since. Costs one pass over the edges."""
    rec = analysis_record(world)
    if rec is None or not rec.get("communities") or not rec.get("pagerank"):
        return True
    old = rec.get("graph") or {}
    if old.get("agents") != world.n:
        return True
    # A part computed on an older graph (e.g. only PageRank rerun since) makes the whole stale.
    if any(rec[part].get("edge_hash") != old.get("edge_hash") for part in ("pagerank", "communities")):
        return True
    cur = current if current is not None else fingerprint(world)
    return changed_fraction(old, cur) > threshold


# -- the whole analysis --------------------------------------------------------------------------------


@dataclass(eq=False)
class AnalysisResult:
    """What :func:`analyze` computed; arrays are per agent (internal index)."""

    agents: int
    edges: int
    pagerank: np.ndarray | None = None
    communities: Communities | None = None
    coreness: np.ndarray | None = None
    structure: dict[str, Any] | None = None
    fingerprint: dict[str, Any] = field(default_factory=dict)
    symmetric: bool = True
    damping: float = 0.85
    seconds: dict[str, float] = field(default_factory=dict)


class AnalysisOptions(TypedDict, total=False):
    """The keywords :func:`analyze` takes: the fields of :class:`Analyses`."""

    pagerank: bool
    communities: bool
    structure: bool
    method: str
    resolution: float
    seed: int
    damping: float
    path_samples: int


@dataclass(frozen=True)
class Analyses:
    """What one :func:`analyze` computes, and how: PageRank (with ``damping``), communities (by ``method`` at
    ``resolution``, seeded by ``seed``) and the structure (k-cores, clustering, components, the degree
    distribution and path lengths from ``path_samples`` seeded sources). Checked when made.

    Raises:
        BadParameterError: an unknown method or a resolution out of range.
    """

    pagerank: bool = True
    communities: bool = True
    structure: bool = False
    method: str = "leiden"
    resolution: float = 1.0
    seed: int = 0
    damping: float = 0.85
    path_samples: int = 16

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise BadParameterError(f"unknown community method {self.method!r}: use one of {', '.join(METHODS)}")
        if not (math.isfinite(self.resolution) and self.resolution > 0):
            raise BadParameterError(f"resolution must be a finite number above 0, got {self.resolution}")


def analyze(
    world: World,
    request: Analyses | None = None,
    *,
    view: GraphView | None = None,
    progress: Progress = None,
    cancel: threading.Event | None = None,
    **options: Unpack[AnalysisOptions],
) -> AnalysisResult:
    """Run the requested analyses on ``world`` (read-only; see :func:`store_analysis` to keep them): the
    ``request``, or one made of the keywords (``analyze(world, structure=True)``; :class:`Analyses`).

    ``structure`` adds k-core numbers, clustering, components, the degree distribution and sampled
    path lengths. ``seconds`` holds the time of every phase.

    Raises:
        AnalysisCancelled: ``cancel`` was set (checked between phases).
        BadParameterError: an unknown method or a resolution out of range.
    """
    if request is not None and options:
        raise TypeError("analyze takes an Analyses or its fields as keywords, not both")
    what = request if request is not None else Analyses(**options)
    res = AnalysisResult(agents=world.n, edges=world.num_edges, damping=float(what.damping))
    secs = res.seconds

    def phase(name: str) -> Any:
        check_cancel(cancel)
        return _Timer(secs, name)

    with phase("fingerprint"):
        res.fingerprint = fingerprint(world, progress=progress)
    if what.pagerank:  # straight on the CSR arrays: PageRank alone needs no igraph view
        with phase("pagerank"):
            report_progress(progress, "pagerank", 0.0)
            res.pagerank = pagerank_csr(world.graph, damping=what.damping, progress=progress, cancel=cancel)
            report_progress(progress, "pagerank", 1.0)
    if view is None and (what.communities or what.structure):
        with phase("build_view"):
            view = build_view(world, progress=progress, cancel=cancel)
    res.symmetric = view.symmetric if view is not None else is_symmetric(world.graph)
    if what.communities:
        assert view is not None  # built above
        with phase("communities"):
            res.communities = detect_communities(
                view, method=what.method, resolution=what.resolution, seed=what.seed, progress=progress, cancel=cancel
            )
    if what.structure:
        assert view is not None  # built above
        st: dict[str, Any] = {}
        with phase("coreness"):
            report_progress(progress, "k-core", 0.0)
            res.coreness = coreness(view)
            st["coreness"] = {
                "max": int(res.coreness.max()) if res.coreness.size else 0,
                "mean": round(float(res.coreness.mean()), 4) if res.coreness.size else 0.0,
            }
        with phase("clustering"):
            report_progress(progress, "clustering", 0.0)
            st["clustering"] = clustering(view)
        with phase("components"):
            report_progress(progress, "components", 0.0)
            st["components"] = components(view)
        with phase("degree_distribution"):
            st["degree_distribution"] = degree_distribution(world)
        with phase("path_lengths"):
            st["paths"] = path_estimates(
                view, samples=what.path_samples, seed=what.seed, progress=progress, cancel=cancel, graph=world.graph
            )
        res.structure = st
    check_cancel(cancel)
    return res


class _Timer:
    def __init__(self, out: dict[str, float], name: str) -> None:
        self.out, self.name = out, name

    def __enter__(self) -> _Timer:
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.out[self.name] = round(time.perf_counter() - self.t0, 3)


# -- the communities table -----------------------------------------------------------------------------


# -- keeping results in the world ----------------------------------------------------------------------


def store_analysis(world: World, result: AnalysisResult, *, keep_ids: bool = False) -> CommunityTable | None:
    """Write the result into the world: ``community`` (int32, 0 the largest, -1 for an isolated agent)
    and ``influence`` (float32, PageRank over its maximum) columns, marked dirty, and the record in
    ``world.config["analysis"]`` (its ``communities`` part holds ``count`` and ``isolated``). Returns
    the communities table (None when no community is known, e.g. a world without links).

    With ``keep_ids`` the detected communities are renumbered by :func:`match_labels` against the
    world's communities before (planted, or an earlier detection), so a community keeps its id; ids are
    then not ordered by size and may have gaps (a community that disappeared), and the record says
    ``"ids": "kept"`` with ``kept`` (communities that kept an id) and ``first_new`` (the lowest new id).

    Call it on the thread that owns the world (e.g. the event loop after ``to_thread(analyze, ...)``).
    """
    if result.agents != world.n or result.edges != world.num_edges:
        raise BadParameterError("the analysis result belongs to a different graph: analyse this world again")
    prev = analysis_record(world) or {}
    rec: dict[str, Any] = {
        "version": RECORD_VERSION,
        "time": time.time(),
        "tick": world.tick,
        "graph": result.fingerprint,
        "symmetric": result.symmetric,
        "pagerank": prev.get("pagerank"),
        "communities": prev.get("communities"),
    }
    if result.pagerank is not None:
        pr = result.pagerank
        top = float(pr.max()) if pr.size else 0.0
        world.columns["influence"] = (pr / top if top > 0 else np.zeros_like(pr)).astype(np.float32)
        world.dirty_arrays.add("agent.influence")
        rec["pagerank"] = {
            "max": top,
            "damping": result.damping,
            "tick": world.tick,
            "edge_hash": result.fingerprint.get("edge_hash"),
        }
    if result.communities is not None:
        c = result.communities
        membership = c.membership.astype(np.int32)
        ids: dict[str, Any] = {}
        if keep_ids:
            before = world.columns["community"]
            membership, kept = match_labels(before, membership)
            ids = {"ids": "kept", "kept": kept, "first_new": int(before.max(initial=-1)) + 1}
        world.columns["community"] = membership
        world.dirty_arrays.add("agent.community")
        rec["communities"] = {
            "method": c.method,
            "resolution": c.resolution,
            "seed": c.seed,
            "count": c.count,
            "isolated": c.isolated,
            "modularity": c.modularity,
            "tick": world.tick,
            "edge_hash": result.fingerprint.get("edge_hash"),
            **ids,
        }
    world.config["analysis"] = rec
    if world.columns["community"].max(initial=-1) < 0:
        return None
    return community_table(world)


def raw_pagerank(world: World) -> np.ndarray | None:
    """PageRank of every agent recovered from the stored influence column (float32 precision), or
    None when no PageRank has been stored."""
    rec = analysis_record(world)
    pr = (rec or {}).get("pagerank")
    if not pr:
        return None
    return world.columns["influence"].astype(np.float64) * float(pr["max"])


# -- communities meet propagation ----------------------------------------------------------------------


def session_seeds(session: Any) -> np.ndarray:
    """Indices of a started session's seeds: adopted at the start tick from no one."""
    at, frm = session.adopted_at, session.adopted_from
    if session.started_tick is None or at.size == 0:
        return np.empty(0, dtype=np.int64)
    mask = at == session.started_tick
    if frm.size == at.size:
        mask &= frm < 0
    return np.flatnonzero(mask)


def session_community_stats(world: World, session: Any, membership: np.ndarray | None = None) -> dict[str, Any]:
    """How one propagation session spread over the communities (or over the groups of ``membership``: each
    agent's group, -1 none, e.g. a category's codes).

    Per community (arrays indexed by community id): ``size``, ``adopted`` (members that adopted),
    ``share`` (adopted / size), ``first_tick`` (the tick the community was first reached: the earliest
    adoption among its members, -1 if never). Plus the ``home`` community (the most common community
    of the seeds, -1 without seeds), ``left_home_tick`` (first adoption outside home, -1 if never) and
    ``reached`` (communities with at least one adopter).

    Raises:
        NoCommunitiesError: the world has no communities.
    """
    comm = np.asarray(world.columns["community"] if membership is None else membership).astype(np.int64)
    if comm.size == 0 or comm.max() < 0:
        raise NoCommunitiesError("this world has no communities yet: run 'agora analyze WORLD' first")
    c_count = int(comm.max()) + 1
    valid = comm >= 0
    size = np.bincount(comm[valid], minlength=c_count)
    at = np.asarray(session.adopted_at)
    if at.size != world.n:  # not started yet
        at = np.full(world.n, -1, dtype=np.int32)
    adopted_mask = (at >= 0) & valid
    ac = comm[adopted_mask]
    at_adopted = at[adopted_mask].astype(np.int64)
    adopted = np.bincount(ac, minlength=c_count)
    share = np.divide(adopted, size, out=np.zeros(c_count), where=size > 0)
    big = np.iinfo(np.int64).max
    first = np.full(c_count, big, dtype=np.int64)
    np.minimum.at(first, ac, at_adopted)
    first[first == big] = -1
    seeds = session_seeds(session)
    seeds = seeds[valid[seeds]] if seeds.size else seeds
    home = int(np.argmax(np.bincount(comm[seeds], minlength=c_count))) if seeds.size else -1
    outside = at_adopted[ac != home] if home >= 0 else np.empty(0, dtype=np.int64)
    return {
        "session": getattr(session, "id", None),
        "communities": c_count,
        "size": size,
        "adopted": adopted,
        "share": share,
        "first_tick": first,
        "home": home,
        "left_home_tick": int(outside.min()) if outside.size else -1,
        "reached": int(np.count_nonzero(adopted)),
    }
