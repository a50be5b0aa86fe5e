"""A full-series reference posterior for SIR's ``beta`` and ``gamma`` on a small world (the yardstick of
``tests/test_fit_width.py`` and docs/fitting.md's width figures).

The data are the counts ``S, I, R`` at every tick of one run of ``sir`` (seeds ``random:K``, uniform without
replacement, at tick 0). Under the model's rounds (plugins/epidemic.py: infection and recovery both judged on the
states at the start of the round) the likelihood of the whole series factorises:

- **gamma**: the recoveries of round t are ``Binomial(I[t-1], gamma)``, whoever is infectious, so gamma's
  posterior under a uniform prior is ``Beta(1 + sum dR, 1 + sum (I[t-1] - dR))`` truncated to the prior's range;
- **beta**: given the counts, which agents are infectious is hidden; the new infections of round t are a sum of
  independent Bernoullis, susceptible agent j's of probability ``1 - (1 - beta)^k_j`` (k_j: its infectious
  in-neighbours), and who recovers is a uniform draw among the infectious (gamma drops out). So beta's
  likelihood is that of a hidden Markov model over the agents' states with the counts observed exactly, which a
  fully adapted particle filter estimates without bias (Pitt and Shephard 1999, "Filtering via simulation:
  auxiliary particle filters", JASA 94, 590-599): each particle is weighted by the exact Poisson-binomial
  probability of the round's new infections (a dynamic programme over its agents at risk), the particles are
  resampled by those weights, and each is moved by a draw conditioned on the observed counts (the infections by
  backward sampling through the same programme, the recoveries uniformly). The product over rounds of the mean
  weights is the likelihood's estimate. beta's posterior is that likelihood on a fine grid over its prior range
  (uniform prior), found in two passes (a coarse grid over the prior, then a fine one over where the mass is).

``tests/test_fit_width.py`` checks the filter against the engine's own runs on a world small enough to count
the paths of a few rounds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numba
import numpy as np


@numba.njit(cache=True)
def _at_risk(x, indptr, indices, log1m, agents, q):  # noqa: ANN001, ANN202
    """The agents of state row ``x`` at risk this round (susceptible with an infectious in-neighbour) into
    ``agents``, their infection probabilities ``1 - (1 - beta)^k`` into ``q``; their count."""
    n = x.size
    k = np.zeros(n, np.int64)
    for u in range(n):
        if x[u] == 1:
            for e in range(indptr[u], indptr[u + 1]):
                j = indices[e]
                if x[j] == 0:
                    k[j] += 1
    width = 0
    for j in range(n):
        if k[j] > 0:
            agents[width] = j
            q[width] = -math.expm1(k[j] * log1m)
            width += 1
    return width


@numba.njit(cache=True)
def _suffix(q, width, m, tables):  # noqa: ANN001, ANN202
    """``tables[l, r]``: the probability that agents ``l..width-1`` (Bernoulli ``q``) give r successes."""
    for r in range(m + 1):
        tables[width, r] = 0.0
    tables[width, 0] = 1.0
    for col in range(width - 1, -1, -1):
        qc = q[col]
        tables[col, 0] = tables[col + 1, 0] * (1.0 - qc)
        for r in range(1, m + 1):
            tables[col, r] = tables[col + 1, r] * (1.0 - qc) + tables[col + 1, r - 1] * qc


@numba.njit(cache=True)
def _round(x, indptr, indices, log1m, m, r, seed):  # noqa: ANN001, ANN202, PLR0913
    """One round of the filter on the particles ``x`` (rows), in place: weights, resampling, moves given the
    counts. Returns the mean weight (the round's factor of the likelihood)."""
    np.random.seed(seed)
    count, n = x.shape
    agents = np.empty(n, np.int64)
    q = np.empty(n)
    w = np.empty(count)
    tables = np.empty((n + 1, m + 1))
    for p in range(count):
        width = _at_risk(x[p], indptr, indices, log1m, agents, q)
        if m > width:
            w[p] = 0.0
            continue
        _suffix(q, width, m, tables)
        w[p] = tables[0, m]
    total = w.sum()
    if total <= 0.0:
        return 0.0
    parents = np.empty(count, np.int64)  # systematic resampling by weight
    u = np.random.random() / count
    acc = w[0] / total
    i = 0
    for p in range(count):
        while u > acc and i < count - 1:
            i += 1
            acc += w[i] / total
        parents[p] = i
        u += 1.0 / count
    old = x.copy()
    infectious = np.empty(n, np.int64)
    for p in range(count):
        row = old[parents[p]].copy()
        width = _at_risk(row, indptr, indices, log1m, agents, q)
        _suffix(q, width, m, tables)
        ni = 0  # recoveries: r of the infectious, uniformly (a partial Fisher-Yates shuffle)
        for j in range(n):
            if row[j] == 1:
                infectious[ni] = j
                ni += 1
        for a in range(r):
            b = a + np.random.randint(ni - a)
            infectious[a], infectious[b] = infectious[b], infectious[a]
            row[infectious[a]] = 2
        left = m  # infections: exactly m of the agents at risk, by backward sampling through the tables
        for col in range(width):
            if left == 0:
                break
            here = tables[col, left]
            if here > 0.0 and np.random.random() < q[col] * tables[col + 1, left - 1] / here:
                row[agents[col]] = 1
                left -= 1
        x[p] = row
    return total / count


@dataclass
class Filter:
    """One series' counts (``S``, ``I``, ``R`` at ticks 0, 1, ...) on a world's edges (out-CSR ``indptr``,
    ``indices``); :meth:`loglik` estimates beta's log-likelihood."""

    indptr: np.ndarray
    indices: np.ndarray
    S: np.ndarray
    I: np.ndarray  # noqa: E741 - the model's state's name
    R: np.ndarray

    @classmethod
    def of(cls, world, series: dict) -> Filter:  # noqa: ANN001 - sim.core.world.World, a run's series
        g = world.graph
        counts = [np.asarray(series[c], dtype=np.int64) for c in ("S", "I", "R")]
        return cls(g.out_indptr.astype(np.int64), g.out_indices.astype(np.int64), *counts)

    def loglik(self, beta: float, particles: int, rng: np.random.Generator) -> float:
        """log p(S, I, R | beta) up to gamma's factor (the same for every beta), by ``particles`` particles."""
        n = int(self.indptr.size - 1)
        x = np.zeros((particles, n), dtype=np.int8)
        first = np.argsort(rng.random((particles, n)), axis=1)[:, : int(self.I[0])]
        np.put_along_axis(x, first, 1, axis=1)
        total = 0.0
        log1m = float(np.log1p(-beta))
        for t in range(1, self.S.size):
            if self.I[t - 1] == 0:
                continue
            m = int(self.S[t - 1] - self.S[t])
            r = int(self.R[t] - self.R[t - 1])
            mean = _round(x, self.indptr, self.indices, log1m, m, r, int(rng.integers(1 << 31)))
            if mean <= 0:
                return -math.inf
            total += math.log(mean)
        return total


@dataclass
class Reference:
    """A posterior on a grid: ``grid`` and normalised ``density`` (per unit), with its quantiles."""

    grid: np.ndarray
    density: np.ndarray
    points: dict[str, np.ndarray] = field(default_factory=dict)

    def quantile(self, q: float | np.ndarray) -> np.ndarray:
        cdf = np.concatenate([[0.0], np.cumsum(0.5 * (self.density[1:] + self.density[:-1]) * np.diff(self.grid))])
        return np.interp(q, cdf / cdf[-1], self.grid)

    def ci90(self) -> tuple[float, float]:
        lo, hi = self.quantile(np.array([0.05, 0.95]))
        return float(lo), float(hi)

    def cdf(self, x: float) -> float:
        """The reference's probability below ``x`` (where a fit's median sits among its percentiles)."""
        cdf = np.concatenate([[0.0], np.cumsum(0.5 * (self.density[1:] + self.density[:-1]) * np.diff(self.grid))])
        return float(np.interp(x, self.grid, cdf / cdf[-1]))


def beta_posterior(
    filt: Filter,
    lo: float,
    hi: float,
    rng: np.random.Generator,
    *,
    coarse: int = 12,
    fine: int = 24,
    particles: int = 400,
    degree: int = 4,
) -> Reference:
    """beta's posterior under a uniform prior on ``[lo, hi]``: the filter's log-likelihood on ``coarse`` points
    over the prior (half the particles), then on ``fine`` points over where it is within 12 of its maximum, a
    polynomial of ``degree`` fitted to those (it smooths the estimates' Monte Carlo noise, about 0.1 each with
    400 particles), and its exponential on 2,001 points."""
    xs = np.linspace(lo, hi, coarse)
    ll = np.array([filt.loglik(b, max(50, particles // 2), rng) for b in xs])
    best = int(np.argmax(ll))
    keep = np.flatnonzero(ll >= ll[best] - 12.0)
    a = xs[max(int(keep.min()) - 1, 0)]
    b = xs[min(int(keep.max()) + 1, xs.size - 1)]
    fx = np.linspace(a, b, fine)
    fl = np.array([filt.loglik(v, particles, rng) for v in fx])
    ok = np.isfinite(fl)
    top = ok & (fl >= np.max(fl[ok]) - 20.0)
    coef = np.polynomial.polynomial.polyfit(fx[top] - fx[top].mean(), fl[top], degree)
    grid = np.linspace(fx[top].min(), fx[top].max(), 2001)
    log_d = np.polynomial.polynomial.polyval(grid - fx[top].mean(), coef)
    d = np.exp(log_d - log_d.max())
    d /= np.sum(0.5 * (d[1:] + d[:-1]) * np.diff(grid))
    return Reference(grid, d, {"coarse": np.column_stack([xs, ll]), "fine": np.column_stack([fx, fl])})


def gamma_posterior(series: dict, lo: float, hi: float) -> Reference:
    """gamma's exact posterior under a uniform prior on ``[lo, hi]``: Beta(1 + recoveries, 1 + non-recoveries)
    truncated to the range."""
    from scipy import stats

    i = np.asarray(series["I"], dtype=np.int64)
    r = np.asarray(series["R"], dtype=np.int64)
    dr = np.diff(r)
    post = stats.beta(1 + dr.sum(), 1 + (i[:-1] - dr).sum())
    grid = np.linspace(lo, hi, 20001)
    d = post.pdf(grid)
    d /= np.sum(0.5 * (d[1:] + d[:-1]) * np.diff(grid))
    return Reference(grid, d)
