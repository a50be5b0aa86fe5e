"""The Compare view (6): the sessions' reach side by side."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.reactive import reactive
from textual.widgets import Static

from sim.live.frontend import shown
from sim.live.views import ReachCurve, WorldViews

from ..charts import MAX_LINES, Chart, compare_spec, intervention_marks, reach_curves
from ._base import View, file_stem, fmt_int, literal, show


@dataclass(frozen=True)
class CompareSnapshot:
    """Everything the Compare view shows: the world (its name and agents), the latest sessions that
    started (their reach per tick), how many sessions there are, and the interventions applied."""

    key: int
    name: str
    agents: int
    curves: tuple[ReachCurve, ...]
    sessions: int
    marks: tuple[tuple[int, str], ...]


class CompareView(View):
    """The sessions of the world side by side: each one's reach per tick since it started, one line
    per session (the latest ten), and a line of figures per session below. Once an intervention has been
    applied in the world the lines are drawn on the world's ticks instead, with a mark at each
    intervention's tick, so that a counter-message and the message it counters share one clock."""

    DEFAULT_CSS = """
    CompareView #compare-chart { height: 1fr; min-height: 10; }
    CompareView #compare-sessions { height: auto; max-height: 12; padding: 0 1; }
    """

    snapshot: reactive[CompareSnapshot | None] = reactive(None, init=False, repaint=False)

    def compose(self) -> ComposeResult:
        yield Chart(id="compare-chart")
        yield Static(id="compare-sessions", markup=False)

    def fetch(self, live: WorldViews) -> None:
        self.snapshot = CompareSnapshot(
            live.key,
            live.name,
            live.population,
            live.sessions.reach_curves(MAX_LINES),
            live.sessions.count(),
            self.agora.applied_interventions(),
        )

    def watch_snapshot(self, snap: CompareSnapshot | None) -> None:
        if snap is None:
            return
        applied = snap.marks
        listed = tuple((c.line.id, c.ticks, c.line.status) for c in snap.curves)
        key = (snap.key, listed, *((applied,) if applied else ()))
        chart = self.query_one("#compare-chart", Chart)
        changed = (
            chart.key is None
            or [k[0] for k in chart.key[1]] != [k[0] for k in key[1]]
            or bool(chart.key[2:]) != bool(applied)  # the axis changes: world ticks with marks
        )
        curves = reach_curves(snap.curves)
        # With interventions, every line on the world's ticks (a session's first entry is its start tick).
        starts = [int(c.line.started_tick or 0) for c in snap.curves] if applied else None
        marks = intervention_marks(applied)
        title = f"reach of the sessions of {shown(snap.name, 30)}"
        if len(snap.curves) < snap.sessions:
            title += f" (the latest {len(snap.curves)} of {snap.sessions})"
        hint = "" if curves else "no session has started: press i to inject a message, space to run"
        chart.show(
            key,
            lambda points: compare_spec(title, curves, points, hint, starts=starts, marks=marks),
            force=changed,
        )
        show(self.query_one("#compare-sessions", Static), self.session_lines(snap.curves, snap.agents, applied))

    def export_chart(self) -> None:
        """Write the chart as shown (every session's reach, the marks) to PNG and SVG, with its numbers as JSON (the
        e key)."""
        live = self.agora.live
        if live is None:
            return
        make = self.query_one("#compare-chart", Chart).maker
        if not live.sessions.series() or make is None:
            self.agora.notify("no session has started yet: nothing to export", severity="warning", markup=False)
            return
        name = file_stem(live.name, 60) or "world"
        self.export_worker(make, f"{name}-compare-tick{live.tick}")

    @staticmethod
    def session_lines(curves: tuple[ReachCurve, ...], n: int, applied: tuple[tuple[int, str], ...] = ()) -> Text:
        """One line per session: id and model, status, reach (and its share), the tick of its peak, the
        sessions it competes with (a counter-message and the message it counters), and its message,
        literally; then the interventions marked on the chart, by tick."""
        t = Text()
        for j, c in enumerate(curves):
            s = c.line
            if j:
                t.append("\n")
            t.append(f"session {s.id} ", style="bold")
            t.append_text(literal(f"({s.model_name})", 26))
            t.append(
                f" {s.status:<9} reached {fmt_int(s.reached)} ({100 * s.reached / max(1, n):.1f} %)"
                f" · peak at tick {c.peak_tick if c.peak_tick is not None else '-'} · "
            )
            if s.rivals:
                t.append("rivals " + ", ".join(str(r) for r in s.rivals) + " · ")
            t.append_text(literal(s.text, 60))
        if applied:
            t.append("\n" if curves else "")
            t.append("marks: ", style="bold")
            for j, (tick, spec) in enumerate(applied[-MAX_LINES:]):
                t.append(" · " if j else "")
                t.append(f"tick {tick:,} ")
                t.append_text(literal(spec, 40))
        return t
