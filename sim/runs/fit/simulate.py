"""The simulations of a fit: one particle's parameters and run seed in, its runs' reports out.

A fit runs thousands of small simulations of one model on one world, each with its own parameters. Where the
model has a compiled kernel and nothing else moves (the built-in ``ic``, ``lt`` and ``sir``:
:func:`sim.runs.batched.why_not`), a simulation is a kernel run with the particle's parameters, and its report
is, field for field, the engine's run of the same session seed and parameters (``tests/test_batched.py``
couples the two). Otherwise each simulation is an ensemble of the engine (:class:`sim.runs.runner.EnsembleRuns`):
any model a user writes can be fitted.

A particle's ``replicates`` runs use session seeds ``run_seed * replicates + j``; the same particle and run
seed give the same runs in any process, so a batch may be split over forked workers (:func:`evaluate_batch`)
without changing a number.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

import numpy as np

from sim.engine.requests import Ensemble
from sim.errors import BadParameterError
from sim.llm.config import LLMConfig
from sim.model.imports import IMPORT, MAX_RATE, Imports, local_counts
from sim.plugin.params import param_for, param_spec
from sim.runs import batched
from sim.runs.fit.priors import Priors
from sim.runs.fit.reporting import Delay, Observation, fraction_range_error, fractions_of, observation_for
from sim.runs.fit.start import (
    MAX_START,
    SEEDS,
    START,
    counted,
    fixed_start,
    padded,
    seeds_of,
    shifted_params,
    shifted_reseeds,
    shifted_run,
    start_range_error,
)
from sim.runs.fit.walk import (
    MAX_WALK,
    WALK,
    fixed_walk,
    multipliers,
    transmission_name,
    walk_range_error,
    walked,
)
from sim.runs.reports import RunEntry
from sim.runs.runner import EnsembleRuns
from sim.runs.transport import fork_available, map_forked

if TYPE_CHECKING:
    from sim.core.world import World
    from sim.model.registry import Registry

#: Runs of one particle at most (the statistics of a set of cascades compare distributions).
MAX_REPLICATES = 256
_OFFLINE = {"offline": True}


def _check_priors(model: str, registry: Registry, priors: Priors, fractions: Sequence[str] = ()) -> None:
    """Each fitted parameter is a number of ``model`` and its range lies within the parameter's bounds; the
    observation model's ``fractions`` (its channels', the default one's included) within 0 .. 1."""
    cls = registry.model(model)
    schema = cls.params
    for prior in priors.items:
        if prior.name in fractions and prior.name not in schema:
            if prior.lo < 0 or prior.hi > 1:
                raise fraction_range_error(prior.name, prior.describe())
            continue
        if prior.name == WALK and WALK not in schema:
            if prior.lo < 0 or prior.hi > MAX_WALK:
                raise walk_range_error(prior.describe())
            transmission_name(schema, model)
            continue
        if prior.name == START and START not in schema:
            if prior.lo < 0 or prior.hi > MAX_START:
                raise start_range_error(prior.describe())
            continue
        if prior.name == SEEDS and SEEDS not in schema:
            seeds_of(math.ceil(prior.lo), prior.describe())  # from 1; the most against the world in Simulator
            continue
        if prior.name == IMPORT and IMPORT not in schema:
            if prior.lo < 0 or prior.hi > MAX_RATE:
                raise BadParameterError(
                    f"params {prior.describe()}: the importation rate import counts people a tick from 0 to "
                    f"{MAX_RATE:g}; keep the range within it",
                    fields="params",
                )
            continue
        param = param_spec(schema, prior.name)
        if param is None:
            known = ", ".join(sorted(schema)) or "none"
            raise BadParameterError(
                f"model {model!r} has no parameter {prior.name!r} to fit: its parameters are {known}"
            )
        if param.type not in (int, float) or param.type is bool:
            raise BadParameterError(
                f"{model}'s parameter {prior.name!r} is {param.describe_range()}: only numbers can be fitted"
            )
        if (param.min is not None and prior.lo < param.min) or (param.max is not None and prior.hi > param.max):
            raise BadParameterError(
                f"params {prior.describe()}: {model}'s {prior.name} must be {param.describe_range()}; "
                "keep the range within it",
                fields="params",
            )


