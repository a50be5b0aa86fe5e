"""Snapshots keep every session's adoption events and feed exposures (issue 32, "the trees survive saving"):
``agora save`` writes them (``--slim`` leaves them out), ``agora load`` and a controller's load write them
back row for row; a snapshot of format version 1 (no events) still loads; a snapshot whose events were
tampered with is refused in one sentence, nothing written."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import sqlite3
import struct
import zlib
from pathlib import Path

import msgpack
import numpy as np
import pytest
import zstandard

from sim.cli.main import main
from sim.errors import BadFileError
from sim.live.controller import INTERACTIVE, WorldController
from sim.store import snapshot
from sim.store.check import check_world
from sim.store.snapshot import END_MAGIC, MAGIC, TRAILER, load_snapshot, read_manifest, snapshot_history
from sim.store.worldfile import open_world

AGENTS = 600


def cli(*args: str) -> tuple[int, str, str]:
    """``agora ARGS`` in this process: its exit code, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def ok(*args: str) -> dict:
    code, out, err = cli(*args, "--json")
    assert code == 0, err
    return json.loads(out)


def rows(path: Path, table: str = "events") -> list[tuple]:
    """Every row of ``table`` (events or exposures), sorted."""
    cols = (
        "session_id, tick, agent, source, kind, via"
        if table == "events"
        else "session_id, tick, agent, source, recommender"
    )
    con = sqlite3.connect(path)
    try:
        return sorted(con.execute(f"SELECT {cols} FROM {table}").fetchall())
    finally:
        con.close()


def meta(path: Path, key: str):
    con = sqlite3.connect(path)
    try:
        return json.loads(con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0])
    finally:
        con.close()


@pytest.fixture(scope="module")
def ran(tmp_path_factory) -> Path:
    """A world with two sessions' events, one of them spread through feeds too (exposures)."""
    w = tmp_path_factory.mktemp("events") / "w.db"
    ok("new", str(w), "--agents", str(AGENTS), "--seed", "2")
    ok("run", str(w), "--inject", "first", "--steps", "4", "--param", "p=0.2")
    ok("run", str(w), "--inject", "second", "--steps", "3", "--param", "p=0.1", "--recommender", "hot")
    assert len(rows(w)) > 50 and len(rows(w, "exposures")) > 0
    return w


def test_save_and_load_keep_every_event_row_for_row(ran, tmp_path):
    snap, copy = tmp_path / "w.snap", tmp_path / "copy.db"
    saved = ok("save", str(ran), str(snap))
    assert saved["events"] == len(rows(ran)) and saved["exposures"] == len(rows(ran, "exposures"))
    assert saved["slim"] is False and saved["events_since"] == 0
    # What save says it wrote (without reading the file again) is what the file holds.
    assert snapshot_history(str(snap)) == {
        k: saved[n] for k, n in [("since", "events_since"), ("events", "events"), ("exposures", "exposures")]
    }
    assert read_manifest(str(snap))[0]["format_version"] == snapshot.FORMAT_VERSION == 2
    loaded = ok("load", str(snap), str(copy))
    assert loaded["events"] == saved["events"] and loaded["events_since"] == 0
    assert rows(copy) == rows(ran) and rows(copy, "exposures") == rows(ran, "exposures")
    assert meta(copy, "events_since") == meta(ran, "events_since") == 0
    result = check_world(str(copy))
    assert result["ok"], result["problems"]
    assert result["checks"]["events"] == len(rows(ran))
    # The loaded world goes on: its new events follow the old ones, and it stays consistent.
    ok("run", str(copy), "--steps", "2")
    assert set(rows(ran)) <= set(rows(copy))
    assert check_world(str(copy))["ok"]


def test_slim_leaves_them_out_and_is_smaller(ran, tmp_path):
    full, slim, copy = tmp_path / "full.snap", tmp_path / "slim.snap", tmp_path / "slim.db"
    ok("save", str(ran), str(full))
    saved = ok("save", str(ran), str(slim), "--slim")
    assert saved["slim"] is True and saved["events"] is None and snapshot_history(str(slim)) is None
    assert slim.stat().st_size < full.stat().st_size
    loaded = ok("load", str(slim), str(copy))
    tick = meta(ran, "tick")
    assert loaded["events"] is None and loaded["events_since"] == tick == meta(copy, "events_since")
    assert rows(copy) == [] and rows(copy, "exposures") == []
    assert check_world(str(copy))["ok"]


def test_the_help_names_slim():
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        main(["save", "--help"])
    assert "--slim" in out.getvalue()


def test_a_snapshot_of_format_version_1_still_loads(ran, tmp_path, monkeypatch):
    """Version 1 wrote exactly what version 2 writes without events: its writer is this one at version 1."""
    old, copy = tmp_path / "v1.snap", tmp_path / "v1.db"
    world = asyncio.run(open_world(str(ran)))
    monkeypatch.setattr(snapshot, "FORMAT_VERSION", 1)
    snapshot.save_snapshot(world, str(old), events=False)
    monkeypatch.undo()
    assert old.read_bytes()[len(MAGIC)] == 1 and read_manifest(str(old))[0]["format_version"] == 1
    loaded = ok("load", str(old), str(copy))
    assert loaded["tick"] == world.tick and loaded["events"] is None and rows(copy) == []
    assert meta(copy, "events_since") == world.tick and check_world(str(copy))["ok"]


