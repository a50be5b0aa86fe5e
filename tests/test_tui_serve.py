"""``agora tui WORLD --serve`` (issue 77): the terminal UI served to a browser through textual-serve, on 127.0.0.1
only and behind the token printed with its URL. A real server is started (a real program on a free port); the page
and its WebSocket refuse a request without the token (403, no UI started), the page with it names its WebSocket,
and a client on that WebSocket (what the page's xterm.js does) receives the UI's Dashboard drawn for it.
``--port`` without ``--serve`` is one sentence."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys

import pytest
from conftest import agora

pytest.importorskip("textual_serve", reason="agora tui --serve needs the serve extra (textual-serve)")
aiohttp = pytest.importorskip("aiohttp")
pytestmark = pytest.mark.subprocess


def _world(tmp_path) -> str:
    assert agora(tmp_path, "new", "w.db", "--agents", "300", "--avg-degree", "4").returncode == 0
    return str(tmp_path / "w.db")


async def _dashboard(url: str, ws_url: str, port: int) -> bytes:
    async with aiohttp.ClientSession() as client:
        async with client.get(f"http://127.0.0.1:{port}/") as bare:
            assert bare.status == 403 and "needs the token" in await bare.text()
        async with client.get(url) as page:
            assert page.status == 200 and ws_url in await page.text()
        async with client.get(f"http://127.0.0.1:{port}/ws/not-the-token") as wrong:
            assert wrong.status == 403
        got = b""
        deadline = asyncio.get_running_loop().time() + 120  # only bounds a hang: the UI draws within seconds
        async with client.ws_connect(ws_url + "?width=120&height=40") as ws:
            while not (b"300 agents" in got and b"Quit" in got):
                assert asyncio.get_running_loop().time() < deadline, got[-400:]
                msg = await ws.receive(timeout=60)
                assert msg.type in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT), msg
                got += msg.data if isinstance(msg.data, bytes) else msg.data.encode()
        return got


def test_the_ui_is_served_on_localhost_behind_its_token(tmp_path):
    world = _world(tmp_path)
    env = {**os.environ, "AGORA_SAVES": str(tmp_path / "saves")}
    server = subprocess.Popen(
        [sys.executable, "-m", "sim", "tui", world, "--serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        line = server.stdout.readline()  # the server's first line is its URL (it blocks until the server is up)
        found = re.search(r"http://127\.0\.0\.1:(\d+)/\?token=([A-Za-z0-9_-]+)", line)
        assert found, (line, server.stderr.read() if server.poll() is not None else "")
        port, token = int(found.group(1)), found.group(2)
        drawn = asyncio.run(_dashboard(found.group(0), f"ws://127.0.0.1:{port}/ws/{token}", port))
        assert b"300 agents" in drawn and b"Quit" in drawn  # the header of the world served and the footer
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_port_without_serve_is_one_sentence(tmp_path):
    done = agora(tmp_path, "tui", _world(tmp_path), "--port", "9000")
    assert done.returncode == 2 and "--port is the port of --serve" in done.stderr and done.stderr.count("\n") == 1
