"""Runs of a propagation model for the checker and for a model's own tests: messages run side by side in
one real :class:`~sim.engine.simulation.Simulation` on a fork of a check world, round by round, with what
each round left in the sessions (:func:`trace`), and one session run to its end (:func:`run_model`).

A wrapped ``step`` watches every answer for what the core does not validate (``exposed``; an agent leaving
a progressive model's adopted states), and the world is compared with its base after the run."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.authoring.harness import crash, offline_llm, run_sync, world_writes
from sim.core.events import EventBus
from sim.core.world import World, world_rng
from sim.engine.simulation import Simulation
from sim.llm.service import LLMService
from sim.model.registry import PluginInfo, Registry
from sim.model.session import PropagationSession
from sim.plugin import PropagationModel, StepResult

#: Rounds a contract run may last before it is cut (an SIR-like model may run long).
CONTRACT_ROUNDS = 40
#: Rounds a session that ended right after start is run again with ``is_done`` held false, to tell an
#: end that is right (nothing can change) from one that came too early.
PROBE_ROUNDS = 3


@dataclass(frozen=True)
class Message:
    """One message of a run: a label, its topics, its seed selection and its generator key."""

    label: str
    topics: tuple[str, ...]
    seeds: str
    key: int


@dataclass
class Watch:
    """What the wrapped ``step`` saw: problems the core does not catch, progressive violations, time."""

    problems: dict[str, list[str]] = field(default_factory=dict)
    violations: dict[str, str] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    model_seconds: float = 0.0
    #: Labels whose model read the feed exposures, and whose model answered with edge changes.
    feed_used: set[str] = field(default_factory=set)
    edge_answers: set[str] = field(default_factory=set)

    def install(self, label: str, session: PropagationSession) -> None:
        """Wrap the ``step`` of the session's model (once) so that every answer is timed and inspected."""
        model = session.model
        if model is None or getattr(model, "_agora_watched", False):
            return
        original = model.step

        def step(ctx: Any) -> Any:
            t0 = time.perf_counter()
            result = original(ctx)
            self.model_seconds += time.perf_counter() - t0
            self.calls[label] = self.calls.get(label, 0) + 1  # answers returned
            if getattr(ctx, "feed_used", False):
                self.feed_used.add(label)
            if isinstance(result, StepResult) and (result.remove_edges is not None or result.add_edges is not None):
                self.edge_answers.add(label)
            try:
                self._inspect(label, session, ctx, result)
            except Exception:  # the core's own validation reports what this cannot read
                pass
            return result

        model.step = step  # type: ignore[method-assign]
        model._agora_watched = True  # type: ignore[attr-defined]

    def _inspect(self, label: str, session: PropagationSession, ctx: Any, result: Any) -> None:
        if not isinstance(result, StepResult):
            return
        rnd = session.round + 1
        problem = _exposed_problem(result, ctx.n)
        if problem is not None:
            self.problems.setdefault(label, []).append(f"round {rnd}: {problem}")
        if getattr(type(session.model), "progressive", False) and label not in self.violations:
            violation = _left_adopted(session, ctx, result)
            if violation is not None:
                self.violations[label] = f"round {rnd}: {violation}"


def _exposed_problem(result: StepResult, n: int) -> str | None:
    """What is wrong with an answer's ``exposed``, which the core does not validate (None: nothing)."""
    if result.exposed is None:
        return None
    ex = np.asarray(result.exposed)
    if ex.ndim != 1 or (ex.size and ex.dtype.kind not in "iu"):
        return f"exposed has shape {ex.shape} and dtype {ex.dtype}; expected a 1-D integer array of agent indices"
    if ex.size and (ex.min() < 0 or ex.max() >= n):
        return f"exposed holds agent indices outside 0..{n - 1}"
    return None


