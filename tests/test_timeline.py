"""sim.store.timeline: counts over time as a file records them (issue 60, time as recorded).

Real curves from ../shared/data (EpiEstim's incidence files, Hagelloch's line list) and small hostile files."""

from __future__ import annotations

import csv
import gzip
import os

import numpy as np
import pytest
from conftest import data_file

from sim.errors import BadFileError, BadParameterError
from sim.store.timeline import MAX_TICKS, format_duration, parse_duration, read_incidence


def _rows(path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


# --- durations ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"), [("1d", 86400), ("6h", 21600), ("10min", 600), ("30s", 30), ("2w", 1209600), (" 3h ", 10800)]
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0d", "1.5d", "-1d", "10m", "1 day", "d", "1D", "1e3s", "99999999999s"])
def test_parse_duration_refuses_anything_else_in_one_sentence(text):
    with pytest.raises(BadParameterError) as err:
        parse_duration(text)
    assert err.value.fields == ("tick",)
    assert str(err.value).startswith("tick ") and "1d, 6h, 10min, 30s or 2w" in str(err.value)


def test_format_duration_is_the_inverse_on_whole_units():
    for text in ("1d", "6h", "10min", "30s", "2w", "90min"):
        assert format_duration(parse_duration(text)) == text


# --- the real curves ------------------------------------------------------------------------------------

CURVES = [
    "incidence-Flu1918.csv",
    "incidence-Flu2009.csv",
    "incidence-Measles1861.csv",
    "incidence-SARS2003.csv",
    "incidence-Smallpox1972.csv",
    "incidence-flu_2009_NYC_school.csv",
    "incidence-mers_2014_15.csv",
]


@pytest.mark.parametrize("name", CURVES)
def test_every_real_curve_reads_day_by_day_as_its_rows_say(name):
    path = data_file(name)
    rows = _rows(path)
    inc = read_incidence(path)
    has_date = "date" in rows[0]
    assert inc.time == ("date" if has_date else "day")
    assert not inc.line_list and inc.tick_seconds == 86400 and inc.resolution == 1
    assert inc.ticks.tolist() == list(range(len(rows)))  # these curves have a row for every day
    counted = [c for c in rows[0] if c not in ("day", "date")]
    assert sorted(inc.counts) == sorted(counted)
    for c in counted:
        assert inc.counts[c].tolist() == [float(r[c]) for r in rows]
    if has_date:
        assert inc.labels == [r["date"] for r in rows] and inc.origin == rows[0]["date"]
    else:
        assert inc.labels == [r["day"] for r in rows] and inc.origin is None


def test_mers_counts_local_and_imported_cases_apart():
    inc = read_incidence(data_file("incidence-mers_2014_15.csv"))
    assert inc.counts["local"].sum() + inc.counts["imported"].sum() == 523
    assert inc.labels[-1] == "2015-12-18"


def test_a_week_of_daily_data_sums_its_days_and_is_named_by_its_first():
    path = data_file("incidence-Flu2009.csv")
    rows = _rows(path)
    inc = read_incidence(path, tick="1w")
    cases = np.array([float(r["cases"]) for r in rows])
    expect = np.add.reduceat(cases, np.arange(0, len(rows), 7))
    assert inc.counts["cases"].tolist() == expect.tolist()
    assert inc.labels == [rows[i]["date"] for i in range(0, len(rows), 7)]
    assert inc.tick_seconds == 7 * 86400


def test_six_hour_ticks_of_daily_data_put_each_day_at_its_first_tick():
    path = data_file("incidence-Flu2009.csv")
    rows = _rows(path)
    inc = read_incidence(path, tick="6h")
    assert inc.resolution == 4 and inc.ticks.size == 4 * len(rows)
    assert inc.counts["cases"][::4].tolist() == [float(r["cases"]) for r in rows]
    assert not inc.counts["cases"].reshape(-1, 4)[:, 1:].any()
    assert inc.labels[:2] == ["2009-04-27T00:00:00", "2009-04-27T06:00:00"] and inc.origin == "2009-04-27T00:00:00"


def test_a_tick_that_splits_no_day_is_refused_on_daily_data():
    with pytest.raises(BadParameterError) as err:
        read_incidence(data_file("incidence-Flu2009.csv"), tick="7h")
    assert err.value.fields == ("tick",)
    assert str(err.value).startswith("tick 7h splits no day evenly") and "incidence-Flu2009.csv" in str(err.value)
    with pytest.raises(BadParameterError, match="splits no day"):
        read_incidence(data_file("incidence-Measles1861.csv"), tick="36h")  # a day column counts days too


def test_the_hagelloch_line_list_counted_per_day_against_the_measles_curve():
    """The curve's day 0 is 1861-10-30, the first prodrome in the line list. Counted per day, Hagelloch's 188
    PRO dates give the curve's 187 cases on days 0-47 plus one child on day 86 (1862-01-24), which the curve
    leaves out; on 8 of the 48 days the counts differ by 1 or 2 (a case moved to a neighbouring day), and the
    cumulative curves never differ by more than 2."""
    line = read_incidence(data_file("hagelloch.csv"), time="PRO")
    curve = read_incidence(data_file("incidence-Measles1861.csv"))
    assert line.line_list and list(line.counts) == ["cases"] and line.origin == "1861-10-30"
    ours, theirs = line.counts["cases"], curve.counts["cases"]
    assert ours.sum() == 188 and theirs.sum() == 187 and ours.size == 87 and theirs.size == 48
    assert ours[:48].sum() == 187 and ours[48:].tolist() == [0.0] * 38 + [1.0]
    assert line.labels[86] == "1862-01-24"
    differ = np.flatnonzero(ours[:48] != theirs)
    assert differ.tolist() == [21, 22, 30, 31, 32, 33, 35, 37]
    assert np.abs(ours[:48] - theirs).max() == 2
    assert np.abs(np.cumsum(ours[:48]) - np.cumsum(theirs)).max() <= 2


def test_a_line_list_by_date_and_by_timestamp_and_its_id(tmp_path):
    path = _write(tmp_path, "cases.csv", "id,when\n3,2020-01-02\n1,2020-01-01\n2,2020-01-04\n4,2020-01-02\n")
    inc = read_incidence(path, time="when")
    assert inc.line_list and inc.counts["cases"].tolist() == [1, 2, 0, 1]
    assert inc.labels == ["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-04"]
    stamps = _write(tmp_path, "s.csv", "id,time\na,2020-01-01T23:10:00\nb,2020-01-02 00:20\nc,2020-01-01T22:00Z\n")
    hourly = read_incidence(stamps, tick="1h")
    assert hourly.counts["cases"].tolist() == [1, 1, 1] and hourly.origin == "2020-01-01T22:00:00"
    daily = read_incidence(stamps, tick="1d")
    assert daily.counts["cases"].tolist() == [2, 1] and daily.labels == ["2020-01-01", "2020-01-02"]
    twice = _write(tmp_path, "t.csv", "id,date\n7,2020-01-01\n8,2020-01-01\n7,2020-01-03\n")
    with pytest.raises(BadFileError, match=r"t\.csv lines 2 and 4 have the same id"):
        read_incidence(twice)


def test_columns_chooses_the_counts_and_an_empty_list_makes_a_line_list(tmp_path):
    path = _write(tmp_path, "c.csv", "day,a,b,note\n0,1,2,x\n1,3,4,y\n3,5,6,z\n")
    inc = read_incidence(path)
    assert sorted(inc.counts) == ["a", "b"] and inc.counts["a"].tolist() == [1, 3, 0, 5]
    assert inc.rows is not None and inc.rows.tolist() == [1, 1, 0, 1]  # the day the file left out: no row
    assert list(read_incidence(path, columns=["b"]).counts) == ["b"]
    listed = read_incidence(path, columns=())
    assert listed.line_list and listed.counts["cases"].tolist() == [1, 1, 0, 1]
    with pytest.raises(BadParameterError, match="has no column 'zz' to count"):
        read_incidence(path, columns=["zz"])


def test_whole_numbers_in_ticks_and_tick_zero_is_the_first_time(tmp_path):
    path = _write(tmp_path, "w.csv", "t,new\n5,1\n7,2\n")
    inc = read_incidence(path, tick="10min")
    assert inc.ticks.tolist() == [0, 1, 2] and inc.counts["new"].tolist() == [1, 0, 2]
    assert inc.labels == ["5", "6", "7"] and inc.origin is None and inc.tick_seconds == 600


def test_csv_gz_parquet_and_a_dataframe_read_as_the_csv(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    src = data_file("incidence-mers_2014_15.csv")
    plain = read_incidence(src)
    gz = tmp_path / "m.csv.gz"
    gz.write_bytes(gzip.compress(src.read_bytes()))
    frame = pd.read_csv(src)
    frame.to_parquet(tmp_path / "m.parquet")
    typed = frame.assign(date=pd.to_datetime(frame["date"]))
    typed.to_parquet(tmp_path / "typed.parquet")
    for other in (gz, tmp_path / "m.parquet", tmp_path / "typed.parquet", frame, typed):
        got = read_incidence(other)
        assert got.labels == plain.labels and got.origin == plain.origin
        assert {k: v.tolist() for k, v in got.counts.items()} == {k: v.tolist() for k, v in plain.counts.items()}


# --- refusals: one sentence, the file and line named, never a cell ---------------------------------------


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("day,cases\n0,1\nSECRET,2\n", "line 3: the time column day is not a time"),
        ("day,cases\n0,1\n1.5,2\n", "line 3: the time column day is not a time"),
        ("date,cases\n2020-01-01,1\n2020-01-02T10:00,2\n", "line 2 holds an ISO date and line 3 a timestamp"),
        ("date,cases\n3,1\n2020-01-02,2\n", "line 2 holds a whole number and line 3 an ISO date"),
        ("date,cases\n2020-01-01,1\n2020-02-30,2\n", "line 3: the time column date holds a date that does not"),
        ("time,cases\n2020-01-01T10:00+02:00,1\n", "line 2: the time column time has a time zone offset"),
        ("day,cases\n0,1\n,2\n", "line 3: the time column day is empty"),
        ("day,cases\n0,1\n1,-2\n", "line 3: the count cases is negative"),
        ("day,cases\n0,1\n1,2.5\n", "line 3: the count cases is not a whole number"),
        ("day,cases\n0,1\n1,SECRET\n", "line 3: the count cases is not a number"),
        ("day,cases\n0,1\n1,\n", "line 3: the count cases is empty"),
        ("day,cases\n0,1\n1,inf\n", "line 3: the count cases is infinite"),
        ("day,cases\n0,1\n\n2,2\n2,3\n", "lines 4 and 5 have the same time"),
        ("day,cases\n0,1\n2,2\n1,3\n", "line 4: its time comes before line 3's"),
        ("day,cases\n0,1\n1,2,3\n", "line 3: 3 fields where the header has 2"),
        ("", "is empty"),
        ("day,cases\n", "has a header but no rows"),
    ],
)
def test_bad_files_are_one_sentence_naming_the_line(tmp_path, text, expect):
    path = _write(tmp_path, "bad.csv", text)
    with pytest.raises(BadFileError) as err:
        read_incidence(path, columns=["cases"] if "cases" in text else None)  # by default, repeats: a line list
    message = str(err.value)
    assert message.startswith(f"observation file {path}") and expect in message, message
    assert "SECRET" not in message and "\n" not in message


