"""A live world's forecasts (issue 49, "branch the present"): jobs that branch the world's present and continue
it R times under arms, while the world itself runs on.

:meth:`Forecasts.start` checks the request against the world at once (a bad one raises before any job exists),
takes the present as a fork of the world on the event loop with the world's ticks held (no tick is half done
in it), and continues that fork in a thread of its own (the forecast's engine may fork worker processes from
it): the event loop goes on answering. A finished job says so on the live stream (a ``forecast`` event).
:meth:`Forecasts.cancel` ends a running job (its worker processes killed, its runs in the thread stopped
between two ticks) or forgets a finished one (``DELETE /api/v1/forecasts/{id}``).

**Bounds.** A live world's requests come from its server, its terminal UI or Python beside it, so they are parsed
within :data:`~sim.model.seeds.SERVED` (no file, an arm's or a posterior, is named, none is opened; no seed
method that can take minutes), their errors name the request's fields, and each asks for at most
:attr:`Forecasts.MAX_RUNS` runs an arm and :attr:`Forecasts.MAX_WORK` runs × arms × horizon in all.

**Checked once.** A request's fields are parsed once, by :meth:`Forecasts.parse` (``Forecast.parse`` within the
live bounds) as :meth:`Forecasts.start` takes them; :meth:`Forecasts.check_bounds` then only weighs the parsed
value (runs × arms × horizon); ``check_forecast`` checks it against the world's present. A request value made
elsewhere (Python's ``Forecast(...)``, or one parsed for the command line) has not been parsed within these
bounds: :meth:`Forecasts.start` parses its fields once, as a mapping's.

**Layers.** ``sim.live`` stands on ``sim.runs`` (docs/architecture.md): the forecast's request value, its checks
and :func:`sim.runs.forecast.run_forecast` are imported from there. The terminal UI, which imports ``sim.live``
but not ``sim.runs``, takes the types it shows from here (:class:`Forecast`, :class:`Arm`,
:class:`ForecastResult`, :class:`ArmForecast`, :class:`ForecastJob`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import os
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar

from sim.core.world import World
from sim.engine.requests import Arm, Forecast
from sim.errors import AgoraError, BadParameterError, RuleError
from sim.live.background import BackgroundRun
from sim.live.policy import Host, NotFoundError, StateError
from sim.model.registry import Registry
from sim.model.seeds import SERVED
from sim.runs.forecast import ArmForecast, CheckedForecast, ForecastResult, check_forecast, run_forecast, run_rows

#: Finished jobs kept (the oldest are forgotten first; running ones never).
KEEP_FINISHED = 32

#: ``progress(what, fraction)``, called from the forecast's thread.
Progress = Callable[[str, float], None]


def _fields(request: Forecast) -> dict[str, object]:
    """The fields of a request value, as :meth:`Forecasts.parse` takes them (its arms as they are)."""
    return Forecast.OPTIONS.fields_of(request)


class _NoForecastError(NotFoundError, BadParameterError):
    """No such forecast (404 over the API)."""


class NoRunningSessionError(NotFoundError, BadParameterError):
    """The forecast names no running session of the world (404 over the API)."""


class TooManyForecastsError(StateError, BadParameterError):
    """:attr:`Forecasts.MAX_RUNNING` forecasts run already (the API answers 409, as for other bounds)."""


def request_dict(request: Forecast) -> dict[str, object]:
    """What a job says of its request (JSON): its served fields, each arm's actions as its request wrote them."""
    arms = {
        arm.name: [*(str(iv) for iv in arm.interventions), *(f"set:{k}={v}" for k, v in arm.sets)]
        for arm in request.arms
    }
    return {**Forecast.OPTIONS.served_of(request), "arms": arms}


@dataclass(eq=False)
class ForecastJob:
    """One forecast of the live world: ``running``, then ``done`` (``result``), ``failed`` (``error``, one
    sentence) or ``cancelled`` (:meth:`Forecasts.cancel`). ``branched_at`` is the world's tick it branched from;
    ``progress`` goes from 0 to 1."""

    id: str
    request: Forecast
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