# -- tampered snapshots ----------------------------------------------------------------------------------
def forge(src: Path, dst: Path, edit) -> None:
    """Write ``src`` again as ``dst`` with ``edit(arrays)`` applied to its decompressed arrays (a dict of
    name -> numpy array), every offset, size and checksum made right: what anyone can do with msgpack, zstd
    and zlib."""
    data = src.read_bytes()
    offset, _, _ = TRAILER.unpack(data[-TRAILER.size :])
    manifest = msgpack.unpackb(data[offset : -TRAILER.size], raw=False)
    arrays = {}
    for e in manifest["arrays"]:
        raw = zstandard.ZstdDecompressor().decompress(data[e["offset"] : e["offset"] + e["size"]]) if e["size"] else b""
        arrays[e["name"]] = np.frombuffer(raw, dtype=e["dtype"]).reshape(e["shape"]).copy()
    edit(arrays)
    out = bytearray(data[: len(MAGIC) + 1])
    entries = []
    for name, a in arrays.items():
        comp = zstandard.ZstdCompressor().compress(a.tobytes()) if a.nbytes else b""
        out += b"\xc6" + struct.pack(">I", len(comp))
        entries.append(
            {
                "name": name,
                "dtype": a.dtype.str,
                "shape": list(a.shape),
                "offset": len(out),
                "size": len(comp),
                "raw_size": a.nbytes,
                "crc32": zlib.crc32(comp),
            }
        )
        out += comp
    manifest["arrays"] = entries
    packed = msgpack.packb(manifest, use_bin_type=True)
    at = len(out)
    dst.write_bytes(bytes(out) + packed + TRAILER.pack(at, zlib.crc32(packed), END_MAGIC))


def _source_out_of_range(a):
    a["events.source"][0] = AGENTS


def _lengths_differ(a):
    a["events.via"] = a["events.via"][:-1]


def _unknown_session(a):
    a["events.session"][-1] = 99


def _wrong_type(a):
    a["events.agent"] = a["events.agent"].astype("<i8")


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (_source_out_of_range, f"a source outside -1..{AGENTS - 1}"),
        (_lengths_differ, "column via holds"),
        (_unknown_session, "a session the world does not have"),
        (_wrong_type, "column agent is not a list of int32"),
    ],
    ids=["source", "lengths", "session", "dtype"],
)
def test_a_tampered_snapshot_is_refused_in_one_sentence(ran, tmp_path, edit, says):
    snap, forged, target = tmp_path / "w.snap", tmp_path / "forged.snap", tmp_path / "w.db"
    ok("save", str(ran), str(snap))
    forge(snap, forged, edit)
    code, out, err = cli("load", str(forged), str(target))
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("agora: error: ") and "Traceback" not in err, err
    assert str(forged) in err and "events" in err and says in err, err
    assert out == "" and not target.exists() and not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    with pytest.raises(BadFileError, match="events"):
        load_snapshot(str(forged))


def test_the_forger_itself_keeps_a_good_snapshot_good(ran, tmp_path):
    snap, same, target = tmp_path / "w.snap", tmp_path / "same.snap", tmp_path / "w.db"
    ok("save", str(ran), str(snap))
    forge(snap, same, lambda a: None)
    ok("load", str(same), str(target))
    assert rows(target) == rows(ran)


# -- a live world: the controller's save and load (TUI, HTTP API, Python API) ----------------------------
async def test_loading_a_snapshot_into_an_open_world_keeps_its_events(ran, tmp_path):
    world = tmp_path / "live.db"
    src, dst = sqlite3.connect(ran), sqlite3.connect(world)
    src.backup(dst)  # the file and what its write-ahead log holds
    src.close()
    dst.close()
    controller = await WorldController.open(str(world), policy=INTERACTIVE, snapshots=str(tmp_path / "snaps"))
    try:
        controller.inject_now(text="third", seeds="random:5", params={"p": 0.2})
        await controller.step(3)  # these ticks' events reach the file through the writer, then the snapshot
        saved = await controller.shelf.save("mid")
        at_save = rows(world)
        assert len(at_save) > len(rows(ran)) and saved["tick"] == controller.world.tick
        history = snapshot_history(str(tmp_path / "snaps" / "mid.snap"))
        assert history == {"since": 0, "events": len(at_save), "exposures": len(rows(ran, "exposures"))}
        await controller.step(2)
        await controller.sim.writer.flush()  # the rows of these ticks in the file (no checkpoint after a step here)
        assert len(rows(world)) > len(at_save)
        await controller.shelf.load("mid")
        assert rows(world) == at_save and meta(world, "events_since") == 0
        await controller.step(1)
    finally:
        await controller.close()
    assert set(at_save) <= set(rows(world))
    result = check_world(str(world))
    assert result["ok"], result["problems"]
