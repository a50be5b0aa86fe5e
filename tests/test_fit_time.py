"""``agora fit`` on tables recorded in their own time (issue 60): ``--time``, ``--tick``, ``--observe``, line
lists, timestamped cascades ``id,parent,time``, and a DataFrame wherever a file is.

The real curves come from ../shared/data; every CLI finding is a real subprocess of ``agora``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import agora, data_file, one_sentence

from sim.engine.requests import Fit
from sim.errors import BadFileError, BadParameterError
from sim.lab.agents import load_world
from sim.store.observed import ObservedCascades, ObservedSeries, read_observed


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A world of 300 agents (10-minute ticks, as every world by default)."""
    folder = tmp_path_factory.mktemp("fit_time")
    out = agora(folder, "new", "w.db", "--agents", "300", "--seed", "1", "--json")
    assert out.returncode == 0, out.stderr
    return folder, folder / "w.db"


def _world(path):
    return load_world(str(path))


# --- reading: series, line lists, cascades ---------------------------------------------------------------


def test_the_measles_curve_becomes_a_series_of_new_cases_per_day(small):
    world = _world(small[1])
    obs = read_observed(
        data_file("incidence-Measles1861.csv"),
        world,
        ("S", "I", "R"),
        time="day",
        tick="1d",
        observe=(("cases", "new"),),
    )
    assert isinstance(obs, ObservedSeries) and list(obs.columns) == ["new"]
    rows = np.loadtxt(data_file("incidence-Measles1861.csv"), delimiter=",", skiprows=1)
    assert obs.ticks.tolist() == rows[:, 0].astype(int).tolist()
    assert obs.columns["new"].tolist() == rows[:, 1].tolist()
    assert obs.recorded == {
        "time": "day", "tick": "1d", "first": "0", "last": "47", "origin": None, "line_list": False,
        "observe": {"cases": "new"}, "reading": obs.recorded["reading"], "span": "1d",
    }  # fmt: skip


def test_daily_data_tick_in_days_by_default_and_a_shorter_tick_is_refused(small):
    """Issue 73: the tick defaults to what one row counts (here a day; before, the world's 10 minutes, refused),
    and the reading says so; a tick shorter than a row is still refused, naming the tick to give."""
    world = _world(small[1])
    obs = read_observed(data_file("incidence-Measles1861.csv"), world, ("S", "I", "R"), observe=(("cases", "new"),))
    assert isinstance(obs, ObservedSeries) and obs.recorded["tick"] == "1d" and obs.ticks.size == 48
    assert obs.recorded["reading"] == (
        "time column day: whole numbers of days (the column is named day; say day:1w if they count weeks); 48 rows, "
        "a day apart: each counts a day; ticks of 1d"
    )
    with pytest.raises(BadParameterError) as err:
        read_observed(
            data_file("incidence-Measles1861.csv"), world, ("S", "I", "R"), tick="10min", observe=(("cases", "new"),)
        )
    assert str(err.value).startswith("give tick 1d or longer: each row of observation file")
    assert "the fit's ticks last 10min (as given)" in str(err.value)
    assert err.value.fields == ("tick",)


def test_hagelloch_line_list_is_counted_per_day_and_every_day_is_compared():
    obs = read_observed(data_file("hagelloch.csv"), None, (), time="PRO", tick="1d", observe=(("cases", "onsets"),))
    assert isinstance(obs, ObservedSeries) and list(obs.columns) == ["onsets"]
    assert obs.ticks.tolist() == list(range(87))  # days without a case count 0, and are compared
    assert obs.columns["onsets"].sum() == 188 and obs.recorded["line_list"] is True
    assert obs.recorded["origin"] == "1861-10-30" and obs.recorded["last"] == "1862-01-24"


def test_counts_above_the_worlds_agents_are_refused(small, tmp_path):
    path = tmp_path / "many.csv"
    world = _world(small[1])
    path.write_text("id,date\n" + "".join(f"{i},2020-01-0{1 + (i == 300)}\n" for i in range(301)))
    assert read_observed(path, world, (), tick="1d", observe=(("cases", "new"),)).columns["new"].tolist() == [300, 1]
    path.write_text("id,date\n" + "".join(f"{i},2020-01-01\n" for i in range(301)))
    with pytest.raises(BadFileError, match="has 301 for new in tick 2020-01-01, more than the world's 300 agents"):
        read_observed(path, world, ("S", "I", "R"), tick="1d", observe=(("cases", "new"),))


