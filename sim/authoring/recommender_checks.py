"""The checks of a content or friend recommender, one function per named check, run in order by
:func:`check_recommender`. They drive the recommender through the real engine
(:func:`~sim.authoring.recommender_runs.run_recommender`: a Simulation whose social settings use it, with
live messages carried by the checker's own model so that feeds have something to score; the social layer
learns nothing, so the world changes only if the recommender writes to it):

  ``schema``        name, version, description, parameters as for a model; ``score`` or ``suggest``
                    overridden.
  ``run``           8 ticks on the contract world without raising (in ``__init__``, ``score``/``suggest``).
  ``shapes``        every answer passes the core's validation (``sim.social.dynamics``): an (R, M) array of
                    numbers, no ``+inf``, aligned integer sharers; three aligned 1-D arrays of agents,
                    candidates and finite scores.
  ``read-only``     no write to the read-only arrays of the context (reported with the plugin's line and
                    what to do), and the world's columns and trust unchanged.
  ``hidden``        content: no item the recommender scored ``-inf`` or ``nan`` was put in a feed.
  ``determinism``   one call made twice with the same generator state answers the same, and two runs on
                    fresh imports agree in every answer and in what the core made of them.
  ``explore``       as for a model, :data:`~sim.authoring.recommender_runs.RECOMMENDER_EXPLORE_TICKS` ticks
                    per set.

  Then a figure: time per tick in ``score``/``suggest`` on ``agents`` agents (and a failing ``scale``
  check if it fails at that size).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Unpack

import numpy as np

from sim.authoring.explore import explore_recommender
from sim.authoring.harness import SPEED_BUDGET_S, fresh_class
from sim.authoring.judge import Finding, judge_recommender_run, short_what
from sim.authoring.recommender_runs import (
    RECOMMENDER_SPEED_TICKS,
    RECOMMENDER_TICKS,
    RecommenderRun,
    answer_diff,
    run_recommender,
)
from sim.authoring.report import PluginCheck, Where, plural
from sim.authoring.schema import recommender_schema_problems
from sim.plugin import ContentRecommender, FriendRecommender

#: Steps of a recommender's checks, for the progress callback.
_STEPS = 5
#: The checks a broken schema leaves unjudged.
_AFTER_SCHEMA = ("run", "shapes", "read-only", "hidden", "determinism", "explore")


@dataclass
class RecommenderCheck:
    """One recommender being checked after its contract run: its place in the report, how to import it
    afresh, the run (``r1``) and its first problem (``f1``; None when it has none)."""

    plugin: PluginCheck
    fresh: Callable[[], type]
    r1: RecommenderRun
    f1: Finding | None

    @property
    def method(self) -> str:
        """``score`` or ``suggest``."""
        return self.r1.method

    def add(self, name: str, status: str, detail: str, tb: str | None = None, **where: Unpack[Where]) -> None:
        """Add one check of this recommender."""
        self.plugin.add(name, status, detail, tb, **where)


def _check_schema(plugin: PluginCheck, cls: type, method: str) -> bool:
    """The ``schema`` check; False when the schema is too broken to run the recommender (the checks after
    it are then added as skipped)."""
    problems = recommender_schema_problems(cls)
    if not problems:
        params = getattr(cls, "params", {}) or {}
        plugin.add(
            "schema",
            "pass",
            f"name, version, description, {plural(len(params), 'parameter')} with valid "
            f"defaults and bounds, {method} overridden",
        )
        return True
    plugin.add("schema", "fail", "; ".join(problems))
    if not issubclass(cls, (ContentRecommender, FriendRecommender)) or any("not overridden" in p for p in problems):
        plugin.skip(_AFTER_SCHEMA, "not judged: the schema is broken (see above)")
        return False
    return True


def _check_run(c: RecommenderCheck) -> None:
    """``run``: the contract run raised nowhere."""
    r1, f1 = c.r1, c.f1
    who = sum(t[1] for t in r1.timings)
    shown = r1.shown_count
    if r1.role == "content":
        did = (
            f"scored {who:,} readers against the live messages in {plural(r1.calls, 'call')}; the core showed "
            f"{shown:,} feed items"
        )
    else:
        did = (
            f"suggested for {who:,} agents in {plural(r1.calls, 'call')}; {shown:,} suggestions passed the core's rules"
        )
    if f1 is not None and f1.kind == "raised":
        c.add("run", "fail", f1.what, f1.traceback, summary=short_what(f1))
    elif f1 is not None and f1.kind == "read-only":
        c.add("run", "skip", "not judged: stopped by a write to a read-only array (see read-only)")
    else:
        tail = ", then the core refused an answer (see shapes)" if f1 is not None and f1.kind == "contract" else ""
        c.add("run", "pass", f"{plural(r1.ticks, 'tick')} on {c.plugin.base.n:,} agents without raising: {did}{tail}")


def _check_shapes(c: RecommenderCheck) -> None:
    """``shapes``: every answer passed the core's validation."""
    r1, f1 = c.r1, c.f1
    if f1 is not None and f1.kind == "contract":
        c.add("shapes", "fail", f1.what, f1.traceback, summary="an answer the core refused")
    elif f1 is not None and f1.kind in ("raised", "read-only"):
        c.add("shapes", "skip", f"not judged: the run failed (see {'run' if f1.kind == 'raised' else 'read-only'})")
    elif r1.calls == 0:
        c.add("shapes", "skip", f"not judged: {c.method} was never called")
    elif r1.role == "content":
        c.add(
            "shapes",
            "pass",
            f"every answer of {plural(r1.calls, 'call')} was an (R, M) array of numbers "
            "(R readers, M live messages), with aligned integer sharers where given",
        )
    else:
        c.add(
            "shapes",
            "pass",
            f"every answer of {plural(r1.calls, 'call')} was three aligned 1-D arrays: "
            "integer agents and candidates in range, finite scores",
        )


