"""A model plugin's named observables (issue 74): ``observables = {"admissions": (2,)}`` gives the series'
``new.admissions``, the entries into its states per tick, which a fit observes through a channel of its own
beside the cases, a design measures and ``agora plugins list`` names; declarations are checked when the class is
defined, and a stored session keeps them.

The model is a file written here (a hospital stage: S, I, H, R, D), run on the engine as a user's plugin is.
"""

from __future__ import annotations

import asyncio
import json
import textwrap
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import agora

from sim.engine.requests import split_params
from sim.engine.simulation import Simulation
from sim.lab.agents import load_world
from sim.live.sessionviews import SessionViews
from sim.model.registry import plugin_registry
from sim.model.series import series_dict
from sim.model.session import PropagationSession
from sim.plugin import PropagationModel, StepResult
from sim.runs.design import check_series_measure
from sim.runs.fit.reporting import thin
from sim.runs.fit.simulate import Simulator

MODEL = textwrap.dedent(
    '''
    import numpy as np

    from sim.plugin import Param, PropagationModel, StepResult, first_hits


    class SIHRD(PropagationModel):
        """S, I, H, R, D: infectious agents recover (gamma) or are admitted (h); admitted ones leave (exit), a
        fifth of them dead."""

        name = "sihrd"
        version = "1.0"
        description = "SIR with a hospital: the infectious recover or are admitted; the admitted leave or die."
        params = {
            "beta": Param(float, 0.1, 0.0, 1.0, "probability that an infectious agent infects a follower"),
            "gamma": Param(float, 0.2, 0.0, 1.0, "probability per round that an infectious agent recovers"),
            "h": Param(float, 0.05, 0.0, 1.0, "probability per round that an infectious agent is admitted"),
            "exit": Param(float, 0.25, 0.0, 1.0, "probability per round that an admitted agent leaves"),
        }
        states = ("S", "I", "H", "R", "D")
        adopted_states = (1, 2, 3, 4)
        transmitting_states = (1,)
        transmit = "while"
        seed_state = 1
        observables = {"admissions": (2,), "severe": (2, 4)}

        def start(self, ctx):
            ctx.store["hospital"] = np.empty(0, dtype=np.int64)

        def step(self, ctx):
            infectious = ctx.frontier
            targets, eid = ctx.gather_targets()
            open_ = ctx.state[targets] == 0
            targets, eid = targets[open_], eid[open_]
            hit = ctx.random_edges(eid) < self.p["beta"]
            infected, first = first_hits(targets[hit], np.arange(int(hit.sum())))
            sources = ctx.edge_sources(eid[hit][first])
            u = ctx.random_agents(infectious)
            gamma, h = self.p["gamma"], self.p["h"]
            recovered, admitted = infectious[u < gamma], infectious[(u >= gamma) & (u < gamma + h)]
            ward = ctx.store["hospital"]
            ward = ward[ctx.state[ward] == 2] if ward.size else ward
            v = ctx.random_agents(ward)
            out = v < self.p["exit"]
            dead, left = ward[v < self.p["exit"] / 5], ward[out & (v >= self.p["exit"] / 5)]
            ctx.store["hospital"] = np.union1d(ward[~out], admitted).astype(np.int64)
            groups = [(infected, 1), (recovered, 3), (admitted, 2), (left, 3), (dead, 4)]
            agents = np.concatenate([g.astype(np.int64) for g, _ in groups])
            states = np.concatenate([np.full(g.size, s, dtype=np.int8) for g, s in groups])
            srcs = np.concatenate([sources.astype(np.int32), np.full(agents.size - infected.size, -1, np.int32)])
            return StepResult(agents, states, srcs, attempts=int(eid.size), exposed=targets)

        def is_done(self, ctx):
            return ctx.frontier.size == 0 and not ctx.store.get("hospital", np.empty(0)).size
    '''
)
BETA, GAMMA, H, REPORT, IHR = 0.12, 0.2, 0.05, 0.5, 0.8
TICKS = 40


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("observables")
    (path / "plugins").mkdir()
    (path / "plugins" / "sihrd.py").write_text(MODEL)
    assert agora(path, "new", "w.db", "--agents", "1200", "--avg-degree", "8", "--seed", "4").returncode == 0
    return path


@pytest.fixture(scope="module")
def truth(folder):
    """One run of the model: its series, and a file of the cases (onsets at half) and the admissions at IHR."""
    world, registry = load_world(str(folder / "w.db")), plugin_registry(None, [str(folder / "plugins")])
    priors, fixed = split_params(["beta=0.01..0.5", f"gamma={GAMMA}", f"h={H}"])
    simulator = Simulator(
        world, registry, model="sihrd", priors=priors, fixed=fixed, seeds="random:5", steps=TICKS, max_ticks=TICKS
    )
    series = simulator.runs(np.array([BETA]), 5)[0]["series"]
    rng = np.random.default_rng(3)
    onsets, admissions = np.zeros(TICKS, dtype=np.int64), np.zeros(TICKS, dtype=np.int64)
    onsets[: len(series["onsets"])] = series["onsets"][:TICKS]
    admissions[: len(series["new.admissions"])] = series["new.admissions"][:TICKS]
    cases, hosp = thin(onsets, REPORT, rng), thin(admissions, IHR, rng)
    assert cases.sum() > 100 and hosp.sum() > 20  # an epidemic, and admissions to see
    rows = "".join(f"{d},{c},{x}\n" for d, (c, x) in enumerate(zip(cases, hosp, strict=True)))
    (folder / "c.csv").write_text("day,cases,hosp\n" + rows)
    return series


