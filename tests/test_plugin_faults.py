"""Plugin faults: a model or recommender that raises, hangs, answers malformed data or writes to shared
arrays fails only itself; the app, the world and the other sessions go on exactly as without it.

Every case runs a simulation with the faulty plugin beside a healthy ``ic`` session, for a fixed number
of ticks, and compares with the same simulation without the faulty plugin (same seeds): the faulty
session ends ``failed`` with its error (a faulty recommender is switched off with its error), the healthy
session's arrays and counters are identical, the world's arrays (agent columns, trust, CSR graph) are
identical, and the simulation keeps stepping. Hangs run under a short plugin budget.
"""

from __future__ import annotations

import asyncio
import sys
import textwrap
import time

import numpy as np
import pytest

from sim.core.events import PropagationFailed, RecommenderFailed
from sim.engine.simulation import Simulation
from sim.errors import BadParameterError
from sim.llm.service import LLMService
from sim.model.guard import DEFAULT_PLUGIN_BUDGET, PluginRunner, PluginTimeout, plugin_budget
from sim.model.registry import Registry
from sim.store.create import synthetic_world

pytestmark = pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")

TICKS = 14
HEALTHY = {"model": "ic", "params": {"p": 0.08}, "seeds": "random:10", "seed": 1}
HANG_BUDGET = 0.5
#: Bound on a run with a hanging plugin: the hang costs the budget once, never the plugin's own 1e9 s. Only a
#: bound on a hang: a loaded machine runs the ticks slower, and must not fail for it.
HANG_BOUND = 120.0
#: How long an abandoned plugin thread may take to end once it can (again only bounding a hang).
THREAD_END_BOUND = 60.0

