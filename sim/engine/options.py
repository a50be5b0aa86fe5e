"""Each option of a request declared once (issue 74): its field name, its kind, bounds, default, help and flag.

A request lists its options (an :class:`Options`, the class's ``OPTIONS``), and every door reads that one
list:

- the request's own checks of each plain field (:meth:`Options.read`: a whole number within its bounds, a
  switch, one of its choices, refused in the sentence every request uses) and its field names (``FIELDS``);
- the command line's flag of each field (``sim.cli.parsers.options.request_flags``: its name, metavar, help and
  group) and the flags' values as the request's fields (``sim.cli.args.request_fields``); the name an error's
  field is spelled with there (``sim.cli.fields.flag``);
- the OpenAPI description of the request (:meth:`Option.schema`, read by ``sim.api.openapi``);
- the fields of a request value (:meth:`Options.fields_of`: a parse of them gives the value back) and what a
  live world's job says of its request (:meth:`Options.served_of`).

A field whose reading is more than a kind and bounds (a forecast's arms, a file a request names) is declared
``custom``: its name, help and flag come from here, its reading and its JSON schema from the request.
This module imports nothing heavy (the command line builds its flags from it without numpy). So a new plain
option is two edits: its :class:`Option` and the request value's attribute (then the code that
uses it); docs/architecture.md counts them, tests/test_options.py makes one.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sim.core.numbers import int_of
from sim.errors import BadParameterError


def json_kind(value: object) -> str:
    """What a value is, as a sentence says it of JSON (``null``, ``true``, ``the number 5``, ``the string 'x'``, ``a
    list``, ``an object``), never its Python type's name (``NoneType``, ``int``) nor the value at length."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"the string {value[:20]!r}"
    if isinstance(value, numbers.Real):  # numpy's integers and floats too
        return f"the number {str(value)[:24]}"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "a list"
    return "a value of no JSON type"


