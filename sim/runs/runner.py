"""Headless runs: one cascade persisted into its world, or the same cascade repeated R times.

Used by ``agora run`` (and by sweeps). Repeated runs start from the same world state each time
(``World.fork``) with session seeds ``seed, seed+1, ...`` and never modify the world file.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from sim.analysis.bygroup import By, groups_of, session_new_by
from sim.core.cascade import Forest, cascade_stats
from sim.core.stats import mean_ci95
from sim.core.tracebacks import one_line, plugin_location, plugin_traceback
from sim.core.world import World
from sim.engine import intervene
from sim.engine.intervene import check as check_intervention
from sim.engine.observe import Monitor
from sim.engine.requests import Ensemble, Inject
from sim.engine.seeding import resolve_seeds
from sim.engine.simulation import Simulation
from sim.errors import BadParameterError
from sim.llm import local
from sim.llm.config import LLMConfig
from sim.llm.service import LLMService, llm_report
from sim.model.guard import plugin_budget as plugin_budget_seconds
from sim.model.imports import Imports
from sim.model.intervene import Intervention
from sim.model.registry import Registry
from sim.model.seeds import SeedSpec
from sim.model.series import SeriesColumns, series_dict
from sim.model.session import PropagationSession
from sim.runs import batched
from sim.runs.reports import (
    TOTALS,
    EnsembleReport,
    FirstFailure,
    RecommenderError,
    RunEntry,
    RunSeries,
    SocialInfo,
    Totals,
    interval,
    no_totals,
)
from sim.runs.reports import series_records as series_records  # where the ensemble's callers find it
from sim.runs.results import EnsembleResult, Failure, Run, take_trees
from sim.runs.transport import default_workers, fork_available, map_forked
from sim.store.writer import WorldWriter

Progress = Callable[[str, float], None] | None


def _status(failed: bool, stopped_by_limit: bool, goes_on: bool) -> str:
    """A run's ``status``: ``failed``; ``max-ticks`` (the session still runs: the limit stopped it, not the
    model); ``running`` (``--steps`` ran out first: the world file keeps the session running); ``completed``."""
    if failed:
        return "failed"
    if stopped_by_limit:
        return "max-ticks"
    return "running" if goes_on else "completed"


def run_entry(
    sim: Simulation,
    session_id: int | None,
    ticks: int,
    seconds: float,
    totals: Totals,
    *,
    until_done: bool = False,
    ensemble: bool = False,
    tree: bool = False,
    persisted: bool = False,
    by: tuple[By, ...] = (),
) -> RunEntry:
    """One run as ``agora run --json`` reports it: every room that steps a world under a request (an ensemble's
    runs, a forecast's branches) reports its run through this one door, so that the fields agree.

    ``cascade`` holds the measures of the run's adoption forest (``sim.core.cascade``; None for a failed
    run and for a model that names no sources); with ``tree``, ``tree`` holds the forest itself as arrays
    (:func:`tree_arrays`), for ``--cascades``.

    ``status`` is ``completed`` (the model ended, or, in an ensemble, ``--steps`` ran out: ``ended`` says
    which), ``running`` (``persisted`` into its world file, where ``--steps`` ran out first and the session goes
    on), ``max-ticks`` (``--until-done`` stopped at ``--max-ticks``) or ``failed``: the model raised or broke the
    contract, or, in an ensemble, a recommender that fed the run failed (``error``: one line; ``traceback``: the
    plugin's frames; ``where``: its ``file:line``)."""
    out: RunEntry = {"ticks": ticks, "seconds": round(seconds, 4), **totals}
    if session_id is None:
        return out
    s = sim.session(session_id)
    error, tb = s.error, s.traceback
    failed = s.status == "failed"
    recommender = None
    if not failed and ensemble and sim.social.errors:
        # A run fed by a recommender that failed measured a run without it: that is no result.
        key = next(iter(sim.social.errors))
        recommender = key.removeprefix("friend:")
        role = "friend recommender" if key.startswith("friend:") else "recommender"
        said = sim.social.errors[key]
        # The engine's refusal names the recommender already; anything the recommender raised does not.
        error = (
            said.removeprefix("RecommenderFailure: ")
            if said.startswith("RecommenderFailure: ")
            else f"{role} {recommender!r} failed: {said}"
        )
        tb = sim.social.tracebacks.get(key) or None
        failed = True
    out.update(
        {
            "session": s.id,
            "status": _status(failed, until_done and not sim.idle, persisted and not s.done),
            "session_status": s.status,
            "ended": s.status == "completed",
            "reached": s.reached,
            "exposed": s.exposed_count,
            "graph_reached": s.graph_reached,
            "feed_reached": s.feed_reached,
            "feed_exposed": s.feed_exposed,
            "seeds": s.seeds_count,
            "attempts": s.attempts,
            "rounds": s.round,
            "peak_tick": s.peak_tick,
            "reproduction_number": round(s.mean_offspring, 4),
            "edges_removed": s.edges_removed,
            "edges_added": s.edges_added,
            "new_per_tick": s.new_per_tick,
            "series": series_dict(s),
            "error": one_line(error) if failed else None,
            "where": plugin_location(tb) if failed else None,
            "traceback": plugin_traceback(tb) if failed else None,
        }
    )
    out["cascade"] = None if failed else s.cascade()
    done = intervene.applied(sim.world, since=s.created_tick)
    if done or s.immune or s.rivals:
        counters = []
        for row in done:
            if row.get("action") == "counter" and row.get("session") is not None:
                counter = sim.session(int(row["session"]))
                row["reached"] = counter.reached
                row["status"] = counter.status
                counters.append(counter)
        out["interventions"] = done
        out["immune"] = s.immune
        if counters and out["series"].get("tick"):
            out["series"].update(_counter_series(s, counters, len(out["series"]["tick"])))
    rounds = list(out["series"].get("tick") or [])
    if by and rounds and s.started_tick is not None:
        for b in by:  # new infections a tick by group, on the series' ticks (rounds from the session's start)
            counts = session_new_by(sim.world, s, b, int(s.started_tick) + int(rounds[0] or 0), len(rounds))
            out["series"].update({k: v.tolist() for k, v in counts.items()})
    out["series_columns"] = SeriesColumns.of(out["series"], s.state_names).to_dict()
    if tree:
        forest = None if failed else s.forest()
        out["tree"] = None if forest is None else tree_arrays(forest, s.started_tick or 0, sim.world.columns["ids"])
    if recommender is not None:
        out["recommender"] = recommender
    if failed:
        out["reached"] = out["peak_tick"] = None  # a failed run is never a number (its series shows how far it got)
    return out


def _counter_series(s: PropagationSession, counters: list[PropagationSession], length: int) -> RunSeries:
    """``counter.reached`` and ``counter.new``: the counter-messages' adoptions (summed) on the ticks of
    session ``s``'s series (0 before a counter started, its final reach after it ended)."""
    reached = np.zeros(length, dtype=np.int64)
    for c in counters:
        if c.started_tick is None or s.started_tick is None:
            continue
        curve = np.cumsum(np.asarray(c.new_per_tick, dtype=np.int64))
        at = np.arange(length) - (int(c.started_tick) - int(s.started_tick))  # the counter's own round
        ok = at >= 0
        if curve.size:
            reached[ok] += curve[np.minimum(at[ok], curve.size - 1)]
    new = np.diff(reached, prepend=0)
    return {"counter.reached": reached.tolist(), "counter.new": new.tolist()}


def schedule_interventions(sim: Simulation, s: PropagationSession, listed: tuple[Intervention, ...]) -> None:
    """Schedule a run's interventions, their ticks counted from the injection of session ``s``."""
    for iv in listed:
        # Part of the command's own injection: held by the checkpoint that follows it (or rolled back with it).
        sim.intervene(iv, start_tick=s.created_tick, model=s.model_name, journal=False)


def tree_arrays(forest: Forest, started_tick: int, ids: np.ndarray) -> dict[str, np.ndarray]:
    """A forest as the columns ``--cascades`` writes, in forest order (generation by generation): ``agent``
    and ``source`` by original id (``ids``, the world's id column), ``root`` (True where the agent has no
    source: ``source`` means nothing there), ``tick`` counted from the session's start (0 is the seeding)
    and ``generation`` (0 for roots)."""
    ticks = forest.ticks if forest.ticks is not None else np.zeros(forest.size, dtype=np.int64)
    src = forest.source_agents()
    root = src < 0
    return {
        "agent": ids[forest.agents].astype(np.int64),
        "source": np.where(root, 0, ids[np.maximum(src, 0)]).astype(np.int64),
        "root": root,
        "tick": ticks.astype(np.int64) - int(started_tick),
        "generation": forest.generation.astype(np.int64),
    }


class LlmCounts(dict[str, Any]):
    """LLM counters by name (``calls``, ``tokens_in``, ``errors``: a mapping by kind, ...): one run's
    (:meth:`sim.llm.service.LLMService.stats`), or an ensemble's summed over its runs (text fields: the
    latest run's)."""


def _add_llm(totals: LlmCounts, stats: LlmCounts, times: int = 1) -> None:
    """Sum one run's LLM counters into ``totals`` (text fields: the latest run's), ``times`` over (runs that
    all counted the same: a batched ensemble's, which count its probe's)."""
    for k, v in stats.items():
        if (
            isinstance(v, (int, float))
            and not isinstance(v, bool)
            and k not in ("servers", "budget_per_tick", "mean_latency_ms")
        ):
            totals[k] = totals.get(k, 0) + v * times
        elif k != "errors":
            totals[k] = v
    errors = totals.setdefault("errors", {})
    for k, v in stats.get("errors", {}).items():
        errors[k] = errors.get(k, 0) + v * times


async def run_cascades(
    world: World,
    request: Ensemble | None = None,
    /,
    *,
    registry: Registry,
    writer: WorldWriter | None = None,
    progress: Progress = None,
    monitor: Monitor | None = None,
    **fields: object,
) -> EnsembleReport:
    """:func:`run_ensemble`'s result as its report: the shape ``agora run --json`` prints, each run's ``tree``
    (arrays, with ``trees``) in its entry. The report shares the result's entries (no copy)."""
    if request is None:
        request = Ensemble.parse(fields, registry)
    elif fields:
        raise TypeError(f"run_cascades() takes an Ensemble request or keywords, not both ({', '.join(fields)})")
    result = await run_ensemble(world, request, registry=registry, writer=writer, progress=progress, monitor=monitor)
    return result.report(trees=True)


async def run_ensemble(
    world: World,
    request: Ensemble,
    /,
    *,
    registry: Registry,
    writer: WorldWriter | None = None,
    progress: Progress = None,
    monitor: Monitor | None = None,
    source: str = "",
) -> EnsembleResult:
    """Run the simulation headless: one run persisted through ``writer``, or an ensemble of ``request.runs``;
    its typed result (:class:`~sim.runs.results.EnsembleResult`, ``source`` the world file's path), whose
    ``to_dict()`` is what ``agora run --json`` prints.

    ``request`` is an :class:`~sim.engine.requests.Ensemble` (:func:`run_cascades` also takes its fields as
    keywords). Its ``social`` changes the living-network settings for this run only (see
    ``sim.social.dynamics``); the world's
    own settings are kept in its file. ``llm`` overrides LLM settings for this run (see ``sim.llm.config``);
    at the end of each run, LLM answers still in flight get ``llm_wait`` seconds to land before they are
    cancelled (and fall back), so the texts they carry are in the world file.

    ``monitor`` (a :class:`sim.engine.observe.Monitor`) follows each run's simulation while it runs
    (``attach`` after it is made, ``finish`` when its ticks are done, ``detach`` at the end).
    The request's ``ticks_per_second`` paces the ticks (None: as fast as possible). ``plugin_budget``: seconds one
    plugin call may take before its session fails (None: ``$AGORA_PLUGIN_BUDGET`` or 10; see ``Simulation``).

    A persisted run (a ``writer`` and no ``runs``) checkpoints the world into its file right after the
    injection, every ``checkpoint_every`` ticks and every ``checkpoint_seconds`` seconds (whichever comes
    first; None or 0 turns either off) and at the end, so a crash loses at most the ticks since the last
    checkpoint (see ``sim.store.check``).

    An ensemble (``runs``) that nobody watches (no monitor, no pacing, no LLM server) runs each run as a
    tight loop: every tick in the calling thread (:meth:`Simulation.step_now`: no thread hop, plugin code
    under a timer, who is online drawn only if read), on a fork that shares the world's arrays when the
    living network is off. ``workers`` > 1 spreads the runs over that many forked processes (Linux; None:
    one per CPU); each run's result is the same whichever process runs it.

    ``intervene`` lists interventions (``TICK:ACTION``, :mod:`sim.model.intervene`), TICK counted from the
    injection; every run applies them and reports them in ``interventions``.

    ``kernel`` chooses how an ensemble runs: ``engine`` ticks every run through the engine; ``batched``
    computes the runs in a compiled kernel (:mod:`sim.runs.batched`: the built-in ``ic``, ``lt`` and ``sir``
    on a world where nothing else moves; an ``ic`` or ``sir`` run draws what the engine draws and is the
    engine's run of its seed, an ``lt`` run draws its thresholds its own way, the same law); ``auto`` batches
    where it can (``ic`` and ``sir`` from :data:`sim.runs.batched.AUTO_RUNS` runs). The report's ``kernel``
    says which ran (and ``kernel_reason`` why not batched).

    Every run reports ``cascade``, the measures of its adoption forest; with ``trees`` it also carries
    ``tree``, the forest's arrays (:func:`tree_arrays`), and the report ``cascade`` has their mean and
    interval over the runs (:func:`sim.core.cascade.cascade_stats`).

    Raises:
        BadParameterError: inconsistent options (bad model, parameter or seeds are reported by inject;
            bad social settings by ``Social.configure``).
        CheckpointError: a checkpoint could not be written (a full disk); the file keeps the previous one.
    """
    # The local model (``local`` in ``request.llm``) is served for the whole command and stopped at its end.
    async with local.serving(world.config.get("llm"), request.llm) as config:
        return await _run_ensemble(
            world, request, config, registry=registry, writer=writer, progress=progress, monitor=monitor, source=source
        )


async def _run_ensemble(
    world: World,
    request: Ensemble,
    config: LLMConfig,
    *,
    registry: Registry,
    writer: WorldWriter | None,
    progress: Progress,
    monitor: Monitor | None,
    source: str,
) -> EnsembleResult:
    """:func:`run_ensemble` under the resolved LLM ``config``."""
    message, runs = request.message, request.runs
    llm_totals = LlmCounts()
    # An ensemble's worlds are forks that nothing keeps: with the offline generator their post texts would
    # be written and thrown away (about 40 % of a run at 100,000 agents). Texts from a server are kept:
    # their calls, tokens and cost are what the report is for.
    skip_texts = runs is not None and config.mode != "online" and config.texts_per_tick > 0
    run_config = dataclasses.replace(config, texts_per_tick=0) if skip_texts else config
    model = message.model if message is not None else "ic"
    seeds = str(message.seeds) if message is not None else "random:10"
    if runs is not None and message is not None and message.text:
        message = _chosen_once(world, registry, message)
    _refuse_parallel(request, monitor, run_config)

    def report(results: list[RunEntry], social_info: SocialInfo, params: dict[str, object]) -> EnsembleResult:
        out = _report(world, results, social_info, llm_totals, skip_texts, model, params, seeds, runs, writer)
        out.source = source
        return out

    for by in request.by:  # a column the world lacks is refused before any run
        groups_of(world, by)
    if runs is not None and monitor is None and not request.ticks_per_second and run_config.mode != "online":
        assert message is not None  # Ensemble.parse: runs repeat an injected message
        ensemble = EnsembleRuns(world, registry, request, message, run_config)
        model_params = ensemble.check(request.kernel, request.auto_runs or runs)
        results, social_info = await ensemble.run(runs, request.workers, progress, llm_totals)
        out = report(results, social_info, model_params)
        out.kernel = "batched" if ensemble.batched else "engine"
        out.kernel_reason = ensemble.reason
        return out
    if request.kernel == "batched":
        raise BadParameterError(
            "kernel batched runs an ensemble that nobody watches: give runs R, without metrics, "
            "ticks_per_second or an LLM server",
            fields=("kernel", "runs", "metrics", "ticks_per_second"),
        )
    watched = _Watched(world, registry, request, message, run_config, writer, monitor)
    results, sim, model_params = await watched.run(progress, llm_totals)
    return report(results, _social_info(sim), model_params)


def _chosen_once(world: World, registry: Registry, message: Inject) -> Inject:
    """``message`` with a seed method's selection (``ris:50``) chosen once for all the runs of an ensemble,
    not once a run, as ``ids:...`` (:func:`resolve_seeds`); any other message unchanged."""
    if message.seeds.kind != "method":
        return message
    chosen = resolve_seeds(
        world,
        registry,
        str(message.seeds),
        message.model,
        dict(message.params),
        lambda clean: Simulation(world, registry=registry).spread_for(message.model, clean),
    )
    return dataclasses.replace(message, seeds=SeedSpec.parse(chosen))


def _refuse_parallel(request: Ensemble, monitor: Monitor | None, config: LLMConfig) -> None:
    """Refuse ``workers`` for an ensemble whose runs must go one at a time.

    Raises:
        BadParameterError: naming what makes the runs go one at a time.
    """
    if request.runs is None or request.workers in (None, 1):
        return
    if monitor is None and not request.ticks_per_second and config.mode != "online":
        return
    why, field = (
        ("metrics (a monitor) follows one run at a time", ("metrics",))
        if monitor is not None
        else ("ticks_per_second paces one run at a time", ("ticks_per_second",))
        if request.ticks_per_second
        else ("runs with an LLM server share its budget", ())
    )
    raise BadParameterError(
        f"workers runs an ensemble in parallel, but {why}: give one worker, or drop that option",
        fields=("workers", *field),
    )


def _interventions(request: Ensemble) -> list[str]:
    """The ensemble's interventions as the batched kernel's check and the reports name them."""
    return [str(iv) for iv in request.interventions]


class _Watched:
    """Runs that someone watches, one after the other through the engine's tick (a monitor, pacing, an LLM
    server), or the one run of a persisted ``agora run``, checkpointed into its file as it goes."""

    def __init__(
        self,
        world: World,
        registry: Registry,
        request: Ensemble,
        message: Inject | None,
        config: LLMConfig,
        writer: WorldWriter | None,
        monitor: Monitor | None,
    ) -> None:
        self.world, self.registry, self.request, self.message = world, registry, request, message
        self.config, self.writer, self.monitor = config, writer, monitor
        self.persisted = writer is not None and request.runs is None
        self.shared = False
        if request.runs is not None:
            # A run that changes no agent column and no trust (no living network) shares them with the world.
            probe = Simulation(world.fork(shared=True), registry=registry, llm=LLMService.offline(world))
            if request.social:
                probe.social.configure(**request.social)
            self.shared = not probe.social.living

    async def run(
        self, progress: Progress, llm_totals: LlmCounts
    ) -> tuple[list[RunEntry], Simulation, dict[str, object]]:
        """Every run in turn: their summaries, the last run's simulation and the model's typed parameters."""
        results = []
        model_params: dict[str, object] = dict(self.message.params) if self.message is not None else {}
        repeats = self.request.runs or 1
        sim = None
        for r in range(repeats):
            sim, summary, params = await self.run_one(r, repeats, progress, llm_totals)
            model_params = params or model_params
            results.append(summary)
        if self.monitor is not None:
            self.monitor.detach()
        assert sim is not None
        return results, sim, model_params

    def _simulation(self) -> Simulation:
        request = self.request
        w = self.world.fork(shared=self.shared) if request.runs is not None else self.world
        sim = Simulation(
            w,
            registry=self.registry,
            writer=None if request.runs is not None else self.writer,
            llm=LLMService(w, self.config),
            plugin_budget=request.plugin_budget,
        )
        if self.monitor is not None:
            self.monitor.attach(sim, sim.writer)
        if request.social:
            sim.social.configure(**request.social)
        return sim

    def _inject(self, sim: Simulation, r: int) -> PropagationSession:
        """Inject run ``r``'s message (session seed ``seed + r``) with its interventions; its session."""
        assert self.message is not None
        if r == 0:
            # A mistake in an intervention is refused before the message is injected: a refused command
            # leaves no trace in the world file (not even an audited injection).
            for iv in self.request.interventions:
                check_intervention(sim.world, self.registry, iv, self.message.model)
        s = sim.inject(
            dataclasses.replace(self.message, seed=self.message.seed + r),
            # agora run's injection is acknowledged by the checkpoint right after it (below): a crash
            # before that rolls it back (recorded), and the same command run again injects it again.
            journal=False,
        )
        if s.status == "failed":
            raise BadParameterError(f"model {self.message.model!r} could not be used: {s.error}")
        schedule_interventions(sim, s, self.request.interventions)
        return s

    async def run_one(
        self, r: int, repeats: int, progress: Progress, llm_totals: LlmCounts
    ) -> tuple[Simulation, RunEntry, dict[str, object] | None]:
        """Run ``r``: its simulation, summary and the model's typed parameters (None without a message)."""
        request = self.request
        sim = self._simulation()
        w = sim.world
        posts_before = len(w.posts)
        s = self._inject(sim, r) if self.message is not None else None
        if self.persisted and s is not None:
            await sim.checkpoint()  # the injected message is in the file before the first tick
        t0 = time.perf_counter()
        done = 0
        totals = no_totals()
        last_checkpoint, last_checkpoint_time = 0, time.perf_counter()
        limit, until_done = request.limit, request.until_done
        while done < limit and not (until_done and sim.idle):
            t_tick = time.perf_counter()
            m = await sim.step()
            for k in TOTALS:
                totals[k] += int(m.get(k, 0))
            done += 1
            if request.runs is not None and sim.social.errors:
                break  # a recommender failed: this run is failed (see run_entry), not run on without it
            if self.persisted and (
                (request.checkpoint_every and done - last_checkpoint >= request.checkpoint_every)
                or (
                    request.checkpoint_seconds
                    and time.perf_counter() - last_checkpoint_time >= request.checkpoint_seconds
                )
            ):
                await sim.checkpoint()
                last_checkpoint, last_checkpoint_time = done, time.perf_counter()
            if request.ticks_per_second:
                await asyncio.sleep(max(0.0, 1.0 / request.ticks_per_second - (time.perf_counter() - t_tick)))
            if progress:
                frac = (
                    (r + done / limit) / repeats
                    if not until_done
                    else (r + (1.0 if sim.idle else min(0.95, done / 200))) / repeats
                )
                progress(f"run {r + 1}/{repeats}, tick {done}", frac)
        if self.monitor is not None:
            self.monitor.finish()
        await sim.aclose(request.llm_wait)
        stats = LlmCounts(sim.llm.stats())
        stats["posts"] = len(w.posts) - posts_before
        _add_llm(llm_totals, stats)
        if self.persisted:
            await sim.checkpoint()
        summary = run_entry(
            sim,
            None if s is None else s.id,
            done,
            time.perf_counter() - t0,
            totals,
            until_done=until_done,
            ensemble=request.runs is not None,
            tree=request.trees,
            persisted=self.persisted,
            by=request.by,
        )
        summary["seed"] = (self.message.seed if self.message is not None else 0) + r
        if until_done and not sim.idle and summary.get("status") != "failed":
            summary["stopped"] = f"max ticks ({request.max_ticks}) reached before every session finished"
        if self.persisted:
            summary["recommender_errors"] = _recommender_errors(sim)
        return sim, summary, None if s is None else s.params


def check_ensemble(world: World, registry: Registry, request: Ensemble) -> None:
    """Refuse an ensemble before any run as :func:`run_cascades` would (a bad model, parameter, seed selection,
    social setting, or ``kernel="batched"`` for runs that cannot be batched), without running it: a sweep
    checks each combination's runs so, once, before its workers start.

    Raises:
        BadParameterError: one sentence.
    """
    assert request.message is not None and request.runs is not None
    config = local.planned_config(world.config.get("llm"), request.llm)
    EnsembleRuns(world, registry, request, request.message, config).check(
        request.kernel, request.auto_runs or request.runs
    )


def check_social_params(settings: Mapping[str, object], changes: Mapping[str, object]) -> None:
    """Refuse recommender parameters no recommender receives (``Social.configure`` keeps only the parameters
    of the recommenders in ``settings``).

    Raises:
        BadParameterError: naming the option and what to do.
    """
    for key, option in (("recommender_params", "recommender"), ("friend_params", "friend_recommender")):
        if changes.get(key) and settings[option] == "none":
            raise BadParameterError(
                f"{key} needs {option} NAME, and this world has none: add one, or drop the parameters",
                fields=(key, option),
            )


def _social_info(sim: Simulation) -> SocialInfo:
    """What the report says of the living network (from the last run's simulation)."""
    settings = sim.social.settings
    return {
        "living": sim.social.living,
        "recommender": settings["recommender"],
        "friend_recommender": settings["friend_recommender"],
        "feed_size": settings["feed_size"],
        "errors": dict(sim.social.errors),
    }


def _recommender_errors(sim: Simulation) -> list[RecommenderError]:
    """The recommenders that failed in a persisted run and were switched off (it ran on without them)."""
    out: list[RecommenderError] = []
    for key, error in sim.social.errors.items():
        tb = sim.social.tracebacks.get(key) or None
        out.append(
            {
                "recommender": key.removeprefix("friend:"),
                "role": "friend" if key.startswith("friend:") else "content",
                "error": one_line(error),
                "where": plugin_location(tb),
                "traceback": plugin_traceback(tb),
            }
        )
    return out


def first_failure(runs: list[RunEntry]) -> FirstFailure | None:
    """The first failed run of a report (its index, seed, error, plugin location and traceback), or None."""
    first = next((i for i, x in enumerate(runs) if x.get("status") == "failed"), None)
    if first is None:
        return None
    r = runs[first]
    return {
        "run": first,
        "seed": r.get("seed"),
        "error": r.get("error"),
        "where": r.get("where"),
        "traceback": r.get("traceback"),
    }


def _summed(runs: list[RunEntry]) -> Totals:
    """The living network's counters summed over ``runs``."""
    totals = no_totals()
    for k in TOTALS:
        totals[k] = sum(r[k] for r in runs)
    return totals


def _report(
    world: World,
    results: list[RunEntry],
    social_info: SocialInfo,
    llm_totals: LlmCounts,
    skip_texts: bool,
    model: str,
    model_params: dict[str, object],
    seeds: str,
    runs: int | None,
    writer: WorldWriter | None,
) -> EnsembleResult:
    """The result of every run. Statistics come from the runs that did not fail (``completed`` of them;
    ``max-ticks`` runs count, and are counted in ``stopped`` too): a failed run is never a number. Each run's
    ``tree`` (arrays, with ``trees``) is taken out of its entry, so that the entries stay JSON."""
    trees = take_trees(results)
    with_session = [x for x in results if "status" in x]
    ok = [x for x in with_session if x["status"] != "failed"]
    reached = [float(v) for x in ok if (v := x["reached"]) is not None]  # a run that did not fail has its reach
    mean, ci = interval(reached, 0, world.n)
    peak = [float(p) for x in ok if (p := x.get("peak_tick")) is not None]
    entries = [Run.from_dict(i, r) for i, r in enumerate(results)]
    return EnsembleResult(
        model=model,
        params=model_params,
        seeds=seeds,
        runs=entries,
        completed=len(ok),
        failed=len(with_session) - len(ok),
        stopped=sum(1 for x in ok if x.get("status") == "max-ticks"),
        mean_reached=mean,
        ci95=ci,
        mean_peak_tick=mean_ci95(peak)[0] if peak else None,
        agents=world.n,
        first_failure=Failure.first(entries),
        social={**social_info, **_summed(results)},
        llm={**llm_report(llm_totals), "texts_skipped": skip_texts},
        cascade=cascade_stats([x.get("cascade") for x in ok], world.n),
        edges=world.num_edges,
        tick=world.tick,
        persisted=runs is None and writer is not None,
        trees=trees,
    )


class EnsembleRuns:
    """The runs of an ensemble that nobody watches, each a tight loop (see :func:`run_cascades`): the one door
    through which a fit's simulations and a sweep's arms run one world under a request in this process.

    :meth:`check` validates the request once and chooses the kernel; then :meth:`run_one` runs one run on a
    fork of the world (the engine), :meth:`run_part` a share of the runs in the batched kernel.
    """

    def __init__(self, world: World, registry: Registry, request: Ensemble, message: Inject, config: LLMConfig) -> None:
        self.world, self.registry, self.request, self.message, self.config = world, registry, request, message, config
        self.social = dict(request.social)
        self.plugin_budget, self.seed = request.plugin_budget, message.seed
        self.limit, self.until_done, self.max_ticks = request.limit, request.until_done, request.max_ticks
        self.trees = request.trees
        self.shared = False
        self.batched = False
        self.reason: str | None = None
        self.probe: PropagationSession | None = None
        self.probe_stats = LlmCounts()
        self.probe_social: SocialInfo | None = None
        #: Importations into every run's session (a fit's imported cases: :mod:`sim.model.imports`), or None.
        self.imports: Imports | None = None

    def _simulation(self, shared: bool) -> Simulation:
        w = self.world.fork(shared=shared)
        sim = Simulation(
            w,
            registry=self.registry,
            llm=LLMService(w, self.config),
            plugin_budget=self.plugin_budget,
            plugins_in_thread=True,
        )
        if self.social:
            sim.social.configure(**self.social)
        return sim

    def check(self, kernel: str = "auto", runs: int = 1) -> dict[str, object]:
        """Validate the options once, before any run (in this process: a bad option is one sentence here,
        not one per worker), and choose the kernel (``batched`` where ``kernel`` allows and the ensemble
        of ``runs`` runs can: see :func:`sim.runs.batched.small`); returns the model's typed parameters.

        Raises:
            BadParameterError: a bad model, parameter, seed selection or social setting, or ``kernel``
                ``batched`` for an ensemble that cannot run batched.
        """
        sim = self._simulation(True)
        self.shared = not sim.social.living
        for key, error in sim.social.errors.items():  # the world names a recommender that cannot be made here
            role, name = (
                ("friend_recommender", key.removeprefix("friend:"))
                if key.startswith("friend:")
                else ("recommender", key)
            )
            raise BadParameterError(  # the fields first: the front end spells their first mention as it names them
                f"choose another {role} or load its folder with plugins DIR: the world's {name!r} cannot be used "
                f"({error})",
                fields=("plugins", role),
            )
        s = sim.inject(self.message)
        if s.status == "failed":
            raise BadParameterError(f"model {self.message.model!r} could not be used: {s.error}")
        s.imports = self.imports
        schedule_interventions(sim, s, self.request.interventions)
        sim.plugins.close()
        if kernel == "engine":
            self.reason = "--kernel engine"
        elif self.request.by:
            self.reason = "series by group (by) are counted on the engine"
            if kernel == "batched":
                raise BadParameterError(f"kernel batched cannot run this ensemble: {self.reason}; use kernel auto")
        else:
            self.reason = batched.why_not(
                sim.world, sim, s, self.registry.model(s.model_name), self.trees, _interventions(self.request)
            )
            if self.reason is not None and kernel == "batched":
                raise BadParameterError(
                    f"kernel batched cannot run this ensemble: {self.reason}; use kernel auto", fields="kernel"
                )
            if self.reason is None and kernel == "auto":
                self.reason = batched.small(s.model_name, runs)
        self.batched = self.reason is None
        if self.batched:
            self.probe = s
            self.probe_stats = LlmCounts(sim.llm.stats())
            self.probe_stats["posts"] = 0
            self.probe_social = _social_info(sim)
        return s.params

    def run_part(self, part: int, parts: int, repeats: int) -> list[RunEntry]:
        """Runs ``part * repeats // parts`` up to the next part's first, batched (one worker's share)."""
        lo, hi = part * repeats // parts, (part + 1) * repeats // parts
        assert self.probe is not None  # check() chose the batched kernel
        return batched.run_batched(
            self.world,
            probe=self.probe,
            seed=self.seed,
            runs=list(range(lo, hi)),
            limit=self.limit,
            until_done=self.until_done,
            max_ticks=self.max_ticks,
        )

    async def run_batched(
        self, repeats: int, workers: int | None, progress: Progress, llm_totals: LlmCounts
    ) -> tuple[list[RunEntry], SocialInfo]:
        """Every run batched, in this process or over ``workers`` forked processes (each a contiguous share
        of the runs: a run's result does not depend on its batch); summaries in run order."""
        assert self.probe is not None and self.probe_social is not None  # check() chose the batched kernel
        count = default_workers(repeats) if workers is None else max(1, min(int(workers), repeats))
        if count > 1 and fork_available():
            batched.warm(self.probe.model_name)  # compiled once, here: the workers share it

            def relay(finished: int, fraction: float) -> None:
                if progress:
                    progress(f"{finished}/{count} shares of {repeats} runs ({count} workers)", fraction)

            def share(i: int, _report: Callable[[float], None]) -> list[RunEntry]:
                return self.run_part(i, count, repeats)

            parts = await map_forked(share, count, count, progress=relay)
        else:
            if progress:
                progress(f"{repeats} runs batched", 0.0)
            parts = [self.run_part(0, 1, repeats)]
        results = [summary for part in parts for summary in part]
        if results:
            _add_llm(llm_totals, self.probe_stats, len(results))
        if progress:
            progress(f"{repeats} runs batched", 1.0)
        return results, self.probe_social

    def run_one(self, r: int, report: Callable[[float], None] | None = None) -> tuple[RunEntry, LlmCounts, SocialInfo]:
        """Run ``r`` (session seed ``seed + r``): its summary, LLM counters and living-network report."""
        sim = self._simulation(self.shared)
        w = sim.world
        posts_before = len(w.posts)
        s = sim.inject(dataclasses.replace(self.message, seed=self.seed + r))
        s.imports = self.imports
        schedule_interventions(sim, s, self.request.interventions)
        # Nothing reads the adoption records of a run nobody keeps (no world file; texts are off offline).
        s.record_events = self.config.texts_per_tick > 0
        t0 = time.perf_counter()
        done = 0
        totals = no_totals()
        limit, until_done = self.limit, self.until_done
        try:
            while done < limit and not (until_done and sim.idle):
                m = sim.step_now()
                for k in TOTALS:
                    totals[k] += int(m.get(k, 0))
                done += 1
                if sim.social.errors:
                    break  # a recommender failed: this run is failed (see run_entry)
                if report is not None:
                    report(done / limit if not until_done else (1.0 if sim.idle else min(0.95, done / 200)))
        finally:
            sim.plugins.close()
        stats = LlmCounts(sim.llm.stats())
        stats["posts"] = len(w.posts) - posts_before
        summary = run_entry(
            sim,
            s.id,
            done,
            time.perf_counter() - t0,
            totals,
            until_done=until_done,
            ensemble=True,
            tree=self.trees,
            by=self.request.by,
        )
        summary["seed"] = self.seed + r
        if until_done and not sim.idle and summary["status"] != "failed":
            summary["stopped"] = f"max ticks ({self.max_ticks}) reached before every session finished"
        return summary, stats, _social_info(sim)

    def stalled(self, r: int) -> tuple[RunEntry, LlmCounts, SocialInfo]:
        """The result of run ``r`` when its worker stopped answering (a plugin that could not be stopped)."""
        budget = plugin_budget_seconds(self.plugin_budget)
        summary: RunEntry = {
            "seed": self.seed + r,
            "status": "failed",
            "ticks": 0,
            "seconds": 0.0,
            **no_totals(),
            "error": f"PluginTimeout: the run stopped answering: a plugin ran past the plugin budget ({budget:g} s) "
            "and could not be stopped in its thread, so its worker process was ended",
            "where": None,
            "traceback": None,
        }
        return (
            summary,
            LlmCounts(),
            {
                "living": not self.shared,
                "recommender": None,
                "friend_recommender": None,
                "feed_size": None,
                "errors": {},
            },
        )

    async def run(
        self, repeats: int, workers: int | None, progress: Progress, llm_totals: LlmCounts
    ) -> tuple[list[RunEntry], SocialInfo]:
        """Every run, in this process or over ``workers`` forked processes; summaries in run order."""
        if self.batched:
            return await self.run_batched(repeats, workers, progress, llm_totals)
        count = default_workers(repeats) if workers is None else max(1, min(int(workers), repeats))
        if count > 1 and fork_available():

            def relay(finished: int, fraction: float) -> None:
                if progress:
                    progress(f"{finished}/{repeats} runs ({count} workers)", fraction)

            budget = plugin_budget_seconds(self.plugin_budget)
            out = await map_forked(
                self.run_one,
                repeats,
                count,
                progress=relay,
                stall_seconds=3 * budget + 60 if budget > 0 else None,
                on_stall=self.stalled,
            )
        else:
            out = []
            for r in range(repeats):

                def report(fraction: float, _r: int = r) -> None:
                    if progress:
                        progress(f"run {_r + 1}/{repeats}", (_r + fraction) / repeats)

                out.append(self.run_one(r, report))
                await asyncio.sleep(0)  # let the event loop breathe between runs
        results = []
        for summary, stats, _ in out:
            _add_llm(llm_totals, stats)
            results.append(summary)
        social_info = next((info for _, _, info in reversed(out) if info.get("recommender") is not None), out[-1][2])
        return results, social_info
