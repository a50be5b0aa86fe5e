"""The ``explore`` check: a plugin run at every parameter set of :func:`~sim.authoring.params.param_space`
on every world of :func:`~sim.authoring.worlds.explore_worlds`, a few rounds or ticks each, within a time
budget; the verdict names the first failing set, and the report lists every run."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sim.authoring.judge import Finding, judge_model_run, judge_recommender_run, short_what, where_defined
from sim.authoring.model_runs import Message, RunSpec, forced_rounds, trace
from sim.authoring.params import ParamSet, param_defaults, param_space
from sim.authoring.recommender_runs import RECOMMENDER_EXPLORE_TICKS, run_recommender
from sim.authoring.report import PluginCheck, plural
from sim.authoring.worlds import ExploreWorld, common_topics, explore_worlds
from sim.plugin import PropagationModel

#: Rounds of each exploring run (small worlds, few rounds: a defect at a parameter extreme shows early;
#: the default run goes on for ``CONTRACT_ROUNDS``).
EXPLORE_ROUNDS = 12
#: Longest the exploring runs of one plugin may take, in seconds; the parameter sets not reached by then
#: are not run, and the check says so.
EXPLORE_BUDGET_S = 30.0

T = TypeVar("T")

#: One exploring run: a parameter set on a world -> what went wrong (None: nothing), and the fields of
#: its row in the report besides the common ones.
RunOne = Callable[[ParamSet, ExploreWorld], tuple[Finding | None, dict[str, Any]]]


@dataclass
class Exploration:
    """The exploring runs of one plugin: the parameter sets and worlds, notes on how the sets were chosen,
    the plugin's defaults, the seed, how long each run lasts (in words), and what the runs found."""

    sets: list[ParamSet]
    worlds: tuple[ExploreWorld, ...]
    notes: list[str]
    defaults: dict[str, Any]
    seed: int
    ticks: str
    results: list[dict[str, Any]] = field(default_factory=list)
    failures: list[tuple[ParamSet, ExploreWorld, Finding]] = field(default_factory=list)
    ran: int = 0
    #: When the exploring began (the time budget counts from here).
    t0: float = field(default_factory=time.perf_counter)

    @classmethod
    def of(cls, plugin: type, seed: int, ticks: str) -> Exploration:
        """The exploration of a plugin class: its parameter space and the explore worlds of ``seed``."""
        sets, notes = param_space(plugin, seed)
        return cls(sets, explore_worlds(seed), notes, param_defaults(plugin), seed, ticks)

    @property
    def total(self) -> int:
        """The runs there are to make."""
        return len(self.sets) * len(self.worlds)

    def run(self, run_one: RunOne) -> None:
        """Make every run, each set on each world, until the time budget is spent; keep each run's row."""
        for ps in self.sets:
            for w in self.worlds:
                if self.ran and time.perf_counter() - self.t0 > EXPLORE_BUDGET_S:
                    break
                finding, extra = run_one(ps, w)
                self.ran += 1
                self.results.append(
                    {
                        "params": ps.params,
                        "how": ps.how,
                        "world": w.key,
                        "status": "fail" if finding else "ok",
                        "kind": finding.kind if finding else None,
                        **extra,
                        "error": finding.what if finding else None,
                    }
                )
                if finding is not None:
                    self.failures.append((ps, w, finding))


def _import_once(fresh: Callable[[], T]) -> Callable[[], T]:
    """One import for all the exploring runs (the isolation check has judged what a module keeps); when
    that import raises, every run imports afresh, and the runs report it."""
    try:
        once = fresh()
    except BaseException as exc:  # noqa: BLE001 - a plugin may raise anything at import; the run reports it
        if isinstance(exc, KeyboardInterrupt):
            raise
        return fresh
    return lambda: once


def _pass_detail(ex: Exploration, cut: str) -> str:
    """The detail of an ``explore`` check that found nothing."""
    tried = sorted({k for ps in ex.sets for k, _ in ps.values})
    how = (
        f"each parameter at its extremes ({', '.join(tried)}) with the others default"
        if tried
        else "the defaults (the plugin has no parameter to vary)"
    )
    n_draws = sum(1 for ps in ex.sets if ps.how == "draw")
    if n_draws:
        how += f", and {n_draws} random draws (seed {ex.seed})"
    where = "both small worlds" if len(ex.worlds) == 2 else " and ".join(w.text for w in ex.worlds)
    sets = plural(len(ex.sets), "parameter set")
    detail = f"{sets} ({how}) on {where}, {ex.ticks}: none raised or broke the contract{cut}"
    if ex.notes:
        detail += f" ({'; '.join(ex.notes)})"
    return detail


