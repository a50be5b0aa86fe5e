"""The live stream of a world: its events for any number of listeners (the API's Server-Sent Events and
WebSocket streams), and what the stream says of each engine event."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TypeAlias

import numpy as np

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
from sim.core.world import World

#: One event of the live stream: a JSON object whose ``type`` says what happened (``tick``, ``message``,
#: ``session_started``...); its other keys are that type's.
StreamEvent: TypeAlias = dict[str, object]

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


class Listener:
    """One subscriber's queue of events. A listener that falls behind by ``size`` events loses its oldest
    ones (``dropped`` counts them) rather than holding the simulation up."""

    def __init__(self, size: int) -> None:
        self.events: deque[StreamEvent] = deque(maxlen=size)
        self.dropped = 0
        self._ready = asyncio.Event()

    def put(self, event: StreamEvent) -> None:
        if len(self.events) == self.events.maxlen:
            self.dropped += 1
        self.events.append(event)
        self._ready.set()

    async def get(self, timeout: float | None = None) -> StreamEvent | None:
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

    def publish(self, event: StreamEvent) -> None:
        self.published += 1
        event = {"seq": self.published, **event}
        for listener in list(self.listeners):
            listener.put(event)


#: The events the stream says field for field: their ``type`` and (stream name, event attribute) pairs.
_PLAIN: dict[type[Event], tuple[str, tuple[tuple[str, str], ...]]] = {
    MessageInjected: (
        "message",
        (("message", "message_id"), ("session", "session_id"), ("model", "model"), ("tick", "tick"), ("text", "text")),
    ),
    PropagationStarted: (
        "session_started",
        (("session", "session_id"), ("model", "model"), ("seeds", "seeds"), ("tick", "tick")),
    ),
    PropagationCompleted: (
        "session_finished",
        (("session", "session_id"), ("status", "status"), ("reached", "reached"), ("tick", "tick")),
    ),
}


def _plain(value: object) -> object:
    """A numpy integer as a Python int (the stream is JSON)."""
    return int(value) if isinstance(value, np.integer) else value


def stream_event(event: Event, world: World) -> StreamEvent | None:
    """What the live stream says of an engine event (None: nothing), ``world`` the world it happened in."""
    if isinstance(event, TickCompleted):
        m = event.metrics
        sessions = [
            {
                "id": s.id,
                "status": s.status,
                "reached": int(s.reached),
                "new": int(s.new_per_tick[-1]) if s.new_per_tick else 0,
            }
            for s in world.sessions
            if s.status in ("running", "queued") or s.ended_tick == event.tick
        ]
        return {"type": "tick", **{k: m.get(k) for k in TICK_FIELDS if k in m}, "sessions": sessions}
    plain = _PLAIN.get(type(event))
    if plain is not None:  # an event said field for field: the stream's name of each, and the event's
        kind, fields = plain
        return {"type": kind, **{name: _plain(getattr(event, attr)) for name, attr in fields}}
    if isinstance(event, PropagationFailed):
        return {
            "type": "session_finished",
            "session": event.session_id,
            "status": "failed",
            "error": one_line(event.error),
            "where": plugin_location(event.traceback),
            "tick": event.tick,
        }
    if isinstance(event, RecommenderFailed):
        # Switched off, the world runs on without it: said on the stream, with where it failed.
        friend = event.name.startswith("friend:")
        return {
            "type": "recommender_failed",
            "recommender": event.name.removeprefix("friend:"),
            "role": "friend" if friend else "content",
            "error": one_line(event.error),
            "where": plugin_location(event.traceback),
            "traceback": plugin_traceback(event.traceback),
            "switched_off": True,
            "tick": event.tick,
        }
    return None
