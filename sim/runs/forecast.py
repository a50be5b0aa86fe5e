"""Forecasts: the present of a running session branched R times, under one or more arms (issue 49).

A forecast takes a world's present (every session's states, exposures and counters, the graph, the
interventions pending) and continues it R times, run r with the session reseeded ``S + r``
(:meth:`sim.model.session.PropagationSession.reseed`), to a horizon (``ticks``) or until the session ends.
Under **arms**, each run first takes the arm's actions, now: an intervention (``block:METHOD:K``,
``counter:MODEL:SEEDS[:TEXT]``, ``remove-edges:F[:random|between]``, applied at the first tick of the
continuation) or a change of the session's parameters (``set:NAME=VALUE``). Every arm runs the same seeds,
so arms are compared run by run (identical arms differ by exactly 0). The world is never changed: each run
continues a fork of it.

**Exactness.** Run r of arm A is what the engine gives when the world is saved, A is applied to it and its
session, reseeded ``S + r``, is stepped on: the engine path does exactly that on a fork, and where every arm
takes no intervention (``none``, ``set:``) and the session can (:func:`sim.runs.batched.why_not_continue`), the
compiled kernels continue it from its present (:func:`sim.runs.batched.continue_batched`), field for field the
same (``tests/test_batched_state.py``, ``tests/test_forecast.py``).

**Parameter uncertainty.** With a posterior (``agora fit -o FILE``), run r draws its parameters from the
weighted samples (the same draw in every arm), so the band widens with what the fit could not tell.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from sim.analysis.plot import figure_format, literal_label, save_figure
from sim.core.cascade import cascade_stats
from sim.core.world import World
from sim.engine import intervene
from sim.engine.simulation import Simulation
from sim.errors import AgoraError, BadParameterError
from sim.model.series import is_tick_count
from sim.model.session import PropagationSession
from sim.plugin.params import check_layers_named, param_for, param_spec
from sim.runs import batched
from sim.runs.fit.output import fit_posterior, read_posterior
from sim.runs.reports import TOTALS, Paired, RunEntry, no_totals, paired_difference
from sim.runs.runner import run_entry
from sim.runs.transport import default_workers, fork_available, map_forked

if TYPE_CHECKING:
    import pandas as pd

    from sim.model.registry import Registry
    from sim.runs.fit.fitting import FitResult

#: ``progress(what, fraction)``.
Progress = Callable[[str, float], None] | None

# The request (Forecast, its arms, their parsers and bounds) is kept with the others: sim.engine.requests.
from sim.engine.requests.forecast import MAX_ARMS as MAX_ARMS  # noqa: E402
from sim.engine.requests.forecast import MAX_HORIZON as MAX_HORIZON  # noqa: E402
from sim.engine.requests.forecast import MAX_RUNS as MAX_RUNS  # noqa: E402
from sim.engine.requests.forecast import Arm as Arm  # noqa: E402
from sim.engine.requests.forecast import Forecast as Forecast  # noqa: E402
from sim.engine.requests.forecast import parse_action as parse_action  # noqa: E402
from sim.engine.requests.forecast import parse_arms as parse_arms  # noqa: E402

#: The name the horizon's bound had here.
MAX_TICKS = MAX_HORIZON

#: The stream of a posterior's draws (one per run, the same in every arm).
_POSTERIOR_STREAM = 0xF0CA57


@dataclass(frozen=True)
class ArmForecast:
    """One arm's continuations: each run's report (``runs``), and their summaries."""

    name: str
    runs: list[RunEntry]
    reached: dict[str, object]
    series: dict[str, object]
    cascade: dict[str, object] | None
    paired: Paired | None = None
    kernel: str = "engine"

    def to_dict(self) -> dict[str, object]:
        return {
            "reached": self.reached,
            "series": self.series,
            "cascade": self.cascade,
            "paired": self.paired,
            "kernel": self.kernel,
            "failed": sum(1 for r in self.runs if r.get("status") == "failed"),
        }


@dataclass
class ForecastResult:
    """A forecast: where it branched, the session, and each arm's :class:`ArmForecast`."""

    branched_at: int
    session: int
    round: int
    runs: int
    seed: int
    horizon: int | None
    arms: dict[str, ArmForecast]
    seconds: float = 0.0
    posterior: str | None = None
    agents: int = 0
    params: dict[str, list[float]] = field(default_factory=dict)

    def to_pandas(self) -> pd.DataFrame:
        """One row per arm and run: arm, run, seed, status, reached, peak_tick, ticks (needs pandas)."""
        from sim.runs.results import columns_frame  # noqa: PLC0415 - pandas loads only when asked for

        rows: dict[str, list[object]] = {
            k: [] for k in ("arm", "run", "seed", "status", "reached", "peak_tick", "ticks")
        }
        for name, arm in self.arms.items():
            for r, run in enumerate(arm.runs):
                rows["arm"].append(name)
                rows["run"].append(r)
                for k in ("seed", "status", "reached", "peak_tick", "ticks"):
                    rows[k].append(run.get(k))
        return columns_frame(rows)

    def plot(self, path: str) -> str:
        """Each arm's band (5 to 95 %) of reach ahead of the branch, with its median line, labelled; returns the
        figure's path (.png, .svg or .pdf)."""
        return plot_bands(path, self)

    def to_dict(self) -> dict[str, object]:
        """What ``agora forecast --json`` prints."""
        return {
            "branched_at": self.branched_at,
            "session": self.session,
            "round": self.round,
            "runs": self.runs,
            "seed": self.seed,
            "ticks": self.horizon,
            "agents": self.agents,
            "posterior": self.posterior,
            "arms": {k: v.to_dict() for k, v in self.arms.items()},
            "paired": {k: v.paired for k, v in self.arms.items() if v.paired is not None},
            "seconds": round(self.seconds, 3),
        }


