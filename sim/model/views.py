"""The read-only views plugins get of the engine's objects: the world (:class:`WorldView`), a propagation
session (:class:`SessionView`) and the graph (:func:`readonly_graph`). They satisfy the typed protocols
of the plugin contract (``sim.plugin.WorldView``, ``SessionView``, ``GraphView``); arrays come out as
read-only views and nothing can be set through them."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import numpy as np

from sim.core.graph import Graph


class SessionBase:
    """The base of the engine's propagation session (``sim.model.session.PropagationSession``), named here
    so that a read-only view hands out every session it reaches as a :class:`SessionView` (this module
    sits below the session's). It declares what the step context reads of a session."""

    id: int
    model_name: str
    seed: int
    round: int
    params: dict[str, Any]
    message: dict[str, Any]
    rng: np.random.Generator
    state: np.ndarray
    frontier: np.ndarray
    store: dict[str, np.ndarray]
    variables: dict[str, np.ndarray]
    adopted_states: tuple[int, ...]
    llm: Any
    registry: Any


def readonly(a: np.ndarray) -> np.ndarray:
    """A read-only view of ``a`` (no copy)."""
    v = a.view()
    v.flags.writeable = False
    return v


def freeze(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Arrays the core made for this round, made read-only in place (no copy)."""
    for a in arrays:
        a.flags.writeable = False
    return arrays


def readonly_graph(g: Graph) -> Graph:
    """The same graph over read-only views of its CSR arrays and trust (no copy)."""
    in_edge = readonly(g.in_edge) if g.in_edge_ready else (lambda: readonly(g.in_edge))
    return Graph(
        g.n,
        readonly(g.out_indptr),
        readonly(g.out_indices),
        readonly(g.trust),
        readonly(g.in_indptr),
        readonly(g.in_indices),
        in_edge,
        None if g.layer is None else readonly(g.layer),
    )


def _protect(value: Any) -> Any:
    """What a read-only view hands a plugin for ``value``: arrays as read-only views, dicts as read-only
    mappings (their arrays read-only), lists as tuples, sessions as :class:`SessionView`."""
    if isinstance(value, np.ndarray):
        return readonly(value)
    if isinstance(value, dict):
        return MappingProxyType({k: _protect(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(_protect(v) for v in value)
    if isinstance(value, SessionBase):
        return SessionView(value)
    if isinstance(value, Graph):
        return readonly_graph(value)
    return value


class _ReadOnlyView:
    """A read-only facade of a core object for plugins: only the attributes in ``_ALLOWED`` are handed
    out, through :func:`_protect`; nothing can be set. Plugin code reads shared state through these and
    can change it only through its answer (and its session's ``store``)."""

    __slots__ = ("_obj",)
    _WHAT = "object"
    _ALLOWED: frozenset[str] = frozenset()

    def __init__(self, obj: Any) -> None:
        object.__setattr__(self, "_obj", obj)

    def __getattr__(self, name: str) -> Any:
        obj = object.__getattribute__(self, "_obj")
        if name not in self._ALLOWED and not self._extra(obj, name):
            raise AttributeError(
                f"{self._WHAT}.{name} is not available to plugins: the {self._WHAT} is read-only "
                f"to them (available: {', '.join(sorted(self._ALLOWED))})"
            )
        return _protect(getattr(obj, name))

    @staticmethod
    def _extra(obj: Any, name: str) -> bool:
        return False

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot set {self._WHAT}.{name}: the {self._WHAT} is read-only to plugins")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete {self._WHAT}.{name}: the {self._WHAT} is read-only to plugins")

    def __repr__(self) -> str:
        return f"<read-only {self._WHAT} {object.__getattribute__(self, '_obj')!r:.80}>"


class WorldView(_ReadOnlyView):
    """The world as a plugin sees it (``ctx.world``): its agent columns (also as attributes), graph,
    sessions and messages read-only, personas, ids and the clock. Nothing can be changed through it.

    The plugin contract (``sim.plugin.WorldView``) lists what a plugin may use; the rest (``sessions``,
    ``messages``, ``config``, ...) stays readable for plugins written before the contract was typed."""

    __slots__ = ()
    _WHAT = "world"
    _ALLOWED = frozenset(
        {
            "name",
            "seed",
            "tick",
            "n",
            "num_edges",
            "num_communities",
            "columns",
            "attributes",
            "category_labels",
            "graph",
            "sessions",
            "messages",
            "config",
            "path",
            "persona",
            "index_of",
            "indices_of",
            "hour_of",
            "nbytes",
            "summary",
            "app_version",
        }
    )

    @staticmethod
    def _extra(obj: Any, name: str) -> bool:
        return name in obj.columns


class SessionView(_ReadOnlyView):
    """A propagation session as a plugin sees it (``ctx.session``, a recommender's ``ctx.sessions``):
    counters, message and arrays, read-only."""

    __slots__ = ()
    _WHAT = "session"
    _ALLOWED = frozenset(
        {
            "id",
            "message_id",
            "model_name",
            "params",
            "seeds",
            "priority",
            "status",
            "message",
            "created_tick",
            "started_tick",
            "ended_tick",
            "round",
            "seed",
            "reached",
            "exposed_count",
            "attempts",
            "seeds_count",
            "new_per_tick",
            "frontier_sizes",
            "reproduction_number",
            "error",
            "recommender",
            "feed_exposed",
            "feed_reached",
            "state_names",
            "adopted_states",
            "transmitting_states",
            "transmit",
            "state",
            "adopted_at",
            "adopted_from",
            "exposed",
            "frontier",
            "transmitting",
            "feed_seen",
            "store",
            "done",
            "speed",
            "mean_offspring",
            "peak_tick",
            "graph_reached",
            "state_counts",
            "series_from",
            "variables",
        }
    )
