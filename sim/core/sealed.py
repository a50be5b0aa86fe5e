"""Sealed files: a byte stream encrypted and authenticated with AES-256-GCM (encrypted snapshots).

A sealed file is the STREAM construction (Hoang, Reyhanitabar, Rogaway and Vizár, 2015; as ``age`` uses
it): the plaintext cut into chunks, each encrypted on its own with a nonce that holds its position and
whether it is the last, so a chunk cannot be altered, dropped, repeated, moved or added after the end
without the file failing its authentication. Layout::

    b"AGORAENC"  version (1 byte)  salt (16)  nonce prefix (7)  chunk size (4, big-endian)
    key check (16)  CRC-32 of the 52 bytes before it (4)                         the header: 56 bytes
    chunk 0: AES-256-GCM(plaintext[0:chunk size]) + tag (16)
    ...
    chunk k-1 (the last, 0..chunk size bytes of plaintext) + tag

Chunk ``i``'s nonce is the prefix, ``i`` (4 bytes, big-endian) and 1 for the last chunk else 0; its
associated data is the whole header. Every chunk but the last holds exactly the chunk size, so the file's
size alone says where each chunk lies.

The keys come from a master key: scrypt of the world key (the passphrase, :func:`sim.core.worldkey.derive`)
and the salt, or a raw 32-byte data key (one that never touches a disk: :func:`new_data_key`). The AES
key is HMAC-SHA256(master, "agora-sealed-aead" + salt); the key check is HMAC-SHA256(master,
"agora-key-check" + the header's first 36 bytes), cut to 16 bytes, so a wrong key is told apart from an
altered file. The CRC tells an accidentally damaged header from a wrong key; a forger who recomputes it
gains nothing: the key check and every chunk's tag still fail.

Everything read from a sealed file is untrusted: the chunk size must lie in
:data:`MIN_CHUNK`..:data:`MAX_CHUNK`, and the plaintext's size follows from the file's size (never from a
field), so nothing larger than the file is ever allocated. Every chunk is authenticated before anything
is returned; every failure is one :class:`BadFileError` sentence that never holds the key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, BinaryIO, Protocol

from sim.core import worldkey
from sim.core.diskio import reading_file
from sim.core.memory import ensure_memory
from sim.errors import BadFileError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"AGORAENC"
VERSION = 1
#: The chunk size written: 1 MiB of plaintext per chunk.
CHUNK = 1 << 20
#: The chunk sizes accepted from a file.
MIN_CHUNK, MAX_CHUNK = 4096, 16 << 20
TAG = 16
#: The header's fields: magic, version, salt, nonce prefix, chunk size, key check, CRC-32.
HEADER = struct.Struct(">8sB16s7sI16sI")
_FIELDS = 8 + 1 + 16 + 7 + 4  # what the key check covers
#: A raw data key's length.
DATA_KEY = 32
_KEPT = "the current world was left as it was"

Bytes = bytes | bytearray | memoryview


def is_sealed(head: bytes) -> bool:
    """Whether ``head`` (a file's first bytes, at least 8) starts a sealed file."""
    return head[: len(MAGIC)] == MAGIC


def sealed_file(path: str) -> bool:
    """Whether the file at ``path`` starts as a sealed file does (False when it is not a regular file or
    cannot be read: a pipe or a device is never opened here, a reader would wait on it forever)."""
    head = worldkey.regular_head(path, len(MAGIC) + 1)
    return head is not None and is_sealed(head)


def derive_ahead(*paths: str | None) -> None:
    """Start deriving the keys of the encrypted worlds and sealed snapshots among ``paths`` with the key
    given (:func:`sim.core.worldkey.derive_ahead`), so that their scrypt runs while a command's modules
    load; nothing for other files, or without a key or the extra."""
    secret = worldkey.key()
    if secret is None or not worldkey.available():
        return
    for path in paths:
        if not isinstance(path, str):
            continue
        salt = worldkey.salt_of_world(path)
        if salt is None:
            head = worldkey.regular_head(path, HEADER.size)
            if head is not None and len(head) == HEADER.size and is_sealed(head):
                salt = HEADER.unpack(head)[2]
        if salt is not None:
            worldkey.derive_ahead(secret, salt)


def new_data_key() -> bytes:
    """A fresh random 32-byte data key, for sealing bytes that are kept in memory only (a Ray payload)."""
    return os.urandom(DATA_KEY)


def _aesgcm(what: str) -> type[AESGCM]:
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: PLC0415 - the crypto extra
    except ImportError:
        worldkey.require_extra(what)
        raise  # pragma: no cover - require_extra raised
    return AESGCM


def _mac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def _master(secret: bytes | None, data_key: bytes | None, salt: bytes) -> bytes:
    if data_key is not None:
        if len(data_key) != DATA_KEY:
            raise ValueError("a data key is 32 bytes")
        return data_key
    assert secret is not None
    return worldkey.derive(secret, salt)


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    return prefix + counter.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


class SealingWriter:
    """A write-only file that seals what is written to ``fh``: the header at once, then a chunk each time a
    full one is followed by more, the last at :meth:`finish` (then the caller flushes and fsyncs ``fh``).

    Give exactly one of ``secret`` (the world key: a passphrase, through scrypt and a random salt) and
    ``data_key`` (32 random bytes, used as they are: :func:`new_data_key`). ``fh`` only ever receives
    ciphertext.
    """

    def __init__(
        self, fh: BinaryIO, secret: bytes | None = None, *, data_key: bytes | None = None, chunk_size: int = CHUNK
    ) -> None:
        if (secret is None) == (data_key is None):
            raise ValueError("give exactly one of secret and data_key")
        if not MIN_CHUNK <= chunk_size <= MAX_CHUNK:
            raise ValueError(f"chunk_size must be in {MIN_CHUNK}..{MAX_CHUNK}")
        aead = _aesgcm("an encrypted snapshot")
        salt = worldkey.new_salt(secret) if secret is not None else os.urandom(16)
        self._prefix = os.urandom(7)
        master = _master(secret, data_key, salt)
        fields = MAGIC + bytes([VERSION]) + salt + self._prefix + struct.pack(">I", chunk_size)
        check = _mac(master, b"agora-key-check" + fields)[:16]
        self._header = fields + check + struct.pack(">I", zlib.crc32(fields + check))
        self._aead = aead(_mac(master, b"agora-sealed-aead" + salt))
        self._fh, self._chunk = fh, chunk_size
        self._buf = bytearray()
        self._counter = 0
        self._pos = 0
        self._done = False
        fh.write(self._header)

    def _seal(self, last: bool) -> None:
        if self._counter >= 2**32:
            raise ValueError("a sealed file holds at most 2**32 chunks")
        nonce = _nonce(self._prefix, self._counter, last)
        self._fh.write(self._aead.encrypt(nonce, bytes(self._buf), self._header))
        self._counter += 1
        self._buf.clear()

    def write(self, data: Bytes) -> int:
        """Seal ``data`` (any bytes-like object); returns its length."""
        if self._done:
            raise ValueError("write to a finished SealingWriter")
        view = memoryview(data).cast("B")
        i, n = 0, len(view)
        while i < n:
            if len(self._buf) == self._chunk:  # a full chunk, and more follows: not the last
                self._seal(last=False)
            take = min(self._chunk - len(self._buf), n - i)
            self._buf += view[i : i + take]
            i += take
        self._pos += n
        return n

    def tell(self) -> int:
        """The position in the plaintext (what a snapshot's manifest records as offsets)."""
        return self._pos

    def flush(self) -> None:
        """Flush ``fh`` (the chunk being filled stays here until it is full or :meth:`finish`)."""
        self._fh.flush()

    def finish(self) -> None:
        """Seal the last chunk (possibly empty) and flush ``fh``; nothing may be written after."""
        if not self._done:
            self._seal(last=True)
            self._done = True
        self._fh.flush()


def _damaged(what: str, name: str) -> BadFileError:
    return BadFileError(f"{what} {name!r} is damaged or was altered (it failed its authentication); {_KEPT}")


def _open_header(head: bytes, what: str, name: str, data_key: bytes | None) -> tuple[bytes, int, bytes]:
    """The AES key, chunk size and nonce prefix of a sealed file's header, every field checked."""
    if len(head) < HEADER.size or not is_sealed(head):
        raise _damaged(what, name)
    _, version, salt, prefix, chunk, check, crc = HEADER.unpack(head)
    if zlib.crc32(head[: _FIELDS + 16]) != crc:
        raise _damaged(what, name)
    if version != VERSION:
        raise BadFileError(
            f"{what} {name!r} is encrypted in format version {version}, this Agora reads version {VERSION}: "
            "open it with the Agora that saved it"
        )
    if not MIN_CHUNK <= chunk <= MAX_CHUNK:
        raise _damaged(what, name)
    secret = None if data_key is not None else worldkey.key()
    if data_key is None and secret is None:
        raise worldkey.KeyNeededError(f"{what} {name!r} is encrypted: {worldkey.HOW}")
    master = _master(secret, data_key, salt)
    if not hmac.compare_digest(check, _mac(master, b"agora-key-check" + head[:_FIELDS])[:16]):
        raise worldkey.KeyNeededError(
            f"{what} {name!r} cannot be opened with the key given: give the key it was saved with"
        )
    return _mac(master, b"agora-sealed-aead" + salt), chunk, prefix


def _unseal(read: Callable[[int], Bytes], size: int, what: str, name: str, data_key: bytes | None) -> bytearray:
    """The plaintext of the sealed stream ``read`` of ``size`` bytes, every chunk authenticated first."""
    aead_cls = _aesgcm(f"opening an encrypted {what}")
    from cryptography.exceptions import InvalidTag  # noqa: PLC0415 - the crypto extra, present (above)

    head = bytes(read(HEADER.size))
    key, chunk, prefix = _open_header(head, what, name, data_key)
    body = size - HEADER.size
    whole = chunk + TAG
    count = max(1, -(-body // whole))
    last_len = body - (count - 1) * whole
    if last_len < TAG or count > 2**32:  # truncated inside the last tag, or more chunks than nonces
        raise _damaged(what, name)
    plain = body - count * TAG  # at most the file's size: nothing larger is allocated
    ensure_memory(plain + 2 * whole, f"opening {what} {name!r}", _KEPT)
    out = bytearray(plain)
    aead = aead_cls(key)
    pos = 0
    for i in range(count):
        last = i == count - 1
        part = read(last_len if last else whole)
        if len(part) != (last_len if last else whole):
            raise _damaged(what, name)  # it changed while being read
        try:
            clear = aead.decrypt(_nonce(prefix, i, last), part, head)
        except InvalidTag:
            raise _damaged(what, name) from None
        out[pos : pos + len(clear)] = clear
        pos += len(clear)
    if len(read(1)):
        raise _damaged(what, name)  # it grew while being read
    return out


class Readable(Protocol):
    """What :func:`unseal_file` reads from: a file open for reading bytes, or any object with ``read``."""

    def read(self, n: int, /) -> bytes: ...


def unseal_file(
    fh: Readable, size: int, *, name: str, what: str = "snapshot", data_key: bytes | None = None
) -> bytearray:
    """The plaintext of the sealed file open as ``fh`` (at its start; ``size`` bytes), all of it
    authenticated before it is returned; ``name`` and ``what`` ("snapshot") name it in errors. The key is
    ``data_key`` if given, else the world key (:func:`sim.core.worldkey.key`).

    Raises:
        BadFileError: no key given, a wrong key, or the file was altered, truncated or extended.
        ResourceError: the plaintext would not fit in memory.
    """
    return _unseal(fh.read, size, what, name, data_key)


def unseal(path: str, *, what: str = "snapshot", data_key: bytes | None = None) -> bytearray:
    """The plaintext of the sealed file ``path`` (see :func:`unseal_file`), decrypted in memory only.

    Raises:
        BadFileError: missing or unreadable, no key given, a wrong key, or altered.
        ResourceError: the plaintext would not fit in memory.
    """
    with reading_file(path, what, missing="check the path", not_a="file", give="a file") as fh:
        return unseal_file(fh, os.fstat(fh.fileno()).st_size, name=path, what=what, data_key=data_key)


def unseal_bytes(data: Bytes, *, name: str, what: str = "snapshot", data_key: bytes | None = None) -> bytearray:
    """The plaintext of the sealed bytes ``data`` (see :func:`unseal_file`).

    Raises:
        BadFileError: no key given, a wrong key, or the bytes were altered.
        ResourceError: the plaintext would not fit in memory.
    """
    view = memoryview(data).cast("B")
    at = [0]

    def read(n: int) -> memoryview:
        part = view[at[0] : at[0] + n]
        at[0] += len(part)
        return part

    return _unseal(read, len(view), what, name, data_key)
