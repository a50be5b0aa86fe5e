"""``agora serve WORLD``: serve a world over HTTP (``sim.api``) until interrupted.

The world runs on the same asyncio core the terminal UI uses (``sim.engine.host.WorldHost``); uvicorn
serves the Starlette application on that loop. Ctrl-C or SIGTERM stop the server, checkpoint the world and
close its file; ``kill -9`` loses at most the ticks since the last checkpoint (``--checkpoint-every``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import os
import signal
import socket
import sys
from typing import Any

from sim.errors import BadParameterError


def add_commands(sub: Any) -> None:
    from sim.cli.llm import add_llm_arguments
    from sim.cli.main import _checkpoint_arguments, _int, _non_negative_float, _social_arguments

    p = sub.add_parser(
        "serve", help="serve a world over HTTP: a management API with a live event stream, behind a token",
        description="Serve a world over HTTP until interrupted: inject messages, step, run and pause it, read its "
        "sessions, agents and communities, save and load snapshots, and follow its live events "
        "(GET /api/v1/events, Server-Sent Events). Every /api/v1 route needs a bearer token from $AGORA_API_TOKEN "
        "or --token-file (read-only ones from --read-token-file); a server on an address other than this machine's "
        "refuses to start without one. The routes are described at /api/v1/openapi.json and in docs/api.md.")
    p.add_argument("world", metavar="WORLD")
    p.add_argument("--host", default="127.0.0.1", metavar="HOST",
                   help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0 or :: for every interface)")
    p.add_argument("--port", type=_int, default=8765, metavar="PORT", help="port (default 8765; 0 picks a free one)")
    p.add_argument("--port-file", metavar="FILE", help="write the port to FILE once the server listens")
    p.add_argument("--token-file", action="append", default=[], metavar="FILE",
                   help="a token that may do everything, on the first line of FILE (named after the file; repeatable)")
    p.add_argument("--read-token-file", action="append", default=[], metavar="FILE",
                   help="a token that may only read (GET), on the first line of FILE (repeatable)")
    p.add_argument("--snapshots", metavar="DIR", help="folder of the snapshots it saves and loads (default: the world file's)")
    p.add_argument("--metrics", action="store_true", help="also serve Prometheus /metrics and /healthz (no token needed)")
    p.add_argument("--plugins", action="append", default=[], metavar="DIR", help="load user plugins from DIR (repeatable)")
    p.add_argument("--plugin-budget", type=_non_negative_float, metavar="S",
                   help="seconds one plugin call may take before its session fails (default: $AGORA_PLUGIN_BUDGET, else 10)")
    _social_arguments(p, "while served (default: the world's setting)")
    add_llm_arguments(p)
    _checkpoint_arguments(p)


def loopback(host: str) -> bool:
    """Whether ``host`` is an address (or name) of this machine only."""
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``.

    Raises:
        BadParameterError: the address cannot be bound (in use, not this machine's, no permission).
    """
    if not 0 <= port <= 65535:
        raise BadParameterError(f"--port {port} is out of range: use 1 to 65535, or 0 for a free port")
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise BadParameterError(f"--host {host!r} is not an address of this machine ({exc.strerror}): use 127.0.0.1 or 0.0.0.0") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise BadParameterError(f"cannot listen on {host}:{port} ({exc.strerror}): choose another --port (0 picks a "
                                "free one) or --host") from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _write_port(path: str, port: int) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(f"{port}\n")
    os.replace(tmp, path)


