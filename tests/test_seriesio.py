"""Series files (sim.seriesio): the tidy long format ``[keys...,]run,tick,measure,value`` in CSV, CSV.gz and
Parquet — exact round trips, the formula guard on text cells, atomic writes, and one-sentence errors naming
the line of a malformed file (also through the real ``agora plot`` command).
"""

from __future__ import annotations

import csv
import gzip
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import agora

from sim.errors import BadFileError, BadParameterError
from sim.store.seriesio import SeriesTable, read_series, table_from_records, write_series

ROOT = Path(__file__).resolve().parents[1]
#: A text key that needs quoting (comma, quote, line break) and one that looks like a spreadsheet formula.
NASTY = 'a,"b"\nc'
FORMULA = "=1+1"


def sweep_records() -> list[dict]:
    """Two combinations (p numeric, model text), runs of different lengths, ints and exact floats."""
    return [
        {
            "keys": {"p": 0.1, "model": FORMULA},
            "run": 0,
            "series": {
                "tick": [0, 1, 2],
                "S": [990, 950, 900],
                "I": [10, 40, 60],
                "reached": [10, 50, 100],
                "new": [10, 40, 50],
                "x.mean": [0.1, 1 / 3, float("nan")],
            },
        },
        {
            "keys": {"p": 0.1, "model": FORMULA},
            "run": 1,
            "series": {
                "tick": [0, 1],
                "S": [990, 985],
                "I": [10, 15],
                "reached": [10, 15],
                "new": [10, 5],
                "x.mean": [2.5e-300, -0.0],
            },
        },
        {
            "keys": {"p": 0.25, "model": NASTY},
            "run": 0,
            "series": {"tick": [0], "S": [995], "I": [5], "reached": [5], "new": [5], "x.mean": [123456789.125]},
        },
    ]


def expected_rows(records: list[dict]) -> list[tuple]:
    rows = []
    for rec in records:
        s = rec["series"]
        measures = [m for m in s if m != "tick"]
        for j, t in enumerate(s["tick"]):
            for m in measures:
                rows.append((rec["keys"]["p"], rec["keys"]["model"], rec["run"], t, m, float(s[m][j])))
    return rows


def table_rows(table: SeriesTable) -> list[tuple]:
    return list(
        zip(
            table.keys["p"].tolist(),
            table.keys["model"].tolist(),
            table.run.tolist(),
            table.tick.tolist(),
            table.measure.tolist(),
            table.value.tolist(),
        )
    )


def same(a: list[tuple], b: list[tuple]) -> bool:
    """Rows equal exactly (floats bit for bit: -0.0 stays negative, NaN equals NaN)."""

    def key(v):
        return ("f", np.float64(v).tobytes()) if isinstance(v, float) else v

    return [tuple(map(key, r)) for r in a] == [tuple(map(key, r)) for r in b]


@pytest.mark.parametrize("ext", ["csv", "csv.gz", "parquet"])
def test_round_trip_is_exact(tmp_path, ext):
    path = str(tmp_path / f"s.{ext}")
    records = sweep_records()
    assert write_series(path, records, ["p", "model"]) == 5 * (3 + 2 + 1)
    table = read_series(path)
    assert table.key_names == ["p", "model"] and table.source == path
    assert table.keys["p"].dtype == np.float64
    assert table.keys["model"].dtype.kind == "U"
    assert table.run.dtype == np.int64 and table.tick.dtype == np.int64 and table.value.dtype == np.float64
    want = expected_rows(records)
    if ext != "parquet":
        # CSV text cells carry the formula guard, and the reader leaves it there.
        want = [(r[0], "'" + r[1] if r[1] == FORMULA else r[1], *r[2:]) for r in want]
    assert same(table_rows(table), want)
    assert table.measures() == ["S", "I", "reached", "new", "x.mean"]
    guarded = "'=1+1" if ext != "parquet" else "=1+1"
    assert table.combinations() == [(0.1, guarded), (0.25, NASTY)]
    assert table.runs() == 3
    assert math.copysign(1, table.value[(table.run == 1) & (table.tick == 1) & (table.measure == "x.mean")][0]) == -1


def test_csv_text_exact(tmp_path):
    path = tmp_path / "s.csv"
    records = [
        {"keys": {"p": 0.1}, "run": 0, "series": {"tick": [0, 1], "I": [10, 40], "x.mean": [0.1, float("nan")]}},
        {"keys": {"p": 2}, "run": 3, "series": {"tick": [0], "I": [7], "x.mean": [1e16]}},
    ]
    write_series(str(path), records, ["p"])
    assert path.read_text().splitlines() == [
        "p,run,tick,measure,value",
        "0.1,0,0,I,10",
        "0.1,0,0,x.mean,0.1",
        "0.1,0,1,I,40",
        "0.1,0,1,x.mean,nan",
        "2,3,0,I,7",
        "2,3,0,x.mean,1e+16",
    ]
    # No key columns for agora run.
    write_series(str(path), [{"keys": {}, "run": 0, "series": {"tick": [0], "I": [1]}}])
    assert path.read_text() == "run,tick,measure,value\n0,0,I,1\n"


