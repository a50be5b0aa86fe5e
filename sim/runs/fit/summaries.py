"""Summary statistics: what a fit compares between the data and each simulation.

- **A series** (``tick`` and state columns, or ``tick,new``): every observed column at every observed tick, as
  the simulation's run report has it (``series``: the model's states, ``reached``, ``new``, ``depth``,
  ``breadth``, ``new.STATE``, ``onsets``, ``removals``). A run that ended before a tick keeps its last value
  there (the per-tick counts ``new``, ``new.STATE``, ``onsets``, ``removals``: 0). Each simulation runs
  to the last observed tick.
- **A set of cascades**: the distribution of their sizes (the mean and the 10, 25, 50, 75 and 90 % quantiles
  of ``log(1 + size)``), and where trees are given the mean and median depth and the mean structural
  virality. A simulation is as many runs as there are observed cascades (``replicates``), so that simulated
  and observed statistics come from samples of the same size.
- **Adoption times** of a model without an exact likelihood: the adoption curve (``new`` and ``reached`` per
  tick) made from them, as a series.

The distance between two vectors of statistics (:mod:`sim.runs.fit.abc`) weighs each by one over its spread among
the simulations, so statistics of different units count alike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.errors import BadParameterError
from sim.model.series import count_measures, is_tick_count
from sim.runs.reports import RunEntry

if TYPE_CHECKING:
    from sim.runs.fit.observed import Observed, ObservedCascades, ObservedSeries, ObservedTimes

#: The measures every run's series has beside the model's states.
SERIES_MEASURES = ("reached", "new", "depth", "breadth")
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


class Summary:
    """The statistics of one kind of observation: ``names`` and ``observed`` values, the ``steps`` each run
    takes (None: until its cascade ends), the runs a simulation makes (``replicates``); called with a
    simulation's runs, the same statistics of them."""

    kind = ""
    names: list[str]
    observed: np.ndarray
    steps: int | None = None
    replicates: int = 1

    def __call__(self, runs: list[RunEntry]) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


class SeriesSummary(Summary):
    """Every column of an observed series at its ticks."""

    kind = "series"

    def __init__(self, columns: dict[str, np.ndarray], ticks: np.ndarray, states: tuple[str, ...], model: str) -> None:
        known = (*states, *SERIES_MEASURES, *count_measures(tuple(states)))
        for name in columns:
            if name not in known:  # not named: a header is the file's text, and errors never show it
                raise BadParameterError(
                    f"the observed series has a column that model {model!r} does not report: its series are "
                    f"{', '.join(known)} (columns picks the ones to fit)",
                    fields="columns",
                )
        if not columns:
            raise BadParameterError("the observed series has no column beside tick: give at least one (e.g. I, new)")
        self.columns = list(columns)
        self.ticks = np.asarray(ticks, dtype=np.int64)
        self.steps = int(self.ticks.max()) + 1
        self.names = [f"{c}@{t}" for c in self.columns for t in self.ticks.tolist()]
        self.observed = np.concatenate([np.asarray(columns[c], dtype=np.float64) for c in self.columns])

    def curves(self, runs: list[RunEntry]) -> dict[str, np.ndarray]:
        """Each column of each run at the observed ticks, ``(runs, ticks)``."""
        out: dict[str, np.ndarray] = {}
        for c in self.columns:
            rows = []
            for run in runs:
                values = np.asarray(run["series"][c], dtype=np.float64)
                pad = 0.0 if is_tick_count(c) or values.size == 0 else float(values[-1])
                at = np.full(self.ticks.size, pad)
                inside = self.ticks < values.size
                at[inside] = values[self.ticks[inside]]
                rows.append(at)
            out[c] = np.array(rows)
        return out

    def __call__(self, runs: list[RunEntry]) -> np.ndarray:
        curves = self.curves(runs)
        return np.concatenate([curves[c].mean(axis=0) for c in self.columns])


def _size_stats(sizes: np.ndarray) -> list[float]:
    logs = np.log1p(np.asarray(sizes, dtype=np.float64))
    return [float(logs.mean()), *np.quantile(logs, QUANTILES).tolist()]


class CascadeSummary(Summary):
    """The distribution of a set of cascades' sizes (and depths and viralities, where trees were given)."""

    kind = "cascades"

    def __init__(self, observed: ObservedCascades, replicates: int | None) -> None:
        count = int(observed.sizes.size)
        self.replicates = count if replicates is None else replicates
        self.trees = observed.depth is not None and observed.virality is not None
        self.names = ["mean log(1+size)", *(f"q{int(q * 100)} log(1+size)" for q in QUANTILES)]
        values = _size_stats(observed.sizes)
        if self.trees:
            assert observed.depth is not None and observed.virality is not None
            self.names += ["mean depth", "median depth", "mean virality"]
            values += self._tree_stats(observed.depth, observed.virality)
        self.observed = np.array(values)

    @staticmethod
    def _tree_stats(depth: np.ndarray, virality: np.ndarray) -> list[float]:
        vir = np.nan_to_num(np.asarray(virality, dtype=np.float64), nan=0.0)
        d = np.asarray(depth, dtype=np.float64)
        return [float(d.mean()), float(np.median(d)), float(vir.mean())]

    def sizes(self, runs: list[RunEntry]) -> np.ndarray:
        return np.array([r["reached"] for r in runs], dtype=np.int64)

    def __call__(self, runs: list[RunEntry]) -> np.ndarray:
        values = _size_stats(self.sizes(runs))
        if self.trees:
            measures = [r.get("cascade") or {} for r in runs]
            depth = np.array([m.get("depth", 0) for m in measures], dtype=np.float64)
            vir = np.array([m.get("structural_virality", 0.0) for m in measures], dtype=np.float64)
            values += self._tree_stats(depth, vir)
        return np.array(values)


def times_series(times: ObservedTimes) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The adoption curve of adoption times: ``new`` and ``reached`` at every tick from 0 to the last."""
    last = int(times.ticks.max()) if times.ticks.size else 0
    new = np.bincount(times.ticks, minlength=last + 1).astype(np.float64)
    return {"new": new, "reached": np.cumsum(new)}, np.arange(last + 1, dtype=np.int64)


def summary_for(
    observed: Observed,
    states: tuple[str, ...],
    model: str,
    replicates: int | None,
    columns: tuple[str, ...] | None = None,
) -> Summary:
    """The statistics a fit of ``model`` (whose states are ``states``) compares for ``observed`` (a series:
    only ``columns`` of it, when named).

    Raises:
        BadParameterError: a named column the series does not have; columns named for an observation that is
            not a series.
    """
    kind = observed.kind
    if columns is not None and kind != "series":
        raise BadParameterError(
            f"columns picks columns of a series, and the observation is {kind}: drop it", fields="columns"
        )
    if kind == "series":
        series: ObservedSeries = observed  # type: ignore[assignment]
        have = dict(series.columns)
        if columns is not None:
            missing = [c for c in columns if c not in have]
            if missing:
                raise BadParameterError(
                    f"the observed series has no column {missing[0]!r}: its columns are {', '.join(have)}"
                )
            have = {c: have[c] for c in columns}
        out: Summary = SeriesSummary(have, series.ticks, states, model)
    elif kind == "cascades":
        out = CascadeSummary(observed, replicates)  # type: ignore[arg-type]
        return out
    else:
        curve, ticks = times_series(observed)  # type: ignore[arg-type]
        out = SeriesSummary(curve, ticks, states, model)
    if replicates is not None:
        out.replicates = replicates
    return out
