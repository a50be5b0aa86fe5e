"""How ``agora`` commands print: one JSON object with ``--json``, else text made safe for a terminal
(names, bios, messages and plugin errors are data: control characters and escapes are shown, never sent
raw), and the text of a world's description shared by ``new``, ``info``, ``load`` and ``tui``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping
from typing import Any

from sim.core.safe import shown
from sim.core.spelling import spelled


def emit(args: argparse.Namespace, data: Mapping[str, object], text: str | Callable[[], str]) -> None:
    """Print ``data`` as one JSON line when ``args.json``, else ``text`` made safe for the terminal
    (``text`` may be a function that makes it: a table of a thousand runs is not rendered for --json)."""
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps(data, default=str) + "\n")
    else:
        if callable(text):
            text = text()
        # Names, bios, messages and answers are data: control characters and ANSI escapes in them are shown
        # as visible escapes (sim.safe), never sent to the terminal raw.
        sys.stdout.write(shown(text.rstrip("\n"), lines=True) + "\n")


def shown_line(text: Any) -> str:
    """Plugin text made safe for a terminal line (control characters escaped, one line, bounded)."""
    return shown(str(text), 500)


def indented(tb: str) -> str:
    """A traceback for stderr: each line indented and made safe, at most 60 lines."""
    return "\n".join("  " + shown(ln, 500) for ln in tb.splitlines()[:60])


def fmt_size(n: float) -> str:
    """A byte count for people: ``512 B``, ``1.5 MB``."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def communities_text(info: dict[str, Any]) -> str:
    if info.get("communities") is None:
        return "unknown (run analysis)"
    text = f"{info['communities']:,}"
    if info.get("isolated"):
        text += f" · {info['isolated']:,} isolated agents with no links (in no community)"
    return text


def layers_text(layers: list[dict[str, Any]]) -> str:
    """A world's contact layers on one line: ``household (1,204 edges, mean degree 2.41), class (...)`` (a world
    written before the mean degrees were kept shows only the edges)."""
    return ", ".join(
        f"{shown_line(str(x['name']))} ({x['edges']:,} edges"
        + (f", mean degree {x['mean_degree']:.3g})" if isinstance(x.get("mean_degree"), int | float) else ")")
        for x in layers
    )


def attributes_text(attributes: list[dict[str, Any]]) -> str:
    """A world's attributes on one line: ``25: NAME (category), AGE (number), ...``."""
    return f"{len(attributes):,}: " + ", ".join(f"{shown_line(str(x['name']))} ({x['kind']})" for x in attributes)


def _tick_length(minutes: object) -> str:
    """`` (ticks of 1d)``: how long a tick lasts, as ``agora info`` says it after the tick."""
    if not isinstance(minutes, int) or isinstance(minutes, bool) or minutes < 1:
        return ""
    # The largest unit that holds it whole, as sim.store.timeticks.format_duration says it (not imported: numpy).
    for unit, size in (("w", 7 * 1440), ("d", 1440), ("h", 60)):
        if minutes % size == 0:
            return f" (ticks of {minutes // size}{unit})"
    return f" (ticks of {minutes}min)"


def describe(info: dict[str, Any]) -> str:
    """The text of a world file's description (``agora info``)."""
    lines = [
        f"world        {info.get('name')}  ({info['path']})",
        f"agents       {info['agents']:,}",
        f"edges        {info['edges']:,} directed (edge u->v: v follows u)",
        f"communities  {communities_text(info)}",
        *([f"layers       {layers_text(info['layers'])}"] if info.get("layers") else []),
        *([f"attributes   {attributes_text(info['attributes'])}"] if info.get("attributes") else []),
        f"tick         {info.get('tick', 0)}" + _tick_length(info.get("minutes_per_tick")),
        f"seed         {info.get('seed')}",
        f"size         {fmt_size(info['size_bytes'])}" + ("  (encrypted)" if info.get("encrypted") else ""),
    ]
    src = info.get("source") or {}
    if src.get("kind") == "import":
        lines.append(
            f"imported     {src.get('file')} ({src.get('lines'):,} lines, {src.get('self_loops_dropped'):,} "
            "self-loops dropped, "
            f"{src.get('duplicates_merged'):,} duplicate edges merged)"
        )
    elif src.get("kind") == "people":
        lines.append(
            f"people       {shown_line(src.get('file'))} ({src.get('rows'):,} rows, id column "
            f"{shown_line(src.get('id'))}; {src.get('isolated'):,} isolated agents with no contact)"
        )
        alone = [i for i in src.get("isolated_ids") or [] if isinstance(i, int) and not isinstance(i, bool)]
        if alone:
            more = f" (the first {len(alone)})" if len(alone) < int(src.get("isolated") or 0) else ""
            lines.append(f"isolated     ids {', '.join(str(i) for i in alone)}{more}")
        lines += [_edge_list_text(e) for e in src.get("edge_lists") or [] if isinstance(e, dict)]
        if sum(bool(isinstance(e, dict) and e.get("weighted")) for e in src.get("edge_lists") or []) > 1:
            lines.append(
                f"weights      {_pairs(src.get('weight_conflicts', 0))} weighted differently by two edge lists "
                "(the first layer listed gave their trust)"
            )
    elif src.get("kind") == "synthetic":
        lines.append(
            f"generated    {src.get('graph')} graph, avg degree {src.get('avg_degree')}, mixing {src.get('mixing')}"
        )
    return "\n".join(lines)


def _pairs(k: Any) -> str:
    return f"{k:,} pair" + ("" if k == 1 else "s") if isinstance(k, int) else "? pairs"


def _edge_list_text(e: dict[str, Any]) -> str:
    """An edge-list layer of a world of people on one line."""
    weighted = "its weights the trust" if e.get("weighted") else "trust 1"
    return (
        f"edge list    {shown_line(str(e.get('layer')))}: {shown_line(str(e.get('file')))} ({e.get('lines', 0):,} "
        f"lines, {e.get('self_loops_dropped', 0):,} self-loops dropped, {e.get('duplicates_merged', 0):,} duplicate "
        f"edges merged; lines as given, {weighted})"
    )


#: The longest parameter value :func:`params_text` spells out (a distilled policy's JSON is kilobytes).
LONGEST_PARAM = 80


def params_text(params: dict[str, Any]) -> str:
    """Model parameters as ``p=0.05 q=true`` (a value longer than :data:`LONGEST_PARAM` characters as its
    length: ``policy=<7,898 characters>``; ``--json`` has it whole)."""
    out = []
    for k, v in params.items():
        text = spelled(v)
        out.append(f"{k}={text}" if len(text) <= LONGEST_PARAM else f"{k}=<{len(text):,} characters>")
    return " ".join(out)


def imported_line(recorded: dict[str, Any] | None) -> list[str]:
    """The line saying how the imported cases of an observation were used (none without them)."""
    came = (recorded or {}).get("imported")
    if not came:
        return []
    out = "taken out of the cases column, " if came.get("included") else ""
    return [
        f"imported: {came['total']:,} cases of column {came['column']}, {out}infecting from outside at their ticks "
        "(the simulations' local cases are compared)"
    ]
