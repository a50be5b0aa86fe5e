"""``agora info``: a world file described from its metadata, in a module of its own so that the command
(which scripts call often) loads the store and nothing above it."""

from __future__ import annotations

import argparse

from sim.cli.output import describe, emit
from sim.store.worldfile import world_info


def handle(args: argparse.Namespace) -> int:
    """Run ``agora info``; returns the exit code."""
    info = world_info(args.world)
    emit(args, info, describe(info))
    return 0
