"""World files from Python: open, create or import one, and run ensembles and sweeps on it over the
same engine functions as ``agora run --runs`` and ``agora sweep``, so the two cannot drift.

Every function is synchronous and works in a script and inside a running event loop (a Jupyter cell; see
:mod:`sim.lab.loop`); the ``a``-prefixed methods are the same as coroutines. Bad input raises the CLI's
one-sentence :class:`sim.errors.AgoraError` subclasses.
"""

from __future__ import annotations

import asyncio
import dataclasses
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar, Unpack

from sim.engine.newworld import built_world, check_new_world
from sim.engine.observe import Monitor
from sim.engine.requests import Backtest, Ensemble, Fit, Forecast, NewWorld, Sweep
from sim.errors import AgoraError, BadParameterError
from sim.lab.agents import Agents, Network, file_views
from sim.lab.live import LiveSettings, Simulation
from sim.lab.loop import run_sync
from sim.llm import local
from sim.llm.estimate import LLMEstimate
from sim.model.registry import plugin_registry
from sim.runs.llmestimate import aestimate_session
from sim.runs.results import EnsembleResult, SweepResult
from sim.runs.runner import check_social_params, run_ensemble
from sim.runs.sweep import sweep_result
from sim.social.dynamics import Social
from sim.store.worldfile import open_world as open_world_file
from sim.store.worldfile import save_world, world_info

if TYPE_CHECKING:
    from sim.runs.backtest import BacktestResult, CascadeBacktestResult
    from sim.runs.backtest.ahead import AheadResult
    from sim.runs.fit.choice import ChoiceResult
    from sim.runs.fit.fitting import FitResult
    from sim.runs.forecast import ForecastResult

Progress = Callable[[str, float], None] | None
R = TypeVar("R")


def _not_in_a_worker_start() -> None:
    """Refuse to run while a sweep's worker process imports the main script again (``spawn``): the script's
    top level is then running a second time, in the worker, and would make worlds and sweeps of its own.

    Raises:
        AgoraError: saying to guard the script (in the worker; the sweep's own error follows in the parent).
    """
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise AgoraError(
            "a parallel sweep's worker processes import the main script again, and this script "
            "makes worlds and runs sweeps when imported: put its code under "
            "'if __name__ == \"__main__\":' (or sweep with workers=1)"
        )


def _request_or_fields(
    takes: str, request: R | None, fields: dict[str, object], parse: Callable[[dict[str, object]], R]
) -> R:
    """``request``, or the request ``parse`` makes of ``fields`` when there is none.

    Raises:
        TypeError: both a request and fields were given (``takes``: what the method takes, as a sentence's start).
    """
    if request is None:
        return parse(fields)
    if fields:
        raise TypeError(f"{takes} or keywords, not both ({', '.join(fields)})")
    return request


