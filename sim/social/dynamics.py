"""The living network: feeds, friend suggestions, follows and unfollows, churn, reputation and trust.

A :class:`Social` layer runs inside every tick of a :class:`~sim.engine.simulation.Simulation`, around the
propagation rounds:

1. **feeds** (before the rounds): the content recommender scores the live messages (those whose
   sessions are running) for every online agent; each agent's ``feed_size`` best, minus messages it
   already adopted or wrote, are handed to the sessions' models as *feed exposures* — a path out of
   the follower graph. The first time an agent is shown a message in a feed is recorded (the
   ``exposures`` table: who saw what, credited to whom, from which recommender).
2. **learning** (after the rounds): an adoption along an edge raises the edge's trust and the sender's
   reputation; an attempt that is ignored lowers both a little, and an ignored message off the reader's
   interests may be reported, which costs the sender more reputation. Feed adoptions credit the sharer.
3. **friends**: the friend recommender suggests whom each online agent could follow; the agent accepts
   with probability ``accept_rate * compatibility`` (shared interests, activity overlap, the candidate's
   reputation). Online agents unfollow low-trust followees and, past ``fatigue_following`` followees,
   their least trusted one.
4. **churn**: created agents join (following a few agents, chosen in proportion to their followers),
   active agents leave (deactivated, their edges removed), go idle and come back.
5. **merge**: follows and unfollows wait in the world's :class:`~sim.core.graph.GraphDelta` and are merged
   into the CSR in bulk every ``merge_every`` ticks.

The whole layer is off while the world is *static*: no content recommender, no friend recommender and
no churn. Then a tick is exactly the propagation of the earlier issues.

All randomness comes from generators seeded from (world seed, tick, purpose), so a continued snapshot
replays exactly. Everything is array work; nothing loops over agents or edges in Python.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.core.activity import PROFILES
from sim.core.arrays import dense_width, equal_runs
from sim.core.graph import Graph, _row_search, csr_positions
from sim.core.tracebacks import with_method_frame
from sim.core.world import Status, World, world_rng
from sim.model.guard import PluginTimeout, call_directly, is_plugin_fault
from sim.model.settings import NONE, social_settings
from sim.model.views import SessionView, WorldView, readonly_graph
from sim.plugin import ContentRecommender, FriendRecommender
from sim.social.lifecycle import transition

if TYPE_CHECKING:  # pragma: no cover
    from sim.model.registry import Registry
    from sim.model.session import PropagationSession

STREAM_SOCIAL = 6
# -- contexts handed to recommenders --------------------------------------------------------------


def _ro(a: np.ndarray) -> np.ndarray:
    v = a.view()
    v.flags.writeable = False
    return v


class FeedContext:
    """What a content recommender sees: a block of online readers and the live messages.

    Attributes:
        readers: (R,) int32 online agents, ascending.
        sessions: the M live propagation sessions (read them, never change them).
        topics: (M,) uint64 topic masks; authors: (M,) int32 (-1 external); created: (M,) int64 ticks;
        adopted: (M,) int64 adoption counts so far.
        tick, minutes_per_tick, columns (read-only agent columns), graph, n, rng (this tick's generator).
    """

    def __init__(
        self,
        world: World,
        readers: np.ndarray,
        sessions: list[PropagationSession],
        tick: int,
        rng: np.random.Generator,
        params: dict[str, Any],
    ) -> None:
        self._world = world
        self.graph: Graph = readonly_graph(world.graph)
        self.n = world.n
        self.readers = _ro(readers)
        #: Read-only views (``sim.model.views.SessionView``): a recommender cannot change a session.
        self.sessions = tuple(SessionView(s) for s in sessions)
        self.tick = tick
        self.minutes_per_tick = int(world.config.get("minutes_per_tick", 10))
        self.rng = rng
        self.params = params
        self.columns = {k: _ro(v) for k, v in world.columns.items()}
        self.topics = np.array(
            [int(s.message.get("topics", 0) or 0) & 0xFFFFFFFFFFFFFFFF for s in sessions], dtype=np.uint64
        )
        self.authors = np.array(
            [-1 if s.message.get("author") is None else int(s.message["author"]) for s in sessions], dtype=np.int32
        )
        self.created = np.array([int(s.message.get("created_tick", s.created_tick)) for s in sessions], dtype=np.int64)
        self.adopted = np.array([s.reached for s in sessions], dtype=np.int64)
        self._followee: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    @property
    def world(self) -> WorldView:
        """The world, read-only (``sim.model.views.WorldView``)."""
        return WorldView(self._world)

    @property
    def shape(self) -> tuple[int, int]:
        """(R, M): the shape of the scores to return."""
        return (int(self.readers.size), len(self.sessions))

    def interest_match(self) -> np.ndarray:
        """(R, M) float64: share of each message's topics the reader is interested in (0 without topics)."""
        interests = self.columns["interests"][self.readers]
        common = np.bitwise_count(interests[:, None] & self.topics[None, :]).astype(np.float64)
        k = np.bitwise_count(self.topics).astype(np.float64)
        return np.divide(common, k[None, :], out=np.zeros_like(common), where=k[None, :] > 0)

    def followee_adoptions(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For each reader and message: how many of the reader's followees adopted it, the tick of the
        latest such adoption (-1: none) and that followee (-1: none; the higher index on a tie).
        Three (R, M) arrays (int32, int64, int32), computed once per context."""
        if self._followee is None:
            g = self.graph
            pos, counts = csr_positions(g.in_indptr, self.readers)
            followees = g.in_indices[pos]
            r, m = self.shape
            count = np.zeros((r, m), dtype=np.int32)
            latest = np.full((r, m), -1, dtype=np.int64)
            sharer = np.full((r, m), -1, dtype=np.int32)
            if followees.size:
                group = np.repeat(np.arange(r, dtype=np.int64), counts)
                nonempty = counts > 0
                starts = (np.cumsum(counts) - counts)[nonempty]
                for j, s in enumerate(self.sessions):
                    at = s.adopted_at[followees].astype(np.int64)
                    hit = at >= 0
                    if not hit.any():
                        continue
                    count[:, j] = np.bincount(group[hit], minlength=r)
                    key = np.where(hit, at * self.n + followees, -1)
                    best = np.maximum.reduceat(key, starts)
                    col = np.full(r, -1, dtype=np.int64)
                    col[nonempty] = best
                    ok = col >= 0
                    latest[ok, j] = col[ok] // self.n
                    sharer[ok, j] = (col[ok] % self.n).astype(np.int32)
            self._followee = (count, latest, sharer)
        return self._followee

    def follows_author(self) -> np.ndarray:
        """(R, M) bool: whether the reader follows the message's author."""
        out = np.zeros(self.shape, dtype=bool)
        for j, a in enumerate(self.authors):
            if a >= 0:
                out[:, j] = np.isin(self.readers, self.graph.followers(int(a)), assume_unique=True)
        return out

    def recent_sessions(self, last: int) -> tuple[SessionView, ...]:
        """The latest ``last`` sessions that have started (running or ended), oldest first, read-only."""
        started = [s for s in self._world.sessions if s.state.size]
        return tuple(SessionView(s) for s in started[max(0, len(started) - int(last)) :])


class FriendContext:
    """What a friend recommender sees: the agents looking for suggestions this tick.

    Attributes:
        agents: (A,) int32 online agents, ascending; k: suggestions kept per agent;
        columns (read-only), graph, n, tick, rng, params.
    """

    def __init__(
        self, world: World, agents: np.ndarray, k: int, tick: int, rng: np.random.Generator, params: dict[str, Any]
    ) -> None:
        self._world = world
        self.graph: Graph = readonly_graph(world.graph)
        self.n = world.n
        self.agents = _ro(agents)
        self.k = k
        self.tick = tick
        self.rng = rng
        self.params = params
        self.columns = {k_: _ro(v) for k_, v in world.columns.items()}

    @property
    def world(self) -> WorldView:
        """The world, read-only (``sim.model.views.WorldView``)."""
        return WorldView(self._world)

    def two_hop(self, fanout: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Paths ``agent -> f -> c``: ``agent`` follows ``f`` and ``f`` follows ``c``; returns aligned
        ``(agents, middles, candidates)``. At most ``fanout`` followees are taken per agent and per middle
        agent (a window at a random offset when there are more), so the work is at most
        ``A * fanout**2``; with fewer followees than ``fanout`` every path is listed."""
        g = self.graph
        a, f = _sample_rows(g.in_indptr, g.in_indices, self.agents, fanout, self.rng)
        m, c = _sample_rows(g.in_indptr, g.in_indices, f, fanout, self.rng, owners=a)
        return m[0], m[1], c

    def candidates_random(self, per_agent: int) -> tuple[np.ndarray, np.ndarray]:
        """``per_agent`` uniformly random active agents for each agent: aligned ``(agents, candidates)``."""
        pool = self.active_pool()
        if pool.size == 0:
            e = np.empty(0, dtype=np.int32)
            return e, e
        a = np.repeat(self.agents, per_agent)
        return a, pool[self.rng.integers(0, pool.size, size=a.size)]

    def active_pool(self) -> np.ndarray:
        """Agents that can be followed (active or idle), ascending int32."""
        st = self.columns["status"]
        return np.flatnonzero((st == Status.ACTIVE) | (st == Status.IDLE)).astype(np.int32)

    def compatibility(self, agents: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """Compatibility in [0, 1] of each pair: the mean of shared interests (Jaccard), activity overlap
        (cosine of the two hourly profiles) and the candidate's reputation."""
        return compatibility(self._world, agents, candidates)


def _profile_overlap() -> np.ndarray:
    p = PROFILES.astype(np.float64)
    unit = p / np.linalg.norm(p, axis=1, keepdims=True)
    return (unit @ unit.T).astype(np.float32)


_OVERLAP = _profile_overlap()


def compatibility(world: World, agents: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """See :meth:`FriendContext.compatibility` (float64, aligned with the pairs)."""
    c = world.columns
    ia, ib = c["interests"][agents], c["interests"][candidates]
    inter = np.bitwise_count(ia & ib).astype(np.float64)
    union = np.bitwise_count(ia | ib).astype(np.float64)
    jac = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    act = _OVERLAP[c["activity_profile"][agents], c["activity_profile"][candidates]].astype(np.float64)
    rep = c["reputation"][candidates].astype(np.float64)
    return np.clip((jac + act + rep) / 3.0, 0.0, 1.0)


def _sample_rows(
    indptr: np.ndarray,
    indices: np.ndarray,
    rows: np.ndarray,
    cap: int,
    rng: np.random.Generator,
    owners: np.ndarray | None = None,
) -> tuple[Any, np.ndarray]:
    """Up to ``cap`` entries of each listed CSR row (all of them when the row is short, else a
    circular window at a random offset). Returns ``(owner of each entry, entry)``; the owner is the row
    itself, or ``(owners[i], row)`` when ``owners`` is given."""
    rows = np.asarray(rows, dtype=np.int64)
    starts = indptr[rows]
    deg = indptr[rows + 1] - starts
    take = np.minimum(deg, cap)
    total = int(take.sum())
    if total == 0:
        e = np.empty(0, dtype=np.int32)
        return ((e, e) if owners is not None else e), e
    offset = np.where(deg > cap, (rng.random(rows.size) * np.maximum(deg, 1)).astype(np.int64), 0)
    first = np.cumsum(take) - take
    local = np.arange(total, dtype=np.int64) - np.repeat(first, take)
    rep_deg = np.repeat(deg, take)
    pos = np.repeat(starts, take) + (local + np.repeat(offset, take)) % np.maximum(rep_deg, 1)
    entry = indices[pos]
    if owners is None:
        return np.repeat(rows.astype(np.int32), take), entry
    return (np.repeat(np.asarray(owners, dtype=np.int32), take), np.repeat(rows.astype(np.int32), take)), entry


def top_k_per_row(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of each row's ``k`` highest finite scores, best first; ties to the lower column."""
    s = np.asarray(scores, dtype=np.float64)
    s = np.where(np.isnan(s), -np.inf, s)
    order = np.argsort(-s, axis=1, kind="stable")[:, :k]
    kept = np.take_along_axis(s, order, axis=1)
    ok = kept > -np.inf
    rows = np.broadcast_to(np.arange(s.shape[0])[:, None], order.shape)
    return rows[ok], order[ok]


def top_k_per_group(groups: np.ndarray, items: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of each group's ``k`` highest scores (ties to the lower item), grouped by ascending
    group, best first.

    Pairs are laid out as one row per group (a dense matrix padded with ``-inf``) and each short row is
    sorted on its own, which is several times faster than one global sort of millions of pairs; a few
    very long groups fall back to the global sort."""
    groups = np.asarray(groups)
    if groups.size == 0:
        return np.empty(0, dtype=np.int64)
    items = np.asarray(items)
    key = groups.astype(np.int64) * (int(items.max()) + 1) + items
    order = np.arange(key.size) if key.size < 2 or bool(np.all(key[1:] > key[:-1])) else np.argsort(key, kind="stable")
    g = groups[order]
    starts, counts = equal_runs(g)
    width = dense_width(counts, g.size)
    sc = np.asarray(scores, dtype=np.float64)[order]
    if width is None:  # too ragged for a dense layout
        o2 = np.lexsort((-sc, g))  # stable: ties keep the ascending item order
        first = np.repeat(starts, counts)
        return order[o2[(np.arange(g.size) - first) < k]]
    col = np.arange(g.size) - np.repeat(starts, counts)
    dense = np.full((starts.size, width), -np.inf)
    dense[np.repeat(np.arange(starts.size), counts), col] = sc
    kk = min(k, width)
    best = np.argsort(-dense, axis=1, kind="stable")[:, :kk]
    keep = np.take_along_axis(dense, best, axis=1) > -np.inf
    keep &= best < counts[:, None]
    pos = (starts[:, None] + best)[keep]
    return order[pos]


# -- the layer ------------------------------------------------------------------------------------


@dataclass
class SocialTick:
    """What the social layer did in one tick (merged into the tick's metrics)."""

    feed_readers: int = 0
    feed_items: int = 0
    feed_new_exposures: int = 0
    feed_adoptions: int = 0
    graph_adoptions: int = 0
    follows: int = 0
    unfollows: int = 0
    joins: int = 0
    leaves: int = 0
    reports: int = 0
    merged: int = 0
    feed_seconds: float = 0.0
    friend_seconds: float = 0.0
    merge_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def to_metrics(self) -> dict[str, Any]:
        """Every counter and time, in field order, by its metric name (``merged`` is ``graph_merged``; the
        errors are not a metric)."""
        return {
            ("graph_merged" if f.name == "merged" else f.name): getattr(self, f.name)
            for f in fields(self)
            if f.name != "errors"
        }


class RecommenderFailure(Exception):
    """A recommender raised or answered outside its contract."""


class Social:
    """The social layer of one simulation. See the module docstring."""

    def __init__(self, world: World, registry: Registry, settings: dict[str, Any] | None = None) -> None:
        self.world = world
        self.registry = registry
        self.settings = social_settings(settings if settings is not None else world.config.get("social"))
        #: Recommender errors by name (the recommender is switched off after its first failure).
        self.errors: dict[str, str] = {}
        self.tracebacks: dict[str, str] = {}
        #: Runs recommender code (``score``, ``suggest`` and the check of the answer): the simulation sets
        #: its :meth:`sim.model.guard.PluginRunner.call` (the plugin budget); directly otherwise.
        self.call: Any = call_directly
        self._content: dict[str, ContentRecommender | None] = {}
        self._friend: FriendRecommender | None = None
        self._friend_name: str | None = None
        # A world may name a recommender that is not available here (a user plugin not loaded): the
        # layer then runs without it and says why in ``errors``; ``configure`` raises instead.
        for key, make in (
            ("recommender", lambda: self.content_recommender(self.settings["recommender"])),
            ("friend", self.friend_recommender),
        ):
            try:
                make()
            except Exception as exc:
                name = (
                    self.settings["recommender"]
                    if key == "recommender"
                    else f"friend:{self.settings['friend_recommender']}"
                )
                self.errors[name] = str(exc)
                self.tracebacks[name] = ""
        #: Feed records waiting for the writer: (session id, records, recommender name).
        self.pending_exposures: list[tuple[int, np.ndarray, str]] = []

    # -- configuration ----------------------------------------------------------------------------
    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change settings (validated; nothing changes when any is invalid); returns the new settings."""
        new = social_settings(self.settings, **changes)
        old, old_errors, old_tbs = self.settings, dict(self.errors), dict(self.tracebacks)
        self.settings = new
        self.errors.clear()
        self.tracebacks.clear()
        try:
            self._content = {}
            rec = self.content_recommender(new["recommender"])
            self._friend, self._friend_name = None, None
            friend = self.friend_recommender()
            # keep the validated values (numbers as numbers), defaults included
            new["recommender_params"] = dict(rec.p) if rec is not None else {}
            new["friend_params"] = dict(friend.p) if friend is not None else {}
        except Exception:
            self.settings = old
            self.errors.update(old_errors)
            self.tracebacks.update(old_tbs)
            self._content, self._friend, self._friend_name = {}, None, None
            raise
        return new

    @property
    def living(self) -> bool:
        """Whether anything beyond propagation happens: a recommender or churn is configured."""
        s = self.settings
        return (
            s["recommender"] != NONE
            or s["friend_recommender"] != NONE
            or any(s[k] > 0 for k in ("join_rate", "leave_rate", "idle_rate", "return_rate"))
        )

    def content_recommender(self, name: str | None) -> ContentRecommender | None:
        """The instance for ``name`` (None for 'none' or a failed recommender).

        Raises:
            BadParameterError: unknown recommender or bad parameters.
        """
        name = name or NONE
        if name == NONE or name in self.errors:
            return None
        if name not in self._content:
            cls = self.registry.content_recommender(name)
            params = self.settings["recommender_params"] if name == self.settings["recommender"] else {}
            self._content[name] = cls(**params)
        return self._content[name]

    def friend_recommender(self) -> FriendRecommender | None:
        name = self.settings["friend_recommender"]
        if name == NONE or f"friend:{name}" in self.errors:
            return None
        if self._friend is None or self._friend_name != name:
            cls = self.registry.friend_recommender(name)
            self._friend = cls(**self.settings["friend_params"])
            self._friend_name = name
        return self._friend

    def _rng(self, tick: int, purpose: int) -> np.random.Generator:
        return world_rng(self.world.seed, STREAM_SOCIAL, tick, purpose)

    def _fail(self, key: str, exc: BaseException, out: SocialTick) -> None:
        if not is_plugin_fault(exc):
            raise exc
        self.errors[key] = f"{type(exc).__name__}: {exc}"
        tb = getattr(exc, "traceback", None)  # PluginTimeout: where the recommender was when abandoned
        tb = (
            tb if isinstance(tb, str) and tb else "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        )
        if isinstance(exc, RecommenderFailure):
            # The engine refused the answer: the author's place to look is the method that gave it.
            rec = self._friend if key.startswith("friend:") else self._content.get(key)
            if rec is not None:
                tb = with_method_frame(tb, rec, "suggest" if key.startswith("friend:") else "score")
        self.tracebacks[key] = tb
        out.errors.append(key)

    # -- 1. feeds ---------------------------------------------------------------------------------
    def feeds(
        self, tick: int, online: np.ndarray, live: list[PropagationSession], out: SocialTick
    ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Feed exposures of this tick per session id: ``(agents, credited sharers)``, agents ascending."""
        t0 = time.perf_counter()
        result: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        if not live:
            return result
        default = self.settings["recommender"]
        groups: dict[str, list[int]] = {}
        for j, s in enumerate(live):
            name = s.recommender or default
            if self.content_recommender(name) is not None:
                groups.setdefault(name, []).append(j)
        if not groups:
            return result
        readers = np.flatnonzero(online).astype(np.int32)
        out.feed_readers = int(readers.size)
        if readers.size == 0:
            return result
        k = int(self.settings["feed_size"])
        m = len(live)
        chunk = max(1, 4_000_000 // m)
        rng = self._rng(tick, 1)
        parts_r: list[np.ndarray] = []
        parts_j: list[np.ndarray] = []
        parts_s: list[np.ndarray] = []
        authors = np.array(
            [-1 if s.message.get("author") is None else int(s.message["author"]) for s in live], dtype=np.int32
        )
        for lo in range(0, readers.size, chunk):
            block = readers[lo : lo + chunk]
            scores = np.full((block.size, m), -np.inf)
            sharers = np.full((block.size, m), -1, dtype=np.int32)
            for name, js in list(groups.items()):
                rec = self.content_recommender(name)
                if rec is None:
                    continue
                sub = [live[j] for j in js]
                ctx = FeedContext(self.world, block, sub, tick, rng, rec.p)
                before = rng.bit_generator.state
                try:
                    sc, sh = self.call(
                        _scored,
                        name,
                        rec,
                        ctx,
                        self.world.n,
                        what=f"recommender {name}",
                        where="scoring feeds",
                        then="recommender switched off",
                    )
                except BaseException as exc:  # noqa: BLE001 - a plugin may raise anything; over the budget: PluginTimeout
                    if isinstance(exc, PluginTimeout):
                        # The abandoned call may still draw from this tick's generator: go on with a copy
                        # of it as it was before the call, so the rest of the tick stays reproducible.
                        rng = np.random.Generator(type(rng.bit_generator)())
                        rng.bit_generator.state = before
                    self._fail(name, exc, out)
                    continue
                if len(groups) > 1:  # several recommenders: interleave by rank within each
                    sc = _ranks(sc)
                scores[:, js] = sc
                if sh is not None:
                    sharers[:, js] = sh
            for j, s in enumerate(live):
                st = s.state[block]
                seen = np.isin(st, s.adopted_states) if len(s.adopted_states) != 1 else st == s.adopted_states[0]
                scores[seen, j] = -np.inf
                if authors[j] >= 0:
                    scores[block == authors[j], j] = -np.inf
            rows, cols = top_k_per_row(scores, k)
            parts_r.append(block[rows])
            parts_j.append(cols)
            sh = sharers[rows, cols]
            parts_s.append(np.where(sh >= 0, sh, authors[cols]))
        agents = np.concatenate(parts_r)
        cols = np.concatenate(parts_j)
        srcs = np.concatenate(parts_s).astype(np.int32)
        out.feed_items = int(agents.size)
        if agents.size:
            order = np.lexsort((agents, cols))
            agents, cols, srcs = agents[order], cols[order], srcs[order]
            bounds = np.searchsorted(cols, np.arange(m + 1))
            for j, s in enumerate(live):
                a, b = bounds[j], bounds[j + 1]
                if a == b:
                    continue
                ag, sr = agents[a:b], srcs[a:b]
                result[s.id] = (ag, sr)
                fresh = ~s.feed_seen[ag]
                if fresh.any():
                    s.feed_seen[ag[fresh]] = True
                    s.feed_exposed += int(fresh.sum())
                    out.feed_new_exposures += int(fresh.sum())
                    exposed = np.empty(int(fresh.sum()), dtype=[("tick", "<i8"), ("agent", "<i8"), ("source", "<i8")])
                    exposed["tick"], exposed["agent"], exposed["source"] = tick, ag[fresh], sr[fresh]
                    self.pending_exposures.append((s.id, exposed, s.recommender or default))
        out.feed_seconds = time.perf_counter() - t0
        return result

    def take_exposures(self) -> list[tuple[int, np.ndarray, str]]:
        out, self.pending_exposures = self.pending_exposures, []
        return out

    # -- 2. learning ------------------------------------------------------------------------------
    def learn(self, tick: int, stepped: list[PropagationSession], out: SocialTick) -> None:
        """Trust and reputation from this tick's rounds (see the module docstring)."""
        s_cfg = self.settings
        world = self.world
        g = world.graph
        rng = self._rng(tick, 2)
        succ_src: list[np.ndarray] = []
        ign_src: list[np.ndarray] = []
        rep_src: list[np.ndarray] = []
        touched: list[np.ndarray] = []
        trust = g.trust
        for s in stepped:
            rnd = s.last_round
            if rnd is None:
                continue
            eids, esrc, etgt = rnd["edges"], rnd["sources"], rnd["targets"]
            if esrc is None:  # the model did not gather the senders: they follow from the edge ids
                esrc = (np.searchsorted(g.out_indptr, eids, side="right") - 1).astype(np.int32)
            if eids.size:
                adopted_now = (s.adopted_at[etgt] == tick) & (s.adopted_from[etgt] == esrc)
                ignored = ~adopted_now & (s.state[etgt] == 0)
                e_ok, e_no = eids[adopted_now], eids[ignored]
                if e_ok.size and s_cfg["trust_gain"] > 0:
                    trust[e_ok] += np.float32(s_cfg["trust_gain"]) * (np.float32(1.0) - trust[e_ok])
                if e_no.size and s_cfg["trust_loss"] > 0:
                    trust[e_no] *= np.float32(1.0 - s_cfg["trust_loss"])
                if e_ok.size or e_no.size:
                    touched.append(np.concatenate([e_ok, e_no]))
                succ_src.append(esrc[adopted_now])
                ign_src.append(esrc[ignored])
                if s_cfg["report_rate"] > 0 and ignored.any():
                    topics = np.uint64(int(s.message.get("topics", 0) or 0) & 0xFFFFFFFFFFFFFFFF)
                    off = (world.columns["interests"][etgt[ignored]] & topics) == 0
                    report = off & (rng.random(int(ignored.sum())) < s_cfg["report_rate"])
                    rep_src.append(esrc[ignored][report])
            fa, fs = rnd["feed_adopted"], rnd["feed_sources"]
            if fa.size:
                succ_src.append(fs[fs >= 0])
        if touched:
            world.note_trust(np.concatenate(touched))
        rep = world.columns["reputation"]
        changed = False
        for arr, kind in ((succ_src, "gain"), (ign_src, "loss"), (rep_src, "report")):
            if not arr:
                continue
            src = np.concatenate(arr)
            src = src[src >= 0]
            if not src.size:
                continue
            who, count = np.unique(src, return_counts=True)
            r = rep[who].astype(np.float64)
            if kind == "gain":
                r = 1.0 - (1.0 - r) * (1.0 - s_cfg["reputation_gain"]) ** count
            elif kind == "loss":
                r = r * (1.0 - s_cfg["reputation_loss"]) ** count
            else:
                r = r * (1.0 - s_cfg["report_penalty"]) ** count
                out.reports += int(count.sum())
            rep[who] = np.clip(r, 0.0, 1.0).astype(np.float32)
            changed = True
        if changed:
            world.dirty_arrays.add("agent.reputation")

    # -- 3. friends -------------------------------------------------------------------------------
    def friends(self, tick: int, online: np.ndarray, out: SocialTick) -> None:
        """Follows from suggestions, unfollows from low trust and fatigue (into the world's delta)."""
        t0 = time.perf_counter()
        world = self.world
        cfg = self.settings
        g = world.graph
        delta = world.delta
        agents = np.flatnonzero(online).astype(np.int32)
        if agents.size == 0:
            return
        if self.friend_recommender() is not None:
            rng = self._rng(tick, 3)
            looking = agents
            if cfg["suggest_share"] < 1.0:
                looking = agents[rng.random(agents.size) < cfg["suggest_share"]]
            a, c, _ = self.suggestions(tick, looking, rng, out)
            if a.size:
                compat = compatibility(world, a, c)
                accept = rng.random(a.size) < cfg["accept_rate"] * compat
                if accept.any():
                    delta.follow(c[accept], a[accept], (0.3 + 0.5 * compat[accept]).astype(np.float32))
                    out.follows += int(accept.sum())
        # unfollows: low trust, then fatigue
        rng = self._rng(tick, 4)
        pos, counts = csr_positions(g.in_indptr, agents)
        if pos.size:
            follower = np.repeat(agents, counts)
            followee = g.in_indices[pos]
            t = g.trust[g.in_edge[pos]]
            low = t < cfg["unfollow_trust"]
            if low.any() and cfg["unfollow_rate"] > 0:
                drop = np.flatnonzero(low)
                drop = drop[rng.random(drop.size) < cfg["unfollow_rate"]]
                if drop.size:
                    delta.unfollow(followee[drop], follower[drop])
                    out.unfollows += int(drop.size)
            tired = counts > cfg["fatigue_following"]
            if tired.any() and cfg["fatigue_rate"] > 0:
                tired &= rng.random(agents.size) < cfg["fatigue_rate"]
                if tired.any():
                    starts = np.cumsum(counts) - counts
                    # least trusted followee of each tired agent: min over (trust bits, position) per row
                    key = (t.view(np.int32).astype(np.int64) << 32) | np.arange(t.size, dtype=np.int64) - np.repeat(
                        starts, counts
                    )
                    nonempty = counts > 0
                    best = np.minimum.reduceat(key, starts[nonempty])
                    rows = np.flatnonzero(nonempty)
                    sel = tired[rows]
                    local = best[sel] & 0xFFFFFFFF
                    at = starts[rows[sel]] + local
                    delta.unfollow(followee[at], follower[at])
                    out.unfollows += int(at.size)
        out.friend_seconds = time.perf_counter() - t0

    def suggestions(
        self, tick: int, looking: np.ndarray, rng: np.random.Generator | None = None, out: SocialTick | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The friend recommender's suggestions for ``looking`` (agent indices, ascending), after the
        core's rules: no self-suggestions, no one already followed, only active or idle candidates, each
        agent's ``suggestions`` best (ties to the lower index). Aligned ``(agents, candidates, scores)``,
        grouped by agent, best first."""
        empty = (np.empty(0, dtype=np.int32), np.empty(0, dtype=np.int32), np.empty(0))
        rec = self.friend_recommender()
        looking = np.asarray(looking, dtype=np.int32)
        if rec is None or looking.size == 0:
            return empty
        world = self.world
        rng = rng if rng is not None else self._rng(tick, 3)
        ctx = FriendContext(world, looking, int(self.settings["suggestions"]), tick, rng, rec.p)
        try:
            a, c, sc = self.call(
                _suggested,
                self._friend_name or "",
                rec,
                ctx,
                world.n,
                what=f"friend recommender {self._friend_name}",
                where="suggesting",
                then="recommender switched off",
            )
        except BaseException as exc:  # noqa: BLE001 - a plugin may raise anything; over the budget: PluginTimeout
            self._fail(f"friend:{self._friend_name}", exc, out if out is not None else SocialTick())
            return empty
        if a.size == 0:
            return empty
        st = world.columns["status"]
        asking = np.zeros(world.n, dtype=bool)
        asking[looking] = True
        ok = (a != c) & ((st[c] == Status.ACTIVE) | (st[c] == Status.IDLE)) & asking[a]
        a, c, sc = a[ok], c[ok], sc[ok]
        k = int(self.settings["suggestions"])
        # The k best that are not followed yet: look up follows among the 2k best only (an agent that
        # already follows more than k of its 2k best gets fewer than k suggestions this tick).
        keep = top_k_per_group(a, c, sc, 2 * k)
        a, c, sc = a[keep], c[keep], sc[keep]
        ok = ~follows(world.graph, a, c)
        a, c, sc = a[ok], c[ok], sc[ok]
        keep = top_k_per_group(a, c, sc, k)
        return a[keep], c[keep], sc[keep]

    # -- 4. churn ---------------------------------------------------------------------------------
    def churn(self, tick: int, out: SocialTick) -> None:
        """Joins, departures and idling (vectorised lifecycle transitions)."""

        cfg = self.settings
        world = self.world
        if not any(cfg[k] > 0 for k in ("join_rate", "leave_rate", "idle_rate", "return_rate")):
            return
        rng = self._rng(tick, 5)
        st = world.columns["status"]
        g = world.graph

        def pick(mask: np.ndarray, rate: float) -> np.ndarray:
            pool = np.flatnonzero(mask)
            if rate <= 0 or pool.size == 0:
                return np.empty(0, dtype=np.int64)
            k = int(rng.binomial(pool.size, rate))
            return np.sort(rng.choice(pool, size=k, replace=False)) if k else np.empty(0, dtype=np.int64)

        joiners = pick(st == Status.CREATED, cfg["join_rate"])
        leavers = pick((st == Status.ACTIVE) | (st == Status.IDLE), cfg["leave_rate"])
        idlers = pick(st == Status.ACTIVE, cfg["idle_rate"])
        returners = pick(st == Status.IDLE, cfg["return_rate"])
        idlers = idlers[~np.isin(idlers, leavers)]
        returners = returners[~np.isin(returners, leavers)]
        if leavers.size:
            transition(world, leavers, Status.DEACTIVATED)
            out_pos, out_c = csr_positions(g.out_indptr, leavers)
            in_pos, in_c = csr_positions(g.in_indptr, leavers)
            world.delta.unfollow(np.repeat(leavers, out_c), g.out_indices[out_pos])
            world.delta.unfollow(g.in_indices[in_pos], np.repeat(leavers, in_c))
            out.leaves = int(leavers.size)
            out.unfollows += int(out_pos.size + in_pos.size)
        if idlers.size:
            transition(world, idlers, Status.IDLE)
        if returners.size:
            transition(world, returners, Status.ACTIVE)
        if joiners.size:
            transition(world, joiners, Status.ACTIVE)
            out.joins = int(joiners.size)
            k = int(cfg["join_follows"])
            if k and g.num_edges:
                # Follow agents in proportion to their followers: the source of a uniformly random edge.
                eids = rng.integers(0, g.num_edges, size=joiners.size * k)
                followed = (np.searchsorted(g.out_indptr, eids, side="right") - 1).astype(np.int64)
                ok = (st[followed] == Status.ACTIVE) | (st[followed] == Status.IDLE)
                who = np.repeat(joiners, k)
                world.delta.follow(followed[ok], who[ok], 0.5)
                out.follows += int(ok.sum())

    # -- 5. merge ---------------------------------------------------------------------------------
    def maybe_merge(self, tick: int, out: SocialTick, force: bool = False) -> None:
        """Merge the buffered follows and unfollows into the CSR every ``merge_every`` ticks."""
        if self.world.delta.pending == 0:
            return
        if not force and (tick + 1) % int(self.settings["merge_every"]) != 0:
            return
        t0 = time.perf_counter()
        out.merged = self.world.merge_delta()
        out.merge_seconds = time.perf_counter() - t0


def follows(g: Graph, agents: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Whether ``agents[i]`` already follows ``candidates[i]`` (a search in the agents' sorted followee rows)."""
    return _row_search(g.in_indptr, g.in_indices, g.n, agents, candidates)[1]


def _ranks(scores: np.ndarray) -> np.ndarray:
    """Per row, minus the rank of each finite score (0 best), ``-inf`` kept."""
    s = np.where(np.isnan(scores), -np.inf, scores)
    order = np.argsort(-s, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(s.shape[1])[None, :].repeat(s.shape[0], axis=0), axis=1)
    return np.where(s > -np.inf, -ranks.astype(np.float64), -np.inf)


def _scored(name: str, rec: ContentRecommender, ctx: FeedContext, n: int) -> tuple[np.ndarray, np.ndarray | None]:
    """A content recommender's scores, checked (plugin code: runs under the plugin budget)."""
    return _check_scores(name, rec.score(ctx), ctx.shape, n)


def _suggested(
    name: str, rec: FriendRecommender, ctx: FriendContext, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A friend recommender's suggestions, checked (plugin code: runs under the plugin budget)."""
    return _check_suggestions(name, rec.suggest(ctx), n)


def _check_scores(name: str, answer: Any, shape: tuple[int, int], n: int) -> tuple[np.ndarray, np.ndarray | None]:
    sharers = None
    if isinstance(answer, tuple):
        if len(answer) != 2:
            raise RecommenderFailure(
                f"recommender {name} returned a tuple of {len(answer)}; expected scores or (scores, sharers)"
            )
        answer, sharers = answer
    scores = np.asarray(answer)
    if scores.shape != shape or scores.dtype.kind not in "fiub":
        raise RecommenderFailure(
            f"recommender {name} returned scores of shape {scores.shape} and dtype {scores.dtype}; expected {shape} "
            "numbers"
        )
    scores = scores.astype(np.float64, copy=False)
    if np.isposinf(scores).any():
        raise RecommenderFailure(f"recommender {name} returned +inf scores; use finite numbers (-inf hides an item)")
    if sharers is not None:
        sharers = np.asarray(sharers)
        if sharers.shape != shape or sharers.dtype.kind not in "iu":
            raise RecommenderFailure(
                f"recommender {name} returned sharers of shape {sharers.shape}; expected {shape} integers"
            )
        if sharers.size and (sharers.min() < -1 or sharers.max() >= n):
            raise RecommenderFailure(f"recommender {name} returned sharers outside -1..{n - 1}")
        sharers = sharers.astype(np.int32)
    return scores, sharers


def _check_suggestions(name: str, answer: Any, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not isinstance(answer, tuple) or len(answer) != 3:
        raise RecommenderFailure(f"friend recommender {name} must return (agents, candidates, scores)")
    a, c, s = (np.asarray(x) for x in answer)
    if not (a.ndim == c.ndim == s.ndim == 1 and a.shape == c.shape == s.shape):
        raise RecommenderFailure(
            f"friend recommender {name} returned arrays of shapes {a.shape}, {c.shape}, {s.shape}; expected three "
            "aligned 1-D arrays"
        )
    if a.size and (a.dtype.kind not in "iu" or c.dtype.kind not in "iu" or s.dtype.kind not in "fiub"):
        raise RecommenderFailure(
            f"friend recommender {name} returned agents or candidates that are not integers, or scores that are not "
            "numbers"
        )
    if a.size and (min(a.min(), c.min()) < 0 or max(a.max(), c.max()) >= n):
        raise RecommenderFailure(f"friend recommender {name} returned agent indices outside 0..{n - 1}")
    s = s.astype(np.float64)
    if a.size and not np.isfinite(s).all():
        raise RecommenderFailure(f"friend recommender {name} returned scores that are not finite")
    return a.astype(np.int32), c.astype(np.int32), s
