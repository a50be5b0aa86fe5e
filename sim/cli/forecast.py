"""``agora forecast``: a running session's present branched R times under arms (the engine is
:mod:`sim.runs.forecast`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sim.analysis.plot import check_figure_path
from sim.cli.args import EXIT_FAILED, given
from sim.cli.output import emit, shown_line
from sim.cli.progress import stderr_progress
from sim.cli.textable import render_table
from sim.errors import BadParameterError
from sim.lab.world import WorldFile
from sim.store.worldfile import check_target

#: The fields of a forecast request that take the values of the flags of the same name as given.
_AS_GIVEN = "session runs ticks until_done max_ticks seed posterior kernel workers"


def handle(args: argparse.Namespace) -> Any:
    return _cmd_forecast(args)


async def _cmd_forecast(args: argparse.Namespace) -> int:
    from sim.engine.requests import Forecast  # noqa: PLC0415

    if args.plot:
        check_target(args.plot, args.force, what="figure")
        check_figure_path(args.plot)
    elif args.force:
        raise BadParameterError("--force overwrites the --plot file: give one, or drop --force")
    request = Forecast.parse({**given(args, _AS_GIVEN), "arms": args.arm})
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
