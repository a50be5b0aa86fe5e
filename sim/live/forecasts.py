"""A live world's forecasts (issue 49, "branch the present"): jobs that branch the world's present and continue
it R times under arms, while the world itself runs on.

:meth:`Forecasts.start` checks the request against the world at once (a bad one raises before any job exists),
takes the present as a fork of the world on the event loop with the world's ticks held (no tick is half done
in it), and continues that fork in a thread of its own (the forecast's engine may fork worker processes from
it): the event loop goes on answering. A finished job says so on the live stream (a ``forecast`` event).

**Layers.** ``sim.live`` may not import ``sim.runs`` (docs/architecture.md): the forecast's engine (its
request value's parser, its checks and :func:`sim.runs.forecast.run_forecast`) is handed to this module by a
front end that may import both (:func:`install`; ``sim.api.app`` and ``sim.lab.live`` do), once per process.
:class:`Forecast` parses a request through it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import itertools
import os
import sys
import threading
import traceback
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import ClassVar, Protocol

from sim.core.world import World
from sim.errors import AgoraError, BadParameterError
from sim.live.policy import Host, NotFoundError, StateError
from sim.model.registry import Registry

#: Finished jobs kept (the oldest are forgotten first; running ones never).
KEEP_FINISHED = 32


class ForecastRequest(Protocol):
    """What a forecast asks for (:class:`sim.runs.forecast.Forecast`)."""

    @property
    def session(self) -> int | None: ...
    @property
    def runs(self) -> int: ...
    @property
    def ticks(self) -> int | None: ...
    @property
    def max_ticks(self) -> int: ...
    @property
    def seed(self) -> int: ...
    @property
    def kernel(self) -> str: ...
    @property
    def arms(self) -> tuple[object, ...]: ...
    @property
    def workers(self) -> int | None: ...


class ForecastResult(Protocol):
    """What a forecast gives (:class:`sim.runs.forecast.ForecastResult`)."""

    @property
    def branched_at(self) -> int: ...
    @property
    def session(self) -> int: ...

    def to_dict(self) -> dict[str, object]: ...


#: ``progress(what, fraction)``, called from the forecast's thread.
Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class Engine:
    """The forecast's engine, from the layer that has it (:func:`install`).

    Attributes:
        parse: the request a mapping asks for (``Forecast.parse``). check: raises BadParameterError when a
            request cannot be forecast on a world (no such session, a bad arm). run: the forecast of a world
            (never modified), as a coroutine (``run_forecast``).
    """

    parse: Callable[[Mapping[str, object]], ForecastRequest]
    check: Callable[..., None]
    run: Callable[..., Coroutine[object, None, ForecastResult]]


_engine: list[Engine] = []


def install(engine: Engine) -> None:
    """Make ``engine`` the forecasts' engine in this process (the latest installed wins)."""
    _engine[:] = [engine]


def engine() -> Engine:
    """The installed engine.

    Raises:
        AgoraError: none is installed (a front end that offers forecasts installs one).
    """
    if not _engine:
        raise AgoraError(
            "forecasts are not available here: the front end did not install the forecast engine "
            "(sim.live.forecasts.install)"
        )
    return _engine[0]


class Forecast:
    """The request value of a forecast, as the live world takes it (the installed engine's)."""

    @staticmethod
    def parse(data: Mapping[str, object]) -> ForecastRequest:
        """The forecast ``data`` asks for (``sim.runs.forecast.Forecast.parse``'s fields).

        Raises:
            BadParameterError: an unknown field, a value out of range, no horizon, a bad arm (one sentence).
        """
        return engine().parse(data)


class _NoForecastError(NotFoundError, BadParameterError):
    """No such forecast (404 over the API)."""


class TooManyForecastsError(StateError, BadParameterError):
    """:attr:`Forecasts.MAX_RUNNING` forecasts run already (the API answers 409, as for other bounds)."""


def request_dict(request: ForecastRequest) -> dict[str, object]:
    """What a job says of its request (JSON)."""
    arms = {}
    for arm in request.arms:
        name = str(getattr(arm, "name", arm))
        sets = [f"set:{k}={v}" for k, v in getattr(arm, "sets", ())]
        arms[name] = [*getattr(arm, "interventions", ()), *sets]
    return {
        "session": request.session,
        "runs": request.runs,
        "ticks": request.ticks,
        "until_done": request.ticks is None,
        "max_ticks": request.max_ticks,
        "arms": arms,
        "seed": request.seed,
        "kernel": request.kernel,
    }


@dataclass(eq=False)
class ForecastJob:
    """One forecast of the live world: ``running``, then ``done`` (``result``) or ``failed`` (``error``, one
    sentence). ``branched_at`` is the world's tick it branched from; ``progress`` goes from 0 to 1."""

    id: str
    request: ForecastRequest
    branched_at: int
    state: str = "running"
    progress: float = 0.0
    result: ForecastResult | None = None
    error: str | None = None
    actor: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "state": self.state,
            "branched_at": self.branched_at,
            "progress": round(float(self.progress), 4),
            "error": self.error,
            "result": self.result.to_dict() if self.result is not None else None,
            "request": request_dict(self.request),
        }


class _DaemonExecutor(concurrent.futures.ThreadPoolExecutor):
    """Each call in a daemon thread of its own: a forecast under way never holds the process's exit up."""

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        future: concurrent.futures.Future = concurrent.futures.Future()

        def work() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                future.set_exception(exc)

        threading.Thread(target=work, name="agora-forecast-io", daemon=True).start()
        return future


