"""The row mirrors of a world file, written in bulk (``sim.store.fixedtext``): every agent row and every
edge of the ``relationships`` view equals the arrays, whatever the values; files of format version 1
(a row per edge) still open and are rewritten in the current form at their first checkpoint; a snapshot
whose graph is damaged leaves no half-written world behind even though its agents were written first."""

from __future__ import annotations

import json
import os
import sqlite3
import time

import numpy as np
import pytest
from conftest import agora

from sim.core.diskio import written_back
from sim.core.graph import Graph
from sim.store.check import check_world
from sim.store.create import synthetic_world
from sim.store.fixedtext import FixedRows, write_decimal
from sim.store.snapshot import save_snapshot
from sim.store.worldfile import FORMAT_VERSION, open_world, save_world
from sim.store.writer import WorldWriter


def test_fixed_width_decimals_are_what_sqlite_reads():
    rng = np.random.default_rng(3)
    values = np.concatenate(
        [
            np.array(
                [0, 1, -1, 9, 10, 99, 100, 9999, 10000, -10000, 2**62, -(2**62), 2**63 - 1, -(2**63) + 1, -(2**63)]
            ),
            np.full(3, -(2**63)),  # an interest mask of topic 63 alone, seen as a signed integer
            rng.integers(-(2**63) + 1, 2**63 - 1, 500),
            rng.integers(-50, 50, 100),
        ]
    ).astype(np.int64)
    rows = FixedRows([("v", values, False), ("w", values[::-1].copy(), False), ("f", values // 7, True)])
    con = sqlite3.connect(":memory:")
    got = con.execute(f"SELECT v, w, f FROM ({rows.select()}) ORDER BY i", (rows.blob, rows.count)).fetchall()
    assert [r[0] for r in got] == values.tolist()
    assert [r[1] for r in got] == values[::-1].tolist()
    assert np.array_equal(np.array([r[2] for r in got]), (values // 7) / 1e7)
    # Right-aligned with spaces: valid JSON numbers too.
    out = np.zeros((3, 6), dtype=np.uint8)
    write_decimal(out, np.array([5, -42, 123456]))
    assert [bytes(r).decode() for r in out] == ["     5", "   -42", "123456"]
    assert json.loads("[" + ",".join(bytes(r).decode() for r in out) + "]") == [5, -42, 123456]
    empty = FixedRows([("v", np.zeros(0, dtype=np.int64), False)])
    assert con.execute(f"SELECT COUNT(*) FROM ({empty.select()})", (empty.blob, empty.count)).fetchone()[0] == 0


@pytest.mark.parametrize("count", [0, 1, 63, 64, 65, 1000])
def test_small_fields_sharing_a_cell_read_back_exactly(count):
    """Fields of small non-negative values are packed several to a cell (cut once, taken apart with / and
    %); a negative or wide one keeps a cell of its own; every value reads back, in row order."""
    rng = np.random.default_rng(count)
    fields = [
        ("a", rng.integers(0, 10, count), False),
        ("b", rng.integers(0, 10**7 + 1, count), True),  # a float in [0, 1] scaled by 10**7
        ("c", rng.integers(0, 100, count), False),
        ("d", rng.integers(-5, 5, count), False),  # negative: a cell of its own
        ("e", rng.integers(0, 10**17, count), False),  # 17 digits: a cell of its own or nearly
        ("f", np.zeros(count, dtype=np.int64), False),
        ("g", rng.integers(-(2**63), 2**63 - 1, count), False),
        ("h", rng.integers(0, 10**8, count), True),
    ]
    rows = FixedRows(fields)
    assert len(rows.widths) < len(fields)  # some fields share a cell
    con = sqlite3.connect(":memory:")
    names = [f[0] for f in fields]
    got = con.execute(f"SELECT i, {', '.join(names)} FROM ({rows.select()})", (rows.blob, rows.count)).fetchall()
    assert [r[0] for r in got] == list(range(count))  # in row order without an ORDER BY
    for j, (_, values, is_float) in enumerate(fields, start=1):
        col = [r[j] for r in got]
        if is_float:
            assert np.array_equal(np.array(col, dtype=np.float64).reshape(-1), values / 1e7)
        else:
            assert col == values.tolist()
    none = FixedRows([], count=count)
    assert con.execute(f"SELECT COUNT(*), SUM(i) FROM ({none.select()})", (none.blob, none.count)).fetchone() == (
        count,
        sum(range(count)) if count else None,
    )


def _edges(con) -> np.ndarray:
    return np.array(
        con.execute("SELECT src, dst, trust FROM relationships ORDER BY src, dst").fetchall(), dtype=np.float64
    )


def _expect(g: Graph) -> np.ndarray:
    out = np.empty((g.num_edges, 3))
    out[:, 0], out[:, 1] = g.sources(), g.out_indices
    out[:, 2] = np.rint(np.clip(g.trust.astype(np.float64), 0, 1) * 32767) / 32767
    return out


@pytest.mark.parametrize("n, degree", [(1, 0), (2, 1), (500, 0.3), (3000, 8), (20_000, 3)])
async def test_agent_rows_and_the_relationships_view_equal_the_arrays(tmp_path, n, degree):
    world = synthetic_world("rows", n, avg_degree=degree, seed=n)
    rng = np.random.default_rng(1)
    world.graph.trust[:] = rng.random(world.num_edges).astype(np.float32)
    if world.num_edges:
        world.graph.trust[0], world.graph.trust[-1] = 0.0, 1.0
    world.columns["reputation"][:] = rng.random(n).astype(np.float32)
    path = str(tmp_path / "w.db")
    await save_world(world, path)
    con = sqlite3.connect(path)
    assert np.array_equal(_edges(con), _expect(world.graph)) if world.num_edges else _edges(con).size == 0
    rows = con.execute(
        "SELECT id, orig_id, community, interests, susceptibility, reputation, influence, status, "
        "activity_profile, activity_rate, first, last, trait, occupation, hobby, style FROM agent_rows "
        "ORDER BY id"
    ).fetchall()
    c = world.columns
    got = {
        k: np.array([r[j] for r in rows])
        for j, k in enumerate(
            (
                "id",
                "ids",
                "community",
                "interests",
                "susceptibility",
                "reputation",
                "influence",
                "status",
                "activity_profile",
                "activity_rate",
                "first",
                "last",
                "trait",
                "occupation",
                "hobby",
                "style",
            )
        )
    }
    assert np.array_equal(got["id"], np.arange(n))
    for k in ("ids", "community", "status", "activity_profile"):
        assert np.array_equal(got[k], c[k]), k
    assert np.array_equal(got["interests"].astype(np.int64), c["interests"].view(np.int64))
    for k in ("susceptibility", "reputation", "influence", "activity_rate"):
        assert np.array_equal(got[k], np.round(c[k].astype(np.float64), 7)), k
    for j, k in enumerate(("first", "last", "trait", "occupation", "hobby")):
        assert np.array_equal(got[k], c["persona_codes"][:, j]), k
    assert np.array_equal(got["style"], c["persona_style"])
    # A lookup by the followed agent uses the primary key of the rows behind the view.
    plan = " ".join(r[3] for r in con.execute("EXPLAIN QUERY PLAN SELECT dst FROM relationships WHERE src = 1"))
    assert "SEARCH a USING INTEGER PRIMARY KEY" in plan
    assert check_world(path)["ok"], check_world(path)["problems"]


def test_a_graph_past_a_million_agents_packs_into_json_numbers():
    # Packed values grow with the agent count: the widest must still be an exact JSON number.
    n = 3_000_000
    src = np.array([0, 5, n - 1, n - 1], dtype=np.int32)
    dst = np.array([n - 1, 7, 0, n - 2], dtype=np.int32)
    g = Graph.from_edges(n, src, dst, np.array([1.0, 0.5, 0.25, 0.0], dtype=np.float32))
    from sim.store.worldrows import adjacency_rows

    rows = adjacency_rows(g, 0, n)
    assert [r[0] for r in rows] == [0, 5, n - 1]
    unpacked = [(s, v >> 15, v & 32767) for s, text in rows for v in json.loads(text)]
    assert unpacked == [(0, n - 1, 32767), (5, 7, 16384), (n - 1, 0, 8192), (n - 1, n - 2, 0)]


async def _checkpoint(path: str, world) -> None:
    """A checkpoint of ``world`` into its file through the world's writer, as a run makes one."""
    writer = await WorldWriter(path).start()
    try:
        await writer.checkpoint(world, [])
    finally:
        await writer.close()


def _make_version_1(path: str) -> None:
    """Turn a world file into the layout of format version 1: a ``relationships`` table, a row per edge."""
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE rel_v1 (src INTEGER NOT NULL, dst INTEGER NOT NULL, trust REAL NOT NULL,
                             PRIMARY KEY (src, dst)) WITHOUT ROWID;
        INSERT INTO rel_v1 SELECT src, dst, trust FROM relationships;
        DROP VIEW follows; DROP VIEW relationships; DROP TABLE adjacency;
        ALTER TABLE rel_v1 RENAME TO relationships;
        CREATE VIEW follows AS SELECT f.orig_id AS follower, a.orig_id AS followed, r.trust AS trust
            FROM relationships r JOIN agents a ON a.id = r.src JOIN agents f ON f.id = r.dst;
    """)
    con.execute("UPDATE meta SET value = '1' WHERE key = 'format_version'")
    con.commit()
    con.close()


async def test_a_version_1_file_opens_and_is_rewritten_at_its_first_checkpoint(tmp_path, small_world):
    path = str(tmp_path / "old.db")
    await save_world(small_world, path)
    _make_version_1(path)
    con = sqlite3.connect(path)
    assert con.execute("SELECT type FROM sqlite_master WHERE name = 'relationships'").fetchone() == ("table",)
    before = _edges(con)
    con.close()
    assert check_world(path)["ok"], check_world(path)["problems"]  # read as it is
    await _checkpoint(path, await open_world(path))
    con = sqlite3.connect(path)
    assert con.execute("SELECT type FROM sqlite_master WHERE name = 'relationships'").fetchone() == ("view",)
    assert (
        json.loads(con.execute("SELECT value FROM meta WHERE key = 'format_version'").fetchone()[0]) == FORMAT_VERSION
    )
    assert np.array_equal(_edges(con), before)
    assert con.execute("SELECT COUNT(*) FROM follows").fetchone()[0] == small_world.num_edges  # the view over it
    assert check_world(path)["ok"], check_world(path)["problems"]


def test_a_snapshot_with_a_damaged_graph_leaves_no_world_behind(tmp_path, small_world):
    snap = str(tmp_path / "s.snap")
    save_snapshot(small_world, snap)
    # Damage the graph's in-edge map (checksums recomputed: only the structure check can see it).
    from sim.store import snapshot as snapmod

    world = small_world.fork()
    g = world.graph
    in_edge = g.in_edge.copy()
    in_edge[[0, 1]] = in_edge[[1, 0]]
    world.graph = Graph(g.n, g.out_indptr, g.out_indices, g.trust, g.in_indptr, g.in_indices, in_edge)
    bad = str(tmp_path / "bad.snap")
    snapmod.save_snapshot(world, bad)
    target = tmp_path / "w.db"
    res = agora(tmp_path, "load", bad, str(target))
    assert res.returncode == 2, res.stderr
    assert "do not mirror" in res.stderr and res.stderr.count("\n") == 1
    assert not target.exists() and [p.name for p in tmp_path.iterdir() if "w.db" in p.name] == []
    assert agora(tmp_path, "load", snap, str(target)).returncode == 0
    assert check_world(str(target))["ok"], check_world(str(target))["problems"]


async def test_a_checkpoint_rewrites_the_rows_of_every_agent_whose_followers_changed(tmp_path):
    world = synthetic_world("churn", 5000, avg_degree=6, seed=11)
    path = str(tmp_path / "w.db")
    await save_world(world, path)
    rng = np.random.default_rng(2)
    # Follows and unfollows scattered over the whole graph, some agents losing every follower.
    src = world.graph.sources()
    drop = rng.choice(world.num_edges, 4000, replace=False)
    world.delta.unfollow(src[drop].astype(np.int64), world.graph.out_indices[drop].astype(np.int64))
    hub = int(np.argmax(world.graph.out_degree()))
    gone = world.graph.followers(hub)
    world.delta.unfollow(np.full(gone.size, hub, dtype=np.int64), gone.astype(np.int64))
    a, b = rng.integers(0, 5000, 3000), rng.integers(0, 5000, 3000)
    keep = a != b
    world.delta.follow(a[keep].astype(np.int64), b[keep].astype(np.int64), 0.25)
    assert world.merge_delta() > 0 and world.graph.out_degree()[hub] == 0
    await _checkpoint(path, world)
    con = sqlite3.connect(path)
    assert np.array_equal(_edges(con), _expect(world.graph))
    assert con.execute("SELECT COUNT(*) FROM adjacency WHERE src = ?", (hub,)).fetchone()[0] == 0
    assert check_world(path)["ok"], check_world(path)["problems"]


async def test_columns_the_same_for_every_agent_are_written_too(tmp_path):
    # Every column constant or equal to the index: the rows are computed in SQL alone, and still exact.
    world = synthetic_world("flat", 300, avg_degree=2, seed=1)
    c = world.columns
    for k in ("community", "status", "activity_profile", "persona_style", "persona_codes", "interests"):
        c[k][...] = c[k].flat[0]
    for k in ("susceptibility", "reputation", "influence", "activity_rate"):
        c[k][:] = 0.25
    path = str(tmp_path / "flat.db")
    await save_world(world, path)
    con = sqlite3.connect(path)
    rows = con.execute(
        "SELECT id, orig_id, community, status, reputation, first, style FROM agent_rows ORDER BY id"
    ).fetchall()
    assert [r[0] for r in rows] == list(range(300)) and [r[1] for r in rows] == c["ids"].tolist()
    assert {r[2:] for r in rows} == {
        (int(c["community"][0]), int(c["status"][0]), 0.25, int(c["persona_codes"][0, 0]), int(c["persona_style"][0]))
    }
    assert check_world(path)["ok"], check_world(path)["problems"]


def test_a_world_file_is_put_on_disk_while_it_is_written(tmp_path, monkeypatch):
    """``written_back``: while the block writes the file, a thread flushes what is written so far (so the
    final fsync of ``agora new``/``load`` finds little left); it stops with the block; a file that cannot
    be opened is simply not flushed early."""
    synced = []
    name = "fdatasync" if hasattr(os, "fdatasync") else "fsync"
    real = getattr(os, name)
    monkeypatch.setattr(os, name, lambda fd: (synced.append(fd), real(fd)))
    path = tmp_path / "big.db"
    path.write_bytes(b"")
    with written_back(str(path), every=0.01), open(path, "ab") as fh:
        for _ in range(20):
            fh.write(b"x" * 4096)
            fh.flush()
            time.sleep(0.005)
    after = len(synced)
    assert after >= 1
    time.sleep(0.05)
    assert len(synced) == after  # the thread ended with the block
    with written_back(str(tmp_path / "missing" / "w.db")):
        pass
