"""The Communities view on a world of people (issue 59): a select groups the agents by a category attribute (one
row per label, shown as it is, never as markup), another counts on one contact layer; the world's communities
stay as they are. The figures are those of ``test_analysis_groups.tiny_world``, counted by hand there."""

from __future__ import annotations

import asyncio

import numpy as np
from conftest import until
from test_analysis_groups import B, tiny_world
from textual.widgets import DataTable, Select, Static

from sim.store.worldfile import save_world
from tui.app import AgoraApp


def cells(table: DataTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def test_the_communities_view_groups_by_a_category_and_counts_one_layer(tmp_path):
    path = str(tmp_path / "t.db")
    await save_world(tiny_world(), path)
    app = AgoraApp(path)
    async with app.run_test(size=(150, 48)) as pilot:
        await asyncio.wait_for(app.ready.wait(), 60)
        communities = app.world.columns["community"].copy()
        await pilot.press("2")
        view = app._views["communities"]
        by, layer = view.query_one("#comm-by", Select), view.query_one("#comm-layer", Select)
        assert await until(pilot, lambda: view.query_one("#comm-choose").display and by.display and layer.display)
        table = view.query_one("#comm-table", DataTable)
        by.value = "cls"
        # Two rows (the empty group c is none), the labels as they are: class b's is markup, shown literally.
        assert await until(pilot, lambda: sorted(r[0] for r in cells(table)) == sorted(["a", B]))
        rows = {r[0]: r for r in cells(table)}
        assert rows["a"][1] == "3" and rows[B][1] == "2" and rows["a"][2] == "1.0000"
        assert "grouped by category cls" in str(view.query_one("#comm-caption", Static).render())
        missing = view.query_one("#comm-isolated", Static)
        assert "1 agent has no value of cls (missing)" in str(missing.render())
        layer.value = "household"
        # On household only, a holds one pair of its three (density 1/3) and b none.
        assert await until(pilot, lambda: {r[0]: r[2] for r in cells(table)} == {"a": "0.3333", B: "0.0000"})
        assert "edges of layer household only" in str(view.query_one("#comm-caption", Static).render())
        table.move_cursor(row=[r[0] for r in cells(table)].index(B))
        detail = view.query_one("#comm-detail", Static)
        assert await until(pilot, lambda: str(detail.render()).startswith(f"group {B}: 2 agents"))
        assert "→a: 3" in str(detail.render())  # 2->1, 2->3 and 5->4 in the household layer
        # A message seeded at person 1 (class a), run one tick: the shares are per group.
        app.sim.inject("measles", topics=["health"], seeds="ids:1", params={"p": 0.0}, seed=1)
        await app.sim.step()
        assert await until(
            pilot, lambda: cells(table) and {r[0]: r[6] for r in cells(table)}.get("a", "").endswith("(home)")
        )
        assert {r[0]: r[6] for r in cells(table)}[B] == "-"  # never reached
        by.value = ""  # back to the world's own communities
        assert await until(pilot, lambda: "grouped by" not in str(view.query_one("#comm-caption", Static).render()))
        assert np.array_equal(app.world.columns["community"], communities)
