"""The model contract beyond cascades: continuous per-agent variables, edge changes, declared ends, and
what ``agora plugins check`` and ``agora plugins list`` say about them."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import textwrap

import numpy as np
import pytest
from conftest import agora

from sim.authoring import check_plugin
from sim.core.world import build_world
from sim.engine.simulation import Simulation
from sim.model.registry import Registry
from sim.plugin import PropagationModel, StepResult, Variable
from sim.store.snapshot import load_snapshot, save_snapshot


def registry_with(*classes) -> Registry:
    registry = Registry(entry_points=False, env=False)
    for cls in classes:
        registry.register(cls)
    return registry


def ring(n: int):
    """A directed ring plus its reverse: every agent follows its two neighbours."""
    a = np.arange(n, dtype=np.int32)
    src = np.concatenate([a, (a + 1) % n]).astype(np.int32)
    dst = np.concatenate([(a + 1) % n, a]).astype(np.int32)
    return build_world("ring", 0, n, src, dst, trust=np.ones(src.size, dtype=np.float32))


class Averaging(PropagationModel):
    """x moves halfway to the mean of the agent's followees' x every round; ends when nothing moves."""

    name = "averaging"
    version = "1.0"
    description = "x moves halfway to the followees' mean"
    variables = {"x": Variable(0.0, 1.0, seed_value=1.0, help="a continuous opinion")}
    transmitting_states = ()

    def step(self, ctx):
        x = ctx.variables["x"]
        g = ctx.graph
        deg = np.diff(g.in_indptr)
        sums = np.bincount(np.repeat(np.arange(ctx.n), deg), weights=x[g.in_indices], minlength=ctx.n)
        mean = np.where(deg > 0, sums / np.maximum(deg, 1), x)
        new = x + 0.5 * (mean - x)
        ctx.store["moved"] = np.array([float(np.abs(new - x).max())])
        high = np.flatnonzero((new >= 0.5) & (ctx.state == 0))
        return StepResult(high, 1, variables={"x": new})

    def is_done(self, ctx):
        moved = ctx.store.get("moved")
        return moved is not None and moved[0] < 1e-9


class OutOfRange(Averaging):
    name = "out-of-range"

    def step(self, ctx):
        return StepResult.nothing(variables={"x": ctx.variables["x"] + 2.0})


class Undeclared(Averaging):
    name = "undeclared"

    def step(self, ctx):
        return StepResult.nothing(variables={"y": ctx.variables["x"]})


class Partial(Averaging):
    """Only the first three agents' x is set (to 0.25)."""

    name = "partial"

    def step(self, ctx):
        return StepResult.nothing(variables={"x": (np.array([0, 1, 2]), np.full(3, 0.25))})

    def is_done(self, ctx):
        return ctx.round >= 1


class Rewire(PropagationModel):
    """Every round each seed drops the edge to its next neighbour and follows the one after that instead."""

    name = "rewire"
    version = "1.0"
    description = "seeds rewire one edge a round"
    changes_edges = True
    transmitting_states = ()

    def step(self, ctx):
        n = ctx.n
        seeds = np.flatnonzero(ctx.state == 1)
        k = ctx.round + 1
        old = (seeds + k) % n
        new = (seeds + k + 1) % n
        return StepResult(np.empty(0, np.int64), 1, remove_edges=(seeds, old), add_edges=(seeds, new), new_trust=0.75)

    def is_done(self, ctx):
        return ctx.round >= 3


def run(world, cls, seeds="ids:0", ticks=None, **kw):
    sim = Simulation(world, registry=registry_with(cls), plugin_budget=0)
    s = sim.inject("m", model=cls.name, seeds=seeds, seed=kw.pop("seed", 0), **kw)
    if ticks is None:
        asyncio.run(sim.run(until_done=True, max_ticks=200))
    else:
        asyncio.run(sim.run(ticks=ticks))
    return sim, s


