"""The flags of ``agora fit``: a model's parameters fitted to an observation file (issue 48)."""

from __future__ import annotations

from typing import Any

from sim.cli.args import calendar_flag, input_file, output_file, ray_flag, repeatable, workers_flag
from sim.cli.parsers import Subcommand
from sim.cli.parsers.options import KERNELS, force_flag, json_flag, plugins_flag, request_flags, world_argument
from sim.engine.fields import FIT_OPTIONS

_FIT_EXAMPLES = """examples:
  agora fit saves/fb.db --model sir --observed curve.csv --param beta=0.005..0.1 --param gamma=0.05..0.5 --seeds random:10
  agora fit saves/fb.db --model ic --observed times.csv --param p=0.001..0.2:log    (exact likelihood)
  agora fit saves/fb.db --model ic --observed cascades.csv --param p=0.001..0.2:log --seeds random:1 -o post.csv --plot check.png
  agora fit saves/fb.db --model sir,seir --observed curve.csv --param beta=0.005..0.1 --param gamma=0.05..0.5 --param sigma=0.1..0.9 --check-choice 10
  agora fit saves/h.db --model sir --observed incidence.csv --time day --tick 1d --observe cases=new --param beta=0.01..0.5 --seeds random:1

the observation (--observed FILE; .csv, .csv.gz or .parquet), told apart by its header:
  tick,S,I,R  or  tick,new      a series: every column at every tick (any of the model's states, reached, new)
  run,tick,measure,value        the --series file of one run of agora run
  run,agent,source,tick,generation   cascades as agora run --cascades writes them (one per run): their sizes,
                                depths and structural virality
  size  (or run,size)           cascade sizes alone
  id,tick                       adoption times (original ids; tick 0: the seeds): exact likelihood for ic and
                                si, the adoption curve for other models
  any other header              a table recorded in its own time (--time, --tick, --observe): counts per day,
                                date or timestamp (day,cases; date,local,imported), a line list (one row per
                                case, counted per tick), or timestamped cascades id,parent,time

--param NAME=LO..HI is a uniform prior, NAME=LO..HI:log a log-uniform one, NAME=VALUE fixes a parameter.
--param report=0.4 (or report=0.2..1, fitted) and --delay FILE|gamma:MEAN,SD: the observation model, applied to
simulated counts per tick (new, new.STATE, onsets, removals) before they are compared with the data.
The method is sequential Monte Carlo ABC (Toni et al. 2009) with adaptive tolerances and distances, the model's
own runs as simulator, or the exact likelihood where there is one. The same --seed gives the same posterior
whatever --workers. --model A,B gives each model's posterior probability (ABC-SMC model choice, Toni and
Stumpf 2010) and posterior; --check-choice N fits back N data sets of each model (the confusion matrix).
See docs/fitting.md."""  # noqa: E501


def _fit(p: Any) -> None:
    """The flags of ``agora fit``."""
    world_argument(p)
    p.add_argument(
        "--model",
        default="ic",
        metavar="NAME",
        help="the propagation model (default ic), or several comma-separated (sir,seir): their posterior "
        "probabilities by ABC-SMC model choice, each --param applying to the models that have it",
    )
    input_file(p, "--observed", what="observation file", required=True, help="the observation file (see below)")
    repeatable(
        p,
        "--param",
        metavar="NAME=LO..HI",
        help="a fitted parameter and its prior: LO..HI uniform, LO..HI:log log-uniform; NAME=VALUE fixes one "
        "(repeatable)",
    )
    calendar_flag(p)
    fit_time(p)
    fit_observation(p)
    _fit_method(p)
    plugins_flag(p)
    output_file(p, "-o", "--output", help="write the weighted posterior samples (.csv, .csv.gz, .parquet)")
    output_file(
        p, "--plot", metavar="FIG", help="draw the posterior predictive check and the posteriors (.png, .svg, .pdf)"
    )
    force_flag(p, "the -o and --plot files")
    json_flag(p)


def fit_observation(p: Any) -> None:
    """``agora fit``'s columns, delay, summary and seeds (``agora backtest`` takes them too)."""
    p.add_argument(
        "--columns",
        metavar="NAMES",
        help="fit these columns of an observed series only, comma-separated (e.g. I,R; default: all of them)",
    )
    p.add_argument(
        "--delay",
        metavar="FILE|gamma:MEAN,SD",
        help="the reporting delay between a case and its record: a CSV of day,probability rows (summing to 1) or "
        "gamma:MEAN,SD in days; simulated counts per tick are delayed so before they meet the data (with "
        "--param report=... for the reporting fraction; see docs/fitting.md)",
    )
    p.add_argument(
        "--summary",
        metavar="NAMES",
        help="the statistics of a series to compare, comma-separated: curve (every column at every tick; the "
        "default), peak, peak_tick, final, growth, waves, or module:function (a Python function of yours: a dict "
        "of column -> array over the observed ticks in, a 1-D array of numbers out; see docs/fitting.md)",
    )
    request_flags(p, FIT_OPTIONS, ("people",))
    repeatable(
        p,
        "--channel",
        metavar="COLUMN:FRACTION[:DELAY]",
        help="an observed column seen through its own reporting fraction and delay (repeatable): FRACTION names a "
        "parameter given with --param (ifr=0.01 fixed, ifr=0.001..0.05 fitted), DELAY is gamma:MEAN,SD or a "
        "day,probability file (deaths:ifr:gamma:14,5 beside cases); columns without one take report and --delay",
    )
    p.add_argument(
        "--imported",
        metavar="COLUMN[:included]",
        help="the observed file's column of imported cases: every simulation infects that many agents from outside "
        "at those ticks (scaled by agents / --people), into the model's seed state, and compares its local cases "
        "with the data; COLUMN:included where the cases column counts the imported ones too. A run past the data "
        "goes on importing at their mean a tick; --param import=LO..HI fits a rate of further importations (people "
        "a tick; see docs/fitting.md)",
    )
    p.add_argument(
        "--seeds",
        default="random:10",
        metavar="SPEC",
        help="seed agents of every simulation: random:K (drawn afresh in each: unknown seeds), ids:a,b,c or "
        "file:PATH (known seeds, fixed), top:K, community:C:K (default random:10)",
    )


FIT = Subcommand(
    "fit",
    "fit a model's parameters to observed data (ABC-SMC, or the exact likelihood of adoption times)",
    "Find the parameters of a propagation model that explain an observed series, set of cascades "
    "or adoption times, with their uncertainty: per parameter the posterior median and 90% credible "
    "interval, the weighted posterior samples (-o), the simulations used and failed, the effective sample "
    "size, and a posterior predictive check (--plot); with several models (--model A,B), each model's "
    "posterior probability and posterior. The world file is not modified. Exit 3 when "
    "simulations failed (counted, never in the posterior).",
    _fit,
    _FIT_EXAMPLES,
)


def fit_time(p: Any) -> None:
    """``agora fit``'s flags for a table recorded in its own time (issue 60; ``agora backtest`` takes them too)."""
    p.add_argument(
        "--time",
        metavar="COLUMN[:SPAN]",
        help="the time column of a table recorded in its own time: whole numbers, ISO dates, ISO weeks (2005-W07) or "
        "timestamps (default: the column named date, time, day, week, epiweek, tick or t); after a colon, what one "
        "row counts (week:1w, date:1d; default: the rows' own spacing, printed as read)",
    )
    p.add_argument(
        "--tick",
        metavar="DURATION",
        help="how long one tick of the fit lasts: 1d, 6h, 10min, 30s, 2w (default: what one row counts, so weekly "
        "counts tick in weeks; whole numbers of ticks and timestamps: the world's minutes per tick); the fitted "
        "rates are per tick",
    )
    repeatable(
        p,
        "--observe",
        metavar="COLUMN=MEASURE",
        help="a count column of the table and the series measure it observes, e.g. cases=new or cases=onsets "
        "(repeatable; default: every count column under its own name)",
    )


def _fit_method(p: Any) -> None:
    """``agora fit``'s budget, sampling, workers and method."""
    fit_sampling(p)
    workers_flag(p, "the result is the same")
    request_flags(p, FIT_OPTIONS, ("steps",))
    p.add_argument(
        "--method",
        choices=("auto", "abc", "exact"),
        default="auto",
        help="'exact': the likelihood of adoption times (ic, si); 'abc': ABC-SMC; 'auto' (default): exact where "
        "it exists",
    )
    request_flags(p, FIT_OPTIONS, ("check_choice",))
    request_flags(p, FIT_OPTIONS, ("predictive",))


def fit_sampling(p: Any) -> None:
    """``agora fit``'s budget, population, seed, replicates, distance, adjustment, Ray and kernel (``agora
    backtest`` takes them for each cut's fit)."""
    request_flags(p, FIT_OPTIONS, ("budget", "population", "seed", "replicates"))
    p.add_argument(
        "--distance",
        choices=("regression", "adaptive"),
        default="regression",
        help="ABC's distance: 'regression' (default; semi-automatic ABC: the statistics projected on the "
        "parameters, refitted each generation) or 'adaptive' (each statistic over its spread, pyabc's default)",
    )
    p.add_argument(
        "--no-adjust",
        dest="adjust",
        action="store_false",
        help="keep the final population as accepted (by default, with the regression distance, it is moved by "
        "Beaumont et al.'s 2002 regression adjustment for what the tolerance left)",
    )
    ray_flag(p, "run the simulations", " (pip install 'agora-sim[ray]'); the posterior is the same")
    p.add_argument("--kernel", choices=KERNELS, default="auto", help="as agora run --kernel (default auto)")
