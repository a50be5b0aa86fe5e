"""The one world controller: a live world that the terminal UI, the HTTP API and Python scripts drive.

:class:`WorldController` owns one :class:`~sim.engine.simulation.Simulation` on a world file, with the
file's writer, its LLM service and its social layer: a run loop that can be started, paced and paused,
stepping, injection and cancellation, periodic checkpoints (a crash loses at most the ticks since the
last one), snapshots saved and loaded (in a folder of its own, or from any path for the terminal UI),
community detection, and the live events of the simulation fanned out to any number of listeners
(:class:`EventHub`). Every call that changes the world is serialised by one lock and recorded in the
world's audit log with the name of who asked. :meth:`WorldController.snapshot` is a frozen
:class:`WorldSnapshot` of what screens show, built once per tick.

The front ends differ only in their :class:`Policy`: a served world (:data:`SERVER`) checkpoints after
every change, refuses changes while its file cannot be checkpointed and audits run, pause and step; the
terminal UI (:data:`INTERACTIVE`) checkpoints periodically and lets its user go on.

The controller holds the world's parts, each a room of its own over it: its checkpoints
(:class:`~sim.live.checkpoints.Checkpoints`, ``controller.checkpoints``), its snapshots
(:class:`~sim.live.shelf.SnapshotShelf`, ``controller.shelf``), what is read of it
(:class:`~sim.live.reading.WorldReader`, ``controller.read``), the changes beside its ticks
(:class:`~sim.live.tools.WorldTools`, ``controller.tools``), its interventions
(:class:`~sim.live.interventions.Interventions`, ``controller.interventions``), and the jobs beside it: forecasts
(:class:`~sim.live.forecasts.Forecasts`) and LLM cost estimates (:class:`~sim.live.estimates.Estimates`,
``controller.estimates``), each on a copy of the world in a thread of its own, stopped when the world closes.

A checkpoint that fails is never silent: :attr:`Checkpoints.failure` holds its one
sentence until a checkpoint succeeds again, a ``checkpoint_failed`` event goes out (and
``checkpoint_recovered`` when it clears), the ``on_checkpoint`` callbacks are called, and a background
task tries again every ``retry_seconds``; a served world refuses every change with
:class:`CheckpointFailedError` while it still fails. :attr:`WorldController.disk_tick` is the tick the
file really holds.

Calls that the current state forbids (stepping while the world runs) raise :class:`StateError`; bad
values raise :class:`~sim.errors.BadParameterError`; unknown ids :class:`NotFoundError`. Headless: no
front end is imported here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NotRequired, TypedDict, Unpack

import numpy as np

from sim.core import worldlock as lock
from sim.core.events import Event
from sim.core.world import World
from sim.engine.observe import Monitor
from sim.engine.requests import SERVED, Inject
from sim.engine.simulation import Simulation
from sim.errors import AgoraError, BadParameterError
from sim.live.checkpoints import RETRY_SECONDS, Checkpoints
from sim.live.estimates import Estimates
from sim.live.events import EventHub, Listener, stream_event
from sim.live.forecasts import Forecasts
from sim.live.interventions import Interventions
from sim.live.policy import (
    INTERACTIVE,
    MAX_INTERVENTION,
    MAX_MESSAGES,
    MAX_PAGE_SIZE,
    MAX_RATE,
    MIN_RATE,
    PAGE_SIZE,
    SERVER,
    SNAPSHOT_NAME,
    CheckpointFailedError,
    NotFoundError,
    Policy,
    StateError,
)
from sim.live.reading import WorldReader
from sim.live.shelf import MAX_SNAPSHOT_BYTES, SnapshotShelf
from sim.live.studies import Studies
from sim.live.tools import WorldTools
from sim.llm import local
from sim.llm.config import LLMConfig
from sim.llm.service import LLMService
from sim.model.registry import Registry, tell_once, world_plugin_folders
from sim.model.session import PropagationSession
from sim.store.eventrows import History
from sim.store.worldfile import load_warnings, open_world, save_world
from sim.store.writer import WorldWriter

__all__ = [
    "INTERACTIVE",
    "MAX_INTERVENTION",
    "MAX_MESSAGES",
    "MAX_PAGE_SIZE",
    "MAX_SNAPSHOT_BYTES",
    "PAGE_SIZE",
    "RETRY_SECONDS",
    "SERVER",
    "SNAPSHOT_NAME",
    "CheckpointFailedError",
    "EventHub",
    "Listener",
    "LiveFields",
    "LiveOptions",
    "NotFoundError",
    "Policy",
    "RunState",
    "StateError",
    "WorldController",
    "WorldSnapshot",
]


@dataclass(frozen=True)
class WorldSnapshot:
    """What screens show of a live world, as of its latest tick (:meth:`WorldController.snapshot`).

    Session figures are those of the world's sessions now; ``tick_metrics`` are the metrics of the world's
    latest tick, None when that tick did not run in this process (a world just opened or loaded); the
    database figures are the writer's (zero without one)."""

    name: str
    tick: int
    agents: int
    edges: int
    state: str  # "running", "pausing" (the run's tick under way ends first) or "paused"
    running: bool
    ticking: bool  # ticks are under way: the run goes (or its last tick is ending), or a step runs
    ticks_per_second: float | None
    sessions: dict[str, int]  # sessions by status
    reached: int
    graph_reached: int
    feed_reached: int
    reproduction_number: float
    pending_graph_changes: int
    messages: int
    communities: int | None  # None until communities are detected or planted
    tick_metrics: dict[str, Any] | None
    db_queue: int = 0
    db_backpressure: bool = False
    db_backpressure_seconds: float = 0.0
    db_rows_written: int = 0
    checkpoint: Mapping[str, object] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def running_sessions(self) -> int:
        return self.sessions.get("running", 0)

    @property
    def queued_sessions(self) -> int:
        return self.sessions.get("queued", 0)


