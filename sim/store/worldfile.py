"""World files: one SQLite database per world (aiosqlite, WAL).

The simulator works on arrays; the database keeps them two ways. The ``arrays`` table holds every
column and the CSR graph as raw little-endian blobs (chunked), so opening a world is a few large
reads. The ``agents`` and ``relationships`` tables mirror them as rows, so a world stays queryable with
plain SQL. The schema is documented in the README (section "World files").

A new world file is written to a temporary file beside the target, synced and renamed, so a crash
while creating it never leaves half a world under the target's name.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite
import numpy as np

from sim import __version__
from sim.core import worldkey
from sim.core import worldlock as lock
from sim.core.diskio import remove_quietly, write_error, written_back
from sim.core.faults import kill_point
from sim.core.graph import Graph
from sim.core.memory import ensure_disk, world_file_bytes
from sim.core.persona import pool_rows
from sim.core.world import World
from sim.errors import BadFileError, TargetExistsError
from sim.store.analysis_tables import CommunityTable, community_table, write_analysis
from sim.store.eventrows import History
from sim.store.schema import (
    ADJACENCY_SCHEMA,
    EXPOSURES_SCHEMA,
    JOURNAL_SCHEMA,
    LLM_SCHEMA,
    SCHEMA,
    SCHEMA_SQL,
    foreign_error,
    foreign_objects,
    untrusting,
)

# The reading side lives in sim.store.worldread; its names stay importable from here.
from sim.store.worldread import (
    FORMAT_VERSION,
    LAYERED_VERSION,
    LLM_ENDPOINT_SETTINGS,
    READABLE_VERSIONS,
    PersonaReader,
    file_llm_settings,
    format_version,
    load_warnings,
    open_world,
    read_meta,
    repeated_id,
    tell_load_warnings,
    world_from_parts,
    world_info,
)
from sim.store.worldrows import (
    ROW_BATCH,
    ReadyWorld,
    WorldSource,
    adjacency_batch,
    bulk_rows,
    delta_arrays,
    history_rows,
    mirror_update,
    relationship_rows,
    run_statements,
    world_arrays,
    write_arrays,
)

Progress = Callable[[str, float], None] | None

# What a world file may hold, and its schema: sim.store.schema.


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(os.path.dirname(os.path.abspath(path)) or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def stale_temps(path: str) -> list[str]:
    """Temporary files of saves to ``path`` (``PATH.tmp-PID`` and their SQLite companions) whose writing
    process is gone: a save killed before its rename leaves them; the target itself is never affected."""
    out = []
    for f in sorted(glob.glob(glob.escape(path) + ".tmp-*")):
        pid = f[len(path) + len(".tmp-") :].split("-", 1)[0]
        if not (pid.isascii() and pid.isdigit()):  # a pid as Agora writes it (isdigit alone takes "١٢")
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            out.append(f)
        except OSError:
            pass  # alive (or another user's): a save may be in progress
    return out


def remove_stale_temps(path: str) -> list[str]:
    """Remove what :func:`stale_temps` finds (called before every save to ``path``); returns the names."""
    found = stale_temps(path)
    for f in found:
        with contextlib.suppress(OSError):
            os.remove(f)
    return found


def check_target(path: str, force: bool, what: str = "world") -> None:
    """Refuse to overwrite an existing target unless ``force``.

    Raises:
        TargetExistsError: the target exists and ``force`` is false.
        BadFileError: the target's folder does not exist.
    """
    if os.path.isdir(path):
        raise TargetExistsError(f"{what} target {path!r} is a folder: give a file name")
    if os.path.exists(path) and not force:
        raise TargetExistsError(f"{what} {path!r} already exists: overwrite it with force", fields="force")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise BadFileError(f"folder {folder!r} for {what} {path!r} does not exist: create it first")


def _storable_config(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` as a file may store it: LLM settings without endpoints (whatever put them in memory)."""
    llm = config.get("llm")
    if isinstance(llm, dict):
        kept, ignored = file_llm_settings(llm)
        if len(kept) != len(llm):
            return {**config, "llm": kept}
    return config


