"""Issue 73: a posterior predictive check says what it sees: the band's width beside the data, the points where
the simulations' median is 0 and the data count cases (said first), and the share of runs that died out."""

from __future__ import annotations

import json

import numpy as np
from conftest import agora

from sim.cli.fit import predictive_lines
from sim.runs.fit.fitting import band_sense, died_out


def test_band_sense_and_died_out_by_hand():
    observed = np.array([5.0, 20.0, 56.0, 30.0, 0.0])
    q = np.array([[0, 0, 0, 0, 0], [0, 0, 1, 0, 0], [700, 650, 600, 500, 100]], dtype=float)
    sense = band_sense(observed, q)
    assert sense == {"relative_width": round(600 / 20, 4), "zero_median": 3, "counted": 4}
    assert band_sense(np.zeros(3), q[:, :3])["relative_width"] is None
    curves = np.zeros((8, 10))
    curves[:2, -3:] = 4  # two runs of eight alive in the last week
    assert died_out(np.full(10, 3.0), curves) == 0.75
    assert died_out(np.r_[np.full(3, 3.0), np.zeros(7)], curves) is None  # the data died out too


def test_the_check_says_first_that_its_median_is_zero_where_the_data_count_cases():
    pred = {
        "inside90": 0.87,
        "simulations": 100,
        "died_out": 0.87,
        "columns": {"new": {"relative_width": 12.5, "zero_median": 25, "counted": 30}},
    }
    lines = predictive_lines(pred)
    assert lines[0] == (
        "posterior predictive check: the simulations' median is 0 at 25 of the 30 observed points that count cases "
        "(87% of the runs died out): the band holds the data without following them"
    )
    assert lines[1] == (
        "posterior predictive check: 87% of the observed points inside the 90% band of 100 simulations; the band's "
        "median width is 12.5 times the data's median; 87% of the runs died out before the data's last week"
    )
    healthy = {**pred, "died_out": 0.0, "columns": {"new": {"relative_width": 1.2, "zero_median": 0, "counted": 30}}}
    assert len(predictive_lines(healthy)) == 1


def test_a_fits_json_holds_the_new_figures(tmp_path):
    assert agora(tmp_path, "new", "w.db", "--agents", "300", "--seed", "3").returncode == 0
    (tmp_path / "c.csv").write_text(
        "day,cases\n" + "".join(f"{d},{c}\n" for d, c in enumerate([1, 2, 4, 7, 9, 8, 6, 4, 3, 2]))
    )
    out = agora(
        tmp_path, "fit", "w.db", "--observed", "c.csv", "--observe", "cases=new", "--model", "sir", "--param",
        "beta=0.01..1", "--param", "gamma=0.05..1", "--seeds", "random:1", "--budget", "200", "--predictive", "20",
        "--workers", "1", "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    pred = json.loads(out.stdout)["predictive"]
    col = pred["columns"]["new"]
    assert set(col) >= {"relative_width", "zero_median", "counted"} and col["counted"] == 10
    assert pred["died_out"] is None or 0 <= pred["died_out"] <= 1
