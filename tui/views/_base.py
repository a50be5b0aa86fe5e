"""What every view shares: the base :class:`View`, and the helpers that put text on screen safely. Text from
agents, users, plugins, files or the LLM always goes through :func:`literal` / :func:`literal_lines`
(``sim.live.frontend.shown``): wrapped in ``rich.text.Text``, never parsed as markup, its control characters and ANSI
escapes made visible (Textual would pass them to the terminal), one-line cells cut with ``…``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any, cast

import numpy as np
from rich.cells import cell_len
from rich.text import Text
from textual import work
from textual.containers import Vertical
from textual.widgets import Static

from sim.errors import AgoraError
from sim.live.frontend import ChartSpec, export_spec, exports_dir, shown
from sim.live.views import WorldViews

from ..protocol import AgoraHost

BAR_WIDTH = 16
#: The most characters a text of several lines (an answer, a traceback) shows.
LINES_LIMIT = 20_000
#: The most characters of a failed session's traceback shown (a whole traceback is far shorter; this
#: bounds a plugin whose error message is megabytes long).
TRACEBACK_LIMIT = 200_000


def bar(fraction: float, width: int = BAR_WIDTH) -> Text:
    """A text progress bar (no markup)."""
    fraction = 0.0 if not np.isfinite(fraction) else max(0.0, min(1.0, fraction))
    full = int(round(fraction * width))
    t = Text("█" * full, style="green")
    t.append("░" * (width - full), style="grey39")
    t.append(f" {100 * fraction:5.1f}%")
    return t


def _shape(content: Any) -> tuple[int, int]:
    """Lines and widest line (in cells) of a Static's content."""
    plain = content.plain if isinstance(content, Text) else str(content)
    lines = plain.split("\n")
    return len(lines), max(cell_len(line) for line in lines)


def show(widget: Static, content: Any) -> bool:
    """Put ``content`` in ``widget`` only when it differs from what is shown, and ask for a layout pass
    only when its shape may change the widget's size (more or fewer lines, or lines that may wrap).

    Textual lays out the whole screen again for every ``Static.update``; the views refresh ten times
    a second, mostly with the same text, and at a million agents those passes were what kept keys
    waiting. Returns whether anything was updated."""
    last = getattr(widget, "_agora_shown", None)
    if last is not None and type(last) is type(content) and last == content:
        return False
    shape = _shape(content)
    old = getattr(widget, "_agora_shape", None)
    width = widget.content_size.width
    layout = old is None or old[0] != shape[0] or max(old[1], shape[1]) >= width
    widget._agora_shown = content  # type: ignore[attr-defined]
    widget._agora_shape = shape  # type: ignore[attr-defined]
    widget.update(content, layout=layout)
    return True


def literal(value: Any, limit: int | None = 80, style: str = "") -> Text:
    """Text shown exactly as written, on one line: never parsed as markup, control characters and ANSI
    escapes made visible (``\\x1b``, see ``sim.live.frontend.shown``), text longer than ``limit`` cut with ``…``."""
    return Text(shown(value, limit), style=style)


def literal_lines(value: Any, limit: int | None = LINES_LIMIT) -> Text:
    """Like :func:`literal` for text of several lines (answers, tracebacks): line breaks and tabs kept,
    at most ``limit`` characters."""
    return Text(shown(value, limit, lines=True).expandtabs(4))


def file_stem(text: str, limit: int) -> str:
    """``text`` made safe as a file name (letters, digits, ``_.-``; anything else becomes ``_``), cut."""
    return re.sub(r"[^\w.\-]+", "_", text)[:limit]


def fmt_int(v: Any) -> str:
    return f"{int(v):,}"


class View(Vertical):
    """Base of the six views. :meth:`refresh_view` fetches the view's snapshot (a frozen value of exactly
    what it shows, built by the app's :class:`~sim.live.views.WorldViews`) into its ``snapshot`` reactive,
    whose watcher repaints it: nothing is read from the live world while a view paints. The app refreshes
    the view shown about ten times a second; a snapshot equal to the one shown repaints nothing."""

    @property
    def agora(self) -> AgoraHost:
        return cast(AgoraHost, self.app)

    def refresh_view(self) -> None:
        """Fetch the view's snapshot (nothing before a world is open)."""
        live = self.agora.live
        if live is not None:
            self.fetch(live)

    def fetch(self, live: WorldViews) -> None:  # pragma: no cover - every view has its own
        """Build the view's snapshot from ``live`` and hold it (its watcher repaints what changed)."""

    #: Points a series keeps in an export at most (the chart on screen keeps about two a column).
    EXPORT_POINTS = 100_000

    @work(group="export")
    async def export_worker(self, make: Callable[[int], ChartSpec], base: str) -> None:
        """Draw the chart on screen (its spec maker ``make``, at :attr:`EXPORT_POINTS` points) as PNG and SVG, with
        its numbers as JSON, in the saves folder's ``exports``, off the event loop, and say where (or why not)."""
        folder = exports_dir()
        notices = self.agora.notices
        try:
            paths = await asyncio.to_thread(lambda: export_spec(make(self.EXPORT_POINTS), base))
        except AgoraError as exc:
            notices.failed(f"the chart was not exported: {exc}")
        except OSError as exc:
            notices.failed(f"could not write the chart into {folder}: {exc.strerror or exc}")
        else:
            notices.paths("chart exported (PNG, SVG and its numbers as JSON):", paths)
