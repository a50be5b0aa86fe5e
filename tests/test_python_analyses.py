"""The analyses of ``import sim`` (``sim.pagerank``, ``sim.communities``, ``sim.structure``, ``sim.shortest_path``,
``sim.choose_seeds``, ``sim.cascades``) against the ``agora`` commands that compute the same (``analyze``, ``path``,
``seeds``, ``cascades``): same world, same options, same numbers, same one-sentence errors; ``w.agents`` and
``w.graph`` as read-only columns that keep ``w.agents`` the number it was; the world file never modified; no
``Any`` in a public signature.
"""

from __future__ import annotations

import ast
import inspect
import json
import pickle
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import ROOT, agora, digest

import sim
from sim.errors import BadParameterError
from sim.lab import agents as agents_module
from sim.lab import analyses as analyses_module


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("python_analyses") / "small.db"
    sim.new_world(str(path), agents=600, avg_degree=8, seed=5)
    return path


def cli_json(cwd: Path, *args: str) -> dict[str, Any]:
    proc = agora(cwd, *args, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def cli_error(cwd: Path, *args: str) -> str:
    """The one sentence ``agora ARGS`` says on stderr, exiting 2."""
    proc = agora(cwd, *args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    line = proc.stderr.strip()
    assert line.startswith("agora: error: ") and "\n" not in line, proc.stderr
    return line.removeprefix("agora: error: ")


def without_seconds(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: without_seconds(v) for k, v in x.items() if k != "seconds"}
    if isinstance(x, list):
        return [without_seconds(v) for v in x]
    return x


def top_by_pagerank(pr: np.ndarray, ids: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The ``k`` agents of highest PageRank, ties by lower position, as ``agora analyze`` lists them."""
    order = np.lexsort((np.arange(pr.size), -pr))[:k]
    return [(int(ids[i]), float(pr[i])) for i in order]


# -- w.agents and w.graph ----------------------------------------------------------------------------------------
def test_w_agents_is_still_the_number_of_agents(world):
    w = sim.open_world(str(world))
    n = w.agents
    assert n == 600 and isinstance(n, int) and (n, w.tick) == (600, 0) and n != 601
    assert f"{n:,}" == "600" and f"{w.agents:>5}" == "  600" and str(n) == "600" and f"{n}" == "600"
    assert len(n) == 600 and list(range(n))[-1] == 599 and n + 1 == 601 and n // 2 == 300 and hash(n) == hash(600)
    assert json.dumps({"agents": n}) == '{"agents": 600}'
    assert pickle.loads(pickle.dumps(n)) == 600 and "600 agents" in repr(n)
    assert repr(w).startswith(f"WorldFile({str(world)!r}: 600 agents")


def test_w_agents_columns_are_read_only_numpy_arrays_aligned_with_ids(world):
    before = digest(world)
    w = sim.open_world(str(world))
    agents = w.agents
    cols = agents.columns()
    assert list(cols)[:3] == ["ids", "interests", "activity_profile"] and {"followers", "follows"} <= set(cols)
    assert all(isinstance(a, np.ndarray) and a.shape == (600,) for a in cols.values())
    assert np.array_equal(agents.ids, np.sort(agents.ids)) and agents["susceptibility"] is agents.susceptibility
    assert agents.followers.sum() == agents.follows.sum() == w.edges
    with pytest.raises(ValueError, match="read-only"):
        agents.susceptibility[0] = 1.0
    with pytest.raises(BadParameterError, match=r"^the agents have no column 'nope': they have ids, interests"):
        agents["nope"]
    assert "reputation" in agents and "nope" not in agents
    frame = agents.to_pandas()
    assert frame.shape == (600, len(cols)) and list(frame.columns)[0] == "id"
    assert frame["id"].tolist() == agents.ids.tolist()
    assert agents.names().shape == (600,) and isinstance(agents.names()[0], str)
    assert agents.index_of([int(agents.ids[7])]).tolist() == [7]
    # One read for views taken together: the graph's arrays are the same objects.
    g = w.graph
    assert g.ids is w.agents.ids and len(g) == 600 and g.edges == w.edges
    assert digest(world) == before


def test_w_graph_exports_the_same_edges_to_scipy_igraph_and_networkx(world):
    w = sim.open_world(str(world))
    g = w.graph
    src, dst = g.edge_list()
    assert src.size == dst.size == g.edges == w.edges
    pos_src, pos_dst = g.edge_list(ids=False)
    assert np.array_equal(g.ids[pos_src], src) and np.array_equal(g.indices, pos_dst)
    m = g.to_scipy()
    assert m.shape == (600, 600) and m.nnz == g.edges and np.array_equal(m.indptr, g.indptr)
    ig = g.to_igraph()
    assert (ig.vcount(), ig.ecount()) == (600, g.edges) and ig.is_directed()
    assert ig.vs["id"] == g.ids.tolist()
    assert sorted(zip(*(np.asarray(ig.get_edgelist()).T.tolist()))) == sorted(zip(pos_src.tolist(), pos_dst.tolist()))
    nxg = g.to_networkx()
    assert nxg.number_of_nodes() == 600 and nxg.number_of_edges() == g.edges
    u, v = int(src[0]), int(dst[0])
    assert nxg.has_edge(u, v) and nxg[u][v]["trust"] == pytest.approx(float(g.trust[0]))


def test_a_missing_optional_library_is_one_sentence(world, monkeypatch):
    monkeypatch.setitem(sys.modules, "networkx", None)  # import networkx raises ImportError
    with pytest.raises(BadParameterError, match=r"^to_networkx\(\) needs networkx: pip install networkx$"):
        sim.open_world(str(world)).graph.to_networkx()


# -- the same numbers as the command line ------------------------------------------------------------------------
def test_pagerank_communities_and_structure_equal_agora_analyze(world, tmp_path):
    before = digest(world)
    w = sim.open_world(str(world))
    pr = sim.pagerank(w)
    found = sim.communities(w)
    st = sim.structure(w)
    assert digest(world) == before  # nothing stored
    copy = tmp_path / "copy.db"
    shutil.copy(world, copy)
    cli = cli_json(tmp_path, "analyze", str(copy), "--all")
    # PageRank: per agent, in the order of w.agents.ids; the command lists the top 10.
    assert pr.shape == (600,) and pr.sum() == pytest.approx(1.0)
    assert [(r["id"], r["pagerank"]) for r in cli["pagerank"]["top"]] == top_by_pagerank(pr, w.agents.ids, 10)
    # Communities: the object the command prints (and stores), to the last digit.
    assert without_seconds(found.to_dict()) == without_seconds(cli["communities"])
    assert found.count == cli["communities"]["count"] and found.isolated == cli["communities"]["isolated"]
    stored = sim.open_world(str(copy)).agents.community
    assert np.array_equal(found.membership, stored)
    assert found.members(0).size == found.size[0] and len(found.to_pandas()) == found.count
    assert found.rows(3) == cli["communities"]["table"][:3]
    # Structure and paths.
    assert st.to_dict() == cli["structure"]
    assert st.mean_distance == cli["structure"]["paths"]["mean_distance"] and st.coreness.shape == (600,)
    assert int(st.coreness.max()) == cli["structure"]["coreness"]["max"]
    # Other options are the command's options.
    lp = sim.communities(w, method="label-propagation", seed=3)
    cli_lp = cli_json(tmp_path, "analyze", str(copy), "--communities", "--method", "label-propagation", "--seed", "3")
    assert without_seconds(lp.to_dict(top=10)) == without_seconds(cli_lp["communities"])


def test_shortest_path_equals_agora_path(world, tmp_path):
    w = sim.open_world(str(world))
    a, b = int(w.agents.ids[3]), int(w.agents.ids[401])
    for undirected in (False, True):
        flags = ["--undirected"] if undirected else []
        cli = cli_json(tmp_path, "path", str(world), str(a), str(b), *flags)
        path = sim.shortest_path(w, a, b, directed=not undirected)
        assert path == cli["path"] and len(path) - 1 == cli["length"]
    assert cli_error(tmp_path, "path", str(world), "1", "99999") == str(_raised(sim.shortest_path, w, 1, 99999))


def test_choose_seeds_equals_agora_seeds(world, tmp_path):
    w = sim.open_world(str(world))
    dd = sim.choose_seeds(w, "degree-discount", 5, params={"p": 0.1})
    cli = cli_json(tmp_path, "seeds", str(world), "--k", "5", "--method", "degree-discount", "--param", "p=0.1")
    assert dd.ids.tolist() == list(dd) == cli["seeds"] and len(dd) == 5
    mine = dd.to_dict()
    assert without_seconds(mine) == without_seconds({k: cli[k] for k in mine})
    # The spread agora seeds reports is an ensemble of the chosen seeds.
    spread = w.ensemble(model="ic", params={"p": 0.1}, seeds=dd.seeds, runs=100, seed=0, workers=1)
    assert spread.mean_reached == cli["spread_mean"] and list(spread.ci95) == cli["spread_ci95"]
    ris = sim.choose_seeds(w, "ris", 4, params={"p": 0.05}, seed=2)
    cli = cli_json(
        tmp_path, "seeds", str(world), "--k", "4", "--method", "ris", "--param", "p=0.05", "--seed", "2", "--runs", "1"
    )
    assert ris.to_dict()["seeds"] == cli["seeds"]
    assert (ris.report["samples"], ris.report["ris_estimate"]) == (cli["samples"], cli["ris_estimate"])
    celf = sim.choose_seeds(w, "celf", 2, params={"p": 0.05}, method_params={"mc_runs": 3})
    cli = cli_json(
        tmp_path,
        "seeds",
        str(world),
        "--k",
        "2",
        "--method",
        "celf",
        "--param",
        "p=0.05",
        "--mc-runs",
        "3",
        "--runs",
        "1",
    )
    assert celf.ids.tolist() == cli["seeds"]


def test_cascades_equal_agora_cascades(world, tmp_path):
    copy = tmp_path / "run.db"
    shutil.copy(world, copy)
    run = agora(tmp_path, "run", str(copy), "--inject", "x", "--until-done", "--model", "ic", "--param", "p=0.1")
    assert run.returncode == 0, run.stderr
    before = digest(copy)
    latest = sim.cascades(str(copy), top=3)
    cli = cli_json(tmp_path, "cascades", str(copy), "--top", "3")
    assert latest.to_dict() == {k: v for k, v in cli.items() if k != "file"}
    assert latest.latest and latest.measures is not None and len(latest) == latest.measures["size"] > 0
    named = sim.cascades(sim.open_world(str(copy)), latest.session)
    assert not named.latest and named.measures == latest.measures
    cols = named.columns()
    assert list(cols) == list(analyses_module.CASCADE_COLUMNS) and int(cols["root"].sum()) == latest.measures["trees"]
    assert len(named.to_pandas()) == len(named)
    # The rows agora cascades -o writes.
    out = cli_json(tmp_path, "cascades", str(copy), "-o", "forest.csv")
    assert out["file"]["rows"] == len(named)
    assert digest(copy) == before
    # A session the world does not have: the command's sentence.
    assert cli_error(tmp_path, "cascades", str(copy), "99") == str(_raised(sim.cascades, str(copy), 99))


def test_facebook_pagerank_and_communities_equal_agora_analyze(tmp_path, ego_facebook):
    """On a real network (ego-Facebook, 4,039 agents, 176,468 directed edges)."""
    w = sim.open_world(str(ego_facebook))
    pr = sim.pagerank(w)
    found = sim.communities(w, seed=1)
    cli = cli_json(tmp_path, "analyze", str(tmp_path / "fb.db"), "--seed", "1")
    assert [(r["id"], r["pagerank"]) for r in cli["pagerank"]["top"]] == top_by_pagerank(pr, w.agents.ids, 10)
    assert without_seconds(found.to_dict()) == without_seconds(cli["communities"])


# -- a live world ------------------------------------------------------------------------------------------------
def test_a_live_simulation_is_analysed_as_of_now(world, tmp_path):
    copy = tmp_path / "live.db"
    shutil.copy(world, copy)
    w = sim.open_world(str(copy))
    on_file = sim.pagerank(w)
    with w.simulation() as live:
        assert np.array_equal(sim.pagerank(live), on_file)
        assert sim.choose_seeds(live, "degree", 3).ids.tolist() == sim.choose_seeds(w, "degree", 3).ids.tolist()
        with pytest.raises(BadParameterError, match=r"^cascades\(\) reads the sessions stored in a world file"):
            sim.cascades(live)  # type: ignore[arg-type]


# -- mistakes ----------------------------------------------------------------------------------------------------
def _raised(fn: Any, *args: Any, **kwargs: Any) -> Exception:
    with pytest.raises(sim.AgoraError) as info:
        fn(*args, **kwargs)
    return info.value


def test_mistakes_are_the_commands_sentences(world, tmp_path):
    w = sim.open_world(str(world))
    for args, call in (
        (["--k", "3", "--method", "nope"], lambda: sim.choose_seeds(w, "nope", 3)),
        (["--k", "601", "--method", "degree"], lambda: sim.choose_seeds(w, "degree", 601)),
        (["--k", "0", "--method", "degree"], lambda: sim.choose_seeds(w, "degree", 0)),
        (
            ["--k", "3", "--method", "degree", "--param", "p=2"],
            lambda: sim.choose_seeds(w, "degree", 3, params={"p": 2}),
        ),
        (
            ["--k", "3", "--method", "degree-discount", "--model", "sir"],
            lambda: sim.choose_seeds(w, "degree-discount", 3, model="sir"),
        ),
    ):
        said = cli_error(tmp_path, "seeds", str(world), *args)
        assert str(_raised(call)) == said


def test_bad_python_values_are_one_sentence(world):
    w = sim.open_world(str(world))
    for call, sentence in (
        (lambda: sim.pagerank(w, damping=1.5), "PageRank damping must be between 0 and 1 (exclusive), got 1.5"),
        (
            lambda: sim.pagerank(42),
            "world must be a sim.WorldFile, a live sim.Simulation or a world file's path, got int",
        ),
        (
            lambda: sim.communities(w, method="nope"),
            "unknown community method 'nope': use one of leiden, louvain, label-propagation",
        ),
        (lambda: sim.communities(w, resolution=0), "resolution must be a finite number above 0, got 0"),
        (
            lambda: sim.communities(w, method="label-propagation", resolution=2.0),
            "resolution applies to leiden and louvain",
        ),
        (lambda: sim.structure(w, samples=0), "samples must be a whole number of at least 1, got 0"),
        (lambda: sim.choose_seeds(w, "degree", "3"), "k must be a whole number, got '3'"),
        (lambda: sim.cascades(w, -1), "session must be a whole number of at least 0, got -1"),
    ):
        with pytest.raises(BadParameterError) as info:
            call()
        assert str(info.value).startswith(sentence) and "\n" not in str(info.value)
    with pytest.raises(sim.BadFileError):
        sim.pagerank(str(Path(world).with_name("missing.db")))


# -- typed -------------------------------------------------------------------------------------------------------
def test_no_any_in_a_public_signature_of_the_new_modules():
    """Not one ``Any`` in sim/lab/agents.py and sim/lab/analyses.py, signatures included: results are arrays,
    plain data and frozen dataclasses."""
    for module in (agents_module, analyses_module):
        tree = ast.parse(inspect.getsource(module))
        named = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | {
            n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
        }
        assert "Any" not in named, module.__name__
        for obj in (getattr(module, name) for name in module.__all__):
            members = [obj] if inspect.isfunction(obj) else []
            if inspect.isclass(obj) and obj.__module__ == module.__name__:
                members += [f for n, f in vars(obj).items() if inspect.isfunction(f) and not n.startswith("_")]
            for fn in members:
                assert "Any" not in str(inspect.signature(fn)), fn


def test_every_new_name_is_public():
    names = ("Agents", "Network", "pagerank", "communities", "structure", "shortest_path", "choose_seeds", "cascades")
    assert all(name in dir(sim) and getattr(sim, name) is getattr(sim.lab, name) for name in names)
    assert (ROOT / "docs" / "python.md").read_text(encoding="utf-8").count("sim.choose_seeds(") >= 1
