"""Observation files for ``agora fit`` (``sim.store.observed.read_observed``).

1. **Round trips.** Each layout is read back from files the real ``agora run`` writes (``--series``,
   ``--cascades``, ``.csv``, ``.csv.gz``, ``.parquet``) or made from them (sizes, adoption times, a wide
   series), and equals what the same runs report in their JSON: the series tick by tick, each cascade's size,
   depth, structural virality and roots to the last bit.
2. **Bad input** is one sentence naming the file and what to do (the line, for a bad row), a
   ``BadFileError`` for a malformed file and a ``BadParameterError`` for content the world contradicts.
"""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import numpy as np
import pytest
from conftest import agora

from sim.errors import BadFileError, BadParameterError
from sim.lab.agents import load_world
from sim.store import observed
from sim.store.observed import ObservedCascades, ObservedSeries, ObservedTimes, read_observed


def _id(i: int) -> int:
    """Original ids far from 0..n-1 and not contiguous."""
    return 9000 + 3 * i


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """A world of 200 agents imported from an edge list of ids 9000, 9003, ..."""
    folder = tmp_path_factory.mktemp("fit_observed")
    rng = random.Random(5)
    lines = [f"{_id(i)} {_id(j)}" for i in range(200) for j in rng.sample(range(200), 5) if i != j]
    (folder / "edges.txt").write_text("\n".join(lines) + "\n")
    out = agora(folder, "new", "w.db", "--edges", "edges.txt", "--seed", "1", "--json")
    assert out.returncode == 0, out.stderr
    return folder / "w.db"


@pytest.fixture(scope="module")
def runs(world) -> tuple[dict, Path]:
    """Five ic runs of the world with their --series (.csv.gz) and --cascades (.csv and .parquet) files."""
    folder = world.parent
    out = agora(
        folder, "run", str(world), "--inject", "x", "--model", "ic", "--param", "p=0.12", "--seeds", "random:3",
        "--runs", "5", "--until-done", "--workers", "1", "--series", "s5.csv.gz", "--cascades", "c5.csv", "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    out = agora(
        folder, "run", str(world), "--inject", "x", "--model", "ic", "--param", "p=0.12", "--seeds", "random:3",
        "--runs", "5", "--until-done", "--workers", "1", "--cascades", "c5.parquet",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return report, folder


@pytest.fixture(scope="module")
def one_run(world) -> tuple[dict, Path]:
    """One ic run with its --series in all three containers and its --cascades file."""
    folder = world.parent
    report = None
    for name in ("s1.csv", "s1.csv.gz", "s1.parquet"):
        out = agora(
            folder, "run", str(world), "--inject", "x", "--model", "ic", "--param", "p=0.15", "--seeds", "random:4",
            "--runs", "1", "--until-done", "--workers", "1", "--series", name, "--cascades", "c1.csv", "--force",
            "--json",
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        got = json.loads(out.stdout)["runs"][0]
        same = ("series", "cascade", "reached")
        assert report is None or all(got[k] == report[k] for k in same)  # the same run each time
        report = got
    assert report is not None and report["cascade"]["size"] > 4  # it spread
    return report, folder


# -- round trips --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["s1.csv", "s1.csv.gz", "s1.parquet"])
def test_a_runs_long_series_is_its_json_series(one_run, name):
    report, folder = one_run
    got = read_observed(str(folder / name))
    assert isinstance(got, ObservedSeries) and got.kind == "series"
    series = report["series"]
    assert got.ticks.dtype == np.int64 and got.ticks.tolist() == series["tick"]
    assert list(got.columns) == [
        *("susceptible", "adopted", "reached", "new", "depth", "breadth"),
        *("new.susceptible", "new.adopted", "onsets"),
    ]
    for name_, values in got.columns.items():
        assert values.dtype == np.float64 and values.tolist() == series[name_], name_


def test_a_wide_series_made_from_the_run_reads_the_same(one_run, tmp_path):
    report, folder = one_run
    series = report["series"]
    cols = ["S", "I"]
    lines = ["tick,S,I"] + [f"{t},{s},{i}" for t, s, i in zip(series["tick"], series["susceptible"], series["adopted"])]
    (tmp_path / "wide.csv").write_text("\n".join(lines) + "\n")
    got = read_observed(str(tmp_path / "wide.csv"))
    assert isinstance(got, ObservedSeries)
    assert got.ticks.tolist() == series["tick"] and list(got.columns) == cols
    assert got.columns["S"].tolist() == series["susceptible"] and got.columns["I"].tolist() == series["adopted"]
    # The same in Parquet, and a single measure (new adoptions per tick), gzipped.
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"tick": series["tick"], "new": series["new"]}), str(tmp_path / "wide.parquet"))
    with gzip.open(tmp_path / "new.csv.gz", "wt") as fh:
        fh.write("tick,new\n" + "".join(f"{t},{v}\n" for t, v in zip(series["tick"], series["new"])))
    for path in ("wide.parquet", "new.csv.gz"):
        again = read_observed(str(tmp_path / path))
        assert isinstance(again, ObservedSeries) and list(again.columns) == ["new"]
        assert again.columns["new"].tolist() == series["new"] and again.ticks.tolist() == series["tick"]


