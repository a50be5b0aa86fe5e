"""A sweep's design (``--design KIND:N``): the ranges it draws from and what it measures."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from sim.core.numbers import float_of, int_of
from sim.errors import BadParameterError


def grid_text(value: object) -> str:
    """A Python value as the command line spells it (``True`` -> ``true``, ``0.1`` -> ``0.1``), so that a grid or a
    parameter given from Python is read exactly as the same one given to ``agora sweep``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else repr(value) if isinstance(value, float) else str(value)


DESIGN_KINDS = ("sobol", "morris", "lhs")
#: The measures a design analyses besides ``series:MEASURE@TICK``.
DESIGN_MEASURES = ("reached", "peak_tick", "rounds", "cascade.depth", "cascade.structural_virality")
#: The most base samples a design may ask for (a Sobol' design of D parameters runs N * (D + 2) points).
MAX_DESIGN_N = 2**20
_MEASURES_HINT = (
    "choose reached, peak_tick, rounds, cascade.depth, cascade.structural_virality or series:MEASURE@TICK "
    "(a series value at a tick, such as series:I@10)"
)


@dataclass(frozen=True, slots=True)
class ParamRange:
    """The range a design draws one model parameter from: ``NAME=LO..HI`` (uniform) or ``NAME=LO..HI:log``
    (log-uniform: uniform in ``ln x``)."""

    name: str
    lo: float
    hi: float
    log: bool = False

    @property
    def scale(self) -> str:
        """``uniform`` or ``log-uniform``, as the report names it."""
        return "log-uniform" if self.log else "uniform"

    @staticmethod
    def is_range(value: object) -> bool:
        """Whether a ``params`` value asks for a range (``"LO..HI"``, ``(LO, HI)`` or ``(LO, HI, "log")``)."""
        return (isinstance(value, str) and ".." in value) or isinstance(value, (list, tuple))

    @classmethod
    def parse(cls, name: str, value: object) -> ParamRange:
        """``"LO..HI"``, ``"LO..HI:log"``, ``(LO, HI)`` or ``(LO, HI, "log")`` as the range of ``name``.

        Raises:
            BadParameterError: not a range, a bound that is not a finite number, LO >= HI, or a log range whose
                LO is not above 0: one sentence.
        """
        if isinstance(value, (list, tuple)):
            if len(value) not in (2, 3):
                raise BadParameterError(f"the range of {name} must be (LO, HI) or (LO, HI, 'log'), not {value!r}")
            scale = f":{value[2]}" if len(value) == 3 else ""
            value = f"{grid_text(value[0])}..{grid_text(value[1])}{scale}"
        text = str(value).strip()
        body, colon, scale = text.partition(":")
        if colon and scale.strip().lower() not in ("log", "log-uniform", "loguniform"):
            raise BadParameterError(
                f"the range {name}={text} has scale {scale.strip()!r}: write LO..HI (uniform) or LO..HI:log"
            )
        lo_text, dots, hi_text = body.partition("..")
        if not dots:
            raise BadParameterError(f"{name}={text} is not a range: write LO..HI (uniform) or LO..HI:log")
        bounds = []
        for part in (lo_text.strip(), hi_text.strip()):
            try:
                bound = float_of(part)
            except ValueError:
                bound = math.nan
            if not math.isfinite(bound):
                raise BadParameterError(f"the range {name}={text} has {part!r}, which is not a number: write LO..HI")
            bounds.append(bound)
        lo, hi = bounds
        if lo >= hi:
            raise BadParameterError(f"the range {name}={text} is empty: its low end must be below its high end")
        if colon and lo <= 0:
            raise BadParameterError(
                f"the log range {name}={text} starts at {lo:g}: a log-uniform range must start above 0"
            )
        return cls(name, lo, hi, bool(colon))

    def __str__(self) -> str:
        return f"{self.name}={self.lo:g}..{self.hi:g}" + (":log" if self.log else "")


