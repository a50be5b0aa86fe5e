"""Issue 71's probe of people tables, edge tables and worlds built from them: nothing misread, nothing unbounded.

Each test fails on the code before the fix: ragged rows shifted into their neighbours, ids misread at the edges of
int64, a header-only table's traceback, Parquet dates refused, a build's memory unbounded (one group of 10,000,
10,000 people within R, ``max=K``), coordinates of 1e308, temporary files left by Ctrl-C and SIGTERM and unnamed
after kill -9, a file's bytes in an error, digits of other scripts read as numbers.
"""

from __future__ import annotations

import glob
import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, agora, data_file

from sim.core import memory
from sim.errors import BadFileError, BadParameterError, ResourceError
from sim.store.contacts import GroupLayer, NearLayer, group_edges, group_layer, near_layer, people_world
from sim.store.importer import read_edge_list
from sim.store.people import people_from_frame, read_people

RAGGED = "id,x,y\n1,10,20\n2,11,21,99\n3,12\n4,13,23\n"


def write(tmp_path: Path, name: str, text: str | bytes) -> str:
    path = tmp_path / name
    data = text.encode() if isinstance(text, str) else text
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return str(path)


def one_sentence(out: subprocess.CompletedProcess, *says: str) -> None:
    """Exit 2 and one line ``agora: error: ...`` holding every one of ``says``."""
    assert out.returncode == 2 and out.stderr.startswith("agora: error: ") and out.stderr.count("\n") == 1, out.stderr
    for s in says:
        assert s in out.stderr, (s, out.stderr)


# -- 1. every row's width ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["people.csv", "people.csv.gz"])
def test_a_ragged_table_is_refused_naming_its_first_bad_line(tmp_path, name):
    """A row with a cell too many and a later one with a cell too few add up to whole rows: before the fix the
    table read as agents 1, 2, 4 and a phantom 99 (x 3, y 12), person 3 gone."""
    with pytest.raises(BadFileError, match=r"line 3 has 4 cells, its header 3"):
        read_people(write(tmp_path, name, RAGGED), "id")
    with pytest.raises(BadFileError, match=r"line 4 has 2 cells, its header 3"):
        read_people(write(tmp_path, name, "id,x,y\n1,10,20\n2,11,21\n3,12\n4,13,23,5\n"), "id")
    with pytest.raises(BadFileError, match=r"line 3 has 0 cells"):  # a blank line inside the table
        read_people(write(tmp_path, name, "id,x\n1,2\n\n3,4\n"), "id")


def test_a_ragged_quoted_table_names_the_line_where_its_row_starts(tmp_path):
    """Rows read by the csv module (a quoted cell) are checked too, a row spanning lines named by its first."""
    text = 'id,name,x\n1,"a\nb",3\n2,"c",4,5\n'
    with pytest.raises(BadFileError, match=r"line 4 has 4 cells, its header 3"):
        read_people(write(tmp_path, "q.csv", text), "id")
    text = 'id,name,x\n1,"a\nb",3\n2,"c",4\n2,d,5\n'
    with pytest.raises(BadFileError, match=r"lines 4 and 5 have the same id 2"):
        read_people(write(tmp_path, "q.csv", text), "id")


def test_agora_new_refuses_the_ragged_table_naming_line_3(tmp_path):
    path = write(tmp_path, "ragged.csv", RAGGED)
    one_sentence(agora(tmp_path, "new", "w.db", "--people", path), "ragged.csv line 3 has 4 cells")
    assert not (tmp_path / "w.db").exists()


def test_a_ragged_csv_edge_list_is_refused_naming_its_line(tmp_path):
    """An edge list's line is parsed on its own (no shift), but a CSV line with another number of fields than
    its header is malformed all the same: it is named."""
    for text, line in (
        ("source,target\n1,2\n3,4,5\n6,7\n", 3),
        ("source,target,weight\n1,2,0.5\n3,4,0.5,9\n", 3),
        ("1,2\n3,4\n5,6,7\n", 3),
        ("# a comment, with a comma\nsource,target\n1,2\n\n3,4 # note, here\n5,6,7\n", 6),
    ):
        with pytest.raises(BadFileError, match=rf"line {line}: has \d fields"):
            read_edge_list(write(tmp_path, "e.csv", text))
    assert read_edge_list(write(tmp_path, "ok.csv", "# a, b\nsource,target\n1,2\n\n  \n3,4 # x, y\n")).src.size == 4


