"""A model's answer checked against the plugin contract before a session applies it.

A model's ``step`` (and ``start``) returns a :class:`~sim.plugin.StepResult`; :func:`checked_answer` turns it
into a new one of plain values (``agents`` int64, ``new_state`` an int or an int8 array, ``sources`` int32 ...)
or raises :class:`ModelContractError` naming what was wrong. Whatever the model returned (subclasses,
objects with ``__array__``) is converted here, so no plugin code runs after the check.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import numpy as np

from sim.plugin import StepResult, Variable

#: The most edge attempts one round may report (keeps counters well inside int64).
MAX_ATTEMPTS = 2**48


class ModelContractError(Exception):
    """A model returned something the contract does not allow (wrong shape, dtype or range)."""


def strictly_increasing(a: np.ndarray) -> bool:
    """Whether ``a`` is sorted ascending without repeats (checked in one pass)."""
    return a.size < 2 or bool(np.all(a[1:] > a[:-1]))


def has_repeats(a: np.ndarray) -> bool:
    """Whether some value of ``a`` stands in it twice."""
    s = np.sort(a)
    return bool(np.any(s[1:] == s[:-1]))


def plain(value: Any, field_name: str, model: str) -> np.ndarray:
    """``value`` as a plain ndarray (subclasses dropped; lists, scalars and ``__array__`` converted).

    Raises:
        ModelContractError: it cannot be made an array.
    """
    try:
        arr = np.asarray(value)
    except Exception as exc:
        raise ModelContractError(
            f"model {model} returned {field_name} that is not an array ({type(value).__name__}: {exc})"
        ) from exc
    if type(arr) is not np.ndarray:
        arr = np.array(arr, subok=False)
    return arr


def _is_count(value: Any) -> bool:
    """Whether ``value`` is a whole number (bools are not)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def checked_answer(
    result: Any, n: int, name: str, states: int, declared: Mapping[str, Variable], columns: Mapping[str, np.ndarray]
) -> StepResult:
    """The answer of model ``name`` checked against the contract, as a new :class:`StepResult` of plain
    values: ``agents`` int64, ``new_state`` an int or int8 array, ``sources`` int32, ``attempts`` an int,
    ``exposed`` None or a 1-D integer ndarray, ``via_feed`` None or a bool array. ``n``: the world's agents;
    ``states``: the model's states; ``declared``: its variables; ``columns``: the session's variable columns.

    Raises:
        ModelContractError: naming what was wrong.
    """
    if not isinstance(result, StepResult):
        hint = " (is step a generator? it must return its answer, not yield it)" if inspect.isgenerator(result) else ""
        raise ModelContractError(f"model {name} returned {type(result).__name__}, expected a StepResult{hint}")
    agents = _checked_agents(result.agents, n, name)
    new_state = _checked_states(result.new_state, agents, states, name)
    sources = _checked_sources(result.sources, agents, n, name)
    exposed = None
    if result.exposed is not None:
        exposed = plain(result.exposed, "exposed", name)
        if exposed.ndim != 1 or (
            exposed.size and (exposed.dtype.kind not in "iu" or exposed.min() < 0 or exposed.max() >= n)
        ):
            raise ModelContractError(
                f"model {name} returned exposed agents that are not a 1-D integer array in 0..{n - 1}"
            )
    attempts = result.attempts
    if not _is_count(attempts) or not 0 <= int(attempts) <= MAX_ATTEMPTS:
        raise ModelContractError(
            f"model {name} returned attempts={attempts!r:.60}, "
            f"expected a count (a whole number from 0 to {MAX_ATTEMPTS:,})"
        )
    via = None
    if result.via_feed is not None:
        via = plain(result.via_feed, "via_feed", name)
        if via.shape != agents.shape or via.dtype != np.bool_:
            raise ModelContractError(
                f"model {name} returned via_feed of shape {via.shape} and dtype {via.dtype}; "
                f"expected {agents.shape} booleans"
            )
    variables = checked_variables(result.variables, n, name, declared, columns)
    removed = checked_edges(result.remove_edges, "remove_edges", n, name)
    added = checked_edges(result.add_edges, "add_edges", n, name)
    trust = result.new_trust
    if added is not None and (
        isinstance(trust, bool) or not isinstance(trust, (int, float, np.floating)) or not 0.0 <= float(trust) <= 1.0
    ):
        raise ModelContractError(f"model {name} returned new_trust={trust!r:.60}, expected a number in [0, 1]")
    trust_value = float(trust) if added is not None else 0.5
    return StepResult(agents, new_state, sources, int(attempts), exposed, via, variables, removed, added, trust_value)


