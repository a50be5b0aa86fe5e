"""Checking a world file (``agora check``) and bringing a crashed one back to its last checkpoint.

What a world file guarantees, however the process writing it ended (a crash, SIGKILL, a power cut after
the operating system wrote its cache, a full disk): the file opens and holds the state of its last
*checkpoint* — every tick up to it — and nothing of later ticks that the simulation depends on.

- A checkpoint is one SQLite transaction: the metadata (tick, generator states, messages, sessions), the
  session arrays, the changed agent and graph arrays and their row mirrors, the ``messages``,
  ``sessions``, ``posts`` and ``llm_cache`` rows. It is committed whole or not at all.
- Adoption ``events`` and feed ``exposures`` are committed continuously in batches between checkpoints,
  so they may run ahead of the last checkpoint: rows with ``tick >=`` the checkpointed tick belong to
  ticks the file does not hold. They are *after the last checkpoint*: :func:`discard_after_checkpoint`
  removes them when the world is next opened for writing (``WorldWriter.start``), and ``agora check``
  reports them as recoverable, not as damage. Every row of an earlier tick is kept.
- ``meta.events_since`` is the tick from which the file holds the events (0 for a world made by
  ``agora new``; for a world loaded from a snapshot, the first tick of the events the snapshot carried, or
  the snapshot's tick when it carried none: a version-1 snapshot, or one saved with ``agora save --slim``).

:func:`check_world` verifies all of this without modifying the file: SQLite's own integrity check, that the schema
holds nothing Agora did not make (a trigger, a view, an index or a table: each is a problem, and opening the world
refuses such a file), the arrays (the same validation as opening the world, plus the graph's structure), the row
mirrors against the arrays, the ``messages`` and ``sessions`` tables against the metadata, the session counters
against the session arrays, and per session the events (count and checksums of agent, tick and source) against
``adopted_at`` and ``adopted_from``. It works with SQL aggregates and numpy, never a Python loop per row.

Given a snapshot (``.snap``, recognised by its magic bytes), it checks that instead
(:func:`check_snapshot`) without writing anything: everything loading it checks — checksums, sizes, the
bound on its events, the assembled world, unique message and session ids, and per session the same
checks as a world file's (counters, curve, ticks, events and exposures against the arrays:
:mod:`sim.store.sessioncheck`). Loading refuses a snapshot that fails any of them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sqlite3
import time
from typing import Any

import numpy as np

from sim.core import sealed, worldkey, worldlock
from sim.core.world import AGENT_COLUMNS
from sim.errors import BadFileError
from sim.store.schema import foreign_schema
from sim.store.sessioncheck import MOD, message_ids, session_history_problems
from sim.store.snapshot import MAGIC, SnapshotReader, read_manifest
from sim.store.worldfile import stale_temps
from sim.store.worldread import _read_arrays, load_warnings, read_meta, session_array, world_from_parts


def _hash_edge(src: np.ndarray, dst: np.ndarray) -> int:
    return int(np.fmod(src.astype(np.int64) * 1000003 + dst.astype(np.int64), MOD).sum())


#: The most journal rows (changes acknowledged after the last checkpoint) a world file may hold.
MAX_JOURNAL = 1_000_000
#: Ids above this in a file are not taken as ids ever used (a forged audit row cannot exhaust the id space).
_MAX_ID = 2**53
#: The highest session and message ids the audit log names (each at most ``_MAX_ID``).
_USED_IDS = (
    "SELECT "
    + ", ".join(
        f"MAX(CASE WHEN json_type(details, '$.{k}') = 'integer' AND json_extract(details, '$.{k}') BETWEEN 0 AND "
        f"{_MAX_ID} THEN json_extract(details, '$.{k}') END)"
        for k in ("session", "message")
    )
    + " FROM audit WHERE json_valid(details)"
)


async def discard_after_checkpoint(db: Any) -> dict[str, Any]:
    """Bring a world file back to its last checkpoint after a crash, in one transaction, and note what was
    done in the audit log (``recover``). Removes the ``events`` and ``exposures`` rows of ticks after the
    checkpoint, and the ``sessions`` and ``messages`` rows its metadata does not hold (rows a checkpoint of
    an earlier version wrote beside it). Reads the ``journal``: changes acknowledged after the checkpoint,
    which the simulation started on the file makes again (``sim.engine.simulation``).

    Returns ``{"tick", "events", "exposures", "sessions", "messages", "journal", "max_message",
    "max_session", "last_tick"}``: the checkpoint's tick, the rows removed per table, the journal rows (dicts
    ``seq, tick, kind, body``), the highest message and session ids the file ever used (so they are never
    used again) and the latest tick of the rows removed (None when none).

    ``db`` is an aiosqlite connection to the world file with no transaction open.

    Raises:
        BadFileError: the journal is larger than a world can have written (a damaged or forged file).
    """
    rows = await db.execute_fetchall(
        "SELECT key, value FROM meta WHERE key IN ('tick', 'sessions', 'messages', 'audit_seen')"
    )
    meta = {k: json.loads(v) for k, v in rows}
    empty: dict[str, Any] = {"tick": 0, "events": 0, "exposures": 0, "sessions": 0, "messages": 0, "journal": []}
    if "tick" not in meta:
        return {**empty, "rolled_back": [], "max_message": 0, "max_session": 0, "last_tick": None}
    tick = int(meta["tick"])
    ids = [int(s["id"]) for s in meta.get("sessions") or [] if isinstance(s, dict) and "id" in s]
    mids = [int(m["id"]) for m in meta.get("messages") or [] if isinstance(m, dict) and "id" in m]
    payload, mpayload = json.dumps(ids), json.dumps(mids)
    top = max(ids, default=0)
    await db.execute("BEGIN IMMEDIATE")
    try:
        counts, last = await _remove_later_rows(db, tick, payload, top)
        removed: dict[str, list[int]] = {}
        for table, known in (("sessions", payload), ("messages", mpayload)):
            removed[table] = await _remove_unknown_rows(db, table, known)
            counts[table] = len(removed[table])
        journal = await _read_journal(db)
        # The highest ids ever used: of the sessions and messages kept, removed, journaled or audited (an
        # audited injection rolled back by the crash keeps its id: a new session never takes it).
        used = await db.execute_fetchall(_USED_IDS)
        audited = [int(x) if x is not None else 0 for x in used[0]]
        rolled_back = await _rolled_back(db, meta.get("audit_seen"), journal, top)
        max_session = max([top, *removed["sessions"], audited[0]])
        max_message = max([max(mids, default=0), *removed["messages"], audited[1]])
        details = _recovery_details(tick, last, counts, removed, rolled_back, len(journal))
        if details is not None:
            await db.execute(
                "INSERT INTO audit (ts, action, details) VALUES (?, 'recover', ?)", (time.time(), json.dumps(details))
            )
        await db.commit()
    except BaseException:
        await db.rollback()
        raise
    return {
        "tick": tick,
        **counts,
        "journal": journal,
        "rolled_back": rolled_back,
        "max_message": max_message,
        "max_session": max_session,
        "last_tick": last,
    }


async def _remove_later_rows(db: Any, tick: int, payload: str, top: int) -> tuple[dict[str, Any], int | None]:
    """Delete the ``events`` and ``exposures`` rows of the checkpointed sessions (ids in ``payload``) from
    ``tick`` on and those of sessions injected after the checkpoint (ids above ``top``); returns the rows
    removed per table and the latest tick among them (None when none)."""
    counts: dict[str, Any] = {}
    last = None
    for table in ("events", "exposures"):
        # Index range scans on (session_id, tick), as the deletes below: the checkpointed sessions' later
        # ticks, and the sessions injected after the checkpoint (ids above every checkpointed one).
        for sql, args in (
            (f"SELECT MAX(tick) FROM {table} WHERE session_id IN (SELECT value FROM json_each(?)) AND tick >= ?",
             (payload, tick)),
            (f"SELECT MAX(tick) FROM {table} WHERE session_id > ?", (top,)),
        ):  # fmt: skip
            (latest,) = (await db.execute_fetchall(sql, args))[0]
            if latest is not None:
                last = max(last or 0, int(latest))
        cur = await db.execute(
            f"DELETE FROM {table} WHERE session_id IN (SELECT value FROM json_each(?)) AND tick >= ?",
            (payload, tick),
        )
        n = max(0, cur.rowcount)
        cur = await db.execute(f"DELETE FROM {table} WHERE session_id > ?", (top,))
        counts[table] = n + max(0, cur.rowcount)
    return counts, last


async def _remove_unknown_rows(db: Any, table: str, known: str) -> list[int]:
    """Delete the rows of ``table`` (``sessions`` or ``messages``) whose ids are not in ``known`` (JSON);
    returns their ids, ascending."""
    gone = [
        int(r[0])
        for r in await db.execute_fetchall(
            f"SELECT id FROM {table} WHERE id NOT IN (SELECT value FROM json_each(?)) ORDER BY id", (known,)
        )
    ]
    if gone:
        await db.execute(f"DELETE FROM {table} WHERE id NOT IN (SELECT value FROM json_each(?))", (known,))
    return gone


async def _read_journal(db: Any) -> list[dict[str, Any]]:
    """The ``journal`` rows as dicts ``seq, tick, kind, body`` (data from the file: checked when made again).

    Raises:
        BadFileError: more rows than a world writes between two checkpoints.
    """
    (n_journal,) = (await db.execute_fetchall("SELECT COUNT(*) FROM journal"))[0]
    if n_journal > MAX_JOURNAL:
        raise BadFileError(
            f"the world file holds {n_journal:,} changes after its last checkpoint, more than the "
            f"{MAX_JOURNAL:,} a world writes between two checkpoints: it is damaged or forged"
        )
    return [
        {"seq": r[0], "tick": r[1], "kind": r[2], "body": r[3]}
        for r in await db.execute_fetchall("SELECT seq, tick, kind, body FROM journal ORDER BY seq")
    ]


async def _rolled_back(db: Any, seen: Any, journal: list[dict[str, Any]], top: int) -> list[int]:
    """Injections audited after the checkpoint (audit rows after ``seen``) of sessions above ``top`` that no
    journal row holds (the engine's counter-messages of lost ticks, a command's own injection killed before
    its checkpoint): rolled back, and named."""
    journaled = set()
    for r in journal:
        try:
            journaled.add(int(json.loads(r["body"]).get("session")))
        except (TypeError, ValueError, AttributeError):
            pass
    if not isinstance(seen, int) or isinstance(seen, bool):
        return []
    return [
        int(r[0])
        for r in await db.execute_fetchall(
            "SELECT json_extract(details, '$.session') FROM audit WHERE id > ? AND action = 'inject' "
            "AND json_valid(details) AND json_type(details, '$.session') = 'integer' ORDER BY id",
            (seen,),
        )
        if int(r[0]) not in journaled and int(r[0]) > top
    ]


def _recovery_details(
    tick: int,
    last: int | None,
    counts: dict[str, Any],
    removed: dict[str, list[int]],
    rolled_back: list[int],
    journal: int,
) -> dict[str, Any] | None:
    """The ``recover`` audit row's details, or None when the file was at its checkpoint already."""
    if not (
        counts["events"] or counts["exposures"] or removed["sessions"] or removed["messages"] or journal or rolled_back
    ):
        return None
    details: dict[str, Any] = {
        "tick": tick,
        "events": counts["events"],
        "exposures": counts["exposures"],
        "rolled_back_to": tick,
        "last_tick": last,
        "why": "the run before ended without a checkpoint: the world is back at its last one",
    }
    if removed["sessions"] or removed["messages"]:
        details["sessions_removed"] = removed["sessions"][:1000]
        details["messages_removed"] = removed["messages"][:1000]
        details["why_removed"] = "sessions and messages rows that the checkpoint's metadata did not hold"
    if rolled_back:
        details["rolled_back_sessions"] = rolled_back[:1000]
        details["why_rolled_back"] = (
            "injections audited after the checkpoint that no journal row holds: a command's own injection "
            "or the engine's counter-message, rolled back with the ticks (their ids are never used again)"
        )
    if journal:
        details["journal"] = journal
        details["journal_note"] = "changes acknowledged after the checkpoint: made again when the world runs"
    return details


