"""A world kept live for a front end other than the terminal UI (the HTTP API of ``agora serve``).

:class:`WorldHost` owns one :class:`~sim.engine.simulation.Simulation` on a world file, with the file's
writer: a run loop that can be started and paused, stepping, periodic checkpoints (a crash loses at most
the ticks since the last one), snapshots saved and loaded in a folder of its own, and the live events
of the simulation fanned out to any number of listeners (:class:`EventHub`). Every call that changes the
world is serialised by one lock and recorded in the world's audit log with the name of who asked.

Calls that the current state forbids (stepping while the world runs) raise :class:`StateError`; bad
values raise :class:`~sim.errors.BadParameterError`; unknown ids :class:`NotFoundError`. Headless.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from collections import deque
from typing import Any

from sim.core.events import (
    Event,
    MessageInjected,
    PropagationCompleted,
    PropagationFailed,
    PropagationStarted,
    RecommenderFailed,
    TickCompleted,
)
from sim.core.tracebacks import one_line, plugin_location, plugin_traceback
from sim.errors import AgoraError, BadParameterError

#: The figures of a tick's metrics that a tick event carries (the dashboard's).
TICK_FIELDS = ("tick", "seconds", "online", "running", "queued", "completed", "failed", "attempts", "new_adoptions",
               "reached", "feed_reached", "graph_reached", "edges", "follows", "unfollows", "joins", "leaves",
               "llm_calls", "llm_fallbacks", "llm_cost_usd", "posts", "db_queue", "db_wait_seconds")
#: How a snapshot may be named: letters, digits, dot, dash and underscore (no folders).
SNAPSHOT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class StateError(AgoraError):
    """An action the world's current state forbids (HTTP 409)."""


class NotFoundError(AgoraError):
    """An id or name that does not exist (HTTP 404)."""


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
            except asyncio.TimeoutError:
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


