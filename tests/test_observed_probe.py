"""What issue 71's probe found in the readers of observed data, ``agora rt`` and ``agora fit``: each finding
refused (or read right) in one sentence, with a test that failed on the code before.

- Line lists cost 25 times their size: a 240 MiB line list took 6 GB; read here in memory about the file's size
  (its bytes once, columns cut out by numpy), measured as a real command's peak RSS (``os.wait4``) beside the same
  command on a tiny file, at a few MiB and (slow) at the 256 MiB bound.
- ``--serial-interval gamma:1.0000001,1e-300`` ended in ``OverflowError``; numpy's ``RuntimeWarning`` was printed
  raw by ``agora fit``; ``0000-01-01`` was a date; digits of other scripts (``--tick ١d``) were numbers.
- No reader prints a byte of the file it read, even through a link to a file holding a secret.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import random
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, data_file
from inprocess import run_cli

from sim.cli.main import main
from sim.core.boundedio import MAX_BYTES
from sim.errors import BadFileError, BadParameterError
from sim.store.csvcolumns import read_columns, unescaped
from sim.store.timeline import read_incidence

MARKER = "AGORA_WORLD_KEY=sekrit-7f3a"
#: What reading a line list may cost beyond a tiny file's run: this many times its size, plus a few MiB of a
#: chunk's temporaries. The code before cost 14 to 25 times the size.
RATIO = 2.0
SLACK = 24 * 2**20


# --- files, made fast ----------------------------------------------------------------------------------------


def line_list(path: Path, size: int, *, quoted: bool = False) -> Path:
    """A line list of about ``size`` bytes, ``id,PRO,age,class``: one row per case, dates over three months in
    random order (built by numpy, not row by row)."""
    row = b'"00000000","1861-11-21","7.5","preschool"\n' if quoted else b"00000000,1861-11-21,7.5,preschool\n"
    head = b'"id","PRO","age","class"\n' if quoted else b"id,PRO,age,class\n"
    tmpl = np.frombuffer(row, dtype=np.uint8)
    off = 1 if quoted else 0
    n = max(1, (size - len(head)) // tmpl.size)
    rows = np.tile(tmpl, (n, 1))
    ids = np.arange(1, n + 1)
    for k in range(8):
        rows[:, off + 7 - k] = 48 + (ids // 10**k) % 10
    days = np.arange("1861-10-30", "1862-01-30", dtype="datetime64[D]")
    text = np.frombuffer(np.datetime_as_string(days).astype("S10").tobytes(), dtype=np.uint8).reshape(-1, 10)
    at = 9 + 3 * off
    rows[:, at : at + 10] = text[np.random.default_rng(0).integers(0, days.size, n)]
    with open(path, "wb") as fh:
        fh.write(head)
        fh.write(rows.tobytes())
    return path


#: A small process between the test and ``agora``: Linux carries a process's peak RSS over ``fork`` and ``exec``
#: (``ru_maxrss`` starts at the parent's), so ``agora`` forked from a test holding a 250 MiB array would report
#: the test's memory; forked from this one, it starts from a few MiB. It waits for ``agora`` with ``os.wait4`` and
#: writes its exit code and peak RSS.
_WRAP = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[2:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
with open(sys.argv[1], "w") as fh:
    fh.write(f"{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss}")
"""


def run_measured(cwd: Path, *args: str, timeout: float = 300) -> tuple[int, int, str]:
    """``python -m sim ARGS``: its exit code, its peak RSS in bytes (``os.wait4``), and its stderr."""
    env = {k: v for k, v in os.environ.items() if k != "AGORA_PROGRESS"}
    env["PYTHONPATH"] = str(ROOT)
    report = cwd / f".peak-{os.getpid()}-{time.monotonic_ns()}"
    argv = [sys.executable, "-c", _WRAP, str(report), sys.executable, "-m", "sim", *args]
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the wrapper and agora: its session
        proc.communicate()
        pytest.fail(f"agora {' '.join(args)} took more than {timeout:.0f} s")
    code, peak = (int(x) for x in report.read_text().split())
    report.unlink()
    return code, peak * 1024, err


