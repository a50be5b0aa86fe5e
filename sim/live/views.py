"""What a front end's screens show of a live world, as frozen values read from its controller, headless.

A view of the terminal UI repaints from a snapshot: a frozen value of exactly what it shows, built here
from the public parts of a :class:`~sim.live.controller.WorldController` (its world, simulation, registry
and :meth:`~sim.live.controller.WorldController.snapshot`) when the view refreshes, and never read from the
live world while it paints. Values compare equal when they show the same thing, so a view repaints only
when something it shows changed; an array rides beside a key that says what it holds and takes no part in
the comparison (``field(compare=False)``).

:class:`WorldViews` is what a front end holds: one per controller, the world's own figures, with its sessions
(:class:`SessionViews`, in :mod:`sim.live.sessionviews`), agents (:class:`AgentViews`), communities
(:class:`CommunityViews`) and plugins (:class:`PluginViews`) in rooms of their own. What costs O(agents) to
build (a session's histograms, a chart's series) is kept until what it was built from changes. What takes long
on a large world (the communities table, adoption shares by community, a cascade's forest) is split into a cheap
key (or a readiness check) and a count or measure that a front end runs in a worker thread. Nothing here imports
a front end.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np

from sim.analysis.groups import category_codes, group_table, layer_world
from sim.analysis.structure import community_table, pagerank_csr, session_community_stats
from sim.errors import AgoraError
from sim.live.controller import WorldController, WorldSnapshot
from sim.live.sessionviews import (
    ENDED,
    CascadeBox,
    MetricsHistory,
    PostLine,
    ReachCurve,
    SessionChart,
    SessionDetail,
    SessionLine,
    SessionViews,
    StateCount,
    VariableSummary,
    post_lines,
    session_line,
)
from sim.live.tools import CommunitiesRecord
from sim.model.groupby import bound_text
from sim.model.intervene import blocked_mask
from sim.model.intervene import entries as intervention_entries
from sim.model.registry import Registry
from sim.model.seeds import SeedSpec
from sim.plugin import Param

# -- the LLM ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LLMStatus:
    """The LLM in the header: its mode, and (unless offline) the model, calls, tokens and estimated cost
    of the client's requests."""

    mode: str
    model: str = ""
    calls: int = 0
    tokens: int = 0
    cost_usd: float = 0.0


@dataclass(frozen=True)
class LLMFigures:
    """The LLM layer at a glance (the dashboard): mode, model, why it is offline, posts written and, online,
    servers up, requests and what became of them, tokens and estimated cost. The key is never here."""

    mode: str
    model: str
    why_offline: str
    posts: int
    servers_up: int = 0
    servers: int = 0
    in_flight: int = 0
    budget_per_tick: int = 0
    requests: int = 0
    calls: int = 0
    cache_hits: int = 0
    fallbacks: int = 0
    retries: int = 0
    failures: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0


@dataclass(frozen=True)
class HeaderFigures:
    """The header line's figures: the world's snapshot, its simulated clock and the LLM."""

    world: WorldSnapshot
    minutes_per_tick: int
    start_hour: int
    llm: LLMStatus


# -- recommenders and plugins -------------------------------------------------------------------------


@dataclass(frozen=True)
class Recommenders:
    """The world's living-network settings as the screens name them, and the recommenders that failed
    while it ran (by ``sim.social.errors`` key: their error and traceback)."""

    settings: tuple[tuple[str, str], ...]
    errors: tuple[tuple[str, str], ...] = ()
    tracebacks: tuple[tuple[str, str], ...] = ()

    def setting(self, name: str) -> str:
        """The value of setting ``name`` (``recommender``, ``friend_recommender``...)."""
        return dict(self.settings)[name]

    def failed(self, key: str) -> bool:
        """Whether the recommender of error key ``key`` failed while the world ran (and was switched off)."""
        return any(k == key for k, _ in self.errors)

    def failure(self, key: str) -> str:
        """What the recommender of error key ``key`` failed with: its traceback, else its error."""
        return dict(self.tracebacks).get(key) or dict(self.errors).get(key, "")


