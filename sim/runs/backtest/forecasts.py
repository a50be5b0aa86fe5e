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

**Conditioned on the last week** (``alive``, the default): ABC accepts a simulation by its distance over the
whole curve, and with one seed most simulations die out early, so that a tolerance loose enough for 5,000
simulations accepts extinct ones beside epidemics; continued, they forecast 0 where the data still count cases.
So every accepted particle is continued and those whose trajectory shows none of the column over the last
:data:`RECENT` ticks before the cut, where the data show some, are given weight 0 (a rejection step on an event
the data show, as a particle filter's). The draws are the rest resampled by their weights.

**The baselines** (forecasters: :mod:`sim.runs.backtest.methods`) project the observed column itself: persistence
(the Forecast Hub's baseline) and the renewal equation from R at the cut (:mod:`sim.analysis.baselines`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.model.series import is_tick_count
from sim.runs.fit.simulate import failed_run
from sim.runs.reports import RunEntry

if TYPE_CHECKING:
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


#: The ticks before a cut whose cases a continued trajectory must show where the data show some (``alive``): a
#: week of daily data, as the fit's warning about extinct simulations counts them.
RECENT = 7


def agora_draws(
    plan: Plan,
    fit: FitResult,
    cut: int,
    horizon: int,
    column: str,
    draws: int,
    rng: np.random.Generator,
    recent: float | None = None,
) -> tuple[np.ndarray, int, float | None]:
    """``draws`` forecasts of ``column`` at ticks ``cut + 1 .. cut + horizon``: ``fit``'s accepted particles resampled
    by weight, each continued (see the module docstring); how many continued particles failed (a plugin raised:
    their draws are left out); and, with ``recent``, the share of the posterior's weight kept.

    ``recent``: the data's count of ``column`` over the :data:`RECENT` ticks up to the cut. Where it is above 0 the
    forecast is conditioned on it: every particle is continued, and those whose trajectory has none of ``column`` in
    those ticks (died out before the cut, while the data show cases) get weight 0, the exact rejection step of a
    particle filter for the event "cases in the last week". Where no particle is left the weights stay as they were
    (the share kept is then 0).

    Returns:
        ``(draws', horizon)`` counts (``draws'`` the draws whose particle did not fail), the failed particles and
        the share of weight kept (None without ``recent``, or where the data's last week has no case).
    """
    assert fit.accepted is not None and fit.run_seeds is not None  # an ABC fit's result
    conditioned = recent is not None and recent > 0
    if conditioned:
        unique = np.flatnonzero(fit.weights > 0)
    else:
        picks = rng.choice(fit.accepted.shape[0], size=draws, p=fit.weights)
        unique, inverse = np.unique(picks, return_inverse=True)
    sim = plan.simulator_for(cut + 1 + horizon)  # the fit's simulator, its runs past the cut
    rows = np.empty((unique.size, horizon))
    shown = np.zeros(unique.size)
    bad = np.zeros(unique.size, dtype=bool)
    start = max(0, cut + 1 - RECENT)
    for j, i in enumerate(unique.tolist()):
        runs = sim.runs(fit.accepted[i], int(fit.run_seeds[i]))
        if failed_run(runs):
            bad[j] = True
            continue
        rows[j] = future(runs, column, cut + 1, horizon)
        if conditioned:
            shown[j] = future(runs, column, start, cut + 1 - start).sum()
    if not conditioned:
        keep = ~bad[inverse]
        return rows[inverse[keep]], int(bad.sum()), None
    w = np.where(bad, 0.0, fit.weights[unique])
    alive = w * (shown > 0)
    share = float(alive.sum() / w.sum()) if w.sum() > 0 else 0.0
    if share > 0:
        w = alive
    if w.sum() <= 0:
        return np.empty((0, horizon)), int(bad.sum()), share
    picks = rng.choice(unique.size, size=draws, p=w / w.sum())
    return rows[picks], int(bad.sum()), share
