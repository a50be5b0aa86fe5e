"""``agora fit``: from an observation file to the parameters that explain it, with their uncertainty.

:class:`Fit` is the request (built by :meth:`Fit.parse` from the CLI's flags, the Python API's keywords);
:func:`run_fit` reads the world and the observation, runs the fit and returns a :class:`FitResult`, whose
``to_dict()`` is what ``agora fit --json`` prints.

The method (``method``):

- ``exact``: adoption times (``id,tick``) of ``ic`` or ``si``, whose discrete-time likelihood is exact given
  who adopted when (:mod:`sim.runs.fit.likelihood`): the posterior on a fine grid of the one parameter, with the
  maximum-likelihood estimate and its profile interval.
- ``abc``: every other case: sequential Monte Carlo ABC (:mod:`sim.runs.fit.abc`) with the model's own runs as
  the simulator (:mod:`sim.runs.fit.simulate`) and the observation's summary statistics (:mod:`sim.runs.fit.summaries`).
- ``auto`` (the default): ``exact`` where it exists and only its parameter is fitted, else ``abc``.

After the fit, ``predictive`` simulations of parameters drawn from the posterior give the posterior
predictive check: the band their series (or size distributions) cover, beside the observation.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.analysis.plot import figure_format
from sim.core.world import World
from sim.errors import BadParameterError
from sim.model.imports import IMPORT
from sim.model.registry import Registry
from sim.model.series import REMOVALS
from sim.runs.fit.abc import (
    MAX_GENERATIONS,
    Generation,
    Settings,
    SMCResult,
    abc_smc,
    run_seeds,
    weighted_quantile,
)
from sim.runs.fit.likelihood import LIKELIHOOD_MODELS, exact_fit, likelihood_for, why_no_likelihood
from sim.runs.fit.priors import Prior, Priors
from sim.runs.fit.reporting import Delay, asks_default, parse_delay
from sim.runs.fit.simulate import Simulator, evaluate_batch, evaluate_rows
from sim.runs.fit.summaries import CascadeSummary, SeriesSummary, Summary, summary_for
from sim.runs.transport import default_workers, ray_cluster, ray_failure, ray_world, share_world
from sim.social.dynamics import Social
from sim.store.worldfile import check_target

if TYPE_CHECKING:  # optional: imported when a table is asked for
    import pandas as pd
    from matplotlib.figure import Figure

    from sim.store.observed import Observed

#: ``progress(what, fraction)``, as every long command reports.
Progress = Callable[[str, float], None] | None

# The request (its fields, defaults and bounds) is kept with the others: sim.engine.requests.
from sim.engine.bounds import FIT_POPULATION  # noqa: E402
from sim.engine.bounds import MAX_BUDGET as MAX_BUDGET  # noqa: E402
from sim.engine.bounds import MAX_POPULATION as MAX_POPULATION  # noqa: E402
from sim.engine.bounds import MAX_PREDICTIVE as MAX_PREDICTIVE  # noqa: E402
from sim.engine.bounds import MAX_STEPS as MAX_STEPS  # noqa: E402
from sim.engine.requests.fit import METHODS as METHODS  # noqa: E402
from sim.engine.requests.fit import Fit as Fit  # noqa: E402
from sim.engine.requests.fit import FitParams as FitParams  # noqa: E402

#: The share of the prior's range at either end where piled-up posterior mass earns a warning.
EDGE = 0.02


@dataclass(frozen=True)
class ParamFit:
    """One parameter's posterior: its median and 90 % credible interval, with its prior; ``mle`` and
    ``profile90`` (the likelihood-ratio interval) where the likelihood is exact."""

    median: float
    ci90: tuple[float, float]
    mean: float
    prior: Prior
    mle: float | None = None
    profile90: tuple[float, float] | None = None

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "median": self.median,
            "ci90": list(self.ci90),
            "mean": self.mean,
            "prior": [self.prior.lo, self.prior.hi, self.prior.scale],
        }
        if self.mle is not None:
            out["mle"] = self.mle
        if self.profile90 is not None:
            out["profile90"] = list(self.profile90)
        return out


@dataclass
class FitResult:
    """What a fit found: per parameter its posterior (:class:`ParamFit`), the weighted posterior samples
    (``samples``, columns ``names``; ``weights`` sum to 1), the simulations used and failed, the effective
    sample size, the generations, warnings and the posterior predictive check."""

    model: str
    method: str
    observed: dict[str, Any]
    names: list[str]
    params: dict[str, ParamFit]
    samples: np.ndarray
    weights: np.ndarray
    simulations: int
    failed: int
    ess: float
    seconds: float
    seed: int
    workers: int
    kernel: str | None = None
    stopped: str = ""
    generations: list[Generation] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    predictive: dict[str, Any] | None = None
    fixed: dict[str, Any] = field(default_factory=dict)
    distance: str | None = None
    adjusted: bool = False
    #: ABC's final population as accepted (before any regression adjustment) and each particle's run seed: run
    #: again for longer, a particle continues its accepted simulation (:mod:`sim.runs.backtest`). None: exact.
    accepted: np.ndarray | None = None
    run_seeds: np.ndarray | None = None
    #: The fitted parameters that are the observation model's (reporting fractions) or the importations' rate, not
    #: the model's: a session's forecast from this posterior leaves them out.
    observation: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """The report ``agora fit --json`` prints."""
        return {
            "model": self.model,
            "method": self.method,
            "observed": self.observed,
            "params": {k: v.to_dict() for k, v in self.params.items()},
            "fixed": self.fixed,
            "simulations": self.simulations,
            "failed": self.failed,
            "ess": round(self.ess, 2),
            "seconds": round(self.seconds, 3),
            "seed": self.seed,
            "workers": self.workers,
            "kernel": self.kernel,
            "population": int(self.samples.shape[0]),
            "distance": self.distance,
            "adjusted": self.adjusted,
            "stopped": self.stopped,
            "generations": [
                {
                    "generation": g.index,
                    "epsilon": None if math.isinf(g.epsilon) else g.epsilon,
                    "simulations": g.simulations,
                    "accepted": g.accepted,
                    "acceptance": round(g.acceptance, 4),
                    "failed": g.failed,
                    "ess": round(g.ess, 2),
                    "seconds": round(g.seconds, 3),
                }
                for g in self.generations
            ],
            "warnings": list(self.warnings),
            "predictive": self.predictive,
        }

    def records(self) -> dict[str, np.ndarray]:
        """The posterior samples as columns: one per parameter, then ``weight``."""
        out = {name: self.samples[:, j] for j, name in enumerate(self.names)}
        out["weight"] = self.weights
        return out

    def to_pandas(self) -> pd.DataFrame:
        """The posterior samples as a DataFrame (pandas: ``pip install 'agora-sim[tables]'``)."""
        from sim.runs.results import columns_frame  # noqa: PLC0415 - pandas loads only when asked for

        return columns_frame(self.records())

    def plot(self, path: str | None = None, *, truth: dict[str, float] | None = None, force: bool = False) -> Figure:
        """The posterior predictive check (each observed column over the 90 % band of simulations drawn from the
        posterior; none if the fit ran with ``predictive=0``) and each parameter's posterior histogram with its
        median and 90 % interval, as one matplotlib figure: what ``agora fit --plot`` draws.

        Drawn without pyplot (headless, no global state); a notebook shows the figure it returns.

        Args:
            path: also write it there (``.png``, ``.svg`` or ``.pdf``). truth: the true values of some
                parameters (``{"beta": 0.08}``), drawn as a red line on their posteriors. force: overwrite ``path``.

        Returns:
            The :class:`matplotlib.figure.Figure`.

        Raises:
            BadParameterError: an unknown figure format, a bad ``truth`` (a parameter the fit did not fit, a value
                that is not a finite number). TargetExistsError: ``path`` exists and ``force`` is false.
        """
        from sim.runs.fit.output import fit_figure, save_fit_figure  # noqa: PLC0415 - matplotlib: only when drawn

        if path is not None:
            figure_format(path)
            check_target(path, force, what="figure")
        fig = fit_figure(self, truth)
        if path is not None:
            save_fit_figure(fig, path)
        return fig


def param_summaries(result: SMCResult, priors: Priors) -> dict[str, ParamFit]:
    out = {}
    for j, prior in enumerate(priors.items):
        q = weighted_quantile(result.x[:, j], result.weights, np.array([0.05, 0.5, 0.95]))
        mean = float(np.sum(result.weights * result.x[:, j]))
        out[prior.name] = ParamFit(float(q[1]), (float(q[0]), float(q[2])), mean, prior)
    return out


def fit_warnings(result: FitResult, priors: Priors, population: int) -> list[str]:
    """Posterior mass piled against a prior bound; a low effective sample size; failed simulations."""
    out = []
    for j, prior in enumerate(priors.items):
        x = result.samples[:, j]
        z = np.log(x) if prior.log else x
        a, b = (math.log(prior.lo), math.log(prior.hi)) if prior.log else (prior.lo, prior.hi)
        pos = (z - a) / (b - a)
        for side, mask, bound in (("lower", pos < EDGE, prior.lo), ("upper", pos > 1 - EDGE, prior.hi)):
            mass = float(np.sum(result.weights[mask]))
            if mass > 0.1:
                out.append(
                    f"the posterior of {prior.name} piles against its prior's {side} bound {bound:g} "
                    f"({mass:.0%} of it within {EDGE:.0%} of the range): widen the range, or the data cannot "
                    "tell the parameter from that bound"
                )
    if result.method == "abc" and result.ess < max(50.0, population / 10):
        out.append(
            f"the effective sample size is low ({result.ess:.0f} of {population} particles): give a larger "
            "--budget or --population"
        )
    if result.failed:
        out.append(f"{result.failed} simulations failed (a plugin raised): none of them is in the posterior")
    return out


#: The last observed ticks in which an accepted simulation showing none of a column the data show counts as died
#: out (:func:`extinct_warning`).
EXTINCT_TICKS = 7


def extinct_warning(summary: Summary | None, stats: np.ndarray, weights: np.ndarray) -> list[str]:
    """A warning when more than a tenth of the posterior's weight is on simulations that show none of an observed
    column over its last :data:`EXTINCT_TICKS` observed ticks where the data show some: runs that died out,
    accepted beside epidemics by a tolerance the budget left loose (a single seed makes most runs die out). A
    forecast continuing them stays at 0, and the predictive check's share inside its band then says little.
    Series compared tick by tick (the ``curve`` statistics) only."""
    if not isinstance(summary, SeriesSummary) or "curve" not in summary.parts or stats.size == 0:
        return []
    where = {name: i for i, name in enumerate(summary.names)}
    last = summary.ticks[-EXTINCT_TICKS:].tolist()
    out = []
    for column in summary.columns:
        cols = [where[f"{column}@{t}"] for t in last]
        seen = float(summary.observed[cols].sum())
        if seen <= 0:
            continue
        mass = float(weights[stats[:, cols].sum(axis=1) == 0].sum())
        if mass > 0.1:
            out.append(
                f"{mass:.0%} of the posterior is simulations with no {column} in the last {len(last)} observed "
                f"ticks, where the data have {seen:g}: runs that died out, which a forecast continues at 0 (more "
                "seeds or a larger budget leave fewer)"
            )
    return out


class Plan:
    """What a fit needs, read and checked once: world, observation, priors, simulator, statistics."""

    def __init__(self, world: World, registry: Registry, request: Fit, observed: Observed | None = None) -> None:
        from sim.store.observed import read_observed  # noqa: PLC0415 - kept off the import path of plain runs

        self.request = request
        self.world = world
        self.registry = registry
        self.priors, self.fixed = request.params.priors, dict(request.params.fixed)
        cls = registry.model(request.model)
        if request.people is not None and request.people < int(world.n):
            raise BadParameterError(
                f"people {request.people:,} is fewer than the world's {int(world.n):,} agents: a world stands for at "
                f"least its own agents; give people of {int(world.n):,} or more, or a smaller world",
                fields="people",
            )
        # Its states' columns are counts of agents (at most the world's), and names an error may show.
        self.observed = observed or read_observed(  # given: read already (a backtest's data up to a cut)
            request.observed,
            world,
            tuple(str(s) for s in cls.states),
            time=request.time,
            tick=request.tick,
            observe=request.observe,
            people=request.people,
            imported=request.imported,
        )
        self.scale = self._scale(request)
        self.delay = self._delay(request, cls.params)
        self.channels = self._channels(request)
        self.method = self._method(request)
        self.summary: Summary | None = None
        self.simulator: Simulator | None = None
        if self.method == "abc":
            if not len(self.priors):
                raise BadParameterError("give at least one parameter to fit as params NAME=LO..HI", fields="params")
            self.summary = summary_for(
                self.observed,
                tuple(cls.states),
                request.model,
                request.replicates,
                request.columns,
                request.summary,
                tuple(cls.counted_observables()),
            )
            if (
                isinstance(self.summary, SeriesSummary)
                and REMOVALS in self.summary.columns
                and not cls.counted_removals()
            ):
                raise BadParameterError(
                    f"model {request.model!r} has no removed state, so its series have no removals: observe another "
                    "measure (its states, new, new.STATE, onsets)"
                )
            self.simulator = self.simulator_for(request.steps if request.steps is not None else self.summary.steps)

    def simulator_for(self, steps: int | None) -> Simulator:
        """An ABC fit's simulator with its runs ``steps`` ticks long (None: until done): the plan's model, priors,
        fixed values, seeds, replicates, kernel and observation model. The fit's own is ``simulator``; a backtest
        continues its particles with a longer one.

        Raises:
            BadParameterError: see :class:`~sim.runs.fit.simulate.Simulator` and its ``observe``.
        """
        assert self.summary is not None  # an ABC fit's plan
        request = self.request
        sim = Simulator(
            self.world,
            self.registry,
            model=request.model,
            priors=self.priors,
            fixed=self.fixed,
            seeds=request.seeds,
            steps=steps,
            max_ticks=request.max_ticks,
            replicates=self.summary.replicates,
            kernel=request.kernel,
            fractions=tuple(f for _, f, _ in self.channels),
        )
        sim.observe(self.delay, _observed_columns(self.summary), scale=self.scale, channels=self.channels)
        counts, after = self.imports()
        if counts is not None or IMPORT in self.priors.names or IMPORT in self.fixed:
            sim.importing(counts, after=after, scale=self.scale)
        return sim

    def imports(self) -> tuple[np.ndarray | None, float]:
        """The observed imported cases as agents a tick (scaled by ``agents / people``, rounded so that the running
        total stays the nearest whole number to the scaled one's), and their mean a tick, in agents, which a run
        past the data carries on (None and 0 without a column of imported cases)."""
        came = getattr(self.observed, "imported", None)
        if came is None:
            return None, 0.0
        scaled = np.cumsum(came, dtype=np.float64) / self.scale
        counts = np.diff(np.round(scaled), prepend=0.0).astype(np.int64)
        return counts, float(scaled[-1] / came.size) if came.size else 0.0

    def _channels(self, request: Fit) -> tuple[tuple[str, str, Delay | None], ...]:
        """The request's observation channels, each column named as the series names it (a file's column becomes
        the measure ``observe`` maps it to) and its delay read.

        Raises:
            BadParameterError: channels on an observation that is no series; a bad delay.
        """
        if not request.channel:
            return ()
        if not self.observed.per_tick:
            raise BadParameterError(
                f"channel sees a column of counts through its own fraction and delay, and the observation is "
                f"{self.observed.kind}: fit it without channel",
                fields="channel",
            )
        renamed = dict((getattr(self.observed, "recorded", None) or {}).get("observe") or {})
        return tuple(
            (renamed.get(column, column), fraction, None if delay is None else parse_delay(delay))
            for column, fraction, delay in request.channel
        )

    def _scale(self, request: Fit) -> float:
        """The people each agent stands for (``people / agents``; 1 without ``people``)."""
        if request.people is None:
            return 1.0
        agents = int(self.world.n)
        if not self.observed.per_tick:
            raise BadParameterError(
                f"people scales simulated counts per tick, and the observation is {self.observed.kind}: fit it "
                "without people",
                fields="people",
            )
        return request.people / agents

    def _delay(self, request: Fit, schema: dict[str, Any]) -> Delay | None:
        """The observation model's delay, read; an observation model (``report``, ``delay``) only for a series."""
        asked = request.delay is not None or asks_default(schema, self.priors.names, self.fixed)
        if asked and not self.observed.per_tick:
            raise BadParameterError(
                f"the observation model (report, delay) applies to an observed series of counts per tick, and the "
                f"observation is {self.observed.kind}: fit it without report and delay",
                fields=("params", "delay"),
            )
        recorded = getattr(self.observed, "recorded", None)
        if request.delay is not None and recorded is not None and recorded["tick"] != "1d":
            raise BadParameterError(  # a delay's days are ticks: one tick must be one day
                f"the delay is given in days, and the fit's ticks last {recorded['tick']}: give tick 1d with delay",
                fields=("tick", "delay"),
            )
        return None if request.delay is None else parse_delay(request.delay)

    def _method(self, request: Fit) -> str:
        kind = self.observed.kind
        model = request.model
        param = LIKELIHOOD_MODELS.get(model)
        readable = self.observed.likelihood_data() is not None  # adoption times, or trees read with the world
        exact_ok = readable and param is not None and self.priors.names == [param]
        if exact_ok:
            blocker = self._exact_blocker(request)
            if blocker is not None:
                if request.method == "exact":
                    raise BadParameterError(f"method exact cannot fit this: {blocker}; method abc can", fields="method")
                exact_ok = False
        if request.method == "exact" and not exact_ok:
            if not readable:
                why = f"the observation is {kind} without trees, not adoption times (id,tick, or cascade rows)"
            elif param is None:
                why = why_no_likelihood(model) or f"{model} has no exact likelihood"
            else:
                why = f"the exact likelihood of {model} fits {param} alone: give only params {param}=LO..HI"
            raise BadParameterError(f"method exact cannot fit this: {why}; method abc can", fields=("method", "params"))
        if request.method == "abc" or not exact_ok:
            return "abc"
        return "exact"

    def _exact_blocker(self, request: Fit) -> str | None:
        """Why the exact likelihood does not hold here (None: it does): trust-weighted edges, or feeds and the
        living network, which adopt agents the likelihood knows nothing of."""

        try:
            likelihood_for(request.model, self.fixed)
        except BadParameterError as exc:
            return str(exc)
        if self.world.layers:
            return "the exact likelihood assumes one probability on every edge, and this world has contact layers"
        measured = sorted({"susceptibility", "infectivity"} & set(self.world.attributes))
        if measured:
            return (
                f"the exact likelihood assumes one probability on every edge, and this world has measured {measured[0]}"
            )
        social = Social(self.world, self.registry)
        if social.living or social.settings.get("recommender") not in (None, "none"):
            return "the world's feeds or living network adopt agents the likelihood of the graph alone leaves out"
        return None

    def describe_observed(self) -> dict[str, object]:
        out = self.observed.describe(self.request.columns)
        if isinstance(self.summary, SeriesSummary):
            out["summary"] = [p if isinstance(p, str) else p.name for p in self.summary.parts]
        if self.summary is not None:
            out["statistics"] = len(self.summary.names)
            out["replicates"] = self.summary.replicates
        if self.simulator is not None and self.simulator.observation is not None:
            out["observation"] = self.simulator.observation.to_dict()
        return out


