"""The ``agora`` command: headless, scriptable, every reporting command takes ``--json``.

A user's mistake ends with one sentence on stderr and exit code 2; tracebacks are for bugs.

The parser (every command, flag and help text) is :mod:`sim.cli.parser`; each command's work is done by
its module, which this one imports when the command runs. Packages add commands through the
``agora.commands`` entry-point group: the terminal UI (``tui.commands``) registers ``agora tui``, the bare
``agora`` and ``agora bench tui`` so, and ``sim`` never names it.
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import functools
import gc
import os
import signal
import sys
from collections.abc import Callable, Sequence
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any, cast

from sim.cli.args import EXIT_USAGE
from sim.cli.fields import flagged
from sim.cli.parser import BUILTIN_COMMANDS, CommandGroup, build_parser
from sim.cli.paths import refuse_replacing_inputs
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


#: The built-in commands run by a module of ``sim.cli`` not named after them; every other one's module has its
#: name (``bench``'s runs every built-in benchmark).
_MODULE_OF = {
    **dict.fromkeys(("new", "agent", "save", "load", "social", "topics"), "world"),
    **dict.fromkeys(("analyze", "export", "path"), "analysis"),
    **dict.fromkeys(("encrypt", "decrypt", "rekey"), "crypt"),
    "interview": "llm",
}


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
    if command not in BUILTIN_COMMANDS:  # pragma: no cover - argparse restricts it
        raise AssertionError(f"no handler for command {command!r}")
    module = _MODULE_OF.get(command, command)
    return cast(Handler, import_module(f"sim.cli.{module}").handle)


@functools.lru_cache(maxsize=4)
def _parser(groups: tuple[CommandGroup, ...]) -> argparse.ArgumentParser:
    """The parser for these command groups, built once in a process (some 20 ms: every command and flag) and
    used again by later calls of :func:`main` in it (the test suite runs the CLI in its own process): a parse
    changes nothing in it."""
    return build_parser(groups)


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
    parser = _parser(tuple(groups))
    args = parser.parse_args(argv)
    if hasattr(signal, "SIGUSR1"):  # kill -USR1 PID prints every thread's stack: what a hung run waits on
        try:
            faulthandler.register(signal.SIGUSR1, all_threads=True)
        except (OSError, ValueError, AttributeError):  # stderr is not a file (captured): no dump then
            pass
    try:
        # Before anything is read or written: no output of the command may replace one of its inputs.
        refuse_replacing_inputs(parser, args)
        if getattr(args, "calendar", None) is not None:  # its changes are parameters like any other
            changes = import_module("sim.store.calendar").read_calendar(args.calendar)
            args.param = [*getattr(args, "param", []), *(f"{k}={v!r}" for k, v in changes.items())]
        if getattr(args, "key_file", None) is not None:
            import_module("sim.core.worldkey").use_key_file(args.key_file)  # not for --help: it loads SQLCipher
            import_module("sim.cli.keyuse").refuse_unused_key(args)
        if getattr(args, "key_file", None) is not None or os.environ.get("AGORA_WORLD_KEY"):
            # The scrypt of the files' keys (about 0.1 s each) runs while the command's modules load.
            import_module("sim.core.sealed").derive_ahead(getattr(args, "world", None), getattr(args, "snapshot", None))
        result = _handler(args, groups)(args)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        return int(result or 0)
    except AgoraError as exc:
        sys.stderr.write(f"agora: error: {shown(flagged(exc, getattr(args, 'command', None)), 2000)}\n")
        code = getattr(exc, "exit_code", EXIT_USAGE)
        if (code != EXIT_USAGE or getattr(exc, "show_traceback", False)) and getattr(exc, "traceback", ""):
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
    worldkey = sys.modules.get("sim.core.worldkey")  # loaded only where a key was given
    if worldkey is not None:
        worldkey.settle()  # no scrypt thread left running as the interpreter shuts down
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    entry()
