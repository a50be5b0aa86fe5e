"""Per-tick series of a propagation session: the count of agents in each state, ``reached`` and ``new``, the
entries into each state (``new.STATE``), ``onsets`` and ``removals``, and the moments of each continuous variable.

Series are a by-product of the tick. A session keeps the count of agents in each of its model's states
(``state_counts``) up to date from the agents that changed state in the round — two ``bincount`` calls
over the changed agents, never a pass over all N — and appends the counts to preallocated arrays that
grow by doubling. ``reached`` and ``new`` come from the session's adoption curve. Tick 0 is the moment
right after seeding; tick t the end of round t. At every tick the state counts sum to the number of agents.

What the counts per tick count:

- ``new``: agents newly reached — each agent once, at its first entry into one of the model's adopted states
  (for ``seir``: entries into E, and the seeds, who start in I). ``reached`` is its running sum.
- ``new.STATE`` (one per state): the agents that entered the state in the tick, whatever state they came
  from (the bincount of the changed agents' new states; an agent listed by the model whose state stays the
  same enters nothing). An agent that enters a state twice counts twice. So for every state X and tick t,
  ``X[t] - X[t-1] == new.X[t] - (agents that left X in t)``, and the ``new.X`` of a tick sum to the agents
  that changed state in it. Tick 0 counts the seeding as entries: every agent not in state 0 right after
  seeding (the seeds, and those the model's ``start`` placed) entered its state at tick 0, and
  ``new.<state 0>`` is 0 there.
- ``onsets`` and ``removals``: the sum of ``new.X`` over the model's declared ``onset_states`` and
  ``removal_states`` (:class:`sim.plugin.PropagationModel`; seir: entries into I and into R). A model with
  no removal state has no ``removals``.
- ``new.NAME`` for each of the model's declared ``observables`` (a plugin's named measures: ``new.admissions``,
  the entries into ``H``): the sum of ``new.X`` over its states.

A session stored before entries were recorded (a snapshot or world file of an older Agora) has no entries
for the ticks it recorded: its ``new.STATE``, ``onsets`` and ``removals`` are null (unknown) there, and
counted from the first round run after it was loaded.

Continuous per-agent variables (float columns a model declares) are recorded as four measures each,
``NAME.mean``, ``NAME.std``, ``NAME.min`` and ``NAME.max`` (one pass over the column per tick).

The measures of one series, in order: the state names, ``reached``, ``new``, ``depth`` and ``breadth`` (the
cascade forest's largest generation so far and most agents in one generation so far, for a model that
names sources: ``sim.core.cascade``), ``new.STATE`` for each state, ``onsets``, ``removals``, ``new.NAME``
for each observable, then the variable moments.

A series says which of its columns are which (:class:`SeriesColumns`): the **states** (the model's, summing to
the number of agents at every tick), the **measures** (``reached``, ``new``, ``new.STATE``, ``onsets``,
``removals``, the cascade's ``depth`` and ``breadth``, a counter-message's ``counter.reached``...: counts that
are not states) and the **variables** (the moments of continuous variables, ``opinion.mean``). A run's JSON
carries it as ``series_columns``. Per-tick counts (``new``, ``new.STATE``, ``onsets``, ``removals``:
:func:`is_tick_count`) are 0 after a run ended; every other measure keeps its last value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.model.groupby import PREFIX as BY_GROUP
from sim.model.imports import IMPORTED

#: The measures every series has beside its states.
REACHED, NEW = "reached", "new"
#: The cascade forest's measures (a model that names sources only): its largest generation so far and the
#: most agents in one generation so far (``sim.core.cascade``).
DEPTH, BREADTH = "depth", "breadth"
#: The four moments recorded per continuous variable, in order.
MOMENTS = ("mean", "std", "min", "max")
#: The entries into a state per tick are ``new.STATE``; ``onsets`` and ``removals`` sum the declared states'.
ENTRIES, ONSETS, REMOVALS = "new.", "onsets", "removals"
#: An entry row not recorded (a session stored before entries were): shown as null.
UNKNOWN = -1


def entries_name(state: str) -> str:
    """The series measure of the entries into ``state`` per tick: ``new.STATE``."""
    return f"{ENTRIES}{state}"


def is_tick_count(measure: str) -> bool:
    """Whether ``measure`` counts what happened in each tick (``new``, ``new.STATE``, ``onsets``, ``removals``,
    ``imported``): 0 after a run ended, where every other measure keeps its last value."""
    return measure in (NEW, ONSETS, REMOVALS, IMPORTED) or measure.startswith((ENTRIES, BY_GROUP))


def count_measures(states: tuple[str, ...], removals: bool = True, observables: Iterable[str] = ()) -> list[str]:
    """The per-tick count measures of a model with ``states`` beside ``new``: ``new.STATE`` for each state,
    ``onsets``, (for a model with a removal state) ``removals``, and ``new.NAME`` for each of its declared
    ``observables`` (:class:`sim.plugin.PropagationModel`)."""
    named = [entries_name(str(x)) for x in observables]
    return [*(entries_name(str(x)) for x in states), ONSETS, *([REMOVALS] if removals else []), *named]


def tick_entries(state: np.ndarray, states: int) -> np.ndarray:
    """The entries of tick 0 (the seeding): every agent not in state 0 entered its state; none entered state 0."""
    entries = np.bincount(state, minlength=states).astype(np.int64)
    entries[0] = 0
    return entries


def variable_moments(values: np.ndarray) -> np.ndarray:
    """``[mean, std, min, max]`` of one variable's column (population std; NaN for an empty column)."""
    if values.size == 0:
        return np.full(4, np.nan)
    v = values.astype(np.float64, copy=False)
    return np.array([v.mean(), v.std(), v.min(), v.max()])