def fit_progress(progress: Progress, budget: int, t0: float) -> Callable[[Generation | None, int], None]:
    state = {"line": "generation 0"}

    def report(gen: Generation | None, simulations: int) -> None:
        if progress is None:
            return
        fraction = min(1.0, simulations / budget)
        if gen is not None:
            eps = "inf" if math.isinf(gen.epsilon) else f"{gen.epsilon:.4g}"
            state["line"] = (
                f"generation {gen.index}: tolerance {eps}, acceptance {gen.acceptance:.2f}, ESS {gen.ess:.0f}"
            )
        spent = time.perf_counter() - t0
        eta = f", at most {spent / fraction - spent:.0f} s left" if fraction > 0.02 else ""
        progress(f"{state['line']}; {simulations:,}/{budget:,} simulations{eta}", fraction)

    return report


@dataclass(frozen=True)
class _SimulatorSpec:
    """What a Ray worker makes its :class:`Simulator` from (the world comes in the shared payload)."""

    model: str
    priors: Priors
    fixed: tuple[tuple[str, str], ...]
    seeds: str
    steps: int | None
    max_ticks: int
    replicates: int
    kernel: str
    delay: Delay | None = None
    observe: tuple[str, ...] = ()
    scale: float = 1.0
    channels: tuple[tuple[str, str, Delay | None], ...] = ()
    #: Importations (:meth:`Plan.imports`): whether there are any, the counts a tick (agents) and their rate after.
    importing: bool = False
    imports: tuple[int, ...] | None = None
    after: float = 0.0


