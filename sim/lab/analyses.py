"""Analyses of a world from Python, as free functions that take a world and return plain data, in the style of
NetworkX (``nx.pagerank(G)``): the same computations as ``agora analyze``, ``agora path``, ``agora seeds`` and
``agora cascades``, over the same functions, so for the same world and options they give the same numbers.

``world`` is a :class:`sim.WorldFile`, a live :class:`sim.Simulation` (analysed as of now, on a copy taken
between two ticks) or a world file's path. A world file is read through a read-only connection that never
blocks a writer and is never modified: nothing is stored (``agora analyze`` stores what it computes; here the
results are only returned). Per-agent results are numpy arrays in the order of ``w.agents.ids``.

Bad input raises the command line's one-sentence errors (:class:`sim.BadParameterError`, ...).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias

import numpy as np

from sim.analysis.groups import group_table, layer_world
from sim.analysis.structure import METHODS, NoPathError, analyze, pagerank_csr
from sim.analysis.structure import shortest_path as _shortest_path
from sim.core.topics import mask_topics
from sim.core.world import World
from sim.engine.requests import SeedChoice
from sim.errors import BadParameterError
from sim.lab.agents import live_world, load_world, optional_module
from sim.lab.live import Simulation
from sim.lab.loop import run_sync
from sim.lab.world import WorldFile
from sim.model.registry import Registry, plugin_registry
from sim.runs.runner import tree_arrays
from sim.runs.seeds import choose_by_spread
from sim.store.analysis_tables import FLOW_DTYPE, CommunityTable, community_table
from sim.store.cascadeio import session_forest

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

#: What the analyses take: a world file (opened or by path) or a live simulation.
WorldLike: TypeAlias = WorldFile | Simulation | str | os.PathLike[str]

__all__ = [
    "Cascade",
    "Communities",
    "Groups",
    "NoPathError",
    "SeedSet",
    "Structure",
    "WorldLike",
    "cascades",
    "choose_seeds",
    "communities",
    "groups",
    "pagerank",
    "shortest_path",
    "structure",
]


# -- the world an analysis reads ---------------------------------------------------------------------------------
def _path_of(world: object) -> str | None:
    if isinstance(world, WorldFile):
        return world.path
    if isinstance(world, (str, os.PathLike)) and not isinstance(world, bytes):
        return os.fspath(world)
    return None


def _world(world: object) -> World:
    """The world to analyse (read-only).

    Raises:
        BadParameterError: not a world. BadFileError: the file cannot be read. ClosedError: a closed simulation.
    """
    if isinstance(world, Simulation):
        return live_world(world)
    path = _path_of(world)
    if path is None:
        raise BadParameterError(
            f"world must be a sim.WorldFile, a live sim.Simulation or a world file's path, got {type(world).__name__}"
        )
    return load_world(path)


def _registry(world: object) -> Registry:
    """The plugins the world's commands load: built-ins, ``AGORA_PLUGINS``, the world's trusted folder and,
    for a :class:`WorldFile` or a :class:`Simulation`, the folders it was opened with."""
    if isinstance(world, Simulation):
        return world.host.registry
    plugins = world.plugins if isinstance(world, WorldFile) else []
    return plugin_registry(_path_of(world), plugins)


def _whole(value: object, what: str, least: int | None = None) -> int:
    """``value`` as an int (a bool is none), at least ``least``.

    Raises:
        BadParameterError: one sentence naming ``what``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or (least is not None and value < least):
        at_least = "" if least is None else f" of at least {least}"
        raise BadParameterError(f"{what} must be a whole number{at_least}, got {value!r}")
    return int(value)


def _layered(world: World, layer: str | Iterable[str] | None) -> World:
    """``world``, or with ``layer`` (a name, or several: an edge of any) only the edges of those contact layers.

    Raises:
        BadParameterError: a layer the world lacks, or a world without layers.
    """
    if layer is None:
        return world
    names = [layer] if isinstance(layer, str) else list(layer)
    if not all(isinstance(x, str) for x in names):
        raise BadParameterError(f"layer must be a layer's name or a list of names, got {layer!r}")
    return layer_world(world, names)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    return float(value)


