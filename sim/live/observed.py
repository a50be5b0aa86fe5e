"""An observed series laid over a live session (the terminal UI's ``o`` key, issue 61): the file read as
``agora fit`` reads it (:func:`sim.store.observed.read_observed`), each column matched to a measure of the
session it is drawn against.

What a person types is one line (:func:`observed_request`)::

    PATH [time=COLUMN] [tick=DURATION] [COLUMN=MEASURE ...]

``time=`` is ``agora fit``'s ``--time`` (the time column of a table recorded in its own time); ``tick=`` is how long
one tick of the world is taken to last (default: the world's minutes per tick; ``tick=1d`` reads a world of
10-minute ticks a day a tick, as ``agora fit --tick 1d`` fits it); every other ``COLUMN=MEASURE`` is an
``--observe`` pair (``cases=new``, ``cases=onsets``). A path with spaces is quoted (``"my data.csv"``), or typed
alone.

**Time as the data count it** (issue 77). A table recorded in its own time is read in its rows' own span (weekly
totals as weeks, daily counts as days; rows shorter than the world's tick summed into it), and each row is drawn
at the world tick its time falls on: the series' row ``t`` spans :attr:`ObservedOverlay.period` world ticks from
``start + t * period``. Weekly counts on a world of daily ticks are a point every 7 ticks, compared with the
session's count summed over the same 7 ticks, never with one tick's. Rows whose span is not a whole number of the
world's ticks are refused (one sentence: give ``tick=``).

Which column is drawn against which measure: its name when it is one of the session's measures (a state ``I``,
``reached``, ``new``, ``new.I``, ``onsets``, ``removals``...), or the measure ``COLUMN=MEASURE`` maps it to. A
column that is no measure of the session, cascades (sizes are not a series over time) and every problem of the file
are one sentence (:class:`~sim.errors.AgoraError`), never quoting the file's content. Adoption times (``id,tick``)
become their curve, ``new`` and ``reached``.

Reading is blocking (a file of up to 256 MiB): a front end calls :func:`read_overlay` in a worker thread.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.core.world import World
from sim.errors import BadFileError, BadParameterError
from sim.model.series import is_tick_count, period_sums
from sim.store.observed import read_observed
from sim.store.timeticks import format_duration, parse_duration

#: What one line asks for, as the errors and the UI's prompt say it.
SYNTAX = "PATH [time=COLUMN] [tick=DURATION] [COLUMN=MEASURE ...]"
#: A measure's name (``agora fit``'s ``--observe``: ``new``, ``new.I``, ``beta@household`` is a parameter, not this).
_MEASURE = re.compile(r"[A-Za-z_][A-Za-z0-9_.@-]{0,63}\Z")
#: Column names an error may show (Agora's own; any other header text is shown by its place).
_KNOWN = frozenset(("cases", "depth", "breadth", "size", "run", "id"))


@dataclass(frozen=True)
class ObservedRequest:
    """What to read: the file, and ``agora fit``'s ``time``, ``tick`` and ``observe`` for a table recorded in its
    own time (None, None, (): as the file says)."""

    path: str
    time: str | None = None
    tick: str | None = None
    observe: tuple[tuple[str, str], ...] = ()


def observed_request(text: str) -> ObservedRequest | None:
    """The request of one typed line (:data:`SYNTAX`); None for an empty line (take the observed series off).

    Raises:
        BadParameterError: unbalanced quotes, a word after the path that is not ``NAME=VALUE``, a ``tick`` that
            is no duration, a measure name that is none, a column or ``time``/``tick`` given twice.
    """
    text = text.strip()
    if not text:
        return None
    if os.path.isfile(text):  # a path typed alone, spaces and all
        return ObservedRequest(text)
    try:
        words = shlex.split(text)
    except ValueError:
        raise BadParameterError(
            f"the line has an unclosed quote: give {SYNTAX}, a path with spaces in quotes", fields="observed"
        ) from None
    path, rest = words[0], words[1:]
    time: str | None = None
    tick: str | None = None
    observe: list[tuple[str, str]] = []
    for word in rest:
        name, eq, value = word.rpartition("=") if word.count("=") else ("", "", word)
        name, value = name.strip(), value.strip()
        if not eq or not name or not value:
            raise BadParameterError(
                f"{word[:40]!r} after the path is not NAME=VALUE: give {SYNTAX}, such as cases=new", fields="observe"
            )
        if name in ("time", "tick"):
            if (time if name == "time" else tick) is not None:
                raise BadParameterError(f"{name}= is given twice: give it once", fields=name)
            if name == "tick":
                parse_duration(value)
                tick = value
            else:
                time = value
            continue
        if not _MEASURE.match(value):
            raise BadParameterError(
                f"{name[:40]}={value[:40]} names no measure: give COLUMN=MEASURE, such as cases=new or cases=onsets",
                fields="observe",
            )
        if any(c == name for c, _ in observe):
            raise BadParameterError(f"column {name[:40]!r} is mapped twice: map it once", fields="observe")
        observe.append((name, value))
    return ObservedRequest(path, time, tick, tuple(observe))


@dataclass(frozen=True, eq=False)
class ObservedOverlay:
    """An observed series as a chart draws it.

    Attributes:
        path: the file.
        ticks: int64, its ticks (0: the start), increasing.
        columns: measure -> float64 values at ``ticks``, in the file's order.
        tick: how long one of its ticks lasts (``1d``) for a table read in its own time, else None (the file's
            ticks are the world's).
        first: the name of its tick 0 in the file's own time (``1861-10-30``, ``day 0``), or None.
        mapped: ``(column, measure)`` pairs as the request gave them.
        period: the world ticks one of its ticks spans (1 for a file in the world's ticks; 7 for weekly counts
            on a world of daily ticks, 1,008 on one of 10-minute ticks).
        world_tick: how long a tick of the world is taken to last (its minutes per tick, or the request's
            ``tick=``) for a table read in its own time, else None.
    """

    path: str
    ticks: np.ndarray
    columns: dict[str, np.ndarray]
    tick: str | None = None
    first: str | None = None
    mapped: tuple[tuple[str, str], ...] = ()
    period: int = 1
    world_tick: str | None = None

    @property
    def measures(self) -> tuple[str, ...]:
        return tuple(self.columns)

    def at(self, start: int) -> np.ndarray:
        """The world tick each of its ticks is drawn at, its tick 0 at world tick ``start``."""
        return int(start) + self.ticks * int(self.period)

    def counts_events(self, measure: str) -> bool:
        """Whether ``measure`` counts events over each of its ticks (``new``, ``onsets``...: a row's count is the sum
        of the world ticks it spans), not a level (agents in ``I`` at the row's time)."""
        return is_tick_count(measure)


def _unmatched(path: str, names: Sequence[str], measures: Sequence[str], request: ObservedRequest) -> None:
    """Raise for the first column that is no measure of the session; it is named only when the person typed it
    (an ``observe`` pair) or it is a measure name Agora knows, else by its order (a header is the file's text)."""
    typed = {m: c for c, m in request.observe}
    for i, name in enumerate(names):
        if name in measures:
            continue
        if name in typed:
            said = f"column {typed[name]} (as {name})"
        else:
            said = f"column {name}" if name in _KNOWN else f"its count column {i + 1}"
        listed = ", ".join(measures[:12]) + (", ..." if len(measures) > 12 else "")
        raise BadParameterError(
            f"observation file {path}: {said} is no measure of the session on the chart ({listed}): name the "
            "column after one, or map it with COLUMN=MEASURE, such as cases=new",
            fields="observe",
        )


def read_overlay(
    request: ObservedRequest, world: World | None, states: Sequence[str], measures: Sequence[str] | None
) -> ObservedOverlay:
    """Read ``request``'s file as ``agora fit`` does (with ``world``: its agents bound the counts, its ids name
    adoption times' agents; ``states``: the session's model's, counts of agents too) and check each column
    against ``measures``, the session's (None: not known yet, a session that has not started: not checked; blocking:
    call it in a worker thread). A table recorded in its own time is read in its rows' span, each of its ticks spanning
    :attr:`ObservedOverlay.period` world ticks (see the module docstring); a file in the world's ticks keeps them.

    Raises:
        BadFileError: the file is missing, unreadable or malformed (every reason ``read_observed`` gives), or
            holds cascades, not a series over time.
        BadParameterError: what ``read_observed`` raises for the request (a bad ``time``, ``observe``), a
            ``tick`` that is no duration, rows that span no whole number of the world's ticks, or a column that is
            no measure of the session.
    """
    states = tuple(states)
    minutes = 10 if world is None else int(world.config.get("minutes_per_tick", 10))
    world_seconds = parse_duration(request.tick) if request.tick is not None else max(1, minutes) * 60
    kw: dict[str, Any] = {"time": request.time, "observe": request.observe}
    observed = read_observed(request.path, world, states, **kw)  # in its rows' own span
    recorded = getattr(observed, "recorded", None)
    span = parse_duration(str(recorded["tick"])) if recorded is not None else world_seconds
    if span < world_seconds:  # rows shorter than the world's tick: summed into it
        observed = read_observed(request.path, world, states, tick=format_duration(world_seconds), **kw)
        recorded = getattr(observed, "recorded", None)
        span = world_seconds
    if span % world_seconds:
        whose = "as tick= gives it" if request.tick is not None else "the world's minutes per tick"
        raise BadParameterError(
            f"observation file {request.path}: each row counts {format_duration(span)}, not a whole number of the "
            f"world's ticks of {format_duration(world_seconds)} ({whose}): give tick=DURATION, how long a tick of "
            "the world is taken to last, such as tick=1d",
            fields="tick",
        )
    curve = observed.curve()
    if curve is None:
        raise BadFileError(
            f"observation file {request.path} holds {observed.kind} (their sizes), not a series over time: give a "
            "series (tick,MEASURE,...), adoption times (id,tick) or a table of counts over time"
        )
    columns, ticks, _ = curve
    if not ticks.size:
        raise BadFileError(f"observation file {request.path} has no observation: give at least one row")
    if measures is not None:
        _unmatched(request.path, list(columns), measures, request)
    return ObservedOverlay(
        request.path,
        np.asarray(ticks, dtype=np.int64),
        {m: np.asarray(v, dtype=np.float64) for m, v in columns.items()},
        tick=str(recorded["tick"]) if recorded is not None else None,  # as read: the rows' own span by default
        first=str(recorded["first"]) if recorded is not None else None,
        mapped=request.observe,
        period=span // world_seconds if recorded is not None else 1,
        world_tick=format_duration(world_seconds) if recorded is not None else None,
    )


__all__ = [
    "SYNTAX",
    "ObservedOverlay",
    "ObservedRequest",
    "is_tick_count",
    "observed_request",
    "period_sums",
    "read_overlay",
]
