"""The regression distance's ridge regression (sim.runs.fit.abc.ridge_gcv): with fewer simulations than
features it decomposes the (n, n) matrix instead of the (p, p) Gram matrix; both routes give the same penalty
and slopes, and those are the ridge solution itself."""

from __future__ import annotations

import numpy as np
import pytest

from sim.runs.fit.abc import RegressionDistance, _ridge_gcv, ridge_gcv


def _data(n: int, p: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, p)) @ rng.normal(size=(p, p)) / np.sqrt(p)  # correlated features, as a series'
    z -= z.mean(axis=0)
    y = z[:, :3] @ rng.normal(size=(3, 2)) + 0.5 * rng.normal(size=(n, 2))
    return z, y - y.mean(axis=0)


@pytest.mark.parametrize(("n", "p"), [(40, 120), (200, 1416), (5, 9)])
def test_the_dual_route_gives_the_gram_routes_penalty_and_slopes(n, p):
    z, y = _data(n, p, seed=n + p)
    primal, lam_p = _ridge_gcv(z, y, RegressionDistance.RIDGES, dual=False)
    dual, lam_d = _ridge_gcv(z, y, RegressionDistance.RIDGES, dual=True)
    assert lam_d == pytest.approx(lam_p, rel=1e-12)
    scale = np.abs(primal).max()
    assert np.abs(dual - primal).max() <= 1e-8 * scale
    # and both are the ridge solution (z.T z + lam I)^-1 z.T y at that penalty
    exact = np.linalg.solve(z.T @ z + lam_p * np.eye(p), z.T @ y)
    assert np.abs(dual - exact).max() <= 1e-7 * scale


def test_ridge_gcv_takes_the_dual_route_only_with_fewer_simulations_than_features(monkeypatch):
    import sim.runs.fit.abc as abc

    taken = []
    real = abc._ridge_gcv
    monkeypatch.setattr(abc, "_ridge_gcv", lambda z, y, r, *, dual: taken.append(dual) or real(z, y, r, dual=dual))
    for n, p in [(30, 60), (60, 30), (30, 30)]:
        z, y = _data(n, p, seed=1)
        ridge_gcv(z, y, RegressionDistance.RIDGES)
    assert taken == [True, False, False]
