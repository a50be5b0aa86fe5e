"""The threshold and profile models of ``plugins/threshold_models.py`` against their written semantics:
``generalised-threshold``, ``kertesz-threshold``, ``profile`` and ``profile-threshold``.

Evidence, as for the other built-in models (``test_models.py``):

1. coupled randomness: each model against a slow per-agent oracle written below from the model's
   docstring (plain Python loops over agents and followees), fed the same pre-drawn numbers through
   ``StepContext.random_agents``; states, adoptions, sources and feed adoptions must agree round by
   round, and the session's own generator must stay untouched;
2. hand-traced rounds on tiny graphs, with chosen numbers;
3. closed forms checked on the mean of many independent agents or copies (4.5 standard errors, as in
   ``test_models.py``): binomial spontaneous and exogenous adoption on a graph without edges, and the
   profile coin's absorption law (adoption with probability p / (p + (1 - p) blocked) after a geometric
   number of rounds) on thousands of copies of a tiny graph;
4. parameter validation, the end of a session (``is_done``), a snapshot continuing exactly, and the
   conformance checker.

The oracles draw start numbers from :class:`StartDraws`: ``model_reference.Draws`` has one start row,
but these models may draw up to three per agent at the start (thresholds, profiles, blocked agents),
so each ``random_agents`` call made in ``start`` gets its own row, in call order.
"""

from __future__ import annotations

import model_reference as ref
import numpy as np
import pytest
from model_reference import directed_world
from test_models import assert_mean, assert_same_trace, replicated_world, run_model, tiny_world

from sim.authoring import check_plugin
from sim.core.world import build_world, world_rng
from sim.engine.simulation import Simulation
from sim.errors import BadParameterError
from sim.model.registry import Registry
from sim.store.create import synthetic_world
from sim.store.snapshot import load_snapshot, save_snapshot

REGISTRY = Registry(entry_points=False, env=False)
NAMES = ("generalised-threshold", "kertesz-threshold", "profile", "profile-threshold")


class StartDraws(ref.Draws):
    """``ref.Draws`` whose start row is a fresh one for each ``random_agents`` call made in ``start``:
    ``start_rows(k)`` is the k-th call's row (``fixed_starts[k]`` when given)."""

    def __init__(self, n: int, e: int, seed: int = 0) -> None:
        super().__init__(n, e, seed)
        self.calls = 0
        self.fixed_starts: list[np.ndarray] | None = None
        self._rows: dict[int, np.ndarray] = {}

    def start_row(self) -> np.ndarray:  # what test_models.coupled hands the model in start
        k, self.calls = self.calls, self.calls + 1
        return self.start_rows(k)

    def start_rows(self, k: int) -> np.ndarray:
        if self.fixed_starts is not None:
            return self.fixed_starts[k]
        if k not in self._rows:
            self._rows[k] = np.random.default_rng([self.seed, 3, k]).random(self.n)
        return self._rows[k]


# -- the slow oracles, written from the docstrings -------------------------------------------------


def _spread(draws: StartDraws, call: int, n: int, value: float, spread: float) -> list[float]:
    """Per-agent values: ``value`` for all, or uniform in value +- spread, clipped, as float32."""
    if spread <= 0:
        return [value] * n
    row = draws.start_rows(call)
    out = []
    for v in range(n):
        x = value + spread * (2.0 * float(row[v]) - 1.0)
        out.append(float(np.float32(min(max(x, 0.0), 1.0))))
    return out


def _followees(g: ref.RefGraph, state: list[int], v: int) -> tuple[int, int, int]:
    """v's followees in I, its followees, and its lowest-numbered followee in I (-1 none)."""
    adopted, lowest = 0, -1
    for u, _, _ in g.inn[v]:  # ascending
        if state[u] == 1:
            adopted += 1
            if lowest < 0:
                lowest = u
    return adopted, len(g.inn[v]), lowest


def _frontier_followers(g: ref.RefGraph, newly: list[int], state: list[int]) -> list[int]:
    return sorted({v for u in newly for v, _, _ in g.out[u] if state[v] == 0})


