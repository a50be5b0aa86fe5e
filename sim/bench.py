"""Benchmarks that print JSON: each figure beside a plain baseline measured in the same run.

Absolute times on shared 2-core machines drift; ratios to a baseline taken in the same process hold.
"""

from __future__ import annotations

import asyncio
import gc
import os
import resource
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np
import psutil

from .arrays import unique_sorted


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

    def __enter__(self) -> "PeakRSS":
        self.peak = self._proc.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)


@contextmanager
def timed(results: dict[str, Any], key: str) -> Iterator[None]:
    t0 = time.perf_counter()
    yield
    results[key] = round(time.perf_counter() - t0, 3)


def _mb(b: float) -> float:
    return round(b / 2**20, 1)


def bench_world(agents: int = 1_000_000, *, avg_degree: float = 10.0, seed: int = 1, folder: str | None = None,
                progress: Callable[[str, float], None] | None = None) -> dict[str, Any]:
    """Generate, persist, open, snapshot-save and snapshot-load a world; report times and peak RSS.

    Baselines, measured in the same run on the same arrays: a bare uniform random graph (numpy pairs +
    unique, no communities, no attributes, no in-CSR), and ``np.save``/``np.load`` of the world's arrays
    uncompressed (the raw cost of putting those bytes on disk and back).
    """
    from .create import synthetic_world
    from .snapshot import load_snapshot, save_snapshot
    from .store import _world_arrays, open_world, save_world

    own = folder is None
    folder = folder or tempfile.mkdtemp(prefix="agora-bench-")
    os.makedirs(folder, exist_ok=True)
    db = os.path.join(folder, "bench.db")
    snap = os.path.join(folder, "bench.snap")
    for f in (db, snap):
        if os.path.exists(f):
            os.remove(f)
    r: dict[str, Any] = {"benchmark": "world", "agents": agents, "avg_degree": avg_degree, "cpu_count": os.cpu_count()}
    base_rss = psutil.Process().memory_info().rss
    try:
        with PeakRSS() as peak:
            with timed(r, "generate_s"):
                world = synthetic_world("bench", agents, avg_degree=avg_degree, seed=seed, progress=progress)
            r["edges"] = world.num_edges
            r["communities"] = world.num_communities
            r["world_array_mb"] = _mb(world.nbytes())
            r["rss_after_generate_mb"] = _mb(psutil.Process().memory_info().rss)
            with timed(r, "persist_s"):
                asyncio.run(save_world(world, db, progress=progress))
            r["world_file_mb"] = _mb(os.path.getsize(db))
            del world
            gc.collect()
            with timed(r, "open_s"):
                world = asyncio.run(open_world(db))
            with timed(r, "snapshot_save_s"):
                save_snapshot(world, snap, progress=progress)
            r["snapshot_mb"] = _mb(os.path.getsize(snap))
            # Baseline: the same arrays written and read raw with numpy.
            raw_dir = os.path.join(folder, "npy")
            os.makedirs(raw_dir, exist_ok=True)
            arrays = _world_arrays(world)
            with timed(r, "baseline_npy_save_s"):
                for k, a in arrays.items():
                    with open(os.path.join(raw_dir, k + ".npy"), "wb") as fh:
                        np.save(fh, a)
                        fh.flush()
                        os.fsync(fh.fileno())
            del arrays, world
            gc.collect()
            with timed(r, "baseline_npy_load_s"):
                loaded = {k: np.load(os.path.join(raw_dir, k)) for k in os.listdir(raw_dir)}
            del loaded
            gc.collect()
            with timed(r, "snapshot_load_s"):
                world = load_snapshot(snap, progress=progress)
            del world
            gc.collect()
            # Baseline generator: uniform pairs, unique, both directions sorted; nothing else.
            rng = np.random.default_rng(seed)
            with timed(r, "baseline_uniform_graph_s"):
                m = int(agents * avg_degree / 2)
                a = rng.integers(0, agents, m)
                b = rng.integers(0, agents, m)
                key = unique_sorted(np.minimum(a, b) * agents + np.maximum(a, b))
                del a, b
                both = np.concatenate([key // agents * agents + key % agents, key % agents * agents + key // agents])
                both.sort()
                del key, both
            gc.collect()
    finally:
        if own:
            shutil.rmtree(folder, ignore_errors=True)
    r["peak_rss_mb"] = _mb(peak.peak)
    r["peak_rss_maxrss_mb"] = _mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    r["rss_at_start_mb"] = _mb(base_rss)
    r["ratios"] = {
        "generate_vs_uniform_baseline": round(r["generate_s"] / max(r["baseline_uniform_graph_s"], 1e-9), 2),
        "snapshot_save_vs_npy_save": round(r["snapshot_save_s"] / max(r["baseline_npy_save_s"], 1e-9), 2),
        "snapshot_load_vs_npy_load": round(r["snapshot_load_s"] / max(r["baseline_npy_load_s"], 1e-9), 2),
    }
    r["targets"] = {"generate_s": 10, "persist_s": 10, "open_s": 5, "snapshot_save_s": 3, "snapshot_load_s": 3, "peak_rss_mb": 800}
    r["within_targets"] = all(r[k] <= v for k, v in r["targets"].items())
    return r
