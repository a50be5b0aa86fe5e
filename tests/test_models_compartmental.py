"""The compartmental models of ``plugins/compartmental.py`` (si, seis, sirs, swir, adaptive-sis)
against their docstrings.

Evidence, as ``tests/test_models.py`` gathers it for the first models:

1. coupled randomness: each model and a slow per-agent reference written below from its docstring
   (plain Python loops) get the same pre-drawn numbers and must give identical states, adoptions,
   sources and feed adoptions round by round — and, for adaptive-sis, the identical graph;
2. exact values: hand-traced rounds with chosen numbers, and means over many independent replicas
   (disjoint copies of a tiny graph in one session) against closed forms and small Markov chains,
   within 4.5 standard errors (see ``test_models.assert_mean``);
3. known results: SI reaches the seeds' whole out-component; adaptive SIS with w = 0 is SIS, and
   rewiring raises the epidemic threshold (Gross et al. 2006);
4. the contract: parameters, the end of each model, a snapshot continuing exactly, ``agora plugins
   check`` and ``agora check`` after a CLI run.
"""

from __future__ import annotations

import math
from pathlib import Path

import model_reference as ref
import numpy as np
import pytest
from conftest import agora
from model_reference import directed_world
from test_models import Run, assert_mean, assert_same_trace, coupled, replicated_world, tiny_world

from sim.authoring import check_plugin
from sim.core.world import world_rng
from sim.engine.simulation import Simulation
from sim.errors import BadParameterError
from sim.model.registry import Registry
from sim.model.session import PropagationSession
from sim.store.create import synthetic_world
from sim.store.snapshot import load_snapshot, save_snapshot

REGISTRY = Registry(entry_points=False, env=False)
PLUGIN_FILE = Path(__file__).resolve().parents[1] / "plugins" / "compartmental.py"
MODELS = ("si", "seis", "sirs", "swir", "adaptive-sis")


# -- harness: rounds with the graph changes merged between them ------------------------------------


def run_rounds(
    world,
    name: str,
    params: dict | None = None,
    seeds=(0,),
    *,
    seed: int = 0,
    draws: ref.Draws | None = None,
    feeds: ref.Feeds | None = None,
    max_rounds: int = 10_000,
    keep_states: bool = True,
) -> Run:
    """``test_models.run_model``, plus what the simulation does between ticks: the edge changes a model
    asked for are merged into the graph before the next round. ``run.edges`` (set here) holds the
    graph's sorted edge keys ``u * n + v`` after the start and after each round."""
    model = REGISTRY.model(name)(**(params or {}))
    ids = ",".join(str(int(s)) for s in seeds)
    s = PropagationSession(id=1, message_id=1, model_name=name, params=model.p, seeds=f"ids:{ids}", seed=seed)
    out = Run(s)
    out.edges = [_edge_keys(world)]
    out.results = []
    with coupled(draws):
        if draws is not None:
            draws.in_start = True
        s.start(world, model, 0)
        if draws is not None:
            draws.in_start = False
        if keep_states:
            out.states.append(s.state.copy())
        while s.status == "running" and s.round < max_rounds:
            tick = s.round + 1
            feed = None
            if feeds and feeds.get(s.round):
                shown = sorted(feeds[s.round].items())
                feed = (
                    np.array([v for v, _ in shown], dtype=np.int32),
                    np.array([u for _, u in shown], dtype=np.int32),
                )
            before = s.state.copy()
            result = s.advance(world, tick, feed=feed)
            assert s.status in ("running", "completed"), s.traceback
            world.merge_delta()
            new = np.flatnonzero(s.adopted_at == tick)
            out.adopted.append(dict(zip(new.tolist(), s.adopted_from[new].tolist())))
            out.feed.append(set(s.last_round["feed_adopted"].tolist()))
            out.attempts.append(int(result.attempts))
            out.results.append((before, result))
            if keep_states:
                out.states.append(s.state.copy())
            if name == "adaptive-sis":
                out.edges.append(_edge_keys(world))
    return out


def _edge_keys(world) -> np.ndarray:
    g = world.graph
    return np.repeat(np.arange(g.n, dtype=np.int64), np.diff(g.out_indptr)) * g.n + g.out_indices


@pytest.fixture(scope="module")
def directed():
    return directed_world()


@pytest.fixture(scope="module")
def community():
    """1,500 agents on the undirected community generator (heavy-tailed degrees)."""
    return synthetic_world("community", 1500, avg_degree=6, seed=3)


def seeds_of(world, share: float, seed: int = 1) -> list[int]:
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(world.n, size=max(1, int(world.n * share)), replace=False).tolist())


def random_feeds(n: int, rounds: int = 10, per_round: int = 40, seed: int = 5) -> ref.Feeds:
    """Feed exposures for rounds 0..rounds-1: ``per_round`` random agents each, a random sharer or -1."""
    rng = np.random.default_rng(seed)
    feeds: ref.Feeds = {}
    for r in range(rounds):
        agents = rng.choice(n, size=per_round, replace=False)
        sharers = np.where(rng.random(per_round) < 0.2, -1, rng.integers(0, n, per_round))
        feeds[r] = {int(a): int(b) for a, b in zip(agents, sharers)}
    return feeds