def _connect(path: str) -> sqlite3.Connection:
    # Read-only: checking never changes the file (not even a WAL checkpoint on close); and no function
    # with side effects may run from the file's schema.
    con = worldkey.connect(path, readonly=True)
    con.execute("PRAGMA trusted_schema = OFF")
    return con


def leftover_temps(temps: list[str]) -> str:
    """A sentence naming the temporary files of killed saves (:func:`sim.store.worldfile.stale_temps`), their
    size and how to remove them."""
    size = 0
    for f in temps:
        with contextlib.suppress(OSError):
            size += os.stat(f).st_size
    names = ", ".join(os.path.basename(f) for f in temps[:3]) + (", ..." if len(temps) > 3 else "")
    command = "rm -- " + " ".join(shlex.quote(f) for f in temps[:3]) + (" ..." if len(temps) > 3 else "")
    one = len(temps) == 1
    it, lie = ("it", "lies") if one else ("them", "lie")
    return (
        f"{len(temps)} temporary file{'' if one else 's'} of a killed save ({names}: {size / 2**20:,.1f} MiB) {lie} "
        f"beside the world's path: the process that wrote {it} is gone and no world needs {it}; remove {it} "
        f"({command}), or write the world again: its next save removes {it}"
    )


def check_world(path: str, *, quick: bool = False) -> dict[str, Any]:
    """Check a world file; returns ``{"ok", "problems", "checks", "notes", "path", "tick", "seconds"}``.

    ``problems`` has one sentence per inconsistency (empty when ``ok``); ``notes`` what is fine but worth
    knowing (rows after the last checkpoint, which the next writer discards; temporary files of killed
    saves). ``quick`` runs SQLite's ``quick_check`` instead of ``integrity_check`` and skips the
    checksums over the ``agent_rows`` and ``relationships`` rows (their counts are still compared).

    When ``path`` does not exist but temporary files of a save to it that was killed do (``PATH.tmp-PID``,
    their process gone), they are the problem named, with how to remove them.

    Raises:
        BadFileError: ``path`` does not exist (and no such files do) or is a folder (nothing to check).
    """

    t0 = time.perf_counter()
    temps = stale_temps(path)
    if not os.path.exists(path) and not temps:
        raise BadFileError(f"world {path!r} does not exist: check the path")
    if os.path.isdir(path):
        raise BadFileError(f"world {path!r} is a folder, not a world file")
    problems: list[str] = []
    notes: list[str] = []
    checks: dict[str, Any] = {}
    out: dict[str, Any] = {
        "path": os.path.abspath(path),
        "kind": "world",
        "ok": False,
        "problems": problems,
        "checks": checks,
        "notes": notes,
        "tick": None,
    }

    def done() -> dict[str, Any]:
        out["ok"] = not problems
        out["seconds"] = round(time.perf_counter() - t0, 3)
        return out

    checks["stale_temp_files"] = temps
    if not os.path.exists(path):  # a save killed before its first rename: only its temporary files are there
        problems.append(f"the world does not exist, and {leftover_temps(temps)}")
        return done()
    if temps:
        notes.append(leftover_temps(temps))
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        problems.append(f"the file cannot be read ({exc.strerror})")
        return done()
    if head.startswith(MAGIC) or sealed.is_sealed(head):
        return check_snapshot(path, t0=t0, out=out)
    if head != worldkey.SQLITE_MAGIC and not worldkey.is_encrypted(path):
        problems.append(
            worldkey.cut_short(path)
            or "the file is not an SQLite database (its header is damaged, or it is another kind of file)"
        )
        return done()
    existed = worldlock.side_files(path)
    try:
        con = _connect(path)
        # Everything below reads one snapshot of the file (a writer may commit checkpoints meanwhile).
        con.execute("BEGIN")
    except worldkey.Error as exc:
        problems.append(f"SQLite cannot open the file ({exc})")
        return done()
    try:
        _check_world_file(con, path, quick, out)
    finally:
        con.close()
        worldlock.tidy_after_read(path, existed)
    return done()


