"""Charts with axes for the terminal UI: plotext figures (``textual-plotext``) built off the event loop.

What a chart shows is a :class:`~sim.analysis.chartspec.ChartSpec` (a title, axis labels, lines or bars of numpy
arrays, a hint when there is nothing to draw; the export draws the same spec as a figure). A :class:`Chart` widget
is handed a spec maker and a key naming the data it came from; it rebuilds only when the key changes, at most every
``min_interval`` seconds (unless forced: another session chosen), and never two builds at once. The spec maker and
plotext run in a thread (a figure of a few lines costs 10 to 20 ms of Python); the widget renders the last text built.
Long series are cut down to about two points per column (plotext's half-block marker draws two per
column) before they reach plotext.

A chart may carry marks: a vertical line at an x with a short label at its top (the interventions applied
in the world, at their tick: :func:`intervention_marks`).

Text in a chart (state, variable, model and world names, the marks' labels) is data: plotext draws it as it
is, the widget reads plotext's ANSI output with ``Text.from_ansi`` (no markup is parsed), and names go through
``sim.live.frontend.shown`` first so that a control character or an escape sequence in a name is shown, not
sent to the terminal.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from rich.text import Text
from textual.timer import Timer
from textual_plotext import PlotextPlot
from textual_plotext.plot import Plot

from sim.errors import AgoraError
from sim.live.frontend import Band, ChartSpec, Line, Mark, export_spec, shown
from sim.live.observed import ObservedOverlay, period_sums
from sim.live.views import ReachCurve, SessionChart, SessionLine

#: plotext keeps state at module level (a figure's build reads it): one build at a time, whatever the figure.
_PLOTEXT = threading.Lock()
#: Lines drawn in the compare view at most (the latest sessions); plotext has about a dozen colours.
MAX_LINES = 10


# -- data ---------------------------------------------------------------------------------------------


def downsample(
    x: np.ndarray, ys: Sequence[np.ndarray], points: int, how: str = "last"
) -> tuple[np.ndarray, list[np.ndarray]]:
    """At most ``points`` points of a series (x ascending), numpy only.

    ``how="last"`` keeps evenly spaced points, the first and the last included (for curves: counts,
    reach); ``"max"`` keeps each bucket's largest value at the bucket's last x (for per-tick figures,
    so that a peak is not lost). A series that short already is returned as it is.
    """
    n = int(x.size)
    points = max(2, int(points))
    if n <= points:
        return x, list(ys)
    if how == "max":
        starts = np.linspace(0, n, points, endpoint=False).astype(np.int64)
        starts = np.unique(starts)
        ends = np.append(starts[1:], n) - 1
        return x[ends], [np.maximum.reduceat(np.asarray(y), starts) for y in ys]
    idx = np.unique(np.linspace(0, n - 1, points).round().astype(np.int64))
    return x[idx], [np.asarray(y)[idx] for y in ys]


def nice_ticks(lo: float, hi: float, count: int = 5, integer: bool = False) -> list[float]:
    """Round tick values (1, 2, 2.5 or 5 times a power of ten apart) from at or below ``lo`` to at or
    above ``hi``: the widest step that gives ``count`` ticks without stretching the range by a quarter
    (``integer``: whole steps only, for counts)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        return [lo]
    top = 10.0 ** math.floor(math.log10(hi - lo))
    steps = [m * top * 10.0**e for e in (0, -1, -2, -3) for m in (5, 2.5, 2, 1)]
    if integer:
        steps = [st for st in steps if st >= 1 and float(st).is_integer()] or [1.0]
    for step in steps:
        first = math.floor(lo / step + 1e-9) * step
        last = math.ceil(hi / step - 1e-9) * step
        n = int(round((last - first) / step)) + 1
        if n >= count and last - first <= 1.25 * (hi - lo):
            break
    return [round(first + i * step, 12) for i in range(n)]


def _unit(v: float) -> tuple[float, str]:
    """The scale and suffix of a short label of ``v`` (``1e3, "k"`` from 10,000 up)."""
    a = abs(v)
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e4, "k")):
        if a >= scale:
            return (1e3 if unit == "k" else scale), unit
    return 1.0, ""