@dataclass(frozen=True)
class LiveOptions:
    """How :meth:`WorldController.open` opens a world (every field optional).

    Attributes:
        plugin_dirs: user plugin folders. social, llm: the living network's and the LLM's settings while it
            is open (the file keeps its own). plugin_budget: seconds a plugin call may take.
        snapshots: the folder of named snapshots (None: the world's own folder).
        checkpoint_every, checkpoint_seconds: how often a checkpoint is due (None or 0: never by that
            measure). retry_seconds: between two attempts after a failed one.
        check_llm: handed the resolved LLM configuration before anything starts (a command refuses settings
            that would have no effect there).
        max_snapshot_bytes: the largest snapshot read from the folder. max_messages: the most messages the
            world may hold. policy: :data:`SERVER` or :data:`INTERACTIVE`.
        world: a world already in memory to drive instead of opening the path (its own path is used).
        writer: False: no world file is written. tell: given the notice about the plugin folder beside the
            world when it is not loaded (stderr by default; the terminal UI shows it).
    """

    plugin_dirs: tuple[str, ...] | list[str] = ()
    social: Mapping[str, object] | None = None
    llm: Mapping[str, object] | None = None
    plugin_budget: float | None = None
    snapshots: str | None = None
    checkpoint_every: int | None = 50
    checkpoint_seconds: float | None = 60.0
    check_llm: Callable[[LLMConfig], None] | None = None
    retry_seconds: float = RETRY_SECONDS
    max_snapshot_bytes: int = MAX_SNAPSHOT_BYTES
    max_messages: int = MAX_MESSAGES
    policy: Policy = SERVER
    world: World | None = None
    writer: bool = True
    tell: Callable[[str | None], None] = tell_once


class LiveFields(TypedDict, total=False):
    """:class:`LiveOptions`' fields, as the keywords of :meth:`WorldController.open` (each optional)."""

    plugin_dirs: tuple[str, ...] | list[str]
    social: Mapping[str, object] | None
    llm: Mapping[str, object] | None
    plugin_budget: float | None
    snapshots: str | None
    checkpoint_every: int | None
    checkpoint_seconds: float | None
    check_llm: Callable[[LLMConfig], None] | None
    retry_seconds: float
    max_snapshot_bytes: int
    max_messages: int
    policy: Policy
    world: World | None
    writer: bool
    tell: Callable[[str | None], None]


class RunState(TypedDict):
    """Where a live world stands after :meth:`WorldController.run`, ``pause`` or ``step``: ``state``
    (``running`` or ``paused``) and the world's ``tick``; after ``run``, also its pace (``ticks_per_second``,
    None: as fast as possible)."""

    state: str
    tick: int
    ticks_per_second: NotRequired[float | None]


