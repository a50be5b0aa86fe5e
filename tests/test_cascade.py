"""Cascades as objects (``sim.core.cascade``): exact on hand-made graphs run through the engine, equal to a
slow all-pairs oracle on random cascades of every built-in model that names sources, the same whether the
forest grew with the session or was rebuilt from its stored arrays, and reported by ``agora run --json``."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import Counter

import igraph as ig
import numpy as np
import pytest
from conftest import agora

from sim.core.cascade import CascadeTracker, Forest, cascade_stats, ccdf, replay
from sim.core.world import build_world
from sim.engine.simulation import Simulation
from sim.model.registry import Registry
from sim.store.create import synthetic_world

REGISTRY = Registry(entry_points=False, env=False)
SOURCED = sorted(
    i.name
    for i in REGISTRY.list("model")
    if i.source == "builtin" and getattr(REGISTRY.model(i.name), "gives_sources", True)
)


def world_of(n: int, edges: list[tuple[int, int]]):
    src = np.array([a for a, _ in edges], dtype=np.int32)
    dst = np.array([b for _, b in edges], dtype=np.int32)
    return build_world("hand-made", 0, n, src, dst, trust=np.ones(len(edges), dtype=np.float32))


def run(world, model: str, params: dict, seeds: str, seed: int = 0, max_ticks: int = 200):
    sim = Simulation(world, registry=REGISTRY, plugin_budget=0)
    s = sim.inject("m", model=model, params=params, seeds=seeds, seed=seed)
    asyncio.run(sim.run(until_done=True, max_ticks=max_ticks))
    assert s.status in ("completed", "running"), s.error
    return s


# -- the slow oracle -------------------------------------------------------------------------------------
def oracle(adopted_at: np.ndarray, adopted_from: np.ndarray) -> dict:
    """The forest's measures the slow way: parents followed one by one in Python, and structural virality as
    the mean of every pair's breadth-first distance (igraph's all-pairs shortest paths), tree by tree."""
    nodes = [int(i) for i in np.flatnonzero(adopted_at >= 0)]
    parent = {}
    for v in nodes:
        p = int(adopted_from[v])
        ok = 0 <= p < adopted_at.size and adopted_at[p] >= 0 and adopted_at[p] <= adopted_at[v]
        parent[v] = p if ok else -1
    # A cycle can only join agents of one round; the agents of a round whose chain within that round
    # never leaves it (a cycle, or hanging from one) become roots.
    stuck = set()
    for v in nodes:
        seen, u = set(), v
        while parent[u] != -1 and adopted_at[parent[u]] == adopted_at[v]:
            if u in seen:
                stuck.add(v)
                break
            seen.add(u)
            u = parent[u]
    for v in stuck:
        parent[v] = -1
    # Agents whose parent became a root above keep it: their chains are walked again below.
    generation, root = {}, {}
    for v in nodes:
        chain, u = [], v
        while u != -1 and u not in generation:
            chain.append(u)
            u = parent[u]
        base, r = (generation[u] + 1, root[u]) if u != -1 else (0, None)
        for w in reversed(chain):
            if r is None:
                r = w
            generation[w], root[w] = base, r
            base += 1
    trees = sorted(set(root.values()))
    by_tree = {r: [v for v in nodes if root[v] == r] for r in trees}
    vir, sizes = {}, {}
    for r, members in by_tree.items():
        index = {v: i for i, v in enumerate(members)}
        g = ig.Graph(n=len(members), edges=[(index[v], index[parent[v]]) for v in members if parent[v] != -1])
        d = np.array(g.distances(), dtype=float)
        n = len(members)
        sizes[r] = n
        vir[r] = d.sum() / (n * (n - 1)) if n >= 2 else float("nan")
    per_gen = Counter(generation.values())
    big = [r for r in trees if sizes[r] >= 2]
    largest = max(trees, key=lambda r: (sizes[r], -r)) if trees else None
    out = {
        "size": len(nodes),
        "trees": len(trees),
        "depth": max(generation.values()) if nodes else 0,
        "max_breadth": max(per_gen.values()) if nodes else 0,
        "structural_virality": sum(sizes[r] * vir[r] for r in big) / sum(sizes[r] for r in big) if big else 0.0,
    }
    if largest is not None:
        gens = Counter(generation[v] for v in by_tree[largest])
        out["largest_tree"] = {
            "size": sizes[largest],
            "depth": max(gens),
            "max_breadth": max(gens.values()),
            "structural_virality": 0.0 if sizes[largest] < 2 else vir[largest],
        }
    out["generation"] = generation
    return out


def assert_matches(measures: dict, expected: dict) -> None:
    for key in ("size", "trees", "depth", "max_breadth"):
        assert measures[key] == expected[key], key
    assert measures["structural_virality"] == pytest.approx(expected["structural_virality"], rel=1e-12, abs=1e-12)
    if "largest_tree" in expected:
        got, want = measures["largest_tree"], expected["largest_tree"]
        assert got["size"] == want["size"] and got["depth"] == want["depth"]
        assert got["max_breadth"] == want["max_breadth"]
        assert got["structural_virality"] == pytest.approx(want["structural_virality"], rel=1e-12, abs=1e-12)


# -- exact on hand-made graphs ------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [2, 5, 40])
def test_a_star_from_its_hub_has_depth_1_and_virality_2_n_minus_1_over_n(n):
    s = run(world_of(n, [(0, i) for i in range(1, n)]), "ic", {"p": 1.0}, "ids:0")
    m = s.forest().measures()
    assert s.cascade() == m
    assert (m["size"], m["trees"], m["depth"], m["max_breadth"]) == (n, 1, 1, n - 1)
    assert m["structural_virality"] == pytest.approx(2 * (n - 1) / n, rel=1e-12)
    assert m["largest_tree"] == {
        "size": n,
        "depth": 1,
        "max_breadth": n - 1,
        "structural_virality": m["structural_virality"],
    }
    assert s.forest().top_spreaders(3) == [(0, n - 1)]


@pytest.mark.parametrize("n", [2, 3, 9, 60])
def test_a_chain_has_depth_n_minus_1_and_virality_n_plus_1_over_3(n):
    s = run(world_of(n, [(i, i + 1) for i in range(n - 1)]), "ic", {"p": 1.0}, "ids:0")
    m = s.forest().measures()
    assert s.cascade() == m
    assert (m["size"], m["trees"], m["depth"], m["max_breadth"]) == (n, 1, n - 1, 1)
    assert m["structural_virality"] == pytest.approx((n + 1) / 3, rel=1e-12)
    # The series: one generation more each round, never more than one agent in a generation.
    from sim.model.series import series_dict

    series = series_dict(s)
    assert series["depth"] == [*range(n), n - 1]
    assert series["breadth"] == [1] * (n + 1)


@pytest.mark.parametrize("d", [1, 3, 6])
def test_a_complete_binary_tree(d):
    n = 2 ** (d + 1) - 1
    edges = [(i, c) for i in range(n) for c in (2 * i + 1, 2 * i + 2) if c < n]
    s = run(world_of(n, edges), "ic", {"p": 1.0}, "ids:0")
    m = s.forest().measures()
    assert s.cascade() == m
    assert (m["size"], m["trees"], m["depth"], m["max_breadth"]) == (n, 1, d, 2**d)
    # Each edge under a node of level l (l = 1..d) has a subtree of 2^(d-l+1) - 1 nodes.
    wiener = sum(2**lvl * (2 ** (d - lvl + 1) - 1) * (n - (2 ** (d - lvl + 1) - 1)) for lvl in range(1, d + 1))
    assert m["structural_virality"] == pytest.approx(2 * wiener / (n * (n - 1)), rel=1e-12)
    assert s.forest().top_spreaders(2) == ([(0, 2), (1, 2)] if d > 1 else [(0, 2)])


def test_a_forest_of_two_roots_weights_each_tree_by_its_size():
    # A star of 5 (hub 0) and a chain of 4 (from 5): two seeds, two trees.
    edges = [(0, i) for i in range(1, 5)] + [(5, 6), (6, 7), (7, 8)]
    s = run(world_of(9, edges), "ic", {"p": 1.0}, "ids:0,5")
    m = s.forest().measures()
    assert s.cascade() == m
    star, chain = 2 * 4 / 5, 5 / 3
    assert (m["size"], m["trees"], m["depth"], m["max_breadth"]) == (9, 2, 3, 5)  # generation 1: 4 + 1 agents
    assert m["structural_virality"] == pytest.approx((5 * star + 4 * chain) / 9, rel=1e-12)
    assert m["largest_tree"] == {"size": 5, "depth": 1, "max_breadth": 4, "structural_virality": pytest.approx(star)}


def test_a_lone_seed_is_a_tree_of_one_with_virality_0():
    s = run(world_of(3, [(1, 2)]), "ic", {"p": 1.0}, "ids:0")
    m = s.forest().measures()
    assert s.cascade() == m
    assert (m["size"], m["trees"], m["depth"], m["max_breadth"], m["structural_virality"]) == (1, 1, 0, 1, 0.0)


def test_an_empty_forest_measures_zero():
    t = CascadeTracker(5)
    t.end_round()
    m = t.forest(np.full(5, -1, dtype=np.int32)).measures()
    assert m["size"] == 0 and m["trees"] == 0 and m["structural_virality"] == 0.0
    assert ccdf(np.array([], dtype=np.int64))[0].size == 0


# -- the rule for parents ----------------------------------------------------------------------------------------
def test_parents_in_the_same_round_chain_and_cycles_become_roots():
    t = CascadeTracker(9)
    t.add(np.array([0]))  # a seed
    t.end_round()
    # 2 adopts from 0; 1 from 2 in the same round (a sequential schedule); 3 and 4 credit each other; 5
    # hangs from that cycle; 6 names agent 8, which never adopted; 7 names itself.
    agents = np.array([1, 2, 3, 4, 5, 6, 7])
    sources = np.array([2, 0, 4, 3, 4, 8, 7])
    t.add(agents, sources)
    t.end_round()
    assert t.generation.tolist() == [0, 2, 1, 0, 0, 0, 0, 0, -1]
    parents = np.full(9, -1, dtype=np.int32)
    parents[agents] = sources
    f = t.forest(parents)
    assert f.trees == 6 and f.edges == 2 and f.measures()["depth"] == 2
    assert t.measures() == f.measures()  # the log's chained add, generation by generation
    at = np.array([0, 1, 1, 1, 1, 1, 1, 1, -1])
    want = oracle(at, np.array([-1, 2, 0, 4, 3, 4, 8, 7, -1]))
    assert want["generation"] == {i: g for i, g in enumerate(t.generation.tolist()) if g >= 0}
    # Rebuilt from stored rows, where a source outside the world counts as none.
    again = replay(9, at[:8], np.arange(8), np.array([-1, 2, 0, 4, 3, 4, 999, 7]), start=0, rounds=1)
    assert again.generation.tolist() == t.generation.tolist()
    assert (again.depth, again.breadth) == (t.depth, t.breadth)


def test_a_parent_that_adopted_later_is_no_parent():
    at = np.array([0, 1, 2])
    frm = np.array([-1, 2, 0])  # 1 credits 2, which adopted after it
    t = replay(3, at, np.arange(3), frm)
    assert t.generation.tolist() == [0, 0, 1]


# -- against the slow oracle ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def random_world():
    return synthetic_world("random", 400, avg_degree=6, seed=3)


@pytest.mark.parametrize("model", SOURCED)
def test_random_cascades_of_every_model_with_sources_match_the_all_pairs_oracle(random_world, model):
    # Sequential Sznajd (the paper's schedule) needs two agreeing neighbours to convert anyone: from 40 seeds
    # of 400 nobody else adopts, so it starts from half the agents.
    k = 200 if model == "sznajd" else 40
    checked = 0
    for seed in range(3):
        s = run(random_world.fork(shared=True), model, {}, f"random:{k}", seed=seed, max_ticks=40)
        forest = s.forest()
        assert forest is not None
        want = oracle(s.adopted_at, s.adopted_from)
        assert_matches(forest.measures(), want)
        # The report computed in adoption order from the tracker's log is the same, to the last bit.
        assert s.cascade() == forest.measures()
        assert dict(zip(forest.agents.tolist(), forest.generation.tolist())) == want["generation"]
        # Subtree sizes are what the virality was computed from: the roots' add up to the forest.
        assert int(forest.tree_sizes().sum()) == forest.size
        # Rebuilt from the stored arrays (a session read back from a file), the forest and series are the same.
        twin = s.copy()
        assert twin.cascade_tracker is None
        assert twin.forest().measures() == forest.measures()
        assert twin.tracker().depth == s.tracker().depth and twin.tracker().breadth == s.tracker().breadth
        checked += forest.size
    assert checked > 3 * k  # the message spread beyond its seeds


def test_models_without_sources_report_no_tree(random_world):
    for model in ("majority-rule", "deffuant"):
        s = run(random_world.fork(shared=True), model, {}, "random:6", max_ticks=5)
        assert s.forest() is None


# -- in the reports ----------------------------------------------------------------------------------------------
def test_stats_over_runs_leave_out_runs_without_a_tree():
    a = {"size": 10, "trees": 1, "depth": 2, "max_breadth": 5, "structural_virality": 2.0, "by_feed": 0.0}
    b = {**a, "size": 20, "structural_virality": 3.0}
    stats = cascade_stats([a, None, b], n=100)
    assert stats["runs"] == 2 and stats["size"]["mean"] == 15.0
    assert stats["structural_virality"]["mean"] == 2.5
    assert cascade_stats([None, None], n=100) is None
    sizes, tail = ccdf(np.array([3, 1, 3, 7]))
    assert sizes.tolist() == [1, 3, 7] and tail.tolist() == [1.0, 0.75, 0.25]


def test_agora_run_reports_the_cascade_of_every_run_and_their_mean(tmp_path):
    out = agora(tmp_path, "new", "w.db", "--agents", "1500", "--seed", "4")
    assert out.returncode == 0, out.stderr
    out = agora(tmp_path, "run", "w.db", "--inject", "x", "--runs", "4", "--until-done", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    sizes = [r["cascade"]["size"] for r in data["runs"]]
    assert sizes == [r["reached"] for r in data["runs"]]  # IC: every adopter is in the forest
    assert data["cascade"]["runs"] == 4 and data["cascade"]["size"]["mean"] == pytest.approx(np.mean(sizes))
    for r in data["runs"]:
        c = r["cascade"]
        assert (
            c["trees"] == 10
            and c["depth"] == max(r["series"]["depth"])
            and c["max_breadth"] == r["series"]["breadth"][-1]
        )
        assert 0 <= c["by_feed"] <= 1 and c["largest_tree"]["size"] <= c["size"]


def test_the_forest_is_ordered_by_generation_with_parents_one_generation_up():
    rng = np.random.default_rng(0)
    n = 300
    for _ in range(5):
        at = rng.integers(0, 6, n)
        frm = rng.integers(-1, n, n)
        t = replay(n, at, np.arange(n), frm)
        f = Forest.build(t.generation, frm, at)
        assert t.measures() == f.measures()  # same-tick chains and cycles in most ticks here
        assert np.all(np.diff(f.generation) >= 0)
        nonroot = f.parent >= 0
        assert np.array_equal(f.generation[f.parent[nonroot]] + 1, f.generation[nonroot])
        assert_matches(f.measures(), oracle(at, frm))
        assert sorted(itertools.chain(f.agents.tolist())) == list(range(n))