MODELS = textwrap.dedent('''
    import os
    import sys
    import time

    import numpy as np
    from sim.plugin import Param, PropagationModel, StepResult


    class Base(PropagationModel):
        """A correct cascade (p = 0.2); each fault below replaces one piece of it."""
        name = ""
        params = {"p": Param(float, 0.2, 0.0, 1.0, "probability per edge")}

        def answer(self, ctx):
            targets, eid = ctx.gather_targets()
            open_ = np.flatnonzero(ctx.state[targets] == 0)
            hit = open_[ctx.random_edges(eid[open_]) < self.p["p"]]
            winners, first = np.unique(targets[hit], return_index=True)
            return StepResult(winners, 1, ctx.gather_sources()[hit[first]], attempts=int(open_.size))

        def step(self, ctx):
            return self.answer(ctx)


    def model(name, step=None, **members):
        ns = {"name": name, **members}
        if step is not None:
            ns["step"] = step
        globals()[name] = type(name, (Base,), ns)


    class Stop(BaseException):
        pass


    def boom(exc):
        def step(self, ctx):
            raise exc
        return step


    def returns(make):
        def step(self, ctx):
            return make(self, ctx)
        return step


    def spin(self, *_):
        while True:
            pass


    def sleep(self, *_):
        time.sleep(1e9)


    STOP = []  # the test sets it: a plugin that swallows every stop would otherwise spin for good


    def stubborn(self, *_):
        while not STOP:
            try:
                while not STOP:
                    pass
            except BaseException:
                pass


    def deep(self, ctx, k=0):
        return deep(self, ctx, k + 1)


    def init_raises(self, **params):
        raise RuntimeError("no init for you")


    def init_hangs(self, **params):
        time.sleep(1e9)


    # -- raising --------------------------------------------------------------------------------
    model("raise_step", boom(RuntimeError("boom in step")))
    model("raise_start", start=boom(RuntimeError("boom in start")))
    model("raise_is_done", is_done=boom(LookupError("boom in is_done")))
    model("raise_init", __init__=init_raises)
    model("exit_step", boom(SystemExit(3)))
    model("kbint_step", boom(KeyboardInterrupt("plugin pressed ctrl-c")))
    model("base_step", boom(Stop("a BaseException subclass")))
    model("generator_exit", boom(GeneratorExit("odd")))
    model("recursion", deep)
    model("memory", returns(lambda self, ctx: np.empty((2**22, 2**23))))

    class RaiseValidate(Base):
        name = "raise_validate"

        @classmethod
        def validate(cls, params):
            raise TypeError("validate exploded")

    # -- hanging ----------------------------------------------------------------------------------
    model("spin_step", spin)
    model("sleep_step", sleep)
    model("stubborn_step", stubborn)
    model("spin_start", start=spin)
    model("sleep_is_done", is_done=sleep)
    model("sleep_init", __init__=init_hangs)

    class SlowArray:
        def __array__(self, dtype=None, copy=None):
            time.sleep(1e9)

    model("slow_answer", returns(lambda self, ctx: StepResult(SlowArray(), 1)))

    # -- writing to shared arrays ---------------------------------------------------------------
    def writes(code):
        def step(self, ctx):
            exec(code, {"ctx": ctx, "np": np})
            return self.answer(ctx)
        return step

    model("write_column", writes("ctx.columns['reputation'][:] = 0"))
    model("write_trust", writes("ctx.trust[:] = 0"))
    model("write_graph", writes("ctx.graph.out_indices[:] = 0"))
    model("write_graph_trust", writes("ctx.graph.trust[0] = 5"))
    model("write_world_column", writes("ctx.world.columns['influence'][:] = 1"))
    model("write_world_attr", writes("ctx.world.susceptibility[:] = 1"))
    model("set_world_graph", writes("ctx.world.graph = None"))
    model("world_private", writes("ctx.world.delta.follow(np.array([0]), np.array([1]), np.array([1.0], np.float32))"))
    model("write_state", writes("ctx.state[:] = 1"))
    model("write_frontier", writes("ctx.frontier[:] = 0"))
    model("write_online", writes("ctx.online[:] = True"))
    model("write_gather", writes("ctx.gather()[3][:] = 0"))
    model("write_targets", writes("ctx.gather_targets()[0][:] = 0"))
    model("write_message", writes("ctx.message['text'] = 'hacked'"))
    model("write_params", writes("ctx.params['p'] = 1.0"))
    model("write_other_session", writes("ctx.world.sessions[0].state[:] = 1"))
    model("write_session", writes("ctx.session.status = 'completed'"))
    model("other_session_rng", writes("ctx.world.sessions[0].rng.random(10)"))

    # -- malformed answers ----------------------------------------------------------------------
    model("returns_none", returns(lambda self, ctx: None))
    model("returns_list", returns(lambda self, ctx: [1, 2, 3]))
    model("returns_dict", returns(lambda self, ctx: {"agents": [1]}))

    def yields(self, ctx):
        yield StepResult.nothing()

    model("step_generator", yields)
    model("agents_generator", returns(lambda self, ctx: StepResult((i for i in range(3)), 1)))
    model("agents_2d", returns(lambda self, ctx: StepResult(np.array([[1, 2]]), 1)))
    model("agents_matrix", returns(lambda self, ctx: StepResult(np.matrix([1, 2]), 1)))
    model("agents_float_nan", returns(lambda self, ctx: StepResult(np.array([1.0, np.nan]), 1)))
    model("agents_mask", returns(lambda self, ctx: StepResult(ctx.state == 0, 1)))
    model("agents_object", returns(lambda self, ctx: StepResult(np.array([1, "x"], dtype=object), 1)))
    model("agents_scalar", returns(lambda self, ctx: StepResult(5, 1)))
    model("agents_out_of_range", returns(lambda self, ctx: StepResult(np.array([ctx.n]), 1)))
    model("agents_negative", returns(lambda self, ctx: StepResult(np.array([-1]), 1)))
    model("agents_uint64_huge", returns(lambda self, ctx: StepResult(np.array([2**63 + 5], dtype=np.uint64), 1)))
    model("agents_repeated", returns(lambda self, ctx: StepResult(np.array([3, 1, 3]), 1)))
    model("agents_huge", returns(lambda self, ctx: StepResult(np.zeros(ctx.n * 4, dtype=np.int32), 1)))
    model("state_out_of_range", returns(lambda self, ctx: StepResult(np.array([1]), 9)))
    model("state_float", returns(lambda self, ctx: StepResult(np.array([1, 2]), np.array([1.0, 1.0]))))
    model("state_bool", returns(lambda self, ctx: StepResult(np.array([1]), True)))
    model("state_misaligned", returns(lambda self, ctx: StepResult(np.array([1, 2]), np.array([1, 1, 1]))))
    model("sources_misaligned", returns(lambda self, ctx: StepResult(np.array([1, 2]), 1, np.array([0]))))
    model("sources_out_of_range", returns(lambda self, ctx: StepResult(np.array([1]), 1, np.array([-7]))))
    model("attempts_nan", returns(lambda self, ctx: StepResult.nothing(attempts=float("nan"))))
    model("attempts_float", returns(lambda self, ctx: StepResult.nothing(attempts=2.0)))
    model("attempts_negative", returns(lambda self, ctx: StepResult.nothing(attempts=-1)))
    model("attempts_huge", returns(lambda self, ctx: StepResult.nothing(attempts=10**30)))
    model("exposed_out_of_range", returns(lambda self, ctx: StepResult.nothing(exposed=np.array([ctx.n + 1]))))
    model("via_feed_wrong", returns(lambda self, ctx: StepResult(np.array([1]), 1, via_feed=np.array([1]))))
    model("is_done_array", is_done=lambda self, ctx: np.array([True, False]))
    model("store_list", writes("ctx.store['x'] = [1, 2, 3]"))
    model("store_objects", writes("ctx.store['x'] = np.array([object()])"))
    model("store_key", writes("ctx.store[7] = np.zeros(3)"))
    model("store_in_is_done", is_done=lambda self, ctx: ctx.store.update(y={"a": 1}) or False)

    class BadArray:
        def __array__(self, dtype=None, copy=None):
            raise OSError("cannot be an array")

    model("array_raises", returns(lambda self, ctx: StepResult(BadArray(), 1)))

    # -- odd but legal: the session runs normally -----------------------------------------------
    class Weird(np.ndarray):
        def __getitem__(self, key):
            raise RuntimeError("the core must not index a plugin's array subclass")

    def weird(self, ctx):
        r = self.answer(ctx)
        return StepResult(np.asarray(r.agents).view(Weird), r.new_state, r.sources, r.attempts)

    model("ndarray_subclass", weird)

    def noisy(self, ctx):
        sys.stdout.write("\\x1b[2J\\x1b[31m garbage \\x00\\xff [bold]not markup[/bold]\\n")
        sys.stderr.write("\\x1b[5m more garbage\\n")
        print(b"\\x00\\x01 bytes", flush=True)
        return self.answer(ctx)

    model("prints_garbage", noisy)

    def mutates_own_params(self, ctx):
        self.p["p"] = 1.0
        self.p["extra"] = object()
        return self.answer(ctx)

    model("own_params", mutates_own_params)
''')

