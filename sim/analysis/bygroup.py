"""New infections per tick by the contact layer they came through, or by a group of agents (issue 77).

What a person asks for is one word (:func:`parse_by`)::

    layer                 by the contact layer of the edge from the source to the infected agent
    COLUMN                by a category attribute's labels (``SEX``), or the world's ``community``
    COLUMN:B1,B2,...      by bands of a numeric attribute (``AGE:0,5,15,65``: below 0, 0-4, 5-14, 15-64, 65+)

Each gives one measure per group, ``new@GROUP`` (``new@household``, ``new@AGE:5-14``, ``new@SEX:female``): the
agents newly reached in each tick (``new``'s count) that belong to the group, so that at every tick the groups'
counts sum to ``new`` exactly.

**Layers.** An adoption with a source (the agent credited with it: ``adopted_from``) came through the edge from
the source to the agent; its layer is the edge's (``graph.layer``, one bit a layer). An edge in several layers (two
siblings in one class) counts for the first of the world's layers it lies in, in the world's order of layers. An
adoption with no source (a seed, an imported case, one a model placed at its start) counts in ``new@none``, and
one whose source is no contact of the agent (a feed's sharer, or an edge removed since) in ``new@other``. The edge
is found by one binary search over the graph's sorted ``(source, target)`` keys for all adoptions at once (the
reverse edge where the forward one is missing: contact layers are symmetric), never per agent.

**Bands.** ``AGE:0,5,15,65`` are the lower bounds of the bands: ``[0, 5)``, ``[5, 15)``, ``[15, 65)``, ``[65, inf)``;
whole-number bounds are named as people read them (``0-4``, ``5-14``, ``15-64``, ``65+``), others ``[0.5,2)``. An
agent below the first bound counts in ``<0``, one with no value in ``missing``; those two groups are listed only
where some agent is in them, the bands always.

Everything is computed afterwards from a session's per-agent ``adopted_at`` and ``adopted_from``: nothing runs on
the tick's path. At most :data:`MAX_GROUPS` groups.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from sim.core.world import World
from sim.errors import BadParameterError
from sim.model.groupby import MAX_GROUPS, PREFIX, SYNTAX, By, bound_text, parse_by, parse_bys
from sim.model.session import PropagationSession

#: The groups of adoptions with no source, and with a source that is no contact.
NO_SOURCE = "none"
NOT_A_CONTACT = "other"


def _band_names(column: str, bounds: Sequence[float]) -> list[str]:
    """``AGE:0-4``, ``AGE:5-14``, ``AGE:65+`` for whole-number bounds; ``x:[0.5,2)`` otherwise."""
    whole = all(float(b).is_integer() for b in bounds)
    names = []
    for lo, hi in zip(bounds, [*bounds[1:], math.inf]):
        if math.isinf(hi):
            names.append(f"{column}:{bound_text(lo)}+")
        elif whole and hi - lo == 1:
            names.append(f"{column}:{bound_text(lo)}")
        elif whole:
            names.append(f"{column}:{bound_text(lo)}-{bound_text(hi - 1)}")
        else:
            names.append(f"{column}:[{bound_text(lo)},{bound_text(hi)})")
    return names


def groups_of(world: World, by: By) -> tuple[list[str], np.ndarray]:
    """Each agent's group under ``by`` (int64 codes into the names; ``layer`` has none: every agent -1) and the
    groups' names (without :data:`PREFIX`).

    Raises:
        BadParameterError: a column the world does not have, a number without bands, bands of a category, a
            world without contact layers for ``layer``, more than :data:`MAX_GROUPS` groups.
    """
    if by.column == "layer":
        if not world.layers or world.graph.layer is None:
            raise BadParameterError(
                "by layer: this world has no contact layers (its edges are one graph): give a column to group by",
                fields="by",
            )
        return [*world.layers, NO_SOURCE, NOT_A_CONTACT], np.full(world.n, -1, dtype=np.int64)
    kind = (world.attributes.get(by.column) or {}).get("kind")
    if kind is None and by.column != "community":
        held = ", ".join(["layer", *world.attributes, "community"])[:200]
        raise BadParameterError(f"by {by.column[:40]!r}: the world has no such column: give one of {held}", fields="by")
    values = world.columns[by.column]
    if kind == "number":
        if not by.bounds:
            raise BadParameterError(
                f"by {by.column[:40]}: it is a number: give its bands, such as {by.column[:20]}:0,5,15,65", fields="by"
            )
        v = np.asarray(values, dtype=np.float64)
        code = np.searchsorted(np.asarray(by.bounds), v, side="right").astype(np.int64) - 1  # -1: below the first
        names = _band_names(by.column, by.bounds)
        below, missing = code < 0, np.isnan(v)
        extra = [(below & ~missing, f"{by.column}:<{bound_text(by.bounds[0])}"), (missing, f"{by.column}:missing")]
        for where, name in extra:
            if where.any():
                code[where] = len(names)
                names.append(name)
        return names, code
    if by.bounds:
        raise BadParameterError(
            f"by {by.column[:40]}: it is a category, not a number: give it without bands", fields="by"
        )
    codes = np.asarray(values, dtype=np.int64)
    if by.column == "community":
        if not codes.size or codes.max() < 0:
            raise BadParameterError("by community: the world has no communities yet: run agora analyze", fields="by")
        labels = [f"community:{c}" for c in range(int(codes.max()) + 1)]
    else:
        labels = [f"{by.column}:{x}" for x in world.category_labels(by.column)]
    if (codes < 0).any():
        codes = np.where(codes < 0, len(labels), codes)
        labels.append(f"{by.column}:missing")
    if len(labels) > MAX_GROUPS:
        raise BadParameterError(
            f"by {by.column[:40]} has {len(labels):,} groups: give a column of at most {MAX_GROUPS}", fields="by"
        )
    return labels, codes


def _edge_layers(world: World, sources: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The first layer (its index; -1: no edge either way) of the edge ``source -> target`` (or, missing, of
    ``target -> source``) for each pair, by a binary search within each source's sorted row of the out-CSR: every
    pair halves its row at once (numpy), so a call costs O(pairs x log degree), with nothing built per edge of the
    graph (the session chart by layer asks once a round)."""
    g = world.graph
    indptr = np.asarray(g.out_indptr, dtype=np.int64)
    indices = np.asarray(g.out_indices)
    bits = np.asarray(g.layer)
    first = np.array([(m & -m).bit_length() - 1 for m in range(256)], dtype=np.int64)  # a mask's lowest bit
    out = np.full(sources.size, -1, dtype=np.int64)
    last = indices.size - 1
    for one, other in ((sources, targets), (targets, sources)):
        todo = np.flatnonzero(out < 0)
        if not todo.size or last < 0:
            break
        a, b = one[todo].astype(np.int64), other[todo].astype(np.int64)
        lo, end = indptr[a], indptr[a + 1]
        hi = end.copy()
        while True:  # lo: the first place in the row whose target is not below b
            active = lo < hi
            if not active.any():
                break
            mid = (lo + hi) // 2
            right = active & (indices[np.minimum(mid, last)] < b)
            lo = np.where(right, mid + 1, lo)
            hi = np.where(active & ~right, mid, hi)
        at = np.minimum(lo, last)
        found = (lo < end) & (indices[at] == b)
        out[todo] = np.where(found, first[bits[at]], -1)
    return out