class WorldController:
    """See the module docstring. Use :meth:`open`; call :meth:`close` at the end."""

    def __init__(self, sim: Simulation, options: LiveOptions, folder: str) -> None:
        self.sim = sim
        self.policy = options.policy
        self.max_messages = options.max_messages
        self.events = EventHub()
        #: Called with the new simulation when a loaded snapshot replaces the world (a metrics monitor).
        self.on_replace: list[Callable[[Simulation], None]] = []
        #: Called with the exception when the run loop stops on an unexpected error (a bug).
        self.on_error: list[Callable[[BaseException], None]] = []
        #: Serialises every call that changes the world (one caller at a time).
        self.lock = asyncio.Lock()
        #: Steps under way (:meth:`step`).
        self.stepping = 0
        #: Bumped by every change a snapshot shows that is not a tick.
        self.version = 0
        #: When a durable world answers a change: ``"durable"`` once it is committed to the file,
        #: ``"applied"`` as soon as it is made (``agora serve --acknowledge``).
        self.acknowledge = "durable"
        self.checkpoints = Checkpoints(
            self,
            every=options.checkpoint_every,
            seconds=options.checkpoint_seconds,
            retry_seconds=options.retry_seconds,
        )
        self.shelf = SnapshotShelf(self, folder, max_bytes=options.max_snapshot_bytes)
        self.read = WorldReader(self)
        self.tools = WorldTools(self)
        self.interventions = Interventions(self)
        #: Forecasts of the present (issue 49): forks of the world continued in the background.
        self.forecasts = Forecasts(self)
        #: LLM cost estimates (issue 71): dry runs on copies of the world, in threads of their own.
        self.estimates = Estimates(self)
        #: Rt, fits and backtests of observed data beside the world (issue 77), one at a time, in threads.
        self.studies = Studies(self)
        self._loop_task: asyncio.Task | None = None
        self._ticks_per_second: float | None = None
        self._snapshot: tuple[tuple, WorldSnapshot] | None = None
        self._ticks_seen = 0
        self._closed = False
        #: The local model's server this world was opened with (``llm`` asked for ``local``), stopped by close().
        self.local_server: local.LocalServer | None = None
        self._install(sim)

    @classmethod
    async def open(cls, path: str | None, /, **options: Unpack[LiveFields]) -> WorldController:
        """Open the world file at ``path`` with its writer (recovering it after a crash) and a simulation;
        ``options`` are :class:`LiveOptions`' fields (``policy=INTERACTIVE``, ``snapshots=...``).

        Raises:
            BadFileError: the world file cannot be opened; BadParameterError: bad settings.
        """
        opts = LiveOptions(**options)
        held = bool(opts.writer and path and opts.world is None)
        if held:  # before the read: nobody changes the file between what is read and what is then written
            assert path is not None
            lock.acquire(path)
        try:
            return await cls._open(path, opts)
        finally:
            if held:
                assert path is not None
                lock.release(path)  # the writer holds it from here on

    @classmethod
    async def _open(cls, path: str | None, options: LiveOptions) -> WorldController:
        world = options.world
        if world is None:
            if path is None:
                raise BadParameterError("no world to open: give a world file")
            # Held here means this call took the world's lock and opens its writer only after the read.
            world = await open_world(path, exclusive=options.writer)
        path = world.path or path
        ask, overrides = local.split(options.llm)
        config = LLMConfig.resolve(world.config.get("llm"), overrides)
        if options.check_llm is not None:
            options.check_llm(local.planned_config(world.config.get("llm"), options.llm))
        if ask is not None:
            local.check_request(ask)
        # The plugin folder beside the world is code: loaded only when named or trusted, as by every command.
        extra, notice = world_plugin_folders(path, list(options.plugin_dirs))
        options.tell(notice)
        registry = Registry(list(options.plugin_dirs) + extra)
        server = None
        if ask is not None:  # the local model, served while the world is open (stopped by close())
            server = await local.LocalServer(ask.model).astart()
            config = server.config(config)
        try:
            world_writer = await WorldWriter(path).start() if options.writer and path else None
        except BaseException:
            if server is not None:
                await server.aclose()
            raise
        try:
            sim = Simulation(
                world,
                registry=registry,
                writer=world_writer,
                plugin_budget=options.plugin_budget,
                llm=LLMService(world, config),
            )
            registry.bus = sim.bus
            if options.social:
                sim.social.configure(**options.social)
        except BaseException:
            if world_writer is not None:
                await world_writer.close()
            if server is not None:
                await server.aclose()
            raise
        controller = cls(sim, options, options.snapshots or os.path.dirname(os.path.abspath(path or ".")))
        controller.local_server = server
        if sim.replayed.get("made") and world_writer is not None:
            # Changes acknowledged before a crash were made again: on disk at once (a failure is said as usual).
            with contextlib.suppress(CheckpointFailedError):
                await controller.checkpoint()
        return controller

    def _install(self, sim: Simulation) -> None:
        """Make ``sim`` the live simulation: its bound, its events on the stream."""
        self.sim = sim
        sim.max_messages = self.max_messages  # a counter-message respects the bound too
        sim.bus.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        record = stream_event(event, self.sim.world)
        if record is not None:
            if record["type"] == "tick":
                self._ticks_seen += 1
            self.events.publish(record)

    @property
    def world(self) -> World:
        return self.sim.world

    @property
    def running(self) -> bool:
        """Whether the run loop is ticking (started and not paused)."""
        return self._loop_task is not None and not self._loop_task.done() and not self.sim.paused

    @property
    def state(self) -> str:
        return "running" if self.running else "paused"

    @property
    def writer(self) -> WorldWriter | None:
        """The world file's writer (None for a world without a file)."""
        return self.sim.writer

    @property
    def registry(self) -> Registry:
        return self.sim.registry

    @property
    def loop_alive(self) -> bool:
        """Whether the run loop exists (running, or paused and waiting to resume)."""
        return self._loop_task is not None and not self._loop_task.done()

    @property
    def ticking(self) -> bool:
        """Whether ticks are under way: the run goes (or its last tick is ending after a pause), or a step runs."""
        return self.running or self.sim.pausing or self.stepping > 0

    @property
    def ticks_per_second(self) -> float | None:
        """The pace of the run loop (None: as fast as possible)."""
        return self._ticks_per_second

    def set_pace(self, ticks_per_second: float | None) -> None:
        """Pace the run loop (from its next tick); None or 0: as fast as possible. Not audited: no world changes."""
        self._ticks_per_second = float(ticks_per_second) if ticks_per_second else None

    def snapshot(self) -> WorldSnapshot:
        """What screens show, as a frozen :class:`WorldSnapshot`: built once per tick (and again when a
        session, the state or the writer's figures change), so any number of screens may ask."""
        world, sim, writer = self.world, self.sim, self.sim.writer
        sessions = world.sessions
        state = "running" if self.running else ("pausing" if sim.pausing else "paused")
        key = (
            id(world),
            world.tick,
            self._ticks_seen,
            self.version,
            len(sessions),
            state,
            self.stepping,
            self._ticks_per_second,
            self.checkpoints.failure,
            sim.dirty,
            (writer.queue_rows, writer.backpressure, writer.rows_written) if writer is not None else None,
        )
        cached = self._snapshot
        if cached is not None and cached[0] == key:
            return cached[1]
        by_status: dict[str, int] = {}
        for s in sessions:
            by_status[s.status] = by_status.get(s.status, 0) + 1
        running = [s for s in sessions if s.status == "running"]
        last = sim.metrics[-1] if sim.metrics else None
        snap = WorldSnapshot(
            name=world.name,
            tick=world.tick,
            agents=world.n,
            edges=world.num_edges,
            state=state,
            running=self.running,
            ticking=self.ticking,
            ticks_per_second=self._ticks_per_second,
            sessions=by_status,
            reached=sum(int(s.reached) for s in sessions),
            graph_reached=sum(int(s.graph_reached) for s in sessions),
            feed_reached=sum(int(s.feed_reached) for s in sessions),
            reproduction_number=float(np.mean([s.reproduction_number for s in running])) if running else 0.0,
            pending_graph_changes=int(world.delta.pending),
            messages=len(world.messages),
            communities=None if world.num_communities is None else int(world.num_communities),
            tick_metrics=last if last is not None and last.get("tick") == world.tick - 1 else None,
            db_queue=int(writer.queue_rows) if writer is not None else 0,
            db_backpressure=bool(writer.backpressure) if writer is not None else False,
            db_backpressure_seconds=float(writer.backpressure_seconds) if writer is not None else 0.0,
            db_rows_written=int(writer.rows_written) if writer is not None else 0,
            checkpoint=self.checkpoints.state(),
            warnings=tuple(load_warnings(world)),
        )
        self._snapshot = (key, snap)
        return snap

    def attach_monitor(self, monitor: Monitor) -> None:
        """Let ``monitor`` (:class:`sim.engine.observe.Monitor`) watch this world: its ticks, its writer,
        whether it runs, and its checkpoints, across snapshot loads."""
        monitor.attach(self.sim, self.sim.writer, active=lambda: self.running)
        self.on_replace.append(lambda sim: monitor.attach(sim, sim.writer, active=lambda: self.running))
        self.checkpoints.on_checkpoint.append(
            lambda failure, _tick: monitor.checkpoint_failed(failure) if failure else monitor.checkpoint_succeeded()
        )

    def audit(self, action: str, details: Mapping[str, object], actor: str | None = None) -> None:
        """Append a user action to the world's audit log (through the writer, after queued work; a world
        without a file keeps none)."""
        if self.sim.writer is not None:
            self.sim.writer.submit_audit(action, {**details, **({"by": actor} if actor else {})})

    async def _run_loop(self) -> None:
        sim = self.sim
        try:
            while True:
                await sim.run(ticks=1, ticks_per_second=self._ticks_per_second)
                await self.checkpoints.periodic()
                if sim._stop:
                    break
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a bug: said on the stream; the world stays open, paused
            self.events.publish({"type": "error", "error": f"{type(exc).__name__}: {exc}"})
            for callback in self.on_error:
                callback(exc)

    async def run(self, ticks_per_second: float | None = None, *, actor: str | None = None) -> RunState:
        """Start (or resume) ticking, as fast as possible or at ``ticks_per_second``.

        Raises:
            BadParameterError: a rate that is not a number from :data:`MIN_RATE` to :data:`MAX_RATE`.
        """
        if ticks_per_second is not None and (
            isinstance(ticks_per_second, bool)
            or not isinstance(ticks_per_second, (int, float))
            or not MIN_RATE <= ticks_per_second <= MAX_RATE
        ):
            raise BadParameterError(
                f"ticks_per_second {str(ticks_per_second)[:30]} is invalid: give a number from {MIN_RATE:g} to "
                f"{MAX_RATE:,.0f} ticks a second (or leave it out to run as fast as possible)",
                fields="ticks_per_second",
            )
        async with self.lock:
            await self.checkpoints.require()
            self._ticks_per_second = float(ticks_per_second) if ticks_per_second is not None else None
            self.sim.resume()
            if self._loop_task is None or self._loop_task.done():
                self.sim._stop = False
                self._loop_task = asyncio.create_task(self._run_loop(), name="agora-run")
            if self.policy.audit_runs:
                self.audit("run", {"tick": self.world.tick, "ticks_per_second": self._ticks_per_second}, actor)
            self.events.publish({"type": "state", "state": "running", "tick": self.world.tick})
            return {"state": "running", "tick": self.world.tick, "ticks_per_second": self._ticks_per_second}

    async def pause(self, *, actor: str | None = None) -> RunState:
        """Pause after the tick under way (if any); the world is checkpointed.

        Raises:
            CheckpointFailedError: the world is paused, but its file could not be checkpointed.
        """
        was = self.running
        self.sim.pause()  # at once: a screen says "pausing" while the tick under way ends
        async with self.lock:
            async with self.sim.lock:  # the tick under way ends first
                pass
            if was:
                if self.policy.audit_runs:
                    self.audit("pause", {"tick": self.world.tick}, actor)
                self.events.publish({"type": "state", "state": "paused", "tick": self.world.tick})
            if self.policy.durable and (was or self.checkpoints.failure is not None):
                await self.checkpoints.after(f"the world is paused at tick {self.world.tick}")
            return {"state": "paused", "tick": self.world.tick}

    async def step(self, ticks: int = 1, *, actor: str | None = None) -> RunState:
        """Advance ``ticks`` ticks (the world must be paused); returns the new tick.

        Raises:
            BadParameterError: not a whole number from 1 to 10,000. StateError: the world is running.
        """
        if isinstance(ticks, bool) or not isinstance(ticks, int) or not 1 <= ticks <= 10_000:
            raise BadParameterError(f"ticks {ticks!r} is invalid: give a whole number from 1 to 10,000")
        self.stepping += 1
        try:
            async with self.lock:
                if self.running:
                    raise StateError("the world is running: pause it first (POST /api/v1/pause), then step")
                await self.checkpoints.require()
                for _ in range(ticks):
                    await self.sim.step()
                    if not self.policy.durable:
                        await self.checkpoints.periodic()
                if self.policy.audit_runs:
                    self.audit("step", {"ticks": ticks, "tick": self.world.tick}, actor)
                if self.policy.durable:
                    await self.checkpoints.after(f"the world stepped to tick {self.world.tick}")
                return {"tick": self.world.tick, "state": self.state}
        finally:
            self.stepping -= 1

    async def stop(self) -> None:
        """End the run loop (at the end of serving): no tick is under way when it returns."""
        task, self._loop_task = self._loop_task, None
        self.sim.stop()
        if task is not None:
            async with self.sim.lock:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def inject(
        self, request: Inject | None = None, /, *, actor: str | None = None, **fields: object
    ) -> PropagationSession:
        """Inject a message (see :meth:`Simulation.inject`) once no other call is changing the world;
        returns its session. ``request`` is an :class:`Inject` (or its fields as keywords, parsed here);
        a seed method chooses in a worker thread first. The checks and the injection are :meth:`inject_now`'s.

        Raises:
            see :meth:`inject_now`; CheckpointFailedError: the last checkpoint failed and still does (a
            ``durable`` world).
        """
        request = _request(self.registry, request, fields)
        async with self.lock:
            await self.checkpoints.require()
            chosen = await _chosen(self, request)
            session = self.inject_now(request, actor=actor, seed_agents=chosen)
            change = self.sim.last_change
        await self.checkpoints.durable(change)
        return session

    def inject_now(
        self,
        request: Inject | None = None,
        /,
        *,
        actor: str | None = None,
        seed_agents: np.ndarray | None = None,
        **fields: object,
    ) -> PropagationSession:
        """Inject a message at once, between two ticks or while one runs (the terminal UI's form: the
        session is queued when this returns); returns its session. ``request`` is an :class:`Inject` (or its
        fields as keywords, parsed with the limits of a served world); the world holds at most ``max_messages``
        messages.

        Raises:
            BadParameterError: a mistake in the request (:meth:`Inject.parse`), or seeds, an author or a model
                this world cannot use.
            StateError: the world holds ``max_messages`` messages already.
        """
        request = _request(self.registry, request, fields)
        if len(self.world.messages) >= self.max_messages:
            raise StateError(
                f"the world holds {len(self.world.messages):,} messages, the most this server allows "
                f"({self.max_messages:,}, max_messages): serve it with a higher bound to inject more",
                fields="max_messages",
            )
        session = self.sim.inject(request, actor=actor, seed_agents=seed_agents)
        self.version += 1
        if session.status == "failed" and self.policy.refuse_failed_model:
            raise BadParameterError(f"model {request.model!r} could not be used: {session.error}")
        return session

    def cancel(self, session_id: int, *, actor: str | None = None) -> PropagationSession:
        """Cancel a queued or running session (recorded in the audit log by the simulation); returns it.

        Raises:
            AgoraError: no such session, or one that has ended.
        """
        session = self.sim.cancel(session_id, actor=actor)
        self.version += 1
        return session

    @property
    def disk_tick(self) -> int:
        """The tick the world file holds: that of its last committed checkpoint."""
        return self.checkpoints.disk_tick

    async def checkpoint(self) -> None:
        """Write the world's state into its file now (see :meth:`Checkpoints.now`).

        Raises:
            CheckpointFailedError: it could not be written (the file keeps its previous checkpoint).
        """
        await self.checkpoints.now()

    async def replace(self, new_world: World, history: History | None, recorded: str, actor: str | None) -> None:
        """Make ``new_world`` the live world: the run loop stopped (no tick under way), the world file
        rewritten with the new world and its ``history`` (the snapshot's adoption events and feed exposures;
        None: none before its tick) and the old file's audit log, a new writer and simulation on the same
        plugins and LLM settings, ``on_replace`` told; the run goes on if it was running."""
        async with self.lock:
            await self.checkpoints.require()
            was_running = self.running
            tps = self._ticks_per_second
            await self.stop()
            old = self.sim
            world_path = old.world.path
            if world_path:  # held from the old writer to the new one: no other process writes in between
                lock.acquire(world_path)
            try:
                self._install(await _swapped(old, new_world, history, world_path, self.max_messages))
                self.version += 1
                for callback in self.on_replace:
                    callback(self.sim)
            finally:
                if world_path:
                    lock.release(world_path)
            self.checkpoints.restart(new_world.tick)
            self.audit("load", {"snapshot": recorded, "tick": new_world.tick}, actor)
            self.events.publish(
                {"type": "load", "snapshot": os.path.basename(recorded).removesuffix(".snap"), "tick": new_world.tick}
            )
        if was_running:
            await self.run(tps, actor=actor)

    async def close(self, *, save: bool = True) -> bool:
        """Stop ticking, checkpoint (unless not ``save``: the file keeps its last checkpoint), and close
        the world file's writer and the LLM connections.

        Returns:
            Whether the final checkpoint succeeded (True without ``save``); when it did not,
            :attr:`checkpoint_failure` says why and :attr:`disk_tick` is the tick the file holds.
        """
        if self._closed:
            return self.checkpoints.failure is None
        self._closed = True
        await self.estimates.close()  # each dry run stops before its next tick: no thread outlives the world
        await self.stop()
        await self.checkpoints.close()
        saved = True
        if save:
            try:
                await self.checkpoint()
            except CheckpointFailedError:
                saved = False
        with contextlib.suppress(Exception):  # closing half-dead LLM connections must not stop the end
            await self.sim.aclose()
        try:
            if self.sim.writer is not None:
                await self.sim.writer.close()
        finally:
            if self.local_server is not None:  # after the LLM service has drained: nothing asks it any more
                await self.local_server.aclose()
        return saved


