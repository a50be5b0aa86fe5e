"""Independent jobs in forked worker processes that share the parent's world without copying it.

An ensemble's runs (``agora run --runs``) start from the same world and never change it: a worker made by
``fork`` sees the parent's arrays as they are (the pages are shared until written, and runs write none of
them), so it costs no load and no copy, unlike a ``spawn`` pool whose workers open the world file again.
The parent hands out job indices one at a time over a pipe (faster workers take more), collects the
results in order, and relays progress.

Forking is used only where it is safe and cheap: Linux. Elsewhere, and for one worker, callers run the
jobs in their own process (:func:`fork_available`).

A worker that stops answering for ``stall_seconds`` (a plugin that ran past the plugin budget and could
not be stopped in its thread) is ended; its job gets ``on_stall(index)``'s result and a fresh worker
takes its place. A worker that dies (out of memory) is a :class:`~sim.errors.ResourceError`.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import Any, TypeVar

from sim.errors import AgoraError, BadParameterError, ResourceError

R = TypeVar("R")
#: A job: ``fn(index, report)`` returns a picklable result; ``report(fraction)`` tells how far it is.
Job = Callable[[int, Callable[[float], None]], R]
#: Progress of the whole map: ``(jobs finished, fraction of all the work done)``.
MapProgress = Callable[[int, float], None] | None

_REPORT_EVERY = 0.2  # seconds between a worker's progress messages


def fork_available() -> bool:
    """Whether jobs can run in forked workers here (Linux)."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


def default_workers(jobs: int) -> int:
    """Workers for ``jobs`` jobs: one per CPU this process may use, at most one per job."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, jobs))


class _Stopped(Exception):
    """The map was cancelled: its collecting thread ends the workers and gives up."""


class _Worker:
    __slots__ = ("conn", "heard", "job", "process")

    def __init__(self, process: Any, conn: Connection) -> None:
        self.process = process
        self.conn = conn
        self.job: int | None = None
        self.heard = time.monotonic()


def _child(fn: Job[object], conn: Connection) -> None:
    """A worker's life: ask for a job, run it, send its result; until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it ends the workers
    try:
        signal.set_wakeup_fd(-1)  # the parent's event loop's wake-up pipe is not ours to write to
    except (ValueError, OSError):  # pragma: no cover
        pass
    gc.enable()
    try:
        while True:
            index = conn.recv()
            if index is None:
                return
            last = [0.0]

            def report(fraction: float, _i: int = index, last: list[float] = last) -> None:
                now = time.monotonic()
                if now - last[0] >= _REPORT_EVERY:
                    last[0] = now
                    conn.send(("progress", _i, float(fraction)))

            try:
                result = fn(index, report)
            except BaseException as exc:  # noqa: BLE001 - everything goes to the parent, which decides
                kind = (
                    "bad" if isinstance(exc, BadParameterError) else "agora" if isinstance(exc, AgoraError) else "bug"
                )
                conn.send(("error", index, kind, str(exc), "".join(traceback.format_exception(exc))))
                return
            conn.send(("done", index, result))
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        return
    finally:
        conn.close()


def _start(ctx: Any, fn: Job[object]) -> _Worker:
    parent, child = ctx.Pipe(duplex=True)
    p = ctx.Process(target=_child, args=(fn, child), daemon=True, name="agora-run-worker")
    p.start()
    child.close()
    return _Worker(p, parent)


def _end(workers: list[_Worker]) -> None:
    for w in workers:
        if w.process.is_alive():
            w.process.kill()
    for w in workers:
        w.process.join(timeout=5)
        w.conn.close()


