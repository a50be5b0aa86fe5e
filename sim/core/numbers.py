"""Numbers read from text as Agora writes them: ASCII digits only (issue 71).

Python's ``int`` and ``float`` read the digits of every script (``int("٣")`` is 3, ``float("١e2")`` is 100.0) and
underscores between digits (``int("1_000")``); a value that looks like text to a reader, or to a script that
checks it, must not become a number in a world. Every door that reads a number from text (a flag, a JSON string,
a TOML value, a cell of a file) goes through these functions, or checks :func:`ascii_digits` first.
"""

from __future__ import annotations

import json
import re

#: The range of a signed 32-bit integer (a session's id, a community's number).
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

#: A whole number written in ASCII: an optional sign, then digits.
INT = re.compile(r"[+-]?[0-9]+\Z")
#: A decimal number written in ASCII: an optional sign, digits with an optional point, an optional exponent.
FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\Z")
#: The words for the special floats (any case), allowed only where a caller asks for them.
SPECIAL = re.compile(r"[+-]?(nan|inf|infinity)\Z", re.IGNORECASE)


def ascii_digits(text: str) -> bool:
    """True when every digit in ``text`` is an ASCII digit (``"12"``, ``"x"``; not ``"١٢"``)."""
    return text.isascii() or not any(ch.isdigit() or ch.isnumeric() for ch in text if not ch.isascii())


def ascii_int(text: str) -> int | None:
    """``text`` (surrounding blanks ignored) as an int when it is ``[+-]digits`` in ASCII, else None."""
    text = text.strip()
    return int(text) if INT.match(text) else None


def ascii_float(text: str, *, special: bool = False) -> float | None:
    """``text`` (surrounding blanks ignored) as a float when it is a decimal number in ASCII (``1``, ``-2.5``,
    ``.5``, ``1e-3``), else None; ``special`` also reads ``nan``, ``inf`` and ``infinity``."""
    text = text.strip()
    if FLOAT.match(text) or (special and SPECIAL.match(text)):
        return float(text)
    return None


def int_of(text: str, *, underscores: bool = False) -> int:
    """``int(text)`` for ASCII digits only: a drop-in where a ``ValueError`` is caught and answered.

    ``underscores`` also reads ``1_000`` (the command line's whole numbers do).

    Raises:
        ValueError: ``text`` is not a whole number in ASCII digits.
    """
    value = ascii_int(text.replace("_", "") if underscores and not text.strip().startswith("_") else text)
    if value is None:
        raise ValueError(f"not a whole number in ASCII digits: {text[:40]!r}")
    return value


def float_of(text: str, *, special: bool = True) -> float:
    """``float(text)`` for ASCII digits only (``nan``, ``inf`` and ``infinity`` too, unless ``special`` is
    False): a drop-in where a ``ValueError`` is caught and answered.

    Raises:
        ValueError: ``text`` is not a decimal number in ASCII digits.
    """
    value = ascii_float(text, special=special)
    if value is None:
        raise ValueError(f"not a number in ASCII digits: {text[:40]!r}")
    return value


def json_ints(text: str | bytes) -> tuple[int, ...]:
    """The JSON list of whole numbers ``text`` (an array's shape as a world file stores it): each a JSON integer,
    never a string of digits (``"٣"``), a float or a bool.

    Raises:
        ValueError: ``text`` is not such a list.
    """
    values = json.loads(text)
    if not isinstance(values, list) or not all(type(v) is int for v in values):
        raise ValueError("not a JSON list of whole numbers")
    return tuple(values)


__all__ = [
    "FLOAT",
    "INT",
    "SPECIAL",
    "ascii_digits",
    "ascii_float",
    "ascii_int",
    "float_of",
    "int_of",
    "json_ints",
]
