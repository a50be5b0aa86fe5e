"""Paths in a world's follower graph: sampled path lengths and a diameter estimate, one shortest path,
the agents around one agent and the edges among a set of agents.

The searches run on the CSR arrays (numpy, or SciPy's C breadth-first search), or on the igraph view
(:mod:`sim.analysis.view`) when one is given.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.analysis.view import GraphView, Progress, check_cancel, report_progress
from sim.core.graph import csr_positions
from sim.errors import AgoraError, BadParameterError

if TYPE_CHECKING:  # pragma: no cover
    from sim.core.graph import Graph
    from sim.core.world import World


class NoPathError(AgoraError):
    """No path joins the two agents."""


def path_estimates(
    view: GraphView,
    *,
    samples: int = 16,
    seed: int = 0,
    sweeps: int = 2,
    directed: bool = False,
    progress: Progress = None,
    cancel: threading.Event | None = None,
    graph: Graph | None = None,
) -> dict[str, Any]:
    """Sampled average shortest-path length and a diameter estimate.

    A breadth-first search from each of ``samples`` agents drawn (seeded) among agents with a link
    gives the distances from that source to every agent it reaches; ``mean_distance`` is the mean over
    all those reachable pairs. ``diameter_estimate`` is the largest distance seen, improved by
    ``sweeps`` extra searches from the farthest agent found (double sweep); it is a lower bound of the
    true diameter (of the largest component). ``directed`` follows edges the way messages travel.
    The time is ``samples + sweeps`` searches, each linear in the edges.

    With the world's ``graph`` the searches run on its CSR arrays in SciPy's C breadth-first search (about
    three times igraph's, whose search hands back Python lists of every agent); without, on the view.
    """
    if samples < 1:
        raise BadParameterError(f"path samples must be at least 1, got {samples}")
    g = view.undirected
    deg = np.asarray(g.degree(), dtype=np.int64) if view.n else np.zeros(0, dtype=np.int64)
    pool = np.flatnonzero(deg > 0)
    empty = {
        "sources": 0,
        "mean_distance": None,
        "diameter_estimate": 0,
        "pairs": 0,
        "directed": directed,
        "method": "BFS from seeded random sources + double sweep",
    }
    if pool.size == 0:
        return empty
    rng = np.random.default_rng(seed)
    sources = rng.choice(pool, size=min(samples, pool.size), replace=False)
    total_d = 0
    pairs = 0
    diameter = 0
    far_node, far_ecc = int(sources[0]), -1
    runs = int(sources.size) + max(0, sweeps)
    search = _csr_search(graph, view.symmetric, directed) if graph is not None else _igraph_search(view, directed)

    for done, src in enumerate(sources.tolist(), 1):
        check_cancel(cancel)
        level_sizes, last = search(src)
        ecc = level_sizes.size - 1
        total_d += int((np.arange(level_sizes.size, dtype=np.int64) * level_sizes).sum())
        pairs += int(level_sizes[1:].sum())
        if ecc > far_ecc:
            far_ecc, far_node = ecc, last
        report_progress(progress, "path lengths", done / runs)
    diameter = far_ecc
    # Double sweep: the eccentricity of the farthest agent found is a (usually tight) lower bound.
    for i in range(max(0, sweeps)):
        check_cancel(cancel)
        level_sizes, last = search(far_node)
        ecc = level_sizes.size - 1
        report_progress(progress, "path lengths", (sources.size + i + 1) / runs)
        if ecc <= diameter:
            break
        diameter, far_node = ecc, last
    return {
        "sources": int(sources.size),
        "mean_distance": round(total_d / pairs, 4) if pairs else None,
        "diameter_estimate": int(diameter),
        "pairs": pairs,
        "directed": directed,
        "method": "BFS from seeded random sources + double sweep",
    }


def _igraph_search(view: GraphView, directed: bool) -> Callable[[int], tuple[np.ndarray, int]]:
    """Agents per distance from a source, and an agent at the largest distance: igraph's search."""
    if directed and view.directed is not None:
        bg, mode = view.directed, "in"  # world direction on the reversed attention graph
    else:
        bg, mode = view.undirected, "all"

    def search(src: int) -> tuple[np.ndarray, int]:
        vids, layers, _ = bg.bfs(int(src), mode=mode)
        return np.diff(np.asarray(layers, dtype=np.int64)), int(vids[-1])

    return search


def _csr_search(graph: Graph, symmetric: bool, directed: bool) -> Callable[[int], tuple[np.ndarray, int]]:
    """:func:`_igraph_search` on the world's CSR arrays with SciPy's breadth-first order.

    The order lists agents by distance and each agent's parent comes before it, in order of the parents'
    positions: so the agents at distance ``k + 1`` are exactly those whose parent lies among the agents at
    distance ``k``, and each distance's boundary in the order is one binary search."""
    import scipy.sparse as sp  # noqa: PLC0415 - heavy (~0.5 s to import), needed only here
    from scipy.sparse.csgraph import breadth_first_order  # noqa: PLC0415 - heavy (~0.5 s to import), needed only here

    n = graph.n
    ones = np.ones(graph.num_edges, dtype=np.int8)
    m = sp.csr_matrix((ones, graph.out_indices, graph.out_indptr), shape=(n, n))
    if not directed and not symmetric:
        m = (m + m.T).tocsr()  # either direction: the undirected view's edges
    position = np.empty(n, dtype=np.int64)

    def search(src: int) -> tuple[np.ndarray, int]:
        order, parent = breadth_first_order(m, int(src), directed=True, return_predecessors=True)
        position[order] = np.arange(order.size)
        parent_pos = position[parent[order[1:]]]  # nondecreasing along the order
        bounds = [0, 1]
        while bounds[-1] < order.size:
            nxt = 1 + int(np.searchsorted(parent_pos, bounds[-1], side="left"))
            if nxt <= bounds[-1]:  # pragma: no cover - a breadth-first order never leaves a distance empty
                raise RuntimeError("breadth-first order out of sequence")
            bounds.append(nxt)
        return np.diff(np.asarray(bounds, dtype=np.int64)), int(order[-1])

    return search


def _gather(indptr: np.ndarray, indices: np.ndarray, frontier: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    eid, counts = csr_positions(indptr, frontier)
    return np.repeat(frontier, counts), indices[eid].astype(np.int64)


def bfs_parents(
    graph: Graph, source: int, *, target: int | None = None, directed: bool = True, max_depth: int | None = None
) -> np.ndarray:
    """Level-synchronous breadth-first search from ``source`` on the CSR (no Python loop over agents
    or edges: one vectorised gather per level). Returns the parent of every reached agent (int32,
    the source is its own parent, -1 where not reached). ``directed`` follows edges the way messages
    travel (``u -> v``: from ``u`` to its follower ``v``); otherwise both ways. Stops early when
    ``target`` is reached or after ``max_depth`` levels."""
    parent = np.full(graph.n, -1, dtype=np.int32)
    parent[source] = source
    frontier = np.array([source], dtype=np.int64)
    depth = 0
    while frontier.size and (max_depth is None or depth < max_depth):
        src, dst = _gather(graph.out_indptr, graph.out_indices, frontier)
        if not directed:
            s2, d2 = _gather(graph.in_indptr, graph.in_indices, frontier)
            src, dst = np.concatenate([src, s2]), np.concatenate([dst, d2])
        new = parent[dst] < 0
        src, dst = src[new], dst[new]
        frontier, first = np.unique(dst, return_index=True)
        parent[frontier] = src[first]
        depth += 1
        if target is not None and parent[target] >= 0:
            break
    return parent


def shortest_path(world: World, a: int, b: int, *, directed: bool = True, view: GraphView | None = None) -> list[int]:
    """A shortest path from agent ``a`` to agent ``b`` (original ids), as the list of original ids.

    ``directed`` follows edges the way a message travels: from an agent to its followers. With a
    ``view`` igraph's C search is used; otherwise a numpy search on the CSR (no view to build).

    Raises:
        BadParameterError: an id is unknown.
        NoPathError: ``b`` cannot be reached from ``a``.
    """
    ia, ib = world.index_of(a), world.index_of(b)
    ids = world.columns["ids"]
    if ia == ib:
        return [int(ids[ia])]
    if view is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # igraph warns "couldn't reach some vertices"
            if directed and view.directed is not None:
                vs = view.directed.get_shortest_path(ia, to=ib, mode="in")
            else:
                vs = view.undirected.get_shortest_path(ia, to=ib, mode="all")
        if not vs:
            raise NoPathError(_no_path(a, b, directed))
        return ids[np.asarray(vs, dtype=np.int64)].tolist()
    parent = bfs_parents(world.graph, ia, target=ib, directed=directed)
    if parent[ib] < 0:
        raise NoPathError(_no_path(a, b, directed))
    path = [ib]
    while path[-1] != ia:  # walks the path only (its length), not the graph
        path.append(int(parent[path[-1]]))
    return ids[np.asarray(path[::-1], dtype=np.int64)].tolist()


def _no_path(a: int, b: int, directed: bool) -> str:
    if directed:
        return (
            f"agent {b} cannot be reached from agent {a} along follow links (the way messages travel): "
            "try ignoring direction (--undirected)"
        )
    return f"agents {a} and {b} are not connected: they lie in different components of the network"


def ego_agents(world: World, agent: int, radius: int) -> np.ndarray:
    """Indices (sorted) of the agents within ``radius`` links of ``agent`` (original id), either direction."""
    if radius < 0:
        raise BadParameterError(f"radius must be 0 or more, got {radius}")
    i = world.index_of(agent)
    parent = bfs_parents(world.graph, i, directed=False, max_depth=radius)
    return np.flatnonzero(parent >= 0)


def induced_edges(world: World, agents: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """World edges ``(src, dst, edge_ids)`` with both ends among ``agents`` (indices)."""
    g = world.graph
    member = np.zeros(g.n, dtype=bool)
    member[agents] = True
    frontier = np.asarray(agents, dtype=np.int64)
    starts = g.out_indptr[frontier]
    counts = g.out_indptr[frontier + 1] - starts
    offsets = np.cumsum(counts) - counts
    eid = np.arange(int(counts.sum()), dtype=np.int64) + np.repeat(starts - offsets, counts)
    src = np.repeat(frontier, counts)
    dst = g.out_indices[eid].astype(np.int64)
    keep = member[dst]
    return src[keep], dst[keep], eid[keep]
