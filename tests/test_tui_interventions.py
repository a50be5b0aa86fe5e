"""Interventions and seed methods in the terminal UI, under Textual's Pilot: v asks for an action and
schedules it through the world's controller (a notification says for which tick, another what it did once
applied); a bad action is a notification and changes nothing; the inject form offers the seed methods (a
slow one chooses in a worker, the form saying so); the charts mark every applied intervention at its tick,
and the Compare view draws the sessions on the world's ticks then, so that a counter-message and its rival
share one clock.

The tests wait for conditions (a worker's result, a chart drawn from the latest data), never for a fixed time.
"""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest
from conftest import notified, until
from textual.widgets import Button, Input, Label, Select, Static

from sim.engine.requests import SeedChoice
from sim.engine.seeding import method_seeds
from sim.model.intervene import entries
from sim.store.create import synthetic_world
from sim.store.worldfile import save_world
from tui.app import AgoraApp
from tui.charts import Chart, Mark
from tui.interventions import InterveneScreen

pytestmark = pytest.mark.usefixtures("keep_notifications")

SIZE = (150, 48)
MARKUP = "[bold red]no[/bold red] [link=x]y[/link]"


@pytest.fixture
def world_file(tmp_path):
    path = str(tmp_path / "iv.db")
    asyncio.run(save_world(synthetic_world("iv", 2000, avg_degree=8, seed=5), path))
    return path


async def start(app, pilot) -> None:
    await asyncio.wait_for(app.ready.wait(), 60)
    await pilot.pause()


async def intervene(app, pilot, action: str) -> InterveneScreen:
    """Press v, type ``action`` into the field and press enter; returns the screen (closed on success)."""
    await pilot.press("v")
    assert await until(pilot, lambda: isinstance(app.screen, InterveneScreen))
    screen = app.screen
    assert isinstance(app.focused, Input) and app.focused.id == "intervene-action"
    await pilot.press(*action)
    assert app.focused.value == action
    await pilot.press("enter")
    await pilot.pause()
    return screen


async def step(app, pilot) -> None:
    """One tick by the n key, waited for."""
    tick = app.world.tick
    await pilot.press("n")
    assert await until(pilot, lambda: app.world.tick == tick + 1)


def chart(app, view: str, name: str) -> Chart:
    return app._views[view].query_one(f"#{name}", Chart)


def drawn_with(c: Chart, applied: tuple) -> bool:
    """Whether the chart shows its latest data, drawn with ``applied`` (the world's applied interventions)."""
    return c.settled and c.spec is not None and c.key is not None and c.key[-1] == applied


async def test_v_schedules_an_intervention_and_says_what_it_did(world_file):
    """v opens the screen with the cursor in its field; the action typed is scheduled for the next tick
    (a notification says so and the screen closes); the tick applies it, and another notification (and the
    log) says what it did: the agents blocked, by the method that chose them."""
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        app.sim.inject("a rumour", seeds="random:10", seed=1)
        await step(app, pilot)
        screen = await intervene(app, pilot, "block:degree:50")
        assert screen.error is None and not isinstance(app.screen, InterveneScreen)
        listed = entries(app.world)
        assert len(listed) == 1 and listed[0]["spec"] == "block:degree:50" and not listed[0]["applied"]
        assert listed[0]["at"] == 1
        assert "intervention scheduled for tick 1 (the next tick): block:degree:50" in notified(app)
        await step(app, pilot)
        assert listed[0]["applied"] and listed[0]["tick"] == 1
        blocked = listed[0]["blocked"]
        assert len(listed[0]["agents"]) == 50 and 0 < blocked <= 50
        said = f"blocked {blocked} agents (degree:50) at tick 1"
        assert await until(pilot, lambda: any(m.startswith(said) for m in notified(app))), notified(app)
        # The agents blocked are the 50 the method chooses, by original id.
        ids = app.world.columns["ids"]
        # (A block's method chooses for the running message, from the world's seed and the tick.)
        choice = SeedChoice.parse({"method": "degree", "k": 50, "seed": app.world.seed + 1}, app.registry)
        chosen = method_seeds(app.world, app.registry, choice)
        assert sorted(listed[0]["agents"]) == sorted(ids[chosen].tolist())
        # The screen lists the world's interventions, and TICKS:ACTION schedules later.
        screen = await intervene(app, pilot, "3:remove-edges:0.05")
        assert screen.error is None and entries(app.world)[1]["at"] == app.world.tick + 3
        assert any("in 3 ticks" in m and "remove-edges:0.05:random" in m for m in notified(app))
        await pilot.press("v")
        assert await until(pilot, lambda: isinstance(app.screen, InterveneScreen))
        text = str(app.screen.query_one("#intervene-list", Static).render())
        assert said in text and "pending, at tick 5: remove-edges:0.05:random" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, InterveneScreen)


