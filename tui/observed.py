"""An observed series on the Dashboard's session chart (the o key, issue 61): a small screen asks for a file (and,
for a table recorded in its own time, ``agora fit``'s ``time``, ``tick`` and ``observe`` in one line:
``sim.live.observed.SYNTAX``), a worker reads it off the event loop (``sim.live.observed.read_overlay``, the
reader of ``agora fit``), and the chart draws its points against the session's live measures, its tick 0 at the
session's start tick.

One observed series per world at a time: a second ``o`` replaces it, an empty line takes it off. A file that
cannot be drawn (missing, malformed, a column that is no measure of the session on the chart) is one sentence in
a notification, and the chart keeps what it had. File names and typed text are shown literally.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from sim.errors import AgoraError
from sim.live.frontend import shown
from sim.live.observed import SYNTAX, ObservedOverlay, ObservedRequest, observed_request, read_overlay

from .host import AppHost


@dataclass(frozen=True, eq=False)
class ObservedView:
    """The observed series on a world's chart: ``serial`` tells one from the next (the chart's key), ``text``
    is the line it was read from (offered again by the next ``o``)."""

    serial: int
    world: int
    overlay: ObservedOverlay
    text: str

    @property
    def name(self) -> str:
        """The file's name, for the chart's title (shown literally)."""
        return shown(os.path.basename(self.overlay.path), 40)


class ObservedScreen(ModalScreen[str | None]):
    """Ask for an observed series: a line of :data:`~sim.live.observed.SYNTAX` (empty: take it off). Dismissed
    with the line typed (None: cancelled)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    ObservedScreen { align: center middle; }
    ObservedScreen > Vertical {
        width: 100; max-width: 100%; height: auto; border: thick $primary; background: $surface; padding: 1 2;
    }
    ObservedScreen #observed-hint { height: auto; color: $text-muted; }
    """

    def __init__(self, text: str = "") -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Observed series for the chart (the formats of agora fit; empty: take it off):")
            yield Input(value=self.text, placeholder="e.g. incidence.csv cases=new", id="observed-path")
            yield Static(
                Text(
                    f"{SYNTAX}\n"
                    "A column named after a measure (I, R, new, new.I, onsets, reached...) is drawn against it; "
                    "COLUMN=MEASURE maps any other (cases=new). time= is agora fit's --time; tick= how long a tick of "
                    "the world is taken to last (default: its own). Each row is drawn at the tick its time falls on "
                    "(weekly cases on daily ticks: every 7th), beside the session's count over the same ticks. "
                    "The file's tick 0 is the session's start tick. "
                    "enter: load · escape: cancel"
                ),
                id="observed-hint",
            )

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class Observing:
    """The observed series of each world (by the views' world key), read in workers.

    Args:
        app: the app (its live world, its Dashboard, its screens, workers and notifications).
    """

    def __init__(self, app: AppHost) -> None:
        self.app = app
        self._views: dict[int, ObservedView] = {}
        self._serial = itertools.count(1)
        #: Files read (whether or not they could be drawn): the tests wait on it.
        self.reads = 0
        self.reading = False

    def view_for(self, world: int) -> ObservedView | None:
        """The observed series on world ``world``'s chart (None: none)."""
        return self._views.get(world)

    def ask(self) -> None:
        """The o key: ask for a file (the last line offered again)."""
        live = self.app.live
        if live is None:
            return
        current = self._views.get(live.key)
        self.app.push_screen(ObservedScreen(current.text if current is not None else ""), self.chosen)

    def chosen(self, text: str | None) -> None:
        """Read what the line asks for in a worker (None: cancelled; empty: take the series off)."""
        live = self.app.live
        if text is None or live is None:
            return
        try:
            request = observed_request(text)
        except AgoraError as exc:
            self.app.notices.failed(str(exc))
            return
        if request is None:
            if self._views.pop(live.key, None) is not None:
                self.app.notify("observed series taken off the chart", markup=False)
            else:
                self.app.notify("no observed series is on the chart", markup=False)
            self.app.refresh_ui()
            return
        dashboard = self.app.views.dashboard
        session = dashboard.chart_session()
        if session is None:
            self.app.notices.failed(
                "no session is on the chart to draw an observed series against: inject a message (i), then press o"
            )
            return
        self.app.run_worker(self._read(request, text.strip(), session), group="observed", exclusive=True)

    async def _read(self, request: ObservedRequest, text: str, session: int) -> None:
        live, controller = self.app.live, self.app.controller
        if live is None or controller is None:
            return
        key = live.key
        chart = live.sessions.chart(session)
        # A session that has not started has no model yet, so no states: its columns are matched when drawn.
        started = chart is not None and chart.line.started_tick is not None
        states = chart.state_names if chart is not None and started else ()
        names = live.sessions.measure_names(session) if started else None
        self.reading = True
        try:
            overlay = await asyncio.to_thread(read_overlay, request, controller.world, states, names)
        except AgoraError as exc:
            self.app.notices.failed(str(exc))
            return
        finally:
            self.reading = False
            self.reads += 1
        self._views[key] = ObservedView(next(self._serial), key, overlay, text)
        span = f"{overlay.ticks.size:,} ticks" + (f" of {overlay.tick}" if overlay.tick else "")
        first = f", its tick 0 {overlay.first}" if overlay.first else ""
        if overlay.world_tick is not None:
            each = "a world tick" if overlay.period == 1 else f"{overlay.period:,} world ticks"
            first += f", each {each} of {overlay.world_tick}"
        mapped = "".join(f"; column {c} as {m}" for c, m in overlay.mapped)
        self.app.notices.paths(
            f"observed {', '.join(overlay.measures)} ({span}{first}{mapped}) on the chart from session {session}'s "
            "start tick:",
            [overlay.path],
        )
        self.app.refresh_ui()


__all__ = ["ObservedScreen", "ObservedView", "Observing"]