RECOMMENDERS = textwrap.dedent('''
    import time

    import numpy as np
    from sim.plugin import ContentRecommender, FriendRecommender


    class Blank(ContentRecommender):
        """Shows nothing: what a switched-off recommender amounts to."""
        name = "blank"

        def score(self, ctx):
            return np.full(ctx.shape, -np.inf)


    class NoFriends(FriendRecommender):
        name = "nofriends"

        def suggest(self, ctx):
            e = np.empty(0, dtype=np.int32)
            return e, e, np.empty(0)


    def content(name, score):
        globals()[name] = type(name, (ContentRecommender,), {"name": name, "score": score})


    def friend(name, suggest):
        globals()[name] = type(name, (FriendRecommender,), {"name": name, "suggest": suggest})


    def raises(self, ctx):
        raise RuntimeError("recommender boom")


    def hangs(self, ctx):
        time.sleep(1e9)


    def spins(self, ctx):
        while True:
            pass


    content("rec_raises", raises)
    content("rec_hangs", hangs)
    content("rec_spins", spins)
    content("rec_exit", lambda self, ctx: exec("raise SystemExit(1)"))
    content("rec_shape", lambda self, ctx: np.zeros((ctx.shape[0] + 1, ctx.shape[1])))
    content("rec_posinf", lambda self, ctx: np.full(ctx.shape, np.inf))
    content("rec_none", lambda self, ctx: None)

    def rec_writes_session(self, ctx):
        ctx.sessions[0].state[:] = 1
        return np.full(ctx.shape, -np.inf)

    def rec_writes_column(self, ctx):
        ctx.columns["reputation"][:] = 1
        return np.full(ctx.shape, -np.inf)

    def rec_writes_graph(self, ctx):
        ctx.graph.trust[:] = 1
        return np.full(ctx.shape, -np.inf)

    def rec_writes_world(self, ctx):
        ctx.world.sessions[0].adopted_at[:] = 0
        return np.full(ctx.shape, -np.inf)

    content("rec_writes_session", rec_writes_session)
    content("rec_writes_column", rec_writes_column)
    content("rec_writes_graph", rec_writes_graph)
    content("rec_writes_world", rec_writes_world)

    friend("friend_raises", raises)
    friend("friend_hangs", hangs)
    friend("friend_shape", lambda self, ctx: (np.array([0, 1]), np.array([1]), np.array([1.0])))

    def friend_writes_graph(self, ctx):
        ctx.graph.in_indices[:] = 0
        e = np.empty(0, dtype=np.int32)
        return e, e, np.empty(0)

    friend("friend_writes_graph", friend_writes_graph)
''')

