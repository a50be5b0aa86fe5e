"""A plugin's parameter space as the checker explores it (:func:`param_space`): the defaults, each
parameter alone at its extremes, and random joint draws, each set a :class:`ParamSet`."""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.authoring.report import plural
from sim.core.spelling import spelled
from sim.errors import BadParameterError
from sim.plugin import Param

#: Random joint draws of every parameter, besides each parameter's extremes one at a time.
EXPLORE_DRAWS = 4
#: A numeric parameter that declares no ``min`` (``max``) is tried at ``default -`` (``+``) this
#: ``* max(1, |default|)``: far out, finite, and said so in the check's detail.
OPEN_BOUND_SPAN = 100.0


#: A parameter value as ``agora run --param`` takes it.
_fmt_value = spelled


@dataclass(frozen=True)
class ParamSet:
    """One point of a plugin's parameter space the checker runs: the values that differ from the
    defaults' list (``values``), and how it was chosen (``how``: ``defaults``, ``one`` — one parameter
    at an extreme, the others default — or ``draw`` — a random joint draw)."""

    values: tuple[tuple[str, Any], ...]
    how: str

    @property
    def params(self) -> dict[str, Any]:
        """The values as a dict of parameters (the rest default)."""
        return dict(self.values)

    def describe(self, n_params: int = 2) -> str:
        """``delta=0 (others default)``, ``p=0.734, q=3 (a random draw)`` or ``default parameters``.

        Args:
            n_params: how many parameters the plugin has (with one, "others default" is not said).

        Returns:
            The set in words.
        """
        if not self.values:
            return "default parameters"
        text = ", ".join(f"{k}={_fmt_value(v)}" for k, v in self.values)
        if self.how == "one":
            return text + (" (others default)" if n_params > 1 else "")
        return text + " (a random draw)"


def param_defaults(cls: type) -> dict[str, Any]:
    """Every declared parameter's default, by name."""
    params = getattr(cls, "params", None)
    return {k: s.default for k, s in (params.items() if isinstance(params, dict) else ()) if isinstance(s, Param)}


def _numeric_range(key: str, spec: Param) -> tuple[float, float, list[str]]:
    """The finite extremes of a numeric parameter: its bounds, or far-out values where it declares none
    (said in the notes)."""
    d = float(spec.default)
    span = OPEN_BOUND_SPAN * max(1.0, abs(d))
    lo = float(spec.min) if spec.min is not None else d - span
    hi = float(spec.max) if spec.max is not None else d + span
    if spec.type is int:
        lo, hi = float(math.ceil(lo)), float(math.floor(hi))
    notes = []
    if spec.min is None:
        notes.append(f"{key} declares no min: tried {_fmt_value(int(lo) if spec.type is int else lo)}")
    if spec.max is None:
        notes.append(f"{key} declares no max: tried {_fmt_value(int(hi) if spec.type is int else hi)}")
    return lo, hi, notes


def _draw(spec: Param, span: tuple[float, float] | None, rng: np.random.Generator) -> Any:
    """A random value of one parameter: uniform (log-uniform over a range of many decades), rounded to
    three significant digits so that the value shown is the value run."""
    if spec.type is bool:
        return bool(rng.integers(2))
    if spec.type is str:
        return spec.choices[int(rng.integers(len(spec.choices)))] if spec.choices else spec.default
    assert span is not None
    lo, hi = span
    if hi <= lo:
        return spec.default
    floor = max(lo, 1e-3)
    if lo >= 0 and hi / floor > 1e3:
        x = float(math.exp(rng.uniform(math.log(floor), math.log(hi))))
    else:
        x = float(rng.uniform(lo, hi))
    if spec.type is int:
        return int(min(hi, max(lo, round(x))))
    return min(hi, max(lo, float(f"{x:.3g}")))


def _refused(cls: type, params: dict[str, Any]) -> bool:
    """Whether the plugin's own validation refuses ``params`` (a rule across parameters, such as
    ``min <= max``): such a set is the user's mistake to make, not a point of the space to run. Anything
    else it raises is left for the run to report."""
    validate = getattr(cls, "validate", None)
    if validate is None:
        return False
    try:
        validate(dict(params))
    except BadParameterError:
        return True
    except Exception:  # noqa: BLE001 - the run reports it, with its traceback
        return False
    return False


