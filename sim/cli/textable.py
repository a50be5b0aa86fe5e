"""Readable plain-text tables for the command line's non-JSON output (rich, no colour, no markup).

Cells are data: every cell becomes a ``rich.text.Text`` (never parsed as markup), and the rendered table
goes through ``sim.safe.shown`` like every other line the command line prints.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Sequence
from typing import Any

#: A console that writes plain text: no colour, highlighting, markup or emoji, and long lines left whole.
_PLAIN: dict[str, Any] = dict(
    color_system=None, force_terminal=False, highlight=False, markup=False, emoji=False, soft_wrap=False
)


def render_table(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    title: str | None = None,
    numeric: Sequence[int] = (),
    width: int | None = None,
) -> str:
    """The table as text: a header, one line per row, columns in ``numeric`` right-aligned.

    Args:
        columns: the header cells; rows: the rows (cells converted with ``str``).
        title: a line above the table; width: the rendering width (default: the terminal's, at least 100).
    """
    # rich is imported only to draw a table: a command run with --json (scripts) never loads it.
    from rich import box  # noqa: PLC0415 - see above
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415
    from rich.text import Text  # noqa: PLC0415

    table = Table(box=box.SIMPLE_HEAD, title=None, show_edge=False, pad_edge=False, highlight=False)
    right = set(numeric)
    for i, name in enumerate(columns):
        table.add_column(Text(str(name)), justify="right" if i in right else "left", no_wrap=True, overflow="fold")
    for row in rows:
        table.add_row(*(Text(str(c)) for c in row))
    if width is None:
        width = max(100, shutil.get_terminal_size((160, 24)).columns)
    out = io.StringIO()
    Console(file=out, width=width, **_PLAIN).print(table)
    text = "\n".join(line.rstrip() for line in out.getvalue().splitlines())
    return f"{title}\n{text}" if title else text