# -- PageRank --------------------------------------------------------------------------------------------------
def pagerank(world: WorldLike, *, damping: float = 0.85, layer: str | Iterable[str] | None = None) -> np.ndarray:
    """PageRank of every agent (float64, summing to 1), in the order of ``w.agents.ids``: the PageRank
    ``agora analyze`` ranks influence by (a walker follows whom an agent follows; agents who follow nobody
    spread their rank uniformly, as networkx's ``pagerank`` does). ``pr.argmax()`` is the position of the most
    influential agent, ``w.agents.ids[pr.argmax()]`` its id. ``layer``: on the edges of that contact layer only
    (a list: of any of them), as ``agora analyze --layer``.

    Raises:
        BadParameterError: ``damping`` not strictly between 0 and 1, not a world, or a layer it lacks.
    """
    d = _number(damping)
    if d is None or not 0 < d < 1:
        raise BadParameterError(f"PageRank damping must be between 0 and 1 (exclusive), got {damping!r}")
    return pagerank_csr(_layered(_world(world), layer).graph, damping=d)


# -- communities -----------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Communities:
    """Communities found in a world, as ``agora analyze`` finds and tabulates them.

    Attributes:
        ids: the agents' original ids; membership: each agent's community (int32; 0 the largest, -1 for an
            isolated agent, one with no links, which belongs to no community).
        method, resolution, seed: how they were found; modularity: the partition's Newman modularity.
        size, internal_edges, density: per community (row ``c`` is community ``c``).
        interests: per community, its up to three most shared topics (names, most shared first), with
            interest_share the share of members having each. top_influencers: up to five original ids per
            community, by PageRank.
        flows: world edges between communities, most first: a structured array (``src``, ``dst``, ``edges``).
        seconds: the time the detection took.
    """

    ids: np.ndarray = field(repr=False)
    membership: np.ndarray = field(repr=False)
    method: str
    resolution: float
    seed: int
    modularity: float
    size: np.ndarray = field(repr=False)
    internal_edges: np.ndarray = field(repr=False)
    density: np.ndarray = field(repr=False)
    interests: tuple[tuple[str, ...], ...] = field(repr=False)
    interest_share: tuple[tuple[float, ...], ...] = field(repr=False)
    top_influencers: tuple[tuple[int, ...], ...] = field(repr=False)
    flows: np.ndarray = field(repr=False)
    seconds: float
    _table: CommunityTable | None = field(default=None, repr=False)

    @property
    def count(self) -> int:
        """The number of communities (isolated agents are none)."""
        return int(self.size.size)

    @property
    def isolated(self) -> int:
        """Agents with no link, in no community (-1)."""
        return int(np.count_nonzero(self.membership < 0))

    def __len__(self) -> int:
        return self.count

    def members(self, community: int) -> np.ndarray:
        """The original ids of the members of ``community``."""
        return self.ids[self.membership == int(community)]

    def rows(self, limit: int | None = None) -> list[dict[str, object]]:
        """The communities as ``agora analyze --json`` lists them in ``table`` (the first ``limit``)."""
        return [] if self._table is None else list(self._table.rows(limit))

    def top_flows(self, limit: int = 20) -> list[dict[str, int]]:
        """The ``limit`` largest flows as ``{"src", "dst", "edges"}``."""
        return [] if self._table is None else self._table.top_flows(limit)

    def to_dict(self, top: int = 10) -> dict[str, object]:
        """What ``agora analyze --json`` prints as ``communities`` (``--top`` is ``top``)."""
        top = _whole(top, "top", 0)
        out: dict[str, object] = {
            "count": self.count,
            "count_size_2_plus": int(np.count_nonzero(self.size >= 2)),
            "isolated": self.isolated,
            "modularity": round(float(self.modularity), 6),
            "method": self.method,
            "resolution": self.resolution,
            "seed": self.seed,
            "largest": self.size[:top].tolist(),
            "seconds": round(self.seconds, 3),
        }
        if self._table is not None:
            out["table"] = self.rows(top)
            out["top_flows"] = self.top_flows(top)
        return out

    def to_pandas(self) -> pd.DataFrame:
        """One row per community: id, size, internal_edges, density, interests, interest_share,
        top_influencers (needs pandas)."""
        pandas = optional_module("pandas", "to_pandas()", "pandas")
        return pandas.DataFrame(
            {
                "id": np.arange(self.count),
                "size": self.size,
                "internal_edges": self.internal_edges,
                "density": self.density,
                "interests": [list(t) for t in self.interests],
                "interest_share": [list(s) for s in self.interest_share],
                "top_influencers": [list(t) for t in self.top_influencers],
            }
        )


