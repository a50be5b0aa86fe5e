"""The terminal UI's commands, registered with ``agora`` through the ``agora.commands`` entry-point group
(``pyproject.toml``): ``agora tui [WORLD]`` (and a bare ``agora``), which open the UI on a world, and
``agora bench tui``. ``sim`` never imports this package; it finds these commands by their entry point.

``agora --help`` loads this module to list the commands, so it imports only the parser's helpers: the
UI itself (Textual) is imported when a command runs.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from sim.cli.args import checkpoint_arguments, llm_arguments, metrics_arguments, non_negative_int, positive_int
from sim.cli.output import emit
from sim.errors import BadParameterError

#: The top-level commands this module adds (``tui`` also runs a bare ``agora``).
COMMANDS = ("tui",)
#: The benchmarks it adds to ``agora bench``.
BENCHMARKS = ("tui",)


def add_commands(sub: Any) -> None:
    """Add ``agora tui`` to the top-level subparsers."""
    tui = sub.add_parser(
        "tui", help="open the terminal UI on a world", description="Open the terminal UI on a world file."
    )
    tui.add_argument(
        "world", metavar="WORLD", nargs="?", help="world file (default: the default world in the saves folder)"
    )
    tui.add_argument(
        "--plugins", action="append", default=[], metavar="DIR", help="load user plugins from DIR (repeatable)"
    )
    checkpoint_arguments(tui)
    metrics_arguments(tui)
    llm_arguments(tui, local_model=True)
    tui.add_argument(
        "--serve",
        action="store_true",
        help="serve the UI to a browser on this machine (127.0.0.1, a token in the URL; each tab runs the UI on "
        "WORLD; pip install 'agora-sim[serve]')",
    )
    tui.add_argument(
        "--port", type=non_negative_int, metavar="P", help="with --serve: the port (default 8566; 0: a free one)"
    )


def add_bench_commands(bsub: Any) -> None:
    """Add ``agora bench tui`` to the ``bench`` subparsers."""
    bt = bsub.add_parser(
        "tui",
        help="keypress-to-screen latency with a large world running; first frame",
        description="TUI benchmark (Textual Pilot, headless): keypress latency while a world of N agents runs, "
        "beside the same keys on a tiny idle world, and the time to the first frame on a default-sized world.",
    )
    bt.add_argument(
        "--agents",
        type=positive_int,
        default=None,
        metavar="N",
        help="agents (default 1,000,000; with --replay, 100,000 then 1,000,000)",
    )
    bt.add_argument(
        "--sessions", type=positive_int, default=5, metavar="S", help="concurrent sessions while measuring (default 5)"
    )
    bt.add_argument(
        "--forecast",
        action="store_true",
        help="also time the keys while a forecast (f: 200 continuations an arm, two arms) runs, beside the same "
        "keys without one in the same run",
    )
    bt.add_argument(
        "--replay",
        action="store_true",
        help="instead: time the replay (p) of an ended SIR session on worlds of 100,000 and 1,000,000 agents (or "
        "--agents N alone): its first load, a jump to a random tick and a ] press, each to the screen repainted, "
        "and its memory, beside a 1,000-agent world",
    )
    bt.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def handle(args: argparse.Namespace) -> int:
    """Run ``agora tui``, a bare ``agora`` or ``agora bench tui``; returns the exit code."""
    if args.command == "bench":
        # Textual and the engine are imported when the benchmark runs: `agora --help` loads this module.
        from tui.bench import bench_replay, bench_tui, replay_text  # noqa: PLC0415 - Textual, only to run it

        if args.replay:
            result = bench_replay((100_000, 1_000_000) if args.agents is None else (args.agents,))
            emit(args, result, replay_text(result))
            return 0
        agents = 1_000_000 if args.agents is None else args.agents
        result = bench_tui(agents, sessions=args.sessions, forecast=args.forecast)
        emit(args, result, "\n".join(f"{k:<36}{v}" for k, v in result.items() if not isinstance(v, dict)))
        return 0
    # The engine (numpy, igraph) and Textual are imported when the UI opens: `agora --help` loads this module.
    from sim.cli.llm import llm_overrides, refuse_unused_llm_for  # noqa: PLC0415 - the engine, only to open the UI
    from sim.cli.run import file_llm  # noqa: PLC0415 - the engine, only to open the UI
    from sim.cli.world import world_for_ui  # noqa: PLC0415 - the engine, only to open the UI
    from tui.app import run_app  # noqa: PLC0415 - Textual, only to open the UI

    llm = llm_overrides(args) or None  # a bad setting, or the local model unusable here: one sentence first
    if getattr(args, "port", None) is not None and not getattr(args, "serve", False):
        raise BadParameterError("--port is the port of --serve: add --serve, or drop --port")
    if getattr(args, "serve", False):
        if llm is not None or getattr(args, "metrics_port", None) is not None:
            raise BadParameterError(
                "--serve runs the UI in each browser tab with the world's own settings: drop --llm and --metrics-port"
            )
        from tui.serve import DEFAULT_PORT, serve  # noqa: PLC0415 - textual-serve, only to serve the UI

        os.environ["AGORA_FORCE_TUI"] = "1"  # the UI each tab runs draws to the page, not to a terminal
        world = world_for_ui(args)
        assert world is not None
        args.port = DEFAULT_PORT if args.port is None else args.port
        return serve(world, args)
    world = world_for_ui(args)
    if world is None:  # no terminal: the world it would open was described instead
        return 0
    # Settings that would have no effect (the offline generator answers) are refused, as agora run does.
    refuse_unused_llm_for(args, file_llm(world), llm, command="run")
    run_app(
        world,
        plugin_dirs=getattr(args, "plugins", []),
        metrics_port=getattr(args, "metrics_port", None),
        metrics_host=args.metrics_host,
        checkpoint_every=50 if getattr(args, "checkpoint_every", None) is None else args.checkpoint_every,
        checkpoint_seconds=getattr(args, "checkpoint_seconds", None) or None,
        llm=llm,
    )
    return 0
