"""A table file a user named, read within bounds checked while it streams in, never read whole and then
checked: observation files (``agora fit --observed``), series and cascades files (``agora plot``) and
posterior samples (``agora forecast --posterior``).

- **A regular file.** The path is opened without blocking and checked with ``fstat`` before a byte is read: a
  pipe (FIFO), a device (``/dev/zero``), a socket or a folder is one sentence at once instead of a reader held
  for ever or spinning on endless bytes.
- **Bytes.** A file larger than :data:`MAX_BYTES` is refused from its size alone (a 2 GB sparse file costs
  nothing), and a gzip file is refused while it is decompressed as soon as its text passes :data:`MAX_BYTES`
  or expands more than :data:`MAX_RATIO` times (the bound edge lists have, :mod:`sim.store.importer`).
- **Lines.** No line may be longer than :data:`MAX_LINE` (a 1 MB gzip file expanding to 1 GiB without a line
  break is refused after its first 64 KiB) and a file may hold at most :data:`MAX_ROWS` lines.

Why these numbers: a series, cascades or posterior file that Agora writes has short lines (a few numbers and a
measure name: tens of bytes; a sweep's key columns add a few names) and about 25 bytes a row, so 10 million
rows are about 256 MiB of text; real tables compress 3 to 30 times. No real file meets any bound, and each
hostile one is refused having cost a few MiB.

When refusing could cost more than :data:`CHECK_FIRST` bytes held in memory (a large plain file, or a gzip
file that may expand to more), :func:`read_bounded` streams the file once without keeping it, then reads it:
a refused file never costs more than a chunk.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import io
import os
import stat
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np

from sim.errors import BadFileError

#: The most text a table file may hold (decompressed): about 10 million rows of a series or cascades file.
MAX_BYTES = 256 * 2**20
#: The longest line a table file may have: its rows are a few numbers and names, tens of bytes.
MAX_LINE = 64 * 2**10
#: The most lines a table file may have (a bound on the memory and time of parsing it).
MAX_ROWS = 10_000_000
#: How many times a gzip file may expand (real tables and edge lists: 2 to 30; one line repeated: over 1000).
MAX_RATIO = 100
#: Decompressed text never refused for its ratio: so little costs nothing, however well it compresses.
RATIO_FLOOR = 1 << 20
#: What a refusal may cost in memory before a file is checked in a pass of its own (see the module docstring).
CHECK_FIRST = 32 * 2**20
#: Bytes read at a time.
CHUNK = 1 << 20


def ratio_limit(compressed: int, ratio: float = MAX_RATIO) -> int:
    """The most bytes ``compressed`` bytes of gzip may expand to: ``ratio`` times as many, and at least
    :data:`RATIO_FLOOR`."""
    return max(RATIO_FLOOR, int(compressed * ratio))


@dataclass(frozen=True)
class Bounds:
    """What a file may hold: ``text`` bytes (decompressed), lines of at most ``line`` bytes, ``rows`` lines,
    a gzip expansion of ``ratio``."""

    text: int = MAX_BYTES
    line: int = MAX_LINE
    rows: int = MAX_ROWS
    ratio: float = MAX_RATIO


def _mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


@dataclass(frozen=True)
class Named:
    """How errors name a file: ``what`` (e.g. "series file") and ``give``, what to give instead (e.g. "a
    file written by agora run --series")."""

    path: str
    what: str
    give: str

    def bad(self, text: str) -> BadFileError:
        return BadFileError(f"{self.what} {self.path} {text}")


def _open_regular(name: Named) -> tuple[BinaryIO, int]:
    """``name.path`` opened for reading bytes after ``fstat`` said it is a regular file; and its size."""
    try:
        # Without blocking: a FIFO opened for reading otherwise waits for a writer for ever.
        fd = os.open(name.path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise name.bad("does not exist: check the path") from None
    except IsADirectoryError:  # pragma: no cover - Linux opens a folder for reading; other systems may not
        raise name.bad(f"is a folder: give {name.give}") from None
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a socket
            raise name.bad(f"is not a regular file (a pipe, a device or a socket): give {name.give}") from None
        raise name.bad(f"cannot be read ({exc.strerror or exc}): check its permissions") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise name.bad(f"is a folder: give {name.give}")
        if not stat.S_ISREG(st.st_mode):
            raise name.bad(f"is not a regular file (a pipe, a device or a socket): give {name.give}")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return open(fd, "rb", buffering=0), int(st.st_size)  # noqa: SIM115 - the caller closes it
    except BaseException:
        os.close(fd)
        raise


def check_regular(path: str, what: str, give: str) -> int:
    """Check that ``path`` is a regular file that can be opened for reading (see :func:`opened`); its size.

    Raises:
        BadFileError: no file there, a folder, a pipe, a device or a socket, or a file that cannot be read.
    """
    fh, size = _open_regular(Named(path, what, give))
    fh.close()
    return size


@contextlib.contextmanager
def opened(path: str, what: str, give: str, *, limit: int = MAX_BYTES) -> Iterator[BinaryIO]:
    """``path`` open for reading bytes, checked first to be a regular file of at most ``limit`` bytes (so a
    FIFO, a device or a huge sparse file costs nothing): for readers that bound what they read themselves,
    such as Parquet's.

    Raises:
        BadFileError: see :func:`check_regular`; a file larger than ``limit``.
    """
    name = Named(path, what, give)
    fh, size = _open_regular(name)
    with fh:
        if size > limit:
            raise name.bad(f"is {_mib(size)}, more than the {_mib(limit)} Agora reads: keep a part of it")
        yield fh


class _Bounded(io.RawIOBase):
    """A binary stream over a regular file (and gzip, when ``gz``) that raises one sentence as soon as what it
    has given passes a bound: text, line length, rows, gzip expansion."""

    def __init__(self, name: Named, raw: BinaryIO, size: int, gz: bool, bounds: Bounds) -> None:
        super().__init__()
        self.named, self.raw, self.bounds, self.size = name, raw, bounds, size
        self.source: Any = gzip.GzipFile(fileobj=raw, mode="rb") if gz else raw
        self.expand = ratio_limit(size, bounds.ratio) if gz else None
        self.given = 0  # bytes given so far
        self.lines = 0  # line breaks given so far
        self.run = 0  # bytes since the last line break

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        chunk = self.source.read(min(len(view), CHUNK))
        n = len(chunk)
        if n:
            self._check(chunk)
            view[:n] = chunk
        return n

    def _check(self, chunk: bytes) -> None:
        b, name = self.bounds, self.named
        self.given += len(chunk)
        if self.given > b.text:
            raise name.bad(
                f"holds more than {_mib(b.text)} of text once decompressed: Agora reads at most that much, so keep "
                "a part of it"
            )
        if self.expand is not None and self.given > self.expand:
            raise name.bad(
                f"expands more than {b.ratio:g} times when decompressed ({self.size / 2**10:,.0f} KiB of gzip to "
                f"over {_mib(self.expand)}), far beyond any real table (a gzip bomb?): decompress it yourself and "
                "keep the part you need"
            )
        ends = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == 10)
        long_line = None  # the number of the first line longer than the bound, if any
        if ends.size:
            starts = np.concatenate(([-self.run], ends[:-1] + 1))  # the first began in an earlier chunk
            over = np.flatnonzero(ends - starts > b.line)
            tail = len(chunk) - int(ends[-1]) - 1
            if over.size:
                long_line = self.lines + int(over[0]) + 1
            elif tail > b.line:
                long_line = self.lines + int(ends.size) + 1
            self.run = tail
        else:
            self.run += len(chunk)
            if self.run > b.line:
                long_line = self.lines + 1
        if long_line is not None:
            raise name.bad(
                f"line {long_line:,} is longer than {b.line // 2**10:,} KiB, longer than any row of a table Agora "
                f"reads: give {name.give}"
            )
        self.lines += int(ends.size)
        if self.lines > b.rows + 1:  # the header, and the rows
            raise name.bad(f"has more than {b.rows:,} rows: Agora reads at most that many, so keep a part of it")

    def close(self) -> None:
        try:
            if self.source is not self.raw:
                self.source.close()
            self.raw.close()
        finally:
            super().close()


@contextlib.contextmanager
def bounded_stream(path: str, what: str, give: str, *, gz: bool, bounds: Bounds = Bounds()) -> Iterator[BinaryIO]:
    """``path`` (gzip-compressed when ``gz``) as a buffered binary stream that refuses, in one sentence while it
    is read, more than ``bounds`` allows; the file is checked first to be regular and no larger than
    ``bounds.text``.

    Raises:
        BadFileError: see :func:`check_regular`; a bound passed (the line named, for a long line). A damaged
            gzip stream raises what :mod:`gzip` raises (:data:`GZIP_ERRORS`).
    """
    name = Named(path, what, give)
    raw, size = _open_regular(name)
    if size > bounds.text:
        raw.close()
        of = " of gzip" if gz else ""
        raise name.bad(f"is {_mib(size)}{of}, more than the {_mib(bounds.text)} of text Agora reads: keep a part of it")
    with io.BufferedReader(_Bounded(name, raw, size, gz, bounds), buffer_size=CHUNK) as stream:
        yield stream


@contextlib.contextmanager
def bounded_text(path: str, what: str, give: str, *, gz: bool, bounds: Bounds = Bounds()) -> Iterator[io.TextIOWrapper]:
    """:func:`bounded_stream` as UTF-8 text (a byte-order mark skipped, line ends kept for the ``csv`` module).

    Raises:
        BadFileError: as :func:`bounded_stream`; bytes that are not UTF-8 raise ``UnicodeDecodeError``.
    """
    with (
        bounded_stream(path, what, give, gz=gz, bounds=bounds) as raw,
        io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as text,
    ):
        yield text


def read_bounded(path: str, what: str, give: str, *, gz: bool, bounds: Bounds = Bounds()) -> bytes:
    """The bytes of ``path`` (decompressed when ``gz``; a UTF-8 byte-order mark removed), read within ``bounds``.

    Where refusing could hold more than :data:`CHECK_FIRST` bytes, the file is streamed once without being
    kept, then read: a file that passes a bound costs a chunk of memory, however large it is.

    Raises:
        BadFileError: as :func:`bounded_stream`; damaged gzip raises what :mod:`gzip` raises.
    """
    data = read_bounded_buffer(path, what, give, gz=gz, bounds=bounds)
    return bytes(data)


def read_bounded_buffer(path: str, what: str, give: str, *, gz: bool, bounds: Bounds = Bounds()) -> bytearray:
    """As :func:`read_bounded`, into one buffer of the file's size: the text costs its size in memory once, never
    twice (a plain file's size is known before it is read; a gzip file's buffer grows in place).

    Raises:
        BadFileError: as :func:`bounded_stream`; damaged gzip raises what :mod:`gzip` raises.
    """
    with bounded_stream(path, what, give, gz=gz, bounds=bounds) as stream:
        size = stream.raw.size  # type: ignore[attr-defined]
        if min(bounds.text, ratio_limit(size, bounds.ratio) if gz else size) > CHECK_FIRST:
            while stream.read(CHUNK):
                pass
        else:
            return _strip_bom(_read_all(stream, 0 if gz else size))
    with bounded_stream(path, what, give, gz=gz, bounds=bounds) as stream:
        return _strip_bom(_read_all(stream, 0 if gz else size))


def _read_all(stream: BinaryIO, size: int) -> bytearray:
    """Everything ``stream`` gives, into a buffer of ``size`` bytes that grows if more comes."""
    buf = bytearray(size)
    got = 0
    view = memoryview(buf)
    while got < size:
        n = stream.readinto(view[got:])  # type: ignore[attr-defined]
        if not n:
            break
        got += n
    view.release()
    del buf[got:]
    while chunk := stream.read(CHUNK):  # a gzip file, or one that grew since its size was taken
        buf += chunk
    return buf


def _strip_bom(buf: bytearray) -> bytearray:
    if buf.startswith(b"\xef\xbb\xbf"):
        del buf[:3]
    return buf


#: What reading a damaged gzip stream may raise.
GZIP_ERRORS = (OSError, EOFError, zlib.error)

__all__ = [
    "CHECK_FIRST",
    "GZIP_ERRORS",
    "MAX_BYTES",
    "MAX_LINE",
    "MAX_RATIO",
    "MAX_ROWS",
    "RATIO_FLOOR",
    "Bounds",
    "bounded_stream",
    "bounded_text",
    "check_regular",
    "opened",
    "ratio_limit",
    "read_bounded",
    "read_bounded_buffer",
]