def _left_adopted(session: PropagationSession, ctx: Any, result: StepResult) -> str | None:
    """Whether an answer moves an agent out of the adopted states, checked before the core applies it
    (None: it does not, or its agents are malformed, which the core reports)."""
    n = ctx.n
    agents = np.asarray(result.agents)
    if agents.ndim != 1 or not agents.size or agents.dtype.kind not in "iu" or agents.min() < 0 or agents.max() >= n:
        return None
    new_state = np.broadcast_to(np.asarray(result.new_state), agents.shape)
    before = ctx.state[agents]
    adopted = np.asarray(session.adopted_states)
    left = np.isin(before, adopted) & ~np.isin(new_state, adopted)
    if not left.any():
        return None
    i = int(np.flatnonzero(left)[0])
    names = session.state_names

    def state_name(s: int) -> str:
        return f"{names[s]} ({s})" if 0 <= s < len(names) else str(s)

    return (
        f"{int(left.sum())} agents left the adopted states (agent {int(agents[i])}: "
        f"{state_name(int(before[i]))} -> {state_name(int(new_state[i]))}) although the model declares "
        "progressive = True"
    )


@dataclass
class ModelRun:
    """The trace of one simulation run: per message, the state and adopted_from after every round."""

    n: int
    states: dict[str, list[np.ndarray]] = field(default_factory=dict)
    sources: dict[str, list[np.ndarray]] = field(default_factory=dict)
    sessions: dict[str, PropagationSession] = field(default_factory=dict)
    fail_tick: dict[str, int] = field(default_factory=dict)
    watch: Watch = field(default_factory=Watch)
    round_seconds: list[float] = field(default_factory=list)
    world_writes: list[str] = field(default_factory=list)
    #: An exception that escaped the simulation (or the run's setup): (error, traceback), and its type.
    crash: tuple[str, str] | None = None
    crash_type: type | None = None
    #: Per message, the values of the model's variables after seeding and after every round (``record``).
    variables: dict[str, list[dict[str, np.ndarray]]] = field(default_factory=dict)

    @property
    def rounds(self) -> int:
        """The most rounds any of the run's sessions completed."""
        return max((s.round for s in self.sessions.values()), default=0)

    def outcome(self, label: str) -> tuple[str, str, str] | None:
        """None when the message's session did not fail; else (kind, what happened, traceback) with
        kind ``raised``, ``contract`` or ``progressive``."""
        if self.crash is not None:
            return ("raised", self.crash[0], self.crash[1])
        s = self.sessions.get(label)
        if s is None or s.status != "failed":
            return None
        error = s.error or "unknown error"
        where = (
            "while starting (in __init__ or start)" if self.fail_tick.get(label, 0) == 0 else f"in round {s.round + 1}"
        )
        if error.startswith("ModelContractError"):
            detail = error.split(": ", 1)[-1]
            kind = "progressive" if label in self.watch.violations else "contract"
            return (kind, f"{where}: {detail}", s.traceback or "")
        problems = self.watch.problems.get(label)
        if problems and self.fail_tick.get(label, 0) > 0:
            # The answer was malformed in a way the core does not validate, and the core choked on it.
            return ("contract", f"{problems[-1]}; applying it failed with {error}", s.traceback or "")
        return ("raised", f"raised {error} {where}", s.traceback or "")

    def record(self, label: str, session: PropagationSession) -> None:
        """Keep the session's state, sources and variables for every round completed since the last call."""
        while len(self.states[label]) < session.round + 1:
            self.states[label].append(session.state.copy())
            self.sources[label].append(session.adopted_from.copy())
            self.variables.setdefault(label, []).append({k: v.copy() for k, v in session.variables.items()})


@dataclass(frozen=True)
class RunSpec:
    """What :func:`trace` runs: the model (``make_cls`` makes its class, maybe from a fresh import), the
    world forked for the run, the messages run side by side and their parameters, and how.

    ``rounds``: the most rounds; ``seed``: the sessions' seed; ``record``: keep every round's arrays;
    ``budget_s``: stop after this many seconds; ``reraise``: raise what escapes the simulation instead of
    keeping it in ``crash``; ``resume_after=k``: fork the world after tick ``k`` (as saving and loading it
    would: the sessions are copied and their models made again without ``start``) and go on in the copy;
    ``quick``: the ensembles' tight loop (``Simulation.step_now``, no agent texts), for the many short runs
    of the exploring checks."""

    make_cls: Callable[[], type[PropagationModel]]
    base: World
    messages: tuple[Message, ...]
    params: dict[str, Any] | None = None
    rounds: int = CONTRACT_ROUNDS
    seed: int = 0
    record: bool = True
    budget_s: float | None = None
    reraise: bool = False
    resume_after: int | None = None
    quick: bool = False


