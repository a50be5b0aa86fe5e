"""``agora plugins``: list the plugins the registry finds, write a new plugin from a template, check a
plugin file (its propagation models and recommenders).

Wired into ``sim.cli`` with :func:`add_commands` (adds the ``plugins`` command to the top-level
subparsers) and :func:`handle` (runs it; returns the exit code). ``plugins check`` exits 0 when every
conformance check passes and 1 when one fails; a user's mistake raises :class:`~sim.errors.AgoraError`
(one line on stderr, exit 2, as everywhere in the CLI).
"""

from __future__ import annotations

import argparse
import os
import re
from typing import Any

from sim.engine.templates import RECOMMENDER_TEMPLATES, TEMPLATES

EXIT_CHECK_FAILED = 1

# The helpers of sim.cli are imported inside the functions, so that sim.cli may import this module at
# its top without a circular import.


def add_commands(sub: Any) -> None:
    """Add ``plugins list|new|check`` to ``sub`` (the object ``add_subparsers`` returned)."""
    from sim.cli.main import _int, _Parser, _positive_int

    plugins = sub.add_parser(
        "plugins", help="list, create, check and trust plugins (propagation models, recommenders)",
        description="List the plugins Agora finds, write a new propagation model or recommender from a template, or "
                    "check a plugin file against the plugin contract. Plugins are code and run with your rights: only load "
                    "folders you trust.",
    )
    psub = plugins.add_subparsers(dest="plugins_command", metavar="ACTION", parser_class=_Parser, required=True)

    lst = psub.add_parser(
        "list", help="list built-in, user-folder and installed plugins",
        description="List every plugin: built-in ones, those in user folders (--plugins, the AGORA_PLUGINS variable) "
                    "and installed packages' 'agora.plugins' entry points (listed without importing them). "
                    "Plugins that failed to import are listed with their error.",
    )
    lst.add_argument("--plugins", action="append", default=[], metavar="DIR",
                     help="also load the plugins in DIR (repeat for more folders; AGORA_PLUGINS is read too)")
    lst.add_argument("--json", action="store_true", help="print one JSON object on stdout (with parameter schemas and tracebacks)")

    new = psub.add_parser(
        "new", help="write a new propagation model or recommender and its tests from a template",
        description="Write NAME.py, a working and documented plugin, and test_NAME.py, its tests, into a folder, from "
                    "a template. Propagation models: cascade (a cascade that only reaches agents who share a topic "
                    "with the message), compartmental (an SIRS epidemic), opinion (bounded-confidence averaging of a "
                    "continuous opinion variable) or network (a cascade whose unconvinced followers unfollow and "
                    "rewire). Recommenders: recommender (a content recommender: messages sharing a topic with the "
                    "reader, fresher and more adopted first) or friend-recommender (friends of friends). Each passes "
                    "'agora plugins check' as written. Nothing is overwritten.",
    )
    new.add_argument("name", metavar="NAME", help="the plugin's name, a Python identifier (e.g. topic_cascade)")
    new.add_argument("--template", default="cascade", choices=TEMPLATES, metavar="T",
                     help="what to start from: " + ", ".join(TEMPLATES) + " (default: cascade)")
    new.add_argument("--dir", default=".", metavar="DIR", help="folder to write the two files into (default: the current folder; created if missing)")
    new.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    chk = psub.add_parser(
        "check", help="run the conformance suite on a plugin file (models and recommenders)",
        description="Check every plugin in FILE. A propagation model: its schema, the shapes and dtypes of its "
                    "answers, determinism under one seed, that a probability of 0 leaves only the seeds, that sessions "
                    "do not share state, declared monotonicity, its end (an is_done that ends a session right after "
                    "start while rounds would still change something fails), and its speed. A content or friend "
                    "recommender: its schema, the shapes and dtypes of its answers, that -inf and nan scores are "
                    "never shown, no writes to the read-only arrays it is handed, determinism under the tick's "
                    "generator, and its speed. Each plugin is also run across its parameter space (every parameter "
                    "at its extremes with the others default, and random joint draws seeded by --seed) on two small "
                    "worlds, one directed with isolated agents; a failure names the parameter set. Exits 0 when "
                    "every check passes, 1 otherwise. The plugin's code runs in this process (in the simulation's "
                    "plugin thread, under the plugin time budget: AGORA_PLUGIN_BUDGET, 10 s per call) with your rights.",
    )
    chk.add_argument("file", metavar="FILE", help="a .py file defining PropagationModel, ContentRecommender or "
                     "FriendRecommender subclasses")
    chk.add_argument("--agents", type=_positive_int, default=100_000, metavar="N",
                     help="agents of the synthetic graph the speed figure is measured on (default 100,000; the contract "
                          "checks use 2,000, the parameter exploration 500 and 300)")
    chk.add_argument("--seed", type=_int, default=0, help="seed of the synthetic worlds, the sessions and the random "
                     "parameter draws (default 0)")
    chk.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    tr = psub.add_parser(
        "trust", help="load the plugin folder beside a world from now on (until a file in it changes)",
        description="Trust the <world>.plugins folder beside WORLD (or a folder given directly) as it is now: commands "
                    "that open the world load it from then on. Remembered in trusted.json of Agora's user folder "
                    "($AGORA_CONFIG_HOME, else $XDG_CONFIG_HOME/agora, else ~/.config/agora) by the folder's real path "
                    "and a SHA-256 of its files; once a file is added, removed or edited it is not loaded until trusted "
                    "again. Plugins are code that runs with your rights: read them first.",
    )
    tr.add_argument("target", metavar="WORLD", help="a world file (its <world>.plugins folder) or a plugin folder")
    tr.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    un = psub.add_parser("untrust", help="stop loading the plugin folder beside a world",
                         description="Forget that the plugin folder beside WORLD (or the folder given) was trusted.")
    un.add_argument("target", metavar="WORLD", help="a world file (its <world>.plugins folder) or a plugin folder")
    un.add_argument("--json", action="store_true", help="print one JSON object on stdout")


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
    from sim.cli.main import _emit, shown_line
    from sim.model.registry import trust_plugin_folder

    r = trust_plugin_folder(args.target)
    files = f"{r['files']} file{'s' if r['files'] != 1 else ''}"
    _emit(args, r, f"trusted {shown_line(r['folder'])} ({files}, sha256 {r['sha256'][:12]}…): commands that open the "
                   f"world load it until a file in it changes (recorded in {shown_line(r['trust_file'])})")
    return 0


