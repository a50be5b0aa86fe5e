"""Per-state time series: recorded by the engine for every model, exact on tiny graphs, kept through
world files and snapshots, and reported by ``agora run --json`` and ``--series`` in the documented shapes."""

from __future__ import annotations

import asyncio
import csv
import gzip
import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import agora, digest

from sim.core.world import build_world
from sim.engine.simulation import Simulation
from sim.model.registry import Registry
from sim.model.series import MOMENTS, pad_series, series_dict, variable_moments
from sim.model.session import PropagationSession
from sim.plugin import PropagationModel, StepResult, Variable
from sim.store.snapshot import load_snapshot, save_snapshot

REGISTRY = Registry(entry_points=False, env=False)
BUILTIN_MODELS = sorted(i.name for i in REGISTRY.list("model") if i.source == "builtin")


def tiny_world(n: int, edges: list[tuple[int, int]]):
    src = np.array([a for a, _ in edges], dtype=np.int32)
    dst = np.array([b for _, b in edges], dtype=np.int32)
    return build_world("tiny", 0, n, src, dst, trust=np.ones(len(edges), dtype=np.float32))


def run_to_end(world, model: str, params: dict, seeds: str, max_ticks: int = 200, seed: int = 0):
    sim = Simulation(world, registry=REGISTRY, plugin_budget=0)
    s = sim.inject("m", model=model, params=params, seeds=seeds, seed=seed)
    asyncio.run(sim.run(until_done=True, max_ticks=max_ticks))
    return s


def test_the_builtin_models_are_all_checked():
    assert {"ic", "lt", "threshold", "sir", "sis", "seir", "viral", "diffusion", "hybrid"} <= set(BUILTIN_MODELS)


@pytest.mark.parametrize("model", BUILTIN_MODELS)
def test_every_model_records_state_counts_equal_to_a_full_count_at_every_tick(small_world, model):
    """The counts are kept from the agents that change state; after every tick they must equal a full
    bincount of the state array, sum to the number of agents, and line up with reached and new."""
    sim = Simulation(small_world, registry=REGISTRY, plugin_budget=0)
    params = {"sis": {"beta": 0.1, "gamma": 0.3}}.get(model, {})
    s = sim.inject("m", model=model, params=params, seeds="random:20", seed=3)
    full, moments = [], []
    for _ in range(40):
        asyncio.run(sim.step())
        if s.state.size:
            full.append(np.bincount(s.state, minlength=len(s.state_names)))
            moments.append(
                {f"{v}.{m}": x for v, col in s.variables.items() for m, x in zip(MOMENTS, variable_moments(col))}
            )
        if s.done:
            break
    assert s.status in ("running", "completed"), s.error
    series = series_dict(s)
    names = list(s.state_names)
    measures = [f"{v}.{m}" for v in s.variables for m in MOMENTS]
    tree = ["depth", "breadth"] if s.gives_sources else []
    counts = [*(f"new.{x}" for x in names), "onsets", *(["removals"] if s.removal_states else [])]
    assert list(series) == ["tick", *names, "reached", "new", *tree, *counts, *measures]
    ticks = len(series["tick"])
    assert series["tick"] == list(range(ticks)) and ticks == s.round + 1 == len(full)
    for t in range(ticks):
        row = [series[k][t] for k in names]
        assert row == full[t].tolist(), (t, row, full[t])
        assert sum(row) == small_world.n
        assert {k: series[k][t] for k in measures} == pytest.approx(moments[t]), t
    assert series["reached"][-1] == s.reached and sum(series["new"]) == s.reached
    # Tick 0: the seeds, and any agent the model's start put in an adopted state (an opinion model's
    # agents already on the message's side).
    assert s.seeds_count == 20 and series["new"][0] >= 20
    assert series["new"][0] == series["reached"][0] == sum(int(full[0][a]) for a in s.adopted_states)
    assert np.all(np.diff(series["reached"]) >= 0)


