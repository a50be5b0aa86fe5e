"""A world's agents and its graph from Python, read-only: ``w.agents`` (:class:`Agents`, one numpy array per
column, as Mesa's ``AgentSet`` gives its agents' attributes) and ``w.graph`` (:class:`Network`, the CSR arrays,
exportable to SciPy, igraph and networkx).

Both are views of the world file as it is when their first array is asked for: the file is read then, once,
through a read-only connection that never blocks a writer (:func:`sim.store.worldfile.open_world`), and never
written. Views of a file that has not changed share what was read: ``w.agents`` and ``w.graph`` taken together,
or while one is held, read the file once. A live :class:`sim.Simulation` gives a copy of its world taken between
two ticks.

``w.agents`` was the number of agents before it was a view, and it still is one: :class:`Agents` is an ``int``
(``w.agents == 1_000``, ``f"{w.agents:,}"``, ``range(w.agents)``, ``json.dumps``, numpy's ``np.arange(w.agents)``
and matplotlib's ``ax.axhline(w.agents)`` take it as one; like any ``int`` it is not iterable) whose columns load
only when asked for.
"""

from __future__ import annotations

import importlib
import os
import threading
import weakref
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from sim.core.graph import Graph
from sim.core.world import AGENT_COLUMNS, World
from sim.errors import BadFileError, BadParameterError
from sim.lab.live import Simulation
from sim.lab.loop import run_sync
from sim.store.worldfile import open_world as open_world_file

if TYPE_CHECKING:  # pragma: no cover
    import igraph
    import networkx as nx
    import pandas as pd
    import scipy.sparse as sp

__all__ = ["Agents", "Network", "file_views", "live_views", "live_world", "load_world", "optional_module"]

#: The built-in agent columns a view shows, in order (the persona codes, from which names are made, are
#: left out: :meth:`Agents.names` gives the names).
COLUMNS = (
    "ids",
    "interests",
    "activity_profile",
    "activity_rate",
    "susceptibility",
    "reputation",
    "influence",
    "community",
    "status",
)
#: Columns a view derives from the graph: followers (out-degree) and follows (in-degree) of each agent.
DEGREES = ("followers", "follows")
#: Columns of the world that are not shown as columns (the persona codes: see :meth:`Agents.names`).
HIDDEN = frozenset(AGENT_COLUMNS) - set(COLUMNS)

Loader = Callable[[], World]

_cache: weakref.WeakValueDictionary[tuple[object, ...], World] = weakref.WeakValueDictionary()
_cache_lock = threading.Lock()


def _stamp(path: str) -> tuple[object, ...]:
    """What changes whenever the world file does: the size and time of the file and of its write-ahead log."""
    out: list[object] = [os.path.abspath(path)]
    for name in (path, path + "-wal"):
        try:
            st = os.stat(name)
        except OSError:
            out.append(None)
        else:
            out.append((st.st_mtime_ns, st.st_size))
    return tuple(out)


def _frozen(world: World) -> World:
    """``world`` with its agent columns and graph arrays made read-only (it is shared by views and analyses)."""
    for a in world.columns.values():
        a.setflags(write=False)
    g = world.graph
    for a in (g.out_indptr, g.out_indices, g.trust, g.in_indptr, g.in_indices):
        a.setflags(write=False)
    return world


def load_world(path: str) -> World:
    """The world in file ``path``, read-only, shared with the views and analyses of the file as it is now
    (read again once it has changed).

    Raises:
        BadFileError: missing, foreign, damaged or of another format version.
    """
    key = _stamp(path)
    with _cache_lock:
        world = _cache.get(key)
    if world is None:
        world = _frozen(run_sync(open_world_file(path)))
        with _cache_lock:
            _cache[key] = world
    return world


