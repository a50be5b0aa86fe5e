"""Cascades as objects: the diffusion forest of a session and its shape.

Every adoption has a *parent*, the agent credited as its source (``events.source``, a feed's sharer).
An adoption with no source — a seed, an exogenous adoption, one made by a model's ``start`` — is a root,
so a run is a forest. The measures are those of Goel, Anderson, Hofman and Watts, "The structural
virality of online diffusion" (Management Science 2016) and Vosoughi, Roy and Aral, "The spread of true
and false news online" (Science 2018):

``size``
    agents in the forest, roots included;
``trees``
    the number of roots;
``depth``
    the largest generation (roots are generation 0);
``max_breadth``
    the most agents in one generation;
``structural_virality``
    for one tree of ``n >= 2`` nodes, the mean shortest-path distance over all pairs of nodes,
    ``v(T) = 1/(n(n-1)) * sum_i sum_j d_ij``. Each edge (v, parent) lies on the path of exactly
    ``s_v (n - s_v)`` unordered pairs, where ``s_v`` is the size of the subtree under v, so
    ``v(T) = 2 * sum_v s_v (n - s_v) / (n (n - 1))`` over the non-root nodes: O(n) from subtree sizes,
    never all pairs. For a forest, the size-weighted mean over trees of two or more nodes,
    ``sum_T n_T v(T) / sum_T n_T``; 0 when every tree is a single node.
``by_feed``
    the share of the forest's edges whose adoption came through a feed.

**Which parents count.** A parent counts when it adopted at a tick no later than its child's (an agent
cannot pass on what it has not got). Adoptions in one round may chain (a parent and its child adopting in
the same round, as a sequential schedule does); a cycle of such claims — two agents crediting each other —
cannot be a tree, so the agents of a round whose chain of parents within that round never reaches an agent
of an earlier round or a root (those on the cycle and those hanging from it) become roots. Agents of later
rounds may hang from them. The same rule
holds whether the forest grows round by round (:class:`CascadeTracker`, in a running session) or is
rebuilt afterwards from stored adoptions (:func:`replay`), so both give the same forest.

**Cost.** A running session spends O(new adoptions) per round (two gathers and a ``bincount``); the
measures are computed once, at the end, in O(size + depth) numpy work: generations are known already, and
subtree sizes are summed one generation at a time (a ``bincount`` per generation, children to parents).
For a synchronous model the depth is at most the number of rounds run.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sim.core.stats import mean_ci95

#: The cascade measures of a run, in the order reports list them.
MEASURES = ("size", "trees", "depth", "max_breadth", "structural_virality", "by_feed")
#: The per-tick series measures of the forest (see :class:`CascadeTracker`).
SERIES = ("depth", "breadth")


class CascadeTracker:
    """The forest of a session, grown one round at a time.

    Agents join the forest in adoption order and get positions 0, 1, 2, ...; ``position`` maps an agent
    to its position (-1: not in the forest). Per position the tracker keeps, in buffers that grow by
    doubling, the agent, its generation, its parent's position (-1: a root) and its tree (its root's
    position). An adoption costs one random read (its source's position) — the parent's generation and
    tree are then read from the compact buffers, near the previous round's entries — so :meth:`measures`
    works in adoption order with no sort and no pass over all agents, and :meth:`forest` builds the
    generation-ordered :class:`Forest` when one is wanted (files, the TUI). After each round,
    :meth:`end_round` records the forest's depth so far and its breadth so far (the most agents in one
    generation), the two per-tick series measures."""

    __slots__ = (
        "_agents",
        "_bounds",
        "_chained",
        "_gen",
        "_parent",
        "_level",
        "_roots",
        "_tree",
        "breadth",
        "depth",
        "edges",
        "feed_edges",
        "gen_counts",
        "position",
        "size",
    )

    def __init__(self, n: int) -> None:
        self.position = np.full(int(n), -1, dtype=np.int32)
        cap = 1024
        self._agents: list[np.ndarray] = []  # per add: its agents (the caller's array, not copied)
        self._gen = np.empty(cap, dtype=np.int32)
        self._parent = np.empty(cap, dtype=np.int32)
        self._tree = np.empty(cap, dtype=np.int32)
        self._bounds = [0]  # the positions where each add starts, and the size
        self._roots: list[int] = []  # per add: how many of its agents are roots
        self._level: list[int] = []  # per add: the generation all its agents share, or -1
        self._chained: set[int] = set()  # adds in which a parent joined in the same add
        self.gen_counts = np.zeros(8, dtype=np.int64)
        self.depth: list[int] = []
        self.breadth: list[int] = []
        self.edges = 0
        self.feed_edges = 0
        self.size = 0

    @property
    def generation(self) -> np.ndarray:
        """Each agent's generation, -1 for an agent not in the forest (a new array)."""
        out = np.full(self.position.size, -1, dtype=np.int32)
        out[self._all_agents()] = self._gen[: self.size]
        return out

    @property
    def root(self) -> np.ndarray:
        """Each agent's tree, named by its root agent; -1 for an agent not in the forest (a new array)."""
        out = np.full(self.position.size, -1, dtype=np.int64)
        agents = self._all_agents().astype(np.int64)
        out[agents] = agents[self._tree[: self.size]]
        return out

    def _all_agents(self) -> np.ndarray:
        """The agent at each position."""
        if not self._agents:
            return np.empty(0, dtype=np.int64)
        return np.concatenate(self._agents) if len(self._agents) > 1 else np.asarray(self._agents[0])

    def _reserve(self, k: int) -> None:
        need = self.size + k
        cap = self._gen.size
        if need <= cap:
            return
        while cap < need:
            cap *= 2
        for name in ("_gen", "_parent", "_tree"):
            old = getattr(self, name)
            grown = np.empty(cap, dtype=old.dtype)
            grown[: self.size] = old[: self.size]
            setattr(self, name, grown)

    def add(self, agents: np.ndarray, sources: np.ndarray | None = None, via: np.ndarray | None = None) -> None:
        """One round's first adoptions: ``agents`` (not in the forest yet) crediting ``sources`` (-1: none;
        every source must be in ``-1 .. n-1``: the engine checks a model's answer, :func:`replay` a file's
        rows) and, where ``via`` is given, whether each came through a feed."""
        agents = np.asarray(agents)
        k = agents.size
        if k == 0:
            return
        self._reserve(k)
        start = self.size
        end = start + k
        own = np.arange(start, end, dtype=np.int32)
        # The caller's array is kept when it owns its data (the engine's are fresh each round), else copied.
        self._agents.append(agents if agents.flags.owndata else agents.copy())
        if sources is None:
            self.position[agents] = own
            self._gen[start:end] = 0
            self._parent[start:end] = -1
            self._tree[start:end] = own
            roots = k
        else:
            src = np.asarray(sources)
            pos = self.position[src]  # one random read per adoption (-1 reads the last agent's: masked)
            unsourced = src < 0
            no_source = int(np.count_nonzero(unsourced))
            if no_source:
                pos[unsourced] = -1
            self.position[agents] = own
            linked = pos >= 0
            roots = k - int(np.count_nonzero(linked))
            at = pos.astype(np.intp)  # one conversion for the reads below
            prev_lo = self._bounds[-2] if len(self._bounds) > 1 else 0
            uniform = self._level[-1] if self._level else -1
            if roots:
                self._gen[start:end] = np.where(linked, self._gen[at] + 1, 0)
                self._tree[start:end] = np.where(linked, self._tree[at], own)
            else:
                if uniform >= 0 and int(at.min()) >= prev_lo:
                    # Every parent joined in the previous add, all of one generation (a cascade's round).
                    self._gen[start:end] = uniform + 1
                else:
                    np.add(self._gen.take(at), 1, out=self._gen[start:end])
                self._tree.take(at, out=self._tree[start:end])
            self._parent[start:end] = pos
            if roots > no_source:  # sources not in the forest yet, or joining in this same add
                roots = self._resolve(start, src, pos, unsourced)
            if via is not None and roots < k:
                v = np.asarray(via, dtype=bool)
                if v.any():
                    self.feed_edges += int(np.count_nonzero(v & (self._parent[start:end] >= 0)))
        self.edges += k - roots
        self._roots.append(roots)
        self.size = end
        self._bounds.append(end)
        self._level.append(self._count(self._gen[start:end]))

    def _resolve(self, start: int, src: np.ndarray, pos: np.ndarray, unsourced: np.ndarray) -> int:
        """Sources that adopt in this same add (a sequential schedule), resolved along their chains; a
        cycle, and what hangs from one, stay roots. Returns the add's roots."""
        idx = np.flatnonzero((pos < 0) & ~unsourced)
        ppos = self.position[src[idx]]  # after this add's positions were given
        inside = ppos >= start
        idx, ppos = idx[inside], ppos[inside]
        gen, parent, tree = self._gen, self._parent, self._tree
        if idx.size:
            self._chained.add(len(self._roots))
            gen[start + idx] = -1
            while idx.size:
                pg = gen[ppos]
                ready = pg >= 0
                if not ready.any():
                    break
                done, at = idx[ready], ppos[ready]
                gen[start + done] = pg[ready] + 1
                parent[start + done] = at
                tree[start + done] = tree[at]
                idx, ppos = idx[~ready], ppos[~ready]
            gen[start + idx] = 0  # the cycle, and what hangs from it: roots of their own
        end = start + src.size
        return int(np.count_nonzero(parent[start:end] < 0))

    def _count(self, gens: np.ndarray) -> int:
        """Add ``gens`` to the agents per generation; returns their generation when they share one, else -1."""
        top = int(gens.max())
        single = top == int(gens.min())
        if single and top < self.gen_counts.size:  # one generation (a cascade's round)
            self.gen_counts[top] += gens.size
            return top
        if top >= self.gen_counts.size:
            grown = np.zeros(max(top + 1, 2 * self.gen_counts.size), dtype=np.int64)
            grown[: self.gen_counts.size] = self.gen_counts
            self.gen_counts = grown
        self.gen_counts[: top + 1] += np.bincount(gens, minlength=top + 1)
        return top if single else -1

    def end_round(self) -> None:
        """Record this round's depth and breadth so far (a tick of the series)."""
        nz = np.flatnonzero(self.gen_counts)
        if nz.size:
            self.depth.append(int(nz[-1]))
            self.breadth.append(int(self.gen_counts.max()))
        else:
            self.depth.append(0)
            self.breadth.append(0)

    def forest(self, parents: np.ndarray, adopted_at: np.ndarray | None = None) -> Forest:
        """The forest so far in generation order, with each non-root's parent taken from ``parents`` (the
        session's ``adopted_from``; a root's entry is ignored)."""
        return Forest.build(self.generation, parents, adopted_at, self.feed_edges)

    def measures(self) -> dict[str, Any]:
        """The run's ``cascade`` report, equal to ``forest(...).measures()`` to the last bit but computed in
        adoption order from the buffers: subtree sizes summed from the last add to the first (a ``bincount``
        per add). O(size + adds): no sort and no pass over all agents."""
        size = self.size
        if size == 0:
            return empty_measures()
        parent = self._parent[:size].astype(np.intp)
        gens = self._gen[:size]
        bounds = self._bounds
        # Counts kept as float64: exact below 2**53, and what bincount sums without a conversion.
        subtree = np.ones(size, dtype=np.float64)
        for b in range(len(bounds) - 2, -1, -1):  # children before parents: later adds first
            lo, hi = bounds[b], bounds[b + 1]
            if self._roots[b] == hi - lo:
                continue  # roots only
            for idx in self._groups(b, lo, hi, gens):
                p, sub = parent[idx], subtree[idx]
                if self._roots[b]:
                    linked = p >= 0
                    p, sub = p[linked], sub[linked]
                _scatter_add(subtree, p, sub)
        if self._roots[0] == bounds[1] and not any(self._roots[1:]):
            roots = np.arange(bounds[1])  # the seeds, and no other root
            root_agents = np.asarray(self._agents[0], dtype=np.int64)
        else:
            roots = np.flatnonzero(parent < 0)
            root_agents = self._all_agents()[roots]
        return _measures(
            gens,
            subtree,
            self._tree[:size].astype(np.intp),
            roots,
            root_agents,
            self.gen_counts,
            self.feed_edges,
            self.edges,
            size,
        )

    def _groups(self, b: int, lo: int, hi: int, gens: np.ndarray) -> list[Any]:
        """The positions of add ``b``, children before parents: the whole add at once (a slice), or, where a
        parent joined in the same add, one generation at a time, deepest first (index arrays)."""
        if b not in self._chained:
            return [slice(lo, hi)]
        g = gens[lo:hi]
        return [lo + np.flatnonzero(g == level) for level in sorted(set(g.tolist()), reverse=True)]


