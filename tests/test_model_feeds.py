"""Feed exposures in every built-in model, against the semantics in each model's docstring.

A content recommender puts a live message in an online agent's feed; the session hands that exposure
to its model (``ctx.feed_agents`` / ``ctx.feed_sources``), which may let the agent adopt outside the
follower graph, crediting the feed's sharer. Three kinds of evidence:

1. through the whole :class:`~sim.engine.simulation.Simulation` with a tiny test recommender: an agent that
   no path from the seeds reaches adopts through its feed with certain parameters, is counted in
   ``feed_reached`` and credits the sharer — and never does with ``feed_weight = 0`` (or ``p``,
   ``beta``, ``rate`` 0);
2. coupled randomness: every model with random feed exposures in every round against the slow
   reference in ``model_reference.py``, round by round (states, adoptions, sources, and which
   adoptions came through a feed);
3. hand-traced rounds for the rules a reader could get wrong: graph versus feed when both apply,
   SEIR's latent list, viral's feed probability, exposure accumulated over several feed rounds.
"""

from __future__ import annotations

from typing import ClassVar

import model_reference as ref
import numpy as np
import pytest
from test_models import MODELS, TOPICS, VIRAL, assert_same_trace, run_model, seeds_of, tiny_world

from sim.core.world import build_world, world_rng
from sim.engine.simulation import Simulation
from sim.model.registry import Registry
from sim.plugin import ContentRecommender

# -- 1. through the simulation ---------------------------------------------------------------------


class ShowToListed(ContentRecommender):
    """Shows every live message to the readers in ``readers`` only, credited to ``sharer``."""

    name = "test-show-to-listed"
    description = "test recommender: a fixed audience and sharer"
    params: ClassVar[dict] = {}
    readers: ClassVar[tuple[int, ...]] = (5,)
    sharer: ClassVar[int] = 3

    def score(self, ctx):
        scores = np.full(ctx.shape, -np.inf)
        scores[np.isin(ctx.readers, self.readers), :] = 1.0
        return scores, np.full(ctx.shape, self.sharer, dtype=np.int32)


def feed_world():
    """0 -> 1 -> 2 -> 3 -> 4, and agent 5 follows nobody and nobody follows it: no path from seed 0
    reaches 5. Everybody is online every tick (a huge activity rate); susceptibility 1 and
    reputation 0.5 (neutral) so that viral's probability can reach 1."""
    world = tiny_world(6, [(0, 1), (1, 2), (2, 3), (3, 4)])
    world.columns["activity_rate"][:] = 1e4
    world.columns["susceptibility"][:] = 1.0
    world.columns["reputation"][:] = 0.5
    return world


#: Parameters under which agent 5 surely adopts in the first round it is shown the message.
CERTAIN_FEED = {
    "ic": {"p": 1.0},
    "lt": {},
    "threshold": {"threshold": 0.5},
    "sir": {"beta": 1.0, "gamma": 0.0},
    "sis": {"beta": 1.0, "gamma": 0.0},
    "seir": {"beta": 1.0, "sigma": 1.0, "gamma": 0.0},
    "viral": {"p": 1.0},
    "diffusion": {"rate": 1.0},
    # the feed draw succeeds with 0.5, the feed's exposure (0.5 * 2) * 1 = 1 reaches any threshold
    "hybrid": {"p": 1.0, "mix": 0.5, "rate": 2.0},
}
#: Parameters under which the feed can do nothing for agent 5 even at feed_weight 1.
NO_FEED = {
    "ic": {"p": 0.0},
    "sir": {"beta": 0.0},
    "sis": {"beta": 0.0},
    "seir": {"beta": 0.0},
    "viral": {"p": 0.0},
    "diffusion": {"rate": 0.0},
    "hybrid": {"p": 0.0, "rate": 0.0},
}


async def _simulate(name: str, params: dict, ticks: int = 4) -> Simulation:
    registry = Registry(entry_points=False, env=False)
    registry.register(ShowToListed)
    sim = Simulation(feed_world(), registry=registry)
    sim.social.configure(recommender=ShowToListed.name)
    sim.inject("news", topics=["politics"], seeds="ids:0", model=name, params=params)
    await sim.run(ticks=ticks)
    return sim


