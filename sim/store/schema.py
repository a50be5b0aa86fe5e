"""The schema of a world file, and what a world file may hold.

A world file is data. SQLite can also keep code in a file — triggers that run on every write, views
and defaults that call functions — so a file from someone else could act when Agora writes to it.
Every connection to a world file therefore turns ``trusted_schema`` off (functions with side effects
are refused inside schema objects), and a file whose schema holds anything Agora did not make (a
trigger, a view, an index, a table, or one of Agora's own objects with other SQL) is refused when it
is opened (``read_meta``, ``ensure_schema``); ``agora check`` names each such object as a problem.
"""

from __future__ import annotations

import functools
import re
import sqlite3
from typing import Any

from sim.core import worldkey
from sim.core.agentmemory import SCHEMA as MEMORY_SCHEMA
from sim.core.persona import CODE_COLUMNS, persona_sql
from sim.core.safe import shown
from sim.errors import BadFileError
from sim.store.analysis_tables import ANALYSIS_SCHEMA

SCHEMA_TEMPLATE = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE arrays (
    name TEXT NOT NULL, chunk INTEGER NOT NULL, dtype TEXT NOT NULL, shape TEXT NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (name, chunk)
);
CREATE TABLE persona_words (kind TEXT NOT NULL, code INTEGER NOT NULL, word TEXT NOT NULL, PRIMARY KEY (kind, code));
@AGENT_ROWS@;
CREATE TABLE personas (id INTEGER PRIMARY KEY, name TEXT NOT NULL, bio TEXT NOT NULL, style TEXT NOT NULL);
CREATE VIEW agents AS
    SELECT d.id AS id, d.orig_id AS orig_id,
        COALESCE(p.name, @NAME@) AS name,
        COALESCE(p.bio, @BIO@) AS bio,
        COALESCE(p.style, @STYLE@) AS style,
        d.community AS community, d.interests AS interests, d.susceptibility AS susceptibility,
        d.reputation AS reputation, d.influence AS influence, d.status AS status,
        d.activity_profile AS activity_profile, d.activity_rate AS activity_rate
    FROM agent_rows d LEFT JOIN personas p ON p.id = d.id;
@ADJACENCY@
CREATE VIEW follows AS
    SELECT f.orig_id AS follower, a.orig_id AS followed, r.trust AS trust
    FROM relationships r JOIN agents a ON a.id = r.src JOIN agents f ON f.id = r.dst;
CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    text TEXT NOT NULL,
    topics INTEGER NOT NULL,
    author INTEGER,
    created_tick INTEGER NOT NULL,
    meta TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL REFERENCES messages(id),
    model TEXT NOT NULL,
    params TEXT NOT NULL,
    status TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    seeds TEXT NOT NULL DEFAULT '',
    started_tick INTEGER,
    ended_tick INTEGER,
    exposed INTEGER NOT NULL DEFAULT 0,
    adopted INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    traceback TEXT
);
CREATE TABLE events (
    session_id INTEGER NOT NULL,
    tick INTEGER NOT NULL,
    agent INTEGER NOT NULL,
    source INTEGER,
    kind INTEGER NOT NULL,
    via INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX events_session ON events (session_id, tick);
@EXPOSURES@
CREATE TABLE metrics (tick INTEGER NOT NULL, name TEXT NOT NULL, value REAL NOT NULL, PRIMARY KEY (tick, name)) WITHOUT ROWID;
CREATE TABLE audit (id INTEGER PRIMARY KEY, ts REAL NOT NULL, action TEXT NOT NULL, details TEXT NOT NULL);
"""  # noqa: E501 - the schema as SQLite stores it, one table a line


#: The agents as rows.
AGENT_ROWS_SCHEMA = """CREATE TABLE agent_rows (
    id INTEGER PRIMARY KEY,
    orig_id INTEGER NOT NULL UNIQUE,
    community INTEGER NOT NULL,
    interests INTEGER NOT NULL,
    susceptibility REAL NOT NULL,
    reputation REAL NOT NULL,
    influence REAL NOT NULL,
    status INTEGER NOT NULL,
    activity_profile INTEGER NOT NULL,
    activity_rate REAL NOT NULL,
    first INTEGER NOT NULL,
    last INTEGER NOT NULL,
    trait INTEGER NOT NULL,
    occupation INTEGER NOT NULL,
    hobby INTEGER NOT NULL,
    style INTEGER NOT NULL
)"""


#: The follower graph as rows: one row per agent with followers, its out-edges as a JSON array of
#: ``dst * 32768 + round(trust * 32767)`` (ascending), and the ``relationships`` view that unpacks them into
#: one row per edge. One row per agent rather than per edge makes the mirror ten times fewer rows to
#: write (format version 2; version 1 kept a ``relationships`` table with a row per edge).
ADJACENCY_SCHEMA = """
CREATE TABLE adjacency (src INTEGER PRIMARY KEY, edges TEXT NOT NULL);
CREATE VIEW relationships AS
    SELECT a.src AS src, e.value >> 15 AS dst, (e.value & 32767) / 32767.0 AS trust
    FROM adjacency a, json_each(a.edges) AS e;
"""


#: Feed exposures: the first time each agent was shown each message in a feed (added in a later
#: version; ``ensure_schema`` adds it, and ``events.via``, to older world files).
EXPOSURES_SCHEMA = """
CREATE TABLE IF NOT EXISTS exposures (
    session_id INTEGER NOT NULL,
    tick INTEGER NOT NULL,
    agent INTEGER NOT NULL,
    source INTEGER,
    recommender TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS exposures_session ON exposures (session_id, tick);
"""


#: LLM agents (added in a later version; ``ensure_schema`` adds them to older world files): the
#: response cache keyed by prompt, and what agents wrote (``agent`` is the internal index, as in events).
LLM_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS llm_cache (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    prompt TEXT NOT NULL,
    response TEXT NOT NULL,
    tokens_in INTEGER NOT NULL,
    tokens_out INTEGER NOT NULL,
    delay INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS posts (
    id INTEGER PRIMARY KEY,
    tick INTEGER NOT NULL,
    agent INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    session_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    written_by TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS posts_message ON posts (message_id, tick);
"""
    + MEMORY_SCHEMA
)


#: Changes acknowledged after the last checkpoint (an injection, a cancellation, an intervention), one row
#: each, committed with its audit row before the change is answered; a checkpoint that holds them deletes
#: them, and the next simulation started on the file after a crash makes them again (``sim.engine``). Added
#: in a later version; ``ensure_schema`` adds it to older world files.
JOURNAL_SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY,
    tick INTEGER NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL
);
"""


_NAME, _BIO, _STYLE = persona_sql({k: f"d.{k}" for k in (*CODE_COLUMNS, "style")})


SCHEMA = (
    SCHEMA_TEMPLATE.replace("@AGENT_ROWS@", AGENT_ROWS_SCHEMA)
    .replace("@ADJACENCY@", ADJACENCY_SCHEMA)
    .replace("@EXPOSURES@", EXPOSURES_SCHEMA)
    .replace("@NAME@", _NAME)
    .replace("@BIO@", _BIO)
    .replace("@STYLE@", _STYLE)
    + ANALYSIS_SCHEMA
    + LLM_SCHEMA
    + JOURNAL_SCHEMA
)


#: The relationships table of format version 1 (one row per edge), as Agora made it.
RELATIONSHIPS_V1_SCHEMA = """CREATE TABLE relationships (
    src INTEGER NOT NULL,
    dst INTEGER NOT NULL,
    trust REAL NOT NULL,
    PRIMARY KEY (src, dst)
) WITHOUT ROWID"""


#: Columns that ``ensure_schema`` adds to files of earlier versions (``ALTER TABLE ... ADD COLUMN``).
_ADDED_COLUMNS = (
    ("events", "via INTEGER NOT NULL DEFAULT 0"),
    ("sessions", "traceback TEXT"),
    ("llm_cache", "delay INTEGER NOT NULL DEFAULT 0"),
)


#: Tables SQLite makes itself (``ANALYZE``, ``AUTOINCREMENT``): statistics for its planner, no code.
_SQLITE_OWN = (
    ("sqlite_stat1", "CREATE TABLE sqlite_stat1(tbl,idx,stat)"),
    ("sqlite_stat4", "CREATE TABLE sqlite_stat4(tbl,idx,neq,nlt,ndlt,sample)"),
    ("sqlite_sequence", "CREATE TABLE sqlite_sequence(name,seq)"),
)


_SQL_TOKEN = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`[^`]*`|\[[^\]]*\]|[(),;]|[^\s'\"`\[(),;]+")


_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def normalized_sql(sql: str | None) -> str | None:
    """``sql`` as a sequence of tokens: whitespace between tokens dropped (kept inside string literals),
    a plain identifier in quotes (``"relationships"``, as ``ALTER TABLE ... RENAME`` writes it) unquoted.
    Two statements with the same tokens are the same statement."""
    if sql is None:
        return None
    out: list[str] = []
    for tok in _SQL_TOKEN.findall(sql):
        if tok[0] in '"`[' and _PLAIN_NAME.fullmatch(tok[1:-1]):
            tok = tok[1:-1]
        if out and tok not in "(),;" and out[-1] not in "(),;":
            out.append(" ")
        out.append(tok)
    return "".join(out).rstrip(";")


@functools.lru_cache(maxsize=1)
def known_schema() -> frozenset[tuple[str, str, str, str | None]]:
    """Every schema object Agora makes in a world file, of this version and the earlier ones it opens:
    ``(type, name, table, normalized SQL)``, read from SQLite after creating them in memory."""
    rows: set[tuple[str, str, str, str | None]] = set()

    def made(script: str, *statements: str) -> None:
        con = sqlite3.connect(":memory:")
        try:
            con.executescript(script)
            for stmt in statements:
                con.execute(stmt)
            for kind, name, table, sql in con.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"):
                rows.add((kind, name, table, normalized_sql(sql)))
        finally:
            con.close()

    made(SCHEMA)
    # Tables of earlier versions that lacked a column: as they were, and as ensure_schema leaves them
    # after adding it.
    for table, column in _ADDED_COLUMNS:
        con = sqlite3.connect(":memory:")
        try:
            con.executescript(SCHEMA)
            (sql,) = con.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()
        finally:
            con.close()
        before = re.sub(r",\s*" + re.escape(column), "", sql)
        made(before)
        made(before, f"ALTER TABLE {table} ADD COLUMN {column}")
    made(RELATIONSHIPS_V1_SCHEMA)  # format version 1 (its follows view is today's)
    rows.update(("table", name, name, normalized_sql(sql)) for name, sql in _SQLITE_OWN)
    return frozenset(rows)


SCHEMA_SQL = "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY rowid"


def foreign_objects(rows: Any) -> list[str]:
    """Of the ``(type, name, table, sql)`` rows of a file's ``sqlite_master``, those Agora did not make,
    one phrase each (``trigger 'wipe' on table 'events'``, ``view 'agents' with other SQL than Agora's``)."""
    known = known_schema()
    names = {(k, n) for k, n, _, _ in known}
    out = []
    for kind, name, table, sql in rows:
        if (kind, name, table, normalized_sql(sql)) in known:
            continue
        what = f"{shown(kind, 20)} {shown(name, 80)!r}"
        if kind in ("trigger", "index"):
            what += f" on table {shown(table, 80)!r}"
        out.append(f"{what} with other SQL than Agora's" if (kind, name) in names else what)
    return out


def foreign_schema(con: sqlite3.Connection) -> list[str]:
    """:func:`foreign_objects` of an open world file; empty for a file Agora made.

    Raises:
        sqlite3.DatabaseError: the schema cannot be read (a damaged file).
    """
    return foreign_objects(con.execute(SCHEMA_SQL).fetchall())


def foreign_error(path: str, found: list[str]) -> BadFileError:
    more = f" and {len(found) - 1} more object{'s' if len(found) > 2 else ''}" if len(found) > 1 else ""
    return BadFileError(
        f"world {path!r} holds a {found[0]}{more} that Agora did not make (SQL of its own that could run "
        f"when the world is read or written), so it was not opened: 'agora check {path}' lists them; open only "
        "worlds made by Agora, or drop them with sqlite3 if you added them yourself"
    )


def refuse_foreign_schema(con: sqlite3.Connection, path: str) -> None:
    """Refuse a world file holding schema objects Agora did not make, before anything else reads it.

    Raises:
        BadFileError: naming the first such object and what to do.
    """
    try:
        found = foreign_schema(con)
    except worldkey.DatabaseError as exc:
        raise BadFileError(f"world {path!r} cannot be read ({exc}): it may be damaged") from None
    if found:
        raise foreign_error(path, found)


def untrusting(con: sqlite3.Connection) -> sqlite3.Connection:
    """``con`` with ``trusted_schema`` off: a schema object may not call a function with side effects."""
    con.execute("PRAGMA trusted_schema = OFF")
    return con
