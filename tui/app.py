"""The Agora terminal UI (Textual). It talks to ``sim`` only through its public API and event bus.

The simulation runs off the UI's critical path: ticks run in worker threads, the UI polls the latest
metrics about ten times a second and applies them in one batch, and only the visible view refreshes.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import re
import time
from collections import deque
from typing import Any

import numpy as np
import psutil
from rich.text import Text
from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import ContentSwitcher, Static
from textual.worker import WorkerCancelled, WorkerFailed

from sim.store.create import ensure_default_world, saves_dir
from sim.errors import AgoraError, BadParameterError
from sim.core.events import (
    Event, MessageInjected, PluginFailed, PropagationCompleted, PropagationFailed, PropagationStarted, RecommenderFailed,
    TickCompleted,
)
from sim.core.persona import FIRST_NAMES, LAST_NAMES
from sim.model.registry import Registry, world_plugin_folders
from sim.core.safe import shown
from sim.engine.simulation import Simulation
from sim.store.snapshot import load_snapshot, save_snapshot
from sim.social.dynamics import NONE
from sim.store.worldfile import load_warnings, open_world, save_world
from sim.core.world import World
from sim.store.writer import WorldWriter

from .rate import TickRate
from .recommenders import RECOMMENDER_ROLES, recommender_label
from .screens import AskScreen, HelpScreen, LoadScreen, QuitScreen, SaveScreen
from .views import AgentsView, CommunitiesView, CompareView, DashboardView, MessagesView, PluginsView, literal, show

VIEWS = ("dashboard", "communities", "agents", "messages", "plugins", "compare")
SPEEDS = (0.5, 1, 2, 5, 10, 20, 50, 0)  # ticks per second; 0 = as fast as possible
PLAIN_NAME = re.compile(r"[A-Za-z0-9_.\-]+")  # plugin names safe in the command palette (it parses markup)
NOTIFY_LIMIT = 600  # characters of a notification at most
#: Characters of a notification that quotes file paths at most: a path is never cut (PATH_MAX is 4096).
PATH_NOTIFY_LIMIT = 2 * 4096 + NOTIFY_LIMIT
FULL_GC_THRESHOLD = 100  # collections of the middle generation between two full ones (Python's default: 10)
def file_stem(text: str, limit: int) -> str:
    """``text`` made safe as a file name (letters, digits, ``_.-``; anything else becomes ``_``), cut."""
    return re.sub(r"[^\w.\-]+", "_", text)[:limit]


#: Command palette titles (what users type to find an action) and help, where the key's short label
#: would not be found: the palette matches titles only.
PALETTE = {
    "view('dashboard')": ("View: dashboard", "Show the dashboard (metrics and charts)"),
    "view('communities')": ("View: communities", "Show the communities table"),
    "view('agents')": ("View: agents", "Show the agents view (find an agent by id or name)"),
    "view('messages')": ("View: messages", "Show the messages view (inject, sessions and their states)"),
    "view('plugins')": ("View: plugins", "Show the plugins view (models and recommenders)"),
    "view('compare')": ("View: compare sessions", "Show the sessions' reach side by side"),
    "export_chart": ("Export chart (PNG and SVG)", "Write the chart shown (Dashboard or Compare) to PNG and SVG files "
                     "in the saves folder's exports"),
    "dismiss_chart": ("Dismiss chart", "Take the session off the dashboard's chart (a finished one stays until then)"),
    "save": ("Save a snapshot (.snap)", "Save the world as a snapshot file in the saves folder"),
    "load": ("Load a snapshot (.snap)", "Replace the world by a snapshot from the saves folder"),
    "communities": ("Detect communities", "Find communities and rank influence (PageRank)"),
    "tick(1)": ("Tick (step one)", "Advance one tick"),
    "tick(10)": ("10 ticks (step ten)", "Advance ten ticks"),
    "inject": ("Inject a message", "Inject a message and start its propagation session"),
    "quit_app": ("Quit", "Quit (offers to save the world file first)"),
    "find": ("Find / filter", "Type in the current view's search or filter box"),
}


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
    KEEP = ("help", "quit_app")

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
        rows = [(b.key, self.app.get_key_display(b), b.description, b.action, b.group, enabled)
                for (_node, b, enabled, _tooltip) in screen.active_bindings.values() if b.show]
        shown = tuple((key, display, description, action, group.description if group else None, enabled)
                      for key, display, description, action, group, enabled in rows)
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


class AgoraApp(App):
    """Watch a world live, inject messages, step, inspect, save and load."""

    TITLE = "Agora"
    CSS = """
    #views { height: 1fr; }
    #loading { padding: 1 2; }
    /* Notifications as wide as their longest line allows (up to most of the screen), so a path they
       quote is on one line where the terminal is wide enough (Textual's are 60 columns). */
    Toast { width: auto; min-width: 60; max-width: 85%; }
    """
    _VIEWS_GROUP = Binding.Group("views", compact=True)
    _SPEED_GROUP = Binding.Group("speed", compact=True)
    _STEP_GROUP = Binding.Group("step 1/10", compact=True)
    BINDINGS = [
        Binding("1", "view('dashboard')", "Dashboard", group=_VIEWS_GROUP),
        Binding("2", "view('communities')", "Communities", group=_VIEWS_GROUP),
        Binding("3", "view('agents')", "Agents", group=_VIEWS_GROUP),
        Binding("4", "view('messages')", "Messages", group=_VIEWS_GROUP),
        Binding("5", "view('plugins')", "Plugins", group=_VIEWS_GROUP),
        Binding("6", "view('compare')", "Compare", group=_VIEWS_GROUP),
        Binding("space", "toggle_run", "Run/Pause"),
        Binding("n", "tick(1)", "Tick", group=_STEP_GROUP),
        Binding("N,shift+n", "tick(10)", "10 ticks", group=_STEP_GROUP),
        Binding("plus,equals_sign", "faster", "Faster", group=_SPEED_GROUP),
        Binding("minus", "slower", "Slower", group=_SPEED_GROUP),
        Binding("i", "inject", "Inject"),
        Binding("s", "save", "Save"),
        Binding("l", "load", "Load"),
        Binding("c", "communities", "Communities"),
        Binding("a", "ask", "Ask", tooltip="ask the agent shown in the Agents view a question"),
        Binding("e", "export_chart", "Export", tooltip="write the chart shown to PNG and SVG (saves/exports)"),
        Binding("x", "dismiss_chart", "Dismiss", tooltip="take the session off the chart (Dashboard)"),
        Binding("slash", "find", "Find", show=False),  # in the help and the palette; the footer is full
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit_app", "Quit"),
        Binding("escape", "leave_field", "Leave field", show=False),
    ]

    def __init__(self, world_path: str | None = None, *, plugin_dirs: list[str] | tuple[str, ...] = (),
                 world: World | None = None, writer_enabled: bool = True, metrics_port: int | None = None,
                 metrics_host: str = "127.0.0.1", checkpoint_every: int = 50, checkpoint_seconds: float | None = None) -> None:
        super().__init__()
        #: While the simulation runs, checkpoint the world into its file every this many ticks (0: off) or
        #: seconds (None: off), so a crash loses at most the ticks since (see ``sim.store.check``).
        self.checkpoint_every = checkpoint_every
        self.checkpoint_seconds = checkpoint_seconds
        self._checkpointed = (0, time.monotonic())  # (tick, time) of the last periodic checkpoint
        #: The sentence of the last periodic checkpoint when it failed (said once; once more when one succeeds).
        self.checkpoint_failure: str | None = None
        self.world_path = world_path
        #: Serve Prometheus metrics and health on this port (None: no server; 0: a free port).
        self.metrics_port = metrics_port
        self.metrics_host = metrics_host
        self.monitor: Any = None  # sim.observe.Monitor, when metrics are served
        self.metrics_server: Any = None  # sim.observe.MetricsServer
        self.plugin_dirs = list(plugin_dirs)
        self._initial_world = world
        self.writer_enabled = writer_enabled
        self.world: World = None  # type: ignore[assignment]
        self.sim: Simulation = None  # type: ignore[assignment]
        self.registry: Registry = None  # type: ignore[assignment]
        self.writer: WorldWriter | None = None
        self.ready = asyncio.Event()
        self.speed_index = SPEEDS.index(10)
        self.selected_session_id: int | None = None
        self.registry_version = 0
        self.rss_mb = 0.0
        self.cpu_percent = 0.0
        self.rss_history: deque[float] = deque(maxlen=600)
        self.rss_samples = 0  # how many RSS samples were taken (the memory chart redraws on a new one)
        #: Tick completion times: the measured rate the header and the dashboard show (``rate_text``).
        self.tick_rate = TickRate()
        #: The rate as shown by the latest refresh (header and dashboard read this one value).
        self.shown_rate = ""
        self._stepping = 0  # step workers (n, N) under way
        self._proc = psutil.Process()
        self._community_cache: tuple[Any, list[dict[str, Any]]] | None = None
        self._community_flows: list[dict[str, int]] = []
        self._community_unassigned = 0  # agents in no community (isolated after detection), shown apart from the rows
        self._share_cache: tuple[Any, dict[str, Any]] | None = None
        self._share_pending: Any = None
        self._run_worker = None
        self.busy: str | None = None  # a long action in progress (save, load, analysis)
        self.step_requests = 0  # n and N presses acted on (agora bench tui waits for them)
        self._gc_threshold = gc.get_threshold()  # restored when the app ends

    # -- layout -----------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield StatusHeader("Agora — opening the world…", id="status", markup=False)
        with ContentSwitcher(initial="loading", id="views"):
            yield Static("Opening the world…", id="loading", markup=False)
            yield DashboardView(id="dashboard")
            yield CommunitiesView(id="communities")
            yield AgentsView(id="agents")
            yield MessagesView(id="messages")
            yield PluginsView(id="plugins")
            yield CompareView(id="compare")
        yield KeyBar(id="keys")

    async def on_mount(self) -> None:
        # Kept so the timers reach them while a modal screen is on top.
        self._status = self.query_one("#status", StatusHeader)
        self._switcher = self.query_one("#views", ContentSwitcher)
        self._views = {name: self.query_one(f"#{name}") for name in VIEWS}
        self.open_world_worker()
        self.set_interval(0.1, self.refresh_ui)
        self.set_interval(1.0, self.sample_resources)

    async def on_unmount(self) -> None:
        gc.unfreeze()
        gc.set_threshold(*self._gc_threshold)
        if self.metrics_server is not None:
            server, self.metrics_server = self.metrics_server, None
            server.stop()
        if self.monitor is not None:
            self.monitor.detach()
        # The writer's connection runs a non-daemon thread: always close it, however the app ends.
        if self.sim is not None:
            self.sim.stop()
            await self.close_llm(self.sim)
        if self.writer is not None:
            writer, self.writer = self.writer, None
            await writer.close()

    @work(exclusive=True, group="open")
    async def open_world_worker(self) -> None:
        try:
            if self._initial_world is not None:
                world = self._initial_world
            else:
                if self.world_path is None:
                    self.world_path = await ensure_default_world()
                world = await open_world(self.world_path)
        except AgoraError as exc:
            self.query_one("#loading", Static).update(literal(f"Could not open the world: {exc}", 500))
            self.notify(str(exc), severity="error", markup=False, timeout=30)
            return
        # The plugin folder beside the world loads only when named or trusted (plugins are code).
        extra, notice = world_plugin_folders(self.world_path, list(self.plugin_dirs))
        if notice:
            self.notify(notice, severity="warning", markup=False, timeout=30)
        for warning in load_warnings(world):
            self.notify(warning, severity="warning", markup=False, timeout=30)
        await self.attach_world(world, Registry(list(self.plugin_dirs) + extra))
        self.query_one("#views", ContentSwitcher).current = "dashboard"
        self.screen.refresh_bindings()
        self.refresh_ui()  # the views show the world before the app says it is ready
        self.ready.set()

    async def attach_world(self, world: World, registry: Registry | None = None) -> None:
        """Make ``world`` the live world: a simulation, its writer and the event subscriptions."""
        if registry is None:
            registry = self.registry
        if self.sim is not None:
            await self.close_llm(self.sim)  # the old world's requests in flight fall back; connections close
        self.world = world
        self.registry = registry
        if self.writer_enabled and world.path:
            self.writer = await WorldWriter(world.path).start()
            rec = self.writer.recovered
            if rec.get("events") or rec.get("exposures"):
                self.log_line(f"the world file holds tick {rec['tick']}, its last checkpoint: {rec['events']:,} events and "
                              f"{rec['exposures']:,} exposures of later ticks (a run that ended without saving) were discarded")
        else:
            self.writer = None
        self._checkpointed = (world.tick, time.monotonic())
        self.tick_rate.reset()  # the rate is this world's: the previous one's ticks are not counted
        self.sim = Simulation(world, registry=registry, writer=self.writer)
        registry.bus = self.sim.bus
        self.sim.bus.subscribe(self.on_sim_event)
        self.attach_monitor()
        self._community_cache = None
        self._share_cache = None
        self.registry_version += 1
        self._views["messages"].reload_models()  # type: ignore[attr-defined]
        for entry in registry.failures:
            self.log_line(f"plugin {entry.name} failed to load: {entry.error}")
        # A world may name a recommender that is not available here: it runs without it.
        for name, error in self.sim.social.errors.items():
            self.log_line(f"{recommender_label(name)} is off: {error}")
            self.notify(f"{recommender_label(name)} is off: {error}", severity="warning", markup=False)
        self.freeze_heap()

    @staticmethod
    def freeze_heap() -> None:
        """Move every object alive now (the world, the widgets) out of the cyclic garbage collector's
        sight. Its full collections scanned them all, 70-90 ms each, a few times a minute while a busy
        world allocates: the worst keypress times. Objects freed later are still freed; a world that is
        replaced is thawed and collected first."""
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        # With the long-lived objects frozen, the collector's own rule (a full pass when a quarter of the
        # unfrozen objects are new) would run full passes more often: ten times fewer of them, instead.
        gen0, gen1, _gen2 = gc.get_threshold()
        gc.set_threshold(gen0, gen1, FULL_GC_THRESHOLD)

    def attach_monitor(self) -> None:
        """Serve metrics and health for the live simulation (the server starts with the first world)."""
        if self.metrics_port is None:
            return
        if self.monitor is None:
            from sim.engine.observe import MetricsServer, Monitor

            monitor = Monitor()
            try:
                server = MetricsServer(monitor, self.metrics_host, self.metrics_port).start()
            except AgoraError as exc:
                self.metrics_port = None  # the app goes on without metrics
                self.notify(f"{exc}; Agora runs without metrics", severity="error", markup=False, timeout=15)
                return
            self.monitor, self.metrics_server = monitor, server
            self.notify(f"metrics on {server.url}/metrics, health on {server.url}/healthz", markup=False, timeout=8)
        self.monitor.attach(self.sim, self.writer, active=lambda: self.sim_running)

    @staticmethod
    async def close_llm(sim: Simulation) -> None:
        """Cancel a simulation's LLM requests in flight and close its connections (never raises)."""
        # Closing half-dead connections must not stop the app ending.
        with contextlib.suppress(Exception):
            await sim.aclose()

    # -- events from the simulation ---------------------------------------------------------------
    def on_sim_event(self, event: Event) -> None:
        if isinstance(event, TickCompleted):
            self.tick_rate.record()
            return
        if isinstance(event, MessageInjected):
            self.log_line(f"tick {event.tick}: message {event.message_id} injected ({event.model}): {event.text}")
        elif isinstance(event, PropagationStarted):
            self.log_line(f"tick {event.tick}: session {event.session_id} started with {event.seeds} seeds")
        elif isinstance(event, PropagationCompleted):
            self.log_line(f"tick {event.tick}: session {event.session_id} {event.status}, reached {event.reached:,}")
        elif isinstance(event, PropagationFailed):
            self.log_line(f"tick {event.tick}: session {event.session_id} FAILED: {event.error}")
            self.notify(f"session {event.session_id} failed: {event.error} (its traceback: the Messages view, 4)",
                        severity="error", markup=False)
        elif isinstance(event, PluginFailed):
            self.log_line(f"plugin {event.name} failed to load: {event.error}")
        elif isinstance(event, RecommenderFailed):
            what = recommender_label(event.name)
            self.log_line(f"tick {event.tick}: {what} FAILED and was switched off: {event.error}")
            self.notify(f"{what} failed and was switched off: {event.error} (its traceback: the Plugins view, 5)",
                        severity="error", markup=False, timeout=10)

    def log_line(self, text: str) -> None:
        # Control characters are made visible; the Log widget never parses markup.
        self._views["dashboard"].log_line(shown(text, 500))  # type: ignore[attr-defined]

    def notify(self, message: str, *, title: str = "", severity: Any = "information", timeout: float | None = None,
               markup: bool = True, limit: int = NOTIFY_LIMIT) -> None:
        """Every notification of the app (and of its screens and widgets) goes out safe: control characters
        and ANSI escapes in it (an agent's name, a file name, a plugin's error) shown as visible escapes, text
        longer than ``limit`` cut (a notification quoting paths passes :data:`PATH_NOTIFY_LIMIT`: see
        :meth:`notify_paths`). Text from outside is passed with ``markup=False`` as well."""
        super().notify(shown(message, limit, lines=True), title=shown(title, 80), severity=severity,
                       timeout=timeout, markup=markup)

    def notify_paths(self, what: str, paths: list[str], *, severity: Any = "information",
                     timeout: float | None = None) -> None:
        """A notification that quotes file paths: ``what`` on the first line, then each path whole on a line
        of its own (never cut; the toast is as wide as the screen allows, see ``CSS``), shown literally."""
        self.notify("\n".join([what, *paths]), severity=severity, timeout=timeout, markup=False,
                    limit=PATH_NOTIFY_LIMIT)

    # -- polling ----------------------------------------------------------------------------------
    def sample_resources(self) -> None:
        self.rss_mb = self._proc.memory_info().rss / 2**20
        self.cpu_percent = self._proc.cpu_percent(interval=None)
        self.rss_history.append(self.rss_mb)
        self.rss_samples += 1

    @property
    def ticking(self) -> bool:
        """Whether ticks are under way: the run goes (or its last tick is ending after a pause), or n/N steps."""
        return self.sim is not None and (self.sim_running or self.sim.pausing or self._stepping > 0)

    def rate_text(self) -> str:
        """The measured tick rate, as the header and the dashboard both show it (one computation; see
        :class:`tui.rate.TickRate`): ``"9.8 t/s"`` while ticks are under way; paused, ``"0.0 t/s"`` and
        the rate the run had when it stopped (``"0.0 t/s (was 9.8)"``)."""
        if self.ticking:
            return f"{self.tick_rate.rate():.1f} t/s"
        if self.tick_rate.ticks >= 2:
            return f"0.0 t/s (was {self.tick_rate.last_rate():.1f})"
        return "0.0 t/s"

    def world_figures(self) -> dict[str, Any]:
        """What the dashboard shows, each figure from its one source of truth: session counts and reach
        from the world's sessions now (a session injected since the last tick is queued at once; after a
        load they are the loaded world's); per-tick figures (``new_adoptions``, ``follows``,
        ``attempts_per_second``, ...) from the metrics of the world's latest tick, and absent when that tick
        was not run here (a world just opened or loaded: its history before is not in memory); the database
        writer's figures from the writer."""
        world = self.world
        sessions = world.sessions
        by_status: dict[str, int] = {}
        for s in sessions:
            by_status[s.status] = by_status.get(s.status, 0) + 1
        running = [s for s in sessions if s.status == "running"]
        f: dict[str, Any] = {
            "sessions": by_status,
            "running": by_status.get("running", 0),
            "queued": by_status.get("queued", 0),
            "reached": sum(int(s.reached) for s in sessions),
            "graph_reached": sum(int(s.graph_reached) for s in sessions),
            "feed_reached": sum(int(s.feed_reached) for s in sessions),
            "reproduction_number": float(np.mean([s.reproduction_number for s in running])) if running else 0.0,
            "edges": world.num_edges,
            "pending_graph_changes": world.delta.pending,
        }
        last = self.sim.metrics[-1] if self.sim is not None and self.sim.metrics else None
        f["tick_metrics"] = last if last is not None and last.get("tick") == world.tick - 1 else None
        if self.writer is not None:
            f["db_queue"] = self.writer.queue_rows
            f["db_backpressure"] = self.writer.backpressure
            f["db_backpressure_seconds"] = self.writer.backpressure_seconds
            f["db_rows_written"] = self.writer.rows_written
        return f

    def refresh_ui(self) -> None:
        if self.sim is None or self._exit_renderables or not self._switcher.is_attached:
            return
        try:
            with self.batch_update():
                # One reading of the rate for the header and the dashboard: they never disagree.
                self.shown_rate = self.rate_text()
                show(self._status, self.header_text(self.shown_rate))
                current = self._switcher.current
                if current in VIEWS:
                    self._views[current].refresh_view()  # type: ignore[attr-defined]
        except NoMatches:
            pass  # widgets are being torn down (the app is closing)

    def header_text(self, rate: str | None = None) -> Text:
        """The header line; ``rate`` is the tick rate as the refresh read it (None: read it now)."""
        w = self.world
        minutes = int(w.config.get("minutes_per_tick", 10)) * w.tick + 60 * int(w.config.get("start_hour", 8))
        day, rem = divmod(minutes, 24 * 60)
        state = "paused" if not self.sim_running else "running"
        if state == "paused" and self.sim.pausing:
            state = "pausing"  # the run's tick under way when space was pressed ends first
        if self.busy:
            state += f" · {self.busy}"
        speed = SPEEDS[self.speed_index]
        t = Text()
        t.append_text(literal(w.name, 30))
        t.append(f"  tick {w.tick:,}  day {day + 1} {rem // 60:02d}:{rem % 60:02d}  ")
        t.append(state.upper(), style="bold green" if self.sim_running else "bold yellow")
        if self.writer is not None and self.writer.backpressure:
            # The world file's writer is behind: the loop waits for it rather than queueing more rows.
            t.append("  WAITING FOR DISK", style="bold red")
        # The measured rate (ticks over the last seconds, as the dashboard shows it) and, apart, the pace
        # asked for: at 1M agents a run paced at 10 ticks a second may manage 3.
        rate = self.rate_text() if rate is None else rate
        t.append(f"   {rate} (pace {'max' if speed == 0 else f'{speed:g}'})  {w.n:,} agents  {w.num_edges:,} edges  ")
        t.append_text(self.llm_header())
        return t

    def llm_header(self) -> Text:
        """``LLM: offline``, ``LLM: online MODEL``, ``LLM: degraded`` or ``LLM: fallback (server down)``,
        with calls, tokens and estimated cost when a key is set. The key is never shown."""
        llm = self.sim.llm
        mode = llm.mode
        t = Text("LLM: ")
        if mode == "offline":
            t.append("offline")
            return t
        if mode == "online":
            t.append("online ", style="bold green")
            t.append_text(literal(llm.config.model, 24))
        elif mode == "degraded":
            t.append("degraded", style="bold yellow")
        else:
            t.append("fallback (server down)", style="bold red")
        st = llm.client.stats
        tokens = (st.tokens_in + st.tokens_out) / 1000
        t.append(f"  {st.calls:,} calls  {tokens:,.1f}k tok  ${st.cost_usd:,.4f}")
        return t

    @property
    def sim_running(self) -> bool:
        return self._run_worker is not None and self._run_worker.is_running and not self.sim.paused

    # -- actions ----------------------------------------------------------------------------------
    def action_view(self, name: str) -> None:
        if self.sim is None:
            return
        self._switcher.current = name
        view = self._views[name]
        if self.screen.focused is not None and view not in self.screen.focused.ancestors:
            # A hidden view's widget keeps the focus otherwise, and with it its keys and footer hints.
            self.screen.set_focus(None)
        if name == "plugins":
            # Its keys (r, f, w) act on the highlighted row: the table takes the focus so they work at once.
            self._views["plugins"].query_one("#plugins").focus()
        self.screen.refresh_bindings()  # the Agents view's key (a) shows only there
        self.refresh_ui()

    #: The box ``/`` focuses in each view that has one.
    FIND_BOXES = {"agents": "#agent-query", "communities": "#comm-filter", "messages": "#msg-text"}

    def action_find(self) -> None:
        """Focus the current view's search or filter box (``/``), so that typing (digits too) goes there."""
        if self.sim is None:
            return
        box = self.FIND_BOXES.get(self._switcher.current)
        if box is None:
            self.notify("this view has no search box: / works in Communities (2), Agents (3) and Messages (4)",
                        markup=False)
            return
        self._views[self._switcher.current].query_one(box).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "ask":
            # Shown and active in the Agents view only (the command palette reaches it from anywhere).
            return self.sim is not None and self._switcher.current == "agents"
        if action in ("export_chart", "dismiss_chart"):
            # Keys of the views with charts (x is the Messages view's cancel there); the palette reaches them anywhere.
            views = ("dashboard", "compare") if action == "export_chart" else ("dashboard",)
            return self.sim is not None and self._switcher.current in views
        return True

    def action_toggle_run(self) -> None:
        if self.sim is None:
            return
        if self.sim_running:
            self.sim.pause()
        elif self._run_worker is not None and self._run_worker.is_running:
            self.sim.resume()
        else:
            self.start_run_loop()
        self.refresh_ui()

    def start_run_loop(self) -> None:
        """Run the live simulation: resume it and start the loop bound to it."""
        self.sim.resume()
        self._run_worker = self.run_simulation()

    async def stop_run_loop(self) -> bool:
        """Stop the run loop and any stepping, with no tick under way when it returns; whether it was
        running. Every action that replaces the world calls it first: the loop and the steps are bound to
        the simulation they started on, and would wait on the old one for ever."""
        was_running = self.sim_running
        workers = [w for w in self.workers if w.group in ("run", "step") and w.is_running]
        self._run_worker = None
        if self.sim is not None:
            self.sim.pause()
            async with self.sim.lock:  # a tick under way ends first; the loop then waits, and is cancelled
                for w in workers:
                    w.cancel()
        else:
            for w in workers:
                w.cancel()
        for w in workers:
            try:
                await w.wait()
            except (WorkerCancelled, WorkerFailed):
                pass
        return was_running

    @work(exclusive=True, group="run")
    async def run_simulation(self) -> None:
        try:
            while True:
                speed = SPEEDS[self.speed_index]
                await self.sim.run(ticks=1, ticks_per_second=speed or None)
                await self.periodic_checkpoint()
                if self.sim._stop:
                    break
        except Exception as exc:  # a bug: report it and keep the app
            self.notify(f"the simulation stopped: {type(exc).__name__}: {exc}", severity="error", markup=False)
            raise

    async def action_tick(self, count: int) -> None:
        if self.sim is None:
            return
        if self.sim_running:
            self.sim.pause()
        self.step_requests += 1
        self.step_ticks(count)

    @work(group="step")
    async def step_ticks(self, count: int) -> None:
        self._stepping += 1
        try:
            for _ in range(count):
                await self.sim.step()
                await self.periodic_checkpoint()
        finally:
            self._stepping -= 1
        self.refresh_ui()

    async def periodic_checkpoint(self) -> None:
        """Checkpoint the world into its file when ``checkpoint_every`` ticks or ``checkpoint_seconds`` have
        passed since the last one; a failure (a full disk) is a notification, and is tried again one
        interval later (the file keeps its previous checkpoint meanwhile)."""
        if self.writer is None or self.sim is None:
            return
        tick, at = self._checkpointed
        ticks = self.world.tick - tick
        if not ((self.checkpoint_every and ticks >= self.checkpoint_every)
                or (self.checkpoint_seconds and ticks > 0 and time.monotonic() - at >= self.checkpoint_seconds)):
            return
        self._checkpointed = (self.world.tick, time.monotonic())
        try:
            await self.sim.checkpoint()
        except Exception as exc:  # noqa: BLE001 - any failure, a bug included, is said: never lost silently
            failure = str(exc) if isinstance(exc, AgoraError) else (
                f"the world file could not be checkpointed ({type(exc).__name__}: {exc}): it keeps its last checkpoint "
                f"(tick {getattr(self.writer, 'checkpoint_tick', '?')})")
            if self.checkpoint_failure is None:  # once per failure, not at every interval it is tried again
                self.notify(failure, severity="error", markup=False, timeout=30)
            self.checkpoint_failure = failure
            if self.monitor is not None:
                self.monitor.checkpoint_failed(failure)
            return
        if self.checkpoint_failure is not None:
            self.checkpoint_failure = None
            self.notify(f"the world file is checkpointed again: it holds tick {self.world.tick}", markup=False, timeout=10)
            if self.monitor is not None:
                self.monitor.checkpoint_succeeded()

    def action_faster(self) -> None:
        self.speed_index = min(len(SPEEDS) - 1, self.speed_index + 1)
        self.refresh_ui()

    def action_slower(self) -> None:
        self.speed_index = max(0, self.speed_index - 1)
        self.refresh_ui()

    def action_inject(self) -> None:
        if self.sim is None:
            return
        self.action_view("messages")
        self._views["messages"].query_one("#msg-text").focus()

    def inject(self, **values: Any) -> None:
        """Inject from the form's values (raises AgoraError with one clear sentence)."""
        session = self.sim.inject(values["text"], topics=values["topics"], seeds=values["seeds"], model=values["model"],
                                  params=values["params"], priority=values["priority"],
                                  recommender=values.get("recommender"))
        self.selected_session_id = session.id  # the simulation records the injection in the audit log
        self.notify(f"message {session.message_id} injected: session {session.id} queued", markup=False)

    async def set_recommender(self, role: str, name: str) -> bool:
        """Make ``name`` (or ``"none"``) the world's feed or friend recommender, keep the choice in
        ``world.config["social"]`` and confirm with a notification; an error is a notification too.

        Args:
            role: ``"feed"`` (the content recommender building the feeds) or ``"friend"``.
            name: a registered recommender of that kind, or ``"none"`` to turn it off.

        Returns:
            Whether the setting changed.
        """
        if self.sim is None:
            return False
        setting, _kind, words = RECOMMENDER_ROLES[role]
        social = self.sim.social
        before = social.settings[setting]
        try:
            async with self.sim.lock:  # never between a tick's feeds and its friend suggestions
                social.configure(**{setting: name})
        except AgoraError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return False
        except Exception as exc:  # noqa: BLE001 - a plugin's constructor raised: settings are unchanged
            self.notify(f"{words} {name} could not start: {type(exc).__name__}: {exc}", severity="error", markup=False)
            return False
        after = social.settings[setting]
        self.world.config["social"] = {k: dict(v) if isinstance(v, dict) else v for k, v in social.settings.items()}
        self.sim.dirty = True
        self.audit("social", {setting: after, "was": before})
        text = f"{words}: off (was {before})" if after == NONE else f"{words}: {after}" + (f" (was {before})" if before != after else "")
        self.notify(text, markup=False)
        self.log_line(f"tick {self.world.tick}: {text}")
        self.refresh_ui()
        return True

    def cancel_session(self, session_id: int) -> None:
        s = self.sim.cancel(session_id)  # recorded in the audit log by the simulation
        self.notify(f"session {s.id} is {s.status}", markup=False)

    def audit(self, action: str, details: dict[str, Any]) -> None:
        """Append a user action to the world's audit log (through the writer, after queued work)."""
        if self.writer is not None:
            self.writer.submit_audit(action, details)

    def action_leave_field(self) -> None:
        """Escape leaves a text field, so the single-key controls work again."""
        self.screen.set_focus(None)

    def action_ask(self) -> None:
        """Interview the agent the Agents view shows (or its highlighted follower/followee): a modal asks
        for the question and shows the answer; the LLM call runs in a worker."""
        if self.sim is None:
            return
        if self._switcher.current != "agents":
            self.action_view("agents")
        idx = self._views["agents"].target_agent()  # type: ignore[attr-defined]
        if idx is None:
            self.notify("find an agent first (type an id or a name in the Agents view), then press a to ask them",
                        severity="warning", markup=False)
            return
        world, llm = self.world, self.sim.llm
        label = f"{world.persona(idx).name} (id {int(world.columns['ids'][idx])})"

        async def ask(question: str) -> Any:
            return await llm.interview(idx, question)

        def answered(question: str, result: Any) -> None:
            self.log_line(f"tick {world.tick}: asked {label}: {question} (answered: {result.source})")
            if self.world is world:
                self.audit("interview", {"agent": int(world.columns["ids"][idx]), "question": question[:1000],
                                         "source": result.source, "tick": world.tick})
            if result.source == "offline" and llm.online:
                self.notify(f"the LLM did not answer ({result.reason or 'unknown reason'}): the offline generator did",
                            severity="warning", markup=False)
            self.refresh_ui()

        self.push_screen(AskScreen(literal(label, 60).plain, ask, answered))

    def action_dismiss_chart(self) -> None:
        """Take the session off the dashboard's chart (a finished session stays there until then)."""
        if self.sim is None:
            return
        dismissed = self._views["dashboard"].dismiss_chart()  # type: ignore[attr-defined]
        if dismissed is None:
            self.notify("no session is on the chart", markup=False)
        else:
            self.notify(f"session {dismissed} taken off the chart", markup=False)

    def action_export_chart(self) -> None:
        """Write the chart shown to PNG and SVG in the saves folder's ``exports`` (``agora plot``'s
        figures): the dashboard's session (its states), or in the Compare view every session's reach."""
        if self.sim is None:
            return
        from sim.model.series import series_dict

        world = self.world
        name = file_stem(world.name, 60) or "world"
        if self._switcher.current == "compare":
            sessions = [s for s in self.sim.sessions if s.series is not None and s.series.length]
            if not sessions:
                self.notify("no session has started yet: nothing to export", severity="warning", markup=False)
                return
            series = [(f"session {s.id} ({shown(s.model_name, 24)})", series_dict(s)) for s in sessions]
            measures, base = ["reached"], f"{name}-compare-tick{world.tick}"
            title = f"reach of the sessions of {world.name}"
        else:
            session = self._views["dashboard"].chart_session()  # type: ignore[attr-defined]
            if session is None or session.series is None or not session.series.length:
                self.notify("no session with a tick is on the chart: nothing to export", severity="warning", markup=False)
                return
            series = [(f"session {session.id}", series_dict(session))]
            measures = [str(n) for n in session.state_names]
            base = f"{name}-session{session.id}-tick{world.tick}"
            title = f"session {session.id} ({session.model_name}, {session.status}) of {world.name}"
        self.export_worker(series, measures, title, base)

    @work(group="export")
    async def export_worker(self, series: list[tuple[str, dict[str, list]]], measures: list[str], title: str,
                            base: str) -> None:
        """Draw the figure twice (PNG, SVG) off the event loop and say where it went."""
        from sim.analysis.plot import plot_sessions

        folder = os.path.join(saves_dir(), "exports")
        paths = [os.path.join(folder, f"{base}.{ext}") for ext in ("png", "svg")]
        try:
            os.makedirs(folder, exist_ok=True)
            for path in paths:
                await asyncio.to_thread(plot_sessions, series, path, measures, title)
        except AgoraError as exc:
            self.notify(f"the chart was not exported: {exc}", severity="error", markup=False)
            return
        except OSError as exc:
            self.notify(f"could not write the chart into {folder}: {exc.strerror or exc}", severity="error",
                        markup=False, limit=PATH_NOTIFY_LIMIT)
            return
        self.notify_paths("chart exported (PNG and SVG):", paths)

    def action_help(self) -> None:
        # Built once and kept: composing the help again on every ? took most of the key's time.
        if not self.is_screen_installed("help"):
            self.install_screen(HelpScreen(), "help")
        self.push_screen("help")

    def action_save(self) -> None:
        if self.sim is None or self.busy:
            return
        # A file name from the world's name: anything but letters, digits, dot and dash becomes "_".
        default = file_stem(f"{self.world.name}-tick{self.world.tick}", 100)
        self.push_screen(SaveScreen(default), self._save_chosen)

    def _save_chosen(self, name: str | None) -> None:
        if name:
            self.save_worker(name)

    @work(exclusive=True, group="io")
    async def save_worker(self, name: str) -> None:
        folder = saves_dir()
        os.makedirs(folder, exist_ok=True)
        base = os.path.basename(name)
        path = os.path.join(folder, base if base.endswith(".snap") else base + ".snap")
        self.busy = "saving"
        try:
            async with self.sim.lock:
                size = await asyncio.to_thread(save_snapshot, self.world, path, force=True)
            await self.sim.checkpoint()
            self.audit("save", {"snapshot": path, "tick": self.world.tick})
            self.notify_paths(f"snapshot saved at tick {self.world.tick} ({size / 2**20:.1f} MB):", [path])
        except AgoraError as exc:
            self.notify(str(exc), severity="error", markup=False, limit=PATH_NOTIFY_LIMIT)
        except OSError as exc:
            self.notify_paths(f"could not save the snapshot ({exc.strerror}); the previous one is intact:", [path],
                              severity="error")
        finally:
            self.busy = None

    def action_load(self) -> None:
        if self.sim is None or self.busy:
            return
        self.push_screen(LoadScreen(saves_dir()), self._load_chosen)

    def _load_chosen(self, path: str | None) -> None:
        if path:
            self.load_worker(path)

    @work(exclusive=True, group="io")
    async def load_worker(self, path: str) -> None:
        self.busy = "loading"
        try:
            # Read and validate completely before anything live is touched.
            new_world = await asyncio.to_thread(load_snapshot, path)
        except AgoraError as exc:
            self.notify(str(exc), severity="error", markup=False, timeout=10, limit=PATH_NOTIFY_LIMIT)
            self.busy = None
            return
        try:
            was_running = await self.stop_run_loop()
            async with self.sim.lock:
                if self.writer is not None:
                    await self.writer.close()
                if self.world_path:
                    new_world.name = self.world.name
                    await save_world(new_world, self.world_path, force=True, keep_audit=True)
            await self.attach_world(new_world)
            for warning in load_warnings(new_world):  # what the snapshot named and Agora ignored
                self.notify(warning, severity="warning", markup=False, timeout=30)
            self.audit("load", {"snapshot": path, "tick": new_world.tick})
            self.notify_paths(f"snapshot loaded (tick {new_world.tick}):", [path])
            if was_running:
                self.start_run_loop()
        finally:
            self.busy = None

    def action_communities(self) -> None:
        if self.sim is None or self.busy:
            return
        self.analysis_worker()

    @work(exclusive=True, group="analysis", thread=False)
    async def analysis_worker(self) -> None:
        self.busy = "detecting communities"
        try:
            result = await self.run_analysis()
        except AgoraError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        finally:
            self.busy = None
        self._community_cache = None
        line, ids = result
        self.notify(line, markup=False)
        self.log_line(f"{line} · {ids}")

    async def run_analysis(self) -> tuple[str, str]:
        """Recompute communities (Leiden) and influence (PageRank) off the event loop, keep them in the
        world and its file. Returns the line that reports the communities and one about their ids."""
        from sim.analysis.structure import analyze, communities_line, store_analysis
        from sim.store.analysis_tables import write_analysis

        world = self.world
        result = await asyncio.to_thread(analyze, world)
        async with self.sim.lock:
            # The ids shown before (planted, or an earlier c) stay: a detected community takes the id of
            # the community most of its members were in (``match_labels``, vectorised).
            table = store_analysis(world, result, keep_ids=True)
        if self.writer is not None:
            await self.sim.checkpoint()
            await self.writer.call(lambda db: write_analysis(db, world, table))
        rec = world.config["analysis"]["communities"]
        self.audit("analysis", {"communities": rec["count"], "isolated": rec["isolated"], "kept_ids": rec["kept"]})
        new = rec["count"] - rec["kept"]
        if not rec["kept"] and not rec["first_new"]:
            ids = "numbered by size (the world had no communities before)"
        else:
            ids = f"{rec['kept']:,} kept their ids" + (f", {new:,} new (ids from {rec['first_new']:,})" if new else "")
        return communities_line(rec["count"], rec["modularity"], rec["isolated"]), ids

    def communities_caption(self) -> str:
        """What the community ids are: the world's own (from when it was made) or detected, and how
        detected ones were numbered."""
        rec = (self.world.config.get("analysis") or {}).get("communities")
        cache = self._community_cache
        if not rec and cache is not None and cache[0][0] != "pending" and not cache[1]:
            return "no communities known yet: c detects them"
        if not rec:
            return ("the world's own communities (from when it was made). c detects communities: a detected one "
                    "keeps the id of the community most of its members are in here")
        words = f"communities detected ({rec.get('method', '?')}) at tick {int(rec.get('tick', 0)):,}"
        if rec.get("ids") == "kept" and (rec["kept"] or rec["first_new"]):
            new = int(rec["count"]) - int(rec["kept"])
            return (f"{words}: each keeps the id of the community most of its members were in before; "
                    + (f"{new:,} new, numbered from {int(rec['first_new']):,}" if new else "none is new"))
        return f"{words}: numbered by size (0 the largest)"

    def action_reload_plugins(self) -> None:
        failures = self.registry.reload()
        self.registry_version += 1
        self._views["messages"].reload_models()  # type: ignore[attr-defined]
        self._views["plugins"].refresh_view()  # type: ignore[attr-defined]
        self.audit("plugin_reload", {"failures": [f.name for f in failures]})
        if failures:
            self.notify(f"plugins reloaded; {len(failures)} failed to load (see the Plugins view)", severity="warning", markup=False)
        else:
            self.notify("plugins reloaded", markup=False)

    def action_quit_app(self) -> None:
        if self.sim is not None and self.sim.dirty and self.world.path:
            self.push_screen(QuitScreen(os.path.basename(self.world.path), self._checkpointed[0]), self._quit_chosen)
        else:
            self.shutdown_worker(save=False)

    def _quit_chosen(self, choice: str) -> None:
        if choice in ("save", "discard"):
            self.shutdown_worker(save=choice == "save")

    @work(exclusive=True, group="io")
    async def shutdown_worker(self, save: bool) -> None:
        if self.sim is not None:
            self.sim.stop()
            if save:
                self.busy = "saving"
                try:
                    await self.sim.checkpoint()
                except AgoraError as exc:  # a full disk: say so and stay, the world still in memory
                    self.notify(str(exc), severity="error", markup=False, timeout=30)
                    self.busy = None
                    return
            if self.writer is not None:
                await self.writer.close()
                self.writer = None
        self.exit()

    def get_system_commands(self, screen: Screen):
        yield from super().get_system_commands(screen)
        for binding in self.BINDINGS:
            b = binding if isinstance(binding, Binding) else Binding(*binding)
            action = b.action
            if action == "ask":  # its key works in the Agents view only; from the palette, anywhere
                yield SystemCommand("Ask an agent", "Interview the agent shown in the Agents view (key: a there)",
                                    self.action_ask)
                continue
            if action in ("export_chart", "dismiss_chart"):  # likewise: their keys work where the charts are
                title, words = PALETTE[action]
                yield SystemCommand(title, f"{words} (key: {b.key})", getattr(self, f"action_{action}"))
                continue
            title, words = PALETTE.get(action, (b.description, b.description))
            yield SystemCommand(title, f"{words} (key: {b.key.split(',')[0]})",
                                lambda action=action: self.run_action(action))
        yield SystemCommand("Reload plugins", "Re-import user plugins without a restart", self.action_reload_plugins)
        yield SystemCommand("Use for feeds", "Make the content recommender highlighted in the Plugins view the world's "
                            "feed recommender; again: off (key: f)", lambda: self.use_highlighted("feed"))
        yield SystemCommand("Use for friends", "Make the friend recommender highlighted in the Plugins view the world's "
                            "friend recommender; again: off (key: w)", lambda: self.use_highlighted("friend"))
        if self.registry is not None:
            for role, (_setting, kind, words) in RECOMMENDER_ROLES.items():
                for name in [NONE] + [e.name for e in self.registry.list(kind) if not e.error]:
                    # The palette parses titles as markup: a plugin name that could be read as markup is
                    # left out here (f and w in the Plugins view still reach it).
                    if PLAIN_NAME.fullmatch(name):
                        yield SystemCommand(f"{words.capitalize()}: {name}", f"Make {name} the world's {words}",
                                            lambda role=role, name=name: self.run_worker(self.set_recommender(role, name)))

    def use_highlighted(self, role: str) -> None:
        """Show the Plugins view and apply its highlighted recommender to ``role`` (the f / w keys)."""
        if self.sim is None:
            return
        self.action_view("plugins")
        self.run_worker(self._views["plugins"].use_highlighted(role))  # type: ignore[attr-defined]

    # -- data for the views -----------------------------------------------------------------------
    def find_agent(self, query: str) -> int:
        """An agent index from an original id or a name (first match)."""
        q = query.strip()
        if not q:
            raise BadParameterError("type an agent id or a name")
        if q.lstrip("-").isdigit():
            return self.world.index_of(int(q))
        words = q.lower().split()
        codes = self.world.columns["persona_codes"]
        firsts = [i for i, n in enumerate(FIRST_NAMES) if n.lower() == words[0]]
        mask = np.isin(codes[:, 0], firsts) if firsts else np.zeros(self.world.n, dtype=bool)
        if len(words) > 1:
            lasts = [i for i, n in enumerate(LAST_NAMES) if n.lower() == words[1]]
            mask &= np.isin(codes[:, 1], lasts)
        for i, p in self.world.persona_overrides.items():
            mask[i] = p.name.lower() == q.lower()
        hits = np.flatnonzero(mask)
        if hits.size == 0:
            raise BadParameterError(f"no agent is called {q!r}: try an id or another name")
        if hits.size > 1:
            self.notify(f"{hits.size:,} agents are called {q}; showing the first (id {int(self.world.columns['ids'][hits[0]])})",
                        markup=False)
        return int(hits[0])

    def influence_rank(self, idx: int) -> int:
        infl = self.world.columns["influence"]
        return int(np.count_nonzero(infl > infl[idx])) + 1

    def community_rows(self) -> list[dict[str, Any]]:
        """One row per community: size, density, dominant interests, top influencer, adoption share.
        Built off the event loop when the communities change; empty until ready."""
        w = self.world
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
        from sim.analysis.structure import community_table

        world = self.world
        if world.columns["community"].max(initial=-1) < 0:
            self._community_cache = (key, [])
            self._community_flows = []
            self._community_unassigned = 0
            return
        table = await asyncio.to_thread(community_table, world)
        rows = table.rows()
        for r in rows:
            r["top"] = r["top_influencers"][0] if r["top_influencers"] else None
        self._community_flows = table.top_flows(2000)
        self._community_unassigned = table.unassigned
        self._community_cache = (key, [r for r in rows if r["size"] > 0])

    def _adoption_stats(self) -> dict[str, Any] | None:
        """How the selected (or first running) session spread over the communities, cached per round
        and counted in a worker thread (None until the first count is ready)."""
        sid = self.selected_session_id
        if sid is None:
            running = [s for s in self.sim.sessions if s.status == "running"]
            if not running:
                return None
            sid = running[0].id
        try:
            s = self.sim.session(sid)
        except AgoraError:
            return None
        if s.adopted_at.size != self.world.n or self.world.columns["community"].max(initial=-1) < 0:
            return None
        key = (sid, s.round, s.status, id(self.world.columns["community"]))
        cached = self._share_cache
        if cached is None or cached[0] != key:
            # Counted over every agent: off the event loop (keys wait otherwise); meanwhile the figures of
            # the session's previous round stay on screen.
            if self._share_pending != key:
                self._share_pending = key
                self.share_stats_worker(key, s)
            return cached[1] if cached is not None and cached[0][0] == sid else None
        return cached[1]

    @work(exclusive=True, group="share-stats")
    async def share_stats_worker(self, key: Any, session: Any) -> None:
        from sim.analysis.structure import session_community_stats

        world = self.world
        try:
            stats = await asyncio.to_thread(session_community_stats, world, session)
        except (AgoraError, ValueError, IndexError):
            stats = None  # the world or the session changed under it: the next refresh asks again
        finally:
            self._share_pending = None
        if stats is not None and world is self.world:
            self._share_cache = (key, stats)

    def communities_detected(self) -> bool:
        """Whether communities have been detected in this world (rather than planted or unknown)."""
        return bool((self.world.config.get("analysis") or {}).get("communities"))

    def unassigned_line(self) -> str:
        """The line under the communities table about agents in no community (empty when there are none):
        after detection they are the isolated agents, which are not communities and have no row."""
        from sim.analysis.structure import isolated_text

        n = self._community_unassigned
        cache = self._community_cache
        if not n or cache is None or not cache[1]:  # no table yet (or one being built: its rows are empty)
            return ""  # the rows are not copied here (community_rows does): this runs on every refresh
        if self.communities_detected():
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
            idx = self.world.index_of(oid)
            if j:
                t.append(", ")
            t.append_text(literal(f"{self.world.persona(idx).name} ({oid})", 60))
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


def run_app(world_path: str | None = None, plugin_dirs: list[str] | tuple[str, ...] = (), *,
            metrics_port: int | None = None, metrics_host: str = "127.0.0.1", checkpoint_every: int = 50,
            checkpoint_seconds: float | None = None) -> None:
    """Open the terminal UI on a world file (the default world when None); with ``metrics_port``, serve
    Prometheus metrics on ``/metrics`` and health on ``/healthz`` (see ``sim.engine.observe``)."""
    AgoraApp(world_path, plugin_dirs=plugin_dirs, metrics_port=metrics_port, metrics_host=metrics_host,
             checkpoint_every=checkpoint_every, checkpoint_seconds=checkpoint_seconds).run()
