"""A new world (``NewWorld``: ``agora new``, ``sim.new_world``): its source and options, and the rules between them,
written once for both doors (issue 74; before, ``sim/cli/world.py`` and ``sim/lab/world.py`` each wrote them).

A world comes from one source: a synthetic graph (``agents``), an imported edge list (``edges``, one file) or a
table of people (``people``, with its ``id`` column and contact layers: ``groups``, ``near`` and layered
``edges``). The request checks which options go with which source, and each number's range.

Each sentence names the fields as the front end spells them (``spell``): the command line passes its flags
(``--group``), Python its keywords (the field's name). No sentence here spells a flag itself.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

from sim.errors import BadParameterError

#: The synthetic graphs (``graph``): planted communities (the default), a stochastic block model,
#: Barabási–Albert and Erdős–Rényi.
GRAPHS = ("community", "ba", "er", "sbm")
#: The options that shape a synthetic world, which an edge list or a table of people does not take.
SYNTHETIC = ("graph", "avg_degree", "communities", "mixing")
#: The options of a table of people only.
PEOPLE_ONLY = ("id", "groups", "skip", "near")

Spell = Callable[[str], str]


def _same(name: str) -> str:
    return name


#: A tick's minutes in a world made from a table of people (a day: the unit of its contacts' epidemics, of
#: line lists and incidence curves), and in any other (10 minutes: a social network's hourly activity).
PEOPLE_MINUTES = 24 * 60
DEFAULT_MINUTES = 10


@dataclass(frozen=True)
class NewWorld:
    """A new world's source and options (every one optional but the source).

    Attributes:
        agents: a synthetic world of that many agents. edges: ``(file, layer)`` pairs: one file without a layer
            (an edge list imported as it is), or a table of people's contact layers (each file with its layer).
        people: a table of people (a path, or a pandas DataFrame), one agent per row. graph, avg_degree,
            communities, mixing: a synthetic graph's shape (None: its default). directed: an imported edge
            list's lines kept as given. id: the people's id column (default ``id``). groups, skip, near: a
            table of people's contact layers (``COLUMN[:LAYER][:max=K]``, values of a group column that link
            nobody, ``X,Y:R[:LAYER]``). seed: everything random. name: the world's name (default: the file's).
            minutes_per_tick: a tick's length (None: :data:`PEOPLE_MINUTES`, a day, for a world of people, whose
            contacts and epidemics are counted in days; :data:`DEFAULT_MINUTES` otherwise). reserve: the share
            of agents created but not joined yet.
            social: the living-network settings. force: overwrite the file. encrypt: write it encrypted.
    """

    agents: int | None = None
    edges: tuple[tuple[str, str | None], ...] = ()
    people: Any = None
    graph: str | None = None
    avg_degree: float | None = None
    communities: int | None = None
    mixing: float | None = None
    directed: bool = False
    id: str | None = None
    groups: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    near: tuple[str, ...] = ()
    seed: int = 0
    name: str | None = None
    minutes_per_tick: int | None = None
    reserve: float = 0.0
    social: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))
    force: bool = False
    encrypt: bool = False

    FIELDS: ClassVar[tuple[str, ...]] = (
        "agents",
        "edges",
        "people",
        "graph",
        "avg_degree",
        "communities",
        "mixing",
        "directed",
        "id",
        "groups",
        "skip",
        "near",
        "seed",
        "name",
        "minutes_per_tick",
        "reserve",
        "social",
        "force",
        "encrypt",
    )

    @property
    def tick_minutes(self) -> int:
        """A tick's length in minutes: as given, else a day for a world of people, else 10 minutes."""
        if self.minutes_per_tick is not None:
            return self.minutes_per_tick
        return PEOPLE_MINUTES if self.source == "people" else DEFAULT_MINUTES

    @property
    def source(self) -> str:
        """Where its agents come from: ``people``, ``edges`` or ``agents``."""
        return "people" if self.people is not None else "edges" if self.edges else "agents"

    @property
    def shape(self) -> dict[str, Any]:
        """A synthetic world's graph, its defaults filled in (``community``, mean degree 10, mixing 0.2)."""
        return {
            "graph": self.graph or "community",
            "avg_degree": 10.0 if self.avg_degree is None else float(self.avg_degree),
            "communities": self.communities,
            "mixing": 0.2 if self.mixing is None else float(self.mixing),
        }

    @classmethod
    def parse(cls, data: Mapping[str, object], spell: Spell = _same) -> NewWorld:
        """The new world ``data`` asks for (the keys of :attr:`FIELDS`), its rules checked; ``spell`` names a
        field as the front end does (the command line: its flag).

        Raises:
            BadParameterError: an unknown field, a number out of range, an option its source does not take, or
                no source (one sentence naming the fields).
        """
        extra = sorted(set(data) - set(cls.FIELDS))
        if extra:
            raise BadParameterError(f"unknown field {str(extra[0])[:60]!r}: the fields are {', '.join(cls.FIELDS)}")
        s = spell
        values = {k: v for k, v in data.items() if v is not None}
        for key in ("groups", "skip", "near"):
            if isinstance(values.get(key), str):
                raise BadParameterError(f"{s(key)} is a list (of texts): write {key}=[{values[key]!r}]", fields=key)
        edges = _edge_pairs(values.get("edges"), s)
        people = values.get("people")
        agents = values.get("agents")
        if people is None:
            _refuse_people_options(values, edges, s)
        elif any(layer is None for _, layer in edges):
            raise BadParameterError(
                f'{s("edges")} is a list of (file, layer) pairs: write edges=[("contacts.csv", "friends")]',
                fields="edges",
            )
        if agents is None and not edges and people is None:
            raise BadParameterError(
                f"a new world needs its source: give {s('agents')} N (a synthetic world), {s('edges')} FILE (an edge "
                f"list) or {s('people')} FILE (a table of people)",
                fields=("agents", "edges", "people"),
            )
        if agents is not None and edges and people is None:
            raise BadParameterError(
                f"{s('edges')} is not allowed with {s('agents')}: import an edge list ({s('edges')} FILE) or make a "
                f"synthetic world ({s('agents')} N), not both",
                fields=("edges", "agents"),
            )
        if people is not None and values.get("directed"):
            raise BadParameterError(
                f"{s('directed')} is for an {s('edges')} file imported alone; with {s('people')}, {s('groups')} and "
                f"{s('near')} link people both ways and an {s('edges')} layer keeps its lines as given: drop "
                f"{s('directed')}",
                fields=("directed", "edges", "people", "groups", "near"),
            )
        if values.get("skip") and not values.get("groups"):
            raise BadParameterError(
                f"{s('skip')} leaves a value out of the {s('groups')} layers: give {s('groups')} COLUMN, or drop it",
                fields=("skip", "groups"),
            )
        _refuse_shape(values, edges, people is not None, s)
        return cls(
            agents=None if agents is None else _whole(agents, "agents", 1, s),
            edges=edges,
            people=people,
            graph=values.get("graph"),  # type: ignore[arg-type]
            avg_degree=_number(values.get("avg_degree"), "avg_degree", math.inf, s, " (the mean neighbours)"),
            communities=None if "communities" not in values else _whole(values["communities"], "communities", 1, s),
            mixing=_number(values.get("mixing"), "mixing", 1.0, s),
            directed=bool(values.get("directed", False)),
            id=values.get("id"),  # type: ignore[arg-type]
            groups=_texts(values.get("groups")),
            skip=tuple(str(v) for v in _texts(values.get("skip"), any_value=True)),
            near=_texts(values.get("near")),
            seed=int(values.get("seed", 0)),  # type: ignore[call-overload]
            name=values.get("name"),  # type: ignore[arg-type]
            minutes_per_tick=None
            if values.get("minutes_per_tick") is None
            else _whole(values["minutes_per_tick"], "minutes_per_tick", 1, s),
            reserve=_number(values.get("reserve", 0.0), "reserve", 1.0, s) or 0.0,
            social=MappingProxyType(dict(values.get("social") or {})),  # type: ignore[call-overload]
            force=bool(values.get("force", False)),
            encrypt=bool(values.get("encrypt", False)),
        )


