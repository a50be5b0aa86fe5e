"""Friend recommenders: whom each online agent is suggested to follow.

Each tick the core hands a recommender the agents looking for suggestions and expects aligned arrays
``(agents, candidates, scores)``. It drops self-suggestions, accounts already followed and candidates
that are not active, keeps each agent's ``suggestions`` best (ties to the lower index) and lets the
agent accept with probability ``accept_rate * compatibility``. Each recommender states its score.

- ``common-neighbours``: "followed by people you follow": the score of ``c`` for ``a`` is the number of
  agents ``f`` with ``a`` following ``f`` and ``f`` following ``c``.
- ``adamic-adar``: the same paths, each weighted ``1 / log(degree(f))`` where ``degree`` counts the
  followers and followees of ``f`` (at least 2 on such a path), so paths through hubs count less.
- ``interest-compatibility``: ``candidates`` uniformly random active agents per agent, scored by
  compatibility: the mean of shared interests (Jaccard of the topic sets), activity overlap (cosine of
  the two hourly profiles) and the candidate's reputation.
- ``random``: uniformly random active agents (a baseline).
- ``friends-of-friends``: the paths of ``common-neighbours`` plus a weight of compatibility (see its
  class); also the code of ``agora plugins new --template friend-recommender``.

The two path-based recommenders look at no more than ``fanout`` followees per agent and per middle agent
(a window at a random offset when there are more), so a tick costs at most ``agents * fanout**2`` paths
(fanout 6 by default); with smaller degrees every path counts and the scores are exact.
"""

from __future__ import annotations

import numpy as np

from sim.plugin import FriendContext, FriendRecommender, Param, aggregate_pairs

_FANOUT = Param(int, 6, 1, 1000, "followees looked at per agent and per middle agent")


class CommonNeighbours(FriendRecommender):
    name = "common-neighbours"
    version = "1.0"
    description = "Suggest accounts followed by the accounts you follow (count of such paths)."
    params = {"fanout": _FANOUT}

    def suggest(self, ctx: FriendContext) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a, _, c = ctx.two_hop(self.p["fanout"])
        return aggregate_pairs(a, c, 1.0, ctx.n)


class AdamicAdar(FriendRecommender):
    name = "adamic-adar"
    version = "1.0"
    description = "Common neighbours weighted by 1/log(degree) of the agent in the middle."
    params = {"fanout": _FANOUT}

    def suggest(self, ctx: FriendContext) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a, f, c = ctx.two_hop(self.p["fanout"])
        g = ctx.graph
        deg = (
            g.out_indptr[f.astype(np.int64) + 1]
            - g.out_indptr[f]
            + g.in_indptr[f.astype(np.int64) + 1]
            - g.in_indptr[f]
        )
        weight = 1.0 / np.log(np.maximum(deg, 2).astype(np.float64))
        return aggregate_pairs(a, c, weight, ctx.n)


class InterestCompatibility(FriendRecommender):
    name = "interest-compatibility"
    version = "1.0"
    description = "Random active candidates scored by shared interests, activity overlap and reputation."
    params = {"candidates": Param(int, 32, 1, 10000, "random candidates scored per agent")}

    def suggest(self, ctx: FriendContext) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a, c = ctx.candidates_random(self.p["candidates"])
        return a, c, ctx.compatibility(a, c)


class RandomFriends(FriendRecommender):
    name = "random"
    version = "1.0"
    description = "Uniformly random active agents (a baseline)."
    params = {}

    def suggest(self, ctx: FriendContext) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a, c = ctx.candidates_random(ctx.k)
        return a, c, np.zeros(a.size)


class FriendsOfFriends(FriendRecommender):
    """Friends of friends, joined by more paths and more compatible first.

    Every tick the core calls ``suggest`` with the agents looking for suggestions and takes three aligned
    arrays ``(agents, candidates, scores)``: ``agents[i]`` could follow ``candidates[i]``, higher scores
    first. The candidates of an agent are the agents followed by the agents it follows (at most ``fanout``
    followees looked at per agent and per middle agent); the score of a candidate is

        paths + interest_weight * compatibility

    where ``paths`` counts the followees through which it was reached and ``compatibility`` (in [0, 1]) is
    the mean of shared interests, activity overlap and the candidate's reputation. Scores must be finite.
    The core drops self-suggestions, agents already followed and inactive candidates, keeps each agent's
    ``suggestions`` best and lets the agent accept with probability ``accept_rate * compatibility``.
    """

    # What users type (`--friend-recommender friends-of-friends`), and what `agora plugins list` shows.
    name = "friends-of-friends"
    version = "1.0"
    description = "Friends of friends, joined by more paths and more compatible first."
    params = {
        "fanout": Param(int, 6, 1, 100, "followees looked at per agent and per middle agent"),
        "interest_weight": Param(float, 1.0, 0.0, 100.0, "weight of compatibility against the number of paths"),
    }

    def suggest(self, ctx: FriendContext) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # Paths agent -> f -> candidate: the agent follows f and f follows the candidate (randomness,
        # where there are more followees than fanout, comes from ctx.rng inside two_hop).
        agents, _, candidates = ctx.two_hop(self.p["fanout"])
        agents, candidates, paths = aggregate_pairs(agents, candidates, 1.0, ctx.n)  # distinct pairs, paths summed
        return agents, candidates, paths + self.p["interest_weight"] * ctx.compatibility(agents, candidates)
