"""``agora backtest``: at each cut, a fit on the data up to it, each method's forecast of the next ticks, and their
scores against what was observed then (:class:`~sim.engine.requests.backtest.Backtest` is the request).

Everything is read and checked once, before any fit: the world against the plan's statement of it, the model and
priors against the world (the fit's :class:`~sim.runs.fit.fitting.Plan` on the whole observation), the cuts, the
horizon and the serial interval. Then each cut is one job: its fit (:func:`sim.runs.fit.fitting.run_fit` on the
observation up to the cut), Agora's forecast continued from it and the baselines'
(:mod:`sim.runs.backtest.forecasts`), scored by :func:`sim.analysis.scores.score_samples`. A cut's job depends on
no other, and every random draw in it on the fit's seed and the cut's tick alone: the cuts run in forked workers
at once (:func:`sim.runs.transport.map_forked`, each fit on one process of them) or one after another (each fit on
every worker), with the same numbers either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import dataclasses
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.analysis.rt import SerialInterval, week_window
from sim.analysis.rtcurve import serial_interval_of
from sim.core.boundedio import bounded_text
from sim.core.world import World
from sim.engine.requests.backtest import Backtest
from sim.errors import BadParameterError
from sim.model.registry import Registry
from sim.plugin import Forecaster
from sim.runs.backtest.cascade_run import run_cascade_backtest
from sim.runs.backtest.ensemble import ENSEMBLE, combine, equal, fit_weights, members_of, training_pairs, with_ensemble
from sim.runs.backtest.filtering import Filtered, check_law, filtered_draws
from sim.runs.backtest.forecasts import RECENT, agora_draws
from sim.runs.backtest.methods import CutContext, Renewal, check_needs, forecast_draws, forecaster, stream_of
from sim.runs.backtest.result import (
    PIT_BINS,
    REFERENCE,
    SCORES,
    BacktestResult,
    Calibration,
    CutResult,
    Progress,
    band_of,
    hub_quantiles,
)
from sim.runs.backtest.timeline import Timeline
from sim.runs.fit.fitting import Plan, run_fit
from sim.runs.transport import default_workers, fork_available, map_forked
from sim.store.observed import ObservedSeries, read_observed
from sim.store.timeline import parse_duration

if TYPE_CHECKING:
    from sim.runs.backtest.cascade_run import CascadeBacktestResult


@dataclass(frozen=True)
class Setup:
    """What every cut's job shares, read and checked once."""

    request: Backtest
    observed: ObservedSeries
    timeline: Timeline
    ticks: tuple[int, ...]
    column: str
    methods: tuple[str, ...]
    serial_interval: SerialInterval | None
    #: Each method's forecaster (:mod:`sim.runs.backtest.methods`), by name.
    forecasters: dict[str, type[Forecaster]] = dataclasses.field(default_factory=dict)
    #: The fit's plan on the whole observation (``agora`` among the methods), made once: its simulator is
    #: compiled before workers fork.
    plan: Plan | None = None


def check_world(request: Backtest, world: World) -> None:
    """The plan's ``[world]`` statement (``agents``, ``edges``) against ``world``."""
    plan = request.plan
    if plan is None:
        return
    have = {"agents": int(world.n), "edges": int(world.num_edges)}
    for key in ("agents", "edges"):
        stated = plan.world.get(key)
        if stated is not None and stated != have[key]:
            raise BadParameterError(
                f"plan file {plan.path} states a world of {stated:,} {key}, and this world has {have[key]:,}: run the "
                "plan on the world it was written for (or change the plan, and with it its sha256)"
            )


def _plan_check(request: Backtest, world: World, registry: Registry) -> Plan:
    """The fit's plan on the whole observation: the model, priors, observation and options checked against the
    world (a plan file's mistakes named as its own)."""
    try:
        check_world(request, world)
        fit = request.fit
        states = tuple(str(s) for s in registry.model(fit.model).states)
        obs = _read(request, world, states)
        # What a backtest cannot forecast is said before the fit's plan is made of it: a run's cascades file of
        # 300 runs would otherwise be told that the fit's replicates (one per cascade) are over 256.
        _check_kind(obs, request.methods)
        return Plan(world, registry, fit, obs)
    except BadParameterError as exc:
        if request.plan is None or "plan file" in str(exc):
            raise
        raise BadParameterError(f"plan file {request.plan.path}: {exc}") from None  # its keys are no flags


