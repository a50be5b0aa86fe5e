"""Compartmental epidemic models in discrete time: SIR, SIS and SEIR.

Semantics (synchronous rounds). Seeds start infectious. Round t, in this order, every step judged on
the states at the start of the round:

1. Infection: every agent infectious at the start of the round (the frontier; ``transmit = "while"``)
   makes one attempt along each out-edge to an agent susceptible at the start of the round, succeeding
   with probability ``beta`` (one ``ctx.random_edges`` number per attempt, in gather order). A target
   hit by several attempts is infected once; its source is the lowest-numbered successful sender.
   Infected agents become infectious (SIR, SIS) or exposed (SEIR).
2. SEIR only: every agent exposed at the start of the round becomes infectious with probability
   ``sigma`` (one ``ctx.random_agents`` number each, agents ascending). Agents exposed in this round's
   step 1 wait for the next round.
3. Recovery: every agent infectious at the start of the round recovers with probability ``gamma`` (one
   ``ctx.random_agents`` number each, agents ascending) — after it made its attempts in step 1. SIR and
   SEIR move it to recovered for good; SIS moves it back to susceptible, from where it can be infected
   again from the next round on.
4. Feed exposures (when a content recommender runs): every agent susceptible at the start of the round
   that is shown the message in its feed this round is infected with probability
   ``min(1, beta * feed_weight)`` (one ``ctx.random_agents`` number each, agents ascending, drawn after
   the numbers of steps 1 to 3), crediting the feed's sharer. It enters the same state as an infection
   along an edge (infectious for SIR and SIS, exposed for SEIR, where it waits like an edge infection
   for step 2 of the next rounds). An agent also infected along an edge in step 1 of the same round
   counts as infected through the graph, with the edge's source.

So agents infected (or turned infectious) in round t transmit from round t+1; an infectious agent makes
its first attempts before it can recover, and the chance that it ever passes the disease along one edge
to a susceptible neighbour is the transmissibility ``T = beta / (1 - (1 - beta)(1 - gamma))``.

States are named ``S`` (susceptible), ``E`` (exposed, SEIR only), ``I`` (infectious) and ``R`` (recovered),
in that order; the series of a run (``agora run --series``) counts the agents in each at every tick.
``reached`` counts agents ever infected: the adopted states are I and R (SIR), E, I and R (SEIR) and
I (SIS; ``reached`` counts distinct agents ever infected, a re-infection is not counted again, and the
session's ``state`` shows who is infected now). SIR and SEIR are progressive; SIS is not. A session ends
when nobody is infectious (SEIR: and nobody exposed). SIS can run for ever near its endemic level;
stop it with the simulation's tick limit.
"""

from __future__ import annotations

import numpy as np

from sim.plugin import Param, PropagationModel, StepContext, StepResult, first_hits, union_agents

_BETA = Param(
    float,
    0.05,
    0.0,
    1.0,
    "probability that an infectious agent infects a susceptible follower in a round (one value per contact"
    " layer with beta@LAYER)",
    per_edge="probability",
)
_GAMMA = Param(float, 0.2, 0.0, 1.0, "probability that an infectious agent recovers in a round")
_SIGMA = Param(float, 0.3, 0.0, 1.0, "probability that an exposed agent becomes infectious in a round")
_WEIGHTED = Param(bool, False, help="multiply beta by the edge's weight (trust)")
_FEED_WEIGHT = Param(float, 1.0, 0.0, 1e6, "a feed exposure infects with probability beta * feed_weight (capped at 1)")
#: The most Erlang stages of a period (a stage counter is one byte).
MAX_STAGES = 64
_GAMMA_STAGES = Param(
    int,
    1,
    1,
    MAX_STAGES,
    "Erlang stages of the infectious period: each ends with probability min(1, k * gamma) a round, so the mean stays "
    "1/gamma (at least k rounds) and the spread shrinks as k grows; 1: geometric",
)
_SIGMA_STAGES = Param(
    int,
    1,
    1,
    MAX_STAGES,
    "Erlang stages of the latent period: each ends with probability min(1, k * sigma) a round (mean 1/sigma, at "
    "least k rounds); 1: geometric",
)


#: The parameters of sir and sis (seir adds sigma and its stages).
_SIR_PARAMS = {
    "beta": _BETA,
    "gamma": _GAMMA,
    "trust_weighted": _WEIGHTED,
    "feed_weight": _FEED_WEIGHT,
    "gamma_stages": _GAMMA_STAGES,
}


def _ends(ctx: StepContext, agents: np.ndarray, rate: float, stages: int, key: str) -> np.ndarray:
    """Which of ``agents`` (ascending) end their period this round: one ``ctx.random_agents`` number each, below
    ``min(1, stages * rate)`` moving the agent one stage on (its stage in ``ctx.store[key]``); the last stage's move
    ends the period (its stage back to 0). One stage: the number below ``rate`` alone."""
    moves = ctx.random_agents(agents) < min(1.0, stages * rate)
    if stages == 1:
        return moves
    stage = ctx.store[key]
    moved = agents[moves]
    stage[moved] += 1
    done = stage[moved] >= stages
    stage[moved[done]] = 0
    out = np.zeros(agents.size, dtype=bool)
    out[np.flatnonzero(moves)[done]] = True
    return out


