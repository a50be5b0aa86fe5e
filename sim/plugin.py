"""The plugin contract: what a propagation model or a recommender declares and how it steps.

A plugin is a class. It declares ``name``, ``version``, ``description`` and a typed parameter schema
(``params``: name -> :class:`Param`), and the registry finds it in the built-in ``plugins`` package, in
user folders, or through the ``agora.plugins`` entry-point group. One instance is made per propagation
session, so anything a model keeps on ``self`` belongs to that session alone.

A propagation model works on arrays only. Each round the simulation hands it a :class:`StepContext`
(see ``sim.model.session``) with the frontier, a gather of the frontier's out-edges, the session's state and
generator and read-only agent columns; the model answers with a :class:`StepResult` — which agents
change to which state, and from whom they adopted. The core validates the answer (shapes, dtypes,
ranges) and applies it; a model never writes the state array itself.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from sim.errors import BadParameterError

#: What ``start``, ``step`` and ``is_done`` receive: a ``sim.model.session.StepContext`` (named here, not
#: imported: the contract sits below the sessions that implement it; see docs/architecture.md).
StepContext = Any


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter of a plugin: its type, default, bounds and help text.

    ``type`` is ``float``, ``int``, ``bool`` or ``str``; ``choices`` restricts a ``str``.
    """

    type: type
    default: Any
    min: float | None = None
    max: float | None = None
    help: str = ""
    choices: tuple[str, ...] | None = None

    def describe_range(self) -> str:
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.type is bool:
            return "true or false"
        lo = "-inf" if self.min is None else f"{self.min:g}"
        hi = "inf" if self.max is None else f"{self.max:g}"
        kind = "a whole number" if self.type is int else "a number"
        return f"{kind} in [{lo}, {hi}]"

    def coerce(self, name: str, value: Any) -> Any:
        """Convert ``value`` (possibly text from a command line or a form) and check its range.

        Raises:
            BadParameterError: naming the parameter and its allowed range.
        """

        def bad() -> BadParameterError:
            shown = value if isinstance(value, str) else repr(value)
            return BadParameterError(f"parameter {name}={shown} is invalid: expected {self.describe_range()}")

        if self.type is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                return value.strip().lower() in ("1", "true", "yes", "on")
            if isinstance(value, (int, np.integer)) and value in (0, 1):
                return bool(value)
            raise bad()
        if self.type is str:
            if not isinstance(value, str):
                raise bad()
            if self.choices and value not in self.choices:
                raise bad()
            return value
        try:
            if isinstance(value, bool):
                raise ValueError
            if self.type is int:
                if isinstance(value, str):
                    value_n = int(value.strip().replace("_", ""))
                elif isinstance(value, (float, np.floating)):
                    if not float(value).is_integer():
                        raise ValueError
                    value_n = int(value)
                else:
                    value_n = int(value)
            else:
                value_n = float(value.strip()) if isinstance(value, str) else float(value)
                if not math.isfinite(value_n):
                    raise ValueError
        except (TypeError, ValueError):
            raise bad() from None
        if (self.min is not None and value_n < self.min) or (self.max is not None and value_n > self.max):
            raise bad()
        return value_n


class Plugin:
    """Base of every plugin. Subclasses set the class attributes below."""

    kind: ClassVar[str] = "plugin"
    name: ClassVar[str] = ""
    version: ClassVar[str] = "0.1"
    description: ClassVar[str] = ""
    params: ClassVar[dict[str, Param]] = {}

    def __init__(self, **params: Any) -> None:
        self.p: dict[str, Any] = self.validate(params)

    @classmethod
    def validate(cls, params: dict[str, Any]) -> dict[str, Any]:
        """Defaults filled in, every value converted and range-checked.

        Raises:
            BadParameterError: an unknown parameter, or a value outside its range (named).
        """
        unknown = sorted(set(params) - set(cls.params))
        if unknown:
            known = ", ".join(sorted(cls.params)) or "none"
            raise BadParameterError(f"{cls.name} has no parameter {unknown[0]!r}: its parameters are {known}")
        out = {}
        for key, spec in cls.params.items():
            out[key] = spec.coerce(key, params[key]) if key in params else spec.default
        return out

    @classmethod
    def schema(cls) -> dict[str, dict[str, Any]]:
        """The parameter schema as plain data (for forms, ``--json`` and docs)."""
        return {
            k: {
                "type": p.type.__name__, "default": p.default, "min": p.min, "max": p.max,
                "help": p.help, "choices": list(p.choices) if p.choices else None,
            }
            for k, p in cls.params.items()
        }