@pytest.mark.parametrize("name", MODELS)
async def test_an_agent_out_of_the_seeds_reach_adopts_through_its_feed(name):
    """Agent 5 is shown the message (credited to agent 3) from tick 1, the session's first round."""
    sim = await _simulate(name, CERTAIN_FEED[name])
    s = sim.sessions[0]
    assert s.status in ("running", "completed"), s.traceback
    assert s.adopted_at[5] == 1 and s.adopted_from[5] == ShowToListed.sharer
    assert s.feed_reached == 1 and s.feed_exposed == 1
    assert s.reached == s.seeds_count + s.graph_reached + s.feed_reached
    assert s.graph_reached >= 1  # the chain spread too (through the graph)
    if name == "seir":
        assert s.state[5] in (1, 2, 3)  # exposed, then infectious (sigma 1): it followed the edge route


@pytest.mark.parametrize("name", MODELS)
async def test_feed_weight_zero_never_adopts_through_the_feed(name):
    params = {**CERTAIN_FEED[name], "feed_weight": 0.0}
    sim = await _simulate(name, params)
    s = sim.sessions[0]
    assert s.status in ("running", "completed"), s.traceback
    assert s.feed_exposed == 1  # it was shown the message ...
    assert s.adopted_at[5] == -1 and s.feed_reached == 0  # ... and nothing came of it
    assert s.graph_reached >= 1


@pytest.mark.parametrize("name", list(NO_FEED))
async def test_zero_probability_never_adopts_through_the_feed(name):
    sim = await _simulate(name, {**NO_FEED[name], "feed_weight": 1.0})
    s = sim.sessions[0]
    assert s.feed_exposed == 1 and s.adopted_at[5] == -1 and s.feed_reached == 0


# -- 2. coupled randomness against the reference, with feeds --------------------------------------


@pytest.fixture(scope="module")
def feed_directed():
    """900 agents following about 4 random others each (10 % follow nobody)."""
    rng = np.random.default_rng(23)
    n = 900
    k = rng.poisson(4, n)
    k[rng.random(n) < 0.1] = 0
    dst = np.repeat(np.arange(n), k)
    src = rng.integers(0, n, dst.size)
    keep = src != dst
    return build_world("feeds", 23, n, src[keep], dst[keep])


def random_feeds(n: int, rounds: int, share: float, seed: int) -> ref.Feeds:
    """Per round, a random ``share`` of the agents shown the message; the sharer a random agent, or
    -1 (none) for one item in five."""
    feeds: ref.Feeds = {}
    for r in range(rounds):
        rng = np.random.default_rng([seed, 9, r])
        agents = np.flatnonzero(rng.random(n) < share)
        sharers = np.where(rng.random(agents.size) < 0.2, -1, rng.integers(0, n, agents.size))
        feeds[r] = dict(zip(agents.tolist(), sharers.tolist()))
    return feeds