# -- continuous variables --------------------------------------------------------------------------


def test_a_variable_starts_uniform_from_the_session_seed_with_seeds_at_their_value():
    world = ring(500)
    _, a = run(world.fork(), Averaging, seeds="ids:3,7", ticks=1, seed=5)
    _, b = run(world.fork(), Averaging, seeds="ids:3,7", ticks=1, seed=5)
    _, c = run(world.fork(), Averaging, seeds="ids:3,7", ticks=1, seed=6)
    x = a.variables["x"]
    assert x.dtype == np.float64 and x.shape == (500,)
    assert np.array_equal(x, b.variables["x"]) and not np.array_equal(x, c.variables["x"])
    assert x[3] == x[7] == 1.0
    rest = np.delete(x, [3, 7])
    assert rest.min() >= 0.0 and rest.max() < 1.0 and abs(rest.mean() - 0.5) < 0.05


def test_a_variable_starts_from_the_world_column_it_names():
    class FromWorld(Averaging):
        name = "from-world"
        variables = {"x": Variable(0.0, 1.0, world_column="opinion")}

    world = ring(100)
    world.columns["opinion"] = np.linspace(-1.0, 2.0, 100)
    _, s = run(world, FromWorld, ticks=1)
    assert s.round == 0
    assert np.array_equal(s.variables["x"], np.clip(np.linspace(-1.0, 2.0, 100), 0.0, 1.0))


def test_averaging_converges_on_a_ring_and_ends_when_nothing_moves():
    """Reference: on a connected ring repeated averaging converges to one value (consensus); the model
    says it is done when the largest move falls under 1e-9, and the series show the spread closing."""
    world = ring(8)
    _, s = run(world, Averaging, seeds="ids:0")
    assert s.status == "completed"
    x = s.variables["x"]
    assert x.max() - x.min() < 1e-6
    from sim.model.series import series_dict

    series = series_dict(s)
    spread = np.array(series["x.max"]) - np.array(series["x.min"])
    assert spread[0] == pytest.approx(1.0, abs=0.3) and spread[-1] < 1e-6
    assert np.all(np.diff(spread) <= 1e-12)  # averaging never widens the range
    assert all(a + b == 8 for a, b in zip(series["susceptible"], series["adopted"]))


def test_a_value_outside_the_declared_range_fails_the_session_naming_it():
    _, s = run(ring(50), OutOfRange, ticks=3)
    assert s.status == "failed"
    assert "set variable x of agent 0 to" in s.error and "outside its declared range [0, 1]" in s.error


def test_an_undeclared_variable_fails_the_session():
    _, s = run(ring(50), Undeclared, ticks=3)
    assert s.status == "failed" and "returned variable 'y', which it does not declare (its variables: x)" in s.error


def test_a_pair_sets_some_agents_only():
    world = ring(50)
    _, s = run(world.fork(), Partial, seeds="ids:10")
    _, start = run(world.fork(), Partial, seeds="ids:10", ticks=1)
    x, x0 = s.variables["x"], start.variables["x"]
    assert list(x[:3]) == [0.25] * 3 and np.array_equal(x[3:], x0[3:])


def test_variables_survive_a_snapshot_and_the_run_continues_exactly(tmp_path):
    world = ring(300)
    _, whole = run(world.fork(), Averaging, seeds="ids:0,150", ticks=30)
    half_world = world.fork()
    sim, _ = run(half_world, Averaging, seeds="ids:0,150", ticks=12)
    path = str(tmp_path / "mid.snap")
    save_snapshot(half_world, path)
    loaded = load_snapshot(path)
    s = loaded.sessions[0]
    assert list(s.variables) == ["x"] and s.series.variables == ("x",)
    sim2 = Simulation(loaded, registry=registry_with(Averaging), plugin_budget=0)
    asyncio.run(sim2.run(ticks=18))
    assert np.array_equal(s.variables["x"], whole.variables["x"])
    assert np.array_equal(s.series.moments, whole.series.moments) and np.array_equal(
        s.series.counts, whole.series.counts
    )