@dataclass(frozen=True)
class PluginLine:
    """One row of the plugins table."""

    key: str
    name: str
    kind: str
    version: str | None
    loaded: bool
    failed: bool
    source: str


@dataclass(frozen=True)
class PluginDetail:
    """One plugin in full: what it is, its parameters (name and schema), notes, and why it failed to load."""

    key: str
    name: str
    kind: str
    version: str | None
    source: str
    description: str | None
    params: tuple[tuple[str, Mapping[str, Any]], ...]
    notes: tuple[str, ...]
    error: str | None
    traceback: str | None


@dataclass(frozen=True)
class Catalogue:
    """What the inject form offers: the models, the content recommenders and the seed methods (with
    whether each may take minutes)."""

    models: tuple[str, ...]
    recommenders: tuple[str, ...]
    seed_methods: tuple[tuple[str, bool], ...]


def seed_methods(registry: Registry) -> list[tuple[str, bool]]:
    """The registered seed methods a selection can name (``METHOD:K``), with whether each may take minutes
    (``expensive``; unknown for a plugin not imported yet: False). Failed plugins and names a selection
    cannot take (``random`` is the built-in ``random:K``) are left out."""
    out = []
    for entry in registry.list("seeder"):
        if entry.error:
            continue
        try:
            if SeedSpec.parse(f"{entry.name}:1").kind != "method":
                continue
        except AgoraError:
            continue
        out.append((entry.name, bool(entry.cls is not None and getattr(entry.cls, "expensive", False))))
    return out


# -- agents -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Neighbour:
    """A follower or followee as the Agents view lists it."""

    index: int
    id: int
    name: str
    influence: float


@dataclass(frozen=True)
class Adoption:
    """A message the agent adopted: when, which, under which model, and from whom (an original id; None:
    it was a seed)."""

    tick: int
    message_id: int
    text: str
    model_name: str
    source: int | None


@dataclass(frozen=True)
class AgentSession:
    """What became of one session's message for one agent. ``outcome``: ``adopted`` (at ``tick``, from
    ``source``, an original id; None: it was a seed), ``exposed`` (the message reached it, through a followee
    or a feed, and it did not adopt it), ``not reached``, or ``not started`` (the session is queued, or ended
    before it started). ``state`` is the agent's state in the session now, in its model's words ("" when
    the session has not started)."""

    session_id: int
    message_id: int
    text: str
    model_name: str
    status: str
    outcome: str
    tick: int | None = None
    source: int | None = None
    state: str = ""


@dataclass(frozen=True)
class Memory:
    """What an agent remembers (``sim.core.agentmemory``): its size, summary and latest events."""

    remembers: bool
    setting: str
    events: int = 0
    text_bytes: int = 0
    summary: tuple[str, int, str] | None = None  # text, tick, written by
    recent: tuple[tuple[int, str, str, str], ...] = ()  # tick, kind, the other's name, text


@dataclass(frozen=True)
class AgentProfile:
    """One agent as the Agents view shows it."""

    index: int
    id: int
    name: str
    bio: str
    style: str
    community: int
    status: str
    interests: tuple[str, ...]
    reputation: float
    influence: float
    rank: int
    agents: int
    susceptibility: float
    activity_profile: str
    followers: int
    followees: int
    detected: bool
    top_followers: tuple[Neighbour, ...]
    top_followees: tuple[Neighbour, ...]
    adoptions: tuple[Adoption, ...]
    memory: Memory
    #: What became of each of the latest sessions' messages for it, newest first.
    sessions: tuple[AgentSession, ...] = ()
    #: Blocked by an intervention: it neither adopts nor transmits any message.
    blocked: bool = False
    #: Its attributes from data (``World.attributes``), in order: a number or a category's label (None: missing).
    attributes: tuple[tuple[str, float | str | None], ...] = ()


