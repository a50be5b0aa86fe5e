"""A live world from Python: the world controller (:class:`sim.live.controller.WorldController`, the one
under ``agora serve`` and the terminal UI) on a private event loop in a background thread.

Every method is synchronous, so a script needs no asyncio, and works inside a running loop (a Jupyter
cell): the call is submitted to the private loop (``asyncio.run_coroutine_threadsafe``) and its result
returned. Code already in a loop may ``await`` the ``a``-prefixed variants instead (``await live.astep(10)``).
Each such operation is written once, as a coroutine that runs on the private loop (``_step``); its two doors
are made from it (:func:`_blocking` and :func:`_awaitable`: ``step`` and ``astep``), so the two never differ.
Closing (``close()``, the end of a ``with`` block, or at the latest when the handle is collected or the
interpreter exits) stops ticking, checkpoints the world into its file and ends the thread.
"""

from __future__ import annotations

import asyncio
import functools
import os
import weakref
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import Concatenate, ParamSpec, TypedDict, TypeVar, Unpack, cast

from sim.errors import AgoraError, BadParameterError
from sim.lab.loop import LoopThread
from sim.lab.tickseries import SessionSeries
from sim.live.controller import SERVER, RunState, WorldController, WorldSnapshot
from sim.live.forecasts import Forecast, ForecastResult
from sim.live.tools import Analysed
from sim.model.series import SeriesColumns

T = TypeVar("T")
P = ParamSpec("P")


class ClosedError(AgoraError):
    """The live simulation was closed."""


#: One operation of a live world: a coroutine that runs on its private loop (``Simulation._step``).
Operation = Callable[Concatenate["Simulation", P], Coroutine[object, None, T]]