def generalised(
    g, seeds, draws, *, threshold=0.1, threshold_spread=0.0, tau=3, mu=0.0, delay="fixed", max_rounds=10_000
) -> ref.Trace:
    n = g.n
    theta = _spread(draws, 0, n, threshold, threshold_spread)
    state = [0] * n
    for s in seeds:
        state[s] = 1
    inclined: dict[int, int] = {}
    credit: dict[int, int] = {}
    trace = ref.Trace()
    newly, r = sorted(seeds), 0
    while r < max_rounds:
        t = r + 1
        g_t = min(1.0, mu * t / tau)
        before = list(state)
        adopted: dict[int, int] = {}
        if g_t > 0:
            for v in range(n):
                if before[v] == 0 and draws.agent(r, v) < g_t:
                    adopted[v] = -1
        for v in _frontier_followers(g, newly, before):
            if v not in inclined and v not in adopted:
                a, k, lowest = _followees(g, before, v)
                if a / k >= theta[v]:
                    inclined[v], credit[v] = t, lowest
        for v in sorted(inclined):
            if before[v] != 0 or v in adopted:
                continue
            if delay == "fixed":
                due = t - inclined[v] + 1 >= tau
            else:
                due = draws.agent(r, v) < g_t + (1.0 - g_t) / tau
            if due:
                adopted[v] = credit[v]
        for v in adopted:
            state[v] = 1
        trace.add(state, adopted)
        newly, r = sorted(adopted), r + 1
        if mu > 0:
            if 0 not in state:
                break
        elif not newly and not any(state[v] == 0 for v in inclined):
            break
    return trace


def kertesz(
    g, seeds, draws, *, threshold=0.1, threshold_spread=0.0, adopter_rate=0.0, percentage_blocked=0.1, max_rounds=10_000
) -> ref.Trace:
    n = g.n
    theta = _spread(draws, 0, n, threshold, threshold_spread)
    state = [0] * n
    for s in seeds:
        state[s] = 1
    k = int(n * percentage_blocked)
    open_ = [v for v in range(n) if state[v] == 0]
    if k >= len(open_):
        to_block = set(open_)
    elif k > 0:
        row = draws.start_rows(1 if threshold_spread > 0 else 0)
        to_block = set(sorted(open_, key=lambda v: (float(row[v]), v))[:k])
    else:
        to_block = set()
    for v in to_block:  # blocked from tick 0
        state[v] = 2
    trace = ref.Trace()
    newly, r = sorted(seeds), 0
    while r < max_rounds:
        before = list(state)
        adopted: dict[int, int] = {}
        if adopter_rate > 0:
            for v in range(n):
                if before[v] == 0 and draws.agent(r, v) < adopter_rate:
                    adopted[v] = -1
        for v in _frontier_followers(g, newly, before):
            if v in adopted:
                continue
            a, deg, lowest = _followees(g, before, v)
            if a / deg >= theta[v]:
                adopted[v] = lowest
        for v in adopted:
            state[v] = 1
        trace.add(state, adopted)
        newly, r = sorted(adopted), r + 1
        if (0 not in state) if adopter_rate > 0 else not newly:
            break
    return trace


