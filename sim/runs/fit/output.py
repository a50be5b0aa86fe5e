"""What a fit leaves on disk: the weighted posterior samples (``agora fit -o FILE``), read back by
``agora forecast --posterior`` (:func:`read_posterior`), and the figure of its posterior predictive check
(``--plot FIG``)."""

from __future__ import annotations

import csv
import gzip
import io
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from sim.analysis.plot import figure_format, log_ticks, save_figure
from sim.core.boundedio import Bounds, read_bounded
from sim.core.diskio import replacing
from sim.errors import BadFileError, BadParameterError
from sim.plugin.params import param_for, param_spec
from sim.runs.fit.reporting import REPORT
from sim.store.seriesio import (
    READ_ERRORS,
    check_series_path,
    need_pyarrow,
    ordinal,
    parquet_schema,
    read_parquet,
    unreadable,
)

if TYPE_CHECKING:
    from sim.model.registry import Registry
    from sim.model.session import PropagationSession
    from sim.runs.fit.fitting import FitResult

#: The most samples a posterior file may hold: a fit writes one row a particle, at most its population (100,000),
#: so ten times that is no real file.
MAX_POSTERIOR_ROWS = 1_000_000
#: The most text a posterior file may hold: its rows are a few numbers (about 20 bytes each), so a million
#: rows fit in less.
MAX_POSTERIOR_BYTES = 64 * 2**20
#: What an error about a posterior file tells the user to give.
_GIVE = "the file agora fit -o wrote"


def write_posterior(path: str, result: FitResult) -> dict[str, object]:
    """The posterior samples, one row per particle: a column per parameter, then ``weight`` (they sum to 1);
    ``.csv``, ``.csv.gz`` or ``.parquet``, written atomically. Returns ``{"path", "rows"}``."""
    kind = check_series_path(path)
    columns = result.records()
    rows = int(result.samples.shape[0])
    with replacing(path, "posterior file") as tmp:
        if kind == "parquet":
            pa = need_pyarrow("writing")
            import pyarrow.parquet as pq  # noqa: PLC0415 - the optional extra, checked above

            pq.write_table(pa.table({k: pa.array(v) for k, v in columns.items()}), tmp)
        else:
            names = list(columns)
            text = ",".join(names) + "\n"
            stacked = np.column_stack([columns[k] for k in names])
            text += "\n".join(",".join(repr(float(v)) for v in row) for row in stacked.tolist()) + "\n"
            data = text.encode("ascii")
            if kind == "csv.gz":
                data = gzip.compress(data, compresslevel=6, mtime=0)
            with open(tmp, "wb") as out:
                out.write(data)
    return {"path": os.path.abspath(path), "rows": rows}


def _posterior_bad(path: str, what: str) -> BadFileError:
    return BadFileError(f"posterior file {path} {what}: give {_GIVE}")


def _observation_only(name: str, schema: Mapping[str, object]) -> bool:
    """Whether a posterior's column is the observation model's reporting fraction (``report``, where the model has
    no parameter of that name): a forecast runs the model, whose true counts no reporting thins."""
    return name == REPORT and REPORT not in schema


def _posterior_columns(path: str, head: list[str], registry: Registry, session: PropagationSession) -> list[str]:
    """The parameter columns of a posterior's header (every column but ``weight``), each a parameter of the
    session's model; an unknown one is named by its place (the header is the file's text, never quoted)."""
    if "weight" not in head:
        raise _posterior_bad(path, "has no weight column")
    if len(set(head)) != len(head):
        raise _posterior_bad(path, "names a column twice in its header")
    cls = registry.model(session.model_name)
    for j, name in enumerate(head):
        # A fitted reporting fraction is the observation model's (sim.runs.fit.reporting): read, then left out.
        if name != "weight" and not _observation_only(name, cls.params) and param_spec(cls.params, name) is None:
            known = ", ".join(sorted(cls.params)) or "none"
            raise BadParameterError(
                f"posterior file {path}: its {ordinal(j + 1)} column is not a parameter of {session.model_name} "
                f"(its parameters are {known}): give a fit of this session's model"
            )
    return [h for h in head if h != "weight"]


