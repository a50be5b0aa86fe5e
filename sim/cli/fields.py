"""The command line's names for the request fields an error names (issue 58): below the command line a message
names a field as the request spells it (``budget must be from 1 to 10,000,000, not 0``); the command line
prints it with the flag that sets the field (``--budget must be ...``), from this one table and the flags of the
requests' declared options.
"""

from __future__ import annotations

import re

from sim.engine.fields import DECLARED
from sim.errors import AgoraError

#: The flag of each field whose flag is not ``--`` and the field with ``-`` for ``_``; by command where the
#: same field has another flag in one command (``(command, field)`` first, then ``field``).
FLAGS: dict[tuple[str, str] | str, str] = {
    "params": "--param",  # run, sweep, fit, seeds: one NAME=VALUE (or NAME=LO..HI) per flag
    "param": "--param",  # the argparse destination of --param
    "alive": "--keep-extinct",  # backtest, forecast: False when given
    "adjust": "--no-adjust",  # fit, backtest, forecast: False when given
    ("forecast", "output"): "-o",
    ("new", "groups"): "--group",  # new: one COLUMN[:LAYER][:max=K] per flag
    ("run", "text"): "--inject",
    ("sweep", "text"): "--inject",
}


#: The flags of the requests' declared options (:data:`sim.engine.fields.DECLARED`) that are not ``--`` and the
#: field, by field and by argparse destination (``arms`` and ``arm``: ``--arm``).
DECLARED_FLAGS = {
    key: option.cli_flag
    for options in DECLARED
    for option in options
    if option.flag
    for key in (option.name, option.dest)
}


def flag(field: str, command: str | None = None) -> str:
    """The flag that sets ``field`` in ``command`` (``max_ticks`` -> ``--max-ticks``)."""
    if command is not None and (command, field) in FLAGS:
        return FLAGS[(command, field)]
    return FLAGS.get(field) or DECLARED_FLAGS.get(field, "--" + field.replace("_", "-"))


def flagged(exc: AgoraError, command: str | None = None) -> str:
    """``exc``'s sentence with the first mention of each field it names spelled as the flag that sets it."""
    text = str(exc)
    for name in getattr(exc, "fields", ()):
        pattern = re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])")
        text = pattern.sub(flag(name, command).replace("\\", "\\\\"), text, count=1)
    return text
