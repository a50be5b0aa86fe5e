"""The binary opinion models (``plugins/opinion_binary.py``: voter, q-voter, majority-rule, sznajd)
against their written semantics.

Kinds of evidence, as ARCHITECTURE.md asks:

1. coupled randomness, for every model: the fast model and a slow per-agent oracle written below from
   the module's docstrings get the same pre-drawn numbers and must give identical opinions, identical
   first adoptions with identical sources, and the same number of rounds (the same end), round by
   round. These models draw several numbers per agent in a round, so the coupling here hands out one
   fresh row of numbers per ``ctx.random_agents`` call: call k of round r gives agent v the number
   ``row(r, k)[v]`` (see :class:`Rows`), and the oracles read the rows in the documented order;
2. exact values: a hand-traced Sznajd conflict; the q-voter's and majority rule's expected opinion
   counts after one round (closed forms, hypergeometric for majority rule) against replica means;
3. known results: the synchronous voter model ends on opinion 1 with probability equal to the
   degree-weighted initial share of 1s on a connected non-bipartite graph (Hassin & Peleg 2001; the
   plain share on a regular graph), for every ``rate``, and with ``rate < 1`` on bipartite graphs too,
   where ``rate = 1`` can oscillate for ever;
4. the end (``is_done``), parameter validation, continuation from a snapshot, and the conformance checker.

Statistical tolerances follow ``tests/test_models.py``: a replica mean within 4.5 standard errors of the
exact value (a correct model fails with probability below 1e-5; the slips named in each test move the
mean by many standard errors). Every run is seeded.
"""

from __future__ import annotations

import asyncio
import math
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import model_reference as ref
import numpy as np
import pytest
from model_reference import directed_world
from test_models import (
    REGISTRY,
    assert_mean,
    assert_same_trace,
    replicated_world,
    run_model,
    tiny_world,
)

from sim.authoring import check_plugin
from sim.core.world import world_rng
from sim.engine.simulation import Simulation
from sim.errors import BadParameterError
from sim.model.context import StepContext
from sim.store.create import synthetic_world
from sim.store.snapshot import load_snapshot, save_snapshot

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("voter", "q-voter", "majority-rule", "sznajd")
#: The synchronous schedule, whose rules the oracles below are written from (the sequential one, the
#: default of voter and sznajd, has its own oracles in tests/test_schedules.py).
PARALLEL = {"schedule": "parallel"}


# -- coupling: one row of numbers per random_agents call ---------------------------------------------


class Rows:
    """Pre-drawn uniform numbers for the opinion models: ``row(r, k)`` is the row handed to the k-th
    ``ctx.random_agents`` call of round r (one number per agent, indexed by agent); each row comes from
    its own seeded stream. ``fixed[k]`` replaces row k of every round, for hand-made cases."""

    def __init__(self, n: int, seed: int = 0) -> None:
        self.n, self.seed = n, seed
        self.fixed: dict[int, np.ndarray] = {}
        self._rows: dict[tuple[int, int], np.ndarray] = {}
        #: Calls made so far in each round (by the fast model).
        self.calls: dict[int, int] = {}

    def row(self, r: int, k: int) -> np.ndarray:
        if k in self.fixed:
            return self.fixed[k]
        if (r, k) not in self._rows:
            self._rows[(r, k)] = np.random.default_rng([self.seed, r, k]).random(self.n)
        return self._rows[(r, k)]

    def u(self, r: int, k: int, v: int) -> float:
        return float(self.row(r, k)[v])


@contextmanager
def coupled(rows: Rows):
    """Make every StepContext draw its per-agent numbers from ``rows``, and fail on per-edge draws."""

    def random_agents(ctx, agents):
        assert not ctx.starting, "the opinion models draw nothing when a session starts"
        a = np.asarray(agents, dtype=np.int64)
        assert a.size < 2 or np.all(a[1:] > a[:-1]), "agents are listed in ascending order"
        k = rows.calls.get(ctx.round, 0)
        rows.calls[ctx.round] = k + 1
        return rows.row(ctx.round, k)[a]

    def random_edges(ctx, edge_ids):
        raise AssertionError("the opinion models draw no per-edge numbers")

    with (
        mock.patch.object(StepContext, "random_agents", random_agents),
        mock.patch.object(StepContext, "random_edges", random_edges),
    ):
        yield


