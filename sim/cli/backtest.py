"""``agora backtest``: forecasts from fits at cuts of an observed curve, scored beside the baselines (the engine is
:mod:`sim.runs.backtest`).

Prints a table per method and horizon (WIS relative to persistence, 50 % and 90 % coverage, WIS, CRPS, log score,
absolute errors), a line per cut on stderr as it ends, and with ``--plot FIG`` a fan chart per cut and the relative
WIS by horizon. Exit 3 when simulations of a forecast failed (counted, left out of its draws).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from sim.analysis.plot import check_figure_path
from sim.cli.args import EXIT_FAILED
from sim.cli.fields import flag
from sim.cli.output import emit, imported_line, indented, shown_line
from sim.cli.textable import render_table
from sim.engine.requests import Backtest
from sim.engine.requests.backtest import PlanTrustError
from sim.errors import BadParameterError
from sim.lab.world import WorldFile
from sim.runs.backtest.ahead import hubverse_rows, location_of, write_hubverse
from sim.runs.backtest.cascades import SimulationsFailed
from sim.runs.backtest.result import BacktestResult
from sim.runs.backtest.running import has_followers
from sim.store.timeticks import parse_duration, tick_unit
from sim.store.worldfile import check_target


def handle(args: argparse.Namespace) -> Any:
    return _cmd_backtest(args)


def _request_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The fields the command line gave (a flag left out is left to the request's default, or to the plan)."""
    given = {name: getattr(args, name, None) for name in Backtest.FIELDS}  # a flag of the field's name, where given
    fields = {k: v for k, v in given.items() if v is not None and v != []}
    if args.param:
        fields["params"] = list(args.param)
    return fields


def _line(what: str, _fraction: float) -> None:
    sys.stderr.write(f"agora: backtest: {what}\n")
    sys.stderr.flush()


async def _cmd_backtest(args: argparse.Namespace) -> int:
    if args.plot:
        check_target(args.plot, args.force, what="figure")
        check_figure_path(args.plot)
    elif args.force and not args.output:
        raise BadParameterError("--force overwrites the --plot and -o files: give one, or drop --force")
    if args.format is not None and not args.output:
        raise BadParameterError("--format names the -o table's format: give -o FILE, or drop --format")
    if args.location is not None and not args.output:
        raise BadParameterError("--location names the -o table's location: give -o FILE, or drop --location")
    if args.output:
        check_target(args.output, args.force, what="forecast table")
    fields = _request_fields(args)
    if "observed" not in fields and "plan" not in fields:
        raise BadParameterError("give the observed curve with --observed FILE, or a --plan that names it")
    try:
        request = Backtest.parse(fields)
    except PlanTrustError as exc:  # said with the command line's words: --summary, --trust-plan
        give = f"the same {flag('summary')} FILE.py:function" if exc.setting == "summary" else flag(exc.setting)
        raise BadParameterError(exc.sentence(f"{give} on the command line", flag("trust_plan"))) from None
    if args.output and request.fit.observed is not None and has_followers(request.fit.observed):
        raise BadParameterError(
            "-o writes forecasts of counts per tick as a hubverse table, and this backtest forecasts cascades' "
            "final sizes: drop -o (--json keeps them)"
        )
    try:
        result = await WorldFile(args.world, plugins=args.plugins).abacktest(request, progress=_line)
    except SimulationsFailed as exc:  # a model plugin raised: its author sees where, and no forecast is made
        sys.stderr.write(f"agora: backtest: {shown_line(str(exc))}; no forecast was made of the others\n")
        if exc.failure is not None and exc.failure.traceback:
            sys.stderr.write(indented(exc.failure.traceback) + "\n")
        return EXIT_FAILED
    data: dict[str, Any] = result.to_dict()
    if args.output:
        assert isinstance(result, BacktestResult)  # cascades refused above
        data["output"] = write_hubverse(args.output, hubverse_rows(result, location_of(result, args.location)))
    if args.plot:
        result.plot(args.plot, force=True)  # checked above, before the fits
        data["figure"] = os.path.abspath(args.plot)
    emit(args, data, lambda: format_cascades(data) if data.get("target") == "final_size" else format_backtest(data))
    failed = sum(c.get("failed", 0) for c in data["cuts"])
    if failed:
        sys.stderr.write(f"agora: {failed} continued simulations failed; each forecast is made of the others\n")
        return EXIT_FAILED
    return 0


