"""Contact layers from a table of people (issue 59): who is linked to whom, as edge arrays, with no loop over
people or groups.

- :func:`group_edges`: people sharing a value of a column (a household, a class) are linked both ways. A
  group of k people costs k(k-1) directed edges, counted first (:func:`group_edge_count`), so that a group too
  big to link whole is refused before any work, or linked to ``most`` random members each (a group of at most
  ``most + 1`` people is linked whole: picking more members than it has others is pointless).
- :func:`near_edges`: people within distance R of each other (a k-d tree's pairs, not all pairs), counted
  first (:func:`near_edge_count`, the k-d tree's count of pairs, which holds none of them).
- :func:`edge_list_edges`: the lines of an edge list whose ids are the people's (read as
  :mod:`sim.store.importer` reads any, its ends found by ``np.searchsorted`` among the sorted ids), directed as
  the lines give them, its ``weight`` column the edges' trust.

:func:`people_world` counts every layer's edges before it makes any and refuses, in one sentence naming the
figure and what to do, a world the memory available (:func:`sim.core.memory.memory_available`, which
``AGORA_MEMORY`` caps) cannot build: :data:`BUILD_BYTES_PER_EDGE` bytes per directed edge, measured. Edges are
made a chunk at a time into one array of int64 keys, sorted in place and merged, so that the peak is a few
dozen bytes per edge, not the hundred a concatenation of every layer's arrays cost.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from sim.core.arrays import equal_runs
from sim.core.graph import Graph, csr_positions
from sim.core.memory import gib, memory_available
from sim.core.numbers import ascii_float, ascii_int
from sim.core.world import LAYER_NAME, MAX_LAYERS, World, world_on_graph
from sim.errors import BadFileError, BadParameterError, ResourceError
from sim.store.importer import merged_edges, read_edge_rows
from sim.store.people import PeopleTable, check_attributes, keep_attributes

#: The most directed edges one layer may need before it is refused (or thinned with ``most``).
MAX_LAYER_EDGES = 200_000_000
#: The largest ``max=K`` (a person picks at most the others of their group, so a larger K adds nothing).
MAX_MOST = MAX_LAYER_EDGES
#: Peak bytes per directed edge of building a world of people and writing it (``agora new --people``), measured
#: with ``/usr/bin/time -v`` (docs/populations.md): 28.7-31 bytes on one group of 4,000 and 6,000 people (16 and
#: 36 million edges), 28-31 on 4,000 and 6,000 people within R, 31 with ``max=100`` on 100,000 people (the keys,
#: the CSR and its transpose in :meth:`sim.core.graph.Graph.from_edges`, the file's rows).
BUILD_BYTES_PER_EDGE = 32
#: The same when an edge-list layer has weights: every layer's arrays and their trust through a stable sort
#: (measured: 69 bytes on a group of 4,000 and a weighted edge list of 4 million lines).
WEIGHTED_BYTES_PER_EDGE = 72
#: Peak bytes per person of such a build (the agent columns, the table's attributes, the writes).
BUILD_BYTES_PER_PERSON = 400
#: What such a build takes whatever its size, beyond the process before it (SQLite's cache, the k-d tree's
#: module, the allocator's arenas): measured 100-130 MiB on 2,000 people.
BUILD_BYTES_FIXED = 160 * 2**20
#: Coordinates and distances of ``--near`` are at most this in magnitude: a squared distance stays finite.
MAX_COORDINATE = 1e150
#: Edges made at a time (their temporaries are a few dozen bytes each).
CHUNK = 1 << 18


def _groups(codes: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The people in ``keep``, ordered by their code, and the offsets of each group among them (CSR-like)."""
    who = np.flatnonzero(keep)
    order = who[np.argsort(codes[who], kind="stable")]
    sorted_codes = codes[order]
    if not order.size:
        return order, np.zeros(1, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    return order, np.append(starts, order.size).astype(np.int64)


def _kept(codes: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Who is in a group: kept, and with a code (a missing one is -1 or NaN)."""
    codes = np.asarray(codes)
    return np.asarray(keep, dtype=bool) & (codes >= 0 if codes.dtype.kind in "iu" else ~np.isnan(codes))


def _edges_of_sizes(sizes: np.ndarray, most: int | None) -> int:
    """Directed edges (before duplicates merge) of groups of ``sizes``: k(k-1) for a group linked whole, 2kK
    for one whose people pick K = ``most`` members each (both ways)."""
    k = sizes.astype(np.int64)
    whole = k if most is None else k[k - 1 <= most]
    picking = k[k - 1 > most] if most is not None else k[:0]
    return int(np.sum(whole * (whole - 1))) + 2 * int(picking.sum()) * (most or 0)


def group_edge_count(codes: np.ndarray, keep: np.ndarray, most: int | None = None) -> int:
    """The directed edges linking the groups of the people kept: the sum of k(k-1) over the groups linked whole
    (all, when ``most`` is None) and of 2kK over those whose k people pick K = ``most`` members each (before a
    pair picked twice is merged: a bound)."""
    _, offsets = _groups(np.asarray(codes), _kept(codes, keep))
    return _edges_of_sizes(np.diff(offsets), most)


def _group_chunks(
    codes: np.ndarray, keep: np.ndarray, most: int | None, rng: np.random.Generator | None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The edges of :func:`group_edges`, a chunk of about :data:`CHUNK` at a time (int32 rows of the table)."""
    codes = np.asarray(codes)
    order, offsets = _groups(codes, _kept(codes, keep))
    order = order.astype(np.int32)
    sizes = np.diff(offsets)
    group_of = np.repeat(np.arange(sizes.size, dtype=np.int64), sizes)  # each kept person's group, in ``order``
    whole = sizes - 1 <= most if most is not None else np.ones(sizes.size, dtype=bool)
    # Groups linked whole: each person's partners are the others of their group, a block of people at a time.
    people = np.flatnonzero(whole[group_of])
    for block in _blocks(people, sizes[group_of[people]]):
        partners, counts = csr_positions(offsets, group_of[block])
        src = np.repeat(block, counts)
        other = partners != src
        yield order[src[other]], order[partners[other]]
    if most is None:
        return
    # People of bigger groups pick ``most`` of the others at random (with replacement; repeats merge later):
    # one draw per pick, the pick shifted past the picker, so nobody picks themselves.
    rng = rng if rng is not None else np.random.default_rng(0)
    people = np.flatnonzero(~whole[group_of])
    for block in _blocks(people, np.full(people.size, most, dtype=np.int64)):
        picks = np.repeat(block, most)
        g = group_of[picks]
        chosen = (rng.random(picks.size) * (sizes[g] - 1)).astype(np.int64)
        chosen += offsets[g]
        chosen += chosen >= picks
        src, dst = order[picks], order[chosen]
        yield src, dst
        yield dst, src


def _blocks(people: np.ndarray, counts: np.ndarray) -> Iterator[np.ndarray]:
    """``people`` in consecutive blocks of about :data:`CHUNK` of ``counts`` each (one person at least)."""
    if not people.size:
        return
    total = np.cumsum(counts)
    cuts = np.searchsorted(total, np.arange(CHUNK, int(total[-1]), CHUNK), side="right")
    bounds = np.unique(np.concatenate([[0], cuts, [people.size]]))
    for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        if b > a:
            yield people[a:b]


def group_edges(
    codes: np.ndarray, keep: np.ndarray, *, most: int | None = None, rng: np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The edges ``(src, dst)`` (agent indices, int32, both directions) linking the people kept (``keep``) who
    share a code. ``most``: each person of a group bigger than ``most + 1`` is linked to ``most`` random other
    members (picked with replacement, so at most that many), and they to them; smaller groups are linked whole.
    None links every group whole. A pair picked twice is listed twice (a world merges them).

    Raises:
        BadParameterError: linking whole would take more than :data:`MAX_LAYER_EDGES` edges (give ``most``), or
            a ``most`` out of range.
    """
    _check_group(codes, keep, most, "this layer")
    chunks = list(_group_chunks(codes, keep, most, rng))
    if not chunks:
        return np.empty(0, dtype=np.int32), np.empty(0, dtype=np.int32)
    return np.concatenate([c[0] for c in chunks]), np.concatenate([c[1] for c in chunks])


def _check_group(codes: np.ndarray, keep: np.ndarray, most: int | None, what: str) -> int:
    """The directed edges of a group layer, refused past :data:`MAX_LAYER_EDGES`."""
    if most is not None and not 1 <= most <= MAX_MOST:
        raise BadParameterError(f"max must be a whole number from 1 to {MAX_MOST:,}, not {most}")
    need = group_edge_count(codes, keep, most)
    if need > MAX_LAYER_EDGES:
        if most is None:
            raise BadParameterError(
                f"linking every group of {what} whole takes {need:,} edges, more than {MAX_LAYER_EDGES:,}: link "
                "each person to at most K members of their group (:max=K)"
            )
        raise BadParameterError(
            f"{what} at max={most:,} takes up to {need:,} edges, more than {MAX_LAYER_EDGES:,}: give a smaller K"
        )
    return need


def _coordinates(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The people with both coordinates (a NaN is missing) and their points."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    where = np.flatnonzero(~np.isnan(x) & ~np.isnan(y))
    return where, np.column_stack([x[where], y[where]])


def _check_near(x: np.ndarray, y: np.ndarray, radius: float) -> None:
    """Refuse a radius or a coordinate that is not a finite number of at most :data:`MAX_COORDINATE`."""
    if not (np.isfinite(radius) and 0 < radius <= MAX_COORDINATE):
        raise BadParameterError(
            f"near distance must be a positive number of at most {MAX_COORDINATE:g}, not {radius:g}", fields="near"
        )
    for axis, values in (("first", x), ("second", y)):
        bad = np.flatnonzero(np.abs(np.asarray(values, dtype=np.float64)) > MAX_COORDINATE)
        if bad.size:
            raise BadParameterError(
                f"near: the {axis} coordinate of row {int(bad[0])} is {float(values[bad[0]]):g}: give coordinates "
                f"of at most {MAX_COORDINATE:g} in magnitude (a squared distance beyond overflows)",
                fields="near",
            )


def near_edge_count(x: np.ndarray, y: np.ndarray, radius: float) -> int:
    """The directed edges :func:`near_edges` makes (twice the pairs within ``radius``), counted by a k-d tree
    without listing a pair.

    Raises:
        BadParameterError: see :func:`near_edges`.
    """
    from scipy.spatial import cKDTree  # noqa: PLC0415 - only worlds made with --near need it

    _check_near(x, y, radius)
    where, points = _coordinates(x, y)
    if where.size < 2:
        return 0
    tree = cKDTree(points)
    return int(tree.count_neighbors(tree, radius)) - int(where.size)  # every point is within R of itself


def _near_chunks(x: np.ndarray, y: np.ndarray, radius: float) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The edges of :func:`near_edges`, a chunk at a time (int32 rows of the table)."""
    from scipy.spatial import cKDTree  # noqa: PLC0415 - only worlds made with --near need it

    _check_near(x, y, radius)
    where, points = _coordinates(x, y)
    if where.size < 2:
        return
    pairs = cKDTree(points).query_pairs(radius, output_type="ndarray")
    del points
    where = where.astype(np.int32)
    for at in range(0, pairs.shape[0], CHUNK):
        a, b = where[pairs[at : at + CHUNK, 0]], where[pairs[at : at + CHUNK, 1]]
        yield a, b
        yield b, a


def near_edges(x: np.ndarray, y: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """The edges ``(src, dst)`` (int32, both directions) between people within ``radius`` of each other
    (Euclidean), found by a k-d tree; people with a missing coordinate (NaN) are in no pair.

    Raises:
        BadParameterError: a radius that is not a positive number of at most :data:`MAX_COORDINATE`, or a
            coordinate beyond it in magnitude.
    """
    chunks = list(_near_chunks(x, y, radius))
    if not chunks:
        return np.empty(0, dtype=np.int32), np.empty(0, dtype=np.int32)
    return np.concatenate([c[0] for c in chunks]), np.concatenate([c[1] for c in chunks])


def edge_list_edges(path: str, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, dict]:
    """The edges ``(src, dst, weight)`` (agent indices, int32; weight float32 or None) of the edge list at
    ``path`` between the agents whose ids are ``ids`` (ascending, as a world keeps them), and the file's counts:
    read as :func:`sim.store.importer.read_edge_list` reads any edge list (its formats, bounds and weight
    checks), each line ``u v`` one edge u->v as given, self-loops dropped and duplicate lines merged (the first
    weight kept).

    Raises:
        BadFileError: as the importer, or a line naming an id that is not one of ``ids`` (the first such line).
        ResourceError: the file or its lines do not fit in memory.
    """
    rows = read_edge_rows(path)
    lines = rows.lines
    ends = np.concatenate([rows.u, rows.v])
    at = np.searchsorted(ids, ends)
    found = at < ids.size
    found[found] = ids[at[found]] == ends[found]
    if not found.all():
        row = int(np.flatnonzero(~found[:lines] | ~found[lines:])[0])
        end = "first" if not found[row] else "second"
        raise BadFileError(
            f"edge list {path!r}, line {rows.line_of(row)}: its {end} id is not the id of a person in the people "
            "table: give edges between the table's people only"
        )
    weight = rows.weight
    del rows, ends, found
    (src, dst, w), loops, duplicates = merged_edges(at[:lines], at[lines:], weight, int(ids.size), directed=True)
    counts = {
        "file": os.path.basename(path),
        "lines": lines,
        "self_loops_dropped": loops,
        "duplicates_merged": duplicates,
        "weighted": w is not None,
    }
    return src.astype(np.int32), dst.astype(np.int32), w, counts


def weight_conflicts(src: np.ndarray, dst: np.ndarray, weight: np.ndarray, n: int) -> int:
    """The pairs ``(src, dst)`` listed more than once with different weights (each list's own repeats merged
    before): how many edges of weighted edge-list layers took the first layer's weight over another's."""
    if src.size < 2:
        return 0
    key = src.astype(np.int64) * n + dst
    order = np.argsort(key, kind="stable")
    starts, sizes = equal_runs(key[order])
    w = weight[order]
    differ = np.maximum.reduceat(w, starts) != np.minimum.reduceat(w, starts)
    return int(np.count_nonzero(differ & (sizes > 1)))


# -- a world from a table of people --------------------------------------------------------------------------
@dataclass(frozen=True)
class GroupLayer:
    """``--group COLUMN[:LAYER][:max=K]`` with ``--skip`` values: people sharing a value of ``column`` linked in
    layer ``layer`` (default: the column's attribute name), values in ``skip`` linking nobody."""

    column: str
    layer: str | None = None
    skip: tuple[str, ...] = ()
    most: int | None = None


@dataclass(frozen=True)
class EdgeLayer:
    """``--edges FILE --layer NAME``: the lines of an edge list whose ids are the people's, as layer ``layer``:
    directed as given (``u v``: an edge u->v), trust from its ``weight`` column (else 1)."""

    path: str
    layer: str


@dataclass(frozen=True)
class NearLayer:
    """``--near X,Y:R[:LAYER]``: people within ``radius`` of each other on columns ``x``, ``y``."""

    x: str
    y: str
    radius: float
    layer: str | None = None


def group_layer(text: str, skip: tuple[str, ...] = ()) -> GroupLayer:
    """A group layer written ``COLUMN[:LAYER][:max=K]`` (the field ``group``), with ``skip`` values.

    Raises:
        BadParameterError: no column, or a ``max`` that is not a whole number (ASCII digits) from 1 to
            :data:`MAX_MOST`.
    """
    column, *rest = [part.strip() for part in str(text).split(":")]
    layer, most = None, None
    for part in rest:
        if part.startswith("max="):
            value = ascii_int(part[4:]) if part[4:].strip().isdigit() else None
            if value is None or not 1 <= value <= MAX_MOST:
                raise BadParameterError(
                    f"group {text[:60]}: max must be a whole number of at least 1 and at most {MAX_MOST:,}, in "
                    "ASCII digits",
                    fields="group",
                )
            most = value
        elif layer is None and part:
            layer = part
        else:
            raise BadParameterError(f"group {text[:60]} is not COLUMN[:LAYER][:max=K]", fields="group")
    if not column:
        raise BadParameterError(f"group {text[:60]} names no column: give COLUMN[:LAYER]", fields="group")
    return GroupLayer(column=column, layer=layer, skip=tuple(str(v) for v in skip), most=most)


def near_layer(text: str) -> NearLayer:
    """A near layer written ``X,Y:R[:LAYER]`` (the field ``near``).

    Raises:
        BadParameterError: not X,Y:R, or a distance that is not a positive number (ASCII digits) of at most
            :data:`MAX_COORDINATE`.
    """
    parts = [part.strip() for part in str(text).split(":")]
    columns = parts[0].split(",") if parts else []
    if len(parts) not in (2, 3) or len(columns) != 2 or not all(columns):
        raise BadParameterError(f"near {text[:60]} is not X,Y:R[:LAYER] (for example x,y:50:village)", fields="near")
    radius = ascii_float(parts[1])
    if radius is None:
        raise BadParameterError(
            f"near {text[:60]}: the distance {parts[1][:20]!r} is not a number in ASCII digits", fields="near"
        )
    if not (math.isfinite(radius) and 0 < radius <= MAX_COORDINATE):
        raise BadParameterError(
            f"near {text[:60]}: the distance must be a positive number of at most {MAX_COORDINATE:g}", fields="near"
        )
    return NearLayer(x=columns[0], y=columns[1], radius=radius, layer=parts[2] if len(parts) == 3 else None)


#: How many isolated people's ids a people world keeps to show (``agora info``).
ISOLATED_SHOWN = 10

Layer = GroupLayer | NearLayer | EdgeLayer


def people_world(name: str, table: PeopleTable, layers: Sequence[Layer], *, seed: int = 0) -> World:
    """The world of ``table``: one agent per person (none dropped: a person with no contact is an isolated
    agent), agents in the order of their ids, each contact layer one bit of the edges' ``graph.layer`` (a pair
    in two layers is one edge in both); the other attributes drawn from ``seed`` as for any world.

    Trust is 1 but for the edges of an edge-list layer with a ``weight`` column, whose weight is the trust (a
    pair has one trust): it wins over the 1 of any other layer, and where two weighted edge lists weigh a pair
    differently the first layer listed wins (counted in the source's ``weight_conflicts``).

    Every check comes before any edge is made: the table's columns (:func:`sim.store.people.check_attributes`),
    the layers' names and columns, each group and near layer's edges counted and the whole build's memory
    (:data:`BUILD_BYTES_PER_EDGE` a directed edge) against what is available; then each edge list's, once read.

    Raises:
        BadFileError: a column breaks a rule of :func:`sim.store.people.keep_attributes`; a ``--near`` coordinate
            beyond :data:`MAX_COORDINATE`; an edge list is bad (see :func:`edge_list_edges`: an id not in the
            table, its line named).
        BadParameterError: a layer's column the table lacks (or a ``--near`` column that is not numeric), a
            layer named twice, more than :data:`sim.core.world.MAX_LAYERS` layers, a bad layer name, or a
            group or near layer of more than :data:`MAX_LAYER_EDGES` edges (see :func:`group_edges`).
        ResourceError: the layers need more memory than is available (the figure and what to do named).
    """
    if len(layers) > MAX_LAYERS:
        raise BadParameterError(f"a world holds at most {MAX_LAYERS} contact layers, not {len(layers)}")
    check_attributes(table)
    n = table.rows
    names = _layer_names(table, layers)
    sizes = [_layer_size(table, spec, name) for spec, name in zip(layers, names)]
    _ensure_build(table, layers, names, sizes, weighted=False)
    order = np.argsort(table.ids, kind="stable")
    rank = np.empty(order.size, dtype=np.int32)
    rank[order] = np.arange(order.size, dtype=np.int32)  # row -> agent index (agents in id order)
    ids = table.ids[order]
    edge_lists: list[dict] = []
    listed: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray | None]] = {}
    for i, spec in enumerate(layers):
        if isinstance(spec, EdgeLayer):
            src, dst, w, counts = edge_list_edges(spec.path, ids)
            edge_lists.append({"layer": names[i], **counts})
            listed[i] = (src, dst, w)
            sizes[i] = int(src.size)
    weighted = any(w is not None for _, _, w in listed.values())
    if listed:
        _ensure_build(table, layers, names, sizes, weighted=weighted)
    conflicts = 0
    if weighted:
        graph, conflicts = _weighted_graph(table, layers, names, listed, rank, seed)
    else:
        graph = _graph(table, layers, listed, rank, sizes, seed)
    alone = np.flatnonzero((graph.out_degree() + graph.in_degree()) == 0)
    isolated = int(alone.size)
    source = {"kind": "people", "file": os.path.basename(table.path), "id": table.id_column, "rows": n}
    # The first isolated people's ids (agents are in id order), so that a user can see who they are.
    first = ids[alone[:ISOLATED_SHOWN]].tolist()
    source.update({"isolated": isolated, "isolated_ids": first, "renamed": dict(table.renamed)})
    if edge_lists:
        source.update({"edge_lists": edge_lists, "weight_conflicts": conflicts})
    world = world_on_graph(name, seed, graph, drawn_trust=False, ids=ids, config={"source": source})
    world.layers = tuple(names)
    keep_attributes(world, table, order)
    return world


def _layer_chunks(
    table: PeopleTable, spec: GroupLayer | NearLayer, i: int, seed: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """A group or near layer's edges (int32 rows of the table), a chunk at a time."""
    if isinstance(spec, GroupLayer):
        codes, keep = _group_codes(table, spec)
        return _group_chunks(codes, keep, spec.most, np.random.default_rng([seed, i]))
    return _near_chunks(_numeric(table, spec.x), _numeric(table, spec.y), spec.radius)


def _graph(
    table: PeopleTable,
    layers: Sequence[Layer],
    listed: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray | None]],
    rank: np.ndarray,
    sizes: list[int],
    seed: int,
) -> Graph:
    """The graph of layers without weights: every edge's key ``(src * n + dst) << 8 | layer bit`` (int64) made
    a chunk at a time into one array, sorted in place; a pair's bits or-ed over its keys. With one layer
    whose edges are distinct (a group linked whole, pairs within R), no merge is needed at all."""
    n = table.rows
    total = sum(sizes)
    if n >= 2**27 and len(layers) > 1:  # (n * n) << 8 would not fit: the general merge
        return _weighted_graph(table, layers, [""] * len(layers), listed, rank, seed)[0]
    shift = 8 if len(layers) > 1 else 0
    key = np.empty(total, dtype=np.int64)
    at = 0
    for i, spec in enumerate(layers):
        chunks: Iterator[tuple[np.ndarray, np.ndarray]]
        if isinstance(spec, EdgeLayer):
            src, dst, _ = listed.pop(i)
            chunks = iter([(src, dst)])
        else:
            chunks = ((rank[s], rank[d]) for s, d in _layer_chunks(table, spec, i, seed))
        for src, dst in chunks:
            part = key[at : at + src.size]
            np.multiply(src, np.int64(n), out=part)
            part += dst
            if shift:
                part <<= shift
                part |= 1 << i
            at += src.size
            del part  # a view of ``key``: it would keep the whole array alive after ``del key``
    key = key[:at]  # a group layer's count is a bound: picks of the same pair merge
    key.sort()
    distinct = len(layers) == 1 and not (isinstance(layers[0], GroupLayer) and layers[0].most is not None)
    if not distinct and key.size:
        first = np.empty(key.size, dtype=bool)
        first[0] = True
        for a in range(1, key.size, CHUNK):
            b = min(key.size, a + CHUNK)
            np.not_equal(key[a:b] >> shift, key[a - 1 : b - 1] >> shift, out=first[a:b])
        starts = np.flatnonzero(first)
        del first
        bits = None
        if shift:
            low = np.empty(key.size, dtype=np.uint8)
            for a in range(0, key.size, CHUNK):
                low[a : a + CHUNK] = key[a : a + CHUNK] & 0xFF
            bits = np.bitwise_or.reduceat(low, starts) if starts.size else low[:0]
            del low
        key = key[starts]
        del starts
    else:
        bits = None if not shift else (key & 0xFF).astype(np.uint8)
    if shift:
        key >>= shift
    if bits is None:
        bits = np.full(key.size, 1, dtype=np.uint8)
    src = np.empty(key.size, dtype=np.int32)
    dst = np.empty(key.size, dtype=np.int32)
    for a in range(0, key.size, CHUNK):
        src[a : a + CHUNK], dst[a : a + CHUNK] = np.divmod(key[a : a + CHUNK], n)
    del key
    return Graph.from_edges(n, src, dst, None, layer=bits if layers else None, assume_sorted_unique=True)


def _weighted_graph(
    table: PeopleTable,
    layers: Sequence[Layer],
    names: list[str],
    listed: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray | None]],
    rank: np.ndarray,
    seed: int,
) -> tuple[Graph, int]:
    """The graph when an edge list has weights: weighted layers' edges first (their trust wins, the first
    layer's over a later one's), merged by :meth:`sim.core.graph.Graph.from_edges`. Returns it and the pairs
    two weighted lists weigh differently."""
    n = table.rows
    weighted: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    plain: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for i, spec in enumerate(layers):
        bit = np.uint8(1 << i)
        if isinstance(spec, EdgeLayer):
            src, dst, w = listed.pop(i)
            if w is None:
                plain.append((src, dst, np.full(src.size, bit, dtype=np.uint8)))
            else:
                weighted.append((src, dst, w, np.full(src.size, bit, dtype=np.uint8)))
            continue
        for s, d in _layer_chunks(table, spec, i, seed):
            plain.append((rank[s], rank[d], np.full(s.size, bit, dtype=np.uint8)))
    conflicts = 0
    if len(weighted) > 1:
        conflicts = weight_conflicts(
            np.concatenate([p[0] for p in weighted]),
            np.concatenate([p[1] for p in weighted]),
            np.concatenate([p[2] for p in weighted]),
            n,
        )
    parts = [(s, d, w, b) for s, d, w, b in weighted] + [(s, d, None, b) for s, d, b in plain]
    del weighted, plain
    if not parts:
        empty = np.empty(0, dtype=np.int32)
        return Graph.from_edges(n, empty, empty, None, layer=np.empty(0, dtype=np.uint8)), 0
    src = np.concatenate([p[0] for p in parts])
    dst = np.concatenate([p[1] for p in parts])
    trust = np.concatenate([p[2] if p[2] is not None else np.ones(p[0].size, np.float32) for p in parts])
    bits = np.concatenate([p[3] for p in parts])
    del parts
    graph = Graph.from_edges(n, src, dst, trust.astype(np.float32, copy=False), layer=bits)
    return graph, conflicts