def _posterior_csv(
    path: str, gz: bool, registry: Registry, session: PropagationSession
) -> tuple[list[str], np.ndarray, list[str]]:
    """A CSV posterior's header, its numbers ``(rows, columns)`` and each row's place (``line N``), read within
    bounds; a bad cell is named by its line and column, never quoted."""
    bounds = Bounds(text=MAX_POSTERIOR_BYTES, rows=MAX_POSTERIOR_ROWS)
    try:
        text = read_bounded(path, "posterior file", _GIVE, gz=gz, bounds=bounds).decode("utf-8")
        reader = csv.reader(io.StringIO(text, newline=""))
        head = [h.strip() for h in next(reader, [])]
        if not head:
            raise _posterior_bad(path, "is empty")
        _posterior_columns(path, head, registry, session)
        rows: list[list[str]] = []
        places: list[str] = []
        start = reader.line_num
        for row in reader:
            line, start = start + 1, reader.line_num
            if not row:
                continue
            if len(row) != len(head):
                raise _posterior_bad(path, f"line {line}: {len(row)} fields where the header has {len(head)}")
            rows.append(row)
            places.append(f"line {line}")
    except READ_ERRORS as exc:
        raise _posterior_bad(path, unreadable(exc)) from None
    table = np.empty((len(rows), len(head)), dtype=np.float64)
    for j, name in enumerate(head):
        try:
            table[:, j] = np.fromiter((float(r[j]) for r in rows), dtype=np.float64, count=len(rows))
        except ValueError:
            for r, place in zip(rows, places):
                try:
                    float(r[j])
                except ValueError:
                    raise _posterior_bad(path, f"{place}: {name} is not a number") from None
    return head, table, places


def _posterior_parquet(
    path: str, registry: Registry, session: PropagationSession
) -> tuple[list[str], np.ndarray, list[str]]:
    """A Parquet posterior's columns, numbers and row places, its footer checked before a column is read."""
    pa, head, types, rows = parquet_schema(path, "posterior file", _GIVE)
    if rows > MAX_POSTERIOR_ROWS:
        raise _posterior_bad(path, f"has more than {MAX_POSTERIOR_ROWS:,} samples")
    _posterior_columns(path, head, registry, session)
    for name, typ in zip(head, types):
        if not (pa.types.is_floating(typ) or pa.types.is_integer(typ)):
            raise _posterior_bad(path, f"column {name} holds {typ} where numbers are expected")
    _, table = read_parquet(path, "posterior file", "", head, rows=MAX_POSTERIOR_ROWS, give=_GIVE)
    out = np.empty((table.num_rows, len(head)), dtype=np.float64)
    for j, name in enumerate(head):
        col = table.column(name)
        if col.null_count:
            row = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
            raise _posterior_bad(path, f"row {row + 1}: {name} is missing")
        out[:, j] = col.to_numpy(zero_copy_only=False)
    return head, out, [f"row {i + 1}" for i in range(table.num_rows)]


