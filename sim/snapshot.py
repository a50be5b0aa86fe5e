"""Snapshots: a whole world in one compressed msgpack file (``.snap``).

Layout (every part after the magic is msgpack)::

    b"AGORASNP" + format version (1 byte)        9 bytes
    bin: zstd-compressed bytes of array 0           \\
    ...                                              } each array compressed on its own
    bin: zstd-compressed bytes of array k-1         /
    map: manifest {format_version, app_version, created, meta, arrays: [{name, dtype, shape,
         offset, size, raw_size, crc32}], ...}
    trailer: manifest offset (8 bytes, big-endian) + CRC-32 of the manifest (4 bytes) + b"AGORAEND"

Writing goes to a temporary file that is fsynced and renamed over the target, so a crash mid-save
never damages the previous snapshot. Loading executes nothing from the file (no pickle): it checks the
magic, the trailer, the manifest's checksum and every declared size against the file's size and the
machine's memory before reading any array, checks each array's CRC before decompressing it into a
buffer of exactly the declared size, and validates the assembled world completely before returning
it, so the caller's current world is untouched on any error.
"""

from __future__ import annotations

import io
import json
import os
import struct
import time
import zlib
from collections.abc import Callable
from typing import Any

import msgpack
import numpy as np
import psutil
import zstandard

from . import __version__
from .errors import BadFileError, ResourceError
from .store import _fsync_dir, _meta_rows, _world_arrays, check_target, world_from_parts
from .world import World

Progress = Callable[[str, float], None] | None

MAGIC = b"AGORASNP"
END_MAGIC = b"AGORAEND"
FORMAT_VERSION = 1
TRAILER = struct.Struct(">QI8s")
MAX_MANIFEST = 64 * 1024 * 1024
ALLOWED_DTYPES = {"<i8", "<u8", "<i4", "<u4", "<i2", "<u2", "|i1", "|u1", "<f4", "<f8", "|b1"}


def _bin_header(size: int) -> bytes:
    return b"\xc6" + struct.pack(">I", size)


def save_snapshot(world: World, path: str, *, force: bool = False, level: int = 3, progress: Progress = None) -> int:
    """Write ``world`` to ``path`` as a snapshot; returns the file size in bytes.

    Raises:
        TargetExistsError: ``path`` exists and ``force`` is false.
    """
    check_target(path, force, what="snapshot")
    arrays = _world_arrays(world)
    tmp = f"{path}.tmp-{os.getpid()}"
    cctx = zstandard.ZstdCompressor(level=level, threads=-1)
    total = sum(a.nbytes for a in arrays.values()) or 1
    done = 0
    entries = []
    try:
        with open(tmp, "wb") as fh:
            fh.write(MAGIC + bytes([FORMAT_VERSION]))
            for name, arr in arrays.items():
                arr = np.ascontiguousarray(arr)
                if arr.dtype.byteorder == ">":
                    arr = arr.astype(arr.dtype.newbyteorder("<"))
                comp = cctx.compress(memoryview(arr).cast("B")) if arr.nbytes else b""
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
            manifest = {
                "format": "agora-snapshot",
                "format_version": FORMAT_VERSION,
                "app_version": __version__,
                "created": time.time(),
                "compression": "zstd",
                # World metadata as JSON text: it holds 128-bit generator states msgpack cannot.
                "meta": json.dumps(dict(_meta_rows_decoded(world))),
                "arrays": entries,
                # LLM answers by prompt, and the latest posts (see sim.llm).
                "llm_cache": [list(r) for r in world.llm_cache.rows()],
                "posts": {"rows": [list(r) for r in world.posts.rows()], "total": len(world.posts), "next_id": world.posts.next_id},
            }
            offset = fh.tell()
            packed = msgpack.packb(manifest, use_bin_type=True)
            fh.write(packed)
            fh.write(TRAILER.pack(offset, zlib.crc32(packed), END_MAGIC))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return os.path.getsize(path)


def _meta_rows_decoded(world: World) -> list[tuple[str, Any]]:
    return [(k, json.loads(v)) for k, v in _meta_rows(world)]


