"""Compiled ``sir`` and ``seir`` kernels for batched ensembles (:mod:`sim.runs.batched`), with Numba, on worlds of
one layer or of contact layers.

One call of :func:`epidemic` runs one epidemic to its end (or ``rounds_cap`` rounds) from its seeds, drawing from
the run's session generator exactly what the engine's model draws, in the same order (``plugins/epidemic.py``):
each round one number per open edge of the agents infectious at its start (senders ascending, each sender's
targets ascending), then for ``seir`` one per agent exposed at its start (ascending: its onset), then one per
infectious agent (ascending: its recovery). So a run is the engine's run of the same seed, field for field
(``tests/test_batched.py``, ``tests/test_kernel_layers.py``). It leaves its adoption forest and counters in the
buffers of :mod:`sim.runs.kernels` (the same pieces ``ic`` uses) and returns its new infections, recoveries and
onsets per round.

An edge's chance is what the engine's ``ctx.transmission("beta", ...)`` gives it: the value of its layers
(``beta@LAYER``, combined as the parameter declares), times its trust weight with ``trust_weighted``, the sender's
measured ``infectivity`` and the receiver's ``susceptibility``, capped at 1. :func:`epidemic_law` makes those
numbers with the engine's own functions (:func:`sim.plugin.arrays.layer_table`, ``scale_edges``), so they are
the engine's floating-point numbers, and the kernel compares each draw's 53 bits with its integer threshold
(:func:`thresholds`): one number for every edge (one layer, unweighted, no measured attribute), a table of 256 read
through each edge's layer mask (layers alone: a fit's particle costs 256 thresholds, not one an edge), or one an
edge.

A ``sir`` run may start from a running session's state instead of seeds (:func:`epidemic_from`); ``seir``'s
continuations run on the engine (its exposed agents are not part of the kernels' state).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
from numba import njit

from sim.model.imports import TRIES
from sim.plugin.arrays import MASKS, layer_table, layer_tables, scale_edges
from sim.plugin.schedule import has_changes, schedule_of, segment_values, walk_schedule
from sim.runs.kernels import (
    AT_ATTEMPTS,
    AT_EXPOSED,
    AT_FINISHED,
    AT_LATENT,
    AT_ROUND,
    AT_SENT,
    AT_SIZE,
    AT_START,
    AT_TOUCHED,
    S11,
    Csr,
    Forest,
    Scratch,
    State,
    at_seeds_of,
    kernel_below,
    kernel_chunk,
    kernel_close,
    kernel_resume,
    kernel_step,
    seeded_forest,
    sort_round,
)

if TYPE_CHECKING:
    from sim.core.world import World
    from sim.model.session import PropagationSession

#: An epidemic's buffers beside the forest (:func:`epidemic`): each agent's ``position`` among the adopters
#: (int64), each adopter's generation ``gens`` (its parent's plus one; output; int32), the infectious agents
#: ``infectious`` and ``spare`` (int32, at least ``n``: ``infectious[:counts[AT_START]]``), ``seir``'s exposed
#: agents ``latent``, ``lspare`` and the round's ``turned`` (int32, at least ``n``:
#: ``latent[:counts[AT_LATENT]]``), a chunk's edge ids ``eids`` (int64, as long as the chunk), and on a small
#: world's direct path (:func:`_sir_rounds`) each sender's ``opened`` count (int64, ``n``; -1: not read yet) of the
#: out-edges it still sends along, whose ids ``open_ids`` (int32, at least the graph's edges) keeps in its own
#: range ``indptr[v] ..``: an edge whose target is infected is never drawn again, so it is dropped once, not
#: skipped every round the sender stays infectious.
Infected = tuple[np.ndarray, ...]  # the ten arrays above, in that order
#: An epidemic's law (:func:`epidemic_law`): ``(rates, by_edge, by_mask, layer, counts, imports)``: ``[beta,
#: sigma, gamma, sigma's stages, gamma's stages]`` (float64; sigma and gamma a stage's chance to end a round,
#: :func:`stage_chances`; ``sigma`` -1 for ``sir``, no exposed stage), then the edges' chances as integer
#: thresholds (:func:`thresholds`): one uint64 an out-edge by edge id (trust weights or measured attributes), else
#: one a layer mask (256) read through each edge's mask ``layer`` (uint8 by edge id), else (all three empty)
#: ``beta``'s; then the run's importations (:data:`Imported`, :func:`with_imports`).
#: Then its change points (:mod:`sim.plugin.schedule`): the segment of each round (int64, by round; a round past
#: it is in the last) and each segment's threshold of ``beta`` (uint64); the edges' thresholds then hold one
#: table a segment, one after another (``by_edge`` segment ``s`` at ``s * edges``, ``by_mask`` at ``s * 256``).
#: Both empty: no change point (:data:`NO_CHANGES`).
Law = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
#: A run's branches (a particle filter's, :mod:`sim.runs.backtest.filtering`): rows ``[round, state high, state low,
#: increment high, increment low]`` (uint64, rounds ascending): from the start of each ``round`` the run draws from
#: that PCG64 generator instead of its own. None: ``(0, 5)``, the run as its seed makes it.
Reseeds = np.ndarray
#: No branch.
NO_RESEEDS = np.zeros((0, 5), dtype=np.uint64)
#: A run paused at the end of a round (:func:`epidemic_paused`), enough to go on with it draw for draw: its
#: adopters' forest rows (``agents`` int32, ``rounds`` int32, ``parents`` int64) and their stages (int8), the
#: infectious and the exposed agents (int32, ascending), the agents reached (int64, in order), its counters
#: (:data:`sim.runs.kernels.AT_SIZE`, int64), its generator's state (uint64, 4) and its per-round counts so far
#: (int64, ``(4, rounds + 1)``). Memory: a few bytes an agent infected or reached, not a world's arrays.
Paused = tuple[np.ndarray, ...]
#: Not paused: a run from its seeds.
NOT_PAUSED: Paused = (
    np.zeros(0, dtype=np.int32),
    np.zeros(0, dtype=np.int32),
    np.zeros(0, dtype=np.int64),
    np.zeros(0, dtype=np.int8),
    np.zeros(0, dtype=np.int32),
    np.zeros(0, dtype=np.int32),
    np.zeros(0, dtype=np.int64),
    np.zeros(0, dtype=np.int64),
    np.zeros(4, dtype=np.uint64),
    np.zeros((4, 0), dtype=np.int64),
)
#: A run's importations (:class:`sim.model.imports.Imports`), the law's last two: its counts a round (int64) and
#: its rates (``Imports.rates``, float64, 4); none: an empty array and no rate (:data:`NO_IMPORTS`).
Imported = tuple[np.ndarray, np.ndarray]
NO_IMPORTS: Imported = (np.zeros(0, dtype=np.int64), np.array([0.0, 1.0, 0.0, 1.0]))
#: No change point (the law's last two).
NO_CHANGES = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint64))
#: The built-in ``sir``'s and ``seir``'s bound of ``beta`` (plugins/epidemic.py): a value a change point scales
#: is capped at it, as the engine caps it at the parameter's maximum.
BETA_MAX = 1.0


def with_imports(law: Law, imports: Imported | None) -> Law:
    """``law`` with the run's importations (None: none)."""
    counts, rates = NO_IMPORTS if imports is None else imports
    imported = (np.ascontiguousarray(counts, np.int64), np.asarray(rates, np.float64))
    return (law[0], law[1], law[2], law[3], *imported, law[6], law[7])


