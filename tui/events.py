"""What the app says about the live world's events (the simulation's event bus): a line in the Dashboard's
log for each, a notification for what needs the user (a session or a recommender that failed, an
intervention applied), and the tick completion times the measured tick rate is read from."""

from __future__ import annotations

from sim.live.frontend import (
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

from .host import AppHost
from .interventions import Interventions
from .pace import Pace
from .recommenders import recommender_label


class EventLog:
    """Subscribed to the live simulation's bus (:meth:`on_event`).

    Args:
        app: the app (its notices and tick rate).
        interventions: says what an applied intervention did.
        pace: hears of every tick and injection (a run pauses when nothing is left to change).
    """

    def __init__(self, app: AppHost, interventions: Interventions, pace: Pace) -> None:
        self.app = app
        self.interventions = interventions
        self.pace = pace

    def on_event(self, event: Event) -> None:
        """Log (and, when it needs the user, notify) one event of the simulation."""
        if isinstance(event, TickCompleted):
            self.app.tick_rate.record()
            self.pace.tick_completed()
            return
        log = self.app.notices.log
        if isinstance(event, MessageInjected):
            self.pace.injected()
            log(f"tick {event.tick}: message {event.message_id} injected ({event.model}): {event.text}")
        elif isinstance(event, PropagationStarted):
            log(f"tick {event.tick}: session {event.session_id} started with {event.seeds} seeds")
        elif isinstance(event, PropagationCompleted):
            log(f"tick {event.tick}: session {event.session_id} {event.status}, reached {event.reached:,}")
        elif isinstance(event, PropagationFailed):
            log(f"tick {event.tick}: session {event.session_id} FAILED: {event.error}")
            self.app.notify(
                f"session {event.session_id} failed: {event.error} (its traceback: the Messages view, 4)",
                severity="error",
                markup=False,
            )
        elif isinstance(event, PluginFailed):
            log(f"plugin {event.name} failed to load: {event.error}")
        elif isinstance(event, InterventionApplied):
            text = self.interventions.applied(event)
            log(text)
            self.app.notify(text, markup=False, timeout=8)
        elif isinstance(event, RecommenderFailed):
            what = recommender_label(event.name)
            log(f"tick {event.tick}: {what} FAILED and was switched off: {event.error}")
            self.app.notify(
                f"{what} failed and was switched off: {event.error} (its traceback: the Plugins view, 5)",
                severity="error",
                markup=False,
                timeout=10,
            )
