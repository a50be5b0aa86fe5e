"""A live world's LLM cost estimates as jobs (issue 71): bounded before they start, run beside the world, cancellable.

An estimate injects a message into a copy of the world and runs ``steps`` ticks of it with a counting double in
place of the LLM service (:func:`sim.runs.llmestimate.estimate_session`): a dry run, which changes nothing but
costs what those ticks cost. So, as a forecast:

- :meth:`Estimates.start` checks the request at once (a bad one raises before any job exists) and weighs it: the
  dry run's work, steps × rounds a tick × (agents + edges + a round's overhead)
  (:func:`~sim.runs.llmestimate.dry_run_work`), is at most :attr:`Estimates.MAX_WORK`, else a
  :class:`~sim.errors.RuleError` (422 over the API) saying how many steps this world allows;
- the world is copied with its changes and its ticks held (its lock, then the simulation's: no change and no tick
  is half done in the copy), and only for the copy; the dry run then goes on in a daemon thread of its own on that
  copy, while the world runs, pauses and takes messages;
- :meth:`Estimates.cancel` stops a running job between two ticks of its dry run (``DELETE``), and
  :meth:`Estimates.close` stops them all when the world closes: a thread left running never holds the process up.

A job ends ``done`` (its ``result``), ``failed`` (``error``, one sentence) or ``cancelled``, and says so on the live
stream (an ``estimate`` event). ``POST /api/v1/llm/estimate`` is :meth:`Estimates.estimate`: a job waited for.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from sim.core.world import World
from sim.engine.requests import Ensemble, Inject
from sim.engine.requests.common import json_kind
from sim.errors import AgoraError, BadParameterError, ResourceError, RuleError
from sim.live.policy import MAX_ESTIMATE_STEPS, Host, NotFoundError, StateError
from sim.llm.estimate import LLMEstimate
from sim.plugin.params import check_layers_named
from sim.runs.llmestimate import (
    ROUND_OVERHEAD,
    EstimateCancelledError,
    asks_the_llm,
    dry_run_work,
    estimate_session,
)
from sim.store.worldread import PersonaReader

#: Finished jobs kept (the oldest are forgotten first; running ones never).
KEEP_FINISHED = 32
#: The fields of a message an estimate echoes (those ``POST /api/v1/messages`` takes).
MESSAGE_FIELDS = ("text", "model", "params", "seeds", "topics", "author", "priority")


class _NoEstimateError(NotFoundError, BadParameterError):
    """No such estimate (404 over the API)."""


class TooManyEstimatesError(StateError, BadParameterError):
    """:attr:`Estimates.MAX_RUNNING` estimates run already (409 over the API)."""


class EstimateStoppedError(StateError):
    """The estimate waited for was cancelled before it finished (409 over the API)."""


@dataclass
class EstimateJob:
    """One estimate: ``state`` ``running``, ``done`` (``result``), ``failed`` (``error``) or ``cancelled``;
    ``progress`` goes from 0 to 1 (ticks run of ``steps``; a dry run whose world stops changing ends early)."""

    id: str
    request: Inject
    steps: int
    work: int
    state: str = "running"
    progress: float = 0.0
    result: LLMEstimate | None = None
    error: str | None = None
    actor: str | None = None
    #: The error a failed job ended with, as raised (a waiting caller raises it again).
    failure: AgoraError | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, object]:
        message = self.request.to_dict()
        return {
            "id": self.id,
            "state": self.state,
            "progress": round(float(self.progress), 4),
            "error": self.error,
            "result": self.result.to_dict() if self.result is not None else None,
            "request": {"steps": self.steps, "message": {k: message[k] for k in MESSAGE_FIELDS}},
            "work": self.work,
        }


def _in_daemon_thread(
    fn: Callable[[], LLMEstimate],
) -> tuple[concurrent.futures.Future[LLMEstimate], threading.Thread]:
    """``fn()`` in a daemon thread of its own (an estimate under way never holds the process's exit up): its
    future, and the thread."""
    future: concurrent.futures.Future[LLMEstimate] = concurrent.futures.Future()

    def work() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(fn())
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            future.set_exception(exc)

    thread = threading.Thread(target=work, name="agora-estimate", daemon=True)
    thread.start()
    return future, thread


class Estimates:
    """The LLM cost estimates of the world ``host`` keeps live (``controller.estimates``)."""

    #: Estimates running at once; past it :meth:`start` refuses (each is a thread of this process).
    MAX_RUNNING: int = 2
    #: The most work a live world's estimate may ask for (:func:`~sim.runs.llmestimate.dry_run_work`: steps ×
    #: rounds a tick × (agents + edges + 2,000,000)). A unit costs 0.1 to 1.4 ns here (docs/api.md), so the
    #: largest estimate holds a core for two minutes at most: 10,000 steps on a world of up to 3,000,000 agents
    #: and edges with no other session live, or 2,890 steps beside 15 live sessions on a small world (93 s
    #: measured, SIR sessions on 3,000 agents); the terminal UI's 10 ticks pass on any world up to 580,000,000
    #: agents and edges. The probe's 1,085 steps beside 3,345 sessions on 3,000 agents are 37,500,000,000.
    MAX_WORK: int = 100_000_000_000
    #: Seconds :meth:`cancel` waits for a running job's dry run to stop before it answers (cancelled either way).
    CANCEL_WAIT: float = 5.0

    _ids: ClassVar[itertools.count] = itertools.count(1)

    def __init__(self, host: Host) -> None:
        self.host = host
        self._jobs: dict[str, EstimateJob] = {}
        self._done: dict[str, asyncio.Event] = {}
        self._stops: dict[str, threading.Event] = {}
        self._tasks: set[asyncio.Task] = set()
        self._threads: set[threading.Thread] = set()

    def jobs(self) -> list[EstimateJob]:
        """Every job kept, oldest first (running ones and the last :data:`KEEP_FINISHED` finished)."""
        return list(self._jobs.values())

    def get(self, job_id: str) -> EstimateJob:
        """The job ``job_id``.

        Raises:
            NotFoundError (a BadParameterError too): no such job (or one forgotten).
        """
        job = self._jobs.get(str(job_id))
        if job is None:
            raise _NoEstimateError(f"no estimate {str(job_id)[:40]!r}: GET /api/v1/llm/estimates lists them")
        return job

    @property
    def running(self) -> int:
        return sum(1 for j in self._jobs.values() if j.state == "running")

    def weigh(self, request: Inject, steps: object) -> tuple[int, int]:
        """``steps`` checked, and the dry run's work weighed on the world as it is now; returns ``(steps, work)``.

        Raises:
            BadParameterError: ``steps`` not a whole number from 1 to :data:`MAX_ESTIMATE_STEPS`, or a message
                whose model has no LLM agents (nothing to estimate). RuleError: more work than :attr:`MAX_WORK`.
        """
        if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_ESTIMATE_STEPS:
            raise BadParameterError(
                f"steps, the ticks the estimate runs, must be a whole number from 1 to {MAX_ESTIMATE_STEPS:,}, "
                f"not {json_kind(steps)}",
                fields="steps",
            )
        world, registry = self.host.world, self.host.registry
        if not asks_the_llm(world, Ensemble(message=request, steps=steps), registry):
            raise BadParameterError(
                "the run has no session with LLM agents, so there is nothing to estimate: inject a message spread "
                "by llm (or another propagation model with LLM agents), or continue a world whose running session "
                "is one",
                fields="model",
            )
        work, rounds, size = dry_run_work(world, steps, max_running=self.host.sim.max_running)
        if work > self.MAX_WORK:
            most = self.MAX_WORK // (rounds * size)
            fewer = f"ask for at most {most:,} steps" if most else "pause the world's sessions first"
            raise RuleError(
                f"the estimate's dry run would be steps × rounds a tick × (agents + edges + {ROUND_OVERHEAD:,}) = "
                f"{steps:,} × "
                f"{rounds} × {size:,} = {work:,}, more than the {self.MAX_WORK:,} a live world's estimate may ask "
                f"for: {fewer}, or estimate a copy of the world with 'agora llm estimate'",
                fields="steps",
            )
        return steps, work

    async def start(self, request: Inject, *, steps: object, actor: str | None = None) -> EstimateJob:
        """Copy the world now and start the dry run of injecting ``request`` and running ``steps`` ticks on the
        copy, in the background; returns the running job.

        Raises:
            BadParameterError: as :meth:`weigh`, or seeds, an author or a layer this world does not have (as an
                injection would say). RuleError: as :meth:`weigh`.
            TooManyEstimatesError: :attr:`MAX_RUNNING` estimates run already.
        """
        steps, work = self.weigh(request, steps)
        self._room()
        host = self.host
        async with host.lock, host.sim.lock:  # no change and no tick under way: the copy is the world between two
            world = host.world
            fork = await asyncio.to_thread(world.fork)
        loader = world._persona_loader
        # A reader of its own: the live world's may be asked from the event loop while the dry run asks.
        fork._persona_loader = PersonaReader(loader.path) if isinstance(loader, PersonaReader) else loader
        try:  # what the injection would refuse in this world, refused before any job exists (as POST /messages)
            request.seeds.check(fork)
            check_layers_named(dict(request.params), fork.layers)
            if request.author is not None:
                fork.index_of(request.author)
        except AgoraError:
            _close_reader(fork, loader)
            raise
        self._room()  # another start got in while the world was copied
        job = EstimateJob(f"e{next(self._ids)}", request, steps, work, actor=actor)
        self._jobs[job.id] = job
        self._done[job.id] = asyncio.Event()
        self._stops[job.id] = threading.Event()
        self._forget()
        task = asyncio.get_running_loop().create_task(self._run(job, fork, loader))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    def _room(self) -> None:
        if self.running >= self.MAX_RUNNING:
            raise TooManyEstimatesError(
                f"{self.running} estimates are running, the most this world runs at once: wait for one to finish "
                "or cancel one (GET /api/v1/llm/estimates, DELETE /api/v1/llm/estimates/{id})"
            )

    async def cancel(self, job_id: str, *, forget: bool = False, actor: str | None = None) -> EstimateJob:
        """Cancel the running job ``job_id`` (its dry run stops before its next tick; it is kept as ``cancelled``,
        or forgotten with ``forget``), or forget a finished one. Returns the job.

        Raises:
            NotFoundError: no such job (or one forgotten).
        """
        job = self.get(job_id)
        if job.state != "running":
            self._jobs.pop(job.id, None)
            return job
        job.state, job.error = "cancelled", f"the estimate was cancelled at {job.progress:.0%} of its ticks"
        self.host.audit("estimate cancelled", {"id": job.id, "progress": round(job.progress, 4)}, actor)
        if forget:
            self._jobs.pop(job.id, None)
        stop = self._stops.get(job.id)
        if stop is not None:
            stop.set()
        done = self._done.get(job.id)
        if done is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), self.CANCEL_WAIT)
        return job

    async def wait(self, job_id: str) -> EstimateJob:
        """The job ``job_id`` once it has ended (done, failed or cancelled).

        Raises:
            NotFoundError: no such job.
        """
        job = self.get(job_id)
        done = self._done.get(job.id)
        if done is not None:
            await done.wait()
        return job

    async def estimate(
        self,
        request: Inject,
        *,
        steps: object,
        actor: str | None = None,
        gone: asyncio.Future | None = None,
        timeout: float | None = None,
    ) -> LLMEstimate:
        """Start an estimate (:meth:`start`) and wait for its result. Cancelled (the job too) when the waiting
        task is; ``gone``: a future that ends when whoever asked has gone away (the job is cancelled then);
        ``timeout``: seconds to wait before the job is left to go on and a ResourceError names it.

        Raises:
            as :meth:`start`; the error its dry run failed with; EstimateStoppedError: it was cancelled.
            ResourceError: still running after ``timeout`` seconds (the job goes on).
        """
        job = await self.start(request, steps=steps, actor=actor)
        done = asyncio.ensure_future(self._done[job.id].wait())
        try:
            waiting: set[asyncio.Future] = {done} | ({gone} if gone is not None else set())
            finished, _ = await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if not finished:
                raise ResourceError(
                    f"the estimate takes longer than {timeout:g} s and goes on as job {job.id}: GET "
                    f"/api/v1/llm/estimates/{job.id} has its result when it is done (DELETE cancels it)"
                )
            if done not in finished:  # whoever asked went away
                await self.cancel(job.id, actor=actor)
                raise EstimateStoppedError(f"the estimate {job.id} was cancelled: whoever asked for it went away")
        except asyncio.CancelledError:
            with contextlib.suppress(AgoraError):
                await asyncio.shield(self.cancel(job.id, actor=actor))
            raise
        finally:
            done.cancel()
        if job.state == "done" and job.result is not None:
            return job.result
        if job.state == "failed" and job.failure is not None:
            raise job.failure
        raise EstimateStoppedError(
            f"the estimate {job.id} was {job.state} before it finished"
            + (f" ({job.error})" if job.error and job.state != "cancelled" else "")
            + ": ask again"
        )

    async def close(self) -> None:
        """Stop every running estimate (the world closes): each dry run ends before its next tick, and its thread
        is gone when this returns (or :attr:`CANCEL_WAIT` seconds have passed: a daemon, it never holds the exit)."""
        running = [j.id for j in self._jobs.values() if j.state == "running"]
        for job_id in running:
            stop = self._stops.get(job_id)
            if stop is not None:
                stop.set()
        for job_id in running:
            done = self._done.get(job_id)
            if done is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), self.CANCEL_WAIT)
        for thread in list(self._threads):
            await asyncio.to_thread(thread.join, self.CANCEL_WAIT)

    async def _run(self, job: EstimateJob, fork: World, loader: object) -> None:
        host, stop = self.host, self._stops[job.id]
        config, served_locally = host.sim.llm.config, host.local_server is not None
        registry = host.registry

        def progress(ticks: int) -> None:
            job.progress = min(1.0, ticks / job.steps)

        def work() -> LLMEstimate:
            try:
                return estimate_session(
                    fork,
                    Ensemble(message=job.request, steps=job.steps),
                    registry=registry,
                    config=config,
                    served_locally=served_locally,
                    stop=stop,
                    progress=progress,
                    owned=True,
                )
            finally:
                _close_reader(fork, loader)

        try:
            future, thread = _in_daemon_thread(work)
            self._threads.add(thread)
            result = await asyncio.wrap_future(future)
            if not stop.is_set():
                job.result, job.state, job.progress = result, "done", 1.0
        except asyncio.CancelledError:  # the loop ends: the dry run stops before its next tick
            stop.set()
            raise
        except EstimateCancelledError:
            if job.state == "running":
                job.state, job.error = "cancelled", f"the estimate was cancelled at {job.progress:.0%} of its ticks"
        except AgoraError as exc:
            if not stop.is_set():
                job.state, job.error, job.failure = "failed", str(exc), exc
        except Exception as exc:  # noqa: BLE001 - a bug: the job says so, the server's log has the traceback
            if not stop.is_set():
                job.state, job.error = "failed", f"the estimate failed ({type(exc).__name__}: {str(exc)[:200]})"
                sys.stderr.write("agora: an estimate failed:\n" + "".join(traceback.format_exception(exc)))
        finally:
            self._threads = {t for t in self._threads if t.is_alive()}
            if job.state == "running":
                job.state, job.error = "cancelled", "the estimate was stopped: the world closed"
            self._stops.pop(job.id, None)
            self._done.pop(job.id).set()
            host.events.publish({"type": "estimate", "id": job.id, "state": job.state, "error": job.error})
            self._forget()

    def _forget(self) -> None:
        finished = [k for k, j in self._jobs.items() if j.state != "running"]
        for key in finished[: max(0, len(finished) - KEEP_FINISHED)]:
            del self._jobs[key]


def _close_reader(fork: World, loader: object) -> None:
    """Close the persona reader made for the copy (not the live world's own)."""
    own = fork._persona_loader
    if isinstance(own, PersonaReader) and own is not loader:
        with contextlib.suppress(Exception):
            own.close()


__all__ = ["EstimateJob", "EstimateStoppedError", "Estimates", "TooManyEstimatesError"]
