"""The start of an epidemic, fitted (issue 75): ``start``, the rounds an epidemic runs before the observation's
first tick.

A seeded run starts at the observation's tick 0 with its seeds: its first onsets after them come a latent period
later, so a curve whose first days already count cases the seeds cannot have caused (a case on day 1 where a seed's
first infectee turns infectious on day 2 at the earliest; a week of onsets at weekly ticks) is one no particle can
make, and a particle filter's every likelihood is 0 there. With ``start`` among the fit's parameters
(``--param start=0..30``, whole rounds; ``--param start=10`` fixes it) a particle's run begins ``start`` rounds
before tick 0: it is run ``start`` rounds longer and its series is read from round ``start`` on, so that the
observation's tick ``t`` is the run's round ``t + start`` (the seeds' own onsets fall before the data when
``start`` is above 0). What is given in the observation's ticks moves with it: importations (``imported``) come at
their ticks, change points (``beta~20``) at theirs, a particle filter's branches at its ticks.

With ``seeds`` among the fit's parameters (``--param seeds=1..30``; ``--param seeds=12`` fixes it) a particle's
run starts from that many agents of the ``--seeds`` selection (its ``K``: ``random:1`` with ``seeds=12`` draws 12
random agents, as ``random:12`` would), so that a first tick counting dozens of cases can be a run's first tick
too; with ``start`` both are fitted: how long before the data the epidemic began, and from how many.

They are the observation's parameters, as ``report`` and ``import`` are: not the model's, and not part of a
forecast of a running session (whose start is its own).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from sim.errors import BadParameterError
from sim.model.imports import Imports
from sim.plugin.schedule import split_time
from sim.runs.reports import RunEntry

if TYPE_CHECKING:
    from sim.model.seeds import SeedSpec

#: The fit's parameter of the epidemic's start: rounds before the observation's first tick.
START = "start"
#: The most rounds an epidemic may start before the data.
MAX_START = 1000
#: The fit's parameter of how many agents the epidemic starts from: the count ``K`` of the ``--seeds`` selection
#: (``random:K``, ``top:K``, ``community:C:K``, ``METHOD:K``), a whole number from 1 to the agents it draws from.
SEEDS = "seeds"


def start_range_error(text: str) -> BadParameterError:
    """The sentence for a ``start`` outside 0 .. :data:`MAX_START`."""
    return BadParameterError(
        f"params {text[:60]}: start counts the rounds the epidemic runs before the observation's first tick, a whole "
        f"number from 0 to {MAX_START}; keep it within that",
        fields="params",
    )


def fixed_start(text: str) -> int:
    """A fixed ``start`` value, checked (a whole number of rounds)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value == round(value) and 0 <= value <= MAX_START):
        raise start_range_error(f"start={text}")
    return int(value)


def counted(text: str, world: object, most: int) -> SeedSpec:
    """The ``--seeds`` selection ``text`` whose count ``seeds`` sets, checked against ``world`` at ``most`` seeds
    (the largest the fit may draw).

    Raises:
        BadParameterError: a selection without a count (``ids:``, ``file:``, ``none``), or more seeds than it can
            draw from this world.
    """
    from sim.model.seeds import SeedSpec  # noqa: PLC0415 - kept off the import path of plain fits

    spec = SeedSpec.parse(text)
    if not spec.k:
        raise BadParameterError(
            f"params seeds sets how many agents the seed selection (seeds) starts from, and {str(spec)[:60]} names its "
            "agents: give a selection with a count (random:K, top:K, community:C:K, METHOD:K)",
            fields="params",
        )
    try:
        dataclasses.replace(spec, k=most).check(world)  # type: ignore[arg-type]
    except BadParameterError as exc:
        raise BadParameterError(f"params seeds up to {most:,}: {exc}", fields="params") from None
    return spec


def seeds_of(value: float, text: str) -> int:
    """A particle's (or a fixed) count of seeds, checked: a whole number from 1 (``text`` names it)."""
    if not (math.isfinite(value) and value >= 1 and value == round(value)) or value > 1 << 31:
        raise BadParameterError(
            f"params {text[:60]}: seeds counts the agents the epidemic starts from, a whole number from 1",
            fields="params",
        )
    return int(value)


def shifted_params(params: Mapping[str, object], start: int) -> dict[str, object]:
    """``params`` with each change point's round moved ``start`` rounds on (``beta~20`` -> ``beta~25`` for 5): a
    change point names an observation's tick."""
    if not start:
        return dict(params)
    out = {}
    for key, value in params.items():
        base, at = split_time(key)
        out[key if at is None else f"{base}~{at + start}"] = value
    return out


def padded(imports: Imports | None, start: int) -> Imports | None:
    """``imports`` coming ``start`` rounds later (their counts are by the observation's ticks)."""
    if imports is None or not start:
        return imports
    counts = np.concatenate([np.zeros(start, dtype=np.int64), imports.counts])
    return Imports(counts, imports.rate, imports.after)


def shifted_reseeds(reseeds: np.ndarray | None, start: int) -> np.ndarray | None:
    """A particle filter's branches (rounds by the observation's ticks) as the run's rounds."""
    if reseeds is None or not start or reseeds.size == 0:
        return reseeds
    out = reseeds.copy()
    out[:, 0] += np.uint64(start)
    return out


def shifted_run(run: RunEntry, start: int, length: int | None) -> RunEntry:
    """``run``'s series (and per-tick counts) read from round ``start`` on, ``length`` ticks of them (None: all),
    its ticks counted from there."""
    series = run.get("series")
    if not series:
        return run
    stop = None if length is None else start + length
    out = {k: v[start:stop] if isinstance(v, list) else v for k, v in series.items()}
    if "tick" in out:
        out["tick"] = [int(t or 0) - start for t in out["tick"]]
    moved = RunEntry(**run)
    moved["series"] = out
    per_tick = run.get("new_per_tick")
    if isinstance(per_tick, list):
        moved["new_per_tick"] = per_tick[start:stop]
    peak = run.get("peak_tick")
    if isinstance(peak, int):
        moved["peak_tick"] = max(0, peak - start)
    return moved
