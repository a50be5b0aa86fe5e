"""Propagation sessions: one message spreading under one model, with its own state and generator.

A session owns an int8 ``state`` array of length N (0 untouched/susceptible, then model-defined
states), ``adopted_at`` (int32, tick of first adoption or -1), ``adopted_from`` (int32, the agent it
adopted from or -1), an ``exposed`` flag per agent, its frontier, its own seeded
``numpy.random.Generator`` and counters. Each tick it advances one synchronous round:

1. the frontier (agents that transmit this round) is fixed from the previous round;
2. the model answers with a :class:`~sim.plugin.StepResult`, which the session validates and applies
   all at once — agents adopted in a round transmit from the next round;
3. counters, adoption records and the next frontier are updated.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.core.arrays import one_of
from sim.core.cascade import CascadeTracker, Forest, replay
from sim.core.tracebacks import with_method_frame
from sim.core.world import World, world_rng
from sim.errors import BadParameterError
from sim.model.answer import ModelContractError, checked_answer, strictly_increasing
from sim.model.columns import initial_variables
from sim.model.context import StepContext
from sim.model.guard import PluginTimeout, call_directly
from sim.model.imports import Imports, import_at_start, with_imports
from sim.model.intervene import blocked_mask
from sim.model.lifecycle import FROZEN, SILENT, all_active
from sim.model.seeds import INT32_MAX, SeedSpec
from sim.model.series import SeriesRecorder, check_entries, tick_entries, variable_moments
from sim.model.stored import (
    counted_states,
    seed_agents,
    session_fields,
    state_arrays,
    stored_observables,
    variable_columns,
)
from sim.model.views import SessionBase
from sim.plugin import PropagationModel, StepResult
from sim.plugin.model import REMOVED_NAMES

STATUSES = ("queued", "running", "completed", "failed", "cancelled")
SESSION_ARRAYS = ("state", "adopted_at", "adopted_from", "exposed", "frontier", "transmitting", "feed_seen")
#: How an adoption came about (the ``via`` of an adoption record): a seed or a graph attempt, or a feed.
VIA_GRAPH, VIA_FEED = 0, 1
EVENT_DTYPE = [("tick", "<i8"), ("agent", "<i8"), ("source", "<i8"), ("kind", "<i8"), ("via", "<i8")]


def _storable(key: Any, value: Any) -> bool:
    """Whether a model's store entry can be saved: a text key and a plain numpy array of numbers,
    booleans or text (no objects, no records)."""
    return isinstance(key, str) and type(value) is np.ndarray and value.dtype.kind in "biufcSU"


def _kept(
    ok: np.ndarray | np.bool_, agents: np.ndarray, new_state: np.ndarray | int, sources: np.ndarray, via: np.ndarray
) -> tuple[np.ndarray, np.ndarray | int, np.ndarray, np.ndarray]:
    """A round's changes of the agents ``ok`` marks (one state for all stays one state)."""
    if isinstance(new_state, np.ndarray):
        new_state = new_state[ok]
    return agents[ok], new_state, sources[ok], via[ok]


#: The stream of a session continued under a session seed of its own (:func:`continued_rng`), apart from
#: the stream it started on (100: ``world_rng(world seed, 100, seed, session)``).
STREAM_CONTINUED = 0xC0417


def continued_rng(world_seed: int, session: int, seed: int, round_: int) -> np.random.Generator:
    """The generator of session ``session`` continued after round ``round_`` with session seed ``seed``
    (:meth:`PropagationSession.reseed`): ``world_rng(world_seed, STREAM_CONTINUED, seed, session, round_)``."""
    return world_rng(world_seed, STREAM_CONTINUED, seed, session, round_)


# -- the session ----------------------------------------------------------------------------------


def removed_state(names: tuple[str, ...], adopted: tuple[int, ...]) -> int | None:
    """The model's removed state, where a blocked agent that was transmitting is moved: an adopted state named
    ``R``, ``removed`` or ``recovered`` (None if none)."""
    for code, name in enumerate(names):
        if name.lower() in REMOVED_NAMES and code in adopted:
            return code
    return None


