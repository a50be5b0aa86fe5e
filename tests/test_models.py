"""The built-in propagation models against their written semantics.

Four kinds of evidence, as ARCHITECTURE.md asks:

1. exact expectations on tiny hand-made graphs — hand-traced rounds with chosen random numbers, and
   exact expected spreads (enumeration, closed forms, small Markov chains) checked against the mean
   of many independent replicas: a world made of thousands of disjoint copies of the tiny graph, run
   as one session, so every copy is an independent sample;
2. coupled randomness: the fast model and the slow reference in ``model_reference.py`` get the same
   pre-drawn numbers (``StepContext.random_edges`` / ``random_agents`` patched to read the tables) and
   must produce identical states and adoptions, with identical sources, round by round;
3. invariants (compartments, progressiveness, one attempt per edge, the extremes of the parameters);
4. determinism through ``Simulation``, and continuation from a snapshot;
5. large Erdős–Rényi graphs against the percolation final-size relation.

Statistical tolerances: a replica mean is compared with its exact value within 4.5 standard errors
(the standard error from the replicas' own spread): a correct model fails that with probability below
1e-5, while each semantic slip the tests guard against (recovery before infection, a second attempt
per edge, fatigue not applied, ...) moves the mean by tens of standard errors. Every run is seeded, so
the outcome is reproducible anyway.
"""

from __future__ import annotations

import itertools
import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from unittest import mock

import model_reference as ref
import numpy as np
import pytest
from model_reference import directed_world

from sim.core.world import build_world, world_rng
from sim.engine.simulation import Simulation
from sim.errors import BadParameterError
from sim.model.context import StepContext
from sim.model.registry import Registry
from sim.model.session import PropagationSession
from sim.store.create import synthetic_world
from sim.store.snapshot import load_snapshot, save_snapshot

REGISTRY = Registry(entry_points=False, env=False)
MODELS = ("ic", "lt", "threshold", "sir", "sis", "seir", "viral", "diffusion", "hybrid")


# -- harness ---------------------------------------------------------------------------------------


@contextmanager
def coupled(draws: ref.Draws | None):
    """Make every StepContext draw from ``draws`` (per (round, edge), per (round, agent), start row)."""
    if draws is None:
        yield
        return

    def random_edges(ctx, edge_ids):
        ids = np.asarray(edge_ids, dtype=np.int64)
        draws.edge_calls.append((ctx.round, ids.copy()))
        return draws.edge_row(ctx.round)[ids]

    def random_agents(ctx, agents):
        a = np.asarray(agents, dtype=np.int64)
        return (draws.start_row() if draws.in_start else draws.agent_row(ctx.round))[a]

    with (
        mock.patch.object(StepContext, "random_edges", random_edges),
        mock.patch.object(StepContext, "random_agents", random_agents),
    ):
        yield


@dataclass
class Run:
    session: PropagationSession
    #: State after the start, then after each round.
    states: list[np.ndarray] = field(default_factory=list)
    #: Per round: {agent: source} of first adoptions.
    adopted: list[dict[int, int]] = field(default_factory=list)
    #: Per round: the first adoptions that came through a feed.
    feed: list[set[int]] = field(default_factory=list)
    attempts: list[int] = field(default_factory=list)

    @property
    def rounds(self) -> int:
        return len(self.adopted)


def run_model(
    world,
    name: str,
    params: dict | None = None,
    seeds=(0,),
    *,
    seed: int = 0,
    draws: ref.Draws | None = None,
    message: dict | None = None,
    max_rounds: int = 10_000,
    keep_states: bool = True,
    feeds: ref.Feeds | None = None,
) -> Run:
    """Start a session on ``world`` and advance it round by round until it is done (or ``max_rounds``).

    ``feeds`` (``{round: {agent: sharer}}``, rounds from 0) are handed to the session as the feed
    exposures of those rounds, as the simulation does when a content recommender runs."""
    model = REGISTRY.model(name)(**(params or {}))
    ids = ",".join(str(int(s)) for s in seeds)
    s = PropagationSession(
        id=1, message_id=1, model_name=name, params=model.p, seeds=f"ids:{ids}", message=message or {}, seed=seed
    )
    out = Run(s)
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
            result = s.advance(world, tick, feed=feed)
            assert s.status in ("running", "completed"), s.traceback
            new = np.flatnonzero(s.adopted_at == tick)
            out.adopted.append(dict(zip(new.tolist(), s.adopted_from[new].tolist())))
            out.feed.append(set(s.last_round["feed_adopted"].tolist()))
            out.attempts.append(int(result.attempts))
            if keep_states:
                out.states.append(s.state.copy())
    return out


def assert_same_trace(run: Run, trace: ref.Trace) -> None:
    assert run.rounds == len(trace.adopted), f"fast model ran {run.rounds} rounds, reference {len(trace.adopted)}"
    for r in range(run.rounds):
        expected = np.array(trace.states[r], dtype=np.int8)
        diff = np.flatnonzero(run.states[r + 1] != expected)
        assert diff.size == 0, f"round {r + 1}: states differ at agents {diff[:10].tolist()}"
        assert run.adopted[r] == trace.adopted[r], f"round {r + 1}: adoptions or their sources differ"
        assert run.feed[r] == trace.feed[r], f"round {r + 1}: feed adoptions differ"


