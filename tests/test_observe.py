"""Metrics and health over real HTTP on 127.0.0.1: the Prometheus exposition (names, format, values),
``/healthz`` turning unhealthy when the loop blocks, ticks stall or the database breaks, the bind
address and a busy port, ``agora run --metrics-port`` in a subprocess and the TUI option under Pilot."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import notified
from inprocess import run_cli
from prometheus_client.exposition import choose_encoder
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from sim.engine.observe import STATUSES, MetricsServer, Monitor, metric_names
from sim.engine.simulation import Simulation
from sim.errors import BadParameterError
from sim.model.registry import Registry
from sim.runs.runner import run_cascades
from sim.store.worldfile import open_world, save_world
from sim.store.writer import WorldWriter

ROOT = Path(__file__).resolve().parents[1]

#: The names the issue asks for, as they appear in the exposition.
REQUIRED = {
    "agora_ticks_total",
    "agora_tick",
    "agora_adoptions_total",
    "agora_sessions",
    "agora_edge_attempts_total",
    "agora_edge_attempts_per_second",
    "agora_llm_calls_total",
    "agora_llm_tokens_total",
    "agora_llm_cost_usd_total",
    "agora_db_queue_depth",
    "agora_process_resident_memory_bytes",
    "agora_process_cpu_seconds_total",
    "agora_agents",
    "agora_edges",
    "agora_tick_duration_seconds",
    "agora_up",
    "agora_healthy",
    "agora_llm_mode",
    "agora_last_tick_age_seconds",
    "agora_loop_heartbeat_age_seconds",
}


def get(url: str, accept: str | None = None) -> tuple[int, str, str]:
    """``(status, content type, body)`` of a GET, errors included."""
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()


async def aget(url: str, accept: str | None = None) -> tuple[int, str, str]:
    return await asyncio.to_thread(get, url, accept)


async def healthz_until(url: str, ok, seconds: float = 30.0) -> tuple[int, str, dict]:
    """``(status, content type, health)`` of ``/healthz`` once ``ok(status, health)`` holds: polled, since
    the heartbeat behind it runs on a loop that a loaded machine may hold up for a moment. The deadline
    only bounds a hang."""
    deadline = time.monotonic() + seconds
    while True:
        status, ctype, body = await aget(f"{url}/healthz")
        health = json.loads(body)
        if ok(status, health) or time.monotonic() > deadline:
            return status, ctype, health
        await asyncio.sleep(0.05)


def refused(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2).close()
    except urllib.error.URLError:
        return True
    return False


def scrape(body: str) -> dict[str, dict[tuple, float]]:
    """Parse an exposition (raises on an invalid one): sample name -> {sorted labels: value}."""
    out: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def exposed_names(body: str) -> set[str]:
    """Names in the ``# TYPE`` lines (counters with their ``_total``)."""
    return set(re.findall(r"^# TYPE (\S+) ", body, flags=re.MULTILINE))


def one(samples: dict[str, dict[tuple, float]], name: str, **labels: str) -> float:
    return samples[name][tuple(sorted(labels.items()))]


async def test_metrics_names_format_and_values(small_world):
    monitor = Monitor(heartbeat=0.1)
    with MetricsServer(monitor, port=0) as server:
        sim = Simulation(small_world)
        monitor.attach(sim)
        sim.inject("hello", seeds="random:5", model="ic", params={"p": 0.1})
        attempts = 0
        for _ in range(6):
            attempts += (await sim.step())["attempts"]
        status, ctype, body = await aget(f"{server.url}/metrics")
        assert status == 200 and ctype == choose_encoder("")[1] and ctype.startswith("text/plain; version=")
        samples = scrape(body)  # a valid exposition, or this raises
        names = exposed_names(body)
        assert names and all(n.startswith("agora_") for n in names)
        assert all(n.startswith("agora_") for n in samples)
        assert names >= REQUIRED, REQUIRED - names
        assert set(metric_names()) == names  # the documented list is what is served
        reached = sum(s.reached for s in sim.sessions)
        assert reached > 5
        assert one(samples, "agora_ticks_total") == 6
        assert one(samples, "agora_tick") == sim.world.tick == 6
        assert one(samples, "agora_adoptions_total") == reached
        assert one(samples, "agora_edge_attempts_total") == attempts > 0
        assert one(samples, "agora_agents") == 3000 and one(samples, "agora_edges") == sim.world.num_edges
        for st in STATUSES:  # every status, even at 0
            want = sum(1 for s in sim.sessions if s.status == st)
            assert one(samples, "agora_sessions", status=st) == want
        assert (
            one(samples, "agora_llm_mode", mode="offline") == 1 and one(samples, "agora_llm_mode", mode="online") == 0
        )
        assert one(samples, "agora_llm_tokens_total", direction="in") == 0
        assert one(samples, "agora_tick_duration_seconds_count") == 6
        assert one(samples, "agora_process_resident_memory_bytes") > 10 * 2**20
        assert one(samples, "agora_process_cpu_seconds_total") > 0
        assert one(samples, "agora_up") == 1 and one(samples, "agora_healthy") == 1
        assert (await aget(f"{server.url}/nothing"))[0] == 404
        # OpenMetrics when a scraper asks for it
        status, ctype, body = await aget(f"{server.url}/metrics", "application/openmetrics-text; version=1.0.0")
        assert status == 200 and ctype.startswith("application/openmetrics-text")
        families = {f.name for f in openmetrics_families(body)}
        assert "agora_ticks" in families and all(n.startswith("agora") for n in families)
        monitor.detach()
        assert one(scrape((await aget(f"{server.url}/metrics"))[2]), "agora_up") == 0


