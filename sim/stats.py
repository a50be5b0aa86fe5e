"""Small statistics for repeated runs (no scipy needed)."""

from __future__ import annotations

import math

# Two-sided 95 % critical values of Student's t for 1..30 degrees of freedom.
_T95 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)


def t95(df: int) -> float:
    """Two-sided 95 % critical value of Student's t (normal 1.96 beyond 30 degrees of freedom)."""
    if df < 1:
        return float("nan")
    return _T95[df - 1] if df <= 30 else 1.96 + 2.4 / df  # close to the exact value for df > 30


def mean_ci95(values: list[float]) -> tuple[float, list[float]]:
    """Mean and 95 % confidence interval of the mean (t-interval; a single value gives [v, v])."""
    n = len(values)
    if n == 0:
        return float("nan"), [float("nan"), float("nan")]
    mean = sum(values) / n
    if n == 1:
        return mean, [mean, mean]
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    half = t95(n - 1) * math.sqrt(var / n)
    return mean, [mean - half, mean + half]
