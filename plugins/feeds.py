"""Content recommenders: what each online agent sees in its feed.

Every tick the core hands a recommender a block of online readers and the live messages (those whose
propagation sessions are running) and asks for an (R, M) array of scores: higher first, ``-inf`` never.
The core then removes messages the reader already adopted or wrote and keeps each reader's
``feed_size`` best; ties go to the older message. Each recommender below states its score exactly.

- ``chronological``: messages shared by someone the reader follows (adopted by a followee, or written
  by one), newest share first. Score: the tick of the latest such share (the message's creation tick
  when a followee wrote it). Credited: that followee.
- ``hot``: a Reddit-style ranking, the same for every reader: ``log10(max(adoptions, 1)) + created /
  half_life``, where ``created`` is the message's creation time in hours of simulated time. Ten times
  the adoptions is worth ``half_life`` hours of recency.
- ``interest``: the share of the message's topics the reader is interested in; messages with no topic in
  common are not shown. Ties go to the message whose author has the higher reputation.
- ``collaborative``: item-to-item collaborative filtering on co-adoption. The similarity of two messages
  is the cosine of their adopter sets, ``|A ∩ B| / sqrt(|A| |B|)`` (estimated from at most ``sample``
  adopters of the live message); a reader's score for a live message is the sum of its similarities to
  the messages (live or finished, the latest ``history``) the reader adopted. Only scores above 0 are shown.
- ``social-proof``: how many of the reader's followees adopted the message (at least ``min_followees``).
  Credited: the followee who adopted last.
- ``random``: uniformly random scores: any live message, in random order.
- ``topic-fresh``: messages that share a topic with the reader, fresher and more adopted first (see its
  class); also the code of ``agora plugins new --template recommender``.
"""

from __future__ import annotations

import numpy as np

from sim.plugin import ContentRecommender, FeedContext, Param


class Chronological(ContentRecommender):
    name = "chronological"
    version = "1.0"
    description = "Followees' messages, newest share first."
    params = {}

    def score(self, ctx: FeedContext) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        count, latest, sharer = ctx.followee_adoptions()
        scores = np.where(count > 0, latest.astype(np.float64), -np.inf)
        by_author = ctx.follows_author()
        wrote = np.broadcast_to(ctx.created[None, :].astype(np.float64), scores.shape)
        newer = by_author & ~(scores >= wrote)
        scores = np.where(newer, wrote, scores)
        sharer = np.where(newer, ctx.authors[None, :], sharer).astype(np.int32)
        return scores, sharer


class Hot(ContentRecommender):
    name = "hot"
    version = "1.0"
    description = "Reddit-style hot ranking from adoptions and age, the same for everyone."
    params = {
        "half_life": Param(float, 12.5, 0.01, 1e6, "hours of recency worth ten times the adoptions"),
    }

    def score(self, ctx: FeedContext) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        hours = ctx.created.astype(np.float64) * ctx.minutes_per_tick / 60.0
        per_message = np.log10(np.maximum(ctx.adopted, 1).astype(np.float64)) + hours / self.p["half_life"]
        return np.broadcast_to(per_message[None, :], ctx.shape).copy()


class Interest(ContentRecommender):
    name = "interest"
    version = "1.0"
    description = "Topic match between message and reader; author reputation breaks ties."
    params = {}

    def score(self, ctx: FeedContext) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        match = ctx.interest_match()
        rep = np.where(ctx.authors >= 0, ctx.columns["reputation"][np.maximum(ctx.authors, 0)], 0.0).astype(np.float64)
        # The tie-break term is below the smallest step between two matches (1/64 * 1/64).
        return np.where(match > 0, match + rep[None, :] * 1e-4, -np.inf)


