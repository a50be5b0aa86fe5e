"""Threshold and profile models after NDlib: generalised threshold, Kertész threshold, profile and
profile-threshold.

Four models of social contagion in which an agent looks at the agents it follows (its followees, the
in-neighbours of the follower graph) and adopts by its own rule. They keep the names of NDlib's models
(``ndlib/models/epidemics/GeneralisedThresholdModel.py``, ``KerteszThresholdModel.py``,
``ProfileModel.py``, ``ProfileThresholdModel.py``), their parameter names and their states; each class
docstring cites its paper, states its update rule and says where it differs from NDlib and why.

Common to the four (each class docstring adds its own rule):

- **Rounds are synchronous.** NDlib visits the nodes one after the other in one iteration but judges
  every node on the statuses at the start of the iteration (``self.status``), so its rounds are
  synchronous too; we decide all agents of a round at once, with numpy, on the states at the start of
  the round. Agents that adopt in round t count as adopted for the others from round t+1.
- **States.** ``S`` (0, susceptible), ``I`` (1, infected: adopted) and, where the model has one, ``B``
  (2, blocked: never adopts; NDlib's code -1). The message's seeds start in ``I``. ``reached`` counts
  agents that ever entered ``I``. The models are progressive: nobody leaves ``I``, and ``B`` is for good.
- **Followees.** An agent's adopted share is (followees in ``I``) / (followees), in double precision,
  over all its followees (blocked ones count as not adopted). Peer rules are judged only for agents
  that follow at least one agent in ``I``: an agent is first looked at in the round after one of its
  followees adopted (it follows the round's frontier), so an agent that follows nobody never adopts
  through its peers, and a threshold of 0 means "adopt once any followee has adopted" (as in the
  ``threshold`` model; NDlib would adopt every node with neighbours in its first iteration).
- **Sources.** An agent that adopts through its followees is credited to its lowest-numbered followee in
  ``I`` at the start of the round (``generalised-threshold``: of the round it became inclined); a
  spontaneous (exogenous) adoption has no source (-1).
- **Per-agent thresholds and profiles.** NDlib takes them per node from its configuration; we draw them
  once, when the session starts, into ``ctx.store`` (so a saved and reloaded session goes on exactly).
  With ``threshold_spread = s > 0`` agent v's threshold is ``clip(threshold + s * (2 u_v - 1), 0, 1)``,
  ``u_v`` uniform in [0, 1) from ``ctx.random_agents`` over all agents in index order, i.e. uniform in
  ``[threshold - s, threshold + s)`` and clipped to [0, 1] (Török and Kertész draw theirs as 0.5 ± 0.2
  "with uniform variations"), kept as float32. With ``s = 0`` everybody has ``threshold`` exactly and
  nothing is drawn. ``profile`` and ``profile_spread`` work the same way. When a model draws both, the
  thresholds are drawn first.
- **One random number per agent per round.** Where a round decides several things for an agent (a
  spontaneous adoption, then a coin with its profile, then blocking), the agent draws one number ``u``
  (``ctx.random_agents``, agents ascending) and the unit interval is cut into consecutive pieces whose
  lengths are the probabilities of the outcomes, in the order NDlib decides them. This is the same as
  independent draws, one after the other, and lets tests hand the model one number per (round, agent).
- **Spontaneous adoption** (``adopter_rate``, NDlib's "exogenous adoption rate") needs a number for
  every susceptible agent every round: O(N) numpy work per round, and only when ``adopter_rate > 0``.
  Otherwise a round looks only at the followers of the agents that adopted in the previous round and at
  the agents still waiting on a coin or a delay (kept in ``ctx.store``).
- **Feed exposures.** Only ``profile`` reads them: a feed item makes an agent aware of the message,
  which is what the profile model's coin is about. The three threshold models ignore feeds: their
  mechanism is the adopted share of one's followees, which a recommended item does not change.
"""

from __future__ import annotations

import numpy as np

from sim.plugin import Param, PropagationModel, StepContext, StepResult, union_agents

