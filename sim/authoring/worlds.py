"""The synthetic worlds the checks run on: the community graph of the contract runs and the speed figure
(:func:`check_world`), and the two small worlds parameters are explored on (:func:`explore_worlds`). Each is
built once per size and seed, frozen, and handed out as forks."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.core.topics import TOPICS
from sim.core.world import World, build_world
from sim.errors import BadParameterError
from sim.store.create import synthetic_world

#: Agents of the world the contract checks run on (the speed figure uses ``agents``).
CONTRACT_AGENTS = 2000

_WORLDS: OrderedDict[tuple[int, int], World] = OrderedDict()
_EXPLORE_WORLDS: OrderedDict[int, tuple[ExploreWorld, ...]] = OrderedDict()


def _freeze(world: World) -> World:
    # Forks copy the columns and trust but share the rest of the graph: freezing the base keeps a
    # plugin that writes into the graph from spoiling the checks that follow (it fails instead).
    for arr in (
        *world.columns.values(),
        world.graph.out_indptr,
        world.graph.out_indices,
        world.graph.trust,
        world.graph.in_indptr,
        world.graph.in_indices,
        world.graph.in_edge,
        *([] if world.graph.layer is None else [world.graph.layer]),
    ):
        arr.flags.writeable = False
    return world


def base_world(agents: int, seed: int) -> World:
    """A cached synthetic world, frozen: its arrays are read-only, runs use :meth:`World.fork`.

    Args:
        agents: its number of agents.
        seed: the seed it is built from.

    Returns:
        The world itself (not a copy): never change it.
    """
    key = (int(agents), int(seed))
    world = _WORLDS.get(key)
    if world is None:
        world = _freeze(synthetic_world(f"check-{agents}", agents, avg_degree=10.0, seed=seed))
        _WORLDS[key] = world
        while len(_WORLDS) > 2:
            _WORLDS.popitem(last=False)
    else:
        _WORLDS.move_to_end(key)
    return world


def check_world(agents: int = CONTRACT_AGENTS, seed: int = 0) -> World:
    """The synthetic world the checks run on (a community graph, mean degree 10), as a fresh copy.

    Built once per (agents, seed) and cached; copies share its graph arrays, which are read-only.

    Args:
        agents: its number of agents (at least 100).
        seed: the seed it is built from.

    Returns:
        A fork of the cached world.

    Raises:
        BadParameterError: ``agents`` below 100.
    """
    if agents < 100:
        raise BadParameterError(f"a check world needs at least 100 agents, got {agents}")
    return base_world(agents, seed).fork()


def common_topics(world: World, k: int = 3, skip: int = 0) -> list[str]:
    """Names of the topics most agents are interested in (ranks ``skip`` .. ``skip + k - 1``).

    Args:
        world: the world whose agents' interests are counted.
        k: how many topics.
        skip: how many of the most common topics to pass over first.

    Returns:
        The topics' names, the most common first.
    """
    interests = world.columns["interests"]
    bits = np.arange(64, dtype=np.uint64)
    counts = np.array([np.count_nonzero((interests >> b) & np.uint64(1)) for b in bits])
    order = np.argsort(-counts, kind="stable")
    return [TOPICS[int(t)] for t in order[skip : skip + k]]


@dataclass(frozen=True)
class ExploreWorld:
    """One of the small worlds the checker explores parameters on: ``key`` (``scale-free``,
    ``directed``), ``text`` (how a detail names it) and the frozen world (runs use forks)."""

    key: str
    text: str
    world: World


def _isolated(world: World) -> int:
    """Agents who follow nobody and whom nobody follows."""
    g = world.graph
    return int(np.count_nonzero((np.diff(g.out_indptr) == 0) & (np.diff(g.in_indptr) == 0)))


def _directed_world(key: int, seed: int) -> World:
    """300 agents whose follows go one way only, a sixth of them isolated."""
    n = 300
    rng = np.random.default_rng([abs(key) % 2**32, 29])
    isolated = n // 6
    linked = np.sort(rng.permutation(n)[: n - isolated])
    a = linked[rng.integers(0, linked.size, size=linked.size * 5)]
    b = linked[rng.integers(0, linked.size, size=linked.size * 5)]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    pair = np.unique(lo[lo != hi].astype(np.int64) * n + hi[lo != hi])
    lo, hi = pair // n, pair % n
    flip = rng.random(pair.size) < 0.5  # one direction per pair: never reciprocal
    src, dst = np.where(flip, hi, lo).astype(np.int32), np.where(flip, lo, hi).astype(np.int32)
    return build_world(
        "check-directed", seed, n, src, dst, config={"source": {"kind": "synthetic", "graph": "directed"}}
    )


def explore_worlds(seed: int = 0) -> tuple[ExploreWorld, ...]:
    """The small worlds every parameter set is run on, built once per seed (frozen; runs use forks):

    - ``scale-free``: 500 agents, a Barabási–Albert graph of mean degree 6 (hubs, no communities);
    - ``directed``: 300 agents whose follows go one way only (no pair follows each other), a sixth of
      them isolated (they follow nobody and nobody follows them; community -1).

    Both differ from the 2,000-agent community graph of the default run, so a model that silently
    assumes reciprocal edges, communities or followers for everybody shows it here.

    Args:
        seed: the seed both worlds are built from.

    Returns:
        The scale-free world, then the directed one.
    """
    key = int(seed)
    worlds = _EXPLORE_WORLDS.get(key)
    if worlds is not None:
        _EXPLORE_WORLDS.move_to_end(key)
        return worlds
    ba = _freeze(synthetic_world("check-scale-free", 500, graph="ba", avg_degree=6.0, seed=seed))
    directed = _directed_world(key, seed)
    lonely = _isolated(directed)
    directed = _freeze(directed)
    worlds = (
        ExploreWorld("scale-free", f"the {ba.n}-agent scale-free world", ba),
        ExploreWorld("directed", f"the {directed.n}-agent directed world ({lonely} isolated agents)", directed),
    )
    _EXPLORE_WORLDS[key] = worlds
    while len(_EXPLORE_WORLDS) > 2:
        _EXPLORE_WORLDS.popitem(last=False)
    return worlds


def explore_world_rows(seed: int) -> dict[str, dict[str, Any]]:
    """The explore worlds of ``seed`` as the report lists them: key -> agents, edges, isolated agents, what."""
    out = {}
    for w in explore_worlds(seed):
        isolated = _isolated(w.world)
        what = "scale-free world" if w.key == "scale-free" else f"directed world with {isolated} isolated agents"
        out[w.key] = {"agents": w.world.n, "edges": w.world.num_edges, "isolated": isolated, "what": what}
    return out
