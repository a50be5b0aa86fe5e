"""Figures of series: the mean of each measure per tick over a combination's runs, with a 95 % band.

Runs of one combination are aligned on tick 0..T (T: the longest run). A run that ended early is padded:
every measure keeps its last value (the state counts and ``reached`` of an ended cascade no longer
change), except the per-tick counts (``new``, ``new.STATE``, ``onsets``, ``removals``), which are 0 after
the end. The band is the Student-t 95 % interval of the mean
(:func:`sim.core.stats.mean_ci95_columns`); for counts it is clipped to ``[0, N]``, N being the number of
agents (the sum of the state counts at tick 0). Variables' moments (measures with a dot, ``x.mean``) are
not clipped.

matplotlib is imported only when a figure is drawn (``import sim`` stays fast), and drawing goes through
``matplotlib.figure.Figure`` with no pyplot and no global backend: it needs no display and is thread-safe.
"""

from __future__ import annotations

import csv
import gzip
import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from sim.core.cascade import ccdf, forest_of_rows
from sim.core.diskio import replacing
from sim.core.safe import shown
from sim.core.stats import mean_ci95_columns
from sim.errors import BadFileError, BadParameterError
from sim.model.series import is_tick_count
from sim.store.cascadeio import CASCADE_COLUMNS, CCDF_COLUMNS, read_cascades, read_ccdf
from sim.store.seriesio import SeriesTable, read_series, table_from_records

#: The figure formats, by file extension.
FORMATS = ("png", "svg", "pdf")
#: Count measures that are not states (their sum is not the number of agents).
_NOT_STATES = ("reached", "new")
_LEGEND_INSIDE = 8  # more lines than this: the legend goes beside the axes
_LEGEND_ROWS = 22  # lines per legend column beside the axes


def figure_format(output: str) -> str:
    """``png``, ``svg`` or ``pdf`` from the output's extension.

    Raises:
        BadParameterError: any other extension.
    """
    ext = os.path.splitext(output)[1].lower().lstrip(".")
    if ext not in FORMATS:
        raise BadParameterError(f"figure {output!r} has an unknown extension: name it .png, .svg or .pdf")
    return ext


def check_figure_path(output: str) -> str:
    """Check, before any work, that ``output`` names a figure format (see :func:`figure_format`)."""
    return figure_format(output)


def is_count(measure: str) -> bool:
    """Counts of agents are the measures without a dot; ``x.mean`` and the like are variables' moments."""
    return "." not in measure


def state_measures(table: SeriesTable) -> list[str]:
    """The measures that are the model's states: every count but ``reached`` and the per-tick counts (``new``,
    ``onsets``, ``removals``)."""
    return [m for m in table.measures() if is_count(m) and m not in _NOT_STATES and not is_tick_count(m)]


def bounds(table: SeriesTable, combination: tuple[Any, ...], measure: str) -> tuple[float | None, float | None]:
    """The range a measure's mean can take: ``(0, N)`` for counts (N: the states' sum at tick 0 of the
    combination's first run; ``(0, None)`` when the table has no states), unbounded for moments."""
    if not is_count(measure):
        return None, None
    states = state_measures(table)
    if not states:
        return 0.0, None
    mask = table.combination_mask(combination)
    runs = table.run[mask]
    if not runs.size:
        return 0.0, None
    rows = mask & (table.run == runs[0]) & (table.tick == 0) & np.isin(table.measure, states)
    if not rows.any():
        return 0.0, None
    return 0.0, float(table.value[rows].sum())


