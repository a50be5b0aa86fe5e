"""The ensemble of a backtest's forecasts (issue 75): at each cut, the member methods' forecasts (every other method
that ran: Agora's, persistence, renewal, a user's forecaster) combined into one, as the Forecast Hubs combine their
teams' (the COVID-19 Hubs' median ensemble, Ray et al. 2023; the European Hub's, Sherratt et al. 2023).

**How** (``ensemble``, the request's field; ``--ensemble`` on the command line):

- ``median`` (the default): the quantile median. Each member's forecast at a horizon is a quantile function (its
  draws' quantiles, :func:`sim.analysis.scores.sample_quantiles`); the ensemble's quantile at level ``tau`` is the
  median over the members of their quantiles at ``tau``, horizon by horizon (the Hubs' median ensemble). With two
  members it is their mean.
- ``mean``: the quantile mean (Vincentisation; the Hubs' first ensembles), weighted where ``ensemble_weights``.
- ``pool``: the trajectory pool (a mixture): each member's draws taken in proportion to its weight, so that each
  draw is a whole path of one member (the only one of the three whose paths are trajectories; the quantile
  ensembles' draws are their quantile functions read at the same levels over the horizons, comonotone paths).

A quantile ensemble is drawn as ``draws`` values of its quantile function at the levels ``(i + 1/2) / draws``, so
that every score of a backtest (WIS, CRPS, log score, coverage, the path scores) reads it as it reads any method's
draws.

**Weights fitted on earlier cuts only** (``ensemble_weights``, with ``mean``): at a cut ``T`` the members' weights
minimise the WIS (at the Hub's 23 quantile levels) of the weighted quantile mean over every forecast of an earlier
cut whose target tick is ``T`` or before, against its truth: constrained quantile regression averaging (Nowotarski
& Weron 2015; the Hubs' "trained" ensembles, Brooks et al. 2023), weights 0 or more that sum to 1, solved exactly as
a linear programme (the WIS is a sum of pinball losses, :func:`sim.analysis.scores.wis`). Nothing the weights at
``T`` use was observed after ``T`` (``tests/test_ensemble.py`` changes every later truth and sees the same
weights). The first cut, and any with no such forecast, weighs the members equally.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sim.analysis.scores import HUB_LEVELS
from sim.engine.requests.backtest import ENSEMBLE_HOWS
from sim.errors import BadParameterError

#: The ensemble's name among a backtest's methods.
ENSEMBLE = "ensemble"
#: How an ensemble combines its members (``none``: no ensemble).
HOWS = ENSEMBLE_HOWS
#: Methods that are never members: the ensemble itself, and SEISMIC (a forecast of cascades' final sizes).
NOT_MEMBERS = (ENSEMBLE, "seismic")


def members_of(methods: Sequence[str]) -> tuple[str, ...]:
    """The methods an ensemble of ``methods`` pools: all but itself and ``seismic``, in their order."""
    return tuple(m for m in methods if m not in NOT_MEMBERS)


def with_ensemble(methods: Sequence[str], how: str, named: bool) -> tuple[str, ...]:
    """``methods`` with the ensemble last where it runs: named, or two or more members run and ``how`` is not
    ``none``.

    Raises:
        BadParameterError: the ensemble named with fewer than two members, or beside ``ensemble none``.
    """
    members = members_of(methods)
    if named and how == "none":
        raise BadParameterError(
            "ensemble none turns the ensemble off, and method names it: drop one of them", fields=("ensemble", "method")
        )
    if named and len(members) < 2:
        raise BadParameterError(
            f"the ensemble pools two or more forecasts, and {len(members)} run beside it: name more methods "
            "(agora, persistence, renewal or a forecaster of yours)",
            fields="method",
        )
    rest = tuple(m for m in methods if m != ENSEMBLE)
    if how == "none" or len(members) < 2:
        return rest
    return (*rest, ENSEMBLE)


def _levels(draws: int) -> np.ndarray:
    return (np.arange(draws, dtype=np.float64) + 0.5) / draws


def combine(
    members: Sequence[np.ndarray], how: str, draws: int, rng: np.random.Generator, weights: np.ndarray | None = None
) -> np.ndarray:
    """The ensemble's ``(draws, H)`` draws of members' draws ``(M_k, H)`` (see the module docstring); members with no
    draw (every continuation failed) are left out, the others' weights rescaled.

    Raises:
        BadParameterError: fewer than one member with draws.
    """
    k = len(members)
    w = np.full(k, 1.0 / k) if weights is None else np.asarray(weights, dtype=np.float64)
    have = [i for i, d in enumerate(members) if d.shape[0] > 0]
    if not have:
        raise BadParameterError("no member of the ensemble has a forecast at this cut")
    w = w[have]
    w = w / w.sum() if w.sum() > 0 else np.full(len(have), 1.0 / len(have))
    parts = [np.asarray(members[i], dtype=np.float64) for i in have]
    if how == "pool":
        counts = _apportion(w, draws)
        rows = [
            d[rng.choice(d.shape[0], size=c, replace=c > d.shape[0])] for d, c in zip(parts, counts.tolist()) if c > 0
        ]
        return np.concatenate(rows, axis=0)
    q = np.stack([np.quantile(d, _levels(draws), axis=0) for d in parts])  # (K, draws, H)
    if how == "mean":
        return np.tensordot(w, q, axes=1)
    return _weighted_median(q, w)


def _apportion(w: np.ndarray, total: int) -> np.ndarray:
    """``total`` split in proportion to ``w`` (the largest remainders get the rest; ties to the first)."""
    raw = w * total
    counts = np.floor(raw).astype(np.int64)
    rest = total - int(counts.sum())
    if rest > 0:
        order = np.argsort(-(raw - counts), kind="stable")
        counts[order[:rest]] += 1
    return counts


def _weighted_median(q: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The median over axis 0 of ``q`` with weights ``w``: equal weights give numpy's median (the mean of the two
    middle values of an even count)."""
    if np.allclose(w, w[0]):
        return np.median(q, axis=0)
    order = np.argsort(q, axis=0, kind="stable")
    sq = np.take_along_axis(q, order, axis=0)
    cw = np.cumsum(w[order], axis=0)
    half = cw[-1] / 2
    below = (cw < half - 1e-12).sum(axis=0)  # the first member whose cumulative weight reaches a half
    low = np.take_along_axis(sq, below[None], axis=0)[0]
    at_half = np.isclose(np.take_along_axis(cw, below[None], axis=0)[0], half)
    nxt = np.take_along_axis(sq, np.minimum(below + 1, q.shape[0] - 1)[None], axis=0)[0]
    return np.where(at_half, (low + nxt) / 2, low)