def aware_model(
    g,
    seeds,
    draws,
    *,
    with_threshold: bool,
    threshold=0.1,
    threshold_spread=0.0,
    profile=0.1,
    profile_spread=0.0,
    blocked=0.0,
    adopter_rate=0.0,
    feeds=None,
    max_rounds=10_000,
) -> ref.Trace:
    """``profile`` (``with_threshold=False``, reads ``feeds``) and ``profile-threshold``."""
    n = g.n
    a = adopter_rate
    theta = _spread(draws, 0, n, threshold, threshold_spread) if with_threshold else None
    prof = _spread(draws, 1 if with_threshold and threshold_spread > 0 else 0, n, profile, profile_spread)
    state = [0] * n
    for s in seeds:
        state[s] = 1
    aware: set[int] = set()
    trace = ref.Trace()
    newly, r = sorted(seeds), 0
    while r < max_rounds:
        before = list(state)
        for v in _frontier_followers(g, newly, before):
            if v in aware:
                continue
            if with_threshold:
                adopted_followees, k, _ = _followees(g, before, v)
                if adopted_followees / k < theta[v]:
                    continue
            if prof[v] > 0 or blocked > 0:
                aware.add(v)
        pending = {v for v in aware if before[v] == 0}
        fed = {} if with_threshold else {v: s for v, s in ref.shown(feeds, r, before) if v not in pending}
        adopted: dict[int, int] = {}
        gone = []
        if a > 0:
            for v in range(n):
                if before[v] == 0 and draws.agent(r, v) < a:
                    adopted[v] = -1
        for v in sorted(pending | set(fed)):
            u = draws.agent(r, v)
            p = prof[v]
            adopt_below = a + (1.0 - a) * p
            block_below = adopt_below + (1.0 - a) * (1.0 - p) * blocked
            if a <= u < adopt_below:
                adopted[v] = fed[v] if v in fed else _followees(g, before, v)[2]
            elif adopt_below <= u < block_below:
                gone.append(v)
        for v in adopted:
            state[v] = 1
        for v in gone:
            state[v] = 2
        trace.add(state, adopted, set(fed))
        newly, r = sorted(adopted), r + 1
        if a > 0:
            if 0 not in state:
                break
        elif not newly and not any(state[v] == 0 for v in aware):
            break
    return trace


def profile(g, seeds, draws, **params) -> ref.Trace:
    return aware_model(g, seeds, draws, with_threshold=False, **params)


def profile_threshold(g, seeds, draws, **params) -> ref.Trace:
    return aware_model(g, seeds, draws, with_threshold=True, **params)


ORACLES = {
    "generalised-threshold": generalised,
    "kertesz-threshold": kertesz,
    "profile": profile,
    "profile-threshold": profile_threshold,
}


# -- worlds ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def directed():
    """1,200 agents following about 5 random others each (5 % follow nobody)."""
    return directed_world(1200, 5.0, seed=11, nobody=0.05)


@pytest.fixture(scope="module")
def community():
    """1,500 agents on the undirected community generator (heavy-tailed degrees)."""
    return synthetic_world("community", 1500, avg_degree=6, seed=3)


def seeds_of(world, share: float, seed: int = 1) -> list[int]:
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(world.n, size=max(1, int(world.n * share)), replace=False).tolist())


def random_feeds(world, rounds: int, per_round: int, seed: int = 4) -> ref.Feeds:
    """``{round: {agent: sharer}}``: ``per_round`` random agents a round, each credited to a random agent."""
    rng = np.random.default_rng(seed)
    return {
        r: {int(v): int(rng.integers(world.n)) for v in rng.choice(world.n, per_round, replace=False)}
        for r in range(rounds)
    }


# -- 0. registration and parameters -----------------------------------------------------------------


def test_the_models_are_registered_with_their_states_and_validate_parameters():
    """Discovered as built-ins with their declared states; a bad value names its parameter."""
    for name in NAMES:
        info = REGISTRY.entries[name]
        assert info.source == "builtin" and info.kind == "model" and info.error is None
        cls = info.cls
        assert cls.description and cls.states[:2] == ("S", "I") and cls.seed_state == 1
        assert cls.adopted_states == (1,) and cls.transmitting_states == (1,) and cls.progressive
        assert cls.__doc__ and "Paper:" in cls.__doc__ and "Done when" in cls.__doc__
        cls()  # the defaults are valid
    assert REGISTRY.model("kertesz-threshold").states == ("S", "I", "B")
    assert REGISTRY.model("profile").uses_feed and not REGISTRY.model("kertesz-threshold").uses_feed
    bad = [
        ("generalised-threshold", {"tau": 0}, "tau"),
        ("generalised-threshold", {"tau": 2.5}, "tau"),
        ("generalised-threshold", {"mu": -1}, "mu"),
        ("generalised-threshold", {"delay": "soon"}, "delay"),
        ("kertesz-threshold", {"percentage_blocked": 1.5}, "percentage_blocked"),
        ("kertesz-threshold", {"adopter_rate": -0.1}, "adopter_rate"),
        ("kertesz-threshold", {"threshold": "high"}, "threshold"),
        ("profile", {"profile": 2}, "profile"),
        ("profile", {"blocked": -0.5}, "blocked"),
        ("profile", {"threshold": 0.2}, "threshold"),  # profile has no threshold
        ("profile-threshold", {"profile_spread": 1.1}, "profile_spread"),
        ("profile-threshold", {"threshold_spread": -0.1}, "threshold_spread"),
    ]
    for name, params, what in bad:
        with pytest.raises(BadParameterError, match=what):
            REGISTRY.model(name)(**params)


