"""A disk that fills up during a save: the previous file stays byte-identical, no temporary file is left,
and the user reads one sentence saying the disk is full (or the file size limit was hit) and that the
previous file is untouched.

A real full disk is simulated in a child process with ``RLIMIT_FSIZE`` (with SIGXFSZ ignored, a write past
the limit fails with EFBIG, exactly where ENOSPC would); ENOSPC, EDQUOT and SQLite's "database or disk is
full" are injected in-process.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from sim.errors import ResourceError
from sim.store.create import synthetic_world
from sim.store.snapshot import load_snapshot, save_snapshot
from sim.store.worldfile import open_world, save_world

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")

CHILD = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
limit = int(sys.argv[1])
mode = sys.argv[2]
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
if mode == "cli":
    from sim.cli.main import main
    sys.exit(main(sys.argv[3:]))
else:  # what the TUI does: save_world(..., force=True) over the open world, errors shown as one line
    import asyncio
    from sim.errors import AgoraError
    from sim.store.snapshot import load_snapshot
    from sim.store.worldfile import save_world
    try:
        asyncio.run(save_world(load_snapshot(sys.argv[3]), sys.argv[4], force=True, keep_audit=True))
    except AgoraError as exc:
        sys.stderr.write(f"error: {exc}\\n")
        sys.exit(2)
"""


