"""Content-aware contagion: a viral cascade, exposure-driven diffusion, and a mixture of the two.

All three are progressive with states ("susceptible", "adopted"); seeds adopt at the session's start and
an agent that adopts in round t counts from round t+1. Where several things could name an adopter's
source, the lowest-numbered candidate wins.

``viral`` — an independent cascade whose per-edge probability depends on the message and the agents.
Each agent that adopted in the previous round makes exactly one attempt along each out-edge ``u -> v``
to an agent that has not adopted, succeeding (one ``ctx.random_edges`` number per attempt) with::

    p_uv = clip(p * (1 + topic_weight * match_v) * (1 + influence_weight * influence_u)
                * trust_uv * susceptibility_v / (1 + fatigue_weight * fatigue_v), 0, 1)

evaluated left to right in double precision, where ``match_v = popcount(topics & interests_v) /
popcount(topics)`` (the share of the message's topics, ``ctx.message["topics"]``, that ``v`` is
interested in; 0 for a message without topics) and ``fatigue_v`` is how many attempts ``v`` received in
this session before this round (``store["fatigue"]``, int32; attempts of the same round all see the
same value). After the round every attempted target's fatigue grows by the attempts it received.

``diffusion`` — adoption by accumulated exposure. At the start every agent draws a threshold once,
``theta_v = 1 - u_v`` (``u_v`` uniform in [0, 1) from ``ctx.random_agents`` over all agents), so
``theta_v`` is in (0, 1], kept as float32 in ``store["threshold"]``. Let ``pressure_v`` be the summed
trust of v's in-edges from agents that adopted before the round (``store["pressure"]``). Each round every
agent that has not adopted and has ``pressure_v > 0`` accumulates ``exposure_v += rate * pressure_v``
(``store["exposure"]``) and adopts when ``exposure_v >= theta_v``; its source is its lowest-numbered
followee that adopted before the round. The session ends after a round that adopts nobody when no
agent without adoption has pressure left (with ``rate`` 0: after any round that adopts nobody). With
``rate`` above 0 every agent in the seeds' out-component adopts in the end; only the timing is random.

``hybrid`` — both mechanisms at once, blended by ``mix`` in [0, 1]. Each round the viral attempts are
made with probability ``(1 - mix) * p_uv`` (``p_uv`` as above, fatigue included) and exposure
accumulates as ``exposure_v += (mix * rate) * pressure_v`` against the thresholds drawn once at the start.
An agent adopts if a viral attempt on it succeeds or its exposure reaches its threshold; the source
is the successful viral sender when there is one, else its lowest-numbered adopted followee.
``mix = 0`` is exactly ``viral``; ``mix = 1`` adopts exactly as ``diffusion`` (the viral attempts then
never succeed but still count and tire their targets).

Order within a round (all from the states at the start of the round): viral attempts, fatigue update,
pressure from the agents that adopted last round, exposure accumulation, adoption.
"""

from __future__ import annotations

import numpy as np

from sim.plugin import Param, PropagationModel, StepResult

_VIRAL_PARAMS = {
    "p": Param(float, 0.3, 0.0, 1.0, "base probability of one attempt, before the factors below"),
    "topic_weight": Param(float, 1.0, 0.0, 100.0, "a full topic-interest match multiplies the chance by 1 + weight"),
    "influence_weight": Param(float, 1.0, 0.0, 100.0, "the sender's influence multiplies the chance by 1 + weight * influence"),
    "fatigue_weight": Param(float, 0.5, 0.0, 100.0, "earlier attempts on the receiver divide the chance by 1 + weight * attempts"),
}
_RATE = Param(float, 0.1, 0.0, 100.0, "exposure gained per round per unit of trust from adopted followees")


def _writable(ctx, key: str) -> np.ndarray:
    """The store array ``key``, copied once if it came back read-only (a restored snapshot)."""
    arr = ctx.store[key]
    if not arr.flags.writeable:
        arr = ctx.store[key] = arr.copy()
    return arr


def _viral_probability(ctx, p: dict, src: np.ndarray, dst: np.ndarray, trust: np.ndarray) -> np.ndarray:
    """``p_uv`` of the module docstring for the attempts ``src -> dst`` (float64, clipped to [0, 1])."""
    topics = int(ctx.message.get("topics", 0) or 0) & 0xFFFFFFFFFFFFFFFF
    k = topics.bit_count()
    if k:
        common = np.bitwise_count(np.bitwise_and(ctx.columns["interests"][dst], np.uint64(topics)))
        match = common.astype(np.float64) / k
    else:
        match = np.zeros(dst.size)
    prob = p["p"] * (1.0 + p["topic_weight"] * match)
    prob *= 1.0 + p["influence_weight"] * ctx.columns["influence"][src].astype(np.float64)
    prob *= trust.astype(np.float64)
    prob *= ctx.columns["susceptibility"][dst].astype(np.float64)
    prob /= 1.0 + p["fatigue_weight"] * ctx.store["fatigue"][dst].astype(np.float64)
    return np.clip(prob, 0.0, 1.0, out=prob)


def _tire(ctx, dst: np.ndarray) -> None:
    """Add this round's attempts to the fatigue of their targets."""
    if dst.size:
        fatigue = _writable(ctx, "fatigue")
        hit, count = np.unique(dst, return_counts=True)
        fatigue[hit] += count.astype(np.int32)


