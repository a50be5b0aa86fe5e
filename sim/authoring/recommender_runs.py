"""Runs of a recommender for the checker and for a recommender's own tests (:func:`run_recommender`): a
real :class:`~sim.engine.simulation.Simulation` whose social settings use it, with live messages carried
by the checker's own model (``_Carrier``) so that feeds have something to score. Every call of
``score``/``suggest`` is timed and its answer kept, and so is what the core made of it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.authoring.harness import crash, offline_llm, run_sync, world_writes
from sim.authoring.worlds import common_topics
from sim.core.events import EventBus
from sim.core.world import World
from sim.engine.simulation import Simulation
from sim.model.registry import Registry
from sim.model.session import PropagationSession
from sim.plugin import FriendRecommender, Param, PropagationModel, Recommender, StepResult

#: Ticks of a recommender's contract run on the contract world.
RECOMMENDER_TICKS = 8
#: Ticks of each exploring run of a recommender.
RECOMMENDER_EXPLORE_TICKS = 5
#: Ticks of a recommender's speed run (the first tick starts the messages: nothing is live yet).
RECOMMENDER_SPEED_TICKS = 4
#: Name of the checker's own model, which carries the messages of a recommender run.
CARRIER = "agora-check-carrier"

#: The social settings of a recommender run: the social layer learns nothing, so the world changes only
#: if the recommender writes to it.
_QUIET_SOCIAL = {
    "trust_gain": 0.0,
    "trust_loss": 0.0,
    "reputation_gain": 0.0,
    "reputation_loss": 0.0,
    "report_rate": 0.0,
    "unfollow_rate": 0.0,
    "fatigue_rate": 0.0,
}


class _Carrier(PropagationModel):
    """The checker's own model, carrying the messages of a recommender run: a cascade at 0.05 per edge
    attempt, and an agent shown the message in a feed adopts it with probability 0.3; the session ends
    after ``rounds`` rounds whatever happened, so its message stays live as long as the run needs."""

    name = CARRIER
    version = "1.0"
    description = "The plugin checker's message carrier (feeds adopt at 0.3; ends after 'rounds' rounds)."
    params = {"rounds": Param(int, RECOMMENDER_TICKS, 1, 10**6, "rounds before the session ends")}
    uses_feed = True

    def step(self, ctx: Any) -> StepResult:
        """A cascade at 0.05 per edge attempt; a feed exposure adopts at 0.3."""
        targets, edges = ctx.gather_targets()
        open_ = np.flatnonzero(ctx.state[targets] == 0)
        hit = open_[ctx.random_edges(edges[open_]) < 0.05]
        winners, first = np.unique(targets[hit], return_index=True)
        result = StepResult(
            winners, 1, ctx.gather_sources()[hit[first]], attempts=int(open_.size), exposed=targets[open_]
        )
        shown, sharers = ctx.feed_open()
        if shown.size:
            take = ctx.random_agents(shown) < 0.3
            result = ctx.with_feed(result, shown[take], sharers[take])
        return result

    def is_done(self, ctx: Any) -> bool:
        """Done after ``rounds`` rounds."""
        return ctx.round >= self.p["rounds"]


@dataclass
class Answer:
    """One call of a recommender in a run: the tick, who it was for (``readers`` of a content
    recommender, the agents looking of a friend recommender), the live sessions' ids (content), and
    its answer as arrays — ``(scores,)`` or ``(scores, sharers)``; ``(agents, candidates, scores)`` for a
    friend recommender — or None when the answer could not be read as arrays."""

    tick: int
    who: np.ndarray
    sessions: tuple[int, ...]
    arrays: tuple[np.ndarray, ...] | None


@dataclass
class RecommenderRun:
    """What a recommender did in a run of :func:`run_recommender` (and of the checker).

    Attributes:
        world: the copy of the world the run changed.
        sessions: the messages' sessions: a short one first (finished early: history for a recommender
            that reads past messages), then three live ones (the first written by the most followed
            agent, the last without topics).
        answers: every call (:class:`Answer`), in order (kept with ``record``).
        shown: content: what the core put in feeds, ``(tick, session id, agents, credited sharers)``;
            friend: the suggestions left after the core's rules, ``(tick, -1, agents, candidates)``.
        error, traceback: why the engine switched the recommender off (None when it did not).
        crash: an exception that escaped the simulation (such as the recommender's ``__init__``
            raising): ``(error, traceback)``.
        calls, seconds: calls of ``score``/``suggest`` and the seconds spent in them.
        timings: per call ``(tick, who, messages, seconds)``.
        engine_seconds: seconds the core spent building feeds (content) or friend suggestions in all.
        replay: what differed when one call was made twice with the same generator (None: nothing).
        world_writes: what of the world changed that only a plugin could have changed.
    """

    world: World
    role: str
    sessions: list[PropagationSession] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    shown: list[tuple[int, int, np.ndarray, np.ndarray]] = field(default_factory=list)
    error: str | None = None
    traceback: str | None = None
    crash: tuple[str, str] | None = None
    calls: int = 0
    seconds: float = 0.0
    timings: list[tuple[int, int, int, float]] = field(default_factory=list)
    engine_seconds: float = 0.0
    #: Items the core put in feeds (content) or suggestions it kept (friend), counted with or without ``record``.
    kept: int = 0
    ticks: int = 0
    replay: str | None = None
    replayed: bool = False
    world_writes: list[str] = field(default_factory=list)

    @property
    def method(self) -> str:
        """The recommender's method the run calls: ``score`` or ``suggest``."""
        return "suggest" if self.role == "friend" else "score"

    @property
    def shown_count(self) -> int:
        """Items shown (content) or suggestions kept (friend), over what was recorded."""
        return sum(int(x[2].size) for x in self.shown)


