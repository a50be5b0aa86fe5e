"""Making worlds: synthetic graphs, imported edge lists, and the embedded default world."""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Callable
from typing import Any

from sim.core.generators import GRAPH_KINDS, generate
from sim.core.memory import ensure_fits
from sim.core.world import (
    STREAM_GRAPH,
    World,
    edges_graph,
    world_from_generated,
    world_on_graph,
    world_rng,
)
from sim.errors import BadParameterError
from sim.store.importer import read_edge_list
from sim.store.worldfile import save_world

Progress = Callable[[str, float], None] | None

#: The world `agora` opens when given none: created in the saves folder on first use.
DEFAULT_WORLD: dict[str, Any] = {
    "name": "default",
    "agents": 100_000,
    "graph": "community",
    "avg_degree": 10.0,
    "mixing": 0.2,
    "seed": 42,
}


def saves_dir() -> str:
    """The folder for worlds and snapshots: ``$AGORA_SAVES`` or ``./saves``."""
    return os.environ.get("AGORA_SAVES") or os.path.join(os.getcwd(), "saves")


def synthetic_world(
    name: str,
    agents: int,
    *,
    graph: str = "community",
    avg_degree: float = 10.0,
    communities: int | None = None,
    mixing: float = 0.2,
    seed: int = 0,
    progress: Progress = None,
) -> World:
    """Generate a seeded synthetic world (see :mod:`sim.core.generators` for the graph models).

    Raises:
        BadParameterError: a parameter is out of range.
        ResourceError: the machine cannot hold it.
    """
    if graph not in GRAPH_KINDS:
        raise BadParameterError(f"unknown graph kind {graph!r}: use one of {', '.join(GRAPH_KINDS)}")
    if agents < 1:
        raise BadParameterError(f"agents must be at least 1, got {agents}", fields="agents")
    if not (math.isfinite(avg_degree) and avg_degree >= 0):
        raise BadParameterError(
            f"avg_degree must be a finite number of zero or more, got {avg_degree}", fields="avg_degree"
        )
    if not (math.isfinite(mixing) and 0 <= mixing <= 1):
        raise BadParameterError(f"mixing must be between 0 and 1, got {mixing}", fields="mixing")
    ensure_fits(agents, int(agents * avg_degree), what="a world")
    rng = world_rng(seed, STREAM_GRAPH)
    gen = generate(graph, agents, avg_degree, rng, communities=communities, mixing=mixing, progress=progress)
    config = {
        "source": {
            "kind": "synthetic",
            "graph": graph,
            "avg_degree": avg_degree,
            "communities": communities
            if communities is not None
            else (None if gen.community is None else int(gen.community.max()) + 1),
            "mixing": mixing if graph in ("community", "sbm") else None,
        }
    }
    return world_from_generated(name, seed, gen, config, progress=progress)


def imported_world(
    name: str,
    edges_path: str,
    *,
    directed: bool = False,
    seed: int = 0,
    progress: Progress = None,
    max_ratio: float | None = None,
) -> World:
    """A world from a real edge list (SNAP or CSV, optionally gzipped); attributes drawn from ``seed``.
    ``max_ratio``: how many times a gzip file may expand (see ``sim.store.importer.max_ratio_setting``).

    Raises:
        BadFileError: the file is missing, unreadable or malformed.
        ResourceError: a gzip file expands more than allowed, or the machine cannot hold it.
    """
    el = read_edge_list(edges_path, directed=directed, progress=progress, max_ratio=max_ratio)
    config = {"source": {"kind": "import", **el.stats}}
    graph = edges_graph(int(el.ids.shape[0]), el.src, el.dst, el.weight, sorted_unique=True, progress=progress)
    return world_on_graph(
        name, seed, graph, drawn_trust=el.weight is None, ids=el.ids, config=config, progress=progress
    )


def default_world_path() -> str:
    return os.path.join(saves_dir(), "default.db")


async def ensure_default_world(progress: Progress = None) -> str:
    """Create the embedded default world in the saves folder if it is not there; return its path."""

    path = default_world_path()
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        spec = DEFAULT_WORLD
        world = await asyncio.to_thread(
            synthetic_world,
            spec["name"],
            spec["agents"],
            graph=spec["graph"],
            avg_degree=spec["avg_degree"],
            mixing=spec["mixing"],
            seed=spec["seed"],
            progress=progress,
        )
        await save_world(world, path, progress=progress)
    return path
