"""What every request's parser shares: whole numbers and finite ones within bounds, texts, seed selections,
topics, settings and interventions, each refused in one sentence naming the field."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import TypeVar

import numpy as np

from sim.core.topics import topics_mask
from sim.engine.fields import KERNELS as KERNELS
from sim.engine.options import bounded_int, json_kind
from sim.errors import BadParameterError
from sim.model.intervene import ACTIONS, Intervention
from sim.model.registry import Registry
from sim.model.seeds import INT64_MAX, INT64_MIN, LOCAL, SEEDS_HINT, Limits, SeedSpec

T = TypeVar("T")

#: The kinds of seed selection that are not seed methods.
SELECTIONS = ("ids", "random", "top", "community", "file", "none")


def _field_of(what: str) -> tuple[str, ...]:
    """The field an error's ``what`` names (``budget``), none where it is words (``session seed``)."""
    return (what,) if what.isidentifier() else ()


def whole(value: object, what: str, lo: int, hi: int, give: str) -> int:
    """``value`` as an int from ``lo`` to ``hi`` (a bool is no number, nor a float; a numpy integer is).

    Raises:
        BadParameterError: ``{what} {value} is invalid: give {give}``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= int(value) <= hi:
        raise BadParameterError(f"{what} {str(value)[:30]} is invalid: give {give}", fields=_field_of(what))
    return int(value)


def bounded(value: object, what: str, lo: int, hi: int) -> int:
    """``value`` (an int, or its text: a flag's or a JSON field's) as an int from ``lo`` to ``hi``.

    Raises:
        BadParameterError: ``{what} must be from {lo} to {hi}, not {value}`` (or not a whole number).
    """
    try:
        return bounded_int(value, what, lo, hi)
    except BadParameterError as exc:  # a field named by words (session seed) names none
        raise BadParameterError(str(exc), fields=_field_of(what)) from None


def _text(value: object, limits: Limits) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadParameterError(f"text must be a string, not {json_kind(value)}", fields="text")
    if limits.max_text is not None and len(value) > limits.max_text:
        raise BadParameterError(
            f"the text is {len(value):,} characters, more than the {limits.max_text:,} a message may have: "
            "send a shorter one"
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadParameterError(
            "the message text is not valid Unicode (it holds a lone surrogate, such as bytes "
            "that are not UTF-8 given on a command line): write it in UTF-8"
        ) from None
    return value


def _id_list(ids: list[object], limits: Limits) -> str:
    """A JSON list of original agent ids as the selection ``ids:a,b,c``."""
    if not ids:
        raise BadParameterError(f"the seed list is empty: {SEEDS_HINT}")
    if limits.max_seed_ids is not None and len(ids) > limits.max_seed_ids:
        raise BadParameterError(
            f"the seed list has {len(ids):,} ids, more than the {limits.max_seed_ids:,} one message "
            "may name: use random:K or top:K for large seed sets"
        )
    for x in ids:
        if type(x) is not int or not INT64_MIN <= x <= INT64_MAX:  # a bool is no id, nor a float
            raise BadParameterError(
                f"seed {str(x)[:30]} is not an agent id: a seed list holds whole numbers "
                "that fit in 64 bits (original agent ids)"
            )
    return "ids:" + ",".join(map(str, ids))


def parse_seeds(value: object, registry: Registry, limits: Limits = LOCAL) -> SeedSpec:
    """A seed selection (``random:K``, ``top:K``, ``ids:a,b,c``, ``community:C:K``, ``file:PATH``, ``none``,
    ``METHOD:K`` or a list of original agent ids) as a :class:`SeedSpec`, its method known to ``registry``
    and within ``limits`` (:meth:`SeedSpec.parse` enforces them; a file is read there, once, where they allow it).

    Raises:
        BadParameterError: one sentence naming the mistake.
    """
    if isinstance(value, list):
        value = _id_list(value, limits)
    if isinstance(value, bool) or not isinstance(value, str):
        raise BadParameterError(
            f'seeds must be a seed selection such as "random:10" or a list of agent ids, not {json_kind(value)}',
            fields="seeds",
        )
    return SeedSpec.parse(value, limits, registry)


def _topics(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise BadParameterError("topics must be a list of topic names (strings)", fields="topics")
    if not all(isinstance(t, str) for t in value):
        raise BadParameterError("topics must be a list of topic names (strings)", fields="topics")
    topics = tuple(value)
    topics_mask(topics)  # an unknown topic: one sentence naming it
    return topics


def _frozen(params: Mapping[str, T]) -> Mapping[str, T]:
    return MappingProxyType(dict(params))


def interventions(items: Iterable[str] | str) -> tuple[Intervention, ...]:
    """``[TICK:]ACTION`` texts (``--intervene``, an ensemble's ``intervene``) as interventions, TICK counted
    from the injection (without one, 0: the injection's tick).

    Raises:
        BadParameterError: one sentence naming the intervention and its mistake.
    """
    if isinstance(items, str):
        items = [items]
    out = []
    for item in items:
        if not isinstance(item, str):
            raise BadParameterError(f"an intervention is a text such as '5:block:degree:100', not {json_kind(item)}")
        if item.strip().lower() == "none":  # a sweep arm's "no intervention"
            continue
        iv = Intervention.parse(item, with_tick=item.strip().split(":", 1)[0] not in ACTIONS)
        out.append(iv if iv.tick is not None else dataclasses.replace(iv, tick=0))
    return tuple(out)


def finite(value: object, what: str, *, above: float = 0.0) -> float:
    """``value`` as a finite float above ``above``.

    Raises:
        BadParameterError: ``{what} {value} is invalid: give a number above {above}``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= above:
        raise BadParameterError(
            f"{what} {str(value)[:30]} is invalid: give a number above {above:g}", fields=_field_of(what)
        )
    return float(value)


def positive(value: object, what: str, least: int = 1) -> int:
    """A whole number of at least ``least`` (``runs``, ``steps``, ``workers``...).

    Raises:
        BadParameterError: ``{what} must be a whole number of at least {least}, got {value}``.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise BadParameterError(
            f"{what} must be a whole number of at least {least:,}, got {str(value)[:30]}", fields=_field_of(what)
        )
    return value


def _optional(data: Mapping[str, object], key: str, what: str) -> int | None:
    value = data.get(key)
    return None if value is None else positive(value, what)


def _run_length(data: Mapping[str, object]) -> tuple[int | None, int | None]:
    """A request's ``steps`` and ``max_ticks`` (each None when not given), which exclude each other.

    Raises:
        BadParameterError: one of them not a positive whole number, or both given.
    """
    steps = _optional(data, "steps", "steps")
    max_ticks = _optional(data, "max_ticks", "max_ticks")
    if steps is not None and max_ticks is not None:
        raise BadParameterError(
            "max_ticks limits runs until done: with steps=N every run takes exactly N ticks",
            fields=("max_ticks", "steps"),
        )
    return steps, max_ticks


def _settings(value: object, what: str) -> Mapping[str, object]:
    if value is None:
        return _frozen({})
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise BadParameterError(f"{what} must be an object of setting names and values, not {json_kind(value)}")
    return _frozen(value)
