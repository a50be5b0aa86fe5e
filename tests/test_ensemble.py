"""Issue 75: the ensemble of a backtest's forecasts (:mod:`sim.runs.backtest.ensemble`): the quantile median, mean
and trajectory pool of the members' draws, weights fitted on earlier cuts only (a test changes every later truth and
sees the same weights), and the method as ``agora backtest`` and ``agora forecast --observed`` run it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import agora, data_file, one_sentence

from sim.analysis.scores import HUB_LEVELS, sample_quantiles, wis
from sim.errors import BadParameterError
from sim.runs.backtest.ensemble import (
    combine,
    fit_weights,
    training_pairs,
    with_ensemble,
)
from sim.runs.backtest.result import hub_quantiles

LEVELS = np.asarray(HUB_LEVELS)


def _members(rng: np.random.Generator, h: int = 4) -> list[np.ndarray]:
    return [
        rng.poisson(10, (500, h)).astype(float),
        rng.poisson(30, (800, h)).astype(float),
        rng.negative_binomial(2, 0.1, (300, h)).astype(float),
    ]


def test_the_quantile_median_and_mean_are_the_members_quantile_functions_combined():
    rng = np.random.default_rng(1)
    members = _members(rng)
    levels = (np.arange(1000) + 0.5) / 1000
    each = np.stack([np.quantile(d, levels, axis=0) for d in members])  # (K, draws, H)
    median = combine(members, "median", 1000, np.random.default_rng(0))
    assert median.shape == (1000, 4)
    assert np.array_equal(median, np.median(each, axis=0))
    w = np.array([0.2, 0.5, 0.3])
    mean = combine(members, "mean", 1000, np.random.default_rng(0), w)
    assert np.allclose(mean, np.tensordot(w, each, axes=1), rtol=0, atol=1e-9)
    # a member with more than half the weight is the weighted median
    dominant = combine(members, "median", 1000, np.random.default_rng(0), np.array([0.1, 0.7, 0.2]))
    assert np.array_equal(dominant, each[1])


def test_the_pool_draws_whole_paths_of_each_member_in_proportion():
    rng = np.random.default_rng(2)
    members = [np.full((50, 3), 1.0) + np.arange(3), np.full((70, 3), 100.0) + np.arange(3)]
    pooled = combine(members, "pool", 1000, np.random.default_rng(5), np.array([0.25, 0.75]))
    assert pooled.shape == (1000, 3)
    assert (pooled[:, 0] == 1.0).sum() == 250 and (pooled[:, 0] == 100.0).sum() == 750
    assert np.array_equal(pooled[:, 1:] - pooled[:, :1], np.tile([1.0, 2.0], (1000, 1)))  # paths kept whole
    # a member whose continuations all failed is left out, the others' weights rescaled
    one = combine([np.empty((0, 3)), members[1]], "pool", 100, rng)
    assert (one[:, 0] == 100.0).all()
    with pytest.raises(BadParameterError, match="no member of the ensemble has a forecast"):
        combine([np.empty((0, 3))], "median", 10, rng)


def test_the_ensemble_runs_with_two_members_and_is_refused_with_fewer():
    assert with_ensemble(("agora", "persistence"), "median", False) == ("agora", "persistence", "ensemble")
    assert with_ensemble(("agora", "persistence"), "none", False) == ("agora", "persistence")
    assert with_ensemble(("persistence",), "median", False) == ("persistence",)
    assert with_ensemble(("ensemble", "renewal", "persistence"), "mean", True) == ("renewal", "persistence", "ensemble")
    with pytest.raises(BadParameterError, match="pools two or more forecasts, and 1 run beside it"):
        with_ensemble(("ensemble", "persistence"), "median", True)
    with pytest.raises(BadParameterError, match="ensemble none turns the ensemble off"):
        with_ensemble(("ensemble", "agora", "persistence"), "none", True)


def _objective(q: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """The summed WIS of the weighted quantile mean (the programme's objective, by the scores' own function)."""
    combined = np.tensordot(q, w, axes=([1], [0]))  # (N, 23)
    return float(wis(combined, LEVELS, y).sum())


def test_the_weights_minimise_the_wis_of_the_weighted_mean():
    """The linear programme's weights against a grid over the simplex of three members: none scores lower (the
    programme is exact), and a member centred on the truths takes most of the weight."""
    rng = np.random.default_rng(3)
    y = rng.poisson(50, 40).astype(float)
    good = y[:, None] + rng.normal(0, 3, (40, 200))
    low = 0.5 * y[:, None] + rng.normal(0, 3, (40, 200))
    wide = y[:, None] + rng.normal(0, 40, (40, 200))
    q = np.stack([sample_quantiles(d.T, LEVELS) for d in (good, low, wide)], axis=1)  # (N, K, 23)
    fitted = fit_weights(q, y, ("good", "low", "wide"))
    assert fitted.pairs == 40 and fitted.values.sum() == pytest.approx(1.0)
    assert fitted.values[0] > 0.6
    best = _objective(q, y, fitted.values)
    grid = [np.array([a, b, 1 - a - b]) for a in np.linspace(0, 1, 21) for b in np.linspace(0, 1, 21) if a + b <= 1]
    assert best <= min(_objective(q, y, w) for w in grid) + 1e-6 * best


def _cuts(rng: np.random.Generator, ticks: list[int], horizon: int) -> tuple[list[dict], list[np.ndarray]]:
    quantiles, truths = [], []
    for _ in ticks:
        truth = rng.poisson(20, horizon).astype(float)
        a = rng.poisson(20, (300, horizon)).astype(float)
        b = rng.poisson(35, (300, horizon)).astype(float)
        quantiles.append({"agora": hub_quantiles(a), "persistence": hub_quantiles(b)})
        truths.append(truth)
    return quantiles, truths


def test_the_weights_at_a_cut_never_read_its_truth_or_a_later_one():
    """Cuts at ticks 10, 20, 30, 40 with a horizon of 14: the weights at tick 30 read cut 10's forecasts of ticks
    11-24 and cut 20's of ticks 21-30, nothing else. Every truth after tick 30 changed (cut 20's last four, all of
    cut 30's and cut 40's) gives the same weights; a truth of tick 23 changed gives others (the test can fail)."""
    ticks, members = [10, 20, 30, 40], ("agora", "persistence")
    quantiles, truths = _cuts(np.random.default_rng(4), ticks, 14)
    q, y = training_pairs(ticks, quantiles, truths, members, 2)
    assert q.shape == (14 + 10, 2, 23)
    before = fit_weights(q, y, members)
    later = [t.copy() for t in truths]
    later[1][10:] = 1000.0  # ticks 31-34 of cut 20
    later[2][:] = 0.0
    later[3][:] = 500.0
    after = fit_weights(*training_pairs(ticks, quantiles, later, members, 2), members)
    assert np.array_equal(before.values, after.values) and before.pairs == after.pairs == 24
    known = [t.copy() for t in truths]
    known[1][2] = 400.0  # tick 23: known at tick 30
    assert not np.allclose(fit_weights(*training_pairs(ticks, quantiles, known, members, 2), members).values,
                           before.values)  # fmt: skip
    assert training_pairs(ticks, quantiles, truths, members, 0)[1].size == 0  # the first cut: equal weights


@pytest.fixture(scope="module")
def measles(tmp_path_factory):
    path = tmp_path_factory.mktemp("ensemble")
    assert agora(path, "new", "w.db", "--agents", "300", "--seed", "3").returncode == 0
    return path


def _backtest(folder, *extra: str, curve: str | None = None) -> dict:
    observed = curve or str(data_file("incidence-Measles1861.csv"))
    out = agora(
        folder, "backtest", "w.db", "--observed", observed, "--time", "day", "--tick", "1d",
        "--observe", "cases=new", "--method", "persistence,renewal",
        "--serial-interval", str(data_file("serial-interval-Measles1861.csv")), "--cut", "15,20,25,30",
        "--horizon", "7", "--json", *extra,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_a_backtest_scores_the_ensemble_and_its_weights_read_only_earlier_truths(measles, tmp_path):
    """On the measles curve of 1861: the ensemble scored beside its members (its median between theirs), its
    weights at each cut reported, and the measles counts after the third cut changed leave the weights of the first
    three cuts as they were."""
    data = _backtest(measles, "--ensemble", "mean", "--ensemble-weights")
    assert data["methods"] == ["persistence", "renewal", "ensemble"] and data["ensemble"] == "mean"
    weights = [c["ensemble"] for c in data["cuts"]]
    assert weights[0]["trained_on"] == 0 and weights[0]["weights"] == {"persistence": 0.5, "renewal": 0.5}
    assert [w["trained_on"] for w in weights[1:]] == [5, 7 + 5, 7 + 7 + 5]  # earlier cuts' ticks up to this one
    for cut in data["cuts"]:
        m = [cut["forecasts"][k]["q50"] for k in ("persistence", "renewal", "ensemble")]
        assert all(min(a, b) - 1e-9 <= e <= max(a, b) + 1e-9 for a, b, e in zip(*m))
    assert data["scores"]["ensemble"]["relative_wis"][0] is not None
    lines = data_file("incidence-Measles1861.csv").read_text().splitlines()
    changed = [lines[0]] + [f"{d},{int(c) * 3 + 7}" if int(d) > 25 else f"{d},{c}" for d, c in
                            (row.split(",") for row in lines[1:])]  # fmt: skip
    (tmp_path / "changed.csv").write_text("\n".join(changed) + "\n")
    again = _backtest(measles, "--ensemble", "mean", "--ensemble-weights", curve=str(tmp_path / "changed.csv"))
    assert [c["ensemble"] for c in again["cuts"][:3]] == weights[:3]
    assert again["cuts"][3]["ensemble"] != weights[3]  # cut 30 read days 26-30, which changed


def test_the_ensembles_options_refused_in_one_sentence(measles):
    observed = str(data_file("incidence-Measles1861.csv"))
    base = ("backtest", "w.db", "--observed", observed, "--time", "day", "--observe", "cases=new", "--cut", "20")
    said = one_sentence(agora(measles, *base, "--method", "persistence", "--ensemble-weights"))
    assert "--ensemble-weights, the weights of the quantile mean, needs --ensemble mean, not median" in said
    said = one_sentence(agora(measles, *base, "--method", "persistence,ensemble"))
    assert "the ensemble pools two or more forecasts, and 1 run beside it" in said
    said = one_sentence(
        agora(
            measles,
            "forecast",
            "w.db",
            "--observed",
            observed,
            "--time",
            "day",
            "--observe",
            "cases=new",
            "--horizon",
            "3",
            "--method",
            "persistence,renewal",
            "--serial-interval",
            "gamma:12,3",
            "--ensemble",
            "mean",
            "--ensemble-weights",
        )  # fmt: skip
    )
    assert "--ensemble-weights are fitted on a backtest's earlier cuts, and a forecast from data has none" in said
    said = one_sentence(agora(measles, *base, "--method", "persistence,ensemble", "--ensemble", "none"))
    assert "--ensemble none turns the ensemble off, and --method names it" in said
