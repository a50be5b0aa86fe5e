"""``agora set WORLD COLUMN FILE``: set a per-agent column of a world from a CSV file of ``id,value`` rows
(:mod:`sim.model.columns`), and ``agora set WORLD COLUMN --clear``: remove a data column.

Everything is checked before the world file is touched: the column, the file, every id and value. The
column is then written in one checkpoint, and the change recorded in the audit log (action ``set``: the
column, the file, how many agents, the mean, min and max, and the SHA-256 of the values in agent order).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from sim.cli.output import emit
from sim.core.worldlock import world_lock
from sim.errors import BadParameterError
from sim.model.columns import apply_column, clear_column, column_spec, column_summary, column_values, read_column_file
from sim.model.registry import plugin_registry
from sim.store.worldfile import open_world
from sim.store.writer import WorldWriter


def handle(args: argparse.Namespace) -> Any:
    """``agora set``: a coroutine that ``main`` runs (its exit code)."""
    return set_command(args)


async def set_command(args: argparse.Namespace) -> int:
    """Run ``agora set`` from its parsed arguments; returns the exit code.

    Raises:
        AgoraError: a user's mistake (a column that cannot be set, a bad file, ids or values), before the world
            file is changed.
    """
    if args.clear and args.file:
        raise BadParameterError("--clear removes the column and reads no FILE: give one or the other")
    if not args.clear and not args.file:
        raise BadParameterError(
            f"give a FILE of id,value rows to set {args.column[:60]!r} from (or --clear to remove a data column)"
        )
    registry = None if args.clear else plugin_registry(args.world, args.plugins)
    spec = None if registry is None else column_spec(registry, args.column)
    # The lock before the read: nobody changes the world between what this reads and what it writes.
    with world_lock(args.world, what="set a column"):
        return await _set(args, spec)


async def _set(args: argparse.Namespace, spec: Any) -> int:
    world = await open_world(args.world)
    if spec is None:
        clear_column(world, args.column)
        details: dict[str, Any] = {"column": args.column, "cleared": True}
        text = f"column {args.column} removed: models draw their variable again"
    else:
        ids, values = read_column_file(args.file, world.n)
        column = column_values(world, spec, ids, values, repr(args.file))
        apply_column(world, spec.name, column)
        details = {**column_summary(spec, column), "file": os.path.abspath(args.file)}
        text = (
            f"column {spec.name} set for {details['agents']:,} agents: mean {details['mean']:.6g}, "
            f"min {details['min']:.6g}, max {details['max']:.6g}"
            + ("" if spec.builtin else f"; {', '.join(spec.models)} start from it (run them with --seeds none)")
        )
    writer = await WorldWriter(args.world).start()
    try:
        await writer.checkpoint(world, [])
        writer.submit_audit("set", details)  # after the checkpoint: the log never names a change the file lacks
    finally:
        await writer.close()
    emit(args, {"world": args.world, **details}, text)
    return 0
