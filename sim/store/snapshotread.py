"""Reading snapshots: the format's constants and bounds, and every check made before a byte reaches the world.

The layout and the guarantees are described in :mod:`sim.store.snapshot` (which writes snapshots and keeps
the public names of both sides); this module holds the reader, :class:`SnapshotReader`, and the loaders.
"""

from __future__ import annotations

import io
import json
import math
import os
import struct
import threading
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Protocol, TypeGuard

import msgpack
import numpy as np
import zstandard

from sim.core import sealed
from sim.core.diskio import reading_file
from sim.core.memory import ensure_memory
from sim.core.persona import POOLS, STYLES
from sim.core.world import AGENT_COLUMNS, World, check_columns
from sim.errors import AgoraError, BadFileError, BadParameterError
from sim.model.settings import social_settings
from sim.store.eventrows import History, history_problem
from sim.store.sessioncheck import history_problems
from sim.store.worldfile import (
    repeated_id,
    tell_load_warnings,
    world_from_parts,
)

Progress = Callable[[str, float], None] | None

MAGIC = b"AGORASNP"
END_MAGIC = b"AGORAEND"
FORMAT_VERSION = 2
#: The version of a snapshot of a world with contact layers (``graph.layer``; see
#: :data:`sim.store.worldread.LAYERED_VERSION`): an Agora that reads only 1 and 2 refuses it.
LAYERED_VERSION = 3
#: Versions this Agora reads: 1 carried no history (events and exposures).
READABLE_VERSIONS = (1, 2, 3)
TRAILER = struct.Struct(">QI8s")
MAX_MANIFEST = 64 * 1024 * 1024
#: zstd expands at most this much (one 4-byte RLE block per 128 KiB): the bound on a declared array size.
MAX_RATIO = 32768
#: Deepest nesting accepted in the world metadata (configuration, sessions, messages).
MAX_DEPTH = 64
ALLOWED_DTYPES = {"<i8", "<u8", "<i4", "<u4", "<i2", "<u2", "|i1", "|u1", "<f4", "<f8", "|b1"}


def _bin_header(size: int) -> bytes:
    """The msgpack header of a ``bin 32`` of ``size`` bytes (each compressed array is one)."""
    return b"\xc6" + struct.pack(">I", size)


def _fail(path: str, why: str) -> BadFileError:
    return BadFileError(f"snapshot {path!r} {why}; the current world was left as it was")


def _is_int(x: Any) -> TypeGuard[int]:
    return isinstance(x, int) and not isinstance(x, bool)


class _TooManyObjects(Exception):
    pass


