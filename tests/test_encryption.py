"""Encryption at rest (issue 50): encrypted worlds (SQLCipher 4), sealed snapshots, and every opener.

A marker string in an agent's persona and in a message's text is found in no byte of the encrypted world, its
snapshot or any file left beside them (and is found in a clear world's: the scan can fail); the world opens,
runs and passes ``agora check`` with its key, and every opener refuses it in one sentence without the key or
with a wrong one. ``agora encrypt``, ``decrypt`` and ``rekey`` keep the world's contents, and a kill -9 at
any instant of one leaves the old file or the new one, each opened by its own key. Without the crypto extra,
``--encrypt`` says which pip command installs it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, agora, digest, notified

import sim
from sim.core import sealed, worldkey
from sim.core.persona import Persona
from sim.errors import BadFileError
from sim.store.check import check_world
from sim.store.create import synthetic_world
from sim.store.snapshot import save_snapshot
from sim.store.worldfile import open_world, read_meta, save_world

MARK = "ZQXJ-ethics-board-marker-7731"
KEY = "correct horse battery staple"


@pytest.fixture
def key_file(tmp_path: Path) -> str:
    path = tmp_path / "world.key"
    path.write_text(KEY + "\n")
    path.chmod(0o600)
    return str(path)


@pytest.fixture(autouse=True)
def _no_key_left(monkeypatch: pytest.MonkeyPatch):
    """No key in the environment unless a test sets one; the process key is forgotten after each test."""
    monkeypatch.delenv(worldkey.KEY_ENV, raising=False)
    monkeypatch.delenv(worldkey.NEW_KEY_ENV, raising=False)
    yield
    worldkey.use_key(None)


def _marked_world(path: str, *, encrypt: bool) -> None:
    world = synthetic_world("marked", 2000, avg_degree=8, seed=2)
    world.set_persona(7, Persona(name=f"Ada {MARK}", bio=f"keeps a diary ({MARK})", style="plain"))
    worldkey.use_key(KEY if encrypt else None)
    try:
        asyncio.run(save_world(world, path, encrypt=encrypt))
    finally:
        worldkey.use_key(None)


def _files_holding(folder: Path, needle: bytes, *, skip: tuple[str, ...] = ()) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file() and p.name not in skip and needle in p.read_bytes())


def _one_sentence(done: subprocess.CompletedProcess, *words: str) -> str:
    """Exit code 2 and one line on stderr holding ``words``, no traceback."""
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    for w in words:
        assert w in lines[0], lines[0]
    assert KEY not in done.stderr and "file is not a database" not in done.stderr
    return lines[0]


def test_a_marker_is_in_no_file_of_an_encrypted_world_and_every_opener_needs_the_key(
    tmp_path: Path, key_file: str
) -> None:
    folder = tmp_path / "enc"
    folder.mkdir()
    world, snap = str(folder / "w.db"), str(folder / "w.snap")
    _marked_world(world, encrypt=True)
    k = ["--key-file", key_file]
    done = agora(folder, "run", world, "--steps", "4", "--inject", f"{MARK} rumour", "--seeds", "random:20", *k)
    assert done.returncode == 0, done.stderr
    done = agora(folder, "save", world, snap, "--json", *k)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["encrypted"] is True  # an encrypted world's snapshot, without --encrypt
    assert worldkey.is_encrypted(world) and sealed.sealed_file(snap)
    # Neither file, nor any left beside them (WAL, shared memory, lock, temporaries), holds the marker or the key.
    assert len(list(folder.iterdir())) >= 2
    assert _files_holding(folder, MARK.encode()) == []
    assert _files_holding(folder, KEY.encode()) == []
    assert _files_holding(folder, b"SQLite format 3") == []  # no clear SQLite file at all
    # ... where a clear world's files do hold it (the scan can fail).
    clear = tmp_path / "clear"
    clear.mkdir()
    _marked_world(str(clear / "w.db"), encrypt=False)
    assert agora(clear, "run", "w.db", "--steps", "2", "--inject", f"{MARK} rumour").returncode == 0
    assert agora(clear, "save", "w.db", "w.snap").returncode == 0
    assert "w.db" in _files_holding(clear, MARK.encode())

    # With the key it opens, runs, passes check, and the persona and message are there.
    done = agora(folder, "check", world, "--json", *k)
    assert done.returncode == 0 and json.loads(done.stdout)["ok"], done.stdout + done.stderr
    assert agora(folder, "run", world, "--steps", "1", *k).returncode == 0
    done = agora(folder, "agent", world, "7", "--json", *k)
    assert done.returncode == 0 and MARK in done.stdout, done.stderr
    sim.use_key(KEY)  # the Python API: the same key, given in code
    assert sim.open_world(world).info()["messages"] == 1
    assert read_meta(world)["messages"][0]["text"].startswith(MARK)
    loaded = asyncio.run(open_world(world))
    assert loaded.persona(7).name == f"Ada {MARK}"
    worldkey.use_key(None)

    # Without the key, and with a wrong one: one sentence from every opener, exit 2.
    openers = [
        ("info", world),
        ("check", world),
        ("check", snap),
        ("run", world, "--steps", "1"),
        ("agent", world, "7"),
        ("audit", world),
        ("save", world, str(folder / "other.snap")),
        ("export", world, str(folder / "out.graphml"), "--format", "graphml"),
        ("load", snap, str(folder / "other.db")),
        ("serve", world, "--port", "0"),
        ("tui", world),
    ]
    before = digest(world)
    for args in openers:
        _one_sentence(agora(folder, *args), "encrypted", "--key-file", "AGORA_WORLD_KEY")
        _one_sentence(agora(folder, *args, env={worldkey.KEY_ENV: "not the key"}), "with the key given")
    assert digest(world) == before
    assert not (folder / "other.snap").exists() and not (folder / "other.db").exists()
    with pytest.raises(BadFileError, match="is encrypted"):
        sim.open_world(world).info()


def test_a_key_file_others_can_read_is_refused(tmp_path: Path, key_file: str) -> None:
    os.chmod(key_file, 0o644)
    line = _one_sentence(
        agora(tmp_path, "new", str(tmp_path / "w.db"), "--agents", "100", "--encrypt", "--key-file", key_file),
        "chmod 600",
    )
    assert "can be read by others" in line
    assert not (tmp_path / "w.db").exists()
    _one_sentence(agora(tmp_path, "new", str(tmp_path / "w.db"), "--agents", "100", "--encrypt"), "needs a key")


def test_an_altered_encrypted_snapshot_is_refused_and_the_world_is_unchanged(tmp_path: Path, key_file: str) -> None:
    world, snap = str(tmp_path / "w.db"), str(tmp_path / "w.snap")
    k = ["--key-file", key_file]
    assert agora(tmp_path, "new", world, "--agents", "1500", "--encrypt", *k).returncode == 0
    assert agora(tmp_path, "save", world, snap, *k).returncode == 0
    assert agora(tmp_path, "run", world, "--steps", "2", "--inject", "later", *k).returncode == 0
    before = digest(world)
    data = bytearray(Path(snap).read_bytes())
    for at in (3, 40, len(data) // 2, len(data) - 1):
        altered = bytearray(data)
        altered[at] ^= 0x01
        Path(snap).write_bytes(altered)
        line = _one_sentence(agora(tmp_path, "load", snap, world, "--force", *k), "snapshot")
        expected = "not an Agora snapshot" if at < len(sealed.MAGIC) else "damaged or was altered"
        assert expected in line, line
        assert digest(world) == before
    Path(snap).write_bytes(data)
    assert agora(tmp_path, "load", snap, world, "--force", *k).returncode == 0
    assert worldkey.is_encrypted(world)


def test_encrypt_decrypt_and_rekey_keep_the_world(tmp_path: Path, key_file: str) -> None:
    world = str(tmp_path / "w.db")
    assert agora(tmp_path, "new", world, "--agents", "1200", "--seed", "4").returncode == 0
    assert agora(tmp_path, "run", world, "--steps", "3", "--inject", "hello").returncode == 0
    reference = asyncio.run(open_world(world))
    new_key = tmp_path / "new.key"
    new_key.write_text("a new passphrase")
    new_key.chmod(0o600)
    k = ["--key-file", key_file]
    done = agora(tmp_path, "encrypt", world, "--json", *k)
    assert done.returncode == 0 and json.loads(done.stdout)["encrypted"] is True, done.stderr
    _one_sentence(agora(tmp_path, "encrypt", world, *k), "already encrypted", "agora rekey")
    assert agora(tmp_path, "rekey", world, *k, "--new-key-file", str(new_key)).returncode == 0
    _one_sentence(agora(tmp_path, "info", world, *k), "with the key given")
    assert agora(tmp_path, "check", world, "--key-file", str(new_key)).returncode == 0
    assert agora(tmp_path, "decrypt", world, "--key-file", str(new_key)).returncode == 0
    assert not worldkey.is_encrypted(world)
    _one_sentence(agora(tmp_path, "decrypt", world), "is not encrypted")
    again = asyncio.run(open_world(world))
    assert again.tick == reference.tick and again.num_edges == reference.num_edges
    for name, col in reference.columns.items():
        assert np.array_equal(col, again.columns[name]), name
    done = agora(tmp_path, "audit", world, "--json")
    actions = [r["action"] for r in json.loads(done.stdout)["entries"]]
    assert actions[-3:] == ["encrypt", "rekey", "decrypt"], actions
    assert check_world(world)["ok"]


def _key_of(path: str) -> str | None:
    """The key that opens the world at ``path`` (None: it is clear), its check passed; fails when none does."""
    candidates: list[str | None] = ["first key", "second key"] if worldkey.is_encrypted(path) else [None]
    for secret in candidates:
        worldkey.use_key(secret)
        try:
            if check_world(path)["ok"]:
                return secret
        except BadFileError:
            continue
        finally:
            worldkey.use_key(None)
    raise AssertionError(f"no key opens {path}")


@pytest.mark.subprocess
@pytest.mark.slow
def test_a_kill_at_any_instant_of_a_conversion_leaves_the_old_file_or_the_new_one(tmp_path: Path) -> None:
    """kill -9 at the named points (after the copy, after the rename) and at random instants, through
    encrypt, rekey and decrypt in turn: the world always opens, with the key of the old file or the new one."""
    rng = random.Random(5050)
    world = str(tmp_path / "w.db")
    assert agora(tmp_path, "new", world, "--agents", "30000", "--seed", "1").returncode == 0
    after = {None: ("encrypt", "first key"), "first key": ("rekey", "second key"), "second key": ("decrypt", None)}
    outcomes = {"old": 0, "new": 0}
    state: str | None = None  # the key of the file now (None: clear)
    for i in range(12):
        kind, target = after[state]
        env = {worldkey.KEY_ENV: (target if kind == "encrypt" else state) or ""}
        if kind == "rekey":
            env[worldkey.NEW_KEY_ENV] = target or ""
        point = ("convert:1", "converted:1", None)[i % 3]
        if point:
            env["AGORA_KILL_AT"] = point
        proc = subprocess.Popen(
            [sys.executable, "-m", "sim", kind, world],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT), **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            _, err = proc.communicate(timeout=120 if point else rng.uniform(0.4, 1.6))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            _, err = proc.communicate()
        assert proc.returncode in (0, -signal.SIGKILL), err
        if point:
            assert proc.returncode == -signal.SIGKILL, (point, err)
        now = _key_of(world)
        assert now in (state, target), (i, kind, point, now)
        if point == "convert:1":
            assert now == state, "a kill before the rename left the old file"
        if point == "converted:1":
            assert now == target, "a kill after the rename left the new file"
        outcomes["old" if now == state else "new"] += 1
        state = now
    assert outcomes["old"] and outcomes["new"], outcomes


def test_without_the_extra_encrypt_names_the_pip_command(tmp_path: Path, key_file: str) -> None:
    world = str(tmp_path / "w.db")
    assert agora(tmp_path, "new", world, "--agents", "300", "--encrypt", "--key-file", key_file).returncode == 0
    hide = (
        "import sys; sys.modules['sqlcipher3'] = None; sys.modules['sqlcipher3.dbapi2'] = None\n"
        "from sim.cli.main import main; sys.exit(main(sys.argv[1:]))\n"
    )

    def without(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", hide, *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            check=False,
        )

    pip = "pip install 'agora-sim[crypto]'"
    _one_sentence(without("new", str(tmp_path / "x.db"), "--agents", "100", "--encrypt", "--key-file", key_file), pip)
    assert not (tmp_path / "x.db").exists()
    _one_sentence(without("info", world, "--key-file", key_file), pip, "encrypted")
    _one_sentence(without("encrypt", str(tmp_path / "x.db"), "--key-file", key_file), pip)
    done = without("new", str(tmp_path / "y.db"), "--agents", "100")  # clear worlds need no extra
    assert done.returncode == 0, done.stderr


def test_an_edge_list_imported_encrypted_leaves_no_clear_database(tmp_path: Path, key_file: str) -> None:
    edges = tmp_path / "edges.csv"
    rng = np.random.default_rng(1)
    pairs = rng.integers(0, 800, size=(4000, 2))
    edges.write_text("source,target\n" + "".join(f"{a},{b}\n" for a, b in pairs if a != b))
    out = tmp_path / "worlds"
    out.mkdir()
    done = agora(out, "new", "imported.db", "--edges", str(edges), "--encrypt", "--key-file", key_file)
    assert done.returncode == 0, done.stderr
    assert worldkey.is_encrypted(str(out / "imported.db"))
    assert _files_holding(out, b"SQLite format 3") == []
    assert agora(out, "check", "imported.db", "--key-file", key_file).returncode == 0


@pytest.mark.usefixtures("keep_notifications")
async def test_the_terminal_ui_runs_an_encrypted_world_and_refuses_a_snapshot_it_cannot_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The UI opens an encrypted world with the key, saves it sealed, and a snapshot sealed under another key
    is a notification in one sentence, the world unchanged; a clear world refuses an encrypted snapshot."""

    from tui.app import AgoraApp

    monkeypatch.setenv(worldkey.KEY_ENV, KEY)
    world, clear = str(tmp_path / "w.db"), str(tmp_path / "clear.db")
    await save_world(synthetic_world("ui", 1500, avg_degree=6, seed=3), world, encrypt=True)
    await save_world(synthetic_world("plain", 800, avg_degree=6, seed=3), clear)
    foreign = str(tmp_path / "foreign.snap")
    worldkey.use_key("another key")
    save_snapshot(synthetic_world("foreign", 500, seed=1), foreign, encrypt=True)
    worldkey.use_key(None)  # the environment's key again

    async def until(pilot, condition) -> bool:
        for _ in range(600):
            if condition():
                return True
            await pilot.pause(0.05)
        return False

    app = AgoraApp(world)
    async with app.run_test(size=(120, 40)) as pilot:
        await asyncio.wait_for(app.ready.wait(), 30)
        mine = str(tmp_path / "mine.snap")
        await app.controller.shelf.save_file(mine)
        assert sealed.sealed_file(mine)
        tick = app.world.tick
        app.run_worker(app.files._load(foreign), group="io", exclusive=True)
        assert await until(pilot, lambda: any("with the key given" in m for m in notified(app)) and not app.busy)
        assert app.world.tick == tick and app.world.n == 1500
    app = AgoraApp(clear)
    async with app.run_test(size=(120, 40)) as pilot:
        await asyncio.wait_for(app.ready.wait(), 30)
        app.run_worker(app.files._load(mine), group="io", exclusive=True)
        assert await until(pilot, lambda: any("write its contents in clear" in m for m in notified(app)))
        assert app.world.n == 800 and not worldkey.is_encrypted(clear)


