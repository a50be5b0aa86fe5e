"""Slow reference implementations of the built-in propagation models, for tests only.

Each model is written plainly from its module docstring, with Python loops over agents and edges, so
that it is easy to check by reading. Randomness comes from a :class:`Draws` table — one number per
(round, edge), per (round, agent), and one per agent for the draws a model makes when a session starts —
and the tests hand the fast model the very same numbers through ``StepContext.random_edges`` and
``random_agents``. Same numbers in, same per-round states and adoptions out.

Every function returns a :class:`Trace`: per round, the full state vector after the round, the
agents that adopted for the first time in it, each with its source, and which of those adopted
through a feed.

Feed exposures are given as ``feeds``: ``{round: {agent: credited sharer}}`` (rounds from 0, sharer -1
for none), the exposures a content recommender would hand the model in that round. Each model judges
them as its module docstring says; a feed exposure of an agent that is not susceptible (state 0) at the
start of the round is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# -- test worlds -----------------------------------------------------------------------------------


def directed_world(n: int = 1200, mean: float = 5.0, seed: int = 11, nobody: float = 0.05):
    """``n`` agents following about ``mean`` random others each (a share ``nobody`` follows nobody):
    not mutual, not connected; trust drawn by the world."""
    from sim.core.world import build_world

    rng = np.random.default_rng(seed)
    k = rng.poisson(mean, n)
    k[rng.random(n) < nobody] = 0
    dst = np.repeat(np.arange(n), k)
    src = rng.integers(0, n, dst.size)
    keep = src != dst
    return build_world("directed", seed, n, src[keep], dst[keep])


# -- the graph and the random numbers, as plain Python data -----------------------------------------


@dataclass
class RefGraph:
    """Adjacency lists read off a world: ``out[u]`` = [(v, trust, edge id)] with v ascending,
    ``inn[v]`` = [(u, trust, edge id)] with u ascending; trust as the Python float of the float32."""

    n: int
    out: list[list[tuple[int, float, int]]]
    inn: list[list[tuple[int, float, int]]]
    interests: list[int]
    influence: list[float]
    susceptibility: list[float]
    reputation: list[float]

    @classmethod
    def from_world(cls, world) -> RefGraph:
        g = world.graph
        n = g.n
        indptr = g.out_indptr.tolist()
        indices = g.out_indices.tolist()
        trust = g.trust.tolist()  # float32 -> exact Python floats
        out: list[list[tuple[int, float, int]]] = [[] for _ in range(n)]
        inn: list[list[tuple[int, float, int]]] = [[] for _ in range(n)]
        for u in range(n):
            for e in range(indptr[u], indptr[u + 1]):
                out[u].append((indices[e], trust[e], e))
        for u in range(n):  # u ascending, so every inn[v] comes out sorted by u
            for v, t, e in out[u]:
                inn[v].append((u, t, e))
        for lst in out:
            lst.sort()
        return cls(
            n,
            out,
            inn,
            [int(x) for x in world.columns["interests"].tolist()],
            world.columns["influence"].tolist(),
            world.columns["susceptibility"].tolist(),
            world.columns["reputation"].tolist(),
        )

    @property
    def num_edges(self) -> int:
        return sum(len(x) for x in self.out)


class Draws:
    """Pre-drawn uniform numbers: ``edge(r, e)``, ``agent(r, v)`` and ``start(v)``.

    Rows are drawn lazily from ``seed`` (each row from its own stream, so a row never depends on which
    other rows were asked for). ``fixed_edge`` / ``fixed_agent`` / ``fixed_start`` (1-D arrays) replace
    the random rows with the same numbers in every round, for hand-made cases.
    """

    def __init__(self, n: int, e: int, seed: int = 0) -> None:
        self.n, self.e, self.seed = n, e, seed
        self.fixed_edge: np.ndarray | None = None
        self.fixed_agent: np.ndarray | None = None
        self.fixed_start: np.ndarray | None = None
        self._edge_rows: dict[int, np.ndarray] = {}
        self._agent_rows: dict[int, np.ndarray] = {}
        self._start: np.ndarray | None = None
        #: Set by the test harness while a session starts: the model's draws then come from start().
        self.in_start = False
        #: Every (round, edge ids) the fast model asked for, in order.
        self.edge_calls: list[tuple[int, np.ndarray]] = []

    def edge_row(self, r: int) -> np.ndarray:
        if self.fixed_edge is not None:
            return self.fixed_edge
        if r not in self._edge_rows:
            self._edge_rows[r] = np.random.default_rng([self.seed, 1, r]).random(self.e)
        return self._edge_rows[r]

    def agent_row(self, r: int) -> np.ndarray:
        if self.fixed_agent is not None:
            return self.fixed_agent
        if r not in self._agent_rows:
            self._agent_rows[r] = np.random.default_rng([self.seed, 2, r]).random(self.n)
        return self._agent_rows[r]

    def start_row(self) -> np.ndarray:
        if self.fixed_start is not None:
            return self.fixed_start
        if self._start is None:
            self._start = np.random.default_rng([self.seed, 3]).random(self.n)
        return self._start

    def edge(self, r: int, e: int) -> float:
        return float(self.edge_row(r)[e])

    def agent(self, r: int, v: int) -> float:
        return float(self.agent_row(r)[v])

    def start(self, v: int) -> float:
        return float(self.start_row()[v])


@dataclass
class Trace:
    """Per round: the state vector after it, ``{agent: source}`` of first adoptions in it, and the
    agents among them that adopted through a feed."""

    states: list[list[int]] = field(default_factory=list)
    adopted: list[dict[int, int]] = field(default_factory=list)
    feed: list[set[int]] = field(default_factory=list)

    def add(self, state: list[int], adopted: dict[int, int], feed=()) -> None:
        self.states.append(list(state))
        self.adopted.append(dict(adopted))
        self.feed.append(set(feed) & set(adopted))


Feeds = dict[int, dict[int, int]]


def shown(feeds: Feeds | None, r: int, state: list[int]) -> list[tuple[int, int]]:
    """Round ``r``'s feed exposures of agents susceptible at its start: ``(agent, sharer)``, ascending."""
    if not feeds:
        return []
    return sorted((v, src) for v, src in feeds.get(r, {}).items() if state[v] == 0)