def test_a_column_the_caller_did_not_name_is_shown_by_its_place(tmp_path):
    path = _write(tmp_path, "p.csv", "day,MyPrivateName\n0,1\n1,-1\n")
    with pytest.raises(BadFileError, match="line 3: the count column 2 is negative") as err:
        read_incidence(path)
    assert "MyPrivateName" not in str(err.value)
    with pytest.raises(BadFileError, match="the count MyPrivateName is negative"):
        read_incidence(path, columns=["MyPrivateName"])


def test_the_time_column_must_be_found_or_named(tmp_path):
    none = _write(tmp_path, "n.csv", "when,cases\n0,1\n")
    with pytest.raises(BadParameterError, match="give time, the name of the time column") as err:
        read_incidence(none)
    assert err.value.fields == ("time",)
    two = _write(tmp_path, "two.csv", "tick,time,cases\n0,0,1\n")
    with pytest.raises(BadParameterError, match="has columns time and tick"):
        read_incidence(two)
    with pytest.raises(BadParameterError, match="time names no column"):
        read_incidence(none, time="PRO")


def test_too_many_ticks_and_unknown_sources_are_refused(tmp_path):
    path = _write(tmp_path, "long.csv", "time,cases\n2000-01-01T00:00:00,1\n2020-01-01T00:00:00,1\n")
    with pytest.raises(BadParameterError, match=f"more than the {MAX_TICKS:,} a run simulates"):
        read_incidence(path, tick="1min")
    assert read_incidence(path, tick="1d").ticks.size == 7306
    with pytest.raises(BadParameterError, match="unknown extension"):
        read_incidence(tmp_path / "x.txt")
    with pytest.raises(BadParameterError, match="give a pandas DataFrame or the path"):
        read_incidence(42)  # type: ignore[arg-type]


def test_bounds_hold_for_pipes_bombs_and_long_lines(tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    with pytest.raises(BadFileError, match="not a regular file"):
        read_incidence(fifo)
    bomb = tmp_path / "bomb.csv.gz"
    bomb.write_bytes(gzip.compress(b"day,cases\n" + b"0" * (20 * 2**20)))
    with pytest.raises(BadFileError, match="expands more than|longer than"):
        read_incidence(bomb)
    long = _write(tmp_path, "long.csv", "day,cases\n" + "1" * (70 * 2**10) + ",1\n")
    with pytest.raises(BadFileError, match="line 2 is longer than 64 KiB"):
        read_incidence(long)
    with pytest.raises(BadFileError, match="does not exist"):
        read_incidence(tmp_path / "missing.csv")
