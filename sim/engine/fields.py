"""The fields of each request, declared once (issue 74; the machinery is :mod:`sim.engine.options`).

A request's checks, the command line's flags, the OpenAPI description and a request value's fields are all read
from these declarations. The module imports nothing heavy: the command line builds its flags from it.
"""

from __future__ import annotations

from sim.core.numbers import INT32_MAX
from sim.engine.bounds import FORECAST_RUNS, MAX_FORECAST_SEED, MAX_HORIZON, MAX_RUNS, MAX_TICKS, MAX_WORKERS
from sim.engine.options import Option, Options

#: How a run may go: ``auto`` batches where it can, ``batched`` always (or refuses), ``engine`` never.
KERNELS = ("auto", "batched", "engine")

#: ``agora forecast``, ``world.forecast``, ``POST /api/v1/forecasts`` (:class:`sim.engine.requests.Forecast`).
FORECAST = Options(
    (
        Option("session", "int", "the session (default: the latest running one)", lo=0, hi=INT32_MAX, metavar="N"),
        Option("runs", "int", "continuations per arm (of a running session)", FORECAST_RUNS, 1, MAX_RUNS, metavar="R"),
        Option("ticks", "int", "continue H ticks ahead of now", None, 1, MAX_HORIZON, metavar="H", group="horizon"),
        Option(
            "until_done",
            "bool",
            "continue until the session ends",
            False,
            group="horizon",
            stored=False,
            value=lambda request: request.ticks is None,
        ),
        Option(
            "max_ticks",
            "int",
            "with `until_done`, stop after N",
            MAX_TICKS,
            1,
            MAX_HORIZON,
            metavar="N",
            shown_default=True,
        ),
        Option(
            "arms",
            "custom",
            "an arm and an action it applies now (repeatable; default one arm, none)",
            flag="arm",
            metavar="NAME=ACTION",
            repeat=True,
        ),
        Option(
            "seed",
            "int",
            "the runs' seed: run r is reseeded seed + r",
            0,
            0,
            MAX_FORECAST_SEED,
            flag=None,
            shared="the forecast from data's --seed (sim.cli.parsers.fit.fit_sampling)",
        ),
        Option(
            "posterior",
            "custom",
            "draw each run's parameters from a fit's samples (agora fit -o)",
            metavar="FILE",
            reads="posterior file",
            served=False,
        ),
        Option(
            "kernel",
            "choice",
            "the compiled kernels or the engine (auto: batched where every arm allows)",
            "auto",
            choices=KERNELS,
            flag=None,
            shared="the forecast from data's --kernel (sim.cli.parsers.fit.fit_sampling)",
        ),
        Option(
            "workers",
            "int",
            "processes for the runs the engine ticks (default: the CPU count); the forecast is the same",
            None,
            1,
            MAX_WORKERS,
            metavar="W",
            served=False,
        ),
    )
)

#: Every request's declared options (the command line's field-to-flag table reads their flags).
DECLARED = (FORECAST,)

__all__ = ["DECLARED", "FORECAST", "KERNELS"]