# -- 1. coupled randomness against the oracles --------------------------------------------------------

CASES = {
    "gt-fixed": ("generalised-threshold", {"threshold": 0.15, "tau": 2}, 0.05, None),
    # Exogenous adopters break the lockstep of the fixed delay: an agent waiting on its delay sees
    # more followees adopt (and must not be inclined again).
    "gt-fixed-exogenous": ("generalised-threshold", {"threshold": 0.3, "tau": 4, "mu": 0.003}, 0.02, 30),
    "gt-random-exogenous": (
        "generalised-threshold",
        {"threshold": 0.2, "threshold_spread": 0.15, "tau": 3, "delay": "random", "mu": 0.004},
        0.02,
        30,
    ),
    "kertesz": ("kertesz-threshold", {"threshold": 0.2, "percentage_blocked": 0.1}, 0.05, None),
    "kertesz-spontaneous": (
        "kertesz-threshold",
        {"threshold": 0.3, "threshold_spread": 0.2, "adopter_rate": 0.01, "percentage_blocked": 0.2},
        0.02,
        30,
    ),
    "profile": ("profile", {"profile": 0.3}, 0.01, None),
    "profile-blocked-feeds": (
        "profile",
        {"profile": 0.25, "profile_spread": 0.2, "blocked": 0.3, "adopter_rate": 0.005},
        0.01,
        30,
    ),
    "profile-threshold": ("profile-threshold", {"threshold": 0.2, "profile": 0.4}, 0.03, None),
    "profile-threshold-all": (
        "profile-threshold",
        {
            "threshold": 0.25,
            "threshold_spread": 0.2,
            "profile": 0.5,
            "profile_spread": 0.3,
            "blocked": 0.2,
            "adopter_rate": 0.003,
        },
        0.03,
        30,
    ),
}


@pytest.mark.parametrize("world_name", ["directed", "community"])
@pytest.mark.parametrize("case", list(CASES))
def test_fast_model_matches_its_per_agent_oracle_round_by_round(case, world_name, request):
    """Reference: the slow per-agent oracle above, fed the same numbers (one per agent per round, and
    one start row per start call). Same states, adoptions, sources and feed adoptions every round."""
    world = request.getfixturevalue(world_name)
    name, params, share, max_rounds = CASES[case]
    seeds = seeds_of(world, share)
    feeds = random_feeds(world, 12, 40) if case == "profile-blocked-feeds" else None
    draws = StartDraws(world.n, world.num_edges, seed=17)
    fast = run_model(world, name, params, seeds, draws=draws, feeds=feeds, max_rounds=max_rounds or 10_000)
    extra = {"feeds": feeds} if feeds else {}
    trace = ORACLES[name](
        ref.RefGraph.from_world(world), seeds, draws, max_rounds=max_rounds or 10_000, **params, **extra
    )
    assert_same_trace(fast, trace)
    # Not a vacuous comparison: the message spread over several rounds.
    assert fast.rounds >= 3 and fast.session.reached >= len(seeds) + 20
    if max_rounds is None:
        assert fast.session.status == "completed"
    if feeds:
        assert sum(len(f) for f in fast.feed) > 0
    if params.get("blocked") or params.get("percentage_blocked"):
        assert np.any(fast.states[-1] == 2)
    # All of the model's randomness came through the two hooks: the session's generator is untouched.
    untouched = world_rng(world.seed, 100, fast.session.seed, fast.session.id)
    assert fast.session.rng.bit_generator.state == untouched.bit_generator.state


