"""Agora from Python: world files, ensembles, sweeps and live simulations (``import sim`` re-exports these).

See docs/python.md. Ensembles and sweeps run over the same engine functions as ``agora run --runs`` and
``agora sweep``; a live simulation over the world controller under ``agora serve``.
"""

from sim.engine.requests import Arm, Ensemble, Fit, Forecast, Inject, Limits, Prior, Priors, SeedChoice, Sweep
from sim.lab.agents import Agents, Network
from sim.lab.analyses import (
    Cascade,
    Communities,
    Groups,
    NoPathError,
    SeedSet,
    Structure,
    cascades,
    choose_seeds,
    communities,
    groups,
    pagerank,
    shortest_path,
    structure,
)
from sim.lab.live import ClosedError, Simulation
from sim.lab.tickseries import SessionSeries
from sim.lab.world import WorldFile, import_edges, new_world, open_world
from sim.model.intervene import Intervention
from sim.runs.results import Arm as SweepArm
from sim.runs.results import EnsembleResult, Failure, Paired, Run, Series, SweepResult, plot

__all__ = [
    "Agents",
    "Arm",
    "Ensemble",
    "Fit",
    "Forecast",
    "Inject",
    "Intervention",
    "Limits",
    "Prior",
    "Priors",
    "SeedChoice",
    "Sweep",
    "SweepArm",
    "Cascade",
    "ClosedError",
    "Communities",
    "EnsembleResult",
    "Groups",
    "Failure",
    "Network",
    "NoPathError",
    "Paired",
    "Run",
    "SeedSet",
    "Series",
    "SessionSeries",
    "Simulation",
    "Structure",
    "SweepResult",
    "WorldFile",
    "cascades",
    "choose_seeds",
    "communities",
    "groups",
    "import_edges",
    "new_world",
    "open_world",
    "pagerank",
    "plot",
    "shortest_path",
    "structure",
]