def _layer_size(table: PeopleTable, spec: Layer, name: str) -> int:
    """A group or near layer's directed edges (a group's picks: a bound), counted without making one; 0 for an
    edge list (counted once read).

    Raises:
        BadParameterError: more than :data:`MAX_LAYER_EDGES`; a ``--near`` column that is not numeric.
        BadFileError: a ``--near`` coordinate beyond :data:`MAX_COORDINATE` (its line named).
    """
    if isinstance(spec, EdgeLayer):
        return 0
    if isinstance(spec, GroupLayer):
        codes, keep = _group_codes(table, spec)
        return _check_group(codes, keep, spec.most, f"group layer {name} (group {spec.column[:60]})")
    x, y = _numeric(table, spec.x), _numeric(table, spec.y)
    for column, values in ((spec.x, x), (spec.y, y)):
        bad = np.flatnonzero(np.abs(values) > MAX_COORDINATE)
        if bad.size:
            row = int(bad[0])
            raise BadFileError(
                f"people table {table.path} {table.where(row)}: its {column[:60]} (a near coordinate) is "
                f"{float(values[row]):g}: give coordinates of at most {MAX_COORDINATE:g} in magnitude"
            )
    count = near_edge_count(x, y, spec.radius)
    if count > MAX_LAYER_EDGES:
        raise BadParameterError(
            f"near {spec.x[:30]},{spec.y[:30]}:{spec.radius:g} (layer {name}) links {count // 2:,} pairs, "
            f"{count:,} directed edges, more than {MAX_LAYER_EDGES:,}: give a smaller distance than {spec.radius:g}",
            fields="near",
        )
    return count


