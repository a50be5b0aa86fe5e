"""A compiled kernel run's report (:mod:`sim.runs.batched`): what one run left in its buffers, made into the fields
``agora run --json`` reports for the engine's run of the same seed (:func:`summary`; ``tests/test_batched.py``
compares the two field for field)."""

from __future__ import annotations

import math
from itertools import accumulate
from typing import Any, NamedTuple, Protocol

import numpy as np

from sim.core.cascade import empty_measures
from sim.model.imports import IMPORTED
from sim.runs.reports import RunEntry, RunSeries, no_totals


class Buffers(Protocol):
    """What a report reads of a kernel run's buffers (:class:`sim.runs.batched._Buffers`): where the run ended
    (``counts``) and its adoption forest, row by row (agent, round, generation, parent, subtree size, tree)."""

    counts: np.ndarray
    agents: np.ndarray
    rounds: np.ndarray
    gens: np.ndarray
    parents: np.ndarray
    subtree: np.ndarray
    tree: np.ndarray


class Ensemble(NamedTuple):
    """What every run of one batched ensemble shares: the world's agents ``n``, the probe's ``session``, the
    ticks a run may take (``limit``), whether it runs until done and the ``max_ticks`` it names then, and the
    round its first tick runs (``first``: 0, the seeding, for a run from seeds; the round after the state's
    for a run from a state)."""

    n: int
    session: int
    limit: int
    until_done: bool
    max_ticks: int
    first: int = 0


class Outcome(NamedTuple):
    """What one kernel run left, beside its buffers: its adopters (``size``), ``attempts`` and ``exposed``;
    ``rounds``: the rounds run; ``sent``: the transmitting agents summed over them (None: a cascade's, whose
    adopters transmit in the round after theirs); ``cured``: an epidemic's recoveries per round (None: a
    cascade, whose states are ``susceptible`` and ``adopted``); ``gens``: each adopter's generation in the
    forest; ``onsets``: ``seir``'s entries into I per round (None: a model without an exposed stage)."""

    size: int
    attempts: int
    exposed: int
    rounds: int
    finished: bool
    sent: int | None
    cured: np.ndarray | None
    gens: np.ndarray
    onsets: np.ndarray | None = None
    #: An epidemic's imported agents per round (None: no importation, :mod:`sim.model.imports`).
    imported: np.ndarray | None = None


def outcome(
    buf: Buffers, per_round: np.ndarray | None, rounds_cap: int, latent: bool = False, imports: bool = False
) -> Outcome:
    """What the kernel run just made in ``buf`` left (``per_round``: an epidemic's new infections, recoveries,
    onsets and imported agents per round, the onsets kept where ``latent``, a ``seir`` run's, the imported where
    ``imports``; None: a cascade's)."""
    c = buf.counts
    if per_round is not None:
        onsets = per_round[2] if latent else None
        imported = per_round[3] if imports else None
        return Outcome(
            int(c[0]), int(c[1]), int(c[2]), int(c[4]), bool(c[5]), int(c[3]), per_round[1], buf.gens, onsets, imported
        )
    size = int(c[0])
    last = int(buf.rounds[size - 1]) if size else 0  # the last round with adoptions (0: only the seeds)
    finished = last + 1 <= rounds_cap
    rounds = last + 1 if finished else rounds_cap
    # sent None: adopters of rounds 0 .. rounds-1 transmitted, counted by summary; a cascade's generation is
    # its round.
    return Outcome(size, int(c[1]), int(c[2]), rounds, finished, None, None, buf.rounds)


def _seir_states(n: int, curve: list[int], cured: np.ndarray, onsets: np.ndarray) -> RunSeries:
    """``seir``'s state counts per round from its infections so far (``curve``: the seeds and round 0's imported
    agents, infectious, and the agents exposed or imported since), its recoveries and its entries into I per
    round (onsets from E, and imported agents after round 0)."""
    removed = list(accumulate(cured.tolist()))
    turned = list(accumulate(onsets.tolist()))
    seeds = curve[0] if curve else 0
    return {
        "S": [n - c for c in curve],
        "E": [c - seeds - t for c, t in zip(curve, turned)],
        "I": [seeds + t - r for t, r in zip(turned, removed)],
        "R": removed,
    }


