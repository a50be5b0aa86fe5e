"""What a screen shows of one session's cascade, headless: its measures, its top spreaders (with original
ids) and its forest drawn as text, generation by generation, trimmed to a screen.

The terminal UI's Messages view (``tui/views/``) and its tree screen (``tui/cascade.py``) read this; it
imports nothing of the UI. A live session grows while a tick runs in a worker thread, so
:func:`live_forest` builds the forest from copies of the session's arrays and checks that every parent it
names is one generation up: arrays caught in the middle of a round give ``BUSY`` (try again after the
tick), never a wrong tree. The measures are those of ``sim.core.cascade``.

Everything here is numpy over the forest; the only Python loops are over what is shown (a few lines, a
few dozen ids), so drawing a cascade of a million agents costs what sorting one generation costs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from sim.core.cascade import Forest
from sim.model.session import PropagationSession

#: The most spreaders the Messages view lists.
TOP_SPREADERS = 5
#: Lines of agents under one generation's header at most (fewer when the screen is short).
MAX_LINES_PER_GENERATION = 8
#: Lines of agents under one generation's header at least (before generations are cut instead).
MIN_LINES_PER_GENERATION = 2


class _Busy:
    """The session's arrays are being written by a tick under way (see :func:`live_forest`)."""

    def __repr__(self) -> str:
        return "BUSY"


#: :func:`live_forest`'s answer while a round is being written: nothing is known yet, ask again later.
BUSY: Final = _Busy()


@dataclass(frozen=True)
class CascadeSummary:
    """A session's cascade as of one round: its forest and measures, or why it has none.

    ``spreaders`` holds ``(agent index, original id, children)`` of the agents with the most children,
    most first; ``reason`` is a sentence saying why there is no tree (``forest`` is then None)."""

    session: int
    round: int
    forest: Forest | None = None
    measures: dict[str, Any] | None = None
    spreaders: list[tuple[int, int, int]] = field(default_factory=list)
    reason: str | None = None


def no_tree_reason(session: PropagationSession) -> str | None:
    """Why ``session`` has no adoption tree (one sentence), or None when it has one or will have one."""
    if not getattr(session, "gives_sources", True):
        return f"no tree: model {session.model_name} names no sources"
    if getattr(session, "cascade_tracker", None) is None and not getattr(session, "record_cascade", True):
        return f"no tree: session {int(session.id)} does not keep its cascade"
    if session.started_tick is None or not session.state.size:
        return f"no tree yet: session {int(session.id)} has not started"
    return None


def live_forest(session: PropagationSession, tick_under_way: bool = False) -> Forest | None | _Busy:
    """The forest of ``session`` now, from copies of its generations and its ``adopted_from``; None for a
    session without a tree (see :func:`no_tree_reason`), :data:`BUSY` while a tick is writing them.

    A tick runs in a worker thread and writes a round's adoptions in steps (parents first, then
    generations): the copies are checked (every non-root's parent in the world and one generation up) and
    arrays caught half-way give :data:`BUSY`. A session restored from a file rebuilds its tracker from its
    stored adoptions on first use (``PropagationSession.tracker``); that is done only when no tick is under
    way (``tick_under_way`` False), since the tick would rebuild it too. O(N) copies and O(size) numpy work."""
    if no_tree_reason(session) is not None:
        return None
    tracker = session.cascade_tracker
    if tracker is None:
        if tick_under_way:
            return BUSY
        tracker = session.tracker()
        if tracker is None:
            return None
    generation = tracker.generation  # a new array (CascadeTracker.generation builds it)
    parents = np.array(session.adopted_from, copy=True)
    feed_edges = int(tracker.feed_edges)
    n = generation.size
    if parents.size != n:
        return BUSY
    nonroot = np.flatnonzero(generation > 0)
    if nonroot.size:
        src = parents[nonroot].astype(np.int64)
        inside = (src >= 0) & (src < n)
        if not inside.all() or not np.array_equal(generation[src], generation[nonroot] - 1):
            return BUSY
    return Forest.build(generation, parents, None, feed_edges)


def summarise(
    session: PropagationSession, ids: np.ndarray, tick_under_way: bool = False, top: int = TOP_SPREADERS
) -> CascadeSummary | _Busy:
    """A :class:`CascadeSummary` of ``session`` now, or :data:`BUSY` (a tick is writing its arrays: ask
    again). ``ids`` is the world's column of original agent ids."""
    reason = no_tree_reason(session)
    if reason is not None:
        return CascadeSummary(int(session.id), int(session.round), reason=reason)
    forest = live_forest(session, tick_under_way)
    if forest is BUSY:
        return BUSY
    if not isinstance(forest, Forest):
        return CascadeSummary(int(session.id), int(session.round), reason=no_tree_reason(session) or "no tree")
    return CascadeSummary(
        int(session.id),
        int(session.round),
        forest=forest,
        measures=forest.measures(),
        spreaders=top_spreaders(forest, ids, top),
    )


def top_spreaders(forest: Forest, ids: np.ndarray, k: int = TOP_SPREADERS) -> list[tuple[int, int, int]]:
    """``(agent index, original id, children)`` of the ``k`` agents with the most children (ties: lower
    index first); agents without children are left out."""
    return [(agent, int(ids[agent]), kids) for agent, kids in forest.top_spreaders(k)]