def test_a_stored_variable_that_is_damaged_is_refused():
    from sim.model.session import PropagationSession

    world = ring(40)
    _, s = run(world, Averaging, ticks=3)
    rec, arrays = s.to_record(), dict(s.arrays())
    arrays["var.x"] = arrays["var.x"][:-1]
    with pytest.raises(ValueError, match="variable 'x'"):
        PropagationSession.from_record(rec, arrays, 40)
    arrays = dict(s.arrays())
    arrays["var.y"] = arrays["var.x"]
    with pytest.raises(ValueError, match="var.y is not one of its variables"):
        PropagationSession.from_record(rec, arrays, 40)


# -- edge changes ----------------------------------------------------------------------------------


def test_edge_changes_are_applied_between_ticks_and_keep_the_graph_consistent():
    world = ring(20)
    before = world.num_edges
    sim, s = run(world, Rewire, seeds="ids:0,10")
    assert s.status == "completed" and s.round == 3
    g = world.graph
    assert g.check() == []
    assert world.num_edges == before  # one removed, one added per seed per round
    assert (s.edges_removed, s.edges_added) == (6, 6)
    # Seed 0 dropped 0->1, 0->2, 0->3 in rounds 1..3 and follows 0->4 now (its ring edge to 19 stays).
    assert sorted(g.followers(0).tolist()) == [4, 19]
    assert sorted(g.followers(10).tolist()) == [9, 14]
    assert g.trust[g.edge_ids(np.array([0]), np.array([4]))[0]] == pytest.approx(0.75)


def test_an_edge_change_the_next_round_sees(tmp_path):
    """Round r's answer is merged before round r+1: the model's own ctx.graph shows it."""
    seen = []

    class Watching(Rewire):
        name = "watching"

        def step(self, ctx):
            seen.append(sorted(ctx.graph.followers(0).tolist()))
            return super().step(ctx)

    run(ring(20), Watching, seeds="ids:0")
    assert seen == [[1, 19], [2, 19], [3, 19]]


def test_bad_edge_answers_fail_the_session():
    class SelfLoop(Rewire):
        name = "self-loop"

        def step(self, ctx):
            return StepResult(np.empty(0, np.int64), 1, add_edges=(np.array([1]), np.array([1])))

    class Misaligned(Rewire):
        name = "misaligned"

        def step(self, ctx):
            return StepResult(np.empty(0, np.int64), 1, remove_edges=(np.array([1, 2]), np.array([3])))

    _, s = run(ring(20), SelfLoop, ticks=2)
    assert s.status == "failed" and "an edge from an agent to itself" in s.error
    _, s = run(ring(20), Misaligned, ticks=2)
    assert s.status == "failed" and "remove_edges of shapes (2,) and (1,)" in s.error


PLUGIN = """
import numpy as np
from sim.plugin import PropagationModel, StepResult


class Rewire(PropagationModel):
    name = "rewire"
    version = "1.0"
    description = "seeds rewire one edge a round"
    changes_edges = True
    transmitting_states = ()

    def step(self, ctx):
        seeds = np.flatnonzero(ctx.state == 1)
        g = ctx.graph
        first = g.out_indptr[seeds]
        has = g.out_indptr[seeds + 1] > first
        seeds, old = seeds[has], g.out_indices[first[has]]
        new = (old + 7) % ctx.n
        keep = new != seeds
        return StepResult(np.empty(0, np.int64), 1, remove_edges=(seeds, old), add_edges=(seeds[keep], new[keep]))

    def is_done(self, ctx):
        return ctx.round >= 4
"""