def _check_world_file(con: sqlite3.Connection, path: str, quick: bool, out: dict[str, Any]) -> None:
    """The checks of :func:`check_world` on an open world file, in one read transaction: SQLite's own, the
    schema, the metadata and arrays assembled into a world, the rows, the sessions and the journal; into
    ``out``'s ``problems``, ``checks`` and ``notes`` (the first failing step ends them)."""
    problems, checks, notes = out["problems"], out["checks"], out["notes"]
    _check_sqlite(con, quick, problems, checks)
    if problems:
        return
    try:
        foreign = foreign_schema(con)
    except worldkey.DatabaseError as exc:
        problems.append(f"the schema cannot be read ({exc})")
        return
    checks["foreign_schema"] = foreign
    problems.extend(
        f"schema: {f} was not made by Agora (it could run code when the world is read or written, "
        "so Agora refuses to open it)"
        for f in foreign
    )
    try:
        meta = read_meta(path, schema=False, con=con)  # the schema was judged just above, object by object
        arrays = _read_arrays(con, path, None)
        world = world_from_parts(meta, arrays, path=None, source="the world")
    except BadFileError as exc:
        problems.append(str(exc))
        return
    except worldkey.DatabaseError as exc:
        problems.append(f"the arrays cannot be read ({exc})")
        return
    notes.extend(load_warnings(world))
    out["tick"] = world.tick
    checks["agents"], checks["edges"], checks["tick"] = world.n, world.num_edges, world.tick
    checks["data_columns"] = [k for k in world.columns if k not in AGENT_COLUMNS]  # agora set; checked on assembly
    problems.extend(f"graph: {p}" for p in world.graph.check())
    checks["attributes"] = len(world.attributes)
    for name, labels in world.labels.items():  # decoded here only: opening a world never decodes them
        try:
            labels.tolist()
        except BadFileError:
            problems.append(f"attribute {name}: two of its labels are the same")
    known = {str(s.id) for s in world.sessions}  # an array session.ID.NAME belongs to session ID
    orphans = sorted(
        {n for n in arrays if n.startswith("session.") and ((part := session_array(n)) is None or part[0] not in known)}
    )
    if orphans:
        problems.append(f"arrays {', '.join(orphans[:3])} belong to no session of the metadata")
    try:
        _check_rows(con, world, quick, problems, checks)
        _check_sessions(con, world, meta, problems, checks, notes)
        _check_journal(con, notes, checks)
    except worldkey.DatabaseError as exc:
        problems.append(f"a table cannot be read ({exc})")
    except (KeyError, TypeError, ValueError) as exc:
        problems.append(f"the metadata's messages or sessions are damaged ({type(exc).__name__}: {exc})")


