"""Running plugin code under a time budget: the engine's guard around every call into a plugin.

A model's ``start``, ``step`` and ``is_done``, its making, a recommender's ``score`` or ``suggest``: each
runs through a :class:`PluginRunner`, in a worker thread (or under ``SIGALRM`` in a headless tight loop)
with a per-call budget, so that a plugin that hangs fails its own session instead of the simulation.
This is engine machinery, not part of the plugin contract (``sim.plugin``): plugins never import it.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import queue
import signal
import sys
import threading
import traceback
import weakref
from typing import Any

from sim.core.numbers import float_of
from sim.errors import BadParameterError

#: Seconds one plugin call (a model's ``step``, ``start`` or ``is_done``, its making, a recommender's
#: ``score`` or ``suggest``) may take before its session is failed (a recommender: switched off).
DEFAULT_PLUGIN_BUDGET = 10.0
#: Environment variable that sets the budget of every simulation that is not given one.
BUDGET_ENV = "AGORA_PLUGIN_BUDGET"


class PluginTimeout(Exception):
    """A plugin call ran past the plugin budget and was abandoned. ``traceback`` holds where the plugin
    was when it was abandoned."""

    def __init__(self, message: str, tb: str = "") -> None:
        super().__init__(message)
        self.traceback = tb


class PluginAbandoned(BaseException):
    """Raised asynchronously inside a plugin call that ran past its budget, so that a Python-level loop
    stops. A ``BaseException`` so that a plugin's ``except Exception`` does not swallow it."""


def plugin_budget(value: Any = None) -> float:
    """The plugin budget in seconds: ``value``, else ``$AGORA_PLUGIN_BUDGET``, else 10. ``0`` turns the
    budget off (plugin code then runs in the tick's own thread: no overhead and no protection).

    Raises:
        BadParameterError: not a number, negative, or not finite.
    """

    source = "the plugin budget"
    if value is None:
        value = os.environ.get(BUDGET_ENV)
        source = f"${BUDGET_ENV}"
        if value is None or not str(value).strip():
            return DEFAULT_PLUGIN_BUDGET
    try:
        if isinstance(value, bool):
            raise ValueError  # noqa: TRY004 - reported below as a bad value, with the others
        budget = float_of(value) if isinstance(value, str) else float(value)
        if not math.isfinite(budget) or budget < 0:
            raise ValueError
    except (TypeError, ValueError):
        raise BadParameterError(
            f"{source} = {value!r} is invalid: expected seconds, a number >= 0 (0 turns it off)"
        ) from None
    return budget


def is_plugin_fault(exc: BaseException) -> bool:
    """Whether an exception raised by plugin code fails only that plugin (its session, or the recommender).

    Everything does — ``SystemExit``, ``KeyboardInterrupt`` and other ``BaseException`` subclasses
    included, since plugin code runs off the main thread where a real Ctrl-C never lands — except a
    ``KeyboardInterrupt`` in the main thread, which is the user's."""

    if getattr(exc, "_agora_plugin", False):  # raised in a plugin worker thread: never the user's Ctrl-C
        return True
    return not (isinstance(exc, KeyboardInterrupt) and threading.current_thread() is threading.main_thread())


def _raise_in_thread(ident: int | None, exc_type: type[BaseException]) -> bool:
    """Ask the interpreter to raise ``exc_type`` in another thread at its next bytecode (a thread blocked
    in native code, such as ``time.sleep``, gets it when it comes back)."""
    if ident is None:
        return False

    try:
        set_async = ctypes.pythonapi.PyThreadState_SetAsyncExc
        set_async.argtypes = (ctypes.c_ulong, ctypes.py_object)
        set_async.restype = ctypes.c_int
        return set_async(ctypes.c_ulong(ident), ctypes.py_object(exc_type)) == 1
    except Exception:  # noqa: BLE001 # pragma: no cover - another interpreter without the C API
        return False


