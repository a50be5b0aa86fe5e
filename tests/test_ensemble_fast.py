"""The tight loop of an ensemble (``agora run --runs``): each run reaches exactly what the same run
reaches through the ordinary tick (who is online drawn lazily, plugin code under a timer instead of a
worker thread, a fork that shares the world's arrays), in this process or over forked workers; plugins
that hang are stopped; the world is never changed."""

from __future__ import annotations

import json
import os
import textwrap
import time

import numpy as np
import pytest
from conftest import agora

from sim.core.world import skip_float32
from sim.engine.simulation import Simulation
from sim.errors import BadParameterError, ResourceError
from sim.llm.service import LLMService
from sim.model.registry import Registry
from sim.runs.runner import run_cascades
from sim.runs.transport import fork_available, map_forked
from sim.store.create import synthetic_world

needs_fork = pytest.mark.skipif(not fork_available(), reason="forked workers need Linux")

PLUGINS = textwrap.dedent('''
    import time

    import numpy as np
    from sim.plugin import Param, PropagationModel, StepResult


    class OnlineCascade(PropagationModel):
        """A cascade that only online agents join: it reads ctx.online every round."""
        name = "online-cascade"
        params = {"p": Param(float, 0.3, 0.0, 1.0, "probability per edge")}
        states = ("susceptible", "adopted")
        adopted_states = (1,)
        transmitting_states = (1,)
        seed_state = 1

        def step(self, ctx):
            targets, eid = ctx.gather_targets()
            open_ = np.flatnonzero((ctx.state[targets] == 0) & ctx.online[targets])
            hit = open_[ctx.random_edges(eid[open_]) < self.p["p"]]
            winners, first = np.unique(targets[hit], return_index=True)
            return StepResult(winners, 1, ctx.gather_sources()[hit[first]], attempts=int(open_.size))


    class Spin(OnlineCascade):
        name = "spin"

        def step(self, ctx):
            if ctx.round >= 1:
                while True:
                    pass
            return super().step(ctx)


    class Sleeper(OnlineCascade):
        name = "sleeper"

        def step(self, ctx):
            if ctx.round >= 1:
                time.sleep(1e9)
            return super().step(ctx)


    class Swallow(OnlineCascade):
        """Catches the stop the budget raises, once, then stops by itself."""
        name = "swallow"

        def step(self, ctx):
            if ctx.round >= 1:
                caught = 0
                while caught < 1:
                    try:
                        while True:
                            pass
                    except BaseException:
                        caught += 1
                while True:
                    pass
            return super().step(ctx)
''')


@pytest.fixture(scope="module")
def world():
    return synthetic_world("fast", 4000, avg_degree=8, seed=9)


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fast_plugins")
    (folder / "fastplugins.py").write_text(PLUGINS)
    reg = Registry([str(folder)], entry_points=False, env=False)
    assert not reg.failures, [f.error for f in reg.failures]
    return reg


def fingerprint(w) -> dict:
    out = {k: v.copy() for k, v in w.columns.items()}
    out.update(
        {k: getattr(w.graph, k).copy() for k in ("out_indptr", "out_indices", "trust", "in_indptr", "in_indices")}
    )
    out["rng_state"] = json.dumps(w.rng_state)
    out["tick"] = w.tick
    return out


def assert_unchanged(w, before: dict) -> None:
    after = fingerprint(w)
    for k, v in before.items():
        assert np.array_equal(v, after[k]) if isinstance(v, np.ndarray) else v == after[k], f"{k} changed"


async def ordinary_run(world, registry, model, params, seed, **kw) -> dict:
    """The same run through the ordinary tick (``Simulation.step``: activation drawn every tick, plugins in
    a worker thread), on a full copy of the world."""
    out = await run_cascades(
        world.fork(),
        registry=registry,
        text="x",
        seeds="random:10",
        model=model,
        params=params,
        seed=seed,
        llm={"offline": True},
        **kw,
    )
    return out["runs"][0]


def same_run(a: dict, b: dict) -> None:
    for k in ("status", "reached", "ticks", "attempts", "exposed", "new_per_tick", "series", "peak_tick"):
        assert a[k] == b[k], (k, a[k], b[k])


# -- who is online: drawn lazily, the generator left exactly where a draw leaves it ------------------