def layer_edges(world: World) -> list[int]:
    """The directed edges in each of the world's layers (an edge in two layers counts in both), in the order of
    ``world.layers``: what ``agora info`` says without reading the arrays."""
    layer = world.graph.layer
    if layer is None:
        return []
    return [int(np.count_nonzero(layer & np.uint8(1 << i))) for i in range(len(world.layers))]


def _meta_rows(world: World) -> list[tuple[str, str]]:
    meta = {
        "format": "agora-world",
        "format_version": format_version(world),
        "app_version": __version__,
        "name": world.name,
        "seed": world.seed,
        "agents": world.n,
        "edges": world.num_edges,
        "communities": world.num_communities,
        "tick": world.tick,
        "config": _storable_config(world.config),
        "rng_state": world.rng_state,
        "persona_overrides": {str(k): [p.name, p.bio, p.style] for k, p in world.persona_overrides.items()},
        "messages": world.messages,
        "sessions": [sess.to_record() for sess in world.sessions],
        "saved": time.time(),
    }
    if world.layers:  # a world of one layer keeps the metadata an earlier Agora reads
        meta["layers"] = list(world.layers)
        counts = layer_edges(world)
        meta["layer_edges"] = counts
        # Each layer's mean degree (its directed edges per agent), for agora info without the arrays.
        meta["layer_degree"] = [round(e / world.n, 6) if world.n else 0.0 for e in counts]
    if world.attributes:  # so does a world without attributes
        meta["attributes"] = world.attributes
    return [(k, json.dumps(v)) for k, v in meta.items()]


#: Metadata keys a world writes only when it has what they describe: a checkpoint deletes those it did not write
#: (an attribute cleared, the last one gone).
OPTIONAL_META = ("layers", "layer_edges", "layer_degree", "attributes")


async def ensure_schema(db: aiosqlite.Connection) -> None:
    """Bring a world file written by an earlier version up to the current tables (idempotent), on a
    connection that is to write it: ``trusted_schema`` off, and a file holding schema objects Agora did
    not make (a trigger would run on every write) is refused before anything is written.

    Raises:
        BadFileError: the file holds a trigger, view, index or table Agora did not make (``db`` is closed).
    """
    await db.execute("PRAGMA trusted_schema = OFF")
    try:
        found = foreign_objects(await db.execute_fetchall(SCHEMA_SQL))
        rows = await db.execute_fetchall("PRAGMA database_list")
    except worldkey.DatabaseError as exc:
        await db.close()
        raise BadFileError(f"world file cannot be read ({exc}): it may be damaged") from None
    if found:
        path = next((r[2] for r in rows if r[1] == "main"), "") or "(in memory)"
        await db.close()  # the connection is of no use now (and its thread would outlive the caller)
        raise foreign_error(path, found)
    cols = [r[1] for r in await db.execute_fetchall("PRAGMA table_info(events)")]
    if cols and "via" not in cols:
        await db.execute("ALTER TABLE events ADD COLUMN via INTEGER NOT NULL DEFAULT 0")
    cols = [r[1] for r in await db.execute_fetchall("PRAGMA table_info(sessions)")]
    if cols and "traceback" not in cols:
        await db.execute("ALTER TABLE sessions ADD COLUMN traceback TEXT")
    await db.executescript(EXPOSURES_SCHEMA)
    await db.executescript(LLM_SCHEMA)
    await db.executescript(JOURNAL_SCHEMA)
    cols = [r[1] for r in await db.execute_fetchall("PRAGMA table_info(llm_cache)")]
    if "delay" not in cols:
        await db.execute("ALTER TABLE llm_cache ADD COLUMN delay INTEGER NOT NULL DEFAULT 0")
    await db.commit()


_MEMORY_SQL = "INSERT OR REPLACE INTO memory (id, agent, tick, kind, ref, other, text) VALUES (?, ?, ?, ?, ?, ?, ?)"
_SUMMARY_SQL = "INSERT OR REPLACE INTO memory_summary (agent, upto, tick, text, written_by) VALUES (?, ?, ?, ?, ?)"


