"""A fit of a model's parameters to an observation file (``Fit``: ``agora fit``, ``world.fit``)."""

from __future__ import annotations

import inspect
import math
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.machinery import PathFinder
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from sim.core.boundedio import opened
from sim.core.numbers import ascii_digits, ascii_float
from sim.engine.bounds import (
    FIT_BUDGET,
    FIT_PREDICTIVE,
    MAX_TICKS,
)
from sim.engine.bounds import MAX_CHECK_CHOICE as MAX_CHECK_CHOICE
from sim.engine.bounds import MAX_PEOPLE as MAX_PEOPLE
from sim.engine.fields import FIT_OPTIONS
from sim.engine.options import Options
from sim.engine.requests.common import KERNELS
from sim.engine.requests.priors import Prior, Priors, ranges_from, split_params
from sim.errors import BadParameterError
from sim.model.seeds import FIT, SeedSpec
from sim.store.timeline import parse_duration

if TYPE_CHECKING:
    import pandas as pd

#: How a fit may go: ``exact`` (the likelihood of adoption times), ``abc`` (ABC-SMC), ``auto`` (exact where it
#: exists).
METHODS = ("auto", "abc", "exact")
#: ABC's distances (:data:`sim.runs.fit.abc.DISTANCES` holds their classes).
DISTANCES = ("adaptive", "regression")
#: The most models one fit chooses between (``model="sir,seir"``), and the most data sets per model that the
#: check of that choice fits back (``check_choice``: each one a whole fit).
MAX_MODELS = 16
#: The built-in statistics of a series (``summary``; :func:`sim.runs.fit.summaries.series_statistics`): ``curve``
#: (the default) every column at every tick, the others one number per column.
BUILTIN_SUMMARIES = ("curve", "peak", "peak_tick", "final", "growth", "waves")
CURVE = ("curve",)
#: One summary: a built-in's name, ``module:function`` (a user's function), or, from Python, the function.
SummarySpec = str | Callable[..., Any]


#: A candidate's label in a choice between models (``layered=seir``).
_LABEL = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}\Z")


def _models(value: object) -> str:
    """``"sir"``, ``"sir,seir"`` or ``["sir", "seir"]`` as the models' names joined by commas (one name: one
    model's fit; several: the choice between them). A candidate may be labelled, ``LABEL=MODEL``
    (``seir,layered=seir``: one model twice, with different parameters: ``params`` ``layered.NAME``)."""
    names = value.split(",") if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not names or not all(isinstance(n, str) and n.strip() for n in names):
        raise BadParameterError(
            f"model must be a model's name or several (sir,seir), not {str(value)[:60]!r}", fields="model"
        )
    names = [n.strip() for n in names]
    labels = [n.partition("=")[0].strip() for n in names]
    for name, label in zip(names, labels, strict=True):
        if "=" in name and (not _LABEL.match(label) or not name.partition("=")[2].strip()):
            raise BadParameterError(
                f"model {name[:60]!r} is not LABEL=MODEL: a label is a letter, then letters, digits, _ or - "
                "(layered=seir)",
                fields="model",
            )
    twice = next((n for i, n in enumerate(labels) if n in labels[:i]), None)
    if twice is not None:
        raise BadParameterError(
            f"model names {twice[:40]!r} twice: give each model once, or label the second as LABEL=MODEL",
            fields="model",
        )
    if len(names) > MAX_MODELS:
        raise BadParameterError(f"model names {len(names)} models: choose between at most {MAX_MODELS}", fields="model")
    if len(names) == 1 and "=" in names[0]:
        raise BadParameterError(
            "a label names one of several models to choose between: give the model alone", fields="model"
        )
    return ",".join(
        f"{lab}={n.partition('=')[2].strip()}" if "=" in n else n for n, lab in zip(names, labels, strict=True)
    )


#: A measure's name as ``observe`` may give it: a series' measure (``new``, ``I``, ``new.E``, ``onsets``).
_MEASURE = re.compile(r"[A-Za-z_][A-Za-z0-9_.@-]{0,63}\Z")


