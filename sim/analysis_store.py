"""Analysis results in the world file: the ``communities`` and ``community_flows`` tables, the
``agent_rows`` mirror of the community and influence columns, and the ``analysis`` meta key.

All functions take an open aiosqlite connection to a world file; values always travel as SQL
parameters. The tables are derived data: :func:`sim.analysis.community_table` recomputes them from the
world's columns, so a world saved from memory or a snapshot can always write them again.

Tables (``ANALYSIS_SCHEMA``)::

    communities(id INTEGER PRIMARY KEY,      -- community id, 0 the largest
                size, internal_edges INTEGER, density REAL,
                interests TEXT,               -- JSON array of up to 3 topic names, most shared first
                interest_share TEXT,          -- JSON array: share of members having each of them
                top_influencers TEXT)         -- JSON array of up to 5 original agent ids
    community_flows(src, dst, edges INTEGER, PRIMARY KEY (src, dst))  -- world edges from src into dst

The ``meta`` row ``analysis`` holds the same JSON record as ``world.config["analysis"]`` (what was
computed, when, with which parameters, and the graph fingerprint it was computed on).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import aiosqlite

    from sim.analysis import CommunityTable
    from sim.world import World

Progress = Callable[[str, float], None] | None

ANALYSIS_SCHEMA = """
CREATE TABLE IF NOT EXISTS communities (
    id INTEGER PRIMARY KEY,
    size INTEGER NOT NULL,
    internal_edges INTEGER NOT NULL,
    density REAL NOT NULL,
    interests TEXT NOT NULL,
    interest_share TEXT NOT NULL,
    top_influencers TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS community_flows (
    src INTEGER NOT NULL,
    dst INTEGER NOT NULL,
    edges INTEGER NOT NULL,
    PRIMARY KEY (src, dst)
) WITHOUT ROWID;
"""

META_KEY = "analysis"
ROW_BATCH = 100_000

_UPDATE_AGENTS = "UPDATE agent_rows SET community = ?, influence = ? WHERE id = ?"


async def ensure_schema(db: "aiosqlite.Connection") -> None:
    """Create the analysis tables if the world file predates them."""
    for stmt in ANALYSIS_SCHEMA.split(";"):
        if stmt.strip():
            await db.execute(stmt)


def _community_rows(table: "CommunityTable") -> list[tuple[Any, ...]]:
    rows = []
    for c in range(table.count):
        r = table.row(c)
        rows.append((c, r["size"], r["internal_edges"], r["density"], json.dumps(r["interests"]),
                     json.dumps(r["interest_share"]), json.dumps(r["top_influencers"])))
    return rows


async def write_analysis(db: "aiosqlite.Connection", world: "World", table: "CommunityTable | None", *,
                         transaction: bool = True, agents: bool = True, max_flows: int | None = None,
                         progress: Progress = None) -> None:
    """Write the analysis of ``world`` into its file: the communities and flows tables (replaced), the
    ``agent_rows`` community/influence mirror (when ``agents``) and the ``analysis`` meta row.

    With ``transaction`` (the default) everything is one ``BEGIN IMMEDIATE`` transaction; pass False
    to run inside a transaction the caller holds (e.g. ``save_world``). The agent and graph arrays
    are not written here: ``checkpoint_world`` writes the dirty ``agent.community`` and
    ``agent.influence`` arrays and the configuration that carries the record.
    """
    await ensure_schema(db)
    if transaction:
        await db.execute("BEGIN IMMEDIATE")
    try:
        if agents:
            comm = world.columns["community"]
            infl = world.columns["influence"]
            n = world.n
            rec = np.empty(min(n, ROW_BATCH), dtype=[("c", "<i8"), ("f", "<f8"), ("i", "<i8")])
            for start in range(0, n, ROW_BATCH):
                stop = min(n, start + ROW_BATCH)
                r = rec[: stop - start]
                r["c"], r["f"], r["i"] = comm[start:stop], infl[start:stop], np.arange(start, stop)
                await db.executemany(_UPDATE_AGENTS, r.tolist())
                if progress:
                    progress("writing agents", stop / max(n, 1))
        await db.execute("DELETE FROM communities")
        await db.execute("DELETE FROM community_flows")
        if table is not None:
            await db.executemany(
                "INSERT INTO communities (id, size, internal_edges, density, interests, interest_share, top_influencers) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)", _community_rows(table))
            flows = table.flows if max_flows is None else table.flows[:max_flows]
            rec = np.empty(flows.shape[0], dtype=[("s", "<i8"), ("d", "<i8"), ("e", "<i8")])
            rec["s"], rec["d"], rec["e"] = flows["src"], flows["dst"], flows["edges"]
            for start in range(0, rec.shape[0], ROW_BATCH):
                await db.executemany("INSERT INTO community_flows (src, dst, edges) VALUES (?, ?, ?)",
                                     rec[start : start + ROW_BATCH].tolist())
        record = world.config.get("analysis")
        if record is None:
            await db.execute("DELETE FROM meta WHERE key = ?", (META_KEY,))
        else:
            await db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (META_KEY, json.dumps(record)))
        if transaction:
            await db.commit()
    except BaseException:
        if transaction:
            await db.rollback()
        raise


async def persist_analysis(path: str, world: "World", table: "CommunityTable | None", *, progress: Progress = None) -> None:
    """Bring a world file up to date after :func:`sim.analysis.store_analysis`: the dirty columns and
    the configuration (``checkpoint_world``, sessions untouched), then :func:`write_analysis`."""
    import aiosqlite

    from sim.store import checkpoint_world

    db = await aiosqlite.connect(path)
    try:
        await db.execute("PRAGMA busy_timeout = 5000")
        await checkpoint_world(db, world, changed_sessions=[])
        await write_analysis(db, world, table, progress=progress)
    finally:
        await db.close()


async def _has_table(db: "aiosqlite.Connection", name: str) -> bool:
    cur = await db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
    return await cur.fetchone() is not None


async def read_communities(db: "aiosqlite.Connection", *, limit: int | None = None) -> list[dict[str, Any]]:
    """Rows of the communities table, largest first (empty when none is stored)."""
    if not await _has_table(db, "communities"):
        return []
    sql = "SELECT id, size, internal_edges, density, interests, interest_share, top_influencers FROM communities ORDER BY id"
    params: tuple[Any, ...] = ()
    if limit is not None:
        sql += " LIMIT ?"
        params = (int(limit),)
    cur = await db.execute(sql, params)
    return [
        {"id": r[0], "size": r[1], "internal_edges": r[2], "density": r[3], "interests": json.loads(r[4]),
         "interest_share": json.loads(r[5]), "top_influencers": json.loads(r[6])}
        for r in await cur.fetchall()
    ]


async def read_flows(db: "aiosqlite.Connection", *, limit: int | None = None, community: int | None = None) -> list[dict[str, int]]:
    """Flows between communities, most edges first; only those touching ``community`` when given."""
    if not await _has_table(db, "community_flows"):
        return []
    sql = "SELECT src, dst, edges FROM community_flows"
    params: list[Any] = []
    if community is not None:
        sql += " WHERE src = ? OR dst = ?"
        params += [int(community), int(community)]
    sql += " ORDER BY edges DESC, src, dst"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(int(limit))
    cur = await db.execute(sql, params)
    return [{"src": s, "dst": d, "edges": e} for s, d, e in await cur.fetchall()]


async def read_analysis_record(db: "aiosqlite.Connection") -> dict[str, Any] | None:
    """The ``analysis`` meta record, or None."""
    cur = await db.execute("SELECT value FROM meta WHERE key = ?", (META_KEY,))
    row = await cur.fetchone()
    if row is None:
        return None
    try:
        rec = json.loads(row[0])
    except (TypeError, ValueError):
        return None
    return rec if isinstance(rec, dict) else None