@dataclass(frozen=True)
class _Spec:
    """The options of :func:`run_recommender` (see there)."""

    recommender: type
    params: dict[str, Any] | None
    ticks: int
    seed: int
    record: bool
    replay: bool
    quick: bool
    budget_s: float | None


def answer_arrays(answer: Any, role: str) -> tuple[np.ndarray, ...] | None:
    """Copies of a recommender's answer as arrays (None when it is not a readable answer: the core's
    own validation says what is wrong with it)."""
    try:
        parts = answer if isinstance(answer, tuple) else (answer,)
        if role == "friend" and len(parts) != 3:
            return None
        if not 1 <= len(parts) <= 3:
            return None
        return tuple(np.array(p) for p in parts)
    except Exception:  # noqa: BLE001 - anything unreadable: the core refuses it
        return None


def answer_diff(
    a: tuple[np.ndarray, ...] | None,
    b: tuple[np.ndarray, ...] | None,
    role: str,
    who: np.ndarray | None = None,
    sessions: tuple[int, ...] = (),
) -> str | None:
    """Where two answers first differ, in words, or None when they are equal (nan equals nan).

    Args:
        a, b: the two answers as arrays (:func:`answer_arrays`).
        role: ``content`` or ``friend``.
        who: the readers the answers were for (content: names the reader where they differ).
        sessions: the live sessions' ids (content: names the message where they differ).

    Returns:
        The first difference in words, or None.
    """
    if a is None or b is None:
        return None if a is None and b is None else "one answer could not be read, the other could"
    if len(a) != len(b):
        return f"one answer has {len(a)} parts, the other {len(b)}"
    names = ("agents", "candidates", "scores") if role == "friend" else ("scores", "sharers")
    for k, (x, y) in enumerate(zip(a, b, strict=True)):
        what = names[k] if k < len(names) else f"part {k}"
        if x.shape != y.shape:
            return f"{what} of shape {x.shape} vs {y.shape}"
        equal_nan = x.dtype.kind in "fc" and y.dtype.kind in "fc"
        if np.array_equal(x, y, equal_nan=equal_nan):
            continue
        bad = np.flatnonzero(~((x == y) | (np.isnan(x) & np.isnan(y)) if equal_nan else x == y).ravel())
        i = int(bad[0]) if bad.size else 0
        xi, yi = x.ravel()[i].item(), y.ravel()[i].item()
        if role == "content" and x.ndim == 2 and x.shape[1]:
            r, j = divmod(i, x.shape[1])
            reader = int(who[r]) if who is not None and r < len(who) else r
            message = f"session {sessions[j]}" if j < len(sessions) else f"column {j}"
            return f"{what} for reader {reader} and {message}: {xi!r} vs {yi!r} ({bad.size:,} differ)"
        return f"{what}[{i}]: {xi!r} vs {yi!r} ({bad.size:,} differ)"
    return None