def _check_read_only(c: RecommenderCheck) -> None:
    """``read-only``: no write to the arrays of the context or to the world."""
    f1 = c.f1
    if f1 is not None and f1.kind in ("read-only", "writes"):
        summary = "wrote to the world" if f1.kind == "writes" else "wrote to a read-only array"
        c.add("read-only", "fail", f1.what, f1.traceback, summary=summary)
    elif f1 is not None and f1.kind == "raised":
        c.add("read-only", "skip", "not judged: the run failed (see run)")
    else:
        c.add(
            "read-only",
            "pass",
            "wrote to no array of the context, and the world's columns and trust were left unchanged",
        )


def _score_stats(run: RecommenderRun) -> tuple[int, int, int, int]:
    """(scores, -inf, nan, shown items) over a content run's answers."""
    total = neg = nan = 0
    for a in run.answers:
        if a.arrays is None:
            continue
        s = np.asarray(a.arrays[0])
        total += s.size
        if s.dtype.kind == "f":
            neg += int(np.count_nonzero(np.isneginf(s)))
            nan += int(np.count_nonzero(np.isnan(s)))
    return total, neg, nan, run.shown_count


def _check_hidden(c: RecommenderCheck) -> None:
    """``hidden``: no item scored ``-inf`` or ``nan`` was shown (content recommenders)."""
    f1 = c.f1
    if c.r1.role == "friend":
        c.add(
            "hidden",
            "skip",
            "a friend recommender has no hidden items: its scores must be finite (the core refuses others: see shapes)",
        )
        return
    if f1 is not None and f1.kind == "shown":
        c.add("hidden", "fail", f1.what)
        return
    if f1 is not None:
        c.add("hidden", "skip", "not judged: the run failed (see above)")
        return
    total, neg, nan, n_shown = _score_stats(c.r1)
    if neg or nan:
        detail = (
            f"of {total:,} scores {neg:,} were -inf and {nan:,} nan, and none of those items was shown "
            f"({n_shown:,} items shown)"
        )
    else:
        detail = f"no score of {total:,} was -inf or nan (nothing to hide); {n_shown:,} items shown"
    if not n_shown:
        detail += "; note: nothing at all was shown in the run"
    c.add("hidden", "pass", detail)


def _compare_recommender_runs(a: RecommenderRun, b: RecommenderRun) -> str | None:
    """Where two runs of a recommender first differ (answers, then what was shown), or None."""
    if (a.error is None) != (b.error is None) or (a.crash is None) != (b.crash is None):
        return "one run failed and the other did not: " + str(a.error or b.error or (a.crash or b.crash or ("",))[0])
    if len(a.answers) != len(b.answers):
        return f"one run made {len(a.answers)} calls, the other {len(b.answers)}"
    for x, y in zip(a.answers, b.answers, strict=True):
        if x.tick != y.tick or not np.array_equal(x.who, y.who) or x.sessions != y.sessions:
            return f"at tick {x.tick} the calls were made for different agents or messages"
        diff = answer_diff(x.arrays, y.arrays, a.role, x.who, x.sessions)
        if diff is not None:
            return f"at tick {x.tick}, {diff}"
    if len(a.shown) != len(b.shown):
        return "the core showed different items"
    for one, two in zip(a.shown, b.shown, strict=True):
        if (
            one[0] != two[0]
            or one[1] != two[1]
            or not np.array_equal(one[2], two[2])
            or not np.array_equal(one[3], two[3])
        ):
            return f"at tick {one[0]} the core showed different items"
    return None


