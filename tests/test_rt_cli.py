"""``agora rt``: the command line as a user runs it (real subprocesses) on the seven real curves, a run's own
series, the figure, and bad input (one sentence, exit code 2)."""

from __future__ import annotations

import json

import pytest
from conftest import agora, data_file, one_sentence

#: Each curve, its serial interval (five files, two gammas: see docs/rt.md), and what the text and JSON hold:
#: the number of windows, the first window's last day and its mean R to 2 decimals, and the day R's 95 %
#: interval first lies below 1.
SEVEN = {
    "Flu1918": ("serial-interval-Flu1918.csv", 85, "7", "1.41", "42"),
    "Flu2009": ("serial-interval-Flu2009.csv", 25, "2009-05-04", "1.74", "2009-05-18"),
    "Measles1861": ("serial-interval-Measles1861.csv", 34, "14", "8.17", "42"),
    "SARS2003": ("serial-interval-SARS2003.csv", 99, "8", "5.76", "47"),
    "Smallpox1972": ("serial-interval-Smallpox1972.csv", 35, "22", "12.78", "52"),
    "flu_2009_NYC_school": ("gamma:2.6,1.5", 7, "2009-04-25", "1.95", "2009-04-29"),
    "mers_2014_15": ("gamma:6.8,4.1", 488, "2014-08-18", "1.41", "2014-11-06"),
}