def communities(
    world: WorldLike,
    *,
    method: str = "leiden",
    resolution: float | None = None,
    seed: int = 0,
    layer: str | Iterable[str] | None = None,
) -> Communities:
    """Detect communities as ``agora analyze`` does (on the undirected view, igraph's C core) and tabulate
    them as it stores them, with top influencers by PageRank; nothing is stored.

    Args:
        method: ``leiden`` (modularity, the default), ``louvain`` or ``label-propagation``.
        resolution: for leiden and louvain, higher gives more, smaller communities (default 1).
        seed: seed of the search (the same seed gives the same partition).
        layer: on the edges of that contact layer only (a list: of any of them), as ``agora analyze --layer``.

    Raises:
        BadParameterError: an unknown method, a resolution that is not above 0 or given to
            label-propagation, a seed that is not a whole number, a layer the world lacks.
    """
    if not isinstance(method, str) or method not in METHODS:
        raise BadParameterError(f"unknown community method {method!r}: use one of {', '.join(METHODS)}")
    if method == "label-propagation" and resolution is not None:
        raise BadParameterError(
            "resolution applies to leiden and louvain, and label-propagation has none: "
            "drop resolution, or choose method='leiden' or 'louvain'"
        )
    res = 1.0 if resolution is None else _number(resolution)
    if res is None or not (math.isfinite(res) and res > 0):
        raise BadParameterError(f"resolution must be a finite number above 0, got {resolution!r}")
    seed = _whole(seed, "seed")
    w = _layered(_world(world), layer)
    result = analyze(w, pagerank=True, communities=True, method=method, resolution=res, seed=seed)
    found, pr = result.communities, result.pagerank
    assert found is not None and pr is not None  # both asked for
    membership = found.membership.astype(np.int32)
    membership.setflags(write=False)
    table = None
    if membership.size and membership.max() >= 0:  # as agora analyze stores it: influence is PageRank / its max
        top = float(pr.max())
        influence = (pr / top if top > 0 else np.zeros_like(pr)).astype(np.float32)
        table = community_table(w, membership=membership, influence=influence)
    rows = table.rows() if table is not None else []
    return Communities(
        ids=w.columns["ids"],
        membership=membership,
        method=found.method,
        resolution=found.resolution,
        seed=found.seed,
        modularity=float(found.modularity),
        size=table.size if table is not None else np.zeros(0, dtype=np.int64),
        internal_edges=table.internal_edges if table is not None else np.zeros(0, dtype=np.int64),
        density=table.density if table is not None else np.zeros(0),
        interests=tuple(tuple(r["interests"]) for r in rows),
        interest_share=tuple(tuple(r["interest_share"]) for r in rows),
        top_influencers=tuple(tuple(r["top_influencers"]) for r in rows),
        flows=table.flows if table is not None else np.zeros(0, dtype=FLOW_DTYPE),
        seconds=found.seconds,
        _table=table,
    )


# -- groups by a category ----------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Groups:
    """The agents grouped by a category attribute, tabulated as communities are (``agora analyze --by``).

    Attributes:
        by: the category; labels: its labels, group ``c`` is ``labels[c]`` (code order; a label no agent has is
            an empty group); codes: each agent's group (int32, -1: no value, in no group), in the order of
            ``w.agents.ids``; missing: agents with no value.
        size, internal_edges, density: per group (row ``c`` is label ``c``); flows: edges between groups, most
            first (``src``, ``dst``, ``edges``: codes); layers: the contact layers analysed (empty: every edge).
    """

    by: str
    labels: tuple[str, ...]
    codes: np.ndarray = field(repr=False)
    missing: int
    size: np.ndarray = field(repr=False)
    internal_edges: np.ndarray = field(repr=False)
    density: np.ndarray = field(repr=False)
    flows: np.ndarray = field(repr=False)
    layers: tuple[str, ...] = ()
    _report: Mapping[str, object] = field(repr=False, default_factory=dict)
    _rows: tuple[Mapping[str, object], ...] = field(repr=False, default=())

    def __len__(self) -> int:
        return len(self.labels)

    def rows(self, limit: int | None = None) -> list[dict[str, object]]:
        """The groups as ``agora analyze --by --json`` lists them in ``groups.table`` (largest first)."""
        rows = self._rows if limit is None else self._rows[: _whole(limit, "limit", 0)]
        return [dict(r) for r in rows]

    def to_dict(self, top: int = 10) -> dict[str, object]:
        """What ``agora analyze --by --json`` prints as ``groups`` (``--top`` is ``top``)."""
        import copy  # noqa: PLC0415

        top = _whole(top, "top", 0)
        out = copy.deepcopy(dict(self._report))
        out["table"] = self.rows(top)
        flows = out.get("top_flows")
        out["top_flows"] = flows[:top] if isinstance(flows, list) else []
        return out


