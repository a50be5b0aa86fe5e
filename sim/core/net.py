"""Sockets of the servers Agora runs (``agora serve``, the metrics endpoint): which hosts are this machine
only, and a listening socket that answers keep-alive requests without Nagle's delay."""

from __future__ import annotations

import contextlib
import ipaddress
import socket

from sim.errors import BadParameterError

#: Host names that always mean this machine.
LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost", "ip6-loopback"})


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
        raise BadParameterError(f"--port {port} is out of range: use 1 to 65535, or 0 for a free port")
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise BadParameterError(
            f"--host {host!r} is not an address of this machine ({exc.strerror}): use 127.0.0.1 or 0.0.0.0"
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
            f"cannot listen on {host}:{port} ({exc.strerror}): choose another --port (0 picks a free one) or --host"
        ) from None
    sock.listen(128)
    sock.setblocking(False)
    return sock