def _scatter_add(target: np.ndarray, at: np.ndarray, values: np.ndarray) -> None:
    """``target[at] += values`` with repeats summed: a ``bincount`` over the span of ``at`` when it is
    compact (the parents of one round are mostly the round before's agents), else ``np.add.at``. Counts are
    far below 2**53, so the float weights of ``bincount`` are exact."""
    if not at.size:
        return
    lo, hi = int(at.min()), int(at.max()) + 1
    if hi - lo <= 4 * at.size:
        target[lo:hi] += np.bincount(at - lo, weights=values, minlength=hi - lo)
    else:
        np.add.at(target, at, values)


def empty_measures() -> dict[str, Any]:
    return {
        "size": 0,
        "trees": 0,
        "depth": 0,
        "max_breadth": 0,
        "structural_virality": 0.0,
        "largest_tree": {"size": 0, "depth": 0, "max_breadth": 0, "structural_virality": 0.0},
        "by_feed": 0.0,
    }


def _virality(sizes: np.ndarray, wiener: np.ndarray) -> np.ndarray:
    """Structural virality of trees of ``sizes`` nodes and Wiener index ``wiener`` (integers, exact): the
    mean distance over pairs, ``2 W / (n (n - 1))``; NaN for a single node."""
    n = sizes.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sizes >= 2, 2.0 * wiener.astype(np.float64) / (n * (n - 1.0)), np.nan)