def bounded_int(value: object, what: str, lo: int, hi: int) -> int:
    """``value`` (an int, or its text) as an int from ``lo`` to ``hi`` (``sim.engine.requests.bounded``'s reading and
    sentences).

    Raises:
        BadParameterError: ``{what} must be from {lo} to {hi}, not {value}`` (or not a whole number).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral | str):
        raise BadParameterError(
            f"{what} must be a whole number from {lo:,} to {hi:,}, not {str(value)[:30]!r}", fields=what
        )
    try:
        number = int_of(value, underscores=True) if isinstance(value, str) else int(value)
    except ValueError:
        raise BadParameterError(
            f"{what} must be a whole number from {lo:,} to {hi:,}, not {str(value)[:30]!r}", fields=what
        ) from None
    if not lo <= number <= hi:
        raise BadParameterError(f"{what} must be from {lo:,} to {hi:,}, not {number:,}", fields=what)
    return number


#: The kinds of option: a whole number, a switch, one of some texts, and one the request reads itself.
KINDS = ("int", "bool", "choice", "custom")


@dataclass(frozen=True)
class Option:
    """One field of a request.

    Attributes:
        name: the field's name (JSON's, Python's, and the request value's attribute where ``stored``).
        kind: ``int`` (a whole number from ``lo`` to ``hi``), ``bool``, ``choice`` (one of ``choices``) or
            ``custom`` (the request reads it).
        help: what it does, as the command line's ``--help`` and the OpenAPI description say it; another field
            named in it is written in backquotes (```until_done```), which the command line spells as its flag
            (:meth:`Options.help`) and the description as the field.
        default: its value when not given (None: it may be null, which is not given).
        flag: its flag's name, without the dashes (``""``: the field's name with ``-`` for ``_``; ``arm`` for
            ``arms``, given once per arm; None: no flag of its own, where another of the command's flags serves
            it, named in ``shared``).
        metavar: the flag's value as the help shows it. group: flags of one group exclude each other.
        shown_default: the flag's default is the option's, and its help ends with it (``(default 10,000)``);
            otherwise a flag left out is left to the request. repeat: the flag is given once per value.
            reads: the field names a file the command reads (what it is: ``posterior file``), declared an input.
            texts: a whole number may come as its digits (a plan file's, ``"5"``), as ``sim.engine.requests.bounded``
            reads it. note: said after the shown default (``; at most 10,000,000``).
        served: a live world's requests take it (its schema and what a job says of its request).
        stored: the request value keeps it in the attribute of its name. value: the field of a request value
            that keeps it otherwise (a forecast's ``until_done`` is ``ticks is None``).
        shared: where the flag that serves it is declared (``shared`` with ``flag`` None).
    """

    name: str
    kind: str
    help: str
    default: object = None
    lo: int = 0
    hi: int = 0
    choices: tuple[str, ...] = ()
    flag: str | None = ""
    metavar: str | None = None
    group: str | None = None
    shown_default: bool = False
    repeat: bool = False
    reads: str = ""
    texts: bool = False
    note: str = ""
    served: bool = True
    stored: bool = True
    value: Callable[[Any], object] | None = None
    shared: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"option {self.name}: kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.flag is None and not self.shared:
            raise ValueError(
                f"option {self.name}: without a flag of its own, say which flag serves it, or none (shared)"
            )

    @property
    def cli_flag(self) -> str:
        """The flag that sets it (``max_ticks`` -> ``--max-ticks``; a ``shared`` one's is named as the field)."""
        return "--" + (self.flag or self.name.replace("_", "-"))

    @property
    def dest(self) -> str:
        """Where argparse keeps the flag's value (``--arm`` -> ``arm``)."""
        return self.cli_flag.lstrip("-").replace("-", "_")

    def read(self, data: Mapping[str, object], hi: int | None = None) -> object:
        """The field in ``data`` (its default when not given), checked as its kind says; ``hi`` a bound lower
        than the option's (a live world's). A custom option's value as given.

        Raises:
            BadParameterError: one sentence naming the field and what it takes.
        """
        value = data.get(self.name, self.default)
        if value is None and self.texts:  # null is not given, as a plan file or a flag left out says it
            value = self.default
        if self.kind == "custom" or (value is None and self.default is None):
            return value
        if self.kind == "int" and self.texts:
            return bounded_int(value, self.name, self.lo, self.hi if hi is None else hi)
        if self.kind == "int":
            top = self.hi if hi is None else hi
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise BadParameterError(
                    f"{self.name} must be a whole number from {self.lo:,} to {top:,}, not {json_kind(value)}",
                    fields=self.name,
                )
            if not self.lo <= int(value) <= top:
                raise BadParameterError(
                    f"{self.name} must be from {self.lo:,} to {top:,}, not {int(value):,}", fields=self.name
                )
            return int(value)
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise BadParameterError(f"{self.name} must be true or false, not {json_kind(value)}", fields=self.name)
            return value
        if value not in self.choices:
            raise BadParameterError(
                f"{self.name} must be {', '.join(self.choices[:-1])} or {self.choices[-1]}, not {json_kind(value)}",
                fields=self.name,
            )
        return str(value)

    def schema(self, hi: int | None = None) -> dict[str, Any]:
        """Its JSON schema, as the OpenAPI description states it (3.0: ``nullable`` where it may be null); a
        custom option's is the request's to state (an empty schema here)."""
        out: dict[str, Any]
        if self.kind == "int":
            out = {"type": "integer", "minimum": self.lo, "maximum": self.hi if hi is None else hi}
        elif self.kind == "bool":
            out = {"type": "boolean"}
        elif self.kind == "choice":
            out = {"type": "string", "enum": list(self.choices)}
        else:
            return {}
        if self.default is None:
            out["nullable"] = True
        else:
            out["default"] = self.default
        out["description"] = self.help.replace("`", "")
        return out

    def of(self, request: object) -> object:
        """Its value in the request value ``request``."""
        if self.value is not None:
            return self.value(request)
        return getattr(request, self.name) if self.stored else None


@dataclass(frozen=True)
class Options:
    """A request's options, in the order its flags and fields are listed."""

    items: tuple[Option, ...]

    def __post_init__(self) -> None:
        names = [o.name for o in self.items]
        if len(set(names)) != len(names):
            raise ValueError(f"an option is declared twice: {names}")

    def __iter__(self) -> Iterator[Option]:
        return iter(self.items)

    def __getitem__(self, name: str) -> Option:
        for option in self.items:
            if option.name == name:
                return option
        raise KeyError(name)

    def __add__(self, more: tuple[Option, ...]) -> Options:
        return Options((*self.items, *more))

    @property
    def names(self) -> tuple[str, ...]:
        """The fields, in order (a request's ``FIELDS``)."""
        return tuple(o.name for o in self.items)

    @property
    def served(self) -> tuple[str, ...]:
        """The fields a live world's requests take."""
        return tuple(o.name for o in self.items if o.served)

    def help(self, name: str) -> str:
        """The command line's help of option ``name``: each field (or flag of the command) it names in backquotes
        spelled as its flag."""

        def flag(field: str) -> str:  # another option's, or a flag of the command's own (plot: --plot)
            return self[field].cli_flag if field in self.names else "--" + field.replace("_", "-")

        return re.sub(r"`(\w+)`", lambda m: flag(m.group(1)), self[name].help)

    def read(self, data: Mapping[str, object], bounds: Mapping[str, int] | None = None) -> dict[str, Any]:
        """Every plain field of ``data`` read and checked (its default where not given), by name; a custom one
        as given. ``bounds``: upper bounds lower than the options' (a live world's), by name.

        Raises:
            BadParameterError: an unknown field (naming the fields), or a field's value (one sentence naming it).
        """
        extra = sorted(set(data) - set(self.names))
        if extra:
            raise BadParameterError(f"unknown field {str(extra[0])[:60]!r}: the fields are {', '.join(self.names)}")
        bounds = bounds or {}
        return {o.name: o.read(data, bounds.get(o.name)) for o in self.items}

    def stored(self, values: Mapping[str, object]) -> dict[str, Any]:
        """The values a request value keeps in attributes of their names (its constructor's keywords)."""
        return {o.name: values[o.name] for o in self.items if o.stored}

    def fields_of(self, request: object) -> dict[str, object]:
        """The fields of ``request`` (a request value) that a parse of them gives back, those that are None left
        out (not given)."""
        values = {o.name: o.of(request) for o in self.items}
        return {k: v for k, v in values.items() if v is not None}

    def served_of(self, request: object) -> dict[str, object]:
        """What a live world's job says of ``request``: its served fields, None ones too."""
        return {o.name: o.of(request) for o in self.items if o.served}


__all__ = ["KINDS", "Option", "Options", "bounded_int", "json_kind"]