def _session(world: World, sid: int | None) -> PropagationSession:
    if sid is None:
        running = [s for s in world.sessions if s.status == "running"]
        if not running:
            raise BadParameterError("the world has no running session to forecast: inject a message and step it first")
        return running[-1]
    for s in world.sessions:
        if s.id == sid:
            if s.status != "running":
                raise BadParameterError(f"session {sid} is {s.status}: only a running session can be forecast")
            return s
    known = ", ".join(str(s.id) for s in world.sessions) or "none"
    raise BadParameterError(f"the world has no session {sid}: its sessions are {known}")


def _typed_sets(registry: Registry, session: PropagationSession, arm: Arm) -> dict[str, object]:
    cls = registry.model(session.model_name)
    out: dict[str, object] = {}
    for name, value in arm.sets:
        param = param_spec(cls.params, name)
        if param is None:
            known = ", ".join(sorted(cls.params)) or "none"
            raise BadParameterError(
                f"arm {arm.name}: {session.model_name} has no parameter {name!r}: its parameters are {known}"
            )
        out[name] = param.coerce(name, value)
    return out


class ForecastCancelled(AgoraError):
    """The forecast was cancelled (its ``stop`` was set) before it finished: nothing is kept of it."""


class _Branches:
    """The continuations of one forecast, on the engine or in the compiled kernels. ``stop``, once set, ends
    the runs in this process between two ticks (the engine's) or two runs (the kernels'): :class:`ForecastCancelled`."""

    def __init__(
        self,
        world: World,
        registry: Registry,
        request: Forecast,
        session: PropagationSession,
        stop: threading.Event | None = None,
        fit: FitResult | None = None,
    ) -> None:
        self.world, self.registry, self.request, self.session = world, registry, request, session
        self.stop = stop
        self.sets = {arm.name: _typed_sets(registry, session, arm) for arm in request.arms}
        for sets in self.sets.values():  # set:beta@class=0 on a world with a class layer
            check_layers_named(sets, world.layers)
        for arm in request.arms:  # every intervention checked before any run
            for iv in arm.interventions:
                intervene.check(world, registry, iv, session.model_name)
        self.drawn: list[dict[str, object]] = [{} for _ in range(request.runs)]
        if request.posterior is not None or fit is not None:  # a fit in memory draws as its file would
            if fit is not None:
                names, values, weights = fit_posterior(fit, registry, session)
            else:
                names, values, weights = read_posterior(str(request.posterior), registry, session)
            rng = np.random.default_rng([request.seed & (2**63 - 1), _POSTERIOR_STREAM])
            picks = rng.choice(values.shape[0], size=request.runs, p=weights)
            cls = registry.model(session.model_name)
            self.drawn = [
                {n: param_for(cls.params, n).coerce(n, float(values[i, j])) for j, n in enumerate(names)}
                for i in picks.tolist()
            ]
        probe = Simulation(world.fork(shared=True), registry=registry)
        twin = next(s for s in probe.world.sessions if s.id == session.id)
        self.why_not = batched.why_not_continue(probe.world, probe, twin)
        if request.kernel == "batched" and self.why_not is not None:
            raise BadParameterError(
                f"kernel batched cannot continue this session: {self.why_not}; kernel auto can", fields="kernel"
            )

    def stopped(self) -> None:
        """Raise :class:`ForecastCancelled` once the forecast's ``stop`` is set."""
        if self.stop is not None and self.stop.is_set():
            raise ForecastCancelled("the forecast was cancelled")

    def kernel_for(self, arm: Arm) -> str:
        if self.request.kernel == "engine" or not arm.batched_ok or self.why_not is not None:
            return "engine"
        return "batched"

    def engine_run(self, arm: Arm, r: int) -> RunEntry:
        """Run ``r`` of ``arm`` on the engine: a fork of the world, the arm's actions, the session reseeded
        ``seed + r``, stepped to the horizon."""
        req = self.request
        w = self.world.fork()
        s = next(x for x in w.sessions if x.id == self.session.id)
        s.params = {**s.params, **self.drawn[r], **self.sets[arm.name]}
        s.reseed(w.seed, req.seed + r)
        sim = Simulation(w, registry=self.registry, plugins_in_thread=True)
        for iv in arm.interventions:
            sim.intervene(iv, model=s.model_name, journal=False, audit=False)
        until_done = req.ticks is None
        t0, done, totals = time.perf_counter(), 0, no_totals()
        while done < req.limit and not (until_done and s.status != "running"):
            self.stopped()
            m = sim.step_now()
            for k in TOTALS:
                totals[k] += int(m.get(k, 0))
            done += 1
        out = run_entry(sim, s.id, done, time.perf_counter() - t0, totals, until_done=until_done, ensemble=True)
        out["seed"] = req.seed + r
        return out

    def kernel_runs(self, arm: Arm, lo: int = 0, hi: int | None = None) -> list[RunEntry]:
        """Runs ``lo`` to ``hi - 1`` (None: all) of ``arm`` in the compiled kernels, from the session's present
        (a copy with the arm's and each run's parameters where they differ)."""
        req = self.request
        hi = req.runs if hi is None else hi
        until_done = req.ticks is None
        limit, max_ticks = req.limit, req.max_ticks
        if not any(self.drawn) and not self.sets[arm.name] and self.stop is None:
            return batched.continue_batched(
                self.world,
                self.session,
                seed=req.seed,
                runs=list(range(lo, hi)),
                limit=limit,
                until_done=until_done,
                max_ticks=max_ticks,
            )
        out = []
        for r in range(lo, hi):  # one run a call where it may be cancelled: about 7 % slower, stopped within a run
            self.stopped()
            twin = self.session.copy()
            twin.params = {**twin.params, **self.drawn[r], **self.sets[arm.name]}
            out.extend(
                batched.continue_batched(
                    self.world, twin, seed=req.seed, runs=[r], limit=limit, until_done=until_done, max_ticks=max_ticks
                )
            )
        return out


