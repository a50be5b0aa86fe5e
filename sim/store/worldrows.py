"""The rows of a world file, made from the arrays in blocks: the ``arrays`` table's chunks, the ``agent_rows``
and ``adjacency`` mirrors (one statement a block of rows, its values packed as fixed-width text:
``sim.store.fixedtext``), and the pipeline that makes the next block while SQLite writes this one
(:func:`run_statements`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import aiosqlite
import numpy as np

from sim.core.attributes import label_arrays
from sim.core.graph import Graph, csr_positions
from sim.core.persona import CODE_COLUMNS
from sim.core.world import GRAPH_ARRAYS, World
from sim.store.eventrows import History, history_statements
from sim.store.fixedtext import FixedRows, as_blob, scaled_floats, write_decimal

Progress = Callable[[str, float], None] | None


#: Bytes of an array a row of the ``arrays`` table holds at most (a larger array takes several rows).
BLOB_CHUNK = 64 * 1024 * 1024
#: Agents a statement writes the ``agent_rows`` of.
ROW_BATCH = 200_000


def world_arrays(world: World) -> dict[str, np.ndarray]:
    """Every array a world file keeps, by its name in the ``arrays`` table: the agent columns (``agent.*``),
    the labels of category attributes (``label.*``), the graph (``graph.*``), follows not merged yet
    (``delta.*``) and the sessions' (``session.ID.*``)."""
    arrays = {f"agent.{k}": v for k, v in world.columns.items()}
    arrays.update(label_arrays(world.labels))
    arrays.update({f"graph.{k}": getattr(world.graph, k) for k in GRAPH_ARRAYS})
    if world.graph.layer is not None:
        arrays["graph.layer"] = world.graph.layer
    arrays.update(delta_arrays(world))
    arrays.update(_session_arrays(world))
    return arrays


def delta_arrays(world: World) -> dict[str, np.ndarray]:
    """Follows and unfollows not merged into the graph yet (``delta.*``; none when the buffer is empty)."""
    return {f"delta.{k}": v for k, v in world.delta.arrays().items()}


def _session_arrays(world: World) -> dict[str, np.ndarray]:
    return {f"session.{sess.id}.{k}": v for sess in world.sessions for k, v in sess.arrays().items()}


_ARRAY_SQL = "INSERT INTO arrays (name, chunk, dtype, shape, data) VALUES (?, ?, ?, ?, ?)"