def coupled_run(world, name: str, params: dict, seeds, rows: Rows, max_rounds: int):
    with coupled(rows):
        return run_model(world, name, params, seeds, max_rounds=max_rounds)


# -- the slow per-agent oracles, written from the docstrings ------------------------------------------


def pick(g: ref.RefGraph, v: int, u: float) -> int:
    """The followee of v chosen by the number u: the floor(u * d)-th of its followees, ascending."""
    followees = [w for w, _, _ in g.inn[v]]
    return followees[int(u * len(followees))]


def sort_key(u: float, n: int) -> int:
    """The documented sort key of a number: floor(u * 2**(63 - b)), b the bit length of n - 1."""
    return int(u * 2 ** (63 - max(1, (n - 1).bit_length())))


def followers(g: ref.RefGraph, u: int) -> list[int]:
    return [v for v, _, _ in g.out[u]]


def disagreement(g: ref.RefGraph, state: list[int]) -> bool:
    """Some agent follows an agent of the other opinion."""
    return any(state[u] != state[v] for v in range(g.n) for u, _, _ in g.inn[v])


def run_rounds(g: ref.RefGraph, seeds, one_round, done, max_rounds: int) -> ref.Trace:
    """Seed opinion 1, then rounds until ``done(state)`` after a round (or ``max_rounds``).

    ``one_round(r, before)`` returns ``{agent: (new opinion, source)}`` for the agents that change."""
    state = [0] * g.n
    for s in seeds:
        state[s] = 1
    ever = set(seeds)
    trace = ref.Trace()
    for r in range(max_rounds):
        changes = one_round(r, list(state))
        first = {}
        for v, (opinion, source) in changes.items():
            state[v] = opinion
            if opinion == 1 and v not in ever:
                first[v] = source
        ever.update(first)
        trace.add(state, first)
        if done(state):
            break
    return trace


def ref_voter(g, seeds, rows, *, rate=1.0, max_rounds=10_000):
    def one_round(r, before):
        listeners = [v for v in range(g.n) if g.inn[v]]
        k = 0
        if rate < 1:
            listeners = [v for v in listeners if rows.u(r, 0, v) < rate]
            k = 1
        changes = {}
        for v in listeners:
            u = pick(g, v, rows.u(r, k, v))
            if before[u] != before[v]:
                changes[v] = (before[u], u)
        return changes

    return run_rounds(g, seeds, one_round, lambda s: rate == 0 or not disagreement(g, s), max_rounds)


def ref_q_voter(g, seeds, rows, *, q, epsilon, max_rounds=10_000):
    def one_round(r, before):
        changes = {}
        for v in range(g.n):
            if not g.inn[v]:
                continue
            picks = [pick(g, v, rows.u(r, k, v)) for k in range(q)]
            if len({before[u] for u in picks}) == 1:
                if before[picks[0]] != before[v]:
                    changes[v] = (before[picks[0]], picks[0])
            elif rows.u(r, q, v) < epsilon:
                changes[v] = (1 - before[v], -1)
        return changes

    return run_rounds(g, seeds, one_round, lambda s: not disagreement(g, s), max_rounds)


