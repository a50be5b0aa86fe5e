"""What is wrong with a plugin class's declarations, before any of its code runs: name, version,
description and the parameter schema (every plugin); states, adopted and transmitting states,
``transmit``, ``seed_state``, flags and variables (a model); the method a recommender must override."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

import numpy as np

from sim.errors import BadParameterError
from sim.plugin import ContentRecommender, FriendRecommender, Param, PropagationModel, Variable

#: Whether a parameter's default has its declared type, by type.
_TYPE_OK = {
    float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    int: lambda v: is_int(v),
    bool: lambda v: isinstance(v, bool),
    str: lambda v: isinstance(v, str),
}


def is_int(x: Any) -> bool:
    """Whether ``x`` is an integer (a Python or numpy one), not a bool."""
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _bound_problems(key: str, spec: Param) -> list[str]:
    """What is wrong with a parameter's ``min`` and ``max``."""
    problems = []
    for bound in ("min", "max"):
        b = getattr(spec, bound)
        if b is None:
            continue
        if spec.type in (bool, str):
            problems.append(f"parameter {key}: a {spec.type.__name__} parameter cannot have a {bound}")
        elif not isinstance(b, (int, float, np.integer, np.floating)) or isinstance(b, bool) or math.isnan(float(b)):
            problems.append(f"parameter {key}: {bound} {b!r} is not a number")
    if (
        spec.min is not None
        and spec.max is not None
        and spec.type in (float, int)
        and not isinstance(spec.min, bool)
        and not isinstance(spec.max, bool)
    ):
        try:
            if float(spec.min) > float(spec.max):
                problems.append(f"parameter {key}: min {spec.min:g} is above max {spec.max:g}, so no value is valid")
        except (TypeError, ValueError):
            pass
    return problems


def _default_problems(key: str, spec: Param) -> list[str]:
    """What is wrong with a parameter's ``choices`` and ``default``."""
    problems = []
    if spec.choices is not None:
        if spec.type is not str:
            problems.append(f"parameter {key}: choices only apply to str parameters")
        elif not spec.choices or not all(isinstance(c, str) for c in spec.choices):
            problems.append(f"parameter {key}: choices must be a non-empty tuple of strings")
    d = spec.default
    if not _TYPE_OK[spec.type](d):
        problems.append(f"parameter {key}: default {d!r} is a {type(d).__name__}, not a {spec.type.__name__}")
        return problems
    try:
        spec.coerce(key, d)
    except BadParameterError:
        problems.append(f"parameter {key}: default {d!r} fails its own validation: expected {spec.describe_range()}")
    except Exception as exc:
        problems.append(f"parameter {key}: validating its default raised {type(exc).__name__}: {exc}")
    return problems


def _param_problems(key: Any, spec: Any) -> list[str]:
    """What is wrong with one parameter's declaration (its help is optional: the UI shows the name alone)."""
    problems = []
    if not isinstance(key, str) or not key.isidentifier():
        problems.append(f"parameter name {key!r} is not an identifier")
    if not isinstance(spec, Param):
        problems.append(f"parameter {key}: is a {type(spec).__name__}, not a Param(type, default, min, max, help)")
        return problems
    if spec.type not in (float, int, bool, str):
        problems.append(
            f"parameter {key}: type {getattr(spec.type, '__name__', spec.type)!r} is not one of float, int, bool, str"
        )
        return problems
    return problems + _bound_problems(key, spec) + _default_problems(key, spec)


def plugin_schema_problems(cls: type, what: str) -> list[str]:
    """What is wrong with the declarations every plugin shares: name, version, description and the
    parameter schema.

    Args:
        cls: the plugin class.
        what: the plugin's kind, named in the advice ("model", "recommender").

    Returns:
        One sentence per problem (empty when there is none).
    """
    problems: list[str] = []
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name.strip():
        problems.append(f'name is empty: set name = "..." (what users pass to choose the {what})')
    elif re.search(r"\s", name):
        problems.append(f"name {name!r} contains whitespace: use letters, digits, '_', '-' or '.'")
    for attr in ("version", "description"):
        value = getattr(cls, attr, None)
        if not isinstance(value, str) or not value.strip():
            problems.append(f'{attr} is empty: set {attr} = "..."')
    params = getattr(cls, "params", None)
    if not isinstance(params, dict):
        problems.append(f"params is a {type(params).__name__}: it must be a dict of name -> Param")
        params = {}
    for key, spec in params.items():
        problems += _param_problems(key, spec)
    return problems


def _state_set(cls: type, attr: str, states: tuple[str, ...], allow_empty: bool, problems: list[str]) -> Any:
    """A model's set of state numbers ``attr`` as a tuple, its problems added to ``problems`` (None when
    it is not a set of state numbers)."""
    k = len(states)
    value = getattr(cls, attr, None)
    if not isinstance(value, (tuple, list, set, frozenset)) or not all(is_int(v) for v in value):
        problems.append(f"{attr} {value!r} must be a tuple of state numbers")
        return None
    if not value and not allow_empty:
        problems.append(f"{attr} is empty: name at least one of the states 1..{k - 1}")
    bad = [int(v) for v in value if not 1 <= int(v) < k]
    if bad:
        problems.append(
            f"{attr} {tuple(value)!r} holds {bad[0]}, but the states that can be entered are 1..{k - 1} "
            f"({', '.join(states[1:])})"
        )
    return tuple(int(v) for v in value)