# -- the slow references, written from the docstrings ----------------------------------------------


def ref_si(
    g: ref.RefGraph,
    seeds,
    draws: ref.Draws,
    *,
    beta: float,
    feed_weight: float = 1.0,
    feeds: ref.Feeds | None = None,
    max_rounds: int = 10_000,
) -> ref.Trace:
    """SI: infection from every infectious agent, then the feed; ends after a round that tried no
    susceptible follower (or had beta = 0) and infected nobody."""
    state = [0] * g.n
    for s in seeds:
        state[s] = 1
    trace = ref.Trace()
    r = 0
    while r < max_rounds and any(x == 1 for x in state):
        before = list(state)
        tried = 0
        new: dict[int, int] = {}
        for u in range(g.n):
            if before[u] != 1:
                continue
            for v, _, e in g.out[u]:
                if before[v] == 0:
                    tried += 1
                    if draws.edge(r, e) < beta and v not in new:
                        new[v] = u
        fed = set()
        for v, sharer in ref.shown(feeds, r, before):
            if draws.agent(r, v) < min(1.0, beta * feed_weight) and v not in new:
                new[v] = sharer
                fed.add(v)
        for v in new:
            state[v] = 1
        trace.add(state, new, fed)
        r += 1
        if not new and (tried == 0 or beta == 0):
            break
    return trace


def ref_seis_sirs(
    g: ref.RefGraph,
    seeds,
    draws: ref.Draws,
    *,
    kind: str,
    beta: float,
    gamma: float,
    sigma: float = 0.0,
    eta: float = 0.0,
    feed_weight: float = 1.0,
    feeds: ref.Feeds | None = None,
    max_rounds: int = 10_000,
) -> ref.Trace:
    """SEIS (S 0, E 1, I 2) or SIRS (S 0, I 1, R 2): infection, onset (SEIS), recovery, waning (SIRS),
    then the feed; each judged on the states at the start of the round."""
    seis = kind == "seis"
    S, E, I, R = (0, 1, 2, -1) if seis else (0, -1, 1, 2)
    caught = E if seis else I
    state = [S] * g.n
    for s in seeds:
        state[s] = I
    ever = set(seeds)
    trace = ref.Trace()
    r = 0
    while r < max_rounds and any(x == I or (seis and x == E) for x in state):
        before = list(state)
        new: dict[int, int] = {}
        for u in range(g.n):
            if before[u] == I:
                for v, _, e in g.out[u]:
                    if before[v] == S and draws.edge(r, e) < beta and v not in new:
                        new[v] = u
        for v in new:
            state[v] = caught
        for v in range(g.n):
            if seis and before[v] == E and draws.agent(r, v) < sigma:
                state[v] = I
            if before[v] == I and draws.agent(r, v) < gamma:
                state[v] = S if seis else R
            if not seis and before[v] == R and draws.agent(r, v) < eta:
                state[v] = S
        fed = set()
        for v, sharer in ref.shown(feeds, r, before):
            if draws.agent(r, v) < min(1.0, beta * feed_weight) and v not in new:
                new[v] = sharer
                fed.add(v)
                state[v] = caught
        first = {v: u for v, u in new.items() if v not in ever}
        ever.update(first)
        trace.add(state, first, fed)
        r += 1
    return trace


def ref_swir(
    g: ref.RefGraph,
    seeds,
    draws: ref.Draws,
    *,
    kappa: float,
    mu: float,
    nu: float,
    feed_weight: float = 1.0,
    feeds: ref.Feeds | None = None,
    max_rounds: int = 10_000,
) -> ref.Trace:
    """SWIR (S 0, W 1, I 2, R 3): each follower takes its contacts one by one in sender order, then the
    round's infectious agents are removed, then one more contact per feed exposure."""
    S, W, I, R = 0, 1, 2, 3
    state = [S] * g.n
    for s in seeds:
        state[s] = I
    trace = ref.Trace()
    r = 0

    def contact(v: int, u: int, x: float, k: float, m: float, n_: float) -> bool:
        if state[v] == S:
            if x < k:
                state[v] = I
                return True
            if x < k + (1.0 - k) * m:
                state[v] = W
        elif state[v] == W and x < n_:
            state[v] = I
            return True
        return False

    while r < max_rounds and any(x == I for x in state):
        before = list(state)
        new: dict[int, int] = {}
        for u in range(g.n):
            if before[u] == I:
                for v, _, e in g.out[u]:
                    if before[v] in (S, W) and contact(v, u, draws.edge(r, e), kappa, mu, nu):
                        new[v] = u
        for u in range(g.n):
            if before[u] == I:
                state[u] = R
        fed = set()
        pk, pm, pn = (min(1.0, p * feed_weight) for p in (kappa, mu, nu))
        for v, sharer in sorted((feeds or {}).get(r, {}).items()):
            if before[v] in (S, W) and contact(v, sharer, draws.agent(r, v), pk, pm, pn):
                new[v] = sharer
                fed.add(v)
        trace.add(state, new, fed)
        r += 1
    return trace


