"""The Dashboard (1): the world's figures, the LLM, the charts and the log."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widgets import Log, Static

from sim.errors import AgoraError
from sim.live.controller import WorldSnapshot
from sim.live.frontend import shown
from sim.live.views import LLMFigures, MetricsHistory, Recommenders, SessionChart, WorldViews

from ..charts import (
    WORLD_TICK,
    Chart,
    ChartSpec,
    forecast_bands,
    group_spec,
    histogram_spec,
    intervention_marks,
    memory_spec,
    metric_spec,
    observed_spec,
    session_spec,
    session_title,
)
from ..recommenders import RECOMMENDER_ROLES, error_key
from ._base import View, file_stem, fmt_int, literal, show


@dataclass(frozen=True)
class DashboardSnapshot:
    """Everything the Dashboard shows: the world's figures (its snapshot, the tick rate, the process's memory
    and CPU), its recommenders, the LLM, the session on the chart, the metrics of the latest ticks, the
    memory samples and the interventions marked on the charts."""

    world: WorldSnapshot
    key: int
    rate: str
    rss_mb: float
    cpu_percent: float
    recommenders: Recommenders
    llm: LLMFigures
    chart: SessionChart | None
    history: MetricsHistory
    rss_samples: int
    marks: tuple[tuple[int, str], ...]
    rss_history: tuple[float, ...] = field(compare=False)
    #: The latest forecast of the session on the chart (``tui.forecast.ForecastView``; None: none).
    forecast: Any = None
    #: The observed series on the chart (``tui.observed.ObservedView``; None: none), and the session's live
    #: measures it is drawn against (measure -> values at the chart's ticks).
    observed: Any = None
    observed_live: dict[str, Any] = field(default_factory=dict, compare=False)
    #: The chart's grouping (``sim.live.frontend.By``; None: by state), and the session's new infections per
    #: tick by it: its world ticks and ``new@GROUP`` columns (or the one line that says why they cannot be drawn).
    grouped: Any = None
    by_group: tuple[Any, dict[str, Any]] | str | None = field(default=None, compare=False)


def _histogram(title: str, name: str, values: Any, bins: int, _points: int) -> ChartSpec:
    """A histogram's spec for a chart (the chart hands the points it has room for; bars ignore them)."""
    return histogram_spec(title, name, values, bins)


