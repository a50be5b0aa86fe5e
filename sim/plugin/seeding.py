"""What a seed method is and what it sees: a plugin that chooses ``k`` agents for a message to start from
(influence maximisation), or for an intervention to block. Its context is :class:`SeedContext`, which lists
exactly what a method may use (the engine's is in ``sim.engine.seeding``).

A method is named with its ``k`` wherever seeds are given: ``agora seeds --method NAME``, ``--seeds NAME:K``
on ``run`` and ``sweep``, ``--grid seeds=NAME:K,...`` and ``--intervene TICK:block:NAME:K``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from sim.plugin.base import Plugin
from sim.plugin.views import GraphView


@runtime_checkable
class SeedContext(Protocol):
    """What a seed method sees: the graph, how many agents to choose, the model the seeds are for and a
    generator. Arrays are read-only."""

    @property
    def graph(self) -> GraphView: ...
    @property
    def n(self) -> int: ...
    @property
    def k(self) -> int:
        """How many agents to choose (1 <= k <= n)."""

    @property
    def model(self) -> str:
        """The propagation model the seeds are for (its registry name)."""

    @property
    def model_params(self) -> Mapping[str, Any]:
        """The model's validated parameters (defaults filled in)."""

    @property
    def rng(self) -> np.random.Generator:
        """This choice's generator: the same for the same world seed, method, k and model."""

    @property
    def seed(self) -> int:
        """The whole number the generator was made from (for methods that run simulations)."""

    @property
    def columns(self) -> Mapping[str, np.ndarray]:
        """The world's agent columns by name, read-only."""

    @property
    def eligible(self) -> np.ndarray:
        """(N,) bool: agents that may be chosen (joined, not suspended or deactivated)."""

    def spread(self, agents: np.ndarray, runs: int, seed: int) -> float:
        """The mean number of agents reached from ``agents`` over ``runs`` runs of the model (Agora's own
        ensemble, session seeds ``seed .. seed + runs - 1``): slow, for reference methods such as CELF."""

    def pagerank(self) -> np.ndarray:
        """(N,) float64: PageRank on the attention graph (follower -> followed), summing to 1."""


class SeedMethod(Plugin):
    """Base of seed methods. Subclasses set ``name``, ``description``, ``params`` and implement
    :meth:`choose`; ``models`` lists the models the method is derived for (empty: any model)."""

    kind: ClassVar[str] = "seeder"
    models: ClassVar[tuple[str, ...]] = ()
    #: Whether the method reads the model (ris, degree-discount, celf): when it does not, its choice is shared
    #: by every model, and a sweep over models chooses once.
    reads_model: ClassVar[bool] = True
    #: Whether a choice may take long on a large world (simulations, sampling): a server refuses such a method
    #: in a request (choose with ``agora seeds`` and send the ids), and a UI runs it off its event loop.
    expensive: ClassVar[bool] = False

    def choose(self, ctx: SeedContext) -> np.ndarray:
        """``ctx.k`` distinct agent indices, in order of choice, among ``ctx.eligible``."""
        raise NotImplementedError

    def report(self) -> dict[str, Any]:
        """What the method says about its last choice (RIS: its samples and estimate), for ``--json``."""
        return {}