def ref_adaptive(
    g: ref.RefGraph,
    seeds,
    draws: ref.Draws,
    *,
    beta: float,
    gamma: float,
    w: float,
    feed_weight: float = 1.0,
    feeds: ref.Feeds | None = None,
    max_rounds: int = 10_000,
) -> tuple[ref.Trace, list[list[tuple[int, int]]]]:
    """Adaptive SIS on an edge set it keeps itself (edge ids: ranks in (source, follower) order).
    Returns the trace and the sorted edge list after each round."""
    edges = sorted((u, v) for u in range(g.n) for v, _, _ in g.out[u])
    state = [0] * g.n
    for s in seeds:
        state[s] = 1
    ever = set(seeds)
    trace = ref.Trace()
    graphs = []
    r = 0
    while r < max_rounds and any(x == 1 for x in state):
        before = list(state)
        # Infection along S-I links, in gather order (sender, then follower, ascending).
        links = [(u, v, e) for e, (u, v) in enumerate(edges) if before[u] == 1 and before[v] == 0]
        new: dict[int, int] = {}
        for u, v, e in links:
            if draws.edge(r, e) < beta and v not in new:
                new[v] = u
        for v in new:
            state[v] = 1
        for u in range(g.n):
            if before[u] == 1 and draws.agent(r, u) < gamma:
                state[u] = 0
        # Rewiring by followers still susceptible.
        removed, added = [], []
        if w > 0 and beta < 1:
            susceptible = [a for a in range(g.n) if before[a] == 0]
            mine: dict[int, list[tuple[int, float]]] = {}
            for u, v, e in links:
                x = draws.edge(r, e)
                if v not in new and x < beta + (1.0 - beta) * w:
                    mine.setdefault(v, []).append((u, x))
            for v in sorted(mine):
                follows = {a for a, b in edges if b == v}
                picked: list[int] = []
                for u, x in sorted(mine[v]):
                    candidates = [a for a in susceptible if a != v and a not in follows and a not in picked]
                    if not candidates:
                        continue
                    y = (x - beta) / ((1.0 - beta) * w)
                    k = min(math.floor(y * len(candidates)), len(candidates) - 1)
                    picked.append(candidates[k])
                    removed.append((u, v))
                    added.append((candidates[k], v))
        fed = set()
        for v, sharer in ref.shown(feeds, r, before):
            if draws.agent(r, v) < min(1.0, beta * feed_weight) and v not in new:
                new[v] = sharer
                fed.add(v)
                state[v] = 1
        edges = sorted((set(edges) - set(removed)) | set(added))
        graphs.append(edges)
        first = {v: u for v, u in new.items() if v not in ever}
        ever.update(first)
        trace.add(state, first, fed)
        r += 1
    return trace, graphs


# -- 1. coupled randomness -------------------------------------------------------------------------

SWIR = {"kappa": 0.15, "mu": 0.5, "nu": 0.6}
COUPLED = {
    "si": ({"beta": 0.1}, 0.01, None, lambda g, s, d, f: ref_si(g, s, d, beta=0.1, feeds=f)),
    "seis": (
        {"beta": 0.2, "sigma": 0.4, "gamma": 0.3},
        0.01,
        40,
        lambda g, s, d, f: ref_seis_sirs(g, s, d, kind="seis", beta=0.2, sigma=0.4, gamma=0.3, feeds=f, max_rounds=40),
    ),
    "sirs": (
        {"beta": 0.2, "gamma": 0.3, "eta": 0.2},
        0.01,
        40,
        lambda g, s, d, f: ref_seis_sirs(g, s, d, kind="sirs", beta=0.2, gamma=0.3, eta=0.2, feeds=f, max_rounds=40),
    ),
    "swir": (SWIR, 0.02, None, lambda g, s, d, f: ref_swir(g, s, d, **SWIR, feeds=f)),
}


@pytest.mark.parametrize("with_feeds", [False, True], ids=["graph", "feeds"])
@pytest.mark.parametrize("world_name", ["directed", "community"])
@pytest.mark.parametrize("name", list(COUPLED))
def test_fast_model_matches_its_slow_reference_round_by_round(name, world_name, with_feeds, request):
    """Reference: a slow per-agent oracle (above) fed the same pre-drawn numbers; states, first
    adoptions with their sources and feed adoptions must be identical in every round."""
    world = request.getfixturevalue(world_name)
    params, share, max_rounds, reference = COUPLED[name]
    seeds = seeds_of(world, share)
    draws = ref.Draws(world.n, world.num_edges, seed=17)
    feeds = random_feeds(world.n) if with_feeds else None
    fast = run_rounds(world, name, params, seeds, draws=draws, feeds=feeds, max_rounds=max_rounds or 10_000)
    trace = reference(ref.RefGraph.from_world(world), seeds, draws, feeds)
    assert_same_trace(fast, trace)
    assert fast.rounds >= 5 and fast.session.reached >= len(seeds) + 50  # not a vacuous comparison
    if with_feeds:
        assert sum(len(f) for f in fast.feed) >= 3
    if max_rounds is None:
        assert fast.session.status == "completed"
    # All of the model's randomness came through the two hooks: the session's generator is untouched.
    untouched = world_rng(world.seed, 100, fast.session.seed, fast.session.id)
    assert fast.session.rng.bit_generator.state == untouched.bit_generator.state


