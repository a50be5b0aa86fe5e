"""Snapshots: a whole world in one compressed msgpack file (``.snap``).

Layout (every part after the magic is msgpack)::

    b"AGORASNP" + format version (1 byte)        9 bytes
    bin: zstd-compressed bytes of array 0           \\
    ...                                              } each array compressed on its own
    bin: zstd-compressed bytes of array k-1         /
    map: manifest {format_version, app_version, created, meta, arrays: [{name, dtype, shape,
         offset, size, raw_size, crc32}], history: {since, recommenders} (version 2), ...}
    trailer: manifest offset (8 bytes, big-endian) + CRC-32 of the manifest (4 bytes) + b"AGORAEND"

Format version 2 adds the world's history: every session's adoption events and first feed exposures (the
world file's ``events`` and ``exposures`` tables, ``sim.store.eventrows``) as columns, arrays
``events.{session,tick,agent,source,kind,via}`` and ``exposures.{session,tick,agent,source,recommender}``,
with the manifest's ``history`` record (the first tick they cover, the recommenders' names). A snapshot
saved without them (``agora save --slim``) has no ``history``, nor does one of version 1 (still read):
the world loaded from it starts its history at its tick.

Writing goes to a temporary file that is fsynced and renamed over the target, so a crash mid-save
never damages the previous snapshot. Loading executes nothing from the file (no pickle): it checks the
magic, the trailer, the manifest's checksum and every declared size against the file's size and the
machine's memory before reading any array, checks each array's CRC before decompressing it into a
buffer of exactly the declared size, and validates the assembled world completely before returning
it, so the caller's current world is untouched on any error.

A declared size is bounded by the bytes behind it: zstd cannot expand more than :data:`MAX_RATIO` times,
and each frame's own content size must match the manifest, so no buffer is ever larger than what the
file can really hold or than the memory available. Decoding is iterative or depth-limited (msgpack's
stack limit, :data:`MAX_DEPTH` for the JSON metadata): a deeply nested file cannot exhaust the Python
stack. Every failure is one :class:`BadFileError` or :class:`ResourceError` (``tests/test_fuzz.py``
fuzzes this); a failed save (a full disk, a quota, the file size limit) is one :class:`ResourceError`
saying the previous snapshot is untouched (:mod:`sim.core.diskio`).

An encrypted snapshot (``save_snapshot(..., encrypt=True)``, and by default that of an encrypted world) is
this same file sealed whole (:mod:`sim.core.sealed`: AES-256-GCM in authenticated chunks, with the world
key); the temporary file holds only ciphertext. Every reader recognises the sealed magic, decrypts and
authenticates the whole file once into memory (never to disk), and reads the snapshot from there, with
every check above. :func:`snapshot_bytes` and :func:`load_snapshot_bytes` do the same in memory.
"""

from __future__ import annotations

import io
import json
import os
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypedDict, Unpack

import msgpack
import numpy as np
import zstandard

from sim import __version__
from sim.core import sealed, worldkey
from sim.core.diskio import remove_quietly, write_error
from sim.core.faults import kill_point
from sim.core.world import World
from sim.errors import BadParameterError, ResourceError
from sim.store.eventrows import History, read_history

# The format's constants and the reading side live in sim.store.snapshotread; their names stay importable here.
from sim.store.snapshotread import (
    ALLOWED_DTYPES,
    END_MAGIC,
    FORMAT_VERSION,
    LAYERED_VERSION,
    MAGIC,
    MAX_DEPTH,
    MAX_MANIFEST,
    MAX_RATIO,
    READABLE_VERSIONS,
    TRAILER,
    SnapshotReader,
    _bin_header,
    load_snapshot,
    load_snapshot_bytes,
    load_snapshot_history,
    read_manifest,
    snapshot_history,
)
from sim.store.worldfile import (
    _fsync_dir,
    _meta_rows,
    check_target,
    format_version,
    remove_stale_temps,
)
from sim.store.worldrows import world_arrays

Progress = Callable[[str, float], None] | None


@dataclass(frozen=True)
class SavedSnapshot:
    """What :func:`save_snapshot_report` wrote: the file's size, and how much history it holds, as
    :func:`snapshot_history` would read it back (None: none)."""

    size_bytes: int
    history: dict[str, int] | None


class SnapshotOptions(TypedDict, total=False):
    """The keywords of :func:`save_snapshot_report` (their defaults and meaning are written there)."""

    force: bool
    level: int
    progress: Progress
    events: bool
    encrypt: bool | None


