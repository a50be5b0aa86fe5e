"""The checks of a propagation model, one function per named check, run in order by :func:`check_model`:

``schema``        name, version, description; every parameter's default passes its own validation and
                  its bounds are consistent; states, adopted/transmitting states, ``transmit`` and
                  ``seed_state`` agree with each other.
``run``           a run with the default parameters does not raise (in ``__init__``, ``start``,
                  ``step`` or ``is_done``).
``shapes``        every :class:`~sim.plugin.StepResult` of that run has the shapes and dtypes the core
                  accepts (``PropagationSession.advance`` raises ``ModelContractError`` otherwise),
                  and ``exposed``, which the core does not validate, is a 1-D integer array in range.
``monotonicity``  a model that declares ``progressive`` never moves an agent out of its adopted states
                  (checked on every round's answer before the core applies it).
``determinism``   two runs, each on a fresh import of the file, with the same seeds give identical
                  ``state`` and ``adopted_from`` arrays in every round (global ``np.random``, an unseeded
                  generator or the clock break this).
``zero-probability``  with every probability-like float parameter (``p``, ``beta``, ``prob*``,
                  ``rate``, ``*_rate``, ``p_*``, ``*_p``) and every parameter named in an optional class
                  attribute ``zero_params`` set to 0, nobody but the seeds ever adopts. A model whose
                  spread no parameter stops (deterministic thresholds) declares ``zero_params = ()``:
                  the check is then skipped, saying so.
``isolation``     two sessions run interleaved in one Simulation (one import of the module) give exactly
                  what each gives run alone, and no run writes to the world's columns or trust: a model
                  keeps nothing outside its session (module globals, class attributes, the world).
                  Not judged for a model that changes edges (every session shares the graph).
``resume``        saved and reloaded mid-run, the run goes on exactly as without the reload.
``states``        at every tick of the default run the state counts sum to the number of agents.
``variables``     every continuous variable stays inside its declared range.
``feeds``         a model that reads feed exposures declares ``uses_feed = True``.
``edges``         a model that answers with edge changes declares ``changes_edges = True``.
``end``           the default run ends, or the model declares an end of its own (``is_done``) or
                  ``endless = True``; a model that runs on under the default ``is_done`` is flagged.
                  ``is_done`` is asked once right after ``start`` and after every round: a run that
                  ended right after start is run again with ``is_done`` held false for
                  :data:`~sim.authoring.model_runs.PROBE_ROUNDS` rounds, and fails when those rounds
                  change anything (the end came before anything could happen); when they change
                  nothing, the end was right.
``explore``       the parameter space (:func:`~sim.authoring.params.param_space`): the defaults, each
                  parameter alone at its extremes (bounds; far-out values where none is declared, said
                  so; 0 when inside; a bool's other value; every choice), and random joint draws seeded
                  by ``seed``, each run for up to :data:`~sim.authoring.explore.EXPLORE_ROUNDS` rounds on
                  both worlds of :func:`~sim.authoring.worlds.explore_worlds` (a scale-free one, and a
                  directed one with isolated agents). A set fails when its run raises, breaks the
                  contract (an answer the core refuses, states that do not sum, a variable out of range,
                  a write to the world) or ends right after start while rounds would change something
                  (as ``end``). The detail and the verdict name the first failing set (``explore at
                  delta=0 (others default): ...``); ``--json`` lists every run. Sets the plugin's own
                  validation refuses (a rule across parameters) are not run, said so.

Then a figure, not a pass/fail: speed on a graph of ``agents`` agents (edge attempts per second and
seconds per round). If the model raises at that size, a failing ``scale`` check is added.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Unpack

import numpy as np

from sim.authoring.explore import explore_model
from sim.authoring.harness import SPEED_BUDGET_S, fresh_class
from sim.authoring.judge import where_defined
from sim.authoring.model_runs import (
    PROBE_ROUNDS,
    Message,
    ModelRun,
    RunSpec,
    compare_runs,
    forced_rounds,
    trace,
)
from sim.authoring.report import PluginCheck, Where, plural
from sim.authoring.schema import schema_problems
from sim.authoring.worlds import common_topics
from sim.model.session import PropagationSession
from sim.plugin import Param, PropagationModel

#: Names of float parameters that the zero-probability check sets to 0.
PROBABILITY_NAME = re.compile(r"^(p|p_\w+|\w+_p|beta(_\w+)?|prob\w*|\w+_prob\w*|rate|\w+_rate)$")
#: Steps of a model's checks, for the progress callback.
_STEPS = 8
#: What the default run says about the model's declarations (skipped together when it did not start).
_DECLARATIONS = ("states", "variables", "feeds", "edges", "end")


@dataclass
class ModelCheck:
    """One model being checked after its default run: the plugin's place in the report, the class, the
    default run's spec (message ``A`` with the default parameters) and trace, and the second message."""

    plugin: PluginCheck
    cls: type[PropagationModel]
    spec: RunSpec
    msg_b: Message
    a1: ModelRun
    #: The default run made again on a fresh import (the determinism check), and whether the two agreed.
    a2: ModelRun | None = None
    deterministic: bool = False

    @property
    def out(self) -> tuple[str, str, str] | None:
        """How the default run's session failed (see :meth:`ModelRun.outcome`), or None."""
        return self.a1.outcome("A")

    @property
    def session(self) -> PropagationSession | None:
        """The default run's session."""
        return self.a1.sessions.get("A")

    @property
    def rounds(self) -> int:
        """The most rounds of a contract run."""
        return self.spec.rounds

    def add(self, name: str, status: str, detail: str, tb: str | None = None, **where: Unpack[Where]) -> None:
        """Add one check of this model."""
        self.plugin.add(name, status, detail, tb, **where)


