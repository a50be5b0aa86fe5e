"""More compartmental epidemic models in discrete time: SI, SEIS, SIRS, SWIR and adaptive SIS.

They share the conventions of the ``sir``, ``sis`` and ``seir`` models (``plugins/epidemic.py``):

- **Synchronous rounds.** Every step of round t is judged on the states at the start of the round,
  and the changes of all steps are applied together at its end: agents infected in round t transmit
  from round t+1. An infectious agent makes its attempts in a round before it can recover in it.
- **Attempts along out-edges.** Every agent infectious at the start of the round (the frontier:
  ``transmit = "while"``) makes one attempt along each of its out-edges ``u -> v`` (v follows u) to a
  follower that can catch the message at the start of the round, with one ``ctx.random_edges`` number
  per attempt, in gather order (senders ascending, each sender's followers ascending). A follower hit
  by several successful attempts is infected once; its source is the lowest-numbered successful sender.
- **Per-agent transitions** (incubation, recovery, waning immunity) use one ``ctx.random_agents``
  number per agent that can make the transition, agents ascending; an agent is in one state at the
  start of a round, so it draws at most one such number per round.
- **Feed exposures** (when a content recommender runs) come last: every agent susceptible at the
  start of the round and shown the message in its feed is infected with probability
  ``min(1, beta * feed_weight)`` (one ``ctx.random_agents`` number each, agents ascending, drawn after
  every other number of the round), crediting the feed's sharer. An agent also infected along an edge
  in the same round counts as infected through the graph, with the edge's source. (``swir`` treats a
  feed exposure as one more contact: see its docstring.)
- **Seeds** start infectious. **States** are named by single capital letters, state 0 ``S``
  (susceptible). ``reached`` counts the distinct agents ever infected (a reinfection is not counted
  again); the session's ``state`` shows who is in which compartment now.

The models (each class docstring gives its paper and its round in full):

``si``            S -> I, for good.                                     Ends: no infectious agent has a susceptible
                                                                        follower.
``seis``          S -> E -> I -> S.                                     Ends: nobody exposed or infectious.
``sirs``          S -> I -> R -> S (waning immunity).                   Ends: nobody infectious.
``swir``          S -> W (weakened) -> I -> R, or S -> I directly.      Ends: nobody infectious.
``adaptive-sis``  S -> I -> S, susceptible agents rewire away from      Ends: nobody infectious.
                  infectious ones.

Rates are per round: ``beta`` = 0.05 means a 5 % chance per attempt per round, not a rate of a
continuous-time process. With small probabilities the two agree to first order.
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
_ETA = Param(float, 0.1, 0.0, 1.0, "probability that a recovered agent loses its immunity (R -> S) in a round")
_FEED_WEIGHT = Param(float, 1.0, 0.0, 1e6, "a feed exposure infects with probability beta * feed_weight (capped at 1)")

_EMPTY = np.empty(0, dtype=np.int64)


# -- shared steps -----------------------------------------------------------------------------------


def _open_attempts(ctx: StepContext, top: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The frontier's out-edges to followers in a state from 0 to ``top`` at the start of the round:
    ``(targets, edge_ids)`` in gather order (edge ids ascend with the sender)."""
    targets, eid = ctx.gather_targets()
    open_ = ctx.state[targets] <= top if top else ctx.state[targets] == 0
    return targets[open_], eid[open_]


