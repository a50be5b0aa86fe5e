"""What a plugin declares: its parameters (:class:`Param`) and a model's continuous per-agent variables
(:class:`Variable`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.errors import BadParameterError


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter of a plugin: its type, default, bounds and help text.

    ``type`` is ``float``, ``int``, ``bool`` or ``str``; ``choices`` restricts a ``str``.
    """

    type: type
    default: Any
    min: float | None = None
    max: float | None = None
    help: str = ""
    choices: tuple[str, ...] | None = None

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
                    value_n = int(value.strip().replace("_", ""))
                elif isinstance(value, (float, np.floating)):
                    if not float(value).is_integer():
                        raise ValueError
                    value_n = int(value)
                else:
                    value_n = int(value)
            else:
                value_n = float(value.strip()) if isinstance(value, str) else float(value)
                if not math.isfinite(value_n):
                    raise ValueError
        except (TypeError, ValueError):
            raise bad() from None
        if (self.min is not None and value_n < self.min) or (self.max is not None and value_n > self.max):
            raise bad()
        return value_n


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
