"""Parameter sweeps and ensembles: every combination of a model's parameters, each run R times.

A sweep expands ``--grid KEY=V1,V2,...`` options into their cartesian product (in the order given),
validates every combination against the model's schema before anything runs, and then runs each
combination R times with session seeds ``S, S+1, ..., S+R-1``: run r of every combination uses the
same seed, so combinations are compared on common random numbers. A run is one
:func:`sim.runs.runner.run_cascades` call with ``runs=1`` on a fork of the world, so its result depends only
on (world, model, parameters, seed selection, session seed) and never on which process ran it or in
which order. The world file is only read. Runs use the offline LLM generator (deterministic, free, no
network).

The runs go in this process (``workers=1``), or through :mod:`sim.runs.transport`: forked workers that share
the world this process opened (Linux), a spawned pool whose workers each open the world file once, or a Ray
cluster (``ray="auto"`` starts a local one) that gets the world once as snapshot bytes.

Results are reported in grid order whatever order the runs finished in. Every worker reports how many
times its process loaded the world (``world_loads``).

A design (``--design sobol:N|morris:N|lhs:N``, :mod:`sim.runs.design`) replaces the grid's product by points
SALib draws in the box of the ``--param NAME=LO..HI`` ranges: each point is one combination, run like any
other (the same backends, kernels, seeds and common random numbers), and the measure's mean over a point's
runs is what the sensitivity indices are computed from (the report's ``design`` and ``sensitivity``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import math
import os
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NotRequired, TypeAlias, TypedDict, get_args

import numpy as np

from sim.analysis.bygroup import groups_of
from sim.core.cascade import cascade_stats
from sim.core.tracebacks import one_line, plugin_location, plugin_traceback
from sim.core.world import World
from sim.engine.intervene import check as check_intervention
from sim.engine.requests import NOT_PARAMS, Design, Ensemble, Sweep
from sim.engine.seeding import resolve_seeds
from sim.engine.simulation import Simulation
from sim.errors import AgoraError, BadParameterError
from sim.model.intervene import Intervention
from sim.model.registry import Registry, plugin_registry
from sim.model.seeds import SeedSpec
from sim.plugin.params import check_layers_named, param_for, param_spec
from sim.runs import batched
from sim.runs import design as designs
from sim.runs.reports import (
    ArmReport,
    InterventionStats,
    JSONObject,
    RunEntry,
    SweepReport,
    arm_series_records,
    interval,
    paired_difference,
)
from sim.runs.results import Arm as SweepArm
from sim.runs.results import SweepResult, take_trees
from sim.runs.runner import check_ensemble, first_failure, run_cascades
from sim.runs.transport import (
    collect_futures,
    fork_available,
    import_ray,
    map_forked,
    map_spawned,
    ray_cluster,
    ray_failure,
    ray_world,
    share_world,
    worker_id,
    world_loads,
)
from sim.social.dynamics import Social
from sim.store.worldfile import open_world

Progress = Callable[[str, float], None] | None

DEFAULT_TEXT = "sweep"
#: LLM settings every sweep run uses: the offline generator (deterministic, no cost, no network).
OFFLINE = {"offline": True}
#: A per-run field kept from ``run_cascades``.
_RunField: TypeAlias = Literal[
    "reached",
    "peak_tick",
    "ticks",
    "status",
    "session_status",
    "ended",
    "exposed",
    "attempts",
    "rounds",
    "reproduction_number",
    "graph_reached",
    "feed_reached",
    "edges_removed",
    "edges_added",
    "error",
    "where",
    "traceback",
    "recommender",
    "stopped",
    "cascade",
    "interventions",
    "immune",
]
#: Per-run fields kept from ``run_cascades`` (the rest describe the living network and the LLM).
_RUN_FIELDS: tuple[_RunField, ...] = get_args(_RunField)


@dataclass(frozen=True)
class RunSpec:
    """What every run of a sweep shares (plain data, shipped to the workers).

    Attributes:
        text: the injected message's text; topics: its topics.
        seeds: the seed-agent selection (``random:K``, ``top:K``, ``ids:a,b,c``, ``community:C:K``; a seed
            file is shipped as its ``ids:`` list, so workers need not see the file).
        steps: run exactly this many ticks, or None to run until the cascade is done (at most ``max_ticks``).
        series: keep each run's per-tick series (``sim.model.series``).
        trees: keep each run's adoption forest (``tree``: arrays, ``sim.runs.runner.tree_arrays``).
        intervene: every run's interventions (``TICK:ACTION``); an arm may add one (``--grid intervene=...``).
        kernel: how an arm's runs go (:data:`sim.engine.requests.KERNELS`); auto_runs: the runs ``auto``
            judges by (the sweep's total).
        by: each run's new infections per tick by group too (``new@GROUP`` series; the words of ``--by``).
    """

    text: str = DEFAULT_TEXT
    topics: tuple[str, ...] = ()
    seeds: str = "random:10"
    steps: int | None = None
    max_ticks: int = 10_000
    series: bool = False
    trees: bool = False
    intervene: tuple[str, ...] = ()
    kernel: str = "auto"
    auto_runs: int | None = None
    by: tuple[str, ...] = ()


class Arm(TypedDict):
    """One arm of the sweep (a combination), as shipped to the workers: its model, its parameters (text values,
    as given) and living-network settings; its seeds (``ids:...``) where seeds are swept or a method chooses
    them per arm, and its intervention ("" for none) where interventions are swept."""

    model: str
    params: dict[str, str]
    social: dict[str, object]
    seeds: NotRequired[str]
    intervene: NotRequired[str]


#: One run: (combination index, run index, the arm, session seed).
Job = tuple[int, int, Arm, int]


def expand_grid(grid: list[tuple[str, list[str]]]) -> list[dict[str, str]]:
    """The cartesian product of the grid, the first key varying slowest (one empty combination without a grid)."""
    keys = [k for k, _ in grid]
    return [dict(zip(keys, values)) for values in itertools.product(*(v for _, v in grid))]


def _known(cls: Any) -> str:
    return ", ".join(sorted(cls.params)) or "none"


def plan_arms(
    registry: Registry,
    grid: list[tuple[str, list[str]]],
    fixed: dict[str, str],
    model: str | None = None,
    social: Mapping[str, object] | None = None,
    check_social: Callable[[dict[str, object]], object] | None = None,
) -> tuple[list[Arm], list[dict[str, object]], list[dict[str, object]]]:
    """Every combination of the grid as an arm, checked before anything runs.

    Grid keys are model parameters, ``model`` (arms with different models), ``recommender`` and
    ``friend_recommender`` (arms with different recommenders). A parameter of one model is qualified
    with its name (``ic.p``); an unqualified one must belong to every model the sweep runs. ``fixed`` are
    the ``--param`` values, ``social`` the living-network settings shared by every arm, ``check_social``
    validates one arm's settings (raises on a bad recommender or parameter).

    Returns:
        ``(arms, typed_params, grid_values)``: per combination, in grid order, the arm (text values, as
        shipped to workers), the model's full typed parameters (defaults filled in) and the grid's typed values.

    Raises:
        BadParameterError: a key swept and fixed at once, a parameter no swept model has (named) or that
            one of them lacks, a value outside its range, a qualified parameter of a model not run.
        PluginError: an unknown model.
    """
    social = dict(social or {})
    keys = dict(grid)
    if "model" in keys and model is not None:
        raise BadParameterError("the model is both swept (grid model=...) and fixed: give it once", fields="grid")
    models = list(dict.fromkeys(keys["model"])) if "model" in keys else [model or "ic"]
    classes = {m: registry.model(m) for m in models}
    swept_models = "model" in keys

    def split(key: str, field: str) -> tuple[str | None, str]:
        owner, dot, name = key.rpartition(".")
        if not dot:
            return None, key
        if owner not in classes:
            runs = ", ".join(models)
            raise BadParameterError(
                f"{field} {key} names model {owner!r}, which the sweep does not run (it runs {runs})", fields=field
            )
        return owner, name

    for key in ("recommender", "friend_recommender"):
        if key in keys and social.get(key) is not None:
            raise BadParameterError(
                f"the {key.replace('_', ' ')} is both swept (grid {key}=...) and fixed: give it once", fields="grid"
            )
    fixed_by = _fixed_by_model(fixed, models, classes, split)
    # Swept parameters.
    param_keys: dict[str, str] = {}  # grid key -> parameter name
    for key, listed in grid:
        if key in NOT_PARAMS:
            continue
        owner, name = split(key, "grid")
        if owner is not None and swept_models:
            raise BadParameterError(
                f"grid {key} sweeps a parameter of one model while model is swept too: "
                f"fix it with params {key}=V, or sweep {name} of every model unqualified",
                fields=("grid", "params"),
            )
        if any(name in fixed_by[m] for m in ([owner] if owner else models)):
            raise BadParameterError(
                f"{name} is both swept (grid) and fixed (params): give it once", fields=("grid", "params")
            )
        for m in [owner] if owner else models:
            cls = classes[m]
            if param_spec(cls.params, name) is None:
                hint = " (sweep only parameters every swept model has)" if swept_models else ""
                raise BadParameterError(f"{m} has no parameter {name!r}: its parameters are {_known(cls)}{hint}")
            for v in listed:
                param_for(cls.params, name).coerce(name, v)
        param_keys[key] = name
    arms: list[Arm] = []
    typed: list[dict[str, object]] = []
    values: list[dict[str, object]] = []
    checked: list[dict[str, object]] = []
    for combo in expand_grid(grid):
        m = combo.get("model", models[0])
        cls = classes[m]
        params = {**fixed_by[m], **{param_keys[k]: v for k, v in combo.items() if k in param_keys}}
        full = cls.validate(params)
        chosen: dict[str, str] = {k: combo[k] for k in ("recommender", "friend_recommender") if k in combo}
        arm_social: dict[str, object] = {**social, **chosen}
        if check_social is not None and arm_social and arm_social not in checked:
            check_social(arm_social)
            checked.append(arm_social)
        arm: Arm = {"model": m, "params": params, "social": arm_social}
        if "seeds" in combo:
            arm["seeds"] = combo["seeds"]
        if "intervene" in combo:
            arm["intervene"] = combo["intervene"]
        arms.append(arm)
        typed.append(full)
        values.append({k: (v if k not in param_keys else full[param_keys[k]]) for k, v in combo.items()})
    return arms, typed, values


def _fixed_by_model(
    fixed: dict[str, str],
    models: list[str],
    classes: dict[str, Any],
    split: Callable[[str, str], tuple[str | None, str]],
) -> dict[str, dict[str, str]]:
    """The fixed parameters of each model: a qualified one (``ic.p``) its model's, an unqualified one every
    model's (each must have it).

    Raises:
        BadParameterError: a model without the parameter.
    """
    fixed_by: dict[str, dict[str, str]] = {m: {} for m in models}
    for key, value in fixed.items():
        owner, name = split(key, "params")
        for m in [owner] if owner else models:
            cls = classes[m]
            if param_spec(cls.params, name) is None:
                hint = (
                    f": qualify a parameter of one model, as params {models[0]}.NAME=V"
                    if len(models) > 1 and owner is None
                    else ""
                )
                raise BadParameterError(
                    f"{m} has no parameter {name!r}: its parameters are {_known(cls)}{hint}",
                    fields="params" if hint else (),
                )
            fixed_by[m][name] = value
    return fixed_by


def plan_design(
    registry: Registry,
    design: Design,
    fixed: dict[str, str],
    model: str | None = None,
    social: Mapping[str, object] | None = None,
    check_social: Callable[[dict[str, object]], object] | None = None,
    seed: int = 0,
) -> tuple[list[Arm], list[dict[str, object]], list[dict[str, object]], designs.Sample]:
    """Every point of a design as an arm, checked before anything runs: the fixed parameters, model and
    settings as :func:`plan_arms` checks them, each range against the model's parameter (it has it, it is a
    number, the range is inside its bounds), the measure against the model's series; then the points, drawn by
    SALib from ``seed``. An integer parameter gets its drawn value rounded.

    Returns:
        ``(arms, typed_params, point_values, sample)``: per point, in the order drawn, the arm, the model's full
        typed parameters, the varied parameters' typed values; and the drawn design.

    Raises:
        BadParameterError: a parameter the model lacks (named), one that is not a number, a range outside its
            bounds, a parameter both drawn and fixed, a series measure the model does not record, SALib missing.
        PluginError: an unknown model.
    """
    arms, _, _ = plan_arms(registry, [], fixed, model, social, check_social)
    base = arms[0]
    m = base["model"]
    cls = registry.model(m)
    names: list[str] = []
    for r in design.ranges:
        owner, dot, name = r.name.rpartition(".")
        if dot and owner != m:
            raise BadParameterError(f"the range {r} names model {owner!r}, which the sweep does not run (it runs {m})")
        if param_spec(cls.params, name) is None:
            raise BadParameterError(f"{m} has no parameter {name!r}: its parameters are {_known(cls)}")
        if name in base["params"] or name in names:
            raise BadParameterError(f"{name} is given twice (a range and a value, or two ranges): give it once")
        param = param_for(cls.params, name)
        if param.type not in (int, float) or param.choices:
            raise BadParameterError(
                f"{m}'s parameter {name} is {param.describe_range()}: a design draws only numbers, so fix it "
                f"with params {name}=VALUE",
                fields="params",
            )
        if (param.min is not None and r.lo < param.min) or (param.max is not None and r.hi > param.max):
            raise BadParameterError(
                f"the range {r} goes beyond {m}'s {name}, which is {param.describe_range()}: give a range inside it"
            )
        names.append(name)
    designs.check_series_measure(cls, m, design.series_at, design.measure)
    sample = designs.draw(design.kind, design.n, design.ranges, seed)
    kinds = [param_for(cls.params, name).type for name in names]
    out_arms: list[Arm] = []
    typed: list[dict[str, object]] = []
    values: list[dict[str, object]] = []
    for row in sample.values.tolist():
        drawn = {name: str(round(x)) if kind is int else repr(float(x)) for name, kind, x in zip(names, kinds, row)}
        params = {**base["params"], **drawn}
        full = cls.validate(params)
        arm: Arm = {"model": m, "params": params, "social": dict(base["social"])}
        out_arms.append(arm)
        typed.append(full)
        values.append({r.name: full[name] for r, name in zip(design.ranges, names)})
    return out_arms, typed, values, sample


def _ship_seeds(world: Any, spec: SeedSpec, registry: Any = None, arm: Arm | None = None) -> str:
    """A seed selection as the runs get it, checked against the world: a file's ids (so that workers, on
    other nodes too, need not read it) and a method's choice (made once, here, for the arm's model) travel
    as ``ids:...``; the others as they are (a ``random:K`` draw is each run's own).

    Raises:
        BadParameterError: unknown ids, an empty community, too many seeds, or a bad seed method.
    """
    spec.check(world)
    if spec.kind == "file":
        assert spec.file_ids is not None  # a file: selection read its ids when parsed
        return "ids:" + ",".join(map(str, np.unique(spec.file_ids).tolist()))
    if spec.kind == "method":
        assert registry is not None and arm is not None
        return resolve_seeds(
            world,
            registry,
            str(spec),
            arm["model"],
            arm["params"],
            lambda clean: Simulation(world, registry=registry).spread_for(arm["model"], clean),
        )
    if spec.kind != "random":
        spec.select(world, np.random.default_rng(0))
    return str(spec)


def make_jobs(arms: list[Arm], runs: int, seed: int) -> list[Job]:
    """Every run of the sweep: combination-major, run r with session seed ``seed + r`` in every arm."""
    return [(ci, r, arm, seed + r) for ci, arm in enumerate(arms) for r in range(runs)]


def chunk_jobs(jobs: list[Job], workers: int) -> list[list[Job]]:
    """Consecutive jobs in about four chunks per worker: few enough messages, small enough to balance."""
    size = max(1, math.ceil(len(jobs) / (max(1, workers) * 4)))
    return [jobs[i : i + size] for i in range(0, len(jobs), size)]


# -- runs of one arm (the same code in every backend) ------------------------------------------------------
def _failed(exc: Exception, session_seed: int) -> RunEntry:
    """A run that could not run: ``status: failed`` with the error (a plugin's traceback for its author)."""
    message = str(exc) if isinstance(exc, AgoraError) else f"{type(exc).__name__}: {exc}"
    tb = None if isinstance(exc, AgoraError) else "".join(traceback.format_exception(exc))
    return {
        "seed": session_seed,
        "status": "failed",
        "error": one_line(message),
        "where": plugin_location(tb),
        "traceback": plugin_traceback(tb),
    }


def arm_request(spec: RunSpec, arm: Arm, session_seed: int, runs: int, registry: Registry) -> Ensemble:
    """The ensemble of ``runs`` runs of ``arm`` from session seed ``session_seed`` (one worker's share)."""
    listed = [*spec.intervene, *([arm["intervene"]] if arm.get("intervene") else [])]
    fields: dict[str, object] = {
        "text": spec.text,
        "topics": list(spec.topics),
        "seeds": arm.get("seeds") or spec.seeds,
        "model": arm["model"],
        "params": dict(arm["params"]),
        "runs": runs,
        "seed": session_seed,
        "steps": spec.steps,
        "until_done": spec.steps is None,
        "llm": OFFLINE,
        "llm_wait": 0,
        "social": dict(arm.get("social") or {}),
        "trees": spec.trees,
        "intervene": listed,
        "kernel": spec.kernel,
        "by": list(spec.by),
    }
    if spec.steps is None:
        fields["max_ticks"] = spec.max_ticks
    return dataclasses.replace(Ensemble.parse(fields, registry), auto_runs=spec.auto_runs)


async def run_arm(
    world: World, registry: Registry, spec: RunSpec, arm: Arm, session_seed: int, runs: int = 1
) -> list[RunEntry]:
    """Runs ``session_seed`` to ``session_seed + runs - 1`` of one arm on forks of ``world``, as one ensemble
    (the batched kernel where ``spec.kernel`` allows); a model that raises gives ``status: failed`` with the
    error, not an exception."""
    try:
        result = await run_cascades(world, arm_request(spec, arm, session_seed, runs, registry), registry=registry)
    except Exception as exc:  # noqa: BLE001 - failed runs are counted in their combination, not a crash
        return [_failed(exc, session_seed + r) for r in range(runs)]
    out = []
    for r, run in enumerate(result["runs"]):
        kept: RunEntry = {}
        for k in _RUN_FIELDS:
            if k in run:
                kept[k] = run[k]
        if spec.series and "series" in run:
            kept["series"] = run["series"]
            kept["series_columns"] = run.get("series_columns")
        if spec.trees:
            kept["tree"] = run.get("tree")
        kept["seed"] = session_seed + r
        kept["kernel"] = result.get("kernel")  # gathered into the combination's summary
        out.append(kept)
    return out


def _arm_groups(jobs: list[Job]) -> list[list[Job]]:
    """Consecutive jobs of one arm with consecutive session seeds, grouped: each group runs as one ensemble."""
    groups: list[list[Job]] = []
    for job in jobs:
        last = groups[-1][-1] if groups else None
        if last is not None and last[0] == job[0] and last[3] + 1 == job[3]:
            groups[-1].append(job)
        else:
            groups.append([job])
    return groups


async def _run_jobs(
    world: World, registry: Registry, spec: RunSpec, jobs: list[Job], done: Callable[[], None] | None = None
) -> list[tuple[int, int, RunEntry]]:
    out = []
    for group in _arm_groups(jobs):
        ci, _, arm, first = group[0]
        results = await run_arm(world, registry, spec, arm, first, len(group))
        for (_, r, _, _), result in zip(group, results):
            out.append((ci, r, result))
            if done is not None:
                done()
    return out


# -- worker processes (sim.runs.transport carries the jobs) ---------------------------------------------------
def _run_chunk(world: World, registry: Registry, spec: RunSpec, jobs: list[Job]) -> list[tuple[int, int, RunEntry]]:
    """A spawned worker's task: the runs of ``jobs`` on the world its process opened."""
    return asyncio.run(_run_jobs(world, registry, spec, jobs))


def _ray_chunk(
    box: list[Any], spec: RunSpec, jobs: list[Job], data_key: bytes | None = None
) -> tuple[str, int, list[tuple[int, int, RunEntry]]]:
    """A Ray task. The object ref comes in a list so Ray does not fetch the world for every task."""
    world, registry, renames = ray_world(box[0], data_key)
    out = asyncio.run(_run_jobs(world, registry, spec, jobs))
    for _, _, run in out:  # where a plugin failed, named by the folder the user gave, not this node's copy
        for key in _PLACES:
            text = run.get(key)
            if isinstance(text, str):
                for copy, original in renames.items():
                    text = text.replace(copy + os.sep, original + os.sep)
                run[key] = text
    return worker_id(), world_loads(), out


#: The fields of a failed run that name a plugin's file.
_PLACES: tuple[Literal["where", "traceback"], ...] = ("where", "traceback")


# -- backends (driver side) ------------------------------------------------------------------------------
class _Tally:
    """Collects chunk results and world loads per worker process, and drives the progress bar."""

    def __init__(self, total: int, progress: Progress) -> None:
        self.total, self.progress = total, progress
        self.done = 0
        self.results: dict[tuple[int, int], RunEntry] = {}
        self.loads: dict[str, int] = {}

    def add(self, worker: str, loads: int, runs: list[tuple[int, int, RunEntry]], count: bool = True) -> None:
        self.loads[worker] = max(self.loads.get(worker, 0), loads)
        for ci, r, run in runs:
            self.results[(ci, r)] = run
        if count:
            self.tick(len(runs))

    def tick(self, n: int = 1) -> None:
        self.done += n
        if self.progress:
            self.progress(f"runs {self.done}/{self.total}", self.done / self.total)


async def _run_forked(
    world: World, registry: Registry, workers: int, plan: _Plan, jobs: list[Job], tally: _Tally
) -> None:
    """The jobs in chunks over ``workers`` forked processes that share ``world`` and ``registry`` (nothing
    loaded again); the arms' compiled kernels are loaded here first, so that the workers share them too."""
    spec = plan.spec
    if spec.kernel != "engine":
        for model in sorted({arm["model"] for arm in plan.arms} & set(batched.BATCHED_MODELS)):
            if spec.kernel == "batched" or batched.small(model, spec.auto_runs or 0) is None:
                batched.warm(model)
    chunks = chunk_jobs(jobs, workers)

    def chunk(i: int, _report: Callable[[float], None]) -> tuple[str, int, list[tuple[int, int, RunEntry]]]:
        return worker_id(), 0, asyncio.run(_run_jobs(world, registry, spec, chunks[i]))

    def relay(_finished: int, fraction: float) -> None:
        if tally.progress:
            tally.progress(f"runs {int(fraction * tally.total)}/{tally.total}", fraction)

    for part in await map_forked(chunk, len(chunks), workers, progress=relay):
        tally.add(*part, count=False)
    tally.done = tally.total


async def _run_ray(
    address: str, workers: int, world: Any, plugin_dirs: list[str], spec: RunSpec, jobs: list[Job], tally: _Tally
) -> int:
    """Run the jobs on Ray; returns the number of CPUs the cluster offered."""
    with ray_cluster(address, workers, tally.progress) as (ray, cpus):
        pending: list[Any] = []
        try:
            ref, data_key = share_world(ray, world, plugin_dirs)  # the world, once (sealed if encrypted)
            task = ray.remote(num_cpus=1, max_retries=0)(_ray_chunk)
            pending = [task.remote([ref], spec, chunk, data_key) for chunk in chunk_jobs(jobs, cpus)]
            try:
                await collect_futures([p.future() for p in pending], lambda part: tally.add(*part))
            except ray.exceptions.RayError as exc:
                raise ray_failure(ray, exc) from None
            pending = []
            return cpus
        finally:
            for p in pending:
                with contextlib.suppress(Exception):  # already finished, or the cluster is going away
                    ray.cancel(p, force=True)


# -- the sweep -------------------------------------------------------------------------------------------
def _summary(params: dict[str, object], grid: dict[str, object], arm: Arm, runs: list[RunEntry], n: int) -> ArmReport:
    """One combination's statistics over its completed runs (failed runs are counted, not averaged).
    Intervals are bounded: reach inside [0, agents], time to peak at least 0 (``sim.core.stats``)."""

    ok = [r for r in runs if r["status"] != "failed"]
    raw = [x for r in ok if (x := r["reached"]) is not None]  # a run that did not fail has its reach
    reached = [float(x) for x in raw]
    peaks = [float(p) for r in ok if (p := r.get("peak_tick")) is not None]
    mean, ci = interval(reached, 0, n)
    peak, peak_ci = interval(peaks, 0)
    std = None
    if mean is not None and len(reached) > 1:
        std = math.sqrt(sum((x - mean) ** 2 for x in reached) / (len(reached) - 1))
    errors = list(dict.fromkeys(e for r in runs if r["status"] == "failed" and (e := r.get("error"))))
    frac_ci = [None if x is None or not n else min(1.0, max(0.0, x / n)) for x in ci]
    return {
        "model": arm["model"],
        "params": params,
        "grid": grid,
        "social": dict(arm.get("social") or {}),
        "runs": len(runs),
        "completed": len(ok),
        "failed": len(runs) - len(ok),
        "stopped": sum(1 for r in ok if r.get("stopped")),
        "mean_reached": mean,
        "ci95": ci,
        "std_reached": std,
        "min_reached": min(raw) if raw else None,
        "max_reached": max(raw) if raw else None,
        "mean_fraction": None if mean is None or not n else mean / n,
        "fraction_ci95": frac_ci,
        "mean_peak_tick": peak,
        "peak_ci95": peak_ci,
        "mean_ticks": sum(r["ticks"] for r in ok) / len(ok) if ok else None,
        "reached": [r.get("reached") if r["status"] != "failed" else None for r in runs],
        "peak_tick": [r.get("peak_tick") if r["status"] != "failed" else None for r in runs],
        "errors": errors,
        "first_failure": first_failure(runs),
        "cascade": cascade_stats([r.get("cascade") for r in ok], n),
        **_intervention_stats(ok, n),
        "per_run": runs,
    }


def _intervention_stats(ok: list[RunEntry], n: int) -> InterventionStats:
    """An arm's counter-messages (their reach summed per run: mean and 95% CI) and immune agents (mean),
    when its runs had interventions; nothing otherwise."""
    if not any("interventions" in r for r in ok):
        return {}
    counter = [float(sum(_counter_reach(x) for x in r.get("interventions") or ())) for r in ok]
    has_counter = any(x.get("action") == "counter" for r in ok for x in r.get("interventions") or ())
    c_mean, c_ci = interval(counter if has_counter else [], 0, n)
    immune = [float(r.get("immune") or 0) for r in ok]
    return {
        "counter_mean_reached": c_mean,
        "counter_ci95": c_ci,
        "mean_immune": sum(immune) / len(immune) if immune else None,
    }


def _counter_reach(row: JSONObject) -> int:
    """What an applied intervention's counter-message reached (0 for another action, or one not reported)."""
    reached = row.get("reached")
    return int(reached) if row.get("action") == "counter" and isinstance(reached, int | np.integer) else 0


async def _dispatch(
    request: Sweep,
    world_path: str,
    world: World,
    registry: Registry,
    plan: _Plan,
    jobs: list[Job],
    tally: _Tally,
    workers: int,
) -> tuple[str, int, int]:
    """Run the sweep's ``jobs`` on its backend (Ray, this process, forked workers or a spawned pool): the
    backend's name, the workers used and the world loads outside the workers' own."""
    loaded_here = 0  # world loads outside the workers' own (counted in world_loads)
    user_dirs = list(registry.user_dirs)  # absolute, AGORA_PLUGINS included: workers use exactly these
    if request.ray is not None:
        return "ray", await _run_ray(request.ray, workers, world, user_dirs, plan.spec, jobs, tally), loaded_here
    if workers == 1:
        # In this process, on the world opened above (loaded once, like a pool worker's).
        tally.add(worker_id(), 1, await _run_jobs(world, registry, plan.spec, jobs, done=tally.tick), count=False)
    elif fork_available():
        await _run_forked(world, registry, workers, plan, jobs, tally)
        loaded_here = 1  # the forked workers share the world loaded above
    else:
        await map_spawned(
            _run_chunk,
            [(plan.spec, chunk) for chunk in chunk_jobs(jobs, workers)],
            workers,
            lambda part: tally.add(*part),
            world_path=os.path.abspath(world_path),
            plugin_dirs=user_dirs,
            prepare=None if request.keep_running else leave_out_running,
        )
    return "process", workers, loaded_here


async def run_sweep(
    world_path: str,
    request: Sweep | None = None,
    /,
    *,
    plugin_dirs: Iterable[str] = (),
    progress: Progress = None,
    **fields: object,
) -> SweepReport:
    """Run every combination of a :class:`~sim.engine.requests.Sweep` (its fields: the grid, fixed parameters,
    runs, seeds, kernel, backend...) ``runs`` times on the world file, which is only read; run r uses session
    seed ``seed + r`` in every combination. ``request`` may be left out and its fields given as keywords.

    Args:
        world_path: the world file. plugin_dirs: user plugin folders (the world's ``<world>.plugins/``
            folder is added when named or trusted: ``sim.model.registry.world_plugin_folders``).
        progress: called with ``("runs D/T", fraction)`` as runs finish.

    Returns:
        :func:`sweep_result`'s report, as ``agora sweep --json`` prints it: ``{"results": [one summary per
        combination, in grid order], "world", "model", "runs", "backend", ...}``; every result after the first
        has ``"paired"``: its difference from the first (:func:`paired_difference`). The per-run series are in
        the result's series records, not in the report.

    Raises:
        BadParameterError: a bad grid, parameter, seed selection, topic, or Ray missing or unreachable.
        BadFileError: the world file or a plugin folder is missing or not readable.
        PluginError: the model cannot be loaded.
    """
    if request is None:
        request = Sweep.parse(fields)
    elif fields:
        raise TypeError(f"run_sweep() takes a Sweep request or keywords, not both ({', '.join(fields)})")
    return (await sweep_result(world_path, request, plugin_dirs=plugin_dirs, progress=progress)).report()


async def sweep_result(
    world_path: str, request: Sweep, /, *, plugin_dirs: Iterable[str] = (), progress: Progress = None
) -> SweepResult:
    """Run the sweep (see :func:`run_sweep`): its typed :class:`~sim.runs.results.SweepResult` (``world.sweep``,
    ``agora sweep``), built from the sweep's own values: each combination's summary, the per-run series taken
    out into the result's series records, each run's tree (with ``trees``) into :attr:`SweepResult.trees`, a
    design's drawn points and indices as the objects they are. Its ``to_dict()`` is what
    ``agora sweep --json`` prints.

    Raises:
        As :func:`run_sweep`.
    """
    t0 = time.perf_counter()
    if request.ray is not None:
        import_ray()  # the one-sentence hint before any work
    if request.design is not None:
        designs.salib()  # the one-sentence hint before any work
    registry = plugin_registry(world_path, plugin_dirs)
    if progress:
        progress("opening the world", 0.0)
    world = await open_world(world_path)
    running = running_sessions(world)
    if not request.keep_running:
        leave_out_running(world)  # before the plan: the batched kernel then runs where it can
    plan = _plan(request, world, registry)
    agents, edges, tick = world.n, world.num_edges, world.tick
    jobs = make_jobs(plan.arms, request.runs, request.seed)
    workers = min(max(1, request.workers or os.cpu_count() or 1), len(jobs))
    tally = _Tally(len(jobs), progress)
    backend, workers, loaded_here = await _dispatch(request, world_path, world, registry, plan, jobs, tally, workers)
    results = _results(plan, tally, request.runs, agents)
    drawn: designs.DesignReport | None = None
    sensitivity: designs.Sensitivity | None = None
    if request.design is not None and plan.sample is not None:
        drawn, sensitivity = _design(results, request.design, plan, request.seed)
    records = arm_series_records(results)  # out of the entries, as agora sweep --series leaves them
    taken = [take_trees(c["per_run"]) for c in results]
    session_seeds = [request.seed + r for r in range(request.runs)]
    models = list(dict.fromkeys(a["model"] for a in plan.arms))
    return SweepResult(
        arms=[SweepArm.from_dict(i, c, session_seeds) for i, c in enumerate(results)],
        grid=_typed_grid(registry, models, request.grid),
        fixed=_typed_fixed(registry, models, dict(request.params)),
        model=models[0] if len(models) == 1 else ",".join(models),
        runs=request.runs,
        total_runs=len(jobs),
        completed=sum(r["completed"] for r in results),
        failed=sum(r["failed"] for r in results),
        agents=agents,
        world=world_path,
        edges=edges,
        tick=tick,
        models=models,
        social=dict(request.social),
        seeds="by combination" if "seeds" in dict(request.grid) else request.seeds_text,
        seed=request.seed,
        session_seeds=session_seeds,
        steps=request.steps,
        until_done=request.steps is None,
        max_ticks=request.max_ticks,
        text=request.text,
        topics=list(request.topics),
        backend=backend,
        workers=workers,
        worker_processes=len(tally.loads),
        world_loads=sum(tally.loads.values()) + loaded_here,
        llm="offline",
        seconds=round(time.perf_counter() - t0, 3),
        running_sessions=running,
        kept_running=request.keep_running,
        records=records,
        source=world_path,
        kept_series=request.series,
        trees=None if all(t is None for t in taken) else [t or [] for t in taken],
        design=drawn,
        sensitivity=sensitivity,
    )


def running_sessions(world: World) -> list[int]:
    """The ids of the sessions ``world`` holds queued or running (an earlier ``agora run --steps`` leaves its
    session running): by default a sweep leaves them out (:func:`leave_out_running`)."""
    return [s.id for s in world.sessions if s.status in ("queued", "running")]


def leave_out_running(world: World) -> None:
    """End the sessions ``world`` holds queued or running, in this copy of the world only (a sweep never writes
    its world file), so that no run of the sweep continues them: a stale cascade would take ticks in every run
    (a run until done waits for it too), keep the runs off the batched kernel and compete with the injected
    message. ``Sweep(keep_running=True)`` (``agora sweep --keep-running``) keeps them."""
    for s in world.sessions:
        if s.status in ("queued", "running"):
            s.cancel(world.tick)


def _design(
    results: list[ArmReport], design: Design, plan: _Plan, seed: int
) -> tuple[designs.DesignReport, designs.Sensitivity | None]:
    """A design's report (what was drawn and each point's value, from each point's ``results``) and its
    sensitivity indices by parameter (None for a Latin hypercube or when a point has no value or the measure
    never varied)."""
    assert plan.sample is not None
    values = [designs.point_value(arm["per_run"], design.measure) for arm in results]
    missing = sum(1 for v in values if v is None)
    why: str | None = None
    sensitivity: designs.Sensitivity | None = None
    if missing and design.kind != "lhs":
        why = (
            f"{missing} of {len(values)} points have no value of {design.measure} (every run of theirs failed or "
            "lacks it), and the indices need every point"
        )
    elif design.kind != "lhs":
        sensitivity = designs.analyze(plan.sample, [float(v) for v in values if v is not None], seed)
        if design.kind == "sobol" and all(
            isinstance(i, designs.SobolIndex) and i.ST is None for i in (sensitivity or {}).values()
        ):
            why = f"{design.measure} is the same at every point: no parameter moves it within its range"
    inputs = [[float(v) for v in point.values()] for point in plan.grid_values]  # type: ignore[arg-type]
    drawn = designs.design_report(plan.sample, design.ranges, design.measure, values, inputs, why)
    return drawn, sensitivity


@dataclass
class _Plan:
    """A sweep checked and planned before any run: its arms as shipped to workers, each arm's typed
    parameters and grid values (a design's point's values), what every run shares, and a design's sample."""

    arms: list[Arm]
    typed: list[dict[str, object]]
    grid_values: list[dict[str, object]]
    spec: RunSpec
    sample: designs.Sample | None = None


def _plan(request: Sweep, world: World, registry: Registry) -> _Plan:
    """Check every combination against the world and plan its runs (see :func:`plan_arms`): seeds a file
    or a method chooses are chosen here, once, and shipped as ids; interventions are checked for every
    model; ``kernel="batched"`` is refused for a combination that cannot run batched.

    Raises:
        BadParameterError: one sentence, before any run.
    """
    grid = [(key, list(values)) for key, values in request.grid]
    check_social = lambda changes: Social(world, registry).configure(**changes)  # noqa: E731
    sample = None
    if request.design is not None:
        arms, typed, grid_values, sample = plan_design(
            registry,
            request.design,
            dict(request.params),
            request.model,
            dict(request.social),
            check_social,
            request.seed,
        )
    else:
        arms, typed, grid_values = plan_arms(
            registry, grid, dict(request.params), request.model, dict(request.social), check_social
        )
    fixed_iv = _arm_interventions(world, registry, request, arms)
    spec = RunSpec(
        text=request.text,
        topics=request.topics,
        seeds=_arm_seeds(world, registry, request, arms),
        steps=request.steps,
        max_ticks=request.max_ticks,
        series=request.series,
        trees=request.trees,
        intervene=tuple(str(iv) for iv in fixed_iv),
        kernel=request.kernel,
        auto_runs=request.total_runs,
        by=tuple(b.text for b in request.by),
    )
    for by in request.by:  # a column the world lacks is refused before any run
        groups_of(world, by)
    for arm in arms:  # beta@school on a world without that layer: refused before any run
        check_layers_named(dict(arm["params"]), world.layers)
    if request.kernel == "batched":  # refused before any run, not counted as failed runs
        for arm, values in zip(arms, grid_values):
            try:
                check_ensemble(world, registry, arm_request(spec, arm, request.seed, request.runs, registry))
            except BadParameterError as exc:
                where = " ".join(f"{k}={v}" for k, v in values.items())
                raise BadParameterError(
                    f"{str(exc).rstrip('.')} (the combination {where or 'of the sweep'})", fields=exc.fields
                ) from None
            if request.design is not None:
                break  # a design's points differ only in the drawn values: the first speaks for all
    return _Plan(arms, typed, grid_values, spec, sample)


def _arm_seeds(world: Any, registry: Registry, request: Sweep, arms: list[Arm]) -> str:
    """The seeds every run gets (a file's or a method's as ``ids:...``), and each arm's own (``arm["seeds"]``)
    where seeds are swept or a method chooses them per model and parameters (once, not once per run)."""
    spec = request.seeds
    if request.swept_seeds:
        for arm in arms:
            arm["seeds"] = _ship_seeds(world, request.swept_seeds[arm["seeds"]], registry, arm)
        return str(spec)
    if spec.kind != "method":
        return _ship_seeds(world, spec)
    chosen: dict[str, str] = {}
    for arm in arms:
        key = repr((arm["model"], sorted(arm["params"].items())))
        if key not in chosen:
            chosen[key] = _ship_seeds(world, spec, registry, arm)
        arm["seeds"] = chosen[key]
    return str(spec)


def _arm_interventions(world: Any, registry: Registry, request: Sweep, arms: list[Arm]) -> tuple[Intervention, ...]:
    """Every run's interventions, checked for every model the sweep runs; a swept one becomes its arm's
    (``arm["intervene"]``, "" for none)."""
    fixed_iv = request.interventions
    swept_iv = request.swept_interventions
    for iv in [*fixed_iv, *(x for listed in swept_iv.values() for x in listed)]:
        for m in dict.fromkeys(a["model"] for a in arms):
            check_intervention(world, registry, iv, m)
    for arm in arms:
        if "intervene" in arm:
            arm["intervene"] = str(swept_iv[arm["intervene"]][0]) if swept_iv[arm["intervene"]] else ""
    return fixed_iv


def _results(plan: _Plan, tally: _Tally, runs: int, agents: int) -> list[ArmReport]:
    """One summary per combination, in grid order, each after the first with its paired difference."""
    results = []
    for ci, arm in enumerate(plan.arms):
        per_run = [tally.results[(ci, r)] for r in range(runs)]
        kernels = sorted({k for k in (run.pop("kernel", None) for run in per_run) if k is not None})
        results.append(_summary(plan.typed[ci], plan.grid_values[ci], arm, per_run, agents))
        results[-1]["kernel"] = "+".join(kernels) or None  # which ran the combination's runs (none: all failed)
    if plan.sample is None:  # a design's points are not arms against a first one
        for res in results[1:]:
            res["paired"] = paired_difference(results[0]["per_run"], res["per_run"], agents)
    return results


def _typed_grid(
    registry: Registry, models: list[str], grid: tuple[tuple[str, tuple[str, ...]], ...]
) -> dict[str, list[object]]:
    """The grid's values typed by the parameter they set (arm keys as given)."""
    out: dict[str, list[object]] = {}
    for key, listed in grid:
        if key in NOT_PARAMS:
            out[key] = list(listed)
        else:
            owner, dot, name = key.rpartition(".")
            cls = registry.model(owner if dot else models[0])
            out[key] = [param_for(cls.params, name).coerce(name, v) for v in listed]
    return out


def _typed_fixed(registry: Registry, models: list[str], fixed: dict[str, str]) -> dict[str, object]:
    """The fixed parameters typed by the model they belong to (the first that has an unqualified one)."""
    out: dict[str, object] = {}
    for key, value in fixed.items():
        owner, dot, name = key.rpartition(".")
        for m in [owner] if dot else models:
            cls = registry.model(m)
            if param_spec(cls.params, name) is not None:
                out[key] = param_for(cls.params, name).coerce(name, value)
                break
    return out