def run_matrix(table: SeriesTable, combination: tuple[Any, ...], measure: str) -> np.ndarray:
    """One row per run of the combination (in run order), one column per tick 0..T, padded as the
    module says (last value carried forward; ``new`` padded with 0).

    Raises:
        BadFileError: a run's ticks are not 0, 1, 2, ... (a gap or a repeated tick).
        BadParameterError: the combination has no row of that measure.
    """
    mask = table.combination_mask(combination) & (table.measure == measure)
    run, tick, value = table.run[mask], table.tick[mask], table.value[mask]
    if not run.size:
        raise BadParameterError(
            f"series file {table.source or '(in memory)'} has no measure {measure!r} for {_combo(table, combination)}"
        )
    order = np.lexsort((tick, run))
    run, tick, value = run[order], tick[order], value[order]
    runs, start, counts = np.unique(run, return_index=True, return_counts=True)
    position = np.arange(run.size) - np.repeat(start, counts)
    bad = np.flatnonzero(tick != position)
    if bad.size:
        i = int(bad[0])
        problem = (
            f"has tick {tick[i]} twice"
            if 0 <= tick[i] < position[i]
            else f"has tick {tick[i]}"
            if tick[i] < 0
            else f"has no tick {position[i]}"
        )
        raise BadFileError(
            f"series file {table.source or '(in memory)'}: run {run[i]} of {_combo(table, combination)} {problem} "
            f"for measure {shown(measure, 40)} (the ticks of a run must be 0, 1, 2, ... as agora run writes a "
            "series file)"
        )
    width = int(counts.max())
    matrix = np.empty((runs.size, width), dtype=np.float64)
    matrix[np.repeat(np.arange(runs.size), counts), tick] = value
    pad = np.zeros(runs.size) if is_tick_count(measure) else value[start + counts - 1]
    after_end = np.arange(width)[None, :] >= counts[:, None]
    return np.where(after_end, pad[:, None], matrix)


