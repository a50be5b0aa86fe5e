"""Binary opinion dynamics: the voter, q-voter, majority-rule and Sznajd models.

Shared conventions (all four models):

- Two opinions, the states ``"0"`` and ``"1"``. The message's seed agents start with opinion 1, every
  other agent with 0. ``adopted_states = (1,)``: ``reached`` counts the agents that ever held opinion 1
  (seeds included), and an agent's ``adopted_at`` is the first round it held it. Opinions go both ways
  (``progressive = False``); the session's ``state`` shows who holds which opinion now, and the series
  of a run counts both opinions at every tick.
- Opinions flow along follows: an agent's neighbours are the agents it *follows* (its followees, the
  in-neighbours of the CSR graph, ``in_indices`` in ascending order). Majority rule is the exception: it
  is mean-field and ignores the graph, as in Galam's model and NDlib.
- Nobody transmits (``transmitting_states = ()``): there is no frontier, and every agent may act in every
  tick. Two schedules (the ``schedule`` parameter of voter, majority rule and Sznajd; the q-voter model
  is synchronous only): ``sequential``, the papers' rule for voter and Sznajd and Krapivsky & Redner's
  for majority rule, updates one random agent, pair or group at a time, each seeing the ones before it,
  a tick being one sweep (N updates, N / q groups); ``parallel`` lets every agent decide on the opinions
  held at the start of the round, all changes taking effect together at its end. NDlib's models are the
  sequential schedule, one update per iteration. Each model's default is its paper's (said under each).
- A session ends when no agent can change its opinion any more: at consensus (every agent holds the same
  opinion) or, on a graph that is not connected or has agents that follow nobody (whose opinion never
  changes), when every agent agrees with every agent it follows — the same thing on a connected graph,
  and the only way the graph models can stop on the usual worlds, which have isolated agents. Agents
  that the engine never changes (lifecycle: created, suspended or deactivated) are left out of that
  test; they keep their opinion and still influence others. Each model's docstring states its exact end.
- Randomness comes only from ``ctx.random_agents``: one uniform number per listed agent per call, the
  calls in the order each model states, agents always listed in ascending order (in the sequential
  schedule, the update slots ``0 .. N - 1``, one number each). A followee is picked as
  ``in_indices[in_indptr[v] + floor(u * in_degree(v))]`` from one number ``u``.
- ``sources`` (``adopted_from`` of first adoptions) and ``attempts`` are stated per model.

These models keep nothing in ``ctx.store``: a round depends only on the opinions, the graph and the
session's generator, all of which a snapshot saves, so a reloaded session continues exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from plugins.opinion_continuous import _in_windows  # the window driver the sequential models share
from sim.plugin import (
    BadParameterError,
    Param,
    PropagationModel,
    StepContext,
    StepResult,
    csr_positions,
    disjoint_batches,
    first_conflict,
    unique_sorted,
)

#: How many agents the cheap first pass of an end test looks at (a spread-out sample); see ``_sample``.
_PROBE = 16384

#: The largest group of majority rule's sequential schedule (its members are drawn one at a time).
_SEQUENTIAL_Q = 64


def _changeable(ctx: StepContext) -> np.ndarray | None:
    """Mask of the agents whose opinion the engine may change, or None when every agent may
    (``ctx.frozen``: not joined yet, suspended or deactivated agents never change)."""
    frozen = ctx.frozen
    return None if frozen is None else ~frozen


def _picks(followees: np.ndarray, start: np.ndarray, degree: np.ndarray, u: np.ndarray) -> np.ndarray:
    """One followee per agent: ``followees[start + floor(u * degree)]`` (u < 1, clamped for safety)."""
    offset = np.minimum((u * degree).astype(np.int64), degree - 1)
    return followees[start + offset]


def _followers_of_someone(ctx: StepContext) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(in_indptr, in_indices, in_degree, agents, degree)``: the graph's in-CSR, every agent's in-degree,
    the agents that follow someone (ascending) and their in-degrees."""
    g = ctx.graph
    indptr = g.in_indptr
    indeg = np.diff(indptr)
    agents = np.flatnonzero(indeg)
    return indptr, g.in_indices, indeg, agents, indeg[agents]


def _random_order(u: np.ndarray, agents: np.ndarray, n: int) -> np.ndarray:
    """``agents`` (ascending, each with its number ``u``) sorted by ``floor(u * 2**(63 - b))``, ties to the
    lower agent, where ``b`` is the bit length of ``n - 1``: one sort of int64 keys that pack the
    quantised number above the agent's index (an argsort of the numbers would cost twice as much)."""
    bits = max(1, int(n - 1).bit_length())
    key = ((u * float(2 ** (63 - bits))).astype(np.int64) << bits) | agents.astype(np.int64)
    key.sort()
    return key & ((1 << bits) - 1)