# -- communities ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommunityRow:
    """One community: size, density, dominant interests, top influencers (original ids) and, for the
    selected session, its adoption share there, the tick it was first reached and whether it is home."""

    id: int
    size: int
    density: float | None
    interests: tuple[str, ...]
    top_influencers: tuple[int, ...]
    share: float | None = None
    first_tick: int = -1
    home: bool = False
    #: A group's label (grouped by a category attribute); None for a community.
    label: str | None = None

    @property
    def top(self) -> int | None:
        return self.top_influencers[0] if self.top_influencers else None


#: What a communities table is valid for (:meth:`CommunityViews.key`): the world's id, its community (or
#: grouping) column's id, the time of its last analysis, the category grouped by (None: the communities) and the
#: contact layer counted (None: every edge).
CommunitiesKey: TypeAlias = tuple[int, int, object, str | None, str | None]
#: What adoption shares are valid for (:meth:`CommunityViews.adoption_key`): the session, its round and
#: status, the community (or grouping) column's id and the category grouped by (None: the communities).
AdoptionKey: TypeAlias = tuple[int, int, str, int, str | None]


@dataclass(frozen=True)
class CommunityTableView:
    """The communities table as counted for ``key``: its rows, the largest flows between communities
    (``(src, dst, edges)``) and how many agents are in no community."""

    key: CommunitiesKey
    rows: tuple[CommunityRow, ...]
    flows: tuple[tuple[int, int, int], ...]
    unassigned: int


@dataclass(frozen=True)
class AdoptionShares:
    """How one session spread over the communities, as counted for ``key``: per community id, the share of
    members that adopted and the tick it was first reached (-1 never); its ``home`` community."""

    key: AdoptionKey
    share: np.ndarray = field(compare=False)
    first_tick: np.ndarray = field(compare=False)
    home: int = -1

    def apply(self, row: CommunityRow) -> CommunityRow:
        """``row`` with this session's share, first tick and home."""
        if row.id >= self.share.size:
            return row
        return CommunityRow(
            row.id,
            row.size,
            row.density,
            row.interests,
            row.top_influencers,
            float(self.share[row.id]),
            int(self.first_tick[row.id]),
            row.id == self.home,
            row.label,
        )


# -- the builder ------------------------------------------------------------------------------------------


class WorldViews:
    """Every value the screens show of the world ``controller`` drives, built on request: the world's own
    figures here, its sessions, agents, communities and plugins in rooms of their own.

    Args:
        controller: the live world (a snapshot load replaces its world; the values follow).
    """

    def __init__(self, controller: WorldController) -> None:
        self.controller = controller
        self.sessions = SessionViews(controller)
        self.agents = AgentViews(self)
        self.communities = CommunityViews(self)
        self.plugins = PluginViews(self)

    def forget(self) -> None:
        """Drop what was kept (a snapshot load replaced the world: its simulation's id may be reused)."""
        self.sessions.forget()

    @property
    def key(self) -> int:
        """Which simulation is live (another after a snapshot load): the first part of the keys here."""
        return id(self.controller.sim)

    @property
    def tick(self) -> int:
        return int(self.controller.world.tick)

    @property
    def population(self) -> int:
        """How many agents the world has."""
        return int(self.controller.world.n)

    @property
    def name(self) -> str:
        return str(self.controller.world.name)

    def snapshot(self) -> WorldSnapshot:
        """The controller's snapshot of the world (built once per tick)."""
        return self.controller.snapshot()

    def header(self, snapshot: WorldSnapshot | None = None) -> HeaderFigures:
        """The header's figures (``snapshot``: the world's as the caller read it; None: the latest)."""
        config = self.controller.world.config
        llm = self.controller.sim.llm
        mode = llm.mode
        status = LLMStatus(mode)
        if mode != "offline":
            st = llm.client.stats
            status = LLMStatus(
                mode, str(llm.config.model), int(st.calls), int(st.tokens_in) + int(st.tokens_out), float(st.cost_usd)
            )
        return HeaderFigures(
            snapshot if snapshot is not None else self.snapshot(),
            int(config.get("minutes_per_tick", 10)),
            int(config.get("start_hour", 8)),
            status,
        )

    def llm(self) -> LLMFigures:
        """The LLM layer's figures (the dashboard)."""
        llm = self.controller.sim.llm
        st = llm.stats()
        mode = str(st["mode"])
        base = LLMFigures(mode, str(llm.config.model), str(llm.config.why_offline or "offline"), int(st["posts"]))
        if mode == "offline":
            return base
        servers = llm.client.servers_info()
        counted = ("in_flight", "budget_per_tick", "requests", "calls", "cache_hits", "fallbacks", "retries")
        counts = {k: int(st[k]) for k in (*counted, "failures", "tokens_in", "tokens_out")}
        return LLMFigures(
            mode,
            base.model,
            base.why_offline,
            base.posts,
            servers_up=sum(1 for s in servers if s["state"] == "closed"),
            servers=len(servers),
            cost_usd=float(st["cost_usd"]),
            **counts,
        )

    def recommenders(self) -> Recommenders:
        """The world's recommenders and the ones that failed while it ran."""
        social = self.controller.sim.social
        return Recommenders(
            tuple((k, str(social.settings[k])) for k in ("recommender", "friend_recommender")),
            tuple((k, str(v)) for k, v in social.errors.items()),
            tuple((k, str(v)) for k, v in social.tracebacks.items() if v),
        )

    def applied_interventions(self) -> tuple[tuple[int, str], ...]:
        """The world's applied interventions as ``(tick, spec)``, in the order given (the charts' marks)."""
        if not intervention_entries(self.controller.world):
            return ()
        return tuple(
            (int(e.get("tick", e.get("at", 0))), str(e.get("spec", "")))
            for e in intervention_entries(self.controller.world)
            if e.get("applied")
        )

    def interventions_listed(self) -> int:
        """How many interventions the world lists (applied or not)."""
        return len(intervention_entries(self.controller.world))


