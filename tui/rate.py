"""The measured tick rate: ticks completed per second over the last seconds, from tick completion times.

The header and the dashboard show the same figure, computed here and nowhere else (see
:meth:`tui.app.AgoraApp.rate_text`).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class TickRate:
    """Ticks per second over a recent window of tick completion times.

    The rate is the number of tick intervals among the ticks completed in the last :attr:`WINDOW`
    seconds over the time they span, so it follows a change of pace within about that window (a count
    of the last N ticks lagged by N ticks: 50 ticks took five seconds at 10 ticks a second). A world
    slower than one tick per window is measured over its last two ticks. When no tick has completed for
    longer than :attr:`STALL` seconds, the rate is at most one tick over that wait: a stalled run reads
    as slowing down at once, not at its old rate until the next tick lands.

    Args:
        clock: the time source, in seconds (``time.perf_counter``; tests give their own).
    """

    #: Seconds of tick completion times the rate is measured over.
    WINDOW = 2.0
    #: A wait longer than this since the last tick bounds the rate by one tick over the wait.
    STALL = 1.0

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self._times: deque[float] = deque()

    def record(self) -> None:
        """A tick completed now."""
        now = self.clock()
        times = self._times
        times.append(now)
        # Keep the window and, for a world slower than one tick per window, the two latest ticks.
        while len(times) > 2 and times[0] < now - self.WINDOW:
            times.popleft()

    def reset(self) -> None:
        """Forget every tick (another world was bound)."""
        self._times.clear()

    @property
    def ticks(self) -> int:
        """Tick completion times kept (at least the latest two, once two ticks completed)."""
        return len(self._times)

    def rate(self, now: float | None = None) -> float:
        """Ticks per second at ``now`` (the clock's time when None); 0.0 before two ticks completed."""
        times = self._times
        if len(times) < 2:
            return 0.0
        now = self.clock() if now is None else now
        last = times[-1]
        first_index = 0
        # The ticks of the window ending now (at least the latest two).
        while first_index < len(times) - 2 and times[first_index] < now - self.WINDOW:
            first_index += 1
        first = times[first_index]
        span = last - first
        if span <= 0:
            return 0.0
        rate = (len(times) - 1 - first_index) / span
        since = now - last
        if since > self.STALL:
            rate = min(rate, 1.0 / since)
        return rate

    def last_rate(self) -> float:
        """The rate measured when the latest tick completed (what a run that stopped had reached)."""
        return self.rate(self._times[-1]) if self._times else 0.0


__all__ = ["TickRate"]
