"""``agora sweep``: parameter sweeps and ensembles (the engine is :mod:`sim.runs.sweep`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sim.cli.args import EXIT_FAILED, given, parse_params, social_changes
from sim.cli.output import emit, indented, shown_line
from sim.cli.progress import stderr_progress
from sim.cli.run import cascade_stats_text, check_outputs, write_cascade_files, written_files_text
from sim.cli.textable import render_table
from sim.core.spelling import spelled
from sim.engine.requests import Sweep, parse_grid
from sim.errors import BadParameterError
from sim.lab.world import WorldFile
from sim.runs.reports import SweepReport
from sim.runs.results import SweepResult

#: The fields of a sweep request that take the values of the flags of the same name as given.
_AS_GIVEN = "model runs seeds seed steps max_ticks workers ray intervene kernel design measure keep_running"


def handle(args: argparse.Namespace) -> Any:
    return _cmd_sweep(args)


async def _cmd_sweep(args: argparse.Namespace) -> int:
    grid = parse_grid(args.grid)
    params = parse_params(args.param)
    if args.max_ticks is not None and args.steps is not None:
        raise BadParameterError("--max-ticks limits runs until done: with --steps N every run takes exactly N ticks")
    if args.workers is not None and args.ray not in (None, "auto", "local"):
        raise BadParameterError(
            "--workers sizes the local pool or a local Ray cluster (--ray auto), and a Ray cluster "
            "at an address brings its own CPUs: drop --workers"
        )
    if args.by and not args.series:
        raise BadParameterError("--by counts each run's new@GROUP series: add --series FILE to keep them")
    check_outputs(args)
    request = Sweep.parse(
        {
            **given(args, _AS_GIVEN),
            "grid": dict(grid),
            "params": params,
            "text": args.inject,
            "topics": args.topic,
            "social": social_changes(args),
            "series": bool(args.series or args.plot),
            "trees": bool(args.cascades),
            "by": args.by or None,
        }
    )
    # The command is a thin layer over the Python API (sim.lab), so the two cannot drift.
    with stderr_progress() as progress:
        res = await WorldFile(args.world, plugins=args.plugins).asweep(request, progress=progress)
    note_running(res)
    stopped = sum(arm.data["stopped"] for arm in res.arms)
    if stopped:
        sys.stderr.write(
            f"agora: note: {stopped} of {res.total_runs} runs stopped at --max-ticks "
            f"{res.max_ticks} before the model ended (status max-ticks)\n"
        )
    if args.series:
        res.write_series(args.series, force=args.force)
    if args.plot:
        res.plot(args.plot, force=args.force)
    write_cascade_files(args, res)
    result = res.report()  # printed and dropped: no copy
    emit(args, result, format_design(result) if "design" in result else format_table(result))
    return report_sweep_failures(result)


def note_running(result: SweepResult) -> None:
    """Say on stderr which sessions the world holds running, and whether the runs left them out (the default)
    or continued them (``--keep-running``): either way they change what a run measures."""
    running = result.running_sessions
    if not running:
        return
    many = len(running) != 1
    which = f"session{'s' if many else ''} {', '.join(str(i) for i in running)}"
    they, them = ("they", "them") if many else ("it", "it")
    if result.kept_running:
        sys.stderr.write(
            f"agora: note: every run also continued the world's running {which} (--keep-running): {they} took "
            "ticks and competed with the injected message\n"
        )
    else:
        sys.stderr.write(
            f"agora: note: the world holds running {which}; every run left {them} out and studied the injected "
            f"message alone (--keep-running continues {them} in every run)\n"
        )


def report_sweep_failures(result: SweepReport) -> int:
    """Say on stderr which arms had failed runs (the first failure's traceback) and return the exit code:
    3 when any run failed, else 0."""

    if not result["failed"]:
        return 0
    sys.stderr.write(
        f"agora: {result['failed']} of {result['total_runs']} runs failed, in {result['failed_arms']} of "
        f"{result['combinations']} combinations; their statistics use completed runs only\n"
    )
    first = next(c for c in result["results"] if c["failed"])
    f = first["first_failure"]
    assert f is not None  # a combination with failed runs names its first
    arm = " ".join(f"{k}={_value(v)}" for k, v in first["grid"].items()) or "the sweep"
    sys.stderr.write(
        f"agora: the first, in {shown_line(arm)}, run {f['run']} (seed {f['seed']}): {shown_line(f['error'])}\n"
    )
    if tb := f.get("traceback"):
        sys.stderr.write(indented(tb) + "\n")
    return EXIT_FAILED


def _backend_text(result: SweepReport) -> str:
    """Where the sweep's runs went, as its footer says it."""
    if result["backend"] == "ray":
        return "a Ray cluster"
    return "this process" if result["workers"] == 1 else "a process pool"


def _num(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def _ci(ci: list[float | None], digits: int = 1) -> str:
    lo, hi = ci
    return "-" if lo is None or hi is None else f"{lo:,.{digits}f} .. {hi:,.{digits}f}"


_value = spelled


def format_table(result: SweepReport) -> str:
    """The sweep as plain text: a title, a table with one row per combination, a footer."""

    n = result["agents"]
    keys = list(result["grid"])
    head = keys + ["runs", "mean reached", "95% CI", "busiest tick", "95% CI"]
    paired = len(result["results"]) > 1
    if paired:
        head += ["reach vs first", "95% CI"]
    rows = []
    for c in result["results"]:
        reached = _num(c["mean_reached"])
        if c["mean_fraction"] is not None:
            reached += f" ({100 * c['mean_fraction']:.1f}%)"
        runs = str(c["completed"]) if not c["failed"] else f"{c['completed']} ({c['failed']} failed)"
        row = [_value(c["grid"][k]) for k in keys] + [
            runs,
            reached,
            _ci(c["ci95"]),
            _num(c["mean_peak_tick"], 2),
            _ci(c["peak_ci95"], 2),
        ]
        if paired:
            d = c.get("paired")
            if d is None:
                row += ["(first)", ""]
            else:
                diff = _signed(d["reach_diff_mean"])
                if d["pairs"] < result["runs"]:  # pairs where either run failed are left out: say how many are left
                    diff += f" ({d['pairs']} pairs)"
                row += [diff, _ci(d["reach_diff_ci95"])]
        rows.append(row)
    fixed = " ".join(f"{k}={_value(v)}" for k, v in result["fixed"].items())
    backend = _backend_text(result)
    seeds = result["session_seeds"]
    title = (
        f"sweep of {result['model']}{' ' + fixed if fixed else ''} on {result['world']} ({n:,} agents), "
        f"seeds {result['seeds']}, {result['runs']} runs per combination (session seeds {seeds[0]}..{seeds[-1]})"
    )
    out = [render_table(head, rows, title=title, numeric=range(len(keys), len(head)))]
    failed = f", {result['failed']} failed" if result["failed"] else ""
    errors = [e for c in result["results"] for e in c["errors"]]
    out.append(
        f"{result['total_runs']} runs{failed} in {result['seconds']:.1f} s on {backend} "
        f"({result['workers']} worker{'s' if result['workers'] != 1 else ''}); LLM offline; world file not modified"
    )
    if paired:
        out.append("reach vs first: mean paired difference from the first combination, run by run on the same seeds")
    if "series_file" in result:
        out.append(f"series: {result['series_file']['rows']:,} rows written to {result['series_file']['path']}")
    if "plot" in result:
        out.append(f"figure: {result['plot']['output']}")
    out += written_files_text(result)
    cascades = [(c["grid"], stats) for c in result["results"] if (stats := c.get("cascade"))]
    if cascades:
        out.append("cascade, mean (95% CI):")
        for grid, stats in cascades:
            arm = " ".join(f"{k}={_value(v)}" for k, v in grid.items()) or "runs"
            out.append(f"  {shown_line(arm)}: {cascade_stats_text(stats)}")
    out.append(
        "busiest tick: ticks from the seeding to the one with the most new adoptions; not the peak of a state "
        "curve such as I in SIR (see --series)"
    )
    if errors:
        first = next(c for c in result["results"] if c["failed"])
        f = first["first_failure"]
        assert f is not None  # a combination with failed runs names its first
        where = f" at {shown_line(f['where'])}" if f.get("where") else ""
        out.append(
            f"{result['failed']} of {result['total_runs']} runs failed and are left out of the statistics; the "
            f"first: {shown_line(f['error'])}{where}"
        )
    return "\n".join(out)


def _g(x: object, digits: int = 3) -> str:
    """A number as a table shows it: whole above 100 (``1,276``), else ``digits`` significant digits."""
    if not isinstance(x, (int, float)):
        return "-" if x is None else str(x)
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.{digits}g}"


def _pm(pair: list[float | None], digits: int = 3) -> str:
    lo, hi = pair
    return "-" if lo is None or hi is None else f"{_g(lo, digits)} .. {_g(hi, digits)}"


def format_design(result: SweepReport) -> str:
    """A design's sweep as plain text: a title, the indices by parameter (the points and their values for a
    Latin hypercube), a footer."""
    extra: dict[str, Any] = dict(result)  # the design's keys beside those every sweep has
    design, indices = extra["design"], extra.get("sensitivity")
    params = design["params"]
    fixed = " ".join(f"{k}={_value(v)}" for k, v in result["fixed"].items())
    seeds = result["session_seeds"]
    kind = {"sobol": "Sobol'", "morris": "Morris", "lhs": "Latin hypercube"}[design["kind"]]
    title = (
        f"{kind} design ({design['kind']}:{design['n']}, {design['points']:,} points) of {result['model']}"
        f"{' ' + fixed if fixed else ''} on {result['world']} ({result['agents']:,} agents), seeds {result['seeds']}, "
        f"{result['runs']} runs per point (session seeds {seeds[0]}..{seeds[-1]}); measure {design['measure']}, "
        "each point's mean over its runs"
    )
    ranges = {
        k: f"{_g(p['range'][0])} .. {_g(p['range'][1])}" + (" log" if p["scale"] != "uniform" else "")
        for k, p in params.items()
    }
    if design["kind"] == "lhs":
        head = [*params, design["measure"]]
        rows = [[_g(x, 4) for x in point] + [_g(v, 4)] for point, v in zip(design["inputs"], design["values"])]
        out = [render_table(head, rows, title=title, numeric=range(len(head)))]
    elif indices is None:
        out = [title, f"no indices: {design['no_indices']}"]
    elif design["kind"] == "sobol":
        head = ["parameter", "range", "S1", "95% CI", "ST", "95% CI"]
        rows = [
            [shown_line(k), ranges[k], _num(i["S1"], 3), _ci(i["S1_conf"], 3), _num(i["ST"], 3), _ci(i["ST_conf"], 3)]
            for k, i in indices.items()
        ]
        out = [render_table(head, rows, title=title, numeric=range(2, len(head)))]
    else:
        head = ["parameter", "range", "mu*", "95% CI", "mu", "sigma"]
        rows = [
            [shown_line(k), ranges[k], _g(i["mu_star"]), _pm(i["mu_star_conf"]), _g(i["mu"]), _g(i["sigma"])]
            for k, i in indices.items()
        ]
        out = [render_table(head, rows, title=title, numeric=range(2, len(head)))]
    backend = _backend_text(result)
    failed = f", {result['failed']} failed" if result["failed"] else ""
    out.append(
        f"{result['total_runs']:,} runs{failed} in {result['seconds']:.1f} s on {backend} "
        f"({result['workers']} worker{'s' if result['workers'] != 1 else ''}); LLM offline; world file not modified"
    )
    if indices is not None and design["kind"] == "sobol":
        out.append(
            "S1: the share of the measure's variance the parameter explains alone; ST: with its interactions "
            "(0: the measure does not depend on it); intervals: 95% bootstrap (SALib), the estimate +- 1.96 SD"
        )
    elif indices is not None:
        out.append(
            "mu*: mean absolute elementary effect per range fraction (linear: |slope| * range); mu: signed; "
            "sigma: spread of the effects (interactions or curvature); interval: 95% bootstrap (SALib)"
        )
    if indices is not None and design["no_indices"]:
        out.append(design["no_indices"])
    if "series_file" in result:
        out.append(f"series: {result['series_file']['rows']:,} rows written to {result['series_file']['path']}")
    if "plot" in result:
        out.append(f"figure: {result['plot']['output']}")
    out += written_files_text(result)
    return "\n".join(out)


def _signed(x: float | None) -> str:
    return "-" if x is None else f"{x:+,.1f}"