def tiny_world(n: int, edges: list[tuple[int, int]], trust=None, seed: int = 0):
    src = np.array([a for a, _ in edges], dtype=np.int32)
    dst = np.array([b for _, b in edges], dtype=np.int32)
    t = np.ones(len(edges), dtype=np.float32) if trust is None else np.asarray(trust, dtype=np.float32)
    return build_world("tiny", seed, n, src, dst, trust=t)


def replicated_world(k: int, edges: list[tuple[int, int]], copies: int, trust=None):
    """``copies`` disjoint copies of a ``k``-agent graph (agent i of copy c is ``c * k + i``)."""
    src = np.array([a for a, _ in edges], dtype=np.int64)
    dst = np.array([b for _, b in edges], dtype=np.int64)
    off = (np.arange(copies, dtype=np.int64) * k)[:, None]
    t = np.ones(len(edges)) if trust is None else np.asarray(trust, dtype=np.float64)
    return build_world("replicas", 0, k * copies, (off + src).ravel(), (off + dst).ravel(), trust=np.tile(t, copies))


def assert_mean(samples: np.ndarray, exact: float, what: str) -> None:
    """The replicas' mean within 4.5 standard errors of the exact value (see the module docstring)."""
    samples = np.asarray(samples, dtype=np.float64)
    se = samples.std(ddof=1) / math.sqrt(samples.size)
    assert se > 0, f"{what}: no spread at all"
    assert abs(samples.mean() - exact) < 4.5 * se, f"{what}: mean {samples.mean():.4f}, exact {exact:.4f}, se {se:.4f}"


def out_component(world, seeds) -> set[int]:
    g = world.graph
    seen = set(int(s) for s in seeds)
    stack = list(seen)
    while stack:
        u = stack.pop()
        for v in g.followers(u).tolist():
            if v not in seen:
                seen.add(v)
                stack.append(v)
    return seen


def adopted_set(run: Run) -> set[int]:
    return set(np.flatnonzero(run.session.adopted_at >= 0).tolist())


# -- worlds -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def directed():
    """1,200 agents following about 5 random others each (5 % follow nobody); trust drawn by the world."""
    return directed_world(1200, 5.0, seed=11, nobody=0.05)


@pytest.fixture(scope="module")
def community():
    """1,500 agents on the undirected community generator (heavy-tailed degrees)."""
    return synthetic_world("community", 1500, avg_degree=6, seed=3)


TOPICS = 0b1011 | (1 << 20) | (1 << 41)


def seeds_of(world, share: float, seed: int = 1) -> list[int]:
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(world.n, size=max(1, int(world.n * share)), replace=False).tolist())


# -- registration --------------------------------------------------------------------------------


def test_every_model_is_registered_and_validates_its_parameters():
    for name in MODELS:
        info = REGISTRY.entries[name]
        assert info.source == "builtin" and info.kind == "model" and info.error is None
        cls = info.cls
        assert cls.description and set(cls.schema()) == set(cls.params)
        assert cls.seed_state in cls.adopted_states and cls.seed_state in cls.transmitting_states
        cls()  # the defaults are valid
    with pytest.raises(BadParameterError, match="weights"):
        REGISTRY.model("lt")(weights="random")
    with pytest.raises(BadParameterError, match="beta"):
        REGISTRY.model("sir")(beta=1.5)
    with pytest.raises(BadParameterError, match="mix"):
        REGISTRY.model("hybrid")(mix=-0.1)
    with pytest.raises(BadParameterError, match="threshold"):
        REGISTRY.model("threshold")(threshold="high")


# -- 2. coupled randomness against the slow reference ----------------------------------------------

VIRAL = {"p": 0.6, "topic_weight": 2.0, "influence_weight": 1.0, "fatigue_weight": 0.7}
COUPLED_CASES = {
    "ic": ({"p": 0.25}, 0.01, lambda g, s, d: ref.ic(g, s, d, p=0.25)),
    "ic-trust": ({"p": 0.4, "trust_weighted": True}, 0.01, lambda g, s, d: ref.ic(g, s, d, p=0.4, trust_weighted=True)),
    "lt": ({}, 0.05, lambda g, s, d: ref.lt(g, s, d)),
    "lt-trust": ({"weights": "trust"}, 0.05, lambda g, s, d: ref.lt(g, s, d, weights="trust")),
    "threshold": ({"threshold": 0.2}, 0.08, lambda g, s, d: ref.threshold(g, s, threshold=0.2)),
    "sir": (
        {"beta": 0.15, "gamma": 0.3},
        0.01,
        lambda g, s, d: ref.epidemic(g, s, d, kind="sir", beta=0.15, gamma=0.3),
    ),
    "sis": (
        {"beta": 0.15, "gamma": 0.3},
        0.01,
        lambda g, s, d: ref.epidemic(g, s, d, kind="sis", beta=0.15, gamma=0.3, max_rounds=40),
    ),
    "seir": (
        {"beta": 0.2, "sigma": 0.4, "gamma": 0.3},
        0.01,
        lambda g, s, d: ref.epidemic(g, s, d, kind="seir", beta=0.2, sigma=0.4, gamma=0.3),
    ),
    "viral": (VIRAL, 0.01, lambda g, s, d: ref.viral(g, s, d, topics=TOPICS, **VIRAL)),
    "diffusion": ({"rate": 0.15}, 0.01, lambda g, s, d: ref.diffusion(g, s, d, rate=0.15)),
    "hybrid": (
        {**VIRAL, "rate": 0.1, "mix": 0.4},
        0.01,
        lambda g, s, d: ref.hybrid(g, s, d, topics=TOPICS, mix=0.4, rate=0.1, **VIRAL),
    ),
}


