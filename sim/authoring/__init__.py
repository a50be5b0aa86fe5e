"""The plugin author's kit: ``agora plugins new`` and ``agora plugins check``, and what a plugin's own tests
import (``from sim.authoring import check_plugin, check_world, run_model, run_recommender``).

Imports the engine and everything below it; nothing but the CLI imports it."""

from sim.authoring.kit import (
    ParamSet,
    check_plugin,
    check_world,
    common_topics,
    explore_worlds,
    new_plugin,
    param_space,
    plugin_rows,
    run_model,
    run_recommender,
    schema_problems,
)

__all__ = [
    "ParamSet",
    "check_plugin",
    "check_world",
    "common_topics",
    "explore_worlds",
    "new_plugin",
    "param_space",
    "plugin_rows",
    "run_model",
    "run_recommender",
    "schema_problems",
]