def _refuse_people_options(values: Mapping[str, object], edges: tuple[tuple[str, str | None], ...], s: Spell) -> None:
    """Without a table of people: its options refused, and one edge list at most, imported as it is."""
    for key in PEOPLE_ONLY:
        if values.get(key):
            raise BadParameterError(
                f"{s(key)} describes a table of people: give {s('people')} FILE, or drop {s(key)}",
                fields=(key, "people"),
            )
    if any(layer is not None for _, layer in edges):  # contact layers: a table of people's
        raise BadParameterError(
            f"{s('edges')} describes a table of people: give {s('people')} FILE, or import the edge list alone",
            fields=("edges", "people"),
        )
    if len(edges) > 1:
        raise BadParameterError(
            f"{s('edges')} is given {len(edges)} times, and a world imports one edge list: give one {s('edges')} "
            f"FILE, or several as the layers of a table of people ({s('people')} FILE)",
            fields=("edges", "people"),
        )


def _refuse_shape(
    values: Mapping[str, object], edges: tuple[tuple[str, str | None], ...], people: bool, s: Spell
) -> None:
    """A synthetic graph's options refused where the world does not make one, and where its graph plants none."""
    if edges or people:
        source = f"{s('people')} builds one from a table" if people else f"{s('edges')} imports one as it is"
        other = s("people") if people else s("edges")
        for key in ("agents", *SYNTHETIC) if people else SYNTHETIC:
            if values.get(key) is not None:
                instead = "" if key == "agents" else f", or give {s('agents')} N instead of {other}"
                raise BadParameterError(
                    f"{s(key)} shapes a synthetic world and {source}: drop {s(key)}{instead}",
                    fields=(key, "people" if people else "edges", "agents"),
                )
        return
    if values.get("directed"):
        raise BadParameterError(
            f"{s('directed')} keeps the lines of an {s('edges')} file as given, and synthetic graphs are undirected: "
            f"drop {s('directed')}, or import a file with {s('edges')} FILE",
            fields=("directed", "edges"),
        )
    graph = values.get("graph", "community")
    if graph not in GRAPHS:
        raise BadParameterError(
            f"{s('graph')} must be one of {', '.join(GRAPHS)}, not {str(graph)[:30]!r}", fields="graph"
        )
    if graph in ("ba", "er"):
        for key in ("communities", "mixing"):
            if values.get(key) is not None:
                raise BadParameterError(
                    f"{s(key)} applies to the community and sbm graphs, and {graph} plants no communities: drop "
                    f"{s(key)}, or choose {s('graph')} community or sbm",
                    fields=(key, "graph"),
                )


def _edge_pairs(edges: object, s: Spell) -> tuple[tuple[str, str | None], ...]:
    """``edges`` as ``(file, layer)`` pairs: a file alone (an edge list imported as it is) or pairs.

    Raises:
        BadParameterError: not a file nor a list of (file, layer name) pairs.
    """
    if edges is None:
        return ()
    if isinstance(edges, str | os.PathLike):
        return ((os.fspath(edges), None),)
    pairs = [edges] if isinstance(edges, tuple) and len(edges) == 2 and isinstance(edges[1], str) else edges
    if isinstance(pairs, bytes) or not isinstance(pairs, Iterable):
        raise BadParameterError(
            f'{s("edges")} is a list of (file, layer) pairs: write edges=[("contacts.csv", "friends")]', fields="edges"
        )
    out: list[tuple[str, str | None]] = []
    for pair in pairs:
        if not (isinstance(pair, tuple | list) and len(pair) == 2 and isinstance(pair[0], str | os.PathLike)):
            raise BadParameterError(
                f'{s("edges")} is a list of (file, layer) pairs: write edges=[("contacts.csv", "friends")]',
                fields="edges",
            )
        if pair[1] is not None and not isinstance(pair[1], str):
            raise BadParameterError(
                f'{s("edges")}: each file\'s layer is a name (a text), as in ("contacts.csv", "friends")',
                fields="edges",
            )
        out.append((os.fspath(pair[0]), pair[1]))
    return tuple(out)


def _texts(value: object, *, any_value: bool = False) -> tuple[Any, ...]:
    if value is None:
        return ()
    items = tuple(value) if isinstance(value, Iterable) else (value,)
    return items if any_value else tuple(str(v) for v in items)


def _whole(value: object, what: str, least: int, s: Spell) -> int:
    """A whole number of at least ``least`` (a bool is none, nor a float or a text)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise BadParameterError(
            f"{s(what)} must be a whole number of at least {least:,}, got {str(value)[:30]}", fields=what
        )
    return value


def _number(value: object, what: str, most: float, s: Spell, note: str = "") -> float | None:
    """A finite number from 0 to ``most`` (None: not given); ``note`` what it is, after the range."""
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not (0 <= value <= most and math.isfinite(value))
    ):
        give = ("a number from 0 to 1" if most == 1.0 else "a finite number of zero or more") + note
        raise BadParameterError(f"{s(what)} {str(value)[:30]!r} is invalid: give {give}", fields=what)
    return float(value)


__all__ = ["GRAPHS", "PEOPLE_ONLY", "SYNTHETIC", "NewWorld"]
