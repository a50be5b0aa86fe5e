"""``agora bench fit --changes``: a fit with transmission that changes in time beside the same fit without it
(issue 75's target: at least 0.8 times as fast a simulation), measured side by side in one process.

The case is :mod:`sim.bench.fit`'s (``sir`` on ego-Facebook, or ``seir`` on the Hagelloch world of two layers),
its observation the same one run with the truth. Two fits of it with the same budget, seed and workers:

- **plain**: the case's priors, as ``agora bench fit`` fits them;
- **changes**: the same priors and a change point of the whole ``beta`` at the middle of the observation, its
  multiplier fitted (``beta~ROUND=0.2..2``), and a calendar's fixed change (``seir``: the class layer closed for a
  week from a third of the way; ``sir``: ``beta`` halved for a week there): the kernel then reads one table of
  thresholds a segment (:mod:`sim.plugin.schedule`).

- **stages**: the plain fit with Erlang stages (``gamma_stages=3``, and ``sigma_stages=3`` for ``seir``), fixed: a
  stage counter a case in the kernel;
- **walk**: the plain fit with a random walk of log-transmission (``walk=0.1`` fixed; :mod:`sim.runs.fit.walk`): a
  change point every round, one table of thresholds a round;
- **neutral**: the same change points, every multiplier fixed at 1: the same epidemics as the plain fit's (the
  closed week of ``changes`` makes some runs smaller, and so cheaper), so that its ratio is what the machinery
  alone costs.

They alternate (``--repeats`` rounds; the order turns each round, so a change of the machine's load weighs on
all), and the report gives each fit's simulations a second, their medians and the ratios changes/plain and
neutral/plain, beside the target (:data:`RATIO_TARGET`, of the changes' ratio).
"""

from __future__ import annotations

import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

from sim.bench.fit import CASES, OBSERVED_SEED_OFFSET, _observe, _params, _say, _world
from sim.bench.measure import Progress, load_average
from sim.bench.smallworld import edge_list
from sim.runs.transport import default_workers

#: Issue 75's target: a fit with change points at least this many times as fast a simulation as without them.
RATIO_TARGET = 0.8


def changes_of(model: str, steps: int) -> tuple[dict[str, tuple[float, float]], dict[str, float]]:
    """The changes the bench adds to ``model``'s case of ``steps`` ticks: the fitted multiplier's prior and the
    calendar's fixed change points."""
    middle, third = steps // 2, steps // 3
    fitted = {f"beta~{middle}": (0.2, 2.0)}
    if model == "seir":
        return fitted, {f"beta@class~{third}": 0.0, f"beta@class~{third + 7}": 1.0}
    return fitted, {f"beta~{third}": 0.5, f"beta~{third + 7}": 1.0}


