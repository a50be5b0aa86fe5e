"""Draw the terminal UI's replay, Rt and fit views as text for docs/tui.md (quote-checked: docs/quotes, scene
``tui-views``), from a real session of the UI on the Hagelloch village.

    python docs/figures/make_tui_views.py WORLD DATA OUT_FOLDER

WORLD is the village made by ``agora new v.db --people DATA/hagelloch.csv --id PN --group HN:household --group
CL:class --skip preschool``; DATA the datasets' folder. The UI opens WORLD headless (120 x 40), runs an SIR session
(seeded, ``random:3``, beta 0.08, gamma 0.12) to its end with n, and writes into OUT_FOLDER:

- ``replay.txt``: p, the session replayed at tick 20 (home, then } twice);
- ``rt.txt``: r on the Measles 1861 curve with its serial interval, a week's window;
- ``fit.txt``: F, an SEIR fit of the same curve's onsets (a budget of 300 simulations, seed 1, one worker);
- ``posterior.txt``: right in the fit's view, the posterior of its first parameter (beta);
- ``backtest.txt``: b, a backtest of that fit on two cuts, seven days ahead (a budget of 200 a cut).
"""

from __future__ import annotations

import asyncio
import os
import sys

from textual.widgets import Input

from tui.app import AgoraApp
from tui.replay import ReplayForm, ReplayScreen
from tui.studies import StudyScreen, StudyView

SIZE = (120, 40)


async def until(pilot, condition, seconds: float = 300.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError("the UI did not get there")
        await pilot.pause(0.05)


def screen_text(app) -> str:
    return "\n".join(strip.text.rstrip() for strip in app.screen._compositor.render_strips()) + "\n"


async def study(app, pilot, key: str, values: dict[str, str], done: int) -> tuple[str, str]:
    """The study's view as text, and (right) its second chart's: a fit's first posterior."""
    await pilot.press(key)
    await until(pilot, lambda: isinstance(app.screen, StudyScreen))
    for name, value in values.items():
        app.screen.query_one(f"#study-{name}", Input).value = value
    app.screen.query_one(f"#study-{next(iter(values))}", Input).focus()
    await pilot.press("enter")
    await until(pilot, lambda: app.studying.finished >= done and isinstance(app.screen, StudyView))
    view = app.screen
    await until(pilot, lambda: view.chart.settled and view.chart.spec is not None)
    await pilot.pause()
    text = screen_text(app)
    await pilot.press("right")
    await until(pilot, lambda: view.chart.settled and view.chart.key[-1] == view.page)
    await pilot.pause()
    second = screen_text(app)
    await pilot.press("escape")
    return text, second


async def main(world: str, data: str, out: str) -> None:
    # The UI's saves and settings are the run's own: never the reader's theme, keys or saves folder.
    os.environ["AGORA_SAVES"] = os.path.join(out, "saves")
    os.environ["AGORA_CONFIG_HOME"] = os.path.join(out, "config")
    app = AgoraApp(world)
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(app.ready.wait(), 300)
        session = app.sim.inject("measles", seeds="random:3", model="sir", params={"beta": 0.08, "gamma": 0.12}, seed=3)
        while not session.done:
            await app.controller.step(1)
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, ReplayForm))
        await pilot.press("enter")  # the session that just ended, offered
        await until(pilot, lambda: isinstance(app.screen, ReplayScreen))
        screen = app.screen
        for key in ("home", "right_curly_bracket", "right_curly_bracket"):
            await pilot.press(key)
        await until(pilot, lambda: screen.chart.settled and screen.chart.key == ("replay", session.id, 20))
        await pilot.pause()
        with open(os.path.join(out, "replay.txt"), "w") as f:
            f.write(screen_text(app))
        await pilot.press("escape")
        curve = os.path.join(data, "incidence-Measles1861.csv")
        serial = os.path.join(data, "serial-interval-Measles1861.csv")
        rt, _ = await study(app, pilot, "r", {"observed": curve, "serial_interval": serial, "window": "7"}, 1)
        with open(os.path.join(out, "rt.txt"), "w") as f:
            f.write(rt)
        seir = {"observe": "cases=onsets", "model": "seir", "params": "beta=0.01..0.3 sigma=0.05..0.5 gamma=0.05..0.5"}
        fit, posterior = await study(
            app, pilot, "F", {"observed": curve, **seir, "budget": "300", "more": "seed=1 workers=1"}, 2
        )
        with open(os.path.join(out, "fit.txt"), "w") as f:
            f.write(fit)
        with open(os.path.join(out, "posterior.txt"), "w") as f:
            f.write(posterior)
        cuts = {"observed": curve, **seir, "cuts": "2", "horizon": "7", "budget": "200", "more": "seed=1 workers=1"}
        backtest, _ = await study(app, pilot, "b", cuts, 3)
        with open(os.path.join(out, "backtest.txt"), "w") as f:
            f.write(backtest)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
