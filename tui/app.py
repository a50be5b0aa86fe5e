"""The Agora terminal UI (Textual). It talks to ``sim`` only through its public API and event bus.

The simulation runs off the UI's critical path: ticks run in worker threads, the UI polls the latest
metrics about ten times a second and applies them in one batch, and only the visible view refreshes.
"""

from __future__ import annotations

import asyncio
import gc
import os
import re
from collections import deque
from collections.abc import Iterable
from typing import Any

import psutil
from rich.text import Text
from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Static

from sim.core.events import (
    Event,
    InterventionApplied,
    MessageInjected,
    PluginFailed,
    PropagationCompleted,
    PropagationFailed,
    PropagationStarted,
    RecommenderFailed,
    TickCompleted,
)
from sim.core.safe import shown
from sim.core.world import World
from sim.engine.observe import MetricsServer, Monitor
from sim.engine.simulation import Simulation
from sim.errors import AgoraError
from sim.live.controller import INTERACTIVE, WorldController, WorldSnapshot
from sim.model.intervene import entries as intervention_entries
from sim.model.registry import Registry
from sim.social.dynamics import NONE
from sim.store.create import ensure_default_world, saves_dir
from sim.store.worldfile import load_warnings
from sim.store.writer import WorldWriter

from .interventions import InterveneScreen, applied_text, scheduled_text, seed_methods, slow_method_refusal
from .messages import ChartExported, CommunitiesDetected, SnapshotLoaded, SnapshotSaved, WorkFailed, WorldOpened
from .rate import TickRate
from .recommenders import RECOMMENDER_ROLES, recommender_label
from .screens import AskScreen, HelpScreen, LoadScreen, QuitScreen, SaveScreen
from .views import (
    AgentsView,
    CommunitiesView,
    CompareView,
    DashboardView,
    MessagesView,
    PluginsView,
    file_stem,
    literal,
    show,
)
from .widgets import KeyBar, StatusHeader

VIEWS = ("dashboard", "communities", "agents", "messages", "plugins", "compare")
SPEEDS = (0.5, 1, 2, 5, 10, 20, 50, 0)  # ticks per second; 0 = as fast as possible
PLAIN_NAME = re.compile(r"[A-Za-z0-9_.\-]+")  # plugin names safe in the command palette (it parses markup)
NOTIFY_LIMIT = 600  # characters of a notification at most
#: Characters of a notification that quotes file paths at most: a path is never cut (PATH_MAX is 4096).
PATH_NOTIFY_LIMIT = 2 * 4096 + NOTIFY_LIMIT
FULL_GC_THRESHOLD = 100  # collections of the middle generation between two full ones (Python's default: 10)


