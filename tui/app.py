"""The Agora terminal UI (Textual). It talks to ``sim`` only through its public API and event bus.

The simulation runs off the UI's critical path: ticks run in worker threads, the UI polls the latest
metrics about ten times a second and applies them in one batch, and only the visible view refreshes (from a
frozen snapshot of what it shows, see ``tui.views``).

The app is keys, layout and refresh; its parts are rooms of their own: the world's link (``tui.world``),
running and pacing (``tui.pace``), snapshots and quitting (``tui.files``), interventions
(``tui.interventions``), injection (``tui.inject``), plugins and recommenders (``tui.plugin_actions``), the
analysis (``tui.analysis``), forecasts (``tui.forecast``), interviews (``tui.interview``), notifications
(``tui.notices``), the process's resources (``tui.resources``) and the command palette (``tui.palette``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from rich.text import Text
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.scrollbar import ScrollBar
from textual.widgets import ContentSwitcher, Static

from sim.live.controller import WorldController, WorldSnapshot
from sim.live.frontend import FrontEndOptions, shown
from sim.live.views import WorldViews

from .analysis import Analysis
from .files import FileActions
from .forecast import Forecasting
from .grouping import Grouping
from .inject import Injection
from .interventions import Interventions
from .interview import Interview
from .notices import NOTIFY_LIMIT, PATH_NOTIFY_LIMIT, Notices
from .observed import Observing
from .pace import SPEEDS, Pace
from .palette import PALETTE, key_commands, plugin_commands
from .plugin_actions import PluginActions
from .rate import TickRate
from .replay import Replaying
from .resources import Resources
from .screens import HelpScreen
from .settings import Settings
from .studies import Studying
from .views import VIEWS as VIEW_TABLE
from .views import (
    View,
    ViewSet,
    show,
)
from .widgets import KeyBar, StatusHeader, WholeCellScrollBar
from .world import FULL_GC_THRESHOLD, WorldLink

if TYPE_CHECKING:  # pragma: no cover - names for annotations only
    from sim.live.frontend import MetricsServer, Registry, Simulation, World, WorldWriter

VIEWS = ViewSet.NAMES


def _view_keys(group: Binding.Group) -> list[Binding]:
    """The key of each view (1-6), from the views' table."""
    return [
        Binding(view.key, f"view('{view.name}')", view.label, group=group, id=f"view_{view.name}")
        for view in VIEW_TABLE
    ]


T = TypeVar("T")


class Live(Generic[T]):
    """A read-only attribute of the app that is one of its controller's (None before a world is open) or of
    one of its parts: ``app.sim`` is ``app.controller.sim``, ``app.metrics_server`` ``app.link.metrics_server``."""

    def __init__(self, owner: str, name: str, default: T | None = None) -> None:
        self.owner, self.name, self.default = owner, name, default

    def __get__(self, app: object, _cls: type | None = None) -> T | None:
        part = getattr(app, self.owner, None)
        if part is None:
            return self.default
        for name in self.name.split("."):  # a part's part: "checkpoints.failure"
            part = getattr(part, name)
        value: T = part
        return value


class MainScreen(Screen[None]):
    """The app's screen under its views. It focuses nothing by itself: Textual's screens focus their first
    focusable widget whenever they come back with nothing focused, which put the keys in a hidden view's
    widget after every dialog. Closing a dialog gives the keys back to the widget that had them (none: the
    app's keys)."""

    AUTO_FOCUS = ""


