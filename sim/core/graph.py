"""The follower graph as directed CSR arrays.

Edge ``u -> v`` means *v follows u*: what ``u`` shares can reach ``v``. Out-edges of ``u`` are
``out_indices[out_indptr[u]:out_indptr[u+1]]`` (sorted ascending), with trust weights ``trust`` in
the same order. In-edges of ``v`` are ``in_indices[in_indptr[v]:in_indptr[v+1]]`` (the agents ``v``
follows, sorted ascending); ``in_edge`` maps every in-edge to its position in the out-edge arrays,
so per-edge data (trust, layers) is stored once.

An edge may belong to several contact layers (a household and a class): ``layer`` holds one bitmask per
edge (uint8, bit ``l`` for layer ``l``), aligned with ``out_indices``; None means a graph of one layer,
every edge in layer 0. One edge per pair keeps every unique-pair rule (merges, searches, unfollows).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from sim.core.arrays import equal_runs, unique_sorted, unique_sorted_first
from sim.errors import BadParameterError

#: The layer bits of an edge a follow adds to a graph with layers: layer 0.
FOLLOW_LAYER = 1


def csr_positions(indptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions in a CSR's column arrays of every entry of the given rows, row after row, and the
    number of entries of each row. One ``repeat`` and one ``arange``: no Python loop."""
    rows = np.asarray(rows, dtype=np.int64)
    starts = np.take(indptr, rows)
    counts = np.take(indptr, rows + 1) - starts
    total = int(counts.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64), counts
    offsets = np.cumsum(counts) - counts
    return np.arange(total, dtype=np.int64) + np.repeat(starts - offsets, counts), counts


def index_dtype(count: int) -> np.dtype:
    """The smallest signed dtype that can index ``count`` items (int32 when it fits)."""
    return np.dtype(np.int32) if count < 2**31 - 1 else np.dtype(np.int64)


