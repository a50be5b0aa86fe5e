"""Check the v2 plans against their worlds before any fit (no fit runs, no score is computed): each plan is parsed
as ``agora backtest --plan`` parses it and set up as the backtest sets it up (the world's size, the observation
read, the cuts placed on its ticks, the horizons inside the data, the serial interval and the methods' needs).

    .venv/bin/python docs/backtests/v2/check.py [FOLDER]   (after docs/backtests/v2/run.sh built the worlds;
                                                          FOLDER: another folder of plans, docs/backtests/v3)
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from sim.engine.requests import Backtest
from sim.model.registry import plugin_registry
from sim.runs.backtest.running import setup
from sim.store.worldfile import open_world

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]


def world_of(name: str) -> Path:
    """The world a plan runs on (its header's command)."""
    if name == "hagelloch":
        return ROOT / "saves/backtests/village.db"
    return ROOT / f"saves/backtests/bt-{name.split('-')[0]}.db"


def main() -> int:
    bad = 0
    folder = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else HERE
    os.chdir(ROOT)
    for plan in sorted(folder.glob("*.toml")):
        path = world_of(plan.stem)
        try:
            request = Backtest.parse({"plan": str(plan)})
            world = asyncio.run(open_world(str(path)))
            s = setup(request, world, plugin_registry(str(path), ()))
            cuts = ", ".join(s.timeline.labels[t] for t in s.ticks)
            print(f"{plan.name}: ok: {world.n:,} agents, cuts {cuts}, horizon {request.horizon}, methods {s.methods}")
        except Exception as exc:  # noqa: BLE001 - each plan's problem said, the others checked
            bad += 1
            print(f"{plan.name}: {type(exc).__name__}: {exc}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
