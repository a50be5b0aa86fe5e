"""The cost of an LLM session before it runs: the dry run behind :class:`sim.llm.estimate.LLMEstimate`.

:func:`estimate_session` runs what an :class:`~sim.engine.requests.Ensemble` asks for (one persisted run, or
``runs`` runs) on copies of the world, each tick through the engine as the real run goes, with the counting
double :class:`sim.llm.estimate.DryRunService` in place of the LLM service (see :mod:`sim.llm.estimate`).
The world and its file are never touched: a fork holds the clock, sessions, columns and memory the dry run
changes; the response cache is read only.

A live world's estimate (:mod:`sim.live.estimates`) runs it in a thread of its own on a copy taken between two
ticks: ``stop`` ends it between two ticks, ``progress`` follows it, and :func:`dry_run_work` weighs it before it
starts.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import os
import threading
import time
from collections.abc import Callable

from sim.core.world import World
from sim.engine.requests import Ensemble
from sim.engine.simulation import Simulation
from sim.errors import AgoraError, BadParameterError
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
#: What one round of a dry run costs beside its arrays, counted as the array elements it would handle in that
#: time: a round (the tick's own work, or one session advanced) costs 0.5 to 2 ms of Python here (an ic session
#: to a SIR one), where an element of an agent or edge array costs about 1 ns (docs/api.md, "LLM estimates").
ROUND_OVERHEAD = 2_000_000


class EstimateCancelledError(AgoraError):
    """A dry run stopped between two ticks because its ``stop`` was set."""


def dry_run_work(world: World, steps: int, *, runs: int = 1, max_running: int = 16) -> tuple[int, int, int]:
    """What a dry run of ``steps`` ticks (``runs`` times) on ``world`` costs, before it starts: ``(work, rounds,
    size)`` with ``work = runs × steps × rounds × size``. Each tick is ``rounds`` rounds, the tick's own (who is
    online, feeds, the living network) and one per session it advances: the estimated message's and the world's
    queued or running ones, at most ``max_running`` at once; a round handles the world's agent and edge arrays at
    most, ``size = agents + edges +`` :data:`ROUND_OVERHEAD`. Measured here, a unit costs 0.1 ns (a still world) to
    1.4 ns (SIR sessions on a living network): the measure is an upper bound of the array work."""
    live = sum(1 for s in world.sessions if s.status in ("queued", "running"))
    rounds = 1 + min(max(1, int(max_running)), live + 1)
    size = int(world.n) + int(world.num_edges) + ROUND_OVERHEAD
    return runs * steps * rounds * size, rounds, size


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


def _notes(config: LLMConfig, tally: Tally, slowest: float, llm_wait: float) -> tuple[str, ...]:
    """What an estimate says beside its figures: a run that sends nothing as configured, answers that land after
    the run stops waiting, requests over their tick's budget."""
    notes = []
    if config.mode == "offline":
        notes.append(
            f"as configured the run sends nothing ({config.why_offline}): these are the figures of the same run "
            "with a server"
        )
    if slowest > llm_wait:
        notes.append(
            f"the last answers land about {slowest:.0f} s after a run's last tick, but a run waits "
            f"{llm_wait:g} s for them: the rest are cancelled and fall back (and are not counted); "
            "wait longer to get them all"
        )
    if tally.over_budget:
        notes.append(
            f"{tally.over_budget:,} requests were over their tick's budget: those agents decide by the rule and "
            "their texts are written offline"
        )
    return tuple(notes)


def estimate_session(
    world: World,
    request: Ensemble,
    *,
    registry: Registry,
    profile: TokenProfile | None = None,
    config: LLMConfig | None = None,
    served_locally: bool | None = None,
    stop: threading.Event | None = None,
    progress: Callable[[int], None] | None = None,
    owned: bool = False,
) -> LLMEstimate:
    """The LLM cost of running ``request`` on ``world``, from a dry run (see the module docstring). ``profile``:
    how the model counts and answers (None: :func:`sim.llm.estimate.profile_for` the configured model).
    ``config``, ``served_locally``: the LLM configuration in use and whether the local model serves it (a live
    world's; None: the world's settings with the request's, as a run resolves them). ``stop``: set, the dry run
    ends before its next tick; ``progress``: called with the ticks run so far after each. ``owned``: ``world``
    is a copy given to this call, which a single run uses as it is (no second copy).

    Raises:
        BadParameterError: the run has no session of a model with LLM agents, or a bad setting or message.
        EstimateCancelledError: ``stop`` was set.
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
        fork = world if owned and runs == 1 else world.fork()
        if request.runs is None and fork is not world:  # a persisted run speaks with the world's own personas
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
            if stop is not None and stop.is_set():
                raise EstimateCancelledError(f"the estimate was cancelled after {ticks + done:,} ticks of its dry run")
            t = time.perf_counter()
            sim.step_now()
            service.clock += time.perf_counter() - t
            done += 1
            service.tick_seconds = service.clock / done
            if progress is not None:
                progress(ticks + done)
        ticks += done
        seconds += max(service.clock, tally.last_answer)
        slowest = max(slowest, tally.last_answer - service.clock)
    notes = _notes(config, tally, slowest, request.llm_wait)
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
        notes=notes,
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