# -- 2. hand-traced rounds ----------------------------------------------------------------------------

# 0 -> 1 -> 2 -> 3 and 0 -> 4, 5 -> 4: agent 4 follows 0 and 5 (share 1/2 once 0 has adopted).
CHAIN = [(0, 1), (0, 4), (1, 2), (2, 3), (5, 4)]


def test_generalised_threshold_waits_tau_rounds_on_a_hand_traced_chain():
    """Reference: hand-traced rounds. Seed 0, threshold 0.5, tau 3, fixed delay: agents 1 and 4 are
    inclined in round 1 (shares 1 and 1/2) and adopt in round 3; agent 2 is inclined in round 4 and adopts
    in round 6; agent 3 in round 9. The round after, nobody is inclined and susceptible: done. With
    threshold 0.6 agent 4 never is. Agent 5 follows nobody: never."""
    world = tiny_world(6, CHAIN)
    run = run_model(world, "generalised-threshold", {"threshold": 0.5, "tau": 3})
    assert run.adopted == [{}, {}, {1: 0, 4: 0}, {}, {}, {2: 1}, {}, {}, {3: 2}, {}]
    assert run.session.status == "completed" and run.session.reached == 5
    strict = run_model(world, "generalised-threshold", {"threshold": 0.6, "tau": 1})
    assert strict.adopted == [{1: 0}, {2: 1}, {3: 2}, {}]
    # The random delay: an inclined agent adopts in a round when its number is below 1/tau = 0.5.
    draws = StartDraws(6, len(CHAIN))
    rows = {0: {1: 0.2, 4: 0.7}, 1: {2: 0.8, 4: 0.1}, 2: {2: 0.3}, 3: {3: 0.45}}
    for r in range(6):
        draws._agent_rows[r] = np.array([rows.get(r, {}).get(v, 0.9) for v in range(6)])
    coin = run_model(world, "generalised-threshold", {"threshold": 0.5, "tau": 2, "delay": "random"}, draws=draws)
    assert coin.adopted == [{1: 0}, {4: 0}, {2: 1}, {3: 2}, {}] and coin.session.status == "completed"


def test_kertesz_blocked_agents_stop_the_cascade_on_a_hand_traced_graph():
    """Reference: hand-traced rounds. 0 -> 1, 0 -> 2, 1 -> 3, 2 -> 3, 3 -> 4, agents 5-9 alone; seed 0,
    threshold 0.5. percentage_blocked 0.1 blocks int(10 * 0.1) = 1 agent, the non-seed with the smallest
    start number: agent 2, blocked from tick 0. Round 1: 1 adopts (share 1); round 2: 3 adopts (1 of its 2
    followees: 1/2); round 3: 4; round 4 adopts nobody: done. Threshold 0.6 stops at agent 3."""
    edges = [(0, 1), (0, 2), (1, 3), (2, 3), (3, 4)]
    world = tiny_world(10, edges)
    draws = StartDraws(10, len(edges))
    draws.fixed_starts = [np.array([0.5, 0.5, 0.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5])]
    run = run_model(world, "kertesz-threshold", {"threshold": 0.5}, draws=draws)
    assert run.adopted == [{1: 0}, {3: 1}, {4: 3}, {}] and run.session.status == "completed"
    assert [s[:5].tolist() for s in run.states] == [
        [1, 0, 2, 0, 0],
        [1, 1, 2, 0, 0],
        [1, 1, 2, 1, 0],
        [1, 1, 2, 1, 1],
        [1, 1, 2, 1, 1],
    ]
    draws.calls = 0
    strict = run_model(world, "kertesz-threshold", {"threshold": 0.6}, draws=draws)
    assert strict.adopted == [{1: 0}, {}]
    free = run_model(world, "kertesz-threshold", {"threshold": 0.5, "percentage_blocked": 0.0})
    assert free.adopted == [{1: 0, 2: 0}, {3: 1}, {4: 3}, {}]
    # Spontaneous adoption comes first: agent 1 (u = 0.1 < 0.3) adopts with no source, though its
    # threshold holds too; agent 3 (u = 0.2) adopts spontaneously before any followee has.
    draws = StartDraws(10, len(edges))
    draws.fixed_starts = [np.array([0.5, 0.5, 0.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5])]
    draws.fixed_agent = np.array([0.9, 0.1, 0.9, 0.2, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9])
    spont = run_model(world, "kertesz-threshold", {"threshold": 0.5, "adopter_rate": 0.3}, draws=draws, max_rounds=3)
    assert spont.adopted == [{1: -1, 3: -1}, {4: 3}, {}] and spont.session.status == "running"


