"""What a fit leaves on disk: the weighted posterior samples (``agora fit -o FILE``), read back by
``agora forecast --posterior`` (:func:`read_posterior`; a fit in memory, ``world.forecast(posterior=fit)``, is read
the same way by :func:`fit_posterior`), and the figure of its posterior predictive check and posteriors
(``--plot FIG``, ``FitResult.plot()``: :func:`fit_figure`)."""

from __future__ import annotations

import csv
import gzip
import io
import os
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol, cast

import numpy as np

from sim.analysis.plot import figure_format, log_ticks, save_figure
from sim.core.boundedio import Bounds, read_bounded
from sim.core.diskio import replacing
from sim.errors import BadFileError, BadParameterError
from sim.model.imports import IMPORT
from sim.plugin.params import param_for, param_spec
from sim.runs.fit.priors import Prior
from sim.runs.fit.reporting import REPORT
from sim.runs.fit.start import START
from sim.runs.fit.walk import WALK
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
    from matplotlib.figure import Figure

    from sim.model.registry import Registry
    from sim.model.session import PropagationSession

#: The most samples a posterior file may hold: a fit writes one row a particle, at most its population (100,000),
#: so ten times that is no real file.
MAX_POSTERIOR_ROWS = 1_000_000
#: The most text a posterior file may hold: its rows are a few numbers (about 20 bytes each), so a million
#: rows fit in less.
MAX_POSTERIOR_BYTES = 64 * 2**20
#: What an error about a posterior file tells the user to give.
_GIVE = "the file agora fit -o wrote"


class ParamSummary(Protocol):
    """What this module reads of one parameter's posterior (:class:`sim.runs.fit.fitting.ParamFit`)."""

    @property
    def median(self) -> float: ...
    @property
    def ci90(self) -> tuple[float, float]: ...
    @property
    def prior(self) -> Prior: ...


class FitResult(Protocol):
    """What this module reads of a fit's result (:class:`sim.runs.fit.fitting.FitResult`, which calls it: a
    protocol, so the two modules do not import each other)."""

    @property
    def model(self) -> str: ...
    @property
    def method(self) -> str: ...
    @property
    def names(self) -> list[str]: ...
    @property
    def params(self) -> Mapping[str, ParamSummary]: ...
    @property
    def samples(self) -> np.ndarray: ...
    @property
    def weights(self) -> np.ndarray: ...
    @property
    def predictive(self) -> Mapping[str, object] | None: ...
    @property
    def observation(self) -> tuple[str, ...]: ...
    def records(self) -> dict[str, np.ndarray]: ...


#: A posterior file's column of an observation channel's reporting fraction (``channel.ifr``): the observation
#: model's, not the model's, as ``report`` and ``import`` are.
CHANNEL_COLUMN = "channel."


def posterior_column(name: str, result: FitResult) -> str:
    """The posterior file's column of the fitted parameter ``name``: a channel's fraction marked as the
    observation model's (``ifr`` -> ``channel.ifr``; ``report`` and ``import`` keep their names)."""
    if name in result.observation and name not in (REPORT, IMPORT, START, WALK):
        return CHANNEL_COLUMN + name
    return name


def write_posterior(path: str, result: FitResult) -> dict[str, object]:
    """The posterior samples, one row per particle: a column per parameter, then ``weight`` (they sum to 1);
    ``.csv``, ``.csv.gz`` or ``.parquet``, written atomically. Returns ``{"path", "rows"}``."""
    kind = check_series_path(path)
    columns = {posterior_column(name, result): values for name, values in result.records().items()}
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
    """Whether a posterior's column is the observation model's reporting fraction (``report``, or a channel's:
    ``channel.NAME``) or the fit's rate of importations (``import``), where the model has no parameter of that name:
    a forecast of a session runs the model, whose true counts no reporting thins and into which nothing is
    imported."""
    return (name in (REPORT, IMPORT, START, WALK) and name not in schema) or name.startswith(CHANNEL_COLUMN)


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
    return _posterior_values(head, table, places, registry, session, lambda what: _posterior_bad(path, what))