@pytest.mark.parametrize("world_name", ["directed", "community"])
@pytest.mark.parametrize("case", list(COUPLED_CASES))
def test_fast_model_matches_the_reference_round_by_round(case, world_name, request):
    world = request.getfixturevalue(world_name)
    params, share, reference = COUPLED_CASES[case]
    name = case.split("-")[0]
    seeds = seeds_of(world, share)
    draws = ref.Draws(world.n, world.num_edges, seed=17)
    max_rounds = 40 if name == "sis" else 10_000  # SIS may never die out
    fast = run_model(world, name, params, seeds, draws=draws, message={"topics": TOPICS}, max_rounds=max_rounds)
    trace = reference(ref.RefGraph.from_world(world), seeds, draws)
    assert_same_trace(fast, trace)
    # Not a vacuous comparison: the message spread over several rounds.
    assert fast.rounds >= 3 and fast.session.reached >= len(seeds) + 20
    # All of the model's randomness came through the two hooks: the session's generator is untouched.
    untouched = world_rng(world.seed, 100, fast.session.seed, fast.session.id)
    assert fast.session.rng.bit_generator.state == untouched.bit_generator.state


def test_hybrid_is_viral_at_mix_0_and_diffusion_at_mix_1(community):
    seeds = seeds_of(community, 0.01)
    msg = {"topics": TOPICS}

    def go(name, params):
        draws = ref.Draws(community.n, community.num_edges, seed=5)
        return run_model(community, name, params, seeds, draws=draws, message=msg)

    viral, hybrid0 = go("viral", VIRAL), go("hybrid", {**VIRAL, "mix": 0.0, "rate": 0.3})
    assert viral.adopted == hybrid0.adopted and viral.session.reached > len(seeds) + 20
    diffusion, hybrid1 = go("diffusion", {"rate": 0.3}), go("hybrid", {**VIRAL, "mix": 1.0, "rate": 0.3})
    assert diffusion.adopted == hybrid1.adopted and diffusion.session.reached > len(seeds) + 20


# -- 1. exact expectations on tiny graphs ---------------------------------------------------------

# 0 -> 1, 0 -> 2, 1 -> 2, 1 -> 3, 2 -> 3; edge ids follow this (source, target) order.
DIAMOND = [(0, 1), (0, 2), (1, 2), (1, 3), (2, 3)]


def _reachable(n, edges, seeds):
    seen, stack = set(seeds), list(seeds)
    while stack:
        u = stack.pop()
        for a, b in edges:
            if a == u and b not in seen:
                seen.add(b)
                stack.append(b)
    return seen


def test_ic_final_set_is_the_live_edge_reach_for_every_edge_outcome():
    """All 32 outcomes of the five attempts: the fast model's final set is what the live edges reach."""
    world = tiny_world(4, DIAMOND)
    for live in itertools.product([False, True], repeat=len(DIAMOND)):
        draws = ref.Draws(4, len(DIAMOND))
        draws.fixed_edge = np.where(live, 0.0, 0.75)  # 0.0 < p succeeds, 0.75 >= p fails
        got = adopted_set(run_model(world, "ic", {"p": 0.5}, draws=draws))
        assert got == _reachable(4, [e for e, on in zip(DIAMOND, live) if on], {0}), live


def test_ic_mean_reach_on_replicas_matches_exact_enumeration():
    p = 0.3
    exact = sum(
        p ** sum(live)
        * (1 - p) ** (len(DIAMOND) - sum(live))
        * len(_reachable(4, [e for e, on in zip(DIAMOND, live) if on], {0}))
        for live in itertools.product([0, 1], repeat=len(DIAMOND))
    )
    copies = 20_000
    world = replicated_world(4, DIAMOND, copies)
    run = run_model(world, "ic", {"p": p}, np.arange(copies) * 4, seed=1, keep_states=False)
    reach = (run.session.adopted_at.reshape(copies, 4) >= 0).sum(axis=1)
    assert_mean(reach, exact, "ic reach")


def test_lt_rounds_on_a_hand_traced_graph():
    """0 -> 1, 0 -> 3, 1 -> 3, 2 -> 3, 3 -> 4; seed 0; agent 2 follows nobody.

    Thresholds theta = 1 - u: agent 1 0.7 (its one followee adopted: share 1), agent 3 0.45 (share 1/3
    after round 0, 2/3 once agent 1 has adopted), agent 4 exactly 1. With trust weights 0.5, 0.1, 0.4 on
    agent 3's in-edges from 0, 1, 2 its share is already 0.5 >= 0.45 in round 1."""
    edges = [(0, 1), (0, 3), (1, 3), (2, 3), (3, 4)]
    trust = [1.0, 0.5, 0.1, 0.4, 1.0]
    world = tiny_world(5, edges, trust)
    draws = ref.Draws(5, 5)
    draws.fixed_start = np.array([0.9, 0.3, 0.0, 0.55, 0.0])
    uniform = run_model(world, "lt", {"weights": "uniform"}, draws=draws)
    assert uniform.adopted == [{1: 0}, {3: 1}, {4: 3}, {}]
    trusted = run_model(world, "lt", {"weights": "trust"}, draws=draws)
    assert trusted.adopted == [{1: 0, 3: 0}, {4: 3}, {}]
    assert 2 not in adopted_set(uniform) | adopted_set(trusted)
    assert uniform.session.status == "completed" and trusted.session.status == "completed"


