"""Waiting for the terminal UI's charts under Textual's Pilot (the snapshot tests and the README's
screenshots both need every chart drawn before they read the screen)."""

from __future__ import annotations

import time
from typing import Any

from tui.charts import Chart

#: Charts whose data changes every second whatever the world does (the process's RSS): they must have
#: drawn their latest data, but their keys are not waited on to stop changing (they never do).
VOLATILE_CHARTS = frozenset({"mem-chart"})


async def charts_settled(app: Any, pilot: Any, *, poll: float = 0.35, seconds: float = 60.0) -> None:
    """Wait until every chart on screen has drawn its latest data: the same keys, all built, three polls
    in a row (the slowest chart redraws at most once a second); the keys of :data:`VOLATILE_CHARTS` are
    not compared. ``seconds`` only bounds a hang."""

    last, stable = None, 0
    deadline = time.monotonic() + seconds
    while stable < 3 and time.monotonic() < deadline:
        app.refresh_ui()
        await pilot.pause(poll)
        charts = [c for c in app.screen.query(Chart) if c.display and c.region.height]
        state = [(c.id, None if c.id in VOLATILE_CHARTS else c.key, c.settled) for c in charts]
        stable = stable + 1 if state == last and all(c.settled for c in charts) else 0
        last = state
