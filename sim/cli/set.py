"""``agora set WORLD COLUMN FILE``: set a per-agent column of a world from a CSV file of ``id,value`` rows
(:mod:`sim.model.columns`), and ``agora set WORLD COLUMN --clear``: remove a data column. COLUMN may be a
built-in measurement, ``infectivity``, any attribute of the world (a category's file gives labels), or a
column a model starts from.

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
from sim.model.columns import (
    apply_column,
    category_values,
    clear_column,
    column_spec,
    column_summary,
    column_values,
    read_column_file,
    read_label_file,
)
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
    # The lock before the read: nobody changes the world between what this reads and what it writes. The
    # column is known once the world is read (its own attributes may be set).
    with world_lock(args.world, what="set a column"):
        return await _set(args, registry)


async def _set(args: argparse.Namespace, registry: Any) -> int:
    world = await open_world(args.world)
    if registry is None:
        clear_column(world, args.column)
        details: dict[str, Any] = {"column": args.column, "cleared": True}
        text = f"column {args.column} removed: models draw their variable again"
    else:
        spec = column_spec(registry, args.column, world)
        if spec.category:
            longest = max((len(x) for x in world.category_labels(spec.name)), default=0)
            ids, texts = read_label_file(args.file, world.n, longest)
            column = category_values(world, spec, ids, texts, repr(args.file), path=args.file)
        else:
            ids, values = read_column_file(args.file, world.n)
            column = column_values(world, spec, ids, values, repr(args.file))
        apply_column(world, spec.name, column)
        details = {**column_summary(spec, column), "file": os.path.abspath(args.file)}
        text = f"column {spec.name} set for {details['agents']:,} agents: " + (
            f"{details['missing']:,} missing"
            if spec.category
            else f"mean {details['mean']:.6g}, min {details['min']:.6g}, max {details['max']:.6g}"
        )
        if spec.models:
            text += f"; {', '.join(spec.models)} start from it (run them with --seeds none)"
    writer = await WorldWriter(args.world).start()
    try:
        await writer.checkpoint(world, [])
        writer.submit_audit("set", details)  # after the checkpoint: the log never names a change the file lacks
    finally:
        await writer.close()
    emit(args, {"world": args.world, **details}, text)
    return 0