def _request(registry: Registry, request: Inject | None, fields: Mapping[str, object]) -> Inject:
    """``request``, or the :class:`Inject` its ``fields`` ask for, within what a live world's client may ask
    (:data:`~sim.engine.requests.SERVED`: no file, no slow seed method, bounded text and ids).

    Raises:
        BadParameterError: as :meth:`Inject.parse`.
    """
    if request is None:
        return Inject.parse(fields, registry, SERVED)
    if fields:
        raise TypeError(f"inject() takes an Inject request or keywords, not both ({', '.join(fields)})")
    return request


async def _chosen(host: WorldController, request: Inject) -> np.ndarray | None:
    """The agents a seed method chooses for an injection, chosen in a worker thread with the world's ticks
    held (the event loop goes on answering; a method can take seconds on a large world); None when the seeds
    are not a method's, or the world cannot meet them (:meth:`WorldController.inject_now` then says why)."""
    if request.seeds.kind != "method":
        return None
    try:
        request.seeds.check(host.world)
    except AgoraError:
        return None
    sim = host.sim
    async with sim.lock:  # no tick changes the graph while the method reads it
        return await asyncio.to_thread(sim.choose_seeds, request.seeds, request.model, dict(request.params))


async def _swapped(
    old: Simulation, new_world: World, history: History | None, world_path: str | None, max_messages: int
) -> Simulation:
    """Write ``new_world`` over the world file and put a simulation on it (see :meth:`WorldController.replace`)."""
    writer = None
    async with old.lock:
        if old.writer is not None:
            await old.writer.close()
        if world_path:
            new_world.name = old.world.name
            await save_world(new_world, world_path, force=True, keep_audit=True, history=history)
    with contextlib.suppress(Exception):  # closing half-dead LLM connections must not stop the load
        await old.aclose()
    if old.writer is not None and world_path:
        writer = await WorldWriter(world_path).start()
    sim = Simulation(
        new_world,
        registry=old.registry,
        writer=writer,
        plugin_budget=old.plugins.budget,
        llm=LLMService(new_world, old.llm.config),
    )
    old.registry.bus = sim.bus
    sim.max_messages = max_messages
    return sim
