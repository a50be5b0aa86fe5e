"""What a plugin may read of the world, its graph and the propagation sessions: typed, read-only views.

These are :class:`typing.Protocol` classes: they list exactly what a plugin may use, for a reader and for
a type checker, and name no engine class. The engine hands a plugin read-only facades that satisfy them
(``sim.model.views``): arrays are read-only views of the world's own (writing to one raises
``ValueError``), and nothing can be set. ``tests/test_plugin_contract.py`` checks that the engine's
objects offer every member listed here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from sim.core.persona import Persona


@runtime_checkable
class GraphView(Protocol):
    """The follower graph, read-only: directed CSR both ways. Edge ``u -> v`` means v follows u (what u
    shares can reach v); out-edges are grouped by source, in-edges by target, both ascending."""

    @property
    def n(self) -> int:
        """Agents (rows of the CSR arrays)."""

    @property
    def out_indptr(self) -> np.ndarray:
        """int64 (n + 1,): the out-edges of ``u`` are positions ``out_indptr[u]:out_indptr[u + 1]``."""

    @property
    def out_indices(self) -> np.ndarray:
        """int32 (E,): the target (follower) of each out-edge."""

    @property
    def trust(self) -> np.ndarray:
        """float32 (E,): the trust of each out-edge, in [0, 1]."""

    @property
    def in_indptr(self) -> np.ndarray:
        """int64 (n + 1,): the in-edges of ``v`` are positions ``in_indptr[v]:in_indptr[v + 1]``."""

    @property
    def in_indices(self) -> np.ndarray:
        """int32 (E,): the source (followee) of each in-edge."""

    @property
    def in_edge(self) -> np.ndarray:
        """(E,): the out-edge position (edge id) of each in-edge."""

    @property
    def num_edges(self) -> int:
        """Directed edges."""

    def out_degree(self) -> np.ndarray:
        """Followers of every agent (length n)."""

    def in_degree(self) -> np.ndarray:
        """Followees of every agent (length n)."""

    def followers(self, u: int) -> np.ndarray:
        """The agents that follow ``u`` (its out-neighbours)."""

    def followees(self, v: int) -> np.ndarray:
        """The agents ``v`` follows (its in-neighbours)."""

    def edge_ids(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """The out-edge id of each pair ``src[i] -> dst[i]``, -1 where there is no such edge."""

    def gather_out(self, frontier: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Out-edges of ``frontier``: ``(sources, targets, edge_ids)``."""


@runtime_checkable
class SessionView(Protocol):
    """A propagation session (one message spreading), read-only: ``ctx.session`` of a model, the items
    of a recommender's ``ctx.sessions``."""

    @property
    def id(self) -> int: ...
    @property
    def message_id(self) -> int: ...
    @property
    def model_name(self) -> str: ...
    @property
    def params(self) -> Mapping[str, Any]: ...
    @property
    def seeds(self) -> str: ...
    @property
    def seed(self) -> int:
        """The session's seed (its generator is seeded from the world's seed, this and its id)."""

    @property
    def status(self) -> str:
        """``queued``, ``running``, ``completed``, ``failed`` or ``cancelled``."""

    @property
    def done(self) -> bool: ...
    @property
    def message(self) -> Mapping[str, Any]:
        """The message: ``id``, ``text``, ``topics`` (a 64-bit topic mask), ``author`` (or None), ``created_tick``."""

    @property
    def created_tick(self) -> int: ...
    @property
    def started_tick(self) -> int | None: ...
    @property
    def round(self) -> int: ...
    @property
    def reached(self) -> int:
        """Agents that ever entered an adopted state."""

    @property
    def exposed_count(self) -> int: ...
    @property
    def attempts(self) -> int: ...
    @property
    def seeds_count(self) -> int: ...
    @property
    def new_per_tick(self) -> Sequence[int]: ...
    @property
    def state_names(self) -> Sequence[str]: ...
    @property
    def adopted_states(self) -> Sequence[int]: ...
    @property
    def transmitting_states(self) -> Sequence[int]: ...
    @property
    def state(self) -> np.ndarray:
        """int8 (N,): each agent's state in this session."""

    @property
    def adopted_at(self) -> np.ndarray:
        """int32 (N,): the tick each agent first adopted, -1 never."""

    @property
    def adopted_from(self) -> np.ndarray:
        """int32 (N,): whom each agent adopted from, -1 none or unknown."""

    @property
    def exposed(self) -> np.ndarray:
        """bool (N,): whether each agent was ever exposed."""

    @property
    def frontier(self) -> np.ndarray:
        """int32: the agents that transmit in the next round."""

    @property
    def variables(self) -> Mapping[str, np.ndarray]:
        """The model's continuous variables (name -> float column of length N)."""


@runtime_checkable
class WorldView(Protocol):
    """The world, read-only (``ctx.world``): its size, seed and clock, agent columns, graph and personas."""

    @property
    def name(self) -> str: ...
    @property
    def seed(self) -> int:
        """The world's seed."""

    @property
    def tick(self) -> int:
        """The tick now."""

    @property
    def n(self) -> int:
        """Agents."""

    @property
    def num_edges(self) -> int: ...
    @property
    def num_communities(self) -> int | None: ...
    @property
    def columns(self) -> Mapping[str, np.ndarray]:
        """Agent columns by name (length N each): ``ids``, ``interests`` (uint64 topic masks),
        ``influence``, ``reputation``, ``susceptibility``, ``community``, ``status``, ``activity_profile``, ..."""

    @property
    def attributes(self) -> Mapping[str, Mapping[str, str]]:
        """The attributes data gave (a people table's columns, ``agora set``): name -> ``{"kind": "number" |
        "category", ...}``; each is also a column of :attr:`columns`."""

    def category_labels(self, name: str) -> tuple[str, ...]:
        """The labels of category attribute ``name``, in code order (code -1 is missing)."""

    @property
    def graph(self) -> GraphView: ...

    def persona(self, i: int) -> Persona:
        """The persona text (name, bio, style) of agent index ``i``."""

    def index_of(self, original_id: int) -> int:
        """The index of the agent with this original id."""

    def indices_of(self, original_ids: np.ndarray) -> np.ndarray:
        """The indices of the agents with these original ids."""

    def hour_of(self, tick: int) -> int:
        """The hour of the simulated day at ``tick``."""