#: 2**-53: a draw's 53 bits as numpy's ``random()`` makes a double of them.
U53 = 1.0 / 9007199254740992.0


def thresholds(chances: np.ndarray) -> np.ndarray:
    """Each chance's integer threshold as :func:`sim.runs.kernels._below` makes it (uint64): ``u < chance``
    exactly when ``(x >> 11) < threshold``; 0 for a chance that is not above 0 (NaN too), 2**53 from 1 up."""
    p = np.asarray(chances, dtype=np.float64)
    scaled = np.ceil(np.where(p > 0.0, np.minimum(p, 1.0), 0.0) * 9007199254740992.0)
    return scaled.astype(np.uint64)


_EMPTY = np.zeros(0, dtype=np.uint64)
_NO_LAYER = np.zeros(0, dtype=np.uint8)


def _edge_factors(world: World) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The sender's ``infectivity`` and the receiver's ``susceptibility`` of each out-edge, by edge id, where the
    world has them as attributes (None where not): what ``ctx.transmission`` gathers for the edges it is given.
    Made afresh each time (an attribute may be set between two ensembles): numpy over the edges, once a batch."""
    graph = world.graph
    infectivity, susceptibility = (
        world.columns.get(a) if a in world.attributes else None for a in ("infectivity", "susceptibility")
    )
    if infectivity is not None:
        senders = np.repeat(np.arange(int(world.n), dtype=np.int64), np.diff(graph.out_indptr))
        infectivity = np.take(infectivity, senders)
    if susceptibility is not None:
        susceptibility = np.take(susceptibility, graph.out_indices)
    return infectivity, susceptibility


def stage_chances(model: str, params: Mapping[str, object]) -> tuple[float, float, int, int]:
    """``(sigma's, gamma's chance a round, sigma's stages, gamma's stages)`` of a ``sir`` or ``seir`` run: with
    ``k`` Erlang stages a period's stage ends with ``min(1, k * rate)`` a round (:func:`plugins.epidemic`'s
    :func:`stage_chance`, the same floats), so that its mean stays ``1 / rate``; ``sir``'s sigma is -1 (no
    exposed stage)."""
    k_gamma = int(params.get("gamma_stages", 1))  # type: ignore[call-overload]
    k_sigma = int(params.get("sigma_stages", 1)) if model == "seir" else 1  # type: ignore[call-overload]
    gamma = min(1.0, k_gamma * float(params["gamma"]))  # type: ignore[arg-type]
    sigma = min(1.0, k_sigma * float(params["sigma"])) if model == "seir" else -1.0  # type: ignore[arg-type]
    return sigma, gamma, k_sigma, k_gamma


def epidemic_law(
    model: str, world: World, params: Mapping[str, object], combine: str = "probability", walk: np.ndarray | None = None
) -> Law:
    """The :data:`Law` of a ``sir`` or ``seir`` run of ``params`` on ``world``: its rates, and each out-edge's
    chance that an attempt along it succeeds, as the engine's ``ctx.transmission("beta", edges,
    weighted=params["trust_weighted"])`` gives it (the values ``beta@LAYER`` combined over an edge's layers as
    ``combine`` says: the parameter's ``per_edge``), as integer thresholds; with change points of ``beta``
    (``beta~ROUND``, :mod:`sim.plugin.schedule`), one table a segment, of the engine's own numbers
    (:func:`segment_values`); ``walk``: a random walk's multipliers of ``beta`` a round (:mod:`sim.runs.fit.walk`),
    the same law as its change points ``beta~d`` give, made without them."""
    base = float(params["beta"])  # type: ignore[arg-type]
    rates = np.array([base, *stage_chances(model, params)], dtype=np.float64)
    layers = world.layers if world.graph.layer is not None else ()
    schedule = schedule_of(params, "beta") if has_changes(params) else None
    if walk is not None:
        schedule = walk_schedule(params, "beta", walk)
    if schedule is None:
        values = [float(params.get(f"beta@{lay}", base)) for lay in layers]  # type: ignore[arg-type]
        by_edge, by_mask, layer = _chances(world, base, values, combine, bool(params.get("trust_weighted")))
        return rates, by_edge, by_mask, layer, *NO_IMPORTS, *NO_CHANGES
    bases, table_values = segment_values(params, schedule, layers, BETA_MAX)
    seg_of = np.searchsorted(np.array(schedule.rounds), np.arange(schedule.rounds[-1] + 1), side="right")
    timed = (seg_of.astype(np.int64), thresholds(bases))
    weighted = bool(params.get("trust_weighted"))
    if layers and not weighted and all(f is None for f in _edge_factors(world)):  # a table of 256 a segment, at once
        layer = np.asarray(world.graph.layer)
        used = _masks_of(layer)  # the masks the edges carry: the others are never read
        tables = np.zeros((bases.size, MASKS), dtype=np.uint64)
        tables[:, used] = thresholds(layer_tables(bases, table_values, combine, used))
        return rates, _EMPTY, tables.ravel(), layer, *NO_IMPORTS, *timed
    if not layers and not weighted and all(f is None for f in _edge_factors(world)):  # beta's thresholds alone
        return rates, _EMPTY, _EMPTY, _NO_LAYER, *NO_IMPORTS, *timed
    segments = [(float(b), [float(v) for v in row]) for b, row in zip(bases, table_values, strict=True)]
    each = [_chances(world, b, values, combine, weighted) for b, values in segments]
    by_edge = np.concatenate([t[0] for t in each])
    by_mask = np.concatenate([t[1] for t in each])
    return rates, by_edge, by_mask, each[0][2], *NO_IMPORTS, *timed


#: The last layer array's masks (:func:`_masks_of`): ``(the array, its distinct masks)``.
_MASKS_SEEN: list[tuple[np.ndarray, np.ndarray]] = []


def _masks_of(layer: np.ndarray) -> np.ndarray:
    """The distinct layer masks of ``layer`` (ascending), kept for the next call on the same array (a fit asks
    once a particle; a graph's arrays are replaced, never written in place, when its edges change)."""
    if _MASKS_SEEN and _MASKS_SEEN[0][0] is layer:
        return _MASKS_SEEN[0][1]
    used = np.unique(layer).astype(np.int64)
    _MASKS_SEEN[:] = [(layer, used)]
    return used


def _chances(
    world: World, base: float, values: list[float], combine: str, weighted: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The edges' thresholds of :data:`Law` (``by_edge``, ``by_mask``, ``layer``) for ``beta`` of ``base`` and
    ``values`` in the world's layers (empty: a world of one layer)."""
    graph = world.graph
    layer = graph.layer if values else None  # as ctx.edge_param: one value for all without layers
    table = None if layer is None else layer_table(base, values, combine)
    weight = graph.trust if weighted else None
    infectivity, susceptibility = _edge_factors(world)
    if weight is None and infectivity is None and susceptibility is None:
        if layer is None or table is None:
            return _EMPTY, _EMPTY, _NO_LAYER
        return _EMPTY, thresholds(table), layer
    value: np.ndarray | float = base if layer is None or table is None else np.take(table, layer)
    chance = scale_edges(value, weight=weight, infectivity=infectivity, susceptibility=susceptibility)
    return thresholds(np.asarray(chance)), _EMPTY, _NO_LAYER


def combine_of(session: PropagationSession, name: str = "beta") -> str:
    """How the session's model combines ``name``'s per-layer values on an edge of several layers (its Param's
    ``per_edge``; ``probability`` when it does not say, as ``ctx.edge_param`` reads it)."""
    spec = type(session.model).params.get(name) if session.model is not None else None
    return getattr(spec, "per_edge", None) or "probability"


@njit(cache=True)
def epidemic(
    csr: Csr,
    seeds: np.ndarray,
    gen: tuple[np.ndarray, np.ndarray],
    law: Law,
    rounds_cap: int,
    direct: bool,
    scratch: Scratch,
    infected: Infected,
    forest: Forest,
    counts: np.ndarray,
) -> np.ndarray:  # pragma: no cover - compiled; tests/test_batched.py compares it with the engine
    """Run one ``sir`` or ``seir`` epidemic exactly as the engine's model runs it (the module's docstring) under
    ``law`` (:data:`Law`, with the run's importations); ``direct``: each sender's edges read straight from the graph
    (a small world's, as :func:`sim.runs.kernels.cascade` reads them), else by chunks. Returns ``(new,
    recoveries, onsets, imported)`` per round (round 0: the seeds and round 0's imported agents, infectious);
    ``counts`` holds where the run ended (:data:`sim.runs.kernels.AT_SIZE`).

    Scratch and forest as :func:`sim.runs.kernels.cascade`'s; ``infected``: :data:`Infected`; ``gen``: the run's
    PCG64 state and its branches (:data:`Reseeds`; none: :data:`NO_RESEEDS`)."""
    per_round = _begin(seeds, gen[0], law, rounds_cap, scratch[0], infected, forest, counts)
    _sir_rounds(csr, gen, law, rounds_cap, direct, scratch, infected, forest, counts, per_round)
    kernel_close(forest, counts[AT_SIZE], scratch[0], scratch[1], counts[AT_TOUCHED], counts)
    return per_round[:, : counts[AT_ROUND] + 1]


@njit(cache=True)
def epidemic_paused(
    csr: Csr,
    begin: tuple[np.ndarray, Paused],
    gen: tuple[np.ndarray, np.ndarray],
    law: Law,
    rounds_cap: int,
    direct: bool,
    scratch: Scratch,
    infected: Infected,
    forest: Forest,
    counts: np.ndarray,
) -> tuple[np.ndarray, Paused]:  # pragma: no cover - compiled; tests/test_filter_pause.py compares it with epidemic
    """:func:`epidemic` from ``begin``: ``(seeds, paused)``, from ``paused`` (:data:`Paused`, a run paused where an
    earlier call stopped; its generator then ``gen``'s branches; :data:`NOT_PAUSED`: from ``seeds``, ``gen``'s
    state) up to round ``rounds_cap``, and the run paused there: the run is the one a single call to the last round
    makes, draw for draw (a particle filter goes on with each of its particles a few ticks at a time, not from the
    start)."""
    seeds, paused = begin
    pcg = gen[0]
    if paused[7].size:
        per_round = _resumed(paused, pcg, rounds_cap, scratch, infected, forest, counts)
    else:
        per_round = _begin(seeds, pcg, law, rounds_cap, scratch[0], infected, forest, counts)
    _sir_rounds(csr, gen, law, rounds_cap, direct, scratch, infected, forest, counts, per_round)
    d = counts[AT_ROUND]
    size, n_inf, n_lat, n_touched = counts[AT_SIZE], counts[AT_START], counts[AT_LATENT], counts[AT_TOUCHED]
    out = (
        forest[0][:size].copy(),
        forest[1][:size].copy(),
        forest[2][:size].copy(),
        infected[10][:size].copy(),
        infected[2][:n_inf].copy(),
        infected[4][:n_lat].copy(),
        scratch[1][:n_touched].copy(),
        counts.copy(),
        pcg.copy(),
        per_round[:, : d + 1].copy(),
    )
    kernel_close(forest, size, scratch[0], scratch[1], n_touched, counts)
    return per_round[:, : d + 1], out


@njit(cache=True)
def _begin(
    seeds: np.ndarray,
    pcg: np.ndarray,
    law: Law,
    rounds_cap: int,
    mark: np.ndarray,
    infected: Infected,
    forest: Forest,
    counts: np.ndarray,
) -> np.ndarray:  # pragma: no cover - compiled
    """A run's round 0 (:func:`epidemic`): its seeds and round 0's importations, infectious; returns the per-round
    counts to fill (``(4, rounds_cap + 1)``, round 0's set)."""
    position, gens, infectious, spare, stage = infected[0], infected[1], infected[2], infected[3], infected[10]
    agents, rounds, parents, _, _ = forest
    size = seeded_forest(seeds, agents, rounds, parents)
    for j in range(size):
        stage[j] = 0
        mark[agents[j]] = 2
        position[agents[j]] = j
        gens[j] = 0
        infectious[j] = agents[j]
    at_seeds_of(counts, size)
    per_round = np.zeros((4, rounds_cap + 1), dtype=np.int64)
    n_seeds = size
    imports = (law[4], law[5])
    if imports[0].size > 0 or imports[1][2] > 0.0:
        # Round 0's importations beside the seeds: after them in the forest (the engine's second add of the
        # seeding), ascending among themselves; the infectious agents merged ascending.
        n_new = _import(pcg, imports, 0, mark, agents, parents, size, counts)
        sort_round(agents, parents, size, size + n_new)
        for j in range(size, size + n_new):
            stage[j] = 0
            rounds[j] = 0
            gens[j] = 0
            position[agents[j]] = j
            mark[agents[j]] = 2
        for j in range(size):
            spare[j] = infectious[j]
        size += n_new
        counts[AT_SIZE] = size
        per_round[3, 0] = n_new
        _merged(spare, n_seeds, agents, n_seeds, size, infectious)
    counts[AT_START] = size  # the infectious agents
    per_round[0, 0] = size
    return per_round


@njit(cache=True)
def _resumed(
    paused: Paused,
    pcg: np.ndarray,
    rounds_cap: int,
    scratch: Scratch,
    infected: Infected,
    forest: Forest,
    counts: np.ndarray,
) -> np.ndarray:  # pragma: no cover - compiled
    """The buffers set to the paused run ``paused`` (:data:`Paused`): its forest, stages, infectious and exposed
    agents, the agents reached (``mark`` 1) and infected (2), its counters and generator; returns the per-round
    counts to fill (``(4, max(rounds_cap, its round) + 1)``, those so far set)."""
    mark, touched = scratch[0], scratch[1]
    position, gens, infectious, latent, stage = infected[0], infected[1], infected[2], infected[4], infected[10]
    agents, rounds, parents = forest[0], forest[1], forest[2]
    size = paused[0].size
    agents[:size] = paused[0]
    rounds[:size] = paused[1]
    parents[:size] = paused[2]
    stage[:size] = paused[3]
    infectious[: paused[4].size] = paused[4]
    latent[: paused[5].size] = paused[5]
    touched[: paused[6].size] = paused[6]
    counts[:] = paused[7]
    pcg[:] = paused[8]
    for j in range(paused[6].size):
        mark[touched[j]] = 1
    for j in range(size):  # parents come first: a generation is its parent's plus one
        w = agents[j]
        mark[w] = 2
        position[w] = j
        gens[j] = 0 if parents[j] < 0 else gens[parents[j]] + 1
    so_far = paused[9]
    per_round = np.zeros((4, max(rounds_cap, so_far.shape[1] - 1) + 1), dtype=np.int64)
    per_round[:, : so_far.shape[1]] = so_far
    return per_round


@njit(cache=True)
def _poisson(u: float, lam: float, p0: float) -> int:  # pragma: no cover - compiled
    """:func:`sim.model.imports.poisson_inverse`, operation for operation."""
    k, p, c = 0, p0, p0
    while u > c and k < 4096:
        k += 1
        p = p * lam / k
        c = c + p
    return k


@njit(cache=True)
def _import(  # pragma: no cover - compiled
    pcg: np.ndarray,
    imports: Imported,
    d: int,
    mark: np.ndarray,
    agents: np.ndarray,
    parents: np.ndarray,
    size: int,
    at: np.ndarray,
) -> int:
    """Round ``d``'s importations (:mod:`sim.model.imports`: its count, a Poisson draw where its rate is above 0,
    then for each agent up to ``TRIES`` random agents, else one among the susceptible listed), drawn from ``pcg``
    (written back) among the agents not infected (``mark`` below 2); each appended to the forest at ``size ..``
    with no parent and marked 3 (infected this round), an unseen one counted exposed. Returns how many."""
    counts, rates = imports
    n = mark.size
    k = counts[d] if d < counts.size else 0
    lam, p0 = (rates[0], rates[1]) if d < counts.size else (rates[2], rates[3])
    sh, sl, ih, il = pcg[0], pcg[1], pcg[2], pcg[3]
    if lam > 0.0:
        sh, sl, x = kernel_step(sh, sl, ih, il)
        k += _poisson(np.float64(x >> S11) * U53, lam, p0)
    got = 0
    for _ in range(k):
        v = -1
        for _try in range(TRIES):
            sh, sl, x = kernel_step(sh, sl, ih, il)
            w = int(np.float64(x >> S11) * U53 * n)
            if mark[w] < 2:
                v = w
                break
        if v < 0:
            free = 0
            for w in range(n):
                if mark[w] < 2:
                    free += 1
            if free == 0:
                break
            sh, sl, x = kernel_step(sh, sl, ih, il)
            j = int(np.float64(x >> S11) * U53 * free)
            for w in range(n):
                if mark[w] < 2:
                    if j == 0:
                        v = w
                        break
                    j -= 1
        if mark[v] == 0:
            at[AT_EXPOSED] += 1
        mark[v] = 3
        agents[size + got] = v
        parents[size + got] = -1
        got += 1
    pcg[0], pcg[1] = sh, sl
    return got


@njit(cache=True)
def _merged(  # pragma: no cover - compiled
    spare: np.ndarray, kept: int, agents: np.ndarray, lo: int, hi: int, out: np.ndarray
) -> int:
    """``spare[:kept]`` and ``agents[lo:hi]`` (both ascending) merged ascending into ``out``; returns the count."""
    a, b, m = 0, lo, 0
    while a < kept or b < hi:
        if b >= hi or (a < kept and spare[a] < agents[b]):
            out[m] = spare[a]
            a += 1
        else:
            out[m] = agents[b]
            b += 1
        m += 1
    return m


@njit(cache=True)
def _merged_split(  # pragma: no cover - compiled
    spare: np.ndarray,
    kept: int,
    turned: np.ndarray,
    n_turned: int,
    agents: np.ndarray,
    parents: np.ndarray,
    lo: int,
    hi: int,
    roots: bool,
    out: np.ndarray,
) -> int:
    """``spare[:kept]``, ``turned[:n_turned]`` and those of ``agents[lo:hi]`` that are roots (``roots``: a round's
    imported agents) or are not (its infected agents), all ascending, merged ascending into ``out``."""
    a, t, b, m = 0, 0, lo, 0
    while True:
        while b < hi and (parents[b] < 0) != roots:
            b += 1
        best = -1
        if a < kept:
            best = spare[a]
        if t < n_turned and (best < 0 or turned[t] < best):
            best = turned[t]
        if b < hi and (best < 0 or agents[b] < best):
            best = agents[b]
        if best < 0:
            return m
        if a < kept and spare[a] == best:
            a += 1
        elif t < n_turned and turned[t] == best:
            t += 1
        else:
            b += 1
        out[m] = best
        m += 1


@njit(cache=True)
def _stages(  # pragma: no cover - compiled
    pcg: np.ndarray, rates: np.ndarray, infected: Infected, n_inf: int, n_lat: int, d: int, per_round: np.ndarray
) -> tuple[int, int, int]:
    """Round ``d``'s draws after its attempts, from ``pcg`` (written back): ``seir``'s onsets of the ``n_lat``
    agents exposed at its start (the turned into ``turned``, the others into ``lspare``), then the recoveries of
    the ``n_inf`` infectious (those who stay into ``spare``); each ascending, one number an agent. With Erlang
    stages (the rates' ``sigma_stages``, ``gamma_stages`` above 1) a draw below the stage's chance moves the
    agent one stage on (its row's ``stage``), and only the last stage's move ends the period (a turned agent's
    stage starts again at 0). Returns ``(stayed, turned, still exposed)``; ``per_round`` gets the round's
    recoveries and onsets."""
    infectious, spare, latent, lspare, turned = infected[2], infected[3], infected[4], infected[5], infected[6]
    position, stage = infected[0], infected[10]
    sh, sl, ih, il = pcg[0], pcg[1], pcg[2], pcg[3]
    onset, recovers = kernel_below(rates[1]), kernel_below(rates[2])  # u < sigma, u < gamma, in integers
    k_sigma, k_gamma = np.int8(rates[3]), np.int8(rates[4])
    n_turned = kept_latent = 0
    if rates[1] >= 0.0:  # seir
        for i in range(n_lat):
            v = latent[i]
            sh, sl, x = kernel_step(sh, sl, ih, il)
            moves = (x >> S11) < onset
            if moves and k_sigma > 1:
                j = position[v]
                stage[j] += 1
                moves = stage[j] >= k_sigma
                if moves:
                    stage[j] = 0  # its infectious period's stages start
            if moves:
                turned[n_turned] = v
                n_turned += 1
            else:
                lspare[kept_latent] = v
                kept_latent += 1
        per_round[2, d] = n_turned
    kept = 0
    for i in range(n_inf):
        v = infectious[i]
        sh, sl, x = kernel_step(sh, sl, ih, il)
        moves = (x >> S11) < recovers
        if moves and k_gamma > 1:
            j = position[v]
            stage[j] += 1
            moves = stage[j] >= k_gamma
        if moves:
            per_round[1, d] += 1
        else:
            spare[kept] = v
            kept += 1
    pcg[0], pcg[1] = sh, sl
    return kept, n_turned, kept_latent


@njit(cache=True)
def _settle_round(  # pragma: no cover - compiled
    forest: Forest, infected: Infected, mark: np.ndarray, first_new: int, size: int, d: int
) -> None:
    """Round ``d``'s new infections (``forest``'s rows ``first_new .. size-1``) sorted, given their round,
    generation and position, marked infected, and their out-edges not read yet."""
    agents, rounds, parents, _, _ = forest
    position, gens, opened, stage = infected[0], infected[1], infected[8], infected[10]
    sort_round(agents, parents, first_new, size)
    for j in range(first_new, size):
        stage[j] = 0
        rounds[j] = d
        gens[j] = 0 if parents[j] < 0 else gens[parents[j]] + 1
        position[agents[j]] = j
        mark[agents[j]] = 2
        opened[agents[j]] = -1


@njit(cache=True)
def _imports_until(counts: np.ndarray, rates: np.ndarray, rounds_cap: int) -> int:  # pragma: no cover - compiled
    """The last round an importation may come in: the last with a count above 0 (-1: none), or past ``rounds_cap``
    where a rate goes on past the counts (a run is not done while one may come: it is never done)."""
    if rates[2] > 0.0:
        return rounds_cap + 1
    last = -1
    for j in range(counts.size):
        if counts[j] > 0:
            last = j
    return last


@njit(cache=True)
def _end_round(  # pragma: no cover - compiled
    pcg: np.ndarray,
    law: Law,
    infected: Infected,
    forest: Forest,
    mark: np.ndarray,
    at: np.ndarray,
    per_round: np.ndarray,
    where: tuple[int, int, int, int, int],
) -> tuple[int, int, int]:
    """Round ``d``'s end, after its attempts (``where``: the infectious and exposed agents at its start, ``d``, and
    the forest's rows of its new infections, ``first_new .. size-1``): its onsets and recoveries (:func:`_stages`),
    its importations, its new rows settled, and the next round's infectious and exposed agents merged ascending.
    Returns ``(size, infectious, exposed)``; ``at[AT_EXPOSED]`` counts the imported agents no attempt reached."""
    n_inf, n_lat, d, first_new, size = where
    rates, imports = law[0], (law[4], law[5])
    spare, latent, lspare, turned, infectious = infected[3], infected[4], infected[5], infected[6], infected[2]
    agents, parents = forest[0], forest[2]
    kept, n_turned, kept_latent = _stages(pcg, rates, infected, n_inf, n_lat, d, per_round)
    n_imp = 0
    if imports[0].size > 0 or imports[1][2] > 0.0:
        n_imp = _import(pcg, imports, d, mark, agents, parents, size, at)
        size += n_imp
        per_round[3, d] = n_imp
    _settle_round(forest, infected, mark, first_new, size, d)
    per_round[0, d] = size - first_new
    if rates[1] >= 0.0 and n_imp > 0:
        # seir with imported agents (infectious, no parent) among the round's new rows: they join the
        # infectious, the infected ones the exposed.
        per_round[2, d] += n_imp  # entries into I: onsets and imported agents, as the engine counts them
        n_inf = _merged_split(spare, kept, turned, n_turned, agents, parents, first_new, size, True, infectious)
        n_lat = _merged_split(lspare, kept_latent, turned, 0, agents, parents, first_new, size, False, latent)
    elif rates[1] >= 0.0:
        # seir: the next round's infectious are those that stayed and those whose latent period ended; its
        # exposed those still latent and the newly infected; each merged ascending.
        n_inf = _merged(spare, kept, turned, 0, n_turned, infectious)
        n_lat = _merged(lspare, kept_latent, agents, first_new, size, latent)
    else:
        # sir: the next round's infectious are those that stayed and the newly infected, merged ascending.
        n_inf = _merged(spare, kept, agents, first_new, size, infectious)
    return size, n_inf, n_lat


@njit(cache=True)
def _branch(pcg: np.ndarray, reseeds: np.ndarray, branch: int, d: int) -> int:  # pragma: no cover - compiled
    """The run's generator at the start of round ``d``: replaced by the ``reseeds`` row (:data:`Reseeds`) that
    names ``d`` (a particle filter's branch: the same run up to the round before, fresh draws from it); rows of
    earlier rounds are passed over (a run resumed after them). Returns the next row to look at."""
    while branch < reseeds.shape[0] and np.int64(reseeds[branch, 0]) < d:
        branch += 1
    if branch < reseeds.shape[0] and np.int64(reseeds[branch, 0]) == d:
        for k in range(4):
            pcg[k] = reseeds[branch, k + 1]
        branch += 1
    return branch


@njit(cache=True)
def _segment(law: Law, d: int) -> tuple[np.uint64, int, int]:  # pragma: no cover - compiled
    """Round ``d``'s chances in ``law``: ``beta``'s threshold (where every edge's chance is beta) and where the
    round's segment of the edges' thresholds starts in ``by_edge`` and in ``by_mask`` (change points, one table a
    segment, :func:`epidemic_law`; without them the one table, at 0)."""
    rates, by_edge, seg_of, scalars = law[0], law[1], law[6], law[7]
    if scalars.size == 0:
        return kernel_below(rates[0]), 0, 0  # u < beta, in integers
    seg = seg_of[d] if d < seg_of.size else scalars.size - 1
    return scalars[seg], seg * (by_edge.size // scalars.size), seg * MASKS


@njit(cache=True)
def _sir_rounds(  # pragma: no cover - compiled
    csr: Csr,
    gen: tuple[np.ndarray, np.ndarray],
    law: Law,
    rounds_cap: int,
    direct: bool,
    scratch: Scratch,
    infected: Infected,
    forest: Forest,
    at: np.ndarray,
    per_round: np.ndarray,
) -> None:
    """``sir``'s or ``seir``'s rounds (see :func:`epidemic`) from where ``at`` says the run is (the infectious
    agents ``infected[2][:at[AT_START]]`` and the exposed ``infected[4][:at[AT_LATENT]]``, ascending) until nobody
    is infectious or exposed and no importation is to come, or round ``rounds_cap``; ``per_round`` gets each
    round's new infections, recoveries, onsets and imported agents; ``at`` and ``pcg`` are written back.

    A round's importations (the law's :data:`Imported`) are drawn after its recoveries, among the agents it did not
    infect, and join its new infections in the forest (no parent) and the infectious agents of the next round.
    ``gen``: the run's generator and its branches (:func:`_branch`)."""
    (indptr, dst), (pcg, reseeds) = csr, gen
    mark, touched, targets, senders, states = scratch
    position, infectious, latent, eids, opened, open_ids = infected[0], infected[2], infected[4], *infected[7:10]
    agents, parents = forest[0], forest[2]
    by_edge, by_mask, layer, imp_counts, imp_rates = law[1:6]
    per_edge, per_mask = by_edge.size > 0, by_mask.size > 0
    size, attempts, exposed = at[AT_SIZE], at[AT_ATTEMPTS], at[AT_EXPOSED]
    n_touched, d, sent, n_inf, n_lat = at[AT_TOUCHED], at[AT_ROUND], at[AT_SENT], at[AT_START], at[AT_LATENT]
    for i in range(n_inf):  # the senders' out-edges not read yet (each newly infected agent's, below, too)
        opened[infectious[i]] = -1
    for i in range(n_lat):
        opened[latent[i]] = -1
    v, base, fresh = 0, 0, True
    until = _imports_until(imp_counts, imp_rates, rounds_cap)
    branch = 0
    while d < rounds_cap and (n_inf > 0 or n_lat > 0 or d < until):
        d += 1
        branch = _branch(pcg, reseeds, branch, d)
        infects, edge_off, mask_off = _segment(law, d)
        sent += n_inf
        first_new = size
        sh, sl, ih, il = pcg[0], pcg[1], pcg[2], pcg[3]  # the run's PCG64 state and increment
        i = 0
        while i < n_inf:
            if direct:
                # A small world (its per-agent tables in cache): one sender's edges straight from the graph the
                # first round it sends, then those of its edges still open (in order: the same draws).
                v = infectious[i]
                i += 1
                base, hi, sender = indptr[v], opened[v], position[v]
                fresh = hi < 0
                if fresh:
                    hi = indptr[v + 1] - base
                lo = 0
            else:
                k, i = kernel_chunk(csr, infectious, i, n_inf, position, mark, targets, senders, states, eids)
                lo, hi = 0, k
            still = 0
            for j in range(lo, hi):
                if direct:
                    e = base + j if fresh else np.int64(open_ids[base + j])
                    w = dst[e]
                    st = mark[w]
                    if st == 2:
                        continue  # infected before this round: never susceptible again, the edge dropped
                    open_ids[base + still] = e
                    still += 1
                else:
                    w = targets[j]
                    st = states[j]
                    if st < 2:
                        st = mark[w]  # it may have been reached, or infected, earlier in this chunk
                    sender, e = senders[j], eids[j]
                    if st == 2:
                        continue  # infected before this round: not susceptible at its start
                if st == 0:
                    st = 1
                    mark[w] = 1
                    touched[n_touched] = w
                    n_touched += 1
                    exposed += 1
                attempts += 1
                sh, sl, x = kernel_step(sh, sl, ih, il)
                below = by_edge[edge_off + e] if per_edge else (by_mask[mask_off + layer[e]] if per_mask else infects)
                if (x >> S11) < below and st == 1:
                    mark[w] = 3
                    agents[size] = w
                    parents[size] = sender
                    size += 1
            if direct:
                opened[v] = still
        pcg[0], pcg[1] = sh, sl
        at[AT_EXPOSED] = exposed
        size, n_inf, n_lat = _end_round(
            pcg, law, infected, forest, mark, at, per_round, (n_inf, n_lat, d, first_new, size)
        )
        exposed = at[AT_EXPOSED]
    at[AT_SIZE], at[AT_ATTEMPTS], at[AT_EXPOSED], at[AT_SENT] = size, attempts, exposed, sent
    at[AT_TOUCHED], at[AT_ROUND], at[AT_START], at[AT_LATENT] = n_touched, d, n_inf, n_lat
    at[AT_FINISHED] = 1 if n_inf == 0 and n_lat == 0 and d >= until else 0


@njit(cache=True)
def epidemic_from(
    csr: Csr,
    state: State,
    pcg: np.ndarray,
    law: Law,
    rounds_cap: int,
    direct: bool,
    scratch: Scratch,
    infected: Infected,
    forest: Forest,
    counts: np.ndarray,
) -> np.ndarray:  # pragma: no cover - compiled; tests/test_batched_state.py compares it with the engine
    """Go on with a ``sir`` epidemic from ``state`` (:data:`sim.runs.kernels.State`; ``frontier``: the infectious
    agents) as :func:`epidemic` goes on from its seeds (``law`` and ``direct`` as its); returns ``(new,
    recoveries, onsets)`` for every round, those before the state's included."""
    mark, touched = scratch[0], scratch[1]
    position, gens, infectious = infected[0], infected[1], infected[2]
    kernel_resume(state, forest, touched, counts)
    agents, rounds, parents = forest[0], forest[1], forest[2]
    size, begun = counts[AT_SIZE], counts[AT_ROUND]
    per_round = np.zeros((4, max(rounds_cap, begun) + 1), dtype=np.int64)
    for j in range(size):  # parents come first: a generation is its parent's plus one
        w = agents[j]
        mark[w] = 2
        position[w] = j
        gens[j] = 0 if parents[j] < 0 else gens[parents[j]] + 1
        per_round[0, rounds[j]] += 1
    for j in range(counts[AT_TOUCHED]):
        mark[touched[j]] = 1
    frontier, cured = state[5], state[6]
    infectious[: frontier.size] = frontier
    per_round[1, : cured.size] = cured
    counts[AT_START] = frontier.size  # the infectious agents
    _sir_rounds(csr, (pcg, NO_RESEEDS), law, rounds_cap, direct, scratch, infected, forest, counts, per_round)
    kernel_close(forest, counts[AT_SIZE], mark, touched, counts[AT_TOUCHED], counts)
    return per_round[:, : counts[AT_ROUND] + 1]