FEED_VIRAL = {**VIRAL, "reputation_weight": 1.5, "feed_weight": 4.0}
FEED_CASES = {
    "ic": ({"p": 0.2, "feed_weight": 1.5}, lambda g, s, d, f: ref.ic(g, s, d, p=0.2, feed_weight=1.5, feeds=f)),
    "ic-trust": (
        {"p": 0.4, "trust_weighted": True},
        lambda g, s, d, f: ref.ic(g, s, d, p=0.4, trust_weighted=True, feeds=f),
    ),
    "lt": ({}, lambda g, s, d, f: ref.lt(g, s, d, feeds=f)),
    "lt-trust": (
        {"weights": "trust", "feed_weight": 0.5},
        lambda g, s, d, f: ref.lt(g, s, d, weights="trust", feed_weight=0.5, feeds=f),
    ),
    "threshold": (
        {"threshold": 0.3, "feed_weight": 0.7},
        lambda g, s, d, f: ref.threshold(g, s, threshold=0.3, feed_weight=0.7, feeds=f),
    ),
    "sir": (
        {"beta": 0.15, "gamma": 0.3, "feed_weight": 2.0},
        lambda g, s, d, f: ref.epidemic(g, s, d, kind="sir", beta=0.15, gamma=0.3, feed_weight=2.0, feeds=f),
    ),
    "sis": (
        {"beta": 0.15, "gamma": 0.3},
        lambda g, s, d, f: ref.epidemic(g, s, d, kind="sis", beta=0.15, gamma=0.3, feeds=f, max_rounds=40),
    ),
    "seir": (
        {"beta": 0.2, "sigma": 0.4, "gamma": 0.3, "feed_weight": 3.0},
        lambda g, s, d, f: ref.epidemic(g, s, d, kind="seir", beta=0.2, sigma=0.4, gamma=0.3, feed_weight=3.0, feeds=f),
    ),
    "viral": (FEED_VIRAL, lambda g, s, d, f: ref.viral(g, s, d, topics=TOPICS, feeds=f, **FEED_VIRAL)),
    "diffusion": (
        {"rate": 0.15, "feed_weight": 2.0},
        lambda g, s, d, f: ref.diffusion(g, s, d, rate=0.15, feed_weight=2.0, feeds=f),
    ),
    "hybrid": (
        {**FEED_VIRAL, "rate": 0.1, "mix": 0.4},
        lambda g, s, d, f: ref.hybrid(g, s, d, topics=TOPICS, mix=0.4, rate=0.1, feeds=f, **FEED_VIRAL),
    ),
}


@pytest.mark.parametrize("case", list(FEED_CASES))
def test_fast_model_with_feeds_matches_the_reference_round_by_round(case, feed_directed):
    world = feed_directed
    params, reference = FEED_CASES[case]
    name = case.split("-")[0]
    seeds = seeds_of(world, 0.01)
    draws = ref.Draws(world.n, world.num_edges, seed=29)
    feeds = random_feeds(world.n, 300, 0.01, seed=31)
    max_rounds = 40 if name == "sis" else 10_000
    fast = run_model(
        world, name, params, seeds, draws=draws, message={"topics": TOPICS}, max_rounds=max_rounds, feeds=feeds
    )
    trace = reference(ref.RefGraph.from_world(world), seeds, draws, feeds)
    assert_same_trace(fast, trace)
    # Not vacuous: both routes were taken, over several rounds.
    by_feed = sum(len(f) for f in fast.feed)
    assert fast.rounds >= 3 and by_feed >= 5
    assert fast.session.reached - len(seeds) - by_feed >= 5
    assert fast.session.feed_reached == by_feed
    # Every feed adoption credits its round's sharer.
    for r, fed in enumerate(fast.feed):
        assert all(fast.adopted[r][v] == feeds[r][v] for v in fed)
    # All of the model's randomness came through the two hooks: the session's generator is untouched.
    untouched = world_rng(world.seed, 100, fast.session.seed, fast.session.id)
    assert fast.session.rng.bit_generator.state == untouched.bit_generator.state


# -- 3. hand-traced rounds -------------------------------------------------------------------------


def test_threshold_graph_wins_when_the_graph_alone_is_enough():
    """Seed 0. Agent 1 follows 0 only (share 1: a graph adoption although shown in its feed); agent 2
    follows 0, 3 and 4 (1/3 < 0.5, with the feed (1 + 1) / (3 + 1) = 0.5: a feed adoption); agent 5
    follows nobody (shown: (0 + 1) / (0 + 1) = 1); agent 6 follows 3 and 4 (shown: 1/3 < 0.5)."""
    world = tiny_world(7, [(0, 1), (0, 2), (3, 2), (4, 2), (3, 6), (4, 6)])
    feeds = {0: {1: 4, 2: 4, 5: -1, 6: 4}}
    run = run_model(world, "threshold", {"threshold": 0.5}, feeds=feeds)
    assert run.adopted[0] == {1: 0, 2: 4, 5: -1}
    assert run.feed[0] == {2, 5}
    assert run.session.feed_reached == 2
    # Without the feed's help agent 2 stays out; feed_weight 0 turns the feed off altogether.
    off = run_model(world, "threshold", {"threshold": 0.5, "feed_weight": 0.0}, feeds=feeds)
    assert off.adopted[0] == {1: 0} and off.session.feed_reached == 0