# -- schema, and the default run --------------------------------------------------------------------


def _check_schema(plugin: PluginCheck, cls: type[PropagationModel]) -> None:
    """``schema``: the declarations agree with each other (:func:`schema_problems`)."""
    problems = schema_problems(cls)
    if problems:
        plugin.add("schema", "fail", "; ".join(problems))
        return
    params = cls.params
    plugin.add(
        "schema",
        "pass",
        f"name, version, description, {len(params)} parameter{'s' * (len(params) != 1)} "
        f"with valid defaults and bounds, {len(cls.states)} consistent states",
    )


def _check_run(c: ModelCheck) -> None:
    """``run``: the default run raised nowhere."""
    out, sa = c.out, c.session
    if out is not None and out[0] == "raised":
        c.add("run", "fail", out[1], out[2])
        return
    if sa is not None and sa.status == "completed":
        status = "ended"
    elif out is not None:
        status = "then the core rejected an answer (see below)"
    else:
        status = f"still running after {c.rounds} rounds (cut there)"
    reached = sa.reached if sa is not None else 0
    seeds = sa.seeds_count if sa is not None else 0
    c.add(
        "run",
        "pass",
        f"{plural(c.a1.rounds, 'round')} on {c.plugin.base.n:,} agents without raising: reached {reached:,} from "
        f"{seeds} seeds, {status}",
    )


def _check_shapes(c: ModelCheck) -> None:
    """``shapes``: every answer had the shapes and dtypes the core accepts, ``exposed`` included."""
    out = c.out
    problems_seen = c.a1.watch.problems.get("A", [])
    if out is not None and out[0] == "contract":
        c.add("shapes", "fail", out[1], out[2])
    elif problems_seen:
        more = f" (and {len(problems_seen) - 3} more)" if len(problems_seen) > 3 else ""
        c.add("shapes", "fail", "; ".join(problems_seen[:3]) + more)
    elif c.a1.watch.calls.get("A", 0) == 0:
        c.add("shapes", "skip", "not judged: the model never stepped")
    else:
        c.add(
            "shapes",
            "pass",
            f"every StepResult of {plural(c.a1.watch.calls['A'], 'round')} had 1-D integer agents, states in "
            f"0..{len(c.cls.states) - 1}, "
            "aligned sources and a count of attempts",
        )


def _left_adoption(run: ModelRun, label: str, session: PropagationSession | None) -> str | None:
    """Per-round check on the recorded states: does any agent leave the adopted states?"""
    if session is None:
        return None
    adopted = np.asarray(session.adopted_states)
    states = run.states[label]
    for r in range(1, len(states)):
        left = np.isin(states[r - 1], adopted) & ~np.isin(states[r], adopted)
        if left.any():
            return (
                f"round {r}: {int(left.sum())} agents left the adopted states although the model declares "
                "progressive = True"
            )
    return None


def _check_monotonicity(c: ModelCheck) -> None:
    """``monotonicity``: a progressive model never moved an agent out of its adopted states."""
    out = c.out
    if not getattr(c.cls, "progressive", False):
        c.add("monotonicity", "skip", "the model does not declare progressive: agents may leave adoption")
    elif "A" in c.a1.watch.violations:
        c.add("monotonicity", "fail", c.a1.watch.violations["A"], out[2] if out else None)
    elif left := _left_adoption(c.a1, "A", c.session):
        c.add("monotonicity", "fail", left)
    elif c.a1.rounds == 0:
        c.add("monotonicity", "skip", "not judged: no round was completed")
    else:
        c.add("monotonicity", "pass", f"no agent left the adopted states in {plural(c.a1.rounds, 'round')}")