def test_profile_threshold_coin_and_blocking_on_a_hand_traced_graph():
    """Reference: hand-traced rounds. 0 -> 2, 1 -> 2, 0 -> 3; seed 0; agent 2 follows 0 and 1 (share
    1/2), agent 3 follows 0 (share 1). Profile 0.5, blocked 0.5: adopt below 0.5, blocked in [0.5, 0.75).

    Threshold 0.6: only agent 3 is aware; u_3 = 0.7 blocks it; nobody else can change: done after one
    round. Threshold 0.5: both are aware; round 1: u_3 = 0.2 adopts (from 0), u_2 = 0.9 waits; round 2:
    u_2 = 0.4 adopts; round 3 changes nothing: done. The profile model ignores the threshold: like 0.5."""
    world = tiny_world(4, [(0, 2), (1, 2), (0, 3)])
    params = {"profile": 0.5, "blocked": 0.5}

    def draws_for(rows):
        d = StartDraws(4, 3)
        for r, row in enumerate(rows):
            d._agent_rows[r] = np.array(row)
        return d

    rows = [[0.9, 0.9, 0.9, 0.7], [0.9, 0.9, 0.4, 0.9], [0.9] * 4]
    strict = run_model(world, "profile-threshold", {"threshold": 0.6, **params}, draws=draws_for(rows))
    assert strict.adopted == [{}] and strict.states[-1].tolist() == [1, 0, 0, 2]
    assert strict.session.status == "completed"
    rows = [[0.9, 0.9, 0.9, 0.2], [0.9, 0.9, 0.4, 0.9], [0.9] * 4]
    half = run_model(world, "profile-threshold", {"threshold": 0.5, **params}, draws=draws_for(rows))
    assert half.adopted == [{3: 0}, {2: 0}, {}] and half.session.status == "completed"
    prof = run_model(world, "profile", params, draws=draws_for(rows))
    assert prof.adopted == half.adopted


# -- 3. closed forms ------------------------------------------------------------------------------------


def empty_world(n: int):
    none = np.empty(0, dtype=np.int32)
    return build_world("empty", 0, n, none, none)


def test_spontaneous_adoption_on_a_graph_without_edges_is_binomial():
    """Reference: closed form. No edges, one seed, adopter_rate a: after t rounds each agent that is not
    blocked has adopted with probability 1 - (1 - a)^t, independently (binomial count); exactly
    int(N * percentage_blocked) agents are blocked, none of them adopted."""
    n, a, t = 20_000, 0.05, 6
    world = empty_world(n)
    run = run_model(
        world,
        "kertesz-threshold",
        {"adopter_rate": a, "percentage_blocked": 0.1},
        seed=3,
        max_rounds=t,
        keep_states=False,
    )
    s = run.session
    blocked = s.state == 2
    assert blocked.sum() == 2000 and not np.any(blocked & (s.adopted_at >= 0))
    others = ~blocked
    others[0] = False
    assert_mean((s.adopted_at >= 0)[others], 1 - (1 - a) ** t, "kertesz spontaneous adoption")
    assert sum(len(x) for x in run.adopted) == s.reached - 1


