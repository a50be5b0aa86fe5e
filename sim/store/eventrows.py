"""A world's history as columns: the adoption ``events`` and first feed ``exposures`` of a world file, read
from it, checked, and written back into a new one (how a snapshot carries them, ``sim.store.snapshot``).

The rows kept are those of the file's checkpoint: ticks from ``meta.events_since`` up to (not including)
the world's tick, of sessions the world has. Rows of later ticks belong to ticks the file does not hold
(they are discarded when it is next opened for writing, see ``sim.store.check``). A ``NULL`` source is
read as -1 (nobody credited), as the simulation writes it. An exposure's recommender (text) is kept as an
index into :attr:`History.recommenders`.

Reading and writing run in SQLite and numpy: rows are fetched a batch at a time into int64 arrays, and
written as blocks of fixed-width text (``sim.store.fixedtext``), never one Python call per row.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.core import worldkey
from sim.core.memory import ensure_memory
from sim.errors import BadFileError
from sim.store.fixedtext import FixedRows

#: The columns of the adoption events, in the ``events`` table's order, and the type each is kept in (a
#: snapshot stores exactly these): agents int32 as in the graph, states int8 as in a session.
EVENT_COLUMNS: dict[str, str] = {
    "session": "<i8",
    "tick": "<i8",
    "agent": "<i4",
    "source": "<i4",
    "kind": "|i1",
    "via": "|i1",
}
#: The columns of the first feed exposures (``recommender``: an index into the recommenders' names).
EXPOSURE_COLUMNS: dict[str, str] = {
    "session": "<i8",
    "tick": "<i8",
    "agent": "<i4",
    "source": "<i4",
    "recommender": "<i2",
}
#: Most recommender names, and longest name, a file may hold.
MAX_RECOMMENDERS, MAX_NAME = 1000, 200
_SQL = {
    "events": {
        "session": "session_id",
        "tick": "tick",
        "agent": "agent",
        "source": "COALESCE(source, -1)",
        "kind": "kind",
        "via": "via",
    },
    "exposures": {
        "session": "session_id",
        "tick": "tick",
        "agent": "agent",
        "source": "COALESCE(source, -1)",
        # Its index in the names (bound as parameter 4, a JSON array).
        "recommender": "(SELECT CAST(j.key AS INTEGER) FROM json_each(?4) AS j WHERE j.value = recommender)",
    },
}
#: Rows read (and written) per statement: bounded memory for the rows in flight.
_BATCH = 200_000


@dataclass(frozen=True)
class History:
    """A world's adoption events and first feed exposures, one array per column (:data:`EVENT_COLUMNS`,
    :data:`EXPOSURE_COLUMNS`; equal lengths, the tables' order), the recommenders' names the exposures
    index, and ``since``: the first tick they cover (a world file's ``events_since``)."""

    events: dict[str, np.ndarray]
    exposures: dict[str, np.ndarray]
    recommenders: list[str]
    since: int

    @property
    def rows(self) -> int:
        """Events and exposures together."""
        return len(self.events["tick"]) + len(self.exposures["tick"])

    @property
    def nbytes(self) -> int:
        """Bytes of the columns in memory."""
        return sum(a.nbytes for t in (self.events, self.exposures) for a in t.values())


def empty_columns(spec: dict[str, str]) -> dict[str, np.ndarray]:
    """Columns of ``spec`` with no rows."""
    return {k: np.empty(0, dtype=v) for k, v in spec.items()}


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def history_problem(history: History, *, n: int, tick: int, sessions: list[int]) -> str | None:
    """What is wrong with ``history`` as that of a world of ``n`` agents at ``tick`` whose sessions are
    ``sessions`` (one phrase), or None: every column there, of its type, one-dimensional and of its table's
    length; ``since`` within 0..tick; every tick within since..tick-1, session one of the world's, agent
    within 0..n-1, source within -1..n-1, via 0 or 1, recommender one of the names (at most
    :data:`MAX_RECOMMENDERS` strings of at most :data:`MAX_NAME` characters)."""
    since, names = history.since, history.recommenders
    if not (_is_int(since) and 0 <= since <= tick):
        return f"the first tick of its events, {str(since)[:40]}, is not within 0..{tick}"
    if not (
        isinstance(names, list)
        and len(names) <= MAX_RECOMMENDERS
        and all(isinstance(x, str) and 0 < len(x) <= MAX_NAME for x in names)
        and len(set(names)) == len(names)
    ):
        return "the recommenders' names of its feed exposures are not a list of distinct short names"
    known = np.asarray(sessions, dtype=np.int64)
    for table, spec, columns in (
        ("events", EVENT_COLUMNS, history.events),
        ("exposures", EXPOSURE_COLUMNS, history.exposures),
    ):
        if not isinstance(columns, dict) or set(columns) != set(spec):
            return f"a column of its {table} is missing"
        length = None
        for name, dtype in spec.items():
            a = columns[name]
            if not isinstance(a, np.ndarray) or a.dtype != np.dtype(dtype) or a.ndim != 1:
                return f"its {table} column {name} is not a list of {np.dtype(dtype).name}"
            if length is not None and len(a) != length:
                return f"its {table} column {name} holds {len(a):,} rows, column session {length:,}"
            length = len(a)
        if not length:
            continue
        bounds = {
            "tick": (since, tick - 1, f"a tick outside {since}..{tick - 1}"),
            "agent": (0, n - 1, f"an agent outside 0..{n - 1}"),
            "source": (-1, n - 1, f"a source outside -1..{n - 1}"),
            "via": (0, 1, "a via other than 0 (graph) or 1 (feed)"),
            "recommender": (0, len(names) - 1, "a recommender it does not name"),
        }
        for name, (lo, hi, what) in bounds.items():
            if name in columns and (int(columns[name].min()) < lo or int(columns[name].max()) > hi):
                return f"one of its {table} has {what}"
        if not np.isin(columns["session"], known).all():
            return f"one of its {table} names a session the world does not have"
    return None


@contextmanager
def reading_events(path: str) -> Iterator[sqlite3.Connection]:
    """A read-only connection to world file ``path`` for reading its events, closed after the block; a
    schema object of the file may not call a function with side effects (``trusted_schema`` off).

    Raises:
        BadFileError: the file cannot be opened, or an SQLite error while the block reads (it may be damaged).
    """
    try:
        con = worldkey.connect(path, readonly=True)
        con.execute("PRAGMA trusted_schema = OFF")
    except worldkey.Error as exc:
        raise BadFileError(f"world {path!r} cannot be opened to read its events ({exc}): it may be damaged") from None
    try:
        yield con
    except worldkey.Error as exc:
        raise BadFileError(f"world {path!r}: its events cannot be read ({exc}); it may be damaged") from None
    finally:
        con.close()


def read_history(path: str, *, n: int, tick: int, sessions: list[int]) -> History:
    """The adoption events and feed exposures of world file ``path`` that its checkpoint at ``tick`` holds
    (see the module docstring), in the tables' order; none of a table the file does not have.

    Raises:
        BadFileError: the file cannot be read, or a row holds a value a world of ``n`` agents cannot have.
        ResourceError: the rows would not fit in the memory available now.
    """
    with reading_events(path) as con:
        history = _read(con, path, n=n, tick=tick, sessions=sessions)
    problem = history_problem(history, n=n, tick=tick, sessions=sessions)
    if problem is not None:
        raise BadFileError(
            f"world {path!r} cannot be saved with its events ({problem}): check it with 'agora check', "
            "or save the snapshot without its events"
        )
    return history


def _tables(con: sqlite3.Connection) -> set[str]:
    return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _read(con: sqlite3.Connection, path: str, *, n: int, tick: int, sessions: list[int]) -> History:
    tables = _tables(con)
    since: Any = None
    row = con.execute("SELECT value FROM meta WHERE key = 'events_since'").fetchone()
    if row is not None:
        try:
            since = json.loads(row[0])
        except (TypeError, ValueError):
            since = None
    if not _is_int(since) and "events" in tables:
        # A file from before events_since: its history starts at its first event (as agora check infers).
        (first,) = con.execute("SELECT MIN(tick) FROM events").fetchone()
        since = first
    since = min(max(since, 0), tick) if _is_int(since) else tick
    where = "tick >= ?1 AND tick < ?2 AND session_id IN (SELECT value FROM json_each(?3))"
    params: tuple[Any, ...] = (since, tick, json.dumps([int(s) for s in sessions]))
    counts = {
        t: (con.execute(f"SELECT COUNT(*) FROM {t} WHERE {where}", params).fetchone()[0] if t in tables else 0)
        for t in ("events", "exposures")
    }
    # The rows as int64 (48 bytes each), the columns kept (about 22) and the Python rows of one batch.
    ensure_memory(
        sum(counts.values()) * 70 + _BATCH * 300,
        f"reading the {counts['events']:,} adoption events and {counts['exposures']:,} feed exposures of "
        f"world {path!r}",
        "save the snapshot without its events",
    )
    names: list[str] = []
    if counts["exposures"]:
        names = [r[0] for r in con.execute(f"SELECT DISTINCT recommender FROM exposures WHERE {where}", params)]
        names = sorted(str(x) for x in names)
    out = {
        "events": _columns(con, path, "events", EVENT_COLUMNS, counts["events"], where, params),
        "exposures": _columns(
            con, path, "exposures", EXPOSURE_COLUMNS, counts["exposures"], where, (*params, json.dumps(names))
        ),
    }
    return History(out["events"], out["exposures"], names, since)


def _columns(
    con: sqlite3.Connection, path: str, table: str, spec: dict[str, str], count: int, where: str, params: tuple
) -> dict[str, np.ndarray]:
    """The ``count`` rows of ``table`` that ``where`` selects, as columns of ``spec``'s types."""
    if not count:
        return empty_columns(spec)
    exprs = ", ".join(_SQL[table][k] for k in spec)
    whole = np.empty((count, len(spec)), dtype=np.int64)
    # A scan in the table's order: through the (session, tick) index it would be a sort of every row after.
    cur = con.execute(f"SELECT {exprs} FROM {table} NOT INDEXED WHERE {where} ORDER BY rowid", params)
    at = 0
    while at < count:
        batch = cur.fetchmany(_BATCH)
        if not batch:
            break
        try:
            part = np.array(batch, dtype=np.int64).reshape(-1, len(spec))
        except (TypeError, ValueError, OverflowError):  # a text or a NULL where a number belongs
            raise BadFileError(
                f"world {path!r} holds {table} rows that are not numbers: check it with 'agora check', "
                "or save the snapshot without its events"
            ) from None
        take = min(len(part), count - at)
        whole[at : at + take] = part[:take]
        at += take
    whole = whole[:at]
    columns: dict[str, np.ndarray] = {}
    for j, (name, dtype) in enumerate(spec.items()):
        info = np.iinfo(np.dtype(dtype))
        col = whole[:, j]
        if col.size and (int(col.min()) < info.min or int(col.max()) > info.max):
            raise BadFileError(
                f"world {path!r} holds {table} rows whose {name} is out of range: check it with 'agora check', "
                "or save the snapshot without its events"
            )
        columns[name] = np.ascontiguousarray(col.astype(dtype))
    return columns


def history_statements(history: History) -> Iterator[tuple[tuple[str, tuple[Any, ...]], int]]:
    """``INSERT``s of ``history`` into the ``events`` and ``exposures`` tables, a block of rows each (see
    ``sim.store.fixedtext``), in their order; with each, the number of rows it writes."""
    for table, columns in (("events", history.events), ("exposures", history.exposures)):
        keys = list(columns)
        total = len(columns["tick"])
        targets = ", ".join("session_id" if k == "session" else k for k in keys)
        # The recommender's name from its index into the names (bound as parameter 3, a JSON array).
        picks = ", ".join("json_extract(?3, '$[' || recommender || ']')" if k == "recommender" else k for k in keys)
        extra = (json.dumps(history.recommenders),) if "recommender" in columns else ()
        for lo in range(0, total, _BATCH):
            hi = min(total, lo + _BATCH)
            rows = FixedRows([(k, columns[k][lo:hi].astype(np.int64), False) for k in keys])
            sql = f"INSERT INTO {table} ({targets}) SELECT {picks} FROM ({rows.select()})"
            yield (sql, (rows.blob, rows.count, *extra)), hi - lo
