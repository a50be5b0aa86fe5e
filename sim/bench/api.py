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

Injections under load (``injections``): ``clients`` concurrent clients (threads, each on a kept-alive
connection) send ``POST /api/v1/messages`` for ``seconds`` seconds:

- ``agora_durable``: ``agora serve`` as it runs by default: each injection is answered once its journal row
  is committed (group commit: the rows waiting go in one transaction);
- ``agora_applied``: the same server with ``--acknowledge applied``: answered as soon as the injection is
  made in memory (what durability costs is the difference);
- ``starlette``: a minimal Starlette application that parses the same JSON body and keeps it in a list
  (what the web stack and this client cost).

Each gives injections per second, and the median and 95th percentile of a request in milliseconds;
``durable_within_target`` says whether durable injections reach ``INJECT_TARGET`` per second, and
``durability_adds_ms`` is what durability adds to the median and the 95th percentile.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

import psutil

from sim.bench.measure import child_env
from sim.core.net import listen

#: A keep-alive request to agora serve should take less than this (milliseconds, median).
TARGET_MS = 2.0
#: Durable injections per second ``agora serve`` should take from 50 clients on a 2-core machine.
INJECT_TARGET = 1000.0
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

kept = []

async def messages(request):
    body = await request.json()
    kept.append(body)
    return JSONResponse({"session": len(kept), "message": len(kept), "status": "queued"}, status_code=201)

app = Starlette(routes=[Route("/api/v1/world", world), Route("/api/v1/messages", messages, methods=["POST"])])
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
    return child_env("AGORA_PROGRESS", "AGORA_API_TOKEN")


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


def _inject_load(port: int, clients: int, seconds: float, token: str | None) -> dict[str, Any]:
    """``clients`` threads, each on a kept-alive connection, POST /api/v1/messages for ``seconds``; the
    injections per second and the request times (ms)."""
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    times: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    start = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def client(i: int) -> None:
        con = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        body = json.dumps({"text": f"bench {i}", "seeds": "random:3", "params": {"p": 0.05}})
        mine = times[i]
        start.wait()
        try:
            n = 0
            while time.perf_counter() < stop_at[0]:
                t0 = time.perf_counter()
                con.request("POST", "/api/v1/messages", body=body, headers=headers)
                res = con.getresponse()
                res.read()
                if res.status != 201:
                    errors.append(f"POST /api/v1/messages answered {res.status}")
                    return
                mine.append((time.perf_counter() - t0) * 1000)
                n += 1
        except (OSError, http.client.HTTPException) as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            con.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    stop_at[0] = time.perf_counter() + seconds
    t0 = time.perf_counter()
    start.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise RuntimeError(errors[0])
    samples = sorted(x for mine in times for x in mine)
    if not samples:
        raise RuntimeError("no injection was answered")
    return {
        "clients": clients,
        "seconds": round(elapsed, 2),
        "injections": len(samples),
        "per_second": round(len(samples) / elapsed, 1),
        "ms_median": round(statistics.median(samples), 2),
        "ms_p95": round(samples[int(0.95 * (len(samples) - 1))], 2),
    }


def _serve(folder: str, env: dict[str, str], *extra: str) -> tuple[subprocess.Popen, int]:
    port_file = os.path.join(folder, f"port-{len(os.listdir(folder))}")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim", "serve", "w.db", "--port", "0", "--port-file", port_file, *extra],
        cwd=folder,
        env={**env, "AGORA_API_TOKEN": TOKEN},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, _wait_port(proc, port_file)


def bench_injections(
    agents: int = 1000, *, clients: int = 50, seconds: float = 5.0, seed: int = 1, rounds: int = 2
) -> dict[str, Any]:
    """Injections from ``clients`` concurrent clients: durable, applied, and the Starlette yardstick (see the
    module docstring), each measured ``rounds`` times, alternating, the median round kept.

    Raises:
        RuntimeError: a server did not start or answered an error.
    """
    env = _env()
    runs: dict[str, list[dict[str, Any]]] = {"agora_durable": [], "agora_applied": [], "starlette": []}
    with tempfile.TemporaryDirectory(prefix="agora-bench-inject-") as folder:
        for _ in range(rounds):
            for name, extra in (("agora_durable", ()), ("agora_applied", ("--acknowledge", "applied"))):
                _new_world(folder, env, agents, seed)
                proc, port = _serve(folder, env, *extra)
                try:
                    runs[name].append(_inject_load(port, clients, seconds, TOKEN))
                finally:
                    _stop(proc)
            port_file = os.path.join(folder, "port-starlette")
            if os.path.exists(port_file):
                os.remove(port_file)
            proc = subprocess.Popen(
                [sys.executable, "-c", _MINIMAL, port_file, "nodelay"],
                cwd=folder,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                runs["starlette"].append(_inject_load(_wait_port(proc, port_file), clients, seconds, None))
            finally:
                _stop(proc)
    out: dict[str, Any] = {"agents": agents, "clients": clients, "seconds": seconds, "rounds": rounds}
    for name, results in runs.items():
        out[name] = sorted(results, key=lambda r: r["per_second"])[len(results) // 2]
        out[name]["per_second_rounds"] = [r["per_second"] for r in results]
    durable, applied = out["agora_durable"], out["agora_applied"]
    out["target_per_second"] = INJECT_TARGET
    out["durable_within_target"] = durable["per_second"] >= INJECT_TARGET
    out["durability_adds_ms"] = {
        "median": round(durable["ms_median"] - applied["ms_median"], 2),
        "p95": round(durable["ms_p95"] - applied["ms_p95"], 2),
    }
    out["durable_to_starlette"] = round(durable["per_second"] / out["starlette"]["per_second"], 2)
    return out


def _new_world(folder: str, env: dict[str, str], agents: int, seed: int) -> None:
    for name in os.listdir(folder):
        if name.startswith("w.db"):
            os.remove(os.path.join(folder, name))
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


def bench_api(agents: int = 1000, *, requests: int = 300, seed: int = 1, nagle_requests: int = 40) -> dict[str, Any]:
    """Time keep-alive requests to ``agora serve`` beside the yardsticks (see the module docstring).

    Raises:
        RuntimeError: a server did not start or answered an error.
    """

    env = _env()
    out: dict[str, Any] = {"agents": agents, "target_ms": TARGET_MS}
    with tempfile.TemporaryDirectory(prefix="agora-bench-api-") as folder:
        _new_world(folder, env, agents, seed)
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