class WorldFile:
    """A world file to experiment on: ``ensemble``, ``sweep`` and a live ``simulation``.

    Ensembles and sweeps start from the world as saved and never modify the file; a live simulation
    changes it (it is checkpointed as it runs, as ``agora serve`` and the TUI do).

    Args:
        path: the world file. plugins: user plugin folders (``--plugins DIR``); the world's own
            ``<world>.plugins/`` folder is loaded when named here or trusted (``agora plugins trust``).
        llm: ``"local"``: ensembles and live simulations of this world use the local model (``--llm local``),
            served for each call (an ensemble) or while a simulation is open, and stopped after it; None: the
            world's LLM settings as they are. llm_model: the local model's GGUF file (default: SmolLM2's).

    Raises:
        BadFileError: the world file (or the model file) cannot be used.
        BadParameterError: ``llm`` is not ``"local"`` or None, or the local model cannot run here.
    """

    def __init__(
        self,
        path: str,
        *,
        plugins: Iterable[str] = (),
        llm: str | None = None,
        llm_model: str | os.PathLike[str] | None = None,
    ) -> None:
        _not_in_a_worker_start()
        self.path = os.fspath(path)
        self.plugins = [os.fspath(p) for p in plugins]
        self._info = world_info(self.path)  # a missing, foreign or damaged file is one sentence now
        self._local = _local_overrides(llm, llm_model)

    def _with_local(self, llm: Mapping[str, object] | None) -> Mapping[str, object] | None:
        """A request's LLM overrides, with the local model when this world file was opened with it."""
        if not self._local:
            return llm
        return {**self._local, **(llm or {})}

    def __repr__(self) -> str:
        return f"WorldFile({self.path!r}: {self.agents:,} agents, {self.edges:,} edges, tick {self.tick})"

    def info(self) -> dict[str, object]:
        """What ``agora info WORLD --json`` prints (read again from the file)."""
        return dict(self._read_info())

    def _read_info(self) -> dict[str, Any]:
        self._info = world_info(self.path)
        return self._info

    @property
    def name(self) -> str:
        return self._info["name"]

    @property
    def agents(self) -> Agents:
        """The agents: their number (an ``int``, as before: ``w.agents == 1_000``, ``f"{w.agents:,}"``) and their
        columns, read from the file when first asked for (``w.agents.susceptibility``, ``w.agents.to_pandas()``;
        see :class:`sim.lab.agents.Agents`). Keep one in a variable to read the file once."""
        return file_views(self.path, self._info["agents"], self._info["edges"])[0]

    @property
    def graph(self) -> Network:
        """The follower graph, read from the file when first asked for: CSR arrays, ``to_networkx()``,
        ``to_igraph()``, ``to_scipy()`` (see :class:`sim.lab.agents.Network`)."""
        return file_views(self.path, self._info["agents"], self._info["edges"])[1]

    @property
    def edges(self) -> int:
        return self._info["edges"]

    @property
    def tick(self) -> int:
        return int(self._read_info()["tick"])

    # -- ensembles ---------------------------------------------------------------------------------------
    def ensemble(
        self,
        request: Ensemble | None = None,
        /,
        *,
        progress: Progress = None,
        monitor: Monitor | None = None,
        **fields: object,
    ) -> EnsembleResult:
        """Run one cascade ``runs`` times (run r with session seed ``seed + r``), as
        ``agora run WORLD --inject TEXT --runs R --until-done`` (or ``--steps N``) does; the file is not modified.

        Args:
            request: an :class:`~sim.engine.requests.Ensemble` (``sim.Ensemble``), or none and its fields as
                keywords (below; parsed by :meth:`Ensemble.parse`, as ``agora run --runs`` parses its flags).
            progress: called with ``(what, fraction)`` as the runs go.
            monitor: a :class:`sim.engine.observe.Monitor` following each run (``agora run --metrics-port``);
                it runs the runs one at a time, in this process.

        Keywords (the request's fields; all optional):
            model, params: the propagation model and its parameters (values typed or as text).
            seeds: ``random:K``, ``top:K``, ``ids:a,b,c``, ``community:C:K`` or ``file:PATH``.
            steps: run each cascade exactly this many ticks; None runs each until it ends (at most
                ``max_ticks``, default 10,000).
            text, topics: the injected message. social: living-network settings for these runs (the keys of
                ``agora social WORLD``: ``recommender``, ``feed_size``, ``recommender_params``, ...).
            workers: processes the runs are spread over (None: one per CPU; 1: this process); a run's result is
                the same whichever process runs it.
            llm: LLM settings for these runs (``agora llm``'s keys; an ensemble uses the offline writer unless the
                world names a server); llm_wait: seconds answers in flight get at the end of a run.
            ticks_per_second: pace the ticks (the runs then go one at a time, in this process).
            trees: keep every run's adoption forest (:attr:`EnsembleResult.cascades`, ``--cascades``).
            by: also count new infections per tick by group, each run's series ``new@GROUP`` summing to ``new``
                (``--by``; :mod:`sim.analysis.bygroup`): ``"layer"``, a category ``"SEX"`` or bands of a number
                ``"AGE:0,5,15,65"``, or a list of them.
            intervene: interventions ``[TICK:]ACTION`` (``--intervene``; TICK counted from the injection,
                without it 0: the injection's tick): ``block:METHOD:K``, ``counter:MODEL:SEEDS[:TEXT]``,
                ``remove-edges:FRACTION[:random|between]``.
            kernel: ``auto`` (batched where it can: ``lt`` always, ``ic`` and ``sir`` from 100 runs),
                ``batched`` or ``engine`` (``--kernel``; see :func:`sim.runs.runner.run_cascades`).

        Returns:
            An :class:`EnsembleResult`; its ``to_dict()`` is what ``agora run ... --json`` prints.

        Raises:
            BadParameterError: a bad model, parameter, seed selection, setting or option.
            BadFileError: the world file or a plugin folder cannot be read.
        """
        return run_sync(self.aensemble(request, progress=progress, monitor=monitor, **fields))

    async def aensemble(
        self,
        request: Ensemble | None = None,
        /,
        *,
        progress: Progress = None,
        monitor: Monitor | None = None,
        **fields: object,
    ) -> EnsembleResult:
        """:meth:`ensemble` as a coroutine."""
        registry = plugin_registry(self.path, self.plugins)
        if request is None:
            asked = {"text": "ensemble", "runs": 10, "workers": None, **fields}
            asked.setdefault("until_done", asked.get("steps") is None)
            request = Ensemble.parse(asked, registry)
        elif fields:
            raise TypeError(f"ensemble() takes an Ensemble request or keywords, not both ({', '.join(fields)})")
        if self._local:
            request = dataclasses.replace(request, llm=self._with_local(request.llm))
        world = await open_world_file(self.path)
        if request.social:  # validated against the world before anything runs, as agora run does
            changes = dict(request.social)
            check_social_params(Social(world, registry).configure(**changes), changes)
        return await run_ensemble(
            world, request, registry=registry, progress=progress, monitor=monitor, source=self.path
        )

    # -- the LLM cost before a run ------------------------------------------------------------------------------
    def llm_estimate(self, request: Ensemble | None = None, /, **fields: object) -> LLMEstimate:
        """The LLM cost of a run before it starts: calls, tokens in and out, dollars and wall time, from a dry run
        on a copy of the world (the file is not modified; see :mod:`sim.llm.estimate`), as ``agora llm estimate``
        prints it.

        Args:
            request: an :class:`~sim.engine.requests.Ensemble`, or none and its fields as keywords, as
                :meth:`ensemble` takes them, but one persisted run unless ``runs`` is given and ``model``
                ``llm`` unless another is named: ``w.llm_estimate(text="AI writes poems", steps=5,
                params={"llm_agents": 10})``. A world opened with ``llm="local"`` is estimated for the local model.

        Returns:
            An :class:`~sim.llm.estimate.LLMEstimate` (``calls``, ``tokens_in``, ``tokens_out``, ``cost_usd``,
            ``seconds``, per kind in ``kinds``; ``to_dict()``; ``compare(actual)`` after the run).

        Raises:
            BadParameterError: the run has no session with LLM agents, or a bad field (one sentence).
            BadFileError: the world file cannot be read.
        """
        return run_sync(self.allm_estimate(request, **fields))

    async def allm_estimate(self, request: Ensemble | None = None, /, **fields: object) -> LLMEstimate:
        """:meth:`llm_estimate` as a coroutine."""
        registry = plugin_registry(self.path, self.plugins)
        request = _request_or_fields(
            "llm_estimate() takes an Ensemble request",
            request,
            fields,
            lambda f: Ensemble.parse({"model": "llm", **f}, registry),
        )
        if self._local:
            request = dataclasses.replace(request, llm=self._with_local(request.llm))
        world = await open_world_file(self.path)
        return await aestimate_session(world, request, registry=registry)

    # -- sweeps ----------------------------------------------------------------------------------------------
    def sweep(
        self,
        grid: Mapping[str, object] | Sweep | None = None,
        /,
        *,
        progress: Progress = None,
        **fields: object,
    ) -> SweepResult:
        """Run every combination of ``grid`` ``runs`` times, as ``agora sweep`` does; the file is not modified.
        With ``design``, run the points of a design instead and compute the sensitivity of a measure to the
        parameters it varies (``agora sweep --design``; docs/sensitivity.md)::

            res = world.sweep(design="sobol:256", params={"p": "0.01..0.1", "feed_weight": "0..1"}, runs=8)
            res.sensitivity["p"].ST, res.sensitivity["p"].ST_conf

        Args:
            grid: a :class:`~sim.engine.requests.Sweep` (``sim.Sweep``), or the grid with the request's other
                fields as keywords (parsed by :meth:`Sweep.parse`, as ``agora sweep`` parses its flags): swept
                names and their values, in order: a model parameter (``{"p": [0.01, 0.05]}``), ``model``,
                ``recommender``, ``friend_recommender``, ``seeds`` or ``intervene`` (``"none"`` for none);
                combinations are the product, the first key slowest.
            model: the model when ``model`` is not a grid key (default ic). params: fixed parameters;
                ``"sir.beta"`` for a parameter of one swept model.
            runs: runs per combination; run r uses session seed ``seed + r`` and the same seed agents in every
                combination (common random numbers: see :meth:`SweepResult.paired`).
            workers: processes (None: one per CPU; 1: this process). ray: a Ray address or ``"auto"``.
            series: keep every run's per-tick series (:attr:`SweepResult.series`); False saves the time and memory.
            trees: keep every run's adoption forest (:attr:`SweepResult.cascades`, ``--cascades``).
            intervene: interventions of every run (``--intervene``); the grid may sweep ``intervene`` too.
            kernel: ``auto`` (batched where it can, judged by the sweep's total runs), ``batched`` or ``engine``.
            design: ``"sobol:N"`` (Sobol' indices; N base samples, best a power of 2), ``"morris:N"`` (Morris
                screening; N trajectories) or ``"lhs:N"`` (a Latin hypercube of N points, no indices), drawn by
                SALib (``pip install 'agora-sim[fit]'``) from the ranges in ``params``: ``"LO..HI"`` (uniform),
                ``"LO..HI:log"`` (log-uniform), ``(LO, HI)`` or ``(LO, HI, "log")``; the other ``params`` stay
                fixed. Excludes ``grid``; each point runs ``runs`` times on session seeds ``seed + r``.
            measure: with ``design``, what the indices are of, each point's mean over its runs: ``reached``
                (default), ``peak_tick``, ``rounds``, ``cascade.depth``, ``cascade.structural_virality`` or
                ``series:MEASURE@TICK`` (such as ``series:I@10``).
            progress: called with ``(what, fraction)`` as runs finish.
            Others: as :meth:`ensemble`.

        Returns:
            A :class:`SweepResult`; its ``to_dict()`` is what ``agora sweep ... --json`` prints. With a design,
            its :attr:`~SweepResult.sensitivity` maps each parameter to a :class:`~sim.runs.design.SobolIndex`
            (``S1``, ``S1_conf``, ``ST``, ``ST_conf``) or :class:`~sim.runs.design.MorrisIndex` (``mu_star``,
            ``mu_star_conf``, ``mu``, ``sigma``), and :attr:`~SweepResult.design` says what was drawn.

        Raises:
            BadParameterError: a bad grid, model, parameter, seed selection or option; a bad design, range
                (LO >= HI, outside the parameter's bounds) or measure; SALib missing for a design.
            BadFileError: the world file or a plugin folder cannot be read.
        """
        return run_sync(self.asweep(grid, progress=progress, **fields))

    async def asweep(
        self,
        grid: Mapping[str, object] | Sweep | None = None,
        /,
        *,
        progress: Progress = None,
        **fields: object,
    ) -> SweepResult:
        """:meth:`sweep` as a coroutine."""
        if isinstance(grid, Sweep):
            if fields:
                raise TypeError(f"sweep() takes a Sweep request or keywords, not both ({', '.join(fields)})")
            request = grid
        else:
            asked = {"workers": None, "series": True, **fields}
            if grid is not None:
                asked["grid"] = grid
            request = Sweep.parse(asked)
        return await sweep_result(self.path, request, plugin_dirs=self.plugins, progress=progress)

    # -- fits ------------------------------------------------------------------------------------------------
    def fit(
        self, request: Fit | None = None, /, *, progress: Progress = None, **fields: object
    ) -> FitResult | ChoiceResult:
        """Fit a model's parameters to an observation file, as ``agora fit`` does; the file is not modified.

        Args:
            request: a :class:`~sim.engine.requests.Fit` (``sim.Fit``), or none and its fields as keywords (parsed by
                :meth:`Fit.parse`, as ``agora fit`` parses its flags): ``observed`` (the file: a series, a set of
                cascades or adoption times ``id,tick``, or a table recorded in its own time; or a pandas
                DataFrame), ``time``, ``tick`` and ``observe`` (``{"cases": "new"}``) for such a table, ``model`` (a
                name, or several as ``["sir", "seir"]`` or ``"sir,seir"``: the choice between them), ``params``
                (``{"beta": (0.01, 0.2), "gamma": (0.05, 0.5, "log")}``, ``{"p": "0.01..0.2"}`` or
                ``["p=0.01..0.2"]``; a plain value fixes a parameter), ``seeds``, ``budget``, ``population``,
                ``seed``, ``workers``, ``replicates``, ``steps``, ``method`` (``auto``, ``abc`` or ``exact``),
                ``kernel``, ``predictive``, ``delay`` (``"gamma:MEAN,SD"`` or a ``day,probability`` file: the
                reporting delay, see docs/fitting.md); ``params``' ``"report"`` is the observation model's reporting
                fraction, fixed or fitted; ``summary``
                (the statistics of a series to compare: ``"peak,final"``, or a list of built-ins' names and your
                own functions, each taking a dict of column -> array over the observed ticks and answering a 1-D
                array of numbers; ``"curve"``, every column at every tick, by default).
            progress: called with ``(what, fraction)`` after each batch of simulations.

        Returns:
            A :class:`~sim.runs.fit.fitting.FitResult`: per parameter the median and 90 % credible interval
            (``result.params["beta"].ci90``), the weighted posterior samples, the simulations used and failed,
            the effective sample size, warnings and the posterior predictive check; ``to_dict()`` is what
            ``agora fit --json`` prints. With several models a :class:`~sim.runs.fit.choice.ChoiceResult`:
            ``.probabilities`` (each model's posterior probability), ``.fits`` (each one's ``FitResult``) and,
            with ``check_choice=N``, ``.check`` (the confusion matrix).

        Raises:
            BadParameterError: a bad observation, model, parameter range, seed selection or option.
            BadFileError: the world file, the observation file or a plugin folder cannot be read.
        """
        return run_sync(self.afit(request, progress=progress, **fields))

    async def afit(
        self, request: Fit | None = None, /, *, progress: Progress = None, **fields: object
    ) -> FitResult | ChoiceResult:
        """:meth:`fit` as a coroutine."""
        from sim.runs.fit.fitting import run_fit  # noqa: PLC0415 - scipy and the fit load only for a fit

        request = _request_or_fields("fit() takes a Fit request", request, fields, Fit.parse)
        registry = plugin_registry(self.path, self.plugins)
        world = await open_world_file(self.path)
        if len(request.models) > 1:  # which model? (issue 60)
            from sim.runs.fit.choice import run_choice  # noqa: PLC0415 - as run_fit: scipy and the fit load only for a fit

            return await run_choice(world, registry, request, progress=progress)
        return await run_fit(world, registry, request, progress=progress)

    # -- forecasts -------------------------------------------------------------------------------------------
    def forecast(
        self,
        request: Forecast | None = None,
        /,
        *,
        progress: Progress = None,
        posterior: FitResult | str | os.PathLike[str] | None = None,
        **fields: object,
    ) -> ForecastResult | AheadResult:
        """Branch the present of the world's running session R times, as ``agora forecast`` does; the file is
        not modified.

        Args:
            request: a :class:`~sim.engine.requests.Forecast` (``sim.Forecast``), or none and its fields as
                keywords (parsed by :meth:`Forecast.parse`): ``session`` (None: the latest running one), ``runs``,
                ``ticks`` (the horizon) or ``until_done=True``, ``arms`` (``{"none": [], "block":
                ["block:degree:100"]}`` or ``["block=block:degree:100"]``), ``seed`` (run r continues with
                ``seed + r``), ``kernel``.
            posterior: run r draws its parameters from a fit's posterior: a :class:`~sim.runs.fit.fitting.FitResult`
                (``w.fit(...)``'s; beside a request too) or the file ``agora fit -o`` wrote of it, drawn the same:
                the same runs, the same numbers.
            progress: called with ``(what, fraction)`` as runs finish.

        Returns:
            A :class:`~sim.runs.forecast.ForecastResult`: per arm the final reach's median and 90 % interval,
            the band of the series ahead of now, the cascade's shape and the paired difference from the first
            arm; ``to_dict()`` is what ``agora forecast --json`` prints, ``to_pandas()`` one row per run,
            ``plot(path)`` the bands.

        Raises:
            BadParameterError: no such session, one that is not running, a bad arm, horizon or posterior (a
                fit of another model's parameters, a posterior given twice).

        With ``observed=FILE`` (and a fit's fields: ``model``, ``params``, ``seeds``, ``time``, ``tick``,
        ``observe``, ...; ``horizon``; ``method``, ``serial_interval``; ``location``) the forecast is from data
        instead, as ``agora forecast WORLD --observed FILE`` makes it: the model fitted on every observation and
        each method's forecast of the ``horizon`` ticks after the last, an
        :class:`~sim.runs.backtest.ahead.AheadResult` (``to_dict()``, ``hubverse_csv()``).
        """
        if request is None and "observed" in fields:
            location = fields.pop("location", None)
            return run_sync(self.aforecast_observed(progress=progress, location=location, **fields))
        return run_sync(self.aforecast(request, progress=progress, posterior=posterior, **fields))

    async def aforecast_observed(
        self,
        request: Backtest | None = None,
        /,
        *,
        progress: Progress = None,
        location: object = None,
        **fields: object,
    ) -> AheadResult:
        """The forecast from data of :meth:`forecast` (``observed=FILE``) as a coroutine: ``request`` a
        :class:`~sim.engine.requests.backtest.Backtest` without cuts, or its fields as keywords."""
        from sim.runs.backtest.ahead import run_ahead  # noqa: PLC0415 - scipy and the fit load only for a forecast

        if location is not None and not isinstance(location, str):
            raise BadParameterError(f"location must be text, not {type(location).__name__}", fields="location")
        if request is None:
            fields.setdefault("until_done", True)
        request = _request_or_fields("forecast() takes a Backtest request", request, fields, Backtest.parse)
        registry = plugin_registry(self.path, self.plugins)
        world = await open_world_file(self.path)
        return await run_ahead(world, registry, request, progress=progress, location=location)

    async def aforecast(
        self,
        request: Forecast | None = None,
        /,
        *,
        progress: Progress = None,
        posterior: FitResult | str | os.PathLike[str] | None = None,
        **fields: object,
    ) -> ForecastResult:
        """:meth:`forecast` as a coroutine."""
        from sim.runs.fit.fitting import FitResult  # noqa: PLC0415 - scipy and the fit load only for a fit
        from sim.runs.forecast import run_forecast  # noqa: PLC0415

        fit = posterior if isinstance(posterior, FitResult) else None
        if posterior is not None and fit is None:  # a file: a field of the request, checked by its parser
            if not isinstance(posterior, str | os.PathLike):
                raise BadParameterError(
                    "posterior must be a fit's result (world.fit(...)) or the file agora fit -o wrote, "
                    f"not {type(posterior).__name__}",
                    fields="posterior",
                )
            if request is not None:
                raise TypeError("forecast() takes a posterior file in its request or as a keyword, not both")
            fields["posterior"] = os.fspath(posterior)
        request = _request_or_fields("forecast() takes a Forecast request", request, fields, Forecast.parse)
        if fit is not None and request.posterior is not None:
            raise BadParameterError(
                f"give one posterior: the fit of {fit.model} or the file {request.posterior!r}, not both",
                fields="posterior",
            )
        registry = plugin_registry(self.path, self.plugins)
        world = await open_world_file(self.path)
        return await run_forecast(world, registry, request, progress=progress, posterior=fit)

    # -- backtests -------------------------------------------------------------------------------------------
    def backtest(
        self, request: Backtest | None = None, /, *, progress: Progress = None, **fields: object
    ) -> BacktestResult | CascadeBacktestResult:
        """At each cut of an observed curve, fit on the data up to it, forecast the next ticks and score the forecast
        beside the baselines', as ``agora backtest`` does; the file is not modified.

        Args:
            request: a :class:`~sim.engine.requests.backtest.Backtest`, or none and its fields as keywords (parsed by
                :meth:`Backtest.parse`): the fit's (``observed``, ``model``, ``params``, ``seeds``, ``budget``,
                ``time``, ``tick``, ``observe``, ...), ``cut`` (``["20", "30"]`` or ``"1861-11-20"``) or ``cuts``
                (a count), ``horizon``, ``until_done``, ``method`` (``"agora,persistence,renewal"``),
                ``serial_interval``, ``draws``, ``workers``, or ``plan`` (a TOML file of them), and
                ``trust_plan=True`` to let the plan name code summaries, ``ray`` and ``workers`` (a plan is data:
                without it, a plan naming them is refused); what a trusted plan runs is printed on stderr first.
            progress: called with a line as each cut ends.

        Returns:
            A :class:`~sim.runs.backtest.BacktestResult`: ``table()`` the scores per method and horizon,
            ``to_dict()`` what ``agora backtest --json`` prints, ``plot(path)`` the fan charts and relative WIS.
            For a file of cascades with follower counts (``id,parent,time,followers``), a
            :class:`~sim.runs.backtest.CascadeBacktestResult`: each cascade's final size forecast at ages ``cut``
            (``["1h", "1d"]``) by ``seismic`` (with ``n_star``), ``persistence`` and ``agora``.

        Raises:
            BadParameterError: a cut outside the data, a horizon past them without ``until_done``, a plan that does
                not match the world, a method the data cannot feed. BadFileError: an unreadable file.
        """
        return run_sync(self.abacktest(request, progress=progress, **fields))

    async def abacktest(
        self, request: Backtest | None = None, /, *, progress: Progress = None, **fields: object
    ) -> BacktestResult | CascadeBacktestResult:
        """:meth:`backtest` as a coroutine."""
        from sim.runs.backtest import run_backtest  # noqa: PLC0415 - scipy and the fit load only for a backtest

        request = _request_or_fields("backtest() takes a Backtest request", request, fields, Backtest.parse)
        for line in request.trusted():  # a trusted plan's code, cluster and workers, said before anything runs
            sys.stderr.write(f"agora: backtest: {line}\n")
        sys.stderr.flush()
        registry = plugin_registry(self.path, self.plugins)
        world = await open_world_file(self.path)
        return await run_backtest(world, registry, request, progress=progress)

    # -- a live world ----------------------------------------------------------------------------------------
    def simulation(self, **settings: Unpack[LiveSettings]) -> Simulation:
        """The world, live: inject, step, run, pause, save and load, as ``agora serve`` and the TUI do.
        It changes the file (checkpointed every ``checkpoint_every`` ticks and on close). Close it, or use
        it as a context manager. ``settings``: :class:`~sim.lab.live.LiveSettings`."""
        if self._local:
            settings["llm"] = self._with_local(settings.get("llm"))
        return Simulation(self.path, plugins=self.plugins, **settings)


