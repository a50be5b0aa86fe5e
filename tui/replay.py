"""Replay (issue 77): a session that has ended, scrubbed to any tick of its run — ``p`` (or the palette's *Replay a
session*) asks which session (the Dashboard's, else the one that ended last, is offered), then a screen shows it as it
was at the tick: the agents in each state, who had been reached and at that tick, the adoption forest's generations,
largest trees and spreaders, the reach of the largest communities, any agent typed, and the session chart with the
tick marked. ``[`` and ``]`` move a tick, ``{`` and ``}`` ten, ``home`` and ``end`` to the ends, a click on the bar
(or a drag) anywhere; ``e`` exports the chart as shown; escape goes back to the live views.

Everything is rebuilt from what the world file stores of the session (``sim.live.replay``: its series and its agents'
adoption ticks and sources), so a session of a world just opened replays as the one just run; the world goes on
running behind the screen. A session still running, or one that never ran, is one line in the notices with the form
kept filled.
"""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Input, Label, Static

from sim.errors import AgoraError
from sim.live.frontend import ChartSpec, Mark, shown
from sim.live.replay import Replay, ReplayFrame, last_ended, open_replay, replayable

from .charts import Chart, export_shown, session_spec
from .host import AppHost


class ReplayForm(ModalScreen[int | None]):
    """Ask which session to replay: dismissed with its id once it can be replayed (None: cancelled)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    ReplayForm { align: center middle; }
    ReplayForm > Vertical {
        width: 80; max-width: 100%; height: auto; border: thick $primary; background: $surface; padding: 1 2;
    }
    ReplayForm #replay-hint { height: auto; color: $text-muted; }
    """

    def __init__(self, text: str, host: AppHost) -> None:
        super().__init__()
        self.text, self.host = text, host

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Replay the session (its number, as the Messages view lists it):")
            yield Input(value=self.text, placeholder="e.g. 1", id="replay-session")
            yield Static(
                "A session that has ended, shown as it was at any tick of its run.\nenter: replay · escape: cancel",
                id="replay-hint",
                markup=False,
            )

    def on_input_submitted(self, event: Input.Submitted) -> None:
        word = event.value.strip()
        self.text = event.value
        problem = None
        if not word.isdigit() or len(word) > 9:
            problem = f"session {shown(word, 30)!s}: type a session's number (1, 2, ...) as the Messages view lists it"
        elif self.host.controller is not None:
            try:
                replayable(self.host.controller, int(word))
            except AgoraError as exc:
                problem = str(exc)
        if problem is not None:
            self.app.notify(problem, severity="error", markup=False)  # the form stays, filled
            return
        self.dismiss(int(word))

    def action_cancel(self) -> None:
        self.text = self.query_one("#replay-session", Input).value
        self.dismiss(None)


