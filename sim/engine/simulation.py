"""The asyncio simulation core.

``Simulation`` advances a world in ticks: ``await sim.step()``, ``await sim.run(...)``, ``pause()``,
``resume()``, ``inject(...)``, ``cancel(...)``. The array work of a tick runs in a worker thread
(``asyncio.to_thread``) so a UI on the same event loop stays responsive; events are published on the
loop thread after the tick. One tick:

1. activation: who is online (the world's seeded draw by hour);
2. scheduling: queued sessions start, by priority (higher first, then oldest), while fewer than
   ``max_running`` run; a session's start (seeding) takes its tick;
3. feeds: the content recommender picks up to K live messages for every online agent (``sim.social.dynamics``);
4. propagation: every running session advances one synchronous round, by priority, with its graph
   exposures and its feed exposures;
5. social dynamics: trust and reputation learn from the round, friend suggestions and unfollows,
   joins and departures; graph changes are merged in bulk every few ticks;
6. adoption and feed records go to the world file's single writer in batches; metrics are published.

A session whose model raises, returns a malformed answer or fails to load is failed with its
traceback kept; the other sessions and the simulation go on. Plugin code (a model's making, ``start``,
``step`` with the check of its answer, ``is_done``; recommenders' ``score`` and ``suggest``) runs in a
worker thread under a per-call time budget (``plugin_budget``, default 10 s): a call past it is
abandoned and fails its session (a recommender is switched off), and the tick goes on. Plugins see the
world only through read-only views (``sim.model.context.StepContext``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np

from sim.core.audit import TEXT_LIMIT
from sim.core.events import (
    Event,
    EventBus,
    InterventionApplied,
    MessageInjected,
    PropagationCompleted,
    PropagationFailed,
    PropagationRound,
    PropagationStarted,
    RecommenderFailed,
    TickCompleted,
)
from sim.core.topics import topics_mask
from sim.core.world import World
from sim.engine import intervene
from sim.engine.requests import Inject, Limits, SeedChoice
from sim.engine.seeding import Spread, method_seeds
from sim.errors import AgoraError, BadParameterError
from sim.llm.service import LLMService
from sim.model.guard import PluginRunner, PluginTimeout, is_plugin_fault
from sim.model.guard import plugin_budget as plugin_budget_seconds
from sim.model.intervene import CONFIG_KEY, Intervention, entries
from sim.model.registry import PluginError, Registry
from sim.model.seeds import INT64_MAX, SeedSpec
from sim.model.session import PropagationSession
from sim.plugin.params import check_layers_named
from sim.social.dynamics import Social, SocialTick

#: What a journal row may ask when it is made again after a crash: a row is data from the file, so it never
#: names a file to read (a slow seed method is allowed: its chosen agents are in the row).
JOURNALED = Limits(files=False)


class Simulation:
    """A world in motion. See the module docstring."""

    def __init__(
        self,
        world: World,
        *,
        registry: Registry | None = None,
        bus: EventBus | None = None,
        max_running: int = 16,
        writer: Any = None,
        history: int = 3600,
        llm: LLMService | None = None,
        plugin_budget: float | None = None,
        plugins_in_thread: bool = False,
    ) -> None:
        """``plugin_budget``: seconds one call into a plugin may take (a model's making, ``start``,
        ``step`` with the check of its answer, ``is_done``; a recommender's ``score`` or ``suggest``)
        before its session is failed or the recommender switched off; None: ``$AGORA_PLUGIN_BUDGET``,
        else 10; 0: no budget (plugin code runs in the tick's thread). See :class:`sim.model.guard.PluginRunner`.
        ``plugins_in_thread``: run plugin code in the calling thread under a timer rather than in a worker
        thread (the headless tight loop of :meth:`step_now`; see ``PluginRunner``'s ``in_thread``).

        Raises:
            BadParameterError: a budget that is not a number >= 0.
        """
        self.world = world
        #: Runs plugin code under the per-call time budget (``sim.model.guard.PluginRunner``).
        self.plugins = PluginRunner(plugin_budget_seconds(plugin_budget), in_thread=plugins_in_thread)
        self.bus = bus or EventBus()
        self.registry = registry or Registry(bus=self.bus)
        self.max_running = max_running
        self.writer = writer
        self.metrics: deque[dict[str, Any]] = deque(maxlen=history)
        self.dirty = False  # changes since the last save or checkpoint
        self._lock = asyncio.Lock()
        self._running = asyncio.Event()
        self._running.set()
        self._stop = False
        self._run_ticking = False
        self._changed: set[int] = set()
        #: The living network: feeds, friends, churn, reputation and trust (``sim.social.dynamics``).
        self.social = Social(world, self.registry)
        self.social.call = self.plugins.call
        #: LLM agents: budgeted requests, texts and interviews (``sim.llm.service``). Offline without a key.
        self.llm = llm if llm is not None else LLMService(world)
        #: The most messages the world may hold (a server's ``--max-messages``; None: no bound): a
        #: counter-message past it is not injected.
        self.max_messages: int | None = None
        recovered = getattr(writer, "recovered", None) or {}
        # The highest ids ever used in this world (its file's audit log remembers ids a crash rolled back):
        # a new message or session never takes one of them again.
        self._last_ids = [
            max([int(recovered.get("max_message") or 0), *(int(m["id"]) for m in world.messages)]),
            max([int(recovered.get("max_session") or 0), *(int(x.id) for x in world.sessions)]),
        ]
        #: The journal number of the last change recorded (``WorldWriter.wait_durable``); 0: none.
        self.last_change = 0
        #: What starting made again of the changes acknowledged after the file's last checkpoint (see
        #: :meth:`_replay`): ``{"made", "failed"}`` lists; empty without a writer or a crash.
        self.replayed: dict[str, list[Any]] = {}
        if writer is not None and getattr(writer, "leftover", None):
            self._replay(writer)

    # -- messages and sessions --------------------------------------------------------------------
    @property
    def sessions(self) -> list[PropagationSession]:
        return self.world.sessions

    def session(self, session_id: int) -> PropagationSession:
        for s in self.world.sessions:
            if s.id == session_id:
                return s
        raise BadParameterError(f"no propagation session {session_id}")

    def inject(
        self,
        message: Inject | str | None = None,
        /,
        *,
        actor: str | None = None,
        seed_agents: np.ndarray | None = None,
        ids: tuple[int, int] | None = None,
        journal: bool = True,
        audit: bool = True,
        **fields: object,
    ) -> PropagationSession:
        """Inject a message and queue its propagation session.

        Args:
            message: an :class:`~sim.engine.requests.Inject` request, or the message's text with the request's
                other fields as keywords (``topics``, ``author``, ``seeds``, ``model``, ``params``, ``priority``,
                ``seed``, ``recommender``: parsed by :meth:`Inject.parse`, as a front end's request is).
            actor: who asked, named in the audit log (an API token's name; None: nobody named).
            seed_agents: the agents a seed method or file chose, chosen already (indices; see
                :meth:`choose_seeds`, which a front end runs off the event loop), else chosen here.
            ids: the ``(message, session)`` ids to use (a change made again after a crash), else the next.
            journal: record the injection in the world file's journal with its audit row (a change made
                by a user, made again after a crash); False for one the engine makes itself (a
                counter-message, made again when its intervention is).
            audit: record it in the audit log (False: a change made again after a crash, recorded once,
                as ``recover``).

        Returns:
            The queued session. With a world file, :attr:`last_change` is its journal number
            (``WorldWriter.wait_durable``).

        Raises:
            BadParameterError: a mistake in the request (:meth:`Inject.parse`), or what this world cannot
                meet: unknown seed ids or author, a missing community, too many seeds. Nothing is changed then.
        """
        if isinstance(message, Inject):
            if fields:
                raise TypeError(f"inject() takes an Inject request or keywords, not both ({', '.join(fields)})")
            request = message
        else:
            request = Inject.parse({"text": message, **fields}, self.registry)
        request.seeds.check(self.world)  # unknown ids, a missing community, too many seeds: refused first
        check_layers_named(dict(request.params), self.world.layers)  # beta@class on a world without that layer
        seed_agents = self._given_seeds(request.seeds, seed_agents)
        author_idx = None if request.author is None else self.world.index_of(request.author)
        load_error: PluginError | None = None
        clean = dict(request.params)
        try:
            self.registry.model(request.model)
        except PluginError as exc:  # the model's code cannot be loaded: its session fails, saying why
            load_error = exc
        if request.seeds.kind == "method" and load_error is None and seed_agents is None:
            seed_agents = self.choose_seeds(request.seeds, request.model, clean)
        message_id, session_id = ids if ids is not None else self._next_ids()  # ids: checked by _replay
        self._last_ids = [max(self._last_ids[0], message_id), max(self._last_ids[1], session_id)]
        tick = self.world.tick
        text = request.text
        row = {
            "id": message_id,
            "text": text,
            "topics": int(topics_mask(request.topics)),
            "author": author_idx,
            "created_tick": tick,
        }
        self.world.messages.append(row)
        session = PropagationSession(
            id=session_id,
            message_id=message_id,
            model_name=request.model,
            params=clean,
            seeds=str(request.seeds),
            priority=request.priority,
            message=row,
            created_tick=tick,
            seed=request.seed,
            recommender=request.recommender,
        )
        session.seed_spec = request.seeds
        session.seed_agents = seed_agents  # a seed file was read once, above: a stored session keeps its ids
        self.world.sessions.append(session)
        if not text.strip():
            self._author_writes(row, session)
        self._changed.add(session_id)
        self.dirty = True
        self.bus.publish(MessageInjected(message_id, session_id, text, request.model, tick))
        if self.writer is not None and audit:  # a user action on a world with a file: audited, once
            self._record_injection(request, session, seed_agents, actor, journal)
        if load_error is not None:
            session.fail(load_error, tick)
            session.traceback = load_error.traceback or session.traceback
            self.bus.publish(PropagationFailed(session_id, session.error or "", session.traceback or "", tick))
        return session

    def _given_seeds(self, spec: SeedSpec, seed_agents: np.ndarray | None) -> np.ndarray | None:
        """The seeds chosen already (checked: distinct agents of this world, as int32), a seed file's ids
        resolved once, or None (drawn when the session starts, or chosen by a method).

        Raises:
            BadParameterError: chosen seeds that are not distinct agents of this world.
        """
        if seed_agents is not None:
            seed_agents = np.asarray(seed_agents)
            if (
                seed_agents.ndim != 1
                or seed_agents.dtype.kind not in "iu"
                or (seed_agents.size and not (seed_agents.min() >= 0 and seed_agents.max() < self.world.n))
                or np.unique(seed_agents).size != seed_agents.size
            ):
                raise BadParameterError(
                    f"the chosen seeds are not distinct agents of this world (0 to {self.world.n - 1})"
                )
            return seed_agents.astype(np.int32)  # as a seed method gives them, and a stored session keeps
        if spec.kind == "file":
            # A seed file's ids, resolved once (a file needs no random draw, hence no generator).
            return spec.select(self.world, None)  # type: ignore[arg-type]
        return None

    def _next_ids(self) -> tuple[int, int]:
        """The next message and session ids: above every id this world ever used."""
        last_m = int(self.world.messages[-1]["id"]) if self.world.messages else 0
        last_s = int(self.world.sessions[-1].id) if self.world.sessions else 0
        return max(self._last_ids[0], last_m) + 1, max(self._last_ids[1], last_s) + 1

    def _record_injection(
        self,
        request: Inject,
        session: PropagationSession,
        seed_agents: np.ndarray | None,
        actor: str | None,
        journal: bool,
    ) -> None:
        """The injection's audit row, and with ``journal`` its journal row (everything needed to make the same
        injection again after a crash, the chosen seeds too), for the writer."""
        assert self.writer is not None
        tick = session.created_tick
        details = {
            "message": session.message_id,
            "session": session.id,
            "tick": tick,
            "text": request.text[:TEXT_LIMIT],
            "topics": list(request.topics),
            "author": request.author,
            "seeds": str(request.seeds),
            "model": request.model,
            "params": session.params,
            "priority": request.priority,
            "recommender": request.recommender,
            **({"by": actor} if actor else {}),
        }
        if journal:
            body = {
                **details,
                "text": request.text,
                "seed": request.seed,
                "seed_agents": None if seed_agents is None else np.asarray(seed_agents).tolist(),
            }
            self.last_change = self.writer.submit_change("inject", details, "inject", tick, body)
        else:
            self.writer.submit_audit("inject", details)

    def choose_seeds(self, spec: SeedSpec, model: str, params: Mapping[str, Any]) -> np.ndarray:
        """The agents a seed method chooses for ``model`` with ``params`` (validated), once, from the world's
        seed (the same world, method, k and model give the same agents); a stored session keeps them, as it
        keeps a seed file's. Heavy on a large world: a front end runs it off the event loop, with the
        world's ticks held (:meth:`inject` takes the result as ``seed_agents``)."""
        request = SeedChoice.parse(
            {"method": spec.method, "k": spec.k, "model": model, "params": dict(params), "seed": self.world.seed},
            self.registry,
        )
        return method_seeds(self.world, self.registry, request, self.spread_for(model, request.params))

    def _replay(self, writer: Any) -> None:
        """Make again the changes acknowledged after the world file's last checkpoint (its journal, found by
        the writer after a crash), in order, with their ids, at the tick the file holds; say what was made
        and what could not be in the audit log (``recover``). Rows from the file are data: each goes through
        the same checks as a new request, and one that fails them is skipped and named."""
        made: list[Any] = []
        failed: list[Any] = []
        used = ({int(m["id"]) for m in self.world.messages}, {int(x.id) for x in self.world.sessions})
        for row in writer.leftover:
            try:
                if not isinstance(row.get("body"), str) or not isinstance(row.get("tick"), int):
                    raise BadParameterError("a malformed journal row")
                body = json.loads(row["body"])
                if not isinstance(body, dict):
                    raise BadParameterError("not an object")
                kind = row["kind"]
                if kind == "inject":
                    ids = (_whole(body.get("message")), _whole(body.get("session")))
                    if ids[0] in used[0] or ids[1] in used[1]:
                        raise BadParameterError(f"message {ids[0]} or session {ids[1]} exists already")
                    agents = body.get("seed_agents")
                    fields = {k: body[k] for k in Inject.FIELDS if body.get(k) is not None}
                    s = self.inject(
                        Inject.parse(fields, self.registry, JOURNALED),
                        actor=body.get("by"),
                        seed_agents=None if agents is None else np.asarray(agents, dtype=np.int64),
                        ids=ids,
                        journal=False,
                        audit=False,
                    )
                    used[0].add(ids[0])
                    used[1].add(ids[1])
                    made.append({"inject": s.id, "message": s.message_id, "at": row["tick"]})
                elif kind == "cancel":
                    self.cancel(_whole(body.get("session")), journal=False, audit=False)
                    made.append({"cancel": _whole(body.get("session")), "at": row["tick"]})
                elif kind == "intervene":
                    entry = self.intervene(
                        str(body.get("spec")),
                        start_tick=_whole(body.get("at")),
                        journal=False,
                        absolute=True,
                        audit=False,
                    )
                    made.append({"intervene": entry["spec"], "at": entry["at"]})
                else:
                    raise BadParameterError(f"unknown kind {str(kind)[:30]!r}")
            except (AgoraError, ValueError, TypeError, KeyError) as exc:
                failed.append({"seq": row.get("seq"), "kind": str(row.get("kind"))[:30], "error": str(exc)[:300]})
        self.replayed = {"made": made, "failed": failed}
        writer.replayed()
        self.dirty = True
        writer.submit_audit(
            "recover",
            {
                "tick": self.world.tick,
                "made_again": made[:1000],
                "could_not": failed[:1000],
                "why": "changes acknowledged after the last checkpoint, made again at the tick the file holds",
            },
        )

    def _author_writes(self, message: dict[str, Any], session: PropagationSession) -> None:
        """The author of a message injected without text writes it: offline at once, replaced by the
        LLM's text when that lands (within the tick's budget)."""
        try:
            self.llm.bind(asyncio.get_running_loop())
        except RuntimeError:
            pass  # no event loop: offline only

        def written(_pid: int, text: str, by: str) -> None:
            message["text"] = text
            message["written_by"] = by
            self._changed.add(session.id)

        self.llm.write(self.world.tick, int(message["author"]), message, session.id, "post", written, provisional=True)

    def cancel(
        self, session_id: int, *, actor: str | None = None, journal: bool = True, audit: bool = True
    ) -> PropagationSession:
        """Cancel a queued or running session (a finished one is left as it is); ``actor``, ``journal`` and
        ``audit`` as in :meth:`inject`."""
        s = self.session(session_id)
        if not s.done:
            s.cancel(self.world.tick)
            self._changed.add(s.id)
            self.dirty = True
            self.bus.publish(PropagationCompleted(s.id, "cancelled", s.reached, self.world.tick))
            if self.writer is not None and audit:
                details = {
                    "session": s.id,
                    "message": s.message_id,
                    "tick": self.world.tick,
                    "reached": int(s.reached),
                    **({"by": actor} if actor else {}),
                }
                if journal:
                    body = {"session": s.id}
                    self.last_change = self.writer.submit_change("cancel", details, "cancel", self.world.tick, body)
                else:
                    self.writer.submit_audit("cancel", details)
        return s

    @property
    def running(self) -> list[PropagationSession]:
        return [s for s in self.world.sessions if s.status == "running"]

    @property
    def queued(self) -> list[PropagationSession]:
        return [s for s in self.world.sessions if s.status == "queued"]

    @property
    def idle(self) -> bool:
        """No session is queued or running."""
        return not any(s.status in ("queued", "running") for s in self.world.sessions)

    @property
    def still(self) -> bool:
        """Whether nothing in the world changes with time: no session is running or queued, no intervention
        waits for its tick, and the network does not live (no recommender, no churn: ``Social.living``; a
        living network follows, unfollows, joins and leaves with no message spreading). A run of a still
        world only moves its clock."""
        return self.idle and not self.social.living and not any(not e.get("applied") for e in entries(self.world))

    def spread_for(self, model: str, params: Mapping[str, Any], max_ticks: int = 10_000) -> Spread:
        """A Monte-Carlo estimator of a seed set's reach under ``model`` (validated ``params``) for seed methods
        that simulate (CELF): ``spread(agents, runs, seed)`` runs the message from ``agents`` on ``runs`` forks
        of this world until it ends (at most ``max_ticks`` ticks), session seeds ``seed .. seed + runs - 1``,
        offline, and answers the mean reach of the runs that did not fail (NaN if all did)."""
        world, registry, shared = self.world, self.registry, not self.social.living

        def spread(agents: np.ndarray, runs: int, seed: int) -> float:
            seeds = "ids:" + ",".join(map(str, world.columns["ids"][np.asarray(agents)].tolist()))
            reached = []
            for r in range(runs):  # one simulation a run: the runs are few next to the agents each one moves
                fork = world.fork(shared=shared)
                # Without the interventions still pending: the block being chosen is one, and its fork would
                # choose it again when stepped, and so on (celf in a forecast arm: a RecursionError).
                fork.config[CONFIG_KEY] = [e for e in entries(fork) if e.get("applied")]
                sim = Simulation(fork, registry=registry, llm=LLMService.offline(fork), plugins_in_thread=True)
                try:
                    s = sim.inject("spread", seeds=seeds, model=model, params=dict(params), seed=seed + r)
                    ticks = 0
                    while not sim.idle and ticks < max_ticks:
                        sim.step_now()
                        ticks += 1
                finally:
                    sim.plugins.close()
                if s.status != "failed":
                    reached.append(s.reached)
            return float(np.mean(reached)) if reached else float("nan")

        return spread

    # -- interventions ----------------------------------------------------------------------------
    def intervene(
        self,
        action: Intervention | str,
        *,
        start_tick: int | None = None,
        model: str | None = None,
        actor: str | None = None,
        journal: bool = True,
        absolute: bool = False,
        audit: bool = True,
    ) -> dict[str, Any]:
        """Schedule an intervention (an :class:`Intervention`, or its text: ``TICK:ACTION``, TICK counted from
        ``start_tick``, default the world's tick; or ``ACTION`` alone: at the next tick) after checking it; it
        is applied at the start of that tick. ``model`` is the model a seed method should be derived for
        (checked when given). Returns the world's entry (``sim.model.intervene``).

        Raises:
            BadParameterError: a malformed intervention, or one this world cannot carry out.
            PluginError: its seed method or model failed to load.
        """
        if isinstance(action, Intervention):
            iv = action
        else:
            text = str(action).strip()
            iv = Intervention.parse(text, with_tick=text[:1].isascii() and text[:1].isdigit() and not absolute)
        if absolute:  # made again after a crash: at the tick it was scheduled for (``start_tick``), or the next
            iv = dataclasses.replace(iv, tick=0)
        intervene.check(self.world, self.registry, iv, model)
        entry = intervene.schedule(self.world, iv, self.world.tick if start_tick is None else start_tick)
        self.dirty = True
        if self.writer is not None and audit:
            details = {"spec": entry["spec"], "at": entry["at"], **({"by": actor} if actor else {})}
            if journal:
                body = {"spec": entry["spec"], "at": entry["at"]}
                self.last_change = self.writer.submit_change("intervene", details, "intervene", self.world.tick, body)
            else:
                self.writer.submit_audit("intervene", details)
        return entry

    def _choose_interventions(self) -> dict[int, np.ndarray]:
        """The agents of the blocks due at this tick (a seed method can take seconds: a worker thread runs
        this, the event loop goes on), by the position of their entry in the due list; one that fails is
        left to :meth:`_intervene_now`, which fails it as it would have."""
        tick = self.world.tick
        out = {}
        for i, entry in enumerate(intervene.due(self.world, tick)):
            try:
                chosen = intervene.choose(self, entry, tick)
            except Exception:  # noqa: BLE001 - said by apply, on the caller's thread, as before
                continue
            if chosen is not None:
                out[i] = chosen
        return out

    def _intervene_now(self, events: list[Event], chosen: dict[int, np.ndarray] | None = None) -> None:
        """Apply the interventions due at this tick (on the caller's thread: a counter-message is injected);
        ``chosen``: blocks' agents chosen already (:meth:`_choose_interventions`)."""
        tick = self.world.tick
        for i, entry in enumerate(intervene.due(self.world, tick)):
            intervene.apply(self, entry, tick, (chosen or {}).get(i))
            for s in self.world.sessions:
                self._changed.add(s.id)
            events.append(InterventionApplied(str(entry["action"]), str(entry["spec"]), tick))
            if self.writer is not None:
                self.writer.submit_audit(
                    "intervention applied", {k: v for k, v in entry.items() if k != "agents"} | {"by": "engine"}
                )

    # -- ticks ------------------------------------------------------------------------------------
    async def step(self) -> dict[str, Any]:
        """Advance one tick; returns its metrics (also published as :class:`TickCompleted`).

        With a writer whose queue is over its bound, the tick first waits until the writer has caught up
        (backpressure, see :meth:`sim.store.writer.WorldWriter.wait_for_room`); ``db_wait_seconds`` says
        how long."""
        waited = await self.writer.wait_for_room() if self.writer is not None else 0.0
        async with self._lock:
            events: list[Event] = []
            self.llm.bind(asyncio.get_running_loop())
            due = intervene.due(self.world, self.world.tick)
            chosen = await asyncio.to_thread(self._choose_interventions) if due else {}
            self._intervene_now(events, chosen)
            metrics = await asyncio.to_thread(self._tick, events)
            return self._after_tick(events, metrics, waited)

    def step_now(self) -> dict[str, Any]:
        """Advance one tick in the calling thread, with nothing on the event loop: the tight loop of a
        headless ensemble (``sim.runs.runner``), where no UI waits for the loop and no world file is
        written. Who is online is drawn only if something reads it (``World.advance_lazily``): the
        trajectory is the same as :meth:`step`'s, and the ``online`` metric is None when nothing read it.

        Raises:
            RuntimeError: the simulation has a writer (use :meth:`step`).
        """
        if self.writer is not None:
            raise RuntimeError("step_now is for simulations without a world file writer: use step()")
        events: list[Event] = []
        self._intervene_now(events)
        metrics = self._tick(events, lazy=True)
        return self._after_tick(events, metrics, 0.0)

    def _after_tick(self, events: list[Event], metrics: dict[str, Any], waited: float) -> dict[str, Any]:
        """What follows a tick's array work, on the caller's thread: its events published, adoption and
        exposure records handed to the writer, texts written, metrics kept and published."""
        for ev in events:
            self.bus.publish(ev)
        batches = []
        for s in self.world.sessions:
            rec = s.take_events()
            if rec is not None:
                batches.append((s, rec))
                if self.writer is not None:
                    self.writer.submit_events(s.id, rec)
        metrics["db_queue"] = self.writer.queue_rows if self.writer is not None else 0
        metrics["db_wait_seconds"] = waited
        self.llm.remember_adoptions(metrics["tick"], batches)
        self.llm.write_texts(metrics["tick"], batches)
        self.llm.maintain_memory(metrics["tick"])
        metrics.update(self.llm.metrics())
        exposures = self.social.take_exposures()
        if self.writer is not None:
            for sid, rec, name in exposures:
                self.writer.submit_exposures(sid, rec, name)
        self.metrics.append(metrics)
        self.dirty = True
        self.bus.publish(TickCompleted(metrics["tick"], metrics))
        return metrics

    def _tick(self, events: list[Event], lazy: bool = False) -> dict[str, Any]:
        """One tick: who is online, queued sessions started, running ones advanced a round, the living
        network's feeds, follows and churn, edge changes merged; returns the tick's metrics."""
        t0 = time.perf_counter()
        world = self.world
        tick = world.tick
        self.llm.begin_tick(tick)
        activation = None
        online: Any
        if lazy and not self.social.living:
            # Drawn only if a model reads ctx.online; settled (the generator moved past it) at the end.
            activation = world.advance_lazily()
            online = activation
        else:
            online = world.advance(1)
        watch = self.llm.watching()  # agents that remember: their new exposures become memories
        if self.plugins.abandoned:
            self.plugins.sweep()  # hung plugin threads abandoned earlier: stop them if they can be stopped
        if any(s.rivals for s in world.sessions):  # linked by a counter-message: each sees the others' adopters
            by_id = {s.id: s for s in world.sessions}
            for s in world.sessions:
                s.rival_sessions = [by_id[r] for r in s.rivals if r in by_id]
        running = [s for s in world.sessions if s.status == "running"]
        started = self._start_queued(tick, self.max_running - len(running), online, watch, events)
        social = self.social
        out = SocialTick()
        feeds: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        if social.living:
            feeds = social.feeds(tick, online, [s for s in running if s.status == "running"], out)
        stepped, attempts, new_adoptions = self._advance_running(running, tick, online, feeds, watch, out, events)
        out.graph_adoptions = new_adoptions - out.feed_adoptions
        if social.living:
            social.learn(tick, stepped, out)
            social.friends(tick, online, out)
            social.churn(tick, out)
        # Edge changes a model asked for are merged now, so the next round sees them (living-network
        # changes buffered with them go in the same merge).
        model_edges = any(s.changed_edges for s in stepped)
        if social.living or model_edges:
            social.maybe_merge(tick, out, force=model_edges)
        for s in stepped:
            s.last_round = None
        for name in out.errors:
            events.append(RecommenderFailed(name, social.errors.get(name, ""), social.tracebacks.get(name, ""), tick))
        if activation is not None:
            activation.settle()
            online_count = int(activation.mask.sum()) if activation.drawn else None
        else:
            online_count = int(online.sum())
        seconds = time.perf_counter() - t0
        new_adoptions += sum(s.seeds_count for s in started)
        return self._metrics(tick, seconds, online_count, attempts, new_adoptions, out)

    def _start_queued(self, tick: int, room: int, online: Any, watch: Any, events: list[Event]) -> list[Any]:
        """Start queued sessions by priority while there is ``room``; a model that fails fails its session
        alone. Returns the sessions started."""
        world, call = self.world, self.plugins.call
        started: list[Any] = []
        if room <= 0:
            return started
        queued = sorted((s for s in world.sessions if s.status == "queued"), key=lambda s: (-s.priority, s.id))
        for s in queued[:room]:
            try:
                s.llm, s.registry = self.llm, self.registry
                model = self._make_model(s)
                s.start(world, model, tick, call)
            except BaseException as exc:  # a plugin may raise anything, even call sys.exit
                if not is_plugin_fault(exc):
                    raise
                self._fail(s, exc, tick, events)
                continue
            started.append(s)
            if watch is not None:  # its seeds were shown the message
                self.llm.remember_seen(s, tick, watch, np.zeros(watch.size, dtype=bool))
            self._changed.add(s.id)
            events.append(PropagationStarted(s.id, s.model_name, s.seeds_count, tick))
            try:
                done = s.model is not None and s.is_done(world, tick, online, call)
            except BaseException as exc:
                if not is_plugin_fault(exc):
                    raise
                self._fail(s, exc, tick, events)
                continue
            if done:
                s.status, s.ended_tick = "completed", tick
                events.append(PropagationCompleted(s.id, "completed", s.reached, tick))
        return started

    def _advance_running(
        self,
        running: list[Any],
        tick: int,
        online: Any,
        feeds: dict[int, tuple[np.ndarray, np.ndarray]],
        watch: Any,
        out: SocialTick,
        events: list[Event],
    ) -> tuple[list[Any], int, int]:
        """Advance every running session one round, by priority; a model that fails fails its session alone.
        Returns the sessions that stepped, the edge attempts and the new adoptions."""
        world, call = self.world, self.plugins.call
        stepped: list[Any] = []
        attempts = new_adoptions = 0
        for s in sorted(running, key=lambda s: (-s.priority, s.id)):
            if s.status != "running":
                continue
            try:
                if s.model is None:  # a session restored from a file: make its model again
                    s.model = self._make_model(s)
                feed_before = s.feed_reached
                s.llm, s.registry = self.llm, self.registry
                before = s.exposed[watch] if watch is not None and s.exposed.size else None
                result = s.advance(world, tick, online, feeds.get(s.id), call)
            except BaseException as exc:  # the model's, its answer's, or over the plugin budget
                if not is_plugin_fault(exc):
                    raise
                self._fail(s, exc, tick, events)
                continue
            stepped.append(s)
            if before is not None:
                self.llm.remember_seen(s, tick, watch, before)
            out.feed_adoptions += s.feed_reached - feed_before
            self._changed.add(s.id)
            attempts += int(result.attempts)
            new = s.new_per_tick[-1]
            new_adoptions += new
            events.append(PropagationRound(s.id, s.round, tick, new, s.reached, s.exposed_count, int(result.attempts)))
            if s.status == "completed":
                events.append(PropagationCompleted(s.id, "completed", s.reached, tick))
        return stepped, attempts, new_adoptions

    def _metrics(
        self, tick: int, seconds: float, online: int | None, attempts: int, new_adoptions: int, out: SocialTick
    ) -> dict[str, Any]:
        """The tick's metrics (published with its ``TickCompleted`` event)."""
        sessions = self.world.sessions
        return {
            "tick": tick,
            "seconds": seconds,
            "online": online,
            "running": sum(1 for s in sessions if s.status == "running"),
            "queued": sum(1 for s in sessions if s.status == "queued"),
            "completed": sum(1 for s in sessions if s.status == "completed"),
            "failed": sum(1 for s in sessions if s.status == "failed"),
            "attempts": attempts,
            "attempts_per_second": attempts / seconds if seconds > 0 else 0.0,
            "new_adoptions": new_adoptions,
            "reached": sum(s.reached for s in sessions),
            "reproduction_number": _mean([s.reproduction_number for s in sessions if s.status == "running"]),
            "feed_reached": sum(s.feed_reached for s in sessions),
            "graph_reached": sum(s.graph_reached for s in sessions),
            "edges": self.world.num_edges,
            "pending_graph_changes": self.world.delta.pending,
            **out.to_metrics(),
        }

    async def aclose(self, timeout: float = 0.0) -> None:
        """Let LLM requests in flight land for up to ``timeout`` seconds, cancel the rest (they fall back)
        and close the LLM connections. The simulation can still step afterwards (offline answers only
        until a new request opens a connection again)."""
        await self.llm.aclose(timeout)

    def _make_model(self, s: PropagationSession) -> Any:
        """A session's model instance: loading the plugin (an entry point imports on first use) and its
        ``__init__`` are plugin code, run under the budget."""
        name, params, registry = s.model_name, dict(s.params), self.registry
        return self.plugins.call(
            lambda: registry.model(name)(**params),
            what=f"model {name}",
            where="while being loaded and made",
            then="session failed",
        )

    def _fail(self, s: PropagationSession, exc: BaseException, tick: int, events: list[Event]) -> None:
        s.fail(exc, tick)
        if isinstance(exc, (PluginError, PluginTimeout)) and exc.traceback:
            s.traceback = exc.traceback
        self._changed.add(s.id)
        events.append(PropagationFailed(s.id, s.error or "", s.traceback or "", tick))

    async def run(
        self,
        ticks: int | None = None,
        *,
        until_done: bool = False,
        ticks_per_second: float | None = None,
        max_ticks: int | None = None,
    ) -> int:
        """Run ticks until ``ticks`` have passed, or (``until_done``) every session has finished, or
        :meth:`stop` is called. Honours :meth:`pause`. Returns the number of ticks run."""
        self._stop = False
        done = 0
        while not self._stop:
            if ticks is not None and done >= ticks:
                break
            if until_done and self.idle:
                break
            if max_ticks is not None and done >= max_ticks:
                break
            await self._running.wait()
            if self._stop:
                break
            t0 = time.perf_counter()
            self._run_ticking = True
            try:
                await self.step()
            finally:
                self._run_ticking = False
            done += 1
            if ticks_per_second:
                await asyncio.sleep(max(0.0, 1.0 / ticks_per_second - (time.perf_counter() - t0)))
            else:
                await asyncio.sleep(0)
        return done

    def pause(self) -> None:
        """Hold :meth:`run` before its next tick."""
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def pausing(self) -> bool:
        """Paused while :meth:`run`'s tick is still under way: it ends, then the run holds."""
        return self.paused and self._run_ticking

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def stop(self) -> None:
        """Make :meth:`run` return after the current tick."""
        self._stop = True
        self._running.set()

    @property
    def lock(self) -> asyncio.Lock:
        """Held while a tick or a checkpoint runs; hold it to read or save the world between ticks."""
        return self._lock

    # -- persistence ------------------------------------------------------------------------------
    async def checkpoint(self) -> None:
        """Write the world's state to its file through the writer (no-op without one)."""
        if self.writer is None:
            return
        async with self._lock:
            # Taken now, with the checkpoint's image: a session changed while it is written (an injection,
            # a cancellation) stays changed for the next one.
            taken, self._changed = self._changed, set()
            changed = [s for s in self.world.sessions if s.id in taken]
            try:
                await self.writer.checkpoint(self.world, changed)
            except BaseException:
                self._changed |= taken
                raise
            self.dirty = bool(self._changed)


def _whole(value: Any) -> int:
    """A whole number from a journal row (a bool or anything else is refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= INT64_MAX:
        raise BadParameterError(f"{str(value)[:30]} is not an id")
    return value


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else 0.0
