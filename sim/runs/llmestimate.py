"""The cost of an LLM session before it runs: the dry run behind :class:`sim.llm.estimate.LLMEstimate`.

:func:`estimate_session` runs what an :class:`~sim.engine.requests.Ensemble` asks for (one persisted run, or
``runs`` runs) on copies of the world, each tick through the engine as the real run goes, with the counting
double :class:`sim.llm.estimate.DryRunService` in place of the LLM service (see :mod:`sim.llm.estimate`).
The world and its file are never touched: a fork holds the clock, sessions, columns and memory the dry run
changes; the response cache is read only.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import os
import time

from sim.core.world import World
from sim.engine.requests import Ensemble
from sim.engine.simulation import Simulation
from sim.errors import BadParameterError
from sim.llm import local
from sim.llm.config import LLMConfig
from sim.llm.estimate import (
    DryRunService,
    LLMEstimate,
    Tally,
    TokenProfile,
    at_load,
    build_estimate,
    profile_for,
)
from sim.model.registry import Registry
from sim.runs.runner import schedule_interventions

#: The parameter that marks a model with LLM agents (the built-in ``llm`` model's).
LLM_PARAM = "llm_agents"


def asks_the_llm(world: World, request: Ensemble, registry: Registry) -> bool:
    """Whether the run has a session of a model with LLM agents: the injected message's, or an unfinished one."""
    names = [request.message.model] if request.message is not None else []
    names += [s.model_name for s in world.sessions if s.status in ("queued", "running")]
    for name in names:
        try:
            if LLM_PARAM in registry.model(name).params:
                return True
        except Exception:  # an unknown model is the run's to refuse, in its own words
            continue
    return False


def estimate_session(
    world: World,
    request: Ensemble,
    *,
    registry: Registry,
    profile: TokenProfile | None = None,
    config: LLMConfig | None = None,
    served_locally: bool | None = None,
) -> LLMEstimate:
    """The LLM cost of running ``request`` on ``world``, from a dry run (see the module docstring). ``profile``:
    how the model counts and answers (None: :func:`sim.llm.estimate.profile_for` the configured model).
    ``config``, ``served_locally``: the LLM configuration in use and whether the local model serves it (a live
    world's; None: the world's settings with the request's, as a run resolves them).

    Raises:
        BadParameterError: the run has no session of a model with LLM agents, or a bad setting or message.
    """
    if not asks_the_llm(world, request, registry):
        raise BadParameterError(
            "the run has no session with LLM agents, so there is nothing to estimate: inject a message spread by "
            "llm (or another propagation model with LLM agents), or continue a world whose running session is one"
        )
    if config is None:
        config = local.planned_config(world.config.get("llm"), request.llm)
    is_local = local.split(request.llm)[0] is not None if served_locally is None else served_locally
    if profile is None:
        profile = profile_for(config, world.llm_cache if config.cache else None, local=is_local)
        if is_local:  # served on this machine: as fast as the load leaves it
            profile = at_load(profile, os.getloadavg()[0], os.cpu_count() or 1)
    tally = Tally()
    runs = request.runs or 1
    ticks = 0
    seconds = 0.0
    slowest = 0.0
    t0 = time.perf_counter()
    for r in range(runs):
        fork = world.fork()
        if request.runs is None:  # a persisted run speaks with the world's own personas (an ensemble's forks don't)
            fork._persona_loader = world._persona_loader
        service = DryRunService(fork, config, profile, tally)
        sim = Simulation(fork, registry=registry, llm=service, plugin_budget=request.plugin_budget)
        if request.social:
            sim.social.configure(**dict(request.social))
        if request.message is not None:
            message = dataclasses.replace(request.message, seed=request.message.seed + r)
            s = sim.inject(message, journal=False, audit=False)
            if s.status == "failed":
                raise BadParameterError(f"model {message.model!r} could not be used: {s.error}", fields="model")
            schedule_interventions(sim, s, request.interventions)
        tally.last_answer = 0.0
        done = 0
        # Once nothing changes with time (no session left, no intervention waiting, no living network) the ticks
        # left ask nothing: the dry run ends there.
        while done < request.limit and not sim.still and not (request.until_done and sim.idle):
            t = time.perf_counter()
            sim.step_now()
            service.clock += time.perf_counter() - t
            done += 1
            service.tick_seconds = service.clock / done
        ticks += done
        seconds += max(service.clock, tally.last_answer)
        slowest = max(slowest, tally.last_answer - service.clock)
    notes = []
    if config.mode == "offline":
        notes.append(
            f"as configured the run sends nothing ({config.why_offline}): these are the figures of the same run "
            "with a server"
        )
    if slowest > request.llm_wait:
        notes.append(
            f"the last answers land about {slowest:.0f} s after a run's last tick, but a run waits "
            f"{request.llm_wait:g} s for them: the rest are cancelled and fall back (and are not counted); "
            "wait longer to get them all"
        )
    if tally.over_budget:
        notes.append(
            f"{tally.over_budget:,} requests were over their tick's budget: those agents decide by the rule and "
            "their texts are written offline"
        )
    return build_estimate(
        config,
        profile,
        tally,
        local=is_local,
        mode=config.mode,
        runs=runs,
        ticks=ticks,
        seconds=seconds,
        dry_run_seconds=time.perf_counter() - t0,
        notes=tuple(notes),
    )


async def aestimate_session(
    world: World,
    request: Ensemble,
    *,
    registry: Registry,
    profile: TokenProfile | None = None,
    config: LLMConfig | None = None,
    served_locally: bool | None = None,
) -> LLMEstimate:
    """:func:`estimate_session` in a worker thread (the event loop stays free)."""
    return await asyncio.to_thread(
        functools.partial(
            estimate_session,
            world,
            request,
            registry=registry,
            profile=profile,
            config=config,
            served_locally=served_locally,
        )
    )