def _checked_agents(given: Any, n: int, name: str) -> np.ndarray:
    """A step's ``agents``: distinct indices in 0..n-1, as int64."""
    agents = plain(given, "agents", name)
    if agents.ndim != 1 or (agents.size and agents.dtype.kind not in "iu"):
        hint = " (a mask? pass np.flatnonzero(mask))" if agents.dtype == np.bool_ else ""
        raise ModelContractError(
            f"model {name} returned agents of shape {agents.shape} and dtype {agents.dtype}; "
            f"expected a 1-D integer array{hint}"
        )
    if agents.size > n:
        raise ModelContractError(
            f"model {name} returned {agents.size:,} agents in one round, more than the {n:,} agents of the world"
        )
    if agents.dtype == np.uint64 and agents.size and agents.max() > np.uint64(2**62):
        raise ModelContractError(f"model {name} returned agent indices outside 0..{n - 1}")
    agents = agents.astype(np.int64, copy=False)
    if agents.size and (agents.min() < 0 or agents.max() >= n):
        raise ModelContractError(f"model {name} returned agent indices outside 0..{n - 1}")
    if agents.size > 1 and not strictly_increasing(agents) and has_repeats(agents):
        raise ModelContractError(f"model {name} returned the same agent twice in one round")
    return agents


def _checked_states(given: Any, agents: np.ndarray, k: int, name: str) -> np.ndarray | int:
    """A step's ``new_state``: one state for all, or one per agent, among the model's ``k`` states."""
    if _is_count(given):
        if not 0 <= int(given) < k:
            raise ModelContractError(f"model {name} returned state {given}; its states are 0..{k - 1}")
        return int(given)
    arr = plain(given, "new_state", name)
    if arr.shape != agents.shape or (arr.size and arr.dtype.kind not in "iu"):
        raise ModelContractError(
            f"model {name} returned new_state of shape {arr.shape} and dtype {arr.dtype}, "
            f"expected {agents.shape} integers"
        )
    if arr.size and (arr.min() < 0 or arr.max() >= k):
        raise ModelContractError(f"model {name} returned states outside 0..{k - 1}")
    return arr.astype(np.int8)


def _checked_sources(given: Any, agents: np.ndarray, n: int, name: str) -> np.ndarray:
    """A step's ``sources``: one agent (or -1) per changing agent, as int32; all -1 when not given."""
    if given is None:
        return np.full(agents.size, -1, dtype=np.int32)
    sources = plain(given, "sources", name)
    if sources.shape != agents.shape or (sources.size and sources.dtype.kind not in "iu"):
        raise ModelContractError(
            f"model {name} returned sources of shape {sources.shape} and dtype {sources.dtype}, "
            f"expected {agents.shape} integers"
        )
    if sources.size and (sources.min() < -1 or sources.max() >= n):
        raise ModelContractError(f"model {name} returned sources outside -1..{n - 1}")
    return sources.astype(np.int32)


