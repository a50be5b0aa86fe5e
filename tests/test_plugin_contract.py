"""The typed plugin contract (``sim.plugin``): the engine's contexts and views offer every member its
protocols list, a type checker agrees, and the built-in plugins use nothing else.

- every member of ``StepContext``, ``WorldView``, ``SessionView``, ``GraphView``, ``FeedContext``,
  ``FriendContext`` and ``LLMAgents`` is there on the object the engine hands a plugin;
- mypy accepts the engine's classes where the protocols are expected (slow: skipped without mypy);
- every built-in model and recommender runs with a context that refuses any member the protocols do
  not list (so a built-in cannot reach ``ctx.world.sessions``, ``ctx.registry`` and the like).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import typing
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import sim.plugin as contract
from sim.authoring import check_world, run_model, run_recommender
from sim.engine.seeding import Choice
from sim.llm.client import Completion
from sim.llm.prompts import Decision
from sim.llm.service import LLMService, Recalled
from sim.model.context import StepContext
from sim.model.registry import Registry
from sim.model.session import PropagationSession
from sim.social.dynamics import FeedContext, FriendContext

ROOT = Path(__file__).resolve().parents[1]
AGENTS = 600


def members(protocol: type) -> set[str]:
    """The names a protocol lists (its methods, properties and attributes)."""
    out: set[str] = set()
    for klass in protocol.__mro__:
        if klass in (object, typing.Protocol, typing.Generic):
            continue
        out |= {k for k in (*vars(klass), *getattr(klass, "__annotations__", {})) if not k.startswith("_")}
    return out


def started_session(world: Any) -> PropagationSession:
    registry = Registry(entry_points=False, env=False)
    model = registry.model("ic")()
    s = PropagationSession(
        id=1,
        message_id=1,
        model_name="ic",
        params=dict(model.p),
        seeds="random:5",
        message={"id": 1, "text": "x", "topics": 3, "author": 0, "created_tick": 0},
    )
    s.registry = registry
    world.messages.append(s.message)
    world.sessions.append(s)
    s.start(world, model, 0)
    return s


def test_the_protocols_list_what_the_docs_promise():
    """A sample of each protocol's members, so that an accidental deletion fails here."""
    assert {
        "frontier",
        "gather",
        "gather_targets",
        "random_edges",
        "feed_open",
        "with_feed",
        "store",
        "rng",
        "variables",
        "world",
        "session",
        "graph",
        "llm",
        "model_class",
        "stream_rng",
    } <= members(contract.StepContext)
    assert {"registry", "close", "set_feed", "feed_used"}.isdisjoint(members(contract.StepContext))
    assert {"sessions", "messages", "delta", "config"}.isdisjoint(members(contract.WorldView))
    assert {"readers", "sessions", "shape", "interest_match", "recent_sessions"} <= members(contract.FeedContext)
    assert {"agents", "two_hop", "compatibility", "candidates_random"} <= members(contract.FriendContext)


def test_the_engine_contexts_offer_every_member_the_protocols_list():
    world = check_world(AGENTS)
    s = started_session(world)
    ctx = StepContext(s, world, 1)
    feed = FeedContext(world, np.arange(10, dtype=np.int32), [s], 1, np.random.default_rng(0), {})
    friend = FriendContext(world, np.arange(10, dtype=np.int32), 3, 1, np.random.default_rng(0), {})
    llm = LLMService.offline(world)
    pairs = [
        (ctx, contract.StepContext),
        (ctx.world, contract.WorldView),
        (ctx.session, contract.SessionView),
        (ctx.graph, contract.GraphView),
        (ctx.world.graph, contract.GraphView),
        (feed, contract.FeedContext),
        (feed.sessions[0], contract.SessionView),
        (feed.world, contract.WorldView),
        (friend, contract.FriendContext),
        (friend.graph, contract.GraphView),
        (llm, contract.LLMAgents),
        (Recalled(), contract.Recollection),
        (Completion("x", "llm"), contract.Answer),
        (Decision("like"), contract.Decision),
    ]
    for obj, protocol in pairs:
        missing = sorted(m for m in members(protocol) if not hasattr(obj, m))
        assert not missing, f"{type(obj).__name__} lacks {protocol.__name__}.{missing}"
        assert isinstance(obj, protocol)
    # The new members do what they say.
    assert ctx.model_class("sir").name == "sir"
    assert np.array_equal(ctx.stream_rng(11).random(3), ctx.stream_rng(11).random(3))
    assert not np.array_equal(ctx.stream_rng(11).random(3), ctx.stream_rng(12).random(3))
    assert [v.id for v in feed.recent_sessions(5)] == [1] and feed.recent_sessions(0) == ()


