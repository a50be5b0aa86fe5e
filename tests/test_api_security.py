"""What a client can and cannot do (issue 30), over real HTTP against the real ``agora serve`` program.

No request names a path on the server (``file:`` seeds are refused; seeds may be a JSON list of ids); files
the server reads for a request are regular files inside its snapshot folder, within a size bound, read off
the event loop, and a request past its deadline answers 503 while the server goes on; every server has a
token (one is made when none is given); ``Host`` must be a loopback name or an allowed one, bodies must be
JSON, and a browser's WebSocket ``Origin`` must be the server's own or an allowed host; accepted sockets
have TCP_NODELAY; snapshot names are matched whole; texts, messages and session pages are bounded; bad
input is a 4xx with one sentence and a bug is a JSON 500 with its traceback in the server's log.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import os
import shutil
import socket
import stat
import threading
import time
from pathlib import Path

import pytest
from test_api import ADMIN, VIEWER, WAIT, Server, world_file  # noqa: F401 - world_file is a fixture

from sim.engine.requests import SEEDS_HINT


@pytest.fixture
def server(tmp_path, world_file):  # noqa: F811
    shutil.copy(world_file, tmp_path / "w.db")
    s = Server(tmp_path, "w.db")
    yield s
    s.stop()


def one_sentence(status: int, body: object, want: int, needle: str = "") -> None:
    assert status == want, (status, body)
    assert isinstance(body, dict) and isinstance(body.get("error"), str), body
    assert needle in body["error"] and "\n" not in body["error"], body


# -- 2. no path from a client -------------------------------------------------------------------------------
@pytest.mark.subprocess
def test_seeds_never_name_a_file_and_may_be_a_list_of_ids(server, tmp_path):
    seed_file = tmp_path / "seeds.txt"
    seed_file.write_text("1\n2\n3\n")  # a real, readable file: refused all the same
    for seeds in (
        f"file:{seed_file}",
        f"FILE:{seed_file}",
        f"  file:{seed_file}",
        "file:/etc/passwd",
        "file:",
        "nope:3",
        "",
        "ids",
    ):
        status, body, _ = server.call("POST", "/api/v1/messages", {"text": "x", "seeds": seeds})
        if seeds in ("", "ids"):
            assert status == 400, (seeds, body)
            continue
        one_sentence(status, body, 400, "unknown seed method" if seeds == "nope:3" else SEEDS_HINT)
    assert server.call("GET", "/api/v1/world")[1]["messages"] == 0
    # A JSON list of original ids is a seed selection.
    status, made, _ = server.call("POST", "/api/v1/messages", {"text": "x", "seeds": [5, 17, 17, 2999]})
    assert status == 201, made
    session = server.call("GET", f"/api/v1/sessions/{made['session']}")[1]
    assert session["seeds"] == "ids:5,17,17,2999"
    # Only ids: whole numbers that fit in 64 bits, at most 100,000 of them, at least one.
    for seeds, needle in (
        ([], "empty"),
        ([1, True], "not an agent id"),
        ([1.5], "not an agent id"),
        (["7"], "not an agent id"),
        ([2**63], "not an agent id"),
        ([-(2**63) - 1], "not an agent id"),
        ([[1]], "not an agent id"),
        ([0] * 100_001, "more than the 100,000"),
        ({"ids": [1]}, "seed selection"),
        (7, "seed selection"),
        ([123456789], "does not have"),
        ("ids:99999999999999999999999", "out of range"),
    ):
        status, body, _ = server.call("POST", "/api/v1/messages", {"text": "x", "seeds": seeds})
        one_sentence(status, body, 400)
        assert needle in body["error"] or "no agent" in body["error"], (seeds, body)
    assert server.call("GET", "/api/v1/world")[1]["messages"] == 1


# -- 3. nothing blocks the loop ---------------------------------------------------------------------------
@pytest.mark.subprocess
def test_snapshot_files_are_regular_files_inside_the_folder_within_a_bound(tmp_path, world_file):  # noqa: F811
    shutil.copy(world_file, tmp_path / "w.db")
    snaps = tmp_path / "snaps"
    server = Server(tmp_path, "w.db", "--snapshots", str(snaps))
    try:
        _snapshot_files(server, tmp_path, snaps)
    finally:
        assert server.stop() == 0


def _snapshot_files(server: Server, tmp_path: Path, snaps: Path) -> None:
    assert server.call("POST", "/api/v1/snapshots", {"name": "day"})[0] == 201
    shutil.copy(snaps / "day.snap", tmp_path / "real.snap")  # a good snapshot, outside the folder
    os.mkfifo(snaps / "pipe.snap")
    (snaps / "out.snap").symlink_to(tmp_path / "real.snap")
    (snaps / "zero.snap").symlink_to("/dev/zero")
    (snaps / "alias.snap").symlink_to(snaps / "day.snap")
    (snaps / "dangling.snap").symlink_to(snaps / "gone.snap")
    with open(snaps / "huge.snap", "wb") as fh:  # sparse: no disk used, but past the 8 GiB bound
        fh.truncate(8 * 2**30 + 1)
    # A FIFO held under a request: answered at once, and the world answers meanwhile within a second.
    answers: dict[str, tuple] = {}
    t = threading.Thread(target=lambda: answers.setdefault("pipe", server.call("POST", "/api/v1/snapshots/pipe/load")))
    t.start()
    con = http.client.HTTPConnection("127.0.0.1", server.port, timeout=1.0)
    con.request("GET", "/api/v1/world", headers={"Authorization": f"Bearer {ADMIN}"})
    assert con.getresponse().status == 200  # within the 1 s timeout
    con.close()
    t.join(WAIT)
    one_sentence(answers["pipe"][0], answers["pipe"][1], 400, "not a regular file")
    for name, want, needle in (
        ("out", 400, "outside the snapshot folder"),
        ("zero", 400, "outside the snapshot folder"),
        ("huge", 400, "more than the 8,589,934,592"),
        ("dangling", 404, "no snapshot 'dangling'"),
    ):
        status, body, _ = server.call("POST", f"/api/v1/snapshots/{name}/load")
        one_sentence(status, body, want, needle)
    assert server.call("GET", "/api/v1/world")[1]["tick"] == 0
    status, listed, _ = server.call("GET", "/api/v1/snapshots")
    assert status == 200 and sorted(x["name"] for x in listed["snapshots"]) == ["alias", "day", "huge", "out"]
    status, loaded, _ = server.call("POST", "/api/v1/snapshots/alias/load")  # a link inside the folder is fine
    assert status == 200 and loaded["tick"] == 0


SLOW_PLUGIN = '''
import os
import time

from sim.plugin import PropagationModel

RELEASE = {release!r}


class Held(PropagationModel):
    """Holds the tick (in its worker thread) until the test creates RELEASE."""

    name = "held"

    def step(self, ctx):
        end = time.monotonic() + 120
        while not os.path.exists(RELEASE) and time.monotonic() < end:
            time.sleep(0.01)
        raise RuntimeError("released")
'''


@pytest.mark.subprocess
def test_a_request_past_its_deadline_answers_503_while_the_server_goes_on(tmp_path, world_file):  # noqa: F811
    shutil.copy(world_file, tmp_path / "w.db")
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    release = tmp_path / "release"
    (plugins / "held.py").write_text(SLOW_PLUGIN.format(release=str(release)))
    s = Server(tmp_path, "w.db", "--plugins", str(plugins), "--plugin-budget", "0", "--request-timeout", "1")
    try:
        assert s.call("POST", "/api/v1/messages", {"text": "x", "model": "held"})[0] == 201
        status, body, _ = s.call("POST", "/api/v1/step", {"ticks": 2})  # seeded, then the plugin holds the tick
        one_sentence(status, body, 503, "took longer than 1 s and goes on in the server")
        con = http.client.HTTPConnection("127.0.0.1", s.port, timeout=1.0)  # the loop is free: answered at once
        con.request("GET", "/api/v1/world", headers={"Authorization": f"Bearer {ADMIN}"})
        res = con.getresponse()
        assert res.status == 200
        con.close()
        release.touch()
        deadline = time.monotonic() + WAIT
        while s.call("GET", "/api/v1/sessions/1")[1]["status"] != "failed":  # the step went on and ended
            assert time.monotonic() < deadline
        assert s.call("POST", "/api/v1/step", {"ticks": 1})[1]["tick"] == 3
    finally:
        release.touch()
        assert s.stop() == 0


# -- 4. every server has a token, and browsers cannot drive it ----------------------------------------
@pytest.mark.subprocess
def test_a_server_given_no_token_makes_one_in_a_private_file(tmp_path, world_file):  # noqa: F811
    shutil.copy(world_file, tmp_path / "w.db")
    s = Server(tmp_path, "w.db", tokens=False)
    token_file = tmp_path / "w.db.token"
    try:
        assert token_file.is_file() and stat.S_IMODE(token_file.stat().st_mode) == 0o600
        token = token_file.read_text().strip()
        assert len(token) >= 32
        status, body, _ = s.call("GET", "/api/v1/world", token=None)
        one_sentence(status, body, 401, "bearer token")
        assert s.call("POST", "/api/v1/step", {"ticks": 1}, token=None)[0] == 401
        assert s.call("GET", "/api/v1/world", token=token)[0] == 200
        assert s.call("POST", "/api/v1/step", {"ticks": 1}, token=token)[1]["tick"] == 1
        err = s.errors()
        assert f"written to {token_file}" in err and token not in err  # the path is printed, never the token
    finally:
        assert s.stop() == 0
    assert not token_file.exists()  # a token for this run only
    assert token not in s.errors()
    # $AGORA_API_TOKEN (the container's way) still works, and then no file is made.
    s = Server(tmp_path, "w.db", tokens=False, env={"AGORA_API_TOKEN": ADMIN})
    try:
        assert not token_file.exists()
        assert s.call("GET", "/api/v1/world")[0] == 200 and s.call("GET", "/api/v1/world", token=None)[0] == 401
    finally:
        assert s.stop() == 0


@pytest.mark.subprocess
def test_the_host_header_must_be_a_loopback_or_an_allowed_name(tmp_path, world_file):  # noqa: F811
    shutil.copy(world_file, tmp_path / "w.db")
    s = Server(tmp_path, "w.db", "--metrics", "--allow-host", "api.example.org")
    try:
        for host in (
            "evil.example",
            "127.0.0.1.nip.io",
            "attacker.localhost.evil",
            "10.0.0.1:8765",
            "api.example.org.evil",
            "",
            "a b",
            "x:y",
        ):
            for path, token in (
                ("/api/v1/world", ADMIN),
                ("/healthz", None),
                ("/metrics", None),
                ("/api/v1/nothing", ADMIN),
            ):
                status, body, _ = s.call("GET", path, token=token, headers={"Host": host})
                one_sentence(status, body, 403, "Host" if host in ("", "a b", "x:y") else "--allow-host")
        status, body, _ = s.call("POST", "/api/v1/step", {"ticks": 1}, headers={"Host": "evil.example"})
        one_sentence(status, body, 403, "'evil.example' is not one this server answers to")
        assert s.call("GET", "/api/v1/world")[1]["tick"] == 0
        for host in (
            f"127.0.0.1:{s.port}",
            f"localhost:{s.port}",
            "LOCALHOST",
            f"[::1]:{s.port}",
            "127.0.0.2",
            "api.example.org",
            "API.Example.Org.:443",
        ):
            assert s.call("GET", "/api/v1/world", headers={"Host": host})[0] == 200, host
    finally:
        assert s.stop() == 0


@pytest.mark.subprocess
def test_bodies_must_be_json(server):
    for ctype in (
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonx",
    ):
        status, body, _ = server.call("POST", "/api/v1/step", raw=b'{"ticks": 1}', headers={"Content-Type": ctype})
        one_sentence(status, body, 415, "Content-Type: application/json")
    con = http.client.HTTPConnection("127.0.0.1", server.port, timeout=WAIT)  # a body with no type at all
    con.putrequest("POST", "/api/v1/step")
    con.putheader("Authorization", f"Bearer {ADMIN}")
    con.putheader("Content-Length", "12")
    con.endheaders(b'{"ticks": 1}')
    res = con.getresponse()
    assert res.status == 415
    con.close()
    assert server.call("GET", "/api/v1/world")[1]["tick"] == 0
    status, body, _ = server.call(
        "POST", "/api/v1/step", raw=b'{"ticks": 1}', headers={"Content-Type": "Application/JSON; charset=utf-8"}
    )
    assert status == 200 and body["tick"] == 1
    assert server.call("POST", "/api/v1/pause")[0] == 200  # no body: no type needed
    assert server.call("POST", "/api/v1/step", raw=b"", headers={"Content-Type": "text/plain"})[1]["tick"] == 2


@pytest.mark.subprocess
def test_a_browser_origin_must_be_the_servers_own_or_an_allowed_host(tmp_path, world_file):  # noqa: F811
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    shutil.copy(world_file, tmp_path / "w.db")
    s = Server(tmp_path, "w.db", "--allow-host", "dash.example.org")
    try:
        url = f"ws://127.0.0.1:{s.port}/api/v1/live"
        bearer = "agora.bearer." + base64.urlsafe_b64encode(ADMIN.encode()).decode().rstrip("=")
        for origin in (
            "http://evil.example",
            "null",
            "http://127.0.0.1:1",
            f"https://evil.example:{s.port}",
            f"http://localhost.evil:{s.port}",
            "file://",
            "chrome-extension://abc",
        ):
            with pytest.raises(InvalidStatus) as refused:
                connect(url, subprotocols=["agora.v1", bearer], origin=origin, open_timeout=WAIT)
            assert refused.value.response.status_code == 403, origin
            assert b"may not use this server" in refused.value.response.body
        for origin in (
            f"http://127.0.0.1:{s.port}",
            f"http://localhost:{s.port}",
            "https://dash.example.org",
            "http://dash.example.org:8080",
            None,
        ):
            with connect(url, subprotocols=["agora.v1", bearer], origin=origin, open_timeout=WAIT) as ws:
                assert ws.subprotocol == "agora.v1"
                assert ws.recv(timeout=WAIT).startswith('{"type": "hello"')
        with pytest.raises(InvalidStatus) as refused:  # an allowed origin still needs the token
            connect(url, subprotocols=["agora.v1"], origin="https://dash.example.org", open_timeout=WAIT)
        assert refused.value.response.status_code == 401
    finally:
        assert s.stop() == 0


# -- 5. TCP_NODELAY -------------------------------------------------------------------------------------
def test_accepted_sockets_have_tcp_nodelay():
    """Keep-alive requests would wait ~40 ms each for Nagle and the delayed ACK without it (see
    ``agora bench api`` for the timing)."""
    from sim.core.net import listen

    async def main() -> int:
        sock = listen("127.0.0.1", 0)
        got: asyncio.Future = asyncio.get_running_loop().create_future()

        async def accepted(reader, writer) -> None:
            got.set_result(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(accepted, sock=sock)
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", sock.getsockname()[1])
            value = await asyncio.wait_for(got, WAIT)
            writer.close()
            return value
        finally:
            server.close()

    assert asyncio.run(main()) != 0


# -- 6. snapshot names are matched whole -------------------------------------------------------------------
@pytest.mark.subprocess
def test_snapshot_names_are_matched_whole(server, tmp_path):
    for name in ("a\n", "a\nb", "day\n.snap", "a\r", "a/b", ".a", "a" * 101, "ä"):
        status, body, _ = server.call("POST", "/api/v1/snapshots", {"name": name})
        one_sentence(status, body, 400, "snapshot name")
    for quoted in ("a%0A", "a%0A.snap", "day%0D", "%2E%2E"):
        status, body, _ = server.call("POST", f"/api/v1/snapshots/{quoted}/load")
        one_sentence(status, body, 400, "snapshot name")
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".snap") or "\n" in p.name]


# -- 7. bounds ----------------------------------------------------------------------------------------------
@pytest.mark.subprocess
def test_texts_messages_and_session_pages_are_bounded(tmp_path, world_file):  # noqa: F811
    shutil.copy(world_file, tmp_path / "w.db")
    s = Server(tmp_path, "w.db", "--max-messages", "5")
    try:
        status, body, _ = s.call("POST", "/api/v1/messages", {"text": "x" * 10_001})
        one_sentence(status, body, 400, "more than the 10,000 a message may have")
        assert s.call("POST", "/api/v1/messages", {"text": "é" * 10_000, "seeds": "random:1"})[0] == 201
        for _ in range(4):
            assert s.call("POST", "/api/v1/messages", {"text": "x", "seeds": "random:1"})[0] == 201
        status, body, _ = s.call("POST", "/api/v1/messages", {"text": "x"})
        one_sentence(status, body, 409, "the most this server allows (5, max_messages)")
        status, page, _ = s.call("GET", "/api/v1/sessions")
        assert status == 200 and [x["id"] for x in page["sessions"]] == [1, 2, 3, 4, 5]
        assert page["total"] == 5 and page["limit"] == 100 and page["offset"] == 0 and page["next_offset"] is None
        page = s.call("GET", "/api/v1/sessions?limit=2")[1]
        assert [x["id"] for x in page["sessions"]] == [1, 2] and page["next_offset"] == 2 and page["total"] == 5
        page = s.call("GET", "/api/v1/sessions?limit=2&offset=4")[1]
        assert [x["id"] for x in page["sessions"]] == [5] and page["next_offset"] is None
        assert s.call("GET", f"/api/v1/sessions?offset={2**62}")[1]["sessions"] == []
        for query in (
            "limit=0",
            "limit=1001",
            "limit=-1",
            "limit=abc",
            "limit=1e3",
            "offset=-1",
            f"offset={2**64}",
            "limit=%D9%A3",
            "page=2",
            "limit=",
            "limit=%201",
            "limit=1%00",
        ):
            status, body, _ = s.call("GET", f"/api/v1/sessions?{query}")
            one_sentence(status, body, 400)
        with pytest.raises(AssertionError):  # the bound must be a positive whole number
            Server(tmp_path, "w.db", "--max-messages", "0")
    finally:
        assert s.stop() == 0


@pytest.mark.subprocess
def test_text_that_is_not_unicode_is_refused_and_answers_are_always_json(server):
    """JSON can spell a lone surrogate (``"\\ud800"``) that UTF-8 cannot hold: refused wherever it is
    (it once made an error answer itself fail to encode: a plain-text 500); odd but valid Unicode is kept."""
    for raw in (
        b'{"text": "x", "seeds": ["\\ud800"]}',
        b'{"text": "x", "params": {"p": "\\ud800"}}',
        b'{"text": "x", "params": {"\\udfff": 1}}',
        b'{"text": "\\ud800"}',
        b'{"text": "x", "topics": ["a\\udc00"]}',
        b'{"text": "x", "model": "llm", "params": {"rule": "\\ud800"}}',
        b'{"\\ud800": 1}',
    ):
        status, body, head = server.call("POST", "/api/v1/messages", raw=raw)
        one_sentence(status, body, 400, "not valid Unicode")
        assert head["content-type"] == "application/json"
    status, body, _ = server.call("POST", "/api/v1/snapshots", raw=b'{"name": "\\ud800"}')
    one_sentence(status, body, 400, "not valid Unicode")
    text = "\u202eevil \x00 \U0001f4a5 \x1b[31m é"
    assert server.call("POST", "/api/v1/messages", {"text": text, "topics": ["politics"]})[0] == 201
    con = http.client.HTTPConnection("127.0.0.1", server.port, timeout=WAIT)
    con.request("GET", "/api/v1/sessions", headers={"Authorization": f"Bearer {ADMIN}"})
    raw = con.getresponse().read()
    con.close()
    assert raw.isascii() and json.loads(raw)["sessions"][0]["text"] == text


# -- 8. never a 500 for bad input; a bug is a JSON 500 with its traceback in the log ----------------------
BROKEN_HOST = """
from sim.live import reading
from sim.plugin import PropagationModel


