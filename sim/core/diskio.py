"""Turning a failed write (a full disk, a quota, a file size limit, an unwritable folder) into one clear
sentence that also says what happened to the file being replaced; and a user's file opened for reading with
one sentence for each way that can fail (:func:`reading_file`).

Writers (:func:`sim.store.snapshot.save_snapshot`, :func:`sim.store.worldfile.save_world`) write to a temporary file
beside the target and rename it into place only when complete, so when a write fails the previous file
is still there, byte for byte; they remove the temporary file and raise what :func:`write_error`
returns.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from sim.core import worldkey
from sim.errors import AgoraError, BadFileError, ResourceError

#: errno values that mean "no room": the disk is full, a quota is used up, or the file size limit.
_NO_ROOM = {errno.ENOSPC: "the disk is full", errno.EFBIG: "the file size limit (ulimit -f) was reached"}
if hasattr(errno, "EDQUOT"):
    _NO_ROOM[errno.EDQUOT] = "the disk quota is used up"

#: SQLite result codes (the primary code is the low byte of the extended one).
_SQLITE_FULL, _SQLITE_IOERR, _SQLITE_READONLY, _SQLITE_CANTOPEN, _SQLITE_PERM = 13, 10, 8, 14, 3


def _file_size_limited() -> bool:
    try:
        import resource  # noqa: PLC0415 - POSIX only

        soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
        return soft != resource.RLIM_INFINITY
    except (ImportError, OSError, ValueError):  # pragma: no cover - not on POSIX
        return False


def _disk_nearly_full(path: str) -> bool:
    try:
        return shutil.disk_usage(os.path.dirname(os.path.abspath(path)) or ".").free < 16 * 2**20
    except OSError:
        return False


def _left(path: str, existed: bool) -> str:
    if existed:
        return f"the previous {path!r} is untouched and no partial file was left behind"
    return "no partial file was left behind"


def write_error(exc: BaseException, path: str, what: str, existed: bool) -> AgoraError | None:
    """The user-facing error for ``exc`` raised while writing ``what`` (e.g. "snapshot") to ``path``,
    or None when ``exc`` is not a write failure (a bug, an interruption) and should propagate as is.

    ``existed`` says whether ``path`` was there before the write began (it still is, unchanged).
    """
    if isinstance(exc, OSError):
        code = exc.errno
        if code in _NO_ROOM:
            return ResourceError(
                f"{what} {path!r} could not be written because {_NO_ROOM[code]}; {_left(path, existed)}: "
                "free some disk space (or raise the limit) and save again"
            )
        if code in (errno.EACCES, errno.EPERM, errno.EROFS):
            return BadFileError(
                f"{what} {path!r} could not be written ({exc.strerror}); {_left(path, existed)}: "
                "check the folder's permissions or write it elsewhere"
            )
        if code == errno.EIO:
            return ResourceError(
                f"{what} {path!r} could not be written (a disk I/O error); {_left(path, existed)}: check the disk"
            )
        return None
    if isinstance(exc, worldkey.OperationalError):
        code = getattr(exc, "sqlite_errorcode", None)
        primary = None if code is None else code & 0xFF
        text = str(exc)
        if primary == _SQLITE_FULL or "database or disk is full" in text:
            reason = "the disk is full"
        elif primary == _SQLITE_IOERR or "disk I/O error" in text:
            # SQLite reports a write refused for the file size limit (EFBIG) as an I/O error.
            if _file_size_limited():
                reason = "the file size limit (ulimit -f) was reached"
            elif _disk_nearly_full(path):
                reason = "the disk is full"
            else:
                return ResourceError(
                    f"{what} {path!r} could not be written (a disk I/O error); {_left(path, existed)}: check the disk"
                )
        elif primary in (_SQLITE_READONLY, _SQLITE_CANTOPEN, _SQLITE_PERM):
            return BadFileError(
                f"{what} {path!r} could not be written ({text}); {_left(path, existed)}: "
                "check the folder's permissions or write it elsewhere"
            )
        else:
            return None
        return ResourceError(
            f"{what} {path!r} could not be written because {reason}; {_left(path, existed)}: "
            "free some disk space (or raise the limit) and save again"
        )
    return None


def remove_quietly(*paths: str) -> None:
    """Remove temporary files; one that cannot be removed is left (the error being reported matters more)."""
    for p in paths:
        try:
            if os.path.lexists(p):
                os.remove(p)
        except OSError:
            pass


def temp_beside(path: str, what: str) -> str:
    """A new empty file beside ``path`` for an atomic write (then ``os.replace``); the user's umask applies,
    so the renamed file has the same rights as any file the user writes.

    Raises:
        BadFileError: the folder does not exist or cannot be written.
    """
    folder = os.path.dirname(os.path.abspath(path))
    for _ in range(100):
        tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except FileExistsError:
            continue
        except OSError as exc:
            raise BadFileError(
                f"cannot write {what} {path!r}: {exc.strerror or exc} (check that its folder exists and is writable)"
            ) from None
        return tmp
    raise BadFileError(f"cannot write {what} {path!r}: no temporary name is free in its folder")


@contextmanager
def replacing(path: str, what: str) -> Iterator[str]:
    """Write ``what`` (e.g. "figure") to ``path`` atomically: the block writes the temporary file it is
    given, which replaces ``path`` only when the block ends without error. On any failure the temporary
    file is removed and ``path`` is as it was; a failed write becomes one sentence (:func:`write_error`).

    Raises:
        ResourceError / BadFileError: the write failed (a full disk, no permission, a missing folder).
    """
    existed = os.path.exists(path)
    tmp = temp_beside(path, what)
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        remove_quietly(tmp)
        error = write_error(exc, path, what, existed)
        raise (
            error
            or BadFileError(f"cannot write {what} {path!r}: {exc.strerror or exc} (check the folder and free space)")
        ) from None
    except BaseException:
        remove_quietly(tmp)
        raise


@contextmanager
def written_back(path: str, every: float = 0.2) -> Iterator[None]:
    """While the block writes the file ``path`` (a large new file, fsynced once complete), a thread asks the
    system every ``every`` seconds to put what has been written so far on the disk, so the final fsync finds
    little left to write: the disk writes while the CPU still makes the rest (at a million agents, half a
    second that ``agora new`` and ``agora load`` otherwise spent waiting for the disk at the end). A failure
    here is left for the writer's own fsync to meet."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        yield
        return
    stop = threading.Event()
    sync = getattr(os, "fdatasync", os.fsync)  # macOS has no fdatasync

    def flush() -> None:
        while not stop.wait(every):
            try:
                sync(fd)
            except OSError:
                return

    worker = threading.Thread(target=flush, name="agora-writeback", daemon=True)
    worker.start()
    try:
        yield
    finally:
        stop.set()
        worker.join()
        os.close(fd)


@contextmanager
def reading_file(path: str, what: str, *, missing: str, not_a: str, give: str) -> Iterator[BinaryIO]:
    """``path``, a file the user named, open for reading bytes: ``what`` names it in the errors ("edge
    list"), ``missing`` says what to do when there is none ("check the path"), ``not_a`` what a folder is
    not ("file"), ``give`` what to give instead of a pipe or a device ("a file").

    Raises:
        BadFileError: ``path`` does not exist, is a folder, is not a regular file, or cannot be read (also
            while the block reads it).
    """
    if not os.path.exists(path):
        raise BadFileError(f"{what} {path!r} does not exist: {missing}")
    if os.path.isdir(path):
        raise BadFileError(f"{what} {path!r} is a folder, not a {not_a}")
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise BadFileError(f"{what} {path!r} is not a regular file (a pipe or a device): give {give}")
        with open(path, "rb") as fh:
            yield fh
    except OSError as exc:
        raise BadFileError(f"{what} {path!r} cannot be read ({exc.strerror}): check its permissions") from None