#: The checks of the default run's answers, in order.
_DEFAULT_RUN_CHECKS: tuple[Callable[[ModelCheck], None], ...] = (_check_run, _check_shapes, _check_monotonicity)


# -- what the default run says about the declarations -----------------------------------------------


def _check_states(c: ModelCheck, session: PropagationSession) -> None:
    """``states``: the state counts summed to the agents at every tick."""
    assert session.series is not None
    n = c.a1.n
    sums = session.series.counts.sum(axis=1)
    bad = np.flatnonzero(sums != n)
    names = session.state_names
    if bad.size:
        t = int(bad[0])
        c.add(
            "states",
            "fail",
            f"at tick {t} the {len(names)} states counted {int(sums[t]):,} agents, not the world's {n:,}",
        )
    else:
        c.add(
            "states",
            "pass",
            f"at each of {plural(len(sums), 'tick')} the {len(names)} states ({', '.join(names)}) summed to the "
            f"{n:,} agents",
        )


def _check_variables(c: ModelCheck, session: PropagationSession) -> None:
    """``variables``: every continuous variable stayed inside its declared range."""
    declared = getattr(c.cls, "variables", {}) or {}
    out = c.out
    if not declared:
        c.add("variables", "skip", "the model declares no continuous variable")
        return
    if out is not None and "outside its declared range" in out[1]:
        c.add("variables", "fail", out[1], out[2])
        return
    spans = []
    for vname, spec in declared.items():
        col = session.variables.get(vname)
        if col is None:
            continue
        lo, hi = float(col.min()), float(col.max())
        if not (spec.min <= lo and hi <= spec.max):
            c.add(
                "variables",
                "fail",
                f"variable {vname} ranges over [{lo:g}, {hi:g}], outside its declared "
                f"range [{spec.min:g}, {spec.max:g}]",
            )
            return
        spans.append(f"{vname} in [{lo:.3g}, {hi:.3g}] of [{spec.min:g}, {spec.max:g}]")
    c.add(
        "variables",
        "pass",
        f"every value set in {plural(c.a1.rounds, 'round')} stayed in its declared range "
        f"({'; '.join(spans)}, after the last round)",
    )


def _check_feeds(c: ModelCheck, session: PropagationSession) -> None:
    """``feeds``: a model that read feed exposures declares ``uses_feed``."""
    used_feed = "A" in c.a1.watch.feed_used  # the default run's message
    declared = getattr(c.cls, "uses_feed", False)
    if used_feed and not declared:
        c.add(
            "feeds",
            "fail",
            "the model reads feed exposures (ctx.feed_open, ctx.with_feed or ctx.feed_agents) but does not "
            "declare it: set uses_feed = True",
        )
    elif used_feed:
        c.add("feeds", "pass", "reads feed exposures and declares uses_feed = True")
    elif declared:
        c.add("feeds", "pass", "declares uses_feed = True (no feed exposure was read in the run)")
    else:
        c.add("feeds", "pass", "reads no feed exposure and does not declare uses_feed")


def _check_edges(c: ModelCheck, session: PropagationSession) -> None:
    """``edges``: a model that answered with edge changes declares ``changes_edges``."""
    declared = getattr(c.cls, "changes_edges", False)
    if "A" in c.a1.watch.edge_answers and not declared:
        c.add(
            "edges",
            "fail",
            "the model answers with remove_edges or add_edges but does not declare it: set changes_edges = True",
        )
    elif declared:
        c.add(
            "edges",
            "pass",
            f"declares changes_edges = True; removed {session.edges_removed:,} and added "
            f"{session.edges_added:,} edges in the run",
        )
    else:
        c.add("edges", "pass", "changes no edge")


