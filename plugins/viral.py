"""Content-aware contagion: a viral cascade, exposure-driven diffusion, and a mixture of the two.

All three are progressive with states ("susceptible", "adopted"); seeds adopt at the session's start and
an agent that adopts in round t counts from round t+1. Where several things could name an adopter's
source, the lowest-numbered candidate wins.

``viral`` — an independent cascade whose per-edge probability depends on the message and the agents.
Each agent that adopted in the previous round makes exactly one attempt along each out-edge ``u -> v``
to an agent that has not adopted, succeeding (one ``ctx.random_edges`` number per attempt) with::

    p_uv = clip(p * (1 + topic_weight * match_v) * (1 + influence_weight * influence_u)
                * max(0, 1 + reputation_weight * (reputation_u - 0.5))
                * trust_uv * susceptibility_v / (1 + fatigue_weight * fatigue_v), 0, 1)

evaluated left to right in double precision, where ``match_v = popcount(topics & interests_v) /
popcount(topics)`` (the share of the message's topics, ``ctx.message["topics"]``, that ``v`` is
interested in; 0 for a message without topics), ``reputation_u`` is the sender's reputation (the
``reputation`` column, in [0, 1]; a sender of reputation 0.5 neither helps nor hurts) and ``fatigue_v``
is how many attempts ``v`` received in this session before this round (``store["fatigue"]``, int32;
attempts of the same round all see the same value). After the round every attempted target's fatigue
grows by the attempts it received.

Feed exposures (when a content recommender runs): an agent that has not adopted and is shown the
message in its feed this round adopts with probability ``p_uv`` as above with ``u`` the feed's sharer
(``influence_u = 0`` and ``reputation_u = 0.5`` when there is none, sharer -1) and ``trust_uv``
replaced by ``feed_weight`` — clipped to [0, 1] after the formula, with ``fatigue_v`` the value before
this round — one ``ctx.random_agents`` number per such agent, agents ascending, drawn after the edge
attempts. Feed exposures do not add to fatigue. An agent that also adopts through an edge in the same
round counts as a graph adoption; a feed adoption is credited to the sharer.

``diffusion`` — adoption by accumulated exposure. At the start every agent draws a threshold once,
``theta_v = 1 - u_v`` (``u_v`` uniform in [0, 1) from ``ctx.random_agents`` over all agents), so
``theta_v`` is in (0, 1], kept as float32 in ``store["threshold"]``. Let ``pressure_v`` be the summed
trust of v's in-edges from agents that adopted before the round (``store["pressure"]``). Each round every
agent that has not adopted and has ``pressure_v > 0`` accumulates ``exposure_v += rate * pressure_v``
(``store["exposure"]``) and adopts when ``exposure_v >= theta_v``; its source is its lowest-numbered
followee that adopted before the round. The session ends after a round that adopts nobody when no
agent without adoption has pressure left (with ``rate`` 0: after any round that adopts nobody). With
``rate`` above 0 every agent in the seeds' out-component adopts in the end; only the timing is random.
Feed exposures: an agent that has not adopted and is shown the message in its feed this round gains
``exposure_v += rate * feed_weight`` once more, after its pressure share of the round, before the
adoption check (it gains it even without pressure; a feed exposure adds no pressure). An agent whose
exposure reaches its threshold without this round's feed share is a graph adoption as above; one that
reaches it only with it is a feed adoption, credited to the feed's sharer. No random numbers are drawn
after the start.

``hybrid`` — both mechanisms at once, blended by ``mix`` in [0, 1]. Each round the viral attempts are
made with probability ``(1 - mix) * p_uv`` (``p_uv`` as above, fatigue included) and exposure
accumulates as ``exposure_v += (mix * rate) * pressure_v`` against the thresholds drawn once at the start.
An agent adopts if a viral attempt on it succeeds or its exposure reaches its threshold; the source
is the successful viral sender when there is one, else its lowest-numbered adopted followee.
``mix = 0`` is exactly ``viral``; ``mix = 1`` adopts exactly as ``diffusion`` (the viral attempts then
never succeed but still count and tire their targets). Feed exposures act on both parts: a shown agent
that has not adopted draws one ``ctx.random_agents`` number against ``(1 - mix) * p_uv`` (the feed
probability of ``viral``) and gains ``exposure_v += (mix * rate) * feed_weight`` (as in ``diffusion``).
It adopts through the graph if a viral attempt along an edge succeeds (source: the sender) or else its
exposure reaches its threshold without this round's feed share (source: its lowest-numbered adopted
followee); otherwise through the feed if its feed draw succeeds or its exposure reaches the threshold
with the feed share (source: the feed's sharer).

Order within a round (all from the states at the start of the round): viral attempts, feed draws,
fatigue update, pressure from the agents that adopted last round, exposure accumulation (pressure, then
feed), adoption.
"""