def _middle(priors: Priors, apart: set[str]) -> dict[str, float]:
    return {
        p.name: math.sqrt(p.lo * p.hi) if p.log else 0.5 * (p.lo + p.hi)
        for p in priors.items  # a value inside every range: the probe checks the other parameters with it
        if p.name not in apart
    }


class SimulatorOptions(TypedDict, total=False):
    """How a :class:`Simulator`'s simulations run, beyond the model and its parameters: ``replicates`` runs a
    simulation (default 1), the ``kernel`` (``auto``, ``engine`` or ``batched``) and the ``fractions``, the names of
    observation channels' reporting fractions among the parameters (the observation model's, not the model's)."""

    replicates: int
    kernel: str
    fractions: Sequence[str]


class Simulator:
    """The simulations of one fit: ``model`` on ``world`` with the fixed parameters and seed selection, each
    simulation ``replicates`` runs of ``steps`` ticks (None: until done, at most ``max_ticks``).

    ``report`` among the priors or the fixed values is the observation model's reporting fraction
    (:mod:`sim.runs.fit.reporting`), not a model parameter (unless the model has one of that name): it is split off
    the model's here, and :meth:`observe` puts the observation model between the runs and the summaries.

    Raises:
        BadParameterError: an unknown model, a parameter the model lacks or cannot take, a range outside a
            parameter's bounds, a bad fixed value or seed selection (one sentence each).
    """

    def __init__(
        self,
        world: World,
        registry: Registry,
        *,
        model: str,
        priors: Priors,
        fixed: Mapping[str, str],
        seeds: str,
        steps: int | None,
        max_ticks: int,
        **options: Unpack[SimulatorOptions],
    ) -> None:
        replicates, kernel = int(options.get("replicates", 1)), str(options.get("kernel", "auto"))
        fractions = fractions_of(tuple(options.get("fractions", ())), registry.model(model).params)
        if not 1 <= replicates <= MAX_REPLICATES:
            raise BadParameterError(f"replicates must be from 1 to {MAX_REPLICATES}, not {replicates}")
        _check_priors(model, registry, priors, fractions)
        self.world, self.registry, self.priors, self.replicates = world, registry, priors, replicates
        self.names = priors.names
        self.schema = registry.model(model).params
        #: The parameters that are not the model's: the observation model's fractions and the importation rate.
        self.apart = {IMPORT, START, SEEDS, WALK, *fractions} - set(self.schema)
        self.fixed, self.horizon = dict(fixed), steps or max_ticks
        #: The epidemic's start (:mod:`sim.runs.fit.start`): fixed, or fitted (its column), and the most rounds a
        #: run is made longer for it; the ticks a run's series keeps (None: until done).
        self._fixed_start = fixed_start(fixed[START]) if START in fixed and START in self.apart else 0
        self._fitted_start = self.names.index(START) if START in self.names and START in self.apart else None
        hi = math.ceil(priors.items[self._fitted_start].hi) if self._fitted_start is not None else 0
        self.max_start, self._length = max(self._fixed_start, hi), steps
        self._counting(seeds, fixed)
        #: The random walk of log-transmission (:mod:`sim.runs.fit.walk`): fixed or fitted volatility, the parameter
        #: it moves, and the rounds of a run it covers.
        self._fixed_walk = fixed_walk(fixed[WALK]) if WALK in fixed and WALK in self.apart else 0.0
        self._fitted_walk = self.names.index(WALK) if WALK in self.names and WALK in self.apart else None
        walks = self._fitted_walk is not None or self._fixed_walk > 0
        self._walk_name = transmission_name(self.schema, model) if walks else ""
        self._rounds = (steps if steps is not None else max_ticks) + self.max_start
        self.observation: Observation | None = None
        self.import_rate: float | None = None  # a fixed importation rate (people a tick), where one is given
        if IMPORT not in self.schema and IMPORT in fixed:
            self.import_rate = _fixed_rate(fixed[IMPORT])
        fixed = {k: v for k, v in fixed.items() if k not in self.apart}  # the observation's and importations'

        fields: dict[str, object] = {
            "text": "fit",
            "model": model,
            "params": {**dict(fixed), **_middle(priors, self.apart)},
            "seeds": seeds,
            "runs": replicates,
            "seed": 0,
            "steps": None if steps is None else steps + self.max_start,
            "until_done": steps is None,
            "llm": _OFFLINE,
            "llm_wait": 0,
            "kernel": kernel,
            "workers": 1,
        }
        if steps is None:
            fields["max_ticks"] = max_ticks + self.max_start
        self.request = Ensemble.parse(fields, registry)
        assert self.request.message is not None
        self.config = LLMConfig.resolve(world.config.get("llm"), dict(_OFFLINE))
        self.config = dataclasses.replace(self.config, texts_per_tick=0)
        self.ensemble = EnsembleRuns(world, registry, self.request, self.request.message, self.config)
        self.params: dict[str, Any] = dict(self.ensemble.check(kernel, batched.AUTO_RUNS))
        self.batched = self.ensemble.batched
        self.kernel_reason = self.ensemble.reason
        self.model = model
        self._run: Callable[[dict[str, Any], int], list[RunEntry]] = (
            self._kernel_runs if self.batched else self._engine_runs
        )
        self._kernel: batched.KernelRuns | None = None
        self._replicas = list(range(replicates))
        #: Importations (:meth:`importing`): the observed imported agents a tick, their rate past them, the people
        #: an agent stands for, and the model's seed state (whose entries the imported agents are counted in).
        self._import_counts: np.ndarray | None = None
        self._particle_imports: Imports | None = None
        self._reseeds: np.ndarray | None = None  # a particle filter's branches of the run being made (true_runs)
        self._walk: np.ndarray | None = None  # the run's walk of transmission, for the kernel (true_runs)
        # A particle filter's run paused, to go on from, and the round to pause it at (true_runs); the run left
        # paused there (sim.runs.epidemic_kernels.Paused).
        self._paused: tuple[np.ndarray, ...] | None = None
        self._until: int | None = None
        self._only: str | None = None
        self.paused: tuple[np.ndarray, ...] | None = None
        self._same_imports: Imports | None = None
        self._import_after, self._import_scale = 0.0, 1.0
        cls = registry.model(model)
        self._seed_name = str(cls.states[int(cls.seed_state)])
        self._seed_onset = int(cls.seed_state) in cls.counted_onsets()
        self._fitted_import = self.names.index(IMPORT) if IMPORT in self.names and IMPORT not in self.schema else None
        if self.import_rate is not None or self._fitted_import is not None:
            self.importing(None)

    def importing(self, counts: np.ndarray | None, after: float = 0.0, scale: float = 1.0) -> None:
        """Infect agents from outside in every run (:mod:`sim.model.imports`): ``counts[t]`` agents at tick ``t``
        (the observed imported cases, scaled to agents already), ``after`` agents a tick on average past them,
        and the ``import`` parameter's rate (people a tick, divided by ``scale``, the people an agent stands for).
        The runs' per-tick counts of the seed state's entries (``new``, ``onsets``) are then the local ones.

        Raises:
            BadParameterError: a model whose runs cannot take imported cases (see :func:`check_importing`).
        """
        check_importing(self.registry, self.model)
        if self.batched and self.model not in batched.LAYERED_MODELS:  # the compiled cascades import nobody
            self.batched, self._run = False, self._engine_runs
            self.kernel_reason = f"imported cases in {self.model} run on the engine"
        self._import_counts = np.zeros(0, dtype=np.int64) if counts is None else np.asarray(counts, dtype=np.int64)
        self._same_imports = None
        self._import_after, self._import_scale = float(after), float(scale)
        if self.ensemble.probe is not None:
            self.ensemble.probe.imports = self._imports(None)
        self.ensemble.imports = self._imports(None)

    @property
    def imported(self) -> bool:
        """Whether the runs infect agents from outside (:meth:`importing`)."""
        return self._import_counts is not None

    def _imports(self, row: np.ndarray | None) -> Imports | None:
        """The importations of the particle ``row`` (None: the fixed rate's, or none fitted yet)."""
        if self._import_counts is None:
            return None
        if row is not None and self._fitted_import is not None:
            rate = float(row[self._fitted_import]) / self._import_scale
            return Imports(self._import_counts, rate, self._import_after)
        if self._same_imports is None:  # the same for every particle: made once
            rate = (self.import_rate or 0.0) / self._import_scale
            self._same_imports = Imports(self._import_counts, rate, self._import_after)
        return self._same_imports

    def observe(
        self,
        delay: Delay | None,
        columns: tuple[str, ...],
        scale: float = 1.0,
        channels: Sequence[tuple[str, str, Delay | None]] = (),
    ) -> None:
        """Put the observation model the fit asks for (``report`` among its parameters, ``delay``, and the
        ``channels``' own fractions and delays) between the runs and the summaries, applied to the observed
        ``columns`` (:func:`sim.runs.fit.reporting.observation_for`); ``scale``: the people each agent stands for
        (``people / agents``).

        Raises:
            BadParameterError: see :func:`~sim.runs.fit.reporting.observation_for`.
        """
        self.observation = observation_for(
            self.model, self.schema, self.names, self.fixed, delay, columns, self.horizon, scale, channels
        )

    def typed(self, row: np.ndarray) -> dict[str, object]:
        """The model's parameters with ``row``'s fitted values (whole numbers rounded for ``int`` ones; the
        reporting fraction is not the model's)."""
        out = dict(self.params)
        for name, v in zip(self.names, row.tolist(), strict=True):
            if name not in self.apart:
                out[name] = int(round(v)) if param_for(self.schema, name).type is int else float(v)
        return out

    def runs(self, row: np.ndarray, run_seed: int) -> list[RunEntry]:
        """The ``replicates`` runs of the particle ``row`` (the fitted parameters' values) and ``run_seed``, as the
        observation model sees them where there is one."""
        runs = self.true_runs(row, run_seed)
        if self.observation is None:
            return runs
        first = int(run_seed) * self.replicates
        seeds = range(first, first + len(runs))
        return self.observation.apply(runs, row, seeds)

    def true_runs(
        self,
        row: np.ndarray,
        run_seed: int,
        reseeds: np.ndarray | None = None,
        paused: tuple[np.ndarray, ...] | None = None,
        until: int | None = None,
        only: str | None = None,
    ) -> list[RunEntry]:
        """:meth:`runs` before the observation model: every case as the world counts it (local cases only, where
        imported ones come in), in agents (a particle filter weighs them by the observation's likelihood).
        ``reseeds``: the run's branches (:data:`sim.runs.epidemic_kernels.Reseeds`), where :attr:`branches`;
        ``paused`` (there too): the run goes on from that paused run (``NOT_PAUSED``: from its start) up to the
        observation's tick ``until`` (None: the end), and is left paused there in :attr:`paused`; ``only`` (there
        too): each run's series of that column of counts alone (:func:`sim.runs.kernel_report.counts_only`; not
        the forest's depth and breadth)."""
        first = int(run_seed) * self.replicates
        start = self.start_of(row)
        imports = padded(self._imports(row), start)
        params = shifted_params(self.typed(row), start)
        volatility = self._fixed_walk if self._fitted_walk is None else float(row[self._fitted_walk])
        if volatility > 0.0 and self.batched and self.model in batched.LAYERED_MODELS:
            # The kernel takes the walk's multipliers themselves (the same law as its keys, made without them).
            self._walk = multipliers(params, self._walk_name, volatility, int(run_seed), self._rounds)
        elif volatility > 0.0:
            params = walked(params, self._walk_name, volatility, int(run_seed), self._rounds)
        self._reseeds = shifted_reseeds(reseeds, start)
        self._paused, self._until = paused, None if until is None else until + start
        self._seed_k = self.seeds_of(row)
        self._only = only if self.branches else None
        try:
            runs = self._run(params, first) if imports is None else self._run_imported(params, first, imports)
        finally:
            self._reseeds, self._walk, self._paused, self._until, self._only = None, None, None, None, None
            self._seed_k = None
        return [shifted_run(r, start, self._length) for r in runs] if self.max_start else runs

    def _counting(self, seeds: str, fixed: Mapping[str, object]) -> None:
        """How many agents the epidemic starts from (:mod:`sim.runs.fit.start`): fixed or fitted (its column), of
        the selection ``seeds`` (None: its own count)."""
        self._fixed_seeds: int | None = None
        self._fitted_seeds: int | None = None
        self._seed_spec = None
        self._seed_k = None  # the run being made's count of seeds (true_runs)
        if SEEDS in self.apart and (SEEDS in fixed or SEEDS in self.names):
            fitted = SEEDS in self.names
            most = math.ceil(self.priors.items[self.names.index(SEEDS)].hi) if fitted else _fixed_count(fixed[SEEDS])
            self._seed_spec = counted(seeds, self.world, most)
            self._fitted_seeds = self.names.index(SEEDS) if fitted else None
            self._fixed_seeds = None if fitted else most

    def seeds_of(self, row: np.ndarray) -> int | None:
        """The particle ``row``'s count of seeds (None: the selection's own)."""
        if self._fitted_seeds is None:
            return self._fixed_seeds
        return max(1, int(round(float(row[self._fitted_seeds]))))

    def start_of(self, row: np.ndarray) -> int:
        """The particle ``row``'s start: the rounds its epidemic runs before the observation's first tick."""
        if self._fitted_start is None:
            return self._fixed_start
        return int(round(float(row[self._fitted_start])))

    @property
    def branches(self) -> bool:
        """Whether a run can branch (:meth:`true_runs`' ``reseeds``): ``sir`` and ``seir`` in the compiled
        kernels, one run a simulation."""
        return self.batched and self.model in ("sir", "seir") and self.replicates == 1

    def _run_imported(self, params: dict[str, Any], first: int, imports: Imports) -> list[RunEntry]:
        """The particle's runs (of its model's ``params``) with ``imports``, their imported agents taken out of the
        per-tick counts that count them (the local cases, which the data's column counts)."""
        self._particle_imports = imports
        try:
            runs = self._run(params, first)
        finally:
            self._particle_imports = None
        return [
            run
            if not run.get("series")
            else {**run, "series": local_counts(run["series"], list(run["series"]), self._seed_name, self._seed_onset)}
            for run in runs
        ]

    def _engine_runs(self, params: dict[str, Any], first: int) -> list[RunEntry]:
        assert self.request.message is not None  # __init__ made it
        message = dataclasses.replace(self.request.message, params=params, seed=first)
        if self._seed_k is not None and self._seed_spec is not None:
            message = dataclasses.replace(message, seeds=dataclasses.replace(self._seed_spec, k=self._seed_k))
        request = dataclasses.replace(self.request, message=message)
        ensemble = EnsembleRuns(self.world, self.registry, request, message, self.config)
        ensemble.imports = self._particle_imports
        try:
            ensemble.check("engine", self.replicates)
        except Exception as exc:  # noqa: BLE001 - a particle the model refuses is a failed simulation, counted
            return [_failed(exc, first + j) for j in range(self.replicates)]
        return [ensemble.run_one(j)[0] for j in range(self.replicates)]

    def _kernel_runs(self, params: dict[str, object], first: int) -> list[RunEntry]:
        """The runs in the compiled kernel, as ``agora run --runs`` makes them, with the particle's parameters."""
        if self._kernel is None:  # set up once for the fit's simulations (batched.run_batched's, each call)
            assert self.ensemble.probe is not None  # check() chose the batched kernel
            req = self.request
            self._kernel = batched.KernelRuns(
                self.world,
                self.ensemble.probe,
                limit=req.steps if req.steps is not None else req.max_ticks,
                until_done=req.steps is None,
                max_ticks=req.max_ticks,
            )
        runs = self._kernel.runs(
            first,
            self._replicas,
            params=params,
            imports=self._particle_imports,
            reseeds=self._reseeds,
            walk=self._walk,
            pause=None if self._paused is None else batched.Pause(self._paused, self._until, self._only),
            seeds=self._seed_k,
        )
        if self._paused is not None:
            self.paused = self._kernel.paused
        return runs

    def warm(self) -> None:
        """Compile (or load) the kernel here, before workers fork, so that they share it."""
        if self.batched:
            batched.warm(self.model)


