"""``agora seeds``: seed choice for influence maximisation, checked against the exact expected IC spread of
a tiny directed world (every live-edge graph enumerated), on the real CLI and real world files."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import numpy as np
import pytest
from conftest import agora, one_sentence

#: The tiny world: hub 1 reaches 10, 11, 12; hub 2 reaches 10, 11 (overlapping 1's); 3 starts a chain
#: 3 -> 14 -> 15 -> 16. Edge u v means v follows u: what u shares can reach v.
TINY_EDGES = [(1, 10), (1, 11), (1, 12), (2, 10), (2, 11), (3, 14), (14, 15), (15, 16)]
P = 0.8


def exact_spreads(k: int) -> dict[frozenset[int], float]:
    """The exact expected IC spread of every k-set of the tiny world: the mean, over all 2^m live-edge
    graphs weighted by their probability, of the number of agents the set reaches."""
    nodes = sorted({x for e in TINY_EDGES for x in e})
    spreads = {frozenset(s): 0.0 for s in itertools.combinations(nodes, k)}
    for live in itertools.product((False, True), repeat=len(TINY_EDGES)):
        weight = 1.0
        out: dict[int, list[int]] = {v: [] for v in nodes}
        for (u, v), on in zip(TINY_EDGES, live, strict=True):
            weight *= P if on else 1 - P
            if on:
                out[u].append(v)
        reach = {}
        for v in nodes:
            seen, todo = {v}, [v]
            while todo:
                for w in out[todo.pop()]:
                    if w not in seen:
                        seen.add(w)
                        todo.append(w)
            reach[v] = seen
        for s in spreads:
            spreads[s] += weight * len(set().union(*(reach[v] for v in s)))
    return spreads


def optimum(k: int) -> tuple[frozenset[int], float, float]:
    """The unique best k-set, its spread and the runner-up's."""
    ranked = sorted(exact_spreads(k).items(), key=lambda kv: -kv[1])
    return ranked[0][0], ranked[0][1], ranked[1][1]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("seeds_tiny")
    (folder / "e.txt").write_text("".join(f"{u} {v}\n" for u, v in TINY_EDGES))
    out = agora(folder, "new", "t.db", "--edges", "e.txt", "--directed", "--seed", "1", "--json")
    assert out.returncode == 0, out.stderr
    return folder / "t.db"


def _id(i: int) -> int:
    return 5000 + 7 * i


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """300 agents imported with ids 5000, 5007, ... (not 0..n-1)."""
    folder = tmp_path_factory.mktemp("seeds_world")
    rng = random.Random(3)
    lines = [f"{_id(i)} {_id(j)}" for i in range(300) for j in rng.sample(range(300), 4) if i != j]
    (folder / "edges.txt").write_text("\n".join(lines) + "\n")
    out = agora(folder, "new", "w.db", "--edges", "edges.txt", "--directed", "--seed", "1", "--json")
    assert out.returncode == 0, out.stderr
    return folder / "w.db"


def seeds_json(where: Path, *args: str) -> dict:
    out = agora(where.parent, "seeds", where.name, *args, "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_the_tiny_world_has_a_unique_optimum_that_degree_misses():
    best, value, runner_up = optimum(2)
    assert best == {1, 3} and value - runner_up > 0.4
    spreads = exact_spreads(2)
    assert spreads[frozenset({1, 2})] < value - 1.5  # the two hubs share their followers


def test_degree_picks_the_overlapping_hubs_and_reaches_less(tiny):
    r = seeds_json(tiny, "--k", "2", "--method", "degree", "--param", f"p={P}", "--runs", "200")
    assert r["seeds"] == [1, 2]
    exact = exact_spreads(2)[frozenset({1, 2})]
    lo, hi = r["spread_ci95"]
    assert lo <= exact <= hi and hi < optimum(2)[1]


def test_ris_finds_the_optimum_and_estimates_it(tiny):
    best, value, _ = optimum(2)
    r = seeds_json(tiny, "--k", "2", "--method", "ris", "--param", f"p={P}", "--epsilon", "0.05", "--runs", "200")
    assert set(r["seeds"]) == best and r["seeds"][0] == 1
    assert r["samples"] > 1000 and abs(r["ris_estimate"] - value) < 0.05 * value
    lo, hi = r["spread_ci95"]
    assert lo <= value <= hi


def test_celf_finds_the_optimum_in_order(tiny):
    best, _, _ = optimum(2)
    r = seeds_json(tiny, "--k", "2", "--method", "celf", "--param", f"p={P}", "--mc-runs", "120", "--runs", "1")
    assert r["seeds"] == [1, 3] and set(r["seeds"]) == best and r["method_params"] == {"mc_runs": 120, "candidates": 0}


def test_ris_lt_matches_a_fresh_ensemble(world):
    r = seeds_json(world, "--k", "5", "--method", "ris", "--model", "lt", "--runs", "60", "--epsilon", "0.3")
    lo, hi = r["spread_ci95"]
    assert len(set(r["seeds"])) == 5 and lo <= r["ris_estimate"] <= hi


@pytest.mark.parametrize("method", ["degree-discount", "pagerank", "random"])  # degree: the round trip
def test_heuristics_give_k_distinct_original_ids(world, method):
    r = seeds_json(world, "--k", "7", "--method", method, "--param", "p=0.05", "--runs", "1")
    ids = {_id(i) for i in range(300)}
    assert r["method"] == method and r["k"] == 7 and len(set(r["seeds"])) == 7 and set(r["seeds"]) <= ids
    assert r["spread_mean"] >= 7 and r["seconds"] >= 0


def test_seed_file_round_trips_through_agora_run(world):
    folder = world.parent
    text = agora(folder, "seeds", world.name, "--k", "4", "--method", "degree", "--runs", "3", "-o", "s.txt")
    assert text.returncode == 0, text.stderr
    seeds = (folder / "s.txt").read_text().split()
    assert len(set(seeds)) == 4 and set(map(int, seeds)) <= {_id(i) for i in range(300)}
    assert " ".join(seeds) in text.stdout and "95% CI" in text.stdout
    out = agora(
        folder, "run", world.name, "--inject", "x", "--seeds", "file:s.txt", "--model", "ic",
        "--param", "p=0", "--runs", "2", "--until-done", "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["mean_reached"] == 4


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--k", "0", "--method", "degree"], "k must be at least 1"),
        (["--k", "301", "--method", "degree"], "300 agents"),
        (["--k", "2", "--method", "greedy"], "unknown seed method 'greedy': available are acquaintance, celf, degree"),
        (["--k", "2", "--method", "ris", "--model", "sir"], "derived for ic, lt, not 'sir'"),
        (["--k", "2", "--method", "degree", "--epsilon", "0.2"], "--epsilon is a parameter of another method"),
        (["--k", "2", "--method", "celf", "--method-param", "candidates=-1"], "candidates"),
        (["--k", "2", "--method", "degree-discount", "--model", "lt"], "derived for ic"),
    ],
)
def test_bad_input_is_one_sentence(world, args, says):
    line = one_sentence(agora(world.parent, "seeds", world.name, *args))
    assert says in line