async def _write_memory(db: aiosqlite.Connection, world: World) -> None:
    """All of the world's agent memory (a world file written whole)."""
    events, summaries, agents = world.memory.rows()
    await db.executemany("INSERT OR IGNORE INTO memory_agents (agent) VALUES (?)", [(a,) for a in agents])
    await db.executemany(_MEMORY_SQL, events)
    await db.executemany(_SUMMARY_SQL, summaries)
    if world.memory.active:
        await db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('memory_next_id', ?)", (json.dumps(world.memory.next_id),)
        )


async def _write_memory_changes(db: aiosqlite.Connection, world: World, changes: dict[str, Any]) -> None:
    """What changed in the agent memory since the last checkpoint (inside its transaction)."""
    if changes["agents"]:
        await db.executemany(
            "INSERT OR IGNORE INTO memory_agents (agent) VALUES (?)", [(a,) for a in changes["agents"]]
        )
    if changes["deleted"]:
        await db.execute(
            "DELETE FROM memory WHERE id IN (SELECT value FROM json_each(?))", (json.dumps(changes["deleted"]),)
        )
    if changes["events"]:
        await db.executemany(_MEMORY_SQL, changes["events"])
    if changes["summaries"]:
        await db.executemany(_SUMMARY_SQL, changes["summaries"])
    if changes["events"] or changes["agents"]:
        await db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('memory_next_id', ?)", (json.dumps(changes["next"]),)
        )