def test_lt_feed_counts_as_one_more_followee_of_the_chosen_weight():
    """Seed 0; agent 1 follows 0 (trust 0.2) and 2 (trust 0.6); threshold 0.5 (u = 0.5).
    Uniform: 1/2 >= 0.5 without the feed (graph). Trust: 0.2 / 0.8 = 0.25 without, (0.2 + 1) / (0.8 + 1)
    = 0.667 with the feed (feed adoption); with feed_weight 0.1: 0.3 / 0.9 = 0.333, no adoption."""
    world = tiny_world(3, [(0, 1), (2, 1)], trust=[0.2, 0.6])
    draws = ref.Draws(3, 2)
    draws.fixed_start = np.array([0.0, 0.5, 0.0])
    feeds = {0: {1: 2}}
    uniform = run_model(world, "lt", {}, draws=draws, feeds=feeds)
    assert uniform.adopted[0] == {1: 0} and uniform.feed[0] == set()
    trust = run_model(world, "lt", {"weights": "trust"}, draws=draws, feeds=feeds)
    assert trust.adopted[0] == {1: 2} and trust.feed[0] == {1}
    weak = run_model(world, "lt", {"weights": "trust", "feed_weight": 0.1}, draws=draws, feeds=feeds)
    assert weak.adopted[0] == {}


def test_epidemic_edge_infection_beats_the_feed_and_seir_feed_infections_wait_in_latent():
    """0 -> 1; agents 1 and 2 shown the message in round 1 (beta 1, sigma 1): agent 1 is infected along
    the edge (source 0, graph), agent 2 through the feed (source 3). In SEIR agent 2 is exposed, kept
    in ``store["latent"]`` and turns infectious in round 2 like an edge infection."""
    world = tiny_world(4, [(0, 1)])
    feeds = {0: {1: 3, 2: 3}}
    sir = run_model(world, "sir", {"beta": 1.0, "gamma": 0.0}, feeds=feeds, max_rounds=3)
    assert sir.adopted[0] == {1: 0, 2: 3} and sir.feed[0] == {2}
    seir = run_model(world, "seir", {"beta": 1.0, "sigma": 1.0, "gamma": 0.0}, feeds=feeds, max_rounds=1)
    assert seir.states[1].tolist() == [2, 1, 1, 0]
    assert seir.session.store["latent"].tolist() == [1, 2]
    seir = run_model(world, "seir", {"beta": 1.0, "sigma": 1.0, "gamma": 0.0}, feeds=feeds, max_rounds=2)
    assert seir.states[2].tolist() == [2, 2, 2, 0] and seir.session.store["latent"].size == 0


def test_viral_feed_probability_uses_the_sharer_and_leaves_fatigue_alone():
    """Agent 1 follows nobody; p 0.5, feed_weight 0.8, susceptibility 0.5, no topics.
    Sharer 2 (influence 0.5, reputation 0.9, reputation_weight 1): 0.5 * 1.5 * 1.4 * 0.8 * 0.5 = 0.42.
    No sharer (-1: influence 0, reputation 0.5): 0.5 * 0.8 * 0.5 = 0.2. The draw is the agent's number."""
    world = tiny_world(3, [(0, 2)])
    world.columns["susceptibility"][:] = 0.5
    world.columns["influence"][:] = [0.0, 0.0, 0.5]
    world.columns["reputation"][:] = [0.5, 0.5, 0.9]
    params = {"p": 0.5, "feed_weight": 0.8}
    p_shared = 0.5 * 1.5 * (1 + (float(np.float32(0.9)) - 0.5)) * 0.8 * 0.5
    for sharer, p_feed in ((2, p_shared), (-1, 0.2)):
        for u, adopts in ((p_feed * (1 - 1e-9), True), (p_feed * (1 + 1e-9), False)):
            draws = ref.Draws(3, 1)
            draws.fixed_edge = np.array([0.99])  # 0 -> 2 fails
            draws.fixed_agent = np.array([0.0, u, 0.0])
            run = run_model(world, "viral", params, draws=draws, feeds={0: {1: sharer}})
            assert run.adopted[0] == ({1: sharer} if adopts else {}), (sharer, u)
            assert run.session.store["fatigue"].tolist() == [0, 0, 1]  # the feed tires nobody