class SeriesRecorder:
    """The per-tick rows of one session, in arrays that grow by doubling.

    ``counts`` is (ticks, states) int64; ``entries`` (ticks, states) int64, the agents that entered each state
    in the tick (rows of :data:`UNKNOWN` where they were not recorded); ``moments`` is (ticks, 4 * variables)
    float64.
    """

    __slots__ = ("_counts", "_entries", "_moments", "length", "variables", "width")

    def __init__(self, states: int, variables: tuple[str, ...] = (), capacity: int = 64) -> None:
        self.width = int(states)
        self.variables = tuple(variables)
        self.length = 0
        self._counts = np.zeros((max(1, capacity), self.width), dtype=np.int64)
        self._entries = np.zeros((max(1, capacity), self.width), dtype=np.int64)
        self._moments = np.zeros((max(1, capacity), 4 * len(self.variables)), dtype=np.float64)

    def append(self, counts: np.ndarray, entries: np.ndarray | None, moments: np.ndarray | None = None) -> None:
        """Add one tick: the state counts, the entries into each state (None: not known, a row of
        :data:`UNKNOWN`) and (with variables) their moments, concatenated in order."""
        if self.length == self._counts.shape[0]:
            cap = 2 * self.length
            self._counts = np.resize(self._counts, (cap, self.width))
            self._entries = np.resize(self._entries, (cap, self.width))
            self._moments = np.resize(self._moments, (cap, self._moments.shape[1]))
        self._counts[self.length] = counts
        self._entries[self.length] = UNKNOWN if entries is None else entries
        if self.variables:
            self._moments[self.length] = moments
        self.length += 1

    @property
    def counts(self) -> np.ndarray:
        """(ticks, states) int64, a view of the recorded rows."""
        return self._counts[: self.length]

    @property
    def entries(self) -> np.ndarray:
        """(ticks, states) int64, a view of the recorded rows (:data:`UNKNOWN` rows: not recorded)."""
        return self._entries[: self.length]

    @property
    def moments(self) -> np.ndarray:
        """(ticks, 4 * variables) float64, a view of the recorded rows."""
        return self._moments[: self.length]

    @classmethod
    def restore(
        cls,
        counts: np.ndarray,
        moments: np.ndarray | None,
        variables: tuple[str, ...] = (),
        entries: np.ndarray | None = None,
    ) -> SeriesRecorder:
        """A recorder holding stored rows (a session loaded from a world file or a snapshot); ``entries`` None
        (stored before entries were recorded): rows of :data:`UNKNOWN`."""
        rec = cls(counts.shape[1], variables, capacity=max(64, 2 * counts.shape[0]))
        rec._counts[: counts.shape[0]] = counts
        rec._entries[: counts.shape[0]] = UNKNOWN if entries is None else entries
        if variables and moments is not None:
            rec._moments[: counts.shape[0]] = moments
        rec.length = counts.shape[0]
        return rec


