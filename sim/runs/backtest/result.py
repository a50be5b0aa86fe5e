"""What a backtest found: per cut its fit, each method's forecast band and scores against the truth; per method and
horizon the scores averaged over the cuts, and each method's WIS relative to persistence's (``agora backtest
--json``).

**Relative WIS** (the Forecast Hub's ranking, Cramer et al. 2022): a method's mean WIS over the cuts at a horizon
over persistence's mean WIS on the same cuts: below 1, better than the baseline. The ``all`` row averages every
scored cut and horizon. Coverage is the share of the truths inside the 50 % and 90 % central intervals.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.analysis.scores import HUB_LEVELS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: ``progress(what, fraction)``, as every long command reports: one line per cut (or poster) as it ends.
Progress = Callable[[str, float], None] | None
#: The scores of :func:`sim.analysis.scores.score_samples`, per horizon, in the report's order.
SCORES = ("wis", "crps", "log_score", "cover50", "cover90", "ae_median", "ae_log")
#: The method every other is compared with (relative WIS).
REFERENCE = "persistence"
#: The bins of a method's PIT histogram.
PIT_BINS = 10
#: A method's path scores and calibration at a cut, over the horizons with a truth: ``energy_score`` and
#: ``variogram_score`` (floats), ``cover`` ((horizons, levels): 1 where the truth lies in the central interval of
#: each of :data:`sim.analysis.scores.CENTRAL_LEVELS`), ``pit`` ((PIT_BINS,): the PIT histogram's shares) and
#: ``forecasts`` (how many horizons); None where nothing was scored.
Calibration = dict[str, Any] | None
#: The quantiles of a forecast's band the report keeps (the draws are not kept).
BAND = (0.05, 0.25, 0.5, 0.75, 0.95)
BAND_NAMES = ("q05", "q25", "q50", "q75", "q95")


def _num(x: float) -> float | None:
    return None if not math.isfinite(x) else round(float(x), 6)


def _list(a: np.ndarray) -> list[float | None]:
    return [_num(float(x)) for x in np.asarray(a, dtype=np.float64).tolist()]


def hub_quantiles(draws: np.ndarray) -> list[list[float | None]]:
    """The quantiles of ``draws`` ``(M, H)`` at the Forecast Hub's 23 levels
    (:data:`sim.analysis.scores.HUB_LEVELS`), one list per level over the horizons (None where there are no
    draws): what the scores read, kept so that anyone can score the forecast again with the field's own tools."""
    from sim.analysis.scores import HUB_LEVELS, sample_quantiles  # noqa: PLC0415 - with a forecast's draws only

    if draws.shape[0] == 0:
        return [[None] * draws.shape[1] for _ in HUB_LEVELS]
    q = sample_quantiles(np.asarray(draws, dtype=np.float64), HUB_LEVELS)  # (H, levels)
    return [_list(q[:, i]) for i in range(len(HUB_LEVELS))]


def band_of(draws: np.ndarray) -> dict[str, list[float | None]]:
    """The :data:`BAND` quantiles of ``draws`` ``(M, H)`` per horizon (None where there are no draws)."""
    if draws.shape[0] == 0:
        return {name: [None] * draws.shape[1] for name in BAND_NAMES}
    q = np.quantile(draws, BAND, axis=0)
    return {name: _list(q[i]) for i, name in enumerate(BAND_NAMES)}


@dataclass
class CutResult:
    """One cut: its time and tick, the data before it (``history``) and after (``truth``; NaN past the data), its
    fit's report, and each method's band and per-horizon scores; ``alive``: the share of the fit's weight on
    trajectories with cases in the last week before the cut, where Agora's forecast was conditioned on them (None
    where it was not: ``alive`` off, or no case in the data's last week)."""

    label: str
    tick: int
    history: np.ndarray
    truth: np.ndarray
    fit: dict[str, Any] | None
    bands: dict[str, dict[str, list[float | None]]]
    scores: dict[str, dict[str, np.ndarray]]
    failed: int = 0
    seconds: float = 0.0
    alive: float | None = None
    quantiles: dict[str, list[list[float | None]]] = field(default_factory=dict)
    #: What Agora's filter did at this cut (:meth:`sim.runs.backtest.filtering.Filtered.to_dict`), where it ran.
    filtered: dict[str, object] | None = None
    #: The ensemble's members and weights at this cut (:meth:`sim.runs.backtest.ensemble.Weights.to_dict`), where
    #: one ran.
    ensemble: dict[str, object] | None = None
    #: Each method's path scores and calibration (:data:`Calibration`; the path scores in the report).
    calibration: dict[str, Calibration] = field(default_factory=dict, repr=False)
    #: Each method's draws, until the ensemble is made of them (not in the report).
    draws: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> dict[str, object]:
        return {
            "cut": self.label,
            "tick": self.tick,
            "truth": _list(self.truth),
            "fit": self.fit,
            "failed": self.failed,
            "alive": None if self.alive is None else round(self.alive, 6),
            "ensemble": self.ensemble,
            "filtered": self.filtered,
            "seconds": round(self.seconds, 3),
            "forecasts": self.bands,
            "quantiles": {m: {"levels": list(HUB_LEVELS), "values": q} for m, q in self.quantiles.items()},
            "scores": {m: {k: _list(v) for k, v in s.items()} for m, s in self.scores.items()},
            "path_scores": {
                m: None if c is None else {k: _num(c[k]) for k in ("energy_score", "variogram_score")}
                for m, c in self.calibration.items()
            },
        }


