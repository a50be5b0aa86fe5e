"""The forecast methods of a backtest and of a forecast from data, as forecasters (:class:`sim.plugin.Forecaster`,
issue 74): the built-in ones registered here, a user's found in the registry (a file in a plugins folder), each
with its name, colour, needs and draws read from one place.

Built in: ``agora`` (the fit's accepted simulations continued past the cut: it ``needs`` the fit, which the
backtest makes at each cut, :func:`sim.runs.backtest.forecasts.agora_draws`), ``ensemble`` (the other methods'
forecasts combined: it ``needs`` their draws, :mod:`sim.runs.backtest.ensemble`), ``persistence`` (the Forecast
Hub's baseline) and ``renewal`` (the renewal equation from R at the cut; it ``needs`` the serial interval), the
last two written as a user's forecaster is (:mod:`sim.analysis.baselines` does their arithmetic). ``seismic``
forecasts cascades' final sizes, not a series, and stays with the cascades' backtest
(:mod:`sim.runs.backtest.cascade_run`).
"""

from __future__ import annotations

import traceback
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.analysis import baselines
from sim.analysis.rt import SerialInterval
from sim.core.tracebacks import plugin_traceback
from sim.errors import BadParameterError
from sim.model.guard import is_plugin_fault
from sim.model.registry import FORECASTER
from sim.plugin import Forecaster
from sim.plugin.forecaster import ForecastContext, SerialIntervalView

if TYPE_CHECKING:
    from sim.model.registry import Registry


class Agora(Forecaster):
    name = "agora"
    version = "1.0"
    description = "Agora's model fitted at the cut: its accepted simulations continued past it"
    colour = "#1f77b4"
    needs = ("fit",)


class Persistence(Forecaster):
    name = "persistence"
    version = "1.0"
    description = "the Forecast Hub's baseline: a flat median at the last week's mean, spread by past changes"
    colour = "#7f7f7f"

    def forecast(self, ctx: ForecastContext) -> np.ndarray:
        from sim.analysis import baselines  # noqa: PLC0415 - the baselines load with a backtest only

        level = max(1, min(ctx.level, ctx.history.size - 1))  # a cut with less than a week before it: what there is
        return np.asarray(baselines.persistence(ctx.history, ctx.horizon, ctx.draws, ctx.rng, level=level), float)


class Renewal(Forecaster):
    name = "renewal"
    version = "1.0"
    description = "the renewal equation projected from R over the last week (EpiEstim's R, projections' projection)"
    colour = "#ff7f0e"
    needs = ("serial_interval",)

    def forecast(self, ctx: ForecastContext) -> np.ndarray:
        si = ctx.serial_interval
        if si is None:
            raise BadParameterError("the renewal projection needs the data's serial interval: give serial_interval")
        given = si if isinstance(si, SerialInterval) else si.over(ctx.history.size + ctx.horizon)
        came = ctx.imported
        after = 0.0 if came is None or came.size == 0 else float(np.mean(came))
        got = baselines.renewal(
            ctx.history, given, ctx.horizon, ctx.draws, ctx.rng, window=ctx.window, imported=came, after=after
        )
        return np.asarray(got, dtype=np.float64)


class Ensemble(Forecaster):
    name = "ensemble"
    version = "1.0"
    description = "the quantile median (or mean, or trajectory pool) of the other methods' forecasts at each horizon"
    colour = "#2ca02c"
    needs = ("members",)


#: The built-in forecasters, in the order ``--method``'s help lists them.
BUILTIN: tuple[type[Forecaster], ...] = (Agora, Persistence, Renewal, Ensemble)
#: The random streams of the built-in methods (``seismic``'s too): a cut's draws of a method come from
#: ``default_rng([seed, tick, stream])``, the numbers every earlier backtest drew.
STREAMS = {"agora": 0, "persistence": 1, "renewal": 2, "seismic": 3, "ensemble": 4}
#: The colour of a method figures know no colour for.
OTHER_COLOUR = "#9467bd"


def stream_of(name: str) -> int:
    """The random stream of method ``name``: a built-in's own, else one made of its name (the same in every
    process)."""
    known = STREAMS.get(name)
    return known if known is not None else 16 + zlib.crc32(name.encode("utf-8"))


def registered(registry: Registry) -> Registry:
    """``registry`` with the built-in forecasters in it (once; a user's forecaster of a built-in's name is not
    replaced)."""
    for cls in BUILTIN:
        if f"{FORECASTER}:{cls.name}" not in registry.entries:
            registry.register(cls, source="builtin")
    return registry


