"""Backtests (issue 61): forecasts from fits at cuts of an observed series, scored beside the field's baselines.

:func:`run_backtest` runs a :class:`~sim.engine.requests.backtest.Backtest` (:mod:`sim.runs.backtest.running`);
:class:`BacktestResult` is what it found (:mod:`sim.runs.backtest.result`); for cascades' final sizes,
:class:`CascadeBacktestResult` (:mod:`sim.runs.backtest.cascade_run`).
"""

from sim.runs.backtest.cascade_run import CascadeBacktestResult
from sim.runs.backtest.result import BacktestResult, CutResult
from sim.runs.backtest.running import run_backtest

__all__ = ["BacktestResult", "CascadeBacktestResult", "CutResult", "run_backtest"]