def _start(spec: RunSpec, run: ModelRun, world: World) -> tuple[Simulation, Registry]:
    """A Simulation on ``world`` whose registry holds the model, with the spec's messages injected."""
    cls = spec.make_cls()
    name = cls.name if isinstance(getattr(cls, "name", None), str) and cls.name else "unnamed"
    registry = Registry((), builtins=True, entry_points=False, env=False)  # built-ins: a model may wrap one
    registry.entries[name] = PluginInfo(name=name, kind="model", source="check", cls=cls)
    sim = Simulation(world, registry=registry, bus=EventBus(), llm=offline_llm(world, spec.quick))
    for m in spec.messages:
        s = sim.inject(
            f"checker message {m.label}",
            topics=list(m.topics),
            seeds=m.seeds,
            model=name,
            params=dict(spec.params or {}),
            seed=spec.seed,
        )
        # Each message's generator depends on its key only, so a message draws the same numbers
        # whether it runs alone or beside another.
        s.rng = world_rng(world.seed, 100, spec.seed, m.key)
        run.sessions[m.label] = s
        run.states[m.label] = []
        run.sources[m.label] = []
    return sim, registry


async def _drive(spec: RunSpec, run: ModelRun, worlds: list[World]) -> None:
    """Run the spec's messages round by round, watching and recording; a resumed run goes on in a fork."""
    world = worlds[0]
    sim, registry = _start(spec, run, world)
    t_start = time.perf_counter()
    for tick in range(spec.rounds + 1):
        t0 = time.perf_counter()
        if spec.quick:
            sim.step_now()
        else:
            await sim.step()
        if tick:
            run.round_seconds.append(time.perf_counter() - t0)
        for label, s in run.sessions.items():
            run.watch.install(label, s)
            if s.status == "failed" and label not in run.fail_tick:
                run.fail_tick[label] = tick
            if spec.record and s.started_tick is not None:
                run.record(label, s)
        if all(s.done for s in run.sessions.values()):
            break
        if spec.budget_s is not None and time.perf_counter() - t_start > spec.budget_s:
            break
        if tick == spec.resume_after:
            world = world.fork()
            worlds.append(world)
            sim = Simulation(world, registry=registry, bus=EventBus(), llm=LLMService.offline(world))
            by_id = {s.id: s for s in world.sessions}
            run.sessions = {label: by_id[s.id] for label, s in run.sessions.items()}


def trace(spec: RunSpec) -> ModelRun:
    """Run ``spec.messages`` side by side in one Simulation on a fork of ``spec.base``, round by round.

    What escapes the simulation (a failed import, SystemExit from a model) is kept in ``crash``, or
    raised with ``spec.reraise``.

    Args:
        spec: the model, world, messages and options of the run (see :class:`RunSpec`).

    Returns:
        The run's trace.
    """
    run = ModelRun(n=spec.base.n)
    worlds = [spec.base.fork()]
    try:
        run_sync(lambda: _drive(spec, run, worlds))
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # a model may raise anything; SystemExit escapes the simulation
        if spec.reraise:
            raise
        run.crash = crash(exc)
        run.crash_type = type(exc)
    for world in worlds:
        for write in world_writes(world, spec.base):
            if write not in run.world_writes:
                run.world_writes.append(write)
    return run