def _infect(ctx: StepContext, targets: np.ndarray, eid: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """One ``random_edges`` number per attempt, succeeding with the chance ``ctx.transmission(name, eid)``
    (parameter ``name`` per layer, times the measured infectivity and susceptibility); the agents infected
    (ascending, int64) and, for each, the lowest-numbered successful sender (int32)."""
    hit = ctx.random_edges(eid) < ctx.transmission(name, eid)
    return _first_hits(ctx, targets[hit], eid[hit])


def _first_hits(ctx: StepContext, targets: np.ndarray, eid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct ``targets`` (ascending, int64) and for each the sender of its smallest edge id — the
    lowest sender, since edge ids ascend with the sender (int32): ``sim.plugin.first_hits`` over the
    attempts in their order (edge ids ascending), then the winners' senders."""
    who, first = first_hits(targets, np.arange(targets.size))
    return who, ctx.edge_sources(np.take(eid, first))


def _in_state(ctx: StepContext, key: str, code: int) -> np.ndarray:
    """The stored list ``key`` (ascending agents) kept to those in state ``code`` now.

    The list is kept so that a round never scans all N states; filtering it here keeps it right when
    the core refused a change (an agent suspended mid-run keeps its state)."""
    agents = ctx.store[key]
    return agents[ctx.state[agents] == code] if agents.size else agents


def _feed(
    ctx: StepContext, result: StepResult, beta: float, feed_weight: float, new_state: int
) -> tuple[StepResult, np.ndarray]:
    """Step 4: feed exposures of agents susceptible at the start of the round. Returns the merged
    result and the agents the feed infected (before dropping those the graph infected already)."""
    shown, sharers = ctx.feed_open()
    if shown.size == 0:
        return result, _EMPTY
    hit = ctx.random_agents(shown) < min(1.0, beta * feed_weight)
    caught = shown[hit]
    # Agents also infected along an edge keep their graph infection (with_feed).
    return ctx.with_feed(result, caught, sharers[hit], new_state=new_state), caught.astype(np.int64)


def _result(groups: list[tuple[np.ndarray, int, np.ndarray | None]], attempts: int, exposed: np.ndarray) -> StepResult:
    """A StepResult from disjoint groups ``(agents, new_state, sources or None)``."""
    agents = np.concatenate([g[0].astype(np.int64) for g in groups])
    states = np.concatenate([np.full(g[0].size, g[1], dtype=np.int8) for g in groups])
    sources = np.concatenate(
        [g[2].astype(np.int32) if g[2] is not None else np.full(g[0].size, -1, dtype=np.int32) for g in groups]
    )
    return StepResult(agents, states, sources, attempts=int(attempts), exposed=exposed)


# -- SI ---------------------------------------------------------------------------------------------


class SI(PropagationModel):
    """SI: susceptible agents are infected by infectious followees and stay infectious for good.

    Paper: the infection stage of W. O. Kermack and A. G. McKendrick (1927), "A contribution to the
    mathematical theory of epidemics", Proc. R. Soc. Lond. A 115, 700-721, without recovery; on
    networks see R. Pastor-Satorras, C. Castellano, P. Van Mieghem and A. Vespignani (2015), "Epidemic
    processes in complex networks", Rev. Mod. Phys. 87, 925-979. NDlib: ``SIModel``, parameter ``beta``.

    Round t (synchronous, judged on the states at the start of the round):

    1. Infection: every infectious agent makes one attempt along each out-edge to a follower susceptible
       at the start of the round, succeeding with probability ``beta`` (one ``ctx.random_edges`` number
       per attempt, in gather order). A follower hit several times is infected once; its source is the
       lowest-numbered successful sender.
    2. Feed exposures: a susceptible agent shown the message in its feed is infected with probability
       ``min(1, beta * feed_weight)`` (one ``ctx.random_agents`` number each, agents ascending).

    States ``S``, ``I``; seeds start in ``I``; ``reached`` counts infected agents (progressive).

    End: when no infectious agent has a susceptible follower left, the message cannot spread along the
    graph any more. The model knows it at no extra cost: a round that made no attempt to a susceptible
    follower and infected nobody (not even through a feed) leaves the states as they were, so no
    infectious agent had, nor has, a susceptible follower. The session ends after that round (one round
    after the last infection). With ``beta = 0`` nothing can ever change, and the session ends after its
    first round. On a finite graph SI with ``beta > 0`` always ends, with every agent reachable from the
    seeds along follower edges infected. (Agents the core never lets change state — suspended or
    deactivated — stay susceptible, and infectious followees keep trying them: stop such a run with
    ``--max-ticks``.)

    NDlib's ``SIModel`` (6.0.1) has the same rule: a susceptible node with ``k`` infected neighbours is
    infected with probability ``1 - (1 - beta)^k`` (its ``tp_rate`` left at 1), and the two agree tick
    for tick (see docs/models.md, "Agora and NDlib side by side").
    """

    name = "si"
    version = "1.0"
    description = (
        "SI epidemic: infect followers with probability beta per round; infected agents stay infectious for good."
    )
    params = {"beta": _BETA, "feed_weight": _FEED_WEIGHT}
    states = ("S", "I")
    adopted_states = (1,)
    transmitting_states = (1,)
    transmit = "while"
    seed_state = 1
    progressive = True
    uses_feed = True  # reads feed exposures (ctx.feed_open)

    def start(self, ctx: StepContext) -> None:
        # Whether the latest round left every state as it was with no attempt to a susceptible agent.
        ctx.store["quiet"] = np.zeros(1, dtype=bool)

    def step(self, ctx: StepContext) -> StepResult:
        beta = self.p["beta"]
        targets, eid = _open_attempts(ctx)
        infected, sources = _infect(ctx, targets, eid, "beta")
        result = StepResult(infected, 1, sources, attempts=int(eid.size), exposed=targets)
        result, caught = _feed(ctx, result, beta, self.p["feed_weight"], 1)
        changed = infected.size + caught.size
        ctx.store["quiet"] = np.array([changed == 0 and (eid.size == 0 or beta == 0.0)])
        return result

    def is_done(self, ctx: StepContext) -> bool:
        return ctx.frontier.size == 0 or bool(ctx.store["quiet"][0])


# -- SEIS -------------------------------------------------------------------------------------------


class SEIS(PropagationModel):
    """SEIS: infection leads to an exposed (latent) stage, then infectiousness, then back to susceptible.

    Paper: the SEIS model of M. J. Keeling and P. Rohani (2008), "Modeling Infectious Diseases in Humans
    and Animals", Princeton University Press (chapter 2, latent periods and no immunity); the general
    frame is Kermack and McKendrick (1927), Proc. R. Soc. Lond. A 115, 700-721. NDlib: ``SEISModel``,
    whose parameters are ``beta`` (infection), ``alpha`` (incubation) and ``lambda`` (recovery); here they
    are ``beta``, ``sigma`` and ``gamma``, the names Agora's ``seir`` uses.

    Round t (synchronous, judged on the states at the start of the round, in this order):

    1. Infection: every agent infectious at the start of the round makes one attempt along each out-edge
       to a follower susceptible at the start of the round, succeeding with probability ``beta`` (one
       ``ctx.random_edges`` number per attempt, in gather order; lowest successful sender is the
       source). Infected agents become exposed (``E``).
    2. Onset: every agent exposed at the start of the round becomes infectious with probability
       ``sigma`` (one ``ctx.random_agents`` number each, agents ascending). Agents exposed in step 1
       wait for the next round.
    3. Recovery: every agent infectious at the start of the round becomes susceptible again with
       probability ``gamma`` (one ``ctx.random_agents`` number each, agents ascending), after making its
       attempts of step 1; it can be infected again from the next round on.
    4. Feed exposures: a susceptible agent shown the message is exposed with probability
       ``min(1, beta * feed_weight)``.

    States ``S``, ``E``, ``I``; seeds start in ``I``. ``reached`` counts agents ever infected (ever in
    E or I; a reinfection is not counted again). Not progressive. The session ends when nobody is
    exposed or infectious; near its endemic level it may run for ever (``endless``): stop it with
    ``--max-ticks``.

    NDlib's ``SEISModel`` (6.0.1) has the same rule (``alpha`` is ``sigma``, ``lambda`` is ``gamma``):
    only infectious nodes transmit, ``1 - (1 - beta)^k``, and incubation ends with probability ``alpha``
    per iteration; the two agree tick for tick. Its continuous-time ``SEISctModel`` is another model:
    its chances ``1 - exp(-alpha t)`` follow the iteration number, not the time spent exposed (see
    docs/models/compartmental.md).
    """

    name = "seis"
    version = "1.0"
    description = (
        "SEIS epidemic: exposed agents turn infectious with probability sigma, infectious ones become susceptible "
        "again with gamma."
    )
    params = {"beta": _BETA, "sigma": _SIGMA, "gamma": _GAMMA, "feed_weight": _FEED_WEIGHT}
    states = ("S", "E", "I")
    adopted_states = (1, 2)
    transmitting_states = (2,)
    transmit = "while"
    seed_state = 2
    progressive = False
    uses_feed = True  # reads feed exposures (ctx.feed_open)
    endless = True  # may sit at its endemic level for ever

    def start(self, ctx: StepContext) -> None:
        # The exposed agents, ascending (kept so that a round never scans all N states).
        ctx.store["latent"] = np.empty(0, dtype=np.int32)

    def step(self, ctx: StepContext) -> StepResult:
        infectious = ctx.frontier
        targets, eid = _open_attempts(ctx)
        infected, sources = _infect(ctx, targets, eid, "beta")
        latent = _in_state(ctx, "latent", 1)
        onset = ctx.random_agents(latent) < self.p["sigma"]
        recovered = infectious[ctx.random_agents(infectious) < self.p["gamma"]]
        result = _result([(infected, 1, sources), (latent[onset], 2, None), (recovered, 0, None)], eid.size, targets)
        result, caught = _feed(ctx, result, self.p["beta"], self.p["feed_weight"], 1)
        ctx.store["latent"] = union_agents(latent[~onset], infected, caught)
        return result

    def is_done(self, ctx: StepContext) -> bool:
        return ctx.frontier.size == 0 and not np.any(ctx.state[ctx.store["latent"]] == 1)


# -- SIRS -------------------------------------------------------------------------------------------


class SIRS(PropagationModel):
    """SIRS: SIR whose recovered agents lose their immunity and become susceptible again.

    Paper: W. O. Kermack and A. G. McKendrick (1932), "Contributions to the mathematical theory of
    epidemics. II. The problem of endemicity", Proc. R. Soc. Lond. A 138, 55-83; in the form used here
    (a waning-immunity rate, there written omega) M. J. Keeling and P. Rohani (2008), "Modeling
    Infectious Diseases in Humans and Animals", Princeton University Press, section 2.3. NDlib:
    ``SIRSModel`` with ``beta``, ``gamma`` and ``eta`` (waning immunity); the names here are NDlib's.

    Round t (synchronous, judged on the states at the start of the round, in this order):

    1. Infection: every agent infectious at the start of the round makes one attempt along each out-edge
       to a follower susceptible at the start of the round, succeeding with probability ``beta`` (one
       ``ctx.random_edges`` number per attempt, in gather order; lowest successful sender is the source).
    2. Recovery: every agent infectious at the start of the round recovers (``R``) with probability
       ``gamma`` (one ``ctx.random_agents`` number each, agents ascending), after its attempts.
    3. Waning: every agent recovered at the start of the round becomes susceptible with probability
       ``eta`` (one ``ctx.random_agents`` number each, agents ascending); it can be infected from the
       next round on. Agents that recovered in step 2 keep their immunity at least one round.
    4. Feed exposures: a susceptible agent shown the message is infected with probability
       ``min(1, beta * feed_weight)``.

    States ``S``, ``I``, ``R``; seeds start in ``I``. ``reached`` counts agents ever infected (ever in I
    or R; a reinfection is not counted again). Not progressive. The session ends when nobody is
    infectious (agents still recovered then stay in ``R`` in the final counts: with nobody infectious
    their return to S changes nothing). Near its endemic level it may run for ever (``endless``).
    ``eta = 0`` is SIR; ``eta = 1`` is SIS with a one-round immunity.

    Same rule as NDlib's ``SIRSModel`` (synchronous on the previous iteration's states, infection before
    recovery, waning of the nodes removed at the start of the iteration), with one random number per
    attempt or transition drawn through the context.
    """

    name = "sirs"
    version = "1.0"
    description = "SIRS epidemic: SIR whose recovered agents become susceptible again with probability eta per round."
    params = {"beta": _BETA, "gamma": _GAMMA, "eta": _ETA, "feed_weight": _FEED_WEIGHT}
    states = ("S", "I", "R")
    adopted_states = (1, 2)
    transmitting_states = (1,)
    transmit = "while"
    seed_state = 1
    progressive = False
    uses_feed = True  # reads feed exposures (ctx.feed_open)
    endless = True  # may sit at its endemic level for ever

    def start(self, ctx: StepContext) -> None:
        # The recovered agents, ascending (kept so that a round never scans all N states).
        ctx.store["immune"] = np.empty(0, dtype=np.int32)

    def step(self, ctx: StepContext) -> StepResult:
        infectious = ctx.frontier
        targets, eid = _open_attempts(ctx)
        infected, sources = _infect(ctx, targets, eid, "beta")
        recovered = infectious[ctx.random_agents(infectious) < self.p["gamma"]]
        immune = _in_state(ctx, "immune", 2)
        waned = ctx.random_agents(immune) < self.p["eta"]
        result = _result([(infected, 1, sources), (recovered, 2, None), (immune[waned], 0, None)], eid.size, targets)
        result, _ = _feed(ctx, result, self.p["beta"], self.p["feed_weight"], 1)
        ctx.store["immune"] = union_agents(immune[~waned], recovered)
        return result

    def is_done(self, ctx: StepContext) -> bool:
        return ctx.frontier.size == 0


# -- SWIR -------------------------------------------------------------------------------------------


class SWIR(PropagationModel):
    """SWIR: a first contact may only weaken a susceptible agent; a weakened agent is infected more easily.

    Paper: D. Lee, S. Choi, M. Stippich, J. Kertész and B. Kahng (2016), "Hybrid phase transition into
    an absorbing state: Percolation and avalanches", Phys. Rev. E 93, 042109; NDlib cites D. Lee,
    W. Choi, J. Kertész and B. Kahng (2017), "Universal mechanism for hybrid percolation transitions",
    Sci. Rep. 7, 5723. NDlib: ``SWIRModel`` with ``kappa``, ``mu`` and ``nu``; the names and meanings
    here are NDlib's. With ``nu > kappa`` the two contacts cooperate, which is what makes the
    transition of the final size discontinuous (hybrid) on large random graphs.

    Round t (synchronous for the infectious set, in this order):

    1. Contacts: every agent infectious (``I``) at the start of the round contacts each follower that is
       susceptible (``S``) or weakened (``W``) at the start of the round, with one ``ctx.random_edges``
       number ``u`` per contact, in gather order. Each follower takes its contacts one by one, in
       ascending order of the sender, its state changing as it goes (the papers' "neighbours are
       checked one by one"):

       - in ``S``: ``u < kappa`` infects it (``I``); else ``u < kappa + (1 - kappa) * mu`` weakens it
         (``W``) — that is, after a failed infection it is weakened with probability ``mu``, as in NDlib;
       - in ``W``: ``u < nu`` infects it;
       - once infected in this round, further contacts change nothing.

       So a susceptible agent contacted twice in one round can be weakened by the first contact and
       infected by the second. Its source is the sender of the contact that infected it. Agents infected
       in round t contact their followers in round t+1.
    2. Removal: every agent infectious at the start of the round is removed (``R``) — after its contacts;
       an agent is infectious for exactly one round.
    3. Feed exposures: an agent in ``S`` or ``W`` at the start of the round and shown the message in its
       feed takes one more contact, after its graph contacts of the round, from the feed's sharer, with
       ``kappa``, ``mu`` and ``nu`` each multiplied by ``feed_weight`` (capped at 1); one
       ``ctx.random_agents`` number each, agents ascending. (Reads ``ctx.feed_agents`` itself, because
       weakened agents can catch it too.)

    States ``S``, ``W``, ``I``, ``R`` (codes 0 to 3; NDlib numbers I 1 and W 2); seeds start in ``I``.
    ``reached`` counts agents ever infected (I or R); weakened agents have not adopted. Progressive.
    The session ends when nobody is infectious; weakened agents may be left over.

    Difference from NDlib: NDlib's ``iteration`` reads every node's state at the start of the iteration
    and overwrites the new state contact after contact, so a node weakened by one infectious neighbour
    can be set back to W, or even from I to W, by a later one in the same iteration; here contacts on one
    follower act one after another as the papers describe. The order of a follower's contacts only
    decides which sender is credited, not the chance of being infected.
    """

    name = "swir"
    version = "1.0"
    description = (
        "SWIR epidemic: a contact infects (kappa) or weakens (mu) a susceptible agent; a weakened one is infected "
        "with nu."
    )
    params = {
        "kappa": Param(float, 0.1, 0.0, 1.0, "probability that a contact infects a susceptible agent"),
        "mu": Param(
            float, 0.3, 0.0, 1.0, "probability that a contact that did not infect a susceptible agent weakens it"
        ),
        "nu": Param(float, 0.5, 0.0, 1.0, "probability that a contact infects a weakened agent"),
        "feed_weight": Param(
            float, 1.0, 0.0, 1e6, "a feed exposure is a contact with kappa, mu and nu times feed_weight (capped at 1)"
        ),
    }
    #: The infection probabilities: with both at 0 nobody but the seeds is ever infected.
    zero_params = ("kappa", "nu")
    states = ("S", "W", "I", "R")
    adopted_states = (2, 3)
    transmitting_states = (2,)
    transmit = "while"
    seed_state = 2
    progressive = True
    uses_feed = True  # reads feed exposures (ctx.feed_agents)

    S, W, I, R = 0, 1, 2, 3  # noqa: E741 - the compartments' names

    def step(self, ctx: StepContext) -> StepResult:
        kappa, mu, nu = self.p["kappa"], self.p["mu"], self.p["nu"]
        infectious = ctx.frontier
        targets, eid = _open_attempts(ctx, top=self.W)  # S and W can be contacted
        u = ctx.random_edges(eid)
        changed, new_state, sources = self._contacts(ctx, targets, eid, u, kappa, mu, nu)
        agents = [changed, infectious.astype(np.int64)]
        states = [new_state, np.full(infectious.size, self.R, dtype=np.int8)]
        srcs = [sources, np.full(infectious.size, -1, dtype=np.int32)]
        via = None
        shown = ctx.feed_agents
        if shown.size:
            agents, states, srcs, via = self._feed(
                ctx, shown, ctx.feed_sources, changed, new_state, agents, states, srcs
            )
        result = StepResult(
            np.concatenate(agents),
            np.concatenate(states),
            np.concatenate(srcs),
            attempts=int(eid.size),
            exposed=targets,
            via_feed=via,
        )
        return result

    def _contacts(
        self, ctx: StepContext, targets: np.ndarray, eid: np.ndarray, u: np.ndarray, kappa: float, mu: float, nu: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Step 1: the followers whose state changes, their new states and sources (-1 for W)."""
        leave_s = kappa + (1.0 - kappa) * mu  # u below it moves a susceptible agent (to I or W)
        start = ctx.state[targets]
        # A contact with u at or above every threshold that applies changes nothing: drop it before sorting.
        useful = np.where(start == self.S, u < max(leave_s, nu), u < nu)
        d, e, x, st = targets[useful], eid[useful], u[useful], start[useful]
        if d.size == 0:
            return _EMPTY, np.empty(0, dtype=np.int8), np.empty(0, dtype=np.int32)
        # By follower, each follower's contacts in sender order (gather order): one sort of unique keys.
        span = d.size
        key = d.astype(np.int64) * span + np.arange(span)
        key.sort()
        order = key % span
        d, e, x, st = d[order], e[order], x[order], st[order]
        n = d.size
        head = np.ones(n, dtype=bool)
        head[1:] = d[1:] != d[:-1]
        group = np.cumsum(head) - 1
        idx = np.arange(n)
        follower = d[head]
        g_start = st[head]
        big = n + 1
        # First contact that moves a susceptible follower out of S.
        first = np.full(follower.size, big, dtype=np.int64)
        cand = (st == self.S) & (x < leave_s)
        _first_per_group(first, group[cand], idx[cand])
        direct = (first < big) & (x[np.minimum(first, n - 1)] < kappa)  # that contact infected it
        # From which contact on a follower is weakened: its first contact (W at the start) or the one
        # after the contact that weakened it; never for the others.
        after = np.full(follower.size, big, dtype=np.int64)
        after[g_start == self.W] = -1
        weakened_now = (first < big) & ~direct
        after[weakened_now] = first[weakened_now]
        second = np.full(follower.size, big, dtype=np.int64)
        cand = (x < nu) & (idx > after[group])
        _first_per_group(second, group[cand], idx[cand])
        infected_by = np.where(direct, first, second)
        caught = infected_by < big
        weak = weakened_now & ~caught
        who = np.concatenate([follower[caught], follower[weak]]).astype(np.int64)
        new_state = np.concatenate(
            [np.full(int(caught.sum()), self.I, dtype=np.int8), np.full(int(weak.sum()), self.W, dtype=np.int8)]
        )
        sources = np.concatenate(
            [ctx.edge_sources(e[infected_by[caught]]), np.full(int(weak.sum()), -1, dtype=np.int32)]
        )
        return who, new_state, sources

    def _feed(
        self,
        ctx: StepContext,
        shown: np.ndarray,
        sharers: np.ndarray,
        changed: np.ndarray,
        new_state: np.ndarray,
        agents: list[np.ndarray],
        states: list[np.ndarray],
        srcs: list[np.ndarray],
    ) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], np.ndarray | None]:
        """Step 3: one more contact for agents in S or W at the start of the round shown the message."""
        fw = self.p["feed_weight"]
        start = ctx.state[shown]
        ok = (start == self.S) | (start == self.W)
        shown, sharers = shown[ok].astype(np.int64), sharers[ok]
        u = ctx.random_agents(shown)
        # The state after this round's graph contacts.
        cur = start[ok].astype(np.int8)
        if changed.size:
            pos = np.searchsorted(changed, shown) if _ascending(changed) else None
            if pos is None:
                order = np.argsort(changed)
                changed, new_state = changed[order], new_state[order]
                pos = np.searchsorted(changed, shown)
            pos = np.minimum(pos, changed.size - 1)
            there = changed[pos] == shown
            cur[there] = new_state[pos[there]]
        pk, pm, pn = min(1.0, self.p["kappa"] * fw), min(1.0, self.p["mu"] * fw), min(1.0, self.p["nu"] * fw)
        to_i = ((cur == self.S) & (u < pk)) | ((cur == self.W) & (u < pn))
        to_w = (cur == self.S) & ~to_i & (u < pk + (1.0 - pk) * pm)
        moved = to_i | to_w
        if not moved.any():
            return agents, states, srcs, None
        # The feed's answer replaces the graph's for agents both moved (a weakened agent infected by the feed).
        fed = shown[moved]
        keep = ~np.isin(agents[0], fed)
        agents = [agents[0][keep], agents[1], fed]
        states = [states[0][keep], states[1], np.where(to_i[moved], self.I, self.W).astype(np.int8)]
        srcs = [srcs[0][keep], srcs[1], np.where(to_i[moved], sharers[moved], -1).astype(np.int32)]
        via = np.concatenate([np.zeros(agents[0].size + agents[1].size, dtype=bool), to_i[moved]])
        return agents, states, srcs, via


def _ascending(a: np.ndarray) -> bool:
    return a.size < 2 or bool(np.all(a[1:] > a[:-1]))


def _first_per_group(out: np.ndarray, group: np.ndarray, idx: np.ndarray) -> None:
    """``out[g]`` = the smallest ``idx`` of group ``g`` (both ascending together, so the first one seen)."""
    if group.size:
        head = np.ones(group.size, dtype=bool)
        np.not_equal(group[1:], group[:-1], out=head[1:])
        out[group[head]] = idx[head]


# -- adaptive SIS -----------------------------------------------------------------------------------


class AdaptiveSIS(PropagationModel):
    """Adaptive SIS: susceptible agents stop following infectious agents and follow susceptible ones.

    Paper: T. Gross, C. J. Dommar D'Lima and B. Blasius (2006), "Epidemic dynamics on an adaptive
    network", Phys. Rev. Lett. 96, 208701. Their infection probability ``p``, recovery probability
    ``r`` and rewiring probability ``w`` are ``beta``, ``gamma`` and ``w`` here. NDlib has no adaptive
    model. Gross et al.'s network is undirected; here a link is a follower edge ``u -> v`` (v follows u),
    and an S-I link is an edge from an infectious agent ``u`` to a susceptible follower ``v``.

    Round t (synchronous, judged on the states and the graph at the start of the round, in this order):

    1. Infection: every S-I link gets one ``ctx.random_edges`` number ``x`` (in gather order) and
       transmits when ``x < beta``. A follower reached by several transmitting links is infected once;
       its source is the lowest-numbered successful sender.
    2. Recovery: every agent infectious at the start of the round becomes susceptible with probability
       ``gamma`` (one ``ctx.random_agents`` number each, agents ascending), after its attempts.
    3. Rewiring: a susceptible agent ``v`` that was not infected in step 1 drops each of its S-I links
       with probability ``w``: link ``u -> v`` is rewired when ``x < beta + (1 - beta) * w`` (given that
       it did not transmit, ``x`` is uniform above ``beta``, so this is probability ``w``). ``v`` then
       follows instead a susceptible agent (susceptible at the start of the round) chosen uniformly among
       those it does not follow, other than itself and than those it picked earlier in this round
       (``v``'s rewired links are taken in ascending order of the dropped followee). The choice reuses
       ``x``: with ``y = (x - beta) / ((1 - beta) * w)``, uniform in [0, 1), and ``c`` candidates, it is
       the ``min(floor(y * c), c - 1)``-th candidate in ascending agent order. With no candidate the
       link is kept. A link that transmits is never rewired, and an agent infected along some link does
       not rewire its other links (it is no longer susceptible) — so each link does at most one thing,
       as in the continuous-time model where the first event wins.
    4. Feed exposures: a susceptible agent shown the message is infected with probability
       ``min(1, beta * feed_weight)``; it keeps the rewiring of step 3.

    The removals and additions go to the engine (``StepResult.remove_edges`` / ``add_edges``, new trust
    0.5), which applies them between ticks: every rewiring removes one edge and adds one new edge, so
    one session keeps the number of edges. (Two adaptive sessions running at once may both rewire the
    same edge in one tick; then the count may change.) The graph changes for every session and
    analysis of the world, as intended: this is the network adapting to the epidemic.

    States ``S``, ``I``; seeds start in ``I``. ``reached`` counts agents ever infected. Not progressive.
    The session ends when nobody is infectious. It may sit at an endemic level for ever (``endless``):
    stop it with ``--max-ticks``. With ``w = 0`` it is exactly Agora's ``sis``.

    What rewiring does: it takes followers away from infectious agents and gives them to susceptible
    ones, so an infection must spread faster than its links are cut. Gross et al. find that rewiring
    raises the epidemic threshold and makes the adaptive network show bistability (hysteresis),
    oscillations and degree correlations. A link-level heuristic: an S-I link passes the infection before
    it is cut (by recovery or rewiring) with probability about ``beta / (beta + gamma + w)``, so rewiring
    lowers the number of agents each infected agent infects. On a follower graph a rewiring also moves a
    follower for good from an agent that was infected to one that was not.
    """

    name = "adaptive-sis"
    version = "1.0"
    description = (
        "Adaptive SIS (Gross et al. 2006): susceptible agents rewire their links away from infectious agents with "
        "probability w."
    )
    params = {
        "beta": Param(
            float, 0.05, 0.0, 1.0, "probability that an infectious agent infects a susceptible follower in a round"
        ),
        "gamma": _GAMMA,
        "w": Param(
            float,
            0.1,
            0.0,
            1.0,
            "probability per round that a susceptible agent drops a link to an infectious agent and follows a random "
            "susceptible one",
        ),
        "feed_weight": _FEED_WEIGHT,
    }
    states = ("S", "I")
    adopted_states = (1,)
    transmitting_states = (1,)
    transmit = "while"
    seed_state = 1
    progressive = False
    uses_feed = True  # reads feed exposures (ctx.feed_open)
    changes_edges = True
    endless = True  # may sit at an endemic level for ever

    def step(self, ctx: StepContext) -> StepResult:
        beta, w = self.p["beta"], self.p["w"]
        infectious = ctx.frontier
        targets, eid = _open_attempts(ctx)
        x = ctx.random_edges(eid)
        hit = x < beta
        infected, sources = _first_hits(ctx, targets[hit], eid[hit])
        recovered = infectious[ctx.random_agents(infectious) < self.p["gamma"]]
        result = _result([(infected, 1, sources), (recovered, 0, None)], eid.size, targets)
        if w > 0.0 and beta < 1.0:
            rewire = (x < beta + (1.0 - beta) * w) & ~hit
            if rewire.any():
                rewire[rewire] = ~np.isin(targets[rewire], infected)
            if rewire.any():
                v = targets[rewire].astype(np.int64)
                e = eid[rewire]
                y = (x[rewire] - beta) / ((1.0 - beta) * w)
                dropped, follower, new = _rewire(ctx, v, ctx.edge_sources(e).astype(np.int64), y)
                if dropped.size:
                    result.remove_edges = (dropped, follower)
                    result.add_edges = (new, follower)
        result, _ = _feed(ctx, result, beta, self.p["feed_weight"], 1)
        return result


def _rewire(ctx: StepContext, v: np.ndarray, u: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Step 3 of adaptive SIS: for each rewired link ``u[i] -> v[i]`` (in gather order) with its number
    ``y[i]`` in [0, 1), the susceptible agent ``v[i]`` follows instead. Returns the links rewired
    ``(dropped followees, followers, new followees)``; a link whose follower has no candidate left is kept.

    The candidates of ``v`` are the agents susceptible at the start of the round, less ``v``, its
    followees and its earlier picks. They are never listed: with the excluded agents' positions
    e_0 < e_1 < ... in the ascending list of susceptible agents, the k-th candidate sits at position
    k + #{i : e_i - i <= k}, one search in a sorted array for all followers at once. A follower's first
    rewired link is handled for every follower together; the few followers that rewire two or more
    links in a round take one more pass each."""
    is_s = ctx.state == 0
    susceptible = np.flatnonzero(is_s).astype(np.int32)  # int32 halves the table the picks read
    ns = susceptible.size
    place = np.cumsum(is_s, dtype=np.int32) - 1  # place[a]: a's position in `susceptible` (when a is susceptible)
    order = np.argsort(v * ctx.n + u)  # by follower, then dropped followee (each link once)
    v, u, y = v[order], u[order], y[order]
    head = np.ones(v.size, dtype=bool)
    np.not_equal(v[1:], v[:-1], out=head[1:])
    group = np.cumsum(head) - 1
    rank = np.arange(v.size) - np.flatnonzero(head)[group]  # 0 for a follower's first rewired link
    followers = v[head]
    n_groups = followers.size
    span = ns + 1
    # Excluded positions as sorted keys group * span + position: the followers' susceptible followees
    # (followees lists them grouped by follower, ascending) and the followers themselves: two sorted
    # runs, which a stable sort merges in linear time.
    _, fol_s = ctx.followees(followers)
    fol_g = np.repeat(np.arange(n_groups, dtype=np.int64), ctx.in_degree(followers))
    s_mask = is_s[fol_s]
    key = np.concatenate(
        [fol_g[s_mask] * span + place[fol_s[s_mask]], np.arange(n_groups, dtype=np.int64) * span + place[followers]]
    )
    key = np.sort(key, kind="stable")
    picked = np.full(v.size, -1, dtype=np.int64)
    last = int(rank.max())
    for j in range(last + 1):
        now = np.flatnonzero(rank == j)  # one link per follower, followers ascending
        g = group[now]
        eg = key // span
        counts = np.bincount(eg, minlength=n_groups)
        starts = np.cumsum(counts) - counts
        # f_i = e_i - i within each group: non-decreasing, so group * span + f stays sorted.
        fkey = key - (np.arange(key.size) - starts[eg])
        count = ns - counts[g]
        ok = count > 0
        now, g, count = now[ok], g[ok], count[ok]
        if now.size == 0:
            break
        k = np.minimum(np.floor(y[now] * count).astype(np.int64), count - 1)
        pos = k + (np.searchsorted(fkey, g * span + k, side="right") - starts[g])
        picked[now] = susceptible[pos]
        if j < last:  # keep only the followers with a further link, with their new pick excluded
            more = np.zeros(n_groups, dtype=bool)
            more[group[rank == j + 1]] = True
            key = key[more[eg]]
            new = g * span + pos
            key = np.sort(np.concatenate([key, new[more[g]]]), kind="stable")
    done = picked >= 0
    return u[done], v[done], picked[done]
