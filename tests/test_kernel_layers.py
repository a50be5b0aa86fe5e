"""The compiled epidemic kernels on worlds of contact layers (issue 60): ``sir`` and ``seir`` batched with
per-layer rates (``beta@household``), trust weights (``trust_weighted``) and measured ``susceptibility`` and
``infectivity``, the same model as the engine's.

1. **Seed for seed.** A batched run is the engine's run of the same seed, every field of its report (series of
   S, E, I, R, forest measures, attempts, exposed, ticks, status): on a layered world (the kernel reads a table
   of 256 chances, one a layer mask), with trust weights and measured attributes (one chance an edge), and
   ``seir`` on a world of one layer (one chance for all, or its trust weights), in runs to the end, cut short
   and stopped at ``max_ticks``.
2. **Exact properties.** A layer whose rate is 0 never carries an infection (every edge of the kernel's forest
   is checked against its layers); a world of one layer gives, seed for seed, the runs of the same graph
   without layers.
3. **The same law.** Final sizes and peak ticks of the kernel and the engine, on disjoint seeds, agree in
   distribution (two-sample Kolmogorov-Smirnov).
4. **Who runs batched.** ``sir`` and ``seir`` on a layered world run batched (``auto`` from 100 runs, the CLI's
   ``--kernel batched``); ``ic`` there, and ``seir``'s continuations, stay on the engine and say why.
"""

from __future__ import annotations

import asyncio
import json
import math

import numpy as np
import pytest
from conftest import agora
from scipy.stats import ks_2samp

from sim.core.world import World, world_rng
from sim.engine.simulation import Simulation
from sim.errors import BadParameterError
from sim.model.registry import Registry
from sim.runs import batched
from sim.runs.epidemic_kernels import epidemic_law
from sim.runs.runner import run_cascades
from sim.store.contacts import GroupLayer, people_world
from sim.store.create import synthetic_world
from sim.store.people import Category, PeopleTable

REGISTRY = Registry([])
HOUSEHOLD, CLASS = 1, 2  # the layer bits of the worlds below


def village(people: int = 150, seed: int = 4) -> World:
    """``people`` in households of 1 to 6 and, for about 60 % of them, one of three classes (siblings share a
    class at times: an edge in both layers)."""
    rng = np.random.default_rng(seed)
    house = np.repeat(np.arange(people), rng.integers(1, 7, size=people))[:people].astype(np.int32)
    cls = np.where(rng.random(people) < 0.6, rng.integers(0, 3, size=people), 3).astype(np.int32)
    table = PeopleTable(
        path="village.csv",
        id_column="id",
        ids=np.arange(1, people + 1, dtype=np.int64),
        categories={
            "house": Category(house, tuple(f"h{i}" for i in range(int(house.max()) + 1))),
            "cls": Category(cls, ("a", "b", "c", "-")),
        },
    )
    return people_world("village", table, [GroupLayer("house", "household"), GroupLayer("cls", "class", skip=("-",))])


def measured(world: World, seed: int = 9) -> World:
    """``world`` with trust weights of its own and measured susceptibility and infectivity (some missing: NaN
    counts as 1), as ``agora set`` leaves them."""
    rng = np.random.default_rng(seed)
    w = world.fork()
    w.graph = w.graph.replace(trust=rng.uniform(0.2, 1.0, size=w.graph.out_indices.size).astype(np.float32))
    sus = rng.uniform(0.3, 1.6, size=w.n).astype(np.float32)
    sus[rng.random(w.n) < 0.1] = np.nan
    w.columns["susceptibility"] = sus
    w.attributes["susceptibility"] = {"kind": "number", "source": "set", "header": "susceptibility"}
    inf = rng.uniform(0.5, 2.0, size=w.n)
    inf[rng.random(w.n) < 0.1] = np.nan
    w.columns["infectivity"] = inf
    w.attributes["infectivity"] = {"kind": "number", "source": "set", "header": "infectivity"}
    return w


@pytest.fixture(scope="module")
def worlds() -> dict[str, World]:
    plain = village()
    return {"layered": plain, "measured": measured(plain)}


