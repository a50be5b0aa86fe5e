"""Choosing seeds with seed-method plugins (:class:`sim.plugin.SeedMethod`): ``agora seeds``, ``--seeds
NAME:K`` on run and sweep, ``--grid seeds=NAME:K,...`` and ``--intervene TICK:block:NAME:K``.

The built-in methods are plugins (``plugins/seeders.py``, ``plugins/ris.py``); this module gives them their
context (:class:`Choice`: the graph, k, the model and its parameters, a generator, Monte-Carlo spread from
Agora's own ensembles, PageRank). A selection named by a method is chosen from the world's seed: the same
world, method, k, model and parameters give the same agents; an ensemble or a sweep arm chooses once, before
its runs (:func:`resolve_seeds`), and every run starts from those agents.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.core.tracebacks import one_line, plugin_location, plugin_traceback
from sim.core.world import Status, World, world_rng
from sim.engine.requests import SeedChoice
from sim.errors import BadParameterError
from sim.model.guard import is_plugin_fault
from sim.model.registry import PluginError
from sim.model.seeds import SeedSpec
from sim.model.views import readonly, readonly_graph

#: Session seeds of the ensembles a method runs to choose (CELF) start this far above the choice's seed, so
#: the runs that choose the seeds are never the runs that estimate their spread (``agora seeds --runs``).
CHOICE_SEED_OFFSET = 1_000_000_000

#: The stream of world_rng that seed choices draw from.
STREAM_SEEDING = 0x5EED

#: Spread estimator: (agent indices, runs, first session seed) -> expected number of agents reached.
Spread = Callable[[np.ndarray, int, int], float]


def check_k(k: int, n: int) -> None:
    """Raise BadParameterError unless ``1 <= k <= n``."""
    if k < 1:
        raise BadParameterError(f"k must be at least 1, got {k}")
    if k > n:
        raise BadParameterError(f"k {k:,} is more than the world's {n:,} agents: give at most {n:,}")


def eligible_mask(world: World) -> np.ndarray:
    """Agents a method may choose: joined, not suspended or deactivated."""
    status = world.columns["status"]
    return (status != Status.DEACTIVATED) & (status != Status.SUSPENDED) & (status != Status.CREATED)


@dataclass
class Choice:
    """The engine's :class:`sim.plugin.SeedContext`."""

    world: World
    k: int
    model: str
    model_params: Mapping[str, Any]
    seed: int
    spread_fn: Spread | None = None
    rng: np.random.Generator = field(init=False)

    def __post_init__(self) -> None:
        self.rng = world_rng(self.seed, STREAM_SEEDING)
        self._eligible = readonly(eligible_mask(self.world))
        self._graph = readonly_graph(self.world.graph)

    @property
    def graph(self) -> Any:
        return self._graph

    @property
    def n(self) -> int:
        return self.world.n

    @property
    def columns(self) -> Mapping[str, np.ndarray]:
        return {k: readonly(v) for k, v in self.world.columns.items()}

    @property
    def eligible(self) -> np.ndarray:
        return self._eligible

    def spread(self, agents: np.ndarray, runs: int, seed: int) -> float:
        if self.spread_fn is None:
            raise BadParameterError(
                "this seed method estimates spreads by simulation, which this caller does not offer: "
                "choose the seeds with 'agora seeds' and give their ids"
            )
        return float(self.spread_fn(np.asarray(agents, dtype=np.int64), int(runs), int(seed)))

    def pagerank(self) -> np.ndarray:
        from sim.analysis.structure import pagerank_csr  # noqa: PLC0415 - only PageRank-based methods need it

        return pagerank_csr(self.world.graph)


@dataclass
class ChosenSeeds:
    """What a choice gives: indices in order of choice, the seconds it took and what the method reports."""

    method: str
    seeds: np.ndarray
    seconds: float
    report: dict[str, Any] = field(default_factory=dict)


class SeedMethodFailed(PluginError):
    """A seed method's code raised: one line naming the method, the error and the plugin's ``file:line``;
    ``traceback`` holds the plugin's frames, for its author. The command line shows both and exits 3 (a
    plugin failed), not 2 (the user's input)."""

    exit_code = 3

    def __init__(self, method: str, exc: BaseException, tb: str) -> None:
        where = plugin_location(tb)
        super().__init__(
            f"seed method {method} failed: {one_line(f'{type(exc).__name__}: {exc}')}"
            + (f" (at {where})" if where else ""),
            plugin_traceback(tb) or "",
        )