def test_ic_on_a_chain_is_exact():
    s = run_to_end(tiny_world(3, [(0, 1), (1, 2)]), "ic", {"p": 1.0}, "ids:0")
    assert series_dict(s) == {
        "tick": [0, 1, 2, 3],
        "susceptible": [2, 1, 0, 0],
        "adopted": [1, 2, 3, 3],
        "reached": [1, 2, 3, 3],
        "new": [1, 1, 1, 0],
        "depth": [0, 1, 2, 2],
        "breadth": [1, 1, 1, 1],
        "new.susceptible": [0, 0, 0, 0],
        "new.adopted": [1, 1, 1, 0],
        "onsets": [1, 1, 1, 0],
    }


def test_sir_on_a_chain_is_exact_with_named_states():
    """beta = gamma = 1: each infectious agent infects its follower, then recovers, in the same round."""
    s = run_to_end(tiny_world(3, [(0, 1), (1, 2)]), "sir", {"beta": 1.0, "gamma": 1.0}, "ids:0")
    assert series_dict(s) == {
        "tick": [0, 1, 2, 3],
        "S": [2, 1, 0, 0],
        "I": [1, 1, 1, 0],
        "R": [0, 1, 2, 3],
        "reached": [1, 2, 3, 3],
        "new": [1, 1, 1, 0],
        "depth": [0, 1, 2, 2],
        "breadth": [1, 1, 1, 1],
        "new.S": [0, 0, 0, 0],
        "new.I": [1, 1, 1, 0],
        "new.R": [0, 1, 1, 1],
        "onsets": [1, 1, 1, 0],
        "removals": [0, 1, 1, 1],
    }


def test_seir_names_its_four_states():
    s = run_to_end(tiny_world(3, [(0, 1), (1, 2)]), "seir", {"beta": 1.0, "sigma": 1.0, "gamma": 1.0}, "ids:0")
    series = series_dict(s)
    assert list(series)[1:5] == ["S", "E", "I", "R"]
    assert series["E"][1] == 1 and series["R"][-1] == 3


def test_sis_shows_who_is_infected_now_beside_reached():
    """A mutual pair with beta = gamma = 1: the infection flips between the two agents for ever, so one
    agent is infectious at every tick while reached stays at 2."""
    world = tiny_world(2, [(0, 1), (1, 0)])
    sim = Simulation(world, registry=REGISTRY, plugin_budget=0)
    s = sim.inject("m", model="sis", params={"beta": 1.0, "gamma": 1.0}, seeds="ids:0")
    asyncio.run(sim.run(ticks=6))
    series = series_dict(s)
    assert series["tick"] == [0, 1, 2, 3, 4, 5]  # tick 1 seeds (series tick 0), ticks 2..6 are rounds 1..5
    assert series["I"] == [1] * 6 and series["S"] == [1] * 6
    assert series["reached"] == [1, 2, 2, 2, 2, 2] and series["new"] == [1, 1, 0, 0, 0, 0]


def test_pad_series_carries_states_and_pads_new_with_zero():
    series = {"tick": [0, 1], "S": [2, 1], "I": [1, 2], "reached": [1, 2], "new": [1, 1]}
    assert pad_series(series, 4) == {
        "tick": [0, 1, 2, 3],
        "S": [2, 1, 1, 1],
        "I": [1, 2, 2, 2],
        "reached": [1, 2, 2, 2],
        "new": [1, 1, 0, 0],
    }
    assert pad_series(series, 2) is series


class Halving(PropagationModel):
    """Every round each agent's x halves (x starts uniform in [0, 1], seeds at 1); nobody adopts."""

    name = "halving"
    version = "1.0"
    description = "x halves every round"
    variables = {"x": Variable(0.0, 1.0, seed_value=1.0)}
    transmitting_states = ()

    def step(self, ctx):
        return StepResult.nothing(variables={"x": ctx.variables["x"] / 2})

    def is_done(self, ctx):
        return ctx.round >= 3


