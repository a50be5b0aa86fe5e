"""R over sliding windows (Cori et al. 2013, as EpiEstim computes it): the module against the closed form written
out plainly here (to 1e-12), against EpiEstim's own saved outputs, and ``sim.rt`` on files, DataFrames and arrays.

EpiEstim's numbers are the snapshots of its tests (mrc-ide/EpiEstim, tests/testthat/_snaps/estimate_R.md,
"Example 1/2/3 matches saved output", EpiEstim 3.0.0), printed by R to 7 or 8 significant digits.
"""

from __future__ import annotations

import gzip
import math

import numpy as np
import pytest
from conftest import data_file
from scipy import stats

import sim
from sim.analysis.rt import (
    QUANTILE_NAMES,
    QUANTILES,
    checked_probabilities,
    discretised_gamma,
    estimate_rt,
    gamma_serial_interval,
    read_serial_interval,
)
from sim.analysis.rtcurve import serial_interval_of
from sim.errors import AgoraError, BadParameterError

#: The seven curves of ../shared/data and their serial intervals: five files, and two gammas (docs/rt.md says
#: where each comes from: EpiEstim's short demo, Ferguson et al. 2005, for flu; its mers_2014_15$si for MERS).
CURVES = {
    "Flu1918": "serial-interval-Flu1918.csv",
    "Flu2009": "serial-interval-Flu2009.csv",
    "Measles1861": "serial-interval-Measles1861.csv",
    "SARS2003": "serial-interval-SARS2003.csv",
    "Smallpox1972": "serial-interval-Smallpox1972.csv",
    "flu_2009_NYC_school": "gamma:2.6,1.5",
    "mers_2014_15": "gamma:6.8,4.1",
}

FLU2009 = [1, 1, 0, 2, 5, 3, 3, 3, 6, 2, 5, 9, 13, 12, 13, 11, 12, 6, 6, 6, 3, 1, 0, 2, 0, 0, 0, 0, 2, 0, 2, 0]
FLU2009_SI = [0, 0.233, 0.359, 0.198, 0.103, 0.053, 0.027, 0.014, 0.007, 0.003, 0.002, 0.001]


def si_of(spec: str):
    return spec if spec.startswith("gamma:") else str(data_file(spec))


# -- the closed form, written out plainly ------------------------------------------------------------------------
def plain_discr_si(k: int, mean: float, sd: float) -> float:
    """EpiEstim's discr_si for one k, term by term."""
    a = ((mean - 1) / sd) ** 2
    b = sd**2 / (mean - 1)

    def f(x, shape):
        return stats.gamma.cdf(x, shape, scale=b)

    v = k * f(k, a) + (k - 2) * f(k - 2, a) - 2 * (k - 1) * f(k - 1, a)
    v += a * b * (2 * f(k - 1, a + 1) - f(k - 2, a + 1) - f(k, a + 1))
    return max(0.0, float(v))


def plain_posterior(local, imported, w, window, prior_mean=5.0, prior_sd=5.0):
    """Every window's (start, end, shape, scale) by the formulas of Cori et al. (2013), one sum at a time: the
    infectivity of each tick, then each window's sums, EpiEstim's windows and its rule on the serial interval's
    mean."""
    total = [x + y for x, y in zip(local, imported)]
    T = len(total)
    lam = [0.0] * T
    for t in range(1, T):
        lam[t] = sum(w[k] * total[t - k] for k in range(1, t + 1) if k < len(w))
    si_mean = sum(k * p for k, p in enumerate(w))
    a0 = (prior_mean / prior_sd) ** 2
    b0 = prior_sd**2 / prior_mean
    rows = []
    for start in range(1, T - window + 1):
        end = start + window - 1
        if not end + 1 > si_mean:
            continue
        cases = sum(local[start : end + 1])
        infectivity = sum(lam[start : end + 1])
        rows.append((start, end, a0 + cases, 1 / (1 / b0 + infectivity)))
    return rows


def assert_close(got, want, rel=1e-12):
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=rel, atol=0)


