"""``agora encrypt``, ``agora decrypt`` and ``agora rekey``: a world file converted in place, atomically
(:mod:`sim.store.convert`)."""

from __future__ import annotations

import argparse

from sim.cli.output import emit, fmt_size
from sim.core import worldkey
from sim.store.convert import convert_world


def handle(args: argparse.Namespace) -> int:
    kind = args.command
    new_key = worldkey.new_key(args.new_key_file) if kind == "rekey" else None
    data = convert_world(args.world, kind, new_key=new_key)
    done = {"encrypt": "encrypted", "decrypt": "decrypted (it is now a clear file)", "rekey": "rekeyed"}[kind]
    emit(args, data, f"{done} {args.world} ({fmt_size(data['bytes'])}, {data['seconds']:.1f} s)")
    return 0
