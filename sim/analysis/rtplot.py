"""The figure of an R estimate (:class:`sim.analysis.rt.RtEstimate`): the curve's cases per tick above R's
posterior mean and 95 % band, each window drawn at its last tick, with R = 1 marked. matplotlib's ``Figure``,
no pyplot and no display (as :mod:`sim.analysis.plot`)."""

from __future__ import annotations

import os
from typing import Any

from sim.analysis.plot import figure_format, literal_label, save_figure
from sim.store.timeticks import tick_unit

#: What the functions draw: a :class:`sim.analysis.rt.RtEstimate` (not imported: that module imports this one
#: to draw, and the analysis room has no import circle).
RtEstimate = Any

#: The colours of local cases, imported cases and R.
LOCAL, IMPORTED, R_COLOUR = "#4c72b0", "#dd8452", "#c44e52"


def draw_curve(ax: Any, est: RtEstimate) -> None:
    """Cases per tick as bars (imported ones stacked on the local ones, when there are any)."""
    ticks = range(len(est.labels))
    ax.bar(ticks, est.local, width=1.0, color=LOCAL, linewidth=0, label="local")
    if est.imported.any():
        ax.bar(ticks, est.imported, bottom=est.local, width=1.0, color=IMPORTED, linewidth=0, label="imported")
        ax.legend(loc="upper right", fontsize="small", framealpha=0.9)
    ax.set_ylabel("cases")
    ax.grid(True, alpha=0.3, linewidth=0.6)


def draw_r(ax: Any, est: RtEstimate) -> None:
    """R's posterior mean per window (at its last tick) and its 95 % interval, with R = 1 dashed."""
    q = est.quantiles
    ax.fill_between(est.end, q["q025"], q["q975"], color=R_COLOUR, alpha=0.22, linewidth=0, label="95% interval")
    ax.plot(est.end, est.mean, color=R_COLOUR, linewidth=1.6, label="mean")
    ax.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
    ax.set_ylabel("R")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3, linewidth=0.6)


def label_ticks(ax: Any, est: RtEstimate, bins: int = 6) -> None:
    """Name the x axis's ticks as the curve's file names them (days or dates)."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: PLC0415 - only when drawing

    labels = est.labels

    def name(value: float, _pos: int) -> str:
        i = int(round(value))
        return labels[i] if 0 <= i < len(labels) and abs(value - i) < 1e-9 else ""

    ax.xaxis.set_major_locator(MaxNLocator(nbins=bins, integer=True))
    ax.xaxis.set_major_formatter(FuncFormatter(name))
    ax.set_xlim(-0.5, len(labels) - 0.5)


def plot_estimate(est: RtEstimate, output: str, title: str | None = None) -> None:
    """Write the figure to ``output`` (PNG, SVG or PDF, by its extension), atomically.

    Raises:
        BadParameterError: an unknown extension. BadFileError: the file cannot be written.
    """
    fmt = figure_format(output)
    import matplotlib  # noqa: PLC0415 - heavy, needed only for figures
    from matplotlib.figure import Figure  # noqa: PLC0415

    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "agora", "pdf.fonttype": 42}):
        fig = Figure(figsize=(9, 6), dpi=150, layout="constrained")
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(1, 1.3))
        draw_curve(top, est)
        draw_r(bottom, est)
        bottom.legend(loc="upper right", fontsize="small", framealpha=0.9)
        label_ticks(bottom, est)
        unit = tick_unit(est.tick_seconds if est.tick_seconds is not None else 86400)
        span = f"{est.window} {unit}{'' if est.window == 1 else 's'}"
        bottom.set_xlabel(f"{unit} (R over the {span} ending there)")
        name = os.path.basename(est.source) or "curve"
        default = f"R over windows of {span}: {name}, serial interval {est.serial_interval.source}"
        top.set_title(literal_label(title if title is not None else default), fontsize="medium")
        metadata = {"png": {"Software": None}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}[fmt]
        save_figure(fig, output, fmt, metadata)