def _check_journal(con: sqlite3.Connection, notes: list[str], checks: dict[str, Any]) -> None:
    """Changes acknowledged after the last checkpoint (the ``journal``): fine, and said."""
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    counts = (
        dict(con.execute("SELECT kind, COUNT(*) FROM journal GROUP BY kind").fetchall()) if "journal" in tables else {}
    )
    checks["journal"] = counts
    if counts:
        what = ", ".join(f"{n:,} {k}" for k, n in sorted(counts.items()))
        notes.append(
            f"{sum(counts.values()):,} change(s) acknowledged after the last checkpoint ({what}) are kept in the "
            "journal: the next command that runs the world makes them again"
        )


def _check_sqlite(con: sqlite3.Connection, quick: bool, problems: list[str], checks: dict[str, Any]) -> None:
    pragma = "quick_check(20)" if quick else "integrity_check(20)"
    try:
        rows = [r[0] for r in con.execute(f"PRAGMA {pragma}")]
    except worldkey.DatabaseError as exc:
        problems.append(f"SQLite cannot read the file ({exc})")
        checks["integrity"] = "unreadable"
        return
    checks["integrity"] = "ok" if rows == ["ok"] else "failed"
    checks["integrity_check"] = pragma.split("(")[0]
    if rows != ["ok"]:
        problems.extend(f"SQLite {pragma.split('(')[0]}: {r}" for r in rows)


