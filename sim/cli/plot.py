"""``agora plot``: figures of series files (the drawing is :mod:`sim.analysis.plot`)."""

from __future__ import annotations

import argparse
from typing import Any

from sim.cli.output import emit
from sim.runs.results import plot


def handle(args: argparse.Namespace) -> int:
    """Run ``agora plot``; returns the exit code."""

    # A thin layer over the Python API's sim.plot (which checks the output before any input is read).
    result = plot(args.series, args.output, measures=args.measure or None, title=args.title, force=args.force)
    emit(args, result, format_result(result))
    return 0


def format_result(result: dict[str, Any]) -> str:
    """The one line ``agora plot`` prints without --json."""
    files = len(result["files"])
    if "panels" in result:  # cascade files
        groups = result["groups"]
        drawn = "size CCDF and structural virality against size" if "virality" in result["panels"] else "size CCDF"
        return (
            f"wrote {result['output']} ({drawn}: {groups} group{'s' if groups != 1 else ''}, "
            f"{result['runs']:,} run{'s' if result['runs'] != 1 else ''} with trees, from {files} "
            f"file{'s' if files != 1 else ''})"
        )
    lines = result["lines"]
    return (
        f"wrote {result['output']} ({lines} line{'s' if lines != 1 else ''}: measures "
        f"{', '.join(result['measures'])} from {files} file{'s' if files != 1 else ''})"
    )