def union_agents(*lists: np.ndarray) -> np.ndarray:
    """The agents of all ``lists``, ascending and once each, as int32: what ``np.union1d`` gives, by a
    sort and a neighbour compare. Use it in models instead of ``np.union1d``/``np.unique(x)``: numpy's
    hash-based unique (numpy 2.3+) is many times slower on large arrays — half a second for 900,000
    agents, where this takes a few milliseconds."""
    from sim.core.arrays import unique_sorted

    if not lists:
        return np.empty(0, dtype=np.int32)
    return unique_sorted(np.concatenate([np.asarray(a, dtype=np.int32) for a in lists]))


@dataclass(frozen=True, slots=True)
class Variable:
    """A continuous per-agent variable of a model (an opinion, a trait): a float column of length N that
    the engine keeps for each session, saves with it, shows, and records in the series as
    ``NAME.mean``, ``NAME.std``, ``NAME.min`` and ``NAME.max`` at every tick.

    Attributes:
        min, max: the declared range; every value the model sets must lie in it (checked).
        init: how the column starts: ``"uniform"`` (uniform in [min, max] from the session's generator)
            or ``"constant"`` (``value`` everywhere).
        value: the starting value of ``"constant"``.
        seed_value: the value the message's seed agents start with (None: as everybody else).
        world_column: a world column to start from when the world has one (e.g. ``"opinion"``), clipped
            to the range; ``init`` is used otherwise.
        dtype: ``"float64"`` or ``"float32"``.
        help: one line for users.
    """

    min: float = 0.0
    max: float = 1.0
    init: str = "uniform"
    value: float = 0.0
    seed_value: float | None = None
    world_column: str | None = None
    dtype: str = "float64"
    help: str = ""

    def problems(self, name: str) -> list[str]:
        """What is wrong with the declaration (empty when it is sound)."""
        out = []
        if not (isinstance(name, str) and name and name.replace("_", "a").isalnum() and name.isascii()):
            out.append(f"variable name {name!r} is not a plain name (letters, digits, underscores)")
        lo, hi = self.min, self.max
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in (lo, hi)) or lo > hi:
            out.append(f"variable {name}: min {lo!r} and max {hi!r} must be finite numbers with min <= max")
            return out
        if self.init not in ("uniform", "constant"):
            out.append(f"variable {name}: init {self.init!r} is not 'uniform' or 'constant'")
        for what, v in (("value", self.value), ("seed_value", self.seed_value)):
            if v is not None and not (isinstance(v, (int, float)) and not isinstance(v, bool) and lo <= v <= hi):
                out.append(f"variable {name}: {what} {v!r} is outside its range [{lo:g}, {hi:g}]")
        if self.dtype not in ("float64", "float32"):
            out.append(f"variable {name}: dtype {self.dtype!r} is not 'float64' or 'float32'")
        return out


@dataclass(slots=True)
class StepResult:
    """A model's answer for one round.

    Attributes:
        agents: indices of the agents whose state changes (int, 1-D, no repeats).
        new_state: the state each of them enters: one int for all, or an int array aligned with ``agents``.
        sources: who each adopting agent adopted from (int32, aligned with ``agents``; -1 unknown or none).
        attempts: edge attempts made this round (for throughput metrics).
        exposed: agents that received an attempt this round (counts ``exposed``); optional.
        via_feed: see below; optional.
    """

    agents: np.ndarray
    new_state: np.ndarray | int
    sources: np.ndarray | None = None
    attempts: int = 0
    exposed: np.ndarray | None = None
    #: Whether each adopting agent adopted through a feed exposure (bool, aligned with ``agents``).
    #: When None the core decides: an agent shown the message in a feed this round that received no
    #: graph attempt counts as a feed adoption.
    via_feed: np.ndarray | None = None
    #: New values of the model's continuous variables, by name: a whole column (length N) or a pair
    #: ``(agents, values)`` for some agents. Values must lie in the variable's declared range.
    variables: dict[str, Any] | None = None
    #: Edges to remove and to add, each a pair ``(sources, targets)`` of aligned agent arrays, in the
    #: graph's direction (``u -> v``: v follows u). The engine applies them between ticks, to the CSR
    #: graph, the world file and snapshots alike: removals first, then additions; removing a missing
    #: edge or adding an existing one changes nothing. New edges get trust ``new_trust``.
    remove_edges: tuple[np.ndarray, np.ndarray] | None = None
    add_edges: tuple[np.ndarray, np.ndarray] | None = None
    new_trust: float = 0.5

    @classmethod
    def nothing(cls, attempts: int = 0, exposed: np.ndarray | None = None, *,
                variables: dict[str, Any] | None = None) -> "StepResult":
        """No agent changes state this round (the model's variables may change: ``variables``)."""
        return cls(np.empty(0, dtype=np.int32), 0, None, attempts, exposed, variables=variables)