def _sample(agents: np.ndarray) -> np.ndarray:
    """About ``_PROBE`` agents spread over ``agents``: the cheap first pass of an end test, which
    usually finds an agent that can change; the full test runs only when it finds none."""
    return agents[:: max(1, agents.size // _PROBE)]


def _listeners(ctx: StepContext, indeg: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """The agents that follow someone and whose opinion the engine may change (ascending), and the
    mask of :func:`_changeable`."""
    mask = _changeable(ctx)
    return np.flatnonzero(indeg > 0 if mask is None else (indeg > 0) & mask), mask


def _disagreement(ctx: StepContext) -> bool:
    """Whether some changeable agent follows an agent of the other opinion (first on a sample of the
    agents, then, when that finds none, on every in-edge)."""
    state = ctx.state
    g = ctx.graph
    indptr, followees = g.in_indptr, g.in_indices
    indeg = np.diff(indptr)
    listeners, mask = _listeners(ctx, indeg)
    if listeners.size == 0:
        return False
    probe = _sample(listeners)
    rows = _positions(indptr, probe)
    if np.any(state[followees[rows]] != np.repeat(state[probe], indeg[probe])):
        return True
    differs = state[followees] != np.repeat(state, indeg)
    if mask is not None:
        differs &= np.repeat(mask, indeg)
    return bool(differs.any())


def _positions(indptr: np.ndarray, agents: np.ndarray) -> np.ndarray:
    """Positions in the in-CSR of every followee of ``agents``, agent after agent (no Python loop)."""
    starts = indptr[agents]
    counts = indptr[agents + 1] - starts
    if counts.size == 0:
        return np.empty(0, dtype=np.int64)
    offsets = np.cumsum(counts) - counts
    return np.arange(int(counts.sum()), dtype=np.int64) + np.repeat(starts - offsets, counts)


def _schedule(default: str) -> Param:
    """The ``schedule`` parameter, with the paper's schedule as its default."""
    return Param(
        str,
        default,
        help="sequential: one random agent, pair or group at a time, a tick being one sweep (N agents); "
        "parallel: every agent at once on the opinions at the start of the round",
        choices=("sequential", "parallel"),
    )


# -- the sequential schedule ------------------------------------------------------------------------
#
# A sequential tick is a sweep of updates applied one after another, each seeing the ones before it. The
# updates are drawn first and cut into consecutive batches in which no update touches an agent an earlier
# one of the batch changes (sim.plugin.disjoint_batches); such updates commute, so each batch is applied
# at once, exactly as one after another. Where what an update changes depends on the opinions (Sznajd's
# pair convinces only when it agrees), the batches are cut window by window from the current opinions.
# A Python step per batch (about sqrt(N) of them per tick), never one per update.


def _sweep(ctx: StepContext) -> tuple[np.ndarray, np.ndarray]:
    """The N update slots of a sequential tick and their agents: one ``ctx.random_agents`` call over the
    slots ``0 .. N - 1`` (one number ``u_k`` each); slot ``k``'s agent is ``floor(u_k N)``, uniform over
    all agents."""
    n = ctx.n
    slots = np.arange(n)
    return slots, np.minimum((ctx.random_agents(slots) * n).astype(np.int64), n - 1)


def _sweep_followees(
    ctx: StepContext, slots: np.ndarray, agent: np.ndarray, keep: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """One ``ctx.random_agents`` call over the slots (``v_k``): slot ``k``'s agent picks the followee at
    position ``floor(v_k d)`` of its ascending row of ``d`` followees. Only the slots ``keep`` (a bool
    mask, default all) whose agent follows somebody make an update; returns their agents and followees,
    in slot order."""
    g = ctx.graph
    v = ctx.random_agents(slots)
    start = g.in_indptr[agent]
    deg = g.in_indptr[agent + 1] - start
    ok = deg > 0 if keep is None else keep & (deg > 0)
    d = deg[ok]
    return agent[ok], g.in_indices[start[ok] + np.minimum((v[ok] * d).astype(np.int64), d - 1)].astype(np.int64)


def _row_sums(values: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    """Per CSR row, the sum of ``values`` (aligned with the row entries) as int64; 0 for empty rows."""
    n = indptr.size - 1
    out = np.zeros(n, dtype=np.int64)
    rows = np.flatnonzero(np.diff(indptr))
    if rows.size:
        out[rows] = np.add.reduceat(values.astype(np.int64), indptr[rows])
    return out


class _BinaryOpinion(PropagationModel):
    """What the four models share (see the module docstring)."""

    version = "1.0"
    states = ("0", "1")
    adopted_states = (1,)
    transmitting_states = ()
    seed_state = 1
    progressive = False

    def is_done(self, ctx: StepContext) -> bool:
        ones = int(np.count_nonzero(ctx.state))
        if ones == 0 or ones == ctx.n:
            return True  # consensus: the cheap test, an O(N) count
        return not self._can_change(ctx, ones)

    def _can_change(self, ctx: StepContext, ones: int) -> bool:
        """Whether some agent can still change its opinion (consensus already excluded)."""
        return _disagreement(ctx)


class Voter(_BinaryOpinion):
    """The voter model (Clifford & Sudbury 1973, "A model for spatial conflict", Biometrika 60(3):581-588;
    Holley & Liggett 1975, "Ergodic theorems for weakly interacting infinite systems and the voter model",
    Annals of Probability 3(4):643-663). The papers' model is asynchronous: each agent, at the times of
    its own Poisson clock, copies a random neighbour; seen at its jumps, one uniformly random agent at a
    time copies one of its neighbours. ``schedule`` chooses that (``sequential``, the default) or the
    synchronous form (``parallel``: "pull voting", Hassin & Peleg 2001, "Distributed probabilistic
    polling and applications to proportionate agreement", Information and Computation 171(2):248-268).

    ``schedule = "sequential"`` (the papers'): a tick is N updates (one Monte-Carlo sweep), one after
    another, each on the opinions the updates before it left:

    1. slot ``k`` (``k = 0 .. N - 1``) picks an agent ``v = floor(u_k N)``, uniform over all agents (one
       ``ctx.random_agents`` call over the slots);
    2. only when ``rate < 1``: a second call over the slots; slot ``k`` updates only when its number is
       below ``rate``;
    3. a further call over the slots (``w_k``): ``v`` picks the followee
       ``in_indices[in_indptr[v] + floor(w_k * in_degree(v))]`` and takes its opinion. An agent that
       follows nobody (or that the engine never changes) makes an update that changes nothing.

    ``schedule = "parallel"`` (synchronous, on the start-of-round opinions):

    1. Only when ``rate < 1``: one ``ctx.random_agents`` number per agent that follows someone
       (ascending); the agents whose number is below ``rate`` update this round, the others keep their
       opinion. With ``rate = 1`` this draw is not made and every agent that follows someone updates.
    2. One number ``u`` per updating agent (ascending): it picks the followee
       ``in_indices[in_indptr[v] + floor(u * in_degree(v))]`` (uniform among the agents it follows) and
       takes that followee's opinion. Agents that follow nobody never change.

    ``sources``: the copied followee (sequential: the last one an agent copied in the tick).
    ``attempts``: the updates made (one followee read each).

    Ends when no agent that may change follows an agent of the other opinion (consensus on a connected
    graph); with ``rate = 0`` nothing can change and the session ends at once.

    What both schedules keep: the opinion-1 share weighted by the stationary distribution of the
    followee walk is a martingale (on a graph where following is mutual: the degree-weighted share
    ``sum(d_v x_v) / sum(d_v)``; on a regular graph, the plain share), so on a connected graph that
    reaches consensus it ends on opinion 1 with exactly that probability (Hassin & Peleg 2001 for the
    synchronous form). What the parallel one does not: with ``rate = 1`` on a bipartite graph it need not
    reach consensus — the two sides can swap opinions in every round for ever (two agents that follow
    each other with different opinions do so at once), the discrete-time image of two coalescing random
    walks that never meet because they move in step. Any ``rate < 1`` makes the walks lazy and restores
    consensus with the same probability on every connected graph (the lazy variant of Cooper, Elsässer,
    Ono & Radzik 2013, "Coalescing random walks and voting on connected graphs", SIAM J. Discrete Math.
    27(4):1748-1758). NDlib's ``VoterModel`` is the sequential schedule, one update per iteration (N of
    its iterations make one tick).
    """

    name = "voter"
    description = "Voter model: random agents copy the opinion of one random followee (sequential, or all at once)."
    params = {
        "rate": Param(
            float,
            1.0,
            0.0,
            1.0,
            "probability that an agent updates (below 1: lazy; in parallel, no bipartite oscillation)",
        ),
        "schedule": _schedule("sequential"),
    }

    def step(self, ctx: StepContext) -> StepResult:
        if self.p["schedule"] == "sequential":
            return self._sequential(ctx)
        indptr, followees, _, agents, degree = _followers_of_someone(ctx)
        rate = self.p["rate"]
        if rate < 1.0:
            keep = ctx.random_agents(agents) < rate
            agents, degree = agents[keep], degree[keep]
        pick = _picks(followees, indptr[agents], degree, ctx.random_agents(agents))
        state = ctx.state
        new = state[pick]
        moved = new != state[agents]
        return StepResult(agents[moved], new[moved], pick[moved], attempts=int(agents.size))

    def _sequential(self, ctx: StepContext) -> StepResult:
        """One sweep of N sequential updates (see the class docstring)."""
        slots, agent = _sweep(ctx)
        keep = ctx.random_agents(slots) < self.p["rate"] if self.p["rate"] < 1.0 else None
        mask = _changeable(ctx)
        if mask is not None:
            keep = mask[agent] if keep is None else keep & mask[agent]
        listener, speaker = _sweep_followees(ctx, slots, agent, keep)
        before = ctx.state
        state = before.copy()
        source = np.full(ctx.n, -1, dtype=np.int64)
        # The listener is written, the speaker read.
        bounds = disjoint_batches(np.stack((listener, speaker), axis=1), np.array([True, False]))
        for s, e in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
            v, u = listener[s:e], speaker[s:e]
            state[v] = state[u]
            source[v] = u
        changed = np.flatnonzero(state != before)
        return StepResult(changed, state[changed], source[changed], attempts=int(listener.size))

    def _can_change(self, ctx: StepContext, ones: int) -> bool:
        return self.p["rate"] > 0 and _disagreement(ctx)


class QVoter(_BinaryOpinion):
    """The nonlinear q-voter model (Castellano, Muñoz & Pastor-Satorras 2009, "Nonlinear q-voter model",
    Physical Review E 80, 041129).

    Round (synchronous, on the start-of-round opinions), for every agent that follows someone:

    1. It draws ``q`` followees uniformly *with repetition*: ``q`` calls of ``ctx.random_agents``, each one
       number per agent that follows someone (ascending); call k gives every agent its k-th pick.
    2. One more call, one number ``e`` per agent that follows someone (ascending), always made.
    3. If the ``q`` picked followees all hold the same opinion, the agent takes it (conformity);
       otherwise it flips its own opinion when ``e < epsilon``.

    Agents that follow nobody never change. ``sources``: the first picked followee of an agent that
    conformed, -1 for a flip. ``attempts``: ``q`` followee reads per agent that follows someone.

    ``q = 1`` is the synchronous voter model (it reads the same numbers as ``voter`` with ``rate = 1``);
    ``q = 2, epsilon = 0`` is the mean-field image of the Sznajd rule (Castellano et al.). In the mean
    field, consensus is stable below ``epsilon_c = (q - 1) / (2**q - 2)`` and a mixed state (half the
    agents on each side) above it. Ends when no agent that may change follows an agent of the other
    opinion (consensus on a connected graph): then every pick agrees with the agent and ``epsilon``
    never applies. With ``epsilon > 0`` a mixed state keeps flipping, and on a finite graph consensus
    can take very long: stop it with the tick limit.

    NDlib's ``QVoterModel`` (parameter ``q``) updates one random agent per iteration and has no
    ``epsilon`` (its documentation describes it; its code leaves non-unanimous agents unchanged, our
    ``epsilon = 0``); we update all agents at once per round.
    """

    name = "q-voter"
    description = "Nonlinear q-voter: copy q random followees when they agree, else flip with probability epsilon."
    params = {
        "q": Param(int, 2, 1, 32, "followees drawn (with repetition) by each agent in a round"),
        "epsilon": Param(float, 0.0, 0.0, 1.0, "probability of flipping when the q followees do not all agree"),
    }

    def step(self, ctx: StepContext) -> StepResult:
        indptr, followees, _, agents, degree = _followers_of_someone(ctx)
        state = ctx.state
        start = indptr[agents]
        first = _picks(followees, start, degree, ctx.random_agents(agents))
        opinion = state[first]
        unanimous = np.ones(agents.size, dtype=bool)
        for _ in range(self.p["q"] - 1):  # q is a small parameter: a loop over picks, not over agents
            unanimous &= state[_picks(followees, start, degree, ctx.random_agents(agents))] == opinion
        flip = ctx.random_agents(agents) < self.p["epsilon"]
        own = state[agents]
        new = np.where(unanimous, opinion, np.where(flip, 1 - own, own)).astype(np.int8)
        moved = new != own
        sources = np.where(unanimous, first, -1)[moved].astype(np.int32)
        return StepResult(agents[moved], new[moved], sources, attempts=int(agents.size) * self.p["q"])


class MajorityRule(_BinaryOpinion):
    """Majority rule, mean-field: the follower graph is not used. ``schedule`` chooses between Galam's
    discussion cycles (``parallel``, the default: Galam 2002, "Minority opinion spreading in random
    geometry", European Physical Journal B 25(4):403-406, where the whole population is regrouped at
    once) and one random group at a time (``sequential``: Krapivsky & Redner 2003, "Dynamics of majority
    rule in two-state interacting spin systems", Physical Review Letters 90, 238701; NDlib's
    ``MajorityRuleModel``).

    ``schedule = "parallel"`` (Galam's): one ``ctx.random_agents`` number ``u`` per agent (all agents,
    ascending). The agents sorted by ``floor(u * 2**(63 - b))``, where ``b`` is the bit length of
    ``N - 1``, equal values keeping the lower agent first, form a random permutation (exact up to 1,024
    agents; beyond, the key drops the numbers' last bits, and equal keys broken by index occur about once
    in 20 rounds at a million agents: a negligible departure from a uniform permutation). The permutation
    is cut into ``floor(N / q)`` consecutive groups of ``q``; its last ``N mod q`` agents sit this round
    out. Every group adopts its majority opinion, judged on the start-of-round opinions: all its members
    take 1 when more than ``q / 2`` of them hold 1, 0 when fewer do, and ``tie`` when exactly half do
    (even ``q`` only). So every agent is in at most one group per round, and with ``K`` agents holding 1
    the expected number holding 1 after the round is ``(N mod q) * K / N + q * floor(N / q) * P``, where
    ``P`` is the probability that ``q`` agents drawn without repetition from the ``N`` have a majority
    for 1 (hypergeometric) — for ``q = 3`` and large N, Galam's ``p**3 + 3 p**2 (1 - p)``.

    ``schedule = "sequential"`` (Krapivsky & Redner's): a tick is ``G = floor(N / q)`` group updates (one
    Monte-Carlo sweep: each agent meets about one group per tick, as in a parallel round), one after
    another, each on the opinions the groups before it left. Group ``g`` is ``q`` distinct agents drawn
    uniformly: ``q`` ``ctx.random_agents`` calls over the groups ``0 .. G - 1``; with call ``t``'s number
    ``u`` (``t = 0 .. q - 1``), its ``t``-th member is the ``floor(u (N - t))``-th (from 0) of the agents
    not yet in the group, ascending. The group adopts its majority as above (``tie`` on ties). ``q`` is
    at most 64 in this schedule (the members are drawn one at a time). NDlib draws its ``q`` agents with
    repetition, so a group there may hold an agent twice.

    ``sources``: -1 (a group, not one agent, decides). ``attempts``: the agents placed in groups.

    Ends when no agent that may change can be outvoted any more: at consensus, or when ``q = 1`` or
    ``N < q`` (no group can change anybody). With every agent active that is all: in a mixed state with
    ``N >= q`` the minority can always lose a group. Agents the engine never changes (lifecycle) still
    vote but need not agree: one suspended 1 among active 0s with ``q = 2`` can only tie a group, so the
    session ends when ties go to 0 and goes on when they go to 1.

    Ties: NDlib breaks them towards 1 (``tie = "1"``, the default); Galam's ties favour the opinion in
    place, which lets a minority spread (``tie = "0"`` when opinion 1 is the reform).
    """

    name = "majority-rule"
    gives_sources = False  # a group decides, not one agent
    description = (
        "Majority rule (Galam): random groups of q adopt their majority, the whole population regrouped "
        "every round (or one group at a time)."
    )
    params = {
        "q": Param(int, 3, 1, 1_000_000, "size of the discussion groups"),
        "tie": Param(
            str,
            "1",
            help="opinion a tied group takes (even q): 1 as NDlib, 0 for Galam's status quo",
            choices=("1", "0"),
        ),
        "schedule": _schedule("parallel"),
    }

    @classmethod
    def validate(cls, params: dict[str, Any]) -> dict[str, Any]:
        out = super().validate(params)
        if out["schedule"] == "sequential" and out["q"] > _SEQUENTIAL_Q:
            raise BadParameterError(
                f"majority-rule with schedule=sequential takes q up to {_SEQUENTIAL_Q} (its groups are drawn "
                f"member by member), not {out['q']}: give a smaller q or schedule=parallel"
            )
        return out

    def _majority(self, ones: np.ndarray) -> np.ndarray:
        """Each group's new opinion from its count of 1s."""
        q, tie = self.p["q"], int(self.p["tie"])
        return np.where(2 * ones > q, 1, np.where(2 * ones < q, 0, tie)).astype(np.int8)

    def step(self, ctx: StepContext) -> StepResult:
        n = ctx.n
        q = self.p["q"]
        groups = n // q
        if groups == 0 or q == 1:
            return StepResult.nothing()
        if self.p["schedule"] == "sequential":
            return self._sequential(ctx, groups)
        everyone = np.arange(n)
        order = _random_order(ctx.random_agents(everyone), everyone, n)[: groups * q]
        state = ctx.state
        ones = state[order].reshape(groups, q).sum(axis=1, dtype=np.int64)
        after = state.copy()
        after[order] = np.repeat(self._majority(ones), q)
        agents = np.flatnonzero(after != state)
        return StepResult(agents, after[agents], None, attempts=groups * q)

    def _sequential(self, ctx: StepContext, groups: int) -> StepResult:
        """One sweep of ``groups`` sequential group updates (see the class docstring)."""
        n, q = ctx.n, self.p["q"]
        slots = np.arange(groups)
        members = np.empty((groups, q), dtype=np.int64)
        for t in range(q):  # q <= 64: a loop over a group's members, not over agents
            r = np.minimum((ctx.random_agents(slots) * (n - t)).astype(np.int64), n - t - 1)
            # The r-th agent not yet in the group: step over the members drawn so far, in ascending order.
            for c in np.sort(members[:, :t], axis=1).T:
                r += c <= r
            members[:, t] = r
        before = ctx.state
        state = before.copy()
        mask = _changeable(ctx)
        bounds = disjoint_batches(members)
        for s, e in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
            group = members[s:e]
            new = np.broadcast_to(self._majority(state[group].sum(axis=1, dtype=np.int64))[:, None], group.shape)
            if mask is None:
                state[group] = new
            else:
                ok = mask[group]
                state[group[ok]] = new[ok]
        agents = np.flatnonzero(state != before)
        return StepResult(agents, state[agents], None, attempts=groups * q)

    def _can_change(self, ctx: StepContext, ones: int) -> bool:
        n, q = ctx.n, self.p["q"]
        if n < q or q == 1:
            return False
        zeros = n - ones
        mask = _changeable(ctx)
        if mask is None:
            holds_0, holds_1 = zeros > 0, ones > 0
        else:
            holds_0 = bool(np.any(mask & (ctx.state == 0)))
            holds_1 = bool(np.any(mask & (ctx.state == 1)))
        tie = int(self.p["tie"])

        def can_win(count: int, side: int) -> bool:
            # An agent not holding `side` joins at most q - 1 others holding it.
            most = min(count, q - 1)
            return 2 * most > q or (2 * most == q and tie == side)

        return (holds_0 and can_win(ones, 1)) or (holds_1 and can_win(zeros, 0))


class Sznajd(_BinaryOpinion):
    """The Sznajd model ("united we stand"; Sznajd-Weron & Sznajd 2000, "Opinion evolution in closed
    community", International Journal of Modern Physics C 11(6):1157-1165) on the follower graph. The
    paper's rule is sequential (a random pair of neighbours at a time); ``schedule`` chooses it
    (``sequential``, the default) or a parallel variant (``parallel``).

    A pair is an agent ``i`` and one of its followees ``j``; it agrees when both hold the same opinion,
    and an agreeing pair convinces the followers of both members (the agents it reaches; the members
    themselves already hold the opinion).

    ``schedule = "sequential"`` (the paper's): a tick is N pair updates (one Monte-Carlo sweep), one
    after another, each on the opinions the updates before it left. Slot ``k`` (``k = 0 .. N - 1``)
    picks an agent ``i = floor(u_k N)``, uniform over all agents (one ``ctx.random_agents`` call over the
    slots), and its followee ``j`` at position ``floor(v_k d)`` of its ascending row of ``d`` followees
    (a second call over the slots); an agent that follows nobody makes an update that changes nothing. If
    ``i`` and ``j`` agree, every follower of ``i`` or of ``j`` that the engine may change takes their
    opinion. ``sources``: the member of the pair that last changed the agent's opinion in the tick (the
    one it follows; the lower-numbered one when it follows both). ``attempts``: the pairs formed. This is
    NDlib's ``SznajdModel`` (one pair per iteration; on an undirected graph its partner and listeners
    are the neighbours, here the followee and the followers).

    ``schedule = "parallel"`` (synchronous, on the start-of-round opinions):

    1. Pairs: every agent ``i`` that follows someone picks one uniformly random followee ``j``
       (one ``ctx.random_agents`` number per agent that follows someone, ascending, as the voter model
       does). The pair ``(i, j)`` agrees when ``i`` and ``j`` hold the same opinion.
    2. Priorities: a second call, one number ``u`` per agent that follows someone (ascending). The
       agreeing pairs act in the order of ``floor(u * 2**(63 - b))`` of their agent ``i``, where ``b`` is
       the bit length of ``N - 1``, equal values in the order of ``i`` (the same sort as majority rule).
    3. An agreeing pair reaches its two members and every follower of either member, with its opinion.
       Every agent reached by at least one agreeing pair takes the opinion of the reaching pair that
       acts first (pairs act in a random order and the first to reach an agent wins). Agents reached by
       no agreeing pair keep their opinion. A member of an agreeing pair is held by it unless a pair
       that acts earlier reaches it too.

    ``sources`` (parallel): for an agent that holds 1 for the first time, the member of the winning pair
    it follows (the lower-numbered one when it follows both); -1 for other changes (the engine keeps the
    source of first adoptions only). ``attempts``: the pairs formed. Every agent forms a pair in every
    round, conflicts are settled by the priority order, and decisions use the start-of-round opinions (a
    pair that an earlier pair breaks up in the same round still acts).

    Only the "united we stand" rule is used (a disagreeing pair does nothing), as in NDlib and most later
    work; the original 1-D model also made a disagreeing pair's outer neighbours take opposite opinions.

    Ends when no agent that may change can be reached by an agreeing pair of the other opinion: when no
    such agent follows an agent that belongs to some agreeing pair of that opinion (an agent belongs to
    one when it follows, or is followed by, an agent of its own opinion). At consensus this holds; it
    also holds, for instance, for two agents that follow each other with different opinions and nobody
    else — a state that never changes.
    """

    name = "sznajd"
    description = "Sznajd model: agreeing pairs of an agent and a followee convince the followers of both (sequential)."
    params = {"schedule": _schedule("sequential")}

    def _sequential(self, ctx: StepContext) -> StepResult:
        """One sweep of N sequential pair updates (see the class docstring).

        A pair changes somebody only when a follower of one of its members holds the other opinion, so
        every agent's count of followers holding 1 (among those the engine may change) is kept through
        the sweep: a window gathers the followers of those agreeing pairs only, and the batch's writes
        to the agents they change are found from those agents' followees."""
        n = ctx.n
        g = ctx.graph
        out_indptr, out_indices = g.out_indptr, g.out_indices
        in_indptr, in_indices = g.in_indptr, g.in_indices
        slots, agent = _sweep(ctx)
        speaker, partner = _sweep_followees(ctx, slots, agent)
        before = ctx.state
        state = before.copy()
        mask = _changeable(ctx)
        ones = state == 1 if mask is None else (state == 1) & mask
        holds_1 = _row_sums(ones[out_indices], out_indptr)  # followers holding 1, per agent
        reachable = np.diff(out_indptr) if mask is None else _row_sums(mask[out_indices], out_indptr)
        source = np.full(n, -1, dtype=np.int64)
        no_writer = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)  # scratch for first_conflict
        marked = np.zeros(n, dtype=bool)  # scratch: the agents a batch changes
        idle_member = np.zeros(n, dtype=bool)  # scratch: members of the batch's pairs that change nobody

        def apply(start: int, stop: int) -> int:
            m = stop - start
            i, j = speaker[start:stop], partner[start:stop]
            opinion = state[i]
            agree = np.flatnonzero(opinion == state[j])
            # A member of an agreeing pair convinces somebody only when a follower of it holds the other
            # opinion: only those members' followers are gathered.
            everyone = np.concatenate((i[agree], j[agree]))
            everyone_pair = np.concatenate((agree, agree))
            said = opinion[everyone_pair]
            other = np.where(said == 1, reachable[everyone] - holds_1[everyone], holds_1[everyone])
            busy = other > 0
            members, pair_of = everyone[busy], everyone_pair[busy]
            pos, counts = csr_positions(out_indptr, members)
            target = out_indices[pos]
            row = np.repeat(np.arange(members.size), counts)  # the member each follower was gathered for
            if mask is not None:
                ok = np.flatnonzero(mask[target])
                target, row = target[ok], row[ok]
            # The batch reads i and j of every update; it is cut where one reads an agent that an earlier
            # pair of the batch changed (several pairs may write one agent: the last one stands).
            changes = np.flatnonzero(state[target] != said[busy][row])
            rows = np.arange(m)
            done = first_conflict(
                (np.concatenate((rows, rows)), np.concatenate((i, j))),
                (pair_of[row[changes]], target[changes]),
                m,
                no_writer,
                overwrite=True,
            )
            changes = changes[pair_of[row[changes]] < done]
            if changes.size == 0:
                return done
            # Every write of the batch to the agents it changes: the gathered members' and those of the
            # other members of agreeing pairs, which write only what an earlier pair changed.
            changed = target[changes]
            marked[changed] = True
            hit = np.flatnonzero(marked[target])
            row, target = row[hit], target[hit].astype(np.int64)
            owner, member = pair_of[row], members[row]
            before_cut = owner < done
            target, owner, member = target[before_cut], owner[before_cut], member[before_cut]
            idle = np.flatnonzero(~busy & (everyone_pair < done))
            if idle.size:
                changed = unique_sorted(changed)  # a sort, not numpy's hash-based unique
                idle_members, idle_pairs = everyone[idle], everyone_pair[idle]
                idle_member[idle_members] = True
                fpos, fcount = csr_positions(in_indptr, changed)
                followee = in_indices[fpos].astype(np.int64)
                hit = np.flatnonzero(idle_member[followee])
                idle_member[idle_members] = False
                if hit.size:
                    order = np.lexsort((idle_pairs, idle_members))
                    by_member, pair_of = idle_members[order], idle_pairs[order]
                    follower = np.repeat(changed, fcount)[hit]
                    followee = followee[hit]
                    lo = np.searchsorted(by_member, followee, side="left")
                    hits = np.searchsorted(by_member, followee, side="right") - lo
                    at = np.repeat(lo - (np.cumsum(hits) - hits), hits) + np.arange(int(hits.sum()))
                    target = np.concatenate((target, np.repeat(follower, hits)))
                    owner = np.concatenate((owner, pair_of[at]))
                    member = np.concatenate((member, by_member[at]))
            marked[target] = False
            # Each changed agent's writes in order (a pair's lower-numbered member first): the last one
            # stands; the source is the member of the last one that changed the agent's opinion.
            order = np.lexsort((member, owner, target))
            target, said, member = target[order], opinion[owner[order]], member[order]
            first = np.empty(target.size, dtype=bool)
            first[0] = True
            np.not_equal(target[1:], target[:-1], out=first[1:])
            held = np.empty_like(said)
            held[1:] = said[:-1]
            held[first] = state[target[first]]
            moved_at = np.where(said != held, np.arange(target.size), -1)
            starts = np.flatnonzero(first)
            last_change = np.maximum.reduceat(moved_at, starts)
            ends = np.append(starts[1:], target.size) - 1
            who, now = target[starts], said[ends]
            flip = now != state[who]
            source[who] = member[last_change]  # every changed agent has a changing write
            who, now = who[flip], now[flip]
            state[who] = now
            # The followees of the agents that flipped count one more (or one fewer) follower holding 1.
            fpos, fcount = csr_positions(in_indptr, who)
            np.add.at(holds_1, in_indices[fpos], np.repeat(now.astype(np.int64) * 2 - 1, fcount))
            return done

        _in_windows(speaker.size, max(16, int(np.sqrt(n))), apply)
        changed = np.flatnonzero(state != before)
        return StepResult(changed, state[changed], source[changed], attempts=int(speaker.size))

    def step(self, ctx: StepContext) -> StepResult:
        if self.p["schedule"] == "sequential":
            return self._sequential(ctx)
        indptr, followees, indeg, agents, degree = _followers_of_someone(ctx)
        state = ctx.state
        n = ctx.n
        partner = _picks(followees, indptr[agents], degree, ctx.random_agents(agents))
        priority = ctx.random_agents(agents)
        agree = state[partner] == state[agents]
        pairs, mates = agents[agree], partner[agree]
        # Rank of each agreeing pair in the priority order (0 acts first), kept at its agent i; then each
        # agent's best (smallest) rank among the agreeing pairs it belongs to (`none`: no pair). All
        # those pairs hold its opinion, so rank * 2 + opinion is one integer key per agent.
        kind = np.int32 if n < 2**30 - 1 else np.int64
        none = np.iinfo(kind).max // 2
        best = np.full(n, none, dtype=kind)
        best[_random_order(priority[agree], pairs, n)] = np.arange(pairs.size, dtype=kind)
        np.minimum.at(best, mates, best[pairs])  # best[pairs] is read (copied) first: the pairs' own ranks
        key = best * 2 + state
        # A pair reaches v when v or one of v's followees belongs to it: v's winner is the smallest key
        # over itself and its followees.
        won = key.copy()
        gathered = np.empty(0, dtype=kind)
        listens = np.flatnonzero(indeg)
        if listens.size:
            gathered = np.take(key, followees)
            nearest = np.minimum.reduceat(gathered, indptr[listens])
            won[listens] = np.minimum(key[listens], nearest)
        new = (won & 1).astype(np.int8)
        changed = np.flatnonzero(((won >> 1) < none) & (new != state))
        # Sources matter for first adoptions only (the engine keeps no other): for agents that hold 1 for
        # the first time, the first followee, ascending, that carries the winning key (the winner reached
        # v through a followee, since a pair v belongs to holds v's opinion).
        sources = np.full(changed.size, -1, dtype=np.int32)
        first_time = np.flatnonzero((new[changed] == 1) & (ctx.session.adopted_at[changed] < 0))
        if first_time.size:
            who = changed[first_time]
            pos = _positions(indptr, who)
            owner = np.repeat(np.arange(who.size), indeg[who])
            hit = np.flatnonzero(gathered[pos] == won[who][owner])
            first = hit[np.r_[True, owner[hit][1:] != owner[hit][:-1]]]
            sources[first_time] = followees[pos[first]]
        return StepResult(changed, new[changed], sources, attempts=int(agents.size))

    def _can_change(self, ctx: StepContext, ones: int) -> bool:
        state = ctx.state
        g = ctx.graph
        indptr, followees = g.in_indptr, g.in_indices
        indeg = np.diff(indptr)
        listeners, mask = _listeners(ctx, indeg)
        if listeners.size == 0:
            return False
        # Sample first: v's followee u disagrees with v and agrees with one of its own followees.
        probe = _sample(listeners)
        u = followees[_positions(indptr, probe)]
        u = u[state[u] != np.repeat(state[probe], indeg[probe])][:_PROBE]
        if u.size:
            w = followees[_positions(indptr, u)]
            if np.any(state[w] == np.repeat(state[u], indeg[u])):
                return True
        # Full test: members[x] = x is an end of an edge whose two agents agree (a possible agreeing pair).
        same = state[followees] == np.repeat(state, indeg)
        members = np.zeros(ctx.n, dtype=bool)
        members[followees[same]] = True
        rows = np.flatnonzero(indeg)
        members[rows] |= np.logical_or.reduceat(same, indptr[rows])
        reach = ~same & members[followees]
        if mask is not None:
            reach &= np.repeat(mask, indeg)
        return bool(reach.any())