def groups(world: WorldLike, by: str, *, layer: str | Iterable[str] | None = None) -> Groups:
    """Group the agents by category attribute ``by`` and tabulate the groups as ``agora analyze --by`` does
    (size, internal edges and density, dominant interests, top influencers by PageRank, edges between groups);
    ``layer``: on the edges of that contact layer only (a list: of any of them). Nothing is stored.

    Raises:
        BadParameterError: ``by`` is not a category attribute of the world, or a layer it lacks.
    """
    if not isinstance(by, str):
        raise BadParameterError(f"by must be the name of a category attribute, got {by!r}")
    w = _layered(_world(world), layer)
    found = group_table(w, by, pagerank_csr(w.graph))
    t = found.table
    codes = np.asarray(w.columns[by], dtype=np.int32).copy()
    codes.setflags(write=False)
    names = () if layer is None else tuple([layer] if isinstance(layer, str) else layer)
    return Groups(
        by=by,
        labels=found.labels,
        codes=codes,
        missing=found.missing,
        size=t.size,
        internal_edges=t.internal_edges,
        density=t.density,
        flows=t.flows,
        layers=names,
        _report=found.summary(len(found.labels)),
        _rows=tuple(found.rows()),
    )


# -- structure and paths ---------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Structure:
    """The structure measures of ``agora analyze --structure``: k-cores, clustering, components, degrees and
    sampled path lengths.

    Attributes:
        coreness: each agent's k-core number (int32, in the order of ``w.agents.ids``).
        mean_distance: the mean shortest-path length over the pairs reached from ``sources`` sampled agents
            (None without links); diameter_estimate: a lower bound of the diameter (double sweep).
        clustering: global clustering (transitivity); average_clustering: the mean local coefficient.
        weak_components, strong_components: their numbers; largest_weak_share: the largest weak component's
            share of the agents.
    """

    coreness: np.ndarray = field(repr=False)
    mean_distance: float | None
    diameter_estimate: int
    sources: int
    clustering: float
    average_clustering: float
    weak_components: int
    strong_components: int
    largest_weak_share: float
    _report: Mapping[str, object] = field(repr=False, default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """What ``agora analyze --structure --json`` prints as ``structure``."""
        import copy  # noqa: PLC0415

        return copy.deepcopy(dict(self._report))


def structure(
    world: WorldLike, *, samples: int = 16, seed: int = 0, layer: str | Iterable[str] | None = None
) -> Structure:
    """The structure measures ``agora analyze --structure`` reports (``--samples``, ``--seed``); path lengths
    are estimated from breadth-first searches from ``samples`` agents drawn with ``seed``. ``layer``: on the
    edges of that contact layer only (a list: of any of them).

    Raises:
        BadParameterError: ``samples`` below 1, a seed that is not a whole number of at least 0, a layer the
            world lacks.
    """
    samples = _whole(samples, "samples", 1)
    seed = _whole(seed, "seed", 0)
    result = analyze(
        _layered(_world(world), layer),
        pagerank=False,
        communities=False,
        structure=True,
        seed=seed,
        path_samples=samples,
    )
    st, core = result.structure, result.coreness
    assert st is not None and core is not None  # asked for
    comp, clus, paths = st["components"], st["clustering"], st["paths"]
    core.setflags(write=False)
    return Structure(
        coreness=core,
        mean_distance=paths["mean_distance"],
        diameter_estimate=int(paths["diameter_estimate"]),
        sources=int(paths["sources"]),
        clustering=float(clus["global"]),
        average_clustering=float(clus["average_local"]),
        weak_components=int(comp["weak"]["count"]),
        strong_components=int(comp["strong"]["count"]),
        largest_weak_share=float(comp["weak"]["largest_share"]),
        _report=st,
    )


def shortest_path(world: WorldLike, source: int, target: int, *, directed: bool = True) -> list[int]:
    """A shortest path from agent ``source`` to agent ``target`` (original ids) as the list of original ids,
    as ``agora path`` finds it: along follow links the way a message travels (from an agent to its
    followers), or either way with ``directed=False``. ``len(path) - 1`` is its length in hops.

    Raises:
        BadParameterError: an id the world does not have. NoPathError: no path joins them (a
            :class:`sim.AgoraError`).
    """
    a, b = _whole(source, "source"), _whole(target, "target")
    return _shortest_path(_world(world), a, b, directed=bool(directed))


# -- seeds -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class SeedSet:
    """Seed agents chosen by a seed method, as ``agora seeds`` chooses them.

    Attributes:
        ids: the seeds' original ids (int64), in the order the method chose them.
        method, k, model: what chose them and for which model; params and method_params: the model's and the
            method's parameters, defaults filled in. seconds: the time the choice took.
        report: what the method reports beside its choice (``ris``: ``samples``, ``ris_estimate``).
    """

    ids: np.ndarray
    method: str
    k: int
    model: str
    params: Mapping[str, object]
    method_params: Mapping[str, object]
    seconds: float
    report: Mapping[str, object] = field(default_factory=dict)

    @property
    def seeds(self) -> str:
        """The seeds as a selection for ``w.ensemble(seeds=...)`` and ``--seeds``: ``ids:a,b,c``."""
        return "ids:" + ",".join(str(int(i)) for i in self.ids.tolist())

    def __len__(self) -> int:
        return int(self.ids.size)

    def __iter__(self) -> Iterator[int]:
        return iter(self.ids.tolist())

    def to_dict(self) -> dict[str, object]:
        """The choice as ``agora seeds --json`` reports it (without its spread estimate and file)."""
        out: dict[str, object] = {
            "method": self.method,
            "model": self.model,
            "params": dict(self.params),
            "method_params": dict(self.method_params),
            "k": self.k,
            "seeds": self.ids.tolist(),
            "seconds": round(self.seconds, 4),
        }
        out.update(self.report)
        return out


def choose_seeds(
    world: WorldLike,
    method: str,
    k: int,
    *,
    model: str = "ic",
    params: Mapping[str, object] | None = None,
    method_params: Mapping[str, object] | None = None,
    seed: int = 0,
) -> SeedSet:
    """Choose ``k`` seed agents by a seed method, as ``agora seeds WORLD --method METHOD --k K`` does: the same
    world, method, model, parameters and ``seed`` give the same agents.

    Args:
        method: ``degree``, ``degree-discount``, ``pagerank``, ``random``, ``acquaintance``, ``celf``, ``ris`` or a
            user's seed method. k: how many.
        model, params: the propagation model the seeds are for, and its parameters (``--model``, ``--param``).
        method_params: the method's own parameters (``--method-param``; ``celf``'s ``mc_runs``, ``ris``'s
            ``epsilon`` and ``ell``).
        seed: ``--seed``: the choice draws from ``seed`` plus 1,000,000,000, as the command's does.

    Returns:
        A :class:`SeedSet`: ``ids`` are the seeds' original ids; ``w.ensemble(seeds=choice.seeds, ...)`` runs
        them (``agora seeds``' spread estimate is that ensemble, with ``runs=100`` and the same ``seed``).

    Raises:
        BadParameterError: an unknown method or model, a bad parameter, a k out of range, a method not derived
            for the model. PluginError: the method failed to load; SeedMethodFailed: it raised.
    """
    registry = _registry(world)
    request = SeedChoice.parse(
        {
            "method": method,
            "k": k,
            "model": model,
            "params": dict(params or {}),
            "method_params": dict(method_params or {}),
            "seed": seed,
        },
        registry,
    )
    w = _world(world)
    ids = w.columns["ids"]
    choice = choose_by_spread(w, registry, request, run_sync)
    chosen = ids[choice.seeds].astype(np.int64)
    chosen.setflags(write=False)
    return SeedSet(
        ids=chosen,
        method=request.method,
        k=request.k,
        model=request.model,
        params=dict(request.params),
        method_params=dict(request.method_params),
        seconds=choice.seconds,
        report=dict(choice.report),
    )


# -- a stored session's cascade --------------------------------------------------------------------------------
#: The columns of :meth:`Cascade.columns`: one row per adopter of the session.
CASCADE_COLUMNS = ("agent", "source", "root", "tick", "generation", "via_feed")


@dataclass(frozen=True, eq=False)
class Cascade:
    """The cascade of a propagation session stored in a world file, as ``agora cascades`` shows it: its
    adoption forest rebuilt from the world's events, its measures and top spreaders.

    Attributes:
        session: the session's id; latest: whether it was asked for as the latest; sessions: how many the
            world has. model, status, started_tick, message, topics: the session's.
        measures: size, trees, depth, max breadth, structural virality, largest tree, share by feed (None
            without a tree: ``note`` says why). top_spreaders: ``(agent id, adopters it passed it to)``, most
            first.
    """

    session: int
    latest: bool
    sessions: int
    model: str | None
    status: str | None
    started_tick: int | None
    message: str | None
    topics: tuple[str, ...]
    measures: Mapping[str, object] | None
    top_spreaders: tuple[tuple[int, int], ...]
    note: str | None
    world: str
    _forest: Mapping[str, np.ndarray] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        """The number of adopters in the forest."""
        return int(self._forest["agent"].size) if self._forest else 0

    def columns(self) -> dict[str, np.ndarray]:
        """The forest, one row per adopter in generation order: ``agent`` and ``source`` (original ids; a root's
        source means nothing: ``root`` is true), ``tick`` from the session's start, ``generation`` (0 for
        roots), ``via_feed`` (adopted through a feed rather than a follow link). Empty without a tree."""
        if not self._forest:
            return {
                name: np.zeros(0, dtype=bool if name in ("root", "via_feed") else np.int64) for name in CASCADE_COLUMNS
            }
        return dict(self._forest)

    def to_pandas(self) -> pd.DataFrame:
        """:meth:`columns` as a DataFrame (needs pandas)."""
        return optional_module("pandas", "to_pandas()", "pandas").DataFrame(self.columns())

    def to_dict(self) -> dict[str, object]:
        """What ``agora cascades WORLD [SESSION] --json`` prints (``--top`` as given), without ``file``."""
        return {
            "world": self.world,
            "session": self.session,
            "latest": self.latest,
            "sessions": self.sessions,
            "model": self.model,
            "status": self.status,
            "started_tick": self.started_tick,
            "message": self.message,
            "topics": list(self.topics),
            "cascade": None if self.measures is None else dict(self.measures),
            "top_spreaders": [{"agent": a, "children": c} for a, c in self.top_spreaders],
            "note": self.note,
        }


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def cascades(world: WorldFile | str | os.PathLike[str], session: int | None = None, *, top: int = 10) -> Cascade:
    """The cascade of session ``session`` of a world file (None: the latest), as ``agora cascades`` rebuilds it
    from the world's events (a run without ``--runs`` stores it; a live simulation's sessions are stored as it
    checkpoints). ``top``: how many top spreaders.

    Raises:
        BadParameterError: the world has no such session (the sentence lists them), or a live simulation
            (``live.session(id)`` gives a live session's cascade). BadFileError: the file cannot be read.
    """
    if isinstance(world, Simulation):
        raise BadParameterError(
            "cascades() reads the sessions stored in a world file: pass sim.open_world(path), or use "
            "live.session(id) for a live session's cascade"
        )
    path = _path_of(world)
    if path is None:
        raise BadParameterError(f"world must be a sim.WorldFile or a world file's path, got {type(world).__name__}")
    if session is not None:
        session = _whole(session, "session", 0)
    top = _whole(top, "top", 0)
    found = session_forest(path, session)
    rec = found.session
    stored = rec.get("message")
    msg: Mapping[str, object] = stored if isinstance(stored, dict) else {}
    topics = msg.get("topics")
    names = mask_topics(int(topics)) if isinstance(topics, int) and not isinstance(topics, bool) else []
    started = rec.get("started_tick")
    forest, ids, via = found.forest, found.ids, found.via_feed
    measures = None
    spreaders: tuple[tuple[int, int], ...] = ()
    columns: dict[str, np.ndarray] = {}
    if forest is not None and ids is not None and via is not None:
        measures = forest.measures()
        spreaders = tuple((int(ids[a]), int(c)) for a, c in forest.top_spreaders(top))
        columns = tree_arrays(forest, int(rec["started_tick"]), ids)
        columns["via_feed"] = via[forest.agents]
        for a in columns.values():
            a.setflags(write=False)
    return Cascade(
        session=int(rec["id"]),
        latest=session is None,
        sessions=len(found.sessions),
        model=_text(rec.get("model")),
        status=_text(rec.get("status")),
        started_tick=started if isinstance(started, int) and not isinstance(started, bool) else None,
        message=_text(msg.get("text")),
        topics=tuple(names),
        measures=measures,
        top_spreaders=spreaders,
        note=found.note,
        world=os.path.abspath(path),
        _forest=columns,
    )
