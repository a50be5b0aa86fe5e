"""Designs of experiments over a model's parameters and their sensitivity indices, by SALib (``agora sweep
--design``).

A design draws points in the box of the parameters' ranges; the sweep runs each point ``runs`` times and
gives back one number per point (the measure's mean over its runs); this module turns those numbers into
indices:

- ``sobol``: Saltelli's cross-sampling of a scrambled Sobol' sequence (N base samples, ``N * (D + 2)`` points:
  Saltelli 2002, without second-order indices), first-order indices by the estimator of Saltelli et al. (2010)
  and total indices by Jansen's (1999), as ``SALib.analyze.sobol`` computes them.
- ``morris``: N one-at-a-time trajectories on a 4-level grid (Morris 1991, ``N * (D + 1)`` points); the mean
  absolute elementary effect mu* (Campolongo, Cariboni and Saltelli 2007) and the effects' standard deviation
  sigma.
- ``lhs``: a Latin hypercube of N points, for the user's own analysis (no indices).

Intervals are SALib's bootstrap: the estimate plus or minus ``1.96`` times the standard deviation of the
estimate over 100 resamples of the base samples (trajectories for Morris), drawn from a seeded generator so
that the same ``--seed`` gives the same intervals.

A log-uniform range is given to SALib as the uniform range of the parameter's natural logarithm: SALib
samples and analyses ``ln x``, and the runs get ``exp`` of it. Sobol' indices are the same for ``x`` and
``ln x`` (a one-to-one change of an input leaves the variance decomposition alone); Morris's effects are per
step of the log range.

SALib is the optional extra ``agora-sim[fit]``: :func:`salib` says so in one sentence when it is missing.
This module imports nothing of ``sim`` but its errors, so that any layer may use it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Protocol, cast

import numpy as np

from sim.errors import BadParameterError
from sim.model.series import BREADTH, DEPTH, MOMENTS, NEW, REACHED, count_measures, is_tick_count
from sim.runs.reports import RunEntry

if TYPE_CHECKING:
    from sim.plugin import PropagationModel

#: The sentence a missing SALib gives.
SALIB_HINT = "design needs the optional extra: pip install 'agora-sim[fit]'"
#: Morris's grid levels (the sample and the analysis must agree).
MORRIS_LEVELS = 4
#: Bootstrap resamples of an interval (SALib's default).
RESAMPLES = 100
#: The confidence level of the intervals.
CONF_LEVEL = 0.95


class Range(Protocol):
    """A parameter's range as a design reads it (``sim.engine.requests.ParamRange`` is one)."""

    @property
    def name(self) -> str: ...
    @property
    def lo(self) -> float: ...
    @property
    def hi(self) -> float: ...
    @property
    def log(self) -> bool: ...


def salib() -> ModuleType:
    """The ``SALib`` package with the samplers and analyses a design uses imported.

    Raises:
        BadParameterError: SALib is not installed (:data:`SALIB_HINT`).
    """
    try:
        # Optional dependency (the fit extra), imported only for --design.
        import SALib  # noqa: PLC0415
        import SALib.analyze.morris  # noqa: PLC0415
        import SALib.analyze.sobol  # noqa: PLC0415
        import SALib.sample.latin  # noqa: PLC0415
        import SALib.sample.morris  # noqa: PLC0415
        import SALib.sample.sobol  # noqa: PLC0415
    except ImportError:
        raise BadParameterError(SALIB_HINT, fields="design") from None
    return SALib


def salib_seed(seed: int, offset: int) -> int:
    """A seed SALib takes for a sweep's ``seed``: never 0 (``SALib.analyze.sobol`` draws unseeded when given 0),
    never negative (numpy refuses it), different for the sample (``offset`` 1) and the bootstrap (2)."""
    return (seed % 2**62) * 4 + offset


def problem(ranges: Sequence[Range]) -> dict[str, object]:
    """SALib's problem: the parameters' names and bounds, a log range as the bounds of its logarithm."""
    return {
        "num_vars": len(ranges),
        "names": [r.name for r in ranges],
        "bounds": [[math.log(r.lo), math.log(r.hi)] if r.log else [r.lo, r.hi] for r in ranges],
    }