def _live_edge_mean_reach(k, in_weights, seeds):
    """Kempe-Kleinberg-Tardos: LT with uniform thresholds has the final-set law of the live-edge model
    in which every agent keeps at most one in-edge, edge u -> v with probability w_uv."""
    agents = [v for v in range(k) if v not in seeds]
    options = [in_weights[v] + [(None, 1.0 - sum(w for _, w in in_weights[v]))] for v in agents]
    mean = 0.0
    for pick in itertools.product(*options):
        prob = math.prod(w for _, w in pick)
        parent = {v: u for v, (u, _) in zip(agents, pick)}
        reached = len(seeds)
        for v in agents:
            seen, u = set(), v
            while u is not None and u not in seeds and u not in seen:
                seen.add(u)
                u = parent[u]
            reached += u in seeds
        mean += prob * reached
    return mean


@pytest.mark.parametrize("weights", ["uniform", "trust"])
def test_lt_mean_reach_matches_the_live_edge_enumeration(weights):
    edges = [(0, 1), (0, 2), (1, 2), (2, 1), (1, 3), (2, 3), (3, 4), (0, 4)]
    trust = [0.9, 0.3, 0.6, 0.5, 0.8, 0.2, 0.7, 0.35]
    incoming = {v: [(a, t) for (a, b), t in zip(edges, trust) if b == v] for v in range(5)}
    if weights == "uniform":
        in_weights = {v: [(u, 1.0 / len(lst)) for u, _ in lst] for v, lst in incoming.items()}
    else:
        in_weights = {v: [(u, t / sum(x for _, x in lst)) for u, t in lst] for v, lst in incoming.items()}
    exact = _live_edge_mean_reach(5, in_weights, {0})
    copies = 20_000
    world = replicated_world(5, edges, copies, trust)
    run = run_model(world, "lt", {"weights": weights}, np.arange(copies) * 5, seed=2, keep_states=False)
    reach = (run.session.adopted_at.reshape(copies, 5) >= 0).sum(axis=1)
    assert_mean(reach, exact, f"lt reach ({weights})")


def test_threshold_rounds_on_a_hand_traced_graph():
    """Seeds 0 and 1. Agent 2 follows 0, 1, 3, 4 (share 2/4); agent 3 follows 0 and 5 (1/2); agent 4
    follows 2 and 3; agent 6 follows 4; agent 5 follows nobody."""
    edges = [(0, 2), (1, 2), (3, 2), (4, 2), (0, 3), (5, 3), (2, 4), (3, 4), (4, 6)]
    world = tiny_world(7, edges)
    half = run_model(world, "threshold", {"threshold": 0.5}, seeds=(0, 1))
    assert half.adopted == [{2: 0, 3: 0}, {4: 2}, {6: 4}, {}]
    assert 5 not in adopted_set(half)
    strict = run_model(world, "threshold", {"threshold": 0.6}, seeds=(0, 1))
    assert strict.adopted == [{}] and adopted_set(strict) == {0, 1}
    # "Reaches" includes equality: one seeded followee of four is exactly 0.25.
    quarter = run_model(world, "threshold", {"threshold": 0.25}, seeds=(0,))
    assert quarter.adopted[0] == {2: 0, 3: 0}


def test_epidemic_order_within_a_round_on_a_chain():
    """beta = gamma = sigma = 1 on 0 -> 1 -> 2: an agent infects before it recovers, agents infected in
    a round transmit from the next, and exposed agents turn infectious a round after infection."""
    world = tiny_world(3, [(0, 1), (1, 2)])
    sir = run_model(world, "sir", {"beta": 1.0, "gamma": 1.0})
    assert [s.tolist() for s in sir.states] == [[1, 0, 0], [2, 1, 0], [2, 2, 1], [2, 2, 2]]
    assert sir.adopted == [{1: 0}, {2: 1}, {}]
    sis = run_model(world, "sis", {"beta": 1.0, "gamma": 1.0})
    assert [s.tolist() for s in sis.states] == [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]]
    assert sis.session.reached == 3
    seir = run_model(world, "seir", {"beta": 1.0, "sigma": 1.0, "gamma": 1.0})
    assert [s.tolist() for s in seir.states] == [[2, 0, 0], [3, 1, 0], [3, 2, 0], [3, 3, 1], [3, 3, 2], [3, 3, 3]]
    # SIS on a mutual pair: infected again as soon as it is susceptible; reached counts agents once.
    pair = run_model(tiny_world(2, [(0, 1), (1, 0)]), "sis", {"beta": 1.0, "gamma": 1.0}, max_rounds=6)
    assert [s.tolist() for s in pair.states] == [[1, 0], [0, 1], [1, 0], [0, 1], [1, 0], [0, 1], [1, 0]]
    assert pair.session.reached == 2 and pair.session.status == "running"


def transmissibility(beta, gamma):
    return beta / (1 - (1 - beta) * (1 - gamma))


