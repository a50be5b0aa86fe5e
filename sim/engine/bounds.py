"""The defaults and bounds of the requests' fields (:mod:`sim.engine.requests`), each written once.

The requests' parsers, the command line's ``--help`` and defaults, the OpenAPI description and the docs read
them from here. This module imports nothing, so that ``agora --help`` reads it without loading the engine.
"""

from __future__ import annotations

# -- a fit (sim.engine.requests.fit.Fit) ------------------------------------------------------------------------
#: Simulations a fit runs in all when no budget is given, and the most it may be given.
FIT_BUDGET = 20_000
MAX_BUDGET = 10_000_000
#: Particles per generation when none are given: a tenth of the budget, at most this (and at least 2).
FIT_POPULATION = 500
#: The most particles per generation.
MAX_POPULATION = 100_000
#: The most ticks a fit's runs take: ``steps`` and ``max_ticks`` at most, and a horizon taken from the
#: observation file too (its last tick is at most ``sim.store.observed.MAX_TICK``, one less).
MAX_STEPS = 1_000_000
#: Simulations of the posterior predictive check by default, and at most.
FIT_PREDICTIVE = 100
MAX_PREDICTIVE = 10_000
#: A fit's seed is below this (its random streams are keyed by it).
SEED_LIMIT = 1 << 16
#: The most runs per simulation.
MAX_REPLICATES = 256
#: The most worker processes a fit or a forecast asks for.
MAX_WORKERS = 1024
#: The most ticks a run until done takes when no ``max_ticks`` is given (a fit's, a forecast's, an ensemble's).
MAX_TICKS = 10_000

# -- a run's pace (sim.engine.requests.ensemble.Ensemble's ticks_per_second) --------------------------------------
#: The slowest and the fastest pace a run may be given, in ticks per second: a slower one waits days between ticks
#: (at 5e-324 a second the first tick never comes), a faster one paces nothing.
MIN_TICKS_PER_SECOND, MAX_TICKS_PER_SECOND = 1e-3, 1e6

# -- a forecast (sim.engine.requests.forecast.Forecast) ---------------------------------------------------------
#: Continuations per arm by default, and at most (a live world's bound is lower: ``Forecasts.MAX_RUNS``).
FORECAST_RUNS = 100
MAX_RUNS = 100_000
#: The most ticks a forecast looks ahead (``ticks``, ``max_ticks``).
MAX_HORIZON = 100_000
#: The most arms a forecast compares.
MAX_ARMS = 16
#: A forecast's seed is at most this.
MAX_FORECAST_SEED = 2**62

#: The most data sets per model that the check of a fit's choice between models fits back (``check_choice``: each
#: one a whole fit).
MAX_CHECK_CHOICE = 1000
#: The most people a world may stand for (more than the Earth's).
MAX_PEOPLE = 10**11
