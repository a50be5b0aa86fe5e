"""The flags of ``agora rt``: R over sliding windows of an observed curve (Cori et al. 2013, issue 60)."""

from __future__ import annotations

from typing import Any

from sim.cli.args import input_file, non_negative_int, output_file, positive_float, positive_int
from sim.cli.parsers import Subcommand
from sim.cli.parsers.options import force_flag, json_flag

_RT_EXAMPLES = """examples:
  agora rt ../shared/data/incidence-Measles1861.csv --serial-interval ../shared/data/serial-interval-Measles1861.csv
  agora rt ../shared/data/incidence-flu_2009_NYC_school.csv --serial-interval gamma:2.6,1.5 --plot rt.png
  agora rt ../shared/data/incidence-mers_2014_15.csv --serial-interval gamma:6.8,4.1 --window 28 --json
  agora run saves/w.db --inject x --model sir --until-done --series s.csv && agora rt s.csv --serial-interval gamma:3,2

FILE: a curve (a time column of days, ISO dates or timestamps, and count columns; or a line list, one row per
case), or the run,tick,measure,value series of agora run --series (--measure, default new; one run). A curve
with local and imported columns is read as EpiEstim reads one: imported cases infect but are not counted as
arising here. --serial-interval: a day,probability file (0 at day 0, summing to 1) or gamma:MEAN,SD (EpiEstim's
discretised gamma, shifted by a day), in days; on weekly counts (or any tick of whole days) it is spread over
the ticks, each tick's cases taken as spread evenly over its days, and the window is one week. Each window is
named by its last tick as the file names it. See docs/rt.md."""  # noqa: E501


def _rt(p: Any) -> None:
    """The flags of ``agora rt``."""
    input_file(p, "curve", what="curve file", help="the curve (.csv, .csv.gz, .parquet) or a run's series file")
    input_file(
        p,
        "--serial-interval",
        what="serial interval file",
        metavar="FILE|gamma:MEAN,SD",
        required=True,
        help="the serial interval: a day,probability file, or gamma:MEAN,SD discretised as EpiEstim does",
    )
    p.add_argument(
        "--window",
        type=positive_int,
        default=None,
        metavar="W",
        help="ticks per sliding window (default: a week's, EpiEstim's: 7 of a daily curve, 1 of a weekly one)",
    )
    p.add_argument(
        "--prior-mean", type=positive_float, default=5.0, metavar="M", help="R's Gamma prior: its mean (default 5)"
    )
    p.add_argument(
        "--prior-sd",
        type=positive_float,
        default=5.0,
        metavar="S",
        help="R's Gamma prior: its standard deviation (default 5)",
    )
    p.add_argument(
        "--cases",
        "--measure",
        dest="cases",
        metavar="NAME",
        help="the column of cases (default: the only count column, or local beside imported); of a series file, "
        "the measure (default new)",
    )
    p.add_argument(
        "--imported",
        metavar="COLUMN[:included]",
        help="the column of imported cases: they infect, but did not arise here (default: imported, beside local); "
        "COLUMN:included where the cases column counts them too (they are taken out of it)",
    )
    p.add_argument("--run", type=non_negative_int, metavar="N", help="the run of a series file that holds several")
    p.add_argument(
        "--time",
        metavar="COLUMN[:SPAN]",
        help="the time column (default: the one named date, time, day, week, epiweek, tick or t), and after a colon "
        "what one row counts (week:1w, date:1d; default: the rows' own spacing, printed)",
    )
    p.add_argument(
        "--tick",
        metavar="DURATION",
        help="a tick's length (1d, 1w, 6h; default: what one row counts, so weekly counts tick in weeks)",
    )
    output_file(p, "--plot", metavar="FIG", help="draw the curve and R with its 95%% interval (.png, .svg, .pdf)")
    force_flag(p, "the --plot file")
    json_flag(p)


RT = Subcommand(
    "rt",
    "the reproduction number R over time from an observed curve (Cori et al. 2013, as EpiEstim)",
    "Estimate the time-varying reproduction number R from a curve of cases and a serial interval, by the "
    "method of Cori et al. (2013, Am J Epidemiol 178:1505) as EpiEstim's estimate_R computes it: over each "
    "window of W ticks, R's posterior is a Gamma (prior mean 5, sd 5); per window its mean, sd, median, "
    "quantiles and 95% interval. Nothing is written but the --plot figure.",
    _rt,
    _RT_EXAMPLES,
)
