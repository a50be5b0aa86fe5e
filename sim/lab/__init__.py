"""Agora from Python: world files, ensembles, sweeps and live simulations (``import sim`` re-exports these).

See docs/python.md. Ensembles and sweeps run over the same engine functions as ``agora run --runs`` and
``agora sweep``; a live simulation over the world controller under ``agora serve``.
"""

from sim.lab.live import ClosedError, Simulation
from sim.lab.world import WorldFile, import_edges, new_world, open_world
from sim.runs.results import Arm, EnsembleResult, Failure, Paired, Run, Series, SweepResult, plot

__all__ = [
    "Arm",
    "ClosedError",
    "EnsembleResult",
    "Failure",
    "Paired",
    "Run",
    "Series",
    "Simulation",
    "SweepResult",
    "WorldFile",
    "import_edges",
    "new_world",
    "open_world",
    "plot",
]
