"""Snapshots: exact round trips, exact continuation, and every kind of bad file ends in one clear error."""

from __future__ import annotations

import hashlib
import zlib

import msgpack
import numpy as np
import pytest
from worldcheck import assert_same_world

from sim.errors import AgoraError, BadFileError, ResourceError, TargetExistsError
from sim.store.create import synthetic_world
from sim.store.snapshot import END_MAGIC, MAGIC, TRAILER, load_snapshot, read_manifest, save_snapshot
from sim.store.worldfile import open_world, save_world


@pytest.fixture
def snap(tmp_path):
    world = synthetic_world("snap", 400, avg_degree=6, seed=11)
    world.advance(2)
    path = str(tmp_path / "w.snap")
    save_snapshot(world, path)
    return world, path


def test_round_trip_equal_arrays(snap):
    world, path = snap
    loaded = load_snapshot(path)
    assert_same_world(world, loaded)
    assert loaded.name == world.name


def test_snapshot_is_compressed_and_versioned(tmp_path):
    world = synthetic_world("c", 20000, avg_degree=10, seed=1)
    path = str(tmp_path / "c.snap")
    size = save_snapshot(world, path)
    assert size < world.nbytes()
    manifest, _ = read_manifest(path)
    assert manifest["format_version"] == 2 and manifest["compression"] == "zstd"
    assert manifest["app_version"]
    assert all("crc32" in e for e in manifest["arrays"])


def test_continuation_follows_the_same_trajectory(tmp_path):
    """Save at tick t, then continue both the original and the loaded copy: identical draws."""
    world = synthetic_world("cont", 3000, seed=5)
    world.advance(7)
    path = str(tmp_path / "cont.snap")
    save_snapshot(world, path)
    original = [world.advance(1) for _ in range(6)]
    loaded = load_snapshot(path)
    assert loaded.tick == 7
    resumed = [loaded.advance(1) for _ in range(6)]
    for a, b in zip(original, resumed):
        assert np.array_equal(a, b)
    assert loaded.rng_state == world.rng_state and loaded.tick == world.tick


async def test_continuation_through_world_file(tmp_path):
    """Snapshot -> world file -> open -> continue gives the same trajectory too."""
    world = synthetic_world("cont", 2000, seed=9)
    world.advance(4)
    snap_path, db_path = str(tmp_path / "a.snap"), str(tmp_path / "a.db")
    save_snapshot(world, snap_path)
    await save_world(load_snapshot(snap_path), db_path)
    reopened = await open_world(db_path)
    assert np.array_equal(world.advance(3), reopened.advance(3))


def test_existing_snapshot_needs_force(snap):
    world, path = snap
    before = hashlib.sha256(open(path, "rb").read()).hexdigest()
    with pytest.raises(TargetExistsError):
        save_snapshot(world, path)
    assert hashlib.sha256(open(path, "rb").read()).hexdigest() == before
    save_snapshot(world, path, force=True)


def _expect_clean_error(path):
    with pytest.raises(AgoraError) as info:
        load_snapshot(str(path))
    msg = str(info.value)
    assert "\n" not in msg and len(msg) < 400
    return msg


