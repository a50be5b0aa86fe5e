"""The in-process event bus and its typed events.

Publishers in ``sim`` never call into a UI: they publish events, and the TUI, plugins or scripts
subscribe. A handler that raises is logged on the bus (as a :class:`HandlerFailed` event) and does not
stop the publisher or the other handlers.
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
    """Base of every event."""


@dataclass(frozen=True, slots=True)
class MessageInjected(Event):
    message_id: int
    session_id: int
    text: str
    model: str
    tick: int


@dataclass(frozen=True, slots=True)
class PropagationStarted(Event):
    session_id: int
    model: str
    seeds: int
    tick: int


@dataclass(frozen=True, slots=True)
class PropagationRound(Event):
    session_id: int
    round: int
    tick: int
    new_adoptions: int
    reached: int
    exposed: int
    attempts: int


@dataclass(frozen=True, slots=True)
class PropagationCompleted(Event):
    session_id: int
    status: str  # completed or cancelled
    reached: int
    tick: int


@dataclass(frozen=True, slots=True)
class PropagationFailed(Event):
    session_id: int
    error: str
    traceback: str
    tick: int


@dataclass(frozen=True, slots=True)
class InterventionApplied(Event):
    """An intervention (``--intervene``) was carried out at ``tick``: ``spec`` is its action text."""

    action: str
    spec: str
    tick: int


@dataclass(frozen=True, slots=True)
class TickCompleted(Event):
    tick: int
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RecommenderFailed(Event):
    """A recommender raised or broke its contract; it is switched off, the simulation goes on."""

    name: str
    error: str
    traceback: str
    tick: int


@dataclass(frozen=True, slots=True)
class PluginLoaded(Event):
    name: str
    kind: str
    source: str


@dataclass(frozen=True, slots=True)
class PluginFailed(Event):
    name: str
    source: str
    error: str
    traceback: str


@dataclass(frozen=True, slots=True)
class HandlerFailed(Event):
    handler: str
    event: str
    traceback: str


Handler = Callable[[Event], Any]


class EventBus:
    """Typed publish/subscribe. Handlers are called synchronously in publish order; an async consumer
    can use :meth:`queue` to receive events on an ``asyncio.Queue`` instead."""

    def __init__(self) -> None:
        self._handlers: list[tuple[tuple[type[Event], ...], Handler]] = []
        self._queues: list[tuple[tuple[type[Event], ...], asyncio.Queue]] = []
        self.published = 0

    def subscribe(self, handler: Handler, *types: type[Event]) -> Callable[[], None]:
        """Call ``handler(event)`` for events of the given types (all events when none are given).

        Returns:
            A function that unsubscribes.
        """
        entry = (types or (Event,), handler)
        self._handlers.append(entry)

        def unsubscribe() -> None:
            if entry in self._handlers:
                self._handlers.remove(entry)

        return unsubscribe

    def queue(self, *types: type[Event], maxsize: int = 10000) -> asyncio.Queue:
        """An ``asyncio.Queue`` that receives the given event types (oldest dropped when full)."""
        q: asyncio.Queue = asyncio.Queue(maxsize=maxsize)
        self._queues.append((types or (Event,), q))
        return q

    def publish(self, event: Event) -> None:
        self.published += 1
        for types, handler in list(self._handlers):
            if isinstance(event, types):
                try:
                    handler(event)
                except Exception:
                    if not isinstance(event, HandlerFailed):
                        self.publish(
                            HandlerFailed(
                                getattr(handler, "__qualname__", repr(handler)),
                                type(event).__name__,
                                traceback.format_exc(),
                            )
                        )
        for types, q in self._queues:
            if isinstance(event, types):
                if q.full():
                    q.get_nowait()
                q.put_nowait(event)
