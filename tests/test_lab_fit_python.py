"""A fit's result in Python (issue 60): ``FitResult.plot()`` draws its predictive check and posteriors as a
matplotlib figure (headless: no pyplot; shown by a notebook), and ``world.forecast(posterior=fit)`` draws each run's
parameters from the fit in memory exactly as from the file ``agora fit -o`` writes of it.

The fit is a real one (``w.fit`` on a curve the world made), small: 400 simulations."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from matplotlib.figure import Figure

import sim
from sim.errors import BadParameterError, TargetExistsError
from sim.lab.loop import run_sync
from sim.model.registry import plugin_registry
from sim.runs.fit import output
from sim.runs.fit.fitting import FitResult
from sim.store.worldfile import open_world as open_world_file

TRUTH = {"beta": 0.1, "gamma": 0.2}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A world, a curve it made (``tick,I,R``), and a copy of it with a running sir session to forecast."""
    folder = tmp_path_factory.mktemp("fit_python")
    w = sim.new_world(str(folder / "w.db"), agents=300, avg_degree=8, seed=3)
    made = w.ensemble(model="sir", params=TRUTH, seeds="top:5", runs=1, seed=9, steps=15, workers=1)
    series = made.runs[0]["series"]
    rows = [f"{t},{i},{r}" for t, i, r in zip(series["tick"], series["I"], series["R"])]
    (folder / "curve.csv").write_text("tick,I,R\n" + "\n".join(rows) + "\n")
    shutil.copy(folder / "w.db", folder / "running.db")
    with sim.open_world(str(folder / "running.db")).simulation() as live:
        live.inject("x", model="sir", params=TRUTH, seeds="top:5")
        live.step(4)
    return folder


@pytest.fixture(scope="module")
def fit(folder) -> FitResult:
    return sim.open_world(str(folder / "w.db")).fit(
        observed=str(folder / "curve.csv"),
        model="sir",
        params={"beta": (0.02, 0.3), "gamma": (0.05, 0.5)},
        seeds="top:5",
        budget=400,
        population=50,
        predictive=20,
        workers=1,
    )


def lines_at(ax) -> dict[str, list[float]]:
    """The vertical lines of a posterior panel by legend label ('' for the unlabelled interval's first end)."""
    out: dict[str, list[float]] = {}
    for line in ax.get_lines():
        xs = line.get_xdata()
        if len(xs) == 2 and xs[0] == xs[1]:
            label = line.get_label()
            out.setdefault("" if label.startswith("_") else label, []).append(float(xs[0]))
    return out


# -- FitResult.plot ---------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_plot_draws_the_predictive_check_and_every_posterior(fit):
    fig = fit.plot(truth={"beta": 0.1})
    assert isinstance(fig, Figure) and fig.canvas is not None
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == 2 + 2  # I and R of the check, then beta and gamma
    check, observed = panels[0], fit.predictive["columns"]["I"]["observed"]
    assert check.get_ylabel() == "I" and check.get_lines()[1].get_ydata().tolist() == observed
    for ax, name in zip(panels[2:], fit.names):
        drawn = lines_at(ax)
        assert ax.get_xlabel() == name
        assert sorted(drawn["90% interval"] + drawn[""]) == sorted(fit.params[name].ci90)
        assert drawn["median"] == [fit.params[name].median]
        assert drawn.get("truth") == ([0.1] if name == "beta" else None)
        heights = sum(p.get_height() for p in ax.patches)
        assert heights == pytest.approx(1.0)  # the weighted histogram: the weights sum to 1
    fig.canvas.draw()


@pytest.mark.slow
def test_plot_writes_the_figure_agora_fit_plot_writes(fit, tmp_path):
    fig = fit.plot(str(tmp_path / "mine.svg"))
    theirs = output.plot_predictive(str(tmp_path / "theirs.svg"), fit)
    assert (tmp_path / "mine.svg").read_bytes() == Path(theirs).read_bytes() and isinstance(fig, Figure)
    with pytest.raises(TargetExistsError):
        fit.plot(str(tmp_path / "mine.svg"))
    fit.plot(str(tmp_path / "mine.svg"), truth=TRUTH, force=True)
    assert (tmp_path / "mine.svg").read_bytes() != Path(theirs).read_bytes()  # the truth is drawn
    with pytest.raises(BadParameterError, match=r"^figure '.*fig\.gif' has an unknown extension"):
        fit.plot(str(tmp_path / "fig.gif"))
    assert not (tmp_path / "fig.gif").exists()


