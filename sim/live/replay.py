"""Replaying a session that has ended (issue 77): what the views show of it, as it was at any tick of its run,
rebuilt from what the world file stores of it — never by running it again.

What a world file keeps of a session, and so what a replay can show exactly at any tick ``T`` of its run:

- the agents in each state at ``T``: the session's series (one row of state counts per tick, stored with it);
- who had been reached by ``T``, when and through whom: each agent's ``adopted_at`` and ``adopted_from`` (its first
  entry into an adopted state, as the ``events`` table holds them too), and from them the adoption forest as it
  stood at ``T``: its generations, its largest trees, its spreaders, the reach of each community.

What it does not keep, and a replay does not pretend to show: which state a reached agent was in at ``T`` when the
model moves agents on after they adopt (I to R in an SIR epidemic): the file records an agent's first adoption,
not its later moves, so an agent is shown as reached (or not yet) at ``T``, with the state it ended the session in.
The counts per state at ``T`` are exact all the same (the series).

The first load sorts the session's adopters by adoption tick and lays their community, generation, tree and source
out in that order (numpy, O(agents)); a jump to a tick then reads the prefix of adopters up to it: a binary search
and a few bincounts over that prefix, no pass over the agents who had not adopted, no Python loop per agent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.core.cascade import replay as replay_forest
from sim.core.safe import shown
from sim.core.world import World
from sim.errors import BadParameterError
from sim.live.controller import WorldController
from sim.model.session import PropagationSession

#: The statuses of a session that has ended (only those are replayed: a running one still changes).
ENDED = ("completed", "failed", "cancelled")
#: How many communities, trees and spreaders a frame lists (the largest).
TOP = 8


@dataclass(frozen=True)
class CommunityAt:
    """One community at the replayed tick: its id, its agents, and how many of them had been reached."""

    community: int
    agents: int
    reached: int


@dataclass(frozen=True)
class ReplayFrame:
    """A session as it was at world tick ``tick`` (``first`` to ``last``: the ticks its run recorded)."""

    session: int
    model: str
    tick: int
    first: int
    last: int
    #: The model's states and the agents in each at the tick (the session's series).
    states: tuple[str, ...]
    counts: tuple[int, ...]
    #: Agents reached by the tick (adopted at it or before) and at it.
    reached: int
    new: int
    #: Agents reached by the tick in each generation of the adoption forest (the seeds are generation 0).
    generations: tuple[int, ...]
    #: The largest trees at the tick: (its root's original id, its agents).
    trees: tuple[tuple[int, int], ...]
    #: The agents who had passed it on to most by the tick: (original id, agents it reached).
    spreaders: tuple[tuple[int, int], ...]
    #: The largest communities of the world, each with its reach at the tick.
    communities: tuple[CommunityAt, ...]


@dataclass(frozen=True)
class AgentAt:
    """One agent at the replayed tick: when it was reached (``None``: never, in this session), by whom (its
    source's original id; ``None``: a seed or no source), its generation, and the state it ended the session in."""

    original_id: int
    name: str
    tick: int
    reached_at: int | None
    source: int | None
    generation: int | None
    final_state: str

    @property
    def reached(self) -> bool:
        """Whether it had been reached by the tick."""
        return self.reached_at is not None and self.reached_at <= self.tick

    def line(self) -> str:
        """The agent at the tick in one line (its name shown literally)."""
        who = f"agent {self.original_id} ({shown(self.name, 40)})"
        if self.reached_at is None:
            return f"{who}: never reached in this session; it ended it {shown(self.final_state, 20)}"
        how = "a seed" if self.source is None else f"from agent {self.source}"
        when = f"reached at tick {self.reached_at} ({how}, generation {self.generation})"
        if self.reached:
            return f"{who} at tick {self.tick}: {when}; it ended the session {shown(self.final_state, 20)}"
        return f"{who} at tick {self.tick}: not reached yet ({when})"


class Replay:
    """Session ``s`` of ``world`` (ended), ready to be shown at any tick of its run: see the module docstring.

    Raises:
        BadParameterError: the session is running, never started, or recorded no tick.
    """

    def __init__(self, world: World, s: PropagationSession) -> None:
        check_replayable(s)
        rec = s.series
        assert rec is not None and s.started_tick is not None  # checked
        sid = int(s.id)
        self.world, self.session = world, s
        self.id, self.model = sid, str(s.model_name)
        self.states = tuple(str(n) for n in s.state_names)
        self.counts = np.array(rec.counts, dtype=np.int64, copy=True)
        self.first = int(s.started_tick) + int(s.series_from)
        self.last = self.first + self.counts.shape[0] - 1
        self.final = np.array(s.state, copy=True)
        n = int(s.state.size)
        adopters = np.flatnonzero(s.adopted_at >= 0)
        at = s.adopted_at[adopters].astype(np.int64)
        order = np.argsort(at, kind="stable")
        #: The adopters in the order they adopted, and their adoption ticks (ascending): a tick's prefix.
        self.order = adopters[order].astype(np.int32)  # int32 throughout: a world has fewer than 2**31 agents
        self.times = at[order].astype(np.int32)
        source = s.adopted_from[self.order].astype(np.int32)
        self.source = np.where((source >= 0) & (source < n), source, -1).astype(np.int32)
        tracker = replay_forest(n, self.times, self.order, self.source)
        generation = tracker.generation
        self.generation = generation[self.order]
        # A tree by its root and a spreader by the agent, as codes 0..k-1 of the ones there are (-1: none), so that
        # a jump counts into as many bins as there are roots or sources, not one per agent of the world.
        self.roots, self.tree = _codes(tracker.root[self.order])
        self.spreaders, self.source_code = _codes(self.source)
        community = world.columns.get("community")  # -1: an agent in none (not counted)
        community = None if community is None else np.asarray(community, dtype=np.int32)
        self.community = None if community is None else community[self.order]
        self.community_sizes = None if community is None else np.bincount(community[community >= 0])
        self.ids = np.asarray(world.columns["ids"])
        self._at = -1
        self._frame: ReplayFrame | None = None

    @property
    def nbytes(self) -> int:
        """The bytes of the arrays the replay keeps (its first load's temporaries are gone)."""
        kept = (self.counts, self.final, self.order, self.times, self.source, self.generation, self.roots, self.tree)
        more = (self.spreaders, self.source_code, self.community, self.community_sizes)
        return sum(int(a.nbytes) for a in (*kept, *more) if a is not None)

    def clamp(self, tick: int) -> int:
        """``tick`` within the ticks the run recorded."""
        return max(self.first, min(self.last, int(tick)))

    def reached_by(self, tick: int) -> int:
        """How many agents had been reached by world tick ``tick``."""
        return int(np.searchsorted(self.times, int(tick), side="right"))

    def at(self, tick: int) -> ReplayFrame:
        """The session as it was at world tick ``tick`` (clamped to the ticks its run recorded)."""
        tick = self.clamp(tick)
        if self._frame is not None and self._at == tick:
            return self._frame
        k = self.reached_by(tick)
        new = k - int(np.searchsorted(self.times, tick, side="left"))
        gens = np.bincount(self.generation[:k][self.generation[:k] >= 0]) if k else np.zeros(0, dtype=np.int64)
        frame = ReplayFrame(
            session=self.id,
            model=self.model,
            tick=tick,
            first=self.first,
            last=self.last,
            states=self.states,
            counts=tuple(int(c) for c in self.counts[tick - self.first]),
            reached=k,
            new=new,
            generations=tuple(int(g) for g in gens),
            trees=self._top(self.tree[:k], self.roots),
            spreaders=self._top(self.source_code[:k], self.spreaders),
            communities=self._communities(k),
        )
        self._at, self._frame = tick, frame
        return frame

    def _top(self, codes: np.ndarray, agents: np.ndarray) -> tuple[tuple[int, int], ...]:
        """The ``TOP`` agents (``agents``: each code's, a tree's root or a source) whose codes occur most in
        ``codes`` (-1: none), by original id, with their counts."""
        codes = codes[codes >= 0]
        if not codes.size:
            return ()
        counts = np.bincount(codes)  # a bincount and a partial sort: no sort of the reached agents
        m = min(TOP, int(np.count_nonzero(counts)))
        pick = np.argpartition(-counts, m - 1)[:m]
        pick = pick[np.lexsort((agents[pick], -counts[pick]))]  # most first, then by agent
        return tuple((int(self.ids[agents[c]]), int(counts[c])) for c in pick)

    def _communities(self, k: int) -> tuple[CommunityAt, ...]:
        if self.community is None or self.community_sizes is None:
            return ()
        sizes = self.community_sizes
        largest = np.argsort(-sizes, kind="stable")[: min(TOP, int(np.count_nonzero(sizes)))]
        mine = self.community[:k]
        reached = np.bincount(mine[mine >= 0], minlength=sizes.size)
        return tuple(CommunityAt(int(c), int(sizes[c]), int(reached[c])) for c in largest)

    def agent(self, original_id: int, tick: int) -> AgentAt:
        """Agent ``original_id`` at world tick ``tick`` (clamped).

        Raises:
            BadParameterError: the world has no such agent.
        """
        i = self.world.index_of(int(original_id))
        tick = self.clamp(tick)
        at = int(self.session.adopted_at[i])
        where = np.flatnonzero(self.order == i) if at >= 0 else np.empty(0, dtype=np.int64)
        src = int(self.source[where[0]]) if where.size else -1
        gen = int(self.generation[where[0]]) if where.size else None
        final = self.states[int(self.final[i])] if 0 <= int(self.final[i]) < len(self.states) else "?"
        return AgentAt(
            original_id=int(original_id),
            name=self.world.persona(i).name,
            tick=tick,
            reached_at=at if at >= 0 else None,
            source=int(self.ids[src]) if src >= 0 else None,
            generation=gen,
            final_state=final,
        )

    @property
    def ticks(self) -> np.ndarray:
        """The world ticks of the run's series rows."""
        return np.arange(self.counts.shape[0], dtype=np.int64) + self.first


def _codes(agents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``agents`` (-1: none) as codes: the distinct agents (ascending) and each entry's code among them (-1)."""
    some = agents >= 0
    distinct, code = np.unique(agents[some], return_inverse=True)
    out = np.full(agents.shape, -1, dtype=np.int32)
    out[some] = code
    return distinct.astype(np.int64), out


def check_replayable(s: PropagationSession) -> None:
    """Nothing when session ``s`` can be replayed.

    Raises:
        BadParameterError: it is running (or queued), or it recorded no tick (one sentence saying so).
    """
    sid = int(s.id)
    if s.status not in ENDED:
        raise BadParameterError(
            f"session {sid} is still {s.status}: replay it once it has ended (let it finish, or cancel it with x "
            "in the Messages view)"
        )
    rec = s.series
    if not s.state.size or s.started_tick is None or rec is None or not rec.length:
        raise BadParameterError(f"session {sid} recorded no tick to replay (it never ran, or was stored slim)")


def replayable(controller: WorldController, session_id: int) -> PropagationSession:
    """Session ``session_id`` of the live world, checked to be replayable (cheap: nothing is built).

    Raises:
        BadParameterError: there is no such session, or it cannot be replayed (one sentence saying why).
    """
    sessions = {int(s.id): s for s in controller.sim.sessions}
    s = sessions.get(int(session_id))
    if s is None:
        raise BadParameterError(f"there is no session {session_id}: the Messages view lists the world's sessions")
    check_replayable(s)
    return s


def open_replay(controller: WorldController, session_id: int) -> Replay:
    """The replay of session ``session_id`` of the live world (see :class:`Replay`): its first load.

    Raises:
        BadParameterError: there is no such session, or it cannot be replayed (one sentence saying why).
    """
    return Replay(controller.world, replayable(controller, session_id))


def last_ended(controller: WorldController) -> int | None:
    """The session that ended last (None: none has)."""
    done = [s for s in controller.sim.sessions if s.status in ENDED]
    if not done:
        return None
    return int(max(done, key=lambda s: (s.ended_tick if s.ended_tick is not None else -1, s.id)).id)


__all__ = [
    "ENDED",
    "AgentAt",
    "CommunityAt",
    "Replay",
    "ReplayFrame",
    "check_replayable",
    "last_ended",
    "open_replay",
    "replayable",
]
