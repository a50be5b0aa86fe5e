"""The OpenAPI 3.1 description of the API (``GET /api/v1/openapi.json``)."""

from __future__ import annotations

from typing import Any

from sim import __version__

_ERROR = {
    "description": "one sentence saying what is wrong and what to do",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def _json(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema or {"type": "object"}}}}


def _op(
    summary: str,
    ok: dict[str, Any],
    *,
    code: str = "200",
    body: dict[str, Any] | None = None,
    errors: tuple[str, ...] = ("401",),
    params: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {code: ok, **{e: _ERROR for e in errors}}}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if params:
        op["parameters"] = params
    return op


def _path_param(name: str, kind: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": kind}, "description": description}


def _page_params() -> list[dict[str, Any]]:
    """``limit`` and ``offset`` of a paged GET."""
    return [
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
        },
        {
            "name": "offset",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 0, "default": 0},
        },
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
                "next_offset": {"type": ["integer", "null"], "description": "the offset of the next page"},
            },
        },
    )


def spec() -> dict[str, Any]:
    """The OpenAPI document."""
    changing = ("400", "401", "403", "415", "503")
    message = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "text": {
                "type": "string",
                "maxLength": 10000,
                "description": "the message (kept literally); empty with an author: the author writes it",
            },
            "model": {"type": "string", "default": "ic", "description": "propagation model (see agora plugins list)"},
            "params": {"type": "object", "description": "the model's parameters, validated against its schema"},
            "seeds": {
                "default": "random:10",
                "oneOf": [
                    {
                        "type": "string",
                        "description": "random:K, top:K, ids:a,b,c, community:C:K, METHOD:K or none (never a path)",
                    },
                    {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 100000,
                        "items": {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1},
                        "description": "original agent ids",
                    },
                ],
            },
            "topics": {"type": "array", "items": {"type": "string"}},
            "author": {
                "type": "integer",
                "minimum": -(2**63),
                "maximum": 2**63 - 1,
                "description": "the authoring agent's original id",
            },
            "priority": {"type": "integer", "default": 0, "minimum": -(2**31), "maximum": 2**31 - 1},
        },
    }
    return {
        "openapi": "3.1.0",
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
            "and closed; past --max-connections open connections a new one is answered 503.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}
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
                    "Inject a message; its propagation session is queued",
                    _json(
                        "the session",
                        {
                            "type": "object",
                            "properties": {
                                "session": {"type": "integer"},
                                "message": {"type": "integer"},
                                "status": {"type": "string"},
                            },
                        },
                    ),
                    code="201",
                    body=message,
                    errors=(*changing, "409"),
                )
            },
            "/api/v1/interventions": {
                "get": _op(
                    "The world's interventions, pending and applied, a page at a time in the order given (a block "
                    "lists how many agents it chose; a counter-message skipped at its tick says why in skipped)",
                    _page("interventions", "{at, action, spec, applied, ...}"),
                    errors=("400", "401"),
                    params=_page_params(),
                ),
                "post": _op(
                    "Schedule an intervention: ACTION at the start of the next tick, or TICK:ACTION that many ticks "
                    "from now (block:METHOD:K, counter:MODEL:SEEDS[:TEXT], remove-edges:FRACTION[:random|between]); "
                    "409 when the world holds --max-interventions interventions, or a counter-message would pass "
                    "--max-messages with those pending",
                    _json("the intervention: at, action, spec, applied (false until its tick)"),
                    code="201",
                    body={
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["action"],
                        "properties": {"action": {"type": "string", "maxLength": 2000}},
                    },
                    errors=(*changing, "409"),
                ),
            },
            "/api/v1/step": {
                "post": _op(
                    "Advance the paused world by ticks (default 1, at most 10,000)",
                    _json("the new tick"),
                    errors=(*changing, "409"),
                    body={
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {"ticks": {"type": "integer", "minimum": 1, "maximum": 10000}},
                    },
                )
            },
            "/api/v1/run": {
                "post": _op(
                    "Run the world (as fast as possible, or at ticks_per_second)",
                    _json("running"),
                    errors=changing,
                    body={
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "ticks_per_second": {"type": "number", "exclusiveMinimum": 0, "maximum": 1000000}
                        },
                    },
                )
            },
            "/api/v1/pause": {
                "post": _op(
                    "Pause after the tick under way; the world is checkpointed", _json("paused"), errors=changing
                )
            },
            "/api/v1/sessions": {
                "get": _op(
                    "The propagation sessions, a page at a time (oldest first)",
                    _page("sessions", "one record per session"),
                    errors=("400", "401"),
                    params=_page_params(),
                )
            },
            "/api/v1/sessions/{id}": {
                "get": _op(
                    "One session: status, reach, its per-state series and its cascade (size, depth, breadth, "
                    "structural virality)",
                    _json("the session"),
                    errors=("401", "404"),
                    params=[_path_param("id", "integer", "session id")],
                )
            },
            "/api/v1/agents/{id}": {
                "get": _op(
                    "One agent, by original id",
                    _json("the agent"),
                    errors=("401", "404"),
                    params=[_path_param("id", "integer", "the agent's original id")],
                )
            },
            "/api/v1/communities": {
                "get": _op("The communities of the last analysis (agora analyze)", _json("communities"))
            },
            "/api/v1/snapshots": {
                "get": _op("The snapshots in the server's snapshot folder", _json("snapshots")),
                "post": _op(
                    "Save the world as a snapshot",
                    _json("saved"),
                    code="201",
                    errors=(*changing, "503"),
                    body={
                        "type": "object",
                        "required": ["name"],
                        "additionalProperties": False,
                        "properties": {"name": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"}},
                    },
                ),
            },
            "/api/v1/snapshots/{name}/load": {
                "post": _op(
                    "Replace the world by a snapshot (the run goes on if it was running)",
                    _json("loaded"),
                    errors=(*changing, "404"),
                    params=[_path_param("name", "string", "snapshot name")],
                )
            },
            "/api/v1/forecasts": {
                "get": _op(
                    "The forecasts kept (running ones and the last 32 finished), oldest first, without results",
                    _json("forecasts: a list of {id, state, branched_at, progress, error, request}"),
                ),
                "post": _op(
                    "Branch the present of a running session and continue it runs times under each arm, in the "
                    "background (the world is not changed and may run on); 409 when 2 forecasts run already",
                    _json("the job: id, state (running), branched_at, progress, error, result (null), request"),
                    code="202",
                    body={
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "session": {"type": "integer", "description": "default: the latest running one"},
                            "runs": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 100},
                            "ticks": {"type": "integer", "minimum": 1, "maximum": 100000},
                            "until_done": {"type": "boolean", "description": "instead of ticks"},
                            "max_ticks": {"type": "integer", "minimum": 1, "maximum": 100000, "default": 10000},
                            "arms": {
                                "oneOf": [
                                    {"type": "object", "additionalProperties": {"type": "array"}},
                                    {"type": "array", "items": {"type": "string"}},
                                ],
                                "description": '{"none": [], "block": ["block:degree:100"]} or ["NAME=ACTION"]',
                            },
                            "seed": {"type": "integer", "minimum": 0, "default": 0},
                            "kernel": {"enum": ["auto", "batched", "engine"], "default": "auto"},
                        },
                    },
                    errors=("400", "401", "403", "409", "415"),
                ),
            },
            "/api/v1/forecasts/{id}": {
                "get": _op(
                    "One forecast: its state and progress, and its result once done (per arm reached {median, "
                    "mean, ci90}, series, cascade, paired)",
                    _json("the job"),
                    errors=("401", "404"),
                    params=[_path_param("id", "string", "the forecast's id")],
                )
            },
            "/api/v1/columns": {
                "get": _op(
                    "The per-agent columns that may be set from data: name, min, max, kind (built-in or data), the "
                    "models that start from it, and whether the world holds it",
                    _json("columns: a list of {name, min, max, kind, models, set}"),
                )
            },
            "/api/v1/columns/{name}": {
                "put": _op(
                    "Set a per-agent column from data (agora set): every agent of the world exactly once, each value "
                    "in the column's range, or nothing changes. A model's variable (opinion) starts from its data "
                    "column in sessions injected later (with seeds none: exactly)",
                    _json(
                        "what was set: column, kind, models, agents, mean, min, max, sha256 (of the values in "
                        "agent order)"
                    ),
                    body={
                        "type": "object",
                        "required": ["ids", "values"],
                        "additionalProperties": False,
                        "properties": {
                            "ids": {
                                "type": "array",
                                "items": {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1},
                                "description": "original agent ids, every agent once",
                            },
                            "values": {
                                "type": "array",
                                "items": {"type": "number"},
                                "description": "the value of each id, in the column's range (GET /api/v1/columns)",
                            },
                        },
                    },
                    errors=(*changing, "404"),
                    params=[_path_param("name", "string", "the column (opinion, susceptibility, ...)")],
                ),
                "delete": _op(
                    "Remove a data column (its models draw their variable again)",
                    _json("the column removed"),
                    errors=("401", "403", "404", "503"),
                    params=[_path_param("name", "string", "a data column the world holds")],
                ),
            },
            "/api/v1/events": {
                "get": {
                    "summary": "Live events (Server-Sent Events): hello, tick, message, session_started, "
                    "session_finished, recommender_failed, forecast, state, load, "
                    "checkpoint_failed, checkpoint_recovered",
                    "responses": {
                        "200": {"description": "an event stream", "content": {"text/event-stream": {}}},
                        "401": _ERROR,
                    },
                }
            },
            "/api/v1/openapi.json": {"get": _op("This description", _json("OpenAPI 3.1"))},
        },
    }
