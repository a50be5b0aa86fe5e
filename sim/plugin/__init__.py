"""The plugin contract: all a plugin imports from ``sim``.

A plugin is a class. It declares ``name``, ``version``, ``description`` and a typed parameter schema
(``params``: name -> :class:`Param`), and the registry finds it in the built-in ``plugins`` package, in
user folders, or through the ``agora.plugins`` entry-point group. Two kinds:

- a propagation model (:class:`PropagationModel`): each round it gets a context satisfying
  :class:`StepContext` and answers a :class:`StepResult`;
- a recommender: :class:`ContentRecommender` (feeds; its context: :class:`FeedContext`) or
  :class:`FriendRecommender` (whom to follow; :class:`FriendContext`), both contexts a
  :class:`RecommenderContext` (the clock, the world and the tick's generator);
- a seed method (:class:`SeedMethod`): chooses ``k`` agents to seed a message or to block; its context is
  :class:`SeedContext`;
- a forecaster (:class:`Forecaster`): forecasts the next ticks of an observed series from its history up to a cut
  (``agora backtest --method NAME``); its context is :class:`ForecastContext`.

The contexts are typed protocols listing exactly what a plugin may use; the world, sessions and graph
they hand out are read-only views (:class:`WorldView`, :class:`SessionView`, :class:`GraphView`). A
type checker (``mypy``) checks a plugin against them. :func:`union_agents` and :func:`aggregate_pairs`
are the array helpers the built-ins use. See docs/writing-a-model.md and docs/writing-a-recommender.md.

The package imports only ``sim.core`` and ``sim.errors``: the engine that runs plugins sits above it.
"""

from sim.errors import BadParameterError
from sim.plugin.arrays import (
    aggregate_pairs,
    csr_positions,
    disjoint_batches,
    first_conflict,
    first_hits,
    union_agents,
    unique_sorted,
    update_levels,
)
from sim.plugin.base import Plugin
from sim.plugin.forecaster import ForecastContext, Forecaster
from sim.plugin.model import (
    Answer,
    Decision,
    LLMAgents,
    PropagationModel,
    Recollection,
    StepContext,
    StepResult,
)
from sim.plugin.params import Param, Variable
from sim.plugin.recommender import (
    ContentRecommender,
    FeedContext,
    FriendContext,
    FriendRecommender,
    Recommender,
    RecommenderContext,
)
from sim.plugin.seeding import SeedContext, SeedMethod
from sim.plugin.views import GraphView, SessionView, WorldView

__all__ = [
    "Answer",
    "BadParameterError",
    "ContentRecommender",
    "Decision",
    "FeedContext",
    "ForecastContext",
    "Forecaster",
    "FriendContext",
    "FriendRecommender",
    "GraphView",
    "LLMAgents",
    "Param",
    "Plugin",
    "PropagationModel",
    "Recollection",
    "Recommender",
    "RecommenderContext",
    "SeedContext",
    "SeedMethod",
    "SessionView",
    "StepContext",
    "StepResult",
    "Variable",
    "WorldView",
    "aggregate_pairs",
    "csr_positions",
    "disjoint_batches",
    "first_conflict",
    "first_hits",
    "union_agents",
    "unique_sorted",
    "update_levels",
]
