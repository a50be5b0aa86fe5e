"""What every benchmark measures with: the synthetic world it measures on (:class:`BenchWorld`), peak memory
(sampled and the kernel's high-water mark), timed blocks, megabytes, and a child process that runs this checkout's
code (its environment, and the JSON it prints)."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Self

import numpy as np
import psutil

from sim.core.world import World
from sim.store.create import synthetic_world

#: The folder holding the ``sim`` package (the checkout's root): a child process finds this code there.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: How a benchmark says how far it got: ``progress(what it is doing, share done)``; None: it says nothing.
Progress = Callable[[str, float], None] | None


@dataclass(frozen=True)
class BenchWorld:
    """The synthetic world a benchmark measures on (``synthetic_world``'s ``community`` graph, as ``agora new``
    makes it): ``agents``, their mean neighbours ``avg_degree``, and ``seed``, the world's and the benchmark's
    draws'; ``agora bench``'s ``--agents``, ``--avg-degree`` and ``--seed``. A benchmark's settings are a
    subclass holding its own fields too (:class:`sim.bench.cascade.CascadeBench`, ...)."""

    agents: int = 1_000_000
    avg_degree: float = 10.0
    seed: int = 1

    @classmethod
    def of(cls, bench: Self | int, **fields: Any) -> Self:
        """``bench``, or these settings for a world of ``bench`` agents; the ``fields`` named replaced (an
        unknown one is a ``TypeError``)."""
        return cls(bench, **fields) if isinstance(bench, int) else replace(bench, **fields)

    def report(self, benchmark: str, **figures: Any) -> dict[str, Any]:
        """A benchmark's report as it starts: its name, this world's agents and mean degree, then ``figures``."""
        return {"benchmark": benchmark, "agents": self.agents, "avg_degree": self.avg_degree, **figures}

    def generate(self, r: dict[str, Any], progress: Progress = None, note: str = "building the world") -> World:
        """This world (named ``bench``), ``note`` said to ``progress`` first; its edges counted into ``r``."""
        if progress:
            progress(note, 0.0)
        world = synthetic_world("bench", self.agents, avg_degree=self.avg_degree, seed=self.seed)
        r["edges"] = world.num_edges
        return world


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


def load_average() -> list[float] | None:
    """The machine's load averages over 1, 5 and 15 minutes, to a hundredth (None where the system keeps none): a
    benchmark reports them beside its seconds, which another process's work on a shared machine stretches."""
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def child_env(*drop: str) -> dict[str, str]:
    """This process's environment for a child that runs this checkout's code (:data:`ROOT` first on
    ``PYTHONPATH``), without the variables named in ``drop``."""
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH")) if p)
    return env


def fresh_process_json(module_args: list[str], what: str) -> dict[str, Any]:
    """``python -m MODULE ARGS...`` in a fresh process (only what it builds in memory, as a command meets
    it), and the JSON object its last line prints.

    Raises:
        RuntimeError: the process failed (its stderr's end is quoted).
    """
    res = subprocess.run(
        [sys.executable, "-m", *module_args], capture_output=True, text=True, env=child_env(), check=False
    )
    if res.returncode != 0:
        raise RuntimeError(f"the ensemble benchmark {what} failed: {res.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(res.stdout.strip().splitlines()[-1])
    return result


def save_npy(arrays: dict[str, np.ndarray], folder: str) -> None:
    """Each array in ``folder`` as ``NAME.npy`` (``np.save``, uncompressed), fsynced: the raw cost of putting
    those bytes on disk, the yardstick of saving a world."""
    os.makedirs(folder, exist_ok=True)
    for k, a in arrays.items():
        with open(os.path.join(folder, k + ".npy"), "wb") as fh:
            np.save(fh, a)
            fh.flush()
            os.fsync(fh.fileno())