class WorldHost:
    """See the module docstring. Use :meth:`open`; call :meth:`close` at the end."""

    def __init__(self, sim: Any, *, snapshots: str, checkpoint_every: int | None = 50,
                 checkpoint_seconds: float | None = 60.0) -> None:
        self.sim = sim
        self.snapshots = os.path.abspath(snapshots)
        self.checkpoint_every = checkpoint_every
        self.checkpoint_seconds = checkpoint_seconds
        self.events = EventHub()
        #: Called with the new simulation when a loaded snapshot replaces the world (a metrics monitor).
        self.on_replace: list[Any] = []
        #: Serialises every call that changes the world (one caller at a time).
        self.lock = asyncio.Lock()
        self._loop_task: asyncio.Task | None = None
        self._ticks_per_second: float | None = None
        self._checkpointed = (sim.world.tick, time.monotonic())
        self._subscribe(sim)

    @classmethod
    async def open(cls, path: str, *, plugin_dirs: list[str] | tuple[str, ...] = (), social: dict[str, Any] | None = None,
                   llm: dict[str, Any] | None = None, plugin_budget: float | None = None, snapshots: str | None = None,
                   checkpoint_every: int | None = 50, checkpoint_seconds: float | None = 60.0,
                   check_llm: Any = None) -> "WorldHost":
        """Open the world file at ``path`` with its writer (recovering it after a crash) and a simulation.

        ``social`` and ``llm`` override the world's living-network and LLM settings while it is served;
        ``check_llm`` is handed the resolved LLM configuration before anything starts (the command refuses
        settings that would have no effect there).

        Raises:
            BadFileError: the world file cannot be opened; BadParameterError: bad settings.
        """
        from sim.engine.simulation import Simulation
        from sim.llm.config import LLMConfig
        from sim.llm.service import LLMService
        from sim.model.registry import Registry, world_plugin_dir
        from sim.store.worldfile import open_world
        from sim.store.writer import WorldWriter

        world = await open_world(path)
        if check_llm is not None:
            check_llm(LLMConfig.resolve(world.config.get("llm"), llm))
        dirs = list(plugin_dirs)
        if os.path.isdir(world_plugin_dir(path)):
            dirs.append(world_plugin_dir(path))
        registry = Registry(dirs)
        writer = await WorldWriter(path).start()
        try:
            sim = Simulation(world, registry=registry, writer=writer, plugin_budget=plugin_budget,
                             llm=LLMService(world, LLMConfig.resolve(world.config.get("llm"), llm)))
            registry.bus = sim.bus
            if social:
                sim.social.configure(**social)
        except BaseException:
            await writer.close()
            raise
        folder = snapshots or os.path.dirname(os.path.abspath(path))
        return cls(sim, snapshots=folder, checkpoint_every=checkpoint_every, checkpoint_seconds=checkpoint_seconds)

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

    def _subscribe(self, sim: Any) -> None:
        sim.bus.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, TickCompleted):
            m = event.metrics
            sessions = [{"id": s.id, "status": s.status, "reached": int(s.reached),
                         "new": int(s.new_per_tick[-1]) if s.new_per_tick else 0}
                        for s in self.sim.world.sessions if s.status in ("running", "queued") or s.ended_tick == event.tick]
            self.events.publish({"type": "tick", **{k: m.get(k) for k in TICK_FIELDS if k in m}, "sessions": sessions})
        elif isinstance(event, MessageInjected):
            self.events.publish({"type": "message", "message": event.message_id, "session": event.session_id,
                                 "model": event.model, "tick": event.tick, "text": event.text})
        elif isinstance(event, PropagationStarted):
            self.events.publish({"type": "session_started", "session": event.session_id, "model": event.model,
                                 "seeds": event.seeds, "tick": event.tick})
        elif isinstance(event, PropagationCompleted):
            self.events.publish({"type": "session_finished", "session": event.session_id, "status": event.status,
                                 "reached": int(event.reached), "tick": event.tick})
        elif isinstance(event, PropagationFailed):
            self.events.publish({"type": "session_finished", "session": event.session_id, "status": "failed",
                                 "error": one_line(event.error), "where": plugin_location(event.traceback),
                                 "tick": event.tick})
        elif isinstance(event, RecommenderFailed):
            # Switched off, the world runs on without it: said on the stream, with where it failed.
            friend = event.name.startswith("friend:")
            self.events.publish({"type": "recommender_failed", "recommender": event.name.removeprefix("friend:"),
                                 "role": "friend" if friend else "content", "error": one_line(event.error),
                                 "where": plugin_location(event.traceback),
                                 "traceback": plugin_traceback(event.traceback), "switched_off": True,
                                 "tick": event.tick})

    def audit(self, action: str, details: dict[str, Any], actor: str | None) -> None:
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
        except Exception as exc:  # noqa: BLE001 - a bug: said on the stream; the world stays served, paused
            self.events.publish({"type": "error", "error": f"{type(exc).__name__}: {exc}"})

    async def _periodic_checkpoint(self) -> None:
        tick, at = self._checkpointed
        ticks = self.world.tick - tick
        if (self.checkpoint_every and ticks >= self.checkpoint_every) or (
                self.checkpoint_seconds and ticks > 0 and time.monotonic() - at >= self.checkpoint_seconds):
            await self.checkpoint()

    async def checkpoint(self) -> None:
        """Write the world's state into its file now (see ``WorldWriter.checkpoint``)."""
        self._checkpointed = (self.world.tick, time.monotonic())
        await self.sim.checkpoint()

    async def run(self, ticks_per_second: float | None = None, *, actor: str | None = None) -> dict[str, Any]:
        """Start (or resume) ticking, as fast as possible or at ``ticks_per_second``.

        Raises:
            BadParameterError: a rate that is not a number above 0.
        """
        if ticks_per_second is not None:
            if isinstance(ticks_per_second, bool) or not isinstance(ticks_per_second, (int, float)) or not 0 < ticks_per_second <= 1e6:
                raise BadParameterError(f"ticks_per_second {ticks_per_second!r} is invalid: give a number above 0 "
                                        "(or leave it out to run as fast as possible)")
        async with self.lock:
            self._ticks_per_second = float(ticks_per_second) if ticks_per_second is not None else None
            self.sim.resume()
            if self._loop_task is None or self._loop_task.done():
                self.sim._stop = False
                self._loop_task = asyncio.create_task(self._run_loop(), name="agora-serve-run")
            self.audit("run", {"tick": self.world.tick, "ticks_per_second": self._ticks_per_second}, actor)
            self.events.publish({"type": "state", "state": "running", "tick": self.world.tick})
            return {"state": "running", "tick": self.world.tick, "ticks_per_second": self._ticks_per_second}

    async def pause(self, *, actor: str | None = None) -> dict[str, Any]:
        """Pause after the tick under way (if any); the world is checkpointed."""
        async with self.lock:
            was = self.running
            self.sim.pause()
            async with self.sim.lock:  # the tick under way ends first
                pass
            if was:
                await self.checkpoint()
                self.audit("pause", {"tick": self.world.tick}, actor)
                self.events.publish({"type": "state", "state": "paused", "tick": self.world.tick})
            return {"state": "paused", "tick": self.world.tick}

    async def step(self, ticks: int = 1, *, actor: str | None = None) -> dict[str, Any]:
        """Advance ``ticks`` ticks (the world must be paused); returns the new tick.

        Raises:
            BadParameterError: not a whole number from 1 to 10,000. StateError: the world is running.
        """
        if isinstance(ticks, bool) or not isinstance(ticks, int) or not 1 <= ticks <= 10_000:
            raise BadParameterError(f"ticks {ticks!r} is invalid: give a whole number from 1 to 10,000")
        async with self.lock:
            if self.running:
                raise StateError("the world is running: pause it first (POST /api/v1/pause), then step")
            for _ in range(ticks):
                await self.sim.step()
            await self.checkpoint()
            self.audit("step", {"ticks": ticks, "tick": self.world.tick}, actor)
            return {"tick": self.world.tick, "state": self.state}

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
    async def inject(self, *, text: Any, model: Any = "ic", params: Any = None, seeds: Any = "random:10", topics: Any = (),
                     author: Any = None, priority: Any = 0, actor: str | None = None) -> Any:
        """Inject a message (see :meth:`Simulation.inject`); returns its session.

        Raises:
            BadParameterError: any value of the wrong type or out of range, in one sentence.
        """
        def typed(value: Any, kind: type | tuple[type, ...], what: str, example: str) -> Any:
            if isinstance(value, bool) or not isinstance(value, kind):
                raise BadParameterError(f"{what} must be {example}, got {type(value).__name__}")
            return value

        text = typed(text if text is not None else "", str, "text", "a string")
        model = typed(model, str, "model", "a model name such as \"ic\"")
        params = typed(params if params is not None else {}, dict, "params", "an object of parameter names and values")
        seeds = typed(seeds, str, "seeds", "a seed selection such as \"random:10\"")
        topics = list(typed(topics if topics is not None else [], (list, tuple), "topics", "a list of topic names"))
        if not all(isinstance(t, str) for t in topics):
            raise BadParameterError("topics must be a list of topic names (strings)")
        if author is not None:
            typed(author, int, "author", "an agent's original id (a whole number)")
        priority = typed(priority if priority is not None else 0, int, "priority", "a whole number")
        async with self.lock:
            session = self.sim.inject(text, topics=topics, author=author, seeds=seeds, model=model, params=params,
                                      priority=priority, actor=actor)
        if session.status == "failed":
            raise BadParameterError(f"model {model!r} could not be used: {session.error}")
        return session

    # -- reading -----------------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """What ``GET /api/v1/world`` answers."""
        world, sim = self.world, self.sim
        counts: dict[str, int] = {}
        for s in world.sessions:
            counts[s.status] = counts.get(s.status, 0) + 1
        settings = sim.social.settings
        return {
            "name": world.name, "agents": world.n, "edges": world.num_edges, "tick": world.tick, "state": self.state,
            "ticks_per_second": self._ticks_per_second, "sessions": len(world.sessions), "session_status": counts,
            "living": {"on": sim.social.living, **{k: v for k, v in settings.items()}},
            "llm": {"mode": sim.llm.mode, "model": sim.llm.config.model},
            "messages": len(world.messages), "communities": world.num_communities,
        }

    def session_record(self, session_id: Any, *, series: bool = False) -> dict[str, Any]:
        """One session as ``GET /api/v1/sessions/{id}`` answers it (``series``: its per-state series).

        Raises:
            NotFoundError: no such session.
        """
        from sim.model.series import series_dict

        try:
            sid = int(session_id)
        except (TypeError, ValueError):
            raise NotFoundError(f"no session {str(session_id)[:40]!r}: session ids are whole numbers") from None
        s = next((x for x in self.world.sessions if x.id == sid), None)
        if s is None:
            raise NotFoundError(f"no session {sid}: GET /api/v1/sessions lists them")
        out = {
            "id": s.id, "message": s.message_id, "text": s.message.get("text"), "model": s.model_name, "params": s.params,
            "seeds": s.seeds, "status": s.status, "priority": s.priority, "created_tick": s.created_tick,
            "started_tick": s.started_tick, "ended_tick": s.ended_tick, "reached": int(s.reached),
            "exposed": int(s.exposed_count), "rounds": s.round, "error": s.error,
            "where": plugin_location(s.traceback) if s.status == "failed" else None,
            "traceback": s.traceback if s.status == "failed" else None,
        }
        if series:
            out["series"] = series_dict(s)
        return out

    def sessions(self) -> list[dict[str, Any]]:
        return [self.session_record(s.id) for s in self.world.sessions]

    def agent(self, original_id: Any) -> dict[str, Any]:
        """An agent by original id, as ``agora agent --json`` prints it.

        Raises:
            NotFoundError: no agent has that id.
        """
        try:
            i = self.world.index_of(int(original_id))
        except (TypeError, ValueError, BadParameterError):
            raise NotFoundError(f"no agent {str(original_id)[:40]!r}: agents are named by their original ids") from None
        out = self.world.agent(i).to_dict()
        out["memory"] = self.sim.llm.agent_memory(i)  # what it remembers (sim.core.agentmemory)
        return out

    async def communities(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The communities table of the last analysis (empty before one)."""
        from sim.store.analysis_tables import read_communities

        return await self.sim.writer.call(lambda db: read_communities(db, limit=limit))

    # -- snapshots -----------------------------------------------------------------------------------------
    def _snapshot_path(self, name: Any) -> str:
        if not isinstance(name, str) or not SNAPSHOT_NAME.match(name.removesuffix(".snap") or "-"):
            raise BadParameterError(f"snapshot name {str(name)[:60]!r} is invalid: use letters, digits, '.', '-' and '_' "
                                    "(up to 100, starting with a letter or digit)")
        return os.path.join(self.snapshots, name.removesuffix(".snap") + ".snap")

    def list_snapshots(self) -> list[dict[str, Any]]:
        if not os.path.isdir(self.snapshots):
            return []
        out = []
        for f in sorted(os.listdir(self.snapshots)):
            if f.endswith(".snap") and SNAPSHOT_NAME.match(f[:-5] or "-"):
                st = os.stat(os.path.join(self.snapshots, f))
                out.append({"name": f[:-5], "size_bytes": st.st_size, "modified": st.st_mtime})
        return out

    async def save_snapshot(self, name: Any, *, actor: str | None = None) -> dict[str, Any]:
        """Save the world as snapshot ``name`` (replacing one of that name).

        Raises:
            BadParameterError: a bad name. ResourceError: the disk is full (nothing replaced).
        """
        from sim.store.snapshot import save_snapshot

        path = self._snapshot_path(name)
        os.makedirs(self.snapshots, exist_ok=True)
        async with self.lock:
            async with self.sim.lock:
                size = await asyncio.to_thread(save_snapshot, self.world, path, force=True)
            await self.checkpoint()
            self.audit("save", {"snapshot": os.path.basename(path), "tick": self.world.tick, "size_bytes": size}, actor)
        return {"name": os.path.basename(path)[:-5], "size_bytes": size, "tick": self.world.tick}

    async def load_snapshot(self, name: Any, *, actor: str | None = None) -> dict[str, Any]:
        """Replace the world by snapshot ``name`` (its file rewritten; the run goes on if it was running).

        Raises:
            BadParameterError: a bad name. NotFoundError: no such snapshot. BadFileError: a damaged one
            (the world is left as it was).
        """
        from sim.engine.simulation import Simulation
        from sim.llm.service import LLMService
        from sim.store.snapshot import load_snapshot
        from sim.store.worldfile import save_world
        from sim.store.writer import WorldWriter

        path = self._snapshot_path(name)
        if not os.path.isfile(path):
            raise NotFoundError(f"no snapshot {os.path.basename(path)[:-5]!r}: GET /api/v1/snapshots lists them")
        new_world = await asyncio.to_thread(load_snapshot, path)  # checked whole before anything changes
        async with self.lock:
            was_running = self.running
            tps = self._ticks_per_second
            await self.stop()
            old = self.sim
            world_path = old.world.path
            new_world.name = old.world.name
            async with old.lock:
                await old.writer.close()
                await save_world(new_world, world_path, force=True, keep_audit=True)
            with contextlib.suppress(Exception):
                await old.aclose()
            writer = await WorldWriter(world_path).start()
            sim = Simulation(new_world, registry=old.registry, writer=writer, plugin_budget=old.plugins.budget,
                             llm=LLMService(new_world, old.llm.config))
            old.registry.bus = sim.bus
            self.sim = sim
            self._subscribe(sim)
            for callback in self.on_replace:
                callback(sim)
            self._checkpointed = (new_world.tick, time.monotonic())
            self.audit("load", {"snapshot": os.path.basename(path), "tick": new_world.tick}, actor)
            self.events.publish({"type": "load", "snapshot": os.path.basename(path)[:-5], "tick": new_world.tick})
        if was_running:
            await self.run(tps, actor=actor)
        return {"name": os.path.basename(path)[:-5], "tick": new_world.tick, "state": self.state}

    async def close(self) -> None:
        """Stop ticking, checkpoint, and close the world file's writer and the LLM connections."""
        await self.stop()
        with contextlib.suppress(Exception):
            await self.checkpoint()
        with contextlib.suppress(Exception):
            await self.sim.aclose()
        await self.sim.writer.close()
