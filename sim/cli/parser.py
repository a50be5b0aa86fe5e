"""Every command, flag and help text of ``agora``: the parser, built without importing any command's
implementation, so that ``agora --help`` and a usage mistake answer at once.

A command's flags are declared in :mod:`sim.cli.parsers` (the user's commands, plugins and bench) and its work is
done by its module (``sim.cli.world``, ``run``, ``bench``, ``analysis``, ``audit``, ``cascades``, ``seeds``,
``set``, ``check``, ``llm``, ``plot``, ``plugins``, ``serve``, ``sweep``); ``sim.cli.main`` dispatches to them.
Packages add commands through the ``agora.commands`` entry-point group (:class:`CommandGroup`): the terminal UI
registers ``agora tui`` and ``agora bench tui`` so.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from sim import __version__
from sim.cli.args import Parser
from sim.cli.parsers import CommandGroup, add_subcommands
from sim.cli.parsers.backtest import BACKTEST
from sim.cli.parsers.commands import (
    AGENT,
    ANALYSIS,
    AUDIT,
    CASCADES,
    CHECK,
    INFO,
    INTERVIEW,
    LLM,
    LOAD,
    METHOD_CHOICES,
    NEW,
    PLOT,
    RUN,
    SAVE,
    SEEDS,
    SERVE,
    SET,
    SOCIAL,
    SWEEP,
    TOPICS,
    add_analysis,
)
from sim.cli.parsers.crypt import add_crypt, add_key_files, encrypt_flag
from sim.cli.parsers.develop import PLUGIN_TEMPLATES, add_bench, add_plugins
from sim.cli.parsers.fit import FIT
from sim.cli.parsers.forecast import FORECAST
from sim.cli.parsers.options import KERNELS
from sim.cli.parsers.rt import RT

__all__ = [
    "BUILTIN_COMMANDS",
    "KERNELS",
    "METHOD_CHOICES",
    "PLUGIN_TEMPLATES",
    "CommandGroup",
    "add_analysis",
    "add_plugins",
    "build_parser",
]

#: The commands ``sim.cli`` itself defines (a command group's come from its entry point).
BUILTIN_COMMANDS = (
    "new",
    "info",
    "agent",
    "save",
    "load",
    "run",
    "social",
    "topics",
    "bench",
    "plugins",
    "sweep",
    "fit",
    "forecast",
    "rt",
    "backtest",
    "plot",
    "cascades",
    "seeds",
    "set",
    "check",
    "analyze",
    "export",
    "path",
    "interview",
    "llm",
    "audit",
    "serve",
    "encrypt",
    "decrypt",
    "rekey",
)


def build_parser(groups: Sequence[CommandGroup] = ()) -> argparse.ArgumentParser:
    """The ``agora`` parser, with the commands of the entry-point ``groups`` in their places."""
    p = Parser(
        prog="agora",
        description="Agora: simulate information spreading through social networks of up to millions of agents.",
        epilog="With no command, agora opens the default world (created in ./saves on first use).\n\n"
        "exit codes:\n"
        "  0  done, and every run completed (a cascade that reached nobody is a completed run)\n"
        "  2  bad input: one sentence on stderr says what and how to fix it; nothing was changed\n"
        "  3  the command finished, but some runs, sweep arms or recommenders failed: their plugin's\n"
        "     error and traceback are on stderr, and every statistic leaves the failed runs out; or a\n"
        "     seed method's code raised before any run (its error and its frames on stderr); or\n"
        "     agora llm local found the local model's extra or file missing (its report printed)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"agora {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    # The order here is the order of 'agora --help'.
    add_subcommands(sub, (NEW, INFO, AGENT, SAVE, LOAD, RUN, SOCIAL))
    for group in groups:  # agora tui
        group.add_commands(sub)
    add_subcommands(sub, (TOPICS,))
    add_bench(sub, groups)
    add_plugins(sub)
    add_subcommands(
        sub,
        (
            SWEEP,
            FIT,
            FORECAST,
            RT,
            BACKTEST,
            PLOT,
            CASCADES,
            SEEDS,
            SET,
            CHECK,
            *ANALYSIS,
            INTERVIEW,
            LLM,
            AUDIT,
            SERVE,
        ),
    )
    add_crypt(sub)
    encrypt_flag(sub.choices["new"], "the world")
    encrypt_flag(sub.choices["load"], "the world (a world loaded from an encrypted snapshot is always encrypted)")
    encrypt_flag(sub.choices["save"], "the snapshot (a snapshot of an encrypted world is always encrypted)")
    add_key_files(p)
    return p