@dataclass(frozen=True)
class Sample:
    """A drawn design.

    Attributes:
        kind: ``sobol``, ``morris`` or ``lhs``; n: base samples (trajectories for Morris, points for a Latin
            hypercube).
        names: the parameters, in the order of the columns.
        unit: the points as SALib sees them (a log range's column holds the logarithm): what it analyses.
        values: the points as the runs get them (a log range's column exponentiated), one row per point.
    """

    kind: str
    n: int
    names: tuple[str, ...]
    problem: dict[str, object]
    unit: np.ndarray
    values: np.ndarray

    @property
    def points(self) -> int:
        return int(self.values.shape[0])


def draw(kind: str, n: int, ranges: Sequence[Range], seed: int) -> Sample:
    """The design's points: ``sobol`` (``n * (D + 2)`` points), ``morris`` (``n * (D + 1)``) or ``lhs`` (``n``),
    from SALib's generator seeded by ``seed`` (the same seed, the same points).

    Raises:
        BadParameterError: SALib is missing, or an unknown kind.
    """
    lib = salib()
    spec = problem(ranges)
    with warnings.catch_warnings():
        # SciPy warns of a Sobol' N that is not a power of 2 (the help and docs say to prefer one).
        warnings.simplefilter("ignore", UserWarning)
        if kind == "sobol":
            unit = lib.sample.sobol.sample(spec, n, calc_second_order=False, seed=salib_seed(seed, 1))
        elif kind == "morris":
            unit = lib.sample.morris.sample(spec, n, num_levels=MORRIS_LEVELS, seed=salib_seed(seed, 1))
        elif kind == "lhs":
            unit = lib.sample.latin.sample(spec, n, seed=salib_seed(seed, 1))
        else:
            raise BadParameterError(f"design kind {kind!r} is unknown: choose sobol, morris or lhs")
    unit = np.asarray(unit, dtype=np.float64).reshape(-1, len(ranges))
    values = unit.copy()
    for j, r in enumerate(ranges):
        if r.log:
            # exp of the log bounds may miss them by an ulp: keep every value inside the range asked for
            values[:, j] = np.clip(np.exp(unit[:, j]), r.lo, r.hi)
    return Sample(kind, n, tuple(r.name for r in ranges), spec, unit, values)


# -- indices ------------------------------------------------------------------------------------------------
def _number(x: object) -> float | None:
    """A finite float, or None (JSON has no NaN)."""
    v = float(x)  # type: ignore[arg-type]
    return v if math.isfinite(v) else None


def _interval(estimate: float | None, conf: object) -> tuple[float | None, float | None]:
    c = _number(conf)
    if estimate is None or c is None:
        return (None, None)
    return (estimate - c, estimate + c)


@dataclass(frozen=True, slots=True)
class SobolIndex:
    """One parameter's Sobol' indices with their 95% bootstrap intervals (``S1 +- S1 conf``).

    Attributes:
        name: the parameter. S1: first-order index, the share of the measure's variance the parameter explains
            alone. ST: total index, its share with every interaction it takes part in (0: the measure does not
            depend on it). ``None`` where undefined (the measure did not vary).
    """

    name: str
    S1: float | None
    S1_conf: tuple[float | None, float | None]
    ST: float | None
    ST_conf: tuple[float | None, float | None]

    def to_dict(self) -> dict[str, object]:
        return {"S1": self.S1, "S1_conf": list(self.S1_conf), "ST": self.ST, "ST_conf": list(self.ST_conf)}

    @classmethod
    def from_dict(cls, name: str, data: Mapping[str, object]) -> SobolIndex:
        return cls(
            name, _opt(data.get("S1")), _pair(data.get("S1_conf")), _opt(data.get("ST")), _pair(data.get("ST_conf"))
        )


@dataclass(frozen=True, slots=True)
class MorrisIndex:
    """One parameter's Morris screening measures.

    Attributes:
        name: the parameter. mu_star: the mean absolute elementary effect, with its 95% bootstrap interval: an
            effect is the change of the measure over one step of the grid divided by the step's fraction of the
            range (2/3), so a response linear in the parameter has mu_star = |slope| * (HI - LO). mu: the mean
            signed effect (mu well below mu_star: effects of both signs). sigma: the effects' standard
            deviation (large: interactions or a curved response).
    """

    name: str
    mu_star: float | None
    mu_star_conf: tuple[float | None, float | None]
    mu: float | None
    sigma: float | None

    def to_dict(self) -> dict[str, object]:
        return {"mu_star": self.mu_star, "mu_star_conf": list(self.mu_star_conf), "mu": self.mu, "sigma": self.sigma}

    @classmethod
    def from_dict(cls, name: str, data: Mapping[str, object]) -> MorrisIndex:
        return cls(
            name,
            _opt(data.get("mu_star")),
            _pair(data.get("mu_star_conf")),
            _opt(data.get("mu")),
            _opt(data.get("sigma")),
        )


