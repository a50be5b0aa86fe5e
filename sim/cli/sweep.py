"""``agora sweep``: parameter sweeps and ensembles (the engine is :mod:`sim.engine.sweep`)."""

from __future__ import annotations

import argparse
import os
from typing import Any


def add_commands(sub: Any) -> None:
    """Add ``agora sweep`` to the command's subparsers."""
    from sim.cli.main import _int, _positive_int, _social_arguments

    sw = sub.add_parser(
        "sweep", help="run every combination of model parameters R times (ensembles, in parallel)",
        description="Run every combination of the --grid values R times and report, per combination, the mean "
        "and a 95% interval of the final reach and of the time to peak (the round with the most new adoptions). "
        "The grid may also vary the model (model=ic,sir) and the recommenders (recommender=chronological,hot; "
        "friend_recommender=...). Run r of every combination uses session seed S+r and the same seed agents, so "
        "combinations are compared on common random numbers: every combination after the first reports its paired "
        "difference from the first (identical combinations differ by exactly 0); "
        "a run's result depends only on the world, model, parameters, --seeds and its session seed, whichever "
        "backend ran it. Runs start from the world as saved and never modify the world file. Every run uses the "
        "offline LLM generator (deterministic, no cost, no network). Locally the runs go to a process pool; "
        "with --ray to a Ray cluster (pip install 'agora-sim[ray]').",
        epilog="examples: agora sweep saves/city.db --model ic --grid p=0.01,0.02,0.05 --runs 20 --seeds top:10\n"
        "          agora sweep saves/city.db --grid model=ic,sir --param ic.p=0.1 --param sir.beta=0.08 --series ab.csv\n"
        "          agora sweep saves/city.db --grid recommender=chronological,hot --param p=0.05 --plot ab.png",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sw.add_argument("world", metavar="WORLD")
    sw.add_argument("--model", metavar="NAME", help="propagation model (default ic; see 'agora plugins list')")
    sw.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                    help="a swept model parameter, model, recommender or friend_recommender and its values (repeatable; "
                    "combinations are the product, in order; a value may repeat for an A/A check)")
    sw.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                    help="a fixed model parameter (repeatable); MODEL.KEY=VALUE for a parameter of one swept model")
    sw.add_argument("--runs", type=_positive_int, default=10, metavar="R", help="runs per combination (default 10)")
    sw.add_argument("--seeds", default="random:10", metavar="SPEC",
                    help="seed agents: random:K, top:K, ids:a,b,c, community:C:K or file:PATH (original agent ids, one "
                    "a line) (default random:10)")
    sw.add_argument("--seed", type=_int, default=0, metavar="S", help="base session seed: run r uses S+r (default 0)")
    length = sw.add_mutually_exclusive_group()
    length.add_argument("--steps", type=_positive_int, metavar="N", help="run each cascade exactly N ticks: the first seeds it, so N ticks give N-1 "
                        "propagation rounds (each run's 'rounds' in --json)")
    length.add_argument("--until-done", action="store_true", help="run each cascade until it ends (the default)")
    sw.add_argument("--max-ticks", type=_positive_int, metavar="N",
                    help="stop a run that is not done after N ticks (default 10000)")
    sw.add_argument("--inject", default="sweep", metavar="TEXT", help="text of the injected message (default 'sweep')")
    sw.add_argument("--topic", action="append", default=[], metavar="T", help="a topic of the message (repeatable)")
    sw.add_argument("--plugins", action="append", default=[], metavar="DIR", help="load user plugins from DIR (repeatable)")
    sw.add_argument("--workers", type=_positive_int, metavar="W",
                    help=f"parallel worker processes (default: the CPU count, here {os.cpu_count()}); 1 runs in this process")
    sw.add_argument("--ray", metavar="ADDRESS",
                    help="run on a Ray cluster at ADDRESS, or 'auto' to start a local one with W CPUs; the world is "
                    "shipped once per node and loaded once per worker")
    _social_arguments(sw, "of every run; --grid recommender=... varies the content recommender")
    sw.add_argument("--series", metavar="FILE", help="write every run's per-tick series in long format with one column "
                    "per grid key first (e.g. p,run,tick,measure,value): .csv, .csv.gz or .parquet")
    sw.add_argument("--plot", metavar="FILE", help="draw the series, one line per combination (.png, .svg or .pdf)")
    sw.add_argument("--force", action="store_true", help="overwrite the --series and --plot files if they exist")
    sw.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def handle(args: argparse.Namespace) -> Any:
    return _cmd_sweep(args)