def _fixed_count(text: object) -> int:
    """A fixed ``seeds`` value, checked."""
    try:
        value = float(str(text))
    except ValueError:
        value = math.nan
    return seeds_of(value, f"seeds={str(text)[:30]}")


def _fixed_rate(text: str) -> float:
    """A fixed ``import`` value (people a tick), checked."""
    try:
        rate = float(text)
    except ValueError:
        rate = math.nan
    if not (math.isfinite(rate) and 0.0 <= rate <= MAX_RATE):
        raise BadParameterError(
            f"params import={str(text)[:30]} must be a number of people a tick from 0 to {MAX_RATE:g}", fields="params"
        )
    return rate


def check_importing(registry: Registry, model: str) -> None:
    """Refuse imported cases for a model whose seed state does not transmit: an imported agent enters the seed
    state as a seed does, and the engine's frontier, not the model's own lists, must carry it on.

    Raises:
        BadParameterError: naming the model and its seed state.
    """
    cls = registry.model(model)
    if int(cls.seed_state) not in tuple(cls.transmitting_states):
        raise BadParameterError(
            f"model {model!r} seeds agents in state {cls.states[int(cls.seed_state)]}, which does not transmit: "
            "imported cases enter the seed state and must transmit from it; fit it without imported cases",
            fields="imported",
        )


