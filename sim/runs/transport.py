"""The worker transport of ``sim/runs``: how many independent runs of one world reach other processes and come back.

Sweeps, fits and forecasts (and, next, backtests) share it through a small public interface:

- **Forked workers** (:func:`map_forked`; Linux, :func:`fork_available`): a worker made by ``fork`` sees the
  parent's world and plugin registry as they are (the pages are shared until written, and runs write none of
  them), so it costs no load and no copy. The parent hands out job indices one at a time over a pipe (faster
  workers take more), collects the results in order, and relays progress. A worker that stops answering for
  ``stall_seconds`` (a plugin that ran past the plugin budget and could not be stopped in its thread) is
  ended; its job gets ``on_stall(index)``'s result and a fresh worker takes its place. A worker that dies
  (out of memory) is a :class:`~sim.errors.ResourceError`.
- **Spawned workers** (:func:`map_spawned`, where forking is not available): each worker process opens the
  world file once, read-only, in its initializer, and builds the plugin registry once.
- **A Ray cluster** (:func:`ray_cluster`, the optional extra ``agora-sim[ray]``; ``auto`` starts a local one):
  the world goes into the object store once as snapshot bytes (:func:`ray_payload`), travels to each node
  once, and each worker process loads it once and keeps it for every task it is given (:func:`ray_world`,
  cached by object id).

Every worker reports who it is (:func:`worker_id`) and how many times its process loaded a world
(:func:`world_loads`): a worker loads its world once.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import linecache
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import Connection, wait
from types import ModuleType
from typing import Any, Protocol, TypeVar

import numpy as np

from sim.core import sealed, worldkey
from sim.core.numbers import ascii_digits, ascii_int
from sim.core.world import World
from sim.errors import AgoraError, BadParameterError, ResourceError
from sim.model.registry import Registry, TrustedFolder
from sim.store.snapshot import load_snapshot_bytes, snapshot_bytes
from sim.store.worldfile import open_world

#: ``progress(what, fraction)``, as every long command reports.
Progress = Callable[[str, float], None] | None
RAY_HINT = "ray needs the optional extra: pip install 'agora-sim[ray]'"

R = TypeVar("R")


class RayRef(Protocol):
    """A Ray object reference (``ray.put``'s), as far as the transport uses it."""

    def hex(self) -> str: ...


#: A job: ``fn(index, report)`` returns a picklable result; ``report(fraction)`` tells how far it is.
ForkedJob = Callable[[int, Callable[[float], None]], R]
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


def _child(fn: ForkedJob[object], conn: Connection) -> None:
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
                fields = getattr(exc, "fields", ())  # the request fields its sentence names, for the front end
                conn.send(("error", index, kind, str(exc), "".join(traceback.format_exception(exc)), fields))
                return
            conn.send(("done", index, result))
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        return
    finally:
        conn.close()


def _start(ctx: Any, fn: ForkedJob[object]) -> _Worker:
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
    fn: ForkedJob[R],
    count: int,
    workers: int,
    progress: MapProgress,
    stall_seconds: float | None,
    on_stall: Callable[[int], R] | None,
    stop: threading.Event,
    on_done: Callable[[int, R], None] | None = None,
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
                        "out of memory?): try fewer workers",
                        fields="workers",
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
                    if on_done is not None:
                        on_done(index, msg[2])
                else:
                    _, _, what, text, tb, fields = msg
                    if what == "bad":
                        raise BadParameterError(text, fields=fields)
                    if what == "agora":
                        raise ResourceError(text, fields=fields)
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
    fn: ForkedJob[R],
    count: int,
    workers: int,
    *,
    progress: MapProgress = None,
    stall_seconds: float | None = None,
    on_stall: Callable[[int], R] | None = None,
    on_done: Callable[[int, R], None] | None = None,
) -> list[R]:
    """``[fn(0, report), ..., fn(count - 1, report)]`` computed by ``workers`` forked processes.

    ``fn`` runs in a child that was forked from this process when the map started: it sees everything
    this process had then (the world, the registry) and must change nothing that matters to the parent
    (nothing it does reaches the parent but its result). Results come back in order. ``progress`` is
    called (from a worker thread) as jobs finish and report, ``on_done(index, result)`` (from it too) as each job
    finishes.

    Raises:
        BadParameterError: a job raised one (the parent says it once, the workers are ended).
        ResourceError: a worker died (out of memory, killed).
        RuntimeError: a job raised anything else (a bug; the worker's traceback is in the message).
    """
    stop = threading.Event()
    collecting = asyncio.get_running_loop().run_in_executor(
        None, _collect, fn, count, workers, progress, stall_seconds, on_stall, stop, on_done
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


# -- spawned workers (where forking is not available) ----------------------------------------------------------
#: Worlds this process has loaded (reported with every result: a worker loads its world once).
_LOADS = 0
_SPAWNED: tuple[World, Registry] | None = None
_RAY_CACHE: dict[str, tuple[World, Registry, dict[str, str]]] = {}
#: A spawned worker's task: ``fn(world, registry, *args)`` on the world its process opened.
SpawnedTask = Callable[..., R]


def worker_id() -> str:
    """This process, unique across a cluster's nodes."""
    return f"{socket.gethostname()}/{os.getpid()}"


def world_loads() -> int:
    """How many worlds this process has loaded as a worker (a spawned or Ray worker loads its world once)."""
    return _LOADS


def _spawn_init(
    world_path: str, plugin_dirs: list[str], key: bytes | None, prepare: Callable[[World], None] | None
) -> None:
    """A spawned worker's initializer: open the world once (read-only, with the parent's world key, which came
    through the pool's pipe, not a file), ``prepare`` it and build the registry once."""
    global _SPAWNED, _LOADS
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it ends the workers
    if key is not None:
        worldkey.use_key(key)
    world = asyncio.run(open_world(world_path))
    if prepare is not None:
        prepare(world)
    _SPAWNED = (world, Registry(plugin_dirs, env=False))
    _LOADS += 1


def _spawned_task(fn: SpawnedTask[R], args: tuple[Any, ...]) -> tuple[str, int, R]:
    assert _SPAWNED is not None, "the pool initializer did not run"
    world, registry = _SPAWNED
    return worker_id(), _LOADS, fn(world, registry, *args)


async def collect_futures(futures: list[Future[R]], on_result: Callable[[R], None]) -> None:
    """Wait for ``concurrent.futures`` futures without blocking the event loop, handing each result to
    ``on_result`` as it comes, so that Ctrl-C (which cancels the main task under ``asyncio.run``) stops at once;
    on any exception the futures not finished are cancelled."""
    waiting = {asyncio.wrap_future(f) for f in futures}
    try:
        while waiting:
            done, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            for fut in done:
                on_result(fut.result())
    except BaseException:
        for fut in waiting:
            fut.cancel()  # and so the tasks not started; nothing is left to report a lost result
        raise


async def map_spawned(
    fn: SpawnedTask[R],
    tasks: list[tuple[object, ...]],
    workers: int,
    on_result: Callable[[tuple[str, int, R]], None],
    *,
    world_path: str,
    plugin_dirs: list[str],
    prepare: Callable[[World], None] | None = None,
) -> None:
    """``fn(world, registry, *args)`` for every ``args`` of ``tasks`` in ``workers`` spawned processes, each of
    which opens ``world_path`` once (``prepare``: a module-level function applied to it then) and builds the
    registry of ``plugin_dirs`` once; ``on_result((worker_id, world_loads, result))`` as each finishes.

    Raises:
        ResourceError: a worker process ended abruptly (out of memory).
    """
    # spawn, not fork: the parent runs an event loop and threads that a forked child must not inherit.
    key = worldkey.key() if worldkey.is_encrypted(world_path) else None
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_spawn_init,
        initargs=(world_path, plugin_dirs, key, prepare),
    )
    try:
        await collect_futures([pool.submit(_spawned_task, fn, args) for args in tasks], on_result)
    except BrokenProcessPool:
        _end_pool(pool)
        raise ResourceError(
            "a worker process ended abruptly (out of memory?): try fewer workers", fields="workers"
        ) from None
    except BaseException:
        _end_pool(pool)  # Ctrl-C or an error: no orphan processes
        raise
    pool.shutdown(wait=True)