async def broken(self, limit=None):
    raise ZeroDivisionError("a bug in the communities route")


reading.WorldReader.communities = broken  # a bug, planted for the test


class Unused(PropagationModel):
    name = "unused"

    def step(self, ctx):
        raise RuntimeError("never run")
"""


@pytest.mark.subprocess
def test_bad_input_is_a_4xx_and_a_bug_is_a_json_500_in_the_log(tmp_path, world_file):  # noqa: F811
    shutil.copy(world_file, tmp_path / "w.db")
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "bug.py").write_text(BROKEN_HOST)
    s = Server(tmp_path, "w.db", "--plugins", str(plugins))
    try:
        for body in (
            {"text": "x", "seeds": "ids:99999999999999999999999"},
            {"text": "x", "priority": 2**70},
            {"text": "x", "author": 2**64},
            {"text": "x", "seeds": "random:99999999999999999999999"},
            {"text": "x", "seeds": "community:99999999999:1"},
            {"text": "x", "priority": -(2**31) - 1},
        ):
            status, answer, head = s.call("POST", "/api/v1/messages", body)
            one_sentence(status, answer, 400)
            assert head["content-type"] == "application/json", head
        status, answer, head = s.call("GET", "/api/v1/communities")
        assert status == 500 and head["content-type"] == "application/json", (status, answer)
        assert answer == {"error": "the server failed on this request (ZeroDivisionError): its log has the details"}
        assert s.call("GET", "/api/v1/world")[0] == 200  # and it goes on
    finally:
        assert s.stop() == 0
    err = s.errors()
    assert "Traceback (most recent call last)" in err and "ZeroDivisionError: a bug in the communities route" in err
    assert "GET /api/v1/communities failed" in err
