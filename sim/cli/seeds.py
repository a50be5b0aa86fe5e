"""``agora seeds``: choose ``--k`` seed agents of a world by ``--method`` (:mod:`sim.engine.seeding`), then
estimate their spread with ``--runs`` fresh Monte-Carlo runs of the model (an ensemble, as ``agora run
--runs`` runs it, with session seeds ``--seed .. --seed + runs - 1``, never those that chose the seeds).

``-o FILE`` writes the seeds by original id, one a line, for ``agora run --seeds file:FILE``. The world file
is not modified.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
from typing import Any

from sim.cli.args import parse_params
from sim.cli.output import emit
from sim.engine.requests import SeedChoice
from sim.errors import BadParameterError
from sim.model.registry import Registry, plugin_registry
from sim.runs.seeds import choose_by_spread, spread_report
from sim.store.worldfile import check_target, open_world

#: The most ``--runs``: the estimate's session seeds stay below the choosing runs' (CHOICE_SEED_OFFSET).
MAX_RUNS = 1_000_000


def handle(args: argparse.Namespace) -> int:
    """``agora seeds``: its exit code."""
    return seeds_command(args)


def seeds_command(args: argparse.Namespace) -> int:
    """Run ``agora seeds`` from its parsed arguments; returns the exit code.

    Raises:
        AgoraError: a user's mistake (bad k, model, parameter, method for the model, output file), before
            anything is written.
    """
    if args.runs > MAX_RUNS or (args.mc_runs or 0) > MAX_RUNS:
        raise BadParameterError(f"--runs and --mc-runs must be at most {MAX_RUNS:,}")
    if args.output:
        check_target(args.output, args.force, what="seed file")
    elif args.force:
        raise BadParameterError("--force overwrites the -o FILE: give one, or drop --force")
    registry = plugin_registry(args.world, ())
    request = SeedChoice.parse(
        {
            "method": args.method,
            "k": args.k,
            "model": args.model,
            "params": parse_params(args.param),
            "method_params": _method_params(args, registry),
            "seed": args.seed,
        },
        registry,
    )
    params, method_params = dict(request.params), dict(request.method_params)
    world = asyncio.run(open_world(args.world))
    ids = world.columns["ids"]
    choice = choose_by_spread(world, registry, request, asyncio.run)
    chosen = [int(i) for i in ids[choice.seeds]]
    report = spread_report(world, registry, request, choice.seeds, runs=args.runs, seed=args.seed, run=asyncio.run)
    ci = report["ci95"]
    result: dict[str, Any] = {
        "world": os.path.abspath(args.world),
        "method": args.method,
        "model": args.model,
        "params": params,
        "method_params": method_params,
        "k": args.k,
        "seeds": chosen,
        "seconds": round(choice.seconds, 4),
        "runs": args.runs,
        "spread_mean": report["mean_reached"],
        "spread_ci95": list(ci),
        "failed": report["failed"],
        "file": None,
    }
    result.update(choice.report)  # ris: samples, ris_estimate
    if args.output:
        tmp = f"{args.output}.tmp{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write("".join(f"{i}\n" for i in chosen))
        os.replace(tmp, args.output)
        result["file"] = os.path.abspath(args.output)
    emit(args, result, format_seeds(result))
    return 3 if report["failed"] else 0


def _method_params(args: argparse.Namespace, registry: Registry) -> dict[str, object]:
    """``--method-param`` and the method's own flags (``--mc-runs``, ``--epsilon``, ``--ell``) as one mapping.

    Raises:
        BadParameterError: a flag of another method.
    """
    method_params: dict[str, object] = dict(parse_params(args.method_param))
    for flag, key, value in (
        ("--mc-runs", "mc_runs", args.mc_runs),
        ("--epsilon", "epsilon", args.epsilon),
        ("--ell", "ell", args.ell),
    ):
        if value is None:
            continue
        if key not in registry.seeder(args.method).params:
            raise BadParameterError(f"{flag} is a parameter of another method, not of {args.method}: drop it")
        method_params[key] = value
    return method_params


def format_seeds(result: dict[str, Any]) -> str:
    """The plain-text report of ``agora seeds``."""
    lines = [
        f"{result['k']} seed{'s' if result['k'] != 1 else ''} by {result['method']} "
        f"({result['seconds']:.3f} s): {' '.join(map(str, result['seeds']))}"
    ]
    if result.get("samples") is not None:
        lines.append(f"ris: {result['samples']:,} RR sets, its own estimate {result['ris_estimate']:,.1f} agents")
    mean, ci = result["spread_mean"], result["spread_ci95"]
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        lines.append(f"spread: no completed run of {result['runs']}")
    else:
        lines.append(
            f"spread ({result['model']}, {result['runs']} fresh runs): {mean:,.1f} agents reached, "
            f"95% CI {ci[0]:,.1f} to {ci[1]:,.1f}"
        )
    if result["file"]:
        lines.append(f"seeds written to {result['file']} (use --seeds file:{result['file']})")
    return "\n".join(lines)
