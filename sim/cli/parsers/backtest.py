"""The flags of ``agora backtest``: forecasts from fits at cuts of an observed curve, scored beside baselines (issue
61). The fit's flags are ``agora fit``'s own (:mod:`sim.cli.parsers.fit`)."""

from __future__ import annotations

from typing import Any

from sim.cli.args import calendar_flag, input_file, integer, output_file, positive_float, repeatable
from sim.cli.parsers import Subcommand
from sim.cli.parsers.fit import fit_observation, fit_sampling, fit_time
from sim.cli.parsers.options import force_flag, json_flag, plugins_flag, world_argument

_BACKTEST_EXAMPLES = """examples:
  agora backtest saves/w.db --observed curve.csv --model sir --param beta=0.005..0.1 --param gamma=0.05..0.5 --seeds random:5 --cuts 5 --horizon 10
  agora backtest saves/m.db --observed ../shared/data/incidence-Measles1861.csv --time day --tick 1d --observe cases=new --model sir --param beta=0.01..1:log --param gamma=0.05..0.5 --param report=0.2..1 --seeds random:1 --cut 15,20,25 --horizon 7 --serial-interval ../shared/data/serial-interval-Measles1861.csv --plot bt.png
  agora backtest saves/m.db --plan measles.toml --json      (the model, priors and settings from the plan)
  agora backtest saves/m.db --plan measles.toml --summary stats.py:ratio    (the plan's statistics, and your code)
  agora backtest saves/m.db --observed curve.csv --method persistence,renewal --serial-interval gamma:3,1.5 --cuts 4
  agora backtest saves/tw.db --observed cascades.csv --method seismic,agora --param p=0.001..0.02 --cut 1h,6h,1d

Cuts are times of the observed file's time column (a day or tick number, an ISO date), as --time reads it: the fit
at cut T sees the data up to T. --cuts N puts N cuts evenly over the span that leaves a horizon after the last.
Methods: agora (the fit's accepted simulations continued past the cut), persistence (the Forecast Hub's baseline),
renewal (R at the cut projected by the renewal equation; needs --serial-interval). Each is scored per horizon:
WIS at the Hub's 23 quantile levels, CRPS, log score, 50% and 90% coverage, absolute error of the median and of
log counts, and WIS relative to persistence's. A plan file (--plan, TOML: the flags' names as keys) fixes the
model, priors and settings; its sha256 is reported, and a flag that would change the forecast beside it is
refused. A plan is data: it may name Agora's statistics but not code (--summary FILE.py:function or
module:function) nor where the work runs (--ray, --workers); those come from the command line, or from the plan
with --trust-plan, which prints what it will run first. Every code file run is hashed: the report gives each one's
sha256 and the plan's sha256 with them. The world file is not modified. See docs/backtesting.md.

Cascades (a file of posts id,parent,time,followers[,cascade]): each cascade's final number of reshares is forecast
at ages since its original post (--cut 1h,6h,1d, the default, or seconds) by seismic (SEISMIC, Zhao et al. 2015;
--n-star), persistence (no growth) and agora (the model's cascades from the same poster, conditioned by ABC on
what was seen), on the cascades with 5 reshares or more by the cut."""  # noqa: E501

#: The flags whose defaults the request fills: None here, so that the command knows which were given (a plan
#: refuses them beside it).
_UNSET = (
    "budget",
    "seed",
    "seeds",
    "distance",
    "adjust",
    "kernel",
    "horizon",
    "draws",
)


def forecast_methods(p: Any, methods: str, when: str) -> None:
    """The flags of the forecasts a backtest scores and ``agora forecast --observed`` makes: ``--method``
    (``methods`` says which), ``--serial-interval``, ``--draws`` and ``--keep-extinct`` (``when``: the week it
    reads, "before the cut" or "before the last observation")."""
    p.add_argument(
        "--method",
        metavar="M,M",
        help=f"the forecasts: {methods}; or a forecaster of yours, by name, from a --plugins folder (agora plugins "
        "new --template forecaster NAME)",
    )
    input_file(
        p,
        "--serial-interval",
        what="serial interval file",
        metavar="FILE|gamma:MEAN,SD",
        help="the renewal projection's serial interval, in days: a day,probability file or gamma:MEAN,SD",
    )
    p.add_argument("--draws", type=integer, metavar="M", help="draws of each forecast (default 1,000)")
    p.add_argument(
        "--filter",
        choices=("negbin", "binomial", "none"),
        help="Agora's forecast filtered through the data: trajectories of the fit's posterior through a particle "
        "filter of every observation up to the cut, its reports drawn with the same noise: negbin (negative-binomial "
        "reports, their dispersion fitted: the default), binomial (the fit's thinning; no delay) or none (the fit's "
        "accepted particles continued, conditioned on the last week)",
    )
    p.add_argument(
        "--filter-particles", type=integer, metavar="N", help="the trajectories the filter weighs (default 500)"
    )
    p.add_argument(
        "--filter-window",
        type=integer,
        metavar="W",
        help="the last W ticks up to the cut whose counts choose the negative binomial's dispersion, and weigh the "
        "trajectories of models whose runs cannot branch (default 7; 0: all of them)",
    )
    p.add_argument(
        "--ensemble",
        choices=("median", "mean", "pool", "none"),
        help="how the ensemble combines the other methods' forecasts, run whenever two or more do: median (the "
        "quantile median, the default), mean (the quantile mean), pool (the trajectory pool) or none",
    )
    p.add_argument(
        "--ensemble-weights",
        action="store_const",
        const=True,
        help="with --ensemble mean: weigh the members at each cut by their WIS on earlier cuts' forecasts whose "
        "truths were known by then (a backtest only; default equal weights)",
    )
    p.add_argument(
        "--keep-extinct",
        dest="alive",
        action="store_const",
        const=False,
        help=f"with --filter none: continue every accepted trajectory, also those with no case in the week {when} "
        "where the data have some (by default they are left out of Agora's forecast)",
    )


def _backtest(p: Any) -> None:
    """The flags of ``agora backtest``."""
    world_argument(p)
    input_file(p, "--observed", what="observation file", help="the observed curve (as agora fit reads it)")
    p.add_argument("--model", metavar="NAME", help="the propagation model of each cut's fit (default ic)")
    repeatable(
        p,
        "--param",
        metavar="NAME=LO..HI",
        help="a fitted parameter and its prior (LO..HI, LO..HI:log) or NAME=VALUE fixing one, as agora fit "
        "(repeatable)",
    )
    calendar_flag(p)
    input_file(
        p,
        "--plan",
        what="plan file",
        help="a TOML file of the model, the priors and the settings (the flags' names as keys, and a [world] table); "
        "its sha256 is reported, and flags that change the forecast are refused beside it; a plan naming code "
        "(summary = FILE.py:function) or where the work runs (ray, workers) is refused without --trust-plan",
    )
    p.add_argument(
        "--trust-plan",
        action="store_const",
        const=True,
        help="let the --plan name code summaries (FILE.py:function, module:function), a Ray cluster (ray) and "
        "workers: they run as the plan says, printed on stderr (each code file with its sha256, the cluster, the "
        "workers) before anything runs; without it such a plan is refused",
    )
    cuts = p.add_mutually_exclusive_group()
    cuts.add_argument("--cuts", type=integer, metavar="N", help="N cuts spread evenly (default 5)")
    cuts.add_argument(
        "--cut", metavar="T1,T2,...", help="the cuts: times of the observed file's time column (20,30 or 1861-11-20)"
    )
    p.add_argument("--horizon", type=integer, metavar="H", help="ticks forecast after each cut (default 14)")
    p.add_argument(
        "--until-done",
        action="store_const",
        const=True,
        help="let a horizon pass the last observation: the ticks past it are forecast but not scored",
    )
    forecast_methods(
        p,
        "agora, persistence, renewal, seismic, comma-separated (default agora,persistence, and renewal with "
        "--serial-interval; persistence is always scored, as the reference)",
        "before the cut",
    )
    p.add_argument(
        "--n-star",
        type=positive_float,
        metavar="N",
        help="SEISMIC's mean follower count of a new resharer (default 100, the package's), for cascades",
    )
    fit_time(p)
    fit_observation(p)
    fit_sampling(p)
    p.add_argument(
        "--workers",
        type=integer,
        metavar="W",
        help="processes that fit cuts at once (default: the CPU count, at most one per cut); the result is the same",
    )
    plugins_flag(p)
    output_file(
        p, "--plot", metavar="FIG", help="draw a fan chart per cut and relative WIS by horizon (.png, .svg, .pdf)"
    )
    p.add_argument(
        "--format",
        choices=("hubverse",),
        help="the -o table's format: hubverse (every cut's quantiles at the Forecast Hub's 23 levels; the default)",
    )
    output_file(
        p, "-o", "--output", metavar="FILE", help="write every cut's forecasts as a hubverse model-output table (.csv)"
    )
    p.add_argument(
        "--location", metavar="NAME", help="the hubverse table's location (default: the observed file's name)"
    )
    force_flag(p, "the --plot and -o files")
    json_flag(p)
    p.set_defaults(**dict.fromkeys(_UNSET))


BACKTEST = Subcommand(
    "backtest",
    "forecasts from fits at cuts of an observed curve, scored beside persistence and the renewal projection",
    "At each cut of an observed curve, fit the model on the data up to the cut, forecast the next H ticks by "
    "continuing the fit's accepted simulations, and score the forecast (WIS, CRPS, log score, coverage, absolute "
    "errors) against what was then observed, beside the baselines on the same cuts: a table per method and horizon "
    "with each method's WIS relative to persistence. Cuts are fitted in parallel. The world file is not modified.",
    _backtest,
    _BACKTEST_EXAMPLES,
)