class PropagationModel(Plugin):
    """A propagation model. Override :meth:`step`; optionally :meth:`start` and :meth:`is_done`.

    Class attributes describe the compartments:

    - ``states``: names of the states; state 0 is the untouched/susceptible one.
    - ``adopted_states``: states that count as having adopted (``reached`` counts agents that ever
      entered one of them; for SIR-like models, ever infected).
    - ``transmitting_states``: states whose agents spread the message.
    - ``transmit``: ``"once"`` — an agent transmits only in the round after it entered a transmitting
      state (independent cascade); ``"while"`` — in every round while it is in one (SIR).
    - ``seed_state``: the state seeds are put in.
    - ``progressive``: adoption never decreases (no agent leaves ``adopted_states``); checked.

    And what else the model uses:

    - ``variables``: its continuous per-agent variables (name -> :class:`Variable`), kept by the engine
      as columns (``ctx.variables``) and changed through ``StepResult.variables``.
    - ``uses_feed``: whether it reads feed exposures (``ctx.feed_open``, ``ctx.with_feed``,
      ``ctx.feed_agents``); ``agora plugins check`` flags a model that does without saying so.
    - ``changes_edges``: whether it answers with ``remove_edges``/``add_edges`` (checked likewise).
    - ``endless``: the model may run for ever by design (SIS near its endemic level); without it a model
      that never ends in ``agora plugins check`` and keeps the default :meth:`is_done` is flagged.
    """

    kind: ClassVar[str] = "model"
    states: ClassVar[tuple[str, ...]] = ("susceptible", "adopted")
    adopted_states: ClassVar[tuple[int, ...]] = (1,)
    transmitting_states: ClassVar[tuple[int, ...]] = (1,)
    transmit: ClassVar[str] = "once"
    seed_state: ClassVar[int] = 1
    progressive: ClassVar[bool] = True
    variables: ClassVar[dict[str, Variable]] = {}
    uses_feed: ClassVar[bool] = False
    changes_edges: ClassVar[bool] = False
    endless: ClassVar[bool] = False

    def start(self, ctx: StepContext) -> "StepResult | None":
        """Called once when the session starts, after seeding (draw per-session thresholds here).

        May answer a :class:`StepResult` applied with the seeding, at tick 0: agents still untouched
        moved to other states (blocked, immune; or adopted ones, which count as reached at tick 0 with no
        source, like the seeds), and starting values of the variables. The seeds themselves are the
        engine's."""

    def step(self, ctx: StepContext) -> StepResult:  # pragma: no cover - abstract
        """One synchronous round. Must not loop over agents or edges in Python."""
        raise NotImplementedError

    def is_done(self, ctx: StepContext) -> bool:
        """Whether the session has ended (an absorbing state, consensus, no change); ``--until-done``
        stops there. Default: nobody transmits (answered by the core without calling the model).

        Asked once right after :meth:`start` (in the tick the session starts, before any round:
        ``ctx.round`` is 0 and nothing ``step`` stores exists yet) and then after every round. True right
        after start ends the session at tick 0 with only its seeds: right when nothing can ever change
        (a rate of 0), wrong when rounds would still change something, which ``agora plugins check``
        fails (it runs such a session again with ``is_done`` held false for a few rounds)."""
        return ctx.frontier.size == 0


class Recommender(Plugin):
    """A recommender: :class:`ContentRecommender` (feeds) or :class:`FriendRecommender` (whom to follow)."""

    kind: ClassVar[str] = "recommender"
    #: ``"content"`` or ``"friend"``.
    role: ClassVar[str] = ""