def _failed(exc: BaseException, seed: int) -> RunEntry:
    return {"seed": seed, "status": "failed", "error": f"{type(exc).__name__}: {exc}", "traceback": None}


def failed_run(runs: list[RunEntry]) -> bool:
    """Whether any of a particle's runs failed (a plugin raised: its session's status is ``failed``)."""
    return any(r.get("status") == "failed" or r.get("error") for r in runs)


Stats = Callable[[list[RunEntry]], np.ndarray]


def evaluate_rows(
    sim: Simulator, stats: Stats, x: np.ndarray, seeds: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The statistics ``(B, k)`` of particles ``x`` with ``seeds``, and which failed ``(B,)``."""
    out = np.full((x.shape[0], k), np.nan)
    bad = np.zeros(x.shape[0], dtype=bool)
    for i in range(x.shape[0]):
        runs = sim.runs(x[i], int(seeds[i]))
        if failed_run(runs):
            bad[i] = True
            continue
        out[i] = stats(runs)
    return out, bad


async def evaluate_batch(
    sim: Simulator, stats: Stats, x: np.ndarray, seeds: np.ndarray, k: int, workers: int
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`evaluate_rows` over ``workers`` forked processes (contiguous shares; Linux), else here."""
    count = x.shape[0]
    if workers <= 1 or count < 2 * workers or not fork_available():
        return evaluate_rows(sim, stats, x, seeds, k)

    def share(i: int, _report: Callable[[float], None]) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = i * count // workers, (i + 1) * count // workers
        return evaluate_rows(sim, stats, x[lo:hi], seeds[lo:hi], k)

    parts = await map_forked(share, workers, workers)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
