"""``--llm local`` and ``--llm-model FILE`` on ``agora run`` (one run and an ensemble) and ``agora interview``
(issue 62): Agora serves the local model for the command and stops it at the command's end.

Tests marked ``local_llm`` start the real server with the real model (SmolLM2-135M-Instruct, one thread); they are
skipped, with the reason, where the local-llm extra is not installed (tests/conftest.py). The tests of bad input
run without it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path

import pytest
from test_llm_local import wait_gone

import sim
from sim.cli.main import main
from sim.errors import BadFileError, BadParameterError
from sim.live.controller import WorldController
from sim.llm import local
from sim.store.create import synthetic_world
from sim.store.worldfile import save_world

real = pytest.mark.local_llm

#: Seconds a stopped server's process may take to vanish (terminated, then killed after 5 s).


@pytest.fixture
def world(tmp_path) -> str:
    path = str(tmp_path / "w.db")
    asyncio.run(save_world(synthetic_world("local", 1500, avg_degree=6, seed=4), path))
    return path


@pytest.fixture
def servers(monkeypatch) -> list[tuple[local.LocalServer, int]]:
    """Every LocalServer the command starts, in order, with its process's id."""
    started: list[tuple[local.LocalServer, int]] = []
    start = local.LocalServer.start

    def recording(self: local.LocalServer) -> local.LocalServer:
        out = start(self)
        assert self.process is not None
        started.append((self, self.process.pid))
        return out

    monkeypatch.setattr(local.LocalServer, "start", recording)
    return started


def cli(capsys, *words: str) -> tuple[int, str, str]:
    code = main(list(words))
    out = capsys.readouterr()
    return code, out.out, out.err


def one_line(code: int, err: str) -> str:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("agora: error: "), err
    return lines[0]


def assert_stopped(servers: list[tuple[local.LocalServer, int]], count: int = local.SLOTS) -> None:
    """``count`` servers were started for the command (a command's local model runs on :data:`local.SLOTS` by
    default; a served world's controller starts one), and they are closed and their processes gone now the command
    has ended."""
    assert len(servers) == count
    for server, pid in servers:
        assert server.process is None and server.startup_seconds is not None  # closed, after it answered
        assert wait_gone(pid)


# -- bad input, without the extra ---------------------------------------------------------------------------


def test_without_the_extra_run_and_interview_refuse_in_one_sentence(world, monkeypatch, capsys):
    monkeypatch.setattr(local, "SERVER_MODULES", (*local.SERVER_MODULES, "agora_no_such_module"))
    before = Path(world).read_bytes()
    for words in (
        ("run", world, "--inject", "hi", "--model", "llm", "--steps", "2", "--llm", "local"),
        ("run", world, "--inject", "hi", "--model", "llm", "--steps", "2", "--runs", "2", "--llm", "local"),
        ("interview", world, "3", "How are you?", "--llm", "local"),
        ("serve", world, "--port", "0", "--llm", "local"),
        ("tui", world, "--llm", "local"),
    ):
        line = one_line(*cli(capsys, *words)[::2])
        assert "local-llm extra" in line and "agora_no_such_module" in line, line
    assert Path(world).read_bytes() == before


def test_bad_local_options_are_one_sentence_each(world, tmp_path, capsys):
    not_gguf = tmp_path / "m.gguf"
    not_gguf.write_bytes(b"PK\x03\x04 not a model")
    cases = (
        (("--llm-model", str(tmp_path / "none.gguf")), "does not exist"),
        (("--llm-model", str(not_gguf)), "is not a GGUF model"),
        (("--llm", "local", "--offline"), "exclude each other"),
        (("--llm", "local", "--llm", "base_urls=http://127.0.0.1:9/v1"), "serves the model itself"),
    )
    for flags, words in cases:
        for command in (
            ("run", world, "--inject", "hi", "--model", "llm", "--steps", "1"),
            ("interview", world, "3", "Hello?"),
        ):
            line = one_line(*cli(capsys, *command, *flags)[::2])
            assert words in line, (flags, line)
    line = one_line(*cli(capsys, "llm", world, "--llm", "local")[::2])
    assert "agora llm local --check" in line


# -- the real model -----------------------------------------------------------------------------------------