def one_sentence(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("agora: error: ") and "Traceback" not in stderr, stderr
    return lines[0]


@pytest.fixture(scope="module")
def tiny_world(tmp_path_factory) -> Path:
    """A world of 10 agents: any line list above counts more cases a day than it has, so ``agora fit`` reads the
    whole file and refuses it (exit 2) before any simulation."""
    folder = tmp_path_factory.mktemp("probe")
    assert main(["new", str(folder / "w.db"), "--agents", "10", "--avg-degree", "4", "--seed", "1"]) == 0
    return folder


RT = ("rt", "{f}", "--time", "PRO", "--serial-interval", "gamma:2.6,1.5", "--json")
FIT = ("fit", "w.db", "--model", "sir", "--observed", "{f}", "--time", "PRO", "--tick", "1d", "--observe",
       "cases=new", "--param", "beta=0.01..0.5", "--seeds", "random:1", "--budget", "100")  # fmt: skip


def check_memory(folder: Path, size: int, *, quoted: bool = False, ratio: float = RATIO) -> dict[str, float]:
    """``agora rt`` and ``agora fit`` of a line list of ``size`` bytes beside the same of a tiny one: what reading it
    cost (peak RSS above the tiny run's) within ``ratio`` times its size and :data:`SLACK`, below 1 GiB."""
    big = line_list(folder / f"big{'-q' if quoted else ''}.csv", size, quoted=quoted)
    small = line_list(folder / "small.csv", 100_000, quoted=quoted)
    got = {}
    for name, template in (("rt", RT), ("fit", FIT)):
        rcs, base, _ = run_measured(folder, *(a.format(f=small) for a in template))
        started = time.monotonic()
        rc, peak, err = run_measured(folder, *(a.format(f=big) for a in template))
        got[f"{name}_s"] = time.monotonic() - started
        expect = 0 if name == "rt" else 2  # fit: more cases a day than the world has, after the whole file is read
        assert (rcs, rc) == (expect, expect), err[-2000:]
        if name == "fit":
            assert "more than the world's 10 agents" in one_sentence(err)
        cost = peak - base
        got[name] = cost / big.stat().st_size
        assert cost <= ratio * big.stat().st_size + SLACK, (name, size, peak / 2**20, base / 2**20)
        assert peak < 2**30, (name, peak / 2**20)
    return got


@pytest.mark.subprocess
def test_a_line_list_of_a_few_mib_costs_about_its_size_in_memory(tiny_world):
    check_memory(tiny_world, 6 * 2**20)


@pytest.mark.subprocess
def test_a_quoted_line_list_costs_little_more(tiny_world):
    check_memory(tiny_world, 6 * 2**20, quoted=True, ratio=RATIO + 1)


@pytest.mark.subprocess
@pytest.mark.slow
def test_a_line_list_at_the_documented_bound_stays_below_a_gigabyte(tiny_world):
    got = check_memory(tiny_world, MAX_BYTES - 2**20)
    assert got["rt_s"] < 60 and got["fit_s"] < 60, got  # the code before took 50 s and 6 GB, before refusing


def test_a_line_list_reads_as_before_on_the_real_data():
    inc = read_incidence(data_file("hagelloch.csv"), time="PRO")
    assert inc.line_list and int(inc.counts["cases"].sum()) == 188 and inc.labels[0] == "1861-10-30"


# --- the CSV reader: the csv module's cells, in bulk ---------------------------------------------------------


def _reference(text: str) -> tuple[list[str], list[list[str]] | None]:
    """The header and columns as the ``csv`` module reads them (cells stripped of ASCII blanks); None for the
    columns when a row has another width than the header's."""
    rows = [r for r in csv.reader(io.StringIO(text, newline="")) if r]
    header = [h.strip() for h in rows[0]]
    if any(len(r) != len(header) for r in rows):
        return header, None
    return header, [[r[j].strip(" \t\r\n\x0b\x0c") for r in rows[1:]] for j in range(len(header))]


def test_columns_are_the_csv_module_s_cells_for_quoted_blank_and_crlf_tables():
    rng = random.Random(7)
    pieces = ["1", "22", "x y", " 3 ", "", '"a"', '"b,c"', '"d""e"', '""', '"f,""g"""', "2020-01-01"]
    pieces += ['"x"y', ' "a"', 'a"b', '"m\nn"', '"p\r\nq"']  # through the csv module
    for _ in range(2000):
        width = rng.randint(1, 4)
        lines = [",".join(f"h{j}" for j in range(width))]
        for _ in range(rng.randint(0, 6)):
            lines.append(",".join(rng.choice(pieces) for _ in range(width)) if rng.random() > 0.15 else "")
        end = rng.choice(["\n", "\r\n"])
        text = end.join(lines) + rng.choice(["", end, end + end])
        header, columns = _reference(text)
        if columns is None:  # a quote read to a later line's end: a row of another width, refused
            with pytest.raises(BadFileError, match="fields where the header has"):
                read_columns(text.encode(), "f", "g")
            continue
        table = read_columns(text.encode(), "f", "g")
        assert table.header == header, text
        got = [[unescaped(c.decode()) for c in table.column(j).tolist()] for j in range(width)]
        assert got == columns, text


def test_a_cell_quoted_over_two_lines_and_a_stray_quote_go_through_the_csv_module():
    text = 'id,note\n1,"a\nb"\n2,it"s\n3,"c"\n'
    table = read_columns(text.encode(), "f", "g")
    assert [unescaped(c.decode()) for c in table.column(1).tolist()] == ["a\nb", 'it"s', "c"]
    assert [table.line(r) for r in range(3)] == [2, 4, 5]


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("id,date\n1,2020-01-01\n2,2020-01-02,9\n", "line 3: 3 fields where the header has 2"),
        ("id,date\n1,2020-01-01\n\n\n2\n", "line 5: 1 fields where the header has 2"),
        ('id,date\n"1",2020-01-01\n"2,2020-01-02\n', "line 3: 1 fields where the header has 2"),
        ("id,date\n1,2020-01-01\x00\n", "line 2 holds a NUL byte"),
        ("id,date\n1,\xff\n", "is not UTF-8 text (byte 10)"),
    ],
)
def test_a_bad_table_is_one_sentence_naming_the_line(tmp_path, text, expect):
    path = tmp_path / "bad.csv"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(BadFileError) as err:
        read_incidence(path, time="date")
    assert expect in str(err.value) and "\n" not in str(err.value)


