"""``agora bench api``: how long a request to ``agora serve`` takes, beside yardsticks measured in the same run.

The real program serves a world of N agents in a subprocess; a client on this machine sends the same
request (``GET /api/v1/world`` with its token) many times:

- ``agora_keepalive``: one connection, kept alive (what a dashboard or a script polling the API does);
- ``agora_new_connection``: a new connection for each request (the same request without keep-alive);

and, as yardsticks on the same machine, a minimal Starlette application on uvicorn answering a small JSON
object:

- ``starlette_keepalive``: the same, kept alive (what the web stack itself costs);
- ``starlette_nagle_keepalive``: the same application on a listening socket made with protocol 0, as
  ``agora serve`` made it before: asyncio then leaves Nagle's algorithm on, and each keep-alive request
  waits for the delayed ACK of the one before (~40 ms on Linux).

Figures are medians (and the 90th percentile) in milliseconds; ``agora_keepalive_within_target`` says
whether the median keep-alive request takes under 2 ms. The server's RSS is reported too.
"""

from __future__ import annotations

import http.client
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import psutil

from sim.core.net import listen

#: A keep-alive request to agora serve should take less than this (milliseconds, median).
TARGET_MS = 2.0
TOKEN = "bench-token-0123456789abcdefghij"

#: A minimal Starlette application on uvicorn; argv: port file, and "nagle" for a protocol-0 socket.
_MINIMAL = """
import asyncio, os, socket, sys
import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

async def world(request):
    return JSONResponse({"name": "bench", "tick": 0, "state": "paused"})

app = Starlette(routes=[Route("/api/v1/world", world)])
proto = 0 if sys.argv[2] == "nagle" else socket.IPPROTO_TCP
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, proto)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", 0))
sock.listen(128)
sock.setblocking(False)
server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))

async def main():
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    with open(sys.argv[1] + ".tmp", "w") as fh:
        fh.write(str(sock.getsockname()[1]))
    os.replace(sys.argv[1] + ".tmp", sys.argv[1])
    await task

asyncio.run(main())
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("AGORA_PROGRESS", "AGORA_API_TOKEN")}
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def _wait_port(proc: subprocess.Popen, path: str, timeout: float = 120.0) -> int:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None:
            raise RuntimeError(f"the server ended before it listened (exit code {proc.returncode})")
        if time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    return int(open(path, encoding="utf-8").read())


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _times(port: int, requests: int, *, keepalive: bool, token: str | None) -> dict[str, Any]:
    """Milliseconds of ``requests`` GET /api/v1/world (after a few not timed)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    samples: list[float] = []
    con = None
    for i in range(requests + 5):
        t0 = time.perf_counter()
        if con is None:
            con = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        con.request("GET", "/api/v1/world", headers=headers)
        res = con.getresponse()
        res.read()
        if res.status != 200:
            raise RuntimeError(f"GET /api/v1/world answered {res.status}")
        if not keepalive:
            con.close()
            con = None
        if i >= 5:
            samples.append((time.perf_counter() - t0) * 1000)
    if con is not None:
        con.close()
    samples.sort()
    median = statistics.median(samples)
    return {
        "requests": len(samples),
        "ms_median": round(median, 3),
        "ms_p90": round(samples[int(0.9 * (len(samples) - 1))], 3),
        "requests_per_second": round(1000 / median, 1) if median else None,
    }


def bench_api(agents: int = 1000, *, requests: int = 300, seed: int = 1, nagle_requests: int = 40) -> dict[str, Any]:
    """Time keep-alive requests to ``agora serve`` beside the yardsticks (see the module docstring).

    Raises:
        RuntimeError: a server did not start or answered an error.
    """

    env = _env()
    out: dict[str, Any] = {"agents": agents, "target_ms": TARGET_MS}
    with tempfile.TemporaryDirectory(prefix="agora-bench-api-") as folder:
        made = subprocess.run(
            [sys.executable, "-m", "sim", "new", "w.db", "--agents", str(agents), "--seed", str(seed)],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if made.returncode != 0:
            raise RuntimeError(f"agora new failed: {made.stderr.strip()[-500:]}")
        port_file = os.path.join(folder, "port")
        proc = subprocess.Popen(
            [sys.executable, "-m", "sim", "serve", "w.db", "--port", "0", "--port-file", port_file],
            cwd=folder,
            env={**env, "AGORA_API_TOKEN": TOKEN},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            port = _wait_port(proc, port_file)
            out["agora_keepalive"] = _times(port, requests, keepalive=True, token=TOKEN)
            out["agora_new_connection"] = _times(port, requests, keepalive=False, token=TOKEN)
            out["server_rss_mb"] = round(psutil.Process(proc.pid).memory_info().rss / 2**20, 1)
        finally:
            _stop(proc)
        for name, mode, n in (
            ("starlette_keepalive", "nodelay", requests),
            ("starlette_nagle_keepalive", "nagle", nagle_requests),
        ):
            port_file = os.path.join(folder, f"port-{mode}")
            proc = subprocess.Popen(
                [sys.executable, "-c", _MINIMAL, port_file, mode],
                cwd=folder,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                out[name] = _times(_wait_port(proc, port_file), n, keepalive=True, token=None)
            finally:
                _stop(proc)
    out["agora_keepalive_within_target"] = out["agora_keepalive"]["ms_median"] < TARGET_MS
    out["ratio_to_starlette_keepalive"] = round(
        out["agora_keepalive"]["ms_median"] / out["starlette_keepalive"]["ms_median"], 2
    )
    out.update(_bind_options())
    return out


def _bind_options() -> dict[str, bool]:
    """Whether ``agora serve``'s listening socket says it is TCP (asyncio sets TCP_NODELAY on the transports
    of such sockets only) and whether a socket accepted on it has TCP_NODELAY before asyncio touches it."""

    listener = listen("127.0.0.1", 0)
    listener.setblocking(True)
    client = socket.create_connection(listener.getsockname()[:2])
    conn, _ = listener.accept()
    try:
        return {
            "listener_protocol_is_tcp": listener.proto == socket.IPPROTO_TCP,
            "accepted_socket_nodelay": bool(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)),
        }
    finally:
        conn.close()
        client.close()
        listener.close()
