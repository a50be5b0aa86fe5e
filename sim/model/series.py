"""Per-tick series of a propagation session: the count of agents in each state, ``reached`` and ``new``,
and the moments of each continuous variable.

Series are a by-product of the tick. A session keeps the count of agents in each of its model's states
(``state_counts``) up to date from the agents that changed state in the round — two ``bincount`` calls
over the changed agents, never a pass over all N — and appends the counts to preallocated arrays that
grow by doubling. ``reached`` and ``new`` come from the session's adoption curve. Tick 0 is the moment
right after seeding; tick t the end of round t. At every tick the state counts sum to the number of agents.

Continuous per-agent variables (float columns a model declares) are recorded as four measures each,
``NAME.mean``, ``NAME.std``, ``NAME.min`` and ``NAME.max`` (one pass over the column per tick).

The measures of one series, in order: the state names, ``reached``, ``new``, ``depth`` and ``breadth`` (the
cascade forest's largest generation so far and most agents in one generation so far, for a model that
names sources: ``sim.core.cascade``), then the variable moments.

A series says which of its columns are which (:class:`SeriesColumns`): the **states** (the model's, summing to
the number of agents at every tick), the **measures** (``reached``, ``new``, the cascade's ``depth`` and
``breadth``, a counter-message's ``counter.reached``...: counts that are not states) and the **variables**
(the moments of continuous variables, ``opinion.mean``). A run's JSON carries it as ``series_columns``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

#: The measures every series has beside its states.
REACHED, NEW = "reached", "new"
#: The cascade forest's measures (a model that names sources only): its largest generation so far and the
#: most agents in one generation so far (``sim.core.cascade``).
DEPTH, BREADTH = "depth", "breadth"
#: The four moments recorded per continuous variable, in order.
MOMENTS = ("mean", "std", "min", "max")


def variable_moments(values: np.ndarray) -> np.ndarray:
    """``[mean, std, min, max]`` of one variable's column (population std; NaN for an empty column)."""
    if values.size == 0:
        return np.full(4, np.nan)
    v = values.astype(np.float64, copy=False)
    return np.array([v.mean(), v.std(), v.min(), v.max()])


class SeriesRecorder:
    """The per-tick rows of one session, in arrays that grow by doubling.

    ``counts`` is (ticks, states) int64; ``moments`` is (ticks, 4 * variables) float64.
    """

    __slots__ = ("_counts", "_moments", "length", "variables", "width")

    def __init__(self, states: int, variables: tuple[str, ...] = (), capacity: int = 64) -> None:
        self.width = int(states)
        self.variables = tuple(variables)
        self.length = 0
        self._counts = np.zeros((max(1, capacity), self.width), dtype=np.int64)
        self._moments = np.zeros((max(1, capacity), 4 * len(self.variables)), dtype=np.float64)

    def append(self, counts: np.ndarray, moments: np.ndarray | None = None) -> None:
        """Add one tick: the state counts and (with variables) their moments, concatenated in order."""
        if self.length == self._counts.shape[0]:
            cap = 2 * self.length
            self._counts = np.resize(self._counts, (cap, self.width))
            self._moments = np.resize(self._moments, (cap, self._moments.shape[1]))
        self._counts[self.length] = counts
        if self.variables:
            self._moments[self.length] = moments
        self.length += 1

    @property
    def counts(self) -> np.ndarray:
        """(ticks, states) int64, a view of the recorded rows."""
        return self._counts[: self.length]

    @property
    def moments(self) -> np.ndarray:
        """(ticks, 4 * variables) float64, a view of the recorded rows."""
        return self._moments[: self.length]

    @classmethod
    def restore(cls, counts: np.ndarray, moments: np.ndarray | None, variables: tuple[str, ...] = ()) -> SeriesRecorder:
        """A recorder holding stored rows (a session loaded from a world file or a snapshot)."""
        rec = cls(counts.shape[1], variables, capacity=max(64, 2 * counts.shape[0]))
        rec._counts[: counts.shape[0]] = counts
        if variables and moments is not None:
            rec._moments[: counts.shape[0]] = moments
        rec.length = counts.shape[0]
        return rec


def measure_names(states: tuple[str, ...], variables: tuple[str, ...] = (), cascade: bool = False) -> list[str]:
    """The measures of a series, in order (see the module docstring); ``cascade`` for a model that names sources."""
    tree = [DEPTH, BREADTH] if cascade else []
    return [*states, REACHED, NEW, *tree, *(f"{v}.{m}" for v in variables for m in MOMENTS)]


