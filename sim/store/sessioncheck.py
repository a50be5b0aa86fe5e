"""A propagation session against itself and its history: the per-session checks that ``agora check`` runs
on a world file (``sim.store.check``) and that loading or checking a snapshot runs on the world it holds
(``sim.store.snapshot``), one function for both.

A session's counters must match its arrays, its adoption curve its round and its count, its ticks the
world's; and its history — the adoption ``events`` and first feed ``exposures`` from the file's
``events_since`` on — must be its arrays written as rows: one event per agent that adopted from that tick
on, at the tick its ``adopted_at`` says, from the source its ``adopted_from`` says, and no more first
exposures than agents it showed the message to. The history is compared through per-session aggregates
(counts, sums and two row checksums, the same numbers SQL computes over a world file's tables and numpy
over a snapshot's columns), so a duplicated event, an event for an agent that never adopted, or a source
other than the arrays' (a cycle of sources included) is found without a Python loop over rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Modulus of the row checksums (a prime below 2**31, so the SQL integer sums cannot overflow).
MOD = 2147483647

#: Per session: the number of events, the sums of agent, tick and source, the two row checksums, and the
#: smallest and largest agent (what ``GROUP BY session_id`` computes over a world file's ``events``).
EventSums = tuple[int, int, int, int, int, int, int, int]
#: Per session: the number of first feed exposures, the sum of their agents, the smallest and largest.
ExposureSums = tuple[int, int, int, int]


def hash_at(agent: np.ndarray, tick: np.ndarray) -> int:
    """The checksum of (agent, tick) rows, as ``SUM((agent * 1000003 + tick) % MOD)`` in SQL."""
    return int(np.fmod(agent.astype(np.int64) * 1000003 + tick.astype(np.int64), MOD).sum())


def hash_from(agent: np.ndarray, source: np.ndarray) -> int:
    """The checksum of (agent, source) rows, as ``SUM((agent * 7919 + source + 1) % MOD)`` in SQL."""
    return int(np.fmod(agent.astype(np.int64) * 7919 + source.astype(np.int64) + 1, MOD).sum())


def _per_session(session: np.ndarray, sums: list[np.ndarray], extremes: np.ndarray) -> dict[int, tuple[int, ...]]:
    """Per session id in ``session``: its number of rows, the sum of each of ``sums`` over its rows, and the
    smallest and largest of ``extremes`` (unbuffered ``ufunc.at`` over a dense index: no sort, no loop)."""
    lo, hi = int(session.min()), int(session.max())
    if hi - lo <= 2 * session.size + 1024:  # ids are small and near each other: index by id
        index, ids = session - lo, None
    else:
        ids, index = np.unique(session, return_inverse=True)
    size = int(index.max()) + 1
    count = np.bincount(index, minlength=size)
    columns = [count]
    for values in sums:
        total = np.zeros(size, dtype=np.int64)
        np.add.at(total, index, values)
        columns.append(total)
    low = np.full(size, np.iinfo(np.int64).max, dtype=np.int64)
    high = np.full(size, np.iinfo(np.int64).min, dtype=np.int64)
    np.minimum.at(low, index, extremes)
    np.maximum.at(high, index, extremes)
    columns += [low, high]
    present = np.flatnonzero(count)
    keys = (present + lo if ids is None else ids[present]).tolist()
    rows = np.stack([c[present] for c in columns], axis=1).tolist()
    return {int(k): tuple(r) for k, r in zip(keys, rows)}


def event_sums(events: dict[str, np.ndarray]) -> dict[int, EventSums]:
    """:data:`EventSums` per session of adoption-event columns (``session``, ``tick``, ``agent``,
    ``source``), computed with numpy over the columns."""
    if not events["session"].size:
        return {}
    agent = events["agent"].astype(np.int64)
    tick = events["tick"].astype(np.int64)
    source = events["source"].astype(np.int64)
    sums = [agent, tick, source, np.fmod(agent * 1000003 + tick, MOD), np.fmod(agent * 7919 + source + 1, MOD)]
    return _per_session(events["session"].astype(np.int64), sums, agent)  # type: ignore[return-value]


def exposure_sums(exposures: dict[str, np.ndarray]) -> dict[int, ExposureSums]:
    """:data:`ExposureSums` per session of feed-exposure columns (``session``, ``agent``)."""
    if not exposures["session"].size:
        return {}
    agent = exposures["agent"].astype(np.int64)
    return _per_session(exposures["session"].astype(np.int64), [agent], agent)  # type: ignore[return-value]


def message_ids(world: Any) -> frozenset | None:
    """The ids of ``world``'s messages, for :func:`session_problems` when it checks many sessions (None when
    they cannot be gathered, an id missing or unhashable: then each session looks through the messages)."""
    try:
        return frozenset(m["id"] for m in world.messages)
    except (KeyError, TypeError):
        return None


def session_problems(
    s: Any, T: int, world: Any, problems: list[str], *, events: int = 0, messages: frozenset | None = None
) -> dict[str, int] | None:
    """A session against itself and the world at tick ``T``: its message, its counters against its arrays,
    its adoption curve and ticks. Appends one sentence per problem to ``problems``; returns the counts of
    its arrays (None when it never started). ``messages``: :func:`message_ids` of ``world``, looked up instead
    of a pass over its messages per session (a world of thousands of sessions)."""
    p = f"session {s.id}"
    if not (s.message_id in messages if messages is not None else any(m["id"] == s.message_id for m in world.messages)):
        problems.append(f"{p} spreads message {s.message_id}, which the metadata does not have")
    at = s.adopted_at
    if not s.state.size or not s.new_per_tick:  # never started (or failed while starting): no adoptions
        if s.reached or events or (at.size and int(np.count_nonzero(at >= 0))):
            problems.append(f"{p} never started but counts {s.reached:,} adoptions and {events:,} events")
        return None
    adopted = at >= 0
    counts = {
        "adopted": int(np.count_nonzero(adopted)),
        "exposed": int(np.count_nonzero(s.exposed)),
        "shown in feeds": int(np.count_nonzero(s.feed_seen)),
    }
    for name, counter, actual in (
        ("adopted", s.reached, counts["adopted"]),
        ("exposed", s.exposed_count, counts["exposed"]),
        ("shown in feeds", s.feed_exposed, counts["shown in feeds"]),
    ):
        if counter != actual:
            problems.append(f"{p} counts {counter:,} {name} but its arrays hold {actual:,}")
    if sum(s.new_per_tick) != s.reached or len(s.new_per_tick) != s.round + 1:
        problems.append(
            f"{p}: its adoption curve ({len(s.new_per_tick)} ticks, {sum(s.new_per_tick):,} adoptions) does not "
            f"match round {s.round} and {s.reached:,} adopted"
        )
    if (
        s.started_tick is None
        or not 0 <= s.started_tick < T
        # A session cancelled between two ticks ends at the world's tick (the next to run): T itself is in.
        or (s.ended_tick is not None and not s.started_tick <= s.ended_tick <= T)
    ):
        problems.append(
            f"{p} started at tick {s.started_tick} and ended at {s.ended_tick}, not within the world's {T} ticks"
        )
    if counts["adopted"] and int(at.max()) >= T:
        problems.append(f"{p} has adoptions at tick {int(at.max())}, after the world's tick {T}")
    return counts


def session_history_problems(
    s: Any,
    T: int,
    since: int,
    ev: EventSums | tuple | None,
    ex: ExposureSums | tuple | None,
    world: Any,
    problems: list[str],
    *,
    first: int | None = None,
    rows: tuple[str, str] = ("the events table", "the exposures table"),
    messages: frozenset | None = None,
) -> None:
    """:func:`session_problems`, then the session's history (ticks ``since``..``T-1``) against its arrays,
    from its :data:`EventSums` ``ev`` and :data:`ExposureSums` ``ex`` (None: no rows). The history is not
    compared when the session never started, or when a problem was found from index ``first`` of
    ``problems`` on (default: this session's own): arrays that disagree with themselves say nothing more.
    ``rows`` names where the events and exposures are, in the sentences; ``messages`` as for
    :func:`session_problems`."""
    p = f"session {s.id}"
    before = len(problems) if first is None else first
    events_are, exposures_are = rows
    n_ev = int(ev[0]) if ev else 0
    counts = session_problems(s, T, world, problems, events=n_ev, messages=messages)
    if counts is None or len(problems) > before:
        return
    at = s.adopted_at
    # Events of the history's ticks: one per adopted agent, at its tick, from its source.
    agents = np.flatnonzero(at >= since)
    if agents.size == 0:
        want: tuple[int | None, ...] = (0, None, None, None, None, None)
    else:
        ticks, src = at[agents], s.adopted_from[agents]
        want = (
            int(agents.size),
            int(agents.sum()),
            int(ticks.astype(np.int64).sum()),
            int(src.astype(np.int64).sum()),
            hash_at(agents, ticks),
            hash_from(agents, src),
        )
    got = tuple(ev[:6]) if ev else (0, None, None, None, None, None)
    if got != want:
        if got[0] != want[0]:
            problems.append(
                f"{p}: {events_are} holds {got[0]:,} adoptions of ticks {since}..{T - 1}, its arrays {want[0]:,}"
            )
        else:
            problems.append(f"{p}: {events_are} names other agents, ticks or sources than its arrays")
    elif ev and not (ev[6] >= 0 and ev[7] < world.n):
        problems.append(f"{p}: {events_are} names agents outside 0..{world.n - 1}")
    shown = counts["shown in feeds"]
    if ex:
        cnt, a_sum, lo, hi = ex
        if not (lo >= 0 and hi < world.n):
            problems.append(f"{p}: {exposures_are} names agents outside 0..{world.n - 1}")
        elif since == 0 and (cnt, a_sum) != (shown, int(np.flatnonzero(s.feed_seen).sum())):
            problems.append(f"{p}: {exposures_are} holds {cnt:,} first exposures, its arrays {shown:,}")
        elif cnt > shown:
            problems.append(f"{p}: {exposures_are} holds {cnt:,} first exposures, its arrays only {shown:,}")
    elif since == 0 and shown:
        problems.append(f"{p}: {exposures_are} holds no first exposures, its arrays {shown:,}")


def history_problems(
    world: Any,
    since: int,
    events: dict[str, np.ndarray] | None,
    exposures: dict[str, np.ndarray] | None,
    *,
    rows: tuple[str, str],
) -> list[str]:
    """Every session of ``world`` against itself and its history given as columns (a snapshot's:
    ``sim.store.eventrows.History``; None: it has none, so none is expected from ``since`` on), one
    sentence per problem (empty when consistent). Rows naming a session the world does not have are a
    problem too."""
    problems: list[str] = []
    ev = event_sums(events) if events is not None else {}
    ex = exposure_sums(exposures) if exposures is not None else {}
    known = {s.id for s in world.sessions}
    for table, sums in (("events", ev), ("exposures", ex)):
        for sid in sorted(set(sums) - known):
            problems.append(f"{sums[sid][0]:,} {table} name session {sid}, which the world does not have")
    ids = message_ids(world)
    for s in sorted(world.sessions, key=lambda s: s.id):
        session_history_problems(
            s, world.tick, since, ev.get(s.id), ex.get(s.id), world, problems, rows=rows, messages=ids
        )
    return problems
