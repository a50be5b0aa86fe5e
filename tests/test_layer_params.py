"""Parameters per contact layer and models that honour layers, weights and attributes (issue 59), on tiny
worlds whose outcomes are known by hand: two households joined only through one shared class; a seed's
household infected in one tick; mean reach of sir, seir and ic on a star, against the chance per edge
computed by hand from beta, gamma, the weight, the sender's infectivity and the receiver's susceptibility."""

from __future__ import annotations

import numpy as np
import pytest

from sim.core.graph import Graph
from sim.core.world import World, world_on_graph
from sim.engine.simulation import Simulation
from sim.errors import BadParameterError
from sim.model.registry import Registry
from sim.plugin.arrays import layer_table, scale_edges
from sim.plugin.params import param_spec, split_key
from sim.store.contacts import GroupLayer, people_world
from sim.store.people import Category, PeopleTable

REGISTRY = Registry()


def two_households() -> World:
    """Households A = ids 1, 2, 3 and B = 4, 5, 6; 3 and 6 share a class, nobody else is in one."""
    ids = np.arange(1, 7, dtype=np.int64)
    table = PeopleTable(
        path="two.csv",
        id_column="id",
        ids=ids,
        categories={
            "house": Category(np.array([0, 0, 0, 1, 1, 1], dtype=np.int32), ("A", "B")),
            "cls": Category(np.array([1, 1, 0, 1, 1, 0], dtype=np.int32), ("c", "-")),
        },
    )
    return people_world("two", table, [GroupLayer("house", "household"), GroupLayer("cls", "class", skip=("-",))])


def run_out(world: World, params: dict, seeds: str = "ids:1", model: str = "sir", ticks: int = 50, seed: int = 0):
    sim = Simulation(world, registry=REGISTRY)
    s = sim.inject("m", seeds=seeds, model=model, params=params, seed=seed)
    for _ in range(ticks):
        sim.step_now()
        if sim.idle:
            break
    return s


def reached_ids(world: World, s) -> set[int]:
    return set(world.columns["ids"][np.flatnonzero(s.adopted_at >= 0)].tolist())


def test_the_layers_of_the_tiny_world_are_as_listed():
    w = two_households()
    assert w.layers == ("household", "class")
    g = w.graph
    src = np.repeat(np.arange(g.n), np.diff(g.out_indptr))
    edges = {
        (int(w.columns["ids"][a]), int(w.columns["ids"][b])): int(m) for a, b, m in zip(src, g.out_indices, g.layer)
    }
    household = {(a, b) for h in ((1, 2, 3), (4, 5, 6)) for a in h for b in h if a != b}
    assert {e for e, m in edges.items() if m & 1} == household
    assert {e for e, m in edges.items() if m & 2} == {(3, 6), (6, 3)}


@pytest.mark.parametrize("seed", range(5))
def test_with_no_class_transmission_nothing_crosses_between_households(seed):
    w = two_households()
    s = run_out(w, {"beta@household": 1.0, "beta@class": 0.0, "beta": 1.0, "gamma": 0.5}, seed=seed)
    assert reached_ids(w, s) == {1, 2, 3}


@pytest.mark.parametrize("seed", range(5))
def test_with_certain_class_transmission_it_crosses_only_through_the_shared_class(seed):
    w = two_households()
    s = run_out(w, {"beta@household": 1.0, "beta@class": 1.0, "beta": 0.0, "gamma": 0.0}, ticks=8, seed=seed)
    assert reached_ids(w, s) == {1, 2, 3, 4, 5, 6}
    ids = w.columns["ids"]
    src = {int(ids[a]): int(ids[f]) for a, f in enumerate(s.adopted_from) if f >= 0}
    assert src[6] == 3  # the only way into house B: 3's class mate
    assert {src[4], src[5]} == {6}  # and on from 6 in its household
    assert int(s.adopted_at[np.flatnonzero(ids == 6)[0]]) < int(s.adopted_at[np.flatnonzero(ids == 4)[0]])