def _array_statements(arrays: dict[str, np.ndarray]) -> list[tuple[tuple[str, tuple[Any, ...]], int]]:
    """``INSERT``s of the arrays' chunks (views of the arrays' memory, not copies) and their sizes."""
    out = []
    for name, arr in arrays.items():
        arr = np.ascontiguousarray(arr)
        dtype = arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype
        raw = arr.astype(dtype, copy=False).data.cast("B")
        shape = json.dumps(list(arr.shape))
        nchunks = max(1, -(-raw.nbytes // BLOB_CHUNK))
        for c in range(nchunks):
            piece = raw[c * BLOB_CHUNK : (c + 1) * BLOB_CHUNK]
            out.append(((_ARRAY_SQL, (name, c, dtype.str, shape, piece)), piece.nbytes))
    return out


async def write_arrays(db: aiosqlite.Connection, arrays: dict[str, np.ndarray], progress: Progress) -> None:
    statements = _array_statements(arrays)
    total = sum(size for _, size in statements) or 1
    done = 0
    for stmt, size in statements:
        await db.execute(*stmt)
        done += size
        if progress:
            progress("writing arrays", done / total)


_AGENT_FIELDS = (
    "orig_id",
    "community",
    "interests",
    "susceptibility",
    "reputation",
    "influence",
    "status",
    "activity_profile",
    "activity_rate",
    *CODE_COLUMNS,
    "style",
)


def _agent_batch(c: dict[str, np.ndarray], start: int, stop: int) -> tuple[str, tuple[Any, ...]]:
    """One ``INSERT`` of the ``agent_rows`` of agents ``start``..``stop - 1`` (see ``sim.store.fixedtext``);
    floats are kept rounded to 7 decimals, as every later update writes them."""

    values: dict[str, np.ndarray] = {
        "orig_id": c["ids"][start:stop],
        "community": c["community"][start:stop],
        "interests": c["interests"][start:stop].view(np.int64),  # SQLite integers are signed
        "status": c["status"][start:stop],
        "activity_profile": c["activity_profile"][start:stop],
        "style": c["persona_style"][start:stop],
    }
    for j, kind in enumerate(CODE_COLUMNS):
        values[kind] = c["persona_codes"][start:stop, j]
    fields: list[tuple[str, np.ndarray, bool]] = []
    # A column the same for every agent of the block (a status, a community not detected yet) or equal to
    # the index (synthetic ids) is written as an SQL expression: nothing of it to cut and parse per row.
    shared: dict[str, str] = {}
    if np.array_equal(values["orig_id"], np.arange(start, stop)):
        shared["orig_id"] = "?3 + i"
    for name in _AGENT_FIELDS:
        if name in shared:
            continue
        if name in values:
            v = values[name].astype(np.int64)
            if v.size and v[0] == v.min() == v.max():
                shared[name] = str(int(v[0]))
            else:
                fields.append((name, v, False))
            continue
        scaled = scaled_floats(c[name][start:stop])
        if scaled is None:  # a value too large for 7 decimals as a 64-bit integer: the JSON way
            return _agent_rows_bound(c, start, stop)
        fields.append((name, scaled, True))
    rows = FixedRows(fields, count=stop - start)
    picks = ", ".join(shared.get(name, name) for name in _AGENT_FIELDS)
    return (
        f"INSERT INTO agent_rows (id, {', '.join(_AGENT_FIELDS)}) SELECT ?3 + i, {picks} FROM ({rows.select()})",
        (rows.blob, rows.count, start),
    )


def mirror_update(c: dict[str, np.ndarray], names: list[str], start: int, stop: int) -> tuple[str, tuple[Any, ...]]:
    """One ``UPDATE`` of the mirrored columns ``names`` of agents ``start``..``stop - 1`` in ``agent_rows``."""

    fields: list[tuple[str, np.ndarray, bool]] = []
    for name in names:
        values = c[name][start:stop]
        if values.dtype.kind == "f":
            scaled = scaled_floats(values)
            if scaled is None:  # not finite: the JSON way, one column at a time (never seen in practice)
                payload = json.dumps(np.round(values.astype(np.float64), 7).tolist())
                return (
                    f"UPDATE agent_rows SET {name} = j.value FROM json_each(?1) AS j WHERE agent_rows.id = ?2 + j.key",
                    (payload, start),
                )
            fields.append((name, scaled, True))
        else:
            fields.append((name, values.astype(np.int64), False))
    rows = FixedRows(fields)
    sets = ", ".join(f"{name} = x.{name}" for name in names)
    return (
        f"UPDATE agent_rows SET {sets} FROM ({rows.select()}) AS x WHERE agent_rows.id = ?3 + x.i",
        (rows.blob, rows.count, start),
    )


def _agent_rows_bound(c: dict[str, np.ndarray], start: int, stop: int) -> tuple[str, tuple[Any, ...]]:
    """The rows of :func:`_agent_batch` as one ``INSERT`` of a ``json_each`` over row arrays (slower; only for
    float columns holding values too large for 7 decimals as a 64-bit integer)."""
    cols = [
        np.arange(start, stop),
        c["ids"][start:stop],
        c["community"][start:stop],
        c["interests"][start:stop].view(np.int64),
    ]
    cols += [np.round(c[k][start:stop].astype(np.float64), 7) for k in ("susceptibility", "reputation", "influence")]
    cols += [
        c["status"][start:stop],
        c["activity_profile"][start:stop],
        np.round(c["activity_rate"][start:stop].astype(np.float64), 7),
    ]
    cols += [c["persona_codes"][start:stop, j] for j in range(len(CODE_COLUMNS))] + [c["persona_style"][start:stop]]
    rows = list(zip(*(a.tolist() for a in cols)))
    picks = ", ".join(f"value ->> {j}" for j in range(len(cols)))
    return (
        f"INSERT INTO agent_rows (id, {', '.join(_AGENT_FIELDS)}) SELECT {picks} FROM json_each(?)",
        (json.dumps(rows),),
    )


def _edges_width(n: int) -> int:
    """Characters of the largest packed edge value ``(n - 1) * 32768 + 32767``."""
    return len(str(max(0, n - 1) * 32768 + 32767))


def _adjacency_text(
    graph: Graph, agents: np.ndarray
) -> tuple[memoryview | bytes, np.ndarray, np.ndarray, np.ndarray, int]:
    """The ``edges`` texts of ``agents`` (ascending indices) as one block: ``(text, those of them with
    followers, first edge, end edge, cell)``; agent ``s``'s JSON array is ``text[first * cell : end * cell]``.

    Every edge takes ``cell`` characters: ``[`` (an agent's first edge) or a space, the packed value
    right-aligned, ``,`` or ``]`` (its last). No Python loop over agents or edges."""

    agents = np.asarray(agents, dtype=np.int64)
    eid, deg = csr_positions(graph.out_indptr, agents)
    width = _edges_width(graph.n)
    cell = width + 2
    k = int(eid.size)
    q = np.rint(np.clip(np.take(graph.trust, eid), 0.0, 1.0).astype(np.float64) * 32767).astype(np.int64)
    text = np.empty((k, cell), dtype=np.uint8)
    text[:, 0] = 32  # " "
    text[:, -1] = 44  # ","
    write_decimal(text[:, 1:-1], np.take(graph.out_indices, eid).astype(np.int64) * 32768 + q)
    ends = np.cumsum(deg)
    has = np.flatnonzero(deg)
    starts, ends = (ends - deg)[has], ends[has]
    if k:
        text[starts, 0] = 91  # "["
        text[ends - 1, -1] = 93  # "]"
    return as_blob(text), agents[has], starts, ends, cell


def adjacency_rows(graph: Graph, lo: int, hi: int) -> list[tuple[int, str]]:
    """``(src, edges)`` rows of the ``adjacency`` table for agents ``lo``..``hi - 1`` that have followers."""
    text, agents, starts, ends, cell = _adjacency_text(graph, np.arange(lo, hi))
    flat = bytes(text).decode("ascii")
    return [(s, flat[x * cell : y * cell]) for s, x, y in zip(agents.tolist(), starts.tolist(), ends.tolist())]


def adjacency_batch(graph: Graph, agents: np.ndarray, verb: str = "INSERT") -> tuple[str, tuple[Any, ...]] | None:
    """One ``INSERT`` (or ``verb``) of the ``adjacency`` rows of ``agents`` (see ``sim.store.fixedtext``)."""

    text, agents, starts, ends, cell = _adjacency_text(graph, agents)
    if agents.size == 0:
        return None
    rows = FixedRows([("src", agents, False), ("first", starts, False), ("count", ends - starts, False)])
    sql = (
        f"{verb} INTO adjacency (src, edges) SELECT src, CAST(substr(?3, first * {cell} + 1, count * {cell}) AS TEXT) "
        f"FROM ({rows.select()})"
    )
    return sql, (rows.blob, rows.count, text)


def _source_batches(graph: Graph, edges_per_batch: int = 1_000_000) -> list[tuple[int, int]]:
    """Ranges of agents whose out-edges add up to about ``edges_per_batch`` (an agent is never split)."""
    n, e = graph.n, graph.num_edges
    cuts = np.searchsorted(graph.out_indptr, np.arange(edges_per_batch, e, edges_per_batch), side="left")
    bounds = np.unique(np.concatenate([[0], np.clip(cuts, 1, n), [n]]))
    return list(zip(bounds[:-1].tolist(), bounds[1:].tolist()))


#: A statement to run (None: nothing this time), the phase it belongs to and the share of it done after it.
Statement = tuple[tuple[str, tuple[Any, ...]] | None, str, float]


async def run_statements(
    db: aiosqlite.Connection, statements: Callable[[], Iterator[Statement]], progress: Progress, ahead: int = 3
) -> None:
    """Run the statements ``statements()`` yields, in order, on ``db``.

    The generator runs in a worker thread of its own, up to ``ahead`` statements before SQLite (in
    aiosqlite's thread) runs them: while SQLite writes one block of rows on one core, numpy makes the next
    on the other, and at most ``ahead`` blocks wait in memory. The generator may block (on a snapshot still
    being read, say) without holding anything up but itself."""

    items: queue.Queue = queue.Queue(maxsize=ahead)
    stop = threading.Event()
    end = object()

    def produce() -> None:
        try:
            for item in statements():
                while not stop.is_set():
                    try:
                        items.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            items.put(end)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, which raises it
            items.put(exc)

    worker = threading.Thread(target=produce, name="agora-rows", daemon=True)
    worker.start()
    try:
        while True:
            item = await asyncio.to_thread(items.get)
            if item is end:
                break
            if isinstance(item, BaseException):
                raise item
            stmt, phase, fraction = item
            if stmt is not None:
                await db.execute(*stmt)
            del stmt, item
            if progress:
                progress(phase, fraction)
    finally:
        stop.set()
        while worker.is_alive():  # let a producer blocked on a full queue see the stop
            with contextlib.suppress(queue.Empty):
                items.get_nowait()
            await asyncio.sleep(0.01)
        # A cancel (Ctrl-C, SIGTERM) at the await above leaves its items.get() waiting in a worker thread, which
        # the event loop's shutdown would join for ever: the producer is gone, so give that get an end.
        with contextlib.suppress(queue.Full):
            items.put_nowait(end)


def _array_rows(arrays: dict[str, np.ndarray]) -> Iterator[Statement]:
    statements = _array_statements(arrays)
    total = sum(size for _, size in statements) or 1
    done = 0
    for stmt, size in statements:
        done += size
        yield stmt, "writing arrays", done / total


def relationship_rows(graph: Graph) -> Iterator[Statement]:
    e = graph.num_edges
    if e == 0:
        return
    for lo, hi in _source_batches(graph):
        yield adjacency_batch(graph, np.arange(lo, hi)), "writing relationships", int(graph.out_indptr[hi]) / e


class WorldSource(Protocol):
    """A world that may still be arriving (``sim.store.snapshot.SnapshotReader``): its numbers of agents and
    edges and its checked agent columns now, the whole world when :meth:`world` returns, and then its
    adoption events and feed exposures (None: it has none to give, its history starts at its tick)."""

    n: int
    edges: int

    def columns(self) -> dict[str, np.ndarray]: ...

    def world(self) -> World: ...

    def history(self) -> History | None: ...


class ReadyWorld:
    """A world that is all there (the usual :class:`WorldSource`), with the history given, if any."""

    def __init__(self, world: World, history: History | None = None) -> None:
        self.n, self.edges = world.n, world.num_edges
        self._world = world
        self._history = history

    def columns(self) -> dict[str, np.ndarray]:
        return self._world.columns

    def world(self) -> World:
        return self._world

    def history(self) -> History | None:
        return self._history


def _graph_rows(source: WorldSource) -> Iterator[Statement]:
    """The arrays and the graph's rows of a new world file (once the whole world is there)."""
    world = source.world()
    yield from _array_rows(world_arrays(world))
    yield from relationship_rows(world.graph)


def _agent_rows(source: WorldSource) -> Iterator[Statement]:
    columns, n = source.columns(), source.n
    for a in range(0, n, ROW_BATCH):
        yield _agent_batch(columns, a, min(n, a + ROW_BATCH)), "writing agents", min(n, a + ROW_BATCH) / n


def history_rows(history: History) -> Iterator[Statement]:
    done = 0
    for stmt, rows in history_statements(history):
        done += rows
        yield stmt, "writing events", done / history.rows


def bulk_rows(source: WorldSource) -> Iterator[Statement]:
    """The big rows of a new world file: agent rows first (they need the agent columns only: a snapshot's
    graph is still being read meanwhile), then the arrays and the graph's rows.

    One connection writes them all: SQLite as Python ships it takes a process-wide lock around every
    allocation, so two connections writing in two threads mostly wait for each other (measured: slower
    than one)."""
    yield from _agent_rows(source)
    yield from _graph_rows(source)
