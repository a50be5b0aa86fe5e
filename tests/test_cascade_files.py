"""Cascade files: ``--cascades`` (every run's adoption forest as rows), ``--ccdf`` (the distribution of the
runs' cascade sizes), ``agora cascades`` (a persisted session's forest, from the world's events, as rows or
GraphML) and the Python API's ``trees=True`` — checked against the JSON the same runs report, on a world
whose original ids are not ``0..n-1``."""

from __future__ import annotations

import csv
import gzip
import json
import random
import shutil
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
from conftest import agora, one_sentence

import sim
from sim.core.safe import xml_safe
from sim.errors import BadFileError, BadParameterError
from sim.store.cascadeio import read_cascades, read_ccdf

GRAPHML = "{http://graphml.graphdrawing.org/xmlns}"


def _id(i: int) -> int:
    """Original ids far from 0..n-1 and not contiguous."""
    return 5000 + 7 * i


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """A world of 300 agents imported from an edge list of ids 5000, 5007, ..."""
    folder = tmp_path_factory.mktemp("cascade_files")
    rng = random.Random(3)
    lines = [f"{_id(i)} {_id(j)}" for i in range(300) for j in rng.sample(range(300), 4) if i != j]
    (folder / "edges.txt").write_text("\n".join(lines) + "\n")
    out = agora(folder, "new", "w.db", "--edges", "edges.txt", "--seed", "1", "--json")
    assert out.returncode == 0, out.stderr
    return folder / "w.db"


@pytest.fixture(scope="module")
def ids(world) -> set[int]:
    return {_id(i) for i in range(300)}


