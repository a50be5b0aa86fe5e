"""Analyses by a category and per contact layer (issue 59): the groups table of a category attribute, and the
world seen through some of its contact layers.

Groups
    :func:`group_table` groups the agents by the codes of a category attribute (``world.columns[name]``, labels
    ``world.category_labels(name)``) and counts, per group, what the communities table counts per community
    (:func:`~sim.store.analysis_tables.community_table`: size, internal edges and density, dominant interests,
    top influencers by the PageRank given, edges between groups). Every label is a group, in code order, an empty
    one included (size 0); agents whose value is missing (code -1) are in no group: no row, no flow, counted in
    :attr:`GroupTable.missing`. Nothing is stored: the world's ``community`` column and its stored communities
    table stay as they are.

Layers
    :func:`layer_world` is the world with only the edges of the named layers (an edge whose ``graph.layer`` bits
    include one of theirs), as a new :class:`~sim.core.world.World` that shares the agent columns: every analysis
    of :mod:`sim.analysis.structure` runs on it unchanged. The CSR is filtered with one boolean mask over the
    edges, no loop. What is computed on it describes those layers only, so front ends report it and never store
    it in the world file (whose analysis describes the whole graph).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.analysis.bygroup import groups_of, parse_by
from sim.core.graph import Graph, GraphDelta
from sim.core.world import World
from sim.errors import BadParameterError
from sim.store.analysis_tables import FLOW_DTYPE, CommunityTable, community_table

#: The name a report gives agents whose category value is missing (they are in no group).
MISSING = "(missing)"


# -- layers ------------------------------------------------------------------------------------------------------
def layer_bits(world: World, names: Iterable[str]) -> int:
    """The bitmask of the contact layers ``names`` (an edge is kept when its bits share one of these).

    Raises:
        BadParameterError: the world has no layers, no layer is named, or a name is not one of its layers.
    """
    wanted = [str(x) for x in names]
    if not world.layers or world.graph.layer is None:
        raise BadParameterError(
            "this world has no contact layers (its edges are one graph): analyse it whole, without a layer"
        )
    if not wanted:
        raise BadParameterError(f"name a contact layer to analyse: this world's are {', '.join(world.layers)}")
    mask = 0
    for name in wanted:
        if name not in world.layers:
            raise BadParameterError(
                f"this world has no contact layer {name[:60]!r}: its layers are {', '.join(world.layers)}"
            )
        mask |= 1 << world.layers.index(name)
    return mask


def layer_graph(graph: Graph, bits: int) -> Graph:
    """The graph of the edges whose layer bits share ``bits`` (trust and layer bits kept), on the same agents.

    Raises:
        ValueError: the graph has no layers.
    """
    if graph.layer is None:
        raise ValueError("a graph without layers has no layer to keep")
    keep = (graph.layer & np.uint8(bits)) != 0
    if bool(keep.all()):
        return graph
    rows = np.repeat(np.arange(graph.n, dtype=np.int64), np.diff(graph.out_indptr))[keep]
    # The out-CSR's edges are sorted by (source, target) and unique, so the kept ones are too.
    return Graph.from_edges(
        graph.n,
        rows,
        graph.out_indices[keep],
        graph.trust[keep],
        layer=graph.layer[keep],
        assume_sorted_unique=True,
    )


def layer_world(world: World, names: Iterable[str]) -> World:
    """``world`` with only the edges of the contact layers ``names`` (any of them), sharing its agent columns.

    Read it, never write it: the columns are the world's own, and nothing computed on it should be stored.

    Raises:
        BadParameterError: as :func:`layer_bits`.
    """
    names = tuple(str(x) for x in names)
    bits = layer_bits(world, names)
    graph = layer_graph(world.graph, bits)
    return dataclasses.replace(world, graph=graph, delta=GraphDelta(world.n), dirty_arrays=set())


# -- groups ------------------------------------------------------------------------------------------------------
def category_codes(world: World, name: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """The codes (int64, -1 missing) and labels of category attribute ``name``, or of the bands of a number
    attribute ``COLUMN:B1,B2,...`` (``AGE:0,5,15,65``: ``AGE:0-4``, ``AGE:5-14``...; :mod:`sim.analysis.bygroup`;
    below the first bound a group of its own, a missing value in none).

    Raises:
        BadParameterError: ``name`` is a number attribute without bands, bands of a category, or no attribute of
            the world.
    """
    if isinstance(name, str) and ":" in name:
        by = parse_by(name)
        if (world.attributes.get(by.column) or {}).get("kind") == "number":
            labels, codes = groups_of(world, by)
            missing = labels.index(f"{by.column}:missing") if f"{by.column}:missing" in labels else None
            if missing is not None:
                codes = np.where(codes == missing, -1, codes)
                labels = labels[:missing] + labels[missing + 1 :]
            return codes, tuple(labels)
    spec = world.attributes.get(name) if isinstance(name, str) else None
    if spec is not None and spec.get("kind") != "category":
        held = [k for k, v in world.attributes.items() if v.get("kind") == "category"]
        raise BadParameterError(
            f"{name[:60]!r} is a number attribute: give its bands, such as {name[:20]}:0,5,15,65, or group by the "
            "labels of a category: "
            + (f"choose one of {', '.join(held)}" if held else "this world has no category attribute")
        )
    named = tuple(world.category_labels(name))  # refuses a name that is no category of the world
    return np.asarray(world.columns[name], dtype=np.int64), named


@dataclass(eq=False)
class GroupTable:
    """The groups of category attribute ``by``: ``table`` has one row per label (row ``c`` is label ``c``, sizes
    0 included), ``missing`` counts the agents with no value (in no group)."""

    by: str
    labels: tuple[str, ...]
    table: CommunityTable
    missing: int

    @property
    def count(self) -> int:
        """The number of groups (labels), empty ones included."""
        return len(self.labels)

    def order(self) -> list[int]:
        """The groups' codes, largest first (ties: code order)."""
        return [int(c) for c in np.lexsort((np.arange(self.count), -self.table.size))]

    def rows(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The groups as plain dicts, largest first: ``code``, ``label`` and the communities table's fields."""
        codes = self.order()
        rows = []
        for c in codes if limit is None else codes[:limit]:
            row = self.table.row(c)
            del row["id"]
            rows.append({"code": c, "label": self.labels[c], **row})
        return rows

    def top_flows(self, limit: int = 20) -> list[dict[str, Any]]:
        """The ``limit`` largest flows between groups: codes, labels and edges."""
        return [
            {**f, "src_label": self.labels[f["src"]], "dst_label": self.labels[f["dst"]]}
            for f in self.table.top_flows(limit)
        ]

    def summary(self, top: int = 10) -> dict[str, Any]:
        """What ``--json`` reports of the groups: the ``top`` largest and flows."""
        return {
            "by": self.by,
            "count": self.count,
            "missing": self.missing,
            "table": self.rows(top),
            "top_flows": self.top_flows(top),
        }


def group_table(world: World, by: str, pagerank: np.ndarray | None = None) -> GroupTable:
    """The groups table of ``world`` by category attribute ``by``, top influencers ranked by ``pagerank``
    (per agent; None: the world's stored ``influence`` column). Vectorised as
    :func:`~sim.store.analysis_tables.community_table`, on the world's graph (a :func:`layer_world`'s, too).

    Raises:
        BadParameterError: ``by`` is not a category attribute of the world.
    """
    codes, labels = category_codes(world, by)
    k = len(labels)
    influence = world.columns["influence"] if pagerank is None else pagerank
    missing = int(np.count_nonzero(codes < 0))
    if codes.size and int(codes.max()) >= 0:
        table = community_table(world, membership=codes, influence=influence)
    else:  # nobody has a value: every group is empty
        table = _empty_table(k)
    if table.count < k:  # labels past the highest code any agent carries: empty groups
        table = _padded(table, k)
    return GroupTable(by=by, labels=labels, table=table, missing=missing)


def _empty_table(k: int) -> CommunityTable:
    return CommunityTable(
        size=np.zeros(k, dtype=np.int64),
        internal_edges=np.zeros(k, dtype=np.int64),
        density=np.zeros(k),
        interests=np.full((k, 3), -1, dtype=np.int16),
        interest_share=np.zeros((k, 3), dtype=np.float32),
        top_influencers=np.full((k, 5), -1, dtype=np.int64),
        flows=np.zeros(0, dtype=FLOW_DTYPE),
    )


def _padded(table: CommunityTable, k: int) -> CommunityTable:
    """``table`` with empty rows up to ``k``."""
    extra = k - table.count

    def pad(a: np.ndarray, fill: float) -> np.ndarray:
        return np.concatenate([a, np.full((extra, *a.shape[1:]), fill, dtype=a.dtype)])

    return CommunityTable(
        size=pad(table.size, 0),
        internal_edges=pad(table.internal_edges, 0),
        density=pad(table.density, 0.0),
        interests=pad(table.interests, -1),
        interest_share=pad(table.interest_share, 0.0),
        top_influencers=pad(table.top_influencers, -1),
        flows=table.flows,
        unassigned=table.unassigned,
    )
