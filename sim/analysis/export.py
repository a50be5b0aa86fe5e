"""Exports of a world for pandas and Gephi: a CSV of agents, GraphML and GEXF through networkx.

The CSV has one row per agent: ``id`` (original id), ``name``, ``community`` (-1: an isolated agent,
with no links, in no community; or unknown before any analysis), ``pagerank`` (raw
PageRank, empty when none has been computed), ``influence`` (PageRank over its maximum),
``in_degree`` (agents it follows: edges into it) and ``out_degree`` (its followers: edges out of it).
Then one column per attribute of the agents (``sim.core.attributes``; named ``attribute_NAME`` where the name is
one of those): a number ('' when missing) or a category's label ('' when missing).
It is written in chunks from the columns; the csv module quotes and escapes text, which is otherwise
kept exactly as it is, except that a name or label a spreadsheet would read as a formula (starting with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return) gets a leading ``'`` (``sim.core.safe.csv_cell``).

GraphML and GEXF hold a graph: the whole world, one community's induced subgraph, or the ego network
within ``radius`` links (either direction) of one agent. Nodes are keyed by original id and carry
``name`` (and ``label``, the same, for Gephi), ``community``, ``pagerank``, ``influence``,
``in_degree`` and ``out_degree``, and the agents' attributes as the CSV has them (a missing number NaN);
edges follow the world's direction (``u -> v``: v follows u) with
their ``trust``. Text is escaped by networkx's XML writer; characters XML 1.0 cannot carry at all
(control characters such as ESC), DEL and the C1 controls are replaced by U+FFFD (``sim.core.safe.xml_safe``),
so the file always parses. A graph above ``max_edges`` edges (200,000
by default) is refused: Gephi cannot lay out such a file usefully, and a part is the better export.

Files are written to a temporary name beside the target and renamed when complete.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.analysis.paths import ego_agents, induced_edges
from sim.analysis.structure import NoCommunitiesError, raw_pagerank
from sim.core.persona import FIRST_NAMES, LAST_NAMES
from sim.core.safe import csv_cell, xml_safe
from sim.errors import AgoraError, BadParameterError
from sim.store.worldfile import check_target

if TYPE_CHECKING:  # pragma: no cover
    import networkx as nx

    from sim.core.world import World

Progress = Callable[[str, float], None] | None

FORMATS = ("csv", "graphml", "gexf")
MAX_GRAPH_EDGES = 200_000
CSV_COLUMNS = ("id", "name", "community", "pagerank", "influence", "in_degree", "out_degree")
CSV_CHUNK = 65_536

_FIRST = np.array(FIRST_NAMES, dtype=object)
_LAST = np.array(LAST_NAMES, dtype=object)


class ExportTooLargeError(AgoraError):
    """The graph asked for is too large for a useful GraphML/GEXF file."""


def names_of(world: World, idx: np.ndarray) -> list[str]:
    """Display names of the agents ``idx``: built from the persona codes in bulk, with overrides
    (names set by users or agents) applied on top."""
    codes = world.columns["persona_codes"][idx]
    names = (_FIRST[codes[:, 0]] + " ") + _LAST[codes[:, 1]]
    overrides = world.persona_overrides
    if overrides:
        keys = np.fromiter(overrides.keys(), dtype=np.int64, count=len(overrides))
        hit = np.flatnonzero(np.isin(idx, keys))
        for j in hit.tolist():
            names[j] = overrides[int(idx[j])].name
    return names.tolist()


def select_agents(
    world: World, *, community: int | None = None, ego: int | None = None, radius: int = 1
) -> np.ndarray | None:
    """Indices (sorted) of the agents of a part: a community, the ego network of ``ego`` (original id)
    within ``radius`` links, or both intersected. None means the whole world.

    Raises:
        NoCommunitiesError: ``community`` given but the world has none.
        BadParameterError: an unknown community, agent id or a negative radius.
    """
    sel: np.ndarray | None = None
    if community is not None:
        comm = world.columns["community"]
        top = int(comm.max(initial=-1))
        if top < 0:
            raise NoCommunitiesError("this world has no communities yet: run 'agora analyze WORLD' first")
        if not 0 <= community <= top:
            raise BadParameterError(f"community {community} does not exist: communities run from 0 to {top}")
        sel = np.flatnonzero(comm == community)
    if ego is not None:
        around = ego_agents(world, ego, radius)
        sel = around if sel is None else np.intersect1d(sel, around)
    return sel


def _part_name(community: int | None, ego: int | None, radius: int) -> str:
    parts = []
    if community is not None:
        parts.append(f"community {community}")
    if ego is not None:
        parts.append(f"the ego network of agent {ego} (radius {radius})")
    return " and ".join(parts) if parts else "the whole graph"


def _tmp_path(path: str) -> str:
    return f"{path}.tmp-{os.getpid()}"


def _float_text(values: np.ndarray) -> list[str]:
    """Shortest text of float32 values (numpy's repr, vectorised), '' for NaN."""
    text = np.asarray(values, dtype=np.float32).astype(str)
    text[np.isnan(values)] = ""
    return text.tolist()


def _csv_names(world: World, idx: np.ndarray) -> list[str]:
    """Names for the CSV: generated names are plain words; an override may need the formula guard."""
    names = names_of(world, idx)
    if world.persona_overrides:
        names = [csv_cell(n) for n in names]
    return names


def _attribute_cells(world: World) -> tuple[tuple[str, ...], list[Callable[[np.ndarray], list[str]]]]:
    """The attribute columns of the CSV (after the fixed ones): their headers (an attribute's name, or
    ``attribute_NAME`` where the name is a fixed column's) and, for each, the cells of agents ``idx``: a number
    as its shortest text ('' when missing), a category as its label through the formula guard ('' when
    missing), guarded once per label, not per agent."""
    headers: list[str] = []
    cells: list[Callable[[np.ndarray], list[str]]] = []
    for name, spec in world.attributes.items():
        headers.append(f"attribute_{name}" if name in CSV_COLUMNS else name)
        column = world.columns[name]
        if spec.get("kind") == "category":
            guarded = np.array([csv_cell(x) for x in world.category_labels(name)] + [""], dtype=object)
            cells.append(_label_cells(column, guarded))
        else:
            cells.append(_number_cells(column))
    return tuple(headers), cells


def _label_cells(column: np.ndarray, guarded: np.ndarray) -> Callable[[np.ndarray], list[str]]:
    """The cells of a category: code ``-1`` takes the last of ``guarded``, ''."""
    return lambda idx: list(guarded[column[idx]].tolist())


def _number_cells(column: np.ndarray) -> Callable[[np.ndarray], list[str]]:
    return lambda idx: _number_text(column[idx])


def _number_text(values: np.ndarray) -> list[str]:
    """Shortest text of float values of their own precision (a float32 measurement as float32), '' for NaN."""
    if values.dtype == np.float32:
        return _float_text(values)
    text = np.asarray(values, dtype=np.float64).astype(str)
    text[np.isnan(values)] = ""
    return text.tolist()


def write_csv(world: World, path: str, agents: np.ndarray | None = None, *, progress: Progress = None) -> int:
    """Write the agents CSV (all agents, or the indices ``agents``) to ``path``; returns the rows written."""
    n_rows = world.n if agents is None else int(agents.size)
    pr = raw_pagerank(world)
    indeg, outdeg = world.graph.in_degree(), world.graph.out_degree()
    c = world.columns
    headers, cells = _attribute_cells(world)
    tmp = _tmp_path(path)
    try:
        # errors="replace": a name holding a lone surrogate (not text UTF-8 can carry) cannot end the export.
        with open(tmp, "w", newline="", encoding="utf-8", errors="replace") as fh:
            w = csv.writer(fh)
            w.writerow(CSV_COLUMNS + headers)
            for start in range(0, n_rows, CSV_CHUNK):
                stop = min(n_rows, start + CSV_CHUNK)
                idx = np.arange(start, stop) if agents is None else np.asarray(agents[start:stop], dtype=np.int64)
                prv = np.full(idx.size, np.nan) if pr is None else pr[idx]
                w.writerows(
                    zip(
                        c["ids"][idx].tolist(),
                        _csv_names(world, idx),
                        c["community"][idx].tolist(),
                        _float_text(prv),
                        _float_text(c["influence"][idx]),
                        indeg[idx].tolist(),
                        outdeg[idx].tolist(),
                        *(cell(idx) for cell in cells),
                    )
                )
                if progress:
                    progress("writing CSV", stop / max(n_rows, 1))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return n_rows


def to_networkx(world: World, agents: np.ndarray | None = None) -> nx.DiGraph:
    """A networkx DiGraph of the agents ``agents`` (indices; all when None) and the world edges among
    them; nodes keyed by original id with the attributes listed in the module docstring."""
    import networkx as nx  # noqa: PLC0415 - heavy (~0.5 s to import), needed only here

    g = world.graph
    idx = np.arange(world.n, dtype=np.int64) if agents is None else np.asarray(agents, dtype=np.int64)
    if agents is None:
        src = g.sources().astype(np.int64)
        dst = g.out_indices.astype(np.int64)
        eid = np.arange(g.num_edges, dtype=np.int64)
    else:
        src, dst, eid = induced_edges(world, idx)
    c = world.columns
    pr = raw_pagerank(world)
    indeg, outdeg = g.in_degree(), g.out_degree()
    names = [xml_safe(s) for s in names_of(world, idx)]
    attrs: dict[str, list[Any]] = {
        "name": names,
        "label": names,
        "community": c["community"][idx].tolist(),
        "influence": c["influence"][idx].astype(np.float64).tolist(),
        "in_degree": indeg[idx].tolist(),
        "out_degree": outdeg[idx].tolist(),
    }
    if pr is not None:
        attrs["pagerank"] = pr[idx].tolist()
    for name, spec in world.attributes.items():  # numbers (NaN when missing), labels ('' when missing)
        key = f"attribute_{name}" if name in attrs or name == "pagerank" else name
        column = world.columns[name]
        if spec.get("kind") == "category":
            labels = np.array([xml_safe(x) for x in world.category_labels(name)] + [""], dtype=object)
            attrs[key] = labels[column[idx]].tolist()
        else:
            attrs[key] = column[idx].astype(np.float64).tolist()
    keys = list(attrs)
    G = nx.DiGraph()
    G.add_nodes_from(zip(c["ids"][idx].tolist(), (dict(zip(keys, vals)) for vals in zip(*attrs.values()))))
    ids = c["ids"]
    G.add_weighted_edges_from(
        zip(ids[src].tolist(), ids[dst].tolist(), g.trust[eid].astype(np.float64).tolist()), weight="trust"
    )
    return G


def count_edges(world: World, agents: np.ndarray | None) -> int:
    """World edges among ``agents`` (all edges when None)."""
    if agents is None:
        return world.num_edges
    return int(induced_edges(world, agents)[0].size)


def export_world(
    world: World,
    out: str,
    fmt: str,
    *,
    community: int | None = None,
    ego: int | None = None,
    radius: int = 1,
    max_edges: int = MAX_GRAPH_EDGES,
    force: bool = False,
    progress: Progress = None,
) -> dict[str, Any]:
    """Export ``world`` (or a part) to ``out`` in ``fmt`` (csv, graphml or gexf); returns what was written.

    Raises:
        TargetExistsError / BadFileError: ``out`` exists (without ``force``) or its folder is missing.
        ExportTooLargeError: a GraphML/GEXF graph above ``max_edges`` edges.
        BadParameterError / NoCommunitiesError: an unknown format, community or agent.
    """

    if fmt not in FORMATS:
        raise BadParameterError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    if radius < 0:
        raise BadParameterError(f"radius must be 0 or more, got {radius}", fields="radius")
    check_target(out, force, what="export")
    agents = select_agents(world, community=community, ego=ego, radius=radius)
    part = _part_name(community, ego, radius)
    if agents is not None and agents.size == 0:
        raise BadParameterError(f"{part} has no agents: nothing to export")
    info: dict[str, Any] = {
        "path": os.path.abspath(out),
        "format": fmt,
        "part": part,
        "agents": world.n if agents is None else int(agents.size),
    }
    if fmt == "csv":
        write_csv(world, out, agents, progress=progress)
        info["edges"] = None
        return info
    edges = count_edges(world, agents)
    if edges > max_edges:
        # The whole graph: the hint names the fields that choose a part (the command line's flags); a part
        # already chosen is named by its words, so only the format is a field here.
        hint = (
            "give community=ID to export one community, or ego=AGENT and radius=K for an agent's ego network"
            if agents is None
            else "choose a smaller part (a smaller radius, or a community with an ego)"
        )
        raise ExportTooLargeError(
            f"{part} has {edges:,} edges, more than the {max_edges:,} a {fmt.upper()} file is useful with in Gephi: "
            f"{hint}, or write the agents as CSV (format=csv)",
            fields=("community", "ego", "radius", "format") if agents is None else ("format",),
        )
    import networkx as nx  # noqa: PLC0415 - heavy (~0.5 s to import), needed only here

    if progress:
        progress(f"building {fmt} graph", 0.0)
    G = to_networkx(world, agents)
    G.graph["name"] = xml_safe(world.name)
    if progress:
        progress(f"writing {fmt}", 0.5)
    tmp = _tmp_path(out)
    try:
        if fmt == "graphml":
            nx.write_graphml(G, tmp, encoding="utf-8")
        else:
            nx.write_gexf(G, tmp, encoding="utf-8")
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    if progress:
        progress(f"writing {fmt}", 1.0)
    info["edges"] = G.number_of_edges()
    return info