def setup(request: Backtest, world: World, registry: Registry, *, ahead: bool = False) -> Setup:
    """Read and check everything a backtest needs before any fit (see the module docstring).

    Raises:
        BadParameterError: a plan that does not match the world, an observation that is not a series, a cut before
            the first observation or at or after the last, two cuts on one tick, a horizon past the data without
            ``until_done``, a method that needs what the data lack, a bad serial interval.
        BadFileError: the observation or the serial interval file cannot be read.

    ``ahead``: one cut at the last observation, its horizon forecast past the data (``agora forecast
    --observed``: nothing to score).
    """
    methods = request.methods
    forecasters = {m: forecaster(registry, m) for m in methods if m != "seismic"}
    for cls in forecasters.values():
        check_needs(cls, request.serial_interval is not None)
    plan = _plan_check(request, world, registry) if "agora" in methods else None
    obs = plan.observed if plan is not None else _read(request, world, ())
    _check_kind(obs, methods)
    assert isinstance(obs, ObservedSeries)
    line = Timeline.of(obs)
    if ahead:
        ticks: tuple[int, ...] = (line.last,)
    else:
        ticks = tuple(line.tick_of(t) for t in request.cut) or tuple(line.spread(request.cuts or 5, request.horizon))
    twice = next((i for i, t in enumerate(ticks) if t in ticks[:i]), None)
    if twice is not None:
        first = request.cut[ticks.index(ticks[twice])]
        raise BadParameterError(
            f"cuts {first} and {request.cut[twice]} fall on one tick of {obs.path}: give each tick one cut",
            fields="cut",
        )
    for tick in ticks:
        if tick + request.horizon > line.last and not (request.until_done or ahead):
            raise BadParameterError(
                f"horizon {request.horizon} from cut {line.labels[tick]} reaches past the last observation "
                f"({line.labels[-1]}) of {obs.path}: give a horizon of {line.last - tick} or less, an earlier cut, or "
                "until_done to score what the data cover",
                fields=("horizon", "until_done"),
            )
    columns = request.fit.columns or tuple(obs.columns)
    column = columns[0]
    if column not in obs.columns:
        raise BadParameterError(f"columns names {column!r}, which the observed series lacks", fields="columns")
    if plan is not None and request.filter == "binomial":
        own = [d for c, _, d in plan.channels if c == column]
        check_law("binomial", own or [plan.delay])
    values = obs.columns[column]
    odd = np.flatnonzero(np.isfinite(values) & ~((values >= 0) & (values == np.round(values))))  # NaN: no row
    if odd.size:
        at = line.labels[int(obs.ticks[odd[0]])]
        raise BadParameterError(
            f"a backtest scores counts, and {column} in {obs.path} is not a whole number of 0 or more at {at}: give "
            "counts per tick",
            fields="observed",
        )
    si = None
    if any("serial_interval" in cls.needs for cls in forecasters.values()):
        days = tick_days(obs)
        if days is None:
            raise BadParameterError(
                f"the renewal projection counts its serial interval in days, and the ticks of {obs.path} last "
                f"{obs.recorded['tick'] if obs.recorded else 'one tick'}: give a tick of whole days (1d, 1w) for "
                "renewal",
                fields=("tick", "method"),
            )

        assert request.serial_interval is not None  # the request's parser asks for it with renewal
        si = serial_interval_of(request.serial_interval)
        if days > 1:
            si = _per_tick(si, days, line.last + request.horizon + 2)
    _check_starts(obs, column, line, ticks, methods, si)
    scored = methods if REFERENCE in methods else (*methods, REFERENCE)  # the reference of relative WIS
    scored = with_ensemble(scored, request.ensemble, ENSEMBLE in request.method)
    if ahead and request.ensemble_weights:
        raise BadParameterError(
            "ensemble_weights are fitted on a backtest's earlier cuts, and a forecast from data has none: drop them "
            "(the members are weighed equally)",
            fields="ensemble_weights",
        )
    for name in (REFERENCE, ENSEMBLE):
        if name in scored and name not in forecasters:
            forecasters[name] = forecaster(registry, name)
    return Setup(request, obs, line, ticks, column, scored, si, forecasters, plan)


