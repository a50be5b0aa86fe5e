"""The five views. Each is self-contained: it composes its widgets and knows how to refresh itself from
the app's simulation. Text from agents, users, plugins, files or the LLM always goes through
:func:`literal` / :func:`literal_lines` (``sim.core.safe.shown``): wrapped in ``rich.text.Text``, never parsed
as markup, its control characters and ANSI escapes made visible (Textual would pass them to the terminal),
one-line cells cut with ``…``.
"""

from __future__ import annotations

import asyncio
import os
import re
from functools import partial
from typing import Any

import numpy as np
from rich.cells import cell_len
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, DataTable, Input, Label, Log, Select, Static

from sim.analysis.plot import plot_sessions
from sim.analysis.structure import community_table, isolated_text, session_community_stats
from sim.core.safe import shown
from sim.core.topics import topics_mask
from sim.engine.seeding import method_seeds
from sim.errors import AgoraError, BadParameterError
from sim.live.cascadeview import BUSY, CascadeSummary, measures_line, no_tree_reason, summarise
from sim.live.controller import WorldSnapshot
from sim.model.seeds import SeedSpec
from sim.model.series import series_dict
from sim.model.session import STATUSES
from sim.social.dynamics import NONE
from sim.store.create import saves_dir

from .cascade import CascadeTreeScreen
from .charts import (
    MAX_LINES,
    WORLD_TICK,
    Chart,
    ChartSpec,
    compare_spec,
    histogram_spec,
    intervention_marks,
    memory_spec,
    metric_spec,
    reach_curves,
    session_counts,
    session_spec,
    session_title,
)
from .interventions import seed_methods
from .messages import ChartExported, CommunitiesCounted, WorkFailed
from .protocol import AgoraHost
from .recommenders import RECOMMENDER_ROLES, error_key

BAR_WIDTH = 16
#: The most characters a text of several lines (an answer, a traceback) shows.
LINES_LIMIT = 20_000
#: The most characters of a failed session's traceback shown (a whole traceback is far shorter; this
#: bounds a plugin whose error message is megabytes long).
TRACEBACK_LIMIT = 200_000
#: Parameter names usable as they are in a widget id (others get one by position).
_WIDGET_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
#: The inject form's recommender choice meaning "whatever the world's feed recommender is".
WORLD_DEFAULT = "__world__"


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
    escapes made visible (``\\x1b``, see ``sim.core.safe.shown``), text longer than ``limit`` cut with ``…``."""
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


def communities_detected(world: Any) -> bool:
    """Whether communities have been detected in ``world`` (rather than planted or unknown)."""
    return bool((world.config.get("analysis") or {}).get("communities"))


def _histogram_spec(title: str, name: str, values: np.ndarray, bins: int, _points: int) -> ChartSpec:
    """A histogram's spec for a chart (the chart hands the points it has room for; a histogram ignores them)."""
    return histogram_spec(title, name, values, bins)


class View(Vertical):
    """Base: a view refreshes itself from the app when visible."""

    @property
    def agora(self) -> AgoraHost:
        return self.app  # type: ignore[return-value]

    def refresh_view(self) -> None:  # pragma: no cover - overridden
        pass

    @work(group="export")
    async def export_worker(
        self, series: list[tuple[str, dict[str, list]]], measures: list[str], title: str, base: str
    ) -> None:
        """Draw a chart's figure twice (PNG, SVG) in the saves folder's ``exports``, off the event loop
        (``agora plot``'s figures); the result goes to the app as a message."""
        folder = os.path.join(saves_dir(), "exports")
        paths = [os.path.join(folder, f"{base}.{ext}") for ext in ("png", "svg")]
        try:
            os.makedirs(folder, exist_ok=True)
            for path in paths:
                await asyncio.to_thread(plot_sessions, series, path, measures, title)
        except AgoraError as exc:
            self.post_message(WorkFailed(f"the chart was not exported: {exc}", busy=False))
        except OSError as exc:
            self.post_message(WorkFailed(f"could not write the chart into {folder}: {exc.strerror or exc}", busy=False))
        else:
            self.post_message(ChartExported(paths))


