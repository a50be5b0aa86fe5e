"""What went wrong in one run of a plugin, as a :class:`Finding`: the first contract problem of a model's
run (:func:`judge_model_run`) or of a recommender's (:func:`judge_recommender_run`), and where in the
plugin's file it happened."""

from __future__ import annotations

import inspect
import os
import re
from dataclasses import dataclass

import numpy as np

from sim.authoring.model_runs import ModelRun
from sim.authoring.recommender_runs import Answer, RecommenderRun
from sim.plugin import PropagationModel

_READ_ONLY = re.compile(r"read-only|WRITEABLE", re.IGNORECASE)


@dataclass
class Finding:
    """What went wrong in one run: ``kind`` (``raised``, ``contract``, ``progressive``, ``states``,
    ``variables``, ``writes``, ``ended-at-start``; a recommender's ``read-only`` or ``shown``), what
    happened, and a traceback."""

    kind: str
    what: str
    traceback: str | None = None


def short_what(f: Finding) -> str:
    """A few words on a finding, for the verdict line."""
    if f.kind == "ended-at-start":
        return "ended right after start"
    text = f.what
    m = re.search(r"raised (\w+(?:Error|Exception|Exit|Timeout|Failure)?)", text)
    if f.kind == "raised" and m:
        return f"raised {m.group(1)}"
    return text if len(text) <= 60 else text[:57].rstrip() + "..."


def where_defined(cls: type, method: str) -> str:
    """`` (file.py:LINE)``: where a class defines a method, for a finding without a traceback (empty when
    it cannot be found)."""
    try:
        func = getattr(cls, method)
        path = inspect.getsourcefile(func)
        line = inspect.getsourcelines(func)[1]
    except (TypeError, OSError, AttributeError):
        return ""
    return f" ({os.path.basename(path)}:{line})" if path else ""


def judge_model_run(run: ModelRun, cls: type[PropagationModel]) -> Finding | None:
    """The first contract problem of message ``A``'s session in an exploring run, or None."""
    out = run.outcome("A")
    if out is not None:
        return Finding(out[0], out[1], out[2] or None)
    problems = run.watch.problems.get("A")
    if problems:
        return Finding("contract", problems[0])
    s = run.sessions.get("A")
    if s is None:
        return Finding("raised", "the session did not start")
    if s.series is not None and s.series.length:
        sums = s.series.counts.sum(axis=1)
        bad = np.flatnonzero(sums != run.n)
        if bad.size:
            t = int(bad[0])
            return Finding(
                "states", f"at tick {t} the states counted {int(sums[t]):,} agents, not the world's {run.n:,}"
            )
    for vname, spec in (getattr(cls, "variables", {}) or {}).items():
        col = s.variables.get(vname)
        if col is None or not col.size:
            continue
        if np.isnan(col).any() or float(col.min()) < spec.min or float(col.max()) > spec.max:
            return Finding(
                "variables",
                f"variable {vname} left its declared range [{spec.min:g}, {spec.max:g}] "
                f"(now [{float(np.nanmin(col)):g}, {float(np.nanmax(col)):g}])",
            )
    if run.world_writes:
        return Finding("writes", f"the model wrote to the world ({', '.join(run.world_writes)})")
    return None


def _plugin_line(tb: str | None, path: str) -> str | None:
    """``file:line: code`` of the last frame of the traceback that lies in the plugin file."""
    if not tb:
        return None
    real = os.path.realpath(path)
    found = None
    for m in re.finditer(r'  File "([^"]+)", line (\d+), in [^\n]*\n((?:    [^\n]*\n)?)', tb + "\n"):
        if m.group(1) in (path, real):
            found = f"{os.path.basename(m.group(1))}:{m.group(2)}" + (
                f": {m.group(3).strip()}" if m.group(3).strip() else ""
            )
    return found


def _switched_off(run: RecommenderRun, path: str) -> Finding:
    """Why the engine switched the recommender off (``run.error``), as a finding."""
    assert run.error is not None
    at = f" at tick {run.ticks - 1}"
    if run.error.startswith("RecommenderFailure"):
        return Finding("contract", run.error.split(": ", 1)[-1] + at, run.traceback)
    if _READ_ONLY.search(run.error):
        where = _plugin_line(run.traceback, path)
        return Finding(
            "read-only",
            f"{run.method} wrote to a read-only array{at} ({run.error}"
            + (f", at {where}" if where else "")
            + "): the arrays of the context are the world's own, "
            "handed read-only; copy one before changing it (x = ctx.columns['reputation'].copy())",
            run.traceback,
        )
    return Finding("raised", f"{run.method} raised {run.error}{at}", run.traceback)


def judge_recommender_run(run: RecommenderRun, path: str) -> Finding | None:
    """The first problem of a recommender run, or None. Kinds: ``raised``, ``contract`` (an answer the
    core refused), ``read-only`` (a write to an array of the context), ``writes`` (the world changed),
    ``shown`` (an item scored -inf or nan was put in a feed).

    Args:
        run: the run.
        path: the plugin file (its frames of a traceback name the line).

    Returns:
        The first problem, or None.
    """
    if run.crash is not None:
        return Finding("raised", f"raised {run.crash[0]} while making it or running the simulation", run.crash[1])
    if run.error is not None:
        return _switched_off(run, path)
    if run.world_writes:
        return Finding(
            "writes", f"the recommender changed the world ({', '.join(run.world_writes)}): it may only answer"
        )
    if run.role == "content":
        bad = _shown_unshowable(run)
        if bad is not None:
            return Finding("shown", bad)
    return None


def _shown_unshowable(run: RecommenderRun) -> str | None:
    """Whether the core put in a feed an item the recommender scored -inf or nan (None: it did not)."""
    by_tick: dict[int, list[Answer]] = {}
    for a in run.answers:
        by_tick.setdefault(a.tick, []).append(a)
    for tick, sid, agents, _ in run.shown:
        for a in by_tick.get(tick, []):
            if a.arrays is None or sid not in a.sessions or not a.who.size:
                continue
            scores = np.asarray(a.arrays[0], dtype=np.float64)
            if scores.ndim != 2:
                continue
            pos = np.searchsorted(a.who, agents)
            ok = pos < a.who.size
            ok[ok] = a.who[pos[ok]] == agents[ok]
            s = scores[pos[ok], a.sessions.index(sid)]
            hidden = ~np.isfinite(s)
            if hidden.any():
                i = int(np.flatnonzero(hidden)[0])
                return (
                    f"at tick {tick} the feed of agent {int(agents[ok][i])} showed session {sid}, which the "
                    "recommender "
                    f"scored {float(s[i])!r} ({int(hidden.sum())} such items): -inf and nan mean never show"
                )
    return None