def test_edge_changes_reach_the_world_file_and_agora_check(tmp_path):
    """A run from the command line: the relationships table, the graph arrays and agora check agree."""
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "rewire.py").write_text(PLUGIN)
    assert agora(tmp_path, "new", "w.db", "--agents", "2000", "--seed", "4").returncode == 0
    out = agora(
        tmp_path,
        "run",
        "w.db",
        "--inject",
        "x",
        "--model",
        "rewire",
        "--seeds",
        "random:50",
        "--until-done",
        "--plugins",
        "plugins",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    out = agora(tmp_path, "check", "w.db", "--json")
    assert out.returncode == 0 and json.loads(out.stdout)["ok"], out.stdout
    from sim.store.worldfile import open_world

    world = asyncio.run(open_world(str(tmp_path / "w.db")))
    s = world.sessions[0]
    assert s.status == "completed" and s.edges_removed > 0 and s.edges_added > 0
    con = sqlite3.connect(str(tmp_path / "w.db"))
    rows = con.execute("SELECT COUNT(*) FROM relationships").fetchone()[0]
    con.close()
    assert rows == world.num_edges


# -- agora plugins check ---------------------------------------------------------------------------


def write_plugin(tmp_path, name: str, body: str) -> str:
    path = tmp_path / f"{name}.py"
    path.write_text(
        "import numpy as np\nfrom sim.plugin import PropagationModel, StepResult, Variable\n\n" + textwrap.dedent(body)
    )
    return str(path)


def status(report, name):
    return report.check(name)["status"], report.check(name)["detail"]


def test_check_flags_feed_use_without_a_declaration(tmp_path):
    path = write_plugin(
        tmp_path,
        "sneaky",
        """
        class Sneaky(PropagationModel):
            name = "sneaky"
            version = "1.0"
            description = "ic-like, reads feeds without saying so"

            def step(self, ctx):
                targets, edges = ctx.gather_targets()
                shown, _ = ctx.feed_open()
                open_ = np.unique(targets[ctx.state[targets] == 0])
                hit = open_[ctx.random_agents(open_) < 0.2]
                return StepResult(hit, 1)
        """,
    )
    report = check_plugin(path, agents=3000)
    st, detail = status(report, "feeds")
    assert st == "fail" and "set uses_feed = True" in detail
    assert not report.ok


def test_check_flags_a_model_that_never_ends(tmp_path):
    path = write_plugin(
        tmp_path,
        "forever",
        """
        class Forever(PropagationModel):
            name = "forever"
            version = "1.0"
            description = "seeds transmit for ever and nobody adopts"
            transmit = "while"
            progressive = False

            def step(self, ctx):
                return StepResult.nothing()
        """,
    )
    report = check_plugin(path, agents=3000)
    st, detail = status(report, "end")
    assert st == "fail" and "declare an end in is_done" in detail and "endless = True" in detail
    path = write_plugin(
        tmp_path,
        "forever2",
        """
        class Forever2(PropagationModel):
            name = "forever2"
            version = "1.0"
            description = "the same, declared endless"
            transmit = "while"
            progressive = False
            endless = True

            def step(self, ctx):
                return StepResult.nothing()
        """,
    )
    report = check_plugin(path, agents=3000)
    assert status(report, "end")[0] == "pass" and report.ok, report.render()


def test_check_flags_a_variable_leaving_its_range_and_edges_without_a_declaration(tmp_path):
    path = write_plugin(
        tmp_path,
        "runaway",
        """
        class Runaway(PropagationModel):
            name = "runaway"
            version = "1.0"
            description = "x grows past its range"
            variables = {"x": Variable(0.0, 1.0)}
            transmitting_states = ()

            def step(self, ctx):
                return StepResult.nothing(variables={"x": np.minimum(ctx.variables["x"] * 1.5, 2.0)})

            def is_done(self, ctx):
                return ctx.round >= 10
        """,
    )
    report = check_plugin(path, agents=3000)
    st, detail = status(report, "variables")
    assert st == "fail" and "outside its declared range [0, 1]" in detail
    path = write_plugin(
        tmp_path,
        "cutter",
        """
        class Cutter(PropagationModel):
            name = "cutter"
            version = "1.0"
            description = "cuts an edge a round without declaring it"
            transmitting_states = ()

            def step(self, ctx):
                g = ctx.graph
                cut = g.out_indices[g.out_indptr[0]:g.out_indptr[0] + 1]
                return StepResult(np.empty(0, np.int64), 1, remove_edges=(np.array([0]), cut))

            def is_done(self, ctx):
                return ctx.round >= 3
        """,
    )
    report = check_plugin(path, agents=3000)
    st, detail = status(report, "edges")
    assert st == "fail" and "set changes_edges = True" in detail


def test_check_passes_a_sound_opinion_model(tmp_path):
    path = write_plugin(
        tmp_path,
        "avg",
        """
        class Avg(PropagationModel):
            name = "avg"
            version = "1.0"
            description = "x moves to the followees' mean"
            variables = {"x": Variable(0.0, 1.0, seed_value=1.0)}
            transmitting_states = ()
            progressive = False

            def step(self, ctx):
                x = ctx.variables["x"]
                g = ctx.graph
                deg = np.diff(g.in_indptr)
                sums = np.bincount(np.repeat(np.arange(ctx.n), deg), weights=x[g.in_indices], minlength=ctx.n)
                new = np.where(deg > 0, sums / np.maximum(deg, 1), x)
                state = (new >= 0.5).astype(np.int8)
                changed = np.flatnonzero(state != ctx.state)
                ctx.store["moved"] = np.array([float(np.abs(new - x).max())])
                return StepResult(changed, state[changed], variables={"x": new})

            def is_done(self, ctx):
                return "moved" in ctx.store and ctx.store["moved"][0] < 1e-6
        """,
    )
    report = check_plugin(path, agents=3000)
    assert report.ok, report.render()
    assert status(report, "variables")[0] == "pass"


# -- agora plugins list ----------------------------------------------------------------------------


def test_plugins_list_names_the_kind_of_a_plugin_that_failed_to_load(tmp_path):
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "badmodel.py").write_text(
        "from sim.plugin import PropagationModel\nimport nosuchmodule_xyz\nclass M(PropagationModel):\n    name = 'm'\n"
    )
    (folder / "badfriend.py").write_text(
        "from sim.plugin import FriendRecommender\nclass B(FriendRecommender):\n"
        "    name = 'b'\nclass C(B):\n    name = 'c'\nraise ValueError('no')\n"
    )
    (folder / "badsyntax.py").write_text(
        "from sim.plugin import ContentRecommender\nclass R(ContentRecommender):\n  def (\n"
    )
    (folder / "empty.py").write_text("x = 1\n")
    out = agora(tmp_path, "plugins", "list", "--plugins", str(folder), "--json")
    assert out.returncode == 0, out.stderr
    failed = {r["name"]: r for r in json.loads(out.stdout)["plugins"] if r["status"] == "failed"}
    assert {k: v["kind"] for k, v in failed.items()} == {
        "badmodel": "model",
        "badfriend": "friend-recommender",
        "badsyntax": "recommender",
        "empty": "none",
    }
    assert "nosuchmodule_xyz" in failed["badmodel"]["error"]
    text = agora(tmp_path, "plugins", "list", "--plugins", str(folder)).stdout
    assert "model FAILED" in text and "friend-recommender FAILED" in text and "unknown" not in text


