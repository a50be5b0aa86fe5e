"""The cascade in the TUI's Messages view, under Textual's Pilot on a small world: the selected session's
measures and top spreaders, live; the t key's tree screen (generation by generation, trimmed, with counts
of what was cut, each child under its real parent); a model without sources; text shown literally."""

from __future__ import annotations

import asyncio
import re

import numpy as np
import pytest
from conftest import notified
from test_tui import inject, screen_text, start, until
from textual.widgets import Static

from sim.core.persona import Persona
from sim.live.cascadeview import BUSY, live_forest, tree_lines
from sim.store.create import synthetic_world
from sim.store.worldfile import save_world
from tui.app import AgoraApp
from tui.cascade import CascadeTreeScreen
from tui.views import literal

pytestmark = pytest.mark.usefixtures("keep_notifications")

SIZE = (150, 48)
MARKUP = "[bold]loud[/bold] [link=http://x]y[/link]"
NAME = "[bold]Ann[/bold]"


@pytest.fixture
def world_file(tmp_path):
    path = str(tmp_path / "cascade.db")
    asyncio.run(save_world(synthetic_world("cascade", 2000, avg_degree=8, seed=5), path))
    return path


async def step(app, pilot, ticks: int = 1) -> None:
    for _ in range(ticks):
        await pilot.press("n")
        await app.workers.wait_for_complete()


def cascade_box(app) -> Static:
    return app._views["messages"].query_one("#session-cascade", Static)


def shown_text(widget: Static) -> str:
    return widget._agora_shown.plain  # what tui.views.show put there last


async def test_messages_view_shows_the_selected_sessions_cascade_live(world_file):
    """The cascade box shows the measures of the highlighted session's forest (as ``session.forest()``
    measures them), its top spreaders by name and original id with their children, and follows the
    session round by round."""
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await inject(app, pilot, "a rumour", **{"seed-arg": "5", "param-p": "0.3"})
        session = app.sim.sessions[0]
        box = cascade_box(app)
        assert await until(pilot, lambda: "has not started" in shown_text(box))
        await step(app, pilot, 3)
        world = app.world
        for _ in range(3):
            assert await until(pilot, lambda: f"round {session.round}" in str(box.border_title)), box.border_title
            m = session.forest().measures()
            text = shown_text(box)
            assert f"size {m['size']:,} · trees {m['trees']:,} · depth {m['depth']:,}" in text, text
            assert f"max breadth {m['max_breadth']:,}" in text
            assert f"structural virality {m['structural_virality']:.2f}" in text
            assert m["size"] == session.reached and m["trees"] == 5
            spreaders = session.forest().top_spreaders(5)
            assert spreaders, "p = 0.3 on a world of degree 8: the seeds pass the message on"
            for agent, children in spreaders:
                oid = int(world.columns["ids"][agent])
                name = literal(world.persona(agent).name, 24).plain
                assert f"{name} (id {oid}): {children:,}" in text, text
            size = f"size {m['size']:,}"
            assert await until(pilot, lambda size=size: size in screen_text(app))
            await step(app, pilot)


async def test_the_tree_screen_draws_generations_and_counts_what_was_cut(world_file):
    """A big cascade (p = 0.5) on a short terminal: t opens the tree screen; it names generation 0 and the
    right count of generation 1, every child it names is a child of the parent it is listed under, the
    agents named and the agents said to be cut add up to each generation, the generations not shown are
    counted, and escape closes it."""
    app = AgoraApp(world_file)
    async with app.run_test(size=(100, 22)) as pilot:
        await start(app, pilot)
        await inject(app, pilot, "big news", **{"seed-arg": "5", "param-p": "0.5"})
        await step(app, pilot, 8)
        session = app.sim.sessions[0]
        forest = session.forest()
        sizes = forest.generation_sizes()
        assert forest.size > 1000 and sizes.size >= 5, sizes
        await pilot.press("t")
        assert await until(pilot, lambda: isinstance(app.screen, CascadeTreeScreen) and app.screen.lines)
        lines = app.screen.lines
        drawn = screen_text(app)
        assert f"generation 0: {sizes[0]:,} agents" in drawn
        assert f"generation 1: {sizes[1]:,} agents" in drawn
        body = app.screen.query_one("#tree-text", Static)
        assert len(lines) <= body.content_size.height and max(len(x) for x in lines) <= body.content_size.width
        ids = app.world.columns["ids"]
        index = {int(v): i for i, v in enumerate(ids)}
        parent_of = dict(zip(forest.agents.tolist(), forest.source_agents().tolist(), strict=True))
        generation_of = dict(zip(forest.agents.tolist(), forest.generation.tolist(), strict=True))
        shown_gens = 0
        g = -1
        named: dict[int, int] = {}
        cut: dict[int, int] = {}
        for line in lines:
            if m := re.fullmatch(r"generation (\d+): ([\d,]+) agents?", line):
                g = int(m.group(1))
                assert g == shown_gens and int(m.group(2).replace(",", "")) == sizes[g]
                shown_gens += 1
                named[g], cut[g] = 0, 0
            elif m := re.fullmatch(r"  … and ([\d,]+) more agents? in this generation", line):
                cut[g] = int(m.group(1).replace(",", ""))
            elif m := re.fullmatch(r"… ([\d,]+) more generations? \(([\d,]+) agents?\) not shown", line):
                assert int(m.group(1).replace(",", "")) == sizes.size - shown_gens
                assert int(m.group(2).replace(",", "")) == int(sizes[shown_gens:].sum())
            elif "→" in line:
                head, tail = line.split(" → ")
                parent = index[int(head)]
                children = [index[int(c)] for c in tail.split(", ") if not c.startswith("…")]
                assert all(parent_of[c] == parent and generation_of[c] == g for c in children), line
                named[g] += len(children)
            else:
                roots = [index[int(c)] for c in line.split(", ")]
                assert g == 0 and all(parent_of[r] == -1 for r in roots), line
                named[g] += len(roots)
        for gen in named:
            assert named[gen] + cut[gen] == sizes[gen], (gen, named[gen], cut[gen])
        assert any(cut.values()), "a big cascade on 22 lines: some agents are cut"
        assert shown_gens < sizes.size and "not shown" in lines[-1], "the last generations are counted"
        await pilot.press("escape")
        assert await until(pilot, lambda: not isinstance(app.screen, CascadeTreeScreen))


