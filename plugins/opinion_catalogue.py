"""The rest of NDlib's opinion catalogue: NLS, Altafini, Friedkin-Johnsen, voter with zealots, algorithmic
bias with media, and ARWHK.

Six models after NDlib 6.0.1's opinion models (``ndlib/models/opinions/``) and the papers they cite. Each
class docstring states the paper, the exact rule, the random numbers, the end and where it departs from
NDlib; docs/models/opinion-catalogue.md says the same for users.

Conventions (those of ``opinion_binary`` and ``opinion_continuous``):

- Opinions flow along follows: an agent hears the agents it follows (its followees, the in-CSR row
  ``in_indices[in_indptr[i]:in_indptr[i + 1]]``, ascending). An agent that follows nobody is never moved
  by a peer.
- Binary models (``nls``, ``voter-zealots``): the states ``"0"`` and ``"1"`` are the two opinions; the
  message's seeds hold 1 and every other agent 0. ``reached`` counts the agents that ever held 1.
- Continuous models (``altafini``, ``friedkin-johnsen``, ``algorithmic-bias-media``, ``arwhk``): a variable
  ``opinion`` in [0, 1], uniform from the session's generator or the world's ``opinion`` column (clipped),
  the seeds at 1.0; the states ``"0"`` and ``"1"`` are its side of 0.5 from tick 0 on (``start`` moves every
  agent at 0.5 or more to ``"1"``). Altafini's and ARWHK's papers (and NDlib) put opinions in [-1, 1]:
  their rules work on ``y = 2x - 1`` and the variable keeps ``x = (y + 1) / 2``, as ``weighted-hk`` does.
- Schedules. ``nls``, ``altafini`` and ``friedkin-johnsen`` are synchronous in their papers: every agent
  updates at once from the opinions at the start of the round. ``voter-zealots``, ``algorithmic-bias-media``
  and ``arwhk`` are sequential: one random agent (with its partner) at a time, each update seeing every
  update before it. Their ``schedule`` parameter says which: ``sequential`` (the default, the paper's)
  makes N such updates one tick (one Monte-Carlo sweep); ``parallel`` is a synchronous round in which every
  agent updates once from the opinions at its start.
- Sequential without a loop over updates: the N updates of a tick are cut into consecutive batches in
  which no update reads or writes an agent that an earlier update of the same batch writes. Updates inside
  such a batch do not see each other, so applying the whole batch at once, from the opinions at its
  start, gives exactly what applying them one after another gives. Where what an update touches does not
  depend on the opinions (the voter's copy, ARWHK's uniform partner) ``sim.plugin.disjoint_batches`` cuts
  the whole tick at once; algorithmic bias picks its partner by opinion distance, reading every followee,
  so ``_Sweep`` cuts it window by window from the opinions at hand. A batch holds about ``sqrt(N / r)``
  updates (``r`` agents touched per update): a Python step per batch, never one per update.
- Randomness comes only from ``ctx.random_agents``: a sequential tick calls it with the N update slots
  (``0 .. N-1``) once per kind of draw, each model saying which; a parallel round with the listed agents,
  ascending. A pick among ``k`` followees from one number ``u`` is the ``floor(u * k)``-th of the agent's
  ascending row.
- Agents the engine freezes (``ctx.frozen``: not joined yet, suspended, deactivated) keep their opinion and
  state, are still heard, take no turn as listeners and are left out of the end tests.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from plugins.opinion_continuous import MIN_DISTANCE, _ContinuousOpinion
from sim.plugin import (
    BadParameterError,
    Param,
    PropagationModel,
    StepContext,
    StepResult,
    csr_positions,
    disjoint_batches,
    unique_sorted,
)

#: One chunk of NLS's sources: ``(lo, hi, owner, source, distance)``.
_Chunk = tuple[int, int, np.ndarray, np.ndarray, np.ndarray]

#: How many agents the cheap first pass of an end test looks at.
_PROBE = 16384

#: The grid pair and media moves are rounded to (2**-53, the spacing of uniform draws; ``deffuant``'s).
_GRID = 2.0**53

#: A stamp that no update position reaches: "no write of this agent in the current window".
_FREE = np.iinfo(np.int32).max

_TOLERANCE = Param(
    float,
    1e-5,
    0.0,
    1.0,
    "the session ends after a round in which no opinion moved by more than this (and, for the random models, "
    "none could)",
)
_SCHEDULE = Param(
    str,
    "sequential",
    help="sequential: N single updates per tick, each seeing the ones before (the paper's); parallel: every agent "
    "at once from the opinions at the start of the round",
    choices=("sequential", "parallel"),
)


# -- shared helpers ---------------------------------------------------------------------------------


def _frozen(ctx: StepContext) -> np.ndarray | None:
    """The agents the engine never changes (``ctx.frozen``), or None when there are none."""
    frozen = ctx.frozen
    return frozen if frozen is not None and frozen.any() else None


def _followers(indptr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(deg, follower)``: how many agents each agent follows, and the follower of every in-edge."""
    deg = np.diff(indptr)
    return deg, np.repeat(np.arange(deg.size, dtype=np.int32), deg)


def _pick(indptr: np.ndarray, agents: np.ndarray, deg: np.ndarray, u: np.ndarray) -> np.ndarray:
    """In-CSR positions of one followee per agent: the ``floor(u * k)``-th of its ``k`` (``u < 1``; clamped,
    since ``u * k`` may round up to ``k``)."""
    off = np.minimum((u * deg).astype(np.int64), deg - 1)
    return indptr[agents] + off


def _listeners_of_sweep(ctx: StepContext, u: np.ndarray) -> np.ndarray:
    """The listener of each of the N updates of a sequential tick: agent ``floor(u * N)`` for its number ``u``."""
    n = ctx.n
    return np.minimum((u * n).astype(np.int64), n - 1)


