"""What a fit leaves on disk: the weighted posterior samples (``agora fit -o FILE``) and the figure of its
posterior predictive check (``--plot FIG``)."""

from __future__ import annotations

import gzip
import os
from typing import TYPE_CHECKING

import numpy as np

from sim.analysis.plot import _save, figure_format
from sim.core.diskio import replacing
from sim.store.seriesio import _pyarrow, check_series_path

if TYPE_CHECKING:
    from sim.runs.fit.fitting import FitResult


def write_posterior(path: str, result: FitResult) -> dict[str, object]:
    """The posterior samples, one row per particle: a column per parameter, then ``weight`` (they sum to 1);
    ``.csv``, ``.csv.gz`` or ``.parquet``, written atomically. Returns ``{"path", "rows"}``."""
    kind = check_series_path(path)
    columns = result.records()
    rows = int(result.samples.shape[0])
    with replacing(path, "posterior file") as tmp:
        if kind == "parquet":
            pa = _pyarrow("writing")
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
            ax.set_xlabel(name)
            ax.set_ylabel("posterior weight")
            ax.legend(fontsize=7)
        fig.suptitle(f"{result.model} fitted by {result.method}", fontsize=10)
        fig.tight_layout()
        metadata = {"png": {"Software": None}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}[fmt]
        _save(fig, path, fmt, metadata)
    return os.path.abspath(path)