def compact(v: float, digits: int | None = None) -> str:
    """A short axis label: ``950``, ``1.2k``, ``3M``, ``0.25``; with ``digits``, that many decimals at most (in
    the label's unit)."""
    scale, unit = _unit(v)
    s = v / scale
    if digits is not None:
        return (f"{s:.{digits}f}".rstrip("0").rstrip(".") or "0") + unit
    if unit or abs(v) >= 10 or v == int(v):
        text = f"{s:.1f}".rstrip("0").rstrip(".") if s != int(s) else f"{int(s)}"
        return text + unit
    return f"{v:.3g}"


def tick_labels(ticks: Sequence[float]) -> list[str]:
    """The :func:`compact` labels of an axis's ``ticks``, with as many more decimals as it takes to tell each
    from its neighbours and to say each exactly (ticks 0.025 apart about 87 read ``87.125``, ``87.15``..., not
    ``87.1`` each)."""
    labels = [compact(t) for t in ticks]
    if len(set(labels)) == len(labels):
        return labels
    for digits in range(1, 7):
        exact = all(abs(round(t / _unit(t)[0], digits) - t / _unit(t)[0]) < 1e-9 for t in ticks)
        if exact:
            break
    return [compact(t, digits) for t in ticks]


# -- drawing ------------------------------------------------------------------------------------------


def build_text(spec: ChartSpec, width: int, height: int, theme: str | None = None) -> Text:
    """The chart drawn by plotext at ``width`` x ``height`` cells, as rich Text (ANSI colours kept, no
    markup parsed). Runs in a thread: a fresh plotext figure each time, one build at a time."""
    with _PLOTEXT:
        return _build_text(spec, width, height, theme)


