"""Scheduling and applying interventions (``--intervene TICK:ACTION``; the parsing and the world's record
are in :mod:`sim.model.intervene`).

An intervention is checked when it is given (before anything changes) and kept in the world's config as
pending; the simulation applies every due one at the start of a tick, on the caller's thread, before who is
online is drawn and before queued sessions start, so an intervention at the injection's tick acts before the
first round of spreading. Every choice draws from the world's seed and the tick, so a snapshot taken
before an intervention and continued gives the same run.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from sim.core.world import World, world_rng
from sim.engine.requests import SeedChoice
from sim.engine.seeding import method_seeds
from sim.errors import BadParameterError
from sim.model.intervene import CONFIG_KEY, Intervention, blocked_mask, entries, forget_blocked
from sim.model.seeds import SeedSpec

#: The world_rng stream of interventions' draws.
STREAM_INTERVENE = 0x1A7E
#: A counter-message's session seed is its rival's plus this (so run r's counter differs from run r+1's).
COUNTER_SEED_OFFSET = 7_919
#: The text of a counter-message given without one.
COUNTER_TEXT = "counter-message"


@functools.lru_cache(maxsize=256)
def stored(spec: str) -> Intervention:
    """A pending entry's intervention, parsed from its text once (the text is what world files and snapshots keep;
    a run's choice and its application read the same value, as does every run of an ensemble).

    Raises:
        BadParameterError: as :meth:`Intervention.parse`.
    """
    return Intervention.parse(spec, with_tick=False)


def check(world: World, registry: Any, iv: Intervention, model: str | None = None) -> None:
    """Refuse an intervention this world cannot carry out, before anything changes.

    Raises:
        BadParameterError: an unknown seed method or model, seeds the world cannot meet, a method not
            derived for ``model``, or communities missing for ``remove-edges:F:between``.
        PluginError: the method or model failed to load.
    """
    if iv.action in ("block", "counter"):
        spec = SeedSpec.parse(iv.seeds)
        spec.check(world)
        if spec.kind == "method":
            cls = registry.seeder(spec.method)
            target = iv.model if iv.action == "counter" else model
            if cls.models and target is not None and target not in cls.models:
                raise BadParameterError(
                    f"seed method {spec.method} is derived for {', '.join(cls.models)}, not {target!r}: "
                    "choose another method for this intervention"
                )
        if iv.action == "counter":
            registry.model(iv.model)
    elif iv.method == "between" and int(world.columns["community"].max(initial=-1)) < 0:
        raise BadParameterError(
            "remove-edges:F:between cuts edges between communities, and this world has none yet: "
            "run 'agora analyze' first, or use remove-edges:F:random"
        )


def schedule(world: World, iv: Intervention, start_tick: int) -> dict[str, Any]:
    """Add ``iv`` to the world's pending interventions, at ``start_tick + iv.tick`` (the next tick to run
    when ``iv.tick`` is None); returns the entry."""
    at = int(world.tick) if iv.tick is None else max(int(world.tick), int(start_tick) + iv.tick)
    entry: dict[str, Any] = {"at": at, "action": iv.action, "spec": iv.action_text(), "applied": False}
    listed = entries(world)
    if CONFIG_KEY not in world.config or not isinstance(world.config.get(CONFIG_KEY), list):
        world.config[CONFIG_KEY] = listed = []
    listed.append(entry)
    return entry


def due(world: World, tick: int) -> list[dict[str, Any]]:
    """Pending interventions to apply at ``tick``, in the order given."""
    return [e for e in entries(world) if not e.get("applied") and int(e.get("at", 0)) <= tick]


def choose(sim: Any, entry: dict[str, Any], tick: int) -> np.ndarray | None:
    """The agents a pending ``block`` selects at ``tick`` (None for another action): the heavy part of
    :func:`apply`, which a live world runs in a worker thread with its ticks held."""
    iv = stored(str(entry.get("spec", "")))
    return _choose(sim, iv, tick) if iv.action == "block" else None


def apply(sim: Any, entry: dict[str, Any], tick: int, chosen: np.ndarray | None = None) -> dict[str, Any]:
    """Carry out one pending intervention on ``sim`` (a :class:`sim.engine.simulation.Simulation`) at
    ``tick`` and record what it did in the entry. A counter-message that would pass the simulation's
    ``max_messages`` (set by a server) is not started: the entry is applied with ``skipped``, the sentence why.
    ``chosen``: a block's agents, chosen already (:func:`choose`).

    Raises:
        BadParameterError: the intervention cannot be carried out on the world as it is now.
    """
    world = sim.world
    iv = stored(str(entry.get("spec", "")))
    if iv.action == "block":
        if chosen is None:
            chosen = _choose(sim, iv, tick)
        blocked = blocked_mask(world)
        fresh = chosen if blocked is None else chosen[~blocked[chosen]]
        entry["agents"] = world.columns["ids"][chosen].tolist()
        entry["blocked"] = int(fresh.size)
        entry["applied"] = True
        forget_blocked(world)
        for s in world.sessions:
            if s.status == "running":
                s.block(np.sort(fresh).astype(np.int32))
    elif iv.action == "counter" and _messages_full(sim):
        # A served world's message bound (--max-messages) holds for counter-messages too: skipped, and said.
        entry["skipped"] = (
            f"the world held {len(world.messages):,} messages, the most the server allows ({sim.max_messages:,}, "
            "--max-messages): the counter-message was not started"
        )
        entry["applied"] = True
    elif iv.action == "counter":
        rivals = [s for s in world.sessions if s.status in ("queued", "running")]
        spec = SeedSpec.parse(iv.seeds)
        priority = max((s.priority for s in rivals), default=0) + 1
        base = rivals[0].seed if rivals else 0
        # The same model as the message it counters runs with that message's parameters.
        same = next((s for s in rivals if s.model_name == iv.model), None)
        counter = sim.inject(
            iv.text or COUNTER_TEXT,
            seeds=str(spec),
            model=iv.model,
            params=dict(same.params) if same is not None else None,
            priority=min(priority, 2**31 - 1),
            seed=(int(base) + COUNTER_SEED_OFFSET) % (2**63),
            actor="intervention",
            journal=False,  # made again when its intervention is, after a crash
        )
        counter.rivals = tuple(s.id for s in rivals)
        for s in rivals:
            s.rivals = (*s.rivals, counter.id)
        entry["session"] = counter.id
        entry["rivals"] = list(counter.rivals)
        entry["applied"] = True
    else:
        entry["edges"] = _cut_edges(world, iv, tick)
        entry["applied"] = True
    entry["tick"] = tick
    return entry


def _messages_full(sim: Any) -> bool:
    """Whether the world holds as many messages as its server allows (``sim.max_messages``; no bound when
    the simulation has none, as in ``agora run``)."""
    bound = getattr(sim, "max_messages", None)
    return bound is not None and len(sim.world.messages) >= int(bound)


def _choose(sim: Any, iv: Intervention, tick: int) -> np.ndarray:
    """The agents a ``block`` selects (int64 indices)."""
    world = sim.world
    spec = SeedSpec.parse(iv.seeds)
    if spec.kind == "method":
        # A method that reads the model chooses for the message running first (ic with its defaults if none).
        running = sorted(
            (s for s in world.sessions if s.status in ("running", "queued")), key=lambda s: (-s.priority, s.id)
        )
        model, params = (running[0].model_name, running[0].params) if running else ("ic", {})
        request = SeedChoice.parse(
            {"method": spec.method, "k": spec.k, "model": model, "params": dict(params), "seed": world.seed + tick},
            sim.registry,
        )
        return method_seeds(world, sim.registry, request, sim.spread_for(model, request.params))
    return spec.select(world, world_rng(world.seed, STREAM_INTERVENE, tick, 1)).astype(np.int64)


def _cut_edges(world: World, iv: Intervention, tick: int) -> int:
    """Cut ``iv.fraction`` of the edges (all, or those between communities), chosen from the world's seed and
    the tick; merged into the graph at once. Returns how many were cut."""
    g = world.graph
    e = int(g.num_edges)
    if e == 0:
        return 0
    src = np.repeat(np.arange(g.n, dtype=np.int32), np.diff(g.out_indptr))
    if iv.method == "between":
        comm = world.columns["community"]
        pool = np.flatnonzero((comm[src] != comm[g.out_indices]) & (comm[src] >= 0) & (comm[g.out_indices] >= 0))
    else:
        pool = np.arange(e, dtype=np.int64)
    m = int(round(iv.fraction * pool.size))
    if m == 0:
        return 0
    cut = np.sort(world_rng(world.seed, STREAM_INTERVENE, tick, 2).choice(pool, size=m, replace=False))
    world.delta.unfollow(src[cut], g.out_indices[cut])
    world.merge_delta()
    return m


def applied(world: World, since: int = 0) -> list[dict[str, Any]]:
    """The interventions applied at or after tick ``since``, as reports show them (ticks relative to
    ``since``; block lists are summarised by their count)."""
    out = []
    for e in entries(world):
        if not e.get("applied") or int(e.get("tick", e.get("at", 0))) < since:
            continue
        row = {k: v for k, v in e.items() if k != "agents"}
        row["tick"] = int(e.get("tick", e.get("at", 0))) - since
        row.pop("at", None)
        row.pop("applied", None)
        if e.get("action") == "block":
            row["agents"] = len(e.get("agents") or [])
        out.append(row)
    return out
