"""The flags of ``agora rt``: R over sliding windows of an observed curve (Cori et al. 2013, issue 60)."""

from __future__ import annotations

from typing import Any

from sim.cli.args import input_file, non_negative_int, output_file, positive_float, positive_int
from sim.cli.parsers import Subcommand
from sim.cli.parsers.options import force_flag, json_flag
from sim.engine.fields import RT as RT_OPTIONS

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
    """The flags of ``agora rt``: their help and metavars as declared once (:data:`sim.engine.fields.RT`, which the
    terminal UI's Rt form reads too)."""
    input_file(p, "curve", what="curve file", help=RT_OPTIONS.help("observed"))
    input_file(
        p,
        RT_OPTIONS["serial_interval"].cli_flag,
        what="serial interval file",
        metavar=str(RT_OPTIONS["serial_interval"].metavar),
        required=True,
        help=RT_OPTIONS.help("serial_interval"),
    )
    types = {"window": positive_int, "prior_mean": positive_float, "prior_sd": positive_float, "run": non_negative_int}
    defaults = {"prior_mean": 5.0, "prior_sd": 5.0}
    for option in RT_OPTIONS:
        if option.name in ("observed", "serial_interval"):
            continue
        flags = (option.cli_flag, "--measure") if option.name == "cases" else (option.cli_flag,)
        more = {"type": types[option.name]} if option.name in types else {}
        p.add_argument(
            *flags,
            dest=option.name,
            default=defaults.get(option.name),
            metavar=option.metavar,
            help=RT_OPTIONS.help(option.name),
            **more,
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
