"""What a forecaster is and what it sees: a plugin that forecasts the next ticks of an observed series of counts
from its history up to a cut (issue 74). ``agora backtest --method NAME`` scores it beside the built-in methods at
every cut, and ``agora forecast WORLD --observed FILE --method NAME`` forecasts the ticks after the last observation
with it. Its context is :class:`ForecastContext`, which lists exactly what a forecaster may use.

A forecaster answers draws: ``(draws, horizon)`` counts, each row one possible future of the next ``horizon``
ticks (whole numbers 0 or more; the scores read their quantiles). It must give the same draws for the same context
(its randomness comes from ``ctx.rng``) and refuse a history it cannot forecast from with one sentence
(:class:`sim.errors.BadParameterError`), which the backtest shows as the cut's refusal.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from sim.plugin.base import Plugin

#: What a forecaster may declare it needs (``needs``): ``serial_interval``, the data's serial interval over the
#: ticks (``--serial-interval``; refused without one); ``fit``, the fit of the backtest's model at each cut (the
#: built-in ``agora``'s, which no plugin may declare: a fit belongs to the backtest); ``members``, the other
#: methods' forecasts at the cut (the built-in ``ensemble``'s, which no plugin may declare).
NEEDS = ("serial_interval", "fit", "members")


class SerialIntervalView(Protocol):
    """The data's serial interval, over the ticks (days spread over weekly ticks where a tick is a week)."""

    def over(self, ticks: int) -> np.ndarray:
        """Its probabilities for lags ``0 .. ticks-1`` (float64; a gamma discretised over that many ticks)."""


@runtime_checkable
class ForecastContext(Protocol):
    """What a forecaster sees at a cut. Arrays are read-only."""

    @property
    def history(self) -> np.ndarray:
        """(T,) float64: the observed counts at ticks ``0 .. T-1`` (the cut is tick ``T-1``); 0 where the file has
        no row."""

    @property
    def horizon(self) -> int:
        """Ticks to forecast after the cut, 1 or more."""

    @property
    def draws(self) -> int:
        """Rows of the answer: possible futures, 10 or more."""

    @property
    def rng(self) -> np.random.Generator:
        """This forecast's generator: the same for the same backtest seed, cut and method."""

    @property
    def tick_days(self) -> int | None:
        """The days one tick lasts (1: daily counts; 7: weekly; None: ticks that are no whole days)."""

    @property
    def serial_interval(self) -> SerialIntervalView | None:
        """The data's serial interval over the ticks, where the forecaster ``needs`` it (``--serial-interval``);
        else None."""

    @property
    def imported(self) -> np.ndarray | None:
        """(T,) float64: the imported cases at each tick up to the cut (``--imported``), or None."""

    @property
    def level(self) -> int:
        """The ticks a week holds (7 on daily ticks, 1 on weekly ones): the span persistence averages."""

    @property
    def window(self) -> int:
        """The ticks of R's last window (EpiEstim's week): what the renewal projection estimates R over."""


class Forecaster(Plugin):
    """Base of forecasters. Subclasses set ``name``, ``description``, ``params`` and, optionally, ``colour`` (how
    figures draw it) and ``needs`` (among :data:`NEEDS`), and implement :meth:`forecast`."""

    kind: ClassVar[str] = "forecaster"
    #: A matplotlib colour for figures (its fan, its line in the relative WIS).
    colour: ClassVar[str] = "#9467bd"
    #: What the forecaster needs beyond the history (:data:`NEEDS`).
    needs: ClassVar[tuple[str, ...]] = ()

    def forecast(self, ctx: ForecastContext) -> np.ndarray:
        """``(ctx.draws, ctx.horizon)`` counts, 0 or more: possible futures of the ticks after the cut."""
        raise NotImplementedError

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """The forecaster as ``agora plugins list --json`` shows it."""
        return {"name": cls.name, "colour": cls.colour, "needs": list(cls.needs), "description": cls.description}
