"""The session chart by group (the g key, issue 77), under Textual's Pilot on the real Hagelloch village: g and
``layer`` draw the session's new infections per tick by the contact layer they came through (household, class, no
source), ``AGE:0,5,10,15`` by age band, each summing to the session's ``new`` at every tick; a word the world cannot
group by is one line in the notices with the screen kept open and filled; an empty line goes back to the states.

The tests wait for conditions (a chart drawn from the latest data, a screen shown), never for a time.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from conftest import data_file, notified, until
from textual.widgets import Input

from tui.app import AgoraApp
from tui.charts import Chart
from tui.grouping import GroupingScreen

pytestmark = pytest.mark.usefixtures("keep_notifications")


async def type_by(app, pilot, word: str) -> None:
    await pilot.press("g")
    assert await until(pilot, lambda: isinstance(app.screen, GroupingScreen))
    app.screen.query_one("#grouping-by", Input).value = word
    await pilot.press("enter")


async def drawn(app, pilot, wanted: set[str]) -> dict:
    chart = app._views["dashboard"].query_one("#session-chart", Chart)

    def ready() -> bool:
        app.refresh_ui()
        return chart.settled and chart.spec is not None and {ln.label for ln in chart.spec.lines} == wanted

    assert await until(pilot, ready), [ln.label for ln in chart.spec.lines] if chart.spec else None
    return {ln.label: ln for ln in chart.spec.lines}


async def test_g_draws_new_infections_by_layer_and_by_age_band(village):
    app = AgoraApp(village)
    async with app.run_test(size=(150, 48)) as pilot:
        await asyncio.wait_for(app.ready.wait(), 60)
        session = app.sim.inject("measles", seeds="random:3", model="sir", params={"beta": 0.08, "gamma": 0.12}, seed=3)
        app.selected_session_id = session.id
        for _ in range(12):
            await app.sim.step()
        await pilot.pause()
        await type_by(app, pilot, "layer")
        lines = await drawn(app, pilot, {"household", "class", "none", "other"})
        new = np.asarray(session.new_per_tick, dtype=float)
        assert np.array_equal(sum(ln.y for ln in lines.values()), new) and new.sum() > 3
        assert lines["none"].y[0] == 3 and lines["household"].x[0] == session.started_tick
        assert "new by layer" in app._views["dashboard"].query_one("#session-chart", Chart).spec.title

        said = len(notified(app))
        await type_by(app, pilot, "AGE")  # a number without bands: one line, the screen kept, filled
        assert await until(pilot, lambda: len(notified(app)) > said)
        assert "AGE: it is a number: give its bands" in notified(app)[-1]
        assert isinstance(app.screen, GroupingScreen) and app.screen.query_one("#grouping-by", Input).value == "AGE"
        app.screen.query_one("#grouping-by", Input).value = "AGE:0,5,10,15"
        await pilot.press("enter")
        lines = await drawn(app, pilot, {"AGE:0-4", "AGE:5-9", "AGE:10-14", "AGE:15+"})
        assert np.array_equal(sum(ln.y for ln in lines.values()), new)

        await type_by(app, pilot, "")
        await drawn(app, pilot, set(session.state_names))


async def test_the_communities_view_groups_by_age_in_bands_the_person_edits(village):
    """A number attribute in the Communities view: offered in bands (round ones first, editable), one row per band
    of the village's children, counted as the table counts them; bounds that are none are one line, the field
    kept; the world's communities stay as they are."""
    import csv

    from textual.widgets import DataTable, Select, Static

    with open(data_file("hagelloch.csv"), newline="") as fh:
        ages = np.array([float(r["AGE"]) for r in csv.DictReader(fh)])
    app = AgoraApp(village)
    async with app.run_test(size=(150, 48)) as pilot:
        await asyncio.wait_for(app.ready.wait(), 60)
        communities = app.world.columns["community"].copy()
        await pilot.press("2")
        view = app._views["communities"]
        by, table = view.query_one("#comm-by", Select), view.query_one("#comm-table", DataTable)
        bands = view.query_one("#comm-bands", Input)
        assert await until(pilot, lambda: by.display)
        by.value = "AGE:"

        def sizes() -> dict[str, str]:
            return {str(table.get_row_at(i)[0]): str(table.get_row_at(i)[1]) for i in range(table.row_count)}

        first = {f"AGE:{a}-{a + 4}": str(int(((ages >= a) & (ages < a + 5)).sum())) for a in (0, 5, 10)}
        first = {k: v for k, v in first.items() if v != "0"} | {"AGE:15+": str(int((ages >= 15).sum()))}
        assert await until(pilot, lambda: sizes() == first), sizes()
        assert bands.display and bands.value == "0,5,10,15"
        assert "grouped by AGE in bands from 0,5,10,15" in str(view.query_one("#comm-caption", Static).render())
        said = len(notified(app))
        bands.value = "7,x"
        bands.focus()
        await pilot.press("enter")
        assert await until(pilot, lambda: len(notified(app)) > said) and "must be numbers" in notified(app)[-1]
        assert bands.value == "7,x" and sizes() == first
        bands.value = "0,7"
        await pilot.press("enter")
        split = {"AGE:0-6": str(int((ages < 7).sum())), "AGE:7+": str(int((ages >= 7).sum()))}
        assert await until(pilot, lambda: sizes() == split), sizes()
        assert np.array_equal(app.world.columns["community"], communities)