def _scrypt(secret: bytes, salt: bytes) -> bytes:
    """The derivation :func:`worldkey.derive` documents, computed here on its own."""
    return hashlib.scrypt(secret, salt=b"agora-world-key-v1" + salt, n=2**15, r=8, p=1, maxmem=2**26, dklen=32)


def test_a_salt_derived_ahead_is_used_once_by_the_next_new_file(tmp_path: Path) -> None:
    worldkey.use_key(KEY)
    secret = KEY.encode()
    worldkey.reserve_salt()
    worldkey.use_key("another key")
    other = worldkey.new_salt(b"another key")  # reserved under KEY: not this key's
    reserved, fresh = worldkey.new_salt(secret), worldkey.new_salt(secret)
    assert len({other, reserved, fresh}) == 3 and all(len(s) == worldkey.SALT for s in (other, reserved, fresh))
    assert worldkey.derive(secret, reserved) == _scrypt(secret, reserved)
    # One reservation, then a world and its snapshot: each file has a salt of its own.
    worldkey.use_key(KEY)
    world = synthetic_world("salted", 300, avg_degree=4, seed=1)
    worldkey.reserve_salt()
    asyncio.run(save_world(world, str(tmp_path / "w.db"), encrypt=True))
    save_snapshot(world, str(tmp_path / "w.snap"), encrypt=True)
    world_salt = (tmp_path / "w.db").read_bytes()[: worldkey.SALT]
    snap_salt = sealed.HEADER.unpack((tmp_path / "w.snap").read_bytes()[: sealed.HEADER.size])[2]
    assert world_salt != snap_salt
    assert check_world(str(tmp_path / "w.db"))["ok"]