def _transmission_problems(cls: type, states: tuple[str, ...]) -> list[str]:
    """What is wrong with a model's adopted and transmitting states, ``transmit``, ``seed_state`` and
    ``progressive`` (its ``states`` being valid)."""
    problems: list[str] = []
    k = len(states)
    adopted = _state_set(cls, "adopted_states", states, False, problems)
    # A model that decides its own end (opinion dynamics: every agent acts every round) may have no
    # transmitting state; a cascade needs one, or it ends at once.
    own_end = getattr(cls, "is_done", None) is not PropagationModel.is_done
    transmitting = _state_set(cls, "transmitting_states", states, own_end, problems)
    transmit = getattr(cls, "transmit", None)
    if transmit not in ("once", "while"):
        problems.append(
            f'transmit {transmit!r} must be "once" (the round after entering) or "while" (every round in a '
            "transmitting state)"
        )
    seed_state: Any = getattr(cls, "seed_state", None)
    if not is_int(seed_state) or not 1 <= int(seed_state) < k:
        problems.append(f"seed_state {seed_state!r} must be one of the states 1..{k - 1}")
    elif transmitting is not None and int(seed_state) not in transmitting and not own_end:
        problems.append(
            f"seed_state {seed_state} ({states[int(seed_state)]}) is not a transmitting state, so the seeds "
            "never transmit and the "
            "session ends at once: make it transmitting or override is_done"
        )
    if not isinstance(getattr(cls, "progressive", None), bool):
        problems.append(f"progressive {getattr(cls, 'progressive', None)!r} must be True or False")
    if adopted is not None and transmitting is not None and not (set(adopted) | set(transmitting)):
        problems.append("no state is adopted or transmitting")
    return problems


def _zero_params_problems(cls: type, params: dict[str, Any]) -> list[str]:
    """What is wrong with a model's optional ``zero_params``: parameters that can be set to 0."""
    zero = getattr(cls, "zero_params", None)
    if zero is None:
        return []
    if isinstance(zero, str) or not isinstance(zero, Iterable):
        return [f"zero_params {zero!r} must be a tuple of parameter names"]
    problems = []
    for z in zero:
        spec = params.get(z)
        if not isinstance(spec, Param):
            problems.append(f"zero_params names {z!r}, which is not a parameter")
        elif spec.type not in (float, int):
            problems.append(f"zero_params names {z!r}, a {spec.type.__name__} parameter: only numbers can be set to 0")
        else:
            try:
                spec.coerce(z, 0)
            except BadParameterError:
                problems.append(f"zero_params names {z!r}, but 0 is outside its range ({spec.describe_range()})")
    return problems


def _variable_problems(cls: type) -> list[str]:
    """What is wrong with a model's flags and its declared continuous variables."""
    problems = []
    for flag in ("uses_feed", "changes_edges", "endless"):
        if not isinstance(getattr(cls, flag, False), bool):
            problems.append(f"{flag} {getattr(cls, flag, None)!r} must be True or False")
    variables = getattr(cls, "variables", {})
    if not isinstance(variables, dict):
        problems.append(f"variables is a {type(variables).__name__}: it must be a dict of name -> Variable")
        return problems
    for vname, spec in variables.items():
        if not isinstance(spec, Variable):
            problems.append(f"variable {vname!r}: is a {type(spec).__name__}, not a Variable(min, max, init, ...)")
        else:
            problems += spec.problems(vname)
    return problems


def schema_problems(cls: type) -> list[str]:
    """What is wrong with a model class's declarations (empty when nothing is): those every plugin
    shares (:func:`plugin_schema_problems`), then its states, adopted and transmitting states, ``transmit``,
    ``seed_state``, ``progressive``, ``zero_params``, flags and variables, and whether it overrides ``step``.

    Args:
        cls: the model class.

    Returns:
        One sentence per problem, in that order.
    """
    problems = plugin_schema_problems(cls, "model")
    params = getattr(cls, "params", None)
    if not isinstance(params, dict):
        params = {}
    states = getattr(cls, "states", None)
    if not isinstance(states, (tuple, list)) or len(states) < 2 or not all(isinstance(s, str) and s for s in states):
        problems.append(
            f"states {states!r} must be a tuple of at least two non-empty names (state 0 is the untouched one)"
        )
        return problems
    if len(set(states)) != len(states):
        problems.append(f"states {tuple(states)!r} repeat a name")
    if len(states) > 127:
        problems.append(f"{len(states)} states do not fit the int8 state array (at most 127)")
    problems += _transmission_problems(cls, tuple(states))
    problems += _zero_params_problems(cls, params)
    problems += _variable_problems(cls)
    if getattr(cls, "step", None) is PropagationModel.step:
        problems.append("step is not overridden: the model does nothing")
    return problems


def recommender_schema_problems(cls: type) -> list[str]:
    """What is wrong with a recommender class's declarations (empty when nothing is).

    Args:
        cls: the recommender class.

    Returns:
        One sentence per problem.
    """
    problems = plugin_schema_problems(cls, "recommender")
    if issubclass(cls, FriendRecommender):
        if getattr(cls, "suggest", None) is FriendRecommender.suggest:
            problems.append("suggest is not overridden: the recommender suggests nothing")
    elif issubclass(cls, ContentRecommender):
        if getattr(cls, "score", None) is ContentRecommender.score:
            problems.append("score is not overridden: the recommender scores nothing")
    else:
        problems.append(
            "it subclasses Recommender directly: subclass ContentRecommender (feeds, score) or "
            "FriendRecommender (whom to follow, suggest)"
        )
    return problems
