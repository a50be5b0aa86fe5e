"""Reading a live world: what ``GET /api/v1/world``, ``/sessions``, ``/agents/{id}`` and ``/communities`` answer,
and the agents a name or an id names (the terminal UI's search)."""

from __future__ import annotations

import numpy as np

from sim.core.numbers import ascii_int
from sim.core.persona import FIRST_NAMES, LAST_NAMES
from sim.core.tracebacks import plugin_location
from sim.errors import BadParameterError
from sim.live.policy import INT64_MAX, INT64_MIN, PAGE_SIZE, Host, NotFoundError
from sim.model.series import SeriesColumns, series_dict
from sim.store.analysis_tables import read_communities
from sim.store.worldfile import load_warnings


class WorldReader:
    """What a live world's front ends read of it (no call changes it)."""

    def __init__(self, host: Host) -> None:
        self.host = host

    def summary(self) -> dict[str, object]:
        """What ``GET /api/v1/world`` answers."""
        world, sim = self.host.world, self.host.sim
        counts: dict[str, int] = {}
        for s in world.sessions:
            counts[s.status] = counts.get(s.status, 0) + 1
        settings = sim.social.settings
        return {
            "name": world.name,
            "agents": world.n,
            "edges": world.num_edges,
            "tick": world.tick,
            "state": self.host.state,
            "ticks_per_second": self.host.ticks_per_second,
            "sessions": len(world.sessions),
            "session_status": counts,
            "living": {"on": sim.social.living, **{k: v for k, v in settings.items()}},
            "llm": {"mode": sim.llm.mode, "model": sim.llm.config.model},
            "messages": len(world.messages),
            "communities": world.num_communities,
            "checkpoint": self.host.checkpoints.state(),
            # What the world's file or snapshot named and Agora ignored (LLM servers, credentials).
            "warnings": load_warnings(world),
        }

    def session_record(self, session_id: object, *, series: bool = False, cascade: bool = False) -> dict[str, object]:
        """One session as ``GET /api/v1/sessions/{id}`` answers it (``series``: its per-state series;
        ``cascade``: the measures of its adoption forest, ``sim.core.cascade``, None for a model without
        sources or a session that has not started — O(its size), so not in listings).

        Raises:
            NotFoundError: no such session.
        """
        try:
            sid = _whole(session_id)
        except (TypeError, ValueError):
            raise NotFoundError(f"no session {str(session_id)[:40]!r}: session ids are whole numbers") from None
        s = next((x for x in self.host.world.sessions if x.id == sid), None)
        if s is None:
            raise NotFoundError(f"no session {sid}: GET /api/v1/sessions lists them")
        out = {
            "id": s.id,
            "message": s.message_id,
            "text": s.message.get("text"),
            "model": s.model_name,
            "params": s.params,
            "seeds": s.seeds,
            "status": s.status,
            "priority": s.priority,
            "created_tick": s.created_tick,
            "started_tick": s.started_tick,
            "ended_tick": s.ended_tick,
            "reached": int(s.reached),
            "exposed": int(s.exposed_count),
            "rounds": s.round,
            "error": s.error,
            "where": plugin_location(s.traceback) if s.status == "failed" else None,
            "traceback": s.traceback if s.status == "failed" else None,
        }
        if series:
            out["series"] = series_dict(s)
            out["series_columns"] = SeriesColumns.of(out["series"], s.state_names).to_dict()
        if cascade:
            out["cascade"] = s.cascade() if s.status != "failed" else None
        return out

    def sessions(self, limit: int = PAGE_SIZE, offset: int = 0) -> list[dict[str, object]]:
        """One page of the sessions, oldest first: at most ``limit`` of them from the ``offset``-th."""
        return [self.session_record(s.id) for s in self.host.world.sessions[offset : offset + limit]]

    def agent(self, original_id: object) -> dict[str, object]:
        """An agent by original id, as ``agora agent --json`` prints it.

        Raises:
            NotFoundError: no agent has that id.
        """
        try:
            key = _whole(original_id)
            if not INT64_MIN <= key <= INT64_MAX:  # no agent id is outside 64 bits
                raise ValueError
            i = self.host.world.index_of(key)
        except (TypeError, ValueError, OverflowError, BadParameterError):
            raise NotFoundError(f"no agent {str(original_id)[:40]!r}: agents are named by their original ids") from None
        out = self.host.world.agent(i).to_dict()
        out["memory"] = self.host.sim.llm.agent_memory(i)  # what it remembers (sim.core.agentmemory)
        return out

    def find_agents(self, query: str) -> np.ndarray:
        """The indices of the agents that ``query`` names: an original id (one agent) or a name (first name,
        or first and last; every agent called so, in index order).

        Raises:
            BadParameterError: an empty query, an unknown id, or no agent of that name.
        """
        world = self.host.world
        q = query.strip()
        if not q:
            raise BadParameterError("type an agent id or a name")
        number = ascii_int(q)  # ASCII digits only (issue 71): "٣" is a name to look for, not agent 3
        if number is not None:
            return np.array([world.index_of(number)], dtype=np.int64)
        words = q.lower().split()
        codes = world.columns["persona_codes"]
        firsts = [i for i, n in enumerate(FIRST_NAMES) if n.lower() == words[0]]
        mask = np.isin(codes[:, 0], firsts) if firsts else np.zeros(world.n, dtype=bool)
        if len(words) > 1:
            lasts = [i for i, n in enumerate(LAST_NAMES) if n.lower() == words[1]]
            mask &= np.isin(codes[:, 1], lasts)
        for i, p in world.persona_overrides.items():  # agents given a persona of their own: few
            mask[i] = p.name.lower() == q.lower()
        hits = np.flatnonzero(mask)
        if hits.size == 0:
            raise BadParameterError(f"no agent is called {q!r}: try an id or another name")
        return hits

    def influence_rank(self, index: int) -> int:
        """Agent ``index``'s rank by influence (1: the most influential)."""
        infl = self.host.world.columns["influence"]
        return int(np.count_nonzero(infl > infl[index])) + 1

    async def communities(self, limit: int | None = None) -> list[dict[str, object]]:
        """The communities table of the last analysis (empty before one, and for a world without a file)."""
        if self.host.sim.writer is None:
            return []
        return await self.host.sim.writer.call(lambda db: read_communities(db, limit=limit))


def _whole(value: object) -> int:
    """An id as a client sends it (a number, or the text of one in a route).

    Raises:
        ValueError, TypeError: anything else.
    """
    if isinstance(value, bool) or not isinstance(value, (int, str, np.integer)):
        raise TypeError(type(value).__name__)
    if isinstance(value, str):
        number = ascii_int(value)  # ASCII digits only: "١" and "1_0" are no ids
        if number is None:
            raise ValueError(value[:40])
        return number
    return int(value)