def test_a_derivation_under_way_is_waited_for_not_repeated(monkeypatch: pytest.MonkeyPatch) -> None:
    entered, release, calls = threading.Event(), threading.Event(), []
    real = hashlib.scrypt

    def slow_scrypt(*args, **kwargs):
        calls.append(1)
        entered.set()
        release.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(worldkey.hashlib, "scrypt", slow_scrypt)
    salt, results = os.urandom(worldkey.SALT), []
    first = threading.Thread(target=lambda: results.append(worldkey.derive(b"k", salt)))
    first.start()
    assert entered.wait(60)
    second = threading.Thread(target=lambda: results.append(worldkey.derive(b"k", salt)))
    second.start()
    release.set()
    first.join(60)
    second.join(60)
    assert len(calls) == 1 and results == [_scrypt(b"k", salt)] * 2

    def failing_scrypt(*args, **kwargs):
        raise MemoryError("no memory for scrypt")

    monkeypatch.setattr(worldkey.hashlib, "scrypt", failing_scrypt)
    other = os.urandom(worldkey.SALT)
    with pytest.raises(MemoryError):
        worldkey.derive(b"k", other)
    hooked: list = []
    monkeypatch.setattr(threading, "excepthook", hooked.append)
    worldkey.derive_ahead(b"k", other)  # in its own thread: no traceback, nothing cached
    _join_derivations()
    assert hooked == [] and (b"k", other) not in worldkey._derived
    monkeypatch.setattr(worldkey.hashlib, "scrypt", real)
    assert worldkey.derive(b"k", other) == _scrypt(b"k", other)  # a failure is not cached


