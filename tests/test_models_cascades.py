"""The built-in ``topic-cascade`` and ``rewiring-cascade`` models (``plugins/cascades.py``, also the code of
the ``cascade`` and ``network`` templates) against slow per-agent references fed the same pre-drawn random
numbers, round by round: the same adoptions from the same sources, and for ``rewiring-cascade`` the same
edges removed and added."""

from __future__ import annotations

import numpy as np
import pytest
from model_reference import Draws, RefGraph, Trace, directed_world
from test_models import TOPICS, assert_same_trace, coupled, run_model, seeds_of

from sim.model.registry import Registry
from sim.model.session import PropagationSession
from sim.store.create import synthetic_world

REGISTRY = Registry(entry_points=False, env=False)


@pytest.fixture(scope="module", params=["directed", "community"])
def world(request):
    if request.param == "directed":
        return directed_world(1200, 5.0, seed=11, nobody=0.05)
    return synthetic_world("community", 1500, avg_degree=6, seed=3)


def topic_cascade_reference(
    g: RefGraph, seeds: list[int], draws: Draws, *, p: float, off_topic: float, topics: int
) -> Trace:
    """Each new adopter tries each not-yet-adopted follower once: with probability ``p`` when the follower
    shares a topic with the message (every follower when it has none), ``p * off_topic`` otherwise; the
    lowest successful sender is the source."""
    state = [0] * g.n
    for s in seeds:
        state[s] = 1
    trace = Trace()
    newly = sorted(seeds)
    r = 0
    while newly:
        new: dict[int, int] = {}
        for u in newly:
            for v, _, e in g.out[u]:
                if state[v] != 0:
                    continue
                on_topic = not topics or (g.interests[v] & topics) != 0
                prob = p if on_topic else p * off_topic
                if draws.edge(r, e) < prob and v not in new:
                    new[v] = u
        for v in new:
            state[v] = 1
        trace.add(state, new)
        newly = sorted(new)
        r += 1
    return trace


@pytest.mark.parametrize("off_topic", [0.0, 0.5])
def test_topic_cascade_matches_the_reference_round_by_round(world, off_topic):
    seeds = seeds_of(world, 0.02)
    draws = Draws(world.n, world.num_edges, seed=23)
    params = {"p": 0.7, "off_topic": off_topic}
    fast = run_model(world, "topic-cascade", params, seeds, draws=draws, message={"topics": TOPICS})
    trace = topic_cascade_reference(RefGraph.from_world(world), seeds, draws, topics=TOPICS, **params)
    assert_same_trace(fast, trace)
    assert fast.rounds >= 3 and fast.session.reached >= len(seeds) + 15
    if off_topic == 0.0:  # nobody outside the message's topics adopted, but the seeds
        reached = np.flatnonzero(fast.session.adopted_at >= 0)
        outside = reached[(world.columns["interests"][reached] & np.uint64(TOPICS)) == 0]
        assert set(outside.tolist()) <= set(seeds)


def rewiring_reference(g: RefGraph, seeds: list[int], draws: Draws, *, p: float, w: float, rounds: int):
    """Per round: ``{agent: source}`` of adoptions and the edges removed and added, as sorted lists of
    ``(source, target)``, on a graph that does not change during the run (as in this harness, where the
    engine's merge between ticks does not run). The edge hooks hand the same number to both draws of an
    edge in a round, and the agent hook the same number to an agent twice in a round."""
    n = g.n
    state = [0] * n
    for s in seeds:
        state[s] = 1
    edges = {(u, v) for u in range(n) for v, _, _ in g.out[u]}
    newly = sorted(seeds)
    out = []
    for r in range(rounds):
        if not newly:
            break
        attempts = [(u, v, e) for u in newly for v, _, e in g.out[u] if state[v] == 0]
        new: dict[int, int] = {}
        for u, v, e in attempts:
            if draws.edge(r, e) < p and v not in new:
                new[v] = u
        kept: list[tuple[int, int, int]] = []  # (sender, follower, new followee), in attempt order
        seen = set()
        for u, v, e in attempts:
            x = draws.edge(r, e)
            if x < p or v in new or x >= w:
                continue
            target = int(np.floor(draws.agent(r, v) * (n - 1)))
            target += target >= v
            if (target, v) in edges or (target, v) in seen:
                continue
            seen.add((target, v))
            kept.append((u, v, target))
        for v in new:
            state[v] = 1
        out.append((new, sorted((u, v) for u, v, _ in kept), sorted((t, v) for _, v, t in kept)))
        newly = sorted(new)
    return out


def test_rewiring_cascade_matches_the_reference_round_by_round(world):
    seeds = seeds_of(world, 0.01)
    draws = Draws(world.n, world.num_edges, seed=29)
    params = {"p": 0.3, "w": 0.6}
    w = world.fork()  # the model buffers edge changes in the world's delta
    model = REGISTRY.model("rewiring-cascade")(**params)
    s = PropagationSession(
        id=1,
        message_id=1,
        model_name="rewiring-cascade",
        params=model.p,
        seeds="ids:" + ",".join(map(str, seeds)),
        message={},
    )
    got = []
    with coupled(draws):
        draws.in_start = True
        s.start(w, model, 0)
        draws.in_start = False
        while s.status == "running":
            tick = s.round + 1
            result = s.advance(w, tick)
            assert s.status in ("running", "completed"), s.traceback
            new = np.flatnonzero(s.adopted_at == tick)
            removed = sorted(zip(*(a.tolist() for a in result.remove_edges))) if result.remove_edges else []
            added = sorted(zip(*(a.tolist() for a in result.add_edges))) if result.add_edges else []
            got.append((dict(zip(new.tolist(), s.adopted_from[new].tolist())), removed, added))
    expected = rewiring_reference(RefGraph.from_world(world), seeds, draws, rounds=len(got), **params)
    assert len(got) == len(expected) >= 3
    for r, (a, b) in enumerate(zip(got, expected)):
        assert a == b, f"round {r + 1} differs"
    assert sum(len(x[1]) for x in got) > 20, "nobody rewired, so the comparison proves little"
    assert s.edges_removed == s.edges_added == sum(len(x[1]) for x in got)