def _verdict(plugin: PluginCheck, ex: Exploration) -> None:
    """Add the ``explore`` check from the exploring runs' results."""
    plugin.report.explored[plugin.label] = ex.results
    n_params = len(ex.defaults)
    cut = (
        f"; the time budget ({EXPLORE_BUDGET_S:g} s) stopped it after {ex.ran} of {ex.total} runs"
        if ex.ran < ex.total
        else ""
    )
    if not ex.failures:
        plugin.add("explore", "pass", _pass_detail(ex, cut))
        return
    # One line per failing parameter set (the worlds it failed on together), first found first.
    by_set: OrderedDict[ParamSet, list[tuple[ExploreWorld, Finding]]] = OrderedDict()
    for ps, w, f in ex.failures:
        by_set.setdefault(ps, []).append((w, f))
    first_set, hits = next(iter(by_set.items()))
    world, finding = hits[0]
    on = "on both worlds" if len(hits) == len(ex.worlds) > 1 else f"on {world.text}"
    detail = f"fails at {first_set.describe(n_params)} {on}: {finding.what}"
    others = [ps.describe(n_params) for ps in list(by_set)[1:]]
    if others:
        shown = others[:2]
        detail += f"; also fails at {'; '.join(shown)}" + (f" (and {len(others) - 2} more)" if len(others) > 2 else "")
    detail += cut
    plugin.add(
        "explore",
        "fail",
        detail,
        finding.traceback,
        params={**ex.defaults, **first_set.params},
        world=world.key,
        summary=f"at {first_set.describe(n_params)}: {short_what(finding)}",
    )


def explore_model(
    plugin: PluginCheck, cls: type[PropagationModel], fresh: Callable[[], type[PropagationModel]]
) -> None:
    """The ``explore`` check of a model: every parameter set of :func:`param_space` on every world of
    :func:`explore_worlds`, for up to :data:`EXPLORE_ROUNDS` rounds. A set fails when its run raises,
    breaks the contract (an answer the core refuses, states that do not sum to the agents, a variable
    out of its range, a write to the world), or ends right after start (``is_done`` true before any
    round) while :data:`~sim.authoring.model_runs.PROBE_ROUNDS` rounds run anyway
    (:func:`~sim.authoring.model_runs.forced_rounds`) change something; an end right after start where
    they change nothing is right, and noted.

    Args:
        plugin: the model being checked (its report, label and seed).
        cls: the model class.
        fresh: makes the class from a fresh import of its file.
    """
    ex = Exploration.of(cls, plugin.seed, f"up to {EXPLORE_ROUNDS} rounds each")
    make = _import_once(fresh)
    still: list[str] = []  # sets that ended right after start because nothing could change

    def run_one(ps: ParamSet, w: ExploreWorld) -> tuple[Finding | None, dict[str, Any]]:
        msg = Message("A", tuple(common_topics(w.world, 3)), "random:5", 1)
        spec = RunSpec(make, w.world, (msg,), ps.params, rounds=EXPLORE_ROUNDS, seed=ex.seed, record=False, quick=True)
        run = trace(spec)
        finding = judge_model_run(run, cls)
        s = run.sessions.get("A")
        rounds = s.round if s is not None else 0
        if finding is None and s is not None and s.status == "completed" and rounds == 0:
            change, _ = forced_rounds(spec)
            if change is not None:
                finding = Finding(
                    "ended-at-start",
                    "the session ended right after start, before any round: is_done"
                    f"{where_defined(cls, 'is_done')}, asked once right after start, was already true, "
                    f"yet {change}",
                )
            elif ps.describe(len(ex.defaults)) not in still:
                still.append(ps.describe(len(ex.defaults)))
        ended = s.status == "completed" if s is not None else False
        return finding, {"rounds": rounds, "reached": s.reached if s is not None else 0, "ended": ended}

    ex.run(run_one)
    if still:
        ex.notes.append(
            "ended right after start where nothing could change (rounds run anyway changed nothing) at "
            + "; ".join(still[:3])
            + (" ..." if len(still) > 3 else "")
        )
    _verdict(plugin, ex)


def explore_recommender(plugin: PluginCheck, cls: type, fresh: Callable[[], type]) -> None:
    """The ``explore`` check of a recommender: every parameter set of :func:`param_space` on every world
    of :func:`explore_worlds`, for :data:`~sim.authoring.recommender_runs.RECOMMENDER_EXPLORE_TICKS`
    ticks each.

    Args:
        plugin: the recommender being checked (its report, label, file and seed).
        cls: the recommender class.
        fresh: makes the class from a fresh import of its file.
    """
    ex = Exploration.of(cls, plugin.seed, f"{RECOMMENDER_EXPLORE_TICKS} ticks each")
    make = _import_once(fresh)

    def run_one(ps: ParamSet, w: ExploreWorld) -> tuple[Finding | None, dict[str, Any]]:
        run = run_recommender(
            make(), w.world, params=ps.params, ticks=RECOMMENDER_EXPLORE_TICKS, seed=ex.seed, quick=True
        )
        finding = judge_recommender_run(run, plugin.path)
        return finding, {"ticks": run.ticks, "calls": run.calls, "shown": run.shown_count}

    ex.run(run_one)
    _verdict(plugin, ex)