def _extremes(key: str, spec: Param, notes: list[str], spans: dict[str, tuple[float, float]]) -> list[Any]:
    """The values one parameter is tried at alone (before its own validation), noting open bounds in
    ``notes`` and a number's range in ``spans``."""
    if spec.type is bool:
        return [not spec.default]
    if spec.type is str:
        if not spec.choices:
            notes.append(f"{key} is free text: only its default was tried")
            return []
        return [c for c in spec.choices if c != spec.default]
    try:
        lo, hi, more = _numeric_range(key, spec)
    except (TypeError, ValueError, OverflowError):
        return []  # a broken schema: the schema check says what is wrong
    spans[key] = (lo, hi)
    notes += more
    values: list[Any] = [lo, hi] + ([0.0] if lo < 0 < hi else [])
    return [int(v) for v in values] if spec.type is int else values


def _one_at_a_time(specs: dict[str, Param], notes: list[str], spans: dict[str, tuple[float, float]]) -> list[ParamSet]:
    """Each parameter alone at each of its extremes that its validation accepts and that is not its default."""
    sets = []
    for key, spec in specs.items():
        for v in _extremes(key, spec, notes, spans):
            try:
                v = spec.coerce(key, v)
            except Exception:  # noqa: BLE001 - a value the schema refuses is not a point of its space
                continue
            if v != spec.default:
                sets.append(ParamSet(((key, v),), "one"))
    return sets


def _random_draws(
    cls: type, specs: dict[str, Param], spans: dict[str, tuple[float, float]], rng: np.random.Generator, draws: int
) -> tuple[list[ParamSet], int]:
    """``draws`` random joint draws the plugin accepts, and how many draws it refused (drawn again)."""
    drawn = [k for k, s in specs.items() if k in spans or s.type is bool or (s.type is str and s.choices)]
    sets = []
    redrawn = 0
    for _ in range(draws if drawn else 0):
        for _attempt in range(10):  # a draw the plugin refuses (a cross-parameter rule) is drawn again
            values_drawn = []
            for key in drawn:
                spec = specs[key]
                try:
                    values_drawn.append((key, spec.coerce(key, _draw(spec, spans.get(key), rng))))
                except Exception:  # noqa: BLE001 - keep the default
                    values_drawn.append((key, spec.default))
            if not _refused(cls, dict(values_drawn)):
                sets.append(ParamSet(tuple(values_drawn), "draw"))
                break
            redrawn += 1
    return sets, redrawn


def _unique(sets: list[ParamSet]) -> list[ParamSet]:
    """The sets without repeats (the same values, however chosen), first kept."""
    seen: set[tuple[tuple[str, Any], ...]] = set()
    unique = []
    for ps in sets:
        key = tuple(sorted((k, repr(v)) for k, v in ps.values))
        if key not in seen:
            seen.add(key)
            unique.append(ps)
    return unique


def param_space(cls: type, seed: int = 0, draws: int = EXPLORE_DRAWS) -> tuple[list[ParamSet], list[str]]:
    """The parameter sets the checker runs a plugin with, and notes on how they were chosen.

    First the defaults; then each parameter alone at each extreme with the others at their defaults —
    a number at its ``min`` and ``max`` (and at 0 when 0 lies strictly between), a bool at the value
    that is not its default, a ``str`` with ``choices`` at every other choice (free text keeps its
    default); then ``draws`` random joint draws from a generator seeded by ``seed`` and the plugin's
    name. A number without a declared bound is tried far out (see :data:`OPEN_BOUND_SPAN`), said in
    the notes. Values that fail the parameter's own validation are left out.

    Args:
        cls: the plugin class.
        seed: seed of the random draws (with the plugin's name).
        draws: how many random joint draws.

    Returns:
        ``(sets, notes)``: the parameter sets, the defaults first, and notes on how they were chosen.
    """
    params = getattr(cls, "params", None)
    specs = {
        k: s
        for k, s in (params.items() if isinstance(params, dict) else ())
        if isinstance(k, str) and isinstance(s, Param) and s.type in (float, int, bool, str)
    }
    notes: list[str] = []
    spans: dict[str, tuple[float, float]] = {}
    sets = [ParamSet((), "defaults"), *_one_at_a_time(specs, notes, spans)]
    refused = [ps for ps in sets if _refused(cls, ps.params)]
    if refused:
        notes.append(
            f"{plural(len(refused), 'set')} refused by the plugin's own validation, not run: "
            + "; ".join(ps.describe(len(specs)) for ps in refused[:3])
            + (" ..." if len(refused) > 3 else "")
        )
        sets = [ps for ps in sets if ps not in refused]
    name = str(getattr(cls, "name", "") or "")
    rng = np.random.default_rng([abs(int(seed)) % 2**32, zlib.crc32(name.encode())])
    drawn, redrawn = _random_draws(cls, specs, spans, rng, draws)
    if redrawn:
        notes.append(f"{plural(redrawn, 'random draw')} refused by the plugin's own validation, drawn again")
    return _unique(sets + drawn), notes