def test_variables_survive_the_world_file_and_a_run_continues_exactly(tmp_path):
    """From the command line: a run of the opinion template stopped after 3 ticks and continued for 4
    more in a second command ends with the same opinions and series as 7 ticks in one command."""
    from sim.authoring import new_plugin
    from sim.store.worldfile import open_world

    new_plugin("avg_opinion", str(tmp_path / "plugins"), "opinion")
    assert agora(tmp_path, "new", "w.db", "--agents", "1500", "--seed", "9").returncode == 0
    for name in ("a.db", "b.db"):
        (tmp_path / name).write_bytes((tmp_path / "w.db").read_bytes())
    first = ["--inject", "x", "--model", "avg_opinion", "--param", "epsilon=0.15", "--seeds", "random:30"]
    out = agora(tmp_path, "run", "a.db", "--steps", "7", "--plugins", "plugins", *first)
    assert out.returncode == 0, out.stderr
    out = agora(tmp_path, "run", "b.db", "--steps", "3", "--plugins", "plugins", *first)
    assert out.returncode == 0, out.stderr
    mid = asyncio.run(open_world(str(tmp_path / "b.db"))).sessions[0]
    assert list(mid.variables) == ["opinion"] and mid.series.moments.shape == (3, 4)
    out = agora(tmp_path, "run", "b.db", "--steps", "4", "--plugins", "plugins")
    assert out.returncode == 0, out.stderr
    a = asyncio.run(open_world(str(tmp_path / "a.db"))).sessions[0]
    b = asyncio.run(open_world(str(tmp_path / "b.db"))).sessions[0]
    assert a.round == b.round == 6
    assert np.array_equal(a.variables["opinion"], b.variables["opinion"])
    assert np.array_equal(a.series.moments, b.series.moments) and np.array_equal(a.series.counts, b.series.counts)
    assert agora(tmp_path, "check", "b.db").returncode == 0


