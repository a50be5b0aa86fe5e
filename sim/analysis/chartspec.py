"""What a chart shows, as data (:class:`ChartSpec`: lines, forecast bands, vertical marks), and that chart drawn as
a figure (:func:`plot_spec`, matplotlib) or written as the numbers behind it (:func:`spec_data`).

The terminal UI builds a :class:`ChartSpec` for each chart it draws (``tui.charts``: plotext in the terminal), and
its export (the ``e`` key) draws the same spec to PNG and SVG here, beside a JSON file of its series: the export is
the chart on screen (the same lines, bands, marks, axis and ticks), only at the figure's resolution.

Labels are data: drawn literally (:func:`sim.analysis.plot.literal_label`: no mathtext, no control characters).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.analysis.plot import literal_label


@dataclass(frozen=True, eq=False)
class Line:
    """One line of a chart (or the bars of a histogram): its legend label and its points."""

    label: str
    x: np.ndarray
    y: np.ndarray
    #: plotext's colour and marker (None: its own, a colour per line).
    color: str | None = None
    marker: str | None = None
    #: Points alone, not joined (an observed series: what was seen, not a curve between).
    points: bool = False
    #: On the second y axis, at the right (:attr:`ChartSpec.ylabel2`): a measure of another scale.
    right: bool = False


@dataclass(frozen=True, eq=False)
class Band:
    """A forecast arm drawn ahead of the present: its 5 to 95 % band (two dotted edges; ``span`` says which
    quantiles they are when they are others, such as an Rt interval's 2.5 to 97.5 %) and its median line, in one
    colour, labelled with the arm's name."""

    label: str
    x: np.ndarray
    low: np.ndarray
    median: np.ndarray
    high: np.ndarray
    color: str
    #: On the second y axis (:attr:`Line.right`).
    right: bool = False
    #: The quantiles of the edges, as the legend says them.
    span: str = "5-95%"

    def lines(self) -> tuple[Line, ...]:
        """The band's edges and its median as lines (the upper edge and the median carry the legend)."""
        return (
            Line(f"{self.label} {self.span}", self.x, self.high, self.color, "dot", right=self.right),
            Line("", self.x, self.low, self.color, "dot", right=self.right),
            Line(f"{self.label} median", self.x, self.median, self.color, right=self.right),
        )


@dataclass(frozen=True)
class Mark:
    """A vertical line across a chart at ``x``, labelled at its top (an intervention at its tick)."""

    x: float
    label: str


@dataclass(frozen=True, eq=False)
class ChartSpec:
    """Everything a chart draws. ``bars`` draws the first line as a histogram (x: the bins' centres);
    ``edges`` are then the bins' edges. With no line the chart shows empty axes and ``hint``."""

    title: str
    xlabel: str
    ylabel: str
    lines: tuple[Line, ...] = ()
    hint: str = ""
    bars: bool = False
    edges: np.ndarray | None = None
    #: Whether the y axis starts at 0, and whether its values are whole numbers (counts).
    from_zero: bool = True
    integer: bool = True
    extra: dict[str, Any] = field(default_factory=dict)
    #: Vertical marks (drawn where they fall within the lines' x range; never on a histogram).
    marks: tuple[Mark, ...] = ()
    #: Forecast bands drawn over the lines (each arm's, ahead of the present).
    bands: tuple[Band, ...] = ()
    #: The second y axis's label (its lines and bands are those marked ``right``), from 0 and of whole numbers
    #: as the first.
    ylabel2: str = ""


def _numbers(values: np.ndarray) -> list[float | None]:
    """A series as JSON numbers (a missing or infinite value as null; whole numbers as integers)."""
    out: list[float | None] = []
    for v in np.asarray(values, dtype=np.float64).tolist():
        out.append(None if not math.isfinite(v) else int(v) if v.is_integer() else v)
    return out


def spec_data(spec: ChartSpec) -> dict[str, Any]:
    """The numbers behind ``spec``, JSON-ready: its title and axis labels, each line (label, x, y, points or
    joined, on the second axis or not), each band (label, x, low, median, high, axis, the quantiles of its edges)
    and each mark (x, label)."""
    return {
        "title": spec.title,
        "xlabel": spec.xlabel,
        "ylabel": spec.ylabel,
        "ylabel2": spec.ylabel2,
        "bars": spec.bars,
        "lines": [
            {"label": ln.label, "x": _numbers(ln.x), "y": _numbers(ln.y), "points": ln.points, "right": ln.right}
            for ln in spec.lines
        ],
        "bands": [
            {
                "label": b.label,
                "x": _numbers(b.x),
                "low": _numbers(b.low),
                "median": _numbers(b.median),
                "high": _numbers(b.high),
                "right": b.right,
                "span": b.span,
            }
            for b in spec.bands
        ],
        "marks": [{"x": m.x, "label": m.label} for m in spec.marks],
    }


#: plotext's colour names (``cyan+`` is its bright cyan) as matplotlib's; a name not here gets the next default.
_COLOURS = {
    "cyan": "tab:cyan",
    "magenta": "tab:pink",
    "orange": "tab:orange",
    "green": "tab:green",
    "blue": "tab:blue",
    "red": "tab:red",
    "gray": "tab:gray",
    "white": "dimgray",
}


def _colour(name: str | None) -> str | None:
    return None if name is None else _COLOURS.get(name.rstrip("+"))


def plot_spec(spec: ChartSpec, output: str, fmt: str) -> None:
    """Draw ``spec`` into ``output`` as ``fmt`` (``png`` or ``svg``): its lines (observed points as markers),
    each band as a shaded 5-95 % area with its median dashed, each mark as a labelled vertical line, its title and
    axis labels, the y axis from 0 where the spec says so; lines and bands marked ``right`` on a second y axis. A
    histogram (``bars``) as bars over its bins."""
    import matplotlib  # noqa: PLC0415 - heavy (~1 s to import), needed only for figures
    from matplotlib.figure import Figure  # noqa: PLC0415 - heavy (~1 s to import), needed only for figures
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415 - heavy (~1 s to import), needed only for figures

    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "agora"}):
        fig = Figure(figsize=(9, 5.5), dpi=150, layout="constrained")
        ax = fig.add_subplot()
        right = ax.twinx() if any(ln.right for ln in spec.lines) or any(b.right for b in spec.bands) else None
        for ln in spec.lines:
            on = right if ln.right and right is not None else ax
            label = literal_label(ln.label) if ln.label else None
            colour = _colour(ln.color)
            if spec.bars:
                width = float(np.diff(spec.edges).min()) if spec.edges is not None and spec.edges.size > 1 else 1.0
                on.bar(ln.x, ln.y, width=0.9 * width, label=label, color=colour)
            elif ln.points:
                on.plot(ln.x, ln.y, linestyle="none", marker="x", label=label, color=colour)
            else:
                on.plot(ln.x, ln.y, linewidth=1.6, label=label, color=colour)
        for band in spec.bands:
            on = right if band.right and right is not None else ax
            colour = _colour(band.color)
            on.fill_between(band.x, band.low, band.high, alpha=0.2, linewidth=0, color=colour)
            on.plot(band.x, band.median, linestyle="--", color=colour, label=literal_label(f"{band.label} median"))
        for mark in spec.marks:
            ax.axvline(mark.x, color="tab:red", linewidth=0.8)
            ax.annotate(
                literal_label(mark.label),
                (mark.x, 1.0),
                xycoords=("data", "axes fraction"),
                rotation=90,
                va="top",
                ha="right",
                fontsize=7,
                color="tab:red",
            )
        title = spec.title if spec.lines or not spec.hint else f"{spec.title}: {spec.hint}"
        ax.set_title(literal_label(title))
        ax.set_xlabel(literal_label(spec.xlabel))
        ax.set_ylabel(literal_label(spec.ylabel))
        axes = (ax,) if right is None else (ax, right)
        if right is not None:
            right.set_ylabel(literal_label(spec.ylabel2))
        for on in axes:
            if spec.from_zero:
                on.set_ylim(bottom=0)
            if spec.integer:
                on.yaxis.set_major_locator(MaxNLocator(integer=True))
        if not spec.bars:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3, linewidth=0.6)
        handles = [h for on in axes for h in on.get_legend_handles_labels()[0]]
        if handles:
            ax.legend(handles=handles, fontsize=8)
        fig.savefig(output, format=fmt)