class Collaborative(ContentRecommender):
    name = "collaborative"
    version = "1.0"
    description = "Item-to-item collaborative filtering on co-adoption history."
    params = {
        "history": Param(int, 64, 1, 4096, "how many of the latest messages count as history"),
        "sample": Param(int, 20000, 100, 10**8, "adopters of a live message used to estimate similarities"),
    }

    def score(self, ctx: FeedContext) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        live = ctx.sessions
        past = list(ctx.recent_sessions(self.p["history"]))
        live_ids = {s.id for s in live}
        past = [s for s in past if s.id not in live_ids]
        scores = np.zeros(ctx.shape)
        if not past:
            return np.full(ctx.shape, -np.inf)
        sizes = np.array([np.count_nonzero(s.adopted_at >= 0) for s in past], dtype=np.float64)
        # reader x history adoption matrix
        hist = np.stack([s.adopted_at[ctx.readers] >= 0 for s in past], axis=1).astype(np.float64)
        for j, s in enumerate(live):
            adopters = np.flatnonzero(s.adopted_at >= 0)
            if adopters.size == 0:
                continue
            if adopters.size > self.p["sample"]:
                sample = ctx.rng.choice(adopters, size=self.p["sample"], replace=False)
            else:
                sample = adopters
            scale = adopters.size / sample.size
            overlap = np.array([np.count_nonzero(h.adopted_at[sample] >= 0) for h in past], dtype=np.float64) * scale
            sim = np.divide(overlap, np.sqrt(sizes * adopters.size), out=np.zeros_like(overlap), where=sizes > 0)
            scores[:, j] = hist @ sim
        return np.where(scores > 0, scores, -np.inf)


class SocialProof(ContentRecommender):
    name = "social-proof"
    version = "1.0"
    description = "Messages ranked by how many of the reader's followees adopted them."
    params = {
        "min_followees": Param(int, 1, 1, 10**6, "followees who must have adopted a message before it is shown"),
    }

    def score(self, ctx: FeedContext) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        count, _, sharer = ctx.followee_adoptions()
        return np.where(count >= self.p["min_followees"], count.astype(np.float64), -np.inf), sharer


class RandomFeed(ContentRecommender):
    name = "random"
    version = "1.0"
    description = "Live messages in random order (a baseline)."
    params = {}

    def score(self, ctx: FeedContext) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        return ctx.rng.random(ctx.shape)


class TopicFresh(ContentRecommender):
    """Messages that share a topic with the reader, fresher and more adopted first.

    Every tick the core calls ``score`` with a block of online readers (R) and the live messages (M) and
    takes an (R, M) array of scores: higher is shown first; -inf (or nan) means never show. The score of
    message m for reader r is

        match(r, m) * 0.5 ** (age(m) / half_life)  +  popularity * log10(1 + adopted(m)) / 10

    where ``match`` is the share of the message's topics the reader is interested in, ``age`` the
    message's age in hours of simulated time and ``adopted`` its adoptions so far. A message that shares
    no topic with the reader (``match`` 0; a message without topics shares none) scores -inf: never shown.
    The core then drops what the reader adopted or wrote and keeps the ``feed_size`` best.
    """

    # What users type (`--recommender topic-fresh`), and what `agora plugins list` shows.
    name = "topic-fresh"
    version = "1.0"
    description = "Messages sharing a topic with the reader; fresher and more adopted first."
    # The parameter schema: type, default, min, max, help (validated before the recommender is made).
    params = {
        "half_life": Param(float, 6.0, 0.1, 10_000.0, "hours after which a message's topic score halves"),
        "popularity": Param(float, 0.1, 0.0, 10.0, "weight of log10(1 + adoptions) / 10"),
    }

    def score(self, ctx: FeedContext) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        # Arrays of the context are read-only views of the world's: compute new arrays, never write in them.
        match = ctx.interest_match()  # (R, M) floats in [0, 1]
        age = (ctx.tick - ctx.created).astype(np.float64) * ctx.minutes_per_tick / 60.0  # (M,) hours
        fresh = 0.5 ** (np.maximum(age, 0.0) / self.p["half_life"])
        popular = self.p["popularity"] * np.log10(1.0 + ctx.adopted) / 10.0  # (M,)
        scores = match * fresh[None, :] + popular[None, :]
        # Randomness, if you need it, only from ctx.rng (this tick's seeded generator): runs replay exactly.
        return np.where(match > 0, scores, -np.inf)
