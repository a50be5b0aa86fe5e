"""The API's routes: a Starlette application over the world controller
(:class:`~sim.live.controller.WorldController`).

Every ``/api/v1`` route needs a bearer token (:mod:`sim.api.tokens`; a server always has one): a missing or
wrong one is refused with 401, a read-only token that asks to change something with 403. Bodies and
answers are JSON; an error is ``{"error": "one sentence"}`` with 400 (malformed JSON, a bad value), 403 (a
``Host`` or WebSocket ``Origin`` that is not this server's), 404 (an unknown id or name), 409 (what the
current state forbids), 415 (a body that is not ``application/json``) or 503 (a full disk, a checkpoint
that failed, a request past its deadline). Anything unexpected is a JSON 500, its traceback on the
server's stderr. Calls that change the world are serialised by the host and recorded in the world's audit
log under the token's name.

What a request may reach (see docs/api.md, "What a client can and cannot do"): no field names a path on
the server (seeds are ``ids:``, ``random:``, ``top:``, ``community:`` or a JSON list of ids; snapshots are
names inside the server's snapshot folder); every number is range-checked; bodies, texts, seed lists,
messages and pages are bounded; a request has a deadline, after which it answers 503 while the work goes
on. ``Host`` must be a loopback name or address or one allowed with ``--allow-host`` (DNS rebinding), and
a browser's WebSocket ``Origin`` must be this server's own loopback origin or an allowed host.

``GET /api/v1/events`` is a Server-Sent Events stream: a ``hello`` event with the world's state, then one
``tick`` event per tick while the world runs (the dashboard's figures and every live session's counts),
and ``message``, ``session_started``, ``session_finished``, ``state``, ``load``, ``checkpoint_failed``,
``checkpoint_recovered``, ``forecast`` and ``estimate`` events as they happen. ``/api/v1/live`` carries the same
events over a WebSocket, one JSON message each.

Forecasts (``/api/v1/forecasts``) and LLM cost estimates (``/api/v1/llm/estimates``; ``POST /api/v1/llm/estimate``
waits for one) are jobs on copies of the world, weighed before they start (422 past their bound), run beside it and
cancelled by ``DELETE``, which leaves no job behind (404 after).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse as StarletteJSON
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Match, Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from sim.api.openapi import Served, spec
from sim.api.tokens import WS_PROTOCOL, Token, Tokens
from sim.core.net import is_loopback
from sim.core.safe import shown
from sim.engine.requests import SERVED, Forecast, Inject
from sim.engine.requests.common import json_kind
from sim.errors import AgoraError, BadFileError, BadParameterError, ResourceError, RuleError
from sim.live.controller import MAX_PAGE_SIZE, PAGE_SIZE, NotFoundError, StateError, WorldController
from sim.live.estimates import EstimateStoppedError
from sim.model.columns import settable_columns
from sim.model.intervene import entries
from sim.model.registry import PluginError, Registry
from sim.plugin.base import Plugin
from sim.plugin.params import param_spec

Handler = Callable[[Request], Awaitable[Response]]
#: Seconds between keep-alive comments on an idle event stream.
KEEPALIVE = 15.0
#: The largest body a call takes; a message's (its text and a seed list of ids) may be larger.
MAX_BODY = 64 * 1024
MAX_MESSAGE_BODY = 4 * 1024 * 1024
#: The fields of a message to inject (``POST /api/v1/messages``, and the message of an LLM estimate).
MESSAGE_FIELDS = ("text", "model", "params", "seeds", "topics", "author", "priority")
#: The largest body of ``PUT /api/v1/columns/{name}`` (ids and values of some two million agents; larger
#: worlds are set from a file with ``agora set``).
MAX_COLUMN_BODY = 64 * 1024 * 1024
#: Seconds a request may take before it answers 503 (the work it started goes on).
DEADLINE = 60.0
#: The fields of ``POST /api/v1/forecasts``: ``Forecast``'s served ones (not ``posterior``, a path on the server,
#: nor ``workers``, the server's own choice).
FORECAST_FIELDS = Forecast.OPTIONS.served
#: Host names that are this machine whatever DNS says (loopback addresses are recognised as such).


class JSONResponse(StarletteJSON):
    """JSON with every non-ASCII character escaped: text from clients, plugins or the world (a lone
    surrogate included) can never make an answer fail to encode."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":"), default=str).encode(
            "ascii"
        )


def error(status: int, message: str) -> JSONResponse:
    """``{"error": message}``: one line, control and invisible formatting characters (a newline or a
    right-to-left override a client put in a value the message quotes) shown as visible escapes."""
    return JSONResponse({"error": shown(message, 2000)}, status_code=status)