def _check_rows(con: sqlite3.Connection, world: Any, quick: bool, problems: list[str], checks: dict[str, Any]) -> None:
    """``agent_rows`` and ``relationships`` against the arrays they mirror."""
    n, e = world.n, world.num_edges
    c = world.columns
    if quick:
        (agents,) = con.execute("SELECT COUNT(*) FROM agent_rows").fetchone()
    else:
        agents, id_sum, status_sum, community_sum = con.execute(
            "SELECT COUNT(*), SUM(orig_id % 1000003), SUM(status), SUM(community) FROM agent_rows"
        ).fetchone()
        if agents == n:
            expect = (
                int(np.fmod(c["ids"], 1000003).sum()),
                int(c["status"].astype(np.int64).sum()),
                int(c["community"].astype(np.int64).sum()),
            )
            for name, got, want in zip(
                ("original ids", "status", "community"), (id_sum, status_sum, community_sum), expect
            ):
                if (got or 0) != want:
                    problems.append(f"agent_rows: the {name} column does not match the agent arrays")
    checks["agent_rows"] = agents
    if agents != n:
        problems.append(f"agent_rows holds {agents:,} rows for {n:,} agents")
    if quick:
        adjacency = con.execute("SELECT 1 FROM sqlite_master WHERE name = 'adjacency' AND type = 'table'").fetchone()
        (edges,) = con.execute(
            "SELECT COALESCE(SUM(json_array_length(edges)), 0) FROM adjacency"
            if adjacency
            else "SELECT COUNT(*) FROM relationships"
        ).fetchone()
    else:
        edges, src_sum, dst_sum, pair = con.execute(
            "SELECT COUNT(*), SUM(src), SUM(dst), SUM((src * 1000003 + dst) % 2147483647) FROM relationships"
        ).fetchone()
        if edges == e and e:
            g = world.graph
            src = g.sources()
            expected = (
                int(src.astype(np.int64).sum()),
                int(g.out_indices.astype(np.int64).sum()),
                _hash_edge(src, g.out_indices),
            )
            if (src_sum, dst_sum, pair) != expected:
                problems.append("relationships: the rows name other edges than the graph arrays")
    checks["relationships"] = edges
    if edges != e:
        problems.append(f"relationships holds {edges:,} rows for {e:,} edges")


