"""The terminal UI in a browser (``agora tui WORLD --serve [--port P]``, issue 77), through textual-serve: each
browser tab that connects runs ``agora tui WORLD`` in a process of its own, its screen drawn in the page by
xterm.js.

**Only this machine, only with the token.** The server listens on 127.0.0.1 alone, and every page and its WebSocket
need the token printed with the URL (``http://127.0.0.1:8566/?token=...``, a new one each start, as Jupyter does):
the page checks it in its query, the WebSocket in its path (``/ws/TOKEN``: textual-serve's page adds the terminal's
size to the WebSocket's query), each compared in constant time. Without it: 403, and no process is started. The
static files (xterm.js, fonts, images) are textual-serve's own and carry no secret.

A world file is opened by one process at a time: a second tab on the same world shows the UI's own sentence that
the world is in use.
"""

from __future__ import annotations

import asyncio
import secrets
import shlex
import signal
import socket
import sys
from typing import Any

#: The port when none is given.
DEFAULT_PORT = 8566


def free_port() -> int:
    """A port 127.0.0.1 has free now (``--port 0``)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ui_command(world: str, args: Any) -> str:
    """The shell command each connection runs: this Python's ``agora tui WORLD`` with the options given (quoted)."""
    words = [sys.executable, "-m", "sim", "tui", world]
    for folder in getattr(args, "plugins", []) or []:
        words += ["--plugins", folder]
    if getattr(args, "checkpoint_every", None) is not None:
        words += ["--checkpoint-every", str(args.checkpoint_every)]
    if getattr(args, "checkpoint_seconds", None):
        words += ["--checkpoint-seconds", str(args.checkpoint_seconds)]
    return shlex.join(words)


def make_server(command: str, port: int, token: str) -> Any:
    """textual-serve's server for ``command`` on 127.0.0.1:``port``, every page and WebSocket behind ``token``.

    Raises:
        ImportError: textual-serve is not installed (the ``serve`` extra).
    """
    import aiohttp_jinja2  # noqa: PLC0415 - the serve extra, only for --serve
    import jinja2  # noqa: PLC0415 - as above
    from aiohttp import web  # noqa: PLC0415 - as above
    from textual_serve.server import Server  # noqa: PLC0415 - as above

    class TokenServer(Server):
        """textual-serve's server, every page and WebSocket behind the token."""

        def allowed(self, given: str | None) -> bool:
            return given is not None and secrets.compare_digest(given.encode(), token.encode())

        async def _make_app(self) -> web.Application:
            app = web.Application()
            aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(self.templates_path))
            app.add_routes(
                [
                    web.get("/", self.index, name="index"),
                    web.get("/ws/{token}", self.websocket, name="websocket"),
                    web.get("/download/{key}", self.handle_download, name="download"),
                    web.static("/static", self.statics_path, show_index=False, name="static"),
                ]
            )
            app.on_startup.append(self.on_startup)
            app.on_shutdown.append(self.on_shutdown)
            return app

        async def on_startup(self, app: web.Application) -> None:  # textual-serve's banner: the URL instead
            return None

        def serve(self, debug: bool = False) -> None:
            """Listen on 127.0.0.1, say the URL once the socket is bound, serve until Ctrl+C or SIGTERM."""
            self.debug = debug

            async def run() -> None:
                runner = web.AppRunner(await self._make_app(), handle_signals=False)
                await runner.setup()
                await web.TCPSite(runner, "127.0.0.1", port).start()
                print(f"Agora's UI on http://127.0.0.1:{port}/?token={token}", flush=True)
                print("(this machine only; Ctrl+C stops it)", flush=True)
                stop = asyncio.Event()
                loop = asyncio.get_running_loop()
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(sig, stop.set)
                try:
                    await stop.wait()
                finally:
                    await runner.cleanup()

            asyncio.run(run())

        async def index(self, request: web.Request) -> web.StreamResponse:
            if not self.allowed(request.query.get("token")):
                raise web.HTTPForbidden(text="this Agora UI needs the token its URL was printed with\n")
            router = request.app.router
            static = str(router["static"].url_for(filename="/")).rstrip("/") + "/"
            context = {
                "font_size": 16,
                "app_websocket_url": f"ws://127.0.0.1:{port}{router['websocket'].url_for(token=token)}",
                "config": {"static": {"url": f"http://127.0.0.1:{port}{static}"}},
                "application": {"name": "Agora"},
            }
            return aiohttp_jinja2.render_template("app_index.html", request, context)

        async def websocket(self, request: web.Request) -> web.StreamResponse:
            if not self.allowed(request.match_info.get("token")):
                raise web.HTTPForbidden(text="this Agora UI needs the token its URL was printed with\n")
            return await self.handle_websocket(request)

    return TokenServer(command, host="127.0.0.1", port=port, title="Agora")


def serve(world: str, args: Any) -> int:
    """Serve the UI on ``world`` until Ctrl+C; returns the exit code (2: textual-serve is not installed)."""
    try:
        import textual_serve  # noqa: F401, PLC0415 - the serve extra, only for --serve
    except ImportError:
        sys.stderr.write("agora: error: --serve needs textual-serve: pip install 'agora-sim[serve]'\n")
        return 2
    port = free_port() if args.port == 0 else int(args.port)
    token = secrets.token_urlsafe(24)
    make_server(ui_command(world, args), port, token).serve()
    return 0


__all__ = ["DEFAULT_PORT", "free_port", "make_server", "serve", "ui_command"]