def test_sir_and_seir_mean_reach_is_the_transmissibility_polynomial():
    """0 -> 1 -> 2 and 0 -> 3: each link passes the disease with probability T, so the expected reach
    is 1 + 2T + T^2 (linearity, whatever the correlation between 0's two links). The exposed stage
    delays SEIR but does not change T."""
    beta, gamma = 0.3, 0.4
    t = transmissibility(beta, gamma)
    copies = 20_000
    world = replicated_world(4, [(0, 1), (1, 2), (0, 3)], copies)
    seeds = np.arange(copies) * 4
    for name, params in (
        ("sir", {"beta": beta, "gamma": gamma}),
        ("seir", {"beta": beta, "gamma": gamma, "sigma": 0.35}),
    ):
        run = run_model(world, name, params, seeds, seed=3, keep_states=False)
        reach = (run.session.adopted_at.reshape(copies, 4) >= 0).sum(axis=1)
        assert_mean(reach, 1 + 2 * t + t * t, f"{name} reach")
        assert run.session.status == "completed"


def test_seir_onset_waits_a_geometric_time_after_infection():
    """beta = 1 on 0 -> 1: agent 1 is exposed in round 1 and turns infectious in round 1 + G with G
    geometric (success sigma) on 1, 2, ...: mean 1 + 1/sigma."""
    sigma = 0.25
    copies = 20_000
    world = replicated_world(2, [(0, 1)], copies)
    run = run_model(world, "seir", {"beta": 1.0, "sigma": sigma, "gamma": 0.5}, np.arange(copies) * 2, seed=4)
    states = np.stack(run.states)[:, 1::2]  # rounds x copies, agent 1 of each copy
    assert np.all(states[1] == 1)
    onset = np.argmax(states == 2, axis=0)
    assert np.all(states.max(axis=0) == 3)  # every copy's agent 1 went through I to R
    assert_mean(onset, 1 + 1 / sigma, "seir onset round")


def test_sis_extinction_time_on_a_mutual_pair_matches_its_markov_chain():
    """0 <-> 1, seed 0. From one infected (state 10) a round gives 11 with beta(1-gamma), 10 with
    (1-beta)(1-gamma), 01 with beta*gamma, extinction with (1-beta)gamma; from 11: 11 with (1-gamma)^2,
    one infected with 2 gamma (1-gamma), extinction with gamma^2. Expected rounds to extinction solve
    a = 1 + ((1-beta)(1-gamma) + beta*gamma) a + beta(1-gamma) b and b = 1 + 2 gamma(1-gamma) a + (1-gamma)^2 b."""
    beta, gamma = 0.3, 0.4
    m = np.array(
        [
            [1 - (1 - beta) * (1 - gamma) - beta * gamma, -beta * (1 - gamma)],
            [-2 * gamma * (1 - gamma), 1 - (1 - gamma) ** 2],
        ]
    )
    a, _ = np.linalg.solve(m, np.ones(2))
    copies = 20_000
    world = replicated_world(2, [(0, 1), (1, 0)], copies)
    run = run_model(world, "sis", {"beta": beta, "gamma": gamma}, np.arange(copies) * 2, seed=5)
    alive = np.stack([(s.reshape(copies, 2) == 1).any(axis=1) for s in run.states])
    assert not alive[-1].any() and run.session.status == "completed"
    extinction = np.argmin(alive, axis=0)
    assert_mean(extinction, a, "sis extinction round")
    reach = (run.session.adopted_at.reshape(copies, 2) >= 0).sum(axis=1)
    assert_mean(reach, 1 + transmissibility(beta, gamma), "sis ever infected")


def _viral_columns(world, k, interests, influence, susceptibility, reputation=None):
    """Set the columns viral reads for every copy of a ``k``-agent graph (reputation 0.5: neutral)."""
    copies = world.n // k
    world.columns["interests"][:] = np.tile(np.array(interests, dtype=np.uint64), copies)
    world.columns["influence"][:] = np.tile(np.array(influence, dtype=np.float32), copies)
    world.columns["susceptibility"][:] = np.tile(np.array(susceptibility, dtype=np.float32), copies)
    world.columns["reputation"][:] = np.tile(np.array(reputation or [0.5] * k, dtype=np.float32), copies)


def test_viral_probability_formula_and_fatigue_at_the_boundary():
    """0 -> 1, 0 -> 2, 1 -> 2; seed 0; message topics {0, 1, 2}; agent 2 interested in {0, 1, 5};
    agent 1 has reputation 0.75.

    Round 1: 0 -> 1 succeeds and 0 -> 2 fails (2 is now tired: one attempt). Round 2: 1 -> 2 has
    p = 0.6 * (1 + 1 * 2/3) * (1 + 1 * 0.5) * (1 + 2 * (0.75 - 0.5)) * 0.5 * 0.8 / (1 + 0.5 * 1) = 0.6
    (0.9 without fatigue, 0.4 without reputation)."""
    world = tiny_world(3, [(0, 1), (0, 2), (1, 2)], trust=[1.0, 1.0, 0.5])
    _viral_columns(world, 3, [0, 0, 0b100011], [0.0, 0.5, 0.0], [1.0, 1.0, 0.8], [0.5, 0.75, 0.5])
    params = {"p": 0.6, "topic_weight": 1.0, "influence_weight": 1.0, "fatigue_weight": 0.5, "reputation_weight": 2.0}
    msg = {"topics": 0b111}
    p12 = 0.6 * (1 + 2 / 3) * 1.5 * 1.5 * 0.5 * np.float32(0.8) / 1.5
    # 0.5 succeeds only with the reputation factor, 0.75 would succeed without fatigue.
    for u12, adopts in ((p12 * (1 - 1e-6), True), (p12 * (1 + 1e-6), False), (0.5, True), (0.75, False)):
        draws = ref.Draws(3, 3)
        draws.fixed_edge = np.array([0.0, 0.999999, u12])
        run = run_model(world, "viral", params, draws=draws, message=msg)
        assert run.adopted[:2] == [{1: 0}, {2: 1} if adopts else {}], u12
    assert int(run.session.store["fatigue"][2]) == 2  # one attempt in round 1, one in round 2