class _Sweep:
    """Cuts a sequence of updates into consecutive batches that may be applied at once (module docstring).

    An update *reads* some agents and *writes* some agents (a write that is not also a read is checked as
    a read too). Update ``k`` conflicts with an earlier update ``m`` of its batch when ``m`` writes an agent
    that ``k`` reads or writes; a batch ends before its first conflicting update. Updates of a batch read
    the opinions at its start and write distinct agents, which is what one update after another would
    read and write. Batches need not be maximal: the windows looked at are short slices, grown while they
    find no conflict.
    """

    def __init__(self, n: int) -> None:
        self.stamp = np.full(n, _FREE, dtype=np.int32)  # int32: a smaller array to reach into at random
        self.window = max(8, math.isqrt(n) // 4)
        self.mean = float(self.window)

    def end(self, b: int, m: int) -> int:
        """The end of the window of updates looked at from ``b`` (of ``m``)."""
        return min(m, b + self.window)

    def cut(
        self, b: int, e: int, writes: list[tuple[np.ndarray, np.ndarray]], reads: list[tuple[np.ndarray, np.ndarray]]
    ) -> int:
        """The end of the batch that starts at update ``b``, within the window ``[b, e)``: the first update
        that reads or writes an agent written by an earlier update of the window (``e`` when none does).

        ``writes`` and ``reads`` are lists of ``(update positions, agents)`` pairs (aligned arrays) for the
        window's updates."""
        stamp = self.stamp
        w_owner = np.concatenate([o for o, _ in writes])
        w_agent = np.concatenate([a for _, a in writes])
        # The first writer of every written agent in the window.
        np.minimum.at(stamp, w_agent, w_owner)
        c = e
        for owner, agent in (*reads, (w_owner, w_agent)):
            hit = np.take(stamp, agent) < owner
            if hit.any():
                c = min(c, int(owner[hit].min()))
        stamp[w_agent] = _FREE
        if c == e:
            self.window *= 2
        else:  # windows a little longer than the recent batches: what is computed past the cut is wasted
            self.mean = 0.8 * self.mean + 0.2 * (c - b)
            self.window = max(8, int(1.5 * self.mean) + 1)
        return c


def _read_write_batches(writer: np.ndarray, reader: np.ndarray) -> list[int]:
    """The batch bounds of updates that each write one agent (``writer``, which they also read) and read
    another (``reader``), whatever the opinions: ``sim.plugin.disjoint_batches`` over the pairs."""
    writes = np.array([[True, False]])
    return disjoint_batches(np.stack((writer, reader), axis=1).astype(np.int64), writes).tolist()


def _stubborn(ctx: StepContext, perc: float, option: int) -> np.ndarray:
    """NDlib's stubborn agents (as ``weighted-hk``): the candidates are the agents with ``y <= -0.8``
    (option -1), ``y >= 0.8`` (option 1) or either (option 0), ``y = 2x - 1`` at the start; ``int(candidates
    * perc)`` of them, the ones with the smallest ``ctx.random_agents`` numbers (one per candidate,
    ascending; ties to the lower index). Nothing is drawn when ``perc`` is 0."""
    if perc == 0:
        return np.empty(0, dtype=np.int32)
    y = 2.0 * ctx.variables["opinion"] - 1.0
    low, high = y <= -0.8, y >= 0.8
    candidates = np.flatnonzero(low if option == -1 else high if option == 1 else low | high)
    k = int(float(candidates.size) * perc)
    u = ctx.random_agents(candidates)
    return np.sort(candidates[np.argsort(u, kind="stable")[:k]]).astype(np.int32)


# -- NLS ---------------------------------------------------------------------------------------------


class NLS(PropagationModel):
    """The Nowak-Lewenstein-Szamrej social impact model (NDlib's ``NLSModel``).

    Papers: A. Nowak, J. Szamrej and B. Latané (1990), "From private attitude to public opinion: A dynamic
    theory of social impact", Psychological Review 97(3), 362-376, after B. Latané (1981), "The psychology of
    social impact", American Psychologist 36(4), 343-356; the synchronous form of M. Lewenstein, A. Nowak and
    B. Latané (1992), "Statistical mechanics of social impact", Physical Review A 45(2), 763-776.

    Each agent holds one of two opinions (the states). Its sources are the agents within ``radius`` follow
    hops (the agents it follows, the agents they follow, ...), each at its shortest hop distance ``d``
    (1 to ``radius``), the agent itself left out; a source weighs ``s_j * d ** -alpha`` with ``s_j`` its
    strength (1, or the world's ``influence`` column with ``strength=influence``).

    Round (synchronous, on the opinions at its start; no random numbers): for every agent ``i`` let
    ``S_i`` be the summed weight of its sources holding its own opinion (the supportive impact) and ``O_i``
    that of the sources holding the other (the opposing impact); with ``law=sqrt`` each sum is divided by
    the square root of its number of sources (Latané's psychosocial law: ``sqrt(n)`` times their mean
    weight, the form of Nowak et al.'s impact). ``i`` flips when ``O_i - S_i > threshold``. Sums run over
    the sources by distance, then ascending agent index.

    NDlib sums over every agent of the graph at its shortest-path distance (all pairs, precomputed: N**2
    entries, out of reach beyond a few thousand agents). Here the sum stops at ``radius`` hops: radius 1
    (default) is the followees, where ``alpha`` plays no part; a radius at least the graph's diameter is
    NDlib's rule. The cost of a round grows with the number of sources within reach (about ``k ** radius``
    per agent on a graph where agents follow ``k`` others). Hops follow follows (``u -> v``: ``v`` hears
    ``u``), as NDlib's distances do on a directed graph of the same edges. NDlib's node parameters
    ``strength`` and ``threshold`` become a strength column and one ``threshold`` for all.

    Parameters: ``alpha`` (distance decay, [0, 10], default 2 as NDlib), ``radius`` ([1, 16], default 1),
    ``threshold`` (>= 0, default 0 as NDlib), ``strength`` (``uniform`` or ``influence``), ``law`` (``sum``
    as NDlib, or ``sqrt``).

    End: after a round that flips nobody, or after a round that undoes exactly the round before it (the
    state then alternates for ever, a 2-cycle of the synchronous rule); other cycles run to ``--max-ticks``.
    """

    name = "nls"
    version = "1.0"
    description = "Nowak-Lewenstein-Szamrej social impact: flip when the opposing impact within radius hops wins."
    states = ("0", "1")
    adopted_states = (1,)
    transmitting_states = ()
    seed_state = 1
    progressive = False
    gives_sources = False  # the weighted vote of many sources flips an agent
    zero_params = ()  # a deterministic rule: no parameter stops it
    params = {
        "alpha": Param(float, 2.0, 0.0, 10.0, "distance decay: a source d follow-hops away weighs strength * d^-alpha"),
        "radius": Param(int, 1, 1, 16, "the sources are the agents within this many follow hops (1: the followees)"),
        "threshold": Param(
            float,
            0.0,
            0.0,
            None,
            "an agent flips when the opposing impact exceeds the supporting one by more than this",
        ),
        "strength": Param(
            str,
            "uniform",
            help="a source's strength: 1, or the world's influence column",
            choices=("uniform", "influence"),
        ),
        "law": Param(
            str,
            "sum",
            help="sum: the weights add up (NDlib); sqrt: their sum over the square root of their number (Latane's law)",
            choices=("sum", "sqrt"),
        ),
    }

    def impacts(self, ctx: StepContext) -> tuple[np.ndarray, np.ndarray, int]:
        """``(S, O, sources read)``: every agent's supportive and opposing impact on the current opinions."""
        n = ctx.n
        g = ctx.graph
        state = ctx.state
        uniform = self.p["strength"] == "uniform"
        s = None if uniform else np.asarray(ctx.columns["influence"], dtype=np.float64)
        radius = self.p["radius"]
        sqrt = self.p["law"] == "sqrt"
        if radius == 1:
            # The followees, all at distance 1 (weight s_j): one pass over the in-edges. Key 2 i + opposed.
            deg, follower = _followers(g.in_indptr)
            src = g.in_indices
            key = follower.astype(np.int64) * 2
            key += np.take(state, src) != np.repeat(state, deg)
            counts = np.bincount(key, minlength=2 * n).reshape(n, 2).T
            sums = counts.astype(np.float64) if s is None else np.bincount(key, np.take(s, src), 2 * n).reshape(n, 2).T
            read = int(src.size)
        else:
            decay = np.array([0.0] + [float(d) ** -self.p["alpha"] for d in range(1, radius + 1)])
            sums = np.zeros((2, n))
            counts = np.zeros((2, n), dtype=np.int64)
            read = 0
            for lo, hi, owner, src, dist in _sources(g.in_indptr, g.in_indices, n, radius):
                w = decay[dist] if s is None else s[src] * decay[dist]
                width = hi - lo
                # Row 0 the supportive sources, row 1 the opposing ones, of the owners lo .. hi - 1.
                key = (state[src] != state[owner]).astype(np.int64) * width + (owner - lo)
                sums[:, lo:hi] = np.bincount(key, weights=w, minlength=2 * width).reshape(2, width)
                if sqrt:
                    counts[:, lo:hi] = np.bincount(key, minlength=2 * width).reshape(2, width)
                read += int(src.size)
        if sqrt:
            sums = np.divide(sums, np.sqrt(counts), out=np.zeros_like(sums), where=counts > 0)
        return sums[0], sums[1], read

    def step(self, ctx: StepContext) -> StepResult:
        supportive, opposing, read = self.impacts(ctx)
        flip = opposing - supportive > self.p["threshold"]
        frozen = _frozen(ctx)
        if frozen is not None:
            flip &= ~frozen
        agents = np.flatnonzero(flip).astype(np.int32)
        previous = ctx.store.get("flipped")
        ctx.store["previous"] = previous if previous is not None else np.empty(0, dtype=np.int32)
        ctx.store["flipped"] = agents
        return StepResult(agents, (1 - ctx.state[agents]).astype(np.int8), attempts=read)

    def is_done(self, ctx: StepContext) -> bool:
        flipped = ctx.store.get("flipped")
        if flipped is None:
            return False
        if flipped.size == 0:
            return True
        previous = ctx.store.get("previous")
        return previous is not None and np.array_equal(previous, flipped)  # a 2-cycle: the same agents flip back


def _sources(indptr: np.ndarray, indices: np.ndarray, n: int, radius: int) -> Iterator[_Chunk]:
    """Every agent's sources within ``radius`` (>= 2) follow hops: yields ``(lo, hi, owner, source,
    distance)`` chunks covering the owners ``lo .. hi - 1`` in turn; inside a chunk, each owner's sources by
    distance, then ascending (each source once, at its shortest distance; the owner itself never).

    A breadth-first search from all the chunk's owners at once: each level's ``(owner, source)`` pairs are
    packed into one integer, sorted, deduplicated and merged with the pairs already visited (no Python
    loop over agents)."""
    avg = max(1.0, indices.size / max(1, n))
    per_owner = min(float(n), avg**radius)
    chunk = max(1, int((1 << 22) // per_owner))
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        rows = np.arange(lo, hi, dtype=np.int64)
        pos, cnt = csr_positions(indptr, rows)
        keys = unique_sorted(np.repeat(rows, cnt) * n + indices[pos])
        visited = np.sort(np.concatenate([keys, rows * n + rows]))
        levels = [keys]
        for _ in range(2, radius + 1):
            owner, src = np.divmod(levels[-1], n)
            pos, cnt = csr_positions(indptr, src)
            if pos.size == 0:
                break
            keys = unique_sorted(np.repeat(owner, cnt) * n + indices[pos])
            at = np.minimum(np.searchsorted(visited, keys), visited.size - 1)
            keys = keys[visited[at] != keys]
            if keys.size == 0:
                break
            levels.append(keys)
            visited = np.sort(np.concatenate([visited, keys]))
        all_keys = np.concatenate(levels)
        dist = np.repeat(np.arange(1, len(levels) + 1, dtype=np.int64), [k.size for k in levels])
        owner, src = np.divmod(all_keys, n)
        # Owner first, distance second, source third: a stable sort by owner keeps the level order.
        order = np.argsort(owner, kind="stable")
        yield lo, hi, owner[order], src[order], dist[order]


# -- voter with zealots ------------------------------------------------------------------------------


class VoterZealots(PropagationModel):
    """The voter model with zealots (NDlib's ``VoterZealotModel``).

    Papers: M. Mobilia (2003), "Does a single zealot affect an infinite group of voters?", Physical Review
    Letters 91(2), 028701; M. Mobilia, A. Petersen and S. Redner (2007), "On the role of zealotry in the voter
    model", Journal of Statistical Mechanics, P08029; the voter model of P. Clifford and A. Sudbury (1973) and
    R. Holley and T. Liggett (1975).

    Zealots never change their opinion; everybody else is a voter. With ``seed_zealots`` (default) the
    message's seeds are zealots of opinion 1 (Mobilia 2003: ``--seeds random:1`` is a single zealot); with
    ``zealots_0 > 0`` each agent that starts with opinion 0 is also a zealot (of opinion 0) with that
    probability: one ``ctx.random_agents`` number per such agent (ascending) at the start, below
    ``zealots_0``. The zealots are kept in ``ctx.store["zealots"]``.

    ``schedule=sequential`` (default; Mobilia's random sequential update and NDlib's): a tick is N updates,
    one after another. Two ``ctx.random_agents`` calls over the N update slots give each update ``k`` its
    listener ``i = floor(u1_k * N)`` and a number ``u2_k``; a voter ``i`` that follows somebody copies the
    opinion its followee ``floor(u2_k * k_i)`` holds at that moment (the update is nothing when ``i`` is a
    zealot, frozen, or follows nobody). ``schedule=parallel``: every agent that follows somebody draws one
    number (one ``ctx.random_agents`` call, ascending) and every voter among them copies that followee's
    opinion from the start of the round, all at once.

    ``sources``: the followee whose opinion an agent copied last. ``attempts``: the copies made (the updates
    that were not nothing).

    Known results (tested): the expected opinion of every voter follows ``E[x_i] <- E[x_i] + (mean of
    E[x_j] over its followees - E[x_i]) / N`` per update, so in the stationary state every voter's
    expected opinion is the mean of its followees' (a linear system with the zealots as the boundary); on
    a complete graph with ``Z1`` zealots of opinion 1 and ``Z0`` of opinion 0 that is ``Z1 / (Z1 + Z0)`` for
    every voter, whatever the number of voters. With zealots of one opinion only, a connected graph ends at
    their opinion.

    Differences from NDlib: NDlib updates one random agent per iteration (N of its iterations are one
    tick here), reads its zealots from a node parameter (here: the seeds and ``zealots_0``), and on an
    undirected graph hears every neighbour.

    End: when no voter that may change follows an agent of the other opinion (consensus, or voters all
    agreeing with whom they follow). With zealots of both opinions on a connected graph that never happens:
    the opinions fluctuate around the stationary state for ever (``endless``); bound runs with
    ``--max-ticks``.
    """

    name = "voter-zealots"
    version = "1.0"
    description = "Voter model with zealots: voters copy a random followee, zealots (the seeds) never change."
    states = ("0", "1")
    adopted_states = (1,)
    transmitting_states = ()
    seed_state = 1
    progressive = False
    endless = True
    params = {
        "schedule": _SCHEDULE,
        "seed_zealots": Param(bool, True, help="the message's seeds are zealots of opinion 1"),
        "zealots_0": Param(float, 0.0, 0.0, 1.0, "probability that an agent starting at opinion 0 is a zealot of it"),
    }

    def start(self, ctx: StepContext) -> StepResult | None:
        ones = ctx.state == 1
        zealots = np.flatnonzero(ones) if self.p["seed_zealots"] else np.empty(0, dtype=np.int64)
        share = self.p["zealots_0"]
        if share > 0:
            zeros = np.flatnonzero(~ones)
            zealots = np.concatenate([zealots, zeros[ctx.random_agents(zeros) < share]])
        ctx.store["zealots"] = np.sort(zealots).astype(np.int32)
        return None

    def _voters(self, ctx: StepContext) -> np.ndarray:
        """Mask of the agents whose opinion may change: not zealots, not frozen."""
        free = np.ones(ctx.n, dtype=bool)
        free[ctx.store["zealots"]] = False
        frozen = _frozen(ctx)
        if frozen is not None:
            free &= ~frozen
        return free

    def step(self, ctx: StepContext) -> StepResult:
        g = ctx.graph
        indptr, followees = g.in_indptr, g.in_indices
        deg = np.diff(indptr)
        free = self._voters(ctx)
        state = ctx.state
        if self.p["schedule"] == "parallel":
            agents = np.flatnonzero(deg > 0)
            speaker = followees[_pick(indptr, agents, deg[agents], ctx.random_agents(agents))]
            voters = free[agents]
            agents, speaker = agents[voters], speaker[voters]
            new = state[speaker]
            moved = new != state[agents]
            return StepResult(agents[moved], new[moved], speaker[moved].astype(np.int32), attempts=int(agents.size))
        slots = np.arange(ctx.n)
        who = _listeners_of_sweep(ctx, ctx.random_agents(slots))
        u_pick = ctx.random_agents(slots)
        active = np.flatnonzero((deg[who] > 0) & free[who])
        listener = who[active]
        speaker = followees[_pick(indptr, listener, deg[listener], u_pick[active])].astype(np.int64)
        s = state.copy()
        last = np.full(ctx.n, -1, dtype=np.int32)
        cuts = _read_write_batches(listener, speaker)
        for b, c in zip(cuts[:-1], cuts[1:]):
            a, sp = listener[b:c], speaker[b:c]
            s[a] = s[sp]
            last[a] = sp
        m = listener.size
        changed = np.flatnonzero(s != state)
        return StepResult(changed, s[changed], last[changed], attempts=int(m))

    def is_done(self, ctx: StepContext) -> bool:
        ones = int(np.count_nonzero(ctx.state))
        if ones == 0 or ones == ctx.n:
            return True
        g = ctx.graph
        indptr, followees = g.in_indptr, g.in_indices
        deg = np.diff(indptr)
        state = ctx.state
        voters = self._voters(ctx)
        listeners = np.flatnonzero((deg > 0) & voters)
        # A spread-out sample first: while the opinions are mixed it finds a disagreement at once.
        probe = listeners[:: max(1, listeners.size // _PROBE)]
        pos, cnt = csr_positions(indptr, probe)
        if np.any(state[followees[pos]] != np.repeat(state[probe], cnt)):
            return False
        differs = np.take(state, followees) != np.repeat(state, deg)
        differs &= np.repeat(voters, deg)
        return not bool(differs.any())


# -- Altafini ----------------------------------------------------------------------------------------


class Altafini(_ContinuousOpinion):
    """Altafini's consensus with antagonistic interactions on a signed network (NDlib's ``AltafiniModel``).

    Paper: C. Altafini (2013), "Consensus problems on networks with antagonistic interactions", IEEE
    Transactions on Automatic Control 58(4), 935-946.

    Every follow ``j -> i`` (``i`` follows ``j``) carries a signed weight ``a_ij``, from ``signs``:

    - ``factions`` (default): +1 when the two agents' communities have the same parity (``community % 2``),
      -1 otherwise: two camps, friendly inside, hostile across; structurally balanced by construction;
    - ``communities``: +1 inside a community, -1 across (not balanced when there are more than two);
    - ``trust``: ``2 * trust - 1``, in [-1, 1]: a follow trusted below 0.5 is antagonistic;
    - ``positive``: +1 everywhere (DeGroot's averaging; NDlib's default sign).

    Round (synchronous, no random numbers), on ``y = 2x - 1``: every agent ``i`` with ``c_i = sum_j |a_ij|
    > 0`` over its followees moves to ``y_i' = (1 - h) y_i + h (sum_j a_ij y_j) / c_i`` (sums in ascending
    followee order); the others keep their opinion. This is the Euler step ``h`` of the paper's
    ``dy/dt = -C^-1 L y`` with ``L = C - A`` its signed Laplacian and ``C`` the diagonal of the ``c_i``: the
    paper's ``dy/dt = -L y`` with each agent's time scaled by ``1 / c_i``, which keeps its equilibria and its
    theorems and is stable for every ``h`` in (0, 1] whatever the degrees (the unscaled Laplacian needs
    ``h < 1 / max c_i``).

    Known results (Altafini 2013, tested): on a connected graph whose follows are mutual and whose signs
    are structurally balanced (agents split in two camps ``sigma = +-1`` with ``a_ij sigma_i sigma_j >= 0``),
    the opinions reach a bipartite consensus ``y_i -> sigma_i * sum_j c_j sigma_j y_j(0) / sum_j c_j``, and
    that weighted sum is the same after every round; on a connected, mutual, not structurally balanced graph
    every opinion goes to 0 (``x = 0.5``). With ``h = 1`` on a bipartite graph the rule can oscillate for
    ever (every ``h < 1`` converges).

    Differences from NDlib: NDlib's rule is ``h = 1`` on opinions it draws in [0, 1] (its documentation puts
    them in [-1, 1]), with every neighbour of an undirected graph; its sign is an edge parameter (here a
    rule over the world's communities or trust).

    Parameters: ``signs``, ``h`` (the step, [0, 1], default 0.5; 1 is NDlib's rule), ``tolerance``.

    End: after a round in which no opinion moved by more than ``tolerance``.
    """

    name = "altafini"
    description = "Altafini: opinions averaged over followees with signed weights (hostile follows negate opinions)."
    params = {
        "signs": Param(
            str,
            "factions",
            help="the sign of a follow: factions (community parity), communities, trust (2 trust - 1) or positive",
            choices=("factions", "communities", "trust", "positive"),
        ),
        "h": Param(float, 0.5, 0.0, 1.0, "step: the share of the way to the signed mean of the followees (1: NDlib)"),
        "tolerance": _TOLERANCE,
    }

    def camps(self, ctx: StepContext) -> np.ndarray | None:
        """``sigma = +-1`` per agent when every weight is ``sigma_i sigma_j`` (``factions``: the community's
        parity; ``positive``: all 1), else None."""
        if self.p["signs"] == "positive":
            return np.ones(ctx.n)
        if self.p["signs"] == "factions":
            return np.where(np.asarray(ctx.columns["community"]) % 2 == 0, 1.0, -1.0)
        return None

    def weights(self, ctx: StepContext) -> np.ndarray:
        """The signed weight ``a_ij`` of every in-edge, in in-CSR order (float64)."""
        g = ctx.graph
        if self.p["signs"] == "trust":
            return 2.0 * ctx.trust[g.in_edge].astype(np.float64) - 1.0
        deg = np.diff(g.in_indptr)
        sigma = self.camps(ctx)
        if sigma is not None:
            return np.take(sigma, g.in_indices) * np.repeat(sigma, deg)
        community = np.asarray(ctx.columns["community"])
        return np.where(np.take(community, g.in_indices) == np.repeat(community, deg), 1.0, -1.0)

    def new_opinions(self, ctx: StepContext, x: np.ndarray) -> tuple[np.ndarray, int]:
        g = ctx.graph
        n = ctx.n
        deg, follower = _followers(g.in_indptr)
        y = 2.0 * x - 1.0
        sigma = self.camps(ctx)
        if sigma is not None:
            # a_ij = sigma_i sigma_j: the sum over j of a_ij y_j is sigma_i times that of sigma_j y_j (a sign
            # flip commutes with rounding, so this is the per-edge sum to the last bit), and c_i = deg_i.
            total = sigma * np.bincount(follower, weights=np.take(sigma * y, g.in_indices), minlength=n)
            c = deg.astype(np.float64)
        else:
            a = self.weights(ctx)
            total = np.bincount(follower, weights=a * np.take(y, g.in_indices), minlength=n)
            c = np.bincount(follower, weights=np.abs(a), minlength=n).astype(np.float64)
        h = self.p["h"]
        hears = c > 0
        mean = np.divide(total, c, out=np.zeros(n), where=hears)
        # An agent that hears nobody keeps its opinion to the last bit (no round trip through y).
        return np.where(hears, ((1.0 - h) * y + h * mean + 1.0) / 2.0, x), int(g.in_indices.size)


# -- Friedkin-Johnsen --------------------------------------------------------------------------------


class FriedkinJohnsen(_ContinuousOpinion):
    """Friedkin-Johnsen: averaging anchored to each agent's initial opinion (NDlib's ``FJModel``).

    Paper: N. E. Friedkin and E. C. Johnsen (1990), "Social influence and opinions", Journal of
    Mathematical Sociology 15(3-4), 193-206 (and their 1999 "Social influence networks and opinion change",
    Advances in Group Processes 16, 1-29).

    Each agent ``i`` has a stubbornness ``theta_i`` (its attachment to its initial opinion ``u_i``; the
    paper's susceptibility is ``1 - theta_i``): ``stubbornness`` for everyone, or with
    ``stubbornness_from=susceptibility`` one minus the world's ``susceptibility`` column (clipped to
    [0, 1]). The initial opinions are kept in ``ctx.store["initial"]`` at the start.

    Round (synchronous, no random numbers): ``x_i' = (1 - theta_i) m_i + theta_i u_i``, where ``m_i`` is the
    mean of its followees' opinions (``weights=uniform``, NDlib's: their sum over their number) or their
    trust-weighted mean (``weights=trust``: ``sum_j t_ij x_j / sum_j t_ij``); sums in ascending followee
    order. An agent that follows nobody (or whose follows all have trust 0) hears itself: ``m_i = x_i``.

    In matrix form ``x(t+1) = (I - Theta) W x(t) + Theta u`` with ``W`` the row-stochastic influence matrix.
    Known result (tested): with every ``theta_i > 0`` it converges from any start to the unique
    equilibrium ``x* = (I - (I - Theta) W)^-1 Theta u``, the solution of a linear system; with ``theta = 0``
    it is DeGroot's averaging.

    Differences from NDlib: NDlib's stubbornness is a node parameter (default 0.1; here one value or a
    world column) and its neighbours are those of an undirected graph; the rule is the same.

    Parameters: ``stubbornness`` ([0, 1], default 0.1), ``stubbornness_from`` (``parameter`` or
    ``susceptibility``), ``weights`` (``uniform`` or ``trust``), ``tolerance``.

    End: after a round in which no opinion moved by more than ``tolerance`` (the distance to the
    equilibrium is then at most about ``tolerance (1 - theta) / theta``).
    """

    name = "friedkin-johnsen"
    description = "Friedkin-Johnsen: each agent averages its followees but stays anchored to its initial opinion."
    params = {
        "stubbornness": Param(float, 0.1, 0.0, 1.0, "theta: the weight every agent keeps on its initial opinion"),
        "stubbornness_from": Param(
            str,
            "parameter",
            help="parameter: theta = stubbornness for all; susceptibility: theta = 1 - the world's susceptibility",
            choices=("parameter", "susceptibility"),
        ),
        "weights": Param(
            str,
            "uniform",
            help="uniform: the plain mean of the followees; trust: trust-weighted",
            choices=("uniform", "trust"),
        ),
        "tolerance": _TOLERANCE,
    }

    def start(self, ctx: StepContext) -> StepResult | None:
        ctx.store["initial"] = np.array(ctx.variables["opinion"], dtype=np.float64)
        return super().start(ctx)

    def stubbornness(self, ctx: StepContext) -> np.ndarray | float:
        """``theta``: one number, or one per agent."""
        if self.p["stubbornness_from"] == "susceptibility":
            return 1.0 - np.clip(np.asarray(ctx.columns["susceptibility"], dtype=np.float64), 0.0, 1.0)
        return float(self.p["stubbornness"])

    def new_opinions(self, ctx: StepContext, x: np.ndarray) -> tuple[np.ndarray, int]:
        g = ctx.graph
        n = ctx.n
        deg, follower = _followers(g.in_indptr)
        heard = np.take(x, g.in_indices)  # np.take: faster than fancy indexing on ten million
        if self.p["weights"] == "trust":
            t = ctx.trust[g.in_edge].astype(np.float64)
            total = np.bincount(follower, weights=t * heard, minlength=n)
            norm = np.bincount(follower, weights=t, minlength=n)
        else:
            total = np.bincount(follower, weights=heard, minlength=n)
            norm = deg.astype(np.float64)
        hears = norm > 0
        mean = np.where(hears, np.divide(total, norm, out=np.zeros(n), where=hears), x)
        theta = self.stubbornness(ctx)
        return (1.0 - theta) * mean + theta * ctx.store["initial"], int(g.in_indices.size)


# -- algorithmic bias with media ---------------------------------------------------------------------


def _media(text: str) -> np.ndarray:
    """The media opinions of the ``media`` parameter (comma-separated numbers in [0, 1])."""
    try:
        values = [float(v) for v in text.replace(" ", "").split(",") if v != ""]
    except ValueError:
        values = []
    if not values or not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in values):
        raise BadParameterError(
            f"parameter media={text!r} is invalid: expected one or more opinions in [0, 1] separated by commas, "
            "such as 0.05,0.5,0.95"
        )
    return np.array(values)


def _on_grid(delta: np.ndarray) -> np.ndarray:
    """``delta`` rounded (half-even) to a multiple of 2**-53, as ``deffuant``'s pair moves: opinions drawn
    uniformly (and the seeds' 1.0) are multiples of 2**-53, so are the moved opinions, and ``x_i + delta``
    and ``x_j - delta`` are exact: a pair keeps the sum of the opinions to the last bit."""
    return np.rint(delta * _GRID) / _GRID


def _relative_weights(d: np.ndarray, closest: np.ndarray, gamma: float) -> np.ndarray:
    """Selection weights ``(closest / d) ** gamma`` (at most 1) of candidates at floored distances ``d`` from
    their listener, ``closest`` the listener's smallest (broadcastable): proportional to ``d ** -gamma``, and
    computed as ``exp(gamma (log closest - log d))`` so that no ``gamma`` overflows (``algorithmic-bias``'s
    weights)."""
    if gamma == 1:
        return closest / d
    return np.exp(gamma * (np.log(closest) - np.log(d)))


def _rows(
    indptr: np.ndarray, indices: np.ndarray, agents: np.ndarray, k: np.ndarray, offsets: np.ndarray
) -> np.ndarray:
    """The in-CSR rows of ``agents`` one after another (``k`` their lengths, ``offsets`` their cumulative
    sums from 0): ``csr_positions`` in 32-bit arithmetic where it fits, half the memory traffic."""
    total = int(offsets[-1])
    kind = np.int32 if indices.size < 2**31 - 1 else np.int64
    shift = (indptr[agents] - offsets[:-1]).astype(kind)
    return indices[np.arange(total, dtype=kind) + np.repeat(shift, k)]


def _biased_choice(d: np.ndarray, rows: np.ndarray, u: np.ndarray, gamma: float) -> np.ndarray:
    """For rows of candidates (their distances ``d``, row ``r`` being ``d[rows[r]:rows[r + 1]]``), the position
    of the candidate picked with probability proportional to ``max(d, 1e-5) ** -gamma`` from the row's number
    ``u``: the first whose running sum of weights exceeds ``u`` times the row's total (weights relative to
    the row's closest candidate, as ``algorithmic-bias``'s). An empty row gets a position the caller ignores."""
    lo, hi = rows[:-1], rows[1:]
    k = hi - lo
    if gamma == 0:
        return lo + np.minimum((u * k).astype(np.int64), k - 1)
    dd = np.maximum(d, MIN_DISTANCE)
    nz = k > 0
    cum = np.cumsum(_relative_weights(dd, np.repeat(np.minimum.reduceat(dd, lo[nz]), k[nz]), gamma))
    cum0 = np.concatenate(([0.0], cum))
    base = cum0[lo]
    pick = np.searchsorted(cum, base + u * (cum0[hi] - base), side="right")
    return np.minimum(np.maximum(pick, lo), hi - 1)


class AlgorithmicBiasMedia(_ContinuousOpinion):
    """Algorithmic bias with mass media (NDlib's ``AlgorithmicBiasMediaModel``).

    Paper: V. Pansanella, A. Sîrbu, J. Kertész and G. Rossetti (2023), "Mass media impact on opinion evolution
    in biased digital environments: a bounded confidence model", Scientific Reports 13, 14600; after A.
    Sîrbu, D. Pedreschi, F. Giannotti and J. Kertész (2019), "Algorithmic bias amplifies opinion
    fragmentation and polarization: A bounded confidence model", PLoS ONE 14(3), e0213246.

    Media are stubborn sources with fixed opinions (``media``: comma-separated, default one medium at 0.5).
    One update of agent ``i`` that follows somebody: it picks a followee ``j`` with probability proportional
    to ``max(|x_i - x_j|, 1e-5) ** -gamma`` (the algorithmic bias; ``gamma = 0`` picks uniformly); if
    ``|x_i - x_j| < epsilon``, with ``delta = mu (x_j - x_i)`` rounded to a multiple of 2**-53 (half-even, as
    ``deffuant``'s pairs), ``x_i <- x_i + delta`` and ``x_j <- x_j - delta`` (both move, keeping the sum of the
    opinions exactly; the paper's ``mu = 0.5`` is both to their average). Then, with probability ``p``,
    ``i`` picks a medium ``m`` the same way with ``gamma_media`` (from its opinion after the peer step) and,
    if ``|x_i - m| < epsilon``, ``x_i <- x_i + mu (m - x_i)``, that move rounded to the same grid. An agent that
    follows nobody skips the peer step.

    ``schedule=sequential`` (default; the paper's): a tick is N updates one after another. ``ctx.random_agents``
    over the N update slots gives each update its listener ``floor(u1 * N)`` (first call) and the number of
    its peer pick (second call); with ``p > 0`` a third call decides the media interaction (below ``p``)
    and a fourth picks the medium. A pick from a number ``u`` among candidates with weights ``w`` (in
    ascending order of agent, or in the order of ``media``) is the first whose running sum exceeds ``u`` times
    the total.
    ``schedule=parallel``: every agent that follows somebody picks one followee (one ``ctx.random_agents``
    number each, ascending) and moves ``mu (x_j - x_i)`` toward it from the opinions at the start of the
    round (only the follower moves, not rounded, as in ``algorithmic-bias``); then, with ``p > 0``, every
    agent draws the media numbers
    (two calls, one number per agent each, ascending) and hears a medium as above, from its new opinion.

    Differences from NDlib: NDlib moves both agents of a pair, as here, and visits N random agents per
    iteration (one tick here); it takes ``k`` and ``media_opinions`` (here one list, ``media``); its
    neighbours are those of an undirected graph. The authors' code (github.com/ValentinaPansanella/
    AlgBiasMediaModel) runs the peer step, then the media step with probability ``p``, as here.

    Parameters: ``epsilon`` ([0, 1], default 0.2), ``mu`` ([0, 1], default 0.5), ``gamma`` and
    ``gamma_media`` ([0, 100], default 1), ``p`` ([0, 1], default 0.1), ``media``, ``schedule``, ``tolerance``.

    End: after a tick in which no opinion moved by more than ``tolerance``, provided that no follow nor
    medium that can be picked lies within ``epsilon`` of its listener with ``mu |x_i - x_j| > tolerance``
    (a medium only when ``p > 0``).
    """

    name = "algorithmic-bias-media"
    description = "Algorithmic bias with media: biased bounded-confidence pairs, plus biased contact with fixed media."
    params = {
        "epsilon": Param(float, 0.2, 0.0, 1.0, "confidence bound: a peer or medium further away is not listened to"),
        "mu": Param(float, 0.5, 0.0, 1.0, "convergence: the share of the distance each side of a close pair moves"),
        "gamma": Param(
            float, 1.0, 0.0, 100.0, "algorithmic bias: a followee is picked with probability ~ distance^-gamma"
        ),
        "gamma_media": Param(
            float, 1.0, 0.0, 100.0, "bias toward media: a medium is picked with probability ~ distance^-gamma_media"
        ),
        "p": Param(float, 0.1, 0.0, 1.0, "probability that an update also hears a medium"),
        "media": Param(str, "0.5", help="the media's fixed opinions in [0, 1], comma-separated (e.g. 0.05,0.5,0.95)"),
        "schedule": _SCHEDULE,
        "tolerance": _TOLERANCE,
    }

    @classmethod
    def validate(cls, params: dict[str, Any]) -> dict[str, Any]:
        out = super().validate(params)
        _media(out["media"])
        return out

    def _hear_media(self, x_i: np.ndarray, u: np.ndarray, media: np.ndarray) -> np.ndarray:
        """Opinions ``x_i`` after each hears one medium picked by its number ``u`` (one row of candidates
        per agent: the media in their order)."""
        k = media.size
        gamma = self.p["gamma_media"]
        if k == 1:
            m: np.ndarray | float = float(media[0])
            close = np.abs(x_i - m) < self.p["epsilon"]
            return np.where(close, x_i + _on_grid(self.p["mu"] * (m - x_i)), x_i)
        d = np.abs(x_i[:, None] - media[None, :])
        if gamma == 0:
            pick = np.minimum((u * k).astype(np.int64), k - 1)
        else:
            dd = np.maximum(d, MIN_DISTANCE)
            cum = np.cumsum(_relative_weights(dd, dd.min(axis=1, keepdims=True), gamma), axis=1)
            # The first medium whose running sum exceeds u times the total.
            pick = np.minimum(np.count_nonzero(cum <= (u * cum[:, -1])[:, None], axis=1), k - 1)
        m = media[pick]
        close = np.abs(x_i - m) < self.p["epsilon"]
        return np.where(close, x_i + _on_grid(self.p["mu"] * (m - x_i)), x_i)

    def new_opinions(self, ctx: StepContext, x: np.ndarray) -> tuple[np.ndarray, int]:
        if self.p["schedule"] == "parallel":
            return self._parallel(ctx, x)
        return self._sequential(ctx, x)

    def _parallel(self, ctx: StepContext, x: np.ndarray) -> tuple[np.ndarray, int]:
        g = ctx.graph
        indptr = g.in_indptr
        deg = np.diff(indptr)
        listeners = np.flatnonzero(deg > 0)
        u = ctx.random_agents(listeners)
        # The listeners' rows are the whole in-CSR, in order: the bounds of the non-empty rows.
        rows = np.append(indptr[listeners], indptr[-1])
        d = np.abs(np.take(x, g.in_indices) - np.repeat(x, deg))
        j = g.in_indices[_biased_choice(d, rows, u, self.p["gamma"])]
        new = x.copy()
        diff = x[j] - x[listeners]
        close = np.abs(diff) < self.p["epsilon"]
        who = listeners[close]
        new[who] = x[who] + self.p["mu"] * diff[close]
        media = _media(self.p["media"])
        if self.p["p"] > 0:
            everyone = np.arange(ctx.n)
            hears = ctx.random_agents(everyone) < self.p["p"]
            u_pick = ctx.random_agents(everyone)
            new[hears] = self._hear_media(new[hears], u_pick[hears], media)
        return new, int(listeners.size)

    def _sequential(self, ctx: StepContext, x: np.ndarray) -> tuple[np.ndarray, int]:
        g = ctx.graph
        indptr, followees = g.in_indptr, g.in_indices
        deg = np.diff(indptr)
        n = ctx.n
        slots = np.arange(n)
        who = _listeners_of_sweep(ctx, ctx.random_agents(slots))
        u_peer = ctx.random_agents(slots)
        p = self.p["p"]
        media = _media(self.p["media"])
        u_coin = ctx.random_agents(slots) if p > 0 else np.ones(n)
        u_media = ctx.random_agents(slots) if p > 0 else u_coin
        frozen = _frozen(ctx)
        active = deg[who] > 0 if p == 0 else np.ones(n, dtype=bool)
        if frozen is not None:
            active &= ~frozen[who]
        upd = np.flatnonzero(active)
        listener = who[upd]
        u_peer, hears, u_media = u_peer[upd], u_coin[upd] < p, u_media[upd]
        eps, mu, gamma = self.p["epsilon"], self.p["mu"], self.p["gamma"]
        x = x.copy()
        m = listener.size
        # Every update's followees, update after update: what its biased pick reads.
        k = deg[listener]
        offsets = np.zeros(m + 1, dtype=np.int64)
        np.cumsum(k, out=offsets[1:])
        heard = _rows(indptr, followees, listener, k, offsets)
        sweep = _Sweep(n)
        b = 0
        while b < m:
            e = sweep.end(b, m)
            lo, hi = int(offsets[b]), int(offsets[e])
            i, kk = listener[b:e], k[b:e]
            f = heard[lo:hi]
            xi = x[i]
            has = kk > 0
            # The picks from the opinions now: exact for every update before the cut below, whose reads no
            # earlier update of the batch has written. A row without followees picks itself (never close).
            j = i
            if hi > lo:
                d = np.abs(np.take(x, f) - np.repeat(xi, kk))
                j = np.where(has, f[_biased_choice(d, offsets[b : e + 1] - lo, u_peer[b:e], gamma)], i)
            diff = x[j] - xi
            close = has & (np.abs(diff) < eps)
            moves_j = close if frozen is None else close & ~frozen[j]
            own = np.arange(b, e, dtype=np.int32)
            c = sweep.cut(b, e, writes=[(own, i), (own[moves_j], j[moves_j])], reads=[(np.repeat(own, kk), f)])
            t = c - b
            xib = xi[:t]
            delta = _on_grid(mu * diff[:t])
            new_i = np.where(close[:t], xib + delta, xib)
            mj = moves_j[:t]
            jm = j[:t][mj]
            new_j = x[jm] - delta[mj]
            hb = hears[b:c]
            if hb.any():
                new_i[hb] = self._hear_media(new_i[hb], u_media[b:c][hb], media)
            x[jm] = new_j
            x[i[:t]] = new_i
            b = c
        return x, int(np.count_nonzero(k))

    def is_done(self, ctx: StepContext) -> bool:
        if not self.quiet(ctx):
            return False
        g = ctx.graph
        indptr = g.in_indptr
        deg, follower = _followers(indptr)
        x = ctx.variables["opinion"]
        eps, mu, tol = self.p["epsilon"], self.p["mu"], self.p["tolerance"]
        frozen = _frozen(ctx)
        d = np.abs(np.take(x, g.in_indices) - np.repeat(x, deg))
        live = (d < eps) & (mu * d > tol)
        if frozen is not None:
            live &= ~frozen[follower]
        if live.any() and self._pickable(d, indptr, deg, follower, live, self.p["gamma"]):
            return False
        if self.p["p"] == 0:
            return True
        media = _media(self.p["media"])
        who = np.arange(ctx.n) if frozen is None else np.flatnonzero(~frozen)
        dm = np.abs(np.repeat(x[who], media.size) - np.tile(media, who.size))
        live_m = (dm < eps) & (mu * dm > tol)
        if not live_m.any():
            return True
        k = media.size
        rows = np.arange(0, (who.size + 1) * k, k)
        return not self._pickable(
            dm, rows, np.full(who.size, k), np.repeat(np.arange(who.size), k), live_m, self.p["gamma_media"]
        )

    @staticmethod
    def _pickable(
        d: np.ndarray, indptr: np.ndarray, deg: np.ndarray, owner: np.ndarray, live: np.ndarray, gamma: float
    ) -> bool:
        """Whether some ``live`` candidate has a selection weight above 0 in double precision."""
        if gamma == 0:
            return bool(live.any())
        dd = np.maximum(d, MIN_DISTANCE)
        has = deg > 0
        closest = np.zeros(deg.size)
        closest[has] = np.minimum.reduceat(dd, indptr[:-1][has])
        pos = np.flatnonzero(live)
        return bool(np.any(_relative_weights(dd[pos], closest[owner[pos]], gamma) > 0))


# -- ARWHK -------------------------------------------------------------------------------------------


_VARIANTS = ("attraction-repulsion", "attraction", "repulsion", "base")


def _arwhk_move(y_i: np.ndarray, y_j: np.ndarray, w: np.ndarray, close: np.ndarray, variant: str) -> np.ndarray:
    """ARWHK's new opinions of listeners ``y_i`` hearing partners ``y_j`` over follows of weight ``w``
    (``close``: within the confidence bound). See :class:`ARWHK` for the case table."""
    s = y_i + w * y_j
    step = (s / 2.0) * np.where(y_i >= 0, 1.0 - y_i, 1.0 + y_i)
    if variant == "base":
        sign = close.astype(np.float64)
    else:
        pos, pos_j = y_i >= 0, y_j >= 0
        toward = np.sign(y_j - y_i)  # +1 when the partner is above, -1 below, 0 equal
        attract = np.where(
            pos == pos_j,
            np.where(pos, toward, -toward),  # same side: move toward the partner
            np.where(pos, np.where(s > 0, -1.0, 1.0), np.where(s > 0, 1.0, -1.0)),
        )
        if variant == "attraction":
            sign = np.where(close, attract, 0.0)
        elif variant == "repulsion":
            sign = np.where(close, 0.0, -attract)
        else:
            sign = np.where(close, attract, -attract)
    return y_i + sign * step


class ARWHK(_ContinuousOpinion):
    """The attraction-repulsion weighted Hegselmann-Krause model (NDlib's ``ARWHKModel``).

    Paper: C. Toccaceli, L. Milli and G. Rossetti (2021), "Opinion dynamic modeling of fake news perception",
    Complex Networks & Their Applications IX, Studies in Computational Intelligence 943, 370-381.

    One update: an agent ``i`` and one of its followees ``j``, picked uniformly whatever their opinions;
    ``w`` the trust of the follow ``j -> i`` (NDlib's edge ``weight``); on ``y = 2x - 1``, ``s = y_i + w y_j``
    and ``step = (s / 2) (1 - y_i)`` when ``y_i >= 0``, ``(s / 2) (1 + y_i)`` when ``y_i < 0``. ``close`` is
    ``|x_i - x_j| <= epsilon``. Then ``y_i <- y_i + sign * step`` with ``sign``:

    - ``base`` (NDlib's variant 0): +1 when close, else 0;
    - attraction (variant 1, when close; 0 otherwise): for ``y_i, y_j`` on the same side of 0, +1 when
      ``y_i < y_j`` and -1 when ``y_i > y_j`` if ``y_i >= 0``, the reverse if ``y_i < 0`` (0 when equal): toward
      the partner; on opposite sides, ``y_i >= 0``: -1 if ``s > 0`` else +1, ``y_i < 0``: +1 if ``s > 0`` else -1;
    - repulsion (variant 2, when not close; 0 otherwise): minus the attraction sign;
    - ``attraction-repulsion`` (variant 3, default; the paper's model): attraction when close, repulsion
      otherwise.

    Only ``i`` moves. Opinions stay in [-1, 1] (the step is at most the distance to the end ``y_i`` moves
    toward); ``y = +-1`` never moves. Stubborn agents as ``weighted-hk``'s (``perc_stubborness``,
    ``option_for_stubbornness``; chosen at the start, ``ctx.store["stubborn"]``) never move.

    ``schedule=sequential`` (default; the paper's and NDlib's): a tick is N updates one after another,
    ``ctx.random_agents`` over the N update slots giving each its listener ``floor(u1 * N)`` (first call) and
    its followee ``floor(u2 * k_i)`` (second call); an update of a stubborn or frozen agent, or of one that
    follows nobody, is nothing. ``schedule=parallel``: every agent that follows somebody picks one followee
    (one ``ctx.random_agents`` number each, ascending) and all move at once from the opinions at the start
    of the round.

    Differences from NDlib: ``epsilon`` is on [0, 1] opinions (NDlib's is twice it, on [-1, 1]); NDlib
    starts its opinions in [0, 1] although its rule is written for [-1, 1] (as ``weighted-hk``'s); the
    ``similarity`` option is not implemented. NDlib bug: in variants 0, 1 and 2 an update whose rule does
    not apply (not close for 0 and 1, close for 2) sets the agent's opinion to 0 (its ``new_op`` starts at 0
    and is assigned anyway); here the agent keeps its opinion, as the paper's rule says.

    Parameters: ``epsilon`` ([0, 1], default 0.2), ``variant``, ``perc_stubborness`` ([0, 1], default 0),
    ``option_for_stubbornness`` (-1, 0, 1), ``schedule``, ``tolerance``.

    End: after a tick in which no opinion moved by more than ``tolerance``, provided that no follow of a
    movable agent could move it by more than ``tolerance``.
    """

    name = "arwhk"
    description = "Attraction-repulsion weighted HK (Toccaceli et al.): a close followee attracts, a far one repels."
    params = {
        "epsilon": Param(float, 0.2, 0.0, 1.0, "confidence bound on [0, 1] opinions: closer attracts, further repels"),
        "variant": Param(
            str,
            "attraction-repulsion",
            help="attraction-repulsion (NDlib 3), attraction (1), repulsion (2) or base (0)",
            choices=_VARIANTS,
        ),
        "perc_stubborness": Param(
            float, 0.0, 0.0, 1.0, "share of the extreme agents (|y| >= 0.8) that never change opinion"
        ),
        "option_for_stubbornness": Param(int, 0, -1, 1, "which extremes may be stubborn: -1 low, 1 high, 0 both"),
        "schedule": _SCHEDULE,
        "tolerance": _TOLERANCE,
    }

    def start(self, ctx: StepContext) -> StepResult | None:
        ctx.store["stubborn"] = _stubborn(ctx, self.p["perc_stubborness"], self.p["option_for_stubbornness"])
        return super().start(ctx)

    def _movable(self, ctx: StepContext) -> np.ndarray:
        """Mask of the agents that may move: not stubborn, not frozen."""
        ok = np.ones(ctx.n, dtype=bool)
        ok[ctx.store["stubborn"]] = False
        frozen = _frozen(ctx)
        if frozen is not None:
            ok &= ~frozen
        return ok

    def _moves(self, x: np.ndarray, i: np.ndarray, j: np.ndarray, w: np.ndarray) -> np.ndarray:
        """New opinions (on [0, 1]) of listeners ``i`` hearing followees ``j`` over follows of trust ``w``."""
        xi = x[i]
        close = np.abs(xi - x[j]) <= self.p["epsilon"]
        yi = 2.0 * xi - 1.0
        y = _arwhk_move(yi, 2.0 * x[j] - 1.0, w, close, self.p["variant"])
        # An agent the rule leaves where it is keeps its opinion to the last bit (no round trip through y).
        return np.where(y == yi, xi, np.clip((y + 1.0) / 2.0, 0.0, 1.0))

    def new_opinions(self, ctx: StepContext, x: np.ndarray) -> tuple[np.ndarray, int]:
        g = ctx.graph
        indptr, followees = g.in_indptr, g.in_indices
        deg = np.diff(indptr)
        movable = self._movable(ctx)
        new = x.copy()
        if self.p["schedule"] == "parallel":
            agents = np.flatnonzero(deg > 0)
            pos = _pick(indptr, agents, deg[agents], ctx.random_agents(agents))
            moved = self._moves(x, agents, followees[pos], ctx.trust[g.in_edge[pos]].astype(np.float64))
            keep = movable[agents]
            new[agents[keep]] = moved[keep]
            return new, int(agents.size)
        slots = np.arange(ctx.n)
        who = _listeners_of_sweep(ctx, ctx.random_agents(slots))
        u_pick = ctx.random_agents(slots)
        upd = np.flatnonzero((deg[who] > 0) & movable[who])
        listener = who[upd]
        pos = _pick(indptr, listener, deg[listener], u_pick[upd])
        partner = followees[pos].astype(np.int64)
        trust = ctx.trust[g.in_edge[pos]].astype(np.float64)
        cuts = _read_write_batches(listener, partner)
        for b, c in zip(cuts[:-1], cuts[1:]):
            new[listener[b:c]] = self._moves(new, listener[b:c], partner[b:c], trust[b:c])
        m = listener.size
        return new, int(m)

    def is_done(self, ctx: StepContext) -> bool:
        if not self.quiet(ctx):
            return False
        g = ctx.graph
        _, follower = _followers(g.in_indptr)
        movable = self._movable(ctx)
        edges = np.flatnonzero(movable[follower])
        if edges.size == 0:
            return True
        x = np.asarray(ctx.variables["opinion"])
        i = follower[edges]
        w = ctx.trust[g.in_edge[edges]].astype(np.float64)
        return not bool(np.any(np.abs(self._moves(x, i, g.in_indices[edges], w) - x[i]) > self.p["tolerance"]))
