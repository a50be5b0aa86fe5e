"""A fit of a model's parameters to an observation file (``Fit``: ``agora fit``, ``world.fit``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

from sim.engine.bounds import (
    FIT_BUDGET,
    FIT_PREDICTIVE,
    MAX_BUDGET,
    MAX_POPULATION,
    MAX_PREDICTIVE,
    MAX_REPLICATES,
    MAX_STEPS,
    MAX_TICKS,
    MAX_WORKERS,
    SEED_LIMIT,
)
from sim.engine.requests.common import KERNELS, bounded
from sim.engine.requests.priors import Prior, Priors, ranges_from, split_params
from sim.errors import BadParameterError
from sim.model.seeds import FIT, SeedSpec

#: How a fit may go: ``exact`` (the likelihood of adoption times), ``abc`` (ABC-SMC), ``auto`` (exact where it
#: exists).
METHODS = ("auto", "abc", "exact")
#: ABC's distances (:data:`sim.runs.fit.abc.DISTANCES` holds their classes).
DISTANCES = ("adaptive", "regression")
#: The built-in statistics of a series (``summary``; :func:`sim.runs.fit.summaries.series_statistics`): ``curve``
#: (the default) every column at every tick, the others one number per column.
BUILTIN_SUMMARIES = ("curve", "peak", "peak_tick", "final", "growth", "waves")
CURVE = ("curve",)
#: One summary: a built-in's name, ``module:function`` (a user's function), or, from Python, the function.
SummarySpec = str | Callable[..., Any]


def _field(data: Mapping[str, object], key: str, default: int | None, lo: int, hi: int) -> int | None:
    """``data[key]`` (else ``default``) as an int from ``lo`` to ``hi``; None where it is None."""
    value = data.get(key, default)
    return None if value is None else bounded(value, key, lo, hi)


def _columns(value: object) -> tuple[str, ...] | None:
    """``"I,R"`` (or a list) as a tuple of names; None: every column."""
    if value is None:
        return None
    names = value.split(",") if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) and n.strip() for n in names) or not names:
        raise BadParameterError(
            f"columns must name columns of the series, e.g. I,R, not {str(value)[:60]!r}", fields="columns"
        )
    return tuple(n.strip() for n in names)


def _summary(value: object) -> tuple[SummarySpec, ...]:
    """``"peak,final"`` (or a list; from Python, functions too) as the summaries' tuple; None: ``curve``."""
    if value is None:
        return CURVE
    items: Sequence[object] = value.split(",") if isinstance(value, str) else (value,) if callable(value) else value  # type: ignore[assignment]
    if not isinstance(items, (list, tuple)) or not items:
        raise BadParameterError(
            f"summary must name statistics, e.g. peak,final, not {str(value)[:60]!r}", fields="summary"
        )
    out: list[SummarySpec] = []
    for item in items:
        if callable(item):
            out.append(item)
            continue
        name = item.strip() if isinstance(item, str) else ""
        module, sep, attr = name.rpartition(":")
        user = bool(sep and module.strip() and attr and all(p.isidentifier() for p in attr.split(".")))
        if name not in BUILTIN_SUMMARIES and not user:
            raise BadParameterError(
                f"summary {str(item)[:60]!r} is neither one of Agora's ({', '.join(BUILTIN_SUMMARIES)}) nor "
                "module:function (a Python function of yours)",
                fields="summary",
            )
        if name in out:
            raise BadParameterError(f"summary names {name!r} twice: name each statistic once", fields="summary")
        out.append(name)
    return tuple(out)


