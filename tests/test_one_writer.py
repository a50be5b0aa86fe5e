"""One writer per world (issue 45): a second writer of a world is refused, whoever the first one is.

Before the fix a second ``agora serve`` on a served world started within 1.6 s on its own port, both took
injections and steps, the file then failed ``agora check``, and the second server overwrote the first one's
``WORLD.token``; ``serve`` plus ``run`` and two ``run``\\ s did the same. Now every writer holds the world's
lock (``sim.core.worldlock``): the second one exits with code 2 and one sentence naming the holder (its pid
and command line), the file passes ``agora check`` and the first server's token file is unchanged.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import agora, agora_process
from test_api import ROOT, WAIT, Server

from sim.core import worldkey, worldlock
from sim.store.check import check_world


@pytest.fixture(params=["clear", "encrypted"])
def world(tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """A world file; every test runs on a clear one and on an encrypted one (issue 50: the key in the
    environment, which every process the test starts inherits)."""
    path = str(tmp_path / "shared.db")
    encrypted = request.param == "encrypted"
    if encrypted:
        monkeypatch.setenv(worldkey.KEY_ENV, "one writer, encrypted")
    done = agora(tmp_path, "new", path, "--agents", "500", "--seed", "1", *(["--encrypt"] if encrypted else []))
    assert done.returncode == 0, done.stderr
    assert worldkey.is_encrypted(path) == encrypted
    return path


def _refused(done: subprocess.CompletedProcess, holder_pid: int) -> None:
    """Exit code 2 and one sentence on stderr that names the holder's pid and says what to do."""
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, done.stderr
    assert f"is being written by process {holder_pid}" in lines[0], lines[0]
    assert "only one process may write a world" in lines[0]
    assert "Traceback" not in done.stderr


def _csv(tmp_path: Path, n: int) -> str:
    path = tmp_path / "values.csv"
    path.write_text("id,value\n" + "".join(f"{i},0.5\n" for i in range(n)))
    return str(path)


@pytest.mark.subprocess
@pytest.mark.parametrize("second", ["serve", "run", "set", "tui", "load", "analyze"])
def test_a_second_writer_of_a_served_world_is_refused(world: str, tmp_path: Path, second: str) -> None:
    server = Server(tmp_path, world, tokens=False)  # a token file of its own, beside the world
    token_file = world + ".token"
    try:
        token = Path(token_file).read_bytes()
        status, _, _ = server.call("POST", "/api/v1/messages", {"text": "first"}, token=token.decode().strip())
        assert status == 201
        if second == "serve":
            done = agora(tmp_path, "serve", world, "--port", "0")
        elif second == "run":
            done = agora(tmp_path, "run", world, "--steps", "1")
        elif second == "set":
            done = agora(tmp_path, "set", world, "susceptibility", _csv(tmp_path, 500))
        elif second == "tui":
            done = agora(tmp_path, "tui", world, env={"AGORA_FORCE_TUI": "1"})
        elif second == "load":
            snap = tmp_path / "s.snap"
            made = agora(tmp_path, "save", world, str(snap))
            assert made.returncode == 0, made.stderr
            done = agora(tmp_path, "load", str(snap), world, "--force")
        else:
            done = agora(tmp_path, "analyze", world)
        _refused(done, server.proc.pid)
        assert Path(token_file).read_bytes() == token, "the first server's token file was overwritten"
        # The first server is untouched and still writes the world.
        status, _, _ = server.call("POST", "/api/v1/messages", {"text": "second"}, token=token.decode().strip())
        assert status == 201
    finally:
        server.proc.terminate()
        server.proc.wait(timeout=WAIT)
        server.stderr.close()
    report = check_world(world)
    assert report["ok"], report["problems"]
    assert not os.path.exists(world + ".lock"), "a clean exit leaves no lock file"


@pytest.mark.subprocess
def test_a_second_run_is_refused_while_one_runs(world: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "AGORA_PROGRESS"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    first = subprocess.Popen(
        [sys.executable, "-m", "sim", "run", world, "--steps", "100000", "--ticks-per-second", "20"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        lock = worldlock.lock_path(world)
        deadline = time.monotonic() + WAIT
        # The holder writes its pid into the lock file once it holds the lock: wait for that, not for a time.
        while True:
            try:
                if json.loads(Path(lock).read_text() or "{}").get("pid") == first.pid:
                    break
            except (OSError, ValueError):
                pass
            assert first.poll() is None, first.stderr.read() if first.stderr else ""
            assert time.monotonic() < deadline, "the first run never took the lock"
            time.sleep(0.02)
        _refused(agora(tmp_path, "run", world, "--steps", "1"), first.pid)
        _refused(agora(tmp_path, "serve", world, "--port", "0"), first.pid)
    finally:
        first.terminate()
        first.wait(timeout=WAIT)
        if first.stderr:
            first.stderr.close()
    assert check_world(world)["ok"]


@pytest.mark.subprocess
async def test_a_server_is_refused_while_the_terminal_ui_holds_the_world(world: str, tmp_path: Path) -> None:
    from tui.app import AgoraApp

    app = AgoraApp(world)
    async with app.run_test(size=(120, 40)):
        await asyncio.wait_for(app.ready.wait(), 30)
        assert worldlock.holds(world)
        # Another process: the lock is per process (in this one it is re-entrant).
        done = await asyncio.to_thread(agora_process, tmp_path, "serve", world, "--port", "0")
        _refused(done, os.getpid())
    assert not worldlock.holds(world), "the UI released the world when it closed"
    assert check_world(world)["ok"]


def test_the_lock_is_reentrant_in_one_process_and_refused_across_processes(world: str, tmp_path: Path) -> None:
    with worldlock.world_lock(world), worldlock.world_lock(world):
        assert worldlock.holds(world)
        code = (
            "import sys; from sim.core import worldlock; from sim.errors import AgoraError\n"
            "try:\n    worldlock.acquire(sys.argv[1])\nexcept AgoraError as e:\n    print(e); sys.exit(2)\n"
        )
        done = subprocess.run([sys.executable, "-c", code, world], capture_output=True, text=True, cwd=ROOT)
        assert done.returncode == 2, done.stdout + done.stderr
        assert f"process {os.getpid()}" in done.stdout
    assert not worldlock.holds(world)
    assert not os.path.exists(worldlock.lock_path(world))
