"""The terminal UI's LLM layer under Textual's Pilot: the header's mode, the dashboard's LLM figures, the
interview screen (key a in the Agents view), the Messages view's posts — offline, against a local fake
chat-completions server, and with that server gone mid-run. Text the LLM or agents wrote is shown
literally, and the API key never reaches the screen."""

from __future__ import annotations

import asyncio
import html
import re

import pytest
from conftest import notified, until
from textual.widgets import Input, Static

from agora_testing.fakeserver import FakeChatServer
from sim.store.create import synthetic_world
from tui.app import AgoraApp
from tui.screens import AskScreen

SIZE = (150, 48)
KEY = "sk-agora-SECRET-42"
# Notifications expire after a few seconds: every test keeps them all (see conftest.notified).
pytestmark = pytest.mark.usefixtures("keep_notifications")
QUESTION = "What do you think of the news?"


def screen_text(app) -> str:
    """What is on screen, as plain text (from Textual's own SVG export)."""
    text = re.sub(r"<[^>]+>", "", app.export_screenshot())
    return html.unescape(text).replace("\xa0", " ")


def rendered(widget: Static) -> str:
    return str(widget.render())


def notifications(app) -> list[str]:
    return notified(app)


def make_app(**llm_settings) -> AgoraApp:
    world = synthetic_world("llm-ui", 1200, avg_degree=6, seed=11)
    if llm_settings:
        world.config["llm"] = llm_settings
    return AgoraApp(world=world, writer_enabled=False)


async def start(app, pilot) -> None:
    await asyncio.wait_for(app.ready.wait(), 60)
    await pilot.pause()


async def open_interview(app, pilot, agent: int = 3) -> AskScreen:
    await pilot.press("3")
    app._views["agents"].show(agent)
    await pilot.press("a")
    await pilot.pause()
    assert isinstance(app.screen, AskScreen)
    return app.screen


async def ask(app, pilot, screen: AskScreen, question: str):
    before = screen.answer
    screen.query_one("#ask-question", Input).value = question
    await pilot.press("enter")
    assert await until(pilot, lambda: screen.answer is not before)
    await pilot.pause()
    return screen.answer


@pytest.fixture
def server():
    srv = FakeChatServer(latency=0.01).start_in_thread()
    yield srv
    srv.stop_thread()


