"""The LLM service of a simulation: budgeted requests that never hold a tick up.

A :class:`~sim.engine.simulation.Simulation` owns one service. Each tick it gets ``calls_per_tick`` requests to
spend; propagation models ask first (during the rounds), then the agents who write texts. A request:

- in offline mode, or over the tick's budget, is refused at once (``ask`` returns False) and the caller
  uses its rule or the offline generator;
- otherwise runs as a task on the event loop; nothing waits for it. When its answer (or the fallback,
  after retries) lands, usually some ticks later, the callback gets it at the start of the next tick, and
  the number of ticks it took is kept with the answer in the world's cache;
- with an answer in the cache, is answered without a request, and the callback gets it after as many
  ticks as the answer took when it was first asked. A replay with the cache on therefore makes no
  requests for what was answered before and follows the same trajectory, tick for tick.

Texts: after every tick, up to ``texts_per_tick`` of the tick's new adopters (the most influential first)
write the text of their repost or reply — through the LLM while the budget lasts, offline for the rest.
A message injected with an author and no text is written by its author the same way. What they write
goes to the world's post log (``world.posts``; the ``posts`` table of the world file).
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.core.topics import mask_topics
from sim.core.world import world_rng
from sim.llm import archetypes, offline, prompts
from sim.llm.client import Completion, LLMClient, LLMStats
from sim.llm.config import LLMConfig

OnDone = Callable[[Completion], None]


@dataclass(frozen=True)
class Recalled:
    """What an agent brings to one prompt (:meth:`LLMService.prepare`): the memory part and its estimated
    tokens, whether it started to remember now, and the events recalled and recent behind the text."""

    text: str = ""
    tokens: int = 0
    new: bool = False
    recalled: list[dict[str, Any]] = field(default_factory=list)
    recent: list[dict[str, Any]] = field(default_factory=list)


def _timed(fn: Callable[..., Any], *, enrols: bool = False) -> Callable[..., Any]:
    """Count the CPU time of the calling thread a memory method takes into ``memory_seconds`` (CPU, not
    wall time: a tick's thread shares the interpreter with the HTTP client on the loop, and wall time
    would count the waits for it).

    While no agent remembers and nothing is queued the method has nothing to do, and the clock is not
    read: ``time.thread_time`` is a system call, and on some virtual machines reading it twice a tick cost
    more than the rest of a small world's tick. ``enrols``: the method may make agents remember (always
    timed)."""

    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kw: Any) -> Any:
        if not enrols and not self._memory_queue and not self.world.memory.active:
            return fn(self, *args, **kw)
        t0 = time.thread_time()
        try:
            return fn(self, *args, **kw)
        finally:
            self.memory_seconds += time.thread_time() - t0

    return wrapper


#: The world generator stream of the reply-or-repost draws of text writers (``sim.core.world.world_rng``).
STREAM_TEXTS = 7
#: Prompt sizes kept for the statistics (the latest).
PROMPT_SIZES = 100_000
#: The longest memory summary the LLM is asked for, in tokens.
SUMMARY_TOKENS = 200
#: Agents whose older memories are condensed per tick at most (the rest wait for the next tick).
CONDENSE_PER_TICK = 200
#: Adoption states whose name is a kind of memory of its own (the others are "adopted").
_ADOPTION_KINDS = ("reposted", "replied", "liked")


def llm_report(stats: dict[str, Any]) -> dict[str, Any]:
    """The ``llm`` object of ``--json`` output: the counters the CLI promises first (calls, failures,
    retries, fallbacks, cache_hits, tokens_in, tokens_out), then the rest of :meth:`LLMService.stats`."""
    keys = ("calls", "failures", "retries", "fallbacks", "cache_hits", "tokens_in", "tokens_out")
    out = {k: stats.get(k, 0) for k in keys}
    out.update({k: v for k, v in stats.items() if k not in out})
    if isinstance(out.get("cost_usd"), float):
        out["cost_usd"] = round(out["cost_usd"], 6)
    return out


class LLMService:
    """See the module docstring."""

    #: The decision prompt and its strict parser, offered to models through ``ctx.llm`` (the plugin
    #: contract's ``LLMAgents``): a plugin imports nothing from ``sim`` but ``sim.plugin``.
    decision_prompt = staticmethod(prompts.decision_prompt)
    parse_decision = staticmethod(prompts.parse_decision)
    #: The decision's JSON schema, which ``ask`` sends where the server constrains answers to one.
    decision_schema = prompts.DECISION_SCHEMA
    #: An archetype's action probabilities (issue 76): the prompt, its parser and its schema.
    archetype_prompt = staticmethod(archetypes.archetype_prompt)
    parse_probabilities = staticmethod(archetypes.parse_probabilities)
    probability_schema = archetypes.PROBABILITY_SCHEMA

    def __init__(self, world: Any, config: LLMConfig | None = None) -> None:
        self.world = world
        self.config = config if config is not None else LLMConfig.resolve(world.config.get("llm"))
        self._client: LLMClient | None = None  # built on first use: an offline run never builds it
        self._stats = LLMStats()  # the client's counters (kept here so they exist before it does)
        self.budget_left = self.config.calls_per_tick
        self.tick = world.tick
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._tasks: set[Any] = set()
        self._lock = threading.Lock()
        #: Errors raised by callbacks (a plugin's on_done), kept rather than lost.
        self.callback_errors: list[str] = []
        self._posted: set[tuple[int, int]] = set()
        self._seq = 0
        #: Requests started through :meth:`ask` (each spent one unit of a tick's budget).
        self.asked = 0
        #: Answers waiting for their tick: (due tick, order asked, callback, completion), a heap.
        self._due: list[tuple[int, int, OnDone, Completion]] = []
        #: Answers that landed since the last tick: (tick asked, order, cache key, callback, completion).
        self._landed: list[tuple[int, int, str | None, OnDone, Completion]] = []
        #: Estimated tokens of the prompts built here (whole prompt, and its memory part), the latest
        #: ``PROMPT_SIZES`` of each (``sim.bench.memory`` reports their distribution).
        self.prompt_sizes: deque[tuple[int, int]] = deque(maxlen=PROMPT_SIZES)
        #: Agents whose summary is being written by the LLM (not asked again until it lands).
        self._condensing: set[int] = set()
        #: CPU seconds spent on agent memory (recording, recall, summaries, pruning), for the benchmark.
        self.memory_seconds = 0.0
        #: Memory events of the tick under way, written after it (:meth:`flush_memory`): from the tick's
        #: threads every call into SQLite waits for the interpreter, which the HTTP client on the loop holds.
        self._memory_queue: list[tuple[str, tuple[Any, ...]]] = []

    @classmethod
    def offline(cls, world: Any) -> LLMService:
        """A service that never sends a request (benchmarks and plugin checks use it, whatever the
        environment says)."""
        return cls(world, LLMConfig(offline=True))

    # -- state ------------------------------------------------------------------------------------
    @property
    def client(self) -> LLMClient:
        """The HTTP client, made when something first needs it (a request, a ping, the server list)."""
        if self._client is None:
            self._client = LLMClient(
                self.config, self.world.llm_cache if self.config.cache else None, seed=self.world.seed
            )
            self._client.stats = self._stats  # counted before it existed (over budget) stay counted
        return self._client

    @property
    def built(self) -> bool:
        """Whether the client exists yet."""
        return self._client is not None

    @property
    def online(self) -> bool:
        """Whether requests can go to a server (a key is set and offline is not forced)."""
        return self.config.mode == "online"

    @property
    def mode(self) -> str:
        if self._client is None:  # no request yet: every server is as good as new
            return "offline" if self.config.mode == "offline" else "online"
        return self._client.mode

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def stats(self) -> dict[str, Any]:
        """Counters for ``--json``, metrics and the screen (the key is never among them)."""
        out = self._stats.to_dict()
        out.update(
            {
                "asked": self.asked,
                "mode": self.mode,
                "model": self.config.model,
                "servers": len(self._client.servers)
                if self._client is not None
                else max(1, len(self.config.base_urls)),
                "budget_per_tick": self.config.calls_per_tick,
                "posts": len(self.world.posts),
                "memory_agents": self.world.memory.agents,
                "memory_events": self.world.memory.total,
            }
        )
        return out

    def metrics(self) -> dict[str, float]:
        """Numeric counters for a tick's metrics (``llm_*``)."""
        st = self._stats
        mem = self.world.memory
        return {
            "memory_agents": mem.agents if mem.active else 0,
            "memory_events": mem.total,
            "llm_requests": st.requests,
            "llm_calls": st.calls,
            "llm_cache_hits": st.cache_hits,
            "llm_fallbacks": st.fallbacks,
            "llm_failures": st.failures,
            "llm_retries": st.retries,
            "llm_tokens_in": st.tokens_in,
            "llm_tokens_out": st.tokens_out,
            "llm_cost_usd": round(st.cost_usd, 6),
            "llm_in_flight": self.in_flight,
            "llm_over_budget": st.over_budget,
            "posts": len(self.world.posts),
        }

    # -- plumbing ---------------------------------------------------------------------------------
    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Use ``loop`` for requests (the simulation's loop; called before each tick)."""
        if self._loop is not loop:
            self._loop = loop
            self._loop_thread = threading.get_ident()

    def begin_tick(self, tick: int) -> None:
        """A new tick: answers that landed since the last one, and cached answers due now, are handed to
        their callbacks (in the order they were asked); then a fresh budget."""
        self.tick = tick
        self._deliver_due(tick)
        self.budget_left = self.config.calls_per_tick
        if self.config.memory == "all":
            mem = self.world.memory
            if mem.enrolled is None or mem.enrolled.size < self.world.n:
                mem.enroll(np.arange(self.world.n), self.world.n)

    def ask(
        self,
        messages: list[dict[str, Any]],
        on_done: OnDone,
        *,
        parse: Callable[[str], Any] | None = None,
        fallback: Callable[[], str] | None = None,
        max_tokens: int | None = None,
        memory_tokens: int = 0,
        schema: dict[str, Any] | None = None,
    ) -> bool:
        """Spend one request of this tick's budget on ``messages``; ``on_done`` gets the :class:`Completion`
        at the start of the tick it lands in (see :meth:`begin_tick`). ``memory_tokens``: how many of the
        prompt's estimated tokens are the agent's memory (kept for the prompt-size statistics). ``schema``: a
        JSON schema the answer is constrained to where the server supports it (``parse`` still checks it).

        Returns False, and does nothing else, in offline mode, over the budget, or without an event loop
        (the caller then decides without the LLM). Safe to call from the tick's worker thread."""
        if not self.online or self._loop is None or self._loop.is_closed():
            return False
        with self._lock:
            if self.budget_left <= 0:
                self._stats.over_budget += 1
                return False
            self.budget_left -= 1
            self.asked += 1
            self._seq += 1
            seq = self._seq
            self.prompt_sizes.append((prompts.prompt_tokens(messages), int(memory_tokens)))
        asked_at = self.tick
        key = self.client.key_for(messages, max_tokens, schema)
        hit = self.client.cached(messages, parse=parse, fallback=fallback, key=key)
        if hit is not None:
            entry = self.client.cache.get(key) if key is not None else None
            delay = entry.delay if entry is not None and entry.delay > 0 else 1
            with self._lock:
                heapq.heappush(self._due, (asked_at + delay, seq, on_done, hit))
            return True
        coro = self._run(messages, on_done, parse, fallback, max_tokens, asked_at, seq, key, schema)
        if threading.get_ident() == self._loop_thread:
            task: Any = self._loop.create_task(coro)
        else:
            task = asyncio.run_coroutine_threadsafe(coro, self._loop)
        with self._lock:
            self._tasks.add(task)
        task.add_done_callback(self._forget)
        return True

    def _forget(self, task: Any) -> None:
        with self._lock:
            self._tasks.discard(task)

    async def _run(
        self,
        messages: list[dict[str, Any]],
        on_done: OnDone,
        parse: Callable[[str], Any] | None,
        fallback: Callable[[], str] | None,
        max_tokens: int | None,
        asked_at: int,
        seq: int,
        key: str | None,
        schema: dict[str, Any] | None = None,
    ) -> None:
        try:
            result = await self.client.complete(
                messages, parse=parse, fallback=fallback, max_tokens=max_tokens, schema=schema
            )
        except asyncio.CancelledError:
            result = Completion(fallback() if fallback else "", "offline", reason="cancelled")
            with self._lock:
                self._landed.append((asked_at, seq, key, on_done, result))
            raise
        with self._lock:
            self._landed.append((asked_at, seq, key, on_done, result))

    def _deliver(self, on_done: OnDone, result: Completion) -> None:
        try:
            on_done(result)
        except Exception as exc:  # a callback's bug must not take the tick or the loop down
            self.callback_errors.append(f"{type(exc).__name__}: {exc}")

    def _deliver_due(self, tick: int | None) -> None:
        """Hand over what landed since the last tick, and cached answers due by ``tick`` (None: all).
        A fresh answer's delay (ticks from the request to now) goes into the cache, so a replay hands
        the cached answer over at the same tick."""
        with self._lock:
            landed, self._landed = self._landed, []
            for asked_at, seq, key, on_done, result in sorted(landed, key=lambda x: x[1]):
                if key is not None and result.source == "llm":
                    # Landed after the last tick (None: the close's drain): a replay hands it over after it too.
                    due = self.tick + 1 if tick is None else tick
                    self.client.cache.set_delay(key, max(1, due - asked_at))
                heapq.heappush(self._due, (self.tick if tick is None else tick, seq, on_done, result))
            ready = []
            while self._due and (tick is None or self._due[0][0] <= tick):
                ready.append(heapq.heappop(self._due))
        for _, _, on_done, result in ready:
            self._deliver(on_done, result)

    async def drain(self, timeout: float | None = None) -> int:
        """Wait up to ``timeout`` seconds for the requests in flight to land, then cancel the rest (their
        callbacks get the fallback), and hand everything over now. Returns how many were cancelled."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._tasks:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            await asyncio.sleep(0.01 if left is None else min(0.01, left))
        with self._lock:
            pending = list(self._tasks)
        for t in pending:
            t.cancel()
        for t in pending:
            try:
                if isinstance(t, asyncio.Future):
                    await asyncio.wait([t], timeout=1.0)
                else:
                    await asyncio.wait_for(asyncio.wrap_future(t), timeout=1.0)
            except (TimeoutError, asyncio.CancelledError, Exception):
                pass
        self._deliver_due(None)
        return len(pending)

    async def aclose(self, timeout: float = 0.0) -> None:
        """Cancel (after ``timeout`` seconds of waiting) what is in flight and close the connections."""
        await self.drain(timeout)
        if self._client is not None:
            await self._client.aclose()

    # -- what an agent knows ----------------------------------------------------------------------
    def interests(self, i: int) -> list[str]:
        return mask_topics(int(self.world.columns["interests"][i]))

    def name(self, i: int | None) -> str | None:
        if i is None or int(i) < 0:
            return None
        return self.world.persona(int(i)).name

    def memory(self, i: int, *, skip_message: int | None = None, limit: int = 3) -> tuple[list[str], list[str]]:
        """Texts of messages agent ``i`` was shown (``seen``) and adopted (``adopted``), newest first."""
        seen: list[str] = []
        adopted: list[str] = []
        for s in reversed(self.world.sessions):
            if s.message_id == skip_message or not s.state.size:
                continue
            text = str(s.message.get("text", ""))
            if s.state[i] != 0 and int(s.state[i]) in s.adopted_states:
                if len(adopted) < limit:
                    adopted.append(text)
            elif s.exposed[i] and len(seen) < limit:
                seen.append(text)
            if len(seen) >= limit and len(adopted) >= limit:
                break
        return seen, adopted

    # -- what an agent remembers (sim.core.agentmemory) --------------------------------------------
    @property
    def remembering(self) -> bool:
        """Whether agents the LLM speaks for remember (the ``memory`` setting is not ``off``)."""
        return self.config.memory != "off"

    def _queue_rows(self, rows: list[tuple[int, int, str, int, int, str]]) -> None:
        """Memory rows: queued from a tick's threads, written at once on the loop's (or without one)."""
        if rows:
            with self._lock:
                self._memory_queue.append(("rows", (rows,)))
            if self._loop_thread is None or threading.get_ident() == self._loop_thread:
                self.flush_memory()

    def flush_memory(self) -> None:
        """Write the memory events queued during a tick (called after it, on the caller's thread)."""
        with self._lock:
            queue, self._memory_queue = self._memory_queue, []
        mem = self.world.memory
        rows: list[tuple[int, int, str, int, int, str]] = []
        for what, args in queue:
            if what == "rows":
                rows += args[0]
            else:
                if rows:
                    mem.record_rows(rows)
                    rows = []
                tick, kind, agents, ref, other, text = args
                mem.record(tick, kind, agents, ref=ref, other=other, text=text)
        if rows:
            mem.record_rows(rows)

    def _known(self, i: int) -> list[tuple[int, int, str, int, int, str]]:
        """Memory rows of what the world shows agent ``i`` already knows (a loop over sessions and the
        agent's posts, once, when it starts to remember)."""
        rows = []
        for s in self.world.sessions:
            if not s.state.size or i >= s.state.size or not s.exposed[i] or s.message is None:
                continue
            text, mid = str(s.message.get("text", "")), int(s.message_id)
            at = int(s.adopted_at[i])
            adopted = at >= 0 and int(s.state[i]) in s.adopted_states
            start = s.started_tick if s.started_tick is not None else s.created_tick
            src = int(s.adopted_from[i]) if adopted else -1
            rows.append((i, at if adopted else int(start or 0), "seen", mid, src, text))
            if adopted:
                name = s.state_names[int(s.state[i])]
                rows.append((i, at, name if name in _ADOPTION_KINDS else "adopted", mid, src, text))
        for p in reversed(self.world.posts.recent(agent=i, limit=self.config.memory_max_events)):
            rows.append((i, int(p["tick"]), "wrote_" + p["kind"], int(p["message_id"]), -1, p["text"]))
        rows.sort(key=lambda r: r[1])
        return rows

    def watching(self) -> np.ndarray | None:
        """The agents whose new exposures a tick records (None when nobody remembers)."""
        mem = self.world.memory
        return mem.enrolled_indices() if mem.active and self.remembering else None

    @_timed
    def remember_seen(self, session: Any, tick: int, watch: np.ndarray, before: np.ndarray) -> None:
        """After a session's round: its message joins the memory of the watched agents it reached this
        round (``before``: their exposure flags before it), with who passed it on when they took it up."""
        now = session.exposed[watch]
        new = watch[now & ~before]
        if new.size:
            src = np.where(session.adopted_at[new] == tick, session.adopted_from[new], -1)
            with self._lock:
                self._memory_queue.append(
                    ("record", (tick, "seen", new, int(session.message_id), src, str(session.message.get("text", ""))))
                )

    @_timed
    def remember_adoptions(self, tick: int, batches: list[tuple[Any, np.ndarray]]) -> None:
        """A tick's adoptions by agents that remember (one batch insert per session and state)."""
        mem = self.world.memory
        self.flush_memory()  # what the tick queued comes first
        if not mem.active or not self.remembering:
            return
        for s, rec in batches:
            m = mem.which(rec["agent"])
            if not m.any():
                continue
            agents, kinds, src = rec["agent"][m], rec["kind"][m], rec["source"][m]
            text = str(s.message.get("text", ""))
            for k in np.unique(kinds).tolist():
                name = s.state_names[k] if 0 <= k < len(s.state_names) else ""
                pick = kinds == k
                mem.record(
                    tick,
                    name if name in _ADOPTION_KINDS else "adopted",
                    agents[pick],
                    ref=int(s.message_id),
                    other=src[pick],
                    text=text,
                )

    @_timed
    def _remember_post(self, tick: int, agent: int, message_id: int, kind: str, text: str) -> None:
        if self.remembering and self.world.memory.is_enrolled(agent):
            self._queue_rows([(int(agent), int(tick), "wrote_" + kind, int(message_id), -1, text)])

    def _name_of(self, i: int) -> str | None:
        try:
            return self.name(i)
        except Exception:
            return None

    @functools.partial(_timed, enrols=True)
    def prepare(self, agents: list[int], about: str) -> dict[int, Recalled]:
        """The LLM is about to speak for ``agents`` (indices) about the text ``about``: they remember from
        now on — one that did not yet starts with what the world shows it knows already (the messages of
        sessions in memory it saw or took up, its posts kept in memory) — and each gets the memory part
        of its prompt (see ``prompts.memory_text``). A few calls into SQLite for the whole sample, not a
        few per agent (see ``AgentMemory.context``). Empty memories when the setting is ``off``."""
        agents = [int(a) for a in agents]
        if not self.remembering or not agents:
            return {a: Recalled() for a in agents}
        mem, cfg = self.world.memory, self.config
        new = self._enroll(agents)
        ctx = mem.context(agents, about, cfg.memory_window, cfg.memory_recall)
        out = {}
        for a in agents:
            c = ctx[a]
            text, tokens = prompts.memory_text(
                c["summary"]["text"] if c["summary"] else None,
                [prompts.describe_event(e, self._name_of) for e in c["recalled"]],
                [prompts.describe_event(e, self._name_of) for e in c["recent"]],
                cfg.memory_tokens,
            )
            out[a] = Recalled(text, tokens, a in new, c["recalled"], c["recent"])
        return out

    def _enroll(self, agents: list[int]) -> set[int]:
        """Make ``agents`` remember; those that did not yet start with what the world shows they know.
        Returns them."""
        new = set(self.world.memory.enroll(agents, self.world.n).tolist())
        if new:
            self.world.memory.record_rows([r for a in agents if a in new for r in self._known(a)])
        return new

    @_timed
    def note_seen(self, seen: list[tuple[int, int]], tick: int, message: dict[str, Any]) -> None:
        """``(agent, sharer)`` pairs of agents shown ``message`` outside the round's exposures (they
        started to remember in the middle of the round that shows it)."""
        if seen:
            text, mid = str(message.get("text", "")), int(message.get("id", 0))
            self._queue_rows(
                [(int(a), int(tick), "seen", mid, -1 if s is None or s < 0 else int(s), text) for a, s in seen]
            )

    def _condense_job(self, i: int) -> tuple[int, list[dict[str, str]], Callable[[], str]] | None:
        """What condensing agent ``i``'s older memories takes: the last event id it covers, the prompt,
        and the offline summary as fallback; None when there is nothing to condense."""
        mem = self.world.memory
        window = self.config.memory_window
        s = mem.summary(i)
        events = mem.events(i, after=s["upto"] if s else 0)
        old = events[:-window] if window else events
        if not old:
            return None
        lines = [prompts.describe_event(e, self._name_of) for e in old]
        previous = s["text"] if s else ""
        persona = self.world.persona(i)
        named = [{**e, "other_name": self._name_of(e["other"])} if e["kind"] == "followed" else e for e in old]

        def fallback() -> str:
            return offline.condense_memory(persona, previous, named)

        return int(old[-1]["id"]), prompts.summary_prompt(persona, self.interests(i), previous, lines), fallback

    @_timed
    def maintain_memory(self, tick: int) -> None:
        """After a tick: agents with enough older memories have them condensed into their summary
        (through the LLM within the tick's budget, else offline at once; at most ``CONDENSE_PER_TICK``
        agents a tick), then memory past its horizon or its per-agent bound is forgotten."""
        mem = self.world.memory
        if not mem.active:
            return
        cfg = self.config
        due = mem.due(cfg.memory_window, cfg.memory_summary_every)
        if due.size:
            for i in due[:CONDENSE_PER_TICK].tolist():
                if i in self._condensing:
                    continue
                job = self._condense_job(i)
                if job is None:
                    continue
                upto, messages, fallback = job

                def done(c: Completion, i: int = i, upto: int = upto, fallback: Callable[[], str] = fallback) -> None:
                    self._condensing.discard(i)
                    self._store_summary(i, upto, c, fallback, self.tick)

                if self.ask(
                    messages,
                    done,
                    parse=prompts.parse_summary,
                    fallback=fallback,
                    max_tokens=SUMMARY_TOKENS,
                    schema=prompts.SUMMARY_SCHEMA,
                ):
                    self._condensing.add(i)
                else:
                    mem.set_summary(i, upto, tick, fallback(), "offline")
        self.flush_memory()
        mem.prune(tick, horizon=cfg.memory_horizon, max_events=cfg.memory_max_events)

    async def condense_now(self, i: int) -> None:
        """Condense agent ``i``'s older memories now if they are due (an interview, outside any tick:
        through the LLM when online, not counted against a tick's budget)."""
        mem = self.world.memory
        cfg = self.config
        if not mem.is_enrolled(i) or mem.fresh is None or mem.fresh[i] < cfg.memory_window + cfg.memory_summary_every:
            return
        job = self._condense_job(i)
        if job is None:
            return
        upto, messages, fallback = job
        c = await self.client.complete(
            messages,
            parse=prompts.parse_summary,
            fallback=fallback,
            max_tokens=SUMMARY_TOKENS,
            schema=prompts.SUMMARY_SCHEMA,
        )
        self._store_summary(i, upto, c, fallback, self.world.tick)

    def _store_summary(self, i: int, upto: int, c: Completion, fallback: Callable[[], str], tick: int) -> None:
        """A summary written by the LLM (``c.value``: :func:`~sim.llm.prompts.parse_summary`'s, the JSON's
        ``summary`` or the plain text, cleaned), or the offline one when it did not write one."""
        text = c.value if c.source != "offline" and isinstance(c.value, str) else ""
        if text.strip():
            self.world.memory.set_summary(i, upto, tick, text, c.source)
        else:
            self.world.memory.set_summary(i, upto, tick, fallback(), "offline")

    def agent_memory(self, i: int, *, recent: int | None = None) -> dict[str, Any]:
        """What agent index ``i`` remembers, for ``agora agent --json`` and the agent view: its recent
        events (the short-term window, or ``recent`` of them), its summary, and the size of its memory."""
        mem = self.world.memory
        k = self.config.memory_window if recent is None else recent
        events = []
        for e in mem.recent(i, k):
            other = e["other"]
            events.append(
                {
                    "id": e["id"],
                    "tick": e["tick"],
                    "kind": e["kind"],
                    "message": e["ref"] if e["ref"] >= 0 else None,
                    "other": None if other < 0 else int(self.world.columns["ids"][other]),
                    "other_name": self._name_of(other) if other >= 0 else None,
                    "text": e["text"],
                }
            )
        s = mem.summary(i)
        return {
            "remembers": mem.is_enrolled(i),
            "setting": self.config.memory,
            "window": self.config.memory_window,
            "recent": events,
            "summary": None
            if s is None
            else {"text": s["text"], "tick": s["tick"], "upto": s["upto"], "written_by": s["written_by"]},
            "size": mem.size_of(i),
        }

    # -- uses -------------------------------------------------------------------------------------
    async def interview(self, i: int, question: str) -> Completion:
        """Ask agent index ``i`` a question; it answers in its persona (through the LLM when online,
        from the cache for a question asked before, else offline). Not counted against the tick budget. Asked
        with :data:`~sim.llm.prompts.INTERVIEW_SCHEMA` where the server takes it; the answer's text is the
        JSON's ``answer`` (or a plain server's text), cleaned; an empty or broken answer is malformed (counted)
        and the offline one is given."""
        persona = self.world.persona(i)
        interests = self.interests(i)
        if self.remembering:
            self._enroll([i])  # it remembers from now on; a summary due is written before it answers
            await self.condense_now(i)
        mem = self.prepare([i], question)[i]
        seen, adopted = self.memory(i) if not mem.text else ([], [])
        messages = prompts.interview_prompt(persona, interests, question, seen=seen, adopted=adopted, memory=mem.text)
        recalled = [e["text"] for e in mem.recalled if e["kind"] not in ("asked", "answered")]
        if mem.text:  # the offline answer quotes what the agent remembers: recent posts it saw or took up
            seen = [e["text"] for e in reversed(mem.recent) if e["kind"] == "seen"][:3]
            adopted = [e["text"] for e in reversed(mem.recent) if e["kind"] in _ADOPTION_KINDS + ("adopted",)][:3]
        self.prompt_sizes.append((prompts.prompt_tokens(messages), mem.tokens))
        seed = offline.seed_for(self.world.seed, "interview", i, question)

        def fallback() -> str:
            return offline.answer_interview(
                persona, question, seed, interests=interests, seen=seen, adopted=adopted, recalled=recalled
            )

        result = await self.client.complete(
            messages, parse=prompts.parse_answer, fallback=fallback, schema=prompts.INTERVIEW_SCHEMA
        )
        if result.source != "offline":  # the answer's text (the JSON's or the plain one, cleaned), not the JSON
            result = Completion(
                str(result.value),
                result.source,
                None,
                result.tokens_in,
                result.tokens_out,
                None,
                result.seconds,
            )
        if self.remembering:
            t = self.world.tick
            self.world.memory.record_rows(
                [(i, t, "asked", -1, -1, str(question)), (i, t, "answered", -1, -1, result.text)]
            )
        return result

    def post(
        self, tick: int, agent: int, message_id: int, session_id: int, kind: str, text: str, written_by: str
    ) -> int:
        """Record a text an agent wrote (a model's LLM decision came with it); returns the post's id."""
        with self._lock:
            self._posted.add((int(message_id), int(agent)))
        pid = self.world.posts.add(tick, agent, message_id, session_id, kind, text, written_by)
        self._remember_post(tick, agent, message_id, kind, text)
        return pid

    def write(
        self,
        tick: int,
        agent: int,
        message: dict[str, Any],
        session_id: int,
        kind: str,
        on_written: Callable[[int, str, str], None] | None = None,
        *,
        provisional: bool = False,
    ) -> bool:
        """Agent index ``agent`` writes a ``kind`` text about ``message``: through the LLM when the budget
        allows (the post lands later), else offline at once. ``on_written(post_id, text, written_by)`` is
        called when the post exists; with ``provisional``, also at once with the offline text (post id 0,
        no post) when the LLM was asked, so the caller has a text meanwhile. Returns whether the LLM was asked."""
        persona = self.world.persona(agent)
        author = message.get("author")
        original = None if kind == "post" else str(message.get("text", ""))
        author_name = self.name(author)
        topics = mask_topics(int(message.get("topics", 0) or 0))
        seed = offline.seed_for(self.world.seed, kind, agent, int(message.get("id", 0)))

        def fallback() -> str:
            return offline.write_post(persona, topics, seed, kind=kind, original=original, original_author=author_name)

        def done(c: Completion) -> None:
            text = prompts.clean(c.text) if c.source != "offline" else c.text
            if not text.strip():
                text, by = fallback(), "offline"
            else:
                by = "offline" if c.source == "offline" else c.source
            pid = self.world.posts.add(tick, agent, int(message.get("id", 0)), session_id, kind, text, by)
            self._remember_post(tick, agent, int(message.get("id", 0)), kind, text)
            if on_written is not None:
                on_written(pid, text, by)

        mem = Recalled()
        if self.online and self.budget_left > 0:  # the LLM will write it: the agent remembers
            mem = self.prepare([agent], " ".join([*topics, original or ""]))[agent]
        msgs = prompts.post_prompt(
            persona,
            self.interests(agent),
            kind,
            topics=topics,
            original=original,
            original_author=author_name,
            memory=mem.text,
        )
        if self.ask(msgs, done, fallback=fallback, memory_tokens=mem.tokens):
            if provisional and on_written is not None:
                on_written(0, fallback(), "offline")
            return True
        done(Completion(fallback(), "offline", reason="offline" if not self.online else "over budget"))
        return False

    def write_texts(self, tick: int, batches: list[tuple[Any, np.ndarray]]) -> int:
        """After a tick: up to ``texts_per_tick`` of its new adopters (most influential first, ties to the
        lower index) write their repost or reply. ``batches`` are ``(session, adoption records)``. Returns
        how many texts were started."""
        k = self.config.texts_per_tick
        if k <= 0:  # texts are off (an offline ensemble): nothing to leave out of a pick
            self._posted.clear()
            return 0
        if not batches:
            return 0
        agents = np.concatenate([rec["agent"] for _, rec in batches])
        if agents.size == 0:
            return 0
        kinds = np.concatenate([rec["kind"] for _, rec in batches])
        which = np.concatenate([np.full(len(rec), j, dtype=np.int64) for j, (_, rec) in enumerate(batches)])
        # Only agents whose state has a text (likes are silent) and who did not post already this tick
        # (the llm model posts the texts its LLM decisions came with).
        silent = np.zeros(agents.size, dtype=bool)
        for j, (s, _) in enumerate(batches):
            mute = [x for x, nm in enumerate(s.state_names) if nm in ("liked", "deciding")]
            part = which == j
            if mute:
                silent[part] |= np.isin(kinds[part], mute)
            done = [a for (m, a) in self._posted if m == s.message_id]
            if done:
                silent[part] |= np.isin(agents[part], done)
        self._posted.clear()
        keep = np.flatnonzero(~silent)
        if keep.size == 0:
            return 0
        infl = self.world.columns["influence"][agents[keep]]
        order = np.lexsort((agents[keep], -infl.astype(np.float64)))[:k]
        chosen = keep[order]
        draws = world_rng(self.world.seed, STREAM_TEXTS, int(tick)).random(chosen.size)
        started = 0
        for pos, d in zip(chosen.tolist(), draws.tolist()):
            s = batches[int(which[pos])][0]
            state_name = s.state_names[int(kinds[pos])] if 0 <= int(kinds[pos]) < len(s.state_names) else ""
            kind = (
                "reply"
                if state_name == "replied" or (state_name != "reposted" and d < self.config.reply_share)
                else "repost"
            )
            self.write(tick, int(agents[pos]), s.message, s.id, kind)
            started += 1
        return started