def bench_changes(
    budget: int,
    *,
    model: str = "sir",
    workers: int | None = None,
    repeats: int = 2,
    seed: int = 1,
    data: str | None = None,
    progress: Progress = None,
) -> dict[str, Any]:
    """The two fits side by side (the module docstring): their rates, medians, ratio and the verdict."""
    case = CASES[model]
    source = Path(data) / case.dataset if data else edge_list().parent / case.dataset
    count = workers or default_workers(budget)
    fitted, fixed = changes_of(model, case.steps)
    out: dict[str, Any] = {
        "benchmark": "fit --changes",
        "dataset": case.label,
        "model": case.model,
        "budget": budget,
        "workers": count,
        "repeats": repeats,
        "cpu_count": os.cpu_count(),
        "changes": {"fitted": {k: list(v) for k, v in fitted.items()}, "fixed": fixed},
        "load_average": {"before": load_average()},
    }
    if not source.is_file():
        out.update(available=False, reason=f"{source} is missing: set $AGORA_DATA (or give --data) to its folder")
        return out
    rates: dict[str, list[float]] = {"plain": [], "changes": [], "neutral": [], "stages": [], "walk": []}
    kernels: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="agora-bench-changes-") as tmp:
        _say(progress, f"making the world from {case.dataset}", 0.0)
        world, shape = _world(case, source, tmp)
        out.update(shape)
        observed, out["observed"] = _observe(world, case, tmp, seed + OBSERVED_SEED_OFFSET)
        world.ensemble(  # untimed: the compiled kernel loaded, as a user's second command finds Numba's cache
            model=case.model, params=_params(case), seeds=case.seeds, runs=20, steps=case.steps, workers=1
        )
        neutral = {key: 1.0 for key in (*fitted, *fixed)}
        base = {**case.priors, **case.fixed}
        stages = {"gamma_stages": 3, **({"sigma_stages": 3} if model == "seir" else {})}
        params = {
            "plain": base,
            "changes": {**base, **fitted, **fixed},
            "neutral": {**base, **neutral},
            "stages": {**base, **stages},
            "walk": {**base, "walk": 0.1},
        }
        order = list(params)
        done, total = 0, len(order) * repeats
        for r in range(repeats):
            for which in order[r % len(order) :] + order[: r % len(order)]:
                _say(progress, f"fit {done + 1} of {total}: {which}", done / total)
                fit = world.fit(
                    observed=observed,
                    model=case.model,
                    params=params[which],
                    seeds=case.seeds,
                    budget=budget,
                    seed=seed + r,
                    workers=count,
                    predictive=0,
                )
                rates[which].append(round(fit.simulations / fit.seconds, 1) if fit.seconds > 0 else 0.0)
                kernels[which] = str(fit.kernel)
                done += 1
    out["load_average"]["after"] = load_average()
    medians = {k: statistics.median(v) for k, v in rates.items()}
    plain = medians["plain"]
    out["simulations_per_second"] = rates
    out["median"] = medians
    out["kernel"] = kernels
    out["ratio"] = round(medians["changes"] / plain, 3) if plain else None
    out["ratio_neutral"] = round(medians["neutral"] / plain, 3) if plain else None
    out["ratio_stages"] = round(medians["stages"] / plain, 3) if plain else None
    out["ratio_walk"] = round(medians["walk"] / plain, 3) if plain else None
    out["target"] = (
        f"the fits with changes, stages and a walk at least {RATIO_TARGET:g} times as fast a simulation as without"
    )
    ratios = (out["ratio"], out["ratio_stages"], out["ratio_walk"])
    out["verdict"] = "met" if all(x is not None and x >= RATIO_TARGET for x in ratios) else "not met"
    out["available"] = True
    _say(progress, "done", 1.0)
    return out


def changes_lines(r: dict[str, Any]) -> list[str]:
    """The benchmark as text."""
    if not r.get("available"):
        return [f"skipped: {r.get('reason')}"]
    c, rates = r["changes"], r["simulations_per_second"]
    changes = ", ".join([f"{k}={lo:g}..{hi:g}" for k, (lo, hi) in c["fitted"].items()])
    changes += ", " + ", ".join(f"{k}={v:g}" for k, v in c["fixed"].items())
    return [
        f"{r['dataset']} ({r['agents']:,} agents), {r['model']}, --budget {r['budget']:,}, {r['workers']} workers of "
        f"{r['cpu_count']} CPUs; load {r['load_average']['before']} before, {r['load_average']['after']} after",
        f"changes              {changes}",
        f"plain fit            {r['median']['plain']:,.1f} simulations/s (median of {rates['plain']}; kernel "
        f"{r['kernel']['plain']})",
        f"with changes         {r['median']['changes']:,.1f} simulations/s (median of {rates['changes']}; kernel "
        f"{r['kernel']['changes']})",
        f"neutral (all 1)      {r['median']['neutral']:,.1f} simulations/s (median of {rates['neutral']}: the same "
        "epidemics as the plain fit's)",
        f"with Erlang stages   {r['median']['stages']:,.1f} simulations/s (median of {rates['stages']})",
        f"with a walk (0.1)    {r['median']['walk']:,.1f} simulations/s (median of {rates['walk']})",
        f"ratio                {r['ratio']:.2f} (neutral {r['ratio_neutral']:.2f}, stages {r['ratio_stages']:.2f}, "
        f"walk {r['ratio_walk']:.2f}): {r['target']}: {r['verdict']}",
    ]
