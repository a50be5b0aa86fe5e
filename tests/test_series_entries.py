"""What a model's series counts (issue 60): the entries into each state per tick (``new.STATE``), ``onsets`` and
``removals``. Exact against the state arrays for every built-in model, the identities of the linear chains (sir,
seir), the compiled kernel against the engine, an intervention's removals, old snapshots, the models' declarations,
``agora plugins list`` and ``agora run --series``."""

from __future__ import annotations

import asyncio
import csv
import json

import numpy as np
import pytest
from conftest import agora

import sim
from sim.core.world import build_world
from sim.engine.simulation import Simulation
from sim.model.registry import Registry
from sim.model.series import series_dict
from sim.model.session import PropagationSession
from sim.plugin import PropagationModel, StepResult
from sim.store.create import synthetic_world
from sim.store.snapshot import load_snapshot, save_snapshot

REGISTRY = Registry(entry_points=False, env=False)
BUILTIN_MODELS = sorted(i.name for i in REGISTRY.list("model") if i.source == "builtin")
#: Parameters that make something happen in a few ticks where the defaults are slow.
PARAMS = {"sis": {"beta": 0.1, "gamma": 0.3}, "sir": {"beta": 0.1}, "seir": {"beta": 0.1, "sigma": 0.5}}


@pytest.fixture(scope="module")
def world():
    return synthetic_world("entries", 600, avg_degree=6, seed=11)


@pytest.fixture(scope="module")
def world_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("entries") / "w.db"
    sim.new_world(str(path), agents=1500, avg_degree=8, seed=3)
    return path


def watched(world, model: str, params: dict, seeds: str, ticks: int, seed: int = 3):
    """The session and its state array after each tick (tick 0: right after seeding)."""
    simulation = Simulation(world.fork(), registry=REGISTRY, plugin_budget=0)
    s = simulation.inject("m", model=model, params=params, seeds=seeds, seed=seed)
    states = []
    for _ in range(ticks):
        asyncio.run(simulation.step())
        if s.state.size:
            states.append(s.state.copy())
        if s.done:
            break
    assert s.status in ("running", "completed"), s.error
    return s, np.array(states)


