"""Metrics and health of a running simulation over HTTP: Prometheus ``/metrics`` and JSON ``/healthz``.

A :class:`Monitor` follows one :class:`~sim.engine.simulation.Simulation` at a time (``attach``; ``agora run
--runs R`` attaches each run in turn, the TUI each world it opens). It keeps a snapshot of the latest
values, taken on the simulation's event loop after every tick and by a heartbeat task every
``heartbeat`` seconds; a scrape only reads that snapshot (plus the process's RSS and CPU time), so
nothing it does grows with the number of agents and it never touches the world from another thread.

:class:`MetricsServer` serves the monitor from a daemon thread (``http.server``), so it still answers
while the event loop is blocked, which is what lets ``/healthz`` say so:

* ``loop``: the heartbeat is fresher than ``loop_timeout`` seconds;
* ``ticking``: a tick happened within ``stall_after`` seconds whenever ticks are expected (sessions
  queued or running, not paused, and the driver running); paused, idle or finished is healthy;
* ``database``: the world's writer has no error, its task is alive, the file and its folder are
  writable (``not persisted`` when there is no writer, e.g. ``agora run --runs``), and the last
  checkpoint its driver reported (:meth:`Monitor.checkpoint_failed`) did not fail: ``checkpoint failed``
  with the failure's sentence and the tick the file holds until one succeeds
  (:meth:`Monitor.checkpoint_succeeded`);
* ``llm``: reachable (online or degraded) or answering from the offline generator (offline or
  fallback); both are healthy, the mode and the servers' breakers are reported.

Every metric name starts with ``agora_``; the exposition is written by ``prometheus_client``.
Headless: this module never imports a UI toolkit.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import urlsplit

import psutil
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector, CollectorRegistry

from sim import __version__
from sim.core.events import TickCompleted
from sim.errors import BadParameterError

#: Every session status, always exported (at 0 when there is none).
STATUSES = ("queued", "running", "completed", "failed", "cancelled")
#: Every LLM mode, always exported (1 for the current one).
LLM_MODES = ("offline", "online", "degraded", "fallback")
#: Upper bounds (seconds) of the tick duration histogram.
TICK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

#: Per-tick sums turned into counters: tick metric key -> (metric name without ``agora_``/``_total``, help).
_TICK_SUMS = {
    "attempts": (
        "edge_attempts",
        "Transmission attempts along edges and feed items (every propagation model counts its tries).",
    ),
    "follows": ("follows", "Follow edges created by the living network."),
    "unfollows": ("unfollows", "Follow edges removed by the living network."),
    "joins": ("joins", "Agents who joined the network."),
    "leaves": ("leaves", "Agents who left the network."),
    "feed_items": ("feed_items", "Items shown in feeds."),
}
#: LLM client counters: ``LLMService.stats()`` key -> (metric name without ``agora_``/``_total``, help).
_LLM_COUNTERS = {
    "requests": ("llm_requests", "Text requests to the LLM layer (cache, server or offline generator)."),
    "calls": ("llm_calls", "Calls sent to an LLM server."),
    "cache_hits": ("llm_cache_hits", "Requests answered from the LLM cache."),
    "fallbacks": (
        "llm_fallbacks",
        "Requests answered by the offline generator after the LLM failed or was unavailable.",
    ),
    "failures": ("llm_failures", "Failed LLM calls (each retry counts)."),
    "retries": ("llm_retries", "LLM calls retried."),
}


def _elapsed(since: float | None, now: float) -> float | None:
    return None if since is None else max(0.0, now - since)


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(f"agora_{name}", doc, value=value)


def _gauge(name: str, doc: str, value: float | None = None, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"agora_{name}", doc, value=value, labels=labels)


class Monitor:
    """Follows a simulation and answers scrapes and health checks (see the module docstring).

    Args:
        loop_timeout: seconds without a heartbeat before the ``loop`` check fails.
        stall_after: seconds without a tick, while ticks are expected, before ``ticking`` fails.
        heartbeat: seconds between two heartbeats (snapshot refreshes) on the event loop.
    """

    def __init__(self, *, loop_timeout: float = 5.0, stall_after: float = 60.0, heartbeat: float = 0.5) -> None:
        self.loop_timeout = float(loop_timeout)
        self.stall_after = float(stall_after)
        self.heartbeat = float(heartbeat)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Collector(self))
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._proc = psutil.Process()
        self._sim: Any = None
        self._writer: Any = None
        self._active: Callable[[], bool] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._task: asyncio.Task | None = None
        self._finished = False
        # Counters: ``_base`` holds what detached simulations contributed; ``_run`` the attached one's
        # running sums; ``_start`` the attached one's cumulative values when it was attached.
        self._base: dict[str, float] = {}
        self._run: dict[str, float] = {}
        self._start: dict[str, float] = {}
        self._hist = [0] * len(TICK_BUCKETS)
        self._hist_count = 0
        self._hist_sum = 0.0
        self._snap: dict[str, Any] = {"attached": False}
        self._beat: float | None = None
        self._last_tick: float | None = None
        self._expect_since: float | None = None
        self._expecting = False
        self._now_cumulative: dict[str, float] = {}
        self.attached_runs = 0
        #: The sentence of the last checkpoint the driver reported as failed (None: none, or one succeeded since).
        self._checkpoint_error: str | None = None

    # -- following a simulation -------------------------------------------------------------------
    def attach(self, sim: Any, writer: Any = None, *, active: Callable[[], bool] | None = None) -> None:
        """Follow ``sim`` (replacing the one followed so far, whose counters are kept).

        ``writer`` is the world's writer (None: not persisted). ``active`` says whether something is
        driving the simulation right now (the TUI's run/pause); ticks are expected only while it is
        true (always, when None), sessions are waiting and the simulation is not paused. Call it on the
        simulation's event loop: the heartbeat task runs there.
        """
        self.detach()
        with self._lock:
            self._sim, self._writer, self._active = sim, writer, active
            self._finished = False
            self._run = {"ticks": 0.0, **{k: 0.0 for k in _TICK_SUMS}}
            self._start = self._cumulative(sim, writer)
            self._now_cumulative = dict(self._start)
            self._last_tick = None
            self._expect_since = None
            self._expecting = False
            self._checkpoint_error = None  # a new world file: nothing has failed on it yet
            self.attached_runs += 1
        self._unsubscribe = sim.bus.subscribe(self._on_tick, TickCompleted)
        self.refresh()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop: the loop check fails until attached from one
            return
        self._task = loop.create_task(self._heartbeat(), name="agora-metrics-heartbeat")

    def checkpoint_failed(self, error: str) -> None:
        """The driver's checkpoint of the world file failed (``error``: its one sentence): the ``database``
        check fails, saying so, until :meth:`checkpoint_succeeded`. Any thread."""
        with self._lock:
            self._checkpoint_error = str(error)

    def checkpoint_succeeded(self) -> None:
        """A checkpoint succeeded: a failure reported before is over. Any thread."""
        with self._lock:
            self._checkpoint_error = None

    def finish(self) -> None:
        """The driver has stopped stepping for good (end of a run): ticks are no longer expected."""
        self._finished = True
        self.refresh()

    def detach(self) -> None:
        """Stop following the current simulation; its counters are kept in the totals."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self._sim is None:
            return
        self.refresh()
        with self._lock:
            for k, v in self._counters_locked().items():
                self._base[k] = v
            self._run, self._start = {}, {}
            self._sim = self._writer = self._active = None
            self._beat = None
            self._snap = {**self._snap, "attached": False}

    async def _heartbeat(self) -> None:
        while True:
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - a snapshot must never kill the heartbeat (the loop check would lie)
                self._beat = time.monotonic()
            await asyncio.sleep(self.heartbeat)

    def _on_tick(self, event: TickCompleted) -> None:
        m = event.metrics
        now = time.monotonic()
        with self._lock:
            self._last_tick = now
            self._run["ticks"] = self._run.get("ticks", 0.0) + 1
            for k in _TICK_SUMS:
                self._run[k] = self._run.get(k, 0.0) + float(m.get(k, 0) or 0)
            seconds = float(m.get("seconds", 0.0) or 0.0)
            self._hist_count += 1
            self._hist_sum += seconds
            for i, bound in enumerate(TICK_BUCKETS):
                if seconds <= bound:
                    self._hist[i] += 1
        self.refresh(m)

    @staticmethod
    def _cumulative(sim: Any, writer: Any) -> dict[str, float]:
        """The simulation's own cumulative values (counted from when it was made)."""
        st = sim.llm.client.stats
        return {
            "adoptions": float(sum(s.reached for s in sim.world.sessions)),
            **{k: float(getattr(st, k)) for k in _LLM_COUNTERS},
            "tokens_in": float(st.tokens_in),
            "tokens_out": float(st.tokens_out),
            "cost_usd": float(st.cost_usd),
            "db_rows": float(getattr(writer, "rows_written", 0) or 0) if writer is not None else 0.0,
        }

    def refresh(self, tick_metrics: dict[str, Any] | None = None) -> None:
        """Take a snapshot of the followed simulation (on its event loop; cheap, never per agent)."""
        now = time.monotonic()
        sim = self._sim
        if sim is None:
            return
        world = sim.world
        counts = dict.fromkeys(STATUSES, 0)
        reached = 0
        for s in world.sessions:
            counts[s.status] = counts.get(s.status, 0) + 1
            reached += s.reached
        last = tick_metrics if tick_metrics is not None else (sim.metrics[-1] if sim.metrics else {})
        llm = sim.llm
        servers = []
        with contextlib.suppress(Exception):
            for info in llm.client.servers_info():
                servers.append({"url": _safe_url(info.get("url")), "state": info.get("state")})
        active = True
        if self._active is not None:
            try:
                active = bool(self._active())
            except Exception:  # noqa: BLE001 - a broken predicate means: assume driven
                active = True
        waiting = counts["queued"] + counts["running"] > 0
        expecting = waiting and not sim.paused and active and not self._finished
        cumulative = self._cumulative(sim, self._writer)
        snap = {
            "attached": True,
            "world": getattr(world, "name", None) or "",
            "tick": int(world.tick),
            "agents": int(world.n),
            "edges": int(world.num_edges),
            "sessions": counts,
            "reached": int(reached),
            "online": int(last.get("online", 0) or 0),
            "attempts_per_second": float(last.get("attempts_per_second", 0.0) or 0.0),
            "tick_seconds": float(last.get("seconds", 0.0) or 0.0),
            "paused": bool(sim.paused),
            "idle": not waiting,
            "active": active,
            "finished": self._finished,
            "expecting": expecting,
            "tick_in_progress": tick_metrics is None and bool(sim.lock.locked()),
            "llm_mode": str(llm.mode),
            "llm_model": str(getattr(llm.config, "model", "") or ""),
            "llm_servers": servers,
            "llm_in_flight": int(llm.in_flight),
            "posts": len(world.posts),
        }
        with self._lock:
            if sim is not self._sim:
                return
            if expecting and not self._expecting:
                self._expect_since = now
            self._expecting = expecting
            self._snap = snap
            self._now_cumulative = cumulative
            self._beat = now

    # -- reading (any thread) ---------------------------------------------------------------------
    def _counters_locked(self) -> dict[str, float]:
        out = dict(self._base)
        cur = self._now_cumulative
        if self._writer is not None:  # an int the writer keeps: read live, it moves between ticks
            cur = {**cur, "db_rows": float(getattr(self._writer, "rows_written", 0) or 0)}
        for k, v in self._run.items():
            out[k] = out.get(k, 0.0) + v
        for k, v0 in self._start.items():
            out[k] = out.get(k, 0.0) + max(0.0, cur.get(k, v0) - v0)
        return out

    def counters(self) -> dict[str, float]:
        """Totals since the monitor was made, over every simulation it followed."""
        with self._lock:
            return self._counters_locked()

    def snapshot(self) -> dict[str, Any]:
        """The latest snapshot, with the ages of the heartbeat and of the last tick."""
        now = time.monotonic()
        with self._lock:
            snap = dict(self._snap)
            snap["heartbeat_age_s"] = _elapsed(self._beat, now)
            snap["last_tick_age_s"] = _elapsed(self._last_tick, now)
            snap["expect_since_age_s"] = _elapsed(self._expect_since, now)
            writer = self._writer
            snap["db_queue"] = int(getattr(writer, "queue_rows", 0) or 0) if writer is not None else 0
            snap["db_backpressure"] = bool(getattr(writer, "backpressure", False)) if writer is not None else False
            snap["db_backpressure_seconds"] = (
                float(getattr(writer, "backpressure_seconds", 0.0) or 0.0) if writer is not None else 0.0
            )
            snap["histogram"] = (list(self._hist), self._hist_count, self._hist_sum)
            snap["counters"] = self._counters_locked()
        return snap

    def health(self) -> dict[str, Any]:
        """The ``/healthz`` answer: ``status`` is ``ok`` when every check is."""
        snap = self.snapshot()
        checks = {
            "loop": self._check_loop(snap),
            "ticking": self._check_ticking(snap),
            "database": self._check_database(),
            "llm": self._check_llm(snap),
        }
        ok = all(c["ok"] for c in checks.values())
        return {
            "status": "ok" if ok else "unhealthy",
            "checks": checks,
            "world": snap.get("world"),
            "tick": snap.get("tick"),
            "ticks": int(snap["counters"].get("ticks", 0)),
            "uptime_s": round(time.monotonic() - self.started, 3),
            "version": __version__,
        }

    def _check_loop(self, snap: dict[str, Any]) -> dict[str, Any]:
        age = snap["heartbeat_age_s"]
        if not snap.get("attached"):
            return {"ok": False, "state": "detached", "heartbeat_age_s": None, "threshold_s": self.loop_timeout}
        ok = age is not None and age <= self.loop_timeout
        return {
            "ok": ok,
            "state": "alive" if ok else "blocked or stopped",
            "heartbeat_age_s": None if age is None else round(age, 3),
            "threshold_s": self.loop_timeout,
        }

    def _check_ticking(self, snap: dict[str, Any]) -> dict[str, Any]:
        last = snap["last_tick_age_s"]
        out: dict[str, Any] = {
            "tick": snap.get("tick"),
            "last_tick_age_s": None if last is None else round(last, 3),
            "threshold_s": self.stall_after,
            "tick_in_progress": snap.get("tick_in_progress", False),
        }
        if not snap.get("attached"):
            return {"ok": False, "state": "detached", **out}
        if snap.get("finished"):
            state = "finished"
        elif snap.get("paused"):
            state = "paused"
        elif snap.get("idle"):
            state = "idle"
        elif not snap.get("active", True):
            state = "stopped"
        else:
            ages = [a for a in (last, snap["expect_since_age_s"]) if a is not None]
            age = min(ages) if ages else 0.0
            if age > self.stall_after:
                return {"ok": False, "state": "stalled", **out}
            state = "ticking"
        return {"ok": True, "state": state, **out}

    def _check_database(self) -> dict[str, Any]:
        with self._lock:
            writer, attached, failed = self._writer, self._sim is not None, self._checkpoint_error
        if not attached:
            return {"ok": True, "state": "detached"}
        if writer is None:
            return {"ok": True, "state": "not persisted"}
        path = str(getattr(writer, "path", "") or "")
        out: dict[str, Any] = {
            "path": os.path.abspath(path) if path else path,
            "queue_rows": int(getattr(writer, "queue_rows", 0) or 0),
            "rows_written": int(getattr(writer, "rows_written", 0) or 0),
            "tick_on_disk": int(getattr(writer, "checkpoint_tick", 0) or 0),
        }
        if failed is not None:  # the file holds an older tick than the world: what a crash would leave
            return {"ok": False, "state": "checkpoint failed", **out, "error": failed}
        error = getattr(writer, "error", None)
        if error is not None:
            return {"ok": False, "state": "error", **out, "error": f"{type(error).__name__}: {error}"}
        task = getattr(writer, "_task", None)
        if getattr(writer, "_db", True) is None or task is None:
            return {"ok": False, "state": "closed", **out, "error": "the writer is not running"}
        if task.done():
            return {"ok": False, "state": "stopped", **out, "error": "the writer's task ended"}
        folder = os.path.dirname(os.path.abspath(path)) or "."
        if not os.access(path, os.W_OK):
            return {"ok": False, "state": "not writable", **out, "error": f"{path} is not writable"}
        if not os.access(folder, os.W_OK | os.X_OK):  # SQLite writes its -wal and -shm files beside it
            return {"ok": False, "state": "not writable", **out, "error": f"the folder {folder} is not writable"}
        return {"ok": True, "state": "writable", **out, "error": None}

    @staticmethod
    def _check_llm(snap: dict[str, Any]) -> dict[str, Any]:
        mode = snap.get("llm_mode", "offline")
        servers = snap.get("llm_servers", [])
        up = sum(1 for s in servers if s.get("state") != "open")
        state = "reachable" if mode in ("online", "degraded") else "fallback"
        return {
            "ok": True,
            "state": state,
            "mode": mode,
            "model": snap.get("llm_model", ""),
            "servers_up": up if mode != "offline" else 0,
            "servers": servers if mode != "offline" else [],
            "in_flight": snap.get("llm_in_flight", 0),
        }

    # -- exposition -------------------------------------------------------------------------------
    def families(self) -> Iterator[Any]:
        """The metric families of one scrape (see :meth:`metric_names`)."""
        snap = self.snapshot()
        health = self.health()
        c = snap["counters"]
        attached = bool(snap.get("attached"))
        counter, gauge = _counter, _gauge
        info = InfoMetricFamily("agora", "Agora version and the world followed.")
        info.add_metric([], {"version": __version__, "world": str(snap.get("world", ""))})
        yield info
        yield gauge("up", "1 while a simulation is followed.", 1.0 if attached else 0.0)
        yield gauge("healthy", "1 when every /healthz check passes.", 1.0 if health["status"] == "ok" else 0.0)
        checks = gauge("health_check", "1 when the /healthz check passes.", labels=["check"])
        for name, chk in health["checks"].items():
            checks.add_metric([name], 1.0 if chk["ok"] else 0.0)
        yield checks
        yield counter("ticks", "Ticks run.", c.get("ticks", 0.0))
        yield gauge("tick", "The world's current tick.", float(snap.get("tick", 0) or 0))
        yield gauge("paused", "1 while the simulation is paused.", 1.0 if snap.get("paused") else 0.0)
        hist, count, total = snap["histogram"]
        buckets = [(repr(float(b)), float(n)) for b, n in zip(TICK_BUCKETS, hist)] + [("+Inf", float(count))]
        h = HistogramMetricFamily("agora_tick_duration_seconds", "Wall seconds of a tick's array work.")
        h.add_metric([], buckets, total)
        yield h
        yield gauge("last_tick_duration_seconds", "Wall seconds of the latest tick.", snap.get("tick_seconds", 0.0))
        age = snap["last_tick_age_s"]
        yield gauge(
            "last_tick_age_seconds",
            "Seconds since the latest tick (-1 before the first).",
            -1.0 if age is None else age,
        )
        beat = snap["heartbeat_age_s"]
        yield gauge(
            "loop_heartbeat_age_seconds",
            "Seconds since the event loop's latest heartbeat (-1 without one).",
            -1.0 if beat is None else beat,
        )
        yield from self._world_families(snap, c)
        yield from self._llm_families(snap, c, health)

    def _world_families(self, snap: dict[str, Any], c: dict[str, float]) -> Iterator[Any]:
        """The families of the world, its sessions and its file's writer."""
        counter, gauge = _counter, _gauge
        yield gauge("agents", "Agents in the world.", float(snap.get("agents", 0) or 0))
        yield gauge("online_agents", "Agents online in the latest tick.", float(snap.get("online", 0) or 0))
        yield gauge("edges", "Directed follow edges stored.", float(snap.get("edges", 0) or 0))
        sessions = gauge("sessions", "Propagation sessions by status.", labels=["status"])
        for status, n in (snap.get("sessions") or dict.fromkeys(STATUSES, 0)).items():
            sessions.add_metric([status], float(n))
        yield sessions
        yield counter(
            "adoptions", "Adoptions (agents reached, summed over sessions), seeds included.", c.get("adoptions", 0.0)
        )
        yield gauge("reached", "Agents reached, summed over the world's sessions.", float(snap.get("reached", 0) or 0))
        for key, (name, doc) in _TICK_SUMS.items():
            yield counter(name, doc, c.get(key, 0.0))
        yield gauge(
            "edge_attempts_per_second",
            "Transmission attempts per second of the latest tick.",
            snap.get("attempts_per_second", 0.0),
        )
        yield gauge(
            "db_queue_depth",
            "Adoption and exposure rows waiting for the world file's writer.",
            float(snap.get("db_queue", 0)),
        )
        yield gauge(
            "db_backpressure",
            "1 while the simulation waits for the world file's writer to catch up (its queue is full).",
            1.0 if snap.get("db_backpressure") else 0.0,
        )
        yield counter(
            "db_backpressure_seconds",
            "Seconds the simulation has waited for the world file's writer (backpressure).",
            float(snap.get("db_backpressure_seconds", 0.0)),
        )
        yield counter(
            "db_rows_written", "Adoption and exposure rows committed to the world file.", c.get("db_rows", 0.0)
        )

    def _llm_families(self, snap: dict[str, Any], c: dict[str, float], health: dict[str, Any]) -> Iterator[Any]:
        """The families of the LLM layer and of this process."""
        counter, gauge = _counter, _gauge
        for key, (name, doc) in _LLM_COUNTERS.items():
            yield counter(name, doc, c.get(key, 0.0))
        tokens = CounterMetricFamily(
            "agora_llm_tokens", "LLM tokens, in (prompt) and out (completion).", labels=["direction"]
        )
        tokens.add_metric(["in"], c.get("tokens_in", 0.0))
        tokens.add_metric(["out"], c.get("tokens_out", 0.0))
        yield tokens
        yield counter("llm_cost_usd", "Estimated LLM spend in US dollars.", c.get("cost_usd", 0.0))
        yield gauge("llm_in_flight", "LLM requests in flight.", float(snap.get("llm_in_flight", 0) or 0))
        mode = gauge("llm_mode", "1 for the LLM layer's current mode.", labels=["mode"])
        for m in LLM_MODES:
            mode.add_metric([m], 1.0 if snap.get("llm_mode", "offline") == m else 0.0)
        yield mode
        yield gauge(
            "llm_servers_up",
            "LLM servers whose circuit breaker is not open.",
            float(health["checks"]["llm"]["servers_up"]),
        )
        yield gauge("posts", "Posts (messages, replies and reposts) in the world.", float(snap.get("posts", 0) or 0))
        try:
            mem = self._proc.memory_info().rss
            cpu = self._proc.cpu_times()
            cpu_s = cpu.user + cpu.system
        except psutil.Error:
            mem, cpu_s = 0, 0.0
        yield gauge("process_resident_memory_bytes", "Resident memory of the agora process.", float(mem))
        yield counter("process_cpu_seconds", "User and system CPU time of the agora process.", float(cpu_s))
        yield gauge("uptime_seconds", "Seconds since metrics started.", time.monotonic() - self.started)

    def exposition(self, accept: str | None = None) -> tuple[bytes, str]:
        """The scrape body and its content type (Prometheus text; OpenMetrics when asked for)."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type


class _Collector(Collector):
    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor

    def collect(self) -> Iterator[Any]:
        yield from self.monitor.families()


def _safe_url(url: Any) -> str:
    """A server URL without credentials or query string."""
    text = str(url or "")
    with contextlib.suppress(ValueError):
        parts = urlsplit(text)
        if parts.hostname:
            port = f":{parts.port}" if parts.port else ""
            return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"
    return text


# -- the HTTP server --------------------------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = f"agora/{__version__}"

    def do_GET(self) -> None:
        self._answer(head=False)

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def _answer(self, head: bool) -> None:
        route = urlsplit(self.path).path.rstrip("/") or "/"
        monitor = self.server.monitor
        try:
            if route == "/metrics":
                body, ctype = monitor.exposition(self.headers.get("Accept"))
                code = 200
            elif route == "/healthz":
                health = monitor.health()
                body = (json.dumps(health, indent=1) + "\n").encode()
                ctype, code = "application/json", 200 if health["status"] == "ok" else 503
            else:
                body, ctype, code = b"not found: try /metrics or /healthz\n", "text/plain; charset=utf-8", 404
        except Exception as exc:  # noqa: BLE001 - a bug: answer 500 rather than drop the connection
            body, ctype, code = f"{type(exc).__name__}: {exc}\n".encode(), "text/plain; charset=utf-8", 500
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True  # a restart right after a stop binds again; a live listener still refuses
    allow_reuse_port = False

    def __init__(self, address: tuple[str, int], monitor: Monitor, family: int) -> None:
        self.address_family = family
        self.monitor = monitor
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host's name up (socket.getfqdn), which can hang without DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)


class MetricsServer:
    """Serves a :class:`Monitor` on ``http://HOST:PORT/metrics`` and ``/healthz`` from a daemon thread.

    ``port`` 0 picks a free port (:attr:`port` tells which). Binds to 127.0.0.1 unless told otherwise.
    """

    def __init__(self, monitor: Monitor, host: str = "127.0.0.1", port: int = 0) -> None:
        self.monitor = monitor
        self.host = host
        self.requested_port = port
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> MetricsServer:
        """Bind and serve.

        Raises:
            BadParameterError: the port is in use, out of range, or the host cannot be bound.
        """
        host, port = self.host, self.requested_port
        if not 0 <= port <= 65535:
            raise BadParameterError(
                f"metrics port {port} is out of range: give a port from 1 to 65535 (0 picks a free one)"
            )
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            self._httpd = _Server((host, port), self.monitor, family)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise BadParameterError(
                    f"metrics port {port} on {host} is already in use: choose another metrics_port "
                    "(0 picks a free one)",
                    fields="metrics_port",
                ) from None
            if exc.errno in (errno.EACCES, errno.EPERM):
                raise BadParameterError(
                    f"metrics port {port} on {host} needs privileges: choose a port above 1023"
                ) from None
            raise BadParameterError(
                f"cannot serve metrics on {host}:{port} ({exc.strerror or exc}): check metrics_host",
                fields="metrics_host",
            ) from None
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="agora-metrics-http", daemon=True
        )
        self._thread.start()
        return self

    @property
    def port(self) -> int:
        """The bound port (the one picked when asked for 0)."""
        return int(self._httpd.server_address[1]) if self._httpd is not None else self.requested_port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        if self._httpd is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(host: str = "127.0.0.1", port: int = 0, **monitor_options: Any) -> tuple[Monitor, MetricsServer]:
    """A monitor and its server, started (see :class:`MetricsServer` for the errors)."""
    monitor = Monitor(**monitor_options)
    return monitor, MetricsServer(monitor, host, port).start()


def metric_names() -> list[str]:
    """The metric family names a scrape exposes (documented in the README)."""
    suffix = {"counter": "_total", "info": "_info"}
    return sorted(m.name + suffix.get(m.type, "") for m in Monitor().families())