def run_model(
    model: type[PropagationModel],
    world: World,
    *,
    params: dict[str, Any] | None = None,
    seeds: str = "random:10",
    topics: Iterable[str] = (),
    rounds: int = 100,
    seed: int = 0,
) -> PropagationSession:
    """Run one propagation session of ``model`` on a copy of ``world`` until it ends (at most ``rounds``).

    For tests of a model: the session's arrays (``state``, ``adopted_at``, ``adopted_from``,
    ``exposed``) and counters (``reached``, ``attempts``, ``new_per_tick``) tell what happened; a model
    that raised leaves the session ``failed`` with ``error`` and ``traceback``.

    Args:
        model: the model class.
        world: the world to run on (it is not changed: the run uses a copy).
        params: the model's parameters (the rest default).
        seeds: the seed selection, as ``agora run --seeds`` takes it.
        topics: the message's topics.
        rounds: the most rounds.
        seed: the session's seed.

    Returns:
        The session, ended or cut after ``rounds``.

    Raises:
        BadParameterError: bad parameters, seeds or topics.
    """
    message = Message("A", tuple(topics), seeds, 1)
    spec = RunSpec(lambda: model, world, (message,), params, rounds=rounds, seed=seed, record=False, reraise=True)
    return trace(spec).sessions["A"]


def compare_runs(a: ModelRun, la: str, b: ModelRun, lb: str) -> str | None:
    """Where two traces of one message first differ, or None when they agree round by round."""
    oa, ob = a.outcome(la), b.outcome(lb)
    if (oa is None) != (ob is None):
        failed, other = (oa, "the first") if oa is not None else (ob, "the second")
        assert failed is not None
        return f"{other} run failed and the other did not: {failed[1]}"
    sa, sb = a.states[la], b.states[lb]
    fa, fb = a.sources[la], b.sources[lb]
    for r in range(min(len(sa), len(sb))):
        for what, x, y in (("state", sa[r], sb[r]), ("adopted_from", fa[r], fb[r])):
            if not np.array_equal(x, y):
                diff = np.flatnonzero(x != y)
                i = int(diff[0])
                when = "after seeding" if r == 0 else f"in round {r}"
                return (
                    f"{when}: {diff.size} agents have a different {what} (agent {i}: {int(x[i])} vs {int(y[i])}); "
                    f"{int(np.count_nonzero(x))} vs {int(np.count_nonzero(y))} non-zero"
                )
    if len(sa) != len(sb):
        return f"one run lasted {len(sa) - 1} rounds, the other {len(sb) - 1}"
    return None


def forced_rounds(spec: RunSpec) -> tuple[str | None, str | None]:
    """Run the one message of ``spec``, whose session ended right after start, again with ``is_done`` held
    false for its first :data:`PROBE_ROUNDS` rounds.

    Args:
        spec: the run that ended right after start (its model, world, message, parameters and seed).

    Returns:
        ``(change, error)``: what those rounds changed (states, adoptions, variables; None when nothing),
        and what went wrong running them (None when nothing).
    """

    def make() -> type[PropagationModel]:
        cls = spec.make_cls()

        class Forced(cls):  # type: ignore[valid-type, misc]
            def is_done(self, ctx: Any) -> bool:
                return False if ctx.round < PROBE_ROUNDS else super().is_done(ctx)

        Forced.__name__, Forced.__qualname__, Forced.__module__ = cls.__name__, cls.__qualname__, cls.__module__
        return Forced

    label = spec.messages[0].label
    probe = RunSpec(make, spec.base, spec.messages, spec.params, rounds=PROBE_ROUNDS, seed=spec.seed, quick=True)
    try:
        run = trace(probe)
    except Exception as exc:  # noqa: BLE001 - a class that cannot be subclassed: no probe
        return None, f"{type(exc).__name__}: {exc}"
    out = run.outcome(label)
    if out is not None:
        return None, out[1]
    states = run.states.get(label) or []
    if len(states) < 2:
        return None, "the rounds did not run"
    moved = int(np.count_nonzero(states[0] != states[-1]))
    changed_vars = _changed_variables(run.variables.get(label) or [])
    if not moved and not changed_vars:
        return None, None
    parts = ([f"the state of {moved:,} agents"] if moved else []) + changed_vars
    return f"{PROBE_ROUNDS} rounds run anyway changed {' and '.join(parts)}", None


def _changed_variables(variables: list[dict[str, np.ndarray]]) -> list[str]:
    """``NAME of N agents`` for each variable whose values differ between the first and the last record."""
    changed = []
    if len(variables) >= 2:
        for name, col in variables[-1].items():
            before = variables[0].get(name)
            if before is not None and not np.array_equal(before, col):
                changed.append(f"{name} of {int(np.count_nonzero(before != col)):,} agents")
    return changed