def check_entries(entries: np.ndarray, counts: np.ndarray, from_start: bool) -> str | None:
    """What is wrong with stored entry rows beside their state counts (None: nothing): a row must be all
    :data:`UNKNOWN` or all non-negative; where two known rows follow each other, no state may have lost more
    agents than left it (its entries minus its change is the agents that left, never negative); a row of
    tick 0 (``from_start``) must be the seeding's (:func:`tick_entries`)."""
    if entries.dtype != np.int64 or entries.shape != counts.shape:
        return f"has dtype {entries.dtype} and shape {entries.shape}, expected int64 {counts.shape}"
    if not entries.size:
        return None
    unknown = entries == UNKNOWN
    row_unknown = unknown.all(axis=1)
    if entries.min() < UNKNOWN or np.any(unknown.any(axis=1) & ~row_unknown) or np.any(entries[~row_unknown] < 0):
        return "holds counts that are not entries"
    both = ~row_unknown[1:] & ~row_unknown[:-1]
    if np.any((entries[1:] - np.diff(counts, axis=0))[both] < 0):
        return "does not match the state counts"
    if from_start and not row_unknown[0]:
        first = counts[0].copy()
        first[0] = 0
        if np.any(entries[0] != first):
            return "does not match the seeding at tick 0"
    return None


def measure_names(
    states: tuple[str, ...], variables: tuple[str, ...] = (), cascade: bool = False, removals: bool = True
) -> list[str]:
    """The measures of a series, in order (see the module docstring); ``cascade`` for a model that names sources,
    ``removals`` for one with a removal state."""
    tree = [DEPTH, BREADTH] if cascade else []
    moments = [f"{v}.{m}" for v in variables for m in MOMENTS]
    return [*states, REACHED, NEW, *tree, *count_measures(states, removals), *moments]


def _count_list(values: np.ndarray, known: np.ndarray) -> list[int | None]:
    """A count column as a plain list, None where its row was not recorded."""
    if known.all():
        return values.tolist()
    return [int(v) if k else None for v, k in zip(values.tolist(), known.tolist(), strict=True)]


