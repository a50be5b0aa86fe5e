"""Encrypted snapshots (``sim.core.sealed``, ``save_snapshot(..., encrypt=True)``): an exact round trip; no
clear byte of the world in the file; every altered, dropped or added byte refused in one sentence before
anything is replaced; a wrong or missing key told apart; and the same in memory (``snapshot_bytes``)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os

import numpy as np
import pytest
from worldcheck import assert_same_world

from sim.core import sealed, worldkey
from sim.errors import BadFileError, BadParameterError
from sim.store.create import synthetic_world
from sim.store.snapshot import (
    SnapshotReader,
    load_snapshot,
    load_snapshot_bytes,
    read_manifest,
    save_snapshot,
    snapshot_bytes,
    snapshot_history,
)
from sim.store.worldfile import save_world

KEY = "correct horse battery staple"
MARKER = "zebra-marker-7f3a91"
KEPT = "; the current world was left as it was"


@pytest.fixture(autouse=True)
def world_key(monkeypatch):
    monkeypatch.delenv(worldkey.KEY_ENV, raising=False)
    worldkey.use_key(KEY)
    yield
    worldkey.use_key(None)


@pytest.fixture(scope="module")
def world():
    w = synthetic_world("sealed", 300, avg_degree=6, seed=3)
    w.advance(2)
    w.posts.add(1, 5, 0, 0, "post", f"a post that says {MARKER}", "offline")
    return w


@pytest.fixture
def snap(tmp_path, world):
    path = str(tmp_path / "w.snap")
    save_snapshot(world, path, encrypt=True)
    return path


def _one_sentence(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and "Traceback" not in text and KEY not in text
    return text


def _damaged(path: str) -> str:
    return f"snapshot {path!r} is damaged or was altered (it failed its authentication){KEPT}"


def _digest(path) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def _rechunked(path: str, plain: bytes, chunk: int = 4096) -> None:
    """Write ``plain`` to ``path`` sealed with the world key in chunks of ``chunk`` bytes (many chunks)."""
    with open(path, "wb") as fh:
        writer = sealed.SealingWriter(fh, worldkey.key(), chunk_size=chunk)
        writer.write(plain)
        writer.finish()


def test_round_trip_is_exact(world, snap):
    with open(snap, "rb") as fh:
        assert sealed.is_sealed(fh.read(len(sealed.MAGIC)))
    loaded = load_snapshot(snap)
    assert_same_world(world, loaded)
    assert [r[6] for r in loaded.posts.rows()] == [r[6] for r in world.posts.rows()]
    manifest, _ = read_manifest(snap)
    assert manifest["format"] == "agora-snapshot"
    assert snapshot_history(snap) is None  # a world without a file has no history


def test_no_clear_byte_of_the_world_is_in_the_sealed_file(tmp_path, world, snap):
    clear = str(tmp_path / "clear.snap")
    save_snapshot(world, clear, encrypt=False)
    marker = MARKER.encode()
    with open(clear, "rb") as fh:
        assert marker in fh.read()  # the test can fail: the marker is in a clear snapshot
    with open(snap, "rb") as fh:
        data = fh.read()
    assert marker not in data and b"agora-snapshot" not in data and b"AGORASNP" not in data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clear.snap", "w.snap"]  # no temporary file left


def _load_into(snapshot: str, target: str) -> None:
    """What ``agora load SNAPSHOT TARGET --force`` does (sim.cli.world._load)."""

    async def go() -> None:
        with SnapshotReader(snapshot) as reader:
            await save_world(reader, target, force=True, keep_audit=True)

    asyncio.run(go())


@pytest.fixture
def target(tmp_path):
    path = str(tmp_path / "target.db")
    asyncio.run(save_world(synthetic_world("target", 50, seed=9), path))
    return path, _digest(path)


def test_every_altered_byte_is_refused_and_the_target_is_untouched(tmp_path, world, target):
    """One byte changed at every position of the header and at ~300 positions spread over the rest (chunk
    boundaries and the last bytes included), in a file of many 4 KiB chunks: one sentence each."""
    plain = snapshot_bytes(world, encrypt=False)
    good = str(tmp_path / "good.snap")
    _rechunked(good, plain)
    with open(good, "rb") as fh:
        data = fh.read()
    whole = 4096 + sealed.TAG
    assert len(data) > 5 * whole
    body = range(sealed.HEADER.size, len(data))
    spread = set(body[:: max(1, len(body) // 250)])
    edges = {sealed.HEADER.size + k * whole + d for k in range(len(data) // whole + 1) for d in (-1, 0, 15, 16)}
    positions = sorted(set(range(sealed.HEADER.size)) | spread | edges | set(range(len(data) - 20, len(data))))
    positions = [p for p in positions if 0 <= p < len(data)]
    bad = str(tmp_path / "bad.snap")
    path_target, before = target
    for i, p in enumerate(positions):
        altered = bytearray(data)
        altered[p] ^= 1 << (p % 8)
        with open(bad, "wb") as fh:
            fh.write(altered)
        with pytest.raises(BadFileError) as err:
            if i % 40 == 0:  # the whole path agora load takes, now and then
                _load_into(bad, path_target)
            else:
                SnapshotReader(bad).close()
        text = _one_sentence(err.value)
        assert bad in text, (p, text)
        if p >= len(sealed.MAGIC):  # still sealed (the header's CRC tells damage from a wrong key)
            assert text == _damaged(bad), (p, text)
        else:
            assert "not an Agora snapshot" in text, (p, text)
    assert len(positions) > 300
    assert _digest(path_target) == before
    assert load_snapshot(good).n == world.n  # the unaltered file still loads


def test_truncated_extended_reordered_and_dropped_chunks_are_refused(tmp_path, world, target):
    plain = snapshot_bytes(world, encrypt=False)
    good = str(tmp_path / "good.snap")
    _rechunked(good, plain)
    with open(good, "rb") as fh:
        data = fh.read()
    head, whole = sealed.HEADER.size, 4096 + sealed.TAG
    chunks = [data[i : i + whole] for i in range(head, len(data), whole)]
    cases = {
        "truncated by one byte": data[:-1],
        "truncated to its header": data[:head],
        "truncated inside the header": data[: head - 1],
        "cut at a chunk boundary": data[: head + 2 * whole],
        "extended by one byte": data + b"\x00",
        "extended by a chunk": data + chunks[1],
        "two chunks swapped": data[:head] + chunks[1] + chunks[0] + b"".join(chunks[2:]),
        "a chunk dropped": data[:head] + b"".join(chunks[:1] + chunks[2:]),
        "a chunk repeated": data[:head] + b"".join(chunks[:2] + chunks[1:]),
    }
    path_target, before = target
    for why, blob in cases.items():
        bad = str(tmp_path / "bad.snap")
        with open(bad, "wb") as fh:
            fh.write(blob)
        with pytest.raises(BadFileError) as err:
            _load_into(bad, path_target)
        assert _one_sentence(err.value) == _damaged(bad), why
    assert _digest(path_target) == before


def test_a_wrong_key_and_no_key_are_told_apart_from_damage(snap, target):
    worldkey.use_key("not the key")
    with pytest.raises(BadFileError) as err:
        load_snapshot(snap)
    assert _one_sentence(err.value) == (
        f"snapshot {snap!r} cannot be opened with the key given: give the key it was saved with"
    )
    worldkey.use_key(None)
    with pytest.raises(BadFileError) as err:
        read_manifest(snap)
    assert _one_sentence(err.value) == f"snapshot {snap!r} is encrypted: {worldkey.HOW}"
    path_target, before = target
    with pytest.raises(BadFileError, match="is encrypted"):
        _load_into(snap, path_target)
    assert _digest(path_target) == before


def test_agora_load_of_an_altered_snapshot_says_one_line_and_keeps_the_world(tmp_path, snap, target):
    from conftest import agora

    data = bytearray(open(snap, "rb").read())
    data[len(data) // 2] ^= 0x40
    bad = tmp_path / "bad.snap"
    bad.write_bytes(data)
    path_target, before = target
    res = agora(tmp_path, "load", str(bad), path_target, "--force", env={worldkey.KEY_ENV: KEY})
    assert res.returncode == 2, res.stderr
    assert res.stderr.count("\n") == 1 and "failed its authentication" in res.stderr and KEY not in res.stderr
    assert _digest(path_target) == before


def test_encrypt_none_follows_the_world_file(tmp_path, world):
    clear = str(tmp_path / "c.snap")
    save_snapshot(world, clear)  # no world file: clear
    with open(clear, "rb") as fh:
        assert not sealed.is_sealed(fh.read(8))
    assert not sealed.is_sealed(snapshot_bytes(world)[:8])
    # A world whose file is encrypted (is_encrypted: a whole number of pages, no SQLite header): sealed.
    fake = tmp_path / "enc.db"
    fake.write_bytes(os.urandom(2 * worldkey.PAGE))
    forked = world.fork()
    forked.path = str(fake)
    assert sealed.is_sealed(snapshot_bytes(forked)[:8])
    assert not sealed.is_sealed(snapshot_bytes(forked, encrypt=False)[:8])


def test_encrypting_without_a_key_is_one_sentence(tmp_path, world):
    worldkey.use_key(None)
    path = tmp_path / "x.snap"
    with pytest.raises(BadParameterError) as err:
        save_snapshot(world, str(path), encrypt=True)
    assert "needs a key" in _one_sentence(err.value) and worldkey.KEY_ENV in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_snapshots_in_memory_round_trip(world):
    for data in (snapshot_bytes(world), snapshot_bytes(world, encrypt=True)):
        assert_same_world(world, load_snapshot_bytes(data))
    key = sealed.new_data_key()
    data = snapshot_bytes(world, data_key=key)
    assert sealed.is_sealed(data[:8]) and MARKER.encode() not in data
    assert_same_world(world, load_snapshot_bytes(np.frombuffer(data, dtype=np.uint8), data_key=key))
    with pytest.raises(BadFileError, match="cannot be opened with the key given"):
        load_snapshot_bytes(data, data_key=sealed.new_data_key(), source="payload")
    altered = bytearray(data)
    altered[-1] ^= 1
    with pytest.raises(BadFileError, match="failed its authentication"):
        load_snapshot_bytes(altered, data_key=key)


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 4097, 3 * 4096, 3 * 4096 + 7])
def test_sealing_writer_round_trips_every_length_and_tells_plaintext_positions(size):
    plain = bytes(range(256)) * (size // 256 + 1)
    plain = plain[:size]
    buf = io.BytesIO()
    writer = sealed.SealingWriter(buf, data_key=b"k" * 32, chunk_size=4096)
    for i in range(0, size, 1000):
        writer.write(plain[i : i + 1000])
        assert writer.tell() == min(i + 1000, size)
    writer.finish()
    blob = buf.getvalue()
    chunks = max(1, -(-size // 4096))
    assert len(blob) == sealed.HEADER.size + size + chunks * sealed.TAG
    assert bytes(sealed.unseal_bytes(blob, name="x", data_key=b"k" * 32)) == plain


def test_a_chunk_size_out_of_range_is_refused(world):
    """The chunk size is read from the file: one outside 4 KiB..16 MiB is refused, even with a good CRC."""
    import struct
    import zlib

    data = bytearray(snapshot_bytes(world, encrypt=True))
    struct.pack_into(">I", data, 32, 1 << 30)
    struct.pack_into(">I", data, 52, zlib.crc32(bytes(data[:52])))
    with pytest.raises(BadFileError, match="failed its authentication"):
        load_snapshot_bytes(data)
