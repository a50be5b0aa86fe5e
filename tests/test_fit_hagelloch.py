"""The worked example of docs/fitting.md on the real data (issue 60): the Hagelloch line list, counted per day
by its ``PRO`` dates, fitted by a layered SEIR on the village world of populations.md, on the compiled kernel;
and the choice between a single-layer SEIR and the layered one, labelled (``layered=seir``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import data_file

import sim

PRIORS = {
    "beta": 0.0,
    "beta@household": (0.01, 1.0, "log"),
    "beta@class": (0.001, 0.2, "log"),
    "beta@neighbours": (0.001, 0.2, "log"),
    "sigma": (0.05, 1.0),
    "gamma": (0.05, 1.0),
}
RECORDED = {"time": "PRO", "tick": "1d", "observe": {"cases": "onsets"}, "seeds": "ids:184"}


@pytest.fixture(scope="module")
def village(tmp_path_factory):
    table = data_file("hagelloch.csv")
    path = str(tmp_path_factory.mktemp("hagelloch") / "village.db")
    w = sim.new_world(
        path, people=str(table), id="PN", groups=["HN:household", "CL:class"], skip=["preschool"],
        near=["x.loc,y.loc:50:neighbours"],
    )  # fmt: skip
    return w, table


@pytest.mark.slow
def test_the_layered_seir_is_fitted_to_the_onsets_on_the_kernel(village):
    """The line list's 188 onsets over days 0..86 (1861-10-30 .. 1862-01-24) are the observation; every
    simulation runs on the batched kernel; the posterior stays inside the priors; the predictive check
    reports the share of the 87 days inside its band."""
    w, table = village
    fit = w.fit(observed=str(table), model="seir", params=PRIORS, budget=3000, seed=1, predictive=40, **RECORDED)
    assert fit.kernel == "batched"
    observed = fit.observed
    assert observed["recorded"]["first"] == "1861-10-30" and observed["recorded"]["line_list"] is True
    counts = pd.read_csv(table)["PRO"].value_counts()
    assert int(counts.sum()) == 188 and observed["recorded"]["last"] == max(counts.index)
    assert fit.failed == 0 and fit.simulations <= 3000
    for name, p in fit.params.items():
        lo, hi = PRIORS[name][:2]
        assert lo <= p.ci90[0] <= p.median <= p.ci90[1] <= hi, (name, p)
    assert fit.predictive is not None and 0.0 <= fit.predictive["inside90"] <= 1.0


@pytest.mark.slow
def test_one_model_twice_labelled_on_hagelloch(village):
    """``model="seir,layered=seir"``: the plain SEIR's one beta and the layered one's per-layer rates, each
    applied to its own candidate; the probabilities sum to 1 and each candidate reports its own parameters."""
    w, table = village
    params = {
        "seir.beta": (0.001, 0.2, "log"), "seir.sigma": (0.05, 1.0), "seir.gamma": (0.05, 1.0),
        **{f"layered.{k}": v for k, v in PRIORS.items()},
    }  # fmt: skip
    got = w.fit(observed=str(table), model="seir,layered=seir", params=params, budget=3000, seed=1, **RECORDED)
    assert set(got.probabilities) == {"seir", "layered"}
    assert np.isclose(sum(got.probabilities.values()), 1.0)
    assert set(got.fits["seir"].params) == {"beta", "sigma", "gamma"}
    assert set(got.fits["layered"].params) == {"beta@household", "beta@class", "beta@neighbours", "sigma", "gamma"}
    assert got.fits["layered"].model == "seir" and got.fits["layered"].fixed["beta"] == 0.0
