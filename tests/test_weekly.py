"""Issue 73: weekly counts read as weeks, never as days by accident. The same 30 weeks as daily counts, as week
numbers, as ISO dates a week apart and as ISO weeks give the same 30 weekly ticks; what was misread before now
ends in a refusal or a printed reading; ``agora rt`` on weekly counts spreads a serial interval given in days over
the weeks (exact against its closed form) and agrees with the daily estimate on Flu1918 where it can."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import agora, data_file
from scipy import stats

from sim.analysis.rt import aggregate_days, discretised_gamma
from sim.analysis.rtcurve import rt
from sim.errors import BadFileError, BadParameterError
from sim.store.observed import read_observed
from sim.store.timeline import WEEK, read_incidence, week_labels
from sim.store.timeticks import iso_weeks

MONDAY = np.datetime64("2005-02-14")  # ISO week 2005-W07


@pytest.fixture(scope="module")
def weeks(tmp_path_factory):
    """30 weeks of counts written four ways, and the weekly totals."""
    folder = tmp_path_factory.mktemp("weekly")
    daily = np.random.default_rng(73).integers(0, 20, size=210)
    weekly = daily.reshape(30, 7).sum(axis=1)
    files = {
        "daily": "date,cases\n" + "".join(f"{MONDAY + i},{c}\n" for i, c in enumerate(daily)),
        "numbers": "week,cases\n" + "".join(f"{i + 7},{c}\n" for i, c in enumerate(weekly)),
        "dates": "date,cases\n" + "".join(f"{MONDAY + 7 * i},{c}\n" for i, c in enumerate(weekly)),
        "isoweeks": "epiweek,cases\n"
        + "".join(f"{w},{c}\n" for w, c in zip(week_labels(MONDAY.astype(np.int64) + 7 * np.arange(30)), weekly)),
    }
    paths = {}
    for name, text in files.items():
        paths[name] = folder / f"{name}.csv"
        paths[name].write_text(text)
    return paths, weekly


@pytest.mark.parametrize(
    ("name", "tick", "first", "said"),
    [
        ("daily", "1w", "2005-02-14", "210 rows, a day apart: each counts a day; ticks of 1w, each the sum of 7 rows"),
        ("numbers", None, "7", "whole numbers of weeks (the column is named week; say week:1d if they count days)"),
        ("dates", None, "2005-02-14", "30 rows, a week apart: each counts a week (say date:1d if each counts a day"),
        ("isoweeks", None, "2005-W07", "ISO weeks (YYYY-Www, Monday to Sunday); 30 rows, a week apart"),
    ],
)
def test_one_series_read_four_ways_gives_the_same_30_weekly_ticks(weeks, name, tick, first, said):
    paths, weekly = weeks
    inc = read_incidence(paths[name], tick=tick)
    assert inc.tick_seconds == WEEK and inc.ticks.size == 30 and inc.resolution == 1
    assert inc.counts["cases"].tolist() == weekly.tolist()
    assert inc.labels[0] == first and said in inc.reading


def test_the_readings_before_the_issue_are_refused_or_said(weeks):
    paths, weekly = weeks
    # --time week --tick 1w summed 30 weekly counts into 5 points (weeks read as days).
    assert read_incidence(paths["numbers"], time="week", tick="1w").ticks.size == 30
    # Said otherwise, they are days: 30 rows, a day apart, on ticks of a day.
    as_days = read_incidence(paths["numbers"], time="week:1d")
    assert as_days.tick_seconds == 86400 and as_days.ticks.size == 30 and "whole numbers of 1d" in as_days.reading
    # ISO dates a week apart became 204 daily ticks with zeros between; now only when asked for, and said.
    gaps = read_incidence(paths["dates"], time="date:1d")
    assert gaps.ticks.size == 204 and gaps.tick_seconds == 86400 and "each counts a day (date:1d)" in gaps.reading
    # A tick shorter than a row is announced: each week's count at its first day.
    short = read_incidence(paths["dates"], tick="1d")
    assert short.resolution == 7 and "each row's count sits at the first of its 7 ticks" in short.reading
    # A tick and rows that do not divide each other are refused.
    with pytest.raises(BadParameterError, match="tick 2d and the rows of observation file .* each counting a week"):
        read_incidence(paths["dates"], tick="2d")
    # A span the rows cannot have.
    with pytest.raises(BadFileError, match="line 3: its time lies a week after line 2's, and time date:2w says"):
        read_incidence(paths["dates"], time="date:2w")
    with pytest.raises(BadParameterError, match="a whole number of weeks"):
        read_incidence(paths["isoweeks"], time="epiweek:1d")


def test_the_fit_refuses_a_tick_shorter_than_a_week_of_counts(weeks):
    """``agora fit --tick 1d`` on weekly totals dated 7 days apart compared one simulated day's onsets with each
    week's total; now refused, naming the tick to give. A level (agents in I) is compared at its row's tick."""
    paths, _ = weeks
    with pytest.raises(BadParameterError) as err:
        read_observed(paths["dates"], None, ("S", "I", "R"), tick="1d", observe=(("cases", "new"),))
    assert str(err.value).startswith("give tick 1w or longer: each row of observation file")
    obs = read_observed(paths["dates"], None, ("S", "I", "R"), observe=(("cases", "new"),))
    assert obs.recorded["tick"] == "1w" and obs.ticks.size == 30
    level = read_observed(paths["dates"], None, ("S", "I", "R"), tick="1d", observe=(("cases", "I"),))
    assert level.ticks.tolist() == list(range(0, 210, 7))


def test_iso_weeks_are_real_weeks():
    # 2004 has 53 ISO weeks (it starts on a Thursday), 2005 has 52; week 1 holds 4 January.
    assert iso_weeks(np.array([2004, 2005, 2009]), np.array([53, 1, 1])).astype("datetime64[D]").astype(
        str
    ).tolist() == [
        "2004-12-27",
        "2005-01-03",
        "2008-12-29",
    ]
    assert iso_weeks(np.array([2005, 2005]), np.array([53, 0]))[0] < 0
    assert week_labels(np.array([np.datetime64("2008-12-29").astype(np.int64)])) == ["2009-W01"]


@pytest.mark.parametrize("cell", ["2005-W53", "2005-W00", "0000-W10"])
def test_a_week_that_does_not_exist_is_refused_naming_its_line(tmp_path, cell):
    path = tmp_path / "w.csv"
    path.write_text(f"epiweek,cases\n2005-W50,1\n{cell},2\n")
    with pytest.raises(BadFileError, match="line 3: the time column epiweek holds") as err:
        read_incidence(path)
    assert cell not in str(err.value)  # never a cell's content


def test_aggregate_days_is_the_tent_rule_keeps_the_mass_and_divides_the_mean():
    """``w_k = sum_d p_d max(0, 1 - |d - 7k| / 7)``: equal to enumerating the infector's day within its week."""
    p = discretised_gamma(np.arange(60), 11.7, 2.0)
    w = aggregate_days(p, 7)
    brute = np.zeros(w.size)
    for d, pd in enumerate(p):
        for u in range(7):  # the infector's day within its week, each alike
            brute[(u + d) // 7] += pd / 7
    np.testing.assert_allclose(w, brute, rtol=0, atol=1e-15)
    assert math.isclose(w.sum(), p.sum(), rel_tol=1e-14)
    assert math.isclose(np.dot(w, np.arange(w.size)), np.dot(p, np.arange(p.size)) / 7, rel_tol=1e-13)
    np.testing.assert_array_equal(aggregate_days(p, 1)[: p.size], p)


def test_rt_on_weekly_counts_equals_its_closed_form(weeks):
    """R's posterior per weekly window (one week) from the closed form written out: the gamma serial interval
    (days) discretised as EpiEstim does, spread over weeks by the tent rule, Lambda_t = sum_{k>=0} w_k I_{t-k},
    shape a0 + I_t, rate 1/b0 + Lambda_t."""
    paths, weekly = weeks
    est = rt(paths["numbers"], "gamma:11.7,2.0")
    assert est.window == 1 and est.tick_days == 7
    days = np.arange(30 * 7)
    p = discretised_gamma(days, 11.7, 2.0)
    w = np.zeros(31)
    for k in range(31):
        w[k] = sum(p[d] * max(0.0, 1.0 - abs(d - 7 * k) / 7.0) for d in days)
    a0, b0 = 1.0, 5.0  # mean 5, sd 5
    for j, end in enumerate(est.end.tolist()):
        lam = sum(w[k] * weekly[end - k] for k in range(end + 1))
        shape, rate = a0 + weekly[end], 1.0 / b0 + lam
        assert math.isclose(est.mean[j], shape / rate, rel_tol=1e-12)
        assert math.isclose(est.quantiles["q975"][j], stats.gamma.ppf(0.975, shape, scale=1 / rate), rel_tol=1e-12)
    assert est.to_dict()["unit"] == "week"


def test_rt_text_names_weeks_and_the_reading(weeks, tmp_path):
    paths, _ = weeks
    out = agora(tmp_path, "rt", str(paths["numbers"]), "--serial-interval", "gamma:11.7,2.0")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("curve            numbers.csv: 30 weeks (7 to 36)")
    assert lines[1].startswith("time             time column week: whole numbers of weeks")
    assert lines[2] == "serial interval  gamma:11.7,2: mean 11.70 days, sd 2.00; over weeks: mean 1.67"
    assert lines[4] == "windows          1 week, each named by its last week: 29 windows"
    data = json.loads(
        agora(tmp_path, "rt", str(paths["numbers"]), "--serial-interval", "gamma:11.7,2", "--json").stdout
    )
    assert data["unit"] == "week" and data["serial_interval"]["mean_days"] == 11.7


#: Flu1918's weekly estimates inside the daily estimate's 95 % interval of the same 7 days (docs/rt.md).
FLU1918_INSIDE = (8, 12)


def test_flu1918_weekly_estimates_against_the_daily_ones(tmp_path):
    """Flu1918 (92 days) summed into 13 weeks: each week's R (a one-week window) against the daily estimate over
    the same 7 days (the window ending on the week's last day). Spreading the serial interval (mean 2.6 days)
    evenly over each week's days misses where the curve turns within a week: 8 of the 12 comparable weeks lie
    inside the daily 95 % interval (docs/rt.md reports which)."""
    curve = data_file("incidence-Flu1918.csv")
    si = str(data_file("serial-interval-Flu1918.csv"))
    cases = np.loadtxt(curve, delimiter=",", skiprows=1)[:, 1]
    n = cases.size // 7 * 7
    path = tmp_path / "flu1918-weekly.csv"
    path.write_text("week,cases\n" + "".join(f"{i},{int(c)}\n" for i, c in enumerate(cases[:n].reshape(-1, 7).sum(1))))
    daily, weekly = rt(curve, si), rt(path, si)
    by_day = {int(d): i for i, d in enumerate(daily.days)}
    q025, q975 = daily.quantiles["q025"], daily.quantiles["q975"]
    pairs = [(j, by_day[int(d) * 7 + 6]) for j, d in enumerate(weekly.days) if int(d) * 7 + 6 in by_day]
    inside = sum(q025[i] <= weekly.mean[j] <= q975[i] for j, i in pairs)
    assert (inside, len(pairs)) == FLU1918_INSIDE


def test_a_backtest_on_weekly_counts_runs_renewal_with_the_interval_spread_over_weeks(weeks, tmp_path):
    """Before, renewal refused weekly ticks ("give tick 1d"); now its serial interval (days) is spread over the
    weeks, lag 0 set aside and the rest rescaled, the same weights estimating R (a week's window: one tick) and
    projecting; persistence carries the last week's count."""
    from sim.analysis.rtcurve import serial_interval_of
    from sim.runs.backtest.running import _per_tick

    si = _per_tick(serial_interval_of("gamma:11.7,2.0"), 7, 40)
    spread = aggregate_days(discretised_gamma(np.arange(280), 11.7, 2.0), 7)
    spread[0] = 0.0
    np.testing.assert_allclose(si.probabilities, spread / spread.sum(), rtol=1e-15)
    paths, _ = weeks
    world = tmp_path / "w.db"
    assert agora(tmp_path, "new", str(world), "--agents", "300", "--seed", "1").returncode == 0
    out = agora(
        tmp_path, "backtest", str(world), "--observed", str(paths["numbers"]), "--observe", "cases=new",
        "--model", "sir", "--param", "beta=0.01..1", "--param", "gamma=0.05..0.5", "--seeds", "random:1",
        "--cut", "20,25", "--horizon", "2", "--method", "persistence,renewal",
        "--serial-interval", "gamma:11.7,2.0", "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["observed"]["recorded"]["tick"] == "1w" and [c["cut"] for c in data["cuts"]] == ["20", "25"]
    assert all(len(c["forecasts"]["renewal"]["q50"]) == 2 for c in data["cuts"])