#: A forecast checked against its world (:func:`check_forecast`), ready to run.
CheckedForecast = _Branches


def check_forecast(world: World, registry: Registry, request: Forecast) -> CheckedForecast:
    """Raise what :func:`run_forecast` would raise before its first run (a live world's forecasts check a job
    with it when it is asked for, :mod:`sim.live.forecasts`): no such session, one that is not running, a bad
    arm, parameter or posterior, a kernel that cannot continue the session. Returns the checked forecast, which
    :func:`run_forecast` of the same world and request runs without checking it again (``checked``).

    Raises:
        BadParameterError, BadFileError: as above (one sentence).
    """
    return _Branches(world, registry, request, _session(world, request.session))


def _quantiles(values: list[float]) -> dict[str, object]:
    if not values:
        return {"median": None, "mean": None, "ci90": [None, None]}
    a = np.asarray(values, dtype=np.float64)
    lo, med, hi = np.quantile(a, [0.05, 0.5, 0.95]).tolist()
    return {"median": med, "mean": float(a.mean()), "ci90": [lo, hi]}


def run_rows(runs: list[RunEntry], first_tick: int) -> tuple[list[int], dict[str, np.ndarray]]:
    """Each series of the runs that did not fail, as a ``(runs, ticks)`` table on the ticks from ``first_tick``
    (the session's round at the branch) to the last any run reached: a run that ended keeps its last value, 0 for
    the per-tick counts (``new``, ``new.STATE``, ``onsets``, ``removals``). No run with a series: no tick."""
    ok = [r for r in runs if r.get("status") != "failed" and r.get("series")]
    if not ok:
        return [], {}
    cols = [c for c in ok[0]["series"] if c not in ("tick",)]
    last = max(int(r["series"]["tick"][-1] or 0) for r in ok)
    ticks = list(range(first_tick, last + 1))
    at_ticks = np.asarray(ticks)
    out: dict[str, np.ndarray] = {}
    for c in cols:
        rows = []
        for r in ok:
            vals = np.asarray(r["series"][c], dtype=np.float64)
            t0 = int(r["series"]["tick"][0] or 0)
            row = vals[np.clip(at_ticks - t0, 0, vals.size - 1)]
            if is_tick_count(c):
                row = np.where(at_ticks - t0 < vals.size, row, 0.0)
            rows.append(row)
        out[c] = np.vstack(rows)
    return ticks, out