def digest(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def run_limited(limit: int, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", AGORA_PROGRESS="0")
    return subprocess.run(
        [sys.executable, "-c", CHILD, str(limit), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=str(ROOT),
        env=env,
    )


def assert_refused(res: subprocess.CompletedProcess, previous: Path, before: str, folder: Path) -> str:
    assert res.returncode == 2, (res.returncode, res.stderr[-3000:])
    err = res.stderr
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert "Traceback" not in err
    assert "file size limit" in err or "disk is full" in err, err
    assert "untouched" in err and repr(str(previous)) in err, err
    assert digest(previous) == before
    assert not [p.name for p in folder.iterdir() if ".tmp-" in p.name], list(folder.iterdir())
    return err


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("disk")
    big = synthetic_world("big", 4000, avg_degree=8, seed=2)
    big.advance(2)
    small = synthetic_world("small", 200, avg_degree=4, seed=3)
    paths = {"folder": folder, "world": folder / "w.db", "snap": folder / "s.snap", "big_snap": folder / "big.snap"}
    asyncio.run(save_world(big, str(paths["world"])))
    save_snapshot(small, str(paths["snap"]))
    save_snapshot(big, str(paths["big_snap"]))
    return paths


def test_save_snapshot_over_an_existing_one(files):
    snap, before = files["snap"], digest(files["snap"])
    limit = files["big_snap"].stat().st_size // 2  # the new snapshot cannot be finished
    res = run_limited(limit, "cli", "save", str(files["world"]), str(snap), "--force")
    assert_refused(res, snap, before, files["folder"])
    assert load_snapshot(str(snap)).n == 200


def test_load_snapshot_over_an_existing_world(files):
    world, before = files["world"], digest(files["world"])
    res = run_limited(200_000, "cli", "load", str(files["big_snap"]), str(world), "--force")
    assert_refused(res, world, before, files["folder"])
    assert asyncio.run(open_world(str(world))).n == 4000


def test_new_world_over_an_existing_one(files):
    world, before = files["world"], digest(files["world"])
    res = run_limited(100_000, "cli", "new", str(world), "--agents", "3000", "--force")
    assert_refused(res, world, before, files["folder"])


def test_tui_style_save_world_over_the_open_world(files):
    world, before = files["world"], digest(files["world"])
    res = run_limited(150_000, "api", str(files["big_snap"]), str(world))
    assert_refused(res, world, before, files["folder"])


def test_the_same_saves_succeed_without_the_limit(files, tmp_path):
    """The limit, not the data, made them fail."""
    out = tmp_path / "fresh.snap"
    res = run_limited(2**40, "cli", "save", str(files["world"]), str(out))
    assert res.returncode == 0, res.stderr[-2000:]
    assert load_snapshot(str(out)).n == 4000


# --- ENOSPC, EDQUOT and SQLite's "disk is full", injected in-process ----------------------------------------


class _FillingFile:
    """A real file whose writes fail with ``code`` once ``room`` bytes are written."""

    def __init__(self, fh, room: int, code: int):
        self._fh, self._room, self._code = fh, room, code

    def write(self, data) -> int:
        n = len(memoryview(data).cast("B"))
        if n > self._room:
            raise OSError(self._code, os.strerror(self._code))
        self._room -= n
        return self._fh.write(data)

    def __getattr__(self, name):
        return getattr(self._fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._fh.close()


@pytest.mark.parametrize(
    "code, words", [(errno.ENOSPC, "disk is full"), (errno.EDQUOT, "quota"), (errno.EFBIG, "file size limit")]
)
def test_snapshot_write_errors_become_one_sentence(tmp_path, monkeypatch, code, words):
    import builtins

    from sim.store import snapshot

    world = synthetic_world("x", 500, seed=1)
    path = tmp_path / "x.snap"
    save_snapshot(synthetic_world("old", 50, seed=2), str(path))
    before = digest(path)
    real_open = builtins.open
    monkeypatch.setattr(
        snapshot,
        "open",
        lambda p, mode="r", *a, **k: (
            _FillingFile(real_open(p, mode, *a, **k), 2000, code) if "w" in mode else real_open(p, mode, *a, **k)
        ),
        raising=False,
    )
    with pytest.raises(ResourceError) as info:
        save_snapshot(world, str(path), force=True)
    msg = str(info.value)
    assert words in msg and "untouched" in msg and "\n" not in msg
    assert digest(path) == before and [p.name for p in tmp_path.iterdir()] == ["x.snap"]
    monkeypatch.undo()
    new = tmp_path / "new.snap"
    monkeypatch.setattr(
        snapshot,
        "open",
        lambda p, mode="r", *a, **k: (
            _FillingFile(real_open(p, mode, *a, **k), 10, code) if "w" in mode else real_open(p, mode, *a, **k)
        ),
        raising=False,
    )
    with pytest.raises(ResourceError, match="no partial file"):
        save_snapshot(world, str(new))
    assert not new.exists() and [p.name for p in tmp_path.iterdir()] == ["x.snap"]


@pytest.mark.parametrize("message", ["database or disk is full", "disk I/O error"])
async def test_sqlite_disk_full_during_save_world(tmp_path, monkeypatch, message):
    from sim.store import worldfile as store

    path = tmp_path / "w.db"
    await save_world(synthetic_world("old", 100, seed=1), str(path))
    before = digest(path)

    async def full(*args, **kwargs):
        raise sqlite3.OperationalError(message)

    monkeypatch.setattr(store, "run_statements", full)  # the bulk rows: agents, arrays, the graph
    if message == "disk I/O error":  # told apart from a failing disk by the free space left
        monkeypatch.setattr("sim.core.diskio._disk_nearly_full", lambda p: True)
    with pytest.raises(ResourceError) as info:
        await save_world(synthetic_world("new", 300, seed=2), str(path), force=True)
    msg = str(info.value)
    assert "disk is full" in msg and "untouched" in msg and "\n" not in msg
    assert digest(path) == before
    assert [p.name for p in tmp_path.iterdir()] == ["w.db"]


async def test_other_write_failures_are_not_disguised(tmp_path, monkeypatch):
    """A bug (not a disk problem) keeps its own exception and traceback."""
    from sim.store import worldfile as store

    async def bug(*args, **kwargs):
        raise sqlite3.IntegrityError("UNIQUE constraint failed")

    monkeypatch.setattr(store, "run_statements", bug)
    with pytest.raises(sqlite3.IntegrityError):
        await save_world(synthetic_world("new", 100, seed=2), str(tmp_path / "w.db"))
    assert list(tmp_path.iterdir()) == []


def test_unwritable_folder_is_one_sentence(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        from sim.errors import BadFileError

        with pytest.raises(BadFileError, match="permission"):
            save_snapshot(synthetic_world("x", 50, seed=1), str(folder / "x.snap"))
    finally:
        folder.chmod(0o700)


def test_permission_denied_is_one_sentence_even_as_root(tmp_path, monkeypatch):
    import builtins

    from sim.errors import BadFileError
    from sim.store import snapshot

    real_open = builtins.open

    def denied(p, mode="r", *a, **k):
        if "w" in mode:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), p)
        return real_open(p, mode, *a, **k)

    monkeypatch.setattr(snapshot, "open", denied, raising=False)
    with pytest.raises(BadFileError, match="Permission denied.*permissions"):
        save_snapshot(synthetic_world("x", 50, seed=1), str(tmp_path / "x.snap"))
    assert list(tmp_path.iterdir()) == []
