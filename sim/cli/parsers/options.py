"""Options several commands declare alike: ``--json``, ``--force``, ``--plugins``, a world's path, a whole
number whose help states its default, a benchmark's synthetic world and seed, ``--kernel``'s choices, and the
flags of a request's declared options (:func:`request_flags`)."""

from __future__ import annotations

from typing import Any

from sim.cli.args import integer, non_negative_float, positive_int, reads, repeatable, writes
from sim.engine.fields import KERNELS as KERNELS
from sim.engine.options import Options


def json_flag(p: Any, help: str = "print one JSON object on stdout") -> None:
    """``--json``: the command prints one JSON object on stdout instead of text."""
    p.add_argument("--json", action="store_true", help=help)


def force_flag(p: Any, what: str) -> None:
    """``--force``: overwrite ``what`` (the files the command writes) if it exists."""
    p.add_argument("--force", action="store_true", help=f"overwrite {what} if it exists")


def plugins_flag(p: Any, help: str = "load user plugins from DIR (repeatable)") -> None:
    """``--plugins DIR``: user plugin folders to load (repeatable)."""
    repeatable(p, "--plugins", metavar="DIR", help=help)


def world_argument(p: Any, help: str | None = None, *, made: bool = False) -> None:
    """The ``WORLD`` a command reads or changes (a world file's path); ``made``: the command writes it anew
    (``new``, ``load``), so it is the command's output, not an input."""
    p.add_argument("world", metavar="WORLD", type=writes("world") if made else reads("world"), help=help)


def number_flag(
    p: Any, flag: str, metavar: str, default: int, what: str, *, note: str = "", type: Any = positive_int
) -> None:
    """A whole-number flag (``--runs``, ``--repeats``, ``--seed``...; by default at least 1) whose help says ``what``
    it is and ends with its default, so that the default is written once: ``runs of each ensemble (default 1,000)``,
    or with a ``note`` on it, ``agents of the NDlib comparison (default 100,000; 0 skips it)``."""
    p.add_argument(flag, type=type, default=default, metavar=metavar, help=f"{what} (default {default:,}{note})")


def world_size(p: Any) -> None:
    """The synthetic world's size flags a benchmark shares: ``--agents`` and ``--avg-degree``."""
    number_flag(p, "--agents", "N", 1_000_000, "agents")
    p.add_argument(
        "--avg-degree", type=non_negative_float, default=10.0, metavar="K", help="mean neighbours (default 10)"
    )


def seed_and_json(p: Any, seed: int = 1) -> None:
    """A benchmark's last two flags: ``--seed`` (its worlds' and runs' seed) and ``--json``."""
    p.add_argument("--seed", type=integer, default=seed)
    json_flag(p)


def request_flags(p: Any, options: Options, names: tuple[str, ...] | None = None) -> None:
    """The flag of each of a request's ``options`` that has one of its own (:mod:`sim.engine.options`; ``names``:
    those of these fields, where the command lists its flags in groups of its own), in order:
    its name, metavar and help as declared (a default shown where the option says so), options of one ``group``
    excluding each other. A flag left out is None (the request's default), unless its default is shown."""
    groups: dict[str, Any] = {}
    for option in options:
        if option.flag is None or (names is not None and option.name not in names):
            continue
        where = p
        if option.group is not None:
            if option.group not in groups:
                groups[option.group] = p.add_mutually_exclusive_group()
            where = groups[option.group]
        text = options.help(option.name)
        more: dict[str, Any] = {}
        if option.kind == "bool":
            more["action"] = "store_true"
        elif option.repeat:
            more.update(action="append", metavar=option.metavar)
        else:
            more["metavar"] = option.metavar
            if option.reads:
                more["type"] = reads(option.reads)
            elif option.kind == "int":
                more["type"] = integer
            elif option.kind == "choice":
                more["choices"] = option.choices
        if option.shown_default:
            more["default"] = option.default
            shown = f"{option.default:,}" if isinstance(option.default, int) else str(option.default)
            text = f"{text} (default {shown}{option.note})"
        where.add_argument(option.cli_flag, help=text, **more)


def by_flag(p: Any) -> None:
    """``--by SPEC`` (repeatable): ``agora run``'s and ``agora sweep``'s series of new infections by group."""
    p.add_argument(
        "--by",
        action="append",
        default=[],
        metavar="SPEC",
        help="also count new infections per tick by group, as series new@GROUP summing to new (repeatable): layer "
        "(the contact layer they came through), a category (SEX) or bands of a number (AGE:0,5,15,65)",
    )
