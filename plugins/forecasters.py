"""Forecasters: what the next ticks of an observed series of counts hold, from its history up to a cut.

``agora backtest --method NAME`` scores a forecaster beside persistence at every cut, and ``agora forecast WORLD
--observed FILE --method NAME`` forecasts the ticks after the last observation with it. The methods built into
the backtest (``agora``, ``persistence``, ``renewal``) are forecasters too; the one here is written as a user's
is, and is the code of ``agora plugins new --template forecaster``.

- ``trend``: the log-linear trend of the last ``window`` ticks carried on (see its class).
"""

from __future__ import annotations

import numpy as np

from sim.plugin import BadParameterError, ForecastContext, Forecaster, Param


class Trend(Forecaster):
    """The log-linear trend of the last ``window`` ticks, carried on: the least-squares line through
    ``log(1 + count)`` over those ticks gives a level and a growth rate a tick; the forecast's mean at ``h`` ticks
    ahead is ``exp(level + rate * h) - 1`` (0 or more), the rate drawn for each future from the line's own
    uncertainty (its standard error), and each tick's count Poisson about that mean. A short-range baseline of the
    kind the forecast hubs run beside persistence: it follows a rise or a fall where persistence stays flat, and
    overshoots when the curve turns."""

    name = "trend"
    version = "1.0"
    description = "the log-linear trend of the last window ticks carried on, Poisson about it"
    colour = "#17becf"
    params = {"window": Param(int, 7, 3, 365, "the ticks the line is fitted over (the last ones before the cut)")}

    def forecast(self, ctx: ForecastContext) -> np.ndarray:
        window = int(self.p["window"])
        history = np.asarray(ctx.history, dtype=np.float64)
        if history.size < window:
            raise BadParameterError(
                f"{self.name} fits its line over the last {window} ticks, and the cut leaves {history.size}: give a "
                "later cut or a smaller window"
            )
        y = np.log1p(history[-window:])
        t = np.arange(window, dtype=np.float64) - (window - 1)  # 0 at the cut
        tm = t.mean()
        sxx = float(((t - tm) ** 2).sum())
        rate = float(((t - tm) * (y - y.mean())).sum() / sxx)
        level = float(y.mean() - rate * tm)
        resid = y - (level + rate * t)
        se = float(np.sqrt((resid**2).sum() / max(window - 2, 1) / sxx))
        rates = ctx.rng.normal(rate, se, size=ctx.draws) if se > 0 else np.full(ctx.draws, rate)
        ahead = np.arange(1, ctx.horizon + 1, dtype=np.float64)
        mean = np.expm1(np.clip(level + rates[:, None] * ahead[None, :], None, 30.0))  # at most e^30: bounded
        return ctx.rng.poisson(np.maximum(mean, 0.0)).astype(np.float64)
