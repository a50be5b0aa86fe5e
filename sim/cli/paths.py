"""What a command reads and writes, as its parser declares it, and the check that none of its outputs replaces
one of its inputs, made once for every command before it runs (:func:`refuse_replacing_inputs`).

An argument's ``type`` says what it names (:func:`sim.cli.args.reads`, :func:`sim.cli.args.writes`): the world,
an observation file, a posterior, an edge list, a key file, or an output (``-o``, ``--plot``, ``--series``, a
snapshot...). Seed selections, interventions, arms and grid values may name a seed file (``file:PATH``): those
are inputs too. A command group's ``world`` argument (``agora tui``) is the world it reads.
"""

from __future__ import annotations

import argparse
from typing import Any

from sim.cli.args import FileArgument, reads
from sim.core import outputs as _outputs
from sim.core.outputs import Input, Output

#: Options whose values may name a seed file (``file:PATH``, ``block:file:PATH``, ``seeds=file:PATH,...``).
SEED_OPTIONS = (("seeds", "--seeds"), ("intervene", "--intervene"), ("arm", "--arm"), ("grid", "--grid"))


def command_parsers(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[argparse.ArgumentParser]:
    """The parsers the parsed ``args`` went through: ``agora``, then its command's (``agora fit``), then a
    subcommand's (``agora plugins check``)."""
    chain = [parser]
    while True:
        subs = [a for a in chain[-1]._actions if isinstance(a, argparse._SubParsersAction)]
        name = getattr(args, subs[0].dest, None) if subs else None
        child = subs[0].choices.get(name) if subs and isinstance(name, str) else None
        if child is None:
            return chain
        chain.append(child)


def label(action: argparse.Action) -> str:
    """How a sentence names an argument: its flags (``-o/--output``), else its metavar (``OUT``)."""
    if action.option_strings:
        return "/".join(action.option_strings)
    return str(action.metavar or action.dest.upper())


def file_kind(action: argparse.Action) -> FileArgument | None:
    """What the argument names when it names a file (None when it does not)."""
    if isinstance(action.type, FileArgument):
        return action.type
    if action.dest == "world" and action.type is None:  # a command group's world (agora tui)
        return reads("world")
    return None


def _texts(value: Any) -> list[str]:
    if value is None or value is argparse.SUPPRESS:
        return []
    return [str(v) for v in value if v] if isinstance(value, list | tuple) else [str(value)] if value else []


def seed_files(text: str) -> list[str]:
    """The paths ``text`` (a seed selection, an intervention, an arm or a grid value) may name as ``file:PATH``."""
    found = []
    for piece in dict.fromkeys([text, *text.split(",")]):
        at = piece.lower().find("file:")
        if at >= 0 and piece[at + 5 :]:
            found.append(piece[at + 5 :])
    return found


def files_of(parser: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[list[Output], list[Input]]:
    """The files the parsed command writes and reads."""
    outputs: list[Output] = []
    inputs: list[Input] = []
    seen: set[str] = set()
    for p in command_parsers(parser, args):
        for action in p._actions:
            kind = file_kind(action)
            if kind is None or action.dest in seen:
                continue
            seen.add(action.dest)
            for path in _texts(getattr(args, action.dest, None)):
                if kind.role == "output":
                    outputs.append(Output(path, label(action)))
                else:
                    flag = f" ({label(action)})" if action.option_strings else ""
                    inputs.append(Input(path, f"the {kind.what} {path!r}{flag}", world=kind.what == "world"))
    for dest, flag in SEED_OPTIONS:
        for text in _texts(getattr(args, dest, None)):
            inputs += [Input(path, f"the seed file {path!r} ({flag})") for path in seed_files(text)]
    return outputs, inputs


def refuse_replacing_inputs(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse, before the command runs, an output of it that is one of its inputs or a file of its world (links
    followed, hard links too), ``--force`` or not (:func:`sim.core.outputs.refuse_replacing_inputs`).

    Raises:
        BadParameterError: one sentence naming the output and what it would replace.
    """
    outputs, inputs = files_of(parser, args)
    if outputs:
        _outputs.refuse_replacing_inputs(outputs, inputs, command_parsers(parser, args)[-1].prog)