@pytest.mark.parametrize(
    ("truth", "sentence"),
    [
        ({"p": 0.1}, r"^truth names 'p', which the fit did not fit: it fitted beta, gamma$"),
        ({"beta": "0.1"}, r"^truth of beta must be a number, not str$"),
        ({"beta": float("nan")}, r"^truth of beta must be a finite number, not nan$"),
        ([0.1, 0.2], r"^truth must map parameters to their true values \(\{'beta': 0.1\}\), not list$"),
    ],
)
def test_a_bad_truth_is_one_sentence(fit, truth, sentence):
    with pytest.raises(BadParameterError, match=sentence):
        fit.plot(truth=truth)


_HEADLESS = """
import sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from test_fit_plot import fit_result
result = fit_result({"beta": (0.01, 0.3)}, predictive=True)
fig = result.plot()
assert "matplotlib.pyplot" not in sys.modules, "pyplot was imported"
png = fig._repr_png_()  # what a notebook shows, with or without pyplot
assert png.startswith(bytes([0x89]) + b"PNG") and len(png) > 5000, len(png)
import matplotlib.pyplot as plt
assert plt.get_fignums() == [], plt.get_fignums()  # the figure is no pyplot figure: nothing leaks
print("ok", type(fig).__mro__[1].__module__)
"""


@pytest.mark.slow
def test_plot_is_headless_and_a_notebook_shows_it(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", _HEADLESS, str(ROOT / "tests")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "MPLBACKEND": "", "HOME": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok matplotlib.figure"


def test_a_fit_without_predictive_check_draws_its_posteriors():
    from test_fit_plot import fit_result

    result = fit_result({"beta": (0.01, 0.3), "gamma": (0.05, 0.5)})
    fig = result.plot()
    assert [ax.get_xlabel() for ax in fig.axes if ax.get_visible()] == ["beta", "gamma"]
    assert "no predictive check" in fig.get_suptitle()


# -- world.forecast(posterior=fit) ------------------------------------------------------------------------------
def test_fit_posterior_is_what_its_file_reads_back_bit_for_bit(fit, folder, tmp_path):
    world = run_sync(open_world_file(str(folder / "running.db")))
    registry, session = plugin_registry(None), world.sessions[-1]
    mine = output.fit_posterior(fit, registry, session)
    for name in ("post.csv", "post.csv.gz", "post.parquet"):
        output.write_posterior(str(tmp_path / name), fit)
        theirs = output.read_posterior(str(tmp_path / name), registry, session)
        assert mine[0] == theirs[0] == ["beta", "gamma"]
        assert mine[1].tobytes() == theirs[1].tobytes() and mine[2].tobytes() == theirs[2].tobytes(), name


@pytest.mark.slow
def test_forecast_from_a_fit_is_forecast_from_its_file(fit, folder, tmp_path):
    output.write_posterior(str(tmp_path / "post.csv"), fit)
    w = sim.open_world(str(folder / "running.db"))
    asked = {"runs": 25, "ticks": 8, "seed": 3, "kernel": "engine", "workers": 1}
    mine = w.forecast(posterior=fit, **asked)
    theirs = w.forecast(posterior=str(tmp_path / "post.csv"), **asked)
    assert mine.posterior == "a fit of sir" and theirs.posterior == str(tmp_path / "post.csv")
    assert mine.params == theirs.params and len(set(mine.params["beta"])) > 1
    a, b = mine.to_dict(), theirs.to_dict()
    for d in (a, b):
        d.pop("posterior"), d.pop("seconds")
    assert a == b
    # With a request, the fit goes beside it.
    request = sim.Forecast.parse({**asked, "arms": {"none": [], "slower": ["set:beta=0.05"]}})
    both = w.forecast(request, posterior=fit)
    assert both.params == mine.params and both.arms["none"].to_dict() == mine.arms["none"].to_dict()


def test_a_posterior_that_does_not_fit_is_one_sentence(fit, folder, tmp_path):
    ic = tmp_path / "ic.db"
    shutil.copy(folder / "w.db", ic)
    with sim.open_world(str(ic)).simulation() as live:
        live.inject("x", model="ic", params={"p": 0.05}, seeds="top:5")
        live.step(2)
    asked = {"runs": 5, "ticks": 3}
    with pytest.raises(BadParameterError, match=r"^the posterior fit of sir has parameter beta, which ic has not"):
        sim.open_world(str(ic)).forecast(posterior=fit, **asked)
    w = sim.open_world(str(folder / "running.db"))
    output.write_posterior(str(tmp_path / "post.csv"), fit)
    request = sim.Forecast.parse({**asked, "posterior": str(tmp_path / "post.csv")})
    with pytest.raises(BadParameterError, match=r"^give one posterior: the fit of sir or the file '.*post\.csv'"):
        w.forecast(request, posterior=fit)
    with pytest.raises(BadParameterError, match=r"^posterior must be a fit's result \(world\.fit\(\.\.\.\)\) or"):
        w.forecast(posterior={"beta": [0.1]}, **asked)
