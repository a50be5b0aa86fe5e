"""The forecasts a backtest scores at a cut, each as draws of the next ``horizon`` ticks' counts ``(draws, horizon)``.

**Agora's** (:func:`agora_draws`) continues the fit's accepted simulations. ABC's final population is a sample of
parameters *and* of simulations whose statistics came close to the data up to the cut: together an approximate
sample of ``p(theta, z | data)``, ``z`` the simulated trajectory. Each particle's simulation is run again with its
own parameters and run seed for ``horizon`` ticks more: every random draw of a run is keyed by its seed and tick
(:mod:`sim.runs.batched`, the engine), so the run repeats the accepted trajectory tick for tick up to the cut and
goes on past it (``tests/test_backtest.py`` checks that the two agree). The draws are the particles resampled by
their weights. So the forecast starts from the states (who is infected, who recovered, where in the network) of
trajectories that fit the data, not from fresh runs of the posterior's parameters, whose own early chance events
would widen the band with epidemics already unlike the data. The particles are those ABC accepted, before the
regression adjustment: an adjusted particle's parameters are no longer those of its simulation. With a reporting
delay the true trajectory continues as accepted and its reports are drawn again (cases of the last ticks before the
cut that were not yet seen come in after it).

**The baselines** (:func:`baseline_draws`) project the observed column itself: persistence (the Forecast Hub's
baseline) and the renewal equation from R at the cut (:mod:`sim.analysis.baselines`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.model.series import is_tick_count
from sim.runs.fit.simulate import failed_run
from sim.runs.reports import RunEntry

if TYPE_CHECKING:
    from sim.analysis.rt import SerialInterval
    from sim.runs.fit.fitting import FitResult, Plan


def future(runs: list[RunEntry], column: str, start: int, horizon: int) -> np.ndarray:
    """``column`` of ``runs`` (their mean) at ticks ``start .. start + horizon - 1``; a run that ended before a
    tick counts 0 there (a count per tick) or keeps its last value (a state)."""
    out = np.zeros(horizon)
    for run in runs:
        values = np.asarray(run["series"][column], dtype=np.float64)
        pad = 0.0 if is_tick_count(column) or values.size == 0 else float(values[-1])
        row = np.full(horizon, pad)
        part = values[start : start + horizon]
        row[: part.size] = part
        out += row
    return out / max(1, len(runs))


def agora_draws(
    plan: Plan, fit: FitResult, cut: int, horizon: int, column: str, draws: int, rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    """``draws`` forecasts of ``column`` at ticks ``cut + 1 .. cut + horizon``: ``fit``'s accepted particles resampled
    by weight, each continued (see the module docstring); and how many continued particles failed (a plugin
    raised: their draws are left out).

    Returns:
        ``(draws', horizon)`` counts (``draws'`` the draws whose particle did not fail) and the failed particles.
    """
    assert fit.accepted is not None and fit.run_seeds is not None  # an ABC fit's result
    picks = rng.choice(fit.accepted.shape[0], size=draws, p=fit.weights)
    unique, inverse = np.unique(picks, return_inverse=True)
    sim = plan.simulator_for(cut + 1 + horizon)  # the fit's simulator, its runs past the cut
    rows = np.empty((unique.size, horizon))
    bad = np.zeros(unique.size, dtype=bool)
    for j, i in enumerate(unique.tolist()):
        runs = sim.runs(fit.accepted[i], int(fit.run_seeds[i]))
        if failed_run(runs):
            bad[j] = True
            continue
        rows[j] = future(runs, column, cut + 1, horizon)
    keep = ~bad[inverse]
    return rows[inverse[keep]], int(bad.sum())


def baseline_draws(
    method: str,
    series: np.ndarray,
    horizon: int,
    draws: int,
    rng: np.random.Generator,
    serial_interval: SerialInterval | None = None,
    level: int = 1,
) -> np.ndarray:
    """``draws`` forecasts of the ``horizon`` ticks after ``series`` (counts per tick up to the cut) by a baseline:
    ``persistence`` (its median the mean of the last ``level`` ticks) or ``renewal`` (with ``serial_interval``)."""
    from sim.analysis import baselines  # noqa: PLC0415 - the baselines load with a backtest only

    if method == "persistence":
        level = max(1, min(level, series.size - 1))  # a cut with less than a week before it: what there is
        return np.asarray(baselines.persistence(series, horizon, draws, rng, level=level), dtype=np.float64)
    assert method == "renewal" and serial_interval is not None
    return np.asarray(baselines.renewal(series, serial_interval, horizon, draws, rng), dtype=np.float64)