class ContentRecommender(Recommender):
    """Builds feeds: every tick, for the agents online, which live messages to show.

    Override :meth:`score`. The core calls it with a :class:`~sim.social.dynamics.FeedContext` holding a block
    of online readers (``ctx.readers``, R of them) and the live messages (M: the messages whose
    propagation sessions are running). It answers with an (R, M) array of scores — higher is shown
    first; ``-inf`` or ``nan`` means never show that message to that reader — or a pair ``(scores,
    sharers)`` where ``sharers`` (R, M) int32 names the agent credited for each item (a followee who
    shared it; ``-1`` for none, in which case the message's author is credited when it has one).

    The core then drops messages the reader already adopted or wrote, keeps each reader's ``K`` best
    (``feed_size``; ties go to the older message) and hands each item to its session's model as a
    feed exposure. One instance is made per simulation; per-tick randomness comes from ``ctx.rng``.

    The arrays of the context are the world's own, read-only: compute new arrays, never write to them.
    The answer must depend only on the context and ``ctx.rng``: the same tick with the same generator
    gives the same scores (keep nothing on ``self`` that changes from call to call). ``agora plugins
    check`` checks all of this through the engine, across the parameter space.
    """

    role: ClassVar[str] = "content"

    def score(self, ctx: Any) -> np.ndarray | tuple[np.ndarray, np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError


class FriendRecommender(Recommender):
    """Suggests whom to follow.

    Override :meth:`suggest`. The core calls it with a :class:`~sim.social.dynamics.FriendContext` holding the
    agents looking for suggestions this tick (``ctx.agents``, online ones) and answers with three aligned
    arrays ``(agents, candidates, scores)``: a suggestion that ``agents[i]`` follow ``candidates[i]``,
    higher scores first. The core drops self-suggestions, agents already followed and candidates that are
    not active, keeps each agent's ``k`` best (``suggestions``; ties go to the lower index) and lets the
    agent accept with a probability from compatibility. No Python loop over agents. Scores must be
    finite (drop a pair rather than scoring it ``-inf``); the context's arrays are read-only and
    randomness comes from ``ctx.rng``, as for a :class:`ContentRecommender`.
    """

    role: ClassVar[str] = "friend"

    def suggest(self, ctx: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError


# -- running plugin code under a time budget -------------------------------------------------------

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
    import os

    source = "the plugin budget"
    if value is None:
        value = os.environ.get(BUDGET_ENV)
        source = f"${BUDGET_ENV}"
        if value is None or not str(value).strip():
            return DEFAULT_PLUGIN_BUDGET
    try:
        if isinstance(value, bool):
            raise ValueError  # noqa: TRY004 - reported below as a bad value, with the others
        budget = float(value)
        if not math.isfinite(budget) or budget < 0:
            raise ValueError
    except (TypeError, ValueError):
        raise BadParameterError(f"{source} = {value!r} is invalid: expected seconds, a number >= 0 (0 turns it off)") from None
    return budget


def is_plugin_fault(exc: BaseException) -> bool:
    """Whether an exception raised by plugin code fails only that plugin (its session, or the recommender).

    Everything does — ``SystemExit``, ``KeyboardInterrupt`` and other ``BaseException`` subclasses
    included, since plugin code runs off the main thread where a real Ctrl-C never lands — except a
    ``KeyboardInterrupt`` in the main thread, which is the user's."""
    import threading

    if getattr(exc, "_agora_plugin", False):  # raised in a plugin worker thread: never the user's Ctrl-C
        return True
    return not (isinstance(exc, KeyboardInterrupt) and threading.current_thread() is threading.main_thread())


def _raise_in_thread(ident: int | None, exc_type: type[BaseException]) -> bool:
    """Ask the interpreter to raise ``exc_type`` in another thread at its next bytecode (a thread blocked
    in native code, such as ``time.sleep``, gets it when it comes back)."""
    if ident is None:
        return False
    import ctypes

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
        import queue
        import threading

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
        import weakref

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
        import threading

        if self.in_thread and _alarm_usable():
            tail = f": {then}" if then else ""
            return self._call_under_alarm(fn, args, f"{what} took longer than {self.budget:g} s {where} (the plugin budget){tail}")
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
        import signal

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
            import signal

            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._alarm_previous[0])
            self._alarm_previous = None

    @staticmethod
    def _stack(w: _Worker) -> str:
        import sys
        import traceback

        frame = sys._current_frames().get(w.thread.ident or -1)
        if frame is None:
            return ""
        # The worker's own frames (threading, this module) say nothing about the plugin.
        frames = [f for f in traceback.extract_stack(frame)
                  if not (f.filename == __file__ or f.filename.endswith(("threading.py", "queue.py")))]
        return "Where the plugin was when it was abandoned (most recent call last):\n" + "".join(traceback.format_list(frames))

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
    import signal
    import threading

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
            import traceback

            stack = traceback.extract_stack(frame)
            # The plugin's frames: those after the runner's own (the engine's frames below it say nothing).
            ours = [i for i, f in enumerate(stack) if f.filename == __file__]
            frames = stack[ours[-1] + 1:] if ours else stack
            self.where = ("Where the plugin was when it was abandoned (most recent call last):\n"
                          + "".join(traceback.format_list(frames)))
        raise PluginAbandoned()


def _end_worker(cell: list[_Worker | None]) -> None:
    w, cell[0] = cell[0], None
    if w is not None:
        w.abandoned = True
        w.jobs.put(None)


def call_directly(fn: Any, *args: Any, **_wording: Any) -> Any:
    """:meth:`PluginRunner.call` without a budget: ``fn(*args)`` in the caller's thread."""
    return fn(*args)