def test_certain_household_transmission_infects_the_seeds_household_in_one_tick():
    w = two_households()
    sim = Simulation(w, registry=REGISTRY)
    s = sim.inject("m", seeds="ids:4", model="sir", params={"beta@household": 1.0, "beta": 0.0, "gamma": 1.0}, seed=3)
    sim.step_now()  # the seeding tick
    sim.step_now()  # one round
    ids = w.columns["ids"]
    state = {int(ids[a]): int(s.state[a]) for a in range(w.n)}
    assert state == {1: 0, 2: 0, 3: 0, 4: 2, 5: 1, 6: 1}  # 4 recovered (gamma=1), its household infectious


def test_beta_for_a_layer_the_world_lacks_is_refused_before_any_work():
    w = two_households()
    sim = Simulation(w, registry=REGISTRY)
    with pytest.raises(BadParameterError, match=r"^beta@school: this world has no contact layer school; its layers"):
        sim.inject("m", seeds="ids:1", model="sir", params={"beta@school": 0.1})
    assert w.sessions == [] and w.messages == []
    plain = world_on_graph("plain", 1, Graph.from_edges(3, np.array([0, 1]), np.array([1, 2])), drawn_trust=True)
    with pytest.raises(BadParameterError, match="this world has no contact layers, so beta takes one value"):
        Simulation(plain, registry=REGISTRY).inject("m", seeds="ids:0", model="sir", params={"beta@class": 0.1})


def test_a_parameter_that_acts_per_agent_takes_no_layer():
    with pytest.raises(BadParameterError, match="sir's parameter gamma takes one value for every agent"):
        REGISTRY.model("sir").validate({"gamma@household": 0.1})
    with pytest.raises(BadParameterError, match=r"parameter beta@class=2 is invalid: expected a number in \[0, 1\]"):
        REGISTRY.model("sir").validate({"beta@class": "2"})
    with pytest.raises(BadParameterError, match="sir has no parameter 'bet@class'"):
        REGISTRY.model("sir").validate({"bet@class": 0.1})
    ok = REGISTRY.model("seir").validate({"beta@class": "0.25", "beta": 0.1})
    assert ok["beta@class"] == 0.25 and ok["beta"] == 0.1
    assert split_key("beta@class") == ("beta", "class") and split_key("beta") == ("beta", None)
    params = REGISTRY.model("ic").params
    assert param_spec(params, "p@x") is params["p"] and param_spec(params, "trust_weighted@x") is None


def test_the_layer_table_combines_as_independent_chances_or_summed_rates():
    t = layer_table(0.5, [0.3, 0.2, 1.0], "probability")
    assert t[0] == 0.5 and t[1] == 0.3 and t[2] == 0.2 and t[4] == 1.0  # one layer: the value exactly
    assert t[3] == pytest.approx(1 - 0.7 * 0.8) and t[5] == 1.0 and t[7] == 1.0
    r = layer_table(0.0, [0.3, 0.2], "rate")
    assert r[3] == pytest.approx(0.5) and r[1] == 0.3
    assert scale_edges(0.4) == 0.4
    got = scale_edges(np.array([0.5, 0.5]), infectivity=np.array([2.0, np.nan]), susceptibility=np.array([0.5, 0.2]))
    assert got.tolist() == [0.5, 0.1]  # 0.5*2*0.5, and 0.5*1(NaN)*0.2


def star(weights, susceptibility=None, infectivity=None) -> World:
    """Agent 0 linked to agents 1..k with the given weights; attributes measured when given."""
    k = len(weights)
    g = Graph.from_edges(k + 1, np.zeros(k, dtype=np.int64), np.arange(1, k + 1), np.asarray(weights, dtype=np.float32))
    w = world_on_graph("star", 2, g, drawn_trust=False)
    if susceptibility is not None:
        w.columns["susceptibility"][:] = np.asarray(susceptibility, dtype=np.float32)
        w.attributes["susceptibility"] = {"kind": "number", "source": "set", "header": "susceptibility"}
    if infectivity is not None:
        w.columns["infectivity"] = np.asarray(infectivity, dtype=np.float64)
        w.attributes["infectivity"] = {"kind": "number", "source": "set", "header": "infectivity"}
    return w