def test_text_cells_go_through_the_csv_module_with_the_guard(tmp_path):
    path = tmp_path / "s.csv"
    records = [
        {"keys": {"model": NASTY}, "run": 0, "series": {"tick": [0], "@count": [1]}},
        {"keys": {"model": FORMULA}, "run": 0, "series": {"tick": [0], "@count": [2]}},
    ]
    write_series(str(path), records, ["model"])
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows == [
        ["model", "run", "tick", "measure", "value"],
        [NASTY, "0", "0", "'@count", "1"],
        ["'=1+1", "0", "0", "'@count", "2"],
    ]
    table = read_series(str(path))
    assert table.keys["model"].tolist() == [NASTY, "'=1+1"]
    assert table.measures() == ["'@count"]


def test_key_column_types(tmp_path):
    path = str(tmp_path / "k.csv")
    recs = [
        {"keys": {"k": 3, "x": 1, "name": "ic"}, "run": 0, "series": {"tick": [0], "I": [1]}},
        {"keys": {"k": 5, "x": 0.5, "name": "42"}, "run": 0, "series": {"tick": [0], "I": [1]}},
        {"keys": {"k": -2, "x": 1e-05, "name": "sir"}, "run": 0, "series": {"tick": [0], "I": [1]}},
    ]
    write_series(path, recs, ["k", "x", "name"])
    t = read_series(path)
    assert t.keys["k"].dtype == np.int64 and t.keys["k"].tolist() == [3, 5, -2]
    assert t.keys["x"].dtype == np.float64 and t.keys["x"].tolist() == [1.0, 0.5, 1e-05]
    assert t.keys["name"].tolist() == ["ic", "42", "sir"]  # one text value makes the whole column text
    assert t.combinations() == [(3, 1.0, "ic"), (5, 0.5, "42"), (-2, 1e-05, "sir")]