Sensitivity = dict[str, SobolIndex] | dict[str, MorrisIndex]


def _opt(x: object) -> float | None:
    return None if x is None else float(x)  # type: ignore[arg-type]


def _pair(x: object) -> tuple[float | None, float | None]:
    if not isinstance(x, (list, tuple)) or len(x) != 2:
        return (None, None)
    return (_opt(x[0]), _opt(x[1]))


def analyze(sample: Sample, values: Sequence[float], seed: int) -> Sensitivity | None:
    """The indices of a design from the measure at each of its points (in the order drawn): Sobol' for
    ``sobol``, Morris for ``morris``, None for ``lhs``. The bootstrap draws from ``seed``.

    Raises:
        BadParameterError: SALib is missing. ValueError: ``values`` is not one finite number per point
            (the caller says why a point has none).
    """
    y = np.asarray(values, dtype=np.float64)
    if y.shape != (sample.points,) or not np.isfinite(y).all():
        raise ValueError(f"a design of {sample.points} points needs one finite value per point")
    if sample.kind == "lhs":
        return None
    lib = salib()
    boot = salib_seed(seed, 2)
    if sample.kind == "sobol":
        if np.ptp(y) == 0:  # every share of a zero variance is 0/0
            nothing = (None, None)
            return {name: SobolIndex(name, None, nothing, None, nothing) for name in sample.names}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = lib.analyze.sobol.analyze(
                sample.problem, y, calc_second_order=False, num_resamples=RESAMPLES, conf_level=CONF_LEVEL, seed=boot
            )
        out: dict[str, SobolIndex] = {}
        for j, name in enumerate(sample.names):
            s1, st = _number(res["S1"][j]), _number(res["ST"][j])
            out[name] = SobolIndex(name, s1, _interval(s1, res["S1_conf"][j]), st, _interval(st, res["ST_conf"][j]))
        return out
    res = lib.analyze.morris.analyze(
        sample.problem,
        sample.unit,
        y,
        num_resamples=RESAMPLES,
        conf_level=CONF_LEVEL,
        num_levels=MORRIS_LEVELS,
        seed=boot,
    )
    morris: dict[str, MorrisIndex] = {}
    for j, name in enumerate(sample.names):
        mu_star = _number(res["mu_star"][j])
        morris[name] = MorrisIndex(
            name,
            mu_star,
            _interval(mu_star, res["mu_star_conf"][j]),
            _number(res["mu"][j]),
            _number(res["sigma"][j]),
        )
    return morris


def sensitivity_from_dict(kind: str, data: Mapping[str, Mapping[str, object]] | None) -> Sensitivity | None:
    """The typed indices of a report's ``sensitivity`` object (None for none)."""
    if data is None:
        return None
    if kind == "sobol":
        return {name: SobolIndex.from_dict(name, d) for name, d in data.items()}
    if kind == "morris":
        return {name: MorrisIndex.from_dict(name, d) for name, d in data.items()}
    return None


# -- the design as a report gives it back -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DesignParam:
    """A parameter a design varies: its range and how it was sampled (``uniform`` or ``log-uniform``)."""

    name: str
    lo: float
    hi: float
    scale: str

    def to_dict(self) -> dict[str, object]:
        return {"range": [self.lo, self.hi], "scale": self.scale}


@dataclass(frozen=True, slots=True)
class DesignReport:
    """What a design sweep drew and measured (``.design`` of a sweep's result; ``"design"`` in its JSON).

    Attributes:
        kind: ``sobol``, ``morris`` or ``lhs``. n: the base samples asked for. points: how many were drawn (the
            sweep's combinations, in order). params: the varied parameters. measure: what was measured.
        values: the measure at each point (its mean over the point's completed runs; None where none completed).
        inputs: each point's parameter values, in the order of ``params``.
        no_indices: why there are no indices (None when there are, or for ``lhs``, which computes none).
    """

    kind: str
    n: int
    points: int
    params: dict[str, DesignParam]
    measure: str
    values: list[float | None]
    inputs: list[list[float]]
    no_indices: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "n": self.n,
            "points": self.points,
            "params": {name: p.to_dict() for name, p in self.params.items()},
            "measure": self.measure,
            "values": list(self.values),
            "inputs": [list(row) for row in self.inputs],
            "no_indices": self.no_indices,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> DesignReport:
        params: dict[str, DesignParam] = {}
        raw = data.get("params")
        for name, p in (raw if isinstance(raw, Mapping) else {}).items():
            lo, hi = p["range"]
            params[name] = DesignParam(name, float(lo), float(hi), str(p["scale"]))
        values = data.get("values")
        inputs = data.get("inputs")
        no = data.get("no_indices")
        return cls(
            kind=str(data["kind"]),
            n=int(data["n"]),  # type: ignore[call-overload]
            points=int(data["points"]),  # type: ignore[call-overload]
            params=params,
            measure=str(data["measure"]),
            values=[_opt(v) for v in values] if isinstance(values, list) else [],
            inputs=[[float(x) for x in row] for row in inputs] if isinstance(inputs, list) else [],
            no_indices=None if no is None else str(no),
        )


