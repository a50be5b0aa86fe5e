"""Transmission that wanders: a random walk of log-transmission per round with a fitted volatility (issue 75), as
EpiNow2's Rt process does (there a Gaussian process or a random walk of log Rt).

With ``walk`` among a fit's parameters (``--param walk=0..0.3``; ``walk=0.1`` fixes it) every particle's
transmission parameter (``beta``; ``ic``'s ``p``: the model's one per-edge parameter) is multiplied, from round 1
on, by ``exp(W_d)``, ``W_0 = 0`` and ``W_d = W_(d-1) + walk * e_d`` with ``e_d`` standard normal: a path of its own
for each particle, drawn from a generator of its run seed apart from the run's (so the run's draws are unchanged,
and the same particle and seed make the same path in any process). The path is change points like any other
(:mod:`sim.plugin.schedule`: ``beta~d`` for every round), so the engine and the compiled kernels run it alike, and
a change point the fit is given (``beta~20=0.5``) multiplies it. Past the data a forecast's particle walks on: the
band widens with the horizon as the path's spread does. A particle's replicates share its path; a particle
filter's branch keeps its parent's path (the walk is the particle's, not the branch's).

It is the fit's parameter, not the model's (as ``report``, ``import`` and ``start`` are).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from sim.errors import BadParameterError
from sim.plugin.schedule import MAX_MULTIPLIER, schedule_of

#: The fit's parameter of the walk's volatility: the standard deviation of log-transmission's step a round.
WALK = "walk"
#: The largest volatility.
MAX_WALK = 2.0
#: The stream a particle's path is drawn from, beside its run seed (never a run's own generator).
WALK_STREAM = 0x77A1C


def walk_range_error(text: str) -> BadParameterError:
    return BadParameterError(
        f"params {text[:60]}: walk is the standard deviation of log-transmission's step a round, from 0 to "
        f"{MAX_WALK:g}; keep it within that",
        fields="params",
    )


def fixed_walk(text: str) -> float:
    """A fixed ``walk`` value, checked."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0.0 <= value <= MAX_WALK):
        raise walk_range_error(f"walk={text}")
    return value


def path(volatility: float, seed: int, rounds: int) -> np.ndarray:
    """The multipliers ``exp(W_d)`` of rounds ``1 .. rounds`` for a particle of run seed ``seed`` (capped at the
    change points' largest multiplier)."""
    steps = np.random.default_rng([WALK_STREAM, int(seed) & (2**63 - 1)]).standard_normal(rounds)
    return np.minimum(np.exp(np.cumsum(volatility * steps)), MAX_MULTIPLIER)


def multipliers(params: Mapping[str, object], name: str, volatility: float, seed: int, rounds: int) -> np.ndarray:
    """The walk's multiplier of ``name`` at rounds ``1 .. rounds`` (float64): the path times the multiplier any
    change points of the whole parameter in ``params`` hold at each round, capped."""
    out = path(volatility, seed, rounds)
    given = {k: v for k, v in params.items() if k.startswith(f"{name}~")}
    own = schedule_of({name: params[name], **given}, name) if given else None
    if own is not None:
        held = np.array([own.whole[own.segment(d)] for d in range(1, rounds + 1)], dtype=np.float64)
        out = np.minimum(out * held, MAX_MULTIPLIER)
    return out


def walked(params: Mapping[str, object], name: str, volatility: float, seed: int, rounds: int) -> dict[str, object]:
    """``params`` with the walk of ``name`` over ``rounds`` rounds as change points (:func:`multipliers`), as the
    engine runs it; the compiled kernels take the multipliers themselves (the same floats)."""
    if volatility <= 0.0 or rounds < 1:
        return dict(params)
    m = multipliers(params, name, volatility, seed, rounds)
    out = {k: v for k, v in params.items() if not k.startswith(f"{name}~")}
    out.update({f"{name}~{d}": float(x) for d, x in enumerate(m.tolist(), start=1)})
    return out


def transmission_name(schema: Mapping[str, object], model: str) -> str:
    """The model's one per-edge parameter, which the walk moves.

    Raises:
        BadParameterError: the model has none, or several.
    """
    names = [k for k, spec in schema.items() if getattr(spec, "per_edge", None)]
    if len(names) != 1:
        raise BadParameterError(
            f"walk moves a model's one parameter that acts along edges, and {model} has "
            + ("none" if not names else f"{len(names)} ({', '.join(names)})")
            + ": fit it without walk",
            fields="params",
        )
    return names[0]
