"""Contact layers kept by world files and snapshots (issue 59, step 2): ``graph.layer`` and the layers' names
round-trip through a file, a checkpoint after follows and a snapshot; a layered world is written as format
version 3 (an Agora that reads only 1 and 2 refuses it in one sentence), a world of one layer stays version 2
with the metadata an earlier Agora reads; damaged layers are refused on open."""

from __future__ import annotations

import asyncio
import json
import sqlite3

import aiosqlite
import numpy as np
import pytest

import sim.store.snapshotread as snapshotread
import sim.store.worldread as worldread
from sim.core.graph import FOLLOW_LAYER
from sim.errors import BadFileError
from sim.store.check import check_world
from sim.store.create import synthetic_world
from sim.store.snapshot import load_snapshot, save_snapshot
from sim.store.worldfile import checkpoint_world, open_world, read_meta, save_world

LAYERS = ("household", "class", "village")


def layered_world(seed: int = 4):
    world = synthetic_world("layered", 400, avg_degree=6, seed=seed)
    bits = np.random.default_rng(seed).integers(1, 8, world.graph.num_edges).astype(np.uint8)
    world.graph = world.graph.replace(layer=bits)
    world.layers = LAYERS
    return world


def by_pair(world) -> dict[tuple[int, int], int]:
    g = world.graph
    return {(int(u), int(v)): int(b) for u, v, b in zip(g.sources(), g.out_indices, g.layer)}


def test_a_world_file_keeps_its_layers_and_says_version_3(tmp_path):
    world = layered_world()
    path = str(tmp_path / "w.db")
    asyncio.run(save_world(world, path))
    assert read_meta(path)["format_version"] == 3 and read_meta(path)["layers"] == list(LAYERS)
    back = asyncio.run(open_world(path))
    assert back.layers == LAYERS and np.array_equal(back.graph.layer, world.graph.layer)
    assert back.graph.check() == [] and check_world(path)["ok"]
    plain = str(tmp_path / "plain.db")
    asyncio.run(save_world(synthetic_world("plain", 200, avg_degree=4, seed=1), plain))
    meta = read_meta(plain)
    assert meta["format_version"] == 2 and "layers" not in meta
    with sqlite3.connect(plain) as con:
        assert con.execute("SELECT count(*) FROM arrays WHERE name = 'graph.layer'").fetchone() == (0,)
    again = asyncio.run(open_world(plain))
    assert again.layers == () and again.graph.layer is None


def test_a_checkpoint_after_follows_rewrites_the_layers(tmp_path):
    world = layered_world(5)
    path = str(tmp_path / "w.db")
    asyncio.run(save_world(world, path))

    async def follow() -> dict[tuple[int, int], int]:
        w = await open_world(path)
        before = by_pair(w)
        src, dst = w.graph.sources()[:10], w.graph.out_indices[:10]
        w.delta.unfollow(src[:5], dst[:5])
        new = [(a, b) for a in range(20) for b in range(20) if a != b and (a, b) not in before][:30]
        w.delta.follow(np.array([a for a, _ in new]), np.array([b for _, b in new]), 0.5)
        w.merge_delta()
        assert "graph.layer" in w.dirty_arrays
        db = await aiosqlite.connect(path)
        try:
            await checkpoint_world(db, w, changed_sessions=[])
        finally:
            await db.close()
        want = {k: v for k, v in before.items() if k not in set(zip(src[:5].tolist(), dst[:5].tolist()))}
        want.update({pair: FOLLOW_LAYER for pair in new})
        return want

    want = asyncio.run(follow())
    assert by_pair(asyncio.run(open_world(path))) == want


def test_a_snapshot_keeps_the_layers_and_says_version_3(tmp_path):
    world = layered_world(6)
    snap = str(tmp_path / "w.snap")
    save_snapshot(world, snap)
    with open(snap, "rb") as f:
        assert f.read(9)[-1] == 3
    back = load_snapshot(snap)
    assert back.layers == LAYERS and np.array_equal(back.graph.layer, world.graph.layer)
    plain = str(tmp_path / "plain.snap")
    save_snapshot(synthetic_world("plain", 100, avg_degree=4, seed=2), plain)
    with open(plain, "rb") as f:
        assert f.read(9)[-1] == 2
    assert load_snapshot(plain).graph.layer is None


def test_an_agora_that_reads_only_1_and_2_refuses_a_layered_file(tmp_path, monkeypatch):
    world = layered_world(7)
    path, snap = str(tmp_path / "w.db"), str(tmp_path / "w.snap")
    asyncio.run(save_world(world, path))
    save_snapshot(world, snap)
    monkeypatch.setattr(worldread, "READABLE_VERSIONS", (1, 2))
    with pytest.raises(BadFileError, match=r"has format version 3, this Agora reads versions 1, 2"):
        read_meta(path)
    monkeypatch.setattr(snapshotread, "READABLE_VERSIONS", (1, 2))
    with pytest.raises(BadFileError, match=r"has format version 3"):
        load_snapshot(snap)


@pytest.mark.parametrize(
    "meta, bits, why",
    [
        (["household", "class", "village"], "zero", "in no layer"),
        (["household"], "keep", "in no layer, or in one it does not name"),
        (["household", "household", "x"], "keep", "repeat"),
        (["house hold", "class", "village"], "keep", "not a list of plain names"),
        ([], "keep", "names no layers"),
    ],
)
def test_damaged_layers_are_refused_on_open(tmp_path, meta, bits, why):
    world = layered_world(8)
    path = str(tmp_path / "w.db")
    asyncio.run(save_world(world, path))
    with sqlite3.connect(path) as con:
        con.execute("UPDATE meta SET value = ? WHERE key = 'layers'", (json.dumps(meta),))
        if bits == "zero":
            layer = world.graph.layer.copy()
            layer[3] = 0
            con.execute("UPDATE arrays SET data = ? WHERE name = 'graph.layer'", (layer.tobytes(),))
    with pytest.raises(BadFileError, match=why):
        asyncio.run(open_world(path))


def test_agora_info_lists_the_layers_from_the_metadata(tmp_path):
    from sim.cli.output import describe
    from sim.store.worldread import world_info

    world = layered_world(9)
    path = str(tmp_path / "w.db")
    asyncio.run(save_world(world, path))
    counts = [int(np.count_nonzero(world.graph.layer & (1 << i))) for i in range(3)]
    info = world_info(path)
    degrees = [round(c / world.n, 6) for c in counts]
    assert info["layers"] == [{"name": n, "edges": c, "mean_degree": d} for n, c, d in zip(LAYERS, counts, degrees)]
    assert sum(counts) > world.graph.num_edges  # an edge in two layers counts in both
    assert (
        f"layers       household ({counts[0]:,} edges, mean degree {degrees[0]:.3g}), class ({counts[1]:,} edges, "
        f"mean degree {degrees[1]:.3g})"
    ) in describe(info)
    plain = str(tmp_path / "plain.db")
    asyncio.run(save_world(synthetic_world("plain", 100, avg_degree=4, seed=3), plain))
    assert world_info(plain)["layers"] == [] and "layers " not in describe(world_info(plain))