def test_viral_mean_reach_with_fatigue_matches_exact_value():
    """Same graph: P(1) = p01, P(2) = p02 + (1 - p02) p01 p12' where p12' carries one unit of fatigue.
    Agent 0's reputation 0.3 lowers its chances, agent 1's 0.9 raises them."""
    copies = 20_000
    world = replicated_world(3, [(0, 1), (0, 2), (1, 2)], copies, trust=[0.9, 0.6, 0.8])
    interests = [0, 0b1, 0b110]
    influence, susceptibility, reputation = [0.4, 0.7, 0.0], [1.0, 0.5, 0.6], [0.3, 0.9, 0.5]
    _viral_columns(world, 3, interests, influence, susceptibility, reputation)
    params = {"p": 0.5, "topic_weight": 2.0, "influence_weight": 1.5, "fatigue_weight": 2.0, "reputation_weight": 1.5}
    topics = 0b11

    def prob(u, v, t, fatigue):
        match = bin(topics & interests[v]).count("1") / 2
        val = params["p"] * (1 + params["topic_weight"] * match) * (1 + params["influence_weight"] * influence[u])
        val *= max(0.0, 1 + params["reputation_weight"] * (reputation[u] - 0.5))
        return min(1.0, val * t * susceptibility[v] / (1 + params["fatigue_weight"] * fatigue))

    p01, p02, p12 = prob(0, 1, 0.9, 0), prob(0, 2, 0.6, 0), prob(1, 2, 0.8, 1)
    exact = 1 + p01 + p02 + (1 - p02) * p01 * p12
    run = run_model(
        world, "viral", params, np.arange(copies) * 3, seed=6, message={"topics": topics}, keep_states=False
    )
    reach = (run.session.adopted_at.reshape(copies, 3) >= 0).sum(axis=1)
    assert_mean(reach, exact, "viral reach")


def test_diffusion_rounds_on_a_hand_traced_graph():
    """0 -> 1 (trust 0.5), 0 -> 2 (0.25), 1 -> 2 (0.5); rate 0.5; thresholds 0.6 and 0.55.

    Agent 1 gains 0.25 a round: 0.25, 0.5, 0.75 -> adopts in round 3. Agent 2 gains 0.125 a round
    (0.125, 0.25, 0.375), then 0.375 once agent 1 has adopted: 0.75 in round 4."""
    world = tiny_world(3, [(0, 1), (0, 2), (1, 2)], trust=[0.5, 0.25, 0.5])
    draws = ref.Draws(3, 3)
    draws.fixed_start = np.array([0.0, 0.4, 0.45])
    run = run_model(world, "diffusion", {"rate": 0.5}, draws=draws)
    assert run.adopted == [{}, {}, {1: 0}, {2: 0}, {}]
    assert np.allclose(run.session.store["exposure"][1:], [0.75, 0.75])
    assert run.session.status == "completed"


def test_diffusion_and_hybrid_mean_adoption_round_match_exact_values():
    """0 -> 1 with trust 1. Diffusion at rate 0.25: the adoption round is ceil(theta / 0.25), uniform
    on 1..4, mean 2.5. Hybrid with mix 0.5, p 0.6, rate 0.5 (influence 0, susceptibility 1, no topics):
    one viral attempt in round 1 with q = 0.5 * 0.6 = 0.3, exposure 0.25 a round, so
    P(K > k) = (1 - q)(1 - k/4) for k = 1..3 and E[K] = 1 + 0.7 * 1.5."""
    copies = 20_000
    world = replicated_world(2, [(0, 1)], copies)
    _viral_columns(world, 2, [0, 0], [0.0, 0.0], [1.0, 1.0])
    seeds = np.arange(copies) * 2
    diffusion = run_model(world, "diffusion", {"rate": 0.25}, seeds, seed=7, keep_states=False)
    assert_mean(diffusion.session.adopted_at[1::2], 2.5, "diffusion adoption round")
    assert set(np.unique(diffusion.session.adopted_at[1::2]).tolist()) == {1, 2, 3, 4}
    hybrid = run_model(world, "hybrid", {"mix": 0.5, "p": 0.6, "rate": 0.5}, seeds, seed=8, keep_states=False)
    assert_mean(hybrid.session.adopted_at[1::2], 1 + 0.7 * 1.5, "hybrid adoption round")


# -- 3. invariants -------------------------------------------------------------------------------

