"""The Messages view (4): the inject form, the sessions, and the highlighted session's states, cascade and
latest posts."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable, Static

from sim.live.cascadeview import CascadeSummary, measures_line
from sim.live.frontend import STATUSES
from sim.live.views import CascadeBox, PostLine, SessionDetail, SessionLine, WorldViews, post_lines

from ..cascade import CascadeTreeScreen
from ._base import TRACEBACK_LIMIT, View, bar, fmt_int, literal, literal_lines, show
from ._inject_form import InjectForm

#: What a measured cascade is valid for: the world, the session, its round and its status.
CascadeKey = tuple[int, int, int, str]


@dataclass(frozen=True)
class MessagesSnapshot:
    """Everything the Messages view shows (besides its form): the latest sessions (newest first), the
    highlighted one (the newest before one is highlighted), its message's latest posts, its states and
    variables, and its cascade (None: the one shown stays until the measure lands)."""

    key: int
    agents: int
    sessions: tuple[SessionLine, ...]
    selected: SessionLine | None
    posts_of: int | None
    posts: tuple[PostLine, ...]
    detail: SessionDetail | None
    cascade: CascadeBox | None
    #: The highlighted session's latest forecast (``tui.forecast.ForecastView``; None: none).
    forecast: Any = None


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
    MessagesView #session-forecast { height: auto; display: none; }
    """
    #: Sessions listed at most (the latest).
    SESSIONS_SHOWN = 200
    #: Bins of a continuous variable's histogram, and communities listed with its mean.
    HISTOGRAM_BINS = 10
    COMMUNITIES_SHOWN = 8
    #: How many of the highlighted message's latest posts are shown.
    POSTS_SHOWN = 8

    snapshot: reactive[MessagesSnapshot | None] = reactive(None, init=False, repaint=False)

    class CascadeMeasured(Message):
        """A cascade measured off the event loop, for ``key`` (None: a tick was writing its arrays)."""

        def __init__(self, key: CascadeKey, summary: CascadeSummary | None) -> None:
            super().__init__()
            self.key, self.summary = key, summary

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        #: The cells shown, by (session, column), for the world ``_cells_of``.
        self._cells_shown: dict[tuple[int, str], Any] = {}
        self._cells_of = 0
        #: The posts read last: what they are valid for, and the lines.
        self._posts: tuple[tuple[Any, ...], tuple[PostLine, ...]] | None = None
        self._posts_painted: Any = None
        self._detail_painted: SessionDetail | None = None
        #: The selected session's cascade: what it was measured for, and what it gave. Measured at most once
        #: per round, in a worker; ``_measuring``: the key being measured (None: none is).
        self._cascade: tuple[CascadeKey, CascadeBox] | None = None
        self._cascade_drawn: CascadeBox | None = None
        self._measuring: CascadeKey | None = None
        self._forecast_painted: Any = None

    def compose(self) -> ComposeResult:
        yield InjectForm(id="inject-form")
        yield DataTable(id="sessions", cursor_type="row", zebra_stripes=True)
        # Scrolls: a failed session's whole traceback is in it. Its cascade heads it (two lines).
        with VerticalScroll(id="session-detail"):
            yield Static("No session yet.", id="session-cascade", markup=False)
            yield Static("", id="session-text", markup=False)
            yield Static("", id="session-forecast", markup=False)
        yield Static("No posts yet.", id="posts", markup=False)

    def on_mount(self) -> None:
        table = self.query_one("#sessions", DataTable)
        for key, label in self.COLUMNS:
            # A column takes the width of what it first holds: a status that changes later ("queued" to
            # "running") was cut. The status column fits the longest status from the start.
            table.add_column(label, key=key, width=self.STATUS_WIDTH if key == "status" else None)
        self.reload_models()

    # -- the form -------------------------------------------------------------------------------------------
    @property
    def form(self) -> InjectForm:
        return self.query_one(InjectForm)

    @property
    def choosing(self) -> str | None:
        """``METHOD:K`` while a slow seed method chooses the seeds of the message being injected (None: idle)."""
        return self.form.choosing

    @property
    def _param_inputs(self) -> dict[str, Any]:
        return self.form.param_inputs

    def reload_models(self) -> None:
        """Offer the models, recommenders and seed methods the world's registry holds now."""
        live = self.agora.live
        if live is not None:
            self.form.fetch(live)

    def on_inject_form_submitted(self, message: InjectForm.Submitted) -> None:
        """The form asks for a message: the app injects it (and says what became of it here)."""
        self.agora.injection.submit(message.request, self)

    def failed(self, text: str) -> None:
        """A refusal: under the form and as a notification; nothing is injected."""
        self.form.failed(text)

    def set_choosing(self, choosing: str | None) -> None:
        self.form.set_choosing(choosing)

    def clear_text(self) -> None:
        self.form.clear_text()

    def injected(self, clear: bool) -> None:
        """A message was injected (its session selected): the form is ready for the next, and the keys act
        on the simulation again (the sessions table has the focus)."""
        self.form.injected(clear)
        self.refresh_view()
        self.query_one("#sessions", DataTable).focus()

    # -- the sessions -------------------------------------------------------------------------------------------
    def action_cancel_session(self) -> None:
        table = self.query_one("#sessions", DataTable)
        if table.row_count == 0:
            return
        row_key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        if row_key.value is not None:
            self.agora.injection.cancel(int(row_key.value))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value is not None:
            self.agora.selected_session_id = int(event.row_key.value)

    # -- the snapshot -------------------------------------------------------------------------------------------
    def fetch(self, live: WorldViews) -> None:
        sessions = live.sessions.lines(self.SESSIONS_SHOWN)
        chosen = self.agora.selected_session_id
        selected = next((s for s in sessions if s.id == chosen), sessions[0] if sessions else None)
        message_id = selected.message_id if selected is not None else None
        self.snapshot = MessagesSnapshot(
            key=live.key,
            agents=max(1, live.population),
            sessions=sessions,
            selected=selected,
            posts_of=message_id,
            posts=self.posts_of(live, message_id),
            detail=(
                live.sessions.detail(selected.id, self.HISTOGRAM_BINS, self.COMMUNITIES_SHOWN)
                if selected is not None
                else None
            ),
            cascade=self.cascade_of(live, selected) if selected is not None else None,
            forecast=self.agora.forecasting.latest_for(live.key, selected.id if selected is not None else None),
        )

    def posts_of(self, live: WorldViews, message_id: int | None) -> tuple[PostLine, ...]:
        """The latest posts of ``message_id``, read again when posts were added."""
        key = live.sessions.posts_key(message_id)
        if self._posts is None or self._posts[0] != key:
            lines = live.sessions.posts(message_id, self.POSTS_SHOWN) if message_id is not None else ()
            self._posts = (key, lines)
        return self._posts[1]

    def cascade_of(self, live: WorldViews, session: SessionLine) -> CascadeBox | None:
        """The session's cascade as of its latest round when it was measured; else the measure starts (one
        at a time, in a worker thread: at a million agents a forest takes a tenth of a second) and the box
        shows what it shows until it lands."""
        key = (live.key, session.id, session.round, session.status)
        if self._cascade is not None and self._cascade[0] == key:
            return self._cascade[1]
        if self._measuring is None and live.sessions.cascade_ready(session.id):
            self._measuring = key
            self.measure_cascade(live, key)
        return self._cascade_drawn

    @work(group="cascade")
    async def measure_cascade(self, live: WorldViews, key: CascadeKey) -> None:
        """The worker: measure the session's forest (from checked copies of its arrays, see
        ``sim.live.cascadeview.live_forest``) and hand the result to the view."""
        summary = await asyncio.to_thread(live.sessions.measure_cascade, key[1])
        self.post_message(self.CascadeMeasured(key, summary))

    def on_messages_view_cascade_measured(self, message: CascadeMeasured) -> None:
        """A measure landed: kept and shown; one caught in the middle of a round is dropped, and the next
        refresh measures again."""
        self._measuring = None
        live = self.agora.live
        if message.summary is None or not self.is_attached or live is None or message.key[0] != live.key:
            return
        self._cascade = (message.key, live.sessions.cascade_box(message.summary))
        if self.display:
            self.refresh_view()

    def open_tree(self) -> None:
        """Draw the highlighted session's forest in a screen of its own (the t key); a session without a tree
        is a notification saying why."""
        app, live = self.agora, self.agora.live
        if live is None:
            return
        self.fetch(live)
        snap = self.snapshot
        session = snap.selected if snap is not None else None
        if session is None:
            app.notify("no session yet: inject a message first (i), then press t", severity="warning", markup=False)
            return
        box = self.cascade_now(live, session)
        if box is None:
            app.notify(
                f"session {session.id} is in the middle of a round: press t again", severity="warning", markup=False
            )
            return
        if box.forest is None:
            app.notify(box.reason or "no tree", severity="warning", markup=False)
            return
        title = Text(f"session {session.id} (")
        title.append_text(literal(session.model_name, 30))
        title.append(f"), round {box.round}, {session.status}: ")
        title.append_text(literal(session.text, 80))
        app.push_screen(CascadeTreeScreen(title, box.forest, live.agents.ids()))

    def cascade_now(self, live: WorldViews, session: SessionLine) -> CascadeBox | None:
        """The cascade of ``session`` as of its latest round, measured here unless it was this round; while a
        tick is writing its arrays, the one measured before (None if there is none)."""
        key = (live.key, session.id, session.round, session.status)
        cached = self._cascade
        if cached is not None and cached[0] == key:
            return cached[1]
        summary = live.sessions.measure_cascade(session.id, tick_under_way=not live.sessions.cascade_ready(session.id))
        if summary is None:  # a round half-written: keep the last one of this session
            return cached[1] if cached is not None and cached[0][:2] == key[:2] else None
        box = live.sessions.cascade_box(summary)
        self._cascade = (key, box)
        return box

    # -- painting ---------------------------------------------------------------------------------------------
    def watch_snapshot(self, snapshot: MessagesSnapshot | None) -> None:
        if snapshot is None:
            return
        self.paint_posts(snapshot)
        self.paint_detail(snapshot)
        self.paint_cascade(snapshot)
        self.paint_forecast(snapshot)
        self.paint_table(snapshot)

    def paint_forecast(self, snap: MessagesSnapshot) -> None:
        """The highlighted session's latest forecast (f): each arm's final reach, median and 90 % interval,
        and its paired difference with the first arm; nothing when it has none."""
        widget = self.query_one("#session-forecast", Static)
        forecast = snap.forecast
        if forecast is self._forecast_painted:
            return
        self._forecast_painted = forecast
        widget.display = forecast is not None  # no empty line under the states when there is none
        widget.update(Text("") if forecast is None else Text("\n").append_text(forecast.lines()))

    def paint_table(self, snap: MessagesSnapshot) -> None:
        table = self.query_one("#sessions", DataTable)
        if self._cells_of != snap.key:
            self._cells_shown, self._cells_of = {}, snap.key
        shown = self._cells_shown
        wanted = [str(s.id) for s in snap.sessions]
        if [k.value for k in table.rows] != wanted:
            cursor = table.cursor_row
            table.clear()
            shown.clear()
            for s in snap.sessions:
                cells = self.cells(s, snap.agents)
                shown.update(((s.id, col), cells[col]) for col in self.LIVE_COLUMNS)
                table.add_row(*(cells[key] for key, _label in self.COLUMNS), key=str(s.id))
            if cursor < table.row_count:
                table.move_cursor(row=cursor)
            return
        for s in snap.sessions:
            cells = self.cells(s, snap.agents)
            for col in self.LIVE_COLUMNS:
                if shown.get((s.id, col)) != cells[col]:  # each change repaints the table
                    shown[(s.id, col)] = cells[col]
                    table.update_cell(str(s.id), col, cells[col])

    def paint_posts(self, snap: MessagesSnapshot) -> None:
        """The latest posts, reposts and replies of the highlighted message (the newest message's before
        one is highlighted): who wrote them, how, and the text, literally; redrawn when posts are added."""
        painted = (snap.posts_of, snap.posts)
        if painted == self._posts_painted:
            return
        self._posts_painted = painted
        widget = self.query_one("#posts", Static)
        if snap.posts_of is None:
            widget.border_title = "posts"
            widget.update("No posts yet.")
            return
        widget.border_title = f"latest posts of message {snap.posts_of}"
        widget.update(
            self.posts_text(snap.posts) if snap.posts else Text(f"No posts about message {snap.posts_of} yet.")
        )

    def paint_detail(self, snap: MessagesSnapshot) -> None:
        """The highlighted session's states (count and share of each) and, for each of its continuous
        variables, a histogram and the mean per community; a failed session's error and whole traceback
        first, literally (a plugin's text is never markup). Redrawn when the session moves on a round."""
        box = self.query_one("#session-detail", VerticalScroll)
        widget = self.query_one("#session-text", Static)
        detail = snap.detail
        if detail is None:
            if self._detail_painted is not None:
                self._detail_painted = None
                box.border_title = "session"
                widget.update("No session yet.")
            return
        if detail == self._detail_painted:
            return
        self._detail_painted = detail
        line = detail.line
        title = Text(f"session {line.id}: ")
        title.append_text(literal(line.model_name, 30))
        title.append(f", round {line.round}, {line.status}")
        box.border_title = title  # a Text: the model's name is not read as markup
        text = self.failure_lines(detail) if line.status == "failed" else Text()
        if detail.population:
            if text:
                text.append("\n\n")
            text.append_text(self.detail_lines(detail))
        elif not text:
            text = Text(f"Session {line.id} is {line.status}.")
        widget.update(text)

    def paint_cascade(self, snap: MessagesSnapshot) -> None:
        """The highlighted session's cascade: size, trees, depth, max breadth, structural virality and share
        by feed, and its top spreaders (the agents with the most children); a model that names no sources
        says so."""
        widget = self.query_one("#session-cascade", Static)
        if snap.selected is None:
            widget.border_title = "cascade"
            show(widget, Text("No session yet."))
            self._cascade_drawn = None
            return
        box = snap.cascade
        if box is None or box == self._cascade_drawn:
            return
        self._cascade_drawn = box
        widget.border_title = f"cascade of session {box.session}, round {box.round}"
        show(widget, self.cascade_lines(box))

    @staticmethod
    def cascade_lines(box: CascadeBox) -> Text:
        """The measures on one line and the top spreaders (name, original id: children) on the next, each cut
        at the box's width (the footer names the t key that draws the tree); names shown literally."""
        if box.measures is None:
            return literal(box.reason or "no tree", 200)
        t = Text("cascade ", style="bold")
        t.append(f"(round {box.round}): ")
        t.append(measures_line(dict(box.measures)))
        t.append("\ntop spreaders (children): ", style="bold")
        if not box.spreaders:
            t.append("none yet (no agent has passed the message on)")
        for j, (name, original, children) in enumerate(box.spreaders):
            if j:
                t.append(" · ")
            t.append_text(literal(name, 24))
            t.append(f" (id {original}): {children:,}")
        return t

    @staticmethod
    def failure_lines(detail: SessionDetail) -> Text:
        """A failed session's error and its whole traceback (up to :data:`TRACEBACK_LIMIT` characters),
        shown literally."""
        t = Text(f"failed at tick {detail.line.ended_tick}: ", style="bold red")
        t.append_text(literal(detail.error or "unknown error", 2000))
        if detail.traceback:
            t.append("\n")
            t.append_text(literal_lines(detail.traceback.rstrip("\n"), TRACEBACK_LIMIT))
        return t

    @staticmethod
    def detail_lines(detail: SessionDetail) -> Text:
        """Text of a session's state counts and its variables (histogram and mean per community); every
        name is shown literally (a plugin's state and variable names are text from the plugin)."""
        t = Text()
        n = max(1, detail.population)
        width = max((len(state.name) for state in detail.states), default=0)
        for i, state in enumerate(detail.states):
            if i:
                t.append("\n")
            label = literal(state.name, 24)
            t.append_text(label)
            t.append(" " * (max(width, 1) + 2 - len(label.plain)))
            t.append_text(bar(state.count / n, 20))
            t.append(f" {fmt_int(state.count):>11}")
        for v in detail.variables:
            t.append("\n\n")
            t.append_text(literal(v.name, 40, style="bold"))
            t.append(f"  mean {v.mean:.4g}  std {v.std:.4g}  min {v.min:.4g}  max {v.max:.4g}\n")
            bins = len(v.histogram)
            top = max(1, max(v.histogram, default=0))
            for k in range(bins):
                t.append(f"  [{v.edges[k]:7.3g}, {v.edges[k + 1]:7.3g}{']' if k == bins - 1 else ')'} ")
                full = int(round(24 * v.histogram[k] / top))
                t.append("█" * full, style="cyan")
                t.append("░" * (24 - full), style="grey39")
                t.append(f" {fmt_int(v.histogram[k]):>11}\n")
            if v.communities_shown:
                t.append(f"  mean per community (largest {v.communities_shown}):")
                for cid, mean, size in v.community_means:
                    t.append(f"  #{cid} {mean:.3g} ({fmt_int(size)})")
        return t

    @staticmethod
    def post_lines(world: Any, posts: list[dict[str, Any]]) -> Text:
        """``posts`` of ``world`` as the view shows them (:meth:`posts_text`)."""
        return MessagesView.posts_text(post_lines(world, posts))

    @staticmethod
    def posts_text(posts: tuple[PostLine, ...]) -> Text:
        """One line per post: tick, author, kind, who wrote it (llm, cache, offline) and the text, literally."""
        t = Text()
        for j, p in enumerate(posts):
            if j:
                t.append("\n")
            t.append(f"tick {p.tick:<5} ", style="grey50")
            who = literal(p.author, 22)
            t.append_text(who)
            t.append(" " * (23 - len(who.plain)))
            t.append(f"{p.kind:<7}", style="bold")
            t.append(f"{p.written_by:<8}", style={"llm": "green", "cache": "cyan"}.get(p.written_by, "grey50"))
            t.append_text(literal(p.text, 300))
        return t

    @staticmethod
    def cells(s: SessionLine, n: int) -> dict[str, Any]:
        """The session's cells by column key; every one a Text (a str cell would be parsed as markup)."""
        status = Text(
            s.status,
            style={"running": "green", "queued": "yellow", "failed": "red", "cancelled": "grey50"}.get(s.status, ""),
        )
        return {
            "id": Text(str(s.id)),
            "text": literal(s.text, 60),
            "model": literal(s.model_name, 20),
            "feed": Text("world", style="grey50") if s.recommender is None else literal(s.recommender, 20),
            "status": status,
            "progress": bar(s.reached / n, 7),
            "reached": Text(fmt_int(s.reached)),
            "via_feed": Text(fmt_int(s.feed_reached)),
            "exposed": Text(fmt_int(s.exposed)),
            "r": Text(f"{s.reproduction_number:.2f}"),
            "rounds": Text(str(s.round)),
        }