def measures_line(measures: Mapping[str, object]) -> str:
    """The measures on one line: ``size 1,234 · trees 10 · depth 5 · max breadth 400 · structural
    virality 2.31 · by feed 12.5 %``."""

    def number(key: str) -> float:
        value = measures[key]
        if not isinstance(value, int | float | np.integer | np.floating):
            raise TypeError(f"the cascade measure {key} is not a number: {value!r}")
        return float(value)

    return (
        f"size {int(number('size')):,} · trees {int(number('trees')):,} · depth {int(number('depth')):,}"
        f" · max breadth {int(number('max_breadth')):,}"
        f" · structural virality {number('structural_virality'):.2f}"
        f" · by feed {100 * number('by_feed'):.1f} %"
    )


def _agents(n: int) -> str:
    return f"{n:,} agent" + ("" if n == 1 else "s")


def _more(n: int) -> str:
    return f"{n:,} more agent" + ("" if n == 1 else "s")


def _pack(head: str, labels: list[str], width: int) -> tuple[str, int]:
    """``head`` followed by as many of ``labels`` as fit in ``width`` cells (at least one); the line and
    how many it names."""
    line = head + labels[0]
    named = 1
    for label in labels[1:]:
        if len(line) + 2 + len(label) > width:
            break
        line += ", " + label
        named += 1
    return line, named


def _fit(head: str, labels: list[str], total: int, width: int) -> tuple[str, int]:
    """``head`` followed by as many of ``labels`` (of ``total``) as fit in ``width`` cells, then ``…
    +k`` for the rest; at least one label is named. Returns the line and how many labels it names."""
    line = head
    named = 0
    for j, label in enumerate(labels):
        more = total - j - 1
        tail = f", … +{more:,}" if more else ""
        piece = label if j == 0 else f", {label}"
        if j and len(line) + len(piece) + len(tail) > width:
            break
        line += piece
        named += 1
    if named < total:
        line += f", … +{total - named:,}"
    return line, named


def tree_lines(forest: Forest, ids: np.ndarray, width: int = 100, height: int = 40) -> list[str]:
    """The forest drawn as text, generation by generation, within ``height`` lines of ``width`` cells.

    Each generation has a header, ``generation g: K agents``; generation 0 then lists its roots (the
    biggest trees first), each later generation its agents under their parents, ``parent → child, child,
    …`` (the parents with the most children first). Agents are named by original id. What does not fit is
    counted: ``… +k`` on a line (children of that parent not named), ``… and N more agents in this
    generation`` (every agent of the generation not named), ``… D more generations (M agents) not shown``.

    Numpy sorts each generation shown; Python loops only over the lines and ids shown."""
    width = max(30, int(width))
    height = max(4, int(height))
    sizes = forest.generation_sizes()
    if forest.size == 0:
        return ["the forest is empty: no agent has adopted yet"]
    generations = int(sizes.size)
    # A generation takes its header, its lines and a "… more" line. Lines per generation: what an even
    # share of the screen gives the generations that fit with MIN_LINES_PER_GENERATION lines each; a
    # generation that needs fewer leaves its lines to the next ones.
    fit = min(generations, max(1, (height - 1) // (MIN_LINES_PER_GENERATION + 2)))
    per_gen = max(1, min(MAX_LINES_PER_GENERATION, (height - 1) // fit - 2))
    # Ids as short as they come: a line holds about width / (digits + 2) of them, never more.
    ids_per_line = max(1, width // 3)
    lines: list[str] = []
    shown_gens = 0
    for g in range(generations):
        # Room for the header, a line and the "… more" line, and (unless it is the last) for the line that
        # says which generations were cut. The first generation is always shown.
        left = height - len(lines) - (1 if g < generations - 1 else 0)
        if g and left < 3:
            break
        cap = max(1, min(per_gen, left - 2))
        shown_gens += 1
        lo, hi = int(forest.bounds[g]), int(forest.bounds[g + 1])
        count = hi - lo
        lines.append(f"generation {g}: {_agents(count)}")
        named = 0
        if g == 0:
            # Roots, the biggest trees first (ties: in forest order).
            order = np.argsort(-forest.subtree[lo:hi], kind="stable")[: cap * ids_per_line]
            labels = [str(int(v)) for v in ids[forest.agents[lo + order]]]
            for _ in range(cap):
                if named >= len(labels):
                    break
                line, took = _pack("  ", labels[named:], width)
                named += took
                lines.append(line)
        else:
            parent = forest.parent[lo:hi]
            order = np.argsort(parent, kind="stable")
            heads, first, kids = np.unique(parent[order], return_index=True, return_counts=True)
            for gi in np.lexsort((heads, -kids))[:cap]:  # the parents with the most children first
                p, f, k = int(heads[gi]), int(first[gi]), int(kids[gi])
                labels = [str(int(v)) for v in ids[forest.agents[lo + order[f : f + min(k, ids_per_line)]]]]
                line, took = _fit(f"  {int(ids[forest.agents[p]])} → ", labels, k, width)
                named += took
                lines.append(line)
        if named < count:
            lines.append(f"  … and {_more(count - named)} in this generation")
    if shown_gens < generations:
        cut = int(sizes[shown_gens:].sum())
        more = generations - shown_gens
        lines.append(f"… {more:,} more generation{'s' if more != 1 else ''} ({_agents(cut)}) not shown")
    return lines


def tree_text(forest: Forest, ids: np.ndarray, width: int = 100, height: int = 40) -> str:
    """:func:`tree_lines` as one text."""
    return "\n".join(tree_lines(forest, ids, width, height))


__all__ = [
    "BUSY",
    "TOP_SPREADERS",
    "CascadeSummary",
    "live_forest",
    "measures_line",
    "no_tree_reason",
    "summarise",
    "top_spreaders",
    "tree_lines",
    "tree_text",
]
