"""A propagation session as stored in a world file or a snapshot: its record's fields and its arrays,
checked before a session is rebuilt from them (``PropagationSession.from_record``).

Every check raises ``ValueError`` naming the session and the array; callers turn it into a clear error.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.model.answer import has_repeats
from sim.plugin.model import default_onsets, default_removals, observables_problem


def session_fields(rec: dict[str, Any]) -> dict[str, Any]:
    """The keywords that rebuild a session from its record (``PropagationSession.to_record``), converted
    to their types; fields a record of an older version lacks take their defaults.

    Raises:
        ValueError / KeyError / TypeError: a malformed record.
    """
    return {
        "id": int(rec["id"]),
        "message_id": int(rec["message_id"]),
        "model_name": str(rec["model"]),
        "params": dict(rec["params"]),
        "seeds": str(rec["seeds"]),
        "priority": int(rec["priority"]),
        "status": str(rec["status"]),
        "message": dict(rec.get("message") or {}),
        "created_tick": int(rec["created_tick"]),
        "started_tick": rec.get("started_tick"),
        "ended_tick": rec.get("ended_tick"),
        "round": int(rec["round"]),
        "seed": int(rec["seed"]),
        "rng_state": rec.get("rng_state"),
        "reached": int(rec["reached"]),
        "exposed_count": int(rec["exposed"]),
        "attempts": int(rec["attempts"]),
        "seeds_count": int(rec.get("seeds_count", 0)),
        "new_per_tick": [int(x) for x in rec["new_per_tick"]],
        "frontier_sizes": [int(x) for x in rec["frontier_sizes"]],
        "reproduction_number": float(rec["reproduction_number"]),
        "error": rec.get("error"),
        "traceback": rec.get("traceback"),
        "state_names": tuple(rec["state_names"]),
        "adopted_states": tuple(int(x) for x in rec["adopted_states"]),
        "transmitting_states": tuple(int(x) for x in rec["transmitting_states"]),
        "transmit": str(rec["transmit"]),
        "recommender": None if rec.get("recommender") is None else str(rec["recommender"]),
        "feed_exposed": int(rec.get("feed_exposed", 0)),
        "feed_reached": int(rec.get("feed_reached", 0)),
        "edges_removed": int(rec.get("edges_removed", 0)),
        "edges_added": int(rec.get("edges_added", 0)),
        "gives_sources": bool(rec.get("gives_sources", True)),
        "rivals": tuple(int(x) for x in rec.get("rivals") or ()),
        "immune": max(0, int(rec.get("immune", 0) or 0)),
    }


def state_arrays(sid: int, arrays: dict[str, np.ndarray], n: int, states: int) -> dict[str, np.ndarray]:
    """The per-agent arrays of started session ``sid`` (``state``, ``adopted_at``, ``adopted_from``,
    ``exposed``, ``feed_seen``, ``frontier``, ``transmitting``), checked against ``n`` agents and the model's
    ``states``; ``feed_seen`` all False when a file of an older version has none.

    Raises:
        ValueError: an array of the wrong dtype or shape, or holding agents or states out of range.
    """
    expected = {
        "state": (np.int8, (n,)),
        "adopted_at": (np.int32, (n,)),
        "adopted_from": (np.int32, (n,)),
        "exposed": (np.bool_, (n,)),
    }
    out: dict[str, np.ndarray] = {}
    for k, (dt, shape) in expected.items():
        a = arrays[k]
        if a.dtype != dt or a.shape != shape:
            raise ValueError(f"session {sid} array {k} has dtype {a.dtype} and shape {a.shape}")
        out[k] = a
    seen = arrays.get("feed_seen")
    if seen is None:
        seen = np.zeros(n, dtype=bool)
    if seen.dtype != np.bool_ or seen.shape != (n,):
        raise ValueError(f"session {sid} array feed_seen has dtype {seen.dtype} and shape {seen.shape}")
    out["feed_seen"] = seen
    for k in ("frontier", "transmitting"):
        a = arrays[k]
        if a.dtype != np.int32 or a.ndim != 1 or (a.size and (a.min() < 0 or a.max() >= n)):
            raise ValueError(f"session {sid} array {k} is invalid")
        out[k] = a
    state = out["state"]
    if state.size and (state.min() < 0 or state.max() >= states):
        raise ValueError(f"session {sid} holds unknown states")
    return out


def variable_columns(sid: int, names: Any, arrays: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """The continuous variables of session ``sid`` by name (its record's ``variables``), each the array
    ``var.NAME`` of ``n`` finite floats.

    Raises:
        ValueError: an invalid list of names, or a column missing or not ``n`` finite numbers.
    """
    if not isinstance(names, list) or not all(isinstance(v, str) for v in names) or len(set(names)) != len(names):
        raise ValueError(f"session {sid} has an invalid list of variables")
    out: dict[str, np.ndarray] = {}
    for v in names:
        col = arrays.get(f"var.{v}")
        if col is None or col.dtype.kind != "f" or col.shape != (n,) or (col.size and not np.isfinite(col).all()):
            raise ValueError(f"session {sid} variable {v!r} is missing or not {n:,} finite numbers")
        out[v] = col
    return out


def seed_agents(sid: int, arrays: dict[str, np.ndarray], n: int, started: bool) -> np.ndarray | None:
    """The seed agents a session that has not started kept from its injection (None when it kept none).

    Raises:
        ValueError: not distinct int32 agents in 0..n-1, or kept by a session that has started.
    """
    seeds = arrays.get("seed_agents")
    if seeds is None:
        return None
    if (
        seeds.dtype != np.int32
        or seeds.ndim != 1
        or started
        or (seeds.size and (seeds.min() < 0 or seeds.max() >= n))
        or has_repeats(seeds)
    ):
        raise ValueError(f"session {sid} array seed_agents is invalid")
    return seeds


def stored_observables(rec: dict[str, Any], s: Any) -> dict[str, tuple[int, ...]]:
    """A stored session's ``observables`` (none in a record of an older version).

    Raises:
        ValueError: a declaration :func:`sim.plugin.model.observables_problem` refuses for the session's states.
    """
    stored = rec.get("observables") or {}
    got = {str(k): tuple(int(x) for x in v) for k, v in dict(stored).items()} if isinstance(stored, dict) else stored
    problem = observables_problem(got, s.state_names)
    if problem:
        raise ValueError(f"session {s.id}: {problem}")
    return got


def counted_states(rec: dict[str, Any], s: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """A stored session's ``onset_states`` and ``removal_states``; a record of an older version has none: the
    defaults of its states (:func:`sim.plugin.model.default_onsets`, :func:`~sim.plugin.model.default_removals`).

    Raises:
        ValueError: states that are not the session's.
    """
    onsets = rec.get("onset_states")
    removals = rec.get("removal_states")
    got = (
        default_onsets(s.adopted_states, s.transmitting_states) if onsets is None else tuple(int(x) for x in onsets),
        default_removals(s.state_names, s.adopted_states) if removals is None else tuple(int(x) for x in removals),
    )
    k = len(s.state_names)
    if any(not 1 <= x < k for x in (*got[0], *got[1])):
        raise ValueError(f"session {s.id} counts onsets or removals of a state it does not have")
    return got
