"""Encryption at rest: the world key, and world files encrypted with SQLCipher 4.

An encrypted world is an SQLite file written by SQLCipher (page-level AES-256, each 16 KiB page authenticated
by HMAC-SHA256): nothing in it, its ``-wal`` journal included, is readable without the key. Temporary files
of its connections stay in memory (``temp_store = MEMORY``), so no clear copy of a page is ever written.

The key is a passphrase, given by the user as the environment variable :data:`KEY_ENV` or as a file
(``--key-file FILE``, :func:`use_key_file`) only its owner may read. Agora keeps it in this process's
memory only: it is never written, logged, put in an error message or a snapshot. A world's page key is
derived from the passphrase and the file's own 16-byte salt (SQLCipher's first 16 bytes) with scrypt
(memory-hard: 32 MiB, :func:`derive`); SQLCipher is given that raw key, so opening a world costs one
scrypt per process and salt, not SQLCipher's 256,000 PBKDF2 rounds per connection.

Every connection to a world file goes through :func:`connect` (or :func:`connect_async`): a clear file
opens with Python's ``sqlite3``, an encrypted one with ``sqlcipher3`` and the key, or is refused in one
sentence (encrypted and no key given; a wrong key; the ``crypto`` extra not installed). SQLite errors of
either module are caught as :data:`Error` (and :data:`DatabaseError`, :data:`OperationalError`,
:data:`IntegrityError`): tuples that hold both modules' classes.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import math
import os
import sqlite3
import stat
import threading
import time
from concurrent.futures import Future
from typing import Any, cast

import aiosqlite

from sim.core.safe import shown
from sim.errors import BadFileError, BadParameterError

_cipher: Any
try:  # the optional extra agora-sim[crypto]
    import sqlcipher3.dbapi2 as _cipher
except ImportError:  # pragma: no cover - exercised in a subprocess that hides the module
    _cipher = None

#: The environment variable holding the world key (a passphrase).
KEY_ENV = "AGORA_WORLD_KEY"
#: The environment variable holding the new key of ``agora rekey`` (else ``--new-key-file``).
NEW_KEY_ENV = "AGORA_NEW_WORLD_KEY"
#: How to install what encryption needs.
INSTALL = "pip install 'agora-sim[crypto]'"
#: How a user gives a world's key.
HOW = f"give its key with --key-file FILE (a file only you can read) or the {KEY_ENV} environment variable"

SQLITE_MAGIC = b"SQLite format 3\x00"
#: The page size of every encrypted world (``cipher_page_size`` in :data:`_CIPHER_SETTINGS`, not SQLCipher's
#: default 4 KiB): an encrypted world's size is a whole number of these pages.
PAGE = 16384
SALT = 16
#: Bytes 21..23 of every clear SQLite file's header (the payload fractions, fixed by the file format).
_HEADER_FIXED_AT, _HEADER_FIXED = 21, b"\x40\x20\x20"
#: scrypt's cost: N = 2**15, r = 8 (32 MiB of memory, about 0.1 s), as recommended for interactive keys.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
_MAX_KEY_FILE = 4096

Error: tuple[type[Exception], ...] = (sqlite3.Error,) + ((_cipher.Error,) if _cipher else ())
DatabaseError: tuple[type[Exception], ...] = (sqlite3.DatabaseError,) + ((_cipher.DatabaseError,) if _cipher else ())
OperationalError: tuple[type[Exception], ...] = (sqlite3.OperationalError,) + (
    (_cipher.OperationalError,) if _cipher else ()
)
IntegrityError: tuple[type[Exception], ...] = (sqlite3.IntegrityError,) + ((_cipher.IntegrityError,) if _cipher else ())

#: How every encrypted world is written: 16 KiB pages (as clear worlds; a quarter of the pages to encrypt and
#: authenticate as SQLCipher's 4 KiB) and HMAC-SHA256 page tags (SHA-NI makes it about twice as fast as
#: SQLCipher's default HMAC-SHA512 on current x86 CPUs); AES-256 as SQLCipher always encrypts.
_CIPHER_SETTINGS = (f"cipher_page_size = {PAGE}", "cipher_hmac_algorithm = HMAC_SHA256")

#: The page cache of an encrypted world's writer (KiB): the pages a checkpoint replaces were written by the
#: checkpoint before and are still here, so they are not read, decrypted and authenticated again (measured at
#: a million agents: a checkpoint's cost over a clear world's from about 1.45x down to about 1.2x).
WRITER_CACHE_KIB = 65536

_key: bytes | None = None
_derived: dict[tuple[bytes, bytes], Future[bytes]] = {}
#: The salt :func:`reserve_salt` chose for the next new file, with the key it was derived under.
_spare: tuple[bytes, bytes] | None = None
_guard = threading.Lock()


def use_settings_for_attached(con: sqlite3.Connection) -> None:
    """Make :data:`_CIPHER_SETTINGS` SQLCipher's defaults in this process (through ``con``, an SQLCipher
    connection), so that a database attached with a key is written as every encrypted world is
    (``agora encrypt`` and ``rekey`` attach the new file: :mod:`sim.store.convert`)."""
    for pragma in _CIPHER_SETTINGS:
        con.execute(f"PRAGMA cipher_default_{pragma.removeprefix('cipher_')}")


def available() -> bool:
    """Whether the ``crypto`` extra (SQLCipher's Python module) is installed."""
    return _cipher is not None


def require_extra(what: str = "encrypting a world") -> None:
    """Raises: BadParameterError: the extra is missing; one sentence naming the pip command."""
    if _cipher is None:
        raise BadParameterError(f"{what} needs the crypto extra, which is not installed: {INSTALL}")
    if importlib.util.find_spec("cryptography") is None:  # pragma: no cover - the extra installs both
        raise BadParameterError(f"{what} needs the crypto extra, which is not installed: {INSTALL}")


def ready_to_encrypt(what: str) -> None:
    """Refuse before any work when ``what`` cannot be encrypted: the extra or the key is missing.

    Raises:
        BadParameterError: one sentence naming the pip command, or how to give a key.
    """
    require_extra(what)
    if key() is None:
        raise BadParameterError(f"{what} needs a key: {HOW.replace('its key', 'a key')}")


def _read_key_file(path: str, field: str) -> bytes:
    try:
        st = os.stat(path)
    except OSError as exc:
        raise BadParameterError(
            f"{field} {shown(path)} cannot be read ({exc.strerror}): check the path", fields=field
        ) from None
    if not stat.S_ISREG(st.st_mode):
        raise BadParameterError(f"{field} {shown(path)} is not a file: give a file holding the key", fields=field)
    if st.st_uid != os.getuid():
        raise BadParameterError(
            f"{field} {shown(path)} belongs to another user: keep the key in a file of your own", fields=field
        )
    if st.st_mode & 0o077:
        raise BadParameterError(
            f"{field} {shown(path)} can be read by others (mode {stat.S_IMODE(st.st_mode):o}): "
            f"make it yours alone with 'chmod 600 {path}'",
            fields=field,
        )
    if st.st_size > _MAX_KEY_FILE:
        raise BadParameterError(
            f"{field} {shown(path)} is larger than {_MAX_KEY_FILE} bytes: it holds no key", fields=field
        )
    with open(path, "rb") as fh:
        key = fh.read(_MAX_KEY_FILE + 1).rstrip(b"\r\n")
    if not key:
        raise BadParameterError(f"{field} {shown(path)} is empty: write the key (a passphrase) into it", fields=field)
    return key


def use_key_file(path: str, field: str = "key_file") -> None:
    """Use the key held in the file ``path`` for every world and snapshot this process opens or writes.

    Raises:
        BadParameterError: the file is missing, not the user's own, readable by others, empty or too large.
    """
    global _key
    _key = _read_key_file(path, field)


def use_key(key: str | bytes | None) -> None:
    """Use ``key`` (a passphrase) for every world and snapshot this process opens; None forgets it."""
    global _key
    if isinstance(key, str):
        key = key.encode()
    if key is not None and not key:
        raise BadParameterError("the world key is empty: give a passphrase")
    _key = key


def key() -> bytes | None:
    """The key given to this process (:func:`use_key`, :func:`use_key_file`, else :data:`KEY_ENV`), or None."""
    if _key is not None:
        return _key
    env = os.environ.get(KEY_ENV)
    return env.encode() if env else None


def new_key(path: str | None) -> bytes:
    """The new key of ``agora rekey``: the file ``path`` (``--new-key-file``), else :data:`NEW_KEY_ENV`.

    Raises:
        BadParameterError: neither is given, or the file is not private.
    """
    if path is not None:
        return _read_key_file(path, "new_key_file")
    env = os.environ.get(NEW_KEY_ENV)
    if not env:
        raise BadParameterError(
            f"rekeying needs the new key: give a new_key_file or set {NEW_KEY_ENV}", fields="new_key_file"
        )
    return env.encode()


def derive(secret: bytes, salt: bytes) -> bytes:
    """The 32-byte key scrypt derives from ``secret`` and ``salt`` (cached in this process's memory; a
    derivation already under way in another thread, :func:`reserve_salt`, is waited for, not repeated)."""
    with _guard:
        slot = _derived.get((secret, salt))
        mine = slot is None
        if mine:
            slot = _derived[(secret, salt)] = Future()
    assert slot is not None
    if mine:
        try:
            slot.set_result(
                hashlib.scrypt(
                    secret,
                    salt=b"agora-world-key-v1" + salt,
                    n=SCRYPT_N,
                    r=SCRYPT_R,
                    p=SCRYPT_P,
                    maxmem=2**26,
                    dklen=32,
                )
            )
        except BaseException as exc:  # noqa: BLE001 - handed to every waiter; the next call tries again
            with _guard:
                _derived.pop((secret, salt), None)
            slot.set_exception(exc)
    return slot.result()


def reserve_salt() -> None:
    """Choose the salt of the next file this process encrypts with the key given (a world or a sealed
    snapshot: :func:`new_salt`) and derive its key now, in a thread of its own: scrypt (about 0.1 s, with the
    interpreter lock released) then runs beside whatever comes before that file is written (opening the
    world, reading a snapshot) instead of after. Nothing happens without a key or the extra."""
    secret = key()
    if secret is None or _cipher is None:
        return
    global _spare
    salt = os.urandom(SALT)
    with _guard:
        _spare = (secret, salt)
    derive_ahead(secret, salt)


def derive_ahead(secret: bytes, salt: bytes) -> None:
    """Start :func:`derive` of ``secret`` and ``salt`` in a thread of its own (scrypt releases the
    interpreter lock); the :func:`derive` that needs it waits for it rather than repeating it."""

    def run() -> None:
        # A failure is not cached: the derive() that needs the key tries again and raises it there.
        with contextlib.suppress(Exception):
            derive(secret, salt)

    thread = threading.Thread(target=run, name="agora-scrypt", daemon=True)
    with _guard:
        _ahead[:] = [t for t in _ahead if t.is_alive()] + [thread]
    thread.start()


#: The derivations :func:`derive_ahead` started (the finished ones dropped as new ones start).
_ahead: list[threading.Thread] = []


def settle(timeout: float = 5.0) -> None:
    """Wait (at most ``timeout`` seconds) for the derivations started ahead to end: a process must not exit
    while scrypt runs in a thread of its own (an ``agora load`` refused within its first 0.1 s ended with
    a segmentation fault as the interpreter shut down under it)."""
    with _guard:
        running = list(_ahead)
    deadline = time.monotonic() + timeout
    for thread in running:
        thread.join(max(0.0, deadline - time.monotonic()))


def salt_of_world(path: str) -> bytes | None:
    """The salt of the encrypted world file ``path`` (its first 16 bytes); None when it is not one."""
    return _salt_of(path) if is_encrypted(path) else None


def new_salt(secret: bytes) -> bytes:
    """The salt of a new file encrypted with ``secret``: the one :func:`reserve_salt` chose for it (each is
    used once), else a fresh random one."""
    global _spare
    with _guard:
        if _spare is not None and _spare[0] == secret:
            salt, _spare = _spare[1], None
            return salt
    return os.urandom(SALT)


def is_encrypted(path: str) -> bool:
    """Whether ``path`` is (by its first bytes and size) an encrypted world file: not an SQLite header, and a
    whole number of SQLCipher pages. (An encrypted file is indistinguishable from random bytes by design.) A
    clear SQLite file whose first bytes were damaged still has the fixed payload fractions of its header
    (bytes 21 to 23: 64, 32, 32), which an encrypted file holds by chance once in 16 million: it is not
    taken for an encrypted one."""
    head = regular_head(path, _HEADER_FIXED_AT + len(_HEADER_FIXED))
    if head is None:
        return False
    try:
        size = os.path.getsize(path)
    except OSError:
        return False
    if head[: len(SQLITE_MAGIC)] == SQLITE_MAGIC or head[_HEADER_FIXED_AT:] == _HEADER_FIXED:
        return False
    return size >= PAGE and size % PAGE == 0


#: Bits of entropy per byte above which a file's first page looks random, as an encrypted world's does (16 KiB
#: of random bytes measure about 7.99; text, CSV and SQLite pages far less).
_RANDOM_BITS = 7.5
#: How files that look random but are no world start: Agora's snapshots (sealed or not), gzip, zip, xz, bzip2,
#: zstd, Parquet, PNG and PDF.
_OTHER_MAGIC = (
    b"AGORA",
    b"\x1f\x8b",
    b"PK\x03\x04",
    b"\xfd7zXZ",
    b"BZh",
    b"\x28\xb5\x2f\xfd",
    b"PAR1",
    b"\x89PNG",
    b"%PDF",
)


def cut_short(path: str) -> str | None:
    """Why ``path`` looks like an encrypted world cut short (a copy or a download that stopped early), as a
    phrase; None when it does not: its first page holds no SQLite header and looks random, as an encrypted
    file's does, but its size is not a whole number of pages (:func:`is_encrypted` then says no)."""
    head = regular_head(path, PAGE)
    if head is None or len(head) < 1024:
        return None
    if head.startswith((SQLITE_MAGIC, *_OTHER_MAGIC)) or head[_HEADER_FIXED_AT:][: len(_HEADER_FIXED)] == _HEADER_FIXED:
        return None
    try:
        size = os.path.getsize(path)
    except OSError:
        return None
    if size % PAGE == 0:
        return None
    n = len(head)
    counts = [head.count(b) for b in range(256)]
    bits = -sum(c / n * math.log2(c / n) for c in counts if c)
    if bits < _RANDOM_BITS:
        return None
    return (
        f"its bytes look encrypted, but its size ({size:,} bytes) is not a whole number of {PAGE:,}-byte pages: an "
        "encrypted world cut short (or another encrypted file)"
    )


def not_a_world_error(path: str) -> BadFileError:
    """The error for a file that is neither a clear nor an encrypted world: one cut short says so."""
    short = cut_short(path)
    if short is not None:
        return BadFileError(f"world {shown(path)} cannot be opened: {short}; restore it from a copy or a snapshot")
    return BadFileError(f"{path!r} is not an Agora world (not an SQLite file): open a .db made by 'agora new'")


class KeyNeededError(BadFileError):
    """A world or snapshot is encrypted and no key, or not its key, was given (the user's to fix: exit 2,
    never a problem of the file)."""


def regular_head(path: str, n: int) -> bytes | None:
    """The first ``n`` bytes of the regular file at ``path``; None for anything else (missing, a folder, a
    pipe, a device: opened without blocking, and never read) or a file that cannot be read."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.read(fd, n)
    except OSError:
        return None
    finally:
        os.close(fd)


def encrypted_error(path: str) -> KeyNeededError:
    return KeyNeededError(f"world {shown(path)} is encrypted: {HOW}")


def wrong_key_error(path: str) -> KeyNeededError:
    return KeyNeededError(
        f"world {shown(path)} cannot be opened with the key given (a wrong key, or a damaged file): give the key "
        "it was encrypted with"
    )


def _salt_of(path: str) -> bytes:
    return regular_head(path, SALT) or b""


def _opens_clear(where: str, encrypt: bool | None) -> bool:
    """Whether :func:`connect` opens ``where`` with Python's ``sqlite3``: a clear file, or a new one not to
    be encrypted."""
    existing = os.path.isfile(where) and os.path.getsize(where) > 0
    return not is_encrypted(where) if existing else not encrypt


def connect(
    path: str,
    *,
    encrypt: bool | None = None,
    readonly: bool = False,
    cipher: bool = False,
    secret: bytes | None = None,
    **kwargs: Any,
) -> sqlite3.Connection:
    """A connection to the world file ``path`` (``kwargs`` as :func:`sqlite3.connect`'s).

    ``encrypt``: None opens the file as it is (a missing or empty file is created clear); True creates a
    missing or empty file encrypted (an existing clear one stays clear: convert it with ``agora encrypt``).
    ``readonly`` opens it with ``mode=ro``. ``cipher`` opens a clear file with SQLCipher too (no key: for
    ``sqlcipher_export``, :mod:`sim.store.convert`). ``secret``: this key rather than the process's.

    Raises:
        BadFileError: encrypted and no key given, or the key does not open it.
        BadParameterError: it is (or is to be) encrypted and the crypto extra is not installed.
    """
    where = os.path.abspath(path)
    target, uri = (f"file:{where}?mode=ro", True) if readonly else (where, bool(kwargs.pop("uri", False)))
    existing = os.path.isfile(where) and os.path.getsize(where) > 0
    if _opens_clear(where, encrypt):
        if cipher and existing:
            require_extra()
            return cast(sqlite3.Connection, _cipher.connect(target, uri=uri, **kwargs))
        return sqlite3.connect(target, uri=uri, **kwargs)
    if _cipher is None:
        if existing:
            raise BadParameterError(
                f"world {shown(path)} is encrypted, and opening it needs the crypto extra: {INSTALL}"
            )
        require_extra()
    secret = secret if secret is not None else key()
    if secret is None:
        if existing:
            raise encrypted_error(path)
        raise BadParameterError(f"encrypting world {shown(path)} needs a key: {HOW.replace('its key', 'a key')}")
    salt = _salt_of(where) if existing else new_salt(secret)
    raw = derive(secret, salt)
    con = _cipher.connect(target, uri=uri, **kwargs)
    try:
        con.execute("PRAGMA cipher_log_level = NONE")  # a failed HMAC check is ours to report, in one sentence
        con.execute(f"PRAGMA key = \"x'{raw.hex()}{salt.hex()}'\"")
        for pragma in _CIPHER_SETTINGS:  # given at every open: an encrypted file's header does not say them
            con.execute(f"PRAGMA {pragma}")
        con.execute("PRAGMA temp_store = MEMORY")  # no temporary file of clear pages
        con.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except _cipher.DatabaseError:
        con.close()
        raise wrong_key_error(path) from None
    return cast(sqlite3.Connection, con)


async def connect_async(path: str, *, encrypt: bool | None = None, **kwargs: Any) -> aiosqlite.Connection:
    """:func:`connect` through aiosqlite (its own thread); the same refusals, raised here."""
    if _opens_clear(os.path.abspath(path), encrypt):
        return await aiosqlite.connect(path, **kwargs)
    connector = functools.partial(connect, path, encrypt=encrypt, **kwargs)
    return await aiosqlite.Connection(connector, iter_chunk_size=64)


def forget_derived() -> None:
    """Drop the derived keys cached in this process (tests; after a rekey)."""
    global _spare
    with _guard:
        _derived.clear()
        _spare = None
