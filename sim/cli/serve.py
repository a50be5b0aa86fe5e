"""``agora serve WORLD``: serve a world over HTTP (``sim.api``) until interrupted.

The world runs on the same asyncio core the terminal UI uses (``sim.live.controller.WorldController``); uvicorn
serves the Starlette application on that loop. Ctrl-C or SIGTERM stop the server (LLM estimates under way stop
before their next tick, and their calls answer 503), checkpoint the world and close its file, and the process
exits; ``kill -9`` loses at most the ticks since the last checkpoint (``--checkpoint-every``).

Every server has a token: given none (``$AGORA_API_TOKEN``, ``--token-file``), one bound to this machine
makes one and writes it to ``WORLD.token`` (0600), printing that file's path. A checkpoint that fails is
said on stderr (once, and once when one succeeds again); the stop message names the tick the file really
holds, and the exit code is 1 when the final checkpoint failed.

A request's headers must arrive within ``--header-timeout`` seconds and at most ``--max-connections``
connections are open at once (``sim.api.connections``; the default fits under the open-file limit); the
world holds at most ``--max-messages`` messages and ``--max-interventions`` interventions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from typing import Any

import uvicorn

from sim.api.app import App
from sim.api.connections import bounded_protocol
from sim.api.tokens import Tokens, generate_token_file, remove_token_file, token_file_for
from sim.cli.args import social_changes
from sim.cli.llm import llm_overrides, refuse_unused_llm
from sim.core.events import PropagationFailed, RecommenderFailed
from sim.core.net import ACCEPT_BATCH, LISTEN_QUEUE, is_loopback, listen, max_connections
from sim.core.safe import shown
from sim.core.tracebacks import one_line, plugin_location
from sim.engine.observe import Monitor
from sim.errors import BadParameterError
from sim.live.controller import WorldController
from sim.model.intervene import MAX_ENTRIES
from sim.runs.runner import check_social_params


def _write_port(path: str, port: int) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(f"{port}\n")
    os.replace(tmp, path)


async def serve(args: argparse.Namespace) -> int:
    """Serve ``args.world`` until interrupted; the exit code (1 when the last checkpoint failed).

    Raises:
        BadParameterError: an option out of range, or no token for a server other machines can reach.
    """
    tokens, connections = _checked(args)
    sock = listen(args.host, args.port)
    host = None
    monitor = None
    generated = None
    try:
        changes = social_changes(args)
        host = await _open(args, changes)
        _configure(host, args, changes)
        if args.metrics:
            monitor = Monitor()
            host.attach_monitor(monitor)
        if not tokens:  # every server has a token: one of its own, in a file only its user can read
            generated = (token_file_for(args.world), generate_token_file(token_file_for(args.world)))
            tokens = Tokens([generated[1]])
        port = sock.getsockname()[1]
        api = App(
            host, tokens, monitor=monitor, allowed_hosts=_allowed_hosts(args), port=port, deadline=args.request_timeout
        )
        server = _server(api, args.header_timeout, connections)
        await _serve_until_stopped(server, api, sock, args, _tokens_said(tokens, generated and generated[0]))
        saved = await host.close()
        _say_stopped(host, args.world, saved)
        host = None
        return 0 if saved else 1
    finally:
        if host is not None:  # an error: still close the world file (its last checkpoint stands)
            with contextlib.suppress(Exception):
                await host.close()
        if monitor is not None:
            monitor.detach()
        if generated is not None:
            remove_token_file(*generated)
        sock.close()


def _checked(args: argparse.Namespace) -> tuple[Tokens, int]:
    """The tokens given and the most connections open at once, once the options are checked.

    Raises:
        BadParameterError: an option out of range, or no token for a server other machines can reach.
    """
    tokens = Tokens.from_sources(args.token_file, args.read_token_file)
    if not tokens and not is_loopback(args.host):
        raise BadParameterError(
            f"--host {args.host} lets other machines in, and no token was given: set $AGORA_API_TOKEN "
            "or give --token-file FILE (or serve on 127.0.0.1)"
        )
    if not 1 <= args.max_messages <= 10_000_000:
        raise BadParameterError(f"--max-messages {args.max_messages} is out of range: give 1 to 10,000,000")
    if not 1 <= args.max_interventions <= MAX_ENTRIES:
        raise BadParameterError(
            f"--max-interventions {args.max_interventions} is out of range: give 1 to {MAX_ENTRIES:,}"
        )
    connections = max_connections(args.max_connections)
    if args.port_file and os.path.isdir(args.port_file):
        raise BadParameterError(f"--port-file {args.port_file!r} is a folder: give a file name")
    return tokens, connections


async def _open(args: argparse.Namespace, changes: dict[str, Any]) -> WorldController:
    """The world opened for serving, with the command's plugins, living-network and LLM settings and checkpoints."""
    return await WorldController.open(
        args.world,
        plugin_dirs=args.plugins,
        social=changes or None,
        llm=llm_overrides(args) or None,
        plugin_budget=args.plugin_budget,
        snapshots=args.snapshots,
        checkpoint_every=50 if args.checkpoint_every is None else args.checkpoint_every,
        checkpoint_seconds=args.checkpoint_seconds or 60.0,
        check_llm=lambda config: refuse_unused_llm(args, config, command="run"),
        max_messages=args.max_messages,
    )