class AgentViews:
    """The world's agents as the Agents view (and the ask key) show them.

    Args:
        world: the :class:`WorldViews` of the live world.
    """

    def __init__(self, world: WorldViews) -> None:
        self.world = world

    def find(self, query: str) -> tuple[int, ...]:
        """The indices of the agents ``query`` names (an original id, or a name).

        Raises:
            BadParameterError: an empty query, an unknown id, or no agent of that name.
        """
        return tuple(int(i) for i in self.world.controller.read.find_agents(query))

    def id_of(self, index: int) -> int:
        """Agent ``index``'s original id."""
        return int(self.world.controller.world.columns["ids"][index])

    def ids(self) -> np.ndarray:
        """The world's original agent ids, by index (read-only use: the tree screen names agents by them)."""
        ids: np.ndarray = self.world.controller.world.columns["ids"]
        return ids

    def profile(self, index: int, *, neighbours: int = 50, adoptions: int = 50, memories: int = 10) -> AgentProfile:
        """Agent ``index`` as the Agents view shows it: its profile, its ``neighbours`` most influential
        followers and followees, what it adopted among the latest ``adoptions`` sessions and its
        ``memories`` latest memories."""
        controller = self.world.controller
        world = controller.world
        d = world.agent(index).to_dict()
        g = world.graph
        blocked = blocked_mask(world)
        return AgentProfile(
            index=index,
            id=int(d["id"]),
            name=str(d["name"]),
            bio=str(d["bio"]),
            style=str(d["style"]),
            community=int(d["community"]),
            status=str(d["status"]),
            interests=tuple(str(t) for t in d["interests"]),
            reputation=float(d["reputation"]),
            influence=float(d["influence"]),
            rank=controller.read.influence_rank(index),
            agents=int(world.n),
            susceptibility=float(d["susceptibility"]),
            activity_profile=str(d["activity_profile"]),
            followers=int(d["followers"]),
            followees=int(d["followees"]),
            detected=self.world.communities.detected(),
            top_followers=self._top(g.followers(index), neighbours),
            top_followees=self._top(g.followees(index), neighbours),
            adoptions=self._adoptions(index, adoptions),
            memory=self.memory(index, memories),
            sessions=self._sessions(index, adoptions),
            blocked=bool(blocked is not None and blocked[index]),
            attributes=tuple((d.get("attributes") or {}).items()),
        )

    def _top(self, nbrs: np.ndarray, k: int) -> tuple[Neighbour, ...]:
        """The ``k`` most influential of ``nbrs`` (ties in the given order)."""
        world = self.world.controller.world
        infl, ids = world.columns["influence"], world.columns["ids"]
        chosen = nbrs[np.argsort(-infl[nbrs], kind="stable")[:k]]
        return tuple(Neighbour(int(j), int(ids[j]), str(world.persona(int(j)).name), float(infl[j])) for j in chosen)

    def _adoptions(self, index: int, last: int) -> tuple[Adoption, ...]:
        """What agent ``index`` adopted among the latest ``last`` sessions, newest first."""
        world = self.world.controller.world
        ids = world.columns["ids"]
        out = []
        for s in reversed(world.sessions[-last:]):
            if s.adopted_at.size and s.adopted_at[index] >= 0:
                src = int(s.adopted_from[index])
                text = s.message.get("text", "")
                out.append(
                    Adoption(
                        int(s.adopted_at[index]),
                        int(s.message_id),
                        text if isinstance(text, str) else str(text),
                        str(s.model_name),
                        None if src < 0 else int(ids[src]),
                    )
                )
        return tuple(out)

    def _sessions(self, index: int, last: int) -> tuple[AgentSession, ...]:
        """What became of the latest ``last`` sessions' messages for agent ``index``, newest first: adopted
        (when, from whom), exposed and not adopted, not reached, or not started."""
        world = self.world.controller.world
        ids = world.columns["ids"]
        out = []
        for s in reversed(world.sessions[-last:]):
            text = s.message.get("text", "")
            known = (
                int(s.id),
                int(s.message_id),
                text if isinstance(text, str) else str(text),
                str(s.model_name),
                str(s.status),
            )
            if s.adopted_at.size <= index or s.state.size <= index:
                out.append(AgentSession(*known, "not started"))
                continue
            code = int(s.state[index])
            state = s.state_names[code] if 0 <= code < len(s.state_names) else str(code)
            at = int(s.adopted_at[index])
            if at >= 0:
                src = int(s.adopted_from[index])
                out.append(AgentSession(*known, "adopted", at, None if src < 0 else int(ids[src]), state))
            elif s.exposed.size > index and s.exposed[index]:
                out.append(AgentSession(*known, "exposed", state=state))
            else:
                out.append(AgentSession(*known, "not reached", state=state))
        return tuple(out)

    def memory(self, index: int, recent: int) -> Memory:
        """What agent ``index`` remembers: its size, summary and ``recent`` latest events."""
        mem = self.world.controller.sim.llm.agent_memory(index, recent=recent)
        if not mem["remembers"]:
            return Memory(False, str(mem["setting"]))
        summary = mem["summary"]
        return Memory(
            True,
            str(mem["setting"]),
            int(mem["size"]["events"]),
            int(mem["size"]["text_bytes"]),
            (str(summary["text"]), int(summary["tick"]), str(summary["written_by"])) if summary else None,
            tuple((int(e["tick"]), str(e["kind"]), str(e["other_name"] or ""), str(e["text"])) for e in mem["recent"]),
        )


