"""``agora audit``: show a world's audit log (the rows are read by ``sim.audit``)."""

from __future__ import annotations

import argparse
import os

from sim.cli.output import emit
from sim.core.audit import ACTIONS, encode_details, read_audit
from sim.errors import BadParameterError


def handle(args: argparse.Namespace) -> int:
    rows = read_audit(args.world, limit=args.limit, action=args.action)
    if not rows and args.action is not None and args.action not in ACTIONS:
        # A misspelt action would otherwise read as an empty log; one found in the log is always accepted.
        raise BadParameterError(
            f"--action {args.action!r} is not an action of the audit log: use one of {', '.join(ACTIONS)}"
        )
    lines = [f"{r['time']}  {r['action']:<14} {encode_details(r['details'])}" for r in rows]
    if not rows:
        lines = [
            f"the audit log has no {args.action!r} entries" if args.action is not None else "the audit log is empty"
        ]
    emit(args, {"world": os.path.abspath(args.world), "entries": rows}, "\n".join(lines))
    return 0