#: Command palette titles (what users type to find an action) and help, where the key's short label
#: would not be found: the palette matches titles only.
PALETTE = {
    "view('dashboard')": ("View: dashboard", "Show the dashboard (metrics and charts)"),
    "view('communities')": ("View: communities", "Show the communities table"),
    "view('agents')": ("View: agents", "Show the agents view (find an agent by id or name)"),
    "view('messages')": ("View: messages", "Show the messages view (inject, sessions and their states)"),
    "view('plugins')": ("View: plugins", "Show the plugins view (models and recommenders)"),
    "view('compare')": ("View: compare sessions", "Show the sessions' reach side by side"),
    "export_chart": (
        "Export chart (PNG and SVG)",
        "Write the chart shown (Dashboard or Compare) to PNG and SVG files in the saves folder's exports",
    ),
    "dismiss_chart": ("Dismiss chart", "Take the session off the dashboard's chart (a finished one stays until then)"),
    "cascade_tree": (
        "Cascade tree of the selected session",
        "Draw the adoption tree of the session selected in the Messages view, generation by generation",
    ),
    "save": ("Save a snapshot (.snap)", "Save the world as a snapshot file in the saves folder"),
    "load": ("Load a snapshot (.snap)", "Replace the world by a snapshot from the saves folder"),
    "communities": ("Detect communities", "Find communities and rank influence (PageRank)"),
    "tick(1)": ("Tick (step one)", "Advance one tick"),
    "tick(10)": ("10 ticks (step ten)", "Advance ten ticks"),
    "inject": ("Inject a message", "Inject a message and start its propagation session"),
    "intervene": (
        "Intervene (block, counter-message, remove edges)",
        "Schedule an intervention for the next tick: block agents, start a counter-message or cut edges",
    ),
    "quit_app": ("Quit", "Quit (offers to save the world file first)"),
    "find": ("Find / filter", "Type in the current view's search or filter box"),
}


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
        # First: shown in the Messages view only, beside that view's own key (x), before the footer runs out.
        Binding("t", "cascade_tree", "Tree", tooltip="the selected session's adoption tree, generation by generation"),
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
        Binding("v", "intervene", "Intervene", tooltip="block agents, start a counter-message or cut edges"),
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

    def __init__(
        self,
        world_path: str | None = None,
        *,
        plugin_dirs: list[str] | tuple[str, ...] = (),
        world: World | None = None,
        writer_enabled: bool = True,
        metrics_port: int | None = None,
        metrics_host: str = "127.0.0.1",
        checkpoint_every: int = 50,
        checkpoint_seconds: float | None = None,
    ) -> None:
        super().__init__()
        #: While the simulation runs, checkpoint the world into its file every this many ticks (0: off) or
        #: seconds (None: off), so a crash loses at most the ticks since (see ``sim.store.check``).
        self.checkpoint_every = checkpoint_every
        self.checkpoint_seconds = checkpoint_seconds
        self.world_path = world_path
        #: Serve Prometheus metrics and health on this port (None: no server; 0: a free port).
        self.metrics_port = metrics_port
        self.metrics_host = metrics_host
        self.monitor: Any = None  # sim.observe.Monitor, when metrics are served
        self.metrics_server: Any = None  # sim.observe.MetricsServer
        self.plugin_dirs = list(plugin_dirs)
        self._initial_world = world
        self.writer_enabled = writer_enabled
        #: The live world: every engine part and every world operation is the controller's.
        self.controller: WorldController | None = None
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
        self._proc = psutil.Process()
        self.busy: str | None = None  # a long action in progress (save, load, analysis)
        self.step_requests = 0  # n and N presses acted on (agora bench tui waits for them)
        self._gc_threshold = gc.get_threshold()  # restored when the app ends
        #: InterventionApplied events seen (the charts' marks are read again after one).
        self.interventions_applied = 0
        #: Indices of the world's interventions whose application was announced (per world).
        self._announced: set[int] = set()
        self._marks_key: Any = None
        self._marks: tuple[tuple[int, str], ...] = ()

    # -- the live world (the controller's) ---------------------------------------------------------
    @property
    def sim(self) -> Simulation:
        return self.controller.sim if self.controller is not None else None  # type: ignore[return-value]

    @property
    def world(self) -> World:
        return self.controller.world if self.controller is not None else None  # type: ignore[return-value]

    @property
    def writer(self) -> WorldWriter | None:
        return self.controller.writer if self.controller is not None else None

    @property
    def registry(self) -> Registry:
        return self.controller.registry if self.controller is not None else None  # type: ignore[return-value]

    @property
    def checkpoint_failure(self) -> str | None:
        """The sentence of the last periodic checkpoint when it failed (said once; once more when one succeeds)."""
        return self.controller.checkpoint_failure if self.controller is not None else None

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
        # The writer's connection runs a non-daemon thread: always close it, however the app ends (the
        # file keeps its last checkpoint: the quit screen offered to save).
        if self.controller is not None:
            await self.controller.close(save=False)

    @work(exclusive=True, group="open")
    async def open_world_worker(self) -> None:
        try:
            if self._initial_world is None and self.world_path is None:
                self.world_path = await ensure_default_world()
            controller = await WorldController.open(
                self.world_path,
                plugin_dirs=self.plugin_dirs,
                world=self._initial_world,
                writer=self.writer_enabled,
                policy=INTERACTIVE,
                snapshots=saves_dir(),
                checkpoint_every=self.checkpoint_every,
                checkpoint_seconds=self.checkpoint_seconds,
                # The plugin folder beside the world loads only when named or trusted (plugins are code).
                tell=self._tell,
            )
        except AgoraError as exc:
            self.query_one("#loading", Static).update(literal(f"Could not open the world: {exc}", 500))
            self.notify(str(exc), severity="error", markup=False, timeout=30)
            return
        self.post_message(WorldOpened(controller))

    def _tell(self, notice: str | None) -> None:
        """Show the controller's notice about the plugin folder beside the world (None: nothing to say)."""
        if notice:
            self.notify(notice, severity="warning", markup=False, timeout=30)

    async def on_world_opened(self, message: WorldOpened) -> None:
        """The open worker's result: the live world's controller."""
        controller = self.controller = message.controller
        for warning in load_warnings(controller.world):
            self.notify(warning, severity="warning", markup=False, timeout=30)
        controller.on_replace.append(lambda _sim: self.world_attached())
        controller.on_checkpoint.append(self.checkpoint_changed)
        controller.on_error.append(
            lambda exc: self.notify(
                f"the simulation stopped: {type(exc).__name__}: {exc}", severity="error", markup=False
            )
        )
        self.world_attached()
        self.query_one("#views", ContentSwitcher).current = "dashboard"
        self.screen.refresh_bindings()
        self.refresh_ui()  # the views show the world before the app says it is ready
        self.ready.set()

    def world_attached(self) -> None:
        """A world became live (opened, or a snapshot loaded): subscribe to its events, serve its metrics,
        forget what the views computed for the previous one, and say what went wrong while opening it."""
        controller = self.controller
        if controller is None:
            return
        sim, writer = controller.sim, controller.writer
        if writer is not None:
            rec = writer.recovered
            if rec.get("events") or rec.get("exposures"):
                self.log_line(
                    f"the world file holds tick {rec['tick']}, its last checkpoint: {rec['events']:,} events and "
                    f"{rec['exposures']:,} exposures of later ticks (a run that ended without saving) were discarded"
                )
        self.tick_rate.reset()  # the rate is this world's: the previous one's ticks are not counted
        # A loaded world's applied interventions were announced when they were applied.
        self._announced = {i for i, e in enumerate(intervention_entries(controller.world)) if e.get("applied")}
        sim.bus.subscribe(self.on_sim_event)
        self.attach_monitor()
        self.registry_version += 1
        self._views["communities"].world_changed()  # type: ignore[attr-defined]
        self._views["messages"].reload_models()  # type: ignore[attr-defined]
        for entry in sim.registry.failures:
            self.log_line(f"plugin {entry.name} failed to load: {entry.error}")
        # A world may name a recommender that is not available here: it runs without it.
        for name, error in sim.social.errors.items():
            self.log_line(f"{recommender_label(name)} is off: {error}")
            self.notify(f"{recommender_label(name)} is off: {error}", severity="warning", markup=False)
        self.freeze_heap()

    def checkpoint_changed(self, failure: str | None, _tick_on_disk: int) -> None:
        """A periodic checkpoint failed (said once), or succeeded after failures."""
        if failure is not None:
            self.notify(failure, severity="error", markup=False, timeout=30)
        else:
            self.notify(
                f"the world file is checkpointed again: it holds tick {self.world.tick}", markup=False, timeout=10
            )

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
        """Serve metrics and health for the live world (the server starts with the first world; the
        controller keeps the monitor on the world a snapshot load brings)."""
        if self.metrics_port is None or self.monitor is not None:
            return
        monitor = Monitor()
        try:
            server = MetricsServer(monitor, self.metrics_host, self.metrics_port).start()
        except AgoraError as exc:
            self.metrics_port = None  # the app goes on without metrics
            self.notify(f"{exc}; Agora runs without metrics", severity="error", markup=False, timeout=15)
            return
        self.monitor, self.metrics_server = monitor, server
        self.notify(f"metrics on {server.url}/metrics, health on {server.url}/healthz", markup=False, timeout=8)
        if self.controller is not None:
            self.controller.attach_monitor(monitor)

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
            self.notify(
                f"session {event.session_id} failed: {event.error} (its traceback: the Messages view, 4)",
                severity="error",
                markup=False,
            )
        elif isinstance(event, PluginFailed):
            self.log_line(f"plugin {event.name} failed to load: {event.error}")
        elif isinstance(event, InterventionApplied):
            self.interventions_applied += 1
            text = self.applied_sentence(event)
            self.log_line(text)
            self.notify(text, markup=False, timeout=8)
        elif isinstance(event, RecommenderFailed):
            what = recommender_label(event.name)
            self.log_line(f"tick {event.tick}: {what} FAILED and was switched off: {event.error}")
            self.notify(
                f"{what} failed and was switched off: {event.error} (its traceback: the Plugins view, 5)",
                severity="error",
                markup=False,
                timeout=10,
            )

    def log_line(self, text: str) -> None:
        # Control characters are made visible; the Log widget never parses markup.
        self._views["dashboard"].log_line(shown(text, 500))  # type: ignore[attr-defined]

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: Any = "information",
        timeout: float | None = None,
        markup: bool = True,
        limit: int = NOTIFY_LIMIT,
    ) -> None:
        """Every notification of the app (and of its screens and widgets) goes out safe: control characters
        and ANSI escapes in it (an agent's name, a file name, a plugin's error) shown as visible escapes, text
        longer than ``limit`` cut (a notification quoting paths passes :data:`PATH_NOTIFY_LIMIT`: see
        :meth:`notify_paths`). Text from outside is passed with ``markup=False`` as well."""
        super().notify(
            shown(message, limit, lines=True), title=shown(title, 80), severity=severity, timeout=timeout, markup=markup
        )

    def notify_paths(
        self, what: str, paths: list[str], *, severity: Any = "information", timeout: float | None = None
    ) -> None:
        """A notification that quotes file paths: ``what`` on the first line, then each path whole on a line
        of its own (never cut; the toast is as wide as the screen allows, see ``CSS``), shown literally."""
        self.notify(
            "\n".join([what, *paths]), severity=severity, timeout=timeout, markup=False, limit=PATH_NOTIFY_LIMIT
        )

    # -- polling ----------------------------------------------------------------------------------
    def sample_resources(self) -> None:
        self.rss_mb = self._proc.memory_info().rss / 2**20
        self.cpu_percent = self._proc.cpu_percent(interval=None)
        self.rss_history.append(self.rss_mb)
        self.rss_samples += 1

    @property
    def ticking(self) -> bool:
        """Whether ticks are under way: the run goes (or its last tick is ending after a pause), or n/N steps."""
        return self.controller is not None and self.controller.ticking

    def rate_text(self) -> str:
        """The measured tick rate, as the header and the dashboard both show it (one computation; see
        :class:`tui.rate.TickRate`): ``"9.8 t/s"`` while ticks are under way; paused, ``"0.0 t/s"`` and
        the rate the run had when it stopped (``"0.0 t/s (was 9.8)"``)."""
        if self.ticking:
            return f"{self.tick_rate.rate():.1f} t/s"
        if self.tick_rate.ticks >= 2:
            return f"0.0 t/s (was {self.tick_rate.last_rate():.1f})"
        return "0.0 t/s"

    def world_snapshot(self) -> WorldSnapshot:
        """The controller's snapshot of what the screens show (built once per tick)."""
        return self.controller.snapshot()  # type: ignore[union-attr]

    def refresh_ui(self) -> None:
        if self.controller is None or self._exit_renderables or not self._switcher.is_attached:
            return
        try:
            with self.batch_update():
                # One reading of the rate and one snapshot for the header and the view: they never disagree.
                self.shown_rate = self.rate_text()
                snapshot = self.world_snapshot()
                show(self._status, self.header_text(self.shown_rate, snapshot))
                current = self._switcher.current
                if current in VIEWS:
                    self._views[current].refresh_view()  # type: ignore[attr-defined]
        except NoMatches:
            pass  # widgets are being torn down (the app is closing)

    def header_text(self, rate: str | None = None, snapshot: WorldSnapshot | None = None) -> Text:
        """The header line (:meth:`StatusHeader.line`); ``rate`` is the tick rate as the refresh read it
        (None: read it now), ``snapshot`` the world's as the refresh read it (None: the latest)."""
        return StatusHeader.line(
            snapshot if snapshot is not None else self.world_snapshot(),
            self.world.config,
            self.sim.llm,
            busy=self.busy,
            pace=SPEEDS[self.speed_index],
            rate=self.rate_text() if rate is None else rate,
        )

    @property
    def sim_running(self) -> bool:
        return self.controller is not None and self.controller.running

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
        elif name == "agents":
            # One opens it to find an agent: what is typed (an id: digits) goes into its search box, not to
            # the view keys; escape gives the keys back, / returns to the box.
            self._views["agents"].query_one(self.FIND_BOXES["agents"]).focus()
        self.screen.refresh_bindings()  # the Agents view's key (a) shows only there
        self.refresh_ui()

    #: The box ``/`` focuses in each view that has one.
    FIND_BOXES = {"agents": "#agent-query", "communities": "#comm-filter", "messages": "#msg-text"}

    def action_find(self) -> None:
        """Focus the current view's search or filter box (``/``), so that typing (digits too) goes there."""
        if self.sim is None:
            return
        current = self._switcher.current or ""
        box = self.FIND_BOXES.get(current)
        if box is None:
            self.notify(
                "this view has no search box: / works in Communities (2), Agents (3) and Messages (4)", markup=False
            )
            return
        self._views[current].query_one(box).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "ask":
            # Shown and active in the Agents view only (the command palette reaches it from anywhere).
            return self.sim is not None and self._switcher.current == "agents"
        if action == "cascade_tree":
            # The Messages view's key (its sessions); the palette reaches it from anywhere.
            return self.sim is not None and self._switcher.current == "messages"
        if action in ("export_chart", "dismiss_chart"):
            # Keys of the views with charts (x is the Messages view's cancel there); the palette reaches them anywhere.
            views = ("dashboard", "compare") if action == "export_chart" else ("dashboard",)
            return self.sim is not None and self._switcher.current in views
        return True

    def action_toggle_run(self) -> None:
        if self.controller is None:
            return
        if self.controller.running:
            self.control_worker(self.controller.pause())
        else:
            self.control_worker(self.controller.run(SPEEDS[self.speed_index] or None))
        self.refresh_ui()

    @work(group="control")
    async def control_worker(self, call: Any) -> None:
        """Run, pause or step through the controller; a refusal (a bad state, a full disk) is a notification."""
        try:
            await call
        except AgoraError as exc:
            self.notify(str(exc), severity="error", markup=False)
        self.refresh_ui()

    async def action_tick(self, count: int) -> None:
        if self.controller is None:
            return
        self.step_requests += 1
        self.step_ticks(count)

    @work(group="step")
    async def step_ticks(self, count: int) -> None:
        controller = self.controller
        if controller is None:
            return
        controller.stepping += 1  # ticking from the key press on (the header's rate), until the steps end
        try:
            if controller.loop_alive:
                await controller.pause()  # n and N pause a run, then step
            await controller.step(count)
        except AgoraError as exc:
            self.notify(str(exc), severity="error", markup=False)
        finally:
            controller.stepping -= 1
        self.refresh_ui()

    def action_faster(self) -> None:
        self.speed_index = min(len(SPEEDS) - 1, self.speed_index + 1)
        if self.controller is not None:
            self.controller.set_pace(SPEEDS[self.speed_index] or None)
        self.refresh_ui()

    def action_slower(self) -> None:
        self.speed_index = max(0, self.speed_index - 1)
        if self.controller is not None:
            self.controller.set_pace(SPEEDS[self.speed_index] or None)
        self.refresh_ui()

    def action_inject(self) -> None:
        if self.sim is None:
            return
        self.action_view("messages")
        self._views["messages"].query_one("#msg-text").focus()

    # -- interventions ----------------------------------------------------------------------------
    def action_intervene(self) -> None:
        """Ask for an intervention (a modal) and schedule it for the next tick (or TICKS from now)."""
        controller = self.controller
        if controller is None:
            return
        self.push_screen(
            InterveneScreen(
                self.world.tick, seed_methods(self.registry), self.schedule_intervention, controller.interventions
            )
        )

    def schedule_intervention(self, action: str) -> str | None:
        """Schedule ``action`` through the controller and say so (a notification and the log). A refusal
        (a malformed action, one this world cannot carry out, a seed method that may take minutes) is an
        error notification and changes nothing.

        Returns:
            None when scheduled, else the sentence that refused it.
        """
        if self.controller is None:
            return "no world is open yet"
        refusal = slow_method_refusal(action, self.registry)
        try:
            if refusal is not None:
                raise AgoraError(refusal)
            entry = self.controller.intervene_now(action)  # audited there
        except AgoraError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return str(exc)
        text = scheduled_text(entry, self.world.tick)
        self.notify(text, markup=False)
        self.log_line(text)
        self.refresh_ui()
        return None

    def applied_sentence(self, event: InterventionApplied) -> str:
        """What the intervention of ``event`` did (from the world's entry), said once per entry."""
        entries = self.controller.interventions() if self.controller is not None else []
        for i, entry in enumerate(entries):
            if i in self._announced or not entry.get("applied"):
                continue
            if int(entry.get("tick", -1)) == event.tick and entry.get("spec") == event.spec:
                self._announced.add(i)
                return applied_text(entry)
        return f"intervention applied at tick {event.tick:,}: {shown(event.spec, 80)}"

    def applied_interventions(self) -> tuple[tuple[int, str], ...]:
        """The world's applied interventions as ``(tick, spec)``, in the order given: the charts' marks.
        Read again only when the world, its list, its tick or the interventions applied changed."""
        controller = self.controller
        if controller is None:
            return ()
        world = controller.world
        listed = intervention_entries(world)
        if not listed:
            return ()
        key = (id(world), len(listed), world.tick, self.interventions_applied)
        if key != self._marks_key:
            self._marks_key = key
            self._marks = tuple(
                (int(e.get("tick", e.get("at", 0))), str(e.get("spec", "")))
                for e in controller.interventions()
                if e.get("applied")
            )
        return self._marks

    async def set_recommender(self, role: str, name: str) -> bool:
        """Make ``name`` (or ``"none"``) the world's feed or friend recommender, keep the choice in
        ``world.config["social"]`` and confirm with a notification; an error is a notification too.

        Args:
            role: ``"feed"`` (the content recommender building the feeds) or ``"friend"``.
            name: a registered recommender of that kind, or ``"none"`` to turn it off.

        Returns:
            Whether the setting changed.
        """
        controller = self.controller
        if controller is None:
            return False
        setting, _kind, words = RECOMMENDER_ROLES[role]
        try:
            before, after = await controller.configure_social(setting, name)  # audited there
        except AgoraError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return False
        except Exception as exc:  # noqa: BLE001 - a plugin's constructor raised: settings are unchanged
            self.notify(f"{words} {name} could not start: {type(exc).__name__}: {exc}", severity="error", markup=False)
            return False
        text = (
            f"{words}: off (was {before})"
            if after == NONE
            else f"{words}: {after}" + (f" (was {before})" if before != after else "")
        )
        self.notify(text, markup=False)
        self.log_line(f"tick {self.world.tick}: {text}")
        self.refresh_ui()
        return True

    def action_leave_field(self) -> None:
        """Escape leaves a text field, so the single-key controls work again."""
        self.screen.set_focus(None)

    def action_ask(self) -> None:
        """Interview the agent the Agents view shows (or its highlighted follower/followee): a modal asks
        for the question and shows the answer; the LLM call runs in a worker."""
        controller = self.controller
        if controller is None:
            return
        if self._switcher.current != "agents":
            self.action_view("agents")
        idx = self._views["agents"].target_agent()  # type: ignore[attr-defined]
        if idx is None:
            self.notify(
                "find an agent first (type an id or a name in the Agents view), then press a to ask them",
                severity="warning",
                markup=False,
            )
            return
        world, llm = controller.world, controller.sim.llm
        label = f"{world.persona(idx).name} (id {int(world.columns['ids'][idx])})"

        async def ask(question: str) -> Any:
            return await controller.interview(idx, question)  # audited there

        def answered(question: str, result: Any) -> None:
            self.log_line(f"tick {world.tick}: asked {label}: {question} (answered: {result.source})")
            if result.source == "offline" and llm.online:
                self.notify(
                    f"the LLM did not answer ({result.reason or 'unknown reason'}): the offline generator did",
                    severity="warning",
                    markup=False,
                )
            self.refresh_ui()

        self.push_screen(AskScreen(literal(label, 60).plain, ask, answered))

    def action_dismiss_chart(self) -> None:
        """Take the session off the dashboard's chart (a finished session stays there until then)."""
        if self.sim is not None:
            self._views["dashboard"].dismiss_chart_said()  # type: ignore[attr-defined]

    def action_cascade_tree(self) -> None:
        """Draw the selected session's adoption tree in a screen of its own (t in the Messages view)."""
        if self.sim is None:
            return
        if self._switcher.current != "messages":
            self.action_view("messages")
        self._views["messages"].open_tree()  # type: ignore[attr-defined]

    def action_export_chart(self) -> None:
        """Write the chart shown (Dashboard or Compare) to PNG and SVG in the saves folder's ``exports``."""
        if self.sim is not None:
            view = self._views["compare" if self._switcher.current == "compare" else "dashboard"]
            view.export_chart()  # type: ignore[attr-defined]

    def on_chart_exported(self, message: ChartExported) -> None:
        self.notify_paths("chart exported (PNG and SVG):", message.paths)

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
        controller = self.controller
        if controller is None:
            return
        folder = saves_dir()
        os.makedirs(folder, exist_ok=True)
        base = os.path.basename(name)
        path = os.path.join(folder, base if base.endswith(".snap") else base + ".snap")
        self.busy = "saving"  # until the result is applied (a message)
        try:
            saved = await controller.save_snapshot_file(path)  # audited there
        except AgoraError as exc:
            self.post_message(WorkFailed(str(exc)))
        except OSError as exc:
            self.post_message(
                WorkFailed(f"could not save the snapshot ({exc.strerror}); the previous one is intact:", paths=[path])
            )
        else:
            self.post_message(SnapshotSaved(path, saved["tick"], saved["size_bytes"]))

    def on_snapshot_saved(self, message: SnapshotSaved) -> None:
        self.busy = None
        self.notify_paths(
            f"snapshot saved at tick {message.tick} ({message.size_bytes / 2**20:.1f} MB):", [message.path]
        )

    def on_work_failed(self, message: WorkFailed) -> None:
        if message.busy:
            self.busy = None
        if message.paths:
            self.notify_paths(message.text, message.paths, severity="error", timeout=message.timeout)
        else:
            self.notify(message.text, severity="error", markup=False, timeout=message.timeout, limit=PATH_NOTIFY_LIMIT)

    def action_load(self) -> None:
        if self.sim is None or self.busy:
            return
        self.push_screen(LoadScreen(saves_dir()), self._load_chosen)

    def _load_chosen(self, path: str | None) -> None:
        if path:
            self.load_worker(path)

    @work(exclusive=True, group="io")
    async def load_worker(self, path: str) -> None:
        controller = self.controller
        if controller is None:
            return
        self.busy = "loading"  # until the result is applied (a message)
        try:
            # Read and validate completely before anything live is touched; the run goes on if it ran.
            loaded = await controller.load_snapshot_file(path)  # audited there; world_attached follows
        except AgoraError as exc:
            self.post_message(WorkFailed(str(exc), timeout=10))
        else:
            self.post_message(SnapshotLoaded(path, loaded["tick"]))

    def on_snapshot_loaded(self, message: SnapshotLoaded) -> None:
        self.busy = None
        for warning in load_warnings(self.world):  # what the snapshot named and Agora ignored
            self.notify(warning, severity="warning", markup=False, timeout=30)
        self.notify_paths(f"snapshot loaded (tick {message.tick}):", [message.path])

    def action_communities(self) -> None:
        if self.sim is None or self.busy:
            return
        self.analysis_worker()

    @work(exclusive=True, group="analysis", thread=False)
    async def analysis_worker(self) -> None:
        controller = self.controller
        if controller is None:
            return
        self.busy = "detecting communities"  # until the result is applied (a message)
        try:
            result = await controller.analyse()  # audited there
        except AgoraError as exc:
            self.post_message(WorkFailed(str(exc)))
        else:
            self.post_message(CommunitiesDetected(result["line"], result["ids"]))

    def on_communities_detected(self, message: CommunitiesDetected) -> None:
        self.busy = None
        self._views["communities"].world_changed()  # type: ignore[attr-defined]
        self.notify(message.line, markup=False)
        self.log_line(f"{message.line} · {message.ids}")

    def action_reload_plugins(self) -> None:
        if self.controller is None:
            return
        failures = self.controller.reload_plugins()  # audited there
        self.registry_version += 1
        self._views["messages"].reload_models()  # type: ignore[attr-defined]
        self._views["plugins"].refresh_view()  # type: ignore[attr-defined]
        if failures:
            self.notify(
                f"plugins reloaded; {len(failures)} failed to load (see the Plugins view)",
                severity="warning",
                markup=False,
            )
        else:
            self.notify("plugins reloaded", markup=False)

    def action_quit_app(self) -> None:
        controller = self.controller
        if controller is not None and controller.sim.dirty and controller.world.path:
            self.push_screen(
                QuitScreen(os.path.basename(controller.world.path), controller.disk_tick), self._quit_chosen
            )
        else:
            self.shutdown_worker(save=False)

    def _quit_chosen(self, choice: str | None) -> None:
        if choice in ("save", "discard"):
            self.shutdown_worker(save=choice == "save")

    @work(exclusive=True, group="io")
    async def shutdown_worker(self, save: bool) -> None:
        controller = self.controller
        if controller is not None:
            await controller.stop()
            if save:
                self.busy = "saving"
                try:
                    await controller.checkpoint()
                except AgoraError as exc:  # a full disk: say so and stay, the world still in memory
                    self.notify(str(exc), severity="error", markup=False, timeout=30)
                    self.busy = None
                    return
            await controller.close(save=False)
        self.exit()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for binding in self.BINDINGS:
            b = binding if isinstance(binding, Binding) else Binding(*binding)
            action = b.action
            if action == "ask":  # its key works in the Agents view only; from the palette, anywhere
                yield SystemCommand(
                    "Ask an agent", "Interview the agent shown in the Agents view (key: a there)", self.action_ask
                )
                continue
            if action in ("export_chart", "dismiss_chart", "cascade_tree"):  # likewise: keys of one or two views
                title, words = PALETTE[action]
                yield SystemCommand(title, f"{words} (key: {b.key})", getattr(self, f"action_{action}"))
                continue
            title, words = PALETTE.get(action, (b.description, b.description))
            yield SystemCommand(
                title, f"{words} (key: {b.key.split(',')[0]})", lambda action=action: self.run_action(action)
            )
        yield SystemCommand("Reload plugins", "Re-import user plugins without a restart", self.action_reload_plugins)
        yield SystemCommand(
            "Use for feeds",
            "Make the content recommender highlighted in the Plugins view the world's "
            "feed recommender; again: off (key: f)",
            lambda: self.use_highlighted("feed"),
        )
        yield SystemCommand(
            "Use for friends",
            "Make the friend recommender highlighted in the Plugins view the world's "
            "friend recommender; again: off (key: w)",
            lambda: self.use_highlighted("friend"),
        )
        if self.registry is not None:
            for role, (_setting, kind, words) in RECOMMENDER_ROLES.items():
                for name in [NONE] + [e.name for e in self.registry.list(kind) if not e.error]:
                    # The palette parses titles as markup: a plugin name that could be read as markup is
                    # left out here (f and w in the Plugins view still reach it).
                    if PLAIN_NAME.fullmatch(name):
                        yield SystemCommand(
                            f"{words.capitalize()}: {name}",
                            f"Make {name} the world's {words}",
                            lambda role=role, name=name: self.run_worker(self.set_recommender(role, name)),
                        )

    def use_highlighted(self, role: str) -> None:
        """Show the Plugins view and apply its highlighted recommender to ``role`` (the f / w keys)."""
        if self.sim is None:
            return
        self.action_view("plugins")
        self.run_worker(self._views["plugins"].use_highlighted(role))  # type: ignore[attr-defined]


def run_app(
    world_path: str | None = None,
    plugin_dirs: list[str] | tuple[str, ...] = (),
    *,
    metrics_port: int | None = None,
    metrics_host: str = "127.0.0.1",
    checkpoint_every: int = 50,
    checkpoint_seconds: float | None = None,
) -> None:
    """Open the terminal UI on a world file (the default world when None); with ``metrics_port``, serve
    Prometheus metrics on ``/metrics`` and health on ``/healthz`` (see ``sim.engine.observe``)."""
    AgoraApp(
        world_path,
        plugin_dirs=plugin_dirs,
        metrics_port=metrics_port,
        metrics_host=metrics_host,
        checkpoint_every=checkpoint_every,
        checkpoint_seconds=checkpoint_seconds,
    ).run()