def new_by(
    world: World, adopted_at: np.ndarray, adopted_from: np.ndarray, start: int, length: int, by: By
) -> dict[str, np.ndarray]:
    """``new@GROUP`` for each group of ``by``: the agents first reached at each of the ``length`` ticks from
    world tick ``start`` (a session's rounds: ``adopted_at - start``) in that group, int64. Summed over the
    groups, ``new`` at every tick.

    Raises:
        BadParameterError: what :func:`groups_of` raises.
    """
    names, codes = groups_of(world, by)
    reached = np.flatnonzero(np.asarray(adopted_at) >= 0)
    tick = np.asarray(adopted_at, dtype=np.int64)[reached] - int(start)
    inside = (tick >= 0) & (tick < length)
    agents, tick = reached[inside], tick[inside]
    if by.column == "layer":
        src = np.asarray(adopted_from, dtype=np.int64)[agents]
        group = np.full(agents.size, len(names) - 2, dtype=np.int64)  # none: no source
        sourced = src >= 0
        layer = _edge_layers(world, src[sourced], agents[sourced].astype(np.int64))
        group[np.flatnonzero(sourced)] = np.where(layer >= 0, layer, len(names) - 1)
    else:
        group = codes[agents]
    table = np.bincount(group * length + tick, minlength=len(names) * length).reshape(len(names), length)
    return {PREFIX + name: table[i] for i, name in enumerate(names)}


def session_new_by(world: World, session: PropagationSession, by: By, start: int, length: int) -> dict[str, np.ndarray]:
    """:func:`new_by` of a propagation session (its ``adopted_at`` and ``adopted_from``) over ``length`` ticks from
    world tick ``start``."""
    return new_by(world, session.adopted_at, session.adopted_from, start, length, by)


__all__ = [
    "MAX_GROUPS",
    "PREFIX",
    "SYNTAX",
    "By",
    "groups_of",
    "new_by",
    "parse_by",
    "parse_bys",
    "session_new_by",
]
