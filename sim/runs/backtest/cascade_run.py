"""A backtest of cascades' final sizes: at each cut, an age (seconds since each cascade's original post), each
method forecasts each cascade's final number of reshares from what was seen by then, scored against the final size
in the file (``agora backtest WORLD --observed CASCADES --method seismic,agora,persistence --cut 1h,6h,1d``).

**The cascades scored** at a cut are those with at least :data:`MIN_RESHARES` reshares by it (SEISMIC's
``min.count``: fewer give it no window to estimate from), the same for every method.

**The methods**:

- ``seismic``: :func:`sim.analysis.seismic.estimate` at the cut, with ``n_star`` (default the package's 100); its
  point prediction taken as the median, its approximate 95 % interval (from the infectiousness's) as the 0.025
  and 0.975 quantiles. It gives no distribution, so its CRPS and log score are not defined (None), and its WIS is
  that of those three quantiles. A prediction may be infinite (``p n_star`` >= 1): its errors are then infinite.
- ``persistence``: no growth, the reshares seen by the cut as the final size (a point forecast: its WIS and CRPS
  are its absolute error, its log score is not defined).
- ``agora``: the fit's model on the world, conditioned by ABC on what was seen. For each original poster, the
  backtest's ``budget`` (shared over the posters) of cascades is simulated from that poster (:func:`simulate`,
  reshare times drawn from SEISMIC's kernel, a parameter drawn from its prior per block of runs); at a cut, the
  :data:`ACCEPT` share of them nearest to the cascade in the reshares seen and in their authors' followers (log
  scale) are kept, and each forecast is the reshares seen plus a kept simulation's growth after the cut.

Scores are averaged over the cascades of a cut (the mean WIS; the median WIS and median relative error too, as
an infinite prediction makes a mean infinite); relative WIS is a method's mean WIS over persistence's on the same
cascades.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.analysis.scores import score_samples, wis
from sim.analysis.seismic import N_STAR, estimate
from sim.errors import BadParameterError
from sim.runs.backtest.cascades import Cascade, ReadCascades, read_cascades, simulate
from sim.runs.backtest.result import Progress
from sim.store.timeline import parse_duration

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sim.core.world import World
    from sim.engine.requests.backtest import Backtest
    from sim.model.registry import Registry

#: The cuts when none is given: an hour, six hours and a day after each original post.
DEFAULT_AGES = ("1h", "6h", "1d")
#: A cascade is scored at a cut with at least this many reshares by it.
MIN_RESHARES = 5
#: The share of an original poster's simulations ABC keeps for a cascade at a cut.
ACCEPT = 0.1
#: Blocks of runs per poster when a parameter has a prior (each block one draw of it).
BLOCKS = 10
#: Simulations per original poster, at least and at most.
MIN_RUNS, MAX_RUNS = 100, 20_000
#: Each method's interval (the share of the truths inside it is its coverage).
INTERVAL = {"agora": 0.9, "persistence": 0.9, "seismic": 0.95}
CASCADE_METHODS = ("agora", "persistence", "seismic")


def _age(text: str) -> int:
    t = text.strip()
    if t.isascii() and t.isdigit():
        return int(t)
    try:
        return parse_duration(t)
    except BadParameterError:
        raise BadParameterError(
            f"cut {t[:40]!r} is not an age: give a cascade's age at the cut as seconds (3600) or a duration (1h, 6h, "
            "1d)",
            fields="cut",
        ) from None


@dataclass
class CascadeCut:
    """One cut: its age, the cascades scored (their final sizes and reshares seen), each method's median forecast
    and interval per cascade and its scores."""

    label: str
    age: int
    truth: np.ndarray
    seen: np.ndarray
    medians: dict[str, np.ndarray]
    scores: dict[str, dict[str, float | None]]
    seconds: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "cut": self.label,
            "age_seconds": self.age,
            "cascades": int(self.truth.size),
            "scores": self.scores,
            "seconds": round(self.seconds, 3),
        }


def _num(x: float) -> float | None:
    return round(float(x), 6) if math.isfinite(x) else None


@dataclass
class CascadeBacktestResult:
    """A backtest of final sizes: per cut each method's scores (:meth:`table`), the settings and the file."""

    observed: dict[str, Any]
    settings: dict[str, Any]
    methods: list[str]
    cuts: list[CascadeCut] = field(default_factory=list)
    seconds: float = 0.0
    kind: str = "cascades"

    def table(self) -> dict[str, list[dict[str, float | None]]]:
        """Per method, its scores at each cut (in cut order)."""
        return {m: [c.scores[m] for c in self.cuts] for m in self.methods}

    def to_dict(self) -> dict[str, object]:
        """The report ``agora backtest --json`` prints for cascades."""
        return {
            "observed": self.observed,
            "target": "final_size",
            **self.settings,
            "reference": "persistence",
            "scores": self.table(),
            "cuts": [c.to_dict() for c in self.cuts],
            "seconds": round(self.seconds, 3),
        }

    def plot(self, path: str | None = None, *, force: bool = False) -> Figure:
        """Each method's median forecast against the final size, per cut (log scales), as ``--plot`` draws."""
        from sim.runs.backtest.figure import cascade_figure, drawn_to  # noqa: PLC0415 - matplotlib

        return drawn_to(path, force, lambda: cascade_figure(self))