def test_exogenous_adoption_grows_linearly_in_time():
    """Reference: closed form. No edges: an agent is still susceptible after T rounds with probability
    prod_{t=1..T} (1 - min(1, mu t / tau)); and the mean round of adoption among the first T rounds
    follows from the same product."""
    n, mu, tau, rounds = 20_000, 0.02, 2, 8
    world = empty_world(n)
    run = run_model(
        world, "generalised-threshold", {"mu": mu, "tau": tau}, seed=5, max_rounds=rounds, keep_states=False
    )
    at = run.session.adopted_at[1:]
    survive = [1.0]
    for t in range(1, rounds + 1):
        survive.append(survive[-1] * (1 - min(1.0, mu * t / tau)))
    assert_mean(at >= 0, 1 - survive[-1], "exogenous adoption by round T")
    adopted = at[at >= 0]
    exact = sum(t * (survive[t - 1] - survive[t]) for t in range(1, rounds + 1)) / (1 - survive[-1])
    assert_mean(adopted, exact, "mean round of exogenous adoption")


@pytest.mark.parametrize(
    "name, follows_dummy", [("profile", False), ("profile-threshold", False), ("profile-threshold", True)]
)
def test_profile_coin_absorption_law_on_copies(name, follows_dummy):
    """Reference: closed form. Copies of seed 0 -> agent 1 (and, with a dummy, 2 -> 1 from an agent
    that never adopts, share 1/2 >= threshold 0.5). Each round agent 1 adopts with probability p, else
    is blocked with probability b: it adopts with probability p / (p + (1 - p) b), in round G with G
    geometric of success q = p + (1 - p) b (mean 1/q, whether it adopts or is blocked)."""
    p, b, copies = 0.3, 0.4, 20_000
    k, edges = (3, [(0, 1), (2, 1)]) if follows_dummy else (2, [(0, 1)])
    world = replicated_world(k, edges, copies)
    params = {"profile": p, "blocked": b} | ({"threshold": 0.5} if name == "profile-threshold" else {})
    run = run_model(world, name, params, np.arange(copies) * k, seed=6)
    assert run.session.status == "completed"
    states = np.stack(run.states)[:, 1::k]  # rounds x copies: agent 1 of each copy
    final = states[-1]
    assert np.all(final != 0)
    q = p + (1 - p) * b
    assert_mean(final == 1, p / q, f"{name}: adoption")
    assert_mean(np.argmax(states != 0, axis=0), 1 / q, f"{name}: round of the decision")
    if follows_dummy:  # threshold 0.6 > 1/2: agent 1 never becomes aware
        never = run_model(world, name, {**params, "threshold": 0.6}, np.arange(copies) * k, seed=6, keep_states=False)
        assert never.session.reached == copies and never.session.status == "completed"


def test_thresholds_are_drawn_once_uniform_around_the_value_and_clipped():
    """Reference: closed form. threshold 0.1, spread 0.2: 0.1 + 0.2 (2u - 1) is uniform on [-0.1, 0.3),
    clipped at 0: a quarter of the agents at 0, the rest below 0.3, mean 0.3^2 / 2 / 0.4 = 0.1125."""
    world = empty_world(20_000)
    run = run_model(
        world,
        "kertesz-threshold",
        {"threshold": 0.1, "threshold_spread": 0.2, "percentage_blocked": 0.0},
        max_rounds=1,
        keep_states=False,
    )
    theta = run.session.store["threshold"]
    assert theta.dtype == np.float32 and theta.min() == 0.0 and theta.max() < 0.3
    assert_mean(theta == 0.0, 0.25, "clipped share")
    assert_mean(theta.astype(np.float64), 0.1125, "mean threshold")


# -- 4. ends, snapshots and the conformance checker ------------------------------------------------------


