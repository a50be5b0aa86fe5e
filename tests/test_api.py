"""``agora serve``: the management API, driven over real HTTP against the real program in a subprocess.

Auth refusals on every route, read-only tokens, the happy path, malformed bodies and bad values, the event
stream, concurrent clients, and ``kill -9`` during a run then a restart with the world intact."""

from __future__ import annotations

import http.client
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT, agora

ADMIN = "admin-token-0123456789abcdef"
VIEWER = "viewer-token-0123456789abcdef"
#: Bound on waiting for something that should take well under a second (only bounds a hang).
WAIT = 60.0


class Server:
    """``agora serve`` in a subprocess, its port from ``--port-file`` (written once it listens)."""

    def __init__(
        self, folder: Path, world: str, *extra: str, env: dict | None = None, tokens: bool = True, preexec_fn=None
    ) -> None:
        self.folder = folder
        (folder / "admin.token").write_text(ADMIN + "\n")
        (folder / "viewer.token").write_text(VIEWER + "\n")
        given = ["--token-file", str(folder / "admin.token"), "--read-token-file", str(folder / "viewer.token")]
        port_file = folder / "port.txt"
        if port_file.exists():
            port_file.unlink()
        full_env = {k: v for k, v in os.environ.items() if k not in ("AGORA_API_TOKEN", "AGORA_PROGRESS")}
        full_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
        full_env.update(env or {})
        self.stderr = open(folder / "serve.err", "w+b")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sim",
                "serve",
                world,
                "--port",
                "0",
                "--port-file",
                str(port_file),
                *(given if tokens else []),
                *extra,
            ],
            cwd=folder,
            env=full_env,
            stdout=subprocess.DEVNULL,
            stderr=self.stderr,
            preexec_fn=preexec_fn,
        )
        deadline = time.monotonic() + WAIT
        while not port_file.exists():
            if self.proc.poll() is not None:
                raise AssertionError(f"the server ended: {self.errors()}")
            if time.monotonic() > deadline:
                raise AssertionError("the server did not start")
            time.sleep(0.02)
        self.port = int(port_file.read_text())

    def errors(self) -> str:
        if not self.stderr.closed:
            self.stderr.flush()
        return (self.folder / "serve.err").read_bytes().decode(errors="replace")

    def call(
        self,
        method: str,
        path: str,
        body: object = None,
        token: str | None = ADMIN,
        raw: bytes | None = None,
        headers: dict | None = None,
    ) -> tuple[int, object, dict]:
        con = http.client.HTTPConnection("127.0.0.1", self.port, timeout=WAIT)
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if data is not None and not any(k.lower() == "content-type" for k in h):
            h["Content-Type"] = "application/json"
        con.request(method, path, body=data, headers=h)
        res = con.getresponse()
        text = res.read()
        con.close()
        try:
            payload = json.loads(text) if text else None
        except ValueError:
            payload = text.decode(errors="replace")
        return res.status, payload, {k.lower(): v for k, v in res.getheaders()}

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(WAIT)
        self.stderr.close()
        return code


ROUTES = [
    ("GET", "/api/v1/world"),
    ("POST", "/api/v1/messages"),
    ("POST", "/api/v1/step"),
    ("POST", "/api/v1/run"),
    ("POST", "/api/v1/pause"),
    ("GET", "/api/v1/sessions"),
    ("GET", "/api/v1/sessions/1"),
    ("GET", "/api/v1/agents/0"),
    ("GET", "/api/v1/communities"),
    ("GET", "/api/v1/snapshots"),
    ("POST", "/api/v1/snapshots"),
    ("POST", "/api/v1/snapshots/x/load"),
    ("GET", "/api/v1/events"),
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/api/v1/interventions"),
    ("POST", "/api/v1/interventions"),
    ("POST", "/api/v1/llm/estimate"),
]