def _check_end_at_start(c: ModelCheck) -> None:
    """The ``end`` check of a run that ended right after start: right only when rounds run anyway
    (:func:`forced_rounds`) change nothing."""
    change, error = forced_rounds(c.spec)
    if change is None:
        why = f" (could not tell: {error})" if error else f" ({PROBE_ROUNDS} rounds run anyway changed nothing)"
        c.add("end", "pass", f"the run ended right after start, before any round: nothing could change{why}")
        return
    c.add(
        "end",
        "fail",
        "the session ended right after start, before any round: is_done is asked once "
        f"right after start and after every round, and it{where_defined(c.cls, 'is_done')} was already true "
        f"after start, yet {change}. So every "
        "session ends at tick 0 before anything happens: make is_done true only when nothing can change any "
        "more (keep what it reads in ctx.store, set by step)",
        summary="ended right after start",
    )


def _check_end(c: ModelCheck, session: PropagationSession) -> None:
    """``end``: the run ended, or the model declares an end of its own or ``endless``."""
    rounds = c.rounds
    if c.out is not None:
        c.add("end", "skip", "not judged: the run with default parameters failed (see above)")
    elif session.status == "completed" and session.round == 0:
        _check_end_at_start(c)
    elif session.status == "completed":
        c.add("end", "pass", f"the run ended after {plural(session.round, 'round')} (is_done)")
    elif getattr(c.cls, "endless", False):
        c.add("end", "pass", f"declares endless = True (still running after {rounds} rounds): runs until --max-ticks")
    elif c.cls.is_done is not PropagationModel.is_done:
        c.add("end", "pass", f"declares an end (is_done) that this run did not reach in {rounds} rounds")
    else:
        c.add(
            "end",
            "fail",
            f"still running after {rounds} rounds and keeps the default is_done (nobody transmits), "
            "which its agents never reach: declare an end in is_done (an absorbing state, consensus, no change) or "
            "set endless = True",
        )


#: The checks of what a model declares against what its default run did, in order.
_DECLARATION_CHECKS: tuple[Callable[[ModelCheck, PropagationSession], None], ...] = (
    _check_states,
    _check_variables,
    _check_feeds,
    _check_edges,
    _check_end,
)


# -- the checks that run the model again ------------------------------------------------------------


def _check_determinism(c: ModelCheck) -> None:
    """The same run again, on a fresh import."""
    c.a2 = trace(c.spec)
    diff = compare_runs(c.a1, "A", c.a2, "A")
    c.deterministic = diff is None
    if diff is not None:
        o2 = c.a2.outcome("A")
        c.add(
            "determinism",
            "fail",
            f"two runs with the same seeds differ {diff}. Draw random numbers only from "
            "ctx.rng, ctx.random_edges or ctx.random_agents",
            o2[2] if o2 else None,
        )
    else:
        c.add(
            "determinism",
            "pass",
            f"two runs with the same seeds agreed after seeding and in {plural(len(c.a1.states['A']) - 1, 'round')}",
        )


def zero_params(cls: type[PropagationModel]) -> tuple[dict[str, Any], list[str]]:
    """The parameters the zero-probability check sets to 0, and notes on those it cannot.

    Args:
        cls: the model class.

    Returns:
        ``(params, notes)``: each probability-like float parameter and each one named in ``zero_params``
        at 0, and why the others named cannot be 0.
    """
    params = cls.params if isinstance(getattr(cls, "params", None), dict) else {}
    wanted = [k for k, s in params.items() if isinstance(s, Param) and s.type is float and PROBABILITY_NAME.match(k)]
    extra = getattr(cls, "zero_params", None) or ()
    if isinstance(extra, str):
        extra = (extra,)
    wanted += [k for k in extra if k not in wanted]
    out: dict[str, Any] = {}
    notes = []
    for k in wanted:
        spec = params.get(k)
        if not isinstance(spec, Param):
            continue
        try:
            out[k] = spec.coerce(k, 0)
        except Exception:
            notes.append(f"{k} cannot be 0 ({spec.describe_range()})")
    return out, notes


def _judge_zero_run(c: ModelCheck, zero: dict[str, Any], notes: list[str]) -> None:
    """Run the model with ``zero`` and judge whether anybody but the seeds adopted."""
    z = trace(replace(c.spec, params=zero))
    setting = ", ".join(f"{k}=0" for k in zero)
    oz = z.outcome("A")
    sz = z.sessions.get("A")
    if oz is not None:
        c.add("zero-probability", "fail", f"with {setting} the model {oz[1]}", oz[2])
        return
    if sz is None or not z.states["A"]:
        c.add("zero-probability", "skip", "not judged: the session did not start")
        return
    seeds_mask = z.states["A"][0] != 0
    extra = (sz.adopted_at >= 0) & ~seeds_mask
    if extra.any():
        c.add(
            "zero-probability",
            "fail",
            f"with {setting}, {int(extra.sum()):,} agents besides the {int(seeds_mask.sum())} "
            f"seeds adopted (reached {sz.reached:,}): a probability of 0 must stop the spread",
        )
        return
    sa = c.session
    weak = ""
    if sa is not None and sa.reached <= sa.seeds_count:
        weak = " (but the default run did not spread beyond the seeds either, so this proves little)"
    c.add(
        "zero-probability",
        "pass",
        f"with {setting} only the {int(seeds_mask.sum())} seeds adopted{weak}"
        + (f"; {'; '.join(notes)}" if notes else ""),
    )