def series_dict(session: Any) -> dict[str, list]:
    """One session's series as ``{"tick": [...], measure: [...], ...}`` (plain lists, JSON-ready).

    Ticks count from the session's start (0: after seeding). A session restored from a file written
    before series were recorded starts at the round it was restored at (``series_from``).
    """
    rec: SeriesRecorder | None = session.series
    if rec is None or rec.length == 0:
        return {"tick": []}
    start = int(session.series_from)
    length = rec.length
    curve = np.asarray(session.new_per_tick, dtype=np.int64)
    reached = np.cumsum(curve)[start : start + length]
    new = curve[start : start + length]
    out: dict[str, list] = {"tick": list(range(start, start + length))}
    counts = rec.counts
    for i, name in enumerate(session.state_names):
        out[str(name)] = counts[:, i].tolist()
    out[REACHED] = reached.tolist()
    out[NEW] = new.tolist()
    tracker = session.tracker() if getattr(session, "gives_sources", False) else None
    if tracker is not None and len(tracker.depth) >= start + length:
        out[DEPTH] = tracker.depth[start : start + length]
        out[BREADTH] = tracker.breadth[start : start + length]
    moments = rec.moments
    for j, var in enumerate(rec.variables):
        for k, m in enumerate(MOMENTS):
            col = moments[:, 4 * j + k]
            out[f"{var}.{m}"] = [None if not np.isfinite(x) else float(x) for x in col]
    return out


def pad_series(series: dict[str, list], ticks: int) -> dict[str, list]:
    """A series extended to ``ticks`` ticks (0..ticks-1) as if the ended session were watched on: every
    measure keeps its last value, except ``new``, which is 0. Series already that long are returned as they are."""
    have = len(series.get("tick", []))
    if have == 0 or have >= ticks:
        return series
    extra = ticks - have
    out: dict[str, list] = {}
    last_tick = series["tick"][-1]
    for key, values in series.items():
        if key == "tick":
            out[key] = list(values) + list(range(last_tick + 1, last_tick + 1 + extra))
        elif key == NEW:
            out[key] = list(values) + [0] * extra
        else:
            out[key] = list(values) + [values[-1]] * extra
    return out


#: The kinds of a series' columns (:class:`SeriesColumns`).
STATE, MEASURE, VARIABLE = "state", "measure", "variable"


@dataclass(frozen=True)
class SeriesColumns:
    """Which columns of a series are states (summing to the number of agents at every tick), which are
    measures (counts that are not states: ``reached``, ``new``, ``depth``, ``breadth``, a counter-message's)
    and which are variables (moments of continuous variables, ``NAME.mean`` and the like)."""

    states: tuple[str, ...] = ()
    measures: tuple[str, ...] = ()
    variables: tuple[str, ...] = ()

    @classmethod
    def of(cls, columns: Iterable[str], states: Iterable[str]) -> SeriesColumns:
        """The declaration of a series with ``columns`` (its keys; ``tick`` is none of the three) whose model
        has the states ``states``: a moment of a variable is ``NAME.MOMENT`` of :data:`MOMENTS`."""
        named = [c for c in columns if c != "tick"]
        state_names = [str(x) for x in states]
        is_state = set(state_names)
        variables = tuple(c for c in named if c not in is_state and c.rpartition(".")[2] in MOMENTS)
        return cls(
            states=tuple(c for c in state_names if c in named),
            measures=tuple(c for c in named if c not in is_state and c not in variables),
            variables=variables,
        )

    def kind(self, column: str) -> str | None:
        """:data:`STATE`, :data:`MEASURE` or :data:`VARIABLE` (None: not a column of this series)."""
        if column in self.states:
            return STATE
        if column in self.measures:
            return MEASURE
        return VARIABLE if column in self.variables else None

    def to_dict(self) -> dict[str, list[str]]:
        """``{"states": [...], "measures": [...], "variables": [...]}``, as a run's JSON carries it."""
        return {"states": list(self.states), "measures": list(self.measures), "variables": list(self.variables)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Iterable[str]]) -> SeriesColumns:
        """The declaration :meth:`to_dict` wrote."""
        return cls(
            states=tuple(data.get("states", ())),
            measures=tuple(data.get("measures", ())),
            variables=tuple(data.get("variables", ())),
        )