def test_a_series_compares_only_the_ticks_it_has_and_levels_are_not_summed(tmp_path):
    path = tmp_path / "gaps.csv"
    path.write_text("date,I\n2020-03-01,2\n2020-03-02,4\n2020-03-05,7\n")
    obs = read_observed(path, None, ("S", "I", "R"), tick="1d")
    assert obs.ticks.tolist() == [0, 1, 4] and obs.columns["I"].tolist() == [2, 4, 7]
    with pytest.raises(BadFileError, match=r"has 2 rows in tick 2020-03-01, and I is a count of agents at a tick"):
        read_observed(path, None, ("S", "I", "R"), tick="2d")
    weekly = read_observed(path, None, ("S", "I", "R"), tick="1w", observe=(("I", "new"),))
    assert weekly.columns["new"].tolist() == [13.0]  # a count of events may be summed


def _engine_cascades(tmp_path, rows):
    """The same cascades written as agora run --cascades writes them (one run per tree), read by the old path."""
    lines = ["run,agent,source,tick,generation"]
    for run, agent, source, tick, gen in rows:
        lines.append(f"{run},{agent},{'' if source is None else source},{tick},{gen}")
    path = tmp_path / "engine.csv"
    path.write_text("\n".join(lines) + "\n")
    return read_observed(path)


def test_timestamped_cascades_measure_as_the_engine_does(tmp_path):
    # Two trees: 1 -> (2 -> (4, 5), 3), and 10 -> 11 -> 12 -> 13; ids as text, rows out of order.
    log = tmp_path / "reshares.csv"
    log.write_text(
        "id,parent,time\n"
        "u4,u2,2024-05-01T10:30:00\nu1,,2024-05-01T09:00:00\nu2,u1,2024-05-01T09:40:00\nu3,u1,2024-05-01T09:05:00\n"
        "u5,u2,2024-05-01T12:00:00\nv10,,2024-05-02T08:00:00\nv11,v10,2024-05-02T08:01:00\n"
        "v12,v11,2024-05-02T09:00:00\nv13,v12,2024-05-03T00:00:00\n"
    )
    obs = read_observed(log, tick="1h")
    engine = _engine_cascades(
        tmp_path,
        [(0, 1, None, 0, 0), (0, 2, 1, 1, 1), (0, 3, 1, 1, 1), (0, 4, 2, 2, 2), (0, 5, 2, 3, 2),
         (1, 10, None, 0, 0), (1, 11, 10, 1, 1), (1, 12, 11, 2, 2), (1, 13, 12, 3, 3)],
    )  # fmt: skip
    assert isinstance(obs, ObservedCascades) and isinstance(engine, ObservedCascades)
    order = np.argsort(obs.sizes, kind="stable")[::-1]  # both: the 5-agent tree first
    assert obs.sizes[order].tolist() == engine.sizes.tolist() == [5, 4]
    assert obs.depth[order].tolist() == engine.depth.tolist() == [2, 3]
    np.testing.assert_allclose(obs.virality[order], engine.virality, rtol=0, atol=1e-15)
    assert obs.roots.tolist() == [1, 1]


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("id,parent,time\na,,1\nb,zz,2\n", "line 3: its parent has no row"),
        ("id,parent,time\na,,1\nb,a,0\n", "line 3: its time comes before its parent's (line 2)"),
        ("id,parent,time\na,,1\na,,2\n", "lines 2 and 3 have the same id"),
        ("id,parent,time\na,b,1\nb,a,1\n", "has a cycle of parents"),
        ("id,parent,time\na,a,1\n", "line 2: is its own parent"),
        ("id,parent,time\na,,2020-01-01\nb,a,2020-01-01T10:00\n", "mixes time formats"),
    ],
)
def test_bad_cascade_logs_are_one_sentence(tmp_path, text, expect):
    path = tmp_path / "log.csv"
    path.write_text(text)
    with pytest.raises(BadFileError) as err:
        read_observed(path, tick="1d")
    assert expect in str(err.value) and str(err.value).startswith(f"observation file {path}")


def test_a_dataframe_is_read_as_its_file():
    pd = pytest.importorskip("pandas")
    path = data_file("incidence-mers_2014_15.csv")
    frame = pd.read_csv(path).assign(date=lambda f: pd.to_datetime(f["date"]))
    for source in (path, frame):
        obs = read_observed(source, None, (), tick="1d", observe=(("local", "new"),))
        assert obs.columns["new"].sum() == 459 and obs.recorded["first"] == "2014-08-11"
    assert read_observed(frame, None, (), tick="1d", observe=(("local", "new"),)).path == "(a DataFrame)"


