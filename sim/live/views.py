"""What a front end's screens show of a live world, as frozen values read from its controller, headless.

A view of the terminal UI repaints from a snapshot: a frozen value of exactly what it shows, built here
from the public parts of a :class:`~sim.live.controller.WorldController` (its world, simulation, registry
and :meth:`~sim.live.controller.WorldController.snapshot`) when the view refreshes, and never read from the
live world while it paints. Values compare equal when they show the same thing, so a view repaints only
when something it shows changed; an array rides beside a key that says what it holds and takes no part in
the comparison (``field(compare=False)``).

:class:`WorldViews` is what a front end holds: one per controller, the world's own figures, with its
sessions (:class:`SessionViews`), agents (:class:`AgentViews`), communities (:class:`CommunityViews`) and
plugins (:class:`PluginViews`) in rooms of their own. What costs O(agents) to build (a session's histograms,
a chart's series) is kept until what it was built from changes. What takes long on a large world (the
communities table, adoption shares by community, a cascade's forest) is split into a cheap key (or a
readiness check) and a count or measure that a front end runs in a worker thread. Nothing here imports a
front end.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np

from sim.analysis.structure import community_table, session_community_stats
from sim.core.world import World
from sim.errors import AgoraError
from sim.live.cascadeview import CascadeSummary, no_tree_reason, summarise
from sim.live.controller import WorldController, WorldSnapshot
from sim.live.tools import CommunitiesRecord
from sim.model.intervene import blocked_mask
from sim.model.intervene import entries as intervention_entries
from sim.model.registry import Registry
from sim.model.seeds import SeedSpec
from sim.model.series import series_dict
from sim.model.session import PropagationSession
from sim.plugin import Param

#: The statuses of a session that has ended.
ENDED = ("completed", "failed", "cancelled")


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


# -- sessions ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionLine:
    """One session as the lists show it (its message's text and its model's name as written)."""

    id: int
    message_id: int
    text: str
    model_name: str
    recommender: str | None
    status: str
    reached: int
    feed_reached: int
    exposed: int
    reproduction_number: float
    round: int
    rivals: tuple[int, ...]
    started_tick: int | None
    ended_tick: int | None

    @property
    def done(self) -> bool:
        return self.status in ENDED


def session_line(s: PropagationSession) -> SessionLine:
    """The :class:`SessionLine` of a live session."""
    text = s.message.get("text", "")
    return SessionLine(
        id=int(s.id),
        message_id=int(s.message_id),
        text=text if isinstance(text, str) else str(text),
        model_name=str(s.model_name),
        recommender=s.recommender,
        status=str(s.status),
        reached=int(s.reached),
        feed_reached=int(s.feed_reached),
        exposed=int(s.exposed_count),
        reproduction_number=float(s.reproduction_number),
        round=int(s.round),
        rivals=tuple(int(r) for r in (getattr(s, "rivals", ()) or ())),
        started_tick=None if s.started_tick is None else int(s.started_tick),
        ended_tick=None if s.ended_tick is None else int(s.ended_tick),
    )


@dataclass(frozen=True)
class SessionChart:
    """The session on the dashboard's chart: its per-tick state counts at world ticks (``ticks``, ``counts``
    ticks x states) and its first continuous variable (name and a copy of its values), for a histogram.
    Equal when the session, its round, status and series length are: the arrays are what those give."""

    line: SessionLine
    length: int
    state_names: tuple[str, ...]
    variable: str | None
    ticks: np.ndarray = field(compare=False)
    counts: np.ndarray = field(compare=False)
    values: np.ndarray | None = field(default=None, compare=False)


@dataclass(frozen=True)
class MetricsHistory:
    """The per-tick metrics of the latest ticks run here (the world's charts), keyed by how many ticks
    the simulation has measured and the latest one's number."""

    key: tuple[int, int | None]
    rows: tuple[Mapping[str, Any], ...] = field(compare=False)


@dataclass(frozen=True)
class ReachCurve:
    """A started session's reach per tick since its start (the cumulative sum of its adoptions, seeds
    included); equal when the session and the ticks it has run are."""

    line: SessionLine
    ticks: int
    peak_tick: int | None
    reach: np.ndarray = field(compare=False)


@dataclass(frozen=True)
class StateCount:
    name: str
    count: int


@dataclass(frozen=True)
class VariableSummary:
    """A session's continuous variable: its moments, a histogram (counts and edges) and its mean in the
    largest communities (``(community, mean, members)``)."""

    name: str
    mean: float
    std: float
    min: float
    max: float
    histogram: tuple[int, ...]
    edges: tuple[float, ...]
    community_means: tuple[tuple[int, float, int], ...]
    communities_shown: int


@dataclass(frozen=True)
class SessionDetail:
    """The highlighted session of the Messages view: its states (count of each over ``population``), its
    variables, and a failed session's error and whole traceback."""

    line: SessionLine
    population: int
    states: tuple[StateCount, ...]
    variables: tuple[VariableSummary, ...]
    error: str | None
    traceback: str | None


@dataclass(frozen=True)
class PostLine:
    """One post as the Messages view lists it: tick, author's name, kind, who wrote the text, the text."""

    tick: int
    author: str
    kind: str
    written_by: str
    text: str


@dataclass(frozen=True)
class CascadeBox:
    """A session's cascade as the Messages view shows it: its measures and top spreaders (name, original
    id, children), or why it has no tree; ``forest`` is for the tree screen."""

    session: int
    round: int
    measures: Mapping[str, Any] | None
    spreaders: tuple[tuple[str, int, int], ...]
    reason: str | None
    forest: Any = field(default=None, compare=False)


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

    @property
    def top(self) -> int | None:
        return self.top_influencers[0] if self.top_influencers else None


#: What a communities table is valid for (:meth:`CommunityViews.key`): the world's id, its community column's
#: id and the time of its last analysis.
CommunitiesKey: TypeAlias = tuple[int, int, object]
#: What adoption shares are valid for (:meth:`CommunityViews.adoption_key`): the session, its round and
#: status, and the community column's id.
AdoptionKey: TypeAlias = tuple[int, int, str, int]


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
        self.sessions = SessionViews(self)
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


class SessionViews:
    """The world's sessions as the screens show them: lines, the dashboard's chart, metrics, series, a
    session's states, posts and cascade. What costs O(agents) or O(ticks) is kept until what it was built
    from changes.

    Args:
        world: the :class:`WorldViews` of the live world.
    """

    def __init__(self, world: WorldViews) -> None:
        self.world = world
        self._chart: tuple[tuple[Any, ...], SessionChart] | None = None
        self._metrics: tuple[tuple[Any, ...], MetricsHistory] | None = None
        self._detail: tuple[tuple[Any, ...], SessionDetail] | None = None
        #: The lines of ended sessions (they no longer change), by session id, for the simulation ``_ended_of``.
        self._ended: dict[int, SessionLine] = {}
        self._ended_of = 0

    def forget(self) -> None:
        self._chart = self._metrics = self._detail = None
        self._ended, self._ended_of = {}, 0

    @property
    def _sim(self) -> Any:
        return self.world.controller.sim

    def _session(self, session_id: int) -> Any:
        """The live session ``session_id`` (None: there is none)."""
        try:
            return self._sim.session(session_id)
        except AgoraError:
            return None

    def lines(self, limit: int | None = None) -> tuple[SessionLine, ...]:
        """The latest ``limit`` sessions (all when None), newest first."""
        sessions = self._sim.sessions
        chosen = sessions if limit is None else sessions[-limit:] if limit else []
        return tuple(self._line(s) for s in reversed(chosen))

    def _line(self, s: Any) -> SessionLine:
        """The line of session ``s``; an ended session's is built once."""
        if self._ended_of != self.world.key:
            self._ended, self._ended_of = {}, self.world.key
        line = self._ended.get(int(s.id))
        if line is not None and line.status == s.status:
            return line
        line = session_line(s)
        if line.done:
            self._ended[line.id] = line
        return line

    def count(self) -> int:
        return len(self._sim.sessions)

    def chart_choice(self, selected: int | None, pinned: int | None, dismissed: frozenset[int]) -> int | None:
        """The session the dashboard's chart shows: the ``selected`` one (Messages view, or injected last),
        else the one ``pinned``, else the first running one not ``dismissed``, else the one that finished
        last. None when there is none."""
        sessions = self._sim.sessions
        ids = {int(s.id) for s in sessions}
        if selected is not None and selected in ids:
            return selected
        if pinned is not None and pinned in ids:
            return pinned
        candidates = [s for s in sessions if int(s.id) not in dismissed]
        running = [s for s in candidates if s.status == "running"]
        if running:
            return int(running[0].id)
        done = [s for s in candidates if s.done]
        if done:
            last = max(done, key=lambda s: (s.ended_tick if s.ended_tick is not None else -1, s.id))
            return int(last.id)
        return None

    def ended(self) -> frozenset[int]:
        """The ids of the sessions that have ended."""
        return frozenset(int(s.id) for s in self._sim.sessions if s.done)

    def chart(self, session_id: int) -> SessionChart | None:
        """The chart of session ``session_id`` (None: no such session); its arrays are copied once per
        round of the session."""
        s = self._session(session_id)
        if s is None:
            return None
        rec = s.series
        length = int(rec.length) if rec is not None else 0
        key = (self.world.key, int(s.id), int(s.round), str(s.status), length)
        if self._chart is not None and self._chart[0] == key:
            return self._chart[1]
        names = tuple(str(n) for n in s.state_names)
        if rec is None or length == 0:
            ticks, counts = np.empty(0, dtype=np.int64), np.empty((0, len(names)), dtype=np.int64)
        else:
            counts = np.array(rec.counts, copy=True)
            ticks = np.arange(counts.shape[0], dtype=np.int64) + int(s.series_from) + int(s.started_tick or 0)
        variables = list(s.variables.items())
        name, values = (str(variables[0][0]), np.array(variables[0][1], copy=True)) if variables else (None, None)
        chart = SessionChart(session_line(s), length, names, name, ticks, counts, values)
        self._chart = (key, chart)
        return chart

    def metrics(self, last: int) -> MetricsHistory:
        """The simulation's metrics of its latest ``last`` ticks (copied when a tick was measured)."""
        metrics = self._sim.metrics
        latest = metrics[-1].get("tick") if metrics else None
        key = (self.world.key, len(metrics), latest)
        if self._metrics is not None and self._metrics[0] == key:
            return self._metrics[1]
        rows = tuple(itertools.islice(reversed(metrics), last))[::-1]
        history = MetricsHistory((len(metrics), latest), rows)
        self._metrics = (key, history)
        return history

    def series(
        self, session_ids: tuple[int, ...] | None = None
    ) -> list[tuple[SessionLine, dict[str, list[float | None]]]]:
        """The per-tick series of the sessions named (every session with a tick when None), for an export."""
        out = []
        for s in self._sim.sessions:
            if session_ids is None and (s.series is None or not s.series.length):
                continue
            if session_ids is not None and int(s.id) not in session_ids:
                continue
            out.append((session_line(s), series_dict(s)))
        return out

    def reach_curves(self, last: int) -> tuple[ReachCurve, ...]:
        """The reach of the latest ``last`` sessions that started, oldest first."""
        started = [s for s in self._sim.sessions if s.new_per_tick][-last:]
        return tuple(
            ReachCurve(
                self._line(s), len(s.new_per_tick), s.peak_tick, np.cumsum(np.asarray(s.new_per_tick, dtype=np.int64))
            )
            for s in started
        )

    def detail(self, session_id: int, bins: int, communities: int) -> SessionDetail | None:
        """Session ``session_id``'s states and variables (each variable's histogram in ``bins`` bins and its
        mean in the ``communities`` largest communities): counted over every agent, once per round."""
        s = self._session(session_id)
        if s is None:
            return None
        key = (self.world.key, int(s.id), int(s.round), str(s.status), s.traceback, bins, communities)
        if self._detail is not None and self._detail[0] == key:
            return self._detail[1]
        states: tuple[StateCount, ...] = ()
        variables: tuple[VariableSummary, ...] = ()
        if s.state.size:
            names = list(s.state_names)
            counts = s.state_counts if len(s.state_counts) == len(names) else np.bincount(s.state, minlength=len(names))
            states = tuple(StateCount(str(name), int(counts[i])) for i, name in enumerate(names))
            community = self.world.controller.world.columns.get("community")
            variables = tuple(
                _variable_summary(str(vname), values, community, bins, communities)
                for vname, values in s.variables.items()
            )
        detail = SessionDetail(session_line(s), int(s.state.size), states, variables, s.error, s.traceback)
        self._detail = (key, detail)
        return detail

    def posts(self, message_id: int, limit: int) -> tuple[PostLine, ...]:
        """The latest ``limit`` posts, reposts and replies of message ``message_id``, newest first."""
        world = self.world.controller.world
        return post_lines(world, world.posts.recent(message_id=message_id, limit=limit))

    def posts_key(self, message_id: int | None) -> tuple[int, int, int, int | None]:
        """What the posts of ``message_id`` shown are valid for (the posts kept, the latest id)."""
        posts = self.world.controller.world.posts
        return (id(posts), len(posts), posts.next_id, message_id)

    def cascade_ready(self, session_id: int) -> bool:
        """Whether the session's forest can be read now. A session restored from a file rebuilds its tracker
        from its stored adoptions on first use; that is done here, between two ticks (a tick under way would
        rebuild it too): while one runs, False (ask again later)."""
        s = self._session(session_id)
        if s is None:
            return False
        if s.cascade_tracker is not None or no_tree_reason(s) is not None:
            return True
        if self._sim.lock.locked():
            return False
        s.tracker()
        return True

    def measure_cascade(self, session_id: int, tick_under_way: bool = True) -> CascadeSummary | None:
        """The cascade of session ``session_id`` as of its latest round (safe in a worker thread: from
        checked copies of its arrays); None while a tick is writing them (ask again after it), or when there
        is no such session."""
        s = self._session(session_id)
        if s is None:
            return None
        try:
            summary = summarise(s, self.world.controller.world.columns["ids"], tick_under_way=tick_under_way)
        except Exception as exc:  # noqa: BLE001 - a bug: said in the box, the screen goes on
            return CascadeSummary(int(s.id), int(s.round), reason=f"the cascade could not be measured: {exc!r}")
        return summary if isinstance(summary, CascadeSummary) else None

    def cascade_box(self, summary: CascadeSummary) -> CascadeBox:
        """What the Messages view shows of a measured cascade (the spreaders named)."""
        world = self.world.controller.world
        spreaders = tuple(
            (world.persona(agent).name if 0 <= agent < world.n else f"agent #{agent}", int(original), int(children))
            for agent, original, children in summary.spreaders
        )
        return CascadeBox(summary.session, summary.round, summary.measures, spreaders, summary.reason, summary.forest)


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

    def key(self) -> CommunitiesKey:
        """What the communities table is valid for: the world, its community column, its last analysis."""
        w = self.world.controller.world
        return (id(w), id(w.columns["community"]), (w.config.get("analysis") or {}).get("time"))

    def count(self, key: CommunitiesKey) -> CommunityTableView:
        """The communities table (O(agents + edges): run it in a worker thread), as counted for ``key``."""
        world = self.world.controller.world
        if world.columns["community"].max(initial=-1) < 0:
            return CommunityTableView(key, (), (), 0)
        table = community_table(world)
        rows = tuple(
            CommunityRow(
                int(r["id"]),
                int(r["size"]),
                None if r["density"] is None else float(r["density"]),
                tuple(r["interests"]),
                tuple(int(i) for i in r["top_influencers"]),
            )
            for r in table.rows()
            if r["size"] > 0
        )
        flows = tuple((f["src"], f["dst"], f["edges"]) for f in table.top_flows(2000))
        return CommunityTableView(key, rows, flows, int(table.unassigned))

    def adoption_key(self, selected: int | None) -> AdoptionKey | None:
        """What the adoption shares of the selected (else the first running) session are valid for: the
        session, its round and status, the community column. None: no such session, or no communities."""
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
        if s.adopted_at.size != world.n or world.columns["community"].max(initial=-1) < 0:
            return None
        return (sid, int(s.round), str(s.status), id(world.columns["community"]))

    def count_adoption(self, key: AdoptionKey) -> AdoptionShares | None:
        """The adoption shares for ``key`` (:meth:`adoption_key`; O(agents): run it in a worker thread);
        None when the world or the session changed under it."""
        controller = self.world.controller
        world = controller.world
        try:
            stats = session_community_stats(world, controller.sim.session(key[0]))
        except (AgoraError, ValueError, IndexError):
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
        """Model ``model``'s parameters (their schema: defaults, ranges, help).

        Raises:
            AgoraError: no such model, or it cannot be imported.
        """
        return dict(self.world.controller.registry.model(model).params)


def _version(cls: Any) -> str | None:
    version = getattr(cls, "version", None)
    return None if version is None else str(version)


def post_lines(world: World, posts: Sequence[Mapping[str, object]]) -> tuple[PostLine, ...]:
    """``posts`` (rows of ``world.posts``) as the Messages view lists them, each author named."""
    out = []
    for p in posts:
        agent = _whole(p["agent"])
        name = world.persona(agent).name if 0 <= agent < world.n else f"agent #{agent}"
        out.append(PostLine(_whole(p["tick"]), str(name), str(p["kind"]), str(p["written_by"]), str(p["text"])))
    return tuple(out)


def _whole(value: object) -> int:
    """A whole number of a row the world keeps (a post's agent or tick).

    Raises:
        TypeError: not a whole number.
    """
    if not isinstance(value, int | np.integer):
        raise TypeError(f"not a whole number: {value!r}")
    return int(value)


def _variable_summary(
    name: str, values: np.ndarray, community: np.ndarray | None, bins: int, communities: int
) -> VariableSummary:
    """A variable's moments, histogram and means in the largest communities (O(agents))."""
    v = np.asarray(values, dtype=np.float64)
    lo, hi = float(v.min()), float(v.max())
    hist, edges = np.histogram(v, bins=bins, range=(lo, hi) if hi > lo else (lo - 0.5, lo + 0.5))
    means: tuple[tuple[int, float, int], ...] = ()
    shown = 0
    if community is not None and len(community) == v.size and int(community.max(initial=-1)) >= 0:
        c = np.asarray(community)
        known = c >= 0
        sizes = np.bincount(c[known])
        sums = np.bincount(c[known], weights=v[known], minlength=sizes.size)
        order = np.argsort(-sizes, kind="stable")[:communities]
        shown = len(order)
        means = tuple((int(cid), float(sums[cid] / sizes[cid]), int(sizes[cid])) for cid in order if sizes[cid])
    return VariableSummary(
        name,
        float(v.mean()),
        float(v.std()),
        lo,
        hi,
        tuple(int(h) for h in hist),
        tuple(float(e) for e in edges),
        means,
        shown,
    )


__all__ = [
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
