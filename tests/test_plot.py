"""Figures of series (sim.plot, ``agora plot``): the numbers behind each curve (padding of ended runs, the mean,
the clipped 95 % band), the files written (PNG, SVG, PDF), the legend's labels, and the command's refusals.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from conftest import agora

from sim.analysis.plot import aggregate, bounds, plot_files, plot_tables, run_matrix
from sim.errors import BadFileError, BadParameterError
from sim.store.seriesio import table_from_records, write_series

ROOT = Path(__file__).resolve().parents[1]
T95_DF2 = 4.303  # Student's t, two-sided 95 %, 2 degrees of freedom (three runs)
N = 100


def sir_run(run: int, infected: list[int], recovered: list[int], keys: dict | None = None) -> dict:
    """A run of N agents with the given I and R per tick (S the rest; reached = I + R; new = its increase)."""
    s = [N - i - r for i, r in zip(infected, recovered)]
    reached = [i + r for i, r in zip(infected, recovered)]
    new = [reached[0]] + [b - a for a, b in zip(reached, reached[1:])]
    return {
        "keys": keys or {},
        "run": run,
        "series": {
            "tick": list(range(len(infected))),
            "S": s,
            "I": infected,
            "R": recovered,
            "reached": reached,
            "new": new,
        },
    }


def three_runs(keys: dict | None = None) -> list[dict]:
    return [
        sir_run(0, [2, 6, 3], [0, 1, 5], keys),  # ends after tick 2
        sir_run(1, [2, 4], [0, 2], keys),  # ends after tick 1
        sir_run(2, [2, 8, 10, 4], [0, 2, 6, 14], keys),  # the longest: ticks 0..3
    ]


def test_runs_that_ended_are_padded():
    table = table_from_records(three_runs())
    assert run_matrix(table, (), "I").tolist() == [[2, 6, 3, 3], [2, 4, 4, 4], [2, 8, 10, 4]]
    assert run_matrix(table, (), "reached").tolist() == [[2, 7, 8, 8], [2, 6, 6, 6], [2, 10, 16, 18]]
    # new: what was newly reached; nothing more after the end of a run.
    assert run_matrix(table, (), "new").tolist() == [[2, 5, 1, 0], [2, 4, 0, 0], [2, 8, 6, 2]]
    assert run_matrix(table, (), "S").tolist() == [[98, 93, 92, 92], [98, 94, 94, 94], [98, 90, 84, 82]]


def test_mean_and_band_are_the_t_interval():
    table = table_from_records(three_runs())
    ticks, mean, low, high = aggregate(table, (), "I")
    assert ticks.tolist() == [0, 1, 2, 3]
    columns = [[2, 2, 2], [6, 4, 8], [3, 4, 10], [3, 4, 4]]
    for t, values in enumerate(columns):
        m = sum(values) / 3
        sd = math.sqrt(sum((v - m) ** 2 for v in values) / 2)
        half = T95_DF2 * sd / math.sqrt(3)
        assert mean[t] == pytest.approx(m, abs=1e-12)
        assert low[t] == pytest.approx(max(0.0, m - half), abs=1e-12)
        assert high[t] == pytest.approx(min(N, m + half), abs=1e-12)
    # Tick 0: every run seeds 2: no spread, a band of zero width.
    assert low[0] == high[0] == mean[0] == 2
    # Tick 2: mean 17/3, the t-interval reaches below 0 and is clipped there.
    assert 17 / 3 - T95_DF2 * np.std([3, 4, 10], ddof=1) / math.sqrt(3) < 0 and low[2] == 0.0


def test_band_is_clipped_to_the_number_of_agents():
    runs = [sir_run(r, [1, i], [0, 0]) for r, i in enumerate([100, 100, 70])]
    table = table_from_records(runs)
    assert bounds(table, (), "I") == (0.0, float(N))
    _, mean, low, high = aggregate(table, (), "I")
    assert mean[1] == 90 and high[1] == N  # the t-interval 90 ± 43.0 would claim more agents than exist
    assert low[1] == pytest.approx(90 - T95_DF2 * np.std([100, 100, 70], ddof=1) / math.sqrt(3))


def test_one_run_has_a_zero_width_band():
    table = table_from_records(three_runs()[:1])
    ticks, mean, low, high = aggregate(table, (), "R")
    assert ticks.tolist() == [0, 1, 2]
    assert mean.tolist() == low.tolist() == high.tolist() == [0, 1, 5]


def test_variables_are_not_clipped_and_bounds_need_states():
    recs = [
        {"keys": {}, "run": r, "series": {"tick": [0, 1], "reached": [1, 2], "new": [1, 1], "x.mean": [0.0, v]}}
        for r, v in enumerate([-1.0, 0.5, 2.0])
    ]
    table = table_from_records(recs)
    assert bounds(table, (), "x.mean") == (None, None)
    assert bounds(table, (), "reached") == (0.0, None)  # no state measures: no known N
    _, mean, low, high = aggregate(table, (), "x.mean")
    half = T95_DF2 * np.std([-1.0, 0.5, 2.0], ddof=1) / math.sqrt(3)
    assert mean[1] == pytest.approx(0.5) and low[1] == pytest.approx(0.5 - half) and low[1] < 0
    assert high[1] == pytest.approx(0.5 + half)


def test_n_comes_from_the_first_run_of_each_combination():
    recs = three_runs({"p": 0.1}) + [
        {
            "keys": {"p": 0.2},
            "run": 0,
            "series": {"tick": [0], "S": [40], "I": [10], "R": [0], "reached": [10], "new": [10]},
        }
    ]
    table = table_from_records(recs, ["p"])
    assert bounds(table, (0.1,), "I") == (0.0, 100.0)
    assert bounds(table, (0.2,), "reached") == (0.0, 50.0)
    with pytest.raises(BadParameterError, match="p=0.3"):
        aggregate(table, (0.3,), "I")


@pytest.mark.parametrize(
    "ticks,words", [([0, 2], "has no tick 1"), ([0, 1, 1], "has tick 1 twice"), ([1, 2], "has no tick 0")]
)
def test_ticks_must_be_consecutive(tmp_path, ticks, words):
    path = tmp_path / "gaps.csv"
    path.write_text("p,run,tick,measure,value\n" + "".join(f"0.5,3,{t},I,1\n" for t in ticks))
    with pytest.raises(BadFileError) as err:
        plot_files([str(path)], str(tmp_path / "out.png"))
    assert words in str(err.value) and str(path) in str(err.value) and "run 3 of p=0.5" in str(err.value)
    assert not (tmp_path / "out.png").exists()


def sweep_file(tmp_path: Path, name: str = "sweep.csv") -> str:
    path = str(tmp_path / name)
    write_series(path, three_runs({"p": 0.1}) + three_runs({"p": 0.2})[:2], ["p"])
    return path


def svg_text(path: str) -> str:
    root = ET.parse(path).getroot()  # parses as XML
    return " ".join(t for t in root.itertext())


def test_png_svg_pdf_are_written(tmp_path):
    src = sweep_file(tmp_path)
    png = plot_files([src], str(tmp_path / "f.png"), measures=["I"])
    assert Path(png["output"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png["format"] == "png" and png["output"] == str(tmp_path / "f.png")

    svg = plot_files([src], str(tmp_path / "f.svg"), measures=["I", "R"], title="SIR $ sweep")
    text = svg_text(svg["output"])
    for words in ("tick", "agents", "SIR $ sweep", "p=0.1: I", "p=0.2: R"):
        assert words in text
    pdf = plot_files([src], str(tmp_path / "f.PDF"))
    assert Path(pdf["output"]).read_bytes()[:5] == b"%PDF-"
    assert sorted(os.listdir(tmp_path)) == ["f.PDF", "f.png", "f.svg", "sweep.csv"]  # no temporary file left


def test_figures_are_reproducible(tmp_path):
    src = sweep_file(tmp_path)
    plot_files([src], str(tmp_path / "a.svg"))
    plot_files([src], str(tmp_path / "b.svg"))
    assert (tmp_path / "a.svg").read_bytes() == (tmp_path / "b.svg").read_bytes()


def test_result_and_labels_for_a_sweep(tmp_path):
    src = sweep_file(tmp_path)
    result = plot_files([src], str(tmp_path / "f.png"), measures=["I", "reached"])
    assert result["labels"] == ["p=0.1: I", "p=0.1: reached", "p=0.2: I", "p=0.2: reached"]
    assert result["lines"] == 4 and result["measures"] == ["I", "reached"]
    assert result["combinations"] == 2 and result["runs"] == 5 and result["files"] == [src]
    everything = plot_files([src], str(tmp_path / "g.png"))
    assert everything["measures"] == ["S", "I", "R", "reached", "new"] and everything["lines"] == 10


def test_labels_for_two_overlaid_files(tmp_path):
    a, b = str(tmp_path / "ic.csv"), str(tmp_path / "sir.csv")
    write_series(a, three_runs())
    write_series(b, three_runs()[:2])
    result = plot_files([a, b], str(tmp_path / "both.svg"), measures=["I"])
    assert result["labels"] == ["ic.csv: I", "sir.csv: I"] and result["runs"] == 5 and result["combinations"] == 2
    assert "ic.csv + sir.csv" in svg_text(result["output"])  # the default title names the files
    sweep = sweep_file(tmp_path)
    result = plot_files([a, sweep], str(tmp_path / "mixed.png"), measures=["I"])
    assert result["labels"] == ["ic.csv: I", "sweep.csv, p=0.1: I", "sweep.csv, p=0.2: I"]


def test_same_file_names_are_told_apart_by_path(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    a, b = str(tmp_path / "x" / "s.csv"), str(tmp_path / "y" / "s.csv")
    write_series(a, three_runs())
    write_series(b, three_runs())
    result = plot_files([a, b], str(tmp_path / "f.png"), measures=["new"])
    assert result["labels"] == ["x/s.csv: new", "y/s.csv: new"]


def test_a_measure_only_some_files_have(tmp_path):
    a, b = str(tmp_path / "a.csv"), str(tmp_path / "b.csv")
    write_series(a, three_runs())
    write_series(b, [{"keys": {}, "run": 0, "series": {"tick": [0, 1], "adopted": [1, 3]}}])
    result = plot_files([a, b], str(tmp_path / "f.png"), measures=["adopted", "I"])
    assert result["labels"] == ["a.csv: I", "b.csv: adopted"]


def test_unknown_measure_names_the_available_ones(tmp_path):
    src = sweep_file(tmp_path)
    with pytest.raises(BadParameterError) as err:
        plot_files([src], str(tmp_path / "f.png"), measures=["I", "Q"])
    assert "'Q'" in str(err.value) and "S, I, R, reached, new" in str(err.value)
    assert not (tmp_path / "f.png").exists()


def test_y_axis_is_value_for_variables_only(tmp_path):
    recs = [{"keys": {}, "run": 0, "series": {"tick": [0, 1], "I": [1, 2], "x.mean": [0.5, 0.25]}}]
    table = table_from_records(recs)
    plot_tables([("t", table)], str(tmp_path / "v.svg"), measures=["x.mean"], title="T")
    text = svg_text(str(tmp_path / "v.svg"))
    assert "value" in text and "agents" not in text
    plot_tables([("t", table)], str(tmp_path / "a.svg"), title="T")
    assert "agents" in svg_text(str(tmp_path / "a.svg"))


def test_labels_are_shown_literally(tmp_path):
    """A measure named like a hidden matplotlib label or holding mathtext still shows as written."""
    recs = [{"keys": {}, "run": 0, "series": {"tick": [0, 1], "_hidden": [1, 2], "$x$": [3, 4]}}]
    table = table_from_records(recs)
    result = plot_tables([("t", table)], str(tmp_path / "l.svg"))
    assert result["labels"] == ["_hidden", "$x$"]
    text = svg_text(result["output"])
    assert "_hidden" in text and "$x$" in text


def test_many_lines_get_a_legend_beside_the_axes(tmp_path):
    recs = [sir_run(0, [1, i], [0, 1], {"k": i}) for i in range(1, 9)]
    table = table_from_records(recs, ["k"])
    result = plot_tables([("many.csv", table)], str(tmp_path / "m.png"), measures=["I", "R"])
    assert result["lines"] == 16 and len(set(result["labels"])) == 16
    assert Path(result["output"]).stat().st_size > 10_000


def test_bad_output_and_empty_input(tmp_path):
    table = table_from_records(three_runs())
    with pytest.raises(BadParameterError, match=r"\.png, \.svg or \.pdf"):
        plot_tables([("t", table)], str(tmp_path / "f.jpg"))
    with pytest.raises(BadFileError, match="holds no rows"):
        plot_tables([("t", table_from_records([]))], str(tmp_path / "f.png"))
    with pytest.raises(BadFileError, match="cannot write figure"):
        plot_tables([("t", table)], str(tmp_path / "missing" / "f.png"))
    assert os.listdir(tmp_path) == []


def test_matplotlib_is_imported_only_to_draw():
    code = (
        "import sys, sim, sim.analysis.plot, sim.store.seriesio, sim.cli.plot, sim.cli.main; "
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


# --- the command -----------------------------------------------------------------------------------------


def refused(proc: subprocess.CompletedProcess, *words: str) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def test_cli_plot_plain_and_json(tmp_path):
    sweep_file(tmp_path)
    proc = agora(tmp_path, "plot", "sweep.csv", "-o", "out.png", "--measure", "I", "--measure", "reached")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"wrote {tmp_path / 'out.png'} (4 lines: measures I, reached from 1 file)\n"
    proc = agora(tmp_path, "plot", "sweep.csv", "-o", "out.svg", "--json", "--title", "t")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert data["output"] == str(tmp_path / "out.svg") and data["format"] == "svg" and data["lines"] == 10
    assert data["files"] == ["sweep.csv"] and data["combinations"] == 2 and data["runs"] == 5
    assert data["labels"][0] == "p=0.1: S"


def test_cli_refusals(tmp_path):
    sweep_file(tmp_path)
    refused(agora(tmp_path, "plot", "sweep.csv", "-o", "out.png", "--measure", "Q"), "'Q'", "S, I, R, reached, new")
    (tmp_path / "out.png").write_bytes(b"mine")
    refused(agora(tmp_path, "plot", "sweep.csv", "-o", "out.png"), "already exists", "--force")
    assert (tmp_path / "out.png").read_bytes() == b"mine"
    # Both output checks come before the inputs are read (a missing input is not what is reported).
    refused(agora(tmp_path, "plot", "missing.csv", "-o", "out.png"), "already exists")
    refused(agora(tmp_path, "plot", "missing.csv", "-o", "out.jpg"), "out.jpg", ".png, .svg or .pdf")
    refused(agora(tmp_path, "plot", "sweep.csv"), "-o/--output")
    assert agora(tmp_path, "plot", "sweep.csv", "-o", "out.png", "--force").returncode == 0
    assert (tmp_path / "out.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_help_has_the_example():
    proc = agora(ROOT, "plot", "--help")
    assert proc.returncode == 0
    assert "--series sir.csv && agora plot sir.csv -o sir.png --measure I" in proc.stdout


def test_figure_gets_the_usual_rights(tmp_path):
    (tmp_path / "plain").write_text("x")
    result = plot_tables([("t", table_from_records(three_runs()))], str(tmp_path / "f.svg"))
    assert Path(result["output"]).stat().st_mode == (tmp_path / "plain").stat().st_mode
