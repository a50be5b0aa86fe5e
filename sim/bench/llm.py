"""Benchmark of the LLM client (``sim.llm.client``) against local chat-completions servers.

The servers are :mod:`agora_testing.fakeserver` subprocesses (their own processes, so the client's process
measures only itself). Every figure of :class:`~sim.llm.client.LLMClient` sits beside a baseline measured
in the same run: a plain ``httpx2.AsyncClient`` posting the same chat-completion bodies at the same
concurrency, the floor that HTTP plus the server leave. See :func:`bench_llm` for the output keys.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import selectors
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import psutil

from sim.bench.measure import PeakRSS, mb
from sim.llm.client import LLMClient
from sim.llm.config import LLMConfig

#: The issue's target: completions per second at concurrency 64 against a server answering in 20 ms.
TARGET_PER_SECOND = 500.0
REPEATS = 3
MODEL = "bench-model"
MAX_TOKENS = 64
TEMPERATURE = 0.7
SYSTEM = "You are a member of an online community. Answer in one short sentence."

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# -- the servers ----------------------------------------------------------------------------------
def _start_servers(count: int, latency: float, timeout: float = 30.0) -> tuple[list[subprocess.Popen], list[str]]:
    """Start ``count`` fake servers; returns the processes and their base URLs. On any failure the
    processes started so far are killed before the error is raised."""
    env = dict(os.environ)
    env["PYTHONPATH"] = _ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    procs: list[subprocess.Popen] = []
    urls: list[str] = []
    try:
        for _ in range(count):
            # stderr to a file, not a pipe: a chatty server must never block on a full pipe
            errlog = tempfile.TemporaryFile()  # noqa: SIM115 - closed by _stop_servers
            try:
                proc = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "agora_testing.fakeserver",
                        "--port",
                        "0",
                        "--latency",
                        repr(float(latency)),
                    ],
                    stdout=subprocess.PIPE,
                    stderr=errlog,
                    stdin=subprocess.DEVNULL,
                    cwd=_ROOT,
                    env=env,
                )
            except BaseException:
                errlog.close()
                raise
            proc.errlog = errlog  # type: ignore[attr-defined]
            procs.append(proc)
        for p in procs:
            urls.append(_read_url(p, timeout))
    except BaseException:
        _stop_servers(procs)
        raise
    return procs, urls


def _read_url(proc: subprocess.Popen, timeout: float) -> str:
    """The base URL from the server's first stdout line (``listening on URL``)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    buf = b""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"the fake LLM server did not say where it listens within {timeout:g} s")
            if not sel.select(left):
                continue
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    pass
                err = _stderr_of(proc)
                raise RuntimeError(f"the fake LLM server exited before listening: {err[-500:] or 'no message'}")
            buf += chunk
    line = buf.split(b"\n", 1)[0].decode().strip()
    if not line.startswith("listening on "):
        raise RuntimeError(f"unexpected first line from the fake LLM server: {line!r}")
    return line[len("listening on ") :]


def _stderr_of(proc: subprocess.Popen) -> str:
    f = getattr(proc, "errlog", None)
    if f is None:
        return ""
    try:
        f.seek(0)
        return f.read().decode(errors="replace").strip()
    except (OSError, ValueError):
        return ""


def _stop_servers(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a killed process that will not go
            pass
        for f in (p.stdout, getattr(p, "errlog", None)):
            if f is not None:
                f.close()


def _cpu_seconds(procs: list[subprocess.Popen]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = psutil.Process(p.pid).cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


# -- the requests ---------------------------------------------------------------------------------
def _messages(tag: str, i: int) -> list[dict[str, Any]]:
    """A distinct prompt per (tag, i): no two requests of a run are the same."""
    return [
        {"role": "system", "content": SYSTEM},
        {
            "role": "user",
            "content": f"[{tag} #{i}] A neighbour shared a post about the new bike lanes downtown. What do you reply?",
        },
    ]


async def _drive(call: Callable[[int], Awaitable[bool]], requests: int, concurrency: int) -> dict[str, Any]:
    """Run ``call(i)`` for every request, ``concurrency`` at a time (one task per request, gathered);
    returns wall and CPU seconds of this process and the per-request latencies (time in a slot)."""
    slots = asyncio.Semaphore(concurrency)
    lat = np.zeros(requests)
    ok = np.zeros(requests, dtype=bool)

    async def one(i: int) -> None:
        async with slots:
            t = time.perf_counter()
            ok[i] = await call(i)
            lat[i] = time.perf_counter() - t

    gc.collect()
    c0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(requests)))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"wall": wall, "cpu": cpu, "lat": lat, "ok": int(ok.sum())}