def _recommender_messages(world: World) -> list[tuple[str, list[str], int | None, str, int]]:
    """The messages of a recommender run: (text, topics, author id, seeds, rounds)."""
    topics = common_topics(world, 5)
    g = world.graph
    author = int(world.columns["ids"][int(np.argmax(np.diff(g.out_indptr)))]) if world.n else None
    return [
        ("checker history", topics[:2], None, "random:10", 2),
        ("checker message 1", topics[:3], author, "random:5", 10**6),
        ("checker message 2", topics[3:5], None, "random:5", 10**6),
        ("checker message 3 (no topics)", [], None, "random:5", 10**6),
    ]


def _configure(sim: Simulation, spec: _Spec, role: str) -> tuple[Recommender, str]:
    """Make the simulation's social layer use the recommender, learning nothing; returns the recommender
    and the key its errors are kept under."""
    cls: Any = spec.recommender
    name = str(cls.name)
    rec: Recommender | None
    if role == "content":
        sim.social.configure(recommender=name, recommender_params=dict(spec.params or {}), **_QUIET_SOCIAL)
        rec, key = sim.social.content_recommender(name), name
    else:
        sim.social.configure(friend_recommender=name, friend_params=dict(spec.params or {}), **_QUIET_SOCIAL)
        rec, key = sim.social.friend_recommender(), f"friend:{name}"
    assert rec is not None
    return rec, key


def _watch_answers(run: RecommenderRun, rec: Recommender, spec: _Spec) -> None:
    """Wrap the recommender's ``score``/``suggest``: time every call, keep its answer (``record``), and
    make one call twice with the same generator (``replay``)."""
    role = run.role
    original = getattr(rec, run.method)

    def answered(ctx: Any) -> Any:
        before = ctx.rng.bit_generator.state if spec.replay and not run.replayed else None
        t0 = time.perf_counter()
        answer = original(ctx)
        spent = time.perf_counter() - t0
        run.seconds += spent
        run.calls += 1
        who = ctx.readers if role == "content" else ctx.agents
        sids = tuple(int(s.id) for s in ctx.sessions) if role == "content" else ()
        run.timings.append((int(ctx.tick), int(who.size), len(sids), spent))
        if not (spec.record or before is not None):
            return answer
        arrays = answer_arrays(answer, role)
        if before is not None and who.size and (sids or role == "friend"):
            run.replayed = True
            after = ctx.rng.bit_generator.state
            ctx.rng.bit_generator.state = before
            again = answer_arrays(original(ctx), role)
            ctx.rng.bit_generator.state = after
            diff = answer_diff(arrays, again, role, who, sids)
            if diff is not None:
                run.replay = f"at tick {ctx.tick}, {diff}"
        if spec.record:
            run.answers.append(Answer(int(ctx.tick), np.array(who), sids, arrays))
        return answer

    setattr(rec, run.method, answered)