# (model, what the session's error says); timeouts are in HANGS.
RAISING = [
    ("raise_step", "RuntimeError: boom in step"),
    ("raise_start", "RuntimeError: boom in start"),
    ("raise_is_done", "LookupError: boom in is_done"),
    ("raise_init", "RuntimeError: no init for you"),
    ("raise_validate", "validate exploded"),
    ("exit_step", "SystemExit: 3"),
    ("kbint_step", "KeyboardInterrupt: plugin pressed ctrl-c"),
    ("base_step", "Stop: a BaseException subclass"),
    ("generator_exit", "GeneratorExit: odd"),
    ("recursion", "RecursionError"),
    ("memory", "MemoryError"),
]
HANGS = [
    ("spin_step", "model spin_step took longer than 0.5 s in one step (the plugin budget): session failed"),
    ("sleep_step", "model sleep_step took longer than 0.5 s in one step"),
    ("stubborn_step", "model stubborn_step took longer than 0.5 s in one step"),
    ("spin_start", "model spin_start took longer than 0.5 s in its start"),
    ("sleep_is_done", "model sleep_is_done took longer than 0.5 s in is_done"),
    ("sleep_init", "model sleep_init took longer than 0.5 s while being loaded and made"),
    ("slow_answer", "model slow_answer took longer than 0.5 s in one step"),
]
WRITES = [
    ("write_column", "read-only"),
    ("write_trust", "read-only"),
    ("write_graph", "read-only"),
    ("write_graph_trust", "read-only"),
    ("write_world_column", "read-only"),
    ("write_world_attr", "read-only"),
    ("set_world_graph", "cannot set world.graph: the world is read-only to plugins"),
    ("world_private", "world.delta is not available to plugins"),
    ("write_state", "read-only"),
    ("write_frontier", "read-only"),
    ("write_online", "read-only"),
    ("write_gather", "read-only"),
    ("write_targets", "read-only"),
    ("write_message", "does not support item assignment"),
    ("write_params", "does not support item assignment"),
    ("write_other_session", "read-only"),
    ("write_session", "cannot set session.status"),
    ("other_session_rng", "session.rng is not available to plugins"),
]
MALFORMED = [
    ("returns_none", "returned NoneType, expected a StepResult"),
    ("returns_list", "returned list, expected a StepResult"),
    ("returns_dict", "returned dict, expected a StepResult"),
    ("step_generator", "returned generator, expected a StepResult (is step a generator?"),
    ("agents_generator", "returned agents of shape () and dtype object"),
    ("agents_2d", "returned agents of shape (1, 2)"),
    ("agents_matrix", "returned agents of shape (1, 2)"),
    ("agents_float_nan", "returned agents of shape (2,) and dtype float64; expected a 1-D integer array"),
    ("agents_mask", "expected a 1-D integer array (a mask? pass np.flatnonzero(mask))"),
    ("agents_object", "dtype object"),
    ("agents_scalar", "returned agents of shape ()"),
    ("agents_out_of_range", "returned agent indices outside 0..2999"),
    ("agents_negative", "returned agent indices outside 0..2999"),
    ("agents_uint64_huge", "returned agent indices outside 0..2999"),
    ("agents_repeated", "returned the same agent twice in one round"),
    ("agents_huge", "returned 12,000 agents in one round, more than the 3,000 agents of the world"),
    ("state_out_of_range", "returned state 9; its states are 0..1"),
    ("state_float", "returned new_state of shape (2,) and dtype float64"),
    ("state_bool", "returned new_state of shape ()"),
    ("state_misaligned", "returned new_state of shape (3,)"),
    ("sources_misaligned", "returned sources of shape (1,)"),
    ("sources_out_of_range", "returned sources outside -1..2999"),
    ("attempts_nan", "returned attempts=nan, expected a count"),
    ("attempts_float", "returned attempts=2.0, expected a count"),
    ("attempts_negative", "returned attempts=-1, expected a count"),
    ("attempts_huge", "expected a count (a whole number from 0 to"),
    ("exposed_out_of_range", "returned exposed agents that are not a 1-D integer array in 0..2999"),
    ("via_feed_wrong", "returned via_feed of shape (1,) and dtype int64; expected (1,) booleans"),
    ("is_done_array", "ValueError: The truth value of an array with more than one element is ambiguous"),
    ("array_raises", "returned agents that is not an array (BadArray: cannot be an array)"),
    ("store_list", "put a list in ctx.store['x']: the store keeps numpy arrays"),
    ("store_objects", "put an array of dtype object in ctx.store['x']"),
    ("store_key", "put an array of dtype float64 in ctx.store[7]"),
    ("store_in_is_done", "put a dict in ctx.store['y']"),
]
# Odd but legal: the session must run as the healthy base cascade does, without failing.
LEGAL = ["ndarray_subclass", "prints_garbage", "own_params"]
CONTENT = [
    ("rec_raises", "RuntimeError: recommender boom"),
    (
        "rec_hangs",
        "recommender rec_hangs took longer than 0.5 s scoring feeds (the plugin budget): recommender switched off",
    ),
    ("rec_spins", "recommender rec_spins took longer than 0.5 s scoring feeds"),
    ("rec_exit", "SystemExit: 1"),
    ("rec_shape", "returned scores of shape"),
    ("rec_posinf", "returned +inf scores"),
    ("rec_none", "returned scores of shape ()"),
    ("rec_writes_session", "read-only"),
    ("rec_writes_column", "read-only"),
    ("rec_writes_graph", "read-only"),
    ("rec_writes_world", "read-only"),
]
FRIEND = [
    ("friend_raises", "RuntimeError: recommender boom"),
    (
        "friend_hangs",
        "friend recommender friend_hangs took longer than 0.5 s suggesting (the plugin budget): recommender switched "
        "off",
    ),
    ("friend_shape", "returned arrays of shapes (2,), (1,), (1,)"),
    ("friend_writes_graph", "read-only"),
]