def test_parquet_column_types(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    path = str(tmp_path / "s.parquet")
    write_series(
        path,
        [{"keys": {"n": 3, "p": 0.5, "model": "ic"}, "run": 0, "series": {"tick": [0], "I": [1]}}],
        ["n", "p", "model"],
    )
    schema = pq.read_schema(path)
    assert [(f.name, str(f.type)) for f in schema] == [
        ("n", "int64"),
        ("p", "double"),
        ("model", "string"),
        ("run", "int64"),
        ("tick", "int64"),
        ("measure", "string"),
        ("value", "double"),
    ]


def test_table_from_records_matches_the_parquet_reading(tmp_path):
    pytest.importorskip("pyarrow")
    records = sweep_records()
    path = str(tmp_path / "s.parquet")
    write_series(path, records, ["p", "model"])
    a, b = table_from_records(records, ["p", "model"], source="mem"), read_series(path)
    assert a.source == "mem"
    assert same(table_rows(a), table_rows(b))
    assert [c for c, _ in a.groups()] == [c for c, _ in b.groups()]


def test_groups_are_first_seen_with_their_rows():
    recs = [
        {"keys": {"p": p, "m": m}, "run": r, "series": {"tick": [0, 1], "I": [r, r]}}
        for p, m in [(0.2, "b"), (0.1, "a"), (0.2, "a")]
        for r in range(2)
    ]
    t = table_from_records(recs, ["p", "m"])
    groups = list(t.groups())
    assert [g for g, _ in groups] == [(0.2, "b"), (0.1, "a"), (0.2, "a")]
    for i, (_, mask) in enumerate(groups):
        assert mask.tolist() == [j // 4 == i for j in range(12)]
    assert t.runs() == 6


def test_pyarrow_missing_is_one_sentence_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)

    def records():
        raise AssertionError("the records were read before the check")
        yield {}

    with pytest.raises(BadParameterError, match=r"agora-sim\[parquet\]") as err:
        write_series(str(tmp_path / "s.parquet"), records())
    assert str(err.value).startswith("writing Parquet needs the optional extra")
    assert "\n" not in str(err.value)
    assert os.listdir(tmp_path) == []
    with pytest.raises(BadParameterError, match=r"^reading Parquet needs .*agora-sim\[parquet\]"):
        read_series(str(tmp_path / "s.parquet"))


@pytest.mark.parametrize("name", ["s.json", "s.txt", "s.gz", "s"])
def test_unknown_extension(tmp_path, name):
    for call in (lambda: write_series(str(tmp_path / name), []), lambda: read_series(str(tmp_path / name))):
        with pytest.raises(BadParameterError) as err:
            call()
        assert all(ext in str(err.value) for ext in (".csv", ".csv.gz", ".parquet"))
    assert os.listdir(tmp_path) == []


def test_extension_is_case_insensitive(tmp_path):
    path = str(tmp_path / "S.CSV.GZ")
    write_series(path, [{"keys": {}, "run": 0, "series": {"tick": [0], "I": [1]}}])
    with gzip.open(path, "rt") as fh:
        assert fh.read() == "run,tick,measure,value\n0,0,I,1\n"


@pytest.mark.parametrize("ext", ["csv", "csv.gz", "parquet"])
def test_atomic_write_leaves_nothing_on_failure(tmp_path, ext):
    if ext == "parquet":
        pytest.importorskip("pyarrow")
    missing = tmp_path / "no" / f"s.{ext}"
    with pytest.raises(BadFileError) as err:
        write_series(str(missing), sweep_records(), ["p", "model"])
    assert str(missing) in str(err.value) and "\n" not in str(err.value)
    assert os.listdir(tmp_path) == []

    # A bad record in the middle: the old file stays whole and no temporary file is left.
    target = tmp_path / f"s.{ext}"
    write_series(str(target), sweep_records()[:1], ["p", "model"])
    before = target.read_bytes()
    bad = sweep_records() + [{"keys": {"p": 1}, "run": 9, "series": {"tick": [0]}}]  # no 'model' key
    with pytest.raises(BadParameterError, match="model"):
        write_series(str(target), bad, ["p", "model"])
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == [f"s.{ext}"]


def test_bad_records_are_refused(tmp_path):
    path = str(tmp_path / "s.csv")
    cases = [
        ([{"keys": {}, "run": 0, "series": {"tick": [0, 1], "I": [1]}}], "2 ticks"),
        ([{"keys": {}, "run": 0}], "series"),
        ([{"keys": {}, "run": "x", "series": {"tick": [0]}}], "whole number"),
        ([{"keys": {}, "run": 0, "series": {"tick": [0], "I": ["a"]}}], "not numbers"),
    ]
    for records, words in cases:
        with pytest.raises(BadParameterError, match=words):
            write_series(path, records)
    with pytest.raises(BadParameterError, match="run"):
        write_series(path, [], ["run"])
    assert os.listdir(tmp_path) == []


def test_blank_lines_crlf_and_bom_are_read(tmp_path):
    path = tmp_path / "s.csv"
    path.write_bytes(b"\xef\xbb\xbfp,run,tick,measure,value\r\n0.5,0,0,I,3\r\n\r\n0.5,0,1,I,4\r\n\r\n")
    t = read_series(str(path))
    assert t.key_names == ["p"] and t.tick.tolist() == [0, 1] and t.value.tolist() == [3.0, 4.0]


def test_header_only_is_an_empty_table(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("model,run,tick,measure,value\n")
    t = read_series(str(path))
    assert len(t) == 0 and t.key_names == ["model"] and t.measures() == [] and t.runs() == 0


MALFORMED = [
    # (file text, line, words in the message)
    ("", None, "is empty"),
    ("p,run,tick,value\n0.1,0,0,3\n", 1, "does not end with run,tick,measure,value"),
    ("run,tick,measure,value\n0,0,I,1\n0,1,I\n", 3, "3 fields where the header has 4"),
    ("run,tick,measure,value\n0,0,I,1\n0,1,I,2\n0,a,I,3\n", 4, "tick is not a whole number"),
    ("run,tick,measure,value\n0,0,I,1\n0,1.5,I,3\n", 3, "tick is not a whole number"),
    ("run,tick,measure,value\nr,0,I,1\n", 2, "run is not a whole number"),
    ("run,tick,measure,value\n0,0,I,1\n0,1,I,many\n", 3, "value is not a number"),
    # A short line next to a long one has the right comma count in total: still caught, on its line.
    ("run,tick,measure,value\n0,0,I\n0,1,I,2,9\n", 2, "3 fields"),
    # A quoted cell over two lines: the line numbers after it still count physical lines.
    ('m,run,tick,measure,value\n"a\nb",0,0,I,1\n"a\nb",0,1,I,x\n', 4, "value is not a number"),
]


@pytest.mark.parametrize("ext", ["csv", "csv.gz"])
@pytest.mark.parametrize("text,line,words", MALFORMED)
def test_malformed_files_name_the_line(tmp_path, ext, text, line, words):
    path = tmp_path / f"bad.{ext}"
    data = text.encode()
    path.write_bytes(gzip.compress(data) if ext == "csv.gz" else data)
    with pytest.raises(BadFileError) as err:
        read_series(str(path))
    message = str(err.value)
    assert "\n" not in message and str(path) in message and words in message
    if line is not None:
        assert f"line {line}:" in message
        assert "run,tick,measure,value" in message  # says what was expected


def test_missing_folder_corrupt_and_foreign_files(tmp_path):
    with pytest.raises(BadFileError, match="does not exist"):
        read_series(str(tmp_path / "none.csv"))
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(BadFileError, match="folder"):
        read_series(str(tmp_path / "dir.csv"))
    (tmp_path / "bad.csv.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(BadFileError, match="gzip"):
        read_series(str(tmp_path / "bad.csv.gz"))
    (tmp_path / "latin.csv").write_bytes("run,tick,measure,value\n0,0,\xe9,1\n".encode("latin-1"))
    with pytest.raises(BadFileError, match="UTF-8"):
        read_series(str(tmp_path / "latin.csv"))
    if sys.modules.get("pyarrow") is not None or _has_pyarrow():
        (tmp_path / "x.parquet").write_bytes(b"not parquet at all")
        with pytest.raises(BadFileError, match="not a readable Parquet file"):
            read_series(str(tmp_path / "x.parquet"))


def _has_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def test_parquet_with_wrong_columns(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = str(tmp_path / "w.parquet")
    pq.write_table(pa.table({"run": [0], "tick": ["a"], "measure": ["I"], "value": [1.0]}), path)
    with pytest.raises(BadFileError, match="column tick"):
        read_series(path)
    pq.write_table(pa.table({"run": [0], "tick": [0], "value": [1.0]}), path)
    with pytest.raises(BadFileError, match="does not end with run,tick,measure,value"):
        read_series(path)


@pytest.mark.parametrize("text,line,words", [m for m in MALFORMED if m[1] is not None][:5] + [("", None, "is empty")])
def test_malformed_files_through_the_cli(tmp_path, text, line, words):
    (tmp_path / "bad.csv").write_text(text)
    proc = agora(tmp_path, "plot", "bad.csv", "-o", "out.png")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and words in lines[0] and "bad.csv" in lines[0]
    if line is not None:
        assert f"line {line}:" in lines[0]
    assert proc.stdout == "" and sorted(os.listdir(tmp_path)) == ["bad.csv"]


def test_missing_file_through_the_cli(tmp_path):
    proc = agora(tmp_path, "plot", "nothere.csv", "-o", "out.png")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and "nothere.csv does not exist" in proc.stderr


def test_writing_is_vectorised(tmp_path):
    """Many runs are written far faster than one csv.writer row per value (the plain baseline, measured
    in the same run into the same gzip stream; ratios hold on a busy machine, absolute times do not)."""
    rng = np.random.default_rng(0)
    ticks = list(range(300))
    records = []
    for r in range(200):
        infected = rng.integers(0, 100, 300)
        records.append(
            {
                "keys": {"p": 0.1},
                "run": r,
                "series": {
                    "tick": ticks,
                    "S": (1000 - infected).tolist(),
                    "I": infected.tolist(),
                    "R": [0] * 300,
                    "reached": infected.tolist(),
                    "new": infected.tolist(),
                },
            }
        )
    out = str(tmp_path / "s.csv.gz")

    def naive_write() -> float:
        start = time.perf_counter()
        with gzip.open(tmp_path / "naive.csv.gz", "wt", newline="", compresslevel=1) as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(["p", "run", "tick", "measure", "value"])
            for rec in records:
                s = rec["series"]
                for j, t in enumerate(s["tick"]):
                    for m in ("S", "I", "R", "reached", "new"):
                        writer.writerow([0.1, rec["run"], t, m, s[m][j]])
        return time.perf_counter() - start

    def our_write() -> float:
        start = time.perf_counter()
        assert write_series(out, records, ["p"]) == 200 * 300 * 5
        return time.perf_counter() - start

    # Interleaved, the quicker of two of each: a busy moment of a shared machine slows one, not the ratio.
    ours, naive = min(our_write(), our_write()), min(naive_write(), naive_write())
    # Same content as the naive writer, byte for byte once decompressed.
    assert gzip.decompress(Path(out).read_bytes()) == gzip.decompress((tmp_path / "naive.csv.gz").read_bytes())
    assert ours < naive, f"write_series {ours:.2f} s vs one writerow per value {naive:.2f} s"
    start = time.perf_counter()
    table = read_series(out)
    assert len(table) == 300_000 and table.value[-1] == records[-1]["series"]["new"][-1]
    assert time.perf_counter() - start < 20 * max(ours, 0.05)


def test_written_files_get_the_usual_rights(tmp_path):
    """The temporary file is created like any other file (the umask applies), not private like mkstemp's."""
    (tmp_path / "plain").write_text("x")
    path = tmp_path / "s.csv"
    write_series(str(path), [{"keys": {}, "run": 0, "series": {"tick": [0], "I": [1]}}])
    assert path.stat().st_mode == (tmp_path / "plain").stat().st_mode