def _measures(
    gens: np.ndarray,
    subtree: np.ndarray,
    tree: np.ndarray,
    roots: np.ndarray,
    root_agents: np.ndarray,
    gen_counts: np.ndarray,
    feed_edges: int,
    edges: int,
    size: int,
) -> dict[str, Any]:
    """The ``cascade`` report from a forest in any node order: each node's generation, subtree size and
    tree (the position of its root), the roots' positions and agents, and the agents per generation. The
    Wiener index of each tree is an exact integer (summed in float64 while every partial sum is below 2**52,
    else in int64) and the forest's virality is summed with ``math.fsum``, so the report is the same
    whatever order the nodes come in."""
    sizes = subtree[roots].astype(np.int64)
    if roots.size == 1:
        w = subtree * (size - subtree)  # the root's own term is 0
        total = float(w.sum())
        wiener = np.array([total])
    else:
        w = subtree * (subtree[tree] - subtree)
        total = float(w.sum())
        wiener = np.bincount(tree, weights=w)[roots]
    if total >= 2**52:  # a float64 no longer holds every partial sum exactly: sum in integers
        wi = subtree.astype(np.int64)
        wi = wi * ((size if roots.size == 1 else wi[tree]) - wi)
        exact = np.zeros(size, dtype=np.int64)
        np.add.at(exact, tree if roots.size > 1 else np.zeros(size, dtype=np.intp), wi)
        wiener = exact[roots] if roots.size > 1 else exact[:1]
    vir = _virality(sizes, wiener)
    big = sizes >= 2
    total = int(sizes[big].sum())
    forest_v = math.fsum((sizes[big] * vir[big]).tolist()) / total if total else 0.0
    # The largest tree: the most agents, then the lowest root agent.
    top = np.flatnonzero(sizes == sizes.max())
    pick = int(top[np.argmin(root_agents[top])]) if top.size > 1 else int(top[0])
    counts = gen_counts[: int(np.flatnonzero(gen_counts)[-1]) + 1]
    if roots.size == 1:
        mine = counts
    else:
        mine = np.bincount(gens[tree == roots[pick]])
    return {
        "size": int(size),
        "trees": int(roots.size),
        "depth": int(counts.size - 1),
        "max_breadth": int(counts.max()),
        "structural_virality": float(forest_v),
        "largest_tree": {
            "size": int(sizes[pick]),
            "depth": int(mine.size - 1),
            "max_breadth": int(mine.max()),
            "structural_virality": 0.0 if not np.isfinite(vir[pick]) else float(vir[pick]),
        },
        "by_feed": min(1.0, feed_edges / edges) if edges else 0.0,
    }