INVARIANT_PARAMS = {
    "ic": {"p": 0.2},
    "lt": {},
    "threshold": {"threshold": 0.2},
    "sir": {"beta": 0.15, "gamma": 0.3},
    "sis": {"beta": 0.15, "gamma": 0.3},
    "seir": {"beta": 0.2, "sigma": 0.4, "gamma": 0.3},
    "viral": VIRAL,
    "diffusion": {"rate": 0.2},
    "hybrid": {**VIRAL, "mix": 0.5, "rate": 0.1},
}


@pytest.mark.parametrize("name", MODELS)
def test_invariants_hold_every_round(name, community):
    seeds = seeds_of(community, 0.08 if name == "threshold" else 0.02, seed=9)
    run = run_model(community, name, INVARIANT_PARAMS[name], seeds, seed=9, message={"topics": TOPICS}, max_rounds=60)
    cls = REGISTRY.model(name)
    k = len(cls.states)
    n = community.n
    s = run.session
    reached = np.cumsum([len(seeds)] + [len(a) for a in run.adopted])
    assert s.reached == reached[-1] > len(seeds) + 20
    assert s.attempts == sum(run.attempts)
    ever = np.zeros(n, dtype=bool)
    ever[seeds] = True
    for r, state in enumerate(run.states):
        counts = np.bincount(state, minlength=k)
        assert counts.size == k and counts.sum() == n and state.min() >= 0
        now = np.isin(state, cls.adopted_states)
        ever |= now
        assert ever.sum() == reached[r]  # reached counts agents ever in an adopted state
        if r:
            before = run.states[r - 1]
            if cls.progressive:
                assert np.all(now[np.isin(before, cls.adopted_states)])
            if name in ("sir", "seir"):
                rec = k - 1
                assert counts[0] <= np.bincount(before, minlength=k)[0]
                assert np.all(state[before == rec] == rec)
                # Compartments move forward one step at a time.
                assert np.all((state == before) | (state == before + 1))
    # Every source is an adopted followee that adopted earlier.
    adopters = np.flatnonzero(s.adopted_at > 0)
    src = s.adopted_from[adopters]
    assert np.all(src >= 0)
    g = community.graph
    edge_keys = g.sources().astype(np.int64) * n + g.out_indices
    assert np.all(np.isin(src.astype(np.int64) * n + adopters, edge_keys))
    assert np.all(s.adopted_at[src] < s.adopted_at[adopters])


def test_ic_makes_exactly_one_attempt_per_edge_from_adopter_to_susceptible(directed):
    seeds = seeds_of(directed, 0.01)
    draws = ref.Draws(directed.n, directed.num_edges, seed=2)
    run = run_model(directed, "ic", {"p": 0.3}, seeds, draws=draws)
    attempted = np.concatenate([ids for _, ids in draws.edge_calls])
    assert np.unique(attempted).size == attempted.size  # no edge twice over the whole cascade
    at = run.session.adopted_at
    g = directed.graph
    u, v = g.sources(), g.out_indices
    expected = np.flatnonzero((at[u] >= 0) & ((at[v] < 0) | (at[v] > at[u])))
    assert np.array_equal(np.sort(attempted), expected)
    assert run.session.attempts == expected.size > 1000


ZERO = {
    "ic": {"p": 0.0},
    "sir": {"beta": 0.0},
    "sis": {"beta": 0.0},
    "seir": {"beta": 0.0},
    "viral": {"p": 0.0},
    "diffusion": {"rate": 0.0},
    "hybrid": {"p": 0.0, "rate": 0.0},
}


@pytest.mark.parametrize("name", list(ZERO))
def test_zero_probability_leaves_only_the_seeds(name, community):
    seeds = seeds_of(community, 0.02)
    run = run_model(community, name, ZERO[name], seeds, message={"topics": TOPICS}, max_rounds=200)
    assert adopted_set(run) == set(seeds)
    assert run.session.status == "completed"


@pytest.fixture(scope="module")
def sure_world():
    """The directed world with trust 1, susceptibility 1 and reputation 1, so that viral's probability can reach 1."""
    rng = np.random.default_rng(11)
    n = 1200
    k = rng.poisson(2, n)
    dst = np.repeat(np.arange(n), k)
    src = rng.integers(0, n, dst.size)
    keep = src != dst
    world = build_world("sure", 11, n, src[keep], dst[keep], trust=np.ones(int(keep.sum())))
    world.columns["susceptibility"][:] = 1.0
    world.columns["reputation"][:] = 1.0
    return world


CERTAIN = {
    "ic": {"p": 1.0},
    "sir": {"beta": 1.0, "gamma": 0.5},
    "sis": {"beta": 1.0, "gamma": 0.5},
    "seir": {"beta": 1.0, "sigma": 0.5, "gamma": 0.5},
    "viral": {"p": 1.0, "fatigue_weight": 0.0},
    "diffusion": {"rate": 0.3},
    "hybrid": {"mix": 0.5, "rate": 0.3},
    "threshold": {"threshold": 0.0},
    "lt": {},
}


@pytest.mark.parametrize("name", list(CERTAIN))
def test_certain_spread_reaches_the_seeds_whole_out_component(name, sure_world):
    seeds = seeds_of(sure_world, 0.005, seed=4)
    draws = None
    if name == "lt":  # thresholds 1 - u with u just below 1: any adopted followee is enough
        draws = ref.Draws(sure_world.n, sure_world.num_edges)
        draws.fixed_start = np.full(sure_world.n, 1 - 1e-7)
    run = run_model(sure_world, name, CERTAIN[name], seeds, draws=draws, max_rounds=500)
    component = out_component(sure_world, seeds)
    assert adopted_set(run) == component
    assert len(component) > 10 * len(seeds) and len(component) < sure_world.n  # a real test: not all, not few