@dataclass(frozen=True)
class Weights:
    """The members' weights at one cut and what they were fitted on (``pairs``: forecasts of earlier cuts with
    their truths; 0: equal weights)."""

    members: tuple[str, ...]
    values: np.ndarray
    pairs: int

    def to_dict(self) -> dict[str, object]:
        return {
            "members": list(self.members),
            "weights": {m: round(float(v), 6) for m, v in zip(self.members, self.values.tolist())},
            "trained_on": self.pairs,
        }


def equal(members: Sequence[str]) -> Weights:
    """Equal weights of ``members``."""
    return Weights(tuple(members), np.full(len(members), 1.0 / len(members)), 0)


def training_pairs(
    ticks: Sequence[int],
    quantiles: Sequence[dict[str, list[list[float | None]]]],
    truths: Sequence[np.ndarray],
    members: Sequence[str],
    index: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The forecasts the weights at cut ``index`` are fitted on: those of every earlier cut whose target tick is
    cut ``index``'s tick or before, with a truth, every member's quantiles known. Returns the members' quantiles
    ``(N, K, 23)`` and the truths ``(N,)``."""
    t = ticks[index]
    qs: list[np.ndarray] = []
    ys: list[float] = []
    for j, tj in enumerate(ticks):
        if tj >= t:
            continue
        truth = np.asarray(truths[j], dtype=np.float64)
        for h in range(truth.size):
            if tj + 1 + h > t or not np.isfinite(truth[h]):
                continue
            rows = [quantiles[j].get(m) for m in members]
            if any(r is None for r in rows):
                continue
            vals = np.array([[r[lv][h] for lv in range(len(HUB_LEVELS))] for r in rows if r is not None], dtype=float)
            if not np.isfinite(vals).all():
                continue
            qs.append(vals)
            ys.append(float(truth[h]))
    if not qs:
        return np.empty((0, len(members), len(HUB_LEVELS))), np.empty(0)
    return np.stack(qs), np.asarray(ys)


def fit_weights(q: np.ndarray, y: np.ndarray, members: Sequence[str]) -> Weights:
    """The weights on the simplex that minimise the summed pinball loss at the Hub's 23 levels (so the WIS) of the
    weighted quantile mean of ``q`` ``(N, K, 23)`` against ``y`` ``(N,)``: a linear programme (HiGHS), exact."""
    from scipy.optimize import linprog  # noqa: PLC0415 - scipy's optimiser loads with a weighted ensemble only
    from scipy.sparse import csr_matrix, hstack, identity  # noqa: PLC0415

    n, k, levels = q.shape
    if n == 0:
        return equal(members)
    tau = np.asarray(HUB_LEVELS, dtype=np.float64)
    rows = n * levels
    # Variables: w (k), u (rows) = (y - q_w)+, v (rows) = (q_w - y)+;  u - v + q w = y for every (pair, level).
    qmat = csr_matrix(np.transpose(q, (0, 2, 1)).reshape(rows, k))
    a_eq = hstack([qmat, identity(rows, format="csr"), -identity(rows, format="csr")], format="csr")
    b_eq = np.repeat(y, levels)
    sums = hstack([csr_matrix(np.ones((1, k))), csr_matrix((1, 2 * rows))], format="csr")
    scale = max(1.0, float(np.abs(y).max()))  # the loss in units of the largest truth: HiGHS's tolerances are absolute
    cost = np.concatenate([np.zeros(k), np.tile(tau, n) / scale, np.tile(1.0 - tau, n) / scale])
    got = linprog(
        cost,
        A_eq=_vstack(a_eq, sums),
        b_eq=np.concatenate([b_eq, [1.0]]),
        bounds=[(0, None)] * (k + 2 * rows),
        method="highs",
    )
    if not got.success:  # cannot happen for a feasible, bounded programme; equal weights rather than none
        return equal(members)
    w = np.clip(np.asarray(got.x[:k], dtype=np.float64), 0.0, None)
    return Weights(tuple(members), w / w.sum(), n)


def _vstack(a: object, b: object) -> object:
    from scipy.sparse import vstack  # noqa: PLC0415

    return vstack([a, b], format="csr")