def test_swir_reference_comparison_exercises_every_transition(directed):
    """The SWIR comparison above is only worth something if agents were weakened, infected from W, and
    infected by a second contact in the very round of their weakening."""
    seeds = seeds_of(directed, 0.02)
    draws = ref.Draws(directed.n, directed.num_edges, seed=17)
    run = run_rounds(directed, "swir", SWIR, seeds, draws=draws)
    states = np.stack(run.states)
    weakened_then_infected = ((states[:-1] == 1) & (states[1:] == 2)).any(axis=0)
    same_round = ((states[:-1] == 0) & (states[1:] == 2)).sum()
    assert weakened_then_infected.sum() >= 20 and same_round >= 50
    assert (states[-1] == 1).sum() >= 20  # weakened agents left over at the end


@pytest.mark.parametrize("with_feeds", [False, True], ids=["graph", "feeds"])
def test_adaptive_sis_matches_its_slow_reference_with_the_graph_round_by_round(with_feeds):
    """Reference: a slow per-agent oracle that keeps its own edge set, fed the same pre-drawn numbers:
    identical states, adoptions and sources, and the identical graph after every round."""
    world = directed_world(600, 5.0, seed=4)
    seeds = seeds_of(world, 0.02)
    params = {"beta": 0.15, "gamma": 0.2, "w": 0.3}
    draws = ref.Draws(world.n, world.num_edges, seed=3)
    feeds = random_feeds(world.n, per_round=20) if with_feeds else None
    g = ref.RefGraph.from_world(world)
    fast = run_rounds(world, "adaptive-sis", params, seeds, draws=draws, feeds=feeds, max_rounds=25)
    trace, graphs = ref_adaptive(g, seeds, draws, **params, feeds=feeds, max_rounds=25)
    assert_same_trace(fast, trace)
    n = world.n
    for r, edges in enumerate(graphs):
        expected = np.array([u * n + v for u, v in edges], dtype=np.int64)
        assert np.array_equal(fast.edges[r + 1], expected), f"round {r + 1}: the graphs differ"
    assert fast.session.edges_removed == fast.session.edges_added >= 100
    assert fast.rounds == 25 and fast.session.reached >= len(seeds) + 50


def test_cross_checks_with_the_epidemic_models(directed):
    """Same numbers, other code: sirs with eta = 0 is sir, si is sir with gamma = 0 (until si ends),
    and adaptive-sis with w = 0 is sis — the latter even on the session's own generator."""
    seeds = seeds_of(directed, 0.01)

    def go(name, params, draws=True, rounds=40):
        d = ref.Draws(directed.n, directed.num_edges, seed=9) if draws else None
        return run_rounds(directed, name, params, seeds, draws=d, seed=4, max_rounds=rounds)

    sirs, sir = go("sirs", {"beta": 0.2, "gamma": 0.3, "eta": 0.0}), go("sir", {"beta": 0.2, "gamma": 0.3})
    assert sirs.adopted == sir.adopted and all(np.array_equal(a, b) for a, b in zip(sirs.states, sir.states))
    si, sir0 = go("si", {"beta": 0.1}, rounds=1000), go("sir", {"beta": 0.1, "gamma": 0.0}, rounds=1000)
    assert si.session.status == "completed" and si.rounds < sir0.rounds == 1000
    assert si.adopted == sir0.adopted[: si.rounds] and all(np.array_equal(a, b) for a, b in zip(si.states, sir0.states))
    adaptive, sis = (
        go("adaptive-sis", {"beta": 0.1, "gamma": 0.2, "w": 0.0}, draws=False),
        go("sis", {"beta": 0.1, "gamma": 0.2}, draws=False),
    )
    assert adaptive.rounds == sis.rounds == 40 and adaptive.session.reached > 100
    assert all(np.array_equal(a, b) for a, b in zip(adaptive.states, sis.states))


# -- 2. exact values -------------------------------------------------------------------------------


def test_si_on_a_chain_hand_traced_and_its_end():
    """beta = 1 on 0 -> 1 -> 2: one agent a round, then one quiet round, and the session ends."""
    world = tiny_world(3, [(0, 1), (1, 2)])
    run = run_rounds(world, "si", {"beta": 1.0})
    assert [s.tolist() for s in run.states] == [[1, 0, 0], [1, 1, 0], [1, 1, 1], [1, 1, 1]]
    assert run.adopted == [{1: 0}, {2: 1}, {}] and run.session.status == "completed"
    stuck = run_rounds(world, "si", {"beta": 0.0})
    assert stuck.rounds == 1 and stuck.session.status == "completed" and stuck.session.reached == 1


def test_si_does_not_end_on_a_round_whose_only_infection_came_through_a_feed():
    """0 -> 1 and 2 -> 3, seed 0, beta 1. Round 2 tries no susceptible follower, but the feed infects
    agent 2, who has a susceptible follower: the session goes on, and ends after the quiet round 4."""
    world = tiny_world(4, [(0, 1), (2, 3)])
    run = run_rounds(world, "si", {"beta": 1.0}, feeds={1: {2: 0}})
    assert run.adopted == [{1: 0}, {2: 0}, {3: 2}, {}] and run.feed == [set(), {2}, set(), set()]
    assert run.session.status == "completed"