def _collect(
    fn: Job[R],
    count: int,
    workers: int,
    progress: MapProgress,
    stall_seconds: float | None,
    on_stall: Callable[[int], R] | None,
    stop: threading.Event,
) -> list[R]:

    ctx = multiprocessing.get_context("fork")
    results: list[Any] = [None] * count  # each job's result, as it comes back through its worker's pipe
    finished = [False] * count
    partial: dict[int, float] = {}
    next_job = 0
    done = 0
    # The workers share the parent's pages; objects the collector would move (a full collection writes
    # every object's header) are frozen first, so that no page is copied for that.
    gc.freeze()
    pool: list[_Worker] = []
    try:
        for _ in range(workers):
            pool.append(_start(ctx, fn))

        def give(w: _Worker) -> None:
            nonlocal next_job
            if next_job < count:
                w.job = next_job
                next_job += 1
                w.heard = time.monotonic()
                w.conn.send(w.job)
            else:
                w.job = None
                w.conn.send(None)

        for w in pool:
            give(w)
        while done < count:
            if stop.is_set():  # the caller was cancelled (Ctrl-C): end the workers now, not at the last job
                raise _Stopped
            busy = [w for w in pool if w.job is not None]
            if not busy:  # pragma: no cover - every job was handed out and answered
                break
            ready = wait([w.conn for w in busy], timeout=0.25)
            now = time.monotonic()
            for w in busy:
                if w.conn not in ready:
                    if stall_seconds and now - w.heard > stall_seconds and on_stall is not None and w.job is not None:
                        # Stuck past anything the plugin budget allows: end it, record its job, replace it.
                        w.process.kill()
                        w.process.join(timeout=5)
                        w.conn.close()
                        results[w.job], finished[w.job] = on_stall(w.job), True
                        partial.pop(w.job, None)
                        done += 1
                        pool.remove(w)
                        fresh = _start(ctx, fn)
                        pool.append(fresh)
                        give(fresh)
                    continue
                try:
                    msg = w.conn.recv()
                except (EOFError, OSError):
                    w.process.join(timeout=5)
                    raise ResourceError(
                        f"an ensemble worker process ended abruptly (exit code {w.process.exitcode}; "
                        "out of memory?): try fewer --workers"
                    ) from None
                w.heard = now
                kind, index = msg[0], msg[1]
                if kind == "progress":
                    partial[index] = msg[2]
                elif kind == "done":
                    results[index], finished[index] = msg[2], True
                    partial.pop(index, None)
                    done += 1
                    give(w)
                else:
                    _, _, what, text, tb = msg
                    if what == "bad":
                        raise BadParameterError(text)
                    if what == "agora":
                        raise ResourceError(text)
                    raise RuntimeError(f"an ensemble worker failed on run {index}:\n{tb}")
                if progress is not None:
                    progress(done, (done + sum(partial.values())) / count)
        return results
    finally:
        _end(pool)
        gc.unfreeze()


def _retrieved(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


async def map_forked(
    fn: Job[R],
    count: int,
    workers: int,
    *,
    progress: MapProgress = None,
    stall_seconds: float | None = None,
    on_stall: Callable[[int], R] | None = None,
) -> list[R]:
    """``[fn(0, report), ..., fn(count - 1, report)]`` computed by ``workers`` forked processes.

    ``fn`` runs in a child that was forked from this process when the map started: it sees everything
    this process had then (the world, the registry) and must change nothing that matters to the parent
    (nothing it does reaches the parent but its result). Results come back in order. ``progress`` is
    called (from a worker thread) as jobs finish and report.

    Raises:
        BadParameterError: a job raised one (the parent says it once, the workers are ended).
        ResourceError: a worker died (out of memory, killed).
        RuntimeError: a job raised anything else (a bug; the worker's traceback is in the message).
    """
    stop = threading.Event()
    collecting = asyncio.get_running_loop().run_in_executor(
        None, _collect, fn, count, workers, progress, stall_seconds, on_stall, stop
    )
    try:
        # Woken four times a second, not only when the map ends: a Ctrl-C the kernel delivers to the collecting
        # thread (any thread may take a process's signal) only marks it pending, and Python runs its handler
        # when the main thread next runs; asleep in the event loop with nothing due, it would never run.
        while not collecting.done():
            await asyncio.wait({collecting}, timeout=0.25)
        return collecting.result()
    except BaseException:
        stop.set()  # cancelled (Ctrl-C) while the thread still collects: it ends the workers within 0.25 s
        collecting.add_done_callback(_retrieved)  # its _Stopped is expected: not "never retrieved"
        raise
