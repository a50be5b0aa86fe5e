"""The TUI's inject form on a world of contact layers (issue 59): a row per layer under each parameter that
acts per edge, empty meaning the plain value; a bad layer value is said under its row; the values typed reach
the session as ``beta@LAYER``."""

from __future__ import annotations

import numpy as np
from conftest import until
from textual.widgets import Input, Select, Static

from sim.store.contacts import GroupLayer, people_world
from sim.store.people import PeopleTable
from sim.store.worldfile import save_world


async def layered_file(folder) -> str:
    """Households 1-2-3 and 4-5-6, with 3 and 6 in one class."""
    table = PeopleTable(
        path="t.csv",
        id_column="id",
        ids=np.arange(1, 7),
        numbers={"house": np.array([1.0, 1, 1, 2, 2, 2]), "cls": np.array([np.nan, np.nan, 7, np.nan, np.nan, 7])},
    )
    world = people_world("t", table, [GroupLayer("house", "household"), GroupLayer("cls", "class")])
    path = str(folder / "t.db")
    await save_world(world, path)
    return path


async def test_the_form_offers_a_row_per_layer_and_injects_the_values_typed(tmp_path):
    from tui.app import AgoraApp

    app = AgoraApp(await layered_file(tmp_path))
    async with app.run_test(size=(150, 48)) as pilot:
        await pilot.press("i")
        view = app._views["messages"]
        view.query_one("#model", Select).value = "sir"
        assert await until(pilot, lambda: "beta@class" in view._param_inputs)
        inputs = view._param_inputs
        assert [k for k in inputs if k.startswith("beta")] == ["beta", "beta@household", "beta@class"]
        assert inputs["beta@household"].value == "" and "gamma@household" not in inputs
        inputs["beta@class"].value = "2"
        await pilot.pause()
        errors = [w for w in view.query(Static) if "param-error" in w.classes]
        assert any("beta@class=2 is invalid" in str(w.render()) for w in errors)
        inputs["beta@class"].value = "0"
        inputs["beta"].value = "0"
        inputs["gamma"].value = "1"
        inputs["beta@household"].value = "1"
        view.query_one("#msg-text", Input).value = "measles"
        view.query_one("#seed-kind", Select).value = "ids"
        await pilot.pause()
        view.query_one("#seed-arg", Input).value = "1"
        inputs["beta@household"].focus()
        await pilot.press("enter")  # Enter in a parameter's field injects
        assert await until(pilot, lambda: len(app.sim.sessions) == 1, 10), str(
            view.query_one("#form-error", Static).render()
        )
        params = app.sim.sessions[0].params
        assert params["beta@household"] == 1.0 and params["beta@class"] == 0.0 and params["beta"] == 0.0