@pytest.fixture(scope="module")
def base_world():
    return synthetic_world("faults", 3000, avg_degree=8, seed=5)


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    folder = tmp_path_factory.mktemp("faulty_plugins")
    (folder / "faults.py").write_text(MODELS)
    (folder / "recs.py").write_text(RECOMMENDERS)
    reg = Registry([str(folder)], entry_points=False, env=False)
    assert not reg.failures, [f.error for f in reg.failures]
    yield reg
    stop_stubborn(reg)


def stop_stubborn(reg) -> None:
    sys.modules[reg.model("stubborn_step").__module__].STOP.append(True)


def world_arrays(world) -> dict[str, np.ndarray]:
    g = world.graph
    out = {f"column {k}": v.copy() for k, v in world.columns.items()}
    out.update(
        {
            f"graph {k}": getattr(g, k).copy()
            for k in ("out_indptr", "out_indices", "trust", "in_indptr", "in_indices", "in_edge")
        }
    )
    return out


def session_arrays(s) -> dict[str, object]:
    return {
        "state": s.state.copy(),
        "adopted_at": s.adopted_at.copy(),
        "adopted_from": s.adopted_from.copy(),
        "exposed": s.exposed.copy(),
        "reached": s.reached,
        "new_per_tick": list(s.new_per_tick),
        "attempts": s.attempts,
        "status": s.status,
        "rng": s.rng.bit_generator.state,
    }


def run(base_world, registry, faulty=None, *, social=None, budget=DEFAULT_PLUGIN_BUDGET, ticks=TICKS):
    """Run the healthy session (always id 1) and, optionally, a faulty model (id 2) for ``ticks`` ticks."""
    world = base_world.fork()
    sim = Simulation(world, registry=registry, llm=LLMService.offline(world), plugin_budget=budget)
    if social:
        sim.social.configure(**social)
    events = []
    sim.bus.subscribe(events.append)
    healthy = sim.inject("healthy", **HEALTHY)
    bad = sim.inject("faulty", model=faulty, seeds="random:10", seed=2) if faulty else None

    async def go():
        for _ in range(ticks):
            await sim.step()

    t0 = time.perf_counter()
    asyncio.run(go())
    return sim, healthy, bad, events, time.perf_counter() - t0


_REFERENCE: dict[str, tuple] = {}


def reference(base_world, registry, key="models", social=None):
    if key not in _REFERENCE:
        sim, healthy, _, _, _ = run(base_world, registry, social=social)
        _REFERENCE[key] = (session_arrays(healthy), world_arrays(sim.world))
    return _REFERENCE[key]


def assert_isolated(base_world, registry, sim, healthy, key="models", social=None):
    want_session, want_world = reference(base_world, registry, key, social)
    got = session_arrays(healthy)
    for k, v in want_session.items():
        assert np.array_equal(v, got[k]) if isinstance(v, np.ndarray) else v == got[k], f"healthy session {k} differs"
    got_world = world_arrays(sim.world)
    for k, v in want_world.items():
        assert np.array_equal(v, got_world[k]), f"world {k} differs from the run without the faulty plugin"
    assert sim.world.tick == TICKS
    # The simulation keeps stepping.
    asyncio.run(sim.step())
    assert sim.world.tick == TICKS + 1


def check_failed(bad, events, needle):
    assert bad.status == "failed", (bad.status, bad.error)
    assert all(isinstance(k, str) and type(v) is np.ndarray for k, v in bad.store.items()), (
        "what is saved must be arrays"
    )
    assert needle in (bad.error or ""), bad.error
    assert bad.traceback
    failed = [e for e in events if isinstance(e, PropagationFailed) and e.session_id == bad.id]
    assert len(failed) == 1 and needle in failed[0].error


