"""The LLM cost before a live session starts (issue 62): ``WorldController.estimate``, ``POST
/api/v1/llm/estimate`` on a served world and the terminal UI's inject form, each the same dry run as
``WorldFile.llm_estimate`` (``agora llm estimate``), and none of them changing the world."""

from __future__ import annotations

import asyncio
import shutil

import pytest
from conftest import notified, until
from test_api import VIEWER, Server
from textual.widgets import Input, Select

import sim
from agora_testing.fakeserver import FakeChatServer
from sim.errors import BadParameterError
from sim.live.controller import WorldController
from sim.live.policy import MAX_ESTIMATE_STEPS
from sim.store.create import synthetic_world
from sim.store.worldfile import save_world

KEY = "sk-agora-test-live-estimate"
TEXT = "A new AI model writes poems"
MESSAGE = {"text": TEXT, "model": "llm", "seeds": "random:5", "params": {"llm_agents": 3}}
COUNTS = ("calls", "cache_hits", "tokens_in", "tokens_out")


@pytest.fixture
def world(tmp_path) -> str:
    path = str(tmp_path / "w.db")
    asyncio.run(save_world(synthetic_world("est-live", 400, avg_degree=6, seed=5), path))
    return path


@pytest.fixture
def online(monkeypatch):
    """An online LLM configuration (the project's fake server; nothing is sent by an estimate)."""
    server = FakeChatServer(latency=0.01).start_in_thread()
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.delenv("AGORA_LLM_OFFLINE", raising=False)
    yield server
    server.stop_thread()


def file_estimate(path: str, steps: int) -> dict[str, object]:
    est = sim.open_world(path).llm_estimate(text=TEXT, steps=steps, seeds="random:5", params={"llm_agents": 3})
    return {k: getattr(est, k) for k in COUNTS}


async def test_the_live_world_estimates_as_the_file_does_and_changes_nothing(world, online):
    expected = file_estimate(world, 4)
    controller = await WorldController.open(world, writer=False)
    try:
        before = (controller.world.tick, len(controller.world.sessions), len(controller.world.messages))
        est = await controller.tools.estimate(steps=4, **MESSAGE)
        assert {k: getattr(est, k) for k in COUNTS} == expected and est.calls > 0
        assert (controller.world.tick, len(controller.world.sessions), len(controller.world.messages)) == before
        assert sum(online.counts.values()) == 0  # a dry run sends nothing
        for steps in (0, MAX_ESTIMATE_STEPS + 1, "3", True):
            with pytest.raises(BadParameterError, match="steps, the ticks the estimate runs, must be a whole"):
                await controller.tools.estimate(steps=steps, **MESSAGE)
        with pytest.raises(BadParameterError, match="no session with LLM agents"):
            await controller.tools.estimate(steps=3, **{**MESSAGE, "model": "ic", "params": {}})
    finally:
        await controller.close()


@pytest.mark.subprocess
@pytest.mark.slow
def test_a_served_world_estimates_over_http(tmp_path, world, online):
    expected = file_estimate(world, 3)
    shutil.copy(world, tmp_path / "served.db")
    server = Server(tmp_path, "served.db", env={"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": online.url})
    try:
        before = server.call("GET", "/api/v1/world")[1]
        status, body, _ = server.call("POST", "/api/v1/llm/estimate", {"steps": 3, "message": MESSAGE})
        assert status == 200, body
        assert {k: body[k] for k in COUNTS} == expected and body["mode"] == "online" and body["kinds"]["decision"]
        after = server.call("GET", "/api/v1/world")[1]
        assert (after["tick"], after["sessions"]) == (before["tick"], before["sessions"])

        def refused(payload: object, token: str | None = None) -> tuple[int, str]:
            status, body, _ = server.call(
                "POST", "/api/v1/llm/estimate", payload, **({"token": token} if token else {})
            )
            return status, body["error"]

        assert refused({"steps": 3, "message": MESSAGE}, token=VIEWER)[0] == 403  # it holds the world while it runs
        status, error = refused({"steps": 0, "message": MESSAGE})
        assert status == 400 and "steps, the ticks the estimate runs, must be a whole number from 1" in error
        status, error = refused({"steps": 3, "message": {**MESSAGE, "model": "ic", "params": {}}})
        assert status == 400 and "no session with LLM agents" in error
        status, error = refused({"steps": 3})
        assert status == 400 and "message must be the message to inject as a JSON object" in error
        status, error = refused({"steps": 3, "message": {**MESSAGE, "path": "/etc/passwd"}})
        assert status == 400 and "path" in error
        assert sum(online.counts.values()) == 0
    finally:
        assert server.stop() == 0


@pytest.mark.usefixtures("keep_notifications")
async def test_the_inject_form_says_the_cost_before_the_session_starts(world, online):
    from tui.app import AgoraApp

    expected = file_estimate(world, 10)
    app = AgoraApp(world, writer_enabled=False)
    async with app.run_test(size=(150, 48)) as pilot:
        await asyncio.wait_for(app.ready.wait(), 60)
        await pilot.press("i")
        view = app._views["messages"]
        view.query_one("#model", Select).value = "llm"
        assert await until(pilot, lambda: "llm_agents" in view._param_inputs)
        view._param_inputs["llm_agents"].value = "3"
        view.query_one("#seed-arg", Input).value = "5"
        view.query_one("#msg-text", Input).value = TEXT
        sessions = len(app.sim.world.sessions)
        await pilot.press("enter")
        assert await until(pilot, lambda: len(app.sim.world.sessions) == sessions + 1)
        said = [m for m in notified(app) if m.startswith("LLM estimate")]
        assert len(said) == 1 and said[0].endswith("over the next 10 ticks"), notified(app)
        assert f"{expected['calls']:,} calls, {expected['tokens_in']:,} tokens in" in said[0]
        injected = [i for i, m in enumerate(notified(app)) if "injected: session" in m]
        assert injected and notified(app).index(said[0]) < injected[0]  # said before the session was queued