# -- 2. ids for their exact value ------------------------------------------------------------------------------
def test_ids_are_read_exactly_across_int64(tmp_path):
    top, bottom = 2**63 - 1, -(2**63)
    table = read_people(write(tmp_path, "p.csv", f"id,x\n{top},1\n{bottom},2\n+00000000000000000000042,3\n"), "id")
    assert table.ids.tolist() == [top, bottom, 42]
    for cell in (str(2**63), str(-(2**63) - 1), "1" * 40):
        with pytest.raises(BadFileError, match=r"line 3: its id is outside the ids a world holds: give ids from -9,22"):
            read_people(write(tmp_path, "p.csv", f"id,x\n1,1\n{cell},2\n"), "id")
    for cell in ("١٢", "1_000", "0x10", "1e3"):
        with pytest.raises(BadFileError, match=r"line 2: its id is not a whole number"):
            read_people(write(tmp_path, "p.csv", f"id,x\n{cell},1\n"), "id")


def test_a_parquet_uint64_id_above_int64_is_refused_naming_its_row(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = str(tmp_path / "p.parquet")
    pq.write_table(pa.table({"id": pa.array([1, 2**63 - 1, 2**64 - 1], pa.uint64()), "x": [1.0, 2.0, 3.0]}), path)
    with pytest.raises(BadFileError, match=r"row 2: its id is above the largest id a world holds"):
        read_people(path, "id")
    pq.write_table(pa.table({"id": pa.array([5, 2**63 - 1], pa.uint64()), "x": [1.0, 2.0]}), path)
    assert read_people(path, "id").ids.tolist() == [5, 2**63 - 1]
    pq.write_table(pa.table({"id": pa.array([5, None], pa.int64()), "x": [1.0, 2.0]}), path)
    with pytest.raises(BadFileError, match=r"row 1: its id is empty"):
        read_people(path, "id")


def test_dataframe_ids_are_read_exactly():
    pd = pytest.importorskip("pandas")
    assert people_from_frame(pd.DataFrame({"id": np.array([2**63 - 1, 1], dtype=np.int64)})).ids[0] == 2**63 - 1
    with pytest.raises(BadFileError, match=r"row 1: its id is above the largest id"):
        people_from_frame(pd.DataFrame({"id": np.array([1, 2**64 - 1], dtype=np.uint64)}))
    with pytest.raises(BadFileError, match=r"row 0: its id is beyond 2\^53"):
        people_from_frame(pd.DataFrame({"id": [2.0**60, 1.0]}))


# -- 3. a table with no people ----------------------------------------------------------------------------------
def test_a_header_only_table_is_one_sentence(tmp_path):
    """Before the fix: ``TypeError: memoryview`` from deep inside the save."""
    one_sentence(
        agora(tmp_path, "new", "w.db", "--people", write(tmp_path, "h.csv", "id,x,y\n")),
        "h.csv has a header and no rows",
    )
    assert not (tmp_path / "w.db").exists()
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.table({"id": pa.array([], pa.int64()), "x": pa.array([], pa.float64())}), tmp_path / "h.parquet")
    with pytest.raises(BadFileError, match="has a header and no rows"):
        read_people(str(tmp_path / "h.parquet"), "id")


