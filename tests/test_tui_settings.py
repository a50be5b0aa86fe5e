"""The UI's theme and keys kept in the user's config (issue 77), under Textual's Pilot: a theme chosen is written to
tui.toml and applied at the next start; a key bound from the palette's form (ID=KEY) works at once, is listed by the
help, is kept, and the defaults come back; a file with mistakes is one line for each in the notices and the rest of
it applies; a bad ID=KEY is one line and nothing changes."""

from __future__ import annotations

import asyncio
import io
import tomllib

import pytest
from conftest import agora, notified, until
from rich.console import Console
from textual.widgets import Input

from tui.app import AgoraApp
from tui.forecast import ForecastScreen
from tui.screens import HelpScreen, help_table
from tui.settings import KeyScreen, settings_path

pytestmark = pytest.mark.usefixtures("keep_notifications")


def _world(tmp_path) -> str:
    assert agora(tmp_path, "new", "w.db", "--agents", "200", "--avg-degree", "4").returncode == 0
    return str(tmp_path / "w.db")


async def test_a_theme_and_a_key_are_kept_and_applied_at_the_next_start(tmp_path):
    world = _world(tmp_path)
    app = AgoraApp(world)
    async with app.run_test(size=(150, 48)) as pilot:
        await asyncio.wait_for(app.ready.wait(), 60)
        app.theme = "nord"  # what the palette's Theme sets
        assert await until(pilot, lambda: "theme nord kept" in " ".join(notified(app)))
        app.settings.ask()
        assert await until(pilot, lambda: isinstance(app.screen, KeyScreen) and bool(app.screen.query("#keys-line")))
        said = len(notified(app))
        app.screen.query_one("#keys-line", Input).value = "warp=ctrl+w"  # no such key: one line, nothing bound
        await pilot.press("enter")
        assert await until(pilot, lambda: len(notified(app)) > said)
        assert "'warp', which is no key of the app" in notified(app)[-1] and not app.settings.keys
        app.settings.ask()
        assert await until(pilot, lambda: isinstance(app.screen, KeyScreen) and bool(app.screen.query("#keys-line")))
        app.screen.query_one("#keys-line", Input).value = "forecast=z"
        await pilot.press("enter")
        assert await until(pilot, lambda: app.settings.keys == {"forecast": "z"})
        await pilot.press("z")  # works at once
        assert await until(pilot, lambda: isinstance(app.screen, ForecastScreen))
        await pilot.press("escape")
        await pilot.press("question_mark")
        assert await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        console = Console(width=150, record=True, file=io.StringIO())
        console.print(help_table(app.screen.bound))  # what the help screen draws
        rows = console.export_text().splitlines()
        assert any(row.lstrip().startswith("z ") and "forecast the running session" in row for row in rows)
        assert not any(row.lstrip().startswith("f ") and "forecast the running session" in row for row in rows)
    with open(settings_path(), "rb") as fh:
        assert tomllib.load(fh) == {"theme": "nord", "keys": {"forecast": "z"}}

    again = AgoraApp(world)
    async with again.run_test(size=(150, 48)) as pilot:
        await asyncio.wait_for(again.ready.wait(), 60)
        assert again.theme == "nord" and again.settings.keys == {"forecast": "z"}
        again.settings.reset()
        assert await until(pilot, lambda: "back to its default" in notified(again)[-1])
    with open(settings_path(), "rb") as fh:
        assert tomllib.load(fh) == {"theme": "nord"}


async def test_a_file_with_mistakes_says_each_and_applies_the_rest(tmp_path):
    path = settings_path()
    import os

    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        fh.write('theme = "no-such-theme"\ncolour = 1\n[keys]\nforecast = "z"\nnope = "y"\nrt = "ctrl+f5; rm"\n')
    app = AgoraApp(_world(tmp_path))
    async with app.run_test(size=(150, 48)) as pilot:
        await asyncio.wait_for(app.ready.wait(), 60)
        said = " | ".join(notified(app))
        assert "theme 'no-such-theme', which Textual does not have" in said
        assert "bind 'nope', which is no key of the app" in said and "bind rt to 'ctrl+f5; rm', which is no key" in said
        assert "'colour', which the UI does not read" in said
        assert app.settings.keys == {"forecast": "z"} and app.theme != "no-such-theme"
        await pilot.press("z")
        assert await until(pilot, lambda: isinstance(app.screen, ForecastScreen))