async def test_healthz_fails_when_the_loop_blocks(small_world):
    monitor = Monitor(loop_timeout=0.5, heartbeat=0.05)
    with MetricsServer(monitor, port=0) as server:
        sim = Simulation(small_world)
        monitor.attach(sim)
        sim.inject("hello", seeds="random:5", model="ic", params={"p": 0.1})
        await sim.step()
        await asyncio.sleep(0.1)
        status, ctype, health = await healthz_until(server.url, lambda status, _: status == 200)
        assert status == 200 and ctype == "application/json"
        assert health["status"] == "ok" and health["tick"] == 1 and health["ticks"] == 1
        assert {"loop", "ticking", "database", "llm"} == set(health["checks"])
        assert health["checks"]["ticking"]["state"] == "ticking"
        assert health["checks"]["database"]["state"] == "not persisted"
        assert health["checks"]["llm"] == {
            **health["checks"]["llm"],
            "ok": True,
            "mode": "offline",
            "state": "fallback",
        }

        time.sleep(0.8)  # noqa: ASYNC251 - the loop is blocked on purpose; the server's thread still answers
        status, _, body = get(f"{server.url}/healthz")
        health = json.loads(body)
        assert status == 503 and health["status"] == "unhealthy"
        assert health["checks"]["loop"]["ok"] is False and health["checks"]["loop"]["heartbeat_age_s"] > 0.5
        samples = scrape(get(f"{server.url}/metrics")[2])
        assert one(samples, "agora_healthy") == 0 and one(samples, "agora_health_check", check="loop") == 0
        assert one(samples, "agora_loop_heartbeat_age_seconds") > 0.5

        await asyncio.sleep(0.2)  # the heartbeat is back
        assert (await healthz_until(server.url, lambda status, _: status == 200))[0] == 200
        monitor.detach()


async def test_healthz_fails_when_ticks_stop_but_not_when_paused_or_idle(small_world):
    # 2 s without a tick is a stall: far more than a loaded machine takes to answer right after a tick; the
    # waits below that must see a stall (or its absence while paused, idle or stopped) are longer than that.
    monitor = Monitor(stall_after=2.0, heartbeat=0.05)
    with MetricsServer(monitor, port=0) as server:
        sim = Simulation(small_world)
        monitor.attach(sim)
        sim.inject("hello", seeds="random:5", model="ic", params={"p": 0.05})
        await sim.step()
        assert (await aget(f"{server.url}/healthz"))[0] == 200
        await asyncio.sleep(2.3)  # a session is running and nobody steps: stalled, though the loop is alive
        status, _, body = await aget(f"{server.url}/healthz")
        checks = json.loads(body)["checks"]
        assert status == 503 and checks["ticking"]["ok"] is False and checks["ticking"]["state"] == "stalled"
        assert checks["loop"]["ok"] is True

        sim.pause()  # paused is healthy, and says so
        await asyncio.sleep(0.15)
        status, _, body = await aget(f"{server.url}/healthz")
        assert status == 200 and json.loads(body)["checks"]["ticking"]["state"] == "paused"
        sim.resume()
        await sim.run(until_done=True, max_ticks=500)
        await asyncio.sleep(2.3)
        status, _, body = await aget(f"{server.url}/healthz")
        assert status == 200 and json.loads(body)["checks"]["ticking"]["state"] == "idle"

        # a driver that is not running (the TUI paused by its own worker) is not a stall either
        sim2 = Simulation(sim.world)
        monitor.attach(sim2, active=lambda: False)
        sim2.inject("again", seeds="random:5", model="ic", params={"p": 0.05})
        await asyncio.sleep(2.3)
        status, _, body = await aget(f"{server.url}/healthz")
        assert status == 200 and json.loads(body)["checks"]["ticking"]["state"] == "stopped"
        monitor.detach()