@dataclass
class BacktestResult:
    """A backtest's cuts and settings; :meth:`table` is its scores per method and horizon."""

    observed: dict[str, Any]
    column: str
    settings: dict[str, Any]
    methods: list[str]
    horizon: int
    labels: list[str]
    cuts: list[CutResult] = field(default_factory=list)
    seconds: float = 0.0
    workers: int = 1
    parallel: bool = True
    #: The observation's timeline (:class:`sim.runs.backtest.timeline.Timeline`; not in the report).
    timeline: Any = field(default=None, repr=False, compare=False)
    #: Each method's colour in figures (its forecaster's; not in the report).
    colours: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def table(self) -> dict[str, dict[str, object]]:
        """Per method: each score's mean over the cuts at each horizon (None where no cut was scored), the cuts
        scored, the relative WIS, and ``all``: the same over every scored cut and horizon."""
        out: dict[str, dict[str, object]] = {}
        ref = np.array([c.scores[REFERENCE]["wis"] for c in self.cuts]) if REFERENCE in self.methods else None
        for method in self.methods:
            rows: dict[str, object] = {"horizon": list(range(1, self.horizon + 1))}
            every: dict[str, float | None] = {}
            for name in SCORES:
                values = np.array([c.scores[method][name] for c in self.cuts], dtype=np.float64)
                # A horizon no cut scored (past the data) has no mean: None, without numpy's "Mean of empty
                # slice" warning reaching a user's output (issue 73).
                with np.errstate(all="ignore"), warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    rows[name] = _list(np.nanmean(values, axis=0) if values.size else np.full(self.horizon, np.nan))
                    every[name] = _num(float(np.nanmean(values))) if np.isfinite(values).any() else None
            wis = np.array([c.scores[method]["wis"] for c in self.cuts], dtype=np.float64)
            scored = np.isfinite(wis)
            rows["cuts_scored"] = scored.sum(axis=0).astype(int).tolist()
            if ref is not None:
                both = scored & np.isfinite(ref)
                num = np.where(both, wis, 0.0).sum(axis=0)
                den = np.where(both, ref, 0.0).sum(axis=0)
                with np.errstate(all="ignore"):
                    rows["relative_wis"] = _list(np.where(den > 0, num / den, np.nan))
                every["relative_wis"] = _num(float(num.sum() / den.sum())) if den.sum() > 0 else None
            else:
                rows["relative_wis"] = [None] * self.horizon
                every["relative_wis"] = None
            rows.update(self._calibration(method))
            rows["all"] = every
            out[method] = rows
        return out

    def _calibration(self, method: str) -> dict[str, object]:
        """``method``'s path scores (means over the cuts scored; relative to persistence's on the cuts both scored),
        its coverage at every central level and its PIT histogram, pooled over every scored cut and horizon."""
        from sim.analysis.scores import CENTRAL_LEVELS  # noqa: PLC0415 - with a backtest's result only

        mine = [c.calibration.get(method) for c in self.cuts]
        ref = [c.calibration.get(REFERENCE) for c in self.cuts]
        out: dict[str, object] = {}
        for name in ("energy_score", "variogram_score"):
            got = [c[name] for c in mine if c is not None]
            out[name] = _num(float(np.mean(got))) if got else None
            both = [(a[name], b[name]) for a, b in zip(mine, ref) if a is not None and b is not None]
            den = sum(b for _, b in both)
            out[f"relative_{name}"] = _num(sum(a for a, _ in both) / den) if both and den > 0 else None
        covers = [c["cover"] for c in mine if c is not None]
        pooled = np.concatenate(covers, axis=0) if covers else np.empty((0, len(CENTRAL_LEVELS)))
        out["coverage"] = {
            f"{lv:g}": _num(float(pooled[:, i].mean())) if pooled.shape[0] else None
            for i, lv in enumerate(CENTRAL_LEVELS)
        }
        n = np.array([c["forecasts"] for c in mine if c is not None], dtype=np.float64)
        pits = [c["pit"] for c in mine if c is not None]
        out["pit"] = _list(np.average(np.stack(pits), axis=0, weights=n)) if pits else [None] * PIT_BINS
        return out

    def to_dict(self) -> dict[str, object]:
        """The report ``agora backtest --json`` prints."""
        return {
            "observed": self.observed,
            "column": self.column,
            **self.settings,
            "reference": REFERENCE,
            "scores": self.table(),
            "cuts": [c.to_dict() for c in self.cuts],
            "seconds": round(self.seconds, 3),
            "workers": self.workers,
            "parallel": self.parallel,
        }

    def plot(self, path: str | None = None, *, force: bool = False) -> Figure:
        """A fan chart per cut (the data, Agora's 50 % and 90 % bands and median, the baselines' medians, the truth
        after the cut) and the relative WIS of each method by horizon, as one matplotlib figure: what ``agora
        backtest --plot`` draws.

        Raises:
            BadParameterError: an unknown figure format. TargetExistsError: ``path`` exists and ``force`` is false.
        """
        from sim.runs.backtest.figure import backtest_figure, drawn_to  # noqa: PLC0415 - matplotlib

        return drawn_to(path, force, lambda: backtest_figure(self))