@pytest.mark.parametrize("name", ["c5.csv", "c5.parquet"])
def test_cascades_files_are_the_runs_cascade_reports(world, runs, name):
    report, folder = runs
    got = read_observed(str(folder / name), load_world(str(world)))
    assert isinstance(got, ObservedCascades) and got.kind == "cascades"
    want = [r["cascade"] for r in report["runs"]]
    assert got.sizes.tolist() == [c["size"] for c in want]
    assert got.depth is not None and got.depth.tolist() == [c["depth"] for c in want]
    assert got.roots is not None and got.roots.tolist() == [c["trees"] for c in want]
    assert got.virality is not None and got.virality.tolist() == [c["structural_virality"] for c in want]
    assert len(set(got.sizes.tolist())) > 1  # the runs differ
    # Without the world the same (the ids are then not checked).
    assert read_observed(str(folder / name)).virality.tolist() == got.virality.tolist()


def test_cascade_sizes_alone_read_in_run_order(runs, tmp_path):
    report, _ = runs
    sizes = [r["cascade"]["size"] for r in report["runs"]]
    (tmp_path / "sizes.csv").write_text("size\n" + "".join(f"{s}\n" for s in sizes))
    got = read_observed(str(tmp_path / "sizes.csv"))
    assert isinstance(got, ObservedCascades) and got.sizes.tolist() == sizes
    assert got.depth is None and got.virality is None and got.roots is None
    # With runs, in any row order: read back in run order.
    rows = list(enumerate(sizes))[::-1]
    (tmp_path / "runs.csv").write_text("run,size\n" + "".join(f"{r},{s}\n" for r, s in rows))
    assert read_observed(str(tmp_path / "runs.csv")).sizes.tolist() == sizes


