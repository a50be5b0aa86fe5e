"""One writer per world: an exclusive lock on a world file, held by the process that writes it.

Every command that writes a world file (``agora serve``, ``agora run``, the terminal UI, ``agora set``,
``agora load``, ``agora analyze``, the Python API's live world) holds the world's lock for as long as it
may write: a second writer is refused with one sentence naming the holder (its pid and command line).
Readers (``agora check``, ``agora info``, exports) take no lock: SQLite gives them a consistent snapshot.

The lock is ``flock(LOCK_EX | LOCK_NB)`` on a file beside the world (``WORLD.lock``, named from the
world's real path, so a symlink or another spelling of the same path finds the same lock). The kernel
releases it when the process ends, however it ends (``kill -9`` included): a crash never leaves a world
locked. The file holds the holder's pid and command line, written once it is held; it is removed when the
lock is released (on a clean exit). A lock file left by a crashed process is not a lock: the next writer
takes it.

Within one process the lock is re-entrant: a command that takes it before reading the world (so that
nobody changes the file between its read and its write) and then starts the world's writer holds it once.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from sim.core.safe import shown
from sim.errors import AgoraError


class WorldBusyError(AgoraError):
    """Another process writes this world (a second writer would corrupt it)."""


#: Longest command line kept in a lock file (characters).
_COMMAND_CHARS = 300


def lock_path(path: str) -> str:
    """The lock file of the world at ``path``: beside its real path, ``NAME.lock``."""
    return os.path.realpath(path) + ".lock"


@dataclass
class _Held:
    fd: int
    path: str
    count: int
    pid: int  # a forked child inherits the table, not the lock: it never releases its parent's
    side_files: bool  # WORLD-wal or WORLD-shm were there when the lock was taken: never removed by us


_held: dict[str, _Held] = {}
_guard = threading.Lock()


def _holder(lock: str) -> str:
    """Who holds ``lock``, as the lock file says ("process 123 (agora serve x.db)"), or a plain phrase."""
    for _ in range(20):  # the holder writes its details just after taking the lock: read again while empty
        try:
            with open(lock, encoding="utf-8", errors="replace") as fh:
                text = fh.read(4096)
        except OSError:
            text = ""
        if text.strip():
            try:
                info = json.loads(text)
                pid, command = int(info["pid"]), str(info.get("command") or "")
            except (ValueError, KeyError, TypeError):
                break
            return f"process {pid}" + (f" ({shown(command, _COMMAND_CHARS)})" if command else "")
        time.sleep(0.01)
    return "another process"


def _command() -> str:
    argv = [os.path.basename(sys.argv[0])] + sys.argv[1:] if sys.argv and sys.argv[0] else ["python"]
    return " ".join(argv)[:_COMMAND_CHARS]


def acquire(path: str, *, what: str = "write it") -> None:
    """Take the exclusive lock of the world at ``path`` for this process (re-entrant: counted).

    Raises:
        WorldBusyError: another process holds it; the sentence names that process and what to do.
        BadFileError-like AgoraError: the lock file cannot be made (a read-only folder).
    """
    lock = lock_path(path)
    with _guard:
        held = _held.get(lock)
        if held is not None and held.pid == os.getpid():
            held.count += 1
            return
        while True:
            try:
                fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as exc:
                if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                    raise AgoraError(
                        f"world {path!r} cannot be written: its lock file {lock!r} cannot be made "
                        f"({exc.strerror}); give a world in a folder you can write"
                    ) from None
                raise
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                raise WorldBusyError(
                    f"world {path!r} is being written by {_holder(lock)}: only one process may write a world "
                    f"at a time, so this one cannot {what}; stop that one first, or read the world with "
                    "'agora info', 'agora check' or an export"
                ) from None
            # The lock file may have been removed (its holder released it) between our open and our flock:
            # then we hold a lock on a file nobody else can find. Take the one at the path instead.
            try:
                same = os.fstat(fd).st_ino == os.stat(lock).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "command": _command(), "since": time.time()}).encode(), 0)
        _held[lock] = _Held(fd, lock, 1, os.getpid(), side_files(lock[: -len(".lock")]))


def release(path: str) -> None:
    """Release one hold of the lock of the world at ``path`` (the last one removes the lock file)."""
    lock = lock_path(path)
    with _guard:
        held = _held.get(lock)
        if held is None or held.pid != os.getpid():
            return
        held.count -= 1
        if held.count > 0:
            return
        del _held[lock]
        if not held.side_files:  # only files this process's connections made, and only when empty
            _remove_empty_wal(lock[: -len(".lock")])
        with contextlib.suppress(OSError):
            os.unlink(lock)  # before the unlock: a waiting process then finds no file, or a new one
        os.close(held.fd)


def side_files(path: str) -> bool:
    """Whether ``WORLD-wal`` or ``WORLD-shm`` lie beside the world at ``path`` now."""
    world = os.path.realpath(path)
    return os.path.exists(world + "-wal") or os.path.exists(world + "-shm")


def _remove_empty_wal(world: str) -> None:
    """Remove ``WORLD-wal`` (when empty: nothing committed waits in it) and ``WORLD-shm`` beside the world at
    real path ``world``: a read-only SQLite connection makes both and cannot remove them. Called with the
    world's lock held, so no writer has them open."""
    wal, shm = world + "-wal", world + "-shm"
    try:
        if os.path.getsize(wal) > 0:
            return
    except FileNotFoundError:
        pass
    except OSError:
        return
    for f in (wal, shm):
        with contextlib.suppress(OSError):
            os.unlink(f)


def tidy_after_read(path: str, existed: bool) -> None:
    """After a read of the world at ``path`` by a command that does not write it: remove the empty
    ``WORLD-wal`` and ``WORLD-shm`` its read-only connection made. Files that were there before it
    connected (``existed``: :func:`side_files`) are left alone whatever they hold — after a crash they are
    the killed writer's, and only SQLite may judge them — and so are they while a writer holds the world
    (this process included: its own last release tidies) or when the lock cannot be taken here."""
    if existed or holds(path) or not os.path.exists(path):
        return
    try:
        acquire(path, what="tidy it")
    except (AgoraError, OSError):
        return
    try:
        _remove_empty_wal(os.path.realpath(path))
    finally:
        release(path)


def holds(path: str) -> bool:
    """Whether this process holds the lock of the world at ``path``."""
    with _guard:
        held = _held.get(lock_path(path))
        return held is not None and held.pid == os.getpid()


def holds_once(path: str) -> bool:
    """Whether this process holds the lock of the world at ``path`` exactly once: taken by one caller, which
    knows whether anything of this process writes the world meanwhile (a writer holds a hold of its own)."""
    with _guard:
        held = _held.get(lock_path(path))
        return held is not None and held.pid == os.getpid() and held.count == 1


@contextlib.contextmanager
def world_lock(path: str, *, what: str = "write it") -> Iterator[None]:
    """Hold the lock of the world at ``path`` for the ``with`` block (see :func:`acquire`)."""
    acquire(path, what=what)
    try:
        yield
    finally:
        release(path)