def test_si_arrival_times_on_a_chain_are_sums_of_geometric_waits():
    """Reference: closed form. 0 -> 1 -> 2, seed 0: agent 1 is infected in round G1, agent 2 in round
    G1 + G2, with G geometric (success beta) on 1, 2, ...: means 1/beta and 2/beta."""
    beta = 0.3
    copies = 20_000
    world = replicated_world(3, [(0, 1), (1, 2)], copies)
    run = run_rounds(world, "si", {"beta": beta}, np.arange(copies) * 3, seed=2, keep_states=False)
    at = run.session.adopted_at.reshape(copies, 3)
    assert run.session.status == "completed" and np.all(at >= 0)
    assert_mean(at[:, 1], 1 / beta, "si arrival at agent 1")
    assert_mean(at[:, 2], 2 / beta, "si arrival at agent 2")


def test_si_reaches_exactly_the_seeds_out_component(directed):
    """Reference: a known result — SI with beta > 0 ends with every agent reachable from the seeds
    along follower edges infected, and nobody else."""
    seeds = seeds_of(directed, 0.003, seed=4)
    run = run_rounds(directed, "si", {"beta": 0.3}, seeds, keep_states=False)
    g = directed.graph
    seen, stack = set(seeds), list(seeds)
    while stack:
        u = stack.pop()
        for v in g.followers(u).tolist():
            if v not in seen:
                seen.add(v)
                stack.append(v)
    assert run.session.status == "completed"
    assert set(np.flatnonzero(run.session.adopted_at >= 0).tolist()) == seen
    assert len(seeds) * 50 < len(seen) < directed.n


def _pair_chain(step) -> tuple[list[tuple[int, int]], np.ndarray]:
    """The Markov chain of a mutual pair 0 <-> 1: ``step(a, b)`` gives {next state of a: probability}
    given a's and b's states at the start of the round; the two agents move independently."""
    states = [(a, b) for a in range(3) for b in range(3)]
    p = np.zeros((9, 9))
    for i, (a, b) in enumerate(states):
        for na, pa in step(a, b).items():
            for nb, pb in step(b, a).items():
                p[i, states.index((na, nb))] += pa * pb
    return states, p


def _expected_rounds_to(states, p, alive, start) -> float:
    """Expected rounds until the chain leaves the states where ``alive`` holds, from ``start``."""
    live = [i for i, s in enumerate(states) if alive(s)]
    q = p[np.ix_(live, live)]
    t = np.linalg.solve(np.eye(len(live)) - q, np.ones(len(live)))
    return float(t[live.index(states.index(start))])


@pytest.mark.parametrize("name", ["seis", "sirs"])
def test_extinction_time_on_a_mutual_pair_matches_its_markov_chain(name):
    """Reference: exact Markov chain. 0 <-> 1, seed 0 infectious. Each round every agent moves on its
    own given the start-of-round states (SEIS: S -> E with beta if the other is I, E -> I with sigma,
    I -> S with gamma; SIRS: S -> I with beta if the other is I, I -> R with gamma, R -> S with eta).
    The expected number of rounds until nobody is infectious (SEIS: nor exposed) solves a 9-state
    chain; so does, for SIRS, the chance that agent 1 is ever infected (absorbing with a flag)."""
    beta, gamma, sigma, eta = 0.4, 0.3, 0.5, 0.35
    if name == "seis":  # S 0, E 1, I 2

        def step(a, b):
            if a == 0:
                return {1: beta, 0: 1 - beta} if b == 2 else {0: 1.0}
            if a == 1:
                return {2: sigma, 1: 1 - sigma}
            return {0: gamma, 2: 1 - gamma}

        params, start, alive = {"beta": beta, "sigma": sigma, "gamma": gamma}, (2, 0), lambda s: 1 in s or 2 in s
    else:  # S 0, I 1, R 2

        def step(a, b):
            if a == 0:
                return {1: beta, 0: 1 - beta} if b == 1 else {0: 1.0}
            if a == 1:
                return {2: gamma, 1: 1 - gamma}
            return {0: eta, 2: 1 - eta}

        params, start, alive = {"beta": beta, "gamma": gamma, "eta": eta}, (1, 0), lambda s: 1 in s
    states, p = _pair_chain(step)
    exact = _expected_rounds_to(states, p, alive, start)
    copies = 20_000
    world = replicated_world(2, [(0, 1), (1, 0)], copies)
    run = run_rounds(world, name, params, np.arange(copies) * 2, seed=5)
    infectious = 2 if name == "seis" else 1
    live = np.stack(
        [
            ((s.reshape(copies, 2) == infectious) | ((s.reshape(copies, 2) == 1) if name == "seis" else False)).any(
                axis=1
            )
            for s in run.states
        ]
    )
    assert not live[-1].any() and run.session.status == "completed"
    assert_mean(np.argmin(live, axis=0), exact, f"{name} extinction round")
    # Agent 1 is ever infected iff a transmission happens before 0 recovers: the SIR transmissibility.
    reach = (run.session.adopted_at.reshape(copies, 2) >= 0).sum(axis=1)
    assert_mean(reach, 1 + beta / (1 - (1 - beta) * (1 - gamma)), f"{name} ever infected")