def _g(x: float | None, digits: str = ".3g") -> str:
    return "-" if x is None else format(x, digits)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"


def _provenance(data: dict[str, Any]) -> list[str]:
    """The plan's hash and every code file's, and one digest of them all: what fixed the forecast."""
    lines = []
    plan = data.get("plan")
    if plan:
        lines.append(f"plan: {plan['path']} (sha256 {plan['sha256']}){', trusted' if plan.get('trusted') else ''}")
    for code in data.get("code") or ():
        where = f"{code['path']} (sha256 {code['sha256']})" if code["path"] else "a module without a file"
        named = "the plan" if code["named_by"] == "plan" else "the command line"
        lines.append(f"code: summary {code['summary']}, {where}, named by {named}")
    if plan and data.get("code"):
        lines.append(f"plan with its code: sha256 {plan['sha256_with_code']}")
    return lines


def format_backtest(data: dict[str, Any]) -> str:
    """The backtest as plain text: what was fitted and cut, a table per method and horizon, the plan's hash."""
    obs = data["observed"]
    cuts = data["cuts"]
    fitted = "agora" in data["methods"]
    who = data["model"] if fitted else ", ".join(data["methods"])
    recorded = obs.get("recorded")
    unit = tick_unit(parse_duration(str(recorded["tick"]))) if recorded else "tick"
    h = data["horizon"]
    lines = [
        f"{who} forecasts of {data['column']} in {obs['path']} ({obs['first']} to {obs['last']}), "
        f"{len(cuts)} cuts, {h} {unit}{'' if h == 1 else 's'} ahead",
    ]
    if recorded and recorded.get("reading"):
        lines.append(f"read as: {recorded['reading']}")
    lines += imported_line(recorded)
    lines.append(f"cuts: {', '.join(c['cut'] for c in cuts)}")
    if fitted:
        lines.append(
            f"priors: {' '.join(data['params']) or 'none'}; seeds {data['seeds']}; budget {data['budget']:,} a fit"
        )
    lines += _provenance(data)
    lines.append("")
    head = ["method", "horizon", "rel. WIS", "cover50", "cover90", "WIS", "CRPS", "log score", "AE median", "AE log"]
    rows = []
    for method, s in data["scores"].items():
        for i, h in enumerate(s["horizon"]):
            rows.append(
                [
                    method if i == 0 else "",
                    str(h),
                    _g(s["relative_wis"][i]),
                    _pct(s["cover50"][i]),
                    _pct(s["cover90"][i]),
                    _g(s["wis"][i]),
                    _g(s["crps"][i]),
                    _g(s["log_score"][i]),
                    _g(s["ae_median"][i]),
                    _g(s["ae_log"][i]),
                ]
            )
        a = s["all"]
        rows.append(
            [
                "",
                "all",
                _g(a["relative_wis"]),
                _pct(a["cover50"]),
                _pct(a["cover90"]),
                _g(a["wis"]),
                _g(a["crps"]),
                _g(a["log_score"]),
                _g(a["ae_median"]),
                _g(a["ae_log"]),
            ]
        )
    lines.append(render_table(head, rows, numeric=tuple(range(1, len(head)))))
    lines.append("")
    lines += _calibration_lines(data)
    lines.append(
        f"relative WIS: the method's mean WIS over {data['reference']}'s on the same cuts (below 1: better); "
        f"{data['seconds']:.1f} s on {data['workers']} worker(s){', cuts in parallel' if data['parallel'] else ''}"
    )
    if data.get("figure"):
        lines.append(f"figure: {data['figure']}")
    if data.get("output"):
        lines.append(f"hubverse table: {data['output']['path']} ({data['output']['rows']:,} rows)")
    return "\n".join(lines)


