"""The API's routes: a Starlette application over a :class:`~sim.engine.host.WorldHost`.

Every ``/api/v1`` route needs a bearer token (:mod:`sim.api.tokens`) when the server has any: a missing or
wrong one is refused with 401, a read-only token that asks to change something with 403. Bodies and
answers are JSON; an error is ``{"error": "one sentence"}`` with 400 (malformed JSON, a bad value), 404
(an unknown id or name), 409 (what the current state forbids) or 503 (a full disk). Calls that change
the world are serialised by the host and recorded in the world's audit log under the token's name.

``GET /api/v1/events`` is a Server-Sent Events stream: a ``hello`` event with the world's state, then one
``tick`` event per tick while the world runs (the dashboard's figures and every live session's counts),
and ``message``, ``session_started``, ``session_finished``, ``state``, ``load`` events as they happen.
``/api/v1/live`` carries the same events over a WebSocket, one JSON message each.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from sim.api.tokens import WS_PROTOCOL, Token, Tokens
from sim.engine.host import NotFoundError, StateError, WorldHost
from sim.errors import AgoraError, BadFileError, BadParameterError, ResourceError

Handler = Callable[[Request], Awaitable[Response]]
#: Seconds between keep-alive comments on an idle event stream.
KEEPALIVE = 15.0
#: The largest body a call takes (a message's text included).
MAX_BODY = 1 << 20


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class App:
    """The routes of one served world (``app`` is the ASGI application)."""

    def __init__(self, host: WorldHost, tokens: Tokens, *, monitor: Any = None) -> None:
        self.host = host
        self.tokens = tokens
        self.monitor = monitor
        self.closing = asyncio.Event()
        v1 = "/api/v1"
        routes = [
            Route(f"{v1}/world", self.guard(self.world), methods=["GET"]),
            Route(f"{v1}/messages", self.guard(self.messages, changes=True), methods=["POST"]),
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
            Route(f"{v1}/events", self.guard(self.stream), methods=["GET"]),
            WebSocketRoute(f"{v1}/live", self.live),
            Route(f"{v1}/openapi.json", self.guard(self.openapi), methods=["GET"]),
        ]
        if monitor is not None:
            routes += [Route("/metrics", self.metrics, methods=["GET"]), Route("/healthz", self.health, methods=["GET"])]
        self.app = Starlette(routes=routes, exception_handlers={404: self.not_found, 405: self.not_allowed})

    # -- the guard: tokens, errors, JSON ---------------------------------------------------------------
    def guard(self, handler: Callable[..., Awaitable[Response]], *, changes: bool = False) -> Handler:
        async def guarded(request: Request) -> Response:
            token: Token | None = None
            if self.tokens:
                token = self.tokens.check(request.headers.get("authorization"))
                if token is None:
                    res = error(401, "a valid bearer token is needed: send 'Authorization: Bearer TOKEN'")
                    res.headers["WWW-Authenticate"] = 'Bearer realm="agora"'
                    return res
                if changes and token.read_only:
                    return error(403, f"token {token.name!r} may only read: use a token that may change the world")
            try:
                return await handler(request, token.name if token else None)
            except NotFoundError as exc:
                return error(404, str(exc))
            except StateError as exc:
                return error(409, str(exc))
            except ResourceError as exc:
                return error(503, str(exc))
            except (BadParameterError, BadFileError) as exc:
                return error(400, str(exc))
            except AgoraError as exc:
                return error(400, str(exc))

        guarded.__name__ = handler.__name__
        return guarded

    @staticmethod
    async def body(request: Request, *, empty_ok: bool = True) -> dict[str, Any]:
        """The JSON object of the request's body ({} when it is empty and that is allowed).

        Raises:
            BadParameterError: not JSON, or not an object.
        """
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
            raise BadParameterError(f"the body is {int(declared):,} bytes, more than the {MAX_BODY:,} a call takes: send less")
        raw = b""
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > MAX_BODY:
                raise BadParameterError(f"the body is more than the {MAX_BODY:,} bytes a call takes: send less")
        if not raw.strip():
            if empty_ok:
                return {}
            raise BadParameterError("the body is empty: send a JSON object")
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise BadParameterError(f"the body is not valid JSON ({str(exc)[:80]}): send a JSON object") from None
        if not isinstance(data, dict):
            raise BadParameterError(f"the body is a JSON {type(data).__name__}, not an object: send {{...}}")
        return data

    @staticmethod
    def only(data: dict[str, Any], allowed: tuple[str, ...]) -> None:
        extra = sorted(set(data) - set(allowed))
        if extra:
            raise BadParameterError(f"unknown field {extra[0]!r}: the fields are {', '.join(allowed)}")

    async def not_found(self, request: Request, exc: Exception) -> Response:
        return error(404, f"no route {request.url.path[:100]!r}: GET /api/v1/openapi.json lists them")

    async def not_allowed(self, request: Request, exc: Exception) -> Response:
        return error(405, f"{request.method} is not allowed on {request.url.path[:100]!r}: GET /api/v1/openapi.json lists the routes")

    # -- routes -------------------------------------------------------------------------------------------
    async def world(self, request: Request, actor: str | None) -> Response:
        return JSONResponse(self.host.summary())

    async def messages(self, request: Request, actor: str | None) -> Response:
        data = await self.body(request, empty_ok=False)
        self.only(data, ("text", "model", "params", "seeds", "topics", "author", "priority"))
        if "text" not in data and data.get("author") is None:
            raise BadParameterError("the message has no text: give \"text\", or an \"author\" to write it")
        session = await self.host.inject(text=data.get("text"), model=data.get("model", "ic"), params=data.get("params"),
                                         seeds=data.get("seeds", "random:10"), topics=data.get("topics"),
                                         author=data.get("author"), priority=data.get("priority", 0), actor=actor)
        return JSONResponse({"session": session.id, "message": session.message_id, "status": session.status}, status_code=201)

    async def step(self, request: Request, actor: str | None) -> Response:
        data = await self.body(request)
        self.only(data, ("ticks",))
        return JSONResponse(await self.host.step(data.get("ticks", 1), actor=actor))

    async def run(self, request: Request, actor: str | None) -> Response:
        data = await self.body(request)
        self.only(data, ("ticks_per_second",))
        return JSONResponse(await self.host.run(data.get("ticks_per_second"), actor=actor))

    async def pause(self, request: Request, actor: str | None) -> Response:
        await self.body(request)
        return JSONResponse(await self.host.pause(actor=actor))

    async def sessions(self, request: Request, actor: str | None) -> Response:
        return JSONResponse({"sessions": self.host.sessions()})

    async def session(self, request: Request, actor: str | None) -> Response:
        return JSONResponse(self.host.session_record(request.path_params["id"], series=True))

    async def agent(self, request: Request, actor: str | None) -> Response:
        return JSONResponse(self.host.agent(request.path_params["id"]))

    async def communities(self, request: Request, actor: str | None) -> Response:
        return JSONResponse({"communities": await self.host.communities()})

    async def snapshots(self, request: Request, actor: str | None) -> Response:
        return JSONResponse({"snapshots": self.host.list_snapshots()})

    async def save(self, request: Request, actor: str | None) -> Response:
        data = await self.body(request, empty_ok=False)
        self.only(data, ("name",))
        if "name" not in data:
            raise BadParameterError("the snapshot has no name: send {\"name\": \"...\"}")
        return JSONResponse(await self.host.save_snapshot(data["name"], actor=actor), status_code=201)

    async def load(self, request: Request, actor: str | None) -> Response:
        await self.body(request)
        return JSONResponse(await self.host.load_snapshot(request.path_params["name"], actor=actor))

    async def openapi(self, request: Request, actor: str | None) -> Response:
        from sim.api.openapi import spec

        return JSONResponse(spec())

    async def stream(self, request: Request, actor: str | None) -> Response:
        listener = self.host.events.subscribe()

        async def events() -> AsyncIterator[str]:
            try:
                yield _sse("hello", {"type": "hello", **self.host.summary()})
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
                    yield _sse(event["type"], event)
            finally:
                self.host.events.unsubscribe(listener)

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    async def live(self, websocket: WebSocket) -> None:
        """The event stream over a WebSocket (``/api/v1/live``): each event one JSON text message, ``type``
        included. The token goes in the handshake's ``Authorization`` header or, from a browser (which
        cannot set that header), as the subprotocol ``agora.bearer.<unpadded base64url token>`` beside
        ``agora.v1``; refused with 401 before the socket opens."""
        offered = websocket.headers.get("sec-websocket-protocol")
        if self.tokens and self.tokens.check(websocket.headers.get("authorization")) is None \
                and self.tokens.check_protocols(offered) is None:
            await websocket.send_denial_response(error(
                401, "a valid bearer token is needed: send 'Authorization: Bearer TOKEN' or offer the "
                     "subprotocol agora.bearer.<the token in unpadded base64url>"))
            return
        # The chosen subprotocol is agora.v1 when offered; the one carrying the token is never echoed.
        wanted = [p.strip() for p in (offered or "").split(",")]
        await websocket.accept(subprotocol=WS_PROTOCOL if WS_PROTOCOL in wanted else None)
        listener = self.host.events.subscribe()
        gone = asyncio.ensure_future(self._until_closed(websocket))
        try:
            await websocket.send_text(json.dumps({"type": "hello", **self.host.summary()}, default=str))
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


def _sse(kind: str, data: dict[str, Any]) -> str:
    """One Server-Sent Event (the data is one line of JSON: text in it is escaped, never raw)."""
    head = f"id: {data['seq']}\n" if "seq" in data else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data, default=str)}\n\n"
