"""What LLM agents remember: events per agent in SQLite, a condensed summary each, recall by relevance.

The memory of a world is one in-process SQLite database (made on first use; a world whose agents never
use the LLM never makes it):

- ``memory``: one row per event — ``id`` (increasing), ``agent`` (internal index), ``tick``, ``kind``
  (see :data:`KINDS`), ``ref`` (the message id, or -1), ``other`` (the other agent's index: who shared,
  whom it followed; -1 for none) and ``text`` (the message, what the agent wrote, the question, or the
  other agent's name). Indexed by ``(agent, id)``. An agent's **short-term memory** is its last K rows;
  everything older is its **long-term memory**.
- ``memory_fts``: an FTS5 index over the rows' words, each as a term of its agent (external content: no
  second copy of the text), so recall by relevance is one ``MATCH`` of the agent's own terms, ranked by
  BM25, at a cost that follows the agent's memory, not everyone's.
- ``memory_summary``: per agent, the summary its older events were condensed into, and ``upto``, the
  last event id it covers.
- ``memory_agents``: the agents that remember (``enrolled``, also a boolean column in memory).

Only enrolled agents get events: the LLM service enrolls the agents it speaks for, and a world whose
setting is ``memory=all`` enrolls everyone. Recording a tick's events for many agents is one
``executemany`` over the columns zipped in C (no Python loop per agent). The world file keeps the same three
tables (without the FTS index, rebuilt when a world is opened); checkpoints write what changed since
the last one: new rows, deleted ids, changed summaries and newly enrolled agents.

Everything here is thread-safe (one lock): the tick's worker thread records, the event loop recalls.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

#: Kinds of events: shown a message; took it up (by the model's state: reposted, replied, liked, else
#: adopted); wrote a post, a repost comment or a reply; followed or unfollowed someone, or was followed
#: or unfollowed; was asked a question in an interview, and answered it.
KINDS = (
    "seen",
    "reposted",
    "replied",
    "liked",
    "adopted",
    "wrote_post",
    "wrote_repost",
    "wrote_reply",
    "followed",
    "unfollowed",
    "followed_by",
    "unfollowed_by",
    "asked",
    "answered",
)
#: Fields of an event row, in order.
EVENT_FIELDS = ("id", "agent", "tick", "kind", "ref", "other", "text")
#: Fields of a summary row, in order.
SUMMARY_FIELDS = ("agent", "upto", "tick", "text", "written_by")
WRITERS = ("llm", "cache", "offline")
#: Longest text kept in one event (characters).
TEXT_LIMIT = 2000

SCHEMA = """
CREATE TABLE IF NOT EXISTS memory (
    id INTEGER PRIMARY KEY,
    agent INTEGER NOT NULL,
    tick INTEGER NOT NULL,
    kind TEXT NOT NULL,
    ref INTEGER NOT NULL,
    other INTEGER NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS memory_agent ON memory (agent, id);
CREATE TABLE IF NOT EXISTS memory_summary (
    agent INTEGER PRIMARY KEY,
    upto INTEGER NOT NULL,
    tick INTEGER NOT NULL,
    text TEXT NOT NULL,
    written_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS memory_agents (agent INTEGER PRIMARY KEY);
"""

#: The FTS5 index holds each event's words as terms of its agent (``a12_bridge``: agent 12, "bridge"),
#: made by the ``agent_terms`` SQL function: a recall looks up only the agent's own terms, so its cost
#: follows the size of that agent's memory, not of everyone's (an index of plain words would scan every
#: agent's events for a common word), and BM25 weighs a word by how rare it is in the agent's memory.
_INDEX = """
CREATE INDEX memory_tick ON memory (tick);
CREATE VIEW memory_terms AS SELECT id, agent_terms(agent, text) AS terms FROM memory;
CREATE VIRTUAL TABLE memory_fts USING fts5(terms, content='memory_terms', content_rowid='id',
                                           tokenize="unicode61 remove_diacritics 0 tokenchars '_'");
CREATE TRIGGER memory_ai AFTER INSERT ON memory BEGIN
    INSERT INTO memory_fts (rowid, terms) VALUES (new.id, agent_terms(new.agent, new.text));
END;
CREATE TRIGGER memory_ad AFTER DELETE ON memory BEGIN
    INSERT INTO memory_fts (memory_fts, rowid, terms) VALUES ('delete', old.id, agent_terms(old.agent, old.text));
END;
"""

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def agent_terms(agent: int, text: str) -> str:
    """The index terms of one event: each word of ``text``, lowercased, as a term of ``agent``."""
    prefix = f"a{int(agent)}_"
    return " ".join(prefix + w for w in _WORD.findall(str(text).lower()))


#: Words too common to say what a prompt is about (recall ignores them).
STOPWORDS = frozenset(
    """
a about above after again against all am an and any are as at be because been before being below between
both but by can could did do does doing down during each few for from further had has have having he her
here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not
now of off on once only or other our ours ourselves out over own same she should so some such than that
the their theirs them themselves then there these they this those through to too under until up very was
we were what when where which while who whom why will with would you your yours yourself yourselves
think tell said say saw see seen did know anything something post posts posted message messages
""".split()
)


def query_words(text: str, limit: int = 24) -> list[str]:
    """The words of ``text`` that say what it is about: lowercased, without stopwords and one-letter
    words, each once, in order, at most ``limit``."""
    out: list[str] = []
    for w in _WORD.findall(str(text).lower()):
        if len(w) < 2 or w in STOPWORDS or w.isdigit() and len(w) < 3 or w in out:
            continue
        out.append(w)
        if len(out) >= limit:
            break
    return out


def _json_ints(a: np.ndarray) -> str:
    return json.dumps(np.asarray(a, dtype=np.int64).tolist())


class AgentMemory:
    """See the module docstring."""

    def __init__(self) -> None:
        self._db: sqlite3.Connection | None = None
        self._lock = threading.RLock()
        #: Which agents remember (boolean per agent; None until the first is enrolled).
        self.enrolled: np.ndarray | None = None
        self._indices: np.ndarray | None = None  # np.flatnonzero(enrolled), cached
        #: Events held per agent, and events since its summary's ``upto`` (None until first use).
        self.count: np.ndarray | None = None
        self.fresh: np.ndarray | None = None
        self.next_id = 1
        self.total = 0
        self.oldest_tick: int | None = None
        # What the world file has not got yet.
        self._written_upto = 0
        self._deleted: list[np.ndarray] = []
        self._new_agents: list[np.ndarray] = []
        self._dirty_summaries: set[int] = set()

    # -- state ------------------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        """Whether any agent remembers (nothing else here costs anything until one does)."""
        return self.enrolled is not None

    @property
    def agents(self) -> int:
        """How many agents remember."""
        return int(self.enrolled_indices().size)

    def enrolled_indices(self) -> np.ndarray:
        """The agents that remember, ascending (kept until the next enrollment: a tick asks every time)."""
        if self._indices is None:
            self._indices = np.empty(0, dtype=np.int64) if self.enrolled is None else np.flatnonzero(self.enrolled)
        return self._indices

    def is_enrolled(self, i: int) -> bool:
        e = self.enrolled
        return e is not None and 0 <= int(i) < e.size and bool(e[int(i)])

    def which(self, agents: np.ndarray) -> np.ndarray:
        """A mask over ``agents``: those that remember."""
        agents = np.asarray(agents, dtype=np.int64)
        e = self.enrolled
        if e is None or agents.size == 0:
            return np.zeros(agents.size, dtype=bool)
        ok = (agents >= 0) & (agents < e.size)
        out = np.zeros(agents.size, dtype=bool)
        out[ok] = e[agents[ok]]
        return out

    def _grow(self, n: int) -> None:
        if self.enrolled is None:
            self.enrolled = np.zeros(n, dtype=bool)
            self.count = np.zeros(n, dtype=np.int32)
            self.fresh = np.zeros(n, dtype=np.int32)
        elif self.enrolled.size < n:
            extra = n - self.enrolled.size
            self.enrolled = np.concatenate([self.enrolled, np.zeros(extra, dtype=bool)])
            self.count = np.concatenate([self.count, np.zeros(extra, dtype=np.int32)])
            self.fresh = np.concatenate([self.fresh, np.zeros(extra, dtype=np.int32)])

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            # Autocommit: no transaction is ever left open (a backup of the database, see copy, waits for
            # an open one to end).
            db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
            db.create_function("agent_terms", 2, agent_terms, deterministic=True)
            db.executescript(SCHEMA + _INDEX)
            self._db = db
        return self._db

    def enroll(self, agents: np.ndarray | Sequence[int], n: int) -> np.ndarray:
        """Make ``agents`` (indices below ``n``, the world's size) remember; returns those that did not yet."""
        agents = np.unique(np.asarray(agents, dtype=np.int64))
        with self._lock:
            self._grow(n)
            assert self.enrolled is not None
            new = agents[~self.enrolled[agents]]
            if new.size:
                self.enrolled[new] = True
                self._indices = None
                self._new_agents.append(new)
                self.db.execute(
                    "INSERT OR IGNORE INTO memory_agents (agent) SELECT value FROM json_each(?)", (_json_ints(new),)
                )
            return new

    # -- recording --------------------------------------------------------------------------------
    def record(
        self, tick: int, kind: str, agents: np.ndarray, *, ref: int = -1, other: np.ndarray | int = -1, text: str = ""
    ) -> int:
        """One event of ``kind`` for each of ``agents`` that remembers, all with the same ``text`` and
        ``ref`` (``other`` per agent or one for all). Returns how many were recorded."""
        if kind not in KINDS:
            raise ValueError(f"unknown kind of memory {kind!r}")
        agents = np.asarray(agents, dtype=np.int64)
        if self.enrolled is None or agents.size == 0:
            return 0
        keep = self.which(agents)
        if not keep.any():
            return 0
        who = agents[keep]
        oth = np.broadcast_to(np.asarray(other, dtype=np.int64), agents.shape)[keep]
        text = str(text)[:TEXT_LIMIT]
        with self._lock:
            first = self.next_id
            k = int(who.size)
            # One statement, one step: a tick's thread that steps SQLite row by row gives the interpreter
            # up (and waits to get it back) at every row.
            self.db.execute(
                "INSERT INTO memory (id, agent, tick, kind, ref, other, text) SELECT ? + key, json_extract(value, "
                "'$[0]'), ?, ?, ?, "
                "json_extract(value, '$[1]'), ? FROM json_each(?)",
                (first, int(tick), kind, int(ref), text, json.dumps(np.column_stack([who, oth]).tolist())),
            )
            self._added(who, int(tick), k)
        return k

    def record_rows(self, rows: Iterable[tuple[int, int, str, int, int, str]]) -> int:
        """Events with their own texts: ``(agent, tick, kind, ref, other, text)``, kept for agents that
        remember. Returns how many were recorded."""
        keep = [r for r in rows if self.is_enrolled(r[0])]
        if not keep:
            return 0
        for r in keep:
            if r[2] not in KINDS:
                raise ValueError(f"unknown kind of memory {r[2]!r}")
        with self._lock:
            first = self.next_id
            data = [[int(a), int(t), k, int(ref), int(o), str(x)[:TEXT_LIMIT]] for a, t, k, ref, o, x in keep]
            self.db.execute(
                "INSERT INTO memory (id, agent, tick, kind, ref, other, text) SELECT ? + key, json_extract(value, "
                "'$[0]'), "
                "json_extract(value, '$[1]'), json_extract(value, '$[2]'), json_extract(value, '$[3]'), "
                "json_extract(value, '$[4]'), json_extract(value, '$[5]') FROM json_each(?)",
                (first, json.dumps(data)),
            )
            who = np.array([r[0] for r in keep], dtype=np.int64)
            self._added(who, min(int(r[1]) for r in keep), len(keep))
        return len(keep)

    def _added(self, who: np.ndarray, tick: int, k: int) -> None:
        assert self.count is not None and self.fresh is not None
        np.add.at(self.count, who, 1)
        np.add.at(self.fresh, who, 1)
        self.next_id += k
        self.total += k
        if self.oldest_tick is None or tick < self.oldest_tick:
            self.oldest_tick = tick

    # -- bounds -----------------------------------------------------------------------------------
    def prune(self, tick: int, *, horizon: int, max_events: int) -> int:
        """Forget events older than ``horizon`` ticks, and each agent's oldest beyond ``max_events``.
        Returns how many were forgotten."""
        if self.enrolled is None or self.total == 0:
            return 0
        gone: list[tuple[int, int]] = []
        with self._lock:
            cut = int(tick) - int(horizon)
            if self.oldest_tick is not None and self.oldest_tick < cut:
                gone += self.db.execute("DELETE FROM memory WHERE tick < ? RETURNING id, agent", (cut,)).fetchall()
                row = self.db.execute("SELECT MIN(tick) FROM memory").fetchone()
                self.oldest_tick = None if row[0] is None else int(row[0])
            assert self.count is not None
            over = np.flatnonzero(self.count > max_events)
            if over.size:
                gone += self.db.execute(
                    "DELETE FROM memory WHERE id IN (SELECT id FROM (SELECT id, ROW_NUMBER() OVER "
                    "(PARTITION BY agent ORDER BY id DESC) AS r FROM memory WHERE agent IN (SELECT value FROM "
                    "json_each(?))) "
                    "WHERE r > ?) RETURNING id, agent",
                    (_json_ints(over), int(max_events)),
                ).fetchall()
            if gone:
                a = np.array(gone, dtype=np.int64)
                self._deleted.append(a[:, 0])
                np.subtract.at(self.count, a[:, 1], 1)
                self.total -= len(gone)
                self._recount_fresh(np.unique(a[:, 1]))
        return len(gone)

    def _recount_fresh(self, agents: np.ndarray) -> None:
        """Events after each agent's summary, counted again (what a world read from a file counts)."""
        assert self.fresh is not None
        self.fresh[agents] = 0
        rows = self.db.execute(
            "SELECT m.agent, COUNT(*) FROM memory m LEFT JOIN memory_summary s ON s.agent = m.agent "
            "WHERE m.agent IN (SELECT value FROM json_each(?)) AND m.id > COALESCE(s.upto, 0) GROUP BY m.agent",
            (_json_ints(agents),),
        ).fetchall()
        if rows:
            r = np.array(rows, dtype=np.int64)
            self.fresh[r[:, 0]] = r[:, 1]

    # -- reading ----------------------------------------------------------------------------------
    def _rows(self, sql: str, args: tuple[Any, ...]) -> list[list[Any]]:
        """The rows of ``sql`` (wrapped to return them as one JSON array: one step, see :meth:`record`)."""
        with self._lock:
            row = self.db.execute(f"SELECT json_group_array(json(r)) FROM ({sql})", args).fetchone()
        return json.loads(row[0]) if row and row[0] else []

    def recent(self, agent: int, k: int) -> list[dict[str, Any]]:
        """The agent's last ``k`` events (its short-term memory), oldest first."""
        if not self.is_enrolled(agent) or k <= 0:
            return []
        rows = self._rows(
            "SELECT json_array(id, agent, tick, kind, ref, other, text) AS r FROM memory WHERE agent = ? "
            "ORDER BY id DESC LIMIT ?",
            (int(agent), int(k)),
        )
        rows.sort(key=lambda r: r[0])
        return [dict(zip(EVENT_FIELDS, r)) for r in rows]

    def recall(self, agent: int, about: str, limit: int, *, before: int | None = None) -> list[dict[str, Any]]:
        """Up to ``limit`` of the agent's events most relevant to the text ``about`` (FTS5, BM25; the
        best first), among those with an id below ``before`` (its long-term memory) when given."""
        words = query_words(about)
        if not words or limit <= 0 or not self.is_enrolled(agent):
            return []
        match = " OR ".join(f'"a{int(agent)}_{w}"' for w in words)
        sql = (
            "SELECT json_array(m.id, m.agent, m.tick, m.kind, m.ref, m.other, m.text, bm25(memory_fts)) AS r "
            "FROM memory_fts JOIN memory m ON m.id = memory_fts.rowid WHERE memory_fts MATCH ?"
            + ("" if before is None else " AND m.id < ?")
            + " ORDER BY bm25(memory_fts), m.id DESC LIMIT ?"
        )
        args: tuple[Any, ...] = (match, int(limit)) if before is None else (match, int(before), int(limit))
        rows = self._rows(sql, args)
        rows.sort(key=lambda r: (r[7], -r[0]))
        return [dict(zip(EVENT_FIELDS, r[:7])) for r in rows]

    def context(self, agents: Sequence[int], about: str, window: int, limit: int) -> dict[int, dict[str, Any]]:
        """For each of ``agents`` (that remember), in one statement: its last ``window`` events
        (``recent``, oldest first), up to ``limit`` older ones most relevant to ``about`` (``recalled``,
        best first) and its ``summary`` (or None). One call for a whole sample of agents: a tick's
        thread pays for each call into SQLite (it gives the interpreter up and waits to get it back)."""
        agents = [int(a) for a in dict.fromkeys(agents) if self.is_enrolled(a)]
        out: dict[int, dict[str, Any]] = {a: {"recent": [], "recalled": [], "summary": None} for a in agents}
        if not agents:
            return out
        words = query_words(about)
        parts = [
            "SELECT json_array('s', agent, upto, tick, text, written_by) AS r FROM memory_summary "
            "WHERE agent IN (SELECT value FROM json_each(?1))"
        ]
        args: list[Any] = [json.dumps(agents)]
        if window > 0:
            parts.append(
                "SELECT json_array('w', id, agent, tick, kind, ref, other, text) AS r FROM (SELECT *, ROW_NUMBER() "
                "OVER "
                "(PARTITION BY agent ORDER BY id DESC) AS n FROM memory WHERE agent IN (SELECT value FROM "
                "json_each(?1))) "
                f"WHERE n <= {int(window)}"
            )
        if words and limit > 0:
            for a in agents:  # the agent's own terms: each lookup reads only its memory
                args.append(" OR ".join(f'"a{a}_{w}"' for w in words))
                parts.append(
                    "SELECT * FROM (SELECT json_array('m', m.id, m.agent, m.tick, m.kind, m.ref, m.other, m.text, "
                    "bm25(memory_fts)) AS r FROM memory_fts JOIN memory m ON m.id = memory_fts.rowid "
                    f"WHERE memory_fts MATCH ?{len(args)} ORDER BY bm25(memory_fts), m.id DESC LIMIT "
                    f"{int(limit + window)})"
                )
        rows = self._rows(" UNION ALL ".join(parts), tuple(args))
        for r in rows:
            if r[0] == "s":
                out[r[1]]["summary"] = dict(zip(SUMMARY_FIELDS, r[1:]))
            elif r[0] == "w":
                out[r[2]]["recent"].append(dict(zip(EVENT_FIELDS, r[1:])))
            else:
                out[r[2]]["recalled"].append((r[8], -r[1], dict(zip(EVENT_FIELDS, r[1:8]))))
        for c in out.values():
            c["recent"].sort(key=lambda e: e["id"])
            first = c["recent"][0]["id"] if c["recent"] else None
            best = sorted(c["recalled"], key=lambda x: (x[0], x[1]))
            c["recalled"] = [e for _, _, e in best if first is None or e["id"] < first][:limit]
        return out

    def events(self, agent: int, *, after: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        """The agent's events with an id above ``after``, oldest first (at most ``limit``, the oldest)."""
        if not self.is_enrolled(agent):
            return []
        with self._lock:
            rows = self.db.execute(
                "SELECT id, agent, tick, kind, ref, other, text FROM memory WHERE agent = ? AND id > ? "
                "ORDER BY id LIMIT ?",
                (int(agent), int(after), -1 if limit is None else int(limit)),
            ).fetchall()
        return [dict(zip(EVENT_FIELDS, r)) for r in rows]

    def summary(self, agent: int) -> dict[str, Any] | None:
        if not self.is_enrolled(agent):
            return None
        with self._lock:
            row = self.db.execute(
                "SELECT agent, upto, tick, text, written_by FROM memory_summary WHERE agent = ?", (int(agent),)
            ).fetchone()
        return None if row is None else dict(zip(SUMMARY_FIELDS, row))

    def set_summary(self, agent: int, upto: int, tick: int, text: str, written_by: str) -> None:
        """The agent's summary now covers its events up to id ``upto``."""
        if written_by not in WRITERS:
            raise ValueError(f"unknown writer {written_by!r}")
        with self._lock:
            self.db.execute(
                "INSERT OR REPLACE INTO memory_summary (agent, upto, tick, text, written_by) VALUES (?, ?, ?, ?, ?)",
                (int(agent), int(upto), int(tick), str(text)[:TEXT_LIMIT], written_by),
            )
            self._recount_fresh(np.array([int(agent)]))
            self._dirty_summaries.add(int(agent))

    def due(self, window: int, every: int) -> np.ndarray:
        """Agents with at least ``every`` events older than their last ``window`` not yet condensed."""
        if self.fresh is None:
            return np.empty(0, dtype=np.int64)
        return np.flatnonzero(self.fresh >= window + every)

    def size_of(self, agent: int) -> dict[str, int]:
        """What the agent's memory holds: events, summary characters, and bytes of text."""
        if not self.is_enrolled(agent):
            return {"events": 0, "text_bytes": 0, "summary_chars": 0}
        with self._lock:
            n, size = self.db.execute(
                "SELECT COUNT(*), COALESCE(SUM(LENGTH(CAST(text AS BLOB))), 0) FROM memory WHERE agent = ?",
                (int(agent),),
            ).fetchone()
        s = self.summary(agent)
        return {"events": int(n), "text_bytes": int(size), "summary_chars": len(s["text"]) if s else 0}

    def _column_bytes(self) -> int:
        return sum(a.nbytes for a in (self.enrolled, self.count, self.fresh) if a is not None)

    def nbytes(self) -> int:
        """Bytes the memory takes: the database's pages and the per-agent columns."""
        cols = self._column_bytes()
        if self._db is None:
            return cols
        with self._lock:
            pages = self._db.execute("PRAGMA page_count").fetchone()[0]
            size = self._db.execute("PRAGMA page_size").fetchone()[0]
        return cols + int(pages) * int(size)

    def stats(self) -> dict[str, Any]:
        """Agents that remember, events, summaries, and bytes: in all, of the database (events, summaries,
        the FTS index) and of the per-agent columns (a few bytes for every agent of the world)."""
        cols = self._column_bytes()
        total = self.nbytes()
        return {
            "agents": self.agents,
            "events": self.total,
            "summaries": self._summaries(),
            "bytes": total,
            "database_bytes": total - cols,
            "column_bytes": cols,
        }

    def _summaries(self) -> int:
        if self._db is None:
            return 0
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM memory_summary").fetchone()[0])

    # -- persistence ------------------------------------------------------------------------------
    def rows(self) -> tuple[list[tuple], list[tuple], list[int]]:
        """Everything: event rows (by id), summary rows (by agent) and the agents that remember."""
        if self._db is None:
            return [], [], []
        with self._lock:
            events = self._db.execute(
                "SELECT id, agent, tick, kind, ref, other, text FROM memory ORDER BY id"
            ).fetchall()
            summaries = self._db.execute(
                "SELECT agent, upto, tick, text, written_by FROM memory_summary ORDER BY agent"
            ).fetchall()
        return events, summaries, self.enrolled_indices().tolist()

    def take_changes(self) -> dict[str, Any]:
        """What changed since the world file was last written (handed back with :meth:`put_back` when
        the write fails)."""
        with self._lock:
            if self._db is None:
                return {
                    "events": [],
                    "deleted": [],
                    "summaries": [],
                    "agents": [],
                    "upto": self._written_upto,
                    "next": self.next_id,
                }
            events = self._db.execute(
                "SELECT id, agent, tick, kind, ref, other, text FROM memory WHERE id > ? ORDER BY id",
                (self._written_upto,),
            ).fetchall()
            deleted = np.concatenate(self._deleted).tolist() if self._deleted else []
            agents = np.concatenate(self._new_agents).tolist() if self._new_agents else []
            dirty = sorted(self._dirty_summaries)
            summaries = [
                r
                for a in dirty
                for r in self._db.execute(
                    "SELECT agent, upto, tick, text, written_by FROM memory_summary WHERE agent = ?", (a,)
                ).fetchall()
            ]
            out = {
                "events": events,
                "deleted": deleted,
                "summaries": summaries,
                "agents": agents,
                "upto": self._written_upto,
                "next": self.next_id,
                "dirty": dirty,
            }
            self._written_upto = self.next_id - 1
            self._deleted, self._new_agents, self._dirty_summaries = [], [], set()
        return out

    def put_back(self, changes: dict[str, Any]) -> None:
        with self._lock:
            self._written_upto = min(self._written_upto, int(changes["upto"]))
            if changes["deleted"]:
                self._deleted.insert(0, np.asarray(changes["deleted"], dtype=np.int64))
            if changes["agents"]:
                self._new_agents.insert(0, np.asarray(changes["agents"], dtype=np.int64))
            self._dirty_summaries.update(changes.get("dirty", ()))

    def mark_written(self) -> None:
        with self._lock:
            self._written_upto = self.next_id - 1
            self._deleted, self._new_agents, self._dirty_summaries = [], [], set()

    def load(
        self,
        events: Iterable[Sequence[Any]],
        summaries: Iterable[Sequence[Any]],
        agents: Iterable[int],
        n: int,
        *,
        next_id: int | None = None,
    ) -> None:
        """Memory read from a world file or a snapshot (not written again). Checked: agents below ``n``,
        known kinds and writers, integer fields.

        Raises:
            ValueError: a row of the wrong shape or types.
        """
        ev = [tuple(r) for r in events]
        sm = [tuple(r) for r in summaries]
        ag = np.asarray(list(agents), dtype=np.int64)
        for r in ev:
            if len(r) != len(EVENT_FIELDS) or not all(_is_int(x) for x in (r[0], r[1], r[2], r[4], r[5])):
                raise ValueError("a memory row must have an integer id, agent, tick, ref and other")
            if r[3] not in KINDS or not isinstance(r[6], str):
                raise ValueError("a memory row has an unknown kind or a text that is not a string")
            if not 0 <= r[1] < n:
                raise ValueError("a memory row names an agent the world does not have")
        for r in sm:
            if (
                len(r) != len(SUMMARY_FIELDS)
                or not all(_is_int(x) for x in r[:3])
                or not isinstance(r[3], str)
                or r[4] not in WRITERS
            ):
                raise ValueError("a memory summary row has the wrong shape")
            if not 0 <= r[0] < n:
                raise ValueError("a memory summary names an agent the world does not have")
        if ag.size and (ag.min() < 0 or ag.max() >= n):
            raise ValueError("the agents that remember include one the world does not have")
        if not ev and not sm and not ag.size:
            return
        with self._lock:
            self.enroll(ag, n)
            enrolled = self.enrolled
            assert enrolled is not None  # enroll made it
            for r in ev:
                if not enrolled[r[1]]:
                    raise ValueError("a memory row belongs to an agent that does not remember")
            try:
                self.db.executemany(
                    "INSERT INTO memory (id, agent, tick, kind, ref, other, text) VALUES (?, ?, ?, ?, ?, ?, ?)", ev
                )
            except sqlite3.IntegrityError:
                raise ValueError("two memory rows have the same id") from None
            self.db.executemany(
                "INSERT OR REPLACE INTO memory_summary (agent, upto, tick, text, written_by) VALUES (?, ?, ?, ?, ?)", sm
            )
            assert self.count is not None and self.fresh is not None
            if ev:
                who = np.array([r[1] for r in ev], dtype=np.int64)
                ids = np.array([r[0] for r in ev], dtype=np.int64)
                np.add.at(self.count, who, 1)
                upto = np.zeros(self.count.size, dtype=np.int64)
                for r in sm:
                    upto[r[0]] = r[1]
                after = ids > upto[who]
                np.add.at(self.fresh, who[after], 1)
                self.total += len(ev)
                self.next_id = max(self.next_id, int(ids.max()) + 1)
                ticks = min(int(r[2]) for r in ev)
                self.oldest_tick = ticks if self.oldest_tick is None else min(self.oldest_tick, ticks)
            if next_id is not None:
                self.next_id = max(self.next_id, int(next_id))
            self.mark_written()

    def copy(self) -> AgentMemory:
        """An independent copy (a forked world's memory): the database's pages copied by SQLite's backup
        (no row by row, no index rebuilt), the columns by numpy."""
        twin = AgentMemory()
        if self.enrolled is None:
            return twin
        with self._lock:
            db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
            db.create_function("agent_terms", 2, agent_terms, deterministic=True)
            self.db.backup(db)
            twin._db = db
            twin.enrolled, twin.count, twin.fresh = self.enrolled.copy(), self.count.copy(), self.fresh.copy()  # type: ignore[union-attr]
            twin._indices = self._indices
            twin.next_id, twin.total, twin.oldest_tick, twin._written_upto = (
                self.next_id,
                self.total,
                self.oldest_tick,
                self._written_upto,
            )
        return twin

    def snapshot(self) -> dict[str, Any]:
        """Everything, as plain lists for a snapshot's manifest."""
        events, summaries, agents = self.rows()
        return {
            "events": [list(r) for r in events],
            "summaries": [list(r) for r in summaries],
            "agents": agents,
            "next_id": self.next_id,
        }


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)