def _read(request: Backtest, world: World, states: tuple[str, ...]) -> Any:
    """The observation of ``request``, read as the fit of a model of ``states`` reads it."""

    fit = request.fit
    return read_observed(
        fit.observed,
        world,
        states,
        time=fit.time,
        tick=fit.tick,
        observe=fit.observe,
        people=fit.people,
        imported=fit.imported,
    )


def _check_kind(obs: Any, methods: tuple[str, ...]) -> None:
    """Refuse an observation that is no series of counts per tick (seismic's own sentence first)."""
    if "seismic" in methods:
        _refuse_seismic(obs)
    if not obs.per_tick:
        raise BadParameterError(
            f"a backtest forecasts a series of counts per tick, and {obs.path} is {obs.kind}: give a curve (a time "
            "column and counts, a line list, or a run's series)",
            fields="observed",
        )


def _refuse_seismic(obs: Any) -> None:
    """SEISMIC's refusal of a series (its data are cascades: each post's time and its author's followers; a file of
    cascades with follower counts goes to :mod:`sim.runs.backtest.cascade_run` before this)."""
    if obs.per_tick:
        raise BadParameterError(
            f"seismic predicts the final sizes of cascades from reshare times and follower counts, and {obs.path} is "
            "a series of counts per tick: backtest a series with agora, persistence or renewal",
            fields="method",
        )
    raise BadParameterError(
        f"seismic predicts the final sizes of cascades from reshare times and follower counts, and {obs.path} "
        "has no follower counts: give timestamped cascades id,parent,time with a followers column",
        fields="method",
    )


#: The columns that make an observation a file of cascades with follower counts (a backtest of final sizes).
CASCADE_COLUMNS = frozenset(("id", "parent", "followers"))


def has_followers(source: object) -> bool:
    """Whether an observation's header has ``id``, ``parent`` and ``followers`` (a CSV's first line, a Parquet
    file's schema, a DataFrame's columns): cascades with follower counts."""
    if not isinstance(source, str):
        names = {str(c) for c in getattr(source, "columns", ())}
    elif source.lower().endswith(".parquet"):
        from sim.store.seriesio import parquet_schema  # noqa: PLC0415 - the footer checked and bounded

        names = set(parquet_schema(source, "observation file", "a table with a header row")[1])
    elif source.lower().endswith((".csv", ".csv.gz")):
        with bounded_text(source, "observation file", "a CSV file", gz=source.lower().endswith(".gz")) as text:
            names = {h.strip() for h in next(csv.reader([text.readline()]), [])}
    else:
        return False
    return names >= CASCADE_COLUMNS


def _check_starts(
    obs: ObservedSeries, column: str, line: Timeline, ticks: tuple[int, ...], methods: tuple[str, ...], si: Any
) -> None:
    """Each cut leaves the data each method needs before it: two ticks (a change, for persistence), and R's last
    window for the renewal projection (tried on the data, one draw)."""
    for tick in ticks:
        if tick < 1:
            raise BadParameterError(
                f"cut {line.labels[tick]} leaves one observation of {obs.path} before it, and a fit or a baseline "
                "needs more: give a later cut",
                fields="cut",
            )
        if "renewal" in methods:
            known = np.nan_to_num(_series_to(obs, column, tick), nan=0.0)
            try:
                ctx = CutContext(
                    known, 1, 1, np.random.default_rng(0), tick_days(obs), si, imported_to(obs, tick), 7,
                    renewal_window(obs),
                )  # fmt: skip
                Renewal().forecast(ctx)
            except BadParameterError as exc:
                raise BadParameterError(
                    f"the renewal projection cannot start at cut {line.labels[tick]}: {exc}", fields="cut"
                ) from None


def imported_to(obs: ObservedSeries, last: int) -> np.ndarray | None:
    """The imported cases at ticks ``0 .. last`` (float64; None without a column of them)."""
    if obs.imported is None:
        return None
    out = np.zeros(last + 1)
    part = obs.imported[: last + 1]
    out[: part.size] = part
    return out


def _series_to(obs: ObservedSeries, column: str, last: int) -> np.ndarray:
    """``column`` at ticks ``0 .. last``, NaN where the file has no row."""
    out = np.full(last + 1, np.nan)
    keep = obs.ticks <= last
    out[obs.ticks[keep]] = obs.columns[column][keep]
    return out


