"""``agora plot``: figures of series files (the drawing is :mod:`sim.analysis.plot`)."""

from __future__ import annotations

import argparse
from typing import Any

from sim.analysis.plot import figure_format, plot_files
from sim.cli.output import emit
from sim.store.worldfile import check_target


def handle(args: argparse.Namespace) -> int:
    """Run ``agora plot``; returns the exit code."""

    # Both checks come before any input is read: a long read must not end in a refusal.
    figure_format(args.output)
    check_target(args.output, args.force, "figure")
    result = plot_files(args.series, args.output, measures=args.measure or None, title=args.title)
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