#: A Ray worker's simulator, made once per fit (keyed by the world's object id and the spec).
_RAY_SIMULATORS: dict[tuple[str, _SimulatorSpec], Simulator] = {}


def _ray_share(
    box: list[Any],
    spec: _SimulatorSpec,
    summary: Summary,
    x: np.ndarray,
    seeds: np.ndarray,
    data_key: bytes | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A Ray task: the statistics of particles ``x`` with run ``seeds`` (the world's ref comes in a list, so
    that Ray does not fetch it for every task; ``data_key`` opens an encrypted world's sealed copy)."""
    key = (box[0].hex(), spec)
    sim = _RAY_SIMULATORS.get(key)
    if sim is None:
        world, registry, _ = ray_world(box[0], data_key)
        sim = Simulator(
            world,
            registry,
            model=spec.model,
            priors=spec.priors,
            fixed=dict(spec.fixed),
            seeds=spec.seeds,
            steps=spec.steps,
            max_ticks=spec.max_ticks,
            replicates=spec.replicates,
            kernel=spec.kernel,
            fractions=tuple(f for _, f, _ in spec.channels),
        )
        sim.observe(spec.delay, spec.observe, scale=spec.scale, channels=spec.channels)
        if spec.importing:
            counts = None if spec.imports is None else np.array(spec.imports, dtype=np.int64)
            sim.importing(counts, after=spec.after, scale=spec.scale)
        _RAY_SIMULATORS.clear()
        _RAY_SIMULATORS[key] = sim
    return evaluate_rows(sim, summary, x, seeds, summary.observed.size)


async def _abc(plan: Plan, request: Fit, workers: int, progress: Progress, t0: float) -> FitResult:
    sim, summary = plan.simulator, plan.summary
    assert sim is not None and summary is not None
    if request.ray is None:
        sim.warm()
        k = summary.observed.size

        async def evaluate(x: np.ndarray, seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            try:
                return await evaluate_batch(sim, summary, x, seeds, k, workers)
            except BadParameterError as exc:
                if "summary" in exc.fields and not getattr(exc, "traceback", ""):
                    # A user's summary function failed in a worker, whose error came back as text: the same
                    # simulations here fail the same way, with the traceback its author needs.
                    evaluate_rows(sim, summary, x, seeds, k)
                raise

        return await _smc(plan, request, workers, evaluate, progress, t0)
    spec = _SimulatorSpec(
        request.model,
        plan.priors,
        tuple(sorted(plan.fixed.items())),
        request.seeds,
        sim.request.steps,
        sim.request.max_ticks,
        summary.replicates,
        request.kernel,
        plan.delay,
        _observed_columns(summary),
        plan.scale,
        plan.channels,
        sim.imported,
        *_import_spec(plan),
    )
    with ray_cluster(request.ray, workers, progress) as (ray, cpus):
        ref, data_key = share_world(ray, plan.world, list(plan.registry.user_dirs))  # the world, once
        task = ray.remote(num_cpus=1, max_retries=0)(_ray_share)

        async def on_ray(x: np.ndarray, seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            count = x.shape[0]
            cuts = [i * count // cpus for i in range(cpus + 1)]
            pending = [
                task.remote([ref], spec, summary, x[a:b], seeds[a:b], data_key) for a, b in zip(cuts, cuts[1:]) if b > a
            ]
            try:
                parts = await asyncio.to_thread(ray.get, pending)
            except ray.exceptions.RayError as exc:
                raise ray_failure(ray, exc) from None
            return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

        return await _smc(plan, request, cpus, on_ray, progress, t0)


def fit_settings(request: Fit) -> Settings:
    """The sampler's settings ``request`` asks for (its population by default a tenth of the budget, at most
    :data:`FIT_POPULATION`)."""
    population = request.population or max(2, min(FIT_POPULATION, request.budget // 10))
    return Settings(
        population=population,
        budget=request.budget,
        seed=request.seed,
        distance=request.distance,
        adjust=request.adjust,
    )


async def _smc(
    plan: Plan,
    request: Fit,
    workers: int,
    evaluate: Callable[[np.ndarray, np.ndarray], Awaitable[tuple[np.ndarray, np.ndarray]]],
    progress: Progress,
    t0: float,
) -> FitResult:
    sim, summary = plan.simulator, plan.summary
    assert sim is not None and summary is not None
    settings = fit_settings(request)
    population = settings.population
    result = await abc_smc(
        evaluate, summary.observed, plan.priors, settings, report=fit_progress(progress, request.budget, t0)
    )
    out = FitResult(
        model=request.model,
        method="abc",
        observed=plan.describe_observed(),
        names=plan.priors.names,
        params=param_summaries(result, plan.priors),
        samples=result.x,
        weights=result.weights,
        simulations=result.simulations,
        failed=result.failed,
        ess=result.ess,
        seconds=0.0,
        seed=request.seed,
        workers=workers,
        kernel="batched" if sim.batched else "engine",
        stopped=result.stopped,
        generations=list(result.generations),
        fixed={
            **{k: v for k, v in sim.params.items() if k not in plan.priors.names},
            **_fixed_report(sim),
        },
        distance=request.distance,
        adjusted=result.adjusted,
        accepted=result.raw_x if result.raw_x is not None else result.x,
        run_seeds=result.run_seeds,
        observation=tuple(n for n in plan.priors.names if n in sim.apart),
    )
    out.warnings = fit_warnings(out, plan.priors, population)
    out.warnings += extinct_warning(plan.summary, result.stats, result.weights)
    return out


def _import_spec(plan: Plan) -> tuple[tuple[int, ...] | None, float]:
    """The plan's imported cases for a Ray worker's spec (hashable): counts a tick (agents) and their rate after."""
    counts, after = plan.imports()
    return (None if counts is None else tuple(counts.tolist())), after


def _observed_columns(summary: Summary) -> tuple[str, ...]:
    """The columns the observation model applies to: an observed series' (none for cascades)."""
    return tuple(summary.columns) if isinstance(summary, SeriesSummary) else ()


def _fixed_report(sim: Simulator) -> dict[str, float]:
    """A fixed reporting fraction, as the fit's fixed values show it (none when it is fitted or not asked)."""
    obs = sim.observation
    return {} if obs is None else obs.fixed_fractions()


def _exact(plan: Plan, request: Fit) -> FitResult:
    prior = plan.priors.items[0]
    obs = plan.observed
    # --steps N watched ticks 0 .. N-1. Without it: an id,tick file up to its last tick (nothing is claimed
    # after); each run of a --cascades file until it ended, the round after its last adoption included (as
    # agora run --until-done runs them).
    watched = request.steps - 1 if request.steps is not None else None
    times = obs.likelihood_data()
    assert times is not None  # Plan chose exact for adoption times, or trees read with the world
    horizon: int | None | list[int | None] = watched
    if isinstance(times, tuple):  # trees: each until it ended
        horizon = [watched if watched is not None else int(t.ticks.max()) + 1 for t in times]
    got = exact_fit(request.model, plan.world, times, prior.lo, prior.hi, prior.log, horizon=horizon)
    population = request.population or 4000
    draws = got.draws(population, np.random.default_rng([request.seed, MAX_GENERATIONS]))
    param = ParamFit(got.median, got.ci90, float(got.mean), prior, got.mle, got.profile90)
    out = FitResult(
        model=request.model,
        method="exact",
        observed=plan.describe_observed(),
        names=[prior.name],
        params={prior.name: param},
        samples=draws[:, None],
        weights=np.full(population, 1.0 / population),
        simulations=0,
        failed=0,
        ess=float(population),
        seconds=0.0,
        seed=request.seed,
        workers=1,
        stopped="the likelihood is exact: its posterior on a grid of points",
        fixed=dict(plan.fixed),
    )
    out.warnings = fit_warnings(out, plan.priors, population)
    return out


#: The last ticks of the data in which a simulation with no case while the data have some has died out (the
#: backtest conditions its forecasts on the same week: :data:`sim.runs.backtest.forecasts.RECENT`).
DIED_OUT_TICKS = 7


def band_sense(observed: np.ndarray, q: np.ndarray) -> dict[str, object]:
    """What a reader of a predictive band needs beside the share of points inside it (issue 73): the band's median
    width over the data's median count (``relative_width``; over their mean where the median is 0, None where
    the data are all 0), and the ticks where the data count cases and the simulations' median is 0
    (``zero_median``, of ``counted``)."""
    counted = observed > 0
    scale = float(np.median(observed)) or float(np.mean(observed))
    width = float(np.median(q[2] - q[0]))
    return {
        "relative_width": round(width / scale, 4) if scale > 0 else None,
        "zero_median": int(np.sum(counted & (q[1] <= 0))),
        "counted": int(np.sum(counted)),
    }


def died_out(observed: np.ndarray, curves: np.ndarray) -> float | None:
    """The share of simulations that died out: none of the column in the data's last :data:`DIED_OUT_TICKS`
    ticks where the data count some there; None where the data have none there either (nothing says a run
    ended too soon)."""
    last = slice(max(0, observed.size - DIED_OUT_TICKS), observed.size)
    if float(np.sum(observed[last])) <= 0 or curves.shape[0] == 0:
        return None
    return round(float(np.mean(curves[:, last].sum(axis=1) <= 0)), 4)


async def predictive_check(plan: Plan, result: FitResult, count: int, workers: int) -> dict[str, object] | None:
    """``count`` simulations of parameters drawn from the posterior: the band (5, 50 and 95 % quantiles) of
    their series at each observed tick, or of their size distribution's complementary CDF, beside the data,
    with the share of the data's points inside the band."""
    sim, summary = plan.simulator, plan.summary
    if sim is None or summary is None or count == 0:
        return None
    rng = np.random.default_rng([result.seed, MAX_GENERATIONS - 1])
    rows = result.samples[rng.choice(result.samples.shape[0], size=count, p=result.weights)]
    seeds = run_seeds(result.seed, MAX_GENERATIONS - 1, 0, count)
    runs = [sim.runs(rows[i], int(seeds[i])) for i in range(count)]
    ok = [r for r in runs if not any(x.get("status") == "failed" for x in r)]
    if not ok:
        return None
    if isinstance(summary, SeriesSummary):
        columns: dict[str, Any] = {}
        inside = total = 0
        died: float | None = None
        for c, observed in summary.series.items():
            curves = np.vstack([summary.curves(r)[c].mean(axis=0) for r in ok])
            q = np.quantile(curves, [0.05, 0.5, 0.95], axis=0)
            inside += int(np.sum((observed >= q[0]) & (observed <= q[2])))
            total += observed.size
            columns[c] = {
                "observed": observed.tolist(),
                "q05": q[0].tolist(),
                "q50": q[1].tolist(),
                "q95": q[2].tolist(),
                **band_sense(observed, q),
            }
            if died is None:
                died = died_out(observed, curves)
        return {
            "kind": "series",
            "simulations": len(ok),
            "ticks": summary.ticks.tolist(),
            "columns": columns,
            "inside90": round(inside / total, 4) if total else None,
            "died_out": died,
        }
    assert isinstance(summary, CascadeSummary)
    observed_sizes = np.sort(plan.observed.sizes)  # type: ignore[union-attr]
    grid = np.unique(np.concatenate([observed_sizes, np.geomspace(1, max(2, observed_sizes.max() * 4), 60).round()]))
    ccdfs = np.vstack([(summary.sizes(r)[:, None] >= grid[None, :]).mean(axis=0) for r in ok])
    q = np.quantile(ccdfs, [0.05, 0.5, 0.95], axis=0)
    obs_ccdf = (observed_sizes[:, None] >= grid[None, :]).mean(axis=0)
    share = float(np.mean((obs_ccdf >= q[0]) & (obs_ccdf <= q[2])))
    return {
        "kind": "cascades",
        "simulations": len(ok),
        "size": grid.astype(int).tolist(),
        "observed_ccdf": obs_ccdf.tolist(),
        "q05": q[0].tolist(),
        "q50": q[1].tolist(),
        "q95": q[2].tolist(),
        "inside90": round(share, 4),
    }


async def run_fit(
    world: World,
    registry: Registry,
    request: Fit,
    *,
    progress: Progress = None,
    workers: int | None = None,
    observed: Observed | None = None,
    plan: Plan | None = None,
) -> FitResult:
    """Fit ``request`` on ``world`` (never modified); a request of several models is a choice between them
    (:func:`sim.runs.fit.choice.run_choice`). ``observed``: the observation, read already (None: read from
    ``request.observed``); ``plan``: the fit's plan, made already of ``request`` (a backtest's cut's, which
    continues its particles with it).

    Raises:
        BadParameterError: a bad observation, model, parameter, range, seed selection or option (one sentence).
        BadFileError: the observation file cannot be read.
    """
    if len(request.models) > 1:
        raise BadParameterError(f"a fit of models {request.model} is a choice between them: run it with run_choice")
    t0 = time.perf_counter()
    plan = plan if plan is not None else Plan(world, registry, request, observed)
    count = request.workers or workers or default_workers(max(1, request.budget))
    if plan.method == "exact":
        result = _exact(plan, request)
    else:
        result = await _abc(plan, request, count, progress, t0)
        if request.predictive:
            if progress:
                progress(f"posterior predictive check: {request.predictive} simulations", 1.0)
            result.predictive = await predictive_check(plan, result, request.predictive, count)
    result.seconds = time.perf_counter() - t0
    return result
