"""The app's own widgets: the header line, the footer of keys and how scrollbars are drawn (the views are in
``tui.views``)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.screen import Screen
from textual.scrollbar import ScrollBarRender
from textual.widget import Widget
from textual.widgets import Static

from sim.live.views import HeaderFigures, LLMStatus

from .views import literal


class KeyBar(Widget):
    """The footer: the keys of the focused view and the app, on one line, in one widget.

    Textual's own footer recomposes (some twenty widgets unmounted and mounted again) each time the
    screen's bindings are refreshed: every view switch and focus change. That was most of a keypress's
    cost (100-500 ms on a busy machine); this bar redraws one line of text, and only when what it shows
    changed. Help, quit and the command palette stay at the right end whatever the width (the view's
    keys are cut first, with "…"). A key is clicked as with Textual's footer: the click presses it."""

    DEFAULT_CSS = """
    KeyBar { dock: bottom; height: 1; background: $footer-background; color: $footer-foreground; }
    """
    #: Actions always shown, at the right end.
    KEEP = ("help", "quit")

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._shown: tuple | None = None
        self._items: list[tuple[list[tuple[str, str, bool]], str, bool, bool]] = []
        self._spans: list[tuple[int, int, str]] = []  # (start, end, key) of each key's cells as drawn

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self.bindings_changed)
        self.bindings_changed(self.screen)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def bindings_changed(self, screen: Screen) -> None:
        if not self.is_attached or screen is not self.screen:
            return
        rows = [
            (b.key, self.app.get_key_display(b), b.description, b.action, b.group, enabled)
            for (_node, b, enabled, _tooltip) in screen.active_bindings.values()
            if b.show
        ]
        shown = tuple(
            (key, display, description, action, group.description if group else None, enabled)
            for key, display, description, action, group, enabled in rows
        )
        if shown == self._shown:
            return
        self._shown = shown
        # Items: ([(key, display, enabled)], label, enabled, kept at the right end)
        items: list[tuple[list[tuple[str, str, bool]], str, bool, bool]] = []
        seen: set[str] = set()
        i = 0
        while i < len(rows):
            key, display, description, action, group, enabled = rows[i]
            j = i + 1
            if action in seen:  # a second key of one action (N, shift+n): the first is shown
                i = j
                continue
            members = [rows[i]]
            if group is not None:
                while j < len(rows) and rows[j][4] is group:
                    if rows[j][3] not in seen and rows[j][3] not in {m[3] for m in members}:
                        members.append(rows[j])
                    j += 1
            seen.update(m[3] for m in members)
            label = group.description if group is not None and len(members) > 1 else description
            items.append(([(m[0], m[1], m[5]) for m in members], label, enabled, action in self.KEEP))
            i = j
        if self.app.ENABLE_COMMAND_PALETTE:
            key = self.app.COMMAND_PALETTE_BINDING
            items.append(([(key, self.app.get_key_display(Binding(key, "")), True)], "palette", True, True))
        self._items = items
        self.refresh()

    @staticmethod
    def _draw(items: list, text: Text, spans: list[tuple[int, int, str]]) -> None:
        for keys, label, enabled, _keep in items:
            text.append(" ")
            for key, display, key_enabled in keys:
                start = text.cell_len
                text.append(display, style="bold" if key_enabled else "dim")
                spans.append((start, text.cell_len, key))
            text.append(f" {label} ", style="" if enabled else "dim")

    def render(self) -> Text:
        width = max(1, self.size.width)
        left, right = Text(), Text()
        left_spans: list[tuple[int, int, str]] = []
        right_spans: list[tuple[int, int, str]] = []
        self._draw([it for it in self._items if not it[3]], left, left_spans)
        right.append("▏")
        self._draw([it for it in self._items if it[3]], right, right_spans)
        room = width - right.cell_len
        if left.cell_len > room:  # the view's keys give way: cut with "…", keys cut in half are not clickable
            left.truncate(max(0, room - 1))
            left.append("…")
            left_spans = [sp for sp in left_spans if sp[1] <= room - 1]
        pad = max(0, room - left.cell_len)
        text = Text(no_wrap=True, overflow="crop")
        text.append_text(left)
        text.append(" " * pad)
        offset = text.cell_len
        text.append_text(right)
        self._spans = left_spans + [(a + offset, b + offset, key) for a, b, key in right_spans]
        return text

    def on_click(self, event: Any) -> None:
        for start, end, key in self._spans:
            if start <= event.x < end:
                self.app.simulate_key(key.split(",")[0])
                return


