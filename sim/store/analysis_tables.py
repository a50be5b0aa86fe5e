"""Analysis results in the world file: the ``communities`` and ``community_flows`` tables, the
``agent_rows`` mirror of the community and influence columns, and the ``analysis`` meta key.

All functions take an open aiosqlite connection to a world file; values always travel as SQL
parameters. The tables are derived data: :func:`sim.analysis.structure.community_table` recomputes them from the
world's columns, so a world saved from memory or a snapshot can always write them again.

Tables (``ANALYSIS_SCHEMA``)::

    communities(id INTEGER PRIMARY KEY,      -- community id, 0 the largest (no row for -1: agents in
                                             -- no community, i.e. isolated agents after detection)
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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.core.topics import TOPICS
from sim.errors import AgoraError

if TYPE_CHECKING:  # pragma: no cover
    import aiosqlite

    from sim.core.world import World

Progress = Callable[[str, float], None] | None


class NoCommunitiesError(AgoraError):
    """The world has no community assignment yet."""


FLOW_DTYPE = np.dtype([("src", "<i4"), ("dst", "<i4"), ("edges", "<i8")])


@dataclass(eq=False)
class CommunityTable:
    """Per community (row ``c`` is community ``c``): size, internal edges and density, dominant
    interests, top influencers; and the edge counts between communities.

    ``internal_edges`` counts world edges with both ends inside; ``density`` is that over
    ``size * (size - 1)`` (directed pairs). ``interests`` holds up to three topic indices (-1 where
    fewer topics occur), most shared first, with ``interest_share`` the share of members having each.
    ``top_influencers`` holds up to five original ids by influence (-1 padded). ``flows`` lists
    ``(src, dst, edges)`` for ``src != dst``: world edges from a member of ``src`` to a member of ``dst``
    (links a message can cross from ``src`` into ``dst``), most edges first. Agents with community -1
    (isolated agents after detection) have no row and no flow; ``unassigned`` counts them.
    """

    size: np.ndarray
    internal_edges: np.ndarray
    density: np.ndarray
    interests: np.ndarray
    interest_share: np.ndarray
    top_influencers: np.ndarray
    flows: np.ndarray
    unassigned: int = 0

    @property
    def count(self) -> int:
        return int(self.size.shape[0])

    def row(self, c: int) -> dict[str, Any]:
        """Community ``c`` as a plain dict (topic names, ids)."""
        return {
            "id": int(c),
            "size": int(self.size[c]),
            "internal_edges": int(self.internal_edges[c]),
            "density": float(self.density[c]),
            "interests": [TOPICS[t] for t in self.interests[c].tolist() if t >= 0],
            "interest_share": [round(float(s), 4) for s, t in zip(self.interest_share[c], self.interests[c]) if t >= 0],
            "top_influencers": [i for i in self.top_influencers[c].tolist() if i >= 0],
        }

    def rows(self, limit: int | None = None) -> list[dict[str, Any]]:
        return [self.row(c) for c in range(self.count if limit is None else min(limit, self.count))]

    def top_flows(self, limit: int = 20) -> list[dict[str, int]]:
        f = self.flows[:limit]
        return [
            {"src": int(s), "dst": int(d), "edges": int(e)}
            for s, d, e in zip(f["src"].tolist(), f["dst"].tolist(), f["edges"].tolist())
        ]


def community_table(
    world: World,
    *,
    membership: np.ndarray | None = None,
    influence: np.ndarray | None = None,
    top_interests: int = 3,
    top_influencers: int = 5,
) -> CommunityTable:
    """The communities table of ``world`` (from its ``community`` and ``influence`` columns unless given).

    Vectorised: sizes, internal edges and flows by ``bincount``/``unique`` over the edge arrays,
    interests by one ``bincount`` per topic bit, top influencers by one ``lexsort``.

    Raises:
        NoCommunitiesError: no community is known.
    """
    comm = np.asarray(world.columns["community"] if membership is None else membership, dtype=np.int64)
    infl = np.asarray(world.columns["influence"] if influence is None else influence)
    if comm.size == 0 or comm.max() < 0:
        raise NoCommunitiesError("this world has no communities yet: run 'agora analyze WORLD' first")
    valid = comm >= 0
    c_count = int(comm.max()) + 1
    cm = comm[valid]
    size = np.bincount(cm, minlength=c_count)
    # Edges: internal and between communities.
    g = world.graph
    cs = comm[g.sources()]
    cd = comm[g.out_indices]
    ok = (cs >= 0) & (cd >= 0)
    same = ok & (cs == cd)
    internal = np.bincount(cs[same], minlength=c_count)
    cross = ok & ~same
    key = cs[cross] * c_count + cd[cross]
    del cs, cd, ok, same, cross
    keys, counts = np.unique(key, return_counts=True)
    order = np.lexsort((keys, -counts))
    flows = np.empty(keys.size, dtype=FLOW_DTYPE)
    flows["src"] = keys[order] // c_count
    flows["dst"] = keys[order] % c_count
    flows["edges"] = counts[order]
    pairs = size.astype(np.float64) * (size - 1)
    density = np.divide(internal, pairs, out=np.zeros(c_count), where=pairs > 0)
    # Interests: members having each topic bit, per community.
    ints = world.columns["interests"][valid]
    bits = np.empty((c_count, 64), dtype=np.int64)
    for t in range(64):
        bits[:, t] = np.bincount(cm[(ints & np.uint64(1 << t)) != 0], minlength=c_count)
    k = min(top_interests, 64)
    top = np.argsort(-bits, axis=1, kind="stable")[:, :k]
    top_counts = np.take_along_axis(bits, top, axis=1)
    interests = np.where(top_counts > 0, top, -1).astype(np.int16)
    share = np.divide(top_counts, size[:, None], out=np.zeros(top_counts.shape), where=size[:, None] > 0)
    share = np.where(top_counts > 0, share, 0.0).astype(np.float32)
    # Top influencers: sort members by (community, -influence, index).
    members = np.flatnonzero(valid)
    order = np.lexsort((members, -infl[members].astype(np.float64), cm))
    sorted_c = cm[order]
    starts = np.concatenate([[0], np.cumsum(size)[:-1]])
    rank = np.arange(order.size) - starts[sorted_c]
    sel = rank < top_influencers
    tops = np.full((c_count, top_influencers), -1, dtype=np.int64)
    tops[sorted_c[sel], rank[sel]] = world.columns["ids"][members[order[sel]]]
    return CommunityTable(
        size=size.astype(np.int64),
        internal_edges=internal.astype(np.int64),
        density=density,
        interests=interests,
        interest_share=share,
        top_influencers=tops,
        flows=flows,
        unassigned=int(np.count_nonzero(~valid)),
    )


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


async def ensure_schema(db: aiosqlite.Connection) -> None:
    """Create the analysis tables if the world file predates them."""
    for stmt in ANALYSIS_SCHEMA.split(";"):
        if stmt.strip():
            await db.execute(stmt)


def _community_rows(table: CommunityTable) -> list[tuple[Any, ...]]:
    rows = []
    for c in range(table.count):
        if not table.size[c]:
            continue  # an id no agent carries (ids kept across detections, see structure.match_labels)
        r = table.row(c)
        rows.append(
            (
                c,
                r["size"],
                r["internal_edges"],
                r["density"],
                json.dumps(r["interests"]),
                json.dumps(r["interest_share"]),
                json.dumps(r["top_influencers"]),
            )
        )
    return rows


async def write_analysis(
    db: aiosqlite.Connection,
    world: World,
    table: CommunityTable | None,
    *,
    transaction: bool = True,
    max_flows: int | None = None,
) -> None:
    """Write the analysis of ``world`` into its file: the communities and flows tables (replaced) and the
    ``analysis`` meta row.

    With ``transaction`` (the default) everything is one ``BEGIN IMMEDIATE`` transaction; pass False
    to run inside a transaction the caller holds (e.g. ``save_world``). The agent arrays and their
    ``agent_rows`` mirror are not written here: ``checkpoint_world`` writes the dirty ``agent.community``
    and ``agent.influence`` arrays, their mirror columns and the configuration that carries the record
    (callers checkpoint first).
    """
    await ensure_schema(db)
    if transaction:
        await db.execute("BEGIN IMMEDIATE")
    try:
        await db.execute("DELETE FROM communities")
        await db.execute("DELETE FROM community_flows")
        if table is not None:
            await db.executemany(
                "INSERT INTO communities (id, size, internal_edges, density, interests, interest_share, "
                "top_influencers) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                _community_rows(table),
            )
            flows = table.flows if max_flows is None else table.flows[:max_flows]
            rec = np.empty(flows.shape[0], dtype=[("s", "<i8"), ("d", "<i8"), ("e", "<i8")])
            rec["s"], rec["d"], rec["e"] = flows["src"], flows["dst"], flows["edges"]
            for start in range(0, rec.shape[0], ROW_BATCH):
                await db.executemany(
                    "INSERT INTO community_flows (src, dst, edges) VALUES (?, ?, ?)",
                    rec[start : start + ROW_BATCH].tolist(),
                )
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


async def _has_table(db: aiosqlite.Connection, name: str) -> bool:
    cur = await db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
    return await cur.fetchone() is not None


async def read_communities(db: aiosqlite.Connection, *, limit: int | None = None) -> list[dict[str, Any]]:
    """Rows of the communities table, largest first (empty when none is stored)."""
    if not await _has_table(db, "communities"):
        return []
    sql = (
        "SELECT id, size, internal_edges, density, interests, interest_share, top_influencers "
        "FROM communities ORDER BY id"
    )
    params: tuple[Any, ...] = ()
    if limit is not None:
        sql += " LIMIT ?"
        params = (int(limit),)
    cur = await db.execute(sql, params)
    return [
        {
            "id": r[0],
            "size": r[1],
            "internal_edges": r[2],
            "density": r[3],
            "interests": json.loads(r[4]),
            "interest_share": json.loads(r[5]),
            "top_influencers": json.loads(r[6]),
        }
        for r in await cur.fetchall()
    ]


async def read_flows(
    db: aiosqlite.Connection, *, limit: int | None = None, community: int | None = None
) -> list[dict[str, int]]:
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


async def read_analysis_record(db: aiosqlite.Connection) -> dict[str, Any] | None:
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