def _check_zero_probability(c: ModelCheck) -> None:
    """``zero-probability``: with its probabilities at 0, nobody but the seeds adopts."""
    zero, notes = zero_params(c.cls)
    declared = getattr(c.cls, "zero_params", None)
    if declared is not None and not isinstance(declared, str) and len(tuple(declared)) == 0:
        c.add(
            "zero-probability",
            "skip",
            "not judged: the model declares zero_params = (), no parameter "
            "stops its spread (a deterministic rule, or adoption from outside the graph)",
        )
    elif not zero:
        why = "; ".join(notes) if notes else "no probability parameter (p, beta, prob*, rate)"
        c.add("zero-probability", "skip", f"not judged: {why}; list parameters in zero_params to enable it")
    else:
        _judge_zero_run(c, zero, notes)


def _side_by_side(c: ModelCheck) -> tuple[tuple[str, str | None] | None, list[str]]:
    """Run message B alone, and A and B side by side in one simulation.

    Returns:
        ``(failure, writes)``: why ``isolation`` fails and the traceback (None when the runs agree), and
        what those runs wrote to the world.
    """
    b = trace(replace(c.spec, messages=(c.msg_b,)))
    ab = trace(replace(c.spec, messages=(*c.spec.messages, c.msg_b)))
    writes = sorted(set(b.world_writes) | set(ab.world_writes))
    ob = b.outcome("B")
    diff_a = compare_runs(c.a1, "A", ab, "A")
    diff_b = compare_runs(b, "B", ab, "B")
    if ob is not None and ob[0] == "raised":
        return (f"a run of a second message {ob[1]}", ob[2]), writes
    if diff_a is not None or diff_b is not None:
        which, diff = ("first", diff_a) if diff_a is not None else ("second", diff_b)
        why = (
            f"the {which} of two sessions run side by side differs from the same session run alone, "
            f"{diff}. Keep per-session data in ctx.store or on self, never in module globals or class "
            "attributes"
        )
        return (why, None), writes
    return None, writes


def _check_isolation(c: ModelCheck) -> None:
    """A and B interleaved in one simulation vs each alone, and no write to the world."""
    assert c.a2 is not None
    writes = sorted(set(c.a1.world_writes) | set(c.a2.world_writes))
    if not c.deterministic:
        c.add("isolation", "skip", "not judged: the model is not deterministic")
    elif getattr(c.cls, "changes_edges", False):
        c.add("isolation", "skip", "not judged: the model changes edges, which every session shares")
    else:
        failure, more = _side_by_side(c)
        writes = sorted(set(writes) | set(more))
        if failure is not None:
            c.add("isolation", "fail", *failure)
        elif writes:
            c.add(
                "isolation",
                "fail",
                f"the model wrote to the world ({', '.join(writes)}): it may change only its session, "
                "through StepResult and ctx.store",
            )
        else:
            c.add(
                "isolation",
                "pass",
                "two sessions run side by side gave what each gives alone, and the world was left unchanged",
            )
    if writes and not c.deterministic:
        c.add("world-writes", "fail", f"the model wrote to the world ({', '.join(writes)})")