class StatusHeader(Static):
    """World name, tick and simulated time, running or paused, agents and edges, LLM mode and spend."""

    DEFAULT_CSS = """
    StatusHeader { dock: top; height: 1; background: $primary-darken-2; color: $text; padding: 0 1; }
    """

    @staticmethod
    def line(figures: HeaderFigures, *, busy: str | None, pace: float, rate: str) -> Text:
        """The header of a world's figures: ``busy`` names a long action under way, ``pace`` is the pace
        asked for (0: as fast as possible), ``rate`` the measured tick rate as the dashboard shows it."""
        snap = figures.world
        minutes = figures.minutes_per_tick * snap.tick + 60 * figures.start_hour
        day, rem = divmod(minutes, 24 * 60)
        state = snap.state  # "pausing": the run's tick under way when space was pressed ends first
        if busy:
            state += f" · {busy}"
        t = Text()
        t.append_text(literal(snap.name, 30))
        # A world of whole-day ticks (a table of people's) has no hour to show: its clock is the day.
        clock = "" if figures.minutes_per_tick % (24 * 60) == 0 else f" {rem // 60:02d}:{rem % 60:02d}"
        t.append(f"  tick {snap.tick:,}  day {day + 1:,}{clock}  ")
        t.append(state.upper(), style="bold green" if snap.running else "bold yellow")
        if snap.db_backpressure:
            # The world file's writer is behind: the loop waits for it rather than queueing more rows.
            t.append("  WAITING FOR DISK", style="bold red")
        # The measured rate (ticks over the last seconds, as the dashboard shows it) and, apart, the pace
        # asked for: at 1M agents a run paced at 10 ticks a second may manage 3.
        shown_pace = "max" if pace == 0 else f"{pace:g}"
        t.append(f"   {rate} (pace {shown_pace})  {snap.agents:,} agents  {snap.edges:,} edges  ")
        t.append_text(StatusHeader.llm_line(figures.llm))
        return t

    @staticmethod
    def llm_line(llm: LLMStatus) -> Text:
        """``LLM: offline``, ``LLM: online MODEL``, ``LLM: degraded`` or ``LLM: fallback (server down)``,
        with calls, tokens and estimated cost when a key is set. The key is never shown."""
        mode = llm.mode
        t = Text("LLM: ")
        if mode == "offline":
            t.append("offline")
            return t
        if mode == "online":
            t.append("online ", style="bold green")
            t.append_text(literal(llm.model, 24))
        elif mode == "degraded":
            t.append("degraded", style="bold yellow")
        else:
            t.append("fallback (server down)", style="bold red")
        t.append(f"  {llm.calls:,} calls  {llm.tokens / 1000:,.1f}k tok  ${llm.cost_usd:,.4f}")
        return t


class WholeCellScrollBar(ScrollBarRender):
    """Scrollbars whose thumb is whole cells. Textual draws the ends of a thumb with eighth blocks
    (``▂``, ``▇``) for smoothness; on a track as dark as the panel behind it (as terminals of 256 colours
    draw it) a short thumb was two stray glyphs at a panel's right edge (``▂▂``). Whole cells, one column
    wide (``AgoraApp.CSS``), read as a scrollbar."""

    VERTICAL_BARS = [" "] * 8
    HORIZONTAL_BARS = [" "] * 8
