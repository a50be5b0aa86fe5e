"""What a plugin declares: its parameters (:class:`Param`) and a model's continuous per-agent variables
(:class:`Variable`)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.core.numbers import float_of, int_of
from sim.errors import BadParameterError
from sim.plugin.schedule import MAX_MULTIPLIER, MAX_ROUND, split_time


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter of a plugin: its type, default, bounds and help text.

    ``type`` is ``float``, ``int``, ``bool`` or ``str``; ``choices`` restricts a ``str``.

    ``per_edge`` marks a number that acts along an edge and may take one value per contact layer
    (``beta@household=0.4``; the unsuffixed value for the layers not named): ``"probability"`` (an edge in
    several layers gets ``1 - prod(1 - value)`` over its layers, one independent chance per layer) or
    ``"rate"`` (the sum of its layers' values). None: one value for every edge (``NAME@LAYER`` refused).
    """

    type: type
    default: Any
    min: float | None = None
    max: float | None = None
    help: str = ""
    choices: tuple[str, ...] | None = None
    per_edge: str | None = None

    def describe_range(self) -> str:
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.type is bool:
            return "true or false"
        lo = "-inf" if self.min is None else f"{self.min:g}"
        hi = "inf" if self.max is None else f"{self.max:g}"
        kind = "a whole number" if self.type is int else "a number"
        return f"{kind} in [{lo}, {hi}]"

    def coerce(self, name: str, value: Any) -> Any:
        """Convert ``value`` (possibly text from a command line or a form) and check its range.

        Raises:
            BadParameterError: naming the parameter and its allowed range.
        """

        def bad() -> BadParameterError:
            shown = value if isinstance(value, str) else repr(value)
            return BadParameterError(f"parameter {name}={shown} is invalid: expected {self.describe_range()}")

        if self.type is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in (
                "1",
                "true",
                "yes",
                "on",
                "0",
                "false",
                "no",
                "off",
            ):
                return value.strip().lower() in ("1", "true", "yes", "on")
            if isinstance(value, (int, np.integer)) and value in (0, 1):
                return bool(value)
            raise bad()
        if self.type is str:
            if not isinstance(value, str):
                raise bad()
            if self.choices and value not in self.choices:
                raise bad()
            return value
        value_n: int | float
        try:
            if isinstance(value, bool):
                raise ValueError
            if self.type is int:
                if isinstance(value, str):
                    value_n = int_of(value, underscores=True)
                elif isinstance(value, (float, np.floating)):
                    if not float(value).is_integer():
                        raise ValueError
                    value_n = int(value)
                else:
                    value_n = int(value)
            else:
                value_n = float_of(value) if isinstance(value, str) else float(value)
                if not math.isfinite(value_n):
                    raise ValueError
        except (TypeError, ValueError):
            raise bad() from None
        if (self.min is not None and value_n < self.min) or (self.max is not None and value_n > self.max):
            raise bad()
        return value_n


#: How a per-layer parameter is written: ``NAME@LAYER`` (a layer's name as ``sim.core.world.LAYER_NAME``).
LAYER_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)@([A-Za-z][A-Za-z0-9_]{0,31})")
#: How the values of a per-edge parameter combine over an edge's layers.
PER_EDGE = ("probability", "rate")


def split_key(key: str) -> tuple[str, str | None]:
    """``("beta", "class")`` for ``"beta@class"`` (and for a change point of it, ``"beta@class~20"``),
    ``(key, None)`` for a key without a layer (a change point's parameter for ``"beta~20"``)."""
    key = split_time(key)[0]
    match = LAYER_KEY.fullmatch(key)
    return (match.group(1), match.group(2)) if match else (key, None)


#: The parameter a change point sets (``beta~20=0.5``, :mod:`sim.plugin.schedule`): a multiplier.
MULTIPLIER = Param(float, 1.0, 0.0, MAX_MULTIPLIER, "multiplier of the parameter from this round on (a change point)")


