"""The priors of a fit (``params={"p": (0.001, 0.2, "log")}``, ``agora fit --param NAME=LO..HI``): a uniform or
log-uniform prior per parameter.

``NAME=LO..HI`` is uniform on ``[LO, HI]``; ``NAME=LO..HI:log`` is log-uniform (uniform in ``log x``: every
decade as likely as the next; ``LO`` must be above 0). ``NAME=VALUE`` fixes a parameter.

The fit works in an unbounded space: a parameter's prior box maps onto the real line through the logit of its
position in the box (in ``log x`` for a log-uniform one), so that the perturbations of sequential Monte Carlo
ABC never leave the prior's support, and the prior density there is the logistic one
(:meth:`Priors.log_density_u`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from sim.engine.requests.design import ParamRange
from sim.errors import BadParameterError

#: A parameter name: ``beta``, ``sir.beta``, one layer's value ``beta@class``, or a change point's multiplier
#: ``beta~20``, ``beta@class~20`` (:mod:`sim.plugin.schedule`).
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*(@[A-Za-z][A-Za-z0-9_]{0,31})?(~[0-9]{1,7})?\Z")
#: Logits are kept within this bound: a particle whose parameter piles against a prior bound stays finite.
U_BOUND = 30.0


@dataclass(frozen=True, slots=True)
class Prior(ParamRange):
    """The prior of one parameter: uniform on ``[lo, hi]``, or log-uniform (``log``): a design's range
    (:class:`sim.engine.requests.ParamRange`, the same text), with what a fit does with it."""

    def describe(self) -> str:
        return str(self)

    def _z(self, x: np.ndarray) -> np.ndarray:
        return np.log(x) if self.log else x

    def _bounds(self) -> tuple[float, float]:
        return (math.log(self.lo), math.log(self.hi)) if self.log else (self.lo, self.hi)

    def to_u(self, x: np.ndarray) -> np.ndarray:
        """The unbounded coordinate of values ``x`` inside the box."""
        a, b = self._bounds()
        f = np.clip((self._z(np.asarray(x, dtype=np.float64)) - a) / (b - a), 1e-15, 1 - 1e-15)
        return np.clip(np.log(f) - np.log1p(-f), -U_BOUND, U_BOUND)

    def from_u(self, u: np.ndarray) -> np.ndarray:
        """Values of unbounded coordinates ``u`` (always inside the box)."""
        a, b = self._bounds()
        z = a + (b - a) / (1.0 + np.exp(-np.asarray(u, dtype=np.float64)))
        x = np.exp(z) if self.log else z
        return np.clip(x, self.lo, self.hi)

    def sample(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """``count`` draws from the prior."""
        a, b = self._bounds()
        z = rng.uniform(a, b, count)
        return np.clip(np.exp(z), self.lo, self.hi) if self.log else z


def parse_range(text: str, where: str = "params") -> tuple[str, Prior | str]:
    """``NAME=LO..HI[:log]`` as ``(name, Prior)``; ``NAME=VALUE`` as ``(name, value text)``. ``where`` is the
    field an error names.

    Raises:
        BadParameterError: no ``=``, a bad name, or a bad range (:meth:`ParamRange.parse`: a bound that is not
            a finite number, ``LO >= HI``, a log-uniform range whose ``LO`` is not above 0).
    """
    name, eq, value = text.partition("=")
    name, value = name.strip(), value.strip()
    if not eq or not name or not value:
        raise BadParameterError(
            f"{where} {text[:80]!r} is not NAME=LO..HI (a range) or NAME=VALUE (a fixed value)", fields=where
        )
    if not _NAME.match(name):
        raise BadParameterError(f"{where} {text[:80]!r}: {name[:40]!r} is not a parameter name", fields=where)
    if ".." not in value:
        return name, value
    r = ParamRange.parse(name, value)
    return name, Prior(r.name, r.lo, r.hi, r.log)


@dataclass(frozen=True)
class Priors:
    """The fitted parameters' priors, in order (the columns of every particle array)."""

    items: tuple[Prior, ...]

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.items]

    def __len__(self) -> int:
        return len(self.items)

    def sample_u(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """``count`` prior draws in the unbounded space, shape ``(count, d)``."""
        x = np.column_stack([p.sample(rng, count) for p in self.items])
        return self.to_u(x)

    def to_u(self, x: np.ndarray) -> np.ndarray:
        return np.column_stack([p.to_u(x[:, j]) for j, p in enumerate(self.items)])

    def from_u(self, u: np.ndarray) -> np.ndarray:
        return np.column_stack([p.from_u(u[:, j]) for j, p in enumerate(self.items)])

    @staticmethod
    def log_density_u(u: np.ndarray) -> np.ndarray:
        """The prior's log density at ``u`` (each coordinate logistic: a uniform position in its box)."""
        return -np.sum(np.logaddexp(0.0, u) + np.logaddexp(0.0, -u), axis=1)


def split_params(texts: Iterable[str], where: str = "params") -> tuple[Priors, dict[str, str]]:
    """The ranges and fixed values of ``NAME=LO..HI`` / ``NAME=VALUE`` texts, in the order given.

    Raises:
        BadParameterError: a bad text (:func:`parse_range`) or a parameter named twice.
    """
    ranges: list[Prior] = []
    fixed: dict[str, str] = {}
    for text in texts:
        name, got = parse_range(text, where)
        if name in fixed or any(p.name == name for p in ranges):
            raise BadParameterError(f"{where} names {name!r} twice: give each parameter once", fields=where)
        if isinstance(got, Prior):
            ranges.append(got)
        else:
            fixed[name] = got
    return Priors(tuple(ranges)), fixed


def ranges_from(mapping: Mapping[str, object], where: str = "params") -> tuple[Priors, dict[str, str]]:
    """:func:`split_params` from the Python API's mapping: ``{"p": "0.01..0.2"}``, ``{"p": (0.01, 0.2)}``,
    ``{"p": (0.001, 0.2, "log")}`` or a fixed ``{"trust_weighted": False}``."""
    texts: list[str] = []
    for name, value in mapping.items():
        if isinstance(value, Sequence) and not isinstance(value, str):
            if len(value) not in (2, 3):
                raise BadParameterError(f"{where}[{name!r}] must be (LO, HI) or (LO, HI, 'log'), not {value!r}")
            scale = f":{value[2]}" if len(value) == 3 else ""
            texts.append(f"{name}={value[0]}..{value[1]}{scale}")
        elif isinstance(value, bool):
            texts.append(f"{name}={'true' if value else 'false'}")
        else:
            texts.append(f"{name}={value}")
    return split_params(texts, where)