def test_swir_two_contacts_in_one_round_and_over_two_rounds_match_exact_values():
    """Reference: closed forms of the docstring's rule (kappa 0.2, mu 0.6, nu 0.7).

    Seeds 0 and 1 both follow-reach agent 2 (0 -> 2, 1 -> 2): in one round 2 is infected with
    kappa + (1 - kappa) mu nu + (1 - kappa)(1 - mu) kappa — weakened by the first contact and infected
    by the second counts (a synchronous rule would give 1 - (1 - kappa)^2 = 0.36 instead of 0.488).

    Seed 0 with 0 -> 1, 0 -> 2, 1 -> 2: agent 1 is infected in round 1 with kappa; agent 2 directly with
    kappa, else in round 2 by agent 1 (if infected) from W with nu or from S with kappa. Agent 2 ends
    weakened when W after round 1 and not infected then, or S after round 1 and weakened by agent 1."""
    kappa, mu, nu = 0.2, 0.6, 0.7
    params = {"kappa": kappa, "mu": mu, "nu": nu}
    copies = 20_000
    both = replicated_world(3, [(0, 2), (1, 2)], copies)
    seeds = np.sort(np.concatenate([np.arange(copies) * 3, np.arange(copies) * 3 + 1]))
    run = run_rounds(both, "swir", params, seeds, seed=11, keep_states=False)
    infected = run.session.adopted_at[2::3] >= 0
    assert_mean(infected, kappa + (1 - kappa) * mu * nu + (1 - kappa) * (1 - mu) * kappa, "swir two contacts")
    assert np.all(run.session.adopted_at[2::3][infected] == 1)

    chain = replicated_world(3, [(0, 1), (0, 2), (1, 2)], copies)
    run = run_rounds(chain, "swir", params, np.arange(copies) * 3, seed=12, keep_states=False)
    p2 = kappa + kappa * ((1 - kappa) * mu * nu + (1 - kappa) * (1 - mu) * kappa)
    reach = (run.session.adopted_at.reshape(copies, 3) >= 0).sum(axis=1)
    assert_mean(reach, 1 + kappa + p2, "swir reach")
    weak = run.session.state[2::3] == 1
    p_weak = (1 - kappa) * mu * (1 - kappa * nu) + (1 - kappa) * (1 - mu) * kappa * (1 - kappa) * mu
    assert_mean(weak, p_weak, "swir left weakened")
    assert run.session.status == "completed" and not np.any(run.session.state == 2)


def test_adaptive_sis_rewiring_hand_traced():
    """Seed 0 infectious. Agent 1 follows 0 and 3; agent 2 follows 0; 4 and 5 follow nobody.
    Link 0 -> 1 gets x = 0.1 + 0.9 * 0.5 * 0.5 (beta 0.1, w 0.5: rewired, y = 0.5); link 0 -> 2 gets
    x = 0.05 (infects). Agent 1's candidates: susceptible {1, 2, 3, 4, 5} less itself and its followee
    3 -> {2, 4, 5}; floor(0.5 * 3) = 1 -> agent 4. Agent 2 is infected, so it never rewires."""
    world = tiny_world(6, [(0, 1), (0, 2), (3, 1)])
    draws = ref.Draws(6, 3)
    draws.fixed_edge = np.array([0.1 + 0.9 * 0.5 * 0.5, 0.05, 0.99])
    draws.fixed_agent = np.full(6, 0.99)  # nobody recovers
    run = run_rounds(world, "adaptive-sis", {"beta": 0.1, "gamma": 0.5, "w": 0.5}, draws=draws, max_rounds=1)
    assert run.states[1].tolist() == [1, 0, 1, 0, 0, 0] and run.adopted == [{2: 0}]
    n = 6
    assert run.edges[1].tolist() == sorted([0 * n + 2, 3 * n + 1, 4 * n + 1])
    # Just below the rewiring bound: kept. Just above it... also kept (no rewiring).
    for x, rewired in ((0.1 + 0.9 * 0.5 - 1e-9, True), (0.1 + 0.9 * 0.5, False)):
        world = tiny_world(6, [(0, 1), (0, 2), (3, 1)])
        draws.fixed_edge = np.array([x, 0.05, 0.99])
        run = run_rounds(world, "adaptive-sis", {"beta": 0.1, "gamma": 0.5, "w": 0.5}, draws=draws, max_rounds=1)
        assert (0 * n + 1 not in run.edges[1].tolist()) == rewired
        if rewired:  # y just below 1: the last candidate, agent 5
            assert 5 * n + 1 in run.edges[1].tolist()
    # No candidate left (every other agent infectious or followed): the link is kept.
    world = tiny_world(3, [(0, 1), (2, 1)])
    draws = ref.Draws(3, 2)
    draws.fixed_edge = np.array([0.2, 0.99])
    draws.fixed_agent = np.full(3, 0.99)
    run = run_rounds(world, "adaptive-sis", {"beta": 0.1, "w": 0.5}, draws=draws, max_rounds=1)
    assert run.edges[1].tolist() == [0 * 3 + 1, 2 * 3 + 1] and run.session.edges_removed == 0


