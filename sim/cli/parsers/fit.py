"""The flags of ``agora fit``: a model's parameters fitted to an observation file (issue 48)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from sim.cli.args import integer, positive_int, reads, writes
from sim.cli.parsers.options import KERNELS, force_flag, json_flag, plugins_flag, world_argument

_FIT_EXAMPLES = """examples:
  agora fit saves/fb.db --model sir --observed curve.csv --param beta=0.005..0.1 --param gamma=0.05..0.5 --seeds random:10
  agora fit saves/fb.db --model ic --observed times.csv --param p=0.001..0.2:log    (exact likelihood)
  agora fit saves/fb.db --model ic --observed cascades.csv --param p=0.001..0.2:log --seeds random:1 -o post.csv --plot check.png

the observation (--observed FILE; .csv, .csv.gz or .parquet), told apart by its header:
  tick,S,I,R  or  tick,new      a series: every column at every tick (any of the model's states, reached, new)
  run,tick,measure,value        the --series file of one run of agora run
  run,agent,source,tick,generation   cascades as agora run --cascades writes them (one per run): their sizes,
                                depths and structural virality
  size  (or run,size)           cascade sizes alone
  id,tick                       adoption times (original ids; tick 0: the seeds): exact likelihood for ic and
                                si, the adoption curve for other models

--param NAME=LO..HI is a uniform prior, NAME=LO..HI:log a log-uniform one, NAME=VALUE fixes a parameter.
The method is sequential Monte Carlo ABC (Toni et al. 2009) with adaptive tolerances and distances, the model's
own runs as simulator, or the exact likelihood where there is one. The same --seed gives the same posterior
whatever --workers. See docs/fitting.md."""  # noqa: E501


def add_fit(sub: Any) -> None:
    """Add ``agora fit`` to the command's subparsers."""
    p = sub.add_parser(
        "fit",
        help="fit a model's parameters to observed data (ABC-SMC, or the exact likelihood of adoption times)",
        description="Find the parameters of a propagation model that explain an observed series, set of cascades "
        "or adoption times, with their uncertainty: per parameter the posterior median and 90% credible "
        "interval, the weighted posterior samples (-o), the simulations used and failed, the effective sample "
        "size, and a posterior predictive check (--plot). The world file is not modified. Exit 3 when "
        "simulations failed (counted, never in the posterior).",
        epilog=_FIT_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    world_argument(p)
    p.add_argument("--model", default="ic", metavar="NAME", help="the propagation model (default ic)")
    p.add_argument(
        "--observed",
        required=True,
        metavar="FILE",
        type=reads("observation file"),
        help="the observation file (see below)",
    )
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=LO..HI",
        help="a fitted parameter and its prior: LO..HI uniform, LO..HI:log log-uniform; NAME=VALUE fixes one "
        "(repeatable)",
    )
    p.add_argument(
        "--columns",
        metavar="NAMES",
        help="fit these columns of an observed series only, comma-separated (e.g. I,R; default: all of them)",
    )
    p.add_argument(
        "--seeds",
        default="random:10",
        metavar="SPEC",
        help="seed agents of every simulation: random:K (drawn afresh in each: unknown seeds), ids:a,b,c or "
        "file:PATH (known seeds, fixed), top:K, community:C:K (default random:10)",
    )
    _fit_method(p)
    plugins_flag(p)
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        type=writes(),
        help="write the weighted posterior samples (.csv, .csv.gz, .parquet)",
    )
    p.add_argument(
        "--plot",
        metavar="FIG",
        type=writes(),
        help="draw the posterior predictive check and the posteriors (.png, .svg, .pdf)",
    )
    force_flag(p, "the -o and --plot files")
    json_flag(p)


def _fit_method(p: Any) -> None:
    """``agora fit``'s budget, sampling, workers and method."""
    p.add_argument(
        "--budget", type=integer, default=20_000, metavar="N", help="simulations in all, at most (default 20,000)"
    )
    p.add_argument(
        "--population",
        type=integer,
        metavar="N",
        help="particles per generation (default: budget / 10, at most 500)",
    )
    p.add_argument("--seed", type=integer, default=0, metavar="S", help="the fit's seed (default 0)")
    p.add_argument(
        "--workers",
        type=positive_int,
        metavar="W",
        help=f"parallel worker processes (default: the CPU count, here {os.cpu_count()}); the result is the same",
    )
    p.add_argument(
        "--replicates",
        type=integer,
        metavar="R",
        help="runs per simulation (default 1 for a series; for cascades, as many as were observed)",
    )
    p.add_argument(
        "--steps",
        type=integer,
        metavar="N",
        help="ticks of each run (default: to the last observed tick for a series, else until done)",
    )
    p.add_argument(
        "--method",
        choices=("auto", "abc", "exact"),
        default="auto",
        help="'exact': the likelihood of adoption times (ic, si); 'abc': ABC-SMC; 'auto' (default): exact where "
        "it exists",
    )
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
    p.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run the simulations on a Ray cluster at ADDRESS, or 'auto' to start a local one with W CPUs "
        "(pip install 'agora-sim[ray]'); the posterior is the same",
    )
    p.add_argument("--kernel", choices=KERNELS, default="auto", help="as agora run --kernel (default auto)")
    p.add_argument(
        "--predictive",
        type=integer,
        metavar="N",
        help="simulations of the posterior predictive check (default 100 with --plot, else none)",
    )