def design_report(
    sample: Sample,
    ranges: Sequence[Range],
    measure: str,
    values: Sequence[float | None],
    inputs: Sequence[Sequence[float]],
    no_indices: str | None,
) -> DesignReport:
    """The report of a drawn design measured at each point; ``inputs``: each point's values as the runs got
    them (an integer parameter's rounded)."""
    return DesignReport(
        kind=sample.kind,
        n=sample.n,
        points=sample.points,
        params={r.name: DesignParam(r.name, r.lo, r.hi, "log-uniform" if r.log else "uniform") for r in ranges},
        measure=measure,
        values=list(values),
        inputs=[[float(x) for x in row] for row in inputs],
        no_indices=no_indices,
    )


__all__ = [
    "CONF_LEVEL",
    "MORRIS_LEVELS",
    "RESAMPLES",
    "SALIB_HINT",
    "DesignParam",
    "DesignReport",
    "MorrisIndex",
    "Range",
    "Sample",
    "Sensitivity",
    "SobolIndex",
    "analyze",
    "design_report",
    "draw",
    "problem",
    "salib",
    "salib_seed",
    "sensitivity_from_dict",
]


# -- a sweep's measure at its points ------------------------------------------------------------------------


def check_series_measure(cls: type[PropagationModel], model: str, at: tuple[str, int] | None, measure: str) -> None:
    """A ``series:MEASURE@TICK`` measure names a series the model records.

    Raises:
        BadParameterError: it names none of the model's states, ``reached``, ``new``, ``depth``, ``breadth``,
            or its variables' moments.
    """
    if at is None:
        return
    states = tuple(map(str, cls.states))
    counted = count_measures(states, bool(cls.counted_removals()), cls.counted_observables())
    known = [*states, REACHED, NEW, DEPTH, BREADTH, *counted]
    known += [f"{v}.{m}" for v in (cls.variables or {}) for m in MOMENTS]
    if at[0] not in known and not at[0].startswith("counter"):
        raise BadParameterError(
            f"measure {measure}: {model}'s series has no {at[0]!r}; its measures are {', '.join(known)}"
        )


def measure_of(run: RunEntry, measure: str) -> float | None:
    """A run's value of a design's measure (None for a failed run, or one without it): ``reached``,
    ``peak_tick``, ``rounds``, ``cascade.depth``, ``cascade.structural_virality``, or ``series:MEASURE@TICK``
    (TICK counted from the injection; a run that ended before TICK keeps its last value, and counts 0 of the
    per-tick counts ``new``, ``new.STATE``, ``onsets``, ``removals``)."""
    if run.get("status") == "failed":
        return None
    value: object
    if measure.startswith("series:"):
        name, _, tick_text = measure.removeprefix("series:").rpartition("@")
        series = run.get("series") or {}
        ticks, column = series.get("tick") or [], series.get(name)
        first = ticks[0] if ticks else None
        if first is None or not column or int(tick_text) < first:
            return None
        at = int(tick_text) - int(first)
        # A run that ended before TICK keeps its last value there, but for the counts per tick, which are 0.
        value = 0 if at >= len(column) and is_tick_count(name) else column[min(at, len(column) - 1)]
    elif measure.startswith("cascade."):
        value = (run.get("cascade") or {}).get(measure.removeprefix("cascade."))
    else:
        value = cast(Mapping[str, object], run).get(measure)
    return None if value is None else float(value)  # type: ignore[arg-type]


def point_value(runs: list[RunEntry], measure: str) -> float | None:
    """A design point's value: the mean of its runs' values (None when no run has one)."""
    got = [x for r in runs if (x := measure_of(r, measure)) is not None]
    return math.fsum(got) / len(got) if got else None
