"""A calendar of changes to transmission, read from a file (issue 75): a school's layer off for the holidays, a
household layer doubled at a lockdown, all of ``beta`` halved after a campaign.

A CSV file with a header and one change a row::

    layer,from,to,factor
    school,22,30,0
    household,40,,2
    ,50,60,0.5

``layer`` names a contact layer of the world (empty: the whole parameter, in every layer), ``from`` the first
round the change holds (rounds count from 1 after the seeding, as the observation's ticks do), ``to`` the first
round it no longer holds (empty: to the end), ``factor`` the multiplier (0 to 1,000). An optional ``param``
column names the parameter (default ``beta``; ``p`` for ``ic``). Changes of one layer may not overlap.

The calendar is nothing but change points (:mod:`sim.plugin.schedule`): each row gives ``NAME@LAYER~FROM=FACTOR``
and ``NAME@LAYER~TO=1``, parameters like any other, so that runs, fits, forecasts and backtests apply it at its
rounds alike (``--calendar FILE`` adds them to ``--param``).
"""

from __future__ import annotations

import csv
import io
import math
import os
import re

from sim.errors import BadFileError
from sim.plugin.schedule import MAX_MULTIPLIER, MAX_ROUND

#: The most rows a calendar holds, and the most bytes its file may have.
MAX_ROWS = 1000
MAX_BYTES = 1 << 20
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")
_LAYER = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}\Z")
_COLUMNS = ("layer", "from", "to", "factor")


def _round(path: str, row: int, what: str, text: str, empty: int | None) -> int:
    text = text.strip()
    if not text and empty is not None:
        return empty
    if not text.isdigit() or int(text) > MAX_ROUND:
        raise BadFileError(
            f"calendar {os.path.basename(path)}, row {row}: {what} {text[:20]!r} is not a round from 0 to "
            f"{MAX_ROUND:,}" + (" (or empty: to the end)" if empty is not None else "")
        )
    return int(text)


def _factor(path: str, row: int, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0.0 <= value <= MAX_MULTIPLIER):
        raise BadFileError(
            f"calendar {os.path.basename(path)}, row {row}: factor {text.strip()[:20]!r} is not a number from 0 "
            f"to {MAX_MULTIPLIER:,g}"
        )
    return value


def _text(path: str) -> str:
    name = os.path.basename(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise BadFileError(f"calendar {name} cannot be read ({exc.strerror or exc}): give a CSV file") from None
    if len(raw) > MAX_BYTES:
        raise BadFileError(f"calendar {name} is over {MAX_BYTES >> 20} MiB: a calendar holds at most {MAX_ROWS} rows")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadFileError(f"calendar {name} is not UTF-8 text: give a CSV file") from None


def read_calendar(path: str) -> dict[str, float]:
    """The change points of the calendar at ``path`` (the module's docstring), as parameters by key.

    Raises:
        BadFileError: a file that cannot be read or is not a calendar: one sentence naming the row and field.
    """
    name = os.path.basename(path)
    rows = list(csv.reader(io.StringIO(_text(path))))
    header = [h.strip().lower() for h in rows[0]] if rows else []
    missing = [c for c in _COLUMNS if c not in header]
    if missing:
        raise BadFileError(
            f"calendar {name} has no column {missing[0]!r}: its header is layer,from,to,factor (and param, optional)"
        )
    if len(rows) - 1 > MAX_ROWS:
        raise BadFileError(f"calendar {name} has {len(rows) - 1:,} rows: a calendar holds at most {MAX_ROWS}")
    at = {c: header.index(c) for c in (*_COLUMNS, "param") if c in header}
    spans: dict[str, list[tuple[int, int, float, int]]] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < len(header):
            raise BadFileError(f"calendar {name}, row {number}: {len(row)} fields, its header {len(header)}")
        param = row[at["param"]].strip() if "param" in at else ""
        param = param or "beta"
        layer = row[at["layer"]].strip()
        if not _NAME.match(param) or (layer and not _LAYER.match(layer)):
            bad = param if not _NAME.match(param) else layer
            raise BadFileError(f"calendar {name}, row {number}: {bad[:40]!r} is not a parameter or layer name")
        start = _round(path, number, "from", row[at["from"]], None)
        stop = _round(path, number, "to", row[at["to"]], MAX_ROUND + 1)
        if stop <= start:
            raise BadFileError(f"calendar {name}, row {number}: to ({stop}) must come after from ({start})")
        key = f"{param}@{layer}" if layer else param
        spans.setdefault(key, []).append((start, stop, _factor(path, number, row[at["factor"]]), number))
    out: dict[str, float] = {}
    for key, listed in spans.items():
        listed.sort()
        for (_, stop, _, first), (start, _, _, second) in zip(listed, listed[1:]):
            if start < stop:
                raise BadFileError(
                    f"calendar {name}: rows {first} and {second} overlap for {key}: one change at a time"
                )
        for start, stop, factor, _ in listed:
            if stop <= MAX_ROUND and f"{key}~{stop}" not in out:
                out[f"{key}~{stop}"] = 1.0
            out[f"{key}~{start}"] = factor
    return dict(sorted(out.items(), key=lambda kv: (kv[0].rpartition("~")[0], int(kv[0].rpartition("~")[2]))))
