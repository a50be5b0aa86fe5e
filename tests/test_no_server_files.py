"""No request reads a file on the server (issue 57, HIGH): every route and field of ``agora serve`` that takes a
seed selection or a forecast arm, and the live world's other doors (Python beside it, the terminal UI's forms),
given ``file:PATH`` naming a key file with a unique marker, answer 4xx in one sentence, within 2 s, and no answer
holds a byte of the file; the file is not even opened (Linux's inotify sees every open, by any process).

Before the fix a forecast arm ``block:file:/path/world.key`` (or ``counter:ic:file:PATH``) read the file and the
400 quoted its first line. Errors about a seed file the command line may read name its line, never its content.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import http.client
import json
import os
import secrets
import shutil
import struct
import time
from pathlib import Path

import pytest
from conftest import agora
from test_api import ADMIN, Server, serve_a_running_session, world_file  # noqa: F401 - world_file is a fixture

import sim
from sim.errors import AgoraError

#: Linux's inotify: a watch's IN_OPEN event is queued by the kernel when any process opens the file.
IN_OPEN, IN_NONBLOCK, IN_CLOEXEC = 0x20, 0o4000, 0o2000000
#: Seconds an answer may take (a FIFO read would block for ever).
QUICK = 2.0


class Opens:
    """How many times a file was opened, by any process, since the last :meth:`count` (inotify, Linux)."""

    def __init__(self, path: Path) -> None:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        self.fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self.fd < 0 or libc.inotify_add_watch(self.fd, os.fsencode(path), IN_OPEN) < 0:
            raise OSError(ctypes.get_errno(), f"inotify on {path}")

    def count(self) -> int:
        opened = 0
        while True:
            try:
                buf = os.read(self.fd, 65536)
            except BlockingIOError:
                return opened
            at = 0
            while at < len(buf):  # struct inotify_event: wd, mask, cookie, len, then len bytes of name
                _wd, mask, _cookie, size = struct.unpack_from("iIII", buf, at)
                at += 16 + size
                opened += bool(mask & IN_OPEN)

    def close(self) -> None:
        os.close(self.fd)


@pytest.fixture(scope="module")
def secrets_on_disk(tmp_path_factory):
    """Three paths a request might name: a key file whose lines hold a unique marker, a file of digits only (an
    agent id to a parser: a world would name it back), and a FIFO (reading it would block). Each is watched."""
    folder = tmp_path_factory.mktemp("secret")
    marker = f"agora-key-{secrets.token_hex(12)}"
    digits = str(secrets.randbelow(9 * 10**17) + 10**17)
    key, numbers, fifo = folder / "world.key", folder / "pin.key", folder / "pipe.key"
    key.write_text(f"{marker}-first-line\n{marker}-second-line\n")
    numbers.write_text(f"{digits}\n")
    os.mkfifo(fifo)
    watches = {p: Opens(p) for p in (key, numbers, fifo)}
    yield {"paths": [key, numbers, fifo], "needles": [f"{marker}-first-line", digits], "watches": watches}
    for w in watches.values():
        w.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory, world_file):  # noqa: F811
    folder = tmp_path_factory.mktemp("served")
    s = serve_a_running_session(folder, world_file)
    yield s
    s.stop()


def _raw_call(server: Server, method: str, path: str, body: object) -> tuple[int, bytes, dict, float]:
    """One call: its status, every byte of its answer (status line, headers, body), its JSON and how long it took."""
    con = http.client.HTTPConnection("127.0.0.1", server.port, timeout=QUICK + 1)
    t0 = time.monotonic()
    con.request(
        method,
        path,
        body=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"},
    )
    res = con.getresponse()
    raw = res.read()
    took = time.monotonic() - t0
    head = f"{res.status} {res.reason}\n" + "".join(f"{k}: {v}\n" for k, v in res.getheaders())
    con.close()
    return res.status, head.encode() + raw, json.loads(raw), took


def _holds(answer: bytes | str, needles: list[str]) -> str | None:
    """The first run of 8 characters of a needle that ``answer`` holds (None: none)."""
    text = answer.decode(errors="replace") if isinstance(answer, bytes) else answer
    for needle in needles:
        for i in range(len(needle) - 7):
            if needle[i : i + 8] in text:
                return needle[i : i + 8]
    return None


def _requests(path: Path) -> list[tuple[str, str, object]]:
    """Every route and field that takes a seed selection or an arm, each shape with ``file:PATH``."""
    p = str(path)
    out: list[tuple[str, str, object]] = []
    for seeds in (f"file:{p}", f"FILE:{p}", f"  file:{p}", [f"file:{p}"]):
        out.append(("POST", "/api/v1/messages", {"text": "x", "seeds": seeds}))
    for action in (
        f"block:file:{p}",
        f"3:block:file:{p}",
        f"block: file:{p}",
        f"counter:ic:file:{p}",
        f"counter:ic:file:{p}:a counter-message",
        f"2:counter:ic:FILE:{p}",
    ):
        out.append(("POST", "/api/v1/interventions", {"action": action}))
    arms: list[object] = [
        {"a": [f"block:file:{p}"]},
        {"a": [f"block:FILE:{p}"]},
        {"none": [], "b": [f"counter:ic:file:{p}"]},
        {"a": [f"counter:ic:file:{p}:hello"]},
        {"a": ["none", f"block:file:{p}"]},
        {"a": [f"set:p=file:{p}"]},
        [f"a=block:file:{p}"],
        ["a=none", f"b=counter:ic:file:{p}"],
        [f"a=counter:sir:file:{p}:text"],
    ]
    for arm in arms:
        out.append(("POST", "/api/v1/forecasts", {"runs": 2, "ticks": 2, "arms": arm}))
        out.append(("POST", "/api/v1/forecasts", {"runs": 2, "until_done": True, "arms": arm, "session": 1}))
    out.append(("POST", "/api/v1/forecasts", {"runs": 2, "ticks": 2, "posterior": p}))
    return out


def test_no_route_reads_a_file_a_request_names(server, secrets_on_disk):
    needles, watches = secrets_on_disk["needles"], secrets_on_disk["watches"]
    asked = 0
    for path in secrets_on_disk["paths"]:
        for method, route, body in _requests(path):
            status, answer, data, took = _raw_call(server, method, route, body)
            asked += 1
            assert 400 <= status < 500, (route, body, answer)
            assert took < QUICK, (route, body, took)
            leaked = _holds(answer, needles)
            assert leaked is None, (route, body, leaked, answer)
            assert "\n" not in data["error"], data
    assert asked > 80
    for path, watch in watches.items():
        assert watch.count() == 0, f"{path} was opened"
    # Nothing was done: no message, intervention or forecast came of any of it.
    assert server.call("GET", "/api/v1/world")[1]["messages"] == 1
    assert server.call("GET", "/api/v1/interventions")[1]["interventions"] == []
    assert server.call("GET", "/api/v1/forecasts")[1]["forecasts"] == []
    # The watch is real: opening the file is seen.
    key = secrets_on_disk["paths"][0]
    key.read_bytes()
    assert watches[key].count() == 1


def test_a_live_world_from_python_and_the_terminal_uis_forms_read_no_file(tmp_path, world_file, secrets_on_disk):  # noqa: F811
    """The same doors from Python beside a live world (``sim.open_world(path).simulation()``) and the terminal
    UI's forms (its inject form's limits, its forecast form's parser): refused, one sentence, nothing opened."""
    from sim.engine.requests import Inject
    from sim.live.frontend import FORM
    from sim.model.registry import Registry
    from tui.forecast import read_form

    needles, watches = secrets_on_disk["needles"], secrets_on_disk["watches"]
    shutil.copy(world_file, tmp_path / "w.db")
    tried = 0
    with sim.open_world(str(tmp_path / "w.db")).simulation() as live:
        live.inject("rumour", model="ic", seeds="random:20")
        live.step(2)
        for path in secrets_on_disk["paths"]:
            p = str(path)
            attempts = [
                lambda p=p: live.inject("x", seeds=f"file:{p}"),
                lambda p=p: live.intervene(f"block:file:{p}"),
                lambda p=p: live.intervene(f"counter:ic:file:{p}:hi"),
                lambda p=p: live.forecast(runs=2, ticks=2, arms={"a": [f"block:file:{p}"]}),
                lambda p=p: live.forecast(runs=2, ticks=2, arms=[f"a=counter:ic:file:{p}"]),
                lambda p=p: Inject.parse({"text": "x", "seeds": f"file:{p}"}, Registry(), FORM),
                # the forecast form's fields, parsed where the UI's forecasts are: by the live world's forecasts
                lambda p=p: live.host.forecasts.parse(read_form("5", "3", [f"b=block:file:{p}"], "0")),
                lambda p=p: live.host.forecasts.parse(read_form("5", "done", [f"c=counter:ic:file:{p}"], "0")),
            ]
            for attempt in attempts:
                t0 = time.monotonic()
                with pytest.raises(AgoraError) as refused:
                    attempt()
                assert time.monotonic() - t0 < QUICK
                assert _holds(str(refused.value), needles) is None, str(refused.value)
                assert "\n" not in str(refused.value)
                tried += 1
        assert live.interventions() == [] and len(live.sessions()) == 1
    assert tried == 24
    for path, watch in watches.items():
        assert watch.count() == 0, f"{path} was opened"


def test_a_seed_file_the_command_line_reads_is_named_by_line_never_quoted(tmp_path, world_file):  # noqa: F811
    """``agora run --seeds file:PATH`` reads the user's own file; a line that is not an agent id is named by its
    number, and what it holds is never printed (it may be a key, or /proc/self/environ)."""
    shutil.copy(world_file, tmp_path / "w.db")
    marker = f"AGORA_WORLD_KEY=secret-{secrets.token_hex(10)}"
    seeds = tmp_path / "seeds.txt"
    seeds.write_text(f"5\n7\n{marker}\n")
    out = agora(tmp_path, "run", "w.db", "--steps", "1", "--inject", "x", "--seeds", f"file:{seeds}")
    assert out.returncode == 2, out.stderr
    assert "line 3" in out.stderr and out.stderr.count("\n") == 1, out.stderr
    assert _holds(out.stderr + out.stdout, [marker]) is None, out.stderr