def test_continuous_variables_are_recorded_as_four_moments(small_world):
    """A model's declared variable appears as NAME.mean, NAME.std, NAME.min and NAME.max at every tick,
    each the moment of the column after that tick's round."""
    registry = Registry(entry_points=False, env=False)
    registry.register(Halving)
    sim = Simulation(small_world, registry=registry, plugin_budget=0)
    s = sim.inject("m", model="halving", seeds="random:5", seed=1)
    asyncio.run(sim.run(until_done=True, max_ticks=20))
    assert s.status == "completed" and s.round == 3
    series = series_dict(s)
    assert [k for k in series if k.startswith("x.")] == ["x.mean", "x.std", "x.min", "x.max"]
    x = s.variables["x"] * 2**s.round  # the starting column
    assert x.max() == 1.0 and np.count_nonzero(x == 1.0) >= 5
    for t in range(len(series["tick"])):
        col = x / 2**t
        assert series["x.mean"][t] == pytest.approx(float(col.mean()))
        assert series["x.std"][t] == pytest.approx(float(col.std()))
        assert series["x.min"][t] == float(col.min()) and series["x.max"][t] == float(col.max())


def test_series_survive_a_snapshot_and_continue_exactly(tmp_path, small_world):
    params = {"beta": 0.08, "gamma": 0.2}
    whole = run_to_end(small_world.fork(), "sir", params, "random:10", seed=4)
    world = small_world.fork()
    sim = Simulation(world, registry=REGISTRY, plugin_budget=0)
    sim.inject("m", model="sir", params=params, seeds="random:10", seed=4)
    asyncio.run(sim.run(ticks=5))
    path = str(tmp_path / "mid.snap")
    save_snapshot(world, path)
    restored = load_snapshot(path)
    s = restored.sessions[0]
    assert series_dict(s)["tick"] == [0, 1, 2, 3, 4]
    sim2 = Simulation(restored, registry=REGISTRY, plugin_budget=0)
    asyncio.run(sim2.run(until_done=True, max_ticks=200))
    assert series_dict(s) == series_dict(whole)


def test_series_survive_a_world_file(tmp_path, small_world):
    from sim.store.worldfile import open_world, save_world

    world = small_world.fork()
    sim = Simulation(world, registry=REGISTRY, plugin_budget=0)
    s = sim.inject("m", model="seir", params={"beta": 0.1}, seeds="random:10", seed=2)
    asyncio.run(sim.run(ticks=8))
    path = str(tmp_path / "w.db")
    asyncio.run(save_world(world, path))
    again = asyncio.run(open_world(path))
    assert series_dict(again.sessions[0]) == series_dict(s)


def _stored(s: PropagationSession):
    return s.to_record(), {k: np.array(v, copy=True) for k, v in s.arrays().items()}


def test_a_session_stored_before_series_starts_its_series_at_the_stored_round(small_world):
    s = run_to_end(small_world.fork(), "ic", {"p": 0.05}, "random:10", max_ticks=4)
    rec, arrays = _stored(s)
    del arrays["series_counts"]
    rec.pop("series_from")
    old = PropagationSession.from_record(rec, arrays, small_world.n)
    series = series_dict(old)
    assert series["tick"] == [s.round]
    assert series["reached"] == [s.reached] and sum(series[k][0] for k in old.state_names) == small_world.n


@pytest.mark.parametrize("damage", ["sum", "shape", "dtype", "start"])
def test_damaged_stored_series_are_refused(small_world, damage):
    s = run_to_end(small_world.fork(), "ic", {"p": 0.05}, "random:10", max_ticks=4)
    rec, arrays = _stored(s)
    if damage == "sum":
        arrays["series_counts"][1, 0] += 1
    elif damage == "shape":
        arrays["series_counts"] = arrays["series_counts"][:-1]
    elif damage == "dtype":
        arrays["series_counts"] = arrays["series_counts"].astype(np.int32)
    else:
        rec["series_from"] = 99
    with pytest.raises(ValueError, match="series"):
        PropagationSession.from_record(rec, arrays, small_world.n)


# -- the command line ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("series")
    out = agora(folder, "new", "w.db", "--agents", "2500", "--seed", "3")
    assert out.returncode == 0, out.stderr
    return folder / "w.db"