class _Compartmental(PropagationModel):
    """The round shared by the three models; subclasses name their compartments."""

    transmit = "while"
    uses_feed = True  # reads feed exposures (ctx.feed_open)
    #: The state newly infected agents enter, and the infectious state.
    infected_state = 1
    infectious_state = 1
    #: The state recovering agents enter (0 for SIS).
    recovered_state = 2
    #: The exposed state, or -1 when there is none.
    latent_state = -1

    def start(self, ctx: StepContext) -> None:
        if self.latent_state >= 0:
            # The exposed agents, ascending (kept so a round never scans all N states).
            ctx.store["latent"] = np.empty(0, dtype=np.int32)
        for key, param in (("stage_I", "gamma_stages"), ("stage_E", "sigma_stages")):
            if self.p.get(param, 1) > 1:  # each agent's Erlang stage in the period (0 outside it)
                ctx.store[key] = np.zeros(ctx.n, dtype=np.int8)

    def step(self, ctx: StepContext) -> StepResult:
        infectious = ctx.frontier  # infectious at the start of the round, ascending
        # 1. infection attempts from the agents infectious at the start of the round, along the edges to
        #    susceptible followers (senders ascending, each sender's targets ascending)
        targets, edges = ctx.gather_targets()
        open_ = np.flatnonzero(np.take(ctx.state, targets) == 0)
        open_edges = np.take(edges, open_)
        prob = ctx.transmission("beta", open_edges, weighted=self.p["trust_weighted"])
        hit = open_[ctx.random_edges(open_edges) < prob]
        # An agent infected along several edges takes the first (the lowest sender).
        infected, first = first_hits(targets, hit)
        agents = [infected]
        states = [np.full(infected.size, self.infected_state, dtype=np.int8)]
        sources = [np.take(ctx.gather_sources(), first).astype(np.int32)]
        # 2. exposed -> infectious, for agents exposed at the start of the round
        if self.latent_state >= 0:
            latent = ctx.store["latent"]
            onset = _ends(ctx, latent, self.p["sigma"], self.p["sigma_stages"], "stage_E")
            turned = latent[onset]
            ctx.store["latent"] = union_agents(latent[~onset], infected)
            agents.append(turned.astype(np.int64))
            states.append(np.full(turned.size, self.infectious_state, dtype=np.int8))
            sources.append(np.full(turned.size, -1, dtype=np.int32))
        # 3. recovery of the agents infectious at the start of the round
        recovered = infectious[_ends(ctx, infectious, self.p["gamma"], self.p["gamma_stages"], "stage_I")]
        agents.append(recovered.astype(np.int64))
        states.append(np.full(recovered.size, self.recovered_state, dtype=np.int8))
        sources.append(np.full(recovered.size, -1, dtype=np.int32))
        # The three groups are disjoint: susceptible, exposed and infectious at the start of the round.
        result = StepResult(
            np.concatenate(agents),
            np.concatenate(states),
            np.concatenate(sources),
            attempts=int(open_.size),
            exposed=np.take(targets, open_),
        )
        # 4. feed exposures of agents susceptible at the start of the round
        shown, sharers = ctx.feed_open()
        if shown.size:
            hit = ctx.random_agents(shown) < min(1.0, self.p["beta"] * self.p["feed_weight"])
            caught = shown[hit]
            if self.latent_state >= 0 and caught.size:  # edge infections are in it already
                ctx.store["latent"] = union_agents(ctx.store["latent"], caught)
            # Agents also infected along an edge keep their graph infection (with_feed).
            result = ctx.with_feed(result, caught, sharers[hit], new_state=self.infected_state)
        return result

    def is_done(self, ctx: StepContext) -> bool:
        if ctx.frontier.size:
            return False
        return self.latent_state < 0 or ctx.store["latent"].size == 0


class SIR(_Compartmental):
    name = "sir"
    version = "1.0"
    description = "SIR epidemic: infect followers with probability beta per round, recover with probability gamma."
    params = dict(_SIR_PARAMS)
    states = ("S", "I", "R")
    adopted_states = (1, 2)
    transmitting_states = (1,)
    seed_state = 1
    progressive = True
    onset_states = (1,)  # the series' onsets: entries into I (the same as new: every infection starts there)
    removal_states = (2,)  # removals: entries into R
    infected_state = 1
    infectious_state = 1
    recovered_state = 2


class SIS(_Compartmental):
    name = "sis"
    version = "1.0"
    description = "SIS epidemic: like SIR, but recovered agents are susceptible again and can be reinfected."
    params = dict(_SIR_PARAMS)
    states = ("S", "I")
    adopted_states = (1,)
    transmitting_states = (1,)
    seed_state = 1
    progressive = False
    infected_state = 1
    infectious_state = 1
    recovered_state = 0


class SEIR(_Compartmental):
    name = "seir"
    version = "1.0"
    description = "SEIR epidemic: SIR with an exposed stage that turns infectious with probability sigma per round."
    params = {
        "beta": _BETA,
        "sigma": _SIGMA,
        "gamma": _GAMMA,
        "trust_weighted": _WEIGHTED,
        "feed_weight": _FEED_WEIGHT,
        "sigma_stages": _SIGMA_STAGES,
        "gamma_stages": _GAMMA_STAGES,
    }
    states = ("S", "E", "I", "R")
    adopted_states = (1, 2, 3)
    transmitting_states = (2,)
    seed_state = 2
    progressive = True
    onset_states = (2,)  # onsets: entries into I (new counts entries into E, the infections)
    removal_states = (3,)  # removals: entries into R
    infected_state = 1
    infectious_state = 2
    recovered_state = 3
    latent_state = 1