def si_arg(spec: str) -> str:
    return spec if spec.startswith("gamma:") else str(data_file(spec))


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SEVEN))
def test_agora_rt_on_each_real_curve(tmp_path, name):
    si, windows, first_day, first_mean, below = SEVEN[name]
    curve = str(data_file(f"incidence-{name}.csv"))
    out = agora(tmp_path, "rt", curve, "--serial-interval", si_arg(si), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert len(data["windows"]) == windows and data["window"] == 7
    first = data["windows"][0]
    assert first["day"] == first_day and f"{first['mean']:.2f}" == first_mean
    assert data["below_one_from"] == below
    assert all(w["q025"] <= w["median"] <= w["q975"] for w in data["windows"])
    text = agora(tmp_path, "rt", curve, "--serial-interval", si_arg(si))
    assert text.returncode == 0, text.stderr
    row = next(line for line in text.stdout.splitlines() if line.startswith(first_day + " "))
    assert row.split()[2] == first_mean  # day, cases, mean R, ...
    assert f"first lies wholly below 1 in the window ending {below}" in text.stdout


def test_flu2009_text_matches_epiestims_example_1(tmp_path):
    si = str(data_file("serial-interval-Flu2009.csv"))
    out = agora(tmp_path, "rt", str(data_file("incidence-Flu2009.csv")), "--serial-interval", si)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "curve            incidence-Flu2009.csv: 32 days (2009-04-27 to 2009-05-28), 129 cases (cases)"
    assert (
        lines[1] == "time             time column date: ISO dates; 32 rows, a day apart: each counts a day; ticks of 1d"
    )
    assert lines[2] == "serial interval  serial-interval-Flu2009.csv: mean 2.60 days, sd 1.53"
    assert lines[3] == "prior on R       Gamma, mean 5, sd 5"
    # EpiEstim: Mean(R) 1.7356089, Std(R) 0.40908694, Median 1.7035760, 95 % 1.02863184 .. 2.6244959
    assert "2009-05-04      17     1.74   0.41     1.70   1.03 .. 2.62" in lines
    assert "2009-05-28       4     1.00   0.45     0.94   0.33 .. 2.06" in lines


@pytest.mark.slow
def test_imported_cases_and_a_longer_window_and_prior(tmp_path):
    curve = str(data_file("incidence-mers_2014_15.csv"))
    out = agora(
        tmp_path, "rt", curve, "--serial-interval", "gamma:6.8,4.1", "--window", "57", "--prior-mean", "2", "--json"
    )
    data = json.loads(out.stdout)
    assert data["imported_column"] == "imported" and data["imported_cases"] == 64 and data["local_cases"] == 459
    assert len(data["windows"]) == 495 - 57
    assert data["prior"] == {"mean": 2.0, "sd": 5.0, "shape": pytest.approx(0.16), "scale": 12.5}
    text = agora(tmp_path, "rt", curve, "--serial-interval", "gamma:6.8,4.1")
    assert "459 cases (local), 64 imported (imported)" in text.stdout.splitlines()[0]


@pytest.mark.slow
def test_plot_writes_a_png_and_needs_force_to_replace_it(tmp_path):
    curve = str(data_file("incidence-mers_2014_15.csv"))
    fig = tmp_path / "rt.png"
    out = agora(tmp_path, "rt", curve, "--serial-interval", "gamma:6.8,4.1", "--plot", str(fig))
    assert out.returncode == 0, out.stderr
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and fig.stat().st_size > 20_000
    assert f"figure: {fig}" in out.stdout
    again = agora(tmp_path, "rt", curve, "--serial-interval", "gamma:6.8,4.1", "--plot", str(fig))
    assert "--force" in one_sentence(again)
    forced = agora(tmp_path, "rt", curve, "--serial-interval", "gamma:6.8,4.1", "--plot", str(fig), "--force")
    assert forced.returncode == 0, forced.stderr


@pytest.mark.parametrize(
    ("curve", "si", "more", "said"),
    [
        ("curve.csv", "si-short.csv", (), "sums to 0.9, not 1"),
        ("curve.csv", "si-day0.csv", (), "gives day 0 a probability of 0.2"),
        ("negative.csv", "gamma:2.6,1.5", (), "line 4"),
        ("curve.csv", "gamma:2.6,1.5", ("--window", "10"), "--window of 10 ticks is longer than the curve allows"),
        ("curve.csv", "gamma:2.6,0", (), "standard deviation must be a number above 0"),
        ("curve.csv", "gamma:1,1.5", (), "mean must be a number above 1"),
        ("curve.csv", "gamma:2.6", (), "is not gamma:MEAN,SD"),
        ("edges.txt", "gamma:2.6,1.5", (), "unknown extension"),
        ("words.csv", "gamma:2.6,1.5", (), "words.csv"),
        ("curve.csv", "words.csv", (), "line 2 is not two numbers day,probability"),
        ("curve.csv", "missing.csv", (), "does not exist"),
    ],
)
def test_bad_input_is_one_sentence_and_exit_2(tmp_path, curve, si, more, said):
    (tmp_path / "curve.csv").write_text("day,cases\n" + "".join(f"{d},{d + 1}\n" for d in range(10)))
    (tmp_path / "negative.csv").write_text("day,cases\n0,1\n1,2\n2,-3\n3,4\n")
    (tmp_path / "edges.txt").write_text("0 1\n1 2\n")
    (tmp_path / "words.csv").write_text("name,colour\nann,red\nbob,blue\n")
    (tmp_path / "si-short.csv").write_text("day,probability\n0,0\n1,0.5\n2,0.4\n")
    (tmp_path / "si-day0.csv").write_text("day,probability\n0,0.2\n1,0.8\n")
    out = agora(tmp_path, "rt", curve, "--serial-interval", si, *more)
    assert said in one_sentence(out)


def test_a_window_below_1_is_refused_by_the_parser(tmp_path):
    (tmp_path / "curve.csv").write_text("day,cases\n0,1\n1,2\n2,3\n")
    out = agora(tmp_path, "rt", "curve.csv", "--serial-interval", "gamma:2.6,1.5", "--window", "0")
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip().splitlines() == [
        "agora rt: error: argument --window: '0' must be at least 1 (see 'agora rt --help')"
    ]


@pytest.mark.slow
def test_a_runs_own_series(tmp_path):
    """agora run --series writes run,tick,measure,value; agora rt reads its new cases (one run), or another measure."""
    assert agora(tmp_path, "new", "w.db", "--agents", "2000", "--seed", "1").returncode == 0
    run = agora(
        tmp_path,
        *("run", "w.db", "--inject", "x", "--model", "sir", "--param", "beta=0.05", "--param", "gamma=0.2"),
        *("--seeds", "random:5", "--until-done", "--series", "s.csv"),
    )
    assert run.returncode == 0, run.stderr
    out = agora(tmp_path, "rt", "s.csv", "--serial-interval", "gamma:5,3", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["cases_column"] == "new" and data["tick_seconds"] is None and data["first"] == "0"
    first = data["windows"][0]
    assert first["q025"] > 1 and data["below_one_from"] is not None  # an SIR epidemic that grew, then waned
    text = agora(tmp_path, "rt", "s.csv", "--serial-interval", "gamma:5,3", "--measure", "nope")
    assert "--cases names no measure of series file s.csv: 'nope' is not among" in one_sentence(text)
    sweep = agora(
        tmp_path,
        *("sweep", "w.db", "--inject", "x", "--model", "sir", "--grid", "beta=0.04,0.05", "--param", "gamma=0.2"),
        *("--seeds", "random:5", "--runs", "2", "--until-done", "--series", "sw.csv"),
    )
    assert sweep.returncode == 0, sweep.stderr
    assert "2 combinations of a sweep" in one_sentence(
        agora(tmp_path, "rt", "sw.csv", "--serial-interval", "gamma:5,3")
    )