class TickSlider(Widget, can_focus=True):
    """The replayed tick on a bar across the screen: a click (or a drag) jumps to the tick under the mouse, left and
    right move a tick while the bar has the focus."""

    DEFAULT_CSS = """
    TickSlider { height: 1; width: 1fr; }
    TickSlider:focus { background: $boost; }
    """
    BINDINGS = [Binding("left", "nudge(-1)", "Back", show=False), Binding("right", "nudge(1)", "On", show=False)]

    tick: reactive[int] = reactive(0)

    class Moved(Message):
        """The person asked for ``tick``."""

        def __init__(self, tick: int) -> None:
            super().__init__()
            self.tick = tick

    def __init__(self, first: int, last: int, tick: int, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.first, self.last = int(first), int(last)
        self.set_reactive(TickSlider.tick, int(tick))

    def render(self) -> Text:
        width = max(3, self.size.width)
        span = max(1, self.last - self.first)
        at = round((self.tick - self.first) / span * (width - 1))
        return Text.assemble(("━" * at, "bold"), ("●", "bold reverse"), ("─" * (width - 1 - at), "dim"))

    def tick_at(self, x: int) -> int:
        """The tick under column ``x`` of the bar."""
        width = max(2, self.size.width)
        return self.first + round(max(0, min(width - 1, x)) / (width - 1) * (self.last - self.first))

    def on_click(self, event: events.Click) -> None:
        self.post_message(self.Moved(self.tick_at(event.x)))

    def on_mouse_move(self, event: events.MouseMove) -> None:
        if event.button == 1:  # a drag
            self.post_message(self.Moved(self.tick_at(event.x)))

    def action_nudge(self, step: int) -> None:
        self.post_message(self.Moved(self.tick + step))


class ReplayScreen(Screen[None]):
    """Session ``replay`` as it was at a tick of its run (see the module docstring)."""

    BINDINGS = [
        Binding("left_square_bracket", "move(-1)", "Tick back", id="replay_back"),
        Binding("right_square_bracket", "move(1)", "Tick on", id="replay_on"),
        Binding("left_curly_bracket", "move(-10)", "10 back", id="replay_back10"),
        Binding("right_curly_bracket", "move(10)", "10 on", id="replay_on10"),
        Binding("home", "to_end(0)", "First tick", id="replay_first"),
        Binding("end", "to_end(1)", "Last tick", id="replay_last"),
        Binding("e", "export", "Export", id="replay_export"),
        Binding("escape", "close", "Close", id="replay_close"),
    ]
    DEFAULT_CSS = """
    ReplayScreen > Vertical { width: 100%; height: 100%; }
    ReplayScreen #replay-title { height: auto; text-style: bold; padding: 0 1; }
    ReplayScreen #replay-main { height: 1fr; }
    ReplayScreen #replay-chart { width: 3fr; height: 1fr; }
    ReplayScreen #replay-figures { width: 2fr; height: 1fr; padding: 0 1; overflow-y: auto; }
    ReplayScreen #replay-agent { margin-top: 0; }
    ReplayScreen #replay-agent-line { height: auto; padding: 0 1; }
    ReplayScreen #replay-keys { height: auto; color: $text-muted; padding: 0 1; }
    """

    def __init__(self, replay: Replay, tick: int | None = None) -> None:
        super().__init__()
        self.replay = replay
        self.frame: ReplayFrame = replay.at(replay.last if tick is None else tick)
        #: The agent typed in the agent field (its original id; None: none).
        self.agent: int | None = None
        #: The files of the exports made here (PNG, SVG, JSON each).
        self.exported: list[tuple[str, ...]] = []

    def compose(self) -> ComposeResult:
        r = self.replay
        with Vertical():
            yield Static(id="replay-title")
            yield TickSlider(r.first, r.last, self.frame.tick, id="replay-slider")
            with Horizontal(id="replay-main"):
                yield Chart(id="replay-chart", min_interval=0.0)
                yield Static(id="replay-figures")
            yield Input(placeholder="an agent's id: where it stood at this tick", id="replay-agent")
            yield Static(id="replay-agent-line")
            yield Static(
                "[ ] a tick · { } ten · home/end · click or drag the bar · e export · escape: back to the live world",
                id="replay-keys",
                markup=False,
            )

    def on_mount(self) -> None:
        self.show(self.frame.tick)

    @property
    def chart(self) -> Chart:
        return self.query_one("#replay-chart", Chart)

    def spec(self, points: int) -> ChartSpec:
        """The session chart with the replayed tick marked (what the screen and an export draw)."""
        r, tick = self.replay, self.frame.tick
        title = f"replay · session {r.id} · {shown(r.model, 30)} · tick {tick}"
        return session_spec(title, r.states, r.ticks, r.counts, points, marks=(Mark(float(tick), f"tick {tick}"),))

    def show(self, tick: int) -> None:
        """Show the session at ``tick`` (clamped to its run)."""
        frame = self.frame = self.replay.at(tick)
        self.query_one("#replay-title", Static).update(Text(title_line(frame)))
        self.query_one("#replay-slider", TickSlider).tick = frame.tick
        self.query_one("#replay-figures", Static).update(Text("\n".join(frame_lines(frame))))
        self._show_agent()
        self.chart.show(("replay", frame.session, frame.tick), self.spec, force=True)

    def _show_agent(self) -> None:
        line = ""
        if self.agent is not None:
            try:
                line = self.replay.agent(self.agent, self.frame.tick).line()
            except AgoraError as exc:
                line = str(exc)
        self.query_one("#replay-agent-line", Static).update(Text(line))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        word = event.value.strip()
        if not word:
            self.agent = None
        elif not word.lstrip("-").isdigit() or len(word) > 19:
            self.app.notify(f"agent {shown(word, 30)}: type an agent's id (a whole number)", severity="error")
            return
        else:
            try:
                self.replay.agent(int(word), self.frame.tick)
            except AgoraError as exc:
                self.app.notify(str(exc), severity="error", markup=False)
                return
            self.agent = int(word)
        self._show_agent()
        self.set_focus(None)  # the keys move the tick again

    def on_tick_slider_moved(self, event: TickSlider.Moved) -> None:
        self.show(event.tick)

    def action_move(self, step: int) -> None:
        self.show(self.frame.tick + step)

    def action_to_end(self, last: int) -> None:
        self.show(self.replay.last if last else self.replay.first)

    async def action_export(self) -> None:
        """The chart as shown to PNG and SVG, its numbers to JSON, under the saves folder's exports."""
        spec = self.chart.spec or self.spec(200)
        paths = await export_shown(self.app, spec, f"replay-{self.replay.id}-tick{self.frame.tick}", "replay")
        if paths is not None:
            self.exported.append(paths)

    def action_close(self) -> None:
        if self.focused is not None and isinstance(self.focused, Input):
            self.set_focus(None)  # escape leaves the field first
            return
        self.dismiss(None)


def title_line(frame: ReplayFrame) -> str:
    """``REPLAY · session 3 · sir · tick 40 (ticks 0 to 79)``."""
    return (
        f"REPLAY · session {frame.session} · {shown(frame.model, 30)} · tick {frame.tick} "
        f"(its run: ticks {frame.first} to {frame.last})"
    )


def frame_lines(frame: ReplayFrame) -> list[str]:
    """The figures of a frame, as the screen shows them (names and model text shown literally)."""
    states = " · ".join(f"{shown(name, 16)} {count:,}" for name, count in zip(frame.states, frame.counts))
    lines = [
        f"at tick {frame.tick}: {states}",
        f"reached {frame.reached:,} by this tick, {frame.new:,} at it",
        "",
        "generations (agents reached in each): "
        + (" · ".join(f"{g}: {c:,}" for g, c in enumerate(frame.generations)) or "none"),
        "largest trees (root: agents): " + (" · ".join(f"{a}: {c:,}" for a, c in frame.trees) or "none"),
        "spreaders (agent: reached): " + (" · ".join(f"{a}: {c:,}" for a, c in frame.spreaders) or "none"),
        "",
        "the largest communities (reached of agents):" if frame.communities else "communities: none (c finds them)",
    ]
    lines += [
        f"  community {c.community}: {c.reached:,} of {c.agents:,} ({100 * c.reached / max(1, c.agents):.1f} %)"
        for c in frame.communities
    ]
    lines += [
        "",
        "The file keeps each agent's first adoption, not its later moves (I to R): which reached agents had moved on "
        "by this tick is not shown; the counts per state are the run's.",
    ]
    return lines


class Replaying:
    """The replays asked for in this UI: the form (the last session typed offered again), the first load in a
    thread, the screen.

    Args:
        app: the app (its controller, screens, workers and notifications).
    """

    def __init__(self, app: AppHost) -> None:
        self.app = app
        self.typed: str | None = None
        #: Replay screens opened here (the tests and the bench wait on it).
        self.opened = 0

    def offered(self) -> str:
        """The session the form offers: the last typed, else the Dashboard's if it has ended, else the last ended."""
        controller = self.app.controller
        if (self.typed or "").strip() or controller is None:  # an empty form left earlier offers the default again
            return self.typed or ""
        chosen = self.app.views.dashboard.chart_session()
        if chosen is not None:
            try:
                replayable(controller, chosen)
                return str(chosen)
            except AgoraError:
                pass
        last = last_ended(controller)
        return "" if last is None else str(last)

    def ask(self) -> None:
        """Show the form."""
        if self.app.controller is None:
            return
        form = ReplayForm(self.offered(), self.app)

        def chosen(session: int | None) -> None:
            self.typed = form.text
            if session is not None:
                self.app.run_worker(self.open(session), group="replay", exclusive=True)

        self.app.push_screen(form, chosen)

    async def open(self, session: int, tick: int | None = None) -> ReplayScreen | None:
        """Load session ``session``'s replay off the event loop's way and show it (None: it could not be)."""
        controller = self.app.controller
        if controller is None:
            return None
        self.app.busy = f"loading the replay of session {session}"
        self.app.refresh_ui()
        try:
            replay = await asyncio.to_thread(open_replay, controller, session)
        except AgoraError as exc:
            self.app.notices.failed(str(exc))
            return None
        finally:
            self.app.busy = None
            self.app.refresh_ui()
        screen = ReplayScreen(replay, tick)
        await self.app.push_screen(screen)
        self.opened += 1
        return screen


def replay_of(screen: object) -> ReplayScreen | None:
    """The replay a screen is (None: it is none)."""
    return screen if isinstance(screen, ReplayScreen) else None


__all__ = ["ReplayForm", "ReplayScreen", "Replaying", "TickSlider", "frame_lines", "replay_of", "title_line"]