@dataclass(eq=False)
class PropagationSession(SessionBase):
    """One message spreading under one model. See the module docstring."""

    id: int
    message_id: int
    model_name: str
    params: dict[str, Any]
    seeds: str
    priority: int = 0
    status: str = "queued"
    message: dict[str, Any] = field(default_factory=dict)
    created_tick: int = 0
    started_tick: int | None = None
    ended_tick: int | None = None
    round: int = 0
    seed: int = 0
    rng_state: dict[str, Any] | None = None
    # counters
    reached: int = 0
    exposed_count: int = 0
    attempts: int = 0
    seeds_count: int = 0
    new_per_tick: list[int] = field(default_factory=list)
    frontier_sizes: list[int] = field(default_factory=list)
    #: New adoptions of the latest round divided by the agents that transmitted in it (R of that generation).
    reproduction_number: float = 0.0
    #: Wall time spent in this session's rounds (model step and bookkeeping), for throughput figures.
    seconds: float = 0.0
    error: str | None = None
    traceback: str | None = None
    #: Content recommender for this message (None: the world's); "none" keeps it out of feeds.
    recommender: str | None = None
    #: Agents shown the message in a feed at least once, and adoptions that came through a feed.
    feed_exposed: int = 0
    feed_reached: int = 0
    # compartment description (from the model class, kept so a stored session is self-describing)
    state_names: tuple[str, ...] = ("susceptible", "adopted")
    adopted_states: tuple[int, ...] = (1,)
    transmitting_states: tuple[int, ...] = (1,)
    transmit: str = "once"
    #: The states whose entries the series counts as ``onsets`` and ``removals`` (the model's declaration).
    onset_states: tuple[int, ...] = (1,)
    removal_states: tuple[int, ...] = ()
    #: The model's named measures: ``new.NAME`` counts the entries into these states (its ``observables``).
    observables: dict[str, tuple[int, ...]] = field(default_factory=dict)
    # arrays (allocated when the session starts)
    state: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int8))
    adopted_at: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int32))
    adopted_from: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int32))
    exposed: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=bool))
    frontier: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int32))
    transmitting: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int32))
    feed_seen: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=bool))
    store: dict[str, np.ndarray] = field(default_factory=dict)
    #: Continuous per-agent variables of the session (float columns of length N, by name); their moments
    #: are recorded in the series as ``NAME.mean``, ``.std``, ``.min``, ``.max``.
    variables: dict[str, np.ndarray] = field(default_factory=dict)
    #: The per-tick series (see ``sim.model.series``): state counts (and variable moments) from round
    #: ``series_from`` (0 but for sessions stored before series were recorded) to the latest round.
    series: SeriesRecorder | None = field(default=None, repr=False)
    series_from: int = 0
    #: Whether rounds are appended to the series (off only to measure what recording costs: ``agora bench
    #: series``); the state counts are kept either way (models may read them).
    record_series: bool = field(default=True, repr=False)
    #: Whether adoption records are kept for :meth:`take_events` (off in a headless ensemble, where no world
    #: file and no text writer reads them; not persisted).
    record_events: bool = field(default=True, repr=False)
    #: Wall time spent recording the series (counting states and appending rows; not persisted).
    series_seconds: float = field(default=0.0, repr=False)
    #: Agents in each state now (kept up to date from the agents that change state; not persisted).
    state_counts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)
    #: Agents that entered each state since the series' latest row (the next row's ``new.STATE``; not persisted:
    #: a row is recorded at the end of every round).
    state_entries: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)
    # not persisted
    model: PropagationModel | None = field(default=None, repr=False)
    rng: np.random.Generator = field(default=None, repr=False)  # type: ignore[assignment]
    pending_events: list[np.ndarray] = field(default_factory=list, repr=False)
    #: The latest round's attempts and feed adoptions, for the social layer (trust and reputation).
    last_round: dict[str, Any] | None = field(default=None, repr=False)
    #: The simulation's LLM service and plugin registry, handed to the model's context (not persisted).
    llm: Any = field(default=None, repr=False)
    registry: Any = field(default=None, repr=False)
    #: The parsed seed selection when the session was injected in this process (a seed file read once).
    seed_spec: Any = field(default=None, repr=False)
    #: The seed agents of a selection resolved when the message was injected (a ``file:`` list: the file is
    #: read once, then; a stored session that has not started keeps these indices, never the file's path to
    #: read again). Kept until the session starts.
    seed_agents: np.ndarray | None = field(default=None, repr=False)
    #: Edges the model removed and added so far (``StepResult.remove_edges``/``add_edges``, as asked).
    edges_removed: int = 0
    edges_added: int = 0
    #: Whether the latest round asked for edge changes (the simulation merges them before the next tick).
    changed_edges: bool = field(default=False, repr=False)
    #: Whether the model names sources (``PropagationModel.gives_sources``): without, no cascade tree.
    gives_sources: bool = True
    #: The adoption forest as it grows (``sim.core.cascade``); rebuilt from ``adopted_at``/``adopted_from``
    #: when first needed for a session restored from a file (not persisted).
    cascade_tracker: CascadeTracker | None = field(default=None, repr=False)
    #: Forest edges that came through a feed, as stored (the tracker counts them in a running session).
    stored_feed_edges: int = field(default=0, repr=False)
    #: Whether the forest is kept as the session runs (off only to measure what it costs: ``agora bench
    #: cascade``); :meth:`tracker` rebuilds it from the arrays when asked.
    record_cascade: bool = field(default=True, repr=False)
    #: Wall time spent growing the forest in rounds (not persisted; ``agora bench cascade``).
    cascade_seconds: float = field(default=0.0, repr=False)
    #: Sessions this one competes with (``--intervene TICK:counter:...``): an agent that adopted one of
    #: them cannot adopt this message. Their objects are set by the simulation each tick (not persisted).
    rivals: tuple[int, ...] = ()
    rival_sessions: list[PropagationSession] = field(default_factory=list, repr=False)
    #: Agents blocked (``--intervene TICK:block:...``) before they adopted this message: immune, counted
    #: apart from the reach.
    immune: int = 0
    #: Agents infected from outside at given rounds or at a rate (:mod:`sim.model.imports`; a fit's ``imported``
    #: column and ``import`` rate): set before the session starts, not persisted.
    imports: Imports | None = field(default=None, repr=False)
    #: Agents imported so far, and per round (0: the seeding).
    imported: int = 0
    imported_per_tick: list[int] = field(default_factory=list, repr=False)

    @property
    def done(self) -> bool:
        return self.status in ("completed", "failed", "cancelled")

    @property
    def speed(self) -> float:
        """Mean new adoptions per tick since the session started."""
        return self.reached / max(1, len(self.new_per_tick))

    @property
    def mean_offspring(self) -> float:
        """Adoptions caused per transmitting agent-round so far (seeds and imported agents excluded from the
        numerator)."""
        return (self.reached - self.seeds_count - self.imported) / max(1, sum(self.frontier_sizes))

    @property
    def peak_tick(self) -> int | None:
        """Round (0-based) with the most new adoptions, or None before any round."""
        return int(np.argmax(self.new_per_tick)) if self.new_per_tick else None

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self, world: World, model: PropagationModel, tick: int, call: Any = call_directly) -> None:
        """Allocate the arrays, choose the seeds and put them in the model's seed state.

        ``call`` runs the model's code (``start``): :meth:`sim.model.guard.PluginRunner.call` under the
        simulation's plugin budget, or directly."""
        cls = type(model)
        self.model = model
        self.state_names = tuple(cls.states)
        self.adopted_states = tuple(cls.adopted_states)
        self.transmitting_states = tuple(cls.transmitting_states)
        self.transmit = cls.transmit
        self.onset_states = cls.counted_onsets()
        self.removal_states = cls.counted_removals()
        self.observables = cls.counted_observables()
        if self.rng is None:
            self.rng = world_rng(world.seed, 100, self.seed, self.id)
        n = world.n
        self.state = np.zeros(n, dtype=np.int8)
        self.adopted_at = np.full(n, -1, dtype=np.int32)
        self.adopted_from = np.full(n, -1, dtype=np.int32)
        self.exposed = np.zeros(n, dtype=bool)
        self.feed_seen = np.zeros(n, dtype=bool)
        if self.seed_agents is not None:
            seeds = self.seed_agents
        else:
            if self.seeds[:5].lower() == "file:" and self.seed_spec is None:
                # A stored session never reads a file: only the ids resolved at injection count.
                raise BadParameterError(
                    f"session {self.id} names seed file {self.seeds[5:]!r} but kept no seed ids: "
                    "seed files are read once, when a message is injected; inject it again"
                )
            spec = self.seed_spec if self.seed_spec is not None else SeedSpec.parse(self.seeds)
            seeds = spec.select(world, self.rng)
        self.seed_agents = None
        seeds = self._open_to_adopt(world, np.asarray(seeds, dtype=np.int32))
        blocked = blocked_mask(world)
        self.immune = 0 if blocked is None else int(np.count_nonzero(blocked))
        self.gives_sources = bool(getattr(cls, "gives_sources", True))
        self.cascade_tracker = CascadeTracker(n) if self.record_cascade else None
        self.variables = initial_variables(cls, world, self.rng, seeds)
        self.seeds_count = int(seeds.size)
        seed_state = int(cls.seed_state)
        self.state[seeds] = seed_state
        self.exposed[seeds] = True
        self.exposed_count = int(seeds.size)
        if seed_state in self.adopted_states:
            self.adopted_at[seeds] = tick
            self.reached = int(seeds.size)
            self._record(tick, seeds, np.full(seeds.size, -1, dtype=np.int32), seed_state)
            if self.cascade_tracker is not None:
                self.cascade_tracker.add(seeds)
        # The start tick's entry of the adoption curve is the seeds.
        self.new_per_tick.append(self.reached)
        self.frontier_sizes.append(0)
        self.frontier = seeds if seed_state in self.transmitting_states else np.empty(0, dtype=np.int32)
        self.transmitting = self.frontier.copy()
        self.status = "running"
        self.started_tick = tick
        ctx = StepContext(self, world, tick, starting=True)
        try:
            answer = call(
                self._started, ctx, n, what=f"model {self.model_name}", where="in its start", then="session failed"
            )
        except PluginTimeout:
            ctx.close()
            raise
        self._check_store()
        if answer is not None:
            self._apply_start(answer, world)
        if self.imports is not None:
            import_at_start(self, world, tick)
        self.rng_state = dict(self.rng.bit_generator.state)
        if self.cascade_tracker is not None:
            self.cascade_tracker.end_round()
        # Tick 0 of the series: the states right after seeding (one full count; every later tick is
        # updated from the agents that change state). The seeding is tick 0's entries.
        self.state_counts = np.bincount(self.state, minlength=len(self.state_names)).astype(np.int64)
        self.state_entries = tick_entries(self.state, len(self.state_names))
        self.series = SeriesRecorder(len(self.state_names), tuple(self.variables))
        self.series_from = 0
        self._record_series()

    def _started(self, ctx: StepContext, n: int) -> StepResult | None:
        """The model's ``start`` and the check of what it answered (None, or a StepResult): plugin code."""
        assert self.model is not None
        answer = self.model.start(ctx)
        return None if answer is None else self._validate(answer, n)

    def _apply_start(self, answer: StepResult, world: World) -> None:
        """What ``start`` answered, applied with the seeding (tick 0): agents still in state 0 moved to the
        states it names — an adopted one counts as reached at tick 0 (no source), a transmitting one
        transmits from the first round, like the seeds — and variables set.

        Raises:
            ModelContractError: an answer that would move a seed or change edges.
        """
        name = self.model_name
        if answer.remove_edges is not None or answer.add_edges is not None:
            raise ModelContractError(f"model {name} answered edge changes from start: change edges in step")
        agents = answer.agents
        status = world.columns["status"]
        mixed = not all_active(status)
        if agents.size:
            states = np.broadcast_to(np.asarray(answer.new_state, dtype=np.int8), agents.shape)
            if np.any(self.state[agents] != 0):
                raise ModelContractError(
                    f"model {name} moved agents that are not in state 0 in start (the seeds are placed by the engine)"
                )
            if mixed:
                ok = ~one_of(status[agents], FROZEN)
                agents, states = agents[ok], states[ok]
            self.state[agents] = states
            tick = int(self.started_tick or 0)
            adopted = one_of(states, self.adopted_states)
            if adopted.any():
                new, kinds = agents[adopted], states[adopted]
                self.adopted_at[new] = tick
                self.exposed[new] = True
                self.exposed_count = int(np.count_nonzero(self.exposed))
                self.reached += int(new.size)
                self.new_per_tick[-1] = self.reached  # the start tick's entry: seeds and these
                self._record(tick, new, np.full(new.size, -1, dtype=np.int32), kinds.astype(np.int64))
                if self.cascade_tracker is not None:
                    self.cascade_tracker.add(new)
            entered = np.sort(agents[one_of(states, self.transmitting_states)]).astype(np.int32)
            if entered.size and mixed:
                entered = entered[~one_of(status[entered], SILENT)]
            if entered.size:
                front = np.sort(self.frontier).astype(np.int32)
                self.frontier = np.insert(front, np.searchsorted(front, entered), entered)
                self.transmitting = self.frontier.copy()
        for var, (who, vals) in (answer.variables or {}).items():
            self._set_variable(var, who, vals, status if mixed else None)

    def _set_variable(self, var: str, who: np.ndarray | None, vals: np.ndarray, status: np.ndarray | None) -> None:
        """Set a checked variable answer: a whole column or some agents; frozen agents keep their values
        (``status`` given when some agents may be frozen)."""
        col = self.variables[var]
        if who is None:
            if status is None:
                col[:] = vals
            else:
                ok = ~one_of(status, FROZEN)
                col[ok] = vals[ok]
        elif status is not None and who.size:
            ok = ~one_of(status[who], FROZEN)
            col[who[ok]] = vals[ok]
        else:
            col[who] = vals

    def _record_series(self, entries_known: bool = True) -> None:
        """Append this round's state counts, entries (unknown: not ``entries_known``) and variable moments to the
        series; the entries start again from 0."""
        assert self.series is not None
        moments = None
        if self.series.variables:
            moments = np.concatenate([variable_moments(self.variables[v]) for v in self.series.variables])
        self.series.append(self.state_counts, self.state_entries if entries_known else None, moments)
        self.state_entries[:] = 0

    def _restore_series(self, rec: dict[str, Any], arrays: dict[str, np.ndarray], n: int) -> None:
        """The series and state counts of a stored session, checked against its state array.

        Raises:
            ValueError: stored series that do not fit the session (shape, dtype, or counts that do not
                sum to the agents or do not end at the state array's counts).
        """
        k = len(self.state_names)
        self.state_counts = np.bincount(self.state, minlength=k).astype(np.int64)
        self.state_entries = np.zeros(k, dtype=np.int64)
        counts = arrays.get("series_counts")
        curve = len(self.new_per_tick)
        if counts is None or curve == 0:
            # Stored before series were recorded (or never seeded): the series starts at this round.
            if curve:
                self.series_from = curve - 1
                self.series = SeriesRecorder(k, tuple(self.variables))
                self._record_series(entries_known=False)
            return
        start = rec.get("series_from", 0)
        if isinstance(start, bool) or not isinstance(start, int) or not 0 <= start < curve:
            raise ValueError(f"session {self.id} has an invalid series start {start!r}")
        if counts.dtype != np.int64 or counts.shape != (curve - start, k):
            raise ValueError(
                f"session {self.id} array series_counts has dtype {counts.dtype} and shape {counts.shape}, "
                f"expected int64 ({curve - start}, {k})"
            )
        if counts.size and (
            counts.min() < 0 or np.any(counts.sum(axis=1) != n) or np.any(counts[-1] != self.state_counts)
        ):
            raise ValueError(f"session {self.id} array series_counts does not match its states")
        variables = tuple(self.variables)
        moments = arrays.get("series_moments")
        if variables:
            width = 4 * len(variables)
            if moments is None or moments.dtype != np.float64 or moments.shape != (curve - start, width):
                shape = None if moments is None else moments.shape
                raise ValueError(
                    f"session {self.id} array series_moments has shape {shape}, expected ({curve - start}, {width})"
                )
        elif moments is not None:
            raise ValueError(f"session {self.id} has series_moments but no variables")
        entries = arrays.get("series_entries")  # None: stored before entries were recorded (unknown rows)
        problem = None if entries is None else check_entries(entries, counts, start == 0)
        if problem:
            raise ValueError(f"session {self.id} array series_entries {problem}")
        self.series_from = start
        self.series = SeriesRecorder.restore(counts, moments, variables, entries)

    def _check_store(self) -> None:
        """The model's ``ctx.store`` holds numpy arrays under text keys only (it is saved with the session).

        Raises:
            ModelContractError: naming the key and what it holds.
        """
        for k, v in list(self.store.items()):
            if not _storable(k, v):
                what = f"a {type(v).__name__}" if not isinstance(v, np.ndarray) else f"an array of dtype {v.dtype}"
                raise ModelContractError(
                    f"model {self.model_name} put {what} in ctx.store[{k!r}]: the store keeps numpy "
                    "arrays of numbers, booleans or text under text keys (it is saved with the session)"
                )

    def is_done(self, world: World, tick: int, online: np.ndarray | None = None, call: Any = call_directly) -> bool:
        """The model's ``is_done`` (as a plain bool), through ``call`` (see :meth:`start`). A model that keeps
        the contract's own ``is_done`` (nobody transmits) is answered here: no plugin code runs for it."""
        assert self.model is not None
        model = self.model
        if self.imports is not None and self.imports.pending(self.round):
            return False  # agents will still come from outside
        if type(model).is_done is PropagationModel.is_done:
            return self.frontier.size == 0
        ctx = StepContext(self, world, tick, online)
        try:
            done = call(
                lambda: bool(model.is_done(ctx)),
                what=f"model {self.model_name}",
                where="in is_done",
                then="session failed",
            )
        except PluginTimeout:
            ctx.close()
            raise
        self._check_store()
        return done

    @property
    def graph_reached(self) -> int:
        """Adoptions through the follower graph (seeds, imported agents and feed adoptions excluded)."""
        return max(0, self.reached - self.seeds_count - self.feed_reached - self.imported)

    def _record(
        self,
        tick: int,
        agents: np.ndarray,
        sources: np.ndarray,
        kind: int | np.ndarray,
        via: int | np.ndarray = VIA_GRAPH,
    ) -> None:
        if not self.record_events:
            return
        rec = np.empty(len(agents), dtype=EVENT_DTYPE)
        rec["tick"] = tick
        rec["agent"] = agents
        rec["source"] = sources
        rec["kind"] = kind
        rec["via"] = via
        self.pending_events.append(rec)

    def take_events(self) -> np.ndarray | None:
        """Adoption records since the last call (tick, agent, source, kind), or None."""
        if not self.pending_events:
            return None
        out = np.concatenate(self.pending_events) if len(self.pending_events) > 1 else self.pending_events[0]
        self.pending_events = []
        return out

    def advance(
        self,
        world: World,
        tick: int,
        online: np.ndarray | None = None,
        feed: tuple[np.ndarray, np.ndarray] | None = None,
        call: Any = call_directly,
    ) -> StepResult:
        """One synchronous round under the model, with this tick's feed exposures ``(agents, sources)``.
        Raises whatever the model raises, :class:`ModelContractError` when its answer breaks the
        contract, or :class:`~sim.model.guard.PluginTimeout` when it runs past the plugin budget; the caller
        fails the session.

        ``call`` runs the model's code (see :meth:`start`): its ``step`` and the checking of its answer
        (which may run the answer's own code, ``__array__`` and the like) in one call, then ``is_done``.
        Only plain arrays checked there reach the session's arrays, in the caller's thread.

        Lifecycle is respected here for every model: agents that are created (not joined yet),
        suspended or deactivated never change state, and muted ones adopt but do not transmit."""
        assert self.model is not None
        t0 = time.perf_counter()
        # A session restored from a file rebuilds its forest once, then grows it like any other.
        tracker = self.tracker() if self.record_cascade else self.cascade_tracker
        ctx = StepContext(self, world, tick, online)
        if feed is not None and feed[0].size:
            ctx.set_feed(feed[0], feed[1])
        try:
            result = call(
                self._answer, ctx, world.n, what=f"model {self.model_name}", where="in one step", then="session failed"
            )
        except PluginTimeout:
            ctx.close()
            raise
        self._check_store()
        status = world.columns["status"]
        mixed = not all_active(status)
        agents, new_state, sources, via = self._admitted(world, result, ctx, status if mixed else None)
        if self.imports is not None:
            agents, new_state, sources, via = with_imports(self, world, mixed, (agents, new_state, sources, via))
        prev = np.take(self.state, agents)
        was_adopted = one_of(prev, self.adopted_states)
        now_adopted = one_of(new_state, self.adopted_states)
        if type(self.model).progressive and np.any(was_adopted & ~now_adopted):
            raise ModelContractError(
                f"model {self.model_name} declares itself progressive but moved adopted agents out of adoption"
            )
        was_tx = one_of(prev, self.transmitting_states)
        now_tx = one_of(new_state, self.transmitting_states)
        self.state[agents] = new_state
        if agents.size:  # the state counts follow the agents that changed, not a pass over all N
            self._count_states(prev, new_state, agents.size)
        if result.variables:  # frozen agents keep their values, as they keep their state
            for var, (who, vals) in result.variables.items():
                self._set_variable(var, who, vals, status if mixed else None)
        self._buffer_edges(world, result)
        self._expose(result, ctx)
        newly = now_adopted & (self.adopted_at[agents] < 0)
        new_agents, src, v = self._adopt(tick, agents[newly], new_state, newly, sources[newly], via[newly], tracker)
        shown = ctx._feed_agents
        if shown.size:
            fresh = shown[~self.exposed[shown]]
            if fresh.size:
                self.exposed[fresh] = True
                self.exposed_count = int(np.count_nonzero(self.exposed))
        self.last_round = self._round_record(ctx, new_agents[v], src[v])
        self._count_round(int(new_agents.size), int(result.attempts), tracker)
        self._transmit(world, agents[now_tx & ~was_tx].astype(np.int32), agents[was_tx & ~now_tx], status, mixed)
        self.round += 1
        self.rng_state = dict(self.rng.bit_generator.state)
        if self.is_done(world, tick, online, call):
            self.status = "completed"
            self.ended_tick = tick
        self.seconds += time.perf_counter() - t0
        return result

    def _admitted(
        self, world: World, result: StepResult, ctx: StepContext, status: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray | int, np.ndarray, np.ndarray]:
        """The changes of a checked answer that may happen, ``(agents, new_state, sources, via)``: without the
        frozen agents (``status`` given when some may be), the blocked ones and the adopters of a rival."""
        agents, new_state, sources = result.agents, result.new_state, result.sources
        assert sources is not None  # a checked answer names a source (or -1) for every agent
        via = self._via(result, ctx, agents)
        if agents.size and status is not None:
            ok = ~one_of(status[agents], FROZEN)
            if not ok.all():
                agents, new_state, sources, via = _kept(ok, agents, new_state, sources, via)
        if agents.size and (self.rival_sessions or blocked_mask(world) is not None):
            ok = self._open_mask(world, agents)
            if not ok.all():
                agents, new_state, sources, via = _kept(ok, agents, new_state, sources, via)
        return agents, new_state, sources, via

    def _count_states(self, prev: np.ndarray, new_state: np.ndarray | int, changed: int) -> None:
        """Follow the state counts from the ``changed`` agents' previous states to their new ones, and count
        the entries: the agents whose state is not what it was (an agent listed to stay put enters nothing)."""
        t_rec = time.perf_counter()
        k = len(self.state_names)
        self.state_counts -= np.bincount(prev, minlength=k)
        moved = prev != new_state
        if isinstance(new_state, int):
            self.state_counts[new_state] += changed
            self.state_entries[new_state] += int(np.count_nonzero(moved))
        else:
            self.state_counts += np.bincount(new_state, minlength=k)
            self.state_entries += np.bincount(new_state[moved], minlength=k)
        self.series_seconds += time.perf_counter() - t_rec

    def _expose(self, result: StepResult, ctx: StepContext) -> None:
        """Flag the agents that received an attempt this round (the model's ``exposed``, else the targets of
        the edges it gathered) as exposed."""
        exposed = result.exposed
        if exposed is None and ctx._gathered is not None:
            exposed = ctx._gathered[1]
        elif exposed is None and ctx._targets is not None:
            exposed = ctx._targets[0]
        if exposed is not None and len(exposed):
            # Setting every target's flag and recounting (a vectorised O(N) count) is cheaper than finding
            # the fresh ones first (a gather, a mask and a second scatter) or de-duplicating.
            self.exposed[np.asarray(exposed)] = True
            self.exposed_count = int(np.count_nonzero(self.exposed))

    def _adopt(
        self,
        tick: int,
        new_agents: np.ndarray,
        new_state: np.ndarray | int,
        newly: np.ndarray,
        src: np.ndarray,
        v: np.ndarray,
        tracker: CascadeTracker | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Record the round's first adoptions (``newly`` marks them among the changing agents): their tick,
        source, exposure, adoption record and forest edge. Returns ``(agents, sources, via feed)``."""
        if not new_agents.size:
            return new_agents, np.empty(0, dtype=np.int32), np.empty(0, dtype=bool)
        self.adopted_at[new_agents] = tick
        self.adopted_from[new_agents] = src
        if not self.exposed[new_agents].all():
            self.exposed[new_agents] = True
            self.exposed_count = int(np.count_nonzero(self.exposed))
        ns = new_state if isinstance(new_state, int) else new_state[newly]
        self.feed_reached += int(np.count_nonzero(v))
        self._record(tick, new_agents, src, ns, v.astype(np.int64))
        if tracker is not None:
            t_tree = time.perf_counter()
            tracker.add(new_agents, src, v)
            self.cascade_seconds += time.perf_counter() - t_tree
        return new_agents, src, v

    def _count_round(self, n_new: int, attempts: int, tracker: CascadeTracker | None) -> None:
        """The round's counters, adoption curve, forest round and series row."""
        self.reached += n_new
        self.attempts += attempts
        frontier_size = int(self.frontier.size)
        self.frontier_sizes.append(frontier_size)
        self.new_per_tick.append(n_new)
        if tracker is not None:
            t_tree = time.perf_counter()
            tracker.end_round()
            self.cascade_seconds += time.perf_counter() - t_tree
        if self.record_series:
            t_rec = time.perf_counter()
            self._record_series()
            self.series_seconds += time.perf_counter() - t_rec
        else:
            self.state_entries[:] = 0
        if frontier_size:
            self.reproduction_number = n_new / frontier_size

    def _transmit(self, world: World, entered: np.ndarray, left: np.ndarray, status: np.ndarray, mixed: bool) -> None:
        """The next round's frontier: the agents that ``entered`` a transmitting state this round (not muted or
        blocked ones) and, for a model that transmits ``while`` in it, those still there (not ``left``)."""
        if not strictly_increasing(entered):
            entered = np.sort(entered)
        if entered.size and mixed:
            entered = entered[~one_of(status[entered], SILENT)]
        blocked = blocked_mask(world)
        if entered.size and blocked is not None:
            entered = entered[~blocked[entered]]
        if self.transmit == "while":
            keep = self.transmitting if left.size == 0 else self.transmitting[~np.isin(self.transmitting, left)]
            # Both ascending and disjoint (entered agents were not transmitting): a merge, not np.union1d,
            # whose hash-based unique costs half a second on a million agents.
            self.transmitting = (
                np.insert(keep, np.searchsorted(keep, entered), entered).astype(np.int32) if entered.size else keep
            )
            self.frontier = self.transmitting
        else:
            self.frontier = entered
            self.transmitting = entered

    # -- interventions --------------------------------------------------------------------------------
    def _open_mask(self, world: World, agents: np.ndarray) -> np.ndarray:
        """Whether each listed agent may still adopt this message: not blocked, and not an adopter of a
        rival message."""
        ok = np.ones(agents.size, dtype=bool)
        blocked = blocked_mask(world)
        if blocked is not None:
            ok &= ~blocked[agents]
        for rival in self.rival_sessions:
            if rival.adopted_at.size:
                ok &= rival.adopted_at[agents] < 0
        return ok

    def _open_to_adopt(self, world: World, agents: np.ndarray) -> np.ndarray:
        if not agents.size or (not self.rival_sessions and blocked_mask(world) is None):
            return agents
        return agents[self._open_mask(world, agents)]

    def block(self, agents: np.ndarray) -> None:
        """``agents`` (int32, ascending, newly blocked) stop transmitting this message and will never adopt it.
        Those in a transmitting state move to the model's removed state when it has one (``R``, ``removed``
        or ``recovered``), so that an epidemic can end; those that had not adopted are counted in
        :attr:`immune`."""
        if not self.state.size or not agents.size:
            return
        self.immune += int(np.count_nonzero(self.adopted_at[agents] < 0))
        removed = removed_state(self.state_names, self.adopted_states)
        if removed is not None:
            prev = self.state[agents]
            moving = agents[one_of(prev, self.transmitting_states)]
            if moving.size:
                k = len(self.state_names)
                self.state_counts -= np.bincount(self.state[moving], minlength=k)
                self.state_entries[removed] += int(np.count_nonzero(self.state[moving] != removed))
                self.state[moving] = removed
                self.state_counts[removed] += moving.size
        if self.frontier.size:
            self.frontier = self.frontier[~np.isin(self.frontier, agents)]
        if self.transmitting.size:
            self.transmitting = self.transmitting[~np.isin(self.transmitting, agents)]
        if self.transmit == "while":
            self.frontier = self.transmitting

    # -- the cascade ---------------------------------------------------------------------------------
    @property
    def feed_edges(self) -> int:
        """Forest edges whose adoption came through a feed."""
        return self.cascade_tracker.feed_edges if self.cascade_tracker is not None else self.stored_feed_edges

    def tracker(self) -> CascadeTracker | None:
        """The adoption forest (None before the session starts): the one kept as it ran, or one rebuilt
        from ``adopted_at`` and ``adopted_from`` (a session restored from a file), which is the same."""
        if self.cascade_tracker is None and self.state.size and self.started_tick is not None:
            nodes = np.flatnonzero(self.adopted_at >= 0)
            t = replay(
                self.state.size,
                self.adopted_at[nodes],
                nodes,
                self.adopted_from[nodes],
                start=self.started_tick,
                rounds=self.round,
            )
            t.feed_edges = min(self.stored_feed_edges, t.edges)
            self.cascade_tracker = t
        return self.cascade_tracker

    def cascade(self) -> dict[str, Any] | None:
        """The measures of the forest (``sim.core.cascade``; the same as ``forest().measures()``, without
        building the generation-ordered forest), or None before the start or for a model without sources."""
        t = self.tracker()
        if t is None or not self.gives_sources:
            return None
        return t.measures()

    def forest(self) -> Forest | None:
        """The finished (or current) forest, or None before the start or for a model that names no sources."""
        t = self.tracker()
        if t is None or not self.gives_sources:
            return None
        return t.forest(self.adopted_from, self.adopted_at)

    def _buffer_edges(self, world: World, result: StepResult) -> None:
        """Hand the round's checked edge changes to the world's graph buffer (merged before the next tick)."""
        self.changed_edges = False
        if result.remove_edges is not None and result.remove_edges[0].size:
            world.delta.unfollow(*result.remove_edges)
            self.edges_removed += int(result.remove_edges[0].size)
            self.changed_edges = True
        if result.add_edges is not None and result.add_edges[0].size:
            world.delta.follow(*result.add_edges, result.new_trust)
            self.edges_added += int(result.add_edges[0].size)
            self.changed_edges = True

    def _via(self, result: StepResult, ctx: StepContext, agents: np.ndarray) -> np.ndarray:
        """Whether each changing agent adopted through the feed (see ``StepResult.via_feed``); ``result``
        is a checked answer (:meth:`_validate`)."""
        if result.via_feed is not None:
            return result.via_feed
        if ctx._feed_agents.size == 0 or agents.size == 0:
            return np.zeros(agents.size, dtype=bool)
        shown = np.isin(agents, ctx._feed_agents)
        if ctx._gathered is not None:
            graph_targets = ctx._gathered[1]
        elif ctx._targets is not None:
            graph_targets = ctx._targets[0]
        else:
            graph_targets = np.empty(0, dtype=np.int32)
        return shown & ~np.isin(agents, graph_targets)

    def _round_record(self, ctx: StepContext, feed_adopted: np.ndarray, feed_sources: np.ndarray) -> dict[str, Any]:
        """This round's graph attempts (edge ids, targets, and the senders when the model gathered them:
        None otherwise, for the social layer to derive from the edge ids if it learns) and feed adoptions.
        The context's own arrays, not copies: most ticks nobody reads them."""
        src: np.ndarray | None
        if ctx._gathered is not None:
            src, dst, _, eid = ctx._gathered
        elif ctx._targets is not None:
            dst, eid = ctx._targets
            src = ctx._sources
        else:
            src = dst = eid = np.empty(0, dtype=np.int32)
        return {
            "edges": eid,
            "sources": src,
            "targets": dst,
            "feed_adopted": feed_adopted,
            "feed_sources": feed_sources,
        }

    def _answer(self, ctx: StepContext, n: int) -> StepResult:
        """The model's step and the check of its answer: what runs as plugin code, under the budget."""
        assert self.model is not None
        return self._validate(self.model.step(ctx), n)

    def _validate(self, result: Any, n: int) -> StepResult:
        """The model's answer checked against the contract (:func:`sim.model.answer.checked_answer`).

        Raises:
            ModelContractError: naming what was wrong.
        """
        declared = type(self.model).variables if self.model is not None else {}
        return checked_answer(result, n, self.model_name, len(self.state_names), declared, self.variables)

    def fail(self, exc: BaseException, tick: int) -> None:
        """Mark the session failed, keeping the error and its traceback.

        The model's ``store`` is detached (a copy of what it held, arrays only): a plugin call abandoned
        over the budget may still be running, and what it writes later must not reach what is saved."""
        self.status = "failed"
        self.ended_tick = tick
        self.store = {k: v for k, v in list(self.store.items()) if _storable(k, v)}
        self.error = f"{type(exc).__name__}: {exc}"
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        if isinstance(exc, ModelContractError) and self.model is not None:
            # The engine refused the answer: the author's place to look is the method that gave it.
            tb = with_method_frame(tb, self.model, "start" if self.series is None else "step")
        self.traceback = tb

    def reseed(self, world_seed: int, seed: int) -> None:
        """Continue this session from its present round with session seed ``seed``: its generator becomes
        :func:`continued_rng` of the world's seed, its id, ``seed`` and its round, and its ``seed`` becomes
        ``seed`` (a model's own streams, ``ctx.stream_rng``, follow it). Run ``r`` of a forecast with seed ``S``
        is the session reseeded with ``S + r``, on the engine and in the batched kernel
        (:func:`sim.runs.batched.continue_batched`) alike; a session not reseeded goes on with the generator it
        saved."""
        self.seed = seed
        self.rng = continued_rng(world_seed, self.id, seed, self.round)
        self.rng_state = dict(self.rng.bit_generator.state)

    def cancel(self, tick: int) -> None:
        self.status = "cancelled"
        self.ended_tick = tick

    def copy(self) -> PropagationSession:
        """An independent copy (arrays copied; the model instance is made again when run)."""
        # A session not started yet has no state to size its arrays by, only the seed agents it keeps (checked
        # against the world when they were chosen): any agent count they fit under will do.
        n = self.state.size if self.state.size else INT32_MAX
        twin = PropagationSession.from_record(self.to_record(), {k: v.copy() for k, v in self.arrays().items()}, n)
        return twin

    # -- persistence -------------------------------------------------------------------------------
    def to_record(self) -> dict[str, Any]:
        """Everything but the arrays, as JSON-able data."""
        return {
            "id": self.id,
            "message_id": self.message_id,
            "model": self.model_name,
            "params": self.params,
            "seeds": self.seeds,
            "priority": self.priority,
            "status": self.status,
            "message": self.message,
            "created_tick": self.created_tick,
            "started_tick": self.started_tick,
            "ended_tick": self.ended_tick,
            "round": self.round,
            "seed": self.seed,
            "rng_state": self.rng_state,
            "reached": self.reached,
            "exposed": self.exposed_count,
            "attempts": self.attempts,
            "seeds_count": self.seeds_count,
            "new_per_tick": self.new_per_tick,
            "frontier_sizes": self.frontier_sizes,
            "reproduction_number": self.reproduction_number,
            "error": self.error,
            "traceback": self.traceback,
            "state_names": list(self.state_names),
            "adopted_states": list(self.adopted_states),
            "transmitting_states": list(self.transmitting_states),
            "transmit": self.transmit,
            "onset_states": list(self.onset_states),
            "removal_states": list(self.removal_states),
            "observables": {k: list(v) for k, v in self.observables.items()},
            "store_keys": sorted(self.store),
            "recommender": self.recommender,
            "feed_exposed": self.feed_exposed,
            "feed_reached": self.feed_reached,
            "series_from": self.series_from,
            "variables": list(self.variables),
            "edges_removed": self.edges_removed,
            "edges_added": self.edges_added,
            "gives_sources": self.gives_sources,
            "feed_edges": self.feed_edges,
            "rivals": list(self.rivals),
            "immune": self.immune,
        }

    def arrays(self) -> dict[str, np.ndarray]:
        """The session's arrays by name (model store arrays prefixed ``store.``)."""
        out = {k: getattr(self, k) for k in SESSION_ARRAYS} if self.state.size else {}
        if self.series is not None and self.state.size:
            out["series_counts"] = self.series.counts
            out["series_entries"] = self.series.entries
            if self.series.variables:
                out["series_moments"] = self.series.moments
        if self.state.size:
            out.update({f"var.{k}": v for k, v in self.variables.items()})
        out.update({f"store.{k}": v for k, v in self.store.items()})
        if self.seed_agents is not None and not self.state.size:
            out["seed_agents"] = self.seed_agents
        return out

    @classmethod
    def from_record(cls, rec: dict[str, Any], arrays: dict[str, np.ndarray], n: int) -> PropagationSession:
        """Rebuild a stored session (its model instance is made again when the simulation runs it).

        Raises:
            ValueError / KeyError / TypeError: a malformed record; callers turn it into a clear error.
        """
        s = cls(**session_fields(rec))
        s.onset_states, s.removal_states = counted_states(rec, s)
        s.observables = stored_observables(rec, s)
        # Sessions stored before cascades were kept: every feed adoption is taken as a forest edge.
        s.stored_feed_edges = max(0, int(rec.get("feed_edges", rec.get("feed_reached", 0)) or 0))
        if s.status not in STATUSES:
            raise ValueError(f"unknown session status {s.status!r}")
        if "state" in arrays:
            for k, a in state_arrays(s.id, arrays, n, len(s.state_names)).items():
                setattr(s, k, a)
            s.variables.update(variable_columns(s.id, rec.get("variables", []), arrays, n))
            s._restore_series(rec, arrays, n)
        s.store = {k[len("store.") :]: v for k, v in arrays.items() if k.startswith("store.")}
        kept = seed_agents(s.id, arrays, n, bool(s.state.size))
        if kept is not None:
            s.seed_agents = kept
        extra = sorted(k for k in arrays if k.startswith("var.") and k[4:] not in s.variables)
        if extra:
            raise ValueError(f"session {s.id} array {extra[0]} is not one of its variables")
        if s.rng_state is not None:
            s.rng = world_rng(0)
            s.rng.bit_generator.state = s.rng_state
        return s