@pytest.mark.parametrize("name", list(CURVES))
def test_each_real_curve_equals_the_closed_form_to_1e_12(name):
    """Shape, scale, mean, sd and every quantile of every window of the seven curves, against the posterior and
    scipy's gamma computed here one window at a time."""
    est = sim.rt(data_file(f"incidence-{name}.csv"), si_of(CURVES[name]))
    local = est.local.tolist()
    imported = est.imported.tolist()
    spec = CURVES[name]
    if spec.startswith("gamma:"):
        mean, sd = map(float, spec[6:].split(","))
        w = [plain_discr_si(k, mean, sd) for k in range(len(local))]
        assert_close(est.si, w)
    else:
        rows = [line.split(",") for line in data_file(spec).read_text().split()[1:]]
        w = [float(p) for _, p in rows]
    want = plain_posterior(local, imported, w, 7)
    assert len(want) == est.end.size > 0
    assert est.start.tolist() == [r[0] for r in want] and est.end.tolist() == [r[1] for r in want]
    assert_close(est.shape, [r[2] for r in want])
    assert_close(est.scale, [r[3] for r in want])
    dists = [stats.gamma(r[2], scale=r[3]) for r in want]
    assert_close(est.mean, [d.mean() for d in dists])
    assert_close(est.sd, [d.std() for d in dists])
    q = est.quantiles
    for qname, p in zip(QUANTILE_NAMES, QUANTILES):
        assert_close(q[qname], [d.ppf(p) for d in dists])
    assert est.days == [est.labels[r[1]] for r in want]


def test_long_window_and_another_prior_equal_the_closed_form():
    """MERS with 8-week windows (EpiEstim's own example for it) and a prior of mean 2, sd 1."""
    est = sim.rt(data_file("incidence-mers_2014_15.csv"), "gamma:6.8,4.1", window=57, prior_mean=2, prior_sd=1)
    want = plain_posterior(est.local.tolist(), est.imported.tolist(), est.si.tolist(), 57, 2.0, 1.0)
    assert est.end.size == len(want) == 495 - 57
    assert_close(est.shape, [r[2] for r in want])
    assert_close(est.scale, [r[3] for r in want])


# -- EpiEstim's saved outputs --------------------------------------------------------------------------------------
def flu2009_split():
    local = np.array(FLU2009, dtype=float)
    imported = np.zeros_like(local)
    imported[0], local[0] = local[0], 0  # EpiEstim's process_I: the first day's cases are imported
    return local, imported


def test_example_1_non_parametric_si_matches_epiestim():
    local, imported = flu2009_split()
    est = estimate_rt(local, serial_interval_of(FLU2009_SI), imported=imported)
    assert est.start.tolist() == list(range(1, 26)) and est.end.tolist() == list(range(7, 32))
    q = est.quantiles
    # rows 1, 2, 13 and 25 of the snapshot: Mean, Std, Quantile.0.025, Median, Quantile.0.975
    saved = {
        0: (1.7356089, 0.40908694, 1.02863184, 1.7035760, 2.6244959),
        1: (1.7490494, 0.36470202, 1.10874730, 1.7237672, 2.5329479),
        12: (0.9369319, 0.11446445, 0.72610935, 0.9322747, 1.1742159),
        24: (1.0040161, 0.44900963, 0.32600128, 0.9379335, 2.0565439),
    }
    for i, row in saved.items():
        got = (est.mean[i], est.sd[i], q["q025"][i], q["median"][i], q["q975"][i])
        np.testing.assert_allclose(got, row, rtol=5e-7)  # R prints 7 significant digits
    assert est.si_mean == pytest.approx(2.596) and est.si_sd == pytest.approx(1.534531, abs=1e-6)


def test_example_3_parametric_si_matches_epiestim_and_its_discretisation():
    local, imported = flu2009_split()
    est = estimate_rt(local, gamma_serial_interval(2.6, 1.5), imported=imported)
    q = est.quantiles
    saved = {
        0: (1.7357977, 0.40913143, 1.02874370, 1.7037612, 2.6247813),
        20: (0.2400880, 0.12004401, 0.06541591, 0.2204045, 0.5262293),
        24: (0.9975352, 0.44611130, 0.32389696, 0.9318792, 2.0432690),
    }
    for i, row in saved.items():
        got = (est.mean[i], est.sd[i], q["q025"][i], q["median"][i], q["q975"][i])
        np.testing.assert_allclose(got, row, rtol=5e-7)  # R prints 7 significant digits
    # its $si_distr: discr_si(0:31, 2.6, 1.5), printed to 7 digits
    printed = [0.0, 2.331721e-01, 3.585794e-01, 1.981108e-01, 1.033427e-01, 5.290518e-02, 2.682146e-02]
    np.testing.assert_allclose(est.si[:7], printed, rtol=5e-7, atol=0)
    np.testing.assert_allclose(est.si[31], 6.550364e-10, rtol=5e-7)
    assert est.si.size == 32 and est.si_mean == pytest.approx(2.6, abs=5e-7)