# -- 4. Parquet as its CSV ---------------------------------------------------------------------------------------
#: Every people table of the people tests, with the layers a world is built with from it.
TABLES = [
    ("id,age,x.loc,class\n3,7,1.5,1st\n1,,2.5,\n2,12,-3e1,2nd\n", "id", [GroupLayer("class")]),
    ('PN,NAME,HN\n1,"Mueller, Anna",61\n2,"Seibold",62\n3,"Seibold",62\n', "PN", [GroupLayer("HN", "household")]),
    ("id,susceptibility\n1,0.5\n2,0.25\n", "id", []),
    ("id,house,class\n20,A,x\n10,A,\n30,B,x\n40,B,\n50,C,\n", "id", [GroupLayer("house", "h"), GroupLayer("class")]),
    ("id,born,seen,sick\n1,1861-11-21,2020-01-01 10:00:00,\n2,,2020-01-02 11:30:00,yes\n3,1861-11-23,,no\n", "id", []),
]


def _same_world(a, b) -> None:
    assert a.columns.keys() == b.columns.keys()
    for k in a.columns:
        x, y = a.columns[k], b.columns[k]
        assert x.dtype == y.dtype and np.array_equal(x, y, equal_nan=True), k
    assert a.attributes == b.attributes and a.layers == b.layers
    assert {k: v.tolist() for k, v in a.labels.items()} == {k: v.tolist() for k, v in b.labels.items()}
    for k in ("out_indptr", "out_indices", "trust", "in_indptr", "in_indices", "layer"):
        x, y = getattr(a.graph, k), getattr(b.graph, k)
        assert (x is None and y is None) or np.array_equal(x, y), k
    drop = {"file"}
    assert {k: v for k, v in a.config["source"].items() if k not in drop} == {
        k: v for k, v in b.config["source"].items() if k not in drop
    }


def _as_parquet(pa, csv_path: str, out: str) -> None:
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    pq.write_table(pa_csv.read_csv(csv_path), out)


@pytest.mark.parametrize("i", range(len(TABLES) + 1))
def test_every_people_table_builds_the_same_world_from_csv_and_parquet(tmp_path, i):
    """The same table written as CSV (as the tests give it) and as Parquet (pyarrow's reading of that CSV: its
    dates become date32 and timestamps, which were refused before the fix) builds the same world: columns,
    attributes, labels, graph."""
    pa = pytest.importorskip("pyarrow")
    if i == len(TABLES):
        csv_path, id_column = str(data_file("hagelloch.csv")), "PN"
        layers = [GroupLayer("HN", "household"), GroupLayer("CL", "class", skip=("preschool",))]
        layers += [NearLayer("x.loc", "y.loc", 50.0, "village")]  # type: ignore[list-item]
    else:
        text, id_column, layers = TABLES[i]  # type: ignore[assignment]
        csv_path = write(tmp_path, "people.csv", text)
    parquet = str(tmp_path / "people.parquet")
    _as_parquet(pa, csv_path, parquet)
    kinds = {str(f.type) for f in pa.parquet.read_schema(parquet)}
    if i in (4, len(TABLES)):
        assert {"date32[day]"} <= kinds
    a = people_world("w", read_people(csv_path, id_column), layers, seed=3)
    b = people_world("w", read_people(parquet, id_column), layers, seed=3)
    _same_world(a, b)