def _scored(cascades: list[Cascade], age: int) -> list[Cascade]:
    return [c for c in cascades if int(np.searchsorted(c.times, age, side="right")) - 1 >= MIN_RESHARES]


def _seen(c: Cascade, age: int) -> tuple[int, float]:
    known = int(np.searchsorted(c.times, age, side="right"))
    return known - 1, float(c.followers[:known].sum())


def _stats(
    method: str, truth: np.ndarray, median: np.ndarray, wis: np.ndarray, covered: np.ndarray, extra: dict[str, Any]
) -> dict[str, float | None]:
    finite = np.isfinite(median)
    rel = np.where(finite, np.abs(median - truth) / truth, np.inf)
    with np.errstate(all="ignore"):
        ratio = float(median[finite].mean() / truth[finite].mean()) if finite.any() else math.nan
    return {
        "wis": _num(float(wis.mean())),
        "wis_median": _num(float(np.median(wis))),
        "ae_median": _num(float(np.abs(median - truth).mean())),
        "relative_error_median": _num(float(np.median(rel))),
        "mean_forecast_over_truth": _num(ratio),
        "infinite": float(1.0 - finite.mean()),
        "coverage": float(covered.mean()),
        "interval": INTERVAL[method],
        **extra,
    }


def _seismic(cascades: list[Cascade], age: int, n_star: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    est = [estimate(c.times, c.followers, age, n_star) for c in cascades]  # one per cascade: O(posts) each
    return tuple(np.array([getattr(e, k) for e in est], dtype=np.float64) for k in ("size", "size_low", "size_high"))  # type: ignore[return-value]


def _seismic_scores(cascades: list[Cascade], age: int, n_star: float, truth: np.ndarray) -> tuple[Any, Any]:
    size, low, high = _seismic(cascades, age, n_star)
    ok = np.isfinite(size) & np.isfinite(low) & np.isfinite(high)
    w = np.full(truth.size, np.inf)
    if ok.any():
        w[ok] = wis(np.column_stack([low[ok], size[ok], high[ok]]), [0.025, 0.5, 0.975], truth[ok])
    covered = (low <= truth) & (truth <= high)
    return size, _stats("seismic", truth, size, w, covered, {"crps": None, "log_score": None})


def _sample_scores(method: str, samples: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    got = score_samples(samples, truth)
    median = np.quantile(samples, 0.5, axis=0)
    covered = np.asarray(got["cover90"], dtype=bool)
    point = samples.shape[0] == 1  # no growth: a point forecast has no density, and its CRPS is its error
    log_score = None if point else _num(float(np.mean(got["log_score"])))
    extra = {"crps": _num(float(np.mean(got["crps"]))), "log_score": log_score}
    return median, _stats(method, truth, median, np.asarray(got["wis"]), covered, extra)


class _Simulated:
    """An original poster's simulated cascades, flattened: each post's run, time and followers, each run's final."""

    def __init__(self, sims: list[Cascade]) -> None:
        self.runs = len(sims)
        self.run = np.repeat(np.arange(self.runs), [c.times.size for c in sims])
        self.times = np.concatenate([c.times for c in sims])
        self.followers = np.concatenate([c.followers for c in sims])
        self.final = np.array([c.final for c in sims], dtype=np.float64)

    def at(self, age: int) -> tuple[np.ndarray, np.ndarray]:
        """Each run's reshares and followers seen by ``age``."""
        by = self.times <= age
        posts = np.bincount(self.run[by], minlength=self.runs)
        return posts - 1.0, np.bincount(self.run[by], weights=self.followers[by], minlength=self.runs)


def _agora(sims: dict[str, _Simulated], cascades: list[Cascade], age: int) -> np.ndarray:
    """``(k, cascades)`` forecasts of the final sizes: per cascade its poster's nearest simulations' growth added
    to the reshares seen (see the module docstring)."""
    k = max(10, math.ceil(ACCEPT * min(s.runs for s in sims.values())))
    out = np.empty((k, len(cascades)))
    seen_at = {origin: s.at(age) for origin, s in sims.items()}
    for j, c in enumerate(cascades):  # a loop over cascades, each a numpy pass over its poster's runs
        s = sims[str(c.agents[0])]
        posts, expo = seen_at[str(c.agents[0])]
        seen, followers = _seen(c, age)
        d = np.abs(np.log1p(posts) - math.log1p(seen)) + np.abs(np.log1p(expo) - math.log1p(followers))
        keep = np.argpartition(d, k - 1)[:k]
        out[:, j] = seen + np.maximum(s.final[keep] - posts[keep], 0.0)
    return out


async def _simulate_all(
    world: World, registry: Registry, request: Backtest, origins: list[str], progress: Progress
) -> dict[str, _Simulated]:
    fit = request.fit
    runs = int(min(MAX_RUNS, fit.budget // max(1, len(origins))))  # at least MIN_RUNS: checked
    priors, fixed = fit.params.priors, dict(fit.params.fixed)
    blocks = BLOCKS if len(priors) else 1
    rng = np.random.default_rng([fit.seed, 7])
    draws = priors.from_u(priors.sample_u(rng, blocks)) if len(priors) else np.zeros((1, 0))
    per = max(1, runs // blocks)
    out: dict[str, _Simulated] = {}
    for i, origin in enumerate(origins):
        sims: list[Cascade] = []
        for b in range(blocks):
            params: dict[str, object] = {**fixed, **dict(zip(priors.names, draws[b].tolist()))}
            seed = fit.seed + (i * blocks + b) * per
            sims += await simulate(
                world,
                registry,
                model=fit.model,
                params=params,
                origin=f"ids:{origin}",
                runs=per,
                seed=seed,
                workers=request.workers,
            )
        out[origin] = _Simulated(sims)
        if progress is not None:
            progress(
                f"simulated {blocks * per:,} cascades from poster {i + 1} of {len(origins)}", (i + 1) / len(origins)
            )
    return out


def _check_origins(world: World, read: ReadCascades, origins: list[str]) -> None:
    """Each original poster an agent of ``world`` (ids of ASCII digits); never quoting the file's text."""
    ids = world.columns["ids"]
    number = [o.isascii() and o.isdigit() and len(o) <= 18 for o in origins]
    known = np.zeros(len(origins), dtype=bool)
    if any(number):
        at = np.flatnonzero(number)
        known[at] = np.isin(np.array([int(origins[i]) for i in at.tolist()], dtype=np.int64), ids)
    if not known.all():
        raise BadParameterError(
            f"agora forecasts a cascade from its original poster, and {int((~known).sum()):,} of the "
            f"{len(origins):,} original posters in {read.path} are no agents of this world: give the world the "
            "cascades were seen on, or drop agora from the methods",
            fields="method",
        )


def _check_budget(budget: int, origins: list[str]) -> None:
    need = MIN_RUNS * len(origins)
    if budget < need:
        raise BadParameterError(
            f"agora simulates at least {MIN_RUNS} cascades from each of the {len(origins):,} original posters with "
            f"cascades to forecast, {need:,} in all, and budget is {budget:,}: give budget {need:,} or more, or fewer "
            "cascades",
            fields="budget",
        )


async def run_cascade_backtest(
    world: World, registry: Registry, request: Backtest, *, progress: Progress = None
) -> CascadeBacktestResult:
    """The backtest ``request`` of the final sizes of the cascades in its observed file (see the module docstring).

    Raises:
        BadParameterError: a cut that is not an age, a method cascades have no forecast for, count of cuts
            instead of ages, an original poster who is no agent of the world (with agora).
        BadFileError: the file is not cascades (:func:`read_cascades`).
    """

    t0 = time.perf_counter()
    methods = request.method or CASCADE_METHODS
    other = [m for m in methods if m not in CASCADE_METHODS]
    if other:
        raise BadParameterError(
            f"method {other[0]} forecasts a series, and the observed file holds cascades: give "
            f"{', '.join(CASCADE_METHODS)}",
            fields="method",
        )
    if request.cuts is not None:
        raise BadParameterError(
            "cascades are cut at ages since each original post, not spread over a series: give cut AGES (1h,6h,1d)",
            fields="cuts",
        )
    labels = request.cut or DEFAULT_AGES
    ages = [_age(t) for t in labels]
    twice = next((i for i, a in enumerate(ages) if a in ages[:i]), None)
    if twice is not None:
        raise BadParameterError(
            f"cut {labels[ages.index(ages[twice])]} and {labels[twice]} are one age: give each age once", fields="cut"
        )
    read = read_cascades(request.fit.observed, time=request.fit.time)
    scored_methods = [*methods, *(["persistence"] if "persistence" not in methods else [])]
    n_star = request.n_star if request.n_star is not None else N_STAR
    sims: dict[str, _Simulated] = {}
    if "agora" in methods:
        every = [c for a in ages for c in _scored(read.cascades, a)]
        origins = sorted({str(c.agents[0]) for c in every})
        _check_origins(world, read, origins)
        _check_budget(request.fit.budget, origins)
        sims = await _simulate_all(world, registry, request, origins, progress)
    cuts = []
    for label, age in zip(labels, ages):
        t1 = time.perf_counter()
        chosen = _scored(read.cascades, age)
        truth = np.array([c.final for c in chosen], dtype=np.float64)
        seen = np.array([_seen(c, age)[0] for c in chosen], dtype=np.float64)
        medians: dict[str, np.ndarray] = {}
        scores: dict[str, dict[str, float | None]] = {}
        for method in scored_methods if chosen else ():
            if method == "seismic":
                medians[method], scores[method] = _seismic_scores(chosen, age, n_star, truth)
            elif method == "agora":
                medians[method], scores[method] = _sample_scores(method, _agora(sims, chosen, age), truth)
            else:
                medians[method], scores[method] = _sample_scores(method, seen[None, :], truth)
        for method in scores:
            ref, own = scores["persistence"]["wis"], scores[method]["wis"]
            scores[method]["relative_wis"] = None if ref is None or own is None or ref == 0 else round(own / ref, 6)
        if not chosen:
            scores = {m: {"cascades": 0} for m in scored_methods}
        cuts.append(CascadeCut(label, age, truth, seen, medians, scores, time.perf_counter() - t1))
        if progress is not None:
            progress(f"cut {label}: {truth.size:,} cascades with {MIN_RESHARES} reshares or more scored", 1.0)
    settings = request.describe() | {"methods": scored_methods, "n_star": n_star, "min_reshares": MIN_RESHARES}
    for drop in ("horizon", "until_done", "serial_interval", "draws"):
        settings.pop(drop, None)
    observed = {"path": read.path, "kind": "cascades", "cascades": len(read.cascades)}
    result = CascadeBacktestResult(observed, settings, scored_methods, cuts)
    result.seconds = time.perf_counter() - t0
    return result


__all__ = ["CASCADE_METHODS", "DEFAULT_AGES", "CascadeBacktestResult", "CascadeCut", "run_cascade_backtest"]