def _build_text(spec: ChartSpec, width: int, height: int, theme: str | None) -> Text:
    plt = Plot()
    plt.plotsize(width, height)
    plt._set_size(width, height)  # textual-plotext does both too (its issue #5)
    if theme:
        plt.theme(theme)
    lines = [ln for ln in (*spec.lines, *(b for band in spec.bands for b in band.lines())) if ln.x.size]
    ranges: dict[str, list[float]] = {"left": [], "right": []}  # each y axis's lowest and highest values
    for ln in lines:
        y = np.asarray(ln.y, dtype=np.float64)
        x = np.asarray(ln.x, dtype=np.float64)
        ok = np.isfinite(y) & np.isfinite(x)
        x, y = x[ok], y[ok]
        if not x.size:
            continue
        side = "right" if ln.right else "left"
        ranges[side] += [float(y.min()), float(y.max())]
        if spec.bars:
            w = float(np.diff(spec.edges).min()) if spec.edges is not None and spec.edges.size > 1 else 1.0
            plt.bar(x.tolist(), y.tolist(), width=0.8, label=ln.label or None)
            if spec.edges is not None and spec.edges.size > 1:
                edges = spec.edges
                ticks = [t for t in nice_ticks(float(edges[0]), float(edges[-1]), 4) if edges[0] <= t <= edges[-1]]
                plt.xticks(ticks, tick_labels(ticks))
                plt.xlim(float(edges[0]) - 0.1 * w, float(edges[-1]) + 0.1 * w)
        else:
            style = {k: v for k, v in (("color", ln.color), ("marker", ln.marker)) if v is not None}
            draw = plt.scatter if ln.points else plt.plot
            draw(x.tolist(), y.tolist(), label=ln.label or None, yside=side, **style)
    lows = ranges["left"] + ranges["right"]
    rows = height - 5  # the title, two borders, the x ticks and the axis labels take the rest
    yrange: tuple[float, float] | None = None
    for side, values in ranges.items():
        if not values:
            continue
        lo = 0.0 if spec.from_zero else min(values)
        hi = max(values)
        if hi <= lo:
            hi = lo + 1.0
        yticks = nice_ticks(lo, hi, max(2, min(5, rows // 2)), integer=spec.integer)
        plt.yticks(yticks, tick_labels(yticks), yside=side)  # type: ignore[arg-type]  # plotext: "left"/"right"
        plt.ylim(yticks[0], yticks[-1], yside=side)  # type: ignore[arg-type]  # as above
        yrange = yrange or (yticks[0], yticks[-1])
    if yrange is not None and not spec.bars:
        xs = np.concatenate([np.asarray(ln.x, dtype=np.float64) for ln in lines])
        xlo, xhi = float(xs.min()), float(xs.max())
        if xhi <= xlo:
            xhi = xlo + 1.0
        xticks = [t for t in nice_ticks(xlo, xhi, max(2, min(6, width // 12)), integer=True) if xlo <= t <= xhi]
        plt.xticks(xticks, tick_labels(xticks))
        plt.xlim(xlo, xhi)
        _draw_marks(plt, spec.marks, (xlo, xhi), yrange, rows)
    title = spec.title if lows or not spec.hint else f"{spec.title}: {spec.hint}" if spec.title else spec.hint
    plt.title(title)
    plt.xlabel(spec.xlabel)
    plt.ylabel(spec.ylabel)
    if ranges["right"]:
        plt.ylabel(spec.ylabel2, yside="right")  # type: ignore[call-arg]  # plotext's figure takes it (its stub not)
    return Text.from_ansi(plt.build())


#: The colour of the marks' lines and labels.
MARK_COLOR = "red"
#: Characters of a mark's label at most.
MARK_LABEL = 24


def _draw_marks(plt: Any, marks: Sequence[Mark], xs: tuple[float, float], ys: tuple[float, float], rows: int) -> None:
    """Each mark within ``xs`` as a vertical line, its label at the top, to the right of the line (to its
    left past the middle, so it stays inside); labels of neighbouring marks step down a row so they do not
    cover each other."""
    xlo, xhi = xs
    ylo, yhi = ys
    row = (yhi - ylo) / max(1, rows - 1)
    shown_marks = sorted((m for m in marks if xlo <= m.x <= xhi), key=lambda m: m.x)
    for j, mark in enumerate(shown_marks):
        plt.vline(mark.x, MARK_COLOR)
        right = mark.x <= xlo + 0.6 * (xhi - xlo)
        y = yhi - (j % 3) * row
        plt.text(shown(mark.label, MARK_LABEL), mark.x, y, color=MARK_COLOR, alignment="left" if right else "right")


class Chart(PlotextPlot):
    """A plotext chart that redraws only when its data changed, off the event loop.

    Call :meth:`show` with the key of the data whenever it may have changed; the chart rebuilds when the key
    is new (at most every ``min_interval`` seconds unless ``force``: data given sooner is drawn when the
    interval is over, unless newer data comes first) or its size or theme changed.
    """

    DEFAULT_CSS = """
    Chart { width: 1fr; height: 1fr; }
    """

    def __init__(self, *, min_interval: float = 0.3, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.min_interval = min_interval
        #: The spec drawn last (or being drawn), and the key of its data.
        self.spec: ChartSpec | None = None
        self.key: Any = None
        self._make: Callable[[int], ChartSpec] | None = None
        self._text: Text | None = None
        self._built_for: Any = None
        self._shown_at = -math.inf
        self._building = False
        self._wanted = False
        #: Data given too soon after the last (key and spec maker), drawn when the interval is over.
        self._pending: tuple[Any, Callable[[int], ChartSpec]] | None = None
        self._pending_timer: Timer | None = None
        self.builds = 0

    def show(self, key: Any, make: Callable[[int], ChartSpec], *, force: bool = False) -> bool:
        """Draw what ``make(points)`` describes (called in a thread; ``points``: how many points fit
        across) when ``key`` differs from the key drawn; returns whether a redraw was asked for."""
        if key == self.key and self._make is not None:
            self._pending = None  # the data drawn is the latest
            return False
        wait = self._shown_at + self.min_interval - time.monotonic()
        if not force and wait > 0:
            self._pending = (key, make)  # too soon: drawn when the interval is over
            if self._pending_timer is None:
                self._pending_timer = self.set_timer(wait, self._show_pending)
            return False
        self._pending = None
        self.key, self._make, self._shown_at = key, make, time.monotonic()
        self._request()
        return True

    @property
    def maker(self) -> Callable[[int], ChartSpec] | None:
        """The spec maker of the data drawn last (None before any): called with a number of points, the chart on
        screen at that resolution (the export draws it so)."""
        return self._make

    def _show_pending(self) -> None:
        self._pending_timer = None
        if self._pending is not None:
            key, make = self._pending
            self.show(key, make)

    def due(self, key: Any, *, force: bool = False) -> bool:
        """Whether :meth:`show` with ``key`` would redraw now (callers skip gathering data otherwise)."""
        if key == self.key and self._make is not None:
            return False
        return force or time.monotonic() - self._shown_at >= self.min_interval

    @property
    def settled(self) -> bool:
        """Whether the text on screen is built from the latest key (and size), with no build under way."""
        return not self._building and not self._wanted and self._pending is None and self._built_for == self._target()

    @property
    def text(self) -> str:
        """The chart's text as plain characters (what the terminal shows)."""
        return self._text.plain if self._text is not None else ""

    def _target(self) -> Any:
        return (self.key, self.size.width, self.size.height, self._get_plotext_theme_name(self.app.theme))

    def _request(self) -> None:
        if self._make is None or self.size.width < 8 or self.size.height < 4:
            return  # not on screen yet: a resize asks again
        if self._building:
            self._wanted = True
            return
        self._building = True
        # The method, not a coroutine made now: a worker the app never starts (it is closing) leaves nothing
        # un-awaited behind (a RuntimeWarning at the next garbage collection).
        self.run_worker(self._build, group="chart", exit_on_error=False)  # type: ignore[arg-type]  # Textual runs it

    async def _build(self) -> None:
        try:
            while True:
                self._wanted = False
                target = self._target()
                make, (_, width, height, theme) = self._make, target
                assert make is not None
                try:
                    spec, text = await asyncio.to_thread(_make_and_build, make, width, height, theme)
                except Exception as exc:  # noqa: BLE001 - a chart that cannot be drawn says why; the app goes on
                    spec, text = None, Text(shown(f"the chart could not be drawn: {type(exc).__name__}: {exc}", 300))
                self.spec, self._text, self._built_for = spec, text, target
                self.builds += 1
                self.refresh()
                if not self._wanted and self._target() == target:
                    break
        finally:
            self._building = False

    def on_resize(self) -> None:
        if self._built_for != self._target():
            self._request()

    def render(self) -> Any:
        if self._built_for is not None and self._built_for[1:] != self._target()[1:]:
            self._request()  # the theme changed: draw again (the old text meanwhile)
        return self._text if self._text is not None else Text("")


async def export_shown(app: Any, spec: ChartSpec, base: str, what: str) -> tuple[str, ...] | None:
    """``spec`` (a chart as shown) to PNG and SVG, its numbers to JSON, under the saves folder's exports, never over
    an earlier export; ``app`` says which files (``WHAT exported: ...``) or why not. Returns the files (None: none)."""
    try:
        paths = await asyncio.to_thread(export_spec, spec, base)
    except (AgoraError, OSError) as exc:
        app.notify(f"the chart could not be exported: {exc}", severity="error", markup=False)
        return None
    app.notify(f"{what} exported: " + ", ".join(shown(os.path.basename(p), 60) for p in paths), markup=False)
    return tuple(paths)


def _make_and_build(make: Callable[[int], ChartSpec], width: int, height: int, theme: str) -> tuple[ChartSpec, Text]:
    spec = make(max(16, 2 * width))
    return spec, build_text(spec, width, height, theme)


# -- what the views draw ------------------------------------------------------------------------------


def session_title(session: SessionLine) -> str:
    """``session 3 · sir · running`` (the model's name shown literally)."""
    return f"session {int(session.id)} · {shown(session.model_name, 30)} · {session.status}"


#: The x axis of the Dashboard's charts, the session's and the world's alike: the world's tick.
WORLD_TICK = "tick"


def session_spec(
    title: str,
    state_names: Sequence[str],
    ticks: np.ndarray,
    counts: np.ndarray,
    points: int,
    hint: str = "",
    marks: tuple[Mark, ...] = (),
    bands: tuple[Band, ...] = (),
) -> ChartSpec:
    """One line per state: the count of agents in it per world tick (downsampled to ``points``); ``marks``
    at world ticks; ``bands``: a forecast's arms ahead of the present. The axis is the world's charts'
    (:data:`WORLD_TICK`), so the two line up."""
    x, ys = downsample(ticks, [counts[:, i] for i in range(counts.shape[1])], points)
    lines = tuple(Line(shown(name, 24), x, y) for name, y in zip(state_names, ys)) if ticks.size else ()
    return ChartSpec(title, WORLD_TICK, "agents", lines, hint=hint, marks=marks, bands=bands)


def group_spec(
    title: str,
    by: str,
    counted: tuple[np.ndarray, Mapping[str, np.ndarray]] | str | None,
    points: int,
    hint: str = "",
    marks: tuple[Mark, ...] = (),
) -> ChartSpec:
    """The session's new infections per tick by group (``new@GROUP`` lines, summing to its ``new``: labelled by
    the group alone, on the world's ticks); ``counted`` is the sentence that says why they cannot be counted
    (drawn as the hint) or None before any."""
    shown_title = f"{title} · new by {shown(by, 30)}"
    if isinstance(counted, str) or counted is None or not counted[0].size:
        why = counted if isinstance(counted, str) else hint or "no tick yet"
        return ChartSpec(shown_title, WORLD_TICK, "new agents per tick", hint=why, marks=marks)
    ticks, groups = counted
    x, ys = downsample(ticks, [np.asarray(v, dtype=np.float64) for v in groups.values()], points, how="max")
    lines = tuple(Line(shown(name.removeprefix("new@"), 24), x, y) for name, y in zip(groups, ys))
    return ChartSpec(shown_title, WORLD_TICK, "new agents per tick", lines, hint=hint, marks=marks)


#: How an observed series is drawn: points of this marker and colour, labelled ``observed MEASURE``.
OBSERVED_MARKER = "x"
OBSERVED_COLOR = "orange"


def observed_spec(
    title: str,
    session: SessionChart,
    overlay: ObservedOverlay,
    live: Mapping[str, np.ndarray],
    start: int,
    points: int,
    hint: str = "",
    marks: tuple[Mark, ...] = (),
    arms: Sequence[Any] = (),
) -> ChartSpec:
    """The session's live measures that ``overlay`` observes (a state's count from the chart, another measure from
    ``live``), each beside the observed points of the same measure (:data:`OBSERVED_MARKER`, labelled ``observed
    MEASURE``), in the data's time: its tick ``t`` is drawn at world tick ``overlay.at(start)`` (each spans
    ``overlay.period`` world ticks), and a count of events over a span of several ticks (weekly cases on daily ticks)
    is compared with the session's count summed over the same ticks, never one tick's. A measure the session does
    not have is left out; with none left, the session's states are drawn as :func:`session_spec` draws them, and
    the title says so. Before the session's first tick (no model yet, so no measures) every observed column is
    drawn. ``arms`` (a forecast's) are drawn as the bands of the first observed measure they have, on the same
    span. Measures of scales more than :data:`SECOND_AXIS` apart from the first's go on a second y axis."""
    states = list(session.state_names)
    period, per = int(overlay.period), overlay.tick or ""
    drawn: list[tuple[str, list[Line]]] = []
    for measure, seen in overlay.columns.items():
        values: np.ndarray | None = None
        if measure in states:
            values = session.counts[:, states.index(measure)]
        elif measure in live:
            values = live[measure]
        if values is None and session.ticks.size:
            continue
        summed = period > 1 and overlay.counts_events(measure)
        lines: list[Line] = []
        if values is not None and session.ticks.size and values.size == session.ticks.size:
            x, y = period_sums(session.ticks, values, period, start) if summed else (session.ticks, values)
            x, (y,) = downsample(x, [y], points)
            lines.append(Line(shown(measure, 24) + (f" per {per}" if summed else ""), x, y))
        ox, (oy,) = downsample(overlay.at(start), [seen], points)
        lines.append(Line(f"observed {shown(measure, 24)}", ox, oy, OBSERVED_COLOR, OBSERVED_MARKER, points=True))
        drawn.append((measure, lines))
    if not drawn:
        reach = forecast_bands(arms, points)
        spec = session_spec(title, states, session.ticks, session.counts, points, hint, marks, reach)
        return dataclasses.replace(spec, title=f"{title} (no measure of this session observed)")
    right = _second_axis(drawn)
    banded = next((m for m, _ in drawn if any(a.band(m) is not None for a in arms)), None)
    bands: tuple[Band, ...] = ()
    if arms and banded is not None:
        each = period if period > 1 and overlay.counts_events(banded) else 1
        bands = forecast_bands(arms, points, banded, each, start)
        bands = tuple(dataclasses.replace(b, right=banded in right) for b in bands)
        title = f"{title} · forecast of {shown(banded, 24)}"
    elif arms:
        title = f"{title} · forecast not drawn: it has no measure the series observes"
    placed = tuple(dataclasses.replace(ln, right=m in right) for m, group in drawn for ln in group)
    left = [m for m, _ in drawn if m not in right]
    return ChartSpec(
        title,
        _observed_xlabel(overlay),
        _axis_label(left, overlay, named=bool(right)),
        placed,
        hint=hint,
        marks=marks,
        bands=bands,
        ylabel2=_axis_label(sorted(right, key=[m for m, _ in drawn].index), overlay, named=True) if right else "",
    )


#: How far apart (a factor of their largest values) two observed measures' scales are when the second is drawn on
#: a second y axis: weekly cases in tens beside agents ever reached in thousands would lie flat at 0 on one.
SECOND_AXIS = 5.0


def _second_axis(drawn: Sequence[tuple[str, Sequence[Line]]]) -> set[str]:
    """The measures drawn on the second y axis: those whose largest value (live or observed) is more than
    :data:`SECOND_AXIS` times above or below the first measure's."""

    def top(lines: Sequence[Line]) -> float:
        values = [float(np.nanmax(ln.y)) for ln in lines if ln.y.size and np.isfinite(ln.y).any()]
        return max([v for v in values if v > 0], default=0.0)

    first = top(drawn[0][1])
    out = set()
    for measure, lines in drawn[1:]:
        scale = top(lines)
        if first > 0 and scale > 0 and max(scale / first, first / scale) > SECOND_AXIS:
            out.add(measure)
    return out


def _axis_label(measures: Sequence[str], overlay: ObservedOverlay, named: bool) -> str:
    """A y axis's label: ``agents`` (after its measures' names where there are two axes), and where its measures
    count events over the data's span, per what span (``agents per 1w``)."""
    summed = overlay.period > 1 and any(overlay.counts_events(m) for m in measures)
    names = ", ".join(shown(m, 16) for m in measures[:3]) + ": " if named else ""
    return f"{names}agents" + (f" per {overlay.tick}" if summed else "")


def _observed_xlabel(overlay: ObservedOverlay) -> str:
    """The x axis beside an observed series: the world's tick, with how long it lasts and how the data's rows sit
    on it where the data keep their own time (``tick (1d) · observed: a point per 1w, at its first tick``)."""
    if overlay.world_tick is None:
        return WORLD_TICK
    if overlay.period == 1:
        return f"{WORLD_TICK} ({overlay.world_tick}, a row of the data each)"
    return f"{WORLD_TICK} ({overlay.world_tick}) · observed: a point per {overlay.tick}, at its first tick"


#: The forecast arms' colours, in the order of the arms (the states' lines take plotext's own).
ARM_COLORS = ("cyan+", "magenta+", "orange+", "green+", "blue+", "red+", "gray+", "white")


def forecast_bands(
    arms: Sequence[Any], points: int, measure: str = "reached", period: int = 1, origin: int = 0
) -> tuple[Band, ...]:
    """Each arm of a forecast (``tui.forecast.ArmView``: ``name``, world ``ticks``, ``band(measure)``: its 5 %,
    median and 95 % of ``measure``) as a :class:`Band` in its own colour, labelled with its name (downsampled to
    ``points``); an arm without that measure is left out. With ``period`` above 1, each run's count summed over
    periods of that many ticks from ``origin`` first (``ArmView.period_band``: the band of the sums, not the sum of
    the bands), a point at each period's first tick."""
    out = []
    for i, arm in enumerate(arms):
        if period > 1:
            summed = arm.period_band(measure, period, origin)
            if summed is None:
                continue
            ticks, band = summed[0], summed[1:]
        else:
            band, ticks = arm.band(measure), arm.ticks
        if not ticks.size or band is None:
            continue
        x, (low, median, high) = downsample(ticks, list(band), points)
        out.append(Band(shown(arm.name, 20), x, low, median, high, ARM_COLORS[i % len(ARM_COLORS)]))
    return tuple(out)


def histogram_spec(title: str, name: str, values: np.ndarray, bins: int = 20) -> ChartSpec:
    """The histogram of a variable's values (one per agent): ``bins`` equal bins from min to max."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)] if not np.isfinite(v).all() else v
    if not v.size:
        return ChartSpec(title, shown(name, 40), "agents", hint="no values")
    lo, hi = float(v.min()), float(v.max())
    counts, edges = np.histogram(v, bins=bins, range=(lo, hi) if hi > lo else (lo - 0.5, lo + 0.5))
    centres = (edges[:-1] + edges[1:]) / 2
    return ChartSpec(
        title,
        shown(name, 40),
        "agents",
        (Line("", centres, counts),),
        bars=True,
        edges=edges,
        extra={"mean": float(v.mean())},
    )


def metric_spec(
    title: str,
    ylabel: str,
    history: Sequence[Mapping[str, Any]],
    series: Sequence[tuple[str, str]],
    points: int,
    empty: str = "no tick yet",
    marks: tuple[Mark, ...] = (),
) -> ChartSpec:
    """Per-tick figures of the world (``series``: metric key, legend label) over ``history``, the
    simulation's metrics of the latest ticks; buckets keep their largest value when downsampled.
    ``empty`` is the hint shown while the history is empty; ``marks`` are at world ticks."""
    if not history:
        return ChartSpec(title, WORLD_TICK, ylabel, hint=empty)
    ticks = np.fromiter((m.get("tick", i) for i, m in enumerate(history)), dtype=np.int64, count=len(history))
    ys = [np.fromiter((m.get(key, 0) for m in history), dtype=np.float64, count=len(history)) for key, _ in series]
    x, ys = downsample(ticks, ys, points, how="max")
    lines = tuple(Line(label, x, y) for (_, label), y in zip(series, ys))
    return ChartSpec(title, WORLD_TICK, ylabel, lines, marks=marks)


def memory_spec(samples: Sequence[float], points: int) -> ChartSpec:
    """The process's resident memory over the last samples (one a second), in MB."""
    y = np.asarray(samples, dtype=np.float64)
    if y.size < 2:
        return ChartSpec("memory (RSS)", "seconds", "MB", hint="measuring")
    x = np.arange(-y.size + 1, 1, dtype=np.int64)
    x, (y,) = downsample(x, [y], points)
    return ChartSpec("memory (RSS)", "seconds", "MB", (Line("", x, y),), from_zero=False, integer=False)


def reach_curves(curves: Sequence[ReachCurve]) -> list[tuple[str, np.ndarray]]:
    """Each started session's reach per tick since its start (the cumulative sum of its adoption
    curve, seeds included), labelled ``session N (model)``."""
    return [(f"session {c.line.id} ({shown(c.line.model_name, 24)})", c.reach) for c in curves if c.reach.size]


def compare_spec(
    title: str,
    curves: Sequence[tuple[str, np.ndarray]],
    points: int,
    hint: str = "",
    *,
    starts: Sequence[int] | None = None,
    marks: tuple[Mark, ...] = (),
) -> ChartSpec:
    """One reach line per session, aligned on each session's start; with ``starts`` (each curve's first
    tick), on the world's ticks instead, where ``marks`` (at world ticks) are drawn across every line."""
    lines = []
    for j, (label, reach) in enumerate(curves):
        first = 0 if starts is None else int(starts[j])
        x, (y,) = downsample(np.arange(reach.size, dtype=np.int64) + first, [reach], points)
        lines.append(Line(label, x, y))
    xlabel = "tick since start" if starts is None else "tick"
    marks = marks if starts is not None else ()  # aligned on each start, no world tick is one x
    return ChartSpec(title, xlabel, "agents reached", tuple(lines), hint=hint, marks=marks)


def intervention_marks(applied: Sequence[tuple[int, str]]) -> tuple[Mark, ...]:
    """Marks of the interventions ``applied`` (``(tick, spec)`` pairs) at their world ticks, labelled with
    their spec (shown literally, cut)."""
    return tuple(Mark(float(tick), shown(spec, MARK_LABEL)) for tick, spec in applied)


__all__ = [
    "Chart",
    "ChartSpec",
    "Line",
    "Mark",
    "build_text",
    "compact",
    "export_shown",
    "tick_labels",
    "compare_spec",
    "downsample",
    "histogram_spec",
    "intervention_marks",
    "memory_spec",
    "metric_spec",
    "nice_ticks",
    "group_spec",
    "observed_spec",
    "reach_curves",
    "session_spec",
    "session_title",
]