def save_snapshot(world: World, path: str, **options: Unpack[SnapshotOptions]) -> int:
    """:func:`save_snapshot_report` with the same keywords; returns the file size in bytes."""
    return save_snapshot_report(world, path, **options).size_bytes


def save_snapshot_report(
    world: World,
    path: str,
    *,
    force: bool = False,
    level: int = 3,
    progress: Progress = None,
    events: bool = True,
    encrypt: bool | None = None,
) -> SavedSnapshot:
    """Write ``world`` to ``path`` as a snapshot; returns its size and how much history it holds (without
    reading the file again: a sealed one would be decrypted whole).

    With ``events`` (the default) the snapshot holds the world's history: the adoption events and first
    feed exposures its world file holds (``world.path``; all of them must be committed: a live world's
    writer flushed). Without, or for a world without a file, it has none (a smaller file; a world loaded
    from it starts its history at its tick).

    ``encrypt``: True seals the snapshot with the world key (:mod:`sim.core.sealed`); None seals it when
    the world's own file is encrypted (an encrypted world's snapshot is never clear by accident); False
    writes it clear. The temporary file holds only ciphertext.

    Raises:
        TargetExistsError: ``path`` exists and ``force`` is false.
        BadFileError: the world file's events cannot be read, or do not fit the world.
        BadParameterError: encrypting, and no key is given or the crypto extra is not installed.
    """
    check_target(path, force, what="snapshot")
    secret = _sealing_key(world, encrypt)
    remove_stale_temps(path)  # left by saves that were killed before their rename
    existed = os.path.exists(path)
    arrays, history = _snapshot_arrays(world, events)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as fh:
            if secret is None:
                _write_snapshot(fh, world, arrays, history, level, progress)
            else:
                writer = sealed.SealingWriter(fh, secret)
                _write_snapshot(writer, world, arrays, history, level, progress)
                writer.finish()
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path)
    except BaseException as exc:
        remove_quietly(tmp)
        error = write_error(exc, path, "snapshot", existed)
        if error is not None:
            raise error from None
        raise
    counts = None
    if history is not None:
        counts = {
            "since": history.since,
            "events": len(history.events["tick"]),
            "exposures": len(history.exposures["tick"]),
        }
    return SavedSnapshot(os.path.getsize(path), counts)


def snapshot_bytes(
    world: World,
    *,
    events: bool = False,
    encrypt: bool | None = None,
    data_key: bytes | None = None,
    level: int = 3,
) -> bytes:
    """``world`` as the bytes of a snapshot file, made in memory (nothing is written to disk); read them
    back with :func:`load_snapshot_bytes`.

    ``events`` and ``encrypt`` as :func:`save_snapshot`'s (but without history by default). ``data_key``
    (32 random bytes, :func:`sim.core.sealed.new_data_key`) seals the bytes with that key as it is,
    whatever ``encrypt`` says: for bytes handed to another process along with their key.

    Raises:
        BadFileError: the world file's events cannot be read, or do not fit the world.
        BadParameterError: encrypting, and no key is given or the crypto extra is not installed.
    """
    secret = None if data_key is not None else _sealing_key(world, encrypt)
    arrays, history = _snapshot_arrays(world, events)
    buf = io.BytesIO()
    if secret is None and data_key is None:
        _write_snapshot(buf, world, arrays, history, level, None)
    else:
        writer = sealed.SealingWriter(buf, secret, data_key=data_key)
        _write_snapshot(writer, world, arrays, history, level, None)
        writer.finish()
    return buf.getvalue()


def _sealing_key(world: World, encrypt: bool | None) -> bytes | None:
    """The world key to seal a snapshot of ``world`` with, or None for a clear one (see :func:`save_snapshot`).

    Raises:
        BadParameterError: encrypting, and no key is given or the crypto extra is not installed.
    """
    if encrypt is None:
        encrypt = bool(world.path) and worldkey.is_encrypted(str(world.path))
    if not encrypt:
        return None
    worldkey.require_extra("an encrypted snapshot")
    secret = worldkey.key()
    if secret is None:
        raise BadParameterError(f"an encrypted snapshot needs a key: {worldkey.HOW.replace('its key', 'a key')}")
    return secret


