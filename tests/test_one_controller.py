"""One world controller under every front end (issue 31): the same sequence of operations, driven through
the terminal UI under Pilot, over HTTP (a real ``agora serve``) and through the Python API (``import
sim``) on copies of one world, leaves identical world files.

The sequence is :func:`drive`'s; a front end is a :class:`Driver`. To add one, write its driver and add it
to ``DRIVERS``: :func:`test_every_front_end_makes_the_same_world` compares every driver's world with the
first one's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import pytest
from test_api import Server
from textual.widgets import Input

import sim
from sim.live.controller import INTERACTIVE, SERVER, WorldController
from sim.store.create import synthetic_world
from sim.store.worldfile import save_world

#: Seconds that bound a wait for something that should happen well within them (only bounds a hang).
WAIT = 60.0
#: The message every driver injects, how its seeds are chosen, and its model's spread (one that lasts past
#: the save and the load, so both worlds have events, posts and a session under way to compare).
TEXT = "one controller, three front ends"
SEEDS = 6
P = "0.2"
#: The run goes on (at ten ticks a second) until the world reaches RUN_UNTIL, is paused, then stepped to
#: STEP_TO: a run's last tick depends on the clock, the ticks after it do not.
RUN_UNTIL, STEP_TO = 3, 60  # room for a pause that lands late on a loaded machine (runs go at 10 ticks/s)
#: Columns whose values are wall-clock times (or durations), and tables that are logs of who did what when.
WALL_CLOCK = {
    "ts",
    "time",
    "seconds",
    "saved",
    "saved_at",
    "created_at",
    "updated_at",
    "modified",
    "wall",
    "elapsed",
    "db_wait_seconds",
    "started_at",
    "ended_at",
}
LOGS = {"audit"}


class Driver(Protocol):
    """A front end driving one world (every call returns once the front end says it is done)."""

    async def inject(self, text: str, seeds: int) -> None: ...
    async def step(self, ticks: int) -> None: ...
    async def run(self) -> None: ...
    async def tick(self) -> int: ...
    async def pause(self) -> None: ...
    async def save(self, name: str) -> None: ...
    async def load(self, name: str) -> None: ...
    async def close(self) -> None: ...


async def drive(driver: Driver) -> None:
    """The sequence every front end runs: inject, step, run, pause, step to a fixed tick, save, step on,
    load what was saved, step again, close (the world file checkpointed)."""
    await driver.inject(TEXT, SEEDS)
    await driver.step(2)
    await driver.run()
    deadline = time.monotonic() + WAIT
    while await driver.tick() < RUN_UNTIL:
        assert time.monotonic() < deadline, "the run did not reach its tick"
        await asyncio.sleep(0.02)
    await driver.pause()
    tick = await driver.tick()
    assert RUN_UNTIL <= tick < STEP_TO, tick
    await driver.step(STEP_TO - tick)
    assert await driver.tick() == STEP_TO
    await driver.save("same")
    await driver.step(3)
    assert await driver.tick() == STEP_TO + 3
    await driver.load("same")
    assert await driver.tick() == STEP_TO
    await driver.step(2)
    await driver.close()


# -- the terminal UI ---------------------------------------------------------------------------------------
class TUIDriver:
    """Keys and forms of the terminal UI, under Textual's Pilot."""

    def __init__(self, app: Any, pilot: Any) -> None:
        self.app, self.pilot = app, pilot

    async def until(self, condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + WAIT
        while not condition():
            assert time.monotonic() < deadline, "the terminal UI did not get there"
            await self.pilot.pause(0.02)

    async def inject(self, text: str, seeds: int) -> None:
        app = self.app
        await self.pilot.press("i")
        view = app._views["messages"]
        view.query_one("#msg-text", Input).value = text
        view.query_one("#seed-arg", Input).value = str(seeds)
        await self.pilot.pause()
        view._param_inputs["p"].value = P  # the model offered first: ic
        await self.pilot.click("#inject")
        await self.until(lambda: len(app.sim.sessions) == 1)
        await self.pilot.press("escape")

    async def step(self, ticks: int) -> None:
        target = self.app.world.tick + ticks
        for _ in range(ticks):
            await self.pilot.press("n")
        await self.app.workers.wait_for_complete()
        await self.until(lambda: self.app.world.tick == target and not self.app.ticking)

    async def run(self) -> None:
        before = self.app.world.tick
        await self.pilot.press("space")
        # Started: running, or past a tick already (a run pauses itself once its world is still, which on a
        # loaded machine can come before this looks).
        await self.until(lambda: self.app.sim_running or self.app.world.tick > before)

    async def tick(self) -> int:
        await self.pilot.pause()
        return self.app.world.tick

    async def pause(self) -> None:
        if self.app.sim_running:  # space on a run that paused itself would start another
            await self.pilot.press("space")
        await self.until(lambda: not self.app.ticking)

    async def save(self, name: str) -> None:
        await self.pilot.press("s")
        self.app.screen.query_one("#snapshot-name", Input).value = name
        await self.pilot.press("enter")
        await self.until(
            lambda: (
                not self.app.busy
                and self.app.world is not None
                and any(e[1] == "save" for e in audit(self.app.world.path))
            )
        )

    async def load(self, name: str) -> None:
        before = self.app.world
        await self.pilot.press("l")
        await self.pilot.pause()
        await self.pilot.press("enter")  # the only snapshot in the saves folder
        await self.until(lambda: self.app.world is not before and not self.app.busy)
        await self.app.workers.wait_for_complete()

    async def close(self) -> None:
        await self.pilot.press("q")
        await self.pilot.pause()
        if self.app.is_running and self.app.screen.query("#save"):
            await self.pilot.click("#save")
        await self.until(lambda: not self.app.is_running or self.app.return_code is not None)


async def tui_world(path: Path) -> None:
    from tui.app import AgoraApp

    app = AgoraApp(str(path))
    async with app.run_test(size=(150, 48)) as pilot:
        await asyncio.wait_for(app.ready.wait(), WAIT)
        await pilot.pause()
        await drive(TUIDriver(app, pilot))


# -- the HTTP API ------------------------------------------------------------------------------------------
class HTTPDriver:
    """The routes of a real ``agora serve`` (blocking calls, each answered when the world has done it)."""

    def __init__(self, server: Server) -> None:
        self.server = server

    def call(self, method: str, path: str, body: object = None) -> Any:
        status, answer, _ = self.server.call(method, path, body)
        assert status in (200, 201), (method, path, status, answer)
        return answer

    async def inject(self, text: str, seeds: int) -> None:
        # What the terminal UI's form sends: the model it offers first (ic), its spread typed in.
        self.call(
            "POST",
            "/api/v1/messages",
            {"text": text, "seeds": f"random:{seeds}", "model": "ic", "params": {"p": float(P)}},
        )

    async def step(self, ticks: int) -> None:
        self.call("POST", "/api/v1/step", {"ticks": ticks})

    async def run(self) -> None:
        self.call("POST", "/api/v1/run", {"ticks_per_second": 10})

    async def tick(self) -> int:
        return int(self.call("GET", "/api/v1/world")["tick"])

    async def pause(self) -> None:
        self.call("POST", "/api/v1/pause", {})

    async def save(self, name: str) -> None:
        self.call("POST", "/api/v1/snapshots", {"name": name})

    async def load(self, name: str) -> None:
        self.call("POST", f"/api/v1/snapshots/{name}/load", {})

    async def close(self) -> None:
        assert self.server.stop() == 0, self.server.errors()


async def http_world(path: Path) -> None:
    server = Server(path.parent, path.name)
    try:
        await drive(HTTPDriver(server))
    finally:
        if server.proc.poll() is None:
            server.stop()


# -- the Python API ----------------------------------------------------------------------------------------
class PythonDriver:
    """``import sim``'s live world (``sim.open_world(path).simulation()``): plain calls, no asyncio."""

    def __init__(self, live: Any) -> None:
        self.live = live

    async def inject(self, text: str, seeds: int) -> None:
        self.live.inject(text, model="ic", params={"p": float(P)}, seeds=f"random:{seeds}")

    async def step(self, ticks: int) -> None:
        self.live.step(ticks)

    async def run(self) -> None:
        self.live.run(10)

    async def tick(self) -> int:
        return self.live.tick

    async def pause(self) -> None:
        self.live.pause()

    async def save(self, name: str) -> None:
        self.live.save_snapshot(name)

    async def load(self, name: str) -> None:
        self.live.load_snapshot(name)

    async def close(self) -> None:
        assert self.live.close() is True


async def python_world(path: Path) -> None:
    await drive(PythonDriver(sim.open_world(str(path)).simulation()))


#: The front ends, each a coroutine that drives the world file it is given through :func:`drive`; a new
#: front end is one more entry.
DRIVERS: dict[str, Callable[[Path], Awaitable[None]]] = {"tui": tui_world, "http": http_world, "python": python_world}


# -- comparing worlds --------------------------------------------------------------------------------------
def audit(path: str | None) -> list[tuple[Any, ...]]:
    if not path:
        return []
    with sqlite3.connect(path) as con:
        return con.execute("SELECT id, action FROM audit ORDER BY id").fetchall()


def world_tables(path: Path) -> dict[str, list[tuple]]:
    """Every table of a world file, its rows sorted, wall-clock columns and the audit log left out."""
    out: dict[str, list[tuple]] = {}
    with sqlite3.connect(path) as con:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        for table in tables:
            if table in LOGS or table.startswith("sqlite_"):
                continue
            columns = [r[1] for r in con.execute(f"PRAGMA table_info({table})")]
            kept = [c for c in columns if c not in WALL_CLOCK]
            rows = con.execute(f"SELECT {', '.join(kept)} FROM {table}").fetchall()
            if kept and kept[0] in ("key", "name"):  # a table of settings: a wall-clock one is left out
                rows = [r for r in rows if r[0] not in WALL_CLOCK]
            if table == "meta":  # how far the audit log (left out: front ends audit differently) had gone
                rows = [r for r in rows if r[0] != "audit_seen"]
            out[table] = sorted((tuple(normalise(table, c, v) for c, v in zip(kept, row)) for row in rows), key=repr)
    return out


def normalise(table: str, column: str, value: Any) -> Any:
    """A value as compared: JSON read (its wall-clock keys dropped), anything else as it is."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.dumps(drop_wall_clock(json.loads(value)), sort_keys=True)
        except ValueError:
            return value
    return value


def drop_wall_clock(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: drop_wall_clock(v) for k, v in value.items() if k not in WALL_CLOCK}
    if isinstance(value, list):
        return [drop_wall_clock(v) for v in value]
    return value


@pytest.fixture
def world(tmp_path) -> Path:
    path = tmp_path / "made" / "w.db"
    path.parent.mkdir()
    asyncio.run(save_world(synthetic_world("same", 1500, avg_degree=6, seed=11), str(path)))
    return path


@pytest.mark.subprocess
def test_every_front_end_makes_the_same_world(world, tmp_path):
    copies = {}
    for name, front_end in DRIVERS.items():
        folder = tmp_path / name
        folder.mkdir()
        copies[name] = folder / "w.db"
        shutil.copy(world, copies[name])
        asyncio.run(front_end(copies[name]))
    names = list(copies)
    first = world_tables(copies[names[0]])
    assert len(first["sessions"]) == 1 and first["events"] and first["posts"], {t: len(r) for t, r in first.items()}
    for name in names[1:]:
        other = world_tables(copies[name])
        assert other.keys() == first.keys(), (name, other.keys() ^ first.keys())
        for table in first:
            assert other[table] == first[table], f"{name} and {names[0]} differ in table {table}"
    # Each front end's audit log says what it did, in order (the terminal UI does not log run, pause and step).
    actions = {name: [a for _, a in audit(str(path))] for name, path in copies.items()}
    for name in names:
        assert [a for a in actions[name] if a in ("inject", "save", "load")] == ["inject", "save", "load"], actions


# -- the controller itself ---------------------------------------------------------------------------------
async def test_the_snapshot_is_frozen_built_once_per_tick_and_says_the_state(world):
    controller = await WorldController.open(str(world), policy=INTERACTIVE)
    try:
        first = controller.snapshot()
        assert controller.snapshot() is first  # nothing changed: the same snapshot
        with pytest.raises(dataclasses.FrozenInstanceError):
            first.tick = 5  # type: ignore[misc]
        assert (first.tick, first.state, first.running, first.tick_metrics) == (0, "paused", False, None)
        session = controller.inject_now(text="x", seeds="random:3", params={"p": 0.3})
        injected = controller.snapshot()
        assert injected is not first and injected.sessions == {"queued": 1} and first.sessions == {}
        await controller.step(2)
        stepped = controller.snapshot()
        assert stepped.tick == 2 and stepped.tick_metrics is not None and stepped.tick_metrics["tick"] == 1
        assert stepped.reached == controller.world.sessions[0].reached > 0 and session.id == 1
        await controller.run(50)
        assert controller.snapshot().state == "running" and controller.snapshot().running
        await controller.pause()
        assert controller.snapshot().state == "paused" and not controller.snapshot().ticking
    finally:
        await controller.close()


@pytest.mark.parametrize("policy", [SERVER, INTERACTIVE], ids=["server", "interactive"])
async def test_a_policy_says_what_is_audited_and_checkpointed(world, policy):
    controller = await WorldController.open(str(world), policy=policy)
    try:
        await controller.step(3)
        assert controller.disk_tick == (3 if policy.durable else 0)  # a served world checkpoints every change
        await controller.run(50)
        await controller.pause()
    finally:
        await controller.close()
    actions = [a for _, a in audit(str(world))]
    assert actions == (["step", "run", "pause"] if policy.audit_runs else []), actions
