"""A backtest of a model's forecasts against an observed series, beside simple baselines (``Backtest``:
``agora backtest``, ``world.backtest``).

A backtest is many fits (:class:`~sim.engine.requests.fit.Fit`): at each cut, a fit on the data up to the cut, a
forecast of the next ``horizon`` ticks, scored against what was then observed. Its fit's fields are a
:class:`Fit`'s, parsed by :meth:`Fit.parse`; its own are the cuts, the horizon, the methods and the plan.

**A plan** (``plan``: a TOML file) holds the model, the priors and the settings under the names of the fields (or
of their flags: ``param``, ``serial-interval``), and a ``[world]`` table stating the world it was written for
(``agents``, ``edges``, checked against the world; ``why`` and other texts, for the reader). Its sha256 goes into
the report, so a reader sees that the forecast was fixed before its scores were seen. Beside a plan only
``observed`` (when the plan names none), ``workers`` and ``ray`` may be given: any other field, which would change
the forecast without changing the hash, is refused.
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

from sim.core.boundedio import Bounds, read_bounded
from sim.engine.bounds import MAX_TICKS, MAX_WORKERS
from sim.engine.requests.common import bounded
from sim.engine.requests.fit import Fit
from sim.errors import BadFileError, BadParameterError

#: How a backtest may forecast: Agora's own (each cut's fit continued), and the baselines
#: (:mod:`sim.analysis.baselines`, :mod:`sim.analysis.seismic`).
METHODS = ("agora", "persistence", "renewal", "seismic")
#: The methods a backtest runs when none is named (``renewal`` too where a serial interval is given).
DEFAULT_METHODS = ("agora", "persistence")
#: The default horizon in ticks (two weeks of daily data), and the default draws of each forecast.
HORIZON = 14
DRAWS = 1000
MAX_DRAWS = 100_000
#: At most this many forecast values (draws times horizon) a method makes at a cut: 80 MB of float64.
MAX_CELLS = 10_000_000
#: At most this many cuts.
MAX_CUTS = 1000
#: A plan file's size at most.
MAX_PLAN_BYTES = 1 << 20
#: The fields a plan may leave to the command (they change no number of the result).
BESIDE_PLAN = ("plan", "observed", "workers", "ray")
#: A plan's ``[world]`` keys that are checked against the world (the others are texts for the reader).
WORLD_CHECKS = ("agents", "edges")
#: What a plan's key may be spelled as, beside a field's name: its flag's (``param``, ``serial-interval``).
_PLAN_ALIASES = {"param": "params", "no_adjust": "adjust"}
#: A time as a cut names it: a whole number, an ISO date or timestamp; for cascades an age (``1h``, ``3600``).
_CUT = re.compile(r"[0-9T:+\-. dhminsw]{1,40}\Z")


@dataclass(frozen=True)
class PlanFile:
    """A plan file, read: its path, its bytes' sha256, its settings (by field name) and the world it states."""

    path: str
    sha256: str
    settings: Mapping[str, object]
    world: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "sha256": self.sha256, "world": dict(self.world)}


def _plan_bad(path: str, what: str) -> BadFileError:
    return BadFileError(f"plan file {path} {what}")  # the sentence names the file: no flag for it