def replay(
    n: int,
    ticks: np.ndarray,
    agents: np.ndarray,
    sources: np.ndarray,
    via: np.ndarray | None = None,
    rounds: int | None = None,
    start: int | None = None,
) -> CascadeTracker:
    """The tracker a session would have built, rebuilt from its stored first adoptions (``ticks`` since
    any origin, ``agents``, ``sources``, ``via``): one :meth:`CascadeTracker.add` per tick, in tick order,
    so the forest and the series are the same as when it grew. With ``start`` and ``rounds``, the series
    has one entry per tick ``start .. start + rounds`` (ticks with no adoption repeat the last values).

    Rows for agents outside ``0..n-1`` and repeated agents (only the first adoption counts) are dropped; a
    source outside ``0..n-1`` counts as none."""
    ticks = np.asarray(ticks, dtype=np.int64)
    agents = np.asarray(agents, dtype=np.int64)
    sources = np.asarray(sources, dtype=np.int64)
    sources = np.where((sources >= 0) & (sources < n), sources, -1)  # a source outside the world: none
    keep = (agents >= 0) & (agents < n)
    order = np.flatnonzero(keep)
    order = order[np.argsort(ticks[order], kind="stable")]
    if order.size:
        _, first = np.unique(agents[order], return_index=True)
        order = order[np.sort(first)]
    t, a, s = ticks[order], agents[order], sources[order]
    v = None if via is None else np.asarray(via, dtype=bool)[order]
    tracker = CascadeTracker(n)
    bounds = np.flatnonzero(np.diff(t)) + 1
    starts = np.concatenate([[0], bounds]) if t.size else np.empty(0, dtype=np.int64)
    ends = np.concatenate([bounds, [t.size]]) if t.size else np.empty(0, dtype=np.int64)
    first_tick = int(start) if start is not None else (int(t[0]) if t.size else 0)
    last_tick = first_tick + int(rounds) if rounds is not None else (int(t[-1]) if t.size else first_tick)
    i = 0
    for tick in range(first_tick, last_tick + 1) if rounds is not None else ():
        while i < starts.size and t[starts[i]] < tick:  # adoptions before the series starts
            lo, hi = starts[i], ends[i]
            tracker.add(a[lo:hi], s[lo:hi], None if v is None else v[lo:hi])
            i += 1
        if i < starts.size and t[starts[i]] == tick:
            lo, hi = starts[i], ends[i]
            tracker.add(a[lo:hi], s[lo:hi], None if v is None else v[lo:hi])
            i += 1
        tracker.end_round()
    for j in range(i, starts.size):  # no series asked for, or adoptions after its last tick
        lo, hi = starts[j], ends[j]
        tracker.add(a[lo:hi], s[lo:hi], None if v is None else v[lo:hi])
        if rounds is None:
            tracker.end_round()
    return tracker