# -- opening and making world files ---------------------------------------------------------------------
def open_world(
    path: str | os.PathLike[str],
    *,
    plugins: Iterable[str] = (),
    llm: str | None = None,
    llm_model: str | os.PathLike[str] | None = None,
) -> WorldFile:
    """The world file at ``path`` (a string or a :class:`pathlib.Path`); ``llm="local"``: its ensembles and
    live simulations use the local model (see :class:`WorldFile`).

    Raises:
        BadFileError: missing, foreign, damaged or of another format version (or a bad model file).
        BadParameterError: a bad ``llm``, or the local model cannot run here.
    """
    return WorldFile(os.fspath(path), plugins=plugins, llm=llm, llm_model=llm_model)


def _local_overrides(llm: str | None, llm_model: str | os.PathLike[str] | None) -> dict[str, object]:
    """The LLM overrides that ask for the local model (empty when ``llm`` is None), checked now.

    Raises:
        BadParameterError, BadFileError: as :class:`WorldFile`.
    """
    if llm is None:
        if llm_model is not None:
            raise BadParameterError('llm_model is the local model\'s file: give llm="local" too', fields="llm")
        return {}
    if llm != "local":
        raise BadParameterError(f'llm must be "local" or None, not {llm!r}', fields="llm")
    ask = local.LocalRequest(None if llm_model is None else os.fspath(llm_model))
    local.check_request(ask)
    return {"local": True} if ask.model is None else {"local": True, "local_model": ask.model}