@real
@pytest.mark.slow
def test_run_with_llm_local_gets_decisions_from_the_model_and_stops_it(world, servers, capsys):
    code, out, err = cli(
        capsys,
        *("run", world, "--inject", "A new AI model writes poems", "--model", "llm", "--steps", "3", "--json"),
        *("--llm", "local", "--llm", "calls_per_tick=3", "--llm", "texts_per_tick=0", "--llm-wait", "600"),
    )  # every answer waited for (a loaded machine's model answers after the last tick): none cancelled
    assert code == 0, err
    llm = json.loads(out)["llm"]
    assert llm["mode"] == "online" and llm["calls"] > 0, llm
    assert llm["schema_answers"] > 0 and llm["tokens_out"] > 0, llm
    assert_stopped(servers)
    config = json.dumps(json.loads(cli(capsys, "llm", world, "--json")[1])["settings"])
    assert "local" not in config and "127.0.0.1" not in config  # nothing of the server is stored


@real
@pytest.mark.slow
def test_an_ensemble_with_llm_local_shares_its_servers_and_stops_them(world, servers, capsys):
    code, out, err = cli(
        capsys,
        *("run", world, "--inject", "A new AI model writes poems", "--model", "llm", "--steps", "2"),
        *("--runs", "2", "--json", "--llm", "local", "--llm", "calls_per_tick=2", "--llm-wait", "600"),
    )
    assert code == 0, err
    result = json.loads(out)
    assert len(result["runs"]) == 2 and result["llm"]["calls"] > 0 and result["llm"]["schema_answers"] > 0
    assert_stopped(servers)


@real
@pytest.mark.slow
def test_an_interview_with_llm_local_is_answered_by_the_model(world, servers, capsys):
    code, out, err = cli(capsys, "interview", world, "3", "What do you do for fun?", "--json", "--llm", "local")
    assert code == 0, err
    data = json.loads(out)
    assert data["source"] == "llm" and data["mode"] == "online" and data["answer"].strip(), data
    assert data["model"] == local.MODEL_FILE.removesuffix(".gguf") and data["tokens_out"] > 0
    assert_stopped(servers)


@real
@pytest.mark.slow
def test_serving_stops_the_server_when_the_command_is_cancelled(servers):
    """Ctrl-C cancels the command's task: the server is stopped on the way out."""

    async def scenario() -> dict:
        ready = asyncio.Event()
        seen: dict = {}

        async def command() -> None:
            async with local.serving(None, {"local": True}) as config:
                seen.update(mode=config.mode, urls=config.base_urls, concurrency=config.concurrency)
                ready.set()
                await asyncio.Event().wait()  # until cancelled

        task = asyncio.create_task(command())
        await ready.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return seen

    seen = asyncio.run(scenario())
    assert seen["mode"] == "online" and all(url.startswith("http://127.0.0.1:") for url in seen["urls"])
    assert seen["concurrency"] == local.SLOTS == len(set(seen["urls"]))  # one server per request in flight
    assert_stopped(servers)


@real
@pytest.mark.slow
def test_a_served_world_with_llm_local_gets_decisions_and_its_close_stops_the_server(world, servers):
    """What ``agora serve --llm local`` opens: the controller owns the server until it closes."""

    async def scenario() -> dict:
        llm = {"local": True, "calls_per_tick": 3, "texts_per_tick": 0}
        host = await WorldController.open(world, llm=llm)
        try:
            assert host.local_server is not None and host.local_server.running
            host.inject_now(text="A new AI model writes poems", model="llm", seeds="random:6")
            deadline = time.monotonic() + 600.0  # only bounds a hang: a loaded machine answers slowly
            while host.sim.llm.stats()["schema_answers"] == 0:  # answers land during later ticks
                assert time.monotonic() < deadline, host.sim.llm.stats()
                await host.step(1)
                await asyncio.sleep(0.1)  # polling the model's answers, within a bounded deadline
            return host.sim.llm.stats()
        finally:
            await host.close()

    stats = asyncio.run(scenario())
    assert stats["calls"] > 0 and stats["schema_answers"] > 0 and stats["failures"] == 0, stats
    assert_stopped(servers, 1)


def test_open_world_with_a_bad_llm_is_one_sentence(world, tmp_path, monkeypatch):
    for kwargs, words in (
        ({"llm": "cloud"}, 'llm must be "local" or None'),
        ({"llm_model": str(tmp_path / "m.gguf")}, 'give llm="local" too'),
    ):
        with pytest.raises(BadParameterError, match=words):
            sim.open_world(world, **kwargs)
    with pytest.raises(BadFileError, match="does not exist"):
        sim.open_world(world, llm="local", llm_model=tmp_path / "none.gguf")
    monkeypatch.setattr(local, "SERVER_MODULES", (*local.SERVER_MODULES, "agora_no_such_module"))
    with pytest.raises(BadParameterError, match="local-llm extra"):
        sim.open_world(world, llm="local")