@pytest.fixture(scope="module")
def world_file(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("api")
    res = agora(folder, "new", "w.db", "--agents", "3000", "--seed", "4")
    assert res.returncode == 0, res.stderr
    return folder / "w.db"


def serve_a_running_session(folder: Path, world_file: Path) -> Server:
    """A server of a copy of ``world_file`` in ``folder`` with one running session (an ic rumour stepped twice):
    what a forecast branches."""
    import shutil

    shutil.copy(world_file, folder / "w.db")
    s = Server(folder, "w.db")
    status, body, _ = s.call("POST", "/api/v1/messages", {"text": "rumour", "model": "ic", "seeds": "random:20"})
    assert status == 201, body
    assert s.call("POST", "/api/v1/step", {"ticks": 2})[0] == 200
    return s


@pytest.fixture
def server(tmp_path, world_file):
    import shutil

    shutil.copy(world_file, tmp_path / "w.db")
    s = Server(tmp_path, "w.db", "--checkpoint-every", "5")
    yield s
    s.stop()


@pytest.mark.subprocess
def test_every_route_refuses_a_missing_or_wrong_token(server):
    before = server.call("GET", "/api/v1/world")[1]["tick"]
    for method, path in ROUTES:
        for token, headers in (
            (None, None),
            ("not-the-token-at-all-xxxxxxxx", None),
            (None, {"Authorization": f"Basic {ADMIN}"}),
            (ADMIN[:-1], None),
            (ADMIN + "x", None),
        ):
            status, body, head = server.call(method, path, {"ticks": 1}, token=token, headers=headers)
            assert status == 401, (method, path, status, body)
            assert "bearer token" in body["error"] and head["www-authenticate"].startswith("Bearer")
    assert server.call("GET", "/api/v1/world")[1]["tick"] == before  # nothing was done
    # A read-only token reads, and is refused (403) everything that changes the world.
    for method, path in ROUTES:
        status, body, _ = (
            server.call(method, path, {"name": "r"}, token=VIEWER) if method == "POST" else (None, None, None)
        )
        if method == "POST":
            assert status == 403 and "may only read" in body["error"], (path, status, body)
    assert server.call("GET", "/api/v1/world", token=VIEWER)[0] == 200
    assert server.call("GET", "/api/v1/world")[1]["tick"] == before


@pytest.mark.subprocess
def test_the_happy_path(server, tmp_path):
    status, world, _ = server.call("GET", "/api/v1/world")
    assert status == 200 and world["agents"] == 3000 and world["state"] == "paused" and world["tick"] == 0
    status, made, _ = server.call(
        "POST",
        "/api/v1/messages",
        {
            "text": "Breaking [bold]news[/] \x1b[31m",
            "model": "sir",
            "params": {"beta": 0.2, "gamma": 0.3},
            "seeds": "top:5",
            "topics": ["politics"],
            "priority": 2,
        },
    )
    assert status == 201 and made["session"] == 1
    status, stepped, _ = server.call("POST", "/api/v1/step", {"ticks": 4})
    assert status == 200 and stepped == {"tick": 4, "state": "paused"}
    status, s, _ = server.call("GET", "/api/v1/sessions/1")
    assert (
        status == 200 and s["text"] == "Breaking [bold]news[/] \x1b[31m" and s["model"] == "sir" and s["reached"] >= 5
    )
    series = s["series"]
    assert series["tick"] == list(range(len(series["tick"]))) and len(series["tick"]) == 4
    for i in range(len(series["tick"])):
        assert sum(series[k][i] for k in ("S", "I", "R")) == 3000
    # The session's cascade: every agent ever infected is in the forest, five seeds are its roots.
    cascade = s["cascade"]
    assert cascade["size"] == s["reached"] and cascade["trees"] == 5
    assert cascade["depth"] == series["depth"][-1] and cascade["max_breadth"] == series["breadth"][-1]
    listed = server.call("GET", "/api/v1/sessions")[1]["sessions"]
    assert listed[0]["id"] == 1 and "cascade" not in listed[0]
    status, a, _ = server.call("GET", "/api/v1/agents/17")
    assert status == 200 and a["id"] == 17 and "name" in a and a["memory"]["remembers"] is False
    assert server.call("GET", "/api/v1/communities")[0] == 200
    status, saved, _ = server.call("POST", "/api/v1/snapshots", {"name": "day-1"})
    assert status == 201 and saved["name"] == "day-1" and saved["tick"] == 4 and (tmp_path / "day-1.snap").is_file()
    assert server.call("POST", "/api/v1/step", {"ticks": 3})[1]["tick"] == 7
    assert "day-1" in [x["name"] for x in server.call("GET", "/api/v1/snapshots")[1]["snapshots"]]
    status, loaded, _ = server.call("POST", "/api/v1/snapshots/day-1/load")
    assert status == 200 and loaded["tick"] == 4
    assert server.call("GET", "/api/v1/world")[1]["tick"] == 4
    spec = server.call("GET", "/api/v1/openapi.json")[1]
    assert spec["openapi"].startswith("3.") and {p for p in spec["paths"]} >= {
        p.replace("/1", "/{id}").replace("/0", "/{id}").replace("/x/", "/{name}/") for _, p in ROUTES
    }
    assert server.stop() == 0
    # The audit log names the token, never its secret; neither the file nor the server's output holds it.
    con = sqlite3.connect(tmp_path / "w.db")
    rows = con.execute("SELECT action, details FROM audit ORDER BY id").fetchall()
    con.close()
    actions = [a for a, _ in rows]
    assert {"inject", "step", "save", "load"} <= set(actions)
    assert all(json.loads(d).get("by") == "admin" for a, d in rows if a in ("inject", "step", "save", "load"))
    for secret in (ADMIN, VIEWER):
        assert secret.encode() not in (tmp_path / "w.db").read_bytes()
        assert secret not in server.errors()
    assert agora(tmp_path, "check", "w.db").returncode == 0


@pytest.mark.subprocess
def test_malformed_bodies_and_bad_values_are_one_sentence(server):
    cases = [
        ("POST", "/api/v1/step", b"{ticks: 2", 400, "not valid JSON"),
        ("POST", "/api/v1/step", b"[1, 2]", 400, "not an object"),
        ("POST", "/api/v1/step", b'{"ticks": "two"}', 400, "ticks"),
        ("POST", "/api/v1/step", b'{"ticks": 0}', 400, "from 1 to 10,000"),
        ("POST", "/api/v1/step", b'{"tick": 2}', 400, "unknown field 'tick'"),
        ("POST", "/api/v1/messages", b"", 400, "empty"),
        ("POST", "/api/v1/messages", b'{"model": "ic"}', 400, "no text"),
        ("POST", "/api/v1/messages", b'{"text": "x", "model": "nope"}', 400, "nope"),
        ("POST", "/api/v1/messages", b'{"text": "x", "params": {"p": 7}}', 400, "p"),
        ("POST", "/api/v1/messages", b'{"text": "x", "seeds": "random:0"}', 400, "seed selection"),
        ("POST", "/api/v1/messages", b'{"text": "x", "topics": "politics"}', 400, "topics"),
        ("POST", "/api/v1/messages", b'{"text": 5}', 400, "text must be a string"),
        ("POST", "/api/v1/run", b'{"ticks_per_second": -1}', 400, "ticks_per_second"),
        ("POST", "/api/v1/snapshots", b'{"name": "../escape"}', 400, "snapshot name"),
        ("POST", "/api/v1/snapshots", b"{}", 400, "no name"),
        ("GET", "/api/v1/sessions/99", None, 404, "no session 99"),
        ("GET", "/api/v1/sessions/abc", None, 404, "whole numbers"),
        ("GET", "/api/v1/agents/-5", None, 404, "no agent"),
        ("POST", "/api/v1/snapshots/missing/load", None, 404, "no snapshot 'missing'"),
        ("GET", "/api/v1/nothing", None, 404, "no route"),
        ("POST", "/api/v1/messages", b'{"text": "' + b"x" * (2 << 20) + b'"}', 400, "more than the"),
        ("DELETE", "/api/v1/world", None, 405, "not allowed"),
    ]
    for method, path, raw, want, needle in cases:
        status, body, _ = server.call(method, path, raw=raw)
        assert status == want, (path, raw, status, body)
        assert needle in body["error"] and "\n" not in body["error"], (path, raw, body)
    # What the state forbids: stepping while running (409), and the world as it was afterwards.
    assert server.call("POST", "/api/v1/run", {"ticks_per_second": 50})[0] == 200
    status, body, _ = server.call("POST", "/api/v1/step", {"ticks": 1})
    assert status == 409 and "pause it first" in body["error"]
    assert server.call("POST", "/api/v1/pause")[1]["state"] == "paused"
    assert server.call("GET", "/api/v1/sessions")[1]["sessions"] == []


def _read_events(server: Server, until, token: str = ADMIN, subscribed: threading.Event | None = None) -> list[dict]:
    """Events from ``/api/v1/events`` until ``until(events)`` says so (the stream is closed then);
    ``subscribed`` is set when the first event (hello) has arrived."""
    con = http.client.HTTPConnection("127.0.0.1", server.port, timeout=WAIT)
    con.request("GET", "/api/v1/events", headers={"Authorization": f"Bearer {token}"})
    res = con.getresponse()
    assert res.status == 200 and res.getheader("Content-Type").startswith("text/event-stream")
    events: list[dict] = []
    kind = None
    try:
        while not until(events):
            line = res.fp.readline().decode()
            if not line:
                break
            if line.startswith("event: "):
                kind = line[7:].strip()
            elif line.startswith("data: "):
                events.append({"event": kind, **json.loads(line[6:])})
                if subscribed is not None:
                    subscribed.set()
    finally:
        con.close()
    return events


@pytest.mark.subprocess
def test_the_event_stream_follows_the_run(server):
    got: dict[str, list] = {}
    subscribed = threading.Event()

    def listen() -> None:
        got["events"] = _read_events(
            server,
            lambda ev: (
                any(e["type"] == "session_finished" for e in ev)
                and any(e["type"] == "state" and e["state"] == "paused" for e in ev)
            ),
            subscribed=subscribed,
        )

    t = threading.Thread(target=listen)
    t.start()
    assert subscribed.wait(WAIT)  # the stream's first event (hello) has arrived: nothing later is missed
    deadline = time.monotonic() + WAIT
    assert server.call("POST", "/api/v1/messages", {"text": "spread", "params": {"p": 0.2}})[0] == 201
    assert server.call("POST", "/api/v1/run")[0] == 200
    while True:  # until the cascade ends
        s = server.call("GET", "/api/v1/sessions/1")[1]
        if s["status"] != "running" and s["status"] != "queued":
            break
        assert time.monotonic() < deadline
    assert server.call("POST", "/api/v1/pause")[0] == 200
    t.join(WAIT)
    events = got["events"]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "hello" and events[0]["agents"] == 3000
    ticks = [e for e in events if e["type"] == "tick"]
    assert ticks and all(e["event"] == "tick" for e in ticks)
    assert [e["tick"] for e in ticks] == sorted(e["tick"] for e in ticks)
    assert any(x["id"] == 1 for e in ticks for x in e["sessions"])
    finished = next(e for e in events if e["type"] == "session_finished")
    assert finished["session"] == 1 and finished["reached"] == s["reached"]
    seqs = [e["seq"] for e in events[1:]]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


@pytest.mark.subprocess
def test_fifty_concurrent_clients_leave_the_world_consistent(server, tmp_path):
    seconds = float(os.environ.get("AGORA_API_STRESS_SECONDS", "6"))
    answers: list[int] = []
    problems: list[str] = []
    lock = threading.Lock()
    mix = [
        ("GET", "/api/v1/world", None),
        ("GET", "/api/v1/sessions", None),
        ("POST", "/api/v1/step", {"ticks": 1}),
        ("POST", "/api/v1/messages", {"text": "load", "params": {"p": 0.05}}),
        ("POST", "/api/v1/run", {"ticks_per_second": 200}),
        ("POST", "/api/v1/pause", None),
        ("GET", "/api/v1/agents/5", None),
        ("GET", "/api/v1/sessions/1", None),
        ("POST", "/api/v1/snapshots", {"name": "stress"}),
        ("GET", "/api/v1/snapshots", None),
        ("POST", "/api/v1/step", "x"),
    ]
    ok = {200, 201, 404, 409, 400}
    stop_at = time.monotonic() + seconds

    def client(k: int) -> None:
        i = k
        while time.monotonic() < stop_at:
            method, path, body = mix[i % len(mix)]
            i += 7
            try:
                status, payload, _ = server.call(
                    method, path, raw=b"{oops" if body == "x" else None, body=None if body == "x" else body
                )
            except Exception as exc:  # noqa: BLE001 - an unanswered call is the failure this test looks for
                with lock:
                    problems.append(f"{method} {path}: {type(exc).__name__}: {exc}")
                continue
            with lock:
                answers.append(status)
                if status not in ok or (status >= 400 and "error" not in payload):
                    problems.append(f"{method} {path}: {status} {payload}")

    threads = [threading.Thread(target=client, args=(k,)) for k in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT + seconds)
    assert not problems, problems[:5]
    assert len(answers) >= 50
    server.call("POST", "/api/v1/pause")
    assert server.stop() == 0
    res = agora(tmp_path, "check", "w.db", "--json")
    assert res.returncode == 0, res.stdout


@pytest.mark.subprocess
def test_kill_9_during_a_run_then_restart_with_the_world_intact(tmp_path, world_file):
    import shutil

    shutil.copy(world_file, tmp_path / "w.db")
    s = Server(tmp_path, "w.db", "--checkpoint-every", "3")
    assert (
        s.call("POST", "/api/v1/messages", {"text": "x", "model": "sis", "params": {"beta": 0.1, "gamma": 0.05}})[0]
        == 201
    )
    assert s.call("POST", "/api/v1/run", {"ticks_per_second": 100})[0] == 200
    deadline = time.monotonic() + WAIT
    while s.call("GET", "/api/v1/world")[1]["tick"] < 12:
        assert time.monotonic() < deadline
    assert s.stop(signal.SIGKILL) == -signal.SIGKILL
    check = agora(tmp_path, "check", "w.db", "--json")
    assert check.returncode == 0, check.stdout
    restarted = Server(tmp_path, "w.db")
    try:
        world = restarted.call("GET", "/api/v1/world")[1]
        assert world["tick"] >= 9 and world["sessions"] == 1  # at most the ticks since the last checkpoint lost
        assert restarted.call("POST", "/api/v1/step", {"ticks": 2})[1]["tick"] == world["tick"] + 2
    finally:
        assert restarted.stop() == 0
    assert agora(tmp_path, "check", "w.db").returncode == 0


def test_refusals_at_start_are_one_sentence(tmp_path, world_file):
    res = agora(tmp_path, "serve", str(world_file), "--host", "0.0.0.0", "--port", "0")
    assert res.returncode == 2 and "no token was given" in res.stderr and res.stderr.count("\n") == 1
    (tmp_path / "short.token").write_text("abc\n")
    res = agora(tmp_path, "serve", str(world_file), "--port", "0", "--token-file", str(tmp_path / "short.token"))
    assert res.returncode == 2 and "shorter than 16" in res.stderr and "abc" not in res.stderr
    res = agora(tmp_path, "serve", str(tmp_path / "missing.db"), "--port", "0", env={"AGORA_API_TOKEN": ADMIN})
    assert res.returncode == 2 and "does not exist" in res.stderr and ADMIN not in res.stderr


@pytest.mark.subprocess
def test_the_living_network_options_of_run_apply_while_served(tmp_path, world_file):
    import shutil

    shutil.copy(world_file, tmp_path / "w.db")
    s = Server(tmp_path, "w.db", "--recommender", "hot", "--feed-size", "5")
    try:
        living = s.call("GET", "/api/v1/world")[1]["living"]
        assert living["on"] is True and living["recommender"] == "hot" and living["feed_size"] == 5
    finally:
        assert s.stop() == 0
    res = agora(tmp_path, "serve", "w.db", "--port", "0", "--recommender", "nope", env={"AGORA_API_TOKEN": ADMIN})
    assert res.returncode == 2 and "nope" in res.stderr and res.stderr.count("\n") == 1


@pytest.mark.subprocess
def test_metrics_and_health_on_the_same_server(tmp_path, world_file):
    import shutil

    shutil.copy(world_file, tmp_path / "w.db")
    s = Server(tmp_path, "w.db", "--metrics")
    try:
        status, body, head = s.call("GET", "/metrics", token=None)
        assert status == 200 and "agora_ticks_total" in body and head["content-type"].startswith("text/plain")
        status, health, _ = s.call("GET", "/healthz", token=None)
        assert status == 200 and health["status"] == "ok"
        assert s.call("GET", "/api/v1/world", token=None)[0] == 401  # the API still needs its token
    finally:
        assert s.stop() == 0


@pytest.mark.subprocess
def test_the_websocket_carries_the_same_events(server):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    url = f"ws://127.0.0.1:{server.port}/api/v1/live"
    with pytest.raises(InvalidStatus) as refused:
        connect(url, additional_headers={"Authorization": "Bearer wrong-token-0123456789"}, open_timeout=WAIT)
    assert refused.value.response.status_code == 401
    with connect(url, additional_headers={"Authorization": f"Bearer {ADMIN}"}, open_timeout=WAIT) as ws:
        hello = json.loads(ws.recv(timeout=WAIT))
        assert hello["type"] == "hello" and hello["agents"] == 3000
        assert server.call("POST", "/api/v1/messages", {"text": "ws", "params": {"p": 0.2}})[0] == 201
        assert server.call("POST", "/api/v1/step", {"ticks": 2})[0] == 200
        seen = []
        while len([e for e in seen if e["type"] == "tick"]) < 2:
            seen.append(json.loads(ws.recv(timeout=WAIT)))
        assert seen[0]["type"] == "message" and seen[0]["text"] == "ws"
        assert [e["tick"] for e in seen if e["type"] == "tick"] == [0, 1]


@pytest.mark.subprocess
def test_a_browser_gives_the_websocket_its_token_as_a_subprotocol(server):
    """Browsers cannot set Authorization on a WebSocket: the token rides in Sec-WebSocket-Protocol as
    agora.bearer.<unpadded base64url>, and the server answers agora.v1, never the token."""
    import base64

    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    url = f"ws://127.0.0.1:{server.port}/api/v1/live"

    def bearer(secret: str) -> str:
        return "agora.bearer." + base64.urlsafe_b64encode(secret.encode()).decode().rstrip("=")

    for offered in (
        [bearer("wrong-token-0123456789"), "agora.v1"],
        ["agora.bearer.***not-base64***", "agora.v1"],
        ["agora.bearer.", "agora.v1"],
        ["agora.v1"],
    ):
        with pytest.raises(InvalidStatus) as refused:
            connect(url, subprotocols=offered, open_timeout=WAIT)
        assert refused.value.response.status_code == 401
    with connect(url, subprotocols=["agora.v1", bearer(ADMIN)], open_timeout=WAIT) as ws:
        assert ws.subprotocol == "agora.v1"
        hello = json.loads(ws.recv(timeout=WAIT))
        assert hello["type"] == "hello" and hello["agents"] == 3000


FAILING_PLUGINS = """
from sim.plugin import ContentRecommender, PropagationModel


class Broken(PropagationModel):
    name = "broken-model"

    def step(self, ctx):
        raise RuntimeError("the model broke")


class BrokenFeed(ContentRecommender):
    name = "broken-feed"

    def score(self, ctx):
        raise ValueError("the feed broke")
"""


@pytest.mark.subprocess
def test_failures_are_said_with_the_plugins_file_and_line(tmp_path, world_file):
    """A failed session's resource carries its traceback and the plugin's file:line; a recommender that
    fails is switched off with a ``recommender_failed`` event, and the server's stderr says both."""
    import shutil

    shutil.copy(world_file, tmp_path / "w.db")
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "broken.py").write_text(FAILING_PLUGINS)
    lines = FAILING_PLUGINS.splitlines()
    model_line = next(i for i, ln in enumerate(lines, 1) if "the model broke" in ln)
    feed_line = next(i for i, ln in enumerate(lines, 1) if "the feed broke" in ln)
    s = Server(tmp_path, "w.db", "--plugins", str(plugins), "--recommender", "broken-feed")
    try:
        got: dict[str, list] = {}
        subscribed = threading.Event()

        def listen() -> None:
            got["events"] = _read_events(
                s,
                lambda ev: (
                    any(e["type"] == "session_finished" for e in ev)
                    and any(e["type"] == "recommender_failed" for e in ev)
                ),
                subscribed=subscribed,
            )

        t = threading.Thread(target=listen)
        t.start()
        assert subscribed.wait(WAIT)
        assert s.call("POST", "/api/v1/messages", {"text": "x", "model": "broken-model"})[0] == 201
        for _ in range(4):
            assert s.call("POST", "/api/v1/step", {"ticks": 1})[0] == 200
        t.join(WAIT)
        assert not t.is_alive()
        events = got["events"]
        where_model = f"{plugins / 'broken.py'}:{model_line}"
        finished = next(e for e in events if e["type"] == "session_finished")
        assert finished["status"] == "failed" and finished["where"] == where_model
        off = next(e for e in events if e["type"] == "recommender_failed")
        assert off["recommender"] == "broken-feed" and off["switched_off"] is True
        assert off["where"] == f"{plugins / 'broken.py'}:{feed_line}" and "the feed broke" in off["traceback"]
        status, session, _ = s.call("GET", "/api/v1/sessions/1")
        assert status == 200 and session["status"] == "failed" and session["where"] == where_model
        assert (
            session["traceback"].startswith("Traceback")
            and 'raise RuntimeError("the model broke")' in session["traceback"]
        )
    finally:
        assert s.stop() == 0
    err = s.errors()
    assert "session 1 failed at tick" in err and where_model in err
    assert "recommender broken-feed failed at tick" in err and "switched off" in err


