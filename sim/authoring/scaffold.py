"""``agora plugins list`` and ``agora plugins new``: one plain dict per plugin the registry knows
(:func:`plugin_rows`), and a new plugin written from a template with its tests beside it
(:func:`new_plugin`)."""

from __future__ import annotations

import importlib.util
import keyword
import os
import pkgutil
import re
import sys
from typing import Any

from sim.authoring.templates import TEMPLATES, template_files
from sim.errors import BadParameterError, TargetExistsError
from sim.model.registry import PluginInfo, Registry


def plugin_rows(registry: Registry) -> list[dict[str, Any]]:
    """One plain dict per plugin the registry knows, for ``agora plugins list [--json]``.

    Keys: ``name``, ``kind`` (``model``, ``recommender`` or ``friend-recommender``; ``unknown`` for an
    entry point not imported yet; a failed plugin has the kind its source declares, ``none`` when it
    declares no plugin class), ``version``, ``description``, ``source`` (``builtin``, a file path or
    ``entry-point:<dist>``), ``loaded``, ``status`` (``loaded``, ``not imported`` or ``failed``),
    ``params`` (the schema, for loaded plugins), ``error`` and ``traceback`` (failed ones), ``notes``.
    A failed file that a working plugin of the same name shadows is listed too.

    Args:
        registry: the registry to list.

    Returns:
        The rows, the registry's plugins first, then the failed files it does not list.
    """
    infos: list[PluginInfo] = registry.list()
    listed = {id(i) for i in infos}
    infos += [f for f in registry.failures if id(f) not in listed]
    rows = []
    for info in infos:
        row = info.to_dict()
        row["status"] = "failed" if info.error else ("loaded" if info.loaded else "not imported")
        rows.append(row)
    return rows


def _builtin_names() -> set[str]:
    """Names of the built-in plugins and the module names of the ``plugins`` package."""
    names: set[str] = set()
    try:  # found without importing it: sim knows the plugins only through the registry
        spec = importlib.util.find_spec("plugins")
        if spec is not None:
            names.update(m.name for m in pkgutil.iter_modules(list(spec.submodule_search_locations or [])))
    except Exception:  # pragma: no cover - the package ships with Agora
        pass
    registry = Registry((), builtins=True, entry_points=False, env=False)
    names.update(registry.entries)
    return names


def _class_name(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part) or "Model"


def _check_name(name: str, template: str) -> None:
    """Refuse an unknown template, or a plugin name that is not acceptable, saying why.

    Raises:
        BadParameterError: the template or the name.
    """
    if template not in TEMPLATES:
        raise BadParameterError(
            f"template {template!r} is not one of {', '.join(TEMPLATES)}: choose one of them", fields="template"
        )
    if not isinstance(name, str) or not name.isidentifier() or not name.isascii():
        raise BadParameterError(
            f"plugin name {name!r} is not valid: use letters, digits and underscores, starting with a letter "
            "(e.g. topic_cascade)"
        )
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        raise BadParameterError(f"plugin name {name!r} is a Python keyword: choose another name")
    if name.startswith("_"):
        raise BadParameterError(
            f"plugin name {name!r} starts with '_': plugin folders skip such files, so choose a name starting "
            "with a letter"
        )
    if name.lower().startswith("test"):
        raise BadParameterError(
            f"plugin name {name!r} starts with 'test': pytest would collect the model as a test file; choose "
            "another name"
        )
    if name in sys.stdlib_module_names or name in ("sim", "plugins", "tui", "numpy"):
        raise BadParameterError(
            f"plugin name {name!r} is the name of a Python module it would shadow in its folder: choose another name"
        )
    if name in _builtin_names():
        raise BadParameterError(
            f"plugin name {name!r} is taken by a built-in plugin: choose another name (see 'agora plugins list')"
        )


def new_plugin(name: str, folder: str = ".", template: str = "cascade") -> list[str]:
    """Write a new plugin ``<folder>/<name>.py`` and its tests ``<folder>/test_<name>.py``.

    The plugin is a working, documented propagation model or recommender: the code of a built-in plugin,
    renamed, chosen by the template of :mod:`sim.authoring.templates` (``cascade``: ``topic-cascade``, a
    cascade that only reaches agents who share a topic with the message; ``compartmental``: ``sirs``;
    ``opinion``: ``hegselmann-krause``, bounded-confidence averaging of a continuous opinion; ``network``:
    ``rewiring-cascade``, a cascade whose unconvinced followers rewire; ``recommender``: ``topic-fresh``,
    topic match and freshness; ``friend-recommender``: ``friends-of-friends``); the test file runs the
    conformance suite on it and checks its behaviour. Nothing is overwritten.

    Args:
        name: the plugin's name (what users pass as the model or recommender): a Python identifier, not a
            keyword, not the name of a built-in plugin or a standard-library module, not starting with
            ``_`` or ``test``.
        folder: where to write the files (created if missing).
        template: one of :data:`sim.authoring.templates.TEMPLATES`.

    Returns:
        The paths written (model first).

    Raises:
        BadParameterError: the name is not acceptable (the reason is named), or ``folder`` is a file.
        TargetExistsError: one of the two files exists already (nothing is written then).
    """
    _check_name(name, template)
    folder = os.path.abspath(folder)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise BadParameterError(f"{folder} is a file, not a folder: pass a folder to write the plugin into")
    model_path = os.path.join(folder, f"{name}.py")
    test_path = os.path.join(folder, f"test_{name}.py")
    for path in (model_path, test_path):
        if os.path.exists(path):
            raise TargetExistsError(f"{path} exists already: choose another name or folder (nothing was written)")
    subs = {"NAME": name, "CLASS": _class_name(name), "TITLE": name.replace("_", " ").capitalize()}
    os.makedirs(folder, exist_ok=True)
    written: list[str] = []
    try:
        model_text, test_text = template_files(template)
        for path, source in ((model_path, model_text), (test_path, test_text)):
            text = re.sub(r"@(NAME|CLASS|TITLE)@", lambda m: subs[m.group(1)], source)
            with open(path, "x", encoding="utf-8") as fh:  # "x": never overwrite, even on a race
                fh.write(text)
            written.append(path)
    except FileExistsError:
        for path in written:
            os.unlink(path)
        raise TargetExistsError(f"a file appeared in {folder} while writing: nothing was written") from None
    return written