def test_adaptive_sis_rewires_with_probability_w_to_a_uniform_susceptible_agent():
    """Reference: closed form. Copies of 0 -> 1 plus an unlinked agent 2, seed 0 of each copy, one round:
    link 0 -> 1 transmits with beta and, when it does not, is rewired with w: P = (1 - beta) w. The new
    followee is uniform over the susceptible agents other than 1, so the share of picks that are an
    agent 2 of some copy is (copies) / (susceptible - 1) — agents 1 infected in the round still count,
    being susceptible at its start."""
    beta, w = 0.2, 0.4
    copies = 20_000
    world = replicated_world(3, [(0, 1)], copies)
    run = run_rounds(
        world, "adaptive-sis", {"beta": beta, "gamma": 0.0, "w": w}, np.arange(copies) * 3, seed=8, max_rounds=1
    )
    n = world.n
    keys = run.edges[1]
    still = np.isin(np.arange(copies, dtype=np.int64) * 3 * n + np.arange(copies) * 3 + 1, keys)
    assert_mean(~still, (1 - beta) * w, "adaptive-sis rewired share")
    _, result = run.results[0]
    new, follower = result.add_edges
    assert new.size == int((~still).sum()) and np.all(new % 3 != 0) and np.all(new != follower)
    assert_mean(new % 3 == 2, copies / (2 * copies - 1), "adaptive-sis pick among agents 2")


# -- 3. known results -----------------------------------------------------------------------------


def test_adaptive_sis_keeps_the_edge_count_and_rewires_towards_susceptible_agents():
    """Every rewiring replaces an edge from an agent infectious at the start of the round to a
    susceptible follower with an edge to the same follower from an agent susceptible then; the
    graph keeps its number of edges (no duplicate, no lost edge) after every merge."""
    world = synthetic_world("community", 1500, avg_degree=6, seed=3)
    edges = world.num_edges
    seeds = seeds_of(world, 0.02)
    run = run_rounds(world, "adaptive-sis", {"beta": 0.2, "gamma": 0.2, "w": 0.3}, seeds, seed=1, max_rounds=30)
    total = 0
    for (before, result), keys in zip(run.results, run.edges[1:]):
        assert keys.size == edges and np.all(keys[1:] > keys[:-1])  # count kept, no duplicate
        if result.add_edges is None:
            continue
        (old, follower), (new, follower2) = result.remove_edges, result.add_edges
        assert np.array_equal(follower, follower2)
        assert np.all(before[old] == 1) and np.all(before[follower] == 0) and np.all(before[new] == 0)
        assert np.all(np.isin(new.astype(np.int64) * world.n + follower, keys))
        assert not np.any(np.isin(old.astype(np.int64) * world.n + follower, keys))
        total += new.size
    assert total == run.session.edges_added == run.session.edges_removed > 500


def test_rewiring_raises_the_epidemic_threshold():
    """Reference: the qualitative result of Gross, Dommar D'Lima and Blasius (2006). On a random
    follower graph with mean degree 10, beta = 0.06 and gamma = 0.2 (beta <k> = 0.6 > gamma), adaptive
    SIS with w = 0 (which is SIS: see the cross-checks) stays endemic for 150 rounds; with w = 0.9
    (gamma + w > beta <k>) the infection dies out, in each of three runs."""
    for seed in (1, 2, 3):
        world = directed_world(3000, 10.0, seed=seed)
        seeds = seeds_of(world, 0.05, seed=seed)
        plain = run_rounds(
            world,
            "adaptive-sis",
            {"beta": 0.06, "gamma": 0.2, "w": 0.0},
            seeds,
            seed=seed,
            max_rounds=150,
            keep_states=False,
        )
        assert plain.session.status == "running" and np.mean(plain.session.state == 1) > 0.2
        adaptive = run_rounds(
            world,
            "adaptive-sis",
            {"beta": 0.06, "gamma": 0.2, "w": 0.9},
            seeds,
            seed=seed,
            max_rounds=150,
            keep_states=False,
        )
        assert adaptive.session.status == "completed" and not np.any(adaptive.session.state == 1)
        assert world.num_edges == plain.edges[0].size  # still the same number of edges


# -- 4. the contract -------------------------------------------------------------------------------


def test_models_are_registered_and_validate_their_parameters():
    for name in MODELS:
        info = REGISTRY.entries[name]
        assert info.source == "builtin" and info.kind == "model" and info.error is None, info.error
        cls = info.cls
        assert cls.description and set(cls.schema()) == set(cls.params) and cls.__doc__
        assert cls.seed_state in cls.adopted_states and cls.seed_state in cls.transmitting_states
        assert all(len(s) == 1 and s.isupper() for s in cls.states) and cls.states[0] == "S"
        cls()  # the defaults are valid
    bad = [
        ("si", {"beta": 1.5}, "beta"),
        ("seis", {"sigma": -0.1}, "sigma"),
        ("sirs", {"eta": 2}, "eta"),
        ("sirs", {"xi": 0.1}, "xi"),
        ("swir", {"kappa": "often"}, "kappa"),
        ("swir", {"nu": 1.01}, "nu"),
        ("adaptive-sis", {"w": 1.1}, "w"),
        ("adaptive-sis", {"gamma": float("nan")}, "gamma"),
    ]
    for name, params, word in bad:
        with pytest.raises(BadParameterError, match=word):
            REGISTRY.model(name)(**params)
    assert REGISTRY.model("sirs")(eta="0.25").p["eta"] == 0.25