def foreground_workers() -> int:
    """The processes a live world's forecast takes: one per CPU this process may use but one (at least one),
    so that the world's own ticks, its UI and its server keep a core."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return max(1, cpus - 1)


class Forecasts:
    """The forecasts of the world ``host`` keeps live (``controller.forecasts``)."""

    #: Forecasts running at once; past it :meth:`start` refuses.
    MAX_RUNNING: int = 2
    #: Runs per arm a live forecast may ask for.
    MAX_RUNS: int = 10_000

    _ids: ClassVar[itertools.count] = itertools.count(1)

    def __init__(self, host: Host) -> None:
        self.host = host
        self._jobs: dict[str, ForecastJob] = {}
        self._tasks: set[asyncio.Task] = set()
        self._done: dict[str, asyncio.Event] = {}

    def jobs(self) -> list[ForecastJob]:
        """Every job kept, oldest first (running ones and the last :data:`KEEP_FINISHED` finished)."""
        return list(self._jobs.values())

    def get(self, job_id: str) -> ForecastJob:
        """The job ``job_id``.

        Raises:
            NotFoundError (a BadParameterError too): no such job (or one long finished and forgotten).
        """
        job = self._jobs.get(str(job_id))
        if job is None:
            raise _NoForecastError(f"no forecast {str(job_id)[:40]!r}: GET /api/v1/forecasts lists them")
        return job

    @property
    def running(self) -> int:
        return sum(1 for j in self._jobs.values() if j.state == "running")

    async def start(self, request: ForecastRequest | Mapping[str, object], *, actor: str | None = None) -> ForecastJob:
        """Branch the world's present now and forecast it in the background; returns the running job.

        Args:
            request: the forecast (:class:`Forecast`'s value, or the mapping :meth:`Forecast.parse` takes).
            actor: who asked (kept on the job).

        Raises:
            BadParameterError: a bad request, more than :attr:`MAX_RUNS` runs, no such session or one that is
                not running, a bad arm. TooManyForecastsError: :attr:`MAX_RUNNING` forecasts run already.
        """
        eng = engine()
        req = eng.parse(request) if isinstance(request, Mapping) else request
        if getattr(req, "workers", None) is None:  # a core kept for the live world's ticks, UI and server
            req = dataclasses.replace(req, workers=foreground_workers())  # type: ignore[type-var]
        if req.runs > self.MAX_RUNS:
            raise BadParameterError(
                f"runs {req.runs:,} is more than the {self.MAX_RUNS:,} a live forecast may ask for: "
                "ask for fewer, or forecast the saved world with agora forecast"
            )
        if self.running >= self.MAX_RUNNING:
            raise TooManyForecastsError(
                f"{self.running} forecasts are running, the most this world runs at once: "
                "wait for one to finish (GET /api/v1/forecasts)"
            )
        host = self.host
        async with host.sim.lock:  # no tick is under way: the fork is the world between two ticks
            fork = host.world.fork()
        registry = host.registry
        await asyncio.to_thread(eng.check, fork, registry, req)
        if self.running >= self.MAX_RUNNING:  # another start got in while this one was checked
            raise TooManyForecastsError(
                f"{self.running} forecasts are running, the most this world runs at once: wait for one to finish"
            )
        job = ForecastJob(f"f{next(self._ids)}", req, int(fork.tick), actor=actor)
        self._jobs[job.id] = job
        self._done[job.id] = asyncio.Event()
        self._forget()
        task = asyncio.get_running_loop().create_task(self._run(job, eng, fork, registry))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    async def wait(self, job_id: str) -> ForecastJob:
        """The job ``job_id`` once it is done or failed.

        Raises:
            NotFoundError: no such job.
        """
        job = self.get(job_id)
        done = self._done.get(job.id)
        if done is not None:
            await done.wait()
        return job

    async def _run(self, job: ForecastJob, eng: Engine, fork: World, registry: Registry) -> None:
        def progress(_what: str, fraction: float) -> None:
            job.progress = min(1.0, max(job.progress, float(fraction)))

        inner: list[tuple[asyncio.AbstractEventLoop, asyncio.Task[ForecastResult]]] = []

        def work() -> ForecastResult:
            loop = asyncio.new_event_loop()
            loop.set_default_executor(_DaemonExecutor())
            try:
                task: asyncio.Task[ForecastResult] = loop.create_task(
                    eng.run(fork, registry, job.request, progress=progress)
                )
                inner.append((loop, task))
                return loop.run_until_complete(task)
            finally:
                loop.close()

        try:
            job.result = await asyncio.wrap_future(_DaemonExecutor().submit(work))
            job.state, job.progress = "done", 1.0
        except asyncio.CancelledError:  # the world closes: its worker processes are ended too
            for loop, task in inner:
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(task.cancel)
            raise
        except AgoraError as exc:
            job.state, job.error = "failed", str(exc)
        except Exception as exc:  # noqa: BLE001 - a bug: the job says so, the server's log has the traceback
            job.state, job.error = "failed", f"the forecast failed ({type(exc).__name__}: {str(exc)[:200]})"
            sys.stderr.write("agora: a forecast failed:\n" + "".join(traceback.format_exception(exc)))
        finally:
            if job.state == "running":  # cancelled (the loop closes)
                job.state, job.error = "failed", "the forecast was stopped"
            self._done.pop(job.id).set()
            self.host.events.publish(
                {
                    "type": "forecast",
                    "id": job.id,
                    "state": job.state,
                    "branched_at": job.branched_at,
                    "error": job.error,
                }
            )
            self._forget()

    def _forget(self) -> None:
        finished = [k for k, j in self._jobs.items() if j.state != "running"]
        for key in finished[: max(0, len(finished) - KEEP_FINISHED)]:
            del self._jobs[key]
