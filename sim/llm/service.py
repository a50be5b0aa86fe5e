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
import heapq
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from sim.core.topics import mask_topics
from sim.core.world import world_rng
from sim.llm import offline, prompts
from sim.llm.client import Completion, LLMClient, LLMStats
from sim.llm.config import LLMConfig

OnDone = Callable[[Completion], None]
#: The world generator stream of the reply-or-repost draws of text writers (``sim.core.world.world_rng``).
STREAM_TEXTS = 7


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
            self._client = LLMClient(self.config, self.world.llm_cache if self.config.cache else None, seed=self.world.seed)
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
        out.update({"asked": self.asked, "mode": self.mode, "model": self.config.model,
                    "servers": len(self._client.servers) if self._client is not None else max(1, len(self.config.base_urls)),
                    "budget_per_tick": self.config.calls_per_tick, "posts": len(self.world.posts)})
        return out

    def metrics(self) -> dict[str, float]:
        """Numeric counters for a tick's metrics (``llm_*``)."""
        st = self._stats
        return {
            "llm_requests": st.requests, "llm_calls": st.calls, "llm_cache_hits": st.cache_hits,
            "llm_fallbacks": st.fallbacks, "llm_failures": st.failures, "llm_retries": st.retries,
            "llm_tokens_in": st.tokens_in, "llm_tokens_out": st.tokens_out, "llm_cost_usd": round(st.cost_usd, 6),
            "llm_in_flight": self.in_flight, "llm_over_budget": st.over_budget, "posts": len(self.world.posts),
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

    def ask(self, messages: list[dict[str, Any]], on_done: OnDone, *, parse: Callable[[str], Any] | None = None,
            fallback: Callable[[], str] | None = None, max_tokens: int | None = None) -> bool:
        """Spend one request of this tick's budget on ``messages``; ``on_done`` gets the :class:`Completion`
        at the start of the tick it lands in (see :meth:`begin_tick`).

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
        asked_at = self.tick
        key = self.client.key_for(messages, max_tokens)
        hit = self.client.cached(messages, parse=parse, fallback=fallback, max_tokens=max_tokens, key=key)
        if hit is not None:
            entry = self.client.cache.get(key) if key is not None else None
            delay = entry.delay if entry is not None and entry.delay > 0 else 1
            with self._lock:
                heapq.heappush(self._due, (asked_at + delay, seq, on_done, hit))
            return True
        coro = self._run(messages, on_done, parse, fallback, max_tokens, asked_at, seq, key)
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

    async def _run(self, messages: list[dict[str, Any]], on_done: OnDone, parse: Callable[[str], Any] | None,
                   fallback: Callable[[], str] | None, max_tokens: int | None, asked_at: int, seq: int, key: str | None) -> None:
        try:
            result = await self.client.complete(messages, parse=parse, fallback=fallback, max_tokens=max_tokens)
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
                    self.client.cache.set_delay(key, max(1, (self.tick if tick is None else tick) - asked_at))
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

    # -- uses -------------------------------------------------------------------------------------
    async def interview(self, i: int, question: str) -> Completion:
        """Ask agent index ``i`` a question; it answers in its persona (through the LLM when online,
        from the cache for a question asked before, else offline). Not counted against the tick budget."""
        persona = self.world.persona(i)
        interests = self.interests(i)
        seen, adopted = self.memory(i)
        messages = prompts.interview_prompt(persona, interests, question, seen=seen, adopted=adopted)
        seed = offline.seed_for(self.world.seed, "interview", i, question)

        def fallback() -> str:
            return offline.answer_interview(persona, question, seed, interests=interests, seen=seen, adopted=adopted)

        result = await self.client.complete(messages, fallback=fallback)
        if result.source != "offline":
            result = Completion(prompts.clean(result.text), result.source, None, result.tokens_in, result.tokens_out,
                                None, result.seconds)
        return result

    def post(self, tick: int, agent: int, message_id: int, session_id: int, kind: str, text: str, written_by: str) -> int:
        """Record a text an agent wrote (a model's LLM decision came with it); returns the post's id."""
        with self._lock:
            self._posted.add((int(message_id), int(agent)))
        return self.world.posts.add(tick, agent, message_id, session_id, kind, text, written_by)

    def write(self, tick: int, agent: int, message: dict[str, Any], session_id: int, kind: str,
              on_written: Callable[[int, str, str], None] | None = None, *, provisional: bool = False) -> bool:
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
            if on_written is not None:
                on_written(pid, text, by)

        msgs = prompts.post_prompt(persona, self.interests(agent), kind, topics=topics, original=original,
                                   original_author=author_name)
        if self.ask(msgs, done, fallback=fallback):
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
            kind = "reply" if state_name == "replied" or (state_name != "reposted" and d < self.config.reply_share) else "repost"
            self.write(tick, int(agents[pos]), s.message, s.id, kind)
            started += 1
        return started
