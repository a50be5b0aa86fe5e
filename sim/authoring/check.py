"""``agora plugins check``: the conformance suite (:func:`check_plugin`). Every
:class:`~sim.plugin.PropagationModel`, :class:`~sim.plugin.ContentRecommender` and
:class:`~sim.plugin.FriendRecommender` subclass in a file is imported with
:func:`sim.model.registry.load_file` and run through real :class:`~sim.engine.simulation.Simulation` ticks
on small synthetic worlds. Each check passes or fails with a reason; a plugin that raises is reported with
its traceback (its own frames, ``file:line``) and never crashes the checker. The checks of a model are
listed in :mod:`sim.authoring.model_checks`, those of a recommender in :mod:`sim.authoring.recommender_checks`.

The checker runs the plugin's code in this process: the file is imported here (several times: each
fresh import runs its module-level code again), and its methods are called by the simulations the
checker runs, in their plugin worker thread under the plugin time budget (``AGORA_PLUGIN_BUDGET``,
10 s per call by default), so a call that never returns fails its check instead of hanging. Plugins are
code and run with your rights.
"""

from __future__ import annotations

import inspect
import os
from types import ModuleType

from sim.authoring.forecaster_checks import check_forecaster
from sim.authoring.harness import format_traceback
from sim.authoring.model_checks import check_model
from sim.authoring.model_runs import CONTRACT_ROUNDS
from sim.authoring.recommender_checks import check_recommender
from sim.authoring.report import CheckReport, PluginCheck, Progress
from sim.authoring.worlds import CONTRACT_AGENTS, base_world, explore_world_rows
from sim.core.world import World
from sim.errors import BadFileError, BadParameterError
from sim.model.registry import load_file
from sim.plugin import ContentRecommender, Forecaster, FriendRecommender, PropagationModel, Recommender


def _check_arguments(path: str, agents: int, rounds: int) -> None:
    """Refuse a path that is not a plugin file, and sizes too small to judge anything by."""
    if not os.path.exists(path):
        raise BadFileError(f"plugin file {path} does not exist: give the path of a .py file")
    if os.path.isdir(path):
        raise BadFileError(f"{path} is a folder: give the path of one plugin file (.py)")
    if not path.endswith(".py"):
        raise BadFileError(f"{path} is not a Python file: plugin files end in .py")
    if agents < 100:
        raise BadParameterError(f"agents must be at least 100 for a meaningful check, got {agents}", fields="agents")
    if rounds < 1:
        raise BadParameterError(f"rounds must be at least 1, got {rounds}")


def _import(report: CheckReport, path: str) -> ModuleType | None:
    """The plugin file, imported; None (and a failed ``import`` check) when importing it raised."""
    try:
        return load_file(path)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # a plugin may raise anything at import, even SystemExit
        tb = format_traceback(exc)
        report.add(None, "import", "fail", f"the file failed to import: {type(exc).__name__}: {exc}", tb)
        return None


def _no_plugin(defined: list[type]) -> str:
    """Why a file that defines no named plugin class holds nothing to check."""
    nameless = [c.__name__ for c in defined if issubclass(c, (PropagationModel, Recommender, Forecaster))]
    if nameless:
        return (
            f"{', '.join(nameless)} subclass a plugin class but set no name, so the registry ignores them: "
            'set name = "..."'
        )
    return (
        "the file defines no subclass of sim.plugin.PropagationModel, ContentRecommender, FriendRecommender or "
        "Forecaster with a name: it holds no plugin to check"
    )


def _check_names(
    report: CheckReport, models: list[type[PropagationModel]], recommenders: list[type[Recommender]]
) -> None:
    """A failed check for two plugins of one kind that share a name (the registry would keep one)."""
    names = [str(c.name) for c in models]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        report.add(
            None, "models", "fail", f"two classes in the file are both named {dup!r}: the registry would keep only one"
        )
    rec_keys = [(str(c.name), issubclass(c, FriendRecommender)) for c in recommenders]
    if len(set(rec_keys)) != len(rec_keys):
        dup = next(k for k in rec_keys if rec_keys.count(k) > 1)[0]
        report.add(
            None,
            "recommenders",
            "fail",
            f"two recommender classes in the file are both named {dup!r}: the registry would keep only one",
        )