def test_example_2_imported_cases_infect_but_are_not_counted_matches_epiestim():
    """EpiEstim's Example 2: local and imported cases apart (its $I_local and $I_imported), gamma 2.6, 1.5."""
    local = [0, 2, 0, 0, 1, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    imported = [1, 1, 1, 1, 2, 2, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    est = estimate_rt(local, gamma_serial_interval(2.6, 1.5), imported=imported)
    assert est.end.size == 20
    q = est.quantiles
    saved = {
        0: (0.6413590, 0.2424109, 0.257859602, 0.6110903, 1.1965445),
        7: (0.1854957, 0.1854957, 0.004696345, 0.1285758, 0.6842713),
        19: (9.8571825, 6.9700806, 1.193750537, 8.2718863, 27.4603530),
    }
    for i, row in saved.items():
        got = (est.mean[i], est.sd[i], q["q025"][i], q["median"][i], q["q975"][i])
        np.testing.assert_allclose(got, row, rtol=5e-7)  # R prints 7 significant digits
    # the same cases all counted local: the infectivity is the same, the numerator gains the imported ones
    every = estimate_rt(np.add(local, imported), gamma_serial_interval(2.6, 1.5))
    assert_close(every.scale, est.scale)
    assert (every.shape - est.shape).tolist() == [sum(imported[s : e + 1]) for s, e in zip(est.start, est.end)]


# -- windows, the serial interval, bad input ------------------------------------------------------------------------
def test_windows_follow_epiestims_default_and_drop_those_ending_before_the_mean_si():
    est = sim.rt(data_file("incidence-Measles1861.csv"), str(data_file("serial-interval-Measles1861.csv")))
    assert est.si_mean == pytest.approx(14.9, abs=0.01)
    # t_start = 2:(48 - 6) counted from 1 is ticks 1..41; those ending at ticks 7..13 (t_end 8..14 <= 14.9) go
    assert est.dropped == 7 and est.start[0] == 8 and est.end[0] == 14 and est.end[-1] == 47
    assert est.days[0] == "14" and est.to_dict()["windows"][0]["from"] == "8"
    assert any("7 earlier window(s)" in n for n in est.notes())
    one = sim.rt(data_file("incidence-Flu2009.csv"), FLU2009_SI, window=1)
    assert one.start.tolist() == one.end.tolist() == list(range(2, 32))  # tick 1 ends before the mean 2.6 (t_end 2)
    longest = sim.rt(np.ones(10), [0, 1], window=9)
    assert longest.start.tolist() == [1] and longest.end.tolist() == [9]


def test_the_fft_path_of_a_long_series_equals_the_direct_sums():
    rng = np.random.default_rng(5)
    counts = rng.poisson(50, size=12_000).astype(float)
    si = gamma_serial_interval(20.0, 8.0)
    est = estimate_rt(counts, si, window=14)  # 12,000 x ~120 terms: direct
    import sim.analysis.rt as rtmod

    limit = rtmod._DIRECT_LIMIT
    try:
        rtmod._DIRECT_LIMIT = 0
        fft = estimate_rt(counts, si, window=14)
    finally:
        rtmod._DIRECT_LIMIT = limit
    np.testing.assert_allclose(fft.scale, est.scale, rtol=1e-10)


def test_discretised_gamma_sums_to_one_and_is_zero_at_day_0():
    w = discretised_gamma(np.arange(200), 6.8, 4.1)
    assert w[0] == 0 and abs(w.sum() - 1) < 1e-9 and np.all(w >= 0)
    assert np.dot(w, np.arange(200)) == pytest.approx(6.8, abs=1e-6)
    assert_close(w[:40], [plain_discr_si(k, 6.8, 4.1) for k in range(40)])


def test_serial_interval_files_header_gaps_blank_lines_and_gzip(tmp_path):
    plain = tmp_path / "si.csv"
    plain.write_text("day,probability\n0,0\n\n2,0.5\n3,0.5\n")
    si = read_serial_interval(str(plain))
    assert si.probabilities.tolist() == [0, 0, 0.5, 0.5] and si.source == "si.csv"
    headless = tmp_path / "si.csv.gz"
    with gzip.open(headless, "wt") as fh:
        fh.write("1,0.25\n2,0.75\n")
    assert read_serial_interval(str(headless)).probabilities.tolist() == [0, 0.25, 0.75]


@pytest.mark.parametrize(
    ("rows", "said"),
    [
        ("0,0\n1,0.5\n2,0.4\n", "sums to 0.9"),
        ("0,0.1\n1,0.9\n", "day 0 a probability of 0.1"),
        ("0,0\n1,-0.5\n2,1.5\n", "negative or not a number"),
        ("0,0\n1.5,1\n", "not a whole number"),
        ("0,0\n1,0.5\n1,0.5\n", "gives a day twice"),
        ("0,0\n1,SECRET\n", "line 2 is not two numbers"),
        ("0,0\n1\n", "line 2 is not two numbers"),
        ("day,probability\n", "has no rows"),
    ],
)
def test_a_bad_serial_interval_file_is_one_sentence(tmp_path, rows, said):
    path = tmp_path / "bad.csv"
    path.write_text(rows)
    with pytest.raises(AgoraError) as err:
        read_serial_interval(str(path))
    assert said in str(err.value) and "\n" not in str(err.value) and "SECRET" not in str(err.value)


@pytest.mark.parametrize(
    ("kwargs", "said"),
    [
        ({"source": [1, 2, -1, 4, 5, 6, 7, 8, 9]}, "count at tick 2 that is negative"),
        ({"source": [1, 2, float("nan"), 4, 5, 6, 7, 8, 9]}, "not a number"),
        ({"window": 9}, "window of 9 ticks is longer than the curve allows"),
        ({"window": 0}, "window must be a whole number of ticks, 1 or more"),
        ({"prior_sd": 0}, "prior_sd (R's Gamma prior) must be a number above 0"),
        ({"serial_interval": "gamma:1,2"}, "mean must be a number above 1"),
        ({"serial_interval": "gamma:3,0"}, "standard deviation must be a number above 0"),
        ({"serial_interval": "gamma:3,-1"}, "standard deviation must be a number above 0"),
        ({"serial_interval": [0, 0.5, 0.2]}, "sums to 0.7"),
        ({"cases": "x"}, "counts per tick have no columns"),
    ],
)
def test_bad_input_to_sim_rt_is_one_sentence(kwargs, said):
    args = {"source": [1, 2, 3, 4, 5, 6, 7, 8, 9], "serial_interval": [0, 0.6, 0.4], **kwargs}
    with pytest.raises(BadParameterError) as err:
        sim.rt(args.pop("source"), args.pop("serial_interval"), **args)
    assert said in str(err.value) and "\n" not in str(err.value)


# -- sim.rt on files, DataFrames and arrays --------------------------------------------------------------------------
def test_sim_rt_takes_a_file_a_dataframe_and_an_array_alike():
    pd = pytest.importorskip("pandas")
    path = data_file("incidence-SARS2003.csv")
    si = str(data_file("serial-interval-SARS2003.csv"))
    from_file = sim.rt(path, si)
    from_frame = sim.rt(pd.read_csv(path), si)
    from_array = sim.rt(pd.read_csv(path)["cases"].to_numpy(), si)
    for other in (from_frame, from_array):
        assert other.scale.tolist() == from_file.scale.tolist() and other.shape.tolist() == from_file.shape.tolist()
    assert from_file.days == from_frame.days == from_array.days  # the file numbers its days 0, 1, ...
    assert from_file.source == str(path) and from_frame.source == "" and from_file.tick_seconds == 86400


def test_local_and_imported_columns_are_picked_up_and_imported_can_be_named(tmp_path):
    pd = pytest.importorskip("pandas")
    path = data_file("incidence-mers_2014_15.csv")
    est = sim.rt(path, "gamma:6.8,4.1")
    assert (est.cases_name, est.imported_name) == ("local", "imported")
    assert est.local.sum() == 459 and est.imported.sum() == 64 and est.days[0] == "2014-08-18"
    renamed = pd.read_csv(path).rename(columns={"local": "here", "imported": "abroad"})
    with pytest.raises(BadParameterError, match="the curve has the count columns here, abroad"):
        sim.rt(renamed, "gamma:6.8,4.1")
    again = sim.rt(renamed, "gamma:6.8,4.1", imported="abroad")
    assert again.cases_name == "here" and again.scale.tolist() == est.scale.tolist()
    assert again.shape.tolist() == est.shape.tolist()
    only_local = sim.rt(path, "gamma:6.8,4.1", cases="local", imported=None)
    assert only_local.imported_name == "imported"  # local beside imported: EpiEstim's reading, always


def test_the_hagelloch_line_list_by_onset_date_gives_the_measles_curves_first_windows():
    """One row per child, counted per day of prodromes (PRO), against the published daily curve."""
    si = str(data_file("serial-interval-Measles1861.csv"))
    listed = sim.rt(data_file("hagelloch.csv"), si, time="PRO")
    curve = sim.rt(data_file("incidence-Measles1861.csv"), si)
    assert listed.labels[0] == "1861-10-30" and listed.days[0] == "1861-11-13"
    # The published curve and the line list count the same children per day up to day 20 (from day 21 on, a
    # few days differ by one or two, and the list has 188 children to the curve's 187): the windows ending on
    # days 14-20 agree exactly.
    n = 7
    assert (
        listed.scale[:n].tolist() == curve.scale[:n].tolist() and listed.shape[:n].tolist() == curve.shape[:n].tolist()
    )


def test_a_series_dataframe_and_a_series_file_pick_one_run_and_a_measure(tmp_path):
    pd = pytest.importorskip("pandas")
    new = [5, 0, 0, 1, 1, 3, 7, 17, 22, 28, 45, 81, 108, 112, 133, 125, 109, 121, 97, 69]
    rows = [
        (r, t, m, v * (r + 1) if m == "new" else 1) for r in (0, 1) for t, v in enumerate(new) for m in ("I", "new")
    ]
    frame = pd.DataFrame(rows, columns=["run", "tick", "measure", "value"])
    with pytest.raises(BadParameterError, match="holds 2 runs: choose one with run"):
        sim.rt(frame, "gamma:3,2")
    est = sim.rt(frame, "gamma:3,2", run=1)
    assert est.cases_name == "new" and est.local.tolist() == [2 * v for v in new]
    path = tmp_path / "s.csv"
    frame[frame.run == 0].to_csv(path, index=False)
    from_file = sim.rt(path, "gamma:3,2")
    assert from_file.local.tolist() == new and from_file.tick_seconds is None
    assert from_file.scale.tolist() == sim.rt(new, "gamma:3,2").scale.tolist()
    assert sim.rt(path, "gamma:3,2", cases="I").local.tolist() == [1] * 20
    with pytest.raises(BadParameterError, match="cases names no measure of series file .*: 'S' is not among I, new"):
        sim.rt(path, "gamma:3,2", cases="S")
    with pytest.raises(BadParameterError, match="imported reads a curve's columns"):
        sim.rt(path, "gamma:3,2", imported="x")


def test_to_dict_holds_every_quantile_and_the_95_interval():
    est = sim.rt(data_file("incidence-Flu2009.csv"), FLU2009_SI)
    data = est.to_dict()
    row = data["windows"][0]
    assert row["day"] == "2009-05-04" and row["from"] == "2009-04-28" and row["tick_end"] == 7
    assert row["ci95"] == [row["q025"], row["q975"]] and row["q025"] < row["q05"] < row["q25"] < row["median"]
    assert row["median"] < row["q75"] < row["q95"] < row["q975"]
    assert math.isclose(row["mean"], row["shape"] * row["scale"]) and data["prior"]["shape"] == 1.0
    assert data["below_one_from"] == "2009-05-18" and data["serial_interval"]["mean"] == pytest.approx(2.596)


def test_checked_probabilities_is_read_only():
    w = checked_probabilities([0, 0.5, 0.5])
    with pytest.raises(ValueError):
        w[1] = 0
