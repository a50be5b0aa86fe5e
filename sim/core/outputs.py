"""An output never replaces an input: the one check every command's output paths go through.

A command names the files it reads (a world, an observation file, a posterior, a seed file, a key file...) and
the files it writes (``-o``, ``--plot``, ``--series``, a snapshot...). Before anything is opened, each output is
compared with each input, and with the files that belong to an input world (SQLite's ``-wal``, ``-shm`` and
``-journal``, its lock file, the token file ``agora serve`` writes beside it): one that is the same file is refused
in one sentence, ``--force`` or not. "The same file" follows links: two paths are the same when their real paths
are (symbolic links resolved, even to a file not made yet), or when both exist and share a device and an inode (a
hard link).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from sim.core.worldlock import lock_path
from sim.errors import BadParameterError

#: The files SQLite keeps beside a world while it is open: the write-ahead log, its index and a rollback journal.
SQLITE_SIDE_FILES = (("-wal", "write-ahead log"), ("-shm", "shared-memory index"), ("-journal", "rollback journal"))
#: The token file ``agora serve`` writes beside a world it serves (``sim.api.tokens.token_file_for``).
TOKEN_SUFFIX = ".token"


@dataclass(frozen=True)
class Input:
    """A file a command reads. ``what`` says what it is in a sentence ("the world 'w.db'", "the --observed file
    'obs.csv'"); ``world``: it is a world file, whose side files are inputs too."""

    path: str
    what: str
    world: bool = False


@dataclass(frozen=True)
class Output:
    """A file a command writes, and the flag (or argument) that names it."""

    path: str
    flag: str


def world_files(world: str) -> list[tuple[str, str]]:
    """The files that make up or guard the world at ``world``, each with what it is: the file itself, SQLite's
    side files (named from the path as given and from its real path), its lock file and its token file."""
    shown = repr(world)
    files = [(world, f"the world {shown}")]
    bases = dict.fromkeys((os.path.abspath(world), os.path.realpath(world)))
    for base in bases:
        files += [(base + suffix, f"the {noun} of world {shown}") for suffix, noun in SQLITE_SIDE_FILES]
        files.append((base + TOKEN_SUFFIX, f"the token file of world {shown}"))
    files.append((lock_path(world), f"the lock file of world {shown}"))
    return files


def same_file(a: str, b: str) -> bool:
    """Whether the paths ``a`` and ``b`` name one file: the same real path (links followed, whether or not the
    file exists yet), or two existing paths on one device with one inode (a hard link)."""
    try:
        if os.path.realpath(a) == os.path.realpath(b):
            return True
        sa, sb = os.stat(a), os.stat(b)
    except (OSError, ValueError):  # missing, unreadable folder, a NUL in the path
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def refuse_replacing_inputs(outputs: Sequence[Output], inputs: Sequence[Input], command: str = "the command") -> None:
    """Refuse an output that is one of the ``inputs`` (or a file of an input world), or two outputs that are one
    file, before anything is read or written.

    Raises:
        BadParameterError: one sentence naming the output, what it would replace and what to do.
    """
    guarded: list[tuple[str, str]] = []
    for given in inputs:
        guarded += world_files(given.path) if given.world else [(given.path, given.what)]
    for out in outputs:
        for path, what in guarded:
            if same_file(out.path, path):
                raise BadParameterError(
                    f"{out.flag} {out.path!r} is {what}, which {command} reads: an output never replaces an input, "
                    f"even when forced; give {out.flag} another file"
                )
    for i, out in enumerate(outputs):
        for other in outputs[:i]:
            if same_file(out.path, other.path):
                raise BadParameterError(
                    f"{other.flag} and {out.flag} name the same file {out.path!r}: give each its own file"
                )