@real
@pytest.mark.slow
def test_open_world_llm_local_runs_an_ensemble_on_the_model_and_stops_it(world, servers):
    w = sim.open_world(world, llm="local")
    res = w.ensemble(
        text="A new AI model writes poems", model="llm", runs=1, steps=2, llm={"calls_per_tick": 2}, llm_wait=600
    )  # every answer waited for (a loaded machine's model answers after the last tick): none cancelled
    llm = res.to_dict()["llm"]
    assert llm["mode"] == "online" and llm["calls"] > 0 and llm["schema_answers"] > 0, llm
    assert_stopped(servers)


@real
@pytest.mark.slow
def test_open_world_llm_local_simulation_holds_the_server_until_closed(world, servers):
    with sim.open_world(world, llm="local").simulation() as live:
        server = live.host.local_server
        assert server is not None and server.running
        assert live.host.sim.llm.config.concurrency == local.LOCAL_DEFAULTS["concurrency"]
    assert live.closed
    assert_stopped(servers, 1)


@real
@pytest.mark.slow
def test_the_terminal_uis_world_with_llm_local_holds_the_server_until_closed(world, servers):
    """What ``agora tui --llm local`` opens (sim.live.frontend): the server lives as long as its controller."""
    from sim.live.frontend import FrontEndOptions, open_interactive

    async def scenario() -> None:
        host = await open_interactive(FrontEndOptions(world, llm={"local": True}), tell=lambda _: None)
        try:
            assert host.local_server is not None and host.local_server.running
            assert host.sim.llm.config.mode == "online"
        finally:
            await host.close(save=False)

    asyncio.run(scenario())
    assert_stopped(servers, 1)


def test_agora_tui_hands_its_llm_options_to_the_ui_and_refuses_unused_ones(world, monkeypatch, capsys):
    """With a terminal (faked: the world is named, the UI recorded rather than run)."""
    import sim.cli.world
    import tui.app

    opened: list[dict] = []
    monkeypatch.setattr(sim.cli.world, "world_for_ui", lambda args: world)
    monkeypatch.setattr(tui.app, "run_app", lambda *args, **kw: opened.append(kw))
    line = one_line(*cli(capsys, "tui", world, "--llm", "timeout=5")[::2])
    assert "--llm timeout=5 has no effect" in line and not opened
    if local.missing_modules():
        return
    assert cli(capsys, "tui", world, "--llm", "local", "--llm", "timeout=5")[0] == 0
    assert opened == [{**opened[0], "llm": {"timeout": "5", "local": True}}]


@real
@pytest.mark.slow
def test_a_served_world_goes_on_in_fallback_when_its_local_server_dies(world, servers):
    """The server killed mid-run: decisions fall back (counted), the mode says so, the session goes on."""

    async def until(host: WorldController, done, what: str) -> dict:
        deadline = time.monotonic() + 120.0
        while not done(stats := host.sim.llm.stats()):
            assert time.monotonic() < deadline, (what, stats)
            await host.step(1)
            await asyncio.sleep(0.1)  # polling the model's answers, within a bounded deadline
        return stats

    async def scenario() -> tuple[dict, dict, str]:
        llm = {"local": True, "calls_per_tick": 3, "texts_per_tick": 0, "breaker_failures": 2}
        host = await WorldController.open(world, llm=llm)
        try:
            session = host.inject_now(text="A new AI model writes poems", model="llm", seeds="random:30")
            before = await until(host, lambda st: st["schema_answers"] > 0, "a first answer")
            assert host.local_server is not None and host.local_server.process is not None
            os.kill(host.local_server.process.pid, signal.SIGKILL)
            after = await until(host, lambda st: st["fallbacks"] > before["fallbacks"], "a fallback")
            await host.step(2)
            return before, after, session.status
        finally:
            await host.close()

    before, after, status = asyncio.run(scenario())
    assert after["failures"] > before["failures"] and after["mode"] in ("degraded", "fallback", "offline"), after
    assert status != "failed"
    assert_stopped(servers, 1)