def param_spec(params: dict[str, Param], key: str) -> Param | None:
    """The :class:`Param` that ``key`` sets (``beta@class`` sets ``beta``'s value in layer class; a change point
    ``beta~20`` or ``beta@class~20`` a :data:`MULTIPLIER`), or None when it names none (an unknown name, or a
    layer or a change point on a parameter that is not ``per_edge``)."""
    at = split_time(key)[1]
    name, layer = split_key(key)
    spec = params.get(name)
    if spec is None or ((layer is not None or at is not None) and spec.per_edge is None):
        return None
    if at is not None:
        return MULTIPLIER if at <= MAX_ROUND else None
    return spec


def param_for(params: dict[str, Param], key: str) -> Param:
    """The :class:`Param` that ``key`` sets, for a key known to name one (:func:`param_spec`).

    Raises:
        KeyError: ``key`` names none (a bug in the caller, which checked it).
    """
    spec = param_spec(params, key)
    if spec is None:
        raise KeyError(key)
    return spec


def layer_keys(params: dict[str, Any]) -> dict[str, list[str]]:
    """The layers named by the per-layer keys of ``params`` (``beta@class``), by parameter."""
    out: dict[str, list[str]] = {}
    for key in params:
        name, layer = split_key(key)
        if layer is not None:
            out.setdefault(name, []).append(layer)
    return out


def check_layers_named(params: dict[str, Any], layers: tuple[str, ...]) -> None:
    """Refuse a per-layer key of ``params`` (``beta@class``) that names no layer of ``layers`` (a world's).

    Raises:
        BadParameterError: one sentence naming the key and the world's layers.
    """
    for name, named in layer_keys(params).items():
        for layer in named:
            if layer in layers:
                continue
            if not layers:
                raise BadParameterError(
                    f"{name}@{layer}: this world has no contact layers, so {name} takes one value: give {name}=VALUE",
                    fields="params",
                )
            raise BadParameterError(
                f"{name}@{layer}: this world has no contact layer {layer}; its layers are {', '.join(layers)}",
                fields="params",
            )


@dataclass(frozen=True, slots=True)
class Variable:
    """A continuous per-agent variable of a model (an opinion, a trait): a float column of length N that
    the engine keeps for each session, saves with it, shows, and records in the series as
    ``NAME.mean``, ``NAME.std``, ``NAME.min`` and ``NAME.max`` at every tick.

    Attributes:
        min, max: the declared range; every value the model sets must lie in it (checked).
        init: how the column starts: ``"uniform"`` (uniform in [min, max] from the session's generator)
            or ``"constant"`` (``value`` everywhere).
        value: the starting value of ``"constant"``.
        seed_value: the value the message's seed agents start with (None: as everybody else).
        world_column: a world column to start from when the world has one (e.g. ``"opinion"``), clipped
            to the range; ``init`` is used otherwise.
        dtype: ``"float64"`` or ``"float32"``.
        help: one line for users.
    """

    min: float = 0.0
    max: float = 1.0
    init: str = "uniform"
    value: float = 0.0
    seed_value: float | None = None
    world_column: str | None = None
    dtype: str = "float64"
    help: str = ""

    def problems(self, name: str) -> list[str]:
        """What is wrong with the declaration (empty when it is sound)."""
        out = []
        if not (isinstance(name, str) and name and name.replace("_", "a").isalnum() and name.isascii()):
            out.append(f"variable name {name!r} is not a plain name (letters, digits, underscores)")
        lo, hi = self.min, self.max
        if (
            not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in (lo, hi))
            or lo > hi
        ):
            out.append(f"variable {name}: min {lo!r} and max {hi!r} must be finite numbers with min <= max")
            return out
        if self.init not in ("uniform", "constant"):
            out.append(f"variable {name}: init {self.init!r} is not 'uniform' or 'constant'")
        for what, v in (("value", self.value), ("seed_value", self.seed_value)):
            if v is not None and not (isinstance(v, (int, float)) and not isinstance(v, bool) and lo <= v <= hi):
                out.append(f"variable {name}: {what} {v!r} is outside its range [{lo:g}, {hi:g}]")
        if self.dtype not in ("float64", "float32"):
            out.append(f"variable {name}: dtype {self.dtype!r} is not 'float64' or 'float32'")
        return out