# -- 1. Dashboard ---------------------------------------------------------------------------------


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

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        #: (id of the simulation, session id) on the session chart, until dismissed.
        self.pinned: tuple[int, int] | None = None
        #: Sessions dismissed (and every session finished when one was): not chosen again on their own.
        self.dismissed: set[tuple[int, int]] = set()

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

    #: Width of a figure's column (the tick rate says what it was when paused: "0.0 t/s (was 12.5)").
    VALUE_WIDTH = 18

    def refresh_view(self) -> None:
        app = self.agora
        f = app.world_snapshot()
        lines = Text()
        for i, (k, v) in enumerate(self.figure_rows(app, f)):
            lines.append(f"{k:>22} ", style="bold")
            lines.append(f"{v:<{self.VALUE_WIDTH}}")
            if i % 2 == 1:
                lines.append("\n")
        lines.append_text(self.reach_line(app, f))
        show(self.query_one("#metrics", Static), lines)
        show(self.query_one("#llm", Static), self.llm_lines(app))
        self.refresh_charts(app)

    @staticmethod
    def figure_rows(app: AgoraHost, f: WorldSnapshot) -> list[tuple[str, str]]:
        """The dashboard's figures, label and value (see :class:`~sim.live.controller.WorldSnapshot` for where
        each comes from). Figures of one tick read ``-`` until a tick of this world runs here: after opening or
        loading a world at tick 41, its tick 40 was not measured in this process."""
        m = f.tick_metrics

        def per_tick(key: str, fmt: Any = fmt_int) -> str:
            return "-" if m is None else fmt(m.get(key, 0))

        sessions = f.sessions
        return [
            ("tick rate", app.shown_rate or app.rate_text()),
            ("edge attempts/s", per_tick("attempts_per_second", lambda v: f"{float(v):,.0f}")),
            ("running sessions", fmt_int(f.running_sessions)),
            ("queued sessions", fmt_int(f.queued_sessions)),
            ("completed sessions", fmt_int(sessions.get("completed", 0))),
            ("failed / cancelled", f"{sessions.get('failed', 0):,} / {sessions.get('cancelled', 0):,}"),
            ("new adoptions (tick)", per_tick("new_adoptions")),
            ("total reached", fmt_int(f.reached)),
            ("reproduction number", f"{f.reproduction_number:.2f}"),
            ("RSS memory", f"{app.rss_mb:,.0f} MB"),
            ("CPU", f"{app.cpu_percent:.0f} %"),
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

    def dismiss_chart_said(self) -> None:
        """Take the session off the chart (the x key) and say so."""
        dismissed = self.dismiss_chart()
        if dismissed is None:
            self.agora.notify("no session is on the chart", markup=False)
        else:
            self.agora.notify(f"session {dismissed} taken off the chart", markup=False)

    def export_chart(self) -> None:
        """Write the chart's session (its states) to PNG and SVG (the e key)."""
        world = self.agora.world
        session = self.chart_session()
        if session is None or session.series is None or not session.series.length:
            self.agora.notify(
                "no session with a tick is on the chart: nothing to export", severity="warning", markup=False
            )
            return
        name = file_stem(world.name, 60) or "world"
        title = f"session {session.id} ({session.model_name}, {session.status}) of {world.name}"
        self.export_worker(
            [(f"session {session.id}", series_dict(session))],
            [str(n) for n in session.state_names],
            title,
            f"{name}-session{session.id}-tick{world.tick}",
        )

    # -- charts -------------------------------------------------------------------------------------
    def chart_session(self) -> Any:
        """The session on the chart (and pin it): the selected one (Messages view, or injected last), else
        the one pinned, else the first running one, else the one that finished last; dismissed sessions
        are not chosen again on their own. None when there is none."""
        app = self.agora
        sim = app.sim
        key = id(sim)
        by_id = {s.id: s for s in sim.sessions}
        chosen = None
        selected = app.selected_session_id
        if selected in by_id:
            chosen = by_id[selected]
        elif self.pinned is not None and self.pinned[0] == key and self.pinned[1] in by_id:
            chosen = by_id[self.pinned[1]]
        else:
            candidates = [s for s in sim.sessions if (key, s.id) not in self.dismissed]
            running = [s for s in candidates if s.status == "running"]
            done = [s for s in candidates if s.done]
            if running:
                chosen = running[0]
            elif done:
                chosen = max(done, key=lambda s: (s.ended_tick if s.ended_tick is not None else -1, s.id))
        self.pinned = (key, chosen.id) if chosen is not None else None
        return chosen

    def dismiss_chart(self) -> int | None:
        """Take the pinned session off the chart (and out of the selection); the chart falls back to the
        next running session, or shows a hint. Returns the session dismissed (None: nothing was pinned)."""
        app = self.agora
        session = self.chart_session()
        if session is None:
            return None
        key = id(app.sim)
        self.dismissed.add((key, session.id))
        self.dismissed.update((key, s.id) for s in app.sim.sessions if s.done)
        if app.selected_session_id == session.id:
            app.selected_session_id = None
        self.pinned = None
        self.refresh_charts(app)
        return session.id

    def refresh_charts(self, app: AgoraHost) -> None:
        """Hand each chart its data when it changed (the charts draw off the event loop, a few times a
        second at most)."""
        sim_key = id(app.sim)
        session = self.chart_session()
        applied = app.applied_interventions()
        marked = (applied,) if applied else ()  # the keys name the marks only when there are some
        chart = self.query_one("#session-chart", Chart)
        histogram = self.query_one("#histogram-chart", Chart)
        if session is None:
            chart.show(
                (sim_key, None),
                lambda points: ChartSpec(
                    "no session on the chart",
                    WORLD_TICK,
                    "agents",
                    hint="press i to inject a message, space to run (4: choose a session)",
                ),
                force=True,
            )
            histogram.display = False
        else:
            length = session.series.length if session.series is not None else 0
            key = (sim_key, session.id, session.round, session.status, length, *marked)
            new_session = chart.key is None or chart.key[:2] != key[:2]
            if chart.due(key, force=new_session):
                ticks, counts = session_counts(session)
                title = session_title(session) + (" (x: dismiss, e: export)" if session.done else "")
                hint = "" if length else f"it starts with the next tick ({session.status})"
                # World ticks, as the world's charts below: the marks are where they are there.
                marks = intervention_marks(applied) if length else ()
                chart.show(
                    key,
                    partial(session_spec, title, tuple(session.state_names), ticks, counts, hint=hint, marks=marks),
                    force=new_session,
                )
            variables = list(session.variables.items())
            histogram.display = bool(variables)
            if variables and histogram.due(key, force=new_session):
                name, values = variables[0]
                h_title = f"{shown(name, 24)} at round {session.round} · session {int(session.id)}"
                histogram.show(
                    key,
                    partial(_histogram_spec, h_title, name, values, self.HISTOGRAM_BINS),
                    force=new_session,
                )
        metrics = app.sim.metrics
        last = metrics[-1].get("tick") if metrics else None
        world_key = (sim_key, len(metrics), last, *marked)
        marks = intervention_marks(applied)
        history = None
        # The per-tick history is the ticks run here: a world opened or loaded at tick 41 starts it empty.
        tick = app.world.tick
        empty = "no tick yet" if tick == 0 else f"no tick run since the world was opened or loaded at tick {tick:,}"
        for chart_id, chart_title, unit, lines in (
            ("#new-chart", "new adoptions per tick", "agents", self.ADOPTION_LINES),
            ("#social-chart", "follows & unfollows per tick", "edges", self.SOCIAL_LINES),
        ):
            world_chart = self.query_one(chart_id, Chart)
            if world_chart.due(world_key):
                history = list(metrics)[-self.CHART_TICKS :] if history is None else history
                world_chart.show(
                    world_key, partial(metric_spec, chart_title, unit, history, lines, empty=empty, marks=marks)
                )
        memory = self.query_one("#mem-chart", Chart)
        mem_key = (app.rss_samples,)
        if memory.due(mem_key):
            samples = list(app.rss_history)[-self.CHART_TICKS :]
            memory.show(mem_key, partial(memory_spec, samples))

    @staticmethod
    def reach_line(app: AgoraHost, f: WorldSnapshot) -> Text:
        """``reach: graph N · feed M`` (adoptions through the follower graph and through feeds, seeds not
        counted, summed over the world's sessions) and the world's recommenders (plugin names shown
        literally)."""
        graph, feed = f.graph_reached, f.feed_reached
        t = Text(" " * 16)
        t.append("reach: ", style="bold")
        t.append(f"graph {graph:,} · feed {feed:,}")
        if graph + feed:
            t.append(f" ({100 * feed / (graph + feed):.1f} % through feeds)")
        settings = app.sim.social.settings
        errors = app.sim.social.errors
        t.append("   recommenders: ", style="bold")
        for label, (setting, kind, _words) in zip(("feed", "friends"), RECOMMENDER_ROLES.values()):
            if label != "feed":
                t.append(" · ")
            t.append(f"{label} ")
            t.append_text(literal(settings[setting], 30))
            if error_key(kind, settings[setting]) in errors:
                t.append(" (failed: off)", style="red")
        return t

    @staticmethod
    def llm_lines(app: AgoraHost) -> Text:
        """The LLM layer at a glance: mode, model, servers up, requests and what became of them, tokens,
        estimated cost and posts written; why it is offline when it is. The key is never shown."""
        llm = app.sim.llm
        st = llm.stats()
        indent = " " * 18
        t = Text(indent)
        t.append("LLM: ", style="bold")
        mode = st["mode"]
        if mode == "offline":
            t.append("offline")
            t.append(" — ")
            t.append_text(literal(llm.config.why_offline or "offline", 60))
            t.append(f" · posts written {int(st['posts']):,} (offline generator)")
            return t
        style = {"online": "bold green", "degraded": "bold yellow"}.get(mode, "bold red")
        t.append(mode if mode != "fallback" else "fallback (every server down: offline answers)", style=style)
        t.append(" ")
        t.append_text(literal(llm.config.model, 30))
        servers = llm.client.servers_info()
        up = sum(1 for s in servers if s["state"] == "closed")
        t.append(
            f" · servers {up}/{len(servers)} up · {int(st['in_flight']):,} in flight"
            f" · budget {int(st['budget_per_tick']):,} calls/tick\n"
        )
        t.append(indent + "     ")
        t.append(
            f"requests {int(st['requests']):,} · calls {int(st['calls']):,} · cache hits {int(st['cache_hits']):,}"
            f" · fallbacks {int(st['fallbacks']):,} · retries {int(st['retries']):,}"
            f" · failures {int(st['failures']):,}\n"
        )
        t.append(indent + "     ")
        t.append(
            f"tokens {int(st['tokens_in']):,} in / {int(st['tokens_out']):,} out"
            f" · est. cost ${float(st['cost_usd']):,.4f} · posts written {int(st['posts']):,}"
        )
        return t

    def log_line(self, text: str) -> None:
        # Log writes plain text: nothing in it is parsed as markup.
        self.query_one("#log", Log).write_line(text)


# -- 2. Communities -------------------------------------------------------------------------------


class CommunitiesView(View):
    DEFAULT_CSS = """
    CommunitiesView #comm-filter { margin: 0 1; }
    CommunitiesView DataTable { height: 1fr; }
    CommunitiesView #comm-detail { height: auto; max-height: 12; padding: 0 1; border: round $primary-darken-2; }
    CommunitiesView #comm-picture { height: auto; padding: 0 1; }
    CommunitiesView #comm-isolated { height: auto; padding: 0 1; color: $text-muted; }
    CommunitiesView #comm-caption { height: auto; padding: 0 1; color: $text-muted; }
    """

    MAX_ROWS = 200

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.sort_key = "size"
        self.sort_reverse = True
        self.filter_text = ""
        self.selected: int | None = None
        self._shown_signature: Any = None
        self._community_cache: tuple[Any, list[dict[str, Any]]] | None = None
        self._community_flows: list[dict[str, int]] = []
        self._community_unassigned = 0  # agents in no community (isolated after detection), shown apart from the rows
        self._share_cache: tuple[Any, dict[str, Any]] | None = None
        self._share_pending: Any = None

    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter: community id, interest or influencer id", id="comm-filter")
        # What the ids are: the world's own communities, or detected ones (and how they were numbered).
        yield Static(id="comm-caption", markup=False)
        yield DataTable(id="comm-table", cursor_type="row", zebra_stripes=True)
        # Agents in no community (isolated after detection): one line, never rows of the table.
        yield Static(id="comm-isolated", markup=False)
        yield Static(id="comm-picture", markup=False)
        yield Static(id="comm-detail", markup=False)

    def on_mount(self) -> None:
        table = self.query_one("#comm-table", DataTable)
        for key, label in (
            ("id", "community"),
            ("size", "size"),
            ("density", "density"),
            ("interests", "dominant interests"),
            ("top", "top influencer"),
            ("share", "adoption share"),
            ("first", "first reached"),
        ):
            table.add_column(label, key=key)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "comm-filter":
            self.filter_text = event.value.strip().lower()
            self._shown_signature = None
            self.refresh_view()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        key = str(event.column_key.value)
        if key == self.sort_key:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_key, self.sort_reverse = key, key != "id"
        self._shown_signature = None
        self.refresh_view()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value is not None:
            self.selected = int(event.row_key.value)
            self.show_detail()

    def rows(self) -> list[dict[str, Any]]:
        table = self.community_rows()
        f = self.filter_text
        if f:
            table = [r for r in table if f == str(r["id"]) or any(f in t for t in r["interests"]) or f == str(r["top"])]
        key = self.sort_key if self.sort_key != "interests" else "id"
        table.sort(key=lambda r: r[key] if r[key] is not None else -1, reverse=self.sort_reverse)
        return table

    def refresh_view(self) -> None:
        app = self.agora
        show(self.query_one("#comm-caption", Static), self.communities_caption())
        rows = self.rows()
        # What the table shows, not the tick: at full speed the tick moves every refresh, the rows rarely.
        signature = (
            tuple(
                (r["id"], r["size"], r.get("share"), r.get("first_tick"), r.get("home")) for r in rows[: self.MAX_ROWS]
            ),
            len(rows),
            id(self._community_cache),
            self.sort_key,
            self.sort_reverse,
            self.filter_text,
            app.selected_session_id,
        )
        if signature == self._shown_signature:
            return
        self._shown_signature = signature
        table = self.query_one("#comm-table", DataTable)
        cursor = table.cursor_row
        table.clear()
        for r in rows[: self.MAX_ROWS]:
            share = r.get("share")
            table.add_row(
                str(r["id"]),
                fmt_int(r["size"]),
                f"{r['density']:.4f}" if r["density"] is not None else "-",
                literal(", ".join(r["interests"]), 40),
                str(r["top"]) if r["top"] is not None else "-",
                bar(share, 10) if share is not None else Text("-"),
                (f"tick {r['first_tick']}" + (" (home)" if r.get("home") else ""))
                if r.get("first_tick", -1) >= 0
                else "-",
                key=str(r["id"]),
            )
        if rows and cursor < table.row_count:
            table.move_cursor(row=cursor)
        show(self.query_one("#comm-picture", Static), self.picture(rows))
        unassigned = self.unassigned_line()
        line = self.query_one("#comm-isolated", Static)
        show(line, unassigned)
        line.display = bool(unassigned)
        if not rows:
            self.query_one("#comm-detail", Static).update(
                "No communities known for this world yet: press c to detect them."
                if not self.community_rows()
                else "No community matches the filter."
            )

    def picture(self, rows: list[dict[str, Any]]) -> Text:
        """A compact picture: one block per community (largest first), coloured by adoption share."""
        t = Text("sizes × adoption: ")
        for r in sorted(rows, key=lambda r: -r["size"])[:60]:
            share = r.get("share") or 0.0
            style = "grey39" if share == 0 else ("yellow" if share < 0.2 else ("dark_orange" if share < 0.5 else "red"))
            blocks = max(1, min(6, int(np.log10(max(r["size"], 1))) + 1))
            t.append("■" * blocks, style=style)
            t.append(" ")
        return t

    def show_detail(self) -> None:
        if self.selected is None:
            return
        detail = self.community_detail(self.selected)
        self.query_one("#comm-detail", Static).update(detail)

    # -- the view's data: the communities table, counted off the event loop ----------------------------
    def world_changed(self) -> None:
        """A world became live (or its communities were detected again): what was counted is forgotten."""
        self._community_cache = None
        self._share_cache = None
        self._shown_signature = None

    def community_rows(self) -> list[dict[str, Any]]:
        """One row per community: size, density, dominant interests, top influencer, adoption share.
        Built off the event loop when the communities change; empty until ready."""
        w = self.agora.world
        key = (id(w), id(w.columns["community"]), (w.config.get("analysis") or {}).get("time"))
        if self._community_cache is None or self._community_cache[0] != key:
            if self._community_cache is None or self._community_cache[0] != ("pending", key):
                self._community_cache = (("pending", key), [])
                self.community_table_worker(key)
            return []
        rows = [dict(r) for r in self._community_cache[1]]
        stats = self._adoption_stats()
        if stats is not None:
            share, first = stats["share"], stats["first_tick"]
            for r in rows:
                if r["id"] < share.size:
                    r["share"] = float(share[r["id"]])
                    r["first_tick"] = int(first[r["id"]])
                    r["home"] = r["id"] == stats.get("home")
        return rows

    @work(exclusive=True, group="community-table")
    async def community_table_worker(self, key: Any) -> None:
        world = self.agora.world
        if world.columns["community"].max(initial=-1) < 0:
            self.post_message(CommunitiesCounted(key, [], [], 0))
            return
        table = await asyncio.to_thread(community_table, world)
        rows = table.rows()
        for r in rows:
            r["top"] = r["top_influencers"][0] if r["top_influencers"] else None
        self.post_message(
            CommunitiesCounted(key, [r for r in rows if r["size"] > 0], table.top_flows(2000), table.unassigned)
        )

    def on_communities_counted(self, message: CommunitiesCounted) -> None:
        """The table worker's result: kept, and shown at once when the view is."""
        self._community_cache = (message.key, message.rows)
        self._community_flows = message.flows
        self._community_unassigned = message.unassigned
        self._shown_signature = None
        if self.display and self.is_attached:
            self.refresh_view()

    def _adoption_stats(self) -> dict[str, Any] | None:
        """How the selected (or first running) session spread over the communities, cached per round
        and counted in a worker thread (None until the first count is ready)."""
        sid = self.agora.selected_session_id
        if sid is None:
            running = [s for s in self.agora.sim.sessions if s.status == "running"]
            if not running:
                return None
            sid = running[0].id
        try:
            s = self.agora.sim.session(sid)
        except AgoraError:
            return None
        if s.adopted_at.size != self.agora.world.n or self.agora.world.columns["community"].max(initial=-1) < 0:
            return None
        key = (sid, s.round, s.status, id(self.agora.world.columns["community"]))
        cached = self._share_cache
        if cached is None or cached[0] != key:
            # Counted over every agent: off the event loop (keys wait otherwise); meanwhile the figures of
            # the session's previous round stay on screen.
            if self._share_pending is None:  # one count at a time; the next refresh asks for the newest round
                self._share_pending = key
                self.share_stats_worker(key, s)
            return cached[1] if cached is not None and cached[0][0] == sid else None
        return cached[1]

    # Not exclusive: a count is never cancelled (a cancelled worker fails whoever waits for the app's workers).
    @work(group="share-stats")
    async def share_stats_worker(self, key: Any, session: Any) -> None:
        world = self.agora.world
        try:
            stats = await asyncio.to_thread(session_community_stats, world, session)
        except (AgoraError, ValueError, IndexError):
            stats = None  # the world or the session changed under it: the next refresh asks again
        finally:
            self._share_pending = None
        if stats is not None and world is self.agora.world:
            self._share_cache = (key, stats)

    def unassigned_line(self) -> str:
        """The line under the communities table about agents in no community (empty when there are none):
        after detection they are the isolated agents, which are not communities and have no row."""
        n = self._community_unassigned
        cache = self._community_cache
        if not n or cache is None or not cache[1]:  # no table yet (or one being built: its rows are empty)
            return ""  # the rows are not copied here (community_rows does): this runs on every refresh
        if communities_detected(self.agora.world):
            return f"{isolated_text(n)}: they belong to no community (community -1) and are not rows of this table"
        return f"{n:,} agents have no community"

    def community_detail(self, cid: int) -> Text:
        rows = {r["id"]: r for r in self.community_rows()}
        r = rows.get(cid)
        if r is None:
            return Text("")
        t = Text(f"community {cid}: {r['size']:,} agents")
        if r.get("density") is not None:
            t.append(f", internal density {r['density']:.4f}")
        t.append("\ndominant interests: " + ", ".join(r["interests"]))
        t.append("\ntop influencers: ")
        for j, oid in enumerate(r.get("top_influencers") or []):
            idx = self.agora.world.index_of(oid)
            if j:
                t.append(", ")
            t.append_text(literal(f"{self.agora.world.persona(idx).name} ({oid})", 60))
        flows = [f for f in self._community_flows if f["src"] == cid][:8]
        if flows:
            t.append("\nedges to other communities: ")
            t.append(", ".join(f"→{f['dst']}: {f['edges']:,}" for f in flows))
        if r.get("share") is not None:
            t.append(f"\nadoption share of the selected message: {100 * r['share']:.1f} %")
            if r.get("home"):
                t.append(" (its home community: where its seeds are)")
            if r.get("first_tick", -1) >= 0:
                t.append(f", first reached at tick {r['first_tick']}")
        return t

    def communities_caption(self) -> str:
        """What the community ids are: the world's own (from when it was made) or detected, and how
        detected ones were numbered."""
        rec = (self.agora.world.config.get("analysis") or {}).get("communities")
        cache = self._community_cache
        if not rec and cache is not None and cache[0][0] != "pending" and not cache[1]:
            return "no communities known yet: c detects them"
        if not rec:
            return (
                "the world's own communities (from when it was made). c detects communities: a detected one "
                "keeps the id of the community most of its members are in here"
            )
        words = f"communities detected ({rec.get('method', '?')}) at tick {int(rec.get('tick', 0)):,}"
        if rec.get("ids") == "kept" and (rec["kept"] or rec["first_new"]):
            new = int(rec["count"]) - int(rec["kept"])
            return f"{words}: each keeps the id of the community most of its members were in before; " + (
                f"{new:,} new, numbered from {int(rec['first_new']):,}" if new else "none is new"
            )
        return f"{words}: numbered by size (0 the largest)"


# -- 3. Agents ------------------------------------------------------------------------------------


class SearchBox(Input):
    """A search box that leaves ``/`` to the app: ``/`` means "to the search box" everywhere (no id or name
    holds one), so pressing it in the box keeps the focus there instead of typing it."""

    def check_consume_key(self, key: str, character: str | None) -> bool:
        return key != "slash" and super().check_consume_key(key, character)

    async def _on_key(self, event: Any) -> None:
        if event.key == "slash":
            event.prevent_default()  # not typed (Input's handler would): the app's binding has it
            return
        await super()._on_key(event)


class AgentsView(View):
    DEFAULT_CSS = """
    AgentsView #agent-query { margin: 0 1; }
    AgentsView #agent-profile { height: auto; padding: 0 1; border: round $primary-darken-2; }
    AgentsView #agent-lists { height: 1fr; }
    AgentsView #agent-lists DataTable { width: 1fr; }
    AgentsView #agent-events { height: auto; max-height: 10; padding: 0 1; }
    AgentsView #agent-memory { height: auto; max-height: 14; padding: 0 1; border: round $primary-darken-2; }
    """
    #: Recent memories listed in the memory panel at most.
    MEMORIES_SHOWN = 10

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.agent_index: int | None = None

    #: What the profile says before an agent is shown.
    HINT = (
        "Type an id or a name and press enter: the search box has the keys while the view is open. "
        "Escape leaves it (then a asks the agent shown, 1-6 switch views); / comes back to it."
    )

    def compose(self) -> ComposeResult:
        yield SearchBox(placeholder="find an agent: its id, or a name (e.g. Ada Okafor)", id="agent-query")
        yield Static(self.HINT, id="agent-profile", markup=False)
        with Horizontal(id="agent-lists"):
            yield DataTable(id="followers", cursor_type="row")
            yield DataTable(id="followees", cursor_type="row")
        yield Static(id="agent-events", markup=False)
        yield Static(id="agent-memory", markup=False)

    def on_mount(self) -> None:
        for tid, title in (("#followers", "followers"), ("#followees", "follows")):
            t = self.query_one(tid, DataTable)
            t.add_column(f"{title}: id", key="id")
            t.add_column("name", key="name")
            t.add_column("influence", key="influence")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "agent-query":
            self.find(event.value)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.show(int(event.row_key.value))

    def find(self, query: str) -> None:
        app = self.agora
        if app.controller is None:
            return
        try:
            hits = app.controller.find_agents(query)
        except AgoraError as exc:
            app.notify(str(exc), severity="error", markup=False)
            return
        if hits.size > 1:
            app.notify(
                f"{hits.size:,} agents are called {query.strip()}; showing the first "
                f"(id {int(app.world.columns['ids'][hits[0]])})",
                markup=False,
            )
        self.show(int(hits[0]), searched=True)

    def show(self, idx: int, *, searched: bool = False) -> None:
        """Show agent ``idx``. Shown by a search, the search box keeps the focus (for the next search);
        shown any other way (a row chosen, the app), the box gives the keys back, so ``a`` asks them."""
        self.agent_index = idx
        if not searched and self.screen.focused is self.query_one("#agent-query", Input):
            self.screen.set_focus(None)
        self.refresh_view(full=True)

    def target_agent(self) -> int | None:
        """Who the ask key (a) interviews: the highlighted row of the followers or follows list when that
        list has the focus, else the agent whose profile is shown (None before one is found)."""
        focused = self.screen.focused
        if isinstance(focused, DataTable) and focused.id in ("followers", "followees") and focused.row_count:
            key = focused.coordinate_to_cell_key(focused.cursor_coordinate).row_key.value
            if key is not None:
                return int(key)
        if self.agent_index is not None and self.agent_index < self.agora.world.n:
            return self.agent_index
        return None

    def community_text(self, community: int, links: int) -> str:
        """An agent's community for its profile: the number; before any detection "unknown"; after
        one, an isolated agent's -1 reads "none (isolated, no links)" (or says it had none then, when
        the living network has linked it since)."""
        if community >= 0:
            return str(community)
        if not communities_detected(self.agora.world):
            return "unknown"
        if links:
            return "none (it had no links when communities were detected: press c to place it)"
        return "none (isolated, no links)"

    def refresh_view(self, full: bool = False) -> None:
        if self.agent_index is None or not full and self.agora.world.tick % 5:
            return
        app = self.agora
        world = app.world
        if self.agent_index >= world.n or app.controller is None:
            return
        agent = world.agent(self.agent_index)
        d = agent.to_dict()
        rank = app.controller.influence_rank(self.agent_index)
        profile = Text()
        profile.append_text(literal(d["name"], 80, style="bold"))
        profile.append(
            f"   id {d['id']}   community {self.community_text(d['community'], d['followers'] + d['followees'])}   "
            f"{d['status']}\n"
        )
        profile.append_text(literal(d["bio"], 600))
        profile.append("\nwrites: ")
        profile.append_text(literal(d["style"], 200))
        profile.append(f"\ninterests: {', '.join(d['interests'])}\n")
        profile.append(
            f"reputation {d['reputation']:.2f}   influence {d['influence']:.3f} (rank {rank:,} of {world.n:,})   "
            f"susceptibility {d['susceptibility']:.2f}   activity {d['activity_profile']}\n"
        )
        profile.append(f"{d['followers']:,} followers, follows {d['followees']:,}")
        profile.append("   a: ask them a question", style="grey50")
        show(self.query_one("#agent-profile", Static), profile)
        g = world.graph
        for tid, nbrs in (("#followers", g.followers(self.agent_index)), ("#followees", g.followees(self.agent_index))):
            t = self.query_one(tid, DataTable)
            infl = world.columns["influence"][nbrs]
            top = nbrs[np.argsort(-infl, kind="stable")[:50]]
            shown_rows = (id(world), top.tobytes(), world.columns["influence"][top].tobytes())
            if getattr(t, "_agora_rows", None) == shown_rows:
                continue  # the same agents with the same influence: no rebuild
            t._agora_rows = shown_rows  # type: ignore[attr-defined]
            t.clear()
            for j in top:
                j = int(j)
                t.add_row(
                    str(int(world.columns["ids"][j])),
                    literal(world.persona(j).name, 30),
                    f"{world.columns['influence'][j]:.3f}",
                    key=str(j),
                )
        events = Text("recent events: ")
        found = False
        for s in reversed(world.sessions[-50:]):
            if s.adopted_at.size and s.adopted_at[self.agent_index] >= 0:
                src = int(s.adopted_from[self.agent_index])
                who = "as a seed" if src < 0 else f"from {int(world.columns['ids'][src])}"
                events.append(f"\n  tick {int(s.adopted_at[self.agent_index])}: adopted message {s.message_id} ")
                events.append_text(literal(s.message.get("text", ""), 40))
                events.append(" (")
                events.append_text(literal(s.model_name, 30))
                events.append(f") {who}")
                found = True
        if not found:
            events.append("none yet")
        show(self.query_one("#agent-events", Static), events)
        show(self.query_one("#agent-memory", Static), self.memory_text(self.agent_index))

    def memory_text(self, idx: int) -> Text:
        """What the agent remembers (``sim.core.agentmemory``): its size, its summary and its latest
        events, every text shown literally."""
        sim = self.agora.sim
        mem = sim.llm.agent_memory(idx, recent=self.MEMORIES_SHOWN)
        out = Text("memory: ", style="bold")
        if not mem["remembers"]:
            out.append(f"none (the LLM has not spoken for this agent; setting: {mem['setting']})", style="grey50")
            return out
        size = mem["size"]
        out.append(f"{size['events']:,} events, {size['text_bytes']:,} bytes of text")
        if mem["summary"]:
            out.append("\nsummary: ", style="bold")
            out.append_text(literal(mem["summary"]["text"], 600))
            out.append(f" (tick {mem['summary']['tick']}, {mem['summary']['written_by']})", style="grey50")
        for e in reversed(mem["recent"]):
            out.append(f"\n  tick {e['tick']}  {e['kind']}  ")
            if e["other_name"]:
                out.append_text(literal(e["other_name"], 30, style="italic"))
                out.append(" ")
            out.append_text(literal(e["text"], 120))
        return out


# -- 4. Messages ----------------------------------------------------------------------------------


class MessagesView(View):
    BINDINGS = [Binding("x", "cancel_session", "Cancel session")]
    #: The sessions table: column key, header. ``feed`` is the recommender putting the message in feeds
    #: ("world": the world's), ``via_feed`` its adoptions through feeds (part of ``reached``).
    COLUMNS = (
        ("id", "session"),
        ("text", "message"),
        ("model", "model"),
        ("feed", "feed"),
        ("status", "status"),
        ("progress", "reached"),
        ("reached", "adopted"),
        ("via_feed", "by feed"),
        ("exposed", "exposed"),
        ("r", "R"),
        ("rounds", "rounds"),
    )
    #: The status column's width: the longest status a session can have (``cancelled``, ``completed``).
    STATUS_WIDTH = max(len(status) for status in STATUSES)
    #: Columns that change while a session runs.
    LIVE_COLUMNS = ("status", "progress", "reached", "via_feed", "exposed", "r", "rounds")
    DEFAULT_CSS = """
    MessagesView #inject-form { height: auto; border: round $primary-darken-2; padding: 0 1; }
    MessagesView #inject-form Horizontal { height: auto; }
    MessagesView #inject-form Input { width: 1fr; }
    MessagesView #inject-form Select { width: 24; }
    MessagesView #inject-form .field-label {
        width: auto; height: 3; content-align: left middle; padding: 0 1 0 1; color: $text-muted;
    }
    MessagesView #inject-form #seed-arg { width: 14; }
    MessagesView #inject-form #msg-priority { width: 8; }
    MessagesView #inject-form #msg-recommender { width: 32; }
    MessagesView #param-form { height: auto; }
    MessagesView .param-row { height: auto; }
    MessagesView .param-row Label { width: 22; padding: 1 1 0 0; }
    MessagesView .param-row Input { width: 30; }
    MessagesView .param-row .param-error { width: 1fr; padding: 1 0 0 1; }
    MessagesView .param-error { color: $error; height: auto; }
    MessagesView #form-error.-choosing { color: $warning; }
    MessagesView #sessions { height: 1fr; min-height: 4; }
    MessagesView #posts { height: auto; max-height: 10; padding: 0 1; border: round $primary-darken-2;
                          text-wrap: nowrap; text-overflow: ellipsis; }
    MessagesView #session-detail { height: auto; max-height: 24; padding: 0 1; border: round $primary-darken-2; }
    MessagesView #session-cascade { height: auto; max-height: 2; text-wrap: nowrap; text-overflow: ellipsis; }
    MessagesView #session-text { height: auto; }
    """
    #: The label of the seed field after the seed selection: what it holds for that selection (a seed
    #: method: K, how many it chooses).
    SEED_ARG_LABELS = {"random": "count", "top": "count", "community": "community:count", "ids": "ids"}
    #: What the seed field holds when a selection is chosen (a seed method: 10).
    SEED_ARG_DEFAULTS = {"random": "10", "top": "10", "community": "0:10", "ids": ""}
    #: Bins of a continuous variable's histogram, and communities listed with its mean.
    HISTOGRAM_BINS = 10
    COMMUNITIES_SHOWN = 8
    #: How many of the highlighted message's latest posts are shown.
    POSTS_SHOWN = 8

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._model_shown: str | None = None
        self._param_inputs: dict[str, Input] = {}
        self._param_ids: dict[str, str] = {}  # widget id suffix -> parameter name
        self._posts_signature: Any = None
        self._cells_shown: dict[tuple[int, int, str], Any] = {}  # (world, session, column) -> cell shown
        self._detail_signature: Any = None
        #: The selected session's cascade: (world, session, round, status) it was measured at, and what it
        #: gave (a :class:`~sim.live.cascadeview.CascadeSummary`). Measured at most once per round.
        self._cascade: tuple[Any, CascadeSummary] | None = None
        self._cascade_drawn: CascadeSummary | None = None  # the one in the box
        #: The key a worker is measuring now (None: none is).
        self._measuring: tuple[int, int, int, str] | None = None
        #: The seed selection the form's field was filled for (its value is kept when the options are rebuilt).
        self._seed_kind_shown = "random"
        #: ``METHOD:K`` while a slow seed method chooses the seeds of the message being injected (None: idle).
        self.choosing: str | None = None

    def compose(self) -> ComposeResult:
        # Every field has a label before it (the parameter rows too): what it is, not only a placeholder.
        with Vertical(id="inject-form"):
            with Horizontal():
                yield Label("message", classes="field-label")
                yield Input(placeholder="message text", id="msg-text")
            with Horizontal():
                yield Label("topics", classes="field-label")
                yield Input(
                    placeholder="e.g. ai, politics",
                    id="msg-topics",
                    tooltip="topic names, comma-separated (agora topics lists them)",
                )
                yield Label("seeds", classes="field-label")
                yield Select(
                    [(k, k) for k in ("random", "top", "community", "ids")],
                    value="random",
                    allow_blank=False,
                    id="seed-kind",
                    tooltip="how the seed agents are chosen: random, top, community, ids, or a seed method "
                    "(METHOD:K; a slow one chooses in the background)",
                )
                yield Label(self.SEED_ARG_LABELS["random"], id="seed-arg-label", classes="field-label")
                yield Input(
                    value="10",
                    placeholder="K, a,b,c or C:K",
                    id="seed-arg",
                    tooltip="random/top/a seed method: how many (K); ids: original ids a,b,c; "
                    "community: C:K (K agents of community C)",
                )
                yield Label("priority", classes="field-label")
                yield Input(
                    value="0",
                    placeholder="0",
                    id="msg-priority",
                    tooltip="sessions with a higher priority start first when many are queued",
                )
            with Horizontal():
                yield Label("model", classes="field-label")
                yield Select([], id="model", allow_blank=True, prompt="model")
                yield Label("feeds", classes="field-label")
                yield Select(
                    [(Text("feeds: world default"), WORLD_DEFAULT)],
                    value=WORLD_DEFAULT,
                    allow_blank=False,
                    id="msg-recommender",
                    tooltip="the content recommender that puts this message in feeds",
                )
                yield Button("Inject", id="inject", variant="primary")
            yield VerticalScroll(id="param-form")
            yield Static("", id="form-error", classes="param-error", markup=False)
        yield DataTable(id="sessions", cursor_type="row", zebra_stripes=True)
        # Scrolls: a failed session's whole traceback is in it. Its cascade heads it (two lines).
        with VerticalScroll(id="session-detail"):
            yield Static("No session yet.", id="session-cascade", markup=False)
            yield Static("", id="session-text", markup=False)
        yield Static("No posts yet.", id="posts", markup=False)

    def on_mount(self) -> None:
        table = self.query_one("#sessions", DataTable)
        for key, label in self.COLUMNS:
            # A column takes the width of what it first holds: a status that changes later ("queued" to
            # "running") was cut. The status column fits the longest status from the start.
            table.add_column(label, key=key, width=self.STATUS_WIDTH if key == "status" else None)
        if self.agora.registry is not None:
            self.reload_models()

    def reload_models(self) -> None:
        app = self.agora
        names = [e.name for e in app.registry.list("model") if e.loaded or e.entry_point is not None]
        select = self.query_one("#model", Select)
        current = (
            select.value
            if select.value in names
            else ("ic" if "ic" in names else (names[0] if names else Select.BLANK))
        )
        select.set_options([(literal(n, 30), n) for n in names])  # a prompt given as str would be parsed as markup
        if current is not Select.BLANK:
            select.value = current
        self.build_param_form()
        self.reload_recommenders()
        self.reload_seed_methods()

    def reload_seed_methods(self) -> None:
        """The seed selections: the four built-in forms, then every registered seed method (``METHOD:K``;
        a slow one, celf or ris, is marked and chooses in a worker when the message is injected)."""
        select = self.query_one("#seed-kind", Select)
        methods = seed_methods(self.agora.registry)
        options: list[tuple[Any, str]] = [(k, k) for k in self.SEED_ARG_DEFAULTS]
        options += [(literal(name + (" (slow)" if slow else ""), 30), name) for name, slow in methods]
        current = select.value
        select.set_options(options)
        select.value = current if current in {v for _, v in options} else "random"

    def reload_recommenders(self) -> None:
        """The per-message recommender choice: the world's, none, or any registered content recommender."""
        names = [e.name for e in self.agora.registry.list("recommender") if not e.error]
        select = self.query_one("#msg-recommender", Select)
        current = select.value if select.value in names or select.value == NONE else WORLD_DEFAULT
        options = [(Text("feeds: world default"), WORLD_DEFAULT), (Text("feeds: none"), NONE)]
        select.set_options(options + [(Text("feeds: ") + literal(n, 30), n) for n in names])
        select.value = current

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "model":
            self.build_param_form()
        elif event.select.id == "seed-kind" and event.value is not Select.BLANK:
            kind = str(event.value)
            if kind == self._seed_kind_shown:
                return  # the options were rebuilt: the field keeps what was typed
            self._seed_kind_shown = kind
            self.query_one("#seed-arg", Input).value = self.SEED_ARG_DEFAULTS.get(kind, "10")
            self.query_one("#seed-arg-label", Label).update(self.SEED_ARG_LABELS.get(kind, "K"))

    def build_param_form(self) -> None:
        select = self.query_one("#model", Select)
        name = None if select.value is Select.BLANK else str(select.value)
        if name == self._model_shown:
            return
        self._model_shown = name
        form = self.query_one("#param-form", VerticalScroll)
        form.remove_children()
        self._param_inputs = {}
        if name is None:
            return
        try:
            cls = self.agora.registry.model(name)
        except AgoraError as exc:
            form.mount(Static(literal(str(exc), None)))
            return
        rows = []
        self._param_ids = {}
        for j, (key, spec) in enumerate(cls.params.items()):
            # A widget id must be an identifier: a parameter named otherwise gets one by position.
            suffix = key if _WIDGET_ID.fullmatch(key) else f"_{j}_"
            while suffix in self._param_ids or (suffix != key and suffix in cls.params):
                suffix += "_"
            self._param_ids[suffix] = key
            inp = Input(
                value=shown(spec.default, 200),
                placeholder=f"default {shown(spec.default, 40)}",
                id=f"param-{suffix}",
                classes="param-input",
                tooltip=Text(shown(spec.help, 200)) if spec.help else None,
            )
            inp.tooltip = literal(f"{spec.help} ({spec.describe_range()})", 500)  # a str tooltip is markup
            self._param_inputs[key] = inp
            rows.append(
                Horizontal(
                    Label(literal(key, 20)),
                    inp,
                    Static("", classes="param-error", id=f"param-error-{suffix}", markup=False),
                    classes="param-row",
                )
            )
        if rows:
            form.mount(*rows)

    def on_input_changed(self, event: Input.Changed) -> None:
        iid = event.input.id or ""
        if iid.startswith("param-") and self._model_shown:
            suffix = iid[len("param-") :]
            key = self._param_ids.get(suffix, suffix)
            try:
                cls = self.agora.registry.model(self._model_shown)
                cls.params[key].coerce(key, event.value)
                msg = ""
            except (AgoraError, KeyError) as exc:
                msg = str(exc)
            self.query_one(f"#param-error-{suffix}", Static).update(literal(msg, 300))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id in ("msg-text", "msg-topics", "seed-arg", "msg-priority") or (
            event.input.id or ""
        ).startswith("param-"):
            self.inject()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "inject":
            self.inject()

    def form_values(self) -> dict[str, Any]:
        """What the form asks for, converted (raises AgoraError with one clear sentence)."""
        text = self.query_one("#msg-text", Input).value
        if not text.strip():
            raise BadParameterError("the message text is empty: type what the message says")
        topics = [t.strip() for t in self.query_one("#msg-topics", Input).value.split(",") if t.strip()]
        topics_mask(topics)
        kind = str(self.query_one("#seed-kind", Select).value)
        arg = self.query_one("#seed-arg", Input).value.strip()
        seeds = f"{kind}:{arg}"
        SeedSpec.parse(seeds)
        try:
            priority = int(self.query_one("#msg-priority", Input).value or "0")
        except ValueError:
            raise BadParameterError("priority must be a whole number") from None
        model = self.query_one("#model", Select).value
        if model is Select.BLANK:
            raise BadParameterError("choose a model")
        params = {k: inp.value for k, inp in self._param_inputs.items()}
        choice = self.query_one("#msg-recommender", Select).value
        recommender = None if choice in (WORLD_DEFAULT, Select.BLANK) else str(choice)
        return {
            "text": text,
            "topics": topics,
            "seeds": seeds,
            "priority": priority,
            "model": str(model),
            "params": params,
            "recommender": recommender,
        }

    def inject(self) -> None:
        """Inject what the form says. Seeds named by a quick seed method are chosen by the engine as the
        message is injected; a slow one (celf, ris) chooses in a worker first (:meth:`choose_seeds`)."""
        app = self.agora
        if self.choosing is not None:
            app.notify(
                f"the seeds of the previous message are being chosen ({self.choosing}): inject when it is queued",
                severity="warning",
                markup=False,
            )
            return
        try:
            values = self.form_values()
            spec = SeedSpec.parse(values["seeds"])
            slow = spec.kind == "method" and app.registry.seeder(spec.method).expensive
            if slow:
                spec.check(app.world)  # more seeds than agents: said now, not after minutes
        except AgoraError as exc:
            self.form_failed(str(exc))
            return
        if slow:
            self.choose_seeds(values, spec.method, spec.k)
            return
        self.inject_values(values, values["seeds"] if spec.kind == "method" else None)

    def form_failed(self, text: str) -> None:
        """A refusal: under the form and as a notification; nothing is injected."""
        self.query_one("#form-error", Static).update(literal(text, 300))
        self.agora.notify(text, severity="error", markup=False)

    def inject_values(self, values: dict[str, Any], chosen_by: str | None = None, *, clear: bool = True) -> bool:
        """Inject ``values`` (:meth:`form_values`'s) through the controller and select its session;
        ``chosen_by`` names the seed method that chose the seeds (said in the notification); ``clear``
        empties the message field (a slow method's message left it when its seeds began to be chosen)."""
        app = self.agora
        try:
            # Queued at once (the controller's inject_now); the simulation records it in the audit log.
            session = app.controller.inject_now(**values)  # type: ignore[union-attr]
        except AgoraError as exc:
            self.form_failed(str(exc))
            return False
        app.selected_session_id = session.id
        note = f", its seeds chosen by {chosen_by}" if chosen_by else ""
        app.notify(f"message {session.message_id} injected: session {session.id} queued{note}", markup=False)
        self.query_one("#form-error", Static).update("")
        if clear:
            self.query_one("#msg-text", Input).value = ""
        self.refresh_view()
        # Leave the form so that space, n and the other keys act on the simulation again.
        self.query_one("#sessions", DataTable).focus()
        return True

    def set_choosing(self, choosing: str | None) -> None:
        """Show (or end) the state of a slow seed method choosing: a line under the form, the button."""
        self.choosing = choosing
        button = self.query_one("#inject", Button)
        button.disabled = choosing is not None
        button.label = "Choosing…" if choosing is not None else "Inject"
        line = self.query_one("#form-error", Static)
        line.set_class(choosing is not None, "-choosing")
        line.update(
            Text(f"choosing seeds with {choosing}… (the world runs on; the message is queued when they are chosen)")
            if choosing is not None
            else ""
        )

    @work(exclusive=True, group="seeds")
    async def choose_seeds(self, values: dict[str, Any], method: str, k: int) -> None:
        """Choose the seeds with a slow method off the event loop, as the engine would when the message is
        injected (``method_seeds`` with the model's checked parameters and the world's seed), then inject
        the message with those agents (``ids:``). A refusal or a method that fails is a notification; a
        snapshot loaded meanwhile cancels the injection."""
        app = self.agora
        world, registry = app.world, app.registry
        what = f"{method}:{k}"
        self.set_choosing(what)
        self.query_one("#msg-text", Input).value = ""  # the form's values are taken: the field is free again
        app.notify(f"choosing {k:,} seeds with {method} for {values['model']}…", markup=False)
        try:
            params = registry.model(values["model"]).validate(dict(values["params"]))
            chosen = await asyncio.to_thread(
                partial(
                    method_seeds,
                    world,
                    registry,
                    method,
                    k,
                    model=values["model"],
                    params=params,
                    seed=world.seed,
                    spread=self.agora.sim.spread_for(values["model"], params),
                )
            )
        except AgoraError as exc:
            self.set_choosing(None)
            self.form_failed(f"the seeds were not chosen: {exc}")
            return
        except Exception as exc:  # noqa: BLE001 - a seed method plugin's bug: said, and the app goes on
            self.set_choosing(None)
            self.form_failed(f"seed method {method} failed: {type(exc).__name__}: {exc}")
            return
        self.set_choosing(None)
        if app.world is not world:
            self.form_failed(f"a snapshot replaced the world while {what} chose the seeds: inject the message again")
            return
        ids = world.columns["ids"][chosen]
        self.inject_values({**values, "seeds": "ids:" + ",".join(str(int(i)) for i in ids)}, what, clear=False)

    def action_cancel_session(self) -> None:
        table = self.query_one("#sessions", DataTable)
        if table.row_count == 0:
            return
        row_key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        if row_key.value is not None:
            app = self.agora
            try:
                session = app.controller.cancel(int(row_key.value))  # type: ignore[union-attr]
            except AgoraError as exc:
                app.notify(str(exc), severity="error", markup=False)
                return
            app.notify(f"session {session.id} is {session.status}", markup=False)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value is not None:
            self.agora.selected_session_id = int(event.row_key.value)

    def refresh_view(self) -> None:
        app = self.agora
        table = self.query_one("#sessions", DataTable)
        n = max(1, app.world.n)
        sessions = list(reversed(app.sim.sessions))[:200]
        self.show_posts(sessions)
        self.show_detail(sessions)
        self.show_cascade(sessions)
        wanted = [str(s.id) for s in sessions]
        if [k.value for k in table.rows] != wanted:
            cursor = table.cursor_row
            table.clear()
            self._cells_shown.clear()
            for s in sessions:
                cells = self.cells(s, n)
                table.add_row(*(cells[key] for key, _label in self.COLUMNS), key=str(s.id))
            if cursor < table.row_count:
                table.move_cursor(row=cursor)
            return
        shown = self._cells_shown
        for s in sessions:
            if s.status in ("running", "queued") or s.id == app.selected_session_id:
                cells = self.cells(s, n)
                for col in self.LIVE_COLUMNS:
                    if shown.get((id(app.world), s.id, col)) != cells[col]:  # each change repaints the table
                        shown[(id(app.world), s.id, col)] = cells[col]
                        table.update_cell(str(s.id), col, cells[col])

    def show_posts(self, sessions: list[Any]) -> None:
        """The latest posts, reposts and replies of the highlighted message (the newest message's before
        one is highlighted): who wrote them, how, and the text, literally; rebuilt when posts are added."""
        app = self.agora
        world = app.world
        session = next((s for s in sessions if s.id == app.selected_session_id), sessions[0] if sessions else None)
        message_id = session.message_id if session is not None else None
        signature = (id(world.posts), len(world.posts), world.posts.next_id, message_id)
        if signature == self._posts_signature:
            return
        self._posts_signature = signature
        widget = self.query_one("#posts", Static)
        if message_id is None:
            widget.border_title = "posts"
            widget.update("No posts yet.")
            return
        posts = world.posts.recent(message_id=message_id, limit=self.POSTS_SHOWN)
        widget.border_title = f"latest posts of message {int(message_id)}"
        widget.update(
            self.post_lines(world, posts) if posts else Text(f"No posts about message {int(message_id)} yet.")
        )

    def show_detail(self, sessions: list[Any]) -> None:
        """The highlighted session's states (count and share of each) and, for each of its continuous
        variables, a histogram and the mean per community; a failed session's error and whole traceback
        first, literally (a plugin's text is never markup). Rebuilt when the session moves on a round."""
        app = self.agora
        session = next((s for s in sessions if s.id == app.selected_session_id), sessions[0] if sessions else None)
        box = self.query_one("#session-detail", VerticalScroll)
        widget = self.query_one("#session-text", Static)
        if session is None:
            if self._detail_signature is not None:
                self._detail_signature = None
                box.border_title = "session"
                widget.update("No session yet.")
            return
        signature = (id(app.world), session.id, session.round, session.status, session.traceback)
        if signature == self._detail_signature:
            return
        self._detail_signature = signature
        title = Text(f"session {int(session.id)}: ")
        title.append_text(literal(session.model_name, 30))
        title.append(f", round {int(session.round)}, {session.status}")
        box.border_title = title  # a Text: the model's name is not read as markup
        text = self.failure_lines(session) if session.status == "failed" else Text()
        if session.state.size:
            if text:
                text.append("\n\n")
            text.append_text(
                self.detail_lines(
                    session, app.world.columns.get("community"), self.HISTOGRAM_BINS, self.COMMUNITIES_SHOWN
                )
            )
        elif not text:
            text = Text(f"Session {int(session.id)} is {session.status}.")
        widget.update(text)

    def selected_session(self, sessions: list[Any] | None = None) -> Any:
        """The highlighted session (the newest before one is highlighted), None when there is none."""
        app = self.agora
        if sessions is None:
            sessions = list(reversed(app.sim.sessions))[:200]
        return next((s for s in sessions if s.id == app.selected_session_id), sessions[0] if sessions else None)

    def cascade_key(self, session: Any) -> tuple[int, int, int, str]:
        """What a measured cascade is valid for: the world, the session, its round and its status."""
        return (id(self.agora.world), int(session.id), int(session.round), str(session.status))

    def tracker_ready(self, session: Any) -> bool:
        """Whether ``session``'s forest can be read now. A session restored from a file rebuilds its tracker
        from its stored adoptions on first use; that is done here, between two ticks (a tick under way
        would rebuild it too): while one runs, False (the next refresh tries again)."""
        if session.cascade_tracker is not None or no_tree_reason(session) is not None:
            return True
        if self.agora.sim.lock.locked():
            return False
        session.tracker()
        return True

    def cascade_summary(self, session: Any) -> CascadeSummary | None:
        """The cascade of ``session`` as of its latest round, measured here unless it was this round (the t
        key); while a tick is writing its arrays, the one measured before (None if there is none)."""
        key = self.cascade_key(session)
        cached = self._cascade
        if cached is not None and cached[0] == key:
            return cached[1]
        summary = summarise(session, self.agora.world.columns["ids"], tick_under_way=not self.tracker_ready(session))
        if summary is BUSY:  # a round half-written: keep the last one of this session
            return cached[1] if cached is not None and cached[0][:2] == key[:2] else None
        self._cascade = (key, summary)
        return summary

    def show_cascade(self, sessions: list[Any]) -> None:
        """The highlighted session's cascade: size, trees, depth, max breadth, structural virality and share
        by feed, and its top spreaders (the agents with the most children); a model that names no sources
        says so. Measured once per round of the session, in a worker thread (at a million agents a forest
        takes a tenth of a second: keys do not wait for it); until it lands, the box shows the last one."""
        widget = self.query_one("#session-cascade", Static)
        session = self.selected_session(sessions)
        if session is None:
            widget.border_title = "cascade"
            show(widget, Text("No session yet."))
            self._cascade_drawn = None
            return
        key = self.cascade_key(session)
        cached = self._cascade
        if cached is not None and cached[0] == key:
            self.draw_cascade(cached[1])
            return
        if self._measuring is not None or not self.tracker_ready(session):
            return  # one measure at a time; the next refresh asks again
        self._measuring = key
        self.run_worker(
            partial(self.measure_cascade, key, session, self.agora.world.columns["ids"]),
            thread=True,
            group="cascade",
        )

    def measure_cascade(self, key: tuple[int, int, int, str], session: Any, ids: np.ndarray) -> None:
        """The worker: measure ``session``'s forest (from checked copies of its arrays, see
        ``sim.live.cascadeview.live_forest``) and hand the result to the UI thread."""
        try:
            summary = summarise(session, ids, tick_under_way=True)
        except Exception as exc:  # noqa: BLE001 - a bug: said in the box, the app goes on
            summary = CascadeSummary(
                int(session.id), int(session.round), reason=f"the cascade could not be measured: {exc!r}"
            )
        self.app.call_from_thread(self.cascade_measured, key, summary)

    def cascade_measured(self, key: tuple[int, int, int, str], summary: Any) -> None:
        """A measure landed (on the UI thread): kept and shown; :data:`BUSY` (a round half-written when the
        arrays were copied) is dropped, and the next refresh measures again."""
        self._measuring = None
        if summary is BUSY or not self.is_attached:
            return
        self._cascade = (key, summary)
        selected = self.selected_session() if self.display and key[0] == id(self.agora.world) else None
        if selected is not None and selected.id == key[1]:
            self.draw_cascade(summary)

    def draw_cascade(self, summary: CascadeSummary) -> None:
        """Show ``summary`` in the cascade box (nothing to do when it is the one shown)."""
        if summary is self._cascade_drawn:
            return
        self._cascade_drawn = summary
        widget = self.query_one("#session-cascade", Static)
        widget.border_title = f"cascade of session {int(summary.session)}, round {int(summary.round)}"
        show(widget, self.cascade_lines(summary, self.agora.world))

    @staticmethod
    def cascade_lines(summary: CascadeSummary, world: Any) -> Text:
        """The measures on one line and the top spreaders (name, original id: children) on the next, each cut
        at the box's width (the footer names the t key that draws the tree); names shown literally."""
        if summary.measures is None:
            return literal(summary.reason or "no tree", 200)
        t = Text("cascade ", style="bold")
        t.append(f"(round {int(summary.round)}): ")
        t.append(measures_line(summary.measures))
        t.append("\ntop spreaders (children): ", style="bold")
        if not summary.spreaders:
            t.append("none yet (no agent has passed the message on)")
        for j, (agent, original, children) in enumerate(summary.spreaders):
            if j:
                t.append(" · ")
            t.append_text(literal(world.persona(agent).name, 24))
            t.append(f" (id {original}): {children:,}")
        return t

    def open_tree(self) -> None:
        """Draw the highlighted session's forest in a screen of its own (the t key); a session without a tree
        is a notification saying why."""
        app = self.agora
        session = self.selected_session()
        if session is None:
            app.notify("no session yet: inject a message first (i), then press t", severity="warning", markup=False)
            return
        summary = self.cascade_summary(session)
        if summary is None:
            app.notify(
                f"session {int(session.id)} is in the middle of a round: press t again",
                severity="warning",
                markup=False,
            )
            return
        if summary.forest is None:
            app.notify(summary.reason or "no tree", severity="warning", markup=False)
            return
        title = Text(f"session {int(session.id)} (")
        title.append_text(literal(session.model_name, 30))
        title.append(f"), round {int(summary.round)}, {session.status}: ")
        title.append_text(literal(session.message.get("text", ""), 80))
        app.push_screen(CascadeTreeScreen(title, summary.forest, app.world.columns["ids"]))

    @staticmethod
    def failure_lines(session: Any) -> Text:
        """A failed session's error and its whole traceback (up to :data:`TRACEBACK_LIMIT` characters),
        shown literally."""
        t = Text(f"failed at tick {session.ended_tick}: ", style="bold red")
        t.append_text(literal(session.error or "unknown error", 2000))
        if session.traceback:
            t.append("\n")
            t.append_text(literal_lines(session.traceback.rstrip("\n"), TRACEBACK_LIMIT))
        return t

    @staticmethod
    def detail_lines(session: Any, community: Any, bins: int = 10, communities: int = 8) -> Text:
        """Text of a session's state counts and its variables (histogram and mean per community); every
        name is shown literally (a plugin's state and variable names are text from the plugin)."""
        t = Text()
        n = max(1, int(session.state.size))
        counts = (
            session.state_counts
            if len(session.state_counts) == len(session.state_names)
            else np.bincount(session.state, minlength=len(session.state_names))
        )
        width = max(len(str(name)) for name in session.state_names)
        for i, name in enumerate(session.state_names):
            if i:
                t.append("\n")
            label = literal(name, 24)
            t.append_text(label)
            t.append(" " * (max(width, 1) + 2 - len(label.plain)))
            t.append_text(bar(int(counts[i]) / n, 20))
            t.append(f" {fmt_int(int(counts[i])):>11}")
        for vname, values in session.variables.items():
            v = np.asarray(values, dtype=np.float64)
            t.append("\n\n")
            t.append_text(literal(vname, 40, style="bold"))
            t.append(f"  mean {v.mean():.4g}  std {v.std():.4g}  min {v.min():.4g}  max {v.max():.4g}\n")
            lo, hi = float(v.min()), float(v.max())
            hist, edges = np.histogram(v, bins=bins, range=(lo, hi) if hi > lo else (lo - 0.5, lo + 0.5))
            top = max(1, int(hist.max()))
            for k in range(bins):
                t.append(f"  [{edges[k]:7.3g}, {edges[k + 1]:7.3g}{']' if k == bins - 1 else ')'} ")
                full = int(round(24 * int(hist[k]) / top))
                t.append("█" * full, style="cyan")
                t.append("░" * (24 - full), style="grey39")
                t.append(f" {fmt_int(int(hist[k])):>11}\n")
            if community is not None and len(community) == v.size and int(community.max(initial=-1)) >= 0:
                c = np.asarray(community)
                known = c >= 0
                sizes = np.bincount(c[known])
                sums = np.bincount(c[known], weights=v[known], minlength=sizes.size)
                order = np.argsort(-sizes, kind="stable")[:communities]
                t.append(f"  mean per community (largest {len(order)}):")
                for cid in order:
                    if sizes[cid]:
                        t.append(f"  #{int(cid)} {sums[cid] / sizes[cid]:.3g} ({fmt_int(int(sizes[cid]))})")
        return t

    @staticmethod
    def post_lines(world: Any, posts: list[dict[str, Any]]) -> Text:
        """One line per post: tick, author, kind, who wrote it (llm, cache, offline) and the text, literally."""
        t = Text()
        for j, p in enumerate(posts):
            if j:
                t.append("\n")
            agent = int(p["agent"])
            name = world.persona(agent).name if 0 <= agent < world.n else f"agent #{agent}"
            t.append(f"tick {int(p['tick']):<5} ", style="grey50")
            who = literal(name, 22)
            t.append_text(who)
            t.append(" " * (23 - len(who.plain)))
            t.append(f"{p['kind']:<7}", style="bold")
            t.append(f"{p['written_by']:<8}", style={"llm": "green", "cache": "cyan"}.get(p["written_by"], "grey50"))
            t.append_text(literal(p["text"], 300))
        return t

    @staticmethod
    def cells(s: Any, n: int) -> dict[str, Any]:
        """The session's cells by column key; every one a Text (a str cell would be parsed as markup)."""
        status = Text(
            s.status,
            style={"running": "green", "queued": "yellow", "failed": "red", "cancelled": "grey50"}.get(s.status, ""),
        )
        return {
            "id": Text(str(s.id)),
            "text": literal(s.message.get("text", ""), 60),
            "model": literal(s.model_name, 20),
            "feed": Text("world", style="grey50") if s.recommender is None else literal(s.recommender, 20),
            "status": status,
            "progress": bar(s.reached / n, 7),
            "reached": Text(fmt_int(s.reached)),
            "via_feed": Text(fmt_int(s.feed_reached)),
            "exposed": Text(fmt_int(s.exposed_count)),
            "r": Text(f"{s.reproduction_number:.2f}"),
            "rounds": Text(str(s.round)),
        }


# -- 5. Plugins -----------------------------------------------------------------------------------


class PluginsView(View):
    """Every plugin with its kind and status; f and w choose the world's feed and friend recommenders."""

    BINDINGS = [
        Binding("r", "reload_plugins", "Reload plugins"),
        Binding(
            "f",
            "use_for('feed')",
            "Use for feeds",
            tooltip="make the highlighted content recommender the world's feed recommender (again: off)",
        ),
        Binding(
            "w",
            "use_for('friend')",
            "Use for friends",
            tooltip="make the highlighted friend recommender the world's friend recommender (again: off)",
        ),
    ]
    DEFAULT_CSS = """
    PluginsView #social-choice { height: auto; padding: 0 1; }
    PluginsView DataTable { height: 1fr; }
    PluginsView #plugin-detail { height: 1fr; padding: 0 1; border: round $primary-darken-2; }
    """

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._shown_signature: Any = None
        self._highlighted: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="social-choice", markup=False)
        yield DataTable(id="plugins", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="plugin-detail"):
            yield Static(
                "Select a plugin to see its parameters (or its traceback if it failed).", id="plugin-text", markup=False
            )

    def on_mount(self) -> None:
        t = self.query_one("#plugins", DataTable)
        for key, label in (
            ("name", "name"),
            ("kind", "kind"),
            ("version", "version"),
            ("status", "status"),
            ("source", "source"),
        ):
            t.add_column(label, key=key)
        self.refresh_view()

    def refresh_view(self) -> None:
        app = self.agora
        if app.registry is None:
            return
        social = app.sim.social if app.sim is not None else None
        settings = social.settings if social is not None else {"recommender": NONE, "friend_recommender": NONE}
        errors = dict(social.errors) if social is not None else {}
        entries = app.registry.list()
        signature = (
            [e.key for e in entries],
            app.registry_version,
            settings["recommender"],
            settings["friend_recommender"],
            tuple(errors),
        )
        if signature == self._shown_signature:
            return
        self._shown_signature = signature
        show(self.query_one("#social-choice", Static), self.choice_text(settings, errors))
        t = self.query_one("#plugins", DataTable)
        cursor = t.cursor_row
        t.clear()
        for e in entries:
            d = e.to_dict()
            t.add_row(
                literal(e.name, 30),
                Text(e.kind),
                literal(d["version"] or "-", 12),
                self.status(e, settings, errors),
                literal(e.source, 60),
                key=e.key,
            )
        if entries and cursor < t.row_count:
            t.move_cursor(row=cursor)
        self.show_detail()

    @staticmethod
    def choice_text(settings: dict[str, Any], errors: dict[str, str]) -> Text:
        """The world's current recommenders, and the keys that change them."""
        t = Text()
        for setting, kind, words in RECOMMENDER_ROLES.values():
            t.append(f"{words}: ", style="bold")
            t.append_text(literal(settings[setting], 30))
            if error_key(kind, settings[setting]) in errors:
                t.append(" (failed, switched off)", style="red")
            t.append("   ")
        t.append("f: feeds · w: friends (the highlighted row; again: off)", style="grey50")
        return t

    @staticmethod
    def status(e: Any, settings: dict[str, Any], errors: dict[str, str]) -> Text:
        """Loaded, failed to load, or (a recommender) in use by the world or failed while running."""
        if e.error:
            return Text("failed", style="red")
        text = Text("loaded" if e.loaded else "not imported yet")
        for setting, kind, _words in RECOMMENDER_ROLES.values():
            if e.kind == kind and error_key(kind, e.name) in errors:
                return Text("failed at run time", style="red")
            if e.kind == kind and settings[setting] == e.name:
                text.append(" · in use", style="bold green")
        return text

    def highlighted_entry(self) -> Any:
        t = self.query_one("#plugins", DataTable)
        if t.row_count == 0:
            return None
        row_key = t.coordinate_to_cell_key(t.cursor_coordinate).row_key
        return self.agora.registry.entries.get(str(row_key.value)) if row_key.value is not None else None

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is None or event.row_key.value is None:
            return
        self._highlighted = str(event.row_key.value)
        self.show_detail()

    def show_detail(self) -> None:
        entry = self.agora.registry.entries.get(self._highlighted) if self._highlighted is not None else None
        if entry is None:
            return
        d = entry.to_dict()
        text = Text()
        text.append_text(literal(f"{d['name']} {d['version'] or ''} ({d['kind']}) from {d['source']}", None))
        text.append("\n")
        text.append_text(literal(d["description"] or "", None))
        for k, p in (d["params"] or {}).items():
            text.append("\n  ")
            text.append_text(
                literal(f"{k}: {p['type']} = {p['default']!r}  [{p['min']}, {p['max']}]  {p['help']}", None)
            )
        for note in d["notes"]:
            text.append_text(literal(f"\nnote: {note}", None))
        if entry.kind == "recommender":
            text.append("\n\npress f to make it the world's feed recommender (again: off)", style="grey50")
        elif entry.kind == "friend-recommender":
            text.append("\n\npress w to make it the world's friend recommender (again: off)", style="grey50")
        if d["error"]:
            text.append("\n\nfailed to load:\n", style="bold red")
            text.append_text(literal_lines(d["traceback"] or d["error"]))
        social = self.agora.sim.social if self.agora.sim is not None else None
        key = error_key(entry.kind, entry.name)
        if social is not None and entry.kind in ("recommender", "friend-recommender") and key in social.errors:
            text.append("\n\nfailed while the simulation ran, and was switched off:\n", style="bold red")
            text.append_text(literal_lines(social.tracebacks.get(key) or social.errors[key]))
        self.query_one("#plugin-text", Static).update(text)

    def action_reload_plugins(self) -> None:
        self.agora.action_reload_plugins()

    async def action_use_for(self, role: str) -> None:
        await self.use_highlighted(role)

    async def use_highlighted(self, role: str) -> None:
        """Make the highlighted recommender the world's ``role`` ("feed" or "friend") recommender; when it
        already is (and has not failed), turn that role off. Anything else highlighted: a warning."""
        app = self.agora
        setting, kind, words = RECOMMENDER_ROLES[role]
        entry = self.highlighted_entry()
        key = "f" if role == "feed" else "w"
        if entry is None or entry.kind != kind:
            other = {"recommender": "f", "friend-recommender": "w"}.get(entry.kind if entry is not None else "")
            hint = (
                f" ({literal(entry.name, 30).plain} is a {entry.kind}: press {other})"
                if entry is not None and other
                else ""
            )
            app.notify(
                f"{key} makes the highlighted {'content' if role == 'feed' else 'friend'} recommender the world's "
                f"{words}: highlight one first{hint}",
                severity="warning",
                markup=False,
            )
            return
        in_use = (
            app.sim.social.settings[setting] == entry.name and error_key(kind, entry.name) not in app.sim.social.errors
        )
        # Choosing the one in use turns the role off; choosing one that failed gives it another try.
        name = NONE if in_use else entry.name
        await app.set_recommender(role, name)
        self.refresh_view()


