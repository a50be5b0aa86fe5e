"""Issue 73: ``agora forecast WORLD --observed FILE --horizon H``: the fit on every observation and each method's
forecast of the ticks after the last, the quantiles at the Forecast Hub's 23 levels, and the hubverse table."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from conftest import agora, data_file, one_sentence
from test_rt import CURVES

import sim
from sim.analysis.scores import HUB_LEVELS
from sim.errors import BadParameterError
from sim.runs.backtest.ahead import HUBVERSE_COLUMNS

MONDAY = np.datetime64("2005-02-14")
SEVEN = CURVES  # the seven curves and their serial intervals (tests/test_rt.py says where each comes from)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A 300-agent world and 30 weekly counts dated by their Mondays."""
    path = tmp_path_factory.mktemp("ahead")
    assert agora(path, "new", "w.db", "--agents", "300", "--seed", "3").returncode == 0
    counts = [int(40 * np.exp(-(((i - 14) / 6) ** 2))) + 2 for i in range(30)]
    (path / "weekly.csv").write_text("date,cases\n" + "".join(f"{MONDAY + 7 * i},{c}\n" for i, c in enumerate(counts)))
    return path


BASELINES = ("--method", "persistence,renewal", "--serial-interval", "gamma:11.7,2.0")


def test_a_hubverse_table_of_the_weeks_ahead(folder):
    out = agora(
        folder, "forecast", "w.db", "--observed", "weekly.csv", "--observe", "cases=new", "--horizon", "4",
        *BASELINES, "--format", "hubverse", "-o", "ahead.csv", "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["reference_date"] == "2005-09-11"  # the Sunday ending the last observed week (Monday 2005-09-05)
    assert data["targets"] == ["2005-09-12", "2005-09-19", "2005-09-26", "2005-10-03"]
    assert data["target_end_dates"] == ["2005-09-18", "2005-09-25", "2005-10-02", "2005-10-09"]
    assert data["observed"]["recorded"]["tick"] == "1w" and data["output"]["rows"] == 3 * 4 * 23  # the ensemble too
    with open(folder / "ahead.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames or ()) == HUBVERSE_COLUMNS
        rows = list(reader)
    assert {r["model_id"] for r in rows} == {"agora-persistence", "agora-renewal", "agora-ensemble"}
    assert {r["output_type"] for r in rows} == {"quantile"} and {r["location"] for r in rows} == {"weekly"}
    assert {r["target"] for r in rows} == {"inc new"} and {r["reference_date"] for r in rows} == {"2005-09-11"}
    for model in ("agora-persistence", "agora-renewal", "agora-ensemble"):
        for h in range(1, 5):
            mine = [r for r in rows if r["model_id"] == model and int(r["horizon"]) == h]
            assert [float(r["output_type_id"]) for r in mine] == list(HUB_LEVELS)
            values = [float(r["value"]) for r in mine]
            assert values == sorted(values) and all(v >= 0 for v in values)
            assert mine[0]["target_end_date"] == data["target_end_dates"][h - 1]
            per_level = data["quantiles"][model.removeprefix("agora-")]["values"]
            assert values == [v[h - 1] for v in per_level]  # the table holds the JSON's quantiles
    text = agora(folder, "forecast", "w.db", "--observed", "weekly.csv", "--observe", "cases=new", "--horizon", "2",
                 *BASELINES)  # fmt: skip
    lines = text.stdout.splitlines()
    assert lines[0] == (
        "persistence, renewal, ensemble forecasts of new in weekly.csv (2005-02-14 to 2005-09-05), 2 weeks after "
        "the last observation"
    )
    assert lines[1].startswith("read as: time column date: ISO dates; 30 rows, a week apart: each counts a week")


def test_the_fit_on_every_observation_and_its_forecast(folder):
    """Agora's method: the fit's posterior continued past the last week (a small budget: plumbing, not skill)."""
    w = sim.open_world(str(folder / "w.db"))
    result = w.forecast(
        observed=str(folder / "weekly.csv"), observe=["cases=new"], model="sir",
        params={"beta": (0.01, 1.0), "gamma": (0.05, 1.0)}, seeds="random:3", budget=300, horizon=3,
        method="agora,persistence", location="XX",
    )  # fmt: skip
    data = result.to_dict()
    assert data["fit"]["simulations"] <= 300 and set(data["fit"]["params"]) == {"beta", "gamma"}
    assert len(data["quantiles"]["agora"]["values"]) == 23 and len(data["quantiles"]["agora"]["values"][0]) == 3
    assert {r["model_id"] for r in result.hubverse_rows()} == {"agora-sir", "agora-persistence", "agora-ensemble"}
    assert {r["location"] for r in result.hubverse_rows()} == {"XX"}
    with pytest.raises(BadParameterError, match="starts after the last observation: drop cut and cuts"):
        w.forecast(observed=str(folder / "weekly.csv"), method="persistence", horizon=2, cut=["2005-05-02"])


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--observed", "weekly.csv", "--method", "persistence"], "give --horizon H: the ticks to forecast after"),
        (["--observed", "weekly.csv", "--horizon", "2", "--runs", "5"], "--runs goes with a running session's"),
        (["--observed", "weekly.csv", "--horizon", "2", "--format", "hubverse"], "--format names the -o table's"),
        (["--observed", "weekly.csv", "--horizon", "0"], "--horizon"),
        (["--horizon", "3"], "--horizon goes with a forecast from data: give --observed FILE"),
        ([], "give --runs R (continuations of the world's running session) or --observed FILE"),
        (["--runs", "5"], "give the horizon: --ticks H ahead of now, or --until-done"),
    ],
)
def test_bad_input_is_one_sentence_and_exit_2(folder, args, said):
    out = agora(folder, "forecast", "w.db", *args)
    assert out.returncode == 2 and said in one_sentence(out), out.stderr


