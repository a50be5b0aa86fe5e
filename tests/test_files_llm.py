"""Files are data: a world file or a snapshot never decides where LLM requests (and the API key with
them) go. Servers come from the user only — ``OPENAI_BASE_URL`` or ``--llm base_urls=...`` — and a file
that names some still loads, with a warning naming what was ignored.

The attacker is a real chat-completions server on 127.0.0.1 (``agora_testing.fakeserver``), named by a
crafted snapshot and a crafted world file; the user's environment has a key and names no server, so
requests go to the OpenAI API through the user's proxy, which here is a local sink that only counts
connections (nothing leaves the machine). The attacker must get nothing: no request, no key.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import threading
import zlib
from pathlib import Path

import msgpack
import pytest
from inprocess import run_cli

from agora_testing.fakeserver import FakeChatServer

ROOT = Path(__file__).resolve().parents[1]
KEY = "sk-agora-files-SECRET-5b1e"


def agora(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    e = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI_", "AGORA_LLM"))
        and k.upper() not in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
    }
    e.update(env or {})
    return run_cli(args, cwd=cwd or ROOT, env=e, timeout=300)


class Sink:
    """A proxy that accepts connections, remembers their first bytes and closes them."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.seen: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    self.seen.append(conn.recv(300))
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def attacker():
    srv = FakeChatServer().start_in_thread()
    yield srv
    srv.stop_thread()


@pytest.fixture
def user_env():
    """The user's environment: a key, no server named (the OpenAI API), a proxy (a local sink) for
    everything but 127.0.0.1 — so a request to a server on 127.0.0.1 goes there directly."""
    sink = Sink()
    env = {
        "OPENAI_API_KEY": KEY,
        "HTTPS_PROXY": sink.url,
        "HTTP_PROXY": sink.url,
        "ALL_PROXY": sink.url,
        "NO_PROXY": "127.0.0.1,localhost",
    }
    yield env, sink
    sink.close()


def forge_snapshot(src: Path, dst: Path, edit) -> None:
    """Write a copy of snapshot ``src`` whose world metadata ``edit(meta)`` changed, with a valid manifest
    checksum — what anyone can do with msgpack and zlib."""
    from sim.store.snapshot import END_MAGIC, TRAILER

    data = src.read_bytes()
    offset, _, _ = TRAILER.unpack(data[-TRAILER.size :])
    manifest = msgpack.unpackb(data[offset : -TRAILER.size], raw=False)
    meta = json.loads(manifest["meta"])
    edit(meta)
    manifest["meta"] = json.dumps(meta)
    packed = msgpack.packb(manifest, use_bin_type=True)
    dst.write_bytes(data[:offset] + packed + TRAILER.pack(offset, zlib.crc32(packed), END_MAGIC))


def set_world_llm(path: Path, llm: dict) -> None:
    """Put ``llm`` in a world file's stored settings, as anyone with sqlite3 can."""
    con = sqlite3.connect(path)
    (value,) = con.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()
    config = json.loads(value)
    config["llm"] = llm
    con.execute("UPDATE meta SET value = ? WHERE key = 'config'", (json.dumps(config),))
    con.commit()
    con.close()


def stored_config(path: Path) -> dict:
    con = sqlite3.connect(path)
    try:
        return json.loads(con.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()[0])
    finally:
        con.close()


def run_llm(world: Path, env: dict) -> subprocess.CompletedProcess:
    return agora(
        "run",
        str(world),
        "--inject",
        "breaking news",
        "--model",
        "llm",
        "--steps",
        "3",
        "--json",
        "--llm",
        "retries=0",
        "--llm",
        "timeout=3",
        "--llm",
        "calls_per_tick=4",
        "--llm-wait",
        "5",
        env=env,
    )


def warnings_in(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("agora: warning:")]


@pytest.fixture(scope="module")
def world_and_snapshot(tmp_path_factory):
    d = tmp_path_factory.mktemp("llmfiles")
    assert agora("new", str(d / "w.db"), "--agents", "600", "--seed", "3").returncode == 0
    assert agora("save", str(d / "w.db"), str(d / "w.snap")).returncode == 0
    return d / "w.db", d / "w.snap"