S, I, B = 0, 1, 2  # noqa: E741 - the states' names

_THRESHOLD = Param(
    float, 0.1, 0.0, 1.0, "adopted share of followees needed (NDlib's node threshold; default 0.1 as there)"
)
_THRESHOLD_SPREAD = Param(
    float, 0.0, 0.0, 1.0, "thresholds are uniform in threshold +- spread (clipped to [0, 1]), drawn once"
)
_PROFILE = Param(
    float, 0.1, 0.0, 1.0, "probability that an aware agent adopts in a round (NDlib's node profile; default 0.1)"
)
_PROFILE_SPREAD = Param(
    float, 0.0, 0.0, 1.0, "profiles are uniform in profile +- spread (clipped to [0, 1]), drawn once"
)
_ADOPTER_RATE = Param(float, 0.0, 0.0, 1.0, "probability that a susceptible agent adopts spontaneously in a round")
_BLOCKED = Param(float, 0.0, 0.0, 1.0, "probability that an agent that turned the message down is blocked for good")

_EMPTY = np.empty(0, dtype=np.int32)


# -- shared pieces ----------------------------------------------------------------------------------


def _draw_values(ctx: StepContext, value: float, spread: float) -> np.ndarray:
    """Per-agent values uniform in ``value +- spread``, clipped to [0, 1], float32 (one number per agent)."""
    u = ctx.random_agents(np.arange(ctx.n, dtype=np.int32))
    return np.clip(value + spread * (2.0 * u - 1.0), 0.0, 1.0).astype(np.float32)


def _values(ctx: StepContext, key: str, value: float, agents: np.ndarray) -> np.ndarray | float:
    """The listed agents' per-agent values from the store (float64), or the one value for everybody."""
    drawn = ctx.store.get(key)
    return value if drawn is None else drawn[agents].astype(np.float64)


def _open_followers(ctx: StepContext) -> tuple[np.ndarray, int]:
    """Susceptible followers of the frontier, ascending and once each, and the number of frontier
    out-edges that reach a susceptible agent (the round's attempts)."""
    targets, _ = ctx.gather_targets()
    if targets.size == 0:
        return _EMPTY, 0
    targets = targets[ctx.state[targets] == S]
    if targets.size == 0:
        return _EMPTY, 0
    if targets.size * 16 < ctx.n:  # few: a sort is cheaper than a pass over all agents
        return np.unique(targets).astype(np.int32), int(targets.size)
    flag = np.zeros(ctx.n, dtype=bool)
    flag[targets] = True
    return np.flatnonzero(flag).astype(np.int32), int(targets.size)


