"""Snapshot tests: the text of each main view on a small seeded world, compared with a stored copy.

The world, the message and the steps are seeded, so the screen is the same every run; figures that
depend on the machine (the tick rate, attempts per second, RSS, CPU, the memory chart) are masked. Charts are
drawn off the event loop: the test waits until every chart on screen shows its latest data. After an
intended change to a view, regenerate with ``AGORA_UPDATE_SNAPSHOTS=1 pytest tests/test_tui_snapshots.py``
and review the diff of ``tests/snapshots/``.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from pathlib import Path

import pytest

from agora_testing.tui import charts_settled
from sim.store.create import synthetic_world
from sim.store.worldfile import save_world
from tui.app import AgoraApp

SNAPSHOTS = Path(__file__).parent / "snapshots"
SIZE = (120, 40)
VOLATILE = ("tick rate", "edge attempts/s", "RSS memory", "CPU")
#: The measured tick rate in the header ("52.3 t/s", "0.0 t/s (was 52.3)"): its figures are masked alone.
RATE = re.compile(r"\d[\d.]* t/s(?: \(was [\d.]+\))?")


def screen_lines(app) -> list[str]:
    """The screen's text, the memory chart (it depends on when RSS was sampled) masked with ``~``."""
    strips = app.screen._compositor.render_strips()
    lines = [strip.text for strip in strips]
    for chart in app.screen.query("#mem-chart"):
        r = chart.region
        for y in range(r.y, min(r.bottom, len(lines))):
            lines[y] = lines[y][: r.x] + "~" * r.width + lines[y][r.right :]
    return [line.rstrip() for line in lines]


def masked(lines: list[str]) -> str:
    out = []
    for line in lines:
        line = RATE.sub(lambda m: "# t/s" + (" (was #)" if "was" in m.group(0) else ""), line)
        if any(v in line for v in VOLATILE):
            # the figures and the padding around them vary with the machine
            line = re.sub(r"\s+", " ", re.sub(r"\d[\d,.]*", "#", line))
        out.append(line)
    return "\n".join(out) + "\n"


async def charts_drawn(app, pilot) -> None:
    """Wait until every chart on screen has drawn its latest data."""
    await charts_settled(app, pilot)


@pytest.fixture
def seeded_world(tmp_path):
    path = str(tmp_path / "snap.db")
    asyncio.run(save_world(synthetic_world("snapshot", 1500, avg_degree=6, seed=21), path))
    return path


async def test_main_views_match_their_snapshots(seeded_world):
    app = AgoraApp(seeded_world)
    views = {}
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(app.ready.wait(), 30)
        app.sim.inject("A [bold]seeded[/bold] message", topics=["ai"], seeds="top:5", params={"p": 0.2}, seed=3)
        for _ in range(3):
            await app.sim.step()
        for key, name in zip("123456", ("dashboard", "communities", "agents", "messages", "plugins", "compare")):
            await pilot.press(key)
            await app.workers.wait_for_complete()
            if name == "agents":
                app._views["agents"].show(7)
            if name == "communities":  # its table is built by a worker: wait until it is on screen
                table = app._views["communities"].query_one("#comm-table")
                deadline = time.monotonic() + 60  # only bounds a hang: a loaded machine takes longer
                while not table.row_count and time.monotonic() < deadline:
                    await pilot.pause(0.05)
            await pilot.pause(0.3)
            app.refresh_ui()
            await pilot.pause(0.1)
            await charts_drawn(app, pilot)
            views[name] = masked(screen_lines(app))
    update = os.environ.get("AGORA_UPDATE_SNAPSHOTS") == "1"
    for name, text in views.items():
        path = SNAPSHOTS / f"{name}.txt"
        if update:
            path.write_text(text)
            continue
        assert path.exists(), f"missing snapshot {path}: create it with AGORA_UPDATE_SNAPSHOTS=1"
        expected = path.read_text()
        assert text == expected, f"the {name} view changed; compare with {path} (regenerate if intended)"