@dataclass(frozen=True)
class FitParams:
    """A fit's parameters, parsed: the fitted ones' priors, in order, and the fixed ones' values (as text: the
    model's schema types them)."""

    priors: Priors = field(default_factory=lambda: Priors(()))
    fixed: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def parse(cls, raw: object) -> FitParams:
        """``NAME=LO..HI`` / ``NAME=VALUE`` texts, or a mapping ``{"p": (0.01, 0.2)}``, ``{"p": (0.001, 0.2,
        "log")}``, ``{"p": "0.01..0.2"}``, ``{"trust_weighted": False}``.

        Raises:
            BadParameterError: neither, a bad range or name, a parameter named twice (one sentence).
        """
        if isinstance(raw, FitParams):
            return raw
        if isinstance(raw, Mapping):
            priors, fixed = ranges_from(raw)
        elif isinstance(raw, (list, tuple)) and all(isinstance(t, str) for t in raw):
            priors, fixed = split_params(raw)
        else:
            raise BadParameterError(
                f"params must be NAME=LO..HI texts or a mapping, not {str(raw)[:60]!r}", fields="params"
            )
        return cls(priors, MappingProxyType(dict(fixed)))

    @property
    def texts(self) -> tuple[str, ...]:
        """The parameters as ``NAME=LO..HI[:log]`` and ``NAME=VALUE`` texts, the ranges first."""
        return tuple([p.describe() for p in self.priors.items] + [f"{k}={v}" for k, v in self.fixed.items()])


