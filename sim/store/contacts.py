"""Contact layers from a table of people (issue 59): who is linked to whom, as edge arrays, with no loop over
people or groups.

- :func:`group_edges`: people sharing a value of a column (a household, a class) are linked both ways. A
  group of k people costs k(k-1) directed edges, counted first (:func:`group_edge_count`), so that a group too
  big to link whole is refused before any work, or linked to ``most`` random members each.
- :func:`near_edges`: people within distance R of each other (a k-d tree's pairs, not all pairs).
- :func:`edge_list_edges`: the lines of an edge list whose ids are the people's (read as
  :mod:`sim.store.importer` reads any, its ends found by ``np.searchsorted`` among the sorted ids), directed as
  the lines give them, its ``weight`` column the edges' trust.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sim.core.arrays import equal_runs
from sim.core.graph import Graph, csr_positions
from sim.core.world import LAYER_NAME, MAX_LAYERS, World, world_on_graph
from sim.errors import BadFileError, BadParameterError
from sim.store.importer import merged_edges, read_edge_rows
from sim.store.people import PeopleTable, keep_attributes

#: The most directed edges one layer may need before it is refused (or thinned with ``most``).
MAX_LAYER_EDGES = 200_000_000


def _groups(codes: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The people in ``keep``, ordered by their code, and the offsets of each group among them (CSR-like)."""
    who = np.flatnonzero(keep)
    order = who[np.argsort(codes[who], kind="stable")]
    sorted_codes = codes[order]
    if not order.size:
        return order, np.zeros(1, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    return order, np.append(starts, order.size).astype(np.int64)


def group_edge_count(codes: np.ndarray, keep: np.ndarray) -> int:
    """The directed edges linking every group whole: the sum of k(k-1) over the groups of the people kept."""
    _, offsets = _groups(codes, keep)
    sizes = np.diff(offsets).astype(np.int64)
    return int(np.sum(sizes * (sizes - 1)))


def group_edges(
    codes: np.ndarray, keep: np.ndarray, *, most: int | None = None, rng: np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The edges ``(src, dst)`` (agent indices, both directions) linking the people kept (``keep``) who share a
    code. ``most``: each person is linked to at most that many random members of their group (and they to
    them), for groups too big to link whole; None links every group whole.

    Raises:
        BadParameterError: linking whole would take more than :data:`MAX_LAYER_EDGES` edges (give ``most``).
    """
    codes = np.asarray(codes)
    keep = np.asarray(keep, dtype=bool) & (codes >= 0 if codes.dtype.kind in "iu" else ~np.isnan(codes))
    order, offsets = _groups(codes, keep)
    sizes = np.diff(offsets)
    if most is None:
        need = int(np.sum(sizes.astype(np.int64) * (sizes - 1)))
        if need > MAX_LAYER_EDGES:
            raise BadParameterError(
                f"linking every group whole takes {need:,} edges, more than {MAX_LAYER_EDGES:,}: link each "
                "person to at most K members of their group (:max=K)"
            )
        group_of = np.repeat(np.arange(sizes.size), sizes)  # each kept person's group, in ``order``
        partners, counts = csr_positions(offsets, group_of)
        src = np.repeat(order, counts)
        dst = order[partners]
        other = src != dst
        return src[other], dst[other]
    if most < 1:
        raise BadParameterError(f"max must be at least 1, not {most}")
    rng = rng if rng is not None else np.random.default_rng(0)
    # Each person picks ``most`` members of their group at random (with replacement, then merged): one draw
    # per pick, no loop over groups; the links go both ways.
    group_of = np.repeat(np.arange(sizes.size), sizes)
    picks = np.repeat(np.arange(order.size), most)
    g = group_of[picks]
    chosen = offsets[g] + (rng.random(picks.size) * sizes[g]).astype(np.int64)
    src, dst = order[picks], order[chosen]
    other = src != dst
    src, dst = src[other], dst[other]
    return np.concatenate([src, dst]), np.concatenate([dst, src])


def near_edges(x: np.ndarray, y: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """The edges ``(src, dst)`` (both directions) between people within ``radius`` of each other (Euclidean),
    found by a k-d tree; people with a missing coordinate (NaN) are in no pair.

    Raises:
        BadParameterError: a radius that is not a positive finite number.
    """
    from scipy.spatial import cKDTree  # noqa: PLC0415 - only worlds made with --near need it

    if not np.isfinite(radius) or radius <= 0:
        raise BadParameterError(f"near distance must be a positive number, not {radius}", fields="near")
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    where = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    if where.size < 2:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    pairs = cKDTree(np.column_stack([x[where], y[where]])).query_pairs(radius, output_type="ndarray")
    a, b = where[pairs[:, 0]], where[pairs[:, 1]]
    return np.concatenate([a, b]), np.concatenate([b, a])


def edge_list_edges(path: str, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, dict]:
    """The edges ``(src, dst, weight)`` (agent indices; weight float32 or None) of the edge list at ``path``
    between the agents whose ids are ``ids`` (ascending, as a world keeps them), and the file's counts: read as
    :func:`sim.store.importer.read_edge_list` reads any edge list (its formats, bounds and weight checks), each
    line ``u v`` one edge u->v as given, self-loops dropped and duplicate lines merged (the first weight kept).

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
    return src.astype(np.int64), dst.astype(np.int64), w, counts


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
        BadParameterError: no column, or a ``max`` that is not a whole number of at least 1.
    """
    column, *rest = [part.strip() for part in str(text).split(":")]
    layer, most = None, None
    for part in rest:
        if part.startswith("max="):
            value = part[4:]
            if not value.isdigit() or int(value) < 1:
                raise BadParameterError(f"group {text[:60]}: max must be a whole number of at least 1", fields="group")
            most = int(value)
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
        BadParameterError: not X,Y:R, or a distance that is not a number.
    """
    parts = [part.strip() for part in str(text).split(":")]
    columns = parts[0].split(",") if parts else []
    if len(parts) not in (2, 3) or len(columns) != 2 or not all(columns):
        raise BadParameterError(f"near {text[:60]} is not X,Y:R[:LAYER] (for example x,y:50:village)", fields="near")
    try:
        radius = float(parts[1])
    except ValueError:
        raise BadParameterError(
            f"near {text[:60]}: the distance {parts[1][:20]!r} is not a number", fields="near"
        ) from None
    return NearLayer(x=columns[0], y=columns[1], radius=radius, layer=parts[2] if len(parts) == 3 else None)


#: How many isolated people's ids a people world keeps to show (``agora info``).
ISOLATED_SHOWN = 10


def people_world(
    name: str, table: PeopleTable, layers: Sequence[GroupLayer | NearLayer | EdgeLayer], *, seed: int = 0
) -> World:
    """The world of ``table``: one agent per person (none dropped: a person with no contact is an isolated
    agent), agents in the order of their ids, each contact layer one bit of the edges' ``graph.layer`` (a pair
    in two layers is one edge in both); the other attributes drawn from ``seed`` as for any world.

    Trust is 1 but for the edges of an edge-list layer with a ``weight`` column, whose weight is the trust (a
    pair has one trust): it wins over the 1 of any other layer, and where two weighted edge lists weigh a pair
    differently the first layer listed wins (counted in the source's ``weight_conflicts``).

    Raises:
        BadFileError: a column breaks a rule of :func:`sim.store.people.keep_attributes`; an edge list is bad
            (see :func:`edge_list_edges`: an id not in the table, its line named).
        BadParameterError: a layer's column the table lacks (or a ``--near`` column that is not numeric), a
            layer named twice, more than :data:`sim.core.world.MAX_LAYERS` layers, a bad layer name, or a
            group layer too big to link whole (see :func:`group_edges`).
        ResourceError: an edge list too large for the memory available.
    """
    if len(layers) > MAX_LAYERS:
        raise BadParameterError(f"a world holds at most {MAX_LAYERS} contact layers, not {len(layers)}")
    order = np.argsort(table.ids, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)  # row -> agent index (agents in id order)
    ids = table.ids[order]
    n = table.rows
    names = _layer_names(table, layers)
    weighted: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []  # their trust first: it wins
    plain: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    edge_lists: list[dict] = []
    for i, spec in enumerate(layers):
        bit = np.uint8(1 << i)
        if isinstance(spec, EdgeLayer):
            src, dst, w, counts = edge_list_edges(spec.path, ids)
            edge_lists.append({"layer": names[i], **counts})
            if w is None:
                plain.append((src, dst, np.full(src.size, bit, dtype=np.uint8)))
            else:
                weighted.append((src, dst, w, np.full(src.size, bit, dtype=np.uint8)))
            continue
        if isinstance(spec, GroupLayer):
            codes, keep = _group_codes(table, spec)
            src, dst = group_edges(codes, keep, most=spec.most, rng=np.random.default_rng([seed, i]))
        else:
            src, dst = near_edges(_numeric(table, spec.x), _numeric(table, spec.y), spec.radius)
        plain.append((rank[src], rank[dst], np.full(src.size, bit, dtype=np.uint8)))
    empty = np.empty(0, dtype=np.int64)
    parts = [(s, d, w, b) for s, d, w, b in weighted] + [(s, d, np.ones(s.size, np.float32), b) for s, d, b in plain]
    src = np.concatenate([p[0] for p in parts]) if parts else empty
    dst = np.concatenate([p[1] for p in parts]) if parts else empty
    trust = np.concatenate([p[2] for p in parts]).astype(np.float32) if parts else np.empty(0, dtype=np.float32)
    bits = np.concatenate([p[3] for p in parts]) if parts else np.empty(0, dtype=np.uint8)
    conflicts = 0
    if len(weighted) > 1:
        heavy = sum(p[0].size for p in weighted)
        conflicts = weight_conflicts(src[:heavy], dst[:heavy], trust[:heavy], n)
    del parts, weighted, plain
    # Graph.from_edges merges a pair listed in several layers into one edge (bits or-ed, the first trust kept).
    graph = Graph.from_edges(n, src, dst, trust, layer=bits if names else None)
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


def _layer_names(table: PeopleTable, layers: Sequence[GroupLayer | NearLayer | EdgeLayer]) -> list[str]:
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
        skipped = [float(v) for v in spec.skip if _is_number(v)]
        keep = ~np.isnan(values) & ~np.isin(values, skipped)
        return values, keep
    raise BadParameterError(f"group {spec.column}: the people table has no such column", fields="group")


def _numeric(table: PeopleTable, column: str) -> np.ndarray:
    """A ``near`` layer's coordinate column (numbers)."""
    name = table_name(table, column)
    if name in table.numbers:
        return table.numbers[name]
    what = "is not numeric" if name in table.categories else "is not a column of the people table"
    raise BadParameterError(f"near {column} {what}: give two numeric columns, as X,Y:R", fields="near")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


__all__ = [
    "MAX_LAYER_EDGES",
    "EdgeLayer",
    "GroupLayer",
    "NearLayer",
    "group_edge_count",
    "group_edges",
    "group_layer",
    "edge_list_edges",
    "near_edges",
    "near_layer",
    "people_world",
    "table_name",
    "weight_conflicts",
]
