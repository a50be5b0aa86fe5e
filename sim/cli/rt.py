"""``agora rt``: R over sliding windows of an observed curve (the reading is :mod:`sim.lab.rt`, the mathematics
:mod:`sim.analysis.rt`)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from sim.analysis.plot import check_figure_path
from sim.analysis.rtcurve import rt
from sim.cli.output import emit
from sim.cli.textable import render_table
from sim.errors import BadParameterError
from sim.store.timeticks import tick_unit
from sim.store.worldfile import check_target


def handle(args: argparse.Namespace) -> int:
    if args.plot:
        # Only with a figure: the figures' module loads the cascade and series readers with it.

        check_target(args.plot, args.force, what="figure")
        check_figure_path(args.plot)
    elif args.force:
        raise BadParameterError("--force overwrites the --plot file: give one, or drop --force")
    est = rt(
        args.curve,
        args.serial_interval,
        window=args.window,
        prior_mean=args.prior_mean,
        prior_sd=args.prior_sd,
        cases=args.cases,
        imported=args.imported,
        run=args.run,
        time=args.time,
        tick=args.tick,
    )
    data = est.to_dict()
    if args.plot:
        data["figure"] = os.path.abspath(est.plot(args.plot))
    emit(args, data, lambda: format_rt(data))
    return 0


def _unit(data: dict[str, Any]) -> str:
    return str(data.get("unit") or tick_unit(data.get("tick_seconds")))


def _f(x: float) -> str:
    return f"{x:.2f}"


def format_rt(data: dict[str, Any]) -> str:
    """The estimate as text: the curve, the serial interval and the prior, one row per window, the notes."""
    unit = _unit(data)
    si = data["serial_interval"]
    imported = (
        f", {data['imported_cases']:,.0f} imported ({data['imported_column']})" if data["imported_column"] else ""
    )
    name = os.path.basename(data["source"]) if data["source"] else "the curve"
    if si.get("mean_days") is not None:
        spread = f"mean {si['mean_days']:.2f} days, sd {si['sd_days']:.2f}; over {unit}s: mean {si['mean']:.2f}"
    else:
        spread = f"mean {si['mean']:.2f} {unit}s, sd {si['sd']:.2f}"
    lines = [
        f"curve            {name}: {data['ticks']} {unit}s ({data['first']} to {data['last']}), "
        f"{data['local_cases']:,.0f} cases ({data['cases_column']}){imported}",
        *([f"time             {data['reading']}"] if data.get("reading") else []),
        f"serial interval  {si['source']}: {spread}",
        f"prior on R       Gamma, mean {data['prior']['mean']:g}, sd {data['prior']['sd']:g}",
        f"windows          {data['window']} {unit}{'' if data['window'] == 1 else 's'}, "
        f"each named by its last {unit}: {len(data['windows'])} windows",
        "",
    ]
    rows = [
        [
            w["day"],
            f"{w['cases']:,.0f}",
            _f(w["mean"]),
            _f(w["sd"]),
            _f(w["median"]),
            f"{_f(w['q025'])} .. {_f(w['q975'])}",
        ]
        for w in data["windows"]
    ]
    lines.append(render_table([unit, "cases", "mean R", "sd", "median", "95% interval"], rows, numeric=(1, 2, 3, 4)))
    lines.append("")
    below = data["below_one_from"]
    if below is not None:
        lines.append(f"R's 95% interval first lies wholly below 1 in the window ending {below}")
    else:
        lines.append("R's 95% interval never lies wholly below 1")
    lines.extend(f"note: {n}" for n in data["notes"])
    if data.get("figure"):
        lines.append(f"figure: {data['figure']}")
    return "\n".join(lines)
