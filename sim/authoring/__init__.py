"""The plugin author's kit: ``agora plugins new`` and ``agora plugins check``, and what a plugin's own tests
import (``from sim.authoring import check_plugin, check_world, run_model, run_recommender``).

Imports the engine and everything below it; nothing but the CLI imports it. One module per idea:

- :mod:`~sim.authoring.scaffold`: ``agora plugins list`` rows and ``agora plugins new`` (from
  :mod:`~sim.authoring.templates`);
- :mod:`~sim.authoring.check`: ``agora plugins check``, which writes a :mod:`~sim.authoring.report`
  from the :mod:`~sim.authoring.model_checks` and :mod:`~sim.authoring.recommender_checks` of each plugin
  in a file, the declarations judged by :mod:`~sim.authoring.schema`, the parameter space
  (:mod:`~sim.authoring.params`) run by :mod:`~sim.authoring.explore`;
- the runs they are built on: :mod:`~sim.authoring.worlds` (the synthetic worlds),
  :mod:`~sim.authoring.harness` (running a plugin's code), :mod:`~sim.authoring.model_runs`,
  :mod:`~sim.authoring.recommender_runs`, and :mod:`~sim.authoring.judge` (what went wrong in a run)."""

from sim.authoring.check import check_plugin
from sim.authoring.model_runs import run_model
from sim.authoring.params import ParamSet, param_space
from sim.authoring.recommender_runs import run_recommender
from sim.authoring.scaffold import new_plugin, plugin_rows
from sim.authoring.schema import schema_problems
from sim.authoring.worlds import check_world, common_topics, explore_worlds

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
