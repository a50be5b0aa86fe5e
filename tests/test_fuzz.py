"""Hostile and broken files, fuzzed: snapshots (truncations, bit flips, forged manifests and arrays with
their checksums recomputed, huge declared sizes, deep nesting, wrong versions) and edge lists (arbitrary
bytes, random lines, gzip damage). Every case ends in a loaded, consistent world or in one clear
:class:`AgoraError` (one line, naming the file); never another exception, never a memory blow-up from a
declared size, and through the CLI: exit code 2, one line on stderr, the existing world file untouched.

The number of examples per test is fixed (``max_examples``, no database reuse is needed): see EXAMPLES.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import gzip
import hashlib
import io
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import msgpack
import numpy as np
import psutil
import pytest
import zstandard
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sim.cli.main import main as cli_main
from sim.core.persona import Persona
from sim.core.world import check_columns
from sim.engine.simulation import Simulation
from sim.errors import AgoraError, BadFileError, ResourceError
from sim.store.create import imported_world, synthetic_world
from sim.store.importer import read_edge_list
from sim.store.snapshot import END_MAGIC, FORMAT_VERSION, MAGIC, TRAILER, load_snapshot, save_snapshot
from sim.store.worldfile import save_world

#: Examples per hypothesis test; their sum is what one run of this file fuzzes (reported by the suite).
EXAMPLES = {
    "snapshot_truncated": 250,
    "snapshot_bit_flips": 400,
    "snapshot_random_body": 100,
    "snapshot_forged_manifest": 600,
    "snapshot_forged_meta": 500,
    "snapshot_dtype_shape": 300,
    "snapshot_forged_arrays": 400,
    "snapshot_cli": 30,
    "edges_bytes": 250,
    "edges_random_lines": 500,
    "edges_valid": 250,
    "edges_one_bad_line": 300,
    "edges_gzip": 150,
    "edges_cli": 10,
}


def fuzz(name: str):
    return settings(
        max_examples=EXAMPLES[name],
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
            HealthCheck.large_base_example,
        ],
    )


# --- one small but complete world, snapshotted once -----------------------------------------------------

DIR = tempfile.mkdtemp(prefix="agora-fuzz-")


def _make_world():
    w = synthetic_world("fuzz", 60, avg_degree=4, seed=3)
    sim = Simulation(w)
    sim.inject("hello", params={"p": 0.2}, seeds="random:3", seed=1)
    asyncio.run(sim.run(ticks=2))
    w.llm_cache.put("k" * 64, "m", [{"role": "user", "content": "q"}], "a", 1, 1)
    w.set_persona(2, Persona("Ann", "a bio", "dry"))
    w.delta.follow(np.array([1]), np.array([5]), np.array([0.5], np.float32))
    return w


WORLD = _make_world()
SNAP = os.path.join(DIR, "base.snap")
save_snapshot(WORLD, SNAP)
DATA = Path(SNAP).read_bytes()
OFFSET = TRAILER.unpack(DATA[-TRAILER.size :])[0]
MANIFEST = msgpack.unpackb(DATA[OFFSET : -TRAILER.size], raw=False)
META = json.loads(MANIFEST["meta"])
NAMES = [e["name"] for e in MANIFEST["arrays"]]
_loaded = load_snapshot(SNAP)
ARRAYS = {}
for _e in MANIFEST["arrays"]:
    _comp = DATA[_e["offset"] : _e["offset"] + _e["size"]]
    _raw = zstandard.ZstdDecompressor().decompress(_comp) if _e["raw_size"] else b""
    ARRAYS[_e["name"]] = np.frombuffer(_raw, dtype=_e["dtype"]).reshape(_e["shape"]).copy()
#: This process's resident memory when the module's first test starts (set by ``_module_baseline``; not
#: at import, which pytest does for every module before any test runs, so other modules' tests would count).
RSS0 = psutil.Process().memory_info().rss
#: Growth of this process's resident memory allowed across the whole module (a declared size must never
#: be allocated: the largest ones declared below are terabytes).
RSS_SLACK = 200 * 2**20


@pytest.fixture(scope="module", autouse=True)
def _module_baseline():
    global RSS0
    RSS0 = psutil.Process().memory_info().rss
    yield
    shutil.rmtree(DIR, ignore_errors=True)


def _write(data: bytes, name: str = "case.snap") -> str:
    path = os.path.join(DIR, name)
    with open(path, "wb") as fh:
        fh.write(data)
    return path


def pack(manifest, body: bytes | None = None) -> bytes:
    """A snapshot with ``manifest`` (any msgpack-able object, or raw bytes) after ``body`` (the magic and
    the array sections of the base file), with a correct trailer and manifest checksum."""
    body = DATA[:OFFSET] if body is None else body
    packed = manifest if isinstance(manifest, bytes) else msgpack.packb(manifest, use_bin_type=True)
    return body + packed + TRAILER.pack(len(body), zlib.crc32(packed), END_MAGIC)


def build(arrays: dict[str, tuple[str, list, bytes]], manifest: dict | None = None) -> bytes:
    """A snapshot laid out from scratch: ``arrays`` maps names to (dtype string, shape, raw bytes); every
    offset, size and checksum is correct, whatever the dtype, shape and bytes claim."""
    manifest = copy.deepcopy(MANIFEST if manifest is None else manifest)
    out = bytearray(MAGIC + bytes([FORMAT_VERSION]))
    cctx = zstandard.ZstdCompressor(level=1)
    entries = []
    for name, (dtype, shape, raw) in arrays.items():
        comp = cctx.compress(raw) if raw else b""
        out += b"\xc6" + struct.pack(">I", len(comp))
        entries.append(
            {
                "name": name,
                "dtype": dtype,
                "shape": list(shape),
                "offset": len(out),
                "size": len(comp),
                "raw_size": len(raw),
                "crc32": zlib.crc32(comp),
            }
        )
        out += comp
    manifest["arrays"] = entries
    return pack(manifest, bytes(out))


def base_arrays() -> dict[str, tuple[str, list, bytes]]:
    return {k: (v.dtype.str, list(v.shape), v.tobytes()) for k, v in ARRAYS.items()}


def check_world(world) -> None:
    """A world that loaded must be consistent and survive another round trip."""
    assert world.graph.check() == []
    assert check_columns(world.columns, world.n) == []
    assert world.n == world.columns["ids"].shape[0]
    again = os.path.join(DIR, "again.snap")
    save_snapshot(world, again, force=True)
    back = load_snapshot(again)
    assert back.n == world.n and back.num_edges == world.num_edges


def outcome(data: bytes, *, must_fail: bool = False) -> AgoraError | None:
    """Load ``data`` as a snapshot: the error it raises (an AgoraError, one line naming the file), or None
    when it is a valid snapshot whose world is consistent. Anything else fails the test."""
    path = _write(data)
    try:
        world = load_snapshot(path)
    except AgoraError as exc:
        assert isinstance(exc, (BadFileError, ResourceError)), repr(exc)
        msg = str(exc)
        assert msg and "\n" not in msg and len(msg) < 600, msg
        assert repr(path) in msg or path in msg, msg
        assert "Traceback" not in msg
        result: AgoraError | None = exc
    else:
        assert not must_fail, "a damaged snapshot loaded"
        check_world(world)
        result = None
    grown = psutil.Process().memory_info().rss - RSS0
    assert grown < RSS_SLACK, f"resident memory grew by {grown / 2**20:.0f} MiB"
    return result


# --- hostile values -------------------------------------------------------------------------------------

MSGPACK_INTS = st.one_of(
    st.integers(-(2**63), 2**64 - 1),
    st.sampled_from(
        [-1, 0, 1, 2, 5, 59, 60, 61, 240, 2**31 - 1, 2**31, 2**32, 2**40, 2**53, 2**63 - 1, -(2**63), 2**64 - 1]
    ),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    MSGPACK_INTS,
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([float("nan"), float("inf"), -0.0, 1e308, 0.5]),
    st.text(max_size=12),
    st.sampled_from(["", "0", "-1", "NaN", "<i8", "|O", "agora-snapshot", "running", "\x00"]),
)
HOSTILE = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=8,
)
JSON_INTS = st.one_of(st.integers(), st.sampled_from([-1, 0, 1, 59, 60, 61, 240, 2**63, 2**64, 10**400, -(10**30)]))
JSON_HOSTILE = st.recursive(
    st.one_of(st.none(), st.booleans(), JSON_INTS, st.floats(), st.text(max_size=12)),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=8,
)
TOP_KEYS = sorted(MANIFEST) + ["extra"]
ENTRY_KEYS = ["name", "dtype", "shape", "offset", "size", "raw_size", "crc32", "extra"]


# --- snapshots: damage to the bytes -----------------------------------------------------------------------


def test_base_snapshot_loads_and_is_the_world():
    assert outcome(DATA) is None
    assert _loaded.n == WORLD.n and _loaded.tick == WORLD.tick and len(_loaded.sessions) == 1


@fuzz("snapshot_truncated")
@given(cut=st.integers(0, len(DATA) - 1))
def test_truncated_snapshot(cut):
    outcome(DATA[:cut], must_fail=True)


@fuzz("snapshot_bit_flips")
@given(
    flips=st.lists(
        st.tuples(st.integers(0, len(DATA) - 1), st.integers(0, 7)), min_size=1, max_size=4, unique_by=lambda f: f[0]
    )
)
def test_bit_flips_are_caught(flips):
    bad = bytearray(DATA)
    for pos, bit in flips:
        bad[pos] ^= 1 << bit
    outcome(bytes(bad), must_fail=True)


@fuzz("snapshot_random_body")
@given(body=st.binary(max_size=400), trailer=st.booleans(), offset=st.integers(0, 2**64 - 1))
def test_random_bytes_behind_the_magic(body, trailer, offset):
    data = MAGIC + bytes([FORMAT_VERSION]) + body
    if trailer:  # a well-formed trailer pointing anywhere, with the checksum of whatever it points at
        if offset % 3 == 0:
            offset = offset % (len(data) + 1)
        start = min(offset, len(data))
        data += TRAILER.pack(offset, zlib.crc32(data[start:]), END_MAGIC)
    outcome(data, must_fail=True)


# --- snapshots: forged manifests, checksums recomputed ----------------------------------------------------


@st.composite
def manifest_edits(draw):
    m = copy.deepcopy(MANIFEST)
    kind = draw(
        st.sampled_from(
            [
                "top",
                "del_top",
                "whole",
                "entry",
                "del_entry_key",
                "dup",
                "drop",
                "rename",
                "offset",
                "posts",
                "cache",
                "reorder",
            ]
        )
    )
    entries = m["arrays"]
    i = draw(st.integers(0, len(entries) - 1))
    if kind == "top":
        m[draw(st.sampled_from(TOP_KEYS))] = draw(HOSTILE)
    elif kind == "del_top":
        m.pop(draw(st.sampled_from(TOP_KEYS)), None)
    elif kind == "whole":
        m = draw(HOSTILE)
    elif kind == "entry":
        entries[i][draw(st.sampled_from(ENTRY_KEYS))] = draw(HOSTILE)
    elif kind == "del_entry_key":
        entries[i].pop(draw(st.sampled_from(ENTRY_KEYS)), None)
    elif kind == "dup":
        copy_ = dict(entries[i])
        if draw(st.booleans()):
            copy_["name"] = draw(st.sampled_from(NAMES + ["agent.extra", "session.9.state", "delta.x"]))
        entries.insert(draw(st.integers(0, len(entries))), copy_)
    elif kind == "drop":
        del entries[i]
    elif kind == "rename":
        entries[i]["name"] = draw(st.sampled_from(NAMES + ["", "x" * 300, "graph.trust"]))
    elif kind == "offset":  # sections pointing at other sections, the manifest, the trailer, outside
        entries[i]["offset"] = draw(
            st.sampled_from(
                [0, 9, 14, OFFSET - 1, OFFSET, OFFSET + 5, len(DATA), 2**63, entries[(i + 1) % len(entries)]["offset"]]
            )
        )
        if draw(st.booleans()):
            entries[i]["size"] = draw(st.sampled_from([0, 1, OFFSET, 2**32 - 1, 2**32, -5]))
    elif kind == "posts":
        rows = m["posts"]["rows"] or [[1, 0, 3, 1, 1, "reply", "hi", "offline"]]
        m["posts"]["rows"] = rows
        r = draw(st.integers(0, len(rows) - 1))
        rows[r][draw(st.integers(0, 7))] = draw(HOSTILE)
    elif kind == "cache":
        row = m["llm_cache"][0]
        row[draw(st.integers(0, len(row) - 1))] = draw(HOSTILE)
    else:
        draw(st.randoms()).shuffle(entries)
    return m


@fuzz("snapshot_forged_manifest")
@given(m=manifest_edits())
def test_forged_manifest(m):
    outcome(pack(m))


@st.composite
def meta_edits(draw):
    meta = copy.deepcopy(META)
    sess = meta["sessions"][0]
    targets = [
        (meta, sorted(meta) + ["extra"]),
        (meta["config"], sorted(meta["config"]) + ["minutes_per_tick", "start_hour", "source", "social", "analysis"]),
        (sess, sorted(sess)),
        (meta["messages"][0], sorted(meta["messages"][0])),
        (meta["rng_state"], sorted(meta["rng_state"])),
        (meta["rng_state"]["state"], ["state", "inc"]),
        (meta["persona_overrides"], ["2", "59", "60", "-1", "x"]),
        (sess["rng_state"]["state"], ["state", "inc"]),
    ]
    target, keys = draw(st.sampled_from(targets))
    key = draw(st.sampled_from(keys))
    if draw(st.integers(0, 4)) == 0:
        target.pop(key, None)
    else:
        target[key] = draw(JSON_HOSTILE)
    text = json.dumps(meta)
    if draw(st.integers(0, 9)) == 0:  # not JSON at all, or JSON of another shape
        text = draw(st.one_of(st.text(max_size=40), JSON_HOSTILE.map(json.dumps)))
    return text


@fuzz("snapshot_forged_meta")
@given(text=meta_edits())
def test_forged_world_metadata(text):
    m = copy.deepcopy(MANIFEST)
    m["meta"] = text
    outcome(pack(m))


HOSTILE_DTYPES = [
    "|O",
    "<U10",
    "|S4",
    "|V8",
    "<M8[s]",
    "<m8[s]",
    "<c16",
    "<f2",
    ">i8",
    ">f4",
    "=i8",
    "i8",
    "<i16",
    "[('a', '<i4')]",
    "{'names': ['a'], 'formats': ['<i8']}",
    "<i8,<i8",
    "bool",
    "int64",
    "O",
    "",
]


@fuzz("snapshot_dtype_shape")
@given(
    name=st.sampled_from(NAMES),
    dtype=st.one_of(st.sampled_from(HOSTILE_DTYPES + sorted({"<i8", "<i4", "|u1", "<f4", "<f8", "|b1", "<u2"}))),
    shape=st.one_of(
        st.lists(st.integers(0, 2**41), max_size=6),
        st.sampled_from([[2**40], [2**39, 2**39], [2**32, 2**32], [2**21] * 4, [0, 2**39], [], [60, 0]]),
    ),
    consistent=st.booleans(),
)
def test_hostile_dtypes_and_shapes(name, dtype, shape, consistent):
    """Declared shapes up to 2**160 elements: refused (or, when they hold no elements, read) without
    allocating; dtypes that are not plain little-endian numbers are refused."""
    m = copy.deepcopy(MANIFEST)
    ent = next(e for e in m["arrays"] if e["name"] == name)
    ent["dtype"], ent["shape"] = dtype, shape
    if consistent:
        try:
            ent["raw_size"] = min(math.prod(shape) * np.dtype(dtype).itemsize, 2**64 - 1)
        except (TypeError, ValueError, SyntaxError):
            pass
    outcome(pack(m))


@pytest.mark.parametrize("shape", [[2**32, 2**32], [2**39, 2**39, 2**39], [2**21, 2**21, 2**21, 2**22]])
def test_shape_products_that_overflow_int64_are_refused(shape):
    """An empty section whose shape multiplies to 2**64 (0 in int64 arithmetic) is not an empty array."""
    arrays = base_arrays()
    arrays["agent.ids"] = ("<i8", shape, b"")
    outcome(build(arrays), must_fail=True)


def _edit_array(draw, arr: np.ndarray) -> tuple[str, list, bytes]:
    how = draw(st.sampled_from(["set", "random", "reverse", "shorter", "longer", "retype", "garbage"]))
    a = arr.copy()
    if how == "set" and a.size:
        pos = draw(st.integers(0, a.size - 1))
        values = [-1, 0, 1, 59, 60, 61, 239, 240, 241, 2**31 - 1, -(2**31), 127, -128, 255]
        if a.dtype.kind == "f":
            values += [float("nan"), float("inf"), -float("inf"), -1.0, 1e30]
        v = draw(st.sampled_from(values))
        with np.errstate(all="ignore"):
            a.reshape(-1)[pos] = np.array(v).astype(a.dtype)
    elif how == "random":
        seed = draw(st.integers(0, 2**32 - 1))
        raw = np.random.default_rng(seed).integers(0, 256, a.nbytes, dtype=np.uint8).tobytes()
        return a.dtype.str, list(a.shape), raw
    elif how == "reverse":
        a = a[::-1].copy()
    elif how == "shorter" and a.size:
        a = a.reshape(-1)[:-1].copy()
    elif how == "longer":
        a = np.concatenate([a.reshape(-1), a.reshape(-1)[:1]]) if a.size else np.zeros(1, a.dtype)
    elif how == "retype":
        to = draw(st.sampled_from(["<i8", "<i4", "<f4", "<f8", "|u1", "<u8"]))
        with np.errstate(all="ignore"):
            a = a.astype(to)
    elif how == "garbage":  # bytes that are not the declared length
        return a.dtype.str, list(a.shape), a.tobytes() + b"\x00" * draw(st.integers(1, 9))
    return a.dtype.str, list(a.shape), a.tobytes()


@st.composite
def array_edits(draw):
    arrays = base_arrays()
    for _ in range(draw(st.integers(1, 2))):
        name = draw(st.sampled_from(NAMES))
        arrays[name] = _edit_array(draw, ARRAYS[name])
    if draw(st.integers(0, 5)) == 0:
        arrays.pop(draw(st.sampled_from(NAMES)))
    return arrays


@fuzz("snapshot_forged_arrays")
@given(arrays=array_edits())
def test_forged_array_contents(arrays):
    """Arrays that decompress and check out but do not fit together: CSR offsets not monotone, indices out
    of range, lengths that disagree with the agent and edge counts, unknown states."""
    outcome(build(arrays))


def test_lying_zstd_frames_are_refused_before_allocating():
    """A section whose frame header (or manifest) claims far more than its bytes can expand to."""
    arrays = base_arrays()
    huge = 2**37
    m = copy.deepcopy(MANIFEST)
    data = build(arrays, m)
    offset = TRAILER.unpack(data[-TRAILER.size :])[0]
    m2 = msgpack.unpackb(data[offset : -TRAILER.size], raw=False)
    ent = m2["arrays"][0]
    ent["shape"], ent["raw_size"] = [huge // 8], huge
    err = outcome(pack(m2, data[:offset]), must_fail=True)
    assert err is not None
    # The frame itself lies too: declare the content size that the manifest claims.
    frame = zstandard.ZstdCompressor(level=1).compress(b"\x00" * 4096)
    params = zstandard.get_frame_parameters(frame)
    assert params.content_size == 4096
    data = build({"agent.ids": ("<i8", [512], b"\x00" * 4096)})
    offset = TRAILER.unpack(data[-TRAILER.size :])[0]
    m3 = msgpack.unpackb(data[offset : -TRAILER.size], raw=False)
    m3["arrays"][0]["shape"], m3["arrays"][0]["raw_size"] = [2**28], 2**31
    assert outcome(pack(m3, data[:offset]), must_fail=True) is not None


# --- snapshots: deep nesting, versions, foreign files -----------------------------------------------------


def _deep_msgpack(depth: int, kind: str) -> bytes:
    if kind == "array":
        return b"\x91" * depth + b"\x90"
    if kind == "map":
        return b"\x81\xa1k" * depth + b"\x80"
    return (b"\x91\x81\xa1k") * (depth // 2) + b"\xc0"


@pytest.mark.parametrize("kind", ["array", "map", "mixed"])
@pytest.mark.parametrize("where", ["manifest", "value"])
def test_deeply_nested_manifest(kind, where):
    deep = _deep_msgpack(10_000, kind)
    if where == "manifest":
        outcome(pack(deep), must_fail=True)
    else:  # the manifest map with one deep value: {"extra": <deep>, ...rest}
        rest = {k: v for k, v in MANIFEST.items()}
        packed = msgpack.packb(rest, use_bin_type=True)
        assert packed[0] & 0xF0 == 0x80  # a fixmap: add one key
        body = bytes([packed[0] + 1]) + packed[1:] + msgpack.packb("extra") + deep
        outcome(pack(body), must_fail=True)


@pytest.mark.parametrize("depth", [100, 5_000, 100_000])
@pytest.mark.parametrize("where", ["meta", "config", "session_params", "message"])
def test_deeply_nested_world_metadata(depth, where):
    deep_json = "[" * depth + "]" * depth
    if where == "meta":
        text = deep_json
    else:
        meta = copy.deepcopy(META)
        target = {
            "config": meta["config"],
            "session_params": meta["sessions"][0]["params"],
            "message": meta["messages"][0],
        }[where]
        target["deep"] = "@DEEP@"
        text = json.dumps(meta).replace('"@DEEP@"', deep_json)
    m = copy.deepcopy(MANIFEST)
    m["meta"] = text
    err = outcome(pack(m))
    assert err is not None or depth <= 64


def test_many_small_objects_in_the_manifest_are_bounded():
    """A manifest of millions of empty containers (64 bytes of memory per byte of file) is refused."""
    body = b"\xdd" + struct.pack(">I", 900_000) + b"\x90" * 900_000
    m = msgpack.packb({k: v for k, v in MANIFEST.items()}, use_bin_type=True)
    packed = bytes([m[0] + 1]) + m[1:] + msgpack.packb("extra") + b"\xdc\x00\x01" + body
    outcome(pack(packed), must_fail=True)


@pytest.mark.parametrize("version", [0, 4, 99, 255])
def test_other_format_versions(version):
    bad = bytearray(DATA)
    bad[len(MAGIC)] = version
    assert f"version {version}" in str(outcome(bytes(bad), must_fail=True))
    m = copy.deepcopy(MANIFEST)
    m["format_version"] = version
    assert f"version {version}" in str(outcome(pack(m), must_fail=True))


@pytest.mark.parametrize("value", ["1", 1.0, None, True, [1], {"v": 1}])
def test_format_version_of_the_wrong_type(value):
    m = copy.deepcopy(MANIFEST)
    m["format_version"] = value
    outcome(pack(m), must_fail=True)


def test_other_app_versions_load():
    """The app version is informative: a snapshot written by another release of the same format loads."""
    for v in ["0.0.1", "99.0", "", 5, None]:
        m = copy.deepcopy(MANIFEST)
        m["app_version"] = v
        assert outcome(pack(m)) is None


def test_world_file_empty_file_folder_and_fifo_as_snapshot(tmp_path):
    db = str(tmp_path / "w.db")
    asyncio.run(save_world(WORLD, db))
    assert "world file" in str(outcome(Path(db).read_bytes(), must_fail=True))
    for data in (b"", MAGIC, MAGIC[:3], b"\x00" * 100):
        outcome(data, must_fail=True)
    with pytest.raises(BadFileError, match="folder"):
        load_snapshot(str(tmp_path))
    if hasattr(os, "mkfifo"):
        fifo = str(tmp_path / "pipe.snap")
        os.mkfifo(fifo)
        with pytest.raises(BadFileError, match="not a regular file"):
            load_snapshot(fifo)  # would block forever if it were opened


def test_memory_never_follows_a_declared_size():
    """In a child whose address space is capped (RLIMIT_AS), snapshots declaring terabytes, and one
    declaring 2 GiB backed by a lying frame, all end in one clear error rather than MemoryError."""
    cases = []
    for shape, dtype in (([2**40], "<f8"), ([2**28], "<f8"), ([2**30], "|u1"), ([2**21, 2**21], "<i8")):
        m = copy.deepcopy(MANIFEST)
        m["arrays"][0].update(shape=shape, dtype=dtype, raw_size=math.prod(shape) * np.dtype(dtype).itemsize)
        cases.append(_write(pack(m), f"mem{len(cases)}.snap"))
    data = build({"agent.ids": ("<i8", [2**17], b"\x00" * 2**20)})
    offset = TRAILER.unpack(data[-TRAILER.size :])[0]
    m = msgpack.unpackb(data[offset : -TRAILER.size], raw=False)
    m["arrays"][0]["shape"], m["arrays"][0]["raw_size"] = [2**28], 2**31
    cases.append(_write(pack(m, data[:offset]), "mem_frame.snap"))
    code = (
        "import json, resource, sys\n"
        "from sim.store.snapshot import load_snapshot\n"
        "from sim.errors import AgoraError\n"
        "import psutil\n"
        "vm = psutil.Process().memory_info().vms\n"
        "resource.setrlimit(resource.RLIMIT_AS, (vm + 768 * 2**20, resource.RLIM_INFINITY))\n"
        "out = []\n"
        "for p in sys.argv[1:]:\n"
        "    try:\n"
        "        load_snapshot(p)\n"
        "        out.append('loaded')\n"
        "    except AgoraError as exc:\n"
        "        out.append(type(exc).__name__)\n"
        "    except BaseException as exc:\n"
        "        out.append('BUG ' + repr(exc))\n"
        "print(json.dumps(out))\n"
    )
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    res = subprocess.run(
        [sys.executable, "-c", code, *cases],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        env=env,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    results = json.loads(res.stdout.strip().splitlines()[-1])
    assert all(r in ("BadFileError", "ResourceError") for r in results), results


# --- snapshots through the CLI: exit 2, one line, the existing world untouched ----------------------------

CLI_WORLD = os.path.join(DIR, "existing.db")
asyncio.run(save_world(synthetic_world("existing", 50, avg_degree=4, seed=1), CLI_WORLD))
CLI_WORLD_HASH = hashlib.sha256(Path(CLI_WORLD).read_bytes()).hexdigest()


def run_cli(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli_main(argv)
    return code, err.getvalue()


def assert_cli_refuses(argv: list[str], protected: str | None = CLI_WORLD) -> str:
    before = set(os.listdir(DIR))
    code, err = run_cli(argv)
    assert code == 2, (code, err)
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err and err.startswith("agora: error: ")
    if protected == CLI_WORLD:
        assert hashlib.sha256(Path(CLI_WORLD).read_bytes()).hexdigest() == CLI_WORLD_HASH
    after = set(os.listdir(DIR))
    assert not [f for f in after - before if ".tmp-" in f], after - before
    return err


@fuzz("snapshot_cli")
@given(how=st.sampled_from(["cut", "flip"]), pos=st.integers(0, len(DATA) - 1), bit=st.integers(0, 7))
def test_cli_load_of_a_damaged_snapshot_keeps_the_world(how, pos, bit):
    if how == "cut":
        bad = DATA[:pos]
    else:
        b = bytearray(DATA)
        b[pos] ^= 1 << bit
        bad = bytes(b)
    path = _write(bad, "cli.snap")
    assert_cli_refuses(["load", path, CLI_WORLD, "--force"])


@pytest.mark.parametrize(
    "case", ["huge", "dtype", "deep", "meta", "inconsistent", "version", "world", "empty", "folder", "missing", "fifo"]
)
def test_cli_load_of_hostile_files_keeps_the_world(case, tmp_path):
    m = copy.deepcopy(MANIFEST)
    if case == "huge":
        m["arrays"][0].update(shape=[2**40], raw_size=2**43)
    elif case == "dtype":
        m["arrays"][0]["dtype"] = "|O"
    elif case == "meta":
        m["meta"] = json.dumps({**META, "agents": float("inf")})
    elif case == "version":
        m["format_version"] = 3
    data = pack(m)
    if case == "deep":
        data = pack(_deep_msgpack(10_000, "mixed"))
    elif case == "inconsistent":
        arrays = base_arrays()
        ind = ARRAYS["graph.out_indices"].copy()
        ind[0] = 10_000
        arrays["graph.out_indices"] = (ind.dtype.str, list(ind.shape), ind.tobytes())
        data = build(arrays)
    path = _write(data, "hostile.snap")
    if case == "world":
        path = CLI_WORLD
        other = os.path.join(DIR, "other.db")
        shutil.copy(CLI_WORLD, other)
        err = assert_cli_refuses(["load", path, other, "--force"])
        assert "world file" in err
        os.remove(other)
        return
    if case == "empty":
        path = _write(b"", "empty.snap")
    elif case == "folder":
        path = str(tmp_path)
    elif case == "missing":
        path = str(tmp_path / "nope.snap")
    elif case == "fifo":
        if not hasattr(os, "mkfifo"):
            pytest.skip("no FIFOs here")
        path = str(tmp_path / "pipe.snap")
        os.mkfifo(path)
    assert_cli_refuses(["load", path, CLI_WORLD, "--force"])


# --- edge lists ---------------------------------------------------------------------------------------------


def import_outcome(data: bytes, *, directed: bool = False):
    """Import ``data``: the EdgeList when it is a valid edge list (checked), else the BadFileError."""
    path = os.path.join(DIR, "edges.txt")
    with open(path, "wb") as fh:
        fh.write(data)
    try:
        el = read_edge_list(path, directed=directed)
    except AgoraError as exc:
        assert isinstance(exc, (BadFileError, ResourceError)), repr(exc)
        msg = str(exc)
        assert msg and "\n" not in msg and repr(path) in msg, msg
        with pytest.raises(type(exc)):
            imported_world("fuzz", path, directed=directed)
        return exc
    n = el.ids.shape[0]
    assert n >= 1 and np.all(el.ids[1:] > el.ids[:-1])  # (np.diff would overflow for ids 2**63 apart)
    keys = el.src.astype(np.int64) * n + el.dst
    assert np.all(keys[1:] > keys[:-1]) and np.all(el.src != el.dst)
    assert el.src.min(initial=0) >= 0 and el.dst.max(initial=0) < n
    if not directed:  # both directions of every pair
        assert set(zip(el.src.tolist(), el.dst.tolist())) == set(zip(el.dst.tolist(), el.src.tolist()))
    world = imported_world("fuzz", path, directed=directed)
    assert world.graph.check() == [] and world.num_edges == el.src.shape[0]
    assert np.array_equal(world.columns["ids"], el.ids)
    return el


@fuzz("edges_bytes")
@given(data=st.binary(max_size=300), gz=st.booleans(), directed=st.booleans())
def test_arbitrary_bytes_as_an_edge_list(data, gz, directed):
    import_outcome(gzip.compress(data, mtime=0) if gz else data, directed=directed)


TOKENS = st.one_of(
    st.integers(-(2**63), 2**63 - 1).map(str),
    st.sampled_from(
        [
            "0",
            "1",
            "2",
            "-1",
            "+3",
            "007",
            "99999999999999999999",
            "-9223372036854775809",
            "9223372036854775807",
            "1.5",
            "1e3",
            "nan",
            "inf",
            "-inf",
            "NaN",
            "0x10",
            "1_000",
            "١٢",
            "",
            " ",
            "\x00",
            "\x0b",
            "\x1c",
            "\u2028",
            "\u00a0",
            "#",
            "%",
            "x",
            "source",
            "target",
            "weight",
            '"1"',
            "0.5",
            "-0.5",
            "2.0",
            "1e400",
            "\ufeff",
        ]
    ),
    st.text(max_size=6),
)
SEPS = st.sampled_from([" ", "\t", ",", ", ", "  ", ";", "|", " \t "])
ENDS = st.sampled_from(["\n", "\r\n", "\r", "\n\n"])


@st.composite
def random_lines(draw):
    lines = []
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.integers(0, 9))
        if kind == 0:
            lines.append(
                draw(
                    st.sampled_from(
                        [
                            "# comment",
                            "% comment",
                            "",
                            "   ",
                            "#",
                            "source,target",
                            "source,target,weight",
                            "from to",
                            "a,b",
                        ]
                    )
                )
            )
        elif kind == 1:
            lines.append(draw(st.text(max_size=20)))
        else:
            toks = draw(st.lists(TOKENS, min_size=0, max_size=4))
            lines.append(draw(SEPS).join(toks) + draw(st.sampled_from(["", "", " # note", "%x", " "])))
    text = "".join(line + draw(ENDS) for line in lines)
    if draw(st.booleans()):
        text = text.rstrip("\r\n")  # no final newline
    if draw(st.integers(0, 9)) == 0:
        text = "\ufeff" + text
    return text


@fuzz("edges_random_lines")
@given(text=random_lines(), directed=st.booleans(), gz=st.integers(0, 5))
def test_random_lines_as_an_edge_list(text, directed, gz):
    data = text.encode("utf-8", "surrogatepass")
    assume(b"\xed\xa0" not in data)  # lone surrogates are not UTF-8 anyway
    import_outcome(gzip.compress(data, mtime=0) if gz == 0 else data, directed=directed)


@st.composite
def valid_files(draw):
    """A valid edge list with everything the README allows, and the pairs it holds."""
    ids = st.integers(-(2**63), 2**63 - 1) if draw(st.booleans()) else st.integers(0, 40)
    pairs = draw(st.lists(st.tuples(ids, ids), min_size=1, max_size=30))
    csv = draw(st.booleans())
    weighted = csv and draw(st.booleans())
    weights = [draw(st.sampled_from([0.0, 0.25, 0.5, 1.0, 1e-9])) for _ in pairs]
    sep = draw(st.sampled_from([",", ", "])) if csv else draw(st.sampled_from([" ", "\t", "  "]))
    lines: list[tuple[str, bool]] = []  # (text, holds a pair)
    if csv or draw(st.integers(0, 4)) == 0:
        lines.append((sep.join(["source", "target"] + (["weight"] if weighted else [])), False))
    for (u, v), w in zip(pairs, weights):
        while draw(st.integers(0, 5)) == 0:
            lines.append((draw(st.sampled_from(["# c", "% c", "", "  ", "#1 2"])), False))
        row = [str(u), str(v)] + ([repr(w)] if weighted else [])
        if not csv and draw(st.integers(0, 5)) == 0:
            row.append(str(draw(st.integers(0, 2**40))))  # a SNAP timestamp column: ignored
        lines.append((sep.join(row) + draw(st.sampled_from(["", "", " # trailing comment"])), True))
    ends = [draw(ENDS) for _ in lines]
    text = "".join(t + e for (t, _), e in zip(lines, ends))
    if draw(st.booleans()):
        text = text.rstrip("\r\n")
    return text, pairs, weighted


@fuzz("edges_valid")
@given(f=valid_files(), directed=st.booleans(), gz=st.booleans())
def test_valid_edge_lists_import_exactly(f, directed, gz):
    text, pairs, weighted = f
    data = text.encode()
    el = import_outcome(gzip.compress(data, mtime=0) if gz else data, directed=directed)
    assert not isinstance(el, AgoraError), el
    ids = sorted({x for p in pairs for x in p})
    assert el.ids.tolist() == ids  # original ids preserved, ascending
    want = {(u, v) for u, v in pairs if u != v}
    if not directed:
        want |= {(v, u) for u, v in want}
    got = {(int(el.ids[s]), int(el.ids[d])) for s, d in zip(el.src, el.dst)}
    assert got == want  # one edge per distinct (directed) pair
    assert el.stats["self_loops_dropped"] == sum(u == v for u, v in pairs)
    assert (el.weight is not None) == weighted


BAD_FIELDS = [
    "x",
    "1.5",
    "1e3",
    "nan",
    "0x10",
    "1_000",
    "١٢",
    "99999999999999999999",
    "-9223372036854775809",
    '"1"',
    "\x00",
    "1#",
    "",
]


@st.composite
def one_bad_line(draw):
    """A valid file with one malformed line at a known line number."""
    text, _pairs, weighted = draw(valid_files())
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    csv = "," in text.split("\n")[0] or weighted
    header = lines[0].startswith("source") or lines[0].startswith("source,")
    lo = 1 if header else 0
    at = draw(st.integers(lo, len(lines)))
    sep = "," if csv else " "
    kind = draw(st.sampled_from(["field", "one", "weight"] if weighted else ["field", "one"]))
    if not any(ln.split("#")[0].split("%")[0].strip() for ln in lines[:at]):
        kind = "one"  # a first line of two fields that are not numbers is a header, not a malformed line
    if kind == "field":
        bad = draw(st.sampled_from(BAD_FIELDS))
        if bad in ("1#",):
            bad = "x1"
        row = [bad, "2"] if draw(st.booleans()) else ["3", bad]
        bad_line = sep.join(row + (["0.5"] if weighted else []))
    elif kind == "one":
        bad_line = draw(st.sampled_from(["5", "7 ", "x"]))
    else:
        bad_line = sep.join(["1", "2", draw(st.sampled_from(["heavy", "", "nan", "inf", "-0.5", "1.5", "1e400"]))])
    lines.insert(at, bad_line)
    return "\n".join(lines), at + 1, weighted


@fuzz("edges_one_bad_line")
@given(f=one_bad_line())
def test_a_malformed_line_is_named_by_its_number(f):
    text, line_no, _weighted = f
    err = import_outcome(text.encode())
    assert isinstance(err, BadFileError), f"accepted a malformed line {line_no}"
    msg = str(err)
    # (a NUL byte near the start makes it a binary file, which is said instead)
    assert f"line {line_no}:" in msg or ("\x00" in text and "binary" in msg), (msg, line_no)


@fuzz("edges_gzip")
@given(
    n=st.integers(1, 400),
    cut=st.floats(0, 1, exclude_max=True),
    flip=st.integers(0, 10**6),
    bit=st.integers(0, 7),
    how=st.sampled_from(["cut", "flip", "append", "double"]),
)
def test_damaged_gzip(n, cut, flip, bit, how):
    plain = "".join(f"{i} {i * 7 % 13}\n" for i in range(n)).encode()
    whole = gzip.compress(plain, mtime=0)
    if how == "cut":
        data = whole[: int(len(whole) * cut)]
    elif how == "flip":
        b = bytearray(whole)
        b[flip % len(b)] ^= 1 << bit
        data = bytes(b)
    elif how == "append":
        data = whole + bytes([flip % 256]) * (1 + flip % 5)
    else:  # two gzip members: one stream
        data = whole + whole
    import_outcome(data)


def test_gzip_bomb_is_refused_by_memory(monkeypatch):
    """A small gzip that expands beyond the memory available is stopped while decompressing."""
    from sim.store import importer

    bomb = gzip.compress(b"1 2\n" * (4 * 2**20), mtime=0)  # 16 MiB of text from ~16 KiB
    monkeypatch.setattr(importer, "_text_budget", lambda: 4 * 2**20)
    path = _write(bomb, "bomb.txt.gz")
    with pytest.raises(ResourceError, match="memory"):
        read_edge_list(path)
    with pytest.raises(ResourceError, match="memory"):
        read_edge_list(_write(b"1 2\n" * (2 * 2**20), "big.txt"))


def test_import_refuses_what_memory_cannot_hold(monkeypatch):
    """Lines short enough to pass the text check still need memory per line to clean and build: refused
    after parsing, before the sort, as one sentence naming the file."""

    class Little:
        available = 50 * 2**20

    monkeypatch.setattr(psutil, "virtual_memory", lambda: Little)
    path = _write(b"1 2\n" * 800_000, "many.txt")
    with pytest.raises(ResourceError, match="memory") as info:
        read_edge_list(path)
    assert "many.txt" in str(info.value) and "800,000 lines" in str(info.value)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"# only\n% comments\n",
        b"\r\n\r\n",
        b"\xef\xbb\xbf",
        b"1 2 \x00\n",
        b"source,target\n",
        b"\x1f\x8b",
        b"\x1f\x8b\x08\x00" + b"\x00" * 20,
    ],
)
def test_empty_and_degenerate_edge_lists(content):
    assert isinstance(import_outcome(content), BadFileError)


def test_edge_list_fifo_and_folder(tmp_path):
    with pytest.raises(BadFileError, match="folder"):
        read_edge_list(str(tmp_path))
    if hasattr(os, "mkfifo"):
        fifo = str(tmp_path / "edges.fifo")
        os.mkfifo(fifo)
        with pytest.raises(BadFileError, match="not a regular file"):
            read_edge_list(fifo)


def test_first_line_with_an_inline_comment_or_a_label_is_an_edge(tmp_path):
    el = import_outcome(b"1 2 # first\n3 4\n")
    assert el.ids.tolist() == [1, 2, 3, 4] and el.weight is None
    el = import_outcome(b"1 2 friend\n3 4 colleague\n")
    assert el.ids.tolist() == [1, 2, 3, 4]


def test_ids_at_both_ends_of_int64_survive_a_round_trip():
    el = import_outcome(b"-1 9223372036854775807\n")
    assert el.ids.tolist() == [-1, 2**63 - 1]
    world = imported_world("ends", os.path.join(DIR, "edges.txt"))
    save_snapshot(world, os.path.join(DIR, "ends.snap"), force=True)
    assert load_snapshot(os.path.join(DIR, "ends.snap")).n == 2


def test_first_edge_after_a_long_comment_block_is_found():
    el = import_outcome(b"# " + b"x" * 100 + b"\n" * 2000 + b"5 6\n")
    assert el.ids.tolist() == [5, 6]


@fuzz("edges_cli")
@given(
    content=st.sampled_from([b"", b"1 2\n3 x\n", b"\x00\x01", b"source,target,weight\n1,2,9\n", b"1;2\n"]),
    gz=st.booleans(),
)
def test_cli_new_from_a_bad_edge_list(content, gz):
    path = os.path.join(DIR, "bad_edges.txt")
    with open(path, "wb") as fh:
        fh.write(gzip.compress(content, mtime=0) if gz else content)
    target = os.path.join(DIR, "fresh.db")
    err = assert_cli_refuses(["new", target, "--edges", path], protected=None)
    assert "edge list" in err
    assert not os.path.exists(target)
