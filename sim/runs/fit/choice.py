"""Which model? ``agora fit --model A,B,...``: the posterior probability of each model, each model's posterior,
and how often the choice is right (issue 60).

**The method** is ABC-SMC model choice as Toni and Stumpf (2010, "Simulation-based model selection for dynamical
systems in systems and population biology", Bioinformatics 26, 104-110) give it, in the variant pyabc implements
(Klinger, Rickert and Hasenauer 2018; ``pyabc.ABCSMC`` with several models): the model's index is one more
parameter, discrete, with a uniform prior, and a particle is a model and that model's parameters.

- Generation 0 draws the model from its uniform prior and the parameters from that model's prior.
- Each next generation draws a model from the last generation's model probabilities, moves it with the model
  kernel (it stays with probability :data:`STAY`, pyabc's default, else jumps to another model uniformly), and
  draws the parameters from that model's own particles, moved by that model's own normal kernel
  (:func:`sim.runs.fit.abc._kernel`, as a single fit's). A model left without particles is dead: the kernel
  only jumps between living ones (Toni and Stumpf's "a model that dies out does not come back"; pyabc draws
  again when it lands on a dead one, which is the same distribution), so the kernel's probabilities always
  sum to 1 and the weights need no correction for dead models.
- An accepted particle ``(m, theta)`` weighs ``prior(m) prior(theta | m) / (sum_m' P(m') K(m | m') *
  sum_j w_j(m) N(theta; theta_j, Sigma_m))``, the inner sum over model ``m``'s particles with their weights
  normalised within ``m`` (pyabc's ``transition_pdf``); a model's probability is the sum of its particles'
  weights.

**One distance for every model.** Every model is compared on the same statistics of the same observation
(:mod:`sim.runs.fit.summaries`), and the distance is pyabc's adaptive one (:class:`sim.runs.fit.abc.MadDistance`)
with each statistic's scale fitted to all models' simulations of the last generation together, never model by
model: a model is not favoured by a scale fitted to its own noise. (The regression distance projects the
statistics on one model's parameters, which the models do not share; it is not used here, nor its adjustment.)

**Budget and seeds**: ``budget`` counts every model's simulations together; the population is the particles of
all models. The tolerances, stopping rules, batches and run seeds are a single fit's
(:func:`sim.runs.fit.abc.run_generations`), so the same seed gives the same probabilities on any number of
workers.

**The check** (``check_choice`` N): as Robert, Cornuet, Marin and Pillai (2011, "Lack of confidence in
approximate Bayesian computation model choice", PNAS 108, 15112-15117) show, ABC's model probabilities can be
wrong when the statistics are not sufficient for the choice. So N data sets are simulated from each model, at
parameters drawn from its posterior (its final population; for a model that died out, the last generation it
had particles in), and each is fitted back with the same settings and candidates: the confusion matrix counts,
for each true model (row), the model of highest probability (column).

**The warning** (issue 75): probabilities at a loose tolerance can be far from those at a tight one (an ``ic``
kept at 0.5 by a budget of 5,000 on an SIR curve's statistics, at 0.02 by 40,000). The fit warns when a model's
probability among the particles nearest the data differs from its probability over the final population by more
than 0.1, beyond chance, and suggests a larger budget and the check (:func:`unsettled`).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.core.world import World
from sim.engine.requests import Fit
from sim.engine.requests.fit import MAX_MODELS, FitParams
from sim.errors import BadParameterError
from sim.model.registry import Registry
from sim.plugin.params import param_spec
from sim.runs.fit.abc import (
    GENERATION_SPAN,
    MAX_GENERATIONS,
    U_BOUND,
    Evaluate,
    Generation,
    Report,
    Sampler,
    Settings,
    SMCResult,
    log_mixture,
    proposal_kernel,
    run_generations,
    run_seeds,
    weighted_quantile,
)
from sim.runs.fit.fitting import (
    FitResult,
    Plan,
    Progress,
    fit_progress,
    fit_settings,
    fit_warnings,
    param_summaries,
    predictive_check,
)
from sim.runs.fit.priors import Prior, Priors
from sim.runs.fit.simulate import evaluate_batch
from sim.runs.transport import default_workers

#: The model kernel's probability of staying with the drawn model (pyabc's ``ModelPerturbationKernel`` default).
STAY = 0.7
#: The generation slot whose run seeds simulate the check's data sets (the predictive check has the next one).
CHECK_SLOT = MAX_GENERATIONS - 2
#: Tries at a check's data set whose simulation failed (a plugin raised), each at another draw.
CHECK_TRIES = 4
#: A model's warnings are shown beside the choice from this probability up.
WARN_FROM = 0.1
#: The nearest shares of the final population (by weight) whose model probabilities :func:`unsettled` compares
#: with the whole population's: the particles a tolerance at that quantile of the distances would keep.
NEAREST = (0.5, 0.25, 0.1)
#: How far (absolute) a model's probability among a nearest share may lie from the whole population's (as
#: :data:`WARN_FROM`: the least probability worth a model's own warnings) ...
SETTLE_BOUND = 0.1
#: ... and its particles' distances from the others', in standard errors of one of :func:`unsettled`'s tests (a
#: rank test of the whole population, a two-proportion test per nearest share), before it names the model.
SETTLE_Z = 3.0
#: The least effective sample size of a nearest share that :func:`unsettled` compares (a normal approximation).
SETTLE_MIN_ESS = 20.0


@dataclass(frozen=True)
class Candidate:
    """One model of the choice: its fit's plan (priors, simulator, statistics) and where its parameters sit in
    a particle's row (column 0 is the model's index; its ``width`` parameters from column ``start``)."""

    name: str
    plan: Plan
    start: int
    model: str = ""

    @property
    def priors(self) -> Priors:
        return self.plan.priors

    @property
    def width(self) -> int:
        return len(self.plan.priors)

    def block(self, u: np.ndarray) -> np.ndarray:
        """This model's columns of particle rows ``u``."""
        return u[:, self.start : self.start + self.width]