def tick_days(obs: ObservedSeries) -> int | None:
    """The days one tick of ``obs`` lasts (1 for a daily curve, 7 for weekly counts; 1 for a series of Agora's
    own, whose ticks are the world's), or None for ticks that are no whole number of days."""
    if obs.recorded is None:
        return 1
    seconds = parse_duration(str(obs.recorded["tick"]))
    return seconds // 86_400 if seconds % 86_400 == 0 else None


def _per_tick(si: SerialInterval, days: int, ticks: int) -> SerialInterval:
    """A serial interval in days as the renewal projection's probabilities over ticks of ``days`` days: spread over
    the ticks (:func:`sim.analysis.rt.aggregate_days`), lag 0 set to 0 and lags 1 on rescaled to sum to 1 (as the
    projection treats every serial interval: ``projections``' ``si / sum(si)``), so that R is estimated and
    projected with the same weights."""
    w = np.array(si.over(ticks, days), dtype=np.float64)
    w[0] = 0.0
    total = float(w.sum())
    if total <= 0:
        raise BadParameterError(
            f"the serial interval {si.source} lies within one tick of {days} days: the renewal projection has no "
            "later tick to carry it; leave renewal out",
            fields="serial_interval",
        )
    return SerialInterval(source=f"{si.source} over ticks of {days} days", probabilities=w / total)


def renewal_window(obs: ObservedSeries) -> int:
    """R's last window for the renewal projection: a week's ticks (EpiEstim's 7 of a daily curve, 1 of a weekly
    one; 7 ticks of a series of Agora's own)."""
    return week_window(tick_days(obs) or 1)


def persistence_level(req: Backtest, obs: ObservedSeries | None = None) -> int:
    """The persistence baseline's level: the last week's mean count when one tick is a day (``tick 1d``: the
    issue's "last week's level", a day's noise no longer setting the median), else the last count (the Hub's
    baseline on its weekly series: the last week's count)."""
    if obs is not None and obs.recorded is not None:
        return 7 if tick_days(obs) == 1 else 1
    return 7 if req.fit.tick is not None and parse_duration(req.fit.tick) == 86_400 else 1


def _fit_report(fit: Any) -> dict[str, Any]:
    data = fit.to_dict()
    keep = ("simulations", "failed", "ess", "seconds", "population", "stopped", "warnings", "params", "fixed")
    return {k: data[k] for k in keep}


async def run_cut(
    s: Setup, index: int, world: World, registry: Registry, workers: int, progress: Progress = None
) -> CutResult:
    """Cut ``index``: its fit, each method's forecast and their scores (see the module docstring); the ensemble's
    after every cut (:func:`add_ensemble`)."""
    t0 = time.perf_counter()
    req, tick = s.request, s.ticks[index]
    h, label = req.horizon, s.timeline.labels[tick]
    history = _series_to(s.observed, s.column, tick)
    truth = np.full(h, np.nan)
    after = _series_to(s.observed, s.column, min(s.timeline.last, tick + h))[tick + 1 :]
    truth[: after.size] = after
    known = np.nan_to_num(history, nan=0.0)  # a day the file has no row for: no case counted
    seed = req.fit.seed
    draws: dict[str, np.ndarray] = {}
    fit_report = None
    failed = 0
    alive: float | None = None
    filtered: Filtered | None = None
    for method in s.methods:
        rng = np.random.default_rng([seed, tick, stream_of(method)])
        if method == ENSEMBLE:
            continue  # made of the others', once every cut has ended (its weights read earlier cuts)
        if method == "agora":
            fit_request = dataclasses.replace(req.fit, workers=workers)
            plan = Plan(world, registry, fit_request, s.observed.truncated(tick, label))  # the cut's, made once
            fit = await run_fit(world, registry, fit_request, plan=plan, progress=progress)
            recent = float(np.nansum(history[max(0, tick + 1 - RECENT) :])) if req.alive else None
            got = np.empty((0, h))
            if req.filter != "none":
                got, failed, filtered = filtered_draws(plan, fit, tick, h, s.column, history, rng, req)
            if not got.shape[0]:  # no filter, or a collapsed one: the fit's particles continued
                got, lost, alive = agora_draws(plan, fit, tick, h, s.column, req.draws, rng, recent)
                failed += lost
            draws[method] = got
            fit_report = _fit_report(fit)
        else:
            ctx = CutContext(
                history=known,
                horizon=h,
                draws=req.draws,
                rng=rng,
                tick_days=tick_days(s.observed),
                serial_interval=s.serial_interval if "serial_interval" in s.forecasters[method].needs else None,
                imported=imported_to(s.observed, tick),
                level=persistence_level(req, s.observed),
                window=renewal_window(s.observed),
            )
            draws[method] = forecast_draws(s.forecasters[method], ctx, f"cut {label}")
    return CutResult(
        label=label,
        tick=tick,
        history=history,
        truth=truth,
        fit=fit_report,
        bands={m: band_of(d) for m, d in draws.items()},
        quantiles={m: hub_quantiles(d) for m, d in draws.items()},
        scores={m: scored(d, truth) for m, d in draws.items()},
        calibration={m: calibrated(d, truth) for m, d in draws.items()},
        failed=failed,
        seconds=time.perf_counter() - t0,
        alive=alive,
        filtered=None if filtered is None else filtered.to_dict(),
        draws=draws if ENSEMBLE in s.methods else {},
    )