def test_a_parquet_category_reads_as_its_csv_whatever_its_dictionary(tmp_path):
    """A Parquet dictionary in another order than the rows, with an unused value and two values equal once
    stripped, gives the labels a CSV file of the same cells gives (first seen, stripped, used)."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    words = pa.DictionaryArray.from_arrays(
        pa.array([2, 0, 3, None, 2], pa.int32()), pa.array(["b", "unused", " a", "b "])
    )
    pq.write_table(pa.table({"id": [1, 2, 3, 4, 5], "w": words}), tmp_path / "d.parquet")
    cat = read_people(str(tmp_path / "d.parquet"), "id").categories["w"]
    want = read_people(write(tmp_path, "d.csv", "id,w\n1, a\n2,b\n3,b \n4,\n5, a\n"), "id").categories["w"]
    assert cat.labels == want.labels == ("a", "b") and cat.codes.tolist() == want.codes.tolist() == [0, 1, 1, -1, 0]


# -- 5. memory bounded before any allocation ------------------------------------------------------------------------
def _table(tmp_path: Path, name: str, people: int, *, group: bool = True) -> str:
    rows = "".join(f"{i},1,{i % 100 * 0.01:.2f},{i // 100 * 0.01:.2f}\n" for i in range(people))
    return write(tmp_path, name, "id,g,x,y\n" + rows)


#: A small process that runs a command and prints its peak resident memory (KiB) from ``os.wait4``. Linux starts
#: a child's ``ru_maxrss`` from its parent's at exec, so agora run straight from the test would report the
#: test's own memory; this wrapper holds about 10 MiB.
_MEASURE = (
    "import os, subprocess, sys\n"
    "p = subprocess.Popen(sys.argv[3:], stdout=open(sys.argv[1], 'w'), stderr=open(sys.argv[2], 'w'))\n"
    "_, status, usage = os.wait4(p.pid, 0)\n"
    "print(usage.ru_maxrss, os.waitstatus_to_exitcode(status))\n"
)


def agora_peak(cwd: Path, *args: str, memory_cap: str = "1GiB") -> tuple[subprocess.CompletedProcess, int]:
    """``python -m sim ARGS`` with ``AGORA_MEMORY`` set, its output, and its peak resident memory in bytes (the
    child's own, from ``os.wait4`` in a small wrapper process)."""
    env = {k: v for k, v in os.environ.items() if k != "AGORA_PROGRESS"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env["AGORA_MEMORY"] = memory_cap
    out, err = cwd / "out.txt", cwd / "err.txt"
    command = [sys.executable, "-c", _MEASURE, str(out), str(err), sys.executable, "-m", "sim", *args]
    measured = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=True, timeout=600)
    peak, code = (int(x) for x in measured.stdout.split())
    return subprocess.CompletedProcess(args, code, out.read_text(), err.read_text()), peak * 1024


GIB = 2**30


@pytest.mark.subprocess
@pytest.mark.parametrize(
    "layer, says",
    [
        (
            ["--group", "g"],
            [
                "99,990,000 directed edges",
                "AGORA_MEMORY=1GiB",
                "--group g:max=K to link each person to at most K others of their group (up to about",
            ],
        ),
        (
            ["--near", "x,y:100"],
            ["99,990,000 directed edges", "AGORA_MEMORY=1GiB", "--near x,y:R with a distance R below 100"],
        ),
    ],
)
def test_ten_thousand_in_one_group_or_within_r_is_refused_before_any_work(tmp_path, layer, says):
    """10,000 people of a 200 KB table in one group, or all within R: about 100 million edges, below the
    200,000,000-edge bound, which took over 7 GB before the fix. Refused from the count alone, naming the
    figure, the memory and what to do; the command's peak stays far below 1 GB."""
    path = _table(tmp_path, "big.csv", 10_000)
    out, peak = agora_peak(tmp_path, "new", "w.db", "--people", path, *layer)
    one_sentence(out, "needs about", "of memory to build but only", *says)
    assert peak < 400 * 2**20 and not (tmp_path / "w.db").exists(), peak


@pytest.mark.subprocess
@pytest.mark.parametrize("most", ["300000", "10000000", "200000000"])
def test_max_beyond_a_group_links_it_whole_within_memory(tmp_path, most):
    """``max=300000`` on 1,000 people took over 7 GB, 10^7 ended in numpy's MemoryError: a person picks at most
    the others of their group, so a group smaller than K is linked whole (999,000 edges)."""
    path = _table(tmp_path, "k.csv", 1_000)
    out, peak = agora_peak(tmp_path, "new", "w.db", "--people", path, "--group", f"g:max={most}", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["edges"] == 1_000 * 999 and peak < GIB, peak


@pytest.mark.parametrize("most", ["1000000000", "10" * 10, "٣", "0", "-1", "1_0"])
def test_max_is_range_checked_in_ascii_digits(tmp_path, most):
    """``max=٣`` (an Arabic-Indic 3) was taken as 3; 10^9 ended in numpy's MemoryError."""
    path = _table(tmp_path, "k.csv", 10)
    out = agora(tmp_path, "new", "w.db", "--people", path, "--group", f"g:max={most}")
    one_sentence(out, "max must be a whole number of at least 1 and at most 200,000,000, in ASCII digits")
    with pytest.raises(BadParameterError, match="in ASCII digits"):
        group_layer(f"g:max={most}")


@pytest.mark.subprocess
def test_a_just_allowed_group_builds_within_the_cap(tmp_path):
    """4,000 people in one group (15,996,000 edges) fit under ``AGORA_MEMORY=1GiB``: built, and the peak stays
    below 1 GB, as every build the estimate allows does (measured ~31 bytes per edge against 32 estimated)."""
    path = _table(tmp_path, "ok.csv", 4_000)
    out, peak = agora_peak(tmp_path, "new", "w.db", "--people", path, "--group", "g", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["edges"] == 4_000 * 3_999 and peak < GIB, peak


def test_max_picks_are_bounded_by_the_group(tmp_path):
    """A group bigger than K + 1 has its people pick K others each (never themselves); smaller ones are whole."""
    codes = np.array([0] * 50 + [1] * 3)
    src, dst = group_edges(codes, np.ones(53, dtype=bool), most=2, rng=np.random.default_rng(1))
    pairs = set(zip(src.tolist(), dst.tolist()))
    assert all(a != b for a, b in pairs) and all((b, a) in pairs for a, b in pairs)
    assert {(a, b) for a, b in pairs if a >= 50} == {(a, b) for a in (50, 51, 52) for b in (50, 51, 52) if a != b}
    assert src.size == 2 * 50 * 2 + 6


def test_memory_available_honours_agora_memory(monkeypatch):
    for text, want in (("1GiB", GIB), ("800M", 800 * 2**20), ("2.5GB", 2_500_000_000), ("123456789", 123456789)):
        assert memory.parse_size(text) == want
    for bad in ("lots", "1 XB", "-5G", "0", "١G", "nan"):
        with pytest.raises(BadParameterError, match=r"AGORA_MEMORY=.* is not a size: give a number of bytes"):
            memory.parse_size(bad)
    monkeypatch.setenv("AGORA_MEMORY", "300M")
    got = memory.memory_available()
    assert got.bytes < 300 * 2**20 and "AGORA_MEMORY=300M" in got.bound
    with pytest.raises(ResourceError, match=r"needs about 0\.49 GiB of memory but only .* \(AGORA_MEMORY=300M"):
        memory.ensure_memory(500 * 2**20, "this", "do less")
    monkeypatch.setenv("AGORA_MEMORY", "soon")
    with pytest.raises(BadParameterError, match="AGORA_MEMORY='soon' is not a size"):
        memory.memory_available()


def test_an_address_space_limit_bounds_memory_available(tmp_path):
    """RLIMIT_AS set (ulimit -v): what is left of it is what a command may take."""
    code = (
        "import resource; from sim.core import memory\n"
        "resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, resource.RLIM_INFINITY))\n"
        "a = memory.memory_available(); print(a.bytes < 4 * 2**30, 'ulimit -v' in a.bound)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("AGORA_MEMORY", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["True", "True"]


# -- 6. coordinates -----------------------------------------------------------------------------------------------
def test_a_huge_coordinate_is_one_sentence(tmp_path):
    """A coordinate of 1e308 ended in scipy's "floating point overflow" traceback."""
    path = write(tmp_path, "h.csv", "id,x,y\n1,0,0\n2,-1e308,0\n3,1,1\n")
    one_sentence(
        agora(tmp_path, "new", "w.db", "--people", path, "--near", "x,y:5"),
        "h.csv line 3: its x (a near coordinate) is -1e+308: give coordinates of at most 1e+150 in magnitude",
    )
    for radius in ("1e308", "inf", "nan", "٣", "0"):
        with pytest.raises(BadParameterError, match="near x,y:"):
            near_layer(f"x,y:{radius}")
    table = read_people(write(tmp_path, "ok.csv", "id,x,y\n1,1e150,0\n2,1e150,1\n3,-1e150,0\n"), "id")
    world = people_world("w", table, [NearLayer("x", "y", 1e150)])
    assert world.num_edges == 2  # 1 and 2 are 1 apart (both ways); 3 is 2e150 away from both


# -- 7. temporary files --------------------------------------------------------------------------------------------
def _start_new(tmp_path: Path, world: str) -> subprocess.Popen:
    """``agora new WORLD`` of a table whose save takes a while (4 million edges), with SIGINT at its default (as a
    terminal starts a command), stopped only once its temporary file exists."""
    path = _table(tmp_path, "t.csv", 2_000)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("AGORA_MEMORY", None)
    return subprocess.Popen(
        [sys.executable, "-m", "sim", "new", world, "--people", path, "--group", "g"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _when_temporary(tmp_path: Path, world: str, p: subprocess.Popen) -> list[str]:
    """Wait (polling, a deadline bounding a hang) until the save's temporary file exists; its names."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and p.poll() is None:
        found = glob.glob(str(tmp_path / world) + ".tmp-*")
        if found:
            return found
        time.sleep(0.002)
    raise AssertionError(f"no temporary file appeared (exit {p.poll()}): {p.stderr.read() if p.stderr else ''}")


@pytest.mark.subprocess
@pytest.mark.parametrize("sig, code, word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_ctrl_c_and_sigterm_remove_the_temporary_file(tmp_path, sig, code, word):
    """Before the fix a SIGTERM left ``WORLD.tmp-PID`` (up to 2.1 GB) and the lock file behind."""
    p = _start_new(tmp_path, "w.db")
    _when_temporary(tmp_path, "w.db", p)
    p.send_signal(sig)
    _, err = p.communicate(timeout=120)
    if p.returncode == 0:  # the save ended between the poll and the signal: nothing was left either way
        assert (tmp_path / "w.db").exists()
    else:
        assert p.returncode == code and err.strip().endswith(f"agora: {word}"), (p.returncode, err)
        assert not (tmp_path / "w.db").exists()
    assert glob.glob(str(tmp_path / "w.db") + ".*") == []


@pytest.mark.subprocess
def test_check_names_the_temporary_files_of_a_killed_save(tmp_path):
    """After kill -9 the temporary file stays; ``agora check WORLD`` names it (even though no world exists yet)
    with how to remove it, and the next save removes it."""
    p = _start_new(tmp_path, "w.db")
    left = _when_temporary(tmp_path, "w.db", p)
    p.kill()
    p.communicate(timeout=120)
    assert not (tmp_path / "w.db").exists() and all(os.path.exists(f) for f in left)
    out = agora(tmp_path, "check", "w.db")
    name = os.path.basename(left[0])
    assert out.returncode == 1, out.stderr
    assert f"problem: the world does not exist, and 1 temporary file of a killed save ({name}:" in out.stdout
    assert f"remove it (rm -- {name})" in out.stdout, out.stdout
    made = agora(tmp_path, "new", "w.db", "--people", write(tmp_path, "s.csv", "id,g\n1,1\n2,1\n"), "--group", "g")
    assert made.returncode == 0 and not any(os.path.exists(f) for f in left), made.stderr
    assert agora(tmp_path, "check", "w.db").returncode == 0
    one_sentence(agora(tmp_path, "check", "none.db"), "world 'none.db' does not exist")


# -- 8. no byte of a file in an error -----------------------------------------------------------------------------
SECRET = "hunter2-0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    "content",
    [
        SECRET,
        SECRET + "\n",
        f"{SECRET},{SECRET}x\n{SECRET}y,{SECRET}z\n",
        f"{SECRET} {SECRET}\n",
        f"id,{SECRET}\n1\n",
        f"source,target\n1,{SECRET}\n",
        f"a b\n1 {SECRET}\n",
        f"source,target,weight\n1,2,{SECRET}\n",
    ],
)
def test_a_link_to_a_secret_prints_none_of_it(tmp_path, content):
    """``--people LINK`` and ``--edges LINK`` printed the file's first line: through a link to a key file or to
    /proc/self/environ, a secret. Every refusal now names lines, fields and counts only."""
    secret = tmp_path / "secret.txt"
    secret.write_text(content)
    link = tmp_path / "people.csv"
    link.symlink_to(secret)
    outs = [
        agora(tmp_path, "new", "a.db", "--people", str(link)),
        agora(tmp_path, "new", "b.db", "--people", str(link), "--id", "a"),
        agora(tmp_path, "new", "c.db", "--edges", str(link)),
    ]
    table = write(tmp_path, "t.csv", "id,x\n1,1\n2,2\n")
    outs.append(agora(tmp_path, "new", "d.db", "--people", table, "--edges", str(link), "--layer", "l"))
    for out in outs:
        assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
        assert "hunter2" not in out.stderr and "0123456789abcdef" not in out.stderr, out.stderr


def test_proc_self_environ_prints_no_key(tmp_path):
    environ = tmp_path / "environ.csv"
    environ.symlink_to("/proc/self/environ")
    for args in (["--people", str(environ)], ["--edges", str(environ)]):
        out = agora(tmp_path, "new", "w.db", *args, env={"AGORA_PROBE_SECRET": SECRET})
        assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
        assert "hunter2" not in out.stderr and "AGORA_PROBE_SECRET" not in out.stderr, out.stderr


# -- 9. ASCII digits -------------------------------------------------------------------------------------------------
def test_numbers_of_other_scripts_are_text(tmp_path):
    """A cell of Arabic-Indic digits is text (a category), as is a ``--skip`` value in them for numbers."""
    table = read_people(write(tmp_path, "p.csv", "id,n,m\n1,٣,3\n2,4,٣\n"), "id")
    assert set(table.categories) == {"n", "m"} and not table.numbers
    numbers = read_people(write(tmp_path, "q.csv", "id,h\n1,3\n2,3\n3,4\n"), "id")
    world = people_world("w", numbers, [GroupLayer("h", skip=("٣",))])
    assert world.num_edges == 2  # the household 3 was not skipped


def test_a_repeated_id_column_is_refused(tmp_path):
    with pytest.raises(BadFileError, match="has two columns named 'id'"):
        read_people(write(tmp_path, "p.csv", "id,x,id\n1,2,3\n"), "id")
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.Table.from_arrays([pa.array([1, 2]), pa.array([3.0, 4.0]), pa.array([5.0, 6.0])], ["id", "x", "x"])
    pq.write_table(table, tmp_path / "d.parquet")
    with pytest.raises(BadFileError, match="gives two columns the same name"):
        read_people(str(tmp_path / "d.parquet"), "id")


@pytest.mark.subprocess
def test_a_table_of_many_cells_is_counted_before_it_is_split(tmp_path):
    """A cell read as a Python string costs about 100 bytes: 3 million cells of an 8.9 MB file are refused under
    ``AGORA_MEMORY=300M`` from the count of their separators, before one is split."""
    path = write(tmp_path, "cells.csv", "id,a,b,c,d\n" + "".join(f"{i},1,2,3,4\n" for i in range(600_000)))
    out, peak = agora_peak(tmp_path, "new", "w.db", "--people", path, memory_cap="300M")
    one_sentence(out, "reading people table", "(3,000,005 cells) needs about", "AGORA_MEMORY=300M")
    assert peak < 200 * 2**20, peak


def test_a_byte_order_mark_is_not_part_of_the_first_name(tmp_path):
    """A spreadsheet's UTF-8 byte-order mark made the id column '\\ufeffid': "no column 'id'"."""
    table = read_people(write(tmp_path, "bom.csv", b"\xef\xbb\xbfid,x\n1,2\n"), "id")
    assert table.ids.tolist() == [1] and list(table.numbers) == ["x"]
