"""The figure of a forecast: each arm's band of reach ahead of the tick it branched from."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from sim.analysis.plot import _literal, _save, figure_format

if TYPE_CHECKING:
    from sim.runs.forecast import ForecastResult


def plot_bands(path: str, result: ForecastResult) -> str:
    """Each arm's 90 % band and median of ``reached`` per tick ahead of the branch, in its own colour, labelled.
    Returns the figure's absolute path."""
    import matplotlib  # noqa: PLC0415 - heavy (~1 s to import), needed only for figures
    from matplotlib.figure import Figure  # noqa: PLC0415

    fmt = figure_format(path)
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "agora", "pdf.fonttype": 42}):
        fig = Figure(figsize=(7, 4))
        ax = fig.subplots()
        colours = matplotlib.colormaps["tab10"]
        for i, (name, arm) in enumerate(result.arms.items()):
            band = arm.series
            ticks = np.asarray(band.get("tick", []))
            reached = band.get("reached")
            if not isinstance(reached, dict) or not ticks.size:
                continue
            colour = colours(i % 10)
            ax.fill_between(ticks, reached["q05"], reached["q95"], color=colour, alpha=0.25)
            ax.plot(ticks, reached["median"], color=colour, lw=1.5, label=f"{_literal(name)}: median and 90% band")
        ax.axvline(result.round, color="black", lw=0.8, ls="--", label=f"branched (round {result.round})")
        ax.set_xlabel("round of the session")
        ax.set_ylabel("agents reached")
        ax.set_title(
            f"session {result.session} branched at tick {result.branched_at}: {result.runs} continuations an arm",
            fontsize=9,
        )
        ax.legend(fontsize=8)
        metadata = {"png": {"Software": None}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}[fmt]
        _save(fig, path, fmt, metadata)
    return os.path.abspath(path)