@pytest.fixture(params=["direct", "chunks"])
def reads(request, monkeypatch):
    """Both ways an epidemic reads its edges: straight from the graph (a small world's), and by chunks of at most
    one sender's edges (a large world's way, forced here: many chunks a round, each edge's id carried through)."""
    if request.param == "chunks":
        monkeypatch.setattr(batched, "DIRECT_AGENTS", 0)
        monkeypatch.setattr(batched, "CHUNK_EDGES", 1)
    return request.param


def _run(world, **kw):
    base = {"registry": REGISTRY, "text": "m", "seeds": "random:3", "seed": 11}
    return asyncio.run(run_cascades(world, **{**base, **kw}))


def _same_runs(got, want) -> None:
    assert got["kernel"] == "batched" and got["kernel_reason"] is None and want["kernel"] == "engine"
    for r, (mine, theirs) in enumerate(zip(got["runs"], want["runs"], strict=True)):
        for key in set(mine) | set(theirs):
            if key != "seconds":
                assert mine.get(key) == theirs.get(key), (r, key, mine.get(key), theirs.get(key))


LAYERED = {"beta@household": 0.35, "beta@class": 0.04, "gamma": 0.25}


@pytest.mark.parametrize(
    ("where", "model", "params", "how"),
    [
        ("layered", "sir", LAYERED, {"until_done": True}),
        ("layered", "seir", {**LAYERED, "sigma": 0.3}, {"until_done": True}),
        ("layered", "seir", {**LAYERED, "sigma": 0.5, "beta": 0.9}, {"steps": 6}),  # cut short
        ("layered", "seir", {**LAYERED, "sigma": 0.2}, {"until_done": True, "max_ticks": 9}),
        ("layered", "sir", {"beta": 0.2, "gamma": 0.3, "trust_weighted": True}, {"until_done": True}),
        ("measured", "sir", {**LAYERED, "trust_weighted": True}, {"until_done": True}),
        ("measured", "seir", {**LAYERED, "sigma": 0.4, "trust_weighted": True}, {"until_done": True}),
        ("measured", "seir", {"beta": 0.15, "sigma": 0.4, "gamma": 0.3}, {"until_done": True}),
    ],
)
def test_a_layered_run_is_the_engines_run_of_the_same_seed(worlds, reads, where, model, params, how):
    kw = {"runs": 6, "model": model, "params": params, **how}
    got = _run(worlds[where], kernel="batched", **kw)
    want = _run(worlds[where], kernel="engine", **kw)
    _same_runs(got, want)
    assert len({r["reached"] for r in got["runs"]}) > 1  # the runs differ: the comparison tests something
    if model == "seir":
        run = got["runs"][0]
        assert run["series_columns"]["states"] == ["S", "E", "I", "R"]
        totals = np.sum([run["series"][s] for s in "SEIR"], axis=0)
        assert set(totals.tolist()) == {worlds[where].n}


@pytest.mark.parametrize(
    ("model", "params", "how"),
    [
        ("seir", {"beta": 0.15, "sigma": 0.3, "gamma": 0.3}, {"until_done": True}),
        ("seir", {"beta": 0.4, "sigma": 1.0, "gamma": 0.1}, {"until_done": True}),
        ("seir", {"beta": 0.3, "sigma": 0.0, "gamma": 0.2}, {"until_done": True, "max_ticks": 7}),  # nobody turns
        ("seir", {"beta": 0.0, "sigma": 0.5, "gamma": 0.5}, {"steps": 4}),
        # Trust weights on a world of one layer: a float32 chance an edge, as the engine's beta * trust.
        ("seir", {"beta": 0.35, "sigma": 0.4, "gamma": 0.2, "trust_weighted": True}, {"until_done": True}),
        ("sir", {"beta": 0.35, "gamma": 0.2, "trust_weighted": True}, {"until_done": True}),
    ],
)
def test_a_run_on_a_world_of_one_layer_is_the_engines_run(reads, model, params, how):
    world = synthetic_world("plain", 300, avg_degree=6, seed=3)
    assert len(set(world.graph.trust.tolist())) > 10  # weights that differ from edge to edge
    kw = {"runs": 6, "model": model, "params": params, "seeds": "random:4", **how}
    _same_runs(_run(world, kernel="batched", **kw), _run(world, kernel="engine", **kw))