class _Baseline:
    """A plain ``httpx2.AsyncClient`` posting chat-completion bodies and parsing the JSON answers."""

    def __init__(self, urls: list[str], concurrency: int) -> None:
        import httpx2  # noqa: PLC0415 - openai's transport: httpx2 in openai 3, httpx before

        self.urls = urls
        self.client = httpx2.AsyncClient(
            limits=httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            timeout=httpx2.Timeout(30.0),
            headers={"Authorization": "Bearer bench", "Content-Type": "application/json"},
        )

    def caller(self, tag: str) -> Callable[[int], Awaitable[bool]]:
        urls = [u + "/chat/completions" for u in self.urls]

        async def call(i: int) -> bool:
            body = {"model": MODEL, "messages": _messages(tag, i), "temperature": TEMPERATURE, "max_tokens": MAX_TOKENS}
            r = await self.client.post(urls[i % len(urls)], content=json.dumps(body).encode())
            if r.status_code != 200:
                return False
            data = r.json()
            text = data["choices"][0]["message"]["content"]
            usage = data.get("usage") or {}
            return isinstance(text, str) and int(usage.get("prompt_tokens", 0)) >= 0

        return call

    async def aclose(self) -> None:
        await self.client.aclose()


class _Agora:
    """The project's :class:`LLMClient`, cache off (every request reaches a server), default retries."""

    def __init__(self, urls: list[str], concurrency: int) -> None:

        cfg = LLMConfig.resolve(
            {
                "base_urls": ",".join(urls),
                "concurrency": concurrency,
                "cache": False,
                "timeout": 30,
                "model": MODEL,
                "max_tokens": MAX_TOKENS,
                "temperature": TEMPERATURE,
            },
            env={"OPENAI_API_KEY": "bench"},
        )
        self.client = LLMClient(cfg)

    def caller(self, tag: str) -> Callable[[int], Awaitable[bool]]:
        client = self.client

        async def call(i: int) -> bool:
            c = await client.complete(_messages(tag, i))
            return c.source == "llm"

        return call

    async def aclose(self) -> None:
        await self.client.aclose()


def _summary(runs: list[dict[str, Any]], requests: int) -> dict[str, Any]:
    """Median over the repeats of each figure (and the per-repeat values of the main ones)."""
    rates = [requests / r["wall"] for r in runs]
    cpu_ms = [1000 * r["cpu"] / requests for r in runs]
    return {
        "per_second": round(float(np.median(rates)), 1),
        "wall_s": round(float(np.median([r["wall"] for r in runs])), 3),
        "p50_ms": round(float(np.median([1000 * np.percentile(r["lat"], 50) for r in runs])), 2),
        "p95_ms": round(float(np.median([1000 * np.percentile(r["lat"], 95) for r in runs])), 2),
        "max_ms": round(float(np.median([1000 * r["lat"].max() for r in runs])), 2),
        "cpu_ms_per_call": round(float(np.median(cpu_ms)), 4),
        "server_cpu_ms_per_call": round(float(np.median([1000 * r["server_cpu"] / requests for r in runs])), 4),
        "ok": [r["ok"] for r in runs],
        "per_second_runs": [round(x, 1) for x in rates],
        "cpu_ms_per_call_runs": [round(x, 4) for x in cpu_ms],
    }


async def _measure(
    urls: list[str],
    procs: list[subprocess.Popen],
    requests: int,
    concurrency: int,
    warmup: int,
    progress: Callable[[str, float], None] | None,
) -> dict[str, Any]:
    base = _Baseline(urls, concurrency)
    agora = _Agora(urls, concurrency)
    clients: dict[str, Any] = {"baseline": base, "agora": agora}
    runs: dict[str, list[dict[str, Any]]] = {"baseline": [], "agora": []}
    try:
        steps = 2 * (REPEATS + 1)
        done = 0
        for name, c in clients.items():  # warm-up: connections opened, code paths and imports loaded
            await _drive(c.caller(f"warm {name}"), warmup, concurrency)
            done += 1
            if progress:
                progress(f"warm-up {name}", done / steps)
        for rep in range(REPEATS):
            order = ("baseline", "agora") if rep % 2 == 0 else ("agora", "baseline")  # alternate
            for name in order:
                s0 = _cpu_seconds(procs)
                r = await _drive(clients[name].caller(f"{name} {rep}"), requests, concurrency)
                r["server_cpu"] = _cpu_seconds(procs) - s0
                runs[name].append(r)
                done += 1
                if progress:
                    progress(f"{name} run {rep + 1}/{REPEATS}", done / steps)
        out = {name: _summary(runs[name], requests) for name in clients}
        out["agora"]["stats"] = agora.client.stats.to_dict()
        out["agora"]["servers_info"] = agora.client.servers_info()
        return out
    finally:
        for c in clients.values():
            await c.aclose()


