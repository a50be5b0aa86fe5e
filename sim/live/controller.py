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

A checkpoint that fails is never silent: :attr:`WorldController.checkpoint_failure` holds its one
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
import re
import stat
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.analysis.structure import analyze, communities_line, store_analysis
from sim.core import worldlock as lock
from sim.core.events import (
    Event,
    MessageInjected,
    PropagationCompleted,
    PropagationFailed,
    PropagationStarted,
    RecommenderFailed,
    TickCompleted,
)
from sim.core.persona import FIRST_NAMES, LAST_NAMES
from sim.core.tracebacks import one_line, plugin_location, plugin_traceback
from sim.engine.requests import SERVED, Inject
from sim.engine.simulation import Simulation
from sim.errors import AgoraError, BadFileError, BadParameterError, ResourceError
from sim.llm.config import LLMConfig
from sim.llm.service import LLMService
from sim.model.columns import apply_column, clear_column, column_spec, column_summary, column_values, settable_columns
from sim.model.intervene import MAX_INTERVENTIONS, action_of, entries, pending_counters
from sim.model.registry import SEEDER, Registry, tell_once, world_plugin_folders
from sim.model.series import series_dict
from sim.store.analysis_tables import read_communities, write_analysis
from sim.store.snapshot import load_snapshot_history as read_snapshot_file
from sim.store.snapshot import save_snapshot as write_snapshot_file
from sim.store.worldfile import load_warnings, open_world, save_world
from sim.store.writer import WorldWriter

#: The figures of a tick's metrics that a tick event carries (the dashboard's).
TICK_FIELDS = (
    "tick",
    "seconds",
    "online",
    "running",
    "queued",
    "completed",
    "failed",
    "attempts",
    "new_adoptions",
    "reached",
    "feed_reached",
    "graph_reached",
    "edges",
    "follows",
    "unfollows",
    "joins",
    "leaves",
    "llm_calls",
    "llm_fallbacks",
    "llm_cost_usd",
    "posts",
    "db_queue",
    "db_wait_seconds",
)
#: How a snapshot may be named: letters, digits, dot, dash and underscore (no folders). Always matched
#: whole (``fullmatch``): ``$`` alone would let a name end with a newline.
SNAPSHOT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
#: The most messages a served world holds: an injection past it is refused (409).
MAX_MESSAGES = 100_000
#: The most characters of an intervention sent by a client.
MAX_INTERVENTION = 2_000
#: The largest snapshot file the server reads (bytes): a larger one is refused before it is opened.
MAX_SNAPSHOT_BYTES = 8 * 2**30
#: Seconds between two attempts at a checkpoint that failed (each call that changes the world tries too).
RETRY_SECONDS = 10.0
#: Sessions in one page of :meth:`WorldController.sessions` unless asked otherwise, and the most one page holds.
PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class StateError(AgoraError):
    """An action the world's current state forbids (HTTP 409)."""


class NotFoundError(AgoraError):
    """An id or name that does not exist (HTTP 404)."""


class CheckpointFailedError(ResourceError):
    """The world file could not be checkpointed (HTTP 503): calls that change the world are refused until a
    checkpoint succeeds again."""


