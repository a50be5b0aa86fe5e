"""The flags of ``agora forecast``: a running session's present branched R times, under arms (issue 49)."""

from __future__ import annotations

from typing import Any

from sim.cli.args import calendar_flag, input_file, integer, output_file, repeatable
from sim.cli.parsers import Subcommand
from sim.cli.parsers.backtest import forecast_methods
from sim.cli.parsers.fit import fit_observation, fit_sampling, fit_time
from sim.cli.parsers.options import force_flag, json_flag, plugins_flag, request_flags, world_argument
from sim.engine import fields

_FORECAST_EXAMPLES = """examples:
  agora run saves/fb.db --inject rumour --model ic --param p=0.03 --seeds random:20 --steps 4
  agora forecast saves/fb.db --runs 200 --until-done
  agora forecast saves/fb.db --runs 200 --until-done --arm none=none --arm block=block:degree:100 --plot ahead.png
  agora forecast saves/fb.db --runs 200 --ticks 20 --arm slower=set:p=0.01 --json
  agora forecast saves/fb.db --runs 200 --until-done --posterior posterior.csv     (agora fit -o)
  agora forecast saves/m.db --observed weekly.csv --model sir --param beta=0.01..2:log --param gamma=0.05..1 --param report=0.05..1 --seeds random:5 --horizon 4 --serial-interval gamma:11.7,2.0 --format hubverse -o ahead.csv

--arm NAME=ACTION (repeatable; a name given twice takes both actions): none (the world as it is),
block:METHOD:K, counter:MODEL:SEEDS[:TEXT], remove-edges:F[:random|between] (applied at the next tick), or
set:NAME=VALUE (a parameter of the session's model). Run r of every arm continues with session seed S+r, so
arms are compared run by run. The world file is not modified. See docs/forecasting.md.

From data (--observed FILE, read as agora fit reads it, the reading printed): the model is fitted on every
observation and each method (agora, persistence, renewal with --serial-interval) forecasts the H ticks after the
last (--horizon H): per tick its median, 50% and 90% intervals; --json keeps the quantiles at the Forecast Hub's
23 levels, and --format hubverse -o FILE writes them as a hubverse model-output table (model_id,
reference_date, target, horizon, target_end_date, location, output_type, output_type_id, value)."""  # noqa: E501


def _forecast(p: Any) -> None:
    """The flags of ``agora forecast``."""
    world_argument(p)
    request_flags(p, fields.FORECAST)
    plugins_flag(p)
    output_file(
        p,
        "--plot",
        metavar="FIG",
        help="draw each arm's band of reach ahead of now; from data, the data and each method's fan (.png, .svg, .pdf)",
    )
    force_flag(p, "the --plot and -o files")
    json_flag(p)
    _from_data(p)


#: The flags of a forecast from data (``--observed``), left None when not given: a running session's forecast
#: refuses them, and the request fills what was not given. ``seed`` and ``kernel`` serve both.
DATA_FLAGS = (
    "observed model param horizon method serial_interval draws alive format output location time tick observe "
    "columns delay summary seeds budget population replicates distance adjust ray people imported channel ensemble "
    "ensemble_weights filter filter_particles filter_window"
).split()


def _from_data(p: Any) -> None:
    """The flags of a forecast from observed data (issue 73): the fit's (``agora fit``'s own) and the forecast's."""
    g = p.add_argument_group("a forecast from observed data (--observed)")
    input_file(g, "--observed", what="observation file", help="the observed curve (as agora fit reads it)")
    g.add_argument("--model", metavar="NAME", help="the propagation model fitted (default ic)")
    repeatable(
        g, "--param", metavar="NAME=LO..HI", help="a fitted parameter and its prior, or NAME=VALUE, as agora fit"
    )
    calendar_flag(g)
    g.add_argument("--horizon", type=integer, metavar="H", help="ticks to forecast after the last observation")
    forecast_methods(
        g,
        "agora, persistence, renewal, comma-separated (default agora,persistence, and renewal with --serial-interval)",
        "before the last observation",
    )
    g.add_argument(
        "--format",
        choices=("hubverse",),
        help="the -o table's format: hubverse (quantile rows at the Forecast Hub's 23 levels; the default)",
    )
    output_file(g, "-o", "--output", metavar="FILE", help="write the forecast as a hubverse model-output table (.csv)")
    g.add_argument(
        "--location", metavar="NAME", help="the hubverse table's location (default: the observed file's name)"
    )
    fit_time(g)
    fit_observation(g)
    fit_sampling(g)
    p.set_defaults(**dict.fromkeys([*DATA_FLAGS, "seed", "kernel"]))


FORECAST = Subcommand(
    "forecast",
    "where a running cascade goes, and what acting now would change (R continuations of the present)",
    "Branch the present of a world's running session R times and continue each to a horizon: "
    "per arm the final reach's median and 90% interval, the per-tick band of the series ahead of now, the "
    "cascade's shape, and each arm's paired difference from the first. The world file is not modified.",
    _forecast,
    _FORECAST_EXAMPLES,
)