@pytest.mark.parametrize("count", [0, 1, 2, 3, 4, 999, 1000])
@pytest.mark.parametrize("before", [0, 1, 2, 3])
def test_skipping_a_draw_leaves_the_generator_where_the_draw_does(world, count, before):
    drawn, skipped = world.fork(), world.fork()
    for w in (drawn, skipped):
        g = w.rng()
        g.random(before, dtype=np.float32)  # an odd count leaves half a 64-bit output buffered
        w.keep_rng(g)
    g = drawn.rng()
    g.random(count, dtype=np.float32)
    drawn.keep_rng(g)
    skip_float32(skipped, count)
    assert skipped.rng_state == drawn.rng_state
    assert np.array_equal(skipped.rng().random(5, dtype=np.float32), drawn.rng().random(5, dtype=np.float32))


def test_a_lazy_activation_is_the_eager_one_read_or_not(world):
    eager, lazy = world.fork(), world.fork()
    for t in range(6):
        mask = eager.advance(1)
        act = lazy.advance_lazily()
        if t % 3 == 1:
            assert np.array_equal(act.mask, mask)
        act.settle()
        assert lazy.rng_state == eager.rng_state and lazy.tick == eager.tick
    act = lazy.advance_lazily()
    act.settle()
    with pytest.raises(RuntimeError, match="settled undrawn"):
        act.mask  # noqa: B018 - reading it must fail: the generator has moved past it


# -- the tight loop gives the ordinary run ------------------------------------------------------------


@pytest.mark.parametrize(
    "model, params",
    [
        ("ic", {"p": 0.12}),
        ("sir", {"beta": 0.1, "gamma": 0.3}),
        ("online-cascade", {"p": 0.4}),  # reads ctx.online: the lazy draw is made, and must be the eager one
        ("adaptive-sis", {"beta": 0.2, "gamma": 0.2, "w": 0.3}),  # changes edges on a fork that shares the graph
        ("deffuant", {}),  # continuous variables
    ],
)
async def test_each_ensemble_run_is_the_ordinary_run(world, registry, model, params):
    before = fingerprint(world)
    ensemble = await run_cascades(  # the engine's loop (ic would otherwise run batched, its own random words)
        world,
        registry=registry,
        text="x",
        seeds="random:10",
        model=model,
        params=params,
        runs=3,
        seed=5,
        steps=25,
        kernel="engine",
    )
    assert_unchanged(world, before)
    assert [r["seed"] for r in ensemble["runs"]] == [5, 6, 7]
    for r, run in enumerate(ensemble["runs"]):
        same_run(run, await ordinary_run(world, registry, model, params, 5 + r, steps=25))


@needs_fork
async def test_forked_workers_give_the_same_runs_in_order(world, registry):
    before = fingerprint(world)
    kw = dict(
        registry=registry,
        text="x",
        seeds="random:10",
        model="sir",
        params={"beta": 0.1, "gamma": 0.3},
        runs=7,
        seed=3,
        until_done=True,
    )
    one = await run_cascades(world, workers=1, **kw)
    two = await run_cascades(world, workers=2, **kw)
    assert_unchanged(world, before)
    assert [r["seed"] for r in two["runs"]] == list(range(3, 10))
    for a, b in zip(one["runs"], two["runs"]):
        same_run(a, b)
    assert one["mean_reached"] == two["mean_reached"] and one["ci95"] == two["ci95"]


@needs_fork
async def test_a_bad_option_is_one_sentence_before_any_worker_starts(world, registry):
    with pytest.raises(BadParameterError, match="seed selection"):
        await run_cascades(world, registry=registry, text="x", seeds="random:0", runs=4, until_done=True, workers=2)
    with pytest.raises(BadParameterError, match="parameter p"):
        await run_cascades(
            world, registry=registry, text="x", model="ic", params={"p": 3}, runs=4, until_done=True, workers=2
        )


async def test_workers_are_refused_where_runs_cannot_be_parallel(world, registry):
    with pytest.raises(BadParameterError, match="^workers runs an ensemble in parallel") as err:
        await run_cascades(world, registry=registry, text="x", runs=2, steps=2, workers=2, ticks_per_second=100)
    assert err.value.fields == ("workers", "ticks_per_second")  # below the command line: fields, never flags


# -- plugins that hang are stopped in the run's own thread -----------------------------------------------