@dataclass(frozen=True)
class Fit:
    """A fit of ``model``'s parameters to the observation file ``observed`` (``agora fit``, ``world.fit``).

    Attributes:
        observed: the observation file (:mod:`sim.runs.fit.observed`: a series, cascades or adoption times).
        model: the propagation model. params: the fitted parameters' priors (uniform or log-uniform) and the
            fixed ones' values (:class:`FitParams`; built from ``NAME=LO..HI`` texts or a mapping).
        seeds: the seed selection of every simulation (``random:10`` draws them afresh in each; ``ids:...``
            fixes them). budget: simulations in all, at most. population: particles per generation (None:
            ``min(500, budget // 10)``). seed: every random draw and run seed of the fit follows from it.
        workers: processes (None: one per CPU). replicates: runs per simulation (None: 1 for a series, the
            observed cascades' count for cascades). steps: ticks of each run (None: to the last observed tick
            for a series, else until done, at most ``max_ticks``). method: one of :data:`METHODS`.
        kernel: ``auto``, ``batched`` or ``engine`` (as ``agora run --kernel``). predictive: simulations of
            the posterior predictive check (0: none). distance: ABC's distance (:data:`DISTANCES`).
        ray: a Ray cluster's address, or ``auto`` for a local one of ``workers`` CPUs (None: local processes);
            the posterior is the same either way. columns: the series' columns to fit (None: all).
        adjust: with the regression distance, adjust the final population for what the tolerance left
            (:func:`sim.runs.fit.abc.regression_adjust`).
        summary: the statistics of a series that the fit compares: built-ins (:data:`BUILTIN_SUMMARIES`;
            ``curve``, every column at every tick, by default) and ``module:function`` (a user's function, or,
            from Python, the function itself: :class:`sim.runs.fit.summaries.UserSummary`).
    """

    observed: str
    model: str = "ic"
    params: FitParams = field(default_factory=FitParams)
    seeds: str = "random:10"
    budget: int = FIT_BUDGET
    population: int | None = None
    seed: int = 0
    workers: int | None = None
    replicates: int | None = None
    steps: int | None = None
    max_ticks: int = MAX_TICKS
    method: str = "auto"
    kernel: str = "auto"
    predictive: int = FIT_PREDICTIVE
    distance: str = "regression"
    ray: str | None = None
    adjust: bool = True
    columns: tuple[str, ...] | None = None
    summary: tuple[SummarySpec, ...] = CURVE

    FIELDS: ClassVar[tuple[str, ...]] = (
        "observed",
        "model",
        "params",
        "seeds",
        "budget",
        "population",
        "seed",
        "workers",
        "replicates",
        "steps",
        "max_ticks",
        "method",
        "kernel",
        "predictive",
        "distance",
        "ray",
        "adjust",
        "columns",
        "summary",
    )

    def __post_init__(self) -> None:
        if not isinstance(self.params, FitParams):  # texts or a mapping given to the constructor: parsed here
            object.__setattr__(self, "params", FitParams.parse(self.params))
        object.__setattr__(self, "summary", _summary(self.summary))  # "peak,final" given to the constructor

    @property
    def priors(self) -> Priors:
        """The fitted parameters' priors, in order."""
        return self.params.priors

    @property
    def fixed(self) -> Mapping[str, str]:
        """The fixed parameters' values, as text."""
        return self.params.fixed

    @classmethod
    def parse(cls, data: Mapping[str, object]) -> Fit:
        """The fit ``data`` asks for (the keys of :attr:`FIELDS`; ``params`` a list of ``NAME=LO..HI`` texts or
        a mapping ``{"p": (0.01, 0.2)}``, ``{"p": (0.001, 0.2, "log")}``, ``{"p": "0.01..0.2"}``).

        Raises:
            BadParameterError: an unknown field, a value out of range or of the wrong type (one sentence naming
                the field).
        """
        extra = sorted(set(data) - set(cls.FIELDS))
        if extra:
            raise BadParameterError(f"unknown field {str(extra[0])[:60]!r}: the fields are {', '.join(cls.FIELDS)}")
        observed = data.get("observed")
        if not isinstance(observed, str) or not observed:
            raise BadParameterError(
                "give the observation file as observed (a series, cascades or id,tick)", fields="observed"
            )
        params = FitParams.parse(data.get("params", ()))
        model = data.get("model", "ic")
        if not isinstance(model, str) or not model:
            raise BadParameterError(f"model must be a model's name, not {str(model)[:60]!r}", fields="model")
        seeds = data.get("seeds", "random:10")
        if not isinstance(seeds, str):
            raise BadParameterError(
                f"seeds must be a seed selection such as random:10, not {str(seeds)[:60]!r}", fields="seeds"
            )
        SeedSpec.parse(seeds, FIT)  # its form, and no slow seed method: every simulation would choose again
        budget = _field(data, "budget", FIT_BUDGET, 1, MAX_BUDGET)
        assert budget is not None
        population = _field(data, "population", None, 2, MAX_POPULATION)
        seed = _field(data, "seed", 0, 0, SEED_LIMIT - 1)
        assert seed is not None
        workers = _field(data, "workers", None, 1, MAX_WORKERS)
        replicates = _field(data, "replicates", None, 1, MAX_REPLICATES)
        steps = _field(data, "steps", None, 1, MAX_STEPS)
        max_ticks = _field(data, "max_ticks", MAX_TICKS, 1, MAX_STEPS)
        assert max_ticks is not None
        predictive = _field(data, "predictive", FIT_PREDICTIVE, 0, MAX_PREDICTIVE)
        assert predictive is not None
        method = data.get("method", "auto")
        if method not in METHODS:
            raise BadParameterError(
                f"method must be one of {', '.join(METHODS)}, not {str(method)[:30]!r}", fields="method"
            )
        kernel = data.get("kernel", "auto")
        if kernel not in KERNELS:
            raise BadParameterError(
                f"kernel must be {', '.join(KERNELS[:-1])} or {KERNELS[-1]}, not {str(kernel)[:30]!r}", fields="kernel"
            )
        ray = data.get("ray")
        if ray is not None and (not isinstance(ray, str) or not ray.strip()):
            raise BadParameterError(f"ray must be a Ray address or 'auto', not {str(ray)[:60]!r}", fields="ray")
        distance = data.get("distance", "regression")
        if distance not in DISTANCES:
            raise BadParameterError(
                f"distance must be one of {', '.join(DISTANCES)}, not {str(distance)[:30]!r}", fields="distance"
            )
        if population is not None and budget < population:
            raise BadParameterError(
                f"a budget of {budget:,} simulations cannot make one population of {population:,}: "
                f"give a budget of {population:,} or more",
                fields="budget",
            )
        return cls(
            observed=observed,
            model=model,
            params=params,
            seeds=seeds,
            budget=budget,
            population=population,
            seed=seed,
            workers=workers,
            replicates=replicates,
            steps=steps,
            max_ticks=max_ticks,
            method=str(method),
            kernel=str(kernel),
            predictive=predictive,
            distance=str(distance),
            ray=ray,
            adjust=bool(data.get("adjust", True)),
            columns=_columns(data.get("columns")),
            summary=_summary(data.get("summary")),
        )


__all__ = ["BUILTIN_SUMMARIES", "DISTANCES", "METHODS", "Fit", "FitParams", "Prior", "Priors"]