def _band(runs: list[RunEntry], first_tick: int) -> dict[str, object]:
    """The per-tick band of each series ahead of ``first_tick`` (the session's round at the branch): 5, 50 and
    95 % quantiles over the runs' rows (:func:`run_rows`)."""
    ticks, table = run_rows(runs, first_tick)
    out: dict[str, object] = {"tick": ticks}
    for c, rows in table.items():
        q = np.quantile(rows, [0.05, 0.5, 0.95], axis=0)
        # A tick no run knows (entries stored by an older Agora: null in the series) stays null.
        cells = [[None if not math.isfinite(x) else x for x in row] for row in q.tolist()]
        out[c] = {"q05": cells[0], "median": cells[1], "q95": cells[2]}
    return out


def _yield_to_the_foreground() -> None:
    """In a forecast's worker process: a lower scheduling priority (nice 10), so that a live world's UI and
    server, in the parent, keep a core's worth of answers while a forecast runs beside them."""
    try:
        os.nice(10)
    except (AttributeError, OSError):  # pragma: no cover - not POSIX, or not allowed: the same runs, unniced
        pass


async def _kernel_runs(branches: _Branches, arm: Arm, workers: int) -> list[RunEntry]:
    """Every run of ``arm`` in the compiled kernels: here, or in ``workers`` forked processes (contiguous shares;
    a run's result depends on its seed alone), in run order."""
    runs = branches.request.runs
    if workers > 1 and runs >= 2 * workers and fork_available():
        batched.warm(branches.session.model_name)  # compiled once, here: the workers share it

        def share(i: int, _report: Callable[[float], None]) -> list[RunEntry]:
            _yield_to_the_foreground()
            branches.stop = None  # this process's copy: a cancelled map ends its workers (all runs in one call)
            return branches.kernel_runs(arm, i * runs // workers, (i + 1) * runs // workers)

        parts = await map_forked(share, workers, workers)
        return [run for part in parts for run in part]
    return branches.kernel_runs(arm)


async def _engine_runs(
    branches: _Branches, arm: Arm, workers: int, progress: Progress, done: int, total: int
) -> list[RunEntry]:
    """Every run of ``arm`` on the engine: here, or in ``workers`` forked processes (contiguous shares, each run
    the same wherever it runs), in run order."""
    runs = branches.request.runs
    if workers > 1 and runs >= 2 * workers and fork_available():

        def share(i: int, _report: Callable[[float], None]) -> list[RunEntry]:
            _yield_to_the_foreground()
            lo, hi = i * runs // workers, (i + 1) * runs // workers
            return [branches.engine_run(arm, r) for r in range(lo, hi)]

        def relay(finished: int, fraction: float) -> None:
            if progress:
                progress(
                    f"arm {arm.name}: {finished}/{workers} shares of {runs} runs", (done + fraction * runs) / total
                )

        parts = await map_forked(share, workers, workers, progress=relay)
        return [run for part in parts for run in part]
    out = []
    for r in range(runs):
        branches.stopped()
        out.append(branches.engine_run(arm, r))
        if progress and (r % 8 == 0 or r == runs - 1):
            progress(f"arm {arm.name}: {r + 1}/{runs} runs", (done + r + 1) / total)
    return out


async def run_forecast(
    world: World,
    registry: Registry,
    request: Forecast,
    *,
    progress: Progress = None,
    workers: int | None = None,
    stop: threading.Event | None = None,
    posterior: FitResult | None = None,
    checked: CheckedForecast | None = None,
) -> ForecastResult:
    """The forecast ``request`` of ``world`` (never modified).

    Args:
        checked: :func:`check_forecast`'s answer for this world and request (its checks not made again).
        posterior: a fit's result to draw each run's parameters from, as from the file it writes (``-o``; the
            request then names no ``posterior`` file).
        stop: set from another thread, it cancels the forecast: runs in this process end between two ticks
            (the engine's) or two runs (the compiled kernels'); worker processes are ended when the coroutine
            is cancelled (:func:`sim.runs.transport.map_forked`), which whoever sets ``stop`` does too.

    Raises:
        BadParameterError: no such session, one that is not running, a bad arm, parameter or posterior.
        ForecastCancelled: ``stop`` was set.
    """
    t0 = time.perf_counter()
    workers = request.workers or workers or default_workers(request.runs)
    session = _session(world, request.session)
    if checked is not None and checked.world is world and checked.request is request and posterior is None:
        branches = checked
        branches.stop = stop
    else:
        branches = _Branches(world, registry, request, session, stop, posterior)
    arms: dict[str, ArmForecast] = {}
    total = len(request.arms) * request.runs
    done = 0
    base_runs: list[RunEntry] | None = None
    for arm in request.arms:
        branches.stopped()
        kernel = branches.kernel_for(arm)
        if kernel == "batched":
            runs = await _kernel_runs(branches, arm, workers)
        else:
            runs = await _engine_runs(branches, arm, workers, progress, done, total)
        done += request.runs
        if progress:
            progress(f"arm {arm.name}: {request.runs} runs ({kernel})", done / total)
        ok = [r for r in runs if r.get("status") != "failed"]
        paired = None if base_runs is None else paired_difference(base_runs, runs, int(world.n))
        arms[arm.name] = ArmForecast(
            arm.name,
            runs,
            _quantiles([float(x) for r in ok if (x := r.get("reached")) is not None]),
            _band(runs, int(session.round)),
            cascade_stats([r.get("cascade") for r in ok], int(world.n)),
            paired,
            kernel,
        )
        if base_runs is None:
            base_runs = runs
    drawn = {k: [float(d[k]) for d in branches.drawn] for k in (branches.drawn[0] if branches.drawn else {})}  # type: ignore[arg-type]
    return ForecastResult(
        branched_at=int(world.tick),
        session=session.id,
        round=int(session.round),
        runs=request.runs,
        seed=request.seed,
        horizon=request.ticks,
        arms=arms,
        seconds=time.perf_counter() - t0,
        posterior=request.posterior if posterior is None else f"a fit of {posterior.model}",
        agents=int(world.n),
        params=drawn,
    )


def plot_bands(path: str, result: ForecastResult) -> str:
    """Each arm's 90 % band and median of ``reached`` per tick ahead of the branch, in its own colour, labelled.
    Returns the figure's absolute path."""
    import matplotlib  # noqa: PLC0415 - heavy (~1 s to import), needed only for figures
    from matplotlib.figure import Figure  # noqa: PLC0415

    fmt = figure_format(path)
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "agora", "pdf.fonttype": 42}):
        fig = Figure(figsize=(7, 4))
        ax = fig.subplots()
        colours = matplotlib.colormaps["tab10"]
        for i, (name, arm) in enumerate(result.arms.items()):
            band = arm.series
            ticks = np.asarray(band.get("tick", []))
            reached = band.get("reached")
            if not isinstance(reached, dict) or not ticks.size:
                continue
            colour = colours(i % 10)
            ax.fill_between(ticks, reached["q05"], reached["q95"], color=colour, alpha=0.25)
            ax.plot(ticks, reached["median"], color=colour, lw=1.5, label=f"{literal_label(name)}: median and 90% band")
        ax.axvline(result.round, color="black", lw=0.8, ls="--", label=f"branched (round {result.round})")
        ax.set_xlabel("round of the session")
        ax.set_ylabel("agents reached")
        ax.set_title(
            f"session {result.session} branched at tick {result.branched_at}: {result.runs} continuations an arm",
            fontsize=9,
        )
        ax.legend(fontsize=8)
        metadata = {"png": {"Software": None}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}[fmt]
        save_figure(fig, path, fmt, metadata)
    return os.path.abspath(path)