@pytest.mark.parametrize("name, needle", RAISING + WRITES + MALFORMED, ids=[c[0] for c in RAISING + WRITES + MALFORMED])
def test_a_faulty_model_fails_only_its_session(base_world, registry, name, needle):
    sim, healthy, bad, events, _ = run(base_world, registry, name)
    check_failed(bad, events, needle)
    assert_isolated(base_world, registry, sim, healthy)


@pytest.mark.parametrize("name, needle", HANGS, ids=[c[0] for c in HANGS])
def test_a_hanging_model_is_abandoned_after_the_budget(base_world, registry, name, needle):
    sim, healthy, bad, events, seconds = run(base_world, registry, name, budget=HANG_BUDGET)
    check_failed(bad, events, needle)
    assert "Where the plugin was when it was abandoned" in bad.traceback
    assert seconds < HANG_BOUND, f"{TICKS} ticks took {seconds:.1f} s"
    assert_isolated(base_world, registry, sim, healthy)
    assert sim.plugins.timeouts == 1
    if name == "stubborn_step":  # it swallowed every stop sent to it; still stuck until it looks at STOP
        assert sim.plugins.stuck == 1
        stop_stubborn(registry)
        deadline = time.monotonic() + THREAD_END_BOUND
        while sim.plugins.stuck and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sim.plugins.stuck == 0


def test_a_python_loop_that_hangs_is_stopped_and_its_thread_ends(base_world, registry):
    sim, _, bad, _, _ = run(base_world, registry, "spin_step", budget=HANG_BUDGET, ticks=3)
    assert bad.status == "failed"
    deadline = time.monotonic() + THREAD_END_BOUND
    while sim.plugins.stuck and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sim.plugins.stuck == 0, "the abandoned thread still runs"


@pytest.mark.parametrize("name", LEGAL)
def test_odd_but_legal_plugins_run_normally(base_world, registry, name, capfd):
    sim, healthy, odd, _, _ = run(base_world, registry, name)
    assert odd.status in ("running", "completed") and odd.error is None, odd.error
    assert odd.reached > 10
    if name == "own_params":
        assert odd.params == {"p": 0.2}, "a model's changes to self.p must not reach the session's record"
    assert_isolated(base_world, registry, sim, healthy)


def test_a_plugin_whose_answer_hangs_in_its_array_conversion_never_reaches_the_core(base_world, registry):
    # __array__ is plugin code: converting the answer runs under the budget, in the plugin's thread.
    _, _, bad, _, seconds = run(base_world, registry, "slow_answer", budget=HANG_BUDGET)
    assert bad.status == "failed" and "in one step" in bad.error and "__array__" in bad.traceback
    assert seconds < HANG_BOUND


CONTENT_SOCIAL = {"recommender": "blank"}
FRIEND_SOCIAL = {"friend_recommender": "nofriends"}


@pytest.mark.parametrize("name, needle", CONTENT, ids=[c[0] for c in CONTENT])
def test_a_faulty_content_recommender_is_switched_off(base_world, registry, name, needle):
    sim, healthy, _, events, seconds = run(base_world, registry, social={"recommender": name}, budget=HANG_BUDGET)
    assert needle in sim.social.errors.get(name, ""), sim.social.errors
    failed = [e for e in events if isinstance(e, RecommenderFailed)]
    assert [e.name for e in failed] == [name] and needle in failed[0].error
    assert seconds < HANG_BOUND
    assert_isolated(base_world, registry, sim, healthy, "content", CONTENT_SOCIAL)


@pytest.mark.parametrize("name, needle", FRIEND, ids=[c[0] for c in FRIEND])
def test_a_faulty_friend_recommender_is_switched_off(base_world, registry, name, needle):
    sim, healthy, _, events, seconds = run(
        base_world, registry, social={"friend_recommender": name}, budget=HANG_BUDGET
    )
    key = f"friend:{name}"
    assert needle in sim.social.errors.get(key, ""), sim.social.errors
    failed = [e for e in events if isinstance(e, RecommenderFailed)]
    assert [e.name for e in failed] == [key] and needle in failed[0].error
    assert seconds < HANG_BOUND
    assert_isolated(base_world, registry, sim, healthy, "friend", FRIEND_SOCIAL)


def test_many_faulty_sessions_at_once(base_world, registry):
    # One of each kind in the same simulation: every one fails, the healthy one is unaffected.
    world = base_world.fork()
    sim = Simulation(world, registry=registry, llm=LLMService.offline(world), plugin_budget=HANG_BUDGET)
    healthy = sim.inject("healthy", **HEALTHY)
    names = ["raise_step", "spin_step", "write_trust", "agents_huge", "exit_step", "sleep_is_done", "write_state"]
    bad = [sim.inject("faulty", model=n, seeds="random:10", seed=2 + i) for i, n in enumerate(names)]

    async def go():
        for _ in range(TICKS):
            await sim.step()

    asyncio.run(go())
    assert [b.status for b in bad] == ["failed"] * len(names), [(b.model_name, b.status, b.error) for b in bad]
    assert_isolated(base_world, registry, sim, healthy)