class _Worker:
    """One daemon thread that runs plugin calls handed to it, one at a time."""

    __slots__ = ("abandoned", "in_call", "jobs", "thread")

    def __init__(self, name: str) -> None:

        self.jobs: Any = queue.SimpleQueue()
        self.abandoned = False
        #: True only while plugin code runs: the only time an asynchronous exception is sent to this thread
        #: (never to a thread that left the call, or ended and whose id another thread now has).
        self.in_call = False
        self.thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        try:
            while not self.abandoned:
                job = self.jobs.get()
                if job is None:
                    return
                fn, args, done, box = job
                try:
                    self.in_call = True
                    value = fn(*args)
                    self.in_call = False
                    box[:] = [True, value]
                except BaseException as exc:  # noqa: BLE001 - everything a plugin raises goes to the caller
                    self.in_call = False
                    box[:] = [False, exc]
                finally:
                    self.in_call = False
                    done.set()
                    # Hold nothing of the call while idle (its context holds views of the world's arrays).
                    fn = args = box = job = value = None
        except BaseException:  # noqa: BLE001 - an abandoned worker may be hit by PluginAbandoned anywhere
            return


class PluginRunner:
    """Runs plugin code under a per-call time budget.

    With a budget (seconds > 0) each call runs in a worker thread while the caller waits for it at most
    ``budget`` seconds. A call that answers in time gives its value, or raises what the plugin raised
    (with the plugin's traceback). A call that does not is *abandoned*: the caller gets
    :class:`PluginTimeout` (with the stack where the plugin was), the worker is never used again (a fresh
    one takes the next call), its eventual answer is dropped, and :class:`PluginAbandoned` is raised
    inside it — again at every :meth:`sweep` while it lives — so a Python loop stops. A thread blocked in
    native code stops when that code returns (``time.sleep(1e9)`` never does: it stays, idle, a daemon
    thread that does not keep the process alive).

    Without a budget (0 or None) calls run in the caller's thread.

    ``in_thread``: with a budget, run each call in the caller's own thread under a timer (``SIGALRM``)
    instead of handing it to a worker thread — for a headless tight loop (an ensemble run), where a thread
    hop per call costs more than the work and moves the arrays between cores. When the budget runs out,
    :class:`PluginAbandoned` is raised inside the plugin code (again every second while the call goes
    on), and the caller gets :class:`PluginTimeout` as with a worker. Only a plugin blocked in native code
    that never returns, or one that catches ``BaseException`` and goes on, cannot be stopped this way.
    Used only where it can work (the main thread, a platform with ``setitimer``); elsewhere calls go to a
    worker thread as usual.
    """

    def __init__(self, budget: float | None = DEFAULT_PLUGIN_BUDGET, *, in_thread: bool = False) -> None:

        self.budget = float(budget or 0.0)
        self.in_thread = in_thread
        self._alarm_previous: list[Any] | None = None  # the SIGALRM handler an in_thread runner replaced
        self._alarm_call: _AlarmedCall | None = None
        # The live worker sits in a cell the finaliser shares: a runner that is dropped ends its thread.
        self._cell: list[_Worker | None] = [None]
        weakref.finalize(self, _end_worker, self._cell)
        self._count = 0
        #: Workers abandoned in a call that ran past the budget and still alive (their threads).
        self.abandoned: list[_Worker] = []
        #: Calls abandoned so far.
        self.timeouts = 0

    @property
    def stuck(self) -> int:
        """Abandoned plugin threads still running (a hung plugin that has not stopped yet)."""
        self.abandoned = [w for w in self.abandoned if w.thread.is_alive()]
        return len(self.abandoned)

    def call(self, fn: Any, *args: Any, what: str = "a plugin", where: str = "in one call", then: str = "") -> Any:
        """``fn(*args)`` under the budget. ``what``/``where``/``then`` word the timeout:
        "{what} took longer than {budget} s {where} (the plugin budget){: then}".

        Raises:
            whatever ``fn`` raised; PluginTimeout: it ran past the budget (abandoned).
        """
        if self.budget <= 0:
            return fn(*args)

        if self.in_thread and _alarm_usable():
            tail = f": {then}" if then else ""
            return self._call_under_alarm(
                fn, args, f"{what} took longer than {self.budget:g} s {where} (the plugin budget){tail}"
            )
        w = self._cell[0]
        if w is None:
            self._count += 1
            w = self._cell[0] = _Worker(f"agora-plugin-{self._count}")
        done = threading.Event()
        box: list[Any] = []
        w.jobs.put((fn, args, done, box))
        if done.wait(self.budget):
            if box[0]:
                return box[1]
            exc = box[1]
            box.clear()
            with contextlib.suppress(Exception):  # an exception type without a __dict__ stays unmarked
                exc._agora_plugin = True  # see is_plugin_fault
            try:
                raise exc
            finally:
                del exc
        # Over budget: abandon this worker (its answer, if it ever comes, is dropped with ``box``).
        self._cell[0] = None
        w.abandoned = True
        where_now = self._stack(w)
        w.jobs.put(None)
        if w.in_call:
            _raise_in_thread(w.thread.ident, PluginAbandoned)
        self.abandoned.append(w)
        self.timeouts += 1
        tail = f": {then}" if then else ""
        raise PluginTimeout(f"{what} took longer than {self.budget:g} s {where} (the plugin budget){tail}", where_now)

    def _call_under_alarm(self, fn: Any, args: tuple, message: str) -> Any:
        """``fn(*args)`` in this (the main) thread under an interval timer; see ``in_thread``."""

        call = _AlarmedCall()
        if self._alarm_previous is None:  # installed once (until close): each install costs as much as a call
            self._alarm_previous = [signal.signal(signal.SIGALRM, self._on_alarm)]
        self._alarm_call = call
        signal.setitimer(signal.ITIMER_REAL, self.budget, min(self.budget, 1.0))
        try:
            try:
                value = fn(*args)
                # No check for signals runs between the call's return and this store: an alarm that lands
                # after it finds the call over and does nothing.
                call.active[0] = False
            except PluginAbandoned:
                call.active[0] = False
                if call.where is None:  # not this call's alarm
                    raise
                self.timeouts += 1
                raise PluginTimeout(message, call.where) from None
            except BaseException:
                call.active[0] = False
                raise
        finally:
            call.active[0] = False
            signal.setitimer(signal.ITIMER_REAL, 0)
            self._alarm_call = None
        return value

    def _on_alarm(self, signum: int, frame: Any) -> None:
        call = self._alarm_call
        if call is not None:
            call.on_alarm(signum, frame)

    def _restore_alarm(self) -> None:
        if self._alarm_previous is not None and _alarm_usable():
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._alarm_previous[0])
            self._alarm_previous = None

    @staticmethod
    def _stack(w: _Worker) -> str:

        frame = sys._current_frames().get(w.thread.ident or -1)
        if frame is None:
            return ""
        # The worker's own frames (threading, this module) say nothing about the plugin.
        frames = [
            f
            for f in traceback.extract_stack(frame)
            if not (f.filename == __file__ or f.filename.endswith(("threading.py", "queue.py")))
        ]
        return "Where the plugin was when it was abandoned (most recent call last):\n" + "".join(
            traceback.format_list(frames)
        )

    def sweep(self) -> int:
        """Raise :class:`PluginAbandoned` again in abandoned threads still running (a plugin that caught it);
        returns how many there are."""
        alive = []
        for w in self.abandoned:
            if w.thread.is_alive():
                if w.in_call:
                    _raise_in_thread(w.thread.ident, PluginAbandoned)
                alive.append(w)
        self.abandoned = alive
        return len(alive)

    def close(self) -> None:
        """Let the idle worker thread end (a later call starts another); put back the ``SIGALRM``
        handler an ``in_thread`` runner replaced."""
        _end_worker(self._cell)
        self._restore_alarm()