def threshold_from(u: float) -> float:
    """A threshold as the models keep it: ``1 - u`` rounded to float32."""
    return float(np.float32(1.0 - u))


# -- cascades -------------------------------------------------------------------------------------


def ic(
    g: RefGraph,
    seeds: list[int],
    draws: Draws,
    *,
    p: float,
    trust_weighted: bool = False,
    feed_weight: float = 1.0,
    feeds: Feeds | None = None,
    max_rounds: int = 10_000,
) -> Trace:
    """Independent cascade: each new adopter tries each not-yet-adopted follower once; a feed
    exposure succeeds with probability min(1, p * feed_weight)."""
    state = [0] * g.n
    for s in seeds:
        state[s] = 1
    trace = Trace()
    newly = sorted(seeds)
    r = 0
    while newly and r < max_rounds:
        new: dict[int, int] = {}
        for u in newly:
            for v, t, e in g.out[u]:
                if state[v] != 0:
                    continue
                # The model multiplies p by the float32 trust in float32.
                prob = float(np.float32(p) * np.float32(t)) if trust_weighted else p
                if draws.edge(r, e) < prob and v not in new:
                    new[v] = u
        fed = set()
        for v, sharer in shown(feeds, r, state):
            if draws.agent(r, v) < min(1.0, p * feed_weight) and v not in new:
                new[v] = sharer
                fed.add(v)
        for v in new:
            state[v] = 1
        trace.add(state, new, fed)
        newly = sorted(new)
        r += 1
    return trace


def _adopted_share(g: RefGraph, state: list[int], v: int, weights: str, feed: float = 0.0) -> float:
    """v's adopted share; ``feed`` > 0 adds a feed item worth that much adopted weight."""
    if weights == "uniform":
        adopted = 0
        for u, _, _ in g.inn[v]:
            if state[u] == 1:
                adopted += 1
        if feed:
            return (adopted + feed) / (len(g.inn[v]) + feed)
        return adopted / len(g.inn[v])
    total = 0.0
    active = 0.0
    for u, t, _ in g.inn[v]:
        total += t
        if state[u] == 1:
            active += t
    if feed:
        return (active + feed) / (total + feed)
    return active / total if total > 0 else 0.0


def lt(
    g: RefGraph,
    seeds: list[int],
    draws: Draws,
    *,
    weights: str = "uniform",
    feed_weight: float = 1.0,
    feeds: Feeds | None = None,
    max_rounds: int = 10_000,
) -> Trace:
    """Linear threshold with thresholds ``1 - u`` drawn once per agent at the start."""
    theta = [threshold_from(draws.start(v)) for v in range(g.n)]
    return _share_cascade(
        g,
        seeds,
        lambda state, v, f: _adopted_share(g, state, v, weights, f) >= theta[v],
        feed_weight,
        feeds,
        max_rounds,
    )