def test_diffusion_feed_exposure_accumulates_over_rounds():
    """0 -> 1 (trust 0.5) and agent 2 follows nobody; rate 0.25, feed_weight 1, thresholds 0.6 (agent
    1) and 0.7 (agent 2). Agent 2, shown the message in rounds 1 to 3, gains 0.25 a round: 0.75 in
    round 3. Agent 1 gains 0.125 a round from pressure; shown in round 2 it has 0.125 + 0.125 + 0.25 =
    0.5, then 0.625 in round 3 — a graph adoption although the feed helped earlier."""
    world = tiny_world(3, [(0, 1)], trust=[0.5])
    draws = ref.Draws(3, 1)
    draws.fixed_start = np.array([0.0, 0.4, 0.3])
    feeds = {0: {2: 0}, 1: {1: 0, 2: 0}, 2: {2: 0}}
    run = run_model(world, "diffusion", {"rate": 0.25}, draws=draws, feeds=feeds)
    assert run.adopted[:3] == [{}, {}, {1: 0, 2: 0}]
    assert run.feed[2] == {2}
    assert np.allclose(run.session.store["exposure"], [0.0, 0.625, 0.75])
    # Shown only in round 5, when its pressure alone gets it to 0.625: still a graph adoption, although
    # nobody attempted it in that round (it has no frontier followee then).
    late = run_model(world, "diffusion", {"rate": 0.25}, draws=draws, feeds={4: {1: 2}})
    assert late.adopted == [{}, {}, {}, {}, {1: 0}, {}] and late.feed[4] == set()
    assert late.session.feed_reached == 0


def test_hybrid_feed_adopters_leave_the_exposure_race():
    """0 -> 1; mix 0.5, rate 0.2, p 0.6 (influence 0, reputation 0.5, susceptibility 1, no topics);
    thresholds 0.9 (agent 1) and 0.5 (agent 2, who follows nobody). Round 1: the viral attempt 0 -> 1
    fails (0.99 >= 0.3), agent 1's feed draw 0 < 0.5 * 0.6 succeeds: a feed adoption credited to 2, and
    agent 1 no longer waits for its exposure (0.1 from pressure, 0.1 from the feed), so the session ends
    after round 2. Agent 2's feed draw 0.99 fails; its feed exposure (0.5 * 0.2) * 1 = 0.1 stays below 0.5."""
    world = tiny_world(3, [(0, 1)])
    world.columns["influence"][:] = 0.0
    world.columns["reputation"][:] = 0.5
    world.columns["susceptibility"][:] = 1.0
    draws = ref.Draws(3, 1)
    draws.fixed_edge = np.array([0.99])
    draws.fixed_agent = np.array([0.0, 0.0, 0.99])
    draws.fixed_start = np.array([0.0, 0.1, 0.5])
    run = run_model(world, "hybrid", {"mix": 0.5, "rate": 0.2, "p": 0.6}, draws=draws, feeds={0: {1: 2, 2: -1}})
    assert run.adopted == [{1: 2}, {}] and run.feed[0] == {1}
    assert run.session.status == "completed" and run.session.store["pending"].size == 0
    assert np.allclose(run.session.store["exposure"], [0.0, 0.2, 0.1])
    # With threshold 0.25 and a failing feed draw, agent 1 shown in round 3 crosses on its pressure
    # alone (0.3): a graph adoption, credited to its adopted followee.
    draws.fixed_agent = np.array([0.0, 0.99, 0.99])
    draws.fixed_start = np.array([0.0, 0.75, 0.5])
    late = run_model(world, "hybrid", {"mix": 0.5, "rate": 0.2, "p": 0.6}, draws=draws, feeds={2: {1: 2}})
    assert late.adopted == [{}, {}, {1: 0}, {}] and late.feed[2] == set()
