"""``agora tui --serve`` in a real headless browser (issue 77): Debian's chromium opens the served page with its
token, and a screenshot of the Dashboard is taken once the UI has drawn in it. The browser is driven through the
DevTools protocol (a WebSocket, aiohttp's client): the page is opened, the test waits for textual-serve's first byte
and then for the UI's header to be drawn (its pixels no longer the page's background), and keeps the screenshot.

Chromium is installed by the test tier that needs it (``make test-browser``: ``apt-get install chromium``); without
it this test is skipped, saying so.
"""

from __future__ import annotations

import asyncio
import base64
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

import numpy as np
import pytest
from conftest import agora

pytest.importorskip("textual_serve", reason="agora tui --serve needs the serve extra (textual-serve)")
aiohttp = pytest.importorskip("aiohttp")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.subprocess,
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium: make test-browser installs Debian's"),
]


def _started(command: list[str], pattern: str, stream: str, env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """Start ``command`` in a session of its own; the first match of ``pattern`` in its ``stream``."""
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True
    )
    lines = proc.stdout if stream == "stdout" else proc.stderr
    for line in lines:
        found = re.search(pattern, line)
        if found:
            return proc, found.group(0)
    raise AssertionError(f"{command[0]} ended without {pattern}")


def drawn(pixels: np.ndarray) -> float:
    """The share of the page's rows (every 30th) with more than three colours: the Dashboard fills the page (its
    header, figures, charts and footer), where the intro card or a blank terminal leave rows of one or two."""
    return float(np.mean([len(np.unique(row.reshape(-1, 3), axis=0)) > 3 for row in pixels[::30]]))


async def _screenshot(devtools: str, url: str) -> tuple[bytes, np.ndarray]:
    """Open ``url`` in the browser at ``devtools`` and wait until the UI's header is drawn: the PNG and its pixels."""
    from PIL import Image

    port = re.search(r":(\d+)/", devtools).group(1)
    async with aiohttp.ClientSession() as client:
        async with client.put(f"http://127.0.0.1:{port}/json/new?about:blank") as made:
            target = await made.json()
        async with client.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=64 * 1024 * 1024) as ws:
            ids = iter(range(1, 1_000_000))

            async def call(method: str, **params: object) -> dict:
                n = next(ids)
                await ws.send_json({"id": n, "method": method, "params": params})
                while True:
                    msg = await ws.receive_json(timeout=60)
                    if msg.get("id") == n:
                        assert "error" not in msg, msg
                        return msg["result"]

            await call("Emulation.setDeviceMetricsOverride", width=1400, height=900, deviceScaleFactor=1, mobile=False)
            await call("Page.navigate", url=url)
            deadline = asyncio.get_running_loop().time() + 120  # bounds a hang only
            while True:
                assert asyncio.get_running_loop().time() < deadline, "the UI was never drawn in the page"
                first = await call("Runtime.evaluate", expression="document.body.classList.contains('-first-byte')")
                if first["result"].get("value"):
                    png = base64.b64decode((await call("Page.captureScreenshot", format="png"))["data"])
                    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)
                    if drawn(pixels) > 0.5:
                        return png, pixels
                await asyncio.sleep(0.2)  # polling the page: nothing to wait on across the protocol


def test_a_headless_chromium_screenshots_the_served_dashboard(tmp_path):
    assert agora(tmp_path, "new", "w.db", "--agents", "300", "--avg-degree", "4").returncode == 0
    env = {**os.environ, "AGORA_SAVES": str(tmp_path / "saves")}
    server, url = _started(
        [sys.executable, "-m", "sim", "tui", str(tmp_path / "w.db"), "--serve", "--port", "0"],
        r"http://127\.0\.0\.1:\d+/\?token=[A-Za-z0-9_-]+",
        "stdout",
        env,
    )
    profile = tempfile.mkdtemp(prefix="chromium-", dir=tmp_path)
    browser, devtools = _started(
        [
            CHROMIUM,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "about:blank",
        ],
        r"ws://127\.0\.0\.1:\d+/devtools/browser/\S+",
        "stderr",
    )
    try:
        png, pixels = asyncio.run(_screenshot(devtools, url))
        shot = tmp_path / "dashboard.png"
        shot.write_bytes(png)
        assert png.startswith(b"\x89PNG") and pixels.shape == (900, 1400, 3) and drawn(pixels) > 0.5
    finally:
        for proc in (browser, server):
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