def scored(draws: np.ndarray, truth: np.ndarray) -> dict[str, np.ndarray]:
    """The scores (:data:`SCORES`) of ``draws`` ``(M, H)`` per horizon against ``truth`` ``(H,)``; NaN where the
    truth is (past the data) or there are no draws."""
    from sim.analysis.scores import score_samples  # noqa: PLC0415 - the scores load with a backtest only

    h = truth.size
    ok = np.isfinite(truth)
    per = {name: np.full(h, np.nan) for name in SCORES}
    if ok.any() and draws.shape[0]:
        got = score_samples(draws[:, ok], truth[ok])
        for name in SCORES:
            per[name][ok] = np.asarray(got[name], dtype=np.float64)
    return per


def calibrated(draws: np.ndarray, truth: np.ndarray) -> Calibration:
    """The path scores and calibration of ``draws`` ``(M, H)`` against ``truth`` ``(H,)``, over the horizons with a
    truth (:class:`~sim.runs.backtest.result.Calibration`); None where there is none or no draw."""
    from sim.analysis.scores import (  # noqa: PLC0415 - the scores load with a backtest only
        CENTRAL_LEVELS,
        coverage_levels,
        energy_score,
        pit_histogram,
        variogram_score,
    )

    ok = np.isfinite(truth)
    if not ok.any() or not draws.shape[0]:
        return None
    paths, y = draws[:, ok], truth[ok]
    return {
        "energy_score": float(energy_score(paths, y)),
        "variogram_score": float(variogram_score(paths, y)),
        "cover": np.asarray(coverage_levels(paths, y, CENTRAL_LEVELS), dtype=np.float64),  # (scored horizons, L)
        "pit": np.asarray(pit_histogram(paths, y, PIT_BINS), dtype=np.float64),
        "forecasts": int(ok.sum()),
    }


def add_ensemble(s: Setup, cuts: list[CutResult]) -> None:
    """Each cut's ensemble of the other methods' draws (:mod:`sim.runs.backtest.ensemble`), in the order of the cuts'
    ticks: its weights at a cut fitted on the earlier cuts' forecasts whose truths that cut knew
    (``ensemble_weights``), else equal. Each cut's members' draws are let go after."""
    if ENSEMBLE not in s.methods:
        return
    req = s.request
    members = members_of(s.methods)
    ticks = [c.tick for c in cuts]
    for i, cut in enumerate(cuts):
        if req.ensemble_weights:
            q, y = training_pairs(ticks, [c.quantiles for c in cuts], [c.truth for c in cuts], members, i)
            weights = fit_weights(q, y, members)
        else:
            weights = equal(members)
        rng = np.random.default_rng([req.fit.seed, cut.tick, stream_of(ENSEMBLE)])
        d = combine([cut.draws[m] for m in members], req.ensemble, req.draws, rng, weights.values)
        cut.bands[ENSEMBLE] = band_of(d)
        cut.quantiles[ENSEMBLE] = hub_quantiles(d)
        cut.scores[ENSEMBLE] = scored(d, cut.truth)
        cut.calibration[ENSEMBLE] = calibrated(d, cut.truth)
        cut.ensemble = weights.to_dict()
    for cut in cuts:
        cut.draws = {}