class BlockedFromTheStart(PropagationModel):
    """ic-like with a third state: start blocks agents 0..4 (never reached); the tick-0 counts show them."""

    name = "blocked-start"
    version = "1.0"
    description = "start blocks five agents"
    states = ("S", "I", "B")
    variables = {"x": Variable(0.0, 1.0, init="constant", value=0.5)}

    def start(self, ctx):
        five = np.arange(5)
        return StepResult(five, 2, variables={"x": (five, np.zeros(5))})

    def step(self, ctx):
        targets, _ = ctx.gather_targets()
        fresh = np.unique(targets[ctx.state[targets] == 0])
        return StepResult(fresh, 1)


def test_start_may_put_agents_in_other_states_and_set_variables_at_tick_0():
    from sim.model.series import series_dict

    _, s = run(ring(30), BlockedFromTheStart, seeds="ids:10")
    series = series_dict(s)
    assert (series["S"][0], series["I"][0], series["B"][0]) == (24, 1, 5)
    assert list(s.state[:5]) == [2] * 5 and s.adopted_at[:5].max() == -1  # never reached
    assert list(s.variables["x"][:6]) == [0.0] * 5 + [0.5]
    assert s.status == "completed" and series["B"][-1] == 5 and series["S"][-1] == 0


def test_start_may_not_move_a_seed_but_may_adopt_from_tick_0():
    class Adopts(BlockedFromTheStart):
        name = "adopts-in-start"

        def start(self, ctx):
            return StepResult(np.arange(3), 1)

    class MovesASeed(BlockedFromTheStart):
        name = "moves-a-seed"

        def start(self, ctx):
            return StepResult(np.array([10]), 2)

    from sim.model.series import series_dict

    _, s = run(ring(30), Adopts, seeds="ids:10", ticks=1)
    assert s.status == "running" and s.reached == 4 and s.seeds_count == 1
    assert list(np.flatnonzero(s.adopted_at == s.started_tick)) == [0, 1, 2, 10]
    assert list(s.adopted_from[[0, 1, 2]]) == [-1] * 3 and list(s.frontier) == [0, 1, 2, 10]
    series = series_dict(s)
    assert (series["I"][0], series["reached"][0], series["new"][0]) == (4, 4, 4)
    _, s = run(ring(30), MovesASeed, seeds="ids:10", ticks=2)
    assert s.status == "failed" and "moved agents that are not in state 0 in start" in s.error
