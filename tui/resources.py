"""The app's own process as the Dashboard shows it: resident memory and CPU, sampled once a second."""

from __future__ import annotations

from collections import deque

import psutil


class Resources:
    """The process's memory (MB) and CPU (%) as last sampled, and the memory of the latest samples."""

    #: Samples kept (the memory chart's ten minutes).
    KEPT = 600

    def __init__(self) -> None:
        self._proc = psutil.Process()
        self.rss_mb = 0.0
        self.cpu_percent = 0.0
        self.history: deque[float] = deque(maxlen=self.KEPT)
        #: How many samples were taken (the memory chart redraws on a new one).
        self.samples = 0

    def sample(self) -> None:
        """Sample the process now."""
        self.rss_mb = self._proc.memory_info().rss / 2**20
        self.cpu_percent = self._proc.cpu_percent(interval=None)
        self.history.append(self.rss_mb)
        self.samples += 1
