"""The world: agents as numpy columns, the follower graph as CSR, and the world's seeded randomness.

No Python object exists per agent. :class:`Agent` is a view that materialises one agent on demand
(for display or text generation); everything that runs per tick works on the columns.
"""

from __future__ import annotations

import copy
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np

from sim import __version__
from sim.core.activity import PROFILE_NAMES, PROFILES, draw_profiles, online_probability
from sim.core.agentmemory import AgentMemory
from sim.core.attributes import INFECTIVITY, KINDS, MAX_ATTRIBUTES, MAX_HEADER, SOURCES, Labels, check_labels
from sim.core.generators import GeneratedGraph
from sim.core.graph import Graph, GraphDelta
from sim.core.llmcache import LLMCache
from sim.core.numbers import int_of
from sim.core.persona import Persona, draw_codes, persona_text
from sim.core.posts import PostLog
from sim.core.topics import mask_topics
from sim.errors import BadParameterError

Progress = Callable[[str, float], None] | None


class Status(IntEnum):
    """Lifecycle status of an agent (the ``status`` column, int8)."""

    CREATED = 0
    ACTIVE = 1
    IDLE = 2
    MUTED = 3
    SUSPENDED = 4
    DEACTIVATED = 5


#: Per-agent columns: name -> (dtype, trailing shape). Order is the order of persistence.
AGENT_COLUMNS: dict[str, tuple[str, tuple[int, ...]]] = {
    "ids": ("<i8", ()),  # original id, sorted ascending; what users type
    "interests": ("<u8", ()),  # topic bitmask
    "activity_profile": ("|u1", ()),  # index into activity.PROFILES
    "activity_rate": ("<f4", ()),  # mean online probability per tick
    "susceptibility": ("<f4", ()),
    "reputation": ("<f4", ()),
    "influence": ("<f4", ()),
    "community": ("<i4", ()),  # -1: not known yet
    "status": ("|i1", ()),  # Status
    "persona_codes": ("<u2", (5,)),  # see persona.py
    "persona_style": ("|u1", ()),
}
GRAPH_ARRAYS = ("out_indptr", "out_indices", "trust", "in_indptr", "in_indices", "in_edge")
#: The most contact layers a world holds (one bit each of an edge's uint8 ``graph.layer``), and how a layer
#: may be named.
MAX_LAYERS = 8
LAYER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")
#: Built-in columns that data may set (``agora set``), with the range of their values: measurements of
#: agents. The others (ids, interests, profiles, community, status, personas) are structure Agora derives.
SETTABLE_COLUMNS: dict[str, tuple[float, float]] = {
    "susceptibility": (0.0, 1.0),
    "reputation": (0.0, 1.0),
    "influence": (0.0, 1.0),
    "activity_rate": (0.0, 1.0),
}
#: How a data column may be named. A data column is a column a world holds beside the built-in ones: one
#: value per agent set from data (``agora set``) for a model's variable, such as ``opinion``; float64, finite,
#: stored as the array ``agent.NAME``. A session's variable starts from it (``sim.model.session``).
DATA_COLUMN_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")


def world_rng(seed: int, *stream: int) -> np.random.Generator:
    """A generator for one purpose, seeded from the world's seed and a stream key.

    Randomness is split by purpose (generation, personas, ticks, sessions) so that adding a draw in one
    place never shifts another, and a continued snapshot replays exactly.
    """
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed & 0xFFFFFFFFFFFFFFFF, *stream])))


STREAM_GRAPH, STREAM_AGENTS, STREAM_PERSONA, STREAM_TRUST, STREAM_TICK = 1, 2, 3, 4, 5


