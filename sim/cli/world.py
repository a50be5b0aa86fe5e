"""``agora new``, ``agent``, ``save``, ``load``, ``social`` and ``topics``: make, describe,
copy and configure world files; and :func:`world_for_ui`, the world ``agora tui`` opens."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from sim.cli.args import check_metrics_options, social_changes
from sim.cli.fields import flag
from sim.cli.output import describe, emit, fmt_size
from sim.cli.progress import stderr_progress
from sim.core import sealed, worldkey
from sim.core.audit import append_audit
from sim.core.safe import shown
from sim.core.topics import TOPICS
from sim.core.worldlock import world_lock
from sim.engine.newworld import built_world, check_new_world
from sim.engine.requests.newworld import NewWorld
from sim.errors import AgoraError, BadParameterError
from sim.store.create import ensure_default_world
from sim.store.snapshot import SnapshotReader, save_snapshot_report
from sim.store.worldfile import check_target, open_world, read_meta, save_world, world_info
from sim.store.writer import WorldWriter


async def _cmd_new(args: argparse.Namespace) -> int:
    """``agora new``, stopped by SIGTERM as by Ctrl-C: the task is cancelled, so a world being written removes
    its temporary file (``WORLD.tmp-PID``) and its lock before the command ends (exit 143, or 130 for Ctrl-C).
    A stop while the world is still being built in memory (nothing on disk yet) ends the process at once:
    the thread building it cannot be stopped, and waiting for it could take minutes."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    stops: list[str] = []
    building = [False]

    def terminate() -> None:
        stops.append("terminated")
        task.cancel()

    try:
        loop.add_signal_handler(signal.SIGTERM, terminate)
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signals here
        pass
    try:
        return await _new(args, building)
    except asyncio.CancelledError:
        word, code = ("terminated", 143) if stops else ("interrupted", 130)
        sys.stderr.write(f"agora: {word}\n")
        sys.stderr.flush()
        if building[0]:
            os._exit(code)
        return code
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(signal.SIGTERM)


async def _new(args: argparse.Namespace, building: list[bool]) -> int:
    """``agora new`` itself (see :func:`_cmd_new`); ``building`` is true while the world is made in memory."""
    request = _new_request(args)
    check_new_world(request, args.world)
    if request.encrypt:
        worldkey.reserve_salt()  # the file's key is derived while the world is made
    name = request.name or os.path.splitext(os.path.basename(args.world))[0]
    t0 = time.perf_counter()
    with stderr_progress() as progress:
        building[0] = True
        world = await asyncio.to_thread(built_world, request, name, progress)
        building[0] = False
        t1 = time.perf_counter()
        await save_world(world, args.world, force=request.force, progress=progress, encrypt=request.encrypt)
    t2 = time.perf_counter()
    info = world_info(args.world)
    info.update({"build_seconds": round(t1 - t0, 3), "persist_seconds": round(t2 - t1, 3)})
    emit(args, info, describe(info) + f"\ncreated in   {t2 - t0:.1f} s")
    return 0