def read_posterior(
    path: str, registry: Registry, session: PropagationSession
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """A fit's posterior samples (``agora fit -o``: ``.csv``, ``.csv.gz`` or ``.parquet``) for ``session``'s
    model: the parameter names, the values ``(N, d)`` and the weights (summing to 1).

    The file is read within bounds (:mod:`sim.core.boundedio`): a regular file (a pipe, a device or a folder is
    one sentence at once), at most :data:`MAX_POSTERIOR_BYTES` of text and :data:`MAX_POSTERIOR_ROWS` samples
    (a Parquet file's footer checked before a column is read). Weights are relative: any finite, non-negative
    ones that are not all 0 (1e308 each included) are scaled to sum to 1.

    Raises:
        BadFileError / BadParameterError: one sentence naming the file (and the line and column, for a bad
            cell; never quoting it): not a regular file, past a bound, not UTF-8, no ``weight`` column, a column
            the session's model has no parameter of, a value that is not a finite number, a negative weight or
            all of them 0, a value outside its parameter's range.
    """
    lower = path.lower()
    if lower.endswith(".parquet"):
        head, table, places = _posterior_parquet(path, registry, session)
    else:
        head, table, places = _posterior_csv(path, lower.endswith(".gz"), registry, session)
    if not table.shape[0]:
        raise _posterior_bad(path, "has a header but no samples")
    for j, name in enumerate(head):
        bad = np.flatnonzero(~np.isfinite(table[:, j]))
        if bad.size:
            i = int(bad[0])
            raise _posterior_bad(path, f"{places[i]}: {name} is {float(table[i, j])!r}, not a finite number")
    w = table[:, head.index("weight")]
    if np.any(w < 0):
        i = int(np.argmax(w < 0))
        raise _posterior_bad(path, f"{places[i]}: weight is {float(w[i]):g}, below 0 (weights are never negative)")
    top = float(w.max())
    if top <= 0:
        raise _posterior_bad(path, "has weights that are all 0")
    w = w / top  # relative weights: 1e308 each sums to no infinity
    cls = registry.model(session.model_name)
    names = [h for h in head if h != "weight" and not _observation_only(h, cls.params)]
    values = table[:, [head.index(n) for n in names]]
    for j, name in enumerate(names):
        param = param_for(cls.params, name)
        for v in (float(values[:, j].min()), float(values[:, j].max())):
            param.coerce(name, v)  # one sentence for a value outside the parameter's range
    return names, values, w / w.sum()


def plot_predictive(path: str, result: FitResult) -> str:
    """The posterior predictive check as a figure: each observed column over the 90 % band (and median) of
    the simulations drawn from the posterior, or the observed cascade sizes' complementary CDF over its band;
    beside it, each parameter's posterior histogram with its 90 % interval. Returns the figure's path."""
    import matplotlib  # noqa: PLC0415 - heavy (~1 s to import), needed only for figures
    from matplotlib.figure import Figure  # noqa: PLC0415

    fmt = figure_format(path)
    pred = result.predictive
    panels = (len(pred["columns"]) if pred and pred["kind"] == "series" else 1 if pred else 0) + len(result.names)
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "agora", "pdf.fonttype": 42}):
        across = min(panels, 4)
        down = -(-panels // across)
        fig = Figure(figsize=(4.2 * across, 3.4 * down))
        axes = fig.subplots(down, across, squeeze=False).ravel()
        for spare in axes[panels:]:
            spare.set_visible(False)
        i = 0
        if pred and pred["kind"] == "series":
            ticks = np.asarray(pred["ticks"])
            for name, col in pred["columns"].items():
                ax = axes[i]
                ax.fill_between(ticks, col["q05"], col["q95"], color="tab:blue", alpha=0.25, label="90% band")
                ax.plot(ticks, col["q50"], color="tab:blue", lw=1.2, label="median of simulations")
                ax.plot(ticks, col["observed"], "o", ms=2.5, color="black", label="observed")
                ax.set_xlabel("tick")
                ax.set_ylabel(name)
                ax.set_title(f"{name}: {pred['simulations']} posterior simulations", fontsize=9)
                ax.legend(fontsize=7)
                i += 1
        elif pred:
            ax = axes[i]
            size = np.asarray(pred["size"])
            ax.fill_between(size, pred["q05"], pred["q95"], color="tab:blue", alpha=0.25, step="post", label="90% band")
            ax.step(size, pred["q50"], where="post", color="tab:blue", lw=1.2, label="median of simulations")
            ax.step(size, pred["observed_ccdf"], where="post", color="black", label="observed")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("cascade size")
            ax.set_ylabel("P(size >= s)")
            ax.legend(fontsize=7)
            i += 1
        for j, name in enumerate(result.names):
            ax = axes[i + j]
            prior = result.params[name].prior
            x = result.samples[:, j]
            bins = np.geomspace(x.min(), x.max(), 40) if prior.log and x.min() > 0 else 40
            ax.hist(x, bins=bins, weights=result.weights, color="tab:orange", alpha=0.7)
            lo, hi = result.params[name].ci90
            ax.axvline(lo, color="black", ls="--", lw=0.8)
            ax.axvline(hi, color="black", ls="--", lw=0.8, label="90% interval")
            ax.axvline(result.params[name].median, color="black", lw=1.0, label="median")
            if prior.log:
                ax.set_xscale("log")
                log_ticks(ax.xaxis, *ax.get_xlim())  # matplotlib's labels overlapped on a narrow range
            ax.set_xlabel(name)
            ax.set_ylabel("posterior weight")
            ax.legend(fontsize=7)
        fig.suptitle(f"{result.model} fitted by {result.method}", fontsize=10)
        fig.tight_layout()
        metadata = {"png": {"Software": None}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}[fmt]
        save_figure(fig, path, fmt, metadata)
    return os.path.abspath(path)