def _alarm_usable() -> bool:
    """Whether a call can run under ``SIGALRM`` here: a platform with ``setitimer``, in the main thread
    (the only thread Python runs signal handlers in)."""

    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


class _AlarmedCall:
    """One plugin call under the interval timer: the alarm raises :class:`PluginAbandoned` in it while it
    is active, keeping where the plugin was for the timeout's traceback."""

    __slots__ = ("active", "where")

    def __init__(self) -> None:
        self.active = [True]  # a list: set without a method call, so no signal check runs between
        self.where: str | None = None

    def on_alarm(self, _signum: int, frame: Any) -> None:
        if not self.active[0]:
            return
        if self.where is None:
            stack = traceback.extract_stack(frame)
            # The plugin's frames: those after the runner's own (the engine's frames below it say nothing).
            ours = [i for i, f in enumerate(stack) if f.filename == __file__]
            frames = stack[ours[-1] + 1 :] if ours else stack
            self.where = "Where the plugin was when it was abandoned (most recent call last):\n" + "".join(
                traceback.format_list(frames)
            )
        raise PluginAbandoned()


def _end_worker(cell: list[_Worker | None]) -> None:
    w, cell[0] = cell[0], None
    if w is not None:
        w.abandoned = True
        w.jobs.put(None)


def call_directly(fn: Any, *args: Any, **_wording: Any) -> Any:
    """:meth:`PluginRunner.call` without a budget: ``fn(*args)`` in the caller's thread."""
    return fn(*args)