class _ChoiceSampler(Sampler):
    """The generations of a model choice: a single fit's (:class:`sim.runs.fit.abc.Sampler`) with particles
    that are a model and its parameters, proposed and weighed as the module says."""

    def __init__(
        self,
        candidates: list[Candidate],
        evaluators: list[Evaluate],
        observed: np.ndarray,
        settings: Settings,
        report: Report,
    ) -> None:
        every = Priors(tuple(p for c in candidates for p in c.priors.items))
        super().__init__(evaluators[0], observed, every, settings, report)
        self.candidates, self.evaluators = candidates, evaluators
        self.width = 1 + len(every)
        count = len(candidates)
        self.simulations_of = np.zeros(count, dtype=np.int64)
        self.failed_of = np.zeros(count, dtype=np.int64)
        #: Each completed generation's model probabilities.
        self.history: list[np.ndarray] = []
        #: Each model's particles (parameters' values, weights within it) in the last generation it had any.
        self.last: dict[int, tuple[np.ndarray, np.ndarray, int]] = {}

    # -- what differs from a single fit -----------------------------------------------------------------------
    async def _evaluate(self, u: np.ndarray, seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each model's rows simulated by its own simulator, with the run seeds of their places in the batch."""
        model = u[:, 0].astype(np.int64)
        stats = np.full((u.shape[0], self.observed.size), np.nan)
        failed = np.zeros(u.shape[0], dtype=bool)
        for k, cand in enumerate(self.candidates):
            rows = np.flatnonzero(model == k)
            if not rows.size:
                continue
            s, f = await self.evaluators[k](cand.priors.from_u(cand.block(u[rows])), seeds[rows])
            stats[rows] = np.asarray(s, dtype=np.float64).reshape(rows.size, -1)
            failed[rows] = np.asarray(f, dtype=bool)
            self.simulations_of[k] += rows.size
            self.failed_of[k] += int(np.sum(f))
        return stats, failed

    def _prepare(self, prev: SMCResult | None) -> None:
        """The model probabilities, the living models' kernel and each one's particle kernel after ``prev``."""
        self.kernels: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
        if prev is None:
            return
        model = prev.u[:, 0].astype(np.int64)
        count = len(self.candidates)
        p = np.bincount(model, weights=prev.weights, minlength=count)
        self.p = p / p.sum()
        self.alive = np.flatnonzero(np.bincount(model, minlength=count) > 0)
        for k in self.alive.tolist():
            rows = model == k
            u = self.candidates[k].block(prev.u[rows])
            w = prev.weights[rows] / prev.weights[rows].sum()
            cov = proposal_kernel(u, w)
            self.kernels[k] = (u, w, cov, np.linalg.cholesky(cov))
        # K[to, from] over the living models; the density of proposing model `to`: sum_from P(from) K(to | from).
        alive = self.alive.size
        jump = np.zeros((count, count))
        for a in self.alive.tolist():
            for b in self.alive.tolist():
                jump[b, a] = 1.0 if alive == 1 else STAY if a == b else (1 - STAY) / (alive - 1)
        self.model_density = jump @ self.p

    def _propose(self, generation: int, batch: int, count: int, prev: SMCResult | None) -> np.ndarray:
        rng = np.random.default_rng([self.seed, generation, batch])
        u = np.zeros((count, self.width))
        if prev is None:
            model = rng.integers(len(self.candidates), size=count)
            for k, cand in enumerate(self.candidates):
                rows = np.flatnonzero(model == k)
                u[rows, cand.start : cand.start + cand.width] = cand.priors.sample_u(rng, rows.size)
        else:
            model = rng.choice(len(self.candidates), size=count, p=self.p)
            if self.alive.size > 1:  # move to another living model, uniformly, with probability 1 - STAY
                move = rng.random(count) >= STAY
                j = rng.integers(self.alive.size - 1, size=count)
                place = np.searchsorted(self.alive, model)
                other = self.alive[np.where(j >= place, j + 1, j)]
                model = np.where(move, other, model)
            for k, cand in enumerate(self.candidates):
                rows = np.flatnonzero(model == k)
                if not rows.size:
                    continue
                old, w, _, chol = self.kernels[k]
                parents = rng.choice(old.shape[0], size=rows.size, p=w)
                noise = rng.standard_normal((rows.size, cand.width)) @ chol.T
                u[rows, cand.start : cand.start + cand.width] = np.clip(old[parents] + noise, -U_BOUND, U_BOUND)
        u[:, 0] = model
        return u

    def _weigh(self, u: np.ndarray, prev: SMCResult | None) -> np.ndarray:
        if prev is None:
            return np.full(u.shape[0], 1.0 / u.shape[0])
        model = u[:, 0].astype(np.int64)
        log_w = np.empty(u.shape[0])
        for k, cand in enumerate(self.candidates):  # the uniform model prior is the same for all: left out
            rows = model == k
            if not rows.any():
                continue
            old, w, cov, _ = self.kernels[k]
            theta = cand.block(u[rows])
            proposal = log_mixture(theta, old, w, cov) + math.log(self.model_density[k])
            log_w[rows] = Priors.log_density_u(theta) - proposal
        w = np.exp(log_w - log_w.max())
        return w / w.sum()

    def _population(self, u: np.ndarray, w: np.ndarray, stats: np.ndarray, d: np.ndarray) -> SMCResult:
        model = u[:, 0].astype(np.int64)
        x = np.full(u.shape, np.nan)
        x[:, 0] = model
        for k, cand in enumerate(self.candidates):
            rows = model == k
            if rows.any():
                x[rows, cand.start : cand.start + cand.width] = cand.priors.from_u(cand.block(u[rows]))
                self.last[k] = (cand.block(x[rows]), w[rows] / w[rows].sum(), len(self.history))
        self.history.append(np.bincount(model, weights=w, minlength=len(self.candidates)))
        return SMCResult(self.priors.names, x, u, w, stats, d)

    def posterior(self, k: int) -> tuple[np.ndarray, np.ndarray, int]:
        """Model ``k``'s particles (values, weights within it) in the last generation it had any, and that
        generation; -1 and draws from its prior for a model that never had one (a population too small)."""
        if k in self.last:
            return self.last[k]
        cand = self.candidates[k]
        x = cand.priors.from_u(cand.priors.sample_u(np.random.default_rng([self.seed, CHECK_SLOT - 1, k]), 100))
        return x, np.full(100, 0.01), -1

    def _every(self, stats: list[np.ndarray], u: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        if not stats:
            return np.zeros((0, self.observed.size)), np.zeros((0, self.width))
        return np.concatenate(stats), np.concatenate(u)


@dataclass(frozen=True)
class ChoiceCheck:
    """The confusion matrix of a choice: ``datasets`` data sets simulated from each model (at draws from its
    posterior), each fitted back; ``matrix[i][j]`` counts those of model ``i`` whose most probable model was
    ``j``, and ``probability[i][j]`` is model ``j``'s mean probability over model ``i``'s data sets."""

    models: list[str]
    matrix: list[list[int]]
    probability: list[list[float]]
    datasets: int
    seconds: float

    @property
    def accuracy(self) -> float:
        """The share of data sets whose own model was chosen."""
        total = sum(sum(row) for row in self.matrix)
        return sum(self.matrix[i][i] for i in range(len(self.models))) / total if total else 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "models": list(self.models),
            "matrix": [list(row) for row in self.matrix],
            "accuracy": round(self.accuracy, 4),
            "datasets": self.datasets,
            "draws": "posterior",
            "probability": [[round(p, 4) for p in row] for row in self.probability],
            "seconds": round(self.seconds, 3),
        }


@dataclass
class ChoiceResult:
    """What a choice between models found: each model's posterior probability (``probabilities``), its posterior
    (``fits``: a :class:`~sim.runs.fit.fitting.FitResult` per model, its samples weighted within the model), the
    simulations used and failed, the generations with the model probabilities after each (``history``), and the
    check of the choice (``check``, with ``check_choice``)."""

    models: list[str]
    probabilities: dict[str, float]
    fits: dict[str, FitResult]
    particles: dict[str, int]
    observed: dict[str, Any]
    simulations: int
    failed: int
    ess: float
    seconds: float
    seed: int
    workers: int
    population: int
    stopped: str
    generations: list[Generation] = field(default_factory=list)
    history: list[list[float]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    check: ChoiceCheck | None = None

    @property
    def chosen(self) -> str:
        """The model of highest probability (the first named of those tied)."""
        return max(self.models, key=lambda m: self.probabilities[m])

    def to_dict(self) -> dict[str, object]:
        """The report ``agora fit --model A,B --json`` prints."""
        models = []
        for name in self.models:
            fit = self.fits[name]
            models.append(
                {
                    "model": name,
                    "plugin": fit.model,
                    "probability": round(self.probabilities[name], 6),
                    "particles": self.particles[name],
                    "params": {k: v.to_dict() for k, v in fit.params.items()},
                    "fixed": fit.fixed,
                    "simulations": fit.simulations,
                    "failed": fit.failed,
                    "ess": round(fit.ess, 2),
                    "kernel": fit.kernel,
                    "warnings": list(fit.warnings),
                    "predictive": fit.predictive,
                }
            )
        return {
            "method": "abc-model-choice",
            "models": models,
            "chosen": self.chosen,
            "observed": self.observed,
            "simulations": self.simulations,
            "failed": self.failed,
            "ess": round(self.ess, 2),
            "seconds": round(self.seconds, 3),
            "seed": self.seed,
            "workers": self.workers,
            "population": self.population,
            "distance": "adaptive",
            "stopped": self.stopped,
            "generations": [
                {
                    "generation": g.index,
                    "epsilon": None if math.isinf(g.epsilon) else g.epsilon,
                    "simulations": g.simulations,
                    "accepted": g.accepted,
                    "acceptance": round(g.acceptance, 4),
                    "ess": round(g.ess, 2),
                    "seconds": round(g.seconds, 3),
                    "probabilities": dict(zip(self.models, (round(p, 6) for p in probs), strict=True)),
                }
                for g, probs in zip(self.generations, self.history, strict=True)
            ],
            "warnings": list(self.warnings),
            "choice": self.check.to_dict() if self.check is not None else None,
        }


def _own_params(request: Fit, registry: Registry) -> dict[str, FitParams]:
    """Each candidate's share of the request's parameters, by label: ``LABEL.NAME`` to that candidate alone, a
    plain ``NAME`` to every candidate whose model has it (a parameter none has is refused)."""
    params = request.params
    schemas = {label: registry.model(model).params for label, model in request.choices}
    ranges: dict[str, list[Prior]] = {label: [] for label in schemas}
    fixed: dict[str, dict[str, str]] = {label: {} for label in schemas}
    items: list[tuple[str, Prior | str]] = [(p.name, p) for p in params.priors.items]
    items += list(params.fixed.items())
    for name, value in items:
        label, dot, own = name.partition(".")
        targets = [label] if dot and label in schemas else [k for k, s in schemas.items() if param_spec(s, name)]
        if dot and label in schemas:
            if param_spec(schemas[label], own) is None:
                raise BadParameterError(
                    f"params {name[:40]!r}: model {label!r} has no parameter {own[:40]!r} "
                    f"(its parameters are {', '.join(sorted(schemas[label])) or 'none'})",
                    fields="params",
                )
            name = own
        if not targets:
            raise BadParameterError(
                f"params {name[:40]!r} is a parameter of none of the models {', '.join(request.models)}: "
                "give parameters that at least one of them has (agora plugins list shows them), or LABEL.NAME "
                "for one model",
                fields="params",
            )
        for target in targets:
            if name in fixed[target] or any(p.name == name for p in ranges[target]):
                raise BadParameterError(
                    f"params gives {name[:40]!r} of model {target!r} twice: give it once", fields="params"
                )
            if isinstance(value, Prior):
                ranges[target].append(dataclasses.replace(value, name=name))
            else:
                fixed[target][name] = value
    out = {}
    for label, schema in schemas.items():
        if not ranges[label]:
            raise BadParameterError(
                f"model {label!r} has none of the fitted parameters: give a range for one of its parameters "
                f"({', '.join(sorted(schema)) or 'none'}) as params NAME=LO..HI",
                fields="params",
            )
        out[label] = FitParams(Priors(tuple(ranges[label])), fixed[label])
    return out


def candidates_for(world: World, registry: Registry, request: Fit) -> list[Candidate]:
    """Each model's plan, checked: parameters shared out, the same statistics of the same observation.

    Raises:
        BadParameterError: ray, the exact method, a parameter no model has, a model with no fitted parameter,
            an observed column a model does not report (one sentence each).
    """
    if request.ray is not None:
        raise BadParameterError(
            "ray runs one model's fit; a choice between models runs in local processes: drop ray", fields="ray"
        )
    if request.method == "exact":
        raise BadParameterError(
            "method exact fits one model; a choice between models is made by ABC: drop method", fields="method"
        )
    shares = _own_params(request, registry)
    out: list[Candidate] = []
    start = 1
    for label, model in request.choices:
        own = dataclasses.replace(request, model=model, params=shares[label], method="abc", check_choice=0)
        plan = Plan(world, registry, own)
        out.append(Candidate(label, plan, start, model))
        start += len(plan.priors)
    first = out[0].plan.summary
    assert first is not None  # method abc: every plan has its statistics
    for cand in out[1:]:
        summary = cand.plan.summary
        assert summary is not None
        if summary.names != first.names or not np.array_equal(summary.observed, first.observed, equal_nan=True):
            raise BadParameterError(  # not reached by the built-in statistics; a guard for what may come
                f"models {out[0].name} and {cand.name} would compare different statistics of the observation: "
                "fit columns both report (columns)",
                fields="columns",
            )
    return out


def _evaluator(cand: Candidate, workers: int) -> Evaluate:
    """A model's simulations over ``workers`` forked processes, as a single fit's (the kernel loaded first)."""
    sim, summary = cand.plan.simulator, cand.plan.summary
    assert sim is not None and summary is not None
    sim.warm()

    async def evaluate(x: np.ndarray, seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return await evaluate_batch(sim, summary, x, seeds, summary.observed.size, workers)

    return evaluate


async def _choose(
    candidates: list[Candidate],
    evaluators: list[Evaluate],
    observed: np.ndarray,
    settings: Settings,
    report: Report,
) -> tuple[_ChoiceSampler, SMCResult]:
    sampler = _ChoiceSampler(candidates, evaluators, observed, settings, report)
    result, _ = await run_generations(sampler, settings, report)
    return sampler, result


def _model_fit(request: Fit, cand: Candidate, k: int, sampler: _ChoiceSampler, result: SMCResult) -> FitResult:
    """Model ``k``'s posterior: its particles of the last generation it had any, weighted within it."""
    x, w, _ = sampler.posterior(k)
    own = SMCResult(cand.priors.names, x, cand.priors.to_u(x), w, np.zeros((w.size, 0)), np.zeros(w.size))
    sim = cand.plan.simulator
    assert sim is not None
    fit = FitResult(
        model=cand.model or cand.name,
        method="abc",
        observed=cand.plan.describe_observed(),
        names=cand.priors.names,
        params=param_summaries(own, cand.priors),
        samples=x,
        weights=w,
        simulations=int(sampler.simulations_of[k]),
        failed=int(sampler.failed_of[k]),
        ess=own.ess,
        seconds=0.0,
        seed=request.seed,
        workers=0,
        kernel="batched" if sim.batched else "engine",
        stopped=result.stopped,
        fixed={n: v for n, v in sim.params.items() if n not in cand.priors.names},
        distance="adaptive",
        observation=tuple(n for n in cand.priors.names if n in sim.apart),
    )
    fit.warnings = fit_warnings(fit, cand.priors, w.size)
    return fit


async def run_choice(
    world: World, registry: Registry, request: Fit, *, progress: Progress = None, workers: int | None = None
) -> ChoiceResult:
    """Choose between ``request.models`` on ``world`` (never modified): ABC-SMC model choice, each model's
    posterior, and with ``check_choice`` the confusion matrix of the choice.

    Raises:
        BadParameterError: as :func:`sim.runs.fit.fitting.run_fit`, and a parameter no model has, a model with
            none of the fitted parameters, ray or the exact method (one sentence each).
        BadFileError: the observation file cannot be read.
    """
    t0 = time.perf_counter()
    candidates = candidates_for(world, registry, request)
    count = request.workers or workers or default_workers(max(1, request.budget))
    evaluators = [_evaluator(c, count) for c in candidates]
    settings = dataclasses.replace(fit_settings(request), distance="adaptive", adjust=False)
    rounds = 1 + request.check_choice * len(candidates)
    summary = candidates[0].plan.summary
    assert summary is not None
    report = fit_progress(_share(progress, 0, rounds, ""), request.budget, t0)
    sampler, result = await _choose(candidates, evaluators, summary.observed, settings, report)
    names = [c.name for c in candidates]
    model = result.u[:, 0].astype(np.int64)
    probs = np.bincount(model, weights=result.weights, minlength=len(candidates))
    fits = {c.name: _model_fit(request, c, k, sampler, result) for k, c in enumerate(candidates)}
    out = ChoiceResult(
        models=names,
        probabilities={n: float(p) for n, p in zip(names, probs, strict=True)},
        fits=fits,
        particles={n: int(np.sum(model == k)) for k, n in enumerate(names)},
        observed=candidates[0].plan.describe_observed(),
        simulations=result.simulations,
        failed=result.failed,
        ess=result.ess,
        seconds=0.0,
        seed=request.seed,
        workers=count,
        population=settings.population,
        stopped=result.stopped,
        generations=list(result.generations),
        history=[(h / h.sum()).tolist() for h in sampler.history],
    )
    for fit in fits.values():
        fit.workers = count
    out.warnings = _choice_warnings(out, sampler, result)
    if request.predictive:
        for cand in candidates:
            if out.particles[cand.name]:
                if progress:
                    progress(f"posterior predictive check of {cand.name}: {request.predictive} simulations", 1.0)
                fits[cand.name].predictive = await predictive_check(
                    cand.plan, fits[cand.name], request.predictive, count
                )
    if request.check_choice:
        out.check = await check_choice(candidates, evaluators, sampler, settings, request, progress, rounds)
    out.seconds = time.perf_counter() - t0
    return out


def _kish(w: np.ndarray) -> float:
    """Kish's effective sample size of weights ``w``."""
    return float(w.sum() ** 2 / np.sum(w**2)) if w.size else 0.0


def rank_z(inside: np.ndarray, weights: np.ndarray, distances: np.ndarray) -> float:
    """How much farther from the data the particles ``inside`` lie than the others, in standard errors: the
    weighted Mann-Whitney statistic (the weighted chance that one of them lies farther than one of the others,
    ties counting a half) less 1/2, over its standard deviation under independence of distance and group,
    ``sqrt((n1 + n2 + 1) / (12 n1 n2))`` with each group's Kish effective size. Positive: they lie farther;
    0 when either group is empty."""
    d_in, w_in = distances[inside], weights[inside]
    d_out, w_out = distances[~inside], weights[~inside]
    if not d_in.size or not d_out.size:
        return 0.0
    order = np.argsort(d_out, kind="stable")
    d_out, cum = d_out[order], np.concatenate([[0.0], np.cumsum(w_out[order])])
    below = cum[np.searchsorted(d_out, d_in, side="left")]
    tied = cum[np.searchsorted(d_out, d_in, side="right")] - below
    auc = float(np.sum(w_in * (below + 0.5 * tied))) / (w_in.sum() * w_out.sum())
    n1, n2 = _kish(w_in), _kish(w_out)
    return (auc - 0.5) / math.sqrt((n1 + n2 + 1) / (12 * n1 * n2))


def unsettled(names: list[str], model: np.ndarray, weights: np.ndarray, distances: np.ndarray) -> str | None:
    """A warning (one sentence) when the model probabilities of a final population have not settled: a smaller
    tolerance would change them. None when they have, or when the population cannot tell.

    ABC's model probabilities are those of the particles within the tolerance, and they have settled when a
    model's share does not depend on how near the data its particles are: a smaller tolerance then keeps the same
    shares. The nearest shares of :data:`NEAREST` (the nearest half, quarter and tenth of the population by
    weight: the particles a tolerance at that weighted quantile of the distances would keep; a share of Kish
    effective size below :data:`SETTLE_MIN_ESS` is not used) show what such a tolerance would say. **The rule**: a
    model is named when both

    - its probability among one of the nearest shares differs from its probability over the whole population by
      more than :data:`SETTLE_BOUND` (0.1, absolute: the probability from which a model's own warnings are
      shown): the change matters; and
    - the dependence is not chance: its particles' distances differ from the others' by more than
      :data:`SETTLE_Z` (3) standard errors in one of four tests, the weighted Mann-Whitney test of the whole
      population (:func:`rank_z`: it sees a steady drift) and, for each nearest share, the two-proportion test of
      its probability there against the rest (pooled: the whole population's probability; each side's size its
      Kish effective size; it sees a drift among the nearest alone). On populations made with the model
      independent of the distance, 0.2 to 0.6 % of two models' and 1.5 % of three models' warned
      (tests/test_choice_warning.py checks 300).

    It covers a model none of whose particles comes near the data (its probability among the nearest is 0) as
    well as one that keeps its weight far from it. The sentence gives the share where the named models moved
    most and the largest test statistic.

    The population is split by distance, not in halves by the order the particles were drawn: those halves are
    two samples of the same estimate, so they differ only by Monte Carlo noise (the effective sample size says
    that already). On an SIR curve's peak, peak tick and final size fitted by ``sir`` and ``ic``
    (tests/test_choice_warning.py), P(ic) was 0.26 at a budget of 2,000, 0.19 at 5,000 and 0 at 40,000; at
    2,000 the halves in drawing order gave 0.27 and 0.25, the nearest quarter 0.10.

    Args:
        names: the models, in index order.
        model: each particle's model index.
        weights: the particles' weights (normalised here).
        distances: each particle's distance to the data (the final population's, under one distance).
    """
    finite = np.isfinite(distances)
    if finite.sum() < 2 or weights[finite].sum() <= 0:
        return None
    m, d = model[finite], distances[finite]
    w = weights[finite] / weights[finite].sum()
    count = len(names)
    whole = np.bincount(m, weights=w, minlength=count)
    pooled = np.clip(whole, 0.0, 1.0)
    strength = np.abs([rank_z(m == k, w, d) for k in range(count)])
    shares: list[tuple[float, np.ndarray, int]] = []
    for share in NEAREST:
        near = d <= float(weighted_quantile(d, w, share))
        if near.all() or _kish(w[near]) < SETTLE_MIN_ESS:  # ties (a discrete statistic), or too few to compare
            continue
        p_near = np.bincount(m[near], weights=w[near], minlength=count) / w[near].sum()
        p_rest = np.bincount(m[~near], weights=w[~near], minlength=count) / w[~near].sum()
        se = np.sqrt(pooled * (1 - pooled) * (1 / _kish(w[near]) + 1 / _kish(w[~near])))
        strength = np.maximum(strength, np.abs(p_near - p_rest) / np.where(se > 0, se, np.inf))
        shares.append((share, p_near, int(near.sum())))
    if not shares:
        return None
    moved = np.max([np.abs(p - whole) for _, p, _ in shares], axis=0)
    flagged = (strength > SETTLE_Z) & (moved > SETTLE_BOUND)
    if not flagged.any():
        return None
    share, p_near, kept = max(shares, key=lambda s: float(np.max(np.abs(s[1] - whole)[flagged])))
    change = p_near - whole
    which = [k for k in np.argsort(change, kind="stable").tolist() if flagged[k]]  # those that fall first
    near_text = " and ".join(f"P({names[k]}) {'is ' if i == 0 else ''}{p_near[k]:.2f}" for i, k in enumerate(which))
    whole_text = " and ".join(f"{whole[k]:.2f}" for k in which)
    part = {0.5: "half", 0.25: "quarter", 0.1: "tenth"}.get(share, f"{share:.0%}")
    lead = which[0]
    side = "farther from" if change[lead] < 0 else "nearer"
    return (
        f"the model probabilities have not settled: among the {part} of the final population nearest the data "
        f"({kept} of {m.size} particles) {near_text}, against {whole_text} over all of it ({names[lead]}'s "
        f"particles lie {side} the data than the others', {float(strength[flagged].max()):.1f} standard errors "
        "from chance), so a smaller tolerance would change them: give a larger --budget, and check whether the "
        "statistics can tell these models apart with --check-choice N"
    )


def _choice_warnings(out: ChoiceResult, sampler: _ChoiceSampler, result: SMCResult) -> list[str]:
    warnings = []
    moving = unsettled(out.models, result.u[:, 0].astype(np.int64), result.weights, result.distances)
    if moving is not None:
        warnings.append(moving)
    for k, name in enumerate(out.models):
        if not out.particles[name]:
            gen = sampler.posterior(k)[2]
            last = f"those of generation {gen}, the last it had particles in" if gen >= 0 else "its prior's"
            warnings.append(f"model {name} has no particle left (probability 0): its parameters are {last}")
        elif out.probabilities[name] >= WARN_FROM:
            warnings += [f"{name}: {w}" for w in out.fits[name].warnings if "simulations failed" not in w]
    if out.failed:
        warnings.append(f"{out.failed} simulations failed (a plugin raised): none of them is in the posterior")
    return warnings


def _share(progress: Progress, index: int, rounds: int, what: str) -> Progress:
    """``progress`` for round ``index`` of ``rounds`` (the fit, then each of the check's data sets)."""
    if progress is None:
        return None
    report: Callable[[str, float], None] = progress

    def say(text: str, fraction: float) -> None:
        report(f"{what}{text}", (index + fraction) / rounds)

    return say


async def _datasets(k: int, sampler: _ChoiceSampler, evaluators: list[Evaluate], count: int, seed: int) -> np.ndarray:
    """``count`` data sets' statistics from model ``k``, at draws from its posterior (a failed simulation is
    drawn again, :data:`CHECK_TRIES` times at most)."""
    x, w, _ = sampler.posterior(k)
    rng = np.random.default_rng([seed, CHECK_SLOT, k])
    out = np.full((count, sampler.observed.size), np.nan)
    todo = np.arange(count)
    start = k * (GENERATION_SPAN // MAX_MODELS)  # each model's run seeds apart
    for _ in range(CHECK_TRIES):
        rows = rng.choice(x.shape[0], size=todo.size, p=w)
        stats, bad = await evaluators[k](x[rows], run_seeds(seed, CHECK_SLOT, start, todo.size))
        start += todo.size
        out[todo[~bad]] = stats[~bad]
        todo = todo[bad]
        if not todo.size:
            return out
    raise BadParameterError(
        f"the check could not simulate {todo.size} data sets of model {sampler.candidates[k].name}: its "
        f"simulations failed {CHECK_TRIES} times (a plugin raised)"
    )


async def check_choice(
    candidates: list[Candidate],
    evaluators: list[Evaluate],
    sampler: _ChoiceSampler,
    settings: Settings,
    request: Fit,
    progress: Progress,
    rounds: int,
) -> ChoiceCheck:
    """The confusion matrix of the choice: ``request.check_choice`` data sets from each model, fitted back."""
    t0 = time.perf_counter()
    size = len(candidates)
    matrix = [[0] * size for _ in range(size)]
    mean = np.zeros((size, size))
    n = request.check_choice
    for k, cand in enumerate(candidates):
        data = await _datasets(k, sampler, evaluators, n, request.seed)
        for i in range(n):
            index = 1 + k * n + i
            what = f"check {index} of {rounds - 1} (data of {cand.name}): "
            report = fit_progress(_share(progress, index, rounds, what), request.budget, time.perf_counter())
            _, result = await _choose(candidates, evaluators, data[i], settings, report)
            probs = np.bincount(result.u[:, 0].astype(np.int64), weights=result.weights, minlength=size)
            matrix[k][int(np.argmax(probs))] += 1
            mean[k] += probs / probs.sum()
    return ChoiceCheck([c.name for c in candidates], matrix, (mean / n).tolist(), n, time.perf_counter() - t0)
