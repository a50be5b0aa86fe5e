"""What a new user tripped on in the terminal UI (issue 45), under Textual's Pilot: typing an id in the
Agents view searches (it switched views), the Messages table's status fits ``running`` with one row (it
read ``runnin``), and the Dashboard's session chart and the world's charts share one axis, the world's tick
(the session chart counted ticks since its start)."""

from __future__ import annotations

import asyncio

import pytest
from conftest import until
from rich.text import Text
from textual.widgets import DataTable, Input, Static

from sim.store.create import synthetic_world
from sim.store.worldfile import save_world
from tui.app import AgoraApp
from tui.charts import Chart

SIZE = (150, 48)


@pytest.fixture
def world_file(tmp_path):
    path = str(tmp_path / "papercuts.db")
    asyncio.run(save_world(synthetic_world("papercuts", 2000, avg_degree=8, seed=5), path))
    return path


async def start(app, pilot):
    await asyncio.wait_for(app.ready.wait(), 60)
    await pilot.pause()


def rendered(widget: Static) -> str:
    content = widget.render()
    return content.plain if isinstance(content, Text) else str(content)


async def test_typing_an_id_in_the_agents_view_searches(world_file):
    """3 opens the Agents view with its search box focused: 4, 2, enter find agent 42 (4 switched to the
    Messages view). / keeps the box (it is not typed); escape gives the keys back: 1 switches views again.
    The hint says so."""
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        view = app._views["agents"]
        box = view.query_one("#agent-query", Input)
        await pilot.press("3")
        assert app._switcher.current == "agents" and app.focused is box
        hint = rendered(view.query_one("#agent-profile", Static))
        assert "/ comes back to it" in hint and "Escape leaves it" in hint
        await pilot.press("4", "2", "enter")
        assert await until(pilot, lambda: view.agent_index == app.world.index_of(42))
        assert app._switcher.current == "agents" and box.value == "42"
        await pilot.press("slash")
        assert app.focused is box and box.value == "42"
        await pilot.press("escape", "1")
        assert app._switcher.current == "dashboard"
        await pilot.press("3")  # back again: the box has the focus again
        assert app.focused is box


async def test_the_messages_status_column_fits_running_with_one_row(world_file):
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        session = app.sim.inject("one row", seeds="top:5", model="ic", seed=1)
        await pilot.press("4")
        table = app._views["messages"].query_one("#sessions", DataTable)
        assert await until(pilot, lambda: table.row_count == 1)
        await app.sim.step()
        assert session.status == "running"
        assert await until(pilot, lambda: str(table.get_cell(str(session.id), "status")) == "running")
        await pilot.pause()
        (column,) = [c for c in table.ordered_columns if c.key.value == "status"]
        assert column.width >= len("cancelled") and not column.auto_width
        # What the screen shows of the row: the status in full, not "runnin".
        region = table.region
        rows = [strip.text for strip in app.screen._compositor.render_strips()][region.y : region.bottom]
        assert any(" running " in row for row in rows), rows


async def test_the_dashboards_charts_share_the_world_tick(world_file):
    """A session injected at world tick 3 and run 4 ticks is drawn at world ticks 3..6, on an axis labelled
    as the world's charts below it, which count the same ticks."""
    app = AgoraApp(world_file)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        for _ in range(3):
            await app.sim.step()
        session = app.sim.inject("late", seeds="top:10", model="ic", seed=2)
        for _ in range(4):
            await app.sim.step()
        assert session.started_tick == 3 and session.series.length == 4
        dashboard = app._views["dashboard"]
        top, below = dashboard.query_one("#session-chart", Chart), dashboard.query_one("#new-chart", Chart)

        def settled() -> bool:
            return (
                top.settled
                and top.spec is not None
                and top.key[1:4] == (session.id, session.round, session.status)
                and below.settled
                and below.spec is not None
                and bool(below.spec.lines)
                and int(below.spec.lines[0].x[-1]) == app.world.tick - 1
            )

        assert await until(pilot, settled)
        assert [int(x) for x in top.spec.lines[0].x] == [3, 4, 5, 6]
        assert [int(x) for x in below.spec.lines[0].x] == list(range(7))
        assert top.spec.xlabel == below.spec.xlabel == "tick"
        assert "since start" not in top.text
