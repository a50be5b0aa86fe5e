"""The conformance checks of a forecaster (:class:`sim.plugin.Forecaster`; ``agora plugins check``), each passing or
failing with a reason:

- ``construct``: the class makes an instance with its default parameters.
- ``needs``: it needs nothing a forecaster may not ask for (``serial_interval`` at most; the fit is the backtest's).
- ``answer``: on four histories (a rise, a fall, a flat line and zeros; 30 ticks each) and horizons 1 and 7, it
  answers ``(draws, horizon)`` numbers.
- ``counts``: every draw is a finite count, 0 or more.
- ``deterministic``: the same history and generator seed give the same draws twice (its randomness comes from
  ``ctx.rng``).
- ``bad history``: a history of one tick is refused with one sentence (:class:`sim.errors.BadParameterError`) or
  answered; any other exception fails.

A forecaster's exception fails its check with its traceback, never the checker.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.authoring.harness import format_traceback
from sim.authoring.report import CheckReport
from sim.errors import BadParameterError
from sim.plugin import Forecaster

#: The histories a forecaster is asked about: 30 ticks each.
HISTORIES = {
    "a rise": np.round(2.0 * np.exp(0.12 * np.arange(30))),
    "a fall": np.round(60.0 * np.exp(-0.1 * np.arange(30))),
    "a flat line": np.full(30, 12.0),
    "zeros": np.zeros(30),
}
DRAWS = 200


@dataclass(frozen=True)
class _Context:
    """A :class:`sim.plugin.ForecastContext` of the checks: daily ticks, a gamma serial interval of mean 4 days."""

    history: np.ndarray
    horizon: int
    draws: int
    rng: np.random.Generator
    tick_days: int | None = 1
    serial_interval: Any = None
    imported: np.ndarray | None = None
    level: int = 7
    window: int = 7


def _serial_interval() -> Any:
    from sim.analysis.rt import gamma_serial_interval  # noqa: PLC0415 - the checks of a forecaster only

    return gamma_serial_interval(4.0, 2.0)


def _context(history: np.ndarray, horizon: int, seed: int, si: Any) -> _Context:
    frozen = np.array(history, dtype=np.float64)
    frozen.setflags(write=False)
    return _Context(frozen, horizon, DRAWS, np.random.default_rng(seed), serial_interval=si)


def _call(report: CheckReport, name: str, check: str, run: Callable[[], Any]) -> tuple[bool, Any]:
    """``run()``; a failed check with the forecaster's traceback where it raised (not a refusal)."""
    try:
        return True, run()
    except BadParameterError as exc:
        report.add(name, check, "fail", f"it refused a history it should forecast: {exc}")
    except Exception as exc:  # noqa: BLE001 - a plugin may raise anything: its check fails, not the checker
        report.add(name, check, "fail", f"it raised {type(exc).__name__}: {exc}", format_traceback(exc))
    return False, None


def check_forecaster(report: CheckReport, cls: type[Forecaster], seed: int) -> None:
    """Run the checks of the module docstring on ``cls``, adding them to ``report`` under its name."""
    name = str(cls.name)
    ok, made = _call(report, name, "construct", cls)
    if not ok:
        return
    report.add(name, "construct", "pass", "made with its default parameters")
    needs = tuple(getattr(cls, "needs", ()))
    if any(n != "serial_interval" for n in needs):
        report.add(name, "needs", "fail", f"it needs {needs}: a forecaster may need serial_interval, nothing else")
        return
    report.add(name, "needs", "pass", f"needs {', '.join(needs) or 'the history alone'}")
    si = _serial_interval() if needs else None
    answers: list[np.ndarray] = []
    for label, history in HISTORIES.items():
        for horizon in (1, 7):
            ctx = _context(history, horizon, seed, si)
            ok, got = _call(report, name, "answer", functools.partial(made.forecast, ctx))
            if not ok:
                return
            arr = np.asarray(got, dtype=np.float64) if isinstance(got, np.ndarray | list | tuple) else None
            if arr is None or arr.shape != (DRAWS, horizon):
                shape = None if arr is None else arr.shape
                report.add(name, "answer", "fail", f"on {label}, horizon {horizon}: {shape}, not ({DRAWS}, {horizon})")
                return
            answers.append(arr)
    report.add(name, "answer", "pass", f"(draws, horizon) on {len(HISTORIES)} histories at horizons 1 and 7")
    bad = next((a for a in answers if not np.isfinite(a).all() or (a < 0).any()), None)
    if bad is not None:
        report.add(name, "counts", "fail", "a draw is NaN, infinite or below 0: draws are counts")
        return
    report.add(name, "counts", "pass", "every draw a finite count, 0 or more")
    ok, again = _call(report, name, "deterministic", lambda: made.forecast(_context(HISTORIES["a rise"], 7, seed, si)))
    if not ok:
        return
    first = answers[1]  # a rise, horizon 7, the same seed
    if not np.array_equal(np.asarray(again, dtype=np.float64), first):
        report.add(name, "deterministic", "fail", "the same history and seed gave other draws: draw from ctx.rng")
    else:
        report.add(name, "deterministic", "pass", "the same history and seed gave the same draws")
    _bad_history(report, name, made, seed, si)


def _bad_history(report: CheckReport, name: str, made: Forecaster, seed: int, si: Any) -> None:
    ctx = _context(np.array([3.0]), 3, seed, si)
    try:
        made.forecast(ctx)
    except BadParameterError as exc:
        report.add(name, "bad history", "pass", f"a history of one tick refused: {exc}")
    except Exception as exc:  # noqa: BLE001
        report.add(
            name, "bad history", "fail", f"a history of one tick raised {type(exc).__name__} (refuse it with "
            f"BadParameterError: one sentence): {exc}", format_traceback(exc),
        )  # fmt: skip
    else:
        report.add(name, "bad history", "pass", "a history of one tick answered")