def _join_derivations() -> None:
    """Wait for the derivations started ahead, each in a thread of its own."""
    for thread in threading.enumerate():
        if thread.name == "agora-scrypt":
            thread.join(60)


def test_keys_of_the_files_a_command_names_are_derived_ahead(tmp_path: Path, key_file: str) -> None:
    _marked_world(str(tmp_path / "w.db"), encrypt=True)
    worldkey.use_key(KEY)
    save_snapshot(asyncio.run(open_world(str(tmp_path / "w.db"))), str(tmp_path / "w.snap"))
    _join_derivations()  # any started before (another test's) end before the cache is emptied
    worldkey.forget_derived()
    world_salt = (tmp_path / "w.db").read_bytes()[: worldkey.SALT]
    snap_salt = sealed.HEADER.unpack((tmp_path / "w.snap").read_bytes()[: sealed.HEADER.size])[2]
    (tmp_path / "clear.txt").write_text("not a world")
    sealed.derive_ahead(str(tmp_path / "w.db"), str(tmp_path / "w.snap"), str(tmp_path / "clear.txt"), None)
    _join_derivations()
    secret = KEY.encode()
    ahead = {s for (k, s) in worldkey._derived if k == secret}
    assert ahead == {world_salt, snap_salt}
    assert worldkey.derive(secret, world_salt) == _scrypt(secret, world_salt)
    worldkey.forget_derived()
    worldkey.use_key(None)
    sealed.derive_ahead(str(tmp_path / "w.db"))  # no key: nothing
    assert not worldkey._derived


def test_an_exclusive_open_reads_an_encrypted_world_on_two_connections_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sim.core import worldlock  # noqa: PLC0415
    from sim.store import worldread  # noqa: PLC0415
    from sim.store.worldrows import world_arrays  # noqa: PLC0415

    path = str(tmp_path / "w.db")
    _marked_world(path, encrypt=True)
    worldkey.use_key(KEY)
    plain = asyncio.run(open_world(path))
    opened: list[str] = []
    real = worldread._connect_ro
    monkeypatch.setattr(worldread, "_connect_ro", lambda p: opened.append(p) or real(p))

    with worldlock.world_lock(path):
        alone = asyncio.run(open_world(path, exclusive=True))
        assert len(opened) == 2  # the arrays read on two connections
        with worldlock.world_lock(path):  # held twice: a writer of this process may commit meanwhile
            twice = asyncio.run(open_world(path, exclusive=True))
        assert len(opened) == 3
    for world in (alone, twice):
        assert world.tick == plain.tick and world.n == plain.n
        got, want = world_arrays(world), world_arrays(plain)
        assert got.keys() == want.keys() and all(np.array_equal(got[k], want[k]) for k in want)