def _configure(host: WorldController, args: argparse.Namespace, changes: dict[str, Any]) -> None:
    """Give the served world the server's bounds and way of answering, check the living-network settings, and
    say its failures and checkpoints on stderr (for every simulation a loaded snapshot brings too)."""
    _bound(host.sim, args)
    host.on_replace.append(lambda sim: _bound(sim, args))
    host.acknowledge = args.acknowledge
    if changes:
        check_social_params(host.sim.social.settings, changes)
    _say_failures(host.sim)
    host.on_replace.append(_say_failures)
    host.checkpoints.on_checkpoint.append(lambda failure, tick: _say_checkpoint(args.world, failure, tick))


def _allowed_hosts(args: argparse.Namespace) -> list[str]:
    """The Host headers answered beside loopback ones: ``--allow-host``'s and the address it listens on."""
    allowed = list(args.allow_host)
    if not is_loopback(args.host) and args.host.strip("[]") not in ("0.0.0.0", "::"):
        allowed.append(args.host.strip("[]").lower())  # the address it was told to listen on
    return allowed


def _tokens_said(tokens: Tokens, written_to: str | None) -> str:
    """The tokens a server accepts, as its start message names them (``written_to``: the file of the one it made)."""
    who = ", ".join(f"{t.name}{' (read-only)' if t.read_only else ''}" for t in tokens.tokens)
    if written_to is not None:
        who += f", made for this run and written to {written_to}: send it as 'Authorization: Bearer TOKEN'"
    return who


def _server(api: App, header_timeout: float, connections: int) -> Any:
    """The uvicorn server of ``api``: headers within ``header_timeout`` seconds, at most ``connections`` open."""
    config = uvicorn.Config(
        api.app,
        http=bounded_protocol(header_timeout, connections),
        backlog=ACCEPT_BATCH,  # accepted in one go, all open before one past the bound is closed
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=3,
    )
    return _server_class()(config)


async def _serve_until_stopped(server: Any, api: App, sock: Any, args: argparse.Namespace, who: str) -> None:
    """Serve on ``sock`` until Ctrl-C or SIGTERM; once it listens, write ``--port-file`` and say where on stderr."""
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
        # asyncio listened with the accept batch as its queue; the kernel's queue costs no open file and
        # may be longer, so a burst of connections waits there rather than being dropped (a second's retry)
        sock.listen(LISTEN_QUEUE)
        port = sock.getsockname()[1]
        if args.port_file:
            _write_port(args.port_file, port)
        shown_host = f"[{args.host}]" if ":" in args.host else args.host
        sys.stderr.write(
            f"agora: serving {args.world} on http://{shown_host}:{port}/api/v1 (tokens: {who}); Ctrl-C stops\n"
        )
        sys.stderr.flush()
    await task


def _say_stopped(host: WorldController, world: str, saved: bool) -> None:
    """Say on stderr that the server stopped, and the tick the world file holds (not the last when the final
    checkpoint failed)."""
    if saved:
        sys.stderr.write(f"agora: stopped; {world} checkpointed at tick {host.disk_tick}\n")
    else:
        sys.stderr.write(
            f"agora: stopped, but the last checkpoint failed ({host.checkpoints.failure}); {world} "
            f"holds tick {host.disk_tick}, not {host.world.tick}: the ticks after it are lost\n"
        )
    sys.stderr.flush()


def _bound(sim: Any, args: argparse.Namespace) -> None:
    """Give the simulation the server's bounds: the engine skips a counter-message that would pass
    ``max_messages`` (``sim.engine.intervene``), the controller refuses interventions past ``max_interventions``."""
    sim.max_messages = args.max_messages
    sim.max_interventions = args.max_interventions


def _say_checkpoint(world: str, failure: str | None, tick: int) -> None:
    """Say on stderr that checkpoints of the world file began to fail, or succeed again."""
    if failure is not None:
        text = f"checkpoint failed: {failure}; calls that change the world answer 503 until one succeeds"
    else:
        text = f"checkpoint succeeded again: {world} holds tick {tick}"
    sys.stderr.write(f"agora: {text}\n")
    sys.stderr.flush()


def _say_failures(sim: Any) -> None:
    """Say on stderr, as they happen, that a session failed or a recommender was switched off (with the
    plugin's file:line): whoever started the server sees what its clients see on the event stream."""

    def say(event: Any) -> None:
        where = plugin_location(event.traceback)
        at = f" at {shown(where, 300)}" if where else ""
        if isinstance(event, RecommenderFailed):
            what = "friend recommender" if event.name.startswith("friend:") else "recommender"
            text = (
                f"{what} {shown(event.name.removeprefix('friend:'), 100)} failed at tick {event.tick} and was switched "
                f"off: {shown(one_line(event.error) or '', 500)}{at}"
            )
        else:
            text = (
                f"session {event.session_id} failed at tick {event.tick}: {shown(one_line(event.error) or '', 500)}{at}"
            )
        sys.stderr.write(f"agora: {text}\n")
        sys.stderr.flush()

    sim.bus.subscribe(say, RecommenderFailed, PropagationFailed)


def _server_class() -> Any:
    class Server(uvicorn.Server):
        """uvicorn's server without its own signal handling: it would re-raise SIGTERM after shutting down,
        ending the process before the world is checkpointed. ``serve`` handles the signals instead."""

        def capture_signals(self) -> Any:  # uvicorn declares a generator context manager
            return contextlib.nullcontext()

    return Server


def handle(args: argparse.Namespace) -> Any:
    return serve(args)  # a coroutine: main runs it