def bench_llm(
    *,
    requests: int = 2000,
    concurrency: int = 64,
    latency: float = 0.02,
    servers: int = 1,
    progress: Callable[[str, float], None] | None = None,
    warmup: int | None = None,
) -> dict[str, Any]:
    """Completions per second of :class:`~sim.llm.client.LLMClient` against ``servers`` local fake
    servers that answer after ``latency`` seconds, beside a plain-HTTP baseline in the same run.

    The servers (``python -m agora_testing.fakeserver``) run as subprocesses and are always killed at the end.
    After a warm-up of ``warmup`` requests per client (default ``concurrency``, at least 16), the
    baseline (``httpx2.AsyncClient`` posting the same chat-completion JSON and parsing the answer) and
    the client (``LLMClient.complete``, cache off, default retries, its concurrency cap =
    ``concurrency``) each send ``requests`` distinct prompts, ``REPEATS`` times, alternating which goes
    first. Both are driven the same way: one task per request, all gathered, ``concurrency`` in flight
    at once; latency is a request's time in its slot. Each figure is the median over the repeats.

    Returns a JSON-able dict:

    - ``benchmark`` ("llm"), ``requests``, ``concurrency``, ``latency_ms``, ``servers``, ``repeats``,
      ``warmup``, ``cpu_count``, ``ideal_per_second`` (``concurrency / latency * servers``: what
      a client with no overhead at all could reach), ``total_s``.
    - ``baseline`` and ``agora``: ``per_second`` (completions per second), ``wall_s``, ``p50_ms``,
      ``p95_ms``, ``max_ms`` (per request), ``cpu_ms_per_call`` (this process's CPU time over the
      run / requests: the client's own overhead per call), ``server_cpu_ms_per_call`` (the servers'
      CPU, for context: on a small machine they share the cores), ``ok`` (requests answered per repeat),
      ``per_second_runs``, ``cpu_ms_per_call_runs``; ``agora`` also has ``stats`` (the client's
      counters over the whole run, warm-up included) and ``servers_info``.
    - ``ratio_to_baseline`` (agora / baseline completions per second), ``overhead_ms_per_call``
      (agora's ``cpu_ms_per_call`` minus the baseline's: what the client adds over plain HTTP),
      ``share_of_ideal`` (agora / ideal), ``target_per_second``, ``target_met``, ``all_answered``
      (every agora request answered by a server, no fallback), ``peak_rss_mb``.
    """
    if requests < 1 or concurrency < 1 or servers < 1 or latency < 0:
        raise ValueError("requests, concurrency and servers must be at least 1, latency at least 0")
    warmup = max(16, concurrency) if warmup is None else warmup
    t0 = time.perf_counter()
    r: dict[str, Any] = {
        "benchmark": "llm",
        "requests": requests,
        "concurrency": concurrency,
        "latency_ms": round(1000 * latency, 3),
        "servers": servers,
        "repeats": REPEATS,
        "warmup": warmup,
        "cpu_count": os.cpu_count(),
        "ideal_per_second": round(concurrency / latency * servers, 1) if latency > 0 else None,
    }
    procs: list[subprocess.Popen] = []
    try:
        with PeakRSS(interval=0.05) as pk:
            procs, urls = _start_servers(servers, latency)
            if progress:
                progress("servers started", 0.0)
            r.update(asyncio.run(_measure(urls, procs, requests, concurrency, warmup, progress)))
    finally:
        _stop_servers(procs)
    base, agora = r["baseline"], r["agora"]
    st = agora["stats"]
    r["ratio_to_baseline"] = round(agora["per_second"] / max(base["per_second"], 1e-9), 3)
    r["overhead_ms_per_call"] = round(agora["cpu_ms_per_call"] - base["cpu_ms_per_call"], 4)
    r["share_of_ideal"] = round(agora["per_second"] / r["ideal_per_second"], 3) if r["ideal_per_second"] else None
    r["target_per_second"] = TARGET_PER_SECOND
    r["target_met"] = bool(agora["per_second"] >= TARGET_PER_SECOND)
    r["all_answered"] = bool(
        st["answered"] == st["requests"] and st["fallbacks"] == 0 and all(n == requests for n in agora["ok"])
    )
    r["peak_rss_mb"] = mb(pk.peak)
    r["total_s"] = round(time.perf_counter() - t0, 2)
    if progress:
        progress("done", 1.0)
    return r