@pytest.mark.slow
def test_a_type_checker_accepts_the_engine_classes_as_the_protocols(tmp_path):
    pytest.importorskip("mypy")
    probe = tmp_path / "probe.py"
    probe.write_text(
        textwrap.dedent("""
        from sim import plugin
        from sim.llm.client import Completion
        from sim.llm.prompts import Decision
        from sim.llm.service import LLMService, Recalled
        from sim.model.context import StepContext
        from sim.social.dynamics import FeedContext, FriendContext

        def model(ctx: StepContext) -> plugin.StepContext:
            return ctx

        def feed(ctx: FeedContext) -> plugin.FeedContext:
            return ctx

        def friend(ctx: FriendContext) -> plugin.FriendContext:
            return ctx

        def llm(service: LLMService) -> plugin.LLMAgents:
            return service

        def parts(r: Recalled, c: Completion, d: Decision) -> tuple[plugin.Recollection, plugin.Answer, object]:
            plugin_decision: plugin.Decision = d
            return r, c, d
    """)
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--ignore-missing-imports",
            "--follow-imports=silent",
            "--cache-dir",
            str(tmp_path / "cache"),
            str(probe),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


class Only:
    """``obj`` seen through ``protocol``: reading a member the protocol does not list fails the plugin."""

    NESTED = {
        "world": contract.WorldView,
        "session": contract.SessionView,
        "graph": contract.GraphView,
        "llm": contract.LLMAgents,
    }

    def __init__(self, obj: Any, protocol: type) -> None:
        self._obj, self._protocol, self._members = obj, protocol, members(protocol)

    def __getattr__(self, name: str) -> Any:
        if name not in self._members:
            raise AssertionError(f"a built-in read {self._protocol.__name__}.{name}, which the contract does not list")
        value = getattr(self._obj, name)
        if name in self.NESTED and value is not None:
            return Only(value, self.NESTED[name])
        if name in ("sessions", "recent_sessions"):
            if callable(value):
                return lambda *a: tuple(Only(v, contract.SessionView) for v in value(*a))
            return tuple(Only(v, contract.SessionView) for v in value)
        return value


def strict_model(cls: type) -> type:
    class Strict(cls):  # type: ignore[misc, valid-type]
        def start(self, ctx):
            return super().start(Only(ctx, contract.StepContext))

        def step(self, ctx):
            return super().step(Only(ctx, contract.StepContext))

        def is_done(self, ctx):
            return super().is_done(Only(ctx, contract.StepContext))

    Strict.__name__ = Strict.__qualname__ = cls.__name__
    return Strict


def strict_recommender(cls: type) -> type:
    protocol = contract.FeedContext if issubclass(cls, contract.ContentRecommender) else contract.FriendContext
    method = "score" if protocol is contract.FeedContext else "suggest"

    def call(self, ctx):
        return getattr(super(Strict, self), method)(Only(ctx, protocol))

    Strict = type(cls.__name__, (cls,), {method: call})
    return Strict


def builtins(kind: str) -> list[type]:
    registry = Registry(entry_points=False, env=False)
    return [
        registry.model(i.name) if kind == "model" else i.cls
        for i in registry.list()
        if i.source == "builtin"
        and (i.kind in ("recommender", "friend-recommender") if kind == "recommender" else i.kind == kind)
    ]


@pytest.mark.parametrize("cls", builtins("model"), ids=lambda c: c.name)
def test_every_built_in_model_uses_only_what_the_contract_lists(cls):
    session = run_model(strict_model(cls), check_world(AGENTS), seeds="random:10", rounds=8)
    assert session.error is None, session.traceback
    assert session.round > 0 or session.status == "completed"


@pytest.mark.parametrize("cls", builtins("recommender"), ids=lambda c: f"{c.role}-{c.name}")
def test_every_built_in_recommender_uses_only_what_the_contract_lists(cls):
    run = run_recommender(strict_recommender(cls), check_world(AGENTS), ticks=3)
    assert run.error is None, run.traceback
    assert run.calls > 0


@pytest.mark.parametrize("cls", builtins("seeder"), ids=lambda c: c.name)
def test_every_built_in_seed_method_uses_only_what_the_contract_lists(cls):
    world = check_world(AGENTS)
    registry = Registry(entry_points=False, env=False)
    model = cls.models[0] if cls.models else "ic"
    params = registry.model(model).validate({"p": 0.2} if model == "ic" else {})
    calls = []

    def spread(agents, runs, seed):
        calls.append(len(agents))
        return float(len(agents))

    ctx = Choice(world, 5, model, params, 3, spread)
    method = cls(**({"candidates": 12, "mc_runs": 1} if cls.name == "celf" else {}))
    chosen = np.asarray(method.choose(Only(ctx, contract.SeedContext)))
    assert chosen.size == 5 and np.unique(chosen).size == 5 and chosen.min() >= 0 and chosen.max() < world.n
    assert isinstance(ctx, contract.SeedContext)
    if cls.name == "celf":
        assert calls and min(calls) == 1
