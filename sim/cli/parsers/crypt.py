"""The flags and commands of encryption at rest: ``--key-file`` on every command, ``--encrypt`` on ``new``,
``load`` and ``save``, and ``agora encrypt``, ``decrypt`` and ``rekey`` (``sim.cli.crypt``)."""

from __future__ import annotations

import argparse
from typing import Any

from sim.cli.args import input_file
from sim.cli.parsers.options import json_flag, world_argument

_KEY_HELP = (
    "the world key (a passphrase) is the content of FILE, which only you may read (chmod 600); "
    "default: the AGORA_WORLD_KEY environment variable"
)

#: Commands that never open a world or a snapshot: no --key-file.
_NO_KEY = {"plugins", "topics"}

_KEY_EPILOG = """Every world and snapshot the command opens or writes uses the world key: --key-file FILE or the
AGORA_WORLD_KEY environment variable. The key never leaves this process: see docs/security.md."""


def add_key_file(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    """``--key-file FILE`` on ``parser`` (a subcommand's default is suppressed, so the top level's is kept)."""
    input_file(parser, "--key-file", what="key file", default=None if top else argparse.SUPPRESS, help=_KEY_HELP)


def add_key_files(parser: argparse.ArgumentParser) -> None:
    """``--key-file`` on every (sub)command below ``parser`` that may open a world (not on ``agora`` itself:
    its help would widen every command's column; the bare ``agora`` opens the default world, made clear)."""
    stack: list[tuple[str, argparse.ArgumentParser]] = [("", parser)]
    while stack:
        name, p = stack.pop()
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub_name, child in action.choices.items():
                    if name == "" and sub_name in _NO_KEY:
                        continue
                    if not any("--key-file" in a.option_strings for a in child._actions):
                        add_key_file(child)
                    stack.append((sub_name, child))


def encrypt_flag(parser: Any, what: str) -> None:
    parser.add_argument(
        "--encrypt",
        action="store_true",
        help=f"write {what} encrypted with the world key (--key-file or AGORA_WORLD_KEY; needs the crypto "
        "extra: pip install 'agora-sim[crypto]')",
    )


def add_crypt(sub: Any) -> None:
    """``agora encrypt``, ``agora decrypt`` and ``agora rekey``."""
    for name, short, description in (
        (
            "encrypt",
            "encrypt a world file in place (atomic)",
            "Encrypt a clear world file with the world key (SQLCipher 4, AES-256). The file is rewritten beside "
            "itself and renamed over the old one: a crash at any instant leaves the old clear file or the new "
            "encrypted one, never a mix.",
        ),
        (
            "decrypt",
            "decrypt an encrypted world file in place (atomic)",
            "Write an encrypted world file back as a clear SQLite file (atomic, as agora encrypt). The clear file "
            "is readable by anyone who can read the folder: decrypt only where that is allowed.",
        ),
    ):
        p = sub.add_parser(name, help=short, description=description, epilog=_KEY_EPILOG)
        world_argument(p)
        json_flag(p)
    rekey = sub.add_parser(
        "rekey",
        help="encrypt a world file again under a new key (atomic)",
        description="Re-encrypt an encrypted world file under a new key: the old key from --key-file or "
        "AGORA_WORLD_KEY, the new one from --new-key-file or AGORA_NEW_WORLD_KEY (atomic, as agora encrypt).",
        epilog=_KEY_EPILOG,
    )
    world_argument(rekey)
    input_file(rekey, "--new-key-file", what="key file", help="the new key (a file only you may read)")
    json_flag(rekey)
