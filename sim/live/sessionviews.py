"""The sessions of a live world as the screens show them: lines, the dashboard's chart, metrics, series, a
session's states and variables, its posts and its cascade (:class:`SessionViews`, one room of
:class:`sim.live.views.WorldViews`, whose module keeps these names importable).

What costs O(agents) or O(ticks) is kept until what it was built from changes; a cascade's forest is measured
in a worker thread by the front end. Nothing here imports a front end.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.analysis.bygroup import By, groups_of, session_new_by
from sim.core.world import World
from sim.errors import AgoraError
from sim.live.cascadeview import CascadeSummary, no_tree_reason, summarise
from sim.live.controller import WorldController
from sim.model.series import ENTRIES, NEW, ONSETS, REACHED, REMOVALS, UNKNOWN, count_measures, series_dict
from sim.model.session import PropagationSession

#: The statuses of a session that has ended.
ENDED = ("completed", "failed", "cancelled")


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


class SessionViews:
    """The world's sessions as the screens show them: lines, the dashboard's chart, metrics, series, a
    session's states, posts and cascade. What costs O(agents) or O(ticks) is kept until what it was built
    from changes.

    Args:
        controller: the live world (a snapshot load replaces its world; the values follow).
    """

    def __init__(self, controller: WorldController) -> None:
        self.controller = controller
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
        return self.controller.sim

    @property
    def _key(self) -> int:
        """Which simulation is live (:attr:`sim.live.views.WorldViews.key`)."""
        return id(self.controller.sim)

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
        if self._ended_of != self._key:
            self._ended, self._ended_of = {}, self._key
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
        key = (self._key, int(s.id), int(s.round), str(s.status), length)
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

    def measure_names(self, session_id: int) -> tuple[str, ...]:
        """The per-tick measures :meth:`measures` gives for session ``session_id`` (an observed series is drawn
        against them): its states, ``reached``, ``new``, ``new.STATE`` each, ``onsets`` and (with a removal
        state) ``removals``; empty when there is no such session."""
        s = self._session(session_id)
        if s is None:
            return ()
        states = tuple(str(n) for n in s.state_names)
        return (*states, REACHED, NEW, *count_measures(states, bool(tuple(s.removal_states)), s.observables))

    def measures(self, session_id: int, names: Sequence[str]) -> dict[str, np.ndarray]:
        """Session ``session_id``'s measures ``names`` (of :meth:`measure_names`; others are left out) at the
        ticks of its :meth:`chart`, as float64 columns (NaN where entries were not recorded): numpy over the
        recorded rows, called once per round while an observed series is on the chart."""
        s = self._session(session_id)
        rec = s.series if s is not None else None
        if s is None or rec is None or not rec.length:
            return {}
        length, start = int(rec.length), int(s.series_from)
        states = [str(n) for n in s.state_names]
        entries = rec.entries.astype(np.float64)
        entries[rec.entries[:, 0] == UNKNOWN] = np.nan
        curve = np.asarray(s.new_per_tick, dtype=np.float64)
        new = np.zeros(length)
        part = curve[start : start + length]
        new[: part.size] = part
        out: dict[str, np.ndarray] = {}
        for name in names:
            if name in states:
                out[name] = rec.counts[:, states.index(name)].astype(np.float64)
            elif name == NEW:
                out[name] = new
            elif name == REACHED:
                out[name] = np.cumsum(curve)[start : start + length] if curve.size >= start + length else new.cumsum()
            elif name.startswith(ENTRIES) and name[len(ENTRIES) :] in states:
                out[name] = entries[:, states.index(name[len(ENTRIES) :])]
            elif name.startswith(ENTRIES) and name[len(ENTRIES) :] in s.observables:
                out[name] = entries[:, list(s.observables[name[len(ENTRIES) :]])].sum(axis=1)
            elif name == ONSETS or (name == REMOVALS and tuple(s.removal_states)):
                chosen = list(s.onset_states if name == ONSETS else s.removal_states)
                out[name] = entries[:, chosen].sum(axis=1)
        return out

    def check_by(self, by: By) -> None:
        """Nothing when the live world can be grouped by ``by``.

        Raises:
            BadParameterError: it cannot (see :func:`sim.analysis.bygroup.groups_of`).
        """
        groups_of(self.controller.world, by)

    def by(self, session_id: int, by: By) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Session ``session_id``'s new infections per tick by group (:func:`sim.analysis.bygroup.new_by`:
        ``new@GROUP``, summing to ``new``) at the world ticks of its :meth:`chart`; no tick yet (or no such
        session): no tick and no group. Numpy over the agents' adoption ticks (and, by layer, one binary search
        over the edges), computed when the chart asks (once per round of the session).

        Raises:
            BadParameterError: ``by`` names no column of the world (or ``layer`` where it has none).
        """
        self.check_by(by)  # the column checked whether or not a tick has run
        s = self._session(session_id)
        rec = s.series if s is not None else None
        if s is None or rec is None or not rec.length or s.started_tick is None:
            return np.empty(0, dtype=np.int64), {}
        start = int(s.started_tick) + int(s.series_from)
        length = int(rec.length)
        counts = session_new_by(self.controller.world, s, by, start, length)
        return np.arange(length, dtype=np.int64) + start, counts

    def metrics(self, last: int) -> MetricsHistory:
        """The simulation's metrics of its latest ``last`` ticks (copied when a tick was measured)."""
        metrics = self._sim.metrics
        latest = metrics[-1].get("tick") if metrics else None
        key = (self._key, len(metrics), latest)
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
        key = (self._key, int(s.id), int(s.round), str(s.status), s.traceback, bins, communities)
        if self._detail is not None and self._detail[0] == key:
            return self._detail[1]
        states: tuple[StateCount, ...] = ()
        variables: tuple[VariableSummary, ...] = ()
        if s.state.size:
            names = list(s.state_names)
            counts = s.state_counts if len(s.state_counts) == len(names) else np.bincount(s.state, minlength=len(names))
            states = tuple(StateCount(str(name), int(counts[i])) for i, name in enumerate(names))
            community = self.controller.world.columns.get("community")
            variables = tuple(
                _variable_summary(str(vname), values, community, bins, communities)
                for vname, values in s.variables.items()
            )
        detail = SessionDetail(session_line(s), int(s.state.size), states, variables, s.error, s.traceback)
        self._detail = (key, detail)
        return detail

    def posts(self, message_id: int, limit: int) -> tuple[PostLine, ...]:
        """The latest ``limit`` posts, reposts and replies of message ``message_id``, newest first."""
        world = self.controller.world
        return post_lines(world, world.posts.recent(message_id=message_id, limit=limit))

    def posts_key(self, message_id: int | None) -> tuple[int, int, int, int | None]:
        """What the posts of ``message_id`` shown are valid for (the posts kept, the latest id)."""
        posts = self.controller.world.posts
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
            summary = summarise(s, self.controller.world.columns["ids"], tick_under_way=tick_under_way)
        except Exception as exc:  # noqa: BLE001 - a bug: said in the box, the screen goes on
            return CascadeSummary(int(s.id), int(s.round), reason=f"the cascade could not be measured: {exc!r}")
        return summary if isinstance(summary, CascadeSummary) else None

    def cascade_box(self, summary: CascadeSummary) -> CascadeBox:
        """What the Messages view shows of a measured cascade (the spreaders named)."""
        world = self.controller.world
        spreaders = tuple(
            (world.persona(agent).name if 0 <= agent < world.n else f"agent #{agent}", int(original), int(children))
            for agent, original, children in summary.spreaders
        )
        return CascadeBox(summary.session, summary.round, summary.measures, spreaders, summary.reason, summary.forest)


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
