"""The fields of each request, declared once (issue 74; the machinery is :mod:`sim.engine.options`).

A request's checks, the command line's flags, the OpenAPI description and a request value's fields are all read
from these declarations. The module imports nothing heavy: the command line builds its flags from it.
"""

from __future__ import annotations

from sim.core.numbers import INT32_MAX
from sim.engine.bounds import (
    FIT_BUDGET,
    FIT_POPULATION,
    FIT_PREDICTIVE,
    FORECAST_RUNS,
    MAX_BUDGET,
    MAX_CHECK_CHOICE,
    MAX_FORECAST_SEED,
    MAX_HORIZON,
    MAX_PEOPLE,
    MAX_POPULATION,
    MAX_PREDICTIVE,
    MAX_REPLICATES,
    MAX_RUNS,
    MAX_STEPS,
    MAX_TICKS,
    MAX_WORKERS,
    SEED_LIMIT,
)
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


def _read(name: str, help: str = "") -> Option:
    """A field the fit reads itself (a file, a selection, a list of texts): its flag is written beside the others
    in ``sim/cli/parsers/fit.py`` (each has a type of its own there)."""
    return Option(name, "custom", help, flag=None, shared="sim/cli/parsers/fit.py")


#: ``agora fit``, ``world.fit`` and each cut's fit of ``agora backtest`` (:class:`sim.engine.requests.Fit`). The
#: plain whole numbers are read here, and their flags made from here; the rest the fit reads itself.
FIT_OPTIONS = Options(
    (
        _read("observed"),
        _read("model"),
        _read("params"),
        _read("seeds"),
        Option(
            "budget",
            "int",
            "simulations in all, at most",
            FIT_BUDGET,
            1,
            MAX_BUDGET,
            metavar="N",
            shown_default=True,
            note=f"; at most {MAX_BUDGET:,}",
            texts=True,
        ),
        Option(
            "population",
            "int",
            f"particles per generation (default: budget / 10, at most {FIT_POPULATION})",
            None,
            2,
            MAX_POPULATION,
            metavar="N",
            texts=True,
        ),
        Option("seed", "int", "the fit's seed", 0, 0, SEED_LIMIT - 1, metavar="S", shown_default=True, texts=True),
        Option(
            "workers",
            "int",
            "processes",
            None,
            1,
            MAX_WORKERS,
            flag=None,
            shared="sim.cli.args.workers_flag",
            texts=True,
        ),
        Option(
            "replicates",
            "int",
            "runs per simulation (default 1 for a series; for cascades, as many as were observed)",
            None,
            1,
            MAX_REPLICATES,
            metavar="R",
            texts=True,
        ),
        Option(
            "steps",
            "int",
            "ticks of each run (default: to the last observed tick for a series, else until done)",
            None,
            1,
            MAX_STEPS,
            metavar="N",
            texts=True,
        ),
        Option(
            "max_ticks",
            "int",
            "the most ticks a run goes until done",
            MAX_TICKS,
            1,
            MAX_STEPS,
            flag=None,
            shared="none: Python and plan files",
            texts=True,
        ),
        _read("method"),
        _read("kernel"),
        Option(
            "predictive",
            "int",
            f"simulations of the posterior predictive check (default {FIT_PREDICTIVE} with `plot`, else none)",
            FIT_PREDICTIVE,
            0,
            MAX_PREDICTIVE,
            metavar="N",
            texts=True,
        ),
        _read("distance"),
        _read("ray"),
        _read("adjust"),
        _read("columns"),
        Option(
            "check_choice",
            "int",
            "with several models: simulate N data sets from each model's posterior, fit each back with the same "
            "settings, and report the confusion matrix and its accuracy (each data set costs a whole fit)",
            0,
            0,
            MAX_CHECK_CHOICE,
            metavar="N",
            texts=True,
        ),
        _read("time"),
        _read("tick"),
        _read("observe"),
        _read("delay"),
        _read("summary"),
        Option(
            "people",
            "int",
            "the population the world's agents stand for: simulated counts are scaled by N / agents before the "
            "reporting fraction and delay, so that report means the same whatever the world's size (default: the "
            "world's agents; `population` is ABC's particles)",
            None,
            1,
            MAX_PEOPLE,
            metavar="N",
            texts=True,
        ),
        _read("imported"),
        _read("channel"),
    )
)

#: Every request's declared options (the command line's field-to-flag table reads their flags).
#: ``agora rt`` and the terminal UI's Rt form (:class:`sim.live.studies.RtRequest`): R over time of an observed curve
#: (:func:`sim.analysis.rtcurve.rt`'s keywords). Served by no HTTP door: its files are the user's.
RT = Options(
    (
        Option(
            "observed",
            "custom",
            "the curve (.csv, .csv.gz, .parquet: a time column and counts, or a line list) or a run's series file",
            flag=None,
            shared="the command's CURVE",
            served=False,
        ),
        Option(
            "serial_interval",
            "custom",
            "the serial interval: a day,probability file, or gamma:MEAN,SD discretised as EpiEstim does",
            metavar="FILE|gamma:MEAN,SD",
            served=False,
        ),
        Option(
            "window",
            "int",
            "ticks per sliding window (default: a week's, EpiEstim's: 7 of a daily curve, 1 of a weekly one)",
            None,
            1,
            10_000,
            metavar="W",
            texts=True,
            served=False,
        ),
        Option("prior_mean", "custom", "R's Gamma prior: its mean (default 5)", metavar="M", served=False),
        Option("prior_sd", "custom", "R's Gamma prior: its standard deviation (default 5)", metavar="S", served=False),
        Option(
            "cases",
            "custom",
            "the column of cases (default: the only count column, or local beside imported); of a series file, the "
            "measure (default new)",
            metavar="NAME",
            served=False,
        ),
        Option(
            "imported",
            "custom",
            "the column of imported cases: they infect, but did not arise here (default: imported, beside local); "
            "COLUMN:included where the cases column counts them too (they are taken out of it)",
            metavar="COLUMN[:included]",
            served=False,
        ),
        Option(
            "run",
            "int",
            "the run of a series file that holds several",
            None,
            0,
            INT32_MAX,
            metavar="N",
            texts=True,
            served=False,
        ),
        Option(
            "time",
            "custom",
            "the time column (default: the one named date, time, day, week, epiweek, tick or t), and after a colon "
            "what one row counts (week:1w, date:1d; default: the rows' own spacing, printed)",
            metavar="COLUMN[:SPAN]",
            served=False,
        ),
        Option(
            "tick",
            "custom",
            "a tick's length (1d, 1w, 6h; default: what one row counts, so weekly counts tick in weeks)",
            metavar="DURATION",
            served=False,
        ),
    )
)

DECLARED = (FORECAST, FIT_OPTIONS)

__all__ = ["DECLARED", "FIT_OPTIONS", "FORECAST", "KERNELS", "RT"]
