"""``agora sweep``: parameter sweeps and ensembles (the engine is :mod:`sim.sweep`)."""

from __future__ import annotations

import argparse
import os
from typing import Any


def add_commands(sub: Any) -> None:
    """Add ``agora sweep`` to the command's subparsers."""
    from .cli import _int, _positive_int

    sw = sub.add_parser(
        "sweep", help="run every combination of model parameters R times (ensembles, in parallel)",
        description="Run every combination of the --grid values R times and report, per combination, the mean "
        "and a 95% interval of the final reach and of the time to peak (the round with the most new adoptions). "
        "Run r of every combination uses session seed S+r, so combinations are compared on common random numbers; "
        "a run's result depends only on the world, model, parameters, --seeds and its session seed, whichever "
        "backend ran it. Runs start from the world as saved and never modify the world file. Every run uses the "
        "offline LLM generator (deterministic, no cost, no network). Locally the runs go to a process pool; "
        "with --ray to a Ray cluster (pip install 'agora-sim[ray]').",
        epilog="example: agora sweep saves/city.db --model ic --grid p=0.01,0.02,0.05 --runs 20 --seeds top:10",
    )
    sw.add_argument("world", metavar="WORLD")
    sw.add_argument("--model", default="ic", metavar="NAME", help="propagation model (default ic; see 'agora plugins list')")
    sw.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                    help="a swept model parameter and its values (repeatable; combinations are the product, in order)")
    sw.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="a fixed model parameter (repeatable)")
    sw.add_argument("--runs", type=_positive_int, default=10, metavar="R", help="runs per combination (default 10)")
    sw.add_argument("--seeds", default="random:10", metavar="SPEC",
                    help="seed agents: random:K, top:K, ids:a,b,c or community:C:K (default random:10)")
    sw.add_argument("--seed", type=_int, default=0, metavar="S", help="base session seed: run r uses S+r (default 0)")
    length = sw.add_mutually_exclusive_group()
    length.add_argument("--steps", type=_positive_int, metavar="N", help="run each cascade exactly N ticks")
    length.add_argument("--until-done", action="store_true", help="run each cascade until it ends (the default)")
    sw.add_argument("--max-ticks", type=_positive_int, default=10_000, metavar="N",
                    help="stop a run that is not done after N ticks (default 10000)")
    sw.add_argument("--inject", default="sweep", metavar="TEXT", help="text of the injected message (default 'sweep')")
    sw.add_argument("--topic", action="append", default=[], metavar="T", help="a topic of the message (repeatable)")
    sw.add_argument("--plugins", action="append", default=[], metavar="DIR", help="load user plugins from DIR (repeatable)")
    sw.add_argument("--workers", type=_positive_int, metavar="W",
                    help=f"parallel worker processes (default: the CPU count, here {os.cpu_count()}); 1 runs in this process")
    sw.add_argument("--ray", metavar="ADDRESS",
                    help="run on a Ray cluster at ADDRESS, or 'auto' to start a local one with W CPUs; the world is "
                    "shipped once per node and loaded once per worker")
    sw.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def handle(args: argparse.Namespace) -> Any:
    return _cmd_sweep(args)


async def _cmd_sweep(args: argparse.Namespace) -> int:
    from .cli import _emit, _parse_params
    from .progress import stderr_progress
    from .sweep import parse_grid, run_sweep

    grid = parse_grid(args.grid)
    params = _parse_params(args.param)
    with stderr_progress() as progress:
        result = await run_sweep(
            args.world, model=args.model, grid=grid, params=params, runs=args.runs, seeds=args.seeds, seed=args.seed,
            steps=args.steps, max_ticks=args.max_ticks, text=args.inject, topics=args.topic, plugin_dirs=args.plugins,
            workers=args.workers, ray=args.ray, progress=progress,
        )
    _emit(args, result, format_table(result))
    return 0


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
    """The sweep as plain text: a header, one row per combination, a footer."""
    n = result["agents"]
    keys = list(result["grid"])
    head = keys + ["runs", "mean reached", "95% CI", "time to peak", "95% CI"]
    rows = []
    for c in result["results"]:
        reached = _num(c["mean_reached"])
        if c["mean_fraction"] is not None:
            reached += f" ({100 * c['mean_fraction']:.1f}%)"
        runs = str(c["completed"]) if not c["failed"] else f"{c['completed']} ({c['failed']} failed)"
        rows.append([_value(c["grid"][k]) for k in keys]
                    + [runs, reached, _ci(c["ci95"]), _num(c["mean_peak_tick"], 2), _ci(c["peak_ci95"], 2)])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    numeric = set(range(len(keys), len(head)))

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    fixed = " ".join(f"{k}={_value(v)}" for k, v in result["fixed"].items())
    backend = ("a Ray cluster" if result["backend"] == "ray"
               else "this process" if result["workers"] == 1 else "a process pool")
    seeds = result["session_seeds"]
    title = (f"sweep of {result['model']}{' ' + fixed if fixed else ''} on {result['world']} ({n:,} agents), "
             f"seeds {result['seeds']}, {result['runs']} runs per combination (session seeds {seeds[0]}..{seeds[-1]})")
    out = [title, line(head)]
    out += [line(r) for r in rows]
    failed = f", {result['failed']} failed" if result["failed"] else ""
    errors = [e for c in result["results"] for e in c["errors"]]
    out.append(f"{result['total_runs']} runs{failed} in {result['seconds']:.1f} s on {backend} "
               f"({result['workers']} worker{'s' if result['workers'] != 1 else ''}); LLM offline; world file not modified")
    if errors:
        out.append(f"first failure: {errors[0]}")
    return "\n".join(out)
