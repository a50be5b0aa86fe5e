"""What was seen of a spread, as values (:mod:`sim.store.observed` reads them from files): a series of measures
per tick, cascades (their sizes, and shapes when the trees were given), or adoption times. What depends on the
kind is theirs: whether an observation model applies (``per_tick``), how a fit's report describes it, its curve
over time, and what the exact likelihood reads of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np


@dataclass(frozen=True)
class ObservedSeries:
    """Measures seen at some ticks.

    Attributes:
        path: the file.
        ticks: int64, strictly increasing, >= 0.
        columns: measure name -> float64 values at ``ticks``, in the file's order.
        recorded: how a file's own time became ticks (its time column, the tick's length, the first and last
            ticks' names, whether it was a line list), for a file read with a time column; else None.
        imported: the imported cases at every tick from 0 to the last (int64; 0 where the file has no row), read
            from the column a fit's ``imported`` names (:mod:`sim.model.imports`); None without one.
        labels: each tick's name from 0 to the last, as the file names time (``"17"``, ``"1861-10-30"``), for a
            file read with a time column; else empty.
        tick_seconds: a tick's length, for a file read with a time column; else None.
    """

    path: str
    ticks: np.ndarray
    columns: dict[str, np.ndarray]
    recorded: dict[str, Any] | None = None
    imported: np.ndarray | None = None
    labels: tuple[str, ...] = ()
    tick_seconds: int | None = None
    kind: ClassVar[str] = "series"
    #: Counts per tick: what an observation model (a reporting fraction, a delay, channels, people) applies to.
    per_tick: ClassVar[bool] = True

    def describe(self, columns: Sequence[str] | None = None) -> dict[str, Any]:
        """What a fit's report says of it: its file, kind, how its time was read, the columns fitted (``columns``:
        those picked; default all) and its ticks."""
        return {**_described(self), "columns": list(columns or self.columns), "ticks": int(self.ticks.size)}

    def curve(self) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, Any] | None]:
        """Its columns, ticks and reading as a curve over time (the TUI's overlay draws it)."""
        return dict(self.columns), self.ticks, self.recorded

    def likelihood_data(self) -> None:
        """What the exact likelihood reads of it: nothing (a series has no adoption times)."""
        return None

    def dense(self, column: str) -> np.ndarray:
        """``column``'s counts at every tick from 0 to the last (float64; 0 at a tick the file has no row in)."""
        out = np.zeros(int(self.ticks[-1]) + 1 if self.ticks.size else 0)
        out[self.ticks] = self.columns[column]
        return out

    def truncated(self, cut: int, label: str | None = None) -> ObservedSeries:
        """The observation up to tick ``cut`` (its imported cases too); ``label`` the cut's name in ``recorded``."""
        keep = self.ticks <= cut
        recorded = None if self.recorded is None or label is None else {**self.recorded, "last": label}
        if recorded is None:
            recorded = self.recorded
        imported = None if self.imported is None else self.imported[: cut + 1].copy()
        return ObservedSeries(
            self.path,
            self.ticks[keep],
            {c: v[keep] for c, v in self.columns.items()},
            recorded,
            imported,
            self.labels[: cut + 1],
            self.tick_seconds,
        )


@dataclass(frozen=True)
class ObservedCascades:
    """Cascades seen: their sizes, and their shapes when the trees were given.

    Attributes:
        path: the file.
        sizes: int64, agents per cascade (>= 1), cascades in run order.
        depth: int64 per cascade, its largest generation (generations - 1), or None (sizes only).
        virality: float64 structural virality per cascade (of the forest, as the engine's
            ``cascade.structural_virality``), or None.
        roots: int64 per cascade, its generation-0 agents, or None.
        times: each cascade's adoption times (its agents and their ticks), when the trees were read with a
            world; None otherwise. The exact likelihood of ``ic`` and ``si`` multiplies theirs.
    """

    path: str
    sizes: np.ndarray
    depth: np.ndarray | None
    virality: np.ndarray | None
    roots: np.ndarray | None
    times: tuple[ObservedTimes, ...] | None = None
    kind: ClassVar[str] = "cascades"
    per_tick: ClassVar[bool] = False

    def describe(self, columns: Sequence[str] | None = None) -> dict[str, Any]:
        """What a fit's report says of it: its file, kind, how many cascades, and whether with trees."""
        return {**_described(self), "cascades": int(self.sizes.size), "trees": self.depth is not None}

    def curve(self) -> None:
        """No curve over time: cascades are sizes (and shapes), not counts per tick."""
        return None

    def likelihood_data(self) -> tuple[ObservedTimes, ...] | None:
        """What the exact likelihood reads of it: each tree's adoption times (None: sizes only, or read without
        the world)."""
        return self.times


@dataclass(frozen=True)
class ObservedTimes:
    """When agents adopted.

    Attributes:
        path: the file.
        agents: int64 internal agent indices (``world.indices_of`` of the file's ids), in file order, distinct.
        ticks: int64 adoption tick of each (0: seeded at the start); at least one 0.
    """

    path: str
    agents: np.ndarray
    ticks: np.ndarray
    kind: ClassVar[str] = "times"
    per_tick: ClassVar[bool] = False

    def describe(self, columns: Sequence[str] | None = None) -> dict[str, Any]:
        """What a fit's report says of it: its file, kind, its adopters and last tick."""
        last = int(self.ticks.max()) if self.ticks.size else 0
        return {**_described(self), "adopters": int(self.agents.size), "last_tick": last}

    def curve(self) -> tuple[dict[str, np.ndarray], np.ndarray, None]:
        """The adoption curve: ``new`` and ``reached`` at every tick from 0 to the last."""
        last = int(self.ticks.max()) if self.ticks.size else 0
        new = np.bincount(self.ticks, minlength=last + 1).astype(np.float64)
        return {"new": new, "reached": np.cumsum(new)}, np.arange(last + 1, dtype=np.int64), None

    def likelihood_data(self) -> ObservedTimes:
        """What the exact likelihood reads of it: itself."""
        return self

    def tick_of(self, n: int) -> np.ndarray:
        """Each of ``n`` agents' adoption tick (int64), -1 for an agent that never adopted."""
        out = np.full(int(n), -1, dtype=np.int64)
        out[self.agents] = self.ticks
        return out


Observed = ObservedSeries | ObservedCascades | ObservedTimes


def _described(observed: Observed) -> dict[str, Any]:
    """The part of every observation's description: its file, its kind, and how its own time was read."""
    out: dict[str, Any] = {"path": observed.path, "kind": observed.kind}
    recorded = getattr(observed, "recorded", None)
    if recorded:
        out["recorded"] = recorded
    return out


__all__ = ["Observed", "ObservedCascades", "ObservedSeries", "ObservedTimes"]