def choose_seeds(world: World, registry: Any, request: SeedChoice, spread: Spread | None = None) -> ChosenSeeds:
    """Choose the seeds ``request`` asks for (a :class:`~sim.engine.requests.SeedChoice`: its method, k, model
    and parameters, checked when it was parsed), drawing from ``request.seed + CHOICE_SEED_OFFSET``.
    ``spread`` estimates a set's reach for methods that simulate (CELF): the CLI's and Python's come from
    Agora's ensembles (:func:`sim.runs.seeds.choose_by_spread`), a simulation's from forks of its world
    (:meth:`sim.engine.simulation.Simulation.spread_for`); without one such a method is refused in one sentence.

    Raises:
        BadParameterError: a k more than the eligible agents, or the method's answer is not k distinct
            eligible agents.
        PluginError: the method failed to load; SeedMethodFailed: its code raised.
    """
    method, k, model = request.method, request.k, request.model
    cls = registry.seeder(method)
    check_k(k, world.n)
    eligible = eligible_mask(world)
    available = int(np.count_nonzero(eligible))
    if k > available:
        raise BadParameterError(f"k {k:,} is more than the {available:,} eligible agents: give at most {available:,}")
    ctx = Choice(world, k, model, dict(request.params), request.seed + CHOICE_SEED_OFFSET, spread)
    started = time.perf_counter()
    try:
        instance = cls(**dict(request.method_params))
        chosen = np.asarray(instance.choose(ctx))
    except (BadParameterError, PluginError):
        raise  # a bad method parameter (one sentence), or a spread estimate's own plugin failure
    except BaseException as exc:  # the method's code may raise anything
        if not is_plugin_fault(exc):
            raise
        raise SeedMethodFailed(method, exc, traceback.format_exc()) from exc
    seconds = time.perf_counter() - started
    if (
        chosen.ndim != 1
        or chosen.size != k
        or not np.issubdtype(chosen.dtype, np.integer)
        or (chosen.size and (chosen.min() < 0 or chosen.max() >= world.n))
        or np.unique(chosen).size != k
        or not eligible[chosen].all()
    ):
        raise BadParameterError(
            f"seed method {method} did not answer {k:,} distinct eligible agent indices "
            f"(it gave {chosen.size:,} of dtype {chosen.dtype}): fix the method's choose()"
        )
    return ChosenSeeds(method, chosen.astype(np.int64), seconds, dict(instance.report()))


# -- seeds named by a method (``--seeds NAME:K``) -------------------------------------------------------------


def method_seeds(world: World, registry: Any, request: SeedChoice, spread: Spread | None = None) -> np.ndarray:
    """Sorted int32 indices of the seeds ``request`` chooses (:func:`choose_seeds`), as a session keeps them.

    Raises:
        BadParameterError: as :func:`choose_seeds`.
    """
    return np.sort(choose_seeds(world, registry, request, spread).seeds).astype(np.int32)


def resolve_seeds(
    world: World,
    registry: Any,
    seeds: str,
    model: str,
    params: Mapping[str, Any] | None,
    spread: Callable[[Mapping[str, Any]], Spread] | None = None,
) -> str:
    """``seeds`` as the runs of an ensemble or a sweep arm should get it: a method's selection (``ris:50``)
    chosen once, here, on the world's seed, and given as ``ids:...``; any other selection unchanged (a
    ``random:K`` draw is each run's own).

    Raises:
        BadParameterError: a bad selection, model parameter or method (as :func:`choose_seeds`).
        PluginError: the model or the method failed to load.
    """
    spec = SeedSpec.parse(seeds)
    if spec.kind != "method":
        return seeds
    request = SeedChoice.parse(
        {"method": spec.method, "k": spec.k, "model": model, "params": dict(params or {}), "seed": world.seed}, registry
    )
    chosen = method_seeds(world, registry, request, None if spread is None else spread(request.params))
    return "ids:" + ",".join(map(str, world.columns["ids"][chosen].tolist()))