class CommunityViews:
    """The world's communities as the Communities view shows them. The table and the adoption shares cost
    O(agents + edges): each has a cheap ``*key`` and a ``count*`` to run in a worker thread.

    Args:
        world: the :class:`WorldViews` of the live world.
    """

    def __init__(self, world: WorldViews) -> None:
        self.world = world

    def detected(self) -> bool:
        """Whether communities have been detected in the world (rather than planted or unknown)."""
        return bool((self.world.controller.world.config.get("analysis") or {}).get("communities"))

    def record(self) -> CommunitiesRecord | None:
        """How the world's communities were detected (``config["analysis"]["communities"]``; None: never)."""
        rec: CommunitiesRecord | None = (self.world.controller.world.config.get("analysis") or {}).get("communities")
        return rec.copy() if rec else None

    def categories(self) -> tuple[str, ...]:
        """The world's category attributes: what the view may group the agents by instead of communities."""
        attributes = self.world.controller.world.attributes
        return tuple(k for k, v in attributes.items() if v.get("kind") == "category")

    def numbers(self) -> tuple[str, ...]:
        """The world's number attributes: what the view may group the agents by in bands (``AGE:0,5,15,65``)."""
        attributes = self.world.controller.world.attributes
        return tuple(k for k, v in attributes.items() if v.get("kind") == "number")

    def default_bands(self, name: str) -> str:
        """Round bounds of about five bands over number attribute ``name``'s values (``0,5,10,15``): the bands
        the view offers first, for the person to edit."""
        values = np.asarray(self.world.controller.world.columns[name], dtype=np.float64)
        values = values[np.isfinite(values)]
        if not values.size:
            return "0"
        lo, hi = float(values.min()), float(values.max())
        if hi <= lo:
            return bound_text(lo)
        step = 10 ** math.floor(math.log10((hi - lo) / 5))
        step *= next((m for m in (1, 2, 2.5, 5, 10) if (hi - lo) / (m * step) <= 5), 10)
        first = math.floor(lo / step) * step
        bounds = [first + i * step for i in range(int((hi - first) // step) + 1)]
        return ",".join(bound_text(round(b, 10)) for b in bounds)

    def layers(self) -> tuple[str, ...]:
        """The world's contact layers (empty: one graph), each of which the table may be counted on alone."""
        world = self.world.controller.world
        return tuple(world.layers) if world.graph.layer is not None else ()

    def key(self, by: str | None = None, layer: str | None = None) -> CommunitiesKey:
        """What the table is valid for: the world, its community column (or category ``by``'s), its last
        analysis, the grouping and the layer (None: every edge)."""
        w = self.world.controller.world
        column = w.columns.get(by if by is not None else "community", w.columns["community"])
        return (id(w), id(column), (w.config.get("analysis") or {}).get("time"), by, layer)

    def count(self, key: CommunitiesKey) -> CommunityTableView:
        """The communities table, or the groups of category ``key[3]``, on the edges of layer ``key[4]`` (None:
        all) (O(agents + edges): run it in a worker thread), as counted for ``key``. On one layer, a group's
        top influencers are ranked by that layer's PageRank.

        Raises:
            BadParameterError: the category or the layer is not the world's (a world changed under the key).
        """
        world = self.world.controller.world
        by, layer = key[3], key[4]
        if layer is not None:
            world = layer_world(world, [layer])
        if by is not None:
            groups = group_table(world, by, pagerank_csr(world.graph) if layer is not None else None)
            table, labels = groups.table, groups.labels
        else:
            if world.columns["community"].max(initial=-1) < 0:
                return CommunityTableView(key, (), (), 0)
            influence = pagerank_csr(world.graph) if layer is not None else None
            table, labels = community_table(world, influence=influence), None
        rows = tuple(
            CommunityRow(
                int(r["id"]),
                int(r["size"]),
                None if r["density"] is None else float(r["density"]),
                tuple(r["interests"]),
                tuple(int(i) for i in r["top_influencers"]),
                label=None if labels is None else labels[int(r["id"])],
            )
            for r in table.rows()
            if r["size"] > 0
        )
        flows = tuple((f["src"], f["dst"], f["edges"]) for f in table.top_flows(2000))
        return CommunityTableView(key, rows, flows, int(table.unassigned))

    def adoption_key(self, selected: int | None, by: str | None = None) -> AdoptionKey | None:
        """What the adoption shares of the selected (else the first running) session are valid for: the
        session, its round and status, the community column (or category ``by``'s). None: no such session, or
        no communities (no agent with a value of ``by``)."""
        sim, world = self.world.controller.sim, self.world.controller.world
        sid = selected
        if sid is None:
            running = [s for s in sim.sessions if s.status == "running"]
            if not running:
                return None
            sid = int(running[0].id)
        try:
            s = sim.session(sid)
        except AgoraError:
            return None
        column = world.columns.get(by.partition(":")[0] if by is not None else "community")  # AGE:0,5: AGE's
        if column is None or s.adopted_at.size != world.n or column.max(initial=-1) < 0:
            return None
        return (sid, int(s.round), str(s.status), id(column), by)

    def count_adoption(self, key: AdoptionKey) -> AdoptionShares | None:
        """The adoption shares for ``key`` (:meth:`adoption_key`; O(agents): run it in a worker thread);
        None when the world or the session changed under it."""
        controller = self.world.controller
        world = controller.world
        try:
            membership = None if key[4] is None else category_codes(world, key[4])[0]
            stats = session_community_stats(world, controller.sim.session(key[0]), membership)
        except (AgoraError, ValueError, IndexError, KeyError):
            return None
        if world is not controller.world:
            return None
        return AdoptionShares(key, stats["share"], stats["first_tick"], int(stats.get("home", -1)))

    def influencers(self, original_ids: tuple[int, ...]) -> tuple[tuple[str, int], ...]:
        """``(name, original id)`` of the agents named by ``original_ids``."""
        world = self.world.controller.world
        return tuple((str(world.persona(world.index_of(oid)).name), oid) for oid in original_ids)


class PluginViews:
    """The world's plugins as the Plugins view and the inject form show them.

    Args:
        world: the :class:`WorldViews` of the live world.
    """

    def __init__(self, world: WorldViews) -> None:
        self.world = world

    def lines(self) -> tuple[PluginLine, ...]:
        """Every registered plugin, as the plugins table lists them."""
        return tuple(
            PluginLine(e.key, e.name, e.kind, _version(e.cls), e.loaded, bool(e.error), e.source)
            for e in self.world.controller.registry.list()
        )

    def detail(self, key: str) -> PluginDetail | None:
        """Plugin ``key`` in full (None: no such plugin)."""
        entry = self.world.controller.registry.entries.get(key)
        if entry is None:
            return None
        d = entry.to_dict()
        return PluginDetail(
            entry.key,
            entry.name,
            entry.kind,
            d["version"],
            entry.source,
            d["description"],
            tuple((k, dict(p)) for k, p in (d["params"] or {}).items()),
            tuple(str(n) for n in d["notes"]),
            d["error"],
            d["traceback"],
        )

    def catalogue(self) -> Catalogue:
        """What the inject form offers now."""
        registry = self.world.controller.registry
        return Catalogue(
            tuple(e.name for e in registry.list("model") if e.loaded or e.entry_point is not None),
            tuple(e.name for e in registry.list("recommender") if not e.error),
            tuple(seed_methods(registry)),
        )

    def model_params(self, model: str) -> Mapping[str, Param]:
        """Model ``model``'s parameters (their schema: defaults, ranges, help), and after each one that acts
        per edge (``Param.per_edge``) one key per contact layer of the world (``beta@household``), whose value
        left empty is the plain one's.

        Raises:
            AgoraError: no such model, or it cannot be imported.
        """
        params = self.world.controller.registry.model(model).params
        layers = self.world.controller.world.layers
        out: dict[str, Param] = {}
        for key, spec in params.items():
            out[key] = spec
            if spec.per_edge is not None:
                out.update((f"{key}@{layer}", spec) for layer in layers)
        return out


def _version(cls: Any) -> str | None:
    version = getattr(cls, "version", None)
    return None if version is None else str(version)


__all__ = [
    "ENDED",
    "AdoptionShares",
    "Adoption",
    "AgentProfile",
    "AgentSession",
    "AgentViews",
    "CascadeBox",
    "Catalogue",
    "CommunityRow",
    "CommunityTableView",
    "CommunityViews",
    "HeaderFigures",
    "LLMFigures",
    "LLMStatus",
    "Memory",
    "MetricsHistory",
    "Neighbour",
    "PluginDetail",
    "PluginLine",
    "PluginViews",
    "PostLine",
    "ReachCurve",
    "Recommenders",
    "SessionChart",
    "SessionDetail",
    "SessionLine",
    "SessionViews",
    "StateCount",
    "VariableSummary",
    "WorldViews",
    "post_lines",
    "seed_methods",
    "session_line",
]