def threshold(
    g: RefGraph,
    seeds: list[int],
    *,
    threshold: float,
    feed_weight: float = 1.0,
    feeds: Feeds | None = None,
    max_rounds: int = 10_000,
) -> Trace:
    """Fractional threshold: adopt when adopted followees / followees >= threshold."""
    return _share_cascade(
        g,
        seeds,
        lambda state, v, f: _adopted_share(g, state, v, "uniform", f) >= threshold,
        feed_weight,
        feeds,
        max_rounds,
    )


def _share_cascade(
    g: RefGraph, seeds: list[int], adopts, feed_weight: float, feeds: Feeds | None, max_rounds: int
) -> Trace:
    """``adopts(state, v, feed)``: whether v's share, with a feed item worth ``feed`` (0: none), is enough."""
    state = [0] * g.n
    for s in seeds:
        state[s] = 1
    trace = Trace()
    newly = sorted(seeds)
    r = 0
    while newly and r < max_rounds:
        # Followers of the last round's adopters, each with its lowest such followee.
        candidates: dict[int, int] = {}
        for u in newly:
            for v, _, _ in g.out[u]:
                if state[v] == 0 and v not in candidates:
                    candidates[v] = u
        new = {v: src for v, src in candidates.items() if adopts(state, v, 0.0)}
        fed = set()
        if feed_weight > 0:
            for v, sharer in shown(feeds, r, state):
                if v not in new and adopts(state, v, feed_weight):
                    new[v] = sharer
                    fed.add(v)
        for v in new:
            state[v] = 1
        trace.add(state, new, fed)
        newly = sorted(new)
        r += 1
    return trace


# -- epidemics ------------------------------------------------------------------------------------


def epidemic(
    g: RefGraph,
    seeds: list[int],
    draws: Draws,
    *,
    kind: str,
    beta: float,
    gamma: float,
    sigma: float = 0.0,
    feed_weight: float = 1.0,
    feeds: Feeds | None = None,
    max_rounds: int = 10_000,
) -> Trace:
    """SIR, SIS or SEIR: infection from the round-start infectious, then E->I, then recovery, then
    infection through the feed."""
    S = 0
    if kind == "seir":
        E, I, R = 1, 2, 3
    elif kind == "sir":
        E, I, R = -1, 1, 2
    else:
        E, I, R = -1, 1, 0  # SIS: recovery is a return to susceptible
    state = [S] * g.n
    for s in seeds:
        state[s] = I
    ever = set(seeds)
    trace = Trace()
    r = 0
    while any(x in (I, E) for x in state) and r < max_rounds:
        before = list(state)
        infectious = [u for u in range(g.n) if before[u] == I]
        new: dict[int, int] = {}
        for u in infectious:
            for v, _, e in g.out[u]:
                if before[v] == S and draws.edge(r, e) < beta and v not in new:
                    new[v] = u
        for v in new:
            state[v] = E if kind == "seir" else I
        if kind == "seir":
            for v in range(g.n):
                if before[v] == E and draws.agent(r, v) < sigma:
                    state[v] = I
        for u in infectious:
            if draws.agent(r, u) < gamma:
                state[u] = R
        fed = set()
        for v, sharer in shown(feeds, r, before):
            if draws.agent(r, v) < min(1.0, beta * feed_weight) and v not in new:
                new[v] = sharer
                fed.add(v)
                state[v] = E if kind == "seir" else I
        first = {v: src for v, src in new.items() if v not in ever}
        ever.update(first)
        trace.add(state, first, fed)
        r += 1
    return trace


# -- content-aware contagion ----------------------------------------------------------------------


def viral_probability(
    g: RefGraph,
    u: int,
    v: int,
    t: float,
    fatigue: int,
    topics: int,
    *,
    p: float,
    topic_weight: float,
    influence_weight: float,
    fatigue_weight: float,
    reputation_weight: float = 1.0,
) -> float:
    """The ``viral`` model's per-attempt probability, as its docstring writes it (u = -1: a feed item
    without a sharer, influence 0 and reputation 0.5)."""
    k = bin(topics).count("1")
    match = bin(topics & g.interests[v]).count("1") / k if k else 0.0
    influence = g.influence[u] if u >= 0 else 0.0
    reputation = g.reputation[u] if u >= 0 else 0.5
    prob = p * (1.0 + topic_weight * match)
    prob = prob * (1.0 + influence_weight * influence)
    prob = prob * max(0.0, 1.0 + reputation_weight * (reputation - 0.5))
    prob = prob * t
    prob = prob * g.susceptibility[v]
    prob = prob / (1.0 + fatigue_weight * fatigue)
    return min(max(prob, 0.0), 1.0)