def read_plan(path: str) -> PlanFile:
    """The plan file ``path`` (TOML), its keys spelled as fields (``param`` -> ``params``, ``-`` -> ``_``), the
    relative paths it names (``observed``, ``serial_interval``, a ``delay`` file) taken from its folder.

    Raises:
        BadFileError: a missing, unreadable or too large file, one that is not TOML (its line named, never its
            text), a ``[world]`` that is not a table.
        BadParameterError: a setting that is no field of a backtest, or one named twice (``param`` and
            ``params``).
    """
    raw = read_bounded(path, "plan file", "a TOML file", gz=False, bounds=Bounds(text=MAX_PLAN_BYTES))
    digest = hashlib.sha256(raw).hexdigest()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise _plan_bad(path, "is not UTF-8 text: give a TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        where = f"line {line.group(1)}" if line else "its end" if "end of document" in str(exc) else "a place"
        raise _plan_bad(path, f"is not TOML at {where}: give NAME = VALUE lines (see docs/backtesting.md)") from None
    world = data.pop("world", {})
    if not isinstance(world, dict):
        raise _plan_bad(path, "has world = a value: give a [world] table (agents = N, edges = M, why = '...')")
    for key in WORLD_CHECKS:
        value = world.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise _plan_bad(path, f"states [world] {key} as something other than a whole number: give {key} = N")
    folder = os.path.dirname(os.path.abspath(path))
    settings: dict[str, object] = {}
    for key, value in data.items():
        name = _PLAN_ALIASES.get(key.replace("-", "_"), key.replace("-", "_"))
        if name not in Backtest.FIELDS or name in BESIDE_PLAN[:1]:
            raise BadParameterError(
                f"plan file {path} has an unknown setting {key[:40]!r}: its settings are those of agora backtest "
                f"({', '.join(f for f in Backtest.FIELDS if f != 'plan')}) and a [world] table"
            )
        if name in settings:
            raise BadParameterError(f"plan file {path} sets {name} twice: give it once")
        if key in ("no_adjust", "no-adjust"):
            value = not value if isinstance(value, bool) else value
        if name in ("observed", "serial_interval", "delay") and isinstance(value, str) and value:
            local = not value.startswith("gamma:") and not os.path.isabs(value)
            value = os.path.normpath(os.path.join(folder, value)) if local else value
        settings[name] = value
    return PlanFile(os.path.abspath(path), digest, MappingProxyType(settings), MappingProxyType(dict(world)))


def _texts(value: object, what: str, give: str) -> tuple[str, ...]:
    """``"a,b"`` or a list of texts as a tuple of stripped texts (empty: none)."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(
        isinstance(t, (str, int)) and not isinstance(t, bool) for t in items
    ):
        raise BadParameterError(f"{what} must be {give}, not {str(value)[:60]!r}", fields=what)
    return tuple(str(t).strip() for t in items if str(t).strip())


def _methods(value: object) -> tuple[str, ...]:
    names = _texts(value, "method", f"forecast methods among {', '.join(METHODS)}")
    for name in names:
        if name not in METHODS:
            raise BadParameterError(
                f"method {name[:30]!r} is none of the backtest's forecasts: give {', '.join(METHODS)}", fields="method"
            )
    if len(set(names)) < len(names):
        raise BadParameterError("method names one forecast twice: give each once", fields="method")
    return names


def _cuts(data: Mapping[str, object]) -> tuple[tuple[str, ...], int | None]:
    cut = _texts(data.get("cut"), "cut", "times of the observed file's time column, such as 20,30 or 1861-11-20")
    for text in cut:
        if not _CUT.match(text):
            raise BadParameterError(
                f"cut {text[:40]!r} is not a time: give a day or tick number (20) or an ISO date (1861-11-20)",
                fields="cut",
            )
    if len(set(cut)) < len(cut):
        raise BadParameterError("cut names one time twice: give each cut once", fields="cut")
    if len(cut) > MAX_CUTS:
        raise BadParameterError(f"cut names {len(cut)} times: give at most {MAX_CUTS}", fields="cut")
    count = data.get("cuts")
    if count is not None and cut:
        raise BadParameterError("give cuts N (spread evenly) or cut T1,T2,... (the times), not both", fields="cuts")
    return cut, None if count is None else bounded(count, "cuts", 1, MAX_CUTS)


def _with_plan(data: Mapping[str, object]) -> tuple[Mapping[str, object], PlanFile | None]:
    """``data`` with its plan file's settings under it (the plan's path dropped), and the plan read; or ``data``
    as it is, and None.

    Raises:
        BadParameterError: a plan that is no path; a field beside it that would change the forecast.
        BadFileError: the plan cannot be read.
    """
    if data.get("plan") is None:
        return data, None
    where = data["plan"]
    if isinstance(where, os.PathLike):
        where = os.fspath(where)
    if not isinstance(where, str) or not where:
        raise BadParameterError(f"plan must be a TOML file's path, not {str(where)[:60]!r}", fields="plan")
    plan = read_plan(where)
    beside = sorted(k for k in data if k not in BESIDE_PLAN or (k == "observed" and "observed" in plan.settings))
    if beside:
        raise BadParameterError(
            f"{beside[0]} is set beside plan file {plan.path}, which fixes the forecast before its scores are "
            f"seen: set it in the plan (its sha256 changes with it), or drop it here",
            fields=beside[0],
        )
    return {k: v for k, v in {**plan.settings, **data}.items() if k != "plan"}, plan


def _flag(data: Mapping[str, object], name: str, default: bool) -> bool:
    value = data.get(name, default)
    if not isinstance(value, bool):
        raise BadParameterError(f"{name} must be true or false, not {str(value)[:30]!r}", fields=name)
    return value


@dataclass(frozen=True)
class Backtest:
    """Forecasts from fits at cuts of an observed series, scored against what was observed after each cut
    (``agora backtest``, ``world.backtest``).

    Attributes:
        fit: the fit made at every cut, on the data up to it (its ``observed``, ``model``, ``params`` and the rest;
            ``steps`` is each cut's, and the fit is ABC's: a forecast continues its accepted simulations).
        cut: the cuts as times of the observed file's time column (a day or tick number, an ISO date or
            timestamp, as ``time`` reads the column); empty: ``cuts`` of them spread evenly.
        cuts: how many cuts to spread evenly over the observed span, a horizon left after the last (None: 5,
            where ``cut`` names none).
        horizon: ticks forecast after each cut. until_done: a horizon may pass the last observation (the ticks
            past it are forecast, not scored); without it, such a horizon is refused.
        method: the forecasts to score (:data:`METHODS`; empty: :data:`DEFAULT_METHODS`, with ``renewal`` where a
            serial interval is given).
        serial_interval: the renewal projection's serial interval (``gamma:MEAN,SD`` or a ``day,probability``
            file). draws: draws of each forecast scored. workers: processes that fit cuts at once (None: one per
            CPU, at most one per cut); the result is the same. plan: the plan file, read (:class:`PlanFile`).
        n_star: SEISMIC's mean follower count of a new resharer (None: the package's 100), for cascades.
        alive: Agora's forecast conditioned on the last week before each cut: the continued trajectories with none
            of the column in it, where the data have some, left out (:func:`sim.runs.backtest.forecasts.agora_draws`);
            False continues the accepted trajectories as they were drawn (the plans' first runs).

    For a file of cascades with follower counts (:mod:`sim.runs.backtest.cascade_run`) the cuts are ages since each
    original post (``1h``, ``6h``, ``1d`` or seconds) and the target each cascade's final size: ``horizon``,
    ``until_done``, ``draws`` and ``serial_interval`` do not apply.
    """

    fit: Fit
    cut: tuple[str, ...] = ()
    cuts: int | None = None
    horizon: int = HORIZON
    until_done: bool = False
    method: tuple[str, ...] = ()
    serial_interval: str | None = None
    draws: int = DRAWS
    workers: int | None = None
    plan: PlanFile | None = None
    n_star: float | None = None
    alive: bool = True

    #: The backtest's own fields; every other one is its fit's (:attr:`Fit.FIELDS`).
    OWN: ClassVar[tuple[str, ...]] = (
        "cut",
        "cuts",
        "horizon",
        "until_done",
        "method",
        "serial_interval",
        "draws",
        "workers",
        "plan",
        "n_star",
        "alive",
    )
    #: The fields of a fit a backtest does not take: its cuts set the steps, it continues ABC's simulations, it
    #: fits one model and checks no choice, and its scores are its predictive check.
    NOT_FIT: ClassVar[tuple[str, ...]] = ("steps", "method", "check_choice", "predictive")
    FIELDS: ClassVar[tuple[str, ...]] = (
        *(f for f in Fit.FIELDS if f not in ("steps", "method", "check_choice", "predictive", "workers")),
        *OWN,
    )

    @property
    def methods(self) -> tuple[str, ...]:
        """The forecasts scored: those asked for, else Agora's and persistence (and renewal with a serial
        interval)."""
        if self.method:
            return self.method
        return DEFAULT_METHODS + (("renewal",) if self.serial_interval else ())

    @classmethod
    def parse(cls, data: Mapping[str, object]) -> Backtest:
        """The backtest ``data`` asks for (the keys of :attr:`FIELDS`; ``plan`` a plan file's path, whose settings
        come first).

        Raises:
            BadParameterError: an unknown field, a bad value (one sentence naming the field), a field given beside
                a plan that sets the forecast, a fit of several models, a method that needs what is not given.
            BadFileError: the plan file cannot be read or is not TOML.
        """
        extra = sorted(set(data) - set(cls.FIELDS))
        if extra:
            bad = str(extra[0])[:60]
            if bad in cls.NOT_FIT:
                raise BadParameterError(
                    f"a backtest sets its fits' {bad} itself (each fit runs to its cut, by ABC, with no choice or "
                    f"predictive check): drop {bad}",
                    fields=bad,
                )
            raise BadParameterError(f"unknown field {bad!r}: the fields are {', '.join(cls.FIELDS)}")
        data, plan = _with_plan(data)
        fit = Fit.parse({k: v for k, v in data.items() if k not in cls.OWN} | {"predictive": 0, "method": "abc"})
        if fit.replicates is not None and fit.replicates > 1:
            raise BadParameterError(
                f"a backtest continues each accepted simulation as one trajectory, and replicates {fit.replicates} "
                "would make each forecast a mean of runs (too narrow): leave it out, for one run a simulation",
                fields="replicates",
            )
        if len(fit.models) > 1:
            raise BadParameterError(
                f"a backtest forecasts with one model, and model names {len(fit.models)}: choose one (agora fit "
                "compares them)",
                fields="model",
            )
        cut, cuts = _cuts(data)
        horizon = bounded(data.get("horizon", HORIZON), "horizon", 1, MAX_TICKS)
        until, alive = _flag(data, "until_done", False), _flag(data, "alive", True)
        method = _methods(data.get("method"))
        si = data.get("serial_interval")
        if isinstance(si, os.PathLike):
            si = os.fspath(si)
        if si is not None and (not isinstance(si, str) or not si.strip()):
            raise BadParameterError(
                f"serial_interval must be gamma:MEAN,SD or a day,probability file, not {str(si)[:60]!r}",
                fields="serial_interval",
            )
        if "renewal" in method and si is None:
            raise BadParameterError(
                "the renewal projection needs the data's serial interval: give serial_interval (gamma:MEAN,SD or a "
                "day,probability file)",
                fields="serial_interval",
            )
        draws = bounded(data.get("draws", DRAWS), "draws", 10, MAX_DRAWS)
        if draws * horizon > MAX_CELLS:
            raise BadParameterError(
                f"draws {draws:,} of horizon {horizon:,} ticks make {draws * horizon:,} forecast values a cut, more "
                f"than {MAX_CELLS:,}: give fewer draws or a shorter horizon",
                fields=("draws", "horizon"),
            )
        workers = data.get("workers")
        n_star = data.get("n_star")
        if n_star is not None and (
            isinstance(n_star, bool) or not isinstance(n_star, (int, float)) or not 0 < n_star < 1e9
        ):
            raise BadParameterError(
                f"n_star, a new resharer's mean follower count (SEISMIC's), must be a number above 0, not "
                f"{str(n_star)[:30]!r}",
                fields="n_star",
            )
        return cls(
            fit=fit,
            cut=cut,
            cuts=cuts,
            horizon=horizon,
            until_done=until,
            method=method,
            serial_interval=si,
            draws=draws,
            workers=None if workers is None else bounded(workers, "workers", 1, MAX_WORKERS),
            plan=plan,
            n_star=None if n_star is None else float(n_star),
            alive=alive,
        )

    def describe(self) -> dict[str, Any]:
        """The backtest's settings as its report states them."""
        return {
            "model": self.fit.model,
            "params": list(self.fit.params.texts),
            "seeds": self.fit.seeds,
            "budget": self.fit.budget,
            "seed": self.fit.seed,
            "summary": [s if isinstance(s, str) else getattr(s, "__name__", "function") for s in self.fit.summary],
            "distance": self.fit.distance,
            "adjust": self.fit.adjust,
            "horizon": self.horizon,
            "until_done": self.until_done,
            "methods": list(self.methods),
            "serial_interval": self.serial_interval,
            "draws": self.draws,
            "n_star": self.n_star,
            "alive": self.alive,
            "plan": None if self.plan is None else self.plan.to_dict(),
        }


__all__ = ["DEFAULT_METHODS", "METHODS", "Backtest", "PlanFile", "read_plan"]