def _recommender_labels(report: CheckReport, recommenders: list[type[Recommender]]) -> list[tuple[type, str]]:
    """Each recommender with the label its checks carry (its name, with its kind when a model or the
    other kind has the same name), listed in the report."""
    labels: list[tuple[type, str]] = []
    for c in recommenders:
        kind = "friend-recommender" if issubclass(c, FriendRecommender) else "recommender"
        label = str(c.name)
        if label in report.models or label in report.recommenders:  # a model or the other kind has the same name
            label = f"{label} ({'content recommender' if kind == 'recommender' else kind})"
        report.recommenders.append(label)
        report.kinds[label] = kind
        labels.append((c, label))
    return labels


def check_plugin(
    path: str, *, agents: int = 100_000, seed: int = 0, rounds: int = CONTRACT_ROUNDS, progress: Progress = None
) -> CheckReport:
    """Run the conformance suite on every plugin in the file ``path``: its propagation models, content
    recommenders and friend recommenders.

    The contract checks run on a synthetic world of ``min(agents, 2000)`` agents, the parameters are
    explored on two small worlds (:func:`~sim.authoring.worlds.explore_worlds`), and the speed figure is
    measured on a world of ``agents`` agents. See the module docstrings of
    :mod:`sim.authoring.model_checks` and :mod:`sim.authoring.recommender_checks` for the checks. The
    plugin's code runs in this process (in the simulation's plugin worker thread, under the plugin time
    budget).

    Args:
        path: a Python file defining one or more plugin classes.
        agents: agents of the graph the speed figure is measured on.
        seed: seed of the synthetic worlds, of the sessions' generators and of the random parameter draws.
        rounds: the most rounds a model's contract run lasts.
        progress: optional ``(phase, fraction)`` callback.

    Returns:
        The report; a file that fails to import, or defines no plugin, gives a report with a failed check.

    Raises:
        BadFileError: ``path`` does not exist, is a folder or is not a ``.py`` file.
        BadParameterError: ``agents`` below 100 or ``rounds`` below 1.
    """
    path = os.path.abspath(path)
    _check_arguments(path, agents, rounds)
    report = CheckReport(path)
    module = _import(report, path)
    if module is None:
        return report
    defined = [obj for _, obj in inspect.getmembers(module, inspect.isclass) if obj.__module__ == module.__name__]
    models = [c for c in defined if issubclass(c, PropagationModel) and c is not PropagationModel and c.name]
    recommenders = [
        c
        for c in defined
        if issubclass(c, Recommender) and c.name and c not in (Recommender, ContentRecommender, FriendRecommender)
    ]
    recommenders.sort(key=lambda c: issubclass(c, FriendRecommender))  # content first, each by class name
    forecasters = [c for c in defined if issubclass(c, Forecaster) and c is not Forecaster and c.name]
    if not models and not recommenders and not forecasters:
        report.add(None, "models", "fail", _no_plugin(defined))
        return report
    for cls in forecasters:  # no world to build: a forecaster sees a series
        report.forecasters.append(str(cls.name))
        report.kinds[str(cls.name)] = "forecaster"
        check_forecaster(report, cls, seed)
    if not models and not recommenders:
        return report
    _check_names(report, models, recommenders)
    report.models = [str(c.name) for c in models]
    labels = _recommender_labels(report, recommenders)
    if progress is not None:
        progress("building the check world", 0.0)
    base = base_world(min(agents, CONTRACT_AGENTS), seed)
    report.world = {"agents": base.n, "edges": base.num_edges, "seed": seed}

    def speed_world() -> World:
        if progress is not None:
            progress(f"building a {agents:,}-agent world", 0.0)
        return base_world(agents, seed)

    report.explore_worlds = explore_world_rows(seed)
    count = len(models) + len(labels)
    for i, model in enumerate(models):
        report.kinds[str(model.name)] = "model"
        plugin = PluginCheck(report, path, model.name, base, speed_world, seed, progress, (i / count, (i + 1) / count))
        check_model(plugin, model, rounds)
    for j, (rec, label) in enumerate(labels, start=len(models)):
        plugin = PluginCheck(report, path, label, base, speed_world, seed, progress, (j / count, (j + 1) / count))
        check_recommender(plugin, rec)
    return report
