"""Regenerate the TUI pictures of the README and docs/tui.md.

    python docs/figures/make_screenshots.py [OUT_FOLDER] [--dashboard]

Opens the default world (100,000 agents, seed 42, created in a temporary saves folder), injects "Breaking
news" with the form's defaults, runs eight ticks at the UI's default pace (10 a second), waits until every
chart has drawn, and writes ``dashboard.svg`` (Textual's own screenshot) and ``dashboard.txt`` (the same
screen as text) into OUT_FOLDER (default: this folder), then the Compare view as ``compare.svg`` after a
second, ``sir`` message has run as long, and the Dashboard with that message's forecast (``f``: 100 continuations
an arm, ``none`` and ``block=block:degree:100``) as ``forecast.svg``. With ``--dashboard``, the dashboard alone
(what the README quotes, checked by docs/quotes' ``screenshot`` scene: the forecast is most of the work).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile

from agora_testing.tui import charts_settled
from tui.app import AgoraApp

SIZE = (120, 44)


async def _settle(app, pilot) -> None:

    await charts_settled(app, pilot, poll=0.4, seconds=120)


async def main(out: str, everything: bool = True) -> None:

    app = AgoraApp()
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(app.ready.wait(), 300)
        app.controller.inject_now(
            text="Breaking news", topics=[], seeds="random:10", model="ic", params={"p": 0.1}, priority=0
        )
        await app.sim.run(ticks=8, ticks_per_second=10)  # at the UI's pace, so the rate shown is a user's
        app.sample_resources()
        await _settle(app, pilot)
        with open(os.path.join(out, "dashboard.svg"), "w") as f:
            f.write(app.export_screenshot(title="Agora: the dashboard after eight ticks"))
        lines = [strip.text.rstrip() for strip in app.screen._compositor.render_strips()]
        with open(os.path.join(out, "dashboard.txt"), "w") as f:
            f.write("\n".join(lines) + "\n")
        if not everything:
            return
        app.controller.inject_now(text="A rumour", topics=[], seeds="random:10", model="sir", params={}, priority=0)
        for _ in range(8):
            await app.sim.step()
        await pilot.press("6")
        await _settle(app, pilot)
        with open(os.path.join(out, "compare.svg"), "w") as f:
            f.write(app.export_screenshot(title="Agora: two sessions compared"))
        # f: the sir message's forecast (selected, so the Dashboard charts it), 100 continuations an arm until it ends,
        # leaving it alone or blocking the 100 best-connected agents now; the Dashboard draws both bands.
        await pilot.press("1")
        app.selected_session_id = 2  # the sir message: the one the Messages view would have selected
        fields = {"runs": "100", "horizon": "done", "arms": ["block=block:degree:100"], "seed": "0"}
        assert await app.forecasting.start(fields) is None
        while app.forecasting.finished < 1:
            await pilot.pause(0.5)
        await _settle(app, pilot)
        with open(os.path.join(out, "forecast.svg"), "w") as f:
            f.write(app.export_screenshot(title="Agora: a forecast's bands ahead of now (f)"))


if __name__ == "__main__":
    words = [w for w in sys.argv[1:] if w != "--dashboard"]
    everything = "--dashboard" not in sys.argv[1:]
    folder = os.path.abspath(words[0] if words else os.path.dirname(__file__))
    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryDirectory() as saves:
        os.environ["AGORA_SAVES"] = saves
        asyncio.run(main(folder, everything))
    drawn = (
        "dashboard.svg, dashboard.txt, compare.svg and forecast.svg" if everything else "dashboard.svg, dashboard.txt"
    )
    print(f"wrote {drawn} into {folder}")
