"""The base class of every plugin: a name, a version, a description and a parameter schema."""

from __future__ import annotations

from typing import Any, ClassVar

from sim.errors import BadParameterError
from sim.plugin.params import Param


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

        Raises:
            BadParameterError: an unknown parameter, or a value outside its range (named).
        """
        unknown = sorted(set(params) - set(cls.params))
        if unknown:
            known = ", ".join(sorted(cls.params)) or "none"
            raise BadParameterError(f"{cls.name} has no parameter {unknown[0]!r}: its parameters are {known}")
        out = {}
        for key, spec in cls.params.items():
            out[key] = spec.coerce(key, params[key]) if key in params else spec.default
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
            }
            for k, p in cls.params.items()
        }
