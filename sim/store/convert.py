"""``agora encrypt``, ``decrypt`` and ``rekey``: a world file rewritten under another key (or none), atomically.

The world's lock is held (no writer meanwhile); its WAL is checkpointed into the file and found empty; SQLCipher's
``sqlcipher_export`` copies every table, index and row into a new file beside it (``WORLD.tmp-PID``), which is
fsynced, checked (it opens with its key and its metadata reads), and renamed over the world; the folder is fsynced.
A kill at any instant leaves either the old file (and perhaps a stale ``WORLD.tmp-PID``, removed by the next
save and named by ``agora check``) or the new one: both open with their own keys. The conversion is recorded in
the new file's audit log, inside the copy, so the record and the conversion are one.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

from sim.core import worldkey
from sim.core import worldlock as lock
from sim.core.audit import encode_details
from sim.core.diskio import remove_quietly
from sim.core.faults import kill_point
from sim.core.safe import shown
from sim.errors import BadFileError, BadParameterError
from sim.store.worldfile import _fsync_dir, read_meta, remove_stale_temps

#: What each conversion does: the source must be encrypted, and the result is.
_KINDS = {"encrypt": (False, True), "decrypt": (True, False), "rekey": (True, True)}


def convert_world(path: str, kind: str, *, new_key: bytes | None = None) -> dict[str, Any]:
    """Encrypt, decrypt or rekey the world file ``path`` in place (see the module's docstring); the current key
    is the process's (:func:`sim.core.worldkey.key`), ``new_key`` is rekey's. Returns ``world``, ``encrypted``,
    ``bytes`` and ``seconds``.

    Raises:
        BadFileError: not a world, already (or not) encrypted, or the key does not open it.
        BadParameterError: the crypto extra or a key is missing. WorldBusyError: another process writes it.
    """
    t0 = time.perf_counter()
    was, becomes = _KINDS[kind]
    worldkey.require_extra(f"agora {kind}")
    with lock.world_lock(path, what=f"{kind} it"):
        read_meta(path)  # a world, and (encrypted) opened by the key given
        if worldkey.is_encrypted(path) != was:
            raise BadFileError(
                f"world {shown(path)} is already encrypted: change its key with 'agora rekey'"
                if was is False
                else f"world {shown(path)} is not encrypted: encrypt it with 'agora encrypt {path}'"
            )
        target = new_key if kind == "rekey" else worldkey.key()
        if becomes and target is None:
            raise BadParameterError(f"encrypting world {shown(path)} needs a key: {worldkey.HOW}")
        remove_stale_temps(path)
        tmp = f"{path}.tmp-{os.getpid()}"
        remove_quietly(tmp, tmp + "-journal", tmp + "-wal", tmp + "-shm")
        try:
            _export(path, tmp, target if becomes else None, kind)
            kill_point("convert")
            _check_copy(tmp, target if becomes else None, path)
            for f in (path + "-wal", path + "-shm"):  # empty (checked): the old file's, not the new one's
                remove_quietly(f)
            os.replace(tmp, path)
            kill_point("converted")
            _fsync_dir(path)
        except BaseException:
            remove_quietly(tmp, tmp + "-journal", tmp + "-wal", tmp + "-shm")
            raise
    return {
        "world": path,
        "encrypted": becomes,
        "bytes": os.path.getsize(path),
        "seconds": round(time.perf_counter() - t0, 3),
    }


def _export(path: str, tmp: str, secret: bytes | None, kind: str) -> None:
    """Copy the world at ``path`` into the new file ``tmp``, encrypted with ``secret`` (None: clear)."""
    src = worldkey.connect(path, cipher=True)
    try:
        # Everything the WAL holds goes into the file first, and the WAL must then be empty: it is removed
        # before the rename, and a WAL of the old file must never be read with the new one.
        busy, frames, done = src.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy or frames > 0 and done != frames or os.path.exists(path + "-wal") and os.path.getsize(path + "-wal"):
            raise BadFileError(
                f"world {shown(path)} is being read by another process and its journal could not be emptied: "
                f"try 'agora {kind}' again when nothing reads it"
            )
        if secret is None:
            attach = ""
        else:
            salt = os.urandom(worldkey.SALT)
            attach = f"x'{worldkey.derive(secret, salt).hex()}{salt.hex()}'"
        worldkey.use_settings_for_attached(src)
        src.execute("ATTACH DATABASE ? AS converted KEY ?", (tmp, attach))
        src.execute("SELECT sqlcipher_export('converted')")
        with src:
            src.execute(
                "INSERT INTO converted.audit (ts, action, details) VALUES (?, ?, ?)",
                (time.time(), kind, encode_details({"encrypted": secret is not None})),
            )
        src.execute("DETACH DATABASE converted")
    finally:
        src.close()
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())


def _check_copy(tmp: str, secret: bytes | None, path: str) -> None:
    """The new file opens with its key and reads as a world, in WAL mode as every world file is."""
    con = worldkey.connect(tmp, secret=secret)
    try:
        con.execute("PRAGMA journal_mode = WAL")
        found = con.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
    finally:
        con.close()
    if found is None:
        raise BadFileError(f"the copy of world {shown(path)} lost its metadata; the world was left as it was")
    with contextlib.suppress(OSError), open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
