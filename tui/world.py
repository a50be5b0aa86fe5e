"""The app's link to its live world: opening it (off the UI's critical path), attaching the app to it (and
to the world a loaded snapshot brings), serving its metrics, and closing it when the app ends."""

from __future__ import annotations

import gc

from sim.errors import AgoraError
from sim.live.controller import WorldController
from sim.live.frontend import FrontEndOptions, MetricsServer, ServedMetrics, load_warnings, open_interactive
from sim.live.views import WorldViews

from .events import EventLog
from .host import AppHost
from .interventions import Interventions
from .pace import Pace
from .recommenders import recommender_label
from .views import literal

FULL_GC_THRESHOLD = 100  # collections of the middle generation between two full ones (Python's default: 10)


class WorldLink:
    """Opens the world, keeps the app attached to the live one, and closes it.

    Args:
        app: the app (its controller is set here).
        options: how to open the world.
        interventions: told when a world becomes live (its applied interventions were announced already).
        pace: told when a world becomes live, and of its ticks (a run pauses when nothing is left to change).
    """

    def __init__(self, app: AppHost, options: FrontEndOptions, interventions: Interventions, pace: Pace) -> None:
        self.app = app
        self.options = options
        self.interventions = interventions
        self.pace = pace
        self.events = EventLog(app, interventions, pace)
        self.metrics: ServedMetrics | None = None  # when metrics are served
        self._gc_threshold = gc.get_threshold()  # restored when the app ends
        self._frozen = False  # the heap was frozen by freeze_heap (and is thawed when the app ends)

    def open(self) -> None:
        """Open the world in a worker; the app shows it when it is open."""
        self.app.run_worker(self._open(), group="open", exclusive=True)

    async def _open(self) -> None:
        try:
            # The default world when none is named; the plugin folder beside it loads only when named or
            # trusted (plugins are code): the controller's notice says so (tell).
            controller = await open_interactive(self.options, tell=self.tell)
        except AgoraError as exc:
            self.app.views.loading.update(literal(f"Could not open the world: {exc}", 500))
            self.app.notify(str(exc), severity="error", markup=False, timeout=30)
            return
        self.opened(controller)

    def tell(self, notice: str | None) -> None:
        """Show the controller's notice about the plugin folder beside the world (None: nothing to say)."""
        if notice:
            self.app.notify(notice, severity="warning", markup=False, timeout=30)

    def opened(self, controller: WorldController) -> None:
        """The world is open: the app shows it (the Dashboard) and is ready."""
        app = self.app
        app.controller = controller
        app.live = WorldViews(controller)
        for warning in load_warnings(controller.world):
            app.notify(warning, severity="warning", markup=False, timeout=30)
        controller.on_replace.append(lambda _sim: self.attached())
        controller.checkpoints.on_checkpoint.append(self.checkpoint_changed)
        controller.on_error.append(
            lambda exc: app.notify(
                f"the simulation stopped: {type(exc).__name__}: {exc}", severity="error", markup=False
            )
        )
        self.attached()
        app.views.switcher.current = "dashboard"
        app.screen.refresh_bindings()
        app.refresh_ui()  # the views show the world before the app says it is ready
        app.ready.set()

    def attached(self) -> None:
        """A world became live (opened, or a snapshot loaded): subscribe to its events, serve its metrics,
        forget what the views computed for the previous one, and say what went wrong while opening it."""
        controller = self.app.controller
        if controller is None:
            return
        sim, writer = controller.sim, controller.writer
        log = self.app.notices.log
        if writer is not None:
            rec = writer.recovered
            if rec.get("events") or rec.get("exposures"):
                log(
                    f"the world file holds tick {rec['tick']}, its last checkpoint: {rec['events']:,} events and "
                    f"{rec['exposures']:,} exposures of later ticks (a run that ended without saving) were discarded"
                )
        if self.app.live is not None:
            self.app.live.forget()  # what the views showed of the previous world
        self.app.tick_rate.reset()  # the rate is this world's: the previous one's ticks are not counted
        self.interventions.attached()
        self.pace.attached()
        sim.bus.subscribe(self.events.on_event)
        self.attach_monitor()
        self.app.views.communities.world_changed()
        self.app.views.messages.reload_models()
        for entry in sim.registry.failures:
            log(f"plugin {entry.name} failed to load: {entry.error}")
        # A world may name a recommender that is not available here: it runs without it.
        for name, error in sim.social.errors.items():
            log(f"{recommender_label(name)} is off: {error}")
            self.app.notify(f"{recommender_label(name)} is off: {error}", severity="warning", markup=False)
        self.freeze_heap()

    def checkpoint_changed(self, failure: str | None, _tick_on_disk: int) -> None:
        """A periodic checkpoint failed (said once), or succeeded after failures."""
        if failure is not None:
            self.app.notify(failure, severity="error", markup=False, timeout=30)
        elif self.app.controller is not None:
            self.app.notify(
                f"the world file is checkpointed again: it holds tick {self.app.controller.world.tick}",
                markup=False,
                timeout=10,
            )

    def freeze_heap(self) -> None:
        """Move every object alive now (the world, the widgets) out of the cyclic garbage collector's
        sight. Its full collections scanned them all, 70-90 ms each, a few times a minute while a busy
        world allocates: the worst keypress times. Objects freed later are still freed; a world that is
        replaced is thawed and collected first. The first world's attach collects only the young
        generations before freezing: what start-up let go is young, and a full pass over everything the
        process holds (the whole heap of a program that embeds the app, such as a test process) is the one
        cost the freeze is there to avoid."""
        if self._frozen:
            gc.unfreeze()
            gc.collect()
        else:
            gc.collect(1)
        gc.freeze()
        self._frozen = True
        # With the long-lived objects frozen, the collector's own rule (a full pass when a quarter of the
        # unfrozen objects are new) would run full passes more often: ten times fewer of them, instead.
        gen0, gen1, _gen2 = gc.get_threshold()
        gc.set_threshold(gen0, gen1, FULL_GC_THRESHOLD)

    @property
    def metrics_server(self) -> MetricsServer | None:
        """The metrics server (None: no metrics served)."""
        return self.metrics.server if self.metrics is not None else None

    def attach_monitor(self) -> None:
        """Serve metrics and health for the live world (the server starts with the first world; the
        controller keeps the monitor on the world a snapshot load brings)."""
        options = self.options
        if options.metrics_port is None or self.metrics is not None:
            return
        try:
            metrics = ServedMetrics(options.metrics_host, options.metrics_port)
        except AgoraError as exc:
            options.metrics_port = None  # the app goes on without metrics
            self.app.notify(f"{exc}; Agora runs without metrics", severity="error", markup=False, timeout=15)
            return
        self.metrics = metrics
        self.app.notify(f"metrics on {metrics.url}/metrics, health on {metrics.url}/healthz", markup=False, timeout=8)
        if self.app.controller is not None:
            metrics.attach(self.app.controller)

    async def close(self) -> None:
        """The app ends: the collector as it was, the metrics server stopped, the world closed."""
        gc.unfreeze()
        self._frozen = False
        gc.set_threshold(*self._gc_threshold)
        if self.metrics is not None:
            metrics, self.metrics = self.metrics, None
            metrics.stop()
        # The writer's connection runs a non-daemon thread: always close it, however the app ends (the
        # file keeps its last checkpoint: the quit screen offered to save).
        if self.app.controller is not None:
            await self.app.controller.close(save=False)
