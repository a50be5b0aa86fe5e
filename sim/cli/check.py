"""``agora check FILE``: is a world file (or a snapshot) whole and consistent? (see ``sim.store.check``)

Exit codes: 0 consistent, 1 problems found (one line each on stdout), 2 a usage mistake (no such file).
"""

from __future__ import annotations

import argparse

from sim.cli.output import emit
from sim.store.check import check_world


def handle(args: argparse.Namespace) -> int:
    result = check_world(args.world, quick=args.quick)
    lines = [f"problem: {p}" for p in result["problems"]] + [f"note: {n}" for n in result["notes"]]
    c = result["checks"]
    if result["ok"] and result.get("kind") == "snapshot":
        lines.append(
            f"ok: {args.world} is a consistent snapshot at tick {result['tick']} ({c.get('agents', 0):,} agents, "
            f"{c.get('edges', 0):,} edges, {c.get('sessions', 0)} sessions; {result['seconds']:.1f} s); "
            f"load it with 'agora load {args.world} WORLD'"
        )
    elif result["ok"]:
        lines.append(
            f"ok: {args.world} is consistent at tick {result['tick']} ({c.get('agents', 0):,} agents, "
            f"{c.get('edges', 0):,} edges, {c.get('sessions', 0)} sessions, {c.get('events', 0):,} events; "
            f"{result['seconds']:.1f} s)"
        )
    else:
        what = "snapshot " if result.get("kind") == "snapshot" else ""
        lines.append(f"{what}{args.world}: {len(result['problems'])} problem(s) found")
    emit(args, result, "\n".join(lines))
    return 0 if result["ok"] else 1