async def test_database_check(small_world, tmp_path):
    path = str(tmp_path / "w.db")
    await save_world(small_world, path)
    world = await open_world(path)
    writer = await WorldWriter(path).start()
    monitor = Monitor(heartbeat=0.05)
    try:
        with MetricsServer(monitor, port=0) as server:
            sim = Simulation(world, writer=writer)
            monitor.attach(sim, writer)
            sim.inject("hello", seeds="random:5", model="ic", params={"p": 0.1})
            for _ in range(3):
                await sim.step()
            await writer.flush()
            status, _, body = await aget(f"{server.url}/healthz")
            db = json.loads(body)["checks"]["database"]
            assert status == 200 and db["ok"] is True and db["state"] == "writable" and db["rows_written"] > 0
            samples = scrape((await aget(f"{server.url}/metrics"))[2])
            assert one(samples, "agora_db_rows_written_total") == writer.rows_written
            assert one(samples, "agora_db_queue_depth") == writer.queue_rows == 0

            writer.error = OSError(28, "No space left on device")
            status, _, body = await aget(f"{server.url}/healthz")
            db = json.loads(body)["checks"]["database"]
            assert status == 503 and db["ok"] is False and db["state"] == "error" and "No space left" in db["error"]
            writer.error = None
            assert (await aget(f"{server.url}/healthz"))[0] == 200

            os.rename(path, path + ".moved")  # the file is gone from where it is written
            try:
                status, _, body = await aget(f"{server.url}/healthz")
                db = json.loads(body)["checks"]["database"]
                assert status == 503 and db["state"] == "not writable"
            finally:
                os.rename(path + ".moved", path)
            await writer.close()
            status, _, body = await aget(f"{server.url}/healthz")
            assert status == 503 and json.loads(body)["checks"]["database"]["state"] == "closed"
            monitor.detach()
    finally:
        await writer.close()


def test_binds_loopback_by_default_and_a_busy_port_is_one_clear_error():
    with MetricsServer(Monitor(), port=0) as server:
        assert server.host == "127.0.0.1" and server._httpd.server_address[0] == "127.0.0.1"
        assert server.url == f"http://127.0.0.1:{server.port}" and server.port > 0
        assert get(f"{server.url}/metrics")[0] == 200
        # before anything is attached: not healthy, and says why
        status, _, body = get(f"{server.url}/healthz")
        assert status == 503 and json.loads(body)["checks"]["loop"]["state"] == "detached"
        with pytest.raises(
            BadParameterError, match=rf"^metrics port {server.port} on 127.0.0.1 is already in use: choose another"
        ):
            MetricsServer(Monitor(), port=server.port).start()
    with pytest.raises(BadParameterError, match="out of range"):
        MetricsServer(Monitor(), port=70000).start()
    # stopped: the port is free again
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()


async def test_runs_reattach_and_keep_counting(small_world):
    monitor = Monitor()
    out = await run_cascades(
        small_world,
        registry=Registry(),
        text="x",
        seeds="random:5",
        params={"p": 0.1},
        runs=3,
        steps=4,
        monitor=monitor,
    )
    assert monitor.attached_runs == 3
    c = monitor.counters()
    assert c["ticks"] == 12 == sum(r["ticks"] for r in out["runs"])
    assert c["adoptions"] == sum(r["reached"] for r in out["runs"])
    assert monitor.health()["checks"]["loop"]["state"] == "detached"  # detached at the end