class NewWorldOptions(TypedDict, total=False):
    """The keywords of :func:`new_world` (every one optional): the fields of :class:`~sim.engine.requests.NewWorld`."""

    agents: int
    graph: str
    avg_degree: float
    communities: int | None
    mixing: float | None
    seed: int
    name: str | None
    minutes_per_tick: int | None
    social: Mapping[str, object] | None
    force: bool
    encrypt: bool
    people: Any
    id: str
    groups: Iterable[str]
    skip: Iterable[object]
    near: Iterable[str]
    edges: Iterable[tuple[str | os.PathLike[str], str]] | str | os.PathLike[str]
    directed: bool
    reserve: float


def new_world(path: str | os.PathLike[str], **options: Unpack[NewWorldOptions]) -> WorldFile:
    """Generate a synthetic world and save it at ``path``, as ``agora new PATH --agents N ...`` does; or, with
    ``people``, the world of a table of people, as ``agora new PATH --people FILE ...`` does.

    Args:
        path: the new world file.
        options: :class:`NewWorld`'s: agents (default 1,000); graph: ``community`` (planted communities, the
            default), ``sbm``, ``ba`` or ``er``; avg_degree (default 10); communities and mixing shape the first
            two (mixing defaults to 0.2); seed: seed for everything random (default 0); name: default the file
            name; minutes_per_tick (default 10; 1,440, a day, for a world of people); social: the world's
            living-network settings; force: overwrite an existing file; encrypt: write it encrypted with the
            world key (:func:`sim.use_key`, ``AGORA_WORLD_KEY``; the crypto extra).
            A world of people: people, a pandas DataFrame or the path of a CSV, CSV.gz or Parquet table, one row
            per person (every column but the ids becomes an attribute: numbers, and categories of the other
            columns' texts); id, the column of their ids (default ``"id"``); groups, contact layers as
            ``"COLUMN[:LAYER][:max=K]"``; skip, values of a group column that link nobody; near, layers as
            ``"X,Y:R[:LAYER]"``; edges, layers from edge lists whose ids are the people's, as ``(file, layer)``
            pairs (each line one edge as given, ``u v``: u->v; a ``weight`` column the trust, which wins over the
            1 of the other layers, the first weighted file listed winning over a later one). The synthetic
            options (agents, graph, ...) do not apply. edges alone (one file): an edge list imported as it is
            (directed: its lines kept as given), as ``agora new PATH --edges FILE`` and :func:`import_edges` do.
            reserve: the share of agents created but not joined yet. The options and their rules are those of
            :class:`sim.NewWorld` (the request ``agora new`` makes too).

    Raises:
        BadParameterError: a bad size or option. TargetExistsError: ``path`` exists and ``force`` is false.
        ResourceError: the machine cannot hold it.
    """
    _not_in_a_worker_start()
    path = os.fspath(path)
    unknown = sorted(set(options) - set(NewWorldOptions.__annotations__))
    if unknown:  # as Python says it of a keyword the signature lacks
        raise TypeError(f"new_world() got an unexpected keyword argument {unknown[0]!r}")
    fields: dict[str, Any] = dict(options)
    if fields.get("people") is None and fields.get("edges") is None:
        fields.setdefault("agents", 1000)
    request = NewWorld.parse(fields)
    label = request.name or os.path.splitext(os.path.basename(path))[0]
    check_new_world(request, path)

    async def make() -> None:
        world = await asyncio.to_thread(built_world, request, label)
        await save_world(world, path, force=request.force, encrypt=request.encrypt)

    run_sync(make())
    return WorldFile(path)


def import_edges(
    path: str,
    edges: str,
    *,
    directed: bool = False,
    seed: int = 0,
    name: str | None = None,
    minutes_per_tick: int = 10,
    social: Mapping[str, object] | None = None,
    force: bool = False,
    encrypt: bool = False,
) -> WorldFile:
    """Import an edge list (SNAP or CSV, optionally gzipped) as a world saved at ``path``, as
    ``agora new PATH --edges FILE`` does; agent attributes are drawn from ``seed``; ``encrypt`` as
    :func:`new_world`'s.

    Raises:
        BadFileError: the edge file is missing, unreadable or malformed. TargetExistsError: ``path`` exists and
            ``force`` is false. ResourceError: the machine cannot hold it.
    """
    return new_world(
        path,
        edges=os.fspath(edges),
        directed=directed,
        seed=seed,
        name=name,
        minutes_per_tick=minutes_per_tick,
        social=social,
        force=force,
        encrypt=encrypt,
    )
