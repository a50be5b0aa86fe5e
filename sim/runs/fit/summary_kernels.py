"""The compiled loops of the ``growth`` and ``waves`` summaries (:mod:`sim.runs.fit.summaries`), in a module of their
own so that numba (about 50 MB) loads only when a fit asks for one of them: every other fit, and every command that
only reads an observation, stays without it."""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def growth_rows(v: np.ndarray, ticks: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    out = np.zeros(v.shape[0])
    for i in range(v.shape[0]):
        top = 0
        for t in range(1, v.shape[1]):
            if v[i, t] > v[i, top]:
                top = t
        if top == 0:
            continue
        count = top + 1
        mt = 0.0
        my = 0.0
        for t in range(count):
            mt += ticks[t]
            my += math.log1p(max(v[i, t], 0.0))
        mt /= count
        my /= count
        sxx = 0.0
        sxy = 0.0
        for t in range(count):
            dt = ticks[t] - mt
            sxx += dt * dt
            sxy += dt * (math.log1p(max(v[i, t], 0.0)) - my)
        out[i] = sxy / sxx if sxx > 0 else 0.0
    return out


@njit(cache=True)
def waves_rows(v: np.ndarray, start: float, end: float) -> np.ndarray:  # pragma: no cover - compiled
    rows, n = v.shape
    out = np.zeros(rows)
    smooth = np.empty(n)
    for i in range(rows):
        top = 0.0
        for t in range(n):
            lo, hi = max(t - 1, 0), min(t + 1, n - 1)
            total = 0.0
            for k in range(lo, hi + 1):
                total += v[i, k]
            smooth[t] = total / (hi - lo + 1)
            top = max(top, smooth[t])
        if top <= 0:
            continue
        waves = 0
        inside = False
        for t in range(n):
            if not inside and smooth[t] >= start * top:
                inside = True
                waves += 1
            elif inside and smooth[t] < end * top:
                inside = False
        out[i] = waves
    return out
