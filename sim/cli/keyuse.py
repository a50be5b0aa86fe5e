"""A key given with ``--key-file`` is a key used: a command whose worlds and snapshots are all clear, and that
encrypts nothing, refuses it in one sentence instead of ignoring it (the user believes the world is encrypted).

The ``AGORA_WORLD_KEY`` environment variable is not refused so: it is set once for a shell, for whichever of
its worlds are encrypted. ``agora encrypt``, ``decrypt`` and ``rekey`` say themselves what is wrong with a world
that is not in the state they convert from.
"""

from __future__ import annotations

import argparse

from sim.core import sealed, worldkey
from sim.errors import BadParameterError
from sim.store.snapshot import MAGIC as SNAPSHOT_MAGIC

#: The commands that convert a world between clear and encrypted: they check the world's state themselves.
_CONVERTS = ("encrypt", "decrypt", "rekey")


def _state(path: str) -> str | None:
    """``encrypted`` (an encrypted world or a sealed snapshot), ``world`` (a clear world), ``snapshot`` (a clear
    snapshot), or None (missing, empty, or something else: the command says what is wrong with it)."""
    if worldkey.is_encrypted(path) or sealed.sealed_file(path):
        return "encrypted"
    head = worldkey.regular_head(path, len(worldkey.SQLITE_MAGIC)) or b""
    if head == worldkey.SQLITE_MAGIC:
        return "world"
    if head.startswith(SNAPSHOT_MAGIC):
        return "snapshot"
    return None


def refuse_unused_key(args: argparse.Namespace) -> None:
    """Refuse ``--key-file`` when the command would not use the key: every world or snapshot it reads is clear,
    the world it replaces (if any) is clear, and it is not asked to ``--encrypt``.

    Raises:
        BadParameterError: one sentence naming the clear file and what to do.
    """
    command = getattr(args, "command", None)
    if command in _CONVERTS or getattr(args, "encrypt", False):
        return
    world = getattr(args, "world", None)
    read = [world] if world else []  # save writes its SNAPSHOT
    if command in ("new", "load"):  # their WORLD is written; load reads its SNAPSHOT
        if _state(args.world) == "encrypted":
            return  # a world replaced with --force stays encrypted
        read = [args.snapshot] if command == "load" else []
    states = [_state(p) for p in read]
    if "encrypted" in states or None in states:
        return  # the key is used, or the command will say what is wrong with the file
    if command == "new":
        raise BadParameterError(
            "agora new writes a clear world unless --encrypt is given, so --key-file would not be used: add "
            "--encrypt to encrypt the world with it, or drop --key-file"
        )
    if not read:
        return  # nothing here is opened with the key (a benchmark, a plugin check)
    path, state = read[0], states[0]
    if command == "load":
        fix = "add --encrypt to load it into an encrypted world, or drop --key-file"
    elif command == "save":
        fix = "add --encrypt to write an encrypted snapshot, or drop --key-file"
    elif state == "world":
        fix = f"drop --key-file, or encrypt the world first with agora encrypt {path} --key-file FILE"
    else:
        fix = "drop --key-file"
    raise BadParameterError(f"{state} {path!r} is not encrypted, so the key of --key-file would not be used: {fix}")