def test_adoption_times_from_a_runs_tree_are_its_agents(world, one_run, tmp_path):
    report, folder = one_run
    rows = (folder / "c1.csv").read_text().splitlines()
    assert rows[0] == "run,agent,source,tick,generation"
    pairs = [(int(r.split(",")[1]), int(r.split(",")[3])) for r in rows[1:]]
    assert len(pairs) == report["cascade"]["size"]
    (tmp_path / "t.csv").write_text("id,tick\n" + "".join(f"{a},{t}\n" for a, t in pairs))
    w = load_world(str(world))
    got = read_observed(str(tmp_path / "t.csv"), w)
    assert isinstance(got, ObservedTimes) and got.kind == "times"
    ids = [a for a, _ in pairs]
    assert got.agents.tolist() == [(i - 9000) // 3 for i in ids]  # internal indices, in file order
    assert w.columns["ids"][got.agents].tolist() == ids
    assert got.ticks.tolist() == [t for _, t in pairs]
    when = got.tick_of(w.n)
    assert when.dtype == np.int64 and when.size == w.n
    assert np.count_nonzero(when >= 0) == len(pairs) and np.count_nonzero(when == 0) == 4  # the 4 seeds
    # The same from Parquet.
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": ids, "tick": [t for _, t in pairs]}), str(tmp_path / "t.parquet"))
    again = read_observed(str(tmp_path / "t.parquet"), w)
    assert isinstance(again, ObservedTimes) and again.agents.tolist() == got.agents.tolist()


# -- refused: files the CLI writes that hold more than one observation ---------------------------------------


def test_a_series_of_several_runs_is_refused(runs):
    _, folder = runs
    with pytest.raises(BadFileError) as exc:
        read_observed(str(folder / "s5.csv.gz"))
    want = f"observation file {folder / 's5.csv.gz'} holds 5 runs (run 0, 1, 2, 3, 4): keep the rows of one run"
    assert str(exc.value) == want


def test_sweep_files_are_refused(world, tmp_path):
    out = agora(
        tmp_path, "sweep", str(world), "--grid", "p=0.05,0.2", "--runs", "1", "--workers", "1",
        "--series", "s.csv", "--cascades", "c.csv",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    for name, option in (("s.csv", "series"), ("c.csv", "cascades")):
        with pytest.raises(BadFileError) as exc:
            read_observed(str(tmp_path / name))
        assert str(exc.value) == (
            f"observation file {tmp_path / name} has 1 grid-key column before run, as the {option} file of agora "
            "sweep has: keep the rows of one combination and drop those columns"
        )


# -- bad input: one sentence each ---------------------------------------------------------------------------

BAD = {
    # case: (file name, text, error, fragments of the message)
    "unknown header": (
        "a.csv", "agent,when\n1,2\n", BadFileError,
        ["line 1: the header is not one Agora reads", "id,tick (adoption times)"],
    ),
    "empty file": ("a.csv", "", BadFileError, ["is empty: give a header"]),
    "header only": ("a.csv", "tick,S\n", BadFileError, ["has a header but no rows"]),
    "non-numeric value": ("a.csv", "tick,S,I\n0,1,2\n\n1,x,4\n", BadFileError, ["line 4: S is not a number"]),
    "non-numeric tick": ("a.csv", "tick,new\n0,1\n1.5,2\n", BadFileError, ["line 3: tick is not a whole number"]),
    "too many fields": ("a.csv", "tick,new\n0,1\n1,2,3\n", BadFileError, ["line 3: 3 fields where the header has 2"]),
    "ticks out of order": (
        "a.csv", "tick,new\n0,1\n2,1\n1,0\n", BadFileError,
        ["line 4: tick 1 comes after tick 2: ticks must increase"],
    ),
    "tick repeated": (
        "a.csv", "tick,new\n0,1\n1,1\n1,0\n", BadFileError, ["line 4: tick 1 is repeated: give one row per tick"]
    ),
    "negative tick": ("a.csv", "tick,new\n-1,1\n0,1\n", BadFileError, ["line 2: tick -1 is negative"]),
    "nan value": ("a.csv", "tick,I\n0,1\n1,nan\n", BadFileError, ["line 3: I is nan: every value must be a finite"]),
    "inf value": ("a.csv", "tick,I\n0,inf\n", BadFileError, ["line 2: I is inf: every value must be a finite number"]),
    "tick beyond int64": (
        "a.csv", "tick,I\n99999999999999999999,1\n", BadFileError,
        ["line 2: tick is not a whole number (a 64-bit integer)"],
    ),
    "long series out of order": (
        "a.csv", "run,tick,measure,value\n0,0,S,1\n0,1,S,2\n0,0,I,3\n", BadFileError,
        ["line 4: tick 0 comes after tick 1"],
    ),
    "long series repeated measure": (
        "a.csv", "run,tick,measure,value\n0,0,S,1\n0,0,S,2\n", BadFileError,
        ["line 3: measure S at tick 0 is repeated"],
    ),
    "long series missing measure": (
        "a.csv", "run,tick,measure,value\n0,0,S,1\n0,0,I,2\n0,1,S,3\n", BadFileError,
        ["has no value of measure I at tick 1: every tick needs every measure"],
    ),
    "size below 1": (
        "a.csv", "size\n3\n0\n", BadFileError, ["line 3: size 0 is below 1: a cascade holds at least its seed"]
    ),
    "run listed twice": ("a.csv", "run,size\n0,3\n0,4\n", BadFileError, ["line 3: run 0 is listed twice"]),
    "ccdf file": ("a.csv", "size,ccdf\n1,1.0\n", BadFileError, ["is a size distribution (agora run's ccdf file)"]),
    "cascade agent twice": (
        "a.csv", "run,agent,source,tick,generation\n0,9000,,0,0\n0,9003,9000,1,1\n0,9000,9003,2,2\n", BadFileError,
        ["line 4: agent 9000 is listed twice in run 0"],
    ),
    "unknown id": (
        "a.csv", "id,tick\n9000,0\n12345,1\n9003,1\n", BadParameterError,
        ["line 3: no agent has id 12345 in this world (its ids run from 9000 to 9597)"],
    ),
    "unknown id in a cascade": (
        "a.csv", "run,agent,source,tick,generation\n0,9000,,0,0\n0,77,9000,1,1\n", BadParameterError,
        ["line 3: no agent has id 77 in this world"],
    ),
    "id listed twice": (
        "a.csv", "id,tick\n9000,0\n9003,1\n9000,2\n", BadFileError, ["lists agent id 9000 twice (line 2 and line 4)"]
    ),
    "no seeds": ("a.csv", "id,tick\n9000,1\n9003,2\n", BadFileError, ["has no row with tick 0: list the seeds"]),
    "negative adoption tick": ("a.csv", "id,tick\n9000,0\n9003,-2\n", BadFileError, ["line 3: tick -2 is negative"]),
    "non-numeric id": ("a.csv", "id,tick\n9000,0\nbob,1\n", BadFileError, ["line 3: id is not a whole number"]),
    "unknown extension": (
        "a.txt", "id,tick\n9000,0\n", BadParameterError, ["has an unknown extension: name it .csv, .csv.gz or .parquet"]
    ),
    "not gzip": ("a.csv.gz", "tick,new\n0,1\n", BadFileError, ["is not a complete gzip file"]),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_sentence(world, tmp_path, case):
    name, text, error, fragments = BAD[case]
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(error) as exc:
        read_observed(str(path), load_world(str(world)), ("S", "I", "R"))
    message = str(exc.value)
    assert type(exc.value) is error
    assert message.startswith(f"observation file {path}") or message.startswith(f"observation file {str(path)!r}")
    assert "\n" not in message and "Traceback" not in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_adoption_times_need_the_world(tmp_path):
    (tmp_path / "t.csv").write_text("id,tick\n9000,0\n")
    with pytest.raises(BadParameterError, match=r"t\.csv holds adoption times by agent id \(id,tick\): give the world"):
        read_observed(str(tmp_path / "t.csv"))


def test_a_missing_file_and_a_folder(tmp_path):
    with pytest.raises(BadFileError, match=r"nothing\.csv does not exist: check the path"):
        read_observed(str(tmp_path / "nothing.csv"))
    (tmp_path / "d.csv").mkdir()
    with pytest.raises(BadFileError, match=r"d\.csv is a folder: give a file"):
        read_observed(str(tmp_path / "d.csv"))


def test_a_file_of_too_many_rows_is_refused_before_it_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(observed, "MAX_ROWS", 10)
    (tmp_path / "ok.csv").write_text("tick,new\n" + "".join(f"{t},1\n" for t in range(10)))
    assert read_observed(str(tmp_path / "ok.csv")).ticks.size == 10
    with gzip.open(tmp_path / "big.csv.gz", "wt") as fh:
        fh.write("tick,new\n" + "".join(f"{t},1\n" for t in range(11)))
    with pytest.raises(BadFileError) as exc:
        read_observed(str(tmp_path / "big.csv.gz"))
    assert str(exc.value) == (
        f"observation file {tmp_path / 'big.csv.gz'} has more than 10 rows: Agora reads at most that many, "
        "so keep a part of it"
    )


def test_parquet_with_a_missing_value_names_the_row(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"tick": [0, 1, 2], "I": [1.0, None, 3.0]}), str(tmp_path / "m.parquet"))
    with pytest.raises(BadFileError, match=r"m\.parquet row 2: I is missing"):
        read_observed(str(tmp_path / "m.parquet"), states=("S", "I", "R"))
    pq.write_table(pa.table({"tick": [0.0, 1.0], "I": [1.0, 2.0]}), str(tmp_path / "f.parquet"))
    with pytest.raises(BadFileError, match=r"column tick holds double where whole numbers are expected"):
        read_observed(str(tmp_path / "f.parquet"))
