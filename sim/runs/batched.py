"""Batched ensembles: the runs of ``agora run --runs R`` of the built-in ``ic``, ``lt``, ``sir`` or ``seir`` computed
by a compiled kernel, one after the other, with none of the engine's per-run machinery (issue 35).

Where nothing but the cascade moves (no living network, no feeds, no interventions, every agent active, no
other session running, offline), a run of ``ic`` or ``lt`` is a breadth-first walk from its seeds. The
kernel (:mod:`sim.runs.kernels`, Numba) walks it in compiled code and counts what the engine reports;
its buffers are reused from run to run and put back after each, so a run costs what it touches.

Each run draws its seeds from its session generator exactly as the engine does
(``world_rng(world.seed, 100, seed + r, session)``: the same seed sets), in compiled code for ``random:K``
of all agents and for seeds that draw nothing (:func:`sim.runs.kernels.start`, bit for bit numpy's), through
numpy for the others.

- ``ic`` then draws from that generator exactly what the engine's ``ic`` draws: one uniform number per open
  edge, round by round, senders ascending. A batched run **is** the engine's run of the same seed, field
  for field (``tests/test_batched.py`` compares them).
- ``sir`` and ``seir`` draw what the engine's models draw (per round: one number per open edge, then for
  ``seir`` one per exposed agent, then one per infectious agent), on a world of contact layers too: an edge's
  chance is what the engine's ``ctx.transmission`` gives (its layers' values ``beta@LAYER`` combined as the
  parameter declares, times its trust weight with ``trust_weighted``, the sender's measured ``infectivity`` and
  the receiver's ``susceptibility``), made by the same functions once a batch
  (:func:`sim.runs.epidemic_kernels.epidemic_law`). A run is
  the engine's run of the same seed, field for field (``tests/test_kernel_layers.py``).
- ``lt`` (uniform weights) does not draw N thresholds at the start, as the engine does: agent ``v``'s
  threshold is ``float32(u)``, ``u = ((word v >> 11) + 1) / 2**53`` in (0, 1], where word ``v`` is
  SplitMix64's (Steele, Lea and Flood 2014) indexed by a counter, ``mix64(K + (v + 1) * 0x9E3779B97F4A7C15)``,
  and ``K`` is the run's key, the generator's next 64-bit word after the seeds. A threshold is made only for
  an agent a round examines, so a run costs what it reaches, not N; it is the same law (uniform thresholds),
  another draw. The engine's ``lt`` given these thresholds reports every field the kernel reports, and the
  reach follows Kempe, Kleinberg and Tardos's live-edge law (``tests/test_batched.py``).

A run's result depends on its seed alone: the same in any batch, on any number of workers.

A run may also start from a state (:func:`continue_batched`, for forecasts): a running session's adopters,
sources, exposures, frontier and counters (:func:`present`, read once), copied into each run's buffers, and the
kernels' rounds go on from there (:func:`sim.runs.kernels.cascade_from`, ``threshold_from``, ``epidemic_from``).
Run ``r`` with seed ``S`` continues with session seed ``S + r``: the session's generator becomes
``continued_rng(world.seed, session, S + r, round)`` (:meth:`sim.model.session.PropagationSession.reseed`,
which the engine's continuation calls too); without a seed, every run goes on with the generator the session
saved. ``lt`` continues with the thresholds its session drew at its start (its ``store``), not hashed ones, and
draws nothing after: its continuations are the engine's, and all the same. Each report is what the engine
reports when the saved world is reopened and its session stepped on (``tests/test_batched_state.py``).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, cast

import numpy as np

from sim.core.world import World, world_rng
from sim.errors import BadParameterError
from sim.model.intervene import blocked_mask
from sim.model.lifecycle import all_active
from sim.plugin.schedule import has_changes, schedule_of
from sim.runs.kernel_report import Ensemble, counts_only, outcome, summary
from sim.runs.reports import RunEntry

if TYPE_CHECKING:  # kept off the import path of plain runs (as run_batched imports SeedSpec)
    from sim.engine.simulation import Simulation
    from sim.model.imports import Imports
    from sim.model.registry import Registry
    from sim.model.seeds import SeedSpec
    from sim.model.session import PropagationSession
    from sim.plugin import PropagationModel
    from sim.runs.epidemic_kernels import Infected, Law
    from sim.runs.kernels import State

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)

#: Up to this many agents a cascade reads each sender's edges straight from the graph (its per-agent tables
#: stay in cache); above it, chunks of edges with their targets' states loaded in one loop first, so that the
#: processor overlaps the cache misses. This machine, ic, ms a run, direct against chunks of 4,096 edges:
#: ego-Facebook 1.4 / 1.9, 20,000 agents 3.3 / 3.8, 50,000 9.5 / 9.5, 100,000 21.5 / 19.7, 3M 1391 / 961.
DIRECT_AGENTS = 1 << 16

#: Edges a chunk holds at most (at least the largest out-degree: a sender's edges are never split). Small
#: enough that a chunk's targets are still in cache when their edges are decided: against 32,768, chunks of
#: 4,096 took 100,000 agents from 23.1 to 19.7 ms a run, 1M from 270 to 245, 3M from 1063 to 961.
CHUNK_EDGES = 1 << 12

#: The most rounds a run of the kernels may take: ``sir`` keeps two counts a round (16 bytes), laid out before
#: the run, so a run of 2^63 ticks would ask for an array no machine holds. Every door bounds its ticks to at
#: most this (``--steps``, ``--max-ticks``, a fit's horizon); this is the last line of that bound.
MAX_ROUNDS = 1_000_000

#: ``auto`` runs an ensemble of ``ic`` or ``sir`` batched from this many runs (:func:`small`). On this
#: machine, ego-Facebook's ic: the engine 19 ms a run, the batched kernel 4.5 ms a run after 1.0-1.5 s of
#: loading Numba and the kernels, even at about 70 runs.
AUTO_RUNS = 100


def mix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64's output function, element-wise on uint64 (wrapping arithmetic)."""
    z = z ^ (z >> _S30)
    z *= _M1
    z ^= z >> _S27
    z *= _M2
    z ^= z >> _S31
    return z


