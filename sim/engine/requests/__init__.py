"""Requests: what a front end asks of the engine, as frozen values, each built by one parser.

The command line builds them from its arguments, the HTTP API from JSON, the terminal UI from its forms and
Python from keywords; all call the same ``parse``, so the same mistake gets the same sentence wherever it
is made. Below the door nobody checks the fields again: the engine checks only what needs the world
(that seed ids exist, that a community holds enough agents, that an author is an agent).

What a front end may ask differs in a few bounds (:class:`~sim.model.seeds.Limits`, kept with the seed
selection's parser, which enforces them wherever a selection arrives; ``Limits``, ``LOCAL``, ``SERVED``, ``FIT``,
``MAX_TEXT``, ``MAX_SEED_IDS`` and ``SEEDS_HINT`` are importable from here too): a request to a server never
names a file on it, never asks for a seed method that can take minutes, and has a bounded text and seed list.
"""

from __future__ import annotations

from sim.engine.bounds import MAX_TICKS
from sim.engine.requests.backtest import Backtest
from sim.engine.requests.common import (
    KERNELS,
    SELECTIONS,
    bounded,
    finite,
    interventions,
    parse_seeds,
    positive,
    whole,
)
from sim.engine.requests.design import (
    DESIGN_KINDS,
    DESIGN_MEASURES,
    MAX_DESIGN_N,
    Design,
    ParamRange,
    grid_text,
)
from sim.engine.requests.ensemble import Ensemble
from sim.engine.requests.fit import DISTANCES, METHODS, Fit, FitParams
from sim.engine.requests.forecast import MAX_ARMS, MAX_HORIZON, MAX_RUNS, Arm, Forecast, parse_action, parse_arms
from sim.engine.requests.inject import Inject
from sim.engine.requests.newworld import NewWorld
from sim.engine.requests.priors import Prior, Priors, parse_range, ranges_from, split_params
from sim.engine.requests.seeds import SeedChoice
from sim.engine.requests.sweep import (
    ARM_KEYS,
    NOT_PARAMS,
    Sweep,
    grid_from_mapping,
    intervention_texts,
    parse_grid,
)
from sim.model.intervene import Intervention
from sim.model.seeds import FIT, LOCAL, MAX_SEED_IDS, MAX_TEXT, SEEDS_HINT, SERVED, Limits, SeedSpec

__all__ = [
    "DISTANCES",
    "MAX_ARMS",
    "MAX_HORIZON",
    "MAX_RUNS",
    "METHODS",
    "Arm",
    "Backtest",
    "Fit",
    "FitParams",
    "Forecast",
    "NewWorld",
    "Prior",
    "Priors",
    "parse_action",
    "parse_arms",
    "parse_range",
    "ranges_from",
    "split_params",
    "ARM_KEYS",
    "DESIGN_KINDS",
    "DESIGN_MEASURES",
    "FIT",
    "KERNELS",
    "LOCAL",
    "MAX_DESIGN_N",
    "MAX_SEED_IDS",
    "MAX_TEXT",
    "MAX_TICKS",
    "NOT_PARAMS",
    "SEEDS_HINT",
    "SELECTIONS",
    "SERVED",
    "Design",
    "Ensemble",
    "Inject",
    "Intervention",
    "Limits",
    "ParamRange",
    "SeedChoice",
    "SeedSpec",
    "Sweep",
    "bounded",
    "finite",
    "grid_from_mapping",
    "grid_text",
    "intervention_texts",
    "interventions",
    "parse_grid",
    "parse_seeds",
    "positive",
    "whole",
]