def summary(buf: Buffers, run: Outcome, ensemble: Ensemble, seed: int, seconds: float) -> RunEntry:
    """A run's report from the kernel's buffers, field for field what ``sim.runs.runner.run_entry``
    reports for the same run (session seed ``seed``) on the engine."""
    from sim.runs.kernels import tally  # noqa: PLC0415 - Numba loads only for a batched ensemble

    size, attempts, exposed, rounds, finished, sent, cured, gens, onsets, imported = run
    n, session, limit, until_done, max_ticks, first = ensemble
    series, trees, virality, scalars = tally(
        buf.rounds, gens, buf.parents, buf.subtree, buf.tree, buf.agents, size, rounds
    )
    # Lists, not arrays: a run's series is a few rounds long, where numpy's per-call cost is the whole cost.
    new = series[0].tolist()
    curve = list(accumulate(new))
    came = [] if imported is None else imported[: len(new)].tolist()  # agents from outside, per round
    seeds = new[0] - (came[0] if came else 0)
    outside = sum(came)
    if sent is None:
        sent = curve[rounds - 1] if rounds else 0
    states, entries = _counts(n, new, curve, came, cured, onsets)
    out: RunEntry = {
        "ticks": int((rounds - first + 1 if finished else limit) if until_done else limit),
        "seconds": round(seconds, 4),
        **no_totals(),
        "session": session,
        "status": "completed" if (finished or not until_done) else "max-ticks",
        "session_status": "completed" if finished else "running",
        "ended": finished,
        "reached": size,
        "exposed": exposed,
        "graph_reached": max(0, size - seeds - outside),
        "feed_reached": 0,
        "feed_exposed": 0,
        "seeds": seeds,
        "attempts": attempts,
        "rounds": int(rounds),
        "peak_tick": new.index(max(new)),  # the first round with the most new adopters (numpy's argmax)
        "reproduction_number": round((size - seeds - outside) / max(1, sent), 4),
        "edges_removed": 0,
        "edges_added": 0,
        "new_per_tick": new,
        "series": {
            "tick": list(range(rounds + 1)),
            **states,
            "reached": list(curve),
            "new": list(new),
            "depth": series[1].tolist(),
            "breadth": series[2].tolist(),
            **entries,
            **({IMPORTED: came} if imported is not None else {}),
        },
        "series_columns": {
            "states": list(states),
            "measures": ["reached", "new", "depth", "breadth", *entries, *([IMPORTED] if imported is not None else [])],
            "variables": [],
        },
        "error": None,
        "where": None,
        "traceback": None,
        "cascade": _cascade(size, trees, virality, scalars),
        "seed": seed,
    }
    if until_done and not finished:
        out["stopped"] = f"max ticks ({max_ticks}) reached before every session finished"
    return out


def _counts(
    n: int, new: list[Any], curve: list[Any], came: list[Any], cured: np.ndarray | None, onsets: np.ndarray | None
) -> tuple[RunSeries, RunSeries]:
    """A run's state counts and entries per round (:mod:`sim.model.series`) from its new adopters per round, their
    running sum, its imported agents per round, and an epidemic's recoveries and onsets (``cured`` None: a
    cascade's)."""
    states: RunSeries
    entries: RunSeries
    zeros: list[float | None] = [0] * len(new)
    if cured is None:
        states = {"susceptible": [n - c for c in curve], "adopted": curve}
        # Entries per tick (sim.model.series): nobody enters susceptible; onsets are the adoptions.
        entries = {"new.susceptible": zeros, "new.adopted": list(new), "onsets": list(new)}
    elif onsets is not None:
        states = _seir_states(n, curve, cured, onsets)
        # Entries per tick: the seeds (and round 0's imported agents) enter I at tick 0, the newly reached enter E,
        # onsets move E to I (imported agents enter I: counted among the round's onsets by the kernel).
        turned, cured_list = onsets.tolist(), cured.tolist()
        into_i = [t + (new[0] if i == 0 else 0) for i, t in enumerate(turned)]
        into_e = [0 if i == 0 else v - (came[i] if came else 0) for i, v in enumerate(new)]
        entries = {
            "new.S": zeros,
            "new.E": into_e,
            "new.I": into_i,
            "new.R": cured_list,
            "onsets": into_i,
            "removals": cured_list,
        }
    else:
        cured_list = cured.tolist()
        removed = list(accumulate(cured_list))
        states = {"S": [n - c for c in curve], "I": [c - r for c, r in zip(curve, removed)], "R": removed}
        entries = {"new.S": zeros, "new.I": list(new), "new.R": cured_list, "onsets": list(new), "removals": cured_list}
    return states, entries