class DashboardView(View):
    """Metrics, the LLM, charts with axes and the log. The session chart shows the session chosen in the
    Messages view (or injected last), else the first running one, else the one that finished last; it is
    pinned: a session that ends stays on the chart until ``x`` dismisses it."""

    #: Per-tick lines of the world's charts: metric key, legend label.
    ADOPTION_LINES = (("new_adoptions", "all"), ("graph_adoptions", "via graph"), ("feed_adoptions", "via feed"))
    SOCIAL_LINES = (("follows", "follows"), ("unfollows", "unfollows"))
    #: The latest ticks the world's charts show (metrics keep more).
    CHART_TICKS = 600
    HISTOGRAM_BINS = 20
    DEFAULT_CSS = """
    DashboardView { overflow-y: auto; }
    DashboardView #metrics { height: auto; padding: 0 1; }
    DashboardView #llm { height: auto; padding: 0 1; }
    DashboardView #session-charts { height: 2fr; min-height: 10; }
    DashboardView #world-charts { height: 2fr; min-height: 9; }
    DashboardView #session-chart { width: 2fr; }
    DashboardView #histogram-chart { width: 1fr; display: none; }
    DashboardView Log { height: 1fr; min-height: 4; border: round $primary-darken-2; }
    DashboardView.-short #session-charts { height: 12; }
    DashboardView.-short #world-charts { height: 11; }
    DashboardView.-short Log { height: 8; }
    """
    #: Below this height the charts keep a fixed height and the dashboard scrolls.
    SHORT = 36
    #: Width of a figure's column (the tick rate says what it was when paused: "0.0 t/s (was 12.5)").
    VALUE_WIDTH = 18

    snapshot: reactive[DashboardSnapshot | None] = reactive(None, init=False, repaint=False)

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        #: (the live world, session id) on the session chart, until dismissed.
        self.pinned: tuple[int, int] | None = None
        #: Sessions dismissed (and every session finished when one was): not chosen again on their own.
        self.dismissed: set[tuple[int, int]] = set()
        #: The live measures an observed series was last drawn against, and what they were read for.
        self._observed_live: tuple[Any, dict[str, Any]] | None = None
        #: The counts by group last drawn, and what they were counted for.
        self._by_group: tuple[Any, Any] | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="metrics", markup=False)
        yield Static(id="llm", markup=False)
        with Horizontal(id="session-charts"):
            yield Chart(id="session-chart")
            yield Chart(id="histogram-chart")
        with Horizontal(id="world-charts"):
            yield Chart(id="new-chart", min_interval=0.5)
            yield Chart(id="social-chart", min_interval=0.5)
            yield Chart(id="mem-chart", min_interval=1.0)
        yield Log(id="log", max_lines=2000)

    def on_resize(self) -> None:
        self.set_class(self.size.height < self.SHORT, "-short")

    # -- the snapshot -------------------------------------------------------------------------------------
    def fetch(self, live: WorldViews) -> None:
        """The dashboard's snapshot; the session on the chart is chosen (and pinned) here."""
        app = self.agora
        key = live.key
        pinned = self.pinned[1] if self.pinned is not None and self.pinned[0] == key else None
        dismissed = frozenset(sid for world, sid in self.dismissed if world == key)
        chosen = live.sessions.chart_choice(app.selected_session_id, pinned, dismissed)
        self.pinned = (key, chosen) if chosen is not None else None
        resources = app.resources
        observed = app.observing.view_for(key)
        grouped = app.grouping.by_for(key)
        self.snapshot = DashboardSnapshot(
            world=live.snapshot(),
            key=key,
            rate=app.shown_rate or app.pace.rate_text(),
            rss_mb=resources.rss_mb,
            cpu_percent=resources.cpu_percent,
            recommenders=live.recommenders(),
            llm=live.llm(),
            chart=live.sessions.chart(chosen) if chosen is not None else None,
            history=live.sessions.metrics(self.CHART_TICKS),
            rss_samples=resources.samples,
            marks=app.applied_interventions(),
            rss_history=tuple(resources.history)[-self.CHART_TICKS :],
            forecast=app.forecasting.latest_for(key, chosen),
            observed=observed,
            observed_live=self.observed_live(live, chosen, observed),
            grouped=grouped,
            by_group=self.by_group(live, chosen, grouped),
        )

    def by_group(self, live: WorldViews, chosen: int | None, grouped: Any) -> tuple[Any, dict[str, Any]] | str | None:
        """The chart session's new infections per tick by the world's grouping (counted once per round of the
        session), or the sentence that says why they cannot be counted; None without a grouping."""
        if grouped is None or chosen is None:
            return None
        key = (live.key, chosen, grouped, live.sessions.chart(chosen))
        if self._by_group is not None and self._by_group[0] == key:
            return self._by_group[1]
        try:
            counted: tuple[Any, dict[str, Any]] | str = live.sessions.by(chosen, grouped)
        except AgoraError as exc:
            counted = str(exc)
        self._by_group = (key, counted)
        return counted

    def observed_live(self, live: WorldViews, chosen: int | None, observed: Any) -> dict[str, Any]:
        """The chart session's live measures an observed series is drawn against (its states are the chart's
        own counts), copied once per round of the session."""
        if observed is None or chosen is None:
            return {}
        key = (live.key, chosen, observed.serial, live.sessions.chart(chosen))
        if self._observed_live is not None and self._observed_live[0] == key:
            return self._observed_live[1]
        values = live.sessions.measures(chosen, observed.overlay.measures)
        self._observed_live = (key, values)
        return values

    def chart_session(self) -> int | None:
        """The session on the chart now (None: none), chosen as the next refresh would."""
        live = self.agora.live
        if live is None:
            return None
        self.fetch(live)
        snap = self.snapshot
        return snap.chart.line.id if snap is not None and snap.chart is not None else None

    def watch_snapshot(self, snapshot: DashboardSnapshot | None) -> None:
        if snapshot is None:
            return
        lines = Text()
        for i, (k, v) in enumerate(self.figure_rows(snapshot)):
            lines.append(f"{k:>22} ", style="bold")
            lines.append(f"{v:<{self.VALUE_WIDTH}}")
            if i % 2 == 1:
                lines.append("\n")
        lines.append_text(self.reach_line(snapshot.world, snapshot.recommenders))
        show(self.query_one("#metrics", Static), lines)
        show(self.query_one("#llm", Static), self.llm_lines(snapshot.llm))
        self.paint_charts(snapshot)

    @staticmethod
    def figure_rows(snap: DashboardSnapshot) -> list[tuple[str, str]]:
        """The dashboard's figures, label and value (see :class:`~sim.live.controller.WorldSnapshot` for where
        each comes from). Figures of one tick read ``-`` until a tick of this world runs here: after opening or
        loading a world at tick 41, its tick 40 was not measured in this process."""
        f = snap.world
        m = f.tick_metrics

        def per_tick(key: str, fmt: Any = fmt_int) -> str:
            return "-" if m is None else str(fmt(m.get(key, 0)))

        sessions = f.sessions
        return [
            ("tick rate", snap.rate),
            ("edge attempts/s", per_tick("attempts_per_second", lambda v: f"{float(v):,.0f}")),
            ("running sessions", fmt_int(f.running_sessions)),
            ("queued sessions", fmt_int(f.queued_sessions)),
            ("completed sessions", fmt_int(sessions.get("completed", 0))),
            ("failed / cancelled", f"{sessions.get('failed', 0):,} / {sessions.get('cancelled', 0):,}"),
            ("new adoptions (tick)", per_tick("new_adoptions")),
            ("total reached", fmt_int(f.reached)),
            ("reproduction number", f"{f.reproduction_number:.2f}"),
            ("RSS memory", f"{snap.rss_mb:,.0f} MB"),
            ("CPU", f"{snap.cpu_percent:.0f} %"),
            ("database write queue", fmt_int(f.db_queue)),
            ("write backpressure", ("WAITING " if f.db_backpressure else "") + f"{f.db_backpressure_seconds:,.1f} s"),
            ("rows written", fmt_int(f.db_rows_written)),
            ("graph adoptions (tick)", per_tick("graph_adoptions")),
            ("feed adoptions (tick)", per_tick("feed_adoptions")),
            ("follows (tick)", per_tick("follows")),
            ("unfollows (tick)", per_tick("unfollows")),
            (
                "joins / leaves (tick)",
                "-" if m is None else f"{int(m.get('joins', 0)):,} / {int(m.get('leaves', 0)):,}",
            ),
            (
                "edges",
                fmt_int(f.edges) + (f" (+{f.pending_graph_changes:,} pending)" if f.pending_graph_changes else ""),
            ),
        ]

    @staticmethod
    def reach_line(f: WorldSnapshot, recommenders: Recommenders) -> Text:
        """``reach: graph N · feed M`` (adoptions through the follower graph and through feeds, seeds not
        counted, summed over the world's sessions) and the world's recommenders (plugin names shown
        literally)."""
        graph, feed = f.graph_reached, f.feed_reached
        t = Text(" " * 16)
        t.append("reach: ", style="bold")
        t.append(f"graph {graph:,} · feed {feed:,}")
        if graph + feed:
            t.append(f" ({100 * feed / (graph + feed):.1f} % through feeds)")
        t.append("   recommenders: ", style="bold")
        for label, (setting, kind, _words) in zip(("feed", "friends"), RECOMMENDER_ROLES.values()):
            if label != "feed":
                t.append(" · ")
            t.append(f"{label} ")
            name = recommenders.setting(setting)
            t.append_text(literal(name, 30))
            if recommenders.failed(error_key(kind, name)):
                t.append(" (failed: off)", style="red")
        return t

    @staticmethod
    def llm_lines(st: LLMFigures) -> Text:
        """The LLM layer at a glance: mode, model, servers up, requests and what became of them, tokens,
        estimated cost and posts written; why it is offline when it is. The key is never shown."""
        indent = " " * 18
        t = Text(indent)
        t.append("LLM: ", style="bold")
        mode = st.mode
        if mode == "offline":
            t.append("offline")
            t.append(" — ")
            t.append_text(literal(st.why_offline, 60))
            t.append(f" · posts written {st.posts:,} (offline generator)")
            return t
        style = {"online": "bold green", "degraded": "bold yellow"}.get(mode, "bold red")
        t.append(mode if mode != "fallback" else "fallback (every server down: offline answers)", style=style)
        t.append(" ")
        t.append_text(literal(st.model, 30))
        t.append(
            f" · servers {st.servers_up}/{st.servers} up · {st.in_flight:,} in flight"
            f" · budget {st.budget_per_tick:,} calls/tick\n"
        )
        t.append(indent + "     ")
        t.append(
            f"requests {st.requests:,} · calls {st.calls:,} · cache hits {st.cache_hits:,}"
            f" · fallbacks {st.fallbacks:,} · retries {st.retries:,}"
            f" · failures {st.failures:,}\n"
        )
        t.append(indent + "     ")
        t.append(
            f"tokens {st.tokens_in:,} in / {st.tokens_out:,} out"
            f" · est. cost ${st.cost_usd:,.4f} · posts written {st.posts:,}"
        )
        return t

    # -- the charts -----------------------------------------------------------------------------------------
    def paint_charts(self, snap: DashboardSnapshot) -> None:
        """Hand each chart its data (a chart redraws off the event loop, and only when its key is new)."""
        marked = (snap.marks,) if snap.marks else ()  # the keys name the marks only when there are some
        self.paint_session_chart(snap, marked)
        history = snap.history
        world_key = (snap.key, *history.key, *marked)
        marks = intervention_marks(snap.marks)
        # The per-tick history is the ticks run here: a world opened or loaded at tick 41 starts it empty.
        tick = snap.world.tick
        empty = "no tick yet" if tick == 0 else f"no tick run since the world was opened or loaded at tick {tick:,}"
        rows = list(history.rows)
        for chart_id, chart_title, unit, lines in (
            ("#new-chart", "new adoptions per tick", "agents", self.ADOPTION_LINES),
            ("#social-chart", "follows & unfollows per tick", "edges", self.SOCIAL_LINES),
        ):
            self.query_one(chart_id, Chart).show(
                world_key, partial(metric_spec, chart_title, unit, rows, lines, empty=empty, marks=marks)
            )
        self.query_one("#mem-chart", Chart).show((snap.rss_samples,), partial(memory_spec, list(snap.rss_history)))

    def paint_session_chart(self, snap: DashboardSnapshot, marked: tuple[Any, ...]) -> None:
        chart = self.query_one("#session-chart", Chart)
        histogram = self.query_one("#histogram-chart", Chart)
        session = snap.chart
        if session is None:
            chart.show(
                (snap.key, None),
                lambda points: ChartSpec(
                    "no session on the chart",
                    WORLD_TICK,
                    "agents",
                    hint="press i to inject a message, space to run (4: choose a session)",
                ),
                force=True,
            )
            histogram.display = False
            return
        line = session.line
        forecast = snap.forecast
        foreseen = (forecast.serial,) if forecast is not None else ()
        observed = snap.observed
        # The observed series' tick 0 is the session's start tick (until it starts: the tick it starts at).
        start = line.started_tick if line.started_tick is not None else snap.world.tick
        seen: tuple[tuple[Any, ...], ...] = (("observed", observed.serial, start),) if observed is not None else ()
        grouped = snap.grouped if observed is None else None
        seen += (("by", grouped),) if grouped is not None else ()
        key = (snap.key, line.id, line.round, line.status, session.length, *marked, *foreseen, *seen)
        new_session = chart.key is None or chart.key[:2] != key[:2] or (chart.key[-1:] != key[-1:] and bool(seen))
        title = session_title(line) + (" (x: dismiss, e: export)" if line.done else "")
        overlay = observed.overlay if observed is not None else None
        live_values = snap.observed_live
        if observed is not None:
            title += f" · observed: {observed.name}"
        hint = "" if session.length else f"it starts with the next tick ({line.status})"
        # World ticks, as the world's charts below: the marks are where they are there.
        marks = intervention_marks(snap.marks) if session.length else ()
        arms = forecast.arms if forecast is not None else ()

        def spec(points: int) -> ChartSpec:
            # The forecast's arms, each its band and median ahead of the tick it branched at: of reach, or beside
            # an observed series of the measure it observes (like with like: new cases against new cases).
            if overlay is not None:
                return observed_spec(title, session, overlay, live_values, start, points, hint, marks, arms)
            if grouped is not None:
                return group_spec(title, grouped.text, snap.by_group, points, hint, marks)
            bands = forecast_bands(arms, points)
            return session_spec(
                title, session.state_names, session.ticks, session.counts, points, hint=hint, marks=marks, bands=bands
            )

        chart.show(key, spec, force=new_session)
        histogram.display = session.variable is not None
        if session.variable is not None and session.values is not None:
            h_title = f"{shown(session.variable, 24)} at round {line.round} · session {line.id}"
            histogram.show(
                key,
                partial(_histogram, h_title, session.variable, session.values, self.HISTOGRAM_BINS),
                force=new_session,
            )

    def dismiss_chart(self) -> int | None:
        """Take the pinned session off the chart (and out of the selection); the chart falls back to the
        next running session, or shows a hint. Returns the session dismissed (None: nothing was pinned)."""
        live = self.agora.live
        if live is None:
            return None
        self.fetch(live)  # the session on the chart now
        snap = self.snapshot
        if snap is None or snap.chart is None:
            return None
        dismissed = snap.chart.line.id
        self.dismissed.add((snap.key, dismissed))
        self.dismissed.update((snap.key, sid) for sid in live.sessions.ended())
        if self.agora.selected_session_id == dismissed:
            self.agora.selected_session_id = None
        self.pinned = None
        self.fetch(live)
        return dismissed

    def dismiss_chart_said(self) -> None:
        """Take the session off the chart (the x key) and say so."""
        dismissed = self.dismiss_chart()
        if dismissed is None:
            self.agora.notify("no session is on the chart", markup=False)
        else:
            self.agora.notify(f"session {dismissed} taken off the chart", markup=False)

    def export_chart(self) -> None:
        """Write the session's chart as shown (lines, observed points, forecast bands, marks, world ticks) to PNG
        and SVG, with its numbers as JSON (the e key)."""
        live = self.agora.live
        if live is None:
            return
        self.fetch(live)
        snap = self.snapshot
        session = snap.chart if snap is not None else None
        make = self.query_one("#session-chart", Chart).maker
        if snap is None or session is None or not session.length or make is None:
            self.agora.notify(
                "no session with a tick is on the chart: nothing to export", severity="warning", markup=False
            )
            return
        name = file_stem(snap.world.name, 60) or "world"
        self.export_worker(make, f"{name}-session{session.line.id}-tick{snap.world.tick}")

    def log_line(self, text: str) -> None:
        # Log writes plain text: nothing in it is parsed as markup.
        self.query_one("#log", Log).write_line(text)
