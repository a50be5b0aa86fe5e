"""The base class of every plugin: a name, a version, a description and a parameter schema."""

from __future__ import annotations

from typing import Any, ClassVar

from sim.errors import BadParameterError
from sim.plugin.params import MULTIPLIER, Param, split_key
from sim.plugin.schedule import MAX_ROUND, split_time


class Plugin:
    """Base of every plugin. Subclasses set the class attributes below."""

    kind: ClassVar[str] = "plugin"
    name: ClassVar[str] = ""
    version: ClassVar[str] = "0.1"
    description: ClassVar[str] = ""
    params: ClassVar[dict[str, Param]] = {}

    def __init__(self, **params: Any) -> None:
        self.p: dict[str, Any] = self.validate(params)

    @classmethod
    def validate(cls, params: dict[str, Any]) -> dict[str, Any]:
        """Defaults filled in, every value converted and range-checked.

        A parameter declared ``per_edge`` may also be given per contact layer, ``NAME@LAYER`` (kept as that
        key, after the declared ones); whether the world has that layer is checked where the world is known
        (``Simulation.inject``); and it may change in time, ``NAME~ROUND`` or ``NAME@LAYER~ROUND`` (a multiplier from
        that round on, :mod:`sim.plugin.schedule`).

        Raises:
            BadParameterError: an unknown parameter, a layer on a parameter that acts per agent, or a value
                outside its range (named).
        """
        layered: dict[str, Any] = {}
        unknown = []
        for key in params:
            if key in cls.params:
                continue
            name, layer = split_key(key)
            at = split_time(key)[1]
            spec = cls.params.get(name)
            if (layer is None and at is None) or spec is None:
                unknown.append(key)
            elif spec.per_edge is None:
                what = "one per contact layer" if at is None else "a change in time"
                raise BadParameterError(
                    f"{cls.name}'s parameter {name} takes one value for every agent, not {what}: give {name}=VALUE"
                )
            elif at is not None and at > MAX_ROUND:
                raise BadParameterError(f"{key}: a change point's round is from 0 to {MAX_ROUND:,}")
            else:
                layered[key] = (MULTIPLIER if at is not None else spec).coerce(key, params[key])
        if unknown:
            known = ", ".join(sorted(cls.params)) or "none"
            raise BadParameterError(f"{cls.name} has no parameter {sorted(unknown)[0]!r}: its parameters are {known}")
        out = {}
        for key, spec in cls.params.items():
            out[key] = spec.coerce(key, params[key]) if key in params else spec.default
        out.update(sorted(layered.items()))
        return out

    @classmethod
    def schema(cls) -> dict[str, dict[str, Any]]:
        """The parameter schema as plain data (for forms, ``--json`` and docs)."""
        return {
            k: {
                "type": p.type.__name__,
                "default": p.default,
                "min": p.min,
                "max": p.max,
                "help": p.help,
                "choices": list(p.choices) if p.choices else None,
                "per_edge": p.per_edge,
            }
            for k, p in cls.params.items()
        }