def _check_sessions(
    con: sqlite3.Connection,
    world: Any,
    meta: dict[str, Any],
    problems: list[str],
    checks: dict[str, Any],
    notes: list[str],
) -> None:
    """Messages and sessions tables, session counters and arrays, events and exposures."""
    T = world.tick
    # -- messages ------------------------------------------------------------------------------------
    rows = dict(con.execute("SELECT id, text FROM messages").fetchall())
    want = {int(m["id"]): m.get("text") for m in world.messages}
    checks["messages"] = len(rows)
    if set(rows) != set(want):
        problems.append(
            f"the messages table holds {len(rows)} messages, the metadata {len(want)}"
            + ("" if len(rows) != len(want) else " (other ids)")
        )
    elif any(rows[k] != want[k] for k in want):
        problems.append("the messages table holds other texts than the metadata")
    # -- sessions ------------------------------------------------------------------------------------
    table = {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT id, message_id, status, started_tick, ended_tick, exposed, adopted FROM sessions"
        ).fetchall()
    }
    sessions = {s.id: s for s in world.sessions}
    checks["sessions"] = len(sessions)
    if len(sessions) != len(world.sessions):
        problems.append("the metadata lists a session id twice")
    for sid in sorted(set(table) - set(sessions)):
        problems.append(f"session {sid} is in the sessions table but not in the metadata")
    # -- events and exposures, one pass each --------------------------------------------------------
    since = meta.get("events_since")
    inferred = since is None
    if inferred:  # a file from before events_since: its history starts at its first event
        (first,) = con.execute("SELECT MIN(tick) FROM events").fetchone()
        since = T if first is None else min(int(first), T)
    assert since is not None  # inferred above when the file had none
    since = int(since)
    checks["events_since"] = since
    checks["events_since_inferred"] = inferred
    # ev[sid]: (count, sum of agents, of ticks, of sources, two hashes, lowest and highest agent)
    ev, after_ev, before_ev = _by_part(
        con.execute(
            "SELECT session_id, CASE WHEN tick >= ? THEN 1 WHEN tick < ? THEN -1 ELSE 0 END AS part, COUNT(*), "
            "SUM(agent), SUM(tick), SUM(source), SUM((agent * 1000003 + tick) % 2147483647), "
            "SUM((agent * 7919 + source + 1) % 2147483647), MIN(agent), MAX(agent) FROM events "
            "GROUP BY session_id, part",
            (T, since),
        )
    )
    # ex[sid]: (count, sum of agents, lowest and highest agent)
    ex, after_ex, before_ex = _by_part(
        con.execute(
            "SELECT session_id, CASE WHEN tick >= ? THEN 1 WHEN tick < ? THEN -1 ELSE 0 END AS part, COUNT(*), "
            "SUM(agent), MIN(agent), MAX(agent) FROM exposures GROUP BY session_id, part",
            (T, since),
        )
    )
    checks["events"] = sum(v[0] for v in ev.values())
    checks["exposures"] = sum(v[0] for v in ex.values())
    checks["events_after_checkpoint"] = sum(after_ev.values())
    checks["exposures_after_checkpoint"] = sum(after_ex.values())
    if after_ev or after_ex:
        notes.append(
            f"{sum(after_ev.values()):,} event and {sum(after_ex.values()):,} exposure rows are from ticks after the "
            f"last checkpoint (tick {T}); they are discarded when the world is next opened for writing"
        )
    if before_ev or before_ex:
        problems.append(
            f"{before_ev:,} event and {before_ex:,} exposure rows are older than the file's history (tick {since})"
        )
    for sid in sorted(set(ev) - set(sessions)):
        problems.append(
            f"events: {ev[sid][0]:,} rows of checkpointed ticks name session {sid}, which the metadata does not have"
        )
    for sid in sorted(set(ex) - set(sessions)):
        problems.append(
            f"exposures: {ex[sid][0]:,} rows of checkpointed ticks name session {sid}, which the metadata does not have"
        )
    ids = message_ids(world)
    for sid, s in sorted(sessions.items()):
        _check_session(s, T, since, table.get(sid), ev.get(sid), ex.get(sid), world, problems, ids)