# -- 4. determinism ------------------------------------------------------------------------------


async def _run_all(world, seed: int) -> Simulation:
    sim = Simulation(world)
    for name in MODELS:
        sim.inject(
            "news",
            topics=["politics", "football"],
            seeds="random:20",
            model=name,
            params=INVARIANT_PARAMS[name],
            seed=seed,
        )
        sim.inject(
            "news",
            topics=["politics"],
            seeds="ids:" + ",".join(map(str, range(0, 400, 20))),
            model=name,
            params=INVARIANT_PARAMS[name],
            seed=seed,
        )
    await sim.run(until_done=True, max_ticks=80)
    return sim


def _arrays(session):
    return {k: v.copy() for k, v in session.arrays().items()}


async def test_same_seeds_give_identical_arrays_and_other_seeds_differ():
    make = lambda: synthetic_world("det", 2000, avg_degree=6, seed=5)  # noqa: E731
    a, b, c = await _run_all(make(), 3), await _run_all(make(), 3), await _run_all(make(), 4)
    for sa, sb, sc in zip(a.sessions, b.sessions, c.sessions):
        assert sa.status != "failed", sa.traceback
        xa, xb = _arrays(sa), _arrays(sb)
        assert xa.keys() == xb.keys()
        for key in xa:
            assert np.array_equal(xa[key], xb[key]), (sa.model_name, key)
        assert sa.reached > 20
        deterministic_given_seeds = sa.model_name == "threshold" and sa.seeds.startswith("ids:")
        if not deterministic_given_seeds:
            assert not np.array_equal(sa.adopted_at, sc.adopted_at), sa.model_name
        else:
            assert np.array_equal(sa.adopted_at, sc.adopted_at)


@pytest.mark.parametrize("name", ["lt", "seir", "viral", "diffusion", "hybrid"])
async def test_a_snapshot_mid_run_continues_exactly(name, tmp_path):
    """Models with per-session store arrays (thresholds, fatigue, exposure) resume from a snapshot."""
    world = synthetic_world("snap", 1500, avg_degree=6, seed=8)
    sim = Simulation(world)
    sim.inject("m", topics=["politics"], seeds="random:15", model=name, params=INVARIANT_PARAMS[name], seed=2)
    await sim.run(ticks=4)
    assert sim.sessions[0].status == "running"
    path = str(tmp_path / "mid.snap")
    save_snapshot(world, path)
    await sim.run(until_done=True, max_ticks=300)
    resumed = load_snapshot(path)
    await Simulation(resumed).run(until_done=True, max_ticks=300)
    s, r = world.sessions[0], resumed.sessions[0]
    assert s.status == r.status == "completed" and s.reached == r.reached > 15
    assert np.array_equal(s.adopted_at, r.adopted_at) and np.array_equal(s.adopted_from, r.adopted_from)


# -- 5. large graphs against analytic results ----------------------------------------------------


def final_size(k: float, t: float, rho: float) -> float:
    """Fraction ever reached on a large Poisson (Erdős–Rényi) graph of mean degree ``k`` when every
    link passes the message with probability ``t`` and a fraction ``rho`` is seeded:
    s = 1 - (1 - rho) exp(-k t s) (percolation; for SIR the in-component argument makes it exact
    for transmissions correlated through the sender's infectious period)."""
    s = 1.0
    for _ in range(1000):
        s = 1 - (1 - rho) * math.exp(-k * t * s)
    return s


@pytest.fixture(scope="module")
def er_world():
    return synthetic_world("er", 30_000, graph="er", avg_degree=6, seed=21)


@pytest.mark.parametrize(
    "name, params, t",
    [
        ("ic", {"p": 0.3}, 0.3),
        ("sir", {"beta": 0.2, "gamma": 0.5}, transmissibility(0.2, 0.5)),
        ("seir", {"beta": 0.25, "sigma": 0.5, "gamma": 0.6}, transmissibility(0.25, 0.6)),
    ],
)
def test_final_size_on_a_large_er_graph_matches_percolation(name, params, t, er_world):
    """N = 30,000, mean degree 6, 2 % seeded. Over 12 session seeds the final share had a standard
    deviation of 0.0035 to 0.0047 and a mean within 0.0025 of the formula (finite-size corrections are
    O(1/N)); 0.02 is more than four standard deviations. The slips this guards against land far away:
    for SIR, one attempt per edge (T = beta) gives 0.38 instead of 0.80, recovery before infection 0.19;
    for SEIR 0.60 and 0.10 instead of 0.84."""
    n = er_world.n
    assert er_world.num_edges == 6 * n  # m = 3N undirected pairs, both directions stored
    rho = 0.02
    seeds = np.random.default_rng(0).choice(n, size=int(rho * n), replace=False)
    run = run_model(er_world, name, params, np.sort(seeds), seed=1, keep_states=False)
    expected = final_size(6.0, t, rho)
    got = run.session.reached / n
    assert abs(got - expected) < 0.02, (got, expected)