def live_world(live: Simulation) -> World:
    """A copy of a live simulation's world taken between two ticks: its agent columns and trust copied, the
    graph's index arrays shared (a tick never writes them: edge changes make new arrays), read-only.

    Raises:
        ClosedError: the simulation is closed.
    """

    def copy(world: World) -> World:
        g = world.graph
        graph = g.replace(trust=g.trust.copy())
        return World(
            name=world.name,
            seed=world.seed,
            columns={k: v.copy() for k, v in world.columns.items()},
            graph=graph,
            config={"analysis": world.config.get("analysis")} if world.config.get("analysis") else {},
            tick=world.tick,
            persona_overrides=dict(world.persona_overrides),
            path=world.path,
            layers=world.layers,
            attributes={k: dict(v) for k, v in world.attributes.items()},
            labels=dict(world.labels),
        )

    # On the simulation's own loop, between ticks (as its other reads are).
    return _frozen(live._call(live._read(copy, live.host.world)))


def _checked(world: World, agents: int, where: str) -> World:
    if world.n != agents:
        raise BadFileError(
            f"world {where} changed since it was opened ({agents:,} agents then, {world.n:,} now): "
            "open it again with sim.open_world(path)"
        )
    return world


class _Column:
    """A built-in agent column as an attribute of the view (``agents.susceptibility``): the world's own array,
    read-only."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, view: Agents, owner: type | None = None) -> np.ndarray:
        return view.world.columns[self.name]


class _GraphArray:
    """One of the graph's CSR arrays as an attribute of the network view (``network.indptr`` is the graph's
    ``out_indptr``)."""

    def __init__(self, attr: str) -> None:
        self.attr = attr

    def __get__(self, view: Network, owner: type | None = None) -> np.ndarray:
        array: np.ndarray = getattr(view.graph, self.attr)
        return array


class Agents(int):
    """The agents of a world as read-only numpy columns, one value per agent in the world's order (the order
    of ``ids``, the original ids, ascending); and the number of agents, as before (an ``int``).

    Columns: ``ids`` (original ids), ``interests`` (a topic bitmask, uint64), ``activity_profile``,
    ``activity_rate``, ``susceptibility``, ``reputation``, ``influence`` (PageRank over its maximum, from the
    last stored analysis), ``community`` (-1: none), ``status`` (:class:`sim.core.world.Status` codes),
    ``followers`` and ``follows`` (out- and in-degree), then the data columns: the attributes of a people table
    and any column set with ``agora set`` (``opinion``). Each is an attribute for the built-in ones and
    ``agents[name]`` for any. An attribute that is a number is float64 (NaN: missing); a category is its int32
    codes (-1: missing), whose labels :meth:`labels` gives; :meth:`to_pandas` makes it a pandas Categorical.
    :attr:`attributes` says which columns are attributes (kind, source, the file's column name).
    """

    _loader: Loader
    _where: str
    _world: World | None

    def __new__(cls, count: int, loader: Loader, where: str = "") -> Agents:
        self = super().__new__(cls, count)
        self._loader = loader
        self._where = where
        self._world = None
        return self

    def __reduce__(self) -> tuple[type[int], tuple[int]]:
        return int, (int(self),)  # a copy or a pickle is the number: the columns stay with the file

    # An int is not iterable, and neither is this one: without this, Python's old sequence protocol makes any
    # object with ``__getitem__`` iterable (``iter(agents)`` asks ``agents[0]``, ``agents[1]``, ...), so numpy's
    # ``np.iterable`` said True and matplotlib took the number for a list of values and indexed it
    # (``ax.axhline(w.agents)``, ``ax.set_ylim(0, w.agents)``, ``ax.bar(0, w.agents)`` all failed, naming a
    # column 0). ``None`` here makes ``iter()`` refuse at once (the data model's way to say "not iterable").
    __iter__ = None

    def __len__(self) -> int:
        return int(self)

    def __str__(self) -> str:
        return int.__repr__(self)

    def __repr__(self) -> str:
        place = f" of {self._where}" if self._where else ""
        return f"<{int(self):,} agents{place}: columns {', '.join(COLUMNS + DEGREES)}; .to_pandas()>"

    @property
    def world(self) -> World:
        """The world read for this view (read on first use)."""
        if self._world is None:
            self._world = _checked(self._loader(), int(self), self._where)
        return self._world

    # -- columns -------------------------------------------------------------------------------------------
    def columns(self) -> dict[str, np.ndarray]:
        """Every column by name, in order: the built-in ones, ``followers``, ``follows``, then data columns."""
        w = self.world
        out = {name: w.columns[name] for name in COLUMNS}
        out["followers"] = _readonly(w.graph.out_degree())
        out["follows"] = _readonly(w.graph.in_degree())
        out.update((k, v) for k, v in w.columns.items() if k not in AGENT_COLUMNS)
        return out

    def __getitem__(self, name: str) -> np.ndarray:
        """One column by name (a built-in, ``followers``, ``follows`` or a data column).

        Raises:
            BadParameterError: no such column (the sentence lists them).
        """
        cols = self.columns()
        if not isinstance(name, str) or name not in cols:
            raise BadParameterError(f"the agents have no column {name!r}: they have {', '.join(cols)}")
        return cols[name]

    @property
    def attributes(self) -> dict[str, dict[str, str]]:
        """The world's attributes (``World.attributes``): name -> kind, source and header, in order."""
        return {k: dict(v) for k, v in self.world.attributes.items()}

    def labels(self, name: str) -> tuple[str, ...]:
        """The labels of category attribute ``name`` in code order (``agents[name]`` holds the codes).

        Raises:
            BadParameterError: no category attribute of that name.
        """
        return self.world.category_labels(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.columns()

    @property
    def ids(self) -> np.ndarray:
        """Original ids (int64, ascending): what the command line and seed files name agents by."""
        return self.world.columns["ids"]

    interests = _Column()
    activity_profile = _Column()
    activity_rate = _Column()
    susceptibility = _Column()
    reputation = _Column()
    influence = _Column()
    community = _Column()
    status = _Column()

    @property
    def followers(self) -> np.ndarray:
        """Followers of each agent (its out-degree: who can see what it shares)."""
        return _readonly(self.world.graph.out_degree())

    @property
    def follows(self) -> np.ndarray:
        """Agents each agent follows (its in-degree)."""
        return _readonly(self.world.graph.in_degree())

    def names(self) -> np.ndarray:
        """Each agent's display name (a numpy array of str), as ``agora agent`` and the exports show it."""
        from sim.analysis.export import names_of  # noqa: PLC0415 - builds a million strings: only when asked

        w = self.world
        return np.asarray(names_of(w, np.arange(w.n)), dtype=object)

    def index_of(self, ids: Iterable[int] | np.ndarray | int) -> np.ndarray:
        """Positions (in the columns) of agents given by original id.

        Raises:
            BadParameterError: an id the world does not have.
        """
        return self.world.indices_of(np.atleast_1d(np.asarray(ids, dtype=np.int64)))

    def to_pandas(self) -> pd.DataFrame:
        """One row per agent: ``id`` (the original id) and every other column, categories as pandas
        Categoricals (needs pandas)."""
        pandas = optional_module("pandas", "to_pandas()", "pandas")
        cols: dict[str, object] = dict(self.columns())
        w = self.world
        for name in w.labels:  # categories as pandas Categoricals (code -1 is missing)
            cols[name] = pandas.Categorical.from_codes(w.columns[name], categories=list(w.category_labels(name)))
        data = {"id": cols.pop("ids"), **cols}
        return pandas.DataFrame(data)


class Network:
    """A world's follower graph, read-only: a directed CSR in both directions, where an edge ``u -> v`` means
    ``v`` follows ``u`` (what ``u`` shares can reach ``v``). Positions are those of ``w.agents``' columns.

    Arrays: ``indptr`` and ``indices`` (row ``u`` lists ``u``'s followers), ``trust`` (per edge, aligned with
    ``indices``), ``in_indptr`` and ``in_indices`` (row ``v`` lists whom ``v`` follows), ``ids`` (original ids).
    """

    def __init__(self, agents: int, edges: int, loader: Loader, where: str = "") -> None:
        self._agents, self._edges, self._loader, self._where = int(agents), int(edges), loader, where
        self._world: World | None = None

    def __repr__(self) -> str:
        place = f" of {self._where}" if self._where else ""
        return f"<graph{place}: {self._agents:,} agents, {self._edges:,} directed edges; .to_networkx(), .to_igraph()>"

    def __len__(self) -> int:
        """The number of agents (nodes), as ``len(G)`` of a networkx graph."""
        return self._agents

    @property
    def agents(self) -> int:
        return self._agents

    @property
    def edges(self) -> int:
        """The number of directed edges (an undirected link counts twice)."""
        return self.graph.num_edges if self._world is not None else self._edges

    @property
    def world(self) -> World:
        if self._world is None:
            self._world = _checked(self._loader(), self._agents, self._where)
        return self._world

    @property
    def graph(self) -> Graph:
        """The engine's :class:`sim.core.graph.Graph` (read-only arrays)."""
        return self.world.graph

    @property
    def ids(self) -> np.ndarray:
        return self.world.columns["ids"]

    indptr = _GraphArray("out_indptr")
    indices = _GraphArray("out_indices")
    trust = _GraphArray("trust")
    in_indptr = _GraphArray("in_indptr")
    in_indices = _GraphArray("in_indices")

    def edge_list(self, *, ids: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """``(source, target)`` of every edge (``target`` follows ``source``), by original id (int64), or by
        position with ``ids=False``; in the order of ``indices`` (and ``trust``)."""
        g = self.graph
        src, dst = g.sources(), g.out_indices
        if not ids:
            return _readonly(src.astype(np.int64)), _readonly(dst.astype(np.int64))
        return _readonly(self.ids[src]), _readonly(self.ids[dst])

    def to_scipy(self) -> sp.csr_array:
        """A SciPy sparse array, ``A[u, v]`` the trust of edge ``u -> v`` (positions as in ``w.agents``)."""
        sparse = optional_module("scipy.sparse", "to_scipy()", "scipy")
        g = self.graph
        return sparse.csr_array((g.trust, g.out_indices, g.out_indptr), shape=(g.n, g.n))

    def to_igraph(self) -> igraph.Graph:
        """A directed igraph graph: vertex ``i`` is agent ``ids[i]`` (attribute ``id``), an edge ``u -> v`` for
        every world edge (attribute ``trust``)."""
        optional_module("igraph", "to_igraph()", "igraph")
        from sim.analysis.structure import igraph_from_arrays  # noqa: PLC0415 - igraph is heavy to import

        g = self.graph
        out = igraph_from_arrays(g.n, g.sources(), g.out_indices, directed=True, phase="igraph")
        out.vs["id"] = self.ids.tolist()
        out.es["trust"] = g.trust.astype(np.float64).tolist()
        return out

    def to_networkx(self) -> nx.DiGraph:
        """A networkx DiGraph keyed by original id, as ``agora export --format graphml`` writes it: nodes with
        ``name``, ``community``, ``influence``, ``in_degree``, ``out_degree`` (and ``pagerank`` once stored),
        an edge ``u -> v`` per world edge with its ``trust``. networkx holds about a kilobyte per edge: export
        a part (``agora export --community``) of a graph of tens of millions of edges."""
        optional_module("networkx", "to_networkx()", "networkx")
        from sim.analysis.export import to_networkx  # noqa: PLC0415 - networkx is heavy to import

        return to_networkx(self.world)


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def optional_module(module: str, what: str, package: str) -> ModuleType:
    """Import an optional library, or say in one sentence how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise BadParameterError(f"{what} needs {package}: pip install {package}") from None


def file_views(path: str, agents: int, edges: int) -> tuple[Agents, Network]:
    """The agents and the graph of a world file, read from it when first asked for."""

    def load() -> World:
        return load_world(path)

    return Agents(agents, load, repr(path)), Network(agents, edges, load, repr(path))


def live_views(live: Simulation) -> tuple[Agents, Network]:
    """The agents and the graph of a live simulation as of now (a copy taken between two ticks)."""
    world = live_world(live)
    return Agents(world.n, lambda: world, "a live world"), Network(world.n, world.num_edges, lambda: world)