class Forest:
    """A finished forest, ordered by generation: ``agents[i]`` is at ``generation[i]`` and its parent is
    ``agents[parent[i]]`` (``parent[i] == -1`` for a root). ``subtree[i]`` counts the agents under and
    including ``agents[i]``; ``tree[i]`` is the position of its root (roots come first, ``0 .. trees-1``);
    ``bounds[g]:bounds[g+1]`` are the positions of generation ``g``. Positions are int32 (a world has fewer
    than 2**31 agents)."""

    __slots__ = (
        "_adopted_at",
        "agents",
        "bounds",
        "feed_edges",
        "generation",
        "parent",
        "subtree",
        "tree",
    )

    def __init__(
        self,
        agents: np.ndarray,
        generation: np.ndarray,
        parent: np.ndarray,
        subtree: np.ndarray,
        tree: np.ndarray,
        bounds: np.ndarray,
        feed_edges: int = 0,
        adopted_at: np.ndarray | None = None,
    ) -> None:
        self.agents, self.generation, self.parent = agents, generation, parent
        self.subtree, self.tree, self.bounds = subtree, tree, bounds
        self.feed_edges = int(feed_edges)
        self._adopted_at = adopted_at

    @classmethod
    def build(
        cls,
        generation: np.ndarray,
        parents: np.ndarray,
        adopted_at: np.ndarray | None = None,
        feed_edges: int = 0,
    ) -> Forest:
        """The forest of per-agent ``generation`` (-1: not in it) and ``parents`` arrays (length N): a
        non-root's parent is ``parents[agent]``, an agent of the generation before."""
        nodes = np.flatnonzero(generation >= 0).astype(np.int32)
        g = generation[nodes]
        depth = int(g.max()) if g.size else -1
        narrow = g.astype(np.int16) if depth < np.iinfo(np.int16).max else g
        order = np.argsort(narrow, kind="stable")  # a radix sort for 16-bit keys: O(size)
        agents = nodes[order]
        g = g[order]
        counts = np.bincount(g, minlength=depth + 1) if g.size else np.zeros(0, dtype=np.int64)
        bounds = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        size = agents.size
        roots = int(bounds[1]) if depth >= 0 else 0
        position = np.empty(generation.size, dtype=np.int32)
        position[agents] = np.arange(size, dtype=np.int32)
        parent = np.full(size, -1, dtype=np.int32)
        parent[roots:] = position[parents[agents[roots:]]]
        del position
        subtree = np.ones(size, dtype=np.int64)
        for level in range(depth, 0, -1):  # children to parents, one generation at a time
            lo, hi = bounds[level], bounds[level + 1]
            plo, phi = bounds[level - 1], bounds[level]
            subtree[plo:phi] += np.bincount(
                parent[lo:hi] - plo, weights=subtree[lo:hi], minlength=int(phi - plo)
            ).astype(np.int64)
        tree = np.empty(size, dtype=np.int32)
        tree[:roots] = np.arange(roots, dtype=np.int32)
        for level in range(1, depth + 1):
            lo, hi = bounds[level], bounds[level + 1]
            tree[lo:hi] = tree[parent[lo:hi]]
        return cls(agents, g, parent, subtree, tree, bounds, int(feed_edges), adopted_at)

    @property
    def ticks(self) -> np.ndarray | None:
        """Each node's adoption tick (None when the forest was built without ``adopted_at``)."""
        return None if self._adopted_at is None else np.asarray(self._adopted_at)[self.agents]

    @property
    def size(self) -> int:
        return int(self.agents.size)

    @property
    def trees(self) -> int:
        return int(self.bounds[1]) if self.bounds.size > 1 else 0

    @property
    def edges(self) -> int:
        return self.size - self.trees

    def generation_sizes(self) -> np.ndarray:
        """Agents in each generation (0 = roots)."""
        return np.diff(self.bounds)

    def tree_sizes(self) -> np.ndarray:
        """The size of each tree, by root position (0 .. trees-1)."""
        return self.subtree[: self.trees]

    def measures(self) -> dict[str, Any]:
        """The run's ``cascade`` report (see the module docstring); the same as
        :meth:`CascadeTracker.measures` of the same forest, to the last bit."""
        if self.size == 0:
            return empty_measures()
        roots = np.arange(self.trees)
        return _measures(
            self.generation,
            self.subtree,
            self.tree.astype(np.int64),
            roots,
            self.agents[: self.trees].astype(np.int64),
            self.generation_sizes(),
            self.feed_edges,
            self.edges,
            self.size,
        )

    def children(self) -> np.ndarray:
        """The number of children of each node, in forest order."""
        return np.bincount(self.parent[self.trees :], minlength=self.size) if self.size else np.zeros(0, np.int64)

    def top_spreaders(self, k: int = 10) -> list[tuple[int, int]]:
        """``(agent index, children)`` of the ``k`` nodes with the most children, ties by lower agent index
        (so the first ``k`` of a longer list are the list for ``k``); nodes without children are left out.
        Every node tied with the k-th is a candidate before the order decides: O(size)."""
        kids = self.children()
        k = min(int(k), int(np.count_nonzero(kids)))
        if k <= 0:
            return []
        cut = np.partition(kids, kids.size - k)[kids.size - k]  # the k-th most children
        candidates = np.flatnonzero(kids >= cut)
        order = candidates[np.lexsort((self.agents[candidates], -kids[candidates]))][:k]
        return list(zip(self.agents[order].tolist(), kids[order].tolist()))

    def source_agents(self) -> np.ndarray:
        """Each node's parent agent (-1 for a root), in forest order."""
        out = np.full(self.size, -1, dtype=np.int64)
        nonroot = self.parent >= 0
        out[nonroot] = self.agents[self.parent[nonroot]]
        return out