def test_truncations_fail_cleanly(snap, tmp_path):
    _, path = snap
    data = open(path, "rb").read()
    cuts = sorted(
        set(
            [0, 1, 5, 8, 9, 20, len(data) // 2, len(data) - TRAILER.size - 1, len(data) - 1]
            + list(np.random.default_rng(0).integers(0, len(data), 40))
        )
    )
    for cut in cuts:
        p = tmp_path / f"cut{cut}.snap"
        p.write_bytes(data[:cut])
        _expect_clean_error(p)


def test_every_sampled_byte_flip_is_detected(snap, tmp_path):
    """Checksums cover the manifest and every array; magic, version and section headers are checked."""
    _, path = snap
    data = bytearray(open(path, "rb").read())
    rng = np.random.default_rng(1)
    positions = (
        set(range(0, 16)) | set(range(len(data) - 64, len(data))) | set(rng.integers(0, len(data), 300).tolist())
    )
    p = tmp_path / "flip.snap"
    for pos in sorted(positions):
        bad = bytearray(data)
        bad[pos] ^= 1 << int(rng.integers(0, 8))
        p.write_bytes(bytes(bad))
        _expect_clean_error(p)


def test_foreign_wrong_version_and_missing(tmp_path, snap):
    _, path = snap
    cases = {
        "text.snap": b"just some text\n" * 20,
        "sqlite.snap": b"SQLite format 3\x00" + b"\x00" * 200,
        "empty.snap": b"",
        "msgpack.snap": msgpack.packb({"format": "agora-snapshot", "format_version": 1}),
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        assert "snapshot" in _expect_clean_error(tmp_path / name)
    data = bytearray(open(path, "rb").read())
    data[len(MAGIC)] = 99
    (tmp_path / "v99.snap").write_bytes(bytes(data))
    assert "version 99" in _expect_clean_error(tmp_path / "v99.snap")
    with pytest.raises(BadFileError, match="does not exist"):
        load_snapshot(str(tmp_path / "nope.snap"))
    with pytest.raises(BadFileError, match="folder"):
        load_snapshot(str(tmp_path))


def _rewrite_manifest(data: bytes, change) -> bytes:
    offset, _, _ = TRAILER.unpack(data[-TRAILER.size :])
    manifest = msgpack.unpackb(data[offset : -TRAILER.size], raw=False)
    change(manifest)
    packed = msgpack.packb(manifest, use_bin_type=True)
    return data[:offset] + packed + TRAILER.pack(offset, zlib.crc32(packed), END_MAGIC)


def test_huge_declared_sizes_are_refused_before_allocating(snap, tmp_path):
    _, path = snap
    data = open(path, "rb").read()

    def huge(m):
        e = m["arrays"][0]
        e["shape"] = [2**38]
        e["raw_size"] = 2**38 * np.dtype(e["dtype"]).itemsize

    p = tmp_path / "huge.snap"
    p.write_bytes(_rewrite_manifest(data, huge))
    with pytest.raises(ResourceError, match="memory"):
        load_snapshot(str(p))

    def lying(m):
        m["arrays"][0]["raw_size"] += 8  # size no longer matches the shape

    p.write_bytes(_rewrite_manifest(data, lying))
    _expect_clean_error(p)

    def bad_dtype(m):
        m["arrays"][0]["dtype"] = "|O"  # objects would mean pickle: never accepted

    p.write_bytes(_rewrite_manifest(data, bad_dtype))
    _expect_clean_error(p)

    def wrong_types(m):
        m["arrays"] = {"not": "a list"}

    p.write_bytes(_rewrite_manifest(data, wrong_types))
    _expect_clean_error(p)

    def deep(m):
        nested = []
        for _ in range(5000):
            nested = [nested]
        m["extra"] = nested

    try:
        p.write_bytes(_rewrite_manifest(data, deep))
    except (ValueError, RecursionError):
        # msgpack itself refuses to pack that deep; write the bytes by hand instead
        offset, _, _ = TRAILER.unpack(data[-TRAILER.size :])
        packed = b"\x91" * 100000 + b"\x90"
        p.write_bytes(data[:offset] + packed + TRAILER.pack(offset, zlib.crc32(packed), END_MAGIC))
    _expect_clean_error(p)


def test_inconsistent_arrays_are_refused(snap, tmp_path):
    """A well-formed file whose arrays do not fit together (e.g. an index out of range) is refused."""
    world, _ = snap
    world.graph.out_indices[0] = world.n + 5
    p = str(tmp_path / "inconsistent.snap")
    save_snapshot(world, p)
    msg = _expect_clean_error(p)
    assert "inconsistent" in msg