@pytest.mark.subprocess
def test_an_intervention_over_http_blocks_the_hubs_at_the_next_tick(server):
    status, made, _ = server.call("POST", "/api/v1/messages", {"text": "x", "seeds": "degree:3", "params": {"p": 0.3}})
    assert status == 201
    status, entry, _ = server.call("POST", "/api/v1/interventions", {"action": "1:block:degree:20"})
    assert status == 201 and entry["applied"] is False and entry["at"] == 1 and entry["spec"] == "block:degree:20"
    for body, needle in (
        ({"action": "block:ris:5"}, "can take minutes"),
        ({"action": "block:file:/etc/passwd"}, "cannot be a file"),
        ({"action": "explode"}, "no known action"),
        ({"action": 5}, "must be a string"),
        ({"what": "block:degree:1"}, "unknown field"),
    ):
        status, err, _ = server.call("POST", "/api/v1/interventions", body)
        assert status == 400 and needle in err["error"] and "\n" not in err["error"], (body, err)
    assert server.call("POST", "/api/v1/step", {"ticks": 3})[1]["tick"] == 3
    status, listed, _ = server.call("GET", "/api/v1/interventions")
    (done,) = listed["interventions"]
    assert status == 200 and done["applied"] is True and done["agents"] == 20 and done["tick"] == 1
    s = server.call("GET", "/api/v1/sessions/1")[1]
    # The seeds are the 3 agents of most followers; blocking the top 20 at tick 1 (before round 1) leaves
    # the seeds adopted but stops them transmitting: nothing more is reached.
    assert s["reached"] == 3 and s["status"] == "completed"
