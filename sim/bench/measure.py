"""What every benchmark measures with: peak memory (sampled and the kernel's high-water mark), timed blocks,
megabytes, and the environment of a child process that runs this checkout's code."""

from __future__ import annotations

import os
import resource
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import psutil

#: The folder holding the ``sim`` package (the checkout's root): a child process finds this code there.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class PeakRSS:
    """Samples this process's RSS (psutil) in a background thread and keeps the maximum."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.peak = 0
        self._proc = psutil.Process()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRSS:
        self.peak = self._proc.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)


@contextmanager
def timed(results: dict[str, Any], key: str) -> Iterator[None]:
    """Time the block into ``results[key]`` (seconds, rounded to the millisecond)."""
    t0 = time.perf_counter()
    yield
    results[key] = round(time.perf_counter() - t0, 3)


def mb(b: float) -> float:
    """Bytes as MiB, to a tenth."""
    return round(b / 2**20, 1)


def maxrss_mb() -> float:
    """The process's RSS high-water mark so far (``ru_maxrss``)."""
    return mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


def child_env(*drop: str) -> dict[str, str]:
    """This process's environment for a child that runs this checkout's code (:data:`ROOT` first on
    ``PYTHONPATH``), without the variables named in ``drop``."""
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH")) if p)
    return env


def save_npy(arrays: dict[str, np.ndarray], folder: str) -> None:
    """Each array in ``folder`` as ``NAME.npy`` (``np.save``, uncompressed), fsynced: the raw cost of putting
    those bytes on disk, the yardstick of saving a world."""
    os.makedirs(folder, exist_ok=True)
    for k, a in arrays.items():
        with open(os.path.join(folder, k + ".npy"), "wb") as fh:
            np.save(fh, a)
            fh.flush()
            os.fsync(fh.fileno())
