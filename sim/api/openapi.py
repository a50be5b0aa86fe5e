"""The OpenAPI 3.1 description of the API (``GET /api/v1/openapi.json``)."""

from __future__ import annotations

from typing import Any

from sim import __version__

_ERROR = {"description": "one sentence saying what is wrong and what to do",
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _json(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema or {"type": "object"}}}}


def _op(summary: str, ok: dict[str, Any], *, code: str = "200", body: dict[str, Any] | None = None,
        errors: tuple[str, ...] = ("401",), params: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {code: ok, **{e: _ERROR for e in errors}}}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if params:
        op["parameters"] = params
    return op


def _path_param(name: str, kind: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": kind}, "description": description}


def spec() -> dict[str, Any]:
    """The OpenAPI document."""
    changing = ("400", "401", "403")
    message = {
        "type": "object", "additionalProperties": False,
        "properties": {
            "text": {"type": "string", "description": "the message (kept literally); empty with an author: the author writes it"},
            "model": {"type": "string", "default": "ic", "description": "propagation model (see agora plugins list)"},
            "params": {"type": "object", "description": "the model's parameters, validated against its schema"},
            "seeds": {"type": "string", "default": "random:10",
                      "description": "random:K, top:K, ids:a,b,c, community:C:K or file:PATH"},
            "topics": {"type": "array", "items": {"type": "string"}},
            "author": {"type": "integer", "description": "the authoring agent's original id"},
            "priority": {"type": "integer", "default": 0},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Agora management API", "version": __version__,
                 "description": "Drive a running Agora world: inject messages, step, run and pause it, read its "
                                "sessions, agents and communities, save and load snapshots, and follow its live "
                                "events (Server-Sent Events at /api/v1/events, or a WebSocket at /api/v1/live with the "
                                "same events as JSON messages; a browser offers its token there as the subprotocol "
                                "agora.bearer.<unpadded base64url> beside agora.v1). Every route needs a bearer token when the server has "
                                "any; read-only tokens may only GET."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}},
        },
        "paths": {
            "/api/v1/world": {"get": _op("The world: agents, edges, tick, state, sessions, living-network settings",
                                         _json("the world"))},
            "/api/v1/messages": {"post": _op("Inject a message; its propagation session is queued",
                                             _json("the session", {"type": "object", "properties": {
                                                 "session": {"type": "integer"}, "message": {"type": "integer"},
                                                 "status": {"type": "string"}}}),
                                             code="201", body=message, errors=changing)},
            "/api/v1/step": {"post": _op("Advance the paused world by ticks (default 1, at most 10,000)",
                                         _json("the new tick"), errors=(*changing, "409"),
                                         body={"type": "object", "additionalProperties": False,
                                               "properties": {"ticks": {"type": "integer", "minimum": 1, "maximum": 10000}}})},
            "/api/v1/run": {"post": _op("Run the world (as fast as possible, or at ticks_per_second)", _json("running"),
                                        errors=changing, body={"type": "object", "additionalProperties": False, "properties": {
                                            "ticks_per_second": {"type": "number", "exclusiveMinimum": 0, "maximum": 1000000}}})},
            "/api/v1/pause": {"post": _op("Pause after the tick under way; the world is checkpointed", _json("paused"),
                                          errors=changing)},
            "/api/v1/sessions": {"get": _op("Every propagation session", _json("the sessions"))},
            "/api/v1/sessions/{id}": {"get": _op("One session: status, reach and its per-state series", _json("the session"),
                                                 errors=("401", "404"), params=[_path_param("id", "integer", "session id")])},
            "/api/v1/agents/{id}": {"get": _op("One agent, by original id", _json("the agent"), errors=("401", "404"),
                                               params=[_path_param("id", "integer", "the agent's original id")])},
            "/api/v1/communities": {"get": _op("The communities of the last analysis (agora analyze)", _json("communities"))},
            "/api/v1/snapshots": {
                "get": _op("The snapshots in the server's snapshot folder", _json("snapshots")),
                "post": _op("Save the world as a snapshot", _json("saved"), code="201", errors=(*changing, "503"),
                            body={"type": "object", "required": ["name"], "additionalProperties": False, "properties": {
                                "name": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"}}}),
            },
            "/api/v1/snapshots/{name}/load": {"post": _op("Replace the world by a snapshot (the run goes on if it was running)",
                                                          _json("loaded"), errors=(*changing, "404"),
                                                          params=[_path_param("name", "string", "snapshot name")])},
            "/api/v1/events": {"get": {"summary": "Live events (Server-Sent Events): hello, tick, message, session_started, "
                                                  "session_finished, recommender_failed, state, load",
                                       "responses": {"200": {"description": "an event stream",
                                                             "content": {"text/event-stream": {}}}, "401": _ERROR}}},
            "/api/v1/openapi.json": {"get": _op("This description", _json("OpenAPI 3.1"))},
        },
    }
