"""``agora forecast``: a running session's present branched R times under arms (the engine is
:mod:`sim.runs.forecast`)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from sim.analysis.plot import check_figure_path
from sim.cli.args import EXIT_FAILED, given, request_fields
from sim.cli.fields import flag
from sim.cli.output import emit, imported_line, shown_line
from sim.cli.parsers.forecast import DATA_FLAGS
from sim.cli.progress import stderr_progress
from sim.cli.textable import render_table
from sim.engine.requests import Backtest, Forecast
from sim.errors import BadParameterError
from sim.lab.world import WorldFile
from sim.runs.backtest.ahead import write_hubverse
from sim.store.timeticks import parse_duration, tick_unit
from sim.store.worldfile import check_target


def handle(args: argparse.Namespace) -> Any:
    return _cmd_forecast(args)


async def _cmd_forecast(args: argparse.Namespace) -> int:
    if args.plot:
        check_target(args.plot, args.force, what="figure")
        check_figure_path(args.plot)
    elif args.force and not getattr(args, "output", None):
        raise BadParameterError("--force overwrites the --plot and -o files: give one, or drop --force")
    if args.observed is not None:
        return await _from_data(args)
    data_only = next((f for f in DATA_FLAGS if getattr(args, f, None) not in (None, [])), None)
    if data_only is not None:
        raise BadParameterError(
            f"{flag(data_only, 'forecast')} goes with a forecast from data: give --observed FILE with it, or drop "
            "it for a running session's forecast"
        )
    if args.runs is None:
        raise BadParameterError(
            "give --runs R (continuations of the world's running session) or --observed FILE (a forecast from data)"
        )
    if args.ticks is None and not args.until_done:
        raise BadParameterError("give the horizon: --ticks H ahead of now, or --until-done")
    request = Forecast.parse(request_fields(args, Forecast.OPTIONS))
    with stderr_progress() as progress:
        result = await WorldFile(args.world, plugins=args.plugins).aforecast(request, progress=progress)
    data = result.to_dict()
    if args.plot:
        data["figure"] = result.plot(args.plot)
    emit(args, data, lambda: format_forecast(data))
    failed = sum(sum(1 for run in arm.runs if run.get("status") == "failed") for arm in result.arms.values())
    if failed:
        sys.stderr.write(f"agora: {failed} continuations failed; every statistic leaves them out\n")
        return EXIT_FAILED
    return 0


#: The fields of a forecast from data that take the flags of the same name, where given (the rest are the
#: request's defaults).
_FROM_DATA = (
    "observed model horizon method serial_interval draws alive time tick observe columns delay summary seeds budget "
    "population replicates distance adjust ray kernel seed workers people imported channel ensemble ensemble_weights "
    "filter filter_particles filter_window"
)
#: A running session's flags, which a forecast from data refuses.
_SESSION_ONLY = ("session", "runs", "ticks", "until_done", "arm", "posterior")


def _line(what: str, _fraction: float) -> None:
    sys.stderr.write(f"agora: forecast: {what}\n")
    sys.stderr.flush()


async def _from_data(args: argparse.Namespace) -> int:
    """``agora forecast WORLD --observed FILE``: the fit on every observation and each method's forecast of the
    ticks after the last (:mod:`sim.runs.backtest.ahead`)."""

    session = next((f for f in _SESSION_ONLY if getattr(args, f, None) not in (None, [], False)), None)
    if session is not None:
        raise BadParameterError(
            f"{flag(session, 'forecast')} goes with a running session's forecast, and --observed forecasts from "
            "data: give --horizon H, the ticks after the last observation"
        )
    if args.horizon is None:
        raise BadParameterError("give --horizon H: the ticks to forecast after the last observation")
    if args.format is not None and not args.output:
        raise BadParameterError("--format names the -o table's format: give -o FILE, or drop --format")
    if args.output:
        check_target(args.output, args.force, what="forecast table")
    fields = {k: v for k, v in given(args, _FROM_DATA).items() if v is not None and v != []}
    if args.param:
        fields["params"] = list(args.param)
    fields["until_done"] = True
    request = Backtest.parse(fields)
    world = WorldFile(args.world, plugins=args.plugins)
    result = await world.aforecast_observed(request, progress=_line, location=args.location)
    data = result.to_dict()
    if args.output:
        data["output"] = write_hubverse(args.output, result.hubverse_rows())
    if args.plot:
        result.backtest.plot(args.plot, force=True)  # checked above, before the fit
        data["figure"] = os.path.abspath(args.plot)
    emit(args, data, lambda: format_ahead(data))
    if data["failed"]:
        sys.stderr.write(f"agora: {data['failed']} continued simulations failed; the forecast is made of the others\n")
        return EXIT_FAILED
    return 0


def format_ahead(data: dict[str, Any]) -> str:
    """A forecast from data as text: what was fitted, then per method and tick ahead its median and intervals."""
    obs = data["observed"]
    unit = tick_unit(parse_duration(str(obs["recorded"]["tick"]))) if obs.get("recorded") else "tick"
    h = data["horizon"]
    lines = [
        f"{', '.join(data['methods'])} forecasts of {data['column']} in {obs['path']} ({obs['first']} to "
        f"{obs['last']}), {h} {unit}{'' if h == 1 else 's'} after the last observation",
    ]
    if obs.get("recorded", {}).get("reading"):
        lines.append(f"read as: {obs['recorded']['reading']}")
    lines += imported_line(obs.get("recorded"))
    fit = data.get("fit")
    if fit:
        medians = ", ".join(f"{k} {p['median']:.4g}" for k, p in fit["params"].items())
        lines.append(
            f"fit on every observation: {data['model']}, {fit['simulations']:,} simulations, ESS {fit['ess']:.0f}; "
            f"medians {medians}"
        )
    lines.append("")
    head = [unit, "method", "median", "50% interval", "90% interval"]
    rows = []
    for method in data["methods"]:
        band = data["forecasts"].get(method)
        if band is None:
            continue
        for i, target in enumerate(data["targets"]):
            rows.append(
                [
                    target,
                    method,
                    _q(band["q50"][i]),
                    f"{_q(band['q25'][i])} .. {_q(band['q75'][i])}",
                    f"{_q(band['q05'][i])} .. {_q(band['q95'][i])}",
                ]
            )
    lines.append(render_table(head, rows, numeric=(2,)))
    lines.append("")
    lines.append(
        f"the quantiles at the Forecast Hub's 23 levels are in --json (quantiles); {data['seconds']:.1f} s; "
        "world file not modified"
    )
    if data.get("output"):
        lines.append(f"hubverse table: {data['output']['path']} ({data['output']['rows']:,} rows)")
    if data.get("figure"):
        lines.append(f"figure: {data['figure']}")
    return "\n".join(lines)


def _q(x: object) -> str:
    return "-" if x is None else f"{float(x):,.0f}"  # type: ignore[arg-type]


def _g(x: object) -> str:
    return "-" if x is None else f"{float(x):,.1f}"  # type: ignore[arg-type]


def format_forecast(data: dict[str, Any]) -> str:
    """The forecast as text: where it branched, one row per arm, the paired differences."""
    horizon = f"{data['ticks']} ticks ahead" if data["ticks"] else "until the session ends"
    lines = [
        f"session {data['session']} branched at tick {data['branched_at']} (round {data['round']}): "
        f"{data['runs']} continuations per arm, {horizon}, seeds {data['seed']}..{data['seed'] + data['runs'] - 1}",
        "",
    ]
    head = ["arm", "median reached", "90% interval", "mean", "vs first", "95% CI", "kernel"]
    rows = []
    for name, arm in data["arms"].items():
        r = arm["reached"]
        p = arm.get("paired")
        diff = "(first)" if p is None else f"{p['reach_diff_mean']:+,.1f}"
        ci = "" if p is None else f"{_g(p['reach_diff_ci95'][0])} .. {_g(p['reach_diff_ci95'][1])}"
        rows.append(
            [
                shown_line(name),
                _g(r["median"]),
                f"{_g(r['ci90'][0])} .. {_g(r['ci90'][1])}",
                _g(r["mean"]),
                diff,
                ci,
                arm["kernel"],
            ]
        )
    lines.append(render_table(head, rows))
    lines.append("")
    extra = f"; parameters drawn from {data['posterior']}" if data.get("posterior") else ""
    lines.append(f"{data['agents']:,} agents; {data['seconds']:.1f} s{extra}; world file not modified")
    if data.get("figure"):
        lines.append(f"figure: {data['figure']}")
    return "\n".join(lines)
