"""What a recommender is and what it sees: content recommenders build feeds, friend recommenders suggest
whom to follow. Their contexts are :class:`FeedContext` and :class:`FriendContext`, which list exactly
what a recommender may use (the engine's are in ``sim.social.dynamics``); both start from
:class:`RecommenderContext`, what every recommender sees."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np

from sim.plugin.base import Plugin
from sim.plugin.views import GraphView, SessionView, WorldView


@runtime_checkable
class RecommenderContext(Protocol):
    """What every recommender sees each tick, whichever its kind: the clock, the world and this tick's
    generator. Arrays are read-only; randomness comes only from ``rng``."""

    @property
    def tick(self) -> int:
        """The tick now."""

    @property
    def n(self) -> int:
        """Agents in the world (the length of every column)."""

    @property
    def rng(self) -> np.random.Generator:
        """This tick's generator, seeded from the world's seed and the tick."""

    @property
    def columns(self) -> Mapping[str, np.ndarray]:
        """The world's agent columns by name, read-only."""

    @property
    def graph(self) -> GraphView: ...
    @property
    def world(self) -> WorldView: ...


@runtime_checkable
class FeedContext(RecommenderContext, Protocol):
    """What a content recommender sees each tick: a block of R online readers and the M live messages, and
    all of :class:`RecommenderContext`."""

    @property
    def readers(self) -> np.ndarray:
        """(R,) int32: the online readers, ascending."""

    @property
    def sessions(self) -> Sequence[SessionView]:
        """The M live propagation sessions (their messages), read-only."""

    @property
    def shape(self) -> tuple[int, int]:
        """(R, M): the shape of the scores to return."""

    @property
    def topics(self) -> np.ndarray:
        """(M,) uint64: each message's topic mask."""

    @property
    def authors(self) -> np.ndarray:
        """(M,) int32: each message's author (-1 external)."""

    @property
    def created(self) -> np.ndarray:
        """(M,) int64: the tick each message was created."""

    @property
    def adopted(self) -> np.ndarray:
        """(M,) int64: each message's adoptions so far."""

    @property
    def minutes_per_tick(self) -> int: ...

    def interest_match(self) -> np.ndarray:
        """(R, M) float64: the share of each message's topics the reader is interested in."""

    def followee_adoptions(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(R, M) each: how many of the reader's followees adopted the message, the tick of the latest
        such adoption (-1 none) and that followee (-1 none)."""

    def follows_author(self) -> np.ndarray:
        """(R, M) bool: whether the reader follows the message's author."""

    def recent_sessions(self, last: int) -> Sequence[SessionView]:
        """The latest ``last`` sessions that have started (running or ended), oldest first, read-only."""


@runtime_checkable
class FriendContext(RecommenderContext, Protocol):
    """What a friend recommender sees each tick: the A agents looking for suggestions, and all of
    :class:`RecommenderContext`."""

    @property
    def agents(self) -> np.ndarray:
        """(A,) int32: the online agents looking for suggestions, ascending."""

    @property
    def k(self) -> int:
        """Suggestions the core keeps per agent."""

    def two_hop(self, fanout: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Paths ``agent -> f -> c`` (the agent follows f, f follows c): aligned ``(agents, middles,
        candidates)``, at most ``fanout`` followees per agent and per middle agent."""

    def candidates_random(self, per_agent: int) -> tuple[np.ndarray, np.ndarray]:
        """``per_agent`` uniformly random active agents for each agent: aligned ``(agents, candidates)``."""

    def active_pool(self) -> np.ndarray:
        """Agents that can be followed (active or idle), ascending int32."""

    def compatibility(self, agents: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """Compatibility in [0, 1] of each pair: shared interests, activity overlap, the candidate's reputation."""


class Recommender(Plugin):
    """A recommender: :class:`ContentRecommender` (feeds) or :class:`FriendRecommender` (whom to follow)."""

    kind: ClassVar[str] = "recommender"
    #: ``"content"`` or ``"friend"``.
    role: ClassVar[str] = ""


class ContentRecommender(Recommender):
    """Builds feeds: every tick, for the agents online, which live messages to show.

    Override :meth:`score`. The core calls it with a :class:`FeedContext` holding a block
    of online readers (``ctx.readers``, R of them) and the live messages (M: the messages whose
    propagation sessions are running). It answers with an (R, M) array of scores — higher is shown
    first; ``-inf`` or ``nan`` means never show that message to that reader — or a pair ``(scores,
    sharers)`` where ``sharers`` (R, M) int32 names the agent credited for each item (a followee who
    shared it; ``-1`` for none, in which case the message's author is credited when it has one).

    The core then drops messages the reader already adopted or wrote, keeps each reader's ``K`` best
    (``feed_size``; ties go to the older message) and hands each item to its session's model as a
    feed exposure. One instance is made per simulation; per-tick randomness comes from ``ctx.rng``.

    The arrays of the context are the world's own, read-only: compute new arrays, never write to them.
    The answer must depend only on the context and ``ctx.rng``: the same tick with the same generator
    gives the same scores (keep nothing on ``self`` that changes from call to call). ``agora plugins
    check`` checks all of this through the engine, across the parameter space.
    """

    role: ClassVar[str] = "content"

    def score(self, ctx: FeedContext) -> np.ndarray | tuple[np.ndarray, np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError


class FriendRecommender(Recommender):
    """Suggests whom to follow.

    Override :meth:`suggest`. The core calls it with a :class:`FriendContext` holding the
    agents looking for suggestions this tick (``ctx.agents``, online ones) and answers with three aligned
    arrays ``(agents, candidates, scores)``: a suggestion that ``agents[i]`` follow ``candidates[i]``,
    higher scores first. The core drops self-suggestions, agents already followed and candidates that are
    not active, keeps each agent's ``k`` best (``suggestions``; ties go to the lower index) and lets the
    agent accept with a probability from compatibility. No Python loop over agents. Scores must be
    finite (drop a pair rather than scoring it ``-inf``); the context's arrays are read-only and
    randomness comes from ``ctx.rng``, as for a :class:`ContentRecommender`.
    """

    role: ClassVar[str] = "friend"

    def suggest(self, ctx: FriendContext) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError
