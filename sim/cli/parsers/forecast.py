"""The flags of ``agora forecast``: a running session's present branched R times, under arms (issue 49)."""

from __future__ import annotations

from typing import Any

from sim.cli.args import input_file, integer, output_file
from sim.cli.parsers import Subcommand
from sim.cli.parsers.options import KERNELS, force_flag, json_flag, number_flag, plugins_flag, world_argument
from sim.engine.bounds import MAX_TICKS

_FORECAST_EXAMPLES = """examples:
  agora run saves/fb.db --inject rumour --model ic --param p=0.03 --seeds random:20 --steps 4
  agora forecast saves/fb.db --runs 200 --until-done
  agora forecast saves/fb.db --runs 200 --until-done --arm none=none --arm block=block:degree:100 --plot ahead.png
  agora forecast saves/fb.db --runs 200 --ticks 20 --arm slower=set:p=0.01 --json
  agora forecast saves/fb.db --runs 200 --until-done --posterior posterior.csv     (agora fit -o)

--arm NAME=ACTION (repeatable; a name given twice takes both actions): none (the world as it is),
block:METHOD:K, counter:MODEL:SEEDS[:TEXT], remove-edges:F[:random|between] (applied at the next tick), or
set:NAME=VALUE (a parameter of the session's model). Run r of every arm continues with session seed S+r, so
arms are compared run by run. The world file is not modified. See docs/forecasting.md."""


def _forecast(p: Any) -> None:
    """The flags of ``agora forecast``."""
    world_argument(p)
    p.add_argument("--session", type=integer, metavar="N", help="the session (default: the latest running one)")
    p.add_argument("--runs", type=integer, required=True, metavar="R", help="continuations per arm")
    horizon = p.add_mutually_exclusive_group(required=True)
    horizon.add_argument("--ticks", type=integer, metavar="H", help="continue H ticks ahead of now")
    horizon.add_argument("--until-done", action="store_true", help="continue until the session ends")
    number_flag(p, "--max-ticks", "N", MAX_TICKS, "with --until-done, stop after N", type=integer)
    p.add_argument(
        "--arm",
        action="append",
        metavar="NAME=ACTION",
        help="an arm and an action it applies now (repeatable; default one arm, none)",
    )
    number_flag(p, "--seed", "S", 0, "run r continues with seed S+r", type=integer)
    input_file(
        p, "--posterior", what="posterior file", help="draw each run's parameters from a fit's samples (agora fit -o)"
    )
    p.add_argument(
        "--kernel",
        choices=KERNELS,
        default="auto",
        help="'batched' continues in the compiled kernels (ic, lt, sir where nothing else moves; arms without "
        "interventions), 'engine' ticks every run, 'auto' (default) batches where it can",
    )
    p.add_argument(
        "--workers",
        type=integer,
        metavar="W",
        help="processes for the runs the engine ticks (default: the CPU count); the forecast is the same",
    )
    plugins_flag(p)
    output_file(p, "--plot", metavar="FIG", help="draw each arm's band of reach ahead of now (.png, .svg, .pdf)")
    force_flag(p, "the --plot file")
    json_flag(p)


FORECAST = Subcommand(
    "forecast",
    "where a running cascade goes, and what acting now would change (R continuations of the present)",
    "Branch the present of a world's running session R times and continue each to a horizon: "
    "per arm the final reach's median and 90% interval, the per-tick band of the series ahead of now, the "
    "cascade's shape, and each arm's paired difference from the first. The world file is not modified.",
    _forecast,
    _FORECAST_EXAMPLES,
)