def _check_resume(c: ModelCheck) -> None:
    """Save and reload mid-run (fork the world) and go on: the same rounds must follow."""
    if not c.deterministic:
        c.add("resume", "skip", "not judged: the model is not deterministic")
        return
    if c.a1.rounds < 2:
        c.add("resume", "skip", "not judged: the run lasted less than two rounds")
        return
    k = max(1, min(3, c.a1.rounds // 2))
    rs = trace(replace(c.spec, resume_after=k))
    diff = compare_runs(c.a1, "A", rs, "A")
    if diff is None:
        c.add("resume", "pass", f"saved and reloaded after round {k}, the run went on exactly as without the reload")
        return
    ors = rs.outcome("A")
    c.add(
        "resume",
        "fail",
        f"saved and reloaded after round {k} (the model is made again and start is not "
        f"called), the run went differently: {diff}. Keep what start computes in ctx.store, which is saved "
        "with the session",
        ors[2] if ors else None,
    )


def _check_explore(c: ModelCheck) -> None:
    """The parameter space, on other worlds."""
    explore_model(c.plugin, c.cls, c.spec.make_cls)


#: The checks that run the model again, in order, with the progress step each begins; they are judged
#: only when the default run did not fail.
_AFTER_DEFAULT_RUN: tuple[tuple[str, str, Callable[[ModelCheck], None]], ...] = (
    ("determinism", "determinism", _check_determinism),
    ("zero probability", "zero-probability", _check_zero_probability),
    ("isolation", "isolation", _check_isolation),
    ("resume", "resume", _check_resume),
    ("exploring parameters", "explore", _check_explore),
)


# -- speed ------------------------------------------------------------------------------------------


def _measure_speed(c: ModelCheck) -> bool:
    """The speed figure on the speed world (and a failing ``scale`` check when the model fails there
    but not in the default run); False when there is no figure."""
    big = c.plugin.speed_world()
    if big is None:
        return False
    n_seeds = max(10, big.n // 100)  # enough senders in the first rounds to measure throughput
    message = Message("A", c.spec.messages[0].topics, f"random:{n_seeds}", 1)
    sp = trace(replace(c.spec, base=big, messages=(message,), record=False, budget_s=SPEED_BUDGET_S))
    osp = sp.outcome("A")
    ssp = sp.sessions.get("A")
    figures = c.plugin.report.figures
    if osp is not None and c.out is None:
        c.add("scale", "fail", f"on {big.n:,} agents the model {osp[1]}", osp[2])
    if osp is not None or ssp is None:
        error = osp[1] if osp else "the session did not start"
        figures[c.plugin.label] = {"agents": big.n, "edges": big.num_edges, "error": error}
        return False
    n_rounds = max(1, len(sp.round_seconds))
    secs = sum(sp.round_seconds)
    figures[c.plugin.label] = {
        "agents": big.n,
        "edges": big.num_edges,
        "seeds": ssp.seeds_count,
        "rounds": ssp.round,
        "attempts": ssp.attempts,
        "reached": ssp.reached,
        "seconds": round(secs, 6),
        "seconds_per_round": secs / n_rounds,
        "model_seconds_per_round": sp.watch.model_seconds / n_rounds,
        "attempts_per_second": ssp.attempts / secs if secs > 0 else 0.0,
    }
    return True


# -- all of them ------------------------------------------------------------------------------------


def check_model(plugin: PluginCheck, cls: type[PropagationModel], rounds: int) -> None:
    """Run every check of one model (see the module docstring), each added to ``plugin``'s report.

    Args:
        plugin: the model's place in the report, its file, worlds, seed and progress.
        cls: the model class (as imported for the check; the runs import the file afresh).
        rounds: the most rounds a contract run lasts.
    """
    qualname = cls.__qualname__

    def fresh() -> type[PropagationModel]:
        made: type[PropagationModel] = fresh_class(plugin.path, qualname)
        return made

    base = plugin.base
    n_seeds = max(1, min(10, base.n // 100))
    msg_a = Message("A", tuple(common_topics(base, 3)), f"random:{n_seeds}", 1)
    msg_b = Message("B", tuple(common_topics(base, 3, skip=3)), f"random:{n_seeds}", 2)
    plugin.step("schema", 0, _STEPS)
    _check_schema(plugin, cls)
    plugin.step("run", 1, _STEPS)
    spec = RunSpec(fresh, base, (msg_a,), rounds=rounds, seed=plugin.seed)
    c = ModelCheck(plugin, cls, spec, msg_b, trace(spec))
    for judged in _DEFAULT_RUN_CHECKS:
        judged(c)
    session = c.session
    if session is None or session.series is None or session.series.length == 0:
        plugin.skip(_DECLARATIONS, "not judged: the session did not start")
    else:
        for declaration in _DECLARATION_CHECKS:
            declaration(c, session)
    if c.out is not None:
        plugin.skip(
            (name for _, name, _ in _AFTER_DEFAULT_RUN),
            "not judged: the run with default parameters failed (see above)",
        )
    else:
        for i, (what, _, rerun) in enumerate(_AFTER_DEFAULT_RUN, start=2):
            plugin.step(what, i, _STEPS)
            rerun(c)
    plugin.step("speed", 7, _STEPS)
    if _measure_speed(c):
        plugin.step("done", 8, _STEPS)