def _end_pool(pool: Any) -> None:
    processes = list((getattr(pool, "_processes", None) or {}).values())
    # The call queue's feeder thread may be in the middle of writing a chunk of jobs (tens of kB, more than
    # a pipe holds) to a worker that is about to be terminated: nobody would ever read it, and the exit
    # would wait for that thread for ever. Do not wait for it.
    call_queue = getattr(pool, "_call_queue", None)
    if call_queue is not None:
        call_queue.cancel_join_thread()
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        if p.is_alive():
            p.terminate()
    for p in processes:
        p.join(timeout=5)


# -- a Ray cluster ---------------------------------------------------------------------------------------------
def ray_world(ref: RayRef, data_key: bytes | None = None) -> tuple[World, Registry, dict[str, str]]:
    """The world, registry and plugin folder names (this node's copy -> the user's folder) of a Ray
    payload, loaded once per worker process (cached by object id). The world is read from the payload's
    snapshot bytes in memory (sealed with ``data_key`` when one is given: see :func:`ray_payload`); only
    the plugins' files are written to a temporary folder, to be imported."""
    global _LOADS
    key = ref.hex()
    hit = _RAY_CACHE.get(key)
    if hit is None:
        ray = import_ray()
        payload = ray.get(ref)
        world = load_snapshot_bytes(payload["snapshot"], source="the world of a Ray payload", data_key=data_key)
        folder = tempfile.mkdtemp(prefix="agora-ray-")
        try:
            dirs, renames = [], {}
            originals = payload.get("plugin_dirs") or []
            for i, files in enumerate(payload["plugins"]):
                d = os.path.join(folder, f"plugins{i}")
                os.makedirs(d)
                for name, data in files:
                    path = os.path.join(d, name)
                    with open(path, "wb") as fh:
                        fh.write(data)
                    # A plugin's traceback shows its source lines after the file is gone (no mtime: never re-read).
                    text = data.decode("utf-8", errors="replace")
                    linecache.cache[path] = (len(data), None, text.splitlines(keepends=True), path)
                dirs.append(d)
                if i < len(originals):
                    renames[d] = originals[i]
            registry = Registry(dirs, env=False)  # imports the plugin files now, so they need not stay
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        _RAY_CACHE.clear()  # one world at a time
        hit = _RAY_CACHE[key] = (world, registry, renames)
        _LOADS += 1
    return hit