def _forest_layers(world: World, params: dict, model: str, runs: int = 40) -> list[int]:
    """The layer mask of every edge along which the kernel's runs of ``params`` infected someone (``runs`` runs,
    each from one random agent), read from the kernel's forest."""
    graph, widest = batched._graph_arrays(world.graph)
    buf = batched._Buffers(world.n, max(batched.CHUNK_EDGES, widest))
    law = epidemic_law(model, world, {"sigma": 0.0, **params})
    masks: list[int] = []
    indptr, dst = graph[0]
    for r in range(runs):
        rng = world_rng(5, r)
        seeds = np.array([int(rng.integers(world.n))], dtype=np.int64)
        buf.epidemic(graph, seeds, batched.pcg_state(rng), law, 200, r % 2 == 0)  # both ways to read
        size = int(buf.counts[0])
        agents, parents = buf.agents[:size], buf.parents[:size]
        for child, parent in zip(agents[parents >= 0].tolist(), agents[parents[parents >= 0]].tolist()):
            lo, hi = int(indptr[parent]), int(indptr[parent + 1])
            edge = lo + int(np.searchsorted(dst[lo:hi], child))
            assert dst[edge] == child
            masks.append(int(world.graph.layer[edge]))
    return masks


@pytest.mark.parametrize("model", ["sir", "seir"])
def test_a_layer_whose_rate_is_zero_never_carries_an_infection(worlds, model):
    w = worlds["layered"]
    rates = {"gamma": 0.2, "sigma": 0.5}
    homes = _forest_layers(w, {**rates, "beta@household": 0.6, "beta@class": 0.0, "beta": 0.9}, model)
    assert len(homes) > 50 and all(m & HOUSEHOLD for m in homes)
    assert any(m & CLASS for m in homes)  # siblings in one class: an edge of both layers carries it
    classes = _forest_layers(w, {**rates, "beta@household": 0.0, "beta@class": 0.3, "beta": 0.9}, model)
    assert len(classes) > 50 and all(m & CLASS for m in classes)
    assert _forest_layers(w, {**rates, "beta@household": 0.0, "beta@class": 0.0, "beta": 1.0}, model) == []


def test_one_layer_gives_the_runs_of_the_same_graph_without_layers():
    base = village()
    single = base.fork()
    single.graph = base.graph.replace(layer=(base.graph.layer & HOUSEHOLD).astype(np.uint8))
    single.layers = ("household",)
    keep = single.graph.layer > 0  # the class-only edges leave: the same edges in both worlds
    assert keep.any() and not keep.all()
    plain = single.fork()
    plain.graph = single.graph.replace(layer=None)
    plain.layers = ()
    assert plain.graph.layer is None and single.graph.layer is not None
    # The class-only edges carry layer mask 0: the plain beta, as on the world without layers.
    for model, extra in (("sir", {}), ("seir", {"sigma": 0.4})):
        params = {"beta": 0.2, "gamma": 0.3, **extra}
        kw = {"runs": 12, "model": model, "seeds": "random:2", "until_done": True, "kernel": "batched"}
        layered = _run(single, params={**params, "beta@household": 0.2}, **kw)
        flat = _run(plain, params=params, **kw)
        assert [r["reached"] for r in layered["runs"]] == [r["reached"] for r in flat["runs"]]
        for mine, theirs in zip(layered["runs"], flat["runs"], strict=True):
            assert {k: v for k, v in mine.items() if k != "seconds"} == {
                k: v for k, v in theirs.items() if k != "seconds"
            }
    # The chances themselves: the layer's value on its edges is the plain value, to the bit.
    values = {"beta": 0.2, "beta@household": 0.2, "gamma": 0.3}
    _, by_edge, by_mask, layer, counts, *_ = epidemic_law("sir", single, values)
    assert counts.size == 0  # no importations
    assert by_edge.size == 0 and layer is single.graph.layer
    flat_law = epidemic_law("sir", plain, {"beta": 0.2, "gamma": 0.3})
    assert [a.size for a in flat_law[1:5]] == [0, 0, 0, 0]  # the plain kernel: beta itself on every edge
    assert int(by_mask[HOUSEHOLD]) == int(by_mask[0]) == math.ceil(0.2 * 2**53)  # what the plain kernel compares