def _cut_line(s: Setup, index: int, cut: CutResult, done: int) -> str:
    fit = f"; fit: {cut.fit['simulations']:,} simulations, ESS {cut.fit['ess']:.0f}" if cut.fit else ""
    f = cut.filtered
    if f is not None and f["collapsed"]:
        fit += "; " + Filtered.from_dict(f).line(cut.label)
    elif f is not None:
        law = {"binomial": "binomial", "negbin": "Poisson" if f["size"] is None else f"negbin, size {f['size']:.3g}"}
        fit += f"; filtered ({law[str(f['law'])]}): ESS {f['ess_at_cut']:.0f} of {f['particles']:,} trajectories"
    if cut.alive is not None:
        fit += f"; {cut.alive:.0%} of its weight on trajectories alive in the last {RECENT} ticks"
    return (
        f"cut {index + 1} of {len(s.ticks)} ({cut.label}, tick {cut.tick}) done in {cut.seconds:.1f} s{fit} "
        f"[{done}/{len(s.ticks)}]"
    )


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS on one thread while the block runs (threadpoolctl). A cut's fit in a forked worker runs ABC's small
    linear algebra itself, and two workers' BLAS threads spinning on two cores made it four times slower (7 s
    against 1.75 s, a 2,000-simulation fit on a 2-core machine); and the fits one after another use one thread
    too, so that their numbers equal the parallel ones to the last digit (a sum split over threads rounds
    otherwise)."""
    from threadpoolctl import threadpool_limits  # noqa: PLC0415 - loads the BLAS libraries' info: backtests only

    with threadpool_limits(limits=1, user_api="blas"):
        yield


async def run_backtest(
    world: World,
    registry: Registry,
    request: Backtest,
    *,
    progress: Progress = None,
    parallel: bool = True,
    ahead: bool = False,
) -> BacktestResult | CascadeBacktestResult:
    """The backtest ``request`` on ``world`` (never modified).

    Args:
        progress: called with a line as each cut ends (and the fraction of cuts done).
        parallel: the cuts in forked workers at once (each fit on one of them); False: one after another, each fit
            on every worker (the same numbers).

    Raises:
        BadParameterError, BadFileError: see :func:`setup`, and what a fit raises.
    """
    if request.fit.observed is not None and has_followers(request.fit.observed):
        check_world(request, world)
        return await run_cascade_backtest(world, registry, request, progress=progress)
    t0 = time.perf_counter()
    s = setup(request, world, registry, ahead=ahead)
    n = len(s.ticks)
    workers = request.workers or default_workers(max(n, 1) if parallel else request.fit.budget)
    procs = min(workers, n) if parallel and fork_available() and request.fit.ray is None else 1
    if s.plan is not None and s.request.fit.ray is None and s.plan.simulator is not None:
        s.plan.simulator.warm()  # compiled here once, before any worker forks
    results: list[CutResult | None] = [None] * n
    done = [0]

    def finished(index: int, cut: CutResult) -> None:
        done[0] += 1
        results[index] = cut
        if progress is not None:
            progress(_cut_line(s, index, cut, done[0]), done[0] / n)

    if procs > 1:
        inner = max(1, workers // procs)

        def job(index: int, _report: Callable[[float], None]) -> CutResult:
            with one_blas_thread():
                return asyncio.run(run_cut(s, index, world, registry, inner))

        await map_forked(job, n, procs, on_done=finished)
    else:
        with one_blas_thread():
            for index in range(n):
                finished(index, await run_cut(s, index, world, registry, workers))
    add_ensemble(s, [c for c in results if c is not None])
    result = BacktestResult(
        observed=_describe(s),
        column=s.column,
        settings=request.describe() | {"methods": list(s.methods)},
        methods=list(s.methods),
        horizon=request.horizon,
        labels=s.timeline.labels,
        cuts=[c for c in results if c is not None],
        workers=workers,
        parallel=procs > 1,
    )
    result.seconds = time.perf_counter() - t0
    result.timeline = s.timeline
    result.colours = {m: str(cls.colour) for m, cls in s.forecasters.items()}
    return result


def _describe(s: Setup) -> dict[str, Any]:
    obs = s.observed
    out: dict[str, Any] = {
        "path": obs.path,
        "kind": obs.kind,
        "columns": list(obs.columns),
        "ticks": s.timeline.last + 1,
    }
    out["first"], out["last"] = s.timeline.labels[0], s.timeline.labels[-1]
    if obs.recorded is not None:
        out["recorded"] = obs.recorded
    return out
