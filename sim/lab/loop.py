"""Coroutines run to completion from plain code: in a script, and inside a running loop (Jupyter).

:func:`run_sync` runs a coroutine and returns its result. Without a running event loop in the calling thread
it runs it there (``asyncio.run``: plugin timeouts use the main thread's timer). Inside a running loop (a
Jupyter cell, or any ``async`` code calling the synchronous API) a coroutine cannot be awaited
synchronously, so it runs on :class:`LoopThread`, a private event loop in a background thread, and the
caller waits for its result.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import TypeVar

T = TypeVar("T")


class LoopThread:
    """A private event loop running in a daemon thread, for coroutines submitted from other threads.

    :meth:`call` waits for a coroutine's result (from any thread but this loop's own);
    :meth:`acall` awaits it from another event loop; :meth:`stop` ends the loop and joins the thread.
    """

    def __init__(self, name: str = "agora-lab-loop") -> None:
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._main, name=name, daemon=True)
        self.thread.start()
        self._ready.wait()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._ready.set)
        try:
            self.loop.run_forever()
        finally:
            pending = asyncio.all_tasks(self.loop)
            for task in pending:
                task.cancel()
            if pending:
                self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    @property
    def alive(self) -> bool:
        return self.thread.is_alive() and not self.loop.is_closed()

    def call(self, coro: Coroutine[object, None, T]) -> T:
        """Run ``coro`` on this loop and return its result (its exception is raised here)."""
        if threading.current_thread() is self.thread:
            coro.close()
            raise RuntimeError("LoopThread.call from its own loop would wait forever: await the coroutine instead")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    async def acall(self, coro: Coroutine[object, None, T]) -> T:
        """Await ``coro``, run on this loop, from another event loop."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def stop(self) -> None:
        """End the loop (tasks still pending are cancelled) and join its thread."""
        if self.thread.is_alive() and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.loop.stop)
        if threading.current_thread() is not self.thread:
            self.thread.join()


def in_running_loop() -> bool:
    """Whether the calling thread is inside a running event loop (a Jupyter cell, ``async`` code)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def run_sync(coro: Coroutine[object, None, T]) -> T:
    """Run ``coro`` to completion and return its result, from a script or from inside a running loop."""
    if not in_running_loop():
        return asyncio.run(coro)
    runner = LoopThread(name="agora-lab-call")
    try:
        return runner.call(coro)
    finally:
        runner.stop()