def hybrid(
    g: RefGraph,
    seeds: list[int],
    draws: Draws,
    *,
    topics: int,
    mix: float,
    rate: float,
    p: float = 0.3,
    topic_weight: float = 1.0,
    influence_weight: float = 1.0,
    fatigue_weight: float = 0.5,
    reputation_weight: float = 1.0,
    feed_weight: float = 1.0,
    feeds: Feeds | None = None,
    viral_part: bool = True,
    exposure_part: bool = True,
    max_rounds: int = 10_000,
) -> Trace:
    """``hybrid``; ``viral`` is the viral part alone, ``diffusion`` the exposure part alone (see below)."""
    weights = {
        "p": p,
        "topic_weight": topic_weight,
        "influence_weight": influence_weight,
        "fatigue_weight": fatigue_weight,
        "reputation_weight": reputation_weight,
    }
    n = g.n
    theta = [threshold_from(draws.start(v)) for v in range(n)] if exposure_part else []
    state = [0] * n
    for s in seeds:
        state[s] = 1
    fatigue = [0] * n
    pressure = [0.0] * n
    exposure = [0.0] * n
    trace = Trace()
    newly = sorted(seeds)
    r = 0
    while r < max_rounds:
        pending = exposure_part and mix * rate != 0 and any(state[v] == 0 and pressure[v] > 0 for v in range(n))
        if not newly and not pending:
            break
        before = list(state)
        adopted: dict[int, int] = {}
        received: dict[int, int] = {}
        added: dict[int, float] = {}
        for u in newly:
            for v, t, e in g.out[u]:
                if before[v] != 0:
                    continue
                if viral_part:
                    prob = viral_probability(g, u, v, t, fatigue[v], topics, **weights)
                    if draws.edge(r, e) < (1.0 - mix) * prob and v not in adopted:
                        adopted[v] = u
                received[v] = received.get(v, 0) + 1
                added[v] = added.get(v, 0.0) + t
        feed = shown(feeds, r, before)
        # Feed adoptions, decided below and applied after every graph adoption of the round.
        fed: dict[int, int] = {}
        if viral_part:  # with the fatigue before this round's attempts
            for v, sharer in feed:
                prob = viral_probability(g, sharer, v, feed_weight, fatigue[v], topics, **weights)
                if draws.agent(r, v) < (1.0 - mix) * prob:
                    fed[v] = sharer
        for v, c in received.items():
            fatigue[v] += c
        if exposure_part:
            for v, a in added.items():
                pressure[v] += a
            boost = (mix * rate) * feed_weight
            feed_of = dict(feed) if boost != 0 else {}
            for v in range(n):
                if before[v] == 0 and (pressure[v] > 0 or v in feed_of):
                    if pressure[v] > 0:
                        exposure[v] += (mix * rate) * pressure[v]
                        if exposure[v] >= theta[v] and v not in adopted:
                            followees = [u for u, _, _ in g.inn[v] if before[u] == 1]
                            adopted[v] = min(followees) if followees else -1
                    if v in feed_of:
                        exposure[v] += boost
                        if exposure[v] >= theta[v] and v not in adopted:
                            fed.setdefault(v, feed_of[v])
        fed = {v: src for v, src in fed.items() if v not in adopted}
        adopted.update(fed)
        for v in adopted:
            state[v] = 1
        trace.add(state, adopted, fed)
        newly = sorted(adopted)
        r += 1
    return trace


def viral(g: RefGraph, seeds: list[int], draws: Draws, *, topics: int, **params) -> Trace:
    """``viral``: the viral part of ``hybrid`` with ``mix = 0``."""
    return hybrid(g, seeds, draws, topics=topics, mix=0.0, rate=0.0, exposure_part=False, **params)


def diffusion(
    g: RefGraph,
    seeds: list[int],
    draws: Draws,
    *,
    rate: float,
    feed_weight: float = 1.0,
    feeds: Feeds | None = None,
    max_rounds: int = 10_000,
) -> Trace:
    """``diffusion``: the exposure part of ``hybrid`` with ``mix = 1``."""
    return hybrid(
        g,
        seeds,
        draws,
        topics=0,
        mix=1.0,
        rate=rate,
        viral_part=False,
        feed_weight=feed_weight,
        feeds=feeds,
        max_rounds=max_rounds,
    )
