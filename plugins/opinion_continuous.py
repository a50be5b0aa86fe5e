"""Continuous opinion dynamics: Deffuant, Hegselmann-Krause, weighted HK, algorithmic bias, cognitive.

Five bounded-confidence models and relatives, written for the follower graph, in columns (no Python loop
over agents, edges or updates).

Conventions shared by the five models:

- Opinion: a continuous variable ``opinion`` in [0, 1] (``ctx.variables["opinion"]``), drawn uniformly
  in [0, 1) from the session's generator when the session starts, or taken from the world's ``opinion``
  column (clipped to [0, 1]) when the world has one. The message's seed agents start at 1.0.
- Neighbours: an agent listens to the agents it follows (its followees, the in-CSR row
  ``in_indices[in_indptr[i]:in_indptr[i + 1]]``, ascending): opinions flow along follows, the way a
  message does. An agent that follows nobody keeps its opinion (the cognitive model's institutional
  step still moves it).
- Two schedules (the ``schedule`` parameter of all but HK, whose paper's rule is synchronous):
  ``sequential``, the papers' rule and the default, applies N random updates (agents or pairs) one after
  another, each seeing the ones before it, a tick being one sweep, and moves both agents of a pair where
  the paper does; ``parallel`` computes every new opinion of a round from the opinions at its start and
  applies all at once, only the follower moving. NDlib's WHK, algorithmic bias and cognitive models
  are the sequential schedule (N updates per iteration). Each model's docstring states both rules.
- States: ``"0"`` (opinion below 0.5) and ``"1"`` (opinion 0.5 or more). ``seed_state = 1``;
  ``adopted_states = (1,)`` so ``reached`` counts the seeds plus every agent whose opinion was 0.5 or
  more at the start or at the end of some round. States follow the opinions: ``start`` answers every
  agent whose starting opinion is 0.5 or more with state 1 (the engine applies it with the seeding, so
  tick 0 of the series already shows the two sides of 0.5, and those agents count as reached), and after
  each round every agent whose side of 0.5 changed is answered with its new state. The models are not
  progressive: agents cross back and forth.
- No frontier (``transmitting_states = ()``): each model decides its own end in ``is_done``, after a
  round in which no opinion moved by more than ``tolerance`` (default 1e-5), as each model's
  docstring says; consensus ends a session that way too.
- Randomness only through ``ctx.random_agents`` and ``ctx.random_edges`` (one uniform number in [0, 1)
  per listed item), so tests can couple these models to slow references.
- Agents the engine freezes (``ctx.frozen``: created but not joined yet, suspended, deactivated) keep
  their opinion and state, are still heard, and are left out of the end tests. Opinions are returned as ``(agents,
  values)`` for the agents whose opinion changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

# BadParameterError is the error sim.plugin's own validation raises (Param.coerce), re-used for the
# cross-parameter checks of the cognitive model.
from sim.plugin import (
    BadParameterError,
    Param,
    PropagationModel,
    StepContext,
    StepResult,
    Variable,
    csr_positions,
    disjoint_batches,
    update_levels,
)

#: NDlib's floor on the opinion distance in the algorithmic-bias weights (equal opinions).
MIN_DISTANCE = 1e-5

_TOLERANCE = Param(
    float,
    1e-5,
    0.0,
    1.0,
    "the session ends after a round in which no opinion moved by more than this "
    "(and, for the random models, none could)",
)
_EPSILON = Param(float, 0.2, 0.0, 1.0, "confidence bound: followees whose opinion is further away are ignored")
_MU = Param(float, 0.5, 0.0, 1.0, "convergence: the share of the distance to the heard followee an agent moves")


def _followers(indptr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(deg, follower)``: how many agents each agent follows, and the follower of every in-edge."""
    deg = np.diff(indptr)
    return deg, np.repeat(np.arange(deg.size, dtype=np.int32), deg)