def ccdf(sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The complementary CDF of cascade sizes: the distinct sizes ``s`` ascending and ``P(S >= s)``."""
    values = np.sort(np.asarray(sizes, dtype=np.int64))
    if values.size == 0:
        return values, np.zeros(0)
    distinct, first = np.unique(values, return_index=True)
    return distinct, (values.size - first) / values.size


def _bounds(measure: str, n: int) -> tuple[float | None, float | None]:
    """The range a measure can take in a world of ``n`` agents (intervals are clipped to it)."""
    if measure == "by_feed":
        return 0.0, 1.0
    if measure == "structural_virality":
        return 0.0, None
    return 0.0, float(n)


def cascade_stats(cascades: list[dict[str, Any] | None], n: int) -> dict[str, Any] | None:
    """Mean and 95 % interval of each cascade measure over runs (their ``cascade`` reports; None for a run
    without a tree, left out): ``{"runs": k, MEASURE: {"mean": m, "ci95": [lo, hi]}, ...}``, or None when
    no run has a tree."""
    have = [c for c in cascades if c is not None]
    if not have:
        return None
    out: dict[str, Any] = {"runs": len(have)}
    for m in MEASURES:
        lo, hi = _bounds(m, n)
        mean, ci = mean_ci95([float(c[m]) for c in have], lo, hi)
        out[m] = {"mean": mean, "ci95": ci}
    return out


def cascade_differences(
    pairs: list[tuple[dict[str, Any] | None, dict[str, Any] | None]], n: int
) -> dict[str, Any] | None:
    """Paired differences (arm minus first arm, run by run) of each cascade measure, over the pairs where
    both runs have a tree: ``{"pairs": k, MEASURE: {"mean": m, "ci95": [lo, hi]}, ...}`` or None."""
    both = [(a, b) for a, b in pairs if a is not None and b is not None]
    if not both:
        return None
    out: dict[str, Any] = {"pairs": len(both)}
    for m in MEASURES:
        lo, hi = _bounds(m, n)
        span = None if hi is None else hi - (lo or 0.0)
        mean, ci = mean_ci95([float(b[m]) - float(a[m]) for a, b in both], None if span is None else -span, span)
        out[m] = {"mean": mean, "ci95": ci}
    return out


def forest_of_rows(
    agents: np.ndarray, sources: np.ndarray, roots: np.ndarray, ticks: np.ndarray, via: np.ndarray | None = None
) -> tuple[Forest, np.ndarray]:
    """The forest of one run's tree rows as ``--cascades`` writes them (agents and sources by original id,
    ``roots`` True where the source is empty, ``ticks``): ``(forest, ids)``, the forest over positions
    ``0 .. k-1`` and ``ids[i]`` the original id at position ``i``. A source that is not among the run's agents
    counts as none."""
    agents = np.asarray(agents, dtype=np.int64)
    sources = np.asarray(sources, dtype=np.int64)
    ids, index = np.unique(agents, return_inverse=True)
    k = ids.size
    pos = np.searchsorted(ids, sources)
    found = ~np.asarray(roots, dtype=bool) & (pos < k)
    found[found] = ids[pos[found]] == sources[found]
    parent_index = np.where(found, pos, -1)
    tracker = replay(k, np.asarray(ticks, dtype=np.int64), index, parent_index, via)
    parents = np.full(k, -1, dtype=np.int64)
    parents[index] = parent_index
    return tracker.forest(parents), ids
