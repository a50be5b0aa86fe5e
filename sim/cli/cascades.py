"""``agora cascades``: the adoption forest of a session persisted in a world file (a run without ``--runs``),
rebuilt from the world's ``events`` (:func:`sim.store.cascadeio.session_forest`): its measures, its top
spreaders and, with ``-o FILE``, the forest as rows (``.csv``, ``.csv.gz``, ``.parquet``) or GraphML.

Without SESSION the latest session (the highest id) is shown; the output says which, and how many the world
has. A session of a model that names no sources has no tree: ``cascade`` is null and ``note`` says why
(exit 0). A session the world does not have is one sentence and exit 2.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from sim.cli.output import emit, shown_line
from sim.core.topics import mask_topics
from sim.errors import BadParameterError
from sim.runs.runner import tree_arrays
from sim.store.cascadeio import check_cascade_output, save_cascades, session_forest, write_graphml
from sim.store.worldfile import check_target


def handle(args: argparse.Namespace) -> int:
    """``agora cascades``: its exit code."""
    return cascades_command(args)


def _message(record: dict[str, Any]) -> tuple[str | None, list[str]]:
    stored = record.get("message")
    msg: dict[str, Any] = stored if isinstance(stored, dict) else {}
    text = msg.get("text")
    topics = msg.get("topics")
    names = mask_topics(int(topics)) if isinstance(topics, int) and not isinstance(topics, bool) else []
    return (text if isinstance(text, str) else None), names


def cascades_command(args: argparse.Namespace) -> int:
    """Run ``agora cascades`` from its parsed arguments; returns the exit code.

    Raises:
        AgoraError: a user's mistake (an unknown session, a bad output name, an existing file without
            ``--force``), before anything is written.
    """
    kind = None
    if args.output:
        kind = check_cascade_output(args.output)
        check_target(args.output, args.force, what="cascade file")
    elif args.force:
        raise BadParameterError("--force overwrites the -o FILE: give one, or drop --force")
    found = session_forest(args.world, args.session)
    rec = found.session
    sid = int(rec["id"])
    text, topics = _message(rec)
    result: dict[str, Any] = {
        "world": os.path.abspath(args.world),
        "session": sid,
        "latest": args.session is None,
        "sessions": len(found.sessions),
        "model": rec.get("model"),
        "status": rec.get("status"),
        "started_tick": rec.get("started_tick"),
        "message": text,
        "topics": topics,
        "cascade": None,
        "top_spreaders": [],
        "file": None,
        "note": found.note,
    }
    forest, ids = found.forest, found.ids
    if forest is not None and ids is not None and found.via_feed is not None:
        result["cascade"] = forest.measures()
        result["top_spreaders"] = [{"agent": int(ids[a]), "children": k} for a, k in forest.top_spreaders(args.top)]
        if args.output:
            tree = tree_arrays(forest, int(rec["started_tick"]), ids)
            tree["via"] = found.via_feed[forest.agents]
            if kind == "graphml":
                graph = {
                    "session": sid,
                    "model": str(rec.get("model")),
                    "message": text or "",
                    "topics": " ".join(topics),
                }
                result["file"] = write_graphml(args.output, tree, graph)
            else:
                written = save_cascades(args.output, [{"keys": {}, "run": sid, "tree": tree}])
                result["file"] = {**written, "format": kind}
    elif args.output:
        result["note"] = f"{found.note}; no file was written"
    emit(args, result, format_cascades(result))
    return 0


def format_cascades(result: dict[str, Any]) -> str:
    """The plain-text report of ``agora cascades``."""
    which = (
        f"the latest of {result['sessions']}; name another as agora cascades WORLD SESSION"
        if result["latest"]
        else f"of {result['sessions']}"
    )
    message = "" if result["message"] is None else f", message {shown_line(result['message'])!r}"
    lines = [
        f"session {result['session']} ({which}): model {shown_line(result['model'])}, "
        f"{shown_line(result['status'])}{message}"
    ]
    c = result["cascade"]
    if c is None:
        lines.append(f"cascade: none ({result['note']})")
        return "\n".join(lines)
    big = c["largest_tree"]
    lines.append(
        f"cascade: size {c['size']:,}, {c['trees']:,} tree{'s' if c['trees'] != 1 else ''}, depth {c['depth']}, "
        f"max breadth {c['max_breadth']:,}, structural virality {c['structural_virality']:.2f}, "
        f"{100 * c['by_feed']:.1f}% of adoptions through feeds"
    )
    lines.append(
        f"largest tree: size {big['size']:,}, depth {big['depth']}, max breadth {big['max_breadth']:,}, "
        f"structural virality {big['structural_virality']:.2f}"
    )
    top = result["top_spreaders"]
    if top:
        shown = ", ".join(f"{t['agent']} ({t['children']:,})" for t in top)
        lines.append(f"top spreaders (agent, adopters they passed it to): {shown}")
    else:
        lines.append("top spreaders: none (no agent passed it on)")
    f = result["file"]
    if f is not None:
        if f["format"] == "graphml":
            lines.append(f"GraphML: {f['nodes']:,} nodes and {f['edges']:,} edges written to {f['path']}")
        else:
            lines.append(f"cascade rows: {f['rows']:,} written to {f['path']}")
    return "\n".join(lines)