def fit_posterior(
    result: FitResult, registry: Registry, session: PropagationSession
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """A fit's posterior samples, in memory, as :func:`read_posterior` gives them from the file
    :func:`write_posterior` writes of it: the same names, values and weights, bit for bit (the file's numbers are
    ``repr`` of the same floats, and both go through the same checks and the same scaling of the weights).

    Raises:
        BadParameterError: the fit's parameters are not all the session's model's, or a value is outside a
            parameter's range (one sentence naming the fit and the parameter).
    """
    head = [*(posterior_column(n, result) for n in result.names), "weight"]
    cls = registry.model(session.model_name)
    for name in head[:-1]:
        if not _observation_only(name, cls.params) and param_spec(cls.params, name) is None:
            known = ", ".join(sorted(cls.params)) or "none"
            raise BadParameterError(
                f"the posterior fit of {result.model} has parameter {name}, which {session.model_name} has not "
                f"(its parameters are {known}): give a fit of this session's model"
            )
    table = np.column_stack([np.asarray(result.samples, dtype=np.float64), np.asarray(result.weights, np.float64)])
    places = [f"sample {i + 1}" for i in range(table.shape[0])]

    def bad(what: str) -> BadParameterError:
        return BadParameterError(f"the posterior fit of {result.model} {what}: give a fit's result (sim.WorldFile.fit)")

    return _posterior_values(head, table, places, registry, session, bad)


def _posterior_values(
    head: list[str],
    table: np.ndarray,
    places: list[str],
    registry: Registry,
    session: PropagationSession,
    bad: Callable[[str], BadFileError | BadParameterError],
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The checks and the weights' scaling that a posterior's samples go through, read from a file or taken from
    a fit in memory: ``head`` its columns (the parameters and ``weight``), ``table`` their numbers, ``places``
    each row's place in a sentence; ``bad(what)`` the error of a sentence's end."""
    if not table.shape[0]:
        raise bad("has a header but no samples")
    for j, name in enumerate(head):
        nonfinite = np.flatnonzero(~np.isfinite(table[:, j]))
        if nonfinite.size:
            i = int(nonfinite[0])
            raise bad(f"{places[i]}: {name} is {float(table[i, j])!r}, not a finite number")
    w = table[:, head.index("weight")]
    if np.any(w < 0):
        i = int(np.argmax(w < 0))
        raise bad(f"{places[i]}: weight is {float(w[i]):g}, below 0 (weights are never negative)")
    top = float(w.max())
    if top <= 0:
        raise bad("has weights that are all 0")
    w = w / top  # relative weights: 1e308 each sums to no infinity
    cls = registry.model(session.model_name)
    names = [h for h in head if h != "weight" and not _observation_only(h, cls.params)]
    values = table[:, [head.index(n) for n in names]]
    for j, name in enumerate(names):
        param = param_for(cls.params, name)
        for v in (float(values[:, j].min()), float(values[:, j].max())):
            param.coerce(name, v)  # one sentence for a value outside the parameter's range
    return names, values, w / w.sum()


#: Metadata left out of a saved figure, so the same fit draws the same bytes.
_METADATA: dict[str, dict[str, None]] = {
    "png": {"Software": None},
    "svg": {"Date": None},
    "pdf": {"CreationDate": None},
}


def _settings() -> AbstractContextManager[None]:
    """matplotlib's settings while a fit's figure is drawn and saved: SVG text stays text, SVG ids are stable,
    PDF fonts are TrueType."""
    import matplotlib  # noqa: PLC0415 - heavy (~1 s to import), needed only for figures

    return matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "agora", "pdf.fonttype": 42})


def check_truth(result: FitResult, truth: Mapping[str, object] | None) -> dict[str, float]:
    """``truth`` (the values that made the data, to draw beside the posteriors) checked against the fit: a
    mapping of some of its parameters to finite numbers.

    Raises:
        BadParameterError: not a mapping, a parameter the fit did not fit, a value that is not a finite number.
    """
    if truth is None:
        return {}
    if not isinstance(truth, Mapping):
        raise BadParameterError(
            f"truth must map parameters to their true values ({{'{result.names[0]}': 0.1}}), not {type(truth).__name__}"
        )
    out: dict[str, float] = {}
    for name, value in truth.items():
        if name not in result.names:
            raise BadParameterError(
                f"truth names {str(name)[:60]!r}, which the fit did not fit: it fitted {', '.join(result.names)}"
            )
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            raise BadParameterError(f"truth of {name} must be a number, not {type(value).__name__}")
        if not np.isfinite(float(value)):
            raise BadParameterError(f"truth of {name} must be a finite number, not {float(value)!r}")
        out[name] = float(value)
    return out


def fit_figure(result: FitResult, truth: Mapping[str, object] | None = None) -> Figure:
    """The posterior predictive check and the posteriors of a fit, as one matplotlib figure (no pyplot: no
    display and no global state; it shows itself in a notebook, :class:`sim.runs.fit.figure.FitFigure`).

    Panels: each observed column over the 90 % band (and median) of the simulations drawn from the posterior,
    or the observed cascade sizes' complementary CDF over its band (none when the fit ran no predictive
    check); then each parameter's weighted posterior histogram with its median and 90 % interval, and its
    true value where ``truth`` gives one.

    Raises:
        BadParameterError: a bad ``truth`` (:func:`check_truth`).
    """
    truths = check_truth(result, truth)
    from sim.runs.fit.figure import FitFigure  # noqa: PLC0415 - imports matplotlib

    pred = cast("dict[str, Any] | None", result.predictive)  # as run_fit makes it (FitResult.predictive)
    panels = (len(pred["columns"]) if pred and pred["kind"] == "series" else 1 if pred else 0) + len(result.names)
    with _settings():
        across = min(panels, 4)
        down = -(-panels // across)
        fig = FitFigure(figsize=(4.2 * across, 3.4 * down))
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
            edges = (
                np.geomspace(x.min(), x.max(), 40) if prior.log and x.min() > 0 else np.linspace(x.min(), x.max(), 41)
            )
            # One bin where floats cannot tell the edges apart (all samples equal, or a prior of 5e-324..1e-323).
            bins: Any = edges if np.unique(edges).size == edges.size else 1
            ax.hist(x, bins=bins, weights=result.weights, color="tab:orange", alpha=0.7)
            lo, hi = result.params[name].ci90
            ax.axvline(lo, color="black", ls="--", lw=0.8)
            ax.axvline(hi, color="black", ls="--", lw=0.8, label="90% interval")
            ax.axvline(result.params[name].median, color="black", lw=1.0, label="median")
            if name in truths:
                ax.axvline(truths[name], color="tab:red", lw=1.5, label="truth")
            if prior.log:
                ax.set_xscale("log")
                lo_x, hi_x = (float(v) for v in ax.get_xlim())  # Python floats: a ratio past 1e308 is inf, silently
                log_ticks(ax.xaxis, lo_x, hi_x)  # matplotlib's labels overlapped on a narrow range
            ax.set_xlabel(name)
            ax.set_ylabel("posterior weight")
            ax.legend(fontsize=7)
        checked = "" if pred else " (no predictive check: fit with predictive=N to draw one)"
        fig.suptitle(f"{result.model} fitted by {result.method}{checked}", fontsize=10)
        fig.tight_layout()
    return fig


def save_fit_figure(fig: Figure, path: str) -> str:
    """Write a fit's figure to ``path`` (``.png``, ``.svg`` or ``.pdf``), atomically; returns the absolute path.

    Raises:
        BadParameterError: an unknown extension.
    """
    fmt = figure_format(path)
    with _settings():
        save_figure(fig, path, fmt, _METADATA[fmt])
    return os.path.abspath(path)


def plot_predictive(path: str, result: FitResult) -> str:
    """The figure of :func:`fit_figure` written to ``path`` (``agora fit --plot``). Returns the figure's path."""
    figure_format(path)  # an unknown extension is refused before anything is drawn
    return save_fit_figure(fit_figure(result), path)
