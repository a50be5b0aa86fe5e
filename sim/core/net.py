"""Sockets of the servers Agora runs (``agora serve``, the metrics endpoint): which hosts are this machine
only, a listening socket that answers keep-alive requests without Nagle's delay, and how many connections
fit under the process's open-file limit."""

from __future__ import annotations

import contextlib
import ipaddress
import socket

try:
    import resource
except ImportError:  # pragma: no cover - Windows has no resource module
    resource = None  # type: ignore[assignment]

from sim.errors import BadParameterError

#: Host names that always mean this machine.
LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost", "ip6-loopback"})
#: Open files kept for the process itself beside its connections: the world file, its journal and lock, a
#: snapshot being read or written, plugins, the event loop's own descriptors (a server holds 13 at rest).
FILE_RESERVE = 64
#: Connections accepted in one go (asyncio's accept batch: uvicorn's ``backlog``).
ACCEPT_BATCH = 16
#: Connections accepted and not yet closed when they are past the bound: asyncio hands a batch to its
#: protocol two turns of the event loop after accepting it and closes it the turn after, accepting a batch
#: at every turn meanwhile.
ACCEPTING = 4 * ACCEPT_BATCH
#: Connections the kernel holds for the server to accept (they cost the process no open file).
LISTEN_QUEUE = 1024
#: The most connections past the bound kept open at once, for a moment, to answer them 503.
MAX_REFUSING = 32
#: Open files a server keeps beside the connections it serves.
KEPT_FILES = FILE_RESERVE + ACCEPTING + MAX_REFUSING
#: The most connections a server holds at once unless told otherwise (fewer under a low open-file limit).
MAX_CONNECTIONS = 1024


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, IPv6 in brackets or not, without a port) is this machine only."""
    name = host.strip().lower().rstrip(".")
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def listen(host: str, port: int) -> socket.socket:
    """A listening, non-blocking TCP socket on ``host:port`` with ``TCP_NODELAY``.

    The protocol number matters: asyncio turns Nagle off (``TCP_NODELAY``) only on sockets that say they
    are TCP, and without it a keep-alive request waits ~40 ms for the delayed ACK of the one before.

    Raises:
        BadParameterError: the port is out of range, or the address cannot be bound (in use, not this
            machine's, no permission).
    """
    if not 0 <= port <= 65535:
        raise BadParameterError(f"port {port} is out of range: use 1 to 65535, or 0 for a free port", fields="port")
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise BadParameterError(
            f"host {host!r} is not an address of this machine ({exc.strerror}): use 127.0.0.1 or 0.0.0.0",
            fields="host",
        ) from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto or socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    with contextlib.suppress(OSError):  # Linux hands it on to accepted sockets too
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise BadParameterError(
            f"cannot listen on {host}:{port} ({exc.strerror}): choose another port (0 picks a free one) or host",
            fields=("port", "host"),
        ) from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


def open_file_limit() -> int | None:
    """The process's soft limit on open files (``ulimit -n``); None when there is none or it is unknown."""
    if resource is None:  # pragma: no cover
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY or soft < 0 else int(soft)


def connection_room(limit: int | None = None) -> int | None:
    """How many connections fit under the open-file limit ``limit`` (default: this process's) beside
    :data:`FILE_RESERVE`, :data:`ACCEPTING` and :data:`MAX_REFUSING`; None when there is no limit."""
    limit = open_file_limit() if limit is None else limit
    return None if limit is None else max(0, limit - KEPT_FILES)


def max_connections(wanted: int | None, option: str = "max_connections") -> int:
    """The bound on open connections: ``wanted``, or :data:`MAX_CONNECTIONS` lowered to what fits under
    the open-file limit when None.

    Raises:
        BadParameterError: ``wanted`` is below 1 or does not fit under the open-file limit.
    """
    room = connection_room()
    if wanted is None:
        if room is not None and room < 1:
            raise BadParameterError(
                f"the open-file limit is {open_file_limit():,} (ulimit -n), too low to serve connections beside "
                f"the {KEPT_FILES} files a server keeps: raise it to at least {KEPT_FILES + 16}"
            )
        return MAX_CONNECTIONS if room is None else min(MAX_CONNECTIONS, room)
    if wanted < 1:
        raise BadParameterError(f"{option} {wanted} is out of range: give at least 1", fields=option)
    if room is not None and wanted > room:
        raise BadParameterError(
            f"{option} {wanted:,} does not fit under the open-file limit of {open_file_limit():,} (ulimit -n) "
            f"with {KEPT_FILES} kept for the world and for connections being accepted: give at most {room:,}, or "
            "raise the limit",
            fields=option,
        )
    return wanted