from __future__ import annotations

import numpy as np

from sim.plugin import Param, PropagationModel, StepContext, StepResult, union_agents

_VIRAL_PARAMS = {
    "p": Param(float, 0.3, 0.0, 1.0, "base probability of one attempt, before the factors below"),
    "topic_weight": Param(float, 1.0, 0.0, 100.0, "a full topic-interest match multiplies the chance by 1 + weight"),
    "influence_weight": Param(
        float, 1.0, 0.0, 100.0, "the sender's influence multiplies the chance by 1 + weight * influence"
    ),
    "fatigue_weight": Param(
        float, 0.5, 0.0, 100.0, "earlier attempts on the receiver divide the chance by 1 + weight * attempts"
    ),
    "reputation_weight": Param(
        float,
        1.0,
        0.0,
        100.0,
        "the sender's reputation multiplies the chance by max(0, 1 + weight * (reputation - 0.5))",
    ),
    "feed_weight": Param(
        float,
        1.0,
        0.0,
        1e6,
        "a feed item is tried like an attempt along an edge of this trust (capped at 1 after the formula)",
    ),
}
_RATE = Param(float, 0.1, 0.0, 100.0, "exposure gained per round per unit of trust from adopted followees")
_FEED_WEIGHT = Param(
    float, 1.0, 0.0, 1e6, "a feed item adds exposure like this much trust from an adopted followee, for one round"
)


def _writable(ctx: StepContext, key: str) -> np.ndarray:
    """The store array ``key``, copied once if it came back read-only (a restored snapshot)."""
    arr = ctx.store[key]
    if not arr.flags.writeable:
        arr = ctx.store[key] = arr.copy()
    return arr


def _viral_probability(ctx: StepContext, p: dict, src: np.ndarray, dst: np.ndarray, trust: np.ndarray) -> np.ndarray:
    """``p_uv`` of the module docstring for the attempts ``src -> dst`` (float64, clipped to [0, 1]).
    A sender of -1 (a feed item without a sharer) has influence 0 and reputation 0.5."""
    topics = int(ctx.message.get("topics", 0) or 0) & 0xFFFFFFFFFFFFFFFF
    k = topics.bit_count()
    if k:
        common = np.bitwise_count(np.bitwise_and(ctx.columns["interests"][dst], np.uint64(topics)))
        match = common.astype(np.float64) / k
    else:
        match = np.zeros(dst.size)
    influence = ctx.columns["influence"][src].astype(np.float64)
    reputation = ctx.columns["reputation"][src].astype(np.float64)
    if src.size and src.min() < 0:
        nobody = src < 0
        influence[nobody] = 0.0
        reputation[nobody] = 0.5
    prob = p["p"] * (1.0 + p["topic_weight"] * match)
    prob *= 1.0 + p["influence_weight"] * influence
    prob *= np.maximum(0.0, 1.0 + p["reputation_weight"] * (reputation - 0.5))
    prob *= trust.astype(np.float64)
    prob *= ctx.columns["susceptibility"][dst].astype(np.float64)
    prob /= 1.0 + p["fatigue_weight"] * ctx.store["fatigue"][dst].astype(np.float64)
    return np.clip(prob, 0.0, 1.0, out=prob)


def _feed_probability(ctx: StepContext, p: dict, shown: np.ndarray, sharers: np.ndarray) -> np.ndarray:
    """The viral probability of feed items: sender = the sharer, trust = ``feed_weight``."""
    return _viral_probability(ctx, p, sharers, shown, np.full(shown.size, p["feed_weight"]))


def _tire(ctx: StepContext, dst: np.ndarray) -> None:
    """Add this round's attempts to the fatigue of their targets."""
    if dst.size:
        fatigue = _writable(ctx, "fatigue")
        hit, count = np.unique(dst, return_counts=True)
        fatigue[hit] += count.astype(np.int32)