def _followee_stats(ctx: StepContext, agents: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each listed agent: followees in ``I``, followees, and its lowest-numbered followee in ``I``
    (-1 if none), all on the states at the start of the round."""
    g = ctx.graph
    a = np.asarray(agents, dtype=np.int64)
    starts = g.in_indptr[a]
    degree = g.in_indptr[a + 1] - starts
    adopted = np.zeros(a.size, dtype=np.int64)
    first = np.full(a.size, -1, dtype=np.int32)
    rows = np.flatnonzero(degree)
    if rows.size == 0:
        return adopted, degree, first
    s_rows, d_rows = starts[rows], degree[rows]
    if 3 * int(d_rows.sum()) > g.in_indices.size:
        # Most of the graph: one pass over every in-edge beats gathering the rows.
        followees = g.in_indices
        begins, ends = s_rows, s_rows + d_rows
    else:
        # The rows one after the other: positions from a cumsum of steps (1 inside a row, a jump
        # between rows), cheaper than repeat + arange on millions of edges.
        ends = np.cumsum(d_rows)
        begins = ends - d_rows
        step = np.ones(int(ends[-1]), dtype=np.int64)
        step[0] = s_rows[0]
        step[begins[1:]] = s_rows[1:] - (s_rows[:-1] + d_rows[:-1]) + 1
        followees = g.in_indices[np.cumsum(step, out=step)]
    hit = ctx.state[followees] == I
    # Hits up to each row's end and before its beginning; a row's first hit is hits[hits before it].
    running = np.cumsum(hit, dtype=np.int64)
    before_end = running[ends - 1]
    before_begin = running[begins] - hit[begins]
    adopted[rows] = before_end - before_begin
    # A row's followees ascend (sorted in-rows): its first hit is its lowest-numbered adopted followee.
    some = before_end > before_begin
    if some.any():
        first[rows[some]] = followees[np.flatnonzero(hit)[before_begin[some]]]
    return adopted, degree, first


def _susceptible_draws(ctx: StepContext, exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Every susceptible agent (ascending, without ``exclude``) and a column of length N holding one
    uniform number for each of them (2.0, above any probability, for everybody else)."""
    open_ = ctx.state == S
    if exclude is not None and exclude.size:
        open_ = open_.copy()
        open_[exclude] = False
    agents = np.flatnonzero(open_).astype(np.int32)
    u = np.full(ctx.n, 2.0)
    u[agents] = ctx.random_agents(agents)
    return agents, u


def _answer(parts: list[tuple], attempts: int, exposed: np.ndarray) -> StepResult:
    """A StepResult from disjoint groups ``(agents, state, sources)`` or ``(agents, state, sources,
    via_feed)``."""
    parts = [p for p in parts if p[0].size]
    if not parts:
        return StepResult.nothing(attempts=attempts, exposed=exposed)
    agents = np.concatenate([p[0].astype(np.int64) for p in parts])
    states = np.concatenate([np.full(p[0].size, p[1], dtype=np.int8) for p in parts])
    sources = np.concatenate([np.asarray(p[2], dtype=np.int32) for p in parts])
    via = None
    if any(len(p) > 3 for p in parts):
        via = np.concatenate([p[3] if len(p) > 3 else np.zeros(p[0].size, dtype=bool) for p in parts])
    return StepResult(agents, states, sources, attempts=attempts, exposed=exposed, via_feed=via)


def _none(size: int) -> np.ndarray:
    return np.full(size, -1, dtype=np.int32)


# -- generalised threshold ---------------------------------------------------------------------------


class GeneralisedThreshold(PropagationModel):
    """Generalised threshold model: threshold adoption after a delay, plus exogenous adoption growing in time.

    Paper: J. Török and J. Kertész (2017), "Cascading collapse of online social networks", Scientific
    Reports 7, 16743. There agents *leave* a service; here leaving is adopting (``I``). Their rule: a
    node whose threshold condition holds leaves "not immediately but with a rate 1/tau"; besides, nodes
    leave spontaneously with a rate growing linearly in time, ``gamma = mu t / tau``. NDlib's
    ``GeneralisedThresholdModel`` (parameters ``tau``, ``mu``, node ``threshold``; states Susceptible,
    Infected) puts nodes whose condition holds in a queue and takes them out ``tau`` iterations later.

    Round t (t = 1, 2, ...; all judged on the states at the start of the round):

    1. Exogenous adoption: every susceptible agent adopts with probability ``g_t = min(1, mu * t /
       tau)`` (one ``ctx.random_agents`` number ``u`` per susceptible agent, ascending, when ``g_t > 0``:
       it adopts when ``u < g_t``). No source.
    2. Inclination: every susceptible follower of the frontier (an agent a followee of which adopted in
       round t-1; the seeds in round 1) that is not inclined yet and did not adopt in step 1 becomes
       *inclined* in round t when its adopted share is at least its threshold. On a fixed graph the share
       only grows, so an inclined agent stays inclined (kept in ``ctx.store["inclined_at"]``).
    3. Delayed adoption, for every inclined agent that did not adopt in step 1 (those inclined in step 2
       included): ``delay = "fixed"`` (NDlib's queue): it adopts in round ``t0 + tau - 1``, ``t0`` the
       round it became inclined, so ``tau = 1`` is the plain threshold model; ``delay = "random"`` (the
       paper's rate): it adopts in each round with probability ``1 / tau`` (a geometric delay of mean
       ``tau`` rounds, the round of inclination counting as the first), by the same number ``u`` as in
       step 1: it adopts when ``g_t <= u < g_t + (1 - g_t) / tau`` (drawn for the inclined agents alone
       when ``g_t = 0``). Its source is the lowest-numbered followee that had adopted when it became
       inclined (at the start of round ``t0``).

    Done when nothing can change any more: with ``mu > 0`` when nobody is susceptible (``g_t`` reaches 1
    by round ``tau / mu``, so every run ends); with ``mu = 0`` when a round adopted nobody (an empty
    frontier) and nobody is inclined and susceptible.

    Where we differ from NDlib, and why: NDlib reads ``mu t / tau`` as a *number* of random nodes per
    iteration; we read it as the per-agent probability the paper's "rate" is, so that the model means the
    same on a thousand agents and on a million. NDlib's queue drops the nodes it takes out without
    infecting them (a bug: its threshold nodes never adopt); ours adopt. ``tau`` counts rounds from 1
    (NDlib's ``tau = 0`` would divide by zero in ``mu t / tau``). ``delay = "random"`` is the paper's rule,
    which NDlib does not have. Nothing from feeds.
    """

    name = "generalised-threshold"
    version = "1.0"
    description = (
        "Generalised threshold (Török-Kertész): threshold adoption after a delay tau, plus exogenous adoption at rate "
        "mu t / tau."
    )
    params = {
        "threshold": _THRESHOLD,
        "threshold_spread": _THRESHOLD_SPREAD,
        "tau": Param(int, 3, 1, 1_000_000, "delay in rounds between meeting the threshold and adopting (NDlib's tau)"),
        "mu": Param(
            float,
            0.0,
            0.0,
            1_000_000.0,
            "exogenous timescale: a susceptible agent adopts in round t with probability min(1, mu t / tau)",
        ),
        "delay": Param(
            str,
            "fixed",
            choices=("fixed", "random"),
            help="fixed: adopt exactly tau rounds after (NDlib's queue); random: with probability 1/tau per round "
            "(the paper's rate)",
        ),
    }
    states = ("S", "I")
    adopted_states = (I,)
    transmitting_states = (I,)
    transmit = "once"
    seed_state = I
    progressive = True

    def start(self, ctx: StepContext) -> None:
        if self.p["threshold_spread"] > 0:
            ctx.store["threshold"] = _draw_values(ctx, self.p["threshold"], self.p["threshold_spread"])
        # The round (from 1) in which each agent became inclined (-1: not inclined), and its lowest-numbered
        # adopted followee then (its source when it adopts).
        ctx.store["inclined_at"] = np.full(ctx.n, -1, dtype=np.int32)
        ctx.store["credit"] = np.full(ctx.n, -1, dtype=np.int32)

    def _exogenous(self, t: int) -> float:
        return min(1.0, self.p["mu"] * t / self.p["tau"])

    def step(self, ctx: StepContext) -> StepResult:
        t = ctx.round + 1
        tau = self.p["tau"]
        g_t = self._exogenous(t)
        inclined_at, credit = ctx.store["inclined_at"], ctx.store["credit"]
        # 1. exogenous adoption
        exo = _EMPTY
        u_all = _EMPTY  # one number per agent, drawn only when there is exogenous adoption (g_t > 0)
        if g_t > 0:
            sus, u_all = _susceptible_draws(ctx)
            exo = sus[u_all[sus] < g_t]
        # 2. inclination of the frontier's followers
        cand, attempts = _open_followers(ctx)
        exposed = cand
        cand = cand[inclined_at[cand] < 0]
        if exo.size and cand.size:
            cand = cand[u_all[cand] >= g_t]
        if cand.size:
            adopted, degree, first = _followee_stats(ctx, cand)
            share = adopted / degree  # every candidate follows a frontier agent: degree >= 1
            met = share >= _values(ctx, "threshold", self.p["threshold"], cand)
            inclined_at[cand[met]] = t
            credit[cand[met]] = first[met]
        # 3. delayed adoption of the inclined
        waiting = np.flatnonzero((inclined_at >= 0) & (ctx.state == S)).astype(np.int32)
        if exo.size and waiting.size:
            waiting = waiting[u_all[waiting] >= g_t]
        if self.p["delay"] == "fixed":
            due = waiting[t - inclined_at[waiting] + 1 >= tau]
        else:
            u = u_all[waiting] if g_t > 0 else ctx.random_agents(waiting)
            due = waiting[u < g_t + (1.0 - g_t) / tau]
        return _answer([(exo, I, _none(exo.size)), (due, I, credit[due])], attempts, exposed)

    def is_done(self, ctx: StepContext) -> bool:
        if self.p["mu"] > 0:
            return not np.any(ctx.state == S)
        if ctx.frontier.size:
            return False
        return not np.any((ctx.store["inclined_at"] >= 0) & (ctx.state == S))


# -- Kertész threshold ------------------------------------------------------------------------------


class KerteszThreshold(PropagationModel):
    """Kertész threshold model: threshold adoption with spontaneous adopters and blocked agents.

    Paper: Z. Ruan, G. Iñiguez, M. Karsai and J. Kertész (2015), "Kinetics of social contagion",
    Physical Review Letters 115, 218702. Agents are susceptible, adopters or blocked (immune: they never
    adopt); a susceptible agent adopts spontaneously with probability ``adopter_rate`` per step (the
    innovators), or when the adopted fraction of its neighbours reaches its threshold. NDlib's
    ``KerteszThresholdModel``: parameters ``adopter_rate`` (default 0), ``percentage_blocked`` (0.1),
    node ``threshold`` (0.1); states Susceptible, Infected, Blocked.

    At the start (after the seeds are placed): ``k = int(N * percentage_blocked)`` agents among the
    non-seeds are chosen to be blocked, uniformly: one ``ctx.random_agents`` number per non-seed agent
    (ascending; drawn after the thresholds when ``threshold_spread > 0``) and the ``k`` smallest are
    chosen (ties to the lower index); all non-seeds when there are fewer than ``k``. They are in ``B``
    from tick 0 (``start`` answers them): they never adopt and never draw.

    Round t (judged on the states at the start of the round):

    1. Spontaneous adoption (when ``adopter_rate > 0``): every susceptible agent that is not blocked
       draws one number ``u`` (agents ascending) and adopts when ``u < adopter_rate``. No source.
    2. Threshold: every susceptible, non-blocked follower of the frontier (an agent a followee of which
       adopted in round t-1; the seeds in round 1) that did not adopt in step 1 adopts when its adopted
       share is at least its threshold. Blocked followees count as not adopted.

    Done when nothing can change any more: with ``adopter_rate > 0`` when nobody is susceptible (everybody
    not blocked adopted); with ``adopter_rate = 0`` after a round without adoption (an empty frontier:
    no share changed, so no later round can adopt anybody).

    Where we differ from NDlib, and why: NDlib counts a blocked neighbour's status -1 as 0 in the
    numerator, as we do, and every neighbour in the denominator, as we do; it examines every node every
    iteration, we only the frontier's followers (the others' shares did not change). NDlib blocks
    nodes in its iteration 0, as our tick 0 does. Nothing from feeds. No parameter stops the spread (the
    threshold rule is deterministic and ``adopter_rate`` adopts from outside the graph): ``zero_params = ()``.
    """

    name = "kertesz-threshold"
    version = "1.0"
    description = (
        "Kertész threshold (Ruan et al. 2015): threshold adoption, spontaneous adopters at adopter_rate, a blocked "
        "share that never adopts."
    )
    params = {
        "threshold": _THRESHOLD,
        "threshold_spread": _THRESHOLD_SPREAD,
        "adopter_rate": _ADOPTER_RATE,
        "percentage_blocked": Param(
            float, 0.1, 0.0, 1.0, "share of all agents chosen at the start (among the non-seeds) to be blocked"
        ),
    }
    states = ("S", "I", "B")
    adopted_states = (I,)
    transmitting_states = (I,)
    transmit = "once"
    seed_state = I
    progressive = True
    zero_params = ()  # no parameter stops the spread (see the docstring)

    def start(self, ctx: StepContext) -> StepResult | None:
        if self.p["threshold_spread"] > 0:
            ctx.store["threshold"] = _draw_values(ctx, self.p["threshold"], self.p["threshold_spread"])
        k = int(ctx.n * self.p["percentage_blocked"])
        to_block = np.empty(0, dtype=np.int32)
        if k > 0:
            open_ = np.flatnonzero(ctx.state == S).astype(np.int32)
            if k >= open_.size:
                to_block = open_
            else:
                u = ctx.random_agents(open_)
                to_block = np.sort(open_[np.argsort(u, kind="stable")[:k]])
        # They are blocked from tick 0: the engine applies this answer with the seeding.
        return StepResult(to_block, B)

    def step(self, ctx: StepContext) -> StepResult:
        a = self.p["adopter_rate"]
        # 1. spontaneous adoption
        spont = _EMPTY
        if a > 0:
            sus, u = _susceptible_draws(ctx)
            spont = sus[u[sus] < a]
        # 2. threshold adoption of the frontier's followers
        cand, attempts = _open_followers(ctx)
        exposed = cand
        if spont.size and cand.size:
            cand = cand[~np.isin(cand, spont)]
        won, first = _EMPTY, _EMPTY
        if cand.size:
            adopted, degree, first = _followee_stats(ctx, cand)
            win = adopted / degree >= _values(ctx, "threshold", self.p["threshold"], cand)
            won, first = cand[win], first[win]
        return _answer([(spont, I, _none(spont.size)), (won, I, first)], attempts, exposed)

    def is_done(self, ctx: StepContext) -> bool:
        if self.p["adopter_rate"] > 0:
            return not np.any(ctx.state == S)
        return ctx.frontier.size == 0


# -- profile and profile-threshold ------------------------------------------------------------------


class _Aware(PropagationModel):
    """The round shared by ``profile`` and ``profile-threshold``: agents that are *aware* (a flag kept in
    ``ctx.store["aware"]``) flip a coin every round until they adopt or are blocked."""

    states = ("S", "I", "B")
    adopted_states = (I,)
    transmitting_states = (I,)
    transmit = "once"
    seed_state = I
    progressive = True
    #: The checker's zero-probability run sets these to 0 (with adopter_rate): then nobody adopts.
    zero_params = ("profile",)

    def start(self, ctx: StepContext) -> None:
        if self.p.get("threshold_spread", 0.0) > 0:
            ctx.store["threshold"] = _draw_values(ctx, self.p["threshold"], self.p["threshold_spread"])
        if self.p["profile_spread"] > 0:
            ctx.store["profile"] = _draw_values(ctx, self.p["profile"], self.p["profile_spread"])
        ctx.store["aware"] = np.zeros(ctx.n, dtype=bool)

    def _newly_aware(self, ctx: StepContext, cand: np.ndarray) -> np.ndarray:
        """Which of the frontier's susceptible followers become aware this round."""
        raise NotImplementedError

    def _can_change(self, ctx: StepContext, agents: np.ndarray) -> np.ndarray | bool:
        """Whether an aware agent's coin can ever do anything: a profile above 0, or blocking on."""
        if self.p["blocked"] > 0:
            return np.ones(agents.size, dtype=bool)
        return _values(ctx, "profile", self.p["profile"], agents) > 0

    def _feed(self, ctx: StepContext) -> tuple[np.ndarray, np.ndarray]:
        return _EMPTY, _EMPTY

    def step(self, ctx: StepContext) -> StepResult:
        a, blocked = self.p["adopter_rate"], self.p["blocked"]
        aware = ctx.store["aware"]
        cand, attempts = _open_followers(ctx)
        fresh = self._newly_aware(ctx, cand[~aware[cand]]) if cand.size else _EMPTY
        if fresh.size:
            aware[fresh[self._can_change(ctx, fresh)]] = True
        pending = np.flatnonzero(aware & (ctx.state == S)).astype(np.int32)
        shown, sharers = self._feed(ctx)
        if shown.size:
            keep = ~np.isin(shown, pending)
            shown, sharers = shown[keep], sharers[keep]
        flip = union_agents(pending, shown) if shown.size else pending
        # one number per agent: spontaneous adoption, then the profile coin, then blocking
        spont = _EMPTY
        if a > 0:
            sus, u_all = _susceptible_draws(ctx)
            spont = sus[u_all[sus] < a]
            u = u_all[flip]
        else:
            u = ctx.random_agents(flip)
        profile = _values(ctx, "profile", self.p["profile"], flip)
        adopt_below = a + (1.0 - a) * profile
        block_below = adopt_below + (1.0 - a) * (1.0 - profile) * blocked
        adopt = (u >= a) & (u < adopt_below)
        block = (u >= adopt_below) & (u < block_below)
        adopters, gone = flip[adopt], flip[block]
        from_feed = np.isin(adopters, shown) if shown.size else np.zeros(adopters.size, dtype=bool)
        sources = np.full(adopters.size, -1, dtype=np.int32)
        if from_feed.any():
            sources[from_feed] = sharers[np.searchsorted(shown, adopters[from_feed])]
        if (~from_feed).any():
            sources[~from_feed] = _followee_stats(ctx, adopters[~from_feed])[2]
        return _answer(
            [(spont, I, _none(spont.size)), (adopters, I, sources, from_feed), (gone, B, _none(gone.size))],
            attempts,
            cand,
        )

    def is_done(self, ctx: StepContext) -> bool:
        if self.p["adopter_rate"] > 0:
            return not np.any(ctx.state == S)
        if ctx.frontier.size:
            return False
        return not np.any(ctx.store["aware"] & (ctx.state == S))


class Profile(_Aware):
    """Profile model: an agent that knows of the message adopts by its own taste, not by peer pressure.

    Paper: L. Milli, G. Rossetti, D. Pedreschi and F. Giannotti (2018), "Active and passive diffusion
    processes in complex networks", Applied Network Science 3, 42 (first as "Information diffusion in
    complex networks: the active/passive conundrum", Complex Networks 2017). NDlib's ``ProfileModel``:
    node ``profile`` (default 0.1), ``blocked`` (0), ``adopter_rate`` (0); states Susceptible, Infected,
    Blocked. "Each node has its own profile describing how likely it is to accept a behaviour": a node
    with an infected neighbour flips a coin unbalanced by its profile every iteration until it adopts;
    a node that turns it down is blocked (immune) with probability ``blocked``; and nodes adopt
    spontaneously at ``adopter_rate``.

    An agent becomes *aware* in the round after one of its followees adopted (it follows the round's
    frontier; the seeds' followers in round 1), and stays aware. Round t, every agent judged on the
    states at the start of the round:

    1. Spontaneous adoption (when ``adopter_rate = a > 0``): every susceptible agent draws one number
       ``u`` (agents ascending) and adopts when ``u < a``. No source.
    2. Coin: every susceptible aware agent (and every susceptible agent shown the message in its feed
       this round, see below) with profile ``p`` adopts when ``a <= u < a + (1 - a) p`` (probability
       ``p`` once it did not adopt spontaneously), credited to its lowest-numbered adopted followee; it
       is blocked for good when ``a + (1 - a) p <= u < a + (1 - a) (p + (1 - p) blocked)`` (probability
       ``blocked`` once it turned the message down). Otherwise it stays susceptible and aware, and flips
       again next round. The number ``u`` is the one of step 1, or, when ``a = 0``, one drawn for the
       flipping agents alone (ascending).

    An aware agent whose coin can do nothing (``p = 0`` and ``blocked = 0``) is not kept, so that the end
    is seen. Done when nothing can change any more: with ``a > 0`` when nobody is susceptible; with
    ``a = 0`` after a round without adoption (an empty frontier) once no susceptible agent is aware.

    Feed exposures (``uses_feed``): being shown the message in a feed makes an agent aware for that round
    only: it flips the coin of step 2 in that round (once, however many items), with its own profile.
    An agent aware anyway flips as usual (a graph adoption); one aware only through the feed that
    adopts is a feed adoption credited to the feed's sharer.

    Where we differ from NDlib, and why: NDlib's code adopts when a uniform number is *at least* the
    profile (probability ``1 - profile``) and blocks when another is *above* ``blocked`` (probability
    ``1 - blocked``, and never when ``blocked = 0``), the opposite of its documentation and of the
    paper's reading of a profile as a propensity to adopt; we follow the documentation: ``profile`` is
    the probability of adopting, ``blocked`` the probability of being blocked after turning it down.
    NDlib's code adds a blocked neighbour's -1 to its count of infected neighbours; we count adopted
    followees only.
    """

    name = "profile"
    version = "1.0"
    description = (
        "Profile (Milli et al. 2018): aware agents adopt with their profile's probability each round; refusers may be "
        "blocked."
    )
    uses_feed = True  # a feed item makes an agent aware for that round
    params = {
        "profile": _PROFILE,
        "profile_spread": _PROFILE_SPREAD,
        "blocked": _BLOCKED,
        "adopter_rate": _ADOPTER_RATE,
    }

    def _newly_aware(self, ctx: StepContext, cand: np.ndarray) -> np.ndarray:
        return cand  # following an agent that adopted is enough

    def _feed(self, ctx: StepContext) -> tuple[np.ndarray, np.ndarray]:
        shown, sharers = ctx.feed_open()
        if shown.size == 0:
            return _EMPTY, _EMPTY
        shown, first = np.unique(shown, return_index=True)
        return shown.astype(np.int32), np.asarray(sharers)[first].astype(np.int32)


class ProfileThreshold(_Aware):
    """Profile-threshold model: peer pressure first (a threshold), then the agent's own taste (a profile).

    Paper: L. Milli, G. Rossetti, D. Pedreschi and F. Giannotti (2018), "Active and passive diffusion
    processes in complex networks", Applied Network Science 3, 42. NDlib's ``ProfileThresholdModel``:
    node ``threshold`` (default 0.1) and ``profile`` (0.1), ``blocked`` (0), ``adopter_rate`` (0);
    states Susceptible, Infected, Blocked. A node whose adopted share of neighbours reaches its threshold
    flips a coin unbalanced by its profile, every iteration until it adopts, and may be blocked after
    turning the behaviour down.

    The ``profile`` model's round (see there: spontaneous adoption at ``adopter_rate``, then the coin and
    blocking, one number per agent), except that an agent becomes aware only when its adopted share is at
    least its threshold: every susceptible follower of the frontier that is not aware yet is judged on
    the states at the start of the round, and one whose share reaches its threshold flips its coin in that
    very round. On a fixed graph the share only grows, so an aware agent stays aware. Feeds do not count.

    Done when nothing can change any more: with ``adopter_rate > 0`` when nobody is susceptible; otherwise
    after a round without adoption once no susceptible agent is aware.

    Where we differ from NDlib, and why: as for ``profile`` (``profile`` is the probability of adopting
    and ``blocked`` of being blocked, as NDlib documents them; its code uses the complements).
    """

    name = "profile-threshold"
    version = "1.0"
    description = (
        "Profile-threshold (Milli et al. 2018): agents whose adopted share reaches a threshold adopt with their "
        "profile's probability."
    )
    params = {
        "threshold": _THRESHOLD,
        "threshold_spread": _THRESHOLD_SPREAD,
        "profile": _PROFILE,
        "profile_spread": _PROFILE_SPREAD,
        "blocked": _BLOCKED,
        "adopter_rate": _ADOPTER_RATE,
    }

    def _newly_aware(self, ctx: StepContext, cand: np.ndarray) -> np.ndarray:
        adopted, degree, _ = _followee_stats(ctx, cand)
        return cand[adopted / degree >= _values(ctx, "threshold", self.p["threshold"], cand)]