class Graph:
    """Directed CSR adjacency in both directions with float32 trust per edge.

    ``in_edge`` may be given as a function that computes it: after a merge of edge changes
    (:meth:`GraphDelta.merge_into`) it is computed on first use, so a model that changes edges every tick
    and never reads it does not pay for remapping ten million links per tick.
    """

    __slots__ = ("n", "out_indptr", "out_indices", "trust", "in_indptr", "in_indices", "_in_edge", "layer")

    def __init__(
        self,
        n: int,
        out_indptr: np.ndarray,
        out_indices: np.ndarray,
        trust: np.ndarray,
        in_indptr: np.ndarray,
        in_indices: np.ndarray,
        in_edge: np.ndarray | Callable[[], np.ndarray],
        layer: np.ndarray | None = None,
    ) -> None:
        self.n = n
        self.out_indptr = out_indptr  # int64, n + 1
        self.out_indices = out_indices  # int32, E
        self.trust = trust  # float32, E (aligned with out_indices)
        self.in_indptr = in_indptr  # int64, n + 1
        self.in_indices = in_indices  # int32, E
        self._in_edge = in_edge  # int32/int64, E: out-edge position of each in-edge (or its maker)
        self.layer = layer  # uint8, E (aligned with out_indices): each edge's layers as bits; None: one layer

    def replace(self, **arrays: np.ndarray | None) -> Graph:
        """The same graph with some per-edge arrays replaced (``trust=``, ``layer=``), the rest shared; the
        in-edge map as it stands (computed or not)."""
        unknown = set(arrays) - {"trust", "layer"}
        if unknown:
            raise TypeError(f"Graph.replace takes trust and layer, not {', '.join(sorted(unknown))}")
        trust = arrays.get("trust", self.trust)
        assert trust is not None
        return Graph(
            self.n,
            self.out_indptr,
            self.out_indices,
            trust,
            self.in_indptr,
            self.in_indices,
            self.in_edge_lazy(),
            arrays.get("layer", self.layer),
        )

    @property
    def layers(self) -> int:
        """The number of layers a bit of :attr:`layer` is set for (1 for a graph without layers)."""
        if self.layer is None or not self.layer.size:
            return 1
        return int(np.bitwise_or.reduce(self.layer)).bit_length()

    @property
    def in_edge(self) -> np.ndarray:
        """Out-edge position of each in-edge (int32, or int64 past 2**31 edges)."""
        if callable(self._in_edge):
            self._in_edge = self._in_edge()
        return self._in_edge

    @property
    def in_edge_ready(self) -> bool:
        """Whether ``in_edge`` is computed already (reading it costs nothing)."""
        return not callable(self._in_edge)

    def in_edge_lazy(self) -> np.ndarray | Callable[[], np.ndarray]:
        """``in_edge`` as it stands: the array, or a function that computes it here (for a new graph
        over the same arrays that should not force the computation)."""
        return self._in_edge if not callable(self._in_edge) else (lambda: self.in_edge)

    @property
    def num_edges(self) -> int:
        """Directed edges stored."""
        return int(self.out_indices.shape[0])

    @classmethod
    def from_edges(
        cls,
        n: int,
        src: np.ndarray,
        dst: np.ndarray,
        trust: np.ndarray | None = None,
        *,
        layer: np.ndarray | None = None,
        assume_sorted_unique: bool = False,
    ) -> Graph:
        """Build from parallel edge arrays. Duplicates are merged (first trust kept, layer bits or-ed: a pair
        listed in two layers is one edge in both) unless the caller promises ``assume_sorted_unique`` (sorted
        by (src, dst), no duplicates). ``layer``: each edge's layer bits (uint8; None: one layer).
        Self-loops are kept as given; callers drop them.
        """
        if n < 0 or n >= 2**31 - 1:
            raise BadParameterError(f"agent count {n} is out of range: use 0 to {2**31 - 2}")
        src = np.asarray(src)
        dst = np.asarray(dst)
        if src.shape != dst.shape or src.ndim != 1:
            raise ValueError("src and dst must be 1-D arrays of equal length")
        if trust is not None:
            trust = np.asarray(trust, dtype=np.float32)
            if trust.shape != src.shape:
                raise ValueError("trust must be aligned with src/dst")
        if layer is not None:
            layer = np.asarray(layer, dtype=np.uint8)
            if layer.shape != src.shape:
                raise ValueError("layer must be aligned with src/dst")
        if not assume_sorted_unique and src.size:
            key = src.astype(np.int64) * n + dst.astype(np.int64)
            if trust is None and layer is None:
                key = unique_sorted(key)
            elif layer is None:
                key, first = unique_sorted_first(key)
                trust = None if trust is None else trust[first]
            else:
                order = np.argsort(key, kind="stable")
                key = key[order]
                starts, _ = equal_runs(key)
                key = key[starts]
                if trust is not None:
                    trust = trust[order[starts]]
                if layer is not None:
                    layer = np.bitwise_or.reduceat(layer[order], starts)
            src = (key // n).astype(np.int32)
            dst = (key % n).astype(np.int32)
            del key
        src = src.astype(np.int32, copy=False)
        dst = dst.astype(np.int32, copy=False)
        counts = np.bincount(src, minlength=n) if src.size else np.zeros(n, dtype=np.int64)
        out_indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=out_indptr[1:])
        if trust is None:
            trust = np.ones(src.shape[0], dtype=np.float32)
        in_indptr, in_indices, in_edge = _transpose(n, src, dst)
        return cls(n, out_indptr, dst, trust, in_indptr, in_indices, in_edge, layer)

    def out_degree(self) -> np.ndarray:
        """Followers of each agent (int64)."""
        return np.diff(self.out_indptr)

    def in_degree(self) -> np.ndarray:
        """Followees of each agent (int64)."""
        return np.diff(self.in_indptr)

    def followers(self, u: int) -> np.ndarray:
        """Agents that follow ``u`` (its out-neighbours)."""
        return self.out_indices[self.out_indptr[u] : self.out_indptr[u + 1]]

    def followees(self, v: int) -> np.ndarray:
        """Agents that ``v`` follows (its in-neighbours)."""
        return self.in_indices[self.in_indptr[v] : self.in_indptr[v + 1]]

    def edge_ids(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """Out-edge position of each edge ``src[i] -> dst[i]`` (int64; -1 where there is no such edge).
        Searches only the rows involved (vectorised)."""
        where, found = _row_search(self.out_indptr, self.out_indices, self.n, src, dst)
        return np.where(found, where, -1)

    def sources(self) -> np.ndarray:
        """Source agent of every out-edge (int32, E), aligned with ``out_indices``."""
        return np.repeat(np.arange(self.n, dtype=np.int32), np.diff(self.out_indptr))

    def gather_out(self, frontier: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Out-edges of the agents in ``frontier``: ``(sources, targets, edge_ids)``.

        No Python loop: the edge ids are built from the CSR offsets with one ``repeat`` and ``arange``.
        """
        frontier = np.asarray(frontier, dtype=np.int64)
        edge_ids, counts = csr_positions(self.out_indptr, frontier)
        sources = np.repeat(frontier.astype(np.int32), counts)
        return sources, self.out_indices[edge_ids], edge_ids

    def nbytes(self) -> int:
        """Memory held by the arrays."""
        links = self.in_edge.nbytes if self.in_edge_ready else self.num_edges * index_dtype(self.num_edges).itemsize
        layer = 0 if self.layer is None else self.layer.nbytes
        return (
            links
            + layer
            + sum(a.nbytes for a in (self.out_indptr, self.out_indices, self.trust, self.in_indptr, self.in_indices))
        )

    def check(self) -> list[str]:
        """Structural problems (empty when consistent)."""
        problems = []
        n, e = self.n, self.num_edges
        for name, ptr in (("out_indptr", self.out_indptr), ("in_indptr", self.in_indptr)):
            if ptr.shape != (n + 1,) or ptr[0] != 0 or ptr[-1] != e or np.any(np.diff(ptr) < 0):
                problems.append(f"{name} is not a valid offset array for {n} agents and {e} edges")
        for name, idx in (("out_indices", self.out_indices), ("in_indices", self.in_indices)):
            if idx.shape != (e,) or (e and (idx.min() < 0 or idx.max() >= n)):
                problems.append(f"{name} holds agent indices outside 0..{n - 1}")
        if self.trust.shape != (e,):
            problems.append("trust is not aligned with the edges")
        if self.layer is not None and (self.layer.shape != (e,) or self.layer.dtype != np.uint8):
            problems.append("layer is not one uint8 bitmask per edge")
        elif self.layer is not None and e and not bool(np.all(self.layer)):
            problems.append("an edge belongs to no layer (its layer bits are 0)")
        if self.in_edge.shape != (e,) or (e and (self.in_edge.min() < 0 or self.in_edge.max() >= e)):
            problems.append("in_edge holds edge positions out of range")
        if not problems and e and not self._mirrors_out():
            problems.append("the in-edge arrays do not mirror the out-edge arrays")
        return problems

    def _mirrors_out(self, blocks: int = 8) -> bool:
        """Whether every in-edge names the out-edge it mirrors (same source, same target), checked in
        blocks of in-edges on a few threads (the gathers are random reads; numpy lets go of the
        interpreter lock for them)."""
        e = self.num_edges
        src = self.sources()
        cuts = np.linspace(0, e, blocks + 1).astype(np.int64)

        def block(i: int) -> bool:
            a, b = int(cuts[i]), int(cuts[i + 1])
            if a == b:
                return True
            link = self.in_edge[a:b]
            if not np.array_equal(np.take(src, link), self.in_indices[a:b]):
                return False
            # Targets of in-edge positions a..b-1, from the in-CSR offsets.
            v0 = int(np.searchsorted(self.in_indptr, a, side="right")) - 1
            v1 = int(np.searchsorted(self.in_indptr, b, side="left"))
            counts = np.diff(np.clip(self.in_indptr[v0 : v1 + 1], a, b))
            dst = np.repeat(np.arange(v0, v1, dtype=np.int32), counts)
            return bool(np.array_equal(np.take(self.out_indices, link), dst))

        return all(_worker_pool().map(block, range(blocks)))


def _transpose(n: int, src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """In-CSR from out-edges sorted by (src, dst): a stable sort by target keeps sources ascending."""
    e = src.shape[0]
    order = np.argsort(dst, kind="stable").astype(index_dtype(e), copy=False)
    in_indices = src[order]
    counts = np.bincount(dst, minlength=n) if e else np.zeros(n, dtype=np.int64)
    in_indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=in_indptr[1:])
    return in_indptr, in_indices, order


def _in_sorted(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Whether each of ``keys`` occurs in the sorted array ``sorted_keys``."""
    if sorted_keys.size == 0:
        return np.zeros(keys.shape, dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_keys, keys), sorted_keys.size - 1)
    return sorted_keys[pos] == keys


@dataclass(eq=False)
class GraphDelta:
    """Follows and unfollows buffered between merges, so the CSR is rebuilt in bulk, not per change.

    Edges are ``followed -> follower`` (what ``followed`` shares reaches ``follower``). At a merge,
    unfollows apply first, then follows; following an edge that exists keeps its trust and its layers;
    self-follows are dropped. On a graph with layers a new edge is in :data:`FOLLOW_LAYER`.
    """

    n: int
    _adds: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)
    _removes: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    #: What the last merge changed: keys ``followed * n + follower`` of the edges it removed, and of
    #: the edges it added with their trust (for mirroring the change elsewhere).
    last_removed: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    last_added: tuple[np.ndarray, np.ndarray] = field(
        default_factory=lambda: (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32))
    )

    def follow(self, followed: np.ndarray, follower: np.ndarray, trust: np.ndarray | float = 0.5) -> None:
        """Buffer new edges ``followed[i] -> follower[i]`` with their initial trust."""
        a = np.asarray(followed, dtype=np.int64)
        b = np.asarray(follower, dtype=np.int64)
        t = np.broadcast_to(np.asarray(trust, dtype=np.float32), a.shape).copy()
        self._check(a, b)
        self._adds.append((a, b, t))

    def unfollow(self, followed: np.ndarray, follower: np.ndarray) -> None:
        """Buffer removals of edges ``followed[i] -> follower[i]`` (missing ones are ignored)."""
        a = np.asarray(followed, dtype=np.int64)
        b = np.asarray(follower, dtype=np.int64)
        self._check(a, b)
        self._removes.append((a, b))

    def _check(self, a: np.ndarray, b: np.ndarray) -> None:
        if a.shape != b.shape or a.ndim != 1:
            raise BadParameterError("followed and follower must be 1-D arrays of equal length")
        if a.size and (min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= self.n):
            raise BadParameterError(f"agent indices must be in 0..{self.n - 1}")

    def arrays(self) -> dict[str, np.ndarray]:
        """The buffered changes as named arrays (for world files and snapshots); empty when none."""
        if not self.pending:
            return {}

        def cat(parts: list, i: int, dtype: str) -> np.ndarray:
            return np.concatenate([p[i] for p in parts]).astype(dtype) if parts else np.empty(0, dtype=dtype)

        return {
            "follow_src": cat(self._adds, 0, "<i8"),
            "follow_dst": cat(self._adds, 1, "<i8"),
            "follow_trust": cat(self._adds, 2, "<f4"),
            "unfollow_src": cat(self._removes, 0, "<i8"),
            "unfollow_dst": cat(self._removes, 1, "<i8"),
        }

    @classmethod
    def from_arrays(cls, n: int, arrays: dict[str, np.ndarray]) -> GraphDelta:
        """The buffer back from :meth:`arrays` (checked: raises BadParameterError when inconsistent)."""
        d = cls(n)
        if arrays:
            fs, fd, ft = arrays["follow_src"], arrays["follow_dst"], arrays["follow_trust"]
            us, ud = arrays["unfollow_src"], arrays["unfollow_dst"]
            if not (fs.shape == fd.shape == ft.shape and us.shape == ud.shape):
                raise BadParameterError("the buffered graph changes are not aligned")
            if us.size:
                d.unfollow(us, ud)
            if fs.size:
                d.follow(fs, fd, ft)
        return d

    def copy(self) -> GraphDelta:
        return GraphDelta.from_arrays(self.n, self.arrays())

    @property
    def pending(self) -> int:
        """Buffered changes (follows plus unfollows)."""
        return sum(x[0].size for x in self._adds) + sum(x[0].size for x in self._removes)

    def merge_into(self, graph: Graph) -> Graph:
        """A new graph with the buffered changes applied; the buffer is emptied.

        The CSR arrays are spliced: removed entries are dropped and new ones inserted at their sorted
        places in both directions, with no sort over all edges; the in-edge map follows when first read
        (see :class:`Graph`). A buffer of :data:`PARALLEL_SPLICE` changes or more does half of the work
        on a worker thread. A very large buffer (over an eighth of the edges) rebuilds instead."""
        n = graph.n
        e = graph.num_edges
        self.last_removed = np.empty(0, dtype=np.int64)
        self.last_added = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32))
        adds, removes = self._adds, self._removes

        def added() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
            """The new edges' keys (ascending) and trust, where each goes in the out arrays (searched
            once, reused by the splice) and whether it is there already."""
            a = np.concatenate([x[0] for x in adds])
            b = np.concatenate([x[1] for x in adds])
            t = np.concatenate([x[2] for x in adds])
            loop = a == b
            ak, first = unique_sorted_first((a * n + b)[~loop])
            ins_out, there = _row_search(graph.out_indptr, graph.out_indices, n, ak // n, ak % n)
            return ak, t[~loop][first], ins_out, there

        busy = sum(x[0].size for x in adds) + sum(x[0].size for x in removes) >= PARALLEL_SPLICE
        pending = _worker().submit(added) if adds and busy else None
        del_out = np.empty(0, dtype=np.int64)
        if removes:
            rk = unique_sorted(np.concatenate([a * n + b for a, b in removes]))
            pos, hit = _row_search(graph.out_indptr, graph.out_indices, n, rk // n, rk % n)
            self.last_removed = rk[hit]
            del_out = pos[hit]  # ascending: out positions ascend with (src, dst)
        ak = np.empty(0, dtype=np.int64)
        at = np.empty(0, dtype=np.float32)
        ins_out = np.empty(0, dtype=np.int64)
        if adds:
            ak, at, ins_out, stays = pending.result() if pending is not None else added()
            if self.last_removed.size:  # unfollowed and followed again in one merge: added back
                stays &= ~_in_sorted(self.last_removed, ak)
            ak, at, ins_out = ak[~stays], at[~stays], ins_out[~stays]
            self.last_added = (ak, at)
        self._adds, self._removes = [], []
        if del_out.size == 0 and ak.size == 0:
            return graph
        if del_out.size + ak.size > max(1024, e // 8):
            return _rebuild(graph, self.last_removed, ak, at)
        return _splice(graph, del_out, self.last_removed, ak, at, ins_out)


def _row_search(
    indptr: np.ndarray, indices: np.ndarray, n: int, rows: np.ndarray, cols: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each ``(rows[i], cols[i])``: the position in a CSR's column arrays where ``cols[i]`` sits (or
    would be inserted) in its sorted row, and whether it is there.

    One binary search per query, all queries at once: each round halves every open interval, so there
    are as many rounds as bits in the longest row searched (a Python loop of at most 31 rounds, each
    over the queries still open). Any query order; no sort, no pass over the rows' entries."""
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    lo = indptr[rows]
    end = indptr[rows + 1]
    hi = end.copy()
    open_ = np.flatnonzero(lo < hi)
    while open_.size:
        low, high = lo[open_], hi[open_]
        mid = (low + high) >> 1
        right = indices[mid] < cols[open_]
        low = np.where(right, mid + 1, low)
        high = np.where(right, high, mid)
        lo[open_], hi[open_] = low, high
        open_ = open_[low < high]
    found = lo < end
    found[found] = indices[lo[found]] == cols[found]
    return lo, found


#: Changes per merge above which the two directions are spliced at once, the in direction on a worker
#: thread (numpy releases the GIL in the copies and searches that make up each side).
PARALLEL_SPLICE = 20_000
_pool: ThreadPoolExecutor | None = None


_check_pool: ThreadPoolExecutor | None = None


def _worker_pool() -> ThreadPoolExecutor:
    """Threads for checking a whole graph (one per CPU this process may use, at most 4)."""
    global _check_pool
    if _check_pool is None:
        try:
            cpus = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):  # pragma: no cover - not Linux
            cpus = os.cpu_count() or 1
        _check_pool = ThreadPoolExecutor(max_workers=max(1, min(4, cpus)), thread_name_prefix="agora-check")
    return _check_pool


def _worker() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agora-graph")
    return _pool


def _splice(
    graph: Graph, del_out: np.ndarray, removed: np.ndarray, ak: np.ndarray, at: np.ndarray, ins_out: np.ndarray
) -> Graph:
    """The graph with the out positions ``del_out`` (ascending) removed and the edges ``ak`` (keys
    ``src * n + dst``, ascending, with trust ``at``) inserted at the old out positions ``ins_out``."""
    n = graph.n
    r_src, r_dst = removed // n, removed % n
    a_src, a_dst = ak // n, ak % n

    def in_side() -> tuple[np.ndarray, ...]:
        # rows by follower; additions in (dst, src) order, so that new edges that go to the same place
        # are inserted in order
        del_in, found = _row_search(graph.in_indptr, graph.in_indices, n, r_dst, r_src)
        assert bool(found.all())
        del_in.sort()
        order = np.argsort(a_dst * n + a_src)
        ins_in, _ = _row_search(graph.in_indptr, graph.in_indices, n, a_dst[order], a_src[order])
        q_in = ins_in - np.searchsorted(del_in, ins_in)
        (in_indices,) = _splice_arrays([(graph.in_indices, a_src[order])], del_in, q_in)
        return _indptr_after(graph.in_indptr, r_dst, a_dst), in_indices, del_in, q_in, order

    pending = _worker().submit(in_side) if del_out.size + ak.size >= PARALLEL_SPLICE else None
    # out direction: drop, then insert at the sorted places (ak ascends by (src, dst))
    q_out = ins_out - np.searchsorted(del_out, ins_out)
    columns = [(graph.out_indices, a_dst), (graph.trust, at)]
    if graph.layer is not None:
        columns.append((graph.layer, np.full(ak.size, FOLLOW_LAYER, dtype=np.uint8)))
    out_indices, trust, *layer = _splice_arrays(columns, del_out, q_out)
    out_indptr = _indptr_after(graph.out_indptr, r_src, a_src)
    added_at = q_out + np.arange(ak.size)  # final out position of each added edge
    in_indptr, in_indices, del_in, q_in, order = pending.result() if pending is not None else in_side()
    # The in->out map is computed when first read (see Graph.in_edge): from the old map when that one
    # was computed, else from the new out arrays alone. Holding the old map's maker would chain every
    # merge's arrays; holding only the old map (or nothing) keeps memory flat.
    added_links = added_at[order]
    if graph.in_edge_ready:
        old_links = graph.in_edge

        def in_edge() -> np.ndarray:
            return _moved_links(old_links, del_out, ins_out, del_in, q_in, added_links)
    else:

        def in_edge() -> np.ndarray:
            return _links_from_out(out_indices)

    return Graph(n, out_indptr, out_indices, trust, in_indptr, in_indices, in_edge, layer[0] if layer else None)


def _splice_arrays(
    columns: list[tuple[np.ndarray, np.ndarray]], dropped: np.ndarray, q: np.ndarray
) -> list[np.ndarray]:
    """Each ``(array, values)`` with the entries at ``dropped`` removed and ``values`` inserted before
    position ``q`` of what is left (``q`` non-decreasing; equal places keep the order given). What
    ``np.insert(array[keep], q, values)`` gives, with the masks shared by all columns and no sort."""
    e = columns[0][0].shape[0]
    keep = np.ones(e, dtype=bool)
    keep[dropped] = False
    at = q + np.arange(q.size)  # final place of each inserted value
    old = np.ones(e - dropped.size + q.size, dtype=bool)
    old[at] = False
    out = []
    for array, values in columns:
        new = np.empty(old.shape[0], dtype=array.dtype)
        new[at] = values
        new[old] = array[keep]
        out.append(new)
    return out


def _indptr_after(indptr: np.ndarray, removed_rows: np.ndarray, added_rows: np.ndarray) -> np.ndarray:
    n = indptr.shape[0] - 1
    counts = np.diff(indptr) - np.bincount(removed_rows, minlength=n) + np.bincount(added_rows, minlength=n)
    out = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


def _moved_links(
    old_links: np.ndarray,
    del_out: np.ndarray,
    ins_out: np.ndarray,
    del_in: np.ndarray,
    q_in: np.ndarray,
    added_links: np.ndarray,
) -> np.ndarray:
    """The in->out map after a splice, from the one before it: the in-edges at ``del_in`` dropped, every
    kept link moved to its edge's new out position, the new links ``added_links`` inserted at ``q_in``."""
    e = old_links.shape[0]
    e2 = e - del_out.size + ins_out.size
    keep = np.ones(e, dtype=bool)
    keep[del_in] = False
    # Every kept link moves by minus the out entries removed before it plus the entries inserted at or
    # before it: a step function of the old position, one cumulative sum then one gather (a binary
    # search per edge costs over a second at ten million edges).
    wide = e + ins_out.size >= 2**31 - 1
    steps = np.bincount(ins_out, minlength=e + 1)[:e]
    if del_out.size:
        steps[1:] -= np.bincount(del_out, minlength=e)[: e - 1]
    shift = np.cumsum(steps, dtype=np.int64 if wide else np.int32)
    del steps
    kept = old_links[keep]
    if wide:
        kept = kept.astype(np.int64)
    kept += shift[kept]
    return np.insert(kept, q_in, added_links).astype(index_dtype(e2), copy=False)


def _links_from_out(out_indices: np.ndarray) -> np.ndarray:
    """The in->out map from the out arrays alone: out edges sorted by (src, dst), stably re-sorted by
    dst, come in (dst, src) order, the in-edge order."""
    return np.argsort(out_indices, kind="stable").astype(index_dtype(out_indices.shape[0]), copy=False)


def _rebuild(graph: Graph, removed: np.ndarray, ak: np.ndarray, at: np.ndarray) -> Graph:
    n = graph.n
    key = graph.sources().astype(np.int64) * n + graph.out_indices
    trust, layer = graph.trust, graph.layer
    if removed.size:
        keep = ~_in_sorted(removed, key)
        key, trust = key[keep], trust[keep]
        layer = None if layer is None else layer[keep]
    if ak.size:
        key = np.concatenate([key, ak])
        trust = np.concatenate([trust, at.astype(np.float32)])
        order = np.argsort(key, kind="stable")
        key, trust = key[order], trust[order]
        if layer is not None:
            layer = np.concatenate([layer, np.full(ak.size, FOLLOW_LAYER, dtype=np.uint8)])[order]
    return Graph.from_edges(
        n, (key // n).astype(np.int32), (key % n).astype(np.int32), trust, layer=layer, assume_sorted_unique=True
    )
