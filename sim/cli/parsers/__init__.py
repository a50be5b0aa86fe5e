"""The flags and help texts of ``agora``'s commands: those a user runs (``commands``), those for whoever extends
and measures Agora (``develop``: plugins and bench) and the options they share (``options``);
:func:`sim.cli.parser.build_parser` puts them together. Like the parser, they import no command's
implementation: ``agora --help`` loads them all.

:class:`CommandGroup` is what another package registers to add commands of its own; :class:`Subcommand` is one
command (``agora sweep``) or subcommand of a command group (``agora bench world``, ``agora plugins list``) as a
row of its table.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, Protocol


class CommandGroup(Protocol):
    """Commands a package registers in the ``agora.commands`` entry-point group: the entry point names a
    module (or object) with these members. ``tui.commands`` is one."""

    #: The top-level commands :meth:`add_commands` adds (the group that adds ``tui`` also runs a bare ``agora``).
    COMMANDS: tuple[str, ...]
    #: The ``agora bench`` benchmarks :meth:`add_bench_commands` adds.
    BENCHMARKS: tuple[str, ...]

    def add_commands(self, sub: Any) -> None:
        """Add the top-level commands to ``sub`` (what ``add_subparsers`` returned)."""

    def add_bench_commands(self, bsub: Any) -> None:
        """Add the benchmarks to the ``bench`` subparsers."""

    def handle(self, args: argparse.Namespace) -> Any:
        """Run one of its commands; an int (the exit code) or a coroutine that ``main`` runs."""


class Subcommand(NamedTuple):
    """One command, or one subcommand of a command group, as :func:`add_subcommands` adds it."""

    #: Its name (``agora bench NAME``).
    name: str
    #: Its line in the group's ``--help``.
    help: str
    #: What its own ``--help`` says first.
    description: str
    #: Adds its flags to its parser.
    flags: Callable[[Any], None]
    #: What its ``--help`` says last (examples, file formats), printed as written; none when empty.
    epilog: str = ""


def add_subcommands(sub: Any, commands: Iterable[Subcommand]) -> None:
    """Add each of ``commands`` to ``sub`` (what ``add_subparsers`` returned), in order."""
    for command in commands:
        more: dict[str, Any] = {}
        if command.epilog:  # laid out by hand (examples, columns): printed as written
            more = {"epilog": command.epilog, "formatter_class": argparse.RawDescriptionHelpFormatter}
        command.flags(sub.add_parser(command.name, help=command.help, description=command.description, **more))
