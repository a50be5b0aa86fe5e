"""The rest of NDlib's epidemic catalogue: continuous-time SEIR and SEIS, SAIR, SIRD, SVEIR and forest fire.

They follow the conventions of ``plugins/compartmental.py`` (whose helpers they use):

- **Synchronous rounds.** Every step of round t is judged on the states at the start of the round, and
  the changes of all steps are applied together at its end: an agent infected in round t transmits from
  round t+1, and every agent makes at most one transition per round.
- **Attempts along out-edges.** Every agent infectious at the start of the round (the frontier:
  ``transmit = "while"``) makes one attempt along each of its out-edges ``u -> v`` (v follows u) to a
  follower that can catch the message at the start of the round, with one ``ctx.random_edges`` number
  per attempt, in gather order (senders ascending, each sender's followers ascending). A follower hit by
  several successful attempts is infected once; its source is the lowest-numbered successful sender.
- **Per-agent transitions** use one ``ctx.random_agents`` number per agent that can make one, agents
  ascending; an agent draws at most one such number per round.
- **Seeds** start infectious. ``reached`` counts the distinct agents ever infected.
- **No feed exposures**: these models do not read a content recommender's feed (``uses_feed`` is
  False); only the graph spreads them.

The models (each class docstring gives its paper and its round in full):

``seir-ct``      S -> E -> I -> R with exponential waiting times (rates), a tick being ``dt`` time units.
``seis-ct``      S -> E -> I -> S, likewise.
``sair``         S -> A (asymptomatic) or I (symptomatic) -> R; A and I transmit with their own rates.
``sird``         S -> I -> R (recovered) or D (dead).
``sveir``        S -> V (vaccinated, leaky), S or V -> E -> I -> R.
``forest-fire``  trees burn when a followee burns or lightning strikes, burn out, and grow back.

Continuous time (``seir-ct``, ``seis-ct``): every clock is exponential, and one tick is ``dt`` units of
the model's time. A transition of rate ``r`` happens within a tick with probability ``1 - exp(-r dt)``,
independently of how long the agent has waited (memoryless). An infectious agent's edges transmit at
rate ``beta`` each while it is infectious, so within the tick in which it recovers they race its
recovery: see :class:`SEIRct`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from plugins.compartmental import _first_hits, _in_state, _infect, _open_attempts, _result
from sim.plugin import BadParameterError, Param, PropagationModel, StepContext, StepResult, union_agents

_EMPTY = np.empty(0, dtype=np.int64)


def _rate(default: float, what: str) -> Param:
    return Param(float, default, 0.0, 100.0, f"rate (per unit of time) at which {what}")


_DT = Param(float, 1.0, 0.001, 100.0, "length of one tick in the model's units of time")


# -- continuous-time SEIR and SEIS ----------------------------------------------------------------


class _ContinuousTime(PropagationModel):
    """The round shared by ``seir-ct`` and ``seis-ct``; subclasses say where recovery leads."""

    transmit = "while"
    endless = False
    #: The state recovering agents enter.
    recovered_state = 3
    E, I = 1, 2  # noqa: E741 - the compartments' names

    def start(self, ctx: StepContext) -> None:
        # The exposed agents, ascending (kept so that a round never scans all N states).
        ctx.store["latent"] = np.empty(0, dtype=np.int32)

    def step(self, ctx: StepContext) -> StepResult:
        beta, sigma, gamma, dt = self.p["beta"], self.p["sigma"], self.p["gamma"], self.p["dt"]
        infectious = ctx.frontier
        targets, eid = _open_attempts(ctx)
        x = ctx.random_edges(eid)
        latent = _in_state(ctx, "latent", self.E)
        onset = ctx.random_agents(latent) < -np.expm1(-sigma * dt)
        r = ctx.random_agents(infectious)
        recovers = r < -np.expm1(-gamma * dt)
        # How long each infectious agent is infectious within this tick: dt, or its recovery time when it
        # recovers in the tick (the exponential time whose tail r is: -log(1 - r) / gamma < dt).
        stay = np.full(infectious.size, dt)
        if recovers.any():
            stay[recovers] = np.minimum(-np.log1p(-r[recovers]) / gamma, dt)
        # Each edge's clock of rate beta fires before its sender recovers and before the tick ends.
        chance = -np.expm1(-beta * stay)
        senders = np.searchsorted(infectious, ctx.edge_sources(eid))
        hit = x < chance[senders] if eid.size else np.zeros(0, dtype=bool)
        infected, sources = _first_hits(ctx, targets[hit], eid[hit])
        recovered = infectious[recovers]
        result = _result(
            [(infected, self.E, sources), (latent[onset], self.I, None), (recovered, self.recovered_state, None)],
            eid.size,
            targets,
        )
        ctx.store["latent"] = union_agents(latent[~onset], infected)
        return result

    def is_done(self, ctx: StepContext) -> bool:
        return ctx.frontier.size == 0 and not np.any(ctx.state[ctx.store["latent"]] == self.E)


class SEIRct(_ContinuousTime):
    """Continuous-time SEIR: exponential latent and infectious periods, transmission at a rate per edge.

    Paper: J. L. Aron and I. B. Schwartz (1984), "Seasonality and period-doubling bifurcations in an
    epidemic model", J. Theor. Biol. 110, 665-679 (the SEIR equations NDlib cites), on a network as the
    continuous-time Markov process of R. Pastor-Satorras, C. Castellano, P. Van Mieghem and
    A. Vespignani (2015), "Epidemic processes in complex networks", Rev. Mod. Phys. 87, 925-979: an
    infectious agent transmits along each edge to a susceptible follower at rate ``beta``, an exposed
    agent turns infectious at rate ``sigma`` (mean latency 1/sigma) and an infectious one recovers at
    rate ``gamma``. NDlib: ``SEIRctModel`` (``alpha`` is ``sigma`` here).

    One tick is ``dt`` units of time. Round t (judged on the states at the start of the round):

    1. Recovery: every agent infectious at the start of the round draws one ``ctx.random_agents`` number
       ``r`` (agents ascending, after the numbers of steps 2 and 3); its remaining infectious time is the
       exponential ``R = -log(1 - r) / gamma``, and it recovers (``R``) in this tick when ``R < dt``,
       that is with probability ``1 - exp(-gamma dt)``.
    2. Infection: it makes one attempt along each out-edge to a follower susceptible at the start of the
       round, with one ``ctx.random_edges`` number ``x`` per attempt (gather order, drawn first). The
       edge's transmission time is exponential with rate ``beta``, and it transmits when that time falls
       before ``min(R, dt)``: ``x < 1 - exp(-beta * min(R, dt))``. The infected become exposed; the
       lowest-numbered successful sender is the source.
    3. Onset: every agent exposed at the start of the round becomes infectious with probability
       ``1 - exp(-sigma dt)`` (one ``ctx.random_agents`` number each, ascending, drawn before step 1's).

    What this is exactly: every clock is the continuous-time one (memoryless, so a fresh draw each tick
    is the same law), and an edge races its sender's recovery within the tick as in continuous time, so
    an infectious agent passes the infection along one edge (to a follower that stays susceptible) with
    probability exactly ``beta / (beta + gamma)``, whatever ``dt``. The one approximation is that a tick
    makes at most one transition per agent: an agent exposed in a tick turns infectious at the earliest
    in the next one, and one turned infectious starts transmitting and recovering from the next tick on.
    So every stay in E or I lasts its exponential time rounded up to whole ticks (a geometric number of
    ticks with mean ``1 / (1 - exp(-rate dt))``), and the process converges to the continuous-time one
    as ``dt -> 0``.

    States ``S``, ``E``, ``I``, ``R``; seeds start in ``I``. Progressive. Ends when nobody is exposed or
    infectious.

    NDlib's ``SEIRctModel`` (6.0.1) differs: it infects with the discrete ``1 - (1 - beta)^k`` per
    iteration (beta a probability, not a rate); its onset chance ``1 - exp(-alpha (t - t_e))`` grows
    with the iterations ``t - t_e`` since exposure (a linearly growing hazard, not an exponential
    waiting time); and its recovery chance ``1 - exp(-gamma t)`` uses the iteration number ``t`` itself,
    because its infection times are reset to 0 every iteration. See docs/models/epidemics-catalogue.md.
    """

    name = "seir-ct"
    version = "1.0"
    description = "Continuous-time SEIR: exponential clocks (rates beta, sigma, gamma), one tick being dt time units."
    params = {
        "beta": _rate(0.1, "an infectious agent infects each susceptible follower"),
        "sigma": _rate(0.3, "an exposed agent becomes infectious (mean latency 1/sigma)"),
        "gamma": _rate(0.2, "an infectious agent recovers (mean infectious time 1/gamma)"),
        "dt": _DT,
    }
    states = ("S", "E", "I", "R")
    adopted_states = (1, 2, 3)
    transmitting_states = (2,)
    seed_state = 2
    progressive = True
    recovered_state = 3


class SEISct(_ContinuousTime):
    """Continuous-time SEIS: SEIR-ct whose infectious agents become susceptible again.

    Paper: the SEIS model of M. J. Keeling and P. Rohani (2008), "Modeling Infectious Diseases in Humans
    and Animals", Princeton University Press (latent period, no immunity), as a continuous-time Markov
    process on the network (Pastor-Satorras et al. 2015, Rev. Mod. Phys. 87, 925-979). NDlib:
    ``SEISctModel``, whose ``alpha`` and ``lambda`` are ``sigma`` and ``gamma`` here.

    Round t: exactly :class:`SEIRct`'s (the same numbers in the same order), except that a recovering
    agent becomes susceptible (``S``) instead of removed; it can be infected again from the next tick.

    States ``S``, ``E``, ``I``; seeds start in ``I``. ``reached`` counts agents ever exposed. Not
    progressive; ends when nobody is exposed or infectious, and may sit at an endemic level for ever
    (``endless``).

    NDlib's ``SEISctModel`` (6.0.1) infects with ``1 - (1 - beta)^k`` per iteration and turns exposed
    and infectious nodes over with ``1 - exp(-alpha t)`` and ``1 - exp(-lambda t)``, where ``t`` is the
    iteration number (it stores 0 as every exposure time and resets the infection times each
    iteration): its chances grow with the age of the run, not with the time spent in the state.
    """

    name = "seis-ct"
    version = "1.0"
    description = (
        "Continuous-time SEIS: exponential clocks (rates beta, sigma, gamma); recovery makes agents susceptible."
    )
    params = SEIRct.params
    states = ("S", "E", "I")
    adopted_states = (1, 2)
    transmitting_states = (2,)
    seed_state = 2
    progressive = False
    endless = True  # may sit at its endemic level for ever
    recovered_state = 0


# -- SAIR -------------------------------------------------------------------------------------------


class SAIR(PropagationModel):
    """SAIR: infected agents are asymptomatic (A) or symptomatic (I); both transmit, each at its own rate.

    Paper: NDlib (``SAIRModel``, added in 2025) cites M. Robinson and N. I. Stilianakis (2013), "A
    three-state compartmental model for influenza epidemics", Math. Med. Biol. 30, 147-160; the
    susceptible-asymptomatic-infected-removed structure is also that of S. Ansumali, S. Kaushal,
    A. Kumar, M. K. Prakash and M. Vidyasagar (2020), "Modelling a pandemic with asymptomatic patients,
    impact of lockdown and herd immunity, with applications to SARS-CoV-2", Annu. Rev. Control 50,
    432-447. The rule here is NDlib's, with its parameter names.

    Round t (synchronous, judged on the states at the start of the round):

    1. Infection: every agent in ``A`` or ``I`` at the start of the round makes one attempt along each
       out-edge to a follower susceptible at the start of the round, succeeding with probability
       ``beta`` from a symptomatic sender and ``beta_a`` from an asymptomatic one (one
       ``ctx.random_edges`` number per attempt, in gather order). The lowest-numbered successful sender
       is the source.
    2. Symptoms: every agent infected in step 1 is symptomatic (``I``) with probability ``p``, otherwise
       asymptomatic (``A``) (one ``ctx.random_agents`` number each, agents ascending).
    3. Recovery: every agent in ``A`` or ``I`` at the start of the round recovers (``R``) with
       probability ``gamma_a`` or ``gamma_i`` (one ``ctx.random_agents`` number each, agents ascending),
       after its attempts.

    States ``S``, ``A``, ``I``, ``R`` (NDlib's codes 0 to 3); seeds start in ``I`` (NDlib's
    "Infected"). Progressive. Ends when nobody is in ``A`` or ``I``. Same rule as NDlib 6.0.1, which
    draws the same numbers node by node (a node infected earlier in the iteration is not tried again).
    """

    name = "sair"
    version = "1.0"
    description = "SAIR epidemic: infection makes agents symptomatic (p) or asymptomatic; both transmit, then recover."
    params = {
        "beta": Param(float, 0.05, 0.0, 1.0, "probability that a symptomatic agent infects a susceptible follower"),
        "beta_a": Param(float, 0.03, 0.0, 1.0, "probability that an asymptomatic agent infects a susceptible follower"),
        "p": Param(float, 0.5, 0.0, 1.0, "probability that an infected agent is symptomatic"),
        "gamma_i": Param(float, 0.2, 0.0, 1.0, "probability per round that a symptomatic agent recovers"),
        "gamma_a": Param(float, 0.3, 0.0, 1.0, "probability per round that an asymptomatic agent recovers"),
    }
    #: The infection probabilities: with both at 0 nobody but the seeds is ever infected.
    zero_params = ("beta", "beta_a")
    states = ("S", "A", "I", "R")
    adopted_states = (1, 2, 3)
    transmitting_states = (1, 2)
    transmit = "while"
    seed_state = 2
    progressive = True
    onset_states = (2,)  # onsets: entries into I, the symptomatic (asymptomatic infections are never observed)
    removal_states = (3,)

    A, I = 1, 2  # noqa: E741 - the compartments' names

    def step(self, ctx: StepContext) -> StepResult:
        infectious = ctx.frontier
        symptomatic = ctx.state[infectious] == self.I
        targets, eid = ctx.gather_targets()
        senders = ctx.gather_sources()
        open_ = ctx.state[targets] == 0
        targets, eid, senders = targets[open_], eid[open_], senders[open_]
        x = ctx.random_edges(eid)
        hit = x < np.where(ctx.state[senders] == self.I, self.p["beta"], self.p["beta_a"])
        infected, sources = _first_hits(ctx, targets[hit], eid[hit])
        shows = ctx.random_agents(infected) < self.p["p"]
        new_state = np.where(shows, self.I, self.A).astype(np.int8)
        gone = ctx.random_agents(infectious) < np.where(symptomatic, self.p["gamma_i"], self.p["gamma_a"])
        recovered = infectious[gone]
        agents = np.concatenate([infected, recovered.astype(np.int64)])
        states = np.concatenate([new_state, np.full(recovered.size, 3, dtype=np.int8)])
        srcs = np.concatenate([sources, np.full(recovered.size, -1, dtype=np.int32)])
        return StepResult(agents, states, srcs, attempts=int(eid.size), exposed=targets)

    def is_done(self, ctx: StepContext) -> bool:
        return ctx.frontier.size == 0


# -- SIRD -------------------------------------------------------------------------------------------


class SIRD(PropagationModel):
    """SIRD: SIR whose infectious agents either recover or die.

    Paper: W. O. Kermack and A. G. McKendrick (1927), "A contribution to the mathematical theory of
    epidemics", Proc. R. Soc. Lond. A 115, 700-721 (the SIR frame NDlib cites), with disease deaths as
    a second way out of I, as in C. Anastassopoulou, L. Russo, A. Tsakris and C. Siettos (2020),
    "Data-based analysis, modelling and forecasting of the COVID-19 outbreak", PLoS ONE 15, e0230405.
    NDlib: ``SIRDModel`` with ``beta``, ``gamma`` and ``mu``, the names here.

    Round t (synchronous, judged on the states at the start of the round):

    1. Infection: every infectious agent makes one attempt along each out-edge to a follower susceptible
       at the start of the round, succeeding with probability ``beta`` (one ``ctx.random_edges`` number
       per attempt, in gather order; the lowest-numbered successful sender is the source).
    2. Outcome: every agent infectious at the start of the round draws one ``ctx.random_agents`` number
       ``u`` (agents ascending), after its attempts: ``u < gamma`` recovers it (``R``), ``gamma <= u <
       gamma + mu`` kills it (``D``); otherwise it stays infectious. So ``gamma + mu`` may not exceed 1.

    An infected agent ends dead with probability ``mu / (gamma + mu)``. States ``S``, ``I``, ``R``,
    ``D`` (NDlib's codes); seeds start in ``I``. Progressive. Ends when nobody is infectious. Same rule
    as NDlib 6.0.1 (which checks nothing about ``gamma + mu``: there, above 1, death has the probability
    ``1 - gamma``).
    """

    name = "sird"
    version = "1.0"
    description = "SIRD epidemic: infectious agents recover with probability gamma or die with mu per round."
    params = {
        "beta": Param(
            float,
            0.05,
            0.0,
            1.0,
            "probability that an infectious agent infects a susceptible follower (one value per contact layer with"
            " beta@LAYER)",
            per_edge="probability",
        ),
        "gamma": Param(float, 0.2, 0.0, 1.0, "probability per round that an infectious agent recovers"),
        "mu": Param(float, 0.01, 0.0, 1.0, "probability per round that an infectious agent dies (gamma + mu <= 1)"),
    }
    states = ("S", "I", "R", "D")
    adopted_states = (1, 2, 3)
    transmitting_states = (1,)
    transmit = "while"
    seed_state = 1
    progressive = True
    onset_states = (1,)
    removal_states = (2, 3)  # removals: recoveries and deaths

    @classmethod
    def validate(cls, params: dict[str, Any]) -> dict[str, Any]:
        out = super().validate(params)
        if out["gamma"] + out["mu"] > 1.0:
            raise BadParameterError(
                f"parameters gamma={out['gamma']:g} and mu={out['mu']:g} add up to more than 1: an infectious "
                "agent recovers or dies in a round with probability gamma + mu, so give gamma + mu <= 1"
            )
        return out

    def step(self, ctx: StepContext) -> StepResult:
        gamma, mu = self.p["gamma"], self.p["mu"]
        infectious = ctx.frontier
        targets, eid = _open_attempts(ctx)
        infected, sources = _infect(ctx, targets, eid, "beta")
        u = ctx.random_agents(infectious)
        recovered, dead = infectious[u < gamma], infectious[(u >= gamma) & (u < gamma + mu)]
        return _result([(infected, 1, sources), (recovered, 2, None), (dead, 3, None)], eid.size, targets)

    def is_done(self, ctx: StepContext) -> bool:
        return ctx.frontier.size == 0


# -- SVEIR ------------------------------------------------------------------------------------------


class SVEIR(PropagationModel):
    """SVEIR: susceptible agents are vaccinated over time with a leaky vaccine; infection goes through a
    latent stage.

    Paper: NDlib (``SVEIRModel``, added in 2025) cites S. Liu and Y. Zhou (2006), "SVEIR epidemic model
    with vaccination and temporary immunity", Appl. Math. Comput. 180, 314-326. A leaky vaccine, one that
    lowers the chance of infection by a factor instead of preventing it, is that of J. Arino,
    C. C. McCluskey and P. van den Driessche (2003), "Global results for an epidemic model with
    vaccination that exhibits backward bifurcation", SIAM J. Appl. Math. 64, 260-276. The rule is NDlib's.
    NDlib's parameters are ``beta``, ``theta`` (vaccination), ``sigma`` (the vaccine's leakage) and
    ``delta`` (incubation); here ``sigma`` is the incubation, as in Agora's ``seir``, and the leakage is
    ``leak``.

    Round t (synchronous, judged on the states at the start of the round, in this order):

    1. Infection: every infectious agent makes one attempt along each out-edge to a follower susceptible
       or vaccinated at the start of the round, succeeding with probability ``beta`` on a susceptible
       follower and ``leak * beta`` on a vaccinated one (one ``ctx.random_edges`` number per attempt, in
       gather order; the lowest-numbered successful sender is the source). The infected become exposed.
    2. Vaccination (when ``theta > 0``): every agent susceptible at the start of the round draws one
       ``ctx.random_agents`` number (agents ascending) and is vaccinated (``V``) when it is below
       ``theta`` — unless step 1 exposed it: then it is exposed (its infection came first).
    3. Onset: every agent exposed at the start of the round becomes infectious with probability
       ``sigma`` (one ``ctx.random_agents`` number each, ascending).
    4. Recovery: every agent infectious at the start of the round recovers (``R``) with probability
       ``gamma`` (one ``ctx.random_agents`` number each, ascending), after its attempts.

    States ``S``, ``V``, ``E``, ``I``, ``R`` (NDlib's codes); seeds start in ``I``. ``reached`` counts
    agents ever exposed. Progressive. Ends when nobody is exposed or infectious (vaccination of the
    agents still susceptible then stops).

    NDlib's ``SVEIRModel`` (6.0.1) differs in one point: it updates nodes one after another writing into
    one new-status table, so a susceptible node that is both exposed by an infected neighbour and
    vaccinated in one iteration ends exposed or vaccinated depending on which of the two nodes comes
    later in the graph's node order.
    """

    name = "sveir"
    version = "1.0"
    description = "SVEIR epidemic: susceptible agents get a leaky vaccine (theta, leak); SEIR otherwise."
    params = {
        "beta": Param(float, 0.05, 0.0, 1.0, "probability that an infectious agent infects a susceptible follower"),
        "theta": Param(float, 0.01, 0.0, 1.0, "probability per round that a susceptible agent is vaccinated"),
        "leak": Param(
            float, 0.2, 0.0, 1.0, "factor on beta for a vaccinated follower (0: a perfect vaccine; NDlib's sigma)"
        ),
        "sigma": Param(
            float, 0.3, 0.0, 1.0, "probability per round that an exposed agent becomes infectious (NDlib's delta)"
        ),
        "gamma": Param(float, 0.2, 0.0, 1.0, "probability per round that an infectious agent recovers"),
    }
    states = ("S", "V", "E", "I", "R")
    adopted_states = (2, 3, 4)
    transmitting_states = (3,)
    transmit = "while"
    seed_state = 3
    progressive = True

    S, V, E, I, R = 0, 1, 2, 3, 4  # noqa: E741 - the compartments' names

    def start(self, ctx: StepContext) -> None:
        ctx.store["latent"] = np.empty(0, dtype=np.int32)

    def step(self, ctx: StepContext) -> StepResult:
        beta = self.p["beta"]
        infectious = ctx.frontier
        targets, eid = _open_attempts(ctx, top=self.V)  # susceptible and vaccinated followers
        x = ctx.random_edges(eid)
        hit = x < np.where(ctx.state[targets] == self.V, self.p["leak"] * beta, beta)
        infected, sources = _first_hits(ctx, targets[hit], eid[hit])
        vaccinated = _EMPTY
        if self.p["theta"] > 0.0:
            susceptible = np.flatnonzero(ctx.state == self.S)
            chosen = susceptible[ctx.random_agents(susceptible) < self.p["theta"]]
            vaccinated = chosen[~np.isin(chosen, infected, assume_unique=True)] if infected.size else chosen
        latent = _in_state(ctx, "latent", self.E)
        onset = ctx.random_agents(latent) < self.p["sigma"]
        recovered = infectious[ctx.random_agents(infectious) < self.p["gamma"]]
        ctx.store["latent"] = union_agents(latent[~onset], infected)
        return _result(
            [
                (infected, self.E, sources),
                (vaccinated, self.V, None),
                (latent[onset], self.I, None),
                (recovered, self.R, None),
            ],
            eid.size,
            targets,
        )

    def is_done(self, ctx: StepContext) -> bool:
        return ctx.frontier.size == 0 and not np.any(ctx.state[ctx.store["latent"]] == self.E)


# -- forest fire ------------------------------------------------------------------------------------


class ForestFire(PropagationModel):
    """Forest fire: a tree burns when a tree it follows burns (or lightning strikes it), burns out, and an
    empty site grows a tree again.

    Paper: B. Drossel and F. Schwabl (1992), "Self-organized critical forest-fire model", Phys. Rev.
    Lett. 69, 1629-1632, on a graph instead of a lattice. NDlib: ``ForestFireModel`` with ``f``
    (lightning) and ``p`` (growth), the names here.

    Round t (synchronous, judged on the states at the start of the round; Drossel and Schwabl's rules):

    1. Spread: every tree (``tree``, state 0) that follows at least one burning agent catches fire
       (``burning``), for certain; its source is the lowest-numbered burning agent it follows. (One
       attempt is counted per out-edge of a burning agent to a tree; no random number is drawn.)
    2. Lightning (when ``f > 0``): every tree at the start of the round draws one ``ctx.random_agents``
       number (agents ascending) and catches fire when it is below ``f``; a tree that step 1 set on fire
       burns anyway. Source -1.
    3. Burning out: every agent burning at the start of the round becomes empty (``empty``).
    4. Growth: every agent empty at the start of the round grows a tree with probability ``p`` (one
       ``ctx.random_agents`` number each, agents ascending, after step 2's). An agent that burnt out in
       step 3 stays empty at least one round.

    States ``tree``, ``burning``, ``empty``; seeds start burning. ``reached`` counts the agents that ever
    burnt (a tree that grows back and burns again is not counted again). Not progressive. With ``f = 0``
    the session ends when nothing burns; with ``f > 0`` lightning may start a fire at any time and the
    model runs for ever (``endless``): stop it with ``--max-ticks``. The spread is certain, so no
    parameter stops it (``zero_params = ()``).

    Same rule as NDlib 6.0.1, except the direction on a directed graph: NDlib burns a tree when one of its
    successors burns, so the fire runs from a follower to the agent it follows; here it runs along the
    follows, as every Agora model spreads (give NDlib the reversed graph). On a graph where every follow
    is mutual the two are the same.
    """

    name = "forest-fire"
    version = "1.0"
    description = (
        "Forest fire (Drossel-Schwabl): trees catch fire from burning followees or lightning (f), burn out, "
        "and grow back (p)."
    )
    params = {
        "p": Param(float, 0.05, 0.0, 1.0, "probability per round that an empty agent grows a tree again"),
        "f": Param(float, 0.0, 0.0, 1.0, "probability per round that lightning sets a tree on fire"),
    }
    zero_params = ()  # the spread is certain: no parameter stops it
    states = ("tree", "burning", "empty")
    adopted_states = (1,)
    transmitting_states = (1,)
    transmit = "while"
    seed_state = 1
    progressive = False
    endless = True  # with lightning (f > 0) a fire can start at any time
    onset_states = (1,)  # onsets: trees catching fire
    removal_states = (2,)  # removals: trees burnt out

    TREE, BURNING, EMPTY = 0, 1, 2

    def start(self, ctx: StepContext) -> None:
        # The empty agents, ascending (kept so that a round without lightning never scans all N states).
        ctx.store["empty"] = np.empty(0, dtype=np.int32)

    def step(self, ctx: StepContext) -> StepResult:
        burning = ctx.frontier
        targets, eid = _open_attempts(ctx)  # trees that follow a burning agent
        caught, sources = _first_hits(ctx, targets, eid)
        struck = _EMPTY
        if self.p["f"] > 0.0:
            trees = np.flatnonzero(ctx.state == self.TREE)
            struck = trees[ctx.random_agents(trees) < self.p["f"]]
            if caught.size and struck.size:
                struck = struck[~np.isin(struck, caught, assume_unique=True)]
        empty = _in_state(ctx, "empty", self.EMPTY)
        grows = ctx.random_agents(empty) < self.p["p"]
        ctx.store["empty"] = union_agents(empty[~grows], burning)
        return _result(
            [
                (caught, self.BURNING, sources),
                (struck, self.BURNING, None),
                (burning, self.EMPTY, None),
                (empty[grows], self.TREE, None),
            ],
            eid.size,
            targets,
        )

    def is_done(self, ctx: StepContext) -> bool:
        return ctx.frontier.size == 0 and self.p["f"] == 0.0