def _accumulate(
    ctx: StepContext,
    dst: np.ndarray,
    trust: np.ndarray,
    rate: float,
    shown: np.ndarray | None = None,
    boost: float = 0.0,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Add new pressure along ``dst`` (edges from last round's adopters to agents that have not
    adopted), accumulate exposure for every pending agent, then ``boost`` for every ``shown`` agent (feed
    exposures of agents that have not adopted). Returns the agents that reach their threshold without
    the boost (ascending) and, when there is a boost, a mask over ``shown`` of the others that reach it
    with the boost (else None). Both are removed from ``store["pending"]``."""
    pressure = _writable(ctx, "pressure")
    exposure = _writable(ctx, "exposure")
    touched, inv = np.unique(dst, return_inverse=True)
    pressure[touched] += np.bincount(inv, weights=trust.astype(np.float64), minlength=touched.size)
    pending = union_agents(ctx.store["pending"], touched[pressure[touched] > 0])
    exposure[pending] += rate * pressure[pending]
    threshold = ctx.store["threshold"]
    reached = exposure[pending] >= threshold[pending]
    left = pending[~reached]
    by_graph = pending[reached]
    fed = None
    if shown is not None and shown.size and boost != 0:
        exposure[shown] += boost
        fed = (exposure[shown] >= threshold[shown]) & ~np.isin(shown, by_graph)
        if fed.any():
            left = left[~np.isin(left, shown[fed])]
    ctx.store["pending"] = left.astype(np.int32)
    return by_graph, fed


def _lowest_adopted_followee(ctx: StepContext, agents: np.ndarray) -> np.ndarray:
    """For each listed agent (ascending), its lowest-numbered followee that has adopted, or -1."""
    out = np.full(agents.size, -1, dtype=np.int32)
    if agents.size:
        targets, followees = ctx.followees(agents)
        adopted = ctx.adopted_mask(followees)
        # Followees come ascending within each target's group, so the first adopted one is the lowest.
        who, first = np.unique(targets[adopted], return_index=True)
        out[np.searchsorted(agents, who)] = followees[adopted][first]
    return out


def _start_exposure(ctx: StepContext) -> None:
    n = ctx.n
    ctx.store["threshold"] = (1.0 - ctx.random_agents(np.arange(n, dtype=np.int32))).astype(np.float32)
    ctx.store["pressure"] = np.zeros(n, dtype=np.float64)
    ctx.store["exposure"] = np.zeros(n, dtype=np.float64)
    ctx.store["pending"] = np.empty(0, dtype=np.int32)


class ViralCascade(PropagationModel):
    name = "viral"
    uses_feed = True  # reads feed exposures (ctx.feed_open)
    version = "1.0"
    description = (
        "Viral cascade: one attempt per edge, likelier with topic match, influence and trust, less with fatigue."
    )
    params = dict(_VIRAL_PARAMS)
    # compartments: the PropagationModel defaults (susceptible/adopted, transmit once, progressive)

    def start(self, ctx: StepContext) -> None:
        ctx.store["fatigue"] = np.zeros(ctx.n, dtype=np.int32)

    def step(self, ctx: StepContext) -> StepResult:
        src, dst, trust, eid = ctx.gather()
        open_ = ctx.state[dst] == 0
        src, dst, trust, eid = src[open_], dst[open_], trust[open_], eid[open_]
        prob = _viral_probability(ctx, self.p, src, dst, trust)
        hit = ctx.random_edges(eid) < prob
        shown, sharers = ctx.feed_open()
        if shown.size:  # judged on the fatigue before this round's attempts
            feed_hit = ctx.random_agents(shown) < _feed_probability(ctx, self.p, shown, sharers)
        _tire(ctx, dst)
        winners, first = np.unique(dst[hit], return_index=True)
        result = StepResult(winners, 1, src[hit][first], attempts=int(eid.size), exposed=dst)
        if shown.size:
            result = ctx.with_feed(result, shown[feed_hit], sharers[feed_hit])
        return result


class ExposureDiffusion(PropagationModel):
    name = "diffusion"
    uses_feed = True  # reads feed exposures (ctx.feed_open)
    version = "1.0"
    description = "Diffusion: exposure from adopted followees (trust x rate a round) accumulates up to a threshold."
    params = {"rate": _RATE, "feed_weight": _FEED_WEIGHT}
    # compartments: the PropagationModel defaults (susceptible/adopted, transmit once, progressive)

    def start(self, ctx: StepContext) -> None:
        _start_exposure(ctx)

    def step(self, ctx: StepContext) -> StepResult:
        _, dst, trust, _ = ctx.gather()
        open_ = ctx.state[dst] == 0
        dst, trust = dst[open_], trust[open_]
        shown, sharers = ctx.feed_open()
        rate = self.p["rate"]
        adopters, fed = _accumulate(ctx, dst, trust, rate, shown, rate * self.p["feed_weight"])
        result = StepResult(adopters, 1, _lowest_adopted_followee(ctx, adopters), attempts=int(dst.size), exposed=dst)
        if shown.size:
            # Exposure adopters need not be this round's targets: say outright that they are graph adoptions.
            result.via_feed = np.zeros(adopters.size, dtype=bool)
            if fed is not None and fed.any():
                result = ctx.with_feed(result, shown[fed], sharers[fed])
        return result

    def is_done(self, ctx: StepContext) -> bool:
        if ctx.frontier.size:
            return False
        return self.p["rate"] == 0 or ctx.store["pending"].size == 0


class HybridContagion(PropagationModel):
    name = "hybrid"
    uses_feed = True  # reads feed exposures (ctx.feed_open)
    version = "1.0"
    description = "Hybrid: viral attempts weighted by 1 - mix plus exposure accumulation weighted by mix."
    params = {
        **_VIRAL_PARAMS,
        "rate": _RATE,
        "mix": Param(float, 0.5, 0.0, 1.0, "0: purely viral attempts, 1: purely accumulated exposure"),
        "feed_weight": Param(
            float,
            1.0,
            0.0,
            1e6,
            "a feed item is tried like an edge of this trust and adds exposure like "
            "this much trust from an adopted followee",
        ),
    }
    # compartments: the PropagationModel defaults (susceptible/adopted, transmit once, progressive)

    def start(self, ctx: StepContext) -> None:
        _start_exposure(ctx)
        ctx.store["fatigue"] = np.zeros(ctx.n, dtype=np.int32)

    def step(self, ctx: StepContext) -> StepResult:
        src, dst, trust, eid = ctx.gather()
        open_ = ctx.state[dst] == 0
        src, dst, trust, eid = src[open_], dst[open_], trust[open_], eid[open_]
        mix = self.p["mix"]
        prob = (1.0 - mix) * _viral_probability(ctx, self.p, src, dst, trust)
        hit = ctx.random_edges(eid) < prob
        shown, sharers = ctx.feed_open()
        if shown.size:  # judged on the fatigue before this round's attempts
            feed_hit = ctx.random_agents(shown) < (1.0 - mix) * _feed_probability(ctx, self.p, shown, sharers)
        _tire(ctx, dst)
        viral, first = np.unique(dst[hit], return_index=True)
        viral_src = src[hit][first]
        rate = mix * self.p["rate"]
        exposed, fed = _accumulate(ctx, dst, trust, rate, shown, rate * self.p["feed_weight"])
        by_feed = None
        if shown.size:
            by_feed = feed_hit if fed is None else feed_hit | fed
        # Viral adopters (and feed adopters) leave the exposure race too.
        gone = viral if by_feed is None or not by_feed.any() else union_agents(viral, shown[by_feed])
        if gone.size:
            pending = ctx.store["pending"]
            ctx.store["pending"] = pending[~np.isin(pending, gone)]
        by_exposure = exposed[~np.isin(exposed, viral)]
        agents = np.concatenate([viral, by_exposure]).astype(np.int64)
        sources = np.concatenate([viral_src, _lowest_adopted_followee(ctx, by_exposure)]).astype(np.int32)
        order = np.argsort(agents, kind="stable")
        result = StepResult(agents[order], 1, sources[order], attempts=int(eid.size), exposed=dst)
        if by_feed is not None:
            # Exposure adopters need not be this round's targets: say outright that they are graph adoptions.
            result.via_feed = np.zeros(agents.size, dtype=bool)
            if by_feed.any():
                result = ctx.with_feed(result, shown[by_feed], sharers[by_feed])
        return result

    def is_done(self, ctx: StepContext) -> bool:
        if ctx.frontier.size:
            return False
        return self.p["mix"] * self.p["rate"] == 0 or ctx.store["pending"].size == 0
