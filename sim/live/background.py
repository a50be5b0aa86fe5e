"""Long work beside a live world (a forecast, a fit, a backtest, Rt): a coroutine run on an event loop of its own in a
daemon thread, so the world's loop goes on answering while it runs, and cancellable from that loop.

:class:`BackgroundRun` is what :class:`sim.live.forecasts.Forecasts` and :class:`sim.live.studies.Studies` each run
their jobs in: :meth:`BackgroundRun.run` waits for the coroutine without blocking the caller's loop, and
:meth:`BackgroundRun.cancel` (from that loop) sets :attr:`BackgroundRun.stop` (work that polls it stops between two
steps) and cancels the coroutine on its own loop (a map of worker processes ends them). Every thread it starts is a
daemon: work under way never holds the process's exit up.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from sim.errors import AgoraError

T = TypeVar("T")


class DaemonExecutor(concurrent.futures.ThreadPoolExecutor):
    """Each call in a daemon thread of its own: work under way never holds the process's exit up."""

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        future: concurrent.futures.Future = concurrent.futures.Future()

        def work() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                future.set_exception(exc)

        threading.Thread(target=work, name="agora-background", daemon=True).start()
        return future


class BackgroundRun:
    """One coroutine run in the background (see the module docstring); ``what`` names it in the error a cancelled
    run raises (``the forecast was cancelled``)."""

    def __init__(self, what: str) -> None:
        self.what = what
        #: Set when the run is cancelled: work that polls it stops between two steps.
        self.stop = threading.Event()
        self._inner: list[tuple[asyncio.AbstractEventLoop, asyncio.Task[Any]]] = []

    def cancel(self) -> None:
        """Stop the run: :attr:`stop` set, and its coroutine cancelled on its own loop (from any thread)."""
        self.stop.set()
        for loop, task in self._inner:
            with contextlib.suppress(RuntimeError):  # its loop has closed: nothing runs any more
                loop.call_soon_threadsafe(task.cancel)

    async def run(self, make: Callable[[], Coroutine[object, None, T]]) -> T:
        """The result of the coroutine ``make()`` run on a new event loop in a daemon thread (its default executor's
        threads daemons too), waited for without blocking the caller's loop.

        Raises:
            AgoraError: the run was cancelled (``the WHAT was cancelled``); whatever the coroutine raises.
            asyncio.CancelledError: the caller was cancelled (the run is cancelled too).
        """

        def work() -> T:
            loop = asyncio.new_event_loop()
            loop.set_default_executor(DaemonExecutor())
            try:
                task = loop.create_task(make())
                self._inner.append((loop, task))
                if self.stop.is_set():  # cancelled before its coroutine existed
                    task.cancel()
                try:
                    return loop.run_until_complete(task)
                except asyncio.CancelledError:
                    raise AgoraError(f"the {self.what} was cancelled") from None
            finally:
                loop.close()

        try:
            return await asyncio.wrap_future(DaemonExecutor().submit(work))
        except asyncio.CancelledError:  # the caller's loop ends (the world closes): the run ends too
            self.cancel()
            raise


__all__ = ["BackgroundRun", "DaemonExecutor"]