def _observed(value: object) -> Any:
    """The observation: a file's path, or a pandas DataFrame (from Python only: JSON holds no DataFrame)."""
    if type(value).__name__ == "DataFrame" and hasattr(value, "columns"):
        return value
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value:
        raise BadParameterError(
            "give the observation as observed: a file (a series, cascades, id,tick, or a table recorded in its own "
            "time) or, from Python, a pandas DataFrame",
            fields="observed",
        )
    return value


def _time(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise BadParameterError(f"time must name the time column, not {str(value)[:60]!r}", fields="time")
    return value.strip()


def _imported(value: object) -> str | None:
    """The column of imported cases (``COLUMN`` or ``COLUMN:included``), checked for its form."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or value.strip() == ":included":
        raise BadParameterError(
            f"imported must name the column of imported cases (COLUMN, or COLUMN:included where the cases count "
            f"them), not {str(value)[:60]!r}",
            fields="imported",
        )
    return value.strip()


#: The most observation channels a fit keeps.
MAX_CHANNELS = 16
_FRACTION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def _channels(value: object) -> tuple[tuple[str, str, str | None], ...]:
    """Observation channels (issue 74) as ``(column, fraction, delay)``: texts ``COLUMN:FRACTION[:DELAY]``
    (``deaths:ifr:gamma:14,5``), or mappings ``{"column", "fraction", "delay"}``."""
    if value is None:
        return ()
    items = [value] if isinstance(value, (str, Mapping)) else value
    if not isinstance(items, (list, tuple)) or len(items) > MAX_CHANNELS:
        raise BadParameterError(
            f"channel must be up to {MAX_CHANNELS} texts COLUMN:FRACTION[:DELAY] (deaths:ifr:gamma:14,5)",
            fields="channel",
        )
    out: list[tuple[str, str, str | None]] = []
    for item in items:
        if isinstance(item, Mapping):
            column, fraction, delay = item.get("column"), item.get("fraction"), item.get("delay")
        elif isinstance(item, str):
            column, _, rest = item.partition(":")
            fraction, _, delay_text = rest.partition(":")
            delay = delay_text or None
        else:
            column = fraction = delay = None
        if not isinstance(column, str) or not column.strip() or not isinstance(fraction, str):
            raise BadParameterError(
                f"channel {str(item)[:60]!r} must be COLUMN:FRACTION[:DELAY]: the observed column, the name of its "
                "reporting fraction among the params, and its delay (gamma:MEAN,SD or a day,probability file)",
                fields="channel",
            )
        if not _FRACTION_NAME.fullmatch(fraction):
            raise BadParameterError(
                f"channel {column[:40]}'s fraction {fraction[:40]!r} must be a parameter's name (letters, digits, _), "
                "given among the params (ifr=0.01, or ifr=0.001..0.05 to fit it)",
                fields="channel",
            )
        out.append((column.strip(), fraction, None if delay is None else _delay(delay)))
    columns = [c for c, _, _ in out]
    twice = next((c for i, c in enumerate(columns) if c in columns[:i]), None)
    if twice is not None:
        raise BadParameterError(f"channel names column {twice[:40]!r} twice: give each column once", fields="channel")
    return tuple(out)


def _tick(value: object) -> str | None:
    """A tick's length as given (``1d``), checked (:func:`sim.store.timeline.parse_duration`)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadParameterError(f"tick must be a duration such as 1d or 6h, not {str(value)[:60]!r}", fields="tick")
    parse_duration(value)
    return value.strip()


def _observe(value: object) -> tuple[tuple[str, str], ...]:
    """``COLUMN=MEASURE`` texts (or a mapping ``{"cases": "onsets"}``) as ``(column, measure)`` pairs."""
    if value is None:
        return ()
    if isinstance(value, Mapping):
        pairs = [(k, v) for k, v in value.items()]
    elif isinstance(value, (list, tuple)) and all(isinstance(t, str) for t in value):
        pairs = [tuple(t.rsplit("=", 1)) if "=" in t else (t, "") for t in value]
    elif isinstance(value, str):
        return _observe([value])
    else:
        raise BadParameterError(
            f"observe must be COLUMN=MEASURE texts or a mapping, not {str(value)[:60]!r}", fields="observe"
        )
    out: list[tuple[str, str]] = []
    for column, measure in pairs:
        if not isinstance(column, str) or not isinstance(measure, str) or not column.strip():
            raise BadParameterError(
                f"observe must be COLUMN=MEASURE, such as cases=onsets, not {str(column)[:40]!r}", fields="observe"
            )
        if not _MEASURE.match(measure.strip()):
            raise BadParameterError(
                f"observe {column.strip()[:40]}={measure.strip()[:40]} names no measure: give COLUMN=MEASURE, such "
                "as cases=onsets or cases=new",
                fields="observe",
            )
        if any(c == column.strip() for c, _ in out):
            raise BadParameterError(
                f"observe names column {column.strip()[:40]!r} twice: give it once", fields="observe"
            )
        out.append((column.strip(), measure.strip()))
    return tuple(out)


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


def gamma_parts(text: str) -> tuple[float, float]:
    """``MEAN, SD`` of a delay ``gamma:MEAN,SD`` (days, both above 0).

    Raises:
        BadParameterError: another form, or a value that is not a number above 0.
    """
    parts = text[len("gamma:") :].split(",")
    if len(parts) != 2:
        raise BadParameterError(
            f"delay {text[:40]!r} must be gamma:MEAN,SD (e.g. gamma:3,1.5, in days) or a day,probability file",
            fields="delay",
        )
    out = []
    for part, what in zip(parts, ("mean", "standard deviation"), strict=True):
        number = ascii_float(part)  # ASCII digits only (issue 71): float reads ٣ as 3
        value = math.nan if number is None else number
        if not math.isfinite(value) or value <= 0:
            raise BadParameterError(
                f"delay {what} {part.strip()[:30]!r} in {text[:40]!r} must be a number above 0", fields="delay"
            )
        out.append(value)
    return out[0], out[1]


def _delay(value: object) -> str | None:
    """A delay's text: ``gamma:MEAN,SD`` (its numbers checked here) or a file's path; None: no delay."""
    if value is None:
        return None
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip():
        raise BadParameterError(
            f"delay must be gamma:MEAN,SD or a day,probability file, not {str(value)[:60]!r}", fields="delay"
        )
    if value.startswith("gamma:"):
        gamma_parts(value)
    return value


#: A summary's module as ``module:function`` names one: dotted Python names (``stats``, ``lab.stats``).
_MODULE = re.compile(r"[^\W\d]\w*(\.[^\W\d]\w*)*\Z")


def summary_is_file(module: str) -> bool:
    """Whether the module part of ``module:function`` is a file's path (``stats.py``, ``lib/stats.py``) rather
    than a module's name."""
    return module.endswith(".py") or "/" in module or os.sep in module


def is_code(spec: SummarySpec) -> bool:
    """Whether a summary is code (a function, ``FILE.py:NAME``, ``module:NAME``) rather than a built-in's name."""
    return callable(spec) or spec not in BUILTIN_SUMMARIES


def _summary_spec(item: object) -> str:
    """One summary's text, checked: a built-in's name, ``FILE.py:FUNCTION`` or ``module:FUNCTION``."""
    name = item.strip() if isinstance(item, str) else ""
    if name in BUILTIN_SUMMARIES:
        return name
    module, sep, attr = name.rpartition(":")
    module = module.strip()
    shown = str(item)[:60]
    if not sep or not module or not attr:
        raise BadParameterError(
            f"summary {shown!r} is neither one of Agora's ({', '.join(BUILTIN_SUMMARIES)}) nor module:function "
            "or FILE.py:function (a Python function of yours)",
            fields="summary",
        )
    if not all(p.isidentifier() for p in attr.split(".")):
        raise BadParameterError(
            f"summary {shown!r} names {attr[:40]!r}, which is not a Python function's name: give "
            "FILE.py:function or module:function",
            fields="summary",
        )
    if summary_is_file(module):
        if not module.endswith(".py"):
            raise BadParameterError(
                f"summary {shown!r} names a file that is not a Python file (FILE.py): give FILE.py:function or "
                "module:function",
                fields="summary",
            )
    elif not _MODULE.match(module):
        raise BadParameterError(
            f"summary {shown!r} names {module[:40]!r}, which is neither a module's name (stats, lab.stats) nor a "
            ".py file: give module:function or FILE.py:function",
            fields="summary",
        )
    return f"{module}:{attr}"


def parse_summaries(value: object) -> tuple[SummarySpec, ...]:
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
        name = _summary_spec(item)
        if name in out:
            raise BadParameterError(f"summary names {name!r} twice: name each statistic once", fields="summary")
        out.append(name)
    return tuple(out)


def summary_source(spec: SummarySpec) -> str | None:
    """The file whose code a code summary runs, found without running any: ``FILE.py``'s absolute path, the file
    ``module`` would be imported from (the current folder first, then the Python path; a package's own module
    file, not its parents'), a function's source file; None where there is none (a built-in's name, a module
    that is not found or has no file)."""
    if callable(spec):
        try:
            found = inspect.getsourcefile(spec)
        except TypeError:
            return None
        return os.path.abspath(found) if found and os.path.isfile(found) else None
    if not is_code(spec):
        return None
    module = spec.rpartition(":")[0]
    if summary_is_file(module):
        return os.path.abspath(module)
    path: list[str] = [os.getcwd(), *sys.path]
    found_spec = None
    for i, part in enumerate(module.split(".")):
        found_spec = PathFinder.find_spec(part, path)
        if found_spec is None:
            return None
        if i < module.count("."):
            path = list(found_spec.submodule_search_locations or [])
    origin = found_spec.origin if found_spec is not None else None
    return os.path.abspath(origin) if origin and os.path.isfile(origin) else None


#: A summary file's size at most: a module of statistics is a few KiB.
MAX_SUMMARY_BYTES = 4 << 20


def summary_code(path: str) -> bytes:
    """The bytes of the summary file ``path``: a regular file of at most :data:`MAX_SUMMARY_BYTES`, read once (what
    is hashed is what runs).

    Raises:
        BadFileError: no file there, a folder, a pipe or a device, a file too large or unreadable (one sentence
            naming the file, never its bytes).
    """
    with opened(path, "summary file", "a Python file (FILE.py:function)", limit=MAX_SUMMARY_BYTES) as fh:
        return fh.read(MAX_SUMMARY_BYTES + 1)


def _ray(value: object) -> str | None:
    """A Ray cluster's address (``HOST:PORT``, ``ray://HOST:PORT``) or ``auto``, as given; None: local processes."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 512:
        raise BadParameterError(f"ray must be a Ray address or 'auto', not {str(value)[:60]!r}", fields="ray")
    if not ascii_digits(value):
        raise BadParameterError(
            f"ray {value[:60]!r} has digits of another script: write its port in ASCII digits (0-9)", fields="ray"
        )
    return value


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
        observed: the observation file (:mod:`sim.store.observed`: a series, cascades or adoption times).
        model: the propagation model, or several joined by commas (``"sir,seir"``; a list is joined): then the
            fit chooses between them (:mod:`sim.runs.fit.choice`), each parameter applying to the models that
            have it. params: the fitted parameters' priors (uniform or log-uniform) and the
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
        check_choice: with several models, data sets simulated from each model's posterior and fitted back,
            for the confusion matrix of the choice (0: none).
        time: the time column of a table recorded in its own time (None: the one named date, time, day, tick or
            t). tick: how long one tick lasts (``1d``, ``6h``, ``10min``; None: the world's minutes per tick).
        observe: ``(column, measure)`` pairs: the table's count columns and the series measure each observes
            (``("cases", "onsets")``; empty: every count column, under its own name). See
            :mod:`sim.store.timeline` and :func:`sim.store.observed.read_recorded`.
        delay: the reporting delay of the observation model (:mod:`sim.runs.fit.reporting`): ``gamma:MEAN,SD``
            (days) or a ``day,probability`` file (None: cases are seen when they happen). The reporting fraction
            is ``params``' ``report``.
        summary: the statistics of a series that the fit compares: built-ins (:data:`BUILTIN_SUMMARIES`;
            ``curve``, every column at every tick, by default) and ``module:function`` (a user's function, or,
            from Python, the function itself: :class:`sim.runs.fit.summaries.UserSummary`).
        people: the population the world's agents stand for (issue 73; None: the world's agents): every simulated
            count is scaled by ``people / agents`` before the reporting fraction and the delay, so that the fitted
            reporting fraction means the same whatever the world's size (:mod:`sim.runs.fit.reporting`).
        imported: the observation's column of imported cases (issue 73; ``COLUMN``, or ``COLUMN:included`` where
            the observed cases count them too): every simulation infects that many agents from outside at those
            ticks (scaled by ``agents / people``), and compares its local cases with the data
            (:mod:`sim.model.imports`). ``params``' ``import`` is a rate of further importations a tick (people).
        channel: observation channels (issue 74): ``(column, fraction, delay)``, an observed column seen through
            its own reporting fraction (a parameter of that name among ``params``, fixed or fitted) and its own
            delay (None: none); columns without one take ``report`` and ``delay`` (:mod:`sim.runs.fit.reporting`).
    """

    observed: str | pd.DataFrame
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
    check_choice: int = 0
    time: str | None = None
    tick: str | None = None
    observe: tuple[tuple[str, str], ...] = ()
    delay: str | None = None
    summary: tuple[SummarySpec, ...] = CURVE
    people: int | None = None
    imported: str | None = None
    channel: tuple[tuple[str, str, str | None], ...] = ()

    #: Each field declared once (:data:`sim.engine.fields.FIT_OPTIONS`): the plain whole numbers read and their
    #: flags made from there, every field's name.
    OPTIONS: ClassVar[Options] = FIT_OPTIONS
    FIELDS: ClassVar[tuple[str, ...]] = FIT_OPTIONS.names

    def __post_init__(self) -> None:
        if not isinstance(self.params, FitParams):  # texts or a mapping given to the constructor: parsed here
            object.__setattr__(self, "params", FitParams.parse(self.params))
        if not isinstance(self.model, str):  # a list of models given to the constructor
            object.__setattr__(self, "model", _models(self.model))
        if not isinstance(self.summary, tuple):  # "peak,final" given to the constructor
            object.__setattr__(self, "summary", parse_summaries(self.summary))
        if self.channel and not all(isinstance(c, tuple) for c in self.channel):  # texts given to the constructor
            object.__setattr__(self, "channel", _channels(self.channel))

    @property
    def models(self) -> tuple[str, ...]:
        """The models' names (their labels, for labelled ones): one, or those the fit chooses between."""
        return tuple(label for label, _ in self.choices)

    @property
    def choices(self) -> tuple[tuple[str, str], ...]:
        """``(label, model)`` of each candidate: the label is the model's name unless given (``layered=seir``)."""
        out = []
        for text in self.model.split(","):
            label, eq, model = text.partition("=")
            out.append((label, model) if eq else (text, text))
        return tuple(out)
        object.__setattr__(self, "summary", parse_summaries(self.summary))  # "peak,final" given to the constructor

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
        values = cls.OPTIONS.read(data)  # an unknown field, and every whole number in its range
        observed = _observed(data.get("observed"))
        params = FitParams.parse(data.get("params", ()))
        model = _models(data.get("model", "ic"))
        check_choice = int(values["check_choice"])
        if check_choice and "," not in model:
            raise BadParameterError(
                "check_choice checks the choice between several models: give them as model A,B", fields="check_choice"
            )
        seeds = data.get("seeds", "random:10")
        if not isinstance(seeds, str):
            raise BadParameterError(
                f"seeds must be a seed selection such as random:10, not {str(seeds)[:60]!r}", fields="seeds"
            )
        SeedSpec.parse(seeds, FIT)  # its form, and no slow seed method: every simulation would choose again
        budget, population = int(values["budget"]), values["population"]
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
        ray = _ray(data.get("ray"))
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
            method=str(method),
            kernel=str(kernel),
            distance=str(distance),
            ray=ray,
            adjust=bool(data.get("adjust", True)),
            columns=_columns(data.get("columns")),
            time=_time(data.get("time")),
            tick=_tick(data.get("tick")),
            observe=_observe(data.get("observe")),
            delay=_delay(data.get("delay")),
            summary=parse_summaries(data.get("summary")),
            imported=_imported(data.get("imported")),
            channel=_channels(data.get("channel")),
            **{o.name: values[o.name] for o in cls.OPTIONS if o.kind == "int"},
        )


__all__ = [
    "BUILTIN_SUMMARIES",
    "DISTANCES",
    "METHODS",
    "Fit",
    "FitParams",
    "Prior",
    "Priors",
    "is_code",
    "summary_is_file",
    "parse_summaries",
    "summary_code",
    "summary_source",
]