async def test_intervene_is_in_the_footer_the_help_and_the_palette(world_file):
    """v is shown in the footer and the help; the command palette finds "Intervene" by the words a user
    would type, and its entry opens the screen."""
    from textual.fuzzy import Matcher

    from tui.screens import HELP

    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        keys = app.query_one("#keys")
        assert await until(pilot, lambda: "v Intervene" in keys.render().plain)
        assert "  v        intervene at the next tick" in HELP
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        title = "Intervene (block, counter-message, remove edges)"
        assert title in commands and "(key: v)" in commands[title].help
        for query in ("intervene", "block", "counter"):
            assert Matcher(query).match(title) > 0, query
        # Through the palette itself: its entry opens the screen.
        from textual.command import CommandPalette

        await pilot.press("ctrl+p")
        assert await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"intervene")
        options = app.screen.query_one("CommandList")
        assert await until(
            pilot, lambda: options.option_count > 0 and "Intervene" in str(options.get_option_at_index(0).prompt)
        )
        await pilot.press("enter")
        assert await until(pilot, lambda: isinstance(app.screen, InterveneScreen))
        assert isinstance(app.focused, Input) and app.focused.id == "intervene-action"


async def test_a_bad_action_is_a_notification_and_changes_nothing(world_file):
    """A malformed action, one the world cannot carry out and a slow seed method are each refused in one
    sentence (a notification, and under the field: the screen stays for a correction); the world's list
    of interventions stays empty. An example from the kind selector then schedules."""
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        for action, words in (
            ("block:nonsense", "seed selection"),
            ("freeze:everyone", "no known action"),
            ("block:top:999999", "eligible"),
            ("remove-edges:7", "fraction"),
            ("block:ris:5", "quick method"),
        ):
            before = len(notified(app))
            screen = await intervene(app, pilot, action)
            assert isinstance(app.screen, InterveneScreen), action
            assert screen.error and words in screen.error, (action, screen.error)
            news = notified(app)[before:]
            assert news == [screen.error], (action, news)
            assert screen.error in str(screen.query_one("#intervene-error", Static).render())
            assert entries(app.world) == [], action
            await pilot.press("escape")
        assert app.world.config.get("interventions") in (None, [])
        # An example fills the field: enter schedules it.
        await pilot.press("v")
        assert await until(pilot, lambda: isinstance(app.screen, InterveneScreen))
        app.screen.query_one("#intervene-kind", Select).value = "remove-edges"
        field = app.screen.query_one("#intervene-action", Input)
        assert await until(pilot, lambda: field.value == "remove-edges:0.1:random")
        field.focus()
        await pilot.press("enter")
        assert await until(pilot, lambda: not isinstance(app.screen, InterveneScreen))
        assert [e["spec"] for e in entries(app.world)] == ["remove-edges:0.1:random"]


