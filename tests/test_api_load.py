"""``agora serve`` under load (issue 57): 50 clients at once for a minute, mixing reads, injections and
forecasts, get no 5xx; then ``kill -9``, and once the world is opened again (its journal replayed) every
injection that was answered 2xx is in it exactly once, with its text.

The probe ran locust; this is the same load from threads with ``http.client`` (one connection a request, as a
browser's or a script's): ``AGORA_LOAD_CLIENTS`` and ``AGORA_LOAD_SECONDS`` change its size (50 and 60).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import agora
from test_api import ADMIN, WAIT, Server

from sim.store.check import check_world
from sim.store.worldfile import read_meta

CLIENTS = int(os.environ.get("AGORA_LOAD_CLIENTS", "50"))
SECONDS = float(os.environ.get("AGORA_LOAD_SECONDS", "60"))
AGENTS = 2000
#: What a client does, by weight: reads of the world, a page of sessions, an agent; injections (seeds drawn, chosen
#: by a method, or listed); forecasts.
MIX = (("world", 20), ("sessions", 15), ("agent", 15), ("inject", 45), ("forecast", 5))


@dataclass
class Tally:
    """What the clients saw: statuses by kind, the injections answered 2xx, 5xx answers, latencies."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: Counter = field(default_factory=Counter)
    acked: list[tuple[int, int, str]] = field(default_factory=list)
    server_errors: list[tuple[str, int, bytes]] = field(default_factory=list)
    unexpected: list[tuple[str, int, bytes]] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


#: The answers each kind of request may get (409: the world holds --max-messages messages, two forecasts run
#: already, or no session is running at the instant a forecast branches).
EXPECTED = {"world": {200}, "sessions": {200}, "agent": {200}, "inject": {201, 409}, "forecast": {202, 409}}


def _request(port: int, kind: str, rng: random.Random, name: str, i: int) -> tuple[str, str, bytes | None]:
    if kind == "world":
        return "GET", "/api/v1/world", None
    if kind == "sessions":
        return "GET", f"/api/v1/sessions?limit=20&offset={rng.randrange(0, 200)}", None
    if kind == "agent":
        return "GET", f"/api/v1/agents/{rng.randrange(AGENTS)}", None
    if kind == "inject":
        seeds = rng.choice(["random:3", "degree:3", "top:2", "pagerank:2", [rng.randrange(AGENTS) for _ in range(3)]])
        body = {"text": f"{name}-{i}", "seeds": seeds, "params": {"p": 0.03}}
        return "POST", "/api/v1/messages", json.dumps(body).encode()
    return "POST", "/api/v1/forecasts", json.dumps({"runs": 4, "ticks": 3}).encode()