class MediaTypeError(AgoraError):
    """A request body that is not declared ``application/json`` (HTTP 415)."""


def host_name(header: str | None) -> str | None:
    """The name of a ``Host`` header (or an origin's host) without its port, lowercased, without a
    trailing dot; None when it is malformed."""
    value = (header or "").strip().lower()
    if not value:
        return None
    if value.startswith("["):  # [v6]:port
        end = value.find("]")
        rest = value[end + 1 :] if end > 0 else "x"
        if end < 0 or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
        return value[1:end]
    if value.count(":") == 1:
        value, _, port = value.partition(":")
        if not port.isdigit():
            return None
    name = value.rstrip(".")
    if not name or any(c.isspace() or c in "/\\@?#" for c in name):
        return None
    return name


def _log_exception(what: str, exc: BaseException) -> None:
    sys.stderr.write(f"agora: {what}:\n" + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    sys.stderr.flush()


class HostCheck:
    """ASGI middleware: refuses (403, one sentence) any request or WebSocket whose ``Host`` is not a
    loopback name or address or one of ``allowed``, so a web page cannot reach the server through a DNS
    name it controls (DNS rebinding)."""

    def __init__(self, app: Any, allowed: Iterable[str]) -> None:
        self.app = app
        self.allowed = frozenset(allowed)

    def refusal(self, header: str | None) -> str | None:
        name = host_name(header)
        if name is None:
            return "the request has no valid Host header: send the server's address as Host"
        if is_loopback(name) or name in self.allowed:
            return None
        return (
            f"host {name[:100]!r} is not one this server answers to: use 127.0.0.1 or localhost, or start the "
            f"server with --allow-host {name[:100]}"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            hosts = [v for k, v in scope.get("headers", []) if k == b"host"]
            header = hosts[0].decode("latin-1") if len(hosts) == 1 else None
            refused = self.refusal(header)
            if refused is not None:
                response = error(403, refused)
                if scope["type"] == "http":
                    await response(scope, receive, send)
                else:
                    await WebSocket(scope, receive, send).send_denial_response(response)
                return
        await self.app(scope, receive, send)


class App:
    """The routes of one served world (``app`` is the ASGI application).

    Args:
        allowed_hosts: host names (besides loopback ones) that ``Host`` and a WebSocket's ``Origin`` may name.
        port: the port the server listens on (a loopback ``Origin`` must name it).
        deadline: seconds a request may take before it answers 503.
    """

    def __init__(
        self,
        host: WorldController,
        tokens: Tokens,
        *,
        monitor: Any = None,
        allowed_hosts: Iterable[str] = (),
        port: int | None = None,
        deadline: float = DEADLINE,
    ) -> None:
        if not tokens:
            raise BadParameterError(
                "the API needs a token: every server has one (agora serve makes one when none is given)"
            )
        self.host = host
        self.tokens = tokens
        self.monitor = monitor
        self.allowed_hosts = frozenset(h.lower().rstrip(".") for h in allowed_hosts)
        self.port = port
        self.deadline = deadline
        self.closing = asyncio.Event()
        v1 = "/api/v1"
        routes: list[BaseRoute] = [
            Route(f"{v1}/world", self.guard(self.world), methods=["GET"]),
            Route(
                f"{v1}/messages", self.guard(self.messages, changes=True, max_body=MAX_MESSAGE_BODY), methods=["POST"]
            ),
            Route(
                f"{v1}/llm/estimate",
                self.guard(self.llm_estimate, changes=True, max_body=MAX_MESSAGE_BODY),
                methods=["POST"],
            ),
            Route(f"{v1}/llm/estimates", self.guard(self.llm_estimates), methods=["GET"]),
            Route(
                f"{v1}/llm/estimates",
                self.guard(self.start_llm_estimate, changes=True, max_body=MAX_MESSAGE_BODY),
                methods=["POST"],
            ),
            Route(v1 + "/llm/estimates/{id}", self.guard(self.llm_estimate_job), methods=["GET"]),
            Route(v1 + "/llm/estimates/{id}", self.guard(self.cancel_llm_estimate, changes=True), methods=["DELETE"]),
            Route(f"{v1}/interventions", self.guard(self.interventions), methods=["GET"]),
            Route(f"{v1}/interventions", self.guard(self.intervene, changes=True), methods=["POST"]),
            Route(f"{v1}/step", self.guard(self.step, changes=True), methods=["POST"]),
            Route(f"{v1}/run", self.guard(self.run, changes=True), methods=["POST"]),
            Route(f"{v1}/pause", self.guard(self.pause, changes=True), methods=["POST"]),
            Route(f"{v1}/sessions", self.guard(self.sessions), methods=["GET"]),
            Route(v1 + "/sessions/{id}", self.guard(self.session), methods=["GET"]),
            Route(v1 + "/agents/{id}", self.guard(self.agent), methods=["GET"]),
            Route(f"{v1}/communities", self.guard(self.communities), methods=["GET"]),
            Route(f"{v1}/snapshots", self.guard(self.snapshots), methods=["GET"]),
            Route(f"{v1}/snapshots", self.guard(self.save, changes=True), methods=["POST"]),
            Route(v1 + "/snapshots/{name}/load", self.guard(self.load, changes=True), methods=["POST"]),
            Route(f"{v1}/forecasts", self.guard(self.forecasts), methods=["GET"]),
            Route(f"{v1}/forecasts", self.guard(self.forecast, changes=True), methods=["POST"]),
            Route(v1 + "/forecasts/{id}", self.guard(self.forecast_job), methods=["GET"]),
            Route(v1 + "/forecasts/{id}", self.guard(self.cancel_forecast, changes=True), methods=["DELETE"]),
            Route(f"{v1}/columns", self.guard(self.columns), methods=["GET"]),
            Route(
                v1 + "/columns/{name}",
                self.guard(self.set_column, changes=True, max_body=MAX_COLUMN_BODY),
                methods=["PUT"],
            ),
            Route(v1 + "/columns/{name}", self.guard(self.clear_column, changes=True), methods=["DELETE"]),
            Route(f"{v1}/events", self.guard(self.stream), methods=["GET"]),
            WebSocketRoute(f"{v1}/live", self.live),
            Route(f"{v1}/openapi.json", self.guard(self.openapi), methods=["GET"]),
        ]
        if monitor is not None:
            routes += [
                Route("/metrics", self.metrics, methods=["GET"]),
                Route("/healthz", self.health, methods=["GET"]),
            ]
        self.routes = routes
        starlette = Starlette(
            routes=routes,
            exception_handlers={404: self.not_found, 405: self.not_allowed, Exception: self.internal_error},
        )
        starlette.router.redirect_slashes = False  # "/world/" is no route (a 404 saying so), not a redirect
        self.app = HostCheck(starlette, self.allowed_hosts)

    # -- the guard: tokens, bodies, deadlines, errors ----------------------------------------------------
    def guard(
        self, handler: Callable[..., Awaitable[Response]], *, changes: bool = False, max_body: int = MAX_BODY
    ) -> Handler:
        async def guarded(request: Request) -> Response:
            token: Token | None = self.tokens.check(request.headers.get("authorization"))
            if token is None:
                res = error(401, "a valid bearer token is needed: send 'Authorization: Bearer TOKEN'")
                res.headers["WWW-Authenticate"] = 'Bearer realm="agora"'
                return res
            if changes and token.read_only:
                return error(403, f"token {token.name!r} may only read: use a token that may change the world")
            try:
                data = None
                if request.method in ("POST", "PUT"):
                    try:
                        data = await asyncio.wait_for(self.body(request, max_body), self.deadline)
                    except TimeoutError:
                        return error(408, f"the body did not arrive within {self.deadline:g} s: send it at once")
                    except ClientDisconnect:
                        return error(400, "the client closed the connection before sending the whole body")
                work = asyncio.ensure_future(handler(request, token.name, data))
                try:
                    done, _ = await asyncio.wait({work}, timeout=self.deadline)
                except asyncio.CancelledError:  # the server stops: the work ends on its own, its outcome logged
                    work.add_done_callback(_late_outcome)
                    raise
                if not done:  # the work goes on (a world is never left half-changed); the caller is told
                    work.add_done_callback(_late_outcome)
                    return error(
                        503,
                        f"the request took longer than {self.deadline:g} s and goes on in the server: "
                        "GET /api/v1/world shows its effect when it is done",
                    )
                return work.result()
            except NotFoundError as exc:
                return error(404, str(exc))
            except StateError as exc:
                return error(409, str(exc))
            except MediaTypeError as exc:
                return error(415, str(exc))
            except ResourceError as exc:
                return error(503, str(exc))
            except RuleError as exc:
                return error(422, str(exc))
            except (BadParameterError, BadFileError) as exc:
                return error(400, str(exc))
            except AgoraError as exc:
                return error(400, str(exc))
            except Exception as exc:  # noqa: BLE001 - a bug: a JSON 500, and its traceback in the server's log
                _log_exception(f"{request.method} {request.url.path[:100]} failed", exc)
                return error(500, f"the server failed on this request ({type(exc).__name__}): its log has the details")

        guarded.__name__ = handler.__name__
        return guarded

    @staticmethod
    async def body(request: Request, limit: int = MAX_BODY) -> dict[str, Any] | None:
        """The JSON object of the request's body (None when it is empty).

        Raises:
            BadParameterError: too large, not JSON, or not an object. MediaTypeError: a body that is not
                declared ``application/json``.
        """
        declared = request.headers.get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            raise BadParameterError(
                f"the body is {int(declared):,} bytes, more than the {limit:,} this call takes: send less"
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise BadParameterError(f"the body is more than the {limit:,} bytes this call takes: send less")
        raw = b"".join(chunks)
        if not raw.strip():
            return None
        kind = (request.headers.get("content-type") or "").partition(";")[0].strip().lower()
        if kind != "application/json":
            raise MediaTypeError(
                f"the body is {kind[:60] or 'of no declared type'!r}, not JSON: send it with "
                "'Content-Type: application/json'"
            )
        try:
            data = json.loads(raw) if len(raw) < 65536 else await asyncio.to_thread(json.loads, raw)
        except (ValueError, RecursionError) as exc:
            raise BadParameterError(f"the body is not valid JSON ({str(exc)[:80]}): send a JSON object") from None
        if not isinstance(data, dict):
            raise BadParameterError(f"the body is {json_kind(data)}, not an object: send a JSON object {{...}}")
        _refuse_invalid_unicode(data)
        return data

    @staticmethod
    def only(data: dict[str, Any], allowed: tuple[str, ...]) -> None:
        extra = sorted(set(data) - set(allowed))
        if extra:
            fields = f"the fields are {', '.join(allowed)}" if allowed else "this call takes none (send {} or no body)"
            raise BadParameterError(f"unknown field {extra[0][:60]!r}: {fields}")

    @classmethod
    def field(cls, data: dict[str, Any] | None, name: str, example: str, missing: str) -> object:
        """The one field ``name`` of a body that takes only it (``example`` shows the body).

        Raises:
            BadParameterError: no body, another field, or none named ``name`` (``missing`` says so).
        """
        if data is None:
            raise BadParameterError(f"the body is empty: send {example}")
        cls.only(data, (name,))
        if name not in data:
            raise BadParameterError(f"{missing}: send {example.removeprefix('a JSON object such as ')}")
        return data[name]

    async def not_found(self, request: Request, exc: Exception) -> Response:
        return error(404, f"no route {request.url.path[:100]!r}: GET /api/v1/openapi.json lists them")

    async def not_allowed(self, request: Request, exc: Exception) -> Response:
        """405, with ``Allow`` naming every method the path takes (its routes together: one route per method)."""
        allowed = self.methods_of(request.scope)
        response = error(
            405,
            f"{request.method[:20]} is not allowed on {request.url.path[:100]!r}: it takes "
            f"{', '.join(allowed) or 'no method'} (GET /api/v1/openapi.json lists the routes)",
        )
        response.headers["Allow"] = ", ".join(allowed)
        return response

    def methods_of(self, scope: Scope) -> list[str]:
        """The methods the routes matching ``scope``'s path take (GET brings HEAD), in a fixed order."""
        methods: set[str] = set()
        for route in self.routes:
            if isinstance(route, Route) and route.methods and route.matches(scope)[0] is not Match.NONE:
                methods |= route.methods
        name = str(scope.get("path", "")).removeprefix("/api/v1/columns/")
        column = settable_columns(self.host.registry).get(name)
        if column is not None and column.builtin:  # set, never removed
            methods.discard("DELETE")
        order = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
        return [m for m in order if m in methods] + sorted(methods - set(order))

    async def internal_error(self, request: Request, exc: Exception) -> Response:
        # Starlette logs nothing itself; uvicorn prints the traceback when the exception leaves the app.
        return error(500, f"the server failed on this request ({type(exc).__name__}): its log has the details")

    # -- routes -------------------------------------------------------------------------------------------
    async def world(self, request: Request, actor: str, data: None) -> Response:
        return JSONResponse(self.host.read.summary())

    async def messages(self, request: Request, actor: str, data: dict[str, Any] | None) -> Response:
        if data is None:
            raise BadParameterError('the body is empty: send a JSON object such as {"text": "..."}')
        self.only(data, MESSAGE_FIELDS)
        _check_params(data, self.host.registry)
        session = await self.host.inject(Inject.parse(data, self.host.registry, SERVED), actor=actor)
        return JSONResponse(
            {"session": session.id, "message": session.message_id, "status": session.status}, status_code=201
        )

    def estimate_request(self, data: dict[str, Any] | None) -> tuple[Inject, object]:
        """The message and ``steps`` of an estimate's body (``{"steps": N, "message": {...}}``), the message parsed
        as ``POST /api/v1/messages`` parses one.

        Raises:
            BadParameterError: no body, an unknown field, a message that is no object or is refused.
            RuleError: the message's model parameters break a rule between them.
        """
        example = '{"steps": 10, "message": {"text": "...", "model": "llm"}}'
        if data is None:
            raise BadParameterError(f"the body is empty: send a JSON object such as {example}")
        self.only(data, ("steps", "message"))
        message = data.get("message")
        if not isinstance(message, dict):
            raise BadParameterError(f"message must be the message to inject as a JSON object, as in {example}")
        self.only(message, MESSAGE_FIELDS)
        _check_params(message, self.host.registry)
        return Inject.parse(message, self.host.registry, SERVED), data.get("steps")

    async def llm_estimate(self, request: Request, actor: str, data: dict[str, Any] | None) -> Response:
        """What injecting a message and running ``steps`` ticks would cost in LLM calls, tokens, dollars and time:
        a dry run on a copy of the world, as a job (``/llm/estimates``) this call waits for. Nothing changes and the
        world goes on meanwhile; the job is cancelled when the client goes away, and answers 503 naming itself
        when it takes longer than the request's deadline. It takes a token that may change the world: it spends
        the server's processor for as long as it runs."""
        message, steps = self.estimate_request(data)
        watched = [asyncio.ensure_future(_client_gone(request)), asyncio.ensure_future(self.closing.wait())]
        gone = asyncio.ensure_future(asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED))
        try:
            estimate = await self.host.estimates.estimate(
                message, steps=steps, actor=actor, gone=gone, timeout=max(0.5, self.deadline - 1.0)
            )
        except EstimateStoppedError:
            if self.closing.is_set():
                raise ResourceError(
                    "the server is stopping, and the estimate was cancelled: ask again once it is back"
                ) from None
            raise
        finally:
            for future in (gone, *watched):
                future.cancel()
        return JSONResponse(estimate.to_dict())

    async def start_llm_estimate(self, request: Request, actor: str, data: dict[str, Any] | None) -> Response:
        """Start an estimate (``POST /api/v1/llm/estimates``): 202 with the job, which ``GET`` follows and ``DELETE``
        cancels."""
        message, steps = self.estimate_request(data)
        job = await self.host.estimates.start(message, steps=steps, actor=actor)
        return JSONResponse(job.to_dict(), status_code=202, headers={"Location": f"/api/v1/llm/estimates/{job.id}"})

    async def llm_estimates(self, request: Request, actor: str, data: None) -> Response:
        """The estimates kept, oldest first, each without its result (``GET /api/v1/llm/estimates/{id}`` has it)."""
        listed = [{k: v for k, v in job.to_dict().items() if k != "result"} for job in self.host.estimates.jobs()]
        return JSONResponse({"estimates": listed})

    async def llm_estimate_job(self, request: Request, actor: str, data: None) -> Response:
        return JSONResponse(self.host.estimates.get(request.path_params["id"]).to_dict())

    async def cancel_llm_estimate(self, request: Request, actor: str, data: dict[str, Any] | None) -> Response:
        """Cancel a running estimate (its dry run stops before its next tick) or forget a finished one: 200 with the
        job as it ends, then 404."""
        self.only(data or {}, ())
        job = await self.host.estimates.cancel(request.path_params["id"], forget=True, actor=actor)
        return JSONResponse(job.to_dict())

    async def intervene(self, request: Request, actor: str, data: dict[str, Any] | None) -> Response:
        action = self.field(
            data, "action", 'a JSON object such as {"action": "block:degree:100"}', "the body names no action"
        )
        entry = await self.host.interventions.schedule(action, actor=actor)
        return JSONResponse(entry, status_code=201)

    async def interventions(self, request: Request, actor: str, data: None) -> Response:
        limit, offset = _page(request)
        total = len(entries(self.host.world))
        return JSONResponse(
            {"interventions": self.host.interventions.listed(limit, offset), **_page_fields(total, offset, limit)}
        )

    async def step(self, request: Request, actor: str, data: dict[str, Any] | None) -> Response:
        data = data or {}
        self.only(data, ("ticks",))
        return JSONResponse(await self.host.step(data.get("ticks", 1), actor=actor))

    async def run(self, request: Request, actor: str, data: dict[str, Any] | None) -> Response:
        data = data or {}
        self.only(data, ("ticks_per_second",))
        return JSONResponse(await self.host.run(data.get("ticks_per_second"), actor=actor))

    async def pause(self, request: Request, actor: str, data: dict[str, Any] | None) -> Response:
        self.only(data or {}, ())
        return JSONResponse(await self.host.pause(actor=actor))

    async def sessions(self, request: Request, actor: str, data: None) -> Response:
        limit, offset = _page(request)
        total = len(self.host.world.sessions)
        return JSONResponse({"sessions": self.host.read.sessions(limit, offset), **_page_fields(total, offset, limit)})

    async def session(self, request: Request, actor: str, data: None) -> Response:
        return JSONResponse(self.host.read.session_record(request.path_params["id"], series=True, cascade=True))

    async def agent(self, request: Request, actor: str, data: None) -> Response:
        return JSONResponse(self.host.read.agent(request.path_params["id"]))

    async def communities(self, request: Request, actor: str, data: None) -> Response:
        return JSONResponse({"communities": await self.host.read.communities()})

    async def snapshots(self, request: Request, actor: str, data: None) -> Response:
        return JSONResponse({"snapshots": await self.host.shelf.entries()})

    async def save(self, request: Request, actor: str, data: dict[str, Any] | None) -> Response:
        name = self.field(data, "name", '{"name": "..."}', "the snapshot has no name")
        return JSONResponse(await self.host.shelf.save(name, actor=actor), status_code=201)

    async def load(self, request: Request, actor: str, data: dict[str, Any] | None) -> Response:
        self.only(data or {}, ())
        return JSONResponse(await self.host.shelf.load(request.path_params["name"], actor=actor))

    async def forecast(self, request: Request, actor: str, data: dict[str, Any] | None) -> Response:
        """Start a forecast of the present (it changes nothing in the world, but takes a writing token: it
        spends the server's processors for as long as it runs, and read-only tokens may only GET). The live
        world parses the body (``Forecasts.start``): every field's type, the API's bounds, no file named."""
        if data is None:
            raise BadParameterError('the body is empty: send a JSON object such as {"runs": 100, "ticks": 50}')
        for name in ("posterior", "workers"):
            if name in data:
                raise BadParameterError(
                    f"{name!r} cannot be given over the API (the server chooses it): the fields are "
                    + ", ".join(FORECAST_FIELDS)
                )
        self.only(data, FORECAST_FIELDS)
        job = await self.host.forecasts.start(data, actor=actor)
        return JSONResponse(job.to_dict(), status_code=202, headers={"Location": f"/api/v1/forecasts/{job.id}"})

    async def forecasts(self, request: Request, actor: str, data: None) -> Response:
        """The forecasts kept, oldest first, each without its result (``GET /api/v1/forecasts/{id}`` has it)."""
        listed = [{k: v for k, v in job.to_dict().items() if k != "result"} for job in self.host.forecasts.jobs()]
        return JSONResponse({"forecasts": listed})

    async def forecast_job(self, request: Request, actor: str, data: None) -> Response:
        return JSONResponse(self.host.forecasts.get(request.path_params["id"]).to_dict())

    async def cancel_forecast(self, request: Request, actor: str, data: dict[str, Any] | None) -> Response:
        """Cancel a running forecast (200, the job ``cancelled``, once its worker processes are ended) or forget a
        finished one (200, the job as it was): either way the job is gone (404 after), as a DELETE leaves it."""
        self.only(data or {}, ())
        job = await self.host.forecasts.cancel(request.path_params["id"], forget=True, actor=actor)
        return JSONResponse(job.to_dict())

    async def columns(self, request: Request, actor: str, data: None) -> Response:
        return JSONResponse({"columns": self.host.tools.column_list()})

    async def set_column(self, request: Request, actor: str, data: dict[str, Any] | None) -> Response:
        example = '{"ids": [0, 1, ...], "values": [0.25, 0.75, ...]} with every agent once'
        if data is None:
            raise BadParameterError(f"the body is empty: send {example}")
        self.only(data, ("ids", "values"))
        for key in ("ids", "values"):
            if key not in data:
                raise BadParameterError(f"the body has no {key!r}: send {example}")
        summary = await self.host.tools.set_column(
            request.path_params["name"], data["ids"], data["values"], actor=actor
        )
        return JSONResponse(summary)

    async def clear_column(self, request: Request, actor: str, data: None) -> Response:
        name = request.path_params["name"]
        column = settable_columns(self.host.registry).get(name)
        if column is not None and column.builtin:  # set, never removed: the resource takes PUT alone
            response = error(405, f"column {name} is built in: it may be set (PUT), not removed")
            response.headers["Allow"] = "PUT"
            return response
        return JSONResponse(await self.host.tools.clear_column(name, actor=actor))

    async def openapi(self, request: Request, actor: str, data: None) -> Response:
        """The OpenAPI description, made from the world as it is now (its agents, communities, plugins)."""
        return JSONResponse(spec(Served.of(self.host.registry, self.host.world)))

    async def stream(self, request: Request, actor: str, data: None) -> Response:
        listener = self.host.events.subscribe()

        async def events() -> AsyncIterator[str]:
            try:
                yield _sse("hello", {"type": "hello", **self.host.read.summary()})
                quiet = 0.0
                while not self.closing.is_set():
                    event = await listener.get(timeout=1.0)
                    if event is None:
                        if await request.is_disconnected():
                            return
                        quiet += 1.0
                        if quiet >= KEEPALIVE:  # a comment line keeps proxies from closing an idle stream
                            quiet = 0.0
                            yield ": keep-alive\n\n"
                        continue
                    quiet = 0.0
                    yield _sse(str(event["type"]), event)
            finally:
                self.host.events.unsubscribe(listener)

        return StreamingResponse(
            events(), media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        )

    def origin_refusal(self, origin: str | None) -> str | None:
        """Why a WebSocket handshake's ``Origin`` is refused (None: no Origin, as from a script, or an
        allowed one: this server's own loopback origin, or an ``--allow-host`` name on any port)."""
        if origin is None:
            return None
        try:
            parts = urlsplit(origin.strip())
            name, port = host_name(parts.hostname or ""), parts.port
        except ValueError:
            name, port = None, None
        if name is not None and parts.scheme in ("http", "https"):
            port = port if port is not None else (443 if parts.scheme == "https" else 80)
            if name in self.allowed_hosts or (is_loopback(name) and port == self.port):
                return None
        return (
            f"a page from {origin[:100]!r} may not use this server: only its own origin and hosts allowed with "
            "--allow-host may open the WebSocket"
        )

    async def live(self, websocket: WebSocket) -> None:
        """The event stream over a WebSocket (``/api/v1/live``): each event one JSON text message, ``type``
        included. The token goes in the handshake's ``Authorization`` header or, from a browser (which
        cannot set that header), as the subprotocol ``agora.bearer.<unpadded base64url token>`` beside
        ``agora.v1``; refused with 401 before the socket opens. A browser's ``Origin`` must be this
        server's own (loopback) origin or a host allowed with ``--allow-host`` (403 otherwise)."""
        try:
            refused = self.origin_refusal(websocket.headers.get("origin"))
            if refused is not None:
                await websocket.send_denial_response(error(403, refused))
                return
            offered = websocket.headers.get("sec-websocket-protocol")
            if (
                self.tokens.check(websocket.headers.get("authorization")) is None
                and self.tokens.check_protocols(offered) is None
            ):
                await websocket.send_denial_response(
                    error(
                        401,
                        "a valid bearer token is needed: send 'Authorization: Bearer TOKEN' or offer the "
                        "subprotocol agora.bearer.<the token in unpadded base64url>",
                    )
                )
                return
        except Exception as exc:  # noqa: BLE001 - a bug: a JSON 500 before the socket opens, logged
            _log_exception("a WebSocket handshake failed", exc)
            with contextlib.suppress(Exception):
                await websocket.send_denial_response(
                    error(500, f"the server failed on this handshake ({type(exc).__name__}): its log has the details")
                )
            return
        # The chosen subprotocol is agora.v1 when offered; the one carrying the token is never echoed.
        wanted = [p.strip() for p in (offered or "").split(",")]
        await websocket.accept(subprotocol=WS_PROTOCOL if WS_PROTOCOL in wanted else None)
        listener = self.host.events.subscribe()
        gone = asyncio.ensure_future(self._until_closed(websocket))
        try:
            await websocket.send_text(json.dumps({"type": "hello", **self.host.read.summary()}, default=str))
            while not self.closing.is_set() and not gone.done():
                event = await listener.get(timeout=1.0)
                if event is not None:
                    await websocket.send_text(json.dumps(event, default=str))
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            self.host.events.unsubscribe(listener)
            gone.cancel()
            with contextlib.suppress(Exception):  # already closed by the client: nothing to do
                await websocket.close()

    @staticmethod
    async def _until_closed(websocket: WebSocket) -> None:
        """Returns when the client closes the socket (what it sends is ignored)."""
        try:
            while True:
                await websocket.receive_text()
        except (WebSocketDisconnect, RuntimeError, KeyError):
            return

    async def metrics(self, request: Request) -> Response:
        body, ctype = self.monitor.exposition(request.headers.get("accept"))
        return Response(body, media_type=ctype, headers={"Cache-Control": "no-store"})

    async def health(self, request: Request) -> Response:
        health = self.monitor.health()
        return JSONResponse(health, status_code=200 if health["status"] == "ok" else 503)


def _page(request: Request) -> tuple[int, int]:
    """The ``limit`` and ``offset`` of a paged GET (``limit`` 1 to :data:`MAX_PAGE_SIZE`, default
    :data:`PAGE_SIZE`; ``offset`` from 0).

    Raises:
        BadParameterError: another query parameter, or a value out of range.
    """
    query = request.query_params
    extra = sorted(set(query) - {"limit", "offset"})
    if extra:
        raise BadParameterError(f"unknown query parameter {extra[0][:60]!r}: the parameters are limit and offset")
    return _whole(query.get("limit"), "limit", PAGE_SIZE, 1, MAX_PAGE_SIZE), _whole(
        query.get("offset"), "offset", 0, 0, 2**63 - 1
    )


def _page_fields(total: int, offset: int, limit: int) -> dict[str, Any]:
    """What a page says beside its items: ``total``, ``offset``, ``limit`` and ``next_offset`` (None on the
    last page)."""
    return {
        "total": total,
        "offset": offset,
        "limit": limit,
        "next_offset": offset + limit if offset + limit < total else None,
    }


def _whole(text: str | None, what: str, default: int, lo: int, hi: int) -> int:
    """A query parameter that is a whole number from ``lo`` to ``hi`` (``default`` when absent).

    Raises:
        BadParameterError: not such a number.
    """
    if text is None:
        return default
    value = text
    if not value.isdigit() or not value.isascii() or len(value) > 20 or not lo <= int(value) <= hi:
        raise BadParameterError(f"{what} {text[:30]!r} is invalid: give a whole number from {lo:,} to {hi:,}")
    return int(value)


#: What JSON value a parameter of each type takes over the API (a command line's texts are not JSON's).
_PARAM_KINDS: dict[type, tuple[tuple[type, ...], str]] = {
    float: ((int, float), "a number"),
    int: ((int,), "a whole number"),
    bool: ((bool,), "true or false"),
    str: ((str,), "a string"),
}


def _check_params(data: dict[str, Any], registry: Registry) -> None:
    """Refuse a message's model parameters as JSON types them (``"0.5"`` is no number, ``1`` no ``true``, ``5.0``
    no whole number), then as the model declares them (range, choices); a rule between two of them that the
    model adds (``gamma + mu <= 1``) is a :class:`RuleError` (422): the description states all but those.
    Anything else (an unknown model or parameter, params that are no object) is :meth:`Inject.parse`'s to say.

    Raises:
        BadParameterError: a parameter of the wrong JSON type or out of its declared range. RuleError: the
            model's own rule between its parameters.
    """
    model, params = data.get("model", "ic"), data.get("params")
    if not isinstance(model, str) or not isinstance(params, dict):
        return
    try:
        cls = registry.model(model)
    except AgoraError:  # unknown, or its code cannot be loaded: Inject.parse says so
        return
    for name, value in params.items():
        declared = param_spec(cls.params, name)
        if declared is None or declared.type not in _PARAM_KINDS:
            continue
        kinds, said = _PARAM_KINDS[declared.type]
        if isinstance(value, bool) != (declared.type is bool) or not isinstance(value, kinds):
            raise BadParameterError(
                f"parameter {name[:60]} of {model} must be {said} in JSON, not {json.dumps(value)[:30]}"
            )
    Plugin.validate.__func__(cls, dict(params))  # type: ignore[attr-defined]  # the declared range of each
    try:
        cls.validate(dict(params))
    except PluginError:  # its check crashed: Inject.parse keeps the parameters and the session says why
        return
    except BadParameterError as exc:
        raise RuleError(str(exc)) from None


def _refuse_invalid_unicode(data: Any) -> None:
    """Refuse a body holding a string that is not valid Unicode (a lone surrogate such as ``"\\ud800"``,
    which JSON can spell but UTF-8 cannot hold).

    Raises:
        BadParameterError: such a string, as a key or a value.
    """
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise BadParameterError(
                    f"the body holds text that is not valid Unicode ({item[:30]!r} has a lone "
                    "surrogate): send UTF-8 text"
                ) from None


async def _client_gone(request: Request) -> None:
    """Returns when the client has closed its connection (the request's whole body was read before: what the
    server receives next is the connection's end)."""
    while True:
        message = await request.receive()
        if message.get("type") == "http.disconnect":
            return


def _late_outcome(work: asyncio.Future) -> None:
    """What became of a request that answered 503 past its deadline: a bug is logged with its traceback."""
    if work.cancelled():
        return
    exc = work.exception()
    if exc is not None and not isinstance(exc, AgoraError):
        _log_exception("a request that had answered 503 past its deadline failed", exc)


def _sse(kind: str, data: dict[str, Any]) -> str:
    """One Server-Sent Event (the data is one line of JSON: text in it is escaped, never raw)."""
    head = f"id: {data['seq']}\n" if "seq" in data else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data, default=str)}\n\n"