async def _cmd_sweep(args: argparse.Namespace) -> int:
    from sim.cli.main import BadParameterError, _emit, _parse_params, _social_changes, check_outputs, write_outputs
    from sim.cli.progress import stderr_progress
    from sim.engine.sweep import parse_grid, run_sweep

    grid = parse_grid(args.grid)
    params = _parse_params(args.param)
    if args.max_ticks is not None and args.steps is not None:
        raise BadParameterError("--max-ticks limits runs until done: with --steps N every run takes exactly N ticks")
    if args.workers is not None and args.ray not in (None, "auto", "local"):
        raise BadParameterError("--workers sizes the local pool or a local Ray cluster (--ray auto), and a Ray cluster "
                                "at an address brings its own CPUs: drop --workers")
    check_outputs(args)
    with stderr_progress() as progress:
        result = await run_sweep(
            args.world, model=args.model, grid=grid, params=params, runs=args.runs, seeds=args.seeds, seed=args.seed,
            steps=args.steps, max_ticks=10_000 if args.max_ticks is None else args.max_ticks, text=args.inject,
            topics=args.topic, plugin_dirs=args.plugins, workers=args.workers, ray=args.ray, progress=progress,
            social=_social_changes(args), series=bool(args.series or args.plot),
        )
    stopped = sum(c["stopped"] for c in result["results"])
    if stopped:
        import sys

        sys.stderr.write(f"agora: note: {stopped} of {result['total_runs']} runs stopped at --max-ticks "
                         f"{result['max_ticks']} before the model ended (status max-ticks)\n")
    records = series_records(result)
    keys = list(result["grid"])
    write_outputs(args, result, records, keys, f"sweep of {result['model']} on {os.path.basename(args.world)}, "
                  f"{result['runs']} runs per combination")
    _emit(args, result, format_table(result))
    return report_sweep_failures(result)


def report_sweep_failures(result: dict[str, Any]) -> int:
    """Say on stderr which arms had failed runs (the first failure's traceback) and return the exit code:
    3 when any run failed, else 0."""
    import sys

    from sim.cli.main import EXIT_FAILED, _indented, shown_line

    if not result["failed"]:
        return 0
    sys.stderr.write(f"agora: {result['failed']} of {result['total_runs']} runs failed, in {result['failed_arms']} of "
                     f"{result['combinations']} combinations; their statistics use completed runs only\n")
    first = next(c for c in result["results"] if c["failed"])
    f = first["first_failure"]
    arm = " ".join(f"{k}={_value(v)}" for k, v in first["grid"].items()) or "the sweep"
    sys.stderr.write(f"agora: the first, in {shown_line(arm)}, run {f['run']} (seed {f['seed']}): {shown_line(f['error'])}\n")
    if f.get("traceback"):
        sys.stderr.write(_indented(f["traceback"]) + "\n")
    return EXIT_FAILED


def series_records(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The sweep's per-run series as series records (``sim.store.seriesio``), taken out of the result."""
    records = []
    for c in result["results"]:
        for r, run in enumerate(c["per_run"]):
            series = run.pop("series", None)
            if series is not None and run["status"] != "failed":  # a failed run is no result
                records.append({"keys": dict(c["grid"]), "run": r, "series": series})
    return records


def _num(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def _ci(ci: list[float | None], digits: int = 1) -> str:
    lo, hi = ci
    return "-" if lo is None or hi is None else f"{lo:,.{digits}f} .. {hi:,.{digits}f}"


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def format_table(result: dict[str, Any]) -> str:
    """The sweep as plain text: a title, a table with one row per combination, a footer."""
    from sim.cli.textable import render_table

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
        row = [_value(c["grid"][k]) for k in keys] + [runs, reached, _ci(c["ci95"]), _num(c["mean_peak_tick"], 2),
                                                       _ci(c["peak_ci95"], 2)]
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
    backend = ("a Ray cluster" if result["backend"] == "ray"
               else "this process" if result["workers"] == 1 else "a process pool")
    seeds = result["session_seeds"]
    title = (f"sweep of {result['model']}{' ' + fixed if fixed else ''} on {result['world']} ({n:,} agents), "
             f"seeds {result['seeds']}, {result['runs']} runs per combination (session seeds {seeds[0]}..{seeds[-1]})")
    out = [render_table(head, rows, title=title, numeric=range(len(keys), len(head)))]
    failed = f", {result['failed']} failed" if result["failed"] else ""
    errors = [e for c in result["results"] for e in c["errors"]]
    out.append(f"{result['total_runs']} runs{failed} in {result['seconds']:.1f} s on {backend} "
               f"({result['workers']} worker{'s' if result['workers'] != 1 else ''}); LLM offline; world file not modified")
    if paired:
        out.append("reach vs first: mean paired difference from the first combination, run by run on the same seeds")
    if "series_file" in result:
        out.append(f"series: {result['series_file']['rows']:,} rows written to {result['series_file']['path']}")
    if "plot" in result:
        out.append(f"figure: {result['plot']['output']}")
    out.append("busiest tick: ticks from the seeding to the one with the most new adoptions; not the peak of a state "
               "curve such as I in SIR (see --series)")
    if errors:
        from sim.cli.main import shown_line

        first = next(c for c in result["results"] if c["failed"])
        f = first["first_failure"]
        where = f" at {shown_line(f['where'])}" if f.get("where") else ""
        out.append(f"{result['failed']} of {result['total_runs']} runs failed and are left out of the statistics; the "
                   f"first: {shown_line(f['error'])}{where}")
    return "\n".join(out)


def _signed(x: float | None) -> str:
    return "-" if x is None else f"{x:+,.1f}"