def test_the_documented_user_method_is_a_seed_method_like_the_built_ins(world, tmp_path):
    """docs/writing-a-seed-method.md's k-shell example, run as a user would: from a plugin folder."""
    import igraph as ig

    doc = (Path(__file__).resolve().parent.parent / "docs" / "writing-a-seed-method.md").read_text()
    code = doc.split("## An example")[1].split("```python\n")[1].split("```")[0]
    folder = tmp_path / "my_plugins"
    folder.mkdir()
    (folder / "kshell.py").write_text(code)
    env = {"AGORA_PLUGINS": str(folder)}
    listed = agora(world.parent, "plugins", "list", env=env)
    assert "kshell" in listed.stdout and "seeder" in listed.stdout
    out = agora(world.parent, "seeds", world.name, "--k", "6", "--method", "kshell", "--runs", "2", "--json", env=env)
    assert out.returncode == 0, out.stderr
    chosen = json.loads(out.stdout)["seeds"]
    # The method's coreness is igraph's on the same undirected simple graph.
    namespace: dict = {}
    exec(compile(code, "kshell.py", "exec"), namespace)  # noqa: S102 - the documented example, as a plugin loads it
    edges = sorted({(min(a, b), max(a, b)) for a, b in _edges(world.parent / "edges.txt") if a != b})
    ids = sorted({x for e in edges for x in e})
    at = {v: i for i, v in enumerate(ids)}
    g = ig.Graph(n=len(ids), edges=[(at[a], at[b]) for a, b in edges])
    core = np.array(g.coreness())
    assert sorted(core[[at[i] for i in chosen]]) == sorted(np.sort(core)[-6:])  # the six of highest coreness
    indptr, indices = _csr(edges, at)
    assert (namespace["coreness"](indptr, indices, len(ids)) == core).all()


def _edges(path: Path) -> list[tuple[int, int]]:
    return [tuple(map(int, line.split())) for line in path.read_text().splitlines() if line.strip()]


def _csr(edges: list[tuple[int, int]], at: dict[int, int]) -> tuple[np.ndarray, np.ndarray]:
    n = len(at)
    src = np.array([at[a] for a, _ in edges])
    dst = np.array([at[b] for _, b in edges])
    order = np.argsort(src, kind="stable")
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    return indptr, dst[order]


BROKEN_METHOD = """
import numpy as np
from sim.plugin import SeedMethod, SeedContext


class Broken(SeedMethod):
    name = "broken"
    version = "1.0"
    description = "A seed method with a bug."
    params = {}

    def choose(self, ctx: SeedContext) -> np.ndarray:
        scores = {}
        return np.array([scores["missing"]])
"""


def test_a_seed_method_that_raises_is_its_plugin_failure_with_the_authors_frames(world, tmp_path):
    """A bug in a user's method is not the user's input (exit 2) nor a crash of agora: one line naming the
    method, the error and the line, the plugin's frames for its author, and exit 3; before any run."""
    folder = tmp_path / "broken_plugins"
    folder.mkdir()
    (folder / "broken.py").write_text(BROKEN_METHOD)
    env = {"AGORA_PLUGINS": str(folder)}
    for args in (
        ("seeds", world.name, "--k", "3", "--method", "broken"),
        ("run", world.name, "--inject", "x", "--seeds", "broken:3", "--runs", "2", "--until-done", "--json"),
    ):
        out = agora(world.parent, *args, env=env)
        assert out.returncode == 3, out.stderr
        first = out.stderr.splitlines()[0]
        assert first.startswith("agora: error: seed method broken failed: KeyError: 'missing' (at ")
        line = BROKEN_METHOD.splitlines().index('        return np.array([scores["missing"]])') + 1
        assert first.endswith(f"broken.py:{line})")
        assert 'return np.array([scores["missing"]])' in out.stderr  # the author's frame
        assert "sim/engine" not in out.stderr  # only the plugin's frames
        assert out.stdout == ""