async def test_a_counter_message_is_said_literally_and_drawn_against_its_rival(world_file):
    """A counter-message whose text is written like markup: the notifications and the screen's list show
    it as written; once applied, the Compare view draws both sessions on the world's ticks with a mark at
    the intervention's tick, and lists each one's rival."""
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        rival = app.sim.inject("the rumour", seeds="top:10", params={"p": 0.05}, seed=1)
        for _ in range(2):
            await step(app, pilot)
        await intervene(app, pilot, f"counter:ic:degree:5:{MARKUP}")
        assert any(m.endswith(f"counter:ic:degree:5:{MARKUP}") for m in notified(app)), notified(app)
        await step(app, pilot)
        entry = entries(app.world)[0]
        assert entry["applied"] and entry["tick"] == 2 and entry["rivals"] == [rival.id]
        counter = app.sim.session(entry["session"])
        assert counter.message["text"] == MARKUP and counter.rivals == (rival.id,)
        said = f"counter-message (counter:ic:degree:5:{MARKUP}) started at tick 2 as session {counter.id}"
        assert await until(pilot, lambda: any(m.startswith(said) for m in notified(app))), notified(app)
        for _ in range(2):
            await step(app, pilot)
        await pilot.press("6")
        applied = ((2, f"counter:ic:degree:5:{MARKUP}"),)
        c = chart(app, "compare", "compare-chart")
        assert await until(pilot, lambda: drawn_with(c, applied))
        spec = c.spec
        assert spec.xlabel == "tick" and [m.x for m in spec.marks] == [2.0]
        assert spec.marks[0].label.startswith("counter:ic:degree:5:[")  # cut, never markup
        by_label = {line.label: line for line in spec.lines}
        first = by_label[f"session {rival.id} (ic)"]
        second = by_label[f"session {counter.id} (ic)"]
        assert first.x.tolist() == list(range(rival.started_tick, rival.started_tick + len(rival.new_per_tick)))
        assert second.x[0] == counter.started_tick >= 2
        assert second.y.tolist() == np.cumsum(counter.new_per_tick).tolist()
        assert "counter:ic:degree:5:[" in c.text  # the label on the chart
        listing = str(app._views["compare"].query_one("#compare-sessions", Static).render())
        assert f"rivals {counter.id}" in listing and f"rivals {rival.id}" in listing
        assert "marks: tick 2 counter:ic:degree:5:[bold red]" in listing and MARKUP in listing


async def test_the_charts_mark_each_intervention_at_its_tick(world_file):
    """After an intervention is applied, the session chart and the world's per-tick charts (all at world
    ticks) draw a mark at its tick, labelled with its action."""
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await step(app, pilot)  # the session starts at tick 1: its chart's 0
        session = app.sim.inject("spreading", seeds="top:10", model="si", seed=2)  # runs on: the marks are in range
        for _ in range(3):
            await step(app, pilot)
        await intervene(app, pilot, "remove-edges:0.2")
        for _ in range(3):
            await step(app, pilot)
        applied = ((4, "remove-edges:0.2:random"),)
        assert app.applied_interventions() == applied
        await pilot.press("1")
        for name, x in (("session-chart", 4), ("new-chart", 4), ("social-chart", 4)):
            c = chart(app, "dashboard", name)
            assert await until(pilot, lambda c=c: drawn_with(c, applied)), name
            assert c.spec.marks == (Mark(float(x), "remove-edges:0.2:random"),), name
            assert "remove-edges:0.2:random" in c.text, name
        assert session.started_tick == 1 and session.status == "running"


