"""The context a propagation model steps in (``ctx``): the engine's implementation of the plugin
contract's :class:`sim.plugin.StepContext`.

Arrays are read-only views, and the world, the session and the graph are read-only facades
(``sim.model.views``). Besides what the contract lists, it has a few members for the engine alone:
``set_feed`` (the round's feed exposures), ``close`` (cut off an abandoned call), ``registry`` and
``feed_used`` (read by ``agora plugins check``).
"""

from __future__ import annotations

import dataclasses
from types import MappingProxyType
from typing import Any

import numpy as np

from sim.core.arrays import one_of
from sim.core.graph import Graph, csr_positions
from sim.core.world import World, world_rng
from sim.errors import BadParameterError
from sim.model.intervene import blocked_mask
from sim.model.lifecycle import FROZEN, all_active
from sim.model.views import SessionBase, SessionView, WorldView, freeze, readonly, readonly_graph
from sim.plugin import PropagationModel, StepResult
from sim.plugin.arrays import layer_table, scale_edges
from sim.plugin.params import Param
from sim.plugin.schedule import has_changes, schedule_of, values_at


class StepContext:
    """What a model sees in one round. Arrays are read-only views, and the world, the session and the
    graph are read-only facades (:class:`WorldView`, :class:`SessionView`, :func:`readonly_graph`): a
    model cannot change the world or the session except through its :class:`~sim.plugin.StepResult` and
    its own ``store``; writing to a shared array raises ``ValueError`` (its session fails)."""

    def __init__(
        self, session: SessionBase, world: World, tick: int, online: np.ndarray | None = None, *, starting: bool = False
    ) -> None:
        self._session = session
        self._graph: Graph = world.graph
        #: True in the model's ``start()`` (seeding), False in every round; ``round`` is 0 in both.
        self.starting = starting
        self.n: int = world.n
        self.tick = tick
        self.round = session.round
        self.params = MappingProxyType(session.params)
        self.message = MappingProxyType(session.message)
        self.rng: np.random.Generator = session.rng
        self.state = readonly(session.state)
        self.frontier = readonly(session.frontier)
        self.store = session.store
        self._online = online  # an ndarray, None, or a lazy sim.core.world.Activation (drawn when read)
        self._llm = session.llm
        self._registry = session.registry
        self._world = world
        self._closed = False
        self._columns: MappingProxyType | None = None
        self.trust = readonly(world.graph.trust)
        #: The session's continuous variables (name -> read-only column of length N); see ``Variable``.
        self.variables = MappingProxyType({k: readonly(v) for k, v in session.variables.items()})
        self._feed_agents = np.empty(0, dtype=np.int32)
        self._feed_sources = np.empty(0, dtype=np.int32)
        #: Whether the model looked at the feed exposures (``agora plugins check`` compares it with ``uses_feed``).
        self.feed_used = False
        self._gathered: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
        self._targets: tuple[np.ndarray, np.ndarray] | None = None
        self._sources: np.ndarray | None = None
        self._tables: dict[str, np.ndarray] = {}

    @property
    def columns(self) -> MappingProxyType:
        """The world's agent columns by name, read-only (made when first read: most rounds never do)."""
        if self._columns is None:
            self._columns = MappingProxyType({k: readonly(v) for k, v in self._world.columns.items()})
        return self._columns

    @property
    def online(self) -> np.ndarray | None:
        """Who is online this tick (read-only bool column), or None when the caller gave no activation."""
        src = self._online
        if src is None or isinstance(src, np.ndarray) and not src.flags.writeable:
            return src
        self._online = src = readonly(src if isinstance(src, np.ndarray) else src.mask)
        return src

    @property
    def feed_agents(self) -> np.ndarray:
        """Feed exposures of this round: agents shown the message by the content recommender (ascending,
        int32). Empty without a recommender. Declare ``uses_feed = True`` in a model that reads them."""
        self.feed_used = True
        return self._feed_agents

    @property
    def feed_sources(self) -> np.ndarray:
        """The agent credited for each item of :attr:`feed_agents` (int32, -1 none)."""
        self.feed_used = True
        return self._feed_sources

    def set_feed(self, agents: np.ndarray, sources: np.ndarray) -> None:
        """The core hands the round's feed exposures to the context (not for models)."""
        self._feed_agents = readonly(np.asarray(agents, dtype=np.int32))
        self._feed_sources = readonly(np.asarray(sources, dtype=np.int32))

    @property
    def frozen(self) -> np.ndarray | None:
        """Agents the engine never lets change state in this session (not joined yet, suspended or
        deactivated), as a read-only bool column — or None when there are none (every agent active). A
        model that decides its own end (consensus, no change) leaves them out of it."""
        status = self._world.columns["status"]
        if all_active(status):
            return None
        return readonly(np.asarray(one_of(status, FROZEN)))

    @property
    def world(self) -> WorldView:
        """The world, read-only (:class:`WorldView`): personas, ids, the clock, columns, graph."""
        return WorldView(self._world)

    @property
    def session(self) -> SessionView:
        """This session, read-only (:class:`SessionView`); change it only through the answer and ``store``."""
        return SessionView(self._session)

    @property
    def graph(self) -> Graph:
        """The follower graph over read-only views of its arrays (see ``sim.core.graph``)."""
        return readonly_graph(self._graph)

    @property
    def llm(self) -> Any:
        """The simulation's LLM service (``sim.llm.service.LLMService``) or None; see the ``llm`` model.
        None once the call this context was handed to has been abandoned (over the plugin budget)."""
        return None if self._closed else self._llm

    @property
    def registry(self) -> Any:
        """The plugin registry, or None (the engine's; a model uses :meth:`model_class`)."""
        return None if self._closed else self._registry

    def model_class(self, name: str) -> type[PropagationModel]:
        """The registered model called ``name`` (for a model that wraps another, like ``llm``).

        Raises:
            BadParameterError: no such model, or no registry (a context made without one).
        """
        registry = self.registry
        if registry is None:
            raise BadParameterError(
                f"model {name!r} cannot be made here: this session runs without the simulation's plugin registry"
            )
        cls: type[PropagationModel] = registry.model(name)
        return cls

    def stream_rng(self, stream: int) -> np.random.Generator:
        """A generator of this session's own for this round, apart from ``rng``: seeded from the world's
        seed, ``stream``, the session's id and seed, and the round."""
        s = self._session
        return world_rng(self._world.seed, int(stream), int(s.id), int(s.seed) & 0xFFFFFFFF, int(self.round))

    def close(self) -> None:
        """Cut this context off the simulation's services (its call was abandoned)."""
        self._closed = True

    # Randomness goes through these two so that tests can couple a model to a reference
    # implementation by handing both the same pre-drawn numbers.
    def random_edges(self, edge_ids: np.ndarray) -> np.ndarray:
        """One uniform [0, 1) number per listed edge, in order."""
        return self.rng.random(len(edge_ids))

    def random_agents(self, agents: np.ndarray) -> np.ndarray:
        """One uniform [0, 1) number per listed agent, in order."""
        return self.rng.random(len(agents))

    def feed_open(self) -> tuple[np.ndarray, np.ndarray]:
        """The feed exposures of agents still in state 0: ``(agents, sources)``."""
        self.feed_used = True
        if self._feed_agents.size == 0:
            return self._feed_agents, self._feed_sources
        ok = self.state[self._feed_agents] == 0
        return self._feed_agents[ok], self._feed_sources[ok]

    def with_feed(self, result: StepResult, agents: np.ndarray, sources: np.ndarray, new_state: int = 1) -> StepResult:
        """``result`` plus adoptions through the feed: ``agents`` (from :meth:`feed_open`) entering
        ``new_state`` with their credited ``sources``. An agent the graph result already moves keeps its
        graph adoption; the others are marked as feed adoptions (``via_feed``)."""
        self.feed_used = True
        g_agents = np.asarray(result.agents, dtype=np.int64)
        extra = np.asarray(agents, dtype=np.int64)
        if extra.size == 0:
            return result
        if g_agents.size:
            keep = ~np.isin(extra, g_agents)
            extra, sources = extra[keep], np.asarray(sources)[keep]
        n_g = g_agents.size
        states = result.new_state
        if isinstance(states, (int, np.integer)) and int(states) == new_state:
            merged_states: np.ndarray | int = new_state
        else:
            merged_states = np.concatenate(
                [
                    np.broadcast_to(np.asarray(states, dtype=np.int8), (n_g,)),
                    np.full(extra.size, new_state, dtype=np.int8),
                ]
            )
        g_src = (
            np.full(n_g, -1, dtype=np.int32) if result.sources is None else np.asarray(result.sources, dtype=np.int32)
        )
        via = np.zeros(n_g + extra.size, dtype=bool)
        if result.via_feed is not None:
            via[:n_g] = result.via_feed
        via[n_g:] = True
        return dataclasses.replace(
            result,
            agents=np.concatenate([g_agents, extra]),
            new_state=merged_states,
            sources=np.concatenate([g_src, np.asarray(sources, dtype=np.int32)]),
            via_feed=via,
        )

    def gather(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Out-edges of the frontier: ``(sources, targets, trust, edge_ids)``, sources ascending and
        each source's targets ascending. Computed once per round."""
        if self._gathered is None:
            src, dst, eid = self._graph.gather_out(self._session.frontier)
            # Read-only: the core reads them back after the step (exposure, the round's record for trust).
            trust = self._graph.trust[eid]
            freeze(src, dst, trust, eid)
            self._gathered = (src, dst, trust, eid)
        return self._gathered

    def gather_targets(self) -> tuple[np.ndarray, np.ndarray]:
        """The cheap part of :meth:`gather`: ``(targets, edge_ids)`` of the frontier's out-edges.
        Edge ids ascend with the sending agent, so the smallest edge id is the lowest sender."""
        if self._gathered is not None:
            return self._gathered[1], self._gathered[3]
        if self._targets is None:
            eid, _ = csr_positions(self._graph.out_indptr, self._session.frontier)
            targets = np.take(self._graph.out_indices, eid)
            freeze(targets, eid)
            self._targets = (targets, eid)
        return self._targets

    def gather_sources(self) -> np.ndarray:
        """The sending agent of each edge of :meth:`gather_targets` (aligned with it, ascending)."""
        if self._gathered is not None:
            return self._gathered[0]
        if self._sources is None:
            f = self._session.frontier
            counts = self._graph.out_indptr[f.astype(np.int64) + 1] - self._graph.out_indptr[f]
            self._sources = freeze(np.repeat(f.astype(np.int32), counts))[0]
        return self._sources

    def edge_sources(self, edge_ids: np.ndarray) -> np.ndarray:
        """The sending agent of each listed out-edge (int32)."""
        return (np.searchsorted(self._graph.out_indptr, edge_ids, side="right") - 1).astype(np.int32)

    # -- contact layers and attributes ----------------------------------------------------------------
    @property
    def layers(self) -> tuple[str, ...]:
        """The world's contact layers by name (bit ``i`` of an edge's layer mask is ``layers[i]``); empty
        for a world of one layer."""
        return self._world.layers

    def edge_layers(self, edge_ids: np.ndarray) -> np.ndarray:
        """The layer mask (uint8, bit ``i`` for ``layers[i]``) of each listed out-edge; zeros on a world of
        one layer."""
        layer = self._graph.layer
        if layer is None:
            return np.zeros(len(edge_ids), dtype=np.uint8)
        return np.take(layer, edge_ids)

    def edge_param(self, name: str, edge_ids: np.ndarray) -> np.ndarray | float:
        """The value of the session's parameter ``name`` on each listed out-edge: one float for all (a world
        of one layer), else float64 per edge, from the per-layer values (``beta@class``; the unsuffixed value
        for layers not named) combined over the edge's layers as its :class:`~sim.plugin.Param` declares
        (``per_edge``; see :func:`sim.plugin.arrays.layer_table`)."""
        base = float(self.params[name])
        layer = self._graph.layer
        layers = self._world.layers if layer is not None else ()
        schedule = schedule_of(self.params, name) if has_changes(self.params) else None
        values = None
        if schedule is not None:  # this round's values (a change point: sim.plugin.schedule)
            cap = getattr(self._spec(name), "max", None)
            base, values = values_at(self.params, schedule, layers, schedule.segment(self.round + 1), cap)
        if not layers or layer is None:
            return base
        table = self._tables.get(name)
        if table is None:
            if values is None:
                values = [float(self.params.get(f"{name}@{lay}", base)) for lay in layers]
            table = self._tables[name] = layer_table(base, values, self._combine(name))
        return np.take(table, np.take(layer, edge_ids))

    def _spec(self, name: str) -> Param | None:
        """The session's model's declaration of parameter ``name`` (None where it has none or is not known)."""
        registry = self._registry
        try:
            return registry.model(self._session.model_name).params.get(name) if registry is not None else None
        except BadParameterError:
            return None

    def _combine(self, name: str) -> str:
        """How ``name``'s per-layer values combine (its Param's ``per_edge``; ``probability`` when the model
        does not declare it per edge: the value is the same in every layer, one chance per layer)."""
        return getattr(self._spec(name), "per_edge", None) or "probability"

    def attribute(self, name: str) -> np.ndarray | None:
        """The world's attribute column ``name``, read-only: measured values (a people table's column, or a
        column set from data with ``agora set``), or None when the world has none. A drawn built-in column
        (every world has a ``susceptibility`` drawn at random) is not an attribute until it is measured."""
        if name not in self._world.attributes:
            return None
        column = self._world.columns.get(name)
        return None if column is None else readonly(column)

    def transmission(self, name: str, edge_ids: np.ndarray, *, weighted: bool = False) -> np.ndarray | float:
        """The probability that an attempt along each listed out-edge succeeds: parameter ``name`` per edge
        (:meth:`edge_param`), times the edge's weight (``trust``) when ``weighted``, the sender's
        ``infectivity`` and the receiver's ``susceptibility`` when the world has them as attributes
        (:meth:`attribute`), capped at 1 (:func:`sim.plugin.arrays.scale_edges`). One float on a world of one
        layer without those attributes and ``weighted`` False: the parameter itself."""
        value = self.edge_param(name, edge_ids)
        infectivity = self.attribute("infectivity")
        susceptibility = self.attribute("susceptibility")
        return scale_edges(
            value,
            weight=np.take(self._graph.trust, edge_ids) if weighted else None,
            infectivity=None if infectivity is None else np.take(infectivity, self.edge_sources(edge_ids)),
            susceptibility=(
                None if susceptibility is None else np.take(susceptibility, np.take(self._graph.out_indices, edge_ids))
            ),
        )

    def gather_in(self, agents: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """In-edges of ``agents``: ``(targets, sources, edge_ids)`` grouped by target in the given order."""
        agents = np.asarray(agents, dtype=np.int64)
        g = self._graph
        pos, counts = csr_positions(g.in_indptr, agents)
        return np.repeat(agents.astype(np.int32), counts), g.in_indices[pos], g.in_edge[pos].astype(np.int64)

    def followees(self, agents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The agents each listed agent follows: ``(targets, sources)`` as in :meth:`gather_in`, without
        the edge ids. Prefer it when the ids are not needed: right after the graph changed, the in->out
        edge map is computed only when first read, and this does not read it."""
        agents = np.asarray(agents, dtype=np.int64)
        g = self._graph
        pos, counts = csr_positions(g.in_indptr, agents)
        return np.repeat(agents.astype(np.int32), counts), g.in_indices[pos]

    def adopted_mask(self, agents: np.ndarray) -> np.ndarray:
        """Whether each listed agent is in one of the model's adopted states (a blocked agent never counts:
        it does not transmit)."""
        hit = np.asarray(one_of(self._session.state[agents], self._session.adopted_states))
        blocked = blocked_mask(self._world)
        return hit & ~blocked[agents] if blocked is not None else hit

    def adopted_in_counts(self, agents: np.ndarray) -> np.ndarray:
        """For each listed agent, how many of the agents it follows have adopted."""
        targets, sources = self.followees(agents)
        hit = self.adopted_mask(sources)
        if targets.size == 0:
            return np.zeros(len(agents), dtype=np.int64)
        # targets come grouped in the order of `agents`; count per group.
        counts = np.diff(self._graph.in_indptr)[np.asarray(agents, dtype=np.int64)]
        group = np.repeat(np.arange(len(agents)), counts)
        return np.bincount(group, weights=hit, minlength=len(agents)).astype(np.int64)

    def in_degree(self, agents: np.ndarray) -> np.ndarray:
        """How many agents each listed agent follows."""
        a = np.asarray(agents, dtype=np.int64)
        return self._graph.in_indptr[a + 1] - self._graph.in_indptr[a]
