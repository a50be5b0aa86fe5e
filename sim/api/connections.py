"""The server's connections: uvicorn's h11 protocol with a deadline for a request's headers and a bound on
the connections open at once.

uvicorn times out an idle keep-alive connection (``timeout_keep_alive``) but gives a connection that is
still sending its headers no deadline at all: a client that sends one byte every few seconds holds a
connection, and an open file, for ever, and a few hundred of them exhaust the process's open-file limit.
Its ``limit_concurrency`` answers 503 only once a request's headers are complete, which such a client
never reaches. So:

- From the moment a connection opens, and from the first byte of each later request on it, its headers
  must be complete within ``header_timeout`` seconds; otherwise it is answered 408 (one sentence) and
  closed. A body has the request's own deadline (``sim.api.app``).
- Past ``max_connections`` open connections (WebSockets and event streams included), a new one is answered
  503 at once (one sentence, ``Retry-After: 1``) and closed as soon as its request has arrived, and at
  most :data:`REFUSE_GRACE` seconds later; at most ``MAX_REFUSING`` of those wait at once, others are
  closed at once. The connections within the bound are served as before.

The server accepts at most ``ACCEPT_BATCH`` connections in one go (``uvicorn.Config(backlog=...)``), so the
files open at once stay under the bound plus ``sim.core.net.KEPT_FILES``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from sim.core.net import MAX_REFUSING

#: Seconds a request's headers may take to arrive unless told otherwise (``agora serve --header-timeout``).
HEADER_TIMEOUT = 10.0
#: Seconds a refused connection waits for its request before it is closed (closing a socket with unread
#: bytes resets it, and the client might lose the 503 it was sent).
REFUSE_GRACE = 0.5


def _answer(status: int, reason: str, message: str, extra: str = "") -> bytes:
    """A whole HTTP/1.1 answer that closes the connection, its body ``{"error": message}``."""
    body = json.dumps({"error": message}, ensure_ascii=True).encode("ascii")
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
        f"connection: close\r\n{extra}\r\n"
    )
    return head.encode("ascii") + body


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a header deadline and a connection bound (see the module docstring).
    Make a class for one server with :func:`bounded_protocol`."""

    header_timeout: ClassVar[float] = HEADER_TIMEOUT
    max_connections: ClassVar[int] = 1024
    #: The refused connections still waiting for their request (one set per server's class).
    refusing: ClassVar[set[asyncio.BaseTransport]] = set()
    late: ClassVar[bytes] = b""
    busy: ClassVar[bytes] = b""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.max_connections:
            self._refuse(transport)
            return
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._refused:  # its request has arrived (and is dropped): the 503 is on its way, close
            self.transport.close()
            return
        if self._header_deadline is None and self.conn.their_state is h11.IDLE:
            self._arm()  # the first bytes of the next request on a kept-alive connection
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the headers are complete (or the connection failed)
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._refused:
            self.refusing.discard(self.transport)
            return
        super().connection_lost(exc)

    def _refuse(self, transport: asyncio.Transport) -> None:
        self._refused = True
        self.transport = transport
        transport.write(self.busy)
        if len(self.refusing) >= MAX_REFUSING:
            transport.close()
            return
        self.refusing.add(transport)
        self._header_deadline = self.loop.call_later(REFUSE_GRACE, transport.close)

    def _arm(self) -> None:
        self._disarm()
        self._header_deadline = self.loop.call_later(self.header_timeout, self._headers_late)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_late(self) -> None:
        self._header_deadline = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        self.transport.write(self.late)
        self.transport.close()


def bounded_protocol(header_timeout: float = HEADER_TIMEOUT, max_connections: int = 1024) -> type[H11Protocol]:
    """The protocol class for one server (``uvicorn.Config(http=...)``): request headers must arrive within
    ``header_timeout`` seconds, and at most ``max_connections`` connections are open at once."""
    late = _answer(
        408,
        "Request Timeout",
        f"the request's headers did not arrive within {header_timeout:g} s (--header-timeout): send them at once",
    )
    busy = _answer(
        503,
        "Service Unavailable",
        f"the server has {max_connections:,} connections open, the most it serves at once (--max-connections): "
        "try again shortly",
        "retry-after: 1\r\n",
    )
    attributes = {
        "header_timeout": header_timeout,
        "max_connections": max_connections,
        "refusing": set(),
        "late": late,
        "busy": busy,
    }
    return type("ServedH11Protocol", (BoundedH11Protocol,), attributes)