def _calibration_lines(data: dict[str, Any]) -> list[str]:
    """The paths' scores and the calibration of each method, and the ensemble's members and weights."""
    head = ["method", "energy", "rel. energy", "variogram", "rel. variogram", "cover 50/80/90/95", "PIT by tenths"]
    rows = []
    for method, s in data["scores"].items():
        cover = s.get("coverage") or {}
        pit = s.get("pit") or []
        rows.append(
            [
                method,
                _g(s.get("energy_score")),
                _g(s.get("relative_energy_score")),
                _g(s.get("variogram_score")),
                _g(s.get("relative_variogram_score")),
                "/".join(_pct(cover.get(k)) for k in ("0.5", "0.8", "0.9", "0.95")),
                " ".join("-" if p is None else f"{p * 100:.0f}" for p in pit),
            ]
        )
    lines = [render_table(head, rows, numeric=(1, 2, 3, 4)), ""]
    lines.append(
        "energy and variogram scores of the forecast paths over the scored horizons (lower is better; relative: over "
        f"{data['reference']}'s); PIT: % of the truths' PIT in each tenth (10 each when calibrated; high ends: too "
        "narrow)"
    )
    weighted = [c for c in data["cuts"] if c.get("ensemble") and c["ensemble"]["trained_on"]]
    if "ensemble" in data["methods"]:
        members = data["cuts"][0]["ensemble"]["members"] if data["cuts"] and data["cuts"][0].get("ensemble") else []
        how = "the trajectory pool" if data.get("ensemble") == "pool" else f"the quantile {data.get('ensemble')}"
        lines.append(f"ensemble: {how} of {', '.join(members)}")
        for c in weighted:
            w = ", ".join(f"{m} {v:.2f}" for m, v in c["ensemble"]["weights"].items())
            n = c["ensemble"]["trained_on"]
            lines.append(f"  weights at cut {c['cut']}: {w} (fitted on {n} earlier forecasts)")
    lines.append("")
    return lines


def format_cascades(data: dict[str, Any]) -> str:
    """A backtest of cascades' final sizes as plain text: a row per cut and method."""
    obs = data["observed"]
    lines = [
        f"final sizes of the {obs['cascades']:,} cascades in {obs['path']}, forecast at ages "
        f"{', '.join(c['cut'] for c in data['cuts'])} (cascades with {data['min_reshares']} reshares or more by then)",
        f"seismic's n_star {data['n_star']:g}; agora: {data['model']} with {' '.join(data['params']) or 'no prior'}, "
        f"budget {data['budget']:,}",
    ]
    lines += _provenance(data)
    lines.append("")
    head = ["cut", "method", "cascades", "rel. WIS", "WIS", "WIS median", "rel. error median", "mean/truth", "infinite"]
    head.append("coverage")
    rows = []
    for i, cut in enumerate(data["cuts"]):
        for j, method in enumerate(data["methods"]):
            s = data["scores"][method][i]
            if "wis" not in s:
                rows.append([cut["cut"] if j == 0 else "", method, "0", *["-"] * 7])
                continue
            rows.append(
                [
                    cut["cut"] if j == 0 else "",
                    method,
                    f"{cut['cascades']:,}",
                    _g(s["relative_wis"]),
                    _g(s["wis"]),
                    _g(s["wis_median"]),
                    _g(s["relative_error_median"]),
                    _g(s["mean_forecast_over_truth"]),
                    _pct(s["infinite"]),
                    f"{_pct(s['coverage'])} of {s['interval']:.0%}",
                ]
            )
    lines.append(render_table(head, rows, numeric=tuple(range(2, len(head)))))
    lines.append("")
    lines.append(
        "rel. WIS: the method's mean WIS over persistence's (no growth) on the same cascades; an infinite forecast "
        f"(SEISMIC's, where p n_star >= 1) makes a mean '-'. {data['seconds']:.1f} s"
    )
    if data.get("figure"):
        lines.append(f"figure: {data['figure']}")
    return "\n".join(lines)