@dataclass(frozen=True, slots=True)
class Design:
    """A sweep's design (``--design KIND:N``): points drawn in the box of the parameters' ranges instead of a
    grid's product, and what is measured at each point to compute the sensitivity indices.

    Attributes:
        kind: one of :data:`DESIGN_KINDS`. n: base samples (Sobol': ``n * (D + 2)`` points for D ranges, best a
            power of 2), trajectories (Morris: ``n * (D + 1)`` points) or points (a Latin hypercube).
        ranges: the varied parameters, in order. measure: one of :data:`DESIGN_MEASURES` or
            ``series:MEASURE@TICK``.
    """

    kind: str
    n: int
    ranges: tuple[ParamRange, ...]
    measure: str = "reached"

    @property
    def points(self) -> int:
        """How many points the design draws (the sweep's combinations)."""
        d = len(self.ranges)
        return self.n * (d + 2) if self.kind == "sobol" else self.n * (d + 1) if self.kind == "morris" else self.n

    @property
    def series_at(self) -> tuple[str, int] | None:
        """``(MEASURE, TICK)`` of a ``series:MEASURE@TICK`` measure (None for another)."""
        if not self.measure.startswith("series:"):
            return None
        name, _, tick = self.measure.removeprefix("series:").rpartition("@")
        return name, int(tick)

    @classmethod
    def parse(cls, spec: object, ranges: Iterable[ParamRange], measure: object = None) -> Design:
        """``"sobol:256"``, ``"morris:20"`` or ``"lhs:100"`` over ``ranges``, measuring ``measure`` (None:
        ``reached``).

        Raises:
            BadParameterError: not KIND:N, an unknown kind, N below 2 or above :data:`MAX_DESIGN_N`, no range,
                an unknown measure: one sentence.
        """
        if not isinstance(spec, str):
            raise BadParameterError(
                f"design must be a text such as 'sobol:256', got {type(spec).__name__}", fields="design"
            )
        kind, colon, count = spec.strip().partition(":")
        kind = kind.strip().lower()
        if not colon:
            raise BadParameterError(
                f"design {spec[:40]!r} is not KIND:N: give sobol:N, morris:N or lhs:N (such as sobol:256)",
                fields="design",
            )
        if kind not in DESIGN_KINDS:
            raise BadParameterError(
                f"design kind {kind[:30]!r} is unknown: choose sobol:N, morris:N or lhs:N", fields="design"
            )
        what = {"sobol": "base samples", "morris": "trajectories", "lhs": "points"}[kind]
        try:
            n = int_of(count)
        except ValueError:
            n = 0
        if not 2 <= n <= MAX_DESIGN_N:
            best = " (best a power of 2, such as 256)" if kind == "sobol" else ""
            raise BadParameterError(
                f"design {spec.strip()[:40]} is invalid: N, its {what}, must be a whole number from 2 to "
                f"{MAX_DESIGN_N:,}{best}",
                fields="design",
            )
        listed = tuple(ranges)
        if not listed:
            raise BadParameterError(
                f"design {kind}:{n} has no parameter to vary: give a range as params NAME=LO..HI (or LO..HI:log)",
                fields=("design", "params"),
            )
        return cls(kind, n, listed, cls.check_measure(measure))

    @staticmethod
    def check_measure(measure: object) -> str:
        """``measure`` if a design can analyse it (None: ``reached``).

        Raises:
            BadParameterError: an unknown measure, or a series measure without a whole tick: one sentence.
        """
        if measure is None:
            return "reached"
        if not isinstance(measure, str):
            raise BadParameterError(
                f"measure must be a name such as 'reached', got {type(measure).__name__}", fields="measure"
            )
        text = measure.strip()
        if text in DESIGN_MEASURES:
            return text
        if text.startswith("series:"):
            name, at, tick = text.removeprefix("series:").rpartition("@")
            if not at or not name.strip() or not (tick.strip().isascii() and tick.strip().isdigit()):
                raise BadParameterError(
                    f"measure {text[:40]!r} is not series:MEASURE@TICK: give a series measure and a whole tick "
                    "counted from the injection, such as series:I@10",
                    fields="measure",
                )
            return f"series:{name.strip()}@{int(tick)}"
        raise BadParameterError(f"measure {text[:40]!r} is unknown: {_MEASURES_HINT}", fields="measure")