def _new_request(args: argparse.Namespace) -> NewWorld:
    """The new world the flags ask for (:class:`~sim.engine.requests.NewWorld`, the request ``sim.new_world``
    makes too), its rules checked there and its sentences spelled with the flags; what only the command line
    has checked here: each ``--edges`` file of a table of people with its ``--layer``, and a recommender's
    parameters with the recommender.

    Raises:
        BadParameterError: naming the flags and what to do.
    """
    if args.layer and not args.people:
        raise BadParameterError("--layer describes a table of people: give --people FILE, or drop --layer")
    if args.people:
        _check_edge_layers(args)
    for option, attr, owner in (
        ("--recommender-param", "recommender_param", "recommender"),
        ("--friend-param", "friend_param", "friend_recommender"),
    ):
        if getattr(args, attr) and getattr(args, owner) in (None, "none"):
            raise BadParameterError(
                f"{option} sets a parameter of the {owner.replace('_', ' ')}, and a new world has "
                f"none: add --{owner.replace('_', '-')} NAME, or drop {option}"
            )
    layers = args.layer if args.people else [None] * len(args.edges)
    fields = {
        "agents": args.agents,
        "edges": [(path, layer) for path, layer in zip(args.edges, layers, strict=True)] or None,
        "people": args.people,
        "graph": args.graph,
        "avg_degree": args.avg_degree,
        "communities": args.communities,
        "mixing": args.mixing,
        "directed": args.directed,
        "id": args.id,
        "groups": args.group,
        "skip": args.skip,
        "near": args.near,
        "seed": args.seed,
        "name": args.name,
        "minutes_per_tick": args.minutes_per_tick,
        "reserve": args.reserve,
        "social": social_changes(args),
        "force": args.force,
        "encrypt": args.encrypt,
    }
    try:
        return NewWorld.parse(fields, spell=lambda field: flag(field, "new"))
    except BadParameterError as exc:  # spelled with the flags already
        raise BadParameterError(str(exc)) from None


def _check_edge_layers(args: argparse.Namespace) -> None:
    """Refuse --edges files and --layer names of a table of people that do not pair up in order.

    Raises:
        BadParameterError: an --edges file without its --layer, or a --layer without its file.
    """
    files, names = args.edges, args.layer
    if len(files) > len(names):
        raise BadParameterError(
            f"--edges {shown(files[len(names)], 80)!r} has no --layer: with --people give each edge list its contact "
            "layer, --edges FILE --layer NAME"
        )
    if len(names) > len(files):
        raise BadParameterError(
            f"--layer {shown(names[len(files)], 40)} names no edge list: give --edges FILE before each --layer NAME, "
            "or drop it"
        )


async def _cmd_social(args: argparse.Namespace) -> int:
    if not social_changes(args):
        return await _social(args)
    with world_lock(args.world, what="change its settings"):  # before the read: no change in between
        return await _social(args)


async def _social(args: argparse.Namespace) -> int:
    from sim.model.registry import plugin_registry  # noqa: PLC0415
    from sim.runs.runner import check_social_params  # noqa: PLC0415 - new/load/save need none of these (0.1 s)
    from sim.social.dynamics import Social  # noqa: PLC0415

    registry = plugin_registry(args.world, args.plugins)
    world = await open_world(args.world)
    social = Social(world, registry)
    changes = social_changes(args)
    if changes:
        settings = social.configure(**changes)
        check_social_params(settings, changes)
        world.config["social"] = settings
        writer = await WorldWriter(args.world).start()
        try:
            writer.submit_audit("social", changes)
            await writer.checkpoint(world, [])
        finally:
            await writer.close()
    out = {
        "world": args.world,
        "settings": social.settings,
        "living": social.living,
        "changed": bool(changes),
        "errors": social.errors,
    }
    lines = [f"{k:<20}{v}" for k, v in social.settings.items()]
    lines += [f"problem: {k}: {v}" for k, v in social.errors.items()]
    lines.append(
        "settings saved"
        if changes
        else ("the network is living" if social.living else "the network is static (no recommender, no churn)")
    )
    emit(args, out, "\n".join(lines))
    return 0


