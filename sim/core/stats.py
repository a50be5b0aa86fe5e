"""Small statistics for repeated runs (no scipy needed).

Intervals of counts and fractions are *bounded*: the Student-t interval of the mean is intersected with
the range the quantity can take (``[0, agents]`` for a count of agents, ``[0, 1]`` for a fraction). The
true mean lies in that range, so the intersection covers it at least as often as the t-interval does,
and an interval never claims a negative count or more agents than the world has.
"""

from __future__ import annotations

import math

import numpy as np

# Two-sided 95 % critical values of Student's t for 1..30 degrees of freedom.
_T95 = (
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
)


def t95(df: int) -> float:
    """Two-sided 95 % critical value of Student's t (normal 1.96 beyond 30 degrees of freedom)."""
    if df < 1:
        return float("nan")
    return _T95[df - 1] if df <= 30 else 1.96 + 2.4 / df  # close to the exact value for df > 30


def _clip(x: float, lo: float | None, hi: float | None) -> float:
    if lo is not None and x < lo:
        return float(lo)
    if hi is not None and x > hi:
        return float(hi)
    return x


def mean_ci95(values: list[float], lo: float | None = None, hi: float | None = None) -> tuple[float, list[float]]:
    """Mean and 95 % confidence interval of the mean (t-interval; a single value gives [v, v]).

    Args:
        values: one value per run.
        lo, hi: the range the quantity can take (e.g. 0 and the number of agents); the interval is
            intersected with it. None: unbounded on that side.
    """
    n = len(values)
    if n == 0:
        return float("nan"), [float("nan"), float("nan")]
    mean = sum(values) / n
    if n == 1:
        return mean, [mean, mean]
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    half = t95(n - 1) * math.sqrt(var / n)
    return mean, [_clip(mean - half, lo, hi), _clip(mean + half, lo, hi)]


def mean_ci95_columns(
    values: np.ndarray, lo: float | None = None, hi: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column-wise :func:`mean_ci95` of a (runs, points) matrix: ``(mean, low, high)``, each of length points.

    With one run the band is the line itself.
    """
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[0]
    mean = values.mean(axis=0) if n else np.full(values.shape[1:], np.nan)
    if n < 2:
        return mean, mean.copy(), mean.copy()
    half = t95(n - 1) * values.std(axis=0, ddof=1) / math.sqrt(n)
    low, high = mean - half, mean + half
    if lo is not None or hi is not None:
        low, high = np.clip(low, lo, hi), np.clip(high, lo, hi)
    return mean, low, high
