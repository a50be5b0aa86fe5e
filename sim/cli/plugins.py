"""``agora plugins``: list the plugins the registry finds, write a new plugin from a template, check a
plugin file (its propagation models and recommenders).

Its flags are declared in :mod:`sim.cli.parser` (``add_plugins``); :func:`handle` runs it and returns the
exit code. ``plugins check`` exits 0 when every conformance check passes and 1 when one fails; a user's
mistake raises :class:`~sim.errors.AgoraError` (one line on stderr, exit 2, as everywhere in the CLI).
"""

from __future__ import annotations

import argparse
import os
import re
from typing import Any

from sim.authoring import check_plugin, new_plugin, plugin_rows
from sim.authoring.templates import RECOMMENDER_TEMPLATES
from sim.cli.output import emit, shown_line
from sim.cli.progress import stderr_progress
from sim.model.registry import (
    PluginInfo,
    Registry,
    plugin_folder_of,
    plugin_registry,
    trust_plugin_folder,
    untrust_plugin_folder,
)
from sim.model.series import counts_line, what_counts

EXIT_CHECK_FAILED = 1


def handle(args: argparse.Namespace) -> int:
    """Run the ``plugins`` action in ``args``; returns the exit code.

    Raises:
        AgoraError: a user's mistake (a missing file, a bad name, an existing target).
    """
    action = args.plugins_command
    if action == "list":
        return _cmd_list(args)
    if action == "new":
        return _cmd_new(args)
    if action == "check":
        return _cmd_check(args)
    if action == "trust":
        return _cmd_trust(args)
    if action == "untrust":
        return _cmd_untrust(args)
    raise AssertionError(f"unknown plugins action {action!r}")  # pragma: no cover - argparse restricts it


def _cmd_trust(args: argparse.Namespace) -> int:
    r = trust_plugin_folder(args.target)
    files = f"{r['files']} file{'s' if r['files'] != 1 else ''}"
    emit(
        args,
        r,
        f"trusted {shown_line(r['folder'])} ({files}, sha256 {r['sha256'][:12]}…): commands that open the "
        f"world load it until a file in it changes (recorded in {shown_line(r['trust_file'])})",
    )
    return 0


def _cmd_untrust(args: argparse.Namespace) -> int:
    folder = plugin_folder_of(args.target)
    was = untrust_plugin_folder(args.target)
    emit(
        args, {"folder": folder, "was_trusted": was}, f"{shown_line(folder)} is {'no longer' if was else 'not'} trusted"
    )
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from sim.runs.backtest.methods import registered  # noqa: PLC0415 - the backtest's forecasters, listed too

    registry = registered(plugin_registry(None, args.plugins))
    rows = plugin_rows(registry)
    models = {id(i.cls): i.cls for i in registry.list("model") if i.cls is not None}
    for row, info in zip(rows, _infos(registry)):
        cls = models.get(id(info.cls))
        if cls is not None and row["status"] == "loaded":
            row["series"] = what_counts(cls)  # what new, onsets and removals count
    emit(args, {"plugins": rows, "folders": registry.user_dirs}, _render_rows(rows, registry.user_dirs))
    return 0


def _infos(registry: Registry) -> list[PluginInfo]:
    """The entries :func:`~sim.authoring.plugin_rows` lists, in its order (a row each)."""
    infos = registry.list()
    listed = {id(i) for i in infos}
    return infos + [f for f in registry.failures if id(f) not in listed]


def _where(tb: str | None) -> str | None:
    """``file, line N`` of the traceback's last frame outside the import machinery."""
    if not tb:
        return None
    frames = re.findall(r'File "([^"]+)", line (\d+)', tb)
    frames = [f for f in frames if not f[0].startswith("<frozen") and "importlib" not in f[0]]
    if not frames:
        return None
    path, line = frames[-1]
    return f"{path}, line {line}"


def _render_rows(rows: list[dict[str, Any]], folders: list[str]) -> str:
    if not rows:
        return "no plugins found"
    width = max(len(r["name"]) for r in rows)
    lines = []
    for r in rows:
        if r["status"] == "failed":
            kind = r["kind"] if r["kind"] != "none" else "no plugin"
            lines.append(f"{r['name']:<{width}}  {kind} FAILED  {r['source']}")
            lines.append(f"{'':<{width}}    {r['error']}")
            where = _where(r.get("traceback"))
            if where:
                lines.append(f"{'':<{width}}    at {where}")
            continue
        if r["status"] == "not imported":
            lines.append(f"{r['name']:<{width}}  ?            {r['source']}  (installed; imported on first use)")
            continue
        version = f"{r['kind']} {r['version']}"
        lines.append(f"{r['name']:<{width}}  {version:<11}  {r['source']}")
        if r.get("description"):
            lines.append(f"{'':<{width}}    {r['description']}")
        params = r.get("params") or {}
        if params:
            parts = []
            for k, spec in params.items():
                rng = ""
                if spec.get("choices"):
                    rng = " (" + "|".join(spec["choices"]) + ")"
                elif spec.get("min") is not None or spec.get("max") is not None:
                    lo = "-inf" if spec.get("min") is None else f"{spec['min']:g}"
                    hi = "inf" if spec.get("max") is None else f"{spec['max']:g}"
                    rng = f" [{lo}, {hi}]"
                parts.append(f"{k}={spec['default']}{rng}")
            lines.append(f"{'':<{width}}    params: " + ", ".join(parts))
        if r.get("series"):
            lines.append(f"{'':<{width}}    series: {counts_line(r['series'])}")
        for note in r.get("notes") or ():
            lines.append(f"{'':<{width}}    note: {note}")
    failed = sum(1 for r in rows if r["status"] == "failed")
    tail = f"{len(rows)} plugins" + (f", {failed} failed to load (--json shows the tracebacks)" if failed else "")
    if folders:
        tail += "; user folders: " + ", ".join(folders)
    lines.append(tail)
    return "\n".join(lines)


def _cmd_new(args: argparse.Namespace) -> int:
    written = new_plugin(args.name, args.dir, args.template)
    folder = os.path.dirname(written[0])
    rel = [_short(p) for p in written]
    if args.template in RECOMMENDER_TEMPLATES:
        use = f"agora run WORLD --plugins {_short(folder)} --{args.template} {args.name} --inject TEXT --steps 50"
    elif args.template == "forecaster":
        use = (
            f"agora backtest WORLD --observed FILE --model sir --param beta=0.01..1 --plugins {_short(folder)} "
            f"--method {args.name},persistence"
        )
    else:
        use = f"agora run WORLD --plugins {_short(folder)} --inject TEXT --model {args.name} --until-done"
    text = "\n".join(
        [
            *(f"wrote {p} ({args.template} template)" if i == 0 else f"wrote {p}" for i, p in enumerate(rel)),
            "next:",
            f"  agora plugins check {rel[0]}        run the conformance suite",
            f"  python -m pytest {rel[1]}      run its tests",
            f"  agora plugins list --plugins {_short(folder)}    see it listed",
            f"  {use}    use it",
        ]
    )
    emit(args, {"name": args.name, "template": args.template, "files": written, "folder": folder}, text)
    return 0


def _short(path: str) -> str:
    """``path`` relative to the current folder when it lies inside it, else absolute."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def _cmd_check(args: argparse.Namespace) -> int:
    with stderr_progress() as progress:
        report = check_plugin(args.file, agents=args.agents, seed=args.seed, progress=progress)
    emit(args, report.to_dict(), report.render())
    return 0 if report.ok else EXIT_CHECK_FAILED