def _accumulate(ctx, dst: np.ndarray, trust: np.ndarray, rate: float) -> np.ndarray:
    """Add new pressure along ``dst`` (edges from last round's adopters to agents that have not
    adopted), accumulate exposure for every pending agent, and return those that reach their
    threshold (ascending). They are removed from ``store["pending"]``."""
    pressure = _writable(ctx, "pressure")
    exposure = _writable(ctx, "exposure")
    touched, inv = np.unique(dst, return_inverse=True)
    pressure[touched] += np.bincount(inv, weights=trust.astype(np.float64), minlength=touched.size)
    pending = np.union1d(ctx.store["pending"], touched[pressure[touched] > 0])
    exposure[pending] += rate * pressure[pending]
    reached = exposure[pending] >= ctx.store["threshold"][pending]
    ctx.store["pending"] = pending[~reached].astype(np.int32)
    return pending[reached]


def _lowest_adopted_followee(ctx, agents: np.ndarray) -> np.ndarray:
    """For each listed agent (ascending), its lowest-numbered followee that has adopted, or -1."""
    out = np.full(agents.size, -1, dtype=np.int32)
    if agents.size:
        targets, followees, _ = ctx.gather_in(agents)
        adopted = ctx.adopted_mask(followees)
        # Followees come ascending within each target's group, so the first adopted one is the lowest.
        who, first = np.unique(targets[adopted], return_index=True)
        out[np.searchsorted(agents, who)] = followees[adopted][first]
    return out


def _start_exposure(ctx) -> None:
    n = ctx.n
    ctx.store["threshold"] = (1.0 - ctx.random_agents(np.arange(n, dtype=np.int32))).astype(np.float32)
    ctx.store["pressure"] = np.zeros(n, dtype=np.float64)
    ctx.store["exposure"] = np.zeros(n, dtype=np.float64)
    ctx.store["pending"] = np.empty(0, dtype=np.int32)


class ViralCascade(PropagationModel):
    name = "viral"
    version = "1.0"
    description = "Viral cascade: one attempt per edge, likelier with topic match, influence and trust, less with fatigue."
    params = dict(_VIRAL_PARAMS)
    # compartments: the PropagationModel defaults (susceptible/adopted, transmit once, progressive)

    def start(self, ctx):
        ctx.store["fatigue"] = np.zeros(ctx.n, dtype=np.int32)

    def step(self, ctx):
        src, dst, trust, eid = ctx.gather()
        open_ = ctx.state[dst] == 0
        src, dst, trust, eid = src[open_], dst[open_], trust[open_], eid[open_]
        prob = _viral_probability(ctx, self.p, src, dst, trust)
        hit = ctx.random_edges(eid) < prob
        _tire(ctx, dst)
        winners, first = np.unique(dst[hit], return_index=True)
        return StepResult(winners, 1, src[hit][first], attempts=int(eid.size), exposed=dst)


class ExposureDiffusion(PropagationModel):
    name = "diffusion"
    version = "1.0"
    description = "Diffusion: exposure from adopted followees (trust x rate a round) accumulates up to a threshold."
    params = {"rate": _RATE}
    # compartments: the PropagationModel defaults (susceptible/adopted, transmit once, progressive)

    def start(self, ctx):
        _start_exposure(ctx)

    def step(self, ctx):
        _, dst, trust, _ = ctx.gather()
        open_ = ctx.state[dst] == 0
        dst, trust = dst[open_], trust[open_]
        adopters = _accumulate(ctx, dst, trust, self.p["rate"])
        return StepResult(adopters, 1, _lowest_adopted_followee(ctx, adopters), attempts=int(dst.size), exposed=dst)

    def is_done(self, ctx):
        if ctx.frontier.size:
            return False
        return self.p["rate"] == 0 or ctx.store["pending"].size == 0


class HybridContagion(PropagationModel):
    name = "hybrid"
    version = "1.0"
    description = "Hybrid: viral attempts weighted by 1 - mix plus exposure accumulation weighted by mix."
    params = {
        **_VIRAL_PARAMS,
        "rate": _RATE,
        "mix": Param(float, 0.5, 0.0, 1.0, "0: purely viral attempts, 1: purely accumulated exposure"),
    }
    # compartments: the PropagationModel defaults (susceptible/adopted, transmit once, progressive)

    def start(self, ctx):
        _start_exposure(ctx)
        ctx.store["fatigue"] = np.zeros(ctx.n, dtype=np.int32)

    def step(self, ctx):
        src, dst, trust, eid = ctx.gather()
        open_ = ctx.state[dst] == 0
        src, dst, trust, eid = src[open_], dst[open_], trust[open_], eid[open_]
        prob = (1.0 - self.p["mix"]) * _viral_probability(ctx, self.p, src, dst, trust)
        hit = ctx.random_edges(eid) < prob
        _tire(ctx, dst)
        viral, first = np.unique(dst[hit], return_index=True)
        viral_src = src[hit][first]
        exposed = _accumulate(ctx, dst, trust, self.p["mix"] * self.p["rate"])
        # Viral adopters leave the exposure race too.
        if viral.size:
            pending = ctx.store["pending"]
            ctx.store["pending"] = pending[~np.isin(pending, viral)]
        by_exposure = exposed[~np.isin(exposed, viral)]
        agents = np.concatenate([viral, by_exposure]).astype(np.int64)
        sources = np.concatenate([viral_src, _lowest_adopted_followee(ctx, by_exposure)]).astype(np.int32)
        order = np.argsort(agents, kind="stable")
        return StepResult(agents[order], 1, sources[order], attempts=int(eid.size), exposed=dst)

    def is_done(self, ctx):
        if ctx.frontier.size:
            return False
        return self.p["mix"] * self.p["rate"] == 0 or ctx.store["pending"].size == 0