def word_at(keys: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Word ``index[j]`` of key ``keys[j]``'s stream, element-wise (uint64)."""
    z = np.asarray(keys, dtype=np.uint64) + (np.asarray(index, dtype=np.uint64) + np.uint64(1)) * GOLDEN
    return mix64(z)


def unit(w: np.ndarray) -> np.ndarray:
    """Uniform numbers in (0, 1] from words: the top 53 bits, plus one, over 2**53."""
    u = ((w >> _S11) + np.uint64(1)).astype(np.float64)
    u *= 2.0**-53
    return u


def lt_thresholds(keys: np.ndarray, agents: np.ndarray) -> np.ndarray:
    """The ``lt`` threshold of each listed agent in the run of each key: word ``agent`` of the key's stream as a
    uniform number in (0, 1], kept as float32 (as the engine keeps its thresholds)."""
    return unit(word_at(keys, agents)).astype(np.float32)


#: The built-in models the compiled kernels reproduce, by the name they are registered under: ``ic`` and ``lt``
#: (:func:`sim.runs.kernels.cascade`, ``threshold``), ``sir`` and ``seir`` (``epidemic``).
BATCHED_MODELS = ("ic", "lt", "sir", "seir")

#: The models whose kernel takes what the engine's ``ctx.transmission`` reads: contact layers and per-layer
#: values (``beta@LAYER``), trust weights (``trust_weighted``) and measured ``susceptibility`` and
#: ``infectivity`` (:func:`sim.runs.epidemic_kernels.epidemic_law`).
LAYERED_MODELS = ("sir", "seir")


def is_builtin(registry: Registry, name: str, model_cls: type[PropagationModel]) -> bool:
    """Whether ``model_cls``, the model registered as ``name``, is the built-in one of that name, as the
    registry says (the engine knows plugins only through the registry): a user's model of that name, from a
    folder or an installed package, is not."""
    info = registry.entries.get(name)
    return info is not None and info.source == "builtin" and info.cls is model_cls


def why_not(
    world: World,
    sim: Simulation,
    session: PropagationSession,
    model_cls: type[PropagationModel],
    trees: bool,
    interventions: list[str],
) -> str | None:
    """Why an ensemble cannot run batched (None: it can): the batched path is the built-in ``ic``, ``lt``,
    ``sir`` or ``seir`` (:data:`BATCHED_MODELS`) on a world where nothing else moves; ``sir`` and ``seir`` on
    a world of contact layers too, with trust weights and measured attributes (:data:`LAYERED_MODELS`). ``sim``
    and ``session`` are the ensemble's probe, just injected; ``model_cls`` the class its registry gave for the
    session's model."""
    name = session.model_name
    if name not in BATCHED_MODELS or not is_builtin(sim.registry, name, model_cls):
        return "only the built-in ic, lt, sir and seir run batched"
    if name == "ic" and session.params.get("trust_weighted"):
        return f"trust-weighted {name} runs on the engine"
    if session.imports is not None and name not in LAYERED_MODELS:
        return f"imported cases in {name} run on the engine"
    if world.layers and name not in LAYERED_MODELS:
        return f"{name} on a world of contact layers runs on the engine"
    if has_changes(session.params) and name not in LAYERED_MODELS:
        return f"{name} with change points in time runs on the engine"
    if has_changes(session.params) and _timed_edges(world, session.params) > MAX_TIMED_EDGES:
        return (
            "change points with an edge's own chance (weights, measured attributes) this many times run on the engine"
        )
    measured = sorted({"susceptibility", "infectivity"} & set(world.attributes))
    if measured and name == "ic":
        return f"measured {' and '.join(measured)} run on the engine"
    if name == "lt" and session.params.get("weights") != "uniform":
        return "lt with trust weights runs on the engine"
    if trees:
        return "--cascades keeps every run's tree: the engine writes them"
    if interventions:
        return "interventions run on the engine"
    if sim.social.living:
        return "the living network runs on the engine"
    if sim.social.settings.get("recommender") not in (None, "none"):
        return "feeds run on the engine"
    if not all_active(world.columns["status"]):
        return "agents that are not all active run on the engine"
    if blocked_mask(world) is not None:
        return "blocked agents run on the engine"
    if any(s.status in ("queued", "running") for s in world.sessions if s is not session):
        return "the world has sessions of its own running"
    fixed = session.seed_agents
    if fixed is not None and np.any(np.diff(np.asarray(fixed, dtype=np.int64)) <= 0):
        return "seeds not in ascending order run on the engine"
    try:
        from sim.runs import kernels  # noqa: F401, PLC0415 - Numba loads only for a batched ensemble
    except ImportError as exc:  # pragma: no cover - numba is a dependency; a broken install falls back
        return f"the compiled kernels could not be loaded ({exc})"
    return None


#: The most edge thresholds a law with change points keeps (one table of the edges a segment: 8 bytes each).
MAX_TIMED_EDGES = 1 << 26


def _timed_edges(world: World, params: Mapping[str, Any]) -> int:
    """How many edge thresholds the law of ``params`` keeps on ``world``: its edges times its segments where an
    edge has a chance of its own (trust weights, measured attributes), else none worth counting."""
    schedule = schedule_of(params, "beta")
    own = bool(params.get("trust_weighted")) or bool({"susceptibility", "infectivity"} & set(world.attributes))
    return int(world.graph.out_indices.size) * schedule.segments if schedule is not None and own else 0


def small(model: str, runs: int) -> str | None:
    """Why ``auto`` ticks an ensemble that could run batched through the engine instead: ``ic`` and ``sir``
    runs are the same on both (field for field), and below :data:`AUTO_RUNS` runs loading the compiled
    kernels (about a second: Numba and its cache) costs more than they save. ``lt`` runs batched at any size,
    so that its runs (which draw their thresholds their own way) never depend on the ensemble's size."""
    if model == "lt" or runs >= AUTO_RUNS:
        return None
    return (
        f"a small ensemble ({runs} runs of {model}, the same on both kernels): loading the compiled kernel "
        f"(about a second) costs more than it saves below {AUTO_RUNS} runs; --kernel batched uses it anyway"
    )


def run_key(
    world: World, session: int, seed: int, spec: SeedSpec, fixed: np.ndarray | None
) -> tuple[np.ndarray, np.uint64]:
    """The seeds and random key of the run of session seed ``seed``: the seeds are drawn from the session's
    generator as the engine draws them (``spec.select``; ``fixed``: a seed file's or a seed method's agents),
    then the key is the generator's next 64-bit word."""
    rng = world_rng(world.seed, 100, seed, session)
    picked = _chooser(world, spec, fixed)(rng)
    return picked, _key(rng)


def _key(rng: np.random.Generator) -> np.uint64:
    """An ``lt`` run's key: its generator's next 64-bit word (after the seeds)."""
    return rng.integers(0, 2**64 - 1, dtype=np.uint64, endpoint=True)


_MASK64 = (1 << 64) - 1


def pcg_state(rng: np.random.Generator) -> np.ndarray:
    """A PCG64 generator's state for the kernels: its 128-bit state and increment as four uint64 words (high
    first). The kernels step it as numpy does (:func:`sim.runs.kernels.kernel_step`)."""
    st = rng.bit_generator.state["state"]
    s, inc = int(st["state"]), int(st["inc"])
    return np.array([s >> 64, s & _MASK64, inc >> 64, inc & _MASK64], dtype=np.uint64)


def _chooser(world: World, spec: SeedSpec, fixed: np.ndarray | None) -> Callable[[np.random.Generator], np.ndarray]:
    """``spec.select(world, rng)``, with the selections that draw nothing (a seed file's or a seed method's
    agents, ``top``, ``ids``, ``none``) made once."""
    chosen = _drawn_once(world, spec, fixed)
    if chosen is not None:
        return lambda rng: chosen
    return lambda rng: spec.select(world, rng).astype(np.int64)


def _drawn_once(world: World, spec: SeedSpec, fixed: np.ndarray | None) -> np.ndarray | None:
    """The seeds of every run when they draw nothing (a seed file's or a seed method's agents, ``top``,
    ``ids``, ``none``), else None."""
    if fixed is not None:
        return np.asarray(fixed, dtype=np.int64)
    if spec.kind in ("ids", "file", "none"):
        # Agents named by id: the same for every call on the same world's ids (a fit calls once a particle, and
        # looking ids up cost more than its run on a small world), kept for the next call.
        ids = world.columns.get("ids")
        with _spare_lock:
            if _named and _named[0][0] is spec and _named[0][1] is world and _named[0][2] is ids:
                return _named[0][3]
        chosen = np.asarray(spec.select(world, np.random.default_rng(0)), dtype=np.int64)  # draws nothing
        with _spare_lock:
            _named[:] = [(spec, world, ids, chosen)]
        return chosen
    if spec.kind == "top":
        return np.asarray(spec.select(world, np.random.default_rng(0)), dtype=np.int64)  # draws nothing
    return None


#: The seeds by id of the last call (:func:`_drawn_once`): its seed selection, world and ids column, and them.
_named: list[tuple[SeedSpec, World, np.ndarray | None, np.ndarray]] = []


def _starter_kernel() -> Callable[..., np.uint64]:
    from sim.runs.kernels import start  # noqa: PLC0415 - Numba loads only for a batched ensemble

    return start


def _words(x: int) -> list[int]:
    """numpy's SeedSequence words of a non-negative integer: 32 bits each, low first (0 is one word)."""
    out = [x & 0xFFFFFFFF]
    x >>= 32
    while x:
        out.append(x & 0xFFFFFFFF)
        x >>= 32
    return out


def _starter(
    world: World, spec: SeedSpec, fixed: np.ndarray | None, session: int, seeds: range
) -> Callable[[int], tuple[np.ndarray, np.ndarray, np.uint64]]:
    """``start(run_seed)``: a run's seeds, its generator's state (:func:`pcg_state`) and its ``lt`` key, as
    :func:`run_key` and :func:`pcg_state` make them from ``world_rng(world.seed, 100, run_seed, session)``.
    Seeds that draw nothing or ``random:K`` of all agents are made by the compiled
    :func:`sim.runs.kernels.start` (bit for bit numpy's draws, without its 50 microseconds a run); other
    selections (a community, agents not all active) draw through numpy."""
    start = _starter_kernel()
    chosen = _drawn_once(world, spec, fixed)
    every = spec.kind == "random" and all_active(world.columns["status"])
    if (chosen is not None or every) and session >= 0 and seeds and seeds.start >= 0 and seeds.stop <= 1 << 63:
        head = np.array(_words(world.seed & _MASK64) + _words(100), dtype=np.uint64)
        tail = np.array(_words(session), dtype=np.uint64)
        n, k = int(world.n), 0
        if chosen is None:
            spec.check(world)  # the count of seeds against the agents, once
            k = int(spec.k)
        picked = np.zeros(max(k, 1), dtype=np.int64)
        out = picked[:k] if chosen is None else chosen
        pcg = np.zeros(4, dtype=np.uint64)

        def compiled(run_seed: int) -> tuple[np.ndarray, np.ndarray, np.uint64]:
            return out, pcg, np.uint64(start(head, run_seed, tail, n, k, picked, pcg))

        return compiled
    choose = _chooser(world, spec, fixed)

    def drawn(run_seed: int) -> tuple[np.ndarray, np.ndarray, np.uint64]:
        rng = world_rng(world.seed, 100, run_seed, session)
        picked = choose(rng)
        pcg = pcg_state(rng)
        return picked, pcg, _key(rng)

    return drawn


#: A graph as the kernels read it: its out-CSR (:data:`sim.runs.kernels.Csr`: ``indptr`` int64, ``dst`` int32)
#: and its in-degrees (float64, for ``lt``).
KernelGraph = tuple[tuple[np.ndarray, np.ndarray], np.ndarray]


class _Buffers:
    """The kernel's scratch (per agent, left as found after each run) and output buffers, made once (and
    kept for the next ensemble of the same world size: :func:`_take`, :func:`_give`)."""

    def __init__(self, n: int, chunk: int = 1 << 15) -> None:
        from sim.runs import epidemic_kernels, kernels  # noqa: PLC0415 - Numba loads only for a batched ensemble

        self.kernels = kernels  # bound once: an import statement a run costs about a microsecond
        self.epidemics = epidemic_kernels
        self.targets = np.zeros(chunk, dtype=np.int32)
        self.senders = np.zeros(chunk, dtype=np.int64)
        self.states = np.zeros(chunk, dtype=np.uint8)
        self.mark = np.zeros(n, dtype=np.uint8)
        self.position = np.zeros(n, dtype=np.int64)
        # lt's table (kernels.lt_table) and chunk states, made for the graph of its first lt run.
        self.lt_table = self.lt_states = np.zeros(0, dtype=np.uint64)
        self.lt_from: np.ndarray | None = None
        self.touched = np.zeros(n, dtype=np.int64)
        self.agents = np.zeros(n, dtype=np.int32)
        self.rounds = np.zeros(n, dtype=np.int32)
        self.gens = np.zeros(n, dtype=np.int32)
        self.infectious = np.zeros(n, dtype=np.int32)
        self.spare = np.zeros(n, dtype=np.int32)
        self.latent = np.zeros(n, dtype=np.int32)  # seir's exposed agents, their spare and a round's onsets
        self.lspare = np.zeros(n, dtype=np.int32)
        self.turned = np.zeros(n, dtype=np.int32)
        self.eids = np.zeros(chunk, dtype=np.int64)  # a chunk's edge ids (an epidemic's per-edge chances)
        # An epidemic's open out-edges per sender on the direct path (epidemic_kernels.Infected): the ids sized
        # for the graph of its first epidemic (_infected), never cleared (each sender's count is set first).
        self.opened = np.zeros(n, dtype=np.int64)
        self.open_ids = np.zeros(0, dtype=np.int32)
        self.stage = np.zeros(n, dtype=np.int8)  # an epidemic's stage of each adopter, by its row (Erlang stages)
        self.parents = np.zeros(n, dtype=np.int64)
        self.subtree = np.zeros(n, dtype=np.float64)
        self.tree = np.zeros(n, dtype=np.int64)
        self.counts = np.zeros(9, dtype=np.int64)  # sim.runs.kernels.AT_SIZE
        self.last_paused: tuple[np.ndarray, ...] | None = None  # the last run paused (epidemic's paused)
        # The kernels' argument tuples (sim.runs.kernels.Scratch, Forest), made once: not a tuple a run.
        self.scratch = (self.mark, self.touched, self.targets, self.senders, self.states)
        self.lt_scratch = (self.lt_table, self.touched, self.targets, self.senders, self.lt_states)
        self.infected = (
            self.position,
            self.gens,
            self.infectious,
            self.spare,
            self.latent,
            self.lspare,
            self.turned,
            self.eids,
            self.opened,
            self.open_ids,
            self.stage,
        )
        self.forest = (self.agents, self.rounds, self.parents, self.subtree, self.tree)

    def cascade(
        self,
        lt: bool,
        graph: KernelGraph,
        seeds: np.ndarray,
        pcg: np.ndarray,
        p: float,
        key: np.uint64,
        rounds_cap: int,
        direct: bool,
    ) -> None:
        """One ``ic`` run of :func:`sim.runs.kernels.cascade` or ``lt`` run of
        :func:`sim.runs.kernels.threshold` in these buffers (``graph``: :data:`KernelGraph`)."""
        kernels = self.kernels
        csr, in_degree = graph
        if lt:
            lt_scratch = self._lt_scratch(in_degree)
            kernels.threshold(csr, seeds, key, rounds_cap, direct, lt_scratch, self.forest, self.counts)
            return
        kernels.cascade(csr, seeds, pcg, p, rounds_cap, direct, self.scratch, self.forest, self.counts)

    def _lt_scratch(self, in_degree: np.ndarray) -> tuple[np.ndarray, ...]:
        """lt's scratch for the graph of ``in_degree``: its table holds the graph's in-degrees, made once a graph."""
        if self.lt_from is not in_degree:
            self.lt_table, self.lt_from = self.kernels.lt_table(in_degree), in_degree
            self.lt_states = np.zeros(self.targets.size, dtype=np.uint64)
            self.lt_scratch = (self.lt_table, self.touched, self.targets, self.senders, self.lt_states)
        return self.lt_scratch

    def resumed(
        self,
        model: str,
        graph: KernelGraph,
        state: tuple[np.ndarray, ...],
        pcg: np.ndarray,
        params: dict[str, Any],
        given: np.ndarray,
        law: Law | None,
        rounds_cap: int,
        direct: bool,
    ) -> np.ndarray | None:
        """One run of ``model`` from a session's ``state`` (:data:`sim.runs.kernels.State`) in these buffers:
        :func:`sim.runs.kernels.cascade_from`, ``threshold_from`` (thresholds ``given``) or ``epidemic_from``
        (``law``: its rates and edges' chances, :func:`sim.runs.epidemic_kernels.epidemic_law`; returns its new
        infections, recoveries and onsets per round; the others None)."""
        kernels = self.kernels
        csr, in_degree = graph
        if law is not None:  # sir
            present = cast("State", state)
            infected = self._infected(csr[1])
            return self.epidemics.epidemic_from(
                csr, present, pcg, law, rounds_cap, direct, self.scratch, infected, self.forest, self.counts
            )
        if model == "lt":
            scratch = self._lt_scratch(in_degree)
            kernels.threshold_from(csr, state, given, rounds_cap, direct, scratch, self.forest, self.counts)
            return None
        p = float(params.get("p", 0.0))
        kernels.cascade_from(csr, state, pcg, p, rounds_cap, direct, self.scratch, self.forest, self.counts)
        return None

    def epidemic(
        self,
        graph: KernelGraph,
        seeds: np.ndarray,
        pcg: np.ndarray,
        law: Law,
        rounds_cap: int,
        direct: bool,
        reseeds: np.ndarray | None = None,
        paused: tuple[np.ndarray, ...] | None = None,
    ) -> np.ndarray:
        """One ``sir`` or ``seir`` run of :func:`sim.runs.epidemic_kernels.epidemic` in these buffers (``law``:
        :func:`sim.runs.epidemic_kernels.epidemic_law`; ``direct``: the graph's edges read straight, a small
        world's; the law holds its importations, :func:`sim.runs.epidemic_kernels.with_imports`; ``reseeds``: its
        branches, :data:`sim.runs.epidemic_kernels.Reseeds`); returns its new infections, recoveries, onsets and
        imported agents per round. ``paused``: the run goes on from that paused run
        (:data:`sim.runs.epidemic_kernels.Paused`; ``NOT_PAUSED``: from its seeds) and is left paused at its last
        round in :attr:`last_paused` (:func:`sim.runs.epidemic_kernels.epidemic_paused`)."""
        csr, _ = graph
        infected = self._infected(csr[1])
        gen = (pcg, self.epidemics.NO_RESEEDS if reseeds is None else reseeds)
        if paused is not None:
            per_round, self.last_paused = self.epidemics.epidemic_paused(
                csr, (seeds, paused), gen, law, rounds_cap, direct, self.scratch, infected, self.forest, self.counts
            )
            return np.asarray(per_round)
        return self.epidemics.epidemic(
            csr, seeds, gen, law, rounds_cap, direct, self.scratch, infected, self.forest, self.counts
        )

    def _infected(self, dst: np.ndarray) -> Infected:
        """The epidemic's buffers (:data:`sim.runs.epidemic_kernels.Infected`) with room for the open out-edges of
        a graph of ``dst.size`` edges (made larger once a larger graph comes)."""
        if self.open_ids.size < dst.size:
            self.open_ids = np.zeros(dst.size, dtype=np.int32 if dst.size <= 1 << 31 else np.int64)
            self.infected = (*self.infected[:9], self.open_ids, *self.infected[10:])
        return self.infected


#: The buffers of the last ensemble that finished, for the next one of the same size (set-up: 0.8 ms at
#: 100,000 agents); one set at most, so that a long-lived process holds no more than one ensemble's.
_spare: list[_Buffers] = []
_spare_lock = threading.Lock()


#: The kernels' arrays of the last graph an ensemble ran on (:func:`_graph_arrays`), with the graph arrays
#: they came from: a graph's arrays are replaced, never written in place, when its edges change.
_arrays: list[tuple[tuple[np.ndarray, ...], KernelGraph, int]] = []


def _graph_arrays(graph: Any) -> tuple[KernelGraph, int]:
    """The kernels' view of ``graph`` (:data:`KernelGraph`) and its largest out-degree; kept for the next
    ensemble on the same graph (at 1M agents, 4 ms a time)."""
    source = (graph.out_indptr, graph.out_indices, graph.in_indptr)
    with _spare_lock:
        if _arrays and all(a is b for a, b in zip(_arrays[0][0], source)):
            return _arrays[0][1], _arrays[0][2]
    indptr = np.ascontiguousarray(graph.out_indptr, dtype=np.int64)
    csr = (indptr, np.ascontiguousarray(graph.out_indices, dtype=np.int32))
    arrays = (csr, np.diff(graph.in_indptr).astype(np.float64))
    widest = int(np.diff(indptr).max(initial=0))
    with _spare_lock:
        _arrays[:] = [(source, arrays, widest)]
    return arrays, widest


def _take(n: int, chunk: int) -> _Buffers:
    """Buffers for ``n`` agents and chunks of ``chunk`` edges: the spare set if it fits, else new ones."""
    with _spare_lock:
        if _spare and _spare[0].mark.size == n and _spare[0].targets.size >= chunk:
            return _spare.pop()
    return _Buffers(n, chunk)


def _give(buf: _Buffers) -> None:
    """Keep ``buf`` (clean: every run puts its scratch back) for the next ensemble."""
    with _spare_lock:
        _spare[:] = [buf]


def warm(model: str) -> None:
    """Compile (or load from Numba's cache) ``model``'s kernels for the argument types :func:`run_batched`
    passes, on a world of two agents: done before forking workers, so that they share the compiled code
    instead of each loading it (each kernel Numba loads costs start-up: only the model's)."""
    from sim.runs.kernels import tally  # noqa: PLC0415 - Numba loads only for a batched ensemble

    graph = ((np.array([0, 1, 1], dtype=np.int64), np.array([1], dtype=np.int32)), np.ones(2))
    seeds, pcg, none = np.array([0], dtype=np.int64), np.zeros(4, dtype=np.uint64), np.zeros(1, dtype=np.uint64)
    b = _Buffers(2, 4)
    _starter_kernel()(none, 0, none, 2, 1, np.zeros(1, dtype=np.int64), pcg)
    if model in LAYERED_MODELS:
        rates = np.array([0.5, 0.5 if model == "seir" else -1.0, 0.5, 1.0, 1.0])
        empty = np.zeros(0, dtype=np.uint64)
        # chances of any kind and importations: the same argument types
        imported = (np.zeros(1, dtype=np.int64), np.ones(4))
        law = (rates, empty, empty, np.zeros(0, dtype=np.uint8), *imported, *b.epidemics.NO_CHANGES)
        b.epidemic(graph, seeds, pcg, law, 3, True)
    else:
        b.cascade(model == "lt", graph, seeds, pcg, 0.5, np.uint64(1), 3, True)
    tally(b.rounds, b.gens, b.parents, b.subtree, b.tree, b.agents, 0, 0)


def _check_rounds(limit: int) -> None:
    """Refuse a run of more than :data:`MAX_ROUNDS` ticks before its arrays are laid out.

    Raises:
        BadParameterError: naming the bound.
    """
    if limit > MAX_ROUNDS:
        raise BadParameterError(
            f"a run of {limit:,} ticks is more than the {MAX_ROUNDS:,} the compiled kernels run: give fewer ticks"
        )


def run_batched(
    world: World,
    *,
    probe: PropagationSession,
    seed: int,
    runs: list[int],
    limit: int,
    until_done: bool,
    max_ticks: int,
    report: Callable[[int], None] | None = None,
    params: Mapping[str, object] | None = None,
) -> list[RunEntry]:
    """Runs ``runs`` (indices: session seed ``seed + r``) of the probe session's ``ic``, ``lt``, ``sir`` or
    ``seir`` through the compiled kernels; reports in run order. ``report(done)`` every 64 runs. ``params``: the
    model's parameters instead of the probe's (a fit's particle: each run the engine's run of those
    parameters)."""
    kernel = KernelRuns(world, probe, limit=limit, until_done=until_done, max_ticks=max_ticks)
    return kernel.runs(seed, runs, report=report, params=params)


class Pause(NamedTuple):
    """A run going on from a paused one (a particle filter's block of ticks, :meth:`KernelRuns.runs`): where it was
    paused (:data:`sim.runs.epidemic_kernels.Paused`; ``NOT_PAUSED``: from its seeds), the round to pause it at
    again (None: the ensemble's last), and the one column of counts its report keeps (None: the whole report;
    :func:`sim.runs.kernel_report.counts_only`)."""

    paused: tuple[np.ndarray, ...]
    rounds: int | None = None
    only: str | None = None


class KernelRuns:
    """:func:`run_batched`'s set-up for one world, probe session and run length (the graph's arrays, the seed
    selection, the runs' starts), made once for many calls: a fit calls once a particle, thousands of times, on a
    world that does not change meanwhile (each call's set-up cost about as much as a small world's run).

    Raises:
        BadParameterError: ``limit`` above :data:`MAX_ROUNDS`.
    """

    def __init__(
        self, world: World, probe: PropagationSession, *, limit: int, until_done: bool, max_ticks: int
    ) -> None:
        from sim.model.seeds import SeedSpec  # noqa: PLC0415 - kept off the import path of plain runs

        self.world, self.probe, self.n = world, probe, int(world.n)
        self.spec = probe.seed_spec if probe.seed_spec is not None else SeedSpec.parse(probe.seeds)
        _check_rounds(limit)
        self.csr, widest = _graph_arrays(world.graph)
        self.chunk = max(CHUNK_EDGES, widest, 1)
        self.rounds_cap, self.direct = max(0, limit - 1), self.n <= DIRECT_AGENTS
        self.paused: tuple[np.ndarray, ...] | None = None  # the last run paused (runs' paused)
        self.ensemble = Ensemble(self.n, probe.id, limit, until_done, max_ticks)
        # The runs' starts (_starter), by whether the run seeds fit the compiled start's words: made on first use.
        self._starts: dict[tuple[bool, int | None], Callable[[int], tuple[np.ndarray, np.ndarray, np.uint64]]] = {}
        self._combine: str | None = None

    def _start(self, span: range, k: int | None = None) -> Callable[[int], tuple[np.ndarray, np.ndarray, np.uint64]]:
        fits = bool(span) and span.start >= 0 and span.stop <= 1 << 63  # what _starter asks of the seeds
        start = self._starts.get((fits, k))
        if start is None:
            spec = self.spec if k is None else dataclasses.replace(self.spec, k=k)
            start = _starter(self.world, spec, None if k is not None else self.probe.seed_agents, self.probe.id, span)
            self._starts[(fits, k)] = start
        return start

    def runs(
        self,
        seed: int,
        runs: list[int],
        *,
        report: Callable[[int], None] | None = None,
        params: Mapping[str, object] | None = None,
        imports: Imports | None = None,
        reseeds: np.ndarray | None = None,
        walk: np.ndarray | None = None,
        pause: Pause | None = None,
        seeds: int | None = None,
    ) -> list[RunEntry]:
        """As :func:`run_batched`: runs ``runs`` with session seeds ``seed + r`` (``params``: the model's
        parameters instead of the probe's; ``imports``: the importations instead of the probe's; ``reseeds``: every
        run's branches, :data:`sim.runs.epidemic_kernels.Reseeds`, for ``sir`` and ``seir``; ``walk``: a random
        walk's multipliers of ``beta``, :func:`sim.runs.epidemic_kernels.epidemic_law`); ``pause`` (``sir`` and
        ``seir``, one run): the run goes on from a paused one and is left paused in :attr:`paused` (:class:`Pause`);
        ``seeds``: the seed selection's count instead of its own (a fit's ``seeds``)."""
        probe, csr, rounds_cap, direct = self.probe, self.csr, self.rounds_cap, self.direct
        paused, only = (None, None) if pause is None else (pause.paused, pause.only)
        if pause is not None and pause.rounds is not None:
            rounds_cap = pause.rounds
        imports = probe.imports if imports is None else imports
        imported = None if imports is None else (imports.counts, imports.rates)
        model = probe.model_name
        typed: Mapping[str, Any] = probe.params if params is None else params
        buf = _take(self.n, self.chunk)
        out: list[RunEntry] = []
        span = range(seed + min(runs), seed + max(runs) + 1) if runs else range(0)
        start = self._start(span, seeds)
        law = None
        if model in LAYERED_MODELS:  # once for all the runs: their rates and edges' chances (layers, weights, ...)
            if self._combine is None:
                self._combine = buf.epidemics.combine_of(probe)
            law = buf.epidemics.with_imports(
                buf.epidemics.epidemic_law(model, self.world, typed, self._combine, walk), imported
            )
        for r in runs:
            t0 = time.perf_counter()
            picked, pcg, key = start(seed + r)
            per_round = (
                buf.epidemic(csr, picked, pcg, law, rounds_cap, direct, reseeds, paused) if law is not None else None
            )
            if paused is not None:
                self.paused = buf.last_paused
            if law is None:
                # lt draws nothing from the generator in the kernel (its thresholds come from its key); ic
                # draws from the generator's state after the seeds.
                buf.cascade(model == "lt", csr, picked, pcg, float(typed.get("p", 0.0)), key, rounds_cap, direct)
            run = outcome(buf, per_round, rounds_cap, model == "seir", imported is not None)
            if only is not None and per_round is not None:
                out.append(counts_only(run, per_round[0], self.n, seed + r, only))
            else:
                out.append(summary(buf, run, self.ensemble, seed + r, time.perf_counter() - t0))
            if report is not None and len(out) % 64 == 0:
                report(len(out))
        _give(buf)  # every run put its scratch back (a run that raised did not: its buffers are dropped)
        return out


# -- runs from a state ---------------------------------------------------------------------------------------------


class Present(NamedTuple):
    """A running session's present as the kernels resume it (:data:`sim.runs.kernels.State`, field for field;
    made once by :func:`present` and copied into each run's buffers)."""

    agents: np.ndarray  # int32: the adopters by round, then agent
    rounds: np.ndarray  # int32: each one's round
    parents: np.ndarray  # int64: its source's position among them (-1: a root)
    reached: np.ndarray  # int32: the agents exposed that have not adopted
    followed: np.ndarray  # int64: lt's, their adopted followees that transmitted already
    frontier: np.ndarray  # int32: the agents that transmit in the next round, ascending
    cured: np.ndarray  # int64: sir's recoveries in each round so far
    scalars: np.ndarray  # int64: [frontier's start among the adopters, round, exposed, attempts, transmitting summed]


def why_not_continue(world: World, sim: Simulation, session: PropagationSession) -> str | None:
    """Why the continuations of ``session`` (a session of ``world``, run by ``sim``) cannot run batched (None:
    they can): what :func:`why_not` asks of an ensemble (the built-in ``ic``, ``lt`` with uniform weights or
    ``sir``, offline, nothing else moving), a session that is running, and nothing in its past that the
    kernels do not keep (feed adoptions, blocked agents, counter-messages, a series that starts late).
    ``seir``'s continuations run on the engine (its exposed agents are not part of a kernel's state)."""
    if session.status != "running" or session.started_tick is None:
        return f"session {session.id} is {session.status}: only a running session continues"
    if session.model_name == "seir":
        return "a seir session continues on the engine"
    if int(session.params.get("gamma_stages", 1)) > 1:
        return "a session with Erlang stages continues on the engine (its agents' stages are not a kernel's state)"
    try:
        model_cls = sim.registry.model(session.model_name)
    except BadParameterError as exc:
        return str(exc)
    reason = why_not(world, sim, session, model_cls, False, [])
    if reason is not None:
        return reason
    if session.feed_reached or session.feed_exposed:
        return "a session that reached agents through feeds continues on the engine"
    if session.immune or session.rivals:
        return "a session with blocked agents or counter-messages continues on the engine"
    if session.series is None or session.series_from != 0 or session.series.length != session.round + 1:
        return "a session whose series does not start at its seeding continues on the engine"
    if session.state.size != world.n:
        return f"session {session.id} has {session.state.size} agents' states, the world {world.n} agents"
    return None


def _refused(session: PropagationSession, why: str) -> BadParameterError:
    return BadParameterError(f"session {session.id} cannot continue in the batched kernel: {why}")


def present(world: World, session: PropagationSession) -> Present:
    """``session``'s present (:class:`Present`) from its arrays and counters, once for all its continuations
    (numpy over the agents, once). ``session`` is one :func:`why_not_continue` accepts.

    Raises:
        BadParameterError: a state the engine's model could not have left (a frontier that is not the last
            round's adopters, a source that adopted later): one sentence.
    """
    n, at, begun = int(world.n), session.adopted_at, int(session.started_tick or 0)
    nodes = np.flatnonzero(at >= 0)
    rnd = at[nodes].astype(np.int64) - begun
    order = np.lexsort((nodes, rnd))
    agents, rounds = nodes[order].astype(np.int32), rnd[order]
    last = int(session.round)
    if agents.size and (rounds[0] < 0 or rounds[-1] > last):
        raise _refused(session, f"it has adoptions outside its rounds 0 to {last}")
    position = np.full(n, -1, dtype=np.int64)
    position[agents] = np.arange(agents.size)
    src = session.adopted_from[agents].astype(np.int64)
    parents = np.where(src >= 0, position[np.clip(src, 0, n - 1)], -1)
    if np.any((src >= 0) & ((parents < 0) | (rounds[np.maximum(parents, 0)] >= rounds))):
        raise _refused(session, "an agent's source adopted after it, or never")
    start = int(np.searchsorted(rounds, last))
    frontier = np.sort(session.frontier).astype(np.int32)
    sir = session.model_name == "sir"
    mine = np.flatnonzero(session.state == 1).astype(np.int32) if sir else agents[start:]
    if not np.array_equal(frontier, mine):
        what = "infectious agents" if sir else "adopters of its last round"
        raise _refused(session, f"its frontier is not its {what}")
    reached = np.flatnonzero(session.exposed & (at < 0)).astype(np.int32)
    followed = np.zeros(reached.size, dtype=np.int64)
    if session.model_name == "lt":
        followed = _followed(world, reached, at >= 0, frontier)
    cured = np.zeros(0, dtype=np.int64)
    if sir:
        assert session.series is not None  # why_not_continue: a series from the seeding
        cured = np.diff(session.series.counts[:, 2], prepend=0).astype(np.int64)
    sent = int(sum(session.frontier_sizes))
    scalars = np.array([start, last, session.exposed_count, session.attempts, sent], dtype=np.int64)
    return Present(agents, rounds.astype(np.int32), parents, reached, followed, frontier, cured, scalars)


def _followed(world: World, reached: np.ndarray, adopted: np.ndarray, frontier: np.ndarray) -> np.ndarray:
    """Each ``reached`` agent's followees that adopted and transmitted already (not in ``frontier``): the count
    lt's kernel keeps in its table entry."""
    graph = world.graph
    lo = graph.in_indptr[reached].astype(np.int64)
    degree = graph.in_indptr[reached + 1].astype(np.int64) - lo
    total = int(degree.sum())
    edges = np.repeat(lo - (np.cumsum(degree) - degree), degree) + np.arange(total, dtype=np.int64)
    sent = adopted.copy()
    sent[frontier] = False
    owner = np.repeat(np.arange(reached.size), degree)
    return np.bincount(owner[sent[graph.in_indices[edges]]], minlength=reached.size).astype(np.int64)


def _continuer(world: World, session: PropagationSession, seed: int | None, span: range) -> Callable[[int], np.ndarray]:
    """``pcg(run_seed)``: the generator state (:func:`pcg_state`) a continuation of ``session`` draws from:
    :func:`sim.model.session.continued_rng` of the run's seed (compiled, :func:`sim.runs.kernels.start`, when
    the seeds fit its words; numpy else), or the session's saved generator for every run (``seed`` None)."""
    from sim.model.session import STREAM_CONTINUED, continued_rng  # noqa: PLC0415 - off plain runs' import path

    if seed is None:
        if session.rng_state is None:
            raise _refused(session, "it saved no generator state")
        rng = world_rng(0)
        rng.bit_generator.state = session.rng_state
        saved = pcg_state(rng)
        return lambda _run_seed: saved.copy()
    if span and span.start >= 0 and span.stop <= 1 << 63 and session.id >= 0:
        start = _starter_kernel()
        head = np.array(_words(world.seed & _MASK64) + _words(STREAM_CONTINUED), dtype=np.uint64)
        tail = np.array(_words(session.id) + _words(int(session.round)), dtype=np.uint64)
        picked, pcg = np.zeros(1, dtype=np.int64), np.zeros(4, dtype=np.uint64)

        def compiled(run_seed: int) -> np.ndarray:
            start(head, run_seed, tail, 1, 0, picked, pcg)  # no seeds drawn: the generator as seeded
            return pcg

        return compiled
    return lambda run_seed: pcg_state(continued_rng(world.seed, session.id, run_seed, int(session.round)))


def continue_batched(
    world: World,
    session: PropagationSession,
    *,
    seed: int | None,
    runs: list[int],
    limit: int,
    until_done: bool,
    max_ticks: int,
    report: Callable[[int], None] | None = None,
) -> list[RunEntry]:
    """Continuations of the running ``session`` of ``world`` from its present state (states, frontier,
    exposures, counters, cascade so far; ``lt``'s thresholds as its model drew them), through the compiled
    kernels; reports in run order, each what the engine reports for the same continuation (the world saved
    and reopened, its session stepped ``limit`` ticks or until done; ``max_ticks`` named then): ``ticks``
    counts the continuation's, every other field the whole session's. Run ``r`` continues with session seed
    ``seed + r`` (:meth:`sim.model.session.PropagationSession.reseed`); ``seed`` None: every run goes on with
    the session's own generator, as saved. ``report(done)`` every 64 runs. The world and the session are
    not changed. Check the session with :func:`why_not_continue` first.

    Raises:
        BadParameterError: a session :func:`present` refuses, or ``limit`` below 1.
    """
    if limit < 1:
        raise _refused(session, f"a continuation runs at least one tick, not {limit}")
    _check_rounds(limit)
    state = present(world, session)
    model, params = session.model_name, session.params
    n = int(world.n)
    given = np.zeros(0, dtype=np.float32)
    law = None
    if model == "sir":
        from sim.runs import epidemic_kernels  # noqa: PLC0415 - Numba loads only for a batched ensemble

        law = epidemic_kernels.epidemic_law(model, world, params, epidemic_kernels.combine_of(session))
    if model == "lt":
        given = np.asarray(session.store.get("threshold", given))
        if given.dtype != np.float32 or given.shape != (n,):
            raise _refused(session, "its thresholds are not one float32 an agent")
    csr, widest = _graph_arrays(world.graph)
    begun = int(state.scalars[1])
    rounds_cap = begun + limit
    direct = n <= DIRECT_AGENTS
    buf = _take(n, max(CHUNK_EDGES, widest, 1))
    span = range(seed + min(runs), seed + max(runs) + 1) if runs and seed is not None else range(0)
    pcg_of = _continuer(world, session, seed, span)
    ensemble = Ensemble(n, session.id, limit, until_done, max_ticks, begun + 1)
    arrays = tuple(state)
    out: list[RunEntry] = []
    for r in runs:
        t0 = time.perf_counter()
        run_seed = session.seed if seed is None else seed + r
        per_round = buf.resumed(model, csr, arrays, pcg_of(run_seed), params, given, law, rounds_cap, direct)
        out.append(summary(buf, outcome(buf, per_round, rounds_cap), ensemble, run_seed, time.perf_counter() - t0))
        if report is not None and len(out) % 64 == 0:
            report(len(out))
    _give(buf)
    return out
