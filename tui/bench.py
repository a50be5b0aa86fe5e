"""``agora bench tui``: keypress-to-screen latency with a large world running, and time to first frame.

Measured with Textual's Pilot on a headless screen. Latency is from sending a key to the moment the
app has processed it and repainted (``pilot.press`` then a zero-delay ``pilot.pause``), with the
simulation ticking as fast as it can in the background; the baseline is the same measurement on a tiny
idle world in the same run. First frame: from creating the app to the first repaint with the default
world's figures on screen.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from typing import Any

import numpy as np
import psutil
from textual import events

import sim
from sim.bench.measure import PeakRSS, load_average, mb

from .app import SPEEDS, AgoraApp
from .screens import HelpScreen

#: (key, character, what must be true once the app has acted on it)
VIEW_KEYS = [
    (str(i + 1), str(i + 1), name)
    for i, name in enumerate(("dashboard", "communities", "agents", "messages", "plugins", "compare"))
]
ROUNDS = 8


#: The forecast ``--forecast`` keeps running while the keys are timed (f's form, as a user fills it): the
#: running sessions' latest, 200 continuations an arm until it ends, left alone and with 100 hubs blocked.
FORECAST: dict[str, str | list[str]] = {
    "runs": "200",
    "horizon": "done",
    "arms": ["block=block:degree:100"],
    "seed": "0",
}


async def _latencies(
    path: str, *, running: bool, sessions: int, forecast: bool = False
) -> tuple[dict[str, list[float]], dict[str, Any]]:
    app = AgoraApp(path)
    out: dict[str, list[float]] = {}
    info: dict[str, Any] = {}

    async def key(name: str, key: str, char: str | None, done: Any) -> None:
        out.setdefault(name, []).append(await _timed_key(app, pilot, key, char, done))

    async with app.run_test(size=(160, 50)) as pilot:
        await asyncio.wait_for(app.ready.wait(), 120)
        await pilot.pause(0.2)
        controller = app.controller
        assert controller is not None, "the app is ready: its world is open"
        simulation, world = controller.sim, controller.world
        if running:
            # Work that lasts: an endemic SIS epidemic (R0 2.5: a large share of the agents infected and
            # recovering every tick, every change an event row for the world file) and ic cascades near
            # their threshold (p 0.12 over about ten followers: they smoulder for many ticks).
            simulation.inject(
                "bench sis", model="sis", params={"beta": 0.05, "gamma": 0.2}, seeds="random:2000", seed=0
            )
            for i in range(1, sessions):
                simulation.inject(f"bench {i}", params={"p": 0.12}, seeds="random:2000", seed=i)
            app.speed_index = SPEEDS.index(0)
            await pilot.press("space")
            await pilot.pause(1.0)
        if forecast:  # f, then the keys while it runs in the background (the world runs on)
            assert await app.forecasting.start(FORECAST) is None, "the forecast starts"
            while app.forecasting.job is None and app.forecasting.finished == 0:
                await asyncio.sleep(0.01)
        tick0 = world.tick
        t_start = time.perf_counter()
        # Pilot's own press() waits for an idle CPU, which never comes while the simulation runs, so
        # keys go straight to the driver and the clock stops when the app has acted and repainted.
        for _ in range(ROUNDS):
            for k, char, view in VIEW_KEYS:
                await key(f"view {view}", k, char, lambda view=view: app._switcher.current == view)
                if view == "agents":  # it opens in its search box: escape gives the keys back, as a user would
                    await key("leave the search box (escape)", "escape", None, lambda: app.screen.focused is None)
            speed = app.speed_index
            await key("slower (-)", "minus", "-", lambda speed=speed: app.speed_index == speed - 1)
            await key("faster (+)", "plus", "+", lambda speed=speed: app.speed_index == speed)
            steps = app.step_requests
            await key("ten ticks (N)", "N", "N", lambda steps=steps: app.step_requests == steps + 1)
            await key("one tick (n)", "n", "n", lambda steps=steps: app.step_requests == steps + 2)
            if running:  # n and N paused the run: space runs it again
                await key("run (space)", "space", " ", lambda: app.sim_running)
            await key("help (?)", "question_mark", "?", lambda: isinstance(app.screen, HelpScreen))
            await key("close help (escape)", "escape", None, lambda: not isinstance(app.screen, HelpScreen))
        info["ticks_during"] = world.tick - tick0
        info["running_sessions_at_end"] = sum(1 for x in simulation.sessions if x.status == "running")
        info["seconds"] = round(time.perf_counter() - t_start, 3)
        if forecast:
            info["forecast_finished_while_measuring"] = app.forecasting.finished > 0
        if running:
            await pilot.press("space")  # pause; leaving the context stops the simulation and closes the writer
    return out, info


async def _timed_key(app: AgoraApp, pilot: Any, key: str, char: str | None, done: Any) -> float:
    t0 = time.perf_counter()
    event = events.Key(key, char)
    event.set_sender(app)
    driver = app._driver
    assert driver is not None, "the app runs (its driver is set)"
    driver.send_message(event)
    while not done():
        if time.perf_counter() - t0 > 30:
            raise TimeoutError(f"key {key} had no effect within 30 s")
        await asyncio.sleep(0.0005)
    await pilot._wait_for_screen()  # every widget has processed its messages, the repaint included
    return time.perf_counter() - t0


async def _first_frame(path: str) -> float:
    t0 = time.perf_counter()
    app = AgoraApp(path)
    async with app.run_test(size=(160, 50)) as pilot:
        await asyncio.wait_for(app.ready.wait(), 60)
        app.refresh_ui()
        await pilot.pause(0)
        return time.perf_counter() - t0


def _summary(lat: dict[str, list[float]]) -> dict[str, float]:
    ms = np.concatenate([np.asarray(v) for v in lat.values()]) * 1000
    return {"p50": round(float(np.percentile(ms, 50)), 1), "p95": round(float(np.percentile(ms, 95)), 1)}


def bench_tui(
    agents: int = 1_000_000,
    *,
    avg_degree: float = 10.0,
    sessions: int = 5,
    folder: str | None = None,
    forecast: bool = False,
) -> dict[str, Any]:
    own = folder is None
    folder = folder or tempfile.mkdtemp(prefix="agora-bench-tui-")
    os.makedirs(folder, exist_ok=True)
    r: dict[str, Any] = {"benchmark": "tui", "agents": agents, "sessions": sessions}
    try:
        big = os.path.join(folder, "big.db")
        small = os.path.join(folder, "small.db")
        # The worlds through the public Python API (``agora new``'s): this glue is the command line's.
        sim.new_world(big, agents=agents, avg_degree=avg_degree, seed=1, name="big", force=True)
        sim.new_world(small, agents=1000, avg_degree=avg_degree, seed=1, name="small", force=True)
        with PeakRSS() as peak:
            lat, info = asyncio.run(_latencies(big, running=True, sessions=sessions))
            base, _ = asyncio.run(_latencies(small, running=False, sessions=0))
            if forecast:
                during, finfo = asyncio.run(_latencies(big, running=True, sessions=sessions, forecast=True))
                r["during_forecast"] = {
                    "keypress_ms": _summary(during),
                    "without_forecast_keypress_ms": _summary(lat),
                    "forecast": {k: v for k, v in FORECAST.items() if k != "seed"},
                    "finished_while_measuring": finfo.get("forecast_finished_while_measuring"),
                    "target_keypress_ms_p95": 100,
                }
            default = os.path.join(folder, "default.db")
            sim.new_world(default, agents=100_000, seed=42, name="default", force=True)
            first = asyncio.run(_first_frame(default))
        ms = np.concatenate([np.asarray(v) for v in lat.values()]) * 1000
        bms = np.concatenate([np.asarray(v) for v in base.values()]) * 1000
        r["keys"] = int(ms.size)
        r.update(
            {
                "keypress_ms_p50": round(float(np.percentile(ms, 50)), 1),
                "keypress_ms_p95": round(float(np.percentile(ms, 95)), 1),
                "keypress_ms_max": round(float(ms.max()), 1),
                "ticks_while_measuring": info["ticks_during"],
                "running_sessions_at_end": info["running_sessions_at_end"],
                "seconds_measuring": info["seconds"],
                "workload": "1 sis session (beta 0.05, gamma 0.2: endemic) and the rest ic (p 0.12), 2,000 seeds each, "
                "as fast as possible; n and N pause the run and space runs it again",
                "baseline_idle_small_world_ms_p50": round(float(np.percentile(bms, 50)), 1),
                "baseline_idle_small_world_ms_p95": round(float(np.percentile(bms, 95)), 1),
                "first_frame_default_world_s": round(first, 3),
                "peak_rss_mb": mb(peak.peak),
                "per_key_ms": {
                    name: {
                        "p50": round(float(np.percentile(np.asarray(v) * 1000, 50)), 1),
                        "p95": round(float(np.percentile(np.asarray(v) * 1000, 95)), 1),
                        "max": round(float(np.max(v) * 1000), 1),
                    }
                    for name, v in lat.items()
                },
                "targets": {"keypress_ms_p95": 100, "first_frame_default_world_s": 3},
            }
        )
    finally:
        if own:
            shutil.rmtree(folder, ignore_errors=True)
    return r


# -- agora bench tui --replay ------------------------------------------------------------------------------------

#: The session replayed: an SIR epidemic (R0 about 2.5 on ten contacts) run to its end, seeded at random.
REPLAY_SESSION: dict[str, Any] = {"model": "sir", "params": {"beta": 0.05, "gamma": 0.2}, "seeds": "random:50"}
#: Jumps timed on each world: to random ticks (a click on the bar), then ] presses.
JUMPS, PRESSES = 20, 10


def _ended_session(path: str) -> tuple[int, int]:
    """Run :data:`REPLAY_SESSION` on world ``path`` to its end through the Python API (the file saved on close);
    returns its id and rounds."""
    with sim.open_world(path).simulation() as live:
        info = live.inject("bench replay", **REPLAY_SESSION)
        for _ in range(2000):
            live.step()
            info = live.session(int(info["id"]), cascade=False)
            if info["status"] != "running":
                break
    if info["status"] != "completed":
        raise RuntimeError(f"the replayed session did not end: {info['status']}")
    return int(info["id"]), int(info["rounds"])


async def _replay_latencies(path: str, session: int) -> dict[str, Any]:
    """Open the UI on ``path``, then time the replay's first load and its jumps (each to the screen repainted)."""
    from .replay import ReplayScreen, TickSlider  # noqa: PLC0415 - the replay's screen, only for this benchmark

    app = AgoraApp(path)
    out: dict[str, Any] = {}
    rss = psutil.Process()
    async with app.run_test(size=(160, 50)) as pilot:
        await asyncio.wait_for(app.ready.wait(), 300)
        await pilot.pause(0.2)
        before = rss.memory_info().rss
        t0 = time.perf_counter()
        screen = await app.replaying.open(session)
        assert isinstance(screen, ReplayScreen), "the session replays"

        def drawn(tick: int) -> bool:
            return screen.frame.tick == tick and screen.chart.settled and screen.chart.key == ("replay", session, tick)

        while not drawn(screen.frame.tick):
            await asyncio.sleep(0.0005)
        await pilot._wait_for_screen()
        out["first_load_s"] = round(time.perf_counter() - t0, 3)
        out["replay_memory_mb"] = mb(rss.memory_info().rss - before)
        replay = screen.replay
        out["replay_arrays_mb"] = mb(replay.nbytes)
        ticks = np.random.default_rng(0).integers(replay.first, replay.last + 1, JUMPS)
        jumps = []
        for tick in ticks:
            t0 = time.perf_counter()
            screen.post_message(TickSlider.Moved(int(tick)))  # what a click on the bar posts
            while not drawn(int(tick)):
                await asyncio.sleep(0.0005)
            await pilot._wait_for_screen()
            jumps.append(time.perf_counter() - t0)
        screen.show(replay.first)
        presses = []
        for _ in range(PRESSES):
            want = min(replay.last, screen.frame.tick + 1)
            presses.append(await _timed_key(app, pilot, "right_square_bracket", "]", lambda want=want: drawn(want)))
        frames = []
        for tick in ticks:  # the figures alone (no screen): what a jump computes
            t0 = time.perf_counter()
            replay.at(int(tick) + 1 if int(tick) < replay.last else int(tick) - 1)
            frames.append(time.perf_counter() - t0)
        out.update(
            {
                "ticks": replay.last - replay.first + 1,
                "reached": int(replay.times.size),
                "jump_ms": _ms(jumps),
                "key_ms": _ms(presses),
                "frame_only_ms": _ms(frames),
            }
        )
    return out