def series_dict(session: Any) -> dict[str, list]:
    """One session's series as ``{"tick": [...], measure: [...], ...}`` (plain lists, JSON-ready).

    Ticks count from the session's start (0: after seeding). A session restored from a file written
    before series were recorded starts at the round it was restored at (``series_from``); one written before
    entries were recorded has null entries, onsets and removals for the ticks it stored.
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
    entries = rec.entries
    known = entries[:, 0] != UNKNOWN
    for i, name in enumerate(session.state_names):
        out[entries_name(str(name))] = _count_list(entries[:, i], known)
    onsets, removals = tuple(session.onset_states), tuple(session.removal_states)
    out[ONSETS] = _count_list(entries[:, list(onsets)].sum(axis=1), known)
    if removals:
        out[REMOVALS] = _count_list(entries[:, list(removals)].sum(axis=1), known)
    for name, chosen in (getattr(session, "observables", None) or {}).items():  # the model's named measures
        out[entries_name(name)] = _count_list(entries[:, list(chosen)].sum(axis=1), known)
    if getattr(session, "imports", None) is not None:  # agents from outside, per tick (sim.model.imports)
        out[IMPORTED] = list(session.imported_per_tick[start : start + length])
    moments = rec.moments
    for j, var in enumerate(rec.variables):
        for k, m in enumerate(MOMENTS):
            col = moments[:, 4 * j + k]
            out[f"{var}.{m}"] = [None if not np.isfinite(x) else float(x) for x in col]
    return out


def pad_series(series: dict[str, list], ticks: int) -> dict[str, list]:
    """A series extended to ``ticks`` ticks (0..ticks-1) as if the ended session were watched on: every
    measure keeps its last value, except the per-tick counts (:func:`is_tick_count`: ``new``, ``new.STATE``,
    ``onsets``, ``removals``), which are 0. Series already that long are returned as they are."""
    have = len(series.get("tick", []))
    if have == 0 or have >= ticks:
        return series
    extra = ticks - have
    out: dict[str, list] = {}
    last_tick = series["tick"][-1]
    for key, values in series.items():
        if key == "tick":
            out[key] = list(values) + list(range(last_tick + 1, last_tick + 1 + extra))
        elif is_tick_count(key):
            out[key] = list(values) + [0] * extra
        else:
            out[key] = list(values) + [values[-1]] * extra
    return out


#: The kinds of a series' columns (:class:`SeriesColumns`).
STATE, MEASURE, VARIABLE = "state", "measure", "variable"


@dataclass(frozen=True)
class SeriesColumns:
    """Which columns of a series are states (summing to the number of agents at every tick), which are
    measures (counts that are not states: ``reached``, ``new``, ``new.STATE``, ``onsets``, ``removals``,
    ``depth``, ``breadth``, a counter-message's)
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
        variables = tuple(
            c for c in named if c not in is_state and not is_tick_count(c) and c.rpartition(".")[2] in MOMENTS
        )
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


def what_counts(cls: Any) -> dict[str, list[str]]:
    """What a model's series count per tick, by state name (``agora plugins list``): ``new`` — agents newly
    reached, at their first entry into one of these (the adopted) states; ``onsets`` and ``removals`` — entries
    into these states; ``entries`` — the ``new.STATE`` measures, one per state."""
    states = [str(x) for x in cls.states]
    return {
        NEW: [states[a] for a in cls.adopted_states],
        ONSETS: [states[a] for a in cls.counted_onsets()],
        REMOVALS: [states[a] for a in cls.counted_removals()],
        "entries": [entries_name(x) for x in states],
        **{entries_name(k): [states[a] for a in v] for k, v in cls.counted_observables().items()},
    }


def _either(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def counts_line(counted: dict[str, list[str]]) -> str:
    """:func:`what_counts` in words, one line."""
    parts = [
        f"new = agents newly reached (first entry into {_either(counted[NEW])})"
        if counted[NEW]
        else "new = nothing (no adopted state)"
    ]
    parts.append(f"onsets = entries into {_either(counted[ONSETS])}" if counted[ONSETS] else "no onsets")
    if counted[REMOVALS]:
        parts.append(f"removals = entries into {_either(counted[REMOVALS])}")
    parts += [f"{k} = entries into {_either(v)}" for k, v in counted.items() if k.startswith(ENTRIES)]
    return "; ".join(parts) + "; new.STATE for each state"


def period_sums(ticks: np.ndarray, values: np.ndarray, period: int, origin: int) -> tuple[np.ndarray, np.ndarray]:
    """A per-tick count summed over periods of ``period`` ticks from ``origin`` (period ``k``: ticks ``origin +
    k * period`` to ``origin + (k + 1) * period - 1``), as a table of weekly cases counts a week of daily ones.

    ``values`` holds one value per tick of ``ticks`` (increasing world ticks; ``(runs, ticks)`` for several runs at
    once). Only whole periods are kept: a period with a tick missing from ``ticks`` (before the first, after the
    last, or a gap) or a missing value (NaN) is left out rather than drawn short. Returns each kept period's first
    tick and its sums (``(runs, periods)`` for several runs).
    """
    t = np.asarray(ticks, dtype=np.int64)
    v = np.asarray(values, dtype=np.float64)
    several = v.ndim == 2
    v2 = v if several else v[None, :]
    if period < 1:
        raise ValueError(f"period is {period}: give 1 or more ticks")
    ahead = t >= origin
    k = (t[ahead] - origin) // period
    if not k.size:
        empty = np.zeros((v2.shape[0], 0))
        return np.zeros(0, dtype=np.int64), empty if several else empty[0]
    n = int(k.max()) + 1
    filled = np.bincount(k, minlength=n)
    sums = np.zeros((v2.shape[0], n))
    np.add.at(sums.T, k, v2[:, ahead].T)  # each tick's values into its period's column
    whole = filled == period  # every tick of the period there (ticks are distinct)
    whole &= np.isfinite(sums).all(axis=0)
    starts = origin + np.flatnonzero(whole) * period
    kept = sums[:, whole]
    return starts.astype(np.int64), kept if several else kept[0]