class Listener:
    """One subscriber's queue of events. A listener that falls behind by ``size`` events loses its oldest
    ones (``dropped`` counts them) rather than holding the simulation up."""

    def __init__(self, size: int) -> None:
        self.events: deque[dict[str, Any]] = deque(maxlen=size)
        self.dropped = 0
        self._ready = asyncio.Event()

    def put(self, event: dict[str, Any]) -> None:
        if len(self.events) == self.events.maxlen:
            self.dropped += 1
        self.events.append(event)
        self._ready.set()

    async def get(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The next event, or None when ``timeout`` seconds pass without one."""
        while not self.events:
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), timeout)
            except TimeoutError:
                return None
        return self.events.popleft()


class EventHub:
    """Live events for any number of listeners (the API's Server-Sent Events and WebSocket streams)."""

    def __init__(self, size: int = 1000) -> None:
        self.size = size
        self.listeners: set[Listener] = set()
        self.published = 0

    def subscribe(self) -> Listener:
        listener = Listener(self.size)
        self.listeners.add(listener)
        return listener

    def unsubscribe(self, listener: Listener) -> None:
        self.listeners.discard(listener)

    def publish(self, event: dict[str, Any]) -> None:
        self.published += 1
        event = {"seq": self.published, **event}
        for listener in list(self.listeners):
            listener.put(event)


@dataclass(frozen=True)
class Policy:
    """How a front end wants its world kept (see the module docstring).

    Attributes:
        durable: checkpoint after every change (step, pause, save) and refuse changes while the file
            cannot be checkpointed (a server: what a client was told is on disk); otherwise checkpoint
            every ``checkpoint_every`` ticks or ``checkpoint_seconds`` and let the user go on.
        audit_runs: record run, pause and step in the audit log (who started a served world matters;
            a key pressed in the terminal UI is not a change of the world's settings).
        refuse_failed_model: an injection whose model cannot be used is an error (HTTP 400); otherwise
            its session fails like any other and says so on the event bus.
        log_bugs: an unexpected checkpoint failure writes its traceback on stderr (a server's log; the
            terminal UI owns the terminal and shows the sentence instead).
    """

    durable: bool = True
    audit_runs: bool = True
    refuse_failed_model: bool = True
    log_bugs: bool = True


#: A world served over HTTP (``agora serve``), and driven from Python.
SERVER = Policy()
#: A world in the terminal UI.
INTERACTIVE = Policy(durable=False, audit_runs=False, refuse_failed_model=False, log_bugs=False)


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
    checkpoint: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def running_sessions(self) -> int:
        return self.sessions.get("running", 0)

    @property
    def queued_sessions(self) -> int:
        return self.sessions.get("queued", 0)


class WorldController:
    """See the module docstring. Use :meth:`open`; call :meth:`close` at the end."""

    def __init__(
        self,
        sim: Any,
        *,
        snapshots: str,
        checkpoint_every: int | None = 50,
        checkpoint_seconds: float | None = 60.0,
        retry_seconds: float = RETRY_SECONDS,
        max_snapshot_bytes: int = MAX_SNAPSHOT_BYTES,
        max_messages: int = MAX_MESSAGES,
        policy: Policy = SERVER,
    ) -> None:
        self.sim = sim
        self.snapshots = os.path.abspath(snapshots)
        self.checkpoint_every = checkpoint_every
        self.checkpoint_seconds = checkpoint_seconds
        self.retry_seconds = retry_seconds
        self.max_snapshot_bytes = max_snapshot_bytes
        self.max_messages = max_messages
        self.policy = policy
        self.events = EventHub()
        #: Called with the new simulation when a loaded snapshot replaces the world (a metrics monitor).
        self.on_replace: list[Callable[[Any], None]] = []
        #: Called with (the failure's sentence or None, the tick the file holds) when a checkpoint fails
        #: after one that succeeded, and when one succeeds after a failure (stderr, a metrics monitor).
        self.on_checkpoint: list[Callable[[str | None, int], None]] = []
        #: The one sentence of the last checkpoint when it failed; None once one succeeds.
        self.checkpoint_failure: str | None = None
        #: Called with the exception when the run loop stops on an unexpected error (a bug).
        self.on_error: list[Callable[[BaseException], None]] = []
        #: Checkpoints that failed since the world was opened.
        self.checkpoint_failures = 0
        #: Serialises every call that changes the world (one caller at a time).
        self.lock = asyncio.Lock()
        #: Steps under way (:meth:`step`).
        self.stepping = 0
        self._loop_task: asyncio.Task | None = None
        self._retry_task: asyncio.Task | None = None
        self._ticks_per_second: float | None = None
        self._checkpointed = (sim.world.tick, time.monotonic())
        self._snapshot: tuple[tuple, WorldSnapshot] | None = None
        self._ticks_seen = 0
        self._closed = False
        self._version = 0  # bumped by every change a snapshot shows that is not a tick
        sim.max_messages = max_messages  # a counter-message respects the bound too
        #: When a durable world answers a change: ``"durable"`` once it is committed to the file,
        #: ``"applied"`` as soon as it is made (``agora serve --acknowledge``).
        self.acknowledge = "durable"
        self._subscribe(sim)

    @classmethod
    async def open(
        cls,
        path: str | None,
        *,
        plugin_dirs: list[str] | tuple[str, ...] = (),
        social: dict[str, Any] | None = None,
        llm: dict[str, Any] | None = None,
        plugin_budget: float | None = None,
        snapshots: str | None = None,
        checkpoint_every: int | None = 50,
        checkpoint_seconds: float | None = 60.0,
        check_llm: Any = None,
        retry_seconds: float = RETRY_SECONDS,
        max_snapshot_bytes: int = MAX_SNAPSHOT_BYTES,
        max_messages: int = MAX_MESSAGES,
        policy: Policy = SERVER,
        world: Any = None,
        writer: bool = True,
        tell: Callable[[str | None], None] = tell_once,
    ) -> WorldController:
        """Open the world file at ``path`` with its writer (recovering it after a crash) and a simulation.

        ``social`` and ``llm`` override the world's living-network and LLM settings while it is open;
        ``check_llm`` is handed the resolved LLM configuration before anything starts (the command refuses
        settings that would have no effect there). ``world``: a world already in memory to drive instead
        of opening ``path`` (its own path is used; ``writer=False``: no world file is written). ``tell``
        is given the notice about the plugin folder beside the world when it is not loaded (stderr by
        default; the terminal UI shows it).

        Raises:
            BadFileError: the world file cannot be opened; BadParameterError: bad settings.
        """
        held = bool(writer and path and world is None)
        if held:  # before the read: nobody changes the file between what is read and what is then written
            assert path is not None
            lock.acquire(path)
        try:
            return await cls._open(
                path,
                plugin_dirs=plugin_dirs,
                social=social,
                llm=llm,
                plugin_budget=plugin_budget,
                snapshots=snapshots,
                checkpoint_every=checkpoint_every,
                checkpoint_seconds=checkpoint_seconds,
                check_llm=check_llm,
                retry_seconds=retry_seconds,
                max_snapshot_bytes=max_snapshot_bytes,
                max_messages=max_messages,
                policy=policy,
                world=world,
                writer=writer,
                tell=tell,
            )
        finally:
            if held:
                assert path is not None
                lock.release(path)  # the writer holds it from here on

    @classmethod
    async def _open(
        cls,
        path: str | None,
        *,
        plugin_dirs: list[str] | tuple[str, ...],
        social: dict[str, Any] | None,
        llm: dict[str, Any] | None,
        plugin_budget: float | None,
        snapshots: str | None,
        checkpoint_every: int | None,
        checkpoint_seconds: float | None,
        check_llm: Any,
        retry_seconds: float,
        max_snapshot_bytes: int,
        max_messages: int,
        policy: Policy,
        world: Any,
        writer: bool,
        tell: Callable[[str | None], None],
    ) -> WorldController:
        if world is None:
            if path is None:
                raise BadParameterError("no world to open: give a world file")
            world = await open_world(path)
        path = world.path or path
        config = LLMConfig.resolve(world.config.get("llm"), llm)
        if check_llm is not None:
            check_llm(config)
        # The plugin folder beside the world is code: loaded only when named or trusted, as by every command.
        extra, notice = world_plugin_folders(path, list(plugin_dirs))
        tell(notice)
        registry = Registry(list(plugin_dirs) + extra)
        world_writer = await WorldWriter(path).start() if writer and path else None
        try:
            sim = Simulation(
                world,
                registry=registry,
                writer=world_writer,
                plugin_budget=plugin_budget,
                llm=LLMService(world, config),
            )
            registry.bus = sim.bus
            if social:
                sim.social.configure(**social)
        except BaseException:
            if world_writer is not None:
                await world_writer.close()
            raise
        folder = snapshots or os.path.dirname(os.path.abspath(path or "."))
        controller = cls(
            sim,
            snapshots=folder,
            checkpoint_every=checkpoint_every,
            checkpoint_seconds=checkpoint_seconds,
            retry_seconds=retry_seconds,
            max_snapshot_bytes=max_snapshot_bytes,
            max_messages=max_messages,
            policy=policy,
        )
        if sim.replayed.get("made") and world_writer is not None:
            # Changes acknowledged before a crash were made again: on disk at once (a failure is said as usual).
            with contextlib.suppress(CheckpointFailedError):
                await controller.checkpoint()
        return controller

    # -- the state -----------------------------------------------------------------------------------
    @property
    def world(self) -> Any:
        return self.sim.world

    @property
    def running(self) -> bool:
        """Whether the run loop is ticking (started and not paused)."""
        return self._loop_task is not None and not self._loop_task.done() and not self.sim.paused

    @property
    def state(self) -> str:
        return "running" if self.running else "paused"

    @property
    def writer(self) -> Any:
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
            self._version,
            len(sessions),
            state,
            self.stepping,
            self._ticks_per_second,
            self.checkpoint_failure,
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
            checkpoint=self.checkpoint_state(),
            warnings=tuple(load_warnings(world)),
        )
        self._snapshot = (key, snap)
        return snap

    def attach_monitor(self, monitor: Any) -> None:
        """Let ``monitor`` (:class:`sim.engine.observe.Monitor`) watch this world: its ticks, its writer,
        whether it runs, and its checkpoints, across snapshot loads."""
        monitor.attach(self.sim, self.sim.writer, active=lambda: self.running)
        self.on_replace.append(lambda sim: monitor.attach(sim, sim.writer, active=lambda: self.running))
        self.on_checkpoint.append(
            lambda failure, _tick: monitor.checkpoint_failed(failure) if failure else monitor.checkpoint_succeeded()
        )

    def _subscribe(self, sim: Any) -> None:
        sim.bus.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, TickCompleted):
            self._ticks_seen += 1
            m = event.metrics
            sessions = [
                {
                    "id": s.id,
                    "status": s.status,
                    "reached": int(s.reached),
                    "new": int(s.new_per_tick[-1]) if s.new_per_tick else 0,
                }
                for s in self.sim.world.sessions
                if s.status in ("running", "queued") or s.ended_tick == event.tick
            ]
            self.events.publish({"type": "tick", **{k: m.get(k) for k in TICK_FIELDS if k in m}, "sessions": sessions})
        elif isinstance(event, MessageInjected):
            self.events.publish(
                {
                    "type": "message",
                    "message": event.message_id,
                    "session": event.session_id,
                    "model": event.model,
                    "tick": event.tick,
                    "text": event.text,
                }
            )
        elif isinstance(event, PropagationStarted):
            self.events.publish(
                {
                    "type": "session_started",
                    "session": event.session_id,
                    "model": event.model,
                    "seeds": event.seeds,
                    "tick": event.tick,
                }
            )
        elif isinstance(event, PropagationCompleted):
            self.events.publish(
                {
                    "type": "session_finished",
                    "session": event.session_id,
                    "status": event.status,
                    "reached": int(event.reached),
                    "tick": event.tick,
                }
            )
        elif isinstance(event, PropagationFailed):
            self.events.publish(
                {
                    "type": "session_finished",
                    "session": event.session_id,
                    "status": "failed",
                    "error": one_line(event.error),
                    "where": plugin_location(event.traceback),
                    "tick": event.tick,
                }
            )
        elif isinstance(event, RecommenderFailed):
            # Switched off, the world runs on without it: said on the stream, with where it failed.
            friend = event.name.startswith("friend:")
            self.events.publish(
                {
                    "type": "recommender_failed",
                    "recommender": event.name.removeprefix("friend:"),
                    "role": "friend" if friend else "content",
                    "error": one_line(event.error),
                    "where": plugin_location(event.traceback),
                    "traceback": plugin_traceback(event.traceback),
                    "switched_off": True,
                    "tick": event.tick,
                }
            )

    def audit(self, action: str, details: dict[str, Any], actor: str | None = None) -> None:
        """Append a user action to the world's audit log (through the writer, after queued work; a world
        without a file keeps none)."""
        if self.sim.writer is not None:
            self.sim.writer.submit_audit(action, {**details, **({"by": actor} if actor else {})})

    # -- running -----------------------------------------------------------------------------------------
    async def _run_loop(self) -> None:
        sim = self.sim
        try:
            while True:
                await sim.run(ticks=1, ticks_per_second=self._ticks_per_second)
                await self._periodic_checkpoint()
                if sim._stop:
                    break
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a bug: said on the stream; the world stays open, paused
            self.events.publish({"type": "error", "error": f"{type(exc).__name__}: {exc}"})
            for callback in self.on_error:
                callback(exc)

    async def _periodic_checkpoint(self) -> None:
        tick, at = self._checkpointed
        ticks = self.world.tick - tick
        if (self.checkpoint_every and ticks >= self.checkpoint_every) or (
            self.checkpoint_seconds and ticks > 0 and time.monotonic() - at >= self.checkpoint_seconds
        ):
            with contextlib.suppress(CheckpointFailedError):  # recorded and said; the run goes on, tried again later
                await self.checkpoint()

    @property
    def disk_tick(self) -> int:
        """The tick the world file holds: that of its last committed checkpoint."""
        return int(getattr(self.sim.writer, "checkpoint_tick", self.world.tick))

    def checkpoint_state(self) -> dict[str, Any]:
        """Whether the last checkpoint succeeded (``ok``), its failure's sentence (``error``), the tick the
        file holds (``tick_on_disk``) and the failures counted since the server started."""
        return {
            "ok": self.checkpoint_failure is None,
            "error": self.checkpoint_failure,
            "tick_on_disk": self.disk_tick,
            "failures": self.checkpoint_failures,
        }

    async def checkpoint(self) -> None:
        """Write the world's state into its file now (see ``WorldWriter.checkpoint``).

        Raises:
            CheckpointFailedError: it could not be written (the file keeps its previous checkpoint); the
                failure stays recorded, and loud, until a checkpoint succeeds.
        """
        self._checkpointed = (self.world.tick, time.monotonic())
        try:
            await self.sim.checkpoint()
        except Exception as exc:  # noqa: BLE001 - any failure, a bug included, must be said, never swallowed
            self._checkpoint_failed(exc)
            raise CheckpointFailedError(self.checkpoint_failure) from exc
        self._checkpoint_succeeded()

    def _checkpoint_failed(self, exc: BaseException) -> None:
        path = os.path.basename(str(getattr(self.sim.writer, "path", "") or self.world.path or "the world file"))
        if isinstance(exc, AgoraError):
            sentence = one_line(str(exc)) or type(exc).__name__
        elif self.policy.log_bugs:  # a bug: the traceback goes to the server's log, the sentence to everyone
            sentence = (
                f"the world file {path!r} could not be checkpointed ({type(exc).__name__}: "
                f"{(one_line(str(exc)) or '')[:200]}): it keeps its last checkpoint (tick {self.disk_tick}); "
                "see the server's log"
            )
            sys.stderr.write(
                "agora: a checkpoint failed with an unexpected error:\n"
                + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            )
            sys.stderr.flush()
        else:  # the terminal UI owns the terminal: the sentence says what failed
            sentence = (
                f"the world file could not be checkpointed ({type(exc).__name__}: "
                f"{(one_line(str(exc)) or '')[:200]}): it keeps its last checkpoint (tick {self.disk_tick})"
            )
        first = self.checkpoint_failure is None
        self.checkpoint_failures += 1
        self.checkpoint_failure = sentence
        if first:
            self.events.publish(
                {
                    "type": "checkpoint_failed",
                    "error": sentence,
                    "tick": self.world.tick,
                    "tick_on_disk": self.disk_tick,
                }
            )
            for callback in self.on_checkpoint:
                callback(sentence, self.disk_tick)
        if self._retry_task is None or self._retry_task.done():
            with contextlib.suppress(RuntimeError):  # no running loop: the next call retries
                self._retry_task = asyncio.get_running_loop().create_task(self._retry(), name="agora-checkpoint-retry")

    def _checkpoint_succeeded(self) -> None:
        # Every row queued before a checkpoint is committed with it: an earlier write error is over.
        if getattr(self.sim.writer, "error", None) is not None:
            self.sim.writer.error = None
        if self.checkpoint_failure is None:
            return
        self.checkpoint_failure = None
        self.events.publish({"type": "checkpoint_recovered", "tick": self.world.tick, "tick_on_disk": self.disk_tick})
        for callback in self.on_checkpoint:
            callback(None, self.disk_tick)

    async def _retry(self) -> None:
        """Try a failed checkpoint again every ``retry_seconds`` until one succeeds."""
        while self.checkpoint_failure is not None:
            await asyncio.sleep(self.retry_seconds)
            async with self.lock:
                if self.checkpoint_failure is None:
                    return
                with contextlib.suppress(CheckpointFailedError):
                    await self.checkpoint()

    async def _require_checkpoint(self) -> None:
        """Before a change (the caller holds ``lock``): while the last checkpoint failed, try it again, and
        refuse the change if it still fails.

        Raises:
            CheckpointFailedError: the checkpoint still fails.
        """
        if self.checkpoint_failure is not None and self.policy.durable:
            await self.checkpoint()

    async def run(self, ticks_per_second: float | None = None, *, actor: str | None = None) -> dict[str, Any]:
        """Start (or resume) ticking, as fast as possible or at ``ticks_per_second``.

        Raises:
            BadParameterError: a rate that is not a number above 0.
        """
        if ticks_per_second is not None and (
            isinstance(ticks_per_second, bool)
            or not isinstance(ticks_per_second, (int, float))
            or not 0 < ticks_per_second <= 1e6
        ):
            raise BadParameterError(
                f"ticks_per_second {ticks_per_second!r} is invalid: give a number above 0 "
                "(or leave it out to run as fast as possible)"
            )
        async with self.lock:
            await self._require_checkpoint()
            self._ticks_per_second = float(ticks_per_second) if ticks_per_second is not None else None
            self.sim.resume()
            if self._loop_task is None or self._loop_task.done():
                self.sim._stop = False
                self._loop_task = asyncio.create_task(self._run_loop(), name="agora-run")
            if self.policy.audit_runs:
                self.audit("run", {"tick": self.world.tick, "ticks_per_second": self._ticks_per_second}, actor)
            self.events.publish({"type": "state", "state": "running", "tick": self.world.tick})
            return {"state": "running", "tick": self.world.tick, "ticks_per_second": self._ticks_per_second}

    async def pause(self, *, actor: str | None = None) -> dict[str, Any]:
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
            if self.policy.durable and (was or self.checkpoint_failure is not None):
                await self._checkpoint_after(f"the world is paused at tick {self.world.tick}")
            return {"state": "paused", "tick": self.world.tick}

    async def _checkpoint_after(self, done: str, *, always: bool = False) -> None:
        """Checkpoint after a change that is done whatever happens to the checkpoint (a world that is not
        ``durable``: only when ``always``, else when one is due).

        Raises:
            CheckpointFailedError: ``done``, but the checkpoint failed (one sentence saying both).
        """
        if not (self.policy.durable or always):
            await self._periodic_checkpoint()
            return
        try:
            await self.checkpoint()
        except CheckpointFailedError as exc:
            raise CheckpointFailedError(f"{done}, but {exc}") from exc

    async def step(self, ticks: int = 1, *, actor: str | None = None) -> dict[str, Any]:
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
                await self._require_checkpoint()
                for _ in range(ticks):
                    await self.sim.step()
                    if not self.policy.durable:
                        await self._periodic_checkpoint()
                if self.policy.audit_runs:
                    self.audit("step", {"ticks": ticks, "tick": self.world.tick}, actor)
                if self.policy.durable:
                    await self._checkpoint_after(f"the world stepped to tick {self.world.tick}")
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

    # -- messages --------------------------------------------------------------------------------------
    async def inject(self, request: Inject | None = None, /, *, actor: str | None = None, **fields: object) -> Any:
        """Inject a message (see :meth:`Simulation.inject`) once no other call is changing the world;
        returns its session. ``request`` is an :class:`Inject` (or its fields as keywords, parsed here);
        a seed method chooses in a worker thread first. The checks and the injection are :meth:`inject_now`'s.

        Raises:
            see :meth:`inject_now`; CheckpointFailedError: the last checkpoint failed and still does (a
            ``durable`` world).
        """
        request = self.request(request, fields)
        async with self.lock:
            await self._require_checkpoint()
            chosen = await self._choose_seeds(request)
            session = self.inject_now(request, actor=actor, seed_agents=chosen)
            change = self.sim.last_change
        await self._durable(change)
        return session

    def request(self, request: Inject | None, fields: Mapping[str, object]) -> Inject:
        """``request``, or the :class:`Inject` its ``fields`` ask for, within what a live world's client may
        ask (:data:`~sim.engine.requests.SERVED`: no file, no slow seed method, bounded text and ids).

        Raises:
            BadParameterError: as :meth:`Inject.parse`.
        """
        if request is None:
            return Inject.parse(fields, self.registry, SERVED)
        if fields:
            raise TypeError(f"inject() takes an Inject request or keywords, not both ({', '.join(fields)})")
        return request

    async def _durable(self, change: int) -> None:
        """A durable world (a server) answers a change only once it is on disk: wait until the writer has
        committed change number ``change`` (its journal row, grouped with others in one transaction).

        Raises:
            NotDurableError: it could not be written (the change stands in memory; the answer says so).
        """
        writer = self.sim.writer
        if self.policy.durable and self.acknowledge == "durable" and writer is not None and change:
            await writer.wait_durable(change)

    async def _choose_seeds(self, request: Inject) -> np.ndarray | None:
        """The agents a seed method chooses for an injection, chosen in a worker thread with the world's ticks
        held (the event loop goes on answering; a method can take seconds on a large world); None when the
        seeds are not a method's, or the world cannot meet them (:meth:`inject_now` then says why)."""
        if request.seeds.kind != "method":
            return None
        try:
            request.seeds.check(self.world)
        except AgoraError:
            return None
        async with self.sim.lock:  # no tick changes the graph while the method reads it
            return await asyncio.to_thread(
                self.sim.choose_seeds, request.seeds, request.model, dict(request.params)
            )

    def inject_now(
        self,
        request: Inject | None = None,
        /,
        *,
        actor: str | None = None,
        seed_agents: np.ndarray | None = None,
        **fields: object,
    ) -> Any:
        """Inject a message at once, between two ticks or while one runs (the terminal UI's form: the
        session is queued when this returns); returns its session. ``request`` is an :class:`Inject` (or its
        fields as keywords, parsed by :meth:`request`); the world holds at most ``max_messages`` messages.

        Raises:
            BadParameterError: a mistake in the request (:meth:`Inject.parse`), or seeds, an author or a model
                this world cannot use.
            StateError: the world holds ``max_messages`` messages already.
        """
        request = self.request(request, fields)
        if len(self.world.messages) >= self.max_messages:
            raise StateError(
                f"the world holds {len(self.world.messages):,} messages, the most this server allows "
                f"({self.max_messages:,}, --max-messages): serve it with a higher bound to inject more"
            )
        session = self.sim.inject(request, actor=actor, seed_agents=seed_agents)
        self._version += 1
        if session.status == "failed" and self.policy.refuse_failed_model:
            raise BadParameterError(f"model {request.model!r} could not be used: {session.error}")
        return session

    def cancel(self, session_id: int, *, actor: str | None = None) -> Any:
        """Cancel a queued or running session (recorded in the audit log by the simulation); returns it.

        Raises:
            AgoraError: no such session, or one that has ended.
        """
        session = self.sim.cancel(session_id, actor=actor)
        self._version += 1
        return session

    async def intervene(self, action: Any, *, actor: str | None = None) -> dict[str, Any]:
        """Schedule an intervention once no other call is changing the world (see :meth:`intervene_now`).

        Raises:
            see :meth:`intervene_now`; CheckpointFailedError: the last checkpoint failed and still does.
        """
        async with self.lock:
            await self._require_checkpoint()
            entry = self.intervene_now(action, actor=actor)
            change = self.sim.last_change
        await self._durable(change)
        return entry

    def intervene_now(self, action: Any, *, actor: str | None = None) -> dict[str, Any]:
        """Schedule an intervention (``sim.model.intervene``): ``ACTION`` applies at the start of the next
        tick, ``TICK:ACTION`` that many ticks from now. Its seeds never name a file (a path on the server).
        Returns the world's entry (pending until its tick).

        The world holds at most ``sim.max_interventions`` interventions (:data:`MAX_INTERVENTIONS` unless
        the server set another bound), and a counter-message is refused when the messages and the
        counter-messages already pending would pass ``max_messages`` (the engine also skips one that would
        pass it when its tick comes).

        Raises:
            BadParameterError: not a string, too long, a file, malformed or not possible in this world.
            StateError: the world holds as many interventions as it may, or a counter-message would pass
                ``max_messages``.
        """
        if isinstance(action, bool) or not isinstance(action, str):
            raise BadParameterError(f'action must be a string such as "block:degree:100", got {type(action).__name__}')
        if len(action) > MAX_INTERVENTION:
            raise BadParameterError(
                f"the action is {len(action):,} characters, more than the {MAX_INTERVENTION:,} one may have"
            )
        if "file:" in action.lower():
            raise BadParameterError(
                "an intervention's seeds cannot be a file (a path on the server): give ids:a,b,c or METHOD:K"
            )
        for part in action.lower().split(":"):
            if self._is_seeder(part.strip()) and self.registry.seeder(part.strip()).expensive:
                raise BadParameterError(
                    f"seed method {part.strip()} can take minutes on a large world, which a request may not: "
                    "choose the agents with 'agora seeds' and send ids:a,b,c"
                )
        held, bound = len(entries(self.world)), getattr(self.sim, "max_interventions", None) or MAX_INTERVENTIONS
        if held >= bound:
            raise StateError(
                f"the world holds {held:,} interventions, the most this server allows ({bound:,}, "
                "--max-interventions): serve it with a higher bound to schedule more"
            )
        if action_of(action) == "counter":
            messages, pending = len(self.world.messages), pending_counters(self.world)
            if messages + pending >= self.max_messages:
                raise StateError(
                    f"a counter-message would pass the {self.max_messages:,} messages this server allows "
                    f"(--max-messages): the world holds {messages:,} and {pending:,} counter-messages are "
                    "pending; serve it with a higher bound for more"
                )
        entry = self.sim.intervene(action, actor=actor)
        self._version += 1
        return dict(entry)

    def interventions(self, limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
        """The world's interventions, pending and applied, in the order given (block lists summarised by
        their count): all of them, or at most ``limit`` from the ``offset``-th (one page)."""
        listed = entries(self.world)
        out = []
        for e in listed[offset:] if limit is None else listed[offset : offset + limit]:
            row = {k: v for k, v in e.items() if k != "agents"}
            if "agents" in e:
                row["agents"] = len(e["agents"] or [])
            out.append(row)
        return out

    def _is_seeder(self, name: str) -> bool:
        return f"{SEEDER}:{name}" in self.registry.entries

    # -- reading -----------------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """What ``GET /api/v1/world`` answers."""
        world, sim = self.world, self.sim
        counts: dict[str, int] = {}
        for s in world.sessions:
            counts[s.status] = counts.get(s.status, 0) + 1
        settings = sim.social.settings
        return {
            "name": world.name,
            "agents": world.n,
            "edges": world.num_edges,
            "tick": world.tick,
            "state": self.state,
            "ticks_per_second": self._ticks_per_second,
            "sessions": len(world.sessions),
            "session_status": counts,
            "living": {"on": sim.social.living, **{k: v for k, v in settings.items()}},
            "llm": {"mode": sim.llm.mode, "model": sim.llm.config.model},
            "messages": len(world.messages),
            "communities": world.num_communities,
            "checkpoint": self.checkpoint_state(),
            # What the world's file or snapshot named and Agora ignored (LLM servers, credentials).
            "warnings": load_warnings(world),
        }

    def session_record(self, session_id: Any, *, series: bool = False, cascade: bool = False) -> dict[str, Any]:
        """One session as ``GET /api/v1/sessions/{id}`` answers it (``series``: its per-state series;
        ``cascade``: the measures of its adoption forest, ``sim.core.cascade``, None for a model without
        sources or a session that has not started — O(its size), so not in listings).

        Raises:
            NotFoundError: no such session.
        """
        try:
            sid = int(session_id)
        except (TypeError, ValueError):
            raise NotFoundError(f"no session {str(session_id)[:40]!r}: session ids are whole numbers") from None
        s = next((x for x in self.world.sessions if x.id == sid), None)
        if s is None:
            raise NotFoundError(f"no session {sid}: GET /api/v1/sessions lists them")
        out = {
            "id": s.id,
            "message": s.message_id,
            "text": s.message.get("text"),
            "model": s.model_name,
            "params": s.params,
            "seeds": s.seeds,
            "status": s.status,
            "priority": s.priority,
            "created_tick": s.created_tick,
            "started_tick": s.started_tick,
            "ended_tick": s.ended_tick,
            "reached": int(s.reached),
            "exposed": int(s.exposed_count),
            "rounds": s.round,
            "error": s.error,
            "where": plugin_location(s.traceback) if s.status == "failed" else None,
            "traceback": s.traceback if s.status == "failed" else None,
        }
        if series:
            out["series"] = series_dict(s)
        if cascade:
            out["cascade"] = s.cascade() if s.status != "failed" else None
        return out

    def sessions(self, limit: int = PAGE_SIZE, offset: int = 0) -> list[dict[str, Any]]:
        """One page of the sessions, oldest first: at most ``limit`` of them from the ``offset``-th."""
        return [self.session_record(s.id) for s in self.world.sessions[offset : offset + limit]]

    def agent(self, original_id: Any) -> dict[str, Any]:
        """An agent by original id, as ``agora agent --json`` prints it.

        Raises:
            NotFoundError: no agent has that id.
        """
        try:
            key = int(original_id)
            if not INT64_MIN <= key <= INT64_MAX:  # no agent id is outside 64 bits
                raise ValueError
            i = self.world.index_of(key)
        except (TypeError, ValueError, OverflowError, BadParameterError):
            raise NotFoundError(f"no agent {str(original_id)[:40]!r}: agents are named by their original ids") from None
        out = self.world.agent(i).to_dict()
        out["memory"] = self.sim.llm.agent_memory(i)  # what it remembers (sim.core.agentmemory)
        return out

    def find_agents(self, query: str) -> np.ndarray:
        """The indices of the agents that ``query`` names: an original id (one agent) or a name (first name,
        or first and last; every agent called so, in index order).

        Raises:
            BadParameterError: an empty query, an unknown id, or no agent of that name.
        """
        world = self.world
        q = query.strip()
        if not q:
            raise BadParameterError("type an agent id or a name")
        if q.lstrip("-").isdigit():
            return np.array([world.index_of(int(q))], dtype=np.int64)
        words = q.lower().split()
        codes = world.columns["persona_codes"]
        firsts = [i for i, n in enumerate(FIRST_NAMES) if n.lower() == words[0]]
        mask = np.isin(codes[:, 0], firsts) if firsts else np.zeros(world.n, dtype=bool)
        if len(words) > 1:
            lasts = [i for i, n in enumerate(LAST_NAMES) if n.lower() == words[1]]
            mask &= np.isin(codes[:, 1], lasts)
        for i, p in world.persona_overrides.items():  # agents given a persona of their own: few
            mask[i] = p.name.lower() == q.lower()
        hits = np.flatnonzero(mask)
        if hits.size == 0:
            raise BadParameterError(f"no agent is called {q!r}: try an id or another name")
        return hits

    def influence_rank(self, index: int) -> int:
        """Agent ``index``'s rank by influence (1: the most influential)."""
        infl = self.world.columns["influence"]
        return int(np.count_nonzero(infl > infl[index])) + 1

    async def communities(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The communities table of the last analysis (empty before one, and for a world without a file)."""
        if self.sim.writer is None:
            return []
        return await self.sim.writer.call(lambda db: read_communities(db, limit=limit))

    # -- analysis and settings -----------------------------------------------------------------------
    async def analyse(self, *, actor: str | None = None) -> dict[str, Any]:
        """Detect communities (Leiden) and rank influence (PageRank) off the event loop, and keep them in
        the world and its file. A detected community takes the id of the community most of its members
        were in (the ids shown before stay). Audited.

        Returns:
            ``line`` (the communities in one line), ``ids`` (how they were numbered) and ``record`` (the
            world's ``config["analysis"]["communities"]``).
        """
        world = self.world
        result = await asyncio.to_thread(analyze, world)
        async with self.lock:
            if world is not self.world:
                raise StateError("a snapshot replaced the world during the analysis: detect communities again")
            async with self.sim.lock:
                table = store_analysis(world, result, keep_ids=True)
            if self.sim.writer is not None:
                await self.sim.checkpoint()
                await self.sim.writer.call(lambda db: write_analysis(db, world, table))
            self._version += 1
            return self._analysed(world.config["analysis"]["communities"])

    def _analysed(self, rec: dict[str, Any]) -> dict[str, Any]:
        self.audit("analysis", {"communities": rec["count"], "isolated": rec["isolated"], "kept_ids": rec["kept"]})
        new = rec["count"] - rec["kept"]
        if not rec["kept"] and not rec["first_new"]:
            ids = "numbered by size (the world had no communities before)"
        else:
            ids = f"{rec['kept']:,} kept their ids" + (f", {new:,} new (ids from {rec['first_new']:,})" if new else "")
        return {"line": communities_line(rec["count"], rec["modularity"], rec["isolated"]), "ids": ids, "record": rec}

    async def configure_social(self, setting: str, value: Any, *, actor: str | None = None) -> tuple[Any, Any]:
        """Change one setting of the living network (``recommender``, ``friend_recommender``, ...) between
        two ticks, keep it in the world's settings and audit it. Returns the value before and after.

        Raises:
            AgoraError: a bad value (settings unchanged); any error of a plugin's constructor as it is.
        """
        social = self.sim.social
        before = social.settings[setting]
        async with self.sim.lock:  # never between a tick's feeds and its friend suggestions
            social.configure(**{setting: value})
        after = social.settings[setting]
        self.world.config["social"] = {k: dict(v) if isinstance(v, dict) else v for k, v in social.settings.items()}
        self.sim.dirty = True
        self._version += 1
        self.audit("social", {setting: after, "was": before}, actor)
        return before, after

    # -- per-agent columns from data ------------------------------------------------------------------
    def columns(self) -> list[dict[str, Any]]:
        """The columns that may be set (``sim.model.columns``): name, range, kind, the models that start
        from it, and whether the world holds it (a built-in column always does)."""
        return [
            {
                "name": c.name,
                "min": c.min,
                "max": c.max,
                "kind": "built-in" if c.builtin else "data",
                "models": list(c.models),
                "set": c.name in self.world.columns,
            }
            for c in settable_columns(self.registry).values()
        ]

    async def set_column(self, name: Any, ids: Any, values: Any, *, actor: str | None = None) -> dict[str, Any]:
        """Set a per-agent column from data between two ticks (``sim.model.columns``): ``ids`` (original
        ids) and ``values``, lists of one length giving every agent of the world exactly one value in the
        column's range. Sessions that start later start from it; built-in columns count from the next tick.
        Checkpointed (a durable world) and audited. Returns what the audit row says (column, agents, mean,
        min, max, SHA-256 of the values).

        Raises:
            NotFoundError: not a column that may be set. BadParameterError: ids or values that are not lists
                of numbers, or any id or value :func:`~sim.model.columns.column_values` refuses (nothing
                changes). CheckpointFailedError: as :meth:`step`.
        """
        try:
            spec = column_spec(self.registry, name)
        except BadParameterError as exc:
            raise NotFoundError(str(exc)) from None
        id_array = _column_list(ids, "ids", "i", "whole numbers that fit in 64 bits (original agent ids)")
        value_array = _column_list(values, "values", "iuf", "numbers")
        async with self.lock:
            await self._require_checkpoint()
            # Off the event loop: some two million ids are searched and checked (other requests go on).
            column = await asyncio.to_thread(column_values, self.world, spec, id_array, value_array, "the body")
            async with self.sim.lock:  # between two ticks
                apply_column(self.world, spec.name, column)
            self.sim.dirty = True
            self._version += 1
            summary = column_summary(spec, column)
            self.audit("set", summary, actor)
            await self._checkpoint_after(f"column {spec.name} is set")
            return summary

    async def clear_column(self, name: Any, *, actor: str | None = None) -> dict[str, Any]:
        """Remove a data column (a model's variable is drawn from its ``init`` again); checkpointed and audited.

        Raises:
            NotFoundError: the world holds no such data column (a built-in one cannot be removed).
            CheckpointFailedError: as :meth:`step`.
        """
        async with self.lock:
            await self._require_checkpoint()
            async with self.sim.lock:
                try:
                    clear_column(self.world, name)
                except BadParameterError as exc:
                    raise NotFoundError(str(exc)) from None
            self.sim.dirty = True
            self._version += 1
            self.audit("set", {"column": name, "cleared": True}, actor)
            await self._checkpoint_after(f"column {name} is removed")
            return {"column": name, "cleared": True}

    def reload_plugins(self, *, actor: str | None = None) -> list[Any]:
        """Import the user's plugins again (no restart); returns the entries that failed to load. Audited."""
        failures = self.sim.registry.reload()
        self.audit("plugin_reload", {"failures": [f.name for f in failures]}, actor)
        self._version += 1
        return failures

    async def interview(self, index: int, question: str, *, actor: str | None = None) -> Any:
        """Ask agent ``index`` (an index, not an id) a question (the LLM, else the offline generator);
        the interview is audited unless a snapshot replaced the world meanwhile."""
        world, llm = self.world, self.sim.llm
        result = await llm.interview(index, question)
        if self.world is world:
            self.audit(
                "interview",
                {
                    "agent": int(world.columns["ids"][index]),
                    "question": question[:1000],
                    "source": result.source,
                    "tick": world.tick,
                },
                actor,
            )
        return result

    # -- snapshots -----------------------------------------------------------------------------------------
    def _snapshot_path(self, name: Any) -> str:
        if not isinstance(name, str) or not SNAPSHOT_NAME.fullmatch(name.removesuffix(".snap") or "-"):
            raise BadParameterError(
                f"snapshot name {str(name)[:60]!r} is invalid: use letters, digits, '.', '-' and '_' "
                "(up to 100, starting with a letter or digit)"
            )
        return os.path.join(self.snapshots, name.removesuffix(".snap") + ".snap")

    def _list_snapshots(self) -> list[dict[str, Any]]:
        out = []
        try:
            entries = sorted(os.scandir(self.snapshots), key=lambda e: e.name)
        except OSError:  # no folder yet (or not readable): nothing saved there
            return []
        for entry in entries:
            name = entry.name
            if not (name.endswith(".snap") and SNAPSHOT_NAME.fullmatch(name[:-5] or "-")):
                continue
            try:
                st = os.stat(entry.path)  # never opened: a pipe or a device is only looked at
            except OSError:  # a dangling link
                continue
            if stat.S_ISREG(st.st_mode):
                out.append({"name": name[:-5], "size_bytes": st.st_size, "modified": st.st_mtime})
        return out

    async def list_snapshots(self) -> list[dict[str, Any]]:
        """The regular ``.snap`` files of the snapshot folder (read in a worker thread)."""
        return await asyncio.to_thread(self._list_snapshots)

    def _read_snapshot(self, path: str) -> tuple[Any, Any]:
        """The world in snapshot ``path`` and its history (in a worker thread; see
        ``sim.store.snapshot.load_snapshot_history``): a regular file inside the snapshot folder
        (a link may point only inside it), no larger than ``max_snapshot_bytes``, opened without blocking
        and read through that one open file, so a file swapped in meanwhile is never read.

        Raises:
            NotFoundError: no such snapshot. BadParameterError: a pipe, a device, a link out of the folder,
            a file too large. BadFileError: a damaged snapshot.
        """
        shown = os.path.basename(path)[:-5]
        folder = os.path.realpath(self.snapshots)
        real = os.path.realpath(path)
        if os.path.commonpath([folder, real]) != folder:
            raise BadParameterError(
                f"snapshot {shown!r} is a link to a file outside the snapshot folder: the server "
                "reads snapshots only from its own folder"
            )
        try:
            fd = os.open(real, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            raise NotFoundError(f"no snapshot {shown!r}: GET /api/v1/snapshots lists them") from None
        except OSError as exc:
            raise BadParameterError(f"snapshot {shown!r} cannot be opened ({exc.strerror}): save it again") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise BadParameterError(
                    f"snapshot {shown!r} is not a regular file (a folder, a pipe or a device): the server "
                    "reads only snapshot files it can read at once"
                )
            if st.st_size > self.max_snapshot_bytes:
                raise BadParameterError(
                    f"snapshot {shown!r} is {st.st_size:,} bytes, more than the "
                    f"{self.max_snapshot_bytes:,} the server reads: load it with 'agora load' instead"
                )
            pinned = f"/proc/self/fd/{fd}"
            source = pinned if os.path.exists(pinned) else real  # Linux: the very file checked above
            try:
                return read_snapshot_file(source)
            except (BadFileError, ResourceError) as exc:
                message = str(exc).replace(repr(source), repr(shown)).replace(source, shown)
                raise type(exc)(message) from None
        finally:
            os.close(fd)

    async def save_snapshot(self, name: Any, *, actor: str | None = None) -> dict[str, Any]:
        """Save the world as snapshot ``name`` in the snapshot folder (replacing one of that name).

        Raises:
            BadParameterError: a bad name. ResourceError: the disk is full (nothing replaced).
        """
        path = self._snapshot_path(name)
        os.makedirs(self.snapshots, exist_ok=True)
        done = await self._save(path, os.path.basename(path), actor)
        return {"name": os.path.basename(path)[:-5], "size_bytes": done["size_bytes"], "tick": done["tick"]}

    async def save_snapshot_file(self, path: str, *, actor: str | None = None) -> dict[str, Any]:
        """Save the world as a snapshot at ``path``, any file the user names (the terminal UI's save
        screen); audited with the whole path.

        Raises:
            AgoraError: it could not be written (the previous file is intact). OSError: likewise.
        """
        return await self._save(path, path, actor)

    async def _save(self, path: str, recorded: str, actor: str | None) -> dict[str, Any]:
        async with self.lock:
            await self._require_checkpoint()
            async with self.sim.lock:
                if self.sim.writer is not None:
                    # The snapshot takes the world's events and exposures from its file: all of them written first.
                    await self.sim.writer.flush()
                size = await asyncio.to_thread(write_snapshot_file, self.world, path, force=True)
            self.audit("save", {"snapshot": recorded, "tick": self.world.tick, "size_bytes": size}, actor)
            await self._checkpoint_after(
                f"snapshot {os.path.basename(path).removesuffix('.snap')!r} is saved", always=True
            )
        return {"path": path, "size_bytes": size, "tick": self.world.tick}

    async def load_snapshot(self, name: Any, *, actor: str | None = None) -> dict[str, Any]:
        """Replace the world by snapshot ``name`` of the snapshot folder (its file rewritten; the run goes
        on if it was running).

        Raises:
            BadParameterError: a bad name. NotFoundError: no such snapshot. BadFileError: a damaged one
            (the world is left as it was).
        """
        path = self._snapshot_path(name)
        # Checked whole, its history included, before anything changes.
        new_world, history = await asyncio.to_thread(self._read_snapshot, path)
        await self._replace(new_world, history, os.path.basename(path), actor)
        return {"name": os.path.basename(path)[:-5], "tick": new_world.tick, "state": self.state}

    async def load_snapshot_file(self, path: str, *, actor: str | None = None) -> dict[str, Any]:
        """Replace the world by the snapshot at ``path``, any file the user names (the terminal UI's load
        screen); audited with the path as given.

        Raises:
            AgoraError: no such file, or a damaged one (the world is left as it was).
        """
        # Checked whole, its history included, before anything changes.
        new_world, history = await asyncio.to_thread(read_snapshot_file, path)
        await self._replace(new_world, history, path, actor)
        return {"path": path, "tick": new_world.tick, "state": self.state}

    async def _replace(self, new_world: Any, history: Any, recorded: str, actor: str | None) -> None:
        """Make ``new_world`` the live world: the run loop stopped (no tick under way), the world file
        rewritten with the new world and its ``history`` (the snapshot's adoption events and feed exposures;
        None: none before its tick) and the old file's audit log, a new writer and simulation on the same
        plugins and LLM settings, ``on_replace`` told; the run goes on if it was running."""
        async with self.lock:
            await self._require_checkpoint()
            was_running = self.running
            tps = self._ticks_per_second
            await self.stop()
            old = self.sim
            world_path = old.world.path
            if world_path:  # held from the old writer to the new one: no other process writes in between
                lock.acquire(world_path)
            try:
                await self._swap(old, new_world, history, world_path)
            finally:
                if world_path:
                    lock.release(world_path)
            self._checkpointed = (new_world.tick, time.monotonic())
            self.audit("load", {"snapshot": recorded, "tick": new_world.tick}, actor)
            self.events.publish(
                {"type": "load", "snapshot": os.path.basename(recorded).removesuffix(".snap"), "tick": new_world.tick}
            )
        if was_running:
            await self.run(tps, actor=actor)

    async def _swap(self, old: Any, new_world: Any, history: Any, world_path: str | None) -> None:
        """Write ``new_world`` over the world file and put a simulation on it (see :meth:`_replace`)."""
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
        sim.max_messages = self.max_messages
        self.sim = sim
        self._subscribe(sim)
        self._version += 1
        for callback in self.on_replace:
            callback(sim)

    async def close(self, *, save: bool = True) -> bool:
        """Stop ticking, checkpoint (unless not ``save``: the file keeps its last checkpoint), and close
        the world file's writer and the LLM connections.

        Returns:
            Whether the final checkpoint succeeded (True without ``save``); when it did not,
            :attr:`checkpoint_failure` says why and :attr:`disk_tick` is the tick the file holds.
        """
        if self._closed:
            return self.checkpoint_failure is None
        self._closed = True
        await self.stop()
        if self._retry_task is not None:
            self._retry_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._retry_task
            self._retry_task = None
        saved = True
        if save:
            try:
                await self.checkpoint()
            except CheckpointFailedError:
                saved = False
        with contextlib.suppress(Exception):  # closing half-dead LLM connections must not stop the end
            await self.sim.aclose()
        if self.sim.writer is not None:
            await self.sim.writer.close()
        return saved


def _column_list(value: Any, what: str, kinds: str, expected: str) -> np.ndarray:
    """A request's list of ids or values as one array (numpy converts the list in one call).

    Raises:
        BadParameterError: not a list, or not a flat list of ``expected``.
    """
    if isinstance(value, bool) or not isinstance(value, list):
        raise BadParameterError(f"{what} must be a list of {expected}, got {type(value).__name__}")
    if bool in set(map(type, value)):  # numpy reads true as 1 beside numbers (one pass in C, no Python loop)
        raise BadParameterError(f"{what} must be a list of {expected}: true and false are not numbers")
    try:
        arr = np.array(value) if value else np.empty(0, dtype=np.int64)
    except (ValueError, OverflowError):  # ragged lists
        arr = np.empty(0, dtype=object)
    if arr.ndim != 1 or arr.dtype.kind not in kinds:
        raise BadParameterError(f"{what} must be a flat list of {expected}")
    return arr