def build_bytes(people: int, edges: int, *, weighted: bool = False) -> int:
    """Peak memory of building and writing a world of ``people`` and ``edges`` directed edges (before merge)."""
    per_edge = WEIGHTED_BYTES_PER_EDGE if weighted else BUILD_BYTES_PER_EDGE
    return BUILD_BYTES_FIXED + people * BUILD_BYTES_PER_PERSON + edges * per_edge


def _ensure_build(
    table: PeopleTable, layers: Sequence[Layer], names: list[str], sizes: list[int], *, weighted: bool
) -> None:
    """Refuse, before any edge is made, layers whose build needs more memory than is available, naming the
    figure, the biggest layer and what to do for it.

    Raises:
        ResourceError: the estimate exceeds 90 % of :func:`sim.core.memory.memory_available`.
    """
    total = sum(sizes)
    need = build_bytes(table.rows, total, weighted=weighted)
    available = memory_available()
    if need <= available.bytes * 0.9:
        return
    bound = f" ({available.bound})" if available.bound else ""
    short = f"needs about {gib(need)} of memory to build but only {gib(available.bytes)} is available{bound}"
    if not layers:
        raise ResourceError(f"a world of {table.rows:,} people {short}: give a smaller table")
    big = max(range(len(layers)), key=lambda i: sizes[i])
    spec = layers[big]
    per_edge = WEIGHTED_BYTES_PER_EDGE if weighted else BUILD_BYTES_PER_EDGE
    if isinstance(spec, GroupLayer):
        codes, keep = _group_codes(table, spec)
        kept = int(np.count_nonzero(_kept(codes, keep)))
        room = int(available.bytes * 0.9) - build_bytes(table.rows, total - sizes[big], weighted=weighted)
        k = min(room // max(1, 2 * kept * per_edge), MAX_MOST)
        fits = f" (up to about {k:,} fits)" if k >= 1 else ""
        hint = f"give group {spec.column[:60]}:max=K to link each person to at most K others of their group{fits}"
        field = "group"
    elif isinstance(spec, NearLayer):
        hint = f"give near {spec.x[:30]},{spec.y[:30]}:R with a distance R below {spec.radius:g}"
        field = "near"
    else:
        hint = "give a smaller edge list, or build the world on a machine with more memory"
        field = ""
    what = ""
    if len(layers) > 1:
        hint += ", or fewer layers"
        what = (
            f" ({sizes[big]:,} of them in layer {names[big]})"
            if names[big] != field
            else f" ({sizes[big]:,} of them in the biggest layer)"
        )
    raise ResourceError(
        f"a world of {table.rows:,} people with {total:,} directed edges{what} {short}: {hint}", fields=field or ()
    )


def _layer_names(table: PeopleTable, layers: Sequence[Layer]) -> list[str]:
    """The layers' names (a group's default: its column's; a near layer's: near), checked before any work.

    Raises:
        BadParameterError: a name that is not plain, or one named twice.
    """
    names: list[str] = []
    for spec in layers:
        if isinstance(spec, GroupLayer):
            _group_codes(table, spec)  # a column the table lacks is named before its layer's name is judged
            layer = spec.layer or table_name(table, spec.column)
        else:
            layer = spec.layer or ("near" if isinstance(spec, NearLayer) else "")
        if not LAYER_NAME.fullmatch(layer):
            raise BadParameterError(
                f"layer name {layer[:40]!r} is not a plain name: use letters, digits and _, a letter first"
            )
        if layer in names:
            raise BadParameterError(f"layer {layer} is named twice: give each layer its own name")
        names.append(layer)
    return names


def table_name(table: PeopleTable, column: str) -> str:
    """The attribute name of ``column`` (the file's name, or the plain name it became)."""
    return table.renamed.get(column, column)


def _group_codes(table: PeopleTable, spec: GroupLayer) -> tuple[np.ndarray, np.ndarray]:
    """A group layer's codes per person and who is kept (skipped values and missing cells out)."""
    name = table_name(table, spec.column)
    if name in table.categories:
        cat = table.categories[name]
        skip = [cat.labels.index(v) for v in spec.skip if v in cat.labels]
        keep = (cat.codes >= 0) & ~np.isin(cat.codes, skip)
        return cat.codes, keep
    if name in table.numbers:
        values = table.numbers[name]
        skipped = [v for v in (ascii_float(s, special=True) for s in spec.skip) if v is not None]
        keep = ~np.isnan(values) & ~np.isin(values, skipped)
        return values, keep
    raise BadParameterError(f"group {spec.column[:60]}: the people table has no such column", fields="group")


def _numeric(table: PeopleTable, column: str) -> np.ndarray:
    """A ``near`` layer's coordinate column (numbers)."""
    name = table_name(table, column)
    if name in table.numbers:
        return table.numbers[name]
    what = "is not numeric" if name in table.categories else "is not a column of the people table"
    raise BadParameterError(f"near {column[:60]} {what}: give two numeric columns, as X,Y:R", fields="near")


__all__ = [
    "BUILD_BYTES_PER_EDGE",
    "MAX_COORDINATE",
    "MAX_LAYER_EDGES",
    "MAX_MOST",
    "EdgeLayer",
    "GroupLayer",
    "NearLayer",
    "build_bytes",
    "group_edge_count",
    "group_edges",
    "group_layer",
    "edge_list_edges",
    "near_edge_count",
    "near_edges",
    "near_layer",
    "people_world",
    "table_name",
    "weight_conflicts",
]