@pytest.mark.parametrize("workers", [1, pytest.param(2, marks=needs_fork)])
@pytest.mark.parametrize("model", ["spin", "sleeper", "swallow"])
async def test_a_hanging_model_fails_its_run_and_the_ensemble_goes_on(world, registry, model, workers):
    t0 = time.perf_counter()
    out = await run_cascades(
        world,
        registry=registry,
        text="x",
        seeds="random:10",
        model=model,
        runs=2,
        steps=6,
        seed=1,
        plugin_budget=0.5,
        workers=workers,
    )
    assert time.perf_counter() - t0 < 60, "the hang cost more than its budget"
    for run in out["runs"]:
        assert run["status"] == "failed"
        assert f"model {model} took longer than 0.5 s in one step (the plugin budget): session failed" in run["error"]
        assert run["ticks"] == 6  # the session failed, the run went on to its end
    # The budget's signal handler is put back: nothing is left armed in this process.
    import signal

    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, signal.default_int_handler, None)


def test_plugin_code_of_an_ensemble_runs_in_the_ticking_thread(world, registry):
    import threading

    seen = []
    fork = world.fork(shared=True)
    sim = Simulation(fork, registry=registry, llm=LLMService.offline(fork), plugin_budget=5, plugins_in_thread=True)
    sim.plugins.call(lambda: seen.append(threading.get_ident()))
    sim.plugins.close()
    assert seen == [threading.get_ident()]


def test_a_shared_fork_refuses_writes_and_copies_nothing(world):
    fork = world.fork(shared=True)
    assert np.shares_memory(fork.columns["reputation"], world.columns["reputation"])
    assert np.shares_memory(fork.graph.trust, world.graph.trust)
    with pytest.raises(ValueError):
        fork.columns["reputation"][0] = 1.0
    with pytest.raises(ValueError):
        fork.graph.trust[0] = 0.0
    own = world.fork()
    assert not np.shares_memory(own.columns["reputation"], world.columns["reputation"])


# -- the forked pool itself ---------------------------------------------------------------------------------


def _square(i, report):
    report(0.5)
    return i * i


def _dies(i, report):
    if i == 2:
        os._exit(7)
    return i


def _stuck(i, report):
    if i == 1:
        import signal

        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(1e9)  # a plugin blocked where nothing reaches it
    return i


def _bad(i, report):
    if i == 3:
        raise BadParameterError("run 3 cannot be done: because")
    return i


@needs_fork
async def test_the_pool_returns_results_in_order_and_reports_progress():
    seen = []
    assert await map_forked(_square, 9, 3, progress=lambda done, frac: seen.append((done, frac))) == [
        i * i for i in range(9)
    ]
    assert seen and seen[-1] == (9, 1.0)
    assert all(0.0 <= f <= 1.0 for _, f in seen)


@needs_fork
async def test_the_pool_reports_a_dead_worker_and_a_bad_job():
    with pytest.raises(ResourceError, match="ended abruptly"):
        await map_forked(_dies, 5, 2)
    with pytest.raises(BadParameterError, match="run 3 cannot be done"):
        await map_forked(_bad, 6, 2)


@needs_fork
async def test_the_pool_ends_a_stalled_worker_and_goes_on():
    t0 = time.perf_counter()
    out = await map_forked(_stuck, 4, 2, stall_seconds=1.0, on_stall=lambda i: f"stalled {i}")
    assert out == [0, "stalled 1", 2, 3]
    assert time.perf_counter() - t0 < 60


# -- the command -----------------------------------------------------------------------------------------------


@needs_fork
def test_the_cli_gives_the_same_runs_with_any_number_of_workers(tmp_path):
    db = str(tmp_path / "w.db")
    assert agora(tmp_path, "new", db, "--agents", "3000", "--seed", "2").returncode == 0
    base = ["run", db, "--inject", "hi", "--model", "ic", "--param", "p=0.1", "--runs", "5", "--until-done", "--json"]
    outs = []
    for w in ("1", "2"):
        res = agora(tmp_path, *base, "--workers", w)
        assert res.returncode == 0, res.stderr
        outs.append(json.loads(res.stdout))
    for a, b in zip(outs[0]["runs"], outs[1]["runs"]):
        same_run(a, b)
    res = agora(tmp_path, "run", db, "--steps", "2", "--workers", "2")
    assert res.returncode == 2 and "--workers applies to an injected message" in res.stderr
