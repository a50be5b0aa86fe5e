"""The ``agora`` command: headless, scriptable, every reporting command takes ``--json``.

A user's mistake ends with one sentence on stderr and exit code 2; tracebacks are for bugs.

The parser (every command, flag and help text) is :mod:`sim.cli.parser`; each command's work is done by
its module, which this one imports when the command runs. Packages add commands through the
``agora.commands`` entry-point group: the terminal UI (``tui.commands``) registers ``agora tui``, the bare
``agora`` and ``agora bench tui`` so, and ``sim`` never names it.
"""

from __future__ import annotations

import asyncio
import faulthandler
import gc
import signal
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from typing import Any

from sim.cli.args import EXIT_USAGE
from sim.cli.parser import BUILTIN_COMMANDS, CommandGroup, build_parser
from sim.core.safe import shown
from sim.errors import AgoraError

#: The entry-point group through which packages register commands (see :class:`sim.cli.parser.CommandGroup`).
COMMANDS_GROUP = "agora.commands"

#: What a bare ``agora`` or ``agora tui`` says when no installed package registers the terminal UI.
NO_TUI = (
    "the terminal UI is not registered: no installed package names 'tui' in the 'agora.commands' entry "
    "points; install Agora with pip install -e . (or pip install agora-sim), or run 'agora --help' for the "
    "headless commands"
)

Handler = Callable[[Any], Any]


def command_groups() -> list[CommandGroup]:
    """The command groups installed packages register in ``agora.commands``, by entry-point name."""
    return [ep.load() for ep in sorted(entry_points(group=COMMANDS_GROUP), key=lambda ep: ep.name)]


def _handler(args: Any, groups: Sequence[CommandGroup]) -> Handler:
    """The function that runs the parsed command.

    Each command's module is imported here, when its command runs, and not to build the parser: together they
    load numpy, igraph, the engine, the HTTP server and rich (about 0.9 s against 0.25 s), which ``agora --help``
    and a usage mistake must not wait for.
    """
    command, bench = args.command, getattr(args, "bench", None)
    for group in groups:
        if (command == "bench" and bench in group.BENCHMARKS) or command in group.COMMANDS:
            return group.handle
        if command is None and "tui" in group.COMMANDS:  # a bare `agora` opens the terminal UI
            return group.handle
    if command is None:
        raise AgoraError(NO_TUI)
    if command == "info":
        from sim.cli import info  # noqa: PLC0415 - keeps agora --help fast (see the docstring)

        return info.handle
    if command in ("new", "agent", "save", "load", "social", "topics"):
        from sim.cli import world  # noqa: PLC0415 - keeps agora --help fast (see the docstring)

        return world.handle
    if command == "run":
        from sim.cli import run  # noqa: PLC0415 - keeps agora --help fast (see the docstring)

        return run.handle
    if command in ("analyze", "export", "path") or (command == "bench" and bench == "analysis"):
        from sim.cli import analysis  # noqa: PLC0415 - keeps agora --help fast (see the docstring)

        return analysis.handle
    if command in ("interview", "llm"):
        from sim.cli import llm  # noqa: PLC0415 - keeps agora --help fast (see the docstring)

        return llm.handle
    if command == "bench":
        from sim.cli import bench as bench_module  # noqa: PLC0415 - keeps agora --help fast (see the docstring)

        return bench_module.handle
    if command == "sweep":
        from sim.cli import sweep  # noqa: PLC0415 - keeps agora --help fast (see the docstring)

        return sweep.handle
    if command == "plot":
        from sim.cli import plot  # noqa: PLC0415 - keeps agora --help fast (see the docstring)

        return plot.handle
    if command == "plugins":
        from sim.cli import plugins  # noqa: PLC0415 - keeps agora --help fast (see the docstring)

        return plugins.handle
    if command == "cascades":
        from sim.cli import cascades  # noqa: PLC0415 - keeps agora --help fast (see the docstring)

        return cascades.handle
    if command == "seeds":
        from sim.cli import seeds  # noqa: PLC0415 - keeps agora --help fast (see the docstring)

        return seeds.handle
    if command == "set":
        from sim.cli import set as set_module  # noqa: PLC0415 - keeps agora --help fast (see the docstring)

        return set_module.handle
    if command == "check":
        from sim.cli import check  # noqa: PLC0415 - keeps agora --help fast (see the docstring)

        return check.handle
    if command == "audit":
        from sim.cli import audit  # noqa: PLC0415 - keeps agora --help fast (see the docstring)

        return audit.handle
    if command == "serve":
        from sim.cli import serve  # noqa: PLC0415 - keeps agora --help fast (see the docstring)

        return serve.handle
    raise AssertionError(f"no handler for command {command!r}")  # pragma: no cover - argparse restricts it


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``agora`` console script."""
    words = sys.argv[1:] if argv is None else list(argv)
    # The installed command groups are read (some 50 ms: every installed package's metadata) only when the
    # command line may name one of theirs: not for the built-in commands, except bench (agora bench tui).
    builtin = bool(words) and words[0] in BUILTIN_COMMANDS and words[0] != "bench"
    groups = [] if builtin else command_groups()
    if words[:1] == ["tui"] and not any("tui" in g.COMMANDS for g in groups):
        sys.stderr.write(f"agora: error: {NO_TUI}\n")
        return EXIT_USAGE
    args = build_parser(groups).parse_args(argv)
    if hasattr(signal, "SIGUSR1"):  # kill -USR1 PID prints every thread's stack: what a hung run waits on
        try:
            faulthandler.register(signal.SIGUSR1, all_threads=True)
        except (OSError, ValueError, AttributeError):  # stderr is not a file (captured): no dump then
            pass
    try:
        result = _handler(args, groups)(args)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        return int(result or 0)
    except AgoraError as exc:
        sys.stderr.write(f"agora: error: {shown(exc, 2000)}\n")
        code = getattr(exc, "exit_code", EXIT_USAGE)
        if code != EXIT_USAGE and getattr(exc, "traceback", ""):
            # A plugin's own failure (not the user's input): its frames, for its author.
            sys.stderr.write(shown(str(exc.traceback), 20000, lines=True) + "\n")  # type: ignore[attr-defined]
        return int(code)
    except KeyboardInterrupt:
        sys.stderr.write("agora: interrupted\n")
        return 130
    except BrokenPipeError:
        return 0


def entry() -> None:
    """The ``agora`` console script: :func:`main`, then exit without the interpreter's last full garbage
    collection (``gc.freeze`` puts every object out of its reach; the process's memory goes with it). After
    an ensemble that pass over Numba's and the world's objects took 0.4-0.7 s of a 2.5-3 s command."""
    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    entry()