def _unpack_manifest(path: str, packed: bytes) -> Any:
    """msgpack-decode the manifest with every limit set: no binary, bounded lengths, nesting (msgpack's
    own stack limit) and containers (at most one per 16 bytes, so memory stays a small multiple of the
    manifest's size)."""
    budget = [len(packed) // 16 + 10_000]

    def count(obj: Any) -> Any:
        budget[0] -= 1
        if budget[0] < 0:
            raise _TooManyObjects
        return obj

    try:
        return msgpack.unpackb(
            packed,
            raw=False,
            strict_map_key=True,
            list_hook=count,
            object_hook=count,
            max_str_len=MAX_MANIFEST,
            max_bin_len=0,
            max_array_len=1_000_000,
            max_map_len=100_000,
            max_ext_len=0,
        )
    except _TooManyObjects:
        raise _fail(path, "is damaged (its manifest holds too many nested objects)") from None
    except (Exception, RecursionError):  # msgpack raises several unrelated types for bad input
        raise _fail(path, "is damaged (unreadable manifest)") from None


def _depth(obj: Any, limit: int) -> bool:
    """Whether ``obj`` (decoded JSON or msgpack) nests no deeper than ``limit`` (walked without recursion)."""
    stack = [(obj, 0)]
    while stack:
        cur, d = stack.pop()
        if d > limit:
            return False
        if isinstance(cur, dict):
            stack.extend((v, d + 1) for v in cur.values())
        elif isinstance(cur, list):
            stack.extend((v, d + 1) for v in cur)
    return True


def read_manifest(path: str) -> tuple[dict[str, Any], int]:
    """Read and validate a snapshot's manifest (a sealed snapshot: decrypted in memory first); returns it
    and the size of the snapshot (of its plaintext, for a sealed one).

    Raises:
        BadFileError: missing, foreign, truncated, corrupt, altered or another format version; sealed and
            no key, or a wrong one, given.
        ResourceError: the arrays it declares would not fit in the memory available now.
    """
    manifest, size, sizes = _read_manifest(_source(path))
    sizes.ensure_memory()
    return manifest, size


@dataclass(frozen=True)
class _DeclaredSizes:
    """What a manifest's arrays declare together: their bytes, and the first size no compressed section
    can expand to (a lie)."""

    path: str
    raw_total: int
    lie: str | None

    def ensure_memory(self) -> None:
        """Refuse the arrays when they would not fit in memory now, or when one declares a lie.

        Raises:
            ResourceError: they would not fit. BadFileError: a section cannot hold what it declares.
        """
        ensure_memory(self.raw_total, f"loading snapshot {self.path!r}", "the current world was left as it was")
        if self.lie is not None:
            raise _fail(self.path, f"is damaged ({self.lie})")


class _View:
    """A read-only file over bytes in memory: seek, and read a copy of only what is asked for."""

    def __init__(self, data: memoryview) -> None:
        self._data, self._at = data, 0

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        self._at = max(0, offset + (len(self._data) if whence == os.SEEK_END else 0))
        return self._at

    def read(self, n: int = -1) -> bytes:
        end = len(self._data) if n < 0 else self._at + n
        part = bytes(self._data[self._at : end])
        self._at += len(part)
        return part


class _Readable(Protocol):
    def seek(self, offset: int, whence: int = ..., /) -> int: ...

    def read(self, n: int = ..., /) -> bytes: ...


@dataclass(frozen=True)
class _Source:
    """Where a snapshot's bytes are: the file ``name``, or ``data`` in memory (a sealed file or sealed
    bytes, decrypted and authenticated once; bytes given to :func:`load_snapshot_bytes`). ``name`` names
    it in errors."""

    name: str
    data: memoryview | None = None

    def open(self) -> AbstractContextManager[_Readable]:
        """The bytes, open for reading (seek, read)."""
        if self.data is not None:
            return nullcontext(_View(self.data))
        return reading_file(
            self.name,
            "snapshot",
            missing="check the path (snapshots usually end in .snap)",
            not_a="snapshot file",
            give="a .snap file",
        )


def _source(path: str) -> _Source:
    """The snapshot file ``path``: read where it lies, or, sealed, decrypted into memory (never to disk).

    Raises:
        BadFileError: missing or unreadable; sealed and no key or a wrong one given, or altered.
        ResourceError: a sealed file's plaintext would not fit in memory.
    """
    with _Source(path).open() as fh:
        if not sealed.is_sealed(fh.read(len(sealed.MAGIC))):
            return _Source(path)
        size = fh.seek(0, os.SEEK_END)
        fh.seek(0)
        return _Source(path, memoryview(sealed.unseal_file(fh, size, name=path)))


def _memory_source(data: bytes | bytearray | memoryview, name: str, data_key: bytes | None = None) -> _Source:
    """Snapshot bytes in memory as a source: sealed ones decrypted (with ``data_key``, else the world key)."""
    view = memoryview(data).cast("B")
    if sealed.is_sealed(bytes(view[: len(sealed.MAGIC)])):
        view = memoryview(sealed.unseal_bytes(view, name=name, data_key=data_key))
    return _Source(name, view)


def _read_manifest(source: _Source) -> tuple[dict[str, Any], int, _DeclaredSizes]:
    """:func:`read_manifest` without the memory check: the manifest, the snapshot's size, and what its
    arrays declare (checked by the caller, after what it knows of the world: the bound on the events)."""
    path = source.name
    with source.open() as fh:
        size = fh.seek(0, os.SEEK_END)
        fh.seek(0)
        head = fh.read(len(MAGIC) + 1)
        if head[: len(MAGIC)] != MAGIC:
            if head.startswith(b"SQLite format 3"[: len(head)]) and len(head) == len(MAGIC) + 1:
                raise _fail(path, "is a world file, not a snapshot: open it directly, or give a .snap file")
            raise _fail(path, "is not an Agora snapshot (wrong magic bytes)")
        if len(head) < len(MAGIC) + 1 or head[len(MAGIC)] not in READABLE_VERSIONS:
            version = head[len(MAGIC)] if len(head) > len(MAGIC) else None
            if version is None:
                raise _fail(path, "is truncated")
            raise _fail(path, f"has format version {version}, this Agora reads {_READABLE}")
        if size < len(head) + TRAILER.size:
            raise _fail(path, "is truncated")
        fh.seek(size - TRAILER.size)
        offset, crc, end = TRAILER.unpack(fh.read(TRAILER.size))
        if end != END_MAGIC:
            raise _fail(path, "is truncated or damaged (no end marker)")
        length = size - TRAILER.size - offset
        if not len(head) <= offset < size - TRAILER.size or length > MAX_MANIFEST:
            raise _fail(path, "is damaged (bad manifest position)")
        ensure_memory(
            length * 24,
            f"reading the {length / 2**20:.0f} MiB manifest of snapshot {path!r}",
            "the current world was left as it was",
        )
        fh.seek(offset)
        packed = fh.read(length)
    if len(packed) != length:
        raise _fail(path, "is truncated (it changed while being read)")
    if zlib.crc32(packed) != crc:
        raise _fail(path, "is damaged (manifest checksum mismatch)")
    manifest = _unpack_manifest(path, packed)
    if not isinstance(manifest, dict) or manifest.get("format") != "agora-snapshot":
        raise _fail(path, "is not an Agora snapshot")
    version = manifest.get("format_version")
    if not _is_int(version) or version != head[len(MAGIC)]:
        shown = version if _is_int(version) else "unknown"
        if _is_int(version) and version in READABLE_VERSIONS:  # and the header says another
            raise _fail(path, f"is damaged (its header says format version {head[len(MAGIC)]}, its manifest {shown})")
        raise _fail(path, f"has format version {shown}, this Agora reads {_READABLE}")
    return manifest, size, _validate_entries(path, manifest, offset)


_READABLE = "versions " + ", ".join(str(v) for v in READABLE_VERSIONS[:-1]) + f" and {READABLE_VERSIONS[-1]}"


def _validate_entries(path: str, manifest: dict[str, Any], manifest_offset: int) -> _DeclaredSizes:
    """Check every array entry's types, names, dtype, shape and place before anything is allocated; returns
    what they declare together (for the memory check)."""
    entries = manifest.get("arrays")
    if not isinstance(entries, list) or not isinstance(manifest.get("meta"), str):
        raise _fail(path, "is damaged (bad manifest)")
    raw_total = 0
    lie: str | None = None
    seen: set[str] = set()
    first = len(MAGIC) + 1 + 5
    for ent in entries:
        if not isinstance(ent, dict):
            raise _fail(path, "is damaged (bad array entry)")
        name, dtype, shape = ent.get("name"), ent.get("dtype"), ent.get("shape")
        off, size, raw, crc = ent.get("offset"), ent.get("size"), ent.get("raw_size"), ent.get("crc32")
        if not isinstance(name, str) or not 0 < len(name) <= 200 or name in seen:
            shown = repr(name[:60]) if isinstance(name, str) else "with a bad name"
            raise _fail(path, f"is damaged (bad or repeated array entry {shown})")
        seen.add(name)
        if not isinstance(dtype, str) or dtype not in ALLOWED_DTYPES:
            raise _fail(path, f"is damaged (array {name} has an unsupported type; only plain numbers are accepted)")
        if not (isinstance(shape, list) and len(shape) <= 4 and all(_is_int(d) and 0 <= d < 2**40 for d in shape)):
            raise _fail(path, f"is damaged (bad shape for array {name})")
        if not (_is_int(off) and _is_int(size) and _is_int(raw) and _is_int(crc)):
            raise _fail(path, f"is damaged (bad sizes for array {name})")
        if raw != math.prod(shape) * np.dtype(dtype).itemsize or not 0 <= crc < 2**32:
            raise _fail(path, f"is damaged (array {name} size does not match its shape)")
        if not (first <= off and size >= 0 and off + size <= manifest_offset):
            raise _fail(path, f"is truncated or damaged (array {name} lies outside the file)")
        # zstd cannot expand data more than MAX_RATIO times (a 4-byte block per 128 KiB at best): a
        # larger declared size is a lie, refused before a buffer of that size is allocated.
        if lie is None and ((raw == 0) != (size == 0) or raw > size * MAX_RATIO):
            lie = f"array {name} declares {raw} bytes from {size} compressed bytes"
        raw_total += raw
    return _DeclaredSizes(path, raw_total, lie)


#: Errors that assembling a world from a hostile (checksummed but forged) manifest can raise.
_ASSEMBLY_ERRORS = (
    TypeError,
    ValueError,
    KeyError,
    IndexError,
    OverflowError,
    AttributeError,
    RecursionError,
    ZeroDivisionError,
    BadParameterError,
)


def _check_meta(path: str, meta: Any) -> dict[str, Any]:
    if not isinstance(meta, dict) or not _depth(meta, MAX_DEPTH):
        raise _fail(path, "is damaged (bad world metadata)")
    for key in ("agents", "edges"):
        if not _is_int(meta.get(key)) or not 0 <= meta[key] < 2**40:
            raise _fail(path, f"is damaged (bad {key} count)")
    messages, sessions = meta.get("messages") or [], meta.get("sessions") or []
    if not isinstance(messages, list) or not isinstance(sessions, list):
        raise _fail(path, "is damaged (bad message or session list)")

    def int64(x: Any) -> bool:  # what a world file's INTEGER columns hold
        return _is_int(x) and -(2**63) <= x < 2**63

    for m in messages:
        if not (
            isinstance(m, dict)
            and int64(m.get("id"))
            and isinstance(m.get("text"), str)
            and _is_int(m.get("topics"))
            and 0 <= m["topics"] < 2**64
            and int64(m.get("created_tick"))
            and (m.get("author") is None or int64(m.get("author")))
        ):
            raise _fail(path, "is damaged (a message is invalid)")
    for rec in sessions:
        # The fields that PropagationSession.from_record keeps as they are, and world files store as columns.
        if not (
            isinstance(rec, dict)
            and all(int64(rec.get(k)) for k in ("id", "message_id", "priority", "reached", "exposed"))
            and all(rec.get(k) is None or int64(rec[k]) for k in ("started_tick", "ended_tick"))
            and all(rec.get(k) is None or isinstance(rec[k], str) for k in ("error", "traceback", "recommender"))
            and isinstance(rec.get("params"), dict)
            and isinstance(rec.get("message") or {}, dict)
        ):
            raise _fail(path, "is damaged (a propagation session is invalid)")
    for what, records in (("message", messages), ("session", sessions)):
        twice = repeated_id(records)
        if twice is not None:
            raise _fail(path, f"is damaged (two {what}s have id {twice})")
    config = meta.get("config") or {}
    if isinstance(config, dict) and config.get("social") is not None:
        social = config["social"]
        try:
            if not isinstance(social, dict):
                raise TypeError("not a record")
            social_settings(social)
        except (*_ASSEMBLY_ERRORS, AgoraError):
            raise _fail(path, "is damaged (bad living-network settings)") from None
    return meta


def _check_history_bound(path: str, manifest: dict[str, Any], meta: dict[str, Any]) -> None:
    """Refuse history columns longer than the world can hold, from the sizes the manifest declares, before
    anything is decompressed: a session has at most one adoption event per agent it adopted (its
    ``reached``) and one first feed exposure per agent it showed the message to (its ``feed_exposed``),
    each at most the number of agents. (Per session the rows must then match its arrays exactly:
    :mod:`sim.store.sessioncheck`.) A few KB of zstd can declare a hundred million rows that are each in
    range; without this bound they would be decompressed and written before any check could tell."""
    n = meta["agents"]
    sessions = meta.get("sessions") or []

    def held(key: str) -> int:  # checked by _check_meta: the sessions are records, ``reached`` an integer
        return sum(min(max(rec.get(key), 0), n) for rec in sessions if _is_int(rec.get(key)))

    bounds = {
        "events": (held("reached"), "adoption events", "adopted"),
        "exposures": (held("feed_exposed"), "first feed exposures", "were shown the message in feeds"),
    }
    for ent in manifest["arrays"]:
        table, _, _ = ent["name"].partition(".")
        if table not in bounds:
            continue
        bound, rows, how = bounds[table]
        declared = math.prod(ent["shape"])
        if declared > bound:
            raise _fail(
                path,
                f"is damaged (its {ent['name']} column declares {declared:,} {rows}, but only {bound:,} agents "
                f"{how} in its {len(sessions):,} sessions)",
            )


def _check_column_values(path: str, c: dict[str, np.ndarray], n: int) -> None:
    """Values a forged file could hold that the structure checks let through but that would break the
    world later: shares outside 0..1 or not numbers at all (SQLite stores NaN as NULL) and persona codes
    beyond the word lists. (Infinite trust is refused with the graph.)"""

    for col in ("activity_rate", "susceptibility", "reputation", "influence"):
        if not np.all((c[col] >= 0) & (c[col] <= 1)):  # false for NaN too
            raise _fail(path, f"is damaged (column {col} holds a value outside 0..1)")
    codes = c["persona_codes"]
    if n and (
        np.any(codes.max(axis=0) >= np.array([len(p) for p in POOLS])) or c["persona_style"].max() >= len(STYLES)
    ):
        raise _fail(path, "is damaged (a persona code is out of range)")
    if n and c["community"].min() < -1:
        raise _fail(path, "is damaged (a community number is negative)")


def load_snapshot(path: str, *, progress: Progress = None) -> World:
    """Read, verify and assemble the world stored in a snapshot. Nothing live is touched.

    Raises:
        BadFileError: the file is missing, foreign, truncated, corrupt or of another version.
        ResourceError: the machine cannot hold it.
    """
    with SnapshotReader(path, progress=progress) as reader:
        return reader.world()


def load_snapshot_bytes(
    data: bytes | bytearray | memoryview, *, source: str = "in memory", data_key: bytes | None = None
) -> World:
    """:func:`load_snapshot` of the bytes of a snapshot (:func:`snapshot_bytes`) in memory, sealed or not
    (with ``data_key``, the raw key it was sealed with; else the world key). ``source`` names it in errors.

    Raises:
        BadFileError: the bytes are foreign, truncated, corrupt or altered; sealed and no or a wrong key.
        ResourceError: the machine cannot hold it.
    """
    with SnapshotReader(source, data=data, data_key=data_key) as reader:
        return reader.world()


def snapshot_history(path: str) -> dict[str, Any] | None:
    """How much history snapshot ``path`` holds, from its manifest: ``{"since", "events", "exposures"}``
    (the first tick and the numbers of rows); None when it holds none (slim, or of format version 1).

    Raises:
        BadFileError: see :func:`read_manifest`.
    """
    manifest, _ = read_manifest(path)
    record = manifest.get("history")
    if not isinstance(record, dict):
        return None
    rows = {e["name"]: (e["shape"] or [0])[0] for e in manifest["arrays"]}
    return {
        "since": record.get("since"),
        "events": rows.get("events.tick", 0),
        "exposures": rows.get("exposures.tick", 0),
    }


def load_snapshot_history(path: str, *, progress: Progress = None) -> tuple[World, History | None]:
    """:func:`load_snapshot`, and the world's history (adoption events and feed exposures; None when the
    snapshot has none: slim, or of format version 1), checked against the world. For
    ``sim.store.worldfile.save_world(world, ..., history=history)``.

    Raises:
        BadFileError: the file is missing, foreign, truncated, corrupt or of another version.
        ResourceError: the machine cannot hold it.
    """
    with SnapshotReader(path, progress=progress) as reader:
        return reader.world(), reader.history()


class SnapshotReader:
    """A snapshot being read: its manifest and metadata are checked at once, then every array is checked
    and decompressed in worker threads (each array is its own zstd frame; zstd and crc32 let go of the
    interpreter lock), the agent columns first. :meth:`columns` waits for those alone, so a caller can
    start writing the agents while the graph is still being read (``agora load``); :meth:`world` waits for
    everything and validates the whole world, its history included (:meth:`history`). Use it as a context
    manager (the threads are stopped).

    What the file named and was ignored (LLM servers: see ``sim.store.worldfile.file_llm_settings``) is in
    the world's ``load_warnings`` and, unless ``quiet``, said once on stderr.

    A sealed snapshot (:mod:`sim.core.sealed`) is decrypted and authenticated in memory once, here, and
    read from there. With ``data`` (the bytes of a snapshot, sealed or not; ``data_key``: the raw key of
    sealed ones, else the world key), the snapshot is read from memory and ``path`` only names it.

    Raises (from the constructor, :meth:`columns` and :meth:`world`):
        BadFileError: the file is missing, foreign, truncated, corrupt, altered or of another version;
            sealed and no key, or a wrong one, given.
        ResourceError: the machine cannot hold it.
    """

    def __init__(
        self,
        path: str,
        *,
        progress: Progress = None,
        quiet: bool = False,
        refuse: bool = True,
        data: bytes | bytearray | memoryview | None = None,
        data_key: bytes | None = None,
    ) -> None:
        self.path = path
        self._source = _source(path) if data is None else _memory_source(data, path, data_key)
        self._quiet = quiet  # not a word on stderr about what the file named and was ignored (agora check)
        self._refuse = refuse
        #: What is wrong with the world's sessions and history (:mod:`sim.store.sessioncheck`), one sentence
        #: each: with ``refuse`` (loading), :meth:`world` raises at the first; else (``agora check``) listed here.
        self.problems: list[str] = []
        manifest, _, sizes = _read_manifest(self._source)
        try:
            meta = json.loads(manifest["meta"])
        except (ValueError, RecursionError):
            raise _fail(path, "is damaged (bad world metadata)") from None
        self._manifest = manifest
        self._meta = _check_meta(path, meta)
        _check_history_bound(path, manifest, self._meta)  # before the memory check: a lie, not a large world
        sizes.ensure_memory()
        #: Numbers of agents and edges (checked: integers in range).
        self.n: int = self._meta["agents"]
        self.edges: int = self._meta["edges"]
        self._progress = progress
        self._total = sum(e["raw_size"] for e in manifest["arrays"]) or 1
        self._done = 0
        self._lock = threading.Lock()
        self._columns: dict[str, np.ndarray] | None = None
        self._world: World | None = None
        self._history: History | None = None
        entries = manifest["arrays"]
        # The agent columns first; then the largest first, so that the last to finish is a small one.
        order = sorted(entries, key=lambda e: (not e["name"].startswith("agent."), -e["size"]))
        self._pool = ThreadPoolExecutor(max_workers=_threads(), thread_name_prefix="agora-snapshot")
        self._futures = {ent["name"]: self._pool.submit(self._read_one, ent) for ent in order}

    def __enter__(self) -> SnapshotReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop reading (arrays not started are not read)."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _read_one(self, ent: dict[str, Any]) -> np.ndarray:
        path = self.path
        with self._source.open() as fh:
            fh.seek(ent["offset"] - 5)
            if fh.read(5) != _bin_header(ent["size"]):
                raise _fail(path, f"is damaged (array {ent['name']} header)")
            comp = fh.read(ent["size"])
        if len(comp) != ent["size"] or zlib.crc32(comp) != ent["crc32"]:
            raise _fail(path, f"is damaged (checksum mismatch in array {ent['name']})")
        if ent["raw_size"]:
            try:
                declared = zstandard.frame_content_size(comp)
            except zstandard.ZstdError:
                declared = -1
            if declared != ent["raw_size"]:
                raise _fail(path, f"is damaged (array {ent['name']} has the wrong length)")
        out = np.empty(ent["shape"], dtype=np.dtype(ent["dtype"]))
        if out.nbytes:
            _decompress_into(zstandard.ZstdDecompressor(), comp, out, path, ent["name"])
        del comp
        with self._lock:
            self._done += ent["raw_size"]
            if self._progress:
                self._progress("reading snapshot", self._done / self._total)
        return out

    def _array(self, name: str) -> np.ndarray:
        try:
            return self._futures[name].result()
        except OSError as exc:
            raise BadFileError(f"snapshot {self.path!r} cannot be read ({exc.strerror})") from None

    def columns(self) -> dict[str, np.ndarray]:
        """The agent columns, checked (dtypes, shapes, ranges); the graph may still be being read.

        Raises:
            BadFileError: a column is missing, of the wrong shape or holds values out of range.
        """
        if self._columns is None:
            missing = [k for k in AGENT_COLUMNS if f"agent.{k}" not in self._futures]
            if missing:
                raise BadFileError(
                    f"snapshot {self.path!r} is incomplete (missing 'agent.{missing[0]}'); it may be "
                    "damaged; the current world was left as it was"
                )
            columns = {k: self._array(f"agent.{k}") for k in AGENT_COLUMNS}
            problems = check_columns(columns, self.n)
            if problems:
                raise _fail(self.path, f"is inconsistent: {problems[0]}")
            _check_column_values(self.path, columns, self.n)
            self._columns = columns
        return self._columns

    def world(self) -> World:
        """The whole world, assembled and validated (waits for every array)."""
        if self._world is not None:
            return self._world
        path, manifest = self.path, self._manifest
        self.columns()
        arrays = {e["name"]: self._array(e["name"]) for e in manifest["arrays"]}  # the file's order
        try:
            world = world_from_parts(self._meta, arrays, path=None, source=f"snapshot {path!r}")
        except BadFileError as exc:
            raise BadFileError(f"{exc}; the current world was left as it was") from None
        except _ASSEMBLY_ERRORS:
            raise _fail(path, "is damaged (bad world metadata)") from None
        try:
            problems = world.graph.check()
        except _ASSEMBLY_ERRORS:
            problems = ["its graph arrays do not fit together"]
        if problems:
            raise _fail(path, f"is inconsistent ({problems[0]})")
        if not np.all(np.isfinite(world.graph.trust)):
            raise _fail(path, "is damaged (an edge's trust is not a finite number)")
        try:
            world.llm_cache.load(manifest.get("llm_cache") or [])
            posts = manifest.get("posts") or {}
            if not isinstance(posts, dict):
                raise ValueError("posts is not a record")
            total, next_id = posts.get("total"), posts.get("next_id")
            if total is not None and (not _is_int(total) or total < 0):
                raise ValueError("bad post count")
            if next_id is not None and (not _is_int(next_id) or next_id < 1):
                raise ValueError("bad post id")
            world.posts.load(posts.get("rows") or [], total=total, next_id=next_id)
            rows = world.posts.rows()
            if any(not 0 <= r[2] < world.n for r in rows):
                raise ValueError("a post names an agent the world does not have")
            if len({r[0] for r in rows}) != len(rows):
                raise ValueError("two posts have the same id")
            memory = manifest.get("memory") or {}
            if not isinstance(memory, dict):
                raise ValueError("memory is not a record")
            next_id = memory.get("next_id")
            if next_id is not None and (not _is_int(next_id) or next_id < 1):
                raise ValueError("bad memory id")
            world.memory.load(
                memory.get("events") or [],
                memory.get("summaries") or [],
                memory.get("agents") or [],
                world.n,
                next_id=next_id,
            )
        except (ValueError, TypeError) as exc:
            raise _fail(path, f"is damaged (LLM cache, posts or memory: {exc})") from None
        self._history = history = self._checked_history(world, arrays)
        # Per session, the checks agora check runs on a world file: counters, curve and ticks against the
        # arrays, and the events and exposures against them (a checksum proves the file was not damaged, not
        # that its history is true).
        since = world.tick if history is None else history.since
        self.problems = history_problems(
            world,
            since,
            None if history is None else history.events,
            None if history is None else history.exposures,
            rows=("the snapshot's event history", "the snapshot's exposure history"),
        )
        if self.problems and self._refuse:
            more = len(self.problems) - 1
            also = f"; {more} more problem(s): see 'agora check {path}'" if more else ""
            raise _fail(path, f"is inconsistent ({self.problems[0]}{also})")
        self._world = world
        if not self._quiet:
            tell_load_warnings(world)  # LLM servers the file named, ignored (also in world.load_warnings)
        return world

    def history(self) -> History | None:
        """The world's adoption events and first feed exposures, checked against it (waits for the whole
        world); None when the snapshot holds none (saved slim, or of format version 1)."""
        self.world()
        return self._history

    def _checked_history(self, world: World, arrays: dict[str, np.ndarray]) -> History | None:
        """The history the manifest declares, from the ``events.*`` and ``exposures.*`` arrays, every value
        checked against ``world`` (:func:`sim.store.eventrows.history_problem`)."""
        record = self._manifest.get("history")
        named = [k for k in arrays if k.startswith(("events.", "exposures."))]
        if record is None:
            if named:
                raise _fail(self.path, f"is damaged (array {named[0]} without the history it belongs to)")
            return None
        if not isinstance(record, dict) or not isinstance(record.get("recommenders", []), list):
            raise _fail(self.path, "is damaged (bad history record)")
        columns = {
            t: {k[len(t) + 1 :]: v for k, v in arrays.items() if k.startswith(t + ".")} for t in ("events", "exposures")
        }
        since: Any = record.get("since")  # checked next, with everything else
        history = History(columns["events"], columns["exposures"], record.get("recommenders", []), since)
        problem = history_problem(history, n=world.n, tick=world.tick, sessions=[s.id for s in world.sessions])
        if problem is not None:
            raise _fail(self.path, f"is damaged ({problem})")
        return history


def _threads() -> int:
    """Threads for reading a snapshot's arrays: one per CPU this process may use (at most 4)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(4, cpus))


def _decompress_into(dctx: zstandard.ZstdDecompressor, comp: bytes, out: np.ndarray, path: str, name: str) -> None:
    """Decompress straight into ``out``; more or less data than declared is an error."""
    target = out.data.cast("B")
    filled = 0
    try:
        # One call takes the whole frame: smaller reads hand the interpreter lock back and forth.
        with dctx.stream_reader(io.BytesIO(comp), read_size=max(len(comp), 1)) as reader:
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