def entries_of(states: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """From the state arrays alone: the agents that entered and left each state at each tick ``(ticks, k)``; at
    tick 0 every agent not in state 0 entered its state."""
    prev = np.vstack([np.zeros((1, states.shape[1]), dtype=states.dtype), states[:-1]])
    moved = prev != states
    ticks = np.repeat(np.arange(states.shape[0]), states.shape[1]).reshape(states.shape)
    entered = np.zeros((states.shape[0], k), dtype=np.int64)
    left = np.zeros((states.shape[0], k), dtype=np.int64)
    np.add.at(entered, (ticks[moved], states[moved]), 1)
    np.add.at(left, (ticks[moved], prev[moved]), 1)
    return entered, left


@pytest.mark.parametrize("model", BUILTIN_MODELS)
def test_entries_are_the_agents_that_entered_each_state_at_each_tick(world, model):
    """For every state X and tick t: new.X[t] is the agents whose state became X in tick t (from the state arrays);
    X[t] - X[t-1] == new.X[t] - (agents that left X); the new.X of a tick sum to the agents that changed state;
    onsets and removals sum the declared states' entries."""
    s, states = watched(world, model, PARAMS.get(model, {}), "random:20", 25)
    names = [str(x) for x in s.state_names]
    series = series_dict(s)
    entered, left = entries_of(states, len(names))
    counts = np.array([series[x] for x in names]).T
    got = np.array([series[f"new.{x}"] for x in names]).T
    assert got.shape == entered.shape == (len(series["tick"]), len(names))
    assert np.array_equal(got, entered), model
    assert got[0, 0] == 0 and np.array_equal(got[0, 1:], counts[0, 1:])
    assert np.array_equal(np.diff(counts, axis=0), got[1:] - left[1:])
    changed = (states[1:] != states[:-1]).sum(axis=1)
    assert np.array_equal(got[1:].sum(axis=1), changed)
    cls = REGISTRY.model(model)
    assert s.onset_states == cls.counted_onsets() and s.removal_states == cls.counted_removals()
    assert series["onsets"] == got[:, list(s.onset_states)].sum(axis=1).tolist()
    if s.removal_states:
        assert series["removals"] == got[:, list(s.removal_states)].sum(axis=1).tolist()
    else:
        assert "removals" not in series


@pytest.mark.parametrize("seed", [1, 2])
def test_linear_chains_sir_and_seir(world, seed):
    """sir: new.R == dR, new.I == dI + new.R; seir: also new.E == dE + new.I; new counts entries into I (sir) or
    E (seir) after tick 0, the seeds at tick 0; onsets are entries into I, removals into R."""
    s, _ = watched(world, "sir", {"beta": 0.15, "gamma": 0.3}, "random:8", 60, seed)
    x = {k: np.asarray(v) for k, v in series_dict(s).items()}
    assert x["new.I"].sum() > 8  # an epidemic, not only the seeds
    assert np.array_equal(x["new.R"][1:], np.diff(x["R"]))
    assert np.array_equal(x["new.I"][1:], np.diff(x["I"]) + x["new.R"][1:])
    assert np.array_equal(x["new"], x["new.I"]) and np.array_equal(x["onsets"], x["new.I"])
    assert np.array_equal(x["removals"], x["new.R"]) and x["new.I"][0] == 8 and not x["new.S"].any()
    s, _ = watched(world, "seir", {"beta": 0.15, "sigma": 0.4, "gamma": 0.3}, "random:8", 60, seed)
    x = {k: np.asarray(v) for k, v in series_dict(s).items()}
    assert x["new.E"].sum() > 0
    assert np.array_equal(x["new.R"][1:], np.diff(x["R"]))
    assert np.array_equal(x["new.I"][1:], np.diff(x["I"]) + x["new.R"][1:])
    assert np.array_equal(x["new.E"][1:], np.diff(x["E"]) + x["new.I"][1:])
    assert np.array_equal(x["new"][1:], x["new.E"][1:]) and x["new"][0] == x["new.I"][0] == 8
    assert np.array_equal(x["onsets"], x["new.I"]) and np.array_equal(x["removals"], x["new.R"])
    assert x["new.I"].sum() == x["I"][-1] + x["R"][-1]  # every agent ever infectious entered I once


@pytest.mark.parametrize("model", ["sir", "ic"])
def test_the_kernels_counts_are_the_engines(world_file, model):
    """The compiled kernel reports the same entries, onsets and removals as the engine's runs of the same seeds
    (its whole series is coupled in tests/test_batched.py); over runs, onsets sum to the reach and removals to R."""
    w = sim.open_world(str(world_file))
    params = {"beta": 0.1, "gamma": 0.3} if model == "sir" else {"p": 0.05}
    kw = {"model": model, "params": params, "seeds": "random:5", "runs": 6, "seed": 7, "until_done": True}
    fast, slow = w.ensemble(kernel="batched", **kw), w.ensemble(kernel="engine", **kw)
    assert fast.kernel == "batched" and slow.kernel == "engine"
    counts = [k for k in fast.runs[0]["series"] if k.startswith("new.") or k in ("onsets", "removals")]
    assert counts == (["new.S", "new.I", "new.R", "onsets", "removals"] if model == "sir" else
                      ["new.susceptible", "new.adopted", "onsets"])  # fmt: skip
    for a, b in zip(fast.runs, slow.runs, strict=True):
        assert {k: a["series"][k] for k in counts} == {k: b["series"][k] for k in counts}
        assert sum(a["series"]["onsets"]) == a["reached"]
        if model == "sir":
            assert sum(a["series"]["removals"]) == a["series"]["R"][-1]
    assert len({r["reached"] for r in fast.runs}) > 1


def test_a_blocked_agent_enters_the_removed_state(world):
    """An intervention's block moves infectious agents to R: the next tick counts them among new.R."""
    simulation = Simulation(world.fork(), registry=REGISTRY, plugin_budget=0)
    s = simulation.inject("m", model="sir", params={"beta": 0.2, "gamma": 0.1}, seeds="random:10", seed=5)
    asyncio.run(simulation.run(ticks=4))
    before = s.state.copy()
    infectious = np.flatnonzero(before == 1)[:5].astype(np.int32)
    assert infectious.size == 5
    s.block(infectious)
    asyncio.run(simulation.step())
    x = series_dict(s)
    entered, _ = entries_of(np.array([before, s.state]), 3)
    assert x["new.R"][-1] == entered[1, 2] >= 5 and x["R"][-1] - x["R"][-2] == x["new.R"][-1]
    assert x["removals"][-1] == x["new.R"][-1]


def _snapshot_then_strip(world, tmp_path):
    simulation = Simulation(world.fork(), registry=REGISTRY, plugin_budget=0)
    s = simulation.inject("m", model="seir", params={"beta": 0.15, "sigma": 0.5}, seeds="random:8", seed=2)
    asyncio.run(simulation.run(ticks=5))
    path = str(tmp_path / "mid.snap")
    save_snapshot(simulation.world, path)
    return s, path


def test_entries_survive_a_snapshot_and_an_old_one_shows_them_unknown(world, tmp_path):
    """A snapshot keeps the entries; a session stored before entries were recorded (no series_entries array, no
    onset_states or removal_states in its record) loads, with null entries, onsets and removals for the ticks it
    stored and counts from the first round run after; its onsets and removals are its states' defaults."""
    s, path = _snapshot_then_strip(world, tmp_path)
    restored = load_snapshot(path)
    assert series_dict(restored.sessions[0]) == series_dict(s)
    rec, arrays = s.to_record(), {k: np.array(v, copy=True) for k, v in s.arrays().items()}
    del arrays["series_entries"]
    rec.pop("onset_states")
    rec.pop("removal_states")
    old = PropagationSession.from_record(rec, arrays, world.n)
    assert old.onset_states == (2,) and old.removal_states == (3,)
    x = series_dict(old)
    stored = len(x["tick"])
    assert stored == 5 and x["S"] == series_dict(s)["S"]
    counts = ("new.S", "new.E", "new.I", "new.R", "onsets", "removals")
    assert all(x[k] == [None] * stored for k in counts)
    json.dumps(x, allow_nan=False)  # null, not NaN
    twin = PropagationSession.from_record(old.to_record(), old.arrays(), world.n)  # saved again, loads again
    assert series_dict(twin) == x
    restored.sessions[0] = old  # the old session goes on: its next rounds count entries
    before = old.state.copy()
    asyncio.run(Simulation(restored, registry=REGISTRY, plugin_budget=0).step())
    x = series_dict(old)
    entered, _ = entries_of(np.array([before, old.state]), 4)
    assert [x[f"new.{n}"][stored] for n in "SEIR"] == entered[1].tolist() and x["onsets"][stored] == entered[1, 2]


@pytest.mark.parametrize("damage", ["negative", "shape", "row", "seeding"])
def test_damaged_stored_entries_are_refused(world, tmp_path, damage):
    s, _ = _snapshot_then_strip(world, tmp_path)
    rec, arrays = s.to_record(), {k: np.array(v, copy=True) for k, v in s.arrays().items()}
    entries = arrays["series_entries"]
    if damage == "negative":
        entries[3, 1] = -5
    elif damage == "shape":
        arrays["series_entries"] = entries[:-1]
    elif damage == "row":  # fewer entries into R than R grew by
        entries[1:, 3] = 0
        entries[1:, 2] += 1
    else:
        entries[0, 2] += 1
    with pytest.raises(ValueError, match="series_entries"):
        PropagationSession.from_record(rec, arrays, world.n)


def test_a_models_declaration_is_checked_when_it_is_defined():
    class Good(PropagationModel):
        name = "good-onsets"
        states = ("S", "E", "I", "R")
        adopted_states = (1, 2, 3)
        transmitting_states = (2,)
        seed_state = 2

        def step(self, ctx):
            return StepResult.nothing()

    assert Good.counted_onsets() == (2,) and Good.counted_removals() == (3,)
    with pytest.raises(TypeError, match=r"model bad: onset_states holds 4, but the states that can be entered"):

        class Bad(PropagationModel):
            name = "bad"
            states = ("S", "I", "R")
            onset_states = (4,)

    with pytest.raises(TypeError, match="removal_states 'R' must be a tuple of state numbers"):

        class Worse(PropagationModel):
            name = "worse"
            states = ("S", "I", "R")
            removal_states = "R"  # type: ignore[assignment]


BAD_PLUGIN = """
from sim.plugin import PropagationModel, StepResult

class Mine(PropagationModel):
    name = "mine"
    version = "1.0"
    description = "a model whose removals name a state it does not have"
    states = ("S", "I")
    removal_states = (2,)

    def step(self, ctx):
        return StepResult.nothing()
"""


def test_plugins_list_says_what_each_model_counts(tmp_path):
    """``agora plugins list --json`` gives each model's counts; its text says them in a line; a plugin file whose
    declaration is wrong is listed as failed with the sentence."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "mine.py").write_text(BAD_PLUGIN)
    out = agora(tmp_path, "plugins", "list", "--plugins", str(folder), "--json")
    assert out.returncode == 0, out.stderr
    rows = {r["name"]: r for r in json.loads(out.stdout)["plugins"]}
    assert rows["seir"]["series"] == {
        "new": ["E", "I", "R"],
        "onsets": ["I"],
        "removals": ["R"],
        "entries": ["new.S", "new.E", "new.I", "new.R"],
    }
    assert rows["ic"]["series"]["onsets"] == ["adopted"] and rows["ic"]["series"]["removals"] == []
    assert rows["mine"]["status"] == "failed" and "removal_states holds 2" in rows["mine"]["error"]
    text = agora(tmp_path, "plugins", "list").stdout
    assert (
        "series: new = agents newly reached (first entry into E, I or R); onsets = entries into I; removals = "
        "entries into R; new.STATE for each state" in text
    )


def test_run_series_file_holds_the_entries(world_file, tmp_path):
    target = tmp_path / "s.csv"
    out = agora(
        tmp_path, "run", str(world_file), "--inject", "x", "--model", "seir", "--param", "beta=0.1",
        "--steps", "12", "--series", str(target), "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    series = json.loads(out.stdout)["runs"][0]["series"]
    with open(target, newline="") as fh:
        rows = list(csv.reader(fh))[1:]
    got: dict[str, list[int]] = {}
    for _, _, measure, value in rows:
        got.setdefault(measure, []).append(int(value))
    for k in ("new.S", "new.E", "new.I", "new.R", "onsets", "removals"):
        assert got[k] == series[k], k
    e, i = np.asarray(got["E"]), np.asarray(got["new.I"])
    assert np.array_equal(np.asarray(got["new.E"])[1:], np.diff(e) + i[1:])


def test_a_fit_observes_onsets_and_refuses_removals_a_model_lacks(tmp_path):
    """``onsets`` is a column a fit compares (a count per tick: 0 after a run ended); ic has no removals."""
    w = sim.new_world(str(tmp_path / "w.db"), agents=300, avg_degree=6, seed=3)
    obs = tmp_path / "obs.csv"
    obs.write_text("tick,onsets\n" + "".join(f"{t},{v}\n" for t, v in enumerate([5, 3, 4, 2, 1, 0, 0, 0])))
    fit = w.fit(observed=str(obs), model="ic", params={"p": (0.01, 0.5)}, budget=200, workers=1, seed=1)
    assert fit.observed["columns"] == ["onsets"] and 0.01 <= fit.params["p"].median <= 0.5
    obs.write_text("tick,removals\n0,0\n1,1\n")
    with pytest.raises(sim.BadParameterError, match="model 'ic' has no removed state, so its series have no removals"):
        w.fit(observed=str(obs), model="ic", params={"p": (0.01, 0.5)}, budget=200, workers=1)


def test_seir_on_a_chain_is_exact():
    """beta = sigma = gamma = 1 on the chain 0 -> 1 -> 2 -> 3, seeded at 0: in a round an infectious agent infects
    its follower (E) and recovers; the next round that follower turns infectious (I)."""
    src, dst = np.array([0, 1, 2], dtype=np.int32), np.array([1, 2, 3], dtype=np.int32)
    w = build_world("chain", 0, 4, src, dst, trust=np.ones(3, dtype=np.float32))
    simulation = Simulation(w, registry=REGISTRY, plugin_budget=0)
    s = simulation.inject("m", model="seir", params={"beta": 1.0, "sigma": 1.0, "gamma": 1.0}, seeds="ids:0")
    asyncio.run(simulation.run(until_done=True, max_ticks=20))
    x = series_dict(s)
    assert x["E"] == [0, 1, 0, 1, 0, 1, 0, 0] and x["I"] == [1, 0, 1, 0, 1, 0, 1, 0]
    assert x["new"] == [1, 1, 0, 1, 0, 1, 0, 0]  # the seed, then entries into E
    assert x["new.S"] == [0] * 8
    assert x["new.E"] == [0, 1, 0, 1, 0, 1, 0, 0]
    assert x["new.I"] == x["onsets"] == [1, 0, 1, 0, 1, 0, 1, 0]
    assert x["new.R"] == x["removals"] == [0, 1, 0, 1, 0, 1, 0, 1]


def test_after_a_run_ended_its_counts_per_tick_are_0_everywhere():
    """A run that ended before another: padded, its state keeps its last value and new.I, onsets and removals
    are 0 — in pad_series, a plot's run matrix, a forecast's band and a fit's curves alike."""
    from sim.analysis.plot import run_matrix
    from sim.model.series import pad_series
    from sim.runs.fit.summaries import SeriesSummary
    from sim.runs.forecast import _band
    from sim.store.seriesio import table_from_records

    short = {"tick": [0, 1], "I": [3, 2], "new.I": [3, 1], "onsets": [3, 1], "removals": [0, 2]}
    long = {
        "tick": [0, 1, 2, 3],
        "I": [3, 4, 4, 1],
        "new.I": [3, 2, 1, 0],
        "onsets": [3, 2, 1, 0],
        "removals": [0, 1, 1, 3],
    }
    padded = pad_series(short, 4)
    assert padded["I"] == [3, 2, 2, 2] and padded["new.I"] == padded["onsets"] == [3, 1, 0, 0]
    assert padded["removals"] == [0, 2, 0, 0]
    table = table_from_records([{"keys": {}, "run": 0, "series": short}, {"keys": {}, "run": 1, "series": long}])
    assert run_matrix(table, (), "I")[0].tolist() == [3, 2, 2, 2]
    assert run_matrix(table, (), "removals")[0].tolist() == [0, 2, 0, 0]
    band = _band([{"series": short}, {"series": short}], 0)
    assert band["I"]["median"] == [3, 2] and band["tick"] == [0, 1]
    band = _band([{"series": long}, {"series": short}], 0)
    assert band["onsets"]["median"] == [3, 1.5, 0.5, 0] and band["I"]["median"][3] == 1.5
    fit = SeriesSummary({"onsets": np.zeros(4), "I": np.zeros(4)}, np.arange(4), ("S", "I", "R"), "sir")
    curves = fit.curves([{"series": short}])
    assert curves["onsets"].tolist() == [[3, 1, 0, 0]] and curves["I"].tolist() == [[3, 2, 2, 2]]