@dataclass(eq=False)
class World:
    """A world of ``n`` agents: columns, graph, seed, tick and configuration."""

    name: str
    seed: int
    columns: dict[str, np.ndarray]
    graph: Graph
    config: dict[str, Any] = field(default_factory=dict)
    tick: int = 0
    #: State of the world-level generator (a ``bit_generator.state`` dict), advanced by ticks.
    rng_state: dict[str, Any] | None = None
    persona_overrides: dict[int, Persona] = field(default_factory=dict)
    #: Messages (plain records) and propagation sessions (``sim.model.session.PropagationSession``).
    messages: list[dict[str, Any]] = field(default_factory=list)
    sessions: list[Any] = field(default_factory=list)
    #: Where the world lives on disk, if anywhere.
    path: str | None = None
    #: Names of world arrays (``agent.*``, ``graph.*``) changed since the world file was last written.
    dirty_arrays: set[str] = field(default_factory=set)
    #: The contact layers' names, bit ``i`` of an edge's ``graph.layer`` for ``layers[i]``; empty for a world
    #: of one layer (no ``graph.layer``).
    layers: tuple[str, ...] = ()
    #: The agent attributes data gave (``sim.core.attributes``), in order: name -> ``{"kind": "number" |
    #: "category", "source": "people" | "set", "header": the column's name in the file}``. Each is the column
    #: ``columns[name]``: float64 (NaN: missing) or a built-in measurement for a number, int32 codes (-1:
    #: missing) for a category, whose labels are :attr:`labels` (:meth:`category_labels`). Empty: none.
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)
    #: The labels of each category attribute (see :class:`sim.core.attributes.Labels`).
    labels: dict[str, Labels] = field(default_factory=dict, repr=False)
    app_version: str = __version__
    #: Follows and unfollows waiting to be merged into the graph (see ``sim.social.dynamics``).
    delta: GraphDelta = field(default=None)  # type: ignore[assignment]
    #: Graph changes since the world file's relationship rows were last written: removed edge keys,
    #: added edge keys with trust, and keys of edges whose trust changed (``followed * n + follower``).
    edge_log: dict[str, list[np.ndarray]] = field(
        default_factory=lambda: {"removed": [], "added": [], "added_trust": [], "trust": []}
    )
    #: Answers of the LLM by prompt (``sim.core.llmcache``) and what agents wrote (``sim.core.posts``).
    llm_cache: LLMCache = field(default_factory=LLMCache, repr=False)
    posts: PostLog = field(default_factory=PostLog, repr=False)
    #: What LLM agents remember (``sim.core.agentmemory``): empty, and free, until an agent remembers.
    memory: AgentMemory = field(default_factory=AgentMemory, repr=False)
    #: What the file or snapshot the world was read from named and Agora ignored (one sentence each: LLM
    #: servers and credentials, which come only from the user's environment and flags).
    load_warnings: list[str] = field(default_factory=list, repr=False)
    _persona_loader: Callable[[int], Persona | None] | None = field(default=None, repr=False)
    _persona_cache: OrderedDict[int, Persona] = field(default_factory=OrderedDict, repr=False)

    PERSONA_CACHE_SIZE = 4096

    def __post_init__(self) -> None:
        if self.delta is None:
            self.delta = GraphDelta(self.graph.n)

    # -- graph changes ----------------------------------------------------------------------------
    def note_trust(self, edge_ids: np.ndarray) -> None:
        """Record that the trust of these edges (ids in the current graph) changed."""
        if edge_ids.size:
            g = self.graph
            src = np.searchsorted(g.out_indptr, edge_ids, side="right") - 1
            self.edge_log["trust"].append(src.astype(np.int64) * g.n + g.out_indices[edge_ids])
            self.dirty_arrays.add("graph.trust")

    def merge_delta(self) -> int:
        """Merge the buffered follows and unfollows into the graph; returns how many edges changed."""
        if not self.delta.pending:
            return 0
        n = self.graph.n
        self.graph = self.delta.merge_into(self.graph)
        removed = self.delta.last_removed
        added, trust = self.delta.last_added
        if self.memory.active:
            self._remember_edges(n, removed, added)
        self.edge_log["removed"].append(removed)
        self.edge_log["added"].append(added)
        self.edge_log["added_trust"].append(trust)
        self.dirty_arrays.update(f"graph.{k}" for k in GRAPH_ARRAYS)
        if self.graph.layer is not None:
            self.dirty_arrays.add("graph.layer")
        return int(removed.size + added.size)

    def _remember_edges(self, n: int, removed: np.ndarray, added: np.ndarray) -> None:
        """Follows and unfollows of agents that remember, as memory events of both ends (keys
        ``followed * n + follower``; the text is the other agent's name, so recall finds it by name)."""
        mem = self.memory
        rows: list[tuple[int, int, str, int, int, str]] = []
        for keys, mine, theirs in ((added, "followed", "followed_by"), (removed, "unfollowed", "unfollowed_by")):
            if keys.size == 0:
                continue
            followed, follower = keys // n, keys % n
            for who, other, kind in ((follower, followed, mine), (followed, follower, theirs)):
                m = mem.which(who)
                if m.any():  # only the ends that remember: a handful, not every edge
                    rows += [
                        (a, self.tick, kind, -1, o, self.persona(o).name)
                        for a, o in zip(who[m].tolist(), other[m].tolist())
                    ]
        mem.record_rows(rows)

    def clear_edge_log(self) -> None:
        for v in self.edge_log.values():
            v.clear()

    # -- basic shape ------------------------------------------------------------------------------
    @property
    def n(self) -> int:
        """Number of agents."""
        return self.graph.n

    @property
    def num_edges(self) -> int:
        """Number of directed edges stored."""
        return self.graph.num_edges

    def __getattr__(self, name: str) -> np.ndarray:
        columns = self.__dict__.get("columns")
        if columns is not None and name in columns:
            return columns[name]
        raise AttributeError(name)

    def category_labels(self, name: str) -> tuple[str, ...]:
        """The labels of category attribute ``name``, in code order (code ``i`` is label ``i``; -1 is missing).

        Raises:
            BadParameterError: the world has no category attribute of that name.
        """
        labels = self.labels.get(name) if isinstance(name, str) else None
        if labels is None:
            held = [k for k, v in self.attributes.items() if v.get("kind") == "category"]
            raise BadParameterError(
                f"this world has no category attribute {str(name)[:60]!r}: "
                + (f"its categories are {', '.join(held)}" if held else "it has none")
            )
        return labels.tolist()

    def attribute_values(self, i: int) -> dict[str, float | str | None]:
        """Agent index ``i``'s attributes by name: a number (None when missing) or a category's label (None
        when missing)."""
        out: dict[str, float | str | None] = {}
        for name, spec in self.attributes.items():
            value = self.columns[name][i]
            if spec.get("kind") == "category":
                out[name] = None if value < 0 else self.labels[name].tolist()[int(value)]
            else:
                out[name] = None if np.isnan(value) else float(value)
        return out

    @property
    def num_communities(self) -> int | None:
        """Number of known communities, or None when no community assignment is known."""
        comm = self.columns["community"]
        if comm.size == 0 or comm.max() < 0:
            return None
        return int(np.count_nonzero(np.bincount(comm[comm >= 0])))

    def nbytes(self) -> int:
        """Memory held by the world's arrays."""
        return self.graph.nbytes() + sum(a.nbytes for a in self.columns.values())

    # -- randomness -------------------------------------------------------------------------------
    def rng(self) -> np.random.Generator:
        """The world-level generator at its saved state (advance it, then call :meth:`keep_rng`)."""
        gen = world_rng(self.seed, STREAM_TICK)
        if self.rng_state is not None:
            gen.bit_generator.state = self.rng_state
        return gen

    def keep_rng(self, gen: np.random.Generator) -> None:
        """Store the state of a generator obtained from :meth:`rng`."""
        self.rng_state = dict(gen.bit_generator.state)

    def advance(self, ticks: int = 1) -> np.ndarray:
        """Advance the world clock by ``ticks``, drawing who is online; returns the last online mask.

        This is the activation step of a tick; the simulation core builds the rest on top of it.
        """
        gen = self.rng()
        online = np.zeros(self.n, dtype=bool)
        for _ in range(ticks):
            online = self._draw_online(gen, self.tick)
            self.tick += 1
        self.keep_rng(gen)
        return online

    def advance_lazily(self) -> Activation:
        """Advance the clock by one tick and return its activation undrawn: who is online is drawn only
        if something reads it (:attr:`Activation.mask`); otherwise :meth:`Activation.settle` moves the
        world's generator past the draw without making it. Either way the generator ends exactly where
        :meth:`advance` leaves it, so a run that never looks at who is online (a headless ensemble of a
        model that ignores it) gives the same trajectory as one that does, without the O(N) draw."""
        act = Activation(self, self.tick)
        self.tick += 1
        return act

    def _draw_online(self, gen: np.random.Generator, tick: int) -> np.ndarray:
        p = online_probability(self.columns["activity_profile"], self.columns["activity_rate"], self.hour_of(tick))
        online = gen.random(self.n, dtype=np.float32) < p
        online &= self.columns["status"] == Status.ACTIVE
        return online

    def hour_of(self, tick: int) -> int:
        """Hour of the simulated day (0..23) in which ``tick`` falls."""
        minutes = int(self.config.get("minutes_per_tick", 10))
        return (tick * minutes // 60 + int(self.config.get("start_hour", 8))) % 24

    # -- agents -----------------------------------------------------------------------------------
    def index_of(self, original_id: int) -> int:
        """Internal index of the agent with this original id.

        Raises:
            BadParameterError: no agent has that id.
        """
        ids = self.columns["ids"]
        try:
            key = int_of(original_id) if isinstance(original_id, str) else int(original_id)
        except (TypeError, ValueError):
            raise BadParameterError(f"agent id {original_id!r} is not an integer") from None
        i = int(np.searchsorted(ids, key))
        if i >= ids.size or ids[i] != key:
            raise BadParameterError(
                f"no agent has id {key}: ids run from {ids[0]} to {ids[-1]}" if ids.size else "the world has no agents"
            )
        return i

    def indices_of(self, original_ids: np.ndarray) -> np.ndarray:
        """Internal indices of many original ids at once (vectorised :meth:`index_of`)."""
        ids = self.columns["ids"]
        keys = np.asarray(original_ids, dtype=np.int64)
        idx = np.searchsorted(ids, keys)
        bad = (idx >= ids.size) | (ids[np.minimum(idx, ids.size - 1)] != keys)
        if bad.any():
            raise BadParameterError(f"no agent has id {int(keys[bad][0])}")
        return idx

    def persona(self, i: int) -> Persona:
        """Persona text of agent index ``i``: an override, the world file, or the seed-derived codes."""
        cached = self._persona_cache.get(i)
        if cached is not None:
            self._persona_cache.move_to_end(i)
            return cached
        persona = self.persona_overrides.get(i)
        if persona is None and self._persona_loader is not None:
            persona = self._persona_loader(i)
        if persona is None:
            persona = persona_text(self.columns["persona_codes"][i], self.columns["persona_style"][i])
        self._persona_cache[i] = persona
        if len(self._persona_cache) > self.PERSONA_CACHE_SIZE:
            self._persona_cache.popitem(last=False)
        return persona

    def set_persona(self, i: int, persona: Persona) -> None:
        """Replace an agent's persona text (kept as an override, persisted with the world, literally).

        Raises:
            BadParameterError: an index out of range, or a field that is not text UTF-8 can carry.
        """
        if not 0 <= int(i) < self.n:
            raise BadParameterError(f"agent index {i} is out of range 0..{self.n - 1}")
        for what, value in (("name", persona.name), ("bio", persona.bio), ("style", persona.style)):
            try:
                str(value).encode("utf-8")
            except UnicodeEncodeError:
                raise BadParameterError(f"the {what} is not valid Unicode (it holds a lone surrogate)") from None
        self.persona_overrides[int(i)] = persona
        self._persona_cache.pop(int(i), None)

    def agent(self, i: int) -> Agent:
        """A view of agent index ``i``."""
        if not 0 <= i < self.n:
            raise BadParameterError(f"agent index {i} is out of range 0..{self.n - 1}")
        return Agent(self, int(i))

    def fork(self, *, shared: bool = False) -> World:
        """A copy that can run independently of this one: the clock, generator state, messages,
        sessions and the agent columns and trust a run may change are copied; the rest of the graph
        is shared read-only. Used for repeated runs from the same starting world.

        ``shared``: for a run that changes no agent column and no trust (no living network: nothing
        but propagation happens), the columns and trust are shared too, as read-only views, and so are
        finished sessions, which no run changes. A fork then costs no copy of anything of size N; a
        write to a shared array raises ``ValueError`` instead of changing this world."""

        if shared:
            columns = {k: _read_only(v) for k, v in self.columns.items()}
            trust = _read_only(self.graph.trust)
            sessions = [s if s.done else s.copy() for s in self.sessions]
        else:
            columns = {k: v.copy() for k, v in self.columns.items()}
            trust = self.graph.trust.copy()
            sessions = [s.copy() for s in self.sessions]
        twin = World(
            name=self.name,
            seed=self.seed,
            columns=columns,
            graph=self.graph.replace(trust=trust),
            layers=self.layers,
            attributes={k: dict(v) for k, v in self.attributes.items()},
            labels=dict(self.labels),
            config=copy.deepcopy(self.config),
            tick=self.tick,
            rng_state=copy.deepcopy(self.rng_state),
            persona_overrides=dict(self.persona_overrides),
            messages=copy.deepcopy(self.messages),
            sessions=sessions,
            path=None,
            app_version=self.app_version,
            delta=self.delta.copy(),
            llm_cache=self.llm_cache,
            memory=self.memory.copy(),
        )
        return twin

    def summary(self) -> dict[str, Any]:
        """Figures that describe the world (what ``agora info`` prints)."""
        out_deg = self.graph.out_degree()
        return {
            "name": self.name,
            "agents": self.n,
            "edges": self.num_edges,
            "communities": self.num_communities,
            "seed": self.seed,
            "tick": self.tick,
            "mean_followers": float(out_deg.mean()) if self.n else 0.0,
            "max_followers": int(out_deg.max()) if self.n else 0,
            "source": self.config.get("source", {}),
            "app_version": self.app_version,
        }


def _read_only(a: np.ndarray) -> np.ndarray:
    v = a.view()
    v.flags.writeable = False
    return v


class Activation:
    """Who is online in one tick, drawn on first use (see :meth:`World.advance_lazily`).

    Until it is drawn, or settled, nothing else may draw from the world's generator: the draw must take
    the generator's next numbers, as :meth:`World.advance` would have."""

    __slots__ = ("_mask", "_settled", "tick", "world")

    def __init__(self, world: World, tick: int) -> None:
        self.world = world
        self.tick = tick
        self._mask: np.ndarray | None = None
        self._settled = False

    @property
    def drawn(self) -> bool:
        """Whether the mask was drawn (something read it)."""
        return self._mask is not None

    @property
    def mask(self) -> np.ndarray:
        """The online mask (bool, length N), drawn now if it was not yet."""
        if self._mask is None:
            if self._settled:
                raise RuntimeError("the activation of this tick was settled undrawn: it can no longer be drawn")
            gen = self.world.rng()
            self._mask = self.world._draw_online(gen, self.tick)
            self.world.keep_rng(gen)
            self._settled = True
        return self._mask

    def settle(self) -> None:
        """Move the world's generator past this tick's draw if it was not made (no-op if it was)."""
        if self._settled:
            return
        self._settled = True
        skip_float32(self.world, self.world.n)


def skip_float32(world: World, count: int) -> None:
    """Advance the world's generator exactly as ``random(count, dtype=np.float32)`` would, without drawing.

    numpy's PCG64 makes a float32 from 32 bits of a 64-bit output and keeps the other 32 bits for the
    next one (``has_uint32``/``uinteger`` in its state): a buffered half is used first, then whole
    outputs are skipped with ``advance``, and an odd remainder takes one output and buffers its upper half.
    """
    n = int(count)
    if n <= 0:
        return
    state = dict(world.rng_state if world.rng_state is not None else world.rng().bit_generator.state)
    if state.get("bit_generator") != "PCG64":  # pragma: no cover - worlds use PCG64; draw to be exact
        gen = world.rng()
        gen.random(count, dtype=np.float32)
        world.keep_rng(gen)
        return
    bg = _scratch_bit_generator()  # seeding a new generator costs more than the skip itself
    bg.state = state  # type: ignore[assignment]  # a PCG64 state (checked above), as a plain dict
    has, last = int(state["has_uint32"]), int(state["uinteger"])
    if has:
        n, has = n - 1, 0  # the buffered half is used first (numpy leaves it in ``uinteger``)
    pairs, odd = divmod(n, 2)
    if pairs:
        bg.advance(pairs - 1)
        last = int(bg.random_raw()) >> 32  # each pair leaves its output's upper half in ``uinteger``
    if odd:
        has, last = 1, int(bg.random_raw()) >> 32
    state = dict(bg.state)
    state["has_uint32"], state["uinteger"] = has, last
    world.rng_state = state


_SCRATCH = threading.local()


def _scratch_bit_generator() -> np.random.PCG64:
    """This thread's PCG64 whose state is set before each use (see :func:`skip_float32`)."""
    bg = getattr(_SCRATCH, "bg", None)
    if bg is None:
        bg = _SCRATCH.bg = np.random.PCG64(0)
    return bg


@dataclass(frozen=True, slots=True)
class Agent:
    """One agent, materialised on demand from the world's columns."""

    world: World
    index: int

    @property
    def id(self) -> int:
        """The original id (what users type)."""
        return int(self.world.columns["ids"][self.index])

    @property
    def persona(self) -> Persona:
        return self.world.persona(self.index)

    @property
    def name(self) -> str:
        return self.persona.name

    @property
    def bio(self) -> str:
        return self.persona.bio

    @property
    def style(self) -> str:
        return self.persona.style

    @property
    def interests(self) -> list[str]:
        return mask_topics(int(self.world.columns["interests"][self.index]))

    @property
    def activity(self) -> np.ndarray:
        """Online probability for each of the 24 hours."""
        c = self.world.columns
        return np.minimum(c["activity_rate"][self.index] * PROFILES[c["activity_profile"][self.index]], 1.0)

    @property
    def activity_profile(self) -> str:
        return PROFILE_NAMES[int(self.world.columns["activity_profile"][self.index])]

    @property
    def susceptibility(self) -> float:
        return float(self.world.columns["susceptibility"][self.index])

    @property
    def reputation(self) -> float:
        return float(self.world.columns["reputation"][self.index])

    @property
    def influence(self) -> float:
        return float(self.world.columns["influence"][self.index])

    @property
    def community(self) -> int:
        return int(self.world.columns["community"][self.index])

    @property
    def status(self) -> Status:
        return Status(int(self.world.columns["status"][self.index]))

    def followers(self) -> np.ndarray:
        """Original ids of the agents that follow this one."""
        return self.world.columns["ids"][self.world.graph.followers(self.index)]

    def followees(self) -> np.ndarray:
        """Original ids of the agents this one follows."""
        return self.world.columns["ids"][self.world.graph.followees(self.index)]

    def to_dict(self) -> dict[str, Any]:
        """The agent as ``agora agent`` prints it; ``attributes`` (numbers, category labels, None for a missing
        value) only in a world that has some."""
        g = self.world.graph
        out = {
            "id": self.id,
            "name": self.name,
            "bio": self.bio,
            "style": self.style,
            "interests": self.interests,
            "activity_profile": self.activity_profile,
            "susceptibility": self.susceptibility,
            "reputation": self.reputation,
            "influence": self.influence,
            "community": self.community,
            "status": self.status.name.lower(),
            "followers": int(g.out_indptr[self.index + 1] - g.out_indptr[self.index]),
            "followees": int(g.in_indptr[self.index + 1] - g.in_indptr[self.index]),
        }
        if self.world.attributes:
            out["attributes"] = self.world.attribute_values(self.index)
        return out


def _initial_trust(e: int, seed: int) -> np.ndarray:
    rng = world_rng(seed, STREAM_TRUST)
    return rng.uniform(0.3, 1.0, size=e).astype(np.float32)


def _interests(n: int, community: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """1 to 4 topics per agent; with a community, 70 % of draws come from its four theme topics."""
    k = rng.integers(1, 5, size=n)
    draws = rng.integers(0, 64, size=(n, 4), dtype=np.uint64)
    if community is not None and community.size:
        themes = world_rng(int(rng.integers(2**62)), 0).integers(
            0, 64, size=(int(community.max()) + 1, 4), dtype=np.uint64
        )
        themed = rng.random((n, 4)) < 0.7
        pick = rng.integers(0, 4, size=(n, 4))
        draws = np.where(themed, themes[community[:, None], pick], draws)
    bits = np.left_shift(np.uint64(1), draws)
    bits[np.arange(4)[None, :] >= k[:, None]] = 0
    return np.bitwise_or.reduce(bits, axis=1)


def build_world(
    name: str,
    seed: int,
    n: int,
    src: np.ndarray,
    dst: np.ndarray,
    *,
    ids: np.ndarray | None = None,
    trust: np.ndarray | None = None,
    community: np.ndarray | None = None,
    config: dict[str, Any] | None = None,
    progress: Progress = None,
) -> World:
    """Assemble a world from directed edges (internal indices) and draw every agent attribute from the seed
    (the edges' trust too, unless ``trust`` is given)."""
    graph = edges_graph(n, src, dst, trust, progress=progress)
    return world_on_graph(
        name, seed, graph, drawn_trust=trust is None, ids=ids, community=community, config=config, progress=progress
    )


def edges_graph(
    n: int,
    src: np.ndarray,
    dst: np.ndarray,
    trust: np.ndarray | None = None,
    *,
    sorted_unique: bool = False,
    progress: Progress = None,
) -> Graph:
    """The graph of directed edges ``src -> dst`` (duplicates merged unless the caller promises
    ``sorted_unique``: see :meth:`Graph.from_edges`), trust 1 where none is given."""
    if progress:
        progress("building graph", 0.0)
    trust_arr = None if trust is None else np.asarray(trust, dtype=np.float32)
    return Graph.from_edges(n, src, dst, trust_arr, assume_sorted_unique=sorted_unique)


def world_on_graph(
    name: str,
    seed: int,
    graph: Graph,
    *,
    drawn_trust: bool,
    ids: np.ndarray | None = None,
    community: np.ndarray | None = None,
    config: dict[str, Any] | None = None,
    progress: Progress = None,
) -> World:
    """A world on ``graph`` with every agent attribute drawn from the seed, and the edges' trust too when
    ``drawn_trust`` (else the graph's is kept)."""
    n = graph.n
    if drawn_trust:
        graph.trust = _initial_trust(graph.num_edges, seed)
    if progress:
        progress("building graph", 0.6)
    rng = world_rng(seed, STREAM_AGENTS)
    profile, rate = draw_profiles(n, rng)
    codes, style = draw_codes(n, world_rng(seed, STREAM_PERSONA))
    out_deg = graph.out_degree()
    influence = (np.log1p(out_deg) / max(np.log1p(out_deg.max()) if n else 1.0, 1e-9)).astype(np.float32)
    columns = {
        "ids": np.arange(n, dtype=np.int64) if ids is None else np.asarray(ids, dtype=np.int64),
        "interests": _interests(n, community, rng),
        "activity_profile": profile,
        "activity_rate": rate,
        "susceptibility": rng.beta(2.0, 5.0, size=n).astype(np.float32),
        "reputation": rng.beta(5.0, 5.0, size=n).astype(np.float32),
        "influence": influence,
        "community": np.full(n, -1, dtype=np.int32) if community is None else community.astype(np.int32),
        "status": np.full(n, Status.ACTIVE, dtype=np.int8),
        "persona_codes": codes,
        "persona_style": style,
    }
    cfg = {"minutes_per_tick": 10, "start_hour": 8, "created": time.time()}
    cfg.update(config or {})
    if progress:
        progress("building graph", 1.0)
    return World(name=name, seed=int(seed), columns=columns, graph=graph, config=cfg)


def world_from_generated(
    name: str, seed: int, gen: GeneratedGraph, config: dict[str, Any], progress: Progress = None
) -> World:
    """A world from an undirected generated graph: both directions of every pair."""
    n = gen.n
    src = np.concatenate([gen.a, gen.b])
    dst = np.concatenate([gen.b, gen.a])
    # Sort by (src, dst) once; pairs are unique so no duplicate merging is needed.
    key = src.astype(np.int64) * n + dst
    del src, dst
    key.sort()
    src = (key // n).astype(np.int32)
    dst = (key % n).astype(np.int32)
    del key
    graph = edges_graph(n, src, dst, sorted_unique=True, progress=progress)
    community = gen.community
    return world_on_graph(name, seed, graph, drawn_trust=True, community=community, config=config, progress=progress)


def check_columns(columns: dict[str, np.ndarray], n: int) -> list[str]:
    """Problems with the agent columns (empty when consistent)."""
    problems = []
    for col, (dtype, shape) in AGENT_COLUMNS.items():
        arr = columns.get(col)
        if arr is None:
            problems.append(f"column {col} is missing")
        elif arr.dtype != np.dtype(dtype) or arr.shape != (n, *shape):
            problems.append(f"column {col} has dtype {arr.dtype} and shape {arr.shape}, expected {dtype} {(n, *shape)}")
    if problems:
        return problems
    ids = columns["ids"]
    if n > 1 and np.any(ids[1:] <= ids[:-1]):
        problems.append("agent ids are not unique and ascending")
    if np.any(columns["activity_profile"] >= len(PROFILES)):
        problems.append("activity_profile holds an unknown profile")
    st = columns["status"]
    if st.size and (st.min() < 0 or st.max() > max(Status)):
        problems.append("status holds an unknown lifecycle state")
    return problems


def check_layers(names: object, layer: np.ndarray | None, edges: int) -> list[str]:
    """Problems of a world's contact layers (empty when consistent): ``names`` a list of distinct plain names,
    at most :data:`MAX_LAYERS`, and ``layer`` (``graph.layer``) one uint8 per edge, every edge in at least
    one named layer and none beyond; a world of one layer has neither."""
    if not isinstance(names, list | tuple) or not all(isinstance(x, str) and LAYER_NAME.fullmatch(x) for x in names):
        return ["its layer names are not a list of plain names"]
    if len(set(names)) != len(names) or len(names) > MAX_LAYERS:
        return [f"its layer names repeat or are more than {MAX_LAYERS}"]
    if layer is None:
        return [] if not names else ["it names layers but holds no graph.layer array"]
    if not names:
        return ["it holds a graph.layer array but names no layers"]
    if layer.shape != (edges,) or layer.dtype != np.uint8:
        return [f"graph array layer has shape {layer.shape}, expected ({edges},)"]
    if edges and (not bool(np.all(layer)) or int(np.bitwise_or.reduce(layer)) >> len(names)):
        return ["an edge of graph.layer is in no layer, or in one it does not name"]
    return []


def check_data_columns(
    columns: dict[str, np.ndarray], n: int, attributes: dict[str, dict[str, str]] | None = None
) -> list[str]:
    """Problems with the data columns among ``columns`` (those not in :data:`AGENT_COLUMNS`; empty when each
    is a plainly named column of ``n`` values): float64 and finite, but for attributes (``attributes``): a
    number may be NaN (missing) though not infinite, a category is int32 codes (checked with its labels by
    :func:`check_attributes`), and ``infectivity`` is finite and at least 0."""
    problems = []
    attributes = attributes or {}
    for col, arr in columns.items():
        if col in AGENT_COLUMNS:
            continue
        kind = attributes[col].get("kind") if isinstance(attributes.get(col), dict) else None
        if not DATA_COLUMN_NAME.fullmatch(col):
            problems.append(f"data column {col[:70]!r} is not a plain name (letters, digits, underscores)")
        elif kind == "category":
            continue
        elif arr.dtype != np.float64 or arr.shape != (n,):
            problems.append(f"data column {col} has dtype {arr.dtype} and shape {arr.shape}, expected float64 ({n},)")
        elif col == INFECTIVITY and not bool(np.all((arr >= 0) & np.isfinite(arr))):
            problems.append(f"column {INFECTIVITY} holds a value that is missing, negative or not finite")
        elif kind == "number" and np.isinf(arr).any():
            problems.append(f"attribute {col} holds an infinite number")
        elif kind != "number" and not np.isfinite(arr).all():
            problems.append(f"data column {col} holds a value that is not a finite number")
    return problems


def check_attributes(
    attributes: object, columns: dict[str, np.ndarray], labels: dict[str, Labels], n: int
) -> list[str]:
    """Problems of a world's attributes (empty when consistent): ``attributes`` (as read from a file) a mapping
    of at most :data:`~sim.core.attributes.MAX_ATTRIBUTES` plain names to ``{kind, source, header}``; each
    names a column the world holds (a built-in one only for a measured number, such as ``susceptibility``);
    every category has labels, and every set of labels a category (:func:`~sim.core.attributes.check_labels`).
    The values of numbers are checked by :func:`check_data_columns`."""
    if not isinstance(attributes, dict) or len(attributes) > MAX_ATTRIBUTES:
        return [f"its attributes are not a mapping of at most {MAX_ATTRIBUTES} names"]
    for name, spec in attributes.items():
        if not isinstance(name, str) or not DATA_COLUMN_NAME.fullmatch(name):
            return [f"attribute {str(name)[:70]!r} is not a plain name (letters, digits, underscores)"]
        if (
            not isinstance(spec, dict)
            or set(spec) != {"kind", "source", "header"}
            or spec["kind"] not in KINDS
            or spec["source"] not in SOURCES
            or not isinstance(spec["header"], str)
            or len(spec["header"]) > MAX_HEADER
        ):
            return [f"attribute {name} is not described by its kind, source and header"]
        kind = spec["kind"]
        if name in AGENT_COLUMNS and (name not in SETTABLE_COLUMNS or kind != "number"):
            return [f"attribute {name} names a built-in column that data cannot give"]
        if name not in columns:
            return [f"attribute {name} has no column agent.{name}"]
        if (kind == "category") != (name in labels):
            return [f"attribute {name} is a {kind} but " + ("has no labels" if kind == "category" else "has labels")]
        if kind == "category":
            problems = check_labels(name, labels[name], columns[name], n)
            if problems:
                return problems
    stray = [k for k in labels if k not in attributes]
    if stray:
        return [f"labels {stray[0]} belong to no category attribute"]
    return []
