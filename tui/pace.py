"""Running, pausing and stepping the world from the keyboard (space, n, N, + and -), and the measured tick
rate the header and the dashboard show. The controller runs the ticks; its refusals are notifications."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from sim.errors import AgoraError

from .host import AppHost

SPEEDS = (0.5, 1, 2, 5, 10, 20, 50, 0)  # ticks per second; 0 = as fast as possible


class Pace:
    """The run loop's pace and the keys that drive it.

    Args:
        app: the app (its controller, its chosen pace ``speed_index`` and its ``tick_rate``).
    """

    def __init__(self, app: AppHost) -> None:
        self.app = app

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
            self.control(controller.run(self.pace or None))
        self.app.refresh_ui()

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