def _env(cwd: Path) -> dict[str, str]:
    env = {**os.environ, "AGORA_SAVES": str(cwd)}
    env.pop("AGORA_PROGRESS", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return env


@pytest.mark.subprocess
def test_cli_run_serves_metrics_while_it_runs(small_world, tmp_path):
    path = tmp_path / "w.db"
    asyncio.run(save_world(small_world, str(path)))
    cmd = [
        sys.executable,
        "-m",
        "sim",
        "run",
        str(path),
        "--inject",
        "x",
        "--seeds",
        "random:5",
        "--param",
        "p=0.05",
        "--steps",
        "40",
        "--ticks-per-second",
        "20",
        "--metrics-port",
        "0",
        "--json",
    ]
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = proc.stderr.readline()
        m = re.match(r"agora: metrics on (http://127\.0\.0\.1:(\d+))/metrics, health on \1/healthz$", line.strip())
        assert m, line
        url = m.group(1)
        deadline = time.monotonic() + 20
        ticks = 0.0
        while time.monotonic() < deadline:
            samples = scrape(get(f"{url}/metrics")[2])
            ticks = one(samples, "agora_ticks_total")
            if ticks >= 5:
                break
            time.sleep(0.1)
        assert 5 <= ticks < 40  # scraped during the paced run
        status, _, body = get(f"{url}/healthz")
        health = json.loads(body)
        assert status == 200, body
        assert health["checks"]["database"]["state"] == "writable" and health["checks"]["loop"]["ok"]
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    assert json.loads(stdout)["runs"][0]["ticks"] == 40
    assert refused(f"{url}/metrics")  # stopped with the command


def test_cli_busy_port_is_exit_2(small_world, tmp_path):
    path = tmp_path / "w.db"
    asyncio.run(save_world(small_world, str(path)))
    before = path.stat().st_mtime_ns
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = run_cli(
            ["run", str(path), "--steps", "2", "--metrics-port", str(port)], cwd=tmp_path, env=_env(tmp_path)
        )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == [
        (
            f"agora: error: metrics port {port} on 127.0.0.1 is already in use: "
            "choose another --metrics-port (0 picks a free one)"
        )
    ]
    assert path.stat().st_mtime_ns == before  # nothing was run


@pytest.mark.usefixtures("keep_notifications")
async def test_tui_serves_metrics_and_survives_a_busy_port(tmp_path):
    from sim.store.create import synthetic_world
    from tui.app import AgoraApp

    path = str(tmp_path / "tui.db")
    await save_world(synthetic_world("tui", 2000, avg_degree=8, seed=5), path)
    app = AgoraApp(path, metrics_port=0)
    async with app.run_test(size=(150, 48)) as pilot:
        await asyncio.wait_for(app.ready.wait(), 30)
        await pilot.pause()
        url = app.metrics_server.url
        assert url.startswith("http://127.0.0.1:")
        assert any(m.startswith(f"metrics on {url}/metrics") for m in notified(app))
        status, _, body = await aget(f"{url}/healthz")
        assert status == 200 and json.loads(body)["checks"]["database"]["state"] == "writable"
        app.sim.inject("hello", seeds="random:5", model="ic", params={"p": 0.05})
        await pilot.press("n")
        await app.workers.wait_for_complete()
        samples = scrape((await aget(f"{url}/metrics"))[2])
        assert one(samples, "agora_ticks_total") == 1 and one(samples, "agora_tick") == app.world.tick
        # a session waits but the user has not pressed run: not a stall
        assert json.loads((await aget(f"{url}/healthz"))[2])["checks"]["ticking"]["state"] == "stopped"

        busy = AgoraApp(path, metrics_port=app.metrics_server.port, writer_enabled=False)
        async with busy.run_test(size=(150, 48)) as pilot2:
            await asyncio.wait_for(busy.ready.wait(), 30)
            await pilot2.pause()
            assert busy.metrics_server is None and busy.sim is not None
            errors = [m for m in notified(busy) if "already in use" in m]
            assert len(errors) == 1 and errors[0].endswith("Agora runs without metrics"), errors
    assert await asyncio.to_thread(refused, f"{url}/metrics")  # stopped when the app ended


async def test_llm_check_reports_reachable_or_fallback_and_stays_healthy(small_world):
    from sim.llm.config import LLMConfig
    from sim.llm.service import LLMService

    config = LLMConfig(api_key="sk-test", base_urls=("http://user:secret@127.0.0.1:9/v1", "http://127.0.0.1:10/v1"))
    sim = Simulation(small_world, llm=LLMService(small_world, config))
    monitor = Monitor(heartbeat=0.05)
    with MetricsServer(monitor, port=0) as server:
        monitor.attach(sim)
        llm = json.loads((await aget(f"{server.url}/healthz"))[2])["checks"]["llm"]
        assert llm["ok"] and llm["state"] == "reachable" and llm["mode"] == "online" and llm["servers_up"] == 2
        assert llm["servers"][0] == {"url": "http://127.0.0.1:9/v1", "state": "closed"}  # no credentials
        for s in sim.llm.client.servers:  # every breaker open: answers come from the offline generator
            s.open_until = time.monotonic() + 60
        await asyncio.sleep(0.15)
        status, _, body = await aget(f"{server.url}/healthz")
        llm = json.loads(body)["checks"]["llm"]
        assert status == 200 and llm["state"] == "fallback" and llm["mode"] == "fallback" and llm["servers_up"] == 0
        samples = scrape((await aget(f"{server.url}/metrics"))[2])
        assert one(samples, "agora_llm_mode", mode="fallback") == 1 and one(samples, "agora_llm_servers_up") == 0
        assert "secret" not in (await aget(f"{server.url}/metrics"))[2]
        monitor.detach()
    await sim.aclose()