async def test_a_model_without_sources_says_it_has_no_tree(world_file):
    """A majority-rule session names no sources: the box says so, and t says so instead of opening a screen."""
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("4")
        session = app.controller.inject_now(text="a vote", model="majority-rule", seeds="random:200")
        app.selected_session_id = session.id
        await step(app, pilot, 2)
        box = cascade_box(app)
        line = "no tree: model majority-rule names no sources"
        assert await until(pilot, lambda: line in shown_text(box))
        assert line in screen_text(app)
        await pilot.press("t")
        assert await until(pilot, lambda: line in notified(app))
        assert not isinstance(app.screen, CascadeTreeScreen)


async def test_message_and_agent_names_with_markup_are_shown_literally(world_file):
    """The message's text (the tree screen's title) and a spreader's name are text from outside: markup in
    them is shown as written, never interpreted."""
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        ids = app.world.columns["ids"]
        seeds = [0, 1, 2]
        for agent in seeds:
            app.world.set_persona(agent, Persona(name=f"{NAME} {agent}", bio="", style=""))
        await pilot.press("4")
        session = app.controller.inject_now(
            text=MARKUP, seeds="ids:" + ",".join(str(int(ids[a])) for a in seeds), params={"p": 0.6}
        )
        app.selected_session_id = session.id
        await step(app, pilot, 2)
        box = cascade_box(app)
        assert await until(pilot, lambda: NAME in shown_text(box)), shown_text(box)
        assert await until(pilot, lambda: NAME in screen_text(app))
        app.screen.set_focus(None)
        await pilot.press("t")
        assert await until(pilot, lambda: isinstance(app.screen, CascadeTreeScreen))
        assert await until(pilot, lambda: MARKUP in screen_text(app))  # the title: the message, as written


async def test_a_session_restored_from_a_snapshot_shows_the_same_cascade(world_file, tmp_path):
    """A loaded snapshot's sessions rebuild their forests from their stored adoptions (between two ticks):
    the box shows the measures the session had before it was saved."""
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await inject(app, pilot, "saved news", **{"seed-arg": "5", "param-p": "0.3"})
        await step(app, pilot, 4)
        before = app.sim.sessions[0].forest().measures()
        path = str(tmp_path / "cascade.snap")
        await pilot.press("1")  # the Messages view, hidden, reads no session
        await app.controller.shelf.save_file(path)
        await app.controller.shelf.load_file(path)
        session = app.sim.sessions[0]
        assert session.cascade_tracker is None, "restored: the tracker is rebuilt on first use"
        app.selected_session_id = session.id
        await pilot.press("4")
        box = cascade_box(app)
        line = f"size {before['size']:,} · trees {before['trees']:,} · depth {before['depth']:,}"
        assert await until(pilot, lambda: line in shown_text(box)), shown_text(box)
        assert session.forest().measures() == before


def test_a_forest_caught_mid_round_is_busy_not_wrong():
    """Arrays caught half-way through a round (a generation written before its parent's) give BUSY, and a
    tree is drawn only from arrays that agree."""
    from sim.core.cascade import CascadeTracker

    class Session:
        id, round, model_name, gives_sources, record_cascade, started_tick = 1, 2, "ic", True, True, 0
        state = np.zeros(6, dtype=np.int8)

    s = Session()
    s.cascade_tracker = CascadeTracker(6)
    s.adopted_from = np.full(6, -1, dtype=np.int32)
    s.cascade_tracker.add(np.array([0]))
    s.adopted_from[[1, 2]] = 0
    s.cascade_tracker.add(np.array([1, 2]), np.array([0, 0]))
    forest = live_forest(s)
    assert forest is not BUSY and forest.size == 3
    assert tree_lines(forest, np.arange(6) + 100) == [
        "generation 0: 1 agent",
        "  100",
        "generation 1: 2 agents",
        "  100 → 101, 102",
    ]
    # Agent 3 joins from agent 1 (generation 2), but the session's adopted_from, read mid-round, still
    # names another agent: the two disagree, so the tree is not drawn from them.
    s.cascade_tracker.add(np.array([3]), np.array([1]))
    s.adopted_from[3] = 4
    assert live_forest(s) is BUSY
    s.adopted_from[3] = 1
    assert live_forest(s).size == 4
