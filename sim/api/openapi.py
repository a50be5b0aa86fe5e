"""The OpenAPI description of the API (``GET /api/v1/openapi.json``), made from the world it serves.

It states every rule the server checks that a JSON Schema can state: types, ranges, lengths, required
fields, unknown fields refused (``additionalProperties: false``), the grammar of seed selections and
interventions, each model's parameters, and what the world holds now (the range of its agent ids, how many
agents may be seeds, its communities, the columns that may be set). A request the description admits is
refused only for what no schema can say, and the description says what that is (a model's rule between two
of its parameters, such as ``gamma + mu <= 1``). It is made per request, from :class:`Served`: the world
changes (agents join, a snapshot replaces it).

OpenAPI 3.0 rather than 3.1: its JSON Schema (draft 4's ``integer``) holds ``835.0`` to be no integer, as
the server does, where 3.1's (2020-12) takes it for ``835``.

The bounds are read from where the server checks them (``sim.engine.requests``, ``sim.live.policy``,
``sim.model.intervene``, ``sim.engine.bounds``), so the description and the server cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim import __version__
from sim.core.arrays import one_of
from sim.core.topics import TOPICS
from sim.engine.bounds import MAX_ARMS
from sim.engine.requests import MAX_SEED_IDS, MAX_TEXT, Forecast
from sim.engine.requests.inject import RULE, can_decide_for, has_rule_model
from sim.live.estimates import Estimates
from sim.live.forecasts import Forecasts
from sim.live.policy import (
    INT64_MAX,
    INT64_MIN,
    MAX_ESTIMATE_STEPS,
    MAX_INTERVENTION,
    MAX_PAGE_SIZE,
    MAX_RATE,
    MIN_RATE,
    PAGE_SIZE,
    SNAPSHOT_NAME,
)
from sim.model.columns import ColumnSpec, settable_columns
from sim.model.intervene import EDGE_METHODS, TEXT_LIMIT
from sim.model.lifecycle import FROZEN
from sim.model.registry import PluginError, Registry
from sim.model.seeds import INT32_MAX, INT32_MIN, KINDS
from sim.plugin.params import Param
from sim.runs.llmestimate import ROUND_OVERHEAD

#: The most ticks one ``POST /api/v1/step`` takes (``WorldController.step`` checks it).
MAX_STEP = 10_000
#: Past this many communities, a seed selection's community and count are stated as ranges, not one by one.
LISTED_COMMUNITIES = 200
#: What Python's ``str.strip`` removes (a message whose text is only these has none).
_SPACES = "".join(c for c in map(chr, range(0x3001)) if c.isspace())
#: One character of white space, and one of something else (a text holding one has something to say).
BLANK = "[" + "".join(f"\\u{ord(c):04x}" for c in _SPACES) + "]"
HAS_TEXT = "[^" + BLANK[1:]


@dataclass(frozen=True)
class Served:
    """What the description says of the world it serves.

    Attributes:
        models: the parameters of each model that loaded (by name). methods: the seed methods quick enough
            for a request (``degree``, ``pagerank``, ...). agents: how many agents the world holds. eligible:
            how many of them may be seeds (joined, neither suspended nor deactivated). ids: ``(first, last)``
            when the original ids are exactly ``first`` to ``last`` (None otherwise: the description cannot
            list them). communities: how many eligible agents each community holds (community 0 first;
            empty when no analysis found any). columns: the per-agent columns that may be set. rules: the models
            that may decide for each model that hands decisions to a rule model (``rule``, the llm model's).
            grouped: whether any agent has a community (``remove-edges:F:between`` needs one; None: not known).
    """

    models: Mapping[str, Mapping[str, Param]]
    methods: tuple[str, ...]
    method_models: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    agents: int | None = None
    eligible: int | None = None
    ids: tuple[int, int] | None = None
    communities: tuple[int, ...] = ()
    columns: tuple[ColumnSpec, ...] = field(default_factory=tuple)
    rules: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    grouped: bool | None = None

    @classmethod
    def of(cls, registry: Registry, world: Any = None) -> Served:
        """The facts of ``world`` (None: none, only what the registry knows) and ``registry``'s plugins."""
        models: dict[str, Mapping[str, Param]] = {}
        classes = {}
        for info in registry.list("model"):
            try:
                classes[info.name] = registry.model(info.name)
            except PluginError:  # a model that cannot be loaded is refused (400): left out
                continue
            models[info.name] = dict(classes[info.name].params)
        rules = {
            name: tuple(other for other, rule in classes.items() if can_decide_for(rule, cls))
            for name, cls in classes.items()
            if has_rule_model(cls)
        }
        methods, method_models = [], {}
        for info in registry.list("seeder"):
            try:
                seeder = registry.seeder(info.name)
            except PluginError:
                continue
            if not seeder.expensive and info.name not in KINDS:
                methods.append(info.name)
                if seeder.models:
                    method_models[info.name] = tuple(seeder.models)
        columns = tuple(settable_columns(registry).values())
        if world is None:
            return cls(models, tuple(sorted(methods)), method_models, columns=columns, rules=rules)
        ids = np.asarray(world.columns["ids"])
        status = world.columns["status"]
        eligible = ~np.asarray(one_of(status, FROZEN), dtype=bool)
        contiguous = ids.size > 0 and int(ids[-1]) - int(ids[0]) == ids.size - 1
        comm = np.asarray(world.columns["community"])
        members = comm[eligible & (comm >= 0)]
        sizes = tuple(int(x) for x in np.bincount(members)) if members.size else ()
        return cls(
            models,
            tuple(sorted(methods)),
            method_models,
            agents=int(ids.size),
            eligible=int(np.count_nonzero(eligible)),
            ids=(int(ids[0]), int(ids[-1])) if contiguous else None,
            communities=sizes,
            columns=columns,
            rules=rules,
            grouped=bool(comm.size and int(comm.max()) >= 0),
        )


# -- patterns --------------------------------------------------------------------------------------------


def _span(a: str, b: str) -> str:
    """A pattern for the numerals from ``a`` to ``b``, both of one length (``a`` <= ``b``)."""
    if a == b:
        return a
    if len(a) == 1:
        return f"[{a}-{b}]"
    rest = len(a) - 1
    if a[0] == b[0]:
        return f"{a[0]}(?:{_span(a[1:], b[1:])})"
    out = []
    first, last = int(a[0]), int(b[0])
    if a[1:] != "0" * rest:
        out.append(f"{a[0]}(?:{_span(a[1:], '9' * rest)})")
        first += 1
    tail = None
    if b[1:] != "9" * rest:
        tail = f"{b[0]}(?:{_span('0' * rest, b[1:])})"
        last -= 1
    if first <= last:
        out.append(f"[{first}-{last}][0-9]{{{rest}}}")
    if tail:
        out.append(tail)
    return "|".join(out)


def numerals(lo: int, hi: int) -> str:
    """A pattern (no anchors) for the whole numbers from ``lo`` to ``hi`` written plainly (``0 <= lo``;
    no sign, no leading zero), e.g. ``numerals(1, 500)``."""
    out = []
    for length in range(len(str(lo)), len(str(hi)) + 1):
        a = max(lo, 10 ** (length - 1) if length > 1 else 0)
        b = min(hi, 10**length - 1)
        if a <= b:
            out.append(_span(str(a), str(b)))
    return "(?:" + "|".join(out) + ")"


def _agent_id(served: Served | None) -> str:
    """A pattern for one original agent id of the world."""
    if served is not None and served.ids is not None and served.ids[0] >= 0:
        return numerals(*served.ids)
    return "-?(?:0|[1-9][0-9]{0,18})"


def _alternatives(options: list[str]) -> str:
    return "(?:" + "|".join(options) + ")"


def methods_for(served: Served | None, model: str | None) -> tuple[str, ...]:
    """The quick seed methods a message of ``model`` may name (a method derived for some models only, such as
    degree-discount for ic, serves those; None: any model)."""
    if served is None:
        return ()
    return tuple(m for m in served.methods if model is None or model in served.method_models.get(m, (model,)))


def seeds_pattern(served: Served | None, *, nothing: bool = True, model: str | None = None) -> str:
    """A pattern (no anchors) for the seed selections a request may name in this world for a message of
    ``model`` (None: any): ``none`` (unless not ``nothing``), ``random:K``, ``top:K``, ``METHOD:K``,
    ``ids:a,b,c``, ``community:C:K`` (never ``file:``)."""
    options = ["none"] if nothing else []
    eligible = None if served is None else served.eligible
    count = "[1-9][0-9]{0,17}" if eligible is None else numerals(1, eligible) if eligible else None
    methods = methods_for(served, model)
    if count is not None:
        options.append(f"{_alternatives(['random', 'top', *(re.escape(m) for m in methods)])}:{count}")
    one = _agent_id(served)
    options.append(f"ids:{one}(?:,{one})*")
    if served is None or served.eligible is None:
        options.append("community:(?:0|[1-9][0-9]{0,9}):[1-9][0-9]{0,17}")
    elif len(served.communities) > LISTED_COMMUNITIES:
        options.append(f"community:{numerals(0, len(served.communities) - 1)}:{count}")
    else:
        options += [f"community:{c}:{numerals(1, n)}" for c, n in enumerate(served.communities) if n]
    return _alternatives(options)


def action_pattern(served: Served | None, *, tick: bool) -> str:
    """The interventions a request may schedule (``block:SEEDS``, ``counter:MODEL:SEEDS[:TEXT]``,
    ``remove-edges:FRACTION[:random|between]``), anchored; ``tick``: an optional ``TICK:`` first."""
    seeds = seeds_pattern(served)
    groups: dict[tuple[str, ...], list[str]] = {}  # models by the seed methods their counter-messages may name
    for name in sorted(served.models) if served is not None else []:
        groups.setdefault(methods_for(served, name), []).append(re.escape(name))
    text = f"(?::[^:]{{0,{TEXT_LIMIT}}})?"
    counters = [
        f"counter:{_alternatives(names)}:{seeds_pattern(served, nothing=False, model=names[0].replace(chr(92), ''))}"
        + text
        for names in groups.values()
    ] or [f"counter:[a-z][a-z0-9_-]*:{seeds_pattern(served, nothing=False)}{text}"]
    fraction = "(?:0?\\.[0-9]*[1-9][0-9]*|1(?:\\.0*)?)"
    # Edges between communities are cut only in a world that has some (else 400: run 'agora analyze' first).
    cuts = [m for m in EDGE_METHODS if m != "between" or served is None or served.grouped is not False]
    actions = _alternatives(
        [
            f"block:{seeds}",
            *counters,
            f"remove-edges:{fraction}(?::{_alternatives(cuts)})?",
        ]
    )
    prefix = f"(?:{numerals(0, INT32_MAX)}:)?" if tick else ""
    return f"^{prefix}{actions}$"


def snapshot_pattern() -> str:
    """A snapshot's name (``.snap`` may follow it), as :data:`sim.live.policy.SNAPSHOT_NAME` matches it."""
    return f"^{SNAPSHOT_NAME.pattern}(?:\\.snap)?$"


# -- schemas ---------------------------------------------------------------------------------------------


def _int(lo: int, hi: int, **extra: Any) -> dict[str, Any]:
    return {"type": "integer", "minimum": lo, "maximum": hi, **extra}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` or ``null`` (which the server takes as the field left out)."""
    return {**schema, "nullable": True}


def param_schema(param: Param) -> dict[str, Any]:
    """One model parameter as JSON takes it over the API (a number for ``float``, a whole number for
    ``int``, true or false for ``bool``, a string for ``str``)."""
    out: dict[str, Any]
    if param.type is bool:
        out = {"type": "boolean"}
    elif param.type is str:
        out = {"type": "string", "enum": list(param.choices)} if param.choices else {"type": "string"}
    else:
        whole = param.type is int
        out = {"type": "integer" if whole else "number"}
        for key, bound in (("minimum", param.min), ("maximum", param.max)):
            if bound is not None:
                out[key] = int(bound) if whole and float(bound).is_integer() else bound
    if param.help:
        out["description"] = param.help
    if param.default is not None and not (isinstance(param.default, float) and not np.isfinite(param.default)):
        out["default"] = param.default
    return out


def seeds_schema(served: Served | None, model: str | None = None) -> dict[str, Any]:
    """A seed selection for a message of ``model`` (None: any): its text, or a JSON list of the world's
    original agent ids."""
    item = _int(*served.ids) if served is not None and served.ids is not None else _int(INT64_MIN, INT64_MAX)
    return {
        "default": "random:10",
        "oneOf": [
            {
                "type": "string",
                "pattern": f"^{seeds_pattern(served, model=model)}$",
                "description": "random:K, top:K, ids:a,b,c, community:C:K, METHOD:K (a quick seed method) or "
                f"none; never a path; K at most the agents that may be seeds; at most {MAX_SEED_IDS:,} ids",
            },
            {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_SEED_IDS,
                "items": item,
                "description": "original agent ids of the world",
            },
        ],
    }


def seeds_component(served: Served | None, model: str | None) -> str:
    """The name of the description's seed selection for a message of ``model`` (``Seeds`` where it may name
    every quick method, ``Seeds.without.M`` where method M is derived for other models)."""
    left_out = sorted(set(served.methods) - set(methods_for(served, model))) if served is not None else []
    return ".".join(["Seeds", *(["without", *left_out] if left_out else [])])


def seeds_components(served: Served | None) -> dict[str, Any]:
    """Every seed selection a message's variant refers to, by :func:`seeds_component` name."""
    out = {"Seeds": seeds_schema(served)}
    for model in served.models if served is not None else ():
        name = seeds_component(served, model)
        if name not in out:
            out[name] = seeds_schema(served, model)
    return out


def _message_fields(served: Served | None, model: str | None = None) -> dict[str, Any]:
    """The fields of a message of ``model`` besides its name and parameters."""
    author = _int(*served.ids) if served is not None and served.ids is not None else _int(INT64_MIN, INT64_MAX)
    return {
        "text": _nullable(
            {
                "type": "string",
                "maxLength": MAX_TEXT,
                "description": "the message (kept literally); empty with an author: the author writes it",
            }
        ),
        "seeds": {"$ref": f"#/components/schemas/{seeds_component(served, model)}"},
        "topics": _nullable({"type": "array", "items": {"type": "string", "enum": list(TOPICS)}}),
        "author": _nullable({**author, "description": "the authoring agent's original id"}),
        "priority": _nullable(_int(INT32_MIN, INT32_MAX, default=0)),
    }


#: A message needs a text holding something besides white space, or an author who writes it (one or the other
#: of these, never both: a description's ``oneOf`` must be told exactly one way).
_TEXT_OR_AUTHOR = [
    {"required": ["text"], "properties": {"text": {"type": "string", "pattern": HAS_TEXT}}},
    {
        "required": ["author"],
        "properties": {
            "author": {"type": "integer"},
            "text": {"type": "string", "nullable": True, "pattern": f"^{BLANK}*$"},
        },
    },
]


def _asking_the_llm(served: Served | None) -> Served | None:
    """``served`` with only its models that have LLM agents (an ``llm_agents`` parameter): the messages an LLM cost
    estimate takes (another model's is refused: nothing would ask the LLM)."""
    if served is None:
        return None
    return dataclasses.replace(served, models={k: v for k, v in served.models.items() if "llm_agents" in v})


def message_schema(served: Served | None) -> dict[str, Any]:
    """``POST /api/v1/messages``: one variant per model (its name, its own parameters; ``ic``, the default, may
    go unnamed), each with a text or an author, seeds, topics and a priority."""
    models = served.models if served is not None else {}
    fields = _message_fields(served)
    if not models:
        return {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                **fields,
                "model": {"type": "string", "default": "ic"},
                "params": _nullable({"type": "object"}),
            },
            "anyOf": _TEXT_OR_AUTHOR,
        }
    variants = []
    for name, params in sorted(models.items()):
        fields = _message_fields(served, name)
        schemas = {k: param_schema(p) for k, p in params.items()}
        if served is not None and name in served.rules:  # a rule model this world's registry holds (else 400)
            schemas[RULE] = {**schemas[RULE], "enum": list(served.rules[name])}
        variant: dict[str, Any] = {
            "type": "object",
            "additionalProperties": False,
            "description": f"a message spread by {name}",
            "properties": {
                **fields,
                "model": {"type": "string", "enum": [name], **({"default": "ic"} if name == "ic" else {})},
                "params": _nullable(
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": schemas,
                    }
                ),
            },
            "anyOf": _TEXT_OR_AUTHOR,
        }
        if name != "ic":
            variant["required"] = ["model"]
        variants.append(variant)
    return {"oneOf": variants}


def estimate_body(served: Served | None) -> dict[str, Any]:
    """``POST /api/v1/llm/estimate`` and ``/llm/estimates``: ``steps`` and a message of a model with LLM agents."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["steps", "message"],
        "description": f"steps x rounds a tick x (agents + edges + {ROUND_OVERHEAD:,}) at most "
        f"{Estimates.MAX_WORK:,} (422 past it; a round is the tick's own, or a session it advances: the message's "
        "and the world's queued or running ones, at most 16)",
        "properties": {
            "steps": _int(1, MAX_ESTIMATE_STEPS),
            "message": message_schema(_asking_the_llm(served)),
        },
    }


def column_body(column: ColumnSpec | None, served: Served | None) -> dict[str, Any]:
    """``PUT /api/v1/columns/{name}``: every agent of the world once, each value in the column's range."""
    ids: dict[str, Any] = {
        "type": "array",
        "items": _int(INT64_MIN, INT64_MAX),
        "description": "original agent ids, every agent of the world once",
    }
    values: dict[str, Any] = {"type": "array", "items": {"type": "number"}, "description": "the value of each id"}
    if column is not None:
        values["items"] = {"type": "number", "minimum": column.min, "maximum": column.max}
    if served is not None and served.agents is not None:
        for part in (ids, values):
            part["minItems"] = part["maxItems"] = served.agents
        ids["uniqueItems"] = True
        if served.ids is not None:
            ids["items"] = _int(*served.ids)
    return {
        "type": "object",
        "required": ["ids", "values"],
        "additionalProperties": False,
        "properties": {"ids": ids, "values": values},
    }


#: An arm's name: letters, digits, '-' and '_', at least one letter or digit, at most 40 characters.
ARM_NAME = "(?:" + "|".join(f"[-_]{{{p}}}[^\\W_][\\w-]{{0,{39 - p}}}" for p in range(40)) + ")"


def arm_action_pattern(served: Served | None) -> str:
    """An arm's action (no anchors): ``none``, ``set:NAME=VALUE`` (a parameter of the session's model) or an
    intervention without its tick."""
    name = f"[^=]*{HAS_TEXT[:-1]}=][^=]*"  # something besides white space, and no '='
    value = f"[\\s\\S]*{HAS_TEXT}[\\s\\S]*"
    return _alternatives(["none", f"set:{name}={value}", action_pattern(served, tick=False)[1:-1]])


def forecast_schema(served: Served | None) -> dict[str, Any]:
    """``POST /api/v1/forecasts``: what ``sim.engine.requests.Forecast.parse`` takes from a live world, its bounds
    read from :mod:`sim.engine.bounds` (its runs bound: ``sim.live.forecasts.Forecasts.MAX_RUNS``)."""
    action = {"type": "string", "pattern": f"^{arm_action_pattern(served)}$"}
    arms = _nullable(
        {
            "description": '{"none": [], "block": ["block:degree:100"]} or ["block=block:degree:100"] (at most '
            f"{MAX_ARMS} arms; a name given again in the list adds an action to its arm)",
            "oneOf": [
                {
                    "type": "object",
                    "maxProperties": MAX_ARMS,
                    "additionalProperties": False,
                    "patternProperties": {f"^{ARM_NAME}$": {"type": "array", "items": action}},
                },
                {"type": "array", "items": {"type": "string", "pattern": f"^{ARM_NAME}={arm_action_pattern(served)}$"}},
            ],
        }
    )
    options = Forecast.OPTIONS
    properties = {name: options[name].schema() for name in options.served}
    properties.update(runs=options["runs"].schema(hi=Forecasts.MAX_RUNS), arms=arms)
    return {
        "type": "object",
        "additionalProperties": False,
        "description": f"runs x arms x horizon (ticks, or max_ticks until done) at most {Forecasts.MAX_WORK:,} "
        "(422 past it)",
        "properties": properties,
        "oneOf": [
            {
                "description": "a horizon in ticks",
                "required": ["ticks"],
                "properties": {"ticks": {"type": "integer"}, "until_done": {"type": "boolean", "enum": [False]}},
            },
            {
                "description": "until the session ends",
                "required": ["until_done"],
                "properties": {
                    "until_done": {"type": "boolean", "enum": [True]},
                    "ticks": {"type": "integer", "nullable": True, "enum": [None]},
                },
            },
        ],
    }


# -- the document ----------------------------------------------------------------------------------------

_ERROR_SCHEMA = {"$ref": "#/components/schemas/Error"}
_REASONS = {
    "400": "the request is malformed or a value is out of range (one sentence naming it)",
    "401": "no valid bearer token",
    "403": "a read-only token asking to change something, or a Host header that is not this server's",
    "404": "no such id or name",
    "408": "the body did not arrive within the request's deadline",
    "409": "what the world's current state forbids",
    "415": "a body that is not declared application/json",
    "422": "values each valid that break a rule between them or with the world as it is (one sentence naming it)",
    "503": "a request past its deadline (its work goes on), a full disk, or a failed checkpoint",
}


def _error(code: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "description": _REASONS[code],
        "content": {"application/json": {"schema": _ERROR_SCHEMA}},
    }
    if code == "401":
        out["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}, "description": 'Bearer realm="agora"'}}
    return out


def _json(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema or {"type": "object"}}}}


def _op(
    summary: str,
    ok: dict[str, Any],
    *,
    code: str = "200",
    body: dict[str, Any] | None = None,
    body_required: bool = True,
    errors: tuple[str, ...] = (),
    params: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One operation: every route may answer 401, 403 and 503; one with a body 400, 408 and 415 too."""
    codes = {"401", "403", "503", *errors}
    if body is not None:
        codes |= {"400", "408", "415"}
    op: dict[str, Any] = {"summary": summary, "responses": {code: ok, **{c: _error(c) for c in sorted(codes)}}}
    if body is not None:
        op["requestBody"] = {"required": body_required, "content": {"application/json": {"schema": body}}}
    if params:
        op["parameters"] = params
    return op


def _job_answer(description: str, route: str) -> dict[str, Any]:
    """A job's 202: the job (its ``id``), its route in ``Location``, and links to follow it (``GET``) and cancel it
    (``DELETE``) by the id the answer gives."""
    ref = "#/paths/" + route.replace("~", "~0").replace("/", "~1")
    follow = {"parameters": {"id": "$response.body#/id"}}
    return {
        **_json(
            description,
            {"type": "object", "required": ["id", "state"], "properties": {"id": {"type": "string"}}},
        ),
        "headers": {"Location": {"schema": {"type": "string"}, "description": "the job's own route"}},
        "links": {
            "Follow": {"operationRef": f"{ref}/get", **follow, "description": "the job, its state and its result"},
            "Cancel": {"operationRef": f"{ref}/delete", **follow, "description": "cancel it, or forget it"},
        },
    }


def _path_param(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema, "description": description}


def _on_one(
    summary: str,
    ok: dict[str, Any],
    param: dict[str, Any],
    *,
    body: dict[str, Any] | None = None,
    body_required: bool = True,
) -> dict[str, Any]:
    """An operation (:func:`_op`) on the one thing the path parameter ``param`` names: 404 where there is none."""
    return _op(summary, ok, body=body, body_required=body_required, errors=("404",), params=[param])


def _page_params() -> list[dict[str, Any]]:
    """``limit`` and ``offset`` of a paged GET."""
    return [
        {"name": "limit", "in": "query", "required": False, "schema": _int(1, MAX_PAGE_SIZE, default=PAGE_SIZE)},
        {"name": "offset", "in": "query", "required": False, "schema": _int(0, INT64_MAX, default=0)},
    ]


def _page(items: str, what: str) -> dict[str, Any]:
    """A page of ``items``: the items, ``total``, ``offset``, ``limit`` and ``next_offset``."""
    return _json(
        f"a page: {items}, total, offset, limit, next_offset (null on the last page)",
        {
            "type": "object",
            "required": [items, "total", "offset", "limit", "next_offset"],
            "properties": {
                items: {"type": "array", "items": {"type": "object"}, "description": what},
                "total": {"type": "integer", "description": f"how many {items} there are in all"},
                "offset": {"type": "integer"},
                "limit": {"type": "integer"},
                "next_offset": {"type": "integer", "nullable": True, "description": "the offset of the next page"},
            },
        },
    )


_EMPTY = {"type": "object", "additionalProperties": False, "properties": {}, "description": "no fields ({})"}


def _column_paths(served: Served | None) -> dict[str, Any]:
    """One path per column that may be set: the values' range is the column's own."""
    columns = served.columns if served is not None and served.columns else ()
    paths: dict[str, Any] = {}
    for column in columns:
        paths[f"/api/v1/columns/{column.name}"] = {
            "put": _op(
                f"Set the column {column.name} from data (agora set): every agent of the world exactly once, each "
                f"value from {column.min:g} to {column.max:g}, or nothing changes"
                + (". Its models' variable starts from it in sessions injected later" if column.models else ""),
                _json(
                    "what was set: column, kind, models, agents, mean, min, max, sha256 (of the values in agent order)"
                ),
                body=column_body(column, served),
                errors=("404",),
            ),
        }
        if not column.builtin:  # a built-in column is set, never removed (405)
            paths[f"/api/v1/columns/{column.name}"]["delete"] = _op(
                f"Remove the data column {column.name} (its models draw their variable again); 404 when the world "
                "does not hold it",
                _json("the column removed: column, cleared"),
                errors=("404",),
            )
    if not paths:
        paths["/api/v1/columns/{name}"] = {
            "put": _on_one(
                "Set a per-agent column from data (agora set): every agent of the world exactly once",
                _json("what was set"),
                _path_param("name", {"type": "string"}, "the column (GET /api/v1/columns)"),
                body=column_body(None, served),
            ),
            "delete": _on_one(
                "Remove a data column",
                _json("the column removed"),
                _path_param("name", {"type": "string"}, "a data column the world holds"),
            ),
        }
    return paths


def spec(served: Served | None = None) -> dict[str, Any]:
    """The OpenAPI document of a server whose world and plugins ``served`` describes (None: the built-in
    plugins, and nothing of a world)."""
    served = served if served is not None else Served.of(Registry())
    changing = ("409",)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Agora management API",
            "version": __version__,
            "description": "Drive a running Agora world: inject messages, step, run and pause it, read its "
            "sessions, agents and communities, save and load snapshots, and follow its live "
            "events (Server-Sent Events at /api/v1/events, or a WebSocket at /api/v1/live with the "
            "same events as JSON messages; a browser offers its token there as the subprotocol "
            "agora.bearer.<unpadded base64url> beside agora.v1). Every route needs a bearer token "
            "(a server always has one); read-only tokens may only GET. Bodies are application/json; "
            "the Host header must be a loopback name or one the server allows; no request names a "
            "path on the server; a request past the server's deadline answers 503 while its work "
            "goes on, and so does every change while the world file's last checkpoint failed. A "
            "connection whose request headers do not arrive within --header-timeout is answered 408 "
            "and closed; past --max-connections open connections a new one is answered 503. This description "
            "is made from the world as it is when asked: its models and their parameters, the range of its "
            "agent ids, how many agents may be seeds, its communities and the columns that may be set. Beyond "
            "it, a model may refuse parameters that contradict each other (sird: gamma + mu <= 1; "
            "cognitive-opinion: each *_range_min <= its *_range_max; utldr: lockdown_end after lockdown; "
            "majority-rule: q at most 64 with schedule sequential; llm: rule_params must be parameters of its "
            "rule model, in their ranges), a forecast may ask for more work than the server allows (runs x arms "
            f"x horizon at most {Forecasts.MAX_WORK:,}), and so may an LLM estimate (steps x rounds a tick x "
            f"(agents + edges + {ROUND_OVERHEAD:,}) at most {Estimates.MAX_WORK:,}): each is answered 422 with one "
            "sentence. Any other refusal of a request this description admits is a 404 (no such id), "
            "a 409 (what the world's state forbids) or a 503.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                **seeds_components(served),
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string", "description": "one sentence"}},
                },
            },
        },
        "paths": {
            "/api/v1/world": {
                "get": _op(
                    "The world: agents, edges, tick, state, sessions, living-network settings", _json("the world")
                )
            },
            "/api/v1/messages": {
                "post": _op(
                    "Inject a message; its propagation session is queued (409 when the world holds --max-messages "
                    "messages)",
                    _json(
                        "the session",
                        {
                            "type": "object",
                            "required": ["session", "message", "status"],
                            "properties": {
                                "session": {"type": "integer"},
                                "message": {"type": "integer"},
                                "status": {"type": "string"},
                            },
                        },
                    ),
                    code="201",
                    body=message_schema(served),
                    errors=("409", "422"),
                )
            },
            "/api/v1/llm/estimate": {
                "post": _op(
                    "What injecting a message and running steps ticks would cost in LLM calls, tokens in and out, "
                    "dollars and wall time: a dry run on a copy of the world, run as a job (/api/v1/llm/estimates) "
                    "this call waits for; nothing changes and the world goes on meanwhile. The job is cancelled when "
                    "the client goes away; past the request's deadline the answer is 503 naming the job, which goes "
                    "on. 400 when the message's model has no LLM agents, 409 when 2 estimates run already or this "
                    "one was cancelled, 422 past the work bound",
                    _json("the estimate: model, calls, tokens_in, tokens_out, cost_usd, seconds, kinds, notes, ..."),
                    body=estimate_body(served),
                    errors=("409", "422"),
                )
            },
            "/api/v1/llm/estimates": {
                "get": _op(
                    "The estimates kept (running ones and the last 32 finished), oldest first, without results",
                    _json("estimates: a list of {id, state, progress, error, request, work}"),
                ),
                "post": _op(
                    "Start an estimate (as POST /api/v1/llm/estimate) in the background: a dry run on a copy of the "
                    "world taken now; 400 when the message's model has no LLM agents, 409 when 2 run already, 422 "
                    "past the work bound",
                    _job_answer(
                        "the job: id, state (running), progress, error, result (null), request, work",
                        "/api/v1/llm/estimates/{id}",
                    ),
                    code="202",
                    body=estimate_body(served),
                    errors=("409", "422"),
                ),
            },
            "/api/v1/llm/estimates/{id}": {
                "get": _on_one(
                    "One estimate: its state (running, done, failed, cancelled) and progress, and its result once "
                    "done (as POST /api/v1/llm/estimate answers it)",
                    _json("the job"),
                    _path_param("id", {"type": "string"}, "the estimate's id"),
                ),
                "delete": _on_one(
                    "Cancel a running estimate (its dry run stops before its next tick) or forget a finished one: "
                    "the job as it ends, then 404",
                    _json("the job"),
                    _path_param("id", {"type": "string"}, "the estimate's id"),
                ),
            },
            "/api/v1/interventions": {
                "get": _op(
                    "The world's interventions, pending and applied, a page at a time in the order given (a block "
                    "lists how many agents it chose; a counter-message skipped at its tick says why in skipped)",
                    _page("interventions", "{at, action, spec, applied, ...}"),
                    errors=("400",),
                    params=_page_params(),
                ),
                "post": _op(
                    "Schedule an intervention: ACTION at the start of the next tick, or TICK:ACTION that many ticks "
                    "from now (block:SEEDS, counter:MODEL:SEEDS[:TEXT], remove-edges:FRACTION[:random|between]); "
                    "409 when the world holds --max-interventions interventions, or a counter-message would pass "
                    "--max-messages with those pending",
                    _json("the intervention: at, action, spec, applied (false until its tick)"),
                    code="201",
                    body={
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["action"],
                        "properties": {
                            "action": {
                                "type": "string",
                                "maxLength": MAX_INTERVENTION,
                                "pattern": action_pattern(served, tick=True),
                            }
                        },
                    },
                    errors=changing,
                ),
            },
            "/api/v1/step": {
                "post": _op(
                    f"Advance the paused world by ticks (default 1, at most {MAX_STEP:,}); 409 while it runs",
                    _json("the new tick"),
                    errors=changing,
                    body={
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {"ticks": _int(1, MAX_STEP, default=1)},
                    },
                    body_required=False,
                )
            },
            "/api/v1/run": {
                "post": _op(
                    "Run the world (as fast as possible, or at ticks_per_second); the body may be left out",
                    _json("running"),
                    body={
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "ticks_per_second": _nullable(
                                {
                                    "type": "number",
                                    "minimum": MIN_RATE,
                                    "maximum": MAX_RATE,
                                    "description": f"ticks a second, from {MIN_RATE:g} to {MAX_RATE:,.0f} (null: as "
                                    "fast as possible)",
                                }
                            )
                        },
                    },
                    body_required=False,
                )
            },
            "/api/v1/pause": {
                "post": _op(
                    "Pause after the tick under way; the world is checkpointed",
                    _json("paused"),
                    body=_EMPTY,
                    body_required=False,
                )
            },
            "/api/v1/sessions": {
                "get": _op(
                    "The propagation sessions, a page at a time (oldest first)",
                    _page("sessions", "one record per session"),
                    errors=("400",),
                    params=_page_params(),
                )
            },
            "/api/v1/sessions/{id}": {
                "get": _on_one(
                    "One session: status, reach, its per-state series and its cascade (size, depth, breadth, "
                    "structural virality)",
                    _json("the session"),
                    _path_param("id", {"type": "integer"}, "session id"),
                )
            },
            "/api/v1/agents/{id}": {
                "get": _on_one(
                    "One agent, by original id",
                    _json("the agent"),
                    _path_param("id", {"type": "integer"}, "the agent's original id"),
                )
            },
            "/api/v1/communities": {
                "get": _op("The communities of the last analysis (agora analyze)", _json("communities"))
            },
            "/api/v1/snapshots": {
                "get": _op("The snapshots in the server's snapshot folder", _json("snapshots")),
                "post": _op(
                    "Save the world as a snapshot (one of that name is replaced)",
                    _json("saved"),
                    code="201",
                    body={
                        "type": "object",
                        "required": ["name"],
                        "additionalProperties": False,
                        "properties": {"name": {"type": "string", "pattern": snapshot_pattern()}},
                    },
                ),
            },
            "/api/v1/snapshots/{name}/load": {
                "post": _on_one(
                    "Replace the world by a snapshot (the run goes on if it was running)",
                    _json("loaded"),
                    _path_param("name", {"type": "string", "pattern": snapshot_pattern()}, "a snapshot's name"),
                    body=_EMPTY,
                    body_required=False,
                )
            },
            "/api/v1/forecasts": {
                "get": _op(
                    "The forecasts kept (running ones and the last 32 finished), oldest first, without results",
                    _json("forecasts: a list of {id, state, branched_at, progress, error, request}"),
                ),
                "post": _op(
                    "Branch the present of a running session and continue it runs times under each arm, in the "
                    "background (the world is not changed and may run on); 404 when there is no such running "
                    "session, 409 when 2 forecasts run already",
                    _job_answer(
                        "the job: id, state (running), branched_at, progress, error, result (null), request",
                        "/api/v1/forecasts/{id}",
                    ),
                    code="202",
                    body=forecast_schema(served),
                    errors=("404", "409", "422"),
                ),
            },
            "/api/v1/forecasts/{id}": {
                "get": _on_one(
                    "One forecast: its state and progress, and its result once done (per arm reached {median, "
                    "mean, ci90}, series, cascade, paired)",
                    _json("the job"),
                    _path_param("id", {"type": "string"}, "the forecast's id"),
                ),
                "delete": _on_one(
                    "Cancel a running forecast (its worker processes are ended) or forget a finished one: the job "
                    "as it ends, then 404",
                    _json("the job"),
                    _path_param("id", {"type": "string"}, "the forecast's id"),
                ),
            },
            "/api/v1/columns": {
                "get": _op(
                    "The per-agent columns that may be set from data: name, min, max, kind (built-in or data), the "
                    "models that start from it, and whether the world holds it",
                    _json("columns: a list of {name, min, max, kind, models, set}"),
                )
            },
            **_column_paths(served),
            "/api/v1/events": {
                "get": {
                    "summary": "Live events (Server-Sent Events): hello, tick, message, session_started, "
                    "session_finished, recommender_failed, forecast, state, load, "
                    "checkpoint_failed, checkpoint_recovered",
                    "responses": {
                        "200": {"description": "an event stream", "content": {"text/event-stream": {}}},
                        **{c: _error(c) for c in ("401", "403", "503")},
                    },
                }
            },
            "/api/v1/openapi.json": {"get": _op("This description", _json("OpenAPI 3.0"))},
        },
    }