def test_an_observable_counts_the_entries_into_its_states(truth):
    entries = {s: np.array(truth[f"new.{s}"]) for s in "SIHRD"}
    assert truth["new.admissions"] == entries["H"].tolist()
    assert truth["new.severe"] == (entries["H"] + entries["D"]).tolist()
    assert sum(truth["new.admissions"]) > 0 and sum(entries["D"]) > 0  # both states were entered


def test_a_fit_observes_the_admissions_through_their_own_channel(folder, truth):
    out = agora(
        folder, "fit", "w.db", "--plugins", "plugins", "--observed", "c.csv", "--model", "sihrd", "--tick", "1d",
        "--observe", "cases=onsets", "--observe", "hosp=new.admissions", "--param", "beta=0.02..0.4",
        "--param", f"gamma={GAMMA}", "--param", f"h={H}", "--param", "report=0.1..1", "--param", f"ihr={IHR}",
        "--channel", "hosp:ihr", "--seeds", "random:5", "--budget", "300", "--seed", "2", "--workers", "1",
        "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    lo, hi = data["params"]["beta"]["ci90"]
    assert lo <= BETA <= hi and hi - lo < 0.2, (lo, hi)
    channels = data["observed"]["observation"]["channels"]
    assert [(c["column"], c["fraction"], c["value"]) for c in channels] == [("new.admissions", "ihr", IHR)]


def test_plugins_list_names_the_observables(folder):
    out = agora(folder, "plugins", "list", "--plugins", "plugins", "--json")
    assert out.returncode == 0, out.stderr
    row = next(r for r in json.loads(out.stdout)["plugins"] if r["name"] == "sihrd")
    assert row["series"]["new.admissions"] == ["H"] and row["series"]["new.severe"] == ["H", "D"]
    text = agora(folder, "plugins", "list", "--plugins", "plugins")
    assert "new.severe = entries into H or D" in text.stdout


def test_a_design_measures_an_observable(folder):
    cls = plugin_registry(None, [str(folder / "plugins")]).model("sihrd")
    check_series_measure(cls, "sihrd", ("new.admissions", 10), "series:new.admissions@10")
    with pytest.raises(Exception, match="has no 'new.discharges'"):
        check_series_measure(cls, "sihrd", ("new.discharges", 10), "series:new.discharges@10")


def test_a_stored_session_keeps_its_observables(folder):
    world, registry = load_world(str(folder / "w.db")), plugin_registry(None, [str(folder / "plugins")])
    simulation = Simulation(world.fork(), registry=registry, plugin_budget=0)
    s = simulation.inject("m", model="sihrd", params={"beta": 0.2}, seeds="random:5", seed=1)
    for _ in range(6):
        asyncio.run(simulation.step())
    views = SessionViews(SimpleNamespace(sim=simulation))  # what the TUI's overlay draws data against
    assert "new.admissions" in views.measure_names(s.id) and "new.severe" in views.measure_names(s.id)
    drawn = views.measures(s.id, ["new.admissions", "new.severe"])
    assert drawn["new.admissions"].tolist() == series_dict(s)["new.admissions"]
    assert drawn["new.severe"].tolist() == series_dict(s)["new.severe"]
    rec, arrays = s.to_record(), s.arrays()
    assert rec["observables"] == {"admissions": [2], "severe": [2, 4]}
    again = PropagationSession.from_record(rec, arrays, world.n)
    assert again.observables == s.observables and series_dict(again) == series_dict(s)
    old = {k: v for k, v in rec.items() if k != "observables"}  # a record of an older version
    assert PropagationSession.from_record(old, arrays, world.n).observables == {}
    with pytest.raises(ValueError, match="states that can be entered are 1..4"):
        PropagationSession.from_record({**rec, "observables": {"x": [7]}}, arrays, world.n)


@pytest.mark.parametrize(
    ("observables", "said"),
    [
        ({"H": (2,)}, "observables names 'H', which the series have already (new.H)"),
        ({"onsets": (2,)}, "observables names 'onsets'"),
        ({"admissions": (5,)}, "observables['admissions'] holds 5, but the states that can be entered are 1..4"),
        ({"admissions": ()}, "observables['admissions'] names no state"),
        ({"new admissions": (2,)}, "observables has the name 'new admissions': give a word"),
        ([("admissions", (2,))], "observables [('admissions', (2,))] must be a dict"),
        ({"admissions": "H"}, "observables['admissions'] 'H' must be a tuple of state numbers"),
    ],
)
def test_a_bad_declaration_fails_when_the_class_is_defined(observables, said):
    body = {
        "name": "bad",
        "states": ("S", "I", "H", "R", "D"),
        "adopted_states": (1, 2, 3, 4),
        "observables": observables,
        "step": lambda self, ctx: StepResult.nothing(),
    }
    with pytest.raises(TypeError, match="model bad: ") as caught:
        type("Bad", (PropagationModel,), body)
    assert said in str(caught.value)
