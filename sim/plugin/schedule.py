"""Transmission that changes in time: change points of a per-edge parameter (issue 75).

A per-edge parameter (``beta``, ``p``; :class:`sim.plugin.Param` with ``per_edge``) may be multiplied from a
round on: ``beta~20=0.5`` halves ``beta`` in every layer from round 20 (the first round is 1: the seeding is
round 0), ``beta@school~22=0`` closes the school layer from round 22 and ``beta@school~30=1`` opens it again at
round 30. A key's multiplier holds from its round until the next key of the same parameter and layer (it is not
cumulative); the whole parameter's and a layer's multiply each other. A value so scaled is capped at the
parameter's maximum (a probability at 1). The multipliers are parameters like any other: a fit fits them
(``--param beta~20=0.1..2``), a calendar file gives them (:mod:`sim.store.calendar`).

The engine's :meth:`sim.model.context.StepContext.edge_param` and the compiled kernels' law
(:func:`sim.runs.epidemic_kernels.epidemic_law`) both take a round's values from :func:`values_at`, so that they
are the same floating-point numbers and a kernel run stays the engine's run, field for field.
"""

from __future__ import annotations

import functools
import re
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

#: A change point's key: ``NAME~ROUND`` or ``NAME@LAYER~ROUND``.
TIME_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_]*(?:@[A-Za-z][A-Za-z0-9_]{0,31})?)~([0-9]{1,7})")
#: The latest round a change point may name.
MAX_ROUND = 1_000_000
#: The largest multiplier.
MAX_MULTIPLIER = 1000.0


def split_time(key: str) -> tuple[str, int | None]:
    """``("beta@school", 22)`` for ``"beta@school~22"``; ``(key, None)`` for a key without a round."""
    match = TIME_KEY.fullmatch(key)
    return (match.group(1), int(match.group(2))) if match else (key, None)


def has_changes(params: Mapping[str, Any]) -> bool:
    """Whether ``params`` holds a change point (a key ``NAME~ROUND``)."""
    return any("~" in key for key in params)


@dataclass(frozen=True)
class Schedule:
    """The change points of one parameter: the rounds where a multiplier changes (ascending) and, for each
    segment between them (segment 0 before the first), the whole parameter's multiplier and each named
    layer's."""

    name: str
    rounds: tuple[int, ...]
    whole: tuple[float, ...]
    layers: dict[str, tuple[float, ...]]

    def segment(self, round_: int) -> int:
        """The segment round ``round_`` is in."""
        return bisect_right(self.rounds, round_)

    @property
    def segments(self) -> int:
        return len(self.rounds) + 1


def _held(keys: dict[int, float], rounds: tuple[int, ...]) -> tuple[float, ...]:
    """Each segment's multiplier from ``keys`` (round -> multiplier): the latest key at or before its start."""
    if not keys:
        return (1.0,) * (len(rounds) + 1)
    at = np.fromiter(keys, dtype=np.int64, count=len(keys))
    order = np.argsort(at, kind="stable")
    values = np.fromiter(keys.values(), dtype=np.float64, count=len(keys))[order]
    which = np.searchsorted(at[order], np.array((0, *rounds), dtype=np.int64), side="right") - 1
    return tuple(np.where(which >= 0, values[np.maximum(which, 0)], 1.0).tolist())


@functools.lru_cache(maxsize=256)
def _layout(keys: tuple[str, ...], name: str) -> tuple[tuple[int, ...], tuple[tuple[str, str, int], ...]]:
    """The change points among ``keys`` of parameter ``name``: their rounds (ascending, distinct) and, for each,
    ``(key, layer, round)`` (layer "": the whole parameter). Kept: a fit asks it of every particle's keys."""
    found = []
    for key in keys:
        base, at = split_time(key)
        param, _, layer = base.partition("@")
        if at is not None and param == name:
            found.append((key, layer, at))
    return tuple(sorted({at for _, _, at in found})), tuple(found)


def schedule_of(params: Mapping[str, Any], name: str) -> Schedule | None:
    """``name``'s change points in ``params`` (None: it has none)."""
    rounds, found = _layout(tuple(key for key in params if "~" in key), name)
    if not found:
        return None
    groups: dict[str, dict[int, float]] = {}
    for key, layer, at in found:
        groups.setdefault(layer, {})[at] = float(params[key])
    whole = groups.pop("", {})
    return Schedule(name, rounds, _held(whole, rounds), {k: _held(v, rounds) for k, v in groups.items()})


def values_at(
    params: Mapping[str, Any], schedule: Schedule, layers: tuple[str, ...], segment: int, cap: float | None
) -> tuple[float, list[float]]:
    """The parameter's value for an edge in no layer and its value in each of ``layers`` in ``segment`` of
    ``schedule``: the given values times the segment's multipliers, capped at ``cap`` (:func:`segment_values` of
    that segment alone: the engine's numbers are the kernels' by being the same code)."""
    base, values = _values(params, schedule, layers, cap, slice(segment, segment + 1))
    return float(base[0]), values[0].tolist()


def segment_values(
    params: Mapping[str, Any], schedule: Schedule, layers: tuple[str, ...], cap: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`values_at` of every segment at once: the values for an edge in no layer ``(segments,)`` and in each
    layer ``(segments, layers)``, made by numpy for a schedule of many segments (a random walk's: one a round)."""
    return _values(params, schedule, layers, cap, slice(None))


def _values(
    params: Mapping[str, Any], schedule: Schedule, layers: tuple[str, ...], cap: float | None, which: slice
) -> tuple[np.ndarray, np.ndarray]:
    """The given values times the multipliers of the segments ``which`` (whole, then the layer's), capped."""
    name = schedule.name
    given = float(params[name])
    m = np.asarray(schedule.whole, dtype=np.float64)[which]
    top = np.inf if cap is None else float(cap)
    base = np.minimum(top, given * m)
    values = np.empty((m.size, len(layers)), dtype=np.float64)
    for i, lay in enumerate(layers):
        v = float(params.get(f"{name}@{lay}", given)) * m
        own = schedule.layers.get(lay)
        if own is not None:
            v = v * np.asarray(own, dtype=np.float64)[which]
        values[:, i] = np.minimum(top, v)
    return base, values


def walk_schedule(params: Mapping[str, Any], name: str, multipliers: np.ndarray) -> Schedule:
    """The schedule of a random walk's ``multipliers`` (rounds ``1 ..``; :mod:`sim.runs.fit.walk`) with the layers'
    change points in ``params``: a segment a round, as :func:`schedule_of` makes it of the walk's keys (the same
    multipliers at every round the runs reach; the whole parameter's own keys are in the multipliers already)."""
    rounds = tuple(range(1, multipliers.size + 1))
    layers: dict[str, dict[int, float]] = {}
    for key, layer, at in _layout(tuple(key for key in params if "~" in key), name)[1]:
        if layer:
            layers.setdefault(layer, {})[at] = float(params[key])
    whole = (1.0, *multipliers.tolist())
    return Schedule(name, rounds, whole, {k: _held(v, rounds) for k, v in layers.items()})