def _fail(path: str, why: str) -> BadFileError:
    return BadFileError(f"snapshot {path!r} {why}; the current world was left as it was")


def read_manifest(path: str) -> tuple[dict[str, Any], int]:
    """Read and validate a snapshot's manifest; returns it and the file size.

    Raises:
        BadFileError: missing, foreign, truncated, corrupt or another format version.
    """
    if not os.path.exists(path):
        raise BadFileError(f"snapshot {path!r} does not exist: check the path (snapshots usually end in .snap)")
    if os.path.isdir(path):
        raise BadFileError(f"snapshot {path!r} is a folder, not a snapshot file")
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            head = fh.read(len(MAGIC) + 1)
            if head[: len(MAGIC)] != MAGIC:
                raise _fail(path, "is not an Agora snapshot (wrong magic bytes)")
            if len(head) < len(MAGIC) + 1 or head[len(MAGIC)] != FORMAT_VERSION:
                version = head[len(MAGIC)] if len(head) > len(MAGIC) else None
                raise _fail(path, f"has format version {version}, this Agora reads version {FORMAT_VERSION}")
            if size < len(head) + TRAILER.size:
                raise _fail(path, "is truncated")
            fh.seek(size - TRAILER.size)
            offset, crc, end = TRAILER.unpack(fh.read(TRAILER.size))
            if end != END_MAGIC:
                raise _fail(path, "is truncated or damaged (no end marker)")
            length = size - TRAILER.size - offset
            if not len(head) <= offset < size - TRAILER.size or length > MAX_MANIFEST:
                raise _fail(path, "is damaged (bad manifest position)")
            fh.seek(offset)
            packed = fh.read(length)
    except OSError as exc:
        raise BadFileError(f"snapshot {path!r} cannot be read ({exc.strerror}): check its permissions") from None
    if zlib.crc32(packed) != crc:
        raise _fail(path, "is damaged (manifest checksum mismatch)")
    try:
        manifest = msgpack.unpackb(
            packed, raw=False, strict_map_key=True,
            max_str_len=MAX_MANIFEST, max_bin_len=0, max_array_len=1_000_000, max_map_len=100_000,
        )
    except Exception:  # msgpack raises several unrelated types for bad input
        raise _fail(path, "is damaged (unreadable manifest)") from None
    if not isinstance(manifest, dict) or manifest.get("format") != "agora-snapshot":
        raise _fail(path, "is not an Agora snapshot")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise _fail(path, f"has format version {manifest.get('format_version')}, this Agora reads version {FORMAT_VERSION}")
    _validate_entries(path, manifest, offset)
    return manifest, size


def _validate_entries(path: str, manifest: dict[str, Any], manifest_offset: int) -> None:
    entries = manifest.get("arrays")
    if not isinstance(entries, list) or not isinstance(manifest.get("meta"), str):
        raise _fail(path, "is damaged (bad manifest)")
    raw_total = 0
    seen = set()
    for ent in entries:
        if not isinstance(ent, dict):
            raise _fail(path, "is damaged (bad array entry)")
        name, dtype, shape = ent.get("name"), ent.get("dtype"), ent.get("shape")
        off, size, raw, crc = ent.get("offset"), ent.get("size"), ent.get("raw_size"), ent.get("crc32")
        if not isinstance(name, str) or name in seen or dtype not in ALLOWED_DTYPES:
            raise _fail(path, f"is damaged (bad array entry {name!r})")
        seen.add(name)
        if not (isinstance(shape, list) and len(shape) <= 4 and all(isinstance(d, int) and 0 <= d < 2**40 for d in shape)):
            raise _fail(path, f"is damaged (bad shape for array {name})")
        if not all(isinstance(x, int) for x in (off, size, raw, crc)):
            raise _fail(path, f"is damaged (bad sizes for array {name})")
        if raw != int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize:
            raise _fail(path, f"is damaged (array {name} size does not match its shape)")
        if not (len(MAGIC) + 1 + 5 <= off and off + size <= manifest_offset and size >= 0):
            raise _fail(path, f"is truncated or damaged (array {name} lies outside the file)")
        raw_total += raw
    available = psutil.virtual_memory().available
    if raw_total > available:
        raise ResourceError(
            f"snapshot {path!r} needs {raw_total / 2**20:.0f} MiB of memory to load but only "
            f"{available / 2**20:.0f} MiB is available; the current world was left as it was"
        )