def _blocking(op: Operation[P, T]) -> Callable[Concatenate[Simulation, P], T]:
    """The synchronous door of ``op`` (``_step`` gives ``step``): it runs ``op`` on the private loop and waits
    for its result. Its name is ``op``'s without the underscore, its signature and docstring ``op``'s."""

    @functools.wraps(op)
    def call(self: Simulation, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._call(op(self, *args, **kwargs))

    call.__name__ = op.__name__.removeprefix("_")
    call.__qualname__ = f"Simulation.{call.__name__}"
    return call


def _awaitable(op: Operation[P, T]) -> Callable[Concatenate[Simulation, P], Coroutine[object, None, T]]:
    """The asynchronous door of ``op`` (``_step`` gives ``astep``): it runs ``op`` on the private loop and
    awaits its result, leaving the caller's loop free."""
    name = op.__name__.removeprefix("_")

    @functools.wraps(op)
    async def call(self: Simulation, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self._acall(op(self, *args, **kwargs))

    call.__name__, call.__qualname__ = f"a{name}", f"Simulation.a{name}"
    call.__doc__ = f":meth:`{name}` as a coroutine.\n\n" + (op.__doc__ or "")
    return call


def _shutdown(thread: LoopThread, host: WorldController, saved: list[bool]) -> None:
    """Close ``host`` on its loop and end the loop (the finalizer: it must not hold the handle)."""
    if thread.alive:
        try:
            saved.append(thread.call(host.close()))
        finally:
            thread.stop()


#: The fastest pace :meth:`Simulation.run` takes (ticks per second; the controller's bound).
MAX_PACE = 1e6


def _pace(pace: object) -> float | None:
    """``pace`` checked: None, or a number of ticks per second above 0 and at most :data:`MAX_PACE`.

    Raises:
        BadParameterError: anything else, in one sentence naming ``pace``.
    """
    if pace is None:
        return None
    if isinstance(pace, bool) or not isinstance(pace, (int, float)) or not 0 < pace <= MAX_PACE:
        raise BadParameterError(
            f"pace {pace!r} is invalid: give ticks per second above 0 (at most {MAX_PACE:,.0f}), "
            "or None to tick as fast as possible"
        )
    return float(pace)


class InjectFields(TypedDict, total=False):
    """What :meth:`Simulation.inject` takes beside the text (every field optional)."""

    model: str
    params: Mapping[str, object] | None
    seeds: str | list[int]
    topics: Iterable[str]
    author: int | None
    priority: int


class LiveSettings(TypedDict, total=False):
    """How a live world is kept (every field optional): the living network's and the LLM's settings while it
    is open (the file keeps its own), the plugin budget, checkpoints every ``checkpoint_every`` ticks (default
    50), and the folder of named snapshots (default: the world's)."""

    social: Mapping[str, object] | None
    plugin_budget: float | None
    checkpoint_every: int | None
    snapshots: str | None
    llm: Mapping[str, object] | None


class Simulation:
    """A world file, live. See the module docstring; open it with :meth:`sim.WorldFile.simulation`.

    Args:
        path: the world file. plugins: user plugin folders. social: living-network settings while it runs.
        plugin_budget: seconds one plugin call may take. checkpoint_every: checkpoint the file every N ticks
            (None or 0: only on pause, step, save and close). snapshots: the folder of ``save``/``load``
            snapshots (default the world file's folder). llm: LLM settings while it runs (``agora llm``'s keys).

    Raises:
        BadFileError: the world file cannot be opened. BadParameterError: bad settings.
    """

    def __init__(self, path: str, *, plugins: Iterable[str] = (), **settings: Unpack[LiveSettings]) -> None:
        unknown = sorted(set(settings) - set(LiveSettings.__annotations__))
        if unknown:  # as Python says it of a keyword the signature lacks
            raise TypeError(f"Simulation() got an unexpected keyword argument {unknown[0]!r}")
        social, llm = settings.get("social"), settings.get("llm")
        self.path = os.fspath(path)
        self._thread = LoopThread(name="agora-live")
        try:
            self._host: WorldController = self._thread.call(
                WorldController.open(
                    self.path,
                    plugin_dirs=[os.fspath(p) for p in plugins],
                    social=dict(social) if social else None,
                    llm=dict(llm) if llm else None,
                    plugin_budget=settings.get("plugin_budget"),
                    snapshots=settings.get("snapshots"),
                    checkpoint_every=settings.get("checkpoint_every", 50),
                    checkpoint_seconds=None,
                    policy=SERVER,
                )
            )
        except BaseException:
            self._thread.stop()
            raise
        self._saved: list[bool] = []
        self._finalizer = weakref.finalize(self, _shutdown, self._thread, self._host, self._saved)

    # -- plumbing --------------------------------------------------------------------------------------------
    def _call(self, coro: Coroutine[object, None, T]) -> T:
        if not self._finalizer.alive:
            coro.close()
            raise ClosedError(
                f"the simulation of {self.path} is closed: open it again with sim.open_world(path).simulation()"
            )
        return self._thread.call(coro)

    async def _acall(self, coro: Coroutine[object, None, T]) -> T:
        if not self._finalizer.alive:
            coro.close()
            raise ClosedError(
                f"the simulation of {self.path} is closed: open it again with sim.open_world(path).simulation()"
            )
        return await self._thread.acall(coro)

    @staticmethod
    async def _read(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return fn(*args, **kwargs)  # on the loop's thread: never while a tick changes the world

    @property
    def host(self) -> WorldController:
        """The world controller (its coroutines must run on this handle's loop: use the methods here)."""
        return self._host

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def __enter__(self) -> Simulation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Simulation:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"tick {self.tick}, {self._host.state}"
        return f"Simulation({self.path!r}: {state})"

    # -- the state -------------------------------------------------------------------------------------------
    @property
    def tick(self) -> int:
        """The world's tick."""
        return int(self._host.world.tick)

    @property
    def state(self) -> str:
        """``running`` or ``paused``."""
        return self._host.state

    def snapshot(self) -> WorldSnapshot:
        """What screens show of the world as of its latest tick (a frozen :class:`WorldSnapshot`)."""
        return self._call(self._read(self._host.snapshot))

    def summary(self) -> dict[str, object]:
        """The world as ``GET /api/v1/world`` answers: agents, edges, tick, state, sessions, living network, ..."""
        return self._call(self._read(self._host.read.summary))

    def session(self, session_id: int, *, series: bool = False, cascade: bool = True) -> dict[str, object]:
        """One session (an injected message's cascade) as ``GET /api/v1/sessions/{id}`` answers it: with
        ``cascade``, the measures of its adoption forest (``sim.core.cascade``)."""
        return self._call(self._read(self._host.read.session_record, session_id, series=series, cascade=cascade))

    def series(self, session_id: int | None = None) -> SessionSeries:
        """A session's per-tick series as of now (the latest session without ``session_id``): the model's
        states, ``reached``, ``new`` and the rest of a run's measures, one numpy array each over the session's
        ticks (``series["I"]``, ``columns()``, ``to_pandas()``: a row per tick); ``write(path)`` writes what
        ``agora run --series`` writes of the same run (:class:`~sim.lab.tickseries.SessionSeries`).

        Raises:
            NotFoundError: no such session. BadParameterError: no session yet.
        """
        return self._call(self._read(self._series, session_id))

    def _series(self, session_id: int | None) -> SessionSeries:
        sessions = self._host.world.sessions
        if session_id is None:
            if not sessions:
                raise BadParameterError("the world has no session yet: inject one first (live.inject(text, ...))")
            session_id = max(s.id for s in sessions)
        record = self._host.read.session_record(session_id, series=True)
        data = cast("dict[str, list[object]]", record["series"])
        declared = SeriesColumns.from_dict(cast("dict[str, list[str]]", record["series_columns"]))
        return SessionSeries(int(cast(int, record["id"])), str(record["model"]), declared, data, self.path)

    def sessions(self, limit: int = 100, offset: int = 0) -> list[dict[str, object]]:
        """The sessions, oldest first (``limit`` from ``offset``)."""
        return self._call(self._read(self._host.read.sessions, limit, offset))

    def agent(self, original_id: int) -> dict[str, object]:
        """One agent by its original id."""
        return self._call(self._read(self._host.read.agent, original_id))

    def communities(self, limit: int | None = None) -> list[dict[str, object]]:
        """The communities, largest first."""
        return self._call(self._host.read.communities(limit))

    # -- changing the world ------------------------------------------------------------------------------------
    # Each operation is one coroutine on the private loop (``_inject``); ``inject`` and ``ainject`` are its doors.

    async def _inject(self, text: str, **fields: Unpack[InjectFields]) -> dict[str, object]:
        """Inject a message whose cascade follows ``model``; returns its session (``session(id)``'s fields).

        ``fields`` (:class:`InjectFields`): ``model`` (default ``"ic"``) and ``params``; ``seeds``: ``random:K``
        (default ``random:10``), ``top:K``, ``ids:a,b,c``, ``community:C:K``, ``METHOD:K`` (a quick seed
        method: ``degree:50``, ``pagerank:50``, ...) or a list of original agent ids; ``topics``; ``author``;
        ``priority``.

        Raises:
            BadParameterError: a bad model, parameter, seed selection or value.
        """
        unknown = sorted(set(fields) - set(InjectFields.__annotations__))
        if unknown:  # as Python says it of a keyword the signature lacks
            raise TypeError(f"inject() got an unexpected keyword argument {unknown[0]!r}")
        asked: dict[str, object] = {"model": "ic", "seeds": "random:10", **fields}
        asked["params"] = dict(fields.get("params") or {})
        asked["topics"] = list(fields.get("topics", ()))
        session = await self._host.inject(text=text, **asked, actor="python")
        return self._host.read.session_record(session.id)

    inject = _blocking(_inject)
    ainject = _awaitable(_inject)

    async def _cancel(self, session_id: int) -> dict[str, object]:
        """Cancel a queued or running session; returns it.

        Raises:
            AgoraError: no such session, or one that has ended.
        """
        session = self._host.cancel(session_id, actor="python")
        return self._host.read.session_record(session.id)

    cancel = _blocking(_cancel)

    async def _intervene(self, action: str) -> dict[str, object]:
        """Schedule an intervention: ``ACTION`` at the start of the next tick, ``TICK:ACTION`` that many ticks
        from now: ``block:METHOD:K``, ``counter:MODEL:SEEDS[:TEXT]``, ``remove-edges:FRACTION[:random|between]``
        (``sim.model.intervene``). Returns its entry (``applied`` false until its tick).

        Raises:
            BadParameterError: a malformed intervention or one this world cannot carry out.
        """
        return await self._host.interventions.schedule(action, actor="python")

    intervene = _blocking(_intervene)

    def interventions(self) -> list[dict[str, object]]:
        """The world's interventions, pending and applied."""
        return self._call(self._read(self._host.interventions.listed))

    async def _analyse(self) -> Analysed:
        """Detect communities (Leiden) and rank influence (PageRank), kept in the world and its file, as the
        terminal UI's ``c`` does; returns ``line`` (the communities in one line), ``ids`` and ``record``."""
        return await self._host.tools.analyse(actor="python")

    analyse = _blocking(_analyse)
    aanalyse = _awaitable(_analyse)

    async def _step(self, ticks: int = 1) -> RunState:
        """Advance ``ticks`` ticks (paused worlds only); the file is checkpointed after. Returns the tick."""
        return await self._host.step(ticks, actor="python")

    step = _blocking(_step)
    astep = _awaitable(_step)

    async def _run(self, pace: float | None = None) -> RunState:
        """Start ticking in the background until :meth:`pause` (or :meth:`close`).

        Args:
            pace: ticks per second (``pace=10``: one tick every 0.1 s, as the terminal UI starts). None, the
                default, ticks as fast as the machine allows, also once every session has ended: empty ticks
                of simulated time go on (hundreds a second on a small world), with a checkpoint every
                ``checkpoint_every`` ticks. Running again while running changes the pace.

        Returns:
            ``{"state": "running", "tick": ..., "ticks_per_second": pace}``.

        Raises:
            BadParameterError: a pace that is not a number above 0 (at most 1,000,000).
        """
        return await self._host.run(_pace(pace), actor="python")

    run = _blocking(_run)
    arun = _awaitable(_run)

    async def _pause(self) -> RunState:
        """Pause after the tick under way; the file is checkpointed."""
        return await self._host.pause(actor="python")

    pause = _blocking(_pause)
    apause = _awaitable(_pause)

    # -- forecasts -------------------------------------------------------------------------------------------
    async def _forecast(self, request: Forecast | None = None, /, **fields: object) -> ForecastResult:
        """Branch the world's present and continue it R times under arms, as ``POST /api/v1/forecasts`` and the
        terminal UI's forecasts do (``host.forecasts``), until done; the world is not changed and may run on.

        Args:
            request: a :class:`~sim.Forecast` (which may not name a ``posterior``, a file: forecast the saved
                world for that), or none and its fields as keywords, parsed as the API's are (no file named):
                ``runs``, ``ticks`` (the horizon) or ``until_done=True``, ``arms`` (``{"none": [], "block":
                ["block:degree:100"]}``), ``seed`` (run r continues with ``seed + r``), ``session`` (None: the
                latest running one), ``kernel``, ``workers``. Either is checked once, within the live bounds.

        Returns:
            The :class:`~sim.runs.forecast.ForecastResult` (``branched_at``: the tick it branched from).

        Raises:
            BadParameterError: a bad request, no running session, a bad arm, more runs or work than the live
                bounds (``Forecasts.MAX_RUNS``, ``Forecasts.MAX_WORK``), too many forecasts at once. AgoraError:
                the forecast failed or was cancelled.
        """
        if request is not None and fields:
            raise TypeError(f"forecast() takes a Forecast request or keywords, not both ({', '.join(fields)})")
        forecasts = self._host.forecasts
        job = await forecasts.wait((await forecasts.start(fields if request is None else request, actor="python")).id)
        if job.state != "done" or job.result is None:
            raise AgoraError(job.error or f"the forecast {job.id} {job.state}")
        return job.result

    forecast = _blocking(_forecast)
    aforecast = _awaitable(_forecast)

    # -- snapshots -------------------------------------------------------------------------------------------
    async def _save_snapshot(self, name: str) -> dict[str, object]:
        """Save the world as snapshot ``name`` in the snapshots folder."""
        return await self._host.shelf.save(name, actor="python")

    save_snapshot = _blocking(_save_snapshot)
    asave_snapshot = _awaitable(_save_snapshot)

    async def _load_snapshot(self, name: str) -> dict[str, object]:
        """Replace the world by snapshot ``name`` (its file is rewritten)."""
        return await self._host.shelf.load(name, actor="python")

    load_snapshot = _blocking(_load_snapshot)
    aload_snapshot = _awaitable(_load_snapshot)

    # -- closing: the handle's own (its thread is ended, from outside its loop) --------------------------------
    def close(self) -> bool:
        """Stop ticking, checkpoint the world into its file and end the background thread (again: nothing).

        Returns:
            Whether the final checkpoint succeeded.
        """
        if self._finalizer.alive:
            self._finalizer()
        return bool(self._saved and self._saved[-1])

    async def aclose(self) -> bool:
        """:meth:`close` as a coroutine (the loop's thread is joined off this loop)."""
        if not self._finalizer.alive:
            return bool(self._saved and self._saved[-1])
        self._saved.append(await self._thread.acall(self._host.close()))
        self._finalizer.detach()
        await asyncio.to_thread(self._thread.stop)
        return self._saved[-1]
