"""``agora audit``: show a world's audit log (the rows are read by ``sim.audit``)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from sim.core.audit import ACTIONS, encode_details, read_audit
from sim.errors import BadParameterError


def add_command(sub: Any) -> None:
    """``agora audit``."""
    from sim.cli.main import _positive_int

    p = sub.add_parser("audit", help="show a world's audit log (the user actions that changed it)",
                       description="Show the audit log of a world file: every user action that changed it (inject, "
                       "cancel, run, save, load, analysis, social, llm settings, plugin_reload, interview) with its "
                       "time (UTC) and details, oldest first.")
    p.add_argument("world", metavar="WORLD")
    p.add_argument("--action", metavar="A", help=f"only this action ({', '.join(ACTIONS)})")
    p.add_argument("--limit", type=_positive_int, metavar="N", help="only the latest N rows (of --action's, with --action)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def handle(args: argparse.Namespace) -> int:
    from sim.cli.main import _emit

    rows = read_audit(args.world, limit=args.limit, action=args.action)
    if not rows and args.action is not None and args.action not in ACTIONS:
        # A misspelt action would otherwise read as an empty log; one found in the log is always accepted.
        raise BadParameterError(f"--action {args.action!r} is not an action of the audit log: use one of {', '.join(ACTIONS)}")
    lines = [f"{r['time']}  {r['action']:<14} {encode_details(r['details'])}" for r in rows]
    if not rows:
        lines = [f"the audit log has no {args.action!r} entries" if args.action is not None else "the audit log is empty"]
    _emit(args, {"world": os.path.abspath(args.world), "entries": rows}, "\n".join(lines))
    return 0
