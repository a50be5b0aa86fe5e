"""World files: round trips, plain-SQL queryability, refusal to overwrite, bad files."""

from __future__ import annotations

import os
import sqlite3

import numpy as np
import pytest
from worldcheck import assert_same_world

from sim.core.persona import Persona
from sim.errors import BadFileError, TargetExistsError
from sim.store.worldfile import open_world, read_meta, save_world, world_info


async def test_round_trip_keeps_every_array(tmp_path, small_world):
    small_world.advance(3)
    path = str(tmp_path / "w.db")
    await save_world(small_world, path)
    loaded = await open_world(path)
    assert_same_world(small_world, loaded)
    assert loaded.persona(5) == small_world.persona(5)


async def test_tables_are_queryable_with_plain_sql(tmp_path, small_world):
    path = str(tmp_path / "w.db")
    await save_world(small_world, path)
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("SELECT COUNT(*) FROM agents").fetchone()[0] == small_world.n
    assert con.execute("SELECT COUNT(*) FROM relationships").fetchone()[0] == small_world.num_edges
    g = small_world.graph
    u = int(np.argmax(g.out_degree()))
    followers = [r[0] for r in con.execute("SELECT dst FROM relationships WHERE src = ? ORDER BY dst", (u,))]
    assert followers == g.followers(u).tolist()
    via_view = [r[0] for r in con.execute("SELECT follower FROM follows WHERE followed = ? ORDER BY follower", (u,))]
    assert via_view == small_world.columns["ids"][g.followers(u)].tolist()
    trust = np.array([r[0] for r in con.execute("SELECT trust FROM relationships ORDER BY src, dst")])
    assert np.allclose(trust, g.trust, atol=1 / 32767)
    row = con.execute(
        "SELECT orig_id, community, interests, susceptibility, status FROM agents WHERE id = 17"
    ).fetchone()
    c = small_world.columns
    assert row[0] == c["ids"][17] and row[1] == c["community"][17]
    assert np.int64(row[2]).view(np.uint64) == c["interests"][17]
    assert row[3] == pytest.approx(float(c["susceptibility"][17]))
    assert {t for (t,) in con.execute("SELECT name FROM sqlite_master")} >= {
        "meta",
        "arrays",
        "agent_rows",
        "agents",
        "relationships",
        "follows",
        "messages",
        "sessions",
        "events",
        "metrics",
        "audit",
    }


async def test_persona_override_persists(tmp_path, small_world):
    path = str(tmp_path / "w.db")
    hostile = Persona(name="[bold]Robert'); DROP TABLE agents;--", bio="\x1b[31mred\x1b[0m", style="[/]")
    small_world.set_persona(3, hostile)
    await save_world(small_world, path)
    loaded = await open_world(path)
    assert loaded.persona(3) == hostile
    con = sqlite3.connect(path)
    assert con.execute("SELECT name, bio, style FROM agents WHERE id = 3").fetchone() == tuple(
        hostile.__getattribute__(f) for f in ("name", "bio", "style")
    )
    assert con.execute("SELECT COUNT(*) FROM agents").fetchone()[0] == small_world.n


async def test_existing_target_is_refused_without_force(tmp_path, small_world):
    path = str(tmp_path / "w.db")
    await save_world(small_world, path)
    before = os.path.getmtime(path)
    with pytest.raises(TargetExistsError, match="overwrite it with force") as info:
        await save_world(small_world, path)
    assert info.value.fields == ("force",)  # the command line says --force (sim/cli/fields.py)
    assert os.path.getmtime(path) == before
    await save_world(small_world, path, force=True)
    assert (await open_world(path)).n == small_world.n
    assert not [f for f in os.listdir(tmp_path) if ".tmp-" in f], "no temporary files are left behind"


async def test_info_reads_metadata(tmp_path, small_world):
    path = str(tmp_path / "w.db")
    await save_world(small_world, path)
    info = world_info(path)
    assert info["agents"] == small_world.n
    assert info["edges"] == small_world.num_edges
    assert info["communities"] == small_world.num_communities
    assert info["size_bytes"] == os.path.getsize(path)
    assert info["path"] == os.path.abspath(path)


@pytest.mark.parametrize(
    "content, match",
    [
        (None, "does not exist"),
        (b"", "not an Agora world"),
        (b"hello, world\n" * 10, "not an Agora world"),
        (b"SQLite format 3\x00" + b"\x00" * 100, "not an Agora world|damaged"),
    ],
)
async def test_bad_world_files(tmp_path, content, match):
    path = tmp_path / "bad.db"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(BadFileError, match=match):
        await open_world(str(path))


async def test_foreign_sqlite_and_newer_version(tmp_path, small_world):
    foreign = tmp_path / "foreign.db"
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    with pytest.raises(BadFileError, match="not an Agora world"):
        await open_world(str(foreign))
    path = str(tmp_path / "w.db")
    await save_world(small_world, path)
    con = sqlite3.connect(path)
    con.execute("UPDATE meta SET value = '99' WHERE key = 'format_version'")
    con.commit()
    con.close()
    with pytest.raises(BadFileError, match="format version 99"):
        read_meta(path)


async def test_damaged_arrays_are_reported(tmp_path, small_world):
    path = str(tmp_path / "w.db")
    await save_world(small_world, path)
    con = sqlite3.connect(path)
    con.execute("UPDATE arrays SET data = substr(data, 1, 100) WHERE name = 'graph.out_indices'")
    con.commit()
    con.close()
    with pytest.raises(BadFileError, match="damaged|inconsistent"):
        await open_world(path)