def test_import_faults_fail_only_the_sessions_that_use_the_file(base_world, tmp_path, monkeypatch):
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "raises_at_import.py").write_text("raise RuntimeError('no import for you')\n")
    (folder / "exits_at_import.py").write_text("import sys\nsys.exit(2)\n")
    (folder / "hangs_at_import.py").write_text("import time\ntime.sleep(1e9)\n")
    (folder / "good.py").write_text(MODELS)
    monkeypatch.setenv("AGORA_PLUGIN_BUDGET", "0.5")
    t0 = time.perf_counter()
    reg = Registry([str(folder)], entry_points=False, env=False)
    assert time.perf_counter() - t0 < HANG_BOUND  # the hanging import was abandoned after its 0.5 s
    errors = {f.name: f.error for f in reg.failures}
    assert "no import for you" in errors["raises_at_import"]
    assert errors["exits_at_import"].startswith("SystemExit")
    assert "plugin file hangs_at_import.py took longer than 0.5 s while being imported" in errors["hangs_at_import"]
    assert "raise_step" in reg  # the good file next to them loaded
    world = base_world.fork()
    sim = Simulation(world, registry=reg, llm=LLMService.offline(world))
    healthy = sim.inject("healthy", **HEALTHY)
    bad = sim.inject("faulty", model="hangs_at_import")
    assert bad.status == "failed" and "took longer than 0.5 s while being imported" in bad.error
    asyncio.run(sim.run(until_done=True, max_ticks=100))
    assert healthy.status == "completed"


def test_the_budget_setting(monkeypatch, base_world):
    monkeypatch.delenv("AGORA_PLUGIN_BUDGET", raising=False)
    assert plugin_budget() == DEFAULT_PLUGIN_BUDGET == 10.0
    assert plugin_budget(2) == 2.0 and plugin_budget(0) == 0.0
    monkeypatch.setenv("AGORA_PLUGIN_BUDGET", "1.5")
    assert plugin_budget() == 1.5
    assert Simulation(base_world.fork()).plugins.budget == 1.5
    assert Simulation(base_world.fork(), plugin_budget=3).plugins.budget == 3.0
    for bad in (-1, float("nan"), float("inf"), "soon", True):
        with pytest.raises(BadParameterError, match="plugin budget"):
            Simulation(base_world.fork(), plugin_budget=bad)
    monkeypatch.setenv("AGORA_PLUGIN_BUDGET", "x")
    with pytest.raises(BadParameterError, match="AGORA_PLUGIN_BUDGET"):
        plugin_budget()


def test_without_a_budget_plugin_code_runs_in_the_tick_thread(base_world, registry):
    # Budget 0: no worker thread (and no protection against hangs); faults are still isolated.
    sim, healthy, bad, events, _ = run(base_world, registry, "write_graph", budget=0)
    check_failed(bad, events, "read-only")
    assert_isolated(base_world, registry, sim, healthy)
    assert sim.plugins._cell[0] is None


def test_the_runner_gives_values_and_exceptions_back():
    r = PluginRunner(1.0)
    assert r.call(lambda a, b: a + b, 2, 3) == 5
    with pytest.raises(ZeroDivisionError) as info:
        r.call(lambda: 1 / 0)
    assert "<lambda>" in "".join(__import__("traceback").format_tb(info.value.__traceback__))
    with pytest.raises(PluginTimeout, match="x took longer than 0.2 s in y .*: z"):
        PluginRunner(0.2).call(time.sleep, 5, what="x", where="in y", then="z")
    r.close()


def test_models_and_world_are_untouched_by_read_only_views(base_world, registry):
    # The built-in models still run (they read, never write); spot-check a few with the same world.
    world = base_world.fork()
    before = world_arrays(world)
    sim = Simulation(world, registry=registry, llm=LLMService.offline(world))
    for m in ("ic", "lt", "sir", "seir", "threshold", "viral", "diffusion", "hybrid"):
        sim.inject(m, model=m, seeds="random:10")
    asyncio.run(sim.run(until_done=True, max_ticks=60))
    assert not [s for s in sim.sessions if s.status == "failed"], [(s.model_name, s.error) for s in sim.sessions]
    after = world_arrays(world)
    assert all(np.array_equal(before[k], after[k]) for k in before)