def load_snapshot(path: str, *, progress: Progress = None) -> World:
    """Read, verify and assemble the world stored in a snapshot. Nothing live is touched.

    Raises:
        BadFileError: the file is missing, foreign, truncated, corrupt or of another version.
        ResourceError: the machine cannot hold it.
    """
    manifest, _ = read_manifest(path)
    try:
        meta = json.loads(manifest["meta"])
    except ValueError:
        raise _fail(path, "is damaged (bad world metadata)") from None
    if not isinstance(meta, dict):
        raise _fail(path, "is damaged (bad world metadata)")
    dctx = zstandard.ZstdDecompressor()
    arrays: dict[str, np.ndarray] = {}
    total = sum(e["raw_size"] for e in manifest["arrays"]) or 1
    done = 0
    try:
        with open(path, "rb") as fh:
            for ent in manifest["arrays"]:
                fh.seek(ent["offset"] - 5)
                if fh.read(5) != _bin_header(ent["size"]):
                    raise _fail(path, f"is damaged (array {ent['name']} header)")
                comp = fh.read(ent["size"])
                if len(comp) != ent["size"] or zlib.crc32(comp) != ent["crc32"]:
                    raise _fail(path, f"is damaged (checksum mismatch in array {ent['name']})")
                out = np.empty(ent["shape"], dtype=np.dtype(ent["dtype"]))
                if out.nbytes:
                    _decompress_into(dctx, comp, out, path, ent["name"])
                del comp
                arrays[ent["name"]] = out
                done += ent["raw_size"]
                if progress:
                    progress("reading snapshot", done / total)
    except OSError as exc:
        raise BadFileError(f"snapshot {path!r} cannot be read ({exc.strerror})") from None
    try:
        world = world_from_parts(meta, arrays, path=None, source=f"snapshot {path!r}")
    except BadFileError as exc:
        raise BadFileError(f"{exc}; the current world was left as it was") from None
    except (TypeError, ValueError, KeyError):
        raise _fail(path, "is damaged (bad world metadata)") from None
    problems = world.graph.check()
    if problems:
        raise _fail(path, f"is inconsistent ({problems[0]})")
    try:
        world.llm_cache.load(manifest.get("llm_cache") or [])
        posts = manifest.get("posts") or {}
        if not isinstance(posts, dict):
            raise ValueError("posts is not a record")
        total, next_id = posts.get("total"), posts.get("next_id")
        if total is not None and (not isinstance(total, int) or total < 0):
            raise ValueError("bad post count")
        if next_id is not None and (not isinstance(next_id, int) or next_id < 1):
            raise ValueError("bad post id")
        world.posts.load(posts.get("rows") or [], total=total, next_id=next_id)
        if any(not 0 <= r[2] < world.n for r in world.posts.rows()):
            raise ValueError("a post names an agent the world does not have")
    except (ValueError, TypeError) as exc:
        raise _fail(path, f"is damaged (LLM cache or posts: {exc})") from None
    return world


def _decompress_into(dctx: zstandard.ZstdDecompressor, comp: bytes, out: np.ndarray, path: str, name: str) -> None:
    """Decompress straight into ``out``; more or less data than declared is an error."""
    target = memoryview(out).cast("B")
    filled = 0
    try:
        with dctx.stream_reader(io.BytesIO(comp)) as reader:
            while filled < target.nbytes:
                got = reader.readinto(target[filled:])
                if not got:
                    break
                filled += got
            extra = reader.read(1)
    except zstandard.ZstdError:
        raise _fail(path, f"is damaged (array {name} does not decompress)") from None
    if filled != target.nbytes or extra:
        raise _fail(path, f"is damaged (array {name} has the wrong length)")