async def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from sim.api.app import App
    from sim.api.tokens import Tokens
    from sim.cli.llm import llm_overrides, refuse_unused_llm
    from sim.cli.main import _check_social_params, _social_changes
    from sim.engine.host import WorldHost

    tokens = Tokens.from_sources(args.token_file, args.read_token_file)
    if not tokens and not loopback(args.host):
        raise BadParameterError(f"--host {args.host} lets other machines in, and no token was given: set $AGORA_API_TOKEN "
                                "or give --token-file FILE (or serve on 127.0.0.1)")
    if args.port_file and os.path.isdir(args.port_file):
        raise BadParameterError(f"--port-file {args.port_file!r} is a folder: give a file name")
    sock = _bind(args.host, args.port)
    host = None
    monitor = None
    try:
        changes = _social_changes(args)
        host = await WorldHost.open(
            args.world, plugin_dirs=args.plugins, social=changes or None, llm=llm_overrides(args) or None,
            plugin_budget=args.plugin_budget, snapshots=args.snapshots,
            checkpoint_every=50 if args.checkpoint_every is None else args.checkpoint_every,
            checkpoint_seconds=args.checkpoint_seconds or 60.0,
            check_llm=lambda config: refuse_unused_llm(args, config, command="run"))
        if changes:
            _check_social_params(host.sim.social.settings, changes)
        _say_failures(host.sim)
        host.on_replace.append(_say_failures)
        if args.metrics:
            from sim.engine.observe import Monitor

            monitor = Monitor()
            monitor.attach(host.sim, host.sim.writer, active=lambda: host.running)
            host.on_replace.append(lambda sim: monitor.attach(sim, sim.writer, active=lambda: host.running))
        api = App(host, tokens, monitor=monitor)
        config = uvicorn.Config(api.app, log_level="warning", access_log=False, lifespan="off",
                                timeout_graceful_shutdown=3)
        server = _server_class()(config)
        loop = asyncio.get_running_loop()
        def stop() -> None:  # stop serving (event streams end too), then checkpoint and close the world file
            server.should_exit = True
            api.closing.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        if server.started:
            port = sock.getsockname()[1]
            if args.port_file:
                _write_port(args.port_file, port)
            who = ", ".join(f"{t.name}{' (read-only)' if t.read_only else ''}" for t in tokens.tokens) or "none: anyone on this machine"
            shown_host = f"[{args.host}]" if ":" in args.host else args.host
            sys.stderr.write(f"agora: serving {args.world} on http://{shown_host}:{port}/api/v1 (tokens: {who}); "
                             "Ctrl-C stops\n")
            sys.stderr.flush()
        await task
        await host.close()
        sys.stderr.write(f"agora: stopped; {args.world} checkpointed at tick {host.world.tick}\n")
        host = None
        return 0
    finally:
        if host is not None:  # an error: still close the world file (its last checkpoint stands)
            with contextlib.suppress(Exception):
                await host.close()
        if monitor is not None:
            monitor.detach()
        sock.close()


def _say_failures(sim: Any) -> None:
    """Say on stderr, as they happen, that a session failed or a recommender was switched off (with the
    plugin's file:line): whoever started the server sees what its clients see on the event stream."""
    from sim.core.events import PropagationFailed, RecommenderFailed
    from sim.core.safe import shown
    from sim.core.tracebacks import one_line, plugin_location

    def say(event: Any) -> None:
        where = plugin_location(event.traceback)
        at = f" at {shown(where, 300)}" if where else ""
        if isinstance(event, RecommenderFailed):
            what = "friend recommender" if event.name.startswith("friend:") else "recommender"
            text = (f"{what} {shown(event.name.removeprefix('friend:'), 100)} failed at tick {event.tick} and was switched "
                    f"off: {shown(one_line(event.error) or '', 500)}{at}")
        else:
            text = f"session {event.session_id} failed at tick {event.tick}: {shown(one_line(event.error) or '', 500)}{at}"
        sys.stderr.write(f"agora: {text}\n")
        sys.stderr.flush()

    sim.bus.subscribe(say, RecommenderFailed, PropagationFailed)


def _server_class() -> Any:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server without its own signal handling: it would re-raise SIGTERM after shutting down,
        ending the process before the world is checkpointed. ``serve`` handles the signals instead."""

        def capture_signals(self):  # type: ignore[override]
            return contextlib.nullcontext()

    return Server


def handle(args: argparse.Namespace) -> Any:
    return serve(args)  # a coroutine: main runs it