def test_each_model_ends_where_its_docstring_says():
    """SEIS ends when nobody is exposed or infectious, SIRS and adaptive-sis when nobody is infectious
    (recovered agents may be left), SWIR when nobody is infectious (weakened agents may be left)."""
    chain = tiny_world(3, [(0, 1), (1, 2)])
    seis = run_rounds(chain, "seis", {"beta": 1.0, "sigma": 1.0, "gamma": 1.0})
    assert [s.tolist() for s in seis.states] == [[2, 0, 0], [0, 1, 0], [0, 2, 0], [0, 0, 1], [0, 0, 2], [0, 0, 0]]
    assert seis.session.status == "completed" and seis.session.reached == 3
    sirs = run_rounds(chain, "sirs", {"beta": 1.0, "gamma": 1.0, "eta": 0.0})
    assert [s.tolist() for s in sirs.states] == [[1, 0, 0], [2, 1, 0], [2, 2, 1], [2, 2, 2]]
    assert sirs.session.status == "completed"
    swir = run_rounds(chain, "swir", {"kappa": 0.0, "mu": 1.0, "nu": 1.0})
    assert [s.tolist() for s in swir.states] == [[2, 0, 0], [3, 1, 0]] and swir.session.status == "completed"
    world = synthetic_world("ends", 1500, avg_degree=6, seed=3)  # rewired below: not the shared fixture
    seeds = seeds_of(world, 0.02)
    gone = run_rounds(world, "adaptive-sis", {"beta": 0.0, "gamma": 0.5, "w": 0.5}, seeds, keep_states=False)
    assert gone.session.status == "completed" and gone.session.reached == len(seeds) and gone.rounds < 40


@pytest.mark.parametrize(
    "name, params",
    [
        ("si", {"beta": 0.1}),
        ("seis", {"beta": 0.15, "sigma": 0.4, "gamma": 0.3}),
        ("sirs", {"beta": 0.15, "gamma": 0.3, "eta": 0.2}),
        ("swir", SWIR),
        ("adaptive-sis", {"beta": 0.15, "gamma": 0.2, "w": 0.3}),
    ],
)
async def test_a_snapshot_mid_run_continues_exactly(name, params, tmp_path):
    """Saved after 4 ticks and reloaded (the model is made again, ``start`` is not called), a run goes
    on exactly as the original: states, adoptions, stored lists and, for adaptive-sis, the graph."""
    world = synthetic_world("snap", 1500, avg_degree=6, seed=8)
    sim = Simulation(world)
    sim.inject("m", topics=["politics"], seeds="random:15", model=name, params=params, seed=2)
    await sim.run(ticks=4)
    assert sim.sessions[0].status == "running"
    path = str(tmp_path / "mid.snap")
    save_snapshot(world, path)
    await sim.run(until_done=True, max_ticks=40)
    resumed = load_snapshot(path)
    await Simulation(resumed).run(until_done=True, max_ticks=40)
    s, r = world.sessions[0], resumed.sessions[0]
    assert s.status == r.status and s.round == r.round > 10 and s.reached == r.reached > 100
    for key, value in s.arrays().items():
        assert np.array_equal(value, r.arrays()[key]), key
    assert np.array_equal(world.graph.out_indices, resumed.graph.out_indices)
    assert np.array_equal(world.graph.out_indptr, resumed.graph.out_indptr)
    if name == "adaptive-sis":
        assert s.edges_removed == r.edges_removed > 0


@pytest.mark.slow
def test_the_plugin_file_passes_the_conformance_checker():
    report = check_plugin(str(PLUGIN_FILE), agents=20000)
    assert sorted(report.models) == sorted(MODELS)
    assert report.ok, [c for c in report.checks if not c["ok"]]


async def test_agora_check_passes_after_an_adaptive_run_from_the_cli(tmp_path):
    """The graph a model rewires is saved consistently: relationships rows, arrays and events agree."""
    world = str(tmp_path / "w.db")
    assert agora(tmp_path, "new", world, "--agents", "2000", "--seed", "7").returncode == 0
    run = agora(
        tmp_path,
        "run",
        world,
        "--until-done",
        "--max-ticks",
        "25",
        "--inject",
        "x",
        "--model",
        "adaptive-sis",
        "--param",
        "beta=0.1",
        "--param",
        "w=0.3",
        "--json",
    )
    assert run.returncode == 0, run.stderr
    check = agora(tmp_path, "check", world)
    assert check.returncode == 0, check.stdout + check.stderr
    from sim.store.worldfile import open_world

    w = await open_world(world)
    assert w.num_edges == 20_000 and w.sessions[0].edges_removed == w.sessions[0].edges_added > 100