def test_sessions_end_exactly_when_nothing_can_change():
    """``is_done``: a model ends in the first round after which no agent can change state."""
    # mu > 0: ends when nobody is susceptible; min(1, 0.25 t) is 1 in round 4.
    gt = run_model(empty_world(50), "generalised-threshold", {"mu": 0.25, "tau": 1}, seed=1)
    assert gt.rounds == 4 and gt.session.status == "completed" and gt.session.reached == 50
    # adopter_rate > 0: ends when every agent that is not blocked adopted.
    kt = run_model(empty_world(30), "kertesz-threshold", {"adopter_rate": 0.5, "percentage_blocked": 0.2}, seed=1)
    assert kt.session.status == "completed" and not np.any(kt.states[-1] == 0) and np.any(kt.states[-2] == 0)
    assert kt.session.reached == 30 - 6
    # A profile whose coin can do nothing (p = 0, blocked = 0) ends after the first round.
    star = tiny_world(5, [(0, 1), (0, 2), (0, 3), (0, 4)])
    idle = run_model(star, "profile", {"profile": 0.0})
    assert idle.rounds == 1 and idle.session.status == "completed" and idle.session.reached == 1
    # p = 0 and blocked = 1: every aware agent is blocked in its first round, which ends it.
    shut = run_model(star, "profile", {"profile": 0.0, "blocked": 1.0})
    assert shut.rounds == 1 and shut.states[1].tolist() == [1, 2, 2, 2, 2] and shut.session.status == "completed"
    # A threshold nobody reaches: done after the first round.
    for name in ("generalised-threshold", "kertesz-threshold", "profile-threshold"):
        run = run_model(
            tiny_world(3, [(0, 2), (1, 2)]),
            name,
            {"threshold": 0.9, "percentage_blocked": 0.0} if name == "kertesz-threshold" else {"threshold": 0.9},
        )
        assert run.rounds == 1 and run.session.status == "completed", name


SNAPSHOT_PARAMS = {
    "generalised-threshold": {"threshold": 0.2, "threshold_spread": 0.1, "tau": 3, "delay": "random", "mu": 0.002},
    "kertesz-threshold": {"threshold": 0.25, "threshold_spread": 0.1, "adopter_rate": 0.05, "percentage_blocked": 0.1},
    "profile": {"profile": 0.2, "profile_spread": 0.1, "blocked": 0.2},
    "profile-threshold": {"threshold": 0.2, "profile": 0.3, "profile_spread": 0.2, "blocked": 0.1},
}


@pytest.mark.parametrize("name", NAMES)
async def test_a_snapshot_mid_run_continues_exactly(name, tmp_path):
    """The store (thresholds, profiles, inclinations, awareness, blocked agents) is saved with the session:
    a world saved after 4 ticks and reloaded goes on exactly as the original."""
    world = synthetic_world("snap", 1500, avg_degree=6, seed=8)
    sim = Simulation(world)
    sim.inject("m", topics=["politics"], seeds="random:15", model=name, params=SNAPSHOT_PARAMS[name], seed=2)
    await sim.run(ticks=4)
    assert sim.sessions[0].status == "running"
    path = str(tmp_path / "mid.snap")
    save_snapshot(world, path)
    await sim.run(until_done=True, max_ticks=400)
    resumed = load_snapshot(path)
    await Simulation(resumed).run(until_done=True, max_ticks=400)
    s, r = world.sessions[0], resumed.sessions[0]
    assert s.status == r.status == "completed" and s.reached == r.reached > 15
    assert np.array_equal(s.adopted_at, r.adopted_at) and np.array_equal(s.adopted_from, r.adopted_from)
    assert np.array_equal(s.state, r.state)


def test_the_models_pass_the_conformance_checker():
    """``agora plugins check plugins/threshold_models.py`` passes for every model. kertesz-threshold
    declares ``zero_params = ()``: its ``adopter_rate`` is its exogenous rate and its threshold spread is
    deterministic, so no parameter of the model stops it (the paper has none) and the zero-probability
    check is skipped, saying so."""
    report = check_plugin("plugins/threshold_models.py", agents=20_000)
    assert sorted(report.models) == sorted(NAMES)
    assert report.ok, report.render()
    assert report.check("zero-probability", "kertesz-threshold")["status"] == "skip"
    passed = {(c["model"], c["name"]) for c in report.checks if c["status"] == "pass"}
    for name in NAMES:
        assert {(name, "determinism"), (name, "resume"), (name, "isolation"), (name, "end")} <= passed
    assert {("profile", "zero-probability"), ("profile-threshold", "zero-probability")} <= passed