def test_the_seven_curves_and_three_weekly_aggregates_are_forecast_past_their_end(tmp_path):
    """The fast twin of the slow check below: the baselines (persistence, renewal with each curve's serial
    interval) forecast 7 ticks past each of the seven real curves, and 2 weeks past three weekly aggregates."""
    assert agora(tmp_path, "new", "w.db", "--agents", "300", "--seed", "3").returncode == 0
    for name, si in SEVEN.items():
        spec = si if si.startswith("gamma:") else str(data_file(si))
        curve = str(data_file(f"incidence-{name}.csv"))
        out = agora(tmp_path, "forecast", "w.db", "--observed", curve, "--horizon", "7",
                    "--method", "persistence,renewal", "--serial-interval", spec, "--json")  # fmt: skip
        assert out.returncode == 0, (name, out.stderr)
        data = json.loads(out.stdout)
        assert data["observed"]["recorded"]["tick"] == "1d" and len(data["targets"]) == 7
        assert all(len(v) == 7 for q in data["quantiles"].values() for v in q["values"])
    for name in ("Flu1918", "SARS2003", "mers_2014_15"):
        path = _weekly(tmp_path, name)
        spec = SEVEN[name] if SEVEN[name].startswith("gamma:") else str(data_file(SEVEN[name]))
        out = agora(tmp_path, "forecast", "w.db", "--observed", str(path), "--horizon", "2",
                    "--method", "persistence,renewal", "--serial-interval", spec, "--json")  # fmt: skip
        assert out.returncode == 0, (name, out.stderr)
        assert json.loads(out.stdout)["observed"]["recorded"]["tick"] == "1w"


def _weekly(folder, name):
    """A real daily curve summed into whole weeks (``week,cases``; MERS's local and imported cases together)."""
    rows = list(csv.DictReader(open(data_file(f"incidence-{name}.csv"), newline="")))
    counts = np.array([sum(float(v) for k, v in r.items() if k in ("cases", "local", "imported")) for r in rows])
    n = counts.size // 7 * 7
    path = folder / f"{name}-weekly.csv"
    path.write_text("week,cases\n" + "".join(f"{i},{int(c)}\n" for i, c in enumerate(counts[:n].reshape(-1, 7).sum(1))))
    return path


@pytest.mark.slow
def test_agora_forecasts_the_seven_curves_and_three_weekly_aggregates(tmp_path):
    """Agora's own forecast (SIR fitted on every observation, a budget of 1,000, filtered through the data by 200
    particles) past each of the seven curves and three weekly aggregates, beside persistence: a forecast made, its
    23 quantiles ordered, and the filter's report in the JSON."""
    assert agora(tmp_path, "new", "w.db", "--agents", "2000", "--seed", "3").returncode == 0
    files = [data_file(f"incidence-{n}.csv") for n in SEVEN] + [_weekly(tmp_path, n) for n in ("Flu1918", "SARS2003")]
    for path in files:
        out = agora(
            tmp_path, "forecast", "w.db", "--observed", str(path), "--observe", "cases=new", "--model", "sir",
            "--param", "beta=0.01..1:log", "--param", "gamma=0.05..1", "--param", "report=0.01..1", "--seeds",
            "random:3", "--budget", "1000", "--horizon", "3", "--method", "agora,persistence", "--filter-particles",
            "200", "--json",
        )  # fmt: skip
        assert out.returncode in (0, 3), (path, out.stderr)
        data = json.loads(out.stdout)
        values = np.array(data["quantiles"]["agora"]["values"], dtype=float)
        assert values.shape == (23, 3) and (np.diff(values, axis=0) >= 0).all()
        assert data["filtered"]["particles"] == 200 and len(data["filtered"]["ess"]) == len(data["history"])


def test_a_horizon_past_the_data_scores_none_without_a_numpy_warning(folder):
    """Issue 73: a backtest whose horizon passes the last observation (until_done) printed numpy's "Mean of empty
    slice" through the Python API; its unscored horizons are None, quietly."""
    import warnings

    w = sim.open_world(str(folder / "w.db"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scored = w.backtest(observed=str(folder / "weekly.csv"), method="persistence", cut=["2005-08-29"], horizon=3,
                            until_done=True)  # fmt: skip
        wis = scored.table()["persistence"]["wis"]
    assert wis[0] is not None and wis[1:] == [None, None]


def test_a_backtest_writes_every_cuts_forecasts_as_a_hubverse_table(folder):
    """Issue 73: the backtest's JSON kept five quantiles a forecast; every cut's 23 levels now go to a hubverse
    table (``-o``), each cut's reference_date its last observed week's Sunday, and the JSON keeps them too."""
    out = agora(
        folder, "backtest", "w.db", "--observed", "weekly.csv", "--observe", "cases=new", "--cut",
        "2005-06-06,2005-07-04", "--horizon", "2", *BASELINES, "-o", "bt.csv", "--location", "XX", "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["output"]["rows"] == 2 * 2 * 3 * 23  # cuts, horizons, methods (the ensemble too), levels
    assert all(len(c["quantiles"]["renewal"]["values"]) == 23 for c in data["cuts"])
    with open(folder / "bt.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["reference_date"] for r in rows} == {"2005-06-12", "2005-07-10"}  # the cut weeks' Sundays
    assert {r["target_end_date"] for r in rows if r["reference_date"] == "2005-06-12"} == {"2005-06-19", "2005-06-26"}
    assert {r["location"] for r in rows} == {"XX"}
    said = one_sentence(agora(folder, "backtest", "w.db", "--observed", "weekly.csv", "--format", "hubverse"))
    assert "--format names the -o table's format: give -o FILE" in said