async def _cmd_agent(args: argparse.Namespace) -> int:
    world = await open_world(args.world)
    i = world.index_of(args.id)
    data = world.agent(i).to_dict()
    shown_values = dict(data)
    if data["community"] < 0:  # the JSON keeps -1; the text says what it means
        detected = bool((world.config.get("analysis") or {}).get("communities"))
        shown_values["community"] = "none (isolated, no links)" if detected else "unknown (run 'agora analyze WORLD')"
    attributes = shown_values.pop("attributes", {})
    lines = [f"{k:<18}{', '.join(v) if isinstance(v, list) else v}" for k, v in shown_values.items()]
    if attributes:  # data's values, shown literally (a label is any text a file held)
        lines.append(f"{'attributes':<18}{len(attributes)} (from data; - is a missing value)")
        lines += [f"  {k:<16}{'-' if v is None else shown(v, 200)}" for k, v in attributes.items()]
    from sim.llm.config import LLMConfig  # noqa: PLC0415 - new/load/save need neither (0.1 s)
    from sim.llm.service import LLMService  # noqa: PLC0415

    memory = LLMService(world, LLMConfig.resolve(world.config.get("llm"), env={})).agent_memory(i, recent=args.memory)
    data["memory"] = memory
    size = memory["size"]
    if not memory["remembers"]:
        lines.append(f"{'memory':<18}none (the LLM has not spoken for this agent; memory setting: {memory['setting']})")
    else:
        lines.append(f"{'memory':<18}{size['events']:,} events, {size['text_bytes']:,} bytes of text")
        if memory["summary"]:
            lines.append(
                f"{'summary':<18}{shown(memory['summary']['text'], 600)} (tick {memory['summary']['tick']}, "
                f"{memory['summary']['written_by']})"
            )
        for e in memory["recent"]:
            who = f" [{shown(e['other_name'], 60)}]" if e["other_name"] else ""
            lines.append(f"  tick {e['tick']:<6} {e['kind']:<13}{who} {shown(e['text'], 160)}")
    emit(args, data, "\n".join(lines))
    return 0