@pytest.mark.slow
@pytest.mark.parametrize("model", ["sir", "seir"])
def test_kernel_and_engine_agree_in_distribution_on_other_seeds(worlds, model):
    params = {**LAYERED, "sigma": 0.3, "trust_weighted": True} if model == "seir" else {**LAYERED}
    kw = {"model": model, "params": params, "seeds": "random:1", "until_done": True}
    kernel = _run(worlds["measured"], kernel="batched", runs=400, **{**kw, "seed": 0})
    engine = _run(worlds["measured"], kernel="engine", runs=120, **{**kw, "seed": 100_000})
    for field in ("reached", "peak_tick"):
        a = [r[field] for r in kernel["runs"]]
        b = [r[field] for r in engine["runs"]]
        assert len(set(a)) > 5  # a spread to compare
        assert ks_2samp(a, b).pvalue > 0.001, (field, np.mean(a), np.mean(b))


def test_sir_and_seir_run_batched_on_a_layered_world_and_ic_says_why_not(worlds):
    w = worlds["measured"]
    auto = _run(w, runs=100, model="seir", params={**LAYERED, "sigma": 0.3}, until_done=True)
    assert auto["kernel"] == "batched" and len(auto["runs"]) == 100
    ic = _run(w, runs=100, model="ic", params={"p": 0.1}, until_done=True)
    assert ic["kernel"] == "engine" and ic["kernel_reason"] == "ic on a world of contact layers runs on the engine"
    with pytest.raises(BadParameterError, match="ic on a world of contact layers runs on the engine"):
        _run(w, runs=4, model="ic", params={"p": 0.1}, until_done=True, kernel="batched")


def test_a_seir_session_continues_on_the_engine(worlds):
    w = worlds["layered"].fork()
    sim = Simulation(w, registry=REGISTRY)
    s = sim.inject("m", seeds="random:3", model="seir", params={**LAYERED, "sigma": 0.3}, seed=0)
    sim.step_now()
    assert s.status == "running"
    assert batched.why_not_continue(w, sim, s) == "a seir session continues on the engine"


@pytest.mark.slow
def test_the_cli_runs_a_layered_seir_batched(tmp_path):
    rng = np.random.default_rng(2)
    rows = [f"{i},{i // 4},{rng.choice(['a', 'b', '-'])}" for i in range(1, 121)]
    (tmp_path / "people.csv").write_text("id,house,cls\n" + "\n".join(rows) + "\n")
    layers = ("--group", "house:household", "--group", "cls:class", "--skip", "-")
    made = agora(tmp_path, "new", "w.db", "--people", "people.csv", *layers)
    assert made.returncode == 0, made.stderr
    run = agora(tmp_path, "run", "w.db", "--inject", "m", "--model", "seir", "--param", "beta@household=0.4", "--param",
                "beta@class=0.05", "--param", "sigma=0.3", "--seeds", "random:2", "--runs", "30", "--until-done",
                "--kernel", "batched", "--json")  # fmt: skip
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["kernel"] == "batched" and len(report["runs"]) == 30
    assert all(r["series_columns"]["states"] == ["S", "E", "I", "R"] for r in report["runs"])
    ic = ("--inject", "m", "--model", "ic", "--param", "p=0.1", "--runs", "5", "--steps", "3")
    refused = agora(tmp_path, "run", "w.db", *ic, "--kernel", "batched")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "ic on a world of contact layers runs on the engine" in refused.stderr