def test_run_json_has_a_series_per_run(world_file):
    out = agora(
        world_file.parent,
        "run",
        str(world_file),
        "--until-done",
        "--inject",
        "x",
        "--model",
        "sir",
        "--param",
        "beta=0.1",
        "--runs",
        "3",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert len(data["runs"]) == 3
    for run in data["runs"]:
        series = run["series"]
        assert list(series) == [
            "tick",
            "S",
            "I",
            "R",
            "reached",
            "new",
            "depth",
            "breadth",
            "new.S",
            "new.I",
            "new.R",
            "onsets",
            "removals",
        ]
        n = len(series["tick"])
        assert n == run["ticks"] and all(len(v) == n for v in series.values())
        assert series["tick"] == list(range(n))
        assert all(series["S"][t] + series["I"][t] + series["R"][t] == data["agents"] for t in range(n))
        assert series["reached"][-1] == run["reached"] and series["I"][-1] == 0
        assert run["status"] == "completed"
    lo, hi = data["ci95"]
    assert 0 <= lo <= data["mean_reached"] <= hi <= data["agents"]


def read_csv(path) -> list[list[str]]:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", newline="") as fh:
        return list(csv.reader(fh))


@pytest.mark.parametrize("name", ["s.csv", "s.csv.gz"])
def test_run_series_file_is_tidy_long_format(world_file, tmp_path, name):
    target = tmp_path / name
    out = agora(
        tmp_path,
        "run",
        str(world_file),
        "--until-done",
        "--inject",
        "x",
        "--model",
        "sir",
        "--runs",
        "2",
        "--series",
        str(target),
        "--json",
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    rows = read_csv(target)
    assert rows[0] == ["run", "tick", "measure", "value"]
    expected = [
        [str(r), str(t), m, str(run["series"][m][t])]
        for r, run in enumerate(data["runs"])
        for t in run["series"]["tick"]
        for m in ("S", "I", "R", "reached", "new", "depth", "breadth", "new.S", "new.I", "new.R", "onsets", "removals")
    ]
    assert rows[1:] == expected
    assert data["series_file"]["rows"] == len(expected)


def test_parquet_series_round_trips(world_file, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    target = tmp_path / "s.parquet"
    out = agora(
        tmp_path,
        "run",
        str(world_file),
        "--steps",
        "5",
        "--inject",
        "x",
        "--model",
        "ic",
        "--runs",
        "2",
        "--series",
        str(target),
        "--json",
    )
    assert out.returncode == 0, out.stderr
    table = pq.read_table(target).to_pydict()
    assert list(table) == ["run", "tick", "measure", "value"]
    data = json.loads(out.stdout)
    assert len(table["run"]) == sum(len(r["series"]["tick"]) * 9 for r in data["runs"])
    assert table["measure"][:6] == ["susceptible", "adopted", "reached", "new", "depth", "breadth"]


def test_parquet_without_pyarrow_is_exit_2_naming_the_extra(world_file, tmp_path):
    before = digest(world_file)
    code = (
        "import sys; sys.modules['pyarrow'] = None; sys.modules['pyarrow.parquet'] = None; "
        "from sim.cli.main import main; sys.exit(main(sys.argv[1:]))"
    )
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "run",
            str(world_file),
            "--steps",
            "3",
            "--inject",
            "x",
            "--series",
            str(tmp_path / "s.parquet"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 2, out.stderr
    assert out.stderr.count("\n") == 1 and "agora-sim[parquet]" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "s.parquet").exists()
    assert digest(world_file) == before


def test_run_plot_draws_the_series(world_file, tmp_path):
    target = tmp_path / "f.png"
    out = agora(
        tmp_path,
        "run",
        str(world_file),
        "--until-done",
        "--inject",
        "x",
        "--model",
        "sir",
        "--runs",
        "3",
        "--plot",
        str(target),
        "--json",
    )
    assert out.returncode == 0, out.stderr
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads(out.stdout)["plot"]["output"] == str(target)


def test_a_persisted_run_reports_its_series_too(world_file, tmp_path):
    world = tmp_path / "p.db"
    world.write_bytes(world_file.read_bytes())
    out = agora(tmp_path, "run", str(world), "--steps", "4", "--inject", "x", "--json")
    assert out.returncode == 0, out.stderr
    series = json.loads(out.stdout)["runs"][0]["series"]
    assert series["tick"] == [0, 1, 2, 3]
    assert agora(tmp_path, "check", str(world)).returncode == 0


def test_until_done_stopped_by_max_ticks_says_so(world_file, tmp_path):
    out = agora(
        tmp_path,
        "run",
        str(world_file),
        "--until-done",
        "--max-ticks",
        "5",
        "--inject",
        "x",
        "--model",
        "sis",
        "--param",
        "beta=0.2",
        "--param",
        "gamma=0.05",
        "--runs",
        "2",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert [r["status"] for r in data["runs"]] == ["max-ticks", "max-ticks"]
    assert "max-ticks" in out.stderr and out.stderr.count("\n") == 1


def test_plain_output_is_a_table(world_file, tmp_path):
    out = agora(tmp_path, "run", str(world_file), "--until-done", "--inject", "x", "--runs", "3")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    header = next(line for line in lines if line.lstrip().startswith("run"))
    assert header.split()[:4] == ["run", "seed", "status", "reached"]
    assert "{" not in out.stdout and "'" not in out.stdout
    assert sum(1 for line in lines if "completed" in line) == 3


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--steps", "3", "--seeds", "top:3"], "--seeds applies to an injected message"),
        (["--steps", "3", "--model", "sir"], "--model applies to an injected message"),
        (["--steps", "3", "--param", "p=0.1"], "--param applies"),
        (["--steps", "3", "--topic", "sports"], "--topic applies"),
        (["--steps", "3", "--priority", "2"], "--priority applies"),
        (["--steps", "3", "--runs", "2"], "--runs applies"),
        (["--steps", "3", "--author", "1"], "--author applies"),
        (["--steps", "3", "--series", "x.csv"], "--series applies"),
        (["--steps", "3", "--inject", "x", "--max-ticks", "9"], "--max-ticks limits --until-done"),
        (
            ["--steps", "3", "--inject", "x", "--runs", "2", "--checkpoint-every", "5"],
            "with --runs the world file is not modified",
        ),
        (["--steps", "3", "--inject", "x", "--series", "x.txt"], ".csv"),
        (["--steps", "3", "--inject", "x", "--plot", "x.jpg"], ".png"),
        (["--steps", "3", "--inject", "x", "--force"], "--force overwrites"),
    ],
)
def test_run_refuses_options_it_would_ignore(world_file, tmp_path, args, needle):
    world = tmp_path / "r.db"
    world.write_bytes(world_file.read_bytes())
    before = digest(world)
    out = agora(tmp_path, "run", str(world), *args)
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.count("\n") == 1 and needle in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert digest(world) == before
    assert not (tmp_path / "x.csv").exists()


def test_an_existing_series_file_needs_force(world_file, tmp_path):
    target = tmp_path / "s.csv"
    target.write_text("keep")
    args = ("run", str(world_file), "--steps", "2", "--inject", "x", "--runs", "1", "--series", str(target))
    out = agora(tmp_path, *args)
    assert out.returncode == 2 and "--force" in out.stderr and target.read_text() == "keep"
    assert agora(tmp_path, *args, "--force").returncode == 0
    assert read_csv(target)[0] == ["run", "tick", "measure", "value"]


def test_bench_series_reports_the_recording_share_beside_a_baseline(tmp_path):
    """``agora bench series`` at a small size: every model's runs with and without recording reach the same
    agents (the benchmark refuses otherwise), the states sum to the agents at every tick, and the figures
    held to the target (the timed share of the session's time) and the baseline medians are all there."""
    out = agora(tmp_path, "bench", "series", "--agents", "20000", "--repeats", "2", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["benchmark"] == "series" and data["agents"] == 20000 and data["edges"] > 0
    assert set(data["models"]) == {"ic", "sir"}
    for name, m in data["models"].items():
        assert m["states_sum_to_agents"] is True, name
        assert m["ticks"] >= 2 and 0 < m["reached"] <= 20000, name
        assert len(m["seconds"]) == len(m["baseline_seconds"]) == 2, name
        assert 0 < m["recording_share_median"] < 1 and m["baseline_seconds_median"] > 0, name
    assert data["within_target"] == all(m["recording_share_median"] <= 0.05 for m in data["models"].values())
