"""``agora plot``: figures of series files (the drawing is :mod:`sim.analysis.plot`)."""

from __future__ import annotations

import argparse
from typing import Any

_EXAMPLE = """examples:
  agora run saves/w.db --until-done --inject x --model sir --runs 20 --series sir.csv && agora plot sir.csv -o sir.png --measure I
  agora plot sweep.csv.gz -o sweep.svg --measure reached --title "reach by p"
  agora plot ic.csv sir.csv -o both.pdf --measure reached     (two files overlaid, labels prefixed by file name)

Each line is the mean over the runs of one combination (one per sweep combination), with its 95% band
(clipped to 0..agents for counts). Runs that ended early keep their last value; 'new' is 0 after the end."""


def add_commands(sub: Any) -> None:
    """Add ``agora plot`` to the command's subparsers."""
    pl = sub.add_parser(
        "plot", help="draw series files as a figure (PNG, SVG or PDF)",
        description="Draw the per-tick series written by 'agora run --series' or 'agora sweep --series'\n"
        "(CSV, CSV.gz or Parquet) as one figure: for each file, each combination of the sweep's keys\n"
        "and each measure, the mean over the runs per tick and a shaded 95% confidence band.",
        epilog=_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    pl.add_argument("series", nargs="+", metavar="SERIES",
                    help="a series file (.csv, .csv.gz or .parquet); several are overlaid")
    pl.add_argument("-o", "--output", required=True, metavar="FILE",
                    help="the figure to write; its extension picks the format: .png, .svg or .pdf")
    pl.add_argument("--measure", action="append", default=[], metavar="M",
                    help="draw only this measure, e.g. I, reached, new or x.mean (repeatable; default: every measure)")
    pl.add_argument("--title", metavar="TEXT", help="the figure's title (default: the file names)")
    pl.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    pl.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def handle(args: argparse.Namespace) -> int:
    """Run ``agora plot``; returns the exit code."""
    from sim.cli.main import _emit
    from sim.analysis.plot import figure_format, plot_files
    from sim.store.worldfile import check_target

    # Both checks come before any input is read: a long read must not end in a refusal.
    figure_format(args.output)
    check_target(args.output, args.force, "figure")
    result = plot_files(args.series, args.output, measures=args.measure or None, title=args.title)
    _emit(args, result, format_result(result))
    return 0


def format_result(result: dict[str, Any]) -> str:
    """The one line ``agora plot`` prints without --json."""
    files = len(result["files"])
    lines = result["lines"]
    return (f"wrote {result['output']} ({lines} line{'s' if lines != 1 else ''}: measures "
            f"{', '.join(result['measures'])} from {files} file{'s' if files != 1 else ''})")
