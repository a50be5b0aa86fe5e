"""Imported cases: agents infected from outside the world at given rounds, or at a rate (issue 73).

A session with :class:`Imports` infects, in each round ``r`` (0: the seeding), ``counts[r]`` agents from outside
(an observed column of imported cases, scaled to the world's agents) and, where a rate is given, a Poisson number
more (mean ``rate`` a round within the counts' rounds, ``rate + after`` after them: a forecast past the data
carries the observed importations on at their mean). An imported agent is chosen at random among the agents
still susceptible after the round's own changes (state 0, not blocked, not frozen, not changed this round), and
enters the model's seed state, a root of the adoption forest (no source), as a seed does: it is counted where
a seed is counted (``new``, ``reached``, the entries of its state, ``onsets``), and in the series' ``imported``,
so that a fit can take the imported cases out of the local ones the data count (:func:`local_counts`).

The draws, from the session's generator after the round's own (the seeding's at round 0): one uniform number
for the Poisson count by inversion where the round's rate is above 0, then for each importation up to
:data:`TRIES` numbers, ``floor(u * n)`` naming an agent until one is susceptible; when none of them is, the
susceptible agents are listed (ascending) and one more number picks among them. The compiled kernels
(:mod:`sim.runs.epidemic_kernels`) draw the same numbers in the same order, so that a kernel run with imports
is the engine's run of the same seed (``tests/test_imports.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.core.arrays import one_of
from sim.errors import BadFileError, BadParameterError
from sim.model.intervene import blocked_mask
from sim.model.lifecycle import FROZEN, all_active

#: Agents named at random before the susceptible agents are listed for one importation.
TRIES = 64
#: The largest mean importations a round (in agents): the Poisson count by inversion stays exact below it.
MAX_RATE = 500.0
#: The series measure counting a round's imported agents.
IMPORTED = "imported"
#: The fit's parameter of importations a tick beyond an observed column (people a tick; not the model's).
IMPORT = "import"


@dataclass(frozen=True, eq=False)
class Imports:
    """Importations into a session: ``counts[r]`` agents at round ``r`` (int64, >= 0), and a Poisson number of
    mean ``rate`` a round while ``r < len(counts)``, ``rate + after`` from then on."""

    counts: np.ndarray
    rate: float = 0.0
    after: float = 0.0

    def __post_init__(self) -> None:
        counts = np.ascontiguousarray(self.counts, dtype=np.int64)
        if counts.ndim != 1 or (counts.size and int(counts.min()) < 0):
            raise BadParameterError("imported counts must be whole numbers from 0 up, one a tick")
        for what, value in (("the importation rate", self.rate), ("the rate after the data", self.after)):
            if not (math.isfinite(value) and 0.0 <= value <= MAX_RATE):
                raise BadParameterError(f"{what} must be from 0 to {MAX_RATE:g} agents a tick, not {value!r}")
        if self.rate + self.after > MAX_RATE:
            raise BadParameterError(
                f"the importation rate and the rate after the data add up to more than {MAX_RATE:g} agents a tick"
            )
        object.__setattr__(self, "counts", counts)

    @property
    def rates(self) -> np.ndarray:
        """``[rate, exp(-rate), rate + after, exp(-(rate + after))]`` (float64): what the kernels read."""
        late = self.rate + self.after
        return np.array([self.rate, math.exp(-self.rate), late, math.exp(-late)], dtype=np.float64)

    def pending(self, rnd: int) -> bool:
        """Whether an importation may still come after round ``rnd``: a session is not done while one may."""
        return self.rate + self.after > 0.0 or bool(np.any(self.counts[rnd + 1 :] > 0))

    def due(self, rnd: int, uniform: Callable[[], float]) -> int:
        """The agents to import at round ``rnd``: its count, and the Poisson draw (one ``uniform()``) where its rate
        is above 0."""
        k = int(self.counts[rnd]) if 0 <= rnd < self.counts.size else 0
        rates = self.rates
        lam, p = (rates[0], rates[1]) if rnd < self.counts.size else (rates[2], rates[3])
        if lam > 0.0:
            k += poisson_inverse(uniform(), lam, p)
        return k


def poisson_inverse(u: float, lam: float, p0: float) -> int:
    """The Poisson(``lam``) count of the uniform ``u`` by inversion (``p0 = exp(-lam)``): the smallest ``k`` whose
    cumulative probability reaches ``u`` (the kernels' arithmetic, operation for operation)."""
    k, p, s = 0, p0, p0
    while u > s and k < 4096:
        k += 1
        p = p * lam / k
        s = s + p
    return k


def choose(free: np.ndarray, k: int, uniform: Callable[[], float]) -> np.ndarray:
    """``k`` agents chosen among the ``free`` ones (a bool mask, changed: the chosen are no longer free), by the
    draws the module docstring describes; fewer when fewer are free. Returns them in the order chosen (int64)."""
    n = free.size
    out: list[int] = []
    for _ in range(k):
        got = -1
        for _try in range(TRIES):
            v = int(uniform() * n)
            if free[v]:
                got = v
                break
        if got < 0:
            listed = np.flatnonzero(free)
            if listed.size == 0:
                break
            got = int(listed[int(uniform() * listed.size)])
        free[got] = False
        out.append(got)
    return np.asarray(out, dtype=np.int64)


def _free(session: Any, world: Any, mixed: bool) -> np.ndarray:
    """The agents an importation into ``session`` may infect now: in state 0, not blocked, not an adopter of a rival,
    not frozen (a mask, a new array)."""
    free = session.state == 0
    if mixed:
        free &= ~one_of(world.columns["status"], FROZEN)
    blocked = blocked_mask(world)
    if blocked is not None:
        free &= ~blocked
    for rival in session.rival_sessions:
        if rival.adopted_at.size:
            free &= rival.adopted_at < 0
    return free


def _chosen(session: Any, rnd: int, free: Callable[[], np.ndarray]) -> np.ndarray:
    """Round ``rnd``'s imported agents (int32, ascending), drawn from the session's generator among the agents
    ``free()`` marks (asked only when one is due); the round's count kept in the session."""
    rng = session.rng
    k = session.imports.due(rnd, rng.random)
    chosen = choose(free(), k, rng.random) if k else np.empty(0, dtype=np.int64)
    session.imported += int(chosen.size)
    session.imported_per_tick.append(int(chosen.size))
    return np.sort(chosen).astype(np.int32)


def import_at_start(session: Any, world: Any, tick: int) -> None:
    """Round 0's importations into ``session`` (a :class:`sim.model.session.PropagationSession` starting at ``tick``),
    beside its seeds: in the seed state, roots of the forest, transmitting from the first round where the seed state
    transmits."""
    mixed = not all_active(world.columns["status"])
    chosen = _chosen(session, 0, lambda: _free(session, world, mixed))
    if not chosen.size:
        return
    seed_state = int(type(session.model).seed_state)
    session.state[chosen] = seed_state
    session.exposed[chosen] = True
    session.exposed_count = int(np.count_nonzero(session.exposed))
    if seed_state in session.adopted_states:
        session.adopted_at[chosen] = tick
        session.reached += int(chosen.size)
        session.new_per_tick[-1] = session.reached
        session._record(tick, chosen, np.full(chosen.size, -1, dtype=np.int32), seed_state)  # noqa: SLF001
        if session.cascade_tracker is not None:
            session.cascade_tracker.add(chosen)
    if seed_state in session.transmitting_states:
        front = np.sort(session.frontier).astype(np.int32)
        session.frontier = np.insert(front, np.searchsorted(front, chosen), chosen)
        session.transmitting = session.frontier.copy()


def with_imports(
    session: Any, world: Any, mixed: bool, changes: tuple[Any, Any, Any, Any]
) -> tuple[Any, Any, Any, Any]:
    """A round's admitted changes ``(agents, new_state, sources, via)`` with its importations added (agents still
    free after the round's own changes, entering the seed state with no source), every change ordered by agent: the
    forest gets the round's adopters in one add, ascending, as the compiled kernels lay them out."""
    agents, new_state, sources, via = changes

    def free() -> np.ndarray:
        mask = _free(session, world, mixed)
        mask[agents] = False
        return mask

    chosen = _chosen(session, session.round + 1, free)
    if not chosen.size:
        return changes
    seed_state = int(type(session.model).seed_state)
    states = np.broadcast_to(np.asarray(new_state, dtype=np.int8), agents.shape)
    every = np.concatenate([agents.astype(np.int64), chosen.astype(np.int64)])
    order = np.argsort(every, kind="stable")
    return (
        every[order],
        np.concatenate([states, np.full(chosen.size, seed_state, dtype=np.int8)])[order],
        np.concatenate([np.asarray(sources, dtype=np.int32), np.full(chosen.size, -1, dtype=np.int32)])[order],
        np.concatenate([np.asarray(via, dtype=bool), np.zeros(chosen.size, dtype=bool)])[order],
    )


def local_counts(
    series: dict[str, list], measures: Sequence[str], seed_state: str, onset: bool = True
) -> dict[str, list]:
    """``series`` with the imported agents taken out of the per-tick counts that count them among ``measures``:
    ``new``, ``new.SEED`` for the seed state ``seed_state``, and ``onsets`` where the seed state is an onset state
    (``onset``): the cases that arose in the world."""
    imported = series.get(IMPORTED)
    if imported is None:
        return series
    counting = {"new", f"new.{seed_state}", *(("onsets",) if onset else ())}
    out = dict(series)
    for m in measures:
        if m in counting and m in series:
            values = series[m]
            out[m] = [None if v is None else v - i for v, i in zip(values, imported)]
    return out


#: The suffix of ``imported`` saying that the observed cases count the imported ones too.
INCLUDED = ":included"


def split_imported(text: str | None) -> tuple[str | None, bool]:
    """A fit's ``imported`` as ``(column, included)``: ``COLUMN`` (the cases counted apart, as EpiEstim's ``local``
    and ``imported``) or ``COLUMN:included`` (the observed cases count the imported ones too: they are taken out)."""
    if text is None:
        return None, False
    if text.endswith(INCLUDED):
        return text[: -len(INCLUDED)], True
    return text, False


def local_of(
    cases: np.ndarray, imported: np.ndarray, labels: Sequence[str], where: str, names: tuple[str, str]
) -> np.ndarray:
    """The local cases of a column that counts the imported ones too (``COLUMN:included``): ``cases - imported``.

    Raises:
        BadFileError: an imported count above its tick's cases, naming ``where`` (the file), the tick's label and
            the two columns (``names``: the cases', the imported cases').
    """
    over = np.flatnonzero(imported > cases)
    if over.size:
        at = int(over[0])
        raise BadFileError(
            f"{where} has {imported[at]:g} imported cases (column {names[1]}) in tick {labels[at]}, more than its "
            f"{cases[at]:g} cases ({names[0]}): with {INCLUDED} the cases count the imported ones; leave "
            f"{INCLUDED} out where {names[0]} counts the local cases alone"
        )
    return cases - imported
