"""``agora check FILE``: is a world file (or a snapshot) whole and consistent? (see ``sim.store.check``)

Exit codes: 0 consistent, 1 problems found (one line each on stdout), 2 a usage mistake (no such file).
"""

from __future__ import annotations

import argparse
from typing import Any


def add_commands(sub: Any) -> None:
    p = sub.add_parser(
        "check", help="check a world file: SQLite integrity, arrays, tables and counters",
        description="Check a world file without changing it: SQLite's integrity check, the arrays (as opening the "
        "world validates them, plus the graph's structure), the agent and relationship rows against the arrays, "
        "the messages and sessions tables against the metadata, every session's counters against its arrays, "
        "and its adoption events against who adopted when and from whom; triggers, views, indexes or tables "
        "Agora did not make are problems (Agora refuses to open such a file). Rows of ticks after the last checkpoint "
        "(left by a crash) are reported as notes: the next run discards them. Given a snapshot (.snap), it checks "
        "the snapshot as loading it would (checksums, sizes, the whole world, unique ids) plus every session's "
        "counters, and changes nothing. Exit code 0: consistent; 1: problems (one line each); 2: no such file.")
    p.add_argument("world", metavar="FILE", help="a world file (.db) or a snapshot (.snap)")
    p.add_argument("--quick", action="store_true",
                   help="SQLite's quick_check instead of integrity_check, and row counts instead of row checksums")
    p.add_argument("--json", action="store_true",
                   help='print one JSON object: {"ok", "problems": [...], "checks": {...}, "notes": [...], ...}')


def handle(args: argparse.Namespace) -> int:
    from sim.store.check import check_world
    from sim.cli.main import _emit

    result = check_world(args.world, quick=args.quick)
    lines = [f"problem: {p}" for p in result["problems"]] + [f"note: {n}" for n in result["notes"]]
    c = result["checks"]
    if result["ok"] and result.get("kind") == "snapshot":
        lines.append(f"ok: {args.world} is a consistent snapshot at tick {result['tick']} ({c.get('agents', 0):,} agents, "
                     f"{c.get('edges', 0):,} edges, {c.get('sessions', 0)} sessions; {result['seconds']:.1f} s); "
                     f"load it with 'agora load {args.world} WORLD'")
    elif result["ok"]:
        lines.append(f"ok: {args.world} is consistent at tick {result['tick']} ({c.get('agents', 0):,} agents, "
                     f"{c.get('edges', 0):,} edges, {c.get('sessions', 0)} sessions, {c.get('events', 0):,} events; "
                     f"{result['seconds']:.1f} s)")
    else:
        what = "snapshot " if result.get("kind") == "snapshot" else ""
        lines.append(f"{what}{args.world}: {len(result['problems'])} problem(s) found")
    _emit(args, result, "\n".join(lines))
    return 0 if result["ok"] else 1