def _check_determinism(c: RecommenderCheck) -> None:
    """``determinism``: one call made twice, and two runs on fresh imports, answered the same."""
    r1 = c.r1
    r2 = run_recommender(c.fresh(), c.plugin.base, ticks=RECOMMENDER_TICKS, seed=c.plugin.seed, replay=True)
    diff = _compare_recommender_runs(r1, r2)
    if r1.replay is not None:
        c.add(
            "determinism",
            "fail",
            f"called twice with the same generator, {c.method} answered differently "
            f"{r1.replay}: keep nothing between calls on self and draw random numbers only from ctx.rng",
        )
    elif diff is not None:
        c.add(
            "determinism",
            "fail",
            f"two runs with the same seeds, each on a fresh import, differ {diff}: "
            "draw random numbers only from ctx.rng",
        )
    else:
        c.add(
            "determinism",
            "pass",
            f"called twice with the same generator it answered the same, and two "
            f"runs on fresh imports agreed in all {plural(len(r1.answers), 'answer')} and what the core "
            "made of them",
        )


def _speed_figure(run: RecommenderRun, big_n: int, big_edges: int) -> dict[str, Any] | None:
    """The speed figure of a speed run (None when the recommender was never called for anybody)."""
    calls = [t for t in run.timings if t[1]]
    if not calls:
        return None
    ticks = len({t[0] for t in calls})
    secs = sum(t[3] for t in calls)
    who = sum(t[1] for t in calls)
    fig: dict[str, Any] = {
        "agents": big_n,
        "edges": big_edges,
        "ticks": ticks,
        "calls": len(calls),
        "seconds": round(secs, 6),
        "seconds_per_tick": secs / ticks,
    }
    if run.role == "content":
        pairs = sum(t[1] * t[2] for t in calls)
        fig.update(
            readers_per_tick=who / ticks,
            messages=max(t[2] for t in calls),
            scores_per_second=pairs / secs if secs > 0 else 0.0,
            feed_seconds_per_tick=run.engine_seconds / ticks,
            items_per_tick=run.kept / ticks,
        )
    else:
        fig.update(
            agents_per_tick=who / ticks,
            agents_per_second=who / secs if secs > 0 else 0.0,
            suggestions_per_tick=run.kept / ticks,
            friend_seconds_per_tick=run.engine_seconds / ticks,
        )
    return fig


def _measure_speed(c: RecommenderCheck) -> None:
    """The speed figure on the speed world (and a failing ``scale`` check when the recommender fails
    there but not in the contract run)."""
    big = c.plugin.speed_world()
    if big is None:
        return
    sp = run_recommender(
        c.fresh(),
        big,
        ticks=RECOMMENDER_SPEED_TICKS,
        seed=c.plugin.seed,
        record=False,
        quick=True,
        budget_s=SPEED_BUDGET_S,
    )
    fsp = judge_recommender_run(sp, c.plugin.path)
    if fsp is not None and c.f1 is None:
        c.add("scale", "fail", f"on {big.n:,} agents: {fsp.what}", fsp.traceback)
    fig = _speed_figure(sp, big.n, big.num_edges) if fsp is None else None
    if fig is None:
        error = fsp.what if fsp is not None else f"{c.method} was never called"
        fig = {"agents": big.n, "edges": big.num_edges, "error": error}
    c.plugin.report.figures[c.plugin.label] = fig


#: The checks of the contract run, in order.
_RUN_CHECKS: tuple[Callable[[RecommenderCheck], None], ...] = (
    _check_run,
    _check_shapes,
    _check_read_only,
    _check_hidden,
)


def check_recommender(plugin: PluginCheck, cls: type) -> None:
    """Run every check of one recommender (see the module docstring), each added to ``plugin``'s report.

    Args:
        plugin: the recommender's place in the report, its file, worlds, seed and progress.
        cls: the recommender class (as imported for the check; the runs import the file afresh).
    """
    method = "suggest" if issubclass(cls, FriendRecommender) else "score"
    qualname = cls.__qualname__

    def fresh() -> type:
        made: type = fresh_class(plugin.path, qualname)
        return made

    plugin.step("schema", 0, _STEPS)
    if not _check_schema(plugin, cls, method):
        return
    plugin.step("run", 1, _STEPS)
    r1 = run_recommender(fresh(), plugin.base, ticks=RECOMMENDER_TICKS, seed=plugin.seed, replay=True)
    c = RecommenderCheck(plugin, fresh, r1, judge_recommender_run(r1, plugin.path))
    for check in _RUN_CHECKS:
        check(c)
    if c.f1 is not None:
        c.add("determinism", "skip", "not judged: the run failed (see above)")
        c.add("explore", "skip", "not judged: the run with default parameters failed (see above)")
    else:
        plugin.step("determinism", 2, _STEPS)
        _check_determinism(c)
        plugin.step("exploring parameters", 3, _STEPS)
        explore_recommender(plugin, cls, fresh)
    plugin.step("speed", 4, _STEPS)
    _measure_speed(c)