async def _cmd_save(args: argparse.Namespace) -> int:
    check_target(args.snapshot, args.force, what="snapshot")
    if args.encrypt:
        worldkey.ready_to_encrypt(f"encrypting snapshot {args.snapshot!r}")
    t0 = time.perf_counter()
    with stderr_progress() as progress:
        if args.encrypt or worldkey.is_encrypted(args.world):
            worldkey.reserve_salt()  # the snapshot's key is derived while the world is read
        world = await open_world(args.world, progress=progress)
        saved = await asyncio.to_thread(
            save_snapshot_report,
            world,
            args.snapshot,
            force=args.force,
            progress=progress,
            events=not args.slim,
            encrypt=True if args.encrypt else None,  # None: as the world (an encrypted world's is encrypted)
        )
    size, history = saved.size_bytes, saved.history
    data = {
        "world": os.path.abspath(args.world),
        "snapshot": os.path.abspath(args.snapshot),
        "size_bytes": size,
        "tick": world.tick,
        "slim": bool(args.slim),
        "encrypted": sealed.sealed_file(args.snapshot),
        "events": history["events"] if history else None,
        "exposures": history["exposures"] if history else None,
        "events_since": history["since"] if history else None,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    try:  # the world's audit log records the snapshot taken; a world file that cannot be written still saves
        append_audit(
            args.world,
            "save",
            {"snapshot": data["snapshot"], "tick": world.tick, "size_bytes": size, "slim": data["slim"]},
        )
    except AgoraError as exc:
        sys.stderr.write(f"agora: note: the snapshot was saved, but {shown(exc, 500)}\n")
    what = "without its events" if history is None else f"with {history['events']:,} adoption events"
    sealed_as = ", encrypted" if data["encrypted"] else ""
    emit(args, data, f"saved {args.world} (tick {world.tick}) to {args.snapshot} ({fmt_size(size)}, {what}{sealed_as})")
    return 0


async def _cmd_load(args: argparse.Namespace) -> int:
    check_target(args.world, args.force)
    if args.encrypt or sealed.sealed_file(args.snapshot):  # an encrypted snapshot makes an encrypted world
        args.encrypt = True
        worldkey.ready_to_encrypt(f"loading {args.snapshot!r} into an encrypted world")
    if args.encrypt or worldkey.is_encrypted(args.world):
        worldkey.reserve_salt()  # the new file's key is derived while the snapshot is read
    with world_lock(args.world, what="replace it"):  # held until the load is audited
        return await _load(args)


async def _load(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    with stderr_progress() as progress:
        # The agents are written while the graph is still being read and checked.
        reader = await asyncio.to_thread(SnapshotReader, args.snapshot, progress=progress)
        with reader:
            # The snapshot's adoption events and feed exposures go into the new file too (reader.history()).
            world = await save_world(
                reader, args.world, force=args.force, progress=progress, keep_audit=True, encrypt=args.encrypt
            )
            history = reader.history()
    append_audit(args.world, "load", {"snapshot": os.path.abspath(args.snapshot), "tick": world.tick})
    info = world_info(args.world)
    info["events"] = len(history.events["tick"]) if history else None
    info["exposures"] = len(history.exposures["tick"]) if history else None
    info["events_since"] = history.since if history else world.tick
    info["seconds"] = round(time.perf_counter() - t0, 3)
    what = (
        f"with {info['events']:,} adoption events (from tick {history.since})"
        if history
        else f"without events (saved slim, or by an older Agora): its events start at tick {world.tick}"
    )
    emit(args, info, f"loaded {args.snapshot} into {args.world} {what}\n" + describe(info))
    return 0


def _cmd_topics(args: argparse.Namespace) -> int:
    emit(args, {"topics": list(TOPICS)}, "\n".join(f"{i:>2}  {t}" for i, t in enumerate(TOPICS)))
    return 0


def world_for_ui(args: argparse.Namespace) -> str | None:
    """The world file ``agora tui`` (or a bare ``agora``) opens: the one named, else the default world
    (created on first use). Without a terminal the UI cannot run: the world it would open is described on
    stdout instead and the answer is None.

    Raises:
        BadParameterError: options only the running UI would use, without a terminal; a missing plugin folder.
        AgoraError: a missing or foreign world file (before the screen switches).
    """
    world = getattr(args, "world", None)
    plugins = getattr(args, "plugins", [])
    check_metrics_options(args)
    terminal = (sys.stdin.isatty() and sys.stdout.isatty()) or bool(os.environ.get("AGORA_FORCE_TUI"))
    if not terminal:  # before the default world is created: options only the running UI would use are refused
        for flag, value in (
            ("--plugins", plugins or None),
            ("--metrics-port", getattr(args, "metrics_port", None)),
            ("--checkpoint-every", getattr(args, "checkpoint_every", None)),
            ("--checkpoint-seconds", getattr(args, "checkpoint_seconds", None)),
        ):
            if value is not None:
                raise BadParameterError(
                    f"{flag} applies to the running terminal UI, and there is no terminal here: "
                    f"run one headless with 'agora run WORLD --steps N {flag} ...'"
                )
    for d in plugins:
        if not os.path.isdir(d):
            raise BadParameterError(f"plugin folder {d!r} does not exist: give a folder of .py plugin files")
    if world is None:
        with stderr_progress() as progress:
            world = asyncio.run(ensure_default_world(progress=progress))
    else:
        read_meta(world)  # a clear error for a missing or foreign file, before the screen switches
    if not terminal:
        info = world_info(world)
        emit(args, info, describe(info) + "\n\n(no terminal: the UI needs one; this is the world it would open)")
        return None
    # One writer per world: refused here, in one sentence and with exit code 2, before the screen switches
    # (the UI takes the lock itself when it opens the world).
    with world_lock(world, what="open it in the terminal UI"):
        pass
    return world


def handle(args: argparse.Namespace) -> Any:
    """Run ``new``, ``agent``, ``save``, ``load``, ``social`` or ``topics``: an exit code, or a
    coroutine that ``sim.cli.main`` runs."""
    return _COMMANDS[args.command](args)


_COMMANDS: dict[str, Callable[[argparse.Namespace], Any]] = {
    "new": _cmd_new,
    "agent": _cmd_agent,
    "save": _cmd_save,
    "load": _cmd_load,
    "social": _cmd_social,
    "topics": _cmd_topics,
}