_CACHE_SQL = (
    "INSERT OR REPLACE INTO llm_cache (key, model, prompt, response, tokens_in, tokens_out, delay) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_POSTS_SQL = (
    "INSERT OR IGNORE INTO posts (id, tick, agent, message_id, session_id, kind, text, written_by) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def _copy_posts(old_path: str) -> list[tuple]:
    """Every post of the world file ``old_path`` (none when it is not a readable world)."""
    try:
        src = untrusting(worldkey.connect(old_path, readonly=True))
        try:
            return src.execute(
                "SELECT id, tick, agent, message_id, session_id, kind, text, written_by FROM posts ORDER BY id"
            ).fetchall()
        finally:
            src.close()
    except worldkey.Error:
        return []


#: Agent columns mirrored in ``agent_rows`` that a running simulation may change.
_MIRRORED = ("community", "susceptibility", "reputation", "influence", "status", "activity_rate")


async def _is_version_1(db: aiosqlite.Connection) -> bool:
    """Whether the open world file keeps its graph mirror as format version 1 did (a ``relationships`` table)."""
    rows = list(await db.execute_fetchall("SELECT type FROM sqlite_master WHERE name = 'relationships'"))
    return bool(rows) and rows[0][0] == "table"


async def _sync_mirrors(db: aiosqlite.Connection, world: World) -> None:
    """Bring the ``agent_rows`` and ``relationships`` rows in line with the arrays after a run changed
    them: whole mirrored columns that are dirty, and the edges followed, unfollowed or re-trusted since
    the rows were written (``world.edge_log``)."""
    dirty = [col for col in _MIRRORED if f"agent.{col}" in world.dirty_arrays]
    if dirty:
        # Every dirty column in one pass over the rows, a block of rows per statement (``sim.store.fixedtext``).
        for start in range(0, world.n, ROW_BATCH):
            await db.execute(*mirror_update(world.columns, dirty, start, min(world.n, start + ROW_BATCH)))
    log = world.edge_log
    if await _is_version_1(db):
        # A file of format version 1 keeps a row per edge: at its first checkpoint its graph mirror is
        # rewritten in the current form (the checkpoint's metadata says version 2 from then on).
        await db.execute("DROP TABLE relationships")
        for statement in ADJACENCY_SCHEMA.split(";"):
            if statement.strip():
                await db.execute(statement)
        await _write_relationships(db, world.graph, None)
        return
    keys = [np.concatenate(log[k]) for k in ("removed", "added", "trust") if log[k]]
    if keys:
        await _rewrite_adjacency(db, world.graph, np.concatenate(keys) // world.n)
    # The log is cleared by the caller once the transaction is committed: a failed checkpoint keeps it.


async def _write_personas(db: aiosqlite.Connection, world: World) -> None:
    if world.persona_overrides:
        await db.executemany(
            "INSERT OR REPLACE INTO personas (id, name, bio, style) VALUES (?, ?, ?, ?)",
            [(i, p.name, p.bio, p.style) for i, p in world.persona_overrides.items()],
        )


async def _write_relationships(db: aiosqlite.Connection, graph: Graph, progress: Progress) -> None:
    """The ``adjacency`` rows of the whole graph, a batch of about a million edges per statement."""
    await run_statements(db, lambda: relationship_rows(graph), progress)


async def _rewrite_adjacency(db: aiosqlite.Connection, graph: Graph, sources: np.ndarray) -> None:
    """Bring the ``adjacency`` rows of ``sources`` (agent indices) in line with the graph: rows of agents
    left without followers deleted, the others written again, a block of about a million edges a statement."""
    sources = np.unique(sources.astype(np.int64))
    if sources.size == 0:
        return
    deg = graph.out_indptr[sources + 1] - graph.out_indptr[sources]
    gone = sources[deg == 0]
    if gone.size:
        await db.execute(
            "DELETE FROM adjacency WHERE src IN (SELECT value FROM json_each(?))", (json.dumps(gone.tolist()),)
        )
    live, deg = sources[deg > 0], deg[deg > 0]
    cuts = np.searchsorted(np.cumsum(deg), np.arange(1_000_000, int(deg.sum()), 1_000_000), side="left") + 1
    for part in np.split(live, cuts):
        stmt = adjacency_batch(graph, part, verb="INSERT OR REPLACE")
        if stmt is not None:
            await db.execute(*stmt)


async def save_world(
    world: World | WorldSource,
    path: str,
    *,
    force: bool = False,
    progress: Progress = None,
    keep_audit: bool = False,
    history: History | None = None,
    encrypt: bool = False,
) -> World:
    """Write the whole world to a new SQLite file at ``path`` (atomically: temp file, fsync, rename), holding
    the lock of the world at ``path`` (``sim.core.worldlock``: a world another process writes is never
    replaced under it).

    ``world`` may be a :class:`WorldSource` whose graph is still arriving (a snapshot being read): the agent
    rows are written meanwhile, and its history (:meth:`WorldSource.history`) into the ``events`` and
    ``exposures`` tables. ``history`` is that of a :class:`World` (checked against it by the caller: a
    snapshot's). Returns the world written.

    With ``encrypt``, the file is encrypted with the world key (:mod:`sim.core.worldkey`); a world that
    replaces an encrypted file is encrypted too, whatever ``encrypt`` says.

    With ``keep_audit``, the audit log of the world file being replaced is carried over, so loading a
    snapshot over a world keeps the record of what was done to it.

    Raises:
        TargetExistsError: ``path`` exists and ``force`` is false.
        WorldBusyError: another process writes the world at ``path``.
        whatever the source raises (a damaged snapshot): the target is untouched then.
    """
    source: WorldSource = ReadyWorld(world, history) if isinstance(world, World) else world
    check_target(path, force)
    with lock.world_lock(path, what="replace it"):
        encrypt = encrypt or worldkey.is_encrypted(path)
        if encrypt:
            worldkey.require_extra()
        return await _write_world(source, path, force, progress, keep_audit, encrypt)


async def _write_world(
    source: WorldSource, path: str, force: bool, progress: Progress, keep_audit: bool, encrypt: bool
) -> World:
    """:func:`save_world` once the lock is held."""
    check_target(path, force)  # again, under the lock
    remove_stale_temps(path)
    ensure_disk(path, world_file_bytes(source.n, int(source.edges)), f"writing world {path!r}")
    existed = os.path.exists(path)
    tmp = f"{path}.tmp-{os.getpid()}"
    for f in (tmp, tmp + "-wal", tmp + "-shm", tmp + "-journal"):
        if os.path.exists(f):
            os.remove(f)
    try:
        db = await worldkey.connect_async(tmp, encrypt=encrypt)
        try:
            # A fresh file that is renamed into place only when complete needs no journal. Larger pages
            # make the bulk appends and blob reads cheaper (an encrypted file's pages are 16 KiB too, set at
            # every open by sim.core.worldkey: its header is encrypted, so its page size is not in it).
            if not encrypt:
                await db.execute("PRAGMA page_size = 16384")
            await db.execute("PRAGMA journal_mode = OFF")
            await db.execute("PRAGMA synchronous = OFF")
            await db.execute("PRAGMA cache_size = -16384")  # appends need little cache; more only costs memory
            await db.executescript(SCHEMA)
            with written_back(tmp):  # the disk writes the rows while the next ones are made
                await db.execute("BEGIN")
                await db.executemany("INSERT INTO persona_words (kind, code, word) VALUES (?, ?, ?)", pool_rows())
                await run_statements(db, lambda: bulk_rows(source), progress)
                world = source.world()
                await db.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", _meta_rows(world))
                # This file holds every adoption event and feed exposure from ``events_since`` on: from the
                # first tick of the history given (a snapshot's), else from this tick (a snapshot without one
                # starts its history here). ``agora check`` compares them with the arrays.
                history = source.history()
                since = world.tick if history is None else history.since
                await db.execute("INSERT INTO meta (key, value) VALUES ('events_since', ?)", (json.dumps(since),))
                if history is not None and history.rows:
                    await run_statements(db, lambda: history_rows(history), progress)
                await _write_personas(db, world)
                await _write_message_rows(db, world, world.sessions)  # a world from a snapshot has both
                if world.config.get("analysis"):
                    table = community_table(world) if world.columns["community"].max(initial=-1) >= 0 else None
                    await write_analysis(db, world, table, transaction=False)
                if world.path and os.path.exists(world.path):
                    await db.executemany(_POSTS_SQL, _copy_posts(world.path))
                await db.executemany(_POSTS_SQL, world.posts.rows())
                await db.executemany(_CACHE_SQL, world.llm_cache.rows())
                await _write_memory(db, world)
                if keep_audit and os.path.exists(path):
                    await _copy_audit(db, path)
                await db.commit()
                await db.execute("PRAGMA journal_mode = WAL")
                await db.execute("PRAGMA synchronous = NORMAL")
        finally:
            await db.close()
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        for f in (path + "-wal", path + "-shm"):
            if os.path.exists(f):
                os.remove(f)
        os.replace(tmp, path)
        _fsync_dir(path)
    except BaseException as exc:
        remove_quietly(tmp, tmp + "-wal", tmp + "-shm", tmp + "-journal")
        # A full disk, a quota or the file size limit: one sentence saying the previous file is intact.
        error = write_error(exc, path, "world", existed)
        if error is not None:
            raise error from None
        raise
    world.path = os.path.abspath(path)
    world.clear_edge_log()
    world.posts.mark_written()
    world.llm_cache.mark_written()
    world.memory.mark_written()
    world._persona_loader = PersonaReader(world.path)
    world._persona_cache.clear()
    return world


async def _copy_audit(db: aiosqlite.Connection, old_path: str) -> None:
    try:
        src = untrusting(worldkey.connect(old_path, readonly=True))
        try:
            rows = src.execute("SELECT ts, action, details FROM audit ORDER BY id").fetchall()
        finally:
            src.close()
    except worldkey.Error:
        return  # the file being replaced is not a readable world: nothing to carry over
    await db.executemany("INSERT INTO audit (ts, action, details) VALUES (?, ?, ?)", rows)


_MESSAGES_SQL = (
    "INSERT OR REPLACE INTO messages (id, text, topics, author, created_tick, meta) VALUES (?, ?, ?, ?, ?, ?)"
)
_SESSIONS_SQL = (
    "INSERT OR REPLACE INTO sessions (id, message_id, model, params, status, priority, seeds, started_tick, "
    "ended_tick, exposed, adopted, error, traceback) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _message_rows(world: World, sessions: list) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The ``messages`` rows (all) and the ``sessions`` rows of ``sessions``, as values (not views)."""
    messages = [
        (
            m["id"],
            m["text"],
            int(np.uint64(m["topics"]).view(np.int64)),
            m.get("author"),
            m["created_tick"],
            json.dumps({k: v for k, v in m.items() if k not in ("id", "text", "topics", "author", "created_tick")}),
        )
        for m in world.messages
    ]
    rows = [
        (
            s.id,
            s.message_id,
            s.model_name,
            json.dumps(s.params),
            s.status,
            s.priority,
            s.seeds,
            s.started_tick,
            s.ended_tick,
            s.exposed_count,
            s.reached,
            s.error,
            s.traceback,
        )
        for s in sessions
    ]
    return messages, rows


async def _write_message_rows(db: aiosqlite.Connection, world: World, sessions: list) -> None:
    """The ``messages`` rows (all) and the ``sessions`` rows of ``sessions``."""
    messages, rows = _message_rows(world, sessions)
    await db.executemany(_MESSAGES_SQL, messages)
    await db.executemany(_SESSIONS_SQL, rows)


@dataclass
class CheckpointImage:
    """What one checkpoint writes of the world's small, often-changed state, taken at one instant.

    Messages and sessions are added, cancelled and rewritten between ticks and while a tick runs (an
    injection answered while the checkpoint is being written, an LLM's text landing): their rows, the
    metadata and the new LLM and memory rows are therefore taken here, synchronously, on the caller's
    thread, and the checkpoint writes exactly them, however long it waits for the disk. The big arrays
    (agent and graph columns, the sessions' state) change only inside ticks and under the simulation's
    lock, which its caller holds until the checkpoint is committed, so they are read when written."""

    world: World
    tick: int
    sessions: list  # sessions whose arrays are written (a few: those that changed)
    meta: list[tuple[str, str]]
    messages: list[tuple[Any, ...]]
    session_rows: list[tuple[Any, ...]]
    cache_rows: list[Any]
    post_rows: list[Any]
    memory: dict[str, Any]

    def put_back(self) -> None:
        """Hand the taken LLM, post and memory rows back to the world (the checkpoint failed)."""
        self.world.llm_cache.put_back(self.cache_rows)
        self.world.posts.put_back(self.post_rows)
        self.world.memory.put_back(self.memory)


def checkpoint_image(world: World, changed_sessions: list | None = None) -> CheckpointImage:
    """The :class:`CheckpointImage` of ``world`` now, with the arrays of ``changed_sessions`` (all when None)."""
    sessions = list(world.sessions if changed_sessions is None else changed_sessions)
    message_rows, session_rows = _message_rows(world, list(world.sessions))
    cache_rows, post_rows = world.llm_cache.take_new(), world.posts.take_new()
    memory = world.memory.take_changes()
    return CheckpointImage(
        world=world,
        tick=int(world.tick),
        sessions=sessions,
        meta=_meta_rows(world),
        messages=message_rows,
        session_rows=session_rows,
        cache_rows=cache_rows,
        post_rows=post_rows,
        memory=memory,
    )


async def checkpoint_world(
    db: aiosqlite.Connection,
    world: World,
    *,
    changed_sessions: list | None = None,
    image: CheckpointImage | None = None,
    audit_rows: Sequence[tuple[float, str, str]] = (),
    journal: Callable[[], Awaitable[Any]] | None = None,
) -> None:
    """Bring an open world file up to date in one transaction: metadata (tick, generator states,
    messages, sessions), the arrays of the given sessions (all when None) and the ``messages`` and
    ``sessions`` tables. Agent and graph arrays are rewritten only when ``world.dirty_arrays`` names them.

    ``image``: the state to write, taken earlier by :func:`checkpoint_image` (taken now when None).
    ``audit_rows`` (``ts, action, details``) are appended in the same transaction; ``journal`` is awaited
    with the connection inside it (the writer deletes the journal rows the checkpoint holds).
    """
    if image is None:
        image = checkpoint_image(world, changed_sessions)
    await db.execute("BEGIN IMMEDIATE")
    try:
        await db.executemany(_CACHE_SQL, image.cache_rows)
        await db.executemany(_POSTS_SQL, image.post_rows)
        await _write_memory_changes(db, world, image.memory)
        await db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", image.meta)
        written = {key for key, _ in image.meta}
        gone = [(key,) for key in OPTIONAL_META if key not in written]
        await db.executemany("DELETE FROM meta WHERE key = ?", gone)
        arrays: dict[str, np.ndarray] = {}
        for sess in image.sessions:
            await db.execute("DELETE FROM arrays WHERE name LIKE ?", (f"session.{sess.id}.%",))
            arrays.update({f"session.{sess.id}.{k}": v for k, v in sess.arrays().items()})
        current = world_arrays(world)
        for name in sorted(world.dirty_arrays):
            await db.execute("DELETE FROM arrays WHERE name = ?", (name,))
            if name in current:  # else a data column removed (agora set --clear): deleted only
                arrays[name] = current[name]
        await db.execute("DELETE FROM arrays WHERE name LIKE 'delta.%'")
        arrays.update(delta_arrays(world))
        await write_arrays(db, arrays, None)
        await _sync_mirrors(db, world)
        # The tables hold exactly the messages and sessions of the metadata: rows of sessions that are not
        # in it (injected after the image was taken) are written by the next checkpoint.
        known = json.dumps([row[0] for row in image.session_rows])
        await db.execute("DELETE FROM sessions WHERE id NOT IN (SELECT value FROM json_each(?))", (known,))
        known = json.dumps([row[0] for row in image.messages])
        await db.execute("DELETE FROM messages WHERE id NOT IN (SELECT value FROM json_each(?))", (known,))
        await db.executemany(_MESSAGES_SQL, image.messages)
        await db.executemany(_SESSIONS_SQL, image.session_rows)
        if audit_rows:
            await db.executemany("INSERT INTO audit (ts, action, details) VALUES (?, ?, ?)", list(audit_rows))
        # The audit log as far as this checkpoint: an injection audited after it and not journaled is rolled
        # back by a crash, and the recovery names it (``sim.store.check.discard_after_checkpoint``).
        await db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('audit_seen', (SELECT COALESCE(MAX(id), 0) FROM audit))"
        )
        if journal is not None:
            await journal()
        kill_point("checkpoint")
        await db.commit()
    except BaseException:
        # A failed checkpoint (a full disk, an I/O error) leaves the file at its previous checkpoint and
        # the world's change records (dirty arrays, edge log, new posts) in place for the next one.
        with contextlib.suppress(Exception):
            await db.rollback()
        image.put_back()
        raise
    world.dirty_arrays.clear()
    world.clear_edge_log()


async def persist_analysis(path: str, world: World, table: CommunityTable | None, *, progress: Progress = None) -> None:
    """Bring a world file up to date after :func:`sim.analysis.structure.store_analysis`: the dirty columns and
    the configuration (:func:`checkpoint_world`, sessions untouched), then
    :func:`sim.store.analysis_tables.write_analysis`."""
    lock.acquire(path)
    try:
        db = await worldkey.connect_async(path)
    except BaseException:
        lock.release(path)
        raise
    try:
        await db.execute("PRAGMA busy_timeout = 5000")
        if progress:
            progress("writing the analysis", 0.0)
        await checkpoint_world(db, world, changed_sessions=[])
        await write_analysis(db, world, table)
        if progress:
            progress("writing the analysis", 1.0)
    finally:
        await db.close()
        lock.release(path)


__all__ = [
    "CheckpointImage",
    "FORMAT_VERSION",
    "LAYERED_VERSION",
    "LLM_ENDPOINT_SETTINGS",
    "PersonaReader",
    "Progress",
    "READABLE_VERSIONS",
    "check_target",
    "checkpoint_image",
    "checkpoint_world",
    "ensure_schema",
    "format_version",
    "file_llm_settings",
    "load_warnings",
    "open_world",
    "persist_analysis",
    "read_meta",
    "remove_stale_temps",
    "repeated_id",
    "save_world",
    "stale_temps",
    "tell_load_warnings",
    "world_from_parts",
    "world_info",
]