def ok_json(out) -> dict:
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def rows_of(path: Path) -> list[dict[str, str]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def check_forest(rows: list[dict[str, str]], cascade: dict, ids: set[int]) -> None:
    """The rows of one run are its forest: as many as its size, its roots as many as its trees, every
    agent an original id once, every non-root one generation below a source of the same forest that
    adopted no later than it."""
    assert len(rows) == cascade["size"]
    agents = [int(r["agent"]) for r in rows]
    assert len(set(agents)) == len(agents) and set(agents) <= ids
    roots = [r for r in rows if r["source"] == ""]
    assert len(roots) == cascade["trees"]
    assert all(r["generation"] == "0" for r in roots)
    by_agent = {int(r["agent"]): r for r in rows}
    for r in rows:
        if r["source"] == "":
            continue
        parent = by_agent[int(r["source"])]
        assert int(r["generation"]) == int(parent["generation"]) + 1
        assert int(r["tick"]) >= int(parent["tick"]) >= 0
    assert max(int(r["generation"]) for r in rows) == cascade["depth"]
    assert max(Counter(r["generation"] for r in rows).values()) == cascade["max_breadth"]


def empirical_ccdf(sizes: list[int]) -> dict[int, float]:
    return {s: sum(x >= s for x in sizes) / len(sizes) for s in sorted(set(sizes))}


# -- agora run --runs -------------------------------------------------------------------------------------


def test_ensemble_cascades_rows_are_the_json_trees_and_ccdf_is_the_sizes_ccdf(world, ids, tmp_path):
    out = agora(
        world.parent,
        "run", str(world), "--inject", "x", "--until-done", "--runs", "4", "--param", "p=0.15", "--workers", "1",
        "--cascades", str(tmp_path / "c.csv"), "--ccdf", str(tmp_path / "s.csv"), "--json",
    )  # fmt: skip
    report = ok_json(out)
    assert all("tree" not in r for r in report["runs"])
    rows = rows_of(tmp_path / "c.csv")
    assert list(rows[0]) == ["run", "agent", "source", "tick", "generation"]
    assert report["cascades_file"] == {"path": str(tmp_path / "c.csv"), "rows": len(rows)}
    by_run = defaultdict(list)
    for r in rows:
        by_run[int(r["run"])].append(r)
    assert sorted(by_run) == [0, 1, 2, 3]
    for i, run in enumerate(report["runs"]):
        check_forest(by_run[i], run["cascade"], ids)
    sizes = [r["cascade"]["size"] for r in report["runs"]]
    assert len(set(sizes)) > 1  # a distribution, not one point
    ccdf = rows_of(tmp_path / "s.csv")
    assert list(ccdf[0]) == ["size", "ccdf"]
    assert {int(r["size"]): float(r["ccdf"]) for r in ccdf} == empirical_ccdf(sizes)
    assert report["ccdf_file"]["rows"] == len(ccdf)


def test_ensemble_text_has_a_cascade_line_and_the_files(world, tmp_path):
    out = agora(
        world.parent, "run", str(world), "--inject", "x", "--until-done", "--runs", "3", "--workers", "1",
        "--ccdf", str(tmp_path / "s.csv.gz"),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("cascade, mean (95% CI):"))
    assert "size" in line and "depth" in line and "max breadth" in line and "structural virality" in line
    assert f"written to {tmp_path / 's.csv.gz'}" in out.stdout


# -- agora sweep -------------------------------------------------------------------------------------------


def test_sweep_files_have_the_grid_keys_first(world, ids, tmp_path):
    out = agora(
        world.parent,
        "sweep", str(world), "--grid", "p=0.05,0.2", "--runs", "3", "--workers", "1",
        "--cascades", str(tmp_path / "c.csv.gz"), "--ccdf", str(tmp_path / "s.csv"), "--json",
    )  # fmt: skip
    report = ok_json(out)
    rows = rows_of(tmp_path / "c.csv.gz")
    assert list(rows[0]) == ["p", "run", "agent", "source", "tick", "generation"]
    groups = defaultdict(list)
    for r in rows:
        groups[(float(r["p"]), int(r["run"]))].append(r)
    ccdf = rows_of(tmp_path / "s.csv")
    assert list(ccdf[0]) == ["p", "size", "ccdf"]
    for arm in report["results"]:
        p = arm["grid"]["p"]
        for i, run in enumerate(arm["per_run"]):
            assert "tree" not in run
            check_forest(groups[(p, i)], run["cascade"], ids)
        mine = {int(r["size"]): float(r["ccdf"]) for r in ccdf if float(r["p"]) == p}
        assert mine == empirical_ccdf([r["cascade"]["size"] for r in arm["per_run"]])
    assert report["cascades_file"]["rows"] == len(rows)
    text = agora(world.parent, "sweep", str(world), "--grid", "p=0.05,0.2", "--runs", "2", "--workers", "1")
    assert "cascade, mean (95% CI):" in text.stdout and "p=0.2: size" in text.stdout


# -- agora cascades ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def persisted(world, tmp_path_factory):
    """A copy of the world with one persisted run of a hostile message; its JSON report."""
    folder = tmp_path_factory.mktemp("persisted")
    path = folder / "p.db"
    shutil.copy(world, path)
    text = 'evil <graph> & "quotes" \x01\x1b[31m ]]></graphml><!--'
    report = ok_json(
        agora(folder, "run", str(path), "--inject", text, "--until-done", "--param", "p=0.2", "--topic", "politics",
              "--cascades", str(folder / "run.csv"), "--json")
    )  # fmt: skip
    assert "tree" not in report["runs"][0] and report["cascades_file"]["rows"] == report["runs"][0]["cascade"]["size"]
    return path, report, text


def test_agora_cascades_measures_equal_the_runs_json(persisted):
    path, report, _ = persisted
    run = report["runs"][0]
    got = ok_json(agora(path.parent, "cascades", str(path), "--json"))
    assert got["session"] == run["session"] and got["latest"] is True and got["sessions"] == 1
    assert got["cascade"] == run["cascade"] and got["cascade"]["size"] > 20
    assert got["file"] is None and got["note"] is None
    # The top spreaders: original ids, most children first, as many children as their rows say.
    top = got["top_spreaders"]
    assert top and [t["children"] for t in top] == sorted((t["children"] for t in top), reverse=True)
    same = ok_json(agora(path.parent, "cascades", str(path), str(run["session"]), "--json", "--top", "3"))
    assert same["cascade"] == run["cascade"] and same["latest"] is False and same["top_spreaders"] == top[:3]
    text = agora(path.parent, "cascades", str(path))
    assert text.returncode == 0 and f"session {run['session']} (the latest of 1" in text.stdout
    assert "\x1b" not in text.stdout and "\x01" not in text.stdout  # the message is data, shown escaped


def test_agora_cascades_rows_match_the_runs_cascades_file(persisted, ids, tmp_path):
    path, report, _ = persisted
    run = report["runs"][0]
    out = ok_json(agora(path.parent, "cascades", str(path), "-o", str(tmp_path / "t.csv"), "--json"))
    assert out["file"] == {"path": str(tmp_path / "t.csv"), "rows": run["cascade"]["size"], "format": "csv"}
    rows = rows_of(tmp_path / "t.csv")
    assert {r["run"] for r in rows} == {str(run["session"])}
    check_forest(rows, run["cascade"], ids)
    top = ok_json(agora(path.parent, "cascades", str(path), "--json"))["top_spreaders"][0]
    assert sum(r["source"] == str(top["agent"]) for r in rows) == top["children"]
    # The run's own --cascades file (run 0, the run's index in its report) holds the same forest.
    written = rows_of(path.parent / "run.csv")
    assert {r["run"] for r in written} == {"0"}
    assert [{**r, "run": ""} for r in written] == [{**r, "run": ""} for r in rows]


def test_agora_cascades_gives_the_same_trees_after_save_and_load(persisted, tmp_path):
    """The round trip: a snapshot keeps the adoption events, so the forest read back is the same, row for
    row; a slim snapshot keeps none, and agora cascades says the session's events are not in the file."""
    path, report, _ = persisted
    before = ok_json(agora(tmp_path, "cascades", str(path), "-o", "before.csv", "--json"))
    assert agora(tmp_path, "save", str(path), "w.snap").returncode == 0
    assert agora(tmp_path, "load", "w.snap", "loaded.db").returncode == 0
    after = ok_json(agora(tmp_path, "cascades", "loaded.db", "-o", "after.csv", "--json"))
    assert after["cascade"] == before["cascade"] == report["runs"][0]["cascade"]
    assert after["top_spreaders"] == before["top_spreaders"]
    assert rows_of(tmp_path / "after.csv") == rows_of(tmp_path / "before.csv")
    for name, world in (("before", str(path)), ("after", "loaded.db")):
        written = ok_json(agora(tmp_path, "cascades", world, "-o", f"{name}.graphml", "--json"))
        assert written["file"]["format"] == "graphml"
    assert (tmp_path / "after.graphml").read_bytes() == (tmp_path / "before.graphml").read_bytes()
    assert agora(tmp_path, "save", str(path), "slim.snap", "--slim").returncode == 0
    assert agora(tmp_path, "load", "slim.snap", "slim.db").returncode == 0
    one_sentence(agora(tmp_path, "cascades", "slim.db"))


def test_graphml_parses_and_is_the_forest_whatever_the_message(persisted, ids, tmp_path):
    path, report, text = persisted
    cascade = report["runs"][0]["cascade"]
    out = ok_json(agora(path.parent, "cascades", str(path), "-o", str(tmp_path / "t.graphml"), "--json"))
    assert out["file"]["nodes"] == cascade["size"] and out["file"]["edges"] == cascade["size"] - cascade["trees"]
    root = ET.parse(tmp_path / "t.graphml").getroot()
    keys = {k.get("id"): k.get("attr.name") for k in root.iter(GRAPHML + "key")}
    graph = root.find(GRAPHML + "graph")
    data = {keys[d.get("key")]: d.text or "" for d in graph.findall(GRAPHML + "data")}
    assert data["message"] == xml_safe(text) and data["topics"] == "politics"
    nodes = graph.findall(GRAPHML + "node")
    edges = graph.findall(GRAPHML + "edge")
    assert len(nodes) == cascade["size"] and len(edges) == cascade["size"] - cascade["trees"]
    node_ids = {int(n.get("id")) for n in nodes}
    assert len(node_ids) == len(nodes) and node_ids <= ids
    for e in edges:
        assert int(e.get("source")) in node_ids and int(e.get("target")) in node_ids
        assert [d.text for d in e.findall(GRAPHML + "data")] in (["graph"], ["feed"])
    roots = [n for n in nodes if {d.get("key"): d.text for d in n}["root"] == "true"]
    assert len(roots) == cascade["trees"]
    assert len({int(e.get("target")) for e in edges} & {int(n.get("id")) for n in roots}) == 0


def test_agora_cascades_mistakes_are_one_sentence(persisted, tmp_path):
    path, report, _ = persisted
    line = one_sentence(agora(path.parent, "cascades", str(path), "99"))
    assert "no session 99" in line and str(report["runs"][0]["session"]) in line
    line = one_sentence(agora(path.parent, "cascades", str(path), "-o", str(tmp_path / "t.txt")))
    assert ".graphml" in line
    (tmp_path / "t.csv").write_text("mine")
    one_sentence(agora(path.parent, "cascades", str(path), "-o", str(tmp_path / "t.csv")))
    assert (tmp_path / "t.csv").read_text() == "mine"
    assert agora(path.parent, "cascades", str(path), "-o", str(tmp_path / "t.csv"), "--force").returncode == 0
    one_sentence(agora(path.parent, "cascades", str(tmp_path / "missing.db")))
    help_text = agora(path.parent, "cascades", "--help")
    assert help_text.returncode == 0 and "GraphML" in help_text.stdout and "SESSION" in help_text.stdout


def test_a_session_without_sources_has_no_cascade_and_says_so(world, tmp_path):
    path = tmp_path / "o.db"
    shutil.copy(world, path)
    assert agora(tmp_path, "run", str(path), "--inject", "x", "--steps", "3", "--model", "deffuant").returncode == 0
    got = ok_json(agora(tmp_path, "cascades", str(path), "-o", str(tmp_path / "o.graphml"), "--json"))
    assert got["cascade"] is None and "names no sources" in got["note"] and got["file"] is None
    assert not (tmp_path / "o.graphml").exists()


def test_run_and_sweep_refuse_a_bad_cascades_file_before_any_work(world, tmp_path):
    base = ["run", str(world), "--inject", "x", "--until-done", "--runs", "2"]
    assert ".csv.gz" in one_sentence(agora(tmp_path, *base, "--cascades", "c.txt"))
    assert ".parquet" in one_sentence(agora(tmp_path, *base, "--ccdf", "c.json"))
    assert "--runs" in one_sentence(agora(tmp_path, *base[:-2], "--ccdf", "c.csv"))
    (tmp_path / "c.csv").write_text("mine")
    assert "--force" in one_sentence(agora(tmp_path, *base, "--cascades", "c.csv"))
    assert "same file" in one_sentence(agora(tmp_path, *base, "--cascades", "d.csv", "--ccdf", "d.csv"))
    sweep = ["sweep", str(world), "--grid", "p=0.1,0.2", "--runs", "2"]
    one_sentence(agora(tmp_path, *sweep, "--cascades", "c.tsv"))
    assert (tmp_path / "c.csv").read_text() == "mine" and not (tmp_path / "d.csv").exists()


# -- the Python API and the files read back ----------------------------------------------------------------


def test_python_api_trees_write_and_read_back_in_every_container(world, tmp_path):
    w = sim.open_world(str(world))
    res = w.ensemble(runs=3, params={"p": 0.15}, seeds="random:5", trees=True, workers=1)
    json.dumps(res.to_dict())  # the trees are not in the report
    cascades = res.cascades
    cols = cascades.columns()
    assert list(cols) == ["run", "agent", "source", "root", "tick", "generation"]
    assert len(cascades) == sum(r["cascade"]["size"] for r in res.to_dict()["runs"])
    assert np.all(cols["source"][cols["root"]] == -1) and np.all(cols["agent"] >= 5000)
    containers = ["c.csv", "c.csv.gz"]
    try:
        import pyarrow  # noqa: F401

        containers.append("c.parquet")
    except ImportError:
        pass
    for name in containers:
        written = res.write_cascades(str(tmp_path / name))
        assert written["rows"] == len(cascades) and res.to_dict()["cascades_file"] == written
        back = read_cascades(str(tmp_path / name)).columns()
        assert list(back) == list(cols)
        for k in cols:
            assert np.array_equal(back[k], cols[k]), (name, k)
        res.write_ccdf(str(tmp_path / ("s" + name[1:])))
        dist = read_ccdf(str(tmp_path / ("s" + name[1:])))
        assert np.array_equal(dist.size, res.ccdf().columns()["size"])
        assert np.allclose(dist.ccdf, res.ccdf().columns()["ccdf"])
    json.dumps(res.to_dict())
    with pytest.raises(sim.TargetExistsError):
        res.write_cascades(str(tmp_path / "c.csv"))
    plain = w.ensemble(runs=2, seeds="random:5", workers=1)
    with pytest.raises(BadParameterError, match=r"trees=True"):
        plain.write_cascades(str(tmp_path / "x.csv"))
    assert plain.write_ccdf(str(tmp_path / "x.csv"))["rows"] >= 1  # sizes need no trees

    sw = w.sweep(grid={"p": [0.05, 0.2]}, runs=2, seeds="random:5", trees=True, workers=1)
    json.dumps(sw.to_dict())
    frame_cols = sw.cascades.columns()
    assert list(frame_cols)[:2] == ["p", "run"] and set(frame_cols["p"].tolist()) == {0.05, 0.2}
    sw.write_cascades(str(tmp_path / "sw.csv"))
    back = read_cascades(str(tmp_path / "sw.csv"))
    assert back.key_names == ["p"] and np.array_equal(back.keys["p"], frame_cols["p"])
    assert sw.to_dict()["cascades_file"]["rows"] == len(back)


def test_a_malformed_cascades_file_is_one_sentence_naming_its_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("run,agent,source,tick,generation\n0,5000,,0,0\n0,5007,5000,x,1\n")
    with pytest.raises(BadFileError, match=r"line 3: tick is not a whole number"):
        read_cascades(str(bad))
    bad.write_text("run,agent,tick\n0,1,2\n")
    with pytest.raises(BadFileError, match=r"does not end with run,agent,source,tick,generation"):
        read_cascades(str(bad))
    bad.write_text("run,agent,source,tick,generation\n0,5000,,0\n")
    with pytest.raises(BadFileError, match=r"line 2: 4 fields where the header has 5"):
        read_cascades(str(bad))
    with pytest.raises(BadParameterError, match=r"unknown extension"):
        read_cascades(str(tmp_path / "x.tsv"))