SLEEPER = textwrap.dedent("""
    import time
    from sim.plugin import PropagationModel

    class Sleeper(PropagationModel):
        name = "sleeper"

        def step(self, ctx):
            time.sleep(1e9)
""")


def send_key(app, key: str) -> None:
    """Post one key press to ``app`` as its terminal driver does, and return at once."""
    from textual import events

    event = events.Key(key, key)
    event.set_sender(app)
    app.post_message(event)


@pytest.fixture
def ui_world(tmp_path):
    from sim.store.worldfile import save_world

    path = str(tmp_path / "ui.db")
    asyncio.run(save_world(synthetic_world("ui", 2000, avg_degree=8, seed=5), path))
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "sleeper.py").write_text(SLEEPER)
    return path, str(folder)


async def test_a_hanging_plugin_does_not_freeze_the_ui(ui_world, monkeypatch):
    from tui.app import AgoraApp

    monkeypatch.setenv("AGORA_PLUGIN_BUDGET", "3")
    path, folder = ui_world
    app = AgoraApp(path, plugin_dirs=[folder])
    async with app.run_test(size=(150, 48)) as pilot:
        await asyncio.wait_for(app.ready.wait(), 60)
        await pilot.pause()
        assert app.sim.plugins.budget == 3.0
        healthy = app.sim.inject("fine", model="ic", params={"p": 0.05})
        bad = app.sim.inject("hangs", model="sleeper")
        await pilot.press("n")
        await app.workers.wait_for_complete()  # tick 0: both start
        assert bad.status == "running"
        t0 = time.perf_counter()
        # The keys go in as a terminal sends them: Pilot.press also waits for the process to look idle, which
        # on a loaded machine can take seconds of the budget before the key under test is even sent.
        send_key(app, "n")  # tick 1: the sleeper's step hangs until the budget runs out
        send_key(app, "2")
        deadline = time.monotonic() + 60
        while app._switcher.current != "communities" and bad.status == "running" and time.monotonic() < deadline:
            await pilot.pause(0.01)
        # The key was handled while the tick still ran: the sleeper was not failed yet (a frozen UI would
        # handle it only after the budget, and see it failed).
        assert app._switcher.current == "communities", "a key must work while a plugin hangs"
        assert bad.status == "running", "the UI waited for the hanging tick"
        await app.workers.wait_for_complete()
        assert app.world.tick == 2 and time.perf_counter() - t0 >= 3.0
        assert bad.status == "failed" and "model sleeper took longer than 3 s in one step" in bad.error
        assert healthy.status in ("running", "completed") and healthy.error is None
        await pilot.press("n")
        await app.workers.wait_for_complete()
        assert app.world.tick == 3


JUNK = textwrap.dedent('''
    import time

    import numpy as np
    from sim.plugin import PropagationModel, StepResult

    class Junk(PropagationModel):
        """Hangs past the budget, then (in its abandoned thread) fills its store with what cannot be saved."""
        name = "junk"

        def step(self, ctx):
            ctx.store["ok"] = np.arange(3)
            time.sleep(1.0)
            ctx.store["junk"] = [object()]
            return StepResult.nothing()
''')


async def test_a_world_with_failed_sessions_saves_and_reopens(tmp_path, base_world):
    from sim.store.worldfile import open_world, save_world
    from sim.store.writer import WorldWriter

    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "junk.py").write_text(JUNK)
    (folder / "faults.py").write_text(MODELS)
    reg = Registry([str(folder)], entry_points=False, env=False)
    path = str(tmp_path / "w.db")
    await save_world(base_world.fork(), path)
    world = await open_world(path)
    writer = await WorldWriter(path).start()
    sim = Simulation(world, registry=reg, writer=writer, llm=LLMService.offline(world), plugin_budget=0.3)
    healthy = sim.inject("healthy", **HEALTHY)
    junk = sim.inject("junk", model="junk")
    listed = sim.inject("store", model="store_list")
    await sim.run(ticks=3)
    # Wait for the abandoned junk thread to end (after its sleep it would write junk into the store it had).
    deadline = time.monotonic() + THREAD_END_BOUND
    while sim.plugins.stuck and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert sim.plugins.stuck == 0, "the abandoned junk thread still runs"
    await asyncio.wait_for(sim.checkpoint(), 60)  # junk in a saved store would break (or stall) the save
    await writer.close()
    assert junk.status == "failed" and "took longer than 0.3 s" in junk.error and "junk" not in junk.store
    reopened = await open_world(path)
    by_id = {s.id: s for s in reopened.sessions}
    assert by_id[junk.id].status == "failed" and by_id[junk.id].error == junk.error
    assert by_id[listed.id].status == "failed" and "ctx.store['x']" in by_id[listed.id].error
    assert by_id[healthy.id].reached == healthy.reached