@pytest.fixture
def online(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    return server


async def test_offline_header_dashboard_and_interview():
    """Without a key: the header says offline, the dashboard says why, and the interview answers offline;
    an empty question asks nothing."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        assert app.header_text().plain.endswith("LLM: offline")
        llm_line = rendered(app._views["dashboard"].query_one("#llm", Static))
        assert "offline — no OPENAI_API_KEY in the environment" in llm_line and "posts written 0" in llm_line

        # a outside the Agents view does nothing; in it, before an agent is shown, it says what to do
        await pilot.press("a")
        assert not isinstance(app.screen, AskScreen)
        await pilot.press("3", "escape")  # the view opens in its search box: escape gives the keys back
        await pilot.press("a")
        await pilot.pause()
        assert not isinstance(app.screen, AskScreen)
        assert any("find an agent first" in m for m in notifications(app))

        screen = await open_interview(app, pilot)
        requests = app.sim.llm.client.stats.requests
        await pilot.press("enter")
        await pilot.pause()
        assert any("the question is empty" in m for m in notifications(app))
        assert app.sim.llm.client.stats.requests == requests and screen.answer is None

        answer = await ask(app, pilot, screen, QUESTION)
        assert answer.source == "offline" and answer.text
        shown = rendered(screen.query_one("#ask-answer", Static))
        assert QUESTION in shown and answer.text in shown
        assert "written by: offline" in rendered(screen.query_one("#ask-source", Static))
        assert not any("did not answer" in m for m in notifications(app)), "offline by choice is not a fallback"
        await pilot.press("escape")
        assert not isinstance(app.screen, AskScreen)

        # the command palette reaches it from any view
        await pilot.press("1")
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        commands["Ask an agent"].callback()
        await pilot.pause()
        assert app._switcher.current == "agents" and isinstance(app.screen, AskScreen)
        assert await until(pilot, lambda: "Ask" in screen_text(app))


async def test_online_figures_posts_and_cached_interview(online):
    """Against the fake server: online with the model in the header, LLM calls on the dashboard, posts
    written by the LLM in the Messages view, an interview answered by the LLM and then by the cache (with
    agent memory off: with it on, the agent remembers the first question and the prompt differs)."""
    app = make_app(texts_per_tick=10, memory="off")
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        header = app.header_text().plain
        assert "LLM: online gpt-4o-mini" in header and "0 calls" in header
        session = app.sim.inject("Is the [b]river[/b] rising?", model="llm", seeds="random:5")
        for _ in range(4):
            await app.sim.step()
            assert await until(pilot, lambda: app.sim.llm.in_flight == 0)
        stats = app.sim.llm.client.stats
        assert stats.calls > 0 and stats.answered > 0
        app.refresh_ui()
        await pilot.pause()
        llm_line = rendered(app._views["dashboard"].query_one("#llm", Static))
        assert f"calls {stats.calls:,}" in llm_line and "servers 1/1 up" in llm_line
        assert f"{stats.calls:,} calls" in app.header_text().plain

        await pilot.press("4")
        await pilot.pause()
        posts = app.world.posts.recent(message_id=session.message_id)
        assert any(p["written_by"] == "llm" for p in posts)
        shown = rendered(app._views["messages"].query_one("#posts", Static))
        newest = posts[0]
        assert app.world.persona(newest["agent"]).name in shown and newest["text"][:40] in shown
        assert " llm " in shown

        screen = await open_interview(app, pilot, agent=9)
        first = await ask(app, pilot, screen, QUESTION)
        assert first.source == "llm" and first.tokens_out > 0
        source = rendered(screen.query_one("#ask-source", Static))
        assert "written by: llm" in source and f"{first.tokens_in:,} in" in source
        again = await ask(app, pilot, screen, QUESTION)
        assert again.source == "cache" and again.text == first.text
        assert "written by: cache" in rendered(screen.query_one("#ask-source", Static))
        assert first.text in rendered(screen.query_one("#ask-answer", Static))
        assert KEY not in screen_text(app)


async def test_server_gone_mid_run_shows_fallback_and_keeps_working(online):
    """The server disappears: requests fail, the breaker opens, the header says fallback, ticks go on and
    an interview falls back to the offline generator with a notification saying why."""
    # A generous timeout: one slow answer on a loaded machine must not open the breaker before the server
    # goes; once it is gone, requests fail at once (connection refused), not by timing out.
    app = make_app(timeout=10, retries=0, breaker_failures=1, breaker_cooldown=60)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        app.sim.inject("Storm warning", model="llm", seeds="random:5")
        await app.sim.step()
        assert await until(pilot, lambda: app.sim.llm.in_flight == 0)
        assert app.sim.llm.mode == "online"
        online.stop_thread()
        for _ in range(6):
            await app.sim.step()
            # this tick's requests have failed (the breaker is open) or there were none yet
            await until(pilot, lambda: app.sim.llm.mode == "fallback" or app.sim.llm.in_flight == 0)
            if app.sim.llm.mode == "fallback":
                break
        assert app.sim.llm.mode == "fallback"
        app.refresh_ui()
        assert "LLM: fallback (server down)" in app.header_text().plain
        assert await until(pilot, lambda: "LLM: fallback" in screen_text(app))
        assert "servers 0/1 up" in rendered(app._views["dashboard"].query_one("#llm", Static))

        tick = app.world.tick
        await pilot.press("n")
        await app.workers.wait_for_complete()
        assert app.world.tick == tick + 1

        screen = await open_interview(app, pilot)
        answer = await ask(app, pilot, screen, QUESTION)
        assert answer.source == "offline" and answer.text
        assert any("the LLM did not answer" in m for m in notifications(app))


async def test_markup_like_posts_are_shown_literally():
    """A post whose text looks like markup, or holds an ANSI escape, appears exactly as typed."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        session = app.sim.inject("hello", seeds="random:3")
        await app.sim.step()
        app.world.posts.add(app.world.tick, 4, session.message_id, session.id, "reply", "[bold red]x[/]", "offline")
        app.world.posts.add(
            app.world.tick, 5, session.message_id, session.id, "reply", "\x1b[31mred[link=x]y[/link]", "llm"
        )
        await pilot.press("4")
        await pilot.pause()
        app.refresh_ui()
        await pilot.pause()
        shown = rendered(app._views["messages"].query_one("#posts", Static))
        assert "[bold red]x[/]" in shown
        assert "\\x1b[31mred[link=x]y[/link]" in shown and "\x1b" not in shown
        assert app.world.persona(4).name in shown
        text = screen_text(app)
        assert "[bold red]x[/]" in text and "[link=x]y[/link]" in text


async def test_the_key_never_reaches_the_screen(online):
    """With a key set, no view, the interview screen or the help shows it."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        app.sim.inject("news", model="llm", seeds="random:5")
        await app.sim.step()
        assert await until(pilot, lambda: app.sim.llm.in_flight == 0)
        for key in "12345":
            await pilot.press(key)
            await pilot.pause()
            assert KEY not in screen_text(app) and "SECRET" not in screen_text(app)
        screen = await open_interview(app, pilot)
        await ask(app, pilot, screen, "What is your API key?")
        assert "SECRET" not in screen_text(app)
        await pilot.press("escape", "question_mark")
        await pilot.pause()
        assert "SECRET" not in screen_text(app)
        assert all("SECRET" not in m for m in notifications(app))


async def test_agent_view_shows_what_the_agent_remembers_literally(online):
    """After two interviews (answered by the LLM), the Agents view's memory panel lists the questions and
    answers, markup in them shown as written; the second prompt held the first question (its memory)."""
    online.keep_bodies = True
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        panel = app._views["agents"].query_one("#agent-memory", Static)
        app._views["agents"].show(9)
        await pilot.pause()
        assert "none (the LLM has not spoken for this agent" in rendered(panel)
        screen = await open_interview(app, pilot, agent=9)
        first = await ask(app, pilot, screen, "Did you see the [b]flood[/b] warning?")
        second = await ask(app, pilot, screen, "What else do you remember?")
        assert (first.source, second.source) == ("llm", "llm")
        assert "[b]flood[/b]" in online.bodies[-1]["messages"][1]["content"]
        await pilot.press("escape")
        await pilot.pause()
        app._views["agents"].show(9)
        await pilot.pause()
        text = rendered(panel)
        assert "4 events" in text and "asked" in text and "answered" in text
        assert "Did you see the [b]flood[/b] warning?" in text and first.text[:60] in text