def ray_payload(world: World, plugin_dirs: list[str], data_key: bytes | None = None) -> dict[str, object]:
    """The world as snapshot bytes (compressed, checksummed, no pickle), made in memory (never a temporary
    file), and the plugin folders' files.

    With ``data_key`` (:func:`sim.core.sealed.new_data_key`) the snapshot is sealed with it, for an
    encrypted world: the key must then reach the workers apart from the payload (a small task argument,
    inlined in the task, never in the object store), or sealing would protect nothing. Without, the bytes
    are clear: an encrypted world's clear copy then lives in Ray's object store, in shared memory, which
    Ray may spill to its own temporary folder when the store is full."""
    # Workers run forks: the world's past events are not read. encrypt=False: the workers hold no world key.
    data = snapshot_bytes(world, events=False, encrypt=False, data_key=data_key)
    snapshot = np.frombuffer(data, dtype=np.uint8)  # read zero-copy from the object store by a node's workers
    plugins = []
    for d in plugin_dirs:
        files = []
        if isinstance(d, TrustedFolder):  # the bytes that were hashed when its trust was checked, never re-read
            files = sorted(d.sources.items())
        elif os.path.isdir(d):
            for name in sorted(os.listdir(d)):
                p = os.path.join(d, name)
                if name.endswith(".py") and os.path.isfile(p):
                    with open(p, "rb") as fh:
                        files.append((name, fh.read()))
        plugins.append(files)
    return {"snapshot": snapshot, "plugins": plugins, "plugin_dirs": [os.path.abspath(d) for d in plugin_dirs]}


def import_ray() -> ModuleType:
    """The ``ray`` module.

    Raises:
        BadParameterError: Ray is not installed.
    """
    try:
        import ray  # noqa: PLC0415 - heavy optional dependency (the ray extra), only for a Ray backend
    except ImportError:
        raise BadParameterError(RAY_HINT, fields="ray") from None
    return ray