def _ms(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000
    return {
        "p50": round(float(np.percentile(ms, 50)), 1),
        "p95": round(float(np.percentile(ms, 95)), 1),
        "max": round(float(ms.max()), 1),
    }


def bench_replay(sizes: tuple[int, ...] = (100_000, 1_000_000), *, avg_degree: float = 10.0) -> dict[str, Any]:
    """``agora bench tui --replay``: for each size, a world with an SIR session run to its end and saved, then the UI
    opened on it: the replay's first load, a jump to a random tick (a click on the bar) and a ] press, each to the
    screen repainted, and the memory the replay added; a 1,000-agent world in the same run is the baseline."""
    folder = tempfile.mkdtemp(prefix="agora-bench-replay-")
    r: dict[str, Any] = {"benchmark": "tui replay", "session": REPLAY_SESSION, "jumps": JUMPS, "presses": PRESSES}
    try:
        for n in (1_000, *sizes):
            path = os.path.join(folder, f"w{n}.db")
            t0 = time.perf_counter()
            sim.new_world(path, agents=n, avg_degree=avg_degree, seed=1, name=f"w{n}", force=True)
            session, rounds = _ended_session(path)
            made = round(time.perf_counter() - t0, 1)
            with PeakRSS() as peak:
                got = asyncio.run(_replay_latencies(path, session))
            key = "baseline_1000" if n == 1_000 else str(n)
            r[key] = {"agents": n, "rounds": rounds, "made_and_run_s": made, **got, "peak_rss_mb": mb(peak.peak)}
        r["target_jump_ms_at_1m"] = 200
        r["load_average"] = load_average()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return r


def replay_text(r: dict[str, Any]) -> str:
    """The replay benchmark in a few lines (``--json`` gives all of it)."""
    lines = []
    for key, part in r.items():
        if isinstance(part, dict) and "jump_ms" in part:
            lines.append(
                f"{part['agents']:>9,} agents  first load {part['first_load_s']:.2f} s  "
                f"jump p50 {part['jump_ms']['p50']} ms (p95 {part['jump_ms']['p95']})  "
                f"] p50 {part['key_ms']['p50']} ms  figures alone p50 {part['frame_only_ms']['p50']} ms  "
                f"memory +{part['replay_memory_mb']} MB (arrays kept {part['replay_arrays_mb']} MB)"
                + ("  (baseline)" if key.startswith("baseline") else "")
            )
    lines.append(f"target: a jump under {r['target_jump_ms_at_1m']} ms at 1,000,000 agents")
    return "\n".join(lines)
