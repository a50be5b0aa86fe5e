"""The figure of ``agora fit --plot``: a parameter with a log prior over a narrow range had its histogram's
tick labels drawn on top of each other (issue 57: matplotlib labels a log axis's minor ticks when it spans
less than about two decades, ``2×10⁻²``, ``3×10⁻²``, ... a few pixels apart). The figure is drawn by the real
code with Agg and every drawn label's box is measured."""

from __future__ import annotations

import numpy as np
import pytest

from sim.engine.requests import Prior
from sim.runs.fit import output
from sim.runs.fit.fitting import FitResult, ParamFit


def fit_result(ranges: dict[str, tuple[float, float]], *, predictive: bool = False, n: int = 400) -> FitResult:
    """A fit's result whose parameters are spread log-uniformly over ``ranges`` (their log priors)."""
    rng = np.random.default_rng(7)
    names = list(ranges)
    samples = np.column_stack([np.exp(rng.uniform(np.log(lo), np.log(hi), n)) for lo, hi in ranges.values()])
    params = {
        name: ParamFit(
            median=float(np.median(samples[:, j])),
            ci90=(float(np.quantile(samples[:, j], 0.05)), float(np.quantile(samples[:, j], 0.95))),
            mean=float(samples[:, j].mean()),
            prior=Prior(name, lo, hi, True),
        )
        for j, (name, (lo, hi)) in enumerate(ranges.items())
    }
    pred = None
    if predictive:
        ticks = list(range(30))
        curve = [float(t) for t in ticks]
        pred = {
            "kind": "series",
            "ticks": ticks,
            "simulations": 50,
            "columns": {"I": {"q05": curve, "q50": curve, "q95": curve, "observed": curve}},
        }
    return FitResult(
        model="sir",
        method="abc-smc",
        observed={},
        names=names,
        params=params,
        samples=samples,
        weights=np.full(n, 1.0 / n),
        simulations=1000,
        failed=0,
        ess=float(n),
        seconds=1.0,
        seed=0,
        workers=1,
        predictive=pred,
    )


def drawn_figure(tmp_path, result: FitResult, monkeypatch):
    """The figure ``plot_predictive`` saves (the PNG is written as usual), drawn on an Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    saved = []
    save = output.save_figure

    def keep(fig, path, fmt, metadata):
        saved.append(fig)
        save(fig, path, fmt, metadata)

    monkeypatch.setattr(output, "save_figure", keep)
    path = output.plot_predictive(str(tmp_path / "check.png"), result)
    assert (tmp_path / "check.png").stat().st_size > 0 and path.endswith("check.png")
    fig = saved[0]
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return fig, canvas.get_renderer()


def overlapping_labels(fig, renderer) -> list[tuple[str, str, str]]:
    """Pairs of x tick labels drawn over each other, per axes: ``(axis label, text, text)``; and each log
    axis must show at least two labels."""
    found = []
    for ax in fig.axes:
        if not ax.get_visible() or ax.get_xscale() != "log":
            continue
        lo, hi = sorted(ax.get_xlim())
        labels = [
            t
            for t in ax.get_xticklabels(which="both")
            if t.get_visible() and t.get_text() and lo <= t.get_position()[0] <= hi
        ]
        assert len(labels) >= 2, (ax.get_xlabel(), [t.get_text() for t in labels])
        boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in labels]
        for i, (a, box_a) in enumerate(boxes):
            for b, box_b in boxes[i + 1 :]:
                if box_a.overlaps(box_b):
                    found.append((ax.get_xlabel(), a, b))
    return found


def test_a_narrow_log_prior_has_readable_tick_labels(tmp_path, monkeypatch):
    """The case the user met: ``p=0.02..0.2:log`` (and a narrower one beside it, and the posterior predictive
    panel): no two tick labels of a histogram overlap, and they read as plain numbers."""
    fig, renderer = drawn_figure(
        tmp_path, fit_result({"p": (0.02, 0.2), "q": (0.1, 0.15)}, predictive=True), monkeypatch
    )
    assert overlapping_labels(fig, renderer) == []
    texts = [t.get_text() for ax in fig.axes if ax.get_xscale() == "log" for t in ax.get_xticklabels()]
    assert "0.05" in texts and "0.1" in texts


@pytest.mark.slow
@pytest.mark.parametrize("lo", [1e-5, 0.003, 0.02, 0.07, 0.3, 2.0, 40.0])
def test_log_priors_of_every_width_have_readable_tick_labels(tmp_path, monkeypatch, lo):
    """From 5 % wide to seven decades, at several magnitudes: the labels never overlap."""
    ranges = {f"x{i}": (lo, lo * factor) for i, factor in enumerate((1.05, 1.5, 3, 8, 40, 1e3, 1e7))}
    fig, renderer = drawn_figure(tmp_path, fit_result(ranges), monkeypatch)
    assert overlapping_labels(fig, renderer) == []