def aggregate(
    table: SeriesTable, combination: tuple[Any, ...], measure: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The curve of one measure of one combination: ``(ticks, mean, low, high)`` over tick 0..T.

    ``low``/``high`` bound the 95 % interval of the mean across runs, clipped by :func:`bounds`; with one
    run the band is the line itself.
    """
    matrix = run_matrix(table, combination, measure)
    lo, hi = bounds(table, combination, measure)
    mean, low, high = mean_ci95_columns(matrix, lo, hi)
    return np.arange(matrix.shape[1]), mean, low, high


def _value_text(v: Any) -> str:
    return repr(v) if isinstance(v, float) else str(v)


def _combo(table: SeriesTable, combination: tuple[Any, ...]) -> str:
    if not table.key_names:
        return "the file"
    return ", ".join(f"{k}={_value_text(v)}" for k, v in zip(table.key_names, combination))


def literal_label(text: str) -> str:
    """Text shown as it is: no control characters, no mathtext (a ``$`` is a dollar sign)."""
    return shown(text, 80).replace("$", r"\$")


def _line_label(file_label: str | None, table: SeriesTable, combination: tuple[Any, ...], measure: str) -> str:
    parts = []
    if file_label:  # a long file label keeps its end: the name tells the files apart
        parts.append(shown(file_label) if len(file_label) <= 50 else "…" + shown(file_label[-49:]))
    if table.key_names:
        parts.append(shown(_combo(table, combination), 80))
    prefix = ", ".join(parts)
    return f"{prefix}: {shown(measure, 40)}" if prefix else shown(measure, 40)


def plot_tables(
    tables: list[tuple[str, SeriesTable]], output: str, measures: Sequence[str] | None = None, title: str | None = None
) -> dict[str, Any]:
    """Draw series tables in one figure and write it to ``output`` (PNG, SVG or PDF, by its extension).

    Args:
        tables: ``(label, table)`` pairs; the label (a file name) prefixes the line labels when there are
            several tables.
        output: the figure file; written atomically.
        measures: the measures to draw (each must be in at least one table); None: every measure.
        title: the figure's title (default: the labels).

    Returns:
        ``{"output", "format", "lines", "labels", "measures", "files", "combinations", "runs"}``.

    Raises:
        BadParameterError: an unknown extension, or a measure that no table has.
        BadFileError: an empty table, ticks that are not 0, 1, 2, ... within a run, an unwritable output.
    """
    fmt = figure_format(output)
    if not tables:
        raise BadParameterError("nothing to plot: give at least one series file")
    for label, table in tables:
        if len(table) == 0:
            raise BadFileError(f"series file {table.source or label} holds no rows: give a series file agora run wrote")
    available = list(dict.fromkeys(m for _, t in tables for m in t.measures()))
    wanted = list(dict.fromkeys(measures)) if measures else None
    if wanted:
        missing = [m for m in wanted if m not in available]
        if missing:
            raise BadParameterError(
                f"measure {shown(missing[0], 40)!r} is in none of the series: the measures are "
                f"{', '.join(shown(m, 40) for m in available)}"
            )

    several = len(tables) > 1
    lines: list[tuple[str, str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    combinations = runs = 0
    for label, table in tables:
        runs += table.runs()
        table_measures = [m for m in (wanted or table.measures()) if m in table.measures()]
        for combination, mask in table.groups():
            combinations += 1
            present = set(np.unique(table.measure[mask]).tolist())
            for measure in table_measures:
                if measure in present:
                    ticks, mean, low, high = aggregate(table, combination, measure)
                    lines.append(
                        (
                            _line_label(label if several else None, table, combination, measure),
                            measure,
                            ticks,
                            mean,
                            low,
                            high,
                        )
                    )
    drawn = list(dict.fromkeys(line[1] for line in lines))
    default_title = " + ".join(label for label, _ in tables)
    _draw(
        lines,
        output,
        fmt,
        title if title is not None else default_title,
        y_label="value" if all(not is_count(m) for m in drawn) else "agents",
    )
    return {
        "output": os.path.abspath(output),
        "format": fmt,
        "lines": len(lines),
        "labels": [line[0] for line in lines],
        "measures": drawn,
        "files": [t.source or label for label, t in tables],
        "combinations": combinations,
        "runs": runs,
    }


def session_table(series: dict[str, list], source: str = "") -> SeriesTable:
    """One session's series (``sim.model.series.series_dict``) as a table of one run, as ``agora run
    --series`` would write it. A session restored from a file older than series recording starts its
    series at a later round: its ticks are counted from 0 here, as :func:`run_matrix` wants."""
    ticks = list(series.get("tick", []))
    if ticks and ticks[0] != 0:
        series = {**series, "tick": list(range(len(ticks)))}
    return table_from_records([{"keys": {}, "run": 0, "series": series}], (), source=source)


def plot_sessions(
    series: Sequence[tuple[str, dict[str, list]]],
    output: str,
    measures: Sequence[str] | None = None,
    title: str | None = None,
) -> dict[str, Any]:
    """Draw sessions' series (``(label, series_dict(session))`` pairs) in one figure with
    :func:`plot_tables`: the terminal UI's chart export. Sessions with no tick yet are left out.

    Raises:
        BadParameterError: no session with a tick, an unknown extension, a measure no session has.
        BadFileError: an unwritable output.
    """
    tables = [(label, session_table(s, source=label)) for label, s in series if len(s.get("tick", []))]
    if not tables:
        raise BadParameterError("no session has a tick to draw yet: run the world first")
    return plot_tables(tables, output, measures=measures, title=title)


def _colours(n: int) -> list[Any]:
    from matplotlib import colormaps  # noqa: PLC0415 - heavy (~1 s to import), needed only for figures

    if n <= 10:
        return [colormaps["tab10"](i) for i in range(n)]
    # tab20 holds ten dark/light pairs: the ten dark colours first, then their light partners.
    order = list(range(0, 20, 2)) + list(range(1, 20, 2))
    return [colormaps["tab20"](order[i % 20]) for i in range(n)]


def _draw(
    lines: list[tuple[str, str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    output: str,
    fmt: str,
    title: str,
    y_label: str,
) -> None:
    import matplotlib  # noqa: PLC0415 - heavy (~1 s to import), needed only for figures
    from matplotlib.figure import Figure  # noqa: PLC0415 - heavy (~1 s to import), needed only for figures
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415 - heavy (~1 s to import), needed only for figures

    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "agora", "pdf.fonttype": 42}):
        fig = Figure(figsize=(9, 5.5), dpi=150, layout="constrained" if len(lines) <= _LEGEND_INSIDE else None)
        ax = fig.add_subplot()
        handles = []
        colours = _colours(len(lines))
        styles = ("-", "--", ":", "-.")
        for i, (_, _, ticks, mean, low, high) in enumerate(lines):
            colour = colours[i]
            style = styles[(i // 20) % len(styles)]  # tab20 repeats after 20 lines: change the dash instead
            ax.fill_between(ticks, low, high, color=colour, alpha=0.18, linewidth=0)
            (handle,) = ax.plot(ticks, mean, color=colour, linestyle=style, linewidth=1.6)
            handles.append(handle)
        labels = [literal_label(line[0]) for line in lines]
        ax.set_xlabel("tick")
        ax.set_ylabel(y_label)
        ax.set_title(literal_label(title) if title else "")
        ax.grid(True, alpha=0.3, linewidth=0.6)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if lines:
            ax.set_xlim(0, max(1, max(int(line[2][-1]) for line in lines)))
        if y_label == "agents":
            ax.set_ylim(bottom=0)
        # Explicit handles and labels: a label starting with "_" is still shown (matplotlib would hide it).
        if len(lines) <= _LEGEND_INSIDE:
            ax.legend(handles, labels, loc="best", fontsize="small", framealpha=0.9)
        else:
            ax.legend(
                handles,
                labels,
                loc="upper left",
                bbox_to_anchor=(1.01, 1.0),
                borderaxespad=0,
                fontsize="small" if len(lines) <= 2 * _LEGEND_ROWS else "x-small",
                ncols=math.ceil(len(lines) / _LEGEND_ROWS),
                framealpha=0.9,
            )
        metadata = {"png": {"Software": None}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}[fmt]
        save_figure(fig, output, fmt, metadata)


def plot_cascade_groups(
    groups: Sequence[tuple[str, np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]],
    output: str,
    title: str | None = None,
) -> dict[str, Any]:
    """The cascade figures, one colour per group (an arm of a file): the complementary CDF of cascade sizes
    on log-log axes (``P(S >= s)``, drawn as steps) and, where the runs' trees are known, structural virality
    against size, one point per run, size on a log axis — the figure of Goel, Anderson, Hofman and Watts
    (2016). ``groups`` holds ``(label, sizes, ccdf, run sizes, run virality)``; the last two are None for a
    ``--ccdf`` file (the figure is then the CCDF alone).

    Returns:
        ``{"output", "format", "groups", "labels", "runs", "panels"}`` (``runs``: runs with a tree drawn).

    Raises:
        BadParameterError: an unknown figure format, or nothing to draw.
    """
    fmt = figure_format(output)
    if not any(len(values) for _, values, _, _, _ in groups):
        raise BadParameterError("there is no cascade to draw: no run with a tree is in the file")
    import matplotlib  # noqa: PLC0415 - heavy (~1 s to import), needed only for figures
    from matplotlib.figure import Figure  # noqa: PLC0415 - heavy (~1 s to import), needed only for figures

    scatter = any(sizes is not None for _, _, _, sizes, _ in groups)
    labels = [literal_label(g[0]) for g in groups]
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "agora", "pdf.fonttype": 42}):
        fig = Figure(figsize=(12, 5) if scatter else (7, 5), dpi=150, layout="constrained")
        axes = fig.subplots(1, 2) if scatter else [fig.add_subplot()]
        left = axes[0]
        colours = _colours(len(groups))
        handles = []
        for i, (_, values, tail, sizes, virality) in enumerate(groups):
            (h,) = left.step(values, tail, where="post", color=colours[i], linewidth=1.6)
            handles.append(h)
            if scatter and sizes is not None and virality is not None:
                axes[1].scatter(sizes, virality, s=12, color=colours[i], alpha=0.7, linewidths=0)
        left.set_xscale("log")
        left.set_yscale("log")
        left.set_xlabel("cascade size s (agents)")
        left.set_ylabel("P(size ≥ s)")
        left.set_title("size distribution (CCDF)")
        if scatter:
            axes[1].set_xscale("log")
            axes[1].set_xlabel("cascade size (agents)")
            axes[1].set_ylabel("structural virality")
            axes[1].set_title("structural virality against size")
        for ax in axes:
            ax.grid(True, alpha=0.3, linewidth=0.6, which="both")
        fig.legend(handles, labels, loc="outside lower center", ncols=min(4, max(1, len(groups))), fontsize="small")
        if title:
            fig.suptitle(literal_label(title))
        metadata = {"png": {"Software": None}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}[fmt]
        save_figure(fig, output, fmt, metadata)
    return {
        "output": os.path.abspath(output),
        "format": fmt,
        "groups": len(groups),
        "labels": [g[0] for g in groups],
        "runs": int(sum(len(g[3]) for g in groups if g[3] is not None)),
        "panels": ["ccdf", "virality"] if scatter else ["ccdf"],
    }


def log_ticks(axis: Any, lo: float, hi: float) -> None:
    """Ticks a reader can read on a log-scaled ``axis`` over ``[lo, hi]``, labelled as plain numbers
    (``0.05``, not ``5×10⁻²``). matplotlib labels the minor ticks of a log axis spanning less than about two
    decades, so on a narrow range (a log prior of 0.02..0.2) they crowded and overlapped. Here minor ticks
    are never labelled; the labelled ones are the decades over more than two, 1-2-5 of each decade over
    one to two, 1-2-3-5 over half a decade to one, and at most four evenly spaced ones below that (where a
    log axis is nearly linear).

    Args:
        axis: the matplotlib ``Axis`` (``ax.xaxis``), already log-scaled.
        lo, hi: the range it shows (both above 0).
    """
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter  # noqa: PLC0415

    decades = math.log10(hi / lo) if 0 < lo < hi and math.isfinite(hi / lo) else 0.0
    locator: Any
    if decades > 2:
        locator = LogLocator(base=10, numticks=5)
    elif decades > 1:
        locator = LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=7)
    elif decades > 0.5:
        locator = LogLocator(base=10, subs=(1.0, 2.0, 3.0, 5.0), numticks=7)
    else:
        locator = MaxNLocator(nbins=3, steps=[1, 2, 2.5, 5, 10])
    axis.set_major_locator(locator)
    axis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())


def save_figure(fig: Any, output: str, fmt: str, metadata: dict[str, Any]) -> None:
    """Write the figure beside the target, then rename: a failed write leaves no partial figure."""
    with replacing(output, "figure") as tmp:
        fig.savefig(tmp, format=fmt, bbox_inches="tight", metadata=metadata)


def file_labels(paths: Sequence[str]) -> list[str]:
    """Each file's label: its name, or as many trailing folders as tell files of the same name apart
    (``x/s.csv``, ``y/s.csv``)."""
    parts = [os.path.normpath(os.path.abspath(p)).split(os.sep) for p in paths]
    depth = 1
    while True:
        labels = [os.path.join(*pp[-depth:]) if pp[-depth:] else p for pp, p in zip(parts, paths)]
        if len(set(labels)) == len(labels) or depth >= max(map(len, parts)):
            return labels
        depth += 1


def file_kind(path: str) -> str:
    """What a file written by Agora holds, from its columns: ``"cascades"`` (``--cascades``), ``"ccdf"``
    (``--ccdf``) or ``"series"`` (``--series``, and anything else: its reader says what is wrong)."""
    names: list[str] = []
    try:
        lower = path.lower()
        if lower.endswith(".parquet"):
            import pyarrow.parquet as pq  # noqa: PLC0415 - optional, only for .parquet

            names = list(pq.read_schema(path).names)
        elif lower.endswith((".csv", ".csv.gz")):
            opener: Any = gzip.open if lower.endswith(".gz") else open
            with opener(path, "rt", encoding="utf-8", newline="") as f:
                names = next(csv.reader([f.readline()]), [])
    except (OSError, EOFError, UnicodeDecodeError, csv.Error, ImportError, ValueError):
        return "series"
    if names[-len(CASCADE_COLUMNS) :] == list(CASCADE_COLUMNS):
        return "cascades"
    if names[-len(CCDF_COLUMNS) :] == list(CCDF_COLUMNS):
        return "ccdf"
    return "series"


def _combo_label(file_label: str | None, key_names: list[str], combination: tuple[Any, ...]) -> str:
    parts = []
    if file_label:
        parts.append(shown(file_label) if len(file_label) <= 50 else "…" + shown(file_label[-49:]))
    if key_names:
        parts.append(shown(", ".join(f"{k}={_value_text(v)}" for k, v in zip(key_names, combination)), 80))
    return ", ".join(parts) or "cascades"


def _combinations(
    key_names: list[str], keys: dict[str, np.ndarray], rows: int
) -> list[tuple[tuple[Any, ...], np.ndarray]]:
    """Each combination of the key columns (in file order) and the mask of its rows."""
    if not key_names:
        return [((), np.ones(rows, dtype=bool))]
    codes = []
    for k in key_names:
        _, first, inverse = np.unique(keys[k], return_index=True, return_inverse=True)
        codes.append(np.argsort(np.argsort(first))[inverse])  # codes in order of first appearance
    combined = np.zeros(rows, dtype=np.int64)
    for c in codes:
        combined = combined * (int(c.max()) + 1 if c.size else 1) + c
    _, first, inverse = np.unique(combined, return_index=True, return_inverse=True)
    out = []
    for code in np.argsort(first):
        mask = inverse == code
        i = int(np.flatnonzero(mask)[0])
        out.append((tuple(keys[k][i].item() if hasattr(keys[k][i], "item") else keys[k][i] for k in key_names), mask))
    return out


def cascade_groups(label: str | None, path: str) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """The groups :func:`plot_cascade_groups` draws from one ``--cascades`` file: per combination, every run's
    forest rebuilt from its rows (:func:`sim.core.cascade.forest_of_rows`), its size and structural virality."""

    table = read_cascades(path)
    groups = []
    for combination, mask in _combinations(table.key_names, table.keys, len(table)):
        runs = table.run[mask]
        order = np.argsort(runs, kind="stable")
        rows = np.flatnonzero(mask)[order]
        bounds = np.flatnonzero(np.diff(runs[order])) + 1
        sizes, virality = [], []
        for part in np.split(rows, bounds) if rows.size else []:  # one forest per run
            forest, _ = forest_of_rows(table.agent[part], table.source[part], table.root[part], table.tick[part])
            m = forest.measures()
            sizes.append(m["size"])
            virality.append(m["structural_virality"])
        size_array = np.asarray(sizes, dtype=np.int64)
        values, tail = ccdf(size_array)
        groups.append(
            (
                _combo_label(label, table.key_names, combination),
                values,
                tail,
                size_array,
                np.asarray(virality, dtype=np.float64),
            )
        )
    return groups


def ccdf_groups(label: str | None, path: str) -> list[tuple[str, np.ndarray, np.ndarray, None, None]]:
    """The groups of one ``--ccdf`` file: per combination, its sizes and ``P(S >= size)``."""

    table = read_ccdf(path)
    out = []
    for combination, mask in _combinations(table.key_names, table.keys, len(table)):
        order = np.argsort(table.size[mask], kind="stable")
        out.append(
            (
                _combo_label(label, table.key_names, combination),
                table.size[mask][order],
                table.ccdf[mask][order],
                None,
                None,
            )
        )
    return out


def plot_files(
    paths: Sequence[str], output: str, measures: Sequence[str] | None = None, title: str | None = None
) -> dict[str, Any]:
    """Read files written by ``--series`` (:func:`sim.store.seriesio.read_series`, drawn with
    :func:`plot_tables`) or by ``--cascades`` and ``--ccdf`` (drawn with :func:`plot_cascade_groups`)."""
    figure_format(output)  # before reading anything
    labels = file_labels(paths)
    kinds = [file_kind(p) for p in paths]
    if any(k != "series" for k in kinds):
        if "series" in kinds:
            raise BadParameterError(
                "agora plot draws series files, or cascade files (cascades, ccdf), but not both in one "
                "figure: draw them separately"
            )
        if measures:
            raise BadParameterError(
                "measure picks series measures: a cascade file has none (drop measure)", fields="measure"
            )
        groups: list[Any] = []
        for label, path, kind in zip(labels if len(paths) > 1 else [None] * len(paths), paths, kinds):
            groups += cascade_groups(label, path) if kind == "cascades" else ccdf_groups(label, path)
        result = plot_cascade_groups(groups, output, title=title)
        result["files"] = list(paths)
        return result
    tables = [(label, read_series(path)) for label, path in zip(labels, paths)]
    return plot_tables(tables, output, measures=measures, title=title)


__all__ = [
    "FORMATS",
    "aggregate",
    "bounds",
    "cascade_groups",
    "ccdf_groups",
    "figure_format",
    "file_kind",
    "file_labels",
    "is_count",
    "log_ticks",
    "plot_cascade_groups",
    "plot_files",
    "plot_sessions",
    "plot_tables",
    "run_matrix",
    "session_table",
    "state_measures",
]