def _distances(x: np.ndarray, in_indices: np.ndarray, deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(heard, d)`` per in-edge: the followee's opinion and ``|x_followee - x_follower|`` (float64)."""
    heard = x.take(in_indices)
    d = np.repeat(x, deg)
    np.subtract(heard, d, out=d)
    return heard, np.abs(d, out=d)


def _close(ctx: StepContext, x: np.ndarray, epsilon: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The follows within ``epsilon`` (inclusive): ``(in-positions, their followers, their followees'
    opinions)``, in in-CSR order (followers ascending, each one's followees ascending)."""
    g = ctx.graph
    deg, follower = _followers(g.in_indptr)
    heard, d = _distances(x, g.in_indices, deg)
    pos = np.flatnonzero(d <= epsilon)
    return pos, follower[pos], heard[pos]


def _frozen(ctx: StepContext) -> np.ndarray | None:
    """The agents the engine never changes (``ctx.frozen``: not joined yet, suspended, deactivated), or
    None when there are none. Their proposed moves are dropped, so they cannot keep a session from
    ending."""
    frozen = ctx.frozen
    return frozen if frozen is not None and frozen.any() else None


def _pick_uniform(ctx: StepContext, indptr: np.ndarray, deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every agent that follows somebody picks one followee uniformly: ``(listeners, in-positions)``.

    One ``ctx.random_agents`` number ``u`` per listener (ascending); the pick is the followee at
    position ``floor(u * k)`` of its ascending row of ``k`` followees."""
    listeners = np.flatnonzero(deg > 0)
    u = ctx.random_agents(listeners)
    k = deg[listeners]
    off = np.minimum((u * k).astype(np.int64), k - 1)  # u < 1, but u * k may round up to k
    return listeners, indptr[listeners] + off


_SCHEDULE = Param(
    str,
    "sequential",
    help="sequential: one random pair or agent at a time, N updates a tick (the paper's rule); "
    "parallel: every agent at once on the opinions at the start of the round",
    choices=("sequential", "parallel"),
)


# -- the sequential schedule ------------------------------------------------------------------------
#
# A sequential tick is N updates (N = ctx.n, every agent: one Monte-Carlo sweep), applied one after
# another, each seeing the ones before it. The updates are drawn first (which agent, which followee) and
# cut into consecutive batches in which no update touches an agent an earlier one of the batch writes
# (sim.plugin.disjoint_batches): such updates commute, so each batch is applied at once, exactly as
# one after another. Where what an update reads depends on the opinions (algorithmic bias picks by
# distance; weighted HK reads a whole row), the batches are cut window by window from the current
# opinions. A Python step per batch (about sqrt(N) of them per tick), never one per update. Weighted HK,
# whose update reads a whole row and writes one agent, sorts windows of updates into levels instead
# (sim.plugin.update_levels): a few levels per window of about N / 144 updates, each level applied at once.


def _sweep_agents(ctx: StepContext) -> tuple[np.ndarray, np.ndarray]:
    """The N update slots of a sequential tick and their agents: one ``ctx.random_agents`` call over
    the slots ``0 .. N - 1`` (one number ``u_k`` each); slot ``k``'s agent is ``floor(u_k N)``, uniform
    over all agents."""
    n = ctx.n
    slots = np.arange(n)
    return slots, np.minimum((ctx.random_agents(slots) * n).astype(np.int64), n - 1)


def _sweep_followees(
    ctx: StepContext, slots: np.ndarray, agent: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A second ``ctx.random_agents`` call over the slots (``v_k``): slot ``k``'s agent hears the followee
    at position ``floor(v_k d)`` of its ascending row of ``d`` followees. Returns ``(kept slots, their
    agents, the in-positions of their followees)`` for the slots whose agent follows somebody (the others
    are updates that change nothing)."""
    indptr = ctx.graph.in_indptr
    v = ctx.random_agents(slots)
    start = indptr[agent]
    deg = indptr[agent + 1] - start
    keep = np.flatnonzero(deg > 0)
    d = deg[keep]
    return keep, agent[keep], start[keep] + np.minimum((v[keep] * d).astype(np.int64), d - 1)


def _pair_batches(i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pairs ``(i[k], j[k])`` as one ``(K, 2)`` array and the bounds of their batches (each pair
    writes both its agents)."""
    pairs = np.stack((i, j), axis=1).astype(np.int64)
    return pairs, disjoint_batches(pairs)


#: The grid the pair moves are rounded to: the spacing of the opinions a uniform draw gives (2**-53).
_GRID = 2.0**53


def _pair_values(
    x: np.ndarray, pairs: np.ndarray, epsilon: float, mu: float, frozen: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Deffuant's pair rule on pairs that share no agent: where ``|x_j - x_i| < epsilon``, with ``delta =
    mu (x_j - x_i)`` rounded to a multiple of 2**-53 (half-even), ``x_i + delta`` and ``x_j - delta``
    (both move; a frozen agent keeps its opinion). Returns the rows of ``pairs`` that move, those pairs
    and their new opinions (both ``(k, 2)``). On opinions that are multiples of 2**-53 (uniform draws,
    the seeds' 1.0) every result is one too and both additions are exact: the sum is kept exactly."""
    v = x[pairs]
    d = v[:, 1] - v[:, 0]
    close = np.flatnonzero(np.abs(d) < epsilon)
    pairs, v, d = pairs[close], v[close], d[close]
    delta = (mu * _GRID) * d  # mu (x_j - x_i) in units of 2**-53: scaling by a power of two is exact
    np.rint(delta, out=delta)
    delta /= _GRID
    old = v.copy() if frozen is not None else v
    v[:, 0] += delta
    v[:, 1] -= delta
    if frozen is not None:
        f = frozen[pairs]
        v[f] = old[f]
    return close, pairs, v


def _pair_move(x: np.ndarray, pairs: np.ndarray, epsilon: float, mu: float, frozen: np.ndarray | None) -> None:
    """:func:`_pair_values`, written into ``x``."""
    _, moving, values = _pair_values(x, pairs, epsilon, mu, frozen)
    x[moving] = values


#: The most updates one window draws (bounds the memory of a window's entries).
_MAX_WINDOW = 1 << 15


def _in_windows(count: int, width: int, apply: Callable[[int, int], int]) -> None:
    """Updates ``0 .. count - 1`` through ``apply(start, stop)``, which applies the first batch of the
    updates ``start .. stop - 1`` and answers its length (at least 1). The window doubles while a whole
    window goes through as one batch (up to ``_MAX_WINDOW``), and is one and a half times the last batch
    otherwise."""
    start = 0
    while start < count:
        stop = min(count, start + width)
        done = apply(start, stop)
        width = min(_MAX_WINDOW, 2 * width if done == stop - start else max(16, done + done // 2))
        start += done


_NO_WRITER = np.iinfo(np.int64).max


def _no_writer(n: int) -> np.ndarray:
    """A scratch column over the agents at its largest value (each agent's first writer: none yet)."""
    return np.full(n, _NO_WRITER, dtype=np.int64)


def _level_window(n: int, touched: float) -> int:
    """Updates per window of :func:`sim.plugin.update_levels` for updates that touch ``touched`` agents
    each among ``n``: about ``n / touched**2``, where a window takes a few levels."""
    return int(min(max(64, 2 * n / max(1.0, touched) ** 2), 1 << 16))


def _first_width(n: int, reads: float) -> int:
    """A first window: about the expected batch of updates that read ``reads`` agents at N agents."""
    return max(16, int(2 * np.sqrt(n / max(1.0, reads))))


class _ContinuousOpinion(PropagationModel):
    """The round shared by the five models: a subclass computes the new opinion column."""

    version = "1.0"
    variables = {
        "opinion": Variable(
            0.0, 1.0, init="uniform", seed_value=1.0, world_column="opinion", help="the agent's opinion, in [0, 1]"
        )
    }
    states = ("0", "1")
    adopted_states = (1,)
    transmitting_states = ()
    seed_state = 1
    progressive = False
    gives_sources = False  # an opinion crosses 0.5 under many influences: no one agent is the source
    # No parameter stops the "spread": every agent whose opinion is 0.5 or more is in state 1 from
    # tick 0, whatever epsilon or mu (agora plugins check skips its zero-probability check).
    zero_params = ()

    def start(self, ctx: StepContext) -> StepResult | None:
        """Every untouched agent whose starting opinion is 0.5 or more enters state 1 at tick 0."""
        x = ctx.variables["opinion"]
        return StepResult(np.flatnonzero((x >= 0.5) & (ctx.state == 0)), 1)

    def new_opinions(self, ctx: StepContext, x: np.ndarray) -> tuple[np.ndarray, int]:
        """``(new opinion column, edge attempts)`` from the opinions ``x`` at the start of the round."""
        raise NotImplementedError

    def step(self, ctx: StepContext) -> StepResult:
        x = ctx.variables["opinion"]
        new, attempts = self.new_opinions(ctx, x)
        np.clip(new, 0.0, 1.0, out=new)  # rounding insurance: every rule keeps opinions in [0, 1]
        frozen = _frozen(ctx)
        if frozen is not None:
            new[frozen] = x[frozen]
        moved = np.flatnonzero(new != x)
        ctx.store["moved"] = np.array([float(np.abs(new[moved] - x[moved]).max()) if moved.size else 0.0])
        side = new >= 0.5
        differs = side != (ctx.state == 1)
        if frozen is not None:
            differs &= ~frozen
        changed = np.flatnonzero(differs)
        return StepResult(
            changed, side[changed].astype(np.int8), attempts=attempts, variables={"opinion": (moved, new[moved])}
        )

    def quiet(self, ctx: StepContext) -> bool:
        """Whether the latest round moved no opinion by more than ``tolerance``."""
        moved = ctx.store.get("moved")
        return moved is not None and float(moved[0]) <= self.p["tolerance"]

    def is_done(self, ctx: StepContext) -> bool:
        return self.quiet(ctx)


# -- Deffuant ---------------------------------------------------------------------------------------


class Deffuant(_ContinuousOpinion):
    """Deffuant-Weisbuch bounded confidence.

    Paper: G. Deffuant, D. Neau, F. Amblard and G. Weisbuch (2000), "Mixing beliefs among interacting
    agents", Advances in Complex Systems 3(1-4), 87-98. The paper's rule is sequential: at each time step
    two agents meet, and if their opinions differ by less than ``epsilon`` both move ``mu`` of the way
    toward each other. ``schedule`` chooses it (``sequential``, the default) or a synchronous variant
    (``parallel``).

    ``schedule = "sequential"`` (the paper's): a tick is N updates (N = every agent: one Monte-Carlo
    sweep), one after another, each on the opinions the updates before it left:

    1. slot ``k`` (``k = 0 .. N - 1``) picks an agent ``i = floor(u_k N)``, uniform over all agents (one
       ``ctx.random_agents`` call over the slots), and one of its ``k_i`` followees ``j`` at position
       ``floor(v_k k_i)`` of its ascending row (a second call over the slots); an agent that follows
       nobody makes an update that changes nothing. On a complete graph this is the paper's uniformly
       random pair; on a graph, a random agent and a random neighbour, as NDlib (``AlgorithmicBiasModel``
       with ``gamma = 0``).
    2. if ``|x_j - x_i| < epsilon`` (strict, as in the paper): ``delta = mu (x_j - x_i)`` rounded to a
       multiple of 2**-53 (half-even; a change below 1.2e-16), ``x_i <- x_i + delta`` and
       ``x_j <- x_j - delta``. Both agents move, so the sum of the opinions is conserved on any graph,
       and exactly: opinions drawn uniformly (and the seeds' 1.0) are multiples of 2**-53, so are
       ``delta`` and every result, and both additions are exact. (From a world's ``opinion`` column
       whose values are not on that grid, up to one rounding per addition.) A frozen agent keeps its
       opinion while its partner moves (the sum is then not conserved).

    ``schedule = "parallel"``: every agent that follows somebody picks one followee as in step 1 (one
    ``ctx.random_agents`` number per such agent, ascending) and, on the opinions at the start of the
    round, moves ``mu`` of the way toward it when closer than ``epsilon``; the followee does not move
    because of it (the update is directed, so every agent can act at once; the sum is not conserved).

    Parameters: ``epsilon`` (confidence bound, [0, 1], default 0.2), ``mu`` (convergence, [0, 1],
    default 0.5; the paper uses (0, 0.5]: ``mu = 1`` swaps the two opinions in the sequential schedule and
    copies the followee's in the parallel one), ``schedule``, ``tolerance``.

    End: after a tick in which no opinion moved by more than ``tolerance``, provided that no agent could
    move by more than ``tolerance`` in the next tick whatever it draws: every follow with
    ``|x_j - x_i| < epsilon`` has ``mu |x_j - x_i| <= tolerance`` (or, in the sequential schedule, both
    its agents frozen; in the parallel one, its follower frozen). Consensus within ``tolerance / mu``
    ends it too; with ``epsilon = 0`` or ``mu = 0`` nothing moves and it ends after round 1.
    """

    name = "deffuant"
    description = (
        "Deffuant bounded confidence: random pairs of an agent and a followee that are close both move "
        "toward each other (sequential, as the paper; or parallel)."
    )
    params = {"epsilon": _EPSILON, "mu": _MU, "schedule": _SCHEDULE, "tolerance": _TOLERANCE}

    def new_opinions(self, ctx: StepContext, x: np.ndarray) -> tuple[np.ndarray, int]:
        g = ctx.graph
        if self.p["schedule"] == "sequential":
            slots, agent = _sweep_agents(ctx)
            _, i, pos = _sweep_followees(ctx, slots, agent)
            new = x.copy()
            pairs, bounds = _pair_batches(i, g.in_indices[pos])
            frozen = _frozen(ctx)
            for s, e in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
                _pair_move(new, pairs[s:e], self.p["epsilon"], self.p["mu"], frozen)
            return new, int(i.size)
        deg = np.diff(g.in_indptr)
        listeners, pos = _pick_uniform(ctx, g.in_indptr, deg)
        return _bounded_move(x, listeners, g.in_indices[pos], self.p["epsilon"], self.p["mu"]), int(listeners.size)

    def is_done(self, ctx: StepContext) -> bool:
        if not self.quiet(ctx):
            return False
        both = self.p["schedule"] == "sequential"
        return _live_follows(ctx, self.p["epsilon"], self.p["mu"], self.p["tolerance"], both)[0].size == 0


def _bounded_move(x: np.ndarray, listeners: np.ndarray, heard: np.ndarray, epsilon: float, mu: float) -> np.ndarray:
    """Each listener moves ``mu`` of the way to the opinion it heard when that is closer than ``epsilon``."""
    new = x.copy()
    d = x[heard] - x[listeners]
    close = np.abs(d) < epsilon
    who = listeners[close]
    new[who] = x[who] + mu * d[close]
    return new


def _live_follows(
    ctx: StepContext, epsilon: float, mu: float, tolerance: float, both: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The follows that could still move an agent by more than ``tolerance``: within ``epsilon`` (strict)
    with ``mu |x_j - x_i| > tolerance``, those whose follower is frozen left out (``both``: the pair
    moves both agents, so only those whose two agents are frozen). Returns their in-positions, with the
    distances of all follows and every agent's number of followees (for the caller's use)."""
    g = ctx.graph
    deg = np.diff(g.in_indptr)
    _, d = _distances(ctx.variables["opinion"], g.in_indices, deg)
    live = (d < epsilon) & (mu * d > tolerance)
    frozen = _frozen(ctx)
    if frozen is not None:
        stuck = np.repeat(frozen, deg)
        if both:
            stuck &= frozen[g.in_indices]
        live &= ~stuck
    return np.flatnonzero(live), d, deg


# -- Hegselmann-Krause ------------------------------------------------------------------------------


class HegselmannKrause(_ContinuousOpinion):
    """Hegselmann-Krause bounded confidence on the follower graph.

    Paper: R. Hegselmann and U. Krause (2002), "Opinion dynamics and bounded confidence: models,
    analysis and simulation", Journal of Artificial Societies and Social Simulation 5(3), paper 2.

    Round (synchronous, as in the paper): every agent ``i`` moves to the mean of its own opinion and the
    opinions of its followees ``j`` with ``|x_j - x_i| <= epsilon`` (inclusive, as the paper's
    confidence set), all on the opinions at the start of the round:
    ``x_i' = (x_i + S_i) / (1 + c_i)`` where ``S_i`` is the sum of those followees' opinions (added in
    ascending followee order) and ``c_i`` their number. An agent with no such followee keeps its opinion.
    The paper's agents hear everybody (a complete graph, itself included); here they hear themselves and
    their followees. No random numbers are drawn.

    NDlib's ``HKModel`` (6.0.1) instead changes one agent per iteration (it draws N agents but stores only
    the last one's new opinion) and averages over the neighbours only (not the agent itself) with a
    strict ``< epsilon``; ours is the paper's synchronous rule, so one round is one step of the paper's
    dynamics (about N of NDlib's iterations).

    Parameters: ``epsilon`` (confidence bound, [0, 1], default 0.2), ``tolerance``.

    End: after a round in which no opinion moved by more than ``tolerance`` (the rule is deterministic,
    so such a round is what the next rounds would repeat). With ``epsilon >= 1`` on a complete graph
    round 1 brings everybody to the mean of the initial opinions and round 2 ends the session.
    """

    name = "hegselmann-krause"
    description = (
        "Hegselmann-Krause: every round each agent moves to the mean of itself and its followees within epsilon."
    )
    params = {"epsilon": _EPSILON, "tolerance": _TOLERANCE}

    def new_opinions(self, ctx: StepContext, x: np.ndarray) -> tuple[np.ndarray, int]:
        _, who, heard = _close(ctx, x, self.p["epsilon"])
        total = np.bincount(who, weights=heard, minlength=ctx.n)
        count = np.bincount(who, minlength=ctx.n)
        return (x + total) / (count + 1), ctx.graph.in_indices.size


# -- weighted Hegselmann-Krause ---------------------------------------------------------------------


class WeightedHK(_ContinuousOpinion):
    """Weighted Hegselmann-Krause (NDlib's ``WHKModel``), edge trust as the weight.

    Paper: L. Milli (2021), "Opinion Dynamic Modeling of News Perception", Applied Network Science 6,
    article 76 (NDlib's documentation of the model cites it).

    NDlib's opinions ``y`` lie in [-1, 1]; ours are ``x = (y + 1) / 2`` in [0, 1], and the rule is
    applied to ``y = 2 x - 1``. ``epsilon`` is in our units: NDlib's ``epsilon`` is twice ours.

    The rule for one agent ``i``, on the opinions it sees: let ``G_i`` be its followees ``j`` with
    ``|x_j - x_i| <= epsilon`` (inclusive, as the model's documentation; NDlib's code compares strictly,
    which differs only on exact ties) and ``a_i = (sum over G_i of w_ij y_j) / #G_i`` with ``w_ij`` the
    trust of the follow ``j -> i`` (float32, in [0, 1]; summed in ascending followee order). Then

    - ``y_i' = y_i + a_i (1 - y_i)`` when ``y_i >= 0``, ``y_i' = y_i + a_i (1 + y_i)`` when ``y_i < 0``;
    - ``x_i' = (y_i' + 1) / 2``. Agents with an empty ``G_i`` and stubborn agents keep their opinion.

    The agent itself is not in ``G_i`` (as in NDlib and the paper's formula). Positive agents drift
    toward 1 and negative ones toward 0 when their trusted neighbours agree: the model polarises.

    ``schedule = "sequential"`` (the default: NDlib's, which the paper's authors wrote): a tick is N
    updates (one Monte-Carlo sweep), one after another: slot ``k`` picks an agent ``floor(u_k N)``,
    uniform over all agents (one ``ctx.random_agents`` call over the slots 0 .. N - 1), which applies the
    rule on the opinions the updates before it left (an agent that follows nobody, or is stubborn or
    frozen, changes nothing). Agents not picked in a tick keep their opinion (about a third of them).
    ``schedule = "parallel"``: every agent applies the rule once per round, all on the opinions at the
    start of the round.

    Stubborn agents (NDlib's ``perc_stubborness``, spelled as NDlib spells it, and
    ``option_for_stubbornness``): at the session's start the candidates are the agents with
    ``y <= -0.8`` (option -1), ``y >= 0.8`` (option 1) or either (option 0); ``int(candidates *
    perc_stubborness)`` of them, chosen uniformly without replacement, never change opinion. The choice
    draws one ``ctx.random_agents`` number per candidate (ascending) and keeps the candidates with the
    smallest numbers (ties to the lower index); it is kept in ``ctx.store["stubborn"]``. With
    ``perc_stubborness = 0`` (default) nothing is drawn. NDlib's ``similarity`` option (Jaccard
    similarity of random trait vectors) is not implemented.

    Parameters: ``epsilon`` ([0, 1], default 0.2), ``perc_stubborness`` ([0, 1], default 0),
    ``option_for_stubbornness`` (-1, 0 or 1, default 0), ``schedule``, ``tolerance``.

    End: after a tick in which no opinion moved by more than ``tolerance``; in the sequential schedule
    also no agent may move by more than ``tolerance`` if it were picked next (one parallel round's rule,
    computed and not applied), since the agents a sweep does not pick did not try.
    """

    name = "weighted-hk"
    description = (
        "Weighted Hegselmann-Krause (NDlib WHK): opinions pushed by the trust-weighted mean of close followees."
    )
    params = {
        "epsilon": _EPSILON,
        "perc_stubborness": Param(
            float, 0.0, 0.0, 1.0, "share of the extreme agents (|y| >= 0.8) that never change opinion"
        ),
        "option_for_stubbornness": Param(int, 0, -1, 1, "which extremes may be stubborn: -1 low, 1 high, 0 both"),
        "schedule": _SCHEDULE,
        "tolerance": _TOLERANCE,
    }

    def start(self, ctx: StepContext) -> StepResult | None:
        perc = self.p["perc_stubborness"]
        if perc == 0:
            ctx.store["stubborn"] = np.empty(0, dtype=np.int32)
            return super().start(ctx)
        y = 2.0 * ctx.variables["opinion"] - 1.0
        option = self.p["option_for_stubbornness"]
        low, high = y <= -0.8, y >= 0.8
        candidates = np.flatnonzero(low if option == -1 else high if option == 1 else low | high)
        k = int(float(candidates.size) * perc)
        u = ctx.random_agents(candidates)
        chosen = candidates[np.argsort(u, kind="stable")[:k]]
        ctx.store["stubborn"] = np.sort(chosen).astype(np.int32)
        return super().start(ctx)

    def new_opinions(self, ctx: StepContext, x: np.ndarray) -> tuple[np.ndarray, int]:
        if self.p["schedule"] == "sequential":
            return self._sequential(ctx, x)
        return self._parallel(ctx, x), ctx.graph.in_indices.size

    def _parallel(self, ctx: StepContext, x: np.ndarray) -> np.ndarray:
        """Every agent's rule on the opinions ``x`` (stubborn agents keep theirs)."""
        g = ctx.graph
        pos, who, heard = _close(ctx, x, self.p["epsilon"])
        new = _whk_rule(x, who, heard, ctx.trust[g.in_edge[pos]], ctx.n)
        stubborn = ctx.store.get("stubborn")
        if stubborn is not None and stubborn.size:
            new[stubborn] = x[stubborn]
        return new

    def _sequential(self, ctx: StepContext, x: np.ndarray) -> tuple[np.ndarray, int]:
        """One sweep of N sequential updates (see the class docstring)."""
        g = ctx.graph
        indptr, followees = g.in_indptr, g.in_indices
        epsilon = self.p["epsilon"]
        _, agent = _sweep_agents(ctx)
        still = np.zeros(ctx.n, dtype=bool)
        stubborn = ctx.store.get("stubborn")
        if stubborn is not None and stubborn.size:
            still[stubborn] = True
        frozen = _frozen(ctx)
        if frozen is not None:
            still |= frozen
        i = agent[(indptr[agent + 1] > indptr[agent]) & ~still[agent]]
        new = x.copy()
        scratch = (_no_writer(ctx.n), _no_writer(ctx.n))
        # An update reads its agent's row and writes the agent: the levels of a window of updates
        # (sim.plugin.update_levels) are applied one after another, each level at once.
        in_edge = g.in_edge
        width = _level_window(ctx.n, 1.0 + followees.size / max(1, ctx.n))
        for b in range(0, i.size, width):
            ii = i[b : b + width]
            m = ii.size
            pos, counts = csr_positions(indptr, ii)
            rows = np.arange(m)
            fo = followees[pos]
            level = update_levels(m, (rows, ii), (np.repeat(rows, counts), fo), scratch)
            # The window's updates in level order (ascending within a level), their rows with them.
            order = np.argsort(level, kind="stable")
            bounds = np.searchsorted(level[order], np.arange(int(level.max()) + 2))
            first = np.zeros(m + 1, dtype=np.int64)
            np.cumsum(counts, out=first[1:])
            epos, counts = csr_positions(first, order)
            pos, fo, ii = pos[epos], fo[epos], ii[order]
            np.cumsum(counts, out=first[1:])
            for s, t in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
                es, ee = int(first[s]), int(first[t])
                owner = np.repeat(np.arange(t - s), counts[s:t])
                heard = new[fo[es:ee]]
                who = ii[s:t]
                xi = new[who]
                close = np.flatnonzero(np.abs(heard - xi[owner]) <= epsilon)
                trust = ctx.trust[in_edge[pos[es:ee][close]]]
                new[who] = _whk_rule(xi, owner[close], heard[close], trust, t - s)
        return new, int(i.size)

    def is_done(self, ctx: StepContext) -> bool:
        if not self.quiet(ctx):
            return False
        if self.p["schedule"] == "parallel":
            return True
        x = ctx.variables["opinion"]
        new = self._parallel(ctx, x)
        frozen = _frozen(ctx)
        if frozen is not None:
            new[frozen] = x[frozen]
        return not np.any(np.abs(new - x) > self.p["tolerance"])


def _whk_rule(x: np.ndarray, who: np.ndarray, heard: np.ndarray, trust: np.ndarray, n: int) -> np.ndarray:
    """Weighted HK's new opinions of the agents ``0 .. n - 1`` with opinions ``x``: ``who`` the agent of
    each close follow (ascending, each agent's followees ascending), ``heard`` its followee's opinion
    (overwritten) and ``trust`` its weight. Agents with no close follow keep ``x``."""
    # w_ij y_j with y_j = 2 x_j - 1, in place.
    weighted = heard
    weighted *= 2.0
    weighted -= 1.0
    weighted *= trust  # float32 trust, exact in float64
    total = np.bincount(who, weights=weighted, minlength=n)
    count = np.bincount(who, minlength=n)
    a = total / np.maximum(count, 1)
    y = 2.0 * x - 1.0
    y_new = np.where(y >= 0, y + a * (1.0 - y), y + a * (1.0 + y))
    new = (y_new + 1.0) / 2.0
    keep = count == 0
    new[keep] = x[keep]
    return new


# -- algorithmic bias -------------------------------------------------------------------------------


class AlgorithmicBias(_ContinuousOpinion):
    """Deffuant with algorithmic bias: close followees are heard more often.

    Paper: A. Sîrbu, D. Pedreschi, F. Giannotti and J. Kertész (2019), "Algorithmic bias amplifies
    opinion fragmentation and polarization: A bounded confidence model", PLoS ONE 14(3), e0213246.
    NDlib: ``AlgorithmicBiasModel``. The paper's rule is sequential (N random pairs one after another per
    time step, both agents moving to their average); ``schedule`` chooses it (``sequential``, the
    default) or a synchronous variant (``parallel``).

    The bias: agent ``i`` picks followee ``j`` with probability proportional to
    ``max(|x_i - x_j|, 1e-5) ** -gamma`` (NDlib's floor of 1e-5 on the distance handles equal opinions).
    With ``gamma = 0`` the pick is uniform and drawn exactly as ``deffuant`` draws it, so the model is
    then ``deffuant`` (either schedule).

    ``schedule = "sequential"`` (the paper's): a tick is N updates (one Monte-Carlo sweep), one after
    another, each on the opinions the updates before it left:

    1. slot ``k`` picks an agent ``i = floor(u_k N)``, uniform over all agents (one ``ctx.random_agents``
       call over the slots 0 .. N - 1); an agent that follows nobody makes an update that changes nothing;
    2. ``i`` picks ``j`` among its followees with the biased probabilities, from the opinions at that
       moment, by an exponential race: one ``ctx.random_edges`` call, made once per tick, gives one number
       ``r`` to every (update, followee) entry (the updates of slots whose agent follows somebody, in slot
       order, each with its followees ascending, listed by in-edge id); the pick is the followee with the
       smallest ``log(-log r) + gamma * log(max(|x_i - x_j|, 1e-5))`` (the first of equal ones), which is
       ``j`` with probability proportional to its weight (``gamma = 0``: see above);
    3. if ``|x_j - x_i| < epsilon``: ``delta = mu (x_j - x_i)``, ``x_i <- x_i + delta``,
       ``x_j <- x_j - delta`` (with the paper's ``mu = 0.5`` both take their average), ``delta``
       rounded to a multiple of 2**-53 as in ``deffuant``, so the sum of the opinions is kept exactly.

    ``schedule = "parallel"``, on the opinions ``x`` at the start of the round:

    1. every agent ``i`` that follows somebody picks one followee ``j`` with the biased probabilities:
       one ``ctx.random_agents`` number ``u_i`` per such agent (ascending); with the weights ``w`` of its
       followees in ascending order and their cumulative sums ``W``, the pick is the first followee whose
       ``W`` exceeds ``u_i * W_total``. The weights are computed as ``(d_min / max(d, 1e-5)) ** gamma``
       (``d_min`` the agent's smallest floored distance): the same probabilities, without overflow for
       large ``gamma``. (``gamma = 0``: ``floor(u_i * k_i)``, as ``deffuant``.)
    2. if ``|x_j - x_i| < epsilon``, ``x_i`` becomes ``x_i + mu (x_j - x_i)``; ``j`` does not move (the
       update is directed, as in ``deffuant``'s parallel schedule).

    Parameters: ``epsilon`` ([0, 1], default 0.2), ``mu`` ([0, 1], default 0.5, the paper's), ``gamma``
    (bias, [0, 100] as NDlib, default 1), ``schedule``, ``tolerance``.

    End: after a tick in which no opinion moved by more than ``tolerance``, provided that no follow
    that can be picked (weight above 0 in double precision) has ``|x_j - x_i| < epsilon`` and
    ``mu |x_j - x_i| > tolerance`` (its follower frozen, or in the sequential schedule both its agents,
    leaves it out). With a strong bias a compatible but distant followee is picked rarely, so the last
    ticks before that end can be many.
    """

    name = "algorithmic-bias"
    description = "Algorithmic bias (Sirbu et al. 2019): Deffuant where closer followees are heard more often (gamma)."
    params = {
        "epsilon": _EPSILON,
        "mu": _MU,
        "gamma": Param(
            float, 1.0, 0.0, 100.0, "algorithmic bias: a followee is heard with probability ~ distance^-gamma"
        ),
        "schedule": _SCHEDULE,
        "tolerance": _TOLERANCE,
    }

    def _sequential(self, ctx: StepContext, x: np.ndarray) -> tuple[np.ndarray, int]:
        """One sweep of N sequential updates (see the class docstring)."""
        g = ctx.graph
        indptr = g.in_indptr
        epsilon, mu, gamma = self.p["epsilon"], self.p["mu"], self.p["gamma"]
        frozen = _frozen(ctx)
        new = x.copy()
        slots, agent = _sweep_agents(ctx)
        if gamma == 0:
            _, i, pos = _sweep_followees(ctx, slots, agent)
            pairs, bounds = _pair_batches(i, g.in_indices[pos])
            for s, e in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
                _pair_move(new, pairs[s:e], epsilon, mu, frozen)
            return new, int(i.size)
        i = agent[indptr[agent + 1] > indptr[agent]]
        pos, counts = csr_positions(indptr, i)
        race = ctx.random_edges(g.in_edge[pos])
        with np.errstate(divide="ignore"):  # r = 0 races at +inf: never picked
            np.log(race, out=race)
            np.negative(race, out=race)
            np.log(race, out=race)
        followee = g.in_indices[pos]
        first = np.cumsum(counts) - counts
        del pos
        scratch = _no_writer(ctx.n)
        after = np.zeros(ctx.n)  # scratch: the opinions a batch's pairs move to
        moved_mark = np.zeros(ctx.n, dtype=bool)  # scratch: the agents they move

        def apply(start: int, stop: int) -> int:
            lo, hi = int(first[start]), int(first[stop - 1] + counts[stop - 1])
            m = stop - start
            ii = i[start:stop]
            owner = np.repeat(np.arange(m), counts[start:stop])
            fo = followee[lo:hi]
            key = np.abs(new[fo] - new[ii][owner])
            np.maximum(key, MIN_DISTANCE, out=key)
            np.log(key, out=key)
            key *= gamma
            key += race[lo:hi]
            best = np.minimum.reduceat(key, first[start:stop] - lo)
            hit = np.flatnonzero(key == best[owner])
            by = owner[hit]
            jj = fo[hit[np.concatenate(([True], by[1:] != by[:-1]))]]
            # The batch: the pairs up to the first that meets an agent an earlier pair of the window moves.
            rows = np.arange(m)
            w_update, w_agent = np.concatenate((rows, rows)), np.concatenate((ii, jj))
            np.minimum.at(scratch, w_agent, w_update)  # each written agent's first writer
            clash = scratch[w_agent] < w_update
            done = int(w_update[clash].min()) if clash.any() else m
            moved_rows, pairs, values = _pair_values(
                new, np.stack((ii[:done], jj[:done]), axis=1).astype(np.int64), epsilon, mu, frozen
            )
            # Each pick read its followees at the window's start; one whose followee an earlier pair of the
            # batch moves is made again on the opinion it would have seen, and the batch ends at the first
            # pick that comes out different (the pick is what the followees' opinions decide).
            stale = np.flatnonzero(scratch[fo] < owner)
            scratch[w_agent] = _NO_WRITER
            stale = stale[owner[stale] < done]
            if stale.size and moved_rows.size:
                after[pairs] = values
                moved_mark[pairs] = True
                f = fo[stale]
                seen = np.where(moved_mark[f], after[f], new[f])
                moved_mark[pairs] = False
                end = int(first[start + done - 1] + counts[start + done - 1]) - lo
                again = key[:end].copy()
                d = np.abs(seen - new[ii[owner[stale]]])
                np.maximum(d, MIN_DISTANCE, out=d)
                np.log(d, out=d)
                d *= gamma
                d += race[lo + stale]
                again[stale] = d
                best = np.minimum.reduceat(again, first[start : start + done] - lo)
                hit = np.flatnonzero(again == best[owner[:end]])
                by = owner[hit]
                pick = fo[hit[np.concatenate(([True], by[1:] != by[:-1]))]]
                differ = np.flatnonzero(pick != jj[:done])
                if differ.size:
                    done = int(differ[0])
                    keep = moved_rows < done
                    pairs, values = pairs[keep], values[keep]
            new[pairs] = values
            return done

        _in_windows(i.size, _first_width(ctx.n, 1.0 + ctx.graph.in_indices.size / max(1, ctx.n)), apply)
        return new, int(i.size)

    def _weights(self, ctx: StepContext, x: np.ndarray, deg: np.ndarray) -> np.ndarray:
        """The selection weight of every in-edge, at most 1 (exactly 1 for each agent's closest followee)."""
        g = ctx.graph
        _, d = _distances(x, g.in_indices, deg)
        if d.size == 0:
            return d
        np.maximum(d, MIN_DISTANCE, out=d)
        has = deg > 0
        closest = np.repeat(np.minimum.reduceat(d, g.in_indptr[:-1][has]), deg[has])
        return _bias_weights(d, closest, self.p["gamma"])

    def new_opinions(self, ctx: StepContext, x: np.ndarray) -> tuple[np.ndarray, int]:
        if self.p["schedule"] == "sequential":
            return self._sequential(ctx, x)
        g = ctx.graph
        indptr = g.in_indptr
        deg = np.diff(indptr)
        if self.p["gamma"] == 0:
            listeners, pos = _pick_uniform(ctx, indptr, deg)
        else:
            listeners = np.flatnonzero(deg > 0)
            u = ctx.random_agents(listeners)
            cum = self._weights(ctx, x, deg)
            np.cumsum(cum, out=cum)
            lo, hi = indptr[listeners], indptr[listeners + 1]
            base = np.zeros(listeners.size)
            inner = lo > 0
            base[inner] = cum[lo[inner] - 1]
            target = base + u * (cum[hi - 1] - base)
            pos = np.clip(np.searchsorted(cum, target, side="right"), lo, hi - 1)
        return _bounded_move(x, listeners, g.in_indices[pos], self.p["epsilon"], self.p["mu"]), int(listeners.size)

    def is_done(self, ctx: StepContext) -> bool:
        if not self.quiet(ctx):
            return False
        both = self.p["schedule"] == "sequential"
        pos, d, deg = _live_follows(ctx, self.p["epsilon"], self.p["mu"], self.p["tolerance"], both)
        if pos.size == 0 or self.p["gamma"] == 0:
            return pos.size == 0
        # A follow whose weight is 0 in double precision is never picked: it cannot move anybody.
        indptr = ctx.graph.in_indptr
        np.maximum(d, MIN_DISTANCE, out=d)
        has = deg > 0
        closest = np.zeros(deg.size)
        closest[has] = np.minimum.reduceat(d, indptr[:-1][has])
        follower = np.searchsorted(indptr, pos, side="right") - 1
        return not np.any(_bias_weights(d[pos], closest[follower], self.p["gamma"]) > 0)


def _bias_weights(d: np.ndarray, closest: np.ndarray, gamma: float) -> np.ndarray:
    """``(closest / d) ** gamma`` per follow, in (0, 1]: ``d`` its floored distance and ``closest`` its
    follower's smallest floored distance (aligned arrays; both are overwritten). For ``gamma != 1`` it is
    ``exp(gamma (log closest - log d))``, which never overflows however large ``gamma`` is."""
    if gamma == 1:
        return np.divide(closest, d, out=closest)
    np.log(d, out=d)
    np.log(closest, out=closest)
    np.subtract(closest, d, out=closest)
    closest *= gamma
    return np.exp(closest, out=closest)


# -- cognitive opinion dynamics ---------------------------------------------------------------------


class CognitiveOpinion(_ContinuousOpinion):
    """Cognitive opinion dynamics (NDlib's ``CognitiveOpDynModel``): institutional information, trust
    and risk sensitivity.

    Paper: D. Vilone, F. Giardini, M. Paolucci and R. Conte (2016), "Reducing individuals' risk
    sensitiveness can promote positive and non-alarmist views about catastrophic events in an
    agent-based simulation", arXiv:1609.04566 (the paper NDlib's documentation cites).

    Traits, drawn once at the session's start (``start``) from three ``ctx.random_agents`` calls over
    all agents in index order, and kept in ``ctx.store``:

    - ``R`` (risk sensitivity, int8): -1, 0 or 1 with probabilities ``R_fraction_negative``,
      ``R_fraction_neutral``, ``R_fraction_positive`` normalised to sum 1: -1 when ``u < f_neg``, 0 when
      ``u < f_neg + f_neu``, else 1 (first call);
    - ``B`` (tendency to inform others): ``B_range_min + (B_range_max - B_range_min) u`` (second call);
    - ``T`` (trust in institutions; trust in peers is ``1 - T``): ``T_range_min + (T_range_max -
      T_range_min) u`` (third call).

    Risk modulation ``M_i``: ``R_i = 1`` maps an opinion ``o`` to ``(1 + o) / 2``, ``R_i = -1`` to ``o / 2``,
    ``R_i = 0`` leaves it.

    A tick has NDlib's two steps, institution then peers (the paper's and NDlib's rule is sequential:
    after the institution, N random pairs one after another, each agent of a pair moving when the other
    speaks); ``schedule`` chooses how the peers meet: ``sequential`` (the default) or ``parallel``.

    1. institutional information, every agent: ``z_i = M_i(x_i + T_i (I - x_i))``;
    2. peers, from the opinions ``z`` after step 1. An agent ``j`` speaks with probability
       ``p_j = o_j ** (1 / B_j)`` on its opinion ``o_j`` at that moment (``B_j = 0``: 1 if ``o_j = 1``,
       else 0). When ``j`` speaks to ``i``: ``x_i' = M_i(o_i + (1 - T_i)(o_j - o_i))``.

       ``schedule = "sequential"``: N updates (one Monte-Carlo sweep), one after another, each on the
       opinions the updates before it left. Slot ``k`` picks an agent ``i = floor(u_k N)``, uniform over
       all agents, and its followee ``j`` at position ``floor(v_k k_i)`` of its ascending row: one
       ``ctx.random_agents`` call over the slots 0 .. N - 1 for ``u``, one for ``v`` (an agent that
       follows nobody makes an update that changes nothing). Two more calls over the slots give ``a_k``
       and ``b_k``: ``i`` hears ``j`` when ``a_k < p_j`` and ``j`` hears ``i`` when ``b_k < p_i``, both
       judged and computed on the two opinions before the update (a simultaneous exchange).
       ``schedule = "parallel"``: every agent ``i`` that follows somebody picks one followee ``j``
       uniformly (one ``ctx.random_agents`` number ``u_i`` per such agent, ascending, followee at
       position ``floor(u_i * k_i)``); ``j`` speaks when one ``ctx.random_edges`` number per picked
       follow (the follow's out-edge id, in the order of the listeners) is below ``p_j``; all on the
       opinions ``z``, and only the follower moves (``x_i' = z_i`` when ``j`` is silent).

    NDlib (``CognitiveOpDynModel``) also draws N pairs after the institution and moves both agents of a
    pair, but takes the second agent's update from the first agent's opinion at the start of the
    iteration, before the institutional step; ours uses the opinion before the update (``z`` in the
    parallel schedule).

    Parameters (NDlib's names; NDlib requires them all, the defaults are its documentation's example):
    ``I`` (institutional information, [0, 1], 0.15), ``T_range_min``/``T_range_max`` ([0, 1], 0 and 1),
    ``B_range_min``/``B_range_max`` ([0, 1], 0 and 1), ``R_fraction_negative``/``_neutral``/``_positive``
    ([0, 1], 1/3 each; normalised to sum 1, at least one above 0), ``schedule``, ``tolerance``. A range
    whose minimum is above its maximum is refused (NDlib swaps it silently).

    End: after a tick in which no opinion moved by more than ``tolerance``, provided that no agent
    could move by more than ``tolerance`` in the next tick: neither by step 1 alone nor by step 1
    followed by hearing any followee with ``p_j > 0`` (in the sequential schedule, or any follower).
    With risk-sensitive agents (``R != 0``) and followees that disagree this does not happen: such runs
    go on until ``--max-ticks`` (``endless = True``).
    """

    name = "cognitive-opinion"
    description = (
        "Cognitive opinion dynamics (NDlib COD): institutional information, trust in peers and risk sensitivity."
    )
    endless = True
    params = {
        "I": Param(float, 0.15, 0.0, 1.0, "external (institutional) information every agent hears each round"),
        "T_range_min": Param(float, 0.0, 0.0, 1.0, "lowest trust in institutions T (trust in peers is 1 - T)"),
        "T_range_max": Param(float, 1.0, 0.0, 1.0, "highest trust in institutions T"),
        "B_range_min": Param(float, 0.0, 0.0, 1.0, "lowest tendency to inform others B"),
        "B_range_max": Param(float, 1.0, 0.0, 1.0, "highest tendency to inform others B"),
        "R_fraction_negative": Param(
            float, 1 / 3, 0.0, 1.0, "share of agents with risk sensitivity R = -1 (halves opinions)"
        ),
        "R_fraction_neutral": Param(float, 1 / 3, 0.0, 1.0, "share of agents with risk sensitivity R = 0"),
        "R_fraction_positive": Param(
            float, 1 / 3, 0.0, 1.0, "share of agents with risk sensitivity R = 1 (halves the distance to 1)"
        ),
        "schedule": _SCHEDULE,
        "tolerance": _TOLERANCE,
    }

    @classmethod
    def validate(cls, params: dict[str, Any]) -> dict[str, Any]:
        out = super().validate(params)
        for what in ("T", "B"):
            lo, hi = out[f"{what}_range_min"], out[f"{what}_range_max"]
            if lo > hi:
                raise BadParameterError(
                    f"parameter {what}_range_min={lo:g} is above {what}_range_max={hi:g}: "
                    f"give {what}_range_min <= {what}_range_max"
                )
        if out["R_fraction_negative"] + out["R_fraction_neutral"] + out["R_fraction_positive"] <= 0:
            raise BadParameterError(
                "parameters R_fraction_negative, R_fraction_neutral and R_fraction_positive are all 0: "
                "give at least one a share above 0"
            )
        return out

    def start(self, ctx: StepContext) -> StepResult | None:
        everyone = np.arange(ctx.n, dtype=np.int32)
        u_r = ctx.random_agents(everyone)
        u_b = ctx.random_agents(everyone)
        u_t = ctx.random_agents(everyone)
        p = self.p
        total = p["R_fraction_negative"] + p["R_fraction_neutral"] + p["R_fraction_positive"]
        neg = p["R_fraction_negative"] / total
        neu = p["R_fraction_neutral"] / total
        ctx.store["R"] = np.where(u_r < neg, -1, np.where(u_r < neg + neu, 0, 1)).astype(np.int8)
        ctx.store["B"] = p["B_range_min"] + (p["B_range_max"] - p["B_range_min"]) * u_b
        ctx.store["T"] = p["T_range_min"] + (p["T_range_max"] - p["T_range_min"]) * u_t
        return super().start(ctx)

    @staticmethod
    def _modulate(o: np.ndarray, r: np.ndarray) -> np.ndarray:
        """The risk modulation ``M``: ``(1 + o) / 2`` where ``r = 1``, ``o / 2`` where ``r = -1``."""
        return np.where(r == 1, 0.5 * (1.0 + o), np.where(r == -1, 0.5 * o, o))

    def _institution(self, ctx: StepContext, x: np.ndarray) -> np.ndarray:
        t, r = ctx.store["T"], ctx.store["R"]
        return self._modulate(x + t * (self.p["I"] - x), r)

    @staticmethod
    def _speaks(z: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``p = z ** (1 / b)``; ``b = 0`` gives the limit (1 where ``z = 1``, else 0)."""
        with np.errstate(divide="ignore"):
            return np.power(z, 1.0 / b)

    def new_opinions(self, ctx: StepContext, x: np.ndarray) -> tuple[np.ndarray, int]:
        if self.p["schedule"] == "sequential":
            return self._sequential(ctx, x)
        g = ctx.graph
        deg = np.diff(g.in_indptr)
        z = self._institution(ctx, x)
        listeners, pos = _pick_uniform(ctx, g.in_indptr, deg)
        j = g.in_indices[pos]
        speaks = ctx.random_edges(g.in_edge[pos]) < self._speaks(z[j], ctx.store["B"][j])
        who, heard = listeners[speaks], j[speaks]
        t, r = ctx.store["T"][who], ctx.store["R"][who]
        new = z.copy()
        new[who] = self._modulate(z[who] + (1.0 - t) * (z[heard] - z[who]), r)
        return new, int(listeners.size)

    def _sequential(self, ctx: StepContext, x: np.ndarray) -> tuple[np.ndarray, int]:
        """The institution, then one sweep of N sequential pair updates (see the class docstring)."""
        g = ctx.graph
        new = self._institution(ctx, x)
        frozen = _frozen(ctx)
        if frozen is not None:
            new[frozen] = x[frozen]
        slots, agent = _sweep_agents(ctx)
        keep, i, pos = _sweep_followees(ctx, slots, agent)
        # Column 0 of a pair is i, which hears j when a_k < p_j; column 1 is j, which hears i when b_k < p_i.
        draws = np.stack((ctx.random_agents(slots)[keep], ctx.random_agents(slots)[keep]), axis=1)
        pairs, bounds = _pair_batches(i, g.in_indices[pos])
        # What each pair's agents bring, gathered once: 1 - T, the risk modulation M(o) = o * scale + shift
        # (R = 1: o / 2 + 1/2, the same float as (1 + o) / 2; R = -1: o / 2; R = 0: o) and 1 / B.
        r = ctx.store["R"][pairs]
        peers = 1.0 - ctx.store["T"][pairs]
        scale = np.where(r == 0, 1.0, 0.5)
        shift = np.where(r == 1, 0.5, 0.0)
        with np.errstate(divide="ignore"):
            inverse_b = 1.0 / ctx.store["B"][pairs]
        if frozen is not None:
            still = frozen[pairs]
        for s, e in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
            p = pairs[s:e]
            o = new[p]
            hears = draws[s:e] < np.power(o, inverse_b[s:e])[:, ::-1]
            if frozen is not None:
                hears &= ~still[s:e]
            moved = (o + peers[s:e] * (o[:, ::-1] - o)) * scale[s:e] + shift[s:e]
            new[p[hears]] = moved[hears]
        return new, int(i.size)

    def is_done(self, ctx: StepContext) -> bool:
        if not self.quiet(ctx):
            return False
        tol = self.p["tolerance"]
        x = ctx.variables["opinion"]
        z = np.clip(self._institution(ctx, x), 0.0, 1.0)
        frozen = _frozen(ctx)
        if frozen is not None:
            z[frozen] = x[frozen]
        if np.any(np.abs(z - x) > tol):
            return False
        g = ctx.graph
        _, follower = _followers(g.in_indptr)
        directions = [(follower, g.in_indices)]
        if self.p["schedule"] == "sequential":  # a pair moves both agents: the followee hears too
            directions.append((g.in_indices, follower))
        for listener, speaker in directions:
            can = self._speaks(z[speaker], ctx.store["B"][speaker]) > 0
            if frozen is not None:
                can &= ~frozen[listener]
            i, j = listener[can], speaker[can]
            t, r = ctx.store["T"][i], ctx.store["R"][i]
            heard = np.clip(self._modulate(z[i] + (1.0 - t) * (z[j] - z[i]), r), 0.0, 1.0)
            if np.any(np.abs(heard - x[i]) > tol):
                return False
        return True