def checked_variables(
    given: Any, n: int, name: str, declared: Mapping[str, Variable], columns: Mapping[str, np.ndarray]
) -> dict[str, tuple[np.ndarray | None, np.ndarray]] | None:
    """``StepResult.variables`` checked: declared names, values in the declared range, as
    ``{name: (agents or None for all, values)}`` in the dtype of the session's column.

    Raises:
        ModelContractError: naming the variable and what was wrong.
    """
    if given is None:
        return None
    if not isinstance(given, dict):
        raise ModelContractError(
            f"model {name} returned variables as {type(given).__name__}, expected a dict of name -> values"
        )
    out: dict[str, tuple[np.ndarray | None, np.ndarray]] = {}
    for var, value in given.items():
        spec = declared.get(var) if isinstance(var, str) else None
        if spec is None or var not in columns:
            known = ", ".join(declared) or "none"
            raise ModelContractError(
                f"model {name} returned variable {var!r:.60}, which it does not declare (its variables: {known})"
            )
        who, vals = _variable_values(value, var, n, name)
        if vals.size and vals.dtype.kind not in "fiu":
            raise ModelContractError(f"model {name} returned variable {var} of dtype {vals.dtype}, expected numbers")
        vals = vals.astype(columns[var].dtype)
        if vals.size:
            bad = ~((vals >= spec.min) & (vals <= spec.max))  # NaN is bad too
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                agent = i if who is None else int(who[i])
                raise ModelContractError(
                    f"model {name} set variable {var} of agent {agent} to {float(vals[i])!r}, outside its "
                    f"declared range [{spec.min:g}, {spec.max:g}]"
                )
        out[var] = (who, vals)
    return out


def _variable_values(value: Any, var: str, n: int, name: str) -> tuple[np.ndarray | None, np.ndarray]:
    """One variable's answer: a whole column (agents None), or a pair (distinct agents, their values)."""
    if not isinstance(value, tuple):
        vals = plain(value, f"variables[{var!r}]", name)
        if vals.shape != (n,):
            raise ModelContractError(
                f"model {name} returned variable {var} of shape {vals.shape}, expected ({n},) "
                "(or a pair (agents, values))"
            )
        return None, vals
    if len(value) != 2:
        raise ModelContractError(
            f"model {name} returned variable {var} as a tuple of {len(value)}, expected (agents, values)"
        )
    who = plain(value[0], f"variables[{var!r}] agents", name)
    vals = plain(value[1], f"variables[{var!r}] values", name)
    if who.ndim != 1 or (who.size and who.dtype.kind not in "iu") or vals.shape != who.shape:
        raise ModelContractError(
            f"model {name} returned variable {var} with agents of shape {who.shape} and values of "
            f"shape {vals.shape}: expected a 1-D integer array and as many values"
        )
    who = who.astype(np.int64, copy=False)
    if who.size and (who.min() < 0 or who.max() >= n):
        raise ModelContractError(f"model {name} returned variable {var} for agents outside 0..{n - 1}")
    if who.size > 1 and not strictly_increasing(who) and has_repeats(who):
        raise ModelContractError(f"model {name} returned variable {var} for the same agent twice")
    return who, vals


def checked_edges(given: Any, field_name: str, n: int, name: str) -> tuple[np.ndarray, np.ndarray] | None:
    """``StepResult.remove_edges``/``add_edges`` checked: a pair of aligned 1-D agent arrays, no self-loops.

    Raises:
        ModelContractError: naming what was wrong.
    """
    if given is None:
        return None
    if not isinstance(given, tuple) or len(given) != 2:
        raise ModelContractError(
            f"model {name} returned {field_name} as {type(given).__name__}, expected a pair (sources, targets)"
        )
    src = plain(given[0], f"{field_name} sources", name)
    dst = plain(given[1], f"{field_name} targets", name)
    if (
        src.ndim != 1
        or src.shape != dst.shape
        or (src.size and (src.dtype.kind not in "iu" or dst.dtype.kind not in "iu"))
    ):
        raise ModelContractError(
            f"model {name} returned {field_name} of shapes {src.shape} and {dst.shape}: expected two "
            "aligned 1-D integer arrays"
        )
    if src.size > MAX_ATTEMPTS:
        raise ModelContractError(
            f"model {name} returned {src.size:,} {field_name} in one round, more than {MAX_ATTEMPTS:,}"
        )
    src, dst = src.astype(np.int64, copy=False), dst.astype(np.int64, copy=False)
    if src.size and (min(src.min(), dst.min()) < 0 or max(src.max(), dst.max()) >= n):
        raise ModelContractError(f"model {name} returned {field_name} with agents outside 0..{n - 1}")
    if np.any(src == dst):
        raise ModelContractError(f"model {name} returned {field_name} with an edge from an agent to itself")
    return src, dst