def forecaster(registry: Registry, name: str) -> type[Forecaster]:
    """The forecaster named ``name`` (a built-in or a user's).

    Raises:
        BadParameterError: no forecaster of that name (the names there are, and where a user's comes from).
        PluginError: a user's forecaster failed to import.
    """
    registered(registry)
    try:
        return registry.forecaster(name)
    except BadParameterError:
        names = ", ".join(e.name for e in registry.list(FORECASTER))
        raise BadParameterError(
            f"method {name[:40]!r} is no forecaster: give {names} or seismic, or a forecaster of yours (a file in "
            "a plugins folder named to the command; agora plugins new writes one from its forecaster template)",
            fields="method",
        ) from None


def colour_of(registry: Registry | None, name: str) -> str:
    """The colour figures draw method ``name`` in."""
    builtin = {cls.name: cls.colour for cls in BUILTIN}
    if name in builtin:
        return builtin[name]
    if registry is not None:
        try:
            return str(registry.forecaster(name).colour)
        except Exception:  # noqa: BLE001 - a figure of a method whose plugin went away: the other colour
            return OTHER_COLOUR
    return OTHER_COLOUR


def check_needs(cls: type[Forecaster], has_serial_interval: bool) -> None:
    """Refuse a method whose needs the request does not meet, and a user's forecaster that asks for the fit.

    Raises:
        BadParameterError: naming the method and what to give.
    """
    needs = tuple(getattr(cls, "needs", ()))
    unknown = [n for n in needs if n not in ("serial_interval", "fit", "members")]
    owned = [n for n in needs if (n == "fit" and cls is not Agora) or (n == "members" and cls is not Ensemble)]
    if unknown or owned:
        raise BadParameterError(
            f"forecaster {cls.name!r} needs {(unknown or owned)[0]!r}, which a forecaster may not ask for: it may "
            "need serial_interval",
            fields="method",
        )
    if "serial_interval" in needs and not has_serial_interval:
        raise BadParameterError(
            f"method {cls.name} needs the data's serial interval: give serial_interval (gamma:MEAN,SD or a "
            "day,probability file)",
            fields="serial_interval",
        )


class ForecasterError(BadParameterError):
    """A forecaster raised: one sentence, and its frames in ``traceback`` (shown to its author by the command line
    even though the exit code is 2: the fault is in their code)."""

    show_traceback = True

    def __init__(self, message: str, tb: str = "") -> None:
        super().__init__(message, fields="method")
        self.traceback = tb


@dataclass(frozen=True)
class CutContext:
    """A :class:`sim.plugin.ForecastContext` at one cut (see it for the fields)."""

    history: np.ndarray
    horizon: int
    draws: int
    rng: np.random.Generator
    tick_days: int | None
    serial_interval: SerialIntervalView | None
    imported: np.ndarray | None
    level: int
    window: int


def forecast_draws(cls: type[Forecaster], ctx: CutContext, where: str) -> np.ndarray:
    """The draws of ``cls`` at a cut (``where`` names it), checked: ``(draws, horizon)`` finite counts 0 or more.

    Raises:
        BadParameterError: the forecaster refused the history (its sentence, with where), answered something else
            than such draws, or raised (its error, with where: a forecaster's fault is its author's).
    """
    history = ctx.history.copy()
    history.setflags(write=False)
    shown = CutContext(**{**ctx.__dict__, "history": history})
    try:
        got = cls().forecast(shown)
    except BadParameterError as exc:
        raise BadParameterError(f"forecaster {cls.name} at {where}: {exc}", fields="method") from None
    except Exception as exc:  # noqa: BLE001 - a plugin may raise anything: one sentence, the author's fault
        if not is_plugin_fault(exc):
            raise
        tb = plugin_traceback("".join(traceback.format_exception(type(exc), exc, exc.__traceback__))) or ""
        raise ForecasterError(f"forecaster {cls.name} failed at {where}: {type(exc).__name__}: {exc}", tb) from None
    return _checked(got, ctx, f"forecaster {cls.name} at {where}")


def _checked(got: Any, ctx: CutContext, who: str) -> np.ndarray:
    try:
        arr = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        raise BadParameterError(f"{who} answered no array of numbers: give (draws, horizon) counts") from None
    if arr.shape != (ctx.draws, ctx.horizon):
        raise BadParameterError(
            f"{who} answered draws of shape {arr.shape}, not ({ctx.draws}, {ctx.horizon}): one row a draw, one "
            "column a tick ahead"
        )
    if not np.isfinite(arr).all() or (arr < 0).any():
        raise BadParameterError(f"{who} answered a draw that is no count (NaN, infinite or below 0)")
    return arr
