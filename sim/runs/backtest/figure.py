"""The figure of a backtest (``agora backtest --plot``, ``BacktestResult.plot``): a fan chart per cut (the data up to
the cut, each method's median, Agora's 50 % and 90 % bands and the ensemble's 90 % interval after it, the truth),
each method's WIS relative to persistence by horizon, and each method's PIT histogram pooled over the cuts (issue
75). Drawn without pyplot (headless, no global state)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, cast

import numpy as np

from sim.analysis.plot import figure_format
from sim.runs.fit.figure import FitFigure
from sim.runs.fit.output import save_fit_figure
from sim.store.worldfile import check_target

if TYPE_CHECKING:
    from matplotlib.figure import Figure


class DrawnCut(Protocol):
    """What the figure reads of a cut (:class:`~sim.runs.backtest.result.CutResult`)."""

    @property
    def label(self) -> str: ...
    @property
    def tick(self) -> int: ...
    @property
    def history(self) -> np.ndarray: ...
    @property
    def truth(self) -> np.ndarray: ...
    @property
    def bands(self) -> dict[str, dict[str, list[float | None]]]: ...


class Drawn(Protocol):
    """What the figure reads of a :class:`~sim.runs.backtest.result.BacktestResult` (a protocol, so that the two
    modules do not import each other)."""

    @property
    def cuts(self) -> Sequence[DrawnCut]: ...
    @property
    def horizon(self) -> int: ...
    @property
    def column(self) -> str: ...
    def table(self) -> dict[str, dict[str, object]]: ...


#: The colours of the methods of a backtest of cascades (``seismic`` is no forecaster of a series); a series'
#: methods are drawn in their forecasters' colours (``result.colours``, :mod:`sim.runs.backtest.methods`).
COLOURS = {"agora": "#1f77b4", "persistence": "#7f7f7f", "seismic": "#2ca02c"}


def _colour(result: object, method: str) -> str:
    """The colour of ``method``: its forecaster's (``result.colours``), else a cascade method's, else another."""
    return dict(getattr(result, "colours", None) or {}).get(method) or COLOURS.get(method, "#9467bd")


def _values(xs: list[float | None]) -> np.ndarray:
    return np.array([np.nan if x is None else x for x in xs], dtype=np.float64)


#: The most panels a figure draws, one per cut: more cuts are sampled evenly (the first and last kept).
MAX_PANELS = 12


def shown(count: int) -> list[int]:
    """The cuts a figure draws a panel for: all up to :data:`MAX_PANELS`, else that many spread evenly."""
    if count <= MAX_PANELS:
        return list(range(count))
    return sorted({int(round(x)) for x in np.linspace(0, count - 1, MAX_PANELS)})


def backtest_figure(result: Drawn) -> Figure:
    """The fan charts (at most :data:`MAX_PANELS`) and the relative WIS (see the module docstring) as one figure."""
    cuts = [result.cuts[i] for i in shown(len(result.cuts))]
    n = len(cuts)
    scored = any(np.isfinite(c.truth).any() for c in result.cuts)  # a forecast past the data has nothing scored
    cols = min(3, max(1, n))
    rows = math.ceil(n / cols) + (2 if scored else 0)
    fig = FitFigure(figsize=(4.2 * cols, 3.0 * rows), layout="constrained")
    grid = fig.add_gridspec(rows, cols)
    h = result.horizon
    for i, cut in enumerate(cuts):
        ax = fig.add_subplot(grid[i // cols, i % cols])
        past = np.arange(cut.history.size)
        ahead = np.arange(cut.tick + 1, cut.tick + 1 + h)
        ax.plot(past, cut.history, color="black", lw=1, label="data up to the cut")
        if scored:
            ax.plot(ahead, cut.truth, "o", color="black", ms=3, mfc="white", label="observed after it")
        for method, band in cut.bands.items():
            colour = _colour(result, method)
            if method == "agora":
                ax.fill_between(ahead, _values(band["q05"]), _values(band["q95"]), color=colour, alpha=0.18, lw=0)
                ax.fill_between(ahead, _values(band["q25"]), _values(band["q75"]), color=colour, alpha=0.3, lw=0)
            elif method == "ensemble":  # its 90 % interval's edges, over Agora's fan
                for q in ("q05", "q95"):
                    ax.plot(ahead, _values(band[q]), color=colour, lw=0.8, ls=":")
            ax.plot(
                ahead, _values(band["q50"]), color=colour, lw=1.4, ls="-" if method == "agora" else "--", label=method
            )
        ax.axvline(cut.tick + 0.5, color="#999999", lw=0.8, ls=":")
        ax.set_title(f"cut {cut.label}" if scored else f"after the last observation, {cut.label}", fontsize=9)
        ax.set_xlabel("tick", fontsize=8)
        ax.tick_params(labelsize=7)
        if i == 0:
            ax.legend(fontsize=7, frameon=False)
    if not scored:
        return fig
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415 - matplotlib only when drawing

    ax = fig.add_subplot(grid[rows - 2, :])
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # horizons are whole ticks
    table = result.table()
    horizons = np.arange(1, h + 1)
    for method, row in table.items():
        rel = _values(cast(list, row["relative_wis"]))
        ax.plot(horizons, rel, "o-", color=_colour(result, method), ms=3, lw=1.2, label=method)
    ax.axhline(1.0, color="#999999", lw=0.8, ls=":")
    ax.set_xlabel("horizon (ticks after the cut)")
    ax.set_ylabel("WIS relative to persistence")
    ax.set_title(f"relative WIS of {result.column}, mean over {len(result.cuts)} cuts", fontsize=9)
    ax.legend(fontsize=8, frameon=False)
    _pit_panel(fig.add_subplot(grid[rows - 1, :]), result, table)
    return fig


def _pit_panel(ax: Any, result: Drawn, table: dict[str, dict[str, object]]) -> None:
    """Each method's PIT histogram (Czado et al. 2009), pooled over the cuts and horizons, as steps beside the
    uniform line of calibrated forecasts."""
    for method, row in table.items():
        pit = _values(cast(list, row.get("pit") or []))
        if pit.size == 0 or not np.isfinite(pit).any():
            continue
        edges = np.linspace(0.0, 1.0, pit.size + 1)
        ax.stairs(pit, edges, color=_colour(result, method), lw=1.4, label=method)
    bins = len(cast(list, next(iter(table.values())).get("pit") or [])) if table else 0
    if bins:
        ax.axhline(1.0 / bins, color="#999999", lw=0.8, ls=":", label="calibrated")
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability integral transform of the truth")
    ax.set_ylabel("share of the truths")
    ax.set_title("PIT histogram (U-shaped: too narrow; a hump: too wide; sloped: biased)", fontsize=9)
    ax.legend(fontsize=8, frameon=False, ncol=4)


class DrawnCascadeCut(Protocol):
    """What the figure reads of a cut of cascades (:class:`~sim.runs.backtest.cascade_run.CascadeCut`)."""

    @property
    def label(self) -> str: ...
    @property
    def truth(self) -> np.ndarray: ...
    @property
    def medians(self) -> dict[str, np.ndarray]: ...


class DrawnCascades(Protocol):
    """What the figure of a backtest of cascades reads (:class:`~sim.runs.backtest.CascadeBacktestResult`)."""

    @property
    def cuts(self) -> Sequence[DrawnCascadeCut]: ...
    @property
    def methods(self) -> list[str]: ...


def cascade_figure(result: DrawnCascades) -> Figure:
    """A backtest of final sizes: per cut, each method's median forecast against each cascade's final size (log
    scales; an infinite forecast drawn at the top edge), the diagonal a perfect forecast."""
    cuts = [result.cuts[i] for i in shown(len(result.cuts))]
    cols = min(4, max(1, len(cuts)))
    rows = math.ceil(max(1, len(cuts)) / cols)
    fig = FitFigure(figsize=(4.0 * cols, 3.6 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[len(cuts) :]:
        ax.set_visible(False)
    for ax, cut in zip(axes, cuts):
        truth, medians = np.asarray(cut.truth, dtype=np.float64), cut.medians
        top = max(
            [float(truth.max(initial=1.0))] + [float(m[np.isfinite(m)].max(initial=1.0)) for m in medians.values()]
        )
        for method in result.methods:
            if method not in medians:
                continue
            m = np.where(np.isfinite(medians[method]), medians[method], top * 1.5)
            ax.scatter(truth, np.maximum(m, 0.5), s=6, alpha=0.5, color=COLOURS.get(method, "#9467bd"), label=method)
        ax.plot([0.5, top * 1.5], [0.5, top * 1.5], color="#999999", lw=0.8, ls=":")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"age {cut.label}: {truth.size:,} cascades", fontsize=9)
        ax.set_xlabel("final size (reshares)", fontsize=8)
        ax.set_ylabel("median forecast (infinite: at the top)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7, frameon=False)
    return fig


def drawn_to(path: str | None, force: bool, make: Callable[[], Figure]) -> Figure:
    """``make()``'s figure, written to ``path`` where one is given (its format and the file checked first).

    Raises:
        BadParameterError: an unknown figure format. TargetExistsError: ``path`` exists and ``force`` is false.
    """
    if path is not None:
        figure_format(path)
        check_target(path, force, what="figure")
    fig = make()
    if path is not None:
        save_backtest_figure(fig, path)
    return fig


def save_backtest_figure(fig: Figure, path: str) -> str:
    """Write ``fig`` to ``path`` as a fit's figure is written (atomically, reproducible metadata); its path."""
    return save_fit_figure(fig, path)
