"""Agora's headless core: the world, its graph, persistence, snapshots and the simulation.

``import sim`` is cheap and never imports a UI toolkit: the public Python API (docs/python.md) is loaded
from :mod:`sim.lab` on first use of one of its names::

    import sim
    w = sim.open_world("city.db")
    res = w.ensemble(model="sir", params={"beta": 0.05, "gamma": 0.3}, seeds="top:10", runs=100)
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: The public names and the module each comes from, ``module:name`` where it is called otherwise there
#: (imported on first use: numpy, SQLite and the engine are not loaded by ``import sim``).
_PUBLIC = {
    "open_world": "sim.lab.world",
    "new_world": "sim.lab.world",
    "import_edges": "sim.lab.world",
    "WorldFile": "sim.lab.world",
    "Simulation": "sim.lab.live",
    "SessionSeries": "sim.lab.tickseries",  # live.series(session)
    "FitResult": "sim.runs.fit.fitting",  # w.fit(...)
    "ClosedError": "sim.lab.live",
    "EnsembleResult": "sim.runs.results",
    "SweepResult": "sim.runs.results",
    "SweepArm": "sim.runs.results:Arm",  # a sweep result's arm; sim.Arm is a forecast's (issue 58)
    "Run": "sim.runs.results",
    "Failure": "sim.runs.results",
    "Paired": "sim.runs.results",
    "Series": "sim.runs.results",
    "plot": "sim.runs.results",
    "Agents": "sim.lab.agents",
    "Network": "sim.lab.agents",
    "pagerank": "sim.lab.analyses",
    "communities": "sim.lab.analyses",
    "structure": "sim.lab.analyses",
    "groups": "sim.lab.analyses",
    "Groups": "sim.lab.analyses",
    "shortest_path": "sim.lab.analyses",
    "choose_seeds": "sim.lab.analyses",
    "cascades": "sim.lab.analyses",
    "Communities": "sim.lab.analyses",
    "Structure": "sim.lab.analyses",
    "SeedSet": "sim.lab.analyses",
    "Cascade": "sim.lab.analyses",
    "NoPathError": "sim.lab.analyses",
    "rt": "sim.analysis.rtcurve",
    "RtEstimate": "sim.analysis.rt",
    "Inject": "sim.engine.requests",
    "Ensemble": "sim.engine.requests",
    "Sweep": "sim.engine.requests",
    "SeedChoice": "sim.engine.requests",
    "Fit": "sim.engine.requests",
    "Forecast": "sim.engine.requests",
    "NewWorld": "sim.engine.requests",
    "Backtest": "sim.engine.requests",
    "Arm": "sim.engine.requests",
    "Prior": "sim.engine.requests",
    "Priors": "sim.engine.requests",
    "Limits": "sim.engine.requests",
    "Intervention": "sim.model.intervene",
    "use_key": "sim.core.worldkey",
    "use_key_file": "sim.core.worldkey",
    "AgoraError": "sim.errors",
    "BadParameterError": "sim.errors",
    "BadFileError": "sim.errors",
    "TargetExistsError": "sim.errors",
    "ResourceError": "sim.errors",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'sim' has no attribute {name!r}")
    module, _, attr = module.partition(":")
    value = getattr(importlib.import_module(module), attr or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