async def test_inject_with_seed_methods_from_the_form(world_file, monkeypatch):
    """The seed selector offers the seed methods (K in the field): degree:5 is injected as it is and its
    seeds are the method's choice; a slow method (ris) goes the controller's locked path (issue 58): it chooses
    in a worker thread holding the simulation's lock, the form saying so (the button disabled) and the UI
    answering, while a tick asked for meanwhile waits; the message is queued with the agents it chose."""
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("i")
        view = app._views["messages"]
        kind = view.query_one("#seed-kind", Select)
        values = [value for _label, value in kind._options]
        for name in ("random", "top", "community", "ids", "degree", "degree-discount", "pagerank", "ris", "celf"):
            assert name in values, name
        assert values.count("random") == 1  # the built-in random:K (the seed method of that name is the same)
        kind.value = "degree"
        label = view.query_one("#seed-arg-label", Label)
        assert await until(pilot, lambda: str(label.render()) == "K")
        assert view.query_one("#seed-arg", Input).value == "10"
        view.query_one("#seed-arg", Input).value = "5"
        view.query_one("#msg-text", Input).value = "by degree"
        await pilot.pause()
        await pilot.click("#inject")
        assert await until(pilot, lambda: len(app.sim.sessions) == 1)
        session = app.sim.sessions[0]
        assert session.seeds == "degree:5"
        choice = SeedChoice.parse({"method": "degree", "k": 5, "seed": app.world.seed}, app.registry)
        chosen = method_seeds(app.world, app.registry, choice)
        assert session.seed_agents.tolist() == chosen.tolist()
        # app.notify posts a message: the notification lands when the app has processed it.
        said = "queued, its seeds chosen by degree:5"
        assert await until(pilot, lambda: any(m.endswith(said) for m in notified(app))), notified(app)
        # A slow method: chosen in a worker (held here until the test has seen the form say so), by the engine
        # (Simulation.choose_seeds) under the controller's locks, as the API's injections are.
        import sim.engine.simulation

        release = threading.Event()
        real = sim.engine.simulation.method_seeds
        seen: dict[str, object] = {}

        def held(*args, **kw):
            seen["locked"] = app.sim.lock.locked()
            release.wait(60)
            seen["tick"] = app.world.tick  # a tick asked for while choosing has not run
            seen["chosen"] = real(*args, **kw).tolist()
            return np.asarray(seen["chosen"], dtype=np.int32)

        monkeypatch.setattr(sim.engine.simulation, "method_seeds", held)
        kind.value = "ris"
        arg = view.query_one("#seed-arg", Input)
        assert await until(pilot, lambda: arg.value == "10")  # the selector's default K: it took the change
        arg.value = "3"
        view.query_one("#msg-text", Input).value = "by ris"
        await pilot.pause()
        await pilot.click("#inject")
        button = view.query_one("#inject", Button)
        status = view.query_one("#form-error", Static)
        assert await until(pilot, lambda: view.choosing == "ris:3" and button.disabled)
        assert "choosing seeds with ris:3" in str(status.render())
        assert any(m.startswith("choosing 3 seeds with ris") for m in notified(app))
        tick = app.world.tick
        await pilot.press("2")  # the UI answers while the seeds are chosen
        assert app._switcher.current == "communities"
        await pilot.press("4")
        await pilot.press("n")  # a tick asked for now waits for the injection
        await pilot.pause()
        release.set()
        assert await until(pilot, lambda: len(app.sim.sessions) == 2 and view.choosing is None)
        assert seen["locked"] is True and seen["tick"] == tick, seen
        assert await until(pilot, lambda: app.world.tick == tick + 1)  # then the tick runs
        assert not button.disabled and "choosing" not in str(status.render())
        slow = app.sim.sessions[1]
        choice = SeedChoice.parse({"method": "ris", "k": 3, "seed": app.world.seed}, app.registry)
        expected = real(app.world, app.registry, choice)
        assert slow.seeds == "ris:3" and seen["chosen"] == expected.tolist()  # its seed agents, kept by the session
        assert slow.message["text"] == "by ris"
        # app.notify posts a message: the notification lands when the app has processed it.
        said = "queued, its seeds chosen by ris:3"
        assert await until(pilot, lambda: any(m.endswith(said) for m in notified(app))), notified(app)


async def test_a_refused_seed_method_choice_is_a_notification(world_file):
    """A slow method the model is not derived for (ris is for ic and lt) is refused in one sentence once the
    worker has tried; nothing is injected and the form is usable again."""
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("i")
        view = app._views["messages"]
        view.query_one("#model", Select).value = "sir"
        view.query_one("#seed-kind", Select).value = "ris"
        assert await until(pilot, lambda: str(view.query_one("#seed-arg-label", Label).render()) == "K")
        view.query_one("#msg-text", Input).value = "wrong model"
        await pilot.pause()
        await pilot.click("#inject")
        assert await until(pilot, lambda: any("the message was not injected" in m for m in notified(app)))
        message = next(m for m in notified(app) if "the message was not injected" in m)
        assert "ris" in message and "sir" in message and "\n" not in message
        assert app.sim.sessions == [] and view.choosing is None
        assert not view.query_one("#inject", Button).disabled


def test_a_skipped_counter_message_says_why_not_that_it_started():
    """A counter-message skipped at its tick (the server's message bound) is said as such, with the reason."""
    from tui.interventions import applied_text

    entry = {
        "action": "counter",
        "spec": "counter:ic:degree:5",
        "applied": True,
        "tick": 12,
        "at": 12,
        "skipped": "the world held 30 messages, the most the server allows (30, --max-messages)",
    }
    text = applied_text(entry)
    assert text.startswith("counter-message (counter:ic:degree:5) skipped at tick 12: the world held 30 messages")
    assert "session" not in text