def _client(port: int, name: str, seed: int, stop: threading.Event, tally: Tally) -> None:
    """Send requests drawn from :data:`MIX` until ``stop``; record every answer."""
    rng = random.Random(seed)
    kinds, weights = zip(*MIX)
    i = 0
    while not stop.is_set():
        i += 1
        kind = rng.choices(kinds, weights)[0]
        method, path, body = _request(port, kind, rng, name, i)
        headers = {"Authorization": f"Bearer {ADMIN}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        con = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
        t0 = time.perf_counter()
        try:
            con.request(method, path, body=body, headers=headers)
            resp = con.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            with tally.lock:
                tally.failures.append(f"{kind}: {type(exc).__name__}: {exc}")
            return
        finally:
            con.close()
        elapsed = time.perf_counter() - t0
        with tally.lock:
            tally.latencies.append(elapsed)
            tally.statuses[(kind, resp.status)] += 1
            if resp.status >= 500:
                tally.server_errors.append((kind, resp.status, data[:300]))
            elif resp.status not in EXPECTED[kind]:
                tally.unexpected.append((kind, resp.status, data[:300]))
            if kind == "inject" and 200 <= resp.status < 300:
                answer = json.loads(data)
                tally.acked.append((answer["message"], answer["session"], json.loads(body or b"{}")["text"]))


def run_load(port: int, clients: int, seconds: float, seed: int = 57) -> Tally:
    """``clients`` threads, each its own connection per request, for ``seconds`` s; their tally."""
    tally = Tally()
    stop = threading.Event()
    threads = [
        threading.Thread(target=_client, args=(port, f"c{c}", seed * 1000 + c, stop, tally), daemon=True)
        for c in range(clients)
    ]
    for t in threads:
        t.start()
    stop.wait(seconds)  # the load's length: the clients run meanwhile
    stop.set()
    for t in threads:
        t.join(timeout=WAIT + 5)
    assert not any(t.is_alive() for t in threads), "a client hung past its request timeout"
    return tally


@pytest.mark.subprocess
@pytest.mark.slow
def test_fifty_clients_for_a_minute_get_no_5xx_and_a_kill_loses_no_acknowledged_injection(tmp_path: Path) -> None:
    _load_then_kill(tmp_path, CLIENTS, SECONDS)


@pytest.mark.subprocess
def test_ten_clients_for_ten_seconds_get_no_5xx_and_a_kill_loses_no_acknowledged_injection(tmp_path: Path) -> None:
    """The fast twin of the test above (``make test-fast``): the same mix, checks and kill, at a fifth of the
    clients for a sixth of the time."""
    _load_then_kill(tmp_path, 10, 10.0)


def _load_then_kill(tmp_path: Path, clients: int, seconds: float) -> None:
    """``clients`` clients for ``seconds`` s against a served world that runs, then a kill -9 and the checks."""
    done = agora(tmp_path, "new", "w.db", "--agents", str(AGENTS), "--seed", "5")
    assert done.returncode == 0, done.stderr
    world = str(tmp_path / "w.db")
    server = Server(tmp_path, "w.db", "--checkpoint-every", "10")
    try:
        # A running session to forecast from the first request on, and a world that runs on under the load.
        assert server.call("POST", "/api/v1/messages", {"text": "first", "seeds": "random:5"})[0] == 201
        assert server.call("POST", "/api/v1/step", {"ticks": 1})[0] == 200
        assert server.call("POST", "/api/v1/run", {"ticks_per_second": 10})[0] == 200
        t0 = time.perf_counter()
        tally = run_load(server.port, clients, seconds)
        took = time.perf_counter() - t0
        assert server.proc.poll() is None, server.errors()
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(timeout=WAIT)
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()
        server.stderr.close()
    lat = sorted(tally.latencies)
    print(
        f"load: {clients} clients, {took:.1f} s, {len(lat):,} requests ({len(lat) / took:.0f}/s), "
        f"p50 {lat[len(lat) // 2] * 1000:.0f} ms, p99 {lat[int(len(lat) * 0.99)] * 1000:.0f} ms; "
        f"{len(tally.acked):,} injections acknowledged; statuses {dict(sorted(tally.statuses.items()))}"
    )
    assert not tally.server_errors, f"{len(tally.server_errors)} answers 5xx, e.g. {tally.server_errors[:3]}"
    assert not tally.failures, f"{len(tally.failures)} requests failed, e.g. {tally.failures[:3]}"
    assert not tally.unexpected, f"{len(tally.unexpected)} unexpected answers, e.g. {tally.unexpected[:3]}"
    assert "Traceback" not in server.errors(), server.errors()[-3000:]
    for kind, _ in MIX:  # every kind of request was served, not only refused
        assert any(tally.statuses[(kind, s)] for s in EXPECTED[kind] if s < 300), (kind, tally.statuses)
    assert len(tally.acked) >= clients, "too few injections were acknowledged to test anything"
    # As the kill left it: the file opens and passes check; once a writer opened it (its journal replayed),
    # every acknowledged injection is there once, with the id and the session it was answered with.
    assert check_world(world)["ok"]
    done = agora(tmp_path, "run", world, "--steps", "1")
    assert done.returncode == 0, done.stderr
    meta = read_meta(world)
    texts = Counter(str(m["text"]) for m in meta["messages"])
    by_id = {int(m["id"]): str(m["text"]) for m in meta["messages"]}
    sessions = {int(s["id"]): int(s["message_id"]) for s in meta["sessions"]}
    assert len({m for m, _, _ in tally.acked}) == len(tally.acked), "a message id was answered twice"
    lost = [(m, t) for m, _, t in tally.acked if by_id.get(m) != t]
    assert not lost, f"{len(lost)} of {len(tally.acked)} acknowledged injections lost, e.g. {lost[:3]}"
    twice = [t for _, _, t in tally.acked if texts[t] != 1]
    assert not twice, f"{len(twice)} acknowledged injections are in the world more than once, e.g. {twice[:3]}"
    missing = [s for _, s, _ in tally.acked if s not in sessions]
    assert not missing, f"{len(missing)} acknowledged sessions are missing, e.g. {missing[:3]}"