def _running_session(world: World, session: int | None) -> None:
    """Refuse a forecast of a session the world does not have running.

    Raises:
        NoRunningSessionError: no session running (``session`` None), or none ``session`` that is running.
    """
    if session is None:
        if not any(s.status == "running" for s in world.sessions):
            raise NoRunningSessionError(
                "the world has no running session to forecast: inject a message and step it first"
            )
        return
    found = next((s for s in world.sessions if s.id == session), None)
    if found is None:
        raise NoRunningSessionError(f"the world has no session {session}: GET /api/v1/sessions lists them")
    if found.status != "running":
        raise NoRunningSessionError(f"session {session} is {found.status}: only a running session can be forecast")


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
    #: The most ticks a live forecast's runs may take in all: runs × arms × horizon (``ticks``, or ``max_ticks``
    #: until done). A tick of one run costs 0.4 to 9 ms on a 100,000-agent world here (the compiled kernels to
    #: the engine, a large cascade; docs/forecasting.md), so a request that goes the whole horizon in every
    #: run holds a slot for hours at most, and the usual one, whose cascades end within tens of ticks, minutes.
    #: The terminal UI's default (200 runs, 2 arms, until done within 10,000 ticks) is 4,000,000; the 16 arms
    #: of 10,000 runs until done that held a slot for five hours were 1,600,000,000.
    MAX_WORK: int = 5_000_000
    #: Seconds :meth:`cancel` waits for a running job to end before it answers (it is cancelled either way).
    CANCEL_WAIT: float = 5.0

    _ids: ClassVar[itertools.count] = itertools.count(1)

    def __init__(self, host: Host) -> None:
        self.host = host
        self._jobs: dict[str, ForecastJob] = {}
        self._tasks: set[asyncio.Task] = set()
        self._done: dict[str, asyncio.Event] = {}
        #: A running job's run in the background (:meth:`cancel` stops it).
        self._runs: dict[str, BackgroundRun] = {}

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

    def parse(self, data: Mapping[str, object]) -> Forecast:
        """The forecast ``data`` asks for, as this world takes it: ``Forecast.parse``'s fields, parsed once within
        :data:`~sim.model.seeds.SERVED` (no file named, none opened; no slow seed method in an arm, which is
        looked up in the world's registry) and :attr:`MAX_RUNS` runs an arm; its errors name the fields.

        Raises:
            BadParameterError: an unknown field, a value of the wrong type or out of range, no horizon, a bad
                arm, a file named (one sentence).
        """
        return Forecast.parse(data, self.host.registry, SERVED, max_runs=self.MAX_RUNS)

    def check_bounds(self, req: Forecast) -> None:
        """Refuse a parsed request (:meth:`parse`'s) that asks more of a live world than it gives: more than
        :attr:`MAX_WORK` runs × arms × horizon. Its fields are not parsed again: :meth:`parse` checked each.

        Raises:
            RuleError (a BadParameterError; 422 over the API): each field in range, but runs × arms × horizon
                past :attr:`MAX_WORK`.
        """
        horizon = req.ticks if req.ticks is not None else req.max_ticks
        work = req.runs * len(req.arms) * horizon
        if work > self.MAX_WORK:
            said = f"ticks {horizon:,}" if req.ticks is not None else f"until done within max_ticks {horizon:,}"
            raise RuleError(
                f"runs × arms × horizon is {req.runs:,} × {len(req.arms)} × {horizon:,} ({said}) = {work:,}, more "
                f"than the {self.MAX_WORK:,} a live forecast may ask for: ask for fewer runs or arms, or a shorter "
                "horizon (ticks, or max_ticks until done)",
                fields=("runs", "arms", "ticks", "max_ticks"),
            )

    def admit(self, request: Forecast | Mapping[str, object]) -> Forecast:
        """``request`` parsed once within this world's bounds (:meth:`parse`) and weighed (:meth:`check_bounds`):
        a mapping's fields, or those of a value made elsewhere (``Forecast(...)`` in Python, or one parsed for
        the command line, which may name a file or a slow seed method).

        Raises:
            BadParameterError, RuleError: as :meth:`parse` and :meth:`check_bounds`.
        """
        if isinstance(request, Forecast):
            request = _fields(request)
        req = self.parse(request)
        self.check_bounds(req)
        return req

    async def start(self, request: Forecast | Mapping[str, object], *, actor: str | None = None) -> ForecastJob:
        """Branch the world's present now and forecast it in the background; returns the running job.

        Args:
            request: the forecast (:class:`Forecast`'s value, or the mapping :meth:`parse` takes: within
                :data:`~sim.model.seeds.SERVED`, its errors naming its fields).
            actor: who asked (kept on the job).

        Raises:
            BadParameterError: a bad request, more than :attr:`MAX_RUNS` runs, a file or a slow seed method in an
                arm. RuleError (a BadParameterError; 422 over the API): more than :attr:`MAX_WORK` runs × arms ×
                horizon, or a request this world cannot carry out (an arm's seeds it cannot meet, a parameter its
                session's model lacks). NoRunningSessionError (404): no such session, or one that is not running.
                TooManyForecastsError: :attr:`MAX_RUNNING` forecasts run already.
        """
        req = self.admit(request)
        if req.workers is None:  # a core kept for the live world's ticks, UI and server
            req = dataclasses.replace(req, workers=foreground_workers())
        if self.running >= self.MAX_RUNNING:
            raise TooManyForecastsError(
                f"{self.running} forecasts are running, the most this world runs at once: "
                "wait for one to finish or cancel one (GET /api/v1/forecasts, DELETE /api/v1/forecasts/{id})"
            )
        host = self.host
        async with host.sim.lock:  # no tick is under way: the fork is the world between two ticks
            fork = host.world.fork()
        registry = host.registry
        _running_session(fork, req.session)
        try:
            checked = await asyncio.to_thread(check_forecast, fork, registry, req)
        except RuleError:
            raise
        except BadParameterError as exc:  # well formed, but not what this world's present can do
            raise RuleError(str(exc), fields=exc.fields) from None
        if self.running >= self.MAX_RUNNING:  # another start got in while this one was checked
            raise TooManyForecastsError(
                f"{self.running} forecasts are running, the most this world runs at once: wait for one to finish"
            )
        job = ForecastJob(f"f{next(self._ids)}", req, int(fork.tick), actor=actor)
        self._jobs[job.id] = job
        self._done[job.id] = asyncio.Event()
        self._runs[job.id] = BackgroundRun("forecast")
        self._forget()
        task = asyncio.get_running_loop().create_task(self._run(job, fork, registry, checked))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    async def cancel(self, job_id: str, *, forget: bool = False, actor: str | None = None) -> ForecastJob:
        """Cancel the running job ``job_id`` (its worker processes are killed within a second, its runs in this
        process stop between two ticks or two runs; it is kept as ``cancelled``, or forgotten with ``forget``:
        ``DELETE /api/v1/forecasts/{id}`` leaves no job behind), or forget a finished one (``done``, ``failed`` or
        ``cancelled``: it is no longer listed). Returns the job.

        Raises:
            NotFoundError: no such job (or one forgotten).
        """
        job = self.get(job_id)
        if job.state != "running":
            self._jobs.pop(job.id, None)
            return job
        job.state, job.error = "cancelled", f"the forecast was cancelled at {job.progress:.0%} of its runs"
        self.host.audit("forecast cancelled", {"id": job.id, "progress": round(job.progress, 4)}, actor)
        if forget:
            self._jobs.pop(job.id, None)
        run = self._runs.get(job.id)
        if run is not None:  # its worker processes are ended within a second, its runs stop between two ticks
            run.cancel()
        done = self._done.get(job.id)
        if done is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), self.CANCEL_WAIT)
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

    async def _run(self, job: ForecastJob, fork: World, registry: Registry, checked: CheckedForecast) -> None:
        def progress(_what: str, fraction: float) -> None:
            job.progress = min(1.0, max(job.progress, float(fraction)))

        run = self._runs[job.id]
        stop = run.stop
        try:
            result = await run.run(
                lambda: run_forecast(fork, registry, job.request, progress=progress, stop=stop, checked=checked)
            )
            if not stop.is_set():
                job.result, job.state, job.progress = result, "done", 1.0
        except AgoraError as exc:
            if not stop.is_set():
                job.state, job.error = "failed", str(exc)
        except Exception as exc:  # noqa: BLE001 - a bug: the job says so, the server's log has the traceback
            if not stop.is_set():
                job.state, job.error = "failed", f"the forecast failed ({type(exc).__name__}: {str(exc)[:200]})"
                sys.stderr.write("agora: a forecast failed:\n" + "".join(traceback.format_exception(exc)))
        finally:
            if job.state == "running":  # cancelled (the loop closes)
                job.state, job.error = "failed", "the forecast was stopped"
            self._runs.pop(job.id, None)
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


__all__ = [
    "Arm",
    "ArmForecast",
    "Forecast",
    "ForecastJob",
    "ForecastResult",
    "Forecasts",
    "NoRunningSessionError",
    "TooManyForecastsError",
    "foreground_workers",
    "run_rows",
]