# --- the request ---------------------------------------------------------------------------------------


def test_fit_request_parses_time_tick_and_observe():
    fit = Fit.parse({"observed": "x.csv", "time": "date", "tick": "1d", "observe": ["cases=onsets", "b=new.E"]})
    assert (fit.time, fit.tick, fit.observe) == ("date", "1d", (("cases", "onsets"), ("b", "new.E")))
    assert Fit.parse({"observed": "x.csv", "observe": {"cases": "new"}}).observe == (("cases", "new"),)
    for bad, field in (
        ({"tick": "7x"}, "tick"),
        ({"observe": ["cases"]}, "observe"),
        ({"observe": ["cases=", "x=y"]}, "observe"),
        ({"observe": ["a=new", "a=I"]}, "observe"),
        ({"time": ""}, "time"),
    ):
        with pytest.raises(BadParameterError) as err:
            Fit.parse({"observed": "x.csv", **bad})
        assert err.value.fields == (field,), bad
    with pytest.raises(BadParameterError, match="a pandas DataFrame"):
        Fit.parse({"observed": 3})


@pytest.mark.slow
def test_world_fit_takes_a_dataframe(small):
    pd = pytest.importorskip("pandas")
    import sim

    frame = pd.read_csv(data_file("incidence-Flu2009.csv")).drop(columns="day")
    result = sim.open_world(str(small[1])).fit(
        observed=frame, model="sir", time="date", tick="1d", observe={"cases": "new"},
        params={"beta": (0.01, 0.5)}, seeds="random:1", budget=40, population=20, workers=1,
    )  # fmt: skip
    data = result.to_dict()
    assert data["observed"]["path"] == "(a DataFrame)" and data["observed"]["ticks"] == 32
    assert data["observed"]["recorded"]["first"] == "2009-04-27" and data["simulations"] <= 40


# --- the command line ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_cli_fits_the_measles_curve_by_day(small):
    folder, path = small
    out = agora(
        folder, "fit", str(path), "--model", "sir", "--observed", str(data_file("incidence-Measles1861.csv")),
        "--time", "day", "--tick", "1d", "--observe", "cases=new", "--param", "beta=0.01..0.5",
        "--param", "gamma=0.05..0.5", "--seeds", "random:1", "--budget", "60", "--population", "20",
        "--workers", "1", "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["observed"]["kind"] == "series" and data["observed"]["columns"] == ["new"]
    assert data["observed"]["ticks"] == 48 and data["observed"]["recorded"]["tick"] == "1d"
    assert 0.01 <= data["params"]["beta"]["median"] <= 0.5 and data["simulations"] <= 60


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["--tick", "7h"], "agora: error: --tick 7h splits no day evenly, and observation file"),
        (["--tick", "10min"], "agora: error: give --tick 1d or longer: each row of observation file"),
        (["--tick", "1 day"], "agora: error: --tick '1 day' is not a duration: give a whole number above 0"),
        (["--tick", "1d", "--observe", "cases"], "agora: error: --observe cases= names no measure"),
        (["--tick", "1d", "--time", "when"], "agora: error: --time names no column of observation file"),
    ],
)
def test_cli_bad_time_flags_are_one_sentence_and_exit_2(small, args, expect):
    folder, path = small
    curve = str(data_file("incidence-Measles1861.csv"))
    line = one_sentence(
        agora(folder, "fit", str(path), "--model", "sir", "--observed", curve, "--param", "beta=0.01..0.5", *args)
    )
    assert line.startswith(expect), line


@pytest.mark.slow
def test_cli_bad_time_columns_are_one_sentence_naming_the_line(small, tmp_path):
    folder, path = small
    for text, expect in (
        ("date,cases\n2020-01-01,1\n2020-01-02 10:00,2\n", "mixes time formats in date: line 2 holds an ISO date"),
        ("day,cases\n0,1\n1.5,2\n", "line 3: the time column day is not a time"),
    ):
        bad = tmp_path / "bad.csv"
        bad.write_text(text)
        line = one_sentence(
            agora(
                folder,
                "fit",
                str(path),
                "--model",
                "sir",
                "--observed",
                str(bad),
                "--tick",
                "1d",
                "--param",
                "beta=0.01..0.5",
            )
        )
        assert expect in line, line