def test_a_snapshot_naming_a_server_sends_it_nothing_and_says_so(tmp_path, world_and_snapshot, attacker, user_env):
    env, sink = user_env
    _, snap = world_and_snapshot
    evil = tmp_path / "evil.snap"
    forge_snapshot(
        snap, evil, lambda meta: meta["config"].__setitem__("llm", {"base_urls": attacker.url, "calls_per_tick": 4})
    )
    loaded = tmp_path / "loaded.db"
    r = agora("load", str(evil), str(loaded), env=env)
    assert r.returncode == 0, r.stderr
    said = warnings_in(r.stderr)
    assert len(said) == 1 and "base_urls=" + attacker.url in said[0] and "ignored" in said[0]
    assert "OPENAI_BASE_URL" in said[0] and "--llm base_urls" in said[0]
    assert "base_urls" not in stored_config(loaded).get("llm", {})  # not carried into the world file
    r = run_llm(loaded, env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["llm"]["mode"] in ("online", "degraded", "fallback")  # it did try to send
    assert attacker.received == 0 and not attacker.authorization
    assert any(b"api.openai.com" in s for s in sink.seen), sink.seen  # the user's route, not the file's
    assert KEY not in r.stdout + r.stderr


def test_a_world_file_naming_a_server_sends_it_nothing_and_says_so_once(
    tmp_path, world_and_snapshot, attacker, user_env
):
    env, sink = user_env
    src, _ = world_and_snapshot
    world = tmp_path / "shared.db"
    world.write_bytes(src.read_bytes())
    set_world_llm(
        world, {"base_urls": f"http://user:pw@127.0.0.1:{attacker.port}/v1?x=1," + attacker.url, "calls_per_tick": 4}
    )
    r = run_llm(world, env)
    assert r.returncode == 0, r.stderr
    said = warnings_in(r.stderr)
    assert len(said) == 1 and f"127.0.0.1:{attacker.port}" in said[0], r.stderr
    assert "user:pw" not in r.stderr and "x=1" not in r.stderr  # the URL is shown without its credentials
    assert attacker.received == 0 and not attacker.authorization
    assert any(b"api.openai.com" in s for s in sink.seen)
    # The run checkpointed the world: its settings are written again, without the servers.
    assert "base_urls" not in stored_config(world)["llm"] and stored_config(world)["llm"]["calls_per_tick"] == 4


def test_servers_from_the_environment_or_the_command_line_are_used(tmp_path, world_and_snapshot, attacker, user_env):
    env, _ = user_env
    src, _ = world_and_snapshot
    world = tmp_path / "mine.db"
    world.write_bytes(src.read_bytes())
    r = run_llm(world, {**env, "OPENAI_BASE_URL": attacker.url})  # the user names it: it is the user's server
    assert r.returncode == 0, r.stderr
    assert attacker.received > 0 and attacker.authorization == {f"Bearer {KEY}"}
    before = attacker.received
    r = agora(
        "run",
        str(world),
        "--inject",
        "more",
        "--model",
        "llm",
        "--steps",
        "2",
        "--llm",
        f"base_urls={attacker.url}",
        "--llm",
        "retries=0",
        env=env,
    )
    assert r.returncode == 0, r.stderr
    assert attacker.received > before and not warnings_in(r.stderr)


def test_agora_llm_refuses_to_store_a_server_and_leaves_the_file_as_it_was(tmp_path, world_and_snapshot):
    src, _ = world_and_snapshot
    world = tmp_path / "w.db"
    world.write_bytes(src.read_bytes())
    before = world.read_bytes()
    r = agora("llm", str(world), "--set", "calls_per_tick=9", "--set", "base_urls=http://127.0.0.1:9/v1")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert "not stored in worlds" in r.stderr and "OPENAI_BASE_URL" in r.stderr and "--llm base_urls" in r.stderr
    assert world.read_bytes() == before
    shown = json.loads(agora("llm", str(world), "--set", "calls_per_tick=9", "--json").stdout)
    assert "base_urls" not in shown["settings"] and shown["settings"]["calls_per_tick"] == 9
    assert "base_urls" not in stored_config(world)["llm"]


async def test_front_ends_get_the_warnings_from_the_loading_functions(tmp_path, world_and_snapshot):
    """What the TUI and the HTTP API show: ``load_warnings(world)`` after ``open_world`` and
    ``load_snapshot``; ``agora check`` lists the same as notes."""
    from sim.llm.config import LLMConfig
    from sim.store.check import check_world
    from sim.store.snapshot import load_snapshot
    from sim.store.worldfile import load_warnings, open_world

    src, snap = world_and_snapshot
    world = tmp_path / "w.db"
    world.write_bytes(src.read_bytes())
    set_world_llm(
        world,
        {
            "base_urls": "http://127.0.0.1:9/v1",
            "api_key": "sk-evil",
            "organization": "org-x",
            "http_proxy": "http://evil:3128",
            "default_headers": "{}",
            "max_tokens": 50,
        },
    )
    w = await open_world(str(world))
    said = load_warnings(w)
    assert len(said) == 2 and "base_urls=http://127.0.0.1:9/v1" in said[0]
    assert all(name in said[1] for name in ("api_key", "organization", "http_proxy", "default_headers"))
    assert w.config["llm"] == {"max_tokens": 50}  # what a file may decide stays
    cfg = LLMConfig.resolve(w.config["llm"], env={"OPENAI_API_KEY": KEY})
    assert cfg.base_urls == () and cfg.max_tokens == 50 and "sk-evil" not in repr(cfg.public())
    result = check_world(str(world))
    assert result["ok"] and any("base_urls" in n for n in result["notes"])
    evil = tmp_path / "evil.snap"
    forge_snapshot(snap, evil, lambda meta: meta["config"].__setitem__("llm", {"base_urls": "https://evil.example/v1"}))
    back = load_snapshot(str(evil))
    assert "base_urls" not in back.config["llm"] and "evil.example" in load_warnings(back)[0]
    assert load_warnings(await open_world(str(src))) == []


def test_no_setting_of_agora_looks_like_a_route_but_the_servers():
    from sim.llm.config import ENDPOINT_SETTINGS, LLM_PARAMS
    from sim.store.worldfile import file_llm_settings

    kept, ignored = file_llm_settings({k: p.default for k, p in LLM_PARAMS.items()} | {"base_urls": "http://h:1/v1"})
    assert set(kept) == set(LLM_PARAMS) - set(ENDPOINT_SETTINGS) and ignored == ["base_urls=http://h:1/v1"]
    assert file_llm_settings({"base_urls": ""}) == ({}, [])  # the stored default goes quietly