def _snapshot_arrays(world: World, events: bool) -> tuple[dict[str, np.ndarray], History | None]:
    """The arrays a snapshot of ``world`` holds, and its history (with ``events``, from its world file)."""
    history = None
    if events and world.path and os.path.exists(world.path):
        history = read_history(world.path, n=world.n, tick=world.tick, sessions=[s.id for s in world.sessions])
    arrays = world_arrays(world)
    if history is not None:
        arrays.update({f"events.{k}": v for k, v in history.events.items()})
        arrays.update({f"exposures.{k}": v for k, v in history.exposures.items()})
    return arrays, history


class _Writable(Protocol):
    def write(self, data: bytes, /) -> int: ...

    def tell(self) -> int: ...


def _write_snapshot(
    fh: _Writable,
    world: World,
    arrays: dict[str, np.ndarray],
    history: History | None,
    level: int,
    progress: Progress,
) -> None:
    """Write the snapshot of ``world`` (its ``arrays`` and ``history``) to ``fh``, from the magic to the
    trailer: a file, bytes in memory, or a :class:`sim.core.sealed.SealingWriter` (``tell`` is the
    position in the snapshot, which the manifest's offsets record)."""
    # The snapshot's own constants (a test writes an older version by setting FORMAT_VERSION here).
    version = LAYERED_VERSION if format_version(world) == LAYERED_VERSION else FORMAT_VERSION
    fh.write(MAGIC + bytes([version]))
    entries = _write_arrays(fh, arrays, level, progress)
    kill_point("snapshot")
    manifest = {
        "format": "agora-snapshot",
        "format_version": version,
        "app_version": __version__,
        "created": time.time(),
        "compression": "zstd",
        # World metadata as JSON text: it holds 128-bit generator states msgpack cannot.
        "meta": json.dumps(dict(_meta_rows_decoded(world))),
        "arrays": entries,
        # LLM answers by prompt, and the latest posts (see sim.llm).
        "llm_cache": [list(r) for r in world.llm_cache.rows()],
        "posts": {
            "rows": [list(r) for r in world.posts.rows()],
            "total": len(world.posts),
            "next_id": world.posts.next_id,
        },
        # What LLM agents remember (sim.core.agentmemory): every event, summary and agent.
        "memory": world.memory.snapshot(),
    }
    if history is not None:  # the events.* and exposures.* arrays
        manifest["history"] = {"since": history.since, "recommenders": history.recommenders}
    offset = fh.tell()
    packed = msgpack.packb(manifest, use_bin_type=True)
    fh.write(packed)
    fh.write(TRAILER.pack(offset, zlib.crc32(packed), END_MAGIC))


def _write_arrays(fh: _Writable, arrays: dict[str, np.ndarray], level: int, progress: Progress) -> list[dict[str, Any]]:
    """Write each array compressed (its own zstd frame, a msgpack bin); returns their manifest entries."""
    cctx = zstandard.ZstdCompressor(level=level, threads=-1)
    total = sum(a.nbytes for a in arrays.values()) or 1
    done = 0
    entries = []
    for name, arr in arrays.items():
        arr = np.ascontiguousarray(arr)
        if arr.dtype.byteorder == ">":
            arr = arr.astype(arr.dtype.newbyteorder("<"))
        comp = cctx.compress(arr.data.cast("B")) if arr.nbytes else b""
        if len(comp) >= 2**32:
            raise ResourceError(f"array {name} is too large for a snapshot section")
        fh.write(_bin_header(len(comp)))
        entries.append(
            {
                "name": name,
                "dtype": arr.dtype.str,
                "shape": list(arr.shape),
                "offset": fh.tell(),
                "size": len(comp),
                "raw_size": arr.nbytes,
                "crc32": zlib.crc32(comp),
            }
        )
        fh.write(comp)
        done += arr.nbytes
        if progress:
            progress("writing snapshot", done / total)
    return entries


def _meta_rows_decoded(world: World) -> list[tuple[str, Any]]:
    return [(k, json.loads(v)) for k, v in _meta_rows(world)]


__all__ = [
    "ALLOWED_DTYPES",
    "END_MAGIC",
    "FORMAT_VERSION",
    "MAGIC",
    "MAX_DEPTH",
    "MAX_MANIFEST",
    "MAX_RATIO",
    "Progress",
    "READABLE_VERSIONS",
    "SavedSnapshot",
    "SnapshotReader",
    "TRAILER",
    "load_snapshot",
    "load_snapshot_bytes",
    "load_snapshot_history",
    "read_manifest",
    "save_snapshot",
    "save_snapshot_report",
    "snapshot_bytes",
    "snapshot_history",
]