def test_a_damaged_gzip_curve_is_one_sentence(tmp_path, capsys):
    """``agora rt`` of a truncated ``.csv.gz`` ended in gzip's EOFError (``agora fit`` said it in a sentence)."""
    whole = gzip.compress(data_file("hagelloch.csv").read_bytes())
    for name, data in (("cut.csv.gz", whole[: len(whole) // 2]), ("junk.csv.gz", b"\x1f\x8b\x08\x00junk")):
        (tmp_path / name).write_bytes(data)
        assert main(["rt", str(tmp_path / name), "--time", "PRO", "--serial-interval", "gamma:2,1"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "is not a complete gzip file" in err[0], err


def test_ids_longer_than_a_token_are_compared_whole(tmp_path):
    same = "x" * 60
    path = tmp_path / "ids.csv"
    path.write_text(f"id,date\n{same}a,2020-01-01\n{same}b,2020-01-01\n{same}a,2020-01-02\n")
    with pytest.raises(BadFileError, match="lines 2 and 4 have the same id"):
        read_incidence(path)
    path.write_text(f"id,date\n{same}a,2020-01-01\n{same}b,2020-01-01\n{same}c,2020-01-02\n")
    assert read_incidence(path).counts["cases"].tolist() == [2, 1]


# --- gamma serial intervals and delays -------------------------------------------------------------------------


def test_a_near_degenerate_gamma_is_its_limit_not_an_overflow(capsys):
    curve = str(data_file("incidence-Measles1861.csv"))
    assert main(["rt", curve, "--serial-interval", "gamma:1.0000001,1e-300", "--json"]) == 0
    import json

    data = json.loads(capsys.readouterr().out)
    w = data["serial_interval"]["probabilities"]
    assert w[:3] == pytest.approx([0.0, 0.9999999, 1e-7]) and sum(w) == pytest.approx(1.0)
    assert data["serial_interval"]["source"] == "gamma:1.0000001,1e-300"


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("gamma:2,1e300", "standard deviation must be a number above 0 and at most 1,000,000"),
        ("gamma:1e7,1", "mean must be a number above 1"),
        ("gamma:2,inf", "is not gamma:MEAN,SD"),
        ("gamma:nan,1", "is not gamma:MEAN,SD"),
        ("gamma:٢,1", "is not gamma:MEAN,SD: give two numbers in ASCII digits"),
        ("gamma:2_0,1", "is not gamma:MEAN,SD"),
    ],
)
def test_a_bad_gamma_serial_interval_is_one_sentence(capsys, spec, words):
    curve = str(data_file("incidence-Measles1861.csv"))
    assert main(["rt", curve, "--serial-interval", spec]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0], err


@pytest.mark.parametrize("spec", ["gamma:٣,1", "gamma:3,١", "gamma:3_0,1"])
def test_a_gamma_delay_in_other_digits_is_refused(spec):
    from sim.engine.requests.fit import gamma_parts

    with pytest.raises(BadParameterError, match="must be a number above 0"):
        gamma_parts(spec)


@pytest.mark.parametrize(
    "prior", [("1e308", "1e-308"), ("1e-308", "1e308"), ("5", "5e-324")], ids=["shape", "scale", "subnormal-sd"]
)
def test_a_prior_beyond_a_float_is_one_sentence(capsys, prior):
    """``--prior-mean 1e308 --prior-sd 1e-308`` ended in ZeroDivisionError, ``1e-308, 1e308`` in OverflowError."""
    curve = str(data_file("incidence-Measles1861.csv"))
    argv = ["rt", curve, "--serial-interval", "gamma:2,1", "--prior-mean", prior[0], "--prior-sd", prior[1]]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "R's Gamma prior of mean" in err[0] and "nearer each other" in err[0], err


def test_a_count_beyond_any_outbreak_is_one_sentence_not_numpy_s_overflow(tmp_path, capsys):
    """Counts of 1e308 summed to inf: numpy's RuntimeWarnings printed raw, and R's table said ``inf cases``."""
    from sim.analysis.rtcurve import rt

    path = tmp_path / "huge.csv"
    path.write_text("day,cases\n" + "".join(f"{d},{'1e308' if d < 3 else 1}\n" for d in range(10)))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert main(["rt", str(path), "--serial-interval", "gamma:2,1"]) == 2
        with pytest.raises(BadParameterError, match="negative, above 1e\\+15 or not a number"):
            rt([1e308, 1e308, 1, 1, 1, 1, 1, 1, 1], "gamma:2,1")
    assert "line 2: the count cases is above 1e+15" in capsys.readouterr().err


def test_a_gamma_delay_of_no_spread_is_its_mean_and_one_too_wide_is_refused():
    from sim.runs.fit.reporting import gamma_delay

    assert gamma_delay(3.0, 1e-300).pmf.tolist() == [0.0, 0.0, 0.0, 1.0]
    with pytest.raises(BadParameterError, match="too large beside its mean"):
        gamma_delay(1e-300, 1.0)


def test_a_long_curve_s_json_takes_each_window_s_mean_and_sd_once(monkeypatch):
    """``to_dict`` took the mean and sd arrays of every window once per window: a 330,000-tick series took 160 s."""
    from sim.analysis.rt import RtEstimate
    from sim.analysis.rtcurve import rt

    est = rt(np.ones(2000), "gamma:2.6,1.5")
    calls = {"mean": 0, "sd": 0}
    for name in calls:
        plain = getattr(RtEstimate, name)

        def counted(self, plain=plain, name=name):
            calls[name] += 1
            return plain.fget(self)

        monkeypatch.setattr(RtEstimate, name, property(counted))
    assert len(est.to_dict()["windows"]) == 1993
    assert calls["mean"] <= 2 and calls["sd"] <= 2, calls


# --- no raw RuntimeWarning from agora fit ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def spread(tmp_path_factory) -> Path:
    """A 300-agent world and the adoption times of an ic run on it (``times.csv``)."""
    folder = tmp_path_factory.mktemp("spread")
    world = str(folder / "w.db")
    assert main(["new", world, "--agents", "300", "--avg-degree", "8", "--seed", "5"]) == 0
    cascades = folder / "c.csv"
    argv = ["run", world, "--inject", "x", "--model", "ic", "--param", "p=0.3", "--seeds", "random:3"]
    assert main([*argv, "--steps", "20", "--runs", "1", "--seed", "7", "--cascades", str(cascades)]) == 0
    with open(cascades, newline="") as fh:
        rows = list(csv.DictReader(fh))
    (folder / "times.csv").write_text("id,tick\n" + "".join(f"{r['agent']},{r['tick']}\n" for r in rows))
    return folder


@pytest.mark.parametrize(
    "params",
    [
        ["--model", "ic", "--param", "p=5e-324..0.5"],  # the likelihood's slope at a subnormal p overflowed
        ["--model", "ic", "--param", "p=1e-320..0.5:log"],
    ],
)
def test_fit_prints_no_runtime_warning(spread, capsys, params):
    argv = ["fit", str(spread / "w.db"), "--observed", str(spread / "times.csv"), *params, "--workers", "1"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert main([*argv, "--plot", str(spread / "f.png"), "--force"]) == 0
    assert "Warning" not in capsys.readouterr().err


def test_the_figure_of_a_prior_narrower_than_floats_draws(spread, capsys):
    """A prior of 5e-324..1e-323 (a linear one) left no 40 bins a float tells apart: numpy's ValueError; the log
    axis's ratio of 0.3 to 5e-324 overflowed numpy's division (a RuntimeWarning)."""
    for prior in ("p=5e-324..1e-323", "p=5e-324..0.3:log"):
        argv = ["fit", str(spread / "w.db"), "--observed", str(spread / "times.csv"), "--model", "ic"]
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            abc = ["--method", "abc", "--budget", "200", "--population", "50", "--seeds", "random:3", "--workers", "1"]
            assert main([*argv, "--param", prior, *abc, "--plot", str(spread / "g.png"), "--force"]) == 0
        assert "Warning" not in capsys.readouterr().err and (spread / "g.png").stat().st_size > 0


# --- dates and digits ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cell", ["0000-01-01", "0000-12-31T10:00:00", "0000-02-29 00:00"], ids=["date", "stamp", "stamp-space"]
)
def test_year_zero_is_no_date(tmp_path, cell):
    path = tmp_path / "y.csv"
    path.write_text(f"date,cases\n2020-01-01,1\n{cell},1\n")
    with pytest.raises(BadFileError, match="line 3: the time column date holds a date of year 0, which does not"):
        read_incidence(path)


def test_year_zero_in_a_parquet_date_column_is_refused(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "y.parquet"
    days = np.array(["2020-01-01", "0000-06-01"], dtype="datetime64[D]")
    pq.write_table(pa.table({"date": pa.array(days, type=pa.date32()), "cases": [1, 2]}), path)
    with pytest.raises(BadFileError, match="row 2: the time column date holds a date outside the years 1 to 9999"):
        read_incidence(path)


def test_year_zero_through_agora_rt_is_one_sentence(tmp_path):
    path = tmp_path / "y.csv"
    path.write_text("date,cases\n0000-01-01,1\n0000-01-02,2\n")
    proc = run_cli(["rt", str(path), "--serial-interval", "gamma:2,1"], cwd=None, env=os.environ)
    assert proc.returncode == 2 and "year 0" in one_sentence(proc.stderr)


@pytest.mark.parametrize("digit", ["١", "३", "３"])
def test_digits_of_other_scripts_are_no_numbers(tmp_path, capsys, digit):
    curve = str(data_file("incidence-Measles1861.csv"))
    assert main(["rt", curve, "--serial-interval", "gamma:2,1", "--tick", f"{digit}d"]) == 2
    assert "is not a duration" in capsys.readouterr().err
    cases = [
        (f"day,cases\n0,1\n{digit},2\n", "line 3: the time column day is not a time"),
        (f"day,cases\n0,1\n1,{digit}\n", "line 3: the count cases is not a number"),
        ("day,cases\n0,1\n1,1_0\n", "line 3: the count cases is not a number"),
        (f"date,cases\n2020-01-01,1\n2020-01-0{digit},1\n", "line 3: the time column date is not a time"),
    ]
    for text, words in cases:
        path = tmp_path / "d.csv"
        path.write_text(text)
        with pytest.raises(BadFileError, match=words):
            read_incidence(path, columns=["cases"])
    si = tmp_path / "si.csv"
    si.write_text(f"day,probability\n0,0\n{digit},1\n")
    assert main(["rt", curve, "--serial-interval", str(si)]) == 2
    assert "line 3 is not two numbers day,probability (in ASCII digits)" in capsys.readouterr().err


@pytest.mark.parametrize("digit", ["١", "３"])
def test_digits_of_other_scripts_in_agora_s_own_layouts(tmp_path, digit):
    from sim.runs.fit.reporting import read_delay
    from sim.store.observed import read_observed
    from sim.store.seriesio import read_series

    wide = tmp_path / "w.csv"
    wide.write_text(f"tick,new\n0,1\n1,{digit}\n")
    with pytest.raises(BadFileError, match="line 3: new is not a number in ASCII digits"):
        read_observed(wide)
    sizes = tmp_path / "s.csv"
    sizes.write_text(f"size\n3\n{digit}\n")
    with pytest.raises(BadFileError, match="line 3: size is not a whole number in ASCII digits"):
        read_observed(sizes)
    series = tmp_path / "r.csv"
    series.write_text(f"run,tick,measure,value\n0,0,new,1\n0,{digit},new,2\n")
    with pytest.raises(BadFileError, match="line 3: tick is not a whole number"):
        read_series(str(series))
    delay = tmp_path / "d.csv"
    delay.write_text(f"day,probability\n0,0.5\n{digit},0.5\n")
    with pytest.raises(BadFileError, match="line 3: the day is not a whole number"):
        read_delay(str(delay))


# --- no byte of a file in an error ------------------------------------------------------------------------------

SECRET_FILES = {
    "header": f"{MARKER}\n",
    "header-cells": f"date,{MARKER}\n2020-01-01,1\n",
    "time-cell": f"date,cases\n2020-01-01,1\n{MARKER},2\n",
    "count-cell": f"date,cases\n2020-01-01,1\n2020-01-02,{MARKER}\n",
    "quoted": f'date,cases\n"2020-01-01","1"\n"{MARKER}","2"\n',
    "ragged": f"date,cases\n2020-01-01,1,{MARKER}\n",
    "stray-quote": f'date,cases\n2020-01-01,1\n2020-01-02,"{MARKER}\n',
    "layout": f"tick,new\n0,1\n1,{MARKER}\n",
    "series": f"run,tick,measure,value\n0,0,new,1\n0,1,new,{MARKER}\n",
    "id": f"id,date\n{MARKER},2020-01-01\n{MARKER},2020-01-02\n",
}


@pytest.mark.parametrize("name", sorted(SECRET_FILES))
def test_no_reader_prints_a_byte_of_a_linked_file(tmp_path, capsys, name):
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET_FILES[name])
    link = tmp_path / "curve.csv"
    link.symlink_to(secret)
    gz = tmp_path / "curve.csv.gz"
    gz.write_bytes(gzip.compress(SECRET_FILES[name].encode()))
    assert main(["new", str(tmp_path / "w.db"), "--agents", "50", "--seed", "1"]) == 0
    capsys.readouterr()
    commands = [
        ["rt", str(link), "--serial-interval", "gamma:2,1"],
        ["rt", str(gz), "--serial-interval", "gamma:2,1"],
        ["rt", str(data_file("incidence-Measles1861.csv")), "--serial-interval", str(link)],
        ["fit", str(tmp_path / "w.db"), "--observed", str(link), "--param", "p=0.01..0.5", "--budget", "50"],
        ["fit", str(tmp_path / "w.db"), "--observed", str(link), "--tick", "1d", "--param", "p=0.01..0.5"],
        [
            "fit",
            str(tmp_path / "w.db"),
            "--model",
            "sir",
            "--observed",
            str(data_file("incidence-Measles1861.csv")),
            "--time",
            "day",
            "--tick",
            "1d",
            "--param",
            "beta=0.01..0.5",
            "--delay",
            str(link),
        ],  # fmt: skip
    ]
    for argv in commands:
        rc = main(argv)
        err = capsys.readouterr().err
        assert MARKER not in err and "sekrit" not in err, (argv, err)
        if rc != 0:
            assert rc == 2 and len(err.strip().splitlines()) == 1, (argv, err)