def counts_only(run: Outcome, new: np.ndarray, n: int, seed: int, column: str) -> RunEntry:
    """An epidemic run's (``run.cured`` set) series of one ``column`` of counts alone, with its ticks and imported
    agents (``new``: its new infections per round, the kernel's), as :func:`summary` counts it: a particle
    filter's blocks of a few ticks (:mod:`sim.runs.backtest.filtering`) read one column of runs hundreds of ticks
    long, where making every column's list would be most of their cost. A column that is not a count of states
    or entries (the forest's depth and breadth) is not there."""
    assert run.cured is not None
    curve = np.cumsum(new)
    cured = np.asarray(run.cured[: new.size], dtype=np.int64)
    removed = np.cumsum(cured)
    came = None if run.imported is None else np.asarray(run.imported[: new.size], dtype=np.int64)
    zeros = np.zeros(new.size, dtype=np.int64)
    counts: dict[str, np.ndarray]
    if run.onsets is not None:
        onsets = np.asarray(run.onsets[: new.size], dtype=np.int64)
        seeds = int(curve[0]) if curve.size else 0
        turned = np.cumsum(onsets)
        into_i = onsets.copy()
        if into_i.size:
            into_i[0] += new[0]
        into_e = new - (came if came is not None else 0)
        if into_e.size:
            into_e[0] = 0
        counts = {"S": n - curve, "E": curve - seeds - turned, "I": seeds + turned - removed, "R": removed}
        counts |= {"new.S": zeros, "new.E": into_e, "new.I": into_i, "new.R": cured, "onsets": into_i}
    else:
        counts = {"S": n - curve, "I": curve - removed, "R": removed, "new.S": zeros, "new.I": new, "onsets": new}
        counts["new.R"] = cured
    counts |= {"removals": cured, "reached": curve, "new": new}
    series: RunSeries = {"tick": list(range(run.rounds + 1))}
    if column in counts:
        series[column] = counts[column].tolist()
    if came is not None:
        series[IMPORTED] = came.tolist()
    return RunEntry(seed=seed, error=None, rounds=int(run.rounds), series=series)


def _cascade(size: int, trees: np.ndarray, virality: np.ndarray, scalars: np.ndarray) -> dict[str, Any]:
    """The run's ``cascade`` measures from :func:`sim.runs.kernels.tally`'s, what
    :func:`sim.core.cascade._measures` reports for the same forest (the forest's virality summed with
    ``math.fsum`` over its trees of two agents or more, weighted by their sizes)."""
    if size == 0:
        return empty_measures()
    sizes, vir = trees[:, 0].tolist(), virality.tolist()
    big = [(s, v) for s, v in zip(sizes, vir) if s >= 2]
    total = sum(s for s, _ in big)
    forest_v = math.fsum([s * v for s, v in big]) / total if total else 0.0
    pick, depth, breadth, pick_depth, pick_breadth = scalars[[2, 0, 1, 3, 4]].tolist()
    largest = vir[pick]
    return {
        "size": int(size),
        "trees": len(sizes),
        "depth": depth,
        "max_breadth": breadth,
        "structural_virality": float(forest_v),
        "largest_tree": {
            "size": sizes[pick],
            "depth": pick_depth,
            "max_breadth": pick_breadth,
            "structural_virality": largest if math.isfinite(largest) else 0.0,
        },
        "by_feed": 0.0,
    }