def ref_majority(g, seeds, rows, *, q, tie, max_rounds=10_000):
    n = g.n

    def one_round(r, before):
        order = sorted(range(n), key=lambda v: (sort_key(rows.u(r, 0, v), n), v))
        changes = {}
        for start in range(0, (n // q) * q, q):
            group = order[start : start + q]
            ones = sum(before[v] for v in group)
            majority = 1 if 2 * ones > q else 0 if 2 * ones < q else int(tie)
            for v in group:
                if before[v] != majority:
                    changes[v] = (majority, -1)
        return changes

    def done(state):
        def outvoted(x):  # can an agent holding x find itself in a group with a majority for 1 - x?
            others = min(state.count(1 - x), q - 1)
            return n >= q and (2 * others > q or (2 * others == q and int(tie) == 1 - x))

        return not any(outvoted(x) for x in (0, 1) if x in state)

    return run_rounds(g, seeds, one_round, done, max_rounds)


def ref_sznajd(g, seeds, rows, *, max_rounds=10_000):
    def one_round(r, before):
        best: dict[int, tuple[tuple[int, int], int, tuple[int, int]]] = {}  # target -> (rank, opinion, pair)
        for i in range(g.n):
            if not g.inn[i]:
                continue
            j = pick(g, i, rows.u(r, 0, i))
            if before[i] != before[j]:
                continue
            rank = (sort_key(rows.u(r, 1, i), g.n), i)
            for t in {i, j, *followers(g, i), *followers(g, j)}:
                if t not in best or rank < best[t][0]:
                    best[t] = (rank, before[i], (i, j))
        changes = {}
        for t, (_, opinion, pair) in best.items():
            if opinion != before[t]:
                followed = [m for m in pair if m in [w for w, _, _ in g.inn[t]]]
                changes[t] = (opinion, min(followed))  # compared for first adoptions only
        return changes

    def done(state):
        # u belongs to a possible agreeing pair when it follows, or is followed by, an agent of its opinion.
        member = [
            any(state[w] == state[u] for w, _, _ in g.inn[u]) or any(state[w] == state[u] for w in followers(g, u))
            for u in range(g.n)
        ]
        return not any(state[u] != state[v] and member[u] for v in range(g.n) for u, _, _ in g.inn[v])

    return run_rounds(g, seeds, one_round, done, max_rounds)


# -- worlds ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def directed():
    """300 agents following about 4 random others each (10 % follow nobody): not mutual, not connected."""
    return directed_world(300, 4.0, seed=5, nobody=0.1)


@pytest.fixture(scope="module")
def community():
    """400 agents on the undirected community generator (heavy-tailed degrees, a few isolated agents)."""
    return synthetic_world("community", 400, avg_degree=6, seed=3)


def seeds_of(world, share: float, seed: int = 1) -> list[int]:
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(world.n, size=max(1, int(world.n * share)), replace=False).tolist())


def undirected(edges):
    return [(a, b) for a, b in edges] + [(b, a) for a, b in edges]


def complete(k: int):
    return [(a, b) for a in range(k) for b in range(k) if a != b]


# -- 1. coupled randomness against the oracles -------------------------------------------------------

COUPLED_CASES = {
    "voter": ("voter", PARALLEL, lambda g, s, rows, m: ref_voter(g, s, rows, max_rounds=m)),
    "voter-lazy": (
        "voter",
        {"rate": 0.6, **PARALLEL},
        lambda g, s, rows, m: ref_voter(g, s, rows, rate=0.6, max_rounds=m),
    ),
    "q-voter-1": ("q-voter", {"q": 1}, lambda g, s, rows, m: ref_q_voter(g, s, rows, q=1, epsilon=0.0, max_rounds=m)),
    "q-voter-3": (
        "q-voter",
        {"q": 3, "epsilon": 0.2},
        lambda g, s, rows, m: ref_q_voter(g, s, rows, q=3, epsilon=0.2, max_rounds=m),
    ),
    "q-voter-2": (
        "q-voter",
        {"q": 2, "epsilon": 0.05},
        lambda g, s, rows, m: ref_q_voter(g, s, rows, q=2, epsilon=0.05, max_rounds=m),
    ),
    "majority-3": (
        "majority-rule",
        {"q": 3},
        lambda g, s, rows, m: ref_majority(g, s, rows, q=3, tie="1", max_rounds=m),
    ),
    "majority-4-tie-0": (
        "majority-rule",
        {"q": 4, "tie": "0"},
        lambda g, s, rows, m: ref_majority(g, s, rows, q=4, tie="0", max_rounds=m),
    ),
    "majority-2": (
        "majority-rule",
        {"q": 2},
        lambda g, s, rows, m: ref_majority(g, s, rows, q=2, tie="1", max_rounds=m),
    ),
    "sznajd": ("sznajd", PARALLEL, lambda g, s, rows, m: ref_sznajd(g, s, rows, max_rounds=m)),
}


@pytest.mark.parametrize("world_name", ["directed", "community"])
@pytest.mark.parametrize("case", list(COUPLED_CASES))
def test_fast_model_matches_the_per_agent_oracle_round_by_round(case, world_name, request):
    """Reference: a slow per-agent oracle fed the same random numbers (round-by-round identical opinions,
    first adoptions and their sources, and the same end)."""
    world = request.getfixturevalue(world_name)
    name, params, reference = COUPLED_CASES[case]
    seeds = seeds_of(world, 0.4)
    rows = Rows(world.n, seed=23)
    max_rounds = 25
    fast = coupled_run(world, name, params, seeds, rows, max_rounds)
    trace = reference(ref.RefGraph.from_world(world), seeds, rows, max_rounds)
    assert_same_trace(fast, trace)
    # Not vacuous: opinions moved both ways over several rounds.
    changes = np.abs(np.diff(np.array(fast.states, dtype=np.int8), axis=0))
    assert fast.rounds >= 2 and changes.sum() >= 20
    to_zero = sum(int(np.count_nonzero((a == 1) & (b == 0))) for a, b in zip(fast.states, fast.states[1:]))
    assert fast.session.reached > len(seeds)
    assert to_zero > 0 or case == "majority-2"  # pairs with ties going to 1 never turn a 1 into a 0
    # Every number came through ctx.random_agents: the session's own generator is untouched.
    untouched = world_rng(world.seed, 100, fast.session.seed, fast.session.id)
    assert fast.session.rng.bit_generator.state == untouched.bit_generator.state


@pytest.mark.parametrize("case", ["voter", "voter-lazy", "q-voter-2", "sznajd"])
def test_fast_model_and_oracle_end_in_the_same_round(case):
    """Reference: the per-agent oracle, run to its own end on a small graph (80 agents, mutual follows,
    isolated agents included): the same rounds, and the same round in which the session completes."""
    world = synthetic_world("small", 80, avg_degree=4, seed=9)
    name, params, reference = COUPLED_CASES[case]
    seeds = seeds_of(world, 0.5, seed=2)
    rows = Rows(world.n, seed=31)
    fast = coupled_run(world, name, params, seeds, rows, 3000)
    assert fast.session.status == "completed"
    assert_same_trace(fast, reference(ref.RefGraph.from_world(world), seeds, rows, 3000))


def test_q_voter_with_q_1_is_the_voter_model_on_the_same_numbers(community):
    """Reference: the voter model itself (q = 1 reads the pick row first, as the voter model does)."""
    seeds = seeds_of(community, 0.3)
    voter = coupled_run(community, "voter", PARALLEL, seeds, Rows(community.n, seed=4), 30)
    q1 = coupled_run(community, "q-voter", {"q": 1, "epsilon": 0.7}, seeds, Rows(community.n, seed=4), 30)
    assert voter.rounds == q1.rounds == 30
    for a, b in zip(voter.states, q1.states):
        assert np.array_equal(a, b)


def test_sznajd_conflict_goes_to_the_pair_of_highest_priority():
    """Reference: a hand-traced round. Pair A = (0 follows 1), both holding 1; pair B = (2 follows 3) and
    pair C = (4 follows 2), all holding 0. Agent 4 follows 0 and 2, so A, B and C all reach it."""
    world = tiny_world(5, [(1, 0), (3, 2), (0, 4), (2, 4)])
    # Row 0 picks followees: 0 -> 1, 2 -> 3, and 4 -> its second followee, 2 (u = 0.6 of [0, 2]).
    picks = np.array([0.1, 0.1, 0.1, 0.1, 0.6])
    for priorities, after, source in [
        ([0.1, 0.9, 0.2, 0.9, 0.3], [1, 1, 0, 0, 1], 0),  # A first: 4 takes 1 from agent 0
        ([0.3, 0.9, 0.1, 0.9, 0.2], [1, 1, 0, 0, 0], None),  # B first: 4 keeps 0
        ([0.3, 0.9, 0.2, 0.9, 0.1], [1, 1, 0, 0, 0], None),  # C first: its own pair holds 4 at 0
    ]:
        rows = Rows(5)
        rows.fixed = {0: picks, 1: np.array(priorities)}
        run = coupled_run(world, "sznajd", PARALLEL, [0, 1], rows, 1)
        assert run.states[1].tolist() == after
        assert run.adopted[0] == ({} if source is None else {4: source})


# -- 2. exact values against replica means -----------------------------------------------------------


def test_q_voter_one_round_on_complete_graphs_matches_the_closed_form():
    """Reference: the exact expected count of 1s after one round on K_5 with 2 agents holding 1.
    A 0-agent sees 2 ones among its 4 followees (a = 1/2), a 1-agent sees 1 (b = 1/4); with q picks with
    repetition, P(0 -> 1) = a^q + eps (1 - a^q - (1 - a)^q) and P(1 -> 0) = (1 - b)^q + eps (1 - b^q -
    (1 - b)^q). For q = 3, eps = 0.3 that is 1.86875 ones per copy; picks without repetition would give
    2.05, flipping at every disagreement 1.24, ignoring epsilon 1.51 — all tens of standard errors away."""
    q, eps, copies = 3, 0.3, 4000
    a, b = 0.5, 0.25
    p01 = a**q + eps * (1 - a**q - (1 - a) ** q)
    p10 = (1 - b) ** q + eps * (1 - b**q - (1 - b) ** q)
    exact = 3 * p01 + 2 * (1 - p10)
    world = replicated_world(5, complete(5), copies)
    seeds = [c * 5 + i for c in range(copies) for i in (0, 1)]
    run = run_model(world, "q-voter", {"q": q, "epsilon": eps}, seeds, seed=3, max_rounds=1)
    ones = run.states[1].reshape(copies, 5).sum(axis=1)
    assert_mean(ones, exact, "q-voter ones after one round")


def hypergeometric_majority(n: int, k: int, q: int, tie: int) -> float:
    """P(a uniform q-subset of n agents, k holding 1, has a majority for 1; ties count when tie = 1)."""
    total = math.comb(n, q)
    win = sum(math.comb(k, c) * math.comb(n - k, q - c) for c in range(q + 1) if 2 * c > q or (2 * c == q and tie))
    return win / total


@pytest.mark.parametrize("q, tie", [(3, "1"), (4, "0"), (4, "1")])
def test_majority_rule_one_round_matches_the_exact_hypergeometric_expectation(q, tie):
    """Reference: the exact expectation of 1s after one round of the documented rule, N = 10, K = 4:
    (N mod q) * K / N (agents sitting out keep theirs) + q * floor(N / q) * P(hypergeometric majority).
    For q = 3 that is 3.4, where Galam's infinite-population p^3 + 3 p^2 (1 - p) gives 3.568 (over six
    standard errors away with 3,000 replicas): the finite-size correction of drawing without repetition."""
    n, k, replicas = 10, 4, 3000
    exact = (n % q) * k / n + q * (n // q) * hypergeometric_majority(n, k, q, int(tie))
    world = tiny_world(n, [(0, 1)])
    ones = []
    for seed in range(replicas):
        run = run_model(world, "majority-rule", {"q": q, "tie": tie}, list(range(k)), seed=seed, max_rounds=1)
        ones.append(int(run.states[1].sum()))
    assert_mean(np.array(ones), exact, f"majority rule q={q} tie={tie}")
    if q == 3:  # the infinite-population value is distinguishable: the test sees the finite-size correction
        p = k / n
        galam = (n % q) * k / n + q * (n // q) * (p**3 + 3 * p**2 * (1 - p))
        se = np.std(ones, ddof=1) / math.sqrt(replicas)
        assert abs(np.mean(ones) - galam) > 3 * se


# -- 3. the voter model's exit probability ------------------------------------------------------------

LOLLIPOP = undirected([(0, 1), (1, 2), (0, 2), (2, 3)])  # a triangle with a tail: degrees 2, 2, 3, 1


@pytest.mark.parametrize(
    "k, edges, seeds, exact, rate",
    [
        (4, complete(4), (0,), 1 / 4, 1.0),  # regular: the plain share
        (4, LOLLIPOP, (3,), 1 / 8, 1.0),  # degree-weighted: 1 / (2 + 2 + 3 + 1), not 1/4
        (4, LOLLIPOP, (2,), 3 / 8, 1.0),
        (4, LOLLIPOP, (2,), 3 / 8, 0.5),  # laziness keeps the martingale
        (4, undirected([(0, 1), (1, 2), (2, 3), (3, 0)]), (0,), 1 / 4, 0.5),  # bipartite C_4: needs rate < 1
    ],
)
@pytest.mark.parametrize("schedule", ["sequential", "parallel"])
def test_voter_ends_on_opinion_1_with_the_degree_weighted_initial_share(k, edges, seeds, exact, rate, schedule):
    """Reference: known result (Hassin & Peleg 2001): in synchronous pull voting on a connected
    non-bipartite graph, sum(d_v x_v) / sum(d_v) is a martingale and consensus is reached, so the
    probability of ending at all-1 is the degree-weighted initial share (the plain share when regular).
    With rate < 1 the same holds on bipartite graphs. In the sequential schedule (one random agent at a
    time) the same share is a martingale on every connected graph. 3,000 disjoint copies run as one
    session, which ends when every copy is at consensus (sequential: each update falls on a uniformly
    random copy, so every copy runs its own sequential process)."""
    copies = 3000
    world = replicated_world(k, edges, copies)
    run = run_model(
        world,
        "voter",
        {"rate": rate, "schedule": schedule},
        [c * k + s for c in range(copies) for s in seeds],
        seed=5,
        keep_states=False,
        max_rounds=2000,
    )
    assert run.session.status == "completed"
    final = run.session.state.reshape(copies, k)
    assert np.all(final.min(axis=1) == final.max(axis=1)), "every copy ends at consensus"
    assert_mean(final[:, 0], exact, f"voter exit probability, rate={rate}, {schedule}")


def test_synchronous_voter_on_a_bipartite_pair_swaps_for_ever_and_a_lazy_one_ends():
    """Reference: exact. Two agents that follow each other with different opinions copy each other in
    every round at rate 1 (a period-2 orbit that never reaches consensus); with rate < 1 it ends."""
    world = tiny_world(2, [(0, 1), (1, 0)])
    run = run_model(world, "voter", PARALLEL, [0], max_rounds=50)
    assert run.rounds == 50 and run.session.status == "running"
    assert [s.tolist() for s in run.states[:4]] == [[1, 0], [0, 1], [1, 0], [0, 1]]
    lazy = run_model(world, "voter", {"rate": 0.5, **PARALLEL}, [0], seed=1, max_rounds=200)
    assert lazy.session.status == "completed" and lazy.states[-1][0] == lazy.states[-1][1]


# -- 4. the end, parameters, snapshots, the checker ---------------------------------------------------


@pytest.mark.parametrize(
    "name, params",
    [
        ("voter", {}),
        ("q-voter", {"q": 2}),
        ("q-voter", {"q": 3, "epsilon": 0.1}),
        ("majority-rule", {}),
        ("sznajd", {}),
    ],
)
def test_the_session_completes_at_consensus(name, params):
    """On a complete graph of 12 agents every model reaches consensus and the session completes there,
    not before: in every earlier round both opinions were held."""
    world = tiny_world(12, complete(12))
    run = run_model(world, name, params, [0, 1, 2, 3, 4], seed=2, max_rounds=5000)
    assert run.session.status == "completed"
    final = run.states[-1]
    assert final.min() == final.max()
    assert all(0 < s.sum() < 12 for s in run.states[:-1])


def test_graph_models_end_at_local_consensus_when_global_consensus_is_impossible():
    """Two separate triangles (one all 1, one all 0) and an agent that follows nobody: nothing can change,
    so the graph models end at once, while majority rule (mean-field) goes on until all agree."""
    edges = undirected([(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5)])
    world = tiny_world(7, edges)
    for name in ("voter", "q-voter", "sznajd"):
        sim = Simulation(world.fork(), registry=REGISTRY, plugin_budget=0)
        s = sim.inject("m", model=name, seeds="ids:0,1,2", seed=1)
        asyncio.run(sim.step())
        assert s.status == "completed" and s.round == 0, name
    sim = Simulation(world.fork(), registry=REGISTRY, plugin_budget=0)
    s = sim.inject("m", model="majority-rule", seeds="ids:0,1,2", seed=1)
    asyncio.run(sim.run(until_done=True, max_ticks=500))
    assert s.status == "completed" and s.state.min() == s.state.max()


def test_sznajd_ends_on_a_disagreeing_pair_that_can_never_agree():
    """Two agents that follow each other with different opinions and nobody else: every pair they can
    form disagrees, so the state never changes — the session ends although the pair is not at consensus
    (the voter model, by contrast, goes on)."""
    world = tiny_world(2, [(0, 1), (1, 0)])
    run = run_model(world, "sznajd", {}, [0], max_rounds=10)
    assert run.session.status == "completed" and run.rounds == 1 and run.states[1].tolist() == [1, 0]


def test_majority_rule_ends_when_the_minority_can_no_longer_win_a_group():
    """With q = 1 nobody ever changes and with N < q no group forms: both end after the first round; with
    q = 3 the session goes on until the minority is gone (a lone 0 among 1s is always outvoted)."""
    many = tiny_world(6, [(0, 1)])
    run = run_model(many, "majority-rule", {"q": 1}, [0, 1], max_rounds=10)
    assert run.session.status == "completed" and run.rounds == 1 and run.states[1].sum() == 2
    run = run_model(many, "majority-rule", {"q": 7}, [0, 1], max_rounds=10)
    assert run.session.status == "completed" and run.rounds == 1
    run = run_model(many, "majority-rule", {"q": 3}, [0, 1, 2, 3, 4], seed=1, max_rounds=100)
    assert run.session.status == "completed" and run.states[-1].min() == run.states[-1].max()


def test_agents_the_engine_never_changes_are_left_out_of_the_end():
    """A suspended agent (lifecycle status 4) keeps its opinion whatever the model answers, so a state
    where only it disagrees is an end. Voter: agent 0 (suspended, opinion 0) follows agent 1 (opinion 1);
    everyone else agrees. Majority rule with q = 2: one suspended 1 among active 0s can only tie a
    group, so it ends when ties go to 0 and goes on when they go to 1."""
    world = tiny_world(3, [(1, 0), (2, 1), (1, 2)])
    for suspended, done in ((False, False), (True, True)):
        w = world.fork()
        if suspended:
            w.columns["status"][0] = 4
        sim = Simulation(w, registry=REGISTRY, plugin_budget=0)
        s = sim.inject("m", model="voter", seeds="ids:1,2", seed=1)
        asyncio.run(sim.step())
        assert (s.status == "completed") == done and s.round == 0  # judged right after seeding
    crowd = tiny_world(10, [(0, 1)])
    crowd.columns["status"][0] = 4
    for tie, done in (("0", True), ("1", False)):
        sim = Simulation(crowd.fork(), registry=REGISTRY, plugin_budget=0)
        s = sim.inject("m", model="majority-rule", params={"q": 2, "tie": tie}, seeds="ids:0", seed=1)
        asyncio.run(sim.step())
        assert (s.status == "completed") == done, tie


def test_parameters_are_validated_with_their_names_and_ranges():
    for name in MODELS:
        info = REGISTRY.entries[name]
        assert info.source == "builtin" and info.kind == "model" and info.error is None
        cls = info.cls
        assert cls.description and cls.__doc__ and set(cls.schema()) == set(cls.params)
        assert cls.states == ("0", "1") and cls.adopted_states == (1,) and cls.seed_state == 1
        assert cls.transmitting_states == () and not cls.progressive and not cls.uses_feed
        cls()  # the defaults are valid
    bad = [
        ("voter", {"rate": 1.5}, "rate"),
        ("voter", {"rate": -0.1}, "rate"),
        ("q-voter", {"q": 0}, "q"),
        ("q-voter", {"q": 2.5}, "q"),
        ("q-voter", {"epsilon": 2}, "epsilon"),
        ("majority-rule", {"q": 0}, "q"),
        ("majority-rule", {"tie": "2"}, "tie"),
        ("sznajd", {"p": 0.5}, "sznajd has no parameter 'p'"),
    ]
    for name, params, needle in bad:
        with pytest.raises(BadParameterError, match=needle):
            REGISTRY.model(name)(**params)
    assert REGISTRY.model("q-voter")(q="4", epsilon="0.25").p == {"q": 4, "epsilon": 0.25}


@pytest.mark.parametrize(
    "name, params",
    [("voter", {"rate": 0.8}), ("q-voter", {"q": 3, "epsilon": 0.1}), ("majority-rule", {"q": 4}), ("sznajd", {})],
)
def test_a_snapshot_mid_run_continues_exactly(name, params, tmp_path):
    """Saved after 3 ticks and reloaded (the model made again, start not called), the session goes on
    exactly as the original: the same opinions, adoptions and sources after 10 more ticks."""
    world = synthetic_world("snap", 1500, avg_degree=6, seed=8)
    sim = Simulation(world, registry=REGISTRY, plugin_budget=0)
    sim.inject("m", topics=["politics"], seeds="random:600", model=name, params=params, seed=2)
    asyncio.run(sim.run(ticks=3))
    assert sim.sessions[0].status == "running"
    path = str(tmp_path / "mid.snap")
    save_snapshot(world, path)
    asyncio.run(sim.run(ticks=10))
    resumed = load_snapshot(path)
    asyncio.run(Simulation(resumed, registry=REGISTRY, plugin_budget=0).run(ticks=10))
    s, r = world.sessions[0], resumed.sessions[0]
    assert s.round == r.round and s.status == r.status and s.reached == r.reached > 600
    for key in ("state", "adopted_at", "adopted_from"):
        assert np.array_equal(getattr(s, key), getattr(r, key)), key


def test_the_models_pass_the_conformance_checker():
    report = check_plugin(str(ROOT / "plugins" / "opinion_binary.py"), agents=20000)
    assert report.ok, report.render()
    assert sorted(report.models) == sorted(MODELS)
