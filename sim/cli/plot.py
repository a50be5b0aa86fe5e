"""``agora plot``: figures of series files (the drawing is :mod:`sim.analysis.plot`)."""

from __future__ import annotations

import argparse
from typing import Any

from sim.cli.output import emit
from sim.lab.results import plot


def handle(args: argparse.Namespace) -> int:
    """Run ``agora plot``; returns the exit code."""

    # A thin layer over the Python API's sim.plot (which checks the output before any input is read).
    result = plot(args.series, args.output, measures=args.measure or None, title=args.title, force=args.force)
    emit(args, result, format_result(result))
    return 0


def format_result(result: dict[str, Any]) -> str:
    """The one line ``agora plot`` prints without --json."""
    files = len(result["files"])
    lines = result["lines"]
    return (
        f"wrote {result['output']} ({lines} line{'s' if lines != 1 else ''}: measures "
        f"{', '.join(result['measures'])} from {files} file{'s' if files != 1 else ''})"
    )