def _watch_core(run: RecommenderRun, sim: Simulation, record: bool) -> None:
    """Wrap what the core makes of the answers: the feeds it builds (content) or the suggestions it keeps
    (friend), timed and counted, and kept with ``record``."""
    social = sim.social
    if run.role == "content":
        feeds = social.feeds

        def fed(tick: int, online: Any, live: Any, out: Any) -> Any:
            result = feeds(tick, online, live, out)
            run.engine_seconds += out.feed_seconds
            run.kept += sum(int(agents.size) for agents, _ in result.values())
            if record:
                for sid, (agents, sharers) in result.items():
                    run.shown.append((int(tick), int(sid), agents.copy(), sharers.copy()))
            return result

        social.feeds = fed  # type: ignore[method-assign]
        return
    suggestions = social.suggestions

    def suggested(tick: int, looking: Any, rng: Any = None, out: Any = None) -> Any:
        t0 = time.perf_counter()
        a, c, sc = suggestions(tick, looking, rng, out)
        run.engine_seconds += time.perf_counter() - t0
        run.kept += int(a.size)
        if record:
            run.shown.append((int(tick), -1, a.copy(), c.copy()))
        return a, c, sc

    social.suggestions = suggested  # type: ignore[method-assign]


async def _drive(run: RecommenderRun, spec: _Spec) -> None:
    """Set the run's simulation up, inject the messages and run its ticks."""
    fork = run.world
    registry = Registry((), builtins=True, entry_points=False, env=False)
    registry.register(spec.recommender, source="check")
    registry.register(_Carrier, source="check")
    sim = Simulation(fork, registry=registry, bus=EventBus(), llm=offline_llm(fork, quiet=True))
    rec, key = _configure(sim, spec, run.role)
    _watch_answers(run, rec, spec)
    _watch_core(run, sim, spec.record)
    for text, topics, author, seeds, rounds in _recommender_messages(fork):
        run.sessions.append(
            sim.inject(
                text,
                topics=topics,
                author=author,
                seeds=seeds,
                model=CARRIER,
                params={"rounds": rounds},
                seed=spec.seed,
            )
        )
    t_start = time.perf_counter()
    for _ in range(spec.ticks):
        if spec.quick:
            sim.step_now()
        else:
            await sim.step()
        run.ticks += 1
        if key in sim.social.errors:
            run.error = sim.social.errors[key]
            run.traceback = sim.social.tracebacks.get(key) or None
            break
        if spec.budget_s is not None and time.perf_counter() - t_start > spec.budget_s:
            break


def run_recommender(
    recommender: type,
    world: World,
    *,
    params: dict[str, Any] | None = None,
    ticks: int = RECOMMENDER_TICKS,
    seed: int = 0,
    record: bool = True,
    replay: bool = False,
    quick: bool = False,
    budget_s: float | None = None,
) -> RecommenderRun:
    """Run a simulation on a copy of ``world`` that uses ``recommender`` (a content or friend
    recommender class) for ``ticks`` ticks, with four messages carried by the checker's own model (see
    :class:`RecommenderRun`), and return what the recommender answered and what the core made of it.

    For tests of a recommender: ``shown`` tells who was shown (content) or suggested (friend) what;
    ``error``/``traceback`` why the engine switched it off. The social layer learns nothing in this run
    (trust, reputation and reports are off), so the world's columns change only if the recommender
    writes to them.

    Args:
        recommender: a :class:`~sim.plugin.ContentRecommender` or :class:`~sim.plugin.FriendRecommender`
            subclass.
        world: the world to run on (it is not changed: the run uses a copy).
        params: the recommender's parameters (the rest default).
        ticks: the most ticks.
        seed: the messages' seed.
        record: keep every answer and what the core showed (``answers``, ``shown``).
        replay: make one call twice with the same generator and keep what differed in ``replay``.
        quick: the ensembles' tight loop (no agent texts).
        budget_s: stop after this many seconds.

    Returns:
        What the recommender did in the run.
    """
    role = "friend" if issubclass(recommender, FriendRecommender) else "content"
    run = RecommenderRun(world=world.fork(), role=role)
    spec = _Spec(recommender, params, ticks, seed, record, replay, quick, budget_s)
    try:
        run_sync(lambda: _drive(run, spec))
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # a plugin may raise anything (its __init__ runs in configure)
        run.crash = crash(exc)
    run.world_writes += world_writes(run.world, world)
    return run
