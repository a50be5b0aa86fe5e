"""A new world made (``agora new`` and :func:`sim.new_world` make it here, from one
:class:`~sim.engine.requests.NewWorld`): what it needs of the machine, refused first, then the world in memory."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from sim.core import worldkey
from sim.core.memory import ensure_disk, ensure_fits, world_file_bytes
from sim.core.world import Status, World, world_rng
from sim.engine.requests.newworld import NewWorld
from sim.store.create import imported_world, synthetic_world
from sim.store.worldfile import check_target


def check_new_world(request: NewWorld, path: str) -> None:
    """What a new world needs of the machine, refused before minutes of work: the target (``force`` to replace
    it), the world key where it is encrypted, and a synthetic world's memory and disk.

    Raises:
        TargetExistsError, BadParameterError, ResourceError: one sentence.
    """
    check_target(path, request.force)
    if request.encrypt:
        worldkey.ready_to_encrypt(f"encrypting world {path!r}")
    if request.source == "agents":
        assert request.agents is not None
        edges = int(request.agents * request.shape["avg_degree"])
        ensure_fits(request.agents, edges, what="a world")
        ensure_disk(
            path,
            world_file_bytes(request.agents, edges),
            f"a world of {request.agents:,} agents and about {edges:,} directed edges",
        )


def built_world(request: NewWorld, label: str, progress: Callable[[str, float], None] | None = None) -> World:
    """The world ``request`` asks for, in memory (``agora new`` and :func:`new_world` build it here): a table of
    people's (its group layers, then its near ones, then its edge lists, each with its layer), an imported edge
    list's or a synthetic graph's; then its tick's length, living network and reserve of agents not joined yet.
    Blocking: call it in a worker thread."""
    if request.source == "people":
        world = _people_world(request, label)
    elif request.source == "edges":
        source = request.edges[0][0]
        world = imported_world(label, source, directed=request.directed, seed=request.seed, progress=progress)
    else:
        assert request.agents is not None
        world = synthetic_world(label, request.agents, **request.shape, seed=request.seed, progress=progress)
    world.config["minutes_per_tick"] = request.tick_minutes
    if request.social:
        from sim.model.registry import plugin_registry  # noqa: PLC0415 - the plugins and the living network
        from sim.social.dynamics import Social  # noqa: PLC0415 - load only for a world that has one (0.1 s)

        world.config["social"] = Social(world, plugin_registry(None), {}).configure(**dict(request.social))
    if request.reserve > 0:
        pool = world_rng_pick(world, request.reserve)
        world.columns["status"][pool] = Status.CREATED
    return world


def world_rng_pick(world: World, share: float) -> Any:
    """A seeded choice of ``share`` of the world's agents (the reserve of agents not joined yet)."""
    k = int(round(share * world.n))
    return world_rng(world.seed, 7).choice(world.n, size=k, replace=False)


def _people_world(request: NewWorld, label: str) -> World:
    """A table of people's world (see :func:`sim.store.contacts.people_world`)."""
    from sim.store import contacts  # noqa: PLC0415 - a table of people's readers (30 ms) load only for one
    from sim.store.contacts import EdgeLayer, GroupLayer, NearLayer, group_layer, near_layer  # noqa: PLC0415
    from sim.store.people import people_from_frame, read_people  # noqa: PLC0415

    people, id_column = request.people, request.id or "id"
    if isinstance(people, str | os.PathLike):
        table = read_people(os.fspath(people), id_column)
    else:
        table = people_from_frame(people, id_column)
    layers: list[GroupLayer | NearLayer | EdgeLayer] = [group_layer(g, request.skip) for g in request.groups]
    layers += [near_layer(x) for x in request.near]
    layers += [EdgeLayer(path, str(layer)) for path, layer in request.edges]
    return contacts.people_world(label, table, layers, seed=request.seed)


__all__ = ["built_world", "check_new_world", "world_rng_pick"]