def _by_part(rows: Any) -> tuple[dict[int, tuple], dict[int, int], int]:
    """A table's per-session rows ``(session, part, count, ...)`` by part: the figures of the rows the
    checkpoint holds by session (part 0: ``(count, ...)``), the count after the checkpoint by session
    (part 1) and the count before the events the file holds (part -1)."""
    held: dict[int, tuple] = {}
    after: dict[int, int] = {}
    before = 0
    for sid, part, cnt, *figures in rows:
        if part == 1:
            after[sid] = cnt
        elif part == -1:
            before += cnt
        else:
            held[sid] = (cnt, *figures)
    return held, after, before


def check_snapshot(path: str, *, t0: float | None = None, out: dict[str, Any] | None = None) -> dict[str, Any]:
    """Check a snapshot file without loading it anywhere: the same result as :func:`check_world`, with
    ``kind`` ``"snapshot"``. Everything loading it checks (magic, version, trailer, manifest and array
    checksums, declared sizes, decompression, the assembled world, unique message, session and post ids)
    and every session's counters, curve, ticks and history (its events and exposures) against its arrays:
    the same per-session checks as a world file's (:mod:`sim.store.sessioncheck`).

    Raises:
        ResourceError: the machine cannot hold it (as loading it would say).
    """

    t0 = time.perf_counter() if t0 is None else t0
    if out is None:
        out = {"path": os.path.abspath(path), "ok": False, "problems": [], "checks": {}, "notes": [], "tick": None}
    out["kind"] = "snapshot"
    problems, checks, notes = out["problems"], out["checks"], out["notes"]
    try:
        manifest, size = read_manifest(path)
        checks.update(
            {
                "format_version": manifest.get("format_version"),
                "app_version": str(manifest.get("app_version")),
                "arrays": len(manifest["arrays"]),
                "size_bytes": size,
            }
        )
        # What it ignores becomes notes; what is wrong with its sessions and history, problems (all of them:
        # loading refuses the file at the first).
        with SnapshotReader(path, quiet=True, refuse=False) as reader:
            world = reader.world()
            problems.extend(reader.problems)
    except worldkey.KeyNeededError:
        raise  # no key, or not its key: the user's to give (exit 2), not a problem of the file
    except BadFileError as exc:
        # Loading says the current world is untouched; checking touches nothing, so that part is dropped.
        problems.append(str(exc).replace("; the current world was left as it was", ""))
    else:
        out["tick"] = world.tick
        checks.update(
            {
                "agents": world.n,
                "edges": world.num_edges,
                "tick": world.tick,
                "messages": len(world.messages),
                "sessions": len(world.sessions),
                "posts": len(world.posts),
                "memory_events": world.memory.total,
                "data_columns": [k for k in world.columns if k not in AGENT_COLUMNS],
            }
        )
        notes.extend(load_warnings(world))
    out["ok"] = not problems
    out["seconds"] = round(time.perf_counter() - t0, 3)
    return out


def _check_session(
    s: Any,
    T: int,
    since: int,
    row: tuple | None,
    ev: tuple | None,
    ex: tuple | None,
    world: Any,
    problems: list[str],
    messages: frozenset | None = None,
) -> None:
    """A session's row of the ``sessions`` table against its metadata, then the session and its events and
    exposures (the SQL aggregates ``ev`` and ``ex``) against its arrays, as a snapshot's are checked."""
    p = f"session {s.id}"
    before = len(problems)
    if row is None:
        problems.append(f"{p} is in the metadata but not in the sessions table")
    else:
        message_id, status, started, ended, exposed, adopted = row
        if (message_id, status, started, ended, exposed, adopted) != (
            s.message_id,
            s.status,
            s.started_tick,
            s.ended_tick,
            s.exposed_count,
            s.reached,
        ):
            problems.append(
                f"{p}: the sessions table says {status}, {adopted:,} adopted, {exposed:,} exposed; the metadata "
                f"{s.status}, {s.reached:,} adopted, {s.exposed_count:,} exposed"
            )
    session_history_problems(s, T, since, ev, ex, world, problems, first=before, messages=messages)
