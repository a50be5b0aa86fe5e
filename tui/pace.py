"""Running, pausing and stepping the world from the keyboard (space, n, N, + and -), and the measured tick
rate the header and the dashboard show. The controller runs the ticks; its refusals are notifications. A run
pauses by itself when its last message stops spreading and nothing else in the world changes with time."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from sim.errors import AgoraError

from .host import AppHost

SPEEDS = (0.5, 1, 2, 5, 10, 20, 50, 0)  # ticks per second; 0 = as fast as possible
#: Said when a run pauses by itself: its last message stopped spreading and nothing else changes with time.
STILL_PAUSED = (
    "the run paused at tick {tick:,}: no message is spreading any more, no intervention is waiting and the "
    "network does not change by itself (no recommender, no churn); space runs the clock on"
)
#: Said when a run starts on a world where nothing changes with time.
STILL_RUN = (
    "running a world where nothing spreads: no message is spreading, no intervention is waiting and the "
    "network does not change by itself, so only the clock moves (i injects a message; space pauses)"
)


class Pace:
    """The run loop's pace and the keys that drive it.

    Args:
        app: the app (its controller, its chosen pace ``speed_index`` and its ``tick_rate``).
    """

    def __init__(self, app: AppHost) -> None:
        self.app = app
        #: Whether something in the world changed with time at the latest tick (or a message was injected
        #: since): a run pauses when that stops (:meth:`tick_completed`).
        self.moving = False

    @property
    def ticking(self) -> bool:
        """Whether ticks are under way: the run goes (or its last tick is ending after a pause), or n/N steps."""
        controller = self.app.controller
        return controller is not None and controller.ticking

    def rate_text(self) -> str:
        """The measured tick rate, as the header and the dashboard both show it (one computation; see
        :class:`tui.rate.TickRate`): ``"9.8 t/s"`` while ticks are under way; paused, ``"0.0 t/s"`` and
        the rate the run had when it stopped (``"0.0 t/s (was 9.8)"``)."""
        rate = self.app.tick_rate
        if self.ticking:
            return f"{rate.rate():.1f} t/s"
        if rate.ticks >= 2:
            return f"0.0 t/s (was {rate.last_rate():.1f})"
        return "0.0 t/s"

    @property
    def pace(self) -> float:
        """The pace asked for, in ticks per second (0: as fast as possible)."""
        return SPEEDS[self.app.speed_index]

    def toggle(self) -> None:
        """Run the world at the pace chosen, or pause it (space)."""
        controller = self.app.controller
        if controller is None:
            return
        if controller.running:
            self.control(controller.pause())
        else:
            self.moving = not controller.sim.still
            if not self.moving:
                self.app.notify(STILL_RUN, markup=False, timeout=8)
            self.control(controller.run(self.pace or None))
        self.app.refresh_ui()

    def attached(self) -> None:
        """A world became live (opened, or a snapshot loaded): whether something in it changes with time."""
        controller = self.app.controller
        self.moving = controller is not None and not controller.sim.still

    def injected(self) -> None:
        """A message was injected: the run pauses once it (and everything else) has stopped spreading."""
        self.moving = True

    def tick_completed(self) -> None:
        """After every tick (on the event loop, before the run's next tick): a run in whose world the last
        message stopped spreading, with nothing else changing with time (no intervention waiting, no living
        network: :attr:`Simulation.still`), pauses at once and says so. A run started on a still
        world is the user's to stop (:data:`STILL_RUN` said so), and so is a living network's."""
        controller = self.app.controller
        if controller is None:
            return
        moving = not controller.sim.still
        if self.moving and not moving and controller.running:
            controller.sim.pause()  # now: the run holds before its next tick
            self.control(controller.pause())
            text = STILL_PAUSED.format(tick=controller.world.tick)
            self.app.notices.log(text)
            self.app.notify(text, markup=False, timeout=10)
        self.moving = moving

    def control(self, call: Awaitable[Any]) -> None:
        """Run, pause or step through the controller in a worker; a refusal (a bad state, a full disk) is a
        notification."""
        self.app.run_worker(self._control(call), group="control")

    async def _control(self, call: Awaitable[Any]) -> None:
        try:
            await call
        except AgoraError as exc:
            self.app.notify(str(exc), severity="error", markup=False)
        self.app.refresh_ui()

    def tick(self, count: int) -> None:
        """Step ``count`` ticks (n, N); a run is paused first."""
        if self.app.controller is None:
            return
        self.app.step_requests += 1
        self.app.run_worker(self._step(count), group="step")

    async def _step(self, count: int) -> None:
        controller = self.app.controller
        if controller is None:
            return
        controller.stepping += 1  # ticking from the key press on (the header's rate), until the steps end
        try:
            if controller.loop_alive:
                await controller.pause()  # n and N pause a run, then step
            await controller.step(count)
        except AgoraError as exc:
            self.app.notify(str(exc), severity="error", markup=False)
        finally:
            controller.stepping -= 1
        self.app.refresh_ui()

    def change(self, step: int) -> None:
        """Faster (+1) or slower (-1), within :data:`SPEEDS`."""
        self.app.speed_index = max(0, min(len(SPEEDS) - 1, self.app.speed_index + step))
        if self.app.controller is not None:
            self.app.controller.set_pace(self.pace or None)
        self.app.refresh_ui()