class AgoraApp(App[None]):
    """Watch a world live, inject messages, step, inspect, save and load."""

    TITLE = "Agora"
    CSS = """
    #views { height: 1fr; }
    #loading { padding: 1 2; }
    /* Notifications as wide as their longest line allows (up to most of the screen), so a path they
       quote is on one line where the terminal is wide enough (Textual's are 60 columns). */
    Toast { width: auto; min-width: 60; max-width: 85%; }
    /* Scrollbars one column wide, their thumb whole cells (tui.widgets.WholeCellScrollBar). */
    * { scrollbar-size-vertical: 1; }
    """
    _VIEWS_GROUP = Binding.Group("views", compact=True)
    _SPEED_GROUP = Binding.Group("speed", compact=True)
    _STEP_GROUP = Binding.Group("step 1/10", compact=True)
    BINDINGS = [
        # First: shown in the Messages view only, beside that view's own key (x), before the footer runs out.
        Binding(
            "t",
            "cascade_tree",
            "Tree",
            tooltip="the selected session's adoption tree, generation by generation",
            id="tree",
        ),
        *_view_keys(_VIEWS_GROUP),
        Binding("space", "toggle_run", "Run/Pause", id="run"),
        Binding("n", "tick(1)", "Tick", group=_STEP_GROUP, id="tick"),
        Binding("N,shift+n", "tick(10)", "10 ticks", group=_STEP_GROUP, id="ticks10"),
        Binding("plus,equals_sign", "speed(1)", "Faster", group=_SPEED_GROUP, id="faster"),
        Binding("minus", "speed(-1)", "Slower", group=_SPEED_GROUP, id="slower"),
        Binding("i", "inject", "Inject", id="inject"),
        Binding(
            "v", "intervene", "Intervene", tooltip="block agents, start a counter-message or cut edges", id="intervene"
        ),
        Binding("s", "save", "Save", id="save"),
        Binding("l", "load", "Load", id="load"),
        Binding("c", "communities", "Communities", id="communities"),
        Binding("a", "ask", "Ask", tooltip="ask the agent shown in the Agents view a question", id="ask"),
        Binding(
            "e",
            "export_chart",
            "Export",
            tooltip="write the chart shown to PNG and SVG, its numbers to JSON (saves/exports)",
            id="export",
        ),
        Binding("x", "dismiss_chart", "Dismiss", tooltip="take the session off the chart (Dashboard)", id="dismiss"),
        # After the views' own keys: the footer is full on 80 to 150 columns (the palette and help have it).
        Binding(
            "f",
            "forecast",
            "Forecast",
            tooltip="branch the present: each arm's band of reach ahead of now",
            id="forecast",
        ),
        Binding(
            "o",
            "form('observed')",
            "Observed",
            tooltip="draw an observed series (a file) on the session chart",
            id="observed",
        ),
        Binding(
            "g",
            "form('group')",
            "Group",
            tooltip="the session chart's new infections by layer or group",
            show=False,
            id="group",
        ),
        Binding("r", "form('rt')", "Rt", tooltip="R over time of an observed curve (agora rt)", show=False, id="rt"),
        Binding(
            "F,shift+f", "form('fit')", "Fit", tooltip="fit a model to observed data (agora fit)", show=False, id="fit"
        ),
        Binding(
            "b",
            "form('backtest')",
            "Backtest",
            tooltip="backtest forecasts on observed data",
            show=False,
            id="backtest",
        ),
        Binding(
            "p",
            "form('replay')",
            "Replay",
            tooltip="replay a session that has ended, at any tick of its run",
            show=False,
            id="replay",
        ),
        Binding(
            "K,shift+k",
            "form('cancel')",
            "Cancel study",
            tooltip="cancel the running study",
            show=False,
            id="cancel_study",
        ),
        Binding("slash", "find", "Find", show=False, id="find"),  # in the help and the palette; the footer is full
        Binding("question_mark", "help", "Help", id="help"),
        Binding("q", "quit", "Quit", id="quit"),
        Binding("escape", "leave_field", "Leave field", show=False),
    ]

    #: The box ``/`` focuses in each view that has one.
    FIND_BOXES = {view.name: view.find for view in VIEW_TABLE if view.find}

    # The live world's parts, as scripts and tests name them.
    sim: Live[Simulation] = Live("controller", "sim")
    world: Live[World] = Live("controller", "world")
    writer: Live[WorldWriter] = Live("controller", "writer")
    registry: Live[Registry] = Live("controller", "registry")
    #: The sentence of the last periodic checkpoint when it failed (said once; once more when one succeeds).
    checkpoint_failure: Live[str] = Live("controller", "checkpoints.failure")
    #: Whether ticks are under way (the run goes, or its last tick is ending after a pause, or n/N steps).
    ticking: Live[bool] = Live("controller", "ticking", False)
    sim_running: Live[bool] = Live("controller", "running", False)
    metrics_server: Live[MetricsServer] = Live("link", "metrics_server")

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
        llm: Mapping[str, object] | None = None,
    ) -> None:
        """
        Args:
            world_path: the world file (None: the default world in the saves folder).
            plugin_dirs: folders of user plugins to load.
            world: a world already in memory to drive instead (``writer_enabled=False``: no file written).
            metrics_port: serve Prometheus metrics and health on this port (None: no server; 0: a free port).
            metrics_host: the address the metrics server listens on.
            checkpoint_every: while the simulation runs, checkpoint the world into its file every this many
                ticks (0: off) or ``checkpoint_seconds`` (None: off), so a crash loses at most the ticks since.
            llm: LLM settings while it is open (``--llm``; ``local``: the local model, served until it closes).
        """
        super().__init__()
        ScrollBar.renderer = WholeCellScrollBar  # Textual's documented hook (its class attribute)
        #: The live world: every engine part and every world operation is the controller's.
        self.controller: WorldController | None = None
        #: What the views show of it.
        self.live: WorldViews | None = None
        self.ready = asyncio.Event()
        self.speed_index = SPEEDS.index(10)
        self.selected_session_id: int | None = None
        #: Tick completion times: the measured rate the header and the dashboard show (``pace.rate_text``).
        self.tick_rate = TickRate()
        #: The rate as shown by the latest refresh (header and dashboard read this one value).
        self.shown_rate = ""
        self.busy: str | None = None  # a long action in progress (save, load, analysis)
        self.step_requests = 0  # n and N presses acted on (agora bench tui waits for them)
        self.resources = Resources()
        self.notices = Notices(self)
        self.pace = Pace(self)
        self.files = FileActions(self)
        self.interventions = Interventions(self)
        self.injection = Injection(self)
        self.plugin_actions = PluginActions(self)
        self.analysis = Analysis(self)
        self.interview = Interview(self)
        self.forecasting = Forecasting(self)
        self.observing = Observing(self)
        self.grouping = Grouping(self)
        self.studying = Studying(self)
        self.replaying = Replaying(self)
        self.settings = Settings(self, self.BINDINGS)
        options = FrontEndOptions(
            world_path,
            list(plugin_dirs),
            world,
            writer_enabled,
            metrics_port,
            metrics_host,
            checkpoint_every,
            checkpoint_seconds,
            llm,
        )
        self.link = WorldLink(self, options, self.interventions, self.pace)
        # What the views, the palette and scripts call by the app's name.
        self.applied_interventions: Callable[[], tuple[tuple[int, str], ...]] = self.interventions.marks
        self.set_recommender = self.plugin_actions.set_recommender
        self.sample_resources = self.resources.sample

    # -- layout -----------------------------------------------------------------------------------
    def get_default_screen(self) -> Screen[Any]:
        return MainScreen(id="_default")

    def compose(self) -> ComposeResult:
        yield StatusHeader("Agora — opening the world…", id="status", markup=False)
        with ContentSwitcher(initial="loading", id="views"):
            yield Static("Opening the world…", id="loading", markup=False)
            for view in VIEW_TABLE:
                yield view.cls(id=view.name)
        yield KeyBar(id="keys")

    async def on_mount(self) -> None:
        # Kept so the timers reach them while a modal screen is on top.
        self._status = self.query_one("#status", StatusHeader)
        self._switcher = self.query_one("#views", ContentSwitcher)
        self.views = ViewSet.mounted(self._switcher, self.query_one("#loading", Static), self.query_one)
        self._views: dict[str, View] = self.views.by_name()
        self.settings.apply()  # the theme and keys the user kept (tui.toml)
        self.link.open()
        self.set_interval(0.1, self.refresh_ui)
        self.set_interval(1.0, self.resources.sample)

    async def on_unmount(self) -> None:
        await self.link.close()

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
        :meth:`tui.notices.Notices.paths`). Text from outside is passed with ``markup=False`` as well."""
        super().notify(
            shown(message, limit, lines=True), title=shown(title, 80), severity=severity, timeout=timeout, markup=markup
        )

    # -- polling ----------------------------------------------------------------------------------
    def refresh_ui(self) -> None:
        """Redraw the header and the view shown from the world as it is now (ten times a second)."""
        live = self.live
        if live is None or self._exit_renderables or not self._switcher.is_attached:
            return
        try:
            with self.batch_update():
                # One reading of the rate and one snapshot for the header and the view: they never disagree.
                self.shown_rate = self.pace.rate_text()
                snapshot = live.snapshot()
                show(self._status, self.header_text(self.shown_rate, snapshot))
                current = self._switcher.current
                if current in VIEWS:
                    self._views[current].refresh_view()
        except NoMatches:
            pass  # widgets are being torn down (the app is closing)

    def header_text(self, rate: str | None = None, snapshot: WorldSnapshot | None = None) -> Text:
        """The header line (:meth:`StatusHeader.line`); ``rate`` is the tick rate as the refresh read it
        (None: read it now), ``snapshot`` the world's as the refresh read it (None: the latest)."""
        if self.live is None:
            return Text("")
        progress = (self.forecasting.progress_text(), self.studying.progress_text())
        busy = " · ".join(b for b in (self.busy, *progress) if b) or None
        return StatusHeader.line(
            self.live.header(snapshot),
            busy=busy,
            pace=self.pace.pace,
            rate=self.pace.rate_text() if rate is None else rate,
        )

    # -- actions ----------------------------------------------------------------------------------
    def action_view(self, name: str) -> None:
        if self.controller is None:
            return
        self._switcher.current = name
        view = self._views[name]
        if self.screen.focused is not None and view not in self.screen.focused.ancestors:
            # A hidden view's widget keeps the focus otherwise, and with it its keys and footer hints.
            self.screen.set_focus(None)
        focus = next(entry.focus for entry in VIEW_TABLE if entry.name == name)
        if focus is not None:  # the view's own keys act on it (Plugins), or one opens it to type (Agents)
            view.query_one(focus).focus()
        self.screen.refresh_bindings()  # the Agents view's key (a) shows only there
        self.refresh_ui()

    def action_find(self) -> None:
        """Focus the current view's search or filter box (``/``), so that typing (digits too) goes there."""
        if self.controller is None:
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
        current = self._switcher.current if self.controller is not None else None
        if action == "ask":
            # Shown and active in the Agents view only (the command palette reaches it from anywhere).
            return current == "agents"
        if action == "cascade_tree":
            # The Messages view's key (its sessions); the palette reaches it from anywhere.
            return current == "messages"
        if action in ("export_chart", "dismiss_chart"):
            # Keys of the views with charts (x is the Messages view's cancel there); the palette reaches them anywhere.
            return current in (("dashboard", "compare") if action == "export_chart" else ("dashboard",))
        return True

    def action_toggle_run(self) -> None:
        self.pace.toggle()

    def action_tick(self, count: int) -> None:
        self.pace.tick(count)

    def action_speed(self, step: int) -> None:
        """Faster (+1) or slower (-1): the next pace of ``tui.pace.SPEEDS``."""
        self.pace.change(step)

    def action_inject(self) -> None:
        if self.controller is None:
            return
        self.action_view("messages")
        self.views.messages.query_one("#msg-text").focus()

    def action_intervene(self) -> None:
        """Ask for an intervention (a modal) and schedule it for the next tick (or TICKS from now)."""
        self.interventions.ask()

    def action_forecast(self) -> None:
        """Ask for a forecast of the running session (a modal) and run it in a worker (``tui.forecast``)."""
        self.forecasting.ask()

    def action_form(self, kind: str) -> None:
        """Ask for what a form does: the Dashboard's session chart against an observed series (``observed``,
        ``tui.observed``) or by group (``group``, ``tui.grouping``); Rt, a fit or a backtest of observed data beside
        the world (``rt``, ``fit``, ``backtest``: ``tui.studies``); ``cancel`` stops the running study; ``replay``
        asks which ended session to replay (``tui.replay``)."""
        if self.controller is None:
            return
        if kind in ("observed", "group") and self._switcher.current != "dashboard":
            self.action_view("dashboard")
        if kind == "observed":
            self.observing.ask()
        elif kind == "group":
            self.grouping.ask()
        elif kind == "cancel":
            self.studying.cancel()
        elif kind == "replay":
            self.replaying.ask()
        else:
            self.studying.ask(kind)

    def action_leave_field(self) -> None:
        """Escape leaves a text field, so the single-key controls work again."""
        self.screen.set_focus(None)

    def action_ask(self) -> None:
        """Interview the agent the Agents view shows (or its highlighted follower/followee)."""
        self.interview.ask()

    def action_dismiss_chart(self) -> None:
        """Take the session off the dashboard's chart (a finished session stays there until then)."""
        if self.controller is not None:
            self.views.dashboard.dismiss_chart_said()

    def action_cascade_tree(self) -> None:
        """Draw the selected session's adoption tree in a screen of its own (t in the Messages view)."""
        if self.controller is None:
            return
        if self._switcher.current != "messages":
            self.action_view("messages")
        self.views.messages.open_tree()

    def action_export_chart(self) -> None:
        """Write the chart shown (Dashboard or Compare) to PNG and SVG in the saves folder's ``exports``."""
        if self.controller is not None:
            view = self.views.compare if self._switcher.current == "compare" else self.views.dashboard
            view.export_chart()

    def action_help(self) -> None:
        # Built once and kept: composing the help again on every ? took most of the key's time.
        # The keys as bound now: built again when the keymap changed.
        keys = tuple(sorted(self.settings.keys.items()))
        if self.is_screen_installed("help") and getattr(self, "_help_keys", None) != keys:
            self.uninstall_screen("help")
        if not self.is_screen_installed("help"):
            self.install_screen(HelpScreen(self.settings.shown_key), "help")
            self._help_keys = keys
        self.push_screen("help")

    def action_save(self) -> None:
        self.files.save()

    def action_load(self) -> None:
        self.files.load()

    def action_communities(self) -> None:
        self.analysis.detect()

    async def action_quit(self) -> None:
        """Quit, offering to save unsaved changes first: q, and Textual's own quit key (ctrl+q, which ctrl+c
        points to), which quit at once, unsaved changes and all, before it was this action."""
        self.files.quit()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        # Textual's "Quit" is left out: the palette's one Quit is q's, which offers to save first.
        yield from (c for c in super().get_system_commands(screen) if c.title != "Quit")
        yield from key_commands(
            self,
            self.BINDINGS,
            {
                "ask": self.action_ask,
                "export_chart": self.action_export_chart,
                "dismiss_chart": self.action_dismiss_chart,
                "cascade_tree": self.action_cascade_tree,
            },
        )
        yield from self.settings.commands()
        yield from plugin_commands(
            self,
            self.registry,
            self.plugin_actions.reload,
            self.plugin_actions.use_highlighted,
            self.plugin_actions.set_recommender,
        )


def run_app(
    world_path: str | None = None,
    plugin_dirs: list[str] | tuple[str, ...] = (),
    *,
    metrics_port: int | None = None,
    metrics_host: str = "127.0.0.1",
    checkpoint_every: int = 50,
    checkpoint_seconds: float | None = None,
    llm: Mapping[str, object] | None = None,
) -> None:
    """Open the terminal UI on a world file (the default world when None); with ``metrics_port``, serve
    Prometheus metrics on ``/metrics`` and health on ``/healthz`` (see ``sim.engine.observe``); ``llm``: LLM
    settings while it is open (``--llm``; ``local``: the local model, served until the UI closes)."""
    AgoraApp(
        world_path,
        plugin_dirs=plugin_dirs,
        metrics_port=metrics_port,
        metrics_host=metrics_host,
        checkpoint_every=checkpoint_every,
        checkpoint_seconds=checkpoint_seconds,
        llm=llm,
    ).run()


__all__ = ["FULL_GC_THRESHOLD", "PALETTE", "PATH_NOTIFY_LIMIT", "SPEEDS", "VIEWS", "AgoraApp", "run_app"]