# -- 6. Compare -----------------------------------------------------------------------------------


class CompareView(View):
    """The sessions of the world side by side: each one's reach per tick since it started, one line
    per session (the latest ten), and a line of figures per session below. Once an intervention has been
    applied in the world the lines are drawn on the world's ticks instead, with a mark at each
    intervention's tick, so that a counter-message and the message it counters share one clock."""

    DEFAULT_CSS = """
    CompareView #compare-chart { height: 1fr; min-height: 10; }
    CompareView #compare-sessions { height: auto; max-height: 12; padding: 0 1; }
    """

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._listed: Any = None

    def compose(self) -> ComposeResult:
        yield Chart(id="compare-chart")
        yield Static(id="compare-sessions", markup=False)

    def sessions(self) -> list[Any]:
        """The sessions drawn: the latest :data:`MAX_LINES` that started."""
        return [s for s in self.agora.sim.sessions if s.new_per_tick][-MAX_LINES:]

    def export_chart(self) -> None:
        """Write every session's reach to PNG and SVG (the e key)."""
        app = self.agora
        world = app.world
        sessions = [s for s in app.sim.sessions if s.series is not None and s.series.length]
        if not sessions:
            app.notify("no session has started yet: nothing to export", severity="warning", markup=False)
            return
        name = file_stem(world.name, 60) or "world"
        self.export_worker(
            [(f"session {s.id} ({shown(s.model_name, 24)})", series_dict(s)) for s in sessions],
            ["reached"],
            f"reach of the sessions of {world.name}",
            f"{name}-compare-tick{world.tick}",
        )

    def refresh_view(self) -> None:
        app = self.agora
        sessions = self.sessions()
        total = len(app.sim.sessions)
        applied = app.applied_interventions()
        listed = tuple((s.id, len(s.new_per_tick), s.status) for s in sessions)
        key = (id(app.sim), listed, *((applied,) if applied else ()))
        chart = self.query_one("#compare-chart", Chart)
        changed = (
            chart.key is None
            or [k[0] for k in chart.key[1]] != [k[0] for k in key[1]]
            or bool(chart.key[2:]) != bool(applied)  # the axis changes: world ticks with marks
        )
        if chart.due(key, force=changed):
            curves = reach_curves(sessions)
            # With interventions, every line on the world's ticks (a session's first entry is its start tick).
            starts = [int(s.started_tick or 0) for s in sessions if s.new_per_tick] if applied else None
            marks = intervention_marks(applied)
            title = f"reach of the sessions of {shown(app.world.name, 30)}"
            if len(sessions) < total:
                title += f" (the latest {len(sessions)} of {total})"
            hint = "" if curves else "no session has started: press i to inject a message, space to run"
            chart.show(
                key,
                lambda points: compare_spec(title, curves, points, hint, starts=starts, marks=marks),
                force=changed,
            )
        if key != self._listed:
            self._listed = key
            self.query_one("#compare-sessions", Static).update(self.session_lines(sessions, app.world.n, applied))

    @staticmethod
    def session_lines(sessions: list[Any], n: int, applied: tuple[tuple[int, str], ...] = ()) -> Text:
        """One line per session: id and model, status, reach (and its share), the tick of its peak, the
        sessions it competes with (a counter-message and the message it counters), and its message,
        literally; then the interventions marked on the chart, by tick."""
        t = Text()
        for j, s in enumerate(sessions):
            if j:
                t.append("\n")
            t.append(f"session {int(s.id)} ", style="bold")
            t.append_text(literal(f"({s.model_name})", 26))
            t.append(
                f" {s.status:<9} reached {fmt_int(s.reached)} ({100 * s.reached / max(1, n):.1f} %)"
                f" · peak at tick {s.peak_tick if s.peak_tick is not None else '-'} · "
            )
            rivals = tuple(getattr(s, "rivals", ()) or ())
            if rivals:
                t.append("rivals " + ", ".join(str(int(r)) for r in rivals) + " · ")
            t.append_text(literal(s.message.get("text", ""), 60))
        if applied:
            t.append("\n" if sessions else "")
            t.append("marks: ", style="bold")
            for j, (tick, spec) in enumerate(applied[-MAX_LINES:]):
                t.append(" · " if j else "")
                t.append(f"tick {tick:,} ")
                t.append_text(literal(spec, 40))
        return t


__all__ = ["AgentsView", "CommunitiesView", "CompareView", "DashboardView", "MessagesView", "PluginsView"]