def mean_reach(world: World, model: str, params: dict, runs: int) -> float:
    total = 0
    for seed in range(runs):
        w = world.fork()
        total += int(run_out(w, params, seeds="ids:0", model=model, seed=seed).reached)
    return total / runs


COPIES = 60  # the star's leaves: four kinds, 60 of each, so each run is 240 chances
WEIGHTS = [1.0, 0.5, 0.25, 0.125] * COPIES
SUS = [1.0] + [1.0, 0.5, 1.0, 0.0] * COPIES  # agent 0 (the seed) first
INF = [0.8] + [1.0] * (4 * COPIES)


def transmissibility(b: float, gamma: float) -> float:
    """The chance an infectious agent ever infects one neighbour: it tries each round, before recovering."""
    return b / (1 - (1 - b) * (1 - gamma))


@pytest.mark.parametrize(
    ("model", "params", "weighted"),
    [
        ("ic", {"p": 0.6, "trust_weighted": True}, True),
        ("ic", {"p": 0.6}, False),
        ("sir", {"beta": 0.6, "gamma": 0.5, "trust_weighted": True}, True),
        ("sir", {"beta": 0.6, "gamma": 0.5}, False),
        ("seir", {"beta": 0.6, "gamma": 0.5, "sigma": 0.5, "trust_weighted": True}, True),
    ],
)
def test_weights_and_attributes_change_mean_reach_as_the_pages_say(model, params, weighted):
    runs = 30
    w = star(WEIGHTS, SUS, INF)
    base = params.get("p", params.get("beta"))
    gamma = params.get("gamma", 1.0)  # ic: one attempt, as sir with gamma 1
    chances = [
        transmissibility(base * (wt if weighted else 1.0) * INF[0] * SUS[i + 1], gamma) for i, wt in enumerate(WEIGHTS)
    ]
    want = 1 + sum(chances)
    sd = np.sqrt(sum(c * (1 - c) for c in chances) / runs)
    got = mean_reach(w, model, params, runs)
    assert abs(got - want) < 4.5 * sd, (got, want, sd)
    # and without the attributes and weights the same model reaches what one chance per edge gives
    plain = star(WEIGHTS)
    want_plain = 1 + len(WEIGHTS) * transmissibility(base, gamma)
    got_plain = mean_reach(plain, model, {k: v for k, v in params.items() if k != "trust_weighted"}, runs)
    sd_plain = np.sqrt(len(WEIGHTS) * 0.25 / runs)
    assert abs(got_plain - want_plain) < 4.5 * sd_plain
    assert abs(want - want_plain) > 9 * max(sd, sd_plain)  # the two differ far beyond the noise


def test_the_catalogue_says_which_models_take_a_value_per_layer():
    """docs/models.md's table of layers, weights and attributes names exactly the models whose parameters are
    declared per edge, with those parameters, and the weight flag each has."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "models.md").read_text()
    table = text.split("<!-- layer-table -->")[1].split("<!-- /layer-table -->")[0]
    listed: dict[str, tuple[str, str]] = {}
    for row in table.strip().splitlines()[2:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        for name in cells[0].replace("`", "").split(","):
            listed[name.strip()] = (cells[1], cells[2])
    declared = {
        name: sorted(k for k, p in REGISTRY.model(name).params.items() if p.per_edge)
        for name in (e.name for e in REGISTRY.list("model") if e.source == "builtin")
    }
    layered = {name for name, keys in declared.items() if keys}
    assert layered == {name for name, (per_layer, _) in listed.items() if per_layer != "no"}
    for name, (per_layer, weight) in listed.items():
        params = REGISTRY.model(name).params
        assert per_layer == ("no" if not declared[name] else " ".join(f"`{k}@LAYER`" for k in declared[name]))
        flag = weight.removeprefix("with ").strip("`").split("=")[0]
        assert weight == "no" or flag in params, (name, weight)