def _check_reachable(address: str) -> None:
    """Fail fast on a cluster address nothing answers at (Ray itself retries for minutes).

    Raises:
        BadParameterError: HOST:PORT (or ray://HOST:PORT) refuses or does not answer within 5 seconds.
    """

    if not ascii_digits(address):  # Ray would read a port of another script's digits as a number
        raise BadParameterError(
            f"ray {address[:60]!r} has digits of another script: write its port in ASCII digits (0-9)", fields="ray"
        )
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    number = ascii_int(port) if sep and port.isdigit() else None
    if number is None:
        return  # not HOST:PORT: Ray reads it (and reports what it cannot)
    if not 0 < number < 65536:
        raise BadParameterError(f"ray {address[:60]}: a port is from 1 to 65535, not {number:,}", fields="ray")
    try:
        socket.create_connection((host.strip("[]"), number), timeout=5).close()
    except OSError as exc:
        raise BadParameterError(
            f"ray {address}: no Ray cluster answers there ({exc.strerror or exc}); give ray auto for a local "
            "cluster, or start one with Ray's own command first",
            fields="ray",
        ) from None


def _refuse_another_cluster(ray: ModuleType, address: str) -> None:
    """Refuse ``address`` (HOST:PORT) when this process is connected to a Ray cluster at another address.

    Raises:
        BadParameterError: the process's connection is to another cluster.
    """
    try:
        current = str(ray.get_runtime_context().gcs_address or "")
    except Exception:  # noqa: BLE001 - an old or odd Ray: nothing to compare with, Ray's own connection stands
        return
    wanted = address.removeprefix("ray://")
    if current and wanted != current:
        raise BadParameterError(
            f"ray {address[:60]}: this process is connected to the Ray cluster at {current} already, and Ray holds "
            "one connection a process: run the work in a process of its own (agora backtest, agora fit) to send "
            "it to another cluster",
            fields="ray",
        )


@contextlib.contextmanager
def ray_cluster(address: str, workers: int, progress: Progress) -> Iterator[tuple[ModuleType, int]]:
    """Ray, started (``auto``/``local``: a fresh local cluster of ``workers`` CPUs) or reached at ``address``
    for the block, and shut down after it if it was started here; yields the module and the cluster's CPUs.

    Raises:
        BadParameterError: Ray is not installed, or no cluster can be started or reached.
    """
    ray = import_ray()
    started = False
    if ray.is_initialized() and address not in ("auto", "local"):
        # Connected already (a live world's earlier fit, a test's cluster): the work goes only where it was asked
        # to go, never silently to the cluster this process happens to be connected to.
        _check_reachable(address)
        _refuse_another_cluster(ray, address)
    if not ray.is_initialized():
        if progress:
            progress("starting Ray", 0.0)
        quiet = {"log_to_driver": False, "logging_level": logging.ERROR, "include_dashboard": False}
        try:
            if address in ("auto", "local"):
                # A fresh local cluster of `workers` CPUs ("local": never attach to a running one by accident).
                ray.init(address="local", num_cpus=workers, **quiet)
            else:
                _check_reachable(address)
                ray.init(address=address, **quiet)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise BadParameterError(
                f"ray {address}: cannot start or reach a Ray cluster ({exc})", fields="ray"
            ) from None
        started = True
    try:
        yield ray, max(1, int(ray.cluster_resources().get("CPU", workers)))
    finally:
        if started:
            ray.shutdown()


def ray_failure(ray: ModuleType, exc: BaseException) -> AgoraError:
    """A Ray task's failure as one sentence (runs catch their own errors: this is a worker that could not
    start, load or import)."""
    cause = getattr(exc, "cause", None) or exc
    why = (f"{type(cause).__name__}: {cause}".splitlines() or ["?"])[0]
    return AgoraError(f"a Ray worker failed ({why}): every node needs the same agora-sim installed")


def share_world(ray: ModuleType, world: World, plugin_dirs: list[str]) -> tuple[RayRef, bytes | None]:
    """Put ``world`` and the plugin folders' files into the cluster's object store, once: the object ref and the
    one-time key an encrypted world's snapshot is sealed with (None for a clear world). The key must go with each
    task as a small argument (Ray sends it inline, never into its object store, which may spill to disk), to be
    given to :func:`ray_world`."""
    data_key = sealed.new_data_key() if world.path and worldkey.is_encrypted(world.path) else None
    return ray.put(ray_payload(world, plugin_dirs, data_key)), data_key


__all__ = [
    "RAY_HINT",
    "ForkedJob",
    "MapProgress",
    "Progress",
    "SpawnedTask",
    "collect_futures",
    "default_workers",
    "fork_available",
    "import_ray",
    "map_forked",
    "map_spawned",
    "ray_cluster",
    "ray_failure",
    "ray_payload",
    "ray_world",
    "share_world",
    "worker_id",
    "world_loads",
]