def _cmd_untrust(args: argparse.Namespace) -> int:
    from sim.cli.main import _emit, shown_line
    from sim.model.registry import plugin_folder_of, untrust_plugin_folder

    folder = plugin_folder_of(args.target)
    was = untrust_plugin_folder(args.target)
    _emit(args, {"folder": folder, "was_trusted": was},
          f"{shown_line(folder)} is {'no longer' if was else 'not'} trusted")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from sim.engine.authoring import plugin_rows
    from sim.cli.main import _emit, make_registry

    registry = make_registry(args.plugins)
    rows = plugin_rows(registry)
    _emit(args, {"plugins": rows, "folders": registry.user_dirs}, _render_rows(rows, registry.user_dirs))
    return 0


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
        for note in r.get("notes") or ():
            lines.append(f"{'':<{width}}    note: {note}")
    failed = sum(1 for r in rows if r["status"] == "failed")
    tail = f"{len(rows)} plugins" + (f", {failed} failed to load (--json shows the tracebacks)" if failed else "")
    if folders:
        tail += "; user folders: " + ", ".join(folders)
    lines.append(tail)
    return "\n".join(lines)


def _cmd_new(args: argparse.Namespace) -> int:
    from sim.engine.authoring import new_plugin
    from sim.cli.main import _emit

    written = new_plugin(args.name, args.dir, args.template)
    folder = os.path.dirname(written[0])
    rel = [_short(p) for p in written]
    if args.template in RECOMMENDER_TEMPLATES:
        use = f"agora run WORLD --plugins {_short(folder)} --{args.template} {args.name} --inject TEXT --steps 50"
    else:
        use = f"agora run WORLD --plugins {_short(folder)} --inject TEXT --model {args.name} --until-done"
    text = "\n".join([
        *(f"wrote {p} ({args.template} template)" if i == 0 else f"wrote {p}" for i, p in enumerate(rel)),
        "next:",
        f"  agora plugins check {rel[0]}        run the conformance suite",
        f"  python -m pytest {rel[1]}      run its tests",
        f"  agora plugins list --plugins {_short(folder)}    see it listed",
        f"  {use}    use it",
    ])
    _emit(args, {"name": args.name, "template": args.template, "files": written, "folder": folder}, text)
    return 0


def _short(path: str) -> str:
    """``path`` relative to the current folder when it lies inside it, else absolute."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def _cmd_check(args: argparse.Namespace) -> int:
    from sim.engine.authoring import check_plugin
    from sim.cli.main import _emit
    from sim.cli.progress import stderr_progress

    with stderr_progress() as progress:
        report = check_plugin(args.file, agents=args.agents, seed=args.seed, progress=progress)
    _emit(args, report.to_dict(), report.render())
    return 0 if report.ok else EXIT_CHECK_FAILED
